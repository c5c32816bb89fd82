// AVX-512 spconv: a row group of MR output channels x K zmm (16 pixels each) of accumulators.
// Per stored entry (one input channel tap): K input vectors are loaded once at x + off + q and
// FMA'd with MR broadcast weights, so each loaded vector serves MR output channels. The pixel
// tail runs the same tile with masked loads (never over-reads); the final store drops the
// garbage columns of the extended grid with masked stores. Shifted taps (spconv.h): when the
// tiles hold whole rows, the accumulators move by the segments' shift differences (valignd
// when every step is one lane, else vpermt2ps) and every load stays on the entry's (aligned)
// offset; otherwise the shift goes into the address.
#include <immintrin.h>

#include <algorithm>

#include "kernels/spconv/spconv.h"

namespace sparse_rt::kernels::avx512 {
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
  __m512 vmin, vmax;
};

// max/min with the accumulator second: NaN propagates instead of being clamped away.
inline __m512 clamp(__m512 v, __m512 lo, __m512 hi) {
  return _mm512_min_ps(hi, _mm512_max_ps(lo, v));
}

inline __mmask16 lanes_below(int64_t len) {
  return len >= 16 ? static_cast<__mmask16>(0xFFFF)
                   : len <= 0 ? static_cast<__mmask16>(0)
                              : static_cast<__mmask16>((1u << len) - 1u);
}

// Where the 16 lanes of one accumulator vector go in an output plane: the extended pixels
// q .. q+15 split into runs by extended row; garbage columns [wout, wq) are masked off. The
// same plan serves every output channel of a tile (it depends on q only).
struct StorePlan {
  int nseg;
  int64_t base[17];  // plane index that lane 0 would have in this run (may be negative)
  __mmask16 mask[17];
};

inline void plan_store(StorePlan& sp, int64_t q, __mmask16 live, int64_t wq, int64_t wout) {
  sp.nseg = 0;
  if (wq == wout) {
    sp.base[0] = q;
    sp.mask[0] = live;
    sp.nseg = 1;
    return;
  }
  int64_t oy = q / wq, ox = q % wq;
  for (int64_t lane = 0; lane < 16; lane += wq - ox, ++oy, ox = 0) {
    const int64_t valid = std::min<int64_t>(wout - ox, 16 - lane);
    if (valid <= 0) continue;
    const __mmask16 mk = static_cast<__mmask16>(lanes_below(valid) << lane) & live;
    if (!mk) continue;
    sp.base[sp.nseg] = oy * wout + ox - lane;
    sp.mask[sp.nseg++] = mk;
  }
}

// The same when every vector's lanes lie in at most one run (always with rows of 16-float
// multiples, and when wq == wout): one masked store per vector, a plan of fixed shape.
struct RowStore {
  int64_t base[16];    // plane index that lane 0 of vector k would have (may be negative)
  __mmask16 mask[16];  // its lanes that are stored (may be none)
};

// How a tile applies the segments' shifts (spconv.h): kPlain, one segment (shifts == 1);
// kByAddress, added to the load address; by moving the accumulators between segments (only
// when each tile holds whole extended rows): kHornerShift one lane per segment down to 0, with
// every lane moved in from past the tile a garbage column (the bias may start in every lane);
// kHornerGapped any shifts (vpermt2ps), the bias added after the moves. One mode for both cost
// 3x3 64@56^2 6% (0.193 -> 0.205 ms), though the inner loop was the same.
enum ShiftMode { kPlain, kByAddress, kHornerShift, kHornerGapped };

// Every accumulator vector k takes lanes d.. of (acc[r][k], acc[r][k + 1]); the last one takes
// zeros from past the tile. 1 <= d <= 15; kGapped false: d = 1. valignd where d = 1 (4 of the
// 5 steps of a 3x3 over rows of 8: 3x3 512@7^2 0.220-0.224 -> 0.218-0.219 ms).
template <int MR, int K, bool kGapped>
[[gnu::always_inline]] inline void move_lanes(__m512 (&acc)[MR][K], int d) {
  if (!kGapped || d == 1) {
    for (int r = 0; r < MR; ++r)
      for (int k = 0; k < K; ++k) {
        const __m512i next = k + 1 < K ? _mm512_castps_si512(acc[r][k + 1]) : _mm512_setzero_si512();
        acc[r][k] = _mm512_castsi512_ps(_mm512_alignr_epi32(next, _mm512_castps_si512(acc[r][k]), 1));
      }
    return;
  }
  const __m512i idx = _mm512_add_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(d));
  for (int r = 0; r < MR; ++r)
    for (int k = 0; k < K; ++k)
      acc[r][k] = _mm512_permutex2var_ps(acc[r][k], idx, k + 1 < K ? acc[r][k + 1] : _mm512_setzero_ps());
}

// GCC gets the tiles forced inline: with the Horner modes it outlined some (1x1 64->256@56^2
// 0.093 -> 0.129 ms). Not clang, which is not the speed path here (fuzzing, sanitizers): forced,
// its ASan + fuzzer build of this file took 299 s instead of 116.
#if defined(__clang__)
#define SPARSE_RT_TILE_INLINE inline
#else
#define SPARSE_RT_TILE_INLINE [[gnu::always_inline]] inline
#endif

// kTail: masked input loads.
// kOneRun: every vector stores through one run (`one`), so the epilogue has a fixed shape
// and GCC keeps the accumulators in registers (a run loop made it keep them on the stack).
// kHalfLast: the last vector computes only its low 8 lanes (ymm loads and FMAs, half the cost
// of a zmm on Zen 4, which splits 512-bit operations in two); its high lanes are undefined and
// never stored (the chunk's masks stop at lane 8 there). Not with Horner, whose lane moves
// cross vectors.
template <int MR, int K, bool kTail, int kShift, bool kOneRun, bool kHalfLast = false>
SPARSE_RT_TILE_INLINE void tile(const Args& a, int64_t g, int64_t q, const __mmask16* mask,
                 const StorePlan* plan, const RowStore& one) {
  constexpr bool kHorner = kShift == kHornerShift || kShift == kHornerGapped;
  constexpr bool kGapped = kShift == kHornerGapped;
  const int nseg = kShift == kPlain ? 1 : a.shifts;
  __m512 acc[MR][K];
  if (a.acc_in && !kHorner) {
    for (int r = 0; r < MR; ++r) {
      const float* src = a.acc_in + (g * MR + r) * a.lda + (q - a.q0);
      for (int k = 0; k < K; ++k)
        acc[r][k] = _mm512_maskz_loadu_ps(mask[k], src + 16 * k);
    }
  } else {
    for (int r = 0; r < MR; ++r) {  // Horner: the bias is added after the lane moves
      const __m512 b = _mm512_set1_ps(a.bias && !a.acc_in && !kGapped ? a.bias[g * MR + r] : 0.0f);
      for (int k = 0; k < K; ++k) acc[r][k] = b;
    }
  }
  const float* xq = a.x + q;
  const int32_t* seg = a.indptr + g * a.ips;
  for (int j = 0; j < nseg; ++j) {
    if (kHorner && j > 0) move_lanes<MR, K, kGapped>(acc, a.shift[j - 1] - a.shift[j]);
    const float* xs = xq + (kShift == kByAddress ? a.shift[j] : 0);
    for (int32_t p = seg[j], pe = seg[j + 1]; p < pe; ++p) {
      const float* xp = xs + a.offsets[p];
      const float* w = a.values + int64_t{p} * MR;
      __m512 xv[K];
      for (int k = 0; k < K; ++k) {
        if (kHalfLast && k == K - 1)
          xv[k] = _mm512_castps256_ps512(
              kTail ? _mm256_maskz_loadu_ps(static_cast<__mmask8>(mask[k]), xp + 16 * k)
                    : _mm256_loadu_ps(xp + 16 * k));
        else
          xv[k] = kTail ? _mm512_maskz_loadu_ps(mask[k], xp + 16 * k) : _mm512_loadu_ps(xp + 16 * k);
      }
      for (int r = 0; r < MR; ++r) {
        const __m512 wb = _mm512_set1_ps(w[r]);
        for (int k = 0; k < K; ++k) {
          if (kHalfLast && k == K - 1)
            acc[r][k] = _mm512_castps256_ps512(_mm256_fmadd_ps(_mm512_castps512_ps256(wb),
                                                               _mm512_castps512_ps256(xv[k]),
                                                               _mm512_castps512_ps256(acc[r][k])));
          else
            acc[r][k] = _mm512_fmadd_ps(wb, xv[k], acc[r][k]);
        }
      }
    }
  }
  if (kHorner) {
    if (kGapped && a.shift[nseg - 1] > 0) move_lanes<MR, K, true>(acc, a.shift[nseg - 1]);
    for (int r = 0; r < MR; ++r) {
      if (a.acc_in) {
        const float* src = a.acc_in + (g * MR + r) * a.lda + (q - a.q0);
        for (int k = 0; k < K; ++k)
          acc[r][k] = _mm512_add_ps(acc[r][k], _mm512_maskz_loadu_ps(mask[k], src + 16 * k));
      } else if (kGapped && a.bias) {
        const __m512 b = _mm512_set1_ps(a.bias[g * MR + r]);
        for (int k = 0; k < K; ++k) acc[r][k] = _mm512_add_ps(acc[r][k], b);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    if (a.acc_out) {
      float* dst = a.acc_out + (g * MR + r) * a.lda + (q - a.q0);
      for (int k = 0; k < K; ++k) _mm512_mask_storeu_ps(dst + 16 * k, mask[k], acc[r][k]);
    } else {
      // Lanes outside a run's mask are not touched, so a run's base may precede the plane.
      // The residual is gathered through the same runs (lanes in no run stay 0, unused).
      float* yr = a.y + (g * MR + r) * a.ldy;
      const float* rr = a.res ? a.res + (g * MR + r) * a.ldy : nullptr;
      // Unrolled so acc[r][k] stays in registers around the run loops (3x3/2 512@7^2: -7%).
#pragma GCC unroll 16
      for (int k = 0; k < K; ++k) {
        __m512 v = acc[r][k];
        if (kOneRun) {
          if (rr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(one.mask[k], rr + one.base[k]));
          _mm512_mask_storeu_ps(yr + one.base[k], one.mask[k], clamp(v, a.vmin, a.vmax));
          continue;
        }
        if (rr) {
          __m512 rv = _mm512_setzero_ps();
          for (int sgi = 0; sgi < plan[k].nseg; ++sgi)
            rv = _mm512_mask_loadu_ps(rv, plan[k].mask[sgi], rr + plan[k].base[sgi]);
          v = _mm512_add_ps(v, rv);
        }
        v = clamp(v, a.vmin, a.vmax);
        for (int sgi = 0; sgi < plan[k].nseg; ++sgi)
          _mm512_mask_storeu_ps(yr + plan[k].base[sgi], plan[k].mask[sgi], v);
      }
    }
  }
}

// Every row group over one chunk of whole extended rows (Horner). wq is a multiple of 16 here,
// so each accumulator vector lies in one extended row and stores through one run. One function
// per mode: choosing the mode inside (both tile loops here) cost 3x3 64@56^2 5% (0.192 ->
// 0.202 ms).
template <int MR, int K, int kMode>
void horner_tiles(const Args& a, int64_t m, int64_t q, const __mmask16* live) {
  RowStore one;
  for (int k = 0; k < K; ++k) {
    const int64_t qk = q + 16 * k, ox = qk % a.wq;
    one.base[k] = qk / a.wq * a.wout + ox;
    one.mask[k] = static_cast<__mmask16>(lanes_below(a.wout - ox) & live[k]);
  }
  for (int64_t g = 0; g < m / MR; ++g)
    tile<MR, K, false, kMode, true>(a, g, q, live, nullptr, one);
}

template <int MR, int K, int kShift, bool kOneRun>
void tiles(const Args& a, int64_t m, int64_t q, int64_t len, int overread, const __mmask16* mask,
           const StorePlan* plan, const RowStore& one) {
  constexpr int kHalf = K / 2 > 0 ? K / 2 : 1;
  if constexpr (kShift == kPlain) {
    if (overread && len > 16 * (K - 1) && len <= 16 * K - 8) {
      // The last vector needs at most 8 lanes (1x1 over 7^2: 49 = 3 x 16 + 1 pixels).
      for (int64_t g = 0; g < m / MR; ++g) tile<MR, K, false, kShift, kOneRun, true>(a, g, q, mask, plan, one);
      return;
    }
  }
  if (len == 16 * K || (overread && len > 16 * (K / 2))) {
    for (int64_t g = 0; g < m / MR; ++g) tile<MR, K, false, kShift, kOneRun>(a, g, q, mask, plan, one);
  } else if (overread || kShift == kHornerGapped) {  // Horner always over-reads
    for (int64_t g = 0; g < m / MR; ++g) tile<MR, kHalf, false, kShift, kOneRun>(a, g, q, mask, plan, one);
  } else if constexpr (kShift != kHornerGapped) {
    if (K > 1 && len > 16 * (K / 2)) {
      for (int64_t g = 0; g < m / MR; ++g) tile<MR, K, true, kShift, kOneRun>(a, g, q, mask, plan, one);
    } else {
      for (int64_t g = 0; g < m / MR; ++g) tile<MR, kHalf, true, kShift, kOneRun>(a, g, q, mask, plan, one);
    }
  }
}

// Every row group over one pixel chunk of `len` (<= 16 * K) pixels at q, with the store plan
// of fixed shape when it fits (partial sums only: no store plan at all).
template <int MR, int K, int kShift>
void tiles(const Args& a, int64_t m, int64_t q, int64_t len, int overread, const __mmask16* mask,
           const StorePlan* plan) {
  RowStore one;
  bool one_run = true;
  for (int k = 0; k < K && !a.acc_out; ++k) {
    one_run = one_run && plan[k].nseg <= 1;
    one.base[k] = plan[k].nseg ? plan[k].base[0] : 0;
    one.mask[k] = plan[k].nseg ? plan[k].mask[0] : 0;
  }
  if (one_run) tiles<MR, K, kShift, true>(a, m, q, len, overread, mask, plan, one);
  else tiles<MR, K, kShift, false>(a, m, q, len, overread, mask, plan, one);
}

template <int MR, int K>
void spconv(SPARSE_RT_F32_SPCONV_PARAMS) {
  const Args a{indptr, ips,  shifts, shift, offsets, values, x,    acc_in, acc_out,
               lda,    bias, y,      res,   ldy,     wq,     wout, q0,
               _mm512_set1_ps(out_min), _mm512_set1_ps(out_max)};
  constexpr int64_t kNr = 16 * K;
  const int overread = flags & kSpconvOverread;
  const bool horner = shifts > 1 && overread && q0 % wq == 0 && n % wq == 0 && kNr % wq == 0 &&
                      (wq - wout >= shift[0] || (flags & kSpconvZeroPastTile));
  // Rows of 16-float multiples store each vector through one run (horner_tiles); shorter
  // rows (several per vector) go through the store plan, with any shifts.
  const bool horner_rows = horner && wq % 16 == 0;
  const bool unit_steps = horner && unit_shift_steps(shift, shifts) && wq - wout >= shift[0];
  __mmask16 mask[K + 1];
  StorePlan plan[K + 1];
  // Pixel chunks outer, row groups inner: the chunk's input window is reused by every group.
  for (int64_t j = 0; j < n; j += kNr) {
    const int64_t len = std::min(kNr, n - j), q = q0 + j;
    if constexpr (K <= 4) {
      // A last chunk of at most 16 pixels joins the one before as a (K + 1)-vector tile: 1x1
      // over 14^2 ran chunks of 64, 64, 64 and 4 pixels, the last a 2-vector pass over every
      // entry for 4 pixels.
      if (!horner && n - j > kNr && n - j <= kNr + 16) {
        for (int k = 0; k <= K; ++k) {
          mask[k] = lanes_below(n - j - 16 * k);
          if (!acc_out) plan_store(plan[k], q + 16 * k, mask[k], wq, wout);
        }
        if (shifts > 1)
          tiles<MR, K + 1, kByAddress>(a, m, q, n - j, overread, mask, plan);
        else
          tiles<MR, K + 1, kPlain>(a, m, q, n - j, overread, mask, plan);
        break;
      }
    }
    for (int k = 0; k < K; ++k) {
      mask[k] = lanes_below(len - 16 * k);
      if (!acc_out && !horner_rows) plan_store(plan[k], q + 16 * k, mask[k], wq, wout);
    }
    constexpr int kHalf = K / 2 > 0 ? K / 2 : 1;
    constexpr int kThreeQ = K % 4 == 0 ? 3 * K / 4 : K;
    if (kThreeQ < K && horner_rows && len > 16 * kHalf && len <= 16 * kThreeQ &&
        (16 * kThreeQ) % wq == 0) {
      // A chunk of 3/4 tile in whole rows (3x3 256@14^2: 224 = 128 + 96 pixels per image;
      // 128@28^2: tiles of 224): 6 vectors instead of 8 computing 2 of garbage.
      if (unit_steps) horner_tiles<MR, kThreeQ, kHornerShift>(a, m, q, mask);
      else horner_tiles<MR, kThreeQ, kHornerGapped>(a, m, q, mask);
    } else if (horner_rows && (len > 16 * kHalf || (16 * kHalf) % wq != 0)) {
      // Whole rows per tile; a short last tile over-reads fewer than 16 * kHalf <= 64 floats
      // (len > 16 * kHalf; otherwise wq, a power-of-2 multiple of 16 dividing kNr but not
      // the half tile, equals kNr and the tile is full).
      if (unit_steps) horner_tiles<MR, K, kHornerShift>(a, m, q, mask);
      else horner_tiles<MR, K, kHornerGapped>(a, m, q, mask);
    } else if (horner_rows) {
      if (unit_steps) horner_tiles<MR, kHalf, kHornerShift>(a, m, q, mask);
      else horner_tiles<MR, kHalf, kHornerGapped>(a, m, q, mask);
    } else if (horner) {  // wq divides 16: any tile holds whole rows
      tiles<MR, K, kHornerGapped>(a, m, q, len, overread, mask, plan);
    } else if (shifts > 1) {
      tiles<MR, K, kByAddress>(a, m, q, len, overread, mask, plan);
    } else {
      tiles<MR, K, kPlain>(a, m, q, len, overread, mask, plan);
    }
  }
}

}  // namespace

#undef SPARSE_RT_TILE_INLINE

#define SPARSE_RT_ARGS \
  m, q0, n, indptr, ips, shifts, shift, offsets, values, x, acc_in, acc_out, lda, bias, y, res, ldy, \
      wq, wout, out_min, out_max, flags
void f32_spconv_1x64__avx512(SPARSE_RT_F32_SPCONV_PARAMS) { spconv<1, 4>(SPARSE_RT_ARGS); }
void f32_spconv_1x128__avx512(SPARSE_RT_F32_SPCONV_PARAMS) { spconv<1, 8>(SPARSE_RT_ARGS); }
void f32_spconv_4x64__avx512(SPARSE_RT_F32_SPCONV_PARAMS) { spconv<4, 4>(SPARSE_RT_ARGS); }
void f32_spconv_8x32__avx512(SPARSE_RT_F32_SPCONV_PARAMS) { spconv<8, 2>(SPARSE_RT_ARGS); }
#undef SPARSE_RT_ARGS

}  // namespace sparse_rt::kernels::avx512
