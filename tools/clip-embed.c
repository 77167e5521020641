/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Clip embeddings: the normalised mean of window embeddings (clip-embed.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clip-embed.h"

/* Windows of the model's length every half window (clar_stream), a final
 * partial window when it holds at least min_fill of a window (the stream's
 * eos_min_fill, 0.5 as in clar-embed and clarembed unless --min-fill): a
 * clip shorter than that has no window, and the data tools drop it
 * beforehand (dataset.h). */
int
clar_embed_clip_fill (clar_session *s, const float *pcm, size_t n, double min_fill, float *out)
{
  const clar_model_info *info = clar_model_get_info (clar_session_get_model (s));
  size_t D = info->embedding_dim, nw = 0, pos = 0, used;
  clar_stream_params p;
  clar_stream *st;
  clar_window_result r;
  double ss = 0;

  clar_stream_params_init (&p);
  p.window_samples = info->window_samples;
  p.hop_samples = info->window_samples / 2;
  p.top_k = 0;
  p.eos_min_fill = min_fill;
  if (!(st = clar_stream_new_for_session (s, &p, NULL)))
    return -1;
  memset (out, 0, D * sizeof (float));
  while (pos < n) {
    int ready = clar_stream_push_f32 (st, pcm + pos, n - pos, &used);
    pos += used;
    if (ready == 1 && clar_stream_compute (st, &r) == CLAR_OK) {
      for (size_t d = 0; d < D; d++)
        out[d] += r.embedding[d];
      nw++;
    }
  }
  if (clar_stream_flush (st, &r) == CLAR_OK) {
    for (size_t d = 0; d < D; d++)
      out[d] += r.embedding[d];
    nw++;
  }
  clar_stream_free (st);
  for (size_t d = 0; d < D; d++)
    ss += (double) out[d] * out[d];
  if (!nw || !(ss > 0) || !isfinite (ss))
    return -1;
  for (size_t d = 0; d < D; d++)
    out[d] = (float) (out[d] / sqrt (ss));
  return 0;
}

int
clar_embed_clip (clar_session *s, const float *pcm, size_t n, float *out)
{
  return clar_embed_clip_fill (s, pcm, n, CLAR_DATASET_MIN_FILL, out);
}

float *
clar_embed_dataset (clar_session *s, clar_dataset *ds)
{
  size_t D = clar_model_get_info (clar_session_get_model (s))->embedding_dim;
  float *E = calloc (ds->n_clips ? ds->n_clips * D : 1, sizeof (float));
  if (!E)
    return NULL;
  for (size_t i = 0; i < ds->n_clips; i++)
    if (!ds->clips[i].pcm || clar_embed_clip_fill (s, ds->clips[i].pcm, ds->clips[i].n, ds->opt.min_fill, E + i * D)) {
      ds->clips[i].class_id = -1;
      memset (E + i * D, 0, D * sizeof (float));
    }
  return E;
}
