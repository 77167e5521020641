/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Optimisers and schedule of clar-train against hand computations: AdamW
 * (three steps of torch.optim.AdamW's update written out in double), the
 * exemption of biases / batch-norm / classifier from weight decay, SGD with
 * momentum (plain and Nesterov, with weight decay), the warm-up + cosine
 * schedule; the state vector of weight averaging (clar_net_state_*); a
 * frozen encoder (clar_net_freeze_encoder, clar-train --freeze-encoder):
 * its optimiser steps, and its forward (eval-mode features even with
 * train=1) and backward (head gradients only, checked by central
 * differences). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clar-test.h"
#include "nn.h"

static const char *arch =
  "[{\"op\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":2,\"kernel\":3,\"pad\":1},"
  "{\"op\":\"relu\"},{\"op\":\"global_avg_pool\"},"
  "{\"op\":\"linear\",\"name\":\"fc\",\"in\":2,\"out\":3}]";

static clar_net *
small_net (void)
{
  clar_net_config c = clar_net_default_config ();
  c.architecture = arch;
  c.mel.n_mels = 8;
  c.mel.f_min = 0;
  c.proj_dim = 2;
  c.n_classes = 2;
  return clar_net_new (&c, NULL);
}

static clar_param *
find (clar_net *net, const char *name)
{
  for (size_t i = 0; i < clar_net_n_params (net); i++)
    if (!strcmp (clar_net_param (net, i)->name, name))
      return clar_net_param (net, i);
  return NULL;
}

static void
test_adamw (void)
{
  clar_net *net = small_net ();
  clar_optim a = clar_adam_default ();
  clar_param *w = find (net, "encoder.fc.weight"), *b = find (net, "encoder.fc.bias");
  clar_param *g = find (net, "bn.c1.weight"), *c = find (net, "head.classifier.weight");
  const float grads[3] = { 0.5f, -0.2f, 0.1f };
  double ref = 0, m = 0, v = 0, bref;
  float lr = 0.01f;
  CHECK (w && b && g && c);
  if (!w || !b || !g || !c)
    return;
  CHECK (w->decay && !b->decay && !g->decay && !c->decay);
  a.weight_decay = 0.1f;
  ref = w->w[0];
  bref = b->w[0];
  for (int t = 1; t <= 3; t++) {
    double mh, vh;
    clar_net_zero_grad (net);
    w->g[0] = grads[t - 1];
    b->g[0] = grads[t - 1];
    clar_optim_step (&a, net, lr);
    /* torch.optim.AdamW: w *= 1 - lr wd; m, v; w -= lr mh / (sqrt(vh) + eps) */
    ref *= 1 - lr * 0.1;
    m = 0.9 * m + 0.1 * grads[t - 1];
    v = 0.999 * v + 0.001 * grads[t - 1] * grads[t - 1];
    mh = m / (1 - pow (0.9, t));
    vh = v / (1 - pow (0.999, t));
    ref -= lr * mh / (sqrt (vh) + 1e-8);
    bref -= lr * mh / (sqrt (vh) + 1e-8);      /* bias: no decay */
    CHECK_CLOSE (w->w[0], ref, 1e-6);
    CHECK_CLOSE (b->w[0], bref, 1e-6);
  }
  CHECK_EQ_INT (a.step, 3);
  /* Step 1 in closed form: mh = g, vh = g^2 -> w - lr sign(g) - lr wd w. */
  {
    clar_net *n2 = small_net ();
    clar_optim a2 = clar_adam_default ();
    clar_param *q = find (n2, "encoder.fc.weight");
    float q0 = q->w[1], q00 = q->w[0];
    a2.weight_decay = 0.1f;
    clar_net_zero_grad (n2);
    q->g[1] = -3.0f;
    clar_adam_step (&a2, n2, 0.01f);
    CHECK_CLOSE (q->w[1], q0 * (1 - 0.01 * 0.1) + 0.01 * (3.0 / (3.0 + 1e-8)), 1e-6);
    /* An entry with zero gradient only decays. */
    CHECK_CLOSE (q->w[0], q00 * (1 - 0.001), 1e-7);
    clar_net_free (n2);
  }
  clar_net_free (net);
}

static void
test_sgd (void)
{
  clar_net *net = small_net ();
  clar_optim s = clar_sgd_default ();
  clar_param *q = find (net, "encoder.fc.weight"), *b = find (net, "encoder.fc.bias");
  float q0 = q->w[0], b0 = b->w[0];
  double buf, w1;
  CHECK (s.kind == CLAR_OPTIM_SGD);
  s.weight_decay = 0.0f;
  s.momentum = 0.9f;
  /* Two steps of gradient 1 (the other engineer's hand case): v = 1, then
   * v = 0.9 + 1. */
  clar_net_zero_grad (net);
  q->g[0] = 1.0f;
  clar_optim_step (&s, net, 0.1f);
  CHECK_CLOSE (q->w[0], q0 - 0.1, 1e-6);
  clar_optim_step (&s, net, 0.1f);
  CHECK_CLOSE (q->w[0], q0 - 0.1 - 0.19, 1e-6);
  /* clar_sgd_step is the same update. */
  clar_sgd_step (net, 0.1f, 0.9f, 0.0f);
  CHECK_CLOSE (q->w[0], q0 - 0.1 - 0.19 - 0.1 * (0.9 * 1.9 + 1), 1e-5);
  clar_net_free (net);

  /* Weight decay (on weights, not biases) and Nesterov. */
  net = small_net ();
  s = clar_sgd_default ();
  s.weight_decay = 0.5f;
  s.momentum = 0.8f;
  s.nesterov = 1;
  q = find (net, "encoder.fc.weight");
  b = find (net, "encoder.fc.bias");
  q0 = q->w[0];
  b0 = b->w[0];
  clar_net_zero_grad (net);
  q->g[0] = 2.0f;
  b->g[0] = 2.0f;
  clar_optim_step (&s, net, 0.1f);
  /* g' = 2 + 0.5 w; buf = g'; w -= lr (g' + mu buf) */
  buf = 2 + 0.5 * q0;
  w1 = q0 - 0.1 * (buf + 0.8 * buf);
  CHECK_CLOSE (q->w[0], w1, 1e-6);
  CHECK_CLOSE (b->w[0], b0 - 0.1 * (2 + 0.8 * 2), 1e-6);
  clar_optim_step (&s, net, 0.1f);
  {
    double g2 = 2 + 0.5 * w1, buf2 = 0.8 * buf + g2;
    CHECK_CLOSE (q->w[0], w1 - 0.1 * (g2 + 0.8 * buf2), 1e-5);
  }
  clar_net_free (net);
}

static void
test_schedule (void)
{
  /* Warm-up: lr_max (step+1)/warmup. */
  CHECK_CLOSE (clar_lr_schedule (0, 10, 110, 1.0f, 0.0f), 0.1, 1e-6);
  CHECK_CLOSE (clar_lr_schedule (4, 10, 110, 1.0f, 0.0f), 0.5, 1e-6);
  CHECK_CLOSE (clar_lr_schedule (9, 10, 110, 1.0f, 0.0f), 1.0, 1e-6);
  /* Cosine: t = (step - warmup) / (total - warmup). */
  CHECK_CLOSE (clar_lr_schedule (10, 10, 110, 1.0f, 0.0f), 1.0, 1e-6);
  CHECK_CLOSE (clar_lr_schedule (35, 10, 110, 1.0f, 0.0f), 0.5 * (1 + cos (3.14159265358979 / 4)), 1e-6);
  CHECK_CLOSE (clar_lr_schedule (60, 10, 110, 1.0f, 0.0f), 0.5, 1e-6);
  CHECK_CLOSE (clar_lr_schedule (60, 10, 110, 2.0f, 0.2f), 0.2 + 1.8 * 0.5, 1e-6);
  /* The floor at and after the end. */
  CHECK_CLOSE (clar_lr_schedule (110, 10, 110, 1.0f, 0.1f), 0.1, 1e-6);
  CHECK_CLOSE (clar_lr_schedule (500, 10, 110, 1.0f, 0.1f), 0.1, 1e-6);
  /* No warm-up; warm-up longer than the run. */
  CHECK_CLOSE (clar_lr_schedule (0, 0, 100, 1.0f, 0.0f), 1.0, 1e-6);
  CHECK_CLOSE (clar_lr_schedule (50, 0, 100, 1.0f, 0.0f), 0.5, 1e-6);
  CHECK_CLOSE (clar_lr_schedule (20, 10, 5, 1.0f, 0.0f), 1.0, 1e-6);
  /* Monotone: rises during warm-up, then never rises. */
  {
    float prev = 0;
    int ok = 1;
    for (long s = 0; s < 200; s++) {
      float lr = clar_lr_schedule (s, 20, 200, 1.0f, 0.01f);
      if (s < 20 ? lr <= prev : lr > prev + 1e-7f)
        ok = 0;
      prev = lr;
    }
    CHECK (ok);
  }
}

/* clar_net_state_get/set (clar-train --ema): the vector holds every
 * parameter and the batch-norm running statistics, so that setting a saved
 * state back restores the eval-mode map exactly, after both an optimiser
 * step and a train-mode forward (which moves only the running statistics). */
static void
test_state (void)
{
  clar_net *net = small_net ();
  enum { M = 3, T = 6 };
  float mel[M * 8 * T];
  const float *h, *z, *lg;
  float ref[M * 2], cur[M * 2];
  size_t n = 0;
  CHECK (net != NULL);
  if (!net)
    return;
  for (size_t i = 0; i < clar_net_n_params (net); i++)
    n += clar_net_param (net, i)->n;
  /* The conv's inserted batch-norm: 2 channels, mean and variance. */
  CHECK (clar_net_state_size (net) == n + 2 * 2);
  n = clar_net_state_size (net);
  for (int i = 0; i < M * 8 * T; i++)
    mel[i] = (float) sin (0.37 * i) + 0.5f * (float) (i % 5);
  /* Running statistics away from their (0, 1) start first. */
  CHECK (clar_net_forward (net, mel, M, T, 1, &h, &z, &lg) == 0);
  CHECK (clar_net_forward (net, mel, M, T, 0, &h, &z, &lg) == 0);
  memcpy (ref, lg, sizeof ref);
  float *saved = malloc (n * sizeof (float)), *back = malloc (n * sizeof (float));
  clar_net_state_get (net, saved);
  /* A train-mode forward on other input moves the running statistics only. */
  for (int i = 0; i < M * 8 * T; i++)
    mel[i] = 3.0f * mel[i] + 1.0f;
  CHECK (clar_net_forward (net, mel, M, T, 1, &h, &z, &lg) == 0);
  for (int i = 0; i < M * 8 * T; i++)
    mel[i] = (mel[i] - 1.0f) / 3.0f;
  /* And the weights move. */
  for (size_t i = 0; i < clar_net_n_params (net); i++) {
    clar_param *p = clar_net_param (net, i);
    for (size_t k = 0; k < p->n; k++)
      p->w[k] += 0.25f;
  }
  clar_net_state_get (net, back);
  CHECK (memcmp (back, saved, n * sizeof (float)) != 0);
  CHECK (clar_net_forward (net, mel, M, T, 0, &h, &z, &lg) == 0);
  memcpy (cur, lg, sizeof cur);
  CHECK (memcmp (cur, ref, sizeof ref) != 0);
  clar_net_state_set (net, saved);
  CHECK (clar_net_forward (net, mel, M, T, 0, &h, &z, &lg) == 0);
  CHECK (memcmp (lg, ref, sizeof ref) == 0);
  clar_net_state_get (net, back);
  CHECK (memcmp (back, saved, n * sizeof (float)) == 0);
  free (saved);
  free (back);
  clar_net_free (net);
}

/* clar_net_freeze_encoder: while frozen, an encoder parameter neither steps
 * nor decays (AdamW and SGD) and its moments stay 0, while the heads learn;
 * thawed after 3 steps, its first step is a fresh optimiser's first step
 * (bias corrections over its own steps: lr sign(g) plus decay), not the
 * overshoot of a moment estimate corrected as if it had 4 steps. */
static void
test_freeze (void)
{
  clar_net *net = small_net (), *ref = small_net ();
  clar_optim a = clar_adam_default ();
  clar_param *w = find (net, "encoder.fc.weight"), *g = find (net, "bn.c1.weight");
  clar_param *c = find (net, "head.classifier.weight"), *p1 = find (net, "head.proj1.weight");
  clar_param *wr = find (ref, "encoder.fc.weight");
  size_t n_enc = 0;
  float w0, g0, c0;
  CHECK (w && g && c && p1 && wr);
  if (!w || !g || !c || !p1 || !wr)
    return;
  for (size_t i = 0; i < clar_net_n_params (net); i++)
    n_enc += strncmp (clar_net_param (net, i)->name, "head.", 5) != 0;
  CHECK_EQ_INT (clar_net_freeze_encoder (net, 1, 3), n_enc);
  CHECK (w->frozen && g->frozen && !c->frozen && !p1->frozen);
  a.weight_decay = 0.1f;
  w0 = w->w[0];
  g0 = g->w[0];
  c0 = c->w[0];
  for (int t = 0; t < 3; t++) {
    clar_net_zero_grad (net);
    w->g[0] = 0.5f;
    g->g[0] = -0.3f;
    c->g[0] = 0.2f;
    clar_optim_step (&a, net, 0.01f);
  }
  CHECK (w->w[0] == w0 && g->w[0] == g0);        /* bit for bit */
  CHECK (w->m[0] == 0.0f && w->v[0] == 0.0f);
  CHECK (fabsf (c->w[0] - c0) > 1e-3f);           /* the head learnt */
  /* Thawed: its first step equals a fresh optimiser's on the same values. */
  clar_net_freeze_encoder (net, 0, 3);
  CHECK (!w->frozen && w->step0 == 3);
  {
    clar_optim fresh = clar_adam_default ();
    float before = w->w[0];
    fresh.weight_decay = 0.1f;
    wr->w[0] = before;
    clar_net_zero_grad (net);
    clar_net_zero_grad (ref);
    w->g[0] = 0.5f;
    wr->g[0] = 0.5f;
    clar_optim_step (&a, net, 0.01f);
    clar_optim_step (&fresh, ref, 0.01f);
    CHECK_CLOSE (w->w[0], wr->w[0], 1e-7);
    CHECK_CLOSE (w->w[0], before * (1 - 0.01 * 0.1) - 0.01 * (0.5 / (0.5 + 1e-8)), 1e-6);
  }
  /* SGD (momentum, decay): a frozen parameter does not move either. */
  clar_net_freeze_encoder (net, 1, 0);
  w0 = w->w[0];
  clar_net_zero_grad (net);
  w->g[0] = 1.0f;
  clar_sgd_step (net, 0.1f, 0.9f, 0.1f);
  CHECK (w->w[0] == w0);
  clar_net_freeze_encoder (net, 0, 0);
  clar_sgd_step (net, 0.1f, 0.9f, 0.1f);
  CHECK (w->w[0] != w0);
  clar_net_free (net);
  clar_net_free (ref);
}

/* sum(dl * logits) + sum(dz * z) of a train=1 forward: its gradient with
 * respect to a head parameter is what clar_net_backward (dz, dl) gives. */
static double
head_objective (clar_net *net, const float *x, int M, int T, const float *dz,
                const float *dl)
{
  const float *z, *lg;
  double o = 0;
  if (clar_net_forward (net, x, M, T, 1, NULL, &z, &lg) != CLAR_OK)
    return NAN;
  for (int i = 0; i < M * 2; i++)
    o += (double) dl[i] * lg[i] + (double) dz[i] * z[i];
  return o;
}

static void
test_freeze_forward (void)
{
  enum { M = 4, T = 6, NM = 8 };
  clar_net *net = small_net ();
  float x[M * NM * T], dz[M * 2], dl[M * 2], h_eval[M * 3], dmel[M * NM * T];
  const float *h;
  clar_param *w = find (net, "encoder.c1.weight"), *g = find (net, "bn.c1.weight");
  clar_param *c = find (net, "head.classifier.weight"), *p2 = find (net, "head.proj2.weight");
  uint64_t s = 7;
  CHECK (net && w && g && c && p2);
  if (!net || !w || !g || !c || !p2)
    return;
  for (int i = 0; i < M * NM * T; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x[i] = (float) ((s >> 40) % 2000) / 1000.0f - 1.0f;
  }
  for (int i = 0; i < M * 2; i++) {
    dz[i] = 0.1f * (float) (i % 5) - 0.2f;
    dl[i] = 0.3f - 0.07f * (float) i;
  }
  /* Train-mode statistics first, so that eval and train mode differ. */
  CHECK_EQ_INT (clar_net_forward (net, x, M, T, 1, &h, NULL, NULL), CLAR_OK);
  CHECK_EQ_INT (clar_net_forward (net, x, M, T, 0, &h, NULL, NULL), CLAR_OK);
  memcpy (h_eval, h, sizeof h_eval);
  clar_net_freeze_encoder (net, 1, 0);
  /* Frozen, train=1 computes the eval-mode features, bit for bit, and
   * leaves the running statistics alone (a second eval forward agrees). */
  CHECK_EQ_INT (clar_net_forward (net, x, M, T, 1, &h, NULL, NULL), CLAR_OK);
  CHECK (!memcmp (h, h_eval, sizeof h_eval));
  CHECK_EQ_INT (clar_net_forward (net, x, M, T, 0, &h, NULL, NULL), CLAR_OK);
  CHECK (!memcmp (h, h_eval, sizeof h_eval));
  /* Backward: the heads' gradients, none of the encoder's. */
  CHECK_EQ_INT (clar_net_forward (net, x, M, T, 1, NULL, NULL, NULL), CLAR_OK);
  clar_net_zero_grad (net);
  CHECK_EQ_INT (clar_net_backward (net, dz, dl, NULL), CLAR_OK);
  for (size_t i = 0; i < w->n; i++)
    CHECK (w->g[i] == 0.0f);
  CHECK (g->g[0] == 0.0f);
  {
    clar_param *ps[2] = { c, p2 };
    int nonzero = 0;
    for (int k = 0; k < 2; k++)
      for (size_t i = 0; i < 2; i++) {
        float keep = ps[k]->w[i], an = ps[k]->g[i], e = 1e-3f;
        double op, om;
        ps[k]->w[i] = keep + e;
        op = head_objective (net, x, M, T, dz, dl);
        ps[k]->w[i] = keep - e;
        om = head_objective (net, x, M, T, dz, dl);
        ps[k]->w[i] = keep;
        nonzero += an != 0.0f;
        /* float objective, step 1e-3: relative 1e-3 plus a floor */
        CHECK_CLOSE (an, (op - om) / (2 * e), 1e-3 * fabs (an) + 2e-5);
      }
    CHECK (nonzero >= 3);
  }
  CHECK_EQ_INT (clar_net_forward (net, x, M, T, 1, NULL, NULL, NULL), CLAR_OK);
  CHECK_EQ_INT (clar_net_backward (net, dz, dl, dmel), CLAR_ERR_INVALID_ARGUMENT);
  /* Thawed: train mode uses the batch again, and the encoder learns. */
  clar_net_freeze_encoder (net, 0, 0);
  CHECK_EQ_INT (clar_net_forward (net, x, M, T, 1, &h, NULL, NULL), CLAR_OK);
  CHECK (memcmp (h, h_eval, sizeof h_eval) != 0);
  clar_net_zero_grad (net);
  CHECK_EQ_INT (clar_net_backward (net, dz, dl, dmel), CLAR_OK);
  {
    float sum = 0;
    for (size_t i = 0; i < w->n; i++)
      sum += fabsf (w->g[i]);
    CHECK (sum > 0.0f);
  }
  clar_net_free (net);
}

int
main (void)
{
  CLAR_TEST_RUN (test_adamw);
  CLAR_TEST_RUN (test_sgd);
  CLAR_TEST_RUN (test_schedule);
  CLAR_TEST_RUN (test_state);
  CLAR_TEST_RUN (test_freeze);
  CLAR_TEST_RUN (test_freeze_forward);
  CLAR_TEST_EXIT ();
}
