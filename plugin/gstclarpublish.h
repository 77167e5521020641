/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GST_CLAR_PUBLISH_H
#define GST_CLAR_PUBLISH_H

#include <stdio.h>
#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

typedef enum {
  GST_CLAR_PUBLISH_METHOD_FILE,
  GST_CLAR_PUBLISH_METHOD_MQTT,
} GstClarPublishMethod;

typedef enum {
  GST_CLAR_PUBLISH_DROP_OLDEST,
  GST_CLAR_PUBLISH_DROP_NEWEST,
} GstClarPublishQueuePolicy;

#define GST_TYPE_CLAR_PUBLISH (gst_clar_publish_get_type ())
G_DECLARE_FINAL_TYPE (GstClarPublish, gst_clar_publish, GST, CLAR_PUBLISH, GstBaseTransform)

/* The settings one run uses, copied from the properties in start() so the
 * publishing thread never reads the properties (or takes the object lock). */
typedef struct {
  GstClarPublishMethod method;
  gchar *location;
  gchar *stream_id;
  gchar *host;
  gint port;
  gchar *topic;             /* template: {stream-id}, {type} */
  gchar *client_id;
  gint qos;
  gchar *username, *password;
  gchar *tls_ca, *tls_cert, *tls_key;
  guint keepalive;          /* s */
  guint queue_size;
  GstClarPublishQueuePolicy policy;
  gboolean include_embedding;
  guint64 stats_interval;   /* ns, 0 = off */
  guint64 reconnect_delay, reconnect_delay_max, flush_timeout;  /* ns */
} GstClarPublishConfig;

struct _GstClarPublish {
  GstBaseTransform parent;

  /* Properties (object lock). */
  GstClarPublishConfig props;

  /* One run (start..stop). `cfg` and `out` are set in start() before the
   * publishing thread exists and freed after it is joined. */
  GstClarPublishConfig cfg;
  FILE *out;                /* method file */
  gboolean out_is_stdout;
  GThread *worker;
  gint wake[2];             /* pipe: a byte wakes the publishing thread */

  /* Queue and counters, shared by the streaming thread (producer), the
   * publishing thread and property readers: `lock`. */
  GMutex lock;
  GQueue pending;           /* GstClarPublishMsg*, oldest first */
  guint inflight;           /* handed to the broker, not yet acknowledged */
  guint64 produced, sent, dropped, reconnects;
  gboolean connected;
  gboolean stopping;
  gboolean failed;          /* fatal error: nothing more is published */

  /* Streaming thread. */
  guint64 seq;
};

G_END_DECLS

#endif
