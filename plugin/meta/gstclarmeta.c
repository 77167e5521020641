/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GstClarMeta, following GstAudioLevelMeta (gst-plugins-base,
 * gst-libs/gst/audio/gstaudiometa.c): api type registered once with
 * g_once_init_enter, info with gst_meta_register, deep copy on buffer copy. */
#include <string.h>

#include <clar/gstclarmeta.h>

static void
labels_free (GstClarLabel *labels, guint n)
{
  for (guint i = 0; i < n; i++)
    g_free (labels[i].name);
  g_free (labels);
}

static gboolean
gst_clar_meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  GstClarMeta *m = (GstClarMeta *) meta;
  m->timestamp = GST_CLOCK_TIME_NONE;
  m->duration = GST_CLOCK_TIME_NONE;
  m->window_index = 0;
  m->n_dims = 0;
  m->embedding = NULL;
  m->n_labels = 0;
  m->labels = NULL;
  return TRUE;
}

static void
gst_clar_meta_free (GstMeta *meta, GstBuffer *buffer)
{
  GstClarMeta *m = (GstClarMeta *) meta;
  g_free (m->embedding);
  labels_free (m->labels, m->n_labels);
  m->embedding = NULL;
  m->labels = NULL;
  m->n_dims = m->n_labels = 0;
}

static void
fill (GstClarMeta *m, GstClockTime timestamp, GstClockTime duration,
      guint64 window_index, const gfloat *embedding, guint n_dims,
      const GstClarLabel *labels, guint n_labels)
{
  m->timestamp = timestamp;
  m->duration = duration;
  m->window_index = window_index;
  m->n_dims = embedding ? n_dims : 0;
  m->embedding = m->n_dims ? g_memdup2 (embedding, sizeof (gfloat) * n_dims) : NULL;
  m->n_labels = labels ? n_labels : 0;
  m->labels = m->n_labels ? g_new0 (GstClarLabel, n_labels) : NULL;
  for (guint i = 0; i < m->n_labels; i++) {
    m->labels[i] = labels[i];
    m->labels[i].name = g_strdup (labels[i].name);
  }
}

static gboolean
gst_clar_meta_transform (GstBuffer *dest, GstMeta *meta, GstBuffer *buffer,
                         GQuark type, gpointer data)
{
  GstClarMeta *src = (GstClarMeta *) meta;
  if (GST_META_TRANSFORM_IS_COPY (type)) {
    GstClarMeta *d = (GstClarMeta *) gst_buffer_add_meta (dest, GST_CLAR_META_INFO, NULL);
    if (!d)
      return FALSE;
    fill (d, src->timestamp, src->duration, src->window_index, src->embedding,
        src->n_dims, src->labels, src->n_labels);
    return TRUE;
  }
  /* Other transforms (e.g. conversions) are not supported: drop the meta. */
  return FALSE;
}

GType
gst_clar_meta_api_get_type (void)
{
  static GType type = 0;
  /* "audio" == GST_META_TAG_AUDIO_STR, without linking gstreamer-audio. */
  static const gchar *tags[] = { "audio", NULL };
  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("GstClarMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

const GstMetaInfo *
gst_clar_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;
  if (g_once_init_enter ((GstMetaInfo **) &info)) {
    const GstMetaInfo *mi = gst_meta_register (GST_CLAR_META_API_TYPE,
        "GstClarMeta", sizeof (GstClarMeta), gst_clar_meta_init,
        gst_clar_meta_free, gst_clar_meta_transform);
    g_once_init_leave ((GstMetaInfo **) &info, (GstMetaInfo *) mi);
  }
  return info;
}

GstClarMeta *
gst_buffer_add_clar_meta (GstBuffer *buffer, GstClockTime timestamp,
    GstClockTime duration, guint64 window_index, const gfloat *embedding,
    guint n_dims, const GstClarLabel *labels, guint n_labels)
{
  GstClarMeta *m;
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  g_return_val_if_fail (n_dims == 0 || embedding != NULL, NULL);
  g_return_val_if_fail (n_labels == 0 || labels != NULL, NULL);
  m = (GstClarMeta *) gst_buffer_add_meta (buffer, GST_CLAR_META_INFO, NULL);
  if (!m)
    return NULL;
  fill (m, timestamp, duration, window_index, embedding, n_dims, labels, n_labels);
  return m;
}

GstClarMeta *
gst_buffer_get_clar_meta (GstBuffer *buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  return (GstClarMeta *) gst_buffer_get_meta (buffer, GST_CLAR_META_API_TYPE);
}
