/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A tiny encoder for the stream and batcher tests (one 4-channel conv, 8-d
 * embedding, labels dog/cat/cow): fast to run, and its windows are small
 * enough for clar_session_encode_batch to put several side by side. Needs
 * model-private.h (the model writer) and clar-test.h before it. */
#ifndef CLAR_TEST_MODEL_H
#define CLAR_TEST_MODEL_H

#include <stdio.h>
#include <stdlib.h>

static const char *small_arch =
  "[{\"op\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":4,\"kernel\":3,\"pad\":1},"
  "{\"op\":\"relu\"},{\"op\":\"maxpool2d\",\"kernel\":2},"
  "{\"op\":\"global_avg_pool\"},{\"op\":\"linear\",\"name\":\"fc\",\"in\":4,\"out\":8}]";

static void
clar_test_add_tensor (clar_st_writer *w, const char *name, size_t ndim, const size_t *shape, unsigned seed)
{
  size_t n = 1;
  float *buf;
  for (size_t i = 0; i < ndim; i++)
    n *= shape[i];
  buf = malloc (n * sizeof (float));
  for (size_t i = 0; i < n; i++)
    buf[i] = (float) (((i * 2654435761u + seed) % 1000) / 1000.0 - 0.5);
  clar_st_writer_add (w, name, shape, ndim, buf);
  free (buf);
}

static clar_model *
clar_test_small_model (void)
{
  clar_mel_params mel = clar_mel_default_params ();
  clar_st_writer *w = clar_st_writer_new ();
  size_t s4[4] = { 4, 1, 3, 3 }, s1[1] = { 4 }, s2[2] = { 8, 4 }, s8[1] = { 8 };
  const char *names[3] = { "dog", "cat", "cow" };
  float v[24];
  void *data;
  size_t size;
  clar_model *m = NULL;
  clar_error err;
  clar_labels *l;
  clar_model_write_header (w, &mel, 16000, 8000, 8, small_arch, "t", NULL);
  clar_test_add_tensor (w, "encoder.c1.weight", 4, s4, 1);
  clar_test_add_tensor (w, "encoder.c1.bias", 1, s1, 2);
  clar_test_add_tensor (w, "encoder.fc.weight", 2, s2, 3);
  clar_test_add_tensor (w, "encoder.fc.bias", 1, s8, 4);
  for (int i = 0; i < 24; i++)
    v[i] = (float) ((i * 7) % 5) - 2.0f;
  l = clar_labels_new (3, 8, names, v, 10.0f, NULL);
  clar_labels_to_writer (l, w);
  clar_labels_unref (l);
  clar_st_writer_to_memory (w, &data, &size, NULL);
  clar_st_writer_free (w);
  if (clar_model_load_memory (data, size, &m, &err) != CLAR_OK)
    fprintf (stderr, "model: %s\n", err.message);
  free (data);
  return m;
}

#endif
