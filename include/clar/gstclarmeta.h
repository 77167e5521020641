/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/gstclarmeta.h — GstClarMeta: the embedding and labels of one analysis
 * window, attached by the `clarembed` element to the buffer that completes
 * the window. Link with pkg-config `gstclarmeta-1.0`.
 *
 * Reading it in a pad probe or appsink callback:
 *
 *   #include <clar/gstclarmeta.h>
 *
 *   gpointer state = NULL;
 *   GstMeta *m;
 *   while ((m = gst_buffer_iterate_meta_filtered (buf, &state,
 *           GST_CLAR_META_API_TYPE))) {
 *     GstClarMeta *cm = (GstClarMeta *) m;
 *     g_print ("%" GST_TIME_FORMAT " %s %.2f\n", GST_TIME_ARGS (cm->timestamp),
 *         cm->n_labels ? cm->labels[0].name : "-",
 *         cm->n_labels ? cm->labels[0].score : 0.0);
 *   }
 *
 * From Python (PyGObject), through the GstClar-1.0 typelib built with the
 * library (GObject-Introspection; examples/clar-monitor.py):
 *
 *   gi.require_version("GstClar", "1.0")
 *   from gi.repository import GstClar
 *   for m in GstClar.buffer_get_metas(buf):     # in a pad probe
 *       s = m.to_structure()   # the fields of the clarembed bus message
 *       print(m.timestamp, m.window_index, s.get_value("window-index"),
 *             m.get_label(0), len(m.get_embedding()))
 *
 * A buffer can complete more than one window (when it is longer than the
 * hop), so it may carry several GstClarMeta: iterate as above;
 * gst_buffer_get_clar_meta() returns the first.
 *
 * Which windows carry a meta (the rule):
 *  - every window clarembed computes (attach-meta=TRUE), on the buffer whose
 *    samples complete it, except
 *  - silent windows (RMS below min-rms): no meta, the encoder did not run;
 *  - the final padded window (EOS, DISCONT, caps, segment or window-size
 *    change; reported when it holds at least eos-min-fill of a window): its
 *    audio has already gone downstream, so its result follows that audio
 *    as a serialized custom downstream event (GST_EVENT_CUSTOM_DOWNSTREAM)
 *    whose structure is named "clarembed-window", with the fields of
 *    gst_clar_meta_to_structure() plus "padded" (TRUE), before the EOS or
 *    the next segment. Read it in a pad probe for events
 *    (GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM).
 * A window reported "unknown" (clarembed min-similarity) carries one label
 * named "unknown", index G_MAXUINT, score 1, similarity the best label's.
 *
 * The meta is copied (deep copy of the arrays) when the buffer is copied,
 * and dropped on other transformations (its tags are GST_META_TAG_AUDIO_STR:
 * a window summary stays valid while the audio is only converted).
 *
 * Threading: a meta belongs to its buffer; read it while you hold the buffer.
 */
#ifndef GST_CLAR_META_H
#define GST_CLAR_META_H

#include <gst/gst.h>

G_BEGIN_DECLS

#if defined(__GNUC__) && __GNUC__ >= 4
#  define GST_CLAR_META_API_EXPORT __attribute__((visibility("default"))) extern
#else
#  define GST_CLAR_META_API_EXPORT extern
#endif

#define GST_CLAR_META_API_TYPE (gst_clar_meta_api_get_type ())
#define GST_CLAR_META_INFO (gst_clar_meta_get_info ())

typedef struct _GstClarMeta GstClarMeta;

/**
 * GstClarLabel:
 * @index: index of the label in the element's label set
 * @name: label name (owned by the meta)
 * @score: softmax probability in [0, 1]
 * @similarity: cosine similarity between embedding and label vector, [-1, 1]
 */
typedef struct {
  guint index;
  gchar *name;
  gfloat score;
  gfloat similarity;
} GstClarLabel;

/**
 * GstClarMeta:
 * @meta: parent
 * @timestamp: PTS of the window's first sample
 * @duration: window duration (window size in samples at the stream's rate)
 * @window_index: running count of windows since the last reset
 * @n_dims: embedding size
 * @embedding: L2-normalised embedding, @n_dims floats
 * @n_labels: number of entries in @labels (top-k above the threshold)
 * @labels: best label first
 */
struct _GstClarMeta {
  GstMeta meta;
  GstClockTime timestamp;
  GstClockTime duration;
  guint64 window_index;
  guint n_dims;
  gfloat *embedding;
  guint n_labels;
  GstClarLabel *labels;
};

GST_CLAR_META_API_EXPORT GType gst_clar_meta_api_get_type (void);
GST_CLAR_META_API_EXPORT const GstMetaInfo *gst_clar_meta_get_info (void);

/* Copies embedding (n_dims floats) and labels (names duplicated). */
GST_CLAR_META_API_EXPORT GstClarMeta *gst_buffer_add_clar_meta (GstBuffer *buffer,
    GstClockTime timestamp, GstClockTime duration, guint64 window_index,
    const gfloat *embedding, guint n_dims, const GstClarLabel *labels,
    guint n_labels);

/* First GstClarMeta on buffer, or NULL. */
GST_CLAR_META_API_EXPORT GstClarMeta *gst_buffer_get_clar_meta (GstBuffer *buffer);

/* For bindings (GObject-Introspection annotations in gstclarmeta.c). */
GST_CLAR_META_API_EXPORT GList *gst_clar_buffer_get_metas (GstBuffer *buffer);
GST_CLAR_META_API_EXPORT const gfloat *gst_clar_meta_get_embedding (GstClarMeta *meta,
    guint *n_dims);
GST_CLAR_META_API_EXPORT gboolean gst_clar_meta_get_label (GstClarMeta *meta, guint i,
    const gchar **name, gfloat *score, gfloat *similarity);
GST_CLAR_META_API_EXPORT GstStructure *gst_clar_meta_to_structure (GstClarMeta *meta);
GST_CLAR_META_API_EXPORT GstStructure *gst_clar_meta_structure_new (GstClockTime timestamp,
    GstClockTime duration, guint64 window_index, const gfloat *embedding, guint n_dims,
    const GstClarLabel *labels, guint n_labels);

G_END_DECLS

#endif /* GST_CLAR_META_H */
