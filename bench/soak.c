/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Soak test (issue 8): hours of generated audio through clarembed at full
 * speed (GstHarness, no clock), with messages and metas on as in a real
 * pipeline. Checks, and exits 1 if any fails:
 *  - resident memory (/proc/self/statm) after the warm-up stays within
 *    --rss-tolerance-kb of its value at the end of the warm-up (max - min of
 *    all samples taken after it);
 *  - no timestamp drift: every window's timestamp (message and meta) is
 *    exactly gst_util_uint64_scale (index * hop, GST_SECOND, rate), and the
 *    last window is the one the sample count predicts, at that exact PTS;
 *  - every window posted a message with a finite embedding.
 * Usage: soak [--hours H | --minutes M] [--model PATH] [--window-ms MS] [--hop-ms MS]
 *             [--warmup-min M] [--rss-tolerance-kb KB] [--buffer-ms MS]
 * Model: --model, else $CLAR_TEST_MODEL, else $CLAR_MODEL. Prints one line
 * per simulated hour and a summary (bench/README.md, "Soak"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gst/gst.h>
#include <gst/check/gstharness.h>
#include <clar/gstclarmeta.h>

#include "bench-util.h"

#define RATE 16000

/* AddressSanitizer keeps freed memory in quarantine (256 MB by default), so
 * resident memory grows by design: report it, do not judge it. */
#if defined(__SANITIZE_ADDRESS__)
#define SOAK_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_UNDER_ASAN 1
#endif
#endif

/* Generated audio: a tone whose pitch and level change every 7 s, over
 * low-level noise, with one second of silence every minute; deterministic
 * (xorshift noise), cheap (phase accumulator instead of sin(2 pi f t)). */
typedef struct {
  guint64 n;
  guint32 rng;
  double phase, freq, gain;
} Gen;

static void
gen_fill (Gen *g, gfloat *out, guint n)
{
  for (guint i = 0; i < n; i++, g->n++) {
    guint64 sec = g->n / RATE;
    if (g->n % (7 * RATE) == 0) {
      g->freq = 110.0 * pow (2.0, (double) ((g->n / (7 * RATE)) % 37) / 12.0);
      g->gain = 0.05 + 0.05 * (double) ((g->n / (7 * RATE)) % 9);
    }
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 17;
    g->rng ^= g->rng << 5;
    g->phase += g->freq / RATE;
    if (g->phase >= 1.0)
      g->phase -= 1.0;
    if (sec % 60 == 59)
      out[i] = 0.0f;
    else
      out[i] = (gfloat) (g->gain * sin (2 * G_PI * g->phase)
          + 0.01 * ((double) g->rng / 4294967296.0 - 0.5));
  }
}

int
main (int argc, char **argv)
{
  double minutes = 10, window_ms = 1000, hop_ms = 500, warmup_min = -1, buffer_ms = 100;
  long tol_kb = 1024;
  const gchar *model = g_getenv ("CLAR_TEST_MODEL");
  GstHarness *h;
  GstElement *e;
  GstBus *bus;
  gchar *desc;
  Gen gen = { 0, 2463534242u, 0, 0, 0 };
  guint64 total, pushed = 0, window_samples = 0, hop_samples, n_msgs = 0, n_metas = 0;
  guint64 bad_ts = 0, bad_emb = 0, last_index = 0, last_ts = 0, next_report;
  guint buf_samples;
  long rss_start = -1, rss_min = G_MAXLONG, rss_max = 0, rss_warm = -1;
  gint64 t0;
  int fail = 0;

  gst_init (&argc, &argv);
  if (!model || !*model)
    model = g_getenv ("CLAR_MODEL");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      fprintf (stderr, "soak: %s needs a value\n", a);
      return 2;
    }
    if (!strcmp (a, "--hours"))
      minutes = 60 * g_ascii_strtod (v, NULL);
    else if (!strcmp (a, "--minutes"))
      minutes = g_ascii_strtod (v, NULL);
    else if (!strcmp (a, "--model"))
      model = v;
    else if (!strcmp (a, "--window-ms"))
      window_ms = g_ascii_strtod (v, NULL);
    else if (!strcmp (a, "--hop-ms"))
      hop_ms = g_ascii_strtod (v, NULL);
    else if (!strcmp (a, "--warmup-min"))
      warmup_min = g_ascii_strtod (v, NULL);
    else if (!strcmp (a, "--rss-tolerance-kb"))
      tol_kb = strtol (v, NULL, 10);
    else if (!strcmp (a, "--buffer-ms"))
      buffer_ms = g_ascii_strtod (v, NULL);
    else {
      fprintf (stderr, "soak: unknown option %s (see the comment at the top of bench/soak.c)\n", a);
      return 2;
    }
    i++;
  }
  if (!model) {
    fprintf (stderr, "soak: no model (--model, CLAR_TEST_MODEL or CLAR_MODEL)\n");
    return 2;
  }
  if (minutes <= 0 || window_ms <= 0 || hop_ms <= 0 || buffer_ms <= 0 || tol_kb < 0) {
    fprintf (stderr, "soak: durations must be positive\n");
    return 2;
  }
  /* Default warm-up: a tenth of the run, at most 10 minutes of audio. */
  if (warmup_min < 0)
    warmup_min = MIN (minutes / 10, 10.0);

  desc = g_strdup_printf ("clarembed model-location=\"%s\" window-size=%" G_GUINT64_FORMAT
      " hop-size=%" G_GUINT64_FORMAT " attach-meta=true post-messages=true "
      "message-embedding=true", model, (guint64) (window_ms * GST_MSECOND),
      (guint64) (hop_ms * GST_MSECOND));
  h = gst_harness_new_parse (desc);
  g_free (desc);
  e = gst_harness_find_element (h, "clarembed");
  bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, "audio/x-raw,format=F32LE,rate=16000,channels=1,"
      "layout=interleaved");

  total = (guint64) (minutes * 60 * RATE);
  buf_samples = (guint) (buffer_ms * RATE / 1000);
  hop_samples = gst_util_uint64_scale_round ((guint64) (hop_ms * GST_MSECOND), RATE, GST_SECOND);
  window_samples = gst_util_uint64_scale_round ((guint64) (window_ms * GST_MSECOND), RATE,
      GST_SECOND);
  next_report = 3600ull * RATE;
  t0 = g_get_monotonic_time ();
  rss_start = rss_kb ();

  while (pushed < total) {
    guint n = (guint) MIN ((guint64) buf_samples, total - pushed);
    GstBuffer *b = gst_buffer_new_allocate (NULL, n * sizeof (gfloat), NULL);
    GstMapInfo map;
    GstMessage *m;
    gst_buffer_map (b, &map, GST_MAP_WRITE);
    gen_fill (&gen, (gfloat *) map.data, n);
    gst_buffer_unmap (b, &map);
    /* PTS from the sample offset, as a well-behaved source stamps them. */
    GST_BUFFER_PTS (b) = gst_util_uint64_scale (pushed, GST_SECOND, RATE);
    GST_BUFFER_DURATION (b) = gst_util_uint64_scale (pushed + n, GST_SECOND, RATE)
        - GST_BUFFER_PTS (b);
    pushed += n;
    if (gst_harness_push (h, b) != GST_FLOW_OK) {
      fprintf (stderr, "soak: push failed at %.1f s\n", (double) pushed / RATE);
      fail = 1;
      break;
    }
    while ((b = gst_harness_try_pull (h))) {
      GstClarMeta *cm = gst_buffer_get_clar_meta (b);
      if (cm) {
        n_metas++;
        if (cm->timestamp != gst_util_uint64_scale (cm->window_index * hop_samples, GST_SECOND,
                RATE))
          bad_ts++;
      }
      gst_buffer_unref (b);
    }
    while ((m = gst_bus_pop (bus))) {
      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT && gst_message_has_name (m, "clarembed")) {
        const GstStructure *s = gst_message_get_structure (m);
        const GValue *emb = gst_structure_get_value (s, "embedding");
        guint64 ts = 0, index = 0;
        gboolean silent = FALSE;
        gst_structure_get_uint64 (s, "timestamp", &ts);
        gst_structure_get_uint64 (s, "window-index", &index);
        gst_structure_get_boolean (s, "silent", &silent);
        if (ts != gst_util_uint64_scale (index * hop_samples, GST_SECOND, RATE))
          bad_ts++;
        if (!silent && (!emb || gst_value_array_get_size (emb) == 0
                || !isfinite (g_value_get_float (gst_value_array_get_value (emb, 0)))))
          bad_emb++;
        last_index = index;
        last_ts = ts;
        n_msgs++;
      } else if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR
          || GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING) {
        GError *err = NULL;
        if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR)
          gst_message_parse_error (m, &err, NULL);
        else
          gst_message_parse_warning (m, &err, NULL);
        fprintf (stderr, "soak: %s: %s\n", GST_MESSAGE_TYPE_NAME (m), err->message);
        g_error_free (err);
        fail = 1;
      }
      gst_message_unref (m);
    }
    /* RSS once per simulated minute (statm costs a syscall). */
    if (pushed % (60 * RATE) < n) {
      long r = rss_kb ();
      if ((double) pushed >= warmup_min * 60 * RATE) {
        if (rss_warm < 0)
          rss_warm = r;
        rss_min = MIN (rss_min, r);
        rss_max = MAX (rss_max, r);
      }
    }
    if (pushed >= next_report) {
      double wall = (g_get_monotonic_time () - t0) / 1e6;
      printf ("soak: %.0f h of audio, %.0f s wall, RSS %ld kB, %" G_GUINT64_FORMAT
          " windows\n", (double) pushed / RATE / 3600, wall, rss_kb (), n_msgs);
      fflush (stdout);
      next_report += 3600ull * RATE;
    }
  }
  {
    double wall = (g_get_monotonic_time () - t0) / 1e6;
    /* As the element rounds window-size to samples (configure_windows). */
    guint64 ws = window_samples, expect_windows, expect_ts;
    expect_windows = total >= ws ? (total - ws) / hop_samples + 1 : 0;
    expect_ts = expect_windows ? gst_util_uint64_scale ((expect_windows - 1) * hop_samples,
        GST_SECOND, RATE) : 0;
    printf ("soak: %.2f h of audio (%" G_GUINT64_FORMAT " samples) in %.1f s wall = %.0fx real "
        "time\n", (double) total / RATE / 3600, total, wall, (double) total / RATE / wall);
    printf ("soak: windows %" G_GUINT64_FORMAT " (expected %" G_GUINT64_FORMAT "), metas %"
        G_GUINT64_FORMAT ", last window index %" G_GUINT64_FORMAT " at %" GST_TIME_FORMAT
        " (expected %" GST_TIME_FORMAT "), timestamp mismatches %" G_GUINT64_FORMAT
        ", bad embeddings %" G_GUINT64_FORMAT "\n", n_msgs, expect_windows, n_metas,
        last_index, GST_TIME_ARGS (last_ts), GST_TIME_ARGS (expect_ts), bad_ts, bad_emb);
    printf ("soak: RSS start %ld kB, after %.1f min warm-up %ld kB, then min %ld max %ld kB "
        "(spread %ld kB, tolerance %ld kB)\n", rss_start, warmup_min, rss_warm,
        rss_min == G_MAXLONG ? -1 : rss_min, rss_max, rss_max - (rss_min == G_MAXLONG ? 0 : rss_min),
        tol_kb);
    if (n_msgs != expect_windows || last_ts != expect_ts || last_index + 1 != expect_windows) {
      fprintf (stderr, "soak: FAIL: window count or last timestamp differs\n");
      fail = 1;
    }
    if (bad_ts || bad_emb) {
      fprintf (stderr, "soak: FAIL: %" G_GUINT64_FORMAT " timestamp mismatches, %"
          G_GUINT64_FORMAT " bad embeddings\n", bad_ts, bad_emb);
      fail = 1;
    }
#ifdef SOAK_UNDER_ASAN
    printf ("soak: built with AddressSanitizer: RSS not checked\n");
#else
    if (rss_warm < 0 || rss_max - rss_min > tol_kb) {
      fprintf (stderr, "soak: FAIL: RSS not stable within %ld kB after the warm-up\n", tol_kb);
      fail = 1;
    }
#endif
  }
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
  gst_harness_teardown (h);
  printf ("soak: %s\n", fail ? "FAIL" : "PASS");
  return fail;
}
