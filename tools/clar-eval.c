/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * clar-eval: how good are a model's embeddings on a labelled set?
 *
 *   clar-eval --model M --data MANIFEST.tsv [--train-split train]
 *             [--test-split val] [--json] [--cache DIR]
 *
 * Each clip is embedded as the normalised mean of its window embeddings
 * (windows of the model's length every half window; a clip shorter than a
 * window is zero-padded). Reports on the test split:
 *   knn1, knn5  cosine k-nearest-neighbour accuracy against the train split
 *   probe       a linear softmax probe trained on the train split
 *               (500 full-batch Adam steps, L2 1e-4; deterministic)
 *   head        the model's own label set, for clips whose class it names
 * and a confusion summary (per-class probe accuracy, most confused pairs).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>
#include <clar/clar.h>

#include "dataset.h"

static int
embed_clip (clar_session *s, const clar_model_info *info, const clar_clip *c, float *out,
            float *win, float *e)
{
  size_t W = info->window_samples, H = W / 2, D = info->embedding_dim, nw = 0;
  double ss = 0;
  memset (out, 0, D * sizeof (float));
  for (size_t start = 0; start == 0 || start + W / 2 <= c->n; start += H) {
    size_t valid = c->n - start < W ? c->n - start : W;
    memcpy (win, c->pcm + start, valid * sizeof (float));
    memset (win + valid, 0, (W - valid) * sizeof (float));
    if (clar_session_embed (s, win, W, e) != CLAR_OK)
      continue;
    for (size_t d = 0; d < D; d++)
      out[d] += e[d];
    nw++;
    if (valid < W)
      break;
  }
  for (size_t d = 0; d < D; d++)
    ss += (double) out[d] * out[d];
  if (!nw || ss <= 0)
    return -1;
  for (size_t d = 0; d < D; d++)
    out[d] = (float) (out[d] / sqrt (ss));
  return 0;
}

static float *
embed_all (clar_session *s, const clar_model_info *info, clar_dataset *ds)
{
  size_t D = info->embedding_dim;
  float *E = calloc (ds->n_clips * D, sizeof (float));
  float *win = malloc (info->window_samples * sizeof (float)), *e = malloc (D * sizeof (float));
  for (size_t i = 0; i < ds->n_clips; i++)
    if (embed_clip (s, info, &ds->clips[i], E + i * D, win, e))
      ds->clips[i].class_id = -1;   /* could not embed: excluded */
  free (win);
  free (e);
  return E;
}

static int
knn (const float *Etr, const clar_dataset *tr, const float *q, size_t D, int k, size_t K)
{
  /* Top-k by cosine (unit vectors), majority vote, ties to the nearest. */
  int best_i[16];
  float best_s[16];
  int m = 0;
  int *votes = calloc (K, sizeof (int)), win = -1, wv = 0;
  for (size_t i = 0; i < tr->n_clips; i++) {
    float sim = 0;
    int pos;
    if (tr->clips[i].class_id < 0)
      continue;
    for (size_t d = 0; d < D; d++)
      sim += Etr[i * D + d] * q[d];
    if (m == k && sim <= best_s[m - 1])
      continue;
    pos = m < k ? m++ : k - 1;
    while (pos > 0 && best_s[pos - 1] < sim) {
      best_s[pos] = best_s[pos - 1];
      best_i[pos] = best_i[pos - 1];
      pos--;
    }
    best_s[pos] = sim;
    best_i[pos] = (int) i;
  }
  for (int j = 0; j < m; j++) {
    int c = tr->clips[best_i[j]].class_id;
    if (++votes[c] > wv) {
      wv = votes[c];
      win = c;
    }
  }
  free (votes);
  return win;
}

int
main (int argc, char **argv)
{
  const char *model_path = NULL, *data = NULL, *trs = "train", *tes = "val", *cache = NULL;
  int json = 0;
  clar_model *model = NULL;
  clar_session *s;
  clar_error err;
  clar_dataset tr, te;
  const clar_model_info *info;
  size_t D, K;
  float *Etr, *Ete;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp (a, "--model") && v) model_path = argv[++i];
    else if (!strcmp (a, "--data") && v) data = argv[++i];
    else if (!strcmp (a, "--train-split") && v) trs = argv[++i];
    else if (!strcmp (a, "--test-split") && v) tes = argv[++i];
    else if (!strcmp (a, "--cache") && v) cache = argv[++i];
    else if (!strcmp (a, "--json")) json = 1;
    else {
      fprintf (stderr, "usage: clar-eval --model M --data MANIFEST.tsv [--train-split S] "
          "[--test-split S] [--json] [--cache DIR]\n");
      return 2;
    }
  }
  if (!model_path || !data) {
    fprintf (stderr, "clar-eval: --model and --data are required\n");
    return 2;
  }
  gst_init (NULL, NULL);
  if (clar_model_load_file (model_path, &model, &err) != CLAR_OK) {
    fprintf (stderr, "clar-eval: %s\n", err.message);
    return 1;
  }
  info = clar_model_get_info (model);
  s = clar_session_new (model, &err);
  memset (&tr, 0, sizeof tr);
  memset (&te, 0, sizeof te);
  if (clar_dataset_list (&tr, data, trs) || clar_dataset_list (&te, data, tes)
      || clar_dataset_load (&tr, info->mel.sample_rate, cache, 2)
      || clar_dataset_load (&te, info->mel.sample_rate, cache, 2))
    return 1;
  clar_dataset_index_classes (&tr, NULL, 0);
  clar_dataset_index_classes (&te, tr.classes, tr.n_classes);
  D = info->embedding_dim;
  K = tr.n_classes;
  Etr = embed_all (s, info, &tr);
  Ete = embed_all (s, info, &te);

  {
    size_t n_te = 0, c1 = 0, c5 = 0, cp = 0, ch = 0, nh = 0;
    size_t *conf = calloc (K * K, sizeof (size_t));
    float *Wp = calloc (K * (D + 1), sizeof (float)), *m = calloc (K * (D + 1), sizeof (float));
    float *v = calloc (K * (D + 1), sizeof (float)), *g = calloc (K * (D + 1), sizeof (float));
    float *p = calloc (K, sizeof (float));
    clar_labels *lab = clar_model_get_labels (model);
    int *head_map = calloc (K, sizeof (int));
    /* Linear probe: softmax regression with Adam, full batch. */
    for (int it = 1; it <= 500; it++) {
      size_t n = 0;
      memset (g, 0, K * (D + 1) * sizeof (float));
      for (size_t i = 0; i < tr.n_clips; i++) {
        int y = tr.clips[i].class_id;
        double mx = -1e30, sum = 0;
        const float *x = Etr + i * D;
        if (y < 0) continue;
        n++;
        for (size_t k = 0; k < K; k++) {
          double z = Wp[k * (D + 1) + D];
          for (size_t d = 0; d < D; d++) z += Wp[k * (D + 1) + d] * x[d];
          p[k] = (float) z;
          if (z > mx) mx = z;
        }
        for (size_t k = 0; k < K; k++) sum += exp (p[k] - mx);
        for (size_t k = 0; k < K; k++) {
          float d_ = (float) (exp (p[k] - mx) / sum - ((int) k == y));
          for (size_t d = 0; d < D; d++) g[k * (D + 1) + d] += d_ * x[d];
          g[k * (D + 1) + D] += d_;
        }
      }
      for (size_t j = 0; j < K * (D + 1); j++) {
        float gj = g[j] / (n ? n : 1) + 1e-4f * Wp[j];
        m[j] = 0.9f * m[j] + 0.1f * gj;
        v[j] = 0.999f * v[j] + 0.001f * gj * gj;
        Wp[j] -= 0.05f * (float) ((m[j] / (1 - pow (0.9, it))) / (sqrt (v[j] / (1 - pow (0.999, it))) + 1e-8));
      }
    }
    for (size_t k = 0; k < K; k++) {
      head_map[k] = -1;
      for (size_t j = 0; lab && j < clar_labels_count (lab); j++)
        if (!strcmp (clar_labels_name (lab, j), tr.classes[k]))
          head_map[k] = (int) j;
    }
    for (size_t i = 0; i < te.n_clips; i++) {
      int y = te.clips[i].class_id, best = 0;
      const float *q = Ete + i * D;
      double bz = -1e30;
      if (y < 0) continue;
      n_te++;
      c1 += knn (Etr, &tr, q, D, 1, K) == y;
      c5 += knn (Etr, &tr, q, D, 5, K) == y;
      for (size_t k = 0; k < K; k++) {
        double z = Wp[k * (D + 1) + D];
        for (size_t d = 0; d < D; d++) z += Wp[k * (D + 1) + d] * q[d];
        if (z > bz) { bz = z; best = (int) k; }
      }
      cp += best == y;
      conf[(size_t) y * K + best]++;
      if (lab && head_map[y] >= 0) {
        clar_label_score top;
        nh++;
        if (clar_labels_top_k (lab, q, 1, 0.0f, &top) == 1)
          ch += (int) top.index == head_map[y];
      }
    }
    if (!n_te) {
      fprintf (stderr, "clar-eval: no labelled clips in split %s\n", tes);
      return 1;
    }
    if (json) {
      printf ("{\"model\":\"%s\",\"train_clips\":%zu,\"test_clips\":%zu,\"classes\":%zu,"
          "\"knn1\":%.4f,\"knn5\":%.4f,\"probe\":%.4f", model_path, tr.n_clips, n_te, K,
          (double) c1 / n_te, (double) c5 / n_te, (double) cp / n_te);
      if (nh) printf (",\"head\":%.4f,\"head_clips\":%zu", (double) ch / nh, nh);
      printf ("}\n");
    } else {
      printf ("model %s\ntrain %zu clips, test %zu clips, %zu classes\n", model_path, tr.n_clips, n_te, K);
      printf ("knn1 %.4f\nknn5 %.4f\nprobe %.4f\n", (double) c1 / n_te, (double) c5 / n_te, (double) cp / n_te);
      if (nh) printf ("head %.4f (%zu clips of classes the model names)\n", (double) ch / nh, nh);
      printf ("per-class probe accuracy:\n");
      for (size_t k = 0; k < K; k++) {
        size_t row = 0;
        for (size_t j = 0; j < K; j++) row += conf[k * K + j];
        if (row) printf ("  %-24s %.3f (%zu)\n", tr.classes[k], (double) conf[k * K + k] / row, row);
      }
      printf ("most confused (true -> predicted, count):\n");
      for (int r = 0; r < 5; r++) {
        size_t bi = 0, bj = 0, bc = 0;
        for (size_t a = 0; a < K; a++)
          for (size_t b = 0; b < K; b++)
            if (a != b && conf[a * K + b] > bc) { bc = conf[a * K + b]; bi = a; bj = b; }
        if (!bc) break;
        printf ("  %s -> %s %zu\n", tr.classes[bi], tr.classes[bj], bc);
        conf[bi * K + bj] = 0;
      }
    }
    free (conf); free (Wp); free (m); free (v); free (g); free (p); free (head_map);
  }
  free (Etr);
  free (Ete);
  clar_dataset_free (&tr);
  clar_dataset_free (&te);
  clar_session_free (s);
  clar_model_unref (model);
  return 0;
}
