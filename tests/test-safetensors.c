/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* safetensors container and JSON parser: round trip and hostile input. */
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <clar/clar.h>
#include "clar-test.h"
#include "json.h"

static void *
make_file (size_t *size)
{
  clar_st_writer *w = clar_st_writer_new ();
  float a[6] = { 1, 2, 3, 4, 5, 6 }, b[3] = { -1.5f, 0.25f, 1e30f };
  size_t sa[2] = { 2, 3 }, sb[1] = { 3 };
  void *data = NULL;
  clar_st_writer_set_metadata (w, "clar.format", "clar-model");
  clar_st_writer_set_metadata (w, "quote\"key", "line\nbreak \\ \"q\" \xc3\xa9");
  clar_st_writer_add (w, "a", sa, 2, a);
  clar_st_writer_add (w, "b.x", sb, 1, b);
  clar_st_writer_to_memory (w, &data, size, NULL);
  clar_st_writer_free (w);
  return data;
}

static void
test_round_trip (void)
{
  size_t size;
  unsigned char *data = make_file (&size);
  clar_st_file *f = NULL;
  clar_error err;
  const clar_st_tensor *t;
  uint64_t hlen = 0;
  CHECK (data != NULL);
  for (int i = 7; i >= 0; i--)
    hlen = (hlen << 8) | data[i];
  CHECK_EQ_INT ((8 + hlen) % 8, 0);  /* data section 8-byte aligned */
  CHECK_EQ_INT (clar_st_parse (data, size, &f, &err), CLAR_OK);
  CHECK_EQ_INT (clar_st_n_tensors (f), 2);
  t = clar_st_find (f, "a");
  CHECK (t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->n_elements == 6);
  CHECK (t && t->data[5] == 6.0f && ((uintptr_t) t->data % 4) == 0);
  t = clar_st_find (f, "b.x");
  CHECK (t && t->data[0] == -1.5f && t->data[2] == 1e30f);
  CHECK (clar_st_find (f, "c") == NULL);
  CHECK (strcmp (clar_st_metadata (f, "clar.format"), "clar-model") == 0);
  CHECK (strcmp (clar_st_metadata (f, "quote\"key"), "line\nbreak \\ \"q\" \xc3\xa9") == 0);
  CHECK_EQ_INT (clar_st_n_metadata (f), 2);
  clar_st_free (f);
  free (data);
}

static void
test_every_truncation (void)
{
  size_t size;
  unsigned char *data = make_file (&size);
  int crashes_avoided = 0;
  for (size_t n = 0; n < size; n++) {
    clar_st_file *f = NULL;
    clar_error err;
    unsigned char *copy = malloc (n ? n : 1);  /* exact size: valgrind/ASan catch overreads */
    memcpy (copy, data, n);
    int rc = clar_st_parse (copy, n, &f, &err);
    CHECK_MSG (rc != CLAR_OK && f == NULL, "prefix of %zu/%zu bytes parsed", n, size);
    CHECK (rc == CLAR_ERR_TRUNCATED || rc == CLAR_ERR_BAD_HEADER || rc == CLAR_ERR_BAD_TENSOR);
    crashes_avoided++;
    free (copy);
  }
  CHECK_EQ_INT (crashes_avoided, size);
  free (data);
}

static void
test_random_corruption (void)
{
  size_t size;
  unsigned char *data = make_file (&size);
  uint64_t s = 42;
  int ok = 0, bad = 0;
  for (int iter = 0; iter < 3000; iter++) {
    unsigned char *copy = malloc (size);
    clar_st_file *f = NULL;
    memcpy (copy, data, size);
    for (int k = 0; k < 1 + iter % 4; k++) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      copy[(s >> 33) % size] ^= (unsigned char) (1u << ((s >> 20) % 8));
    }
    if (clar_st_parse (copy, size, &f, NULL) == CLAR_OK) {
      /* Still valid (e.g. a flipped tensor value): must be self-consistent. */
      for (size_t i = 0; i < clar_st_n_tensors (f); i++)
        CHECK (clar_st_tensor_at (f, i)->n_elements * 4 <= size);
      ok++;
    } else {
      CHECK (f == NULL);
      bad++;
    }
    clar_st_free (f);
    free (copy);
  }
  CHECK (ok > 0 && bad > 0);
  free (data);
}

/* Builds 8-byte length + header + data. */
static int
parse_header (const char *json, size_t data_bytes, clar_error *err)
{
  size_t hl = strlen (json), size = 8 + hl + data_bytes;
  unsigned char *buf = calloc (1, size);
  clar_st_file *f = NULL;
  int rc;
  for (int i = 0; i < 8; i++)
    buf[i] = (unsigned char) (((uint64_t) hl >> (8 * i)) & 0xff);
  memcpy (buf + 8, json, hl);
  rc = clar_st_parse (buf, size, &f, err);
  clar_st_free (f);
  free (buf);
  return rc;
}

static void
test_hostile_headers (void)
{
  clar_error err;
  unsigned char huge[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}' };
  clar_st_file *f = NULL;
  CHECK_EQ_INT (clar_st_parse (huge, sizeof huge, &f, &err), CLAR_ERR_BAD_HEADER);
  CHECK (strstr (err.message, "header length") != NULL);
  CHECK_EQ_INT (clar_st_parse ("", 0, &f, &err), CLAR_ERR_TRUNCATED);
  CHECK_EQ_INT (parse_header ("{}", 0, &err), CLAR_OK);
  CHECK_EQ_INT (parse_header ("[]", 0, &err), CLAR_ERR_BAD_HEADER);
  CHECK_EQ_INT (parse_header ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, &err),
      CLAR_ERR_BAD_TENSOR);   /* past the end */
  CHECK (strstr (err.message, "\"a\"") != NULL);
  CHECK_EQ_INT (parse_header ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, &err), CLAR_ERR_BAD_TENSOR);
  CHECK (strstr (err.message, "overlaps") != NULL);
  CHECK_EQ_INT (parse_header ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, &err),
      CLAR_ERR_BAD_TENSOR);   /* hole */
  CHECK_EQ_INT (parse_header ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, &err),
      CLAR_ERR_BAD_TENSOR);   /* trailing bytes not covered */
  CHECK_EQ_INT (parse_header ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776,1099511627776],"
      "\"data_offsets\":[0,4]}}", 4, &err), CLAR_ERR_BAD_TENSOR);   /* product overflow */
  CHECK_EQ_INT (parse_header ("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, &err),
      CLAR_ERR_BAD_TENSOR);
  CHECK_EQ_INT (parse_header ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, &err),
      CLAR_ERR_BAD_TENSOR);
  CHECK_EQ_INT (parse_header ("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, &err),
      CLAR_ERR_UNSUPPORTED);
  CHECK (strstr (err.message, "F16") != NULL);
  CHECK_EQ_INT (parse_header ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, &err),
      CLAR_ERR_BAD_TENSOR);
  CHECK_EQ_INT (parse_header ("{\"__metadata__\":{\"k\":5}}", 0, &err), CLAR_ERR_BAD_HEADER);
  CHECK_EQ_INT (parse_header ("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, &err), CLAR_ERR_BAD_HEADER);
  CHECK_EQ_INT (parse_header ("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, &err), CLAR_ERR_BAD_HEADER);
  CHECK_EQ_INT (parse_header ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, &err),
      CLAR_ERR_BAD_HEADER);   /* trailing garbage */
  {
    /* 10000 nested arrays: rejected by the depth limit, no stack overflow. */
    char *deep = malloc (20010);
    size_t n = 0;
    deep[n++] = '{'; memcpy (deep + n, "\"a\":", 4); n += 4;
    for (int i = 0; i < 10000; i++) deep[n++] = '[';
    for (int i = 0; i < 10000; i++) deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = 0;
    CHECK_EQ_INT (parse_header (deep, 0, &err), CLAR_ERR_BAD_HEADER);
    CHECK (strstr (err.message, "deep") != NULL);
    free (deep);
  }
}

static void
test_json (void)
{
  clar_json *v = NULL;
  char e[128];
  const char *ok = "{\"s\":\"\\u00e9\\ud83d\\ude00\\n\",\"n\":-1.5e2,\"a\":[true,false,null],\"o\":{}}";
  CHECK_EQ_INT (clar_json_parse (ok, strlen (ok), &v, e, sizeof e), 0);
  CHECK (v && strcmp (clar_json_get (v, "s")->string, "\xc3\xa9\xf0\x9f\x98\x80\n") == 0);
  CHECK (v && clar_json_get (v, "n")->number == -150.0);
  CHECK (v && clar_json_get (v, "a")->n == 3 && clar_json_get (v, "a")->items[0].boolean == 1);
  clar_json_free (v);
  static const char *bad[] = {
    "", "{", "{\"a\"}", "{\"a\":}", "[1,]", "[01]", "\"\\x\"", "\"\\ud800\"", "\"a\tb\"",
    "[1e]", "nul", "{\"a\":1}}", "[\"\\u12\"]", "-", "1.", "[1e999]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    v = NULL;
    CHECK_MSG (clar_json_parse (bad[i], strlen (bad[i]), &v, e, sizeof e) != 0 && v == NULL,
        "accepted: %s", bad[i]);
  }
  /* Bounded by length, not NUL: a valid prefix followed by junk. */
  CHECK_EQ_INT (clar_json_parse ("[1]xyz", 3, &v, e, sizeof e), 0);
  clar_json_free (v);
}

static void
test_file_io (void)
{
  char path[] = "/tmp/clar-st-XXXXXX";
  int fd = mkstemp (path);
  clar_st_writer *w = clar_st_writer_new ();
  clar_st_file *f = NULL;
  clar_error err;
  float x = 3.0f;
  size_t shape[1] = { 1 };
  close (fd);
  clar_st_writer_add (w, "x", shape, 1, &x);
  CHECK_EQ_INT (clar_st_writer_add (w, "x", shape, 1, &x), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_st_writer_save (w, path, &err), CLAR_OK);
  CHECK_EQ_INT (clar_st_read_file (path, &f, &err), CLAR_OK);
  CHECK (f && clar_st_find (f, "x")->data[0] == 3.0f);
  clar_st_free (f);
  clar_st_writer_free (w);
  unlink (path);
  CHECK_EQ_INT (clar_st_read_file (path, &f, &err), CLAR_ERR_IO);
  CHECK (strstr (err.message, path) != NULL);
  CHECK_EQ_INT (clar_st_read_file ("/tmp", &f, &err), CLAR_ERR_IO);
  fd = open (path, O_CREAT | O_WRONLY, 0600);
  close (fd);
  CHECK_EQ_INT (clar_st_read_file (path, &f, &err), CLAR_ERR_TRUNCATED);
  CHECK (strstr (err.message, "empty") != NULL);
  unlink (path);
  clar_st_free (NULL);
  clar_st_writer_free (NULL);
}

int
main (void)
{
  CLAR_TEST_RUN (test_round_trip);
  CLAR_TEST_RUN (test_every_truncation);
  CLAR_TEST_RUN (test_random_corruption);
  CLAR_TEST_RUN (test_hostile_headers);
  CLAR_TEST_RUN (test_json);
  CLAR_TEST_RUN (test_file_io);
  CLAR_TEST_EXIT ();
}
