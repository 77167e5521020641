/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal: CLAR's audio augmentations (Al-Tahan & Mohsenzadeh 2021, sec. 3.2):
 * pitch shift, noise injection (white, pink, brown at a random SNR), fade
 * in/out, time masking, time shift (random crop offset) and gain. Each view
 * draws its own parameters from a seeded generator, so a run is reproducible.
 */
#ifndef CLAR_TRAIN_AUGMENT_H
#define CLAR_TRAIN_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct clar_rng { uint64_t s; } clar_rng;
uint64_t clar_rng_next (clar_rng *r);
double clar_rng_uniform (clar_rng *r);          /* [0, 1) */
double clar_rng_gauss (clar_rng *r);

typedef enum { CLAR_NOISE_WHITE, CLAR_NOISE_PINK, CLAR_NOISE_BROWN } clar_noise_color;

typedef struct clar_augment_config {
  float p_pitch, pitch_semitones;     /* shift uniform in [-s, s] */
  float p_noise, snr_min_db, snr_max_db;
  float p_fade, fade_max;             /* fraction of the window per side */
  float p_mask, mask_max;             /* fraction of the window */
  float p_gain, gain_db;              /* uniform in [-g, g] dB */
  float p_stretch, stretch_max;       /* rate uniform in [1/(1+s), 1+s] */
} clar_augment_config;

clar_augment_config clar_augment_default (void);
/* No augmentation at all (crop only). */
clar_augment_config clar_augment_none (void);

/* Parses "pitch=P:S,noise=P:MIN:MAX,fade=P:MAX,mask=P:MAX,gain=P:DB" over the
 * defaults; returns 0 or -1 (unknown key / bad number). */
int clar_augment_parse (const char *spec, clar_augment_config *cfg);

/* One view: a random crop of `len` samples from clip[0..n) (zero-padded at a
 * random offset when the clip is shorter; reads around the crop for pitch
 * shifting), then the configured augmentations. out has len floats. */
void clar_augment_view (const clar_augment_config *cfg, clar_rng *rng,
                        const float *clip, size_t n, float *out, size_t len);

/* Building blocks (tested one by one). */
/* out[i] = x at position i * ratio (linear interpolation, zero outside):
 * ratio 2^(s/12) raises pitch by s semitones (and shortens by the ratio). */
void clar_resample_linear (const float *x, size_t n, double ratio, double start,
                           float *out, size_t len);
/* Adds noise of the colour at snr_db relative to the signal's power (if the
 * signal is silent, at -snr_db dBFS power). */
void clar_add_noise (float *x, size_t n, clar_noise_color c, double snr_db,
                     clar_rng *rng);
void clar_fade (float *x, size_t n, size_t fade_in, size_t fade_out);
/* Time stretch by overlap-add of Hann-windowed grains (hop 256 out, rate *
 * 256 in, 1024-sample grains): duration / rate, pitch unchanged. Writes
 * len output samples read from x starting at sample `start`. */
void clar_time_stretch (const float *x, size_t n, double rate, size_t start,
                        float *out, size_t len);
void clar_time_mask (float *x, size_t n, size_t start, size_t len);

#endif
