/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the model loader (safetensors framing, JSON header,
 * __metadata__, architecture, tensor shapes/offsets, optional text tower).
 * A file the loader accepts must also run: one window goes through the
 * front end and encoder, so a layer list that the loader validated wrongly
 * shows up as an out-of-bounds access here rather than in the element.
 * Build and run: tests/fuzz/build.sh, tests/fuzz/README.md. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <clar/clar.h>

/* Keep each input cheap: a mutated header may announce a long window or a
 * large FFT that is legal but would make one iteration take seconds. */
#define FUZZ_MAX_WINDOW 32000
#define FUZZ_MAX_FFT 4096

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  clar_model *model = NULL;
  clar_error err = { 0 };
  const clar_model_info *info;
  clar_session *s;
  float *pcm, *emb;
  size_t n;

  if (clar_model_load_memory (data, size, &model, &err) != CLAR_OK) {
    /* Every failure names itself (common.h): a message is always set. */
    if (err.code >= 0 || err.message[0] == '\0')
      abort ();
    return 0;
  }
  info = clar_model_get_info (model);
  (void) clar_model_get_labels (model);
  (void) clar_model_get_metadata (model, "clar.name");
  n = info->window_samples > info->min_samples ? info->min_samples : info->window_samples;
  if (n == 0 || n > FUZZ_MAX_WINDOW || (size_t) info->mel.n_fft > FUZZ_MAX_FFT) {
    clar_model_unref (model);
    return 0;
  }
  s = clar_session_new (model, NULL);
  pcm = calloc (n, sizeof (float));
  emb = calloc (info->embedding_dim ? info->embedding_dim : 1, sizeof (float));
  if (s && pcm && emb) {
    for (size_t i = 0; i < n; i++)
      pcm[i] = (float) ((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    (void) clar_session_embed (s, pcm, n, emb);
  }
  free (pcm);
  free (emb);
  clar_session_free (s);
  clar_model_unref (model);
  return 0;
}
