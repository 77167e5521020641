/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Windows of many streams in one encoder call (clar/batcher.h). The
 * threads that submit windows take turns running the encoder: the one
 * that fills a batch, or the first one in it when its wait runs out,
 * encodes it for all ("flat combining": Hendler, Incze, Shavit, Tzafrir,
 * "Flat combining and the synchronization-parallelism tradeoff", SPAA 2010),
 * so a batch costs no thread hand-off when it fills. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <clar/batcher.h>
#include "model-private.h"

enum { BATCH_OPEN, BATCH_RUNNING, BATCH_DONE };

typedef struct batch {
  clar_session *session;   /* the encoder's buffers for this batch */
  float *mel, *out;        /* n windows of M x n_frames, n x D */
  size_t mel_cap, out_cap;
  size_t n, n_frames;
  int state, rc;
  size_t pending;          /* submitters that have not read their result */
  uint64_t t_run;          /* when the encoder call started */
  pthread_cond_t cond;     /* state changes, new windows */
  struct batch *next;      /* free list */
} batch;

struct clar_batcher {
  pthread_mutex_t lock;
  int refcount;
  clar_model *model;
  size_t max_batch, M, D;
  size_t members;
  batch *open;             /* accepting windows, or NULL */
  batch *free_list;
  uint64_t calls, windows;
};

static uint64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

clar_batcher *
clar_batcher_new (clar_model *model, size_t max_batch, clar_error *err)
{
  clar_batcher *b;
  if (!model) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_batcher_new: NULL model");
    return NULL;
  }
  if (max_batch < 1 || max_batch > CLAR_BATCHER_MAX_BATCH) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "batch of at most %zu windows: 1 to %d",
        max_batch, CLAR_BATCHER_MAX_BATCH);
    return NULL;
  }
  if (!(b = calloc (1, sizeof *b))) {
    clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    return NULL;
  }
  pthread_mutex_init (&b->lock, NULL);
  b->refcount = 1;
  b->model = clar_model_ref (model);
  b->max_batch = max_batch;
  b->M = (size_t) model->info.mel.n_mels;
  b->D = model->info.embedding_dim;
  return b;
}

clar_batcher *
clar_batcher_ref (clar_batcher *b)
{
  if (b) {
    pthread_mutex_lock (&b->lock);
    b->refcount++;
    pthread_mutex_unlock (&b->lock);
  }
  return b;
}

static void
batch_free (batch *bt)
{
  clar_session_free (bt->session);
  free (bt->mel);
  free (bt->out);
  pthread_cond_destroy (&bt->cond);
  free (bt);
}

void
clar_batcher_unref (clar_batcher *b)
{
  int last;
  if (!b)
    return;
  pthread_mutex_lock (&b->lock);
  last = --b->refcount == 0;
  pthread_mutex_unlock (&b->lock);
  if (!last)
    return;
  while (b->free_list) {
    batch *n = b->free_list->next;
    batch_free (b->free_list);
    b->free_list = n;
  }
  clar_model_unref (b->model);
  pthread_mutex_destroy (&b->lock);
  free (b);
}

clar_model *
clar_batcher_get_model (const clar_batcher *b)
{
  return b ? b->model : NULL;
}

size_t
clar_batcher_max_batch (const clar_batcher *b)
{
  return b ? b->max_batch : 0;
}

void
clar_batcher_join (clar_batcher *b)
{
  if (!b)
    return;
  pthread_mutex_lock (&b->lock);
  b->members++;
  pthread_mutex_unlock (&b->lock);
}

void
clar_batcher_leave (clar_batcher *b)
{
  if (!b)
    return;
  pthread_mutex_lock (&b->lock);
  if (b->members > 0)
    b->members--;
  /* The open batch may now hold a window of every member left. */
  if (b->open)
    pthread_cond_broadcast (&b->open->cond);
  pthread_mutex_unlock (&b->lock);
}

void
clar_batcher_stats (clar_batcher *b, uint64_t *calls, uint64_t *windows)
{
  if (b)
    pthread_mutex_lock (&b->lock);
  if (calls)
    *calls = b ? b->calls : 0;
  if (windows)
    *windows = b ? b->windows : 0;
  if (b)
    pthread_mutex_unlock (&b->lock);
}

/* A batch for windows of T frames, from the free list or new; NULL when out
 * of memory. Called with the lock held. */
static batch *
take_batch (clar_batcher *b, size_t T)
{
  batch *bt = b->free_list;
  size_t need = b->max_batch * b->M * T;
  if (bt) {
    b->free_list = bt->next;
  } else {
    pthread_condattr_t ca;
    if (!(bt = calloc (1, sizeof *bt)))
      return NULL;
    if (!(bt->session = clar_session_new (b->model, NULL))) {
      free (bt);
      return NULL;
    }
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&bt->cond, &ca);
    pthread_condattr_destroy (&ca);
  }
  if (clar_grow_floats (&bt->mel, &bt->mel_cap, need)
      || clar_grow_floats (&bt->out, &bt->out_cap, b->max_batch * b->D)) {
    bt->next = b->free_list;
    b->free_list = bt;
    return NULL;
  }
  bt->n = 0;
  bt->n_frames = T;
  bt->state = BATCH_OPEN;
  bt->rc = CLAR_OK;
  bt->pending = 0;
  bt->next = NULL;
  return bt;
}

/* Closes bt (if still open) and encodes it; called with the lock held,
 * which is released during the encoder call. */
static void
run_batch (clar_batcher *b, batch *bt)
{
  if (b->open == bt)
    b->open = NULL;
  bt->state = BATCH_RUNNING;
  bt->t_run = now_ns ();
  pthread_mutex_unlock (&b->lock);
  bt->rc = clar_session_encode_batch (bt->session, bt->mel, bt->n, bt->n_frames, bt->out);
  pthread_mutex_lock (&b->lock);
  b->calls++;
  b->windows += bt->n;
  bt->state = BATCH_DONE;
  pthread_cond_broadcast (&bt->cond);
}

static int
batch_closes (const clar_batcher *b, const batch *bt)
{
  return bt->n >= b->max_batch || bt->n >= b->members;
}

int
clar_batcher_encode (clar_batcher *b, const float *mel, size_t n_frames, uint64_t max_wait_ns,
                     float *embedding, size_t *batch_size, uint64_t *wait_ns)
{
  const uint64_t t0 = now_ns ();
  batch *bt;
  size_t slot, MT;
  int leader = 0, rc;
  if (!b || !mel || !embedding || !n_frames)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (max_wait_ns > CLAR_BATCHER_MAX_WAIT_NS)
    max_wait_ns = CLAR_BATCHER_MAX_WAIT_NS;
  MT = b->M * n_frames;
  /* A NaN would fail the whole batch's call: refuse it here, for this
   * window only. */
  for (size_t i = 0; i < MT; i++)
    if (!isfinite (mel[i]))
      return CLAR_ERR_NONFINITE;
  pthread_mutex_lock (&b->lock);
  bt = b->open;
  if (bt && bt->n_frames != n_frames) {
    /* Another length: encoded alone (the open batch goes on). */
    if (!(bt = take_batch (b, n_frames))) {
      pthread_mutex_unlock (&b->lock);
      return CLAR_ERR_NO_MEMORY;
    }
    leader = 1;
  } else if (!bt) {
    if (!(bt = take_batch (b, n_frames))) {
      pthread_mutex_unlock (&b->lock);
      return CLAR_ERR_NO_MEMORY;
    }
    b->open = bt;
    leader = 1;
  }
  slot = bt->n++;
  bt->pending++;
  memcpy (bt->mel + slot * MT, mel, MT * sizeof (float));
  if (b->open != bt || batch_closes (b, bt)) {
    run_batch (b, bt);
  } else if (leader) {
    /* The first window waits for the others, at most max_wait_ns. */
    struct timespec dl;
    uint64_t deadline = t0 + max_wait_ns;
    dl.tv_sec = (time_t) (deadline / 1000000000u);
    dl.tv_nsec = (long) (deadline % 1000000000u);
    while (bt->state == BATCH_OPEN) {
      if (batch_closes (b, bt)
          || pthread_cond_timedwait (&bt->cond, &b->lock, &dl) == ETIMEDOUT) {
        if (bt->state == BATCH_OPEN)
          run_batch (b, bt);
        break;
      }
    }
  } else {
    /* Wake the leader: the batch may close now that this window is in. */
    pthread_cond_broadcast (&bt->cond);
  }
  while (bt->state != BATCH_DONE)
    pthread_cond_wait (&bt->cond, &b->lock);
  rc = bt->rc;
  {
    const float *e = bt->out + slot * b->D;
    if (rc == CLAR_ERR_NONFINITE) {
      /* Some window of the batch overflowed: this one is good if finite
       * (clar_session_encode_batch normalised it). */
      rc = CLAR_OK;
      for (size_t i = 0; i < b->D; i++)
        if (!isfinite (e[i]))
          rc = CLAR_ERR_NONFINITE;
    }
    memcpy (embedding, e, b->D * sizeof (float));
  }
  if (batch_size)
    *batch_size = bt->n;
  if (wait_ns)
    *wait_ns = bt->t_run > t0 ? bt->t_run - t0 : 0;
  if (--bt->pending == 0) {
    bt->next = b->free_list;
    b->free_list = bt;
  }
  pthread_mutex_unlock (&b->lock);
  return rc;
}
