/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/mel.h — log-mel spectrogram front end (FFTW3). Input and output are
 * float; the window and FFT run in double (within 1e-6 of a float64
 * reference, tests/python/test_mel_torchaudio.py).
 *
 * Definition (matches torchaudio.transforms.MelSpectrogram(sample_rate, n_fft,
 * win_length, hop_length, f_min, f_max, n_mels, power=2, center=True,
 * pad_mode="reflect", norm=None, mel_scale="htk") followed by log(x + offset)):
 *
 *   1. If center, reflect-pad the signal by n_fft/2 on each side
 *      (torch.stft semantics), giving n_frames = 1 + n_samples / hop_length.
 *      Otherwise n_frames = 1 + (n_samples - n_fft) / hop_length.
 *   2. Frame t starts at t*hop_length; it is multiplied by a periodic Hann
 *      window of win_length samples, w[n] = 0.5 - 0.5 cos(2 pi n / win_length),
 *      zero-padded to n_fft and centred ((n_fft - win_length)/2 zeros left).
 *   3. Power spectrum |X[k]|^2, k = 0..n_fft/2, via a real-to-complex FFT.
 *   4. Mel energies: M[m,t] = sum_k FB[m,k] |X[k,t]|^2, FB an n_mels x
 *      (n_fft/2+1) matrix (triangular HTK filters, no normalisation, as
 *      torchaudio.functional.melscale_fbanks(norm=None, mel_scale="htk")).
 *   5. Output L[m,t] = ln(M[m,t] + log_offset), row-major [n_mels][n_frames].
 *
 * The filterbank is a parameter, not a constant: the model file carries the
 * matrix so that training and inference use the same one (see model.h).
 *
 * Threading: a clar_mel belongs to one thread at a time. Creating and freeing
 * one is thread-safe (FFTW's planner is serialised internally by a lock).
 */
#ifndef CLAR_MEL_H
#define CLAR_MEL_H

#include <clar/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clar_mel_params {
  int sample_rate;   /* Hz, default 16000 */
  int n_fft;         /* FFT size, even, default 512 */
  int win_length;    /* Hann window length <= n_fft, default 400 (25 ms) */
  int hop_length;    /* samples between frames, default 160 (10 ms) */
  int n_mels;        /* mel bands, default 64 */
  float f_min;       /* Hz, default 50 */
  float f_max;       /* Hz, <= sample_rate/2, default 8000 */
  float log_offset;  /* added before ln(), default 1e-6 */
  int center;        /* 1: reflect-pad n_fft/2 each side (default) */
} clar_mel_params;

/* The defaults listed above. */
CLAR_API clar_mel_params clar_mel_default_params (void);

/* CLAR_OK, or CLAR_ERR_INVALID_ARGUMENT with the offending field named. */
CLAR_API int clar_mel_params_validate (const clar_mel_params *params,
                                       clar_error *err);

/* Number of frames produced for n_samples input samples (0 if too short:
 * with center, reflect padding needs n_samples > n_fft/2; without, n_samples
 * >= n_fft). */
CLAR_API size_t clar_mel_n_frames (const clar_mel_params *params,
                                   size_t n_samples);

/* Fills out[n_mels * (n_fft/2+1)] with the HTK triangular filterbank
 * (torchaudio.functional.melscale_fbanks, norm=None, mel_scale="htk"). */
CLAR_API int clar_mel_filterbank_htk (const clar_mel_params *params,
                                      float *out);

typedef struct clar_mel clar_mel;

/* Creates a front end. `filterbank` (n_mels x (n_fft/2+1), copied) may be
 * NULL to use clar_mel_filterbank_htk(). Returns NULL and fills err on
 * failure. */
CLAR_API clar_mel *clar_mel_new (const clar_mel_params *params,
                                 const float *filterbank, clar_error *err);

/* NULL-safe. */
CLAR_API void clar_mel_free (clar_mel *mel);

CLAR_API const clar_mel_params *clar_mel_get_params (const clar_mel *mel);

/* Computes the log-mel of pcm[0..n_samples) into out, which must hold
 * n_mels * n_frames floats where n_frames == clar_mel_n_frames(n_samples).
 * Returns CLAR_ERR_INPUT_TOO_SHORT if n_samples gives no frame,
 * CLAR_ERR_NONFINITE if any sample is NaN/Inf (out is then untouched),
 * CLAR_ERR_INVALID_ARGUMENT if n_frames does not match. */
CLAR_API int clar_mel_compute (clar_mel *mel, const float *pcm,
                               size_t n_samples, float *out, size_t n_frames);

#ifdef __cplusplus
}
#endif
#endif /* CLAR_MEL_H */
