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
 *     element makes (log-mel, encoder, top-k labels);
 *  3. latency from the arrival of the buffer holding a window's last sample
 *     to the window's message (bus sync handler), non-live and live;
 *  4. resident memory of each additional clarembed sharing the model, and
 *     how many times the model file was loaded.
 *
 *   bench-pipeline MODEL FILE [HOURS] [REPEATS]
 *
 * FILE is created (HOURS of pink noise and tones, 44.1 kHz stereo Vorbis) if
 * absent. Every time is the minimum over REPEATS alternating runs (the
 * shared machine only ever adds time). Run with GST_PLUGIN_PATH pointing at
 * the plugin and OPENBLAS_NUM_THREADS=1 (bench/bench-pipeline.sh does). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gst/gst.h>
#include <clar/clar.h>

#define HOP_NS ((guint64) 500000000)   /* the hop: 0.5 s */

static double
now (void)
{
  return g_get_monotonic_time () * 1e-6;
}

static long
rss_kb (void)
{
  long pages = 0, resident = 0;
  FILE *f = fopen ("/proc/self/statm", "r");
  if (!f)
    return -1;
  if (fscanf (f, "%ld %ld", &pages, &resident) != 2)
    resident = -1;
  fclose (f);
  return resident * (sysconf (_SC_PAGESIZE) / 1024);
}

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
  double seconds;
  guint windows;
  gboolean ok;
} RunResult;

/* Runs a pipeline to EOS, draining the bus as an application would. If lp
 * is given, the element named "embed" gets the latency probe. */
static RunResult
run (const gchar *desc, LatencyProbe *lp, double timeout_s)
{
  RunResult r = { 0, 0, FALSE };
  GError *error = NULL;
  GstElement *p = gst_parse_launch (desc, &error);
  GstBus *bus;
  LatencyProbe local = { 0 };
  double t0;
  if (!p) {
    fprintf (stderr, "pipeline error: %s\n  %s\n", error ? error->message : "?", desc);
    g_clear_error (&error);
    return r;
  }
  if (!lp)
    lp = &local;
  lp->windows = 0;
  {
    GstElement *e = gst_bin_get_by_name (GST_BIN (p), "embed");
    if (e) {
      GstPad *pad = gst_element_get_static_pad (e, "sink");
      gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, lp, NULL);
      gst_object_unref (pad);
      gst_object_unref (e);
    }
  }
  bus = gst_element_get_bus (p);
  gst_bus_set_sync_handler (bus, on_sync_message, lp, NULL);
  t0 = now ();
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
  r.seconds = now () - t0;
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

/* libclar alone: what the element computes per window (log-mel, encoder,
 * top-k over the model's labels), for n windows taken at the element's hop
 * from 30 s of noise (fresh data each window, as in a stream, not one window
 * kept hot in the cache). */
static double
raw_compute (const char *model_path, guint n)
{
  clar_error err = { 0 };
  clar_model *model = NULL;
  clar_session *s;
  const clar_model_info *info;
  float *pcm, *mel, *emb;
  clar_label_score top[5];
  size_t T, win, hop, total, n_pos;
  double t0, dt;
  if (clar_model_load_file (model_path, &model, &err) != CLAR_OK) {
    fprintf (stderr, "%s\n", err.message);
    return -1;
  }
  info = clar_model_get_info (model);
  s = clar_session_new (model, &err);
  win = info->window_samples;
  hop = (size_t) (HOP_NS * 1e-9 * info->mel.sample_rate);
  total = 30 * (size_t) info->mel.sample_rate;
  n_pos = (total - win) / hop + 1;
  T = clar_session_n_frames (s, win);
  pcm = malloc (total * sizeof (float));
  mel = malloc ((size_t) info->mel.n_mels * T * sizeof (float));
  emb = malloc (info->embedding_dim * sizeof (float));
  srand (3);
  for (size_t i = 0; i < total; i++)
    pcm[i] = 0.5f * ((float) rand () / RAND_MAX - 0.5f);
  t0 = now ();
  for (guint i = 0; i < n; i++) {
    const float *w = pcm + (i % n_pos) * hop;
    clar_session_pcm_to_mel (s, w, win, mel, T);
    clar_session_encode (s, mel, T, emb);
    if (clar_model_get_labels (model))
      clar_labels_top_k (clar_model_get_labels (model), emb, 3, 0.0f, top);
  }
  dt = now () - t0;
  free (pcm);
  free (mel);
  free (emb);
  clar_session_free (s);
  clar_model_unref (model);
  return dt;
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

int
main (int argc, char **argv)
{
  const char *model, *file;
  double hours, audio_s, t_raw = 1e30;
  int repeats;
  RunResult best_base = { 1e30, 0, FALSE }, best_clar = { 1e30, 0, FALSE };
  RunResult best_ident = { 1e30, 0, FALSE }, best_elem = { 1e30, 0, FALSE };
  RunResult best_quiet = { 1e30, 0, FALSE };
  LatencyProbe lp = { 0 };
  gchar *d_base, *d_clar, *d_ident, *d_elem, *d_quiet;
  guint64 syn_buffers;

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
  /* The same duration from a source that costs almost nothing. */
  syn_buffers = (guint64) (audio_s * 10.0);
  d_ident = g_strdup_printf ("audiotestsrc wave=white-noise volume=0.5 num-buffers=%" G_GUINT64_FORMAT
      " samplesperbuffer=1600 ! audio/x-raw,format=F32LE,rate=16000,channels=1 ! identity ! "
      "fakesink sync=false", syn_buffers);
  d_elem = g_strdup_printf ("audiotestsrc wave=white-noise volume=0.5 num-buffers=%" G_GUINT64_FORMAT
      " samplesperbuffer=1600 ! audio/x-raw,format=F32LE,rate=16000,channels=1 ! "
      "clarembed name=embed model-location=%s hop-size=%" G_GUINT64_FORMAT " ! fakesink sync=false",
      syn_buffers, model, HOP_NS);

  /* The same with post-messages=false: the share of bus posting (a
   * message per window wakes the application's thread). */
  d_quiet = g_strdup_printf ("audiotestsrc wave=white-noise volume=0.5 num-buffers=%" G_GUINT64_FORMAT
      " samplesperbuffer=1600 ! audio/x-raw,format=F32LE,rate=16000,channels=1 ! "
      "clarembed post-messages=false model-location=%s hop-size=%" G_GUINT64_FORMAT " ! fakesink sync=false",
      syn_buffers, model, HOP_NS);

  for (int k = 0; k < repeats; k++) {
    RunResult a = run (d_base, NULL, 7200), b = run (d_clar, NULL, 7200);
    RunResult c = run (d_ident, NULL, 7200), d;
    if (k == repeats - 1) {
      lp.latency_us = g_array_new (FALSE, FALSE, sizeof (gint64));
      d = run (d_elem, &lp, 7200);
    } else {
      d = run (d_elem, NULL, 7200);
    }
    if (!a.ok || !b.ok || !c.ok || !d.ok)
      return 1;
    if (a.seconds < best_base.seconds) best_base = a;
    if (b.seconds < best_clar.seconds) best_clar = b;
    if (c.seconds < best_ident.seconds) best_ident = c;
    if (d.seconds < best_elem.seconds) best_elem = d;
    {
      RunResult q = run (d_quiet, NULL, 7200);
      if (!q.ok)
        return 1;
      if (q.seconds < best_quiet.seconds) best_quiet = q;
    }
    {
      double raw = raw_compute (model, d.windows);
      if (raw < 0)
        return 1;
      if (raw < t_raw)
        t_raw = raw;
    }
    fprintf (stderr, "round %d: file %.2f / %.2f s, synthetic %.2f / %.2f s, raw so far %.2f s\n", k,
        a.seconds, b.seconds, c.seconds, d.seconds, t_raw);
  }

  printf ("audio_hours %.2f\n", hours);
  printf ("hop_s %.2f\n", HOP_NS * 1e-9);
  printf ("file_windows %u\n", best_clar.windows);
  printf ("file_no_clarembed_s %.2f\n", best_base.seconds);
  printf ("file_with_clarembed_s %.2f\n", best_clar.seconds);
  printf ("file_rtf %.1f\n", audio_s / best_clar.seconds);
  printf ("file_streams_per_core %.0f\n", floor (audio_s / best_clar.seconds));
  printf ("element_windows %u\n", best_elem.windows);
  printf ("element_identity_s %.3f\n", best_ident.seconds);
  printf ("element_clarembed_s %.3f\n", best_elem.seconds);
  printf ("element_cost_s %.3f\n", best_elem.seconds - best_ident.seconds);
  printf ("libclar_raw_s %.3f\n", t_raw);
  printf ("element_overhead_pct %.1f\n", 100.0 * ((best_elem.seconds - best_ident.seconds) / t_raw - 1.0));
  printf ("element_no_messages_s %.3f\n", best_quiet.seconds);
  printf ("element_overhead_no_messages_pct %.1f\n",
      100.0 * ((best_quiet.seconds - best_ident.seconds) / t_raw - 1.0));
  printf ("live_streams_per_core %.0f\n", floor (audio_s / (best_elem.seconds - best_ident.seconds)));
  print_latency ("nonlive", lp.latency_us);
  g_array_free (lp.latency_us, TRUE);

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
  g_free (d_ident);
  g_free (d_elem);
  g_free (d_quiet);
  return 0;
}
