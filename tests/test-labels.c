/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Label sets: scoring, top-k, threshold, validation, file round trip. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <clar/clar.h>
#include "clar-test.h"

static void
test_scores (void)
{
  const char *names[3] = { "x", "y", "neg-x" };
  float v[9] = { 2, 0, 0, 0, 5, 0, -1, 0, 0 };
  float e[3] = { 3, 0, 0 }, probs[3], sims[3];
  clar_labels *l = clar_labels_new (3, 3, names, v, 10.0f, NULL);
  clar_label_score top[3];
  CHECK (l != NULL);
  CHECK_CLOSE (clar_labels_vector (l, 1)[1], 1.0, 1e-7);   /* normalised */
  CHECK_EQ_INT (clar_labels_score (l, e, probs, sims), CLAR_OK);
  CHECK_CLOSE (sims[0], 1.0, 1e-6);
  CHECK_CLOSE (sims[1], 0.0, 1e-6);
  CHECK_CLOSE (sims[2], -1.0, 1e-6);
  CHECK_CLOSE (probs[0] + probs[1] + probs[2], 1.0, 1e-6);
  /* softmax(10 * [1, 0, -1]) */
  double z = exp (10.0) + 1 + exp (-10.0);
  CHECK_CLOSE (probs[0], exp (10.0) / z, 1e-6);
  CHECK_CLOSE (probs[1], 1 / z, 1e-7);
  CHECK_EQ_INT (clar_labels_top_k (l, e, 2, 0.0f, top), 2);
  CHECK (top[0].index == 0 && top[1].index == 1);
  CHECK (top[0].score >= top[1].score);
  CHECK_EQ_INT (clar_labels_top_k (l, e, 3, 0.5f, top), 1);   /* threshold */
  CHECK_EQ_INT (clar_labels_top_k (l, e, 0, 0.0f, top), 0);
  {
    /* Open set: e = (3, 4, 0) has cosine 0.8 with y, its best label. */
    float u[3] = { 3, 4, 0 }, best = 0;
    CHECK_EQ_INT (clar_labels_open_set (l, u, 0.9f, &best), 1);
    CHECK_CLOSE (best, 0.8, 1e-6);
    CHECK_EQ_INT (clar_labels_open_set (l, u, 0.7f, &best), 0);
    CHECK_EQ_INT (clar_labels_open_set (l, u, -1.0f, NULL), 0);    /* off */
    CHECK_EQ_INT (clar_labels_open_set (l, u, NAN, NULL), 0);      /* off */
    u[2] = INFINITY;
    CHECK (clar_labels_open_set (l, u, 0.9f, &best) < 0 && isnan (best));
    CHECK (clar_labels_open_set (NULL, u, 0.9f, &best) < 0 && isnan (best));
  }
  e[0] = 0;
  CHECK_EQ_INT (clar_labels_score (l, e, probs, NULL), CLAR_OK);   /* zero vector: uniform */
  CHECK_CLOSE (probs[2], 1.0 / 3, 1e-6);
  e[1] = NAN;
  CHECK_EQ_INT (clar_labels_score (l, e, probs, NULL), CLAR_ERR_NONFINITE);
  clar_labels_unref (l);
}

static void
test_top_k_order (void)
{
  enum { N = 50, D = 4 };
  char buf[N][8];
  const char *names[N];
  float v[N * D], e[D] = { 1, 0.5f, -0.2f, 0.1f };
  clar_label_score top[5];
  float probs[N];
  for (int i = 0; i < N; i++) {
    snprintf (buf[i], sizeof buf[i], "l%d", i);
    names[i] = buf[i];
    for (int d = 0; d < D; d++)
      v[i * D + d] = sinf ((float) (i * 7 + d * 3));
  }
  clar_labels *l = clar_labels_new (N, D, names, v, 5.0f, NULL);
  clar_labels_score (l, e, probs, NULL);
  CHECK_EQ_INT (clar_labels_top_k (l, e, 5, 0.0f, top), 5);
  for (int i = 0; i < 5; i++) {
    int rank = 0;
    for (int j = 0; j < N; j++)
      if (probs[j] > top[i].score) rank++;
    CHECK_EQ_INT (rank, i);   /* i-th entry has exactly i better labels */
  }
  clar_labels_unref (l);
}

static void
test_validation_and_file (void)
{
  const char *dup[2] = { "a", "a" }, *ctl[1] = { "a\tb" }, *empty[1] = { "" }, *ok[2] = { "dog", "Sprecher (Deutsch)" };
  float v[8] = { 1, 0, 0, 0, 0, 1, 0, 0 }, zero[4] = { 0 };
  clar_error err;
  char path[] = "/tmp/clar-labels-XXXXXX";
  CHECK (clar_labels_new (2, 4, dup, v, 10, &err) == NULL && strstr (err.message, "twice"));
  CHECK (clar_labels_new (1, 4, ctl, v, 10, &err) == NULL && strstr (err.message, "control"));
  CHECK (clar_labels_new (1, 4, empty, v, 10, &err) == NULL && strstr (err.message, "empty"));
  {
    /* Names are UTF-8: Latin-1 is refused (it would reach every bus message). */
    const char *latin1[1] = { "caf\xe9" }, *utf8[1] = { "caf\xc3\xa9" };
    clar_labels *u;
    CHECK (clar_labels_new (1, 4, latin1, v, 10, &err) == NULL
        && strstr (err.message, "not valid UTF-8"));
    u = clar_labels_new (1, 4, utf8, v, 10, &err);
    CHECK (u != NULL);
    clar_labels_unref (u);
  }
  CHECK (clar_labels_new (1, 4, ok, zero, 10, &err) == NULL && strstr (err.message, "zero"));
  CHECK (clar_labels_new (1, 4, ok, v, -1, &err) == NULL && strstr (err.message, "scale"));
  CHECK (clar_labels_new (0, 4, ok, v, 10, &err) == NULL);
  clar_labels *l = clar_labels_new (2, 4, ok, v, 20, &err);
  close (mkstemp (path));
  CHECK_EQ_INT (clar_labels_save_file (l, path, &err), CLAR_OK);
  clar_labels *r = clar_labels_load_file (path, &err);
  CHECK (r && clar_labels_count (r) == 2 && clar_labels_dim (r) == 4);
  CHECK (r && strcmp (clar_labels_name (r, 1), "Sprecher (Deutsch)") == 0);
  CHECK (r && clar_labels_scale (r) == 20.0f && clar_labels_vector (r, 1)[1] == 1.0f);
  CHECK (clar_labels_name (r, 2) == NULL);
  clar_labels_unref (r);
  {
    /* Provenance metadata beside the set; the set's own keys are refused
     * and leave the file as it was. */
    const char *meta[] = { "clar.training", "clar-enroll --classes dog", "note", "caf\xc3\xa9", NULL };
    const char *clash[] = { "clar.logit_scale", "3", NULL }, *novalue[] = { "x", NULL, NULL };
    clar_st_file *f = NULL;
    CHECK_EQ_INT (clar_labels_save_file_with_metadata (l, path, meta, &err), CLAR_OK);
    CHECK_EQ_INT (clar_st_read_file (path, &f, &err), CLAR_OK);
    CHECK (f && clar_st_metadata (f, "clar.training")
        && !strcmp (clar_st_metadata (f, "clar.training"), "clar-enroll --classes dog"));
    CHECK (f && clar_st_metadata (f, "note") && !strcmp (clar_st_metadata (f, "note"), "caf\xc3\xa9"));
    CHECK (f && !strcmp (clar_st_metadata (f, "clar.format"), "clar-labels"));
    clar_st_free (f);
    r = clar_labels_load_file (path, &err);
    CHECK (r && clar_labels_count (r) == 2 && clar_labels_scale (r) == 20.0f);
    clar_labels_unref (r);
    CHECK_EQ_INT (clar_labels_save_file_with_metadata (l, path, clash, &err), CLAR_ERR_INVALID_ARGUMENT);
    CHECK (strstr (err.message, "clar.logit_scale") != NULL);
    CHECK_EQ_INT (clar_labels_save_file_with_metadata (l, path, novalue, &err), CLAR_ERR_INVALID_ARGUMENT);
    r = clar_labels_load_file (path, &err);
    CHECK (r && clar_labels_scale (r) == 20.0f);
    clar_labels_unref (r);
  }
  clar_labels_unref (l);
  unlink (path);
  CHECK (clar_labels_load_file (path, &err) == NULL && err.code == CLAR_ERR_IO);
  clar_labels_unref (NULL);
}

int
main (void)
{
  CLAR_TEST_RUN (test_scores);
  CLAR_TEST_RUN (test_top_k_order);
  CLAR_TEST_RUN (test_validation_and_file);
  CLAR_TEST_EXIT ();
}
