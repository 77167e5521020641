/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clarembed's sound events (issue 13): "clarembed-event" messages and the
 * same structures as custom downstream events, their times, ends at EOS and
 * DISCONT, the event-* properties and the threshold file's errors. The
 * tracker itself is tested in tests/test-events.c; here the fixture model's
 * scores are meaningless, so thresholds of 0 make every label one event
 * over the whole stream, whose times are then exact. */
#include <math.h>
#include <string.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>

#include "clar-harness.h"

#define ALL_ON "message-embedding=false event-on-threshold=0 event-off-threshold=0 " \
    "event-smoothing=none event-active-db=0"

static GstFlowReturn
push_f32 (Fixture *f, guint n, guint32 flags)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, n * sizeof (gfloat), NULL);
  GstMapInfo map;
  gst_buffer_map (b, &map, GST_MAP_WRITE);
  for (guint i = 0; i < n; i++)
    ((gfloat *) map.data)[i] = signal_at (f->pushed + i);
  gst_buffer_unmap (b, &map);
  GST_BUFFER_PTS (b) = f->base + gst_util_uint64_scale (f->pushed, GST_SECOND, RATE);
  GST_BUFFER_DURATION (b) = gst_util_uint64_scale (n, GST_SECOND, RATE);
  GST_BUFFER_FLAG_SET (b, flags);
  f->pushed += n;
  return gst_harness_push (f->h, b);
}

static void
push_seconds (Fixture *f, gdouble s)
{
  guint64 end = f->pushed + (guint64) (s * RATE);
  while (f->pushed < end)
    fail_unless_equals_int (push_f32 (f, MIN (1600, end - f->pushed), 0), GST_FLOW_OK);
}

/* "clarembed-event" messages on the bus, in order. */
static GList *
pop_event_messages (Fixture *f)
{
  return pop_named_messages (f, "clarembed-event");
}

/* "clarembed-event" custom downstream events that reached the harness. */
static GList *
pull_downstream_events (Fixture *f)
{
  GList *l = NULL;
  GstEvent *e;
  while ((e = gst_harness_try_pull_event (f->h)))
    if (GST_EVENT_TYPE (e) == GST_EVENT_CUSTOM_DOWNSTREAM
        && gst_event_has_name (e, "clarembed-event"))
      l = g_list_append (l, e);
    else
      gst_event_unref (e);
  return l;
}

static const gchar *
str (GstMessage *m, const gchar *field)
{
  return gst_structure_get_string (gst_message_get_structure (m), field);
}

static guint
count_kind (GList *msgs, const gchar *kind)
{
  guint n = 0;
  for (GList *l = msgs; l; l = l->next)
    n += g_strcmp0 (str (l->data, "kind"), kind) == 0;
  return n;
}

GST_START_TEST (test_events_whole_stream)
{
  /* 3 s at PTS 10 s: windows at 10.0 .. 12.0 and a padded one at 12.5
   * (0.5 s of audio). Every label is on in every window: one event per
   * label from the first window's centre half (10.25 s) to the end of the
   * audio (13.0 s), ended by EOS. */
  Fixture f = setup (F32_CAPS, ALL_ON);
  GList *msgs, *evs, *l, *e;
  guint n_labels;
  f.base = 10 * GST_SECOND;
  push_seconds (&f, 3.0);
  /* The STARTs come with the first window, long before EOS. */
  msgs = pop_event_messages (&f);
  n_labels = g_list_length (msgs);
  fail_unless (n_labels >= 2);
  fail_unless_equals_int (count_kind (msgs, "start"), n_labels);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  gst_harness_push_event (f.h, gst_event_new_eos ());
  msgs = pop_event_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), n_labels);
  fail_unless_equals_int (count_kind (msgs, "end"), n_labels);
  for (l = msgs; l; l = l->next) {
    GstMessage *m = l->data;
    const GstStructure *s = gst_message_get_structure (m);
    gint idx = -2;
    gfloat peak = -1, mean = -1;
    fail_unless_equals_uint64 (msg_u64 (m, "timestamp"), 10 * GST_SECOND + 250 * GST_MSECOND);
    fail_unless_equals_uint64 (msg_u64 (m, "running-time"), 10 * GST_SECOND + 250 * GST_MSECOND);
    fail_unless_equals_uint64 (msg_u64 (m, "stream-time"), 10 * GST_SECOND + 250 * GST_MSECOND);
    fail_unless_equals_uint64 (msg_u64 (m, "duration"), 2750 * GST_MSECOND);
    fail_unless_equals_uint64 (msg_u64 (m, "first-window"), 0);
    fail_unless_equals_uint64 (msg_u64 (m, "last-window"), 5);
    fail_unless (gst_structure_get_int (s, "label-index", &idx) && idx >= 0);
    fail_unless (str (m, "label") && *str (m, "label"));
    fail_unless (G_VALUE_HOLDS_FLOAT (gst_structure_get_value (s, "peak")));
    fail_unless (G_VALUE_HOLDS_FLOAT (gst_structure_get_value (s, "mean")));
    peak = g_value_get_float (gst_structure_get_value (s, "peak"));
    mean = g_value_get_float (gst_structure_get_value (s, "mean"));
    fail_unless (peak > 0 && peak <= 1 && mean > 0 && mean <= peak, "peak %g mean %g", peak, mean);
  }
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);

  /* Downstream: the same structures, STARTs then ENDs, before EOS. */
  evs = pull_downstream_events (&f);
  fail_unless_equals_int (g_list_length (evs), 2 * n_labels);
  for (e = evs; e; e = e->next) {
    const GstStructure *s = gst_event_get_structure (e->data);
    fail_unless (GST_EVENT_IS_SERIALIZED (e->data));
    fail_unless_equals_string (gst_structure_get_string (s, "kind"),
        g_list_position (evs, e) < (gint) n_labels ? "start" : "end");
  }
  g_list_free_full (evs, (GDestroyNotify) gst_event_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_events_end_at_discont)
{
  /* An event ends where the audio jumps; a new one starts after it. */
  Fixture f = setup (F32_CAPS, ALL_ON " event-min-gap=100000000000");
  GList *msgs, *l;
  guint ends_before = 0, starts_after = 0;
  f.base = 0;
  push_seconds (&f, 2.0);
  f.base = 60 * GST_SECOND - gst_util_uint64_scale (f.pushed, GST_SECOND, RATE);
  fail_unless_equals_int (push_f32 (&f, 1600, GST_BUFFER_FLAG_DISCONT), GST_FLOW_OK);
  push_seconds (&f, 1.9);
  msgs = pop_event_messages (&f);
  for (l = msgs; l; l = l->next) {
    GstMessage *m = l->data;
    if (!g_strcmp0 (str (m, "kind"), "end")) {
      ends_before++;
      /* Windows at 0, 0.5, 1.0 and the padded one at 1.5 s (0.5 s of
       * audio, flushed at the DISCONT): the event ends with the audio at
       * 2.0 s, even with a minimum gap of 100 s. */
      fail_unless_equals_uint64 (msg_u64 (m, "timestamp"), 250 * GST_MSECOND);
      fail_unless_equals_uint64 (msg_u64 (m, "duration"), 1750 * GST_MSECOND);
      fail_unless_equals_uint64 (msg_u64 (m, "last-window"), 3);
    } else if (msg_u64 (m, "timestamp") >= 60 * GST_SECOND) {
      starts_after++;
      fail_unless_equals_uint64 (msg_u64 (m, "timestamp"), 60 * GST_SECOND + 250 * GST_MSECOND);
      fail_unless_equals_uint64 (msg_u64 (m, "first-window"), 0);
    }
  }
  fail_unless (ends_before >= 2);
  fail_unless_equals_int (starts_after, ends_before);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_events_off_and_defaults)
{
  Fixture f = setup (F32_CAPS, ALL_ON " events=false");
  GList *msgs, *evs;
  gboolean on = TRUE;
  push_seconds (&f, 2.0);
  gst_harness_push_event (f.h, gst_event_new_eos ());
  msgs = pop_event_messages (&f);
  evs = pull_downstream_events (&f);
  fail_unless (msgs == NULL && evs == NULL);
  g_object_get (f.e, "events", &on, NULL);
  fail_unless (!on);
  teardown (&f);

  /* post-messages=false silences the per-window messages, not the events. */
  f = setup (F32_CAPS, ALL_ON " post-messages=false");
  push_seconds (&f, 2.0);
  gst_harness_push_event (f.h, gst_event_new_eos ());
  {
    GstMessage *m;
    guint n = 0;
    while ((m = gst_bus_pop_filtered (f.bus, GST_MESSAGE_ELEMENT))) {
      fail_unless (gst_message_has_name (m, "clarembed-event"));
      n++;
      gst_message_unref (m);
    }
    evs = pull_downstream_events (&f);
    fail_unless (n > 0 && n == g_list_length (evs));
  }
  g_list_free_full (evs, (GDestroyNotify) gst_event_unref);
  teardown (&f);

  {
    GstElement *e = gst_element_factory_make ("clarembed", NULL);
    gfloat on_t, off_t, unk, adb;
    guint med;
    gint sm;
    guint64 dur, gap;
    gchar *loc = (gchar *) "x";
    g_object_get (e, "events", &on, "event-on-threshold", &on_t, "event-off-threshold", &off_t,
        "event-median-windows", &med, "event-smoothing", &sm, "event-min-duration", &dur,
        "event-min-gap", &gap, "event-unknown-similarity", &unk,
        "event-thresholds-location", &loc, "event-active-db", &adb, NULL);
    fail_unless (on && on_t == 0.5f && off_t == 0.3f && med == 3 && sm == 0 && dur == 0
        && gap == 0 && unk == -1.0f && loc == NULL && adb == 10.0f);
    gst_object_unref (e);
  }
}
GST_END_TEST;

static gchar *
start_error (const gchar *props)
{
  GstElement *e = gst_parse_bin_from_description (props, FALSE, NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *m;
  GError *err = NULL;
  gchar *dbg = NULL, *res = NULL;
  gst_element_set_bus (e, bus);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (m) {
    gst_message_parse_error (m, &err, &dbg);
    res = g_strdup_printf ("%s | %s", err->message, dbg ? dbg : "");
    g_error_free (err);
    g_free (dbg);
    gst_message_unref (m);
  }
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
  return res;
}

GST_START_TEST (test_events_bad_settings)
{
  gchar *path = g_build_filename (g_get_tmp_dir (), "clar-test-event-thresholds.tsv", NULL);
  gchar *desc, *text;

  /* off above on. */
  desc = g_strdup_printf ("clarembed model-location=\"%s\" event-on-threshold=0.2 "
      "event-off-threshold=0.4", model_path ());
  text = start_error (desc);
  fail_unless (text && strstr (text, "Invalid sound-event settings")
      && strstr (text, "off threshold 0.4 is outside"), "error was: %s", text);
  g_free (text);
  g_free (desc);

  /* A threshold file naming a label the model does not have: line number. */
  g_file_set_contents (path, "# thresholds\nno-such-label\t0.5\n", -1, NULL);
  desc = g_strdup_printf ("clarembed model-location=\"%s\" event-thresholds-location=\"%s\"",
      model_path (), path);
  text = start_error (desc);
  fail_unless (text && strstr (text, "Invalid event thresholds")
      && strstr (text, ":2: no label \"no-such-label\""), "error was: %s", text);
  g_free (text);
  g_free (desc);
  g_unlink (path);

  /* A malformed "#% tracker:" directive: an error naming the line. */
  {
    const gchar *bad[][2] = {
      { "# thresholds\n#% tracker: smoothing=median:3 gap=5\n",
        ":2: unknown tracker option \"gap\"" },
      { "#% tracker: smoothing=median:3\xff\n", ":1: directive line is not valid UTF-8" },
      /* ... and a malformed "#% label-tracker:" one. */
      { "# thresholds\n#% label-tracker: no-such-label smoothing=none\n",
        ":2: no label \"no-such-label\" in this label set" },
      { "#% label-tracker: unknown smoothing=median:0\n", ":1: smoothing \"median:0\"" },
      { "#% label-tracker: unknown gap=5\n", ":1: unknown tracker option \"gap\"" },
    };
    desc = g_strdup_printf ("clarembed model-location=\"%s\" event-thresholds-location=\"%s\"",
        model_path (), path);
    for (guint k = 0; k < G_N_ELEMENTS (bad); k++) {
      g_file_set_contents (path, bad[k][0], -1, NULL);
      text = start_error (desc);
      fail_unless (text && strstr (text, "Invalid event thresholds") && strstr (text, bad[k][1]),
          "error was: %s", text);
      g_free (text);
    }
    g_free (desc);
    g_unlink (path);
  }

  /* A missing file. */
  desc = g_strdup_printf ("clarembed model-location=\"%s\" event-thresholds-location=\"%s\"",
      model_path (), path);
  text = start_error (desc);
  fail_unless (text && strstr (text, "Could not read the event thresholds")
      && strstr (text, "No such file"), "error was: %s", text);
  g_free (text);
  g_free (desc);
  g_free (path);
}
GST_END_TEST;

GST_START_TEST (test_events_threshold_file)
{
  /* Every label's on threshold is 1 (no softmax score of the fixture
   * reaches it) but the file gives one label 0: only that label has an
   * event. */
  gchar *path = g_build_filename (g_get_tmp_dir (), "clar-test-event-thresholds2.tsv", NULL);
  gchar *props, *first = NULL;
  Fixture f;
  GList *msgs;
  /* The fixture's first label, from a window message. */
  f = setup (F32_CAPS, "message-embedding=false events=false top-k=1");
  push_seconds (&f, 1.0);
  {
    GstMessage *m;
    while ((m = gst_bus_pop_filtered (f.bus, GST_MESSAGE_ELEMENT))) {
      const GValue *v = gst_structure_get_value (gst_message_get_structure (m), "labels");
      if (!first && v && gst_value_array_get_size (v) == 1)
        first = g_value_dup_string (gst_value_array_get_value (v, 0));
      gst_message_unref (m);
    }
  }
  teardown (&f);
  fail_unless (first != NULL);
  {
    gchar *content = g_strdup_printf ("%s\t0\t0\r\n", first);
    g_file_set_contents (path, content, -1, NULL);
    g_free (content);
  }
  props = g_strdup_printf ("message-embedding=false event-on-threshold=1 event-off-threshold=1 "
      "event-thresholds-location=\"%s\"", path);
  f = setup (F32_CAPS, props);
  push_seconds (&f, 2.0);
  gst_harness_push_event (f.h, gst_event_new_eos ());
  msgs = pop_event_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 2);
  fail_unless_equals_string (str (msgs->data, "label"), first);
  fail_unless_equals_string (str (msgs->data, "kind"), "start");
  fail_unless_equals_string (str (msgs->next->data, "kind"), "end");
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
  g_unlink (path);
  g_free (path);
  g_free (props);
  g_free (first);
}
GST_END_TEST;

GST_START_TEST (test_events_file_tracker_options)
{
  /* The thresholds file names a median of 3 windows ("#% tracker:"): each
   * window is decided once the window after it is in. With thresholds of 0
   * every label starts in window 0, so the STARTs come after 1 s of audio
   * (window 0) without smoothing and only after 1.5 s (window 1) with the
   * median. Only event-thresholds-location set: the file's median; the
   * property set explicitly: it wins, also when it names the median's
   * width alone (a median of the file over 1 window of the application).
   * The same with the median in a "#% label-tracker:" line for one track
   * (the unknown one, which every label set has): the tracker decides
   * every window once that track's median can, and the properties set
   * explicitly win over the label's line too. */
  gchar *paths[2] = {
    g_build_filename (g_get_tmp_dir (), "clar-test-event-tracker.tsv", NULL),
    g_build_filename (g_get_tmp_dir (), "clar-test-event-label-tracker.tsv", NULL),
  };
  const struct {
    gint file;
    const gchar *props;
    gboolean median;
  } cases[] = {
    { 0, "", TRUE },
    { 0, " event-smoothing=none", FALSE },
    { 0, " event-median-windows=1", FALSE },
    { -1, "", FALSE },
    { 1, "", TRUE },
    { 1, " event-smoothing=none", FALSE },
    { 1, " event-median-windows=1", FALSE },
  };
  g_file_set_contents (paths[0], "# thresholds chosen with a median of 3\n"
      "#% tracker: smoothing=median:3 min-gap-ns=0 min-duration-ns=0\n", -1, NULL);
  g_file_set_contents (paths[1], "# the unknown track alone with a median of 3\n"
      "#% tracker: smoothing=none\n"
      "#% label-tracker: unknown smoothing=median:3 min-gap-ns=0 min-duration-ns=0\n", -1,
      NULL);
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    gboolean file = cases[k].file >= 0;
    gchar *props = g_strdup_printf ("message-embedding=false event-on-threshold=0 "
        "event-off-threshold=0 event-active-db=0%s%s%s%s", cases[k].props,
        file ? " event-thresholds-location=\"" : "", file ? paths[cases[k].file] : "",
        file ? "\"" : "");
    Fixture f = setup (F32_CAPS, props);
    GList *msgs;
    gint sm = -1;
    push_seconds (&f, 1.0);
    msgs = pop_event_messages (&f);
    fail_unless ((count_kind (msgs, "start") > 0) == !cases[k].median,
        "case %u (%s): %u STARTs after window 0", k, props, count_kind (msgs, "start"));
    g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
    push_seconds (&f, 0.5);
    msgs = pop_event_messages (&f);
    if (cases[k].median) {
      fail_unless (count_kind (msgs, "start") >= 2, "case %u: no START after window 1", k);
      fail_unless_equals_uint64 (msg_u64 (msgs->data, "first-window"), 0);
    } else {
      fail_unless (msgs == NULL, "case %u: events after window 1", k);
    }
    g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
    /* The property reads back what the application set, not the file's. */
    g_object_get (f.e, "event-smoothing", &sm, NULL);
    fail_unless_equals_int (sm, 0);
    teardown (&f);
    g_free (props);
  }
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++) {
    g_unlink (paths[i]);
    g_free (paths[i]);
  }
}
GST_END_TEST;

GST_START_TEST (test_events_unknown)
{
  /* min-similarity=1: every window is "unknown" (no cosine reaches 1), and
   * the unknown event track follows it: one "unknown" event, no label's. */
  const gchar *props[] = { "min-similarity=1", "event-unknown-similarity=1" };
  for (guint k = 0; k < G_N_ELEMENTS (props); k++) {
    gchar *p = g_strdup_printf ("message-embedding=false event-active-db=0 %s", props[k]);
    Fixture f = setup (F32_CAPS, p);
    GList *msgs;
    gint idx = 0;
    push_seconds (&f, 2.0);
    gst_harness_push_event (f.h, gst_event_new_eos ());
    msgs = pop_event_messages (&f);
    fail_unless_equals_int (g_list_length (msgs), 2);
    fail_unless_equals_string (str (msgs->data, "label"), "unknown");
    fail_unless (gst_structure_get_int (gst_message_get_structure (msgs->data), "label-index",
            &idx) && idx == -1);
    fail_unless_equals_string (str (msgs->next->data, "kind"), "end");
    g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
    teardown (&f);
    g_free (p);
  }
}
GST_END_TEST;

static Suite *
clarembed_events_suite (void)
{
  Suite *s = suite_create ("clarembed-events");
  TCase *tc = tcase_create ("events");
  tcase_add_test (tc, test_events_whole_stream);
  tcase_add_test (tc, test_events_end_at_discont);
  tcase_add_test (tc, test_events_off_and_defaults);
  tcase_add_test (tc, test_events_bad_settings);
  tcase_add_test (tc, test_events_threshold_file);
  tcase_add_test (tc, test_events_file_tracker_options);
  tcase_add_test (tc, test_events_unknown);
  suite_add_tcase (s, tc);
  return s;
}

GST_CHECK_MAIN (clarembed_events);
