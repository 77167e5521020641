/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Float-to-double reductions in a fixed 16-lane order (see reduce.h). */
#include <string.h>

#include "reduce.h"

#define LANES 16

/* Adds the n % 16 trailing elements into their lanes (element i into lane
 * i mod 16) and combines the lanes by halving: lane j += lane j + w for
 * w = 8, 4, 2, 1. Shared by both builds below, so the order is one. */
static inline double
finish_lanes (double l[LANES], const float *x, const float *y, size_t n0,
              size_t n, double m, int kind)
{
  for (size_t i = n0; i < n; i++) {
    double v = x[i];
    if (kind == 1) {
      v -= m;
      v *= v;
    } else if (kind == 2) {
      v *= (double) y[i];
    }
    l[i - n0] += v;
  }
  for (int w = LANES / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; j++)
      l[j] += l[j + w];
  return l[0];
}

/* CLAR_REDUCE_PLAIN_C forces the plain C build (tests/meson.build checks
 * that it gives the same bits). */
#if defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 9) \
    && !defined(CLAR_REDUCE_PLAIN_C)

/* GCC/Clang vector extensions: four vectors of four doubles hold the 16
 * lanes; each target_clones version lowers them to its own ISA (two SSE2
 * registers, one AVX2 register, or half an AVX-512 one) with the same
 * per-lane arithmetic. */
typedef double v4d __attribute__ ((vector_size (32)));
typedef float v4f __attribute__ ((vector_size (16)));

static inline v4f
loadf (const float *p)
{
  v4f t;
  memcpy (&t, p, sizeof t); /* unaligned load */
  return t;
}

/* Four floats at p, converted exactly to double. (A macro: a function
 * returning a 32-byte vector would change ABI between the clones, GCC's
 * -Wpsabi.) */
#define LOAD4(p) __builtin_convertvector (loadf (p), v4d)

static inline double
finish_vectors (const v4d *a0, const v4d *a1, const v4d *a2, const v4d *a3,
                const float *x, const float *y, size_t n0, size_t n, double m,
                int kind)
{
  /* (By pointer: 32-byte vectors passed by value change ABI without AVX.) */
  double l[LANES];
  memcpy (l, a0, sizeof *a0);
  memcpy (l + 4, a1, sizeof *a1);
  memcpy (l + 8, a2, sizeof *a2);
  memcpy (l + 12, a3, sizeof *a3);
  return finish_lanes (l, x, y, n0, n, m, kind);
}

/* One 16-float block's contribution to four lanes at offset k (0, 4, 8,
 * 12): kind 0 sums x, 1 sums (x - m)^2, 2 sums x*y. (A macro for the same
 * ABI reason as LOAD4.) */
#define TERM(v, k, kind)                                                     \
  ((kind) == 1   ? ((v) - mv) * ((v) - mv)                                   \
   : (kind) == 2 ? (v) * LOAD4 (y + i + (k))                                 \
                 : (v))

/* The one loop of the three single reductions; each clone inlines it with
 * a constant kind. The four accumulators are separate variables, which GCC
 * -O2 keeps in registers (an array of vectors it left in memory). */
static inline __attribute__ ((always_inline)) double
reduce_vec (const float *x, const float *y, size_t n, double m, int kind)
{
  v4d a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 }, mv = { m, m, m, m };
  size_t n0 = n - n % LANES;
  for (size_t i = 0; i < n0; i += LANES) {
    v4d v0 = LOAD4 (x + i), v1 = LOAD4 (x + i + 4);
    v4d v2 = LOAD4 (x + i + 8), v3 = LOAD4 (x + i + 12);
    a0 += TERM (v0, 0, kind);
    a1 += TERM (v1, 4, kind);
    a2 += TERM (v2, 8, kind);
    a3 += TERM (v3, 12, kind);
  }
  return finish_vectors (&a0, &a1, &a2, &a3, x, y, n0, n, m, kind);
}

CLAR_VEC_CLONES double
clar_sum_f64 (const float *x, size_t n)
{
  return reduce_vec (x, NULL, n, 0, 0);
}

CLAR_VEC_CLONES double
clar_sumsq_dev_f64 (const float *x, size_t n, double m)
{
  return reduce_vec (x, NULL, n, m, 1);
}

CLAR_VEC_CLONES double
clar_dot_f64 (const float *x, const float *y, size_t n)
{
  return reduce_vec (x, y, n, 0, 2);
}

CLAR_VEC_CLONES void
clar_sum_dot_f64 (const float *x, const float *y, size_t n, double *sx,
                  double *sxy)
{
  v4d s0 = { 0 }, s1 = { 0 }, s2 = { 0 }, s3 = { 0 };
  v4d d0 = { 0 }, d1 = { 0 }, d2 = { 0 }, d3 = { 0 };
  size_t n0 = n - n % LANES;
  for (size_t i = 0; i < n0; i += LANES) {
    v4d v0 = LOAD4 (x + i), v1 = LOAD4 (x + i + 4);
    v4d v2 = LOAD4 (x + i + 8), v3 = LOAD4 (x + i + 12);
    s0 += v0;
    s1 += v1;
    s2 += v2;
    s3 += v3;
    d0 += v0 * LOAD4 (y + i);
    d1 += v1 * LOAD4 (y + i + 4);
    d2 += v2 * LOAD4 (y + i + 8);
    d3 += v3 * LOAD4 (y + i + 12);
  }
  *sx = finish_vectors (&s0, &s1, &s2, &s3, x, NULL, n0, n, 0, 0);
  *sxy = finish_vectors (&d0, &d1, &d2, &d3, x, y, n0, n, 0, 2);
}

#else /* plain C: the same lanes as arrays */

static double
reduce (const float *x, const float *y, size_t n, double m, int kind)
{
  double l[LANES] = { 0 };
  size_t n0 = n - n % LANES;
  for (size_t i = 0; i < n0; i += LANES)
    for (int j = 0; j < LANES; j++) {
      double v = x[i + j];
      if (kind == 1) {
        v -= m;
        v *= v;
      } else if (kind == 2) {
        v *= (double) y[i + j];
      }
      l[j] += v;
    }
  return finish_lanes (l, x, y, n0, n, m, kind);
}

double
clar_sum_f64 (const float *x, size_t n)
{
  return reduce (x, NULL, n, 0, 0);
}

double
clar_sumsq_dev_f64 (const float *x, size_t n, double m)
{
  return reduce (x, NULL, n, m, 1);
}

double
clar_dot_f64 (const float *x, const float *y, size_t n)
{
  return reduce (x, y, n, 0, 2);
}

void
clar_sum_dot_f64 (const float *x, const float *y, size_t n, double *sx,
                  double *sxy)
{
  *sx = reduce (x, NULL, n, 0, 0);
  *sxy = reduce (x, y, n, 0, 2);
}

#endif
