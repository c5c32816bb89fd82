// Kernel family: f32 direct sparse convolution over a phase-split, zero-padded input
// ("spconv"), with a fused bias + residual + clamp epilogue. CSR is MR = 1, BSR / dense output-channel
// blocks are MR = 4 or 8; depthwise convs run the MR = 1 kernels (9 or 25 entries per row).
//
// Geometry (prepared by ops/conv.cc, see docs/architecture-conv.md): the padded input of one
// image is split into stride phases, each channel/phase a plane of hq x wq floats, so every
// weight tap (ci, ky, kx) is ONE constant element offset `off` and the "extended" output pixel
// q = oy * wq + ox reads x[off + q]. Columns ox in [wout, wq) of the extended grid are garbage:
// they are computed but never stored.
//
// Contract (every kernel in kernels.inc; MR is the kernel's row-group size):
//   for g in [0, m / MR), r in [0, MR), q in [q0, q0 + n), i = g*MR + r:
//     acc = (acc_in ? acc_in[i*lda + q - q0] : bias ? bias[i] : 0)
//           + sum_{p in [indptr[g*ips], indptr[g*ips + shifts])} values[p*MR + r] * x[offsets[p] + q]
//     if acc_out:            acc_out[i*lda + q - q0] = acc            (raw partial sums)
//     else if q % wq < wout: o = i*ldy + (q / wq) * wout + q % wq
//                            y[o] = min(max(acc + (res ? res[o] : 0), out_min), out_max)
//   - m is a multiple of MR. indptr holds absolute positions into offsets/values; group g's
//     entries are [indptr[g*ips], indptr[g*ips + shifts]) with ips >= shifts the indptr stride
//     (the op keeps `shifts` ranges per input-channel block: ips = blocks * shifts + 1).
//     Callers pass a sub-range of groups by offsetting indptr, bias, y and acc_*.
//   - shifts >= 1 ("shifted taps"): group g's entries form `shifts` segments, segment j =
//     [indptr[g*ips + j], indptr[g*ips + j + 1]); an entry p of segment j reads
//     x[offsets[p] + shift[j] + q] (above, read offsets[p] as that sum), with 16 > shift[0] >
//     shift[1] > ... >= 0 (shift may be null when shifts = 1: no shift). The op stores offsets
//     without the shift so that, with planes of 16-float multiples, every load is aligned
//     (shift[j] is the tap's in-plane offset mod 16: its column shift when rows are 16-float
//     multiples, column and row when several rows share a vector); the SIMD kernels then move
//     their accumulators by shift[j-1] - shift[j] lanes between segments and shift[last] at
//     the end instead of shifting the loads (Horner: ((A_0 >> d_1) + A_1) >> d_2 ...). Lanes
//     moved in from past the register tile are zero. That is exact when each register tile
//     holds whole extended rows (overread set, wq divides q0, n and the kernel's nr) and no
//     valid output lane takes a lane from past its tile that matters: either wq - wout >=
//     shift[0] (they land in garbage columns), or flags has kSpconvZeroPastTile (the caller
//     vouches that every tap such a lane stands for reads a zero, e.g. padding below the
//     image's last row; the AVX-512 kernels run n <= nr pixels as one tile, the AVX2 ones
//     split them into tiles of whole rows, so for those it vouches past every row's end).
//     Otherwise the kernels add the shift to the load address (exact, slower); the AVX2
//     kernels move lanes only for one-lane steps ending at 0. With shifts > 1, acc_out at
//     garbage columns (q % wq >= wout) is unspecified.
//   - acc_in / acc_out (may both be null, or the same buffer) hold partial sums of the
//     extended grid for pixels [q0, q0 + n), row stride lda >= n; they let the op split the
//     input channels into cache-sized blocks and run the epilogue only on the last block.
//   - Reads x[offsets[p] + q] for q in [q0, q0 + n); tails are masked, never over-read, unless
//     flags has kSpconvOverread: then the kernel may also read (and ignore) up to 63 floats past
//     x[offsets[p] + q0 + n - 1], which the op guarantees are readable (masked loads are slow on
//     some CPUs, e.g. Zen 4). wq >= wout >= 1; wq == wout means the
//     extended grid is the output grid and stores are contiguous.
//   - bias may be null (= 0). x must not overlap y. No alignment required.
//   - res (may be null) is a residual with y's indexing (offset with y by the caller), added
//     after the bias and before the clamp, only where y is written (never into acc_out): the
//     epilogue of `conv + add (+ activation)`. It may be y itself (in place: each element is
//     read just before y is written there, by the same lane), else must not overlap y, and is
//     read only at stored pixels, so garbage columns of the extended grid are not read.
//   - out_min/out_max encode the activation: (-inf, inf) none, (0, inf) ReLU, (0, 6) ReLU6;
//     the clamp is max(lo, v) then min(hi, .) with the accumulator second so NaN propagates
//     (a NaN in res propagates the same way).
//   - Single-threaded; ops/ splits images, pixel tiles and row groups across OpenMP threads.
#pragma once

#include <cstdint>

namespace sparse_rt::kernels {

#define SPARSE_RT_F32_SPCONV_PARAMS                                                          \
  int64_t m, int64_t q0, int64_t n, const int32_t *indptr, int64_t ips, int shifts,          \
      const int32_t *shift, const int32_t *offsets, const float *values, const float *x,     \
      const float *acc_in, float *acc_out, int64_t lda, const float *bias, float *y,         \
      const float *res, int64_t ldy, int64_t wq, int64_t wout, float out_min, float out_max, \
      int flags

// `flags` bits (see the contract).
enum SpconvFlags : int { kSpconvOverread = 1, kSpconvZeroPastTile = 2 };

using F32SpconvFn = void (*)(SPARSE_RT_F32_SPCONV_PARAMS);

// True when there are several segments and their shifts are shifts - 1, ..., 1, 0 (one column
// per segment): the kernels' one-lane Horner mode. (shift may be null when shifts = 1.)
inline bool unit_shift_steps(const int32_t* shift, int shifts) {
  if (shifts < 2) return false;
  for (int j = 0; j < shifts; ++j)
    if (shift[j] != shifts - 1 - j) return false;
  return true;
}

#define SPARSE_RT_SPCONV_KERNEL(name, isa, mr, nr) \
  namespace isa {                                  \
  void name(SPARSE_RT_F32_SPCONV_PARAMS);          \
  }
#include "kernels/spconv/kernels.inc"
#undef SPARSE_RT_SPCONV_KERNEL

}  // namespace sparse_rt::kernels
