/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The live policy in a real pipeline: audiotestsrc is-live=true feeds
 * clarembed, whose encoder is slowed to 2.5x real time by the test-hooks
 * build of the plugin (CLAR_TEST_SLOW_US, tests/elements/hooks/). The
 * element must skip windows rather than fall ever further behind: some
 * windows are skipped and reported (property, QoS, one warning), every
 * window is either computed or counted, and the computed ones keep exact
 * timestamps. Asserts no timings and no exact skip counts (those depend on
 * the machine). */
#include <string.h>
#include <gst/check/gstcheck.h>

#define RATE 16000
#define HOP (100 * GST_MSECOND)
#define N_BUFFERS 120        /* x 800 samples = 6 s */
#define SAMPLES_PER_BUFFER 800

GST_START_TEST (test_live_slow_encoder_skips)
{
  const gchar *model = g_getenv ("CLAR_TEST_MODEL");
  gchar *desc;
  GstElement *p, *e;
  GstBus *bus;
  GstMessage *m;
  gboolean eos = FALSE;
  guint n_windows = 0, n_qos = 0, n_warnings = 0;
  guint64 skipped = 0, qos_dropped = 0, qos_processed = 0, total, first_ts = 0;

  fail_unless (model != NULL, "CLAR_TEST_MODEL not set");
  /* 250 ms per computed window against 100 ms of audio per hop. */
  g_setenv ("CLAR_TEST_SLOW_US", "250000", TRUE);
  desc = g_strdup_printf ("audiotestsrc is-live=true wave=pink-noise samplesperbuffer=%d "
      "num-buffers=%d ! audio/x-raw,format=F32LE,rate=%d,channels=1 ! "
      "clarembed name=e model-location=\"%s\" hop-size=%" G_GUINT64_FORMAT
      " message-embedding=false ! fakesink sync=true", SAMPLES_PER_BUFFER, N_BUFFERS, RATE,
      model, (guint64) HOP);
  p = gst_parse_launch (desc, NULL);
  g_free (desc);
  fail_unless (p != NULL);
  e = gst_bin_get_by_name (GST_BIN (p), "e");
  bus = gst_element_get_bus (p);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  while (!eos && (m = gst_bus_timed_pop (bus, 60 * GST_SECOND))) {
    switch (GST_MESSAGE_TYPE (m)) {
      case GST_MESSAGE_EOS:
        eos = TRUE;
        break;
      case GST_MESSAGE_ERROR: {
        GError *err = NULL;
        gst_message_parse_error (m, &err, NULL);
        fail ("error: %s", err->message);
        break;
      }
      case GST_MESSAGE_WARNING:
        if (GST_MESSAGE_SRC (m) == GST_OBJECT (e))
          n_warnings++;
        break;
      case GST_MESSAGE_QOS:
        if (GST_MESSAGE_SRC (m) == GST_OBJECT (e)) {
          GstFormat fmt;
          n_qos++;
          gst_message_parse_qos_stats (m, &fmt, &qos_processed, &qos_dropped);
          fail_unless_equals_int (fmt, GST_FORMAT_DEFAULT);
        }
        break;
      case GST_MESSAGE_ELEMENT:
        if (gst_message_has_name (m, "clarembed")) {
          const GstStructure *s = gst_message_get_structure (m);
          guint64 ts = 0, index = 0;
          gboolean padded = FALSE;
          gst_structure_get_uint64 (s, "timestamp", &ts);
          gst_structure_get_uint64 (s, "window-index", &index);
          gst_structure_get_boolean (s, "padded", &padded);
          if (!padded) {
            /* Skipped windows keep their index: the timeline is intact.
             * (A live source starts at the running time it started at.) */
            if (n_windows == 0)
              first_ts = ts - index * HOP;
            fail_unless_equals_uint64 (ts - first_ts, index * HOP);
            n_windows++;
          }
        }
        break;
      default:
        break;
    }
    gst_message_unref (m);
  }
  fail_unless (eos, "no EOS");
  g_object_get (e, "windows-skipped", &skipped, NULL);
  gst_element_set_state (p, GST_STATE_NULL);
  /* 6 s, 1 s windows every 100 ms: 51 full windows. */
  total = (N_BUFFERS * SAMPLES_PER_BUFFER - RATE) / (RATE / 10) + 1;
  GST_INFO ("%u windows computed, %" G_GUINT64_FORMAT " skipped, %u QoS messages",
      n_windows, skipped, n_qos);
  fail_unless (skipped > 0, "the slowed encoder skipped nothing");
  fail_unless (n_windows > 0, "nothing was computed");
  fail_unless_equals_uint64 (n_windows + skipped, total);
  fail_unless (n_qos >= 1, "no QoS message");
  fail_unless (qos_dropped > 0 && qos_dropped <= skipped);
  fail_unless (qos_processed <= n_windows);
  fail_unless_equals_int (n_warnings, 1);
  gst_object_unref (bus);
  gst_object_unref (e);
  gst_object_unref (p);
  g_unsetenv ("CLAR_TEST_SLOW_US");
}
GST_END_TEST;

static Suite *
live_suite (void)
{
  Suite *s = suite_create ("clarembed-live");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_live_slow_encoder_skips);
  return s;
}

GST_CHECK_MAIN (live);
