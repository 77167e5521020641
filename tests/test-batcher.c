/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Many streams, one encoder call: clar_session_encode_batch against
 * clar_session_encode on the shipped encoder (libclar's kernels and the
 * BLAS path), and clar_batcher through clar_stream: streams in threads get
 * the embeddings they get alone, in batches, and a window waits no longer
 * than its bound (a lone member not at all). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <clar/clar.h>
#include "clar-test.h"
#include "convkernel.h"
#include "model-private.h"

#include "clar-test-model.h"

static clar_model *model;
static char model_path[4096];

static float *
noise (size_t n, unsigned seed)
{
  float *x = malloc (n * sizeof (float));
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = 0.2f * sinf (0.01f * (float) (i % 9973) * (float) (1 + seed % 3))
        + 0.1f * ((float) (seed >> 8) / 16777216.0f - 0.5f);
  }
  return x;
}

static double
max_abs_diff (const float *a, const float *b, size_t n)
{
  double m = 0;
  for (size_t i = 0; i < n; i++)
    if (fabs ((double) a[i] - b[i]) > m)
      m = fabs ((double) a[i] - b[i]);
  return m;
}

/* Batches of 1, 2, 5 and 16 windows of real log-mel give each window's
 * batch-1 embedding: bit-identical on libclar's kernels, within 1e-5 on
 * the BLAS path. */
static void
test_encode_batch (void)
{
  const clar_model_info *info = clar_model_get_info (model);
  const size_t D = info->embedding_dim, ws = info->window_samples;
  clar_error err;
  clar_session *s = clar_session_new (model, &err);
  size_t T = clar_session_n_frames (s, ws), MT = (size_t) info->mel.n_mels * T;
  static const size_t sizes[] = { 1, 2, 5, 16 };
  float *pcm = noise (16 * ws, 7), *mel = malloc (16 * MT * sizeof (float));
  float *one = malloc (16 * D * sizeof (float)), *bat = malloc (16 * D * sizeof (float));
  for (size_t n = 0; n < 16; n++)
    CHECK (clar_session_pcm_to_mel (s, pcm + n * ws, ws, mel + n * MT, T) == CLAR_OK);
  /* The active kernel, then AVX2 (when the CPU has it and it is not the
   * active one), then the BLAS path. */
  for (int pass = 0; pass < 3; pass++) {
    clar_kernel_kind k = clar_kernel_active (), old = k;
    if (pass == 1) {
      if (k == CLAR_KERNEL_AVX2 || !clar_kernel_supported (CLAR_KERNEL_AVX2))
        continue;
      old = clar_kernel_force (k = CLAR_KERNEL_AVX2);
    } else if (pass == 2) {
      old = clar_kernel_force (k = CLAR_KERNEL_BLAS);
    }
    for (size_t n = 0; n < 16; n++)
      CHECK (clar_session_encode (s, mel + n * MT, T, one + n * D) == CLAR_OK);
    for (size_t q = 0; q < sizeof sizes / sizeof sizes[0]; q++) {
      double d;
      memset (bat, 0, 16 * D * sizeof (float));
      CHECK (clar_session_encode_batch (s, mel, sizes[q], T, bat) == CLAR_OK);
      d = max_abs_diff (one, bat, sizes[q] * D);
      printf ("kernel %s, batch %zu: max abs diff to batch 1 %.3g\n", clar_kernel_name (k),
          sizes[q], d);
      CHECK_MSG (d <= 1e-5, "batch %zu on %s: %g", sizes[q], clar_kernel_name (k), d);
      if (k != CLAR_KERNEL_BLAS)
        CHECK_MSG (d == 0.0, "batch %zu on %s: not bit-identical (%g)", sizes[q],
            clar_kernel_name (k), d);
    }
    /* After a batch of 16, batch 1 on the same session still gives it. */
    CHECK (clar_session_encode (s, mel + 3 * MT, T, bat) == CLAR_OK);
    CHECK (max_abs_diff (bat, one + 3 * D, D) == 0.0);
    if (pass > 0)
      clar_kernel_force (old);
  }
  /* Bad arguments: batch 0 or above the limit; NaN in one input. */
  CHECK (clar_session_encode_batch (s, mel, 0, T, bat) == CLAR_ERR_INVALID_ARGUMENT);
  CHECK (clar_session_encode_batch (s, mel, CLAR_SESSION_MAX_BATCH + 1, T, bat)
      == CLAR_ERR_INVALID_ARGUMENT);
  CHECK (clar_session_encode_batch (NULL, mel, 1, T, bat) == CLAR_ERR_INVALID_ARGUMENT);
  mel[MT + 17] = NAN;
  CHECK (clar_session_encode_batch (s, mel, 2, T, bat) == CLAR_ERR_NONFINITE);
  free (pcm); free (mel); free (one); free (bat);
  clar_session_free (s);
}

/* The side-by-side path (the tiny encoder, whose activations fit the
 * chunk budget): bit-identical to batch 1 as well. */
static void
test_encode_batch_side_by_side (void)
{
  clar_model *m = clar_test_small_model ();
  clar_session *s = clar_session_new (m, NULL);
  const size_t ws = 4000, D = 8;   /* 26 frames: about 9k floats per window, 7 side by side */
  size_t T = clar_session_n_frames (s, ws), MT = 64 * T;
  float *pcm = noise (7 * ws, 11), *mel = malloc (7 * MT * sizeof (float));
  float one[7 * 8], bat[7 * 8];
  for (size_t n = 0; n < 7; n++) {
    CHECK (clar_session_pcm_to_mel (s, pcm + n * ws, ws, mel + n * MT, T) == CLAR_OK);
    CHECK (clar_session_encode (s, mel + n * MT, T, one + n * D) == CLAR_OK);
  }
  CHECK (clar_session_encode_batch (s, mel, 7, T, bat) == CLAR_OK);
  CHECK_MSG (max_abs_diff (one, bat, 7 * D) == 0.0, "tiny encoder, batch 7: %g",
      max_abs_diff (one, bat, 7 * D));
  free (pcm); free (mel);
  clar_session_free (s);
  clar_model_unref (m);
}

/* Each thread runs one stream over its own audio; the embeddings are kept. */
typedef struct {
  clar_batcher *b;
  uint64_t wait_ns;
  const float *pcm;
  size_t n;
  float *emb;           /* windows x D */
  size_t *bsize;        /* per window */
  uint64_t *bwait;
  size_t windows;
  pthread_barrier_t *start;
  int rc;
} worker;

static void *
run_worker (void *p)
{
  worker *w = p;
  const clar_model_info *info = clar_model_get_info (model);
  clar_stream_params sp;
  clar_stream *st;
  size_t pos = 0, used;
  clar_stream_params_init (&sp);
  sp.hop_samples = info->window_samples / 2;
  st = clar_stream_new (model, &sp, NULL);
  if (!st) {
    w->rc = -1;
    return NULL;
  }
  if (w->b)
    w->rc = clar_stream_set_batcher (st, w->b, w->wait_ns);
  if (w->start)
    pthread_barrier_wait (w->start);
  while (pos < w->n && w->rc == 0) {
    /* 10 ms chunks, as the element gets them */
    size_t chunk = w->n - pos < 160 ? w->n - pos : 160;
    int ready = clar_stream_push_f32 (st, w->pcm + pos, chunk, &used);
    pos += used;
    if (ready == 1) {
      clar_window_result r;
      if ((w->rc = clar_stream_compute (st, &r)) != CLAR_OK)
        break;
      memcpy (w->emb + w->windows * r.embedding_dim, r.embedding,
          r.embedding_dim * sizeof (float));
      w->bsize[w->windows] = r.batch_size;
      w->bwait[w->windows] = r.batch_wait_ns;
      w->windows++;
    }
  }
  clar_stream_free (st);    /* leaves the batcher */
  return NULL;
}

#define NT 4
#define SECS 3

/* Four streams in four threads, one batcher (at most 4 windows, wait 10 s):
 * every member submits each window, so every batch holds 4 windows and
 * closes when the fourth arrives (a 10 s wait would show); embeddings are
 * those of the same streams without a batcher. */
static void
test_streams_in_threads (void)
{
  const clar_model_info *info = clar_model_get_info (model);
  const size_t D = info->embedding_dim, n = SECS * (size_t) info->mel.sample_rate;
  const size_t maxw = 2 * SECS;
  worker w[NT], ref[NT];
  pthread_t th[NT];
  pthread_barrier_t bar;
  clar_error err;
  clar_batcher *b = clar_batcher_new (model, 4, &err);
  float *pcm[NT];
  uint64_t calls, windows;
  CHECK (b != NULL);
  pthread_barrier_init (&bar, NULL, NT);
  memset (w, 0, sizeof w);
  memset (ref, 0, sizeof ref);
  for (int k = 0; k < NT; k++) {
    pcm[k] = noise (n, 100 + k);
    for (int v = 0; v < 2; v++) {
      worker *x = v ? &ref[k] : &w[k];
      x->b = v ? NULL : b;
      x->wait_ns = (uint64_t) 10 * 1000000000u;
      x->pcm = pcm[k];
      x->n = n;
      x->emb = calloc (maxw * D, sizeof (float));
      x->bsize = calloc (maxw, sizeof (size_t));
      x->bwait = calloc (maxw, sizeof (uint64_t));
      x->start = v ? NULL : &bar;
    }
  }
  for (int k = 0; k < NT; k++)
    pthread_create (&th[k], NULL, run_worker, &w[k]);
  for (int k = 0; k < NT; k++)
    pthread_join (th[k], NULL);
  for (int k = 0; k < NT; k++)
    run_worker (&ref[k]);
  clar_batcher_stats (b, &calls, &windows);
  printf ("4 streams: %llu windows in %llu encoder calls\n", (unsigned long long) windows,
      (unsigned long long) calls);
  CHECK_EQ_INT (windows, NT * ref[0].windows);
  CHECK_EQ_INT (calls, ref[0].windows);
  for (int k = 0; k < NT; k++) {
    double d;
    CHECK_EQ_INT (w[k].rc, 0);
    CHECK_EQ_INT (w[k].windows, ref[k].windows);
    CHECK (ref[k].windows >= 5);
    d = max_abs_diff (w[k].emb, ref[k].emb, ref[k].windows * D);
    CHECK_MSG (d <= 1e-5, "stream %d: batched embeddings differ by %g", k, d);
    for (size_t i = 0; i < w[k].windows; i++) {
      CHECK_EQ_INT (w[k].bsize[i], NT);
      CHECK_EQ_INT (ref[k].bsize[i], 1);
      CHECK_EQ_INT (ref[k].bwait[i], 0);
      CHECK_MSG (w[k].bwait[i] < (uint64_t) 5 * 1000000000u, "stream %d window %zu waited %g s",
          k, i, w[k].bwait[i] * 1e-9);
    }
  }
  for (int k = 0; k < NT; k++) {
    free (pcm[k]);
    for (int v = 0; v < 2; v++) {
      worker *x = v ? &ref[k] : &w[k];
      free (x->emb); free (x->bsize); free (x->bwait);
    }
  }
  pthread_barrier_destroy (&bar);
  clar_batcher_unref (b);
}

/* The waits: a lone member does not wait (its bound is 10 s); two members
 * served by one thread wait their bound (50 ms) and are encoded alone; the
 * bound is cut to one hop; a member leaving releases a waiting window. */
static void *
leave_later (void *p)
{
  clar_stream *c = p;        /* not in use by the main thread meanwhile */
  struct timespec ts = { 0, 100 * 1000000 };
  nanosleep (&ts, NULL);
  clar_stream_set_batcher (c, NULL, 0);
  return NULL;
}

static void
test_waits (void)
{
  const clar_model_info *info = clar_model_get_info (model);
  const size_t ws = info->window_samples;
  float *pcm = noise (ws, 3);
  clar_error err;
  clar_batcher *b = clar_batcher_new (model, 8, &err);
  clar_stream *a = clar_stream_new (model, NULL, &err), *c = clar_stream_new (model, NULL, &err);
  clar_window_result r;
  size_t used;
  clar_model *other = NULL;
  uint64_t ten_s = (uint64_t) 10 * 1000000000u;

  CHECK (clar_stream_set_batcher (a, b, ten_s) == CLAR_OK);
  CHECK (clar_stream_get_batcher (a) == b);
  CHECK (clar_stream_push_f32 (a, pcm, ws, &used) == 1);
  CHECK (clar_stream_compute (a, &r) == CLAR_OK);
  CHECK_EQ_INT (r.batch_size, 1);
  CHECK_MSG (r.batch_wait_ns < ten_s / 10, "lone member waited %g s", r.batch_wait_ns * 1e-9);

  CHECK (clar_stream_set_batcher (a, b, 50 * 1000000u) == CLAR_OK);   /* rejoins */
  CHECK (clar_stream_set_batcher (c, b, 50 * 1000000u) == CLAR_OK);
  CHECK (clar_stream_set_window (a, ws, ws, NULL) == CLAR_OK);
  CHECK (clar_stream_push_f32 (a, pcm, ws, &used) == 1);
  CHECK (clar_stream_compute (a, &r) == CLAR_OK);
  CHECK_EQ_INT (r.batch_size, 1);
  CHECK_MSG (r.batch_wait_ns >= 50 * 1000000u && r.batch_wait_ns < ten_s / 2,
      "waited %g s for a bound of 0.05 s", r.batch_wait_ns * 1e-9);

  /* Bound 10 s, hop 0.2 s: the window waits about one hop. */
  CHECK (clar_stream_set_batcher (a, b, ten_s) == CLAR_OK);
  CHECK (clar_stream_set_window (a, ws, ws / 5, NULL) == CLAR_OK);
  CHECK (clar_stream_push_f32 (a, pcm, ws, &used) == 1);
  CHECK (clar_stream_compute (a, &r) == CLAR_OK);
  CHECK_MSG (r.batch_wait_ns >= 200 * 1000000u && r.batch_wait_ns < ten_s / 2,
      "waited %g s for a hop of 0.2 s", r.batch_wait_ns * 1e-9);

  /* c leaves 0.1 s into a's wait of up to 1 s: a goes on then, alone. */
  {
    pthread_t th;
    CHECK (clar_stream_set_window (a, ws, ws, NULL) == CLAR_OK);
    CHECK (clar_stream_set_batcher (a, b, 1000 * 1000000u) == CLAR_OK);
    CHECK (clar_stream_push_f32 (a, pcm, ws, &used) == 1);
    pthread_create (&th, NULL, leave_later, c);
    CHECK (clar_stream_compute (a, &r) == CLAR_OK);
    pthread_join (th, NULL);
    CHECK_EQ_INT (r.batch_size, 1);
    /* The 0.1 s count from before the compute (log-mel first, slow under
     * sanitizers), the wait from the window's submission. */
    CHECK_MSG (r.batch_wait_ns >= 50 * 1000000u && r.batch_wait_ns < 900 * 1000000u,
        "waited %g s; the other member left after 0.1 s", r.batch_wait_ns * 1e-9);
    CHECK (clar_stream_get_batcher (c) == NULL);
  }

  /* Another model's batcher is refused (the same file loaded again is
   * another model object); bad limits. */
  if (clar_model_load_file (model_path, &other, NULL) == CLAR_OK) {
    clar_batcher *o = clar_batcher_new (other, 2, NULL);
    CHECK (clar_stream_set_batcher (a, o, 0) == CLAR_ERR_INVALID_ARGUMENT);
    clar_batcher_unref (o);
    clar_model_unref (other);
  }
  CHECK (clar_batcher_new (model, 0, &err) == NULL && err.code == CLAR_ERR_INVALID_ARGUMENT);
  CHECK (clar_batcher_new (model, CLAR_BATCHER_MAX_BATCH + 1, &err) == NULL);
  CHECK (clar_batcher_new (NULL, 4, &err) == NULL);
  {
    float e[256];
    float *mel = calloc ((size_t) info->mel.n_mels * 101, sizeof (float));
    mel[5] = INFINITY;
    CHECK (clar_batcher_encode (b, mel, 101, 0, e, NULL, NULL) == CLAR_ERR_NONFINITE);
    free (mel);
  }
  clar_stream_set_batcher (a, NULL, 0);
  CHECK (clar_stream_get_batcher (a) == NULL);
  clar_stream_free (a);
  clar_stream_free (c);
  clar_batcher_unref (b);
  free (pcm);
}

int
main (void)
{
  const char *root = getenv ("CLAR_SOURCE_ROOT");
  char *path = model_path;
  clar_error err;
  snprintf (path, sizeof model_path, "%s/models/clar-default.safetensors", root ? root : ".");
  if (clar_model_load_file (path, &model, &err) != CLAR_OK) {
    fprintf (stderr, "%s: %s\n", path, err.message);
    return 1;
  }
  CLAR_TEST_RUN (test_encode_batch);
  CLAR_TEST_RUN (test_encode_batch_side_by_side);
  CLAR_TEST_RUN (test_streams_in_threads);
  CLAR_TEST_RUN (test_waits);
  clar_model_unref (model);
  CLAR_TEST_EXIT ();
}
