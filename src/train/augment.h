/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal: CLAR's audio augmentations (Al-Tahan & Mohsenzadeh 2021, sec. 3.2):
 * pitch shift, noise injection (white, pink, brown at a random SNR), fade
 * in/out, time masking, time shift (random crop offset) and gain; and, to
 * break the identity of a source (a soundfont, a speech engine, a game's
 * recording chain) so that what is learnt transfers to sources never heard:
 * random equalisation (RBJ biquads), a telephone channel (300-3400 Hz band,
 * 8 kHz, G.711 mu-law: the codec of real telephone prompts), generated
 * reverberation (early reflections + a Schroeder late tail), mixing another
 * clip as background at a random SNR, SpecAugment frequency masks on the
 * log-mel; and, off unless named in the spec (probability 0 by default, so
 * the documented training commands keep their random streams): codec round
 * trips (Opus, Vorbis, GSM 06.10 at low bitrates), formant shift, mixup
 * and frequency-wise MixStyle (band statistics across the batch). Each
 * view draws its own parameters from a seeded generator, so a run is
 * reproducible.
 */
#ifndef CLAR_TRAIN_AUGMENT_H
#define CLAR_TRAIN_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct clar_rng { uint64_t s; } clar_rng;
uint64_t clar_rng_next (clar_rng *r);
double clar_rng_uniform (clar_rng *r);          /* [0, 1) */
double clar_rng_gauss (clar_rng *r);
/* Gamma(shape, 1) by Marsaglia & Tsang (2000), "A simple method for
 * generating gamma variables", with their U^(1/shape) boost for shape < 1;
 * Beta(a, b) = X / (X + Y), X ~ Gamma(a), Y ~ Gamma(b). shape, a, b > 0. */
double clar_rng_gamma (clar_rng *r, double shape);
double clar_rng_beta (clar_rng *r, double a, double b);

typedef enum { CLAR_NOISE_WHITE, CLAR_NOISE_PINK, CLAR_NOISE_BROWN } clar_noise_color;

typedef struct clar_augment_config {
  float p_pitch, pitch_semitones;     /* shift uniform in [-s, s] */
  float p_noise, snr_min_db, snr_max_db;
  float p_fade, fade_max;             /* fraction of the window per side */
  float p_mask, mask_max;             /* fraction of the window */
  float p_gain, gain_db;              /* uniform in [-g, g] dB */
  float p_stretch, stretch_max;       /* rate uniform in [1/(1+s), 1+s] */
  float p_eq, eq_db;                  /* 1-3 random biquads, peaks within +-eq_db */
  float p_phone;                      /* telephone channel */
  float p_reverb, rt60_max;           /* generated room, RT60 in [0.1, rt60_max] s */
  float p_mix, mix_snr_min_db, mix_snr_max_db;  /* background clip (view_bg) */
  float p_fmask, fmask_max;           /* SpecAugment: up to 2 bands of <= fmask_max mels */
  /* Codec round trip: one of the codecs this build has, uniformly; Opus at
   * a bitrate uniform in [codec_kbps_min, codec_kbps_max] kbit/s, Vorbis at
   * a quality uniform in [-0.1, 0.2], GSM at its one rate. Default p 0. */
  float p_codec, codec_kbps_min, codec_kbps_max;
  float p_formant, formant_max;       /* envelope ratio in [1/m, m]; default p 0 */
  /* Mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization";
   * on waveforms as PANNs, Kong et al. 2020): with probability p_mixup a
   * labelled clip's views are mixed with another labelled clip of the
   * batch (the trainer never mixes clips of the class "silence"), weight
   * lambda = max(l, 1 - l), l ~ Beta(alpha, alpha), and the cross-entropy
   * target is lambda y + (1 - lambda) y' (clar_loss_ce_mixup).
   * A batch-level draw, made by the trainer (clar_mixup_lambda,
   * clar_mixup); default p 0. */
  float p_mixup, mixup_alpha;
  /* Frequency-wise MixStyle (clar_freq_mixstyle_batch); default p 0. */
  float p_fmix, fmix_alpha;
} clar_augment_config;

clar_augment_config clar_augment_default (void);
/* No augmentation at all (crop only). */
clar_augment_config clar_augment_none (void);

/* Parses "pitch=P:S,noise=P:MIN:MAX,fade=P:MAX,mask=P:MAX,gain=P:DB,
 * stretch=P:S,eq=P:DB,phone=P,reverb=P:RT60,mix=P:MIN:MAX,fmask=P:BANDS,
 * codec=P:KMIN:KMAX,formant=P:RATIO,mixup=P:ALPHA,fmix=P:ALPHA" over the
 * defaults; returns 0 or -1 (unknown key / bad number: KMIN in [6, KMAX],
 * KMAX <= 128, RATIO in [1, 2], ALPHA in [0.01, 100]; noise, mix and codec take 1 or 3
 * numbers). codec=P with P > 0 parses even in a build without any codec:
 * the caller checks clar_codec_available and says so. */
int clar_augment_parse (const char *spec, clar_augment_config *cfg);

/* One view: a random crop of `len` samples from clip[0..n) (zero-padded at a
 * random offset when the clip is shorter; reads around the crop for pitch
 * shifting), then the configured augmentations. out has len floats. */
void clar_augment_view (const clar_augment_config *cfg, clar_rng *rng,
                        const float *clip, size_t n, float *out, size_t len);
/* The same, with another clip bg[0..nbg) that may be mixed in as background
 * (p_mix; bg NULL: never). */
void clar_augment_view_bg (const clar_augment_config *cfg, clar_rng *rng,
                           const float *clip, size_t n, const float *bg, size_t nbg,
                           float *out, size_t len);
/* SpecAugment frequency masks (Park et al. 2019) on a log-mel: with probability
 * p_fmask, one or two bands of up to fmask_max mels are set to the mel's
 * mean log value. Layout as clar_mel_compute writes it: n_mels rows of
 * n_frames. */
void clar_augment_spec (const clar_augment_config *cfg, clar_rng *rng, float *mel,
                        size_t n_frames, size_t n_mels);

/* Frequency-wise MixStyle (Zhou et al. 2021, "Domain Generalization with
 * MixStyle", ICLR, on feature-map statistics; per mel band on the log-mel
 * as in CP-JKU's DCASE 2022-23 acoustic scene systems, Schmid et al., where
 * it stands in for recording devices never seen). A source's coloration
 * (a soundfont's timbre, a renderer's or a microphone's response, a game's
 * mastering) lives largely in each band's level and spread over time;
 * mixed with another clip's, it becomes a nuisance to ignore. For x and y,
 * log-mels of n_mels rows of n_frames: each band's mean mu and standard
 * deviation sd over time (sd = sqrt(var + 1e-6)), then
 *   x' = (x - mu_x) / sd_x * (l sd_x + (1 - l) sd_y) + l mu_x + (1 - l) mu_y.
 * l = 1 leaves x as it is; l = 0 gives x y's band statistics. */
void clar_freq_mixstyle (float *x, const float *y, size_t n_frames, size_t n_mels,
                         double lambda);
/* The batch step clar-train makes after the log-mels and SpecAugment: each
 * of the n views, with probability p_fmix, is mixed (clar_freq_mixstyle,
 * l ~ Beta(fmix_alpha, fmix_alpha)) with the statistics of another view
 * drawn at random among those of another clip (group[i] names view i's
 * clip; views of one clip are never partners), as that view was before
 * any mixing. A view with exempt[i] set is never mixed, as if its draw
 * had failed, and draws nothing from rng (exempt NULL: none is), but lends
 * its statistics to others like any view: for classes whose band
 * statistics are partly the signal (an instrument family's long-term
 * spectrum is much of its timbre), while the coloration it carries is
 * still a nuisance to the others. Returns how many views were mixed; 0,
 * and mels untouched, when p_fmix is 0, n < 2, every view is of one clip
 * or exempt, or memory runs out. */
size_t clar_freq_mixstyle_batch (const clar_augment_config *cfg, clar_rng *rng, float *mels,
                                 size_t n, size_t n_frames, size_t n_mels, const int *group,
                                 const unsigned char *exempt);

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

typedef enum { CLAR_BIQUAD_LOWPASS, CLAR_BIQUAD_HIGHPASS, CLAR_BIQUAD_PEAK } clar_biquad_kind;
/* One RBJ "Audio EQ Cookbook" biquad (Bristow-Johnson), in place, direct
 * form I: f0 in Hz at sample rate sr, quality q, gain_db for PEAK only. */
void clar_biquad (float *x, size_t n, clar_biquad_kind kind, double f0, double q,
                  double gain_db, double sr);
/* G.711 mu-law (ITU-T G.711, mu = 255) of a sample in [-1, 1] and back:
 * the 8-bit code's value, i.e. the quantisation a mu-law channel applies. */
float clar_mulaw_roundtrip (float x);
/* A telephone channel at sample rate 16 kHz: band-limit to 300-3400 Hz,
 * decimate to 8 kHz, mu-law quantise (after normalising the peak to
 * `level` of full scale) and interpolate back to 16 kHz. */
void clar_telephone (float *x, size_t n, double level);
/* Generated reverberation at 16 kHz: the dry signal plus `wet` times a
 * room response with reverberation time rt60 (s): 12 early reflections
 * (random delays in 5-60 ms, decaying gains) and a late tail of four
 * parallel feedback combs and two allpasses (Schroeder 1962; delays
 * scaled by room, feedback g = 10^(-3 d / (rt60 sr)) so each comb decays
 * 60 dB in rt60). */
void clar_reverb (float *x, size_t n, double rt60, double wet, clar_rng *rng);
/* x += bg scaled so that power(x) / power(bg) is snr_db (no-op when bg is
 * silent). */
void clar_mix_at_snr (float *x, const float *bg, size_t n, double snr_db);
/* Mixup's draw for one clip: 1 (no mixing) with probability 1 - p_mixup,
 * else lambda = max(l, 1 - l), l ~ Beta(mixup_alpha, mixup_alpha), so the
 * clip itself keeps at least half of the mixture (its two views stay the
 * positive pair of the contrastive term). */
double clar_mixup_lambda (const clar_augment_config *cfg, clar_rng *rng);
/* x = lambda x + (1 - lambda) g y, with y scaled by g to x's RMS (so lambda
 * is the share of each source's amplitude whatever their levels), then the
 * sum scaled back to x's RMS. Returns the lambda applied: 1, and x left as
 * it is, when either signal is silent (RMS below 1e-5) or lambda is not in
 * [0, 1), so that a mixture with silence never gets half a label. */
double clar_mixup (float *x, const float *y, size_t n, double lambda);

/* Lossy codecs for a round trip. Each is optional at build time (meson
 * option "codecs": libopus, libvorbisenc, libgsm). */
typedef enum { CLAR_CODEC_OPUS, CLAR_CODEC_VORBIS, CLAR_CODEC_GSM, CLAR_CODEC_COUNT } clar_codec;
const char *clar_codec_name (clar_codec c);
/* 1 when this build has the codec's library, else 0. */
int clar_codec_available (clar_codec c);
/* Encodes x[0..n) (16 kHz mono) in memory and decodes it back in place,
 * aligned to the input (the codec's delay removed: Opus's lookahead,
 * Vorbis's and GSM's none), same length. The peak is normalised to `level`
 * of full scale before encoding and restored after. param: Opus bitrate in
 * kbit/s (6..510, the encoder picks SILK/hybrid/CELT and the band), Vorbis
 * VBR quality (-0.1..1; -0.1, the lowest, gave 20.6 kbit/s on
 * tests/test-augment's speech-like signal at 16 kHz mono),
 * ignored for GSM (06.10 full rate, 13 kbit/s at 8 kHz, through the
 * telephone channel's band limit and 2:1 resampling). A silent or empty
 * input is left as is. If bytes_out is not NULL it receives the size of the
 * coded stream (headers excluded). Returns 0; -1 (x unchanged) when the
 * codec is not in this build, the input holds NaN/Inf, or an encoder call
 * fails. Thread-safe (each call has its own encoder and decoder). */
int clar_codec_roundtrip (float *x, size_t n, clar_codec c, double param, double level,
                          size_t *bytes_out);
/* Formant shift at 16 kHz: the spectral envelope moves by `ratio` (> 1:
 * up, as of a shorter vocal tract or a smaller body) while the fine
 * structure, hence the pitch, and the length stay. STFT (512-sample Hann
 * frames, hop 128); each frame's envelope is its cepstrally smoothed log
 * magnitude (the first 24 quefrency bins), and the frame is multiplied by
 * E(f / ratio) / E(f), limited to +-24 dB; then overlap-add and the input's
 * power restored. Returns 0, or -1 (x unchanged) on allocation failure or
 * a ratio outside [0.5, 2]. Thread-safe. */
int clar_formant_shift (float *x, size_t n, double ratio);

#endif
