// Loads a sparse_rt model file, runs it on one input of the model's shape, prints the top-5
// outputs and the time.  Usage: run_model model.sprt [runs]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <vector>

#include <sparse_rt/sparse_rt.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s model.sprt [runs]\n", argv[0]);
    return 2;
  }
  const int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 10;
  try {
    auto t0 = std::chrono::steady_clock::now();
    std::shared_ptr<const sparse_rt::Model> model = sparse_rt::Model::load(argv[1]);
    auto t1 = std::chrono::steady_clock::now();
    std::vector<int64_t> shape = model->inputs().at(0).shape;
    shape[0] = 1;  // batch 1 (the batch is free unless the file fixes it)
    if (model->inputs()[0].shape[0] > 0) shape[0] = model->inputs()[0].shape[0];
    sparse_rt::Tensor x = sparse_rt::Tensor::zeros(shape);
    for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = std::sin(0.01f * static_cast<float>(i));

    sparse_rt::Session session(model);  // one per thread; reuses its buffers across runs
    std::vector<sparse_rt::Tensor> y = session.run({x});  // warm-up
    auto t2 = std::chrono::steady_clock::now();
    for (int r = 0; r < runs; ++r) y = session.run({x});
    auto t3 = std::chrono::steady_clock::now();

    const float* out = y[0].data();
    std::vector<int64_t> idx(static_cast<size_t>(y[0].numel() / y[0].dim(0)));
    std::iota(idx.begin(), idx.end(), 0);
    const size_t k = std::min<size_t>(5, idx.size());
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int64_t a, int64_t b) { return out[a] > out[b]; });
    auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    std::printf("%s: input %s -> %s %s\n", argv[1], x.shape_string().c_str(),
                model->outputs()[0].name.c_str(), y[0].shape_string().c_str());
    for (size_t i = 0; i < k; ++i) std::printf("  top%zu  [%lld] %.6f\n", i + 1, static_cast<long long>(idx[i]), out[idx[i]]);
    std::printf("load %.2f ms, inference %.3f ms (mean of %d, %d threads, ISA %s)\n", ms(t0, t1),
                ms(t2, t3) / runs, runs, model->num_threads(), sparse_rt::current_isa().c_str());
  } catch (const sparse_rt::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
