/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A minimal test harness for the plain-C core tests: each test executable
 * registers functions with CLAR_TEST_RUN and exits 0 (all passed), 1 (some
 * failed) or 77 (skipped, meson's convention).
 */
#ifndef CLAR_TEST_H
#define CLAR_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int clar_test_failures_ = 0;
static int clar_test_checks_ = 0;

#define CHECK(cond)                                                           \
  do {                                                                        \
    clar_test_checks_++;                                                      \
    if (!(cond)) {                                                            \
      clar_test_failures_++;                                                  \
      fprintf (stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                         \
  } while (0)

#define CHECK_MSG(cond, ...)                                                  \
  do {                                                                        \
    clar_test_checks_++;                                                      \
    if (!(cond)) {                                                            \
      clar_test_failures_++;                                                  \
      fprintf (stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf (stderr, __VA_ARGS__);                                          \
      fputc ('\n', stderr);                                                   \
    }                                                                         \
  } while (0)

/* |a - b| <= tol, printing both values on failure. */
#define CHECK_CLOSE(a, b, tol)                                                \
  do {                                                                        \
    double a_ = (a), b_ = (b);                                                \
    clar_test_checks_++;                                                      \
    if (!(fabs (a_ - b_) <= (tol))) {                                         \
      clar_test_failures_++;                                                  \
      fprintf (stderr, "%s:%d: CHECK_CLOSE failed: %s = %.9g, %s = %.9g (tol %g)\n", \
          __FILE__, __LINE__, #a, a_, #b, b_, (double) (tol));                \
    }                                                                         \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                    \
  do {                                                                        \
    long long a_ = (long long) (a), b_ = (long long) (b);                     \
    clar_test_checks_++;                                                      \
    if (a_ != b_) {                                                           \
      clar_test_failures_++;                                                  \
      fprintf (stderr, "%s:%d: CHECK_EQ failed: %s = %lld, %s = %lld\n",      \
          __FILE__, __LINE__, #a, a_, #b, b_);                                \
    }                                                                         \
  } while (0)

#define CLAR_TEST_RUN(fn)                                                     \
  do {                                                                        \
    int before_ = clar_test_failures_;                                        \
    fn ();                                                                    \
    printf ("%s %s\n", clar_test_failures_ == before_ ? "ok  " : "FAIL", #fn); \
  } while (0)

#define CLAR_TEST_EXIT()                                                      \
  do {                                                                        \
    printf ("%d checks, %d failed\n", clar_test_checks_, clar_test_failures_); \
    return clar_test_failures_ ? 1 : 0;                                       \
  } while (0)

#endif
