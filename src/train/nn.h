/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal: the trainable network of clar-train (CLAR, Al-Tahan &
 * Mohsenzadeh 2021): encoder f (the inference layer list with a train-mode
 * batch-norm after every conv2d and dwconv2d, unless the list has its own
 * batchnorm2d right there; folded into the conv at export; residual blocks
 * as x + block(x)), projection head g
 * (linear-ReLU-linear) for
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
 * Threading: a clar_net belongs to one thread. Inside a call, loops over
 * samples, planes and channels run under OpenMP and each convolution runs
 * its batch in fixed chunks of samples in parallel (src/train/backward.h);
 * every reduction has a fixed order, so a given seed gives bit-identical
 * results for any number of OpenMP threads (for a given number of OpenBLAS
 * threads: a threaded OpenBLAS may round differently). When OpenBLAS has
 * more than one thread, the chunks run in sequence and OpenBLAS
 * parallelises each SGEMM. clar_train_set_threads() picks the split.
 *
 * Errors: functions returning int give 0 or a negative clar_status; the
 * message of the last failure of a net is clar_net_last_error(). Losses
 * return NaN for invalid arguments or when out of memory.
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
  /* Appended after the first version (defaults from
   * clar_net_default_config): */
  int conv_chunk;             /* samples per convolution chunk, default 8;
                                 results depend on it, not on threads */
  int conv_mode;              /* clar_conv_mode of backward.h: 0 one SGEMM
                                 per sample (default, measured faster), 1
                                 one per chunk */
} clar_net_config;

clar_net_config clar_net_default_config (void);

/* Builds the training network from cfg->architecture (parsed with
 * clar_architecture_parse): He-normal conv/linear weights (He et al. 2015),
 * BN gamma 1 / beta 0, running mean 0 / var 1, classifier rows N(0,1), all
 * drawn from cfg->seed. The architecture must end with a linear layer (its
 * size is the embedding size D). NULL on error (err says why). */
clar_net *clar_net_new (const clar_net_config *cfg, clar_error *err);
/* NULL-safe. */
void clar_net_free (clar_net *net);
/* Message of the last failed call on net ("" if none). */
const char *clar_net_last_error (const clar_net *net);

/* Sets the threads used by the trainer: n OpenMP threads for the chunked
 * convolutions and element-wise loops, OpenBLAS single-threaded. Measured
 * on the 2-core target (default architecture, 64 views of 101 frames, one
 * step of clar_train_step): 2 OpenMP + 1 OpenBLAS thread 670-710 views/s;
 * 1 + 2 (chunks in sequence, OpenBLAS threads in each SGEMM) 420-430;
 * one SGEMM per chunk of 8 or 32 with 2 OpenBLAS threads 330-385; one
 * thread 340-350. n <= 0: all cores. */
void clar_train_set_threads (int n);

int clar_net_embedding_dim (const clar_net *net);
int clar_net_proj_dim (const clar_net *net);
int clar_net_n_classes (const clar_net *net);

/* Forward of M mel inputs [M][n_mels][T]. train=1: batch statistics in BN
 * (running statistics updated); train=0: running statistics.
 * Outputs (owned by net, valid until the next call): h [M,D] (encoder
 * output), z [M,P] (projection), logits [M,K] (scale * cosine). */
int clar_net_forward (clar_net *net, const float *mel, int M, int T, int train,
                      const float **h, const float **z, const float **logits);
/* After a forward: the L2-normalised embeddings h/|h| [M,D] (what the
 * inference session outputs and the cosine head sees). */
const float *clar_net_embeddings_normalised (const clar_net *net);

/* Backward from dz [M,P] and dlogits [M,K] (either may be NULL), after a
 * forward with train=1; accumulates parameter gradients; optionally writes
 * d(input) to dmel [M][n_mels][T]. CLAR_ERR_INVALID_ARGUMENT if the last
 * forward was not in train mode. */
int clar_net_backward (clar_net *net, const float *dz, const float *dlogits,
                       float *dmel);

void clar_net_zero_grad (clar_net *net);

/* Parameters, for tests and the optimiser. */
typedef struct clar_param {
  char name[96];
  float *w, *g;            /* value, gradient */
  float *m, *v;            /* Adam moments (m: SGD momentum buffer) */
  size_t n;
  int decay;               /* weight decay applies (conv/linear weights;
                              not biases, BN or the cosine classifier) */
  int frozen;              /* the optimisers leave it, its decay and its
                              moments as they are (clar_net_freeze_encoder) */
  long step0;              /* optimiser steps before its first step: Adam's
                              bias corrections count from there, as for a
                              parameter torch.optim meets late */
} clar_param;
size_t clar_net_n_params (const clar_net *net);
clar_param *clar_net_param (clar_net *net, size_t i);

/* Freezes (frozen 1) or thaws (0) every parameter of the encoder, i.e. all
 * but the heads ("head." names: projection head and classifier), and sets
 * their step0 (the optimiser steps taken while they were frozen); returns
 * how many parameters it set. A forward made while frozen, even with
 * train=1, runs the encoder as in eval mode (batch-norms on their running
 * statistics, which stay as they are), so the heads learn on exactly the
 * model's features; the backward after it computes the heads' gradients
 * only, leaves the encoder's as they are and refuses a d(input). Freeze
 * before the forward: the state of the forward decides. For linear probing before
 * fine-tuning (LP-FT, Kumar et al. 2022, "Fine-Tuning can Distort
 * Pretrained Features and Underperform Out-of-Distribution", ICLR): a
 * fine-tune from an exported model starts with a random projection head,
 * whose first gradients otherwise reach the pretrained encoder. */
size_t clar_net_freeze_encoder (clar_net *net, int frozen, long step0);

/* The whole learnt state as one float vector: every parameter's values in
 * clar_net_param order, then each batch-norm's running mean and variance in
 * layer order. For weight averaging (clar-train --ema: an exponential
 * moving average of this vector, Polyak & Juditsky 1992; averaging along
 * the trajectory is what SWAD, Cha et al. 2021, found to generalise to
 * unseen domains): get the state, average it, set it to evaluate or export
 * the average, set the saved state back to go on training. Gradients and
 * optimiser moments are not part of it. */
size_t clar_net_state_size (const clar_net *net);
void clar_net_state_get (const clar_net *net, float *dst);
void clar_net_state_set (clar_net *net, const float *src);

/* ---- losses: each returns the mean loss and writes d(loss)/d(input) ---- */

/* NT-Xent (SimCLR; DESIGN.md): z [2N,P] with rows i and i+N the two views of
 * clip i; cosine similarity / tau, averaged over all 2N anchors. */
double clar_loss_ntxent (const float *z, int N, int P, float tau, float *dz);

/* SupCon (Khosla et al. 2020, eq. 2, L_out): positives of anchor i are all
 * other rows with the same label; label < 0 means unlabelled, whose only
 * positive is its other view. labels has N entries (one per clip). */
double clar_loss_supcon (const float *z, int N, int P, float tau,
                         const int *labels, float *dz);

/* Cross-entropy over logits [M,K]; rows with label < 0 (or >= K) are
 * skipped; mean over labelled rows (0 and zero gradient if none). */
double clar_loss_ce (const float *logits, int M, int K, const int *labels,
                     float *dlogits);
/* Cross-entropy against mixup's soft target (Zhang et al. 2018):
 * t_i = lambda_i e(labels[i]) + (1 - lambda_i) e(labels_b[i]), i.e.
 * lambda_i CE(labels[i]) + (1 - lambda_i) CE(labels_b[i]); gradient
 * softmax(l_i) - t_i, mean over the rows with labels[i] in [0, K). A row
 * whose labels_b[i] is outside [0, K) takes the whole of labels[i]
 * (clar_loss_ce); lambda_i must be in [0, 1] (else NAN). labels_b or
 * lambda NULL: clar_loss_ce. */
double clar_loss_ce_mixup (const float *logits, int M, int K, const int *labels,
                           const int *labels_b, const float *lambda, float *dlogits);

typedef enum clar_contrastive {
  CLAR_CONTRASTIVE_NTXENT = 0,
  CLAR_CONTRASTIVE_SUPCON = 1,
  CLAR_CONTRASTIVE_NONE = 2      /* supervised CE only */
} clar_contrastive;

/* CLAR's hybrid objective (Al-Tahan & Mohsenzadeh 2021, section 3): the
 * contrastive loss on z [2N,P] plus lambda times the cross-entropy of the
 * classifier logits [2N,K] over the labelled views (label of row i is
 * labels[i mod N]; -1 = unlabelled, skipped). dz, dlogits (nullable)
 * receive the gradient of the total; l_con, l_ce (nullable) its parts.
 * K = 0 or lambda = 0 drops the CE term. */
double clar_loss_hybrid (const float *z, const float *logits, int N, int P,
                         int K, const int *labels, clar_contrastive kind,
                         float tau, float lambda, float *dz, float *dlogits,
                         double *l_con, double *l_ce);

/* ---- optimiser ---- */
typedef enum clar_optim_kind {
  CLAR_OPTIM_ADAMW = 0,
  CLAR_OPTIM_SGD = 1
} clar_optim_kind;

/* Optimiser settings and state (the per-parameter moments live in
 * clar_param.m / .v). Weight decay applies only to parameters with
 * decay = 1 (conv and linear weights; not biases, BN or the cosine
 * classifier, whose scale is irrelevant). */
typedef struct clar_optim {
  float lr;                   /* base rate (informational: each step gets
                                 its rate from the schedule) */
  float beta1, beta2, eps;    /* Adam */
  float weight_decay;
  long step;                  /* steps taken */
  /* Appended after the first version: */
  clar_optim_kind kind;
  float momentum;             /* SGD */
  int nesterov;               /* SGD */
} clar_optim;
/* The first version's name, kept for callers. */
typedef clar_optim clar_adam;

/* AdamW: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 1e-4. */
clar_optim clar_adam_default (void);
/* SGD: lr 0.1, momentum 0.9, no Nesterov, weight decay 1e-4. */
clar_optim clar_sgd_default (void);

/* One step over all parameters of net with learning rate lr:
 * AdamW (Kingma & Ba 2015, Algorithm 1, with the decoupled weight decay of
 *   Loshchilov & Hutter 2019 as torch.optim.AdamW):
 *   w -= lr*wd*w; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 * SGD with momentum as torch.optim.SGD (dampening 0):
 *   g += wd*w; buf = g (t = 1) or mu buf + g; w -= lr * (nesterov ?
 *   g + mu buf : buf). */
void clar_optim_step (clar_optim *opt, clar_net *net, float lr);
/* Same as clar_optim_step (first version's name). */
void clar_adam_step (clar_adam *opt, clar_net *net, float lr);

/* SGD with momentum (PyTorch's form: v = mu v + g + wd w; w -= lr v),
 * weight decay on the decaying parameters only. The momentum buffer is the
 * parameter's `m`. The same update as clar_optim_step with a
 * clar_sgd_default() optimiser, without a step count. */
void clar_sgd_step (clar_net *net, float lr, float momentum, float weight_decay);

/* Linear warm-up for `warmup` steps, then cosine decay to lr_min at total:
 * lr(step) = lr_max (step+1) / warmup for step < warmup, then
 * lr_min + (lr_max - lr_min) (1 + cos(pi t)) / 2 with
 * t = (step - warmup) / (total - warmup) clamped to [0,1] (SGDR, Loshchilov
 * & Hutter 2017, without restarts). */
float clar_lr_schedule (long step, long warmup, long total, float lr_max,
                        float lr_min);

/* ---- one training step ---- */
typedef struct clar_train_config {
  clar_contrastive contrastive;   /* default NT-Xent */
  float tau;                      /* default 0.5 */
  float ce_weight;                /* lambda, default 1 (0: no CE) */
  float lr;                       /* this step's rate (clar_lr_schedule) */
} clar_train_config;

clar_train_config clar_train_default_config (void);

typedef struct clar_train_losses {
  double total, contrastive, ce;
  int n_labelled;                 /* labelled clips in the batch */
} clar_train_losses;

/* The CLI's step: forward of the 2N views (views_a [N][n_mels][T] then
 * views_b [N][n_mels][T]; views_b may be views_a + N*n_mels*T, i.e. one
 * contiguous [2N] array, to avoid a copy) in train mode, hybrid loss with
 * labels [N] (-1 = unlabelled), zero_grad + backward, one optimiser step.
 * A non-finite loss returns CLAR_ERR_NONFINITE before touching the
 * parameters. out (nullable) receives the losses. */
int clar_train_step (clar_net *net, clar_optim *opt, const float *views_a,
                     const float *views_b, const int *labels, int N, int T,
                     const clar_train_config *cfg, clar_train_losses *out,
                     clar_error *err);

/* ---- export / checkpoint ---- */

/* Writes the inference model: BN folded into the conv weights (w' = w g /
 * sqrt(var + eps), b' = (b - mean) g / sqrt(var + eps) + beta), the
 * classifier rows as the label set, metadata of model.h plus extra
 * key/value pairs (NULL-terminated list, may be NULL). */
int clar_net_export (const clar_net *net, const char *path,
                     const char *const *extra_meta, clar_error *err);

/* Full training state (parameters, BN statistics, optimiser moments, kind
 * and step, and an opaque user blob such as RNG state) in a safetensors file
 * (metadata clar.format "clar-checkpoint"). Loading checks the
 * architecture, every tensor name and size, and leaves the net unchanged
 * on error. The user blob must be absent (NULL/0) or present in both. */
/* Fine-tuning start (clar-train --init): copies the encoder of the model
 * file at path (same layer list as net, else CLAR_ERR_INVALID_ARGUMENT) into
 * net. A conv exported with its batch-norm folded (w', b') comes back as
 * conv w' with the inserted batch-norm set to gamma 1, beta b', running
 * mean 0, variance 1 - eps: the eval mode is then the model's map exactly.
 * The rows of the classifier whose class names head names get head's unit
 * vectors (*head_rows counts them); the others, and the projection head,
 * keep their random initialisation. head may be NULL. */
int clar_net_load_encoder (clar_net *net, const char *path, const clar_labels *head,
                           size_t *head_rows, clar_error *err);
/* After clar_net_load_encoder: sets each inserted batch-norm from the batch
 * statistics (mean m, biased variance v) of M inputs, layer by layer, to
 * gamma sqrt(v + eps), beta m + b', running (m, v), so that the train-mode
 * forward of this batch and the eval mode of any input both equal the
 * loaded model's map. A frozen encoder (clar_net_freeze_encoder) is
 * calibrated too, and stays frozen. */
int clar_net_calibrate_bn (clar_net *net, const float *mel, int M, int T, clar_error *err);

int clar_net_save_checkpoint (const clar_net *net, const clar_optim *opt,
                              const float *user, size_t n_user,
                              const char *path, clar_error *err);
int clar_net_load_checkpoint (clar_net *net, clar_optim *opt, float *user,
                              size_t n_user, const char *path, clar_error *err);

#endif
