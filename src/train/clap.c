/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CLAP training of the text tower: loss, backward, AdamW, captions. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "clap.h"
#include "model-private.h"
#include "text-private.h"

/* ---- loss ---- */

/* Softmax cross-entropy of one line of logits z (stride apart) against the
 * target q_k = [pos(k)] / n_pos. Adds w * (p - q) into g (same stride);
 * returns the CE. */
static double
ce_line (const float *z, size_t stride, int n, const int *group, int gi, int self,
         float w, float *g)
{
  double mx = -INFINITY, sum = 0.0, ce = 0.0;
  int n_pos = 0;
  for (int k = 0; k < n; k++)
    if (z[k * stride] > mx)
      mx = z[k * stride];
  for (int k = 0; k < n; k++)
    sum += exp (z[k * stride] - mx);
  for (int k = 0; k < n; k++)
    n_pos += group ? group[k] == gi : k == self;
  for (int k = 0; k < n; k++) {
    int pos = group ? group[k] == gi : k == self;
    double logp = z[k * stride] - mx - log (sum);
    if (pos)
      ce -= logp / n_pos;
    if (g)
      g[k * stride] += (float) (w * (exp (logp) - (pos ? 1.0 / n_pos : 0.0)));
  }
  return ce;
}

double
clar_clap_loss (const float *T, const float *A, int N, int D, float log_scale,
                const int *group, float *dT, float *dA, float *dlog_scale)
{
  float *C, *G;
  double s, loss_r = 0.0, loss_c = 0.0, dls = 0.0;
  if (!T || !A || N < 1 || D < 1 || !isfinite (log_scale) || log_scale > 20.0f)
    return NAN;
  C = malloc ((size_t) N * N * sizeof (float));
  G = calloc ((size_t) N * N, sizeof (float));
  if (!C || !G) {
    free (C);
    free (G);
    return NAN;
  }
  s = exp (log_scale);
  /* C = s * T A^T, row-major [text][audio]. */
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      double dot = 0.0;
      for (int d = 0; d < D; d++)
        dot += (double) T[(size_t) i * D + d] * A[(size_t) j * D + d];
      C[(size_t) i * N + j] = (float) (s * dot);
    }
  /* dLoss/dC: 0.5 * (p - q) / N from each direction. */
  for (int i = 0; i < N; i++)
    loss_r += ce_line (C + (size_t) i * N, 1, N, group, group ? group[i] : 0, i,
        0.5f / N, G + (size_t) i * N);
  for (int j = 0; j < N; j++)
    loss_c += ce_line (C + j, (size_t) N, N, group, group ? group[j] : 0, j,
        0.5f / N, G + j);
  /* C = s * dot: dT = s * G A, dA = s * G^T T, dlog s = sum G .* C. */
  if (dT)
    for (int i = 0; i < N; i++)
      for (int d = 0; d < D; d++) {
        double acc = 0.0;
        for (int j = 0; j < N; j++)
          acc += (double) G[(size_t) i * N + j] * A[(size_t) j * D + d];
        dT[(size_t) i * D + d] = (float) (s * acc);
      }
  if (dA)
    for (int j = 0; j < N; j++)
      for (int d = 0; d < D; d++) {
        double acc = 0.0;
        for (int i = 0; i < N; i++)
          acc += (double) G[(size_t) i * N + j] * T[(size_t) i * D + d];
        dA[(size_t) j * D + d] = (float) (s * acc);
      }
  for (size_t k = 0; k < (size_t) N * N; k++)
    dls += (double) G[k] * C[k];
  if (dlog_scale)
    *dlog_scale = (float) dls;
  free (C);
  free (G);
  return 0.5 * (loss_r / N + loss_c / N);
}

/* ---- tower ---- */

size_t
clar_clap_tower_n_params (const clar_clap_tower *t)
{
  return t ? (size_t) t->params.n_buckets * t->dim + t->out_dim * t->dim + t->out_dim + 1 : 0;
}

static clar_clap_tower *
tower_alloc (const clar_text_params *p, size_t dim, size_t out_dim)
{
  clar_clap_tower *t;
  size_t nE, nW, np;
  if (!p || p->n_buckets < 1 || p->n_buckets > CLAR_TEXT_MAX_BUCKETS || dim < 1
      || dim > CLAR_TEXT_MAX_DIM || out_dim < 1 || out_dim > 65536
      || (p->char_ngram != 0 && (p->char_ngram < 2 || p->char_ngram > 6)))
    return NULL;
  t = calloc (1, sizeof *t);
  if (!t)
    return NULL;
  t->params = *p;
  t->dim = dim;
  t->out_dim = out_dim;
  nE = (size_t) p->n_buckets * dim;
  nW = out_dim * dim;
  np = clar_clap_tower_n_params (t);
  t->E = calloc (nE, sizeof (float));
  t->W = calloc (nW, sizeof (float));
  t->b = calloc (out_dim, sizeof (float));
  t->gE = calloc (nE, sizeof (float));
  t->gW = calloc (nW, sizeof (float));
  t->gb = calloc (out_dim, sizeof (float));
  t->m = calloc (np, sizeof (float));
  t->v = calloc (np, sizeof (float));
  if (!t->E || !t->W || !t->b || !t->gE || !t->gW || !t->gb || !t->m || !t->v) {
    clar_clap_tower_free (t);
    return NULL;
  }
  return t;
}

clar_clap_tower *
clar_clap_tower_new (const clar_text_params *p, size_t dim, size_t out_dim,
                     uint64_t seed)
{
  clar_clap_tower *t = tower_alloc (p, dim, out_dim);
  clar_rng r = { seed * 0x9E3779B97F4A7C15ULL + 12345 };
  double a;
  if (!t)
    return NULL;
  a = 1.0 / sqrt ((double) dim);
  for (size_t i = 0; i < (size_t) p->n_buckets * dim; i++)
    t->E[i] = (float) (clar_rng_gauss (&r) * a);
  for (size_t i = 0; i < out_dim * dim; i++)
    t->W[i] = (float) ((2.0 * clar_rng_uniform (&r) - 1.0) * a);
  t->log_scale = (float) log (1.0 / 0.07);
  return t;
}

clar_clap_tower *
clar_clap_tower_from_text (const clar_text *x)
{
  clar_clap_tower *t;
  if (!x)
    return NULL;
  t = tower_alloc (&x->params, x->dim, x->out_dim);
  if (!t)
    return NULL;
  memcpy (t->E, x->embedding, (size_t) x->params.n_buckets * x->dim * sizeof (float));
  memcpy (t->W, x->weight, x->out_dim * x->dim * sizeof (float));
  memcpy (t->b, x->bias, x->out_dim * sizeof (float));
  t->log_scale = (float) log (x->logit_scale);
  t->expand = x->expand;
  t->ex = x->ex;
  return t;
}

void
clar_clap_tower_free (clar_clap_tower *t)
{
  if (!t)
    return;
  free (t->E); free (t->W); free (t->b);
  free (t->gE); free (t->gW); free (t->gb);
  free (t->m); free (t->v);
  free (t);
}

int
clar_clap_tower_forward (const clar_clap_tower *t, const clar_clap_texts *x,
                         float *T, float *H, float *unorm)
{
  if (!t || !x || !x->ids || !x->offsets || x->n < 1 || !T || !H || !unorm)
    return CLAR_ERR_INVALID_ARGUMENT;
  for (int i = 0; i < x->n; i++) {
    size_t a = x->offsets[i], e = x->offsets[i + 1];
    float *u = T + (size_t) i * t->out_dim;
    double ss = 0.0;
    if (e <= a)
      return CLAR_ERR_INVALID_ARGUMENT;
    for (size_t k = a; k < e; k++)
      if (x->ids[k] >= t->params.n_buckets)
        return CLAR_ERR_INVALID_ARGUMENT;
    if (x->weights) {
      double ws = 0.0;
      for (size_t k = a; k < e; k++) {
        if (!(x->weights[k] >= 0.0f) || !isfinite (x->weights[k]))
          return CLAR_ERR_INVALID_ARGUMENT;
        ws += x->weights[k];
      }
      if (!(ws > 0.0))
        return CLAR_ERR_INVALID_ARGUMENT;
    }
    clar_text_forward_ids (t->E, t->W, t->b, t->dim, t->out_dim, x->ids + a,
        x->weights ? x->weights + a : NULL, e - a, H + (size_t) i * t->dim, u);
    for (size_t o = 0; o < t->out_dim; o++)
      ss += (double) u[o] * u[o];
    if (!(ss > 0.0) || !isfinite (ss))
      return CLAR_ERR_NONFINITE;
    unorm[i] = (float) sqrt (ss);
    for (size_t o = 0; o < t->out_dim; o++)
      u[o] = (float) (u[o] / unorm[i]);
  }
  return CLAR_OK;
}

void
clar_clap_tower_zero_grad (clar_clap_tower *t)
{
  if (!t)
    return;
  memset (t->gE, 0, (size_t) t->params.n_buckets * t->dim * sizeof (float));
  memset (t->gW, 0, t->out_dim * t->dim * sizeof (float));
  memset (t->gb, 0, t->out_dim * sizeof (float));
  t->g_log_scale = 0.0f;
}

void
clar_clap_tower_backward (clar_clap_tower *t, const clar_clap_texts *x,
                          const float *T, const float *H, const float *unorm,
                          const float *dT)
{
  float *du, *dh;
  if (!t || !x || !T || !H || !unorm || !dT)
    return;
  du = malloc (t->out_dim * sizeof (float));
  dh = malloc (t->dim * sizeof (float));
  if (!du || !dh) {
    free (du);
    free (dh);
    return;
  }
  for (int i = 0; i < x->n; i++) {
    const float *ti = T + (size_t) i * t->out_dim, *gi = dT + (size_t) i * t->out_dim;
    const float *h = H + (size_t) i * t->dim;
    size_t a = x->offsets[i], e = x->offsets[i + 1];
    double dot = 0.0;
    /* t = u / |u|: du = (dt - t (t . dt)) / |u|. */
    for (size_t o = 0; o < t->out_dim; o++)
      dot += (double) ti[o] * gi[o];
    for (size_t o = 0; o < t->out_dim; o++)
      du[o] = (float) ((gi[o] - ti[o] * dot) / unorm[i]);
    /* u = W h + b. */
    memset (dh, 0, t->dim * sizeof (float));
    for (size_t o = 0; o < t->out_dim; o++) {
      float *gw = t->gW + o * t->dim;
      const float *w = t->W + o * t->dim;
      t->gb[o] += du[o];
      for (size_t d = 0; d < t->dim; d++) {
        gw[d] += du[o] * h[d];
        dh[d] += du[o] * w[d];
      }
    }
    /* h = sum_k w_k E[id_k] / sum_k w_k: dE[id_k] += dh w_k / sum w. */
    {
      double ws = 0.0;
      for (size_t k = a; k < e; k++)
        ws += x->weights ? x->weights[k] : 1.0f;
      for (size_t k = a; k < e; k++) {
        float *ge = t->gE + (size_t) x->ids[k] * t->dim;
        float f = (float) ((x->weights ? x->weights[k] : 1.0f) / ws);
        for (size_t d = 0; d < t->dim; d++)
          ge[d] += dh[d] * f;
      }
    }
  }
  free (du);
  free (dh);
}

static void
adam_block (float *p, const float *g, float *m, float *v, size_t n, float lr,
            float wd, double bc1, double bc2)
{
  for (size_t i = 0; i < n; i++) {
    m[i] = 0.9f * m[i] + 0.1f * g[i];
    v[i] = 0.999f * v[i] + 0.001f * g[i] * g[i];
    p[i] -= lr * wd * p[i];
    p[i] -= (float) (lr * (m[i] / bc1) / (sqrt (v[i] / bc2) + 1e-8));
  }
}

void
clar_clap_tower_adam (clar_clap_tower *t, float lr, float wd)
{
  size_t nE, nW;
  double bc1, bc2;
  if (!t)
    return;
  nE = (size_t) t->params.n_buckets * t->dim;
  nW = t->out_dim * t->dim;
  t->step++;
  bc1 = 1.0 - pow (0.9, (double) t->step);
  bc2 = 1.0 - pow (0.999, (double) t->step);
  adam_block (t->E, t->gE, t->m, t->v, nE, lr, wd, bc1, bc2);
  adam_block (t->W, t->gW, t->m + nE, t->v + nE, nW, lr, wd, bc1, bc2);
  adam_block (t->b, t->gb, t->m + nE + nW, t->v + nE + nW, t->out_dim, lr, 0.0f, bc1, bc2);
  adam_block (&t->log_scale, &t->g_log_scale, t->m + nE + nW + t->out_dim,
      t->v + nE + nW + t->out_dim, 1, lr, 0.0f, bc1, bc2);
  /* CLIP (Radford et al. 2021, sec. 2.5) clips the logit scale at 100. */
  if (t->log_scale > (float) log (100.0))
    t->log_scale = (float) log (100.0);
  if (t->log_scale < 0.0f)
    t->log_scale = 0.0f;
}

int
clar_clap_tower_save (const clar_clap_tower *t, const clar_model *model,
                      const char *const *extra, const char *path, clar_error *err)
{
  clar_st_writer *w;
  const clar_st_file *st;
  int rc = CLAR_OK;
  if (!t || !model || !path)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_clap_tower_save: NULL argument");
  if (t->out_dim != clar_model_get_info (model)->embedding_dim)
    return clar_set_error (err, CLAR_ERR_DIMENSION_MISMATCH,
        "the text tower projects to %zu values, the model's embedding has %zu",
        t->out_dim, clar_model_get_info (model)->embedding_dim);
  w = clar_st_writer_new ();
  if (!w)
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  st = model->st;
  for (size_t i = 0; i < clar_st_n_metadata (st) && rc == CLAR_OK; i++) {
    const char *k, *v;
    clar_st_metadata_at (st, i, &k, &v);
    if (strncmp (k, "clar.text.", 10) != 0)
      rc = clar_st_writer_set_metadata (w, k, v);
  }
  for (size_t i = 0; i < clar_st_n_tensors (st) && rc == CLAR_OK; i++) {
    const clar_st_tensor *x = clar_st_tensor_at (st, i);
    if (strncmp (x->name, "text.", 5) != 0)
      rc = clar_st_writer_add (w, x->name, x->shape, x->ndim, x->data);
  }
  for (size_t i = 0; extra && extra[i] && extra[i + 1] && rc == CLAR_OK; i += 2)
    rc = clar_st_writer_set_metadata (w, extra[i], extra[i + 1]);
  if (rc == CLAR_OK)
    rc = clar_text_to_writer (w, &t->params, t->expand ? &t->ex : NULL, t->dim, t->out_dim,
        (float) exp (t->log_scale), clar_model_get_fingerprint (model), t->E, t->W, t->b);
  if (rc != CLAR_OK)
    clar_set_error (err, rc, "cannot serialise the model with its text tower: %s", clar_strerror (rc));
  else
    rc = clar_st_writer_save (w, path, err);
  clar_st_writer_free (w);
  return rc;
}

/* ---- captions ---- */

static const char *const gm_programs[128] = {
  /* General MIDI Level 1 sound set (MIDI Manufacturers Association, 1991). */
  "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
  "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet",
  "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone",
  "Tubular Bells", "Dulcimer",
  "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ",
  "Accordion", "Harmonica", "Tango Accordion",
  "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)",
  "Electric Guitar (clean)", "Electric Guitar (muted)", "Overdriven Guitar",
  "Distortion Guitar", "Guitar Harmonics",
  "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass",
  "Slap Bass 1", "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
  "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings",
  "Orchestral Harp", "Timpani",
  "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2",
  "Choir Aahs", "Voice Oohs", "Synth Voice", "Orchestra Hit",
  "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section",
  "Synth Brass 1", "Synth Brass 2",
  "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn",
  "Bassoon", "Clarinet",
  "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi",
  "Whistle", "Ocarina",
  "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)",
  "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
  "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)",
  "Pad 5 (bowed)", "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)",
  "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)",
  "FX 5 (brightness)", "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)",
  "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
  "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom",
  "Synth Drum", "Reverse Cymbal",
  "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring",
  "Helicopter", "Applause", "Gunshot",
};

const char *
clar_gm_program_name (int p)
{
  return p >= 0 && p < 128 ? gm_programs[p] : "";
}

static int
has (const char *s)
{
  return s && *s;
}

clar_clip_kind
clar_clap_clip_kind (const clar_clip_meta *m)
{
  if (!m)
    return CLAR_CLIP_SOUND;
  if (has (m->label) && !strcmp (m->label, "silence"))
    return CLAR_CLIP_SILENCE;
  if (has (m->label) && !strcmp (m->label, "noise"))
    return CLAR_CLIP_NOISE;
  if (has (m->source) && !strncmp (m->source, "fluidsynth", 10))
    return CLAR_CLIP_INSTRUMENT;
  if (has (m->source) && (!strncmp (m->source, "espeak", 6) || !strncmp (m->source, "flite", 5)))
    return CLAR_CLIP_WORD;
  return CLAR_CLIP_SOUND;
}

/* The class name with '_' read as a space. */
static void
class_text (const char *label, char *out, size_t size)
{
  size_t i = 0;
  for (; label && label[i] && i + 1 < size; i++)
    out[i] = label[i] == '_' ? ' ' : label[i];
  out[i] = '\0';
}

/* Program, note and velocity from the data builder's file name
 * "pPPP_nNN_vVVV.wav"; -1 where absent. */
static void
instrument_numbers (const clar_clip_meta *m, int *prog, int *note, int *vel)
{
  const char *base = has (m->path) ? strrchr (m->path, '/') : NULL;
  int p, n, v;
  *prog = *note = *vel = -1;
  base = base ? base + 1 : m->path;
  if (base && sscanf (base, "p%d_n%d_v%d", &p, &n, &v) == 3) {
    *prog = p >= 0 && p < 128 ? p : -1;
    *note = n >= 0 && n < 128 ? n : -1;
    *vel = v >= 1 && v < 128 ? v : -1;
  }
  if (*prog < 0 && has (m->group) && sscanf (m->group, "program%d", &p) == 1 && p >= 0 && p < 128)
    *prog = p;
}

/* Voice facts from "espeak:en-gb-scotland+f2". */
static void
voice_facts (const clar_clip_meta *m, const char **gender, const char **accent)
{
  static const struct { const char *code, *name; } accents[] = {
    /* espeak-ng's English voices (espeak-ng/espeak-ng-data/lang/gmw). */
    { "en-gb-x-gbclan", "Lancastrian English" }, { "en-gb-x-rp", "received pronunciation" },
    { "en-gb-scotland", "Scottish English" }, { "en-gb", "British English" },
    { "en-us", "American English" }, { "en-029", "Caribbean English" },
  };
  const char *v = has (m->source) ? strchr (m->source, ':') : NULL;
  *gender = "male";
  *accent = "English";
  if (!v)
    return;
  v++;
  if (strstr (v, "+f"))
    *gender = "female";
  for (size_t i = 0; i < sizeof accents / sizeof accents[0]; i++)
    if (!strncmp (v, accents[i].code, strlen (accents[i].code))) {
      *accent = accents[i].name;
      break;
    }
}

static const char *
word_speed (const clar_clip_meta *m)
{
  const char *c = has (m->caption) ? strrchr (m->caption, ',') : NULL;
  if (!c)
    return NULL;
  c++;
  while (*c == ' ')
    c++;
  if (!strcmp (c, "slow"))
    return "slowly";
  if (!strcmp (c, "fast"))
    return "fast";
  if (!strcmp (c, "normal"))
    return "at normal speed";
  return NULL;
}

int
clar_clap_n_captions (const clar_clip_meta *m)
{
  switch (clar_clap_clip_kind (m)) {
    case CLAR_CLIP_INSTRUMENT: {
      int p, n, v;
      instrument_numbers (m, &p, &n, &v);
      return p >= 0 && n >= 0 && v >= 0 ? 9 : p >= 0 ? 6 : 3;
    }
    case CLAR_CLIP_WORD:
      return 8;
    case CLAR_CLIP_SOUND:
      return has (m->source) ? 5 : 4;
    case CLAR_CLIP_SILENCE:
    case CLAR_CLIP_NOISE:
      return 4;
  }
  return 1;
}

static int
fmt (char *buf, size_t size, const char *f, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4)))
#endif
  ;

static int
fmt (char *buf, size_t size, const char *f, ...)
{
  va_list ap;
  int n;
  va_start (ap, f);
  n = vsnprintf (buf, size, f, ap);
  va_end (ap);
  return n < 0 || (size_t) n >= size ? -1 : n;
}

int
clar_clap_caption (const clar_clip_meta *m, int k, char *buf, size_t size)
{
  static const char *const notes[12] = { "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#",
    "A", "A#", "B" };
  char cls[128];
  if (!m || !buf || size == 0 || !has (m->label) || k < 0 || k >= clar_clap_n_captions (m))
    return -1;
  class_text (m->label, cls, sizeof cls);
  switch (clar_clap_clip_kind (m)) {
    case CLAR_CLIP_INSTRUMENT: {
      int p, n, v;
      char note[16] = "";
      const char *loud, *range;
      instrument_numbers (m, &p, &n, &v);
      if (n >= 0)
        snprintf (note, sizeof note, "%s%d", notes[n % 12], n / 12 - 1);   /* MIDI 60 = C4 */
      /* The builder's caption names the dynamic ("soft", "medium", "loud");
       * without one, MIDI velocity thirds (below 80 soft, from 110 loud). */
      if (has (m->caption) && strstr (m->caption, ", soft"))
        loud = "soft";
      else if (has (m->caption) && strstr (m->caption, ", medium"))
        loud = "medium";
      else if (has (m->caption) && strstr (m->caption, ", loud"))
        loud = "loud";
      else
        loud = v < 80 ? "soft" : v < 110 ? "medium" : "loud";
      /* Pitch range by MIDI note: below C3 low, from C5 high. */
      range = n < 48 ? "low" : n < 72 ? "middle" : "high";
      switch (k) {
        case 0: return fmt (buf, size, "%s", cls);
        case 1: return fmt (buf, size, "a %s note", cls);
        case 2: return fmt (buf, size, "the sound of a %s", cls);
        case 3: return fmt (buf, size, "%s", gm_programs[p]);
        case 4: return fmt (buf, size, "a %s, a %s instrument", gm_programs[p], cls);
        case 5: return fmt (buf, size, "a musical instrument playing a note");
        case 6: return fmt (buf, size, "a %s %s note", loud, cls);
        case 7: return fmt (buf, size, "a %s-pitched %s note, %s", range, cls, note);
        default: return fmt (buf, size, "a %s note, %s, %s, %s%s", cls, note, loud, gm_programs[p],
                     has (m->caption) && strstr (m->caption, "reverb") ? ", with reverb" : "");
      }
    }
    case CLAR_CLIP_WORD: {
      const char *gender, *accent, *speed = word_speed (m);
      voice_facts (m, &gender, &accent);
      switch (k) {
        case 0: return fmt (buf, size, "%s", cls);
        case 1: return fmt (buf, size, "the word %s", cls);
        case 2: return fmt (buf, size, "someone saying %s", cls);
        case 3: return fmt (buf, size, "a %s voice saying %s", gender, cls);
        case 4: return fmt (buf, size, "the word %s spoken in %s", cls, accent);
        case 5: return speed ? fmt (buf, size, "%s spoken %s", cls, speed)
                             : fmt (buf, size, "the spoken word %s", cls);
        case 6: return fmt (buf, size, "a %s speaker of %s saying %s", gender, accent, cls);
        default: return fmt (buf, size, "speech");
      }
    }
    case CLAR_CLIP_SOUND: {
      char src[64] = "";
      if (has (m->source)) {
        char *dash;
        snprintf (src, sizeof src, "%s", m->source);
        /* Debian package names: "0ad-audio", "megaglest-data" -> the game. */
        if ((dash = strstr (src, "-data")) || (dash = strstr (src, "-audio")))
          *dash = '\0';
      }
      switch (k) {
        case 0: return fmt (buf, size, "%s", cls);
        case 1: return fmt (buf, size, "the sound of %s", cls);
        case 2: return fmt (buf, size, "a %s sound", cls);
        case 3: return fmt (buf, size, "%s sound effect", cls);
        default: return fmt (buf, size, "%s, a sound effect from %s", cls, src);
      }
    }
    case CLAR_CLIP_SILENCE:
      switch (k) {
        case 0: return fmt (buf, size, "silence");
        case 1: return fmt (buf, size, "quiet");
        case 2: return fmt (buf, size, "no sound");
        default: return fmt (buf, size, "near silence, very quiet noise");
      }
    case CLAR_CLIP_NOISE: {
      char color[16] = "white";
      if (has (m->caption) && sscanf (m->caption, "%15[a-z] noise", color) != 1)
        strcpy (color, "white");
      switch (k) {
        case 0: return fmt (buf, size, "noise");
        case 1: return fmt (buf, size, "%s noise", color);
        case 2: return fmt (buf, size, "background noise");
        default: return fmt (buf, size, "a steady hiss of %s noise", color);
      }
    }
  }
  return -1;
}
