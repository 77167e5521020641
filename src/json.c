/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A bounded recursive-descent JSON parser (RFC 8259) for untrusted headers. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

typedef struct {
  const char *s;
  size_t len, pos;
  char *err;
  size_t errlen;
  int failed;
} parser;

static int
fail (parser *p, const char *what)
{
  if (!p->failed && p->err && p->errlen)
    snprintf (p->err, p->errlen, "JSON: %s at byte %zu", what, p->pos);
  p->failed = 1;
  return -1;
}

static void
skip_ws (parser *p)
{
  while (p->pos < p->len) {
    char c = p->s[p->pos];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
      p->pos++;
    else
      break;
  }
}

static int parse_value (parser *p, clar_json *v, int depth);

static int
hex4 (parser *p, unsigned *out)
{
  unsigned v = 0;
  if (p->len - p->pos < 4)
    return fail (p, "truncated \\u escape");
  for (int i = 0; i < 4; i++) {
    char c = p->s[p->pos++];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned) (c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned) (c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned) (c - 'A' + 10);
    else return fail (p, "bad hex digit in \\u escape");
  }
  *out = v;
  return 0;
}

static void
put_utf8 (clar_strbuf *b, unsigned cp)
{
  char u[4];
  size_t n;
  if (cp < 0x80) { u[0] = (char) cp; n = 1; }
  else if (cp < 0x800) { u[0] = (char) (0xC0 | (cp >> 6)); u[1] = (char) (0x80 | (cp & 0x3F)); n = 2; }
  else if (cp < 0x10000) {
    u[0] = (char) (0xE0 | (cp >> 12)); u[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char) (0x80 | (cp & 0x3F)); n = 3;
  } else {
    u[0] = (char) (0xF0 | (cp >> 18)); u[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char) (0x80 | ((cp >> 6) & 0x3F)); u[3] = (char) (0x80 | (cp & 0x3F)); n = 4;
  }
  clar_strbuf_append (b, u, n);
}

/* p->pos is just past the opening quote. */
static int
parse_string (parser *p, char **out, size_t *out_len)
{
  clar_strbuf b = { 0 };
  for (;;) {
    if (p->pos >= p->len) {
      clar_strbuf_clear (&b);
      return fail (p, "unterminated string");
    }
    unsigned char c = (unsigned char) p->s[p->pos++];
    if (c == '"')
      break;
    if (c < 0x20) {
      clar_strbuf_clear (&b);
      p->pos--;
      return fail (p, "control character in string");
    }
    if (c != '\\') {
      /* Copy a run of plain bytes at once. */
      size_t start = p->pos - 1;
      while (p->pos < p->len && p->s[p->pos] != '"' && p->s[p->pos] != '\\'
          && (unsigned char) p->s[p->pos] >= 0x20)
        p->pos++;
      clar_strbuf_append (&b, p->s + start, p->pos - start);
      continue;
    }
    if (p->pos >= p->len) {
      clar_strbuf_clear (&b);
      return fail (p, "truncated escape");
    }
    char e = p->s[p->pos++];
    switch (e) {
      case '"': clar_strbuf_append (&b, "\"", 1); break;
      case '\\': clar_strbuf_append (&b, "\\", 1); break;
      case '/': clar_strbuf_append (&b, "/", 1); break;
      case 'b': clar_strbuf_append (&b, "\b", 1); break;
      case 'f': clar_strbuf_append (&b, "\f", 1); break;
      case 'n': clar_strbuf_append (&b, "\n", 1); break;
      case 'r': clar_strbuf_append (&b, "\r", 1); break;
      case 't': clar_strbuf_append (&b, "\t", 1); break;
      case 'u': {
        unsigned cp, lo;
        if (hex4 (p, &cp)) { clar_strbuf_clear (&b); return -1; }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          /* UTF-16 surrogate pair (RFC 8259 section 7). */
          if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
            clar_strbuf_clear (&b);
            return fail (p, "unpaired high surrogate");
          }
          p->pos += 2;
          if (hex4 (p, &lo)) { clar_strbuf_clear (&b); return -1; }
          if (lo < 0xDC00 || lo > 0xDFFF) {
            clar_strbuf_clear (&b);
            return fail (p, "invalid low surrogate");
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          clar_strbuf_clear (&b);
          return fail (p, "unpaired low surrogate");
        }
        put_utf8 (&b, cp);
        break;
      }
      default:
        clar_strbuf_clear (&b);
        return fail (p, "invalid escape");
    }
  }
  if (!b.data && !b.failed)
    clar_strbuf_append (&b, "", 0);
  if (b.failed) {
    clar_strbuf_clear (&b);
    return fail (p, "out of memory");
  }
  *out = b.data;
  *out_len = b.len;
  return 0;
}

static int
parse_number (parser *p, clar_json *v)
{
  size_t start = p->pos;
  char buf[64];
  if (p->pos < p->len && p->s[p->pos] == '-') p->pos++;
  if (p->pos >= p->len) return fail (p, "truncated number");
  if (p->s[p->pos] == '0') {
    p->pos++;
  } else if (p->s[p->pos] >= '1' && p->s[p->pos] <= '9') {
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
  } else {
    return fail (p, "invalid number");
  }
  if (p->pos < p->len && p->s[p->pos] == '.') {
    p->pos++;
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
      return fail (p, "invalid fraction");
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
  }
  if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
    p->pos++;
    if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
      return fail (p, "invalid exponent");
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
  }
  size_t n = p->pos - start;
  if (n >= sizeof buf)
    return fail (p, "number too long");
  memcpy (buf, p->s + start, n);
  buf[n] = '\0';
  v->type = CLAR_JSON_NUMBER;
  v->number = strtod (buf, NULL);
  if (!isfinite (v->number))
    return fail (p, "number out of range");
  return 0;
}

static int
grow (parser *p, clar_json **items, char ***keys, size_t n, size_t *cap)
{
  if (n < *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : 4;
  clar_json *ni = realloc (*items, nc * sizeof **items);
  if (!ni)
    return fail (p, "out of memory");
  *items = ni;
  if (keys) {
    char **nk = realloc (*keys, nc * sizeof **keys);
    if (!nk)
      return fail (p, "out of memory");
    *keys = nk;
  }
  *cap = nc;
  return 0;
}

static int
parse_value (parser *p, clar_json *v, int depth)
{
  memset (v, 0, sizeof *v);
  skip_ws (p);
  if (p->pos >= p->len)
    return fail (p, "unexpected end of input");
  char c = p->s[p->pos];
  if (c == '{' || c == '[') {
    int is_obj = c == '{';
    size_t cap = 0;
    if (depth >= CLAR_JSON_MAX_DEPTH)
      return fail (p, "nesting too deep");
    p->pos++;
    v->type = is_obj ? CLAR_JSON_OBJECT : CLAR_JSON_ARRAY;
    skip_ws (p);
    if (p->pos < p->len && p->s[p->pos] == (is_obj ? '}' : ']')) {
      p->pos++;
      return 0;
    }
    for (;;) {
      char *key = NULL;
      size_t klen;
      skip_ws (p);
      if (is_obj) {
        if (p->pos >= p->len || p->s[p->pos] != '"')
          return fail (p, "expected string key");
        p->pos++;
        if (parse_string (p, &key, &klen))
          return -1;
        skip_ws (p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
          free (key);
          return fail (p, "expected ':'");
        }
        p->pos++;
      }
      if (grow (p, &v->items, is_obj ? &v->keys : NULL, v->n, &cap)) {
        free (key);
        return -1;
      }
      if (is_obj)
        v->keys[v->n] = key;
      /* Count the item before parsing so clar_json_free releases it on error. */
      v->n++;
      if (parse_value (p, &v->items[v->n - 1], depth + 1))
        return -1;
      skip_ws (p);
      if (p->pos >= p->len)
        return fail (p, "unexpected end of input");
      if (p->s[p->pos] == ',') {
        p->pos++;
        continue;
      }
      if (p->s[p->pos] == (is_obj ? '}' : ']')) {
        p->pos++;
        return 0;
      }
      return fail (p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
  if (c == '"') {
    p->pos++;
    v->type = CLAR_JSON_STRING;
    return parse_string (p, &v->string, &v->string_len);
  }
  if (c == '-' || (c >= '0' && c <= '9'))
    return parse_number (p, v);
  if (p->len - p->pos >= 4 && memcmp (p->s + p->pos, "true", 4) == 0) {
    p->pos += 4; v->type = CLAR_JSON_BOOL; v->boolean = 1; return 0;
  }
  if (p->len - p->pos >= 5 && memcmp (p->s + p->pos, "false", 5) == 0) {
    p->pos += 5; v->type = CLAR_JSON_BOOL; return 0;
  }
  if (p->len - p->pos >= 4 && memcmp (p->s + p->pos, "null", 4) == 0) {
    p->pos += 4; v->type = CLAR_JSON_NULL; return 0;
  }
  return fail (p, "unexpected character");
}

static void
json_clear (clar_json *v)
{
  if (!v)
    return;
  free (v->string);
  for (size_t i = 0; i < v->n; i++) {
    json_clear (&v->items[i]);
    if (v->keys)
      free (v->keys[i]);
  }
  free (v->items);
  free (v->keys);
}

void
clar_json_free (clar_json *v)
{
  json_clear (v);
  free (v);
}

int
clar_json_parse (const char *text, size_t len, clar_json **out, char *errmsg,
                 size_t errlen)
{
  parser p = { text, len, 0, errmsg, errlen, 0 };
  clar_json *v;
  *out = NULL;
  if (!text) {
    p.pos = 0;
    return fail (&p, "no input");
  }
  v = calloc (1, sizeof *v);
  if (!v)
    return fail (&p, "out of memory");
  if (parse_value (&p, v, 0)) {
    clar_json_free (v);
    return -1;
  }
  skip_ws (&p);
  if (p.pos != p.len) {
    clar_json_free (v);
    return fail (&p, "trailing characters after JSON value");
  }
  *out = v;
  return 0;
}

const clar_json *
clar_json_get (const clar_json *v, const char *key)
{
  if (!v || v->type != CLAR_JSON_OBJECT)
    return NULL;
  for (size_t i = 0; i < v->n; i++)
    if (strcmp (v->keys[i], key) == 0)
      return &v->items[i];
  return NULL;
}

int
clar_json_get_int (const clar_json *v, long long lo, long long hi,
                   long long *out)
{
  if (!v || v->type != CLAR_JSON_NUMBER)
    return -1;
  if (!(v->number >= (double) lo && v->number <= (double) hi))
    return -1;
  if (v->number != floor (v->number))
    return -1;
  *out = (long long) v->number;
  return 0;
}

void
clar_strbuf_append (clar_strbuf *b, const char *s, size_t n)
{
  if (b->failed)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 64;
    while (nc < b->len + n + 1)
      nc *= 2;
    char *nd = realloc (b->data, nc);
    if (!nd) {
      b->failed = 1;
      return;
    }
    b->data = nd;
    b->cap = nc;
  }
  if (n)
    memcpy (b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void
clar_strbuf_puts (clar_strbuf *b, const char *s)
{
  clar_strbuf_append (b, s, strlen (s));
}

void
clar_strbuf_printf (clar_strbuf *b, const char *fmt, ...)
{
  char tmp[512];
  va_list ap;
  va_start (ap, fmt);
  int n = vsnprintf (tmp, sizeof tmp, fmt, ap);
  va_end (ap);
  if (n < 0) {
    b->failed = 1;
    return;
  }
  if ((size_t) n < sizeof tmp) {
    clar_strbuf_append (b, tmp, (size_t) n);
    return;
  }
  char *big = malloc ((size_t) n + 1);
  if (!big) {
    b->failed = 1;
    return;
  }
  va_start (ap, fmt);
  vsnprintf (big, (size_t) n + 1, fmt, ap);
  va_end (ap);
  clar_strbuf_append (b, big, (size_t) n);
  free (big);
}

void
clar_strbuf_json_string (clar_strbuf *b, const char *s)
{
  clar_strbuf_append (b, "\"", 1);
  for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
    switch (*c) {
      case '"': clar_strbuf_append (b, "\\\"", 2); break;
      case '\\': clar_strbuf_append (b, "\\\\", 2); break;
      case '\n': clar_strbuf_append (b, "\\n", 2); break;
      case '\r': clar_strbuf_append (b, "\\r", 2); break;
      case '\t': clar_strbuf_append (b, "\\t", 2); break;
      default:
        if (*c < 0x20)
          clar_strbuf_printf (b, "\\u%04x", *c);
        else
          clar_strbuf_append (b, (const char *) c, 1);
    }
  }
  clar_strbuf_append (b, "\"", 1);
}

void
clar_strbuf_clear (clar_strbuf *b)
{
  free (b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->failed = 0;
}
