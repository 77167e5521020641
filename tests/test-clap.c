/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CLAP training: the symmetric loss against hand-computed 2x2/3x3 cases
 * (diagonal and multi-positive targets), its gradients and the text tower's
 * backward pass against finite differences, AdamW on the tower, the saved
 * model file, and the captions built from manifest metadata. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "clar-test.h"
#include "clap.h"
#include "augment.h"

static void
test_loss_by_hand (void)
{
  const double e = exp (1.0);
  /* Identity pairs, s = 1: C = I, every row/column CE = log(1 + 1/e). */
  {
    float T[4] = { 1, 0, 0, 1 }, A[4] = { 1, 0, 0, 1 }, dls;
    CHECK_CLOSE (clar_clap_loss (T, A, 2, 2, 0.0f, NULL, NULL, NULL, &dls), log (1 + 1 / e), 1e-6);
    /* G = dL/dC = 0.5 (P - I) (both directions alike), dL/dlog s =
     * sum G .* C = 0.5 * 2 * (p_ii - 1) with p_ii = e/(e+1). */
    CHECK_CLOSE (dls, e / (e + 1) - 1, 1e-6);
  }
  /* Swapped pairs: the target sits on the smaller logit, CE = log(1 + e). */
  {
    float T[4] = { 1, 0, 0, 1 }, A[4] = { 0, 1, 1, 0 };
    CHECK_CLOSE (clar_clap_loss (T, A, 2, 2, 0.0f, NULL, NULL, NULL, NULL), log (1 + e), 1e-6);
    /* s = 2 (log_scale = log 2): CE = log(1 + e^2). */
    CHECK_CLOSE (clar_clap_loss (T, A, 2, 2, (float) log (2.0), NULL, NULL, NULL, NULL),
        log (1 + e * e), 1e-5);
  }
  /* 3x3: texts e1, e1, e2 against audio e1, e1, e2 (rows 0 and 1 equal).
   * Rows 0, 1: p = (a, a, b), a = e/(2e+1); row 2: p = (c, c, d), d = e/(e+2).
   * Multi-positive targets (groups 0, 0, 1): CE rows 0, 1 = log(2 + 1/e),
   * row 2 = log(1 + 2/e); the diagonal target gives the same values here
   * (a = a), columns equal rows (C is symmetric). */
  {
    float T[6] = { 1, 0, 1, 0, 0, 1 }, A[6] = { 1, 0, 1, 0, 0, 1 }, dT[6], dA[6], dls;
    int g[3] = { 0, 0, 1 };
    double want = (2 * log (2 + 1 / e) + log (1 + 2 / e)) / 3;
    double a = e / (2 * e + 1), b = 1 / (2 * e + 1), c = 1 / (e + 2), d = e / (e + 2);
    CHECK_CLOSE (clar_clap_loss (T, A, 3, 2, 0.0f, g, dT, dA, &dls), want, 1e-6);
    CHECK_CLOSE (clar_clap_loss (T, A, 3, 2, 0.0f, NULL, NULL, NULL, NULL), want, 1e-6);
    /* G_0j gets (p - q)/6 from row 0 and from column j: G_00 + G_01 =
     * (2a - 1)/3, G_02 = (b + c)/6 with c = 1/(e+2) (column 2 is (c, c, d)),
     * so dT_0 = ((2a - 1)/3, (b + c)/6); dlog s = (2 (2a - 1) + (d - 1)) / 3. */
    CHECK_CLOSE (dT[0], (2 * a - 1) / 3, 1e-6);
    CHECK_CLOSE (dT[1], (b + c) / 6, 1e-6);
    CHECK_CLOSE (dls, (2 * (2 * a - 1) + (d - 1)) / 3, 1e-6);
  }
  /* Where the targets differ: two texts with the same caption (e1, e1)
   * against different audio (e1, e2), a = e/(e+1). Both targets give the
   * loss 0.5 (log(e+1) - 0.5 + log 2), but the multi-positive gradient pulls
   * both texts the same way, dT_i = (a - 1/2)/4 (e1 - e2), while the
   * diagonal target pushes text 1 away from audio 0:
   * dT_0 = (a - 3/2)/4 (e1 - e2), dT_1 = (a + 1/2)/4 (e1 - e2). */
  {
    float T[4] = { 1, 0, 1, 0 }, A[4] = { 1, 0, 0, 1 }, dT[4];
    int g[2] = { 5, 5 };
    double a = e / (e + 1), want = 0.5 * (log (e + 1) - 0.5 + log (2.0));
    CHECK_CLOSE (clar_clap_loss (T, A, 2, 2, 0.0f, g, dT, NULL, NULL), want, 1e-6);
    CHECK_CLOSE (dT[0], (a - 0.5) / 4, 1e-6);
    CHECK_CLOSE (dT[1], -(a - 0.5) / 4, 1e-6);
    CHECK_CLOSE (dT[2], (a - 0.5) / 4, 1e-6);
    CHECK_CLOSE (clar_clap_loss (T, A, 2, 2, 0.0f, NULL, dT, NULL, NULL), want, 1e-6);
    CHECK_CLOSE (dT[0], (a - 1.5) / 4, 1e-6);
    CHECK_CLOSE (dT[1], -(a - 1.5) / 4, 1e-6);
    CHECK_CLOSE (dT[2], (a + 0.5) / 4, 1e-6);
    CHECK_CLOSE (dT[3], -(a + 0.5) / 4, 1e-6);
  }
  /* Invalid arguments. */
  {
    float T[2] = { 1, 0 };
    CHECK (isnan (clar_clap_loss (NULL, T, 1, 2, 0.0f, NULL, NULL, NULL, NULL)));
    CHECK (isnan (clar_clap_loss (T, T, 0, 2, 0.0f, NULL, NULL, NULL, NULL)));
    CHECK (isnan (clar_clap_loss (T, T, 1, 2, NAN, NULL, NULL, NULL, NULL)));
  }
}

static void
unit_rows (float *X, int n, int d, clar_rng *r)
{
  for (int i = 0; i < n; i++) {
    double ss = 0;
    for (int k = 0; k < d; k++) {
      X[i * d + k] = (float) clar_rng_gauss (r);
      ss += X[i * d + k] * X[i * d + k];
    }
    for (int k = 0; k < d; k++)
      X[i * d + k] /= (float) sqrt (ss);
  }
}

static void
test_loss_finite_differences (void)
{
  enum { N = 5, D = 4 };
  clar_rng r = { 42 };
  float T[N * D], A[N * D], dT[N * D], dA[N * D], dls;
  int g[N] = { 0, 1, 0, 2, 3 };
  const float eps = 1e-3f, ls = 1.2f;
  for (int pass = 0; pass < 2; pass++) {
    const int *grp = pass ? g : NULL;
    unit_rows (T, N, D, &r);
    unit_rows (A, N, D, &r);
    clar_clap_loss (T, A, N, D, ls, grp, dT, dA, &dls);
    for (int k = 0; k < N * D; k++) {
      float keep = T[k];
      double lp, lm;
      T[k] = keep + eps; lp = clar_clap_loss (T, A, N, D, ls, grp, NULL, NULL, NULL);
      T[k] = keep - eps; lm = clar_clap_loss (T, A, N, D, ls, grp, NULL, NULL, NULL);
      T[k] = keep;
      CHECK_CLOSE (dT[k], (lp - lm) / (2 * eps), 2e-3);
      keep = A[k];
      A[k] = keep + eps; lp = clar_clap_loss (T, A, N, D, ls, grp, NULL, NULL, NULL);
      A[k] = keep - eps; lm = clar_clap_loss (T, A, N, D, ls, grp, NULL, NULL, NULL);
      A[k] = keep;
      CHECK_CLOSE (dA[k], (lp - lm) / (2 * eps), 2e-3);
    }
    CHECK_CLOSE (dls, (clar_clap_loss (T, A, N, D, ls + eps, grp, NULL, NULL, NULL)
        - clar_clap_loss (T, A, N, D, ls - eps, grp, NULL, NULL, NULL)) / (2 * eps), 2e-3);
  }
}

/* Loss of the whole text side: tower -> unit rows -> CLAP loss. */
static double
tower_loss (clar_clap_tower *t, const clar_clap_texts *x, const float *A, const int *g,
            int backward)
{
  enum { MAXN = 8 };
  float T[MAXN * 6], H[MAXN * 3], un[MAXN], dT[MAXN * 6], dls;
  double l;
  if (clar_clap_tower_forward (t, x, T, H, un) != CLAR_OK)
    return NAN;
  l = clar_clap_loss (T, A, x->n, (int) t->out_dim, t->log_scale, g, dT, NULL, &dls);
  if (backward) {
    clar_clap_tower_zero_grad (t);
    clar_clap_tower_backward (t, x, T, H, un, dT);
    t->g_log_scale = dls;
  }
  return l;
}

static void
test_tower_finite_differences (void)
{
  clar_text_params p = { 3, 11, 3 };
  clar_clap_tower *t = clar_clap_tower_new (&p, 3, 6, 7);
  const char *texts[4] = { "a dog", "the word seven", "dog", "a flute note" };
  uint32_t ids[64];
  size_t off[5] = { 0 };
  float A[4 * 6];
  int g[4] = { 0, 1, 0, 2 };   /* "a dog" and "dog" as one caption */
  clar_rng r = { 9 };
  clar_clap_texts x = { 4, ids, off, NULL };
  const float eps = 1e-3f;
  float *params[3];
  size_t sizes[3];
  CHECK (t != NULL);
  if (!t)
    return;
  for (int i = 0; i < 4; i++) {
    int n = clar_text_features (&p, texts[i], ids + off[i], 64 - off[i]);
    CHECK (n > 0);
    off[i + 1] = off[i] + (size_t) n;
  }
  unit_rows (A, 4, 6, &r);
  tower_loss (t, &x, A, g, 1);
  params[0] = t->E; sizes[0] = 11 * 3;
  params[1] = t->W; sizes[1] = 6 * 3;
  params[2] = t->b; sizes[2] = 6;
  {
    const float *grads[3] = { t->gE, t->gW, t->gb };
    float gcopy[64];
    for (int b = 0; b < 3; b++) {
      memcpy (gcopy, grads[b], sizes[b] * sizeof (float));
      for (size_t k = 0; k < sizes[b]; k++) {
        float keep = params[b][k];
        double lp, lm;
        params[b][k] = keep + eps; lp = tower_loss (t, &x, A, g, 0);
        params[b][k] = keep - eps; lm = tower_loss (t, &x, A, g, 0);
        params[b][k] = keep;
        CHECK_MSG (fabs (gcopy[k] - (lp - lm) / (2 * eps)) <= 2e-3,
            "block %d element %zu: %g vs %g", b, k, gcopy[k], (lp - lm) / (2 * eps));
      }
    }
  }
  /* A few AdamW steps on a fixed batch lower the loss. */
  {
    double l0 = tower_loss (t, &x, A, g, 1), l1;
    for (int s = 0; s < 50; s++) {
      tower_loss (t, &x, A, g, 1);
      clar_clap_tower_adam (t, 0.05f, 0.0f);
    }
    l1 = tower_loss (t, &x, A, g, 0);
    CHECK_MSG (l1 < 0.5 * l0, "loss %g -> %g", l0, l1);
    CHECK (t->log_scale >= 0.0f && t->log_scale <= (float) log (100.0) + 1e-6f);
  }
  /* An id outside the table is refused, not read. */
  {
    float T[24], H[12], un[4];
    ids[0] = 11;
    CHECK_EQ_INT (clar_clap_tower_forward (t, &x, T, H, un), CLAR_ERR_INVALID_ARGUMENT);
  }
  clar_clap_tower_free (t);
  CHECK (clar_clap_tower_new (&p, 0, 6, 1) == NULL);
  clar_clap_tower_free (NULL);
}

static void
test_captions (void)
{
  char buf[256];
  clar_clip_meta inst = { "instruments/flute/p073_n72_v115.wav", "flute", "fluidsynth:FluidR3_GM",
    "program73", "a flute note, C5, loud, General MIDI program 73" };
  clar_clip_meta word = { "words/seven/en-gb-scotland_f2_s0_p1.wav", "seven",
    "espeak:en-gb-scotland+f2", "en-gb-scotland+f2",
    "the word seven spoken by espeak voice en-gb-scotland+f2, slow" };
  clar_clip_meta snd = { "sounds/wild_birds/x.ogg", "wild_birds", "0ad-audio", "g",
    "wild birds (0ad-audio, day_temperate_11.ogg)" };
  clar_clip_meta noise = { "background/noise/noise008.wav", "noise", "sox", "noise3",
    "brown noise background" };
  clar_clip_meta sil = { "background/silence/s.wav", "silence", "sox", "", "" };
  CHECK_EQ_INT (clar_clap_clip_kind (&inst), CLAR_CLIP_INSTRUMENT);
  CHECK_EQ_INT (clar_clap_clip_kind (&word), CLAR_CLIP_WORD);
  CHECK_EQ_INT (clar_clap_clip_kind (&snd), CLAR_CLIP_SOUND);
  CHECK_EQ_INT (clar_clap_clip_kind (&noise), CLAR_CLIP_NOISE);
  CHECK_EQ_INT (clar_clap_clip_kind (&sil), CLAR_CLIP_SILENCE);
  CHECK_EQ_INT (clar_clap_n_captions (&inst), 9);
  CHECK (clar_clap_caption (&inst, 0, buf, sizeof buf) > 0 && !strcmp (buf, "flute"));
  clar_clap_caption (&inst, 3, buf, sizeof buf);
  CHECK (!strcmp (buf, "Flute"));                       /* GM program 73 */
  clar_clap_caption (&inst, 7, buf, sizeof buf);
  CHECK (!strcmp (buf, "a high-pitched flute note, C5"));   /* MIDI 72 = C5 */
  clar_clap_caption (&inst, 8, buf, sizeof buf);
  CHECK (!strcmp (buf, "a flute note, C5, loud, Flute"));
  /* The dynamic comes from the caption when it names one, else from the velocity. */
  inst.caption = "a flute note, C5, medium, with reverb, General MIDI program 73";
  clar_clap_caption (&inst, 8, buf, sizeof buf);
  CHECK (!strcmp (buf, "a flute note, C5, medium, Flute, with reverb"));
  inst.caption = NULL;
  clar_clap_caption (&inst, 6, buf, sizeof buf);
  CHECK (!strcmp (buf, "a loud flute note"));   /* velocity 115 */
  CHECK (!strcmp (clar_gm_program_name (0), "Acoustic Grand Piano"));
  CHECK (!strcmp (clar_gm_program_name (127), "Gunshot"));
  CHECK (!strcmp (clar_gm_program_name (128), ""));
  clar_clap_caption (&word, 3, buf, sizeof buf);
  CHECK (!strcmp (buf, "a female voice saying seven"));
  clar_clap_caption (&word, 4, buf, sizeof buf);
  CHECK (!strcmp (buf, "the word seven spoken in Scottish English"));
  clar_clap_caption (&word, 5, buf, sizeof buf);
  CHECK (!strcmp (buf, "seven spoken slowly"));
  clar_clap_caption (&snd, 1, buf, sizeof buf);
  CHECK (!strcmp (buf, "the sound of wild birds"));
  clar_clap_caption (&snd, 4, buf, sizeof buf);
  CHECK (!strcmp (buf, "wild birds, a sound effect from 0ad"));
  clar_clap_caption (&noise, 1, buf, sizeof buf);
  CHECK (!strcmp (buf, "brown noise"));
  clar_clap_caption (&sil, 0, buf, sizeof buf);
  CHECK (!strcmp (buf, "silence"));
  /* Out of range, too small a buffer, no label. */
  CHECK_EQ_INT (clar_clap_caption (&inst, 9, buf, sizeof buf), -1);
  CHECK_EQ_INT (clar_clap_caption (&inst, 8, buf, 8), -1);
  snd.label = NULL;
  CHECK_EQ_INT (clar_clap_caption (&snd, 0, buf, sizeof buf), -1);
  /* An instrument clip without the builder's file name keeps the family captions. */
  inst.path = "elsewhere.wav";
  inst.group = NULL;
  CHECK_EQ_INT (clar_clap_n_captions (&inst), 3);
}

int
main (void)
{
  CLAR_TEST_RUN (test_loss_by_hand);
  CLAR_TEST_RUN (test_loss_finite_differences);
  CLAR_TEST_RUN (test_tower_finite_differences);
  CLAR_TEST_RUN (test_captions);
  CLAR_TEST_EXIT ();
}
