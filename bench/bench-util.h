/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the bench/ programs. */
#ifndef CLAR_BENCH_UTIL_H
#define CLAR_BENCH_UTIL_H

#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* Monotonic time in seconds, to the nanosecond (g_get_monotonic_time reads
 * the same clock but counts whole microseconds). */
static inline double
bench_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of the calling thread in seconds: unlike wall time it does not
 * count the time other processes held the core, which is why the benches
 * take the smallest over repeats on a shared machine. */
static inline double
bench_thread_cpu (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Resident memory of this process in kB (/proc/self/statm), or -1. */
static inline long
rss_kb (void)
{
  long pages_total = 0, pages_resident = 0;
  FILE *f = fopen ("/proc/self/statm", "r");
  if (!f)
    return -1;
  if (fscanf (f, "%ld %ld", &pages_total, &pages_resident) != 2)
    pages_resident = -1;
  fclose (f);
  return pages_resident < 0 ? -1 : pages_resident * (sysconf (_SC_PAGESIZE) / 1024);
}

#endif /* CLAR_BENCH_UTIL_H */
