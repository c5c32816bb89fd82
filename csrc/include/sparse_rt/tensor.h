// A float32 tensor: a shape and contiguous row-major data, either owning its memory or a view
// of memory owned by someone else.
//
// Copies of an owning tensor share the same memory (like std::shared_ptr); a view never owns,
// and the caller keeps the viewed memory alive while the view is used. Tensors are plain
// values: not synchronised, so share one between threads only for reading.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sparse_rt {

class Tensor {
 public:
  Tensor() = default;

  // A new owning tensor, zero-filled. Throws InvalidArgument for a negative dimension or an
  // element count that overflows.
  static Tensor zeros(std::vector<int64_t> shape);
  // A view of `data` (numel(shape) floats; not copied, not owned). A view of const memory is
  // allowed where the tensor is only read (e.g. Session::run inputs, which are never written).
  static Tensor view(float* data, std::vector<int64_t> shape);
  static Tensor view(const float* data, std::vector<int64_t> shape);

  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const;
  bool owns_data() const { return static_cast<bool>(storage_); }
  bool empty() const { return data_ == nullptr && shape_.empty(); }

  float* data() { return data_; }
  const float* data() const { return data_; }

  std::string shape_string() const;  // e.g. "[1, 3, 224, 224]"

 private:
  std::vector<int64_t> shape_;
  float* data_ = nullptr;
  std::shared_ptr<float[]> storage_;
};

}  // namespace sparse_rt
