/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal to src/train: the layout of clar_net, shared by nn.c (forward,
 * backward) and export.c (export, checkpoints). */
#ifndef CLAR_TRAIN_NN_PRIVATE_H
#define CLAR_TRAIN_NN_PRIVATE_H

#include "model-private.h"
#include "nn.h"

/* One training layer. Every conv2d of the architecture is followed by an
 * inserted train-mode batch-norm of the same name (folded at export). */
typedef struct clar_tlayer {
  clar_op op;
  char name[64];
  int in, out, kernel, pad;
  int inserted_bn;                 /* BN inserted after a conv (folded) */
  float eps;                       /* batch-norm */
  clar_param *W, *b;               /* conv (W only), linear (W, b) */
  clar_param *gamma, *beta;        /* batch-norm */
  float *run_mean, *run_var;       /* batch-norm running statistics */
  float *bmean, *bvar, *inv_std;   /* batch-norm: last batch */
  clar_shape sin, sout;            /* per-sample shapes */
  float *y;                        /* output [M x sout] */
  int owns_y;                      /* 0: y aliases the previous output */
  int32_t *argmax;                 /* max-pool */
  float *xhat;                     /* batch-norm; may alias the input */
  int owns_xhat;
  int stride;                      /* dwconv2d */
  size_t partner;                  /* residual_add: its residual_begin */
} clar_tlayer;

struct clar_net {
  clar_net_config cfg;
  char *arch;                      /* inference layer list (export) */
  char **class_names;
  clar_tlayer *L;
  size_t nL;
  int D, P, K;
  clar_param *params;
  size_t n_params, cap_params;
  clar_param *W1, *b1, *W2, *b2, *Wc;   /* heads */
  /* the last forward */
  int M, T, train;
  int encoder_frozen;              /* clar_net_freeze_encoder: eval-mode
                                      batch-norms, no encoder backward */
  int fwd_frozen;                  /* the last forward ran frozen */
  const float *input;
  /* buffers, sized for (sized_M, sized_T) */
  int sized_M, sized_T;
  float *scratch;                  /* conv workspace */
  size_t scratch_n;
  int conv_threads;                /* threads of the conv chunk loop */
  float *g0, *g1;                  /* ping-pong gradient buffers */
  float *gskip;                    /* residual gradients, skip_depth x M x max */
  size_t gskip_stride;             /* floats per nesting level of gskip */
  int skip_depth;                  /* deepest residual nesting */
  float *h, *a1, *z, *hn, *hnorm, *wn, *wnorm, *logits;
  float *dh, *dtmp, *dtmp2;        /* head gradients */
  float *views;                    /* clar_train_step: 2N views */
  size_t views_n;
  float *dz, *dl;                  /* clar_train_step: loss gradients */
  clar_error error;                /* last failure */
};

#endif
