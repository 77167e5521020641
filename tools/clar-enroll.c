/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * clar-enroll: few-shot labels. Turns example clips into a label file
 * (labels.h): each label's vector is the mean of its examples' clip
 * embeddings (the class prototype of Snell et al. 2017, "Prototypical
 * Networks"; README.md "Design", labels), loadable by clarembed
 * labels-location and clar-eval --labels.
 *
 *   clar-enroll --model M --data DIR|MANIFEST.tsv --out LABELS.safetensors
 *               [--split S] [--shots K] [--seed N] [--classes A,B,...]
 *               [--scale S] [--cache DIR]
 *
 * DIR is a folder per label (DIR/LABEL/FILE, any audio GStreamer or
 * libsndfile decodes); its split "train" is used, i.e. without the clips
 * that --val-fraction (default 0.2, dataset.h) holds out for clar-eval:
 * --val-fraction 0 enrolls every clip. With --shots K only K
 * clips per label are used, drawn with a seeded shuffle (all when a label
 * has fewer); the clips used are listed on stderr. --append writes the
 * model's own labels followed by the enrolled ones (one label file holding
 * both, for labels-location); a label that is already among the model's is
 * refused.
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

static int
in_list (const char *csv, const char *name)
{
  gchar **v;
  int found = 0;
  if (!csv)
    return 1;
  v = g_strsplit (csv, ",", -1);
  for (size_t i = 0; v[i] && !found; i++)
    found = !strcmp (v[i], name);
  g_strfreev (v);
  return found;
}

/* splitmix64 (Steele et al. 2014): the shot selection is a function of --seed. */
static uint64_t
next_rand (uint64_t *s)
{
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* The label file, with the clips its prototypes came from (the first 16 hex
 * digits of their MD5s, as clar-train lists a model's; with --append the
 * model's own list too) and this command line: tools/set-labels.py carries
 * both into a model, so that clar-eval refuses to score those clips and the
 * model says how its rows were made. */
static int
save_labels (const clar_labels *labels, const char *path, clar_dataset *ds,
             const clar_model *base, char **argv, clar_error *err)
{
  gchar *clips = clar_dataset_content_list (ds,
      base ? clar_model_get_metadata (base, CLAR_TRAINING_CLIPS_KEY) : NULL);
  gchar *cmdline = g_strjoinv (" ", argv);
  const char *meta[] = { CLAR_TRAINING_CLIPS_KEY, clips, "clar.training", cmdline, NULL };
  int rc = clar_labels_save_file_with_metadata (labels, path, meta, err);
  g_free (clips);
  g_free (cmdline);
  return rc;
}

int
main (int argc, char **argv)
{
  const char *model_path = NULL, *data = NULL, *out = NULL, *split = "train", *classes = NULL;
  const char *cache = NULL;
  long shots = 0;
  uint64_t seed = 1;
  float scale = 0.0f;
  clar_model *model = NULL;
  clar_session *s = NULL;
  clar_error err;
  clar_dataset ds;
  float *vec = NULL, *e = NULL;
  const char **names = NULL;
  size_t D, n_out = 0, *idx = NULL;
  clar_labels *labels = NULL;
  int rc = 1, append = 0;
  size_t n_base = 0;
  const clar_labels *base = NULL;
  clar_dataset_options dopt = clar_dataset_options_default ();

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int r = clar_dataset_parse_option (&dopt, a, v);
    if (r < 0) return 2;
    if (r > 0) { i += r - 1; continue; }
    if (!strcmp (a, "--model") && v) model_path = argv[++i];
    else if (!strcmp (a, "--data") && v) data = argv[++i];
    else if (!strcmp (a, "--out") && v) out = argv[++i];
    else if (!strcmp (a, "--split") && v) split = argv[++i];
    else if (!strcmp (a, "--classes") && v) classes = argv[++i];
    else if (!strcmp (a, "--shots") && v) shots = atol (argv[++i]);
    else if (!strcmp (a, "--seed") && v) seed = strtoull (argv[++i], NULL, 10);
    else if (!strcmp (a, "--scale") && v) scale = strtof (argv[++i], NULL);
    else if (!strcmp (a, "--cache") && v) cache = argv[++i];
    else if (!strcmp (a, "--append")) append = 1;
    else {
      fprintf (stderr, "usage: clar-enroll --model M --data DIR|MANIFEST.tsv --out LABELS.safetensors\n"
          "         [--split S] [--shots K] [--seed N] [--classes A,B,...] [--scale S] [--cache DIR]\n"
          "         [--append]  (the model's own labels first, then the enrolled ones)\n"
          CLAR_DATASET_OPTIONS_HELP);
      return 2;
    }
  }
  if (!model_path || !data || !out || shots < 0 || scale < 0 || scale > 1000) {
    fprintf (stderr, "clar-enroll: --model, --data and --out are required (--shots >= 0, --scale in 0..1000)\n");
    return 2;
  }
  gst_init (NULL, NULL);
  clar_blas_default_threads ();   /* one BLAS thread unless CLAR_BLAS_THREADS says */
  clar_dataset_init (&ds, &dopt);
  if (clar_model_load_file (model_path, &model, &err) != CLAR_OK) {
    fprintf (stderr, "clar-enroll: %s\n", err.message);
    return 1;
  }
  D = clar_model_get_info (model)->embedding_dim;
  ds.opt.min_samples = clar_min_clip_samples (clar_model_get_info (model)->window_samples, ds.opt.min_fill);
  /* Default scale: the model's own label scale, else 10 (labels.h). */
  if (scale == 0.0f)
    scale = clar_model_get_labels (model) ? clar_labels_scale (clar_model_get_labels (model)) : 10.0f;
  if (!(s = clar_session_new (model, &err))) {
    fprintf (stderr, "clar-enroll: %s\n", err.message);
    goto out;
  }
  /* A folder tree: its derived split "train" (dataset.h). */
  if (clar_dataset_list (&ds, data, g_file_test (data, G_FILE_TEST_IS_DIR) ? "train" : split))
    goto out;
  clar_dataset_index_classes (&ds, NULL, 0);
  /* Choose the shots before decoding: drop the other clips' labels. */
  idx = malloc ((ds.n_clips + 1) * sizeof (size_t));
  if (!idx)
    goto out;
  for (size_t c = 0; c < ds.n_classes; c++) {
    size_t m = 0;
    uint64_t st = seed * 1000003ULL + c;
    for (size_t i = 0; i < ds.n_clips; i++)
      if (ds.clips[i].class_id == (int) c)
        idx[m++] = i;
    for (size_t i = m; i > 1; i--) {
      size_t j = next_rand (&st) % i, t = idx[i - 1];
      idx[i - 1] = idx[j];
      idx[j] = t;
    }
    for (size_t i = 0; i < m; i++)
      if ((shots && i >= (size_t) shots) || !in_list (classes, ds.classes[c]))
        ds.clips[idx[i]].class_id = -1;
  }
  {
    /* Decode only the chosen clips. */
    size_t w = 0;
    for (size_t i = 0; i < ds.n_clips; i++) {
      if (ds.clips[i].class_id >= 0)
        ds.clips[w++] = ds.clips[i];
      else {
        g_free (ds.clips[i].path);
        g_free (ds.clips[i].label);
        g_free (ds.clips[i].split);
        g_free (ds.clips[i].md5);
      }
    }
    ds.n_clips = w;
  }
  if (!ds.n_clips) {
    fprintf (stderr, "clar-enroll: no clips left (check --classes)\n");
    goto out;
  }
  if (clar_dataset_load (&ds, clar_model_get_info (model)->mel.sample_rate, cache, 2))
    goto out;
  if (append) {
    base = clar_model_get_labels (model);
    if (!base) {
      fprintf (stderr, "clar-enroll: --append: %s has no labels of its own\n", model_path);
      goto out;
    }
    n_base = clar_labels_count (base);
    for (size_t c = 0; c < ds.n_classes; c++)
      for (size_t j = 0; j < n_base; j++)
        if (!strcmp (clar_labels_name (base, j), ds.classes[c])) {
          fprintf (stderr, "clar-enroll: --append: \"%s\" is already one of the model's labels; "
              "rename its folder (or leave it out with --classes)\n", ds.classes[c]);
          goto out;
        }
  }
  vec = calloc ((n_base + ds.n_classes) * D, sizeof (float));
  e = malloc (D * sizeof (float));
  names = calloc (n_base + ds.n_classes, sizeof (char *));
  if (!vec || !e || !names)
    goto out;
  for (; n_out < n_base; n_out++) {
    names[n_out] = clar_labels_name (base, n_out);
    memcpy (vec + n_out * D, clar_labels_vector (base, n_out), D * sizeof (float));
  }
  for (size_t c = 0; c < ds.n_classes; c++) {
    size_t used = 0;
    for (size_t i = 0; i < ds.n_clips; i++) {
      if (ds.clips[i].class_id != (int) c || !ds.clips[i].pcm
          || clar_embed_clip_fill (s, ds.clips[i].pcm, ds.clips[i].n, ds.opt.min_fill, e, NULL, NULL))
        continue;
      for (size_t d = 0; d < D; d++)
        vec[n_out * D + d] += e[d];
      fprintf (stderr, "  %s <- %s\n", ds.classes[c], ds.clips[i].path);
      used++;
    }
    if (used) {
      names[n_out++] = ds.classes[c];
      fprintf (stderr, "clar-enroll: %s: %zu example%s\n", ds.classes[c], used, used == 1 ? "" : "s");
    }
  }
  if (n_out == n_base) {
    fprintf (stderr, "clar-enroll: no example could be embedded\n");
    goto out;
  }
  labels = clar_labels_new (n_out, D, names, vec, scale, &err);
  /* Tie the prototypes to the encoder that made them (model.h). */
  if (labels)
    clar_labels_set_encoder (labels, clar_model_get_fingerprint (model));
  if (!labels || save_labels (labels, out, &ds, append ? model : NULL, argv, &err) != CLAR_OK) {
    fprintf (stderr, "clar-enroll: %s\n", err.message);
    goto out;
  }
  fprintf (stderr, "clar-enroll: wrote %s (%zu labels%s, scale %g, encoder %s)\n", out, n_out,
      append ? ", the model's first" : "", scale, clar_model_get_fingerprint (model));
  rc = 0;
out:
  clar_labels_unref (labels);
  free (vec);
  free (e);
  free (names);
  free (idx);
  clar_dataset_free (&ds);
  clar_session_free (s);
  clar_model_unref (model);
  return rc;
}
