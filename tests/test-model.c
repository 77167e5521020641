/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Model loader: a valid model loads; each specific defect gives its status. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <clar/clar.h>
#include "clar-test.h"
#include "model-private.h"

static const char *small_arch =
  "[{\"op\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":4,\"kernel\":3,\"pad\":1},"
  "{\"op\":\"relu\"},{\"op\":\"maxpool2d\",\"kernel\":2},"
  "{\"op\":\"batchnorm2d\",\"name\":\"bn\",\"channels\":4},"
  "{\"op\":\"global_avg_pool\"},{\"op\":\"linear\",\"name\":\"fc\",\"in\":4,\"out\":8}]";

typedef struct {
  const char *meta_key, *meta_value;  /* override one metadata key ("" value = delete not supported) */
  const char *skip_tensor;            /* leave this tensor out */
  const char *bad_shape_tensor;       /* give this tensor one element too many */
  const char *nan_tensor;             /* put a NaN into this tensor */
  const char *bump_tensor;            /* change one weight of this tensor by one ulp */
  int with_labels;
} defect;

static void
add (clar_st_writer *w, const defect *d, const char *name, size_t ndim,
     const size_t *shape, float fill)
{
  size_t n = 1, s[4];
  float *buf;
  if (d->skip_tensor && !strcmp (d->skip_tensor, name))
    return;
  memcpy (s, shape, ndim * sizeof (size_t));
  if (d->bad_shape_tensor && !strcmp (d->bad_shape_tensor, name))
    s[0]++;
  for (size_t i = 0; i < ndim; i++)
    n *= s[i];
  buf = malloc (n * sizeof (float));
  for (size_t i = 0; i < n; i++)
    buf[i] = fill + 0.01f * (float) (i % 7);
  if (d->nan_tensor && !strcmp (d->nan_tensor, name))
    buf[n / 2] = NAN;
  if (d->bump_tensor && !strcmp (d->bump_tensor, name))
    buf[n / 2] = nextafterf (buf[n / 2], 1e30f);
  clar_st_writer_add (w, name, s, ndim, buf);
  free (buf);
}

static int
build_and_load (const defect *d, clar_model **out, clar_error *err)
{
  clar_mel_params mel = clar_mel_default_params ();
  clar_st_writer *w = clar_st_writer_new ();
  size_t s4[4] = { 4, 1, 3, 3 }, s1[1] = { 4 }, s2[2] = { 8, 4 }, s8[1] = { 8 };
  void *data;
  size_t size;
  int rc;
  clar_model_write_header (w, &mel, 16000, 8000, 8, small_arch, "t", NULL);
  add (w, d, "encoder.c1.weight", 4, s4, 0.1f);
  add (w, d, "encoder.c1.bias", 1, s1, 0.0f);
  add (w, d, "encoder.bn.weight", 1, s1, 1.0f);
  add (w, d, "encoder.bn.bias", 1, s1, 0.0f);
  add (w, d, "encoder.bn.running_mean", 1, s1, 0.0f);
  add (w, d, "encoder.bn.running_var", 1, s1, 1.0f);
  add (w, d, "encoder.fc.weight", 2, s2, 0.2f);
  add (w, d, "encoder.fc.bias", 1, s8, 0.0f);
  if (d->with_labels) {
    const char *names[2] = { "dog", "cat" };
    float v[16];
    for (int i = 0; i < 16; i++)
      v[i] = (float) (i % 3) - 0.5f;
    clar_labels *l = clar_labels_new (2, 8, names, v, 10.0f, NULL);
    clar_labels_to_writer (l, w);
    clar_labels_unref (l);
  }
  if (d->meta_key)
    clar_st_writer_set_metadata (w, d->meta_key, d->meta_value);
  clar_st_writer_to_memory (w, &data, &size, NULL);
  clar_st_writer_free (w);
  rc = clar_model_load_memory (data, size, out, err);
  free (data);
  return rc;
}

static void
test_valid (void)
{
  defect d = { 0 };
  clar_model *m = NULL;
  clar_error err;
  const clar_model_info *info;
  d.with_labels = 1;
  CHECK_EQ_INT (build_and_load (&d, &m, &err), CLAR_OK);
  if (!m) {
    fprintf (stderr, "load: %s\n", err.message);
    return;
  }
  info = clar_model_get_info (m);
  CHECK_EQ_INT (info->embedding_dim, 8);
  CHECK_EQ_INT (info->window_samples, 16000);
  CHECK_EQ_INT (info->mel.n_mels, 64);
  CHECK_EQ_INT (info->n_layers, 6);
  /* One 2x pool: 2 frames needed, i.e. 160 samples (1 + 160/160 = 2). */
  CHECK_EQ_INT (info->min_samples, 257);
  CHECK (strcmp (info->name, "t") == 0);
  CHECK (clar_model_get_labels (m) && clar_labels_count (clar_model_get_labels (m)) == 2);
  /* conv: 2*4*64*101*9 + linear 2*4*8 */
  CHECK_CLOSE (clar_model_flops (m, 101), 2.0 * 4 * 64 * 101 * 9 + 2.0 * 4 * 8, 0.5);
  CHECK (clar_model_ref (m) == m);
  clar_model_unref (m);
  clar_model_unref (m);
  clar_model_unref (NULL);
}

static void
expect (defect d, int code, const char *needle)
{
  clar_model *m = NULL;
  clar_error err = { 0 };
  int rc = build_and_load (&d, &m, &err);
  CHECK_MSG (rc == code, "expected %s, got %d (%s)", clar_strerror (code), rc, err.message);
  CHECK (m == NULL);
  CHECK_MSG (needle == NULL || strstr (err.message, needle) != NULL,
      "message \"%s\" lacks \"%s\"", err.message, needle);
  clar_model_unref (m);
}

static void
test_defects (void)
{
  expect ((defect) { .meta_key = "clar.format", .meta_value = "something-else" }, CLAR_ERR_BAD_METADATA, "clar.format");
  expect ((defect) { .meta_key = "clar.format_version", .meta_value = "7" }, CLAR_ERR_UNSUPPORTED, "newer");
  expect ((defect) { .meta_key = "clar.sample_rate", .meta_value = "abc" }, CLAR_ERR_BAD_METADATA, "clar.sample_rate");
  expect ((defect) { .meta_key = "clar.n_fft", .meta_value = "511" }, CLAR_ERR_BAD_METADATA, "n_fft");
  expect ((defect) { .meta_key = "clar.f_max", .meta_value = "9000" }, CLAR_ERR_BAD_METADATA, "f_max");
  expect ((defect) { .meta_key = "clar.log_offset", .meta_value = "nan" }, CLAR_ERR_BAD_METADATA, "log_offset");
  expect ((defect) { .meta_key = "clar.window_samples", .meta_value = "100" }, CLAR_ERR_BAD_METADATA, "window_samples");
  expect ((defect) { .meta_key = "clar.embedding_dim", .meta_value = "9" }, CLAR_ERR_BAD_METADATA, "embedding_dim");
  expect ((defect) { .meta_key = "clar.architecture", .meta_value = "[{\"op\":\"lstm\"}]" }, CLAR_ERR_UNSUPPORTED, "lstm");
  expect ((defect) { .meta_key = "clar.architecture", .meta_value = "not json" }, CLAR_ERR_BAD_METADATA, "clar.architecture");
  expect ((defect) { .meta_key = "clar.architecture", .meta_value =
      "[{\"op\":\"conv2d\",\"name\":\"c1\",\"in\":2,\"out\":4,\"kernel\":3,\"pad\":1},"
      "{\"op\":\"global_avg_pool\"},{\"op\":\"linear\",\"name\":\"fc\",\"in\":4,\"out\":8}]" },
      CLAR_ERR_BAD_METADATA, "chain");
  expect ((defect) { .skip_tensor = "encoder.fc.bias" }, CLAR_ERR_MISSING_TENSOR, "encoder.fc.bias");
  expect ((defect) { .meta_key = "clar.n_mels", .meta_value = "32" }, CLAR_ERR_BAD_TENSOR, "frontend.mel_filterbank");
  expect ((defect) { .bad_shape_tensor = "encoder.c1.weight" }, CLAR_ERR_BAD_TENSOR, "[5,1,3,3]");
  expect ((defect) { .nan_tensor = "encoder.fc.weight" }, CLAR_ERR_BAD_TENSOR, "non-finite");
  expect ((defect) { .nan_tensor = "encoder.bn.running_var" }, CLAR_ERR_BAD_TENSOR, "running_var");
  expect ((defect) { .meta_key = "clar.labels", .meta_value = "[\"dog\"]", .with_labels = 1 }, CLAR_ERR_BAD_TENSOR, "labels.embeddings");
  expect ((defect) { .meta_key = "clar.labels", .meta_value = "[\"dog\",\"dog\"]", .with_labels = 1 }, CLAR_ERR_BAD_METADATA, "twice");
}

static void
test_truncated_model_file (void)
{
  /* Every prefix of a real model file fails cleanly. */
  defect d = { 0 };
  clar_mel_params mel = clar_mel_default_params ();
  clar_st_writer *w = clar_st_writer_new ();
  size_t size, step;
  void *data;
  (void) d;
  clar_model_write_header (w, &mel, 16000, 8000, 8, small_arch, "t", NULL);
  clar_st_writer_to_memory (w, &data, &size, NULL);
  clar_st_writer_free (w);
  step = size / 97 + 1;
  for (size_t n = 0; n < size; n += step) {
    clar_model *m = NULL;
    char *copy = malloc (n + 1);
    memcpy (copy, data, n);
    CHECK (clar_model_load_memory (copy, n, &m, NULL) != CLAR_OK && m == NULL);
    free (copy);
  }
  free (data);
  {
    clar_model *m = NULL;
    clar_error err;
    CHECK_EQ_INT (clar_model_load_file ("/nonexistent/model.safetensors", &m, &err), CLAR_ERR_IO);
    CHECK (strstr (err.message, "/nonexistent/model.safetensors") != NULL);
  }
}

static void
test_default_architecture (void)
{
  clar_layer *l = NULL;
  size_t n = 0;
  clar_shape in = { 1, 64, 101, 0 }, out[32];
  CHECK_EQ_INT (clar_architecture_parse (clar_default_architecture (), &l, &n, NULL), CLAR_OK);
  CHECK_EQ_INT (n, 13);
  CHECK_EQ_INT (clar_layers_infer_shapes (l, n, in, out), CLAR_OK);
  CHECK (out[n - 1].flat && out[n - 1].c == 128);
  CHECK_EQ_INT (out[8].h, 8);   /* 64 mel bands after three 2x pools */
  CHECK_EQ_INT (out[8].w, 12);  /* 101 frames -> 50 -> 25 -> 12 */
  free (l);
}

static clar_model *
load_ok (defect d)
{
  clar_model *m = NULL;
  clar_error err;
  int rc = build_and_load (&d, &m, &err);
  CHECK_MSG (rc == CLAR_OK, "%s", err.message);
  return m;
}

/* model.h "Encoder fingerprint": identifies the encoder's weights and front
 * end, nothing else; label sets record it and clar_model_check_labels
 * compares. */
static void
test_fingerprint (void)
{
  clar_model *a = load_ok ((defect) { .with_labels = 1 });
  clar_model *b = load_ok ((defect) { 0 });
  clar_model *c = load_ok ((defect) { .meta_key = "clar.name", .meta_value = "other" });
  clar_model *d = load_ok ((defect) { .bump_tensor = "encoder.fc.weight" });
  clar_model *e = load_ok ((defect) { .bump_tensor = "encoder.bn.running_var" });
  clar_model *f = load_ok ((defect) { .meta_key = "clar.f_min", .meta_value = "60" });
  clar_model *g = load_ok ((defect) { .meta_key = "clar.labels.encoder_fingerprint",
      .meta_value = "fnv1a64:0123456789abcdef", .with_labels = 1 });
  clar_error err = { 0 };
  const char *fa;
  if (!a || !b || !c || !d || !e || !f || !g)
    goto out;
  fa = clar_model_get_fingerprint (a);
  CHECK_MSG (strlen (fa) == 24 && strncmp (fa, "fnv1a64:", 8) == 0
      && strspn (fa + 8, "0123456789abcdef") == 16, "fingerprint \"%s\"", fa);
  /* Labels and names are not the encoder. */
  CHECK (strcmp (fa, clar_model_get_fingerprint (b)) == 0);
  CHECK (strcmp (fa, clar_model_get_fingerprint (c)) == 0);
  /* One ulp of one weight, a running variance, the front end: all differ. */
  CHECK (strcmp (fa, clar_model_get_fingerprint (d)) != 0);
  CHECK (strcmp (fa, clar_model_get_fingerprint (e)) != 0);
  CHECK (strcmp (fa, clar_model_get_fingerprint (f)) != 0);
  CHECK (strcmp (clar_model_get_fingerprint (d), clar_model_get_fingerprint (e)) != 0);

  /* The head written without a fingerprint is untied; with a wrong one it
   * is refused with both fingerprints named; tied to a, it passes. */
  CHECK_EQ_INT (clar_model_check_labels (a, clar_model_get_labels (a), &err), CLAR_LABELS_UNTIED);
  CHECK_EQ_INT (clar_model_check_labels (g, clar_model_get_labels (g), &err),
      CLAR_ERR_ENCODER_MISMATCH);
  CHECK (strstr (err.message, "fnv1a64:0123456789abcdef") && strstr (err.message, fa));
  CHECK (strcmp (clar_strerror (CLAR_ERR_ENCODER_MISMATCH), "unknown error") != 0);
  {
    clar_labels *l = clar_labels_ref (clar_model_get_labels (g));
    const char *names[1] = { "x" };
    float v[4] = { 1, 0, 0, 0 };
    clar_labels *small = clar_labels_new (1, 4, names, v, 10.0f, NULL);
    CHECK_EQ_INT (clar_model_check_labels (a, l, &err), CLAR_ERR_ENCODER_MISMATCH);
    CHECK_EQ_INT (clar_model_check_labels (d, l, &err), CLAR_ERR_ENCODER_MISMATCH);
    CHECK_EQ_INT (clar_model_check_labels (a, small, &err), CLAR_ERR_DIMENSION_MISMATCH);
    clar_labels_unref (small);
    clar_labels_unref (l);
  }
  {
    /* A label file round-trips its fingerprint; a malformed one is refused. */
    const char *names[2] = { "dog", "cat" };
    float v[16];
    char path[] = "/tmp/clar-test-fp-XXXXXX";
    int fd = mkstemp (path);
    clar_labels *l, *r;
    for (int i = 0; i < 16; i++)
      v[i] = (float) (i % 5) - 1.5f;
    l = clar_labels_new (2, 8, names, v, 10.0f, NULL);
    CHECK_EQ_INT (clar_labels_set_encoder (l, "has space"), CLAR_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT (clar_labels_set_encoder (l, "caf\xc3\xa9"), CLAR_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT (clar_labels_set_encoder (l, fa), CLAR_OK);
    CHECK_EQ_INT (clar_model_check_labels (a, l, &err), CLAR_OK);
    CHECK_EQ_INT (clar_model_check_labels (d, l, &err), CLAR_ERR_ENCODER_MISMATCH);
    close (fd);
    CHECK_EQ_INT (clar_labels_save_file (l, path, &err), CLAR_OK);
    r = clar_labels_load_file (path, &err);
    CHECK (r && strcmp (clar_labels_get_encoder (r), fa) == 0);
    CHECK (r && clar_model_check_labels (b, r, &err) == CLAR_OK);
    clar_labels_unref (r);
    clar_labels_set_encoder (l, NULL);
    CHECK (strcmp (clar_labels_get_encoder (l), "") == 0);
    clar_labels_unref (l);
    unlink (path);
  }
  {
    clar_model *bad = NULL;
    defect x = { .meta_key = "clar.labels.encoder_fingerprint", .meta_value = "a b",
      .with_labels = 1 };
    CHECK_EQ_INT (build_and_load (&x, &bad, &err), CLAR_ERR_BAD_METADATA);
    CHECK (strstr (err.message, "encoder_fingerprint") != NULL);
    clar_model_unref (bad);
  }
out:
  clar_model_unref (a);
  clar_model_unref (b);
  clar_model_unref (c);
  clar_model_unref (d);
  clar_model_unref (e);
  clar_model_unref (f);
  clar_model_unref (g);
}

/* ---- residual depthwise-separable layers ---- */

/* A model file for any layer list: every tensor the layers need (small
 * values), defects as in build_and_load. A list that does not parse gets
 * none (the loader must refuse it before looking for tensors). */
static int
load_arch (const char *arch, const defect *d, clar_model **out, clar_error *err)
{
  clar_mel_params mel = clar_mel_default_params ();
  clar_st_writer *w = clar_st_writer_new ();
  clar_layer *ls = NULL;
  size_t n = 0, D = 8;
  void *data;
  size_t size;
  int rc;
  if (clar_architecture_parse (arch, &ls, &n, NULL) == CLAR_OK)
    for (size_t i = 0; i < n; i++)
      if (ls[i].op == CLAR_OP_LINEAR)
        D = (size_t) ls[i].out;
  clar_model_write_header (w, &mel, 16000, 8000, D, arch, "t", NULL);
  for (size_t i = 0; i < n; i++) {
    const clar_layer *l = &ls[i];
    char wn[96], bn[96];
    size_t s4[4] = { (size_t) l->out, (size_t) l->in, (size_t) l->kernel, (size_t) l->kernel };
    size_t s1[1] = { (size_t) l->out }, s2[2] = { (size_t) l->out, (size_t) l->in };
    snprintf (wn, sizeof wn, "encoder.%s.weight", l->name);
    snprintf (bn, sizeof bn, "encoder.%s.bias", l->name);
    if (l->op == CLAR_OP_CONV2D || l->op == CLAR_OP_DWCONV2D) {
      if (l->op == CLAR_OP_DWCONV2D)
        s4[1] = 1;
      add (w, d, wn, 4, s4, 0.05f);
      add (w, d, bn, 1, s1, 0.01f);
    } else if (l->op == CLAR_OP_LINEAR) {
      add (w, d, wn, 2, s2, 0.05f);
      add (w, d, bn, 1, s1, 0.0f);
    }
  }
  free (ls);
  clar_st_writer_to_memory (w, &data, &size, NULL);
  clar_st_writer_free (w);
  rc = clar_model_load_memory (data, size, out, err);
  free (data);
  return rc;
}

#define RES_HEAD "[{\"op\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":4,\"kernel\":3,\"pad\":1},"
#define RES_TAIL "{\"op\":\"global_avg_pool\"},{\"op\":\"linear\",\"name\":\"fc\",\"in\":4,\"out\":8}]"
#define DW(name, extra) "{\"op\":\"dwconv2d\",\"name\":\"" name "\",\"channels\":4" extra "},"
#define BEGIN "{\"op\":\"residual_begin\"},"
#define ADD "{\"op\":\"residual_add\"},"

static void
test_residual_layers (void)
{
  /* A valid list: a residual block of 1x1 / depthwise / 1x1, a stride-2
   * depthwise, nested blocks. */
  static const char *ok_arch = RES_HEAD
    BEGIN "{\"op\":\"conv2d\",\"name\":\"e\",\"in\":4,\"out\":6,\"kernel\":1},"
    "{\"op\":\"relu\"},{\"op\":\"dwconv2d\",\"name\":\"d\",\"channels\":6,\"kernel\":3,\"pad\":1},"
    "{\"op\":\"conv2d\",\"name\":\"p\",\"in\":6,\"out\":4,\"kernel\":1,\"pad\":0}," ADD
    DW ("s", ",\"kernel\":3,\"pad\":1,\"stride\":2")
    BEGIN BEGIN DW ("n", ",\"kernel\":5,\"pad\":2") ADD "{\"op\":\"relu\"}," ADD
    RES_TAIL;
  static const struct { const char *arch; int code; const char *needle; } bad[] = {
    { RES_HEAD ADD RES_TAIL, CLAR_ERR_BAD_METADATA, "residual_add without a residual_begin" },
    { RES_HEAD BEGIN DW ("d", ",\"kernel\":3,\"pad\":1") RES_TAIL, CLAR_ERR_BAD_METADATA,
      "1 residual_begin without a residual_add" },
    { RES_HEAD BEGIN ADD RES_TAIL, CLAR_ERR_BAD_METADATA, "empty residual block" },
    { RES_HEAD BEGIN BEGIN BEGIN BEGIN BEGIN BEGIN BEGIN BEGIN BEGIN
      "{\"op\":\"relu\"}," ADD ADD ADD ADD ADD ADD ADD ADD ADD RES_TAIL,
      CLAR_ERR_BAD_METADATA, "nested deeper than 8" },
    { RES_HEAD DW ("d", ",\"kernel\":3,\"stride\":0") RES_TAIL, CLAR_ERR_BAD_METADATA,
      "\"stride\" must be an integer in 1..8" },
    { RES_HEAD DW ("d", ",\"kernel\":3,\"stride\":9") RES_TAIL, CLAR_ERR_BAD_METADATA,
      "\"stride\" must be an integer in 1..8" },
    { RES_HEAD DW ("d", ",\"kernel\":3,\"stride\":1.5") RES_TAIL, CLAR_ERR_BAD_METADATA,
      "\"stride\"" },
    { RES_HEAD DW ("d", ",\"kernel\":3,\"pad\":3") RES_TAIL, CLAR_ERR_BAD_METADATA,
      "\"pad\" must be an integer in 0..2" },
    { RES_HEAD DW ("d", ",\"kernel\":16") RES_TAIL, CLAR_ERR_BAD_METADATA,
      "\"kernel\" must be an integer in 1..15" },
    { RES_HEAD DW ("d", "") RES_TAIL, CLAR_ERR_BAD_METADATA, "missing \"kernel\"" },
    { RES_HEAD "{\"op\":\"dwconv2d\",\"name\":\"d\",\"kernel\":3}," RES_TAIL,
      CLAR_ERR_BAD_METADATA, "missing \"channels\"" },
    { RES_HEAD "{\"op\":\"dwconv2d\",\"channels\":4,\"kernel\":3}," RES_TAIL,
      CLAR_ERR_BAD_METADATA, "\"name\" must be" },
    { RES_HEAD DW ("c1", ",\"kernel\":3") RES_TAIL, CLAR_ERR_BAD_METADATA, "used twice" },
    /* Shapes: a block that downsamples or changes channels cannot be added
     * back; a depthwise conv over the wrong channel count. */
    { RES_HEAD BEGIN DW ("d", ",\"kernel\":3,\"pad\":1,\"stride\":2") ADD RES_TAIL,
      CLAR_ERR_BAD_METADATA, "do not chain" },
    { RES_HEAD BEGIN DW ("d", ",\"kernel\":3") ADD RES_TAIL, CLAR_ERR_BAD_METADATA,
      "do not chain" },
    { RES_HEAD BEGIN "{\"op\":\"conv2d\",\"name\":\"e\",\"in\":4,\"out\":6,\"kernel\":1},"
      ADD RES_TAIL, CLAR_ERR_BAD_METADATA, "do not chain" },
    { RES_HEAD "{\"op\":\"dwconv2d\",\"name\":\"d\",\"channels\":5,\"kernel\":3},"
      RES_TAIL, CLAR_ERR_BAD_METADATA, "do not chain" },
    { RES_HEAD BEGIN "{\"op\":\"global_avg_pool\"}," ADD
      "{\"op\":\"linear\",\"name\":\"fc\",\"in\":4,\"out\":8}]",
      CLAR_ERR_BAD_METADATA, "do not chain" },
  };
  defect none = { 0 };
  clar_model *m = NULL;
  clar_error err = { 0 };
  int rc = load_arch (ok_arch, &none, &m, &err);
  CHECK_MSG (rc == CLAR_OK, "valid residual list: %s", err.message);
  if (m) {
    clar_session *s = clar_session_new (m, &err);
    float mel[64 * 101], emb[8];
    /* conv 3x3 1->4 at 64x101, 1x1 4->6, dw 3x3 x6, 1x1 6->4 (64x101),
     * dw stride 2 -> 32x51, dw 5x5 x4 (32x51), linear 4->8. */
    double want = 2.0 * 64 * 101 * (4 * 9 + 6 * 4 + 6 * 9 + 4 * 6) + 2.0 * 32 * 51 * 4 * 9
        + 2.0 * 32 * 51 * 4 * 25 + 2.0 * 4 * 8;
    CHECK_CLOSE (clar_model_flops (m, 101), want, 0.5);
    /* 1 frame is enough (stride 2 keeps 1): the front end's own minimum,
     * n_fft/2 + 1 samples for the reflect padding. */
    CHECK_EQ_INT (clar_model_get_info (m)->min_samples, 257);
    for (int i = 0; i < 64 * 101; i++)
      mel[i] = (float) (i % 13) * 0.1f - 0.6f;
    CHECK_EQ_INT (clar_session_encode_raw (s, mel, 101, emb), CLAR_OK);
    CHECK_EQ_INT (clar_session_encode_raw (s, mel, 1, emb), CLAR_OK);
    CHECK (isfinite (emb[0]));
    clar_session_free (s);
    clar_model_unref (m);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    m = NULL;
    memset (&err, 0, sizeof err);
    rc = load_arch (bad[i].arch, &none, &m, &err);
    CHECK_MSG (rc == bad[i].code && m == NULL && strstr (err.message, bad[i].needle),
        "bad residual list %zu: got %d \"%s\", want %d \"%s\"", i, rc, err.message,
        bad[i].code, bad[i].needle);
    clar_model_unref (m);
  }
  /* The encoder fingerprint covers the depthwise weights. */
  {
    defect d = { 0 };
    clar_model *a = NULL, *b = NULL;
    d.bump_tensor = "encoder.d.weight";
    CHECK_EQ_INT (load_arch (ok_arch, &none, &a, &err), CLAR_OK);
    CHECK_EQ_INT (load_arch (ok_arch, &d, &b, &err), CLAR_OK);
    CHECK (a && b && strcmp (clar_model_get_fingerprint (a), clar_model_get_fingerprint (b)) != 0);
    clar_model_unref (a);
    clar_model_unref (b);
  }
  /* Depthwise tensors: PyTorch's [C, 1, k, k] layout, finite values. */
  {
    defect d = { 0 };
    d.bad_shape_tensor = "encoder.d.weight";
    m = NULL;
    rc = load_arch (ok_arch, &d, &m, &err);
    CHECK_EQ_INT (rc, CLAR_ERR_BAD_TENSOR);
    CHECK (strstr (err.message, "encoder.d.weight has shape [7,1,3,3], the architecture needs [6,1,3,3]") != NULL);
    memset (&d, 0, sizeof d);
    d.nan_tensor = "encoder.s.bias";
    rc = load_arch (ok_arch, &d, &m, &err);
    CHECK_EQ_INT (rc, CLAR_ERR_BAD_TENSOR);
    CHECK (strstr (err.message, "encoder.s.bias holds a non-finite value") != NULL);
    memset (&d, 0, sizeof d);
    d.skip_tensor = "encoder.n.weight";
    rc = load_arch (ok_arch, &d, &m, &err);
    CHECK_EQ_INT (rc, CLAR_ERR_MISSING_TENSOR);
    CHECK (strstr (err.message, "encoder.n.weight is missing") != NULL);
  }
}

/* The named layer lists: dsres keeps within the 150 MFLOP budget of issue 18
 * and chains; cnn4 is the default. */
static void
test_named_architectures (void)
{
  clar_model *m = NULL;
  clar_error err;
  defect none = { 0 };
  const char *const *names = clar_architecture_names ();
  CHECK (strcmp (names[0], "cnn4") == 0 && strcmp (names[1], "dsres") == 0 && !names[2]);
  CHECK (clar_architecture_by_name ("cnn4") == clar_default_architecture ());
  CHECK (clar_architecture_by_name ("nope") == NULL);
  CHECK (clar_architecture_by_name (NULL) == NULL);
  CHECK_EQ_INT (load_arch (clar_architecture_by_name ("dsres"), &none, &m, &err), CLAR_OK);
  if (m) {
    double f = clar_model_flops (m, 101);
    size_t params = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
      const clar_layer *l = &m->layers[i];
      if (l->op == CLAR_OP_CONV2D)
        params += (size_t) l->out * (l->in * l->kernel * l->kernel + 1);
      else if (l->op == CLAR_OP_DWCONV2D)
        params += (size_t) l->in * (l->kernel * l->kernel + 1);
      else if (l->op == CLAR_OP_LINEAR)
        params += (size_t) l->out * (l->in + 1);
    }
    printf ("  dsres: %.2f MFLOP per 101-frame window, %zu parameters (BN folded), %zu layers, "
        "min %zu samples\n", f * 1e-6, params, clar_model_get_info (m)->n_layers,
        clar_model_get_info (m)->min_samples);
    CHECK (f > 90e6 && f <= 150e6);
    CHECK_EQ_INT (clar_model_get_info (m)->embedding_dim, 128);
    clar_model_unref (m);
  } else {
    fprintf (stderr, "dsres: %s\n", err.message);
  }
}

int
main (void)
{
  CLAR_TEST_RUN (test_valid);
  CLAR_TEST_RUN (test_defects);
  CLAR_TEST_RUN (test_truncated_model_file);
  CLAR_TEST_RUN (test_default_architecture);
  CLAR_TEST_RUN (test_fingerprint);
  CLAR_TEST_RUN (test_residual_layers);
  CLAR_TEST_RUN (test_named_architectures);
  CLAR_TEST_EXIT ();
}
