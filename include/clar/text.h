/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/text.h — the text tower: text prompts -> unit vectors in the audio
 * embedding space, for zero-shot labels (CLAP, Elizalde et al. 2022,
 * arXiv 2206.04769; ../DESIGN "Labels" (c)).
 *
 * The tower is deliberately small and needs no vocabulary file or network:
 *
 *   1. tokenise: ASCII letters are lower-cased; a word is a maximal run of
 *      letters, digits or bytes >= 0x80 (UTF-8 passes through untouched);
 *      everything else separates words.
 *   2. features: each word w gives the word feature "w:" + w and, when
 *      clar.text.char_ngram = n > 0, every character n-gram of "<" + w + ">"
 *      (boundary markers as in fastText, Bojanowski et al. 2017) as "c:" +
 *      gram. A feature's bucket is FNV-1a 32-bit (offset basis xor'ed with
 *      clar.text.seed) modulo clar.text.buckets (the hashing trick,
 *      Weinberger et al. 2009).
 *   2b. only when the model has clar.text.wordnet (version 2): the text is
 *      expanded with WordNet (wordnet.h: synonyms, hypernym chain, gloss
 *      words of each word's chosen sense); each emitted term is one more
 *      word (a lemma such as "wind_instrument" is one word) whose word
 *      feature and n-grams all carry the term's weight. The text's own
 *      features weigh 1. This lets a prompt reach words that appear in no
 *      training caption ("poodle" -> dog, canine, carnivore, mammal...).
 *   3. h = weighted mean of the rows text.embedding[bucket] over all
 *      features, sum_k w_k E[id_k] / sum_k w_k (a repeated feature counts
 *      each time); a text without words, longer than CLAR_TEXT_MAX_BYTES or
 *      not valid UTF-8 is an error (CLAR_ERR_INVALID_ARGUMENT).
 *   4. u = text.proj.weight . h + text.proj.bias; output u / |u|.
 *
 * The audio side is the encoder embedding itself (the audio projection L_a
 * of CLAP is the identity here), so a prompt's vector is directly a label
 * vector for labels.h and the element needs nothing else.
 *
 * Model file (model.h), all optional together:
 *   clar.text.version     "1"
 *   clar.text.hash        "fnv1a32"
 *   clar.text.seed        0..4294967295
 *   clar.text.buckets     number of embedding rows, 1..1048576
 *   clar.text.char_ngram  0 (words only) or 2..6
 *   clar.text.dim         width d_t of the embedding table, 1..4096
 *   clar.text.logit_scale the learned CLAP temperature exp(t), used as the
 *                         label scale of prompt sets, (0, 1000]
 *   clar.text.encoder_fingerprint  fingerprint (model.h) of the encoder the
 *                         tower was trained against (optional; prompt label
 *                         sets inherit it, so a tower copied beside another
 *                         encoder is caught by clar_model_check_labels)
 *   clar.text.wordnet     "3.0": expand texts with WordNet (step 2b; then
 *                         clar.text.version is "2"), with the weights
 *   clar.text.wn_synonym_weight, clar.text.wn_hypernym_weight,
 *   clar.text.wn_hypernym_decay, clar.text.wn_depth, clar.text.wn_gloss_weight
 *                         (clar_wordnet_expand_params). The database is read
 *                         at run time (Debian's wordnet-base, or
 *                         $CLAR_WORDNET_DIR); when it is absent the model
 *                         still loads and labels with its head, but
 *                         clar_text_embed fails with CLAR_ERR_UNSUPPORTED and
 *                         clar_labels_from_prompts says why (an unexpanded
 *                         prompt would be silently worse).
 *   text.embedding        [buckets, dim]
 *   text.proj.weight      [embedding_dim, dim]
 *   text.proj.bias        [embedding_dim]
 *
 * Usage (zero-shot labels for a session's embeddings):
 *
 *   const char *prompts[] = { "speech", "a flute note", "a dog barking" };
 *   clar_labels *zs = clar_labels_from_prompts (model, 3, prompts, &err);
 *   if (!zs)   // e.g. CLAR_ERR_UNSUPPORTED: the model has no text tower
 *     fprintf (stderr, "%s\n", err.message);
 *   else if (clar_session_embed (s, pcm, n, emb) == CLAR_OK
 *            && clar_labels_top_k (zs, emb, 1, 0.0f, &top) == 1)
 *     printf ("%s\n", clar_labels_name (zs, top.index));
 *   clar_labels_unref (zs);
 *
 * Threading: a clar_text belongs to its (immutable) model and may be used
 * from any number of threads.
 */
#ifndef CLAR_TEXT_H
#define CLAR_TEXT_H

#include <stdint.h>
#include <clar/common.h>
#include <clar/labels.h>
#include <clar/model.h>
#include <clar/wordnet.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLAR_TEXT_VERSION 2   /* 2: WordNet expansion (clar.text.wordnet) */
#define CLAR_TEXT_MAX_BUCKETS (1u << 20)
#define CLAR_TEXT_MAX_DIM 4096
#define CLAR_TEXT_MAX_BYTES 4096     /* longest prompt accepted */

typedef struct clar_text clar_text;

/* The tokeniser/hash settings (clar.text.* keys above). */
typedef struct clar_text_params {
  uint32_t seed;
  uint32_t n_buckets;
  int char_ngram;     /* 0, or 2..6 */
} clar_text_params;

/* Bucket ids of text's features, in order (words left to right, each
 * word's feature then its n-grams). Writes at most max_ids ids and returns
 * the total number of features (which may exceed max_ids; 0 for a text
 * without words), or a negative status (NULL text, bad params, text longer
 * than CLAR_TEXT_MAX_BYTES). */
CLAR_API int clar_text_features (const clar_text_params *params,
                                 const char *text, uint32_t *ids,
                                 size_t max_ids);

/* clar_text_features with step 2b: when wn and ex are both non-NULL the
 * text is expanded with WordNet and weights[k] receives feature k's weight
 * (1 for the text's own features); otherwise every weight is 1. Writes at
 * most max_ids ids and weights; returns the total number of features or a
 * negative status (as clar_text_features; also for text that is not valid
 * UTF-8). */
CLAR_API int clar_text_features_expanded (const clar_text_params *params,
                                          const clar_wordnet *wn,
                                          const clar_wordnet_expand_params *ex,
                                          const char *text, uint32_t *ids,
                                          float *weights, size_t max_ids);

/* The model's text tower, or NULL when it has none (borrowed). */
CLAR_API const clar_text *clar_model_get_text (const clar_model *model);

CLAR_API const clar_text_params *clar_text_get_params (const clar_text *text);
/* Width of the output (= the model's embedding_dim). */
CLAR_API size_t clar_text_output_dim (const clar_text *text);
/* clar.text.logit_scale. */
CLAR_API float clar_text_logit_scale (const clar_text *text);
/* clar.text.encoder_fingerprint, "" when the file records none. */
CLAR_API const char *clar_text_get_encoder (const clar_text *text);

/* The WordNet expansion of a version-2 tower (NULL for a tower without
 * one); *wordnet receives the database opened for it, NULL when it could
 * not be opened (clar_text_embed then fails with CLAR_ERR_UNSUPPORTED). */
CLAR_API const clar_wordnet_expand_params *
clar_text_get_expansion (const clar_text *text, const clar_wordnet **wordnet);

/* out[output_dim] = the unit vector of prompt. CLAR_ERR_INVALID_ARGUMENT for
 * a text without words, too long or not valid UTF-8; CLAR_ERR_UNSUPPORTED
 * for a WordNet-expanded tower whose database is missing;
 * CLAR_ERR_NO_MEMORY. */
CLAR_API int clar_text_embed (const clar_text *text, const char *prompt,
                              float *out);

/* A label set whose names are the prompts (after trimming blanks) and whose
 * vectors are their text embeddings, scale clar.text.logit_scale, encoder
 * fingerprint the tower's clar.text.encoder_fingerprint.
 * CLAR_ERR_UNSUPPORTED in err when the model has no text tower. */
CLAR_API clar_labels *clar_labels_from_prompts (const clar_model *model,
                                                size_t n_prompts,
                                                const char *const *prompts,
                                                clar_error *err);

/* Splits a prompt list: items separated by any of `separators` (e.g. ";"
 * for the element's labels property, "\n" for a prompt file), blanks
 * trimmed, empty items and items starting with '#' (comments) skipped.
 * *out receives a malloc'd NULL-terminated array of malloc'd strings
 * (free with clar_text_prompts_free); *n_out their count (0 is allowed).
 * Returns 0 or a negative status (CLAR_ERR_INVALID_ARGUMENT also for a
 * list that is not valid UTF-8). */
CLAR_API int clar_text_split_prompts (const char *list, const char *separators,
                                      char ***out, size_t *n_out);
/* Reads a prompt file: UTF-8 text, one prompt per line, '#' comments. A
 * file that is not UTF-8 (e.g. Latin-1) is refused, naming the line. */
CLAR_API int clar_text_read_prompts (const char *path, char ***out,
                                     size_t *n_out, clar_error *err);
/* NULL-safe. */
CLAR_API void clar_text_prompts_free (char **prompts);

#ifdef __cplusplus
}
#endif
#endif /* CLAR_TEXT_H */
