/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Clip embeddings: the normalised mean of window embeddings (clip-embed.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "clip-embed.h"

/* Windows of the model's length every half window (clar_stream), a final
 * partial window when it holds at least min_fill of a window (the stream's
 * eos_min_fill; CLAR_DATASET_MIN_FILL, 0.1, unless --min-fill): a
 * clip shorter than that has no window, and the data tools drop it
 * beforehand (dataset.h). */
int
clar_embed_clip_fill (clar_session *s, const float *pcm, size_t n, double min_fill,
                      float *out, size_t *n_windows, size_t *n_bad)
{
  const clar_model_info *info = clar_model_get_info (clar_session_get_model (s));
  size_t D = info->embedding_dim, nw = 0, bad = 0, pos = 0, used;
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
    if (ready == 1) {
      if (clar_stream_compute (st, &r) == CLAR_OK) {
        for (size_t d = 0; d < D; d++)
          out[d] += r.embedding[d];
        nw++;
      } else {
        bad++;
      }
    }
  }
  {
    int rc = clar_stream_flush (st, &r);
    if (rc == CLAR_OK) {
      for (size_t d = 0; d < D; d++)
        out[d] += r.embedding[d];
      nw++;
    } else if (rc != CLAR_ERR_INPUT_TOO_SHORT) {
      bad++;
    }
  }
  clar_stream_free (st);
  if (n_windows)
    *n_windows = nw;
  if (n_bad)
    *n_bad = bad;
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
  return clar_embed_clip_fill (s, pcm, n, CLAR_DATASET_MIN_FILL, out, NULL, NULL);
}

float *
clar_embed_dataset (clar_session *s, clar_dataset *ds)
{
  size_t D = clar_model_get_info (clar_session_get_model (s))->embedding_dim;
  float *E = calloc (ds->n_clips ? ds->n_clips * D : 1, sizeof (float));
  if (!E)
    return NULL;
  for (size_t i = 0; i < ds->n_clips; i++)
    if (!ds->clips[i].pcm || clar_embed_clip_fill (s, ds->clips[i].pcm, ds->clips[i].n, ds->opt.min_fill, E + i * D,
                                                     NULL, NULL)) {
      ds->clips[i].class_id = -1;
      memset (E + i * D, 0, D * sizeof (float));
    }
  return E;
}

static uint64_t
fnv64 (uint64_t h, const void *data, size_t n)
{
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

/* Cache file: "clar-emb-v1\n", u64 n_clips, u64 D, then per clip one byte
 * (1: embedded) and D floats. */
float *
clar_embed_dataset_cached (clar_session *s, clar_dataset *ds, const char *cache_dir)
{
  static const char magic[12] = "clar-emb-v1\n";
  const clar_model *m = clar_session_get_model (s);
  uint64_t D = clar_model_get_info (m)->embedding_dim, n = ds->n_clips, h = 1469598103934665603ULL;
  const char *fp = clar_model_get_fingerprint (m);
  gchar *name, *path, *tmp;
  float *E = NULL;
  FILE *f;
  int ok;

  if (!cache_dir)
    return clar_embed_dataset (s, ds);
  h = fnv64 (h, magic, sizeof magic);
  h = fnv64 (h, fp, strlen (fp));
  h = fnv64 (h, &ds->opt.min_fill, sizeof ds->opt.min_fill);
  for (size_t i = 0; i < ds->n_clips; i++) {
    uint64_t len = ds->clips[i].pcm ? ds->clips[i].n : 0;
    h = fnv64 (h, &len, sizeof len);
    if (len)
      h = fnv64 (h, ds->clips[i].pcm, len * sizeof (float));
  }
  name = g_strdup_printf ("emb-%016llx.bin", (unsigned long long) h);
  path = g_build_filename (cache_dir, name, NULL);
  g_free (name);
  if ((f = fopen (path, "rb"))) {
    char head[sizeof magic];
    uint64_t cn = 0, cd = 0;
    ok = fread (head, 1, sizeof head, f) == sizeof head && !memcmp (head, magic, sizeof magic)
        && fread (&cn, 8, 1, f) == 1 && fread (&cd, 8, 1, f) == 1 && cn == n && cd == D
        && (E = calloc (n ? n * D : 1, sizeof (float)));
    for (size_t i = 0; ok && i < n; i++) {
      unsigned char used;
      ok = fread (&used, 1, 1, f) == 1 && used <= 1 && fread (E + i * D, sizeof (float), D, f) == D;
      for (size_t d = 0; ok && d < D; d++)
        ok = isfinite (E[i * D + d]);
      if (ok && !used)
        ds->clips[i].class_id = -1;
    }
    fclose (f);
    if (ok) {
      fprintf (stderr, "clip embeddings from cache %s\n", path);
      g_free (path);
      return E;
    }
    free (E);
    E = NULL;
  }
  if (!(E = clar_embed_dataset (s, ds))) {
    g_free (path);
    return NULL;
  }
  g_mkdir_with_parents (cache_dir, 0755);
  tmp = g_strconcat (path, ".tmp", NULL);
  if ((f = fopen (tmp, "wb"))) {
    ok = fwrite (magic, 1, sizeof magic, f) == sizeof magic && fwrite (&n, 8, 1, f) == 1
        && fwrite (&D, 8, 1, f) == 1;
    for (size_t i = 0; ok && i < n; i++) {
      /* A clip that could not be embedded has a zero row (clar_embed_dataset). */
      unsigned char used = 0;
      for (size_t d = 0; d < D; d++)
        used |= E[i * D + d] != 0.0f;
      ok = fwrite (&used, 1, 1, f) == 1 && fwrite (E + i * D, sizeof (float), D, f) == D;
    }
    ok = (fclose (f) == 0) && ok;
    if (!ok || rename (tmp, path) != 0)
      remove (tmp);
  }
  g_free (tmp);
  g_free (path);
  return E;
}
