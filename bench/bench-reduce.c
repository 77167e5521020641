/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The trainer's batch-norm reductions (src/train/reduce.h) against the
 * four-accumulator scalar loops they replaced (kept below as the
 * reference), in one run, so the ratio is what to read on a shared machine.
 * Each figure is the smallest thread CPU time of R repeats over a buffer of
 * N floats (N = 1M: in the last-level cache; 16M: in memory), in
 * nanoseconds per float.
 *
 *   bench-reduce [REPEATS]
 *
 * Prints "op N old_ns new_ns speedup" per operation. */
#include <stdio.h>
#include <stdlib.h>

#include "bench-util.h"
#include "reduce.h"

/* The former loops of backward.c. */
static double
old_sum (const float *x, size_t n)
{
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 += x[i];
    a1 += x[i + 1];
    a2 += x[i + 2];
    a3 += x[i + 3];
  }
  for (; i < n; i++)
    a0 += x[i];
  return (a0 + a1) + (a2 + a3);
}

static double
old_dot (const float *x, const float *y, size_t n)
{
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 += (double) x[i] * y[i];
    a1 += (double) x[i + 1] * y[i + 1];
    a2 += (double) x[i + 2] * y[i + 2];
    a3 += (double) x[i + 3] * y[i + 3];
  }
  for (; i < n; i++)
    a0 += (double) x[i] * y[i];
  return (a0 + a1) + (a2 + a3);
}

static double
old_sumsq_dev (const float *x, size_t n, double m)
{
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    double d0 = x[i] - m, d1 = x[i + 1] - m, d2 = x[i + 2] - m, d3 = x[i + 3] - m;
    a0 += d0 * d0;
    a1 += d1 * d1;
    a2 += d2 * d2;
    a3 += d3 * d3;
  }
  for (; i < n; i++)
    a0 += (x[i] - m) * (x[i] - m);
  return (a0 + a1) + (a2 + a3);
}

static volatile double sink;

/* op 0: sum; 1: sum of squared deviations; 2: sum and dot (batch-norm
 * backward: two passes before, one fused pass now). */
static double
run (int op, int use_new, const float *x, const float *y, size_t n, int reps)
{
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = bench_thread_cpu (), a = 0, b = 0;
    if (op == 0)
      a = use_new ? clar_sum_f64 (x, n) : old_sum (x, n);
    else if (op == 1)
      a = use_new ? clar_sumsq_dev_f64 (x, n, 0.25) : old_sumsq_dev (x, n, 0.25);
    else if (use_new)
      clar_sum_dot_f64 (x, y, n, &a, &b);
    else {
      a = old_sum (x, n);
      b = old_dot (x, y, n);
    }
    double t = bench_thread_cpu () - t0;
    sink = a + b;
    if (t < best)
      best = t;
  }
  return best * 1e9 / (double) n;
}

int
main (int argc, char **argv)
{
  int reps = argc > 1 ? atoi (argv[1]) : 20;
  if (reps < 1)
    reps = 1;
  static const char *names[] = { "sum", "sumsq_dev", "sum+dot" };
  size_t sizes[] = { (size_t) 1 << 20, (size_t) 1 << 24 };
  printf ("op\tfloats\told_ns\tnew_ns\tspeedup\n");
  for (int s = 0; s < 2; s++) {
    size_t n = sizes[s];
    float *x = malloc (n * sizeof (float)), *y = malloc (n * sizeof (float));
    if (!x || !y)
      return 1;
    for (size_t i = 0; i < n; i++) {
      x[i] = (float) ((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
      y[i] = (float) ((i * 40503u) % 997) * 1e-3f - 0.5f;
    }
    for (int op = 0; op < 3; op++) {
      double o = run (op, 0, x, y, n, reps), w = run (op, 1, x, y, n, reps);
      printf ("%s\t%zu\t%.3f\t%.3f\t%.2f\n", names[op], n, o, w, o / w);
    }
    free (x);
    free (y);
  }
  return 0;
}
