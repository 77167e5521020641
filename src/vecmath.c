/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Element-wise helpers written so that GCC and Clang vectorise them: no
 * branches in the loop bodies, integer bit tests instead of isfinite(). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "vecmath.h"

static inline uint32_t
f2u (float f)
{
  uint32_t u;
  memcpy (&u, &f, sizeof u);
  return u;
}

static inline float
u2f (uint32_t u)
{
  float f;
  memcpy (&f, &u, sizeof f);
  return f;
}

CLAR_VEC_CLONES int
clar_all_finite (const float *x, size_t n)
{
  /* A float is NaN or Inf exactly when its 8 exponent bits are all ones
   * (IEEE 754-2008, 3.4). Counting them with integer ops vectorises; an
   * early exit would not, and the common case is "all finite". */
  uint32_t bad = 0;
  for (size_t i = 0; i < n; i++)
    bad |= (uint32_t) ((f2u (x[i]) & 0x7f800000u) == 0x7f800000u);
  return bad == 0;
}

/* ln(y) for normal y > 0: y = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * ln y = e ln2 + ln(1 + f), f = m - 1, and ln(1 + f) from the minimax
 * polynomial of Cephes' logf.c (S. L. Moshier, Cephes Math Library 2.2,
 * 1992; relative error 7.6e-8 on that interval). ln2 is split into
 * 0.693359375 + -2.12194440e-4 so e * ln2 adds no rounding error.
 *
 * m and e come from integer operations on the bits only (the reduction of
 * ARM's optimized-routines logf, with the offset at sqrt(1/2) = 0x3f3504f3
 * instead of 0x3f330000): t = bits(y) - bits(sqrt(1/2)); e = t >> 23 as a
 * signed 9-bit field; m = bits(sqrt(1/2)) + (t & 0x7fffff), which lies in
 * [sqrt(1/2), sqrt(2)). A float compare and select here kept GCC 12 from
 * vectorising the loop for AVX2 ("control flow in loop"): one value per
 * instruction instead of eight. f = m - 1 is exact (Sterbenz). */
static inline float
log_normal (float y)
{
  const uint32_t sqrt_half = 0x3f3504f3u;
  uint32_t t = f2u (y) - sqrt_half;
  int e = (int) ((t >> 23) ^ 0x100u) - 0x100;       /* sign-extend 9 bits */
  float x = u2f (sqrt_half + (t & 0x007fffffu)) - 1.0f;
  float z, r, ef;
  ef = (float) e;
  z = x * x;
  r = 7.0376836292e-2f;
  r = r * x - 1.1514610310e-1f;
  r = r * x + 1.1676998740e-1f;
  r = r * x - 1.2420140846e-1f;
  r = r * x + 1.4249322787e-1f;
  r = r * x - 1.6668057665e-1f;
  r = r * x + 2.0000714765e-1f;
  r = r * x - 2.4999993993e-1f;
  r = r * x + 3.3333331174e-1f;
  r = r * x * z;
  r += -2.12194440e-4f * ef;
  r += -0.5f * z;
  return x + r + 0.693359375f * ef;
}

CLAR_VEC_CLONES void
clar_log_offset (float *x, size_t n, float offset)
{
  /* The polynomial path needs y = x + offset to be a normal float: true for
   * x >= 0 when offset >= FLT_MIN and the sum stays finite. */
  uint32_t odd = 0;
  if (!(offset >= FLT_MIN) || !(offset <= FLT_MAX)) {
    for (size_t i = 0; i < n; i++)
      x[i] = logf (x[i] + offset);
    return;
  }
  /* y is a positive normal float exactly when its bits lie in
   * [bits(FLT_MIN), bits(FLT_MAX)]; one unsigned compare on the bits tests
   * that (NaN and negatives fall outside) and vectorises, where a chain of
   * float compares joined by && did not. */
  for (size_t i = 0; i < n; i++) {
    float y = x[i] + offset;
    odd |= (uint32_t) (f2u (y) - 0x00800000u > 0x7f7fffffu - 0x00800000u);
  }
  if (odd) {
    for (size_t i = 0; i < n; i++)
      x[i] = logf (x[i] + offset);
    return;
  }
  for (size_t i = 0; i < n; i++)
    x[i] = log_normal (x[i] + offset);
}

CLAR_VEC_CLONES void
clar_window_frame (double *restrict out, const float *restrict x,
                   const double *restrict w, size_t n)
{
  for (size_t i = 0; i < n; i++)
    out[i] = (double) x[i] * w[i];
}

CLAR_VEC_CLONES void
clar_power_column (const double *restrict spec, size_t K, float *restrict pw,
                   size_t T, size_t t)
{
  for (size_t k = 0; k < K; k++)
    pw[k * T + t] = (float) (spec[2 * k] * spec[2 * k] + spec[2 * k + 1] * spec[2 * k + 1]);
}

CLAR_VEC_CLONES void
clar_banded_matmul (const float *restrict fb, const int *lo, const int *hi,
                    size_t n_bands, size_t K, const float *restrict pw,
                    size_t T, float *restrict out)
{
  /* Row b of out accumulates rows k of pw: the inner loop runs along time,
   * contiguous in both, and vectorises whatever the band's width. */
  for (size_t b = 0; b < n_bands; b++) {
    float *restrict o = out + b * T;
    for (size_t t = 0; t < T; t++)
      o[t] = 0.0f;
    for (int k = lo[b]; k < hi[b]; k++) {
      const float w = fb[b * K + (size_t) k];
      const float *restrict row = pw + (size_t) k * T;
      for (size_t t = 0; t < T; t++)
        o[t] += w * row[t];
    }
  }
}

CLAR_VEC_CLONES void
clar_relu_inplace (float *x, size_t n)
{
  /* x > 0 ? x : 0 keeps NaN as 0 in C; (x < 0) ? 0 : x keeps NaN, which
   * the session's finiteness check then reports. */
  for (size_t i = 0; i < n; i++)
    x[i] = x[i] < 0.0f ? 0.0f : x[i];
}

CLAR_VEC_CLONES void
clar_maxpool2x2 (const float *restrict x, size_t planes, size_t H, size_t W,
                 float *restrict y)
{
  /* Floor mode (as torch.nn.MaxPool2d): a trailing odd row/column is
   * dropped. The ternaries keep NaN the way torch does only in part (torch
   * propagates NaN); the session rejects non-finite input beforehand and
   * checks its output, so NaN never reaches a user unreported. */
  const size_t Ho = H / 2, Wo = W / 2;
  for (size_t p = 0; p < planes; p++) {
    const float *xp = x + p * H * W;
    float *yp = y + p * Ho * Wo;
    for (size_t i = 0; i < Ho; i++) {
      const float *r0 = xp + 2 * i * W, *r1 = r0 + W;
      float *o = yp + i * Wo;
      for (size_t j = 0; j < Wo; j++) {
        float a = r0[2 * j] > r0[2 * j + 1] ? r0[2 * j] : r0[2 * j + 1];
        float b = r1[2 * j] > r1[2 * j + 1] ? r1[2 * j] : r1[2 * j + 1];
        o[j] = a > b ? a : b;
      }
    }
  }
}
