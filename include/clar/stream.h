/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/stream.h — windowing of a continuous PCM stream: the one streaming
 * core shared by the clarembed element, clar-embed, clar-eval and bench.
 *
 * Push mono PCM at the model's sample rate; every `hop` samples a window of
 * `window` samples completes. For each completed window the caller either
 * computes it (clar_stream_compute: RMS, silence test, log-mel, encoder,
 * top-k labels) or skips it (clar_stream_skip, e.g. a live stream running
 * late); both slide the window by one hop. At the end of the stream (or a
 * discontinuity) clar_stream_flush reports the window in progress,
 * zero-padded, when it holds at least `eos_min_fill` of a window.
 *
 *   clar_stream *st = clar_stream_new (model, NULL, &err);
 *   size_t pos = 0, used;
 *   while (pos < n) {
 *     int ready = clar_stream_push_f32 (st, pcm + pos, n - pos, &used);
 *     pos += used;
 *     if (ready && clar_stream_compute (st, &r) == CLAR_OK)
 *       ... r.embedding, r.top[0 .. r.n_top), r.start, r.index ...
 *   }
 *   if (clar_stream_flush (st, &r) == CLAR_OK) ... (r.padded is 1)
 *
 * Offsets and indices count from the last reset (clar_stream_reset, which
 * the caller issues on a discontinuity). With hop > window the samples
 * between windows are skipped. A window holding NaN/Inf samples is not
 * encoded (clar_stream_compute returns CLAR_ERR_NONFINITE; it still slides
 * and counts as a window).
 *
 * Threading: a stream belongs to one thread at a time (it owns a
 * clar_session). The model, label sets and batcher it references may be
 * shared (a batcher is thread-safe).
 */
#ifndef CLAR_STREAM_H
#define CLAR_STREAM_H

#include <stdint.h>
#include <clar/batcher.h>
#include <clar/common.h>
#include <clar/events.h>
#include <clar/labels.h>
#include <clar/model.h>
#include <clar/session.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clar_stream clar_stream;

/* Longest window a stream accepts: 60 s at 192 kHz. */
#define CLAR_STREAM_MAX_WINDOW ((size_t) 60 * 192000)

typedef struct clar_stream_params {
  size_t window_samples;   /* 0: the model's (info->window_samples) */
  size_t hop_samples;      /* 0: the model's (info->hop_samples) */
  double eos_min_fill;     /* a final partial window is reported when it holds at
                              least this fraction of a window, 0..1; >= 1 never */
  double min_rms;          /* windows with RMS below this are "silent" (no
                              encoder run); 0 disables */
  size_t top_k;            /* labels per window (0..CLAR_STREAM_MAX_TOP_K) */
  float threshold;         /* only labels with score >= threshold */
  float min_similarity;    /* open set: a window whose best cosine similarity
                              to any label is below this is "unknown"; -1 never */
} clar_stream_params;

#define CLAR_STREAM_MAX_TOP_K 1000

/* Open set (issue 17): the default min_similarity, -1 (off): no single
 * cosine threshold serves every label source (tools/open-set-study.py and
 * README "Open set": the shipped head separates at about 0.55, its text
 * tower's prompts at about 0.15). */
#define CLAR_STREAM_DEFAULT_MIN_SIMILARITY (-1.0f)
/* The min-rms of the reporters (clarembed, clar-embed): 1e-4 (-80 dBFS).
 * tools/open-set-study.py: every window the shipped head labels right had
 * RMS >= 1.4e-3; most decay tails below 1e-4 got wrong labels. The stream's
 * own default stays 0, so that clip embeddings (clar-eval, clar-enroll)
 * embed every window. */
#define CLAR_DEFAULT_MIN_RMS 1e-4

/* Defaults: the model's window and hop, eos_min_fill 0.5, min_rms 0,
 * top_k 3, threshold 0, min_similarity CLAR_STREAM_DEFAULT_MIN_SIMILARITY. */
CLAR_API void clar_stream_params_init (clar_stream_params *p);

typedef struct clar_window_result {
  uint64_t index;          /* windows completed since the last reset (0-based) */
  uint64_t start;          /* sample offset of the window's first sample */
  size_t n_samples;        /* window length in samples */
  size_t valid;            /* real (not zero-padded) samples */
  double rms;              /* RMS of the window (NaN when it holds NaN/Inf) */
  int silent;              /* 1: rms < min_rms, encoder not run, no labels */
  int padded;              /* 1: a flushed partial window, zero-padded */
  const float *embedding;  /* embedding_dim floats (L2-normalised); NULL when
                              silent. Owned by the stream, valid until the next
                              call on it */
  size_t embedding_dim;
  const clar_label_score *top;  /* n_top labels, best first (stream-owned) */
  int n_top;
  float max_similarity;    /* best cosine similarity to any label (whatever
                              top_k and threshold); NaN without labels or when
                              silent */
  int unknown;             /* 1: max_similarity < min_similarity: report the
                              window as "unknown" (top still lists the known
                              labels, for callers that want them) */
  size_t batch_size;       /* windows in the encoder call that computed this
                              one: 1 without a batcher, 0 when the encoder did
                              not run (silent, NaN/Inf) */
  uint64_t batch_wait_ns;  /* latency the batcher added: from the window's
                              submission to its encoder call (0 without) */
} clar_window_result;

/* A stream over `model` (referenced) with a session of its own. params may
 * be NULL (defaults). Labels: the model's own (if any); see
 * clar_stream_set_labels. NULL on error (err says why). */
CLAR_API clar_stream *clar_stream_new (clar_model *model, const clar_stream_params *params,
                                       clar_error *err);
/* The same over an existing session, borrowed: the caller keeps it alive
 * (and on the stream's thread) until clar_stream_free. Cheap: for a stream
 * per clip over one session. */
CLAR_API clar_stream *clar_stream_new_for_session (clar_session *session,
                                                   const clar_stream_params *params,
                                                   clar_error *err);
CLAR_API void clar_stream_free (clar_stream *s);

/* The session the stream computes with (owned by the stream). */
CLAR_API clar_session *clar_stream_get_session (clar_stream *s);

/* Changes window and hop (0: the model's). Resets the stream (the window in
 * progress is forgotten: flush it first if wanted). CLAR_ERR_INPUT_TOO_SHORT
 * when window < the model's min_samples, CLAR_ERR_INVALID_ARGUMENT when hop
 * is 0 after defaulting or either exceeds CLAR_STREAM_MAX_WINDOW. */
CLAR_API int clar_stream_set_window (clar_stream *s, size_t window_samples,
                                     size_t hop_samples, clar_error *err);
CLAR_API size_t clar_stream_window_samples (const clar_stream *s);
CLAR_API size_t clar_stream_hop_samples (const clar_stream *s);

/* Per-window options; take effect at the next window. Values out of range
 * are clamped (eos_min_fill and min_rms to [0, 1], top_k to
 * CLAR_STREAM_MAX_TOP_K); NaN is treated as 0. */
CLAR_API void clar_stream_set_options (clar_stream *s, double eos_min_fill, double min_rms,
                                       size_t top_k, float threshold);

/* Open set: windows whose best cosine similarity to any label is below
 * min_similarity get r->unknown = 1 (-1 or NaN: never). Clamped to [-1, 1];
 * takes effect at the next window. */
CLAR_API void clar_stream_set_min_similarity (clar_stream *s, float min_similarity);

/* Label set scored against each embedding (referenced); NULL: no labels.
 * CLAR_ERR_DIMENSION_MISMATCH when its vectors do not fit the model. */
CLAR_API int clar_stream_set_labels (clar_stream *s, clar_labels *labels);
CLAR_API clar_labels *clar_stream_get_labels (const clar_stream *s);

/* Sound events (clar/events.h): the stream takes ownership of `events`
 * (freeing any tracker it had; NULL removes it) and feeds it every window it
 * computes: all label scores (softmax) and the highest cosine similarity,
 * at times in nanoseconds from sample offset 0 (offset * 1e9 / rate; a
 * padded window ends at its last real sample), with
 * the stream's hop (clar_events_set_hop, kept up to date by
 * clar_stream_set_window). A silent window (min_rms) scores 0 for every
 * label at similarity 1; windows skipped, or holding NaN/Inf samples, are
 * not fed (their indices are missing). clar_stream_flush flushes the
 * tracker after the padded window, and clar_stream_reset (hence
 * clar_stream_set_window) flushes it too: events in progress end there.
 * Read the events with clar_events_next (clar_stream_get_events (s), ...)
 * after each compute, flush and reset. CLAR_ERR_DIMENSION_MISMATCH (and
 * `events` freed) when it has another number of labels than the stream's
 * label set, or the stream has none; clar_stream_set_labels refuses a set
 * of another size while a tracker is attached. */
CLAR_API int clar_stream_set_events (clar_stream *s, clar_events *events);
/* The stream's tracker (owned by the stream), or NULL. */
CLAR_API clar_events *clar_stream_get_events (clar_stream *s);

/* Many streams, one encoder call (clar/batcher.h): from the next window
 * on, the stream's windows are encoded in batches with those of the
 * batcher's other members (the stream joins it; NULL: encode alone again,
 * leaving the previous batcher). A window waits at most max_wait_ns, and
 * never more than one hop, for others to join its batch; its result is
 * the same as without the batcher, and r->batch_size and r->batch_wait_ns
 * report the batch and the wait. clar_stream_compute then blocks while
 * the batch forms: run each stream of a batcher in its own thread (see
 * clar/batcher.h). CLAR_ERR_INVALID_ARGUMENT when the batcher is for
 * another model. */
CLAR_API int clar_stream_set_batcher (clar_stream *s, clar_batcher *batcher,
                                      uint64_t max_wait_ns);
CLAR_API clar_batcher *clar_stream_get_batcher (const clar_stream *s);

/* Appends samples until a window completes or the input ends; *consumed
 * receives how many were taken. Returns 1 when a window is complete (the
 * caller must then compute or skip it before pushing more), else 0; a
 * negative status on bad arguments. pcm NULL pushes n zero samples (a gap).
 * S16 samples are scaled by 1/32768. */
CLAR_API int clar_stream_push_f32 (clar_stream *s, const float *pcm, size_t n,
                                   size_t *consumed);
CLAR_API int clar_stream_push_s16 (clar_stream *s, const int16_t *pcm, size_t n,
                                   size_t *consumed);

/* 1 when a complete window waits for clar_stream_compute/skip; then its
 * index and start offset (each nullable). */
CLAR_API int clar_stream_ready (const clar_stream *s, uint64_t *index, uint64_t *start);

/* Computes the complete window and slides by one hop. Fills r (always: index,
 * start, sizes, rms) and returns CLAR_OK, CLAR_ERR_NONFINITE (NaN/Inf
 * samples: not encoded), another status when the encoder failed, or
 * CLAR_ERR_INVALID_ARGUMENT when no window is complete. */
CLAR_API int clar_stream_compute (clar_stream *s, clar_window_result *r);

/* Slides over the complete window without computing it (it still counts as
 * a window). r (nullable) receives its index, start and sizes. */
CLAR_API int clar_stream_skip (clar_stream *s, clar_window_result *r);

/* Reports the window in progress, zero-padded (r->padded = 1), if it holds
 * at least eos_min_fill of a window and eos_min_fill < 1: returns its
 * clar_stream_compute status. Otherwise forgets it and returns
 * CLAR_ERR_INPUT_TOO_SHORT (nothing to report). Either way the next window
 * starts empty at the current position; offsets continue (call
 * clar_stream_reset to restart them). */
CLAR_API int clar_stream_flush (clar_stream *s, clar_window_result *r);

/* Forgets the window in progress and restarts offsets and indices at 0
 * (flushing the events tracker, if any). */
CLAR_API void clar_stream_reset (clar_stream *s);

/* Samples pushed since the last reset (the offset of the next sample). */
CLAR_API uint64_t clar_stream_position (const clar_stream *s);

/* Log-mel frames computed and frames shared with the previous window
 * since the stream was created (each nullable). Overlapping windows (hop <
 * window, hop a multiple of the mel hop) share the frames whose FFT reads
 * only samples inside both windows: with the shipped model's 1 s window and
 * 0.5 s hop, 47 of each window's 101 frames are copied from the previous
 * window instead of recomputed, bit-identically. */
CLAR_API void clar_stream_frame_stats (const clar_stream *s, uint64_t *computed,
                                       uint64_t *reused);

/* Samples of the window in progress (0 .. window). */
CLAR_API size_t clar_stream_fill (const clar_stream *s);

#ifdef __cplusplus
}
#endif
#endif /* CLAR_STREAM_H */
