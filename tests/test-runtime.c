/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* BLAS kernel report, strerror and version. */
#include <string.h>

#include <clar/clar.h>
#include "clar-test.h"
#include "layers.h"

static void
test_report (void)
{
  clar_blas_report r;
  char msg[512];
  const char *forced = getenv ("OPENBLAS_CORETYPE");
  int fb = clar_blas_warning (msg, sizeof msg);
  /* Run one BLAS call so the BLAS library is certainly loaded. */
  {
    float x[2] = { 1, 2 }, w[2] = { 3, 4 }, y;
    clar_linear_forward (x, 1, 2, w, NULL, 1, &y);
    CHECK (y == 11.0f);
  }
  clar_blas_inspect (&r);
  printf ("BLAS core %s, threads %d, avx2 %d, avx512f %d, fallback %d\n", r.core_name,
      r.n_threads, r.cpu_has_avx2, r.cpu_has_avx512f, r.is_fallback);
  CHECK (r.core_name[0] != '\0');
#ifdef CLAR_TEST_OPENBLAS
  CHECK (strcmp (r.core_name, "unknown") != 0);   /* OpenBLAS answers */
#endif
  CHECK_EQ_INT (fb, r.is_fallback);
  CHECK ((fb && strstr (msg, "OPENBLAS_CORETYPE=") != NULL) || (!fb && msg[0] == '\0'));
  if (r.is_fallback)
    CHECK (r.cpu_has_avx2 && r.suggested_core[0]);
  /* With the kernel forced to match the CPU, no fallback is reported. */
  if (forced && (!strcmp (forced, "SkylakeX") || !strcmp (forced, "Haswell"))) {
    CHECK (!r.is_fallback);
#ifdef CLAR_TEST_OPENBLAS
    CHECK (strcmp (r.core_name, forced) == 0);   /* the kernel asked for */
#endif
  }
#ifdef CLAR_TEST_OPENBLAS
  /* Forced to the generic kernel (what Debian's OpenBLAS picks on CPUs it
   * does not know), the fallback is detected and the fix is named. */
  if (forced && !strcmp (forced, "Prescott") && r.cpu_has_avx2) {
    CHECK (r.is_fallback);
    CHECK (strstr (msg, r.cpu_has_avx512f ? "OPENBLAS_CORETYPE=SkylakeX" : "OPENBLAS_CORETYPE=Haswell"));
  }
#endif
#ifdef CLAR_TEST_BLIS
  /* BLIS picks its kernel per CPU at run time: never a fallback. */
  CHECK (strncmp (r.core_name, "BLIS ", 5) == 0);
  CHECK (!r.is_fallback);
#endif
}

static void
test_strerror (void)
{
  for (int c = 0; c >= -13; c--)
    CHECK (strcmp (clar_strerror (c), "unknown error") != 0);
  CHECK (strcmp (clar_strerror (-999), "unknown error") == 0);
  CHECK (strcmp (clar_version_string (), CLAR_VERSION_STRING) == 0);
  CHECK (CLAR_CHECK_VERSION (0, 0, 1));
}

/* clar_blas_default_threads: one BLAS thread unless CLAR_BLAS_THREADS says
 * otherwise; a user's OPENBLAS/BLIS/OMP_NUM_THREADS (without
 * CLAR_BLAS_THREADS) is left alone. Run by test-runtime-threads and
 * test-runtime-threads-env with different environments. */
static void
test_default_threads (void)
{
  const char *clar = getenv ("CLAR_BLAS_THREADS");
  int user = (getenv ("OPENBLAS_NUM_THREADS") && *getenv ("OPENBLAS_NUM_THREADS"))
      || (getenv ("BLIS_NUM_THREADS") && *getenv ("BLIS_NUM_THREADS"))
      || (getenv ("OMP_NUM_THREADS") && *getenv ("OMP_NUM_THREADS"));
  int expect = clar && *clar ? atoi (clar) : user ? 0 : 1;
  clar_blas_report r;
  int n = clar_blas_default_threads ();
  CHECK_EQ_INT (n, expect);
  CHECK_EQ_INT (clar_blas_default_threads (), n);   /* decided once */
  clar_blas_inspect (&r);
  printf ("default threads: set %d, BLAS reports %d\n", n, r.n_threads);
  if (n > 0 && r.n_threads > 0)
    CHECK_EQ_INT (r.n_threads, n);
}

int
main (void)
{
  if (getenv ("CLAR_TEST_THREADS")) {
    CLAR_TEST_RUN (test_default_threads);
    CLAR_TEST_EXIT ();
  }
  CLAR_TEST_RUN (test_report);
  CLAR_TEST_RUN (test_strerror);
  CLAR_TEST_EXIT ();
}
