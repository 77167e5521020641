/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/runtime.h — facts about the BLAS kernel in use.
 *
 * Debian 12's OpenBLAS 0.3.21 does not recognise some recent x86-64 CPUs and
 * falls back to a generic SSE3 kernel ("Prescott"), ~5x slower than the AVX-512
 * one. Setting OPENBLAS_CORETYPE=SkylakeX (or Haswell for AVX2-only CPUs) in
 * the environment before the process starts selects the right kernel.
 *
 * Threading: thread-safe.
 */
#ifndef CLAR_RUNTIME_H
#define CLAR_RUNTIME_H

#include <clar/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clar_blas_report {
  char core_name[64];        /* openblas_get_corename(), or "unknown" */
  char suggested_core[32];   /* value for OPENBLAS_CORETYPE, or "" */
  int cpu_has_avx2;
  int cpu_has_avx512f;
  int is_fallback;           /* 1 if a generic kernel runs on an AVX2/AVX-512 CPU */
  int n_threads;             /* BLAS threads, -1 if unknown */
} clar_blas_report;

CLAR_API void clar_blas_inspect (clar_blas_report *report);

/* One line describing a problem (empty string if none) into buf. Returns 1 if
 * the slow fallback kernel is in use, else 0. */
CLAR_API int clar_blas_warning (char *buf, size_t size);

/* Sets the number of BLAS threads (OpenBLAS only; no-op otherwise). */
CLAR_API void clar_blas_set_threads (int n);

#ifdef __cplusplus
}
#endif
#endif /* CLAR_RUNTIME_H */
