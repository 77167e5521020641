/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * safetensors reader/writer (format: https://github.com/huggingface/safetensors
 * README, "Format"): u64le header size N, N bytes of JSON, then the byte
 * buffer. Every number from the file is range-checked before use.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <clar/safetensors.h>
#include "json.h"
#include "model-private.h"

#define MAX_FILE_SIZE ((size_t) 2 << 30)   /* 2 GiB */
#define MAX_DIM ((size_t) 1 << 40)

struct clar_st_file {
  float *data;            /* aligned copy of the byte buffer */
  size_t data_size;
  clar_st_tensor *tensors;
  size_t n_tensors;
  char **meta_keys, **meta_values;
  size_t n_meta;
};

static uint64_t
read_le64 (const unsigned char *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

void
clar_st_free (clar_st_file *f)
{
  if (!f)
    return;
  for (size_t i = 0; i < f->n_tensors; i++)
    free ((char *) f->tensors[i].name);
  for (size_t i = 0; i < f->n_meta; i++) {
    free (f->meta_keys[i]);
    free (f->meta_values[i]);
  }
  free (f->tensors);
  free (f->meta_keys);
  free (f->meta_values);
  free (f->data);
  free (f);
}

typedef struct {
  size_t begin, end, index;
} span;

static int
cmp_span (const void *a, const void *b)
{
  const span *x = a, *y = b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return 0;
}

static int
parse_metadata (clar_st_file *f, const clar_json *m, clar_error *err)
{
  if (m->type != CLAR_JSON_OBJECT)
    return clar_set_error (err, CLAR_ERR_BAD_HEADER, "__metadata__ is not a JSON object");
  f->meta_keys = calloc (m->n ? m->n : 1, sizeof (char *));
  f->meta_values = calloc (m->n ? m->n : 1, sizeof (char *));
  if (!f->meta_keys || !f->meta_values)
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory reading metadata");
  for (size_t i = 0; i < m->n; i++) {
    const clar_json *v = &m->items[i];
    if (v->type != CLAR_JSON_STRING)
      return clar_set_error (err, CLAR_ERR_BAD_HEADER,
          "__metadata__ value of \"%.64s\" is not a string", m->keys[i]);
    if (strlen (v->string) != v->string_len || strlen (m->keys[i]) == 0)
      return clar_set_error (err, CLAR_ERR_BAD_HEADER,
          "__metadata__ key or value \"%.64s\" is empty or holds a NUL byte", m->keys[i]);
    for (size_t j = 0; j < i; j++)
      if (strcmp (m->keys[j], m->keys[i]) == 0)
        return clar_set_error (err, CLAR_ERR_BAD_HEADER,
            "__metadata__ key \"%.64s\" appears twice", m->keys[i]);
    f->meta_keys[i] = strdup (m->keys[i]);
    f->meta_values[i] = strdup (v->string);
    f->n_meta = i + 1;
    if (!f->meta_keys[i] || !f->meta_values[i])
      return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory reading metadata");
  }
  return CLAR_OK;
}

static int
parse_tensor (const char *name, const clar_json *t, size_t data_size,
              clar_st_tensor *out, span *sp, clar_error *err)
{
  const clar_json *dtype, *shape, *offs;
  long long b, e;
  if (t->type != CLAR_JSON_OBJECT)
    return clar_set_error (err, CLAR_ERR_BAD_HEADER, "tensor \"%.64s\": entry is not an object", name);
  dtype = clar_json_get (t, "dtype");
  shape = clar_json_get (t, "shape");
  offs = clar_json_get (t, "data_offsets");
  if (!dtype || dtype->type != CLAR_JSON_STRING)
    return clar_set_error (err, CLAR_ERR_BAD_TENSOR, "tensor \"%.64s\": missing or non-string dtype", name);
  if (strcmp (dtype->string, "F32") != 0)
    return clar_set_error (err, CLAR_ERR_UNSUPPORTED,
        "tensor \"%.64s\": dtype %.16s is not supported (only F32)", name, dtype->string);
  if (!shape || shape->type != CLAR_JSON_ARRAY)
    return clar_set_error (err, CLAR_ERR_BAD_TENSOR, "tensor \"%.64s\": missing shape array", name);
  if (shape->n > CLAR_ST_MAX_DIMS)
    return clar_set_error (err, CLAR_ERR_BAD_TENSOR,
        "tensor \"%.64s\": rank %zu exceeds %d", name, shape->n, CLAR_ST_MAX_DIMS);
  out->ndim = shape->n;
  out->n_elements = 1;
  for (size_t i = 0; i < shape->n; i++) {
    long long d;
    if (clar_json_get_int (&shape->items[i], 0, (long long) MAX_DIM, &d))
      return clar_set_error (err, CLAR_ERR_BAD_TENSOR,
          "tensor \"%.64s\": shape[%zu] is not an integer in 0..2^40", name, i);
    out->shape[i] = (size_t) d;
    if (d && out->n_elements > (SIZE_MAX / 4) / (size_t) d)
      return clar_set_error (err, CLAR_ERR_BAD_TENSOR, "tensor \"%.64s\": shape overflows", name);
    out->n_elements *= (size_t) d;
  }
  if (!offs || offs->type != CLAR_JSON_ARRAY || offs->n != 2
      || clar_json_get_int (&offs->items[0], 0, (long long) MAX_FILE_SIZE, &b)
      || clar_json_get_int (&offs->items[1], 0, (long long) MAX_FILE_SIZE, &e))
    return clar_set_error (err, CLAR_ERR_BAD_TENSOR,
        "tensor \"%.64s\": data_offsets must be [begin, end] integers", name);
  if (b > e || (size_t) e > data_size)
    return clar_set_error (err, CLAR_ERR_BAD_TENSOR,
        "tensor \"%.64s\": data_offsets [%lld, %lld] outside the %zu-byte data section",
        name, b, e, data_size);
  if ((size_t) (e - b) != out->n_elements * 4)
    return clar_set_error (err, CLAR_ERR_BAD_TENSOR,
        "tensor \"%.64s\": %lld bytes but shape needs %zu", name, e - b, out->n_elements * 4);
  if (b % 4)
    return clar_set_error (err, CLAR_ERR_BAD_TENSOR,
        "tensor \"%.64s\": data offset %lld is not 4-byte aligned", name, b);
  sp->begin = (size_t) b;
  sp->end = (size_t) e;
  return CLAR_OK;
}

int
clar_st_parse (const void *data, size_t size, clar_st_file **out,
               clar_error *err)
{
  const unsigned char *bytes = data;
  clar_json *root = NULL;
  clar_st_file *f = NULL;
  span *spans = NULL;
  char jerr[128];
  uint64_t hlen;
  size_t data_off, n_entries = 0, k = 0;
  int rc;

  if (out)
    *out = NULL;
  if (!out || (!data && size))
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_st_parse: NULL argument");
  if (size < 8)
    return clar_set_error (err, CLAR_ERR_TRUNCATED,
        "file is %zu bytes; a safetensors file starts with an 8-byte header length", size);
  hlen = read_le64 (bytes);
  if (hlen < 2 || hlen > CLAR_ST_MAX_HEADER)
    return clar_set_error (err, CLAR_ERR_BAD_HEADER,
        "header length %llu is outside 2..%u bytes (not a safetensors file?)",
        (unsigned long long) hlen, CLAR_ST_MAX_HEADER);
  if (hlen > size - 8)
    return clar_set_error (err, CLAR_ERR_TRUNCATED,
        "header announces %llu bytes but only %zu follow", (unsigned long long) hlen, size - 8);
  data_off = 8 + (size_t) hlen;
  if (clar_json_parse ((const char *) bytes + 8, (size_t) hlen, &root, jerr, sizeof jerr))
    return clar_set_error (err, CLAR_ERR_BAD_HEADER, "header: %s", jerr);
  if (root->type != CLAR_JSON_OBJECT) {
    rc = clar_set_error (err, CLAR_ERR_BAD_HEADER, "header is not a JSON object");
    goto fail;
  }
  f = calloc (1, sizeof *f);
  if (!f) {
    rc = clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    goto fail;
  }
  f->data_size = size - data_off;
  for (size_t i = 0; i < root->n; i++) {
    for (size_t j = 0; j < i; j++)
      if (strcmp (root->keys[i], root->keys[j]) == 0) {
        rc = clar_set_error (err, CLAR_ERR_BAD_HEADER,
            "header key \"%.64s\" appears twice", root->keys[i]);
        goto fail;
      }
    if (strcmp (root->keys[i], "__metadata__") != 0)
      n_entries++;
  }
  f->tensors = calloc (n_entries ? n_entries : 1, sizeof *f->tensors);
  spans = calloc (n_entries ? n_entries : 1, sizeof *spans);
  if (!f->tensors || !spans) {
    rc = clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < root->n; i++) {
    const char *name = root->keys[i];
    if (strcmp (name, "__metadata__") == 0) {
      if ((rc = parse_metadata (f, &root->items[i], err)) != CLAR_OK)
        goto fail;
      continue;
    }
    if (name[0] == '\0' || strlen (name) >= 256) {
      rc = clar_set_error (err, CLAR_ERR_BAD_HEADER, "tensor name empty or longer than 255 bytes");
      goto fail;
    }
    if ((rc = parse_tensor (name, &root->items[i], f->data_size, &f->tensors[k], &spans[k], err)))
      goto fail;
    f->tensors[k].name = strdup (name);
    if (!f->tensors[k].name) {
      rc = clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
      goto fail;
    }
    spans[k].index = k;
    k++;
    f->n_tensors = k;
  }
  /* The byte buffer must be covered exactly: no overlap, no hole
   * (safetensors README: "the byte buffer needs to be entirely indexed"). */
  qsort (spans, k, sizeof *spans, cmp_span);
  {
    size_t pos = 0;
    for (size_t i = 0; i < k; i++) {
      if (spans[i].begin != pos) {
        rc = clar_set_error (err, CLAR_ERR_BAD_TENSOR,
            "tensor \"%.64s\": data starts at %zu, expected %zu (%s)",
            f->tensors[spans[i].index].name, spans[i].begin, pos,
            spans[i].begin < pos ? "overlaps another tensor" : "hole in the data section");
        goto fail;
      }
      pos = spans[i].end;
    }
    if (pos != f->data_size) {
      rc = clar_set_error (err, CLAR_ERR_BAD_TENSOR,
          "data section is %zu bytes but tensors cover %zu", f->data_size, pos);
      goto fail;
    }
  }
  /* Aligned copy: the header length is arbitrary, so data in the file image
   * need not be float-aligned. */
  if (f->data_size) {
    void *mem = NULL;
    if (posix_memalign (&mem, 64, f->data_size)) {
      rc = clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory for %zu bytes of tensors", f->data_size);
      goto fail;
    }
    memcpy (mem, bytes + data_off, f->data_size);
    f->data = mem;
  }
  for (size_t i = 0; i < k; i++)
    f->tensors[spans[i].index].data = f->data ? (const float *) ((const char *) f->data + spans[i].begin) : NULL;
  /* Keep tensors in file (offset) order. */
  {
    clar_st_tensor *sorted = malloc ((k ? k : 1) * sizeof *sorted);
    if (!sorted) {
      rc = clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
      goto fail;
    }
    for (size_t i = 0; i < k; i++)
      sorted[i] = f->tensors[spans[i].index];
    free (f->tensors);
    f->tensors = sorted;
  }
  free (spans);
  clar_json_free (root);
  *out = f;
  return CLAR_OK;

fail:
  free (spans);
  clar_json_free (root);
  clar_st_free (f);
  return rc;
}

int
clar_st_read_file (const char *path, clar_st_file **out, clar_error *err)
{
  FILE *fp;
  struct stat st;
  unsigned char *buf;
  size_t got;
  int rc;

  if (out)
    *out = NULL;
  if (!path || !out)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_st_read_file: NULL argument");
  fp = fopen (path, "rb");
  if (!fp)
    return clar_set_error (err, CLAR_ERR_IO, "cannot open %s: %s", path, strerror (errno));
  if (fstat (fileno (fp), &st) != 0 || !S_ISREG (st.st_mode)) {
    fclose (fp);
    return clar_set_error (err, CLAR_ERR_IO, "%s is not a regular file", path);
  }
  if ((unsigned long long) st.st_size > MAX_FILE_SIZE) {
    fclose (fp);
    return clar_set_error (err, CLAR_ERR_IO, "%s is larger than 2 GiB", path);
  }
  if (st.st_size == 0) {
    fclose (fp);
    return clar_set_error (err, CLAR_ERR_TRUNCATED, "%s is empty", path);
  }
  buf = malloc ((size_t) st.st_size);
  if (!buf) {
    fclose (fp);
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory reading %s", path);
  }
  got = fread (buf, 1, (size_t) st.st_size, fp);
  if (ferror (fp)) {
    rc = clar_set_error (err, CLAR_ERR_IO, "error reading %s: %s", path, strerror (errno));
    fclose (fp);
    free (buf);
    return rc;
  }
  fclose (fp);
  rc = clar_st_parse (buf, got, out, err);
  free (buf);
  if (rc != CLAR_OK && err) {
    char msg[CLAR_ERROR_MESSAGE_SIZE];
    snprintf (msg, sizeof msg, "%.100s: %.150s", path, err->message);
    memcpy (err->message, msg, sizeof msg);
  }
  return rc;
}

size_t
clar_st_n_tensors (const clar_st_file *f)
{
  return f ? f->n_tensors : 0;
}

const clar_st_tensor *
clar_st_tensor_at (const clar_st_file *f, size_t i)
{
  return (f && i < f->n_tensors) ? &f->tensors[i] : NULL;
}

const clar_st_tensor *
clar_st_find (const clar_st_file *f, const char *name)
{
  if (!f || !name)
    return NULL;
  for (size_t i = 0; i < f->n_tensors; i++)
    if (strcmp (f->tensors[i].name, name) == 0)
      return &f->tensors[i];
  return NULL;
}

const char *
clar_st_metadata (const clar_st_file *f, const char *key)
{
  if (!f || !key)
    return NULL;
  for (size_t i = 0; i < f->n_meta; i++)
    if (strcmp (f->meta_keys[i], key) == 0)
      return f->meta_values[i];
  return NULL;
}

size_t
clar_st_n_metadata (const clar_st_file *f)
{
  return f ? f->n_meta : 0;
}

int
clar_st_metadata_at (const clar_st_file *f, size_t i, const char **key,
                     const char **value)
{
  if (!f || i >= f->n_meta)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (key)
    *key = f->meta_keys[i];
  if (value)
    *value = f->meta_values[i];
  return CLAR_OK;
}

/* ---- writer ---- */

typedef struct {
  char *name;
  size_t ndim, shape[CLAR_ST_MAX_DIMS], n;
  float *data;
} w_tensor;

struct clar_st_writer {
  w_tensor *t;
  size_t n_t, cap_t;
  char **keys, **values;
  size_t n_m, cap_m;
};

clar_st_writer *
clar_st_writer_new (void)
{
  return calloc (1, sizeof (clar_st_writer));
}

void
clar_st_writer_free (clar_st_writer *w)
{
  if (!w)
    return;
  for (size_t i = 0; i < w->n_t; i++) {
    free (w->t[i].name);
    free (w->t[i].data);
  }
  for (size_t i = 0; i < w->n_m; i++) {
    free (w->keys[i]);
    free (w->values[i]);
  }
  free (w->t);
  free (w->keys);
  free (w->values);
  free (w);
}

int
clar_st_writer_set_metadata (clar_st_writer *w, const char *key,
                             const char *value)
{
  char *v;
  if (!w || !key || !value || !*key)
    return CLAR_ERR_INVALID_ARGUMENT;
  v = strdup (value);
  if (!v)
    return CLAR_ERR_NO_MEMORY;
  for (size_t i = 0; i < w->n_m; i++)
    if (strcmp (w->keys[i], key) == 0) {
      free (w->values[i]);
      w->values[i] = v;
      return CLAR_OK;
    }
  if (w->n_m == w->cap_m) {
    size_t nc = w->cap_m ? 2 * w->cap_m : 16;
    char **nk = realloc (w->keys, nc * sizeof *nk);
    if (!nk) { free (v); return CLAR_ERR_NO_MEMORY; }
    w->keys = nk;
    char **nv = realloc (w->values, nc * sizeof *nv);
    if (!nv) { free (v); return CLAR_ERR_NO_MEMORY; }
    w->values = nv;
    w->cap_m = nc;
  }
  w->keys[w->n_m] = strdup (key);
  if (!w->keys[w->n_m]) { free (v); return CLAR_ERR_NO_MEMORY; }
  w->values[w->n_m++] = v;
  return CLAR_OK;
}

int
clar_st_writer_add (clar_st_writer *w, const char *name, const size_t *shape,
                    size_t ndim, const float *data)
{
  w_tensor t = { 0 };
  if (!w || !name || !*name || strlen (name) >= 256 || ndim > CLAR_ST_MAX_DIMS
      || (ndim && !shape) || strcmp (name, "__metadata__") == 0)
    return CLAR_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < w->n_t; i++)
    if (strcmp (w->t[i].name, name) == 0)
      return CLAR_ERR_INVALID_ARGUMENT;
  t.ndim = ndim;
  t.n = 1;
  for (size_t i = 0; i < ndim; i++) {
    if (shape[i] > MAX_DIM || (shape[i] && t.n > (SIZE_MAX / 4) / shape[i]))
      return CLAR_ERR_INVALID_ARGUMENT;
    t.shape[i] = shape[i];
    t.n *= shape[i];
  }
  if (t.n && !data)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (w->n_t == w->cap_t) {
    size_t nc = w->cap_t ? 2 * w->cap_t : 16;
    w_tensor *nt = realloc (w->t, nc * sizeof *nt);
    if (!nt)
      return CLAR_ERR_NO_MEMORY;
    w->t = nt;
    w->cap_t = nc;
  }
  t.name = strdup (name);
  t.data = malloc (t.n ? t.n * sizeof (float) : 1);
  if (!t.name || !t.data) {
    free (t.name);
    free (t.data);
    return CLAR_ERR_NO_MEMORY;
  }
  if (t.n)
    memcpy (t.data, data, t.n * sizeof (float));
  w->t[w->n_t++] = t;
  return CLAR_OK;
}

int
clar_st_writer_to_memory (const clar_st_writer *w, void **data, size_t *size,
                          clar_error *err)
{
  clar_strbuf h = { 0 };
  size_t off = 0, total;
  unsigned char *buf;

  if (!w || !data || !size)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_st_writer_to_memory: NULL argument");
  clar_strbuf_puts (&h, "{");
  if (w->n_m) {
    clar_strbuf_puts (&h, "\"__metadata__\":{");
    for (size_t i = 0; i < w->n_m; i++) {
      if (i)
        clar_strbuf_puts (&h, ",");
      clar_strbuf_json_string (&h, w->keys[i]);
      clar_strbuf_puts (&h, ":");
      clar_strbuf_json_string (&h, w->values[i]);
    }
    clar_strbuf_puts (&h, "}");
  }
  for (size_t i = 0; i < w->n_t; i++) {
    const w_tensor *t = &w->t[i];
    if (i || w->n_m)
      clar_strbuf_puts (&h, ",");
    clar_strbuf_json_string (&h, t->name);
    clar_strbuf_puts (&h, ":{\"dtype\":\"F32\",\"shape\":[");
    for (size_t d = 0; d < t->ndim; d++)
      clar_strbuf_printf (&h, d ? ",%zu" : "%zu", t->shape[d]);
    clar_strbuf_printf (&h, "],\"data_offsets\":[%zu,%zu]}", off, off + t->n * 4);
    off += t->n * 4;
  }
  clar_strbuf_puts (&h, "}");
  /* Pad with spaces so the byte buffer starts 8-byte aligned. */
  while (!h.failed && (8 + h.len) % 8)
    clar_strbuf_puts (&h, " ");
  if (h.failed) {
    clar_strbuf_clear (&h);
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory building header");
  }
  if (h.len > CLAR_ST_MAX_HEADER) {
    clar_strbuf_clear (&h);
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "header would exceed %u bytes", CLAR_ST_MAX_HEADER);
  }
  total = 8 + h.len + off;
  buf = malloc (total);
  if (!buf) {
    clar_strbuf_clear (&h);
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory (%zu bytes)", total);
  }
  for (int i = 0; i < 8; i++)
    buf[i] = (unsigned char) (((uint64_t) h.len >> (8 * i)) & 0xFF);
  memcpy (buf + 8, h.data, h.len);
  off = 8 + h.len;
  for (size_t i = 0; i < w->n_t; i++) {
    /* Little-endian host assumed (x86-64, aarch64); see meson.build check. */
    memcpy (buf + off, w->t[i].data, w->t[i].n * 4);
    off += w->t[i].n * 4;
  }
  clar_strbuf_clear (&h);
  *data = buf;
  *size = total;
  return CLAR_OK;
}

int
clar_st_writer_save (const clar_st_writer *w, const char *path,
                     clar_error *err)
{
  void *data = NULL;
  size_t size = 0;
  char *tmp;
  int fd, rc;
  size_t plen;

  if (!path)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_st_writer_save: NULL path");
  if ((rc = clar_st_writer_to_memory (w, &data, &size, err)) != CLAR_OK)
    return rc;
  plen = strlen (path);
  tmp = malloc (plen + 16);
  if (!tmp) {
    free (data);
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  }
  memcpy (tmp, path, plen);
  memcpy (tmp + plen, ".tmp.XXXXXX", 12);
  fd = mkstemp (tmp);
  if (fd < 0) {
    rc = clar_set_error (err, CLAR_ERR_IO, "cannot create %s: %s", tmp, strerror (errno));
    free (tmp);
    free (data);
    return rc;
  }
  {
    size_t done = 0;
    while (done < size) {
      ssize_t n = write (fd, (const char *) data + done, size - done);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        rc = clar_set_error (err, CLAR_ERR_IO, "cannot write %s: %s", tmp, strerror (errno));
        close (fd);
        unlink (tmp);
        free (tmp);
        free (data);
        return rc;
      }
      done += (size_t) n;
    }
  }
  free (data);
  if (fsync (fd) != 0 || close (fd) != 0) {
    rc = clar_set_error (err, CLAR_ERR_IO, "cannot flush %s: %s", tmp, strerror (errno));
    unlink (tmp);
    free (tmp);
    return rc;
  }
  chmod (tmp, 0644);
  if (rename (tmp, path) != 0) {
    rc = clar_set_error (err, CLAR_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror (errno));
    unlink (tmp);
    free (tmp);
    return rc;
  }
  free (tmp);
  return CLAR_OK;
}
