/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One vector per clip for the tools that work on whole clips (clar-train
 * --clap, clar-enroll, clar-eval, clar-embed --clip): the normalised mean of the clip's window
 * embeddings, windows of the model's length every half window; a final
 * partial window is zero-padded when it holds at least min_fill of a window
 * (clar_stream's eos_min_fill; CLAR_DATASET_MIN_FILL, a tenth, by default:
 * the trainer's shortest clip), so a clip shorter than that has no
 * embedding. Windows every half window leave a longer clip a last partial
 * window of at least half a window, so min_fill decides only clips shorter
 * than one window.
 */
#ifndef CLAR_CLIP_EMBED_H
#define CLAR_CLIP_EMBED_H

#include <clar/clar.h>
#include "dataset.h"

/* out[embedding_dim]; 0, or -1 when no window could be embedded. A partial
 * window is embedded when it holds at least min_fill of a window
 * (clar_embed_clip: CLAR_DATASET_MIN_FILL, 0.1). n_windows (may be NULL)
 * receives how many windows the mean is over, n_bad (may be NULL) how many
 * were left out because the stream refused them (NaN or Inf samples). */
int clar_embed_clip (clar_session *s, const float *pcm, size_t n, float *out);
int clar_embed_clip_fill (clar_session *s, const float *pcm, size_t n, double min_fill,
                          float *out, size_t *n_windows, size_t *n_bad);

/* E[n_clips x embedding_dim] (malloc'd); a clip that cannot be embedded
 * gets class_id -1 and a zero row. NULL when out of memory. */
float *clar_embed_dataset (clar_session *s, clar_dataset *ds);

/* clar_embed_dataset through a cache file in cache_dir (NULL: no cache):
 * the file is named by a 64-bit FNV-1a hash of the encoder fingerprint
 * (model.h), the min_fill and every clip's decoded samples, so any change
 * of encoder, clip list or audio misses it. A missing or unreadable cache
 * is computed and written (renamed into place when complete). */
float *clar_embed_dataset_cached (clar_session *s, clar_dataset *ds,
                                  const char *cache_dir);

#endif
