/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clar_stream: windows, hop, the padding rule, gaps, S16, NaN/Inf, silence,
 * resets, against clar_session_embed on the same samples. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <clar/clar.h>
#include "clar-test.h"
#include "model-private.h"

#include "clar-test-model.h"

#define W 16000
#define H 8000

static float *
signal (size_t n)
{
  float *x = malloc (n * sizeof (float));
  for (size_t i = 0; i < n; i++)
    x[i] = (float) (0.3 * sin (6.283185307179586 * 440.0 * i / 16000.0)
        + 0.2 * sin (6.283185307179586 * (200.0 + 0.02 * i) * i / 16000.0));
  return x;
}

/* Embedding of pcm[start, start + valid) zero-padded to W, by a session. */
static void
reference (clar_session *s, const float *pcm, size_t start, size_t valid, float *emb)
{
  float *win = calloc (W, sizeof (float));
  memcpy (win, pcm + start, valid * sizeof (float));
  CHECK_EQ_INT (clar_session_embed (s, win, W, emb), CLAR_OK);
  free (win);
}

/* Windows of a signal pushed in uneven chunks: starts every hop, indices,
 * embeddings and labels exactly those of clar_session_embed on the same
 * samples; the final partial window is zero-padded when it holds at least
 * half a window. */
static void
test_windows (void)
{
  clar_model *m = clar_test_small_model ();
  clar_error err;
  clar_stream *st;
  clar_session *ref;
  const size_t n = 3 * W + 3000;  /* windows at 0, H, ..., 5H; remainder 11000 */
  float *pcm = signal (n), emb[8];
  size_t pos = 0, chunk = 1, n_win = 0;
  clar_window_result r;
  if (!m)
    return;
  st = clar_stream_new (m, NULL, &err);
  ref = clar_session_new (m, &err);
  CHECK (st && ref);
  CHECK_EQ_INT (clar_stream_window_samples (st), W);
  CHECK_EQ_INT (clar_stream_hop_samples (st), H);
  while (pos < n) {
    size_t used, len = chunk < n - pos ? chunk : n - pos;
    int ready = clar_stream_push_f32 (st, pcm + pos, len, &used);
    uint64_t idx, start;
    pos += used;
    chunk = chunk * 7 % 4099 + 1;     /* uneven chunk sizes */
    if (!ready) {
      CHECK_EQ_INT (used, len);
      continue;
    }
    CHECK (clar_stream_ready (st, &idx, &start));
    CHECK_EQ_INT (idx, n_win);
    CHECK_EQ_INT (start, n_win * H);
    /* A complete window takes no more samples until computed. */
    CHECK_EQ_INT (clar_stream_push_f32 (st, pcm, 1, &used), 1);
    CHECK_EQ_INT (used, 0);
    CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
    CHECK_EQ_INT (r.index, n_win);
    CHECK_EQ_INT (r.start, n_win * H);
    CHECK_EQ_INT (r.valid, W);
    CHECK (!r.padded && !r.silent && r.embedding);
    reference (ref, pcm, r.start, W, emb);
    CHECK (memcmp (emb, r.embedding, sizeof emb) == 0);
    {
      clar_label_score top[3];
      int k = clar_labels_top_k (clar_model_get_labels (m), emb, 3, 0.0f, top);
      CHECK_EQ_INT (r.n_top, k);
      for (int i = 0; i < k && i < r.n_top; i++)
        CHECK_EQ_INT (r.top[i].index, top[i].index);
    }
    n_win++;
  }
  CHECK_EQ_INT (n_win, 5);
  {
    /* Compute once per hop: windows 1..4 took 47 of their 101 log-mel frames
     * from the window before (frames 2..48 = its frames 52..98, the frames
     * whose FFT reads no padding in either window), and the embeddings
     * above are still bit-identical to the window-at-a-time ones. */
    uint64_t computed, reused;
    clar_stream_frame_stats (st, &computed, &reused);
    CHECK_EQ_INT (reused, 4 * 47);
    CHECK_EQ_INT (computed, 101 + 4 * 54);
  }
  CHECK_EQ_INT (clar_stream_position (st), n);
  CHECK_EQ_INT (clar_stream_fill (st), 11000);
  CHECK_EQ_INT (clar_stream_flush (st, &r), CLAR_OK);
  CHECK (r.padded);
  CHECK_EQ_INT (r.index, 5);
  CHECK_EQ_INT (r.start, 5 * H);
  CHECK_EQ_INT (r.valid, 11000);
  reference (ref, pcm, r.start, 11000, emb);
  CHECK (r.embedding && memcmp (emb, r.embedding, sizeof emb) == 0);
  /* Nothing left. */
  CHECK_EQ_INT (clar_stream_fill (st), 0);
  CHECK_EQ_INT (clar_stream_flush (st, &r), CLAR_ERR_INPUT_TOO_SHORT);

  /* The same remainder with eos_min_fill 0.75 (needs 12000): dropped;
   * with 1.0: never flushed. */
  for (int q = 0; q < 2; q++) {
    size_t used;
    clar_stream_reset (st);
    CHECK_EQ_INT (clar_stream_position (st), 0);
    clar_stream_set_options (st, q ? 1.0 : 0.75, 0.0, 3, 0.0f);
    CHECK_EQ_INT (clar_stream_push_f32 (st, pcm, 11000, &used), 0);
    CHECK_EQ_INT (clar_stream_flush (st, &r), CLAR_ERR_INPUT_TOO_SHORT);
  }
  /* top_k 0: no labels; a threshold above every score: none either. */
  clar_stream_reset (st);
  clar_stream_set_options (st, 0.5, 0.0, 0, 0.0f);
  {
    size_t used;
    CHECK_EQ_INT (clar_stream_push_f32 (st, pcm, W, &used), 1);
    CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
    CHECK_EQ_INT (r.n_top, 0);
    clar_stream_set_options (st, 0.5, 0.0, 3, 1.0f);
    CHECK_EQ_INT (clar_stream_push_f32 (st, pcm + W, H, &used), 1);
    CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
    CHECK_EQ_INT (r.n_top, 0);
    /* No window complete: compute and skip refuse. */
    CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT (clar_stream_skip (st, &r), CLAR_ERR_INVALID_ARGUMENT);
  }
  free (pcm);
  clar_session_free (ref);
  clar_stream_free (st);
  clar_model_unref (m);
}

/* hop > window: the samples between windows are skipped; skip() slides
 * without computing and still counts the window. */
static void
test_hop_gap_skip (void)
{
  clar_model *m = clar_test_small_model ();
  clar_error err;
  clar_stream_params p;
  clar_stream *st;
  clar_session *ref;
  const size_t n = 56000;
  float *pcm = signal (n), emb[8];
  clar_window_result r;
  size_t pos = 0, used, k = 0;
  if (!m)
    return;
  clar_stream_params_init (&p);
  p.window_samples = 12000;
  p.hop_samples = 20000;
  st = clar_stream_new (m, &p, &err);
  ref = clar_session_new (m, &err);
  while (pos < n) {
    int ready = clar_stream_push_f32 (st, pcm + pos, n - pos, &used);
    pos += used;
    if (!ready)
      continue;
    if (k == 1) {
      CHECK_EQ_INT (clar_stream_skip (st, &r), CLAR_OK);
    } else {
      float *win = pcm + k * 20000;
      CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
      CHECK_EQ_INT (clar_session_embed (ref, win, 12000, emb), CLAR_OK);
      CHECK (memcmp (emb, r.embedding, sizeof emb) == 0);
    }
    CHECK_EQ_INT (r.index, k);
    CHECK_EQ_INT (r.start, k * 20000);
    CHECK_EQ_INT (r.n_samples, 12000);
    k++;
  }
  CHECK_EQ_INT (k, 3);                  /* 0, 20000, 40000 */
  {
    uint64_t reused;
    clar_stream_frame_stats (st, NULL, &reused);
    CHECK_EQ_INT (reused, 0);
  }
  /* Inside the gap after the last window: nothing to flush. */
  CHECK_EQ_INT (clar_stream_flush (st, &r), CLAR_ERR_INPUT_TOO_SHORT);
  free (pcm);
  clar_session_free (ref);
  clar_stream_free (st);
  clar_model_unref (m);
}

/* S16 and gaps give exactly the samples they stand for. */
static void
test_s16_and_gap (void)
{
  clar_model *m = clar_test_small_model ();
  clar_error err;
  clar_stream *a, *b;
  int16_t *s16 = malloc (W * sizeof (int16_t));
  float *f = malloc (W * sizeof (float));
  clar_window_result ra, rb;
  size_t used;
  if (!m)
    return;
  a = clar_stream_new (m, NULL, &err);
  b = clar_stream_new (m, NULL, &err);
  for (size_t i = 0; i < W; i++) {
    s16[i] = (int16_t) ((i * 7919) % 65536 - 32768);
    f[i] = s16[i] / 32768.0f;
  }
  CHECK_EQ_INT (clar_stream_push_s16 (a, s16, W, &used), 1);
  CHECK_EQ_INT (clar_stream_push_f32 (b, f, W, &used), 1);
  CHECK_EQ_INT (clar_stream_compute (a, &ra), CLAR_OK);
  CHECK_EQ_INT (clar_stream_compute (b, &rb), CLAR_OK);
  CHECK (memcmp (ra.embedding, rb.embedding, 8 * sizeof (float)) == 0);
  CHECK (ra.rms == rb.rms);
  /* A gap of W - 100 zeros after 100 samples, against explicit zeros. */
  clar_stream_reset (a);
  clar_stream_reset (b);
  memset (f + 100, 0, (W - 100) * sizeof (float));
  CHECK_EQ_INT (clar_stream_push_f32 (a, f, 100, &used), 0);
  CHECK_EQ_INT (clar_stream_push_f32 (a, NULL, W, &used), 1);
  CHECK_EQ_INT (used, W - 100);
  CHECK_EQ_INT (clar_stream_push_f32 (b, f, W, &used), 1);
  CHECK_EQ_INT (clar_stream_compute (a, &ra), CLAR_OK);
  CHECK_EQ_INT (clar_stream_compute (b, &rb), CLAR_OK);
  CHECK (memcmp (ra.embedding, rb.embedding, 8 * sizeof (float)) == 0);
  CHECK_EQ_INT (clar_stream_push_s16 (a, NULL, 5, &used), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_stream_push_f32 (NULL, f, 5, &used), CLAR_ERR_INVALID_ARGUMENT);
  free (s16);
  free (f);
  clar_stream_free (a);
  clar_stream_free (b);
  clar_model_unref (m);
}

/* NaN/Inf windows are not encoded but still slide and count; quiet windows
 * below min_rms are silent (no encoder, no labels) with their RMS. */
static void
test_nonfinite_and_silence (void)
{
  clar_model *m = clar_test_small_model ();
  clar_error err;
  clar_stream *st;
  const size_t n = 4 * H;
  float *pcm = signal (n);
  clar_window_result r;
  size_t pos = 0, used, k = 0;
  if (!m)
    return;
  st = clar_stream_new (m, NULL, &err);
  pcm[12000] = NAN;                     /* in windows 0 and 1 */
  pcm[20000] = INFINITY;                /* in windows 1 and 2 */
  while (pos < n) {
    int ready = clar_stream_push_f32 (st, pcm + pos, n - pos, &used);
    pos += used;
    if (!ready)
      continue;
    CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_ERR_NONFINITE);
    CHECK_EQ_INT (r.index, k);
    CHECK (isnan (r.rms) && r.embedding == NULL);
    k++;
  }
  CHECK_EQ_INT (k, 3);
  /* Quiet: amplitude 1e-3 (RMS ~3.6e-4) under min_rms 0.01. */
  clar_stream_reset (st);
  clar_stream_set_options (st, 0.5, 0.01, 3, 0.0f);
  for (size_t i = 0; i < W; i++)
    pcm[i] = (float) (1e-3 * sin (i * 0.1) * (i % 2 ? 1 : 0.2));
  CHECK_EQ_INT (clar_stream_push_f32 (st, pcm, W, &used), 1);
  CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
  CHECK (r.silent && r.embedding == NULL && r.n_top == 0);
  CHECK (r.rms > 1e-4 && r.rms < 0.01);
  /* Louder than min_rms: encoded. */
  for (size_t i = 0; i < W; i++)
    pcm[i] *= 100.0f;
  clar_stream_reset (st);
  CHECK_EQ_INT (clar_stream_push_f32 (st, pcm, W, &used), 1);
  CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
  CHECK (!r.silent && r.embedding != NULL);
  free (pcm);
  clar_stream_free (st);
  clar_model_unref (m);
}

/* Frames are shared only between windows exactly one hop apart, both
 * computed: not across a skipped window, a silent one, a reset, or with a
 * hop that is not a multiple of the mel hop; each window still equals its
 * window-at-a-time embedding. */
static void
test_reuse_rules (void)
{
  clar_model *m = clar_test_small_model ();
  clar_error err;
  clar_stream_params p;
  clar_stream *st;
  clar_session *ref;
  const size_t n = 6 * H;
  float *pcm = signal (n), emb[8];
  clar_window_result r;
  uint64_t reused;
  size_t pos = 0, used, k = 0;
  if (!m)
    return;
  clar_stream_params_init (&p);
  p.hop_samples = 4000;                 /* 25 mel hops: 1 + 49 - 25 = 72 shared frames */
  st = clar_stream_new (m, &p, &err);
  ref = clar_session_new (m, &err);
  /* Windows 0..8 (start k * 4000); skip window 3. */
  while (pos < n) {
    int ready = clar_stream_push_f32 (st, pcm + pos, n - pos, &used);
    pos += used;
    if (!ready)
      continue;
    if (k == 3) {
      CHECK_EQ_INT (clar_stream_skip (st, &r), CLAR_OK);
    } else {
      CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
      CHECK_EQ_INT (clar_session_embed (ref, pcm + k * 4000, W, emb), CLAR_OK);
      CHECK_MSG (memcmp (emb, r.embedding, sizeof emb) == 0, "window %zu differs", k);
    }
    k++;
  }
  CHECK_EQ_INT (k, 9);
  /* Windows 1, 2, 5, 6, 7, 8 share with the one before; 4 follows a skip. */
  clar_stream_frame_stats (st, NULL, &reused);
  CHECK_EQ_INT (reused, 6 * 72);
  /* A hop of 4001 samples is not a whole number of mel hops: nothing shared. */
  CHECK_EQ_INT (clar_stream_set_window (st, W, 4001, &err), CLAR_OK);
  for (pos = 0, k = 0; pos < n;) {
    int ready = clar_stream_push_f32 (st, pcm + pos, n - pos, &used);
    pos += used;
    if (!ready)
      continue;
    CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
    CHECK_EQ_INT (clar_session_embed (ref, pcm + k * 4001, W, emb), CLAR_OK);
    CHECK (memcmp (emb, r.embedding, sizeof emb) == 0);
    k++;
  }
  {
    uint64_t again;
    clar_stream_frame_stats (st, NULL, &again);
    CHECK_EQ_INT (again, reused);
  }
  free (pcm);
  clar_session_free (ref);
  clar_stream_free (st);
  clar_model_unref (m);
}

/* Open set: max_similarity is the best cosine over all labels whatever
 * top_k and threshold, and a window below min_similarity is unknown. */
static void
test_open_set (void)
{
  clar_model *m = clar_test_small_model ();
  clar_error err;
  clar_stream *st;
  float *pcm = signal (W);
  clar_window_result r;
  size_t used;
  float best = -2.0f, sims[3], probs[3];
  clar_session *ref;
  float emb[8];
  if (!m)
    return;
  ref = clar_session_new (m, &err);
  reference (ref, pcm, 0, W, emb);
  clar_labels_score (clar_model_get_labels (m), emb, probs, sims);
  for (int i = 0; i < 3; i++)
    best = sims[i] > best ? sims[i] : best;
  st = clar_stream_new (m, NULL, &err);
  /* Default: the test is off (unless the default says otherwise). */
  CHECK_EQ_INT (clar_stream_push_f32 (st, pcm, W, &used), 1);
  CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
  CHECK_CLOSE (r.max_similarity, best, 1e-6);
  CHECK_EQ_INT (r.unknown, best < CLAR_STREAM_DEFAULT_MIN_SIMILARITY);
  /* Just above and just below the window's best similarity. */
  for (int below = 0; below < 2; below++) {
    clar_stream_reset (st);
    clar_stream_set_min_similarity (st, below ? best - 1e-3f : best + 1e-3f);
    CHECK_EQ_INT (clar_stream_push_f32 (st, pcm, W, &used), 1);
    CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
    CHECK_EQ_INT (r.unknown, !below);
    CHECK (r.n_top == 3);   /* the known labels stay listed */
  }
  /* top_k 0 and a threshold no label reaches: max_similarity is still the best. */
  clar_stream_reset (st);
  clar_stream_set_options (st, 0.5, 0.0, 0, 0.0f);
  CHECK_EQ_INT (clar_stream_push_f32 (st, pcm, W, &used), 1);
  CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
  CHECK (r.n_top == 0);
  CHECK_CLOSE (r.max_similarity, best, 1e-6);
  clar_stream_reset (st);
  clar_stream_set_options (st, 0.5, 0.0, 3, 1.0f);
  CHECK_EQ_INT (clar_stream_push_f32 (st, pcm, W, &used), 1);
  CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
  CHECK_CLOSE (r.max_similarity, best, 1e-6);
  /* -1 (and NaN, clamped to -1) turn the test off. */
  clar_stream_set_min_similarity (st, NAN);
  clar_stream_reset (st);
  CHECK_EQ_INT (clar_stream_push_f32 (st, pcm, W, &used), 1);
  CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
  CHECK_EQ_INT (r.unknown, 0);
  /* Silent windows and label-less streams have no similarity. */
  clar_stream_reset (st);
  clar_stream_set_options (st, 0.5, 0.99, 3, 0.0f);
  clar_stream_set_min_similarity (st, 0.5f);
  CHECK_EQ_INT (clar_stream_push_f32 (st, pcm, W, &used), 1);
  CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
  CHECK (r.silent && isnan (r.max_similarity) && !r.unknown);
  clar_stream_set_labels (st, NULL);
  clar_stream_set_options (st, 0.5, 0.0, 3, 0.0f);
  clar_stream_reset (st);
  CHECK_EQ_INT (clar_stream_push_f32 (st, pcm, W, &used), 1);
  CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
  CHECK (isnan (r.max_similarity) && !r.unknown);
  free (pcm);
  clar_session_free (ref);
  clar_stream_free (st);
  clar_model_unref (m);
}

static void
test_bad_settings (void)
{
  clar_model *m = clar_test_small_model ();
  clar_error err;
  clar_stream *st;
  clar_stream_params p;
  clar_labels *l;
  const char *names[1] = { "x" };
  float v[4] = { 1, 0, 0, 0 };
  if (!m)
    return;
  clar_stream_params_init (&p);
  p.window_samples = 100;               /* below min_samples (257) */
  CHECK (clar_stream_new (m, &p, &err) == NULL);
  CHECK_EQ_INT (err.code, CLAR_ERR_INPUT_TOO_SHORT);
  CHECK (clar_stream_new (NULL, NULL, &err) == NULL);
  CHECK (clar_stream_new_for_session (NULL, NULL, &err) == NULL);
  st = clar_stream_new (m, NULL, &err);
  CHECK_EQ_INT (clar_stream_set_window (st, CLAR_STREAM_MAX_WINDOW + 1, 0, &err),
      CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_stream_set_window (st, 0, CLAR_STREAM_MAX_WINDOW + 1, &err),
      CLAR_ERR_INVALID_ARGUMENT);
  /* The failed calls left the stream as it was. */
  CHECK_EQ_INT (clar_stream_window_samples (st), W);
  CHECK_EQ_INT (clar_stream_set_window (st, 257, 1, &err), CLAR_OK);
  l = clar_labels_new (1, 4, names, v, 10.0f, NULL);
  CHECK_EQ_INT (clar_stream_set_labels (st, l), CLAR_ERR_DIMENSION_MISMATCH);
  CHECK (clar_stream_get_labels (st) == clar_model_get_labels (m));
  CHECK_EQ_INT (clar_stream_set_labels (st, NULL), CLAR_OK);
  clar_labels_unref (l);
  /* NaN and out-of-range options are clamped, not trusted. */
  clar_stream_set_options (st, NAN, -1.0, 1u << 30, NAN);
  clar_stream_free (st);
  clar_stream_free (NULL);
  clar_model_unref (m);
}

/* Events: the stream feeds its tracker exactly the windows, scores,
 * similarities and times a caller would (a second tracker fed from
 * clar_session_embed and clar_labels_score on the same samples reports the
 * same events); silent windows score 0; flush and reset end events; the
 * tracker's hop follows the stream's. */
static int
same_event (const clar_event *a, const clar_event *b)
{
  return a->kind == b->kind && a->label == b->label && a->start_ns == b->start_ns
      && a->end_ns == b->end_ns && a->first_window == b->first_window
      && a->last_window == b->last_window && a->peak == b->peak && a->mean == b->mean;
}

static void
test_events (void)
{
  clar_model *m = clar_test_small_model ();
  clar_labels *l;
  clar_error err;
  clar_stream *st;
  clar_session *ref;
  clar_events *rt;
  clar_events_params ep;
  clar_event a, b;
  const size_t n = 91000;   /* windows at 0 .. 9 H, a padded one at 10 H (11000 samples) */
  float *pcm = signal (n), emb[8], probs[3], sims[3], win[W], on;
  float p0[11];
  size_t pos = 0, used, n_ev = 0;
  clar_window_result r;
  const double min_rms = 0.01;
  if (!m)
    return;
  l = clar_model_get_labels (m);
  /* 1.5 s of silence in the middle: windows 5..6 (2.5-4.0 s) hear none of the signal. */
  memset (pcm + 40000, 0, 24000 * sizeof (float));
  ref = clar_session_new (m, &err);
  /* Label 0's reference scores; its on threshold is their median, so that
   * it is on in some windows and off in others. */
  for (size_t k = 0; k < 11; k++) {
    size_t valid = k < 10 ? W : n - 10 * H;
    double ss = 0;
    memset (win, 0, sizeof win);
    memcpy (win, pcm + k * H, valid * sizeof (float));
    for (size_t i = 0; i < W; i++)
      ss += (double) win[i] * win[i];
    if (sqrt (ss / W) < min_rms) {
      p0[k] = 0;
      continue;
    }
    reference (ref, pcm, k * H, valid, emb);
    clar_labels_score (l, emb, probs, sims);
    p0[k] = probs[0];
  }
  {
    float sorted[11];
    memcpy (sorted, p0, sizeof sorted);
    for (int i = 0; i < 11; i++)
      for (int j = i + 1; j < 11; j++)
        if (sorted[j] < sorted[i]) {
          float t = sorted[i];
          sorted[i] = sorted[j];
          sorted[j] = t;
        }
    on = sorted[5];
  }
  clar_events_params_init (&ep);
  ep.active_db = 0;   /* the reference tracker gets whole windows */
  ep.on_threshold = on;
  ep.off_threshold = on;
  ep.unknown_similarity = 0.0f;
  {
    const char *names[3] = { clar_labels_name (l, 0), clar_labels_name (l, 1),
      clar_labels_name (l, 2) };
    st = clar_stream_new (m, NULL, &err);
    clar_stream_set_options (st, 0.5, min_rms, 3, 0.0f);
    CHECK_EQ_INT (clar_stream_set_events (st, clar_events_new (3, names, &ep, NULL)), CLAR_OK);
    CHECK_EQ_INT (clar_events_get_params (clar_stream_get_events (st))->hop_ns, 500000000);
    ep.hop_ns = 500000000;
    rt = clar_events_new (3, names, &ep, NULL);
  }
  for (uint64_t k = 0; k < 11; k++) {
    size_t valid = k < 10 ? W : n - 10 * H;
    float best = 1.0f;
    if (p0[k] == 0 && k >= 5 && k <= 6) {
      memset (probs, 0, sizeof probs);
    } else {
      reference (ref, pcm, k * H, valid, emb);
      clar_labels_score (l, emb, probs, sims);
      best = fmaxf (sims[0], fmaxf (sims[1], sims[2]));
    }
    /* The padded window ends at its last real sample. */
    CHECK_EQ_INT (clar_events_push (rt, k, (int64_t) k * 500000000, (int64_t) k * 500000000
        + (int64_t) valid * 62500, probs, best), CLAR_OK);
  }
  clar_events_flush (rt);
  while (pos < n) {
    int ready = clar_stream_push_f32 (st, pcm + pos, n - pos, &used);
    pos += used;
    if (ready == 1)
      CHECK_EQ_INT (clar_stream_compute (st, &r), CLAR_OK);
    while (clar_events_next (clar_stream_get_events (st), &a)) {
      CHECK (clar_events_next (rt, &b) && same_event (&a, &b));
      n_ev++;
    }
  }
  CHECK_EQ_INT (clar_stream_flush (st, &r), CLAR_OK);
  CHECK (r.padded);
  while (clar_events_next (clar_stream_get_events (st), &a)) {
    CHECK (clar_events_next (rt, &b) && same_event (&a, &b));
    CHECK (a.end_ns <= (int64_t) n * 62500);   /* the end of the audio */
    n_ev++;
  }
  CHECK (!clar_events_next (rt, &b));
  CHECK_MSG (n_ev >= 2, "%zu events", n_ev);   /* at least one START and its END */
  CHECK (p0[5] == 0 && p0[6] == 0);             /* the silent windows were silent */

  /* A reset ends the event in progress. */
  clar_stream_set_options (st, 0.5, 0.0, 3, 0.0f);
  clar_events_set_thresholds (clar_stream_get_events (st), 0, 0.0f, 0.0f);
  pos = 0;
  while (pos < 2 * W) {
    if (clar_stream_push_f32 (st, pcm + pos, 2 * W - pos, &used) == 1)
      clar_stream_compute (st, &r);
    pos += used;
  }
  CHECK (clar_events_next (clar_stream_get_events (st), &a) && a.kind == CLAR_EVENT_START);
  while (clar_events_next (clar_stream_get_events (st), &a))
    ;
  clar_stream_reset (st);
  CHECK (clar_events_next (clar_stream_get_events (st), &a) && a.kind == CLAR_EVENT_END
      && a.label == 0);
  /* The tracker follows the hop. */
  CHECK_EQ_INT (clar_stream_set_window (st, W, 4000, &err), CLAR_OK);
  CHECK_EQ_INT (clar_events_get_params (clar_stream_get_events (st))->hop_ns, 250000000);
  /* Label sets and trackers must agree in size. */
  {
    const char *two[2] = { "x", "y" };
    float v[16] = { 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
    clar_labels *l2 = clar_labels_new (2, 8, two, v, 10.0f, NULL);
    CHECK_EQ_INT (clar_stream_set_labels (st, l2), CLAR_ERR_DIMENSION_MISMATCH);
    CHECK_EQ_INT (clar_stream_set_labels (st, NULL), CLAR_ERR_DIMENSION_MISMATCH);
    CHECK_EQ_INT (clar_stream_set_events (st, clar_events_new (2, two, NULL, NULL)),
        CLAR_ERR_DIMENSION_MISMATCH);   /* freed by the stream */
    CHECK (clar_stream_get_events (st) != NULL);   /* the old one stays */
    CHECK_EQ_INT (clar_stream_set_events (st, NULL), CLAR_OK);
    CHECK_EQ_INT (clar_stream_set_labels (st, l2), CLAR_OK);
    CHECK_EQ_INT (clar_stream_set_events (st, clar_events_new (2, two, NULL, NULL)), CLAR_OK);
    clar_labels_unref (l2);
  }
  CHECK_EQ_INT (clar_stream_set_events (NULL, NULL), CLAR_ERR_INVALID_ARGUMENT);
  clar_events_free (rt);
  clar_session_free (ref);
  clar_stream_free (st);
  free (pcm);
  clar_model_unref (m);
}

/* Active spans: a 0.3 s burst at [1.2, 1.5) s in faint noise is placed
 * exactly (frames of 10 ms) instead of on the cells of its windows. The
 * windows without it are silent (min_rms) and score 0; on thresholds just
 * above 0 make every label an event exactly where the burst is heard. The
 * burst has an 80 ms hole (bridged: one sound), and a 20 ms click 0.35 s
 * after it (another sound, too faint to make its own window loud) must not
 * stretch the span to it. */
static void
test_events_active_span (void)
{
  clar_model *m = clar_test_small_model ();
  clar_labels *l;
  clar_error err;
  const size_t n = 48000;
  float *pcm = malloc (n * sizeof (float));
  uint32_t x = 12345;
  if (!m)
    return;
  l = clar_model_get_labels (m);
  for (size_t i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    pcm[i] = 1e-4f * ((float) (x >> 8) / 16777216.0f - 0.5f);
    if (i >= 19200 && i < 24000 && !(i >= 20800 && i < 22080))
      pcm[i] += 0.3f * (float) sin (6.283185307179586 * 440.0 * i / 16000.0);
    if (i >= 29600 && i < 29920)
      pcm[i] += 0.05f * (float) sin (6.283185307179586 * 1000.0 * i / 16000.0);
  }
  for (int pass = 0; pass < 2; pass++) {
    const char *names[3] = { clar_labels_name (l, 0), clar_labels_name (l, 1),
      clar_labels_name (l, 2) };
    clar_events_params ep;
    clar_stream *st = clar_stream_new (m, NULL, &err);
    clar_window_result r;
    clar_event ev;
    size_t pos = 0, used, ends = 0;
    clar_events_params_init (&ep);
    ep.on_threshold = ep.off_threshold = 1e-12f;
    ep.active_db = pass == 0 ? 10.0f : 0.0f;
    clar_stream_set_options (st, 0.5, 0.01, 3, 0.0f);
    CHECK_EQ_INT (clar_stream_set_events (st, clar_events_new (3, names, &ep, NULL)), CLAR_OK);
    while (pos < n) {
      if (clar_stream_push_f32 (st, pcm + pos, n - pos, &used) == 1)
        clar_stream_compute (st, &r);
      pos += used;
    }
    clar_stream_flush (st, &r);
    while (clar_events_next (clar_stream_get_events (st), &ev)) {
      if (ev.kind != CLAR_EVENT_END)
        continue;
      ends++;
      /* Windows at 0.5 s and 1.0 s hear it. Active spans: [1.2, 1.5);
       * cells alone: [0.75, 1.75). */
      CHECK_EQ_INT (ev.first_window, 1);
      CHECK_EQ_INT (ev.last_window, 2);
      CHECK_EQ_INT (ev.start_ns, pass == 0 ? 1200000000 : 750000000);
      CHECK_EQ_INT (ev.end_ns, pass == 0 ? 1500000000 : 1750000000);
    }
    CHECK_EQ_INT (ends, 3);
    clar_stream_free (st);
  }
  free (pcm);
  clar_model_unref (m);
}

int
main (void)
{
  CLAR_TEST_RUN (test_windows);
  CLAR_TEST_RUN (test_hop_gap_skip);
  CLAR_TEST_RUN (test_s16_and_gap);
  CLAR_TEST_RUN (test_nonfinite_and_silence);
  CLAR_TEST_RUN (test_reuse_rules);
  CLAR_TEST_RUN (test_bad_settings);
  CLAR_TEST_RUN (test_open_set);
  CLAR_TEST_RUN (test_events);
  CLAR_TEST_RUN (test_events_active_span);
  CLAR_TEST_EXIT ();
}
