/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal: the float-to-double reductions of the trainer's batch-norm,
 * bias and normalisation adjoints (backward.c).
 *
 * Each sums in double over 16 interleaved lanes (lane j takes the elements
 * i with i mod 16 == j), then combines the lanes by a fixed halving tree.
 * The order is part of the contract: every build (SSE2, AVX2, AVX-512
 * clones; GCC vector extensions or the plain C fallback) gives bit-identical
 * results, so training stays reproducible across CPUs and thread counts.
 * The project builds C in ISO mode (c_std=c99), where GCC does not contract
 * a*b+c into an FMA, which would break that identity.
 *
 * Why 16 lanes: the four-accumulator scalar loops they replace converted
 * and added one float at a time and took about a quarter of a training
 * step (perf, default architecture, 64 views, AMD Zen 3); 16 lanes are four
 * AVX2 vectors of doubles, enough independent additions to hide their
 * latency.
 *
 * Thread safety: pure functions of their arguments.
 */
#ifndef CLAR_TRAIN_REDUCE_H
#define CLAR_TRAIN_REDUCE_H

#include <stddef.h>

#include "vecmath.h"

/* sum x[i] */
CLAR_VEC_HIDDEN double clar_sum_f64 (const float *x, size_t n);

/* sum (x[i] - m)^2, the second pass of a two-pass variance */
CLAR_VEC_HIDDEN double clar_sumsq_dev_f64 (const float *x, size_t n, double m);

/* sum x[i] * y[i] */
CLAR_VEC_HIDDEN double clar_dot_f64 (const float *x, const float *y, size_t n);

/* *sx = sum x[i] and *sxy = sum x[i] * y[i] in one pass over x: exactly
 * clar_sum_f64 (x, n) and clar_dot_f64 (x, y, n). */
CLAR_VEC_HIDDEN void clar_sum_dot_f64 (const float *x, const float *y, size_t n,
                                       double *sx, double *sxy);

#endif /* CLAR_TRAIN_REDUCE_H */
