/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/labels.h — a label set: names plus unit vectors in embedding space.
 *
 * One mechanism for every source of labels (../DESIGN "Labels"): the
 * supervised head of a trained model, few-shot enrolment (mean embedding of
 * examples), or text prompts through the text tower. Scoring an L2-normalised
 * embedding e against label vectors v_i (normalised on creation):
 *
 *   s_i = cos(e, v_i),   p_i = exp(scale * s_i) / sum_j exp(scale * s_j)
 *
 * (softmax over scaled cosine similarity, as in CLAP's zero-shot classifier).
 *
 * Label file format: a safetensors file (safetensors.h) with tensor
 * "labels.embeddings" [n_labels, dim] and metadata "clar.labels" (JSON array
 * of names), "clar.logit_scale" (decimal) and, when known,
 * "clar.labels.encoder_fingerprint": the fingerprint (model.h) of the encoder
 * whose embedding space the vectors live in. A model file carries its own
 * label set the same way.
 *
 * Threading: a clar_labels is immutable once shared (set its encoder
 * fingerprint right after creating it); it may be shared between threads.
 * Reference counting is atomic.
 */
#ifndef CLAR_LABELS_H
#define CLAR_LABELS_H

#include <clar/common.h>
#include <clar/safetensors.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLAR_LABEL_NAME_MAX 256   /* bytes, including NUL */
#define CLAR_LABELS_MAX 100000
/* Bytes of an encoder fingerprint string (model.h), including the NUL. */
#define CLAR_FINGERPRINT_SIZE 64

typedef struct clar_labels clar_labels;

typedef struct clar_label_score {
  size_t index;       /* into the label set */
  float score;        /* softmax probability */
  float similarity;   /* cosine similarity in [-1, 1] */
} clar_label_score;

/* Creates a label set. names[i] are copied (non-empty, < CLAR_LABEL_NAME_MAX
 * bytes); vectors is n_labels x dim row-major, copied and L2-normalised
 * (a zero or non-finite vector gives CLAR_ERR_INVALID_ARGUMENT). scale must
 * be finite and > 0. */
CLAR_API clar_labels *clar_labels_new (size_t n_labels, size_t dim,
                                       const char *const *names,
                                       const float *vectors, float scale,
                                       clar_error *err);

/* Reads a label set from a parsed safetensors file (model or label file). */
CLAR_API clar_labels *clar_labels_from_st (const clar_st_file *file,
                                           clar_error *err);

CLAR_API clar_labels *clar_labels_load_file (const char *path,
                                             clar_error *err);

/* Adds this set to a writer (tensor + metadata keys named above). */
CLAR_API int clar_labels_to_writer (const clar_labels *labels,
                                    clar_st_writer *w);

CLAR_API int clar_labels_save_file (const clar_labels *labels,
                                    const char *path, clar_error *err);

/* As clar_labels_save_file, with more string metadata: meta holds key,
 * value pairs and ends with a NULL key (NULL: none). Provenance, e.g. the
 * clips a prototype set came from and the command that made it. A key the
 * set writes itself ("clar.format" and those of clar_labels_to_writer) is
 * CLAR_ERR_INVALID_ARGUMENT and nothing is written. */
CLAR_API int clar_labels_save_file_with_metadata (const clar_labels *labels,
                                                  const char *path,
                                                  const char *const *meta,
                                                  clar_error *err);

CLAR_API clar_labels *clar_labels_ref (clar_labels *labels);
/* NULL-safe. */
CLAR_API void clar_labels_unref (clar_labels *labels);

CLAR_API size_t clar_labels_count (const clar_labels *labels);
CLAR_API size_t clar_labels_dim (const clar_labels *labels);
CLAR_API float clar_labels_scale (const clar_labels *labels);
CLAR_API const char *clar_labels_name (const clar_labels *labels, size_t i);
/* Unit vector of label i (dim floats). */
CLAR_API const float *clar_labels_vector (const clar_labels *labels, size_t i);

/* The encoder fingerprint the vectors were made with ("" when unknown). */
CLAR_API const char *clar_labels_get_encoder (const clar_labels *labels);
/* Records it (NULL or "" clears it): 1..CLAR_FINGERPRINT_SIZE-1 printable
 * ASCII bytes without spaces, else CLAR_ERR_INVALID_ARGUMENT. Call before
 * the set is shared. */
CLAR_API int clar_labels_set_encoder (clar_labels *labels,
                                      const char *fingerprint);

/* probs[n_labels] = softmax(scale * cos(embedding, v_i)); optional
 * sims[n_labels] receives the cosines. embedding has dim floats (need not be
 * normalised; a zero vector gives uniform probabilities). */
CLAR_API int clar_labels_score (const clar_labels *labels,
                                const float *embedding, float *probs,
                                float *sims);

/* Top k labels by probability, highest first, keeping only those with
 * score >= threshold. Returns how many were written to out (<= k), or a
 * negative status. */
CLAR_API int clar_labels_top_k (const clar_labels *labels,
                                const float *embedding, size_t k,
                                float threshold, clar_label_score *out);

/* Open set (issue 17), the one rule the stream's windows and clar-embed's
 * clips share: 1 when the best cosine similarity of embedding to any label
 * is below min_similarity ("unknown"), 0 when not or when the test is off
 * (min_similarity <= -1 or NaN), a negative status on error.
 * *best_similarity (may be NULL) receives that cosine, NaN on error. */
CLAR_API int clar_labels_open_set (const clar_labels *labels,
                                   const float *embedding, float min_similarity,
                                   float *best_similarity);

#ifdef __cplusplus
}
#endif
#endif /* CLAR_LABELS_H */
