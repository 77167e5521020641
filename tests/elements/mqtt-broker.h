/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A private Mosquitto broker for clarpublish's tests and the MQTT soak
 * (bench/soak-mqtt.c): Debian's `mosquitto` on 127.0.0.1 at free ports, a
 * password file made with mosquitto_passwd, a TLS listener with a CA,
 * server and client certificate made with openssl, persistence in the
 * broker's own temporary directory; and a libmosquitto subscriber that
 * collects every message it receives. Nothing here contacts another
 * address than 127.0.0.1. */
#ifndef CLAR_MQTT_BROKER_H
#define CLAR_MQTT_BROKER_H

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <mosquitto.h>

#define BROKER_USER "clar"
#define BROKER_PASSWORD "s3cret-p4ss"

typedef struct {
  gchar *dir;          /* temporary directory: config, keys, logs, database */
  gchar *mosquitto;    /* the broker's binary */
  gchar *conf;
  gint port, tls_port;
  GPid pid;
  gchar *ca, *client_cert, *client_key;
} Broker;

/* The broker's binary: Debian puts it in /usr/sbin, which is not on a
 * normal user's PATH. NULL when absent (the caller skips). */
static inline gchar *
broker_find_mosquitto (void)
{
  gchar *p = g_find_program_in_path ("mosquitto");
  if (!p && g_file_test ("/usr/sbin/mosquitto", G_FILE_TEST_IS_EXECUTABLE))
    p = g_strdup ("/usr/sbin/mosquitto");
  return p;
}

/* A TCP port on 127.0.0.1 nobody listens on now. */
static inline gint
broker_free_port (void)
{
  struct sockaddr_in a = { 0 };
  socklen_t len = sizeof a;
  int fd = socket (AF_INET, SOCK_STREAM, 0), port = -1;
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd >= 0 && bind (fd, (struct sockaddr *) &a, sizeof a) == 0
      && getsockname (fd, (struct sockaddr *) &a, &len) == 0)
    port = ntohs (a.sin_port);
  if (fd >= 0)
    close (fd);
  return port;
}

static inline gboolean
broker_run (const gchar *dir, const gchar *cmd)
{
  gchar *full = g_strdup_printf ("sh -c 'cd \"%s\" && %s'", dir, cmd);
  gint status = -1;
  gchar *err = NULL;
  gboolean ok = g_spawn_command_line_sync (full, NULL, &err, &status, NULL)
      && g_spawn_check_wait_status (status, NULL);
  if (!ok)
    g_printerr ("command failed: %s\n%s\n", cmd, err ? err : "");
  g_free (err);
  g_free (full);
  return ok;
}

/* Keys, certificates (EC P-256; the server's names 127.0.0.1), password
 * file and configuration. Returns FALSE with a message on failure. */
static inline gboolean
broker_prepare (Broker *b)
{
  gchar *passwd_bin = g_find_program_in_path ("mosquitto_passwd");
  gchar *openssl = g_find_program_in_path ("openssl");
  gchar *cmd;
  gboolean ok;
  const gchar *user = g_get_user_name ();

  memset (b, 0, sizeof *b);
  b->mosquitto = broker_find_mosquitto ();
  if (!b->mosquitto || !passwd_bin || !openssl) {
    g_free (passwd_bin);
    g_free (openssl);
    return FALSE;
  }
  b->dir = g_dir_make_tmp ("clar-mqtt-XXXXXX", NULL);
  b->port = broker_free_port ();
  do
    b->tls_port = broker_free_port ();
  while (b->tls_port == b->port);
  cmd = g_strdup_printf (
      "%s req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      "-keyout ca.key -out ca.crt -days 2 -subj /CN=clar-test-ca 2>/dev/null && "
      "%s req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key "
      "-out server.csr -subj /CN=127.0.0.1 2>/dev/null && "
      "printf \"subjectAltName=IP:127.0.0.1\\n\" > san.cnf && "
      "%s x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
      "-out server.crt -days 2 -extfile san.cnf 2>/dev/null && "
      "%s req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout client.key "
      "-out client.csr -subj /CN=clar-client 2>/dev/null && "
      "%s x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
      "-out client.crt -days 2 2>/dev/null && "
      "%s -c -b passwd %s %s",
      openssl, openssl, openssl, openssl, openssl, passwd_bin, BROKER_USER, BROKER_PASSWORD);
  ok = broker_run (b->dir, cmd);
  g_free (cmd);
  g_free (passwd_bin);
  g_free (openssl);
  if (!ok)
    return FALSE;
  b->ca = g_build_filename (b->dir, "ca.crt", NULL);
  b->client_cert = g_build_filename (b->dir, "client.crt", NULL);
  b->client_key = g_build_filename (b->dir, "client.key", NULL);
  b->conf = g_build_filename (b->dir, "mosquitto.conf", NULL);
  /* `user`: a broker started as root otherwise drops to the "mosquitto"
   * user, which cannot read this private directory. Persistence keeps the
   * subscriber's session (and its queued messages) across a restart. */
  gchar *conf = g_strdup_printf (
      "user %s\n"
      "per_listener_settings false\n"
      "allow_anonymous false\n"
      "password_file %s/passwd\n"
      "persistence true\n"
      "persistence_location %s/\n"
      "autosave_interval 1\n"
      "max_queued_messages 100000\n"
      "max_inflight_messages 0\n"
      "log_dest file %s/mosquitto.log\n"
      "log_type error\nlog_type warning\nlog_type notice\n"
      "listener %d 127.0.0.1\n"
      "listener %d 127.0.0.1\n"
      "cafile %s/ca.crt\ncertfile %s/server.crt\nkeyfile %s/server.key\n"
      "require_certificate true\n",
      user, b->dir, b->dir, b->dir, b->port, b->tls_port, b->dir, b->dir, b->dir);
  ok = g_file_set_contents (b->conf, conf, -1, NULL);
  g_free (conf);
  return ok;
}

/* Starts the broker and waits (up to 10 s) until its plain port accepts. */
static inline gboolean
broker_start (Broker *b)
{
  gchar *argv[] = { b->mosquitto, (gchar *) "-c", b->conf, NULL };
  GError *err = NULL;
  if (!g_spawn_async (b->dir, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
          NULL, NULL, &b->pid, &err)) {
    g_printerr ("cannot start %s: %s\n", b->mosquitto, err->message);
    g_error_free (err);
    return FALSE;
  }
  for (int i = 0; i < 200; i++) {
    struct sockaddr_in a = { 0 };
    int fd = socket (AF_INET, SOCK_STREAM, 0), r;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    a.sin_port = htons (b->port);
    r = connect (fd, (struct sockaddr *) &a, sizeof a);
    close (fd);
    if (r == 0)
      return TRUE;
    if (waitpid (b->pid, NULL, WNOHANG) == b->pid) {
      gchar *log = NULL, *path = g_build_filename (b->dir, "mosquitto.log", NULL);
      g_file_get_contents (path, &log, NULL, NULL);
      g_printerr ("mosquitto exited at start:\n%s\n", log ? log : "(no log)");
      g_free (log);
      g_free (path);
      b->pid = 0;
      return FALSE;
    }
    g_usleep (50000);
  }
  g_printerr ("mosquitto did not listen on 127.0.0.1:%d\n", b->port);
  return FALSE;
}

/* Ends the broker with `sig` and reaps it. */
static inline void
broker_kill (Broker *b, int sig)
{
  if (b->pid <= 0)
    return;
  kill (b->pid, sig);
  waitpid (b->pid, NULL, 0);
  b->pid = 0;
}

static inline void
broker_free (Broker *b)
{
  broker_kill (b, SIGTERM);
  if (b->dir && !g_getenv ("CLAR_KEEP_BROKER_DIR")) {
    gchar *cmd = g_strdup_printf ("rm -rf \"%s\"", b->dir);
    g_spawn_command_line_sync (cmd, NULL, NULL, NULL, NULL);
    g_free (cmd);
  }
  g_free (b->dir);
  g_free (b->mosquitto);
  g_free (b->conf);
  g_free (b->ca);
  g_free (b->client_cert);
  g_free (b->client_key);
  memset (b, 0, sizeof *b);
}

/* ---- subscriber ---- */

typedef struct {
  gchar *topic;
  gchar *payload;
  gsize len;
} Received;

typedef struct {
  struct mosquitto *mosq;
  GMutex lock;
  GPtrArray *msgs;       /* Received* in arrival order */
  gboolean subscribed;
  gchar *filter;
} Subscriber;

static inline void
received_free (gpointer p)
{
  Received *r = p;
  g_free (r->topic);
  g_free (r->payload);
  g_free (r);
}

static inline void
sub_on_connect (struct mosquitto *mosq, void *obj, int rc)
{
  Subscriber *s = obj;
  if (rc == 0)
    mosquitto_subscribe (mosq, NULL, s->filter, 1);
}

static inline void
sub_on_subscribe (struct mosquitto *mosq, void *obj, int mid, int n, const int *granted)
{
  Subscriber *s = obj;
  g_mutex_lock (&s->lock);
  s->subscribed = TRUE;
  g_mutex_unlock (&s->lock);
}

static inline void
sub_on_message (struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
  Subscriber *s = obj;
  Received *r = g_new0 (Received, 1);
  r->topic = g_strdup (m->topic);
  r->payload = g_strndup (m->payload, (gsize) m->payloadlen);
  r->len = (gsize) m->payloadlen;
  g_mutex_lock (&s->lock);
  g_ptr_array_add (s->msgs, r);
  g_mutex_unlock (&s->lock);
}

/* A subscriber (QoS 1). `persistent` (clean_session false): the broker
 * keeps its subscription and queues messages for it while it is away (and
 * across a broker restart, from its database), so a publisher that
 * reconnects first loses nothing. libmosquitto's own thread reconnects it
 * every second. */
static inline gboolean
subscriber_start (Subscriber *s, const Broker *b, const gchar *id, const gchar *filter,
    gboolean persistent)
{
  memset (s, 0, sizeof *s);
  g_mutex_init (&s->lock);
  s->msgs = g_ptr_array_new_with_free_func (received_free);
  s->filter = g_strdup (filter);
  s->mosq = mosquitto_new (id, !persistent, s);
  if (!s->mosq)
    return FALSE;
  mosquitto_username_pw_set (s->mosq, BROKER_USER, BROKER_PASSWORD);
  mosquitto_connect_callback_set (s->mosq, sub_on_connect);
  mosquitto_subscribe_callback_set (s->mosq, sub_on_subscribe);
  mosquitto_message_callback_set (s->mosq, sub_on_message);
  mosquitto_reconnect_delay_set (s->mosq, 1, 1, false);
  if (mosquitto_connect (s->mosq, "127.0.0.1", b->port, 30) != MOSQ_ERR_SUCCESS
      || mosquitto_loop_start (s->mosq) != MOSQ_ERR_SUCCESS)
    return FALSE;
  for (int i = 0; i < 200; i++) {
    gboolean ok;
    g_mutex_lock (&s->lock);
    ok = s->subscribed;
    g_mutex_unlock (&s->lock);
    if (ok)
      return TRUE;
    g_usleep (25000);
  }
  return FALSE;
}

static inline guint
subscriber_count (Subscriber *s)
{
  guint n;
  g_mutex_lock (&s->lock);
  n = s->msgs->len;
  g_mutex_unlock (&s->lock);
  return n;
}

/* Waits until `n` messages arrived or `timeout_ms` passed; returns the count. */
static inline guint
subscriber_wait (Subscriber *s, guint n, guint timeout_ms)
{
  guint have = 0;
  for (guint t = 0; t <= timeout_ms; t += 20) {
    have = subscriber_count (s);
    if (have >= n)
      break;
    g_usleep (20000);
  }
  return have;
}

static inline void
subscriber_stop (Subscriber *s)
{
  if (s->mosq) {
    /* A persistent session would keep collecting messages in the broker. */
    mosquitto_unsubscribe (s->mosq, NULL, s->filter);
    g_usleep (100000);
    mosquitto_disconnect (s->mosq);
    mosquitto_loop_stop (s->mosq, false);
    mosquitto_destroy (s->mosq);
  }
  g_ptr_array_unref (s->msgs);
  g_free (s->filter);
  g_mutex_clear (&s->lock);
  memset (s, 0, sizeof *s);
}

#endif
