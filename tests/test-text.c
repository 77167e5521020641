/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Text tower: tokeniser/hash against values computed independently (Python
 * FNV-1a), embedding against a hand computation, model files with and
 * without a tower, each defect of a tower, prompt lists. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <clar/clar.h>
#include "clar-test.h"

/* The encoder a tower records (text.h clar.text.encoder_fingerprint): not
 * the test model's own, so prompt labels must be refused beside it. */
#define TOWER_FP "fnv1a64:00000000000000aa"
#include "model-private.h"
#include "text-private.h"

static const char *arch =
  "[{\"op\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":2,\"kernel\":3,\"pad\":1},"
  "{\"op\":\"global_avg_pool\"},{\"op\":\"linear\",\"name\":\"fc\",\"in\":2,\"out\":3}]";

static void
test_features (void)
{
  clar_text_params p = { 0, 1000, 3 };
  uint32_t ids[16];
  /* Python: h = 2166136261 ^ seed; for b in s: h = ((h ^ b) * 16777619) % 2**32
   * "A dog!" -> words "a", "dog": w:a, c:<a>, w:dog, c:<do, c:dog, c:og>. */
  const uint32_t want[6] = { 423, 779, 622, 101, 746, 256 };
  CHECK_EQ_INT (clar_text_features (&p, "A dog!", ids, 16), 6);
  for (int i = 0; i < 6; i++)
    CHECK_EQ_INT (ids[i], want[i]);
  /* Case and punctuation do not matter; only max_ids are written. */
  memset (ids, 0, sizeof ids);
  CHECK_EQ_INT (clar_text_features (&p, "  a,  DOG ", ids, 2), 6);
  CHECK_EQ_INT (ids[0], 423);
  CHECK_EQ_INT (ids[1], 779);
  CHECK_EQ_INT (ids[2], 0);
  /* Another seed is another hash: w:a with seed 7 -> 498. */
  p.seed = 7;
  CHECK_EQ_INT (clar_text_features (&p, "a", ids, 16), 2);
  CHECK_EQ_INT (ids[0], 498);
  /* Words only; UTF-8 bytes are word bytes ("été"). */
  p.seed = 0;
  p.char_ngram = 0;
  CHECK_EQ_INT (clar_text_features (&p, "\xc3\xa9t\xc3\xa9", ids, 16), 1);
  CHECK_EQ_INT (ids[0], 856);
  /* No words, bad arguments. */
  CHECK_EQ_INT (clar_text_features (&p, " ,;! ", ids, 16), 0);
  CHECK_EQ_INT (clar_text_features (&p, NULL, ids, 16), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_text_features (NULL, "a", ids, 16), CLAR_ERR_INVALID_ARGUMENT);
  p.char_ngram = 1;
  CHECK_EQ_INT (clar_text_features (&p, "a", ids, 16), CLAR_ERR_INVALID_ARGUMENT);
  p.char_ngram = 3;
  p.n_buckets = 0;
  CHECK_EQ_INT (clar_text_features (&p, "a", ids, 16), CLAR_ERR_INVALID_ARGUMENT);
  {
    char big[CLAR_TEXT_MAX_BYTES + 2];
    p.n_buckets = 1000;
    memset (big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_EQ_INT (clar_text_features (&p, big, ids, 16), CLAR_ERR_INVALID_ARGUMENT);
    big[CLAR_TEXT_MAX_BYTES] = '\0';   /* one 4096-byte word: 1 + 4096 grams */
    CHECK_EQ_INT (clar_text_features (&p, big, ids, 16), 1 + CLAR_TEXT_MAX_BYTES);
  }
}

typedef struct {
  const char *key, *value;     /* metadata override */
  const char *skip_tensor, *nan_tensor;
  int bad_weight_shape;
  int no_tower;
} tower_defect;

/* A 3-d encoder with a tower of 5 buckets, d_t = 2 (words only, seed 0). */
static int
build (const tower_defect *d, clar_model **out, clar_error *err)
{
  clar_mel_params mel = clar_mel_default_params ();
  clar_st_writer *w = clar_st_writer_new ();
  clar_text_params p = { 0, 5, 0 };
  size_t s4[4] = { 2, 1, 3, 3 }, s1[1] = { 2 }, s2[2] = { 3, 2 }, s3[1] = { 3 };
  float c1w[18], c1b[2] = { 0, 0 }, fcw[6] = { 1, 0, 0, 1, 1, 1 }, fcb[3] = { 0, 0, 0 };
  /* Rows of the embedding table: bucket k -> (k, 1). */
  float E[10] = { 0, 1, 1, 1, 2, 1, 3, 1, 4, 1 };
  float W[6] = { 1, 0, 0, 1, 1, -1 }, b[3] = { 0.5f, 0, 0 };
  void *data;
  size_t size;
  int rc;
  for (int i = 0; i < 18; i++)
    c1w[i] = 0.1f;
  clar_model_write_header (w, &mel, 16000, 8000, 3, arch, "t", NULL);
  clar_st_writer_add (w, "encoder.c1.weight", s4, 4, c1w);
  clar_st_writer_add (w, "encoder.c1.bias", s1, 1, c1b);
  clar_st_writer_add (w, "encoder.fc.weight", s2, 2, fcw);
  clar_st_writer_add (w, "encoder.fc.bias", s3, 1, fcb);
  if (!d->no_tower) {
    clar_st_writer *t = clar_st_writer_new ();
    if (d->nan_tensor && !strcmp (d->nan_tensor, "text.embedding"))
      E[3] = NAN;
    CHECK_EQ_INT (clar_text_to_writer (t, &p, NULL, 2, 3, 20.0f, TOWER_FP, E, W, b), CLAR_OK);
    {
      clar_st_file *f = NULL;
      void *td;
      size_t tn;
      clar_st_writer_to_memory (t, &td, &tn, NULL);
      clar_st_parse (td, tn, &f, NULL);
      free (td);
      for (size_t i = 0; i < clar_st_n_metadata (f); i++) {
        const char *k, *v;
        clar_st_metadata_at (f, i, &k, &v);
        clar_st_writer_set_metadata (w, k, d->key && !strcmp (d->key, k) ? d->value : v);
      }
      for (size_t i = 0; i < clar_st_n_tensors (f); i++) {
        const clar_st_tensor *x = clar_st_tensor_at (f, i);
        size_t shape[2] = { x->shape[0], x->ndim > 1 ? x->shape[1] : 0 };
        if (d->skip_tensor && !strcmp (d->skip_tensor, x->name))
          continue;
        if (d->bad_weight_shape && !strcmp (x->name, "text.proj.weight")) {
          shape[0] = 2;
          shape[1] = 3;
        }
        clar_st_writer_add (w, x->name, shape, x->ndim, x->data);
      }
      clar_st_free (f);
    }
    clar_st_writer_free (t);
  }
  rc = clar_st_writer_to_memory (w, &data, &size, err);
  clar_st_writer_free (w);
  if (rc)
    return rc;
  rc = clar_model_load_memory (data, size, out, err);
  free (data);
  return rc;
}

static void
test_tower (void)
{
  tower_defect ok = { 0 };
  clar_model *m = NULL;
  clar_error err;
  float v[3], probs[2];
  clar_text_params p = { 0, 5, 0 };
  uint32_t ids[4];
  CHECK_EQ_INT (build (&ok, &m, &err), CLAR_OK);
  CHECK (clar_model_get_text (m) != NULL);
  CHECK_EQ_INT (clar_text_output_dim (clar_model_get_text (m)), 3);
  CHECK_CLOSE (clar_text_logit_scale (clar_model_get_text (m)), 20.0, 1e-6);
  /* "dog a": buckets of w:dog and w:a (mod 5), h = mean of rows (k, 1),
   * u = W h + b = (h0 + 0.5, h1, h0 - h1), output u / |u|. */
  CHECK_EQ_INT (clar_text_features (&p, "dog a", ids, 4), 2);
  {
    double h0 = (ids[0] + ids[1]) / 2.0, h1 = 1.0;
    double u[3] = { h0 + 0.5, h1, h0 - h1 }, n = sqrt (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
    CHECK_EQ_INT (clar_text_embed (clar_model_get_text (m), "dog a", v), CLAR_OK);
    for (int i = 0; i < 3; i++)
      CHECK_CLOSE (v[i], u[i] / n, 1e-6);
  }
  CHECK_EQ_INT (clar_text_embed (clar_model_get_text (m), "...", v), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_text_embed (NULL, "a", v), CLAR_ERR_INVALID_ARGUMENT);
  {
    const char *prompts[2] = { "  dog a ", "a" };
    clar_labels *l = clar_labels_from_prompts (m, 2, prompts, &err);
    CHECK (l != NULL);
    if (l) {
      CHECK (!strcmp (clar_labels_name (l, 0), "dog a"));   /* trimmed */
      CHECK_CLOSE (clar_labels_scale (l), 20.0, 1e-6);
      for (int i = 0; i < 3; i++)
        CHECK_CLOSE (clar_labels_vector (l, 0)[i], v[i], 1e-6);
      /* A prompt's own vector scores it best. */
      CHECK_EQ_INT (clar_labels_score (l, v, probs, NULL), CLAR_OK);
      CHECK (probs[0] > probs[1]);
      /* Prompt labels carry the tower's encoder, which is not this one. */
      CHECK (!strcmp (clar_text_get_encoder (clar_model_get_text (m)), TOWER_FP));
      CHECK (!strcmp (clar_labels_get_encoder (l), TOWER_FP));
      CHECK_EQ_INT (clar_model_check_labels (m, l, &err), CLAR_ERR_ENCODER_MISMATCH);
      clar_labels_unref (l);
    }
    prompts[1] = "!!";
    CHECK (clar_labels_from_prompts (m, 2, prompts, &err) == NULL);
    CHECK_EQ_INT (err.code, CLAR_ERR_INVALID_ARGUMENT);
    CHECK (strstr (err.message, "prompt 1") != NULL);
  }
  clar_model_unref (m);
}

static void
test_no_tower_and_defects (void)
{
  static const struct { tower_defect d; int code; const char *needle; } cases[] = {
    { { "clar.text.hash", "md5", NULL, NULL, 0, 0 }, CLAR_ERR_UNSUPPORTED, "clar.text.hash" },
    { { "clar.text.version", "3", NULL, NULL, 0, 0 }, CLAR_ERR_UNSUPPORTED, "version" },
    { { "clar.text.version", "2", NULL, NULL, 0, 0 }, CLAR_ERR_BAD_METADATA, "clar.text.wordnet" },
    { { "clar.text.buckets", "6", NULL, NULL, 0, 0 }, CLAR_ERR_BAD_TENSOR, "text.embedding" },
    { { "clar.text.buckets", "-1", NULL, NULL, 0, 0 }, CLAR_ERR_BAD_METADATA, "clar.text.buckets" },
    { { "clar.text.char_ngram", "1", NULL, NULL, 0, 0 }, CLAR_ERR_BAD_METADATA, "char_ngram" },
    { { "clar.text.logit_scale", "nan", NULL, NULL, 0, 0 }, CLAR_ERR_BAD_METADATA, "logit_scale" },
    { { "clar.text.dim", "2.5", NULL, NULL, 0, 0 }, CLAR_ERR_BAD_METADATA, "clar.text.dim" },
    { { NULL, NULL, "text.proj.bias", NULL, 0, 0 }, CLAR_ERR_MISSING_TENSOR, "text.proj.bias" },
    { { NULL, NULL, NULL, "text.embedding", 0, 0 }, CLAR_ERR_BAD_TENSOR, "non-finite" },
    { { NULL, NULL, NULL, NULL, 1, 0 }, CLAR_ERR_BAD_TENSOR, "text.proj.weight" },
  };
  tower_defect none = { 0 };
  clar_model *m = NULL;
  clar_error err;
  const char *prompts[1] = { "dog" };
  none.no_tower = 1;
  CHECK_EQ_INT (build (&none, &m, &err), CLAR_OK);
  CHECK (clar_model_get_text (m) == NULL);
  CHECK (clar_labels_from_prompts (m, 1, prompts, &err) == NULL);
  CHECK_EQ_INT (err.code, CLAR_ERR_UNSUPPORTED);
  CHECK (strstr (err.message, "no text tower") != NULL);
  clar_model_unref (m);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    m = NULL;
    memset (&err, 0, sizeof err);
    CHECK_EQ_INT (build (&cases[i].d, &m, &err), cases[i].code);
    CHECK (m == NULL);
    CHECK_MSG (strstr (err.message, cases[i].needle) != NULL, "case %zu: %s", i, err.message);
  }
  /* A lone text.* tensor without its metadata is a partial tower. */
  {
    tower_defect d = { "clar.text.version", "", NULL, NULL, 0, 0 };
    CHECK_EQ_INT (build (&d, &m, &err), CLAR_ERR_BAD_METADATA);
  }
}

static void
test_prompt_lists (void)
{
  char **v = NULL, path[] = "/tmp/clar-test-prompts-XXXXXX";
  size_t n = 99;
  clar_error err;
  FILE *f;
  int fd;
  CHECK_EQ_INT (clar_text_split_prompts ("speech; flute ;;a dog barking;", ";", &v, &n), CLAR_OK);
  CHECK_EQ_INT (n, 3);
  CHECK (v && !strcmp (v[0], "speech") && !strcmp (v[1], "flute")
      && !strcmp (v[2], "a dog barking") && v[3] == NULL);
  clar_text_prompts_free (v);
  CHECK_EQ_INT (clar_text_split_prompts ("", ";", &v, &n), CLAR_OK);
  CHECK_EQ_INT (n, 0);
  clar_text_prompts_free (v);
  CHECK_EQ_INT (clar_text_split_prompts (NULL, ";", &v, &n), CLAR_ERR_INVALID_ARGUMENT);
  clar_text_prompts_free (NULL);
  fd = mkstemp (path);
  CHECK (fd >= 0);
  f = fdopen (fd, "w");
  fputs ("# zero-shot prompts\nthe word seven\r\n\n  a cow mooing  \n", f);
  fclose (f);
  CHECK_EQ_INT (clar_text_read_prompts (path, &v, &n, &err), CLAR_OK);
  CHECK_EQ_INT (n, 2);
  CHECK (v && !strcmp (v[0], "the word seven") && !strcmp (v[1], "a cow mooing"));
  clar_text_prompts_free (v);
  f = fopen (path, "w");
  fputs ("# only a comment\n", f);
  fclose (f);
  CHECK_EQ_INT (clar_text_read_prompts (path, &v, &n, &err), CLAR_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.message, "no prompts") != NULL);
  /* Latin-1 ("caf\xe9") is refused with the line; UTF-8 is kept as is. */
  f = fopen (path, "w");
  fputs ("speech\ncaf\xe9 noise\n", f);
  fclose (f);
  CHECK_EQ_INT (clar_text_read_prompts (path, &v, &n, &err), CLAR_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.message, "line 2 is not valid UTF-8") != NULL);
  f = fopen (path, "w");
  fputs ("caf\xc3\xa9 noise\n", f);
  fclose (f);
  CHECK_EQ_INT (clar_text_read_prompts (path, &v, &n, &err), CLAR_OK);
  CHECK (n == 1 && !strcmp (v[0], "caf\xc3\xa9 noise"));
  clar_text_prompts_free (v);
  CHECK_EQ_INT (clar_text_split_prompts ("ok;caf\xe9", ";", &v, &n), CLAR_ERR_INVALID_ARGUMENT);
  /* Overlong, surrogate and truncated sequences are not UTF-8 either. */
  CHECK_EQ_INT (clar_text_split_prompts ("\xc0\xaf", ";", &v, &n), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_text_split_prompts ("\xed\xa0\x80", ";", &v, &n), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_text_split_prompts ("a\xe2\x82", ";", &v, &n), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_text_split_prompts ("\xf0\x9f\x90\xb6 dog", ";", &v, &n), CLAR_OK);
  clar_text_prompts_free (v);
  unlink (path);
  CHECK_EQ_INT (clar_text_read_prompts (path, &v, &n, &err), CLAR_ERR_IO);
}

int
main (void)
{
  CLAR_TEST_RUN (test_features);
  CLAR_TEST_RUN (test_tower);
  CLAR_TEST_RUN (test_no_tower_and_defects);
  CLAR_TEST_RUN (test_prompt_lists);
  CLAR_TEST_EXIT ();
}
