/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * clar-mkmodel: writes a randomly initialised (UNTRAINED) model file with the
 * default front end and layer list. Used as a test fixture and as the shipped
 * model until a trained one exists. Weights: He-normal (He et al. 2015,
 * std = sqrt(2 / fan_in)), biases zero; label vectors random unit vectors.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clar/clar.h>
#include "model-private.h"
#include "text-private.h"

/* splitmix64 (Steele et al. 2014): tiny, deterministic across platforms. */
static uint64_t
next_u64 (uint64_t *s)
{
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static double
uniform (uint64_t *s)
{
  return ((next_u64 (s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Box-Muller transform. */
static float
gauss (uint64_t *s)
{
  double u = uniform (s), v = uniform (s);
  return (float) (sqrt (-2.0 * log (u)) * cos (6.283185307179586 * v));
}

static void
usage (void)
{
  fprintf (stderr,
      "usage: clar-mkmodel [--seed N] [--labels \"a;b;c\"] [--architecture JSON | --arch NAME]\n"
      "                    [--window SAMPLES] [--hop SAMPLES] [--text-tower] -o FILE\n"
      "--arch NAME: a named layer list (cnn4 = the default, dsres).\n"
      "--text-tower adds a random text tower (text.h: 256 buckets x 16, char 3-grams).\n"
      "Writes an UNTRAINED, randomly initialised clar model (test fixture).\n");
}

int
main (int argc, char **argv)
{
  const char *out = NULL, *labels_arg = "speech;music;noise;silence";
  const char *arch = clar_default_architecture ();
  uint64_t seed = 1;
  size_t window = 16000, hop = 8000;
  clar_mel_params mel = clar_mel_default_params ();
  clar_layer *layers = NULL;
  size_t n_layers = 0, D = 0;
  clar_error err;
  clar_st_writer *w;
  int rc, text_tower = 0;

  for (int i = 1; i < argc; i++) {
    if (!strcmp (argv[i], "-o") && i + 1 < argc) out = argv[++i];
    else if (!strcmp (argv[i], "--seed") && i + 1 < argc) seed = strtoull (argv[++i], NULL, 10);
    else if (!strcmp (argv[i], "--labels") && i + 1 < argc) labels_arg = argv[++i];
    else if (!strcmp (argv[i], "--architecture") && i + 1 < argc) arch = argv[++i];
    else if (!strcmp (argv[i], "--arch") && i + 1 < argc) {
      arch = clar_architecture_by_name (argv[++i]);
      if (!arch) {
        fprintf (stderr, "clar-mkmodel: unknown --arch \"%s\" (cnn4, dsres)\n", argv[i]);
        return 2;
      }
    }
    else if (!strcmp (argv[i], "--window") && i + 1 < argc) window = strtoull (argv[++i], NULL, 10);
    else if (!strcmp (argv[i], "--hop") && i + 1 < argc) hop = strtoull (argv[++i], NULL, 10);
    else if (!strcmp (argv[i], "--text-tower")) text_tower = 1;
    else { usage (); return 2; }
  }
  if (!out) {
    usage ();
    return 2;
  }
  if (clar_architecture_parse (arch, &layers, &n_layers, &err) != CLAR_OK) {
    fprintf (stderr, "clar-mkmodel: %s\n", err.message);
    return 1;
  }
  for (size_t i = 0; i < n_layers; i++)
    if (layers[i].op == CLAR_OP_LINEAR)
      D = (size_t) layers[i].out;
  w = clar_st_writer_new ();
  rc = clar_model_write_header (w, &mel, window, hop, D, arch, "random-fixture",
      "UNTRAINED randomly initialised model (clar-mkmodel); a test fixture whose labels mean nothing");
  for (size_t i = 0; i < n_layers && rc == CLAR_OK; i++) {
    const clar_layer *l = &layers[i];
    char name[128];
    size_t shape[4], n;
    float *buf;
    if (l->op == CLAR_OP_CONV2D || l->op == CLAR_OP_LINEAR || l->op == CLAR_OP_DWCONV2D) {
      int k = l->op == CLAR_OP_LINEAR ? 1 : l->kernel;
      /* A depthwise filter sees one input channel: [C, 1, k, k]. */
      int cin = l->op == CLAR_OP_DWCONV2D ? 1 : l->in;
      size_t fan_in = (size_t) cin * k * k;
      float sd = (float) sqrt (2.0 / fan_in);
      n = (size_t) l->out * fan_in;
      buf = malloc (n * sizeof (float));
      for (size_t j = 0; j < n; j++)
        buf[j] = sd * gauss (&seed);
      shape[0] = (size_t) l->out; shape[1] = (size_t) cin; shape[2] = shape[3] = (size_t) k;
      snprintf (name, sizeof name, "encoder.%s.weight", l->name);
      rc = clar_st_writer_add (w, name, shape, l->op == CLAR_OP_LINEAR ? 2 : 4, buf);
      memset (buf, 0, (size_t) l->out * sizeof (float));
      snprintf (name, sizeof name, "encoder.%s.bias", l->name);
      if (rc == CLAR_OK)
        rc = clar_st_writer_add (w, name, shape, 1, buf);
      free (buf);
    } else if (l->op == CLAR_OP_BATCHNORM2D) {
      static const char *const what[] = { "weight", "bias", "running_mean", "running_var" };
      static const float init[] = { 1.0f, 0.0f, 0.0f, 1.0f };
      shape[0] = (size_t) l->in;
      buf = malloc (shape[0] * sizeof (float));
      for (int q = 0; q < 4 && rc == CLAR_OK; q++) {
        for (size_t j = 0; j < shape[0]; j++)
          buf[j] = init[q];
        snprintf (name, sizeof name, "encoder.%s.%s", l->name, what[q]);
        rc = clar_st_writer_add (w, name, shape, 1, buf);
      }
      free (buf);
    }
  }
  char fp[CLAR_FINGERPRINT_SIZE] = "";
  /* The random head and tower belong to this random encoder (model.h). */
  if (rc == CLAR_OK && (rc = clar_writer_fingerprint (w, fp, &err)) != CLAR_OK) {
    fprintf (stderr, "clar-mkmodel: %s\n", err.message);
    return 1;
  }
  if (rc == CLAR_OK) {
    /* Label names separated by ';'. */
    char *copy = strdup (labels_arg), *tok, *save = NULL;
    const char *names[256];
    size_t nl = 0;
    for (tok = strtok_r (copy, ";", &save); tok && nl < 256; tok = strtok_r (NULL, ";", &save))
      names[nl++] = tok;
    if (nl) {
      float *vec = malloc (nl * D * sizeof (float));
      clar_labels *lab;
      for (size_t j = 0; j < nl * D; j++)
        vec[j] = gauss (&seed);
      lab = clar_labels_new (nl, D, names, vec, 10.0f, &err);
      if (!lab) {
        fprintf (stderr, "clar-mkmodel: %s\n", err.message);
        rc = err.code;
      } else {
        clar_labels_set_encoder (lab, fp);
        rc = clar_labels_to_writer (lab, w);
        clar_labels_unref (lab);
      }
      free (vec);
    }
    free (copy);
  }
  if (rc == CLAR_OK && text_tower) {
    /* Random tower for tests of the prompt path; its labels mean nothing. */
    clar_text_params tp = { (uint32_t) seed, 256, 3 };
    size_t dt = 16;
    float *E = malloc (256 * dt * sizeof (float)), *W = malloc (D * dt * sizeof (float));
    float *b = calloc (D, sizeof (float));
    if (!E || !W || !b)
      rc = CLAR_ERR_NO_MEMORY;
    for (size_t j = 0; rc == CLAR_OK && j < 256 * dt; j++)
      E[j] = gauss (&seed);
    for (size_t j = 0; rc == CLAR_OK && j < D * dt; j++)
      W[j] = gauss (&seed) * 0.25f;
    if (rc == CLAR_OK)
      rc = clar_text_to_writer (w, &tp, NULL, dt, D, 20.0f, fp, E, W, b);
    free (E);
    free (W);
    free (b);
  }
  if (rc == CLAR_OK)
    rc = clar_st_writer_save (w, out, &err);
  else
    snprintf (err.message, sizeof err.message, "%s", clar_strerror (rc));
  clar_st_writer_free (w);
  free (layers);
  if (rc != CLAR_OK) {
    fprintf (stderr, "clar-mkmodel: %s\n", err.message);
    return 1;
  }
  /* Prove the file loads before declaring success. */
  {
    clar_model *m = NULL;
    if (clar_model_load_file (out, &m, &err) != CLAR_OK) {
      fprintf (stderr, "clar-mkmodel: wrote %s but it does not load: %s\n", out, err.message);
      return 1;
    }
    clar_model_unref (m);
  }
  return 0;
}
