/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Optimisers: AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019) and SGD
 * with momentum, both as torch.optim implements them, and the learning-rate
 * schedule (linear warm-up, then cosine). One thread: a step over the
 * default network's ~0.2 M parameters takes about a millisecond. */
#include <math.h>

#include "nn.h"

clar_optim
clar_adam_default (void)
{
  clar_optim a = { 0 };
  a.kind = CLAR_OPTIM_ADAMW;
  a.lr = 1e-3f;
  a.beta1 = 0.9f;
  a.beta2 = 0.999f;
  a.eps = 1e-8f;
  a.weight_decay = 1e-4f;
  return a;
}

clar_optim
clar_sgd_default (void)
{
  clar_optim a = clar_adam_default ();
  a.kind = CLAR_OPTIM_SGD;
  a.lr = 0.1f;
  a.momentum = 0.9f;
  return a;
}

/* torch.optim.SGD, dampening 0: g' = g + wd w; buf = mu buf + g' (buf
 * starts at 0, so the first step gives buf = g' as in PyTorch);
 * w -= lr (nesterov ? g' + mu buf : buf). */
static void
sgd_update (clar_net *net, float lr, float mu, float weight_decay, int nesterov)
{
  for (size_t i = 0; i < clar_net_n_params (net); i++) {
    clar_param *p = clar_net_param (net, i);
    const float wd = p->decay ? weight_decay : 0.0f;
    float *w = p->w, *m = p->m;
    if (p->frozen)
      continue;
    const float *g = p->g;
    const long n = (long) p->n;
    for (long j = 0; j < n; j++) {
      float gj = g[j] + wd * w[j];
      m[j] = mu * m[j] + gj;
      w[j] -= lr * (nesterov ? gj + mu * m[j] : m[j]);
    }
  }
}

void
clar_optim_step (clar_optim *opt, clar_net *net, float lr)
{
  double bc1, bc2;
  if (!opt || !net)
    return;
  opt->step++;
  if (opt->kind == CLAR_OPTIM_SGD) {
    sgd_update (net, lr, opt->momentum, opt->weight_decay, opt->nesterov);
    return;
  }
  for (size_t i = 0; i < clar_net_n_params (net); i++) {
    clar_param *p = clar_net_param (net, i);
    const float wd = p->decay ? opt->weight_decay : 0.0f;
    const long t = opt->step - p->step0;
    if (p->frozen || t < 1)
      continue;   /* no step, no decay, moments kept (they start at 0) */
    /* Bias corrections of the moment estimates (Kingma & Ba, Algorithm 1),
     * over this parameter's own steps. */
    bc1 = 1.0 - pow (opt->beta1, (double) t);
    bc2 = 1.0 - pow (opt->beta2, (double) t);
    const float b1 = opt->beta1, b2 = opt->beta2, eps = opt->eps;
    const float a = (float) (lr / bc1), rbc2 = (float) (1.0 / sqrt (bc2));
    float *w = p->w, *m = p->m, *v = p->v;
    const float *g = p->g;
    const long n = (long) p->n;
    for (long j = 0; j < n; j++) {
      float gj = g[j];
      /* Decoupled decay first, as torch.optim.AdamW (w *= 1 - lr wd). */
      w[j] -= lr * wd * w[j];
      m[j] = b1 * m[j] + (1 - b1) * gj;
      v[j] = b2 * v[j] + (1 - b2) * gj * gj;
      /* torch: denom = sqrt(v) / sqrt(bc2) + eps; w -= lr / bc1 * m / denom */
      w[j] -= a * m[j] / (sqrtf (v[j]) * rbc2 + eps);
    }
  }
}

void
clar_adam_step (clar_adam *opt, clar_net *net, float lr)
{
  clar_optim_step (opt, net, lr);
}

void
clar_sgd_step (clar_net *net, float lr, float momentum, float weight_decay)
{
  if (net)
    sgd_update (net, lr, momentum, weight_decay, 0);
}

float
clar_lr_schedule (long step, long warmup, long total, float lr_max, float lr_min)
{
  double t;
  if (step < 0)
    step = 0;
  if (warmup > 0 && step < warmup)
    return lr_max * (float) (step + 1) / (float) warmup;
  if (total <= warmup)
    return lr_max;
  t = (double) (step - warmup) / (double) (total - warmup);
  if (t > 1.0)
    t = 1.0;
  return lr_min + (lr_max - lr_min) * (float) (0.5 * (1.0 + cos (3.14159265358979323846 * t)));
}
