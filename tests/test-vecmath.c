/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vectorised kernels (src/vecmath.c) against plain scalar definitions:
 * the polynomial log against double-precision log, the banded filterbank
 * product against a dense one, 2x2 max pooling against the general pool. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "clar-test.h"
#include "layers.h"
#include "vecmath.h"

static unsigned rng_state = 12345u;
static float
frand (void)
{
  rng_state = rng_state * 1664525u + 1013904223u;
  return (float) ((rng_state >> 8) * (1.0 / 16777216.0));
}

static void
test_log_offset (void)
{
  /* Log-spaced values over the whole range a power spectrum spans, plus
   * zeros, exact powers of two and the sqrt(1/2) mantissa boundary. */
  enum { N = 200000 };
  static float x[N], ref[N];
  double worst = 0.0;
  const float offset = 1e-6f;
  for (int i = 0; i < N; i++) {
    float v;
    if (i % 1000 == 0)
      v = 0.0f;
    else if (i % 1000 == 1)
      v = ldexpf (1.0f, (i / 1000) % 100 - 40);
    else if (i % 1000 == 2)
      v = 0.70710678f * ldexpf (1.0f, (i / 1000) % 60 - 30);
    else
      v = expf (-30.0f + 50.0f * frand ());
    x[i] = v;
    ref[i] = v;
  }
  clar_log_offset (x, N, offset);
  for (int i = 0; i < N; i++) {
    double exact = log ((double) ref[i] + (double) offset);
    double err = fabs (x[i] - exact) / (2e-7 + 1.2e-7 * fabs (exact));
    if (err > worst)
      worst = err;
  }
  CHECK_MSG (worst <= 1.0, "log error %.3g of the bound", worst);

  /* Offsets too small for the fast path, and negative input, fall back. */
  x[0] = 0.0f; x[1] = -0.5f; x[2] = 1.0f;
  clar_log_offset (x, 3, 1e-45f);
  CHECK_CLOSE (x[0], logf (1e-45f), 1e-5);
  CHECK (isnan (x[1]));
  CHECK_CLOSE (x[2], 0.0, 1e-7);
  x[0] = -2.0f; x[1] = 3.0f;
  clar_log_offset (x, 2, 1.0f);
  CHECK (isnan (x[0]));
  CHECK_CLOSE (x[1], log (4.0), 1e-6);
}

static void
test_all_finite (void)
{
  float x[37];
  for (int i = 0; i < 37; i++)
    x[i] = frand () * 2e38f - 1e38f;
  x[5] = FLT_MAX;
  x[6] = -FLT_MAX;
  x[7] = FLT_MIN / 4;   /* subnormal: finite */
  CHECK (clar_all_finite (x, 37));
  CHECK (clar_all_finite (x, 0));
  for (int pos = 0; pos < 37; pos++) {
    float keep = x[pos];
    x[pos] = INFINITY;
    CHECK (!clar_all_finite (x, 37));
    x[pos] = -INFINITY;
    CHECK (!clar_all_finite (x, 37));
    x[pos] = NAN;
    CHECK (!clar_all_finite (x, 37));
    CHECK (clar_all_finite (x, (size_t) pos));   /* the bad value is past n */
    x[pos] = keep;
  }
}

static void
test_banded_matmul (void)
{
  enum { B = 7, K = 29, T = 13 };
  float fb[B * K], pw[K * T], out[B * T];
  int lo[B], hi[B];
  for (int b = 0; b < B; b++) {
    lo[b] = b == 3 ? 0 : b * 3;
    hi[b] = b == 3 ? 0 : b * 3 + 1 + b;   /* band 3 is empty */
    if (hi[b] > K)
      hi[b] = K;
    for (int k = 0; k < K; k++)
      fb[b * K + k] = (k >= lo[b] && k < hi[b]) ? frand () : 0.0f;
  }
  for (int i = 0; i < K * T; i++)
    pw[i] = frand () * 10.0f;
  clar_banded_matmul (fb, lo, hi, B, K, pw, T, out);
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      double s = 0.0;
      for (int k = 0; k < K; k++)
        s += (double) fb[b * K + k] * pw[k * T + t];
      CHECK_CLOSE (out[b * T + t], s, 1e-5 * (1.0 + fabs (s)));
    }
}

static void
test_maxpool (void)
{
  /* Odd sizes exercise floor mode. */
  enum { P = 3, H = 7, W = 9 };
  float x[P * H * W], fast[P * (H / 2) * (W / 2)], ref[P * (H / 2) * (W / 2)];
  int32_t am[P * (H / 2) * (W / 2)];
  for (int i = 0; i < P * H * W; i++)
    x[i] = frand () - 0.5f;
  clar_maxpool2d_forward (x, 1, P, H, W, 2, fast, NULL);
  clar_maxpool2d_forward (x, 1, P, H, W, 2, ref, am);   /* general path */
  CHECK (memcmp (fast, ref, sizeof fast) == 0);
  for (int i = 0; i < P * (H / 2) * (W / 2); i++)
    CHECK (ref[i] == x[(i / ((H / 2) * (W / 2))) * H * W + am[i]]);
}

static void
test_relu (void)
{
  float x[19];
  for (int i = 0; i < 19; i++)
    x[i] = (float) i - 9.5f;
  x[3] = NAN;
  clar_relu_inplace (x, 19);
  for (int i = 0; i < 19; i++)
    if (i == 3)
      CHECK (isnan (x[i]));   /* NaN is not hidden as 0 */
    else
      CHECK (x[i] == ((float) i - 9.5f > 0 ? (float) i - 9.5f : 0.0f));
}

int
main (void)
{
  CLAR_TEST_RUN (test_log_offset);
  CLAR_TEST_RUN (test_all_finite);
  CLAR_TEST_RUN (test_banded_matmul);
  CLAR_TEST_RUN (test_maxpool);
  CLAR_TEST_RUN (test_relu);
  CLAR_TEST_EXIT ();
}
