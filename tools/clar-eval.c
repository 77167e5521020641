/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * clar-eval: how good are a model's embeddings on a labelled set?
 *
 *   clar-eval --model M --data MANIFEST.tsv [--train-split train]
 *             [--test-split val,val-src] [--baseline random|none|FILE]
 *             [--json] [--cache DIR]
 *
 * --cache DIR keeps the decoded audio and the clip embeddings of the
 * model's encoder (clip-embed.h) between runs.
 *
 * Each clip is embedded as the normalised mean of its window embeddings
 * (windows of the model's length every half window; a partial window
 * holding at least --min-fill of a window, a tenth by default, is
 * zero-padded, a shorter clip is dropped and counted: clip-embed.h). A
 * folder-per-class tree is split by --val-fraction (dataset.h); test
 * clips that are also train clips (same path or same file content) make
 * clar-eval refuse (--exclude-overlap drops them instead). Reports on
 * each test split, in order (the data builder's "val" holds out whole
 * sources: soundfonts, speech engines, packages, and is the measure that
 * predicts sound never heard; "val-src" holds out programs, voices and
 * folders of the training sources; a split the manifest lacks is skipped
 * with a note):
 *   knn1, knn5  cosine k-nearest-neighbour accuracy against the train split
 *   probe       a linear softmax probe trained on the train split, on
 *               standardised features (each dimension's train mean and
 *               standard deviation; on raw unit vectors a probe underfits
 *               and flatters nothing but the trained model); 500 full-batch
 *               Adam steps, L2 1e-4, deterministic
 *   head        the model's own label set, for clips whose class it names
 *   labels      with --labels FILE: a label set file (e.g. clar-enroll's
 *               few-shot prototypes), for clips whose class it names
 *   zeroshot    with --prompts TEMPLATE (e.g. "the sound of {}"): labels
 *               from the model's text tower, one prompt per class, "{}"
 *               replaced by the class name with '_' read as a space
 *               (or, with --class-words cow=cattle,wind=breeze, by those
 *               words for the classes listed: prompts made of other words)
 * --labels-only skips knn1, knn5, the probe and the baseline (reported as
 * -1 in JSON): the train split only names the classes and is not
 * embedded, nor are test clips of other classes; for scoring many prompt
 * sets quickly (tools/clap-study.sh). "zeroshot_balanced" is the mean of
 * the per-class zero-shot accuracies.
 * --predictions FILE writes one TSV row per scored test clip: split, path
 * (as the manifest resolves it), label, the head's top label and the
 * probe's class ("-" where not measured), so that any grouping the
 * manifest knows (its "source" column: tools/eval-sources.py) can be
 * scored without running the model again.
 * --classes A,B,... restricts every measure to those classes (the train and
 * test clips of other classes are ignored, and the label sets are cut down
 * to those names), e.g. to score classes held out of CLAP training alone.
 * and a confusion summary (per-class head and probe accuracy, most confused
 * pairs). Beside knn1, knn5 and probe stands the same measure for a
 * random-initialised encoder of the same architecture (--baseline random,
 * the default: every encoder weight of M redrawn He-normal, biases zero,
 * the rest of the file kept): the bar training has to clear. --baseline
 * FILE compares with another model file instead; none skips it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>
#include <clar/clar.h>

#include "audio-decode.h"
#include "clip-embed.h"
#include "dataset.h"
#include "json-print.h"

/* A copy of the model file at path whose encoder weights are redrawn:
 * tensors "encoder.*.weight" of rank >= 2 He-normal (He et al. 2015, std
 * sqrt(2 / fan_in), fan_in = the product of all but the first dimension),
 * "encoder.*.bias" zero; everything else (front end, labels, text tower,
 * metadata) as in the file. Works for any layer list the loader accepts. */
static clar_model *
random_like (const char *path, uint64_t seed, clar_error *err)
{
  clar_st_file *f = NULL;
  clar_st_writer *w;
  clar_model *m = NULL;
  void *mem = NULL;
  size_t mem_n = 0;
  int rc;
  if (clar_st_read_file (path, &f, err) != CLAR_OK)
    return NULL;
  w = clar_st_writer_new ();
  rc = w ? CLAR_OK : CLAR_ERR_NO_MEMORY;
  for (size_t i = 0; rc == CLAR_OK && i < clar_st_n_metadata (f); i++) {
    const char *k, *v;
    if (clar_st_metadata_at (f, i, &k, &v) == CLAR_OK)
      rc = clar_st_writer_set_metadata (w, k, v);
  }
  for (size_t i = 0; rc == CLAR_OK && i < clar_st_n_tensors (f); i++) {
    const clar_st_tensor *t = clar_st_tensor_at (f, i);
    size_t n = 1, fan_in = 1;
    float *buf;
    for (size_t d = 0; d < t->ndim; d++) {
      n *= t->shape[d];
      if (d > 0)
        fan_in *= t->shape[d];
    }
    buf = malloc ((n ? n : 1) * sizeof (float));
    if (!buf) {
      rc = CLAR_ERR_NO_MEMORY;
      break;
    }
    memcpy (buf, t->data, n * sizeof (float));
    if (g_str_has_prefix (t->name, "encoder.") && g_str_has_suffix (t->name, ".weight") && t->ndim >= 2) {
      double sd = sqrt (2.0 / (double) fan_in);
      for (size_t j = 0; j < n; j++) {
        /* splitmix64 + Box-Muller: deterministic for a seed. */
        uint64_t a, b;
        double u, v;
        seed += 0x9E3779B97F4A7C15ULL; a = seed;
        a = (a ^ (a >> 30)) * 0xBF58476D1CE4E5B9ULL; a = (a ^ (a >> 27)) * 0x94D049BB133111EBULL; a ^= a >> 31;
        seed += 0x9E3779B97F4A7C15ULL; b = seed;
        b = (b ^ (b >> 30)) * 0xBF58476D1CE4E5B9ULL; b = (b ^ (b >> 27)) * 0x94D049BB133111EBULL; b ^= b >> 31;
        u = ((a >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        v = ((b >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        buf[j] = (float) (sd * sqrt (-2.0 * log (u)) * cos (6.283185307179586 * v));
      }
    } else if (g_str_has_prefix (t->name, "encoder.") && g_str_has_suffix (t->name, ".bias")) {
      memset (buf, 0, n * sizeof (float));
    }
    rc = clar_st_writer_add (w, t->name, t->shape, t->ndim, buf);
    free (buf);
  }
  if (rc == CLAR_OK)
    rc = clar_st_writer_to_memory (w, &mem, &mem_n, err);
  if (rc == CLAR_OK)
    clar_model_load_memory (mem, mem_n, &m, err);
  else if (err) {
    err->code = rc;
    snprintf (err->message, sizeof err->message, "random baseline: %s", clar_strerror (rc));
  }
  free (mem);
  clar_st_writer_free (w);
  clar_st_free (f);
  return m;
}

/* Standardises rows of E (n x D) in place with the mean and standard
 * deviation of the train rows Etr (ntr x D) of labelled clips. */
static void
standardise (float *E, size_t n, const float *mu, const float *sd, size_t D)
{
  for (size_t i = 0; i < n; i++)
    for (size_t d = 0; d < D; d++)
      E[i * D + d] = (E[i * D + d] - mu[d]) / sd[d];
}

/* Softmax-regression probe on standardised features (see the header
 * comment); returns test accuracy and fills conf (K x K) and pred (each
 * test clip's class, -1 for clips not scored) when not NULL. */
static double
linear_probe (const clar_dataset *tr, const float *Etr, const clar_dataset *te,
              const float *Ete, size_t D, size_t K, size_t *conf, int *pred)
{
  size_t P = K * (D + 1), n_te = 0, ok = 0, n_tr = 0;
  float *Wp = calloc (P, sizeof (float)), *m = calloc (P, sizeof (float));
  float *v = calloc (P, sizeof (float)), *g = calloc (P, sizeof (float));
  float *p = calloc (K ? K : 1, sizeof (float)), *mu = calloc (D, sizeof (float));
  float *sd = calloc (D, sizeof (float));
  float *Xtr = malloc ((tr->n_clips ? tr->n_clips : 1) * D * sizeof (float));
  float *Xte = malloc ((te->n_clips ? te->n_clips : 1) * D * sizeof (float));
  double acc = 0;
  if (!Wp || !m || !v || !g || !p || !mu || !sd || !Xtr || !Xte)
    goto out;
  memcpy (Xtr, Etr, tr->n_clips * D * sizeof (float));
  memcpy (Xte, Ete, te->n_clips * D * sizeof (float));
  for (size_t i = 0; i < tr->n_clips; i++)
    if (tr->clips[i].class_id >= 0) {
      n_tr++;
      for (size_t d = 0; d < D; d++)
        mu[d] += Xtr[i * D + d];
    }
  for (size_t d = 0; d < D; d++)
    mu[d] /= n_tr ? n_tr : 1;
  for (size_t i = 0; i < tr->n_clips; i++)
    if (tr->clips[i].class_id >= 0)
      for (size_t d = 0; d < D; d++)
        sd[d] += (Xtr[i * D + d] - mu[d]) * (Xtr[i * D + d] - mu[d]);
  for (size_t d = 0; d < D; d++)
    sd[d] = sqrtf (sd[d] / (n_tr ? n_tr : 1)) + 1e-6f;
  standardise (Xtr, tr->n_clips, mu, sd, D);
  standardise (Xte, te->n_clips, mu, sd, D);
  for (int it = 1; it <= 500; it++) {
    memset (g, 0, P * sizeof (float));
    for (size_t i = 0; i < tr->n_clips; i++) {
      int y = tr->clips[i].class_id;
      double mx = -1e30, sum = 0;
      const float *x = Xtr + i * D;
      if (y < 0) continue;
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
    for (size_t j = 0; j < P; j++) {
      float gj = g[j] / (n_tr ? n_tr : 1) + 1e-4f * Wp[j];
      m[j] = 0.9f * m[j] + 0.1f * gj;
      v[j] = 0.999f * v[j] + 0.001f * gj * gj;
      Wp[j] -= 0.05f * (float) ((m[j] / (1 - pow (0.9, it))) / (sqrt (v[j] / (1 - pow (0.999, it))) + 1e-8));
    }
  }
  for (size_t i = 0; i < te->n_clips; i++) {
    int y = te->clips[i].class_id, best = 0;
    double bz = -1e30;
    if (pred)
      pred[i] = -1;
    if (y < 0) continue;
    n_te++;
    for (size_t k = 0; k < K; k++) {
      double z = Wp[k * (D + 1) + D];
      for (size_t d = 0; d < D; d++) z += Wp[k * (D + 1) + d] * Xte[i * D + d];
      if (z > bz) { bz = z; best = (int) k; }
    }
    ok += best == y;
    if (conf)
      conf[(size_t) y * K + best]++;
    if (pred)
      pred[i] = best;
  }
  acc = n_te ? (double) ok / n_te : 0.0;
out:
  free (Wp); free (m); free (v); free (g); free (p); free (mu); free (sd); free (Xtr); free (Xte);
  return acc;
}

/* k-NN accuracies (k = 1, 5) of the test clips against the train clips. */
static int knn (const float *Etr, const clar_dataset *tr, const float *q, size_t D, int k, size_t K);

static void
knn_accuracy (const clar_dataset *tr, const float *Etr, const clar_dataset *te,
              const float *Ete, size_t D, size_t K, double *a1, double *a5)
{
  size_t n = 0, c1 = 0, c5 = 0;
  for (size_t i = 0; i < te->n_clips; i++) {
    int y = te->clips[i].class_id;
    if (y < 0) continue;
    n++;
    c1 += knn (Etr, tr, Ete + i * D, D, 1, K) == y;
    c5 += knn (Etr, tr, Ete + i * D, D, 5, K) == y;
  }
  *a1 = n ? (double) c1 / n : 0;
  *a5 = n ? (double) c5 / n : 0;
}

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

/* Top-1 accuracy of l over the test clips whose class it names; with
 * balanced non-NULL, also the mean over those classes of their accuracy
 * (a class with many clips does not outweigh the others). */
static double
label_set_accuracy (const clar_labels *l, const clar_dataset *te, char **classes,
                    const float *E, size_t D, size_t *n_clips, double *balanced)
{
  size_t n = 0, ok = 0, L = l ? clar_labels_count (l) : 0;
  size_t *cn = calloc (L ? L : 1, sizeof (size_t)), *cok = calloc (L ? L : 1, sizeof (size_t));
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
    if (cn)
      cn[j]++;
    if (clar_labels_top_k (l, E + i * D, 1, 0.0f, &top) == 1 && top.index == j) {
      ok++;
      if (cok)
        cok[j]++;
    }
  }
  *n_clips = n;
  if (balanced) {
    size_t k = 0;
    *balanced = 0.0;
    for (size_t j = 0; cn && cok && j < L; j++)
      if (cn[j]) {
        *balanced += (double) cok[j] / cn[j];
        k++;
      }
    *balanced = k ? *balanced / k : 0.0;
  }
  free (cn);
  free (cok);
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

/* Everything measured on one test split. */
typedef struct {
  size_t n_te, nh;
  double knn1, knn5, probe, head;
  double b_knn1, b_knn5, b_probe;   /* baseline; negative: not measured */
} split_result;

static void
print_confusion (const char *what, const char *const *classes, size_t K, size_t *conf)
{
  printf ("most confused, %s (true -> predicted, count):\n", what);
  for (int r = 0; r < 5; r++) {
    size_t bi = 0, bj = 0, bc = 0;
    for (size_t a = 0; a < K; a++)
      for (size_t b = 0; b < K; b++)
        if (a != b && conf[a * K + b] > bc) { bc = conf[a * K + b]; bi = a; bj = b; }
    if (!bc) break;
    printf ("  %s -> %s %zu\n", classes[bi], classes[bj], bc);
    conf[bi * K + bj] = 0;
  }
}

int
main (int argc, char **argv)
{
  const char *model_path = NULL, *data = NULL, *trs = "train", *tes_arg = NULL, *cache = NULL;
  const char *labels_path = NULL, *prompts = NULL, *classes = NULL, *words = NULL, *baseline = "random";
  const char *pred_path = NULL;
  FILE *pred_f = NULL;
  int json = 0, allow_mismatch = 0, n_done = 0, labels_only = 0;
  clar_model *model = NULL, *base = NULL;
  clar_session *s, *bs = NULL;
  clar_error err;
  clar_dataset tr;
  const clar_model_info *info;
  size_t D, K;
  float *Etr, *Btr = NULL;
  gchar **splits;
  clar_labels *lab = NULL, *extra = NULL, *zs = NULL;
  clar_dataset_options dopt = clar_dataset_options_default ();

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int r = clar_dataset_parse_option (&dopt, a, v);
    if (r < 0) return 2;
    if (r > 0) { i += r - 1; continue; }
    if (!strcmp (a, "--model") && v) model_path = argv[++i];
    else if (!strcmp (a, "--data") && v) data = argv[++i];
    else if (!strcmp (a, "--train-split") && v) trs = argv[++i];
    else if (!strcmp (a, "--test-split") && v) tes_arg = argv[++i];
    else if (!strcmp (a, "--cache") && v) cache = argv[++i];
    else if (!strcmp (a, "--json")) json = 1;
    else if (!strcmp (a, "--labels") && v) labels_path = argv[++i];
    else if (!strcmp (a, "--prompts") && v) prompts = argv[++i];
    else if (!strcmp (a, "--classes") && v) classes = argv[++i];
    else if (!strcmp (a, "--allow-encoder-mismatch")) allow_mismatch = 1;
    else if (!strcmp (a, "--class-words") && v) words = argv[++i];
    else if (!strcmp (a, "--baseline") && v) baseline = argv[++i];
    else if (!strcmp (a, "--labels-only")) labels_only = 1;
    else if (!strcmp (a, "--predictions") && v) pred_path = argv[++i];
    else {
      fprintf (stderr, "usage: clar-eval --model M --data MANIFEST.tsv [--train-split S] "
          "[--test-split S[,S...]] [--baseline random|none|FILE] [--labels-only] [--json] [--cache DIR] "
          "[--labels FILE] [--prompts TEMPLATE] [--classes A,B,...] [--class-words CLASS=WORDS,...] "
          "[--allow-encoder-mismatch] [--predictions FILE.tsv]\n" CLAR_DATASET_OPTIONS_HELP);
      return 2;
    }
  }
  if (!model_path || !data) {
    fprintf (stderr, "clar-eval: --model and --data are required\n");
    return 2;
  }
  if (pred_path) {
    if (!(pred_f = fopen (pred_path, "w"))) {
      fprintf (stderr, "clar-eval: cannot write %s: %s\n", pred_path, strerror (errno));
      return 1;
    }
    fprintf (pred_f, "split\tpath\tlabel\thead\tprobe\n");
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
  if (labels_only)
    baseline = "none";
  if (strcmp (baseline, "none")) {
    if (!strcmp (baseline, "random"))
      base = random_like (model_path, 12345, &err);
    else if (clar_model_load_file (baseline, &base, &err) != CLAR_OK)
      base = NULL;
    if (!base || !(bs = clar_session_new (base, &err))) {
      fprintf (stderr, "clar-eval: --baseline %s: %s\n", baseline, err.message);
      return 1;
    }
    if (clar_model_get_info (base)->embedding_dim != info->embedding_dim
        || clar_model_get_info (base)->window_samples != info->window_samples) {
      fprintf (stderr, "clar-eval: --baseline %s: embedding size or window differs from the model\n", baseline);
      return 1;
    }
  }
  dopt.min_samples = clar_min_clip_samples (info->window_samples, dopt.min_fill);
  clar_dataset_init (&tr, &dopt);
  if (clar_dataset_list (&tr, data, trs) || clar_dataset_load (&tr, info->mel.sample_rate, cache, 2))
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
  D = info->embedding_dim;
  K = tr.n_classes;
  /* --labels-only: the train split only names the classes. */
  Etr = labels_only ? NULL : clar_embed_dataset_cached (s, &tr, cache);
  if (bs)
    Btr = clar_embed_dataset (bs, &tr);
  if ((!Etr && !labels_only) || (bs && !Btr)) {
    fprintf (stderr, "clar-eval: out of memory\n");
    return 1;
  }
  lab = classes && clar_model_get_labels (model)
      ? restrict_labels (clar_model_get_labels (model), tr.classes, K)
      : clar_labels_ref (clar_model_get_labels (model));
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
  }
  if (prompts) {
    zs = prompt_labels (model, prompts, words, tr.classes, K, &err);
    if (!zs) {
      fprintf (stderr, "clar-eval: --prompts: %s\n", err.message);
      return 1;
    }
  }
  if (json) {
    printf ("{\"model\":");
    clar_json_print_string (stdout, model_path);
    printf (",\"train_clips\":%zu,\"classes\":%zu,\"baseline\":", tr.n_clips, K);
    clar_json_print_string (stdout, baseline);
  } else
    printf ("model %s\ntrain split %s: %zu clips, %zu classes\nbaseline: %s\n", model_path, trs,
        tr.n_clips, K, !strcmp (baseline, "random")
        ? "random-initialised encoder of the same architecture" : baseline);

  splits = g_strsplit (tes_arg ? tes_arg : "val,val-src", ",", -1);
  for (int si = 0; splits[si]; si++) {
    const char *tes = splits[si];
    clar_dataset te;
    float *Ete, *Bte = NULL;
    split_result r = { .b_knn1 = -1, .b_knn5 = -1, .b_probe = -1 };
    size_t *conf = calloc (K * K, sizeof (size_t)), *hconf = calloc (K * K, sizeof (size_t));
    size_t ch = 0, n_extra = 0, n_zs = 0;
    double acc_extra = 0, acc_zs = 0, bal_zs = 0;
    int *head_map = calloc (K ? K : 1, sizeof (int));
    int *probe_pred = NULL, *head_pred = NULL;   /* per test clip, for --predictions */
    clar_dataset_init (&te, &dopt);
    if (!conf || !hconf || !head_map)
      return 1;
    if (clar_dataset_list (&te, data, tes)) {
      /* The default list names splits a manifest may not have. */
      if (tes_arg)
        return 1;
      if (!json)
        printf ("\nsplit %s: none in %s (skipped)\n", tes, data);
      free (conf); free (hconf); free (head_map);
      clar_dataset_free (&te);
      continue;
    }
    if (clar_dataset_load (&te, info->mel.sample_rate, cache, 2)
        || clar_dataset_check_disjoint ("clar-eval", &tr, &te)
        /* The clips the model itself (and its text tower) learnt from, when
         * clar-train recorded them. */
        || clar_dataset_check_list ("clar-eval", "the model",
            clar_model_get_metadata (model, CLAR_TRAINING_CLIPS_KEY), &te)
        || clar_dataset_check_list ("clar-eval", "the model's text tower",
            clar_model_get_metadata (model, CLAR_TEXT_TRAINING_CLIPS_KEY), &te))
      return 1;
    clar_dataset_index_classes (&te, tr.classes, tr.n_classes);
    if (labels_only) {
      /* Only the clips of the scored classes matter. */
      Ete = calloc (te.n_clips ? te.n_clips * D : 1, sizeof (float));
      for (size_t i = 0; Ete && i < te.n_clips; i++)
        if (te.clips[i].class_id >= 0 && (!te.clips[i].pcm
            || clar_embed_clip (s, te.clips[i].pcm, te.clips[i].n, Ete + i * D)))
          te.clips[i].class_id = -1;
    } else
      Ete = clar_embed_dataset_cached (s, &te, cache);
    if (bs)
      Bte = clar_embed_dataset (bs, &te);
    if (!Ete || (bs && !Bte)) {
      fprintf (stderr, "clar-eval: out of memory\n");
      return 1;
    }
    for (size_t i = 0; i < te.n_clips; i++)
      r.n_te += te.clips[i].class_id >= 0;
    if (!r.n_te) {
      fprintf (stderr, "clar-eval: no labelled clips of the train split's classes in split %s\n", tes);
      return 1;
    }
    if (pred_f && (!(probe_pred = calloc (te.n_clips ? te.n_clips : 1, sizeof (int)))
            || !(head_pred = calloc (te.n_clips ? te.n_clips : 1, sizeof (int))))) {
      fprintf (stderr, "clar-eval: out of memory\n");
      return 1;
    }
    for (size_t i = 0; pred_f && i < te.n_clips; i++)
      probe_pred[i] = head_pred[i] = -1;
    if (Etr) {
      knn_accuracy (&tr, Etr, &te, Ete, D, K, &r.knn1, &r.knn5);
      r.probe = linear_probe (&tr, Etr, &te, Ete, D, K, conf, probe_pred);
    } else
      r.knn1 = r.knn5 = r.probe = -1;   /* not measured (--labels-only) */
    if (bs) {
      knn_accuracy (&tr, Btr, &te, Bte, D, K, &r.b_knn1, &r.b_knn5);
      r.b_probe = linear_probe (&tr, Btr, &te, Bte, D, K, NULL, NULL);
    }
    for (size_t k = 0; k < K; k++) {
      head_map[k] = -1;
      for (size_t j = 0; lab && j < clar_labels_count (lab); j++)
        if (!strcmp (clar_labels_name (lab, j), tr.classes[k]))
          head_map[k] = (int) j;
    }
    for (size_t i = 0; lab && i < te.n_clips; i++) {
      int y = te.clips[i].class_id, ok;
      clar_label_score top;
      /* --predictions wants the top label of every scored clip, also of a
       * class the head lacks (such a clip counts against the head nowhere
       * here; a reader may count it as wrong, as tools/eval-domains.py
       * does). */
      if (y < 0 || (head_map[y] < 0 && !head_pred))
        continue;
      ok = clar_labels_top_k (lab, Ete + i * D, 1, 0.0f, &top) == 1;
      if (ok && head_pred)
        head_pred[i] = (int) top.index;
      if (head_map[y] < 0)
        continue;
      r.nh++;
      if (ok) {
        size_t pk = 0;
        ch += (int) top.index == head_map[y];
        /* The predicted label's class index (K when it names no class here). */
        for (pk = 0; pk < K && head_map[pk] != (int) top.index; pk++)
          ;
        if (pk < K)
          hconf[(size_t) y * K + pk]++;
      }
    }
    r.head = r.nh ? (double) ch / r.nh : 0;
    for (size_t i = 0; pred_f && i < te.n_clips; i++) {
      const clar_clip *c = &te.clips[i];
      if (c->class_id >= 0)
        fprintf (pred_f, "%s\t%s\t%s\t%s\t%s\n", tes, c->path, tr.classes[c->class_id],
            head_pred[i] >= 0 ? clar_labels_name (lab, (size_t) head_pred[i]) : "-",
            probe_pred[i] >= 0 ? tr.classes[probe_pred[i]] : "-");
    }
    free (probe_pred);
    free (head_pred);
    if (extra)
      acc_extra = label_set_accuracy (extra, &te, tr.classes, Ete, D, &n_extra, NULL);
    if (zs)
      acc_zs = label_set_accuracy (zs, &te, tr.classes, Ete, D, &n_zs, &bal_zs);
    if (json) {
      /* The first split's figures also stand at the top level. */
      if (n_done == 0) {
        printf (",\"test_split\":");
        clar_json_print_string (stdout, tes);
        printf (",\"test_clips\":%zu,\"knn1\":%.4f,\"knn5\":%.4f,\"probe\":%.4f",
            r.n_te, r.knn1, r.knn5, r.probe);
        if (r.nh) printf (",\"head\":%.4f,\"head_clips\":%zu", r.head, r.nh);
        if (n_extra) printf (",\"labels\":%.4f,\"labels_clips\":%zu", acc_extra, n_extra);
        if (n_zs) printf (",\"zeroshot\":%.4f,\"zeroshot_clips\":%zu,\"zeroshot_balanced\":%.4f",
            acc_zs, n_zs, bal_zs);
        printf (",\"splits\":{");
      }
      printf ("%s", n_done ? "," : "");
      clar_json_print_string (stdout, tes);
      printf (":{\"test_clips\":%zu,\"knn1\":%.4f,\"knn5\":%.4f,\"probe\":%.4f",
          r.n_te, r.knn1, r.knn5, r.probe);
      if (bs)
        printf (",\"baseline_knn1\":%.4f,\"baseline_knn5\":%.4f,\"baseline_probe\":%.4f",
            r.b_knn1, r.b_knn5, r.b_probe);
      if (r.nh) printf (",\"head\":%.4f,\"head_clips\":%zu", r.head, r.nh);
      if (n_extra) printf (",\"labels\":%.4f,\"labels_clips\":%zu", acc_extra, n_extra);
      if (n_zs) printf (",\"zeroshot\":%.4f,\"zeroshot_clips\":%zu,\"zeroshot_balanced\":%.4f",
          acc_zs, n_zs, bal_zs);
      printf (",\"per_class\":{");
      for (size_t k = 0, first = 1; k < K; k++) {
        size_t row = 0, hrow = 0;
        for (size_t j = 0; j < K; j++) { row += conf[k * K + j]; hrow += hconf[k * K + j]; }
        if (!row) continue;
        printf ("%s", first ? "" : ",");
        clar_json_print_string (stdout, tr.classes[k]);
        printf (":{\"clips\":%zu,\"probe\":%.4f", row, (double) conf[k * K + k] / row);
        if (head_map[k] >= 0)
          printf (",\"head\":%.4f", (double) hconf[k * K + k] / row);
        printf ("}");
        first = 0;
      }
      printf ("}}");
    } else {
      printf ("\nsplit %s: %zu test clips%s\n", tes, r.n_te,
          !strcmp (tes, "val") ? " (source-disjoint: sources never trained on)"
          : !strcmp (tes, "val-src") ? " (within-source: held-out programs, voices, folders)" : "");
      if (bs) {
        printf ("%-6s %8s %12s\n", "", "model", "random-init");
        printf ("knn1   %8.4f %12.4f\nknn5   %8.4f %12.4f\nprobe  %8.4f %12.4f\n",
            r.knn1, r.b_knn1, r.knn5, r.b_knn5, r.probe, r.b_probe);
      } else {
        if (Etr)
          printf ("knn1 %.4f\nknn5 %.4f\nprobe %.4f\n", r.knn1, r.knn5, r.probe);
      }
      if (r.nh) printf ("head %.4f (%zu clips of classes the model names)\n", r.head, r.nh);
      if (n_extra) printf ("labels %.4f (%zu clips of classes %s names)\n", acc_extra, n_extra, labels_path);
      if (n_zs) printf ("zeroshot %.4f (%zu clips, prompts \"%s\"; mean per class %.4f)\n",
          acc_zs, n_zs, prompts, bal_zs);
      printf ("per-class accuracy (clips, head, probe):\n");
      for (size_t k = 0; k < K; k++) {
        size_t row = 0;
        for (size_t j = 0; j < K; j++) row += conf[k * K + j];
        if (!row) continue;
        if (head_map[k] >= 0)
          printf ("  %-24s %5zu %6.3f %6.3f\n", tr.classes[k], row, (double) hconf[k * K + k] / row,
              (double) conf[k * K + k] / row);
        else
          printf ("  %-24s %5zu %6s %6.3f\n", tr.classes[k], row, "-", (double) conf[k * K + k] / row);
      }
      if (r.nh)
        print_confusion ("head", (const char *const *) tr.classes, K, hconf);
      print_confusion ("probe", (const char *const *) tr.classes, K, conf);
    }
    n_done++;
    free (conf); free (hconf); free (head_map);
    free (Ete); free (Bte);
    clar_dataset_free (&te);
  }
  g_strfreev (splits);
  if (pred_f && fclose (pred_f) != 0) {
    fprintf (stderr, "clar-eval: cannot write %s\n", pred_path);
    return 1;
  }
  if (json)
    printf ("%s}\n", n_done ? "}" : "");
  if (!n_done) {
    fprintf (stderr, "clar-eval: no test split found in %s\n", data);
    return 1;
  }
  clar_labels_unref (lab);
  clar_labels_unref (extra);
  clar_labels_unref (zs);
  free (Etr);
  free (Btr);
  clar_dataset_free (&tr);
  clar_session_free (s);
  clar_session_free (bs);
  clar_model_unref (model);
  clar_model_unref (base);
  return 0;
}
