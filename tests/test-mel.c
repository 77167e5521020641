/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Log-mel front end against analytic cases and a naive DFT. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <clar/clar.h>
#include "clar-test.h"

#define PI 3.14159265358979323846

static void
test_frame_count (void)
{
  clar_mel_params p = clar_mel_default_params ();
  CHECK_EQ_INT (clar_mel_n_frames (&p, 16000), 101);
  CHECK_EQ_INT (clar_mel_n_frames (&p, 16159), 101);
  CHECK_EQ_INT (clar_mel_n_frames (&p, 16160), 102);
  CHECK_EQ_INT (clar_mel_n_frames (&p, 256), 0);   /* reflect pad needs > n_fft/2 */
  CHECK_EQ_INT (clar_mel_n_frames (&p, 257), 2);
  p.center = 0;
  CHECK_EQ_INT (clar_mel_n_frames (&p, 511), 0);
  CHECK_EQ_INT (clar_mel_n_frames (&p, 512), 1);
  CHECK_EQ_INT (clar_mel_n_frames (&p, 16000), 1 + (16000 - 512) / 160);
}

/* Naive reference: reflect pad, periodic Hann, O(N^2) DFT, filterbank, log. */
static void
naive_logmel (const clar_mel_params *p, const float *fb, const float *x, size_t n,
              size_t t, float *col)
{
  int nf = p->n_fft, K = nf / 2 + 1, left = (nf - p->win_length) / 2;
  double *pw = calloc ((size_t) K, sizeof (double));
  for (int k = 0; k < K; k++) {
    double re = 0, im = 0;
    for (int i = 0; i < nf; i++) {
      long idx = (long) (t * p->hop_length) + i - nf / 2;
      double w = 0, v;
      if (idx < 0) idx = -idx;
      if (idx >= (long) n) idx = 2 * ((long) n - 1) - idx;
      v = x[idx];
      if (i >= left && i < left + p->win_length)
        w = 0.5 - 0.5 * cos (2 * PI * (i - left) / p->win_length);
      re += v * w * cos (2 * PI * k * i / nf);
      im -= v * w * sin (2 * PI * k * i / nf);
    }
    pw[k] = re * re + im * im;
  }
  for (int m = 0; m < p->n_mels; m++) {
    double s = 0;
    for (int k = 0; k < K; k++)
      s += fb[m * K + k] * pw[k];
    col[m] = (float) log (s + p->log_offset);
  }
  free (pw);
}

static void
test_naive_dft (void)
{
  clar_mel_params p = clar_mel_default_params ();
  size_t n = 3000, T = clar_mel_n_frames (&p, n);
  int K = p.n_fft / 2 + 1;
  float *x = malloc (n * sizeof (float)), *out = malloc ((size_t) p.n_mels * T * sizeof (float));
  float *fb = malloc ((size_t) p.n_mels * K * sizeof (float)), col[64];
  uint32_t s = 1;
  clar_mel *mel = clar_mel_new (&p, NULL, NULL);
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    x[i] = ((float) (s >> 8) / 16777216.0f - 0.5f) * 0.5f;
  }
  clar_mel_filterbank_htk (&p, fb);
  CHECK_EQ_INT (clar_mel_compute (mel, x, n, out, T), CLAR_OK);
  /* First, last and a middle frame: the reflect-padded edges matter most. */
  size_t frames[3] = { 0, T / 2, T - 1 };
  for (int f = 0; f < 3; f++) {
    naive_logmel (&p, fb, x, n, frames[f], col);
    for (int m = 0; m < p.n_mels; m++) {
      double d = fabs (out[(size_t) m * T + frames[f]] - col[m]);
      if (d > worst)
        worst = d;
    }
  }
  printf ("naive DFT: max abs log-mel diff %.3g\n", worst);
  CHECK (worst < 1e-4);
  clar_mel_free (mel);
  free (x); free (out); free (fb);
}

static void
test_tone_lands_in_band (void)
{
  clar_mel_params p = clar_mel_default_params ();
  int K = p.n_fft / 2 + 1;
  size_t n = 16000, T = clar_mel_n_frames (&p, n);
  float *x = malloc (n * sizeof (float)), *out = malloc ((size_t) p.n_mels * T * sizeof (float));
  float *fb = malloc ((size_t) p.n_mels * K * sizeof (float));
  clar_mel *mel = clar_mel_new (&p, NULL, NULL);
  const double freqs[] = { 200, 440, 1000, 2500, 6000 };
  clar_mel_filterbank_htk (&p, fb);
  for (size_t q = 0; q < sizeof freqs / sizeof freqs[0]; q++) {
    int best = 0, expect_band = 0;
    double bw = -1;
    for (size_t i = 0; i < n; i++)
      x[i] = (float) (0.5 * sin (2 * PI * freqs[q] * i / p.sample_rate));
    clar_mel_compute (mel, x, n, out, T);
    for (int m = 0; m < p.n_mels; m++)
      if (out[(size_t) m * T + T / 2] > out[(size_t) best * T + T / 2])
        best = m;
    /* The band whose filter weighs the tone's FFT bin the most. */
    int bin = (int) lround (freqs[q] * p.n_fft / p.sample_rate);
    for (int m = 0; m < p.n_mels; m++)
      if (fb[m * K + bin] > bw) {
        bw = fb[m * K + bin];
        expect_band = m;
      }
    CHECK_MSG (abs (best - expect_band) <= 1, "%g Hz: loudest band %d, expected %d", freqs[q], best, expect_band);
  }
  clar_mel_free (mel);
  free (x); free (out); free (fb);
}

static void
test_silence_is_floor (void)
{
  clar_mel_params p = clar_mel_default_params ();
  size_t n = 8000, T = clar_mel_n_frames (&p, n);
  float *x = calloc (n, sizeof (float)), *out = malloc ((size_t) p.n_mels * T * sizeof (float));
  clar_mel *mel = clar_mel_new (&p, NULL, NULL);
  CHECK_EQ_INT (clar_mel_compute (mel, x, n, out, T), CLAR_OK);
  for (size_t i = 0; i < (size_t) p.n_mels * T; i++)
    if (out[i] != logf (p.log_offset)) {
      CHECK_MSG (0, "element %zu = %g, expected ln(%g)", i, out[i], p.log_offset);
      break;
    }
  x[100] = NAN;
  out[0] = 123.0f;
  CHECK_EQ_INT (clar_mel_compute (mel, x, n, out, T), CLAR_ERR_NONFINITE);
  CHECK (out[0] == 123.0f);   /* output untouched */
  x[100] = INFINITY;
  CHECK_EQ_INT (clar_mel_compute (mel, x, n, out, T), CLAR_ERR_NONFINITE);
  CHECK_EQ_INT (clar_mel_compute (mel, x, 100, out, 1), CLAR_ERR_INPUT_TOO_SHORT);
  x[100] = 0;
  CHECK_EQ_INT (clar_mel_compute (mel, x, n, out, T + 1), CLAR_ERR_INVALID_ARGUMENT);
  clar_mel_free (mel);
  clar_mel_free (NULL);
  free (x); free (out);
}

static void
test_filterbank_shape (void)
{
  clar_mel_params p = clar_mel_default_params ();
  int K = p.n_fft / 2 + 1;
  float *fb = malloc ((size_t) p.n_mels * K * sizeof (float));
  CHECK_EQ_INT (clar_mel_filterbank_htk (&p, fb), CLAR_OK);
  for (int m = 0; m < p.n_mels; m++) {
    int peak = 0, rising = 1, ok = 1;
    for (int k = 0; k < K; k++) {
      if (fb[m * K + k] < 0 || fb[m * K + k] > 1.0f + 1e-6f) ok = 0;
      if (fb[m * K + k] > fb[m * K + peak]) peak = k;
    }
    /* Triangular: non-decreasing up to the peak, non-increasing after. */
    for (int k = 1; k < K; k++) {
      float d = fb[m * K + k] - fb[m * K + k - 1];
      if (k > peak) rising = 0;
      if ((rising && d < -1e-7f) || (!rising && d > 1e-7f)) ok = 0;
    }
    CHECK_MSG (ok, "band %d is not a triangle in [0,1]", m);
    /* The peak sits near the band's HTK centre frequency. */
    double mmin = 2595 * log10 (1 + p.f_min / 700.0), mmax = 2595 * log10 (1 + p.f_max / 700.0);
    double centre = 700 * (pow (10, (mmin + (mmax - mmin) * (m + 1) / (p.n_mels + 1)) / 2595) - 1);
    CHECK_MSG (fabs (peak * (double) p.sample_rate / p.n_fft - centre) <= p.sample_rate / (double) p.n_fft,
        "band %d peaks at bin %d, centre %g Hz", m, peak, centre);
  }
  free (fb);
}

static void
test_params_validation (void)
{
  clar_mel_params p = clar_mel_default_params ();
  clar_error err;
  CHECK_EQ_INT (clar_mel_params_validate (&p, &err), CLAR_OK);
  p.n_fft = 511;
  CHECK_EQ_INT (clar_mel_params_validate (&p, &err), CLAR_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.message, "n_fft") != NULL);
  p = clar_mel_default_params ();
  p.win_length = 600;
  CHECK (clar_mel_new (&p, NULL, &err) == NULL && strstr (err.message, "win_length"));
  p = clar_mel_default_params ();
  p.f_max = 9000;
  CHECK (clar_mel_new (&p, NULL, &err) == NULL && strstr (err.message, "f_max"));
  p = clar_mel_default_params ();
  p.hop_length = 0;
  CHECK (clar_mel_new (&p, NULL, &err) == NULL && strstr (err.message, "hop_length"));
}

int
main (void)
{
  CLAR_TEST_RUN (test_frame_count);
  CLAR_TEST_RUN (test_naive_dft);
  CLAR_TEST_RUN (test_tone_lands_in_band);
  CLAR_TEST_RUN (test_silence_is_floor);
  CLAR_TEST_RUN (test_filterbank_shape);
  CLAR_TEST_RUN (test_params_validation);
  CLAR_TEST_EXIT ();
}
