/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <fftw3.h>
#ifdef CLAR_HAVE_OPUS
#include <opus.h>
#endif
#ifdef CLAR_HAVE_VORBIS
#include <vorbis/vorbisenc.h>
#endif
#ifdef CLAR_HAVE_GSM
#include <gsm.h>
#endif

#include "augment.h"
#include "fftw-lock.h"

#define PI 3.14159265358979323846

uint64_t
clar_rng_next (clar_rng *r)
{
  /* splitmix64 (Steele, Lea & Flood 2014). */
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double
clar_rng_uniform (clar_rng *r)
{
  return (clar_rng_next (r) >> 11) * (1.0 / 9007199254740992.0);
}

double
clar_rng_gauss (clar_rng *r)
{
  double u = clar_rng_uniform (r) + 1e-300, v = clar_rng_uniform (r);
  return sqrt (-2.0 * log (u)) * cos (2 * PI * v);
}

double
clar_rng_gamma (clar_rng *r, double shape)
{
  double d, c;
  if (!(shape > 0))
    return NAN;
  if (shape < 1) {
    /* Gamma(a) = Gamma(a + 1) U^(1/a) (Marsaglia & Tsang, section 6). */
    double u = clar_rng_uniform (r) + 1e-300;
    return clar_rng_gamma (r, shape + 1) * pow (u, 1.0 / shape);
  }
  d = shape - 1.0 / 3.0;
  c = 1.0 / sqrt (9.0 * d);
  for (;;) {
    double x = clar_rng_gauss (r), v = 1 + c * x, u;
    if (v <= 0)
      continue;
    v = v * v * v;
    u = clar_rng_uniform (r) + 1e-300;
    /* Squeeze, then the exact test (their eq. 3 and step 4). */
    if (u < 1 - 0.0331 * x * x * x * x || log (u) < 0.5 * x * x + d * (1 - v + log (v)))
      return d * v;
  }
}

double
clar_rng_beta (clar_rng *r, double a, double b)
{
  double x = clar_rng_gamma (r, a), y = clar_rng_gamma (r, b);
  if (!(x + y > 0))
    return 0.5;       /* both underflowed (tiny shapes): the symmetric middle */
  return x / (x + y);
}

clar_augment_config
clar_augment_default (void)
{
  clar_augment_config c = {
    .p_pitch = 0.3f, .pitch_semitones = 2.0f,
    .p_noise = 0.5f, .snr_min_db = 5.0f, .snr_max_db = 30.0f,
    .p_fade = 0.3f, .fade_max = 0.3f,
    .p_mask = 0.3f, .mask_max = 0.2f,
    .p_gain = 0.5f, .gain_db = 6.0f,
    .p_stretch = 0.3f, .stretch_max = 0.2f,
    .p_eq = 0.5f, .eq_db = 10.0f,
    .p_phone = 0.15f,
    .p_reverb = 0.3f, .rt60_max = 1.0f,
    .p_mix = 0.3f, .mix_snr_min_db = 3.0f, .mix_snr_max_db = 20.0f,
    .p_fmask = 0.3f, .fmask_max = 8.0f,
    /* Off by default: the shipped model's training command draws the same
     * random stream as before they existed. */
    .p_codec = 0.0f, .codec_kbps_min = 6.0f, .codec_kbps_max = 24.0f,
    .p_formant = 0.0f, .formant_max = 1.25f,
    .p_mixup = 0.0f, .mixup_alpha = 0.4f,
    .p_fmix = 0.0f, .fmix_alpha = 0.3f,
  };
  return c;
}

clar_augment_config
clar_augment_none (void)
{
  clar_augment_config c;
  memset (&c, 0, sizeof c);
  return c;
}

int
clar_augment_parse (const char *spec, clar_augment_config *cfg)
{
  char *copy, *tok, *save = NULL;
  int rc = 0;
  if (!spec || !*spec)
    return 0;
  copy = strdup (spec);
  if (!copy)
    return -1;
  for (tok = strtok_r (copy, ",", &save); tok && !rc; tok = strtok_r (NULL, ",", &save)) {
    char *eq = strchr (tok, '=');
    double v[3] = { -1, -1, -1 };
    int nv = 0;
    if (!eq) { rc = -1; break; }
    *eq = 0;
    for (char *p = eq + 1, *end; *p && nv < 3; p = *end == ':' ? end + 1 : end) {
      v[nv++] = strtod (p, &end);
      if (end == p || (*end && *end != ':')) { rc = -1; break; }
      if (!*end) break;
    }
    if (rc || nv < 1 || v[0] < 0 || v[0] > 1) { rc = -1; break; }
    if (!strcmp (tok, "pitch") && nv <= 2) {
      cfg->p_pitch = (float) v[0]; if (nv > 1) cfg->pitch_semitones = (float) v[1];
    } else if (!strcmp (tok, "noise") && nv != 2) {
      cfg->p_noise = (float) v[0];
      if (nv > 2) { cfg->snr_min_db = (float) v[1]; cfg->snr_max_db = (float) v[2]; }
    } else if (!strcmp (tok, "fade") && nv <= 2) {
      cfg->p_fade = (float) v[0]; if (nv > 1) cfg->fade_max = (float) v[1];
    } else if (!strcmp (tok, "mask") && nv <= 2) {
      cfg->p_mask = (float) v[0]; if (nv > 1) cfg->mask_max = (float) v[1];
    } else if (!strcmp (tok, "stretch") && nv <= 2) {
      cfg->p_stretch = (float) v[0]; if (nv > 1) cfg->stretch_max = (float) v[1];
    } else if (!strcmp (tok, "gain") && nv <= 2) {
      cfg->p_gain = (float) v[0]; if (nv > 1) cfg->gain_db = (float) v[1];
    } else if (!strcmp (tok, "eq") && nv <= 2) {
      cfg->p_eq = (float) v[0]; if (nv > 1) cfg->eq_db = (float) v[1];
    } else if (!strcmp (tok, "phone") && nv == 1) {
      cfg->p_phone = (float) v[0];
    } else if (!strcmp (tok, "reverb") && nv <= 2) {
      cfg->p_reverb = (float) v[0];
      if (nv > 1) { if (v[1] < 0.1) { rc = -1; break; } cfg->rt60_max = (float) v[1]; }
    } else if (!strcmp (tok, "mix") && nv != 2) {
      cfg->p_mix = (float) v[0];
      if (nv > 2) { cfg->mix_snr_min_db = (float) v[1]; cfg->mix_snr_max_db = (float) v[2]; }
    } else if (!strcmp (tok, "fmask") && nv <= 2) {
      cfg->p_fmask = (float) v[0]; if (nv > 1) cfg->fmask_max = (float) v[1];
    } else if (!strcmp (tok, "codec") && nv != 2) {
      cfg->p_codec = (float) v[0];
      if (nv > 2) {
        if (!(v[1] >= 6 && v[2] >= v[1] && v[2] <= 128)) { rc = -1; break; }
        cfg->codec_kbps_min = (float) v[1]; cfg->codec_kbps_max = (float) v[2];
      }
    } else if (!strcmp (tok, "formant") && nv <= 2) {
      cfg->p_formant = (float) v[0];
      if (nv > 1) { if (!(v[1] >= 1 && v[1] <= 2)) { rc = -1; break; } cfg->formant_max = (float) v[1]; }
    } else if (!strcmp (tok, "mixup") && nv <= 2) {
      cfg->p_mixup = (float) v[0];
      if (nv > 1) { if (!(v[1] >= 0.01 && v[1] <= 100)) { rc = -1; break; } cfg->mixup_alpha = (float) v[1]; }
    } else if (!strcmp (tok, "fmix") && nv <= 2) {
      cfg->p_fmix = (float) v[0];
      if (nv > 1) { if (!(v[1] >= 0.01 && v[1] <= 100)) { rc = -1; break; } cfg->fmix_alpha = (float) v[1]; }
    } else {
      rc = -1;
    }
  }
  free (copy);
  return rc;
}

void
clar_resample_linear (const float *x, size_t n, double ratio, double start,
                      float *out, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    double pos = start + i * ratio;
    long k = (long) floor (pos);
    double f = pos - k;
    float a = (k >= 0 && (size_t) k < n) ? x[k] : 0.0f;
    float b = (k + 1 >= 0 && (size_t) (k + 1) < n) ? x[k + 1] : 0.0f;
    out[i] = (float) (a + (b - a) * f);
  }
}

void
clar_add_noise (float *x, size_t n, clar_noise_color c, double snr_db, clar_rng *rng)
{
  double ps = 0, pn = 0, gain;
  float *nz = malloc (n * sizeof (float));
  /* Pink: Paul Kellet's "economy" filter of white noise (-3 dB/octave);
   * brown: leaky integration of white noise (-6 dB/octave). */
  double b0 = 0, b1 = 0, b2 = 0, br = 0;
  if (!nz || n == 0) {
    free (nz);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    double w = clar_rng_gauss (rng);
    switch (c) {
      case CLAR_NOISE_WHITE:
        nz[i] = (float) w;
        break;
      case CLAR_NOISE_PINK:
        b0 = 0.99765 * b0 + w * 0.0990460;
        b1 = 0.96300 * b1 + w * 0.2965164;
        b2 = 0.57000 * b2 + w * 1.0526913;
        nz[i] = (float) (b0 + b1 + b2 + w * 0.1848);
        break;
      case CLAR_NOISE_BROWN:
        br = 0.998 * br + w * 0.1;
        nz[i] = (float) br;
        break;
    }
  }
  for (size_t i = 0; i < n; i++) {
    ps += (double) x[i] * x[i];
    pn += (double) nz[i] * nz[i];
  }
  ps /= n;
  pn /= n;
  if (ps < 1e-12)
    ps = 1.0;   /* silent input: snr_db is the noise level below full scale */
  gain = pn > 0 ? sqrt (ps / (pn * pow (10.0, snr_db / 10.0))) : 0.0;
  for (size_t i = 0; i < n; i++)
    x[i] += (float) (gain * nz[i]);
  free (nz);
}

void
clar_time_stretch (const float *x, size_t n, double rate, size_t start,
                   float *out, size_t len)
{
  /* WSOLA (Verhelst & Roelands 1993): output grains every HS samples; grain
   * k is read near start + k * HS * rate, shifted by up to +-DELTA samples
   * to best continue the previous grain (cross-correlation over the overlap
   * region), so overlapping grains add in phase. Hann grains at 75 % overlap
   * sum to 2, divided out. Pitch is kept; duration scales by 1/rate. */
  enum { G = 1024, HS = 256, DELTA = 128 };
  float win[G];
  long prev = -1;
  memset (out, 0, len * sizeof (float));
  for (int i = 0; i < G; i++)
    win[i] = (float) (0.5 - 0.5 * cos (2 * PI * i / G));
  for (long k = 0; k * HS < (long) len; k++) {
    long nominal = (long) start + (long) floor (k * HS * rate), best = nominal;
    if (prev >= 0) {
      /* The natural continuation of the previous grain starts at prev + HS;
       * compare the first G - HS samples (the overlap with earlier grains). */
      double bc = -INFINITY;
      for (long d = -DELTA; d <= DELTA; d += 2) {
        long c = nominal + d;
        double acc = 0;
        if (c < 0 || c + G - HS > (long) n)
          continue;
        for (int i = 0; i < G - HS; i += 2) {
          long a = prev + HS + i;
          acc += (a < (long) n ? x[a] : 0.0f) * x[c + i];
        }
        if (acc > bc) {
          bc = acc;
          best = c;
        }
      }
    }
    prev = best;
    for (int i = 0; i < G; i++) {
      long oi = k * HS + i - (G - HS), ii = best + i - (G - HS);
      if (oi < 0 || (size_t) oi >= len || ii < 0 || (size_t) ii >= n)
        continue;
      out[oi] += win[i] * x[ii] * 0.5f;
    }
  }
}

void
clar_fade (float *x, size_t n, size_t fi, size_t fo)
{
  /* Half-cosine ramps, starting/ending at exactly zero. */
  if (fi > n) fi = n;
  if (fo > n) fo = n;
  for (size_t i = 0; i < fi; i++)
    x[i] *= (float) (0.5 - 0.5 * cos (PI * i / fi));
  for (size_t i = 0; i < fo; i++)
    x[n - 1 - i] *= (float) (0.5 - 0.5 * cos (PI * i / fo));
}

void
clar_time_mask (float *x, size_t n, size_t start, size_t len)
{
  if (start >= n)
    return;
  if (len > n - start)
    len = n - start;
  memset (x + start, 0, len * sizeof (float));
}

void
clar_biquad (float *x, size_t n, clar_biquad_kind kind, double f0, double q,
             double gain_db, double sr)
{
  /* Coefficients from R. Bristow-Johnson, "Cookbook formulae for audio EQ
   * biquad filter coefficients". */
  double w0 = 2 * PI * f0 / sr, cw = cos (w0), alpha = sin (w0) / (2 * q);
  double b0, b1, b2, a0, a1, a2, x1 = 0, x2 = 0, y1 = 0, y2 = 0;
  if (!(f0 > 0 && f0 < sr / 2 && q > 0))
    return;
  switch (kind) {
    case CLAR_BIQUAD_LOWPASS:
      b0 = (1 - cw) / 2; b1 = 1 - cw; b2 = (1 - cw) / 2;
      a0 = 1 + alpha; a1 = -2 * cw; a2 = 1 - alpha;
      break;
    case CLAR_BIQUAD_HIGHPASS:
      b0 = (1 + cw) / 2; b1 = -(1 + cw); b2 = (1 + cw) / 2;
      a0 = 1 + alpha; a1 = -2 * cw; a2 = 1 - alpha;
      break;
    default: {
      double A = pow (10.0, gain_db / 40.0);
      b0 = 1 + alpha * A; b1 = -2 * cw; b2 = 1 - alpha * A;
      a0 = 1 + alpha / A; a1 = -2 * cw; a2 = 1 - alpha / A;
      break;
    }
  }
  b0 /= a0; b1 /= a0; b2 /= a0; a1 /= a0; a2 /= a0;
  for (size_t i = 0; i < n; i++) {
    double y = b0 * x[i] + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
    x2 = x1; x1 = x[i];
    y2 = y1; y1 = y;
    x[i] = (float) y;
  }
}

float
clar_mulaw_roundtrip (float x)
{
  /* The mu-law companding characteristic of ITU-T G.711 (mu = 255),
   * y = sgn(x) ln(1 + mu|x|) / ln(1 + mu), quantised to a sign and 7 bits
   * (the 8-bit code; G.711's segmented code is a piecewise-linear fit of the
   * same curve), then expanded back. */
  const double mu = 255.0;
  double a = fabs (x) > 1.0 ? 1.0 : fabs (x);
  double y = log1p (mu * a) / log1p (mu);
  double q = floor (y * 127.0 + 0.5) / 127.0;
  double back = (pow (1.0 + mu, q) - 1.0) / mu;
  return (float) (x < 0 ? -back : back);
}

/* The 8 kHz stage of the narrow-band channel: mu-law (G.711) or GSM 06.10
 * full rate on y[0..m), which the caller normalised to a peak of `level`
 * (GSM: scaled to 16-bit). Returns the GSM stream's size in bytes (0 for
 * mu-law) or -1 when GSM is not in this build or fails. */
static long
narrowband_codec (float *y, size_t m, int use_gsm)
{
  if (!use_gsm) {
    for (size_t i = 0; i < m; i++)
      y[i] = clar_mulaw_roundtrip (y[i]);
    return 0;
  }
#ifdef CLAR_HAVE_GSM
  {
    /* GSM 06.10 codes 160-sample (20 ms) frames into 33 bytes and has no
     * lookahead: decoded frame k is input frame k (ETSI EN 300 961). */
    gsm enc = gsm_create (), dec = gsm_create ();
    long bytes = 0;
    if (!enc || !dec) {
      if (enc) gsm_destroy (enc);
      if (dec) gsm_destroy (dec);
      return -1;
    }
    for (size_t f = 0; f < m; f += 160) {
      gsm_signal pcm[160];
      gsm_byte frame[33];
      for (size_t i = 0; i < 160; i++) {
        double v = f + i < m ? y[f + i] * 32767.0 : 0.0;
        pcm[i] = (gsm_signal) (v > 32767 ? 32767 : (v < -32768 ? -32768 : lrint (v)));
      }
      gsm_encode (enc, pcm, frame);
      bytes += 33;
      if (gsm_decode (dec, frame, pcm) != 0) {
        gsm_destroy (enc);
        gsm_destroy (dec);
        return -1;
      }
      for (size_t i = 0; i < 160 && f + i < m; i++)
        y[f + i] = pcm[i] / 32768.0f;
    }
    gsm_destroy (enc);
    gsm_destroy (dec);
    return bytes;
  }
#else
  return -1;
#endif
}

/* clar_biquad run backwards in time (x reversed, filtered, reversed back):
 * after a forward pass, the pair has zero phase (Gustafsson 1996, as
 * MATLAB's filtfilt) and the squared magnitude response. */
static void
biquad_backward (float *x, size_t n, clar_biquad_kind kind, double f0)
{
  for (size_t i = 0; i < n / 2; i++) {
    float t = x[i];
    x[i] = x[n - 1 - i];
    x[n - 1 - i] = t;
  }
  clar_biquad (x, n, kind, f0, 0.7071, 0, 16000.0);
  for (size_t i = 0; i < n / 2; i++) {
    float t = x[i];
    x[i] = x[n - 1 - i];
    x[n - 1 - i] = t;
  }
}

/* The telephone channel (clar_telephone) with mu-law or GSM at 8 kHz:
 * returns as narrowband_codec; x is unchanged when that fails. With
 * zero_phase the second pass of each band filter runs backward in time
 * (the same 300-3400 Hz magnitude as the telephone's cascades, and the
 * 3600 Hz smoothing low-pass squared, without delay), so the output stays
 * aligned to the input; the telephone channel keeps its causal filters
 * (and with them the random stream and the views of the documented
 * training runs). */
static long
narrowband_channel (float *x, size_t n, double level, int use_gsm, int zero_phase)
{
  size_t m = n / 2;
  float *y, *keep, peak = 0;
  long rc;
  if (m < 2)
    return 0;
  y = malloc (m * sizeof (float));
  keep = malloc (n * sizeof (float));
  if (!y || !keep) {
    free (y);
    free (keep);
    return -1;
  }
  memcpy (keep, x, n * sizeof (float));
  /* Fourth-order band edges (two cascaded biquads each), so little energy
   * above 4 kHz is left to alias when every other sample is dropped. */
  for (int k = 0; k < 2; k++) {
    if (zero_phase && k == 1) {
      biquad_backward (x, n, CLAR_BIQUAD_HIGHPASS, 300.0);
      biquad_backward (x, n, CLAR_BIQUAD_LOWPASS, 3400.0);
      break;
    }
    clar_biquad (x, n, CLAR_BIQUAD_HIGHPASS, 300.0, 0.7071, 0, 16000.0);
    clar_biquad (x, n, CLAR_BIQUAD_LOWPASS, 3400.0, 0.7071, 0, 16000.0);
  }
  for (size_t i = 0; i < m; i++) {
    y[i] = x[2 * i];
    peak = fabsf (y[i]) > peak ? fabsf (y[i]) : peak;
  }
  rc = 0;
  if (peak > 0) {
    float g = (float) (level / peak);
    for (size_t i = 0; i < m; i++)
      y[i] *= g;
    rc = narrowband_codec (y, m, use_gsm);
    for (size_t i = 0; i < m; i++)
      y[i] /= g;
  }
  if (rc < 0) {
    memcpy (x, keep, n * sizeof (float));
    free (y);
    free (keep);
    return -1;
  }
  for (size_t i = 0; i < m; i++) {
    x[2 * i] = y[i];
    x[2 * i + 1] = i + 1 < m ? 0.5f * (y[i] + y[i + 1]) : y[i];
  }
  if (n % 2)
    x[n - 1] = y[m - 1];
  clar_biquad (x, n, CLAR_BIQUAD_LOWPASS, 3600.0, 0.7071, 0, 16000.0);
  if (zero_phase)
    biquad_backward (x, n, CLAR_BIQUAD_LOWPASS, 3600.0);
  free (y);
  free (keep);
  return rc;
}

void
clar_telephone (float *x, size_t n, double level)
{
  narrowband_channel (x, n, level, 0, 0);
}

void
clar_reverb (float *x, size_t n, double rt60, double wet, clar_rng *rng)
{
  /* Comb and allpass delays of Freeverb's tuning (J. Smith, "Physical Audio
   * Signal Processing", Freeverb), scaled from 44.1 to 16 kHz and by a
   * random room size. */
  static const int comb_d[4] = { 1557, 1617, 1491, 1422 }, ap_d[2] = { 556, 225 };
  const double sr = 16000.0, scale = sr / 44100.0;
  double room = 0.7 + 0.6 * clar_rng_uniform (rng), damp = 0.2 + 0.3 * clar_rng_uniform (rng);
  double e_in = 0, e_out = 0;
  float *wetbuf = calloc (n ? n : 1, sizeof (float)), *buf = NULL;
  size_t dl[6], total = 0, off[6];
  double g[4], lp[4] = { 0 };
  if (!wetbuf || n == 0 || !(rt60 > 0)) {
    free (wetbuf);
    return;
  }
  for (int k = 0; k < 4; k++) {
    dl[k] = (size_t) (comb_d[k] * scale * room);
    g[k] = pow (10.0, -3.0 * dl[k] / (rt60 * sr));
  }
  for (int k = 0; k < 2; k++)
    dl[4 + k] = (size_t) (ap_d[k] * scale * room);
  for (int k = 0; k < 6; k++) {
    off[k] = total;
    total += dl[k] ? dl[k] : 1;
  }
  buf = calloc (total, sizeof (float));
  if (!buf) {
    free (wetbuf);
    return;
  }
  /* Early reflections: 12 taps 5-60 ms late, decaying as the tail does. */
  for (int r = 0; r < 12; r++) {
    size_t d = (size_t) ((0.005 + 0.055 * clar_rng_uniform (rng)) * sr);
    double gain = (clar_rng_uniform (rng) < 0.5 ? -0.6 : 0.6) * pow (10.0, -3.0 * d / (rt60 * sr));
    for (size_t i = d; i < n; i++)
      wetbuf[i] += (float) (gain * x[i - d]);
  }
  {
    size_t pos[6] = { 0 };
    for (size_t i = 0; i < n; i++) {
      double in = x[i] * 0.25, acc = 0;
      for (int k = 0; k < 4; k++) {
        float *line = buf + off[k];
        double out = line[pos[k]];
        lp[k] = out * (1 - damp) + lp[k] * damp;      /* damped feedback */
        line[pos[k]] = (float) (in + g[k] * lp[k]);
        pos[k] = (pos[k] + 1) % dl[k];
        acc += out;
      }
      for (int k = 4; k < 6; k++) {
        float *line = buf + off[k];
        double bo = line[pos[k]], o = -acc + bo;
        line[pos[k]] = (float) (acc + 0.5 * bo);
        pos[k] = (pos[k] + 1) % dl[k];
        acc = o;
      }
      wetbuf[i] += (float) acc;
    }
  }
  for (size_t i = 0; i < n; i++) {
    e_in += (double) x[i] * x[i];
    x[i] += (float) (wet * wetbuf[i]);
    e_out += (double) x[i] * x[i];
  }
  /* The room colours and smears, it should not make the clip louder. */
  if (e_out > 0 && e_in > 0) {
    float k = (float) sqrt (e_in / e_out);
    for (size_t i = 0; i < n; i++)
      x[i] *= k;
  }
  free (buf);
  free (wetbuf);
}

void
clar_mix_at_snr (float *x, const float *bg, size_t n, double snr_db)
{
  double ps = 0, pb = 0, gain;
  for (size_t i = 0; i < n; i++) {
    ps += (double) x[i] * x[i];
    pb += (double) bg[i] * bg[i];
  }
  if (pb <= 1e-12 * n || ps <= 0)
    return;
  gain = sqrt (ps / (pb * pow (10.0, snr_db / 10.0)));
  for (size_t i = 0; i < n; i++)
    x[i] += (float) (gain * bg[i]);
}

double
clar_mixup_lambda (const clar_augment_config *cfg, clar_rng *rng)
{
  double l;
  if (!(cfg->p_mixup > 0) || clar_rng_uniform (rng) >= cfg->p_mixup || !(cfg->mixup_alpha > 0))
    return 1.0;
  l = clar_rng_beta (rng, cfg->mixup_alpha, cfg->mixup_alpha);
  return l < 0.5 ? 1.0 - l : l;
}

double
clar_mixup (float *x, const float *y, size_t n, double lambda)
{
  double px = 0, py = 0, pm = 0, g, back;
  if (!x || !y || n == 0 || !(lambda >= 0 && lambda < 1))
    return 1.0;
  for (size_t i = 0; i < n; i++) {
    px += (double) x[i] * x[i];
    py += (double) y[i] * y[i];
  }
  if (px < 1e-10 * (double) n || py < 1e-10 * (double) n)
    return 1.0;
  g = sqrt (px / py);
  for (size_t i = 0; i < n; i++) {
    x[i] = (float) (lambda * x[i] + (1 - lambda) * g * y[i]);
    pm += (double) x[i] * x[i];
  }
  /* Two sources in opposite phase can cancel; keep the level then. */
  back = pm > 1e-10 * (double) n ? sqrt (px / pm) : 1.0;
  for (size_t i = 0; i < n; i++)
    x[i] = (float) (back * x[i]);
  return lambda;
}

/* Each band's mean and standard deviation over time (sqrt(var + 1e-6), the
 * epsilon of the MixStyle reference code), in double. */
static void
band_stats (const float *x, size_t n_frames, size_t n_mels, double *mu, double *sd)
{
  for (size_t f = 0; f < n_mels; f++) {
    const float *r = x + f * n_frames;
    double m = 0, v = 0;
    for (size_t t = 0; t < n_frames; t++)
      m += r[t];
    m /= (double) n_frames;
    for (size_t t = 0; t < n_frames; t++)
      v += (r[t] - m) * (r[t] - m);
    mu[f] = m;
    sd[f] = sqrt (v / (double) n_frames + 1e-6);
  }
}

static void
mixstyle_apply (float *x, size_t n_frames, size_t n_mels, const double *mu_x,
                const double *sd_x, const double *mu_y, const double *sd_y, double l)
{
  for (size_t f = 0; f < n_mels; f++) {
    double mu = l * mu_x[f] + (1 - l) * mu_y[f], sd = l * sd_x[f] + (1 - l) * sd_y[f];
    double g = sd / sd_x[f];
    float *r = x + f * n_frames;
    for (size_t t = 0; t < n_frames; t++)
      r[t] = (float) ((r[t] - mu_x[f]) * g + mu);
  }
}

void
clar_freq_mixstyle (float *x, const float *y, size_t n_frames, size_t n_mels, double lambda)
{
  double *st;
  if (!x || !y || n_frames == 0 || n_mels == 0 || !(lambda >= 0 && lambda < 1))
    return;
  if (!(st = malloc (4 * n_mels * sizeof (double))))
    return;
  band_stats (x, n_frames, n_mels, st, st + n_mels);
  band_stats (y, n_frames, n_mels, st + 2 * n_mels, st + 3 * n_mels);
  mixstyle_apply (x, n_frames, n_mels, st, st + n_mels, st + 2 * n_mels, st + 3 * n_mels, lambda);
  free (st);
}

size_t
clar_freq_mixstyle_batch (const clar_augment_config *cfg, clar_rng *rng, float *mels,
                          size_t n, size_t n_frames, size_t n_mels, const int *group,
                          const unsigned char *exempt)
{
  double *mu, *sd;
  size_t mixed = 0, per = n_frames * n_mels;
  if (!(cfg->p_fmix > 0) || !(cfg->fmix_alpha > 0) || n < 2 || !mels || !group || per == 0)
    return 0;
  mu = malloc (n * n_mels * sizeof (double));
  sd = malloc (n * n_mels * sizeof (double));
  if (!mu || !sd) {
    free (mu);
    free (sd);
    return 0;
  }
  /* Every view's own statistics first: a partner lends what it was. */
  for (size_t i = 0; i < n; i++)
    band_stats (mels + i * per, n_frames, n_mels, mu + i * n_mels, sd + i * n_mels);
  for (size_t i = 0; i < n; i++) {
    size_t j = n, others = 0, k;
    double l;
    if ((exempt && exempt[i]) || clar_rng_uniform (rng) >= cfg->p_fmix)
      continue;
    for (size_t q = 0; q < n; q++)
      others += group[q] != group[i];
    if (!others)
      continue;
    /* The k-th view of another clip, k uniform. */
    k = (size_t) (clar_rng_next (rng) % others);
    for (size_t q = 0; q < n; q++)
      if (group[q] != group[i] && k-- == 0) {
        j = q;
        break;
      }
    l = clar_rng_beta (rng, cfg->fmix_alpha, cfg->fmix_alpha);
    mixstyle_apply (mels + i * per, n_frames, n_mels, mu + i * n_mels, sd + i * n_mels,
        mu + j * n_mels, sd + j * n_mels, l);
    mixed++;
  }
  free (mu);
  free (sd);
  return mixed;
}

void
clar_augment_spec (const clar_augment_config *cfg, clar_rng *rng, float *mel,
                   size_t n_frames, size_t n_mels)
{
  double mean = 0;
  int bands;
  if (!(cfg->p_fmask > 0) || clar_rng_uniform (rng) >= cfg->p_fmask || n_mels == 0 || n_frames == 0)
    return;
  for (size_t i = 0; i < n_frames * n_mels; i++)
    mean += mel[i];
  mean /= (double) (n_frames * n_mels);
  bands = 1 + (int) (clar_rng_next (rng) % 2);
  for (int b = 0; b < bands; b++) {
    size_t w = (size_t) (clar_rng_uniform (rng) * (cfg->fmask_max + 1));
    size_t f0;
    if (w == 0)
      continue;
    if (w > n_mels)
      w = n_mels;
    f0 = (size_t) (clar_rng_uniform (rng) * (n_mels - w + 1));
    for (size_t f = f0; f < f0 + w; f++)
      for (size_t t = 0; t < n_frames; t++)
        mel[f * n_frames + t] = (float) mean;
  }
}

void
clar_augment_view (const clar_augment_config *cfg, clar_rng *rng,
                   const float *clip, size_t n, float *out, size_t len)
{
  clar_augment_view_bg (cfg, rng, clip, n, NULL, 0, out, len);
}

void
clar_augment_view_bg (const clar_augment_config *cfg, clar_rng *rng,
                      const float *clip, size_t n, const float *bg, size_t nbg,
                      float *out, size_t len)
{
  double ratio = 1.0, start;
  /* Pitch shift by resampling (CLAR's pitch shift changes speed with it). */
  if (cfg->p_pitch > 0 && clar_rng_uniform (rng) < cfg->p_pitch) {
    double s = (2 * clar_rng_uniform (rng) - 1) * cfg->pitch_semitones;
    ratio = pow (2.0, s / 12.0);
  }
  /* Time shift: a random crop of the (resampled) clip, or a random
   * placement of a short clip inside the window. */
  {
    double span = n / ratio;   /* output samples the clip covers */
    if (span > len)
      start = clar_rng_uniform (rng) * (span - len) * ratio;
    else
      start = -clar_rng_uniform (rng) * (len - span) * ratio;
  }
  if (cfg->p_stretch > 0 && clar_rng_uniform (rng) < cfg->p_stretch && start >= 0) {
    /* Time stretch (pitch kept) instead of plain resampling: draw the rate,
     * then read the crop from the stretched timeline. */
    double m = 1.0 + cfg->stretch_max, rate = exp ((2 * clar_rng_uniform (rng) - 1) * log (m));
    if (ratio != 1.0) {
      float *tmp = malloc (((size_t) (n / ratio) + 1) * sizeof (float));
      if (tmp) {
        clar_resample_linear (clip, n, ratio, 0, tmp, (size_t) (n / ratio));
        clar_time_stretch (tmp, (size_t) (n / ratio), rate, (size_t) (start / ratio), out, len);
        free (tmp);
      } else {
        clar_resample_linear (clip, n, ratio, start, out, len);
      }
    } else {
      clar_time_stretch (clip, n, rate, (size_t) start, out, len);
    }
  } else {
    clar_resample_linear (clip, n, ratio, start, out, len);
  }
  /* Source colouring, room, background, then the channel: the order in
   * which a recording picks them up. Each draws from the generator only
   * when enabled, so configurations without them keep their streams. */
  if (cfg->p_formant > 0 && clar_rng_uniform (rng) < cfg->p_formant) {
    double m = cfg->formant_max > 1 ? cfg->formant_max : 1.0;
    clar_formant_shift (out, len, exp ((2 * clar_rng_uniform (rng) - 1) * log (m)));
  }
  if (cfg->p_eq > 0 && clar_rng_uniform (rng) < cfg->p_eq) {
    int k = 1 + (int) (clar_rng_next (rng) % 3);
    for (int i = 0; i < k; i++) {
      double u = clar_rng_uniform (rng);
      if (u < 0.2)        /* a dull source or microphone */
        clar_biquad (out, len, CLAR_BIQUAD_LOWPASS, 1500.0 * pow (4.0, clar_rng_uniform (rng)), 0.7071, 0, 16000.0);
      else if (u < 0.4)   /* a thin one */
        clar_biquad (out, len, CLAR_BIQUAD_HIGHPASS, 60.0 * pow (8.0, clar_rng_uniform (rng)), 0.7071, 0, 16000.0);
      else                /* resonances */
        clar_biquad (out, len, CLAR_BIQUAD_PEAK, 100.0 * pow (60.0, clar_rng_uniform (rng)),
            0.5 + 2.5 * clar_rng_uniform (rng), (2 * clar_rng_uniform (rng) - 1) * cfg->eq_db, 16000.0);
    }
  }
  if (cfg->p_reverb > 0 && clar_rng_uniform (rng) < cfg->p_reverb) {
    double rt = 0.1 + clar_rng_uniform (rng) * (cfg->rt60_max - 0.1);
    clar_reverb (out, len, rt, 0.3 + 0.7 * clar_rng_uniform (rng), rng);
  }
  if (bg && nbg && cfg->p_mix > 0 && clar_rng_uniform (rng) < cfg->p_mix) {
    float *b = malloc (len * sizeof (float));
    if (b) {
      double snr = cfg->mix_snr_min_db + clar_rng_uniform (rng) * (cfg->mix_snr_max_db - cfg->mix_snr_min_db);
      double st = nbg > len ? clar_rng_uniform (rng) * (double) (nbg - len)
                            : -clar_rng_uniform (rng) * (double) (len - nbg);
      clar_resample_linear (bg, nbg, 1.0, floor (st), b, len);
      clar_mix_at_snr (out, b, len, snr);
      free (b);
    }
  }
  if (cfg->p_phone > 0 && clar_rng_uniform (rng) < cfg->p_phone)
    clar_telephone (out, len, 0.3 + 0.65 * clar_rng_uniform (rng));
  if (cfg->p_codec > 0 && clar_rng_uniform (rng) < cfg->p_codec) {
    /* One of the codecs this build has (none: the trainer refuses codec=P
     * with P > 0, see clar_codec_available). */
    clar_codec avail[CLAR_CODEC_COUNT];
    int na = 0;
    double u = clar_rng_uniform (rng), level = 0.3 + 0.65 * clar_rng_uniform (rng);
    for (int c = 0; c < CLAR_CODEC_COUNT; c++)
      if (clar_codec_available ((clar_codec) c))
        avail[na++] = (clar_codec) c;
    if (na > 0) {
      clar_codec c = avail[(int) (u * na)];
      double param = c == CLAR_CODEC_OPUS
          ? cfg->codec_kbps_min + clar_rng_uniform (rng) * (cfg->codec_kbps_max - cfg->codec_kbps_min)
          : -0.1 + 0.3 * clar_rng_uniform (rng);
      clar_codec_roundtrip (out, len, c, param, level, NULL);
    }
  }
  if (cfg->p_gain > 0 && clar_rng_uniform (rng) < cfg->p_gain) {
    float g = (float) pow (10.0, (2 * clar_rng_uniform (rng) - 1) * cfg->gain_db / 20.0);
    for (size_t i = 0; i < len; i++)
      out[i] *= g;
  }
  if (cfg->p_fade > 0 && clar_rng_uniform (rng) < cfg->p_fade)
    clar_fade (out, len, (size_t) (clar_rng_uniform (rng) * cfg->fade_max * len),
        (size_t) (clar_rng_uniform (rng) * cfg->fade_max * len));
  if (cfg->p_mask > 0 && clar_rng_uniform (rng) < cfg->p_mask) {
    size_t ml = (size_t) (clar_rng_uniform (rng) * cfg->mask_max * len);
    clar_time_mask (out, len, (size_t) (clar_rng_uniform (rng) * (len - ml)), ml);
  }
  if (cfg->p_noise > 0 && clar_rng_uniform (rng) < cfg->p_noise) {
    double snr = cfg->snr_min_db + clar_rng_uniform (rng) * (cfg->snr_max_db - cfg->snr_min_db);
    clar_add_noise (out, len, (clar_noise_color) (clar_rng_next (rng) % 3), snr, rng);
  }
  /* Keep the range sane for 16-bit-like material. */
  for (size_t i = 0; i < len; i++)
    out[i] = out[i] > 4.0f ? 4.0f : (out[i] < -4.0f ? -4.0f : out[i]);
}

const char *
clar_codec_name (clar_codec c)
{
  switch (c) {
    case CLAR_CODEC_OPUS: return "opus";
    case CLAR_CODEC_VORBIS: return "vorbis";
    case CLAR_CODEC_GSM: return "gsm";
    default: return "?";
  }
}

int
clar_codec_available (clar_codec c)
{
  switch (c) {
#ifdef CLAR_HAVE_OPUS
    case CLAR_CODEC_OPUS: return 1;
#endif
#ifdef CLAR_HAVE_VORBIS
    case CLAR_CODEC_VORBIS: return 1;
#endif
#ifdef CLAR_HAVE_GSM
    case CLAR_CODEC_GSM: return 1;
#endif
    default: return 0;
  }
}

#ifdef CLAR_HAVE_OPUS
/* Opus (RFC 6716) at 16 kHz in 20 ms frames. The decoder's output lags the
 * input by the encoder's lookahead (OPUS_GET_LOOKAHEAD: 2.5 ms plus the
 * delay compensation that lines SILK up with CELT, 104 samples at 16 kHz);
 * the input is coded with that many zeros appended and the decoded stream
 * read from there, the way Ogg Opus's pre-skip does (RFC 7845, sec. 4.2). */
static long
opus_roundtrip (float *x, size_t n, double kbps)
{
  enum { FRAME = 320, MAXPKT = 1500 };
  int err = 0;
  opus_int32 look = 0;
  OpusEncoder *enc = opus_encoder_create (16000, 1, OPUS_APPLICATION_AUDIO, &err);
  OpusDecoder *dec = err == OPUS_OK ? opus_decoder_create (16000, 1, &err) : NULL;
  float in[FRAME], out[FRAME];
  unsigned char pkt[MAXPKT];
  long bytes = 0;
  size_t total, got = 0;
  float *y = NULL;
  if (!enc || !dec || err != OPUS_OK)
    goto fail;
  if (kbps < 6) kbps = 6;
  if (kbps > 510) kbps = 510;
  /* Complexity 5 of 10: half the encoder time of the default (measured:
   * tests/test-augment prints it), the same bitstream family. */
  if (opus_encoder_ctl (enc, OPUS_SET_BITRATE ((opus_int32) (kbps * 1000))) != OPUS_OK
      || opus_encoder_ctl (enc, OPUS_SET_COMPLEXITY (5)) != OPUS_OK
      || opus_encoder_ctl (enc, OPUS_GET_LOOKAHEAD (&look)) != OPUS_OK || look < 0)
    goto fail;
  total = n + (size_t) look;
  y = malloc (n * sizeof (float));
  if (!y)
    goto fail;
  for (size_t f = 0; f < total; f += FRAME) {
    int len, dn;
    for (size_t i = 0; i < FRAME; i++)
      in[i] = f + i < n ? x[f + i] : 0.0f;
    len = opus_encode_float (enc, in, FRAME, pkt, MAXPKT);
    if (len < 0)
      goto fail;
    bytes += len;
    dn = opus_decode_float (dec, pkt, len, out, FRAME, 0);
    if (dn != FRAME)
      goto fail;
    for (size_t i = 0; i < FRAME; i++) {
      size_t t = f + i;   /* decoded sample t is input sample t - look */
      if (t >= (size_t) look && t - look < n)
        y[got++] = out[i];
    }
  }
  memcpy (x, y, n * sizeof (float));
  free (y);
  opus_encoder_destroy (enc);
  opus_decoder_destroy (dec);
  return bytes;
fail:
  free (y);
  if (enc) opus_encoder_destroy (enc);
  if (dec) opus_decoder_destroy (dec);
  return -1;
}
#endif

#ifdef CLAR_HAVE_VORBIS
/* Vorbis I (Xiph.Org, "Vorbis I specification") with libvorbisenc's VBR
 * modes, packets decoded as they come out of the encoder (no Ogg paging
 * needed in memory). libvorbis's decoder returns nothing for the first
 * audio packet and then the input from its first sample (the stream
 * starts at granule 0), so the output is aligned; the tail, padded to a
 * whole block, is dropped. */
static long
vorbis_roundtrip (float *x, size_t n, double quality)
{
  vorbis_info vi, di;
  vorbis_comment vc, dc;
  vorbis_dsp_state vd, dd;
  vorbis_block vb, db;
  ogg_packet h[3], op;
  long bytes = 0;
  size_t got = 0, fed = 0;
  int ok = 0, enc_ready = 0, dec_ready = 0, eos = 0;
  float *y = malloc (n * sizeof (float));
  vorbis_info_init (&vi);
  vorbis_info_init (&di);
  vorbis_comment_init (&vc);
  vorbis_comment_init (&dc);
  if (!y || vorbis_encode_init_vbr (&vi, 1, 16000, (float) quality) != 0
      || vorbis_analysis_init (&vd, &vi) != 0)
    goto done;
  vorbis_block_init (&vd, &vb);
  enc_ready = 1;
  if (vorbis_analysis_headerout (&vd, &vc, &h[0], &h[1], &h[2]) != 0)
    goto done;
  for (int k = 0; k < 3; k++)
    if (vorbis_synthesis_headerin (&di, &dc, &h[k]) != 0)
      goto done;
  if (vorbis_synthesis_init (&dd, &di) != 0)
    goto done;
  vorbis_block_init (&dd, &db);
  dec_ready = 1;
  while (!eos) {
    /* Feed 1024 samples at a time, then the end of stream. */
    size_t chunk = n - fed < 1024 ? n - fed : 1024;
    if (chunk > 0) {
      float **buf = vorbis_analysis_buffer (&vd, (int) chunk);
      memcpy (buf[0], x + fed, chunk * sizeof (float));
      vorbis_analysis_wrote (&vd, (int) chunk);
      fed += chunk;
    } else {
      vorbis_analysis_wrote (&vd, 0);
      eos = 1;
    }
    while (vorbis_analysis_blockout (&vd, &vb) == 1) {
      if (vorbis_analysis (&vb, NULL) != 0 || vorbis_bitrate_addblock (&vb) != 0)
        goto done;
      while (vorbis_bitrate_flushpacket (&vd, &op) == 1) {
        float **pcm;
        int k;
        bytes += op.bytes;
        if (vorbis_synthesis (&db, &op) != 0 || vorbis_synthesis_blockin (&dd, &db) != 0)
          goto done;
        while ((k = vorbis_synthesis_pcmout (&dd, &pcm)) > 0) {
          for (int i = 0; i < k && got < n; i++)
            y[got++] = pcm[0][i];
          vorbis_synthesis_read (&dd, k);
        }
      }
    }
  }
  if (got == n) {
    memcpy (x, y, n * sizeof (float));
    ok = 1;
  }
done:
  if (dec_ready) {
    vorbis_block_clear (&db);
    vorbis_dsp_clear (&dd);
  }
  if (enc_ready) {
    vorbis_block_clear (&vb);
    vorbis_dsp_clear (&vd);
  }
  vorbis_comment_clear (&vc);
  vorbis_comment_clear (&dc);
  vorbis_info_clear (&vi);
  vorbis_info_clear (&di);
  free (y);
  return ok ? bytes : -1;
}
#endif

int
clar_codec_roundtrip (float *x, size_t n, clar_codec c, double param, double level,
                      size_t *bytes_out)
{
  float peak = 0;
  long bytes = -1;
  if (bytes_out)
    *bytes_out = 0;
  if (!clar_codec_available (c))
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite (x[i]))
      return -1;
    peak = fabsf (x[i]) > peak ? fabsf (x[i]) : peak;
  }
  if (n == 0 || peak == 0)
    return 0;
  if (c == CLAR_CODEC_GSM) {
    /* Narrow band like the telephone channel, which normalises itself. */
    bytes = narrowband_channel (x, n, level, 1, 1);
  } else {
    float g = (float) (level / peak);
    float *keep = malloc (n * sizeof (float));
    if (!keep)
      return -1;
    memcpy (keep, x, n * sizeof (float));
    for (size_t i = 0; i < n; i++)
      x[i] *= g;
#ifdef CLAR_HAVE_OPUS
    if (c == CLAR_CODEC_OPUS)
      bytes = opus_roundtrip (x, n, param);
#endif
#ifdef CLAR_HAVE_VORBIS
    if (c == CLAR_CODEC_VORBIS)
      bytes = vorbis_roundtrip (x, n, param < -0.1 ? -0.1 : (param > 1.0 ? 1.0 : param));
#endif
    if (bytes < 0)
      memcpy (x, keep, n * sizeof (float));
    else
      for (size_t i = 0; i < n; i++)
        x[i] /= g;
    free (keep);
  }
  if (bytes < 0)
    return -1;
  if (bytes_out)
    *bytes_out = (size_t) bytes;
  return 0;
}

/* The formant shifter's transforms: one r2c and one c2r plan of FS_N
 * points, made once under libclar's planner lock and then executed on
 * each call's own (fftw_malloc'd, hence equally aligned) arrays, which
 * FFTW allows from any thread ("New-array Execute Functions"). */
enum { FS_N = 512, FS_HOP = 128, FS_LIFTER = 24 };
static fftw_plan fs_r2c, fs_c2r;
static pthread_once_t fs_once = PTHREAD_ONCE_INIT;

static void
fs_make_plans (void)
{
  double *r = fftw_malloc (sizeof (double) * FS_N);
  fftw_complex *c = fftw_malloc (sizeof (fftw_complex) * (FS_N / 2 + 1));
  clar_fftw_planner_lock ();
  if (r && c) {
    fs_r2c = fftw_plan_dft_r2c_1d (FS_N, r, c, FFTW_ESTIMATE);
    fs_c2r = fftw_plan_dft_c2r_1d (FS_N, c, r, FFTW_ESTIMATE);
  }
  clar_fftw_planner_unlock ();
  fftw_free (r);
  fftw_free (c);
}

int
clar_formant_shift (float *x, size_t n, double ratio)
{
  /* Envelope warping as in formant-preserving pitch shifters, here used
   * the other way round: keep each STFT bin's phase and fine structure
   * and replace the envelope E(f) by E(f / ratio) (A. Roebel and X. Rodet,
   * "Efficient spectral envelope estimation and its application to pitch
   * shifting and envelope preservation", DAFx 2005, sec. 1 and 4). The
   * envelope is the cepstrally smoothed log magnitude (Oppenheim & Schafer,
   * "Discrete-Time Signal Processing", 3rd ed., sec. 13.9): the low
   * FS_LIFTER quefrency bins (1.5 ms), below the pitch period of voices and
   * of most notes (pitches up to about 660 Hz). Analysis and synthesis Hann
   * windows; the overlap-add is divided by the summed squared window, so a
   * ratio of 1 returns the input up to rounding. */
  enum { K = FS_N / 2 + 1 };
  double *fr = NULL, *wsum = NULL, *acc = NULL, *win = NULL, *lg = NULL, *cep = NULL;
  fftw_complex *spec = NULL, *tmp = NULL;
  double e_in = 0, e_out = 0;
  int rc = -1;
  if (!(ratio >= 0.5 && ratio <= 2.0))
    return -1;
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite (x[i]))
      return -1;
    e_in += (double) x[i] * x[i];
  }
  if (e_in == 0)
    return 0;
  pthread_once (&fs_once, fs_make_plans);
  if (!fs_r2c || !fs_c2r)
    return -1;
  fr = fftw_malloc (sizeof (double) * FS_N);
  cep = fftw_malloc (sizeof (double) * FS_N);
  spec = fftw_malloc (sizeof (fftw_complex) * K);
  tmp = fftw_malloc (sizeof (fftw_complex) * K);
  lg = malloc (sizeof (double) * 2 * K);
  win = malloc (sizeof (double) * FS_N);
  /* Frames start FS_N - FS_HOP before the clip so that every sample is
   * covered by the full overlap. */
  acc = calloc (n + 2 * FS_N, sizeof (double));
  wsum = calloc (n + 2 * FS_N, sizeof (double));
  if (!fr || !cep || !spec || !tmp || !lg || !win || !acc || !wsum)
    goto done;
  for (int i = 0; i < FS_N; i++)
    win[i] = 0.5 - 0.5 * cos (2 * PI * i / FS_N);
  for (long f0 = -(FS_N - FS_HOP); f0 < (long) n; f0 += FS_HOP) {
    double *env = lg, *warped = lg + K;
    int any = 0;
    for (int i = 0; i < FS_N; i++) {
      long t = f0 + i;
      fr[i] = (t >= 0 && (size_t) t < n) ? x[t] * win[i] : 0.0;
      any |= fr[i] != 0.0;
    }
    if (any) {
      fftw_execute_dft_r2c (fs_r2c, fr, spec);
      /* Real cepstrum of the log magnitude (an even sequence, so a c2r of
       * the real log spectrum), liftered, and back. */
      for (int k = 0; k < K; k++) {
        double m2 = spec[k][0] * spec[k][0] + spec[k][1] * spec[k][1];
        tmp[k][0] = 0.5 * log (m2 + 1e-20);
        tmp[k][1] = 0.0;
      }
      fftw_execute_dft_c2r (fs_c2r, tmp, cep);
      for (int i = 0; i < FS_N; i++)
        cep[i] = (i < FS_LIFTER || i > FS_N - FS_LIFTER) ? cep[i] / FS_N : 0.0;
      fftw_execute_dft_r2c (fs_r2c, cep, tmp);
      for (int k = 0; k < K; k++)
        env[k] = tmp[k][0];
      for (int k = 0; k < K; k++) {
        double src = k / ratio, d, gl;
        int k0;
        if (src >= K - 1)
          src = K - 1;
        k0 = (int) src;
        warped[k] = k0 + 1 < K ? env[k0] + (src - k0) * (env[k0 + 1] - env[k0]) : env[K - 1];
        d = warped[k] - env[k];
        /* +-24 dB in natural-log units. */
        d = d > 2.763 ? 2.763 : (d < -2.763 ? -2.763 : d);
        gl = exp (d);
        spec[k][0] *= gl;
        spec[k][1] *= gl;
      }
      fftw_execute_dft_c2r (fs_c2r, spec, fr);
    }
    for (int i = 0; i < FS_N; i++) {
      long t = f0 + i;
      if (t < 0 || (size_t) t >= n)
        continue;
      acc[t] += (any ? fr[i] / FS_N : 0.0) * win[i];
      wsum[t] += win[i] * win[i];
    }
  }
  for (size_t i = 0; i < n; i++)
    e_out += acc[i] / wsum[i] * (acc[i] / wsum[i]);
  {
    double k = e_out > 0 ? sqrt (e_in / e_out) : 0.0;
    for (size_t i = 0; i < n; i++)
      x[i] = (float) (k * acc[i] / wsum[i]);
  }
  rc = 0;
done:
  fftw_free (fr);
  fftw_free (cep);
  fftw_free (spec);
  fftw_free (tmp);
  free (lg);
  free (win);
  free (acc);
  free (wsum);
  return rc;
}
