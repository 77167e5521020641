/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * clar-train --clap: CLAP training of the text tower (include/clar/text.h,
 * src/train/clap.h) on a frozen audio encoder.
 *
 *   clar-train --clap --init MODEL --data MANIFEST.tsv --out NEW_MODEL [options]
 *
 * The clips of --split are embedded once with MODEL's encoder (clip vector =
 * normalised mean of window embeddings, as clar-eval). Each step draws a
 * batch of clips and, for each, one caption built from its manifest
 * metadata (src/train/clap.c: clar_clap_caption, variant drawn at random),
 * and minimises the symmetric CLAP loss with multi-positive targets for
 * identical captions. NEW_MODEL holds every tensor and key of MODEL
 * unchanged plus the text tower, so the step can be re-run on any encoder.
 * --holdout removes whole classes from training (for zero-shot
 * evaluation); they are recorded in clar.text.holdout.
 *
 * --wordnet expands every caption with WordNet (include/clar/wordnet.h,
 * text.h step 2b; the weights are written into NEW_MODEL so prompts are
 * expanded the same way at inference) and, with probability --wn-pairs,
 * replaces a clip's caption by a WordNet term of its class: a synonym or a
 * hyponym down to two levels ("dog", "puppy" for a canine clip), alone or
 * as "the sound of a TERM". The expansions of those terms name the class
 * among their hypernyms, which teaches the tower the general words of the
 * hypernym chains (mammal, wind instrument...) that carry a prompt of an
 * unseen class. With probability --wn-drop a caption keeps only its
 * expansion (its own words' features dropped, same target group): a prompt
 * naming a class the tower never saw arrives with untrained own features
 * and only its expansion to go by, and these pairs train exactly that
 * (tools/clap-study.sh measures it; models/README.md "Text tower").
 *
 * --cache DIR also keeps the clip embeddings (clip-embed.h), keyed by the
 * encoder fingerprint and the decoded audio, so a second tower on the same
 * encoder skips the encoder. (The key does not cover libclar's own code:
 * empty DIR after changing the encoder's implementation.)
 *
 * Closing report (stderr), on the written file: for each --val-split and
 * each --report-templates template, the accuracy of class prompts over the
 * clips of the trained classes, of the held-out classes alone, and with
 * --report-words / --report-seen of classes named by other words; with
 * --report-only, of --init's own tower, training nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gst/gst.h>
#include <clar/clar.h>

#include "augment.h"
#include "clap.h"
#include "clar-train-clap.h"
#include "audio-decode.h"
#include "clip-embed.h"
#include "dataset.h"
#include "nn.h"

#define CLAP_MAX_REPORT_SPLITS 4

typedef struct {
  const char *init, *data, *out, *split, *val_split, *holdout, *cache;
  clar_dataset_options dopt;
  long steps, warmup;
  int batch, dim, ngram;
  unsigned buckets;
  float lr, lr_min, wd;
  uint64_t seed;
  int wordnet, report_only;
  const char *wn_weights;
  const char *report_templates, *report_words, *report_seen;
  float wn_pairs, wn_drop, init_scale;
} clap_options;

static void
usage (FILE *f)
{
  fprintf (f,
      "usage: clar-train --clap --init MODEL --data MANIFEST.tsv --out NEW_MODEL [options]\n"
      "  --split NAME          manifest rows to train on (default train)\n"
      "  --val-split S[,S...]  rows for the closing report (default val; \"\" none)\n"
      "  --report-templates T[;T...]  prompt templates of the closing report, \"{}\" the class,\n"
      "                        T1|T2 averaged (default \"{};the sound of {}\")\n"
      "  --report-words CLASS=WORD,...  also report prompts naming the held-out classes\n"
      "                        by these words\n"
      "  --report-seen CLASS=WORD,...  also report these trained classes alone, by name\n"
      "                        and by these words\n"
      "  --report-only         train nothing: the closing report of MODEL's own tower\n"
      "                        (held-out classes from its clar.text.holdout; no --out)\n"
      "  --holdout A,B,...     classes left out of training entirely\n"
      "  --steps S             (default 3000)   --batch-size B (default 128)\n"
      "  --lr LR --lr-min LR   AdamW peak / final rate (3e-3, 3e-5), --warmup S (100)\n"
      "  --weight-decay WD     (default 1e-5)\n"
      "  --buckets N           hashed feature buckets (default 8192)\n"
      "  --text-dim D          embedding table width (default 128)\n"
      "  --char-ngram N        character n-gram size, 0 = words only (default 3)\n"
      "  --seed N  --cache DIR (decoded audio and clip embeddings, default none)\n"
      "  --wordnet             expand captions and prompts with WordNet (wordnet-base;\n"
      "                        $CLAR_WORDNET_DIR overrides /usr/share/wordnet)\n"
      "  --wn-weights S,H,D,L,G  synonym, hypernym weight, hypernym decay, depth, gloss\n"
      "                        weight (default 0.5,0.5,0.8,8,0.25)\n"
      "  --wn-pairs P          share of captions replaced by a WordNet term of the class\n"
      "                        (default 0.25 with --wordnet)\n"
      "  --wn-drop P           share of captions reduced to their WordNet expansion alone\n"
      "                        (their own words dropped; default 0)\n"
      "  --embedding-init S    scale (0, 10] of the random initial embedding rows\n"
      "                        (default 1)\n"
      CLAR_DATASET_OPTIONS_HELP);
}

static int
parse (int argc, char **argv, clap_options *o)
{
  memset (o, 0, sizeof *o);
  o->split = "train";
  o->val_split = "val";
  o->report_templates = "{};the sound of {}";
  o->steps = 3000;
  o->warmup = 100;
  o->batch = 128;
  o->dim = 128;
  o->ngram = 3;
  o->buckets = 8192;
  o->lr = 3e-3f;
  o->lr_min = 3e-5f;
  o->wd = 1e-5f;
  o->seed = 1;
  o->wn_weights = "0.5,0.5,0.8,8,0.25";
  o->wn_pairs = -1.0f;
  o->init_scale = 1.0f;
  o->dopt = clar_dataset_options_default ();
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int r = clar_dataset_parse_option (&o->dopt, a, v);
#define OPT(name) (!strcmp (a, name) && v && (i++, 1))
    if (r < 0) return -1;
    if (r > 0) i += r - 1;
    else if (!strcmp (a, "--clap")) ;
    else if (OPT ("--init")) o->init = v;
    else if (OPT ("--data")) o->data = v;
    else if (OPT ("--out")) o->out = v;
    else if (OPT ("--split")) o->split = v;
    else if (OPT ("--val-split")) o->val_split = v;
    else if (OPT ("--report-templates")) o->report_templates = v;
    else if (OPT ("--report-words")) o->report_words = v;
    else if (OPT ("--report-seen")) o->report_seen = v;
    else if (!strcmp (a, "--report-only")) o->report_only = 1;
    else if (OPT ("--holdout")) o->holdout = v;
    else if (OPT ("--cache")) o->cache = v;
    else if (OPT ("--steps")) o->steps = atol (v);
    else if (OPT ("--warmup")) o->warmup = atol (v);
    else if (OPT ("--batch-size")) o->batch = atoi (v);
    else if (OPT ("--text-dim")) o->dim = atoi (v);
    else if (OPT ("--char-ngram")) o->ngram = atoi (v);
    else if (OPT ("--buckets")) o->buckets = (unsigned) strtoul (v, NULL, 10);
    else if (OPT ("--lr")) o->lr = strtof (v, NULL);
    else if (OPT ("--lr-min")) o->lr_min = strtof (v, NULL);
    else if (OPT ("--weight-decay")) o->wd = strtof (v, NULL);
    else if (OPT ("--seed")) o->seed = strtoull (v, NULL, 10);
    else if (!strcmp (a, "--wordnet")) o->wordnet = 1;
    else if (OPT ("--wn-weights")) o->wn_weights = v;
    else if (OPT ("--wn-pairs")) o->wn_pairs = strtof (v, NULL);
    else if (OPT ("--wn-drop")) o->wn_drop = strtof (v, NULL);
    else if (OPT ("--embedding-init")) o->init_scale = strtof (v, NULL);
    else if (!strcmp (a, "--help") || !strcmp (a, "-h")) { usage (stdout); exit (0); }
    else { fprintf (stderr, "clar-train --clap: unknown or incomplete option %s\n", a); return -1; }
#undef OPT
  }
  if (!o->init || !o->data || (!o->out && !o->report_only)) {
    usage (stderr);
    return -1;
  }
  if (o->wn_pairs < 0.0f)
    o->wn_pairs = o->wordnet ? 0.25f : 0.0f;
  if ((o->wn_pairs > 0.0f || o->wn_drop > 0.0f) && !o->wordnet) {
    fprintf (stderr, "clar-train --clap: --wn-pairs and --wn-drop need --wordnet\n");
    return -1;
  }
  if (o->steps < 1 || o->batch < 2 || o->batch > 4096 || o->dim < 1 || o->dim > CLAR_TEXT_MAX_DIM
      || o->buckets < 1 || o->buckets > CLAR_TEXT_MAX_BUCKETS || !(o->lr > 0) || o->wd < 0
      || (o->ngram != 0 && (o->ngram < 2 || o->ngram > 6)) || o->warmup < 0
      || !(o->wn_pairs >= 0.0f && o->wn_pairs <= 1.0f)
      || !(o->wn_drop >= 0.0f && o->wn_drop <= 1.0f)
      || !(o->init_scale > 0.0f && o->init_scale <= 10.0f)) {
    fprintf (stderr, "clar-train --clap: an option is out of range (see --help)\n");
    return -1;
  }
  return 0;
}

/* Manifest metadata by the path clar_dataset_list builds (folder of the
 * manifest + column 1). Values: gchar*[6] (path label split source group caption). */
static GHashTable *
read_metadata (const char *manifest)
{
  gchar *text = NULL, *base, **lines;
  GHashTable *h;
  if (!g_file_get_contents (manifest, &text, NULL, NULL))
    return NULL;
  h = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_strfreev);
  base = g_path_get_dirname (manifest);
  lines = g_strsplit (text, "\n", -1);
  for (size_t i = 0; lines[i]; i++) {
    gchar **f;
    if (!lines[i][0] || lines[i][0] == '#' || (i == 0 && g_str_has_prefix (lines[i], "path")))
      continue;
    f = g_strsplit (lines[i], "\t", -1);
    if (f[0] && f[0][0])
      g_hash_table_replace (h, g_path_is_absolute (f[0]) ? g_strdup (f[0])
          : g_build_filename (base, f[0], NULL), f);
    else
      g_strfreev (f);
  }
  g_strfreev (lines);
  g_free (base);
  g_free (text);
  return h;
}

static clar_clip_meta
meta_of (GHashTable *h, const clar_clip *c)
{
  clar_clip_meta m = { c->path, c->label, NULL, NULL, NULL };
  gchar **f = h ? g_hash_table_lookup (h, c->path) : NULL;
  if (f && f[1] && f[2] && f[3]) {
    m.source = f[3];
    if (f[4]) {
      m.group = f[4];
      if (f[5])
        m.caption = f[5];
    }
  }
  return m;
}

static int
in_list (const char *csv, const char *name)
{
  size_t n = strlen (name);
  const char *p = csv;
  if (!csv || !name)
    return 0;
  while ((p = strstr (p, name))) {
    if ((p == csv || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
      return 1;
    p += n;
  }
  return 0;
}

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The words of cls in a "CLASS=WORD,..." list (g_free), or NULL. */
static gchar *
class_word (const char *list, const char *cls)
{
  gchar **items = list ? g_strsplit (list, ",", -1) : NULL, *w = NULL;
  for (size_t i = 0; items && items[i] && !w; i++) {
    const char *eq = strchr (items[i], '=');
    if (eq && (size_t) (eq - items[i]) == strlen (cls) && !strncmp (items[i], cls, eq - items[i]))
      w = g_strdup (eq + 1);
  }
  g_strfreev (items);
  return w;
}

/* The label set of one report row: template tmpl with "{}" replaced by each
 * class's word (from `words`, else its name with '_' read as a space).
 * Several templates joined by '|' are averaged per class and renormalised
 * (prompt ensembling, Radford et al. 2021, CLIP, sec. 3.1.4). */
static clar_labels *
report_labels (const clar_model *m, const char *tmpl, const char *words, char **classes,
               size_t n_classes, clar_error *err)
{
  gchar **alts = g_strsplit (tmpl, "|", -1);
  size_t D = clar_model_get_info (m)->embedding_dim, n_alts = g_strv_length (alts);
  float *acc = calloc (n_classes * D, sizeof (float));
  char **prompts = calloc (n_classes, sizeof (char *));
  clar_labels *l = NULL;
  for (size_t a = 0; acc && prompts && a < n_alts; a++) {
    gchar **parts = g_strsplit (alts[a], "{}", -1);
    clar_labels *one;
    for (size_t k = 0; k < n_classes; k++) {
      gchar *w = class_word (words, classes[k]);
      if (!w)
        w = g_strdelimit (g_strdup (classes[k]), "_", ' ');
      g_free (prompts[k]);
      prompts[k] = g_strjoinv (w, parts);
      g_free (w);
    }
    g_strfreev (parts);
    one = clar_labels_from_prompts (m, n_classes, (const char *const *) prompts, err);
    if (!one) {
      free (acc);
      acc = NULL;
      break;
    }
    if (n_alts == 1) {
      l = one;
      break;
    }
    for (size_t k = 0; k < n_classes; k++)
      for (size_t d = 0; d < D; d++)
        acc[k * D + d] += clar_labels_vector (one, k)[d];
    if (a + 1 == n_alts) {
      for (size_t k = 0; k < n_classes; k++) {
        double ss = 0.0;
        for (size_t d = 0; d < D; d++)
          ss += (double) acc[k * D + d] * acc[k * D + d];
        for (size_t d = 0; ss > 0.0 && d < D; d++)
          acc[k * D + d] = (float) (acc[k * D + d] / sqrt (ss));
      }
      l = clar_labels_new (n_classes, D, (const char *const *) classes, acc,
          clar_labels_scale (one), err);
      if (l)
        clar_labels_set_encoder (l, clar_labels_get_encoder (one));
    }
    clar_labels_unref (one);
  }
  for (size_t k = 0; prompts && k < n_classes; k++)
    g_free (prompts[k]);
  free (prompts);
  free (acc);
  g_strfreev (alts);
  return l;
}

/* Closing report: for each template of `templates` (';'-separated), the
 * accuracy of its prompts over the labelled clips of ds whose class is in
 * `classes`, and the mean of the per-class accuracies. */
static void
report_prompts (const clar_model *m, clar_dataset *ds, const float *E, char **classes,
                size_t n_classes, const char *templates, const char *words, const char *what)
{
  size_t D = clar_model_get_info (m)->embedding_dim;
  gchar **tl = g_strsplit (templates, ";", -1);
  for (size_t t = 0; tl[t] && n_classes > 1; t++) {
    clar_labels *l;
    clar_error err;
    size_t ok = 0, n = 0, *cls_ok = calloc (n_classes, sizeof (size_t)),
        *cls_n = calloc (n_classes, sizeof (size_t)),
        *conf = calloc (n_classes * n_classes, sizeof (size_t));
    double mean = 0.0;
    size_t n_cls = 0;
    if (!*tl[t])
      continue;
    l = report_labels (m, tl[t], words, classes, n_classes, &err);
    for (size_t i = 0; l && cls_n && cls_ok && conf && i < ds->n_clips; i++) {
      clar_label_score top;
      size_t k;
      if (ds->clips[i].class_id < 0 || !ds->clips[i].label)
        continue;
      for (k = 0; k < n_classes && strcmp (classes[k], ds->clips[i].label); k++)
        ;
      if (k == n_classes)
        continue;
      n++;
      cls_n[k]++;
      if (clar_labels_top_k (l, E + i * D, 1, 0.0f, &top) != 1)
        continue;
      conf[k * n_classes + top.index]++;
      if (top.index == k) {
        ok++;
        cls_ok[k]++;
      }
    }
    /* Classes have very different clip counts: the mean of the per-class
     * accuracies beside the accuracy over clips. */
    for (size_t k = 0; n && k < n_classes; k++)
      if (cls_n[k]) {
        mean += (double) cls_ok[k] / cls_n[k];
        n_cls++;
      }
    if (!l)
      fprintf (stderr, "clar-train --clap: prompts \"%s\": %s\n", tl[t], err.message);
    else if (n) {
      fprintf (stderr, "clar-train --clap: %s: prompt \"%s\" accuracy %.4f over %zu clips, "
          "%zu classes (per-class mean %.4f over %zu with clips)\n",
          what, tl[t], (double) ok / n, n, n_classes, mean / n_cls, n_cls);
      if (n_classes <= 16) {
        fprintf (stderr, "clar-train --clap:   per class:");
        for (size_t k = 0; k < n_classes; k++) {
          size_t worst = k;
          if (!cls_n[k])
            continue;
          /* The class its clips are most often taken for. */
          for (size_t j = 0; j < n_classes; j++)
            if (j != k && conf[k * n_classes + j] > (worst == k ? 0 : conf[k * n_classes + worst]))
              worst = j;
          fprintf (stderr, " %s %.2f (%zu%s%s)", classes[k], (double) cls_ok[k] / cls_n[k], cls_n[k],
              worst != k ? ", most as " : "", worst != k ? classes[worst] : "");
        }
        fprintf (stderr, "\n");
      }
    }
    clar_labels_unref (l);
    free (cls_ok);
    free (cls_n);
    free (conf);
  }
  g_strfreev (tl);
}

/* Features of one caption, expanded once (captions repeat across steps). */
typedef struct {
  size_t n, n_own;   /* all features; the caption's own (they come first) */
  uint32_t *ids;
  float *w;
} caption_features;

static void
caption_features_free (gpointer p)
{
  caption_features *f = p;
  free (f->ids);
  free (f->w);
  free (f);
}

static const caption_features *
features_of (GHashTable *cache, const clar_text_params *tp, const clar_wordnet *wn,
             const clar_wordnet_expand_params *ex, const char *cap)
{
  caption_features *f = g_hash_table_lookup (cache, cap);
  int n;
  if (f)
    return f;
  n = clar_text_features_expanded (tp, wn, ex, cap, NULL, NULL, 0);
  if (n <= 0 || !(f = calloc (1, sizeof *f)))
    return NULL;
  f->n = (size_t) n;
  f->ids = malloc ((size_t) n * sizeof (uint32_t));
  f->w = malloc ((size_t) n * sizeof (float));
  if (!f->ids || !f->w
      || clar_text_features_expanded (tp, wn, ex, cap, f->ids, f->w, f->n) != n) {
    caption_features_free (f);
    return NULL;
  }
  n = clar_text_features (tp, cap, NULL, 0);
  f->n_own = n > 0 && (size_t) n <= f->n ? (size_t) n : 0;
  g_hash_table_insert (cache, g_strdup (cap), f);
  return f;
}

static void
collect_term (void *user, const char *term, size_t len, float weight)
{
  (void) weight;
  g_ptr_array_add (user, g_strdelimit (g_strndup (term, len), "_", ' '));
}

int
clar_train_clap_main (int argc, char **argv)
{
  clap_options o;
  clar_model *model = NULL;
  clar_session *s = NULL;
  clar_error err;
  clar_dataset ds, val[CLAP_MAX_REPORT_SPLITS];
  gchar **vsplit = NULL;
  const char *vname[CLAP_MAX_REPORT_SPLITS];
  size_t n_val = 0;
  GHashTable *meta = NULL, *groups = NULL;
  float *E = NULL, *A = NULL, *T = NULL, *H = NULL, *un = NULL, *dT = NULL;
  int *g = NULL;
  uint32_t *ids = NULL;
  size_t *off = NULL, *pool = NULL, n_pool = 0, D, ids_cap;
  clar_text_params tp;
  clar_clap_tower *tw = NULL;
  gchar *cmdline = NULL;
  clar_wordnet *wn = NULL;
  clar_wordnet_expand_params ex = { 0 };
  GHashTable *cache = NULL;
  GPtrArray **terms = NULL;
  float *wts = NULL;
  double t0;
  int rc = 1;

  if (parse (argc, argv, &o))
    return 2;
  if (o.wordnet) {
    if (sscanf (o.wn_weights, "%f,%f,%f,%d,%f", &ex.synonym_weight, &ex.hypernym_weight,
            &ex.hypernym_decay, &ex.depth, &ex.gloss_weight) != 5) {
      fprintf (stderr, "clar-train --clap: --wn-weights needs five numbers S,H,D,L,G\n");
      return 2;
    }
    if (clar_wordnet_open (NULL, &wn, &err) != CLAR_OK) {
      fprintf (stderr, "clar-train --clap: --wordnet: %s\n", err.message);
      return 1;
    }
  }
  gst_init (NULL, NULL);
  if (clar_model_load_file (o.init, &model, &err) != CLAR_OK) {
    fprintf (stderr, "clar-train --clap: %s\n", err.message);
    return 1;
  }
  if (o.report_only && !clar_model_get_text (model)) {
    fprintf (stderr, "clar-train --clap: --report-only: %s has no text tower\n", o.init);
    clar_model_unref (model);
    return 1;
  }
  if (o.report_only && !o.holdout)
    o.holdout = clar_model_get_metadata (model, "clar.text.holdout");
  o.dopt.min_samples = clar_min_clip_samples (clar_model_get_info (model)->window_samples, o.dopt.min_fill);
  clar_dataset_init (&ds, &o.dopt);
  for (size_t v = 0; v < CLAP_MAX_REPORT_SPLITS; v++)
    clar_dataset_init (&val[v], &o.dopt);
  D = clar_model_get_info (model)->embedding_dim;
  if (!(s = clar_session_new (model, &err))) {
    fprintf (stderr, "clar-train --clap: %s\n", err.message);
    goto out;
  }
  if (!(meta = read_metadata (o.data)))
    fprintf (stderr, "clar-train --clap: warning: no manifest metadata in %s; captions use the labels only\n", o.data);
  if (clar_dataset_list (&ds, o.data, o.split)
      || clar_dataset_load (&ds, clar_model_get_info (model)->mel.sample_rate, o.cache, 2))
    goto out;
  /* The closing report's clips: loaded first, so that an overlap with the
   * training clips stops the run before it trains. */
  vsplit = g_strsplit (o.val_split ? o.val_split : "", ",", -1);
  for (size_t v = 0; vsplit[v]; v++) {
    clar_dataset *vd = &val[n_val];
    if (!*vsplit[v])
      continue;
    if (n_val == CLAP_MAX_REPORT_SPLITS) {
      fprintf (stderr, "clar-train --clap: at most %d --val-split splits\n", CLAP_MAX_REPORT_SPLITS);
      goto out;
    }
    if (clar_dataset_list (vd, o.data, vsplit[v])
        || clar_dataset_load (vd, clar_model_get_info (model)->mel.sample_rate, o.cache, 2)) {
      fprintf (stderr, "clar-train --clap: no closing report on split %s\n", vsplit[v]);
      clar_dataset_free (vd);
      clar_dataset_init (vd, &o.dopt);
      continue;
    }
    vname[n_val++] = vsplit[v];
    if (clar_dataset_check_disjoint ("clar-train --clap", &ds, vd)
        || clar_dataset_check_list ("clar-train --clap", o.init,
            clar_model_get_metadata (model, CLAR_TRAINING_CLIPS_KEY), vd))
      goto out;
  }
  clar_dataset_index_classes (&ds, NULL, 0);
  t0 = now ();
  if (!(E = clar_embed_dataset_cached (s, &ds, o.cache))) {
    fprintf (stderr, "clar-train --clap: out of memory\n");
    goto out;
  }
  pool = malloc (ds.n_clips * sizeof (size_t));
  if (!pool)
    goto out;
  for (size_t i = 0; i < ds.n_clips; i++)
    if (ds.clips[i].class_id >= 0 && !in_list (o.holdout, ds.clips[i].label))
      pool[n_pool++] = i;
  {
    size_t n_held = 0;
    for (size_t k = 0; k < ds.n_classes; k++)
      n_held += in_list (o.holdout, ds.classes[k]);
    fprintf (stderr, "clar-train --clap: %zu clips embedded in %.1f s; %zu train the tower "
        "(%zu of %zu classes held out)\n", ds.n_clips, now () - t0, n_pool, n_held, ds.n_classes);
  }
  if (o.report_only)
    goto report;
  if (n_pool < (size_t) o.batch) {
    fprintf (stderr, "clar-train --clap: %zu clips train the tower but --batch-size %d: use "
        "--batch-size %zu or less, or add clips\n", n_pool, o.batch, n_pool);
    goto out;
  }

  tp.seed = (uint32_t) o.seed;
  tp.n_buckets = o.buckets;
  tp.char_ngram = o.ngram;
  tw = clar_clap_tower_new (&tp, (size_t) o.dim, D, o.seed);
  for (size_t i = 0; tw && o.init_scale != 1.0f && i < (size_t) tp.n_buckets * tw->dim; i++)
    tw->E[i] *= o.init_scale;
  if (tw && wn) {
    /* Validated here (clar_text_features_expanded refuses bad weights). */
    tw->expand = 1;
    tw->ex = ex;
  }
  cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, caption_features_free);
  if (wn && o.wn_pairs > 0.0f) {
    size_t n_terms = 0, n_cls = 0;
    terms = calloc (ds.n_classes, sizeof (GPtrArray *));
    for (size_t k = 0; terms && k < ds.n_classes; k++) {
      gchar *cls = g_strdelimit (g_strdup (ds.classes[k]), "_", ' ');
      terms[k] = g_ptr_array_new_with_free_func (g_free);
      if (!in_list (o.holdout, ds.classes[k]))
        clar_wordnet_hyponyms (wn, cls, 2, 40, collect_term, terms[k]);
      n_terms += terms[k]->len;
      n_cls += terms[k]->len > 0;
      g_free (cls);
    }
    fprintf (stderr, "clar-train --clap: %zu WordNet terms (synonyms, hyponyms) for %zu classes\n",
        n_terms, n_cls);
  }
  ids_cap = (size_t) o.batch * 4096;
  A = malloc ((size_t) o.batch * D * sizeof (float));
  T = malloc ((size_t) o.batch * D * sizeof (float));
  dT = malloc ((size_t) o.batch * D * sizeof (float));
  H = malloc ((size_t) o.batch * o.dim * sizeof (float));
  un = malloc ((size_t) o.batch * sizeof (float));
  g = malloc ((size_t) o.batch * sizeof (int));
  ids = malloc (ids_cap * sizeof (uint32_t));
  wts = malloc (ids_cap * sizeof (float));
  off = malloc (((size_t) o.batch + 1) * sizeof (size_t));
  groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (!tw || !A || !T || !dT || !H || !un || !g || !ids || !wts || !off || (wn && !tw->expand)) {
    fprintf (stderr, "clar-train --clap: out of memory\n");
    goto out;
  }
  fprintf (stderr, "clar-train --clap: tower %u buckets x %d, char %d-grams, %zu parameters\n",
      tp.n_buckets, o.dim, tp.char_ngram, clar_clap_tower_n_params (tw));

  t0 = now ();
  {
    clar_rng r = { o.seed * 0x2545F4914F6CDD1DULL + 1 };
    double avg = 0;
    for (long step = 0; step < o.steps; step++) {
      clar_clap_texts x = { o.batch, ids, off, wts };
      float dls, lr;
      double loss;
      off[0] = 0;
      g_hash_table_remove_all (groups);
      for (int b = 0; b < o.batch; b++) {
        /* Sampling with replacement keeps every step independent of the
         * previous ones (a run is a function of --seed and --steps). */
        size_t ci = pool[clar_rng_next (&r) % n_pool];
        clar_clip_meta m = meta_of (meta, &ds.clips[ci]);
        char cap[512];
        int nc = clar_clap_n_captions (&m), k = (int) (clar_rng_next (&r) % (uint64_t) nc);
        GPtrArray *tl = terms && ds.clips[ci].class_id >= 0 ? terms[ds.clips[ci].class_id] : NULL;
        const caption_features *cf;
        const uint32_t *cid;
        const float *cw;
        size_t cn;
        gpointer gid;
        if (clar_clap_caption (&m, k, cap, sizeof cap) < 0)
          clar_clap_caption (&m, 0, cap, sizeof cap);
        /* A WordNet pair: draw from the rng only when the class has terms,
         * so runs without them are unchanged. */
        if (tl && tl->len && clar_rng_uniform (&r) < o.wn_pairs) {
          const char *term = g_ptr_array_index (tl, clar_rng_next (&r) % tl->len);
          snprintf (cap, sizeof cap, clar_rng_next (&r) % 2 ? "%s" : "the sound of a %s", term);
        }
        cf = features_of (cache, &tp, wn, wn ? &ex : NULL, cap);
        if (!cf || off[b] + cf->n > ids_cap) {
          fprintf (stderr, "clar-train --clap: caption \"%s\" gives no features\n", cap);
          goto out;
        }
        cid = cf->ids;
        cw = cf->w;
        cn = cf->n;
        /* The expansion alone, as a prompt of a word the tower never saw
         * is at inference (its own features are untrained rows): teaches
         * the tower to place a text by its WordNet neighbourhood. */
        if (o.wn_drop > 0.0f && cf->n_own > 0 && cf->n_own < cf->n
            && clar_rng_uniform (&r) < o.wn_drop) {
          cid += cf->n_own;
          cw += cf->n_own;
          cn -= cf->n_own;
          /* Same target group as the whole caption: it names the same clips. */
        }
        memcpy (ids + off[b], cid, cn * sizeof (uint32_t));
        memcpy (wts + off[b], cw, cn * sizeof (float));
        off[b + 1] = off[b] + cn;
        memcpy (A + (size_t) b * D, E + ci * D, D * sizeof (float));
        if (!g_hash_table_lookup_extended (groups, cap, NULL, &gid)) {
          gid = GINT_TO_POINTER (g_hash_table_size (groups));
          g_hash_table_insert (groups, g_strdup (cap), gid);
        }
        g[b] = GPOINTER_TO_INT (gid);
      }
      if (clar_clap_tower_forward (tw, &x, T, H, un) != CLAR_OK) {
        fprintf (stderr, "clar-train --clap: text forward failed at step %ld\n", step);
        goto out;
      }
      loss = clar_clap_loss (T, A, o.batch, (int) D, tw->log_scale, g, dT, NULL, &dls);
      if (!isfinite (loss)) {
        fprintf (stderr, "clar-train --clap: loss is not finite at step %ld\n", step);
        goto out;
      }
      clar_clap_tower_zero_grad (tw);
      clar_clap_tower_backward (tw, &x, T, H, un, dT);
      tw->g_log_scale = dls;
      lr = clar_lr_schedule (step, o.warmup, o.steps, o.lr, o.lr_min);
      clar_clap_tower_adam (tw, lr, o.wd);
      avg = step ? 0.98 * avg + 0.02 * loss : loss;
      if ((step + 1) % 250 == 0 || step + 1 == o.steps)
        fprintf (stderr, "clap step %ld/%ld loss %.4f (avg %.4f) scale %.2f lr %.2e %.1f s\n",
            step + 1, o.steps, loss, avg, exp (tw->log_scale), lr, now () - t0);
    }
  }
  {
    gchar *steps_s = g_strdup_printf ("%ld", o.steps);
    const char *extra[] = {
      "clar.text.training", NULL,
      "clar.text.training_steps", steps_s,
      "clar.text.holdout", o.holdout ? o.holdout : "",
      /* What the tower learnt from, for clar-eval's overlap check. */
      CLAR_TEXT_TRAINING_CLIPS_KEY, NULL,
      NULL
    };
    int src;
    gchar *clips = clar_dataset_content_list (&ds, NULL);
    extra[7] = clips;
    extra[1] = cmdline = g_strjoinv (" ", argv);
    src = clar_clap_tower_save (tw, model, extra, o.out, &err);
    g_free (clips);
    g_free (steps_s);
    if (src != CLAR_OK) {
      fprintf (stderr, "clar-train --clap: %s\n", err.message);
      goto out;
    }
  }
  fprintf (stderr, "clar-train --clap: wrote %s (%.1f s of training)\n", o.out, now () - t0);

  /* Closing report on the written file (what the element will load). */
report:
  {
    clar_model *nm = NULL;
    if (clar_model_load_file (o.report_only ? o.init : o.out, &nm, &err) != CLAR_OK) {
      fprintf (stderr, "clar-train --clap: the written model does not load: %s\n", err.message);
      goto out;
    }
    for (size_t v = 0; v < n_val; v++) {
      clar_dataset *vd = &val[v];
      float *Ev;
      char **seen = calloc (ds.n_classes + 1, sizeof (char *)), **held = calloc (ds.n_classes + 1, sizeof (char *));
      char **sub = calloc (ds.n_classes + 1, sizeof (char *));
      size_t ns = 0, nh = 0, nsub = 0;
      clar_dataset_index_classes (vd, ds.classes, ds.n_classes);
      Ev = clar_embed_dataset_cached (s, vd, o.cache);
      for (size_t k = 0; seen && held && sub && k < ds.n_classes; k++) {
        gchar *w = class_word (o.report_seen, ds.classes[k]);
        if (in_list (o.holdout, ds.classes[k]))
          held[nh++] = ds.classes[k];
        else {
          seen[ns++] = ds.classes[k];
          if (w)
            sub[nsub++] = ds.classes[k];
        }
        g_free (w);
      }
      if (Ev && seen && held && sub) {
        gchar *what = g_strdup_printf ("%s, classes seen in training", vname[v]);
        report_prompts (nm, vd, Ev, seen, ns, o.report_templates, NULL, what);
        g_free (what);
        if (nh) {
          what = g_strdup_printf ("%s, held-out classes only", vname[v]);
          report_prompts (nm, vd, Ev, held, nh, o.report_templates, NULL, what);
          g_free (what);
        }
        if (nh && o.report_words) {
          what = g_strdup_printf ("%s, held-out classes by words in no caption", vname[v]);
          report_prompts (nm, vd, Ev, held, nh, o.report_templates, o.report_words, what);
          g_free (what);
        }
        if (nsub) {
          what = g_strdup_printf ("%s, --report-seen classes", vname[v]);
          report_prompts (nm, vd, Ev, sub, nsub, o.report_templates, NULL, what);
          g_free (what);
          what = g_strdup_printf ("%s, --report-seen classes by words", vname[v]);
          report_prompts (nm, vd, Ev, sub, nsub, o.report_templates, o.report_seen, what);
          g_free (what);
        }
      }
      free (Ev);
      free (seen);
      free (held);
      free (sub);
    }
    clar_model_unref (nm);
  }
  rc = 0;
out:
  if (groups)
    g_hash_table_destroy (groups);
  if (cache)
    g_hash_table_destroy (cache);
  for (size_t k = 0; terms && k < ds.n_classes; k++)
    if (terms[k])
      g_ptr_array_unref (terms[k]);
  free (terms);
  free (wts);
  clar_wordnet_free (wn);
  if (meta)
    g_hash_table_destroy (meta);
  clar_clap_tower_free (tw);
  free (E); free (A); free (T); free (dT); free (H); free (un); free (g); free (ids); free (off);
  free (pool);
  g_free (cmdline);
  clar_dataset_free (&ds);
  for (size_t v = 0; v < CLAP_MAX_REPORT_SPLITS; v++)
    clar_dataset_free (&val[v]);
  g_strfreev (vsplit);
  clar_session_free (s);
  clar_model_unref (model);
  return rc;
}
