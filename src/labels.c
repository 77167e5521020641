/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Label sets: names + unit vectors, scored by softmax(scale * cosine). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clar/labels.h>
#include "json.h"
#include "model-private.h"

struct clar_labels {
  int refcount;
  size_t n, dim;
  float scale;
  char **names;
  float *vectors;   /* n x dim, rows of unit norm */
  char encoder[CLAR_FINGERPRINT_SIZE];   /* "" = unknown */
};

int
clar_fingerprint_valid (const char *fp)
{
  size_t n = fp ? strlen (fp) : 0;
  if (n == 0 || n >= CLAR_FINGERPRINT_SIZE)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char) fp[i] <= 0x20 || (unsigned char) fp[i] >= 0x7f)
      return 0;
  return 1;
}

/* Well-formed UTF-8 (RFC 3629, Table 3-7 of the Unicode Standard): no
 * overlong forms, no surrogates, nothing above U+10FFFF. Returns the byte
 * offset of the first bad sequence, or (size_t) -1 when all is valid. */
size_t
clar_utf8_invalid_at (const char *str, size_t n)
{
  const unsigned char *p = (const unsigned char *) str;
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (i + len > n || p[i + 1] < lo || p[i + 1] > hi)
      return i;
    for (size_t k = 2; k < len; k++)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF)
        return i;
    i += len;
  }
  return (size_t) -1;
}

static int
name_ok (const char *s, char *why, size_t whylen)
{
  size_t len;
  if (!s || !*s) {
    snprintf (why, whylen, "empty label name");
    return 0;
  }
  len = strlen (s);
  if (len >= CLAR_LABEL_NAME_MAX) {
    snprintf (why, whylen, "label name longer than %d bytes", CLAR_LABEL_NAME_MAX - 1);
    return 0;
  }
  for (size_t i = 0; i < len; i++)
    if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
      snprintf (why, whylen, "label name \"%.32s\" contains a control character", s);
      return 0;
    }
  if (clar_utf8_invalid_at (s, len) != (size_t) -1) {
    snprintf (why, whylen, "label name is not valid UTF-8 (byte %zu)", clar_utf8_invalid_at (s, len));
    return 0;
  }
  return 1;
}

clar_labels *
clar_labels_new (size_t n, size_t dim, const char *const *names,
                 const float *vectors, float scale, clar_error *err)
{
  clar_labels *l;
  char why[128];

  if (n == 0 || n > CLAR_LABELS_MAX || dim == 0 || dim > 65536 || !names || !vectors) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "label set needs 1..%d labels and a non-zero dimension (got %zu x %zu)",
        CLAR_LABELS_MAX, n, dim);
    return NULL;
  }
  if (!isfinite (scale) || scale <= 0.0f || scale > 1000.0f) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "logit scale %g is not in (0, 1000]", scale);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    if (!name_ok (names[i], why, sizeof why)) {
      clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "label %zu: %s", i, why);
      return NULL;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp (names[i], names[j]) == 0) {
        clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "label \"%.64s\" appears twice", names[i]);
        return NULL;
      }
  }
  l = calloc (1, sizeof *l);
  if (!l || !(l->names = calloc (n, sizeof (char *)))
      || !(l->vectors = malloc (n * dim * sizeof (float)))) {
    clar_labels_unref (l);
    clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory for %zu labels", n);
    return NULL;
  }
  l->refcount = 1;
  l->n = n;
  l->dim = dim;
  l->scale = scale;
  for (size_t i = 0; i < n; i++) {
    double ss = 0.0;
    const float *v = vectors + i * dim;
    l->names[i] = strdup (names[i]);
    if (!l->names[i]) {
      clar_labels_unref (l);
      clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
      return NULL;
    }
    for (size_t d = 0; d < dim; d++)
      ss += (double) v[d] * v[d];
    if (!isfinite (ss) || ss <= 0.0) {
      clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "label \"%.64s\": vector is zero or not finite", names[i]);
      clar_labels_unref (l);
      return NULL;
    }
    for (size_t d = 0; d < dim; d++)
      l->vectors[i * dim + d] = (float) (v[d] / sqrt (ss));
  }
  return l;
}

clar_labels *
clar_labels_from_st (const clar_st_file *file, clar_error *err)
{
  const char *names_json = clar_st_metadata (file, "clar.labels");
  const char *scale_s = clar_st_metadata (file, "clar.logit_scale");
  const clar_st_tensor *t = clar_st_find (file, "labels.embeddings");
  const char *enc = clar_st_metadata (file, "clar.labels.encoder_fingerprint");
  clar_json *arr = NULL;
  const char **names = NULL;
  clar_labels *l = NULL;
  char jerr[128], *end;
  float scale = 10.0f;

  if (!names_json) {
    clar_set_error (err, CLAR_ERR_BAD_METADATA, "metadata key clar.labels is missing");
    return NULL;
  }
  if (!t) {
    clar_set_error (err, CLAR_ERR_MISSING_TENSOR, "tensor labels.embeddings is missing");
    return NULL;
  }
  if (scale_s) {
    double v = strtod (scale_s, &end);
    if (end == scale_s || *end || !isfinite (v) || v <= 0.0 || v > 1000.0) {
      clar_set_error (err, CLAR_ERR_BAD_METADATA,
          "clar.logit_scale \"%.32s\" is not a number in (0, 1000]", scale_s);
      return NULL;
    }
    scale = (float) v;
  }
  if (clar_json_parse (names_json, strlen (names_json), &arr, jerr, sizeof jerr)
      || arr->type != CLAR_JSON_ARRAY || arr->n == 0) {
    clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "clar.labels is not a non-empty JSON array of names%s%s", arr ? "" : ": ", arr ? "" : jerr);
    clar_json_free (arr);
    return NULL;
  }
  if (t->ndim != 2 || t->shape[0] != arr->n || t->shape[1] == 0) {
    clar_set_error (err, CLAR_ERR_BAD_TENSOR,
        "labels.embeddings must be [%zu, dim] to match clar.labels (rank %zu, shape[0] %zu)",
        arr->n, t->ndim, t->ndim ? t->shape[0] : 0);
    clar_json_free (arr);
    return NULL;
  }
  names = calloc (arr->n, sizeof (char *));
  if (!names) {
    clar_json_free (arr);
    clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < arr->n; i++) {
    if (arr->items[i].type != CLAR_JSON_STRING) {
      clar_set_error (err, CLAR_ERR_BAD_METADATA, "clar.labels[%zu] is not a string", i);
      goto out;
    }
    names[i] = arr->items[i].string;
  }
  l = clar_labels_new (arr->n, t->shape[1], names, t->data, scale, err);
  if (!l && err && err->code == CLAR_ERR_INVALID_ARGUMENT)
    err->code = CLAR_ERR_BAD_METADATA;
  if (l && enc && clar_labels_set_encoder (l, enc) != CLAR_OK) {
    clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "clar.labels.encoder_fingerprint \"%.32s\" is not 1..%d printable characters",
        enc, CLAR_FINGERPRINT_SIZE - 1);
    clar_labels_unref (l);
    l = NULL;
  }
out:
  free (names);
  clar_json_free (arr);
  return l;
}

clar_labels *
clar_labels_load_file (const char *path, clar_error *err)
{
  clar_st_file *f = NULL;
  clar_labels *l;
  if (clar_st_read_file (path, &f, err) != CLAR_OK)
    return NULL;
  l = clar_labels_from_st (f, err);
  if (!l && err) {
    char msg[CLAR_ERROR_MESSAGE_SIZE];
    snprintf (msg, sizeof msg, "%.100s: %.150s", path, err->message);
    memcpy (err->message, msg, sizeof msg);
  }
  clar_st_free (f);
  return l;
}

int
clar_labels_to_writer (const clar_labels *l, clar_st_writer *w)
{
  clar_strbuf b = { 0 };
  char scale[32];
  size_t shape[2];
  int rc;
  if (!l || !w)
    return CLAR_ERR_INVALID_ARGUMENT;
  clar_strbuf_puts (&b, "[");
  for (size_t i = 0; i < l->n; i++) {
    if (i)
      clar_strbuf_puts (&b, ",");
    clar_strbuf_json_string (&b, l->names[i]);
  }
  clar_strbuf_puts (&b, "]");
  if (b.failed) {
    clar_strbuf_clear (&b);
    return CLAR_ERR_NO_MEMORY;
  }
  snprintf (scale, sizeof scale, "%.9g", l->scale);
  shape[0] = l->n;
  shape[1] = l->dim;
  if ((rc = clar_st_writer_set_metadata (w, "clar.labels", b.data)) == CLAR_OK
      && (rc = clar_st_writer_set_metadata (w, "clar.logit_scale", scale)) == CLAR_OK
      && (!l->encoder[0] || (rc = clar_st_writer_set_metadata (w,
              "clar.labels.encoder_fingerprint", l->encoder)) == CLAR_OK))
    rc = clar_st_writer_add (w, "labels.embeddings", shape, 2, l->vectors);
  clar_strbuf_clear (&b);
  return rc;
}

int
clar_labels_save_file (const clar_labels *l, const char *path, clar_error *err)
{
  return clar_labels_save_file_with_metadata (l, path, NULL, err);
}

int
clar_labels_save_file_with_metadata (const clar_labels *l, const char *path,
                                     const char *const *meta, clar_error *err)
{
  /* The keys the set itself is read back from (clar_labels_from_st). */
  static const char *const own[] = { "clar.format", "clar.labels", "clar.logit_scale",
    "clar.labels.encoder_fingerprint" };
  clar_st_writer *w;
  int rc;
  for (size_t i = 0; meta && meta[i]; i += 2) {
    if (!meta[i + 1] || !meta[i][0])
      return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "label file metadata: %s", meta[i][0] ? "a key without a value" : "an empty key");
    for (size_t k = 0; k < sizeof own / sizeof own[0]; k++)
      if (!strcmp (meta[i], own[k]))
        return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
            "label file metadata: %s is the label set's own key", meta[i]);
  }
  if (!(w = clar_st_writer_new ()))
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  rc = clar_st_writer_set_metadata (w, "clar.format", "clar-labels");
  for (size_t i = 0; rc == CLAR_OK && meta && meta[i]; i += 2)
    rc = clar_st_writer_set_metadata (w, meta[i], meta[i + 1]);
  if (rc == CLAR_OK)
    rc = clar_labels_to_writer (l, w);
  if (rc != CLAR_OK)
    clar_set_error (err, rc, "cannot serialise label set: %s", clar_strerror (rc));
  else
    rc = clar_st_writer_save (w, path, err);
  clar_st_writer_free (w);
  return rc;
}

clar_labels *
clar_labels_ref (clar_labels *l)
{
  if (l)
    __atomic_add_fetch (&l->refcount, 1, __ATOMIC_RELAXED);
  return l;
}

void
clar_labels_unref (clar_labels *l)
{
  if (!l || __atomic_sub_fetch (&l->refcount, 1, __ATOMIC_ACQ_REL) > 0)
    return;
  if (l->names)
    for (size_t i = 0; i < l->n; i++)
      free (l->names[i]);
  free (l->names);
  free (l->vectors);
  free (l);
}

size_t clar_labels_count (const clar_labels *l) { return l ? l->n : 0; }
size_t clar_labels_dim (const clar_labels *l) { return l ? l->dim : 0; }
float clar_labels_scale (const clar_labels *l) { return l ? l->scale : 0.0f; }

const char *
clar_labels_name (const clar_labels *l, size_t i)
{
  return (l && i < l->n) ? l->names[i] : NULL;
}

const float *
clar_labels_vector (const clar_labels *l, size_t i)
{
  return (l && i < l->n) ? l->vectors + i * l->dim : NULL;
}

const char *
clar_labels_get_encoder (const clar_labels *l)
{
  return l ? l->encoder : "";
}

int
clar_labels_set_encoder (clar_labels *l, const char *fp)
{
  if (!l)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (!fp || !*fp) {
    l->encoder[0] = '\0';
    return CLAR_OK;
  }
  if (!clar_fingerprint_valid (fp))
    return CLAR_ERR_INVALID_ARGUMENT;
  memcpy (l->encoder, fp, strlen (fp) + 1);
  return CLAR_OK;
}

int
clar_labels_score (const clar_labels *l, const float *e, float *probs,
                   float *sims)
{
  double norm = 0.0, mx = -INFINITY, sum = 0.0;
  if (!l || !e || !probs)
    return CLAR_ERR_INVALID_ARGUMENT;
  for (size_t d = 0; d < l->dim; d++)
    norm += (double) e[d] * e[d];
  if (!isfinite (norm))
    return CLAR_ERR_NONFINITE;
  norm = norm > 0.0 ? 1.0 / sqrt (norm) : 0.0;
  for (size_t i = 0; i < l->n; i++) {
    const float *v = l->vectors + i * l->dim;
    double dot = 0.0;
    for (size_t d = 0; d < l->dim; d++)
      dot += (double) e[d] * v[d];
    dot *= norm;
    probs[i] = (float) dot;
    if (sims)
      sims[i] = (float) dot;
    if (l->scale * dot > mx)
      mx = l->scale * dot;
  }
  /* Softmax with the maximum subtracted for stability. */
  for (size_t i = 0; i < l->n; i++) {
    double p = exp (l->scale * probs[i] - mx);
    probs[i] = (float) p;
    sum += p;
  }
  for (size_t i = 0; i < l->n; i++)
    probs[i] = (float) (probs[i] / sum);
  return CLAR_OK;
}

int
clar_labels_top_k (const clar_labels *l, const float *e, size_t k,
                   float threshold, clar_label_score *out)
{
  float *probs, *sims;
  size_t m = 0;
  int rc;
  if (!l || !e || (k && !out))
    return CLAR_ERR_INVALID_ARGUMENT;
  if (k == 0)
    return 0;
  probs = malloc (2 * l->n * sizeof (float));
  if (!probs)
    return CLAR_ERR_NO_MEMORY;
  sims = probs + l->n;
  if ((rc = clar_labels_score (l, e, probs, sims)) != CLAR_OK) {
    free (probs);
    return rc;
  }
  /* Partial insertion sort: k is small (top-k of a few hundred labels). */
  for (size_t i = 0; i < l->n; i++) {
    size_t pos;
    if (probs[i] < threshold)
      continue;
    if (m == k && probs[i] <= out[m - 1].score)
      continue;
    pos = m < k ? m++ : k - 1;
    while (pos > 0 && out[pos - 1].score < probs[i]) {
      out[pos] = out[pos - 1];
      pos--;
    }
    out[pos].index = i;
    out[pos].score = probs[i];
    out[pos].similarity = sims[i];
  }
  free (probs);
  return (int) m;
}

int
clar_labels_open_set (const clar_labels *l, const float *e, float min_similarity,
                      float *best_similarity)
{
  /* The best label by score is the best by cosine: the softmax is
   * monotonic in it. */
  clar_label_score best;
  int n = clar_labels_top_k (l, e, 1, 0.0f, &best);
  if (best_similarity)
    *best_similarity = n == 1 ? best.similarity : NAN;
  if (n < 0)
    return n;
  if (n != 1)
    return CLAR_ERR_INVALID_ARGUMENT;
  return !isnan (min_similarity) && min_similarity > -1.0f && best.similarity < min_similarity;
}
