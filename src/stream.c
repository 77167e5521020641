/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Windowing of a continuous stream (clar/stream.h): a window buffer that
 * fills with pushed samples, slides by one hop after each complete window
 * and skips the samples between windows when hop > window. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <clar/stream.h>
#include "model-private.h"
#include "stream-private.h"

struct clar_stream {
  clar_session *session;
  int owns_session;
  clar_model *model;           /* borrowed from the session */
  const clar_model_info *info;
  clar_labels *labels;         /* ref, nullable */
  size_t window, hop;
  double eos_min_fill, min_rms;
  size_t top_k;
  float threshold;
  float min_similarity;        /* -1: open-set test off */
  float *ring;                 /* the window in progress, `window` floats */
  size_t filled;               /* valid samples in ring */
  uint64_t skip;               /* samples to drop before the next window (hop > window) */
  uint64_t window_start;       /* offset of ring[0] */
  uint64_t position;           /* samples pushed since the reset */
  uint64_t index;              /* index of the next window */
  float *embedding;
  clar_label_score *top;
  size_t top_cap;
  clar_events *events;         /* owned, nullable */
  float *ev_probs, *ev_sims;   /* n_labels each, for the tracker */
  /* Log-mel of the last computed window (mel_prev, starting at prev_start)
   * and of the current one: frames the two windows share are copied, not
   * recomputed (compute once per hop). */
  float *mel_cur, *mel_prev;
  size_t mel_cap;
  int prev_valid;
  uint64_t prev_start;
  uint64_t frames_reused, frames_computed;
  double *ev_frames;           /* frame energies of a window (active span) */
  size_t ev_frames_cap;
  clar_batcher *batcher;       /* ref, nullable: encoder calls shared with other streams */
  uint64_t batch_wait_ns;      /* the longest a window waits for its batch */
  size_t last_batch;           /* windows in the last window's encoder call */
  uint64_t last_wait_ns;       /* and how long it waited for it */
};

void
clar_stream_params_init (clar_stream_params *p)
{
  if (!p)
    return;
  memset (p, 0, sizeof *p);
  p->eos_min_fill = 0.5;
  p->top_k = 3;
  p->min_similarity = CLAR_STREAM_DEFAULT_MIN_SIMILARITY;
}

void
clar_stream_set_min_similarity (clar_stream *s, float min_similarity)
{
  if (!s)
    return;
  s->min_similarity = isnan (min_similarity) || min_similarity < -1.0f ? -1.0f
      : min_similarity > 1.0f ? 1.0f : min_similarity;
}

static double
clamp01 (double x)
{
  return !(x > 0.0) ? 0.0 : x > 1.0 ? 1.0 : x;
}

void
clar_stream_set_options (clar_stream *s, double eos_min_fill, double min_rms,
                         size_t top_k, float threshold)
{
  if (!s)
    return;
  s->eos_min_fill = clamp01 (eos_min_fill);
  s->min_rms = clamp01 (min_rms);
  s->top_k = top_k > CLAR_STREAM_MAX_TOP_K ? CLAR_STREAM_MAX_TOP_K : top_k;
  s->threshold = isnan (threshold) ? 0.0f : threshold;
}

static clar_stream *
stream_new (clar_session *session, int owns, const clar_stream_params *params,
            clar_error *err)
{
  clar_stream_params def;
  clar_stream *s = calloc (1, sizeof *s);
  if (!s) {
    if (owns)
      clar_session_free (session);
    clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    return NULL;
  }
  s->session = session;
  s->owns_session = owns;
  s->model = clar_session_get_model (session);
  s->info = clar_model_get_info (s->model);
  s->embedding = calloc (s->info->embedding_dim, sizeof (float));
  if (!s->embedding) {
    clar_stream_free (s);
    clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    return NULL;
  }
  if (!params) {
    clar_stream_params_init (&def);
    params = &def;
  }
  clar_stream_set_options (s, params->eos_min_fill, params->min_rms, params->top_k,
      params->threshold);
  clar_stream_set_min_similarity (s, params->min_similarity);
  if (clar_model_get_labels (s->model))
    s->labels = clar_labels_ref (clar_model_get_labels (s->model));
  if (clar_stream_set_window (s, params->window_samples, params->hop_samples, err) != CLAR_OK) {
    clar_stream_free (s);
    return NULL;
  }
  return s;
}

clar_stream *
clar_stream_new (clar_model *model, const clar_stream_params *params, clar_error *err)
{
  clar_session *session;
  if (!model) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_stream_new: NULL model");
    return NULL;
  }
  session = clar_session_new (model, err);
  return session ? stream_new (session, 1, params, err) : NULL;
}

clar_stream *
clar_stream_new_for_session (clar_session *session, const clar_stream_params *params,
                             clar_error *err)
{
  if (!session) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_stream_new_for_session: NULL session");
    return NULL;
  }
  return stream_new (session, 0, params, err);
}

void
clar_stream_free (clar_stream *s)
{
  if (!s)
    return;
  clar_stream_set_batcher (s, NULL, 0);
  clar_labels_unref (s->labels);
  if (s->owns_session)
    clar_session_free (s->session);
  free (s->ring);
  free (s->mel_cur);
  free (s->mel_prev);
  free (s->embedding);
  free (s->top);
  clar_events_free (s->events);
  free (s->ev_probs);
  free (s->ev_sims);
  free (s->ev_frames);
  free (s);
}

/* Sample offset -> ns, exact for any rate, without overflow for any
 * offset below 2^64 / 1e9 seconds' worth. */
static int64_t
offset_ns (const clar_stream *s, uint64_t offset)
{
  uint64_t rate = (uint64_t) s->info->mel.sample_rate;
  return (int64_t) ((offset / rate) * 1000000000u + (offset % rate) * 1000000000u / rate);
}

int
clar_stream_set_events (clar_stream *s, clar_events *events)
{
  float *p = NULL, *q = NULL;
  if (!s) {
    clar_events_free (events);
    return CLAR_ERR_INVALID_ARGUMENT;
  }
  if (events) {
    size_t n = clar_events_n_labels (events);
    if (!s->labels || clar_labels_count (s->labels) != n) {
      clar_events_free (events);
      return CLAR_ERR_DIMENSION_MISMATCH;
    }
    p = malloc (n * sizeof (float));
    q = malloc (n * sizeof (float));
    if (!p || !q) {
      free (p);
      free (q);
      clar_events_free (events);
      return CLAR_ERR_NO_MEMORY;
    }
    clar_events_set_hop (events, offset_ns (s, s->hop));
  }
  clar_events_free (s->events);
  free (s->ev_probs);
  free (s->ev_sims);
  s->events = events;
  s->ev_probs = p;
  s->ev_sims = q;
  return CLAR_OK;
}

clar_events *
clar_stream_get_events (clar_stream *s)
{
  return s ? s->events : NULL;
}

/* The active span's outer threshold, as a fraction of active_db (in dB):
 * 0.5 did best of 0.3/0.5/0.7/1 on generated scenes (models/README.md). */
#define CLAR_ACTIVE_EXT 0.5
/* The longest gap, in 10 ms frames, an active span bridges: longer than the
 * closure of a stop consonant inside a word (typically under 100 ms),
 * shorter than most pauses between sounds. */
#define CLAR_ACTIVE_BRIDGE 15

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* Feeds the window just computed (r) to the tracker. */
static int
feed_events (clar_stream *s, const clar_window_result *r)
{
  size_t n = clar_labels_count (s->labels);
  float best = 1.0f;
  /* A padded window holds audio up to start + valid only: its cell is
   * centred on that, so that no event runs past the end of the audio. */
  int64_t t0 = offset_ns (s, r->start), t1 = offset_ns (s, r->start + r->valid);
  if (r->silent) {
    memset (s->ev_probs, 0, n * sizeof (float));
  } else {
    int rc = clar_labels_score (s->labels, r->embedding, s->ev_probs, s->ev_sims);
    if (rc != CLAR_OK)
      return rc;
    best = s->ev_sims[0];
    for (size_t i = 1; i < n; i++)
      if (s->ev_sims[i] > best)
        best = s->ev_sims[i];
  }
  {
    /* The active span (clar/events.h, "Sharper boundaries"): the sound
     * around the window's loudest 10 ms frame, if that frame is at least
     * active_db above the window's background, taken as its
     * 10th-percentile frame energy (a minimum-statistics noise floor, as in
     * Martin, "Noise power spectral density estimation based on optimal
     * smoothing and minimum statistics", IEEE TSAP 9(5), 2001, here over
     * one window). No such frame: the whole window. */
    float db = clar_events_get_params (s->events)->active_db;
    uint64_t a0 = r->start, a1 = r->start + r->valid;
    size_t f = (size_t) s->info->mel.sample_rate / 100, nf;
    if (f < 1)
      f = 1;
    nf = r->valid / f;
    if (db > 0.0f && nf > 1 && 2 * nf > s->ev_frames_cap) {
      double *b = realloc (s->ev_frames, 2 * nf * sizeof (double));
      if (!b)
        return CLAR_ERR_NO_MEMORY;
      s->ev_frames = b;
      s->ev_frames_cap = 2 * nf;
    }
    if (db > 0.0f && nf > 1) {
      double *e = s->ev_frames, *sorted = s->ev_frames + nf, thr, lo;
      size_t first = 0, last;
      for (size_t j = 0; j < nf; j++) {
        double acc = 0.0;
        for (size_t i = j * f; i < (j + 1) * f; i++)
          acc += (double) s->ring[i] * s->ring[i];
        e[j] = sorted[j] = acc;
        if (e[j] > e[first])
          first = j;
      }
      qsort (sorted, nf, sizeof (double), cmp_double);
      thr = sorted[nf / 10] * pow (10.0, db / 10.0);
      lo = sorted[nf / 10] * pow (10.0, CLAR_ACTIVE_EXT * db / 10.0);
      last = first;
      if (e[first] > thr) {
        /* Hysteresis on frames, as a double-threshold voice activity
         * detector: the span grows outward from the loudest frame while
         * frames stay above half the threshold (in dB), and across a gap
         * of at most CLAR_ACTIVE_BRIDGE frames to a frame above the
         * threshold (the closure of a stop consonant inside a word). A
         * noise frame further away is another sound: taking every frame
         * above the threshold, first to last, let one 10 ms noise peak
         * stretch a word's span to the window's end. */
        for (;;) {
          size_t k = 0;
          if (first > 0 && e[first - 1] > lo) {
            first--;
            continue;
          }
          for (size_t g = 1; g <= CLAR_ACTIVE_BRIDGE && g <= first; g++)
            if (e[first - g] > thr)
              k = g;
          if (!k)
            break;
          first -= k;
        }
        for (;;) {
          size_t k = 0;
          if (last + 1 < nf && e[last + 1] > lo) {
            last++;
            continue;
          }
          for (size_t g = 1; g <= CLAR_ACTIVE_BRIDGE && last + g < nf; g++)
            if (e[last + g] > thr)
              k = g;
          if (!k)
            break;
          last += k;
        }
        a0 = r->start + first * f;
        a1 = r->start + (last + 1) * f;
      }
    }
    return clar_events_push_active (s->events, r->index, t0, t1, offset_ns (s, a0),
        offset_ns (s, a1), s->ev_probs, best);
  }
}

clar_session *
clar_stream_get_session (clar_stream *s)
{
  return s ? s->session : NULL;
}

int
clar_stream_set_window (clar_stream *s, size_t window, size_t hop, clar_error *err)
{
  if (!s)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_stream_set_window: NULL stream");
  if (!window)
    window = s->info->window_samples;
  if (!hop)
    hop = s->info->hop_samples;
  if (window > CLAR_STREAM_MAX_WINDOW || hop > CLAR_STREAM_MAX_WINDOW)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "window of %zu / hop of %zu samples: at most %zu", window, hop, CLAR_STREAM_MAX_WINDOW);
  if (window < s->info->min_samples)
    return clar_set_error (err, CLAR_ERR_INPUT_TOO_SHORT,
        "window of %zu samples; the model needs at least %zu (%.3f s)", window,
        s->info->min_samples, (double) s->info->min_samples / s->info->mel.sample_rate);
  if (!hop)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "hop of 0 samples");
  if (window != s->window || !s->ring) {
    float *r = malloc (window * sizeof (float));
    if (!r)
      return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory for a %zu-sample window",
          window);
    free (s->ring);
    s->ring = r;
  }
  s->window = window;
  s->hop = hop;
  clar_stream_reset (s);
  if (s->events)
    clar_events_set_hop (s->events, offset_ns (s, hop));
  return CLAR_OK;
}

size_t
clar_stream_window_samples (const clar_stream *s)
{
  return s ? s->window : 0;
}

size_t
clar_stream_hop_samples (const clar_stream *s)
{
  return s ? s->hop : 0;
}

int
clar_stream_set_labels (clar_stream *s, clar_labels *labels)
{
  if (!s)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (labels && clar_labels_dim (labels) != s->info->embedding_dim)
    return CLAR_ERR_DIMENSION_MISMATCH;
  if (s->events && (!labels || clar_labels_count (labels) != clar_events_n_labels (s->events)))
    return CLAR_ERR_DIMENSION_MISMATCH;
  if (labels)
    clar_labels_ref (labels);
  clar_labels_unref (s->labels);
  s->labels = labels;
  return CLAR_OK;
}

clar_labels *
clar_stream_get_labels (const clar_stream *s)
{
  return s ? s->labels : NULL;
}

void
clar_stream_reset (clar_stream *s)
{
  if (!s)
    return;
  s->filled = 0;
  s->skip = 0;
  s->window_start = 0;
  s->position = 0;
  s->index = 0;
  if (s->events)
    clar_events_flush (s->events);
  s->prev_valid = 0;
}

uint64_t
clar_stream_position (const clar_stream *s)
{
  return s ? s->position : 0;
}

size_t
clar_stream_fill (const clar_stream *s)
{
  return s ? s->filled : 0;
}

int
clar_stream_ready (const clar_stream *s, uint64_t *index, uint64_t *start)
{
  if (!s || s->filled < s->window)
    return 0;
  if (index)
    *index = s->index;
  if (start)
    *start = s->window_start;
  return 1;
}

/* fmt: 0 = float, 1 = S16, 2 = zeros. */
static int
push (clar_stream *s, const void *pcm, int fmt, size_t n, size_t *consumed)
{
  size_t pos = 0;
  if (consumed)
    *consumed = 0;
  if (!s || (n && !pcm && fmt != 2))
    return CLAR_ERR_INVALID_ARGUMENT;
  while (pos < n && s->filled < s->window) {
    size_t take;
    if (s->skip) {
      take = s->skip < n - pos ? (size_t) s->skip : n - pos;
      s->skip -= take;
      s->window_start += take;
      pos += take;
      continue;
    }
    take = s->window - s->filled < n - pos ? s->window - s->filled : n - pos;
    if (fmt == 2) {
      memset (s->ring + s->filled, 0, take * sizeof (float));
    } else if (fmt == 1) {
      const int16_t *src = (const int16_t *) pcm + pos;
      float *dst = s->ring + s->filled;
      for (size_t i = 0; i < take; i++)
        dst[i] = src[i] * (1.0f / 32768.0f);
    } else {
      memcpy (s->ring + s->filled, (const float *) pcm + pos, take * sizeof (float));
    }
    s->filled += take;
    pos += take;
  }
  s->position += pos;
  if (consumed)
    *consumed = pos;
  return s->filled == s->window;
}

int
clar_stream_push_f32 (clar_stream *s, const float *pcm, size_t n, size_t *consumed)
{
  return push (s, pcm, pcm ? 0 : 2, n, consumed);
}

int
clar_stream_push_s16 (clar_stream *s, const int16_t *pcm, size_t n, size_t *consumed)
{
  return push (s, pcm, 1, n, consumed);
}

static void
fill_header (const clar_stream *s, clar_window_result *r, size_t valid, int padded)
{
  memset (r, 0, sizeof *r);
  r->index = s->index;
  r->start = s->window_start;
  r->n_samples = s->window;
  r->valid = valid;
  r->padded = padded;
  r->embedding_dim = s->info->embedding_dim;
  r->max_similarity = NAN;
}

/* Moves to the next window: by one hop, or past the gap when hop > window. */
static void
slide (clar_stream *s)
{
  if (s->hop < s->window) {
    memmove (s->ring, s->ring + s->hop, (s->window - s->hop) * sizeof (float));
    s->filled -= s->hop;
    s->window_start += s->hop;
  } else {
    s->filled = 0;
    s->skip = s->hop - s->window;
    s->window_start += s->window;
  }
  s->index++;
}

/* Frames [*u0, *u1) of the current window equal frames [*u0 + d, *u1 + d)
 * of the previous one when it started hop = d * hop_length samples earlier:
 * both read only samples inside both windows, i.e. no padding. A frame t
 * reads samples [t hl - pad, t hl - pad + n_fft) of its window (pad =
 * n_fft/2 with center, else 0), so it is free of padding for t in
 * [tlo, thi]. Returns 0 when nothing can be shared. */
static int
shared_frames (const clar_stream *s, size_t T, size_t *u0, size_t *u1)
{
  const clar_mel_params *p = &s->info->mel;
  size_t hl = (size_t) p->hop_length, nf = (size_t) p->n_fft;
  size_t pad = p->center ? nf / 2 : 0, d, tlo, thi;
  if (!s->prev_valid || s->prev_start + s->hop != s->window_start || s->hop >= s->window
      || s->hop % hl != 0 || s->window + pad < nf)
    return 0;
  d = s->hop / hl;
  tlo = (pad + hl - 1) / hl;
  thi = (s->window + pad - nf) / hl;
  if (thi >= T)
    thi = T - 1;
  if (thi < tlo + d)
    return 0;
  *u0 = tlo;
  *u1 = thi - d + 1;
  return 1;
}

/* The log-mel of the ring (sharing the previous window's frames where it
 * can) and the embedding. */
static int
window_mel_and_encode (clar_stream *s, int padded)
{
  const size_t M = (size_t) s->info->mel.n_mels;
  size_t T = clar_session_n_frames (s->session, s->window), u0, u1;
  clar_mel *mel = clar_session_mel (s->session);
  float *tmp;
  int rc;
  s->last_batch = 0;
  s->last_wait_ns = 0;
  if (s->mel_cap < M * T) {
    float *a = realloc (s->mel_cur, M * T * sizeof (float));
    float *b = a ? realloc (s->mel_prev, M * T * sizeof (float)) : NULL;
    if (a)
      s->mel_cur = a;
    if (!a || !b)
      return CLAR_ERR_NO_MEMORY;
    s->mel_prev = b;
    s->mel_cap = M * T;
  }
  if (!padded && shared_frames (s, T, &u0, &u1)) {
    size_t d = s->hop / (size_t) s->info->mel.hop_length;
    for (size_t b = 0; b < M; b++)
      memcpy (s->mel_cur + b * T + u0, s->mel_prev + b * T + u0 + d, (u1 - u0) * sizeof (float));
    rc = clar_mel_compute_except (mel, s->ring, s->window, s->mel_cur, T, u0, u1);
    s->frames_reused += u1 - u0;
    s->frames_computed += T - (u1 - u0);
  } else {
    rc = clar_mel_compute (mel, s->ring, s->window, s->mel_cur, T);
    s->frames_computed += T;
  }
  s->prev_valid = 0;
  if (rc != CLAR_OK)
    return rc;
  /* The current window's frames become the previous ones (a padded window
   * is the last before a reset: never shared). */
  tmp = s->mel_prev;
  s->mel_prev = s->mel_cur;
  s->mel_cur = tmp;
  s->prev_valid = !padded;
  s->prev_start = s->window_start;
  if (s->batcher) {
    /* At most one hop of added latency: a window waiting longer would
     * hold up the next. */
    uint64_t wait = s->batch_wait_ns, hop = (uint64_t) offset_ns (s, s->hop);
    return clar_batcher_encode (s->batcher, s->mel_prev, T, wait < hop ? wait : hop,
        s->embedding, &s->last_batch, &s->last_wait_ns);
  }
  s->last_batch = 1;
  s->last_wait_ns = 0;
  return clar_session_encode (s->session, s->mel_prev, T, s->embedding);
}

int
clar_stream_set_batcher (clar_stream *s, clar_batcher *batcher, uint64_t max_wait_ns)
{
  if (!s)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (batcher && clar_batcher_get_model (batcher) != s->model)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (batcher) {
    clar_batcher_ref (batcher);
    clar_batcher_join (batcher);
  }
  if (s->batcher) {
    clar_batcher_leave (s->batcher);
    clar_batcher_unref (s->batcher);
  }
  s->batcher = batcher;
  s->batch_wait_ns = max_wait_ns;
  return CLAR_OK;
}

clar_batcher *
clar_stream_get_batcher (const clar_stream *s)
{
  return s ? s->batcher : NULL;
}

/* RMS, the silence test, the encoder and the labels of the ring. */
static int
compute_ring (clar_stream *s, clar_window_result *r)
{
  double ss = 0.0;
  int rc;
  {
    /* Eight independent sums: the loop runs at load throughput instead of
     * waiting on one chain of dependent additions (~2% of a window's cost). */
    double acc[8] = { 0 };
    size_t i = 0, n = s->window;
    for (; i + 8 <= n; i += 8)
      for (int j = 0; j < 8; j++)
        acc[j] += (double) s->ring[i + j] * s->ring[i + j];
    for (; i < n; i++)
      acc[0] += (double) s->ring[i] * s->ring[i];
    for (int j = 0; j < 8; j++)
      ss += acc[j];
  }
  r->rms = sqrt (ss / (double) s->window);
  if (!isfinite (r->rms)) {
    r->rms = NAN;
    s->prev_valid = 0;
    return CLAR_ERR_NONFINITE;
  }
  if (s->min_rms > 0.0 && r->rms < s->min_rms) {
    r->silent = 1;
    s->prev_valid = 0;
    return s->events ? feed_events (s, r) : CLAR_OK;
  }
  rc = window_mel_and_encode (s, r->padded);
  r->batch_size = s->last_batch;
  r->batch_wait_ns = s->last_wait_ns;
  if (rc != CLAR_OK)
    return rc;
  r->embedding = s->embedding;
  if (s->labels && s->top_k > 0) {
    size_t k = s->top_k, nl = clar_labels_count (s->labels);
    int n;
    if (k > nl)
      k = nl;
    if (k > s->top_cap) {
      clar_label_score *t = realloc (s->top, k * sizeof *t);
      if (!t)
        return CLAR_ERR_NO_MEMORY;
      s->top = t;
      s->top_cap = k;
    }
    n = k ? clar_labels_top_k (s->labels, s->embedding, k, s->threshold, s->top) : 0;
    r->top = s->top;
    r->n_top = n > 0 ? n : 0;
  }
  if (s->labels)
    /* Over every label: top_k and threshold may have left the best out. */
    r->unknown = clar_labels_open_set (s->labels, s->embedding, s->min_similarity,
        &r->max_similarity) == 1;
  return s->events ? feed_events (s, r) : CLAR_OK;
}

int
clar_stream_compute (clar_stream *s, clar_window_result *r)
{
  clar_window_result tmp;
  int rc;
  if (!r)
    r = &tmp;
  if (!s || s->filled < s->window)
    return CLAR_ERR_INVALID_ARGUMENT;
  fill_header (s, r, s->window, 0);
  rc = compute_ring (s, r);
  slide (s);
  return rc;
}

int
clar_stream_skip (clar_stream *s, clar_window_result *r)
{
  if (!s || s->filled < s->window)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (r)
    fill_header (s, r, s->window, 0);
  s->prev_valid = 0;
  slide (s);
  return CLAR_OK;
}

int
clar_stream_flush (clar_stream *s, clar_window_result *r)
{
  clar_window_result tmp;
  size_t valid;
  int rc = CLAR_ERR_INPUT_TOO_SHORT;
  if (!r)
    r = &tmp;
  if (!s)
    return CLAR_ERR_INVALID_ARGUMENT;
  valid = s->filled;
  if (valid > 0 && s->eos_min_fill < 1.0
      && (double) valid >= s->eos_min_fill * (double) s->window) {
    memset (s->ring + valid, 0, (s->window - valid) * sizeof (float));
    fill_header (s, r, valid, valid < s->window);
    rc = compute_ring (s, r);
    s->index++;
  }
  s->filled = 0;
  s->skip = 0;
  s->window_start = s->position;
  if (s->events)
    clar_events_flush (s->events);
  s->prev_valid = 0;
  return rc;
}

void
clar_stream_frame_stats (const clar_stream *s, uint64_t *computed, uint64_t *reused)
{
  if (computed)
    *computed = s ? s->frames_computed : 0;
  if (reused)
    *reused = s ? s->frames_reused : 0;
}
