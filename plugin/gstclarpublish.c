/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * SECTION:element-clarpublish
 *
 * `clarpublish` is an in-line element placed after `clarembed`: audio passes
 * through untouched, and every window's result (the GstClarMeta on the
 * buffers) is serialised as one JSON object and published, as a JSON line to
 * a file or stdout (method=file) or as one MQTT message (method=mqtt,
 * libmosquitto).
 *
 *   gst-launch-1.0 autoaudiosrc ! audioconvert ! audioresample ! clarembed ! \
 *       clarpublish method=mqtt host=127.0.0.1 topic="clar/{stream-id}" \
 *       stream-id=kitchen ! fakesink
 *
 * One message (a line here; no line breaks in the real one):
 *
 *   {"type":"window","stream-id":"kitchen","seq":41,
 *    "time":"2026-12-01T02:10:00.123456Z","timestamp":20500000000,
 *    "running-time":20500000000,"stream-time":20500000000,"duration":1000000000,
 *    "window-index":41,"labels":[{"name":"speech","score":0.91,"similarity":0.62}]}
 *
 * `seq` counts every message the element produced since it started (windows
 * and events alike), so a gap at the receiver is a message lost; `time` is
 * the UTC wall clock when the result was serialised; timestamps are
 * nanoseconds (null when unknown). `embedding` is added with
 * include-embedding=true.
 *
 * Events (clarembed events=true): the sound events clarembed sends
 * downstream, serialized custom events whose structure is named
 * "clarembed-event" (kind start/end, label, timestamps, peak, mean, window
 * indices), are each published
 * as {"type":"event","stream-id":..,"seq":..,"time":..,<its fields>}, every
 * field of the structure converted to JSON (numbers, booleans, strings,
 * arrays and nested structures; other types as their GStreamer
 * serialisation string). Any producer that sends such an event downstream
 * gets its events published, in order with the windows.
 *
 * Publishing never blocks the streaming thread: results go into a bounded
 * queue (queue-size, queue-policy) that a thread of the element empties.
 * With MQTT the queue holds the results while the broker is away, the
 * thread reconnects with exponential backoff (reconnect-delay ..
 * reconnect-delay-max), and a result leaves the queue only when the broker
 * acknowledged it (QoS 1: PUBACK; QoS 2: PUBCOMP; QoS 0: written to the
 * socket). Results in flight when a connection drops are sent again after the
 * reconnect (at-least-once: the receiver may see a `seq` twice, never a gap
 * unless the queue overflowed). Counters: messages-produced, -queued, -sent,
 * -dropped (read-only properties) and a "clarpublish-stats" element message
 * every stats-interval. A broker that refuses the credentials is an element
 * error (RESOURCE/NOT_AUTHORIZED).
 *
 * Threading: properties are read under the object lock and copied in
 * start(); the queue and counters are under `lock`; libmosquitto's handle is
 * used by the publishing thread only.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <glib-unix.h>
#include <clar/gstclarmeta.h>
#include "gstclarpublish.h"

#ifdef HAVE_MOSQUITTO
#include <mosquitto.h>
#endif

GST_DEBUG_CATEGORY_STATIC (clar_publish_debug);
#define GST_CAT_DEFAULT clar_publish_debug

/* A message waiting in the queue (or in flight to the broker). */
typedef struct {
  gchar *topic;
  gchar *payload;
  gsize len;
  guint64 seq;
  gint mid;               /* MQTT message id while in flight */
} GstClarPublishMsg;

static void
msg_free (gpointer data)
{
  GstClarPublishMsg *m = data;
  g_free (m->topic);
  g_free (m->payload);
  g_free (m);
}

enum {
  PROP_0, PROP_METHOD, PROP_LOCATION, PROP_STREAM_ID, PROP_HOST, PROP_PORT, PROP_TOPIC,
  PROP_CLIENT_ID, PROP_QOS, PROP_USERNAME, PROP_PASSWORD, PROP_TLS_CA_FILE,
  PROP_TLS_CERT_FILE, PROP_TLS_KEY_FILE, PROP_KEEPALIVE, PROP_QUEUE_SIZE, PROP_QUEUE_POLICY,
  PROP_INCLUDE_EMBEDDING, PROP_STATS_INTERVAL, PROP_RECONNECT_DELAY,
  PROP_RECONNECT_DELAY_MAX, PROP_FLUSH_TIMEOUT, PROP_MESSAGES_PRODUCED,
  PROP_MESSAGES_QUEUED, PROP_MESSAGES_SENT, PROP_MESSAGES_DROPPED, PROP_CONNECTED,
  PROP_RECONNECTS,
};

#define DEFAULT_METHOD GST_CLAR_PUBLISH_METHOD_FILE
#define DEFAULT_LOCATION "-"
#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 1883
#define DEFAULT_TOPIC "clar/{stream-id}"
#define DEFAULT_QOS 1
#define DEFAULT_KEEPALIVE 30
#define DEFAULT_QUEUE_SIZE 1000
#define DEFAULT_QUEUE_POLICY GST_CLAR_PUBLISH_DROP_OLDEST
#define DEFAULT_STATS_INTERVAL (10 * GST_SECOND)
#define DEFAULT_RECONNECT_DELAY (500 * GST_MSECOND)
#define DEFAULT_RECONNECT_DELAY_MAX (30 * GST_SECOND)
#define DEFAULT_FLUSH_TIMEOUT (5 * GST_SECOND)
#define MAX_QUEUE_SIZE (1u << 24)
/* Messages handed to libmosquitto at once; more would sit in its own
 * (unbounded, uncounted) queue. 20 is libmosquitto's default for
 * max_inflight_messages. */
#define MAX_INFLIGHT 20
#define EVENT_NAME "clarembed-event"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

G_DEFINE_TYPE (GstClarPublish, gst_clar_publish, GST_TYPE_BASE_TRANSFORM);

#define GST_TYPE_CLAR_PUBLISH_METHOD (gst_clar_publish_method_get_type ())
static GType
gst_clar_publish_method_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_CLAR_PUBLISH_METHOD_FILE, "JSON lines to a file (location, \"-\" = stdout)", "file" },
    { GST_CLAR_PUBLISH_METHOD_MQTT, "MQTT messages (libmosquitto)", "mqtt" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstClarPublishMethod", values));
  return type;
}

#define GST_TYPE_CLAR_PUBLISH_QUEUE_POLICY (gst_clar_publish_queue_policy_get_type ())
static GType
gst_clar_publish_queue_policy_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_CLAR_PUBLISH_DROP_OLDEST, "A full queue drops its oldest waiting message", "drop-oldest" },
    { GST_CLAR_PUBLISH_DROP_NEWEST, "A full queue drops the new message", "drop-newest" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstClarPublishQueuePolicy", values));
  return type;
}

static void gst_clar_publish_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec);
static void gst_clar_publish_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec);
static void gst_clar_publish_finalize (GObject *object);
static gboolean gst_clar_publish_start (GstBaseTransform *trans);
static gboolean gst_clar_publish_stop (GstBaseTransform *trans);
static gboolean gst_clar_publish_sink_event (GstBaseTransform *trans, GstEvent *event);
static GstFlowReturn gst_clar_publish_transform_ip (GstBaseTransform *trans, GstBuffer *buf);

static void
config_clear (GstClarPublishConfig *c)
{
  g_clear_pointer (&c->location, g_free);
  g_clear_pointer (&c->stream_id, g_free);
  g_clear_pointer (&c->host, g_free);
  g_clear_pointer (&c->topic, g_free);
  g_clear_pointer (&c->client_id, g_free);
  g_clear_pointer (&c->username, g_free);
  g_clear_pointer (&c->password, g_free);
  g_clear_pointer (&c->tls_ca, g_free);
  g_clear_pointer (&c->tls_cert, g_free);
  g_clear_pointer (&c->tls_key, g_free);
}

static void
config_copy (GstClarPublishConfig *dst, const GstClarPublishConfig *src)
{
  *dst = *src;
  dst->location = g_strdup (src->location);
  dst->stream_id = g_strdup (src->stream_id);
  dst->host = g_strdup (src->host);
  dst->topic = g_strdup (src->topic);
  dst->client_id = g_strdup (src->client_id);
  dst->username = g_strdup (src->username);
  dst->password = g_strdup (src->password);
  dst->tls_ca = g_strdup (src->tls_ca);
  dst->tls_cert = g_strdup (src->tls_cert);
  dst->tls_key = g_strdup (src->tls_key);
}

static void
gst_clar_publish_class_init (GstClarPublishClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  gobject_class->set_property = gst_clar_publish_set_property;
  gobject_class->get_property = gst_clar_publish_get_property;
  gobject_class->finalize = gst_clar_publish_finalize;

  g_object_class_install_property (gobject_class, PROP_METHOD,
      g_param_spec_enum ("method", "Method", "Where results go",
          GST_TYPE_CLAR_PUBLISH_METHOD, DEFAULT_METHOD, rw));
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "method=file: file the JSON lines are appended to (\"-\" = stdout)",
          DEFAULT_LOCATION, rw));
  g_object_class_install_property (gobject_class, PROP_STREAM_ID,
      g_param_spec_string ("stream-id", "Stream id",
          "Names this stream in every message and in the topic's {stream-id} "
          "(NULL: the element's name)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_HOST,
      g_param_spec_string ("host", "Host", "method=mqtt: broker host name or address",
          DEFAULT_HOST, rw));
  g_object_class_install_property (gobject_class, PROP_PORT,
      g_param_spec_int ("port", "Port", "method=mqtt: broker port", 1, 65535,
          DEFAULT_PORT, rw));
  g_object_class_install_property (gobject_class, PROP_TOPIC,
      g_param_spec_string ("topic", "Topic",
          "method=mqtt: topic template; {stream-id} and {type} (window, event) are "
          "replaced. Must not contain the wildcards + and #", DEFAULT_TOPIC, rw));
  g_object_class_install_property (gobject_class, PROP_CLIENT_ID,
      g_param_spec_string ("client-id", "Client id",
          "method=mqtt: MQTT client id (NULL: clarpublish-<pid>-<n>-<stream id>, unique "
          "in the process). A broker disconnects an older client with the same id",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_QOS,
      g_param_spec_int ("qos", "QoS", "method=mqtt: MQTT quality of service 0, 1 or 2",
          0, 2, DEFAULT_QOS, rw));
  g_object_class_install_property (gobject_class, PROP_USERNAME,
      g_param_spec_string ("username", "Username", "method=mqtt: user name (NULL: none)",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_PASSWORD,
      g_param_spec_string ("password", "Password", "method=mqtt: password (needs username)",
          NULL, G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_TLS_CA_FILE,
      g_param_spec_string ("tls-ca-file", "TLS CA file",
          "method=mqtt: PEM file of the CA that signed the broker's certificate; setting "
          "it turns TLS on (the broker's name or address must match its certificate)",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_TLS_CERT_FILE,
      g_param_spec_string ("tls-cert-file", "TLS certificate file",
          "method=mqtt: PEM client certificate (needs tls-ca-file and tls-key-file)",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_TLS_KEY_FILE,
      g_param_spec_string ("tls-key-file", "TLS key file",
          "method=mqtt: PEM private key of tls-cert-file (unencrypted)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_KEEPALIVE,
      g_param_spec_uint ("keepalive", "Keepalive",
          "method=mqtt: MQTT keepalive in seconds (a dead connection is noticed within "
          "1.5x this)", 5, 3600, DEFAULT_KEEPALIVE, rw));
  g_object_class_install_property (gobject_class, PROP_QUEUE_SIZE,
      g_param_spec_uint ("queue-size", "Queue size",
          "Messages held while the output is slow or the broker away (including those "
          "in flight); beyond it queue-policy drops", 1, MAX_QUEUE_SIZE,
          DEFAULT_QUEUE_SIZE, rw));
  g_object_class_install_property (gobject_class, PROP_QUEUE_POLICY,
      g_param_spec_enum ("queue-policy", "Queue policy", "What a full queue drops",
          GST_TYPE_CLAR_PUBLISH_QUEUE_POLICY, DEFAULT_QUEUE_POLICY, rw));
  g_object_class_install_property (gobject_class, PROP_INCLUDE_EMBEDDING,
      g_param_spec_boolean ("include-embedding", "Include embedding",
          "Add the embedding vector to each window's message", FALSE, rw));
  g_object_class_install_property (gobject_class, PROP_STATS_INTERVAL,
      g_param_spec_uint64 ("stats-interval", "Stats interval",
          "Nanoseconds between \"clarpublish-stats\" element messages (0: only the final "
          "one when the element stops)", 0, G_MAXUINT64, DEFAULT_STATS_INTERVAL, rw));
  g_object_class_install_property (gobject_class, PROP_RECONNECT_DELAY,
      g_param_spec_uint64 ("reconnect-delay", "Reconnect delay",
          "method=mqtt: nanoseconds before the first reconnect attempt; doubled after "
          "each failed attempt up to reconnect-delay-max", GST_MSECOND, 3600 * GST_SECOND,
          DEFAULT_RECONNECT_DELAY, rw));
  g_object_class_install_property (gobject_class, PROP_RECONNECT_DELAY_MAX,
      g_param_spec_uint64 ("reconnect-delay-max", "Maximum reconnect delay",
          "method=mqtt: longest wait between reconnect attempts, nanoseconds",
          GST_MSECOND, 3600 * GST_SECOND, DEFAULT_RECONNECT_DELAY_MAX, rw));
  g_object_class_install_property (gobject_class, PROP_FLUSH_TIMEOUT,
      g_param_spec_uint64 ("flush-timeout", "Flush timeout",
          "When the element stops, how long (ns) it keeps trying to deliver what is "
          "still queued; what is left then is counted as dropped", 0, 3600 * GST_SECOND,
          DEFAULT_FLUSH_TIMEOUT, rw));
  g_object_class_install_property (gobject_class, PROP_MESSAGES_PRODUCED,
      g_param_spec_uint64 ("messages-produced", "Messages produced",
          "Messages serialised since the element started (= sent + dropped + queued)",
          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_MESSAGES_QUEUED,
      g_param_spec_uint64 ("messages-queued", "Messages queued",
          "Messages waiting or in flight now", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_MESSAGES_SENT,
      g_param_spec_uint64 ("messages-sent", "Messages sent",
          "Messages written (file) or acknowledged by the broker (mqtt)", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_MESSAGES_DROPPED,
      g_param_spec_uint64 ("messages-dropped", "Messages dropped",
          "Messages lost: queue overflow, a failed output, or left at shutdown",
          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_CONNECTED,
      g_param_spec_boolean ("connected", "Connected",
          "method=mqtt: the broker accepted the connection and it is up", FALSE, ro));
  g_object_class_install_property (gobject_class, PROP_RECONNECTS,
      g_param_spec_uint64 ("reconnects", "Reconnects",
          "method=mqtt: connections made after the first one", 0, G_MAXUINT64, 0, ro));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Publish clar results",
      "Filter/Analyzer/Audio",
      "Publishes each window's GstClarMeta (from clarembed upstream) and each "
      "\"clarembed-event\" custom event as one JSON object with stream id, sequence "
      "number and timestamps, as JSON lines to a file/stdout or as MQTT messages, from a "
      "bounded queue that survives broker outages; the buffers pass through untouched",
      "gst-clar developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_clar_publish_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_clar_publish_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_clar_publish_sink_event);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_clar_publish_transform_ip);
  trans_class->transform_ip_on_passthrough = TRUE;

  GST_DEBUG_CATEGORY_INIT (clar_publish_debug, "clarpublish", 0, "clarpublish element");
#ifdef HAVE_MOSQUITTO
  /* Not thread-safe; class_init runs once, under GType's lock. */
  mosquitto_lib_init ();
#endif
  gst_type_mark_as_plugin_api (GST_TYPE_CLAR_PUBLISH_METHOD, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_CLAR_PUBLISH_QUEUE_POLICY, 0);
}

static void
gst_clar_publish_init (GstClarPublish *self)
{
  GstClarPublishConfig *p = &self->props;
  p->method = DEFAULT_METHOD;
  p->location = g_strdup (DEFAULT_LOCATION);
  p->host = g_strdup (DEFAULT_HOST);
  p->port = DEFAULT_PORT;
  p->topic = g_strdup (DEFAULT_TOPIC);
  p->qos = DEFAULT_QOS;
  p->keepalive = DEFAULT_KEEPALIVE;
  p->queue_size = DEFAULT_QUEUE_SIZE;
  p->policy = DEFAULT_QUEUE_POLICY;
  p->stats_interval = DEFAULT_STATS_INTERVAL;
  p->reconnect_delay = DEFAULT_RECONNECT_DELAY;
  p->reconnect_delay_max = DEFAULT_RECONNECT_DELAY_MAX;
  p->flush_timeout = DEFAULT_FLUSH_TIMEOUT;
  g_mutex_init (&self->lock);
  g_queue_init (&self->pending);
  self->wake[0] = self->wake[1] = -1;
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), TRUE);
}

static void
gst_clar_publish_finalize (GObject *object)
{
  GstClarPublish *self = GST_CLAR_PUBLISH (object);
  config_clear (&self->props);
  config_clear (&self->cfg);
  g_queue_clear_full (&self->pending, msg_free);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gst_clar_publish_parent_class)->finalize (object);
}

static void
set_string (GstClarPublish *self, gchar **field, const GValue *value)
{
  g_free (*field);
  *field = g_value_dup_string (value);
}

static void
gst_clar_publish_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstClarPublish *self = GST_CLAR_PUBLISH (object);
  GstClarPublishConfig *p = &self->props;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_METHOD: p->method = g_value_get_enum (value); break;
    case PROP_LOCATION: set_string (self, &p->location, value); break;
    case PROP_STREAM_ID: set_string (self, &p->stream_id, value); break;
    case PROP_HOST: set_string (self, &p->host, value); break;
    case PROP_PORT: p->port = g_value_get_int (value); break;
    case PROP_TOPIC: set_string (self, &p->topic, value); break;
    case PROP_CLIENT_ID: set_string (self, &p->client_id, value); break;
    case PROP_QOS: p->qos = g_value_get_int (value); break;
    case PROP_USERNAME: set_string (self, &p->username, value); break;
    case PROP_PASSWORD: set_string (self, &p->password, value); break;
    case PROP_TLS_CA_FILE: set_string (self, &p->tls_ca, value); break;
    case PROP_TLS_CERT_FILE: set_string (self, &p->tls_cert, value); break;
    case PROP_TLS_KEY_FILE: set_string (self, &p->tls_key, value); break;
    case PROP_KEEPALIVE: p->keepalive = g_value_get_uint (value); break;
    case PROP_QUEUE_SIZE: p->queue_size = g_value_get_uint (value); break;
    case PROP_QUEUE_POLICY: p->policy = g_value_get_enum (value); break;
    case PROP_INCLUDE_EMBEDDING: p->include_embedding = g_value_get_boolean (value); break;
    case PROP_STATS_INTERVAL: p->stats_interval = g_value_get_uint64 (value); break;
    case PROP_RECONNECT_DELAY: p->reconnect_delay = g_value_get_uint64 (value); break;
    case PROP_RECONNECT_DELAY_MAX: p->reconnect_delay_max = g_value_get_uint64 (value); break;
    case PROP_FLUSH_TIMEOUT: p->flush_timeout = g_value_get_uint64 (value); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clar_publish_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstClarPublish *self = GST_CLAR_PUBLISH (object);
  GstClarPublishConfig *p = &self->props;

  switch (prop_id) {
    case PROP_MESSAGES_PRODUCED:
    case PROP_MESSAGES_QUEUED:
    case PROP_MESSAGES_SENT:
    case PROP_MESSAGES_DROPPED:
    case PROP_CONNECTED:
    case PROP_RECONNECTS:
      g_mutex_lock (&self->lock);
      if (prop_id == PROP_MESSAGES_PRODUCED)
        g_value_set_uint64 (value, self->produced);
      else if (prop_id == PROP_MESSAGES_QUEUED)
        g_value_set_uint64 (value, self->pending.length + self->inflight);
      else if (prop_id == PROP_MESSAGES_SENT)
        g_value_set_uint64 (value, self->sent);
      else if (prop_id == PROP_MESSAGES_DROPPED)
        g_value_set_uint64 (value, self->dropped);
      else if (prop_id == PROP_CONNECTED)
        g_value_set_boolean (value, self->connected);
      else
        g_value_set_uint64 (value, self->reconnects);
      g_mutex_unlock (&self->lock);
      return;
    default:
      break;
  }

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_METHOD: g_value_set_enum (value, p->method); break;
    case PROP_LOCATION: g_value_set_string (value, p->location); break;
    case PROP_STREAM_ID: g_value_set_string (value, p->stream_id); break;
    case PROP_HOST: g_value_set_string (value, p->host); break;
    case PROP_PORT: g_value_set_int (value, p->port); break;
    case PROP_TOPIC: g_value_set_string (value, p->topic); break;
    case PROP_CLIENT_ID: g_value_set_string (value, p->client_id); break;
    case PROP_QOS: g_value_set_int (value, p->qos); break;
    case PROP_USERNAME: g_value_set_string (value, p->username); break;
    case PROP_TLS_CA_FILE: g_value_set_string (value, p->tls_ca); break;
    case PROP_TLS_CERT_FILE: g_value_set_string (value, p->tls_cert); break;
    case PROP_TLS_KEY_FILE: g_value_set_string (value, p->tls_key); break;
    case PROP_KEEPALIVE: g_value_set_uint (value, p->keepalive); break;
    case PROP_QUEUE_SIZE: g_value_set_uint (value, p->queue_size); break;
    case PROP_QUEUE_POLICY: g_value_set_enum (value, p->policy); break;
    case PROP_INCLUDE_EMBEDDING: g_value_set_boolean (value, p->include_embedding); break;
    case PROP_STATS_INTERVAL: g_value_set_uint64 (value, p->stats_interval); break;
    case PROP_RECONNECT_DELAY: g_value_set_uint64 (value, p->reconnect_delay); break;
    case PROP_RECONNECT_DELAY_MAX: g_value_set_uint64 (value, p->reconnect_delay_max); break;
    case PROP_FLUSH_TIMEOUT: g_value_set_uint64 (value, p->flush_timeout); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- JSON ------------------------------------------------------------- */

/* A JSON string (RFC 8259 section 7). Label names come from users' prompt
 * and label files: invalid UTF-8 is replaced by U+FFFD (g_utf8_make_valid)
 * so the output is always valid JSON text, which must be UTF-8 (section 8.1). */
static void
json_string (GString *s, const gchar *str)
{
  gchar *valid = NULL;
  if (!str)
    str = "";
  if (!g_utf8_validate (str, -1, NULL))
    str = valid = g_utf8_make_valid (str, -1);
  g_string_append_c (s, '"');
  for (const guchar *c = (const guchar *) str; *c; c++) {
    switch (*c) {
      case '"': g_string_append (s, "\\\""); break;
      case '\\': g_string_append (s, "\\\\"); break;
      case '\n': g_string_append (s, "\\n"); break;
      case '\r': g_string_append (s, "\\r"); break;
      case '\t': g_string_append (s, "\\t"); break;
      default:
        if (*c < 0x20 || *c == 0x7f)
          g_string_append_printf (s, "\\u%04x", *c);
        else
          g_string_append_c (s, (gchar) *c);
    }
  }
  g_string_append_c (s, '"');
  g_free (valid);
}

/* JSON has no NaN or infinity: null. Locale-independent ('.' decimal). */
static void
json_double (GString *s, gdouble v, gint digits)
{
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (!isfinite (v)) {
    g_string_append (s, "null");
    return;
  }
  g_string_append (s, g_ascii_formatd (buf, sizeof buf, digits == 7 ? "%.7g" : "%.17g", v));
}

static void
json_time (GString *s, GstClockTime t)
{
  if (GST_CLOCK_TIME_IS_VALID (t))
    g_string_append_printf (s, "%" G_GUINT64_FORMAT, (guint64) t);
  else
    g_string_append (s, "null");
}

static void json_structure_fields (GString *s, const GstStructure *st, gint depth);

/* Any GValue a GstStructure may hold, as JSON. */
static void
json_value (GString *s, const GValue *v, gint depth)
{
  GType t = G_VALUE_TYPE (v);

  if (depth > 16) {
    g_string_append (s, "null");
  } else if (t == G_TYPE_STRING) {
    const gchar *str = g_value_get_string (v);
    if (str)
      json_string (s, str);
    else
      g_string_append (s, "null");
  } else if (t == G_TYPE_BOOLEAN) {
    g_string_append (s, g_value_get_boolean (v) ? "true" : "false");
  } else if (t == G_TYPE_INT) {
    g_string_append_printf (s, "%d", g_value_get_int (v));
  } else if (t == G_TYPE_UINT) {
    g_string_append_printf (s, "%u", g_value_get_uint (v));
  } else if (t == G_TYPE_INT64) {
    g_string_append_printf (s, "%" G_GINT64_FORMAT, g_value_get_int64 (v));
  } else if (t == G_TYPE_UINT64) {
    g_string_append_printf (s, "%" G_GUINT64_FORMAT, g_value_get_uint64 (v));
  } else if (t == G_TYPE_LONG) {
    g_string_append_printf (s, "%ld", g_value_get_long (v));
  } else if (t == G_TYPE_ULONG) {
    g_string_append_printf (s, "%lu", g_value_get_ulong (v));
  } else if (t == G_TYPE_FLOAT) {
    json_double (s, g_value_get_float (v), 7);
  } else if (t == G_TYPE_DOUBLE) {
    json_double (s, g_value_get_double (v), 17);
  } else if (t == GST_TYPE_ARRAY || t == GST_TYPE_LIST) {
    gboolean arr = t == GST_TYPE_ARRAY;
    guint n = arr ? gst_value_array_get_size (v) : gst_value_list_get_size (v);
    g_string_append_c (s, '[');
    for (guint i = 0; i < n; i++) {
      if (i)
        g_string_append_c (s, ',');
      json_value (s, arr ? gst_value_array_get_value (v, i) : gst_value_list_get_value (v, i),
          depth + 1);
    }
    g_string_append_c (s, ']');
  } else if (t == GST_TYPE_STRUCTURE) {
    const GstStructure *st = gst_value_get_structure (v);
    g_string_append_c (s, '{');
    if (st)
      json_structure_fields (s, st, depth + 1);
    g_string_append_c (s, '}');
  } else if (G_TYPE_IS_ENUM (t)) {
    GEnumValue *ev = g_enum_get_value (g_type_class_peek (t), g_value_get_enum (v));
    if (ev)
      json_string (s, ev->value_nick);
    else
      g_string_append_printf (s, "%d", g_value_get_enum (v));
  } else {
    gchar *ser = gst_value_serialize (v);
    if (ser)
      json_string (s, ser);
    else
      g_string_append (s, "null");
    g_free (ser);
  }
}

typedef struct {
  GString *s;
  gint depth;
  gboolean first;
} FieldsCtx;

static gboolean
json_field (GQuark field, const GValue *value, gpointer user_data)
{
  FieldsCtx *c = user_data;
  if (!c->first)
    g_string_append_c (c->s, ',');
  c->first = FALSE;
  json_string (c->s, g_quark_to_string (field));
  g_string_append_c (c->s, ':');
  json_value (c->s, value, c->depth);
  return TRUE;
}

static void
json_structure_fields (GString *s, const GstStructure *st, gint depth)
{
  FieldsCtx c = { s, depth, TRUE };
  gst_structure_foreach (st, json_field, &c);
}

/* {"type":T,"stream-id":..,"seq":..,"time":.. — the head of every message.
 * `time`: UTC wall clock, microseconds, ISO 8601. */
static GString *
json_begin (GstClarPublish *self, const gchar *type, guint64 seq)
{
  GString *s = g_string_sized_new (256);
  GDateTime *now = g_date_time_new_now_utc ();
  gchar *iso = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S.%fZ");

  g_string_append (s, "{\"type\":");
  json_string (s, type);
  g_string_append (s, ",\"stream-id\":");
  json_string (s, self->cfg.stream_id);
  g_string_append_printf (s, ",\"seq\":%" G_GUINT64_FORMAT ",\"time\":", seq);
  json_string (s, iso);
  g_free (iso);
  g_date_time_unref (now);
  return s;
}

/* ---- queue ------------------------------------------------------------- */

static void
wake_worker (GstClarPublish *self)
{
  /* The pipe is non-blocking: when it is full the thread is awake anyway. */
  if (self->wake[1] >= 0) {
    gssize r G_GNUC_UNUSED = write (self->wake[1], "x", 1);
  }
}

static gchar *
expand_topic (const GstClarPublishConfig *c, const gchar *type)
{
  GString *t = g_string_new (c->topic);
  g_string_replace (t, "{stream-id}", c->stream_id, 0);
  g_string_replace (t, "{type}", type, 0);
  return g_string_free (t, FALSE);
}

/* Streaming thread: never blocks beyond the queue lock. */
static void
enqueue (GstClarPublish *self, const gchar *type, guint64 seq, GString *json)
{
  GstClarPublishMsg *m = g_new0 (GstClarPublishMsg, 1);
  GstClarPublishMsg *victim = NULL;

  m->seq = seq;
  m->len = json->len;
  m->payload = g_string_free (json, FALSE);
  m->mid = -1;
  if (self->cfg.method == GST_CLAR_PUBLISH_METHOD_MQTT)
    m->topic = expand_topic (&self->cfg, type);

  g_mutex_lock (&self->lock);
  self->produced++;
  if (self->failed) {
    victim = m;
    m = NULL;
  } else if (self->pending.length + self->inflight >= self->cfg.queue_size) {
    if (self->cfg.policy == GST_CLAR_PUBLISH_DROP_OLDEST && self->pending.length > 0) {
      victim = g_queue_pop_head (&self->pending);
    } else {
      /* Drop-newest, or everything queued is already in flight. */
      victim = m;
      m = NULL;
    }
  }
  if (victim)
    self->dropped++;
  if (m)
    g_queue_push_tail (&self->pending, m);
  g_mutex_unlock (&self->lock);

  if (victim) {
    GST_LOG_OBJECT (self, "queue full: dropped message %" G_GUINT64_FORMAT, victim->seq);
    msg_free (victim);
  }
  if (m)
    wake_worker (self);
}

static GstFlowReturn
gst_clar_publish_transform_ip (GstBaseTransform *trans, GstBuffer *buf)
{
  GstClarPublish *self = GST_CLAR_PUBLISH (trans);
  gpointer state = NULL;
  GstMeta *meta;

  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state, GST_CLAR_META_API_TYPE))) {
    GstClarMeta *cm = (GstClarMeta *) meta;
    guint64 seq = self->seq++;
    GString *s = json_begin (self, "window", seq);
    GstClockTime rt = GST_CLOCK_TIME_NONE, st = GST_CLOCK_TIME_NONE;

    if (trans->segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (cm->timestamp)) {
      rt = gst_segment_to_running_time (&trans->segment, GST_FORMAT_TIME, cm->timestamp);
      st = gst_segment_to_stream_time (&trans->segment, GST_FORMAT_TIME, cm->timestamp);
    }
    g_string_append (s, ",\"timestamp\":");
    json_time (s, cm->timestamp);
    g_string_append (s, ",\"running-time\":");
    json_time (s, rt);
    g_string_append (s, ",\"stream-time\":");
    json_time (s, st);
    g_string_append (s, ",\"duration\":");
    json_time (s, cm->duration);
    g_string_append_printf (s, ",\"window-index\":%" G_GUINT64_FORMAT ",\"labels\":[",
        cm->window_index);
    for (guint i = 0; i < cm->n_labels; i++) {
      g_string_append (s, i ? ",{\"name\":" : "{\"name\":");
      json_string (s, cm->labels[i].name);
      g_string_append (s, ",\"score\":");
      json_double (s, cm->labels[i].score, 7);
      g_string_append (s, ",\"similarity\":");
      json_double (s, cm->labels[i].similarity, 7);
      g_string_append_c (s, '}');
    }
    g_string_append_c (s, ']');
    if (self->cfg.include_embedding && cm->embedding) {
      g_string_append (s, ",\"embedding\":[");
      for (guint i = 0; i < cm->n_dims; i++) {
        if (i)
          g_string_append_c (s, ',');
        json_double (s, cm->embedding[i], 7);
      }
      g_string_append_c (s, ']');
    }
    g_string_append_c (s, '}');
    enqueue (self, "window", seq, s);
  }
  return GST_FLOW_OK;
}

/* The hook for sound events (issue 13): a serialized custom downstream event
 * named "clarembed-event" is published in stream order with the windows;
 * every field of its structure becomes a JSON member. The event itself
 * continues downstream. */
static gboolean
gst_clar_publish_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstClarPublish *self = GST_CLAR_PUBLISH (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CUSTOM_DOWNSTREAM
      && gst_event_has_name (event, EVENT_NAME)) {
    const GstStructure *st = gst_event_get_structure (event);
    guint64 seq = self->seq++;
    GString *s = json_begin (self, "event", seq);
    if (gst_structure_n_fields (st) > 0) {
      g_string_append_c (s, ',');
      json_structure_fields (s, st, 0);
    }
    g_string_append_c (s, '}');
    enqueue (self, "event", seq, s);
  }
  return GST_BASE_TRANSFORM_CLASS (gst_clar_publish_parent_class)->sink_event (trans, event);
}

/* ---- publishing thread --------------------------------------------------- */

static void
post_stats (GstClarPublish *self)
{
  GstStructure *s;
  g_mutex_lock (&self->lock);
  s = gst_structure_new ("clarpublish-stats",
      "stream-id", G_TYPE_STRING, self->cfg.stream_id,
      "produced", G_TYPE_UINT64, self->produced,
      "queued", G_TYPE_UINT64, (guint64) (self->pending.length + self->inflight),
      "sent", G_TYPE_UINT64, self->sent,
      "dropped", G_TYPE_UINT64, self->dropped,
      "connected", G_TYPE_BOOLEAN, self->connected,
      "reconnects", G_TYPE_UINT64, self->reconnects, NULL);
  g_mutex_unlock (&self->lock);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

/* Waits for the wake pipe (or an MQTT socket) until `deadline_us`
 * (monotonic); drains the pipe. Returns the poll revents of `sock`. */
static short
wait_io (GstClarPublish *self, int sock, short sock_events, gint64 deadline_us)
{
  struct pollfd fds[2] = { { self->wake[0], POLLIN, 0 }, { sock, sock_events, 0 } };
  gint64 now = g_get_monotonic_time ();
  int timeout = deadline_us <= now ? 0 : (int) MIN ((deadline_us - now + 999) / 1000, 1000);
  char buf[64];

  if (poll (fds, sock >= 0 ? 2 : 1, timeout) > 0 && (fds[0].revents & POLLIN)) {
    while (read (self->wake[0], buf, sizeof buf) > 0)
      ;
  }
  return sock >= 0 ? fds[1].revents : 0;
}

/* Common bookkeeping of both workers: the stats timer and the end of the
 * run. Returns TRUE when the thread should exit. */
typedef struct {
  gint64 next_stats;        /* monotonic us, G_MAXINT64 = never */
  gint64 deadline;          /* once stopping: give up delivering at this time */
} WorkerClock;

static gboolean
worker_tick (GstClarPublish *self, WorkerClock *wc, guint extra_inflight)
{
  gint64 now = g_get_monotonic_time ();
  gboolean stopping, empty, failed;

  if (now >= wc->next_stats) {
    post_stats (self);
    wc->next_stats = now + (gint64) (self->cfg.stats_interval / 1000);
  }
  g_mutex_lock (&self->lock);
  stopping = self->stopping;
  empty = self->pending.length == 0 && self->inflight == 0 && extra_inflight == 0;
  failed = self->failed;
  g_mutex_unlock (&self->lock);
  if (!stopping)
    return FALSE;
  if (wc->deadline == 0)
    wc->deadline = now + (gint64) (self->cfg.flush_timeout / 1000);
  return empty || failed || now >= wc->deadline;
}

/* Whatever is still queued when the thread exits is lost: count it. */
static void
worker_finish (GstClarPublish *self, GQueue *inflight)
{
  guint n;
  g_mutex_lock (&self->lock);
  n = self->pending.length + (inflight ? inflight->length : 0);
  self->dropped += n;
  g_queue_clear_full (&self->pending, msg_free);
  if (inflight)
    g_queue_clear_full (inflight, msg_free);
  self->inflight = 0;
  self->connected = FALSE;
  g_mutex_unlock (&self->lock);
  if (n > 0)
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
        ("%u results were not delivered when the element stopped.", n),
        ("flush-timeout ran out or the output failed; they are counted in "
            "messages-dropped"));
  post_stats (self);
}

static gpointer
file_worker (gpointer data)
{
  GstClarPublish *self = data;
  WorkerClock wc = { G_MAXINT64, 0 };

  if (self->cfg.stats_interval)
    wc.next_stats = g_get_monotonic_time () + (gint64) (self->cfg.stats_interval / 1000);
  for (;;) {
    GQueue batch = G_QUEUE_INIT;
    gboolean ok = TRUE;
    guint n;

    g_mutex_lock (&self->lock);
    if (!self->failed) {
      batch = self->pending;
      g_queue_init (&self->pending);
      self->inflight = batch.length;
    }
    g_mutex_unlock (&self->lock);

    n = batch.length;
    for (GList *l = batch.head; l && ok; l = l->next) {
      GstClarPublishMsg *m = l->data;
      ok = fwrite (m->payload, 1, m->len, self->out) == m->len && fputc ('\n', self->out) != EOF;
    }
    if (n && ok)
      ok = fflush (self->out) == 0;
    g_queue_clear_full (&batch, msg_free);
    if (n) {
      g_mutex_lock (&self->lock);
      self->inflight = 0;
      if (ok)
        self->sent += n;
      else {
        self->dropped += n;
        self->failed = TRUE;
      }
      g_mutex_unlock (&self->lock);
      if (!ok)
        GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("Could not write results to \"%s\".",
                self->cfg.location), ("%s", g_strerror (errno)));
    }
    if (worker_tick (self, &wc, 0))
      break;
    g_mutex_lock (&self->lock);
    n = self->pending.length;
    g_mutex_unlock (&self->lock);
    if (n == 0)
      wait_io (self, -1, 0, MIN (wc.next_stats, wc.deadline ? wc.deadline : G_MAXINT64));
  }
  worker_finish (self, NULL);
  return NULL;
}

#ifdef HAVE_MOSQUITTO
typedef struct {
  GstClarPublish *self;
  GQueue inflight;          /* GstClarPublishMsg*, publish order */
  GArray *early_acks;       /* mids acknowledged before mosquitto_publish returned */
  gboolean connack;         /* CONNACK accepted on this connection */
  gboolean ever_connected;
  gboolean auth_failed;
  gint refused;             /* CONNACK code of a refusal, 0 = none */
} MqttCtx;

static void
on_connect (struct mosquitto *mosq, void *obj, int rc)
{
  MqttCtx *c = obj;
  GstClarPublish *self = c->self;

  if (rc == 0) {
    c->connack = TRUE;
    g_mutex_lock (&self->lock);
    self->connected = TRUE;
    if (c->ever_connected)
      self->reconnects++;
    g_mutex_unlock (&self->lock);
    c->ever_connected = TRUE;
    GST_INFO_OBJECT (self, "connected to %s:%d", self->cfg.host, self->cfg.port);
    return;
  }
  c->refused = rc;
  /* MQTT 3.1.1 section 3.2.2.3: 4 = bad user name or password, 5 = not
   * authorised. Retrying cannot help: a fatal element error. */
  if (rc == 4 || rc == 5) {
    c->auth_failed = TRUE;
    g_mutex_lock (&self->lock);
    self->failed = TRUE;
    g_mutex_unlock (&self->lock);
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_AUTHORIZED,
        ("The MQTT broker %s:%d refused the credentials (%s)", self->cfg.host,
            self->cfg.port, mosquitto_connack_string (rc)),
        ("CONNACK return code %d for user \"%s\"; check username and password", rc,
            self->cfg.username ? self->cfg.username : "(none)"));
  } else {
    GST_WARNING_OBJECT (self, "broker refused the connection: %s",
        mosquitto_connack_string (rc));
  }
}

static void
on_publish (struct mosquitto *mosq, void *obj, int mid)
{
  MqttCtx *c = obj;
  GstClarPublish *self = c->self;

  for (GList *l = c->inflight.head; l; l = l->next) {
    GstClarPublishMsg *m = l->data;
    if (m->mid == mid) {
      g_queue_delete_link (&c->inflight, l);
      msg_free (m);
      g_mutex_lock (&self->lock);
      self->inflight--;
      self->sent++;
      g_mutex_unlock (&self->lock);
      return;
    }
  }
  g_array_append_val (c->early_acks, mid);
}

static struct mosquitto *
mqtt_open (GstClarPublish *self, MqttCtx *c, gchar **why)
{
  const GstClarPublishConfig *cfg = &self->cfg;
  struct mosquitto *mosq = mosquitto_new (cfg->client_id, TRUE, c);
  int rc;

  if (!mosq) {
    *why = g_strdup_printf ("mosquitto_new: %s", g_strerror (errno));
    return NULL;
  }
  mosquitto_int_option (mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_connect_callback_set (mosq, on_connect);
  mosquitto_publish_callback_set (mosq, on_publish);
  if (cfg->username)
    mosquitto_username_pw_set (mosq, cfg->username, cfg->password);
  if (cfg->tls_ca) {
    rc = mosquitto_tls_set (mosq, cfg->tls_ca, NULL, cfg->tls_cert, cfg->tls_key, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
      *why = g_strdup_printf ("TLS set-up: %s", mosquitto_strerror (rc));
      mosquitto_destroy (mosq);
      return NULL;
    }
  }
  c->connack = FALSE;
  c->refused = 0;
  /* Non-blocking connect: the TCP (and TLS) handshake and CONNECT/CONNACK
   * run in the poll loop, so a host that drops SYNs cannot hold up stop()
   * beyond flush-timeout; one that never answers is dropped by libmosquitto's
   * keepalive check. (The name lookup, if host is a name, still blocks this
   * thread, never the streaming thread.) */
  rc = mosquitto_connect_async (mosq, cfg->host, cfg->port, (int) cfg->keepalive);
  if (rc != MOSQ_ERR_SUCCESS) {
    *why = g_strdup (rc == MOSQ_ERR_ERRNO ? g_strerror (errno) : mosquitto_strerror (rc));
    mosquitto_destroy (mosq);
    return NULL;
  }
  return mosq;
}

/* A connection ended: what was in flight goes back to the head of the
 * queue, in order, to be sent again on the next connection. */
static void
mqtt_close (GstClarPublish *self, MqttCtx *c, struct mosquitto **mosq)
{
  mosquitto_destroy (*mosq);
  *mosq = NULL;
  g_array_set_size (c->early_acks, 0);
  g_mutex_lock (&self->lock);
  while (!g_queue_is_empty (&c->inflight)) {
    GstClarPublishMsg *m = g_queue_pop_tail (&c->inflight);
    m->mid = -1;
    g_queue_push_head (&self->pending, m);
  }
  self->inflight = 0;
  self->connected = FALSE;
  /* The queue may now exceed queue-size by what was in flight; the next
   * enqueue trims it again under the policy. */
  g_mutex_unlock (&self->lock);
}

/* Hands waiting messages to libmosquitto, up to MAX_INFLIGHT. */
static void
mqtt_feed (GstClarPublish *self, MqttCtx *c, struct mosquitto *mosq)
{
  while (c->inflight.length < MAX_INFLIGHT) {
    GstClarPublishMsg *m;
    int rc, mid = -1;

    g_mutex_lock (&self->lock);
    m = g_queue_pop_head (&self->pending);
    if (m)
      self->inflight++;
    g_mutex_unlock (&self->lock);
    if (!m)
      return;
    g_queue_push_tail (&c->inflight, m);
    rc = mosquitto_publish (mosq, &mid, m->topic, (int) m->len, m->payload, self->cfg.qos,
        false);
    if (rc == MOSQ_ERR_SUCCESS) {
      m->mid = mid;
      for (guint i = 0; i < c->early_acks->len; i++) {
        if (g_array_index (c->early_acks, int, i) == mid) {
          g_array_remove_index_fast (c->early_acks, i);
          on_publish (mosq, c, mid);
          break;
        }
      }
      continue;
    }
    g_queue_remove (&c->inflight, m);
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_NOMEM) {
      /* Try again later, on this or the next connection. */
      g_mutex_lock (&self->lock);
      self->inflight--;
      g_queue_push_head (&self->pending, m);
      g_mutex_unlock (&self->lock);
      return;
    }
    /* The message itself is unpublishable (size, topic): drop it. */
    GST_WARNING_OBJECT (self, "message %" G_GUINT64_FORMAT " not publishable: %s",
        m->seq, mosquitto_strerror (rc));
    g_mutex_lock (&self->lock);
    self->inflight--;
    self->dropped++;
    g_mutex_unlock (&self->lock);
    msg_free (m);
  }
}

static gpointer
mqtt_worker (gpointer data)
{
  GstClarPublish *self = data;
  MqttCtx c = { 0 };
  WorkerClock wc = { G_MAXINT64, 0 };
  struct mosquitto *mosq = NULL;
  gint64 retry_at = 0, delay = (gint64) (self->cfg.reconnect_delay / 1000);
  const gint64 delay_max = (gint64) (self->cfg.reconnect_delay_max / 1000);
  gboolean warned = FALSE;

  c.self = self;
  g_queue_init (&c.inflight);
  c.early_acks = g_array_new (FALSE, FALSE, sizeof (int));
  if (self->cfg.stats_interval)
    wc.next_stats = g_get_monotonic_time () + (gint64) (self->cfg.stats_interval / 1000);
  for (;;) {
    gint64 now = g_get_monotonic_time ();
    short rev;
    int rc = MOSQ_ERR_SUCCESS, sock;

    if (worker_tick (self, &wc, c.inflight.length))
      break;
    if (!mosq && !c.auth_failed && now >= retry_at) {
      gchar *why = NULL;
      mosq = mqtt_open (self, &c, &why);
      if (!mosq) {
        /* The first failure of an outage is a warning on the bus; the
         * results wait in the queue meanwhile. */
        if (!warned)
          GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE,
              ("Cannot reach the MQTT broker %s:%d; retrying, results are queued.",
                  self->cfg.host, self->cfg.port), ("%s", why));
        GST_INFO_OBJECT (self, "connect failed (%s); next try in %" G_GINT64_FORMAT " ms",
            why, delay / 1000);
        warned = TRUE;
        g_free (why);
        retry_at = now + delay;
        delay = MIN (delay * 2, delay_max);
      }
    }
    if (!mosq) {
      gint64 until = MIN (wc.next_stats, c.auth_failed ? G_MAXINT64 : retry_at);
      if (wc.deadline)
        until = MIN (until, wc.deadline);
      wait_io (self, -1, 0, until);
      continue;
    }

    if (c.connack)
      mqtt_feed (self, &c, mosq);
    sock = mosquitto_socket (mosq);
    rev = wait_io (self, sock, POLLIN | (mosquitto_want_write (mosq) ? POLLOUT : 0),
        MIN (wc.next_stats, wc.deadline ? wc.deadline : G_MAXINT64));
    if (rev & (POLLIN | POLLHUP | POLLERR))
      rc = mosquitto_loop_read (mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS && mosquitto_socket (mosq) >= 0 && ((rev & POLLOUT)
            || mosquitto_want_write (mosq)))
      rc = mosquitto_loop_write (mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS)
      rc = mosquitto_loop_misc (mosq);
    if (rc == MOSQ_ERR_SUCCESS && c.refused)
      rc = MOSQ_ERR_CONN_REFUSED;
    if (rc != MOSQ_ERR_SUCCESS) {
      gboolean was_up = c.connack;
      const gchar *why = rc == MOSQ_ERR_ERRNO ? g_strerror (errno) : mosquitto_strerror (rc);
      GST_INFO_OBJECT (self, "connection lost: %s", why);
      /* A connection that failed before the broker accepted it (refused,
       * TLS handshake, no CONNACK): warn once per outage, as above. */
      if (!was_up && !warned && !c.auth_failed) {
        GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE,
            ("Cannot reach the MQTT broker %s:%d; retrying, results are queued.",
                self->cfg.host, self->cfg.port), ("%s", why));
        warned = TRUE;
      }
      mqtt_close (self, &c, &mosq);
      if (was_up) {
        delay = (gint64) (self->cfg.reconnect_delay / 1000);
        warned = FALSE;
      }
      retry_at = g_get_monotonic_time () + delay;
      delay = MIN (delay * 2, delay_max);
    } else if (c.connack) {
      warned = FALSE;
      delay = (gint64) (self->cfg.reconnect_delay / 1000);
    }
  }
  if (mosq) {
    mosquitto_disconnect (mosq);
    mosquitto_loop_write (mosq, 1);
    mosquitto_destroy (mosq);
  }
  worker_finish (self, &c.inflight);
  g_array_free (c.early_acks, TRUE);
  return NULL;
}
#endif

/* ---- start / stop -------------------------------------------------------- */

#ifdef HAVE_MOSQUITTO
/* A publishable MQTT topic: not empty, valid UTF-8, no wildcard, no NUL
 * (MQTT 3.1.1 sections 4.7.1 and 4.7.3). */
static gboolean
topic_valid (const gchar *t)
{
  return t[0] && strlen (t) < 65536 && g_utf8_validate (t, -1, NULL) && !strpbrk (t, "+#");
}
#endif

static gboolean
gst_clar_publish_start (GstBaseTransform *trans)
{
  GstClarPublish *self = GST_CLAR_PUBLISH (trans);
  GstClarPublishConfig *c = &self->cfg;
  GError *err = NULL;

  config_clear (c);
  GST_OBJECT_LOCK (self);
  config_copy (c, &self->props);
  GST_OBJECT_UNLOCK (self);
  if (!c->stream_id)
    c->stream_id = gst_object_get_name (GST_OBJECT (self));

  self->seq = 0;
  self->produced = self->sent = self->dropped = self->reconnects = 0;
  self->inflight = 0;
  self->connected = self->stopping = self->failed = FALSE;
  g_queue_clear_full (&self->pending, msg_free);

  if (c->method == GST_CLAR_PUBLISH_METHOD_FILE) {
    if (!c->location || !c->location[0]) {
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No location set for method=file."),
          ("use location=- for stdout"));
      return FALSE;
    }
    if (strcmp (c->location, "-") == 0) {
      self->out = stdout;
      self->out_is_stdout = TRUE;
    } else {
      self->out = g_fopen (c->location, "ab");
      self->out_is_stdout = FALSE;
      if (!self->out) {
        GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
            ("Could not open \"%s\" for writing.", c->location), ("%s", g_strerror (errno)));
        return FALSE;
      }
    }
  } else {
#ifdef HAVE_MOSQUITTO
    gchar *topic = expand_topic (c, "window");
    gboolean ok = topic_valid (topic);
    g_free (topic);
    if (!ok) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Invalid MQTT topic \"%s\".", c->topic),
          ("after replacing {stream-id} (\"%s\") and {type} the topic must be non-empty "
              "UTF-8 without the wildcards + and #", c->stream_id));
      return FALSE;
    }
    if (!c->host || !c->host[0]) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("No MQTT host set."), (NULL));
      return FALSE;
    }
    if (c->password && !c->username) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("An MQTT password needs a username."),
          (NULL));
      return FALSE;
    }
    if ((c->tls_cert || c->tls_key) && (!c->tls_cert || !c->tls_key || !c->tls_ca)) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("A TLS client certificate needs tls-cert-file, tls-key-file and tls-ca-file."),
          (NULL));
      return FALSE;
    }
    {
      const gchar *files[3] = { c->tls_ca, c->tls_cert, c->tls_key };
      for (int i = 0; i < 3; i++) {
        if (files[i] && g_access (files[i], R_OK) != 0) {
          GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
              ("Could not read the TLS file \"%s\".", files[i]), ("%s", g_strerror (errno)));
          return FALSE;
        }
      }
    }
    /* Unique per element run in this process: two clients with one id
     * would make the broker disconnect each other in turn (MQTT 3.1.1
     * section 3.1.4), and stream ids (element names) repeat across
     * pipelines. */
    if (!c->client_id) {
      static gint run_counter = 0;
      c->client_id = g_strdup_printf ("clarpublish-%ld-%d-%s", (long) getpid (),
          g_atomic_int_add (&run_counter, 1), c->stream_id);
    }
#else
    GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("This build of clarpublish has no MQTT support."),
        ("libmosquitto-dev was not found when the plugin was configured; install it and "
            "rebuild, or use method=file"));
    return FALSE;
#endif
  }

  if (!g_unix_open_pipe (self->wake, FD_CLOEXEC, &err)
      || !g_unix_set_fd_nonblocking (self->wake[0], TRUE, &err)
      || !g_unix_set_fd_nonblocking (self->wake[1], TRUE, &err)) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Could not create a pipe."), ("%s",
            err->message));
    g_clear_error (&err);
    goto fail;
  }
  self->worker = g_thread_try_new ("clarpublish",
#ifdef HAVE_MOSQUITTO
      c->method == GST_CLAR_PUBLISH_METHOD_MQTT ? mqtt_worker :
#endif
      file_worker, self, &err);
  if (!self->worker) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Could not start the publishing thread."),
        ("%s", err->message));
    g_clear_error (&err);
    goto fail;
  }
  return TRUE;

fail:
  for (int i = 0; i < 2; i++) {
    if (self->wake[i] >= 0)
      close (self->wake[i]);
    self->wake[i] = -1;
  }
  if (self->out && !self->out_is_stdout)
    fclose (self->out);
  self->out = NULL;
  return FALSE;
}

static gboolean
gst_clar_publish_stop (GstBaseTransform *trans)
{
  GstClarPublish *self = GST_CLAR_PUBLISH (trans);

  if (self->worker) {
    g_mutex_lock (&self->lock);
    self->stopping = TRUE;
    g_mutex_unlock (&self->lock);
    wake_worker (self);
    g_thread_join (self->worker);
    self->worker = NULL;
  }
  for (int i = 0; i < 2; i++) {
    if (self->wake[i] >= 0)
      close (self->wake[i]);
    self->wake[i] = -1;
  }
  if (self->out) {
    if (self->out_is_stdout)
      fflush (self->out);
    else
      fclose (self->out);
    self->out = NULL;
  }
  return TRUE;
}
