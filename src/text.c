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

/* Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF). */
static int
utf8_valid (const unsigned char *s, size_t n)
{
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t k;
    unsigned cp;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) { k = 1; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { k = 2; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { k = 3; cp = c & 0x07; }
    else return 0;
    for (size_t j = 1; j <= k; j++) {
      if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + j] & 0x3f);
    }
    if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff))
        || (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += k + 1;
  }
  return 1;
}

/* Feature accumulator: writes at most max ids (and weights), counts all. */
typedef struct {
  const clar_text_params *p;
  uint32_t *ids;
  float *w;
  size_t max, count;
} feat_acc;

static void
put (feat_acc *a, uint32_t h, float weight)
{
  if (a->count < a->max) {
    a->ids[a->count] = h % a->p->n_buckets;
    if (a->w)
      a->w[a->count] = weight;
  }
  a->count++;
}

/* The word feature and n-grams of one word (n bytes, ASCII lower-cased
 * here), all of weight `weight`. */
static void
add_word (feat_acc *a, const char *word, size_t n, float weight)
{
  /* "<" + word + ">" of a word of at most CLAR_TEXT_MAX_BYTES bytes. */
  char w[CLAR_TEXT_MAX_BYTES + 3];
  const clar_text_params *p = a->p;
  if (n > CLAR_TEXT_MAX_BYTES)
    n = CLAR_TEXT_MAX_BYTES;
  w[0] = '<';
  for (size_t k = 0; k < n; k++) {
    unsigned char c = (unsigned char) word[k];
    w[1 + k] = (char) (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  w[1 + n] = '>';
  put (a, fnv1a (p->seed, "w:", w + 1, n), weight);
  if (p->char_ngram > 0) {
    size_t g = (size_t) p->char_ngram, total = n + 2;
    /* A word shorter than the n-gram gives one gram: the whole marked word. */
    if (total < g)
      put (a, fnv1a (p->seed, "c:", w, total), weight);
    else
      for (size_t k = 0; k + g <= total; k++)
        put (a, fnv1a (p->seed, "c:", w + k, g), weight);
  }
}

static void
add_term (void *user, const char *term, size_t len, float weight)
{
  add_word (user, term, len, weight);
}

int
clar_text_features_expanded (const clar_text_params *p, const clar_wordnet *wn,
                             const clar_wordnet_expand_params *ex, const char *text,
                             uint32_t *ids, float *weights, size_t max_ids)
{
  feat_acc a = { p, ids, weights, max_ids, 0 };
  size_t len, i = 0;

  if (!params_ok (p) || !text || (max_ids && !ids))
    return CLAR_ERR_INVALID_ARGUMENT;
  len = strlen (text);
  if (len > CLAR_TEXT_MAX_BYTES || !utf8_valid ((const unsigned char *) text, len))
    return CLAR_ERR_INVALID_ARGUMENT;
  while (i < len) {
    size_t start;
    while (i < len && !is_word_byte ((unsigned char) text[i]))
      i++;
    if (i == len)
      break;
    start = i;
    while (i < len && is_word_byte ((unsigned char) text[i]))
      i++;
    add_word (&a, text + start, i - start, 1.0f);
  }
  /* A text without words stays without features: expansion only adds to
   * the words a text has. */
  if (a.count > 0 && wn && ex) {
    int rc = clar_wordnet_expand (wn, ex, text, add_term, &a);
    if (rc < 0)
      return rc;
  }
  return a.count > (size_t) 0x7fffffff ? CLAR_ERR_INVALID_ARGUMENT : (int) a.count;
}

int
clar_text_features (const clar_text_params *p, const char *text, uint32_t *ids,
                    size_t max_ids)
{
  return clar_text_features_expanded (p, NULL, NULL, text, ids, NULL, max_ids);
}

void
clar_text_forward_ids (const float *E, const float *W, const float *b,
                       size_t dim, size_t out_dim, const uint32_t *ids,
                       const float *wt, size_t n_ids, float *h_out, float *u)
{
  float hbuf[256], *h = h_out;
  float *heap = NULL;
  double wsum = 0.0;
  if (!h) {
    if (dim <= 256)
      h = hbuf;
    else if (!(h = heap = malloc (dim * sizeof (float))))
      return;   /* callers pass h for large towers (clar_text_embed does) */
  }
  memset (h, 0, dim * sizeof (float));
  for (size_t k = 0; k < n_ids; k++) {
    const float *row = E + (size_t) ids[k] * dim;
    float w = wt ? wt[k] : 1.0f;
    for (size_t d = 0; d < dim; d++)
      h[d] += w * row[d];
    wsum += w;
  }
  if (n_ids && wsum > 0.0)
    for (size_t d = 0; d < dim; d++)
      h[d] = (float) (h[d] / wsum);
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

/* clar.text.wordnet and its weights (text.h); opens the database. A
 * missing database is not a load error: the model's audio side and head
 * work without it, and clar_text_embed reports it. */
static int
read_expansion (const clar_st_file *st, clar_text *t, clar_error *err)
{
  const char *v = clar_st_metadata (st, "clar.text.wordnet");
  double x;
  clar_error e2;
  int rc;
  if (!v)
    return CLAR_OK;
  if (strcmp (v, "3.0") != 0)
    return clar_set_error (err, CLAR_ERR_UNSUPPORTED,
        "clar.text.wordnet \"%.32s\" is not supported (only \"3.0\")", v);
#define NUM(key, lo, hi, integer, field, type) \
  do { if ((rc = meta_num (st, key, lo, hi, integer, &x, err)) != CLAR_OK) return rc; \
       t->ex.field = (type) x; } while (0)
  NUM ("clar.text.wn_synonym_weight", 0, 1e6, 0, synonym_weight, float);
  NUM ("clar.text.wn_hypernym_weight", 0, 1e6, 0, hypernym_weight, float);
  NUM ("clar.text.wn_hypernym_decay", 0, 1, 0, hypernym_decay, float);
  NUM ("clar.text.wn_depth", 0, CLAR_WORDNET_MAX_DEPTH, 1, depth, int);
  NUM ("clar.text.wn_gloss_weight", 0, 1e6, 0, gloss_weight, float);
#undef NUM
  t->expand = 1;
  if (clar_wordnet_open (NULL, &t->wn, &e2) != CLAR_OK)
    snprintf (t->wn_error, sizeof t->wn_error, "%s", e2.message);
  return CLAR_OK;
}

int
clar_text_from_st (const clar_st_file *st, size_t out_dim, clar_text **out,
                   clar_error *err)
{
  clar_text *t;
  const char *hash;
  double v = 0;
  int rc, version;

  *out = NULL;
  if ((rc = meta_num (st, "clar.text.version", 1, 1000000, 1, &v, err)) != CLAR_OK)
    return rc;
  if (v > CLAR_TEXT_VERSION)
    return clar_set_error (err, CLAR_ERR_UNSUPPORTED,
        "text tower version %g is newer than this libclar (%d)", v, CLAR_TEXT_VERSION);
  version = (int) v;
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
  if ((rc = read_expansion (st, t, err)) != CLAR_OK)
    goto fail;
  if ((version == 2) != t->expand) {
    rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "clar.text.version %d %s clar.text.wordnet", version, version == 2 ? "needs" : "forbids");
    goto fail;
  }
  *out = t;
  return CLAR_OK;
fail:
  clar_text_free (t);
  return rc;
}

void
clar_text_free (clar_text *t)
{
  if (!t)
    return;
  clar_wordnet_free (t->wn);
  free (t);
}

int
clar_text_to_writer (clar_st_writer *w, const clar_text_params *p,
                     const clar_wordnet_expand_params *ex, size_t dim,
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
  if (ex && !(ex->synonym_weight >= 0 && ex->hypernym_weight >= 0 && ex->gloss_weight >= 0
              && ex->hypernym_decay >= 0 && ex->hypernym_decay <= 1 && ex->depth >= 0
              && ex->depth <= CLAR_WORDNET_MAX_DEPTH))
    return CLAR_ERR_INVALID_ARGUMENT;
  /* Version 1 stays the format of a tower without expansion, so a model
   * without it still loads in an older libclar. */
  SET ("clar.text.version", "%d", ex ? 2 : 1);
  if (ex) {
    SET ("clar.text.wordnet", "%s", "3.0");
    SET ("clar.text.wn_synonym_weight", "%.9g", ex->synonym_weight);
    SET ("clar.text.wn_hypernym_weight", "%.9g", ex->hypernym_weight);
    SET ("clar.text.wn_hypernym_decay", "%.9g", ex->hypernym_decay);
    SET ("clar.text.wn_depth", "%d", ex->depth);
    SET ("clar.text.wn_gloss_weight", "%.9g", ex->gloss_weight);
  }
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

const clar_wordnet_expand_params *
clar_text_get_expansion (const clar_text *t, const clar_wordnet **wordnet)
{
  if (wordnet)
    *wordnet = t && t->expand ? t->wn : NULL;
  return t && t->expand ? &t->ex : NULL;
}

int
clar_text_embed (const clar_text *t, const char *prompt, float *out)
{
  uint32_t *ids;
  float *h, *w;
  int n;
  double ss = 0.0;
  if (!t || !prompt || !out)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (t->expand && !t->wn)
    return CLAR_ERR_UNSUPPORTED;
  n = clar_text_features_expanded (&t->params, t->wn, t->expand ? &t->ex : NULL, prompt,
      NULL, NULL, 0);
  if (n <= 0)
    return n < 0 ? n : CLAR_ERR_INVALID_ARGUMENT;
  ids = malloc ((size_t) n * sizeof (uint32_t));
  w = malloc ((size_t) n * sizeof (float));
  h = malloc (t->dim * sizeof (float));
  if (!ids || !h || !w) {
    free (ids);
    free (w);
    free (h);
    return CLAR_ERR_NO_MEMORY;
  }
  clar_text_features_expanded (&t->params, t->wn, t->expand ? &t->ex : NULL, prompt, ids, w,
      (size_t) n);
  clar_text_forward_ids (t->embedding, t->weight, t->bias, t->dim, t->out_dim, ids, w,
      (size_t) n, h, out);
  free (ids);
  free (w);
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
    if (rc == CLAR_ERR_UNSUPPORTED) {
      clar_set_error (err, rc, "this model's text tower expands prompts with WordNet: %s",
          t->wn_error);
      goto out;
    }
    if (rc != CLAR_OK) {
      /* The name may be invalid UTF-8: quote only its ASCII part. */
      char shown[65];
      size_t k = 0;
      for (; names[i][k] && k < 64; k++)
        shown[k] = (unsigned char) names[i][k] < 0x80 ? names[i][k] : '?';
      shown[k] = '\0';
      clar_set_error (err, rc == CLAR_ERR_NO_MEMORY ? rc : CLAR_ERR_INVALID_ARGUMENT,
          "prompt %zu \"%s\": %s", i, shown,
          rc == CLAR_ERR_NO_MEMORY ? "out of memory"
          : "has no words, is longer than 4096 bytes or is not valid UTF-8");
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
  /* Prompts become label names: text, and UTF-8 (a Latin-1 file would
   * reach every bus message and binding as invalid strings). */
  if (clar_utf8_invalid_at (list, strlen (list)) != (size_t) -1)
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
  char *buf;
  size_t size;
  int rc;
  if (out)
    *out = NULL;
  if (!path || !out || !n_out)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_text_read_prompts: NULL argument");
  rc = clar_read_small_file (path, 16L * 1024 * 1024, &buf, &size, err);
  if (rc != CLAR_OK)
    return rc;
  if (memchr (buf, '\0', size)) {
    free (buf);
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "%.150s: not a text file (NUL byte)", path);
  }
  {
    size_t bad = clar_utf8_invalid_at (buf, (size_t) size);
    if (bad != (size_t) -1) {
      size_t line = 1;
      for (size_t i = 0; i < bad; i++)
        line += buf[i] == '\n';
      free (buf);
      return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "%.150s: line %zu is not valid UTF-8 (byte %zu); prompt files must be UTF-8 "
          "(e.g. iconv -f latin1 -t utf-8)", path, line, bad);
    }
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
