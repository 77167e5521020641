/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Inference cost of one analysis window on the calling thread:
 *   - log-mel front end (clar_session_pcm_to_mel),
 *   - encoder forward at batch 1 (clar_session_encode),
 * and the core's measured FMA peak, so the encoder's GFLOP/s can be put as a
 * fraction of what the core can do; then many live streams on this one
 * thread through clar_stream (the element's code path: windowing, log-mel
 * shared between overlapping windows, encoder, top-k), fed 10 ms chunks
 * in turn, at the model's window and a 0.5 s hop: streams per core (audio
 * seconds processed per CPU second) and the latency of each window (from
 * the chunk that completes it to its result). Prints one "key value" line
 * per figure (bench/bench-infer.sh reads them).
 *
 *   bench-infer MODEL [SECONDS_PER_FIGURE]
 *
 * Each figure is the median over 7 rounds of the mean time per call in a
 * round (a round lasts SECONDS/7): medians resist the shared machine's noise. */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <clar/clar.h>

#include "bench-util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

#define ROUNDS 7

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

typedef int (*bench_fn) (void *ctx);

/* The smallest thread CPU time of one call of n: unlike wall time it does
 * not count the time other processes held the core, so a call of several
 * milliseconds (a batch) is measured as well as one of half a millisecond
 * on a loaded machine (it still pays for caches others evicted). */
static double
fastest_call_cpu (bench_fn fn, void *ctx, long n)
{
  double best = 1e30;
  for (long i = 0; i < n; i++) {
    double t0 = bench_thread_cpu ();
    fn (ctx);
    t0 = bench_thread_cpu () - t0;
    if (t0 < best)
      best = t0;
  }
  return best;
}

/* The fastest single call of n: on a machine shared with other jobs, which
 * only ever add time, the figure closest to the code's own cost (a call of
 * half a millisecond is often not interrupted even on a busy machine). */
static double
fastest_call (bench_fn fn, void *ctx, long n)
{
  double best = 1e30;
  for (long i = 0; i < n; i++) {
    double t0 = bench_now ();
    fn (ctx);
    t0 = bench_now () - t0;
    if (t0 < best)
      best = t0;
  }
  return best;
}

/* Median over ROUNDS of seconds per call. */
static double
time_calls (bench_fn fn, void *ctx, double seconds)
{
  double r[ROUNDS], per_round = seconds / ROUNDS;
  long n = 1;
  /* Calibrate: calls per round. */
  for (;;) {
    double t0 = bench_now ();
    for (long i = 0; i < n; i++)
      if (fn (ctx) != 0)
        return -1;
    double dt = bench_now () - t0;
    if (dt > 0.05 || n > (1L << 30)) {
      n = (long) (n * per_round / (dt > 1e-9 ? dt : 1e-9)) + 1;
      break;
    }
    n *= 4;
  }
  for (int k = 0; k < ROUNDS; k++) {
    double t0 = bench_now ();
    for (long i = 0; i < n; i++)
      fn (ctx);
    r[k] = (bench_now () - t0) / n;
  }
  qsort (r, ROUNDS, sizeof r[0], cmp_double);
  return r[ROUNDS / 2];
}

typedef struct {
  clar_session *s;
  float *pcm, *mel, *emb;
  size_t n_samples, n_frames;
} ctx_t;

static int
run_mel (void *p)
{
  ctx_t *c = p;
  return clar_session_pcm_to_mel (c->s, c->pcm, c->n_samples, c->mel, c->n_frames);
}

static int
run_encode (void *p)
{
  ctx_t *c = p;
  return clar_session_encode (c->s, c->mel, c->n_frames, c->emb);
}

typedef struct {
  clar_session *s;
  float *mel, *emb;
  size_t batch, n_frames;
} batch_ctx;

static int
run_encode_batch (void *p)
{
  batch_ctx *c = p;
  return clar_session_encode_batch (c->s, c->mel, c->batch, c->n_frames, c->emb);
}

#ifdef HAVE_X86
/* Peak single-precision FMA rate of one core: 12 independent accumulators in
 * named registers hide the FMA latency (4-5 cycles x 2 pipes on current x86).
 * The same body is compiled for 512- and 256-bit vectors. */
#define FMA_PEAK_BODY(T, FMA, SET, LANES)                                    \
  {                                                                          \
    T m = SET (0.999999f), b = SET (1e-7f);                                  \
    T a0 = SET (0), a1 = SET (1), a2 = SET (2), a3 = SET (3), a4 = SET (4),  \
      a5 = SET (5), a6 = SET (6), a7 = SET (7), a8 = SET (8), a9 = SET (9),  \
      a10 = SET (10), a11 = SET (11);                                        \
    float o[LANES];                                                          \
    double t0 = bench_now (), dt;                                            \
    for (long i = 0; i < iters; i++) {                                       \
      a0 = FMA (a0, m, b); a1 = FMA (a1, m, b); a2 = FMA (a2, m, b);         \
      a3 = FMA (a3, m, b); a4 = FMA (a4, m, b); a5 = FMA (a5, m, b);         \
      a6 = FMA (a6, m, b); a7 = FMA (a7, m, b); a8 = FMA (a8, m, b);         \
      a9 = FMA (a9, m, b); a10 = FMA (a10, m, b); a11 = FMA (a11, m, b);     \
    }                                                                        \
    dt = bench_now () - t0;                                                  \
    a0 = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;       \
    memcpy (o, &a0, sizeof o);                                               \
    if (o[0] == 12345.0f)   /* keeps the loop alive */                       \
      puts ("");                                                             \
    return iters * 12.0 * LANES * 2 / dt;                                    \
  }

__attribute__((target ("avx512f"))) static double
peak_avx512 (long iters)
FMA_PEAK_BODY (__m512, _mm512_fmadd_ps, _mm512_set1_ps, 16)

__attribute__((target ("avx2,fma"))) static double
peak_avx2 (long iters)
FMA_PEAK_BODY (__m256, _mm256_fmadd_ps, _mm256_set1_ps, 8)
#endif

/* S streams, each fed secs seconds of its own audio (a different slice of a
 * noise + tone signal) in 10 ms chunks, in turn, on this thread. */

static int
run_streams (clar_model *model, int S, double secs, double *per_core, double *p50_ms,
             double *p99_ms, double *max_ms, double *cpu_p99_ms, long *n_windows)
{
  const clar_model_info *info = clar_model_get_info (model);
  const size_t rate = (size_t) info->mel.sample_rate, chunk = rate / 100;
  const size_t n = (size_t) (secs * rate), total = n + (size_t) S * rate;
  clar_stream **st = calloc ((size_t) S, sizeof *st);
  float *pcm = malloc (total * sizeof (float));
  double *lat = NULL, *cpu = NULL, cpu0, cpu1;
  long nw = 0, cap = 0;
  clar_stream_params p;
  clar_error err;
  struct timespec ts;
  if (!st || !pcm)
    return -1;
  for (size_t i = 0; i < total; i++)
    pcm[i] = 0.3f * sinf (2.0f * 3.14159265f * 440.0f * (float) (i % rate) / rate)
        + 0.1f * ((float) rand () / RAND_MAX - 0.5f);
  clar_stream_params_init (&p);
  p.hop_samples = rate / 2;
  for (int k = 0; k < S; k++)
    if (!(st[k] = clar_stream_new (model, &p, &err))) {
      fprintf (stderr, "stream: %s\n", err.message);
      return -1;
    }
  cap = (long) (S * (secs * 2 + 2));
  lat = malloc ((size_t) cap * sizeof (double));
  cpu = malloc ((size_t) cap * sizeof (double));
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  cpu0 = ts.tv_sec + ts.tv_nsec * 1e-9;
  for (size_t pos = 0; pos + chunk <= n; pos += chunk)
    for (int k = 0; k < S; k++) {
      const float *src = pcm + (size_t) k * rate + pos;
      size_t used, off = 0;
      while (off < chunk) {
        double t0 = bench_now (), c0 = bench_thread_cpu ();
        int ready = clar_stream_push_f32 (st[k], src + off, chunk - off, &used);
        off += used;
        if (ready == 1) {
          clar_window_result r;
          if (clar_stream_compute (st[k], &r) != CLAR_OK)
            return -1;
          if (nw < cap) {
            lat[nw] = bench_now () - t0;
            cpu[nw] = bench_thread_cpu () - c0;
          }
          nw++;
        }
      }
    }
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  cpu1 = ts.tv_sec + ts.tv_nsec * 1e-9;
  if (nw > cap)
    nw = cap;
  qsort (lat, (size_t) nw, sizeof lat[0], cmp_double);
  qsort (cpu, (size_t) nw, sizeof cpu[0], cmp_double);
  *cpu_p99_ms = nw ? cpu[(long) (nw * 0.99)] * 1e3 : 0;
  *per_core = S * secs / (cpu1 - cpu0);
  *p50_ms = nw ? lat[nw / 2] * 1e3 : 0;
  *p99_ms = nw ? lat[(long) (nw * 0.99)] * 1e3 : 0;
  *max_ms = nw ? lat[nw - 1] * 1e3 : 0;
  *n_windows = nw;
  for (int k = 0; k < S; k++)
    clar_stream_free (st[k]);
  free (st);
  free (pcm);
  free (lat);
  free (cpu);
  return 0;
}

/* Batched streams: S threads, all on one CPU, each runs one stream fed
 * its own audio in 10 ms chunks as fast as it goes, the streams' windows
 * encoded through one clar_batcher (max_batch, wait). Streams per core =
 * audio seconds / process CPU seconds (all threads, one core); latency as
 * in run_streams (wall, chunk completing a window -> its result, so it
 * includes the wait for the batch). */
typedef struct {
  clar_model *model;
  clar_batcher *b;
  uint64_t wait_ns;
  const float *pcm;
  size_t n;
  int cpu;
  double *lat;
  long cap, nw;
  double batch_sum;
  pthread_barrier_t *start;
  int rc;
} bworker;

static void *
run_bworker (void *p)
{
  bworker *w = p;
  const clar_model_info *info = clar_model_get_info (w->model);
  const size_t chunk = (size_t) info->mel.sample_rate / 100;
  clar_stream_params sp;
  clar_stream *st;
  cpu_set_t set;
  CPU_ZERO (&set);
  CPU_SET (w->cpu, &set);
  pthread_setaffinity_np (pthread_self (), sizeof set, &set);
  clar_stream_params_init (&sp);
  sp.hop_samples = (size_t) info->mel.sample_rate / 2;
  if (!(st = clar_stream_new (w->model, &sp, NULL))) {
    w->rc = -1;
    pthread_barrier_wait (w->start);
    return NULL;
  }
  clar_stream_set_batcher (st, w->b, w->wait_ns);
  pthread_barrier_wait (w->start);
  for (size_t pos = 0; pos + chunk <= w->n && w->rc == 0; pos += chunk) {
    size_t used, off = 0;
    while (off < chunk) {
      double t0 = bench_now ();
      int ready = clar_stream_push_f32 (st, w->pcm + pos + off, chunk - off, &used);
      off += used;
      if (ready == 1) {
        clar_window_result r;
        if (clar_stream_compute (st, &r) != CLAR_OK) {
          w->rc = -1;
          break;
        }
        if (w->nw < w->cap)
          w->lat[w->nw] = bench_now () - t0;
        w->nw++;
        w->batch_sum += (double) r.batch_size;
      }
    }
  }
  clar_stream_free (st);
  return NULL;
}

static double
process_cpu (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
run_streams_batched (clar_model *model, int S, double secs, size_t max_batch, uint64_t wait_ns,
                     double *per_core, double *p50_ms, double *p99_ms, double *max_ms,
                     double *mean_batch, long *n_windows)
{
  const clar_model_info *info = clar_model_get_info (model);
  const size_t rate = (size_t) info->mel.sample_rate;
  const size_t n = (size_t) (secs * rate), total = n + (size_t) S * rate;
  float *pcm = malloc (total * sizeof (float));
  bworker *w = calloc ((size_t) S, sizeof *w);
  pthread_t *th = calloc ((size_t) S, sizeof *th);
  pthread_barrier_t bar;
  clar_batcher *b = clar_batcher_new (model, max_batch, NULL);
  double c0, c1, *all, bsum = 0;
  long nw = 0;
  int cpu = sched_getcpu ();
  if (!pcm || !w || !th || !b)
    return -1;
  if (cpu < 0)
    cpu = 0;
  for (size_t i = 0; i < total; i++)
    pcm[i] = 0.3f * sinf (2.0f * 3.14159265f * 440.0f * (float) (i % rate) / rate)
        + 0.1f * ((float) rand () / RAND_MAX - 0.5f);
  pthread_barrier_init (&bar, NULL, (unsigned) S + 1);
  for (int k = 0; k < S; k++) {
    w[k].model = model;
    w[k].b = b;
    w[k].wait_ns = wait_ns;
    w[k].pcm = pcm + (size_t) k * rate;
    w[k].n = n;
    w[k].cpu = cpu;
    w[k].cap = (long) (secs * 2 + 2);
    w[k].lat = malloc ((size_t) w[k].cap * sizeof (double));
    w[k].start = &bar;
    pthread_create (&th[k], NULL, run_bworker, &w[k]);
  }
  pthread_barrier_wait (&bar);
  c0 = process_cpu ();
  for (int k = 0; k < S; k++)
    pthread_join (th[k], NULL);
  c1 = process_cpu ();
  all = malloc ((size_t) S * (size_t) w[0].cap * sizeof (double));
  for (int k = 0; k < S; k++) {
    if (w[k].rc != 0)
      return -1;
    for (long i = 0; i < w[k].nw && i < w[k].cap; i++)
      all[nw++] = w[k].lat[i];
    bsum += w[k].batch_sum;
  }
  qsort (all, (size_t) nw, sizeof all[0], cmp_double);
  *per_core = S * secs / (c1 - c0);
  *p50_ms = nw ? all[nw / 2] * 1e3 : 0;
  *p99_ms = nw ? all[(long) (nw * 0.99)] * 1e3 : 0;
  *max_ms = nw ? all[nw - 1] * 1e3 : 0;
  *mean_batch = nw ? bsum / nw : 0;
  *n_windows = nw;
  for (int k = 0; k < S; k++)
    free (w[k].lat);
  free (all);
  free (w);
  free (th);
  free (pcm);
  pthread_barrier_destroy (&bar);
  clar_batcher_unref (b);
  return 0;
}

/* Best of many runs: the peak is a ceiling, so noise only lowers it. */
static double
fma_peak (const char **isa)
{
#ifdef HAVE_X86
  double best = 0.0;
  __builtin_cpu_init ();
  /* 400 runs of about 0.5 ms (after a 40 ms warm-up that brings the core
   * to its AVX-512 clock): a short run is seldom interrupted on a shared
   * machine, so the best one is the core's rate. */
  for (int k = 0; k < 401; k++) {
    double g;
    long iters = k == 0 ? 20000000 : 250000;
    if (__builtin_cpu_supports ("avx512f")) {
      *isa = "avx512f";
      g = peak_avx512 (iters);
    } else if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma")) {
      *isa = "avx2+fma";
      g = peak_avx2 (iters);
    } else {
      *isa = "none";
      return 0.0;
    }
    if (g > best)
      best = g;
  }
  return best;
#else
  *isa = "unknown";
  return 0.0;
#endif
}

int
main (int argc, char **argv)
{
  clar_error err = { 0 };
  clar_model *model = NULL;
  const clar_model_info *info;
  ctx_t c = { 0 };
  double secs = argc > 2 ? atof (argv[2]) : 3.0, t_mel, t_enc, t_enc_min, flops, peak;
  const char *isa = "";
  clar_blas_report r;
  char warn[256];

  if (argc < 2) {
    fprintf (stderr, "usage: %s MODEL [SECONDS_PER_FIGURE]\n", argv[0]);
    return 2;
  }
  if (clar_model_load_file (argv[1], &model, &err) != CLAR_OK) {
    fprintf (stderr, "%s: %s\n", argv[1], err.message);
    return 1;
  }
  info = clar_model_get_info (model);
  clar_blas_default_threads ();   /* what the element and the tools do */
  c.s = clar_session_new (model, &err);
  if (!c.s) {
    fprintf (stderr, "session: %s\n", err.message);
    return 1;
  }
  c.n_samples = info->window_samples;
  c.n_frames = clar_session_n_frames (c.s, c.n_samples);
  c.pcm = malloc (c.n_samples * sizeof (float));
  c.mel = malloc ((size_t) info->mel.n_mels * c.n_frames * sizeof (float));
  c.emb = malloc (info->embedding_dim * sizeof (float));
  if (!c.pcm || !c.mel || !c.emb)
    return 1;
  srand (1);
  /* Band-limited noise plus a tone: a realistic spread of log-mel values. */
  for (size_t i = 0; i < c.n_samples; i++)
    c.pcm[i] = 0.3f * sinf (2.0f * 3.14159265f * 440.0f * i / info->mel.sample_rate)
        + 0.1f * ((float) rand () / RAND_MAX - 0.5f);
  if (run_mel (&c) != 0 || run_encode (&c) != 0) {
    fprintf (stderr, "forward pass failed\n");
    return 1;
  }

  clar_blas_inspect (&r);
  clar_blas_warning (warn, sizeof warn);
  t_mel = time_calls (run_mel, &c, secs);
  t_enc = time_calls (run_encode, &c, secs);
  t_enc_min = fastest_call (run_encode, &c, 2000);
  flops = clar_model_flops (model, c.n_frames);
  peak = fma_peak (&isa);

  printf ("encoder_kernel %s\n", clar_encoder_kernel ());
  printf ("blas_core %s\n", r.core_name);
  printf ("blas_threads %d\n", r.n_threads);
  printf ("blas_fallback %d\n", r.is_fallback);
  if (warn[0])
    printf ("blas_warning %s\n", warn);
  printf ("window_samples %zu\n", c.n_samples);
  printf ("frames %zu\n", c.n_frames);
  printf ("mel_ms %.4f\n", t_mel * 1e3);
  printf ("mel_audio_s_per_s %.1f\n", c.n_samples / (double) info->mel.sample_rate / t_mel);
  printf ("encoder_mflop %.2f\n", flops * 1e-6);
  printf ("encoder_ms %.4f\n", t_enc * 1e3);
  printf ("encoder_gflops %.2f\n", flops / t_enc * 1e-9);
  printf ("fma_isa %s\n", isa);
  printf ("fma_peak_gflops %.1f\n", peak * 1e-9);
  if (peak > 0)
    printf ("encoder_peak_fraction %.3f\n", flops / t_enc / peak);
  printf ("encoder_fastest_call_ms %.4f\n", t_enc_min * 1e3);
  if (peak > 0)
    printf ("encoder_fastest_call_peak_fraction %.3f\n", flops / t_enc_min / peak);
  printf ("window_ms %.4f\n", (t_mel + t_enc) * 1e3);
  {
    /* The batched forward (clar_session_encode_batch, what clar_batcher
     * runs): fastest call of a batch of B windows, per window. */
    static const size_t bs[] = { 4, 16, 64 };
    const size_t MT = (size_t) info->mel.n_mels * c.n_frames;
    double t1 = fastest_call_cpu (run_encode, &c, 2000);
    /* Batch 1 by the same measure, for the comparison. */
    printf ("encoder_batch_1_fastest_cpu_ms_per_window %.4f\n", t1 * 1e3);
    if (peak > 0)
      printf ("encoder_batch_1_fastest_cpu_peak_fraction %.3f\n", flops / t1 / peak);
    for (size_t q = 0; q < sizeof bs / sizeof bs[0]; q++) {
      batch_ctx bc = { c.s, NULL, NULL, bs[q], c.n_frames };
      double t;
      bc.mel = malloc (bs[q] * MT * sizeof (float));
      bc.emb = malloc (bs[q] * info->embedding_dim * sizeof (float));
      for (size_t i = 0; i < bs[q] * MT; i++)
        bc.mel[i] = c.mel[i % MT];
      if (run_encode_batch (&bc) != 0) {
        fprintf (stderr, "batched forward failed\n");
        return 1;
      }
      t = fastest_call_cpu (run_encode_batch, &bc, bs[q] >= 64 ? 100 : 400) / bs[q];
      printf ("encoder_batch_%zu_fastest_cpu_ms_per_window %.4f\n", bs[q], t * 1e3);
      if (peak > 0)
        printf ("encoder_batch_%zu_fastest_cpu_peak_fraction %.3f\n", bs[q], flops / t / peak);
      if (bs[q] == 16) {
        t = time_calls (run_encode_batch, &bc, secs) / bs[q];
        printf ("encoder_batch_16_ms_per_window %.4f\n", t * 1e3);
      }
      free (bc.mel);
      free (bc.emb);
    }
  }

  {
    static const int counts[] = { 1, 8, 64 };
    for (size_t q = 0; q < sizeof counts / sizeof counts[0]; q++) {
      double per_core, p50, p99, mx, cp99;
      long nw;
      /* The same total audio for each count: about 200 x secs windows. */
      double audio = secs * 100.0 / counts[q] + 2.0;
      if (run_streams (model, counts[q], audio, &per_core, &p50, &p99, &mx, &cp99, &nw) != 0) {
        fprintf (stderr, "streams: failed\n");
        return 1;
      }
      printf ("streams_%d_per_core %.0f\n", counts[q], per_core);
      printf ("streams_%d_latency_ms p50 %.3f p99 %.3f max %.3f windows %ld\n", counts[q], p50,
          p99, mx, nw);
      /* The same windows in this thread's CPU time: the compute, without
       * the time other processes held the core. */
      printf ("streams_%d_cpu_p99_ms %.3f\n", counts[q], cp99);
    }
    /* Batched: one thread per stream, all on this CPU, one clar_batcher
     * (clarembed's defaults: max-batch 16, batch-wait 10 ms). */
    for (size_t q = 0; q < sizeof counts / sizeof counts[0]; q++) {
      double per_core, p50, p99, mx, mb;
      long nw;
      double audio = secs * 100.0 / counts[q] + 2.0;
      if (run_streams_batched (model, counts[q], audio, 16, 10 * 1000000u, &per_core, &p50,
              &p99, &mx, &mb, &nw) != 0) {
        fprintf (stderr, "batched streams: failed\n");
        return 1;
      }
      printf ("batched_streams_%d_per_core %.0f\n", counts[q], per_core);
      printf ("batched_streams_%d_latency_ms p50 %.3f p99 %.3f max %.3f windows %ld "
          "mean_batch %.1f\n", counts[q], p50, p99, mx, nw, mb);
    }
  }

  free (c.pcm);
  free (c.mel);
  free (c.emb);
  clar_session_free (c.s);
  clar_model_unref (model);
  return 0;
}
