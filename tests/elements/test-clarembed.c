/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clarembed with GstHarness: windows, timestamps, meta, messages, passthrough,
 * EOS/DISCONT rules, caps and model errors. */
#include <math.h>
#include <string.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>
#include <clar/gstclarmeta.h>

#include "clar-harness.h"

/* Pushes n samples (F32) with contiguous timestamps; returns the buffer pushed. */
static GstFlowReturn
push_f32 (Fixture *f, guint n, guint32 flags, GstBuffer **copy_out)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, n * sizeof (gfloat), NULL);
  GstMapInfo map;
  gst_buffer_map (b, &map, GST_MAP_WRITE);
  for (guint i = 0; i < n; i++)
    ((gfloat *) map.data)[i] = signal_at (f->pushed + i);
  gst_buffer_unmap (b, &map);
  GST_BUFFER_PTS (b) = f->base + gst_util_uint64_scale (f->pushed, GST_SECOND, RATE);
  GST_BUFFER_DURATION (b) = gst_util_uint64_scale (n, GST_SECOND, RATE);
  GST_BUFFER_OFFSET (b) = f->pushed;
  GST_BUFFER_FLAG_SET (b, flags);
  f->pushed += n;
  if (copy_out)
    *copy_out = gst_buffer_copy_deep (b);
  return gst_harness_push (f->h, b);
}

/* Collects all "clarembed" messages currently on the bus. */
static GList *
pop_messages (Fixture *f)
{
  return pop_named_messages (f, "clarembed");
}

static gboolean
msg_bool (GstMessage *m, const gchar *field)
{
  gboolean v = FALSE;
  gst_structure_get_boolean (gst_message_get_structure (m), field, &v);
  return v;
}

GST_START_TEST (test_windows_and_timestamps)
{
  /* 1 s windows every 0.5 s over 3.3 s pushed in odd 1234-sample buffers,
   * starting at PTS 10 s: full windows at 10.0 .. 12.0, then a padded one at
   * 12.5 holding 0.8 s at EOS. */
  Fixture f = setup (F32_CAPS, "window-size=1000000000 hop-size=500000000");
  GList *msgs, *l;
  guint i = 0, n_meta = 0;
  f.base = 10 * GST_SECOND;
  while (f.pushed < 52800) {
    guint n = MIN (1234, 52800 - f.pushed);
    fail_unless_equals_int (push_f32 (&f, n, 0, NULL), GST_FLOW_OK);
  }
  gst_harness_push_event (f.h, gst_event_new_eos ());
  for (GstBuffer *b; (b = gst_harness_try_pull (f.h)); gst_buffer_unref (b)) {
    gpointer st = NULL;
    GstMeta *m;
    while ((m = gst_buffer_iterate_meta_filtered (b, &st, GST_CLAR_META_API_TYPE))) {
      GstClarMeta *cm = (GstClarMeta *) m;
      /* The meta sits on the buffer holding the window's last sample. */
      guint64 last = gst_util_uint64_scale (cm->timestamp - f.base, RATE, GST_SECOND) + RATE - 1;
      fail_unless (last >= GST_BUFFER_OFFSET (b));
      fail_unless (last < GST_BUFFER_OFFSET (b) + gst_buffer_get_size (b) / 4);
      fail_unless_equals_uint64 (cm->timestamp, f.base + n_meta * GST_SECOND / 2);
      fail_unless_equals_uint64 (cm->duration, GST_SECOND);
      fail_unless_equals_int (cm->n_dims, 128);
      fail_unless (cm->n_labels == 3 && cm->labels[0].score >= cm->labels[1].score);
      n_meta++;
    }
  }
  fail_unless_equals_int (n_meta, 5);
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 6);
  for (l = msgs; l; l = l->next, i++) {
    GstMessage *m = l->data;
    const GstStructure *s = gst_message_get_structure (m);
    const GValue *emb = gst_structure_get_value (s, "embedding");
    const GValue *labels = gst_structure_get_value (s, "labels");
    fail_unless_equals_uint64 (msg_u64 (m, "timestamp"), f.base + i * GST_SECOND / 2);
    fail_unless_equals_uint64 (msg_u64 (m, "window-index"), i);
    fail_unless_equals_uint64 (msg_u64 (m, "duration"), GST_SECOND);
    fail_unless_equals_int (msg_bool (m, "padded"), i == 5);
    fail_unless (emb && gst_value_array_get_size (emb) == 128);
    fail_unless (labels && gst_value_array_get_size (labels) == 3);
    {
      double nn = 0;
      for (guint k = 0; k < 128; k++) {
        float x = g_value_get_float (gst_value_array_get_value (emb, k));
        nn += x * x;
      }
      fail_unless (fabs (nn - 1.0) < 1e-4, "embedding norm^2 %g", nn);
    }
  }
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_passthrough_bit_identical)
{
  Fixture f = setup (F32_CAPS, NULL);
  for (int i = 0; i < 20; i++) {
    GstBuffer *in, *out;
    GstMapInfo a, b;
    fail_unless_equals_int (push_f32 (&f, 1500, 0, &in), GST_FLOW_OK);
    out = gst_harness_pull (f.h);
    gst_buffer_map (in, &a, GST_MAP_READ);
    gst_buffer_map (out, &b, GST_MAP_READ);
    fail_unless (a.size == b.size && memcmp (a.data, b.data, a.size) == 0);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (in), GST_BUFFER_PTS (out));
    gst_buffer_unmap (in, &a);
    gst_buffer_unmap (out, &b);
    gst_buffer_unref (in);
    gst_buffer_unref (out);
  }
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_meta_deep_copy)
{
  Fixture f = setup (F32_CAPS, "top-k=2");
  GstBuffer *b, *c;
  GstClarMeta *m, *mc;
  fail_unless_equals_int (push_f32 (&f, 16000, 0, NULL), GST_FLOW_OK);
  b = gst_harness_pull (f.h);
  m = gst_buffer_get_clar_meta (b);
  fail_unless (m != NULL);
  fail_unless_equals_int (m->n_labels, 2);
  c = gst_buffer_copy (b);
  mc = gst_buffer_get_clar_meta (c);
  fail_unless (mc != NULL && mc != m);
  fail_unless (mc->embedding != m->embedding && mc->labels != m->labels);
  fail_unless (memcmp (mc->embedding, m->embedding, 128 * sizeof (gfloat)) == 0);
  fail_unless_equals_string (mc->labels[0].name, m->labels[0].name);
  fail_unless (mc->labels[0].name != m->labels[0].name);
  gst_buffer_unref (b);
  fail_unless_equals_float (mc->embedding[0], mc->embedding[0]);  /* still valid */
  gst_buffer_unref (c);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_no_meta_when_disabled)
{
  Fixture f = setup (F32_CAPS, "attach-meta=false post-messages=false");
  GstBuffer *b;
  GList *msgs;
  fail_unless_equals_int (push_f32 (&f, 16000, 0, NULL), GST_FLOW_OK);
  b = gst_harness_pull (f.h);
  fail_unless (gst_buffer_get_clar_meta (b) == NULL);
  gst_buffer_unref (b);
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 0);
  teardown (&f);
}
GST_END_TEST;

static guint
count_after_eos (guint total, const gchar *props)
{
  Fixture f = setup (F32_CAPS, props);
  GList *msgs;
  guint n;
  fail_unless_equals_int (push_f32 (&f, total, 0, NULL), GST_FLOW_OK);
  gst_harness_push_event (f.h, gst_event_new_eos ());
  msgs = pop_messages (&f);
  n = g_list_length (msgs);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
  return n;
}

GST_START_TEST (test_eos_flush_rule)
{
  /* 1.4 s with 1 s windows every 1 s: 0.4 s left over. */
  fail_unless_equals_int (count_after_eos (22400, "hop-size=1000000000"), 1);
  fail_unless_equals_int (count_after_eos (22400, "hop-size=1000000000 eos-min-fill=0.3"), 2);
  /* 0.6 s left over: flushed with the default rule (>= half a window). */
  fail_unless_equals_int (count_after_eos (25600, "hop-size=1000000000"), 2);
  fail_unless_equals_int (count_after_eos (25600, "hop-size=1000000000 eos-min-fill=1.0"), 1);
  /* Less than a window in total. */
  fail_unless_equals_int (count_after_eos (4000, NULL), 0);
}
GST_END_TEST;

GST_START_TEST (test_discont_resets)
{
  Fixture f = setup (F32_CAPS, "hop-size=1000000000");
  GList *msgs;
  f.base = 0;
  fail_unless_equals_int (push_f32 (&f, 11200, 0, NULL), GST_FLOW_OK);   /* 0.7 s */
  /* Jump to 100 s with DISCONT: the 0.7 s window is flushed, counting restarts. */
  f.base = 100 * GST_SECOND - gst_util_uint64_scale (f.pushed, GST_SECOND, RATE);
  fail_unless_equals_int (push_f32 (&f, 19200, GST_BUFFER_FLAG_DISCONT, NULL), GST_FLOW_OK);
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 2);
  fail_unless_equals_uint64 (msg_u64 (g_list_nth_data (msgs, 0), "timestamp"), 0);
  fail_unless (msg_bool (g_list_nth_data (msgs, 0), "padded"));
  fail_unless_equals_uint64 (msg_u64 (g_list_nth_data (msgs, 1), "timestamp"), 100 * GST_SECOND);
  fail_unless_equals_uint64 (msg_u64 (g_list_nth_data (msgs, 1), "window-index"), 0);
  fail_unless (!msg_bool (g_list_nth_data (msgs, 1), "padded"));
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  /* A timestamp jump without the flag is treated the same way. */
  f.base += 5 * GST_SECOND;
  fail_unless_equals_int (push_f32 (&f, 16000, 0, NULL), GST_FLOW_OK);
  msgs = pop_messages (&f);
  /* The 0.2 s left before the jump is under half a window: dropped. */
  fail_unless_equals_int (g_list_length (msgs), 1);
  fail_unless_equals_uint64 (msg_u64 (msgs->data, "timestamp"), 106200 * GST_MSECOND);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_flush_resets)
{
  Fixture f = setup (F32_CAPS, "hop-size=1000000000");
  GList *msgs;
  fail_unless_equals_int (push_f32 (&f, 12000, 0, NULL), GST_FLOW_OK);
  gst_harness_push_event (f.h, gst_event_new_flush_start ());
  gst_harness_push_event (f.h, gst_event_new_flush_stop (TRUE));
  {
    GstSegment seg;
    gst_segment_init (&seg, GST_FORMAT_TIME);
    gst_harness_push_event (f.h, gst_event_new_segment (&seg));
  }
  f.base = 50 * GST_SECOND - gst_util_uint64_scale (f.pushed, GST_SECOND, RATE);
  fail_unless_equals_int (push_f32 (&f, 16000, 0, NULL), GST_FLOW_OK);
  msgs = pop_messages (&f);
  /* The 0.75 s before the flush is discarded (not flushed): one window at 50 s. */
  fail_unless_equals_int (g_list_length (msgs), 1);
  fail_unless_equals_uint64 (msg_u64 (msgs->data, "timestamp"), 50 * GST_SECOND);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_s16_matches_f32)
{
  Fixture a = setup (F32_CAPS, NULL), b = setup (S16_CAPS, NULL);
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 16000 * 2, NULL), *oa, *ob;
  GstMapInfo map;
  GstClarMeta *ma, *mb;
  double dot = 0;
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (guint i = 0; i < 16000; i++)
    ((gint16 *) map.data)[i] = (gint16) lrint (signal_at (i) * 32767);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = 0;
  fail_unless_equals_int (gst_harness_push (b.h, buf), GST_FLOW_OK);
  fail_unless_equals_int (push_f32 (&a, 16000, 0, NULL), GST_FLOW_OK);
  oa = gst_harness_pull (a.h);
  ob = gst_harness_pull (b.h);
  ma = gst_buffer_get_clar_meta (oa);
  mb = gst_buffer_get_clar_meta (ob);
  fail_unless (ma && mb);
  for (int i = 0; i < 128; i++)
    dot += ma->embedding[i] * mb->embedding[i];
  fail_unless (dot > 0.999, "cosine %f", dot);
  gst_buffer_unref (oa);
  gst_buffer_unref (ob);
  teardown (&a);
  teardown (&b);
}
GST_END_TEST;

GST_START_TEST (test_nonfinite_window_skipped)
{
  Fixture f = setup (F32_CAPS, "hop-size=1000000000");
  GstBuffer *b = gst_buffer_new_allocate (NULL, 16000 * 4, NULL);
  GstMapInfo map;
  GList *msgs;
  gst_buffer_map (b, &map, GST_MAP_WRITE);
  for (guint i = 0; i < 16000; i++)
    ((gfloat *) map.data)[i] = i == 777 ? NAN : (i == 778 ? INFINITY : signal_at (i));
  gst_buffer_unmap (b, &map);
  GST_BUFFER_PTS (b) = 0;
  f.pushed = 16000;
  fail_unless_equals_int (gst_harness_push (f.h, b), GST_FLOW_OK);
  fail_unless_equals_int (push_f32 (&f, 16000, 0, NULL), GST_FLOW_OK);   /* clean */
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 1);
  fail_unless_equals_uint64 (msg_u64 (msgs->data, "timestamp"), GST_SECOND);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_silence_min_rms)
{
  Fixture f = setup (F32_CAPS, "min-rms=0.01 hop-size=1000000000");
  GstBuffer *b = gst_buffer_new_allocate (NULL, 16000 * 4, NULL), *out;
  GList *msgs;
  gst_buffer_memset (b, 0, 0, 16000 * 4);
  GST_BUFFER_PTS (b) = 0;
  fail_unless_equals_int (gst_harness_push (f.h, b), GST_FLOW_OK);
  out = gst_harness_pull (f.h);
  fail_unless (gst_buffer_get_clar_meta (out) == NULL);
  gst_buffer_unref (out);
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 1);
  fail_unless (msg_bool (msgs->data, "silent"));
  /* Empty arrays are left out (GStreamer would print them as "(int)< >"). */
  fail_unless (!gst_structure_has_field (gst_message_get_structure (msgs->data), "labels"));
  fail_unless (!gst_structure_has_field (gst_message_get_structure (msgs->data), "embedding"));
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

static gchar *
error_text (GstBus *bus, GstMessageType type)
{
  GstMessage *m = gst_bus_pop_filtered (bus, type);
  GError *e = NULL;
  gchar *dbg = NULL, *res;
  if (!m)
    return NULL;
  if (type == GST_MESSAGE_ERROR)
    gst_message_parse_error (m, &e, &dbg);
  else
    gst_message_parse_warning (m, &e, &dbg);
  res = g_strdup_printf ("%s | %s", e->message, dbg ? dbg : "");
  g_error_free (e);
  g_free (dbg);
  gst_message_unref (m);
  return res;
}

GST_START_TEST (test_bad_model_errors)
{
  gchar *path = g_build_filename (g_get_tmp_dir (), "clar-bad-model.safetensors", NULL);
  GstElement *e = gst_element_factory_make ("clarembed", NULL);
  GstBus *bus = gst_bus_new ();
  gchar *text;
  g_file_set_contents (path, "\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13, NULL);
  gst_element_set_bus (e, bus);
  g_object_set (e, "model-location", path, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  text = error_text (bus, GST_MESSAGE_ERROR);
  fail_unless (text && strstr (text, "Could not load the clar model") && strstr (text, "announces"),
      "error was: %s", text);
  g_free (text);
  gst_element_set_state (e, GST_STATE_NULL);
  g_object_set (e, "model-location", "/nonexistent/dir/m.safetensors", NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  text = error_text (bus, GST_MESSAGE_ERROR);
  fail_unless (text && strstr (text, "No such file"), "error was: %s", text);
  g_free (text);
  gst_element_set_state (e, GST_STATE_NULL);
  /* A label file that does not exist. */
  g_object_set (e, "model-location", model_path (), "labels-location", path, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  text = error_text (bus, GST_MESSAGE_ERROR);
  fail_unless (text && strstr (text, "label set"), "error was: %s", text);
  g_free (text);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
  g_unlink (path);
  g_free (path);
}
GST_END_TEST;

GST_START_TEST (test_caps_rejected)
{
  GstElement *e = gst_element_factory_make ("clarembed", NULL);
  GstBus *bus = gst_bus_new ();
  GstPad *sink = gst_element_get_static_pad (e, "sink");
  GstCaps *caps = gst_caps_from_string (
      "audio/x-raw,format=F32LE,rate=44100,channels=1,layout=interleaved");
  GstSegment seg;
  gchar *text;
  gst_element_set_bus (e, bus);
  g_object_set (e, "model-location", model_path (), NULL);
  fail_unless (gst_element_set_state (e, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
  gst_pad_send_event (sink, gst_event_new_stream_start ("test"));
  /* The model's rate is all it offers upstream ... */
  {
    GstCaps *q = gst_pad_query_caps (sink, NULL);
    GstStructure *st = gst_caps_get_structure (q, 0);
    gint rate = 0;
    fail_unless (gst_structure_get_int (st, "rate", &rate) && rate == RATE);
    gst_caps_unref (q);
  }
  /* ... so a caps query for another rate finds nothing in common ... */
  {
    GstCaps *other = gst_caps_from_string ("audio/x-raw,rate=44100,channels=1");
    GstCaps *q = gst_pad_query_caps (sink, other);
    fail_unless (gst_caps_is_empty (q));
    gst_caps_unref (q);
    gst_caps_unref (other);
  }
  /* ... and other caps are refused with an explanation. */
  fail_if (gst_pad_send_event (sink, gst_event_new_caps (caps)));
  text = error_text (bus, GST_MESSAGE_ERROR);
  fail_unless (text && strstr (text, "16000 Hz") && strstr (text, "audioresample"),
      "error was: %s", text);
  g_free (text);
  gst_segment_init (&seg, GST_FORMAT_TIME);
  gst_caps_unref (caps);
  gst_object_unref (sink);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
}
GST_END_TEST;

GST_START_TEST (test_window_too_short)
{
  Fixture f = setup (F32_CAPS, "window-size=5000000");   /* 5 ms < model minimum */
  GstBuffer *b = gst_buffer_new_allocate (NULL, 4000, NULL);
  gchar *text;
  fail_unless (gst_harness_push (f.h, b) != GST_FLOW_OK);
  text = error_text (f.bus, GST_MESSAGE_ERROR);
  fail_unless (text && strstr (text, "too short"), "error was: %s", text);
  g_free (text);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_window_change_while_running)
{
  Fixture f = setup (F32_CAPS, "hop-size=1000000000");
  GList *msgs;
  fail_unless_equals_int (push_f32 (&f, 16000, 0, NULL), GST_FLOW_OK);
  g_object_set (f.e, "window-size", (guint64) 500 * GST_MSECOND,
      "hop-size", (guint64) 250 * GST_MSECOND, NULL);
  fail_unless_equals_int (push_f32 (&f, 16000, 0, NULL), GST_FLOW_OK);
  msgs = pop_messages (&f);
  /* 1 window before the change, then 0.5 s windows every 0.25 s over 1 s: 3. */
  fail_unless_equals_int (g_list_length (msgs), 4);
  fail_unless_equals_uint64 (msg_u64 (g_list_nth_data (msgs, 1), "timestamp"), GST_SECOND);
  fail_unless_equals_uint64 (msg_u64 (g_list_nth_data (msgs, 1), "duration"), GST_SECOND / 2);
  fail_unless_equals_uint64 (msg_u64 (g_list_nth_data (msgs, 3), "timestamp"), GST_SECOND + GST_SECOND / 2);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_hop_longer_than_window)
{
  Fixture f = setup (F32_CAPS, "window-size=500000000 hop-size=1500000000");
  GList *msgs, *l;
  guint i = 0;
  fail_unless_equals_int (push_f32 (&f, 16000 * 4, 0, NULL), GST_FLOW_OK);
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 3);   /* at 0, 1.5, 3.0 */
  for (l = msgs; l; l = l->next, i++)
    fail_unless_equals_uint64 (msg_u64 (l->data, "timestamp"), i * 1500 * GST_MSECOND);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_gap_is_silence)
{
  /* A GAP buffer counts as silence: it advances time, windows keep their
   * timestamps, and with min-rms the gap window is reported as silent. */
  Fixture f = setup (F32_CAPS, "hop-size=1000000000 min-rms=0.001");
  GstBuffer *gap = gst_buffer_new_allocate (NULL, 16000 * 4, NULL);
  GList *msgs;
  fail_unless_equals_int (push_f32 (&f, 16000, 0, NULL), GST_FLOW_OK);
  gst_buffer_memset (gap, 0, 0xff, 16000 * 4);   /* garbage bytes: must be ignored */
  GST_BUFFER_PTS (gap) = GST_SECOND;
  GST_BUFFER_FLAG_SET (gap, GST_BUFFER_FLAG_GAP);
  fail_unless_equals_int (gst_harness_push (f.h, gap), GST_FLOW_OK);
  f.pushed += 16000;
  fail_unless_equals_int (push_f32 (&f, 16000, 0, NULL), GST_FLOW_OK);
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 3);
  fail_unless (!msg_bool (g_list_nth_data (msgs, 0), "silent"));
  fail_unless (msg_bool (g_list_nth_data (msgs, 1), "silent"));
  fail_unless_equals_uint64 (msg_u64 (g_list_nth_data (msgs, 1), "timestamp"), GST_SECOND);
  fail_unless_equals_uint64 (msg_u64 (g_list_nth_data (msgs, 2), "timestamp"), 2 * GST_SECOND);
  fail_unless (!msg_bool (g_list_nth_data (msgs, 2), "silent"));
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_caps_change_resets)
{
  /* 0.75 s of F32, then the stream switches to S16: the partial window is
   * flushed (>= half a window) and windowing restarts on the new format. */
  Fixture f = setup (F32_CAPS, "hop-size=1000000000");
  GstBuffer *b;
  GstMapInfo map;
  GList *msgs;
  fail_unless_equals_int (push_f32 (&f, 12000, 0, NULL), GST_FLOW_OK);
  gst_harness_set_src_caps_str (f.h, S16_CAPS);
  b = gst_buffer_new_allocate (NULL, 16000 * 2, NULL);
  gst_buffer_map (b, &map, GST_MAP_WRITE);
  for (guint i = 0; i < 16000; i++)
    ((gint16 *) map.data)[i] = (gint16) (signal_at (i) * 20000);
  gst_buffer_unmap (b, &map);
  GST_BUFFER_PTS (b) = 750 * GST_MSECOND;
  fail_unless_equals_int (gst_harness_push (f.h, b), GST_FLOW_OK);
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 2);
  fail_unless (msg_bool (g_list_nth_data (msgs, 0), "padded"));
  fail_unless_equals_uint64 (msg_u64 (g_list_nth_data (msgs, 0), "timestamp"), 0);
  fail_unless_equals_uint64 (msg_u64 (g_list_nth_data (msgs, 1), "timestamp"), 750 * GST_MSECOND);
  fail_unless_equals_uint64 (msg_u64 (g_list_nth_data (msgs, 1), "window-index"), 0);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

static Suite *
clarembed_suite (void)
{
  Suite *s = suite_create ("clarembed");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_windows_and_timestamps);
  tcase_add_test (tc, test_passthrough_bit_identical);
  tcase_add_test (tc, test_meta_deep_copy);
  tcase_add_test (tc, test_no_meta_when_disabled);
  tcase_add_test (tc, test_eos_flush_rule);
  tcase_add_test (tc, test_discont_resets);
  tcase_add_test (tc, test_flush_resets);
  tcase_add_test (tc, test_s16_matches_f32);
  tcase_add_test (tc, test_nonfinite_window_skipped);
  tcase_add_test (tc, test_silence_min_rms);
  tcase_add_test (tc, test_bad_model_errors);
  tcase_add_test (tc, test_caps_rejected);
  tcase_add_test (tc, test_window_too_short);
  tcase_add_test (tc, test_window_change_while_running);
  tcase_add_test (tc, test_hop_longer_than_window);
  tcase_add_test (tc, test_gap_is_silence);
  tcase_add_test (tc, test_caps_change_resets);
  return s;
}

GST_CHECK_MAIN (clarembed);
