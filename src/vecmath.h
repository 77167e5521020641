/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: branch-free element-wise kernels of the front end and the
 * encoder, written for the auto-vectoriser. On x86-64 with GCC or Clang each
 * is compiled three times (baseline SSE2, x86-64-v3 = AVX2+FMA, x86-64-v4 =
 * AVX-512) and the loader picks the best for the CPU (ifunc,
 * target_clones): one portable binary, no -march flag needed. With GCC
 * only (see below); other compilers build the baseline version. */
#ifndef CLAR_VECMATH_H
#define CLAR_VECMATH_H

#include <stddef.h>

/* GCC only: Clang 14 names the dispatcher "NAME.ifunc" and leaves callers in
 * other files (which see a plain declaration) unresolved. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 \
    && defined(__x86_64__) && defined(__linux__) && !defined(CLAR_NO_CLONES)
#define CLAR_VEC_CLONES __attribute__((target_clones ("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLAR_VEC_CLONES
#endif

/* Internal to libclar. GCC 12 exports a target_clones dispatcher whatever
 * -fvisibility says unless the declaration says otherwise; only its
 * "NAME.resolver" helper stays visible (a name C code cannot collide with). */
#if defined(__GNUC__)
#define CLAR_VEC_HIDDEN __attribute__((visibility ("hidden")))
#else
#define CLAR_VEC_HIDDEN
#endif

/* 1 if every x[i] is finite (no NaN, no +-Inf), else 0. */
CLAR_VEC_HIDDEN int clar_all_finite (const float *x, size_t n);

/* x[i] = ln(x[i] + offset). For x[i] >= 0 and offset >= FLT_MIN the result
 * is within 2e-7 + 1.2e-7 |ln| of the exact value (tests/test-mel.c checks
 * against double log); anything else falls back to logf. */
CLAR_VEC_HIDDEN void clar_log_offset (float *x, size_t n, float offset);

/* out[i] = x[i] * w[i] in double (a windowed frame for the FFT). */
CLAR_VEC_HIDDEN void clar_window_frame (double *out, const float *x, const double *w, size_t n);

/* Column t of a row-major [K][T] power matrix from K interleaved double
 * complex values: pw[k * T + t] = re_k^2 + im_k^2, rounded once to float. */
CLAR_VEC_HIDDEN void clar_power_column (const double *spec, size_t K, float *pw, size_t T,
                        size_t t);

/* out[b][t] = sum_{k in [lo_b, hi_b)} fb[b][k] * pw[k][t] for b < n_bands,
 * t < T: a banded matrix product (fb is n_bands x K, pw is K x T). */
CLAR_VEC_HIDDEN void clar_banded_matmul (const float *fb, const int *lo, const int *hi,
                         size_t n_bands, size_t K, const float *pw, size_t T,
                         float *out);

/* x[i] = max(x[i], 0); NaN stays NaN. */
CLAR_VEC_HIDDEN void clar_relu_inplace (float *x, size_t n);

/* 2x2 max pooling, stride 2, floor mode, over planes [H][W] planes. */
CLAR_VEC_HIDDEN void clar_maxpool2x2 (const float *x, size_t planes, size_t H, size_t W,
                      float *y);

#endif /* CLAR_VECMATH_H */
