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

/* The micro-kernel, one macro for both ISAs (BITS 512: AVX-512F, 16
 * floats a vector, MR = MR512; BITS 256: AVX2 + FMA, 8 floats, MR256):
 * y[r][0 .. NV*LANES) = bias[r] + sum_q w[r][q] * x[off[q] + 0 .. NV*LANES)
 * for the rows r < mr (rows mr .. MR-1 repeat row mr-1 and are not
 * stored). One function per NV: full tiles of NV512 (NV256) vectors, the
 * tail of a row of tiles with fewer, so that the extended output is only
 * rounded up to one vector.
 *
 * The _tail_ variants (MASKED 1) are the last, partial tile of a 1x1
 * convolution read and written in place: only its first n positions are
 * loaded and stored, with masked loads (which fault on no lane left out)
 * and masked stores, so that the layer's input needs no padded copy and
 * its output no compaction; NV = ceil (n / LANES), so a tail of 4 costs one
 * vector's products. Each output is the same sum, in the same order,
 * either way. MASKED is a constant: the full tiles have no mask in their
 * loop, and ignore n. */
#define DEFINE_TILE(BITS, TARGET, MASK_T, MR, LANES, NV, NAME, MASKED)        \
__attribute__((target (TARGET)))                                              \
static void                                                                   \
NAME (const float *x, const int *off, int K, const float *w, int mr,          \
      const float *bias, int relu, float *y, size_t ldy, int n)               \
{                                                                             \
  __m##BITS acc[MR][NV];                                                      \
  MASK_T msk[NV];                                                             \
  const float *wr[MR];                                                        \
  _Pragma ("GCC unroll 4")                                                    \
  for (int v = 0; v < NV; v++)                                                \
    msk[v] = MASKED ? LANES_BELOW_##BITS (n - LANES * v) : (MASK_T) { 0 };    \
  _Pragma ("GCC unroll 8")                                                    \
  for (int r = 0; r < MR; r++) {                                              \
    int rr = r < mr ? r : mr - 1;                                             \
    __m##BITS b0 = bias ? _mm##BITS##_set1_ps (bias[rr]) : _mm##BITS##_setzero_ps (); \
    wr[r] = w + (size_t) rr * K;                                              \
    _Pragma ("GCC unroll 4")                                                  \
    for (int v = 0; v < NV; v++)                                              \
      acc[r][v] = b0;                                                         \
  }                                                                           \
  for (int q = 0; q < K; q++) {                                               \
    const float *xq = x + off[q];                                             \
    __m##BITS b[NV];                                                          \
    _Pragma ("GCC unroll 4")                                                  \
    for (int v = 0; v < NV; v++)                                              \
      b[v] = MASKED ? MASKED_LOAD_##BITS (xq + LANES * v, msk[v])             \
          : _mm##BITS##_loadu_ps (xq + LANES * v);                            \
    _Pragma ("GCC unroll 8")                                                  \
    for (int r = 0; r < MR; r++) {                                            \
      __m##BITS a = _mm##BITS##_set1_ps (wr[r][q]);                           \
      _Pragma ("GCC unroll 4")                                                \
      for (int v = 0; v < NV; v++)                                            \
        acc[r][v] = _mm##BITS##_fmadd_ps (a, b[v], acc[r][v]);                \
    }                                                                         \
  }                                                                           \
  _Pragma ("GCC unroll 8")                                                    \
  for (int r = 0; r < MR; r++) {                                              \
    if (r >= mr)                                                              \
      break;                                                                  \
    _Pragma ("GCC unroll 4")                                                  \
    for (int v = 0; v < NV; v++) {                                            \
      __m##BITS o = relu ? _mm##BITS##_max_ps (acc[r][v], _mm##BITS##_setzero_ps ()) \
          : acc[r][v];                                                        \
      if (MASKED)                                                             \
        MASKED_STORE_##BITS (y + (size_t) r * ldy + LANES * v, msk[v], o);    \
      else                                                                    \
        _mm##BITS##_storeu_ps (y + (size_t) r * ldy + LANES * v, o);          \
    }                                                                         \
  }                                                                           \
}

/* Per ISA: the mask of the lanes l < n (n may be <= 0 or > the lane count),
 * masked load (masked-off lanes read as 0) and masked store. */
#define LANES_BELOW_512(n) \
  ((n) >= 16 ? (__mmask16) 0xFFFF : (n) <= 0 ? (__mmask16) 0 : (__mmask16) ((1u << (n)) - 1u))
#define MASKED_LOAD_512(p, m) _mm512_maskz_loadu_ps ((m), (p))
#define MASKED_STORE_512(p, m, o) _mm512_mask_storeu_ps ((p), (m), (o))
#define LANES_BELOW_256(n) \
  _mm256_cmpgt_epi32 (_mm256_set1_epi32 (n), _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7))
#define MASKED_LOAD_256(p, m) _mm256_maskload_ps ((p), (m))
#define MASKED_STORE_256(p, m, o) _mm256_maskstore_ps ((p), (m), (o))

#define TILE_512(NV, NAME, MASKED) DEFINE_TILE (512, "avx512f", __mmask16, MR512, 16, NV, NAME, MASKED)
#define TILE_256(NV, NAME, MASKED) DEFINE_TILE (256, "avx2,fma", __m256i, MR256, 8, NV, NAME, MASKED)
TILE_512 (1, tile_avx512_1, 0)
TILE_512 (2, tile_avx512_2, 0)
TILE_512 (3, tile_avx512_3, 0)
TILE_512 (1, tile_avx512_tail_1, 1)
TILE_512 (2, tile_avx512_tail_2, 1)
TILE_512 (3, tile_avx512_tail_3, 1)
TILE_256 (1, tile_avx2_1, 0)
TILE_256 (2, tile_avx2_2, 0)
TILE_256 (3, tile_avx2_3, 0)
TILE_256 (1, tile_avx2_tail_1, 1)
TILE_256 (2, tile_avx2_tail_2, 1)
TILE_256 (3, tile_avx2_tail_3, 1)

typedef void (*tile_fn) (const float *x, const int *off, int K, const float *w, int mr,
                         const float *bias, int relu, float *y, size_t ldy, int n);
/* [masked][NV - 1] (NV512 = NV256 = 3). */
static const tile_fn tiles512[2][3] = {
  { tile_avx512_1, tile_avx512_2, tile_avx512_3 },
  { tile_avx512_tail_1, tile_avx512_tail_2, tile_avx512_tail_3 },
};
static const tile_fn tiles256[2][3] = {
  { tile_avx2_1, tile_avx2_2, tile_avx2_3 },
  { tile_avx2_tail_1, tile_avx2_tail_2, tile_avx2_tail_3 },
};

/* 3x3 depthwise convolution, zero padding 1, stride 1 or 2, one channel
 * plane: each output row is computed LANES columns at a time in one
 * register from the three taps L, C, R (columns 2j-1, 2j, 2j+1 at stride
 * 2; j-1, j, j+1 at stride 1) of each input row it reads. Taps outside the
 * row are masked-off lanes, never read (masked loads do not fault on them)
 * and loaded as zeros, which is the padding; rows outside the plane are
 * skipped. Each output is b + the nine taps in the order of dw_plane
 * (layers-ds.c), row by row, left to right; the plane is walked one chunk
 * of LANES columns at a time, all its rows, so that the chunk's masks are
 * computed once for the plane. Rows of 7 or 13 columns are one
 * masked vector, where the plain C code had scalar edges and per-row
 * overhead. ReLU, if relu is set, is applied before the store. (Computing
 * four output rows together, each input row loaded once for all of them,
 * measured slower on the Intel Xeon model 207: 0.0375 against 0.031 ms on
 * the dsres b2d layer.) */
#define DEFINE_DW3(BITS, TARGET, MASK_T, LANES, NAME)                         \
__attribute__((target (TARGET)))                                              \
static void                                                                   \
NAME (const float *x, int H, int W, const float *w, float bias, int s,        \
      int relu, float *y, int Ho, int Wo)                                     \
{                                                                             \
  const __m##BITS vb = _mm##BITS##_set1_ps (bias), zero = _mm##BITS##_setzero_ps (); \
  for (int j0 = 0; j0 < Wo; j0 += LANES) {                                    \
    MASK_T mk[3];                 /* the chunk's masks: the same for each row */ \
    dw3_masks_##BITS (W, Wo, j0, s, mk);                                      \
    for (int i = 0; i < Ho; i++) {                                            \
      __m##BITS acc = vb;                                                     \
      for (int ki = 0; ki < 3; ki++) {                                        \
        const int r = i * s + ki - 1;                                         \
        __m##BITS L, C, R;                                                    \
        if (r < 0 || r >= H)                                                  \
          continue;                                                           \
        dw3_taps_##BITS (x + (size_t) r * W, j0, s, mk, &L, &C, &R);          \
        acc = _mm##BITS##_fmadd_ps (_mm##BITS##_set1_ps (w[3 * ki]), L, acc); \
        acc = _mm##BITS##_fmadd_ps (_mm##BITS##_set1_ps (w[3 * ki + 1]), C, acc); \
        acc = _mm##BITS##_fmadd_ps (_mm##BITS##_set1_ps (w[3 * ki + 2]), R, acc); \
      }                                                                       \
      MASKED_STORE_##BITS (y + (size_t) i * Wo + j0, mk[s == 1 ? 1 : 2],      \
          relu ? _mm##BITS##_max_ps (acc, zero) : acc);                       \
    }                                                                         \
  }                                                                           \
}

/* The masks of a chunk of output columns j0 .. j0 + LANES - 1, the same
 * for every row of the plane. Stride 1: mk[0], mk[1], mk[2] for the
 * loads at columns -1, 0, +1 (lanes inside [0, W), and of the chunk's
 * outputs for the first two); stride 2: mk[0], mk[1] for the two loads of
 * columns 2 j0 .. 2 j0 + 2 LANES - 1. mk[s == 1 ? 1 : 2] is the store's. */
__attribute__((target ("avx512f")))
static inline void
dw3_masks_512 (int W, int Wo, int j0, int s, __mmask16 mk[3])
{
  const __mmask16 m = LANES_BELOW_512 (Wo - j0);
  if (s == 1) {
    mk[0] = j0 ? m : (__mmask16) (m & ~1u);
    mk[1] = m;
    mk[2] = LANES_BELOW_512 (W - j0 - 1);
  } else {
    mk[0] = LANES_BELOW_512 (W - 2 * j0);
    mk[1] = LANES_BELOW_512 (W - 2 * j0 - 16);
    mk[2] = m;
  }
}

__attribute__((target ("avx2,fma")))
static inline void
dw3_masks_256 (int W, int Wo, int j0, int s, __m256i mk[3])
{
  const __m256i m = LANES_BELOW_256 (Wo - j0);
  if (s == 1) {
    mk[0] = j0 ? m : _mm256_andnot_si256 (_mm256_setr_epi32 (-1, 0, 0, 0, 0, 0, 0, 0), m);
    mk[1] = m;
    mk[2] = LANES_BELOW_256 (W - j0 - 1);
  } else {
    mk[0] = LANES_BELOW_256 (W - 2 * j0);
    mk[1] = LANES_BELOW_256 (W - 2 * j0 - 8);
    mk[2] = m;
  }
}

/* The taps of input row xr. AVX-512: at stride 2, columns 2 j0 .. 2 j0 +
 * 31 split into even (2j) and odd (2j + 1) with vpermt2ps; 2j - 1 is the
 * odd vector one lane later, lane 0 being column 2 j0 - 1 (padding when j0
 * is 0). */
__attribute__((target ("avx512f")))
static inline void
dw3_taps_512 (const float *xr, int j0, int s, const __mmask16 mk[3], __m512 *L, __m512 *C,
              __m512 *R)
{
  if (s == 1) {
    *L = MASKED_LOAD_512 (xr + j0 - 1, mk[0]);
    *C = MASKED_LOAD_512 (xr + j0, mk[1]);
    *R = MASKED_LOAD_512 (xr + j0 + 1, mk[2]);
  } else {
    const __m512i ev = _mm512_setr_epi32 (0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32 (1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i sh = _mm512_setr_epi32 (16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
    const int c0 = 2 * j0;
    const __m512 lo = MASKED_LOAD_512 (xr + c0, mk[0]);
    const __m512 hi = MASKED_LOAD_512 (xr + c0 + 16, mk[1]);
    *C = _mm512_permutex2var_ps (lo, ev, hi);
    *R = _mm512_permutex2var_ps (lo, od, hi);
    *L = _mm512_permutex2var_ps (*R, sh, _mm512_set1_ps (j0 ? xr[c0 - 1] : 0.0f));
  }
}

/* AVX2: at stride 2 the even and odd columns of two loads are split with
 * vshufps + vpermpd, and column 2j-1 is the odd vector moved one lane up
 * with column 2 j0 - 1 (or the padding) blended into lane 0. */
__attribute__((target ("avx2,fma")))
static inline void
dw3_taps_256 (const float *xr, int j0, int s, const __m256i mk[3], __m256 *L, __m256 *C,
              __m256 *R)
{
  if (s == 1) {
    *L = MASKED_LOAD_256 (xr + j0 - 1, mk[0]);
    *C = MASKED_LOAD_256 (xr + j0, mk[1]);
    *R = MASKED_LOAD_256 (xr + j0 + 1, mk[2]);
  } else {
    const __m256i up = _mm256_setr_epi32 (0, 0, 1, 2, 3, 4, 5, 6);
    const int c0 = 2 * j0;
    const __m256 lo = MASKED_LOAD_256 (xr + c0, mk[0]);
    const __m256 hi = MASKED_LOAD_256 (xr + c0 + 8, mk[1]);
    *C = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (
        _mm256_shuffle_ps (lo, hi, _MM_SHUFFLE (2, 0, 2, 0))), _MM_SHUFFLE (3, 1, 2, 0)));
    *R = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (
        _mm256_shuffle_ps (lo, hi, _MM_SHUFFLE (3, 1, 3, 1))), _MM_SHUFFLE (3, 1, 2, 0)));
    *L = _mm256_blend_ps (_mm256_permutevar8x32_ps (*R, up),
        _mm256_set1_ps (j0 ? xr[c0 - 1] : 0.0f), 1);
  }
}

DEFINE_DW3 (512, "avx512f", __mmask16, 16, dw3x3_plane_avx512)
DEFINE_DW3 (256, "avx2,fma", __m256i, 8, dw3x3_plane_avx2)

#endif /* CLAR_HAVE_X86_KERNELS */

clar_dw3x3_plane_fn
clar_dw3x3_plane_kernel (clar_kernel_kind k)
{
#ifdef CLAR_HAVE_X86_KERNELS
  if (k == CLAR_KERNEL_AVX512)
    return dw3x3_plane_avx512;
  if (k == CLAR_KERNEL_AVX2)
    return dw3x3_plane_avx2;
#else
  (void) k;
#endif
  return NULL;
}

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
  /* Tiles of up to NV vectors of positions, all output channels each, so
   * that the input rows a tile reads stay in L1 across the channel blocks.
   * In place (1x1), only the N real positions are computed, the last tile
   * masked to those left; padded, all Np, a whole number of tiles (rounded
   * to NR512 or NR256), so no tile is partial. */
  nend = in_place ? p.N : p.Np;
  {
    const int avx512 = kind == CLAR_KERNEL_AVX512;
    const size_t lanes = avx512 ? 16 : 8, nvmax = avx512 ? NV512 : NV256;
    const tile_fn (*tiles)[3] = avx512 ? tiles512 : tiles256;
    for (size_t n0 = 0; n0 < nend;) {
      const size_t left = nend - n0;
      const size_t nv = (left + lanes - 1) / lanes < nvmax ? (left + lanes - 1) / lanes : nvmax;
      const int partial = left < lanes * nv;
      const tile_fn tile = tiles[partial][nv - 1];
      for (int o0 = 0; o0 < O; o0 += mr) {
        const int m = O - o0 < mr ? O - o0 : mr;
        tile (xp + n0, off, p.K, w + (size_t) o0 * p.K, m, b ? b + o0 : NULL, relu,
            ye + (size_t) o0 * ldy + n0, ldy, partial ? (int) left : 0);
      }
      n0 += lanes * nv;
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
