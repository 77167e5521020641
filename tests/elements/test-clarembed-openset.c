/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clarembed, issue 17: cosine similarities and the open-set "unknown"
 * (min-similarity), the final padded window's result as a serialized
 * custom event, a warning when a stream ends without any window, model and
 * label properties refused while running, UTF-8 prompt files and the hint
 * for a prompt file not named .txt. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <clar/gstclarmeta.h>

#include "clar-harness.h"

static void
push_samples (Fixture *f, guint64 n)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, n * 4, NULL);
  GstMapInfo map;
  gst_buffer_map (b, &map, GST_MAP_WRITE);
  for (guint64 i = 0; i < n; i++)
    ((gfloat *) map.data)[i] = signal_at (f->pushed + i);
  gst_buffer_unmap (b, &map);
  GST_BUFFER_PTS (b) = gst_util_uint64_scale (f->pushed, GST_SECOND, RATE);
  GST_BUFFER_DURATION (b) = gst_util_uint64_scale (n, GST_SECOND, RATE);
  f->pushed += n;
  fail_unless_equals_int (gst_harness_push (f->h, b), GST_FLOW_OK);
}

static GList *
window_messages (Fixture *f)
{
  return pop_named_messages (f, "clarembed");
}

static gfloat
arr_float (const GstStructure *s, const gchar *field, guint i)
{
  return g_value_get_float (gst_value_array_get_value (gst_structure_get_value (s, field), i));
}

static GstMessage *
pop_type (Fixture *f, GstMessageType type)
{
  return gst_bus_pop_filtered (f->bus, type);
}

GST_START_TEST (test_similarities_and_unknown)
{
  Fixture f = setup (F32_CAPS, "message-embedding=false hop-size=1000000000 top-k=3");
  GList *msgs;
  const GstStructure *s;
  gfloat best = 0;
  GstBuffer *out;
  GstClarMeta *meta;

  push_samples (&f, RATE);
  msgs = window_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 1);
  s = gst_message_get_structure (msgs->data);
  fail_unless_equals_int (gst_value_array_get_size (gst_structure_get_value (s, "similarities")),
      gst_value_array_get_size (gst_structure_get_value (s, "labels")));
  fail_unless (gst_structure_has_field_typed (s, "max-similarity", G_TYPE_FLOAT));
  best = g_value_get_float (gst_structure_get_value (s, "max-similarity"));
  fail_unless (best >= -1.0f && best <= 1.0f);
  /* Best by score is best by cosine; the others are not closer. */
  fail_unless (arr_float (s, "similarities", 0) == best);
  fail_unless (arr_float (s, "similarities", 1) <= best);
  fail_if (g_value_get_boolean (gst_structure_get_value (s, "unknown")));
  out = gst_harness_pull (f.h);
  meta = gst_buffer_get_clar_meta (out);
  fail_unless (meta && meta->n_labels == 3 && meta->labels[0].similarity == best);
  gst_buffer_unref (out);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);

  /* Just above the best similarity: the same audio is "unknown". */
  g_object_set (f.e, "min-similarity", best + 0.001f, NULL);
  f.pushed = 0;
  gst_harness_push_event (f.h, gst_event_new_flush_start ());
  gst_harness_push_event (f.h, gst_event_new_flush_stop (TRUE));
  {
    GstSegment seg;
    gst_segment_init (&seg, GST_FORMAT_TIME);
    gst_harness_push_event (f.h, gst_event_new_segment (&seg));
  }
  push_samples (&f, RATE);
  msgs = window_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 1);
  s = gst_message_get_structure (msgs->data);
  fail_unless (g_value_get_boolean (gst_structure_get_value (s, "unknown")));
  fail_unless_equals_int (gst_value_array_get_size (gst_structure_get_value (s, "labels")), 1);
  fail_unless_equals_string (g_value_get_string (gst_value_array_get_value (
              gst_structure_get_value (s, "labels"), 0)), "unknown");
  fail_unless (arr_float (s, "scores", 0) == 1.0f);
  fail_unless (fabsf (arr_float (s, "similarities", 0) - best) < 1e-6f);
  while ((out = gst_harness_try_pull (f.h))) {
    meta = gst_buffer_get_clar_meta (out);
    if (meta)
      fail_unless (meta->n_labels == 1 && !strcmp (meta->labels[0].name, "unknown"));
    gst_buffer_unref (out);
  }
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_padded_window_event)
{
  /* 1.7 s, window 1 s, hop 1 s: one full window (a meta on its buffer) and
   * a final 0.7 s window (>= eos-min-fill 0.5) whose result follows the
   * audio as a "clarembed-window" custom event, before EOS. */
  Fixture f = setup (F32_CAPS, "message-embedding=false hop-size=1000000000");
  GstEvent *ev;
  gboolean seen_window = FALSE, seen_eos = FALSE;
  guint metas = 0;
  GstBuffer *out;
  GList *msgs;

  push_samples (&f, RATE);
  push_samples (&f, RATE * 7 / 10);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  while ((out = gst_harness_try_pull (f.h))) {
    gpointer state = NULL;
    while (gst_buffer_iterate_meta_filtered (out, &state, GST_CLAR_META_API_TYPE))
      metas++;
    gst_buffer_unref (out);
  }
  fail_unless_equals_int (metas, 1);
  while ((ev = gst_harness_try_pull_event (f.h))) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_CUSTOM_DOWNSTREAM
        && gst_structure_has_name (gst_event_get_structure (ev), "clarembed-window")) {
      const GstStructure *s = gst_event_get_structure (ev);
      guint64 idx = 99, ts = 0;
      gboolean padded = FALSE;
      fail_if (seen_eos, "the window event came after EOS");
      fail_unless (gst_structure_get_uint64 (s, "window-index", &idx) && idx == 1);
      fail_unless (gst_structure_get_uint64 (s, "timestamp", &ts) && ts == GST_SECOND);
      fail_unless (gst_structure_get_boolean (s, "padded", &padded) && padded);
      fail_unless_equals_int (gst_value_array_get_size (gst_structure_get_value (s,
                  "embedding")), 128);
      fail_unless (gst_value_array_get_size (gst_structure_get_value (s, "labels")) > 0);
      seen_window = TRUE;
    } else if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS) {
      seen_eos = TRUE;
    }
    gst_event_unref (ev);
  }
  fail_unless (seen_window && seen_eos);
  msgs = window_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 2);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

static gchar *
warning_text (Fixture *f)
{
  GstMessage *m = pop_type (f, GST_MESSAGE_WARNING);
  GError *err = NULL;
  gchar *dbg = NULL, *all;
  if (!m)
    return NULL;
  gst_message_parse_warning (m, &err, &dbg);
  all = g_strdup_printf ("%s | %s", err->message, dbg ? dbg : "");
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (m);
  return all;
}

GST_START_TEST (test_short_stream_warns)
{
  /* 0.1 s of audio: less than half a window, nothing reported: a warning
   * says so. */
  Fixture f = setup (F32_CAPS, NULL);
  gchar *w;
  GList *msgs;
  push_samples (&f, RATE / 10);
  gst_harness_push_event (f.h, gst_event_new_eos ());
  /* (gst_bus_pop_filtered drops what it does not match: warnings first.) */
  w = warning_text (&f);
  fail_unless (w && strstr (w, "0.100 s of audio") && strstr (w, "no window was reported")
      && strstr (w, "eos-min-fill"), "%s", w);
  g_free (w);
  msgs = window_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 0);
  teardown (&f);

  /* window-size longer than the audio: the hint names window-size. */
  f = setup (F32_CAPS, "window-size=3000000000");
  push_samples (&f, RATE);
  gst_harness_push_event (f.h, gst_event_new_eos ());
  w = warning_text (&f);
  fail_unless (w && strstr (w, "window-size is longer than all the audio"), "%s", w);
  g_free (w);
  teardown (&f);

  /* Enough audio: its padded window, no warning. */
  f = setup (F32_CAPS, NULL);
  push_samples (&f, RATE * 6 / 10);
  gst_harness_push_event (f.h, gst_event_new_eos ());
  {
    GstMessage *m;
    guint windows = 0, warnings = 0;
    while ((m = gst_bus_pop (f.bus))) {
      windows += gst_message_has_name (m, "clarembed");
      warnings += GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING;
      gst_message_unref (m);
    }
    fail_unless_equals_int (windows, 1);
    fail_unless_equals_int (warnings, 0);
  }
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_properties_refused_while_running)
{
  Fixture f = setup (F32_CAPS, NULL);
  gchar *v = NULL, *w;
  push_samples (&f, RATE / 2);
  g_object_set (f.e, "model-location", "/elsewhere.safetensors", NULL);
  w = warning_text (&f);
  fail_unless (w && strstr (w, "model-location") && strstr (w, "ignored"), "%s", w);
  g_free (w);
  g_object_get (f.e, "model-location", &v, NULL);
  fail_unless_equals_string (v, model_path ());
  g_free (v);
  g_object_set (f.e, "labels", "a;b", NULL);
  w = warning_text (&f);
  fail_unless (w && strstr (w, "labels"), "%s", w);
  g_free (w);
  g_object_get (f.e, "labels", &v, NULL);
  fail_unless (v == NULL);
  /* Mutable properties still change. */
  g_object_set (f.e, "top-k", 1, NULL);
  fail_unless (warning_text (&f) == NULL);
  teardown (&f);
}
GST_END_TEST;

/* The error clarembed (text-tower fixture) posts when it fails to start
 * (a harness cannot start an element that fails to). */
static gchar *
start_error (const gchar *labels_location)
{
  GstElement *e = gst_element_factory_make ("clarembed", NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *m;
  gchar *out = NULL;
  gst_element_set_bus (e, bus);
  g_object_set (e, "model-location", g_getenv ("CLAR_TEST_TEXT_MODEL"),
      "labels-location", labels_location, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (m) {
    GError *err = NULL;
    gchar *dbg = NULL;
    gst_message_parse_error (m, &err, &dbg);
    out = g_strdup_printf ("%s | %s", err->message, dbg ? dbg : "");
    g_error_free (err);
    g_free (dbg);
    gst_message_unref (m);
  }
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
  return out;
}

GST_START_TEST (test_prompt_files)
{
  gchar *dir = g_dir_make_tmp ("clar-openset-XXXXXX", NULL);
  gchar *latin1 = g_build_filename (dir, "latin1.txt", NULL);
  gchar *named = g_build_filename (dir, "prompts.list", NULL);
  gchar *e;
  fail_unless (g_file_set_contents (latin1, "speech\ncaf\xe9 noise\n", -1, NULL));
  fail_unless (g_file_set_contents (named, "speech\nflute\n", -1, NULL));
  /* A Latin-1 prompt file: a clear error naming the line, no invalid
   * strings on the bus. */
  e = start_error (latin1);
  fail_unless (e && strstr (e, "line 2 is not valid UTF-8"), "%s", e);
  g_free (e);
  /* A prompt file not named .txt: the hint says so. */
  e = start_error (named);
  fail_unless (e && strstr (e, ".txt"), "%s", e);
  g_free (e);
  /* The labels property is checked the same way. */
  {
    GstElement *el = gst_element_factory_make ("clarembed", NULL);
    GstBus *bus = gst_bus_new ();
    GstMessage *m;
    GError *err = NULL;
    gchar *dbg = NULL;
    gst_element_set_bus (el, bus);
    g_object_set (el, "model-location", g_getenv ("CLAR_TEST_TEXT_MODEL"),
        "labels", "speech;caf\xe9", NULL);
    fail_unless_equals_int (gst_element_set_state (el, GST_STATE_PAUSED),
        GST_STATE_CHANGE_FAILURE);
    m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    fail_unless (m != NULL);
    gst_message_parse_error (m, &err, &dbg);
    fail_unless (dbg && strstr (dbg, "not valid UTF-8"), "%s", dbg);
    g_error_free (err);
    g_free (dbg);
    gst_message_unref (m);
    gst_element_set_state (el, GST_STATE_NULL);
    gst_element_set_bus (el, NULL);
    gst_object_unref (bus);
    gst_object_unref (el);
  }
  unlink (latin1);
  unlink (named);
  rmdir (dir);
  g_free (latin1);
  g_free (named);
  g_free (dir);
}
GST_END_TEST;

static Suite *
openset_suite (void)
{
  Suite *s = suite_create ("clarembed-openset");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_similarities_and_unknown);
  tcase_add_test (tc, test_padded_window_event);
  tcase_add_test (tc, test_short_stream_warns);
  tcase_add_test (tc, test_properties_refused_while_running);
  tcase_add_test (tc, test_prompt_files);
  return s;
}

GST_CHECK_MAIN (openset);
