/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Augmentations: determinism and measured effects. */
#include <math.h>
#include <string.h>

#include <fftw3.h>

#include "clar-test.h"
#include "augment.h"

#define PI 3.14159265358979323846
#define SR 16000

static double
power (const float *x, size_t n)
{
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += (double) x[i] * x[i];
  return s / n;
}

/* Band power of x in [lo, hi) Hz via one big FFT. */
static double
band_power (const float *x, int n, double lo, double hi)
{
  float *in = fftwf_malloc (sizeof (float) * n);
  fftwf_complex *out = fftwf_malloc (sizeof (fftwf_complex) * (n / 2 + 1));
  fftwf_plan p = fftwf_plan_dft_r2c_1d (n, in, out, FFTW_ESTIMATE);
  double s = 0;
  memcpy (in, x, sizeof (float) * n);
  fftwf_execute (p);
  for (int k = (int) (lo * n / SR); k < (int) (hi * n / SR); k++) {
    const float *c = (const float *) &out[k];
    s += (double) c[0] * c[0] + (double) c[1] * c[1];
  }
  fftwf_destroy_plan (p);
  fftwf_free (in);
  fftwf_free (out);
  return s;
}

static void
test_noise_snr_and_colour (void)
{
  enum { N = 1 << 16 };
  static float x[N], y[N];
  clar_rng r = { 7 };
  const char *names[3] = { "white", "pink", "brown" };
  /* Expected change of octave-band power per octave: +3 dB (white PSD flat),
   * 0 dB (pink, -3 dB/octave PSD), -3 dB (brown, -6 dB/octave PSD). */
  const double expect[3] = { 3.0, 0.0, -3.0 };
  for (int c = 0; c < 3; c++) {
    double slope = 0;
    for (int i = 0; i < N; i++)
      x[i] = (float) (0.3 * sin (2 * PI * 440 * i / SR));
    memcpy (y, x, sizeof x);
    clar_add_noise (y, N, (clar_noise_color) c, 12.0, &r);
    for (int i = 0; i < N; i++)
      y[i] -= x[i];
    double snr = 10 * log10 (power (x, N) / power (y, N));
    CHECK_MSG (fabs (snr - 12.0) < 0.5, "%s: SNR %.2f dB, asked 12", names[c], snr);
    for (double f = 250; f < 4000; f *= 2)
      slope += 10 * log10 (band_power (y, N, 2 * f, 4 * f) / band_power (y, N, f, 2 * f));
    slope /= 4;
    printf ("%s noise: SNR %.2f dB, octave-band slope %+.2f dB/octave (expect %+.0f)\n",
        names[c], snr, slope, expect[c]);
    CHECK_MSG (fabs (slope - expect[c]) < 1.0, "%s slope %.2f", names[c], slope);
  }
}

static void
test_pitch_shift_ratio (void)
{
  enum { N = 16000 };
  static float x[N], y[N];
  double ratio = pow (2.0, 2.0 / 12);   /* +2 semitones */
  int zc_x = 0, zc_y = 0;
  for (int i = 0; i < N; i++)
    x[i] = (float) sin (2 * PI * 500 * i / SR + 0.1);
  clar_resample_linear (x, N, ratio, 0, y, (size_t) (N / ratio) - 2);
  for (int i = 1; i < N; i++)
    zc_x += (x[i - 1] < 0) != (x[i] < 0);
  for (int i = 1; i < (int) (N / ratio) - 2; i++)
    zc_y += (y[i - 1] < 0) != (y[i] < 0);
  double fx = zc_x / 2.0, fy = zc_y / 2.0 / ((N / ratio - 2) / SR);
  printf ("pitch +2 semitones: %.1f Hz -> %.1f Hz (ratio %.4f, expected %.4f)\n", fx, fy, fy / fx, ratio);
  CHECK (fabs (fy / fx - ratio) < 0.01);
}

static void
test_time_stretch (void)
{
  /* Rate 1.25: a 0.64 s stretch of a 1 s tone keeps its frequency, and the
   * output covers 1.25x as much input (checked on a chirp's end frequency). */
  enum { N = 16000, L = 8000 };
  static float x[N], y[L];
  int zx = 0, zy = 0;
  for (int i = 0; i < N; i++)
    x[i] = (float) sin (2 * PI * 700 * i / SR);
  clar_time_stretch (x, N, 1.25, 0, y, L);
  for (int i = 2000; i < L - 1000; i++)
    zy += (y[i - 1] < 0) != (y[i] < 0);
  for (int i = 2000; i < L - 1000; i++)
    zx += (x[i - 1] < 0) != (x[i] < 0);
  printf ("time stretch x1.25: zero crossings %d vs %d in the same span\n", zy, zx);
  CHECK (abs (zy - zx) <= zx / 50 + 2);
  /* Amplitude is preserved away from the edges (COLA normalisation). */
  {
    double p = 0;
    for (int i = 2000; i < L - 1000; i++)
      p += (double) y[i] * y[i];
    p /= (L - 3000);
    printf ("time stretch x1.25: sine power %.3f (input 0.5)\n", p);
    CHECK_MSG (fabs (p - 0.5) < 0.05, "power %g", p);
  }
  /* Position: at output sample t the grain reads input near 1.25 t. */
  for (int i = 0; i < N; i++)
    x[i] = (float) i / N;    /* a ramp: its value encodes the position */
  clar_time_stretch (x, N, 1.25, 0, y, L);
  CHECK_CLOSE (y[4000], 1.25 * 4000 / N, 0.02);
}

static void
test_fade_mask_determinism (void)
{
  float x[1000], a[1600], b[1600];
  clar_augment_config c = clar_augment_default ();
  clar_rng r1 = { 42 }, r2 = { 42 }, r3 = { 43 };
  for (int i = 0; i < 1000; i++)
    x[i] = 1.0f;
  clar_fade (x, 1000, 100, 200);
  CHECK (x[0] == 0.0f && x[999] == 0.0f && x[500] == 1.0f);
  CHECK (x[50] > 0.0f && x[50] < 1.0f);
  for (int i = 0; i < 1000; i++)
    x[i] = 1.0f;
  clar_time_mask (x, 1000, 300, 50);
  CHECK (x[299] == 1.0f && x[300] == 0.0f && x[349] == 0.0f && x[350] == 1.0f);
  clar_time_mask (x, 1000, 990, 100);   /* clipped at the end */
  CHECK (x[999] == 0.0f && x[989] == 1.0f);
  for (int i = 0; i < 1000; i++)
    x[i] = (float) sin (i * 0.05);
  /* Same seed, same view; another seed, another view; views of a short
   * clip are zero outside the clip. */
  c.p_pitch = c.p_noise = c.p_fade = c.p_mask = c.p_gain = c.p_stretch = 1.0f;
  clar_augment_view (&c, &r1, x, 1000, a, 1600);
  clar_augment_view (&c, &r2, x, 1000, b, 1600);
  CHECK (memcmp (a, b, sizeof a) == 0);
  clar_augment_view (&c, &r3, x, 1000, b, 1600);
  CHECK (memcmp (a, b, sizeof a) != 0);
  {
    clar_augment_config none = clar_augment_none ();
    clar_rng r = { 5 };
    int zeros = 0;
    clar_augment_view (&none, &r, x, 1000, a, 1600);
    for (int i = 0; i < 1600; i++)
      zeros += a[i] == 0.0f;
    CHECK (zeros >= 599);   /* 600 samples of padding around the clip */
  }
  {
    clar_augment_config p = clar_augment_default ();
    CHECK_EQ_INT (clar_augment_parse ("noise=1:0:10,pitch=0", &p), 0);
    CHECK (p.p_noise == 1.0f && p.snr_max_db == 10.0f && p.p_pitch == 0.0f);
    CHECK_EQ_INT (clar_augment_parse ("bogus=1", &p), -1);
    CHECK_EQ_INT (clar_augment_parse ("noise=2", &p), -1);
  }
}

int
main (void)
{
  CLAR_TEST_RUN (test_noise_snr_and_colour);
  CLAR_TEST_RUN (test_pitch_shift_ratio);
  CLAR_TEST_RUN (test_time_stretch);
  CLAR_TEST_RUN (test_fade_mask_determinism);
  CLAR_TEST_EXIT ();
}
