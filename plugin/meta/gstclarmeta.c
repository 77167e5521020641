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

/**
 * gst_clar_buffer_get_metas:
 * @buffer: a #GstBuffer
 *
 * Every #GstClarMeta on @buffer, in the order they were added (window
 * order). For bindings, where gst_buffer_iterate_meta_filtered() and the
 * cast to #GstClarMeta are not available.
 *
 * Returns: (transfer container) (element-type GstClarMeta): the metas;
 *     free the list (not the metas) with g_list_free().
 */
GList *
gst_clar_buffer_get_metas (GstBuffer *buffer)
{
  GList *out = NULL;
  gpointer state = NULL;
  GstMeta *m;
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  while ((m = gst_buffer_iterate_meta_filtered (buffer, &state, GST_CLAR_META_API_TYPE)))
    out = g_list_prepend (out, m);
  return g_list_reverse (out);
}

/**
 * gst_clar_meta_get_embedding:
 * @meta: a #GstClarMeta
 * @n_dims: (out): number of values
 *
 * Returns: (array length=n_dims) (transfer none) (nullable): the
 *     L2-normalised embedding (NULL when the window was silent).
 */
const gfloat *
gst_clar_meta_get_embedding (GstClarMeta *meta, guint *n_dims)
{
  g_return_val_if_fail (meta != NULL && n_dims != NULL, NULL);
  *n_dims = meta->n_dims;
  return meta->embedding;
}

/**
 * gst_clar_meta_get_label:
 * @meta: a #GstClarMeta
 * @i: 0 for the best label
 * @name: (out) (transfer none): label name
 * @score: (out): softmax probability
 * @similarity: (out): cosine similarity with the label vector
 *
 * Returns: FALSE when @i is not below @meta's n_labels.
 */
gboolean
gst_clar_meta_get_label (GstClarMeta *meta, guint i, const gchar **name,
    gfloat *score, gfloat *similarity)
{
  g_return_val_if_fail (meta != NULL, FALSE);
  if (i >= meta->n_labels) {
    if (name)
      *name = NULL;
    if (score)
      *score = 0.0f;
    if (similarity)
      *similarity = 0.0f;
    return FALSE;
  }
  if (name)
    *name = meta->labels[i].name;
  if (score)
    *score = meta->labels[i].score;
  if (similarity)
    *similarity = meta->labels[i].similarity;
  return TRUE;
}

static void
set_array (GstStructure *s, const gchar *field, GType type, guint n,
    const gfloat *floats, const GstClarLabel *labels, int what)
{
  GValue arr = G_VALUE_INIT, v = G_VALUE_INIT;
  gst_value_array_init (&arr, n);
  g_value_init (&v, type);
  for (guint i = 0; i < n; i++) {
    if (type == G_TYPE_STRING)
      g_value_set_string (&v, labels[i].name);
    else
      g_value_set_float (&v, floats ? floats[i]
          : what == 0 ? labels[i].score : labels[i].similarity);
    gst_value_array_append_value (&arr, &v);
  }
  g_value_unset (&v);
  gst_structure_take_value (s, field, &arr);
}

/**
 * gst_clar_meta_to_structure:
 * @meta: a #GstClarMeta
 *
 * The meta as a #GstStructure named "clarembed" with the fields the element
 * posts on the bus for the same window: timestamp, duration, window-index
 * (guint64), labels (array of strings, best first), scores and similarities
 * (arrays of floats) and embedding (array of floats); arrays with no
 * element are left out.
 *
 * Returns: (transfer full): a new structure.
 */
GstStructure *
gst_clar_meta_to_structure (GstClarMeta *meta)
{
  g_return_val_if_fail (meta != NULL, NULL);
  return gst_clar_meta_structure_new (meta->timestamp, meta->duration, meta->window_index,
      meta->embedding, meta->n_dims, meta->labels, meta->n_labels);
}

/**
 * gst_clar_meta_structure_new:
 * @timestamp: PTS of the window's first sample
 * @duration: window duration
 * @window_index: index of the window
 * @embedding: (array length=n_dims) (nullable): the embedding
 * @n_dims: its size
 * @labels: (array length=n_labels) (nullable): the labels, best first
 * @n_labels: their number
 *
 * The structure gst_clar_meta_to_structure() returns, from the values
 * themselves (clarembed sends it, named "clarembed-window", as a custom
 * downstream event for the final padded window, which has no buffer).
 * Arrays with no element are left out.
 *
 * Returns: (transfer full): a new structure named "clarembed".
 */
GstStructure *
gst_clar_meta_structure_new (GstClockTime timestamp, GstClockTime duration,
    guint64 window_index, const gfloat *embedding, guint n_dims,
    const GstClarLabel *labels, guint n_labels)
{
  GstStructure *s = gst_structure_new ("clarembed", "timestamp", G_TYPE_UINT64, timestamp,
      "duration", G_TYPE_UINT64, duration,
      "window-index", G_TYPE_UINT64, window_index, NULL);
  if (labels && n_labels) {
    set_array (s, "labels", G_TYPE_STRING, n_labels, NULL, labels, 0);
    set_array (s, "scores", G_TYPE_FLOAT, n_labels, NULL, labels, 0);
    set_array (s, "similarities", G_TYPE_FLOAT, n_labels, NULL, labels, 1);
  }
  if (embedding && n_dims)
    set_array (s, "embedding", G_TYPE_FLOAT, n_dims, embedding, NULL, 0);
  return s;
}
