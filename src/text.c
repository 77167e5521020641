/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The text tower of text.h: hashed word + character n-gram features, mean
 * pooling, linear projection into the audio embedding space. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clar/text.h>
#include "model-private.h"
#include "text-private.h"

/* FNV-1a, 32 bit (Fowler, Noll, Vo; http://www.isthe.com/chongo/tech/comp/fnv/):
 * offset basis 2166136261, prime 16777619. The seed is xor'ed into the
 * basis so a model can pick another hash family. */
static uint32_t
fnv1a (uint32_t seed, const char *prefix, const char *s, size_t n)
{
  uint32_t h = 2166136261u ^ seed;
  for (const char *p = prefix; *p; p++) {
    h ^= (unsigned char) *p;
    h *= 16777619u;
  }
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char) s[i];
    h *= 16777619u;
  }
  return h;
}

static int
is_word_byte (unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
      || c >= 0x80;
}

static int
params_ok (const clar_text_params *p)
{
  return p && p->n_buckets >= 1 && p->n_buckets <= CLAR_TEXT_MAX_BUCKETS
      && (p->char_ngram == 0 || (p->char_ngram >= 2 && p->char_ngram <= 6));
}

int
clar_text_features (const clar_text_params *p, const char *text, uint32_t *ids,
                    size_t max_ids)
{
  /* "<" + word + ">" of a word of at most CLAR_TEXT_MAX_BYTES bytes. */
  char w[CLAR_TEXT_MAX_BYTES + 3];
  size_t len, i = 0, count = 0;

  if (!params_ok (p) || !text || (max_ids && !ids))
    return CLAR_ERR_INVALID_ARGUMENT;
  len = strlen (text);
  if (len > CLAR_TEXT_MAX_BYTES)
    return CLAR_ERR_INVALID_ARGUMENT;
  while (i < len) {
    size_t start, n;
    while (i < len && !is_word_byte ((unsigned char) text[i]))
      i++;
    if (i == len)
      break;
    start = i;
    while (i < len && is_word_byte ((unsigned char) text[i]))
      i++;
    n = i - start;
    w[0] = '<';
    for (size_t k = 0; k < n; k++) {
      unsigned char c = (unsigned char) text[start + k];
      w[1 + k] = (char) (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    w[1 + n] = '>';
    if (count < max_ids)
      ids[count] = fnv1a (p->seed, "w:", w + 1, n) % p->n_buckets;
    count++;
    if (p->char_ngram > 0) {
      size_t g = (size_t) p->char_ngram, total = n + 2;
      /* A word shorter than the n-gram gives one gram: the whole marked word. */
      if (total < g) {
        if (count < max_ids)
          ids[count] = fnv1a (p->seed, "c:", w, total) % p->n_buckets;
        count++;
      } else {
        for (size_t k = 0; k + g <= total; k++) {
          if (count < max_ids)
            ids[count] = fnv1a (p->seed, "c:", w + k, g) % p->n_buckets;
          count++;
        }
      }
    }
  }
  return count > (size_t) 0x7fffffff ? CLAR_ERR_INVALID_ARGUMENT : (int) count;
}

void
clar_text_forward_ids (const float *E, const float *W, const float *b,
                       size_t dim, size_t out_dim, const uint32_t *ids,
                       size_t n_ids, float *h_out, float *u)
{
  float hbuf[256], *h = h_out;
  float *heap = NULL;
  if (!h) {
    if (dim <= 256)
      h = hbuf;
    else if (!(h = heap = malloc (dim * sizeof (float))))
      return;   /* callers pass h for large towers (clar_text_embed does) */
  }
  memset (h, 0, dim * sizeof (float));
  for (size_t k = 0; k < n_ids; k++) {
    const float *row = E + (size_t) ids[k] * dim;
    for (size_t d = 0; d < dim; d++)
      h[d] += row[d];
  }
  if (n_ids)
    for (size_t d = 0; d < dim; d++)
      h[d] /= (float) n_ids;
  for (size_t o = 0; o < out_dim; o++) {
    const float *wr = W + o * dim;
    double s = b[o];
    for (size_t d = 0; d < dim; d++)
      s += (double) wr[d] * h[d];
    u[o] = (float) s;
  }
  free (heap);
}

/* ---- model file ---- */

int
clar_text_present (const clar_st_file *st)
{
  for (size_t i = 0; i < clar_st_n_metadata (st); i++) {
    const char *k, *v;
    /* The fingerprint alone is no tower (it may outlive a removed one). */
    if (clar_st_metadata_at (st, i, &k, &v) == CLAR_OK && strncmp (k, "clar.text.", 10) == 0
        && strcmp (k, "clar.text.encoder_fingerprint") != 0)
      return 1;
  }
  for (size_t i = 0; i < clar_st_n_tensors (st); i++)
    if (strncmp (clar_st_tensor_at (st, i)->name, "text.", 5) == 0)
      return 1;
  return 0;
}

static int
meta_num (const clar_st_file *st, const char *key, double lo, double hi,
          int integer, double *out, clar_error *err)
{
  const char *v = clar_st_metadata (st, key);
  char *end;
  double x;
  if (!v)
    return clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "metadata key %s is missing (the model has a partial text tower)", key);
  errno = 0;
  x = strtod (v, &end);
  if (end == v || *end || errno || !isfinite (x) || x < lo || x > hi
      || (integer && x != floor (x)))
    return clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "metadata %s = \"%.32s\" is not %s in %g..%g", key, v,
        integer ? "an integer" : "a number", lo, hi);
  *out = x;
  return CLAR_OK;
}

static const float *
tensor2 (const clar_st_file *st, const char *name, size_t ndim, size_t d0,
         size_t d1, clar_error *err, int *rc)
{
  const clar_st_tensor *t;
  if (*rc != CLAR_OK)
    return NULL;
  t = clar_st_find (st, name);
  if (!t) {
    *rc = clar_set_error (err, CLAR_ERR_MISSING_TENSOR, "tensor %s is missing", name);
    return NULL;
  }
  if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
    if (ndim == 2)
      *rc = clar_set_error (err, CLAR_ERR_BAD_TENSOR,
          "tensor %s must be [%zu, %zu] (clar.text.* and clar.embedding_dim)", name, d0, d1);
    else
      *rc = clar_set_error (err, CLAR_ERR_BAD_TENSOR,
          "tensor %s must be [%zu] (clar.embedding_dim)", name, d0);
    return NULL;
  }
  for (size_t i = 0; i < t->n_elements; i++)
    if (!isfinite (t->data[i])) {
      *rc = clar_set_error (err, CLAR_ERR_BAD_TENSOR,
          "tensor %s holds a non-finite value at element %zu", name, i);
      return NULL;
    }
  return t->data;
}

int
clar_text_from_st (const clar_st_file *st, size_t out_dim, clar_text **out,
                   clar_error *err)
{
  clar_text *t;
  const char *hash;
  double v = 0;
  int rc;

  *out = NULL;
  if ((rc = meta_num (st, "clar.text.version", 1, 1000000, 1, &v, err)) != CLAR_OK)
    return rc;
  if (v > CLAR_TEXT_VERSION)
    return clar_set_error (err, CLAR_ERR_UNSUPPORTED,
        "text tower version %g is newer than this libclar (%d)", v, CLAR_TEXT_VERSION);
  hash = clar_st_metadata (st, "clar.text.hash");
  if (!hash)
    return clar_set_error (err, CLAR_ERR_BAD_METADATA, "metadata key clar.text.hash is missing");
  if (strcmp (hash, "fnv1a32") != 0)
    return clar_set_error (err, CLAR_ERR_UNSUPPORTED,
        "clar.text.hash \"%.32s\" is not supported (only \"fnv1a32\")", hash);
  t = calloc (1, sizeof *t);
  if (!t)
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  t->out_dim = out_dim;
  if ((rc = meta_num (st, "clar.text.seed", 0, 4294967295.0, 1, &v, err)) != CLAR_OK)
    goto fail;
  t->params.seed = (uint32_t) v;
  if ((rc = meta_num (st, "clar.text.buckets", 1, CLAR_TEXT_MAX_BUCKETS, 1, &v, err)) != CLAR_OK)
    goto fail;
  t->params.n_buckets = (uint32_t) v;
  if ((rc = meta_num (st, "clar.text.char_ngram", 0, 6, 1, &v, err)) != CLAR_OK)
    goto fail;
  if (v == 1) {
    rc = clar_set_error (err, CLAR_ERR_BAD_METADATA, "clar.text.char_ngram must be 0 or 2..6");
    goto fail;
  }
  t->params.char_ngram = (int) v;
  if ((rc = meta_num (st, "clar.text.dim", 1, CLAR_TEXT_MAX_DIM, 1, &v, err)) != CLAR_OK)
    goto fail;
  t->dim = (size_t) v;
  if ((rc = meta_num (st, "clar.text.logit_scale", 1e-6, 1000, 0, &v, err)) != CLAR_OK)
    goto fail;
  t->logit_scale = (float) v;
  {
    const char *enc = clar_st_metadata (st, "clar.text.encoder_fingerprint");
    if (enc && !clar_fingerprint_valid (enc)) {
      rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
          "clar.text.encoder_fingerprint \"%.32s\" is not 1..%d printable characters",
          enc, CLAR_FINGERPRINT_SIZE - 1);
      goto fail;
    }
    if (enc)
      memcpy (t->encoder, enc, strlen (enc) + 1);
  }
  t->embedding = tensor2 (st, "text.embedding", 2, t->params.n_buckets, t->dim, err, &rc);
  t->weight = tensor2 (st, "text.proj.weight", 2, out_dim, t->dim, err, &rc);
  t->bias = tensor2 (st, "text.proj.bias", 1, out_dim, 0, err, &rc);
  if (rc != CLAR_OK)
    goto fail;
  *out = t;
  return CLAR_OK;
fail:
  free (t);
  return rc;
}

int
clar_text_to_writer (clar_st_writer *w, const clar_text_params *p, size_t dim,
                     size_t out_dim, float logit_scale, const char *encoder, const float *E,
                     const float *W, const float *b)
{
  char v[CLAR_FINGERPRINT_SIZE + 16];
  size_t shape[2];
  int rc = CLAR_OK;
  if (!w || !params_ok (p) || dim < 1 || dim > CLAR_TEXT_MAX_DIM || out_dim < 1
      || !(logit_scale > 0.0f && logit_scale <= 1000.0f) || !E || !W || !b
      || (encoder && *encoder && !clar_fingerprint_valid (encoder)))
    return CLAR_ERR_INVALID_ARGUMENT;
#define SET(key, ...) \
  do { snprintf (v, sizeof v, __VA_ARGS__); \
       if (rc == CLAR_OK) rc = clar_st_writer_set_metadata (w, key, v); } while (0)
  SET ("clar.text.version", "%d", CLAR_TEXT_VERSION);
  SET ("clar.text.hash", "%s", "fnv1a32");
  SET ("clar.text.seed", "%u", (unsigned) p->seed);
  SET ("clar.text.buckets", "%u", (unsigned) p->n_buckets);
  SET ("clar.text.char_ngram", "%d", p->char_ngram);
  SET ("clar.text.dim", "%zu", dim);
  SET ("clar.text.logit_scale", "%.9g", logit_scale);
  if (encoder && *encoder)
    SET ("clar.text.encoder_fingerprint", "%s", encoder);
#undef SET
  shape[0] = p->n_buckets;
  shape[1] = dim;
  if (rc == CLAR_OK)
    rc = clar_st_writer_add (w, "text.embedding", shape, 2, E);
  shape[0] = out_dim;
  if (rc == CLAR_OK)
    rc = clar_st_writer_add (w, "text.proj.weight", shape, 2, W);
  if (rc == CLAR_OK)
    rc = clar_st_writer_add (w, "text.proj.bias", shape, 1, b);
  return rc;
}

/* ---- inference ---- */

const clar_text *
clar_model_get_text (const clar_model *m)
{
  return m ? m->text : NULL;
}

const clar_text_params *
clar_text_get_params (const clar_text *t)
{
  return t ? &t->params : NULL;
}

size_t
clar_text_output_dim (const clar_text *t)
{
  return t ? t->out_dim : 0;
}

float
clar_text_logit_scale (const clar_text *t)
{
  return t ? t->logit_scale : 0.0f;
}

const char *
clar_text_get_encoder (const clar_text *t)
{
  return t ? t->encoder : "";
}

int
clar_text_embed (const clar_text *t, const char *prompt, float *out)
{
  uint32_t *ids;
  float *h;
  int n;
  double ss = 0.0;
  if (!t || !prompt || !out)
    return CLAR_ERR_INVALID_ARGUMENT;
  n = clar_text_features (&t->params, prompt, NULL, 0);
  if (n <= 0)
    return n < 0 ? n : CLAR_ERR_INVALID_ARGUMENT;
  ids = malloc ((size_t) n * sizeof (uint32_t));
  h = malloc (t->dim * sizeof (float));
  if (!ids || !h) {
    free (ids);
    free (h);
    return CLAR_ERR_NO_MEMORY;
  }
  clar_text_features (&t->params, prompt, ids, (size_t) n);
  clar_text_forward_ids (t->embedding, t->weight, t->bias, t->dim, t->out_dim, ids,
      (size_t) n, h, out);
  free (ids);
  free (h);
  for (size_t o = 0; o < t->out_dim; o++)
    ss += (double) out[o] * out[o];
  if (!(ss > 0.0) || !isfinite (ss))
    return CLAR_ERR_NONFINITE;
  for (size_t o = 0; o < t->out_dim; o++)
    out[o] = (float) (out[o] / sqrt (ss));
  return CLAR_OK;
}

clar_labels *
clar_labels_from_prompts (const clar_model *m, size_t n, const char *const *prompts,
                          clar_error *err)
{
  const clar_text *t = clar_model_get_text (m);
  char **names = NULL;
  float *vec = NULL;
  clar_labels *l = NULL;
  size_t D;

  if (!m || !prompts || n == 0 || n > CLAR_LABELS_MAX) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "clar_labels_from_prompts: need a model and 1..%d prompts", CLAR_LABELS_MAX);
    return NULL;
  }
  if (!t) {
    clar_set_error (err, CLAR_ERR_UNSUPPORTED,
        "the model has no text tower (clar.text.*), so it cannot label with text prompts");
    return NULL;
  }
  D = t->out_dim;
  names = calloc (n, sizeof (char *));
  vec = malloc (n * D * sizeof (float));
  if (!names || !vec) {
    clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory for %zu prompts", n);
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    const char *s = prompts[i], *e;
    int rc;
    if (!s) {
      clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "prompt %zu is NULL", i);
      goto out;
    }
    while (*s == ' ' || *s == '\t')
      s++;
    e = s + strlen (s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
      e--;
    names[i] = malloc ((size_t) (e - s) + 1);
    if (!names[i]) {
      clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
      goto out;
    }
    memcpy (names[i], s, (size_t) (e - s));
    names[i][e - s] = '\0';
    rc = clar_text_embed (t, names[i], vec + i * D);
    if (rc != CLAR_OK) {
      clar_set_error (err, rc == CLAR_ERR_NO_MEMORY ? rc : CLAR_ERR_INVALID_ARGUMENT,
          "prompt %zu \"%.64s\": %s", i, names[i],
          rc == CLAR_ERR_NO_MEMORY ? "out of memory"
          : "has no words or is longer than 4096 bytes");
      goto out;
    }
  }
  l = clar_labels_new (n, D, (const char *const *) names, vec, t->logit_scale, err);
  if (l)
    clar_labels_set_encoder (l, t->encoder);   /* validated on load */
out:
  if (names)
    for (size_t i = 0; i < n; i++)
      free (names[i]);
  free (names);
  free (vec);
  return l;
}

/* ---- prompt lists ---- */

void
clar_text_prompts_free (char **p)
{
  if (!p)
    return;
  for (size_t i = 0; p[i]; i++)
    free (p[i]);
  free (p);
}

int
clar_text_split_prompts (const char *list, const char *seps, char ***out,
                         size_t *n_out)
{
  char **v;
  size_t n = 0, cap = 1;
  const char *s;
  if (out)
    *out = NULL;
  if (n_out)
    *n_out = 0;
  if (!list || !seps || !*seps || !out || !n_out)
    return CLAR_ERR_INVALID_ARGUMENT;
  for (s = list; *s; s++)
    if (strchr (seps, *s))
      cap++;
  if (cap > CLAR_LABELS_MAX + 1)
    cap = CLAR_LABELS_MAX + 1;
  v = calloc (cap + 1, sizeof (char *));
  if (!v)
    return CLAR_ERR_NO_MEMORY;
  s = list;
  for (;;) {
    size_t len = strcspn (s, seps);
    const char *a = s, *b = s + len;
    while (a < b && (*a == ' ' || *a == '\t' || *a == '\r' || *a == '\n'))
      a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r' || b[-1] == '\n'))
      b--;
    if (b > a && *a != '#') {
      if (n == cap || n >= CLAR_LABELS_MAX) {
        clar_text_prompts_free (v);
        return CLAR_ERR_INVALID_ARGUMENT;
      }
      v[n] = malloc ((size_t) (b - a) + 1);
      if (!v[n]) {
        clar_text_prompts_free (v);
        return CLAR_ERR_NO_MEMORY;
      }
      memcpy (v[n], a, (size_t) (b - a));
      v[n][b - a] = '\0';
      n++;
    }
    if (!s[len])
      break;
    s += len + 1;
  }
  *out = v;
  *n_out = n;
  return CLAR_OK;
}

int
clar_text_read_prompts (const char *path, char ***out, size_t *n_out,
                        clar_error *err)
{
  FILE *f;
  char *buf;
  long size;
  int rc;
  if (out)
    *out = NULL;
  if (!path || !out || !n_out)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_text_read_prompts: NULL argument");
  f = fopen (path, "rb");
  if (!f)
    return clar_set_error (err, CLAR_ERR_IO, "%.150s: %s", path, strerror (errno));
  if (fseek (f, 0, SEEK_END) || (size = ftell (f)) < 0 || fseek (f, 0, SEEK_SET)) {
    fclose (f);
    return clar_set_error (err, CLAR_ERR_IO, "%.150s: cannot determine its size", path);
  }
  /* A prompt file is a short list; refuse anything absurd before allocating. */
  if (size > 16L * 1024 * 1024) {
    fclose (f);
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "%.150s: larger than 16 MiB", path);
  }
  buf = malloc ((size_t) size + 1);
  if (!buf) {
    fclose (f);
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  }
  if (fread (buf, 1, (size_t) size, f) != (size_t) size) {
    free (buf);
    fclose (f);
    return clar_set_error (err, CLAR_ERR_IO, "%.150s: read failed", path);
  }
  fclose (f);
  buf[size] = '\0';
  if (memchr (buf, '\0', (size_t) size)) {
    free (buf);
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "%.150s: not a text file (NUL byte)", path);
  }
  rc = clar_text_split_prompts (buf, "\n", out, n_out);
  free (buf);
  if (rc != CLAR_OK)
    return clar_set_error (err, rc, "%.150s: too many prompts or out of memory", path);
  if (*n_out == 0) {
    clar_text_prompts_free (*out);
    *out = NULL;
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "%.150s: no prompts in the file", path);
  }
  return CLAR_OK;
}
