/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which BLAS kernel runs. OpenBLAS picks its kernel at load time from CPUID;
 * Debian 12's 0.3.21 does not know some newer CPUs and falls back to a
 * generic SSE3 kernel ("Prescott"), several times slower than the AVX-512
 * one. OPENBLAS_CORETYPE overrides the choice (OpenBLAS README, "Setting the
 * number of threads / CPU type at runtime", DYNAMIC_ARCH builds).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clar/runtime.h>
#include "convkernel.h"

const char *
clar_encoder_kernel (void)
{
  return clar_kernel_name (clar_kernel_active ());
}

/* Looked up at run time so libclar also links against a CBLAS that is not
 * OpenBLAS (the functions are then absent and reported as unknown). */
typedef char *(*corename_fn) (void);
typedef int (*get_threads_fn) (void);
typedef void (*set_threads_fn) (int);
/* BLIS (0.9): arch_t is an enum, dim_t a 64-bit integer in Debian's build. */
typedef const char *(*blis_version_fn) (void);
typedef int (*blis_arch_id_fn) (void);
typedef const char *(*blis_arch_string_fn) (int);
typedef long long (*blis_get_threads_fn) (void);
typedef void (*blis_set_threads_fn) (long long);

static void *
blas_sym (const char *name)
{
  return dlsym (RTLD_DEFAULT, name);
}

/* Kernels that use neither AVX2 nor AVX-512. */
static const char *const generic_cores[] = {
  "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai",
  "coppermine", "northwood", "banias", "opteron", "barcelona", "generic",
  "sandybridge", "bulldozer", "piledriver",
};

static int
ieq (const char *a, const char *b)
{
  for (; *a && *b; a++, b++) {
    char x = *a, y = *b;
    if (x >= 'A' && x <= 'Z') x = (char) (x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = (char) (y - 'A' + 'a');
    if (x != y)
      return 0;
  }
  return *a == *b;
}

void
clar_blas_inspect (clar_blas_report *r)
{
  const char *core = NULL;
  if (!r)
    return;
  memset (r, 0, sizeof *r);
  corename_fn get_core;
  get_threads_fn get_threads;
  *(void **) (&get_core) = blas_sym ("openblas_get_corename");
  *(void **) (&get_threads) = blas_sym ("openblas_get_num_threads");
  if (get_core)
    core = get_core ();
  snprintf (r->core_name, sizeof r->core_name, "%s", core ? core : "unknown");
  r->n_threads = get_threads ? get_threads () : -1;
  if (!core) {
    /* BLIS chooses its kernel per CPU at run time (bli_arch_query_id). */
    blis_version_fn version;
    blis_arch_id_fn arch_id;
    blis_arch_string_fn arch_string;
    blis_get_threads_fn blis_threads;
    *(void **) (&version) = blas_sym ("bli_info_get_version_str");
    *(void **) (&arch_id) = blas_sym ("bli_arch_query_id");
    *(void **) (&arch_string) = blas_sym ("bli_arch_string");
    *(void **) (&blis_threads) = blas_sym ("bli_thread_get_num_threads");
    if (version && arch_id && arch_string) {
      const char *arch = arch_string (arch_id ());
      snprintf (r->core_name, sizeof r->core_name, "BLIS %s %s", version (), arch ? arch : "?");
      if (blis_threads) {
        long long n = blis_threads ();
        r->n_threads = n > 0 ? (int) n : 1;   /* BLIS reports -1 for "not set": one thread */
      }
    }
  }
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init ();
  r->cpu_has_avx2 = __builtin_cpu_supports ("avx2") ? 1 : 0;
  r->cpu_has_avx512f = __builtin_cpu_supports ("avx512f") ? 1 : 0;
#endif
  if (core) {
    int generic = 0;
    for (size_t i = 0; i < sizeof generic_cores / sizeof generic_cores[0]; i++)
      if (ieq (core, generic_cores[i]))
        generic = 1;
    if (generic && (r->cpu_has_avx2 || r->cpu_has_avx512f)) {
      r->is_fallback = 1;
      snprintf (r->suggested_core, sizeof r->suggested_core, "%s",
          r->cpu_has_avx512f ? "SkylakeX" : "Haswell");
    }
  }
}

int
clar_blas_warning (char *buf, size_t size)
{
  clar_blas_report r;
  clar_blas_inspect (&r);
  if (buf && size) {
    if (r.is_fallback)
      snprintf (buf, size,
          "OpenBLAS runs its generic '%s' kernel on a CPU with %s: matrix products are "
          "several times slower than they could be (%s); start the process with "
          "OPENBLAS_CORETYPE=%s (or build gst-clar with -Dblas=blis)", r.core_name,
          r.cpu_has_avx512f ? "AVX-512" : "AVX2",
          clar_kernel_active () != CLAR_KERNEL_BLAS ? "training only: inference runs "
          "libclar's own kernels" : "inference and training", r.suggested_core);
    else
      buf[0] = '\0';
  }
  return r.is_fallback;
}

void
clar_blas_set_threads (int n)
{
  set_threads_fn set_threads;
  blis_set_threads_fn blis_set;
  *(void **) (&set_threads) = blas_sym ("openblas_set_num_threads");
  *(void **) (&blis_set) = blas_sym ("bli_thread_set_num_threads");
  if (set_threads && n > 0)
    set_threads (n);
  else if (blis_set && n > 0)
    blis_set (n);
}

static int default_threads_result;

static void
apply_default_threads (void)
{
  const char *v = getenv ("CLAR_BLAS_THREADS");
  int n = 1;
  if (v && *v) {
    char *end;
    long x = strtol (v, &end, 10);
    if (*end || x < 1 || x > 1024) {
      fprintf (stderr, "libclar: CLAR_BLAS_THREADS=\"%s\" is not 1..1024: using 1 thread\n", v);
      x = 1;
    }
    n = (int) x;
  } else if ((getenv ("OPENBLAS_NUM_THREADS") && *getenv ("OPENBLAS_NUM_THREADS"))
      || (getenv ("BLIS_NUM_THREADS") && *getenv ("BLIS_NUM_THREADS"))
      || (getenv ("OMP_NUM_THREADS") && *getenv ("OMP_NUM_THREADS"))) {
    default_threads_result = 0;
    return;
  }
  clar_blas_set_threads (n);
  default_threads_result = n;
}

int
clar_blas_default_threads (void)
{
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once (&once, apply_default_threads);
  return default_threads_result;
}
