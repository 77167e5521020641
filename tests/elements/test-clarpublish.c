/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clarpublish without a broker: buffers carrying GstClarMeta (and
 * "clarembed-event" custom events) go through a GstHarness; the JSON lines
 * of method=file are parsed back with libclar's strict JSON parser and
 * checked field by field; invalid UTF-8 and control characters in label
 * names become valid JSON; a failing output is an element error; and
 * method=mqtt with no broker queues without blocking, drops by its policy
 * and counts what it dropped. */
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <clar/gstclarmeta.h>
#include "json.h"

#define HOP (500 * GST_MSECOND)

static gchar *tmpdir;

static GstBuffer *
window_buffer (guint64 index, const gchar *label)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 6400, NULL);
  gfloat emb[4] = { 0.5f, -0.5f, 0.5f, -0.5f };
  GstClarLabel labels[2] = { { 3, (gchar *) label, 0.75f, 0.5f },
    { 1, (gchar *) "noise", 0.25f, -0.125f } };
  GST_BUFFER_PTS (buf) = index * HOP + GST_SECOND - 200 * GST_MSECOND;
  GST_BUFFER_DURATION (buf) = 200 * GST_MSECOND;
  gst_buffer_add_clar_meta (buf, index * HOP, GST_SECOND, index, emb, 4, labels, 2);
  return buf;
}

static gchar **
read_lines (const gchar *path, guint *n)
{
  gchar *text = NULL;
  gchar **lines;
  fail_unless (g_file_get_contents (path, &text, NULL, NULL));
  fail_unless (g_str_has_suffix (text, "\n") || text[0] == '\0');
  if (text[0])
    text[strlen (text) - 1] = '\0';
  lines = text[0] ? g_strsplit (text, "\n", -1) : g_new0 (gchar *, 1);
  g_free (text);
  *n = g_strv_length (lines);
  return lines;
}

static clar_json *
parse (const gchar *line)
{
  clar_json *j = NULL;
  char err[256];
  fail_unless (g_utf8_validate (line, -1, NULL), "not UTF-8: %s", line);
  fail_unless (clar_json_parse (line, strlen (line), &j, err, sizeof err) == 0,
      "invalid JSON (%s): %s", err, line);
  fail_unless (j->type == CLAR_JSON_OBJECT);
  return j;
}

static long long
get_int (const clar_json *j, const gchar *key)
{
  long long v = -1;
  fail_unless (clar_json_get_int (clar_json_get (j, key), 0, G_MAXINT64 / 2, &v) == 0,
      "no integer %s", key);
  return v;
}

static const gchar *
get_str (const clar_json *j, const gchar *key)
{
  const clar_json *v = clar_json_get (j, key);
  fail_unless (v && v->type == CLAR_JSON_STRING, "no string %s", key);
  return v->string;
}

/* A harness around a clarpublish configured before it starts (the harness
 * sets its element to PLAYING at once). */
static GstHarness *
harness_with (GstElement **e, GstBus *bus, const gchar *first_prop, ...)
{
  va_list ap;
  GstHarness *h;
  *e = gst_element_factory_make ("clarpublish", NULL);
  /* The bus first: the publishing thread may post as soon as it starts. */
  if (bus)
    gst_element_set_bus (*e, bus);
  va_start (ap, first_prop);
  g_object_set_valist (G_OBJECT (*e), first_prop, ap);
  va_end (ap);
  h = gst_harness_new_with_element (*e, "sink", "src");
  return h;
}

#ifdef HAVE_MOSQUITTO
static guint64
get_u64_prop (GstElement *e, const gchar *name)
{
  guint64 v = 0;
  g_object_get (e, name, &v, NULL);
  return v;
}
#endif

GST_START_TEST (test_file_windows)
{
  gchar *path = g_build_filename (tmpdir, "windows.jsonl", NULL);
  GstElement *e;
  GstHarness *h = harness_with (&e, NULL, "location", path, "stream-id", "mic-1",
      "include-embedding", TRUE, "stats-interval", (guint64) 0, NULL);
  GstSegment seg;
  gchar **lines;
  guint n;

  gst_harness_set_src_caps_str (h, "audio/x-raw,format=F32LE,rate=16000,channels=1,"
      "layout=interleaved");
  /* A segment starting at 2 s: running-time = timestamp - 2 s. */
  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.start = 2 * GST_SECOND;
  seg.time = 2 * GST_SECOND;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  for (guint64 i = 4; i < 14; i++) {
    GstBuffer *in = window_buffer (i, "speech"), *out;
    fail_unless_equals_int (gst_harness_push (h, gst_buffer_ref (in)), GST_FLOW_OK);
    out = gst_harness_pull (h);
    /* Passthrough: the very same buffer, meta and all. */
    fail_unless (out == in);
    gst_buffer_unref (out);
    gst_buffer_unref (in);
  }
  gst_harness_teardown (h);     /* stops the element: everything is flushed */
  gst_object_unref (e);

  lines = read_lines (path, &n);
  fail_unless_equals_int (n, 10);
  for (guint i = 0; i < n; i++) {
    clar_json *j = parse (lines[i]);
    const clar_json *labels = clar_json_get (j, "labels"), *emb = clar_json_get (j, "embedding");
    guint64 index = 4 + i;
    fail_unless_equals_string (get_str (j, "type"), "window");
    fail_unless_equals_string (get_str (j, "stream-id"), "mic-1");
    fail_unless_equals_int (get_int (j, "seq"), i);
    fail_unless (g_str_has_suffix (get_str (j, "time"), "Z"));
    fail_unless_equals_uint64 (get_int (j, "timestamp"), index * HOP);
    fail_unless_equals_uint64 (get_int (j, "running-time"), index * HOP - 2 * GST_SECOND);
    fail_unless_equals_uint64 (get_int (j, "stream-time"), index * HOP);
    fail_unless_equals_uint64 (get_int (j, "duration"), GST_SECOND);
    fail_unless_equals_uint64 (get_int (j, "window-index"), index);
    fail_unless (labels && labels->type == CLAR_JSON_ARRAY && labels->n == 2);
    fail_unless_equals_string (get_str (&labels->items[0], "name"), "speech");
    fail_unless (clar_json_get (&labels->items[0], "score")->number == 0.75);
    fail_unless (clar_json_get (&labels->items[1], "similarity")->number == -0.125);
    fail_unless (emb && emb->type == CLAR_JSON_ARRAY && emb->n == 4);
    fail_unless (emb->items[1].number == -0.5);
    clar_json_free (j);
  }
  g_strfreev (lines);
  g_unlink (path);
  g_free (path);
}
GST_END_TEST;

/* Label names and event fields with quotes, backslashes, control
 * characters and invalid UTF-8 (a prompt file can hold any bytes). */
GST_START_TEST (test_file_escaping_and_events)
{
  gchar *path = g_build_filename (tmpdir, "escape.jsonl", NULL);
  GstElement *e;
  GstHarness *h = harness_with (&e, NULL, "location", path, "stream-id", "s\"1",
      "stats-interval", (guint64) 0, NULL);
  const gchar *nasty = "a \"dog\"\\ \x01\t\n\xff\xfe end \xc3\xa9";
  GstStructure *s;
  GValue arr = G_VALUE_INIT, f = G_VALUE_INIT;
  gchar **lines;
  guint n;
  clar_json *j;

  gst_harness_set_src_caps_str (h, "audio/x-raw,format=F32LE,rate=16000,channels=1,"
      "layout=interleaved");
  gst_harness_push (h, window_buffer (0, nasty));
  gst_buffer_unref (gst_harness_pull (h));

  /* An event as issue 13's producer will send it. */
  s = gst_structure_new ("clarembed-event", "kind", G_TYPE_STRING, "start",
      "label", G_TYPE_STRING, "a \"dog\"\\ \x01\t\n end \xc3\xa9", "timestamp", G_TYPE_UINT64, (guint64) 1500000000,
      "peak", G_TYPE_DOUBLE, 0.875, "nan", G_TYPE_FLOAT, (gfloat) NAN,
      "active", G_TYPE_BOOLEAN, TRUE, "index", G_TYPE_INT, -3, NULL);
  g_value_init (&arr, GST_TYPE_ARRAY);
  g_value_init (&f, G_TYPE_FLOAT);
  g_value_set_float (&f, 0.5f);
  gst_value_array_append_value (&arr, &f);
  g_value_set_float (&f, 0.25f);
  gst_value_array_append_value (&arr, &f);
  gst_structure_take_value (s, "scores", &arr);
  g_value_unset (&f);
  fail_unless (gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s)));
  /* Other custom events are not published. */
  fail_unless (gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
              gst_structure_new_empty ("something-else"))));
  gst_harness_push (h, window_buffer (1, "ok"));
  gst_buffer_unref (gst_harness_pull (h));
  gst_harness_teardown (h);
  gst_object_unref (e);

  lines = read_lines (path, &n);
  fail_unless_equals_int (n, 3);
  j = parse (lines[0]);
  fail_unless_equals_string (get_str (j, "stream-id"), "s\"1");
  fail_unless_equals_string (get_str (&clar_json_get (j, "labels")->items[0], "name"),
      "a \"dog\"\\ \x01\t\n\xef\xbf\xbd\xef\xbf\xbd end \xc3\xa9");
  clar_json_free (j);

  j = parse (lines[1]);
  fail_unless_equals_string (get_str (j, "type"), "event");
  fail_unless_equals_int (get_int (j, "seq"), 1);
  fail_unless_equals_string (get_str (j, "kind"), "start");
  fail_unless_equals_string (get_str (j, "label"), "a \"dog\"\\ \x01\t\n end \xc3\xa9");
  fail_unless_equals_uint64 (get_int (j, "timestamp"), 1500000000);
  fail_unless (clar_json_get (j, "peak")->number == 0.875);
  fail_unless (clar_json_get (j, "nan")->type == CLAR_JSON_NULL);
  fail_unless (clar_json_get (j, "active")->type == CLAR_JSON_BOOL);
  fail_unless (clar_json_get (j, "index")->number == -3);
  fail_unless (clar_json_get (j, "scores")->n == 2);
  fail_unless (clar_json_get (j, "scores")->items[1].number == 0.25);
  clar_json_free (j);

  j = parse (lines[2]);
  fail_unless_equals_int (get_int (j, "seq"), 2);
  fail_unless_equals_string (get_str (j, "type"), "window");
  clar_json_free (j);
  g_strfreev (lines);
  g_unlink (path);
  g_free (path);
}
GST_END_TEST;

/* clarembed events=true ! clarpublish: issue 13's sound events (custom
 * downstream events "clarembed-event") come out in stream order with the
 * windows, one sequence of seq numbers for both. */
GST_START_TEST (test_file_clarembed_events)
{
  gchar *path = g_build_filename (tmpdir, "events.jsonl", NULL);
  gchar *desc = g_strdup_printf ("clarembed model-location=\"%s\" events=true "
      "event-on-threshold=0.05 event-off-threshold=0.01 post-messages=false ! "
      "clarpublish location=\"%s\" stats-interval=0",
      g_getenv ("CLAR_TEST_MODEL"), path);
  GstHarness *h = gst_harness_new_parse (desc);
  GstBuffer *buf;
  gfloat *pcm;
  gchar **lines;
  guint n, windows = 0, starts = 0, ends = 0;

  gst_harness_set_src_caps_str (h, "audio/x-raw,format=F32LE,rate=16000,channels=1,"
      "layout=interleaved");
  /* 6 s of a steady tone; thresholds low enough for the untrained fixture
   * model's flat scores: events start, and all have ended at EOS. */
  for (guint b = 0; b < 60; b++) {
    buf = gst_buffer_new_allocate (NULL, 1600 * sizeof (gfloat), NULL);
    pcm = g_new (gfloat, 1600);
    for (guint i = 0; i < 1600; i++)
      pcm[i] = 0.3f * sinf (2.0f * (gfloat) G_PI * 440.0f * (gfloat) (b * 1600 + i) / 16000.0f);
    gst_buffer_fill (buf, 0, pcm, 1600 * sizeof (gfloat));
    g_free (pcm);
    GST_BUFFER_PTS (buf) = b * 100 * GST_MSECOND;
    GST_BUFFER_DURATION (buf) = 100 * GST_MSECOND;
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gst_harness_teardown (h);

  lines = read_lines (path, &n);
  for (guint i = 0; i < n; i++) {
    clar_json *j = parse (lines[i]);
    fail_unless_equals_int (get_int (j, "seq"), i);
    if (strcmp (get_str (j, "type"), "window") == 0) {
      windows++;
    } else {
      fail_unless_equals_string (get_str (j, "type"), "event");
      fail_unless (get_str (j, "label")[0] != '\0');
      get_int (j, "timestamp");
      get_int (j, "duration");
      if (strcmp (get_str (j, "kind"), "start") == 0)
        starts++;
      else if (strcmp (get_str (j, "kind"), "end") == 0)
        ends++;
    }
    clar_json_free (j);
  }
  /* 6 s at hop 0.5 s: 11 windows. */
  fail_unless (windows >= 11, "%u windows", windows);
  fail_unless (starts >= 1 && ends == starts, "%u starts, %u ends", starts, ends);
  g_strfreev (lines);
  g_unlink (path);
  g_free (path);
  g_free (desc);
}
GST_END_TEST;

GST_START_TEST (test_file_write_error)
{
  GstHarness *h;
  GstElement *e;
  GstBus *bus = gst_bus_new ();
  GstMessage *m;
  GError *err = NULL;

  if (!g_file_test ("/dev/full", G_FILE_TEST_EXISTS))
    return;
  h = harness_with (&e, bus, "location", "/dev/full", NULL);
  gst_harness_set_src_caps_str (h, "audio/x-raw,format=F32LE,rate=16000,channels=1,"
      "layout=interleaved");
  gst_harness_push (h, window_buffer (0, "x"));
  gst_buffer_unref (gst_harness_pull (h));
  m = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND, GST_MESSAGE_ERROR);
  fail_unless (m != NULL, "no error for a full device");
  gst_message_parse_error (m, &err, NULL);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_WRITE));
  fail_unless (strstr (err->message, "/dev/full") != NULL);
  g_error_free (err);
  gst_message_unref (m);
  gst_harness_teardown (h);
  gst_object_unref (e);
  /* Queued messages hold the element: drop them. */
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
}
GST_END_TEST;

GST_START_TEST (test_bad_settings)
{
  GstElement *e = gst_element_factory_make ("clarpublish", NULL);
  gchar *path = g_build_filename (tmpdir, "no", "such", "dir", "x.jsonl", NULL);
  g_object_set (e, "location", path, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  gst_element_set_state (e, GST_STATE_NULL);
#ifdef HAVE_MOSQUITTO
  g_object_set (e, "method", 1, "topic", "clar/+/x", NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  gst_element_set_state (e, GST_STATE_NULL);
  g_object_set (e, "topic", "clar/x", "tls-ca-file", "/nonexistent/ca.crt", NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  gst_element_set_state (e, GST_STATE_NULL);
#else
  /* Without libmosquitto, method=mqtt is a clear error. */
  g_object_set (e, "method", 1, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  gst_element_set_state (e, GST_STATE_NULL);
#endif
  gst_object_unref (e);
  g_free (path);
}
GST_END_TEST;

#ifdef HAVE_MOSQUITTO
/* No broker listens on the port: pushing never waits for the network, the
 * queue keeps the newest queue-size messages (drop-oldest) and the counters
 * add up; at stop, what is left is counted as dropped. */
static void
check_no_broker (gint policy)
{
  GstHarness *h;
  GstElement *e;
  GstBus *bus = gst_bus_new ();
  GstMessage *m;
  gint64 t0;
  gint port;
  int fd;
  struct sockaddr_in a = { 0 };
  socklen_t len = sizeof a;
  gboolean connected = TRUE;

  /* A port nothing listens on: bound, never listened to. */
  fd = socket (AF_INET, SOCK_STREAM, 0);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  fail_unless (bind (fd, (struct sockaddr *) &a, sizeof a) == 0);
  getsockname (fd, (struct sockaddr *) &a, &len);
  port = ntohs (a.sin_port);

  h = harness_with (&e, bus, "method", 1, "port", port, "queue-size", 10, "queue-policy",
      policy, "flush-timeout", (guint64) 0, "stats-interval", (guint64) 50 * GST_MSECOND, NULL);
  gst_harness_set_src_caps_str (h, "audio/x-raw,format=F32LE,rate=16000,channels=1,"
      "layout=interleaved");
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < 100; i++) {
    fail_unless_equals_int (gst_harness_push (h, window_buffer (i, "x")), GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
  /* 100 windows in far less than a connect timeout. */
  fail_unless (g_get_monotonic_time () - t0 < 2 * G_USEC_PER_SEC);
  fail_unless_equals_uint64 (get_u64_prop (e, "messages-produced"), 100);
  fail_unless_equals_uint64 (get_u64_prop (e, "messages-queued"), 10);
  fail_unless_equals_uint64 (get_u64_prop (e, "messages-dropped"), 90);
  fail_unless_equals_uint64 (get_u64_prop (e, "messages-sent"), 0);
  g_object_get (e, "connected", &connected, NULL);
  fail_unless (!connected);

  /* The outage is a warning, not an error; stats messages come. */
  m = gst_bus_timed_pop_filtered (bus, 5 * GST_SECOND, GST_MESSAGE_WARNING);
  fail_unless (m != NULL);
  gst_message_unref (m);
  for (;;) {
    const GstStructure *s;
    guint64 q = 0, d = 0;
    m = gst_bus_timed_pop_filtered (bus, 5 * GST_SECOND, GST_MESSAGE_ELEMENT);
    fail_unless (m != NULL, "no clarpublish-stats message");
    s = gst_message_get_structure (m);
    /* Messages posted while the buffers were still coming show less. */
    if (gst_structure_has_name (s, "clarpublish-stats")) {
      fail_unless (gst_structure_get_uint64 (s, "queued", &q));
      fail_unless (gst_structure_get_uint64 (s, "dropped", &d));
      fail_unless (q <= 10 && d <= 90);
      if (q == 10 && d == 90) {
        gst_message_unref (m);
        break;
      }
    }
    gst_message_unref (m);
  }
  gst_harness_teardown (h);
  /* flush-timeout=0: the 10 queued ones are dropped at stop. */
  fail_unless_equals_uint64 (get_u64_prop (e, "messages-dropped"), 100);
  fail_unless_equals_uint64 (get_u64_prop (e, "messages-queued"), 0);
  gst_object_unref (e);
  /* Queued messages hold the element: drop them. */
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  close (fd);
}

/* A "broker" that accepts the TCP connection and never answers CONNECT:
 * stop() still returns within flush-timeout, and the message that could
 * not be delivered is counted as dropped. (A host that drops SYNs cannot
 * be imitated on loopback without firewall rules; the connect is
 * non-blocking for that case, gstclarpublish.c mqtt_open.) */
GST_START_TEST (test_mqtt_silent_broker_stop)
{
  GstHarness *h;
  GstElement *e;
  struct sockaddr_in a = { 0 };
  socklen_t len = sizeof a;
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  gint64 t0;

  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  fail_unless (bind (fd, (struct sockaddr *) &a, sizeof a) == 0);
  fail_unless (listen (fd, 4) == 0);
  getsockname (fd, (struct sockaddr *) &a, &len);
  h = harness_with (&e, NULL, "method", 1, "port", (gint) ntohs (a.sin_port),
      "flush-timeout", (guint64) 500 * GST_MSECOND, NULL);
  gst_harness_set_src_caps_str (h, "audio/x-raw,format=F32LE,rate=16000,channels=1,"
      "layout=interleaved");
  fail_unless_equals_int (gst_harness_push (h, window_buffer (0, "x")), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  g_usleep (200000);
  t0 = g_get_monotonic_time ();
  gst_harness_teardown (h);
  fail_unless (g_get_monotonic_time () - t0 < 3 * G_USEC_PER_SEC, "stop took %.1f s",
      (g_get_monotonic_time () - t0) / 1e6);
  fail_unless_equals_uint64 (get_u64_prop (e, "messages-dropped"), 1);
  fail_unless_equals_uint64 (get_u64_prop (e, "messages-sent"), 0);
  gst_object_unref (e);
  close (fd);
}
GST_END_TEST;

GST_START_TEST (test_mqtt_no_broker_drop_oldest)
{
  check_no_broker (0);
}
GST_END_TEST;

GST_START_TEST (test_mqtt_no_broker_drop_newest)
{
  check_no_broker (1);
}
GST_END_TEST;
#endif

static Suite *
clarpublish_suite (void)
{
  Suite *s = suite_create ("clarpublish");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_file_windows);
  tcase_add_test (tc, test_file_escaping_and_events);
  tcase_add_test (tc, test_file_clarembed_events);
  tcase_add_test (tc, test_file_write_error);
  tcase_add_test (tc, test_bad_settings);
#ifdef HAVE_MOSQUITTO
  tcase_add_test (tc, test_mqtt_no_broker_drop_oldest);
  tcase_add_test (tc, test_mqtt_no_broker_drop_newest);
  tcase_add_test (tc, test_mqtt_silent_broker_stop);
#endif
  return s;
}

int
main (int argc, char **argv)
{
  int nf;
  tmpdir = g_dir_make_tmp ("clarpublish-XXXXXX", NULL);
  gst_check_init (&argc, &argv);
  nf = gst_check_run_suite (clarpublish_suite (), "clarpublish", __FILE__);
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return nf;
}
