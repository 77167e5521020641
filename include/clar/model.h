/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/model.h — an encoder model: front-end parameters, mel filterbank,
 * layer list and weights, default label set, read from one safetensors file.
 *
 * Metadata keys (all values are strings; JSON where noted):
 *   clar.format          "clar-model"
 *   clar.format_version  "1"
 *   clar.sample_rate, clar.n_fft, clar.win_length, clar.hop_length,
 *   clar.n_mels, clar.f_min, clar.f_max, clar.log_offset, clar.center
 *                        front end, see mel.h
 *   clar.window_samples  default analysis window (samples), e.g. "16000"
 *   clar.hop_samples     default hop between windows (samples), e.g. "8000"
 *   clar.embedding_dim   size of the embedding, e.g. "128"
 *   clar.architecture    JSON array of layers, applied in order to a
 *                        [1][n_mels][n_frames] input, e.g.
 *     [{"op":"conv2d","name":"conv1","in":1,"out":16,"kernel":3,"pad":1},
 *      {"op":"relu"}, {"op":"maxpool2d","kernel":2},
 *      ..., {"op":"global_avg_pool"},
 *      {"op":"linear","name":"embed","in":128,"out":128}]
 *     ops: conv2d (stride 1, square kernel, zero pad; tensors
 *          encoder.NAME.weight [out,in,k,k] and encoder.NAME.bias [out]),
 *          batchnorm2d (inference mode; "channels", "eps"; tensors
 *          encoder.NAME.{weight,bias,running_mean,running_var} [C]),
 *          relu, maxpool2d / avgpool2d ("kernel", stride = kernel, floor),
 *          global_avg_pool (mean over frequency and time -> [C]),
 *          linear (tensors encoder.NAME.weight [out,in], encoder.NAME.bias
 *          [out]),
 *          dwconv2d (depthwise conv, PyTorch's Conv2d(C, C, k, stride,
 *          pad, groups=C): "name", "channels", "kernel" 1..15, optional
 *          "pad" 0..kernel-1 and "stride" 1..8 (output floor((n + 2 pad -
 *          k) / stride) + 1); tensors encoder.NAME.weight [C,1,k,k] and
 *          encoder.NAME.bias [C]),
 *          residual_begin / residual_add (no keys: residual_begin keeps the
 *          current activation, the matching residual_add adds it to its
 *          input, x + block(x) as in MobileNetV2; pairs nest like brackets,
 *          at most 8 deep, never empty; the block must give back the shape
 *          it was given, checked for every input length).
 *          The last layer's output size must equal embedding_dim.
 *     Named lists (clar-train --arch, clar-mkmodel --arch): "cnn4", the
 *     default above, and "dsres", inverted-residual blocks of 1x1 conv,
 *     3x3 dwconv and 1x1 conv (src/model.c).
 *   clar.labels          JSON array of label names (optional, with tensor
 *                        labels.embeddings [n_labels, embedding_dim])
 *   clar.logit_scale     softmax scale for label scoring, e.g. "10"
 *   clar.labels.encoder_fingerprint  the fingerprint (below) of the encoder
 *                        the label vectors were made with (optional; label
 *                        files carry the same key)
 *   clar.name, clar.description, clar.training   free text (optional)
 * Tensors: frontend.mel_filterbank [n_mels, n_fft/2+1], encoder.*, labels.*.
 *
 * Encoder fingerprint: label vectors (the head, enrolled prototypes, text
 * tower outputs) only mean something in the embedding space of the encoder
 * they were made with. clar_model_get_fingerprint() identifies that space:
 * "fnv1a64:" + 16 lower-case hex digits, the 64-bit FNV-1a hash
 * (http://www.isthe.com/chongo/tech/comp/fnv/) of, in order, the text
 * "clar-encoder-v1\n", the front end as
 * "%d %d %d %d %d %.9g %.9g %.9g %d\n" (sample_rate n_fft win_length
 * hop_length n_mels f_min f_max log_offset center), the filterbank's bytes,
 * and for each layer "op name in out kernel pad eps\n" followed by the
 * bytes of its weight, bias, running_mean and running_var tensors (those it
 * has; little-endian F32 as stored). Two files with the same front end and
 * encoder weights share a fingerprint whatever their labels, text tower,
 * names or tensor order. Label sets and text towers record the fingerprint
 * of their encoder (labels.h, text.h); clar_model_check_labels() compares.
 *
 * The loader checks every key, layer, tensor name, dtype, shape and offset and
 * returns a specific status and message; a bad file never crashes.
 *
 * Threading: a loaded model is immutable; share it between any number of
 * threads and sessions. clar_model_ref/unref are atomic.
 */
#ifndef CLAR_MODEL_H
#define CLAR_MODEL_H

#include <clar/common.h>
#include <clar/mel.h>
#include <clar/labels.h>
#include <clar/safetensors.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLAR_MODEL_FORMAT "clar-model"
#define CLAR_MODEL_FORMAT_VERSION 1

typedef struct clar_model clar_model;

/* clar_model_check_labels: the label set records no fingerprint. */
#define CLAR_LABELS_UNTIED 1

typedef struct clar_model_info {
  int format_version;
  clar_mel_params mel;
  size_t window_samples;   /* default window */
  size_t hop_samples;      /* default hop */
  size_t min_samples;      /* shortest window the layer list accepts */
  size_t embedding_dim;
  size_t n_layers;
  const char *name;        /* "" if absent */
} clar_model_info;

CLAR_API int clar_model_load_file (const char *path, clar_model **out,
                                   clar_error *err);
CLAR_API int clar_model_load_memory (const void *data, size_t size,
                                     clar_model **out, clar_error *err);
/* Builds a model from an already parsed file (takes no ownership). */
CLAR_API int clar_model_from_st (const clar_st_file *file, clar_model **out,
                                 clar_error *err);

CLAR_API clar_model *clar_model_ref (clar_model *model);
/* NULL-safe. */
CLAR_API void clar_model_unref (clar_model *model);

CLAR_API const clar_model_info *clar_model_get_info (const clar_model *model);
/* n_mels x (n_fft/2+1). */
CLAR_API const float *clar_model_get_mel_filterbank (const clar_model *model);
/* The model's own label set, or NULL if it has none (borrowed). */
CLAR_API clar_labels *clar_model_get_labels (const clar_model *model);
/* Raw metadata string, NULL if absent. */
CLAR_API const char *clar_model_get_metadata (const clar_model *model,
                                              const char *key);
/* The encoder's fingerprint (see above; never NULL for a loaded model). */
CLAR_API const char *clar_model_get_fingerprint (const clar_model *model);

/* Whether labels may score this model's embeddings: CLAR_OK when the label
 * set records this model's encoder fingerprint; CLAR_LABELS_UNTIED (> 0)
 * when it records none (files written before fingerprints existed: usable,
 * callers should warn); CLAR_ERR_DIMENSION_MISMATCH or
 * CLAR_ERR_ENCODER_MISMATCH (message names both fingerprints and the fix)
 * otherwise. Callers refuse a mismatch unless the user explicitly overrides
 * it (clarembed allow-encoder-mismatch, the tools' --allow-encoder-mismatch). */
CLAR_API int clar_model_check_labels (const clar_model *model,
                                      const clar_labels *labels,
                                      clar_error *err);

/* FLOPs (multiply-adds x 2) of one forward pass over n_frames frames. */
CLAR_API double clar_model_flops (const clar_model *model, size_t n_frames);

#ifdef __cplusplus
}
#endif
#endif /* CLAR_MODEL_H */
