/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OpenMP queries that also compile without OpenMP (one thread, id 0). */
#ifndef CLAR_TRAIN_THREADS_H
#define CLAR_TRAIN_THREADS_H

#ifdef _OPENMP
#include <omp.h>
#endif

static inline int
clar_train_max_threads (void)
{
#ifdef _OPENMP
  return omp_get_max_threads ();
#else
  return 1;
#endif
}

static inline int
clar_train_thread_id (void)
{
#ifdef _OPENMP
  return omp_get_thread_num ();
#else
  return 0;
#endif
}

#endif /* CLAR_TRAIN_THREADS_H */
