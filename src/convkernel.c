/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Direct convolution micro-kernels, dispatched per CPU (convkernel.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convkernel.h"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(CLAR_NO_KERNELS)
#define CLAR_HAVE_X86_KERNELS 1
#include <immintrin.h>
#endif

/* Register blocking: MR output channels x NR output positions per
 * micro-kernel call, accumulated in MR * NR / lanes vector registers (24 of
 * the 32 zmm, 12 of the 16 ymm), with NR / lanes loads of the input and MR
 * broadcasts of the weights per multiply-add step. */
#define MR512 8
#define NV512 3                 /* vectors of 16 floats: NR = 48, tails of 16 or 32 */
#define NR512 16                /* what the extended output is rounded to */
#define MR256 4
#define NV256 3                 /* vectors of 8 floats: NR = 24 */
#define NR256 (NV256 * 8)

static clar_kernel_kind
detect (void)
{
#ifdef CLAR_HAVE_X86_KERNELS
  const char *env = getenv ("CLAR_KERNEL");
  clar_kernel_kind best = CLAR_KERNEL_BLAS, want;
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx512f"))
    best = CLAR_KERNEL_AVX512;
  else if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    best = CLAR_KERNEL_AVX2;
  if (!env || !*env)
    return best;
  if (!strcmp (env, "blas"))
    want = CLAR_KERNEL_BLAS;
  else if (!strcmp (env, "avx2"))
    want = CLAR_KERNEL_AVX2;
  else if (!strcmp (env, "avx512"))
    want = CLAR_KERNEL_AVX512;
  else
    return best;
  return want <= best ? want : best;
#else
  return CLAR_KERNEL_BLAS;
#endif
}

/* Benign race: every thread computes the same value. */
static volatile int cached = -1;

clar_kernel_kind
clar_kernel_active (void)
{
  int k = cached;
  if (k < 0)
    cached = k = (int) detect ();
  return (clar_kernel_kind) k;
}

int
clar_kernel_supported (clar_kernel_kind k)
{
#ifdef CLAR_HAVE_X86_KERNELS
  __builtin_cpu_init ();
  if (k == CLAR_KERNEL_AVX512)
    return __builtin_cpu_supports ("avx512f");
  if (k == CLAR_KERNEL_AVX2)
    return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
#endif
  return k == CLAR_KERNEL_BLAS;
}

clar_kernel_kind
clar_kernel_force (clar_kernel_kind k)
{
  clar_kernel_kind old = clar_kernel_active ();
  if (clar_kernel_supported (k))
    cached = (int) k;
  return old;
}

const char *
clar_kernel_name (clar_kernel_kind k)
{
  switch (k) {
    case CLAR_KERNEL_AVX512: return "avx512";
    case CLAR_KERNEL_AVX2: return "avx2";
    default: return "blas";
  }
}

/* Layout of the scratch: padded input (+ slack so that the last tile may
 * read past the end), the extended output O x Np, the offset table. */
typedef struct {
  int Hp, Wp, Ho, Wo, K;
  size_t L;                  /* padded row stride: B samples side by side */
  size_t N, Np, xsize, ysize;
} direct_plan;

static void
plan_of (direct_plan *p, int B, int C, int H, int W, int O, int k, int pad, int nr)
{
  p->Hp = H + 2 * pad;
  p->Wp = W + 2 * pad;
  p->Ho = p->Hp - k + 1;
  p->Wo = p->Wp - k + 1;
  p->K = C * k * k;
  p->L = (size_t) B * p->Wp;
  p->N = (size_t) p->Ho * p->L;
  p->Np = (p->N + nr - 1) / nr * nr;
  /* Largest read: off[K-1] + Np - 1 = (C-1)HpL + (k-1)(L+1) + Np - 1,
   * below C*Hp*L + (Np - N) + k. Rounded to 16 floats (64-byte lines). */
  p->xsize = ((size_t) C * p->Hp * p->L + (p->Np - p->N) + (size_t) k + 16 + 15) & ~(size_t) 15;
  p->ysize = ((size_t) O * p->Np + 15) & ~(size_t) 15;
}

size_t
clar_conv2d_direct_scratch (int B, int C, int H, int W, int O, int k, int pad)
{
  direct_plan p, q;
  size_t a, b;
  plan_of (&p, B, C, H, W, O, k, pad, NR512);
  plan_of (&q, B, C, H, W, O, k, pad, NR256);
  a = p.xsize + p.ysize + (size_t) p.K + 16;
  b = q.xsize + q.ysize + (size_t) q.K + 16;
  return a > b ? a : b;
}

#ifdef CLAR_HAVE_X86_KERNELS

/* y[r][0 .. NV*16) = bias[r] + sum_q w[r][q] * x[off[q] + 0 .. NV*16) for
 * the rows r < mr (rows mr .. MR-1 repeat row mr-1 and are not stored).
 * One function per NV: tiles of 3 vectors, the tail of a row of tiles with
 * 1 or 2, so that the extended output is only rounded up to 16 floats.
 *
 * The _tail_ variants (MASKED 1) are the last tile of a 1x1 convolution
 * read and written in place: the last vector holds only the lanes of tail
 * (its loads are masked, which AVX-512 never faults on, and so are its
 * stores), so that the layer's input needs no padded copy and its output
 * no compaction. Each output is the same sum, in the same order, either
 * way. MASKED is a constant: the full tiles have no mask in their loop. */
#define DEFINE_TILE_AVX512(NV, NAME, MASKED)                                  \
__attribute__((target ("avx512f")))                                           \
static void                                                                   \
NAME (const float *x, const int *off, int K, const float *w, int mr,          \
      const float *bias, int relu, float *y, size_t ldy, __mmask16 tail)      \
{                                                                             \
  __m512 acc[MR512][NV];                                                      \
  const float *wr[MR512];                                                     \
  _Pragma ("GCC unroll 8")                                                    \
  for (int r = 0; r < MR512; r++) {                                           \
    int rr = r < mr ? r : mr - 1;                                             \
    __m512 b0 = bias ? _mm512_set1_ps (bias[rr]) : _mm512_setzero_ps ();      \
    wr[r] = w + (size_t) rr * K;                                              \
    _Pragma ("GCC unroll 4")                                                  \
    for (int v = 0; v < NV; v++)                                              \
      acc[r][v] = b0;                                                         \
  }                                                                           \
  for (int q = 0; q < K; q++) {                                               \
    const float *xq = x + off[q];                                             \
    __m512 b[NV];                                                             \
    _Pragma ("GCC unroll 4")                                                  \
    for (int v = 0; v < NV; v++)                                              \
      b[v] = MASKED && v == NV - 1 ? _mm512_maskz_loadu_ps (tail, xq + 16 * v) \
          : _mm512_loadu_ps (xq + 16 * v);                                    \
    _Pragma ("GCC unroll 8")                                                  \
    for (int r = 0; r < MR512; r++) {                                         \
      __m512 a = _mm512_set1_ps (wr[r][q]);                                   \
      _Pragma ("GCC unroll 4")                                                \
      for (int v = 0; v < NV; v++)                                            \
        acc[r][v] = _mm512_fmadd_ps (a, b[v], acc[r][v]);                     \
    }                                                                         \
  }                                                                           \
  _Pragma ("GCC unroll 8")                                                    \
  for (int r = 0; r < MR512; r++) {                                           \
    if (r >= mr)                                                              \
      break;                                                                  \
    _Pragma ("GCC unroll 4")                                                  \
    for (int v = 0; v < NV; v++) {                                            \
      __m512 o = relu ? _mm512_max_ps (acc[r][v], _mm512_setzero_ps ()) : acc[r][v]; \
      if (MASKED && v == NV - 1)                                              \
        _mm512_mask_storeu_ps (y + (size_t) r * ldy + 16 * v, tail, o);       \
      else                                                                    \
        _mm512_storeu_ps (y + (size_t) r * ldy + 16 * v, o);                  \
    }                                                                         \
  }                                                                           \
}
DEFINE_TILE_AVX512 (1, tile_avx512_1, 0)
DEFINE_TILE_AVX512 (2, tile_avx512_2, 0)
DEFINE_TILE_AVX512 (3, tile_avx512_3, 0)
DEFINE_TILE_AVX512 (1, tile_avx512_tail_1, 1)
DEFINE_TILE_AVX512 (2, tile_avx512_tail_2, 1)
DEFINE_TILE_AVX512 (3, tile_avx512_tail_3, 1)

/* The AVX2 tiles: NV vectors of 8 floats, as the AVX-512 ones. The
 * _tail_ variants (MASKED 1) are the last, partial tile of a 1x1
 * convolution read and written in place: n < NR256 positions in NV =
 * ceil (n / 8) vectors (a tail of 4 costs one vector's products, not
 * three); only the first n positions are loaded (masked loads never fault
 * on the lanes left out) and stored. */
#define DEFINE_TILE_AVX2(NV, NAME, MASKED)                                    \
__attribute__((target ("avx2,fma")))                                          \
static void                                                                   \
NAME (const float *x, const int *off, int K, const float *w, int mr,          \
      const float *bias, int relu, float *y, size_t ldy, int n)               \
{                                                                             \
  __m256 acc[MR256][NV];                                                      \
  __m256i msk[NV];                                                            \
  const float *wr[MR256];                                                     \
  const __m256i lane = _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7);           \
  _Pragma ("GCC unroll 4")                                                    \
  for (int v = 0; v < NV; v++)                                                \
    msk[v] = _mm256_cmpgt_epi32 (_mm256_set1_epi32 (n - 8 * v), lane);       \
  _Pragma ("GCC unroll 8")                                                    \
  for (int r = 0; r < MR256; r++) {                                           \
    int rr = r < mr ? r : mr - 1;                                             \
    __m256 b0 = bias ? _mm256_set1_ps (bias[rr]) : _mm256_setzero_ps ();      \
    wr[r] = w + (size_t) rr * K;                                              \
    _Pragma ("GCC unroll 4")                                                  \
    for (int v = 0; v < NV; v++)                                              \
      acc[r][v] = b0;                                                         \
  }                                                                           \
  for (int q = 0; q < K; q++) {                                               \
    const float *xq = x + off[q];                                             \
    __m256 b[NV];                                                             \
    _Pragma ("GCC unroll 4")                                                  \
    for (int v = 0; v < NV; v++)                                              \
      b[v] = MASKED ? _mm256_maskload_ps (xq + 8 * v, msk[v]) : _mm256_loadu_ps (xq + 8 * v); \
    _Pragma ("GCC unroll 8")                                                  \
    for (int r = 0; r < MR256; r++) {                                         \
      __m256 a = _mm256_broadcast_ss (wr[r] + q);                             \
      _Pragma ("GCC unroll 4")                                                \
      for (int v = 0; v < NV; v++)                                            \
        acc[r][v] = _mm256_fmadd_ps (a, b[v], acc[r][v]);                     \
    }                                                                         \
  }                                                                           \
  _Pragma ("GCC unroll 8")                                                    \
  for (int r = 0; r < MR256; r++) {                                           \
    if (r >= mr)                                                              \
      break;                                                                  \
    _Pragma ("GCC unroll 4")                                                  \
    for (int v = 0; v < NV; v++) {                                            \
      __m256 o = relu ? _mm256_max_ps (acc[r][v], _mm256_setzero_ps ()) : acc[r][v]; \
      if (MASKED)                                                             \
        _mm256_maskstore_ps (y + (size_t) r * ldy + 8 * v, msk[v], o);        \
      else                                                                    \
        _mm256_storeu_ps (y + (size_t) r * ldy + 8 * v, o);                   \
    }                                                                         \
  }                                                                           \
}
DEFINE_TILE_AVX2 (NV256, tile_avx2, 0)
DEFINE_TILE_AVX2 (1, tile_avx2_tail_1, 1)
DEFINE_TILE_AVX2 (2, tile_avx2_tail_2, 1)
DEFINE_TILE_AVX2 (3, tile_avx2_tail_3, 1)

/* 3x3 depthwise convolution, zero padding 1, stride 1 or 2, one channel
 * plane: each output row is computed 16 columns at a time in one register,
 * the three taps of an input row being masked loads at column offsets -1,
 * 0, +1 (stride 1), or, at stride 2, the even and odd columns of two loads
 * split with vpermt2ps and the odd ones shifted one lane for column 2j-1.
 * Masked-off lanes are never read (AVX-512 suppresses their faults) and
 * load as zeros, which is the padding; rows outside the plane are skipped.
 * Each output is b + the nine taps in the order of dw_plane (layers-ds.c),
 * row by row, left to right. Rows of 7 or 13 columns are one masked vector,
 * where the plain C code had scalar edges and per-row overhead. ReLU, if
 * relu is set, is applied before the store. (Computing four output rows
 * together, each input row loaded once for all of them, measured slower on
 * the Intel Xeon model 207: 0.0375 against 0.031 ms on the dsres b2d layer.) */
__attribute__((target ("avx512f")))
void
clar_dw3x3_plane_avx512 (const float *x, int H, int W, const float *w, float bias, int s,
                         int relu, float *y, int Ho, int Wo)
{
  const __m512 vb = _mm512_set1_ps (bias), zero = _mm512_setzero_ps ();
  const __m512i ev = _mm512_setr_epi32 (0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i od = _mm512_setr_epi32 (1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512i sh = _mm512_setr_epi32 (16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
  for (int i = 0; i < Ho; i++) {
    float *yr = y + (size_t) i * Wo;
    for (int j0 = 0; j0 < Wo; j0 += 16) {
      const int nv = Wo - j0 < 16 ? Wo - j0 : 16;
      const __mmask16 m = (__mmask16) ((1u << nv) - 1u);
      __m512 acc = vb;
      for (int ki = 0; ki < 3; ki++) {
        const int r = i * s + ki - 1;
        const float *xr;
        __m512 L, C, R;
        if (r < 0 || r >= H)
          continue;
        xr = x + (size_t) r * W;
        if (s == 1) {
          /* Lanes l read columns j0 + l - 1, j0 + l, j0 + l + 1 of [0, W). */
          const int nr = W - j0 - 1;             /* lanes of R inside the row */
          const __mmask16 mr = nr >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << nr) - 1u);
          L = _mm512_maskz_loadu_ps (j0 ? m : (__mmask16) (m & ~1u), xr + j0 - 1);
          C = _mm512_maskz_loadu_ps (m, xr + j0);
          R = _mm512_maskz_loadu_ps (mr, xr + j0 + 1);
        } else {
          /* Columns 2 j0 .. 2 j0 + 31 of [0, W), split into even (2j) and
           * odd (2j + 1); 2j - 1 is the odd vector one lane later, lane 0
           * being column 2 j0 - 1 (padding when j0 is 0). */
          const int c0 = 2 * j0, n0 = W - c0, n1 = W - c0 - 16;
          const __mmask16 m0 = n0 >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << n0) - 1u);
          const __mmask16 m1 = n1 >= 16 ? (__mmask16) 0xFFFF
              : n1 <= 0 ? (__mmask16) 0 : (__mmask16) ((1u << n1) - 1u);
          const __m512 lo = _mm512_maskz_loadu_ps (m0, xr + c0);
          const __m512 hi = _mm512_maskz_loadu_ps (m1, xr + c0 + 16);
          const __m512 before = _mm512_set1_ps (j0 ? xr[c0 - 1] : 0.0f);
          C = _mm512_permutex2var_ps (lo, ev, hi);
          R = _mm512_permutex2var_ps (lo, od, hi);
          L = _mm512_permutex2var_ps (R, sh, before);
        }
        acc = _mm512_fmadd_ps (_mm512_set1_ps (w[3 * ki]), L, acc);
        acc = _mm512_fmadd_ps (_mm512_set1_ps (w[3 * ki + 1]), C, acc);
        acc = _mm512_fmadd_ps (_mm512_set1_ps (w[3 * ki + 2]), R, acc);
      }
      _mm512_mask_storeu_ps (yr + j0, m, relu ? _mm512_max_ps (acc, zero) : acc);
    }
  }
}

/* The AVX2 version of clar_dw3x3_plane_avx512: 8 output columns a
 * vector, masked loads (vmaskmovps, which does not fault on the lanes left
 * out) for the padding; at stride 2 the even and odd columns of two loads
 * are split with vshufps + vpermpd, and column 2j-1 is the odd vector moved
 * one lane up with column 2 j0 - 1 (or the padding) blended into lane 0. */
__attribute__((target ("avx2,fma")))
void
clar_dw3x3_plane_avx2 (const float *x, int H, int W, const float *w, float bias, int s,
                       int relu, float *y, int Ho, int Wo)
{
  const __m256 vb = _mm256_set1_ps (bias), zero = _mm256_setzero_ps ();
  const __m256i lane = _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i up = _mm256_setr_epi32 (0, 0, 1, 2, 3, 4, 5, 6);
  for (int i = 0; i < Ho; i++) {
    float *yr = y + (size_t) i * Wo;
    for (int j0 = 0; j0 < Wo; j0 += 8) {
      const int nv = Wo - j0 < 8 ? Wo - j0 : 8;
      /* Lanes l < n of a mask: l < n, as a sign bit per lane. */
#define LT(n) _mm256_cmpgt_epi32 (_mm256_set1_epi32 (n), lane)
      const __m256i m = LT (nv);
      __m256 acc = vb;
      for (int ki = 0; ki < 3; ki++) {
        const int r = i * s + ki - 1;
        const float *xr;
        __m256 L, C, R;
        if (r < 0 || r >= H)
          continue;
        xr = x + (size_t) r * W;
        if (s == 1) {
          const __m256i ml = j0 ? m : _mm256_andnot_si256 (_mm256_cmpeq_epi32 (lane,
              _mm256_setzero_si256 ()), m);
          L = _mm256_maskload_ps (xr + j0 - 1, ml);
          C = _mm256_maskload_ps (xr + j0, m);
          R = _mm256_maskload_ps (xr + j0 + 1, LT (W - j0 - 1));
        } else {
          const int c0 = 2 * j0;
          const __m256 lo = _mm256_maskload_ps (xr + c0, LT (W - c0));
          const __m256 hi = _mm256_maskload_ps (xr + c0 + 8, LT (W - c0 - 8));
          const __m256 before = _mm256_set1_ps (j0 ? xr[c0 - 1] : 0.0f);
          C = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (
              _mm256_shuffle_ps (lo, hi, _MM_SHUFFLE (2, 0, 2, 0))), _MM_SHUFFLE (3, 1, 2, 0)));
          R = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (
              _mm256_shuffle_ps (lo, hi, _MM_SHUFFLE (3, 1, 3, 1))), _MM_SHUFFLE (3, 1, 2, 0)));
          L = _mm256_blend_ps (_mm256_permutevar8x32_ps (R, up), before, 1);
        }
#undef LT
        acc = _mm256_fmadd_ps (_mm256_set1_ps (w[3 * ki]), L, acc);
        acc = _mm256_fmadd_ps (_mm256_set1_ps (w[3 * ki + 1]), C, acc);
        acc = _mm256_fmadd_ps (_mm256_set1_ps (w[3 * ki + 2]), R, acc);
      }
      _mm256_maskstore_ps (yr + j0, m, relu ? _mm256_max_ps (acc, zero) : acc);
    }
  }
}

#else /* !CLAR_HAVE_X86_KERNELS: never active, see detect () */

void
clar_dw3x3_plane_avx2 (const float *x, int H, int W, const float *w, float bias, int s,
                       int relu, float *y, int Ho, int Wo)
{
  clar_dw3x3_plane_avx512 (x, H, W, w, bias, s, relu, y, Ho, Wo);
}

void
clar_dw3x3_plane_avx512 (const float *x, int H, int W, const float *w, float bias, int s,
                         int relu, float *y, int Ho, int Wo)
{
  (void) x; (void) H; (void) W; (void) w; (void) bias; (void) s; (void) relu; (void) y;
  (void) Ho; (void) Wo;
  abort ();
}

#endif /* CLAR_HAVE_X86_KERNELS */

void
clar_conv2d_direct (clar_kernel_kind kind, const float *x, int B, int C, int H, int W,
                    const float *w, const float *b, int O, int k, int pad,
                    int relu, int pool2, float *y, float *scratch)
{
#ifdef CLAR_HAVE_X86_KERNELS
  const int nr = kind == CLAR_KERNEL_AVX512 ? NR512 : NR256;
  const int mr = kind == CLAR_KERNEL_AVX512 ? MR512 : MR256;
  direct_plan p;
  float *xp, *ye;
  int *off, in_place = 0;
  size_t ldy, nend;

  plan_of (&p, B, C, H, W, O, k, pad, nr);
  xp = scratch;
  ye = scratch + p.xsize;
  off = (int *) (ye + p.ysize);
  if (B == 1 && k == 1 && pad == 0) {
    /* A 1x1 convolution (the pointwise layers of depthwise-separable
     * encoders): the input is its own padded copy and, unpooled, the output
     * is written in place, rows of N positions; the last tile of each row
     * of tiles loads and stores only the positions below N (masked), so
     * planes such as 8 x 13 or 4 x 7 need no copy of either. */
    in_place = 1;
    xp = (float *) x;
    if (!pool2)
      ye = y;
    ldy = pool2 ? p.Np : p.N;
  } else {
    /* Zero-padded copy of the input, the samples of a batch side by side
     * in each row (C x Hp x B*Wp): an output column of sample b reads only
     * sample b's padded columns, so each output is the same sum, in the
     * same order, as at batch 1, and no work is added (the Wp - Wo columns
     * computed and dropped per row are those of batch 1). */
    ldy = p.Np;
    memset (xp, 0, p.xsize * sizeof (float));
    for (int n = 0; n < B; n++)
      for (int c = 0; c < C; c++)
        for (int i = 0; i < H; i++)
          memcpy (xp + ((size_t) c * p.Hp + i + pad) * p.L + (size_t) n * p.Wp + pad,
              x + (((size_t) n * C + c) * H + i) * W, (size_t) W * sizeof (float));
  }
  for (int c = 0, q = 0; c < C; c++)
    for (int ki = 0; ki < k; ki++)
      for (int kj = 0; kj < k; kj++)
        off[q++] = (int) (((size_t) c * p.Hp + ki) * p.L + kj);
  /* Tiles of nr positions, all output channels each, so that the input rows
   * a tile reads stay in L1 across the channel blocks. In place, only the N
   * real positions are computed (the last tile masked); otherwise all Np. */
  nend = in_place ? p.N : p.Np;
  if (kind == CLAR_KERNEL_AVX512) {
    for (size_t n0 = 0; n0 < nend;) {
      const size_t left = nend - n0;
      size_t nv = (left + 15) / 16 < NV512 ? (left + 15) / 16 : NV512;
      const int partial = left < 16 * nv;
      /* Lanes of the last vector in use (a partial tile has 1 to 15). */
      const __mmask16 tail = partial ? (__mmask16) ((1u << (left - 16 * (nv - 1))) - 1u)
          : (__mmask16) 0xFFFF;
      for (int o0 = 0; o0 < O; o0 += mr) {
        int m = O - o0 < mr ? O - o0 : mr;
        const float *wo = w + (size_t) o0 * p.K, *bo = b ? b + o0 : NULL;
        float *yo = ye + (size_t) o0 * ldy + n0;
        if (partial) {
          if (nv == 3)
            tile_avx512_tail_3 (xp + n0, off, p.K, wo, m, bo, relu, yo, ldy, tail);
          else if (nv == 2)
            tile_avx512_tail_2 (xp + n0, off, p.K, wo, m, bo, relu, yo, ldy, tail);
          else
            tile_avx512_tail_1 (xp + n0, off, p.K, wo, m, bo, relu, yo, ldy, tail);
        } else if (nv == 3)
          tile_avx512_3 (xp + n0, off, p.K, wo, m, bo, relu, yo, ldy, tail);
        else if (nv == 2)
          tile_avx512_2 (xp + n0, off, p.K, wo, m, bo, relu, yo, ldy, tail);
        else
          tile_avx512_1 (xp + n0, off, p.K, wo, m, bo, relu, yo, ldy, tail);
      }
      n0 += 16 * nv;
    }
  } else {
    for (size_t n0 = 0; n0 < nend; n0 += (size_t) nr)
      for (int o0 = 0; o0 < O; o0 += mr) {
        int m = O - o0 < mr ? O - o0 : mr;
        const float *wo = w + (size_t) o0 * p.K, *bo = b ? b + o0 : NULL;
        float *yo = ye + (size_t) o0 * ldy + n0;
        const int left = nend - n0 < (size_t) nr ? (int) (nend - n0) : nr;
        if (left < nr && left > 16)
          tile_avx2_tail_3 (xp + n0, off, p.K, wo, m, bo, relu, yo, ldy, left);
        else if (left < nr && left > 8)
          tile_avx2_tail_2 (xp + n0, off, p.K, wo, m, bo, relu, yo, ldy, left);
        else if (left < nr)
          tile_avx2_tail_1 (xp + n0, off, p.K, wo, m, bo, relu, yo, ldy, left);
        else
          tile_avx2 (xp + n0, off, p.K, wo, m, bo, relu, yo, ldy, nr);
      }
  }
  if (pool2) {
    /* 2x2 max pooling straight from the extended output (floor mode, the
     * comparisons of clar_maxpool2x2, so the result is the same). */
    const int Hq = p.Ho / 2, Wq = p.Wo / 2;
    for (int n = 0; n < B; n++)
      for (int o = 0; o < O; o++)
        for (int i = 0; i < Hq; i++) {
          const float *r0 = ye + (size_t) o * p.Np + (size_t) (2 * i) * p.L + (size_t) n * p.Wp;
          const float *r1 = r0 + p.L;
          float *dst = y + (((size_t) n * O + o) * Hq + i) * Wq;
          for (int j = 0; j < Wq; j++) {
            float a = r0[2 * j] > r0[2 * j + 1] ? r0[2 * j] : r0[2 * j + 1];
            float c = r1[2 * j] > r1[2 * j + 1] ? r1[2 * j] : r1[2 * j + 1];
            dst[j] = a > c ? a : c;
          }
        }
    return;
  }
  if (in_place)
    return;
  /* Drop the Wp - Wo columns that straddle the padding. */
  for (int n = 0; n < B; n++)
    for (int o = 0; o < O; o++)
      for (int i = 0; i < p.Ho; i++)
        memcpy (y + (((size_t) n * O + o) * p.Ho + i) * p.Wo,
            ye + (size_t) o * p.Np + (size_t) i * p.L + (size_t) n * p.Wp,
            (size_t) p.Wo * sizeof (float));
#else
  (void) kind; (void) x; (void) B; (void) C; (void) H; (void) W; (void) w; (void) b; (void) O;
  (void) k; (void) pad; (void) relu; (void) pool2; (void) y; (void) scratch;
  abort ();
#endif
}
