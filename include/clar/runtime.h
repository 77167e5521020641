/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/runtime.h — facts about the BLAS kernel in use.
 *
 * Debian 12's OpenBLAS 0.3.21 does not recognise some recent x86-64 CPUs and
 * falls back to a generic SSE3 kernel ("Prescott"), ~5x slower than the AVX-512
 * one. Setting OPENBLAS_CORETYPE=SkylakeX (or Haswell for AVX2-only CPUs) in
 * the environment before the process starts selects the right kernel.
 *
 * The encoder's inference does not depend on it on x86-64 CPUs with AVX2
 * or AVX-512: libclar runs its own convolution kernels there
 * (clar_encoder_kernel); the trainer's matrix products still use the BLAS.
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

/* The convolution kernel the encoder's inference uses: "avx512" or "avx2"
 * (libclar's own micro-kernels, chosen from CPUID at the first call, so
 * they do not depend on the kernel the BLAS picked) or "blas" (im2col + the
 * BLAS's SGEMM: CPUs without AVX2+FMA, non-x86 builds). The environment
 * variable CLAR_KERNEL=blas|avx2|avx512, read once, selects a lower one
 * (for comparisons; one the CPU lacks is ignored). Training always uses the
 * BLAS. */
CLAR_API const char *clar_encoder_kernel (void);

/* Sets the number of BLAS threads (OpenBLAS only; no-op otherwise). */
CLAR_API void clar_blas_set_threads (int n);

/* The threading default of the element and the inference tools: streams
 * are the parallelism, so the BLAS computes on the calling thread (one
 * thread; an OpenBLAS thread pool spinning next to every stream costs
 * system time under contention). The environment variable
 * CLAR_BLAS_THREADS=N sets N instead; when the user already set
 * OPENBLAS_NUM_THREADS, BLIS_NUM_THREADS or OMP_NUM_THREADS (and not
 * CLAR_BLAS_THREADS), the BLAS is left as they said. The BLAS's thread
 * count is per process: the first call decides, later calls return the
 * same. Returns the count set, or 0 when the BLAS was left alone. */
CLAR_API int clar_blas_default_threads (void);

#ifdef __cplusplus
}
#endif
#endif /* CLAR_RUNTIME_H */
