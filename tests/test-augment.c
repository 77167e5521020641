/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Augmentations: determinism and measured effects. */
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

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
    /* A lone MIN without MAX is refused, not silently ignored. */
    CHECK_EQ_INT (clar_augment_parse ("noise=1:5", &p), -1);
  }
}

static void
sine (float *x, int n, double f, double a)
{
  for (int i = 0; i < n; i++)
    x[i] = (float) (a * sin (2 * PI * f * i / SR));
}

/* Power gain in dB of an in-place filter on a sine, after its transient. */
static double
gain_db_of (void (*apply) (float *, int, void *), void *ctx, double f)
{
  enum { N = 1 << 15 };
  static float x[N], y[N];
  sine (x, N, f, 0.5);
  memcpy (y, x, sizeof x);
  apply (y, N, ctx);
  return 10 * log10 (power (y + 4096, N - 4096) / power (x + 4096, N - 4096));
}

typedef struct { clar_biquad_kind kind; double f0, q, g; } bq_ctx;
static void
apply_bq (float *x, int n, void *ctx)
{
  bq_ctx *c = ctx;
  clar_biquad (x, (size_t) n, c->kind, c->f0, c->q, c->g, SR);
}
static void
apply_phone (float *x, int n, void *ctx)
{
  clar_telephone (x, (size_t) n, 0.9);
}

static void
test_biquads (void)
{
  /* RBJ responses: a 2nd-order low-pass is -3 dB at f0 (q = 1/sqrt 2) and
   * falls 12 dB/octave above; the peak filter gives its gain at f0. */
  bq_ctx lp = { CLAR_BIQUAD_LOWPASS, 1000, 0.7071, 0 }, hp = { CLAR_BIQUAD_HIGHPASS, 1000, 0.7071, 0 };
  bq_ctx pk = { CLAR_BIQUAD_PEAK, 2000, 1.0, 9.0 }, cut = { CLAR_BIQUAD_PEAK, 2000, 1.0, -9.0 };
  CHECK_CLOSE (gain_db_of (apply_bq, &lp, 100), 0.0, 0.1);
  CHECK_CLOSE (gain_db_of (apply_bq, &lp, 1000), -3.01, 0.1);
  CHECK (gain_db_of (apply_bq, &lp, 4000) < -22.0);
  CHECK_CLOSE (gain_db_of (apply_bq, &hp, 6000), 0.0, 0.3);
  CHECK (gain_db_of (apply_bq, &hp, 250) < -22.0);
  CHECK_CLOSE (gain_db_of (apply_bq, &pk, 2000), 9.0, 0.1);
  CHECK_CLOSE (gain_db_of (apply_bq, &cut, 2000), -9.0, 0.1);
  CHECK_CLOSE (gain_db_of (apply_bq, &pk, 200), 0.0, 0.3);
}

static void
test_telephone_and_mulaw (void)
{
  /* mu-law: odd, monotonic, 0 -> 0, and (7-bit magnitude code) within
   * 3.5 % relative above -40 dBFS, the companding's point. */
  float prev = -2;
  CHECK (clar_mulaw_roundtrip (0.0f) == 0.0f);
  for (int i = -1000; i <= 1000; i++) {
    float x = i / 1000.0f, y = clar_mulaw_roundtrip (x);
    CHECK (y >= prev);
    prev = y;
    CHECK (clar_mulaw_roundtrip (-x) == -y);
    if (fabsf (x) >= 0.01f)
      CHECK_MSG (fabsf (y - x) <= 0.035f * fabsf (x), "x %g y %g", x, y);
  }
  /* The channel passes speech frequencies and cuts what a telephone line
   * does not carry. */
  CHECK_CLOSE (gain_db_of (apply_phone, NULL, 1000), 0.0, 1.0);
  CHECK (gain_db_of (apply_phone, NULL, 6000) < -30.0);
  CHECK (gain_db_of (apply_phone, NULL, 100) < -15.0);
}

static void
test_reverb_and_mix (void)
{
  enum { N = 32000 };
  static float x[N], y[N], z[N], bg[N];
  clar_rng r1 = { 3 }, r2 = { 3 };
  double tail_short, tail_long;
  /* A 0.25 s burst then silence: the room keeps the energy of the input,
   * leaves a decaying tail, longer for a longer RT60, reproducibly. */
  memset (x, 0, sizeof x);
  sine (x, 4000, 700, 0.5);
  memcpy (y, x, sizeof x);
  memcpy (z, x, sizeof x);
  clar_reverb (y, N, 0.3, 0.8, &r1);
  clar_reverb (z, N, 0.3, 0.8, &r2);
  CHECK (memcmp (y, z, sizeof y) == 0);
  CHECK_CLOSE (power (y, N) / power (x, N), 1.0, 1e-3);
  tail_short = power (y + 6000, 4000);
  CHECK (tail_short > 0);
  CHECK (power (y + 12000, 4000) < tail_short);
  memcpy (z, x, sizeof x);
  clar_rng r3 = { 3 };
  clar_reverb (z, N, 1.0, 0.8, &r3);
  tail_long = power (z + 12000, 4000) / power (z, N);
  CHECK (tail_long > power (y + 12000, 4000) / power (y, N));
  /* Mixing at an SNR: exactly that ratio of powers. */
  sine (x, N, 440, 0.3);
  {
    clar_rng r = { 9 };
    memset (bg, 0, sizeof bg);
    clar_add_noise (bg, N, CLAR_NOISE_PINK, 0.0, &r);
  }
  memcpy (y, x, sizeof x);
  clar_mix_at_snr (y, bg, N, 7.0);
  for (int i = 0; i < N; i++)
    z[i] = y[i] - x[i];
  CHECK_CLOSE (10 * log10 (power (x, N) / power (z, N)), 7.0, 1e-3);
  memset (bg, 0, sizeof bg);   /* silent background: no change */
  memcpy (y, x, sizeof x);
  clar_mix_at_snr (y, bg, N, 7.0);
  CHECK (memcmp (x, y, sizeof x) == 0);
}

static void
test_view_bg_and_spec (void)
{
  static float clip[8000], bg[8000], a[16000], b[16000], mel[64 * 101];
  clar_augment_config c = clar_augment_none ();
  clar_rng r1 = { 1 }, r2 = { 1 };
  sine (clip, 8000, 300, 0.5);
  sine (bg, 8000, 3000, 0.5);
  c.p_mix = 1.0f;
  c.mix_snr_min_db = c.mix_snr_max_db = 0.0f;
  /* With a background clip the 3 kHz tone appears; without, it does not. */
  clar_augment_view_bg (&c, &r1, clip, 8000, bg, 8000, a, 16000);
  clar_augment_view_bg (&c, &r2, clip, 8000, NULL, 0, b, 16000);
  CHECK (band_power (a, 16000, 2900, 3100) > 1e3 * band_power (b, 16000, 2900, 3100) + 1e-9);
  /* SpecAugment: masked bands hold the mean, the rest is untouched; p = 0
   * touches nothing. */
  for (int i = 0; i < 64 * 101; i++)
    mel[i] = (float) (i % 64) - (float) (i / 101);
  {
    static float orig[64 * 101];
    clar_augment_config s = clar_augment_none ();
    clar_rng r = { 4 };
    int changed_rows = 0, partial = 0;
    memcpy (orig, mel, sizeof mel);
    clar_augment_spec (&s, &r, mel, 101, 64);
    CHECK (memcmp (orig, mel, sizeof mel) == 0);
    s.p_fmask = 1.0f;
    s.fmask_max = 8.0f;
    /* One call (a drawn width may be 0: then call again, once per try). */
    for (int k = 0; k < 20 && memcmp (orig, mel, sizeof mel) == 0; k++)
      clar_augment_spec (&s, &r, mel, 101, 64);
    for (int f = 0; f < 64; f++) {
      int diff = 0;
      for (int t = 0; t < 101; t++)
        diff += mel[f * 101 + t] != orig[f * 101 + t];
      changed_rows += diff > 0;
      partial += diff > 0 && mel[f * 101] != mel[f * 101 + 100];
    }
    CHECK (changed_rows >= 1 && changed_rows <= 16);
    CHECK (partial == 0);   /* a masked band is constant over time */
  }
  {
    clar_augment_config p = clar_augment_default ();
    CHECK_EQ_INT (clar_augment_parse ("eq=1:6,phone=0.5,reverb=1:0.8,mix=0.2:0:10,fmask=1:4", &p), 0);
    CHECK (p.p_eq == 1.0f && p.eq_db == 6.0f && p.p_phone == 0.5f && p.rt60_max == 0.8f);
    CHECK (p.p_mix == 0.2f && p.mix_snr_max_db == 10.0f && p.fmask_max == 4.0f);
    CHECK_EQ_INT (clar_augment_parse ("reverb=1:0.01", &p), -1);
    CHECK_EQ_INT (clar_augment_parse ("mix=0.5:3", &p), -1);
  }
}


/* CPU time of this thread: the machine may be busy, wall time would
 * measure the neighbours. */
static double
now_ms (void)
{
  struct timespec t;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* A speech-like test signal: a gliding 120-180 Hz harmonic source through
 * two resonances (700 and 1800 Hz), syllable-rate amplitude, and short
 * noise bursts (fricatives) so the cross-correlation has one clear peak. */
static void
speechlike (float *x, int n, unsigned seed)
{
  clar_rng r = { seed };
  double ph = 0;
  for (int i = 0; i < n; i++) {
    double t = (double) i / SR, f0 = 150 + 30 * sin (2 * PI * 1.3 * t), v = 0;
    ph += 2 * PI * f0 / SR;
    for (int h = 1; h * f0 < 7000; h++) {
      double f = h * f0;
      double a = 1.0 / (1 + pow ((f - 700) / 150, 2)) + 0.6 / (1 + pow ((f - 1800) / 250, 2)) + 0.02;
      v += a * sin (h * ph);
    }
    v *= 0.15 * (0.55 + 0.45 * sin (2 * PI * 4 * t));
    if (fmod (t, 0.5) > 0.40)   /* 100 ms of noise every 0.5 s */
      v = 0.1 * clar_rng_gauss (&r);
    x[i] = (float) v;
  }
}

/* Lag (in [-maxlag, maxlag]) of the normalised cross-correlation peak of y
 * against x: y[i] ~ x[i - lag]. */
static int
xcorr_lag (const float *x, const float *y, int n, int maxlag, double *peak)
{
  int best = 0;
  double bc = -2;
  for (int l = -maxlag; l <= maxlag; l++) {
    double c = 0, ex = 0, ey = 0;
    for (int i = maxlag; i < n - maxlag; i++) {
      c += (double) y[i] * x[i - l];
      ex += (double) x[i - l] * x[i - l];
      ey += (double) y[i] * y[i];
    }
    c /= sqrt (ex * ey) + 1e-30;
    if (c > bc) {
      bc = c;
      best = l;
    }
  }
  *peak = bc;
  return best;
}

static int
all_finite (const float *x, int n)
{
  for (int i = 0; i < n; i++)
    if (!isfinite (x[i]))
      return 0;
  return 1;
}

/* The band GSM's channel keeps, without delay: each biquad forward and
 * backward. */
static void
zero_phase_band (float *x, int n)
{
  for (int pass = 0; pass < 2; pass++) {
    clar_biquad (x, n, CLAR_BIQUAD_HIGHPASS, 300, 0.7071, 0, SR);
    clar_biquad (x, n, CLAR_BIQUAD_LOWPASS, 3400, 0.7071, 0, SR);
    clar_biquad (x, n, CLAR_BIQUAD_LOWPASS, 3600, 0.7071, 0, SR);
    for (int i = 0; i < n / 2; i++) {
      float t = x[i];
      x[i] = x[n - 1 - i];
      x[n - 1 - i] = t;
    }
  }
}

static void
test_codec_roundtrip (void)
{
  enum { N = 22000 };   /* 1.375 s, ending voiced */
  static float x[N], y[N], z[N], d[N];
  /* Bitrate (Opus kbit/s, Vorbis quality) and the accepted band of the
   * waveform SNR, measured on this signal with Debian 12's libopus 1.3.1,
   * libvorbis 1.3.7, libgsm 1.0.22 and widened: a lossy codec at a low rate
   * changes the waveform (SNR well below a 16-bit channel's) but keeps it
   * recognisably (SNR above 0). GSM's SNR is against the band-limited
   * input, which is what it is meant to carry. */
  static const struct { clar_codec c; double param, snr_lo, snr_hi; } cases[] = {
    { CLAR_CODEC_OPUS, 6, 0.5, 15 },
    { CLAR_CODEC_OPUS, 24, 3, 25 },
    { CLAR_CODEC_VORBIS, -0.1, 1, 25 },
    { CLAR_CODEC_GSM, 0, 1, 20 },
  };
  double snr_opus[2] = { 0, 0 };
  speechlike (x, N, 11);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    clar_codec c = cases[k].c;
    const char *name = clar_codec_name (c);
    size_t bytes = 0;
    double peak, snr, t0, ms;
    int lag, rc;
    memcpy (y, x, sizeof x);
    if (!clar_codec_available (c)) {
      /* Not in this build: refused, input untouched. */
      CHECK_EQ_INT (clar_codec_roundtrip (y, N, c, cases[k].param, 0.7, NULL), -1);
      CHECK (memcmp (x, y, sizeof x) == 0);
      printf ("%s: not in this build (skipped)\n", name);
      continue;
    }
    t0 = now_ms ();
    rc = clar_codec_roundtrip (y, N, c, cases[k].param, 0.7, &bytes);
    ms = now_ms () - t0;
    CHECK_EQ_INT (rc, 0);
    CHECK (all_finite (y, N));
    /* Aligned: the correlation peaks at lag 0 (GSM: within its band
     * filters' group delay, under 0.5 ms). */
    lag = xcorr_lag (x, y, N, 400, &peak);
    /* The reference for the SNR: the input (GSM: through the same band
     * filters, without the codec), and the tail is filled too. */
    memcpy (z, x, sizeof x);
    if (c == CLAR_CODEC_GSM)
      zero_phase_band (z, N);
    for (int i = 0; i < N; i++)
      d[i] = y[i] - z[i];
    snr = 10 * log10 (power (z, N) / power (d, N));
    printf ("%s %g: %.1f kbit/s, lag %d samples (peak %.3f), SNR %.1f dB, "
        "last 20 ms at %.2f of the input's power, %.2f ms CPU per clip\n",
        name, cases[k].param, bytes * 8.0 / ((double) N / SR) / 1000, lag, peak, snr,
        power (y + N - 320, 320) / power (z + N - 320, 320), ms);
    CHECK_MSG (abs (lag) <= (c == CLAR_CODEC_GSM ? 8 : 1), "%s lag %d", name, lag);
    CHECK_MSG (peak > 0.7, "%s correlation %.3f", name, peak);
    CHECK_MSG (snr > cases[k].snr_lo && snr < cases[k].snr_hi, "%s %g: SNR %.1f dB outside [%g, %g]",
        name, cases[k].param, snr, cases[k].snr_lo, cases[k].snr_hi);
    /* Length kept: no zeros appended at the end or the start. */
    CHECK (power (y + N - 320, 320) > 0.2 * power (z + N - 320, 320));
    CHECK (power (y, 320) > 0.2 * power (z, 320));
    if (c == CLAR_CODEC_OPUS)
      snr_opus[cases[k].param > 10] = snr;
    /* Deterministic. */
    memcpy (z, x, sizeof x);
    CHECK_EQ_INT (clar_codec_roundtrip (z, N, c, cases[k].param, 0.7, NULL), 0);
    CHECK (memcmp (y, z, sizeof y) == 0);
    /* Silence stays silence; empty and very short clips work; NaN refused. */
    memset (z, 0, sizeof z);
    CHECK_EQ_INT (clar_codec_roundtrip (z, N, c, cases[k].param, 0.7, NULL), 0);
    CHECK (power (z, N) == 0.0);
    CHECK_EQ_INT (clar_codec_roundtrip (z, 0, c, cases[k].param, 0.7, NULL), 0);
    for (int len = 1; len <= 401; len += 100) {
      memcpy (z, x + 4000, len * sizeof (float));
      CHECK_EQ_INT (clar_codec_roundtrip (z, len, c, cases[k].param, 0.7, NULL), 0);
      CHECK (all_finite (z, len));
    }
    memcpy (z, x, sizeof x);
    z[100] = NAN;
    memcpy (d, z, sizeof z);
    CHECK_EQ_INT (clar_codec_roundtrip (z, N, c, cases[k].param, 0.7, NULL), -1);
    CHECK (memcmp (d, z, sizeof z) == 0);
  }
  if (clar_codec_available (CLAR_CODEC_OPUS))
    CHECK_MSG (snr_opus[1] > snr_opus[0], "opus 24 kbit/s %.1f dB vs 6 kbit/s %.1f dB",
        snr_opus[1], snr_opus[0]);
}

/* Pitch by autocorrelation (lag of the highest peak in 2-20 ms, refined
 * by a parabola), in Hz. */
static double
acf_pitch (const float *x, int n)
{
  double best = -1, r[400];
  int bl = 0;
  for (int l = 30; l < 330; l++) {
    double c = 0;
    for (int i = 0; i + l < n; i++)
      c += (double) x[i] * x[i + l];
    r[l - 30] = c;
  }
  for (int l = 31; l < 329; l++)
    best = fmax (best, r[l - 30]);
  /* The first local maximum near the highest: the period, not a multiple. */
  for (int l = 31; l < 329 && !bl; l++)
    if (r[l - 30] >= 0.9 * best && r[l - 30] >= r[l - 31] && r[l - 30] >= r[l - 29])
      bl = l;
  {
    double a = r[bl - 31], b = r[bl - 30], c = r[bl - 29];
    double off = 0.5 * (a - c) / (a - 2 * b + c);
    return SR / (bl + off);
  }
}

static double
centroid (const float *x, int n)
{
  double num = 0, den = 0;
  for (double f = 0; f < 8000; f += 100) {
    double p = band_power (x, n, f, f + 100);
    num += (f + 50) * p;
    den += p;
  }
  return num / den;
}

static void
test_formant_shift (void)
{
  enum { N = 16384 };
  static float x[N], y[N];
  double c0, p0, t0, ms = 0;
  /* A 220 Hz harmonic tone through one resonance at 1200 Hz. */
  for (int i = 0; i < N; i++) {
    double v = 0;
    for (int h = 1; h * 220 < 7800; h++) {
      double f = h * 220;
      v += (1.0 / (1 + pow ((f - 1200) / 300, 2)) + 0.01) * sin (2 * PI * f * i / SR + h);
    }
    x[i] = (float) (0.2 * v);
  }
  c0 = centroid (x, N);
  p0 = acf_pitch (x, N);
  /* Ratio 1 gives the input back (analysis-synthesis is exact). */
  memcpy (y, x, sizeof x);
  CHECK_EQ_INT (clar_formant_shift (y, N, 1.0), 0);
  {
    double e = 0;
    for (int i = 0; i < N; i++)
      e = fmax (e, fabs (y[i] - x[i]));
    CHECK_MSG (e < 1e-4, "ratio 1: max error %g", e);
  }
  for (int k = 0; k < 2; k++) {
    double ratio = k ? 1.0 / 1.3 : 1.3, c, p;
    memcpy (y, x, sizeof x);
    t0 = now_ms ();
    CHECK_EQ_INT (clar_formant_shift (y, N, ratio), 0);
    ms = now_ms () - t0;
    c = centroid (y, N);
    p = acf_pitch (y, N);
    printf ("formant x%.3f: centroid %.0f -> %.0f Hz (x%.2f), pitch %.1f -> %.1f Hz, "
        "power %.4f -> %.4f, %.2f ms per %.2f s clip\n", ratio, c0, c, c / c0, p0, p,
        power (x, N), power (y, N), ms, (double) N / SR);
    CHECK_MSG (fabs (p / p0 - 1) < 0.02, "pitch %.1f vs %.1f", p, p0);
    if (ratio > 1)
      CHECK_MSG (c / c0 > 1.12, "centroid x%.2f", c / c0);
    else
      CHECK_MSG (c / c0 < 0.9, "centroid x%.2f", c / c0);
    CHECK_CLOSE (power (y, N) / power (x, N), 1.0, 1e-3);
    /* The whole length is kept: the edges carry signal. */
    CHECK (power (y, 256) > 0.3 * power (x, 256));
    CHECK (power (y + N - 256, 256) > 0.3 * power (x + N - 256, 256));
    CHECK (all_finite (y, N));
  }
  /* Zeros, short clips, bad ratios, NaN. */
  memset (y, 0, sizeof y);
  CHECK_EQ_INT (clar_formant_shift (y, N, 1.2), 0);
  CHECK (power (y, N) == 0.0);
  CHECK_EQ_INT (clar_formant_shift (y, 0, 1.2), 0);
  for (int len = 1; len <= 601; len += 200) {
    memcpy (y, x, len * sizeof (float));
    CHECK_EQ_INT (clar_formant_shift (y, len, 1.2), 0);
    CHECK (all_finite (y, len));
  }
  memcpy (y, x, sizeof x);
  CHECK_EQ_INT (clar_formant_shift (y, N, 3.0), -1);
  CHECK_EQ_INT (clar_formant_shift (y, N, NAN), -1);
  y[5] = INFINITY;
  CHECK_EQ_INT (clar_formant_shift (y, N, 1.2), -1);
  CHECK (y[6] == x[6]);
}

static void
test_view_codec_formant (void)
{
  static float clip[20000], a[16000], b[16000], c[16000];
  clar_augment_config d = clar_augment_default (), cfg = clar_augment_none ();
  int any_codec = 0;
  double t0, ms;
  /* Off unless named: the default and the documented commands keep the
   * random stream they had before these existed. */
  CHECK (d.p_codec == 0.0f && d.p_formant == 0.0f);
  CHECK_EQ_INT (clar_augment_parse ("codec=0.5:8:16,formant=0.25:1.5", &d), 0);
  CHECK (d.p_codec == 0.5f && d.codec_kbps_min == 8.0f && d.codec_kbps_max == 16.0f);
  CHECK (d.p_formant == 0.25f && d.formant_max == 1.5f);
  CHECK_EQ_INT (clar_augment_parse ("codec=1", &d), 0);
  CHECK (d.p_codec == 1.0f && d.codec_kbps_max == 16.0f);
  CHECK_EQ_INT (clar_augment_parse ("codec=1:8", &d), -1);
  CHECK_EQ_INT (clar_augment_parse ("codec=1:4:16", &d), -1);
  CHECK_EQ_INT (clar_augment_parse ("codec=1:16:8", &d), -1);
  CHECK_EQ_INT (clar_augment_parse ("formant=1:0.8", &d), -1);
  CHECK_EQ_INT (clar_augment_parse ("formant=1:2.5", &d), -1);
  for (int k = 0; k < CLAR_CODEC_COUNT; k++)
    any_codec |= clar_codec_available ((clar_codec) k);
  speechlike (clip, 20000, 5);
  cfg.p_codec = cfg.p_formant = 1.0f;
  cfg.codec_kbps_min = 6.0f;
  cfg.codec_kbps_max = 24.0f;
  cfg.formant_max = 1.25f;
  /* Same seed, same view; it differs from the plain crop. */
  {
    clar_rng r1 = { 77 }, r2 = { 77 }, r3 = { 77 };
    clar_augment_config none = clar_augment_none ();
    t0 = now_ms ();
    clar_augment_view (&cfg, &r1, clip, 20000, a, 16000);
    ms = now_ms () - t0;
    clar_augment_view (&cfg, &r2, clip, 20000, b, 16000);
    CHECK (memcmp (a, b, sizeof a) == 0);
    clar_augment_view (&none, &r3, clip, 20000, c, 16000);
    CHECK (memcmp (a, c, sizeof a) != 0);
    CHECK (all_finite (a, 16000));
    printf ("view with formant + codec (%s): %.2f ms per 1 s view\n",
        any_codec ? "some codec" : "no codec in this build", ms);
  }
  /* Cost per 1 s view of each, over a few seeds (printed, not asserted). */
  for (int k = 0; k < CLAR_CODEC_COUNT + 1; k++) {
    double total = 0;
    if (k < CLAR_CODEC_COUNT && !clar_codec_available ((clar_codec) k))
      continue;
    for (int s = 0; s < 5; s++) {
      memcpy (a, clip, sizeof a);
      t0 = now_ms ();
      if (k < CLAR_CODEC_COUNT)
        clar_codec_roundtrip (a, 16000, (clar_codec) k, k == CLAR_CODEC_VORBIS ? 0.0 : 6 + 4 * s, 0.7, NULL);
      else
        clar_formant_shift (a, 16000, 0.8 + 0.1 * s);
      total += now_ms () - t0;
    }
    printf ("cost: %s %.2f ms per 1 s clip (mean of 5)\n",
        k < CLAR_CODEC_COUNT ? clar_codec_name ((clar_codec) k) : "formant", total / 5);
  }
  {
    /* Beside them: a view with the default augmentations (10 seeds). */
    clar_augment_config def = clar_augment_default ();
    double total = 0;
    for (int s = 0; s < 10; s++) {
      clar_rng r = { (uint64_t) s + 100 };
      t0 = now_ms ();
      clar_augment_view_bg (&def, &r, clip, 20000, clip + 3000, 17000, a, 16000);
      total += now_ms () - t0;
    }
    printf ("cost: default augmentations %.2f ms per 1 s view (mean of 10)\n", total / 10);
  }
}

/* Mixup (Zhang et al. 2018): the parser, the Beta draws behind lambda, and
 * the waveform mix (each source's share of the amplitude is lambda and
 * 1 - lambda whatever their levels; the level of the clip kept; silence
 * never mixed). */
/* KEY=P[:ALPHA] of a batch-level augmentation (mixup, fmix): off by
 * default; P alone keeps the default ALPHA (want_alpha); P and ALPHA set
 * both; ALPHA 0 or 500, P above 1 and a third number are refused. *p and
 * *alpha are the config's fields of KEY. */
static void
check_p_alpha_parse (const char *key, size_t p_off, size_t a_off, float want_alpha)
{
  clar_augment_config d = clar_augment_default ();
  const float *p = (const float *) ((const char *) &d + p_off);
  const float *alpha = (const float *) ((const char *) &d + a_off);
  char spec[64];
  CHECK (*p == 0.0f && *alpha == want_alpha);
  snprintf (spec, sizeof spec, "%s=0.5", key);
  CHECK_EQ_INT (clar_augment_parse (spec, &d), 0);
  CHECK (*p == 0.5f && *alpha == want_alpha);
  snprintf (spec, sizeof spec, "%s=0.25:2", key);
  CHECK_EQ_INT (clar_augment_parse (spec, &d), 0);
  CHECK (*p == 0.25f && *alpha == 2.0f);
  for (int i = 0; i < 4; i++) {
    static const char *const bad[4] = { "1:0", "1:500", "1.5", "1:1:1" };
    snprintf (spec, sizeof spec, "%s=%s", key, bad[i]);
    CHECK_MSG (clar_augment_parse (spec, &d) == -1, "%s accepted", spec);
  }
}

static void
test_mixup (void)
{
  enum { N = 16000, DRAWS = 20000 };
  static float x[N], y[N], m[N], m2[N];
  clar_augment_config d = clar_augment_default ();
  double mean = 0, var = 0, lmin = 1, nmix = 0;
  check_p_alpha_parse ("mixup", offsetof (clar_augment_config, p_mixup),
      offsetof (clar_augment_config, mixup_alpha), 0.4f);
  /* Beta(a, a) has mean 1/2 and variance 1 / (4 (2a + 1)); Beta(2, 5)
   * mean 2/7, variance 10 / (49 * 8). */
  for (int k = 0; k < 3; k++) {
    static const double as[3] = { 0.4, 1.0, 2.0 }, bs[3] = { 0.4, 1.0, 5.0 };
    double a = as[k], b = bs[k], s = 0, s2 = 0, mu = a / (a + b), v = a * b / ((a + b) * (a + b) * (a + b + 1));
    clar_rng r = { 17 + (uint64_t) k };
    for (int i = 0; i < DRAWS; i++) {
      double u = clar_rng_beta (&r, a, b);
      CHECK (u >= 0 && u <= 1);
      s += u;
      s2 += u * u;
    }
    s /= DRAWS;
    s2 = s2 / DRAWS - s * s;
    printf ("  Beta(%.1f, %.1f): mean %.4f (want %.4f), variance %.4f (want %.4f)\n", a, b, s, mu, s2, v);
    /* Standard errors of the mean and variance of 20000 draws are below
     * 0.0026 and 0.002 for these shapes. */
    CHECK_MSG (fabs (s - mu) < 0.01 && fabs (s2 - v) < 0.006, "Beta(%g,%g): %g %g", a, b, s, s2);
  }
  CHECK (isnan (clar_rng_gamma (&(clar_rng) { 1 }, 0.0)));
  /* lambda: 1 (no mix) with probability 1 - p, else in [0.5, 1). */
  d.p_mixup = 0.5f;
  d.mixup_alpha = 0.4f;
  {
    clar_rng r = { 5 };
    for (int i = 0; i < DRAWS; i++) {
      double l = clar_mixup_lambda (&d, &r);
      CHECK (l >= 0.5 && l <= 1.0);
      if (l < 1.0) {
        nmix++;
        lmin = fmin (lmin, l);
        mean += l;
        var += l * l;
      }
    }
  }
  mean /= nmix;
  var = var / nmix - mean * mean;
  /* max(l, 1 - l) of Beta(0.4, 0.4): mean 1/2 + E|l - 1/2|; E|l - 1/2| is
   * 0.3398 for a = 0.4 (numerical integration of the density). */
  printf ("  mixup=0.5:0.4: %.3f of clips mixed, lambda mean %.4f, min %.4f\n", nmix / DRAWS, mean, lmin);
  CHECK (fabs (nmix / DRAWS - 0.5) < 0.015);
  CHECK (lmin >= 0.5 && lmin < 0.52);
  CHECK (fabs (mean - 0.8398) < 0.01);
  {
    clar_augment_config none = clar_augment_none ();
    clar_rng r = { 5 };
    CHECK (clar_mixup_lambda (&none, &r) == 1.0);
  }
  /* The mix: x a 440 Hz tone, y a 3 kHz tone 20 dB louder. After mixing at
   * lambda 0.7, each tone's amplitude share is 0.7 : 0.3 and the power is
   * x's. */
  sine (x, N, 440, 0.1);
  sine (y, N, 3000, 1.0);
  memcpy (m, x, sizeof x);
  CHECK_CLOSE (clar_mixup (m, y, N, 0.7), 0.7, 0);
  CHECK_CLOSE (power (m, N), power (x, N), 1e-3 * power (x, N));
  {
    double lo = band_power (m, N, 300, 600), hi = band_power (m, N, 2800, 3200);
    printf ("  mixup at 0.7: amplitude ratio %.4f (want 0.7 / 0.3 = 2.3333)\n", sqrt (lo / hi));
    CHECK_CLOSE (sqrt (lo / hi), 0.7 / 0.3, 0.01);
  }
  /* Deterministic, and y untouched. */
  memcpy (m2, x, sizeof x);
  clar_mixup (m2, y, N, 0.7);
  CHECK (memcmp (m, m2, sizeof m) == 0);
  /* Silence on either side, or a lambda outside [0, 1): nothing mixed. */
  memset (y, 0, sizeof y);
  memcpy (m, x, sizeof x);
  CHECK (clar_mixup (m, y, N, 0.6) == 1.0 && memcmp (m, x, sizeof x) == 0);
  sine (y, N, 3000, 1.0);
  memset (m, 0, sizeof m);
  CHECK (clar_mixup (m, y, N, 0.6) == 1.0 && power (m, N) == 0);
  memcpy (m, x, sizeof x);
  CHECK (clar_mixup (m, y, N, 1.0) == 1.0 && memcmp (m, x, sizeof x) == 0);
  CHECK (clar_mixup (m, y, N, -0.1) == 1.0 && memcmp (m, x, sizeof x) == 0);
  CHECK (clar_mixup (m, y, N, NAN) == 1.0 && memcmp (m, x, sizeof x) == 0);
}

/* Per-band mean and standard deviation over time (the definition, in
 * double, with the 1e-6 variance floor of augment.h). */
static void
band_moments (const float *x, int T, int F, double *mu, double *sd)
{
  for (int f = 0; f < F; f++) {
    double m = 0, v = 0;
    for (int t = 0; t < T; t++)
      m += x[f * T + t];
    m /= T;
    for (int t = 0; t < T; t++)
      v += (x[f * T + t] - m) * (x[f * T + t] - m);
    mu[f] = m;
    sd[f] = sqrt (v / T + 1e-6);
  }
}

static void
test_freq_mixstyle (void)
{
  enum { T = 50, F = 8, NV = 6 };
  static float x[F * T], y[F * T], z[F * T], b[NV * F * T], b0[NV * F * T];
  double mx[F], sx[F], my[F], sy[F], mz[F], sz[F];
  clar_augment_config d = clar_augment_default ();
  clar_rng r = { 3 };
  int group[NV] = { 0, 1, 2, 0, 1, 2 };
  check_p_alpha_parse ("fmix", offsetof (clar_augment_config, p_fmix),
      offsetof (clar_augment_config, fmix_alpha), 0.3f);
  /* Two "sources": different band levels and spreads. */
  for (int f = 0; f < F; f++)
    for (int t = 0; t < T; t++) {
      x[f * T + t] = (float) (-6 + 0.5 * f + (1 + 0.2 * f) * clar_rng_gauss (&r));
      y[f * T + t] = (float) (-9 - 0.3 * f + (0.5 + 0.1 * f) * clar_rng_gauss (&r));
    }
  band_moments (x, T, F, mx, sx);
  band_moments (y, T, F, my, sy);
  /* lambda 1: x as it is. */
  memcpy (z, x, sizeof z);
  clar_freq_mixstyle (z, y, T, F, 1.0);
  CHECK (!memcmp (z, x, sizeof z));
  /* lambda 0: y's statistics, x's shape (each band an affine map of x's). */
  memcpy (z, x, sizeof z);
  clar_freq_mixstyle (z, y, T, F, 0.0);
  band_moments (z, T, F, mz, sz);
  for (int f = 0; f < F; f++) {
    double g = (sy[f]) / sx[f], worst = 0;
    CHECK_CLOSE (mz[f], my[f], 1e-4);
    CHECK_CLOSE (sz[f], sy[f], 1e-4);
    for (int t = 0; t < T; t++)
      worst = fmax (worst, fabs (z[f * T + t] - ((x[f * T + t] - mx[f]) * g + my[f])));
    CHECK_MSG (worst < 1e-4, "band %d: %g", f, worst);
  }
  /* lambda 0.3: the mixture of the statistics. */
  memcpy (z, x, sizeof z);
  clar_freq_mixstyle (z, y, T, F, 0.3);
  band_moments (z, T, F, mz, sz);
  for (int f = 0; f < F; f++) {
    CHECK_CLOSE (mz[f], 0.3 * mx[f] + 0.7 * my[f], 1e-4);
    CHECK_CLOSE (sz[f], 0.3 * sx[f] + 0.7 * sy[f], 1e-4);
  }
  /* A constant band (silence): finite, moved to the partner's level. */
  memcpy (z, x, sizeof z);
  for (int t = 0; t < T; t++)
    z[t] = -13.8f;
  clar_freq_mixstyle (z, y, T, F, 0.5);
  for (int t = 0; t < T; t++)
    CHECK_CLOSE (z[t], 0.5 * -13.8 + 0.5 * my[0], 1e-3);
  /* The batch: with p 1 every view is mixed with a view of another clip,
   * as that view was; p 0 and a batch of one clip leave it; same seed,
   * same result. */
  for (int v = 0; v < NV; v++)
    for (int i = 0; i < F * T; i++)
      b0[v * F * T + i] = (float) ((v % 3) * -2.0 + (1 + v) * 0.3 * clar_rng_gauss (&r));
  memcpy (b, b0, sizeof b);
  d.p_fmix = 0.0f;
  CHECK_EQ_INT ((int) clar_freq_mixstyle_batch (&d, &r, b, NV, T, F, group, NULL), 0);
  CHECK (!memcmp (b, b0, sizeof b));
  {
    int same[NV] = { 0, 0, 0, 0, 0, 0 };
    d.p_fmix = 1.0f;
    d.fmix_alpha = 0.3f;
    CHECK_EQ_INT ((int) clar_freq_mixstyle_batch (&d, &r, b, NV, T, F, same, NULL), 0);
    CHECK (!memcmp (b, b0, sizeof b));
  }
  {
    clar_rng r1 = { 77 }, r2 = { 77 };
    static float b2[NV * F * T];
    int partners_ok = 1;
    memcpy (b, b0, sizeof b);
    memcpy (b2, b0, sizeof b2);
    CHECK_EQ_INT ((int) clar_freq_mixstyle_batch (&d, &r1, b, NV, T, F, group, NULL), NV);
    clar_freq_mixstyle_batch (&d, &r2, b2, NV, T, F, group, NULL);
    CHECK (!memcmp (b, b2, sizeof b));
    /* Each mixed view's band means lie between its own and those of one
     * view of another clip (l in [0, 1]), never of its own clip's other view. */
    for (int v = 0; v < NV; v++) {
      double mv[F], sv[F], mo[F], so[F];
      int found = 0;
      band_moments (b + v * F * T, T, F, mz, sz);
      band_moments (b0 + v * F * T, T, F, mv, sv);
      for (int u = 0; u < NV && !found; u++) {
        double l = -1;
        int ok = 1;
        if (group[u] == group[v])
          continue;
        band_moments (b0 + u * F * T, T, F, mo, so);
        for (int f = 0; f < F && ok; f++) {
          double lf = fabs (mv[f] - mo[f]) > 1e-6 ? (mz[f] - mo[f]) / (mv[f] - mo[f]) : l;
          if (l < 0)
            l = lf;
          ok = lf >= -1e-4 && lf <= 1 + 1e-4 && fabs (lf - l) < 1e-3
              && fabs (sz[f] - (l * sv[f] + (1 - l) * so[f])) < 1e-3;
        }
        found = ok;
      }
      partners_ok &= found;
    }
    CHECK (partners_ok);
  }
  {
    /* Exempt views stay bit for bit; the others are still mixed, and an
     * exempt view still lends: with every view but one exempt, that one is
     * mixed with an exempt view's statistics. Exempting every view mixes
     * none and draws nothing from the generator. */
    unsigned char ex[NV] = { 1, 0, 1, 0, 1, 0 }, all[NV] = { 1, 1, 1, 1, 1, 1 },
        one[NV] = { 1, 1, 1, 1, 1, 0 };
    clar_rng r1 = { 78 };
    double mv[F], sv[F];
    int moved = 0;
    memcpy (b, b0, sizeof b);
    CHECK_EQ_INT ((int) clar_freq_mixstyle_batch (&d, &r1, b, NV, T, F, group, ex), NV / 2);
    for (int v = 0; v < NV; v++)
      if (ex[v])
        CHECK (!memcmp (b + v * F * T, b0 + v * F * T, F * T * sizeof (float)));
      else
        CHECK (memcmp (b + v * F * T, b0 + v * F * T, F * T * sizeof (float)));
    memcpy (b, b0, sizeof b);
    {
      clar_rng before = r1;
      CHECK_EQ_INT ((int) clar_freq_mixstyle_batch (&d, &r1, b, NV, T, F, group, all), 0);
      CHECK (!memcmp (&before, &r1, sizeof r1));
    }
    CHECK (!memcmp (b, b0, sizeof b));
    CHECK_EQ_INT ((int) clar_freq_mixstyle_batch (&d, &r1, b, NV, T, F, group, one), 1);
    CHECK (!memcmp (b, b0, (NV - 1) * F * T * sizeof (float)));
    band_moments (b + (NV - 1) * F * T, T, F, mz, sz);
    band_moments (b0 + (NV - 1) * F * T, T, F, mv, sv);
    for (int f = 0; f < F; f++)
      moved |= fabs (mz[f] - mv[f]) > 1e-3;
    CHECK (moved);
  }
}

int
main (void)
{
  CLAR_TEST_RUN (test_noise_snr_and_colour);
  CLAR_TEST_RUN (test_pitch_shift_ratio);
  CLAR_TEST_RUN (test_time_stretch);
  CLAR_TEST_RUN (test_fade_mask_determinism);
  CLAR_TEST_RUN (test_biquads);
  CLAR_TEST_RUN (test_telephone_and_mulaw);
  CLAR_TEST_RUN (test_reverb_and_mix);
  CLAR_TEST_RUN (test_view_bg_and_spec);
  CLAR_TEST_RUN (test_codec_roundtrip);
  CLAR_TEST_RUN (test_formant_shift);
  CLAR_TEST_RUN (test_view_codec_formant);
  CLAR_TEST_RUN (test_mixup);
  CLAR_TEST_RUN (test_freq_mixstyle);
  CLAR_TEST_EXIT ();
}
