/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal: a small DOM JSON parser (RFC 8259) for untrusted input — the
 * safetensors header and the structured metadata strings inside it — and a
 * growable string buffer used by the writers. Depth is capped at
 * CLAR_JSON_MAX_DEPTH; every read is bounded by the given length.
 */
#ifndef CLAR_JSON_H
#define CLAR_JSON_H

#include <stddef.h>

#define CLAR_JSON_MAX_DEPTH 64

typedef enum clar_json_type {
  CLAR_JSON_NULL,
  CLAR_JSON_BOOL,
  CLAR_JSON_NUMBER,
  CLAR_JSON_STRING,
  CLAR_JSON_ARRAY,
  CLAR_JSON_OBJECT
} clar_json_type;

typedef struct clar_json clar_json;
struct clar_json {
  clar_json_type type;
  int boolean;
  double number;
  char *string;       /* STRING: NUL-terminated UTF-8 (may hold embedded NULs) */
  size_t string_len;
  size_t n;           /* ARRAY / OBJECT: number of items */
  clar_json *items;   /* ARRAY elements / OBJECT values */
  char **keys;        /* OBJECT keys, in file order */
};

/* Parses text[0..len). On error returns -1 and writes a message naming the
 * byte offset into errmsg. */
int clar_json_parse (const char *text, size_t len, clar_json **out,
                     char *errmsg, size_t errlen);
void clar_json_free (clar_json *v);

/* Object member by key (first match), NULL if absent or v is no object. */
const clar_json *clar_json_get (const clar_json *v, const char *key);

/* Number that is an exact integer in [lo, hi]; returns 0 on success. */
int clar_json_get_int (const clar_json *v, long long lo, long long hi,
                       long long *out);

typedef struct clar_strbuf {
  char *data;
  size_t len, cap;
  int failed;         /* an allocation failed; data is then unusable */
} clar_strbuf;

void clar_strbuf_append (clar_strbuf *b, const char *s, size_t n);
void clar_strbuf_puts (clar_strbuf *b, const char *s);
void clar_strbuf_printf (clar_strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;
/* Appends s as a quoted JSON string. */
void clar_strbuf_json_string (clar_strbuf *b, const char *s);
void clar_strbuf_clear (clar_strbuf *b);

#endif
