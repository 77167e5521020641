/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal: CLAP training of the text tower (Elizalde et al. 2022, arXiv
 * 2206.04769; README.md "Design"): symmetric cross-entropy over the N x N
 * text-audio similarity matrix with a learned temperature, the tower's
 * backward pass and optimiser, and the captions built from the data's
 * metadata.
 *
 * The audio tower is frozen: its embeddings (the model's L2-normalised
 * encoder output) are computed once and L_a is the identity, so the trained
 * text vectors live in the very space the element scores windows in
 * (include/clar/text.h).
 *
 * Threading: a clar_clap_tower belongs to one thread; the functions without
 * one are pure.
 */
#ifndef CLAR_TRAIN_CLAP_H
#define CLAR_TRAIN_CLAP_H

#include <stddef.h>
#include <stdint.h>

#include <clar/clar.h>

/*
 * Symmetric CLAP loss. T (texts) and A (audio) are N x D rows of unit
 * norm; s = exp(log_scale); C = s * T A^T (rows = texts, columns = audio).
 *
 *   loss = 0.5 * ( mean_i CE(softmax(C[i, :]), q[i, :])
 *                + mean_j CE(softmax(C[:, j]), q[:, j]) )
 *
 * Targets: with group == NULL, the diagonal (q = I, CLAP's loss exactly).
 * With group[N], every pair whose group ids are equal is a positive and q
 * spreads the target uniformly over a row's (column's) positives: captions
 * built from metadata repeat within a batch ("the word seven" for two
 * different clips), and a plain diagonal target would push those matching
 * pairs apart as if they were negatives. (The multi-positive target of
 * SupCon's L_out, Khosla et al. 2020, eq. 2, applied to both directions.)
 *
 * Gradients (written when non-NULL, overwritten): dT, dA [N x D] with
 * respect to T and A (not through their normalisation), *dlog_scale with
 * respect to log_scale. Returns the loss, NaN for invalid arguments or out
 * of memory.
 */
double clar_clap_loss (const float *T, const float *A, int N, int D,
                       float log_scale, const int *group, float *dT,
                       float *dA, float *dlog_scale);

/* The trainable text tower (text.h) with its gradients and AdamW state. */
typedef struct clar_clap_tower {
  clar_text_params params;
  size_t dim, out_dim;
  float *E, *W, *b;          /* [n_buckets, dim], [out_dim, dim], [out_dim] */
  float log_scale;           /* learned temperature, s = exp(log_scale) */
  float *gE, *gW, *gb, g_log_scale;
  float *m, *v;              /* AdamW moments over all parameters in the order E, W, b, t */
  long step;
  /* WordNet expansion written with the tower (text.h step 2b); 0: none. */
  int expand;
  clar_wordnet_expand_params ex;
} clar_clap_tower;

/* Random initialisation: E ~ N(0, 1) / sqrt(dim) (seeded), W ~ U(+-1/sqrt(dim))
 * (PyTorch nn.Linear), b = 0, log_scale = log(1/0.07) (CLIP/CLAP). NULL when
 * out of memory or the sizes are invalid. */
clar_clap_tower *clar_clap_tower_new (const clar_text_params *params, size_t dim,
                                      size_t out_dim, uint64_t seed);
/* Copies the weights of a loaded tower (to continue training). */
clar_clap_tower *clar_clap_tower_from_text (const clar_text *text);
void clar_clap_tower_free (clar_clap_tower *t);
size_t clar_clap_tower_n_params (const clar_clap_tower *t);

/* A batch of N texts as bucket ids: text i owns ids[offsets[i] ..
 * offsets[i+1]) (at least one id each). */
typedef struct clar_clap_texts {
  int n;
  const uint32_t *ids;
  const size_t *offsets;   /* n + 1 */
  const float *weights;    /* per id (clar_text_features_expanded); NULL: all 1 */
} clar_clap_texts;

/* Forward: T[n x out_dim] unit rows; H[n x dim] and unorm[n] are saved for
 * the backward pass. Returns 0 or a negative status (a zero u gives
 * CLAR_ERR_NONFINITE). */
int clar_clap_tower_forward (const clar_clap_tower *t, const clar_clap_texts *x,
                             float *T, float *H, float *unorm);
/* Accumulates the gradients of E, W, b given dT (gradient of the loss with
 * respect to the unit rows T); the normalisation is differentiated here. */
void clar_clap_tower_backward (clar_clap_tower *t, const clar_clap_texts *x,
                               const float *T, const float *H,
                               const float *unorm, const float *dT);
void clar_clap_tower_zero_grad (clar_clap_tower *t);
/* One AdamW step (Loshchilov & Hutter 2019; beta 0.9/0.999, eps 1e-8);
 * weight decay applies to W and E, not to b or the temperature;
 * log_scale is clipped to [0, log 100] afterwards as in CLIP. */
void clar_clap_tower_adam (clar_clap_tower *t, float lr, float weight_decay);

/* Writes every metadata key and tensor of model except an existing text
 * tower, plus this tower and the extra metadata pairs (NULL-terminated
 * key, value list), to path. */
int clar_clap_tower_save (const clar_clap_tower *t, const clar_model *model,
                          const char *const *extra_meta, const char *path,
                          clar_error *err);

/* ---- captions from metadata ---- */

/* One clip's metadata: manifest columns (any may be NULL or ""). */
typedef struct clar_clip_meta {
  const char *path, *label, *source, *group, *caption;
} clar_clip_meta;

/* The kinds of clip the data builder makes. */
typedef enum {
  CLAR_CLIP_SOUND,        /* sound effect: class and source */
  CLAR_CLIP_INSTRUMENT,   /* GM note: family, program, pitch, velocity */
  CLAR_CLIP_WORD,         /* TTS word: word, voice, accent, speed */
  CLAR_CLIP_SILENCE,
  CLAR_CLIP_NOISE
} clar_clip_kind;

clar_clip_kind clar_clap_clip_kind (const clar_clip_meta *m);

/* Number of caption variants of the clip (>= 1). */
int clar_clap_n_captions (const clar_clip_meta *m);
/* Caption variant k (0 <= k < clar_clap_n_captions) into buf; variant 0 is
 * the plain class name. Returns the length, or -1 (bad arguments, too long
 * for size). */
int clar_clap_caption (const clar_clip_meta *m, int k, char *buf, size_t size);

/* General MIDI program name (GM 1 sound set), "" outside 0..127. */
const char *clar_gm_program_name (int program);

#endif
