/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Inference session: log-mel front end + encoder forward pass. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <clar/session.h>
#include "convkernel.h"
#include "layers.h"
#include "model-private.h"
#include "stream-private.h"

struct clar_session {
  clar_model *model;
  clar_mel *mel;
  clar_shape *shapes;    /* per layer, for the current frame count */
  size_t frames_sized;   /* frame count the buffers below are sized for */
  size_t batch_sized;    /* and batch (activations hold that many samples) */
  size_t sample_floats;  /* largest activation or kernel scratch of one sample */
  float *act[2];         /* ping-pong activations */
  float *scratch;        /* im2col */
  float *melbuf;         /* for clar_session_embed */
  size_t act_cap, scratch_cap, melbuf_cap;
  /* One buffer per residual nesting level. residual_begin swaps the buffer
   * holding the activation with the free one of its level instead of
   * copying it; every buffer of act[] and skipbuf[] holds act_cap floats. */
  float *skipbuf[CLAR_RESIDUAL_MAX_DEPTH];
  int skip_depth;        /* deepest residual nesting of the layer list */
};

/* Sizes the activation buffers for a batch of B inputs of n_frames. */
static int
prepare (clar_session *s, size_t n_frames, size_t B, clar_error *err)
{
  const clar_model *m = s->model;
  clar_shape in = { 1, m->info.mel.n_mels, (int) n_frames, 0 };
  size_t act = (size_t) in.c * in.h * in.w, scratch = 1;
  int rc, depth = 0, max_depth = 0;
  if (n_frames == s->frames_sized && B <= s->batch_sized)
    return CLAR_OK;
  if (B < 1 || B > CLAR_SESSION_MAX_BATCH)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "batch of %zu: 1 to %d", B,
        CLAR_SESSION_MAX_BATCH);
  if (n_frames > (1u << 22))
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "%zu frames is too many", n_frames);
  if (n_frames == s->frames_sized && s->batch_sized > B)
    B = s->batch_sized;        /* the buffers only grow */
  rc = clar_layers_infer_shapes (m->layers, m->n_layers, in, s->shapes);
  if (rc == CLAR_ERR_INPUT_TOO_SHORT)
    return clar_set_error (err, rc, "%zu frames are too few for the encoder's pooling (needs %zu samples)",
        n_frames, m->info.min_samples);
  if (rc != CLAR_OK)
    return clar_set_error (err, rc, "layer shapes do not chain");
  for (size_t i = 0; i < m->n_layers; i++) {
    const clar_shape *sh = &s->shapes[i];
    const clar_shape *prev = i ? &s->shapes[i - 1] : &in;
    size_t n = (size_t) sh->c * sh->h * sh->w;
    if (n > act)
      act = n;
    if (m->layers[i].op == CLAR_OP_RESIDUAL_BEGIN && ++depth > max_depth)
      max_depth = depth;
    else if (m->layers[i].op == CLAR_OP_RESIDUAL_ADD)
      depth--;
    if (m->layers[i].op == CLAR_OP_CONV2D) {
      size_t cols = (size_t) prev->c * m->layers[i].kernel * m->layers[i].kernel * sh->h * sh->w;
      size_t direct = clar_conv2d_direct_scratch ((int) B, prev->c, prev->h, prev->w,
          m->layers[i].out, m->layers[i].kernel, m->layers[i].pad);
      if (cols > scratch)
        scratch = cols;
      if (direct > scratch)
        scratch = direct;
    }
  }
  /* The direct kernels index the padded input with an int. */
  s->sample_floats = (act > scratch / B ? act : scratch / B);
  if (scratch > (size_t) INT_MAX || act > ((size_t) 1 << 40) / B)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "%zu frames x batch %zu is too big",
        n_frames, B);
  act *= B;
  /* Every activation buffer (the ping-pong pair and one per residual level,
   * swapped among themselves while encoding) holds act_cap floats; they are
   * scratch, so growing them drops their content. */
  if (act > s->act_cap || max_depth > s->skip_depth) {
    const size_t cap = act > s->act_cap ? act : s->act_cap;
    s->act_cap = 0;
    for (int k = 0; k < 2; k++)
      if (clar_alloc_floats_aligned (&s->act[k], cap))
        return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory for activations");
    for (int d = 0; d < max_depth; d++)
      if (clar_alloc_floats_aligned (&s->skipbuf[d], cap))
        return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory for activations");
    s->act_cap = cap;
    s->skip_depth = max_depth;
  }
  if (scratch > s->scratch_cap) {
    s->scratch_cap = 0;
    if (clar_alloc_floats_aligned (&s->scratch, scratch))
      return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory for activations");
    s->scratch_cap = scratch;
  }
  s->frames_sized = n_frames;
  s->batch_sized = B;
  return CLAR_OK;
}

clar_session *
clar_session_new (clar_model *model, clar_error *err)
{
  clar_session *s;
  if (!model) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_session_new: NULL model");
    return NULL;
  }
  s = calloc (1, sizeof *s);
  if (!s || !(s->shapes = calloc (model->n_layers, sizeof *s->shapes))) {
    free (s);
    clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    return NULL;
  }
  s->model = clar_model_ref (model);
  s->mel = clar_mel_new (&model->info.mel, model->mel_filterbank, err);
  if (!s->mel
      || prepare (s, clar_mel_n_frames (&model->info.mel, model->info.window_samples), 1, err)
      != CLAR_OK) {
    clar_session_free (s);
    return NULL;
  }
  return s;
}

void
clar_session_free (clar_session *s)
{
  if (!s)
    return;
  clar_mel_free (s->mel);
  clar_model_unref (s->model);
  free (s->shapes);
  free (s->act[0]);
  free (s->act[1]);
  free (s->scratch);
  free (s->melbuf);
  for (int d = 0; d < CLAR_RESIDUAL_MAX_DEPTH; d++)
    free (s->skipbuf[d]);
  free (s);
}

clar_model *
clar_session_get_model (const clar_session *s)
{
  return s ? s->model : NULL;
}

clar_mel *
clar_session_mel (clar_session *s)
{
  return s ? s->mel : NULL;
}

size_t
clar_session_n_frames (const clar_session *s, size_t n_samples)
{
  return s ? clar_mel_n_frames (&s->model->info.mel, n_samples) : 0;
}

int
clar_session_pcm_to_mel (clar_session *s, const float *pcm, size_t n_samples,
                         float *mel, size_t n_frames)
{
  if (!s)
    return CLAR_ERR_INVALID_ARGUMENT;
  return clar_mel_compute (s->mel, pcm, n_samples, mel, n_frames);
}

/* The encoder over B inputs at once (NCHW activations of B samples); each
 * layer runs once for the batch. */
static int
encode_raw (clar_session *s, const float *mel, size_t B, size_t n_frames, float *output)
{
  const clar_model *m;
  clar_shape cur;
  const float *x;
  int which = 0, rc, relu_done = 0, depth = 0;
  const int nb = (int) B;
  const float *skip[CLAR_RESIDUAL_MAX_DEPTH];
  const clar_kernel_kind kernel = clar_kernel_active ();
  if (!s || !mel || !output)
    return CLAR_ERR_INVALID_ARGUMENT;
  m = s->model;
  if ((rc = prepare (s, n_frames, B, NULL)) != CLAR_OK)
    return rc;
  for (size_t i = 0; i < (size_t) m->info.mel.n_mels * n_frames * B; i++)
    if (!isfinite (mel[i]))
      return CLAR_ERR_NONFINITE;
  cur.c = 1;
  cur.h = m->info.mel.n_mels;
  cur.w = (int) n_frames;
  cur.flat = 0;
  x = mel;
  for (size_t i = 0; i < m->n_layers; i++) {
    const clar_layer *l = &m->layers[i];
    const clar_shape *out = &s->shapes[i];
    float *y = s->act[which];
    int in_place = 0;
    /* In-place layers may write into x only if it is a working buffer: not
     * the caller's mel, not an activation a residual_begin keeps. */
    const int writable = x == s->act[0] || x == s->act[1];
    switch (l->op) {
      case CLAR_OP_CONV2D:
        /* Every stride-1 convolution, 1x1 included: the direct kernel reads
         * a 1x1 input in place (convkernel.c), and on a CPU the BLAS does
         * not know its SGEMM would run the generic kernel. */
        if (kernel != CLAR_KERNEL_BLAS && l->stride <= 1) {
          /* libclar's own kernel, with a following ReLU and 2x2 max
           * pooling fused into it (the layers are then skipped). */
          size_t next = i + 1;
          int pool2;
          relu_done = next < m->n_layers && m->layers[next].op == CLAR_OP_RELU;
          if (relu_done)
            next++;
          pool2 = next < m->n_layers && m->layers[next].op == CLAR_OP_MAXPOOL2D
              && m->layers[next].kernel == 2;
          clar_conv2d_direct (kernel, x, nb, cur.c, cur.h, cur.w, l->weight, l->bias, l->out,
              l->kernel, l->pad, relu_done, pool2, y, s->scratch);
          if (pool2) {
            /* The activation is now the pooling layer's output. */
            x = y;
            which ^= 1;
            out = &s->shapes[next];
            cur = *out;
            relu_done = 0;
            i = next;
            continue;
          }
        } else {
          clar_conv2d_forward (x, nb, cur.c, cur.h, cur.w, l->weight, l->bias, l->out,
              l->kernel, l->pad, y, s->scratch);
        }
        break;
      case CLAR_OP_BATCHNORM2D:
        if (!writable) {
          memcpy (y, x, B * cur.c * cur.h * cur.w * sizeof (float));
        } else {
          y = (float *) x;
          in_place = 1;
        }
        clar_batchnorm2d_inference (y, nb, cur.c, cur.h * cur.w, l->weight, l->bias,
            l->running_mean, l->running_var, l->eps);
        break;
      case CLAR_OP_RELU:
        if (relu_done) {        /* fused into the convolution before it */
          relu_done = 0;
          cur = *out;
          continue;
        }
        if (!writable) {
          memcpy (y, x, B * cur.c * cur.h * cur.w * sizeof (float));
        } else {
          y = (float *) x;
          in_place = 1;
        }
        clar_relu_forward (y, B * cur.c * cur.h * cur.w);
        break;
      case CLAR_OP_MAXPOOL2D:
        clar_maxpool2d_forward (x, nb, cur.c, cur.h, cur.w, l->kernel, y, NULL);
        break;
      case CLAR_OP_AVGPOOL2D:
        clar_avgpool2d_forward (x, nb, cur.c, cur.h, cur.w, l->kernel, y);
        break;
      case CLAR_OP_GLOBAL_AVG_POOL:
        clar_global_avg_pool_forward (x, nb, cur.c, cur.h, cur.w, y);
        break;
      case CLAR_OP_LINEAR:
        /* One product per sample: the BLAS picks other kernels (other
         * rounding) for other row counts, and a window's embedding must
         * not depend on the batch it was in. */
        for (size_t n = 0; n < B; n++)
          clar_linear_forward (x + n * l->in, 1, l->in, l->weight, l->bias, l->out,
              y + n * l->out);
        break;
      case CLAR_OP_DWCONV2D:
        /* A following ReLU is applied by the depthwise kernel (skipped below). */
        relu_done = i + 1 < m->n_layers && m->layers[i + 1].op == CLAR_OP_RELU;
        clar_dwconv2d_forward_relu (x, nb, cur.c, cur.h, cur.w, l->weight, l->bias, l->kernel,
            l->pad, l->stride, relu_done, y);
        break;
      case CLAR_OP_RESIDUAL_BEGIN:
        /* The block's layers overwrite the ping-pong buffers: hand the one
         * holding x to this level and take its free buffer in exchange (the
         * input mel is never overwritten: it is kept as it is). */
        for (int k = 0; k < 2; k++)
          if (x == s->act[k]) {
            float *t = s->act[k];
            s->act[k] = s->skipbuf[depth];
            s->skipbuf[depth] = t;
          }
        skip[depth++] = x;
        y = (float *) x;
        in_place = 1;
        break;
      case CLAR_OP_RESIDUAL_ADD:
        depth--;
        if (!writable) {
          memcpy (y, x, B * cur.c * cur.h * cur.w * sizeof (float));
        } else {
          y = (float *) x;
          in_place = 1;
        }
        clar_residual_add_forward (y, skip[depth], B * cur.c * cur.h * cur.w);
        break;
    }
    if (!in_place)
      which ^= 1;
    x = y;
    cur = *out;
  }
  memcpy (output, x, B * m->info.embedding_dim * sizeof (float));
  return CLAR_OK;
}

int
clar_session_encode_raw (clar_session *s, const float *mel, size_t n_frames,
                         float *output)
{
  return encode_raw (s, mel, 1, n_frames, output);
}

/* Samples side by side in one pass only while a chunk's largest
 * activation stays within this many floats (256 KiB, half a typical L2):
 * beyond it the layers' outputs spill to L3 and the kernels slow down more
 * than the bigger products gain (bench-infer, shipped encoder, AVX-512:
 * 0.43 ms per window at batch 1, 0.49 at 4, 0.64 at 16 side by side), so
 * that encoder runs a batch one window at a time. */
#define CLAR_BATCH_CHUNK_FLOATS (64 * 1024)

int
clar_session_encode_batch (clar_session *s, const float *mel, size_t batch, size_t n_frames,
                           float *embeddings)
{
  size_t D, MT, chunk;
  int rc, bad = 0;
  if (!s || !mel || !embeddings || batch < 1 || batch > CLAR_SESSION_MAX_BATCH)
    return CLAR_ERR_INVALID_ARGUMENT;
  if ((rc = prepare (s, n_frames, 1, NULL)) != CLAR_OK)
    return rc;
  D = s->model->info.embedding_dim;
  MT = (size_t) s->model->info.mel.n_mels * n_frames;
  chunk = s->sample_floats ? CLAR_BATCH_CHUNK_FLOATS / s->sample_floats : 1;
  if (chunk < 1)
    chunk = 1;
  for (size_t n0 = 0; n0 < batch; n0 += chunk) {
    size_t nb = batch - n0 < chunk ? batch - n0 : chunk;
    if ((rc = encode_raw (s, mel + n0 * MT, nb, n_frames, embeddings + n0 * D)) != CLAR_OK)
      return rc;
  }
  for (size_t n = 0; n < batch; n++) {
    float *e = embeddings + n * D;
    double ss = 0.0;
    for (size_t i = 0; i < D; i++)
      ss += (double) e[i] * e[i];
    if (!isfinite (ss)) {
      bad = 1;
      continue;
    }
    /* A zero output stays zero rather than dividing by zero. */
    if (ss > 1e-30) {
      float inv = (float) (1.0 / sqrt (ss));
      for (size_t i = 0; i < D; i++)
        e[i] *= inv;
    }
  }
  return bad ? CLAR_ERR_NONFINITE : CLAR_OK;
}

int
clar_session_encode (clar_session *s, const float *mel, size_t n_frames,
                     float *embedding)
{
  return clar_session_encode_batch (s, mel, 1, n_frames, embedding);
}

int
clar_session_embed (clar_session *s, const float *pcm, size_t n_samples,
                    float *embedding)
{
  size_t T;
  int rc;
  if (!s || !pcm || !embedding)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (n_samples < s->model->info.min_samples)
    return CLAR_ERR_INPUT_TOO_SHORT;
  T = clar_mel_n_frames (&s->model->info.mel, n_samples);
  if (clar_grow_floats (&s->melbuf, &s->melbuf_cap, (size_t) s->model->info.mel.n_mels * T))
    return CLAR_ERR_NO_MEMORY;
  if ((rc = clar_mel_compute (s->mel, pcm, n_samples, s->melbuf, T)) != CLAR_OK)
    return rc;
  return clar_session_encode (s, s->melbuf, T, embedding);
}
