/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"

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
    } else if (!strcmp (tok, "noise") && nv <= 3) {
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
clar_augment_view (const clar_augment_config *cfg, clar_rng *rng,
                   const float *clip, size_t n, float *out, size_t len)
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
