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
 * 1 or 2, so that the extended output is only rounded up to 16 floats. */
#define DEFINE_TILE_AVX512(NV)                                                \
__attribute__((target ("avx512f")))                                           \
static void                                                                   \
tile_avx512_##NV (const float *x, const int *off, int K, const float *w, int mr, \
                  const float *bias, int relu, float *y, size_t ldy)          \
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
      b[v] = _mm512_loadu_ps (xq + 16 * v);                                   \
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
      _mm512_storeu_ps (y + (size_t) r * ldy + 16 * v, o);                    \
    }                                                                         \
  }                                                                           \
}
DEFINE_TILE_AVX512 (1)
DEFINE_TILE_AVX512 (2)
DEFINE_TILE_AVX512 (3)

__attribute__((target ("avx2,fma")))
static void
tile_avx2 (const float *x, const int *off, int K, const float *w, int mr,
           const float *bias, int relu, float *y, size_t ldy)
{
  __m256 acc[MR256][NV256];
  const float *wr[MR256];
#pragma GCC unroll 8
  for (int r = 0; r < MR256; r++) {
    int rr = r < mr ? r : mr - 1;
    __m256 b0 = bias ? _mm256_set1_ps (bias[rr]) : _mm256_setzero_ps ();
    wr[r] = w + (size_t) rr * K;
#pragma GCC unroll 8
    for (int v = 0; v < NV256; v++)
      acc[r][v] = b0;
  }
  for (int q = 0; q < K; q++) {
    const float *xq = x + off[q];
    __m256 b[NV256];
#pragma GCC unroll 8
    for (int v = 0; v < NV256; v++)
      b[v] = _mm256_loadu_ps (xq + 8 * v);
#pragma GCC unroll 8
    for (int r = 0; r < MR256; r++) {
      __m256 a = _mm256_broadcast_ss (wr[r] + q);
#pragma GCC unroll 8
      for (int v = 0; v < NV256; v++)
        acc[r][v] = _mm256_fmadd_ps (a, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR256; r++) {
    if (r >= mr)
      break;
#pragma GCC unroll 8
    for (int v = 0; v < NV256; v++) {
      __m256 o = relu ? _mm256_max_ps (acc[r][v], _mm256_setzero_ps ()) : acc[r][v];
      _mm256_storeu_ps (y + (size_t) r * ldy + 8 * v, o);
    }
  }
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
  int *off;

  plan_of (&p, B, C, H, W, O, k, pad, nr);
  xp = scratch;
  ye = scratch + p.xsize;
  off = (int *) (ye + p.ysize);
  if (B == 1 && k == 1 && pad == 0 && p.Np == p.N) {
    /* A 1x1 convolution over a whole number of tiles (the pointwise
     * layers of depthwise-separable encoders): the input is its own padded
     * copy (no tile reads past it), and the output rows need no compaction. */
    xp = (float *) x;
    if (!pool2)
      ye = y;
  } else {
    /* Zero-padded copy of the input, the samples of a batch side by side
     * in each row (C x Hp x B*Wp): an output column of sample b reads only
     * sample b's padded columns, so each output is the same sum, in the
     * same order, as at batch 1, and no work is added (the Wp - Wo columns
     * computed and dropped per row are those of batch 1). */
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
   * a tile reads stay in L1 across the channel blocks. */
  if (kind == CLAR_KERNEL_AVX512) {
    for (size_t n0 = 0; n0 < p.Np;) {
      size_t nv = (p.Np - n0) / 16 < NV512 ? (p.Np - n0) / 16 : NV512;
      for (int o0 = 0; o0 < O; o0 += mr) {
        int m = O - o0 < mr ? O - o0 : mr;
        const float *wo = w + (size_t) o0 * p.K, *bo = b ? b + o0 : NULL;
        float *yo = ye + (size_t) o0 * p.Np + n0;
        if (nv == 3)
          tile_avx512_3 (xp + n0, off, p.K, wo, m, bo, relu, yo, p.Np);
        else if (nv == 2)
          tile_avx512_2 (xp + n0, off, p.K, wo, m, bo, relu, yo, p.Np);
        else
          tile_avx512_1 (xp + n0, off, p.K, wo, m, bo, relu, yo, p.Np);
      }
      n0 += 16 * nv;
    }
  } else {
    for (size_t n0 = 0; n0 < p.Np; n0 += (size_t) nr)
      for (int o0 = 0; o0 < O; o0 += mr) {
        int m = O - o0 < mr ? O - o0 : mr;
        tile_avx2 (xp + n0, off, p.K, w + (size_t) o0 * p.K, m, b ? b + o0 : NULL, relu,
            ye + (size_t) o0 * p.Np + n0, p.Np);
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
  if (ye == y)
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
