/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The trainer's double reductions (src/train/reduce.h): the documented
 * 16-lane order reproduced bit for bit by a plain reference here, whatever
 * clone the CPU runs; accuracy against a compensated sum; the fused
 * sum-and-dot equal to the two separate calls; lengths 0..100 and odd
 * offsets; NaN and Inf propagate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reduce.h"

static int failures;

#define CHECK(cond, ...)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                  \
      fprintf (stderr, __VA_ARGS__);                                         \
      fputc ('\n', stderr);                                                  \
      failures++;                                                            \
    }                                                                        \
  } while (0)

/* The order reduce.h documents, written out independently. */
static double
ref_order (const float *x, const float *y, size_t n, double m, int kind)
{
  double l[16] = { 0 };
  for (size_t i = 0; i < n; i++) {
    double v = x[i];
    if (kind == 1)
      v = (v - m) * (v - m);
    else if (kind == 2)
      v = v * (double) y[i];
    l[i % 16] += v;
  }
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; j++)
      l[j] += l[j + w];
  return l[0];
}

/* Kahan-Babuska (Neumaier) compensated sum in long double: the accuracy
 * reference. */
static long double
ref_exact (const float *x, const float *y, size_t n, double m, int kind)
{
  long double s = 0, c = 0;
  for (size_t i = 0; i < n; i++) {
    long double v = x[i];
    if (kind == 1)
      v = (v - m) * (v - m);
    else if (kind == 2)
      v = v * y[i];
    long double t = s + v;
    if (fabsl (s) >= fabsl (v))
      c += (s - t) + v;
    else
      c += (v - t) + s;
    s = t;
  }
  return s + c;
}

static int
same_bits (double a, double b)
{
  return memcmp (&a, &b, sizeof a) == 0;
}

int
main (void)
{
  enum { MAX = 100000 };
  float *x = malloc ((MAX + 8) * sizeof (float));
  float *y = malloc ((MAX + 8) * sizeof (float));
  unsigned s = 12345;
  for (size_t i = 0; i < MAX + 8; i++) {
    s = s * 1664525u + 1013904223u;
    x[i] = (float) ((s >> 8) / 16777216.0 * 2.0 - 0.7) * 3.0f;
    s = s * 1664525u + 1013904223u;
    y[i] = (float) ((s >> 8) / 16777216.0 * 2.0 - 1.0);
  }

  /* Order and fusion, every short length and misaligned starts. */
  for (size_t off = 0; off < 5; off++)
    for (size_t n = 0; n <= 100; n++) {
      const float *xp = x + off, *yp = y + off;
      double m = 0.37;
      double a = clar_sum_f64 (xp, n), b = clar_sumsq_dev_f64 (xp, n, m);
      double c = clar_dot_f64 (xp, yp, n), fs, fd;
      clar_sum_dot_f64 (xp, yp, n, &fs, &fd);
      CHECK (same_bits (a, ref_order (xp, yp, n, m, 0)), "sum n=%zu off=%zu", n, off);
      CHECK (same_bits (b, ref_order (xp, yp, n, m, 1)), "sumsq n=%zu off=%zu", n, off);
      CHECK (same_bits (c, ref_order (xp, yp, n, m, 2)), "dot n=%zu off=%zu", n, off);
      CHECK (same_bits (fs, a) && same_bits (fd, c), "fused n=%zu off=%zu", n, off);
      if (n == 0)
        CHECK (a == 0 && b == 0 && c == 0 && fs == 0 && fd == 0, "empty sums not 0");
    }

  /* Accuracy on a long plane (a batch-norm channel is up to ~10^5). */
  {
    size_t n = MAX;
    double m = clar_sum_f64 (x, n) / n;
    long double es = ref_exact (x, y, n, m, 0), eq = ref_exact (x, y, n, m, 1);
    long double ed = ref_exact (x, y, n, m, 2);
    double rs = fabs ((double) (clar_sum_f64 (x, n) - es));
    double rq = fabs ((double) (clar_sumsq_dev_f64 (x, n, m) - eq)) / (double) eq;
    double rd = fabs ((double) (clar_dot_f64 (x, y, n) - ed));
    /* double sums of 1e5 floats of magnitude <= 4: error bound n*eps*sum|x|
     * is ~1e-6 absolute; the lanes do far better in practice. */
    CHECK (rs < 1e-8, "sum error %g", rs);
    CHECK (rq < 1e-13, "sumsq relative error %g", rq);
    CHECK (rd < 1e-8, "dot error %g", rd);
  }

  /* A NaN or Inf anywhere, in a lane or in the tail, reaches the result. */
  for (size_t pos = 0; pos < 37; pos += 12) {
    float keep = x[pos];
    x[pos] = NAN;
    CHECK (isnan (clar_sum_f64 (x, 37)), "NaN at %zu lost by sum", pos);
    CHECK (isnan (clar_dot_f64 (y, x, 37)), "NaN at %zu lost by dot", pos);
    x[pos] = INFINITY;
    CHECK (isinf (clar_sum_f64 (x, 37)), "Inf at %zu lost by sum", pos);
    x[pos] = keep;
  }

  free (x);
  free (y);
  if (failures)
    fprintf (stderr, "%d failures\n", failures);
  else
    printf ("test-reduce: all checks passed\n");
  return failures ? 1 : 0;
}
