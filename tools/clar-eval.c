/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * clar-eval: how good are a model's embeddings on a labelled set?
 *
 *   clar-eval --model M --data MANIFEST.tsv [--train-split train]
 *             [--test-split val] [--json] [--cache DIR]
 *
 * Each clip is embedded as the normalised mean of its window embeddings
 * (windows of the model's length every half window; a partial window
 * holding at least half a window is zero-padded, a shorter clip is dropped
 * and counted: clip-embed.h). A folder-per-class tree is split by
 * --val-fraction (dataset.h); test clips that are also train clips (same
 * path or same file content) make clar-eval refuse (--exclude-overlap
 * drops them instead). Reports on the test split:
 *   knn1, knn5  cosine k-nearest-neighbour accuracy against the train split
 *   probe       a linear softmax probe trained on the train split
 *               (500 full-batch Adam steps, L2 1e-4; deterministic)
 *   head        the model's own label set, for clips whose class it names
 *   labels      with --labels FILE: a label set file (e.g. clar-enroll's
 *               few-shot prototypes), for clips whose class it names
 *   zeroshot    with --prompts TEMPLATE (e.g. "the sound of {}"): labels
 *               from the model's text tower, one prompt per class, "{}"
 *               replaced by the class name with '_' read as a space
 *               (or, with --class-words cow=cattle,wind=breeze, by those
 *               words for the classes listed: prompts made of other words)
 * --classes A,B,... restricts every measure to those classes (the train and
 * test clips of other classes are ignored, and the label sets are cut down
 * to those names), e.g. to score classes held out of CLAP training alone.
 * and a confusion summary (per-class probe accuracy, most confused pairs).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>
#include <clar/clar.h>

#include "audio-decode.h"
#include "clip-embed.h"
#include "dataset.h"

/* The rows of l whose names are among names[n] (in names' order); NULL if
 * none are. */
static clar_labels *
restrict_labels (const clar_labels *l, char **names, size_t n)
{
  size_t D = clar_labels_dim (l), m = 0;
  const char **keep = calloc (n ? n : 1, sizeof (char *));
  float *v = malloc ((n ? n : 1) * D * sizeof (float));
  clar_labels *r = NULL;
  for (size_t k = 0; keep && v && k < n; k++)
    for (size_t j = 0; j < clar_labels_count (l); j++)
      if (!strcmp (clar_labels_name (l, j), names[k])) {
        keep[m] = names[k];
        memcpy (v + m * D, clar_labels_vector (l, j), D * sizeof (float));
        m++;
        break;
      }
  if (m)
    r = clar_labels_new (m, D, keep, v, clar_labels_scale (l), NULL);
  if (r)
    clar_labels_set_encoder (r, clar_labels_get_encoder (l));
  free (keep);
  free (v);
  return r;
}

/* Top-1 accuracy of l over the test clips whose class it names. */
static double
label_set_accuracy (const clar_labels *l, const clar_dataset *te, char **classes,
                    const float *E, size_t D, size_t *n_clips)
{
  size_t n = 0, ok = 0;
  for (size_t i = 0; l && i < te->n_clips; i++) {
    int y = te->clips[i].class_id;
    size_t j;
    clar_label_score top;
    if (y < 0)
      continue;
    for (j = 0; j < clar_labels_count (l) && strcmp (clar_labels_name (l, j), classes[y]); j++)
      ;
    if (j == clar_labels_count (l))
      continue;
    n++;
    if (clar_labels_top_k (l, E + i * D, 1, 0.0f, &top) == 1)
      ok += top.index == j;
  }
  *n_clips = n;
  return n ? (double) ok / n : 0.0;
}

/* The words of class cls in a "--class-words" list (CLASS=WORDS,...), or
 * NULL. */
static gchar *
class_words (const char *list, const char *cls)
{
  gchar **items, *found = NULL;
  if (!list)
    return NULL;
  items = g_strsplit (list, ",", -1);
  for (size_t i = 0; items[i] && !found; i++) {
    const char *eq = strchr (items[i], '=');
    if (eq && (size_t) (eq - items[i]) == strlen (cls) && !strncmp (items[i], cls, strlen (cls)))
      found = g_strdup (eq + 1);
  }
  g_strfreev (items);
  return found;
}

/* One prompt per class from template (each "{}" -> class name, '_' -> ' ',
 * or the class's words from words_list), named after the class. */
static clar_labels *
prompt_labels (const clar_model *m, const char *templ, const char *words_list, char **classes,
               size_t K, clar_error *err)
{
  char **prompts = calloc (K ? K : 1, sizeof (char *));
  clar_labels *p = NULL, *named = NULL;
  float *v;
  size_t D;
  if (!prompts)
    return NULL;
  for (size_t k = 0; k < K; k++) {
    gchar *cls = class_words (words_list, classes[k]);
    gchar **parts = g_strsplit (templ, "{}", -1);
    if (!cls)
      cls = g_strdelimit (g_strdup (classes[k]), "_", ' ');
    prompts[k] = g_strjoinv (cls, parts);
    g_strfreev (parts);
    g_free (cls);
  }
  p = clar_labels_from_prompts (m, K, (const char *const *) prompts, err);
  if (p) {
    /* Same vectors, named by class so accuracy compares names. */
    D = clar_labels_dim (p);
    v = malloc (K * D * sizeof (float));
    if (v) {
      for (size_t k = 0; k < K; k++)
        memcpy (v + k * D, clar_labels_vector (p, k), D * sizeof (float));
      named = clar_labels_new (K, D, (const char *const *) classes, v, clar_labels_scale (p), err);
      if (named)
        clar_labels_set_encoder (named, clar_labels_get_encoder (p));
      free (v);
    }
    clar_labels_unref (p);
  }
  for (size_t k = 0; k < K; k++)
    g_free (prompts[k]);
  free (prompts);
  return named;
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

/* Labels made with another encoder score nothing meaningful (model.h): refuse
 * them (return 1) unless --allow-encoder-mismatch; warn about untied ones. */
static int
check_tied (const clar_model *m, const clar_labels *l, const char *what, int allow)
{
  clar_error err;
  int rc = clar_model_check_labels (m, l, &err);
  if (rc == CLAR_OK)
    return 0;
  if (rc == CLAR_LABELS_UNTIED || (rc == CLAR_ERR_ENCODER_MISMATCH && allow)) {
    fprintf (stderr, "clar-eval: warning: %s: %s\n", what, err.message);
    return 0;
  }
  fprintf (stderr, "clar-eval: %s: %s%s\n", what, err.message,
      rc == CLAR_ERR_ENCODER_MISMATCH ? "; --allow-encoder-mismatch scores them anyway" : "");
  return 1;
}

int
main (int argc, char **argv)
{
  const char *model_path = NULL, *data = NULL, *trs = "train", *tes = "val", *cache = NULL;
  const char *labels_path = NULL, *prompts = NULL, *classes = NULL, *words = NULL;
  int json = 0, allow_mismatch = 0;
  clar_model *model = NULL;
  clar_session *s;
  clar_error err;
  clar_dataset tr, te;
  const clar_model_info *info;
  size_t D, K;
  float *Etr, *Ete;
  clar_dataset_options dopt = clar_dataset_options_default ();

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int r = clar_dataset_parse_option (&dopt, a, v);
    if (r < 0) return 2;
    if (r > 0) { i += r - 1; continue; }
    if (!strcmp (a, "--model") && v) model_path = argv[++i];
    else if (!strcmp (a, "--data") && v) data = argv[++i];
    else if (!strcmp (a, "--train-split") && v) trs = argv[++i];
    else if (!strcmp (a, "--test-split") && v) tes = argv[++i];
    else if (!strcmp (a, "--cache") && v) cache = argv[++i];
    else if (!strcmp (a, "--json")) json = 1;
    else if (!strcmp (a, "--labels") && v) labels_path = argv[++i];
    else if (!strcmp (a, "--prompts") && v) prompts = argv[++i];
    else if (!strcmp (a, "--classes") && v) classes = argv[++i];
    else if (!strcmp (a, "--allow-encoder-mismatch")) allow_mismatch = 1;
    else if (!strcmp (a, "--class-words") && v) words = argv[++i];
    else {
      fprintf (stderr, "usage: clar-eval --model M --data MANIFEST.tsv [--train-split S] "
          "[--test-split S] [--json] [--cache DIR] [--labels FILE] [--prompts TEMPLATE] "
          "[--classes A,B,...] [--class-words CLASS=WORDS,...] [--allow-encoder-mismatch]\n"
          CLAR_DATASET_OPTIONS_HELP);
      return 2;
    }
  }
  if (!model_path || !data) {
    fprintf (stderr, "clar-eval: --model and --data are required\n");
    return 2;
  }
  gst_init (NULL, NULL);
  clar_blas_default_threads ();   /* one BLAS thread unless CLAR_BLAS_THREADS says */
  if (clar_model_load_file (model_path, &model, &err) != CLAR_OK) {
    fprintf (stderr, "clar-eval: %s\n", err.message);
    return 1;
  }
  /* Every label set is checked against the encoder before the (slow)
   * decoding: the head, the --labels file and the text tower's prompts. */
  if (clar_model_get_labels (model)
      && check_tied (model, clar_model_get_labels (model), "the model's head", allow_mismatch))
    return 1;
  if (labels_path) {
    clar_labels *f = clar_labels_load_file (labels_path, &err);
    int bad;
    if (!f) {
      fprintf (stderr, "clar-eval: %s\n", err.message);
      return 1;
    }
    bad = check_tied (model, f, labels_path, allow_mismatch);
    clar_labels_unref (f);
    if (bad)
      return 1;
  }
  if (prompts && clar_model_get_text (model)) {
    const char *probe[] = { "sound" };
    clar_labels *t = clar_labels_from_prompts (model, 1, probe, &err);
    int bad = t && check_tied (model, t, "the model's text tower", allow_mismatch);
    clar_labels_unref (t);
    if (bad)
      return 1;
  }
  info = clar_model_get_info (model);
  s = clar_session_new (model, &err);
  dopt.min_samples = clar_min_clip_samples (info->window_samples);
  clar_dataset_init (&tr, &dopt);
  clar_dataset_init (&te, &dopt);
  if (clar_dataset_list (&tr, data, trs) || clar_dataset_list (&te, data, tes)
      || clar_dataset_load (&tr, info->mel.sample_rate, cache, 2)
      || clar_dataset_load (&te, info->mel.sample_rate, cache, 2)
      || clar_dataset_check_disjoint ("clar-eval", &tr, &te)
      /* The clips the model itself (and its text tower) learnt from, when
       * clar-train recorded them. */
      || clar_dataset_check_list ("clar-eval", "the model",
          clar_model_get_metadata (model, CLAR_TRAINING_CLIPS_KEY), &te)
      || clar_dataset_check_list ("clar-eval", "the model's text tower",
          clar_model_get_metadata (model, CLAR_TEXT_TRAINING_CLIPS_KEY), &te))
    return 1;
  clar_dataset_index_classes (&tr, NULL, 0);
  if (classes) {
    /* Keep the listed classes that the train split has, in sorted order. */
    gchar **want = g_strsplit (classes, ",", -1);
    char **keep = g_new0 (char *, tr.n_classes + 1);
    size_t nk = 0;
    for (size_t k = 0; k < tr.n_classes; k++)
      for (size_t j = 0; want[j]; j++)
        if (!strcmp (want[j], tr.classes[k])) {
          keep[nk++] = g_strdup (tr.classes[k]);
          break;
        }
    g_strfreev (want);
    if (!nk) {
      fprintf (stderr, "clar-eval: none of --classes is in split %s\n", trs);
      return 1;
    }
    g_strfreev (tr.classes);
    tr.classes = NULL;
    clar_dataset_index_classes (&tr, keep, nk);
    g_strfreev (keep);
  }
  clar_dataset_index_classes (&te, tr.classes, tr.n_classes);
  D = info->embedding_dim;
  K = tr.n_classes;
  Etr = clar_embed_dataset (s, &tr);
  Ete = clar_embed_dataset (s, &te);
  if (!Etr || !Ete) {
    fprintf (stderr, "clar-eval: out of memory\n");
    return 1;
  }

  {
    size_t n_te = 0, c1 = 0, c5 = 0, cp = 0, ch = 0, nh = 0;
    size_t *conf = calloc (K * K, sizeof (size_t));
    float *Wp = calloc (K * (D + 1), sizeof (float)), *m = calloc (K * (D + 1), sizeof (float));
    float *v = calloc (K * (D + 1), sizeof (float)), *g = calloc (K * (D + 1), sizeof (float));
    float *p = calloc (K, sizeof (float));
    clar_labels *lab = classes && clar_model_get_labels (model)
        ? restrict_labels (clar_model_get_labels (model), tr.classes, K)
        : clar_labels_ref (clar_model_get_labels (model));
    clar_labels *extra = NULL, *zs = NULL;
    double acc_extra = 0, acc_zs = 0;
    size_t n_extra = 0, n_zs = 0;
    if (labels_path) {
      clar_labels *f = clar_labels_load_file (labels_path, &err);
      if (!f) {
        fprintf (stderr, "clar-eval: %s\n", err.message);
        return 1;
      }
      extra = classes ? restrict_labels (f, tr.classes, K) : clar_labels_ref (f);
      clar_labels_unref (f);
      if (!extra || clar_labels_dim (extra) != D) {
        fprintf (stderr, "clar-eval: %s names none of the classes or does not fit the model\n", labels_path);
        return 1;
      }
      acc_extra = label_set_accuracy (extra, &te, tr.classes, Ete, D, &n_extra);
    }
    if (prompts) {
      zs = prompt_labels (model, prompts, words, tr.classes, K, &err);
      if (!zs) {
        fprintf (stderr, "clar-eval: --prompts: %s\n", err.message);
        return 1;
      }
      acc_zs = label_set_accuracy (zs, &te, tr.classes, Ete, D, &n_zs);
    }
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
      if (n_extra) printf (",\"labels\":%.4f,\"labels_clips\":%zu", acc_extra, n_extra);
      if (n_zs) printf (",\"zeroshot\":%.4f,\"zeroshot_clips\":%zu", acc_zs, n_zs);
      printf ("}\n");
    } else {
      printf ("model %s\ntrain %zu clips, test %zu clips, %zu classes\n", model_path, tr.n_clips, n_te, K);
      printf ("knn1 %.4f\nknn5 %.4f\nprobe %.4f\n", (double) c1 / n_te, (double) c5 / n_te, (double) cp / n_te);
      if (nh) printf ("head %.4f (%zu clips of classes the model names)\n", (double) ch / nh, nh);
      if (n_extra) printf ("labels %.4f (%zu clips of classes %s names)\n", acc_extra, n_extra, labels_path);
      if (n_zs) printf ("zeroshot %.4f (%zu clips, prompts \"%s\")\n", acc_zs, n_zs, prompts);
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
    clar_labels_unref (lab);
    clar_labels_unref (extra);
    clar_labels_unref (zs);
  }
  free (Etr);
  free (Ete);
  clar_dataset_free (&tr);
  clar_dataset_free (&te);
  clar_session_free (s);
  clar_model_unref (model);
  return 0;
}
