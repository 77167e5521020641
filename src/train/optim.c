/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019) and the LR schedule. */
#include <math.h>

#include "nn.h"

clar_adam
clar_adam_default (void)
{
  clar_adam a = { 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-4f, 0 };
  return a;
}

void
clar_adam_step (clar_adam *opt, clar_net *net, float lr)
{
  double bc1, bc2;
  opt->step++;
  bc1 = 1.0 - pow (opt->beta1, (double) opt->step);
  bc2 = 1.0 - pow (opt->beta2, (double) opt->step);
  for (size_t i = 0; i < clar_net_n_params (net); i++) {
    clar_param *p = clar_net_param (net, i);
    float wd = p->decay ? opt->weight_decay : 0.0f;
    for (size_t j = 0; j < p->n; j++) {
      float g = p->g[j];
      p->m[j] = opt->beta1 * p->m[j] + (1 - opt->beta1) * g;
      p->v[j] = opt->beta2 * p->v[j] + (1 - opt->beta2) * g * g;
      p->w[j] -= lr * (float) ((p->m[j] / bc1) / (sqrt (p->v[j] / bc2) + opt->eps))
          + lr * wd * p->w[j];
    }
  }
}

void
clar_sgd_step (clar_net *net, float lr, float momentum, float weight_decay)
{
  for (size_t i = 0; i < clar_net_n_params (net); i++) {
    clar_param *p = clar_net_param (net, i);
    float wd = p->decay ? weight_decay : 0.0f;
    for (size_t j = 0; j < p->n; j++) {
      p->m[j] = momentum * p->m[j] + p->g[j] + wd * p->w[j];
      p->w[j] -= lr * p->m[j];
    }
  }
}

float
clar_lr_schedule (long step, long warmup, long total, float lr_max, float lr_min)
{
  if (warmup > 0 && step < warmup)
    return lr_max * (float) (step + 1) / (float) warmup;
  if (total <= warmup)
    return lr_max;
  {
    double t = (double) (step - warmup) / (double) (total - warmup);
    if (t > 1.0)
      t = 1.0;
    return lr_min + (lr_max - lr_min) * (float) (0.5 * (1.0 + cos (3.14159265358979323846 * t)));
  }
}
