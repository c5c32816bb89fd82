// AVX2 spconv: a row group of MR output channels x K ymm (8 pixels each) of accumulators; each
// loaded input vector serves MR output channels. MR = 1 runs 8 vectors: with 4, FMA latency
// (4 cycles, 2 FMAs per cycle on Zen 4 and Intel since Skylake) capped the loop at half the
// FMA rate (3x3 256@14^2 0.61 -> 0.55 ms, 1x1 64->256@56^2 0.27 -> 0.23 with 8). The pixel
// tail uses vmaskmov loads/stores (never over-reads); the final store drops the garbage
// columns of the extended grid. Shifted
// taps (spconv.h): with whole rows per tile and shifts of one column per segment (2, 1, 0) the
// accumulators move one lane between segments (vperm2i128 + vpalignr); otherwise the shift
// goes into the load address.
#include <immintrin.h>

#include <algorithm>

#include "kernels/spconv/spconv.h"

namespace sparse_rt::kernels::avx2 {
namespace {

struct Args {
  const int32_t* indptr;
  int64_t ips;
  int shifts;
  const int32_t* shift;
  const int32_t* offsets;
  const float* values;
  const float* x;
  const float* acc_in;
  float* acc_out;
  int64_t lda;
  const float* bias;
  float* y;
  const float* res;
  int64_t ldy, wq, wout, q0;
  __m256 vmin, vmax;
};

inline __m256 clamp(__m256 v, __m256 lo, __m256 hi) {
  return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
}

// All-ones in lanes [lo, hi) (clipped to [0, 8)).
inline __m256i lanes_between(int64_t lo, int64_t hi) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int l = static_cast<int>(std::max<int64_t>(-1, std::min<int64_t>(8, lo)));
  const int h = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(8, hi)));
  return _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(h), idx),
                          _mm256_cmpgt_epi32(idx, _mm256_set1_epi32(l - 1)));
}

// Calls f(offset, mask) for each run of the `live` lanes of the extended pixels q, q+1, ...
// that falls in one output row: `offset` is the output index lane 0 would have in that run
// (may be negative: lanes outside the mask are never touched), `mask` the run's lanes.
template <typename F>
inline void for_runs(int64_t q, int64_t live, int64_t wq, int64_t wout, F f) {
  if (wq == wout) {
    f(q, lanes_between(0, live));
    return;
  }
  int64_t oy = q / wq, ox = q % wq;
  for (int64_t lane = 0; lane < live; lane += wq - ox, ++oy, ox = 0) {
    const int64_t valid = std::min<int64_t>(wout - ox, live - lane);
    if (valid > 0) f(oy * wout + ox - lane, lanes_between(lane, lane + valid));
  }
}

inline void store_ext(float* yr, int64_t q, int64_t live, __m256 v, int64_t wq, int64_t wout) {
  if (wq == wout && live >= 8) {
    _mm256_storeu_ps(yr + q, v);
    return;
  }
  for_runs(q, live, wq, wout, [&](int64_t o, __m256i m) { _mm256_maskstore_ps(yr + o, m, v); });
}

// The residual at the lanes store_ext(.., q, live, ..) writes (other lanes: 0).
inline __m256 load_ext(const float* rr, int64_t q, int64_t live, int64_t wq, int64_t wout) {
  if (wq == wout && live >= 8) return _mm256_loadu_ps(rr + q);
  __m256 v = _mm256_setzero_ps();
  for_runs(q, live, wq, wout, [&](int64_t o, __m256i m) {
    v = _mm256_blendv_ps(v, _mm256_maskload_ps(rr + o, m), _mm256_castsi256_ps(m));
  });
  return v;
}

// Lane l of the 16 floats (lo, hi) moved down by one: lane l of the result is lane l + 1.
inline __m256 next_lane(__m256 lo, __m256 hi) {
  const __m256i a = _mm256_castps_si256(lo);
  const __m256i mid = _mm256_permute2x128_si256(a, _mm256_castps_si256(hi), 0x21);
  return _mm256_castsi256_ps(_mm256_alignr_epi8(mid, a, 4));
}

// How a tile applies the segments' column shifts (spconv.h): kPlain, one segment (shifts ==
// 1); kByAddress, added to the load address; kHorner, by moving the accumulators one lane
// between segments (only when each tile holds whole extended rows).
enum ShiftMode { kPlain, kByAddress, kHornerShift };

// kTail: masked input loads (len < 8 * K and no over-read allowed). always_inline: with the
// shift modes GCC stopped inlining some tiles (13% slower on 1x1 layers).
template <int MR, int K, bool kTail, int kShift>
[[gnu::always_inline]] inline void tile(const Args& a, int64_t g, int64_t q, int64_t len) {
  constexpr bool kHorner = kShift == kHornerShift;
  const int nseg = kShift == kPlain ? 1 : a.shifts;
  const bool partial = len < 8 * K;
  __m256i mask[K];
  if (partial || kTail)  // kTail with a full tile (len == 8 * K) still loads through masks
    for (int k = 0; k < K; ++k) mask[k] = lanes_between(0, len - 8 * k);
  __m256 acc[MR][K];
  if (a.acc_in && !kHorner) {
    for (int r = 0; r < MR; ++r) {
      const float* src = a.acc_in + (g * MR + r) * a.lda + (q - a.q0);
      for (int k = 0; k < K; ++k)
        acc[r][k] = partial ? _mm256_maskload_ps(src + 8 * k, mask[k]) : _mm256_loadu_ps(src + 8 * k);
    }
  } else {
    for (int r = 0; r < MR; ++r) {  // Horner: the bias is added after the lane moves
      const __m256 b =
          _mm256_set1_ps(a.bias && !a.acc_in && !kHorner ? a.bias[g * MR + r] : 0.0f);
      for (int k = 0; k < K; ++k) acc[r][k] = b;
    }
  }
  const float* xq = a.x + q;
  const int32_t* seg = a.indptr + g * a.ips;
  for (int j = 0; j < nseg; ++j) {
    const float* xs = xq + (kShift == kByAddress ? a.shift[j] : 0);
    for (int32_t p = seg[j], pe = seg[j + 1]; p < pe; ++p) {
      const float* xp = xs + a.offsets[p];
      const float* w = a.values + int64_t{p} * MR;
      __m256 xv[K];
      for (int k = 0; k < K; ++k)
        xv[k] = kTail ? _mm256_maskload_ps(xp + 8 * k, mask[k]) : _mm256_loadu_ps(xp + 8 * k);
      for (int r = 0; r < MR; ++r) {
        const __m256 wb = _mm256_broadcast_ss(w + r);
        for (int k = 0; k < K; ++k) acc[r][k] = _mm256_fmadd_ps(wb, xv[k], acc[r][k]);
      }
    }
    if (kHorner && j + 1 < nseg)  // lane l takes lane l + 1 (the last lane takes 0)
      for (int r = 0; r < MR; ++r)
        for (int k = 0; k < K; ++k)
          acc[r][k] = next_lane(acc[r][k], k + 1 < K ? acc[r][k + 1] : _mm256_setzero_ps());
  }
  if (kHorner && a.acc_in) {
    for (int r = 0; r < MR; ++r) {
      const float* src = a.acc_in + (g * MR + r) * a.lda + (q - a.q0);
      for (int k = 0; k < K; ++k)
        acc[r][k] = _mm256_add_ps(acc[r][k], partial ? _mm256_maskload_ps(src + 8 * k, mask[k])
                                                     : _mm256_loadu_ps(src + 8 * k));
    }
  } else if (kHorner && a.bias) {  // (lanes moved in from past the tile started at 0)
    for (int r = 0; r < MR; ++r) {
      const __m256 b = _mm256_set1_ps(a.bias[g * MR + r]);
      for (int k = 0; k < K; ++k) acc[r][k] = _mm256_add_ps(acc[r][k], b);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    if (a.acc_out) {
      float* dst = a.acc_out + (g * MR + r) * a.lda + (q - a.q0);
      for (int k = 0; k < K; ++k)
        if (partial)
          _mm256_maskstore_ps(dst + 8 * k, mask[k], acc[r][k]);
        else
          _mm256_storeu_ps(dst + 8 * k, acc[r][k]);
    } else {
      float* yr = a.y + (g * MR + r) * a.ldy;
      const float* rr = a.res ? a.res + (g * MR + r) * a.ldy : nullptr;
      // Unrolled so acc[r][k] stays in registers around the run loops of store_ext (without:
      // kept on the stack, 3x3 256@14^2 0.361 -> 0.310 ms, 1x1 64->256@56^2 0.181 -> 0.140).
#pragma GCC unroll 16
      for (int k = 0; k < K; ++k) {
        const int64_t live = std::min<int64_t>(8, len - 8 * k);
        if (live <= 0) continue;
        __m256 v = acc[r][k];
        if (rr) v = _mm256_add_ps(v, load_ext(rr, q + 8 * k, live, a.wq, a.wout));
        store_ext(yr, q + 8 * k, live, clamp(v, a.vmin, a.vmax), a.wq, a.wout);
      }
    }
  }
}

// The last pixels (0 < len < 8 * K) on the narrowest of the tiles K, K/2, K/4, ... that holds them.
template <int MR, int K, int kShift>
[[gnu::always_inline]] inline void rest_tile(const Args& a, int64_t g, int64_t q, int64_t len,
                                             int overread) {
  if constexpr (K > 1) {
    if (len <= 8 * (K / 2)) return rest_tile<MR, K / 2, kShift>(a, g, q, len, overread);
  }
  if (overread)
    tile<MR, K, false, kShift>(a, g, q, len);
  else
    tile<MR, K, true, kShift>(a, g, q, len);
}

// The same out of line, for the 8-vector tiles: inlined there, GCC compiled their main tile
// worse (3x3 512@7^2 0.68 -> 0.79 ms); inlined is better for the 4-vector ones, which run
// whole small images as rests (3x3/2 512@7^2: 0.465 -> 0.515 ms out of line).
template <int MR, int K, int kShift>
[[gnu::noinline]] void rest_tile_outlined(const Args& a, int64_t g, int64_t q, int64_t len,
                                          int overread) {
  rest_tile<MR, K, kShift>(a, g, q, len, overread);
}

// Row group g over pixels [q0, q0 + n), without Horner.
template <int MR, int K, int kShift>
void row_group(const Args& a, int64_t g, int64_t q0, int64_t n, int overread) {
  constexpr int64_t kNr = 8 * K;
  int64_t j = 0;
  for (; j + kNr <= n; j += kNr) tile<MR, K, false, kShift>(a, g, q0 + j, kNr);
  if (n <= j) return;
  if constexpr (K > 4)
    rest_tile_outlined<MR, K, kShift>(a, g, q0 + j, n - j, overread);
  else
    rest_tile<MR, K, kShift>(a, g, q0 + j, n - j, overread);
}

// The last whole rows (0 < len < 8 * K) of a Horner layout on the narrowest tile K, K/2, ...
// that holds them and whole rows still (its width a multiple of the row pitch).
template <int MR, int K>
[[gnu::noinline]] void horner_rest(const Args& a, int64_t g, int64_t q, int64_t len) {
  if constexpr (K > 1) {
    if (len <= 8 * (K / 2) && (8 * (K / 2)) % a.wq == 0)
      return horner_rest<MR, K / 2>(a, g, q, len);
  }
  tile<MR, K, false, kHornerShift>(a, g, q, len);
}

// Every row group over pixels [q0, q0 + n). Ranges shorter than one tile run the K / 2 code
// (images up to 7^2: the same lanes, and the 8-vector tile there had cost 3x3 512@7^2 8%).
// noinline, so that the K / 2 code is not compiled into the K code (inlined: 3x3/2 512@7^2
// 0.462 -> 0.484 ms, 1x1/2 2048->512@7^2 0.143 -> 0.152).
template <int MR, int K>
[[gnu::noinline]] void spconv(SPARSE_RT_F32_SPCONV_PARAMS) {
  if constexpr (K > 4) {
    if (n < 8 * K)
      return spconv<MR, K / 2>(m, q0, n, indptr, ips, shifts, shift, offsets, values, x, acc_in,
                               acc_out, lda, bias, y, res, ldy, wq, wout, out_min, out_max, flags);
  }
  const Args a{indptr, ips,  shifts, shift, offsets, values, x,    acc_in, acc_out,
               lda,    bias, y,      res,   ldy,     wq,     wout, q0,
               _mm256_set1_ps(out_min), _mm256_set1_ps(out_max)};
  constexpr int64_t kNr = 8 * K;
  const int overread = flags & kSpconvOverread;
  // Horner here: one lane per segment, ending at 0, with the lanes moved in from past the tile
  // landing in garbage columns (the bias starts in every lane) or, with kSpconvZeroPastTile,
  // standing for zeros of x (rows of 8 sharing their padding: the op checked every row's end).
  const bool horner = unit_shift_steps(shift, shifts) && overread && q0 % wq == 0 &&
                      n % wq == 0 && kNr % wq == 0 &&
                      (wq - wout >= shifts - 1 || (flags & kSpconvZeroPastTile));
  for (int64_t g = 0; g < m / MR; ++g) {
    if (horner) {  // whole rows per tile; a short last tile over-reads
      int64_t j = 0;
      for (; j + kNr <= n; j += kNr) tile<MR, K, false, kHornerShift>(a, g, q0 + j, kNr);
      if (n > j) horner_rest<MR, K>(a, g, q0 + j, n - j);
    } else if (shifts > 1) {
      row_group<MR, K, kByAddress>(a, g, q0, n, overread);
    } else {
      row_group<MR, K, kPlain>(a, g, q0, n, overread);
    }
  }
}

}  // namespace

#define SPARSE_RT_ARGS \
  m, q0, n, indptr, ips, shifts, shift, offsets, values, x, acc_in, acc_out, lda, bias, y, res, ldy, \
      wq, wout, out_min, out_max, flags
void f32_spconv_1x64__avx2(SPARSE_RT_F32_SPCONV_PARAMS) { spconv<1, 8>(SPARSE_RT_ARGS); }
void f32_spconv_4x16__avx2(SPARSE_RT_F32_SPCONV_PARAMS) { spconv<4, 2>(SPARSE_RT_ARGS); }
void f32_spconv_8x8__avx2(SPARSE_RT_F32_SPCONV_PARAMS) { spconv<8, 1>(SPARSE_RT_ARGS); }
#undef SPARSE_RT_ARGS

}  // namespace sparse_rt::kernels::avx2
