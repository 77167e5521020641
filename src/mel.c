/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Log-mel front end. Matches torchaudio.transforms.MelSpectrogram (torch.stft
 * with center=True, pad_mode="reflect", a periodic Hann window of win_length
 * centred in n_fft, power 2) and torchaudio.functional.melscale_fbanks
 * (mel_scale="htk", norm=None), followed by ln(x + log_offset).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <fftw3.h>

#include <clar/mel.h>
#include "model-private.h"
#include "stream-private.h"
#include "vecmath.h"
#include "fftw-lock.h"

#define CLAR_PI 3.14159265358979323846

/* FFTW's planner is not thread-safe (FFTW manual, "Thread safety"): plan
 * creation and destruction are serialised. This lock is libclar's only
 * process-wide state. */
static pthread_mutex_t planner_lock = PTHREAD_MUTEX_INITIALIZER;

void
clar_fftw_planner_lock (void)
{
  pthread_mutex_lock (&planner_lock);
}

void
clar_fftw_planner_unlock (void)
{
  pthread_mutex_unlock (&planner_lock);
}

struct clar_mel {
  clar_mel_params p;
  int n_freqs;             /* n_fft/2 + 1 */
  float *fb;               /* n_mels x n_freqs */
  /* The frame's FFT runs in double: a float32 FFT spreads rounding of about
   * 1e-7 of the frame's peak over every bin, which in bands 60-90 dB below
   * the peak is 1e-3 in the log (ln magnifies it); in double it is 1e-16.
   * With FFTW_ESTIMATE the double r2c of size 512 is about as fast as the
   * float one on AVX-512; the conversions cost the log-mel ~5% in all
   * (bench/bench-infer mel_ms: 0.085 ms before, 0.089-0.093 ms after).
   * The window is double too, or its float rounding would add
   * the same error back. */
  double *window;          /* n_fft, Hann of win_length centred, zeros around */
  double *fft_in;          /* n_fft, fftw_malloc'd */
  fftw_complex *fft_out;   /* n_freqs */
  fftw_plan plan;
  float *padded;           /* reflect-padded signal, grows */
  float *part;             /* clar_mel_compute_except's frames, grows */
  size_t part_cap;
  size_t padded_cap;
  float *power;            /* n_frames x n_freqs, grows */
  size_t power_cap;
  int *fb_lo, *fb_hi;      /* per band, the nonzero bins [lo, hi) of fb */
};

clar_mel_params
clar_mel_default_params (void)
{
  clar_mel_params p;
  p.sample_rate = 16000;
  p.n_fft = 512;
  p.win_length = 400;
  p.hop_length = 160;
  p.n_mels = 64;
  p.f_min = 50.0f;
  p.f_max = 8000.0f;
  p.log_offset = 1e-6f;
  p.center = 1;
  return p;
}

int
clar_mel_params_validate (const clar_mel_params *p, clar_error *err)
{
  if (!p)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "mel parameters are NULL");
  if (p->sample_rate < 1000 || p->sample_rate > 384000)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "sample_rate %d Hz is outside 1000..384000", p->sample_rate);
  if (p->n_fft < 16 || p->n_fft > 65536 || p->n_fft % 2)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "n_fft %d must be even and within 16..65536", p->n_fft);
  if (p->win_length < 2 || p->win_length > p->n_fft)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "win_length %d must be within 2..n_fft (%d)", p->win_length, p->n_fft);
  if (p->hop_length < 1 || p->hop_length > 65536)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "hop_length %d must be within 1..65536", p->hop_length);
  if (p->n_mels < 1 || p->n_mels > 512)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "n_mels %d must be within 1..512", p->n_mels);
  if (!isfinite (p->f_min) || !isfinite (p->f_max) || p->f_min < 0.0f
      || p->f_max <= p->f_min || p->f_max > p->sample_rate / 2.0f + 1e-3f)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "need 0 <= f_min (%g) < f_max (%g) <= sample_rate/2 (%g)",
        p->f_min, p->f_max, p->sample_rate / 2.0);
  if (!isfinite (p->log_offset) || p->log_offset <= 0.0f)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "log_offset %g must be finite and > 0", p->log_offset);
  if (p->center != 0 && p->center != 1)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "center must be 0 or 1");
  return CLAR_OK;
}

size_t
clar_mel_n_frames (const clar_mel_params *p, size_t n)
{
  if (!p || p->hop_length < 1 || p->n_fft < 2)
    return 0;
  if (p->center) {
    /* torch.stft reflect padding needs pad < input length. */
    if (n <= (size_t) (p->n_fft / 2))
      return 0;
    return 1 + n / (size_t) p->hop_length;
  }
  if (n < (size_t) p->n_fft)
    return 0;
  return 1 + (n - (size_t) p->n_fft) / (size_t) p->hop_length;
}

/* HTK mel scale (torchaudio _hz_to_mel / _mel_to_hz, mel_scale="htk"):
 * m = 2595 log10(1 + f/700). */
static double hz_to_mel (double f) { return 2595.0 * log10 (1.0 + f / 700.0); }
static double mel_to_hz (double m) { return 700.0 * (pow (10.0, m / 2595.0) - 1.0); }

int
clar_mel_filterbank_htk (const clar_mel_params *p, float *out)
{
  int n_freqs, n_mels;
  double m_min, m_max, *f_pts;
  if (clar_mel_params_validate (p, NULL) != CLAR_OK || !out)
    return CLAR_ERR_INVALID_ARGUMENT;
  n_freqs = p->n_fft / 2 + 1;
  n_mels = p->n_mels;
  f_pts = malloc ((size_t) (n_mels + 2) * sizeof (double));
  if (!f_pts)
    return CLAR_ERR_NO_MEMORY;
  m_min = hz_to_mel (p->f_min);
  m_max = hz_to_mel (p->f_max);
  for (int i = 0; i < n_mels + 2; i++)
    f_pts[i] = mel_to_hz (m_min + (m_max - m_min) * i / (n_mels + 1));
  /* torchaudio: all_freqs = linspace(0, sample_rate // 2, n_freqs);
   * fb[f, m] = max(0, min(-(f_pts[m] - f)/(f_pts[m+1]-f_pts[m]),
   *                       (f_pts[m+2] - f)/(f_pts[m+2]-f_pts[m+1]))). */
  for (int m = 0; m < n_mels; m++) {
    double lo = f_pts[m], mid = f_pts[m + 1], hi = f_pts[m + 2];
    for (int k = 0; k < n_freqs; k++) {
      double f = (double) (p->sample_rate / 2) * k / (n_freqs - 1);
      double down = (f - lo) / (mid - lo);
      double up = (hi - f) / (hi - mid);
      double v = down < up ? down : up;
      out[(size_t) m * n_freqs + k] = v > 0.0 ? (float) v : 0.0f;
    }
  }
  free (f_pts);
  return CLAR_OK;
}

void
clar_mel_free (clar_mel *m)
{
  if (!m)
    return;
  pthread_mutex_lock (&planner_lock);
  if (m->plan)
    fftw_destroy_plan (m->plan);
  fftw_free (m->fft_in);
  fftw_free (m->fft_out);
  pthread_mutex_unlock (&planner_lock);
  free (m->fb);
  free (m->fb_lo);
  free (m->fb_hi);
  free (m->window);
  free (m->padded);
  free (m->part);
  free (m->power);
  free (m);
}

clar_mel *
clar_mel_new (const clar_mel_params *p, const float *filterbank,
              clar_error *err)
{
  clar_mel *m;
  int rc, n_freqs, left;
  if ((rc = clar_mel_params_validate (p, err)) != CLAR_OK)
    return NULL;
  m = calloc (1, sizeof *m);
  if (!m) {
    clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    return NULL;
  }
  m->p = *p;
  n_freqs = m->n_freqs = p->n_fft / 2 + 1;
  m->fb = malloc ((size_t) p->n_mels * n_freqs * sizeof (float));
  m->window = calloc ((size_t) p->n_fft, sizeof (double));
  if (!m->fb || !m->window) {
    clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    clar_mel_free (m);
    return NULL;
  }
  if (filterbank) {
    for (size_t i = 0; i < (size_t) p->n_mels * n_freqs; i++)
      if (!isfinite (filterbank[i])) {
        clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "mel filterbank holds a non-finite value at %zu", i);
        clar_mel_free (m);
        return NULL;
      }
    memcpy (m->fb, filterbank, (size_t) p->n_mels * n_freqs * sizeof (float));
  } else {
    clar_mel_filterbank_htk (p, m->fb);
  }
  /* Triangular filters touch a few bins each (about 2 * n_freqs nonzeros in
   * all, against n_mels * n_freqs for a dense product): the product skips
   * each row's zero ends. Exact for any matrix, since only zeros are skipped. */
  m->fb_lo = malloc ((size_t) p->n_mels * sizeof (int));
  m->fb_hi = malloc ((size_t) p->n_mels * sizeof (int));
  if (!m->fb_lo || !m->fb_hi) {
    clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    clar_mel_free (m);
    return NULL;
  }
  for (int b = 0; b < p->n_mels; b++) {
    const float *row = m->fb + (size_t) b * n_freqs;
    int lo = 0, hi = n_freqs;
    while (lo < hi && row[lo] == 0.0f)
      lo++;
    while (hi > lo && row[hi - 1] == 0.0f)
      hi--;
    m->fb_lo[b] = lo;
    m->fb_hi[b] = hi;
  }
  /* Periodic Hann (torch.hann_window(periodic=True)), zero-padded to n_fft
   * with (n_fft - win_length)/2 zeros on the left, as torch.stft does. */
  left = (p->n_fft - p->win_length) / 2;
  for (int n = 0; n < p->win_length; n++)
    m->window[left + n] = 0.5 - 0.5 * cos (2.0 * CLAR_PI * n / p->win_length);

  pthread_mutex_lock (&planner_lock);
  m->fft_in = fftw_malloc (sizeof (double) * (size_t) p->n_fft);
  m->fft_out = fftw_malloc (sizeof (fftw_complex) * (size_t) n_freqs);
  if (m->fft_in && m->fft_out)
    /* FFTW_ESTIMATE, not FFTW_MEASURE: a measured plan is ~25% faster here
     * (bench/bench-infer) but may differ between runs, and with it the last
     * bits of every embedding; users compare embeddings across runs. */
    m->plan = fftw_plan_dft_r2c_1d (p->n_fft, m->fft_in, m->fft_out, FFTW_ESTIMATE);
  pthread_mutex_unlock (&planner_lock);
  if (!m->plan) {
    clar_set_error (err, m->fft_in ? CLAR_ERR_FFT : CLAR_ERR_NO_MEMORY,
        "cannot create an FFTW r2c plan of size %d", p->n_fft);
    clar_mel_free (m);
    return NULL;
  }
  return m;
}

const clar_mel_params *
clar_mel_get_params (const clar_mel *m)
{
  return m ? &m->p : NULL;
}

/* nT frames from frame t0 of the (padded) signal sig into dst[n_mels][nT]. */
static int
frames_into (clar_mel *m, const float *sig, size_t t0, size_t nT, float *dst)
{
  const clar_mel_params *p = &m->p;
  size_t K = (size_t) m->n_freqs, nf = (size_t) p->n_fft;
  if (clar_grow_floats (&m->power, &m->power_cap, nT * K))
    return CLAR_ERR_NO_MEMORY;
  /* The power spectrum is stored transposed, [K][T], so that the filterbank
   * product runs along time (clar_banded_matmul). */
  for (size_t t = 0; t < nT; t++) {
    clar_window_frame (m->fft_in, sig + (t0 + t) * (size_t) p->hop_length, m->window, nf);
    fftw_execute (m->plan);
    /* fftw_complex may be double[2] or double _Complex (if <complex.h> came
     * first); both have the same layout (FFTW manual 4.1.1). */
    clar_power_column ((const double *) m->fft_out, K, m->power, nT, t);
  }
  /* Each output column depends only on its own power column, summed in the
   * same order whatever nT is: frames computed in pieces are bit-identical
   * to frames computed all at once (tests/test-stream.c checks it). */
  clar_banded_matmul (m->fb, m->fb_lo, m->fb_hi, (size_t) p->n_mels, K, m->power, nT, dst);
  clar_log_offset (dst, (size_t) p->n_mels * nT, p->log_offset);
  return CLAR_OK;
}

/* Checks the arguments and returns the signal frames are cut from (pcm, or
 * its reflect-padded copy). */
static int
prepare_signal (clar_mel *m, const float *pcm, size_t n, float *out, size_t n_frames,
                const float **sig)
{
  const clar_mel_params *p;
  size_t T;
  if (!m || !pcm || !out)
    return CLAR_ERR_INVALID_ARGUMENT;
  p = &m->p;
  T = clar_mel_n_frames (p, n);
  if (T == 0)
    return CLAR_ERR_INPUT_TOO_SHORT;
  if (T != n_frames)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (!clar_all_finite (pcm, n))
    return CLAR_ERR_NONFINITE;
  if (p->center) {
    /* Reflect padding (numpy/torch "reflect": the edge sample is not
     * repeated): x[-i] = x[i], x[n-1+i] = x[n-1-i]. */
    size_t pad = (size_t) p->n_fft / 2;
    if (clar_grow_floats (&m->padded, &m->padded_cap, n + 2 * pad))
      return CLAR_ERR_NO_MEMORY;
    for (size_t i = 0; i < pad; i++)
      m->padded[i] = pcm[pad - i];
    memcpy (m->padded + pad, pcm, n * sizeof (float));
    for (size_t i = 0; i < pad; i++)
      m->padded[pad + n + i] = pcm[n - 2 - i];
    *sig = m->padded;
  } else {
    *sig = pcm;
  }
  return CLAR_OK;
}

int
clar_mel_compute (clar_mel *m, const float *pcm, size_t n, float *out,
                  size_t n_frames)
{
  const float *sig;
  int rc = prepare_signal (m, pcm, n, out, n_frames, &sig);
  if (rc != CLAR_OK)
    return rc;
  return frames_into (m, sig, 0, n_frames, out);
}

int
clar_mel_compute_except (clar_mel *m, const float *pcm, size_t n, float *out,
                         size_t n_frames, size_t keep0, size_t keep1)
{
  const float *sig;
  size_t M;
  int rc;
  if (keep1 > n_frames)
    keep1 = n_frames;
  if (keep0 >= keep1)
    return clar_mel_compute (m, pcm, n, out, n_frames);
  if ((rc = prepare_signal (m, pcm, n, out, n_frames, &sig)) != CLAR_OK)
    return rc;
  M = (size_t) m->p.n_mels;
  for (int part = 0; part < 2; part++) {
    size_t t0 = part ? keep1 : 0, nT = part ? n_frames - keep1 : keep0;
    if (!nT)
      continue;
    if (clar_grow_floats (&m->part, &m->part_cap, M * nT))
      return CLAR_ERR_NO_MEMORY;
    if ((rc = frames_into (m, sig, t0, nT, m->part)) != CLAR_OK)
      return rc;
    for (size_t b = 0; b < M; b++)
      memcpy (out + b * n_frames + t0, m->part + b * nT, nT * sizeof (float));
  }
  return CLAR_OK;
}
