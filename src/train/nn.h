/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal: the trainable network of clar-train (CLAR, Al-Tahan &
 * Mohsenzadeh 2021): encoder f (the inference layer list with a train-mode
 * batch-norm after every conv), projection head g (linear-ReLU-linear) for
 * the contrastive loss, and a cosine classifier over the L2-normalised
 * embedding for the supervised term. Its normalised rows are exported as the
 * model's label vectors, so labels.h scores windows exactly as trained.
 *
 * The forward pass reuses src/layers.h (the inference primitives); this file
 * adds the backward passes, losses and optimiser.
 *
 * Layout: activations NCHW float32; a batch holds 2N views (view a of clip i
 * at row i, view b at row i + N).
 *
 * Threading: a clar_net belongs to one thread (OpenBLAS may use several
 * cores inside each SGEMM).
 */
#ifndef CLAR_TRAIN_NN_H
#define CLAR_TRAIN_NN_H

#include <stddef.h>
#include <stdint.h>

#include <clar/clar.h>

typedef struct clar_net clar_net;

typedef struct clar_net_config {
  const char *architecture;   /* inference layer list JSON (model.h) */
  clar_mel_params mel;
  size_t window_samples, hop_samples;
  int proj_dim;               /* projection head output, default 64 */
  int n_classes;              /* classifier classes (0: none) */
  const char *const *class_names;
  float cls_scale;            /* cosine classifier scale, default 10 */
  float bn_momentum;          /* default 0.1 (PyTorch) */
  float bn_eps;               /* default 1e-5 */
  uint64_t seed;              /* weight initialisation */
} clar_net_config;

clar_net_config clar_net_default_config (void);

clar_net *clar_net_new (const clar_net_config *cfg, clar_error *err);
void clar_net_free (clar_net *net);

int clar_net_embedding_dim (const clar_net *net);
int clar_net_proj_dim (const clar_net *net);
int clar_net_n_classes (const clar_net *net);

/* Forward of M mel inputs [M][n_mels][T]. train=1: batch statistics in BN
 * (running statistics updated); train=0: running statistics.
 * Outputs (owned by net, valid until the next call): h [M,D] (encoder
 * output), z [M,P] (projection), logits [M,K] (scale * cosine). */
int clar_net_forward (clar_net *net, const float *mel, int M, int T, int train,
                      const float **h, const float **z, const float **logits);

/* Backward from dz [M,P] and dlogits [M,K] (either may be NULL), after a
 * forward with train=1; accumulates parameter gradients; optionally writes
 * d(input) to dmel. */
int clar_net_backward (clar_net *net, const float *dz, const float *dlogits,
                       float *dmel);

void clar_net_zero_grad (clar_net *net);

/* Parameters, for tests and the optimiser. */
typedef struct clar_param {
  char name[96];
  float *w, *g;            /* value, gradient */
  float *m, *v;            /* Adam moments */
  size_t n;
  int decay;               /* weight decay applies (not to biases / BN) */
} clar_param;
size_t clar_net_n_params (const clar_net *net);
clar_param *clar_net_param (clar_net *net, size_t i);

/* ---- losses: each returns the mean loss and writes d(loss)/d(input) ---- */

/* NT-Xent (SimCLR; DESIGN.md): z [2N,P] with rows i and i+N the two views of
 * clip i; cosine similarity / tau, averaged over all 2N anchors. */
double clar_loss_ntxent (const float *z, int N, int P, float tau, float *dz);

/* SupCon (Khosla et al. 2020, eq. 2, L_out): positives of anchor i are all
 * other rows with the same label; label < 0 means unlabelled, whose only
 * positive is its other view. labels has N entries (one per clip). */
double clar_loss_supcon (const float *z, int N, int P, float tau,
                         const int *labels, float *dz);

/* Cross-entropy over logits [M,K]; rows with label < 0 are skipped; mean
 * over labelled rows (0 and zero gradient if none). */
double clar_loss_ce (const float *logits, int M, int K, const int *labels,
                     float *dlogits);

/* ---- optimiser ---- */
typedef struct clar_adam {
  float lr, beta1, beta2, eps, weight_decay;
  long step;
} clar_adam;

clar_adam clar_adam_default (void);
/* One AdamW step (Loshchilov & Hutter 2019: decoupled weight decay) over all
 * parameters of net, with learning rate lr. */
void clar_adam_step (clar_adam *opt, clar_net *net, float lr);

/* SGD with momentum (PyTorch's form: v = mu v + g + wd w; w -= lr v),
 * weight decay on the decaying parameters only. The momentum buffer is the
 * parameter's `m`. */
void clar_sgd_step (clar_net *net, float lr, float momentum, float weight_decay);

/* Linear warm-up for `warmup` steps, then cosine decay to lr_min at total. */
float clar_lr_schedule (long step, long warmup, long total, float lr_max,
                        float lr_min);

/* ---- export / checkpoint ---- */

/* Writes the inference model: BN folded into the conv weights (w' = w g /
 * sqrt(var + eps), b' = (b - mean) g / sqrt(var + eps) + beta), the
 * classifier rows as the label set, metadata of model.h plus extra
 * key/value pairs (NULL-terminated list, may be NULL). */
int clar_net_export (const clar_net *net, const char *path,
                     const char *const *extra_meta, clar_error *err);

/* Full training state (parameters, BN statistics, Adam moments and step,
 * and an opaque user blob such as RNG state) in a safetensors file. */
int clar_net_save_checkpoint (const clar_net *net, const clar_adam *opt,
                              const float *user, size_t n_user,
                              const char *path, clar_error *err);
int clar_net_load_checkpoint (clar_net *net, clar_adam *opt, float *user,
                              size_t n_user, const char *path, clar_error *err);

#endif
