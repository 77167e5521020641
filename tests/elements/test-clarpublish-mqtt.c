/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clarpublish method=mqtt against a real broker: Debian's mosquitto on
 * 127.0.0.1 at a free port, with a password file and a TLS listener made by
 * the test (tests/elements/mqtt-broker.h), and a libmosquitto subscriber.
 *
 *   delivery  audiotestsrc ! clarembed ! clarpublish qos=0 ! .. qos=1 ! ..
 *             qos=2: every message arrives once, in order, with the right
 *             fields, and the counters agree
 *   restart   a live stream; the broker is killed (SIGKILL) mid-stream and
 *             restarted 2.5 s later: a publisher whose queue holds the
 *             outage loses nothing (sequence numbers prove it; duplicates of
 *             the messages in flight at the kill are counted), one with
 *             queue-size=3 loses exactly what it counted as dropped
 *   auth      a wrong password is an element error RESOURCE/NOT_AUTHORIZED
 *   tls       the TLS listener with CA, client certificate and key; with a
 *             CA that did not sign the broker's certificate: a warning,
 *             nothing sent, the queue counted as dropped at stop
 *   soak      64 streams in one process to one broker (CLAR_SOAK_STREAMS,
 *             CLAR_SOAK_SECONDS of audio each): nothing lost
 *
 * `test-clarpublish-mqtt soak STREAMS SECONDS [live] [restart]` runs only
 * the soak, longer (bench/README.md, "MQTT soak"), and prints the loss
 * figures. Exit 77 (skipped) when mosquitto, mosquitto_passwd or openssl
 * is missing. */
#include <stdio.h>
#include <stdlib.h>
#include <gst/gst.h>
#include "mqtt-broker.h"
#include "json.h"

static int failures;
static Broker broker;
static const gchar *model;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
      g_printerr ("FAIL %s:%d: ", __FILE__, __LINE__); g_printerr (__VA_ARGS__); \
      g_printerr ("\n"); } } while (0)

/* ---- running pipelines ---- */

typedef void (*TimeHook) (gint64 elapsed_ms, gpointer data);

/* Runs `p` to EOS (or an error) within `timeout_s`, calling `hook` every
 * 50 ms; then sets it to NULL (clarpublish flushes its queue). Returns the
 * first error or NULL. */
static GError *
run_pipeline (GstElement *p, guint timeout_s, TimeHook hook, gpointer data, gboolean *eos)
{
  GstBus *bus = gst_element_get_bus (p);
  GError *err = NULL;
  gint64 t0 = g_get_monotonic_time ();

  *eos = FALSE;
  gst_element_set_state (p, GST_STATE_PLAYING);
  while (!*eos && !err) {
    gint64 el = (g_get_monotonic_time () - t0) / 1000;
    GstMessage *m;
    if (el > (gint64) timeout_s * 1000) {
      g_set_error (&err, GST_CORE_ERROR, GST_CORE_ERROR_FAILED, "timeout after %u s",
          timeout_s);
      break;
    }
    if (hook)
      hook (el, data);
    m = gst_bus_timed_pop_filtered (bus, 50 * GST_MSECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    if (!m)
      continue;
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS)
      *eos = TRUE;
    else
      gst_message_parse_error (m, &err, NULL);
    gst_message_unref (m);
  }
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  return err;
}

static guint64
u64_prop (GstElement *p, const gchar *name, const gchar *prop)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (p), name);
  guint64 v = G_MAXUINT64;
  if (e) {
    g_object_get (e, prop, &v, NULL);
    gst_object_unref (e);
  }
  return v;
}

static gchar *
mqtt_props (const gchar *name, gint port, gint qos, const gchar *extra)
{
  return g_strdup_printf ("clarpublish name=%s stream-id=%s method=mqtt host=127.0.0.1 "
      "port=%d topic=clar/test/{stream-id} username=" BROKER_USER " password=" BROKER_PASSWORD
      " qos=%d reconnect-delay=100000000 reconnect-delay-max=500000000 "
      "flush-timeout=15000000000 %s", name, name, port, qos, extra ? extra : "");
}

/* ---- checking what arrived ---- */

typedef struct {
  guint received;      /* messages of the stream */
  guint distinct;      /* distinct seqs */
  guint duplicates;
  guint missing;       /* seqs 0..produced-1 never received */
  guint out_of_order;  /* a new seq below one received before */
  guint bad_fields;
} StreamStats;

/* Every message of `sid` in arrival order: JSON valid, fields right
 * (windows of `hop` ns, 1 s long, timestamps = running times), seqs
 * compared with `produced`. */
static StreamStats
check_stream (Subscriber *s, const gchar *sid, guint64 produced, guint64 hop)
{
  StreamStats st = { 0 };
  guint8 *seen = g_malloc0 (produced + 1);
  gint64 max_seq = -1;
  long long base = -1;
  gchar *topic = g_strdup_printf ("clar/test/%s", sid);

  g_mutex_lock (&s->lock);
  for (guint i = 0; i < s->msgs->len; i++) {
    Received *r = g_ptr_array_index (s->msgs, i);
    clar_json *j = NULL;
    char errmsg[128];
    long long seq = -1, ts = -1, index = -1, rt = -1, dur = -1;
    const clar_json *v, *labels;

    if (strcmp (r->topic, topic) != 0)
      continue;
    st.received++;
    if (!g_utf8_validate (r->payload, (gssize) r->len, NULL)
        || clar_json_parse (r->payload, r->len, &j, errmsg, sizeof errmsg) != 0) {
      st.bad_fields++;
      continue;
    }
    v = clar_json_get (j, "stream-id");
    labels = clar_json_get (j, "labels");
    clar_json_get_int (clar_json_get (j, "seq"), 0, G_MAXINT32, &seq);
    clar_json_get_int (clar_json_get (j, "timestamp"), 0, G_MAXINT64 / 2, &ts);
    clar_json_get_int (clar_json_get (j, "running-time"), 0, G_MAXINT64 / 2, &rt);
    clar_json_get_int (clar_json_get (j, "duration"), 0, G_MAXINT64 / 2, &dur);
    clar_json_get_int (clar_json_get (j, "window-index"), 0, G_MAXINT32, &index);
    /* A live source's timestamps start at the running time it started at:
     * every window's is that base plus index x hop. */
    if (base < 0 && ts >= 0 && index >= 0)
      base = ts - index * (long long) hop;
    if (!v || v->type != CLAR_JSON_STRING || strcmp (v->string, sid) != 0 || seq < 0
        || index < 0 || ts != base + index * (long long) hop || rt != ts
        || dur != (long long) GST_SECOND || !labels || labels->type != CLAR_JSON_ARRAY
        || labels->n == 0 || !clar_json_get (&labels->items[0], "name")
        || !clar_json_get (j, "time") || clar_json_get (j, "time")->type != CLAR_JSON_STRING) {
      if (st.bad_fields++ < 3)
        g_printerr ("bad message on %s: %s\n", r->topic, r->payload);
    }
    if (seq >= 0 && (guint64) seq < produced) {
      if (seen[seq])
        st.duplicates++;
      else {
        seen[seq] = 1;
        st.distinct++;
        if (seq < max_seq)
          st.out_of_order++;
      }
      max_seq = MAX (max_seq, seq);
    } else if (seq >= 0) {
      st.bad_fields++;      /* beyond what the element says it produced */
    }
    clar_json_free (j);
  }
  g_mutex_unlock (&s->lock);
  st.missing = (guint) produced - st.distinct;
  g_free (seen);
  g_free (topic);
  return st;
}

static gchar *
source (gboolean live, guint seconds)
{
  /* 0.1 s buffers of pink noise at the model's rate. */
  return g_strdup_printf ("audiotestsrc is-live=%s num-buffers=%u samplesperbuffer=1600 "
      "wave=pink-noise ! audio/x-raw,format=F32LE,rate=16000,channels=1 ! "
      "clarembed model-location=\"%s\" post-messages=false", live ? "true" : "false",
      seconds * 10, model);
}

/* ---- delivery ---- */

/* examples/clar-store.py (mosquitto_sub + SQLite) over the delivery run:
 * a persistent session made first with `mosquitto_sub -E`, so the example
 * misses nothing however late it subscribes. */
static GPid
store_example_start (gint *out_fd, const gchar *db)
{
  const gchar *script = g_getenv ("CLAR_STORE_EXAMPLE");
  gchar *python = g_find_program_in_path ("python3"), *sub = g_find_program_in_path ("mosquitto_sub");
  gchar *port = g_strdup_printf ("%d", broker.port);
  GPid pid = 0;

  if (script && python && sub) {
    gchar *reg[] = { sub, (gchar *) "-h", (gchar *) "127.0.0.1", (gchar *) "-p", port,
      (gchar *) "-u", (gchar *) BROKER_USER, (gchar *) "-P", (gchar *) BROKER_PASSWORD,
      (gchar *) "-t", (gchar *) "clar/test/#", (gchar *) "-q", (gchar *) "1",
      (gchar *) "-i", (gchar *) "clar-store-test", (gchar *) "-c", (gchar *) "-E", NULL };
    gchar *argv[] = { python, (gchar *) script, (gchar *) "--port", port,
      (gchar *) "--username", (gchar *) BROKER_USER, (gchar *) "--password",
      (gchar *) BROKER_PASSWORD, (gchar *) "--topic", (gchar *) "clar/test/#",
      (gchar *) "--client-id", (gchar *) "clar-store-test", (gchar *) "--db", (gchar *) db, NULL };
    gint status = -1;
    CHECK (g_spawn_sync (NULL, reg, NULL, 0, NULL, NULL, NULL, NULL, &status, NULL)
        && status == 0, "mosquitto_sub -E");
    CHECK (g_spawn_async_with_pipes (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
            &pid, NULL, out_fd, NULL, NULL), "start clar-store.py");
  } else {
    g_print ("clar-store.py: not run (python3, mosquitto_sub or CLAR_STORE_EXAMPLE missing)\n");
  }
  g_free (python);
  g_free (sub);
  g_free (port);
  return pid;
}

/* Rows in the example's database (0 while it is not there yet), read by a
 * second python3 (SQLite in WAL mode lets a reader in beside the writer). */
static guint64
store_example_rows (const gchar *db)
{
  gchar *python = g_find_program_in_path ("python3"), *out = NULL;
  gchar *argv[] = { python, (gchar *) "-c", (gchar *) "import sqlite3, sys\n"
        "try:\n"
        "    c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\n"
        "    print(c.execute('SELECT count(*) FROM results').fetchone()[0])\n"
        "except sqlite3.Error:\n"
        "    print(0)\n", (gchar *) db, NULL };
  guint64 rows = 0;

  if (python && g_spawn_sync (NULL, argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
          NULL, NULL, NULL) && out)
    rows = g_ascii_strtoull (out, NULL, 10);
  g_free (out);
  g_free (python);
  return rows;
}

/* Stops the example (SIGINT: it then reports) and checks its report: the
 * QoS >= 1 streams complete (a broker queues no QoS 0 message for a session
 * that is not connected yet, MQTT 3.1.1 section 3.1.2.4, so how many of q0
 * it stored depends on when it connected). */
static void
store_example_check (GPid pid, gint fd, const gchar *db, guint64 qos12_total, guint64 total,
    guint64 per_stream)
{
  GString *out = g_string_new (NULL);
  gchar buf[4096], *want, *at;
  guint64 stored = 0, rows = 0;
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  gssize n;

  if (!pid)
    return;
  /* Stop it once it holds every QoS >= 1 message, not after a fixed delay:
   * on a loaded machine the interpreter may not even have started after a
   * second, and a SIGINT before Python installs its handler ends it without
   * a report. */
  while ((rows = store_example_rows (db)) < qos12_total && g_get_monotonic_time () < deadline)
    g_usleep (200000);
  CHECK (rows >= qos12_total, "clar-store.py's database holds %" G_GUINT64_FORMAT " of the %"
      G_GUINT64_FORMAT " QoS >= 1 messages after 30 s", rows, qos12_total);
  g_usleep (300000);            /* QoS 0 ones still in flight */
  kill (pid, SIGINT);
  while ((n = read (fd, buf, sizeof buf)) > 0)
    g_string_append_len (out, buf, n);
  waitpid (pid, NULL, 0);
  close (fd);
  g_print ("clar-store.py said:\n%s", out->str);
  at = strstr (out->str, "stored ");
  if (at)
    stored = g_ascii_strtoull (at + 7, NULL, 10);
  CHECK (stored >= qos12_total && stored <= total, "clar-store.py stored %" G_GUINT64_FORMAT,
      stored);
  for (int q = 1; q <= 2; q++) {
    want = g_strdup_printf ("q%d: %" G_GUINT64_FORMAT " results, seq 0..%" G_GUINT64_FORMAT
        ", missing 0", q, per_stream, per_stream - 1);
    CHECK (strstr (out->str, want) != NULL, "clar-store.py: %s", want);
    g_free (want);
  }
  g_string_free (out, TRUE);
}

static void
test_delivery (void)
{
  Subscriber sub;
  gchar *src = source (FALSE, 10);
  gchar *p0 = mqtt_props ("q0", broker.port, 0, NULL), *p1 = mqtt_props ("q1", broker.port, 1,
      NULL), *p2 = mqtt_props ("q2", broker.port, 2, NULL);
  gchar *desc = g_strdup_printf ("%s ! %s ! %s ! %s ! fakesink", src, p0, p1, p2);
  GstElement *p = gst_parse_launch (desc, NULL);
  const gchar *names[3] = { "q0", "q1", "q2" };
  guint64 total = 0;
  gboolean eos;
  GError *err;

  gchar *db = g_build_filename (broker.dir, "results.sqlite", NULL);
  gint store_fd = -1;
  GPid store = store_example_start (&store_fd, db);

  CHECK (subscriber_start (&sub, &broker, "sub-delivery", "clar/test/#", FALSE), "subscriber");
  err = run_pipeline (p, 60, NULL, NULL, &eos);
  CHECK (err == NULL && eos, "delivery pipeline: %s", err ? err->message : "no EOS");
  g_clear_error (&err);
  for (int i = 0; i < 3; i++)
    total += u64_prop (p, names[i], "messages-produced");
  subscriber_wait (&sub, (guint) total, 10000);
  g_usleep (300000);            /* anything extra (a duplicate) would come now */
  for (int i = 0; i < 3; i++) {
    guint64 produced = u64_prop (p, names[i], "messages-produced");
    StreamStats st = check_stream (&sub, names[i], produced, GST_SECOND / 2);
    g_print ("delivery qos=%d: produced %" G_GUINT64_FORMAT ", sent %" G_GUINT64_FORMAT
        ", received %u, missing %u, duplicates %u, out of order %u\n", i, produced,
        u64_prop (p, names[i], "messages-sent"), st.received, st.missing, st.duplicates,
        st.out_of_order);
    /* 10 s at hop 0.5 s: 19 full windows. */
    CHECK (produced >= 19, "%s produced %" G_GUINT64_FORMAT, names[i], produced);
    CHECK (u64_prop (p, names[i], "messages-sent") == produced, "%s sent", names[i]);
    CHECK (u64_prop (p, names[i], "messages-dropped") == 0, "%s dropped", names[i]);
    CHECK (st.received == produced && st.missing == 0 && st.duplicates == 0
        && st.out_of_order == 0 && st.bad_fields == 0, "%s: every message once, in order",
        names[i]);
  }
  store_example_check (store, store_fd, db, total - u64_prop (p, "q0", "messages-produced"),
      total, u64_prop (p, "q1", "messages-produced"));
  g_free (db);
  subscriber_stop (&sub);
  gst_object_unref (p);
  g_free (desc);
  g_free (src);
  g_free (p0);
  g_free (p1);
  g_free (p2);
}

/* ---- broker killed and restarted ---- */

typedef struct {
  gint64 kill_at, restart_at;   /* ms since PLAYING */
  gboolean killed, restarted;
  gint64 killed_at_ms, restarted_at_ms;
} Outage;

static void
outage_hook (gint64 el, gpointer data)
{
  Outage *o = data;
  if (!o->killed && el >= o->kill_at) {
    broker_kill (&broker, SIGKILL);
    o->killed = TRUE;
    o->killed_at_ms = el;
  }
  if (o->killed && !o->restarted && el >= o->restart_at) {
    o->restarted = broker_start (&broker);
    CHECK (o->restarted, "broker restart");
    o->restarted_at_ms = el;
  }
}

static void
test_restart (void)
{
  Subscriber sub;
  gchar *src = source (TRUE, 8);
  gchar *pa = mqtt_props ("big", broker.port, 1, "queue-size=1000");
  gchar *pb = mqtt_props ("small", broker.port, 1, "queue-size=3 queue-policy=drop-oldest");
  /* hop 0.25 s: a window every 250 ms, about 10 during the outage. */
  /* max-lateness=-1: every window is computed even on a slow (sanitizer)
   * build, so the count below is exact. */
  gchar *desc = g_strdup_printf ("%s hop-size=250000000 max-lateness=-1 ! %s ! %s ! fakesink",
      src, pa, pb);
  GstElement *p = gst_parse_launch (desc, NULL);
  Outage o = { 2500, 5000, FALSE, FALSE, 0, 0 };
  guint64 pa_n, pb_n, pb_drop;
  StreamStats sa, sb;
  gboolean eos;
  GError *err;

  CHECK (subscriber_start (&sub, &broker, "sub-restart", "clar/test/#", TRUE), "subscriber");
  /* The broker saves its database every second (autosave_interval 1): the
   * subscriber's persistent session must be on disk before the kill. */
  g_usleep (1500000);
  err = run_pipeline (p, 60, outage_hook, &o, &eos);
  CHECK (err == NULL && eos, "restart pipeline: %s", err ? err->message : "no EOS");
  g_clear_error (&err);
  pa_n = u64_prop (p, "big", "messages-produced");
  pb_n = u64_prop (p, "small", "messages-produced");
  pb_drop = u64_prop (p, "small", "messages-dropped");
  subscriber_wait (&sub, (guint) (pa_n + pb_n - pb_drop), 15000);
  g_usleep (300000);
  sa = check_stream (&sub, "big", pa_n, GST_SECOND / 4);
  sb = check_stream (&sub, "small", pb_n, GST_SECOND / 4);
  g_print ("restart: broker killed at %.2f s, back at %.2f s (%.2f s down); "
      "reconnects big %" G_GUINT64_FORMAT ", small %" G_GUINT64_FORMAT "\n",
      o.killed_at_ms / 1000.0, o.restarted_at_ms / 1000.0,
      (o.restarted_at_ms - o.killed_at_ms) / 1000.0, u64_prop (p, "big", "reconnects"),
      u64_prop (p, "small", "reconnects"));
  g_print ("restart queue-size=1000: produced %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT
      ", received %u distinct, missing %u, duplicates %u, out of order %u\n", pa_n,
      u64_prop (p, "big", "messages-dropped"), sa.distinct, sa.missing, sa.duplicates,
      sa.out_of_order);
  g_print ("restart queue-size=3: produced %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT
      ", received %u distinct, missing %u, duplicates %u, out of order %u\n", pb_n, pb_drop,
      sb.distinct, sb.missing, sb.duplicates, sb.out_of_order);
  CHECK (o.killed && o.restarted, "outage happened");
  CHECK (u64_prop (p, "big", "reconnects") >= 1, "big reconnected");
  CHECK (pa_n >= 28, "big produced %" G_GUINT64_FORMAT, pa_n);
  CHECK (sa.missing == 0 && u64_prop (p, "big", "messages-dropped") == 0,
      "queue-size=1000 lost %u messages", sa.missing);
  CHECK (sa.bad_fields == 0 && sb.bad_fields == 0, "fields");
  /* The small queue overflowed during the outage; exactly what it counted
   * as dropped is missing. */
  CHECK (pb_drop > 0, "queue-size=3 dropped nothing over a 2.5 s outage");
  CHECK (sb.missing == pb_drop, "queue-size=3: missing %u != dropped %" G_GUINT64_FORMAT,
      sb.missing, pb_drop);
  subscriber_stop (&sub);
  gst_object_unref (p);
  g_free (desc);
  g_free (src);
  g_free (pa);
  g_free (pb);
}

/* ---- wrong password ---- */

static void
test_auth (void)
{
  gchar *src = source (TRUE, 10);
  gchar *desc = g_strdup_printf ("%s ! clarpublish method=mqtt port=%d username="
      BROKER_USER " password=wrong ! fakesink", src, broker.port);
  GstElement *p = gst_parse_launch (desc, NULL);
  gboolean eos;
  gint64 t0 = g_get_monotonic_time ();
  GError *err = run_pipeline (p, 30, NULL, NULL, &eos);

  g_print ("auth: %s (after %.2f s)\n", err ? err->message : "no error",
      (g_get_monotonic_time () - t0) / 1e6);
  CHECK (err && g_error_matches (err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED)
      && strstr (err->message, "refused the credentials"), "wrong password: clear error");
  CHECK (g_get_monotonic_time () - t0 < 5 * G_USEC_PER_SEC, "error within 5 s");
  g_clear_error (&err);
  gst_object_unref (p);
  g_free (desc);
  g_free (src);
}

/* ---- TLS ---- */

static void
test_tls (void)
{
  Subscriber sub;
  gchar *src = source (FALSE, 5);
  gchar *extra = g_strdup_printf ("tls-ca-file=\"%s\" tls-cert-file=\"%s\" tls-key-file=\"%s\"",
      broker.ca, broker.client_cert, broker.client_key);
  gchar *pt = mqtt_props ("tls", broker.tls_port, 1, extra);
  gchar *desc = g_strdup_printf ("%s ! %s ! fakesink", src, pt);
  GstElement *p = gst_parse_launch (desc, NULL);
  guint64 produced;
  StreamStats st;
  gboolean eos;
  GError *err;

  CHECK (subscriber_start (&sub, &broker, "sub-tls", "clar/test/#", FALSE), "subscriber");
  err = run_pipeline (p, 60, NULL, NULL, &eos);
  CHECK (err == NULL && eos, "tls pipeline: %s", err ? err->message : "no EOS");
  g_clear_error (&err);
  produced = u64_prop (p, "tls", "messages-produced");
  subscriber_wait (&sub, (guint) produced, 10000);
  st = check_stream (&sub, "tls", produced, GST_SECOND / 2);
  g_print ("tls: produced %" G_GUINT64_FORMAT ", received %u, missing %u\n", produced,
      st.received, st.missing);
  CHECK (produced >= 9 && st.missing == 0 && st.duplicates == 0 && st.bad_fields == 0,
      "tls delivery");
  subscriber_stop (&sub);
  gst_object_unref (p);
  g_free (desc);
  g_free (src);
  g_free (pt);
  g_free (extra);
}

/* A CA that did not sign the broker's certificate: no connection, a
 * warning on the bus (not an error: the element keeps retrying), the
 * results stay queued and are counted as dropped at stop. */
static void
test_tls_wrong_ca (void)
{
  gchar *src = source (TRUE, 3);
  gchar *extra = g_strdup_printf ("tls-ca-file=\"%s\" tls-cert-file=\"%s\" "
      "tls-key-file=\"%s\" flush-timeout=0", broker.client_cert, broker.client_cert,
      broker.client_key);
  gchar *pt = mqtt_props ("badca", broker.tls_port, 1, extra);
  gchar *desc = g_strdup_printf ("%s ! %s ! fakesink", src, pt);
  GstElement *p = gst_parse_launch (desc, NULL);
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *m;
  GError *err = NULL;
  gchar *dbg = NULL;
  guint64 produced, dropped, sent;

  gst_element_set_state (p, GST_STATE_PLAYING);
  m = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND, GST_MESSAGE_WARNING | GST_MESSAGE_ERROR);
  CHECK (m != NULL && GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING, "no warning with a wrong CA");
  if (m) {
    gst_message_parse_warning (m, &err, &dbg);
    g_print ("tls wrong CA: warning \"%s\" (%s)\n", err->message, dbg ? dbg : "");
    CHECK (strstr (err->message, "Cannot reach the MQTT broker") != NULL, "warning text");
    g_clear_error (&err);
    g_free (dbg);
    gst_message_unref (m);
  }
  m = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  CHECK (m != NULL && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "wrong-CA pipeline: no EOS");
  if (m)
    gst_message_unref (m);
  gst_element_set_state (p, GST_STATE_NULL);
  produced = u64_prop (p, "badca", "messages-produced");
  dropped = u64_prop (p, "badca", "messages-dropped");
  sent = u64_prop (p, "badca", "messages-sent");
  g_print ("tls wrong CA: produced %" G_GUINT64_FORMAT ", sent %" G_GUINT64_FORMAT
      ", dropped at stop %" G_GUINT64_FORMAT "\n", produced, sent, dropped);
  CHECK (produced >= 4 && sent == 0 && dropped == produced, "wrong CA: nothing sent");
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (p);
  g_free (desc);
  g_free (src);
  g_free (pt);
  g_free (extra);
}

/* ---- soak: many streams, one process, one broker ---- */

static void
test_soak (guint streams, guint seconds, gboolean live, gboolean restart)
{
  Subscriber sub;
  GString *desc = g_string_new (NULL);
  GstElement *p;
  Outage o = { G_MAXINT64, G_MAXINT64, FALSE, FALSE, 0, 0 };
  guint64 produced = 0, dropped = 0, sent = 0, skipped = 0;
  guint missing = 0, dups = 0, ooo = 0, bad = 0, received = 0;
  gint64 t0 = g_get_monotonic_time ();
  gboolean eos;
  GError *err;

  for (guint i = 0; i < streams; i++) {
    gchar *src = source (live, seconds);
    gchar *name = g_strdup_printf ("s%03u", i);
    gchar *pp = mqtt_props (name, broker.port, 1, "queue-size=10000 stats-interval=0");
    g_string_append_printf (desc, "%s ! %s ! fakesink ", src, pp);
    g_free (src);
    g_free (name);
    g_free (pp);
  }
  p = gst_parse_launch (desc->str, NULL);
  if (restart) {
    o.kill_at = seconds * 1000 / 2;
    o.restart_at = o.kill_at + 3000;
  }
  CHECK (subscriber_start (&sub, &broker, "sub-soak", "clar/test/#", restart), "subscriber");
  g_usleep (1500000);
  err = run_pipeline (p, seconds * 3 + 120, restart ? outage_hook : NULL, &o, &eos);
  CHECK (err == NULL && eos, "soak pipeline: %s", err ? err->message : "no EOS");
  g_clear_error (&err);
  for (guint i = 0; i < streams; i++) {
    gchar *name = g_strdup_printf ("s%03u", i);
    produced += u64_prop (p, name, "messages-produced");
    dropped += u64_prop (p, name, "messages-dropped");
    sent += u64_prop (p, name, "messages-sent");
    g_free (name);
  }
  /* Live streams: clarembed's live policy may skip windows on a busy CPU
   * (windows-skipped); those were never produced. */
  {
    GstIterator *it = gst_bin_iterate_all_by_element_factory_name (GST_BIN (p), "clarembed");
    GValue v = G_VALUE_INIT;
    while (gst_iterator_next (it, &v) == GST_ITERATOR_OK) {
      guint64 k = 0;
      g_object_get (g_value_get_object (&v), "windows-skipped", &k, NULL);
      skipped += k;
      g_value_reset (&v);
    }
    g_value_unset (&v);
    gst_iterator_free (it);
  }
  subscriber_wait (&sub, (guint) (produced - dropped), 30000);
  g_usleep (500000);
  for (guint i = 0; i < streams; i++) {
    gchar *name = g_strdup_printf ("s%03u", i);
    StreamStats st = check_stream (&sub, name, u64_prop (p, name, "messages-produced"),
        GST_SECOND / 2);
    missing += st.missing;
    dups += st.duplicates;
    ooo += st.out_of_order;
    bad += st.bad_fields;
    received += st.received;
    g_free (name);
  }
  g_print ("soak: %u streams x %u s of audio (%s%s), %.1f s wall: produced %" G_GUINT64_FORMAT
      ", sent %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT ", received %u, missing %u "
      "(%.4f%%), duplicates %u, out of order %u, bad %u; windows skipped by clarembed's "
      "live policy %" G_GUINT64_FORMAT "\n", streams, seconds,
      live ? "live" : "as fast as possible", restart ? ", broker killed and restarted" : "",
      (g_get_monotonic_time () - t0) / 1e6, produced, sent, dropped, received, missing,
      produced ? 100.0 * missing / produced : 0.0, dups, ooo, bad, skipped);
  CHECK (produced + skipped >= (guint64) streams * (2 * seconds - 1),
      "soak produced %" G_GUINT64_FORMAT, produced);
  CHECK (missing == 0 && dropped == 0 && bad == 0 && ooo == 0, "soak: nothing lost");
  if (!restart)
    CHECK (dups == 0 && sent == produced, "soak: no duplicates without an outage");
  subscriber_stop (&sub);
  gst_object_unref (p);
  g_string_free (desc, TRUE);
}

static guint
env_uint (const gchar *name, guint def)
{
  const gchar *v = g_getenv (name);
  return v ? (guint) g_ascii_strtoull (v, NULL, 10) : def;
}

int
main (int argc, char **argv)
{
  gboolean soak_only = argc >= 4 && strcmp (argv[1], "soak") == 0;

  gst_init (&argc, &argv);
  model = g_getenv ("CLAR_TEST_MODEL");
  if (!model) {
    g_printerr ("CLAR_TEST_MODEL not set\n");
    return 1;
  }
  if (!broker_prepare (&broker)) {
    g_print ("SKIP: mosquitto, mosquitto_passwd or openssl missing (apt-get install "
        "mosquitto mosquitto-clients openssl)\n");
    broker_free (&broker);
    return 77;
  }
  mosquitto_lib_init ();
  if (!broker_start (&broker)) {
    broker_free (&broker);
    return 1;
  }
  g_print ("broker: 127.0.0.1:%d (TLS %d), %s\n", broker.port, broker.tls_port, broker.dir);

  if (soak_only) {
    gboolean live = FALSE, restart = FALSE;
    for (int i = 4; i < argc; i++) {
      live |= strcmp (argv[i], "live") == 0;
      restart |= strcmp (argv[i], "restart") == 0;
    }
    test_soak ((guint) atoi (argv[2]), (guint) atoi (argv[3]), live, restart);
  } else {
    test_delivery ();
    test_auth ();
    test_tls ();
    test_tls_wrong_ca ();
    test_restart ();
    /* Under AddressSanitizer (-O0, tools/bootstrap.sh's second stage) a
     * window costs ~0.2 s of CPU: 64 streams of 2 s there. */
#ifdef __SANITIZE_ADDRESS__
    const guint soak_seconds = 2;
#else
    const guint soak_seconds = 15;
#endif
    test_soak (env_uint ("CLAR_SOAK_STREAMS", 64), env_uint ("CLAR_SOAK_SECONDS", soak_seconds),
        FALSE, FALSE);
  }
  broker_free (&broker);
  mosquitto_lib_cleanup ();
  g_print ("%s (%d failure%s)\n", failures ? "FAILED" : "PASSED", failures,
      failures == 1 ? "" : "s");
  return failures ? 1 : 0;
}
