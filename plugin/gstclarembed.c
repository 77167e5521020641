/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * SECTION:element-clarembed
 * @title: clarembed
 *
 * Streaming audio embeddings. clarembed buffers mono audio into windows of
 * #GstClarEmbed:window-size, one every #GstClarEmbed:hop-size, computes the
 * log-mel spectrogram of each window, runs the contrastively trained encoder
 * of #GstClarEmbed:model-location, and reports the L2-normalised embedding
 * and the best labels. Audio passes through bit-identical.
 *
 * Input must be mono F32LE or S16LE at the model's sample rate (16000 Hz for
 * the shipped model): put `audioconvert ! audioresample` before it.
 *
 * For each window the element
 *  - attaches a #GstClarMeta (include clar/gstclarmeta.h, pkg-config
 *    gstclarmeta-1.0) to the buffer that completes the window, if
 *    #GstClarEmbed:attach-meta is TRUE;
 *  - posts an element message named "clarembed" on the bus, if
 *    #GstClarEmbed:post-messages is TRUE, with the fields:
 *
 *    - "timestamp" (G_TYPE_UINT64): PTS of the window's first sample, ns.
 *      Derived from the sample offset since the last reset and the PTS of
 *      that first buffer, so it never drifts.
 *    - "stream-time" (G_TYPE_UINT64): the same in stream time.
 *    - "running-time" (G_TYPE_UINT64): the same in running time.
 *    - "duration" (G_TYPE_UINT64): window length, ns.
 *    - "window-index" (G_TYPE_UINT64): windows since the last reset.
 *    - "labels" (GstValueArray of G_TYPE_STRING): the top-k label names at or
 *      above #GstClarEmbed:threshold, best first.
 *    - "scores" (GstValueArray of G_TYPE_FLOAT): their softmax scores.
 *    - "similarities" (GstValueArray of G_TYPE_FLOAT): their cosine
 *      similarities to the window's embedding. labels, scores and
 *      similarities are left out when empty (a silent window, or no label
 *      at or above the threshold): GStreamer would print an empty array as
 *      "(int)< >".
 *    - "max-similarity" (G_TYPE_FLOAT): the best cosine similarity to any
 *      label (absent without labels or when silent).
 *    - "unknown" (G_TYPE_BOOLEAN): TRUE when max-similarity is below
 *      #GstClarEmbed:min-similarity (open set); labels is then the single
 *      "unknown" with score 1 and the best similarity.
 *    - "embedding" (GstValueArray of G_TYPE_FLOAT): the embedding (omitted
 *      when #GstClarEmbed:message-embedding is FALSE). A GstValueArray keeps
 *      it readable in `gst-launch-1.0 -m` output and from Python.
 *    - "rms" (G_TYPE_DOUBLE): RMS of the window's samples (full scale 1.0).
 *    - "silent" (G_TYPE_BOOLEAN): TRUE when rms < #GstClarEmbed:min-rms; the
 *      encoder then does not run, and labels, scores and embedding are empty.
 *    - "padded" (G_TYPE_BOOLEAN): TRUE for a final partial window that was
 *      zero-padded at EOS, DISCONT, a caps change or a window-size change
 *      (posted only when it holds at least #GstClarEmbed:eos-min-fill of a
 *      window; such a window has no buffer to carry a meta: its result goes
 *      downstream as a serialized custom event "clarembed-window" instead,
 *      see clar/gstclarmeta.h).
 *
 * With #GstClarEmbed:post-messages and the default
 * #GstClarEmbed:message-embedding each message holds the 128-float
 * embedding, and one `gst-launch-1.0 -m` line is a few KB. An application
 * that reads only the metas and never pops the bus keeps every message
 * queued: set post-messages=FALSE (or drain the bus). The embedding stays in
 * the messages by default so that a bus-only application (and `gst-launch
 * -m`) gets the whole result; message-embedding=FALSE leaves it out.
 *
 * A stream that ends before any window was reported (less audio than
 * #GstClarEmbed:eos-min-fill of a window) posts a warning saying so, with
 * a hint when window-size is longer than all the audio. The model and
 * label properties are read when the element starts: set while it runs,
 * they are refused with a warning. Labels made with another encoder than
 * the model's (model.h "Encoder fingerprint") stop the start with an error
 * unless #GstClarEmbed:allow-encoder-mismatch is set.
 *
 * Labels come from one of: the model's own label set (default), a label
 * file (#GstClarEmbed:labels-location, e.g. few-shot prototypes written by
 * clar-enroll), or text prompts embedded once by the model's text tower
 * when the element starts (zero-shot, CLAP): #GstClarEmbed:labels, e.g.
 * `clarembed labels="speech;flute;a dog barking"`, or a labels-location
 * ending in ".txt" holding one prompt per line ('#' starts a comment). A
 * prompt is its own label name. Prompts need a model with a text tower;
 * otherwise the element fails to start with a SETTINGS error.
 *
 * Live sources: the element computes on the streaming thread, so a CPU that
 * cannot keep up would delay the audio more and more. When upstream is live
 * (latency query) and a completed window's end is already later than its
 * running time + the upstream latency + #GstClarEmbed:max-lateness on the
 * pipeline clock, the window is not computed: it is counted in
 * #GstClarEmbed:windows-skipped, and when the burst of skipped windows ends
 * a QoS message (gst_message_new_qos, format GST_FORMAT_DEFAULT = windows,
 * processed/dropped totals since start, running-time of the last skipped
 * window) is posted; the first burst also posts a warning. Audio still
 * passes through untouched and timestamps of later windows are unaffected.
 * Non-live streams never skip (every window is computed, however slow).
 *
 * Sound events (#GstClarEmbed:events, on by default): the label scores of
 * every window feed libclar's event tracker (clar/events.h): smoothing
 * over windows (#GstClarEmbed:event-smoothing: none by default, a centred
 * median of #GstClarEmbed:event-median-windows, or exponential), hysteresis
 * (#GstClarEmbed:event-on-threshold, #GstClarEmbed:event-off-threshold,
 * per label from #GstClarEmbed:event-thresholds-location), gaps shorter
 * than #GstClarEmbed:event-min-gap filled, events shorter than
 * #GstClarEmbed:event-min-duration dropped, and an "unknown" track for
 * windows less similar than #GstClarEmbed:event-unknown-similarity to
 * every label. A thresholds file may name the tracker options its
 * thresholds were chosen with, in a line such as
 * "#% tracker: smoothing=median:3 min-gap-ns=0 min-duration-ns=0"
 * (clar/events.h; tools/events/calibrate.py writes it, the shipped
 * models/clar-default.events*.tsv have it): each option it names sets
 * #GstClarEmbed:event-smoothing (and #GstClarEmbed:event-median-windows or
 * #GstClarEmbed:event-smoothing-alpha), #GstClarEmbed:event-min-gap or
 * #GstClarEmbed:event-min-duration when the element starts, unless the
 * application (or the gst-launch line) set that property: a property set
 * explicitly always wins. Lines such as
 * "#% label-tracker: LABEL smoothing=median:5" (the same keys) give one
 * label options of its own (calibration finds that instrument notes want a
 * median where words want none), on the same rule: a property set
 * explicitly wins for every label. The properties keep reading back what
 * was set; the options taken from the file are logged at INFO. Each event is
 * reported when it starts and when it ends (at the latest at EOS,
 * DISCONT, FLUSH or a new segment) as an element message
 * named "clarembed-event" (posted whatever #GstClarEmbed:post-messages says:
 * post-messages=false leaves only the events on the bus) and as a
 * serialized custom downstream event with the same structure:
 *
 *    - "kind" (G_TYPE_STRING): "start" or "end".
 *    - "label" (G_TYPE_STRING), "label-index" (G_TYPE_INT, -1 = unknown).
 *    - "timestamp", "stream-time", "running-time" (G_TYPE_UINT64): the
 *      event's start, ns, as in the per-window message. Each window stands
 *      for the hop-long middle of its span (1 s windows, 0.5 s hop: from a
 *      quarter to three quarters of it), narrowed to where its sound rises
 *      #GstClarEmbed:event-active-db above its background.
 *    - "duration" (G_TYPE_UINT64): its length, ns (a "start" message: so far).
 *    - "peak", "mean" (G_TYPE_FLOAT): of the label's window scores.
 *    - "first-window", "last-window" (G_TYPE_UINT64): window indices.
 *
 * Without smoothing an event is reported with the window that starts or
 * ends it; a median of N windows waits N/2 windows more.
 *
 * Many streams, one encoder call: elements of one process with the same
 * #GstClarEmbed:batch-group (and the same model file) hand their windows
 * to one libclar batcher (clar/batcher.h), which encodes windows completed
 * at about the same time in one encoder call, on the streaming thread of
 * one of them. A window waits at most #GstClarEmbed:batch-wait (and never
 * more than one hop) for others; the batch closes at once when it holds
 * #GstClarEmbed:max-batch windows or a window of every element of the
 * group. Embeddings and labels are those of the window alone. With a
 * batch group the per-window message also holds "batch-size" (G_TYPE_UINT,
 * windows in the encoder call) and "batch-wait" (G_TYPE_UINT64, ns the
 * window waited for it: the latency batching added). Off by default; each
 * element of a group must have its own streaming thread (put a queue
 * before each, as after a tee), or its windows wait their batch-wait for
 * nothing. The group's max-batch is that of its first element to start.
 *
 * Windowing restarts on DISCONT, FLUSH and caps changes. Windows holding NaN
 * or Inf samples are skipped with a warning (no garbage embedding is posted).
 * Several clarembed elements in one process share one loaded model.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -m filesrc location=speech.ogg ! decodebin ! audioconvert ! \
 *     audioresample ! clarembed ! fakesink
 * gst-launch-1.0 -m autoaudiosrc ! audioconvert ! audioresample ! \
 *     clarembed hop-size=250000000 top-k=3 threshold=0.2 ! fakesink
 * gst-launch-1.0 -m filesrc location=scene.wav ! decodebin ! audioconvert ! \
 *     audioresample ! clarembed post-messages=false event-min-duration=500000000 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <string.h>

#include <clar/gstclarmeta.h>
#include "gstclarembed.h"
#include "gstclarmodelcache.h"

GST_DEBUG_CATEGORY_STATIC (clar_embed_debug);
#define GST_CAT_DEFAULT clar_embed_debug

#ifndef CLAR_DEFAULT_MODEL
#define CLAR_DEFAULT_MODEL "/usr/local/share/gst-clar/models/clar-default.safetensors"
#endif

#define DEFAULT_MODEL_LOCATION NULL
#define DEFAULT_LABELS_LOCATION NULL
#define DEFAULT_LABELS NULL
#define DEFAULT_WINDOW_SIZE 0
#define DEFAULT_HOP_SIZE 0
#define DEFAULT_TOP_K 3
#define DEFAULT_THRESHOLD 0.0f
#define DEFAULT_ATTACH_META TRUE
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_MESSAGE_EMBEDDING TRUE
#define DEFAULT_MIN_RMS CLAR_DEFAULT_MIN_RMS
#define DEFAULT_EOS_MIN_FILL 0.5
#define DEFAULT_MIN_SIMILARITY CLAR_STREAM_DEFAULT_MIN_SIMILARITY
#define DEFAULT_ALLOW_ENCODER_MISMATCH FALSE
#define DEFAULT_MAX_LATENESS (500 * GST_MSECOND)
#define MAX_WINDOW (60 * GST_SECOND)
#define MAX_TOP_K 100
#define DEFAULT_EVENTS TRUE
#define DEFAULT_EVENT_SMOOTHING CLAR_EVENTS_SMOOTH_NONE
#define DEFAULT_EVENT_MEDIAN_WINDOWS 3
#define DEFAULT_EVENT_SMOOTHING_ALPHA 0.5f
#define DEFAULT_EVENT_ON_THRESHOLD 0.5f
#define DEFAULT_EVENT_OFF_THRESHOLD 0.3f
#define DEFAULT_EVENT_MIN_DURATION 0
#define DEFAULT_EVENT_MIN_GAP 0
#define DEFAULT_EVENT_UNKNOWN_SIMILARITY -1.0f
#define DEFAULT_EVENT_ACTIVE_DB 10.0f
#define DEFAULT_BATCH_GROUP NULL
#define DEFAULT_MAX_BATCH 16
#define DEFAULT_BATCH_WAIT (10 * GST_MSECOND)

enum {
  PROP_0,
  PROP_MODEL_LOCATION,
  PROP_LABELS_LOCATION,
  PROP_LABELS,
  PROP_WINDOW_SIZE,
  PROP_HOP_SIZE,
  PROP_TOP_K,
  PROP_THRESHOLD,
  PROP_ATTACH_META,
  PROP_POST_MESSAGES,
  PROP_MESSAGE_EMBEDDING,
  PROP_MIN_RMS,
  PROP_EOS_MIN_FILL,
  PROP_MAX_LATENESS,
  PROP_WINDOWS_SKIPPED,
  PROP_EVENTS,
  PROP_EVENT_SMOOTHING,
  PROP_EVENT_MEDIAN_WINDOWS,
  PROP_EVENT_SMOOTHING_ALPHA,
  PROP_EVENT_ON_THRESHOLD,
  PROP_EVENT_OFF_THRESHOLD,
  PROP_EVENT_MIN_DURATION,
  PROP_EVENT_MIN_GAP,
  PROP_EVENT_UNKNOWN_SIMILARITY,
  PROP_EVENT_THRESHOLDS_LOCATION,
  PROP_EVENT_ACTIVE_DB,
  PROP_MIN_SIMILARITY,
  PROP_ALLOW_ENCODER_MISMATCH,
  PROP_BATCH_GROUP,
  PROP_MAX_BATCH,
  PROP_BATCH_WAIT,
};

#define GST_TYPE_CLAR_EMBED_EVENT_SMOOTHING (gst_clar_embed_event_smoothing_get_type ())
static GType
gst_clar_embed_event_smoothing_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { CLAR_EVENTS_SMOOTH_NONE, "No smoothing", "none" },
    { CLAR_EVENTS_SMOOTH_MEDIAN, "Median of event-median-windows windows, centred", "median" },
    { CLAR_EVENTS_SMOOTH_EXP, "Exponential, factor event-smoothing-alpha (causal)",
      "exponential" },
    { 0, NULL, NULL }
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstClarEmbedEventSmoothing", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

#define CAPS_STR \
  "audio/x-raw, format = (string) { F32LE, S16LE }, rate = (int) [ 1, MAX ], " \
  "channels = (int) 1, layout = (string) interleaved"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (CAPS_STR));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (CAPS_STR));

G_DEFINE_TYPE (GstClarEmbed, gst_clar_embed, GST_TYPE_AUDIO_FILTER);

static void gst_clar_embed_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec);
static void gst_clar_embed_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec);
static void gst_clar_embed_finalize (GObject *object);
static gboolean gst_clar_embed_start (GstBaseTransform *trans);
static gboolean gst_clar_embed_stop (GstBaseTransform *trans);
static GstCaps *gst_clar_embed_transform_caps (GstBaseTransform *trans,
    GstPadDirection direction, GstCaps *caps, GstCaps *filter);
static gboolean gst_clar_embed_sink_event (GstBaseTransform *trans, GstEvent *event);
static GstFlowReturn gst_clar_embed_transform_ip (GstBaseTransform *trans, GstBuffer *buf);
static gboolean gst_clar_embed_setup (GstAudioFilter *filter, const GstAudioInfo *info);
static void report_skipped_burst (GstClarEmbed *self);

/* Field names of the per-window message, interned once: a message is built
 * for every window, and gst_structure_new() would look each name up in
 * GLib's global quark table (a hash lookup under a lock) every time. */
enum {
  Q_NAME, Q_TIMESTAMP, Q_STREAM_TIME, Q_RUNNING_TIME, Q_DURATION, Q_WINDOW_INDEX,
  Q_RMS, Q_SILENT, Q_PADDED, Q_LABELS, Q_SCORES, Q_EMBEDDING, Q_SIMILARITIES,
  Q_MAX_SIMILARITY, Q_UNKNOWN, Q_BATCH_SIZE, Q_BATCH_WAIT, N_QUARKS
};
static GQuark msg_quarks[N_QUARKS];
static GQuark event_quark;
static GQuark window_event_quark;

static void
gst_clar_embed_class_init (GstClarEmbedClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstAudioFilterClass *filter_class = GST_AUDIO_FILTER_CLASS (klass);
  static const gchar *const msg_fields[N_QUARKS] = { "clarembed", "timestamp",
    "stream-time", "running-time", "duration", "window-index", "rms", "silent",
    "padded", "labels", "scores", "embedding", "similarities", "max-similarity", "unknown",
    "batch-size", "batch-wait" };

  for (int i = 0; i < N_QUARKS; i++)
    msg_quarks[i] = g_quark_from_static_string (msg_fields[i]);
  event_quark = g_quark_from_static_string ("clarembed-event");
  window_event_quark = g_quark_from_static_string ("clarembed-window");

  gobject_class->set_property = gst_clar_embed_set_property;
  gobject_class->get_property = gst_clar_embed_get_property;
  gobject_class->finalize = gst_clar_embed_finalize;

  g_object_class_install_property (gobject_class, PROP_MODEL_LOCATION,
      g_param_spec_string ("model-location", "Model location",
          "Model file (.safetensors). NULL: $CLAR_MODEL if set, else the installed "
          "default " CLAR_DEFAULT_MODEL ". Read when the element goes to PAUSED",
          DEFAULT_MODEL_LOCATION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_LABELS_LOCATION,
      g_param_spec_string ("labels-location", "Labels location",
          "Label set file (.safetensors with labels.embeddings) replacing the model's "
          "own labels, or a .txt file of text prompts (one per line, needs a model with "
          "a text tower); NULL: use the model's labels. Read when the element goes to PAUSED",
          DEFAULT_LABELS_LOCATION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_LABELS,
      g_param_spec_string ("labels", "Labels",
          "Zero-shot labels: text prompts separated by ';' (e.g. \"speech;flute;a dog "
          "barking\"), embedded by the model's text tower when the element goes to PAUSED; "
          "replaces the model's labels. NULL: none. Exclusive with labels-location",
          DEFAULT_LABELS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_WINDOW_SIZE,
      g_param_spec_uint64 ("window-size", "Window size",
          "Analysis window in nanoseconds (0 = the model's default, 1 s for the shipped "
          "model). Must cover at least the model's minimum; changes while PLAYING apply "
          "at once (the partial window is flushed)",
          0, MAX_WINDOW, DEFAULT_WINDOW_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_HOP_SIZE,
      g_param_spec_uint64 ("hop-size", "Hop size",
          "Time between window starts in nanoseconds (0 = the model's default, 0.5 s for "
          "the shipped model). May exceed window-size (audio between windows is skipped)",
          0, MAX_WINDOW, DEFAULT_HOP_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_TOP_K,
      g_param_spec_uint ("top-k", "Top k", "Number of best labels reported per window",
          0, MAX_TOP_K, DEFAULT_TOP_K,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_THRESHOLD,
      g_param_spec_float ("threshold", "Threshold",
          "Only labels whose softmax score is at or above this value (0..1) are reported",
          0.0f, 1.0f, DEFAULT_THRESHOLD,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_ATTACH_META,
      g_param_spec_boolean ("attach-meta", "Attach meta",
          "Attach a GstClarMeta to the buffer completing each window",
          DEFAULT_ATTACH_META,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post a \"clarembed\" element message on the bus for each window. An application "
          "that never pops the bus keeps every message (a few KB each with the embedding): "
          "set this FALSE if only the metas are read",
          DEFAULT_POST_MESSAGES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MESSAGE_EMBEDDING,
      g_param_spec_boolean ("message-embedding", "Embedding in messages",
          "Include the embedding vector in the bus messages (by default, so that bus-only "
          "applications get the whole result; FALSE makes each message a few hundred bytes)",
          DEFAULT_MESSAGE_EMBEDDING,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MIN_RMS,
      g_param_spec_double ("min-rms", "Minimum RMS",
          "Windows whose RMS (full scale = 1.0) is below this are reported as silent "
          "without running the encoder; 0 disables the check. The default, 1e-4 "
          "(-80 dBFS), is below every window the shipped model labels right in "
          "tools/open-set-study.py and above most decay tails, which it mislabels",
          0.0, 1.0, DEFAULT_MIN_RMS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_EOS_MIN_FILL,
      g_param_spec_double ("eos-min-fill", "EOS minimum fill",
          "A final partial window (at EOS, DISCONT or a caps change) is zero-padded and "
          "reported only if it holds at least this fraction of a window; 1.0 never flushes",
          0.0, 1.0, DEFAULT_EOS_MIN_FILL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MIN_SIMILARITY,
      g_param_spec_float ("min-similarity", "Minimum similarity",
          "Open set: a window whose best cosine similarity to any label is below this is "
          "reported as the single label \"unknown\" (score 1, similarity the best one; "
          "field unknown=TRUE); -1 never (README \"Open set\" has the measurement behind "
          "the default)",
          -1.0f, 1.0f, DEFAULT_MIN_SIMILARITY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_ALLOW_ENCODER_MISMATCH,
      g_param_spec_boolean ("allow-encoder-mismatch", "Allow encoder mismatch",
          "Use labels (label file, text tower or the model's head) that record another "
          "encoder's fingerprint anyway, with a warning; by default the element refuses "
          "to start (their scores would mean nothing)",
          DEFAULT_ALLOW_ENCODER_MISMATCH,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_BATCH_GROUP,
      g_param_spec_string ("batch-group", "Batch group",
          "Elements of this process with the same group name and model encode their "
          "windows together, in one encoder call per batch (NULL: alone). Read when the "
          "element starts", DEFAULT_BATCH_GROUP,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_MAX_BATCH,
      g_param_spec_uint ("max-batch", "Maximum batch",
          "Most windows per encoder call in the batch group (the value of the group's "
          "first element to start)", 1, CLAR_BATCHER_MAX_BATCH, DEFAULT_MAX_BATCH,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_BATCH_WAIT,
      g_param_spec_uint64 ("batch-wait", "Batch wait",
          "Longest time (ns) a window waits for others to join its batch; at most one "
          "hop is used. The latency batching may add", 0, 60 * GST_SECOND, DEFAULT_BATCH_WAIT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_MAX_LATENESS,
      g_param_spec_int64 ("max-lateness", "Maximum lateness",
          "Live sources only: a window whose end is already this many nanoseconds "
          "behind the pipeline clock (beyond the upstream latency) is skipped, not "
          "computed, so that a slow CPU never holds up the audio; -1 computes every window",
          -1, G_MAXINT64, DEFAULT_MAX_LATENESS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_WINDOWS_SKIPPED,
      g_param_spec_uint64 ("windows-skipped", "Windows skipped",
          "Windows not computed since the element started because a live stream ran "
          "late (see max-lateness)",
          0, G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_property (gobject_class, PROP_EVENTS,
      g_param_spec_boolean ("events", "Sound events",
          "Track sound events over windows (clar/events.h) and report each one's start and "
          "end as a \"clarembed-event\" element message and a custom downstream event",
          DEFAULT_EVENTS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_EVENT_SMOOTHING,
      g_param_spec_enum ("event-smoothing", "Event smoothing",
          "Smoothing of each label's window scores before the thresholds: a median of "
          "event-median-windows windows centred on each window (events come that many "
          "windows/2 later, with exact times), an exponential average, or none (the "
          "default: at a 0.5 s hop a median of 3 windows erases short sounds; with "
          "hop-size=250000000 median does better); an event-thresholds-location file's "
          "\"#% tracker: smoothing=...\" line sets it unless it is set explicitly",
          GST_TYPE_CLAR_EMBED_EVENT_SMOOTHING, DEFAULT_EVENT_SMOOTHING,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_EVENT_MEDIAN_WINDOWS,
      g_param_spec_uint ("event-median-windows", "Event median windows",
          "Windows in the median filter (event-smoothing=median); 1 = no smoothing; an "
          "event-thresholds-location file's \"smoothing=median:N\" sets it unless it is set "
          "explicitly",
          1, CLAR_EVENTS_MEDIAN_MAX, DEFAULT_EVENT_MEDIAN_WINDOWS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_EVENT_SMOOTHING_ALPHA,
      g_param_spec_float ("event-smoothing-alpha", "Event smoothing factor",
          "Weight of the newest window in the exponential average "
          "(event-smoothing=exponential); 1 = no smoothing; an event-thresholds-location "
          "file's \"smoothing=exp:ALPHA\" sets it unless it is set explicitly",
          0.001f, 1.0f, DEFAULT_EVENT_SMOOTHING_ALPHA,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_EVENT_ON_THRESHOLD,
      g_param_spec_float ("event-on-threshold", "Event on threshold",
          "An event of a label starts when its smoothed score (softmax, 0..1) reaches this",
          0.0f, 1.0f, DEFAULT_EVENT_ON_THRESHOLD,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_EVENT_OFF_THRESHOLD,
      g_param_spec_float ("event-off-threshold", "Event off threshold",
          "An event lasts while its smoothed score stays at or above this (hysteresis); "
          "must not exceed event-on-threshold",
          0.0f, 1.0f, DEFAULT_EVENT_OFF_THRESHOLD,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_EVENT_MIN_DURATION,
      g_param_spec_uint64 ("event-min-duration", "Event minimum duration",
          "Events shorter than this (ns) are dropped; an event's start is reported once "
          "it is this long; an event-thresholds-location file's \"min-duration-ns=N\" sets it "
          "unless it is set explicitly",
          0, (guint64) CLAR_EVENTS_TIME_MAX, DEFAULT_EVENT_MIN_DURATION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_EVENT_MIN_GAP,
      g_param_spec_uint64 ("event-min-gap", "Event minimum gap",
          "Two events of one label less than this apart (ns) are merged; an event's end "
          "is reported once this much time has passed without it; an "
          "event-thresholds-location file's \"min-gap-ns=N\" sets it unless it is set "
          "explicitly",
          0, (guint64) CLAR_EVENTS_TIME_MAX, DEFAULT_EVENT_MIN_GAP,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_EVENT_UNKNOWN_SIMILARITY,
      g_param_spec_float ("event-unknown-similarity", "Event unknown similarity",
          "Open set: a window whose highest cosine similarity to any label is below this "
          "counts for the \"unknown\" event track and for no label; -1 = min-similarity's "
          "value when the element starts (off by default)",
          -1.0f, 1.0f, DEFAULT_EVENT_UNKNOWN_SIMILARITY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_EVENT_THRESHOLDS_LOCATION,
      g_param_spec_string ("event-thresholds-location", "Event thresholds location",
          "Per-label thresholds: a text file of lines LABEL<TAB>ON[<TAB>OFF] ('#' starts "
          "a comment; \"unknown\" names the unknown track) overriding event-on-threshold "
          "and event-off-threshold for those labels; NULL: none. A line \"#% tracker: "
          "smoothing=median:3 min-gap-ns=0 min-duration-ns=0\" (any of the three) names the "
          "tracker options the thresholds were chosen with: they replace event-smoothing "
          "(event-median-windows, event-smoothing-alpha), event-min-gap and "
          "event-min-duration, except those set explicitly; lines \"#% label-tracker: "
          "LABEL smoothing=...\" (same keys) give one label options of its own, on the "
          "same rule",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_EVENT_ACTIVE_DB,
      g_param_spec_float ("event-active-db", "Event active span",
          "Sharper event boundaries: a window places its sound around its loudest 10 ms "
          "frame when that is more than this many dB above its background (10th-percentile "
          "frame energy), widened while frames stay above half that (and across gaps of up "
          "to 150 ms), within the middle hop of the window; 0 = the middle hop alone",
          0.0f, 200.0f, DEFAULT_EVENT_ACTIVE_DB,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Audio embeddings",
      "Filter/Analyzer/Audio",
      "Computes an L2-normalised embedding and the top labels of each window of mono "
      "audio (model sample rate; put audioconvert ! audioresample first) with a "
      "contrastively trained encoder. Attaches a GstClarMeta (clar/gstclarmeta.h) to the "
      "buffer completing each window and posts an element message \"clarembed\" with "
      "timestamp, stream-time, running-time, duration (guint64 ns), window-index (guint64), "
      "labels (array of strings), scores (array of floats), embedding (array of floats), "
      "rms (double), silent and padded (booleans); with events=true, a \"clarembed-event\" "
      "message and downstream event at the start and the end of each sound event",
      "gst-clar developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_clar_embed_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_clar_embed_stop);
  trans_class->transform_caps = GST_DEBUG_FUNCPTR (gst_clar_embed_transform_caps);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_clar_embed_sink_event);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_clar_embed_transform_ip);
  trans_class->passthrough_on_same_caps = FALSE;
  filter_class->setup = GST_DEBUG_FUNCPTR (gst_clar_embed_setup);

  GST_DEBUG_CATEGORY_INIT (clar_embed_debug, "clarembed", 0, "clarembed element");
}

static void
gst_clar_embed_init (GstClarEmbed *self)
{
  self->model_location = NULL;
  self->labels_location = NULL;
  self->window_size = DEFAULT_WINDOW_SIZE;
  self->hop_size = DEFAULT_HOP_SIZE;
  self->top_k = DEFAULT_TOP_K;
  self->threshold = DEFAULT_THRESHOLD;
  self->attach_meta = DEFAULT_ATTACH_META;
  self->post_messages = DEFAULT_POST_MESSAGES;
  self->message_embedding = DEFAULT_MESSAGE_EMBEDDING;
  self->min_rms = DEFAULT_MIN_RMS;
  self->eos_min_fill = DEFAULT_EOS_MIN_FILL;
  self->min_similarity = DEFAULT_MIN_SIMILARITY;
  self->allow_encoder_mismatch = DEFAULT_ALLOW_ENCODER_MISMATCH;
  self->max_lateness = DEFAULT_MAX_LATENESS;
  self->events = DEFAULT_EVENTS;
  self->event_smoothing = DEFAULT_EVENT_SMOOTHING;
  self->event_median_windows = DEFAULT_EVENT_MEDIAN_WINDOWS;
  self->event_smoothing_alpha = DEFAULT_EVENT_SMOOTHING_ALPHA;
  self->event_on_threshold = DEFAULT_EVENT_ON_THRESHOLD;
  self->event_off_threshold = DEFAULT_EVENT_OFF_THRESHOLD;
  self->event_min_duration = DEFAULT_EVENT_MIN_DURATION;
  self->event_min_gap = DEFAULT_EVENT_MIN_GAP;
  self->event_unknown_similarity = DEFAULT_EVENT_UNKNOWN_SIMILARITY;
  self->event_active_db = DEFAULT_EVENT_ACTIVE_DB;
  self->batch_group = g_strdup (DEFAULT_BATCH_GROUP);
  self->max_batch = DEFAULT_MAX_BATCH;
  self->batch_wait = DEFAULT_BATCH_WAIT;
  /* In place; passthrough only while no meta is attached (see set_property). */
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), !DEFAULT_ATTACH_META);
  gst_base_transform_set_gap_aware (GST_BASE_TRANSFORM (self), TRUE);
}

static void
gst_clar_embed_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstClarEmbed *self = GST_CLAR_EMBED (object);

  /* The model and the label set are loaded when the element starts; a new
   * value while it runs would be silently ignored (or, applied, swap the
   * label set under the windows in flight): refuse it, visibly. */
  if (prop_id == PROP_MODEL_LOCATION || prop_id == PROP_LABELS_LOCATION
      || prop_id == PROP_LABELS || prop_id == PROP_ALLOW_ENCODER_MISMATCH
      || prop_id == PROP_BATCH_GROUP || prop_id == PROP_MAX_BATCH
      || prop_id == PROP_BATCH_WAIT) {
    gboolean running;
    GST_OBJECT_LOCK (self);
    running = GST_STATE (self) > GST_STATE_READY || self->stream != NULL;
    GST_OBJECT_UNLOCK (self);
    if (running) {
      GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
          ("The %s property cannot change while the element is running; the new value "
              "is ignored.", pspec->name),
          ("set it in the NULL or READY state (it is read when the element starts)"));
      return;
    }
  }
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL_LOCATION:
      g_free (self->model_location);
      self->model_location = g_value_dup_string (value);
      break;
    case PROP_LABELS_LOCATION:
      g_free (self->labels_location);
      self->labels_location = g_value_dup_string (value);
      break;
    case PROP_LABELS:
      g_free (self->label_prompts);
      self->label_prompts = g_value_dup_string (value);
      break;
    case PROP_WINDOW_SIZE:
      self->window_size = g_value_get_uint64 (value);
      self->window_changed = TRUE;
      break;
    case PROP_HOP_SIZE:
      self->hop_size = g_value_get_uint64 (value);
      self->window_changed = TRUE;
      break;
    case PROP_TOP_K:
      self->top_k = g_value_get_uint (value);
      break;
    case PROP_THRESHOLD:
      self->threshold = g_value_get_float (value);
      break;
    case PROP_ATTACH_META:
      self->attach_meta = g_value_get_boolean (value);
      break;
    case PROP_POST_MESSAGES:
      self->post_messages = g_value_get_boolean (value);
      break;
    case PROP_MESSAGE_EMBEDDING:
      self->message_embedding = g_value_get_boolean (value);
      break;
    case PROP_MIN_RMS:
      self->min_rms = g_value_get_double (value);
      break;
    case PROP_EOS_MIN_FILL:
      self->eos_min_fill = g_value_get_double (value);
      break;
    case PROP_MIN_SIMILARITY:
      self->min_similarity = g_value_get_float (value);
      break;
    case PROP_ALLOW_ENCODER_MISMATCH:
      self->allow_encoder_mismatch = g_value_get_boolean (value);
      break;
    case PROP_BATCH_GROUP:
      g_free (self->batch_group);
      self->batch_group = g_value_dup_string (value);
      break;
    case PROP_MAX_BATCH:
      self->max_batch = g_value_get_uint (value);
      break;
    case PROP_BATCH_WAIT:
      self->batch_wait = g_value_get_uint64 (value);
      break;
    case PROP_MAX_LATENESS:
      self->max_lateness = g_value_get_int64 (value);
      break;
    case PROP_EVENTS:
      self->events = g_value_get_boolean (value);
      break;
    case PROP_EVENT_SMOOTHING:
      self->event_smoothing = g_value_get_enum (value);
      self->event_explicit |= CLAR_EVENTS_OPT_SMOOTHING;
      break;
    case PROP_EVENT_MEDIAN_WINDOWS:
      self->event_median_windows = g_value_get_uint (value);
      self->event_explicit |= CLAR_EVENTS_OPT_MEDIAN_WINDOWS;
      break;
    case PROP_EVENT_SMOOTHING_ALPHA:
      self->event_smoothing_alpha = g_value_get_float (value);
      self->event_explicit |= CLAR_EVENTS_OPT_EXP_ALPHA;
      break;
    case PROP_EVENT_ON_THRESHOLD:
      self->event_on_threshold = g_value_get_float (value);
      break;
    case PROP_EVENT_OFF_THRESHOLD:
      self->event_off_threshold = g_value_get_float (value);
      break;
    case PROP_EVENT_MIN_DURATION:
      self->event_min_duration = g_value_get_uint64 (value);
      self->event_explicit |= CLAR_EVENTS_OPT_MIN_DURATION;
      break;
    case PROP_EVENT_MIN_GAP:
      self->event_min_gap = g_value_get_uint64 (value);
      self->event_explicit |= CLAR_EVENTS_OPT_MIN_GAP;
      break;
    case PROP_EVENT_UNKNOWN_SIMILARITY:
      self->event_unknown_similarity = g_value_get_float (value);
      break;
    case PROP_EVENT_THRESHOLDS_LOCATION:
      g_free (self->event_thresholds_location);
      self->event_thresholds_location = g_value_dup_string (value);
      break;
    case PROP_EVENT_ACTIVE_DB:
      self->event_active_db = g_value_get_float (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
  if (prop_id == PROP_ATTACH_META)
    gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self),
        !g_value_get_boolean (value));
}

static void
gst_clar_embed_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstClarEmbed *self = GST_CLAR_EMBED (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL_LOCATION:
      g_value_set_string (value, self->model_location);
      break;
    case PROP_LABELS_LOCATION:
      g_value_set_string (value, self->labels_location);
      break;
    case PROP_LABELS:
      g_value_set_string (value, self->label_prompts);
      break;
    case PROP_WINDOW_SIZE:
      g_value_set_uint64 (value, self->window_size);
      break;
    case PROP_HOP_SIZE:
      g_value_set_uint64 (value, self->hop_size);
      break;
    case PROP_TOP_K:
      g_value_set_uint (value, self->top_k);
      break;
    case PROP_THRESHOLD:
      g_value_set_float (value, self->threshold);
      break;
    case PROP_ATTACH_META:
      g_value_set_boolean (value, self->attach_meta);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->post_messages);
      break;
    case PROP_MESSAGE_EMBEDDING:
      g_value_set_boolean (value, self->message_embedding);
      break;
    case PROP_MIN_RMS:
      g_value_set_double (value, self->min_rms);
      break;
    case PROP_EOS_MIN_FILL:
      g_value_set_double (value, self->eos_min_fill);
      break;
    case PROP_MIN_SIMILARITY:
      g_value_set_float (value, self->min_similarity);
      break;
    case PROP_ALLOW_ENCODER_MISMATCH:
      g_value_set_boolean (value, self->allow_encoder_mismatch);
      break;
    case PROP_MAX_LATENESS:
      g_value_set_int64 (value, self->max_lateness);
      break;
    case PROP_BATCH_GROUP:
      g_value_set_string (value, self->batch_group);
      break;
    case PROP_MAX_BATCH:
      g_value_set_uint (value, self->max_batch);
      break;
    case PROP_BATCH_WAIT:
      g_value_set_uint64 (value, self->batch_wait);
      break;
    case PROP_WINDOWS_SKIPPED:
      g_value_set_uint64 (value, self->windows_skipped);
      break;
    case PROP_EVENTS:
      g_value_set_boolean (value, self->events);
      break;
    case PROP_EVENT_SMOOTHING:
      g_value_set_enum (value, self->event_smoothing);
      break;
    case PROP_EVENT_MEDIAN_WINDOWS:
      g_value_set_uint (value, self->event_median_windows);
      break;
    case PROP_EVENT_SMOOTHING_ALPHA:
      g_value_set_float (value, self->event_smoothing_alpha);
      break;
    case PROP_EVENT_ON_THRESHOLD:
      g_value_set_float (value, self->event_on_threshold);
      break;
    case PROP_EVENT_OFF_THRESHOLD:
      g_value_set_float (value, self->event_off_threshold);
      break;
    case PROP_EVENT_MIN_DURATION:
      g_value_set_uint64 (value, self->event_min_duration);
      break;
    case PROP_EVENT_MIN_GAP:
      g_value_set_uint64 (value, self->event_min_gap);
      break;
    case PROP_EVENT_UNKNOWN_SIMILARITY:
      g_value_set_float (value, self->event_unknown_similarity);
      break;
    case PROP_EVENT_THRESHOLDS_LOCATION:
      g_value_set_string (value, self->event_thresholds_location);
      break;
    case PROP_EVENT_ACTIVE_DB:
      g_value_set_float (value, self->event_active_db);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* Batch groups of the process: one clar_batcher per (group name, model),
 * living while an element uses it. */
typedef struct {
  clar_batcher *batcher;
  guint users;
} BatchGroup;

static GMutex batch_groups_lock;
static GHashTable *batch_groups;    /* "model pointer/name" -> BatchGroup */

static gchar *
batch_group_key (clar_model *model, const gchar *name)
{
  return g_strdup_printf ("%p/%s", (void *) model, name);
}

static clar_batcher *
batch_group_acquire (clar_model *model, const gchar *name, guint max_batch, clar_error *err)
{
  gchar *key = batch_group_key (model, name);
  BatchGroup *g;
  clar_batcher *b = NULL;
  g_mutex_lock (&batch_groups_lock);
  if (!batch_groups)
    batch_groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g = g_hash_table_lookup (batch_groups, key);
  if (!g && (b = clar_batcher_new (model, max_batch, err))) {
    g = g_new0 (BatchGroup, 1);
    g->batcher = b;
    g_hash_table_insert (batch_groups, key, g);
    key = NULL;
  }
  if (g) {
    g->users++;
    b = g->batcher;
  }
  g_mutex_unlock (&batch_groups_lock);
  g_free (key);
  return b;
}

static void
batch_group_release (clar_batcher *b, const gchar *name)
{
  gchar *key;
  BatchGroup *g;
  if (!b)
    return;
  key = batch_group_key (clar_batcher_get_model (b), name);
  g_mutex_lock (&batch_groups_lock);
  g = batch_groups ? g_hash_table_lookup (batch_groups, key) : NULL;
  if (g && g->batcher == b && --g->users == 0) {
    g_hash_table_remove (batch_groups, key);
    clar_batcher_unref (b);
  }
  g_mutex_unlock (&batch_groups_lock);
  g_free (key);
}

static void
free_stream_state (GstClarEmbed *self)
{
  clar_stream_free (self->stream);   /* leaves its batcher */
  self->stream = NULL;
  if (self->batcher) {
    gchar *name;
    GST_OBJECT_LOCK (self);
    name = g_strdup (self->batch_group);
    GST_OBJECT_UNLOCK (self);
    batch_group_release (self->batcher, name ? name : "");
    g_free (name);
    self->batcher = NULL;
  }
  clar_labels_unref (self->labels);
  self->labels = NULL;
  gst_clar_model_cache_release (self->model);
  self->model = NULL;
  self->info = NULL;
}

static void
gst_clar_embed_finalize (GObject *object)
{
  GstClarEmbed *self = GST_CLAR_EMBED (object);
  free_stream_state (self);
  g_free (self->model_location);
  g_free (self->labels_location);
  g_free (self->label_prompts);
  g_free (self->event_thresholds_location);
  g_free (self->batch_group);
  G_OBJECT_CLASS (gst_clar_embed_parent_class)->finalize (object);
}

static void drain_events (GstClarEmbed *self);

/* Forgets the window in progress and the timestamp base. Events in
 * progress end (reported with the old base). */
static void
reset_windowing (GstClarEmbed *self)
{
  clar_stream_reset (self->stream);
  drain_events (self);
  self->have_base = FALSE;
  self->base_ts = GST_CLOCK_TIME_NONE;
}

/* Zero-shot labels from the "labels" prompts or a .txt prompt file, through
 * the model's text tower (clar/text.h); posts the element error itself. */
static clar_labels *
load_prompt_labels (GstClarEmbed *self, const gchar *prompts, const gchar *path)
{
  char **list = NULL;
  size_t n = 0;
  clar_error err = { 0 };
  clar_labels *l = NULL;
  int rc;

  if (!clar_model_get_text (self->model)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Text prompts need a model with a text tower."),
        ("labels%s%s: the model \"%s\" has no clar.text.* tower; use a label file or "
            "a model trained with clar-train --clap", prompts ? "" : "-location ",
            prompts ? "" : path, self->info->name));
    return NULL;
  }
  if (prompts)
    rc = clar_text_split_prompts (prompts, ";", &list, &n);
  else
    rc = clar_text_read_prompts (path, &list, &n, &err);
  if (rc != CLAR_OK || n == 0) {
    if (prompts)
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Could not read the label prompts."),
          ("%s", rc == CLAR_OK ? "the labels property holds no prompt"
              : rc == CLAR_ERR_INVALID_ARGUMENT ? "the labels property is not valid UTF-8, "
              "or holds more prompts than a label set may have" : clar_strerror (rc)));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Could not read the label prompts."),
          ("%s", err.message));
    clar_text_prompts_free (list);
    return NULL;
  }
  l = clar_labels_from_prompts (self->model, n, (const char *const *) list, &err);
  if (!l)
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Could not embed the label prompts."),
        ("%s", err.message));
  else
    GST_INFO_OBJECT (self, "%zu zero-shot labels from text prompts", n);
  clar_text_prompts_free (list);
  return l;
}

/* Posts the element error for a thresholds file that cannot be read or
 * holds something wrong. */
static void
post_thresholds_error (GstClarEmbed *self, const gchar *path, const clar_error *err)
{
  if (err->code == CLAR_ERR_IO)
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not read the event thresholds \"%s\".", path), ("%s", err->message));
  else
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Invalid event thresholds in \"%s\".", path), ("%s", err->message));
}

/* " event-smoothing=median event-median-windows=3 ...": the properties of
 * the tracker options in mask (clar_events_option) with p's values. */
static void
append_event_options (GString *s, unsigned mask, const clar_events_params *p)
{
  if (mask & CLAR_EVENTS_OPT_SMOOTHING) {
    GEnumClass *ec = g_type_class_ref (GST_TYPE_CLAR_EMBED_EVENT_SMOOTHING);
    GEnumValue *v = g_enum_get_value (ec, (gint) p->smoothing);
    g_string_append_printf (s, " event-smoothing=%s", v ? v->value_nick : "?");
    g_type_class_unref (ec);
  }
  if (mask & CLAR_EVENTS_OPT_MEDIAN_WINDOWS)
    g_string_append_printf (s, " event-median-windows=%u", p->median_windows);
  if (mask & CLAR_EVENTS_OPT_EXP_ALPHA)
    g_string_append_printf (s, " event-smoothing-alpha=%g", (double) p->exp_alpha);
  if (mask & CLAR_EVENTS_OPT_MIN_GAP)
    g_string_append_printf (s, " event-min-gap=%" G_GINT64_FORMAT, (gint64) p->min_gap_ns);
  if (mask & CLAR_EVENTS_OPT_MIN_DURATION)
    g_string_append_printf (s, " event-min-duration=%" G_GINT64_FORMAT,
        (gint64) p->min_duration_ns);
}

/* Logs at INFO the labels whose options (from "#% label-tracker:" lines)
 * differ from the tracker's. */
static void
log_label_options (GstClarEmbed *self, clar_events *t, const gchar *path,
                   const clar_events_params *p)
{
  GString *s = NULL;
  size_t n = clar_events_n_labels (t);
  for (size_t k = 0; k <= n; k++) {
    size_t label = k < n ? k : CLAR_EVENTS_UNKNOWN;
    clar_events_label_options o;
    clar_events_params q = *p;
    unsigned diff = 0;
    if (clar_events_get_label_options (t, label, &o) != CLAR_OK)
      continue;
    diff |= o.smoothing != p->smoothing ? CLAR_EVENTS_OPT_SMOOTHING : 0;
    diff |= o.median_windows != p->median_windows ? CLAR_EVENTS_OPT_MEDIAN_WINDOWS : 0;
    diff |= o.exp_alpha != p->exp_alpha ? CLAR_EVENTS_OPT_EXP_ALPHA : 0;
    diff |= o.min_gap_ns != p->min_gap_ns ? CLAR_EVENTS_OPT_MIN_GAP : 0;
    diff |= o.min_duration_ns != p->min_duration_ns ? CLAR_EVENTS_OPT_MIN_DURATION : 0;
    if (!diff)
      continue;
    q.smoothing = o.smoothing;
    q.median_windows = o.median_windows;
    q.exp_alpha = o.exp_alpha;
    q.min_gap_ns = o.min_gap_ns;
    q.min_duration_ns = o.min_duration_ns;
    if (!s)
      s = g_string_new (NULL);
    g_string_append_printf (s, "%s%s:", s->len ? ";" : "",
        k < n ? clar_labels_name (self->labels, k) : clar_events_get_params (t)->unknown_name);
    append_event_options (s, diff, &q);
  }
  if (s) {
    GST_INFO_OBJECT (self, "event tracker options per label from \"%s\": %s", path, s->str);
    g_string_free (s, TRUE);
  }
}

/* The sound-event tracker from the event-* properties, owned by the stream
 * (clar_stream_set_events); posts the element error itself. The tracker
 * options a thresholds file names ("#% tracker:" and, per label,
 * "#% label-tracker:", clar/events.h) apply unless the property was set
 * explicitly: its thresholds were chosen with them, and would be wrong on
 * scores smoothed another way. */
static gboolean
setup_events (GstClarEmbed *self)
{
  clar_events_params p;
  clar_events *t;
  clar_error err = { 0 };
  gchar *path;
  const char **names;
  size_t n;
  gboolean on;
  guint explicit_set, named = 0;

  clar_events_params_init (&p);
  GST_OBJECT_LOCK (self);
  on = self->events;
  p.smoothing = (clar_events_smoothing) self->event_smoothing;
  p.median_windows = self->event_median_windows;
  p.exp_alpha = self->event_smoothing_alpha;
  p.on_threshold = self->event_on_threshold;
  p.off_threshold = self->event_off_threshold;
  p.min_duration_ns = (int64_t) self->event_min_duration;
  p.min_gap_ns = (int64_t) self->event_min_gap;
  /* -1 follows the per-window open-set test, so that one setting gives
   * "unknown" windows and "unknown" events. */
  p.unknown_similarity = self->event_unknown_similarity > -1.0f ?
      self->event_unknown_similarity : self->min_similarity;
  p.active_db = self->event_active_db;
  path = g_strdup (self->event_thresholds_location);
  explicit_set = self->event_explicit;
  GST_OBJECT_UNLOCK (self);
  if (!on || !self->labels) {
    if (on)
      GST_INFO_OBJECT (self, "no labels: no sound events");
    g_free (path);
    return TRUE;
  }
  if (path) {
    if (clar_events_load_tracker_options (path, explicit_set, &p, &named, &err) != CLAR_OK) {
      post_thresholds_error (self, path, &err);
      g_free (path);
      return FALSE;
    }
    if (named) {
      GString *s = g_string_new (NULL);
      g_string_append_printf (s, "event tracker options from \"%s\":", path);
      append_event_options (s, named & ~explicit_set, &p);
      if (named & explicit_set) {
        g_string_append (s, "; set explicitly, so not from the file:");
        append_event_options (s, named & explicit_set, &p);
      }
      GST_INFO_OBJECT (self, "%s", s->str);
      g_string_free (s, TRUE);
    }
  }
  n = clar_labels_count (self->labels);
  names = g_new (const char *, n);
  for (size_t i = 0; i < n; i++)
    names[i] = clar_labels_name (self->labels, i);
  t = clar_events_new (n, names, &p, &err);
  g_free (names);
  if (!t) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Invalid sound-event settings."),
        ("%s", err.message));
    g_free (path);
    return FALSE;
  }
  /* The file's options per label, with the same explicit-set mask as its
   * tracker line (what the application set wins for every label). */
  if (path && (clar_events_load_thresholds (t, path, &err) != CLAR_OK
          || clar_events_load_label_options (t, path, explicit_set, &err) != CLAR_OK)) {
    post_thresholds_error (self, path, &err);
    clar_events_free (t);
    g_free (path);
    return FALSE;
  }
  if (path)
    log_label_options (self, t, path, &p);
  g_free (path);
  if (clar_stream_set_events (self->stream, t) != CLAR_OK) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Could not set up sound events."), (NULL));
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_clar_embed_start (GstBaseTransform *trans)
{
  GstClarEmbed *self = GST_CLAR_EMBED (trans);
  gchar *model_path, *labels_path, *prompts;
  clar_error err = { 0 };
  const gchar *env;

  GST_OBJECT_LOCK (self);
  model_path = g_strdup (self->model_location);
  labels_path = g_strdup (self->labels_location);
  prompts = g_strdup (self->label_prompts);
  GST_OBJECT_UNLOCK (self);
  if (!model_path) {
    env = g_getenv ("CLAR_MODEL");
    model_path = g_strdup (env && *env ? env : CLAR_DEFAULT_MODEL);
  }

  /* Streams are the parallelism: the BLAS computes on the streaming
   * thread (CLAR_BLAS_THREADS=N overrides; see clar/runtime.h). */
  clar_blas_default_threads ();
  self->model = gst_clar_model_cache_acquire (model_path, &err);
  if (!self->model) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not load the clar model \"%s\".", model_path),
        ("%s (%s)", err.message, clar_strerror (err.code)));
    goto fail;
  }
  self->info = clar_model_get_info (self->model);
  self->stream = clar_stream_new (self->model, NULL, &err);
  if (!self->stream) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Could not start a clar session."),
        ("%s", err.message));
    goto fail;
  }
  {
    gchar *group;
    guint max_batch;
    guint64 wait;
    GST_OBJECT_LOCK (self);
    group = g_strdup (self->batch_group);
    max_batch = self->max_batch;
    wait = self->batch_wait;
    GST_OBJECT_UNLOCK (self);
    if (group && *group) {
      self->batcher = batch_group_acquire (self->model, group, max_batch, &err);
      if (!self->batcher || clar_stream_set_batcher (self->stream, self->batcher, wait)
          != CLAR_OK) {
        GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Could not join batch group \"%s\".", group),
            ("%s", self->batcher ? "the group's model differs" : err.message));
        g_free (group);
        goto fail;
      }
      GST_INFO_OBJECT (self, "batch group %s: at most %zu windows per encoder call, wait %"
          GST_TIME_FORMAT, group, clar_batcher_max_batch (self->batcher), GST_TIME_ARGS (wait));
    }
    g_free (group);
  }
  if (labels_path && prompts) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Set either labels or labels-location, not both."), (NULL));
    goto fail;
  }
  if (prompts || (labels_path && g_str_has_suffix (labels_path, ".txt"))) {
    self->labels = load_prompt_labels (self, prompts, labels_path);
    if (!self->labels)
      goto fail;
  } else if (labels_path) {
    self->labels = clar_labels_load_file (labels_path, &err);
    if (!self->labels) {
      /* A prompt file not named .txt reaches the safetensors parser. */
      gboolean not_st = err.code == CLAR_ERR_BAD_HEADER || err.code == CLAR_ERR_TRUNCATED;
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
          ("Could not load the label set \"%s\".", labels_path), ("%s%s", err.message,
              not_st ? "; labels-location reads text prompts only from a file whose "
              "name ends in .txt (rename it if it is a prompt file)" : ""));
      goto fail;
    }
    if (clar_labels_dim (self->labels) != self->info->embedding_dim) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("The label set \"%s\" does not fit the model.", labels_path),
          ("label vectors have %zu dimensions, the model's embeddings %zu",
              clar_labels_dim (self->labels), self->info->embedding_dim));
      goto fail;
    }
  } else if (clar_model_get_labels (self->model)) {
    self->labels = clar_labels_ref (clar_model_get_labels (self->model));
  } else {
    GST_INFO_OBJECT (self, "model has no labels; reporting embeddings only");
  }
  if (self->labels) {
    /* Labels made with another encoder score nothing meaningful (model.h
     * "Encoder fingerprint"). */
    gboolean allow;
    const gchar *what = prompts || labels_path ? (prompts ? "labels (text tower)" : labels_path)
        : "the model's head";
    int rc = clar_model_check_labels (self->model, self->labels, &err);
    GST_OBJECT_LOCK (self);
    allow = self->allow_encoder_mismatch;
    GST_OBJECT_UNLOCK (self);
    if (rc == CLAR_ERR_ENCODER_MISMATCH && !allow) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("The labels were made with another encoder than the model's."),
          ("%s: %s; allow-encoder-mismatch=true uses them anyway", what, err.message));
      goto fail;
    } else if (rc == CLAR_ERR_ENCODER_MISMATCH) {
      GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
          ("The labels were made with another encoder than the model's."),
          ("%s: %s (allow-encoder-mismatch is set)", what, err.message));
    } else if (rc == CLAR_LABELS_UNTIED && (prompts || labels_path)) {
      GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
          ("The labels record no encoder fingerprint; they cannot be checked against the "
              "model."), ("%s: %s", what, err.message));
    } else if (rc == CLAR_LABELS_UNTIED) {
      GST_WARNING_OBJECT (self, "%s: %s", what, err.message);
    } else if (rc != CLAR_OK) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("The labels do not fit the model."), ("%s: %s", what, err.message));
      goto fail;
    }
  }
  clar_stream_set_labels (self->stream, self->labels);
  if (!setup_events (self))
    goto fail;
  {
    /* Only a BLAS fallback that the encoder actually runs on matters here. */
    char msg[512];
    if (clar_blas_warning (msg, sizeof msg) && !strcmp (clar_encoder_kernel (), "blas"))
      GST_WARNING_OBJECT (self, "%s", msg);
    GST_INFO_OBJECT (self, "encoder kernel: %s", clar_encoder_kernel ());
  }
  GST_INFO_OBJECT (self, "model %s: %s, %zu-d embeddings, %zu labels", model_path,
      self->info->name, self->info->embedding_dim,
      self->labels ? clar_labels_count (self->labels) : (size_t) 0);
  reset_windowing (self);
  self->windows_nonfinite = 0;
  self->windows_reported = self->samples_in = 0;
  GST_OBJECT_LOCK (self);
  self->windows_skipped = 0;
  GST_OBJECT_UNLOCK (self);
  self->windows_processed = self->burst_skipped = 0;
  self->live_checked = self->is_live = self->warned_late = FALSE;
  self->upstream_latency = 0;
#ifdef CLAR_TEST_HOOKS
  env = g_getenv ("CLAR_TEST_SLOW_US");
  self->test_slow_us = env ? (gulong) g_ascii_strtoull (env, NULL, 10) : 0;
#endif
  g_atomic_int_set (&self->warned_caps, 0);
  g_free (model_path);
  g_free (labels_path);
  g_free (prompts);
  return TRUE;

fail:
  free_stream_state (self);
  g_free (model_path);
  g_free (labels_path);
  g_free (prompts);
  return FALSE;
}

static gboolean
gst_clar_embed_stop (GstBaseTransform *trans)
{
  GstClarEmbed *self = GST_CLAR_EMBED (trans);
  if (self->windows_nonfinite)
    GST_WARNING_OBJECT (self, "%" G_GUINT64_FORMAT " windows skipped for NaN/Inf samples",
        self->windows_nonfinite);
  free_stream_state (self);
  return TRUE;
}

/* Once the model is known, only its sample rate is accepted, so that an
 * upstream audioresample converts to it. */
static GstCaps *
gst_clar_embed_transform_caps (GstBaseTransform *trans, GstPadDirection direction,
    GstCaps *caps, GstCaps *filter)
{
  GstClarEmbed *self = GST_CLAR_EMBED (trans);
  GstCaps *res = gst_caps_copy (caps);

  if (self->info) {
    for (guint i = 0; i < gst_caps_get_size (res); i++)
      gst_structure_set (gst_caps_get_structure (res, i), "rate", G_TYPE_INT,
          self->info->mel.sample_rate, NULL);
    {
      GstCaps *tmpl = gst_static_caps_get (&sink_template.static_caps);
      GstCaps *x = gst_caps_intersect (res, tmpl);
      gst_caps_unref (res);
      gst_caps_unref (tmpl);
      res = x;
    }
  }
  if (filter) {
    GstCaps *x = gst_caps_intersect_full (filter, res, GST_CAPS_INTERSECT_FIRST);
    /* Upstream offers only rates/channels we cannot take. The source will
     * report "not-negotiated"; say why in the debug log (a bus message from
     * inside a caps query races with the source's own error). */
    if (gst_caps_is_empty (x) && !gst_caps_is_empty (res) && self->info
        && !g_atomic_int_get (&self->warned_caps)) {
      g_atomic_int_set (&self->warned_caps, 1);
      GST_WARNING_OBJECT (self, "clarembed needs mono audio at %d Hz (put audioconvert ! "
          "audioresample before it); upstream offers %" GST_PTR_FORMAT,
          self->info->mel.sample_rate, filter);
    }
    gst_caps_unref (res);
    res = x;
  }
  return res;
}

/* Windows are (re)sized from the properties and the stream's rate. */
static gboolean
configure_windows (GstClarEmbed *self)
{
  guint64 wns, hns, ws, hs;

  GST_OBJECT_LOCK (self);
  wns = self->window_size;
  hns = self->hop_size;
  self->window_changed = FALSE;
  GST_OBJECT_UNLOCK (self);

  ws = wns ? gst_util_uint64_scale_round (wns, self->rate, GST_SECOND) : self->info->window_samples;
  hs = hns ? gst_util_uint64_scale_round (hns, self->rate, GST_SECOND) : self->info->hop_samples;
  if (ws < self->info->min_samples) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("window-size is too short for this model."),
        ("window of %" G_GUINT64_FORMAT " samples; the model needs at least %zu (%.3f s)",
            ws, self->info->min_samples, (double) self->info->min_samples / self->rate));
    return FALSE;
  }
  if (hs < 1) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("hop-size is shorter than one sample."), (NULL));
    return FALSE;
  }
  {
    clar_error err = { 0 };
    if (clar_stream_set_window (self->stream, (size_t) ws, (size_t) hs, &err) != CLAR_OK) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Invalid window-size or hop-size."),
          ("%s", err.message));
      return FALSE;
    }
  }
  GST_INFO_OBJECT (self, "window %" G_GUINT64_FORMAT " samples, hop %" G_GUINT64_FORMAT,
      ws, hs);
  return TRUE;
}

static gboolean
gst_clar_embed_setup (GstAudioFilter *filter, const GstAudioInfo *info)
{
  GstClarEmbed *self = GST_CLAR_EMBED (filter);

  if (!self->info)
    return FALSE;
  if (GST_AUDIO_INFO_RATE (info) != self->info->mel.sample_rate
      || GST_AUDIO_INFO_CHANNELS (info) != 1) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("clarembed needs mono audio at %d Hz; put audioconvert ! audioresample before it.",
            self->info->mel.sample_rate),
        ("got %d channel(s) at %d Hz", GST_AUDIO_INFO_CHANNELS (info),
            GST_AUDIO_INFO_RATE (info)));
    return FALSE;
  }
  self->rate = GST_AUDIO_INFO_RATE (info);
  self->is_s16 = GST_AUDIO_INFO_FORMAT (info) == GST_AUDIO_FORMAT_S16LE;
  /* A caps change restarts windowing (the partial window was flushed by the
   * CAPS event handler). */
  reset_windowing (self);
  return configure_windows (self);
}


/* tmpl: a GValue already initialised to G_TYPE_FLOAT. Copying it is what
 * g_value_init would do for a fundamental type without a reference to
 * hold, minus two type-table lookups per value. With the interned field
 * names this took building a message with a 128-float embedding from about
 * 6.7 to 4.7 us (a GstBus micro-benchmark, 2026-11-30). */
static inline void
append_float (GValue *arr, const GValue *tmpl, gfloat f)
{
  GValue v = *tmpl;
  g_value_set_float (&v, f);
  gst_value_array_append_and_take_value (arr, &v);
}

static void
append_string (GValue *arr, const gchar *s)
{
  GValue v = G_VALUE_INIT;
  g_value_init (&v, G_TYPE_STRING);
  g_value_set_string (&v, s);
  gst_value_array_append_and_take_value (arr, &v);
}

/* The per-window options, read under the object lock, handed to the
 * stream before it computes or flushes a window. */
static void
sync_stream_options (GstClarEmbed *self)
{
  gdouble min_fill, min_rms;
  gfloat min_similarity;
  guint top_k;
  gfloat threshold;

  GST_OBJECT_LOCK (self);
  min_fill = self->eos_min_fill;
  min_similarity = self->min_similarity;
  min_rms = self->min_rms;
  top_k = self->top_k;
  threshold = self->threshold;
  GST_OBJECT_UNLOCK (self);
  clar_stream_set_options (self->stream, min_fill, min_rms, top_k, threshold);
  clar_stream_set_min_similarity (self->stream, min_similarity);
}

/* Reports one window the stream computed (rc its status). buf (nullable) is
 * the buffer that completes it. */
static void
report_window (GstClarEmbed *self, GstBuffer *buf, const clar_window_result *r, int rc)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstClockTime ts, dur;
  gboolean attach, post, with_emb, silent = r->silent != 0, unknown = r->unknown != 0;
  gint n_top = r->n_top;
  const GQuark *q = msg_quarks;

  GST_OBJECT_LOCK (self);
  attach = self->attach_meta;
  post = self->post_messages;
  with_emb = self->message_embedding;
  GST_OBJECT_UNLOCK (self);

  ts = self->base_ts + gst_util_uint64_scale (r->start, GST_SECOND, self->rate);
  dur = gst_util_uint64_scale (r->n_samples, GST_SECOND, self->rate);

  if (rc == CLAR_ERR_NONFINITE) {
    self->windows_nonfinite++;
    GST_WARNING_OBJECT (self, "window at %" GST_TIME_FORMAT " holds NaN/Inf samples: skipped "
        "(%" G_GUINT64_FORMAT " so far)", GST_TIME_ARGS (ts), self->windows_nonfinite);
    return;
  }
  if (rc != CLAR_OK) {
    GST_WARNING_OBJECT (self, "window at %" GST_TIME_FORMAT " skipped: %s",
        GST_TIME_ARGS (ts), clar_strerror (rc));
    return;
  }
  GST_LOG_OBJECT (self, "window %" G_GUINT64_FORMAT " at %" GST_TIME_FORMAT
      " (%zu valid samples)", r->index, GST_TIME_ARGS (ts), r->valid);

  {
    /* The labels reported: the top-k, or the single "unknown" of the open-set
     * rule (min-similarity). */
    GstClarLabel *labels = g_newa (GstClarLabel, n_top > 0 ? n_top : 1);
    guint n_labels = 0;
    if (unknown) {
      labels[0].index = G_MAXUINT;
      labels[0].name = (gchar *) "unknown";
      labels[0].score = 1.0f;
      labels[0].similarity = r->max_similarity;
      n_labels = 1;
    } else {
      for (gint i = 0; i < n_top; i++) {
        labels[i].index = (guint) r->top[i].index;
        labels[i].name = (gchar *) clar_labels_name (self->labels, r->top[i].index);
        labels[i].score = r->top[i].score;
        labels[i].similarity = r->top[i].similarity;
      }
      n_labels = (guint) n_top;
    }
    if (attach && buf && !silent) {
      gst_buffer_add_clar_meta (buf, ts, dur, r->index, r->embedding,
          (guint) r->embedding_dim, labels, n_labels);
    } else if (attach && !silent) {
      /* A flushed partial window has no buffer of its own (its audio has
       * gone downstream already): its result follows that audio as a
       * serialized custom event, before EOS or the next segment
       * (clar/gstclarmeta.h "The final padded window"). */
      GstStructure *ws = gst_clar_meta_structure_new (ts, dur, r->index, r->embedding,
          (guint) r->embedding_dim, labels, n_labels);
      gst_structure_set_name (ws, "clarembed-window");
      gst_structure_id_set (ws, q[Q_PADDED], G_TYPE_BOOLEAN, r->padded != 0, NULL);
      gst_pad_push_event (trans->srcpad,
          gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, ws));
    }
    if (post) {
      GstSegment *seg = &trans->segment;
      GValue names = G_VALUE_INIT, scores = G_VALUE_INIT, sims = G_VALUE_INIT;
      GValue emb = G_VALUE_INIT, fv = G_VALUE_INIT;
      GstStructure *s;
      guint64 stream_time = gst_segment_to_stream_time (seg, GST_FORMAT_TIME, ts);
      guint64 running_time = gst_segment_to_running_time (seg, GST_FORMAT_TIME, ts);

      s = gst_structure_new_id (q[Q_NAME],
          q[Q_TIMESTAMP], G_TYPE_UINT64, ts,
          q[Q_STREAM_TIME], G_TYPE_UINT64, stream_time,
          q[Q_RUNNING_TIME], G_TYPE_UINT64, running_time,
          q[Q_DURATION], G_TYPE_UINT64, dur,
          q[Q_WINDOW_INDEX], G_TYPE_UINT64, r->index,
          q[Q_RMS], G_TYPE_DOUBLE, r->rms,
          q[Q_SILENT], G_TYPE_BOOLEAN, silent,
          q[Q_PADDED], G_TYPE_BOOLEAN, r->padded != 0,
          q[Q_UNKNOWN], G_TYPE_BOOLEAN, unknown, NULL);
      if (self->batcher && r->batch_size > 0)
        gst_structure_id_set (s, q[Q_BATCH_SIZE], G_TYPE_UINT, (guint) r->batch_size,
            q[Q_BATCH_WAIT], G_TYPE_UINT64, (guint64) r->batch_wait_ns, NULL);
      if (!isnan (r->max_similarity))
        gst_structure_id_set (s, q[Q_MAX_SIMILARITY], G_TYPE_FLOAT, r->max_similarity, NULL);
      g_value_init (&fv, G_TYPE_FLOAT);
      /* Empty arrays are left out: GStreamer serialises an empty array
       * as "(int)< >", whatever it would hold. */
      if (n_labels > 0) {
        g_value_init (&names, GST_TYPE_ARRAY);
        g_value_init (&scores, GST_TYPE_ARRAY);
        g_value_init (&sims, GST_TYPE_ARRAY);
        for (guint i = 0; i < n_labels; i++) {
          append_string (&names, labels[i].name);
          append_float (&scores, &fv, labels[i].score);
          append_float (&sims, &fv, labels[i].similarity);
        }
        gst_structure_id_take_value (s, q[Q_LABELS], &names);
        gst_structure_id_take_value (s, q[Q_SCORES], &scores);
        gst_structure_id_take_value (s, q[Q_SIMILARITIES], &sims);
      }
      if (with_emb && !silent) {
        /* Preallocated: one allocation instead of log2(dim) regrowths. */
        gst_value_array_init (&emb, (guint) r->embedding_dim);
        for (size_t i = 0; i < r->embedding_dim; i++)
          append_float (&emb, &fv, r->embedding[i]);
        gst_structure_id_take_value (s, q[Q_EMBEDDING], &emb);
      }
      /* No lock is held here (posting may run synchronous bus handlers). */
      gst_element_post_message (GST_ELEMENT (self),
          gst_message_new_element (GST_OBJECT (self), s));
    }
  }
  self->windows_reported++;
}

/* At EOS: audio came in but no window was reported (shorter than
 * eos-min-fill of a window). Say so instead of ending in silence. */
static void
warn_no_window (GstClarEmbed *self)
{
  gdouble fill, audio_s, window_s;
  guint64 window_prop;
  if (self->windows_reported > 0 || self->windows_processed > 0 || self->samples_in == 0
      || !self->stream || !self->rate)
    return;
  GST_OBJECT_LOCK (self);
  fill = self->eos_min_fill;
  window_prop = self->window_size;
  GST_OBJECT_UNLOCK (self);
  audio_s = (gdouble) self->samples_in / self->rate;
  window_s = (gdouble) clar_stream_window_samples (self->stream) / self->rate;
  GST_ELEMENT_WARNING (self, STREAM, FAILED,
      ("The stream ended after %.3f s of audio, less than eos-min-fill (%.2f) of the "
          "%.3f s window: no window was reported.", audio_s, fill, window_s),
      ("%s", window_prop && window_s > audio_s
          ? "window-size is longer than all the audio; lower window-size (or eos-min-fill)"
          : "a final partial window is reported when it holds at least eos-min-fill of a "
          "window; lower eos-min-fill (0 reports any) or window-size"));
}

/* Reports the events the tracker decided: one "clarembed-event" element
 * message each (whatever post-messages says: that one is about the
 * per-window messages) and the same structure as a serialized custom
 * downstream event, so that elements after clarembed see events in stream
 * order. Times are the stream's (base_ts + the tracker's offset). */
static void
drain_events (GstClarEmbed *self)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  clar_events *t = self->stream ? clar_stream_get_events (self->stream) : NULL;
  clar_event ev;

  if (!t)
    return;
  while (clar_events_next (t, &ev)) {
    GstSegment *seg = &trans->segment;
    GstClockTime ts, dur;
    GstStructure *s;

    /* No timeline (nothing pushed since the last reset): nothing to place. */
    if (!self->have_base || !GST_CLOCK_TIME_IS_VALID (self->base_ts))
      continue;
    ts = self->base_ts + (GstClockTime) ev.start_ns;
    dur = (GstClockTime) (ev.end_ns - ev.start_ns);
    s = gst_structure_new_id (event_quark,
        g_quark_from_static_string ("kind"), G_TYPE_STRING,
        ev.kind == CLAR_EVENT_START ? "start" : "end",
        g_quark_from_static_string ("label"), G_TYPE_STRING, ev.name,
        g_quark_from_static_string ("label-index"), G_TYPE_INT,
        ev.label == CLAR_EVENTS_UNKNOWN ? -1 : (gint) ev.label,
        msg_quarks[Q_TIMESTAMP], G_TYPE_UINT64, ts,
        msg_quarks[Q_STREAM_TIME], G_TYPE_UINT64,
        gst_segment_to_stream_time (seg, GST_FORMAT_TIME, ts),
        msg_quarks[Q_RUNNING_TIME], G_TYPE_UINT64,
        gst_segment_to_running_time (seg, GST_FORMAT_TIME, ts),
        msg_quarks[Q_DURATION], G_TYPE_UINT64, dur,
        g_quark_from_static_string ("peak"), G_TYPE_FLOAT, ev.peak,
        g_quark_from_static_string ("mean"), G_TYPE_FLOAT, ev.mean,
        g_quark_from_static_string ("first-window"), G_TYPE_UINT64, ev.first_window,
        g_quark_from_static_string ("last-window"), G_TYPE_UINT64, ev.last_window, NULL);
    GST_DEBUG_OBJECT (self, "event %s %s at %" GST_TIME_FORMAT " for %" GST_TIME_FORMAT,
        ev.kind == CLAR_EVENT_START ? "start" : "end", ev.name, GST_TIME_ARGS (ts),
        GST_TIME_ARGS (dur));
    /* FALSE while flushing or unlinked: nothing downstream to tell. */
    gst_pad_push_event (trans->srcpad,
        gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, gst_structure_copy (s)));
    gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
  }
}

/* Computes the window the stream holds complete and reports it. */
static void
process_window (GstClarEmbed *self, GstBuffer *buf)
{
  clar_window_result r;
  int rc;

  sync_stream_options (self);
#ifdef CLAR_TEST_HOOKS
  /* A CPU too slow for the stream, for the live-policy tests. */
  if (self->test_slow_us)
    g_usleep (self->test_slow_us);
#endif
  rc = clar_stream_compute (self->stream, &r);
  report_window (self, buf, &r, rc);
  drain_events (self);
}

/* Reports the window in progress, zero-padded, if it is full enough (the
 * stream's eos-min-fill rule); then forgets it. Used at EOS, DISCONT, caps
 * and window-size changes. */
static void
flush_partial (GstClarEmbed *self, const gchar *why)
{
  clar_window_result r;
  size_t fill;
  int rc;

  if (!self->stream)
    return;
  fill = clar_stream_fill (self->stream);
  if (!self->have_base || fill == 0) {
    /* (Also ends the sound events in progress.) */
    clar_stream_flush (self->stream, NULL);
    drain_events (self);
    return;
  }
  sync_stream_options (self);
  rc = clar_stream_flush (self->stream, &r);
  if (rc == CLAR_ERR_INPUT_TOO_SHORT) {
    GST_DEBUG_OBJECT (self, "%s: dropping a partial window of %zu samples", why, fill);
    drain_events (self);
    return;
  }
  GST_DEBUG_OBJECT (self, "%s: flushed a window of %zu/%zu samples", why, r.valid,
      r.n_samples);
  report_window (self, NULL, &r, rc);
  drain_events (self);
}

static gboolean
gst_clar_embed_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstClarEmbed *self = GST_CLAR_EMBED (trans);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_EOS:
      report_skipped_burst (self);
      flush_partial (self, "EOS");
      warn_no_window (self);
      reset_windowing (self);
      break;
    case GST_EVENT_FLUSH_STOP:
      reset_windowing (self);
      break;
    case GST_EVENT_CAPS: {
      GstCaps *caps;
      GstAudioInfo info;
      gst_event_parse_caps (event, &caps);
      /* Explain a mismatch here: the default path would only answer
       * not-negotiated. */
      if (self->info && gst_audio_info_from_caps (&info, caps)
          && (GST_AUDIO_INFO_RATE (&info) != self->info->mel.sample_rate
              || GST_AUDIO_INFO_CHANNELS (&info) != 1)) {
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
            ("clarembed needs mono audio at %d Hz; put audioconvert ! audioresample before it.",
                self->info->mel.sample_rate),
            ("got %d channel(s) at %d Hz", GST_AUDIO_INFO_CHANNELS (&info),
                GST_AUDIO_INFO_RATE (&info)));
        gst_event_unref (event);
        return FALSE;
      }
      flush_partial (self, "caps change");
      break;
    }
    case GST_EVENT_SEGMENT:
      /* A new segment (e.g. after a seek) starts a new timeline. */
      flush_partial (self, "new segment");
      reset_windowing (self);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_clar_embed_parent_class)->sink_event (trans, event);
}

/* Live policy (see the SECTION block): TRUE when upstream is live and the
 * window that just completed ends more than max-lateness behind the clock
 * (after the upstream latency), i.e. computing it would only add delay.
 * *lateness receives how late it is. */
static gboolean
window_is_late (GstClarEmbed *self, GstClockTimeDiff *lateness)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstClock *clock;
  GstClockTime end_ts, rt, now, base;
  gint64 max_lateness;

  if (!self->live_checked) {
    /* Asked once per stream, from the streaming thread (as audioaggregator
     * does): whether upstream is live and how much latency it adds. */
    GstQuery *q = gst_query_new_latency ();
    GstClockTime min = 0;
    if (gst_pad_peer_query (trans->sinkpad, q))
      gst_query_parse_latency (q, &self->is_live, &min, NULL);
    gst_query_unref (q);
    self->upstream_latency = GST_CLOCK_TIME_IS_VALID (min) ? min : 0;
    self->live_checked = TRUE;
    GST_DEBUG_OBJECT (self, "upstream live: %d, latency %" GST_TIME_FORMAT, self->is_live,
        GST_TIME_ARGS (self->upstream_latency));
  }
  if (!self->is_live)
    return FALSE;
  GST_OBJECT_LOCK (self);
  max_lateness = self->max_lateness;
  clock = GST_ELEMENT_CLOCK (self) ? gst_object_ref (GST_ELEMENT_CLOCK (self)) : NULL;
  base = GST_ELEMENT_CAST (self)->base_time;
  GST_OBJECT_UNLOCK (self);
  if (!clock)
    return FALSE;
  now = gst_clock_get_time (clock);
  gst_object_unref (clock);
  if (max_lateness < 0)
    return FALSE;
  {
    guint64 start = 0;
    clar_stream_ready (self->stream, NULL, &start);
    end_ts = self->base_ts + gst_util_uint64_scale (start +
        clar_stream_window_samples (self->stream), GST_SECOND, self->rate);
  }
  rt = gst_segment_to_running_time (&trans->segment, GST_FORMAT_TIME, end_ts);
  if (!GST_CLOCK_TIME_IS_VALID (rt) || !GST_CLOCK_TIME_IS_VALID (now))
    return FALSE;
  *lateness = GST_CLOCK_DIFF (base + rt + self->upstream_latency, now);
  return *lateness > max_lateness;
}

/* Counts a window the live policy did not compute; warns on the first. */
static void
skip_late_window (GstClarEmbed *self, GstClockTimeDiff lateness)
{
  guint64 total;
  gint64 max_lateness;
  clar_window_result r;
  clar_stream_skip (self->stream, &r);
  self->burst_skipped++;
  self->burst_last_ts = self->base_ts +
      gst_util_uint64_scale (r.start, GST_SECOND, self->rate);
  self->burst_lateness = lateness;
  GST_OBJECT_LOCK (self);
  total = ++self->windows_skipped;
  max_lateness = self->max_lateness;
  GST_OBJECT_UNLOCK (self);
  GST_LOG_OBJECT (self, "window at %" GST_TIME_FORMAT " is %" GST_STIME_FORMAT
      " late: skipped (%" G_GUINT64_FORMAT " so far)", GST_TIME_ARGS (self->burst_last_ts),
      GST_STIME_ARGS (lateness), total);
  if (!self->warned_late) {
    self->warned_late = TRUE;
    GST_ELEMENT_WARNING (self, CORE, CLOCK,
        ("The CPU cannot keep up with the live stream: windows are skipped."),
        ("window at %" GST_TIME_FORMAT " is %" GST_STIME_FORMAT " behind the clock "
            "(max-lateness %" G_GINT64_FORMAT " ns); see the windows-skipped property and "
            "QoS messages", GST_TIME_ARGS (self->burst_last_ts), GST_STIME_ARGS (lateness),
            max_lateness));
  }
}

/* Posts one QoS message for the burst of skipped windows that just ended. */
static void
report_skipped_burst (GstClarEmbed *self)
{
  GstSegment *seg = &GST_BASE_TRANSFORM (self)->segment;
  GstClockTime ts = self->burst_last_ts;
  GstMessage *m;
  guint64 total;

  if (!self->burst_skipped)
    return;
  GST_OBJECT_LOCK (self);
  total = self->windows_skipped;
  GST_OBJECT_UNLOCK (self);
  m = gst_message_new_qos (GST_OBJECT (self), TRUE,
      gst_segment_to_running_time (seg, GST_FORMAT_TIME, ts),
      gst_segment_to_stream_time (seg, GST_FORMAT_TIME, ts), ts,
      gst_util_uint64_scale (clar_stream_window_samples (self->stream), GST_SECOND,
          self->rate));
  gst_message_set_qos_values (m, self->burst_lateness, 1.0, 1000000);
  gst_message_set_qos_stats (m, GST_FORMAT_DEFAULT, self->windows_processed, total);
  GST_INFO_OBJECT (self, "%" G_GUINT64_FORMAT " windows skipped in a burst (%" G_GUINT64_FORMAT
      " in all)", self->burst_skipped, total);
  self->burst_skipped = 0;
  gst_element_post_message (GST_ELEMENT (self), m);
}

/* Tolerance before a timestamp mismatch counts as a discontinuity (as
 * audiobasesink's default alignment threshold). */
#define DISCONT_TOLERANCE (40 * GST_MSECOND)

static GstFlowReturn
gst_clar_embed_transform_ip (GstBaseTransform *trans, GstBuffer *buf)
{
  GstClarEmbed *self = GST_CLAR_EMBED (trans);
  GstMapInfo map;
  guint64 n, pos = 0;
  gboolean changed, gap;
  GstClockTime pts = GST_BUFFER_PTS (buf);

  if (!self->stream || !self->rate) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps were negotiated."), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GST_OBJECT_LOCK (self);
  changed = self->window_changed;
  GST_OBJECT_UNLOCK (self);
  if (changed) {
    flush_partial (self, "window-size/hop-size change");
    reset_windowing (self);
    if (!configure_windows (self))
      return GST_FLOW_ERROR;
  }

  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Could not map the input buffer."), (NULL));
    return GST_FLOW_ERROR;
  }
  n = map.size / (self->is_s16 ? 2 : 4);
  self->samples_in += n;
  gap = GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_GAP);

  /* Timeline: restart on DISCONT or when the timestamp jumps. */
  if (self->have_base && GST_CLOCK_TIME_IS_VALID (pts)) {
    GstClockTime expect = self->base_ts + gst_util_uint64_scale (
        clar_stream_position (self->stream), GST_SECOND, self->rate);
    GstClockTimeDiff d = GST_CLOCK_DIFF (expect, pts);
    if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT) || ABS (d) > DISCONT_TOLERANCE) {
      GST_DEBUG_OBJECT (self, "discontinuity: expected %" GST_TIME_FORMAT ", got %"
          GST_TIME_FORMAT, GST_TIME_ARGS (expect), GST_TIME_ARGS (pts));
      flush_partial (self, "discontinuity");
      reset_windowing (self);
    }
  }
  if (!self->have_base) {
    self->base_ts = GST_CLOCK_TIME_IS_VALID (pts) ? pts :
        (GST_CLOCK_TIME_IS_VALID (trans->segment.start) ? trans->segment.start : 0);
    self->have_base = TRUE;
    clar_stream_reset (self->stream);
  }

  while (pos < n) {
    size_t used = 0;
    int ready;
    if (gap)
      ready = clar_stream_push_f32 (self->stream, NULL, n - pos, &used);
    else if (self->is_s16)
      ready = clar_stream_push_s16 (self->stream, (const gint16 *) map.data + pos, n - pos,
          &used);
    else
      ready = clar_stream_push_f32 (self->stream, (const gfloat *) map.data + pos, n - pos,
          &used);
    pos += used;
    if (ready == 1) {
      GstClockTimeDiff lateness = 0;
      if (window_is_late (self, &lateness)) {
        skip_late_window (self, lateness);
      } else {
        report_skipped_burst (self);
        self->windows_processed++;
        process_window (self, buf);
      }
    } else if (ready < 0) {
      break;
    }
  }
  gst_buffer_unmap (buf, &map);
  return GST_FLOW_OK;
}
