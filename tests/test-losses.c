/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Losses of clar-train against hand-computed cases and central finite
 * differences: NT-Xent (SimCLR eq. 1 / DESIGN.md), SupCon (Khosla et al.
 * 2020, eq. 2 "L_out", told apart from eq. 3 "L_in"), cross-entropy with
 * unlabelled rows, and CLAR's hybrid sum. The PyTorch comparison is in
 * tests/python/test_losses_torch.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clar-test.h"
#include "nn.h"

static uint32_t rs = 7;
static float
frand (void)
{
  rs = rs * 1664525u + 1013904223u;
  return (float) (rs >> 8) / 16777216.0f * 2.0f - 1.0f;
}

/* -log(exp(s_pos) / sum exp(s_others)) for one anchor. */
static double
anchor (double pos, double a, double b, double c)
{
  return -(pos - log (exp (a) + exp (b) + exp (c)));
}

static void
test_ntxent_hand (void)
{
  /* Rows 0,1: view a of clips 0,1; rows 2,3: view b. Each anchor has its
   * positive at cosine 1 (S = 1/tau = 2) and two negatives at cosine 0. */
  float z[8] = { 1, 0, 0, 1, 1, 0, 0, 1 }, dz[8];
  double s3 = sqrt (3.0) / 2, want;
  CHECK_CLOSE (clar_loss_ntxent (z, 2, 2, 0.5f, dz), log (exp (2.0) + 2) - 2, 1e-6);

  /* Unit vectors at 0, 90, 60 and 180 degrees (row 3 scaled by 3: only
   * directions count), tau = 1. Cosines: 0-60: 1/2, 0-90: 0, 0-180: -1,
   * 90-60: sqrt(3)/2, 90-180: 0, 60-180: -1/2. */
  {
    float g[8] = { 1, 0, 0, 1, 0.5f, (float) s3, -3, 0 };
    want = (anchor (0.5, 0.5, 0, -1)          /* anchor 0, positive row 2 */
        + anchor (0, 0, s3, 0)                /* anchor 1, positive row 3 */
        + anchor (0.5, 0.5, s3, -0.5)         /* anchor 2, positive row 0 */
        + anchor (0, -1, 0, -0.5)) / 4;       /* anchor 3, positive row 1 */
    CHECK_CLOSE (clar_loss_ntxent (g, 2, 2, 1.0f, NULL), want, 1e-6);
    /* tau scales every similarity. */
    want = (anchor (1, 1, 0, -2) + anchor (0, 0, 2 * s3, 0) + anchor (1, 1, 2 * s3, -1)
        + anchor (0, -2, 0, -1)) / 4;
    CHECK_CLOSE (clar_loss_ntxent (g, 2, 2, 0.5f, NULL), want, 1e-6);
  }
  /* One clip: the only other view is the positive, loss 0, gradient 0. */
  {
    float one[4] = { 1, 2, -3, 1 }, d1[4];
    CHECK_CLOSE (clar_loss_ntxent (one, 1, 2, 0.5f, d1), 0.0, 1e-7);
    CHECK_CLOSE (fabs (d1[0]) + fabs (d1[1]) + fabs (d1[2]) + fabs (d1[3]), 0.0, 1e-7);
  }
  /* Large 1/tau with aligned vectors stays finite (log-sum-exp). */
  {
    float same[8] = { 1, 0, 1, 0, 1, 0, 1, 0 };
    double l = clar_loss_ntxent (same, 2, 2, 1e-3f, dz);
    CHECK_CLOSE (l, log (3.0), 1e-5);
    CHECK (isfinite (dz[0]));
  }
}

static void
test_supcon_hand (void)
{
  float z[8] = { 1, 0, 0, 1, 1, 0, 0, 1 };
  int same[2] = { 0, 0 }, diff[2] = { 3, 7 }, unl[2] = { -1, -1 };
  /* Both clips one class: the positives of each anchor are all 3 others.
   * L_out (eq. 2) = lse - mean of positive logits = log(e^2 + 2) - 2/3;
   * L_in (eq. 3) would be -log(1/3 (e^0 + e^2 + e^0)/(e^2 + 2)) = log 3. */
  double l = clar_loss_supcon (z, 2, 2, 0.5f, same, NULL);
  CHECK_CLOSE (l, log (exp (2.0) + 2) - 2.0 / 3, 1e-6);
  CHECK (fabs (l - log (3.0)) > 0.1);
  /* Distinct classes and unlabelled clips reduce to NT-Xent. */
  {
    float r[6 * 5];
    int lab[3] = { 0, 1, 2 }, lu[3] = { -1, -1, -1 };
    for (int i = 0; i < 30; i++)
      r[i] = frand ();
    CHECK_CLOSE (clar_loss_supcon (r, 3, 5, 0.3f, lab, NULL), clar_loss_ntxent (r, 3, 5, 0.3f, NULL), 1e-6);
    CHECK_CLOSE (clar_loss_supcon (r, 3, 5, 0.3f, lu, NULL), clar_loss_ntxent (r, 3, 5, 0.3f, NULL), 1e-6);
  }
  CHECK_CLOSE (clar_loss_supcon (z, 2, 2, 0.5f, diff, NULL), log (exp (2.0) + 2) - 2, 1e-6);
  CHECK_CLOSE (clar_loss_supcon (z, 2, 2, 0.5f, unl, NULL), log (exp (2.0) + 2) - 2, 1e-6);
  /* One labelled pair of the same class among unlabelled clips: anchor 0
   * (clip 0, class 1) has positives rows 2 (its view) and 1 and 3 (clip 1,
   * class 1); clip 2 unlabelled keeps only its own view. */
  {
    float g[12] = { 1, 0, 0, 1, -1, 0, 1, 0, 0, 1, -1, 0 };   /* 3 clips x 2 views */
    int lab[3] = { 1, 1, -1 };
    /* tau = 1; rows: 0 (1,0) 1 (0,1) 2 (-1,0) 3 (1,0) 4 (0,1) 5 (-1,0). */
    double lse0 = log (exp (0) + exp (-1) + exp (1) + exp (0) + exp (-1));
    double l0 = lse0 - (0 + 1 + 0) / 3.0;            /* positives rows 1, 3, 4 */
    double lse1 = log (exp (0) + exp (0) + exp (0) + exp (1) + exp (0));
    double l1 = lse1 - (0 + 0 + 1) / 3.0;            /* positives rows 0, 3, 4 */
    double lse2 = log (exp (-1) + exp (0) + exp (-1) + exp (0) + exp (1));
    double l2 = lse2 - 1;                            /* positive row 5 only */
    /* rows 3, 4, 5 mirror rows 0, 1, 2 (same vectors, same roles) */
    CHECK_CLOSE (clar_loss_supcon (g, 3, 2, 1.0f, lab, NULL), (l0 + l1 + l2) / 3, 1e-6);
  }
}

static void
test_ce_hand (void)
{
  float logits[6] = { 0.0f, (float) log (3.0), 5, 5, 1000, 0 }, dl[6];
  int lab[3] = { 1, -1, 0 }, none[3] = { -1, -1, -1 };
  /* Row 0: p = (1/4, 3/4), loss -log(3/4); row 1 unlabelled; row 2: logit
   * 1000 vs 0 with the right label: loss ~0, no overflow. Mean over the 2
   * labelled rows. */
  CHECK_CLOSE (clar_loss_ce (logits, 3, 2, lab, dl), -log (0.75) / 2, 1e-6);
  CHECK_CLOSE (dl[0], 0.25 / 2, 1e-6);
  CHECK_CLOSE (dl[1], -0.25 / 2, 1e-6);
  CHECK (dl[2] == 0.0f && dl[3] == 0.0f);
  CHECK_CLOSE (dl[4], 0.0, 1e-7);
  CHECK_CLOSE (clar_loss_ce (logits, 3, 2, none, dl), 0.0, 0);
  CHECK (dl[0] == 0.0f && dl[5] == 0.0f);
  /* Uniform logits over K classes: log K. */
  {
    float u[4] = { 2, 2, 2, 2 };
    int l1[1] = { 3 };
    CHECK_CLOSE (clar_loss_ce (u, 1, 4, l1, NULL), log (4.0), 1e-6);
  }
}

static void
test_hybrid (void)
{
  enum { N = 3, P = 4, K = 3 };
  float z[2 * N * P], lg[2 * N * K], dz[2 * N * P], dl[2 * N * K], dz2[2 * N * P], dl2[2 * N * K];
  int lab[N] = { 2, -1, 0 }, lab2[2 * N];
  double lc, lce, l;
  for (int i = 0; i < 2 * N * P; i++)
    z[i] = frand ();
  for (int i = 0; i < 2 * N * K; i++)
    lg[i] = 3 * frand ();
  for (int i = 0; i < 2 * N; i++)
    lab2[i] = lab[i % N];
  l = clar_loss_hybrid (z, lg, N, P, K, lab, CLAR_CONTRASTIVE_NTXENT, 0.5f, 0.3f, dz, dl, &lc, &lce);
  CHECK_CLOSE (lc, clar_loss_ntxent (z, N, P, 0.5f, dz2), 1e-9);
  CHECK_CLOSE (lce, clar_loss_ce (lg, 2 * N, K, lab2, dl2), 1e-9);
  CHECK_CLOSE (l, lc + (double) 0.3f * lce, 1e-9);
  for (int i = 0; i < 2 * N * P; i++)
    CHECK_CLOSE (dz[i], dz2[i], 1e-7);
  for (int i = 0; i < 2 * N * K; i++)
    CHECK_CLOSE (dl[i], 0.3 * dl2[i], 1e-7);
  /* SupCon variant, CE only, no classes. */
  l = clar_loss_hybrid (z, lg, N, P, K, lab, CLAR_CONTRASTIVE_SUPCON, 0.5f, 1.0f, NULL, NULL, &lc, &lce);
  CHECK_CLOSE (lc, clar_loss_supcon (z, N, P, 0.5f, lab, NULL), 1e-9);
  l = clar_loss_hybrid (z, lg, N, P, K, lab, CLAR_CONTRASTIVE_NONE, 0.5f, 1.0f, dz, dl, &lc, &lce);
  CHECK_CLOSE (l, lce, 1e-12);
  CHECK (dz[0] == 0.0f && dz[2 * N * P - 1] == 0.0f);
  l = clar_loss_hybrid (z, NULL, N, P, 0, lab, CLAR_CONTRASTIVE_NTXENT, 0.5f, 1.0f, dz, NULL, &lc, &lce);
  CHECK_CLOSE (l, lc, 1e-12);
  CHECK_CLOSE (lce, 0.0, 0);
}

/* Mixup's soft target (Zhang et al. 2018): the loss is the lambda-weighted
 * sum of the two hard cross-entropies, lambda 1 or no partner is plain CE,
 * and the gradient of a row is softmax - target. */
static void
test_ce_mixup (void)
{
  float lg[9], dl[9], dl2[9], lam[3] = { 0.7f, 0.6f, 1.0f }, bad[3] = { 0.7f, 1.5f, 1.0f };
  int lab[3] = { 0, 2, -1 }, lb[3] = { 1, -1, 0 }, none[3] = { -1, -1, -1 }, a1[3] = { 0, -1, -1 },
      b1[3] = { 1, -1, -1 };
  double ca, cb, want;
  for (int i = 0; i < 9; i++)
    lg[i] = 2 * frand ();
  /* Row 0 mixes classes 0 and 1; row 1 has no partner (its own label); row 2
   * is unlabelled (skipped even with a partner). */
  ca = clar_loss_ce (lg, 1, 3, a1, NULL);
  cb = clar_loss_ce (lg, 1, 3, b1, NULL);
  {
    int r1[3] = { -1, 2, -1 };
    want = (0.7 * ca + 0.3 * cb + clar_loss_ce (lg, 3, 3, r1, NULL)) / 2;
  }
  CHECK_CLOSE (clar_loss_ce_mixup (lg, 3, 3, lab, lb, lam, dl), want, 1e-6);
  {
    double sm[3], mx = fmax (lg[0], fmax (lg[1], lg[2])), sum = 0;
    for (int k = 0; k < 3; k++)
      sum += (sm[k] = exp (lg[k] - mx));
    CHECK_CLOSE (dl[0], (sm[0] / sum - 0.7) / 2, 1e-6);
    CHECK_CLOSE (dl[1], (sm[1] / sum - 0.3) / 2, 1e-6);
    CHECK_CLOSE (dl[2], (sm[2] / sum) / 2, 1e-6);
  }
  CHECK (dl[6] == 0.0f && dl[7] == 0.0f && dl[8] == 0.0f);
  /* No partner anywhere, or lambda 1: clar_loss_ce exactly. */
  CHECK_CLOSE (clar_loss_ce_mixup (lg, 3, 3, lab, none, lam, dl), clar_loss_ce (lg, 3, 3, lab, dl2), 1e-12);
  for (int i = 0; i < 9; i++)
    CHECK_CLOSE (dl[i], dl2[i], 1e-9);
  {
    float one[3] = { 1, 1, 1 };
    CHECK_CLOSE (clar_loss_ce_mixup (lg, 3, 3, lab, lb, one, NULL), clar_loss_ce (lg, 3, 3, lab, NULL), 1e-12);
  }
  CHECK_CLOSE (clar_loss_ce_mixup (lg, 3, 3, lab, NULL, lam, NULL), clar_loss_ce (lg, 3, 3, lab, NULL), 1e-12);
  CHECK_CLOSE (clar_loss_ce_mixup (lg, 3, 3, none, lb, lam, dl), 0.0, 0);
  /* A lambda outside [0, 1] on a labelled row is refused, not used. */
  CHECK (isnan (clar_loss_ce_mixup (lg, 3, 3, lab, lb, bad, NULL)));
}

static void
test_invalid (void)
{
  float z[8] = { 1, 0, 0, 1, 1, 0, 0, 1 };
  int lab[2] = { 0, 0 };
  CHECK (isnan (clar_loss_ntxent (z, 0, 2, 0.5f, NULL)));
  CHECK (isnan (clar_loss_ntxent (z, 2, 2, 0.0f, NULL)));
  CHECK (isnan (clar_loss_ntxent (NULL, 2, 2, 0.5f, NULL)));
  CHECK (isnan (clar_loss_supcon (z, 2, 2, 0.5f, NULL, NULL)));
  CHECK (isnan (clar_loss_ce (z, 2, 0, lab, NULL)));
  CHECK (isnan (clar_loss_hybrid (z, z, 2, 2, 2, lab, (clar_contrastive) 9, 0.5f, 1.0f, NULL, NULL,
      NULL, NULL)));
  CHECK (isnan (clar_loss_hybrid (z, z, 2, 2, 2, lab, CLAR_CONTRASTIVE_NTXENT, 0.5f, -1.0f, NULL,
      NULL, NULL, NULL)));
}

/* ---- finite differences ---- */
enum { FN = 3, FP = 4, FK = 3 };
typedef struct {
  int which;                        /* 0 ntxent 1 supcon 2 ce 3 hybrid 4 ce_mixup */
  float z[2 * FN * FP], lg[2 * FN * FK], lam[2 * FN];
  int lab[FN], lab2[2 * FN], labb[2 * FN];
} lctx;

static double
eval (lctx *c, float *dz, float *dl)
{
  switch (c->which) {
    case 0:
      return clar_loss_ntxent (c->z, FN, FP, 0.5f, dz);
    case 1:
      return clar_loss_supcon (c->z, FN, FP, 0.5f, c->lab, dz);
    case 2:
      return clar_loss_ce (c->lg, 2 * FN, FK, c->lab2, dl);
    case 4:
      return clar_loss_ce_mixup (c->lg, 2 * FN, FK, c->lab2, c->labb, c->lam, dl);
    default:
      return clar_loss_hybrid (c->z, c->lg, FN, FP, FK, c->lab, CLAR_CONTRASTIVE_SUPCON, 0.5f,
          0.7f, dz, dl, NULL, NULL);
  }
}

static double
fd (lctx *c, float *v, const float *g, int n)
{
  double md = 0, mg = 1e-12;
  for (int i = 0; i < n; i++) {
    float s = v[i];
    double up, dn, num;
    v[i] = s + 1e-3f;
    up = eval (c, NULL, NULL);
    v[i] = s - 1e-3f;
    dn = eval (c, NULL, NULL);
    v[i] = s;
    num = (up - dn) / 2e-3;
    md = fmax (md, fabs (num - g[i]));
    mg = fmax (mg, fabs (g[i]));
  }
  return md / mg;
}

static void
test_gradients (void)
{
  static const char *names[5] = { "NT-Xent", "SupCon (labels 0, -1, 0)", "cross-entropy",
                                  "hybrid (SupCon + 0.7 CE)", "mixup cross-entropy" };
  for (int w = 0; w < 5; w++) {
    lctx c;
    float dz[2 * FN * FP], dl[2 * FN * FK];
    double e = 0;
    c.which = w;
    for (int i = 0; i < 2 * FN * FP; i++)
      c.z[i] = frand ();
    for (int i = 0; i < 2 * FN * FK; i++)
      c.lg[i] = 2 * frand ();
    c.lab[0] = 0;
    c.lab[1] = -1;
    c.lab[2] = 0;
    for (int i = 0; i < 2 * FN; i++) {
      c.lab2[i] = c.lab[i % FN];
      c.labb[i] = i % 3 == 1 ? -1 : (i + 1) % FK;    /* some rows unmixed */
      c.lam[i] = 0.55f + 0.08f * (float) i;
    }
    eval (&c, dz, dl);
    if (w != 2 && w != 4)
      e = fmax (e, fd (&c, c.z, dz, 2 * FN * FP));
    if (w >= 2)
      e = fmax (e, fd (&c, c.lg, dl, 2 * FN * FK));
    printf ("  %-26s gradient: max rel err %.2e\n", names[w], e);
    CHECK_MSG (e < 1e-3, "%s gradient: %.3g", names[w], e);
  }
}

int
main (void)
{
  CLAR_TEST_RUN (test_ntxent_hand);
  CLAR_TEST_RUN (test_supcon_hand);
  CLAR_TEST_RUN (test_ce_hand);
  CLAR_TEST_RUN (test_hybrid);
  CLAR_TEST_RUN (test_ce_mixup);
  CLAR_TEST_RUN (test_invalid);
  CLAR_TEST_RUN (test_gradients);
  CLAR_TEST_EXIT ();
}
