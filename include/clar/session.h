/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/session.h — inference: samples -> log-mel -> encoder -> embedding.
 *
 * A session owns the FFT plans and scratch memory for one model. The embedding
 * is the encoder output (not a projection head), L2-normalised.
 *
 * Threading: a session belongs to one thread at a time; create one per
 * thread. Sessions of the same model share its weights (read-only).
 */
#ifndef CLAR_SESSION_H
#define CLAR_SESSION_H

#include <clar/common.h>
#include <clar/model.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clar_session clar_session;

/* Takes a reference on model. */
CLAR_API clar_session *clar_session_new (clar_model *model, clar_error *err);
/* NULL-safe. */
CLAR_API void clar_session_free (clar_session *s);

CLAR_API clar_model *clar_session_get_model (const clar_session *s);

/* Frames clar_session_pcm_to_mel produces for n_samples (0: too short). */
CLAR_API size_t clar_session_n_frames (const clar_session *s, size_t n_samples);

/* Step 1: log-mel of pcm (mono float at the model's sample rate) into
 * mel[n_mels * n_frames]. See clar_mel_compute for errors. */
CLAR_API int clar_session_pcm_to_mel (clar_session *s, const float *pcm,
                                      size_t n_samples, float *mel,
                                      size_t n_frames);

/* Step 2: encoder forward over mel[n_mels][n_frames] into
 * embedding[embedding_dim], L2-normalised. CLAR_ERR_INPUT_TOO_SHORT if the
 * pooling layers leave no frame. */
CLAR_API int clar_session_encode (clar_session *s, const float *mel,
                                  size_t n_frames, float *embedding);

/* Largest batch clar_session_encode_batch takes. */
#define CLAR_SESSION_MAX_BATCH 256

/* Step 2 for `batch` inputs of the same length in one call (clar/batcher.h
 * gathers windows of many streams into one). Windows small enough go side
 * by side through each layer in one matrix product; larger ones (the
 * shipped encoder's: their activations would spill out of the L2 cache,
 * which bench-infer measured to cost more than it gains) one at a time.
 * mel holds batch consecutive [n_mels][n_frames] inputs,
 * embeddings receives batch x embedding_dim floats, each L2-normalised and
 * the same as clar_session_encode of that input (with libclar's own
 * kernels bit-identical; on the BLAS path within rounding).
 * CLAR_ERR_INVALID_ARGUMENT when batch is 0 or above CLAR_SESSION_MAX_BATCH
 * or batch x n_frames is too large; CLAR_ERR_NONFINITE when any input holds
 * NaN/Inf. The session's buffers grow to the largest batch it has run. */
CLAR_API int clar_session_encode_batch (clar_session *s, const float *mel, size_t batch,
                                        size_t n_frames, float *embeddings);

/* Same as encode but leaves the output un-normalised (for tests/tools). */
CLAR_API int clar_session_encode_raw (clar_session *s, const float *mel,
                                      size_t n_frames, float *output);

/* Steps 1+2. */
CLAR_API int clar_session_embed (clar_session *s, const float *pcm,
                                 size_t n_samples, float *embedding);

#ifdef __cplusplus
}
#endif
#endif /* CLAR_SESSION_H */
