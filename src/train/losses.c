/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Contrastive and supervised losses with their gradients: NT-Xent (Chen et
 * al. 2020, SimCLR, eq. 1), SupCon (Khosla et al. 2020, eq. 2, L_out),
 * softmax cross-entropy (also against mixup's soft target), and CLAR's
 * hybrid sum (Al-Tahan & Mohsenzadeh 2021). Each is checked by
 * hand-computed cases, finite differences (tests/test-losses.c) and PyTorch
 * (tests/python/test_losses_torch.py). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "nn.h"

/* Shared by NT-Xent and SupCon: zn = rows of z normalised; S = zn zn^T / tau.
 * For each anchor i, q_ik = softmax over k != i of S_ik. The loss of anchor i
 * is -mean_{p in pos(i)} log q_ip; d loss_i / d S_ik = q_ik - [k in pos]/|pos|.
 * pos(i) is given by a class id per row: rows with equal ids are positives. */
static double
contrastive (const float *z, int R, int P, float tau, const int *row_class,
             float *dz)
{
  float *zn, *S, *dS, *norm, *dzn;
  double loss = 0;
  /* R x R similarities: at most 16384 views (1 GiB each for S and dS). */
  if (!z || R < 2 || R > (1 << 14) || P < 1 || P > (1 << 16) || !(tau > 0.0f))
    return NAN;
  zn = calloc ((size_t) R * P, sizeof (float));
  S = malloc ((size_t) R * R * sizeof (float));
  dS = calloc ((size_t) R * R, sizeof (float));
  norm = malloc ((size_t) R * sizeof (float));
  dzn = calloc ((size_t) R * P, sizeof (float));
  if (!zn || !S || !dS || !norm || !dzn) {
    free (zn); free (S); free (dS); free (norm); free (dzn);
    return NAN;
  }
  for (int i = 0; i < R; i++) {
    double s = 0;
    for (int d = 0; d < P; d++)
      s += (double) z[i * P + d] * z[i * P + d];
    norm[i] = (float) (sqrt (s) + 1e-12);
    for (int d = 0; d < P; d++)
      zn[i * P + d] = z[i * P + d] / norm[i];
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, R, R, P, 1.0f / tau, zn, P, zn, P,
      0.0f, S, R);
  for (int i = 0; i < R; i++) {
    double mx = -INFINITY, sum = 0, lse;
    int npos = 0;
    for (int k = 0; k < R; k++)
      if (k != i && S[i * R + k] > mx)
        mx = S[i * R + k];
    for (int k = 0; k < R; k++)
      if (k != i)
        sum += exp (S[i * R + k] - mx);
    lse = mx + log (sum);
    for (int k = 0; k < R; k++)
      if (k != i && row_class[k] == row_class[i])
        npos++;
    if (npos == 0)
      continue;
    for (int k = 0; k < R; k++) {
      if (k == i)
        continue;
      double q = exp (S[i * R + k] - lse);
      int pos = row_class[k] == row_class[i];
      if (pos)
        loss += -(S[i * R + k] - lse) / npos;
      dS[i * R + k] = (float) ((q - (pos ? 1.0 / npos : 0.0)) / R);
    }
  }
  loss /= R;
  if (dz) {
    /* S = zn zn^T / tau  =>  dzn = (dS + dS^T) zn / tau. */
    for (int i = 0; i < R; i++)
      for (int k = i + 1; k < R; k++) {
        float a = dS[i * R + k] + dS[k * R + i];
        dS[i * R + k] = dS[k * R + i] = a;
      }
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, R, P, R, 1.0f / tau, dS, R, zn, P,
        0.0f, dzn, P);
    for (int i = 0; i < R; i++) {
      double dot = 0;
      for (int d = 0; d < P; d++)
        dot += (double) zn[i * P + d] * dzn[i * P + d];
      for (int d = 0; d < P; d++)
        dz[i * P + d] = (float) ((dzn[i * P + d] - zn[i * P + d] * dot) / norm[i]);
    }
  }
  free (zn); free (S); free (dS); free (norm); free (dzn);
  return loss;
}

double
clar_loss_ntxent (const float *z, int N, int P, float tau, float *dz)
{
  int *cls;
  double l;
  if (N < 1 || N > (1 << 13))
    return NAN;
  cls = malloc ((size_t) 2 * N * sizeof (int));
  if (!cls)
    return NAN;
  /* The only positive of view i is the other view of the same clip. */
  for (int i = 0; i < N; i++)
    cls[i] = cls[i + N] = i;
  l = contrastive (z, 2 * N, P, tau, cls, dz);
  free (cls);
  return l;
}

double
clar_loss_supcon (const float *z, int N, int P, float tau, const int *labels,
                  float *dz)
{
  int *cls;
  double l;
  if (N < 1 || N > (1 << 13) || !labels)
    return NAN;
  cls = malloc ((size_t) 2 * N * sizeof (int));
  if (!cls)
    return NAN;
  for (int i = 0; i < N; i++) {
    /* Unlabelled clips get a class of their own (only the other view). */
    int c = labels[i] >= 0 ? labels[i] : -1 - i;
    cls[i] = cls[i + N] = c;
  }
  l = contrastive (z, 2 * N, P, tau, cls, dz);
  free (cls);
  return l;
}

/* Softmax cross-entropy of each row with label labels[i] in [0, K) against
 * the target lambda_i e(labels[i]) + (1 - lambda_i) e(labels_b[i]) (plain
 * one-hot where labels_b or lambda is NULL or labels_b[i] is outside
 * [0, K)); mean over those rows, gradient softmax - target. A row without a
 * partner computes exactly what a plain cross-entropy does (weights 1 and 0
 * are exact). */
static double
ce_rows (const float *logits, int M, int K, const int *labels, const int *labels_b,
         const float *lambda, float *dlogits)
{
  int n = 0;
  double loss = 0;
  if (!logits || !labels || M < 1 || K < 1)
    return NAN;
  for (int i = 0; i < M; i++)
    if (labels[i] >= 0 && labels[i] < K) {
      if (labels_b && !(lambda[i] >= 0.0f && lambda[i] <= 1.0f))
        return NAN;
      n++;
    }
  if (dlogits)
    memset (dlogits, 0, (size_t) M * K * sizeof (float));
  if (!n)
    return 0.0;
  for (int i = 0; i < M; i++) {
    const float *l = logits + (size_t) i * K;
    double mx = -INFINITY, sum = 0, lse, la;
    int a = labels[i], b;
    if (a < 0 || a >= K)
      continue;
    b = labels_b && labels_b[i] >= 0 && labels_b[i] < K ? labels_b[i] : -1;
    la = b < 0 ? 1.0 : lambda[i];
    for (int k = 0; k < K; k++)
      if (l[k] > mx)
        mx = l[k];
    for (int k = 0; k < K; k++)
      sum += exp (l[k] - mx);
    lse = mx + log (sum);
    loss += lse - la * l[a] - (b < 0 ? 0.0 : (1 - la) * l[b]);
    if (dlogits)
      for (int k = 0; k < K; k++) {
        double t = (k == a ? la : 0.0) + (k == b ? 1 - la : 0.0);
        dlogits[(size_t) i * K + k] = (float) ((exp (l[k] - lse) - t) / n);
      }
  }
  return loss / n;
}

double
clar_loss_ce (const float *logits, int M, int K, const int *labels, float *dlogits)
{
  return ce_rows (logits, M, K, labels, NULL, NULL, dlogits);
}

double
clar_loss_ce_mixup (const float *logits, int M, int K, const int *labels,
                    const int *labels_b, const float *lambda, float *dlogits)
{
  if (!labels_b || !lambda)
    labels_b = NULL;
  return ce_rows (logits, M, K, labels, labels_b, lambda, dlogits);
}

double
clar_loss_hybrid (const float *z, const float *logits, int N, int P, int K,
                  const int *labels, clar_contrastive kind, float tau,
                  float lambda, float *dz, float *dlogits, double *l_con,
                  double *l_ce)
{
  double lc = 0, lce = 0;
  if (l_con)
    *l_con = NAN;
  if (l_ce)
    *l_ce = NAN;
  if (N < 1 || N > (1 << 13) || !labels || K < 0 || !(lambda >= 0.0f))
    return NAN;
  if (kind == CLAR_CONTRASTIVE_NTXENT)
    lc = clar_loss_ntxent (z, N, P, tau, dz);
  else if (kind == CLAR_CONTRASTIVE_SUPCON)
    lc = clar_loss_supcon (z, N, P, tau, labels, dz);
  else if (kind == CLAR_CONTRASTIVE_NONE) {
    if (dz && P > 0)
      memset (dz, 0, (size_t) 2 * N * P * sizeof (float));
  } else
    return NAN;
  if (K > 0 && lambda > 0.0f) {
    /* Both views of a clip carry its label. */
    int *lab2 = malloc ((size_t) 2 * N * sizeof (int));
    if (!lab2)
      return NAN;
    for (int i = 0; i < 2 * N; i++)
      lab2[i] = labels[i % N];
    lce = clar_loss_ce (logits, 2 * N, K, lab2, dlogits);
    free (lab2);
    if (dlogits)
      for (size_t i = 0; i < (size_t) 2 * N * K; i++)
        dlogits[i] *= lambda;
  } else if (dlogits && K > 0) {
    memset (dlogits, 0, (size_t) 2 * N * K * sizeof (float));
  }
  if (l_con)
    *l_con = lc;
  if (l_ce)
    *l_ce = lce;
  return lc + lambda * lce;
}
