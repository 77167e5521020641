/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* End-to-end figures of clarembed in real GStreamer pipelines, one process:
 *
 *  1. real-time factor of
 *       filesrc ! decodebin ! audioconvert ! audioresample ! clarembed ! fakesink
 *     on a long Ogg/Vorbis file (generated once), and of the same pipeline
 *     without clarembed;
 *  2. the element's cost above libclar's raw compute: a cheap source
 *     (audiotestsrc, already 16 kHz mono F32) into clarembed vs into identity,
 *     against the same number of windows through the libclar calls the
 *     element makes (log-mel, encoder, top-k labels), in 30 s segments run
 *     back to back (see main);
 *  3. latency from the arrival of the buffer holding a window's last sample
 *     to the window's message (bus sync handler), non-live and live;
 *  4. resident memory of each additional clarembed sharing the model, and
 *     how many times the model file was loaded.
 *
 *   bench-pipeline MODEL FILE [HOURS] [REPEATS]
 *
 * FILE is created (HOURS of pink noise and tones, 44.1 kHz stereo Vorbis) if
 * absent. Every whole-run time is the minimum over REPEATS alternating runs
 * (the shared machine only ever adds time). Run with GST_PLUGIN_PATH pointing at
 * the plugin and OPENBLAS_NUM_THREADS=1 (bench/bench-pipeline.sh does). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include <gst/gst.h>
#include <clar/clar.h>

#include "bench-util.h"

#define HOP_NS ((guint64) 500000000)   /* the hop: 0.5 s */

/* ---- model loads, counted from the cache's INFO lines ------------------ */
static gint model_loads = 0;

static void
count_loads (GstDebugCategory *cat, GstDebugLevel level, const gchar *file,
             const gchar *function, gint line, GObject *object,
             GstDebugMessage *message, gpointer user_data)
{
  if (level == GST_LEVEL_INFO && !strcmp (gst_debug_category_get_name (cat), "clarmodelcache")
      && g_str_has_prefix (gst_debug_message_get (message), "loaded model"))
    g_atomic_int_inc (&model_loads);
}

/* ---- latency: probe on clarembed's sink pad + bus sync handler --------- */
typedef struct {
  gint64 arrival_us;        /* when the buffer being processed arrived */
  GArray *latency_us;       /* per window message */
  guint windows;
} LatencyProbe;

static GstPadProbeReturn
on_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  LatencyProbe *lp = user_data;
  lp->arrival_us = g_get_monotonic_time ();
  return GST_PAD_PROBE_OK;
}

static GstBusSyncReply
on_sync_message (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  LatencyProbe *lp = user_data;
  /* The sync handler runs in the streaming thread that posts, at posting. */
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT
      && gst_structure_has_name (gst_message_get_structure (msg), "clarembed")) {
    gint64 d = g_get_monotonic_time () - lp->arrival_us;
    lp->windows++;
    if (lp->latency_us)
      g_array_append_val (lp->latency_us, d);
  }
  return GST_BUS_PASS;
}

typedef struct {
  double seconds;           /* wall */
  double cpu;               /* user+system of the whole process: every thread */
  guint windows;
  gboolean ok;
} RunResult;

static double
cpu_now (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec
      + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Runs a pipeline to EOS, draining the bus as an application would. If lp
 * is given, the element named "embed" gets the latency probe (a pad probe
 * on every buffer: it is left out of the runs that measure cost). */
static RunResult
run (const gchar *desc, LatencyProbe *lp, double timeout_s)
{
  RunResult r = { 0, 0, 0, FALSE };
  GError *error = NULL;
  GstElement *p = gst_parse_launch (desc, &error);
  GstBus *bus;
  LatencyProbe local = { 0 };
  double t0, c0;
  if (!p) {
    fprintf (stderr, "pipeline error: %s\n  %s\n", error ? error->message : "?", desc);
    g_clear_error (&error);
    return r;
  }
  if (lp) {
    GstElement *e = gst_bin_get_by_name (GST_BIN (p), "embed");
    if (e) {
      GstPad *pad = gst_element_get_static_pad (e, "sink");
      gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, lp, NULL);
      gst_object_unref (pad);
      gst_object_unref (e);
    }
  } else {
    lp = &local;
  }
  lp->windows = 0;
  bus = gst_element_get_bus (p);
  gst_bus_set_sync_handler (bus, on_sync_message, lp, NULL);
  /* Start the clock after preroll, so the model load and the first
   * buffers' negotiation are not counted as per-window cost. */
  gst_element_set_state (p, GST_STATE_PAUSED);
  gst_element_get_state (p, NULL, NULL, GST_CLOCK_TIME_NONE);
  t0 = bench_now ();
  c0 = cpu_now ();
  gst_element_set_state (p, GST_STATE_PLAYING);
  for (;;) {
    GstMessage *m = gst_bus_timed_pop (bus, (GstClockTime) (timeout_s * GST_SECOND));
    if (!m) {
      fprintf (stderr, "timeout after %.0f s: %s\n", timeout_s, desc);
      break;
    }
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS) {
      r.ok = TRUE;
      gst_message_unref (m);
      break;
    }
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
      GError *e = NULL;
      gst_message_parse_error (m, &e, NULL);
      fprintf (stderr, "error: %s\n  %s\n", e->message, desc);
      g_error_free (e);
      gst_message_unref (m);
      break;
    }
    gst_message_unref (m);
  }
  r.seconds = bench_now () - t0;
  r.cpu = cpu_now () - c0;
  r.windows = lp->windows;
  gst_element_set_state (p, GST_STATE_NULL);
  gst_bus_set_sync_handler (bus, NULL, NULL, NULL);
  gst_object_unref (bus);
  gst_object_unref (p);
  return r;
}

static int
cmp_i64 (const void *a, const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return (x > y) - (x < y);
}

static void
print_latency (const char *name, GArray *a)
{
  gint64 *v = (gint64 *) a->data;
  double sum = 0;
  if (a->len == 0) {
    printf ("%s_latency_windows 0\n", name);
    return;
  }
  qsort (v, a->len, sizeof *v, cmp_i64);
  for (guint i = 0; i < a->len; i++)
    sum += v[i];
  printf ("%s_latency_windows %u\n", name, a->len);
  printf ("%s_latency_mean_ms %.3f\n", name, sum / a->len * 1e-3);
  printf ("%s_latency_p50_ms %.3f\n", name, v[a->len / 2] * 1e-3);
  printf ("%s_latency_p99_ms %.3f\n", name, v[(size_t) (a->len * 0.99)] * 1e-3);
  printf ("%s_latency_max_ms %.3f\n", name, v[a->len - 1] * 1e-3);
}

/* libclar alone: what the element runs per window, a clar_stream at the
 * element's window and hop (log-mel frames shared with the previous window,
 * encoder, top-k over the model's labels), fed 30 s of noise in a loop
 * (fresh data each window, as in a stream, not one window kept hot in the
 * cache). */
typedef struct {
  clar_model *model;
  clar_stream *stream;
  float *pcm;
  size_t hop, total, pos;   /* pos: next sample of pcm to push */
} Raw;

static gboolean
raw_open (Raw *r, const char *model_path)
{
  clar_error err = { 0 };
  const clar_model_info *info;
  clar_stream_params p;
  memset (r, 0, sizeof *r);
  if (clar_model_load_file (model_path, &r->model, &err) != CLAR_OK) {
    fprintf (stderr, "%s\n", err.message);
    return FALSE;
  }
  info = clar_model_get_info (r->model);
  r->hop = (size_t) (HOP_NS * 1e-9 * info->mel.sample_rate);
  clar_stream_params_init (&p);
  p.hop_samples = r->hop;
  if (!(r->stream = clar_stream_new (r->model, &p, &err))) {
    fprintf (stderr, "%s\n", err.message);
    return FALSE;
  }
  r->total = 30 * (size_t) info->mel.sample_rate;
  r->pcm = malloc (r->total * sizeof (float));
  srand (3);
  for (size_t i = 0; i < r->total; i++)
    r->pcm[i] = 0.5f * ((float) rand () / RAND_MAX - 0.5f);
  return TRUE;
}

/* Seconds for n windows. */
static double
raw_run (Raw *r, guint n)
{
  clar_window_result res;
  double t0 = bench_now ();
  for (guint done = 0; done < n;) {
    size_t used, len = MIN (r->hop, r->total - r->pos);
    int ready = clar_stream_push_f32 (r->stream, r->pcm + r->pos, len, &used);
    r->pos = (r->pos + used) % r->total;
    if (ready == 1) {
      clar_stream_compute (r->stream, &res);
      done++;
    }
  }
  return bench_now () - t0;
}

static void
raw_close (Raw *r)
{
  free (r->pcm);
  clar_stream_free (r->stream);
  clar_model_unref (r->model);
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* The q-quantile of sorted v, by nearest rank. */
static double
quantile (const double *v, size_t n, double q)
{
  return v[(size_t) (q * (n - 1) + 0.5)];
}

static gboolean
make_file (const char *path, double hours)
{
  /* 100 ms buffers of pink noise plus a sine: decoding cost like real audio. */
  guint64 buffers = (guint64) (hours * 36000.0);
  gchar *desc = g_strdup_printf ("audiotestsrc wave=pink-noise volume=0.3 num-buffers=%" G_GUINT64_FORMAT
      " samplesperbuffer=4410 ! audio/x-raw,rate=44100,channels=2 ! audiomixer name=mix ! "
      "audioconvert ! vorbisenc quality=0.3 ! oggmux ! filesink location=%s "
      "audiotestsrc wave=sine freq=523 volume=0.1 num-buffers=%" G_GUINT64_FORMAT
      " samplesperbuffer=4410 ! audio/x-raw,rate=44100,channels=2 ! mix.", buffers, path, buffers);
  RunResult r;
  fprintf (stderr, "generating %.2f h of audio into %s ...\n", hours, path);
  r = run (desc, NULL, 3600);
  g_free (desc);
  if (!r.ok)
    unlink (path);
  else
    fprintf (stderr, "generated in %.1f s\n", r.seconds);
  return r.ok;
}

/* ---- the cost of posting one bus message ------------------------------ */
/* A GstBus wakes the thread waiting on it (gst_bus_timed_pop, or a main loop's
 * watch) by writing to a control fd when its queue goes from empty to
 * non-empty. Posting while that thread runs costs little; posting while it
 * sleeps, as it does between two windows ~1 ms apart, includes waking it: on
 * a virtual machine an inter-processor interrupt through the hypervisor.
 * The median over posts of an empty element message, with the reader asleep
 * (1 ms of spinning between posts) and running (posts back to back). */
typedef struct {
  GstBus *bus;
  gint stop;
} BusReader;

static gpointer
bus_reader (gpointer data)
{
  BusReader *r = data;
  while (!g_atomic_int_get (&r->stop)) {
    GstMessage *m = gst_bus_timed_pop (r->bus, 20 * GST_MSECOND);
    if (m)
      gst_message_unref (m);
  }
  return NULL;
}

static double
bus_post_us (BusReader *r, GstObject *src, double gap_us, int n)
{
  double *t = g_new (double, n), med;
  for (int i = 0; i < n; i++) {
    double until = bench_now () + gap_us * 1e-6, t0;
    while (bench_now () < until)
      ;
    t0 = bench_now ();
    gst_bus_post (r->bus, gst_message_new_element (src, gst_structure_new_empty ("bench")));
    t[i] = (bench_now () - t0) * 1e6;
  }
  qsort (t, n, sizeof (double), cmp_double);
  med = t[n / 2];
  g_free (t);
  return med;
}

int
main (int argc, char **argv)
{
  const char *model, *file;
  double hours, audio_s;
  int repeats;
  RunResult best_base = { 1e30, 1e30, 0, FALSE }, best_clar = { 1e30, 1e30, 0, FALSE };
  enum { IDENT, ELEM, QUIET, N_VARIANTS };
  static const char *variant_props[N_VARIANTS] = { NULL, "name=embed", "post-messages=false" };
  double *seg_pct, *seg_quiet_pct, *seg_cpu_pct, best_elem_cost = 1e30;
  /* Per window, the fastest segment of each: the shared machine only adds. */
  double min_wall[N_VARIANTS] = { 1e30, 1e30, 1e30 }, min_cpu = 1e30, min_cpu_ident = 1e30, min_raw = 1e30;
  guint elem_windows = 0, n_seg;
  Raw raw;
  LatencyProbe lp = { 0 };
  gchar *d_base, *d_clar, *d_syn[N_VARIANTS];
  guint64 seg_buffers;

  gst_init (&argc, &argv);
  if (argc < 3) {
    fprintf (stderr, "usage: %s MODEL FILE [HOURS] [REPEATS]\n", argv[0]);
    return 2;
  }
  model = argv[1];
  file = argv[2];
  hours = argc > 3 ? atof (argv[3]) : 1.0;
  repeats = argc > 4 ? atoi (argv[4]) : 2;
  if (hours <= 0 || repeats < 1)
    return 2;
  audio_s = hours * 3600.0;
  gst_debug_remove_log_function (gst_debug_log_default);
  gst_debug_add_log_function (count_loads, NULL, NULL);
  gst_debug_set_threshold_for_name ("clarmodelcache", GST_LEVEL_INFO);
  if (!gst_registry_check_feature_version (gst_registry_get (), "clarembed", 0, 0, 0)) {
    fprintf (stderr, "clarembed not found: set GST_PLUGIN_PATH to the build's plugin/ folder\n");
    return 1;
  }
  if (access (file, R_OK) != 0 && !make_file (file, hours))
    return 1;

  d_base = g_strdup_printf ("filesrc location=%s ! decodebin ! audioconvert ! audioresample ! "
      "audio/x-raw,format=F32LE,rate=16000,channels=1 ! fakesink sync=false", file);
  d_clar = g_strdup_printf ("filesrc location=%s ! decodebin ! audioconvert ! audioresample ! "
      "clarembed name=embed model-location=%s hop-size=%" G_GUINT64_FORMAT " ! fakesink sync=false",
      file, model, HOP_NS);

  /* The element's cost above libclar: the same hour from a source that
   * costs almost nothing (audiotestsrc, already 16 kHz mono F32), into
   * identity (the control), into clarembed with default properties (meta and
   * a bus message with the embedding per window, popped by this thread), and
   * into clarembed with post-messages=false; against the same windows
   * through libclar. The hour runs as SEG_S-second segments, the four
   * back to back on each: this shared machine's speed drifts by several
   * per cent over seconds (one hour-long run per variant gave overheads
   * from -2% to +11% between runs), so only measurements taken a fraction
   * of a second apart can be compared to the per cent. The figure is the
   * median over segments of each segment's overhead, with its quartiles;
   * timing starts after preroll, so pipeline set-up is not counted. */
  enum { SEG_S = 30 };
  n_seg = (guint) ceil (audio_s / SEG_S);
  seg_buffers = SEG_S * 10;
  for (int v = 0; v < N_VARIANTS; v++) {
    gchar *element = v == IDENT ? g_strdup ("identity")
        : g_strdup_printf ("clarembed %s model-location=%s hop-size=%" G_GUINT64_FORMAT,
            variant_props[v], model, HOP_NS);
    d_syn[v] = g_strdup_printf ("audiotestsrc wave=white-noise volume=0.5 num-buffers=%" G_GUINT64_FORMAT
        " samplesperbuffer=1600 ! audio/x-raw,format=F32LE,rate=16000,channels=1 ! %s ! "
        "fakesink sync=false", seg_buffers, element);
    g_free (element);
  }
  seg_pct = g_new0 (double, (gsize) n_seg * repeats);
  seg_quiet_pct = g_new0 (double, (gsize) n_seg * repeats);
  seg_cpu_pct = g_new0 (double, (gsize) n_seg * repeats);
  if (!raw_open (&raw, model))
    return 1;

  for (int k = 0; k < repeats; k++) {
    RunResult a = run (d_base, NULL, 7200), b = run (d_clar, NULL, 7200);
    double sum[N_VARIANTS] = { 0 }, sum_raw = 0;
    if (!a.ok || !b.ok)
      return 1;
    if (a.seconds < best_base.seconds) best_base = a;
    if (b.seconds < best_clar.seconds) best_clar = b;
    elem_windows = 0;
    for (guint seg = 0; seg < n_seg; seg++) {
      RunResult r[N_VARIANTS];
      double t_raw;
      gsize at = (gsize) k * n_seg + seg;
      for (int v = 0; v < N_VARIANTS; v++) {
        r[v] = run (d_syn[v], NULL, 600);
        if (!r[v].ok)
          return 1;
        sum[v] += r[v].seconds;
      }
      t_raw = raw_run (&raw, r[ELEM].windows);
      sum_raw += t_raw;
      elem_windows += r[ELEM].windows;
      seg_pct[at] = 100.0 * ((r[ELEM].seconds - r[IDENT].seconds) / t_raw - 1.0);
      seg_quiet_pct[at] = 100.0 * ((r[QUIET].seconds - r[IDENT].seconds) / t_raw - 1.0);
      /* libclar's loop runs on this one thread, so its CPU time is its wall
       * time; the pipelines' CPU time counts every thread, this one too. */
      seg_cpu_pct[at] = 100.0 * ((r[ELEM].cpu - r[IDENT].cpu) / t_raw - 1.0);
      for (int v = 0; v < N_VARIANTS; v++)
        min_wall[v] = MIN (min_wall[v], r[v].seconds / r[ELEM].windows);
      min_cpu = MIN (min_cpu, r[ELEM].cpu / r[ELEM].windows);
      min_cpu_ident = MIN (min_cpu_ident, r[IDENT].cpu / r[ELEM].windows);
      min_raw = MIN (min_raw, t_raw / r[ELEM].windows);
    }
    best_elem_cost = MIN (best_elem_cost, sum[ELEM] - sum[IDENT]);
    fprintf (stderr, "round %d: file %.2f / %.2f s; synthetic (%u x %d s) identity %.2f, "
        "clarembed %.2f, no messages %.2f, libclar %.2f s\n", k, a.seconds, b.seconds, n_seg,
        SEG_S, sum[IDENT], sum[ELEM], sum[QUIET], sum_raw);
  }
  raw_close (&raw);
  printf ("audio_hours %.2f\n", hours);
  printf ("hop_s %.2f\n", HOP_NS * 1e-9);
  printf ("file_windows %u\n", best_clar.windows);
  printf ("file_no_clarembed_s %.2f\n", best_base.seconds);
  printf ("file_with_clarembed_s %.2f\n", best_clar.seconds);
  printf ("file_rtf %.1f\n", audio_s / best_clar.seconds);
  printf ("file_streams_per_core %.0f\n", floor (audio_s / best_clar.seconds));
  printf ("element_windows %u\n", elem_windows);
  printf ("element_segments %u x %d s audio, %d rounds\n", n_seg, SEG_S, repeats);
  /* Two estimates. (1) Each variant's fastest segment, per window (a
   * minimum, as everywhere here). (2) The median over segments of each
   * segment's own overhead, with a distribution-free 95% confidence interval
   * (order statistics n/2 -+ 1.96 sqrt(n)/2). Wall time is the streaming
   * thread's, what limits a stream; CPU time of all threads adds this
   * application thread waking to pop and free each window's message. */
  printf ("per_window_ms identity %.4f clarembed %.4f no_messages %.4f libclar %.4f\n",
      min_wall[IDENT] * 1e3, min_wall[ELEM] * 1e3, min_wall[QUIET] * 1e3, min_raw * 1e3);
  printf ("element_overhead_pct %.1f\n",
      100.0 * ((min_wall[ELEM] - min_wall[IDENT]) / min_raw - 1.0));
  printf ("element_overhead_no_messages_pct %.1f\n",
      100.0 * ((min_wall[QUIET] - min_wall[IDENT]) / min_raw - 1.0));
  printf ("element_overhead_cpu_all_threads_pct %.1f\n",
      100.0 * ((min_cpu - min_cpu_ident) / min_raw - 1.0));
  {
    gsize n = (gsize) n_seg * repeats;
    const char *names[3] = { "element_overhead", "element_overhead_no_messages",
      "element_overhead_cpu_all_threads" };
    double *sets[3] = { seg_pct, seg_quiet_pct, seg_cpu_pct };
    double half = 1.96 * sqrt ((double) n) / 2.0;
    gsize lo = (gsize) MAX (0.0, floor (n / 2.0 - half)), hi = (gsize) MIN (n - 1.0, ceil (n / 2.0 + half));
    for (int i = 0; i < 3; i++) {
      qsort (sets[i], n, sizeof (double), cmp_double);
      printf ("%s_median_pct %.1f (95%% CI %.1f to %.1f, quartiles %.1f %.1f, %zu segments)\n",
          names[i], quantile (sets[i], n, 0.5), sets[i][lo], sets[i][hi],
          quantile (sets[i], n, 0.25), quantile (sets[i], n, 0.75), (size_t) n);
    }
  }
  printf ("live_streams_per_core %.0f\n", floor (audio_s / best_elem_cost));
  /* Latency in a pass of its own over the same segments, so that the probe
   * it needs does not weigh on the cost figures above. */
  lp.latency_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (guint seg = 0; seg < n_seg; seg++)
    if (!run (d_syn[ELEM], &lp, 600).ok)
      return 1;
  print_latency ("nonlive", lp.latency_us);
  g_array_free (lp.latency_us, TRUE);
  g_free (seg_pct);
  g_free (seg_quiet_pct);
  g_free (seg_cpu_pct);

  {
    BusReader r = { gst_bus_new (), 0 };
    GstElement *src = gst_element_factory_make ("identity", NULL);
    GThread *th = g_thread_new ("bus-reader", bus_reader, &r);
    double asleep, running;
    g_usleep (50000);
    asleep = bus_post_us (&r, GST_OBJECT (src), 1000, 2000);
    running = bus_post_us (&r, GST_OBJECT (src), 0, 2000);
    g_atomic_int_set (&r.stop, 1);
    g_thread_join (th);
    printf ("bus_post_us reader_asleep %.2f reader_running %.2f\n", asleep, running);
    gst_object_unref (r.bus);
    gst_object_unref (src);
  }

  /* Live: 10 ms buffers from a live source, as a microphone delivers. */
  {
    gchar *d_live = g_strdup_printf ("audiotestsrc is-live=true wave=white-noise volume=0.5 "
        "samplesperbuffer=160 num-buffers=1000 ! audio/x-raw,format=F32LE,rate=16000,channels=1 ! "
        "clarembed name=embed model-location=%s hop-size=%" G_GUINT64_FORMAT " ! fakesink",
        model, HOP_NS);
    LatencyProbe live = { 0 };
    live.latency_us = g_array_new (FALSE, FALSE, sizeof (gint64));
    if (!run (d_live, &live, 60).ok)
      return 1;
    print_latency ("live", live.latency_us);
    g_array_free (live.latency_us, TRUE);
    g_free (d_live);
  }

  /* Memory: pipelines left in PLAYING after their stream, so each
   * element keeps its session; identity pipelines are the control. */
  {
    enum { EXTRA = 10 };
    GstElement *p[2][1 + EXTRA];
    long rss[2][2];
    gint loads_before = g_atomic_int_get (&model_loads);
    for (int kind = 0; kind < 2; kind++) {
      for (int i = 0; i < 1 + EXTRA; i++) {
        gchar *desc = g_strdup_printf ("audiotestsrc num-buffers=30 samplesperbuffer=1600 ! "
            "audio/x-raw,format=F32LE,rate=16000,channels=1 ! %s%s ! fakesink sync=false",
            kind ? "clarembed model-location=" : "identity", kind ? model : "");
        GstBus *bus;
        GstMessage *m;
        p[kind][i] = gst_parse_launch (desc, NULL);
        g_free (desc);
        gst_element_set_state (p[kind][i], GST_STATE_PLAYING);
        bus = gst_element_get_bus (p[kind][i]);
        m = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
        if (m)
          gst_message_unref (m);
        gst_object_unref (bus);
        if (i == 0)
          rss[kind][0] = rss_kb ();
      }
      rss[kind][1] = rss_kb ();
    }
    printf ("rss_per_extra_identity_pipeline_kb %.0f\n", (rss[0][1] - rss[0][0]) / (double) EXTRA);
    printf ("rss_per_extra_clarembed_pipeline_kb %.0f\n", (rss[1][1] - rss[1][0]) / (double) EXTRA);
    printf ("rss_per_extra_clarembed_kb %.0f\n",
        ((rss[1][1] - rss[1][0]) - (rss[0][1] - rss[0][0])) / (double) EXTRA);
    printf ("clarembed_instances %d\n", 1 + EXTRA);
    printf ("model_loads_for_instances %d\n", g_atomic_int_get (&model_loads) - loads_before);
    for (int kind = 0; kind < 2; kind++)
      for (int i = 0; i < 1 + EXTRA; i++) {
        gst_element_set_state (p[kind][i], GST_STATE_NULL);
        gst_object_unref (p[kind][i]);
      }
  }

  g_free (d_base);
  g_free (d_clar);
  for (int v = 0; v < N_VARIANTS; v++)
    g_free (d_syn[v]);
  return 0;
}
