/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Clip embeddings: the normalised mean of window embeddings (clip-embed.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clip-embed.h"

int
clar_embed_clip (clar_session *s, const float *pcm, size_t n, float *out)
{
  const clar_model_info *info = clar_model_get_info (clar_session_get_model (s));
  size_t W = info->window_samples, H = W / 2, D = info->embedding_dim, nw = 0;
  float *win = malloc (W * sizeof (float)), *e = malloc (D * sizeof (float));
  double ss = 0;
  if (!win || !e) {
    free (win);
    free (e);
    return -1;
  }
  memset (out, 0, D * sizeof (float));
  for (size_t start = 0; start == 0 || start + W / 2 <= n; start += H) {
    size_t valid = n - start < W ? n - start : W;
    memcpy (win, pcm + start, valid * sizeof (float));
    memset (win + valid, 0, (W - valid) * sizeof (float));
    if (clar_session_embed (s, win, W, e) != CLAR_OK)
      continue;
    for (size_t d = 0; d < D; d++)
      out[d] += e[d];
    nw++;
    if (valid < W)
      break;
  }
  free (win);
  free (e);
  for (size_t d = 0; d < D; d++)
    ss += (double) out[d] * out[d];
  if (!nw || !(ss > 0) || !isfinite (ss))
    return -1;
  for (size_t d = 0; d < D; d++)
    out[d] = (float) (out[d] / sqrt (ss));
  return 0;
}

float *
clar_embed_dataset (clar_session *s, clar_dataset *ds)
{
  size_t D = clar_model_get_info (clar_session_get_model (s))->embedding_dim;
  float *E = calloc (ds->n_clips ? ds->n_clips * D : 1, sizeof (float));
  if (!E)
    return NULL;
  for (size_t i = 0; i < ds->n_clips; i++)
    if (!ds->clips[i].pcm || clar_embed_clip (s, ds->clips[i].pcm, ds->clips[i].n, E + i * D)) {
      ds->clips[i].class_id = -1;
      memset (E + i * D, 0, D * sizeof (float));
    }
  return E;
}
