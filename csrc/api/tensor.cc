#include "sparse_rt/tensor.h"

#include <limits>

#include "sparse_rt/status.h"

namespace sparse_rt {
namespace {

int64_t checked_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw InvalidArgument("tensor shape has a negative dimension " + std::to_string(d));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / 4 / d)
      throw InvalidArgument("tensor shape is too large");
    n *= d;
  }
  return n;
}

}  // namespace

Tensor Tensor::zeros(std::vector<int64_t> shape) {
  const int64_t n = checked_numel(shape);
  Tensor t;
  t.shape_ = std::move(shape);
  t.storage_ = std::shared_ptr<float[]>(new float[static_cast<size_t>(n > 0 ? n : 1)]());
  t.data_ = t.storage_.get();
  return t;
}

Tensor Tensor::view(float* data, std::vector<int64_t> shape) {
  const int64_t n = checked_numel(shape);
  if (!data && n > 0) throw InvalidArgument("Tensor::view: null data for a non-empty shape");
  Tensor t;
  t.shape_ = std::move(shape);
  t.data_ = data;
  return t;
}

Tensor Tensor::view(const float* data, std::vector<int64_t> shape) {
  return view(const_cast<float*>(data), std::move(shape));
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

std::string Tensor::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < shape_.size(); ++i) s += (i ? ", " : "") + std::to_string(shape_[i]);
  return s + "]";
}

}  // namespace sparse_rt
