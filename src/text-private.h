/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: loading, writing and the weights of the text tower (text.h),
 * shared by model.c, the CLAP trainer (src/train/clap.c) and tests. */
#ifndef CLAR_TEXT_PRIVATE_H
#define CLAR_TEXT_PRIVATE_H

#include <clar/text.h>

struct clar_text {
  clar_text_params params;
  size_t dim;             /* d_t */
  size_t out_dim;         /* D = the model's embedding_dim */
  float logit_scale;
  char encoder[CLAR_FINGERPRINT_SIZE];   /* "" = unknown */
  /* Borrowed from the model's tensor storage. */
  const float *embedding; /* [n_buckets, dim] */
  const float *weight;    /* [out_dim, dim] */
  const float *bias;      /* [out_dim] */
  /* WordNet expansion (clar.text.wordnet); wn is owned, NULL when the
   * database could not be opened (wn_error says why). */
  int expand;
  clar_wordnet_expand_params ex;
  clar_wordnet *wn;
  char wn_error[256];
};

void clar_text_free (clar_text *text);

/* 1 if the file carries any clar.text.* key or text.* tensor. */
int clar_text_present (const clar_st_file *st);

/* Reads and validates the tower of a parsed model file whose embedding has
 * out_dim values. The result borrows st's tensors (free with free()). */
int clar_text_from_st (const clar_st_file *st, size_t out_dim,
                       clar_text **out, clar_error *err);

/* Adds the clar.text.* keys and text.* tensors to w (with the WordNet
 * keys and version 2 when ex is non-NULL); encoder (NULL or "" for none) is
 * the fingerprint of the encoder the tower was trained against. */
int clar_text_to_writer (clar_st_writer *w, const clar_text_params *params,
                         const clar_wordnet_expand_params *ex,
                         size_t dim, size_t out_dim, float logit_scale,
                         const char *encoder,
                         const float *embedding, const float *weight,
                         const float *bias);

/* The tower's forward pass on bucket ids (the unnormalised u of text.h
 * step 4, and optionally the pooled h), shared with the trainer so both
 * compute exactly the same thing. w: the features' weights (NULL: all 1);
 * their sum must be > 0. */
void clar_text_forward_ids (const float *embedding, const float *weight,
                            const float *bias, size_t dim, size_t out_dim,
                            const uint32_t *ids, const float *w, size_t n_ids,
                            float *h, float *u);

#endif
