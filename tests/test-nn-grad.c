/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Trainer maths: every gradient against central finite differences, losses
 * against hand-computed cases, AdamW and the schedule, BN folding at export,
 * checkpoint round trip, and a tiny run whose loss falls. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <clar/clar.h>
#include "clar-test.h"
#include "nn.h"

static const char *tiny_arch =
  "[{\"op\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":3,\"kernel\":3,\"pad\":1},"
  "{\"op\":\"relu\"},{\"op\":\"maxpool2d\",\"kernel\":2},"
  "{\"op\":\"conv2d\",\"name\":\"c2\",\"in\":3,\"out\":4,\"kernel\":3,\"pad\":1},"
  "{\"op\":\"relu\"},{\"op\":\"avgpool2d\",\"kernel\":2},{\"op\":\"global_avg_pool\"},"
  "{\"op\":\"linear\",\"name\":\"fc\",\"in\":4,\"out\":5}]";

static uint32_t rs = 99;
static float
frand (void)
{
  rs = rs * 1664525u + 1013904223u;
  return (float) (rs >> 8) / 16777216.0f * 2.0f - 1.0f;
}

static clar_net *
tiny_net (int n_mels, int K)
{
  clar_net_config c = clar_net_default_config ();
  c.architecture = tiny_arch;
  c.mel.n_mels = n_mels;
  c.mel.f_min = 0;
  c.proj_dim = 3;
  c.n_classes = K;
  c.window_samples = 16000;
  return clar_net_new (&c, NULL);
}

/* Hybrid objective used for the check: NT-Xent on z + CE on the logits. */
static double
objective (clar_net *net, const float *mel, int N, int T, const int *labels,
           float *dz, float *dl)
{
  const float *z, *logits;
  int M = 2 * N, lab2[16];
  double l;
  clar_net_forward (net, mel, M, T, 1, NULL, &z, &logits);
  for (int i = 0; i < M; i++)
    lab2[i] = labels[i % N];
  l = clar_loss_ntxent (z, N, clar_net_proj_dim (net), 0.5f, dz);
  l += 0.7 * clar_loss_ce (logits, M, clar_net_n_classes (net), lab2, dl);
  if (dl)
    for (int i = 0; i < M * clar_net_n_classes (net); i++)
      dl[i] *= 0.7f;
  return l;
}

static void
test_gradients (void)
{
  enum { N = 3, F = 8, T = 12 };
  int labels[N] = { 0, 1, 0 };
  clar_net *net = tiny_net (F, 2);
  float mel[2 * N * F * T], dmel[2 * N * F * T], dz[2 * N * 3], dl[2 * N * 2];
  double worst = 0;
  CHECK (net != NULL);
  if (!net) return;
  for (int i = 0; i < 2 * N * F * T; i++)
    mel[i] = frand () * 2;
  clar_net_zero_grad (net);
  objective (net, mel, N, T, labels, dz, dl);
  clar_net_backward (net, dz, dl, dmel);
  for (size_t p = 0; p < clar_net_n_params (net); p++) {
    clar_param *par = clar_net_param (net, p);
    double pw = 0;
    for (size_t k = 0; k < par->n && k < 8; k++) {
      size_t j = (k * 7919) % par->n;
      float save = par->w[j];
      double an = par->g[j], rel = INFINITY;
      /* Two step sizes: float32 rounding limits small steps, ReLU/max-pool
       * kinks large ones; a wrong gradient disagrees with both. */
      for (int q = 0; q < 2; q++) {
        float h = q ? 3e-3f : 1e-3f;
        double up, dn, num;
        par->w[j] = save + h;
        up = objective (net, mel, N, T, labels, NULL, NULL);
        par->w[j] = save - h;
        dn = objective (net, mel, N, T, labels, NULL, NULL);
        par->w[j] = save;
        num = (up - dn) / (2 * h);
        rel = fmin (rel, fabs (num - an) / fmax (fmax (fabs (num), fabs (an)), 2e-2));
        if (getenv ("CLAR_GRAD_DEBUG"))
          printf ("    %s[%zu] h=%g analytic %.6g numeric %.6g\n", par->name, j, h, an, num);
      }
      if (rel > pw) pw = rel;
    }
    printf ("  %-28s max rel err %.2e\n", par->name, pw);
    /* 4e-2: ReLU and max-pool kinks inside the step bend the difference
     * quotient of the first conv's weights by a few percent (see
     * CLAR_GRAD_DEBUG=1 output); a wrong formula is off by far more. */
    CHECK_MSG (pw < 4e-2, "%s: finite-difference mismatch %.3g", par->name, pw);
    if (pw > worst) worst = pw;
  }
  {
    double pw = 0;
    for (int k = 0; k < 12; k++) {
      int j = (k * 131) % (2 * N * F * T);
      float save = mel[j], h = 1e-3f;
      double up, dn, num, rel;
      mel[j] = save + h;
      up = objective (net, mel, N, T, labels, NULL, NULL);
      mel[j] = save - h;
      dn = objective (net, mel, N, T, labels, NULL, NULL);
      mel[j] = save;
      num = (up - dn) / (2 * h);
      rel = fabs (num - dmel[j]) / fmax (fmax (fabs (num), fabs (dmel[j])), 2e-2);
      if (rel > pw) pw = rel;
    }
    printf ("  %-28s max rel err %.2e\n", "input (mel)", pw);
    CHECK (pw < 3e-2);
    if (pw > worst) worst = pw;
  }
  printf ("worst finite-difference relative error: %.2e\n", worst);
  clar_net_free (net);
}

static void
check_loss_grad (const char *what, double (*f) (const float *, int, int, float, const int *, float *),
                 const int *labels)
{
  enum { N = 3, P = 4 };
  float z[2 * N * P], dz[2 * N * P];
  double worst = 0;
  for (int i = 0; i < 2 * N * P; i++)
    z[i] = frand ();
  f (z, N, P, 0.5f, labels, dz);
  for (int j = 0; j < 2 * N * P; j++) {
    float s = z[j];
    double up, dn, num;
    z[j] = s + 1e-3f; up = f (z, N, P, 0.5f, labels, NULL);
    z[j] = s - 1e-3f; dn = f (z, N, P, 0.5f, labels, NULL);
    z[j] = s;
    num = (up - dn) / 2e-3;
    worst = fmax (worst, fabs (num - dz[j]) / fmax (fmax (fabs (num), fabs (dz[j])), 1e-2));
  }
  printf ("  %s gradient: max rel err %.2e\n", what, worst);
  CHECK_MSG (worst < 1e-2, "%s gradient", what);
}

static double
ntxent_adapter (const float *z, int N, int P, float tau, const int *l, float *dz)
{
  (void) l;
  return clar_loss_ntxent (z, N, P, tau, dz);
}

static void
test_losses (void)
{
  /* Rows 0,1: view a of clips 0,1; rows 2,3: view b. Each anchor has its
   * positive at cosine 1 (S = 2) and two negatives at cosine 0. */
  float z[8] = { 1, 0, 0, 1, 1, 0, 0, 1 };
  int same[2] = { 0, 0 }, lab[2] = { 1, -1 };
  float logits[2] = { 0.0f, (float) log (3.0) }, dl[2];
  CHECK_CLOSE (clar_loss_ntxent (z, 2, 2, 0.5f, NULL), log (exp (2.0) + 2) - 2, 1e-6);
  /* SupCon, both clips one class: positives are all 3 others. */
  CHECK_CLOSE (clar_loss_supcon (z, 2, 2, 0.5f, same, NULL), log (exp (2.0) + 2) - 2.0 / 3, 1e-6);
  CHECK_CLOSE (clar_loss_ce (logits, 1, 2, lab, dl), -log (0.75), 1e-6);
  CHECK_CLOSE (dl[0], 0.25, 1e-6);
  CHECK_CLOSE (dl[1], -0.25, 1e-6);
  CHECK_CLOSE (clar_loss_ce (logits, 1, 2, lab + 1, dl), 0.0, 0);   /* unlabelled */
  check_loss_grad ("NT-Xent", ntxent_adapter, NULL);
  {
    int l3[3] = { 0, 1, 0 }, l3u[3] = { 2, -1, -1 };
    check_loss_grad ("SupCon", clar_loss_supcon, l3);
    check_loss_grad ("SupCon (unlabelled)", clar_loss_supcon, l3u);
  }
}

static void
test_adam_and_schedule (void)
{
  clar_net *net = tiny_net (8, 0);
  clar_adam a = clar_adam_default ();
  clar_param *p = clar_net_param (net, 0);
  float w0 = p->w[0];
  clar_net_zero_grad (net);
  p->g[0] = 0.5f;
  a.weight_decay = 0.1f;
  clar_adam_step (&a, net, 0.01f);
  /* Step 1: mhat = g, vhat = g^2 -> update = lr * sign(g) (+ decay). */
  CHECK_CLOSE (p->w[0], w0 - 0.01 * (0.5 / (0.5 + 1e-8)) - 0.01 * 0.1 * w0, 1e-6);
  {
    /* SGD with momentum: two steps by hand. */
    clar_param *q = clar_net_param (net, 1);
    float q0 = q->w[0];
    memset (q->m, 0, q->n * sizeof (float));
    clar_net_zero_grad (net);
    q->g[0] = 1.0f;
    clar_sgd_step (net, 0.1f, 0.9f, 0.0f);
    CHECK_CLOSE (q->w[0], q0 - 0.1, 1e-6);
    clar_sgd_step (net, 0.1f, 0.9f, 0.0f);   /* v = 0.9 + 1 */
    CHECK_CLOSE (q->w[0], q0 - 0.1 - 0.19, 1e-6);
  }
  CHECK_CLOSE (clar_lr_schedule (0, 10, 110, 1.0f, 0.0f), 0.1, 1e-6);
  CHECK_CLOSE (clar_lr_schedule (9, 10, 110, 1.0f, 0.0f), 1.0, 1e-6);
  CHECK_CLOSE (clar_lr_schedule (60, 10, 110, 1.0f, 0.0f), 0.5, 1e-6);
  CHECK_CLOSE (clar_lr_schedule (110, 10, 110, 1.0f, 0.1f), 0.1, 1e-6);
  clar_net_free (net);
}

static void
test_export_and_checkpoint (void)
{
  enum { N = 4, T = 101 };
  const char *names[2] = { "low", "high" };
  clar_net_config c = clar_net_default_config ();
  clar_net *net, *net2;
  clar_error err;
  clar_model *m = NULL;
  clar_adam a = clar_adam_default ();
  char path[] = "/tmp/clar-export-XXXXXX", ck[] = "/tmp/clar-ckpt-XXXXXX";
  float *mel = malloc ((size_t) 2 * N * 64 * T * sizeof (float)), emb[128], user[3] = { 1, 2, 3 }, u2[3];
  int labels[N] = { 0, 1, 0, 1 };
  const float *h;
  c.n_classes = 2;
  c.class_names = names;
  net = clar_net_new (&c, &err);
  for (int i = 0; i < 2 * N * 64 * T; i++)
    mel[i] = frand () * 3 - 5;
  /* A few steps so BN statistics and weights move away from the start. */
  for (int s = 0; s < 3; s++) {
    const float *z, *lg;
    float dz[2 * N * 64], dl[2 * N * 2];
    int lab2[2 * N];
    for (int i = 0; i < 2 * N; i++) lab2[i] = labels[i % N];
    clar_net_zero_grad (net);
    clar_net_forward (net, mel, 2 * N, T, 1, NULL, &z, &lg);
    clar_loss_ntxent (z, N, 64, 0.5f, dz);
    clar_loss_ce (lg, 2 * N, 2, lab2, dl);
    clar_net_backward (net, dz, dl, NULL);
    clar_adam_step (&a, net, 1e-3f);
  }
  close (mkstemp (path));
  CHECK_EQ_INT (clar_net_export (net, path, NULL, &err), CLAR_OK);
  CHECK_EQ_INT (clar_model_load_file (path, &m, &err), CLAR_OK);
  if (m) {
    clar_session *s = clar_session_new (m, &err);
    double worst = 0, mx = 0;
    clar_net_forward (net, mel, 2 * N, T, 0, &h, NULL, NULL);
    for (int i = 0; i < 2 * N; i++) {
      clar_session_encode_raw (s, mel + (size_t) i * 64 * T, T, emb);
      for (int d = 0; d < 128; d++) {
        worst = fmax (worst, fabs (emb[d] - h[i * 128 + d]));
        mx = fmax (mx, fabs (h[i * 128 + d]));
      }
    }
    printf ("exported model vs eval-mode training net: max rel err %.2e\n", worst / mx);
    CHECK (worst / mx < 1e-4);
    CHECK (clar_model_get_labels (m) && clar_labels_count (clar_model_get_labels (m)) == 2);
    CHECK (strcmp (clar_labels_name (clar_model_get_labels (m), 1), "high") == 0);
    clar_session_free (s);
    clar_model_unref (m);
  }
  unlink (path);
  /* Checkpoint round trip: the next step is identical. */
  close (mkstemp (ck));
  CHECK_EQ_INT (clar_net_save_checkpoint (net, &a, user, 3, ck, &err), CLAR_OK);
  net2 = clar_net_new (&c, &err);
  {
    clar_adam a2 = clar_adam_default ();
    const float *z1, *z2;
    CHECK_EQ_INT (clar_net_load_checkpoint (net2, &a2, u2, 3, ck, &err), CLAR_OK);
    CHECK_EQ_INT (a2.step, a.step);
    CHECK (u2[2] == 3.0f);
    clar_net_forward (net, mel, 2 * N, T, 0, NULL, &z1, NULL);
    float keep[64];
    memcpy (keep, z1, sizeof keep);
    clar_net_forward (net2, mel, 2 * N, T, 0, NULL, &z2, NULL);
    CHECK (memcmp (keep, z2, sizeof keep) == 0);
  }
  unlink (ck);
  clar_net_free (net2);
  clar_net_free (net);
  free (mel);
}

static void
test_loss_falls (void)
{
  /* Two synthetic classes of "spectrograms" (energy in low vs high bands)
   * with noise; the hybrid loss must fall over 40 steps. */
  enum { N = 8, F = 16, T = 24 };
  clar_net *net = tiny_net (F, 2);
  clar_adam a = clar_adam_default ();
  float mel[2 * N * F * T], dz[2 * N * 3], dl[2 * N * 2];
  int labels[N];
  double first = 0, last = 0;
  for (int step = 0; step < 40; step++) {
    for (int i = 0; i < N; i++)
      labels[i] = (i + step) % 2;
    for (int v = 0; v < 2 * N; v++)
      for (int f = 0; f < F; f++)
        for (int t = 0; t < T; t++)
          mel[(v * F + f) * T + t] = ((labels[v % N] ? f >= F / 2 : f < F / 2) ? 2.0f : 0.0f)
              + 0.5f * frand ();
    clar_net_zero_grad (net);
    double l = objective (net, mel, N, T, labels, dz, dl);
    clar_net_backward (net, dz, dl, NULL);
    clar_adam_step (&a, net, 5e-3f);
    if (step < 5) first += l / 5;
    if (step >= 35) last += l / 5;
  }
  printf ("tiny run: loss %.3f (first 5 steps) -> %.3f (last 5)\n", first, last);
  CHECK (last < 0.8 * first);
  clar_net_free (net);
}

int
main (void)
{
  CLAR_TEST_RUN (test_gradients);
  CLAR_TEST_RUN (test_losses);
  CLAR_TEST_RUN (test_adam_and_schedule);
  CLAR_TEST_RUN (test_export_and_checkpoint);
  CLAR_TEST_RUN (test_loss_falls);
  CLAR_TEST_EXIT ();
}
