/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GST_CLAR_EMBED_H
#define GST_CLAR_EMBED_H

#include <gst/audio/gstaudiofilter.h>
#include <clar/clar.h>

G_BEGIN_DECLS

#define GST_TYPE_CLAR_EMBED (gst_clar_embed_get_type ())
G_DECLARE_FINAL_TYPE (GstClarEmbed, gst_clar_embed, GST, CLAR_EMBED, GstAudioFilter)

struct _GstClarEmbed {
  GstAudioFilter parent;

  /* Properties (object lock). */
  gchar *model_location;
  gchar *labels_location;
  gchar *label_prompts;    /* "labels": ';'-separated text prompts, NULL = none */
  guint64 window_size;     /* ns, 0 = model default */
  guint64 hop_size;        /* ns, 0 = model default */
  guint top_k;
  gfloat threshold;
  gboolean attach_meta;
  gboolean post_messages;
  gboolean message_embedding;
  gdouble min_rms;
  gdouble eos_min_fill;
  gfloat min_similarity;   /* open set: below this best cosine, "unknown" */
  gboolean allow_encoder_mismatch;
  gboolean window_changed; /* window/hop set while running */
  gint64 max_lateness;     /* ns; -1 = never skip (live policy) */
  guint64 windows_skipped; /* live policy: windows not computed */
  /* Sound events (clar/events.h), read when the element starts. */
  gboolean events;
  gint event_smoothing;    /* clar_events_smoothing */
  guint event_median_windows;
  gfloat event_smoothing_alpha;
  gfloat event_on_threshold, event_off_threshold;
  guint64 event_min_duration, event_min_gap;   /* ns */
  gfloat event_unknown_similarity;
  gfloat event_active_db;
  gchar *event_thresholds_location;
  /* clar_events_option mask of the event-* properties the application set
   * (set_property): the thresholds file's "#% tracker:" options apply to
   * the others only. */
  guint event_explicit;
  /* Many streams, one encoder call (clar/batcher.h), read when it starts. */
  gchar *batch_group;      /* NULL: no batching */
  guint max_batch;
  guint64 batch_wait;      /* ns */

  /* Streaming state (streaming thread; set up in start/set_info). The
   * windowing itself (window buffer, hop, padding rule, RMS and silence,
   * NaN/Inf test, encoder, top-k) is libclar's clar_stream; the element
   * maps sample offsets to timestamps and reports. */
  clar_model *model;
  clar_stream *stream;     /* owns the session */
  clar_batcher *batcher;   /* of batch_group (the registry's), or NULL */
  clar_labels *labels;     /* active label set (ref) */
  const clar_model_info *info;
  gint rate;
  gboolean is_s16;
  GstClockTime base_ts;    /* PTS of sample offset 0 (the stream's last reset) */
  gboolean have_base;
  guint64 windows_reported;  /* since start: a stream that ends without any is warned about */
  guint64 samples_in;        /* samples received since start */
  guint64 windows_nonfinite;
  gint warned_caps;        /* atomic: caps mismatch explained once */
  /* Live policy (streaming thread): upstream liveness and latency from a
   * latency query at the first buffer; the burst of skipped windows now in
   * progress, reported when it ends. */
  gboolean live_checked, is_live;
  GstClockTime upstream_latency;
  guint64 burst_skipped, windows_processed;
  GstClockTime burst_last_ts;       /* PTS of the burst's last skipped window */
  GstClockTimeDiff burst_lateness;  /* and how late it was */
  gboolean warned_late;
#ifdef CLAR_TEST_HOOKS
  gulong test_slow_us;     /* tests only: extra time per computed window */
#endif
};

G_END_DECLS

#endif
