/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Model loading: metadata, layer list and weights, each validated. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clar/model.h>
#include "json.h"
#include "layers.h"
#include "model-private.h"
#include "text-private.h"

const char *
clar_default_architecture (void)
{
  return "["
    "{\"op\":\"conv2d\",\"name\":\"conv1\",\"in\":1,\"out\":16,\"kernel\":3,\"pad\":1},"
    "{\"op\":\"relu\"},{\"op\":\"maxpool2d\",\"kernel\":2},"
    "{\"op\":\"conv2d\",\"name\":\"conv2\",\"in\":16,\"out\":32,\"kernel\":3,\"pad\":1},"
    "{\"op\":\"relu\"},{\"op\":\"maxpool2d\",\"kernel\":2},"
    "{\"op\":\"conv2d\",\"name\":\"conv3\",\"in\":32,\"out\":64,\"kernel\":3,\"pad\":1},"
    "{\"op\":\"relu\"},{\"op\":\"maxpool2d\",\"kernel\":2},"
    "{\"op\":\"conv2d\",\"name\":\"conv4\",\"in\":64,\"out\":128,\"kernel\":3,\"pad\":1},"
    "{\"op\":\"relu\"},{\"op\":\"global_avg_pool\"},"
    "{\"op\":\"linear\",\"name\":\"embed\",\"in\":128,\"out\":128}"
    "]";
}

/* dsres: a MobileNetV2-style encoder (Sandler et al. 2018, "MobileNetV2:
 * Inverted residuals and linear bottlenecks", table 1 and fig. 4), the block
 * EfficientAT uses for audio (Schmid et al. 2023, "Efficient large-scale
 * audio tagging via transformer-to-CNN knowledge distillation"): a 3x3 stem
 * with 2x2 max pooling, then inverted-residual blocks of 1x1 expansion (ReLU),
 * 3x3 depthwise (ReLU; stride 2 where the block downsamples) and a linear
 * 1x1 projection, with the input added back when the block keeps its shape;
 * a 1x1 conv to 256 channels, global average pooling and the 128-d
 * embedding. Batch-norm after every conv is folded into its bias at export.
 * 101.9 MFLOP per 1 s window (64 x 101 log-mel; clar_model_flops). */
#define DS_Q(x) #x
#define DS_CONV1(n, i, o) \
  "{\"op\":\"conv2d\",\"name\":\"" n "\",\"in\":" DS_Q (i) ",\"out\":" DS_Q (o) \
  ",\"kernel\":1,\"pad\":0},"
#define DS_DW(n, c, s) \
  "{\"op\":\"dwconv2d\",\"name\":\"" n "\",\"channels\":" DS_Q (c) \
  ",\"kernel\":3,\"pad\":1,\"stride\":" DS_Q (s) "},"
#define DS_RELU "{\"op\":\"relu\"},"
/* Inverted residual block: expand to e channels, depthwise with stride s,
 * project to o channels. */
#define DS_BODY(n, i, e, o, s) \
  DS_CONV1 (n "e", i, e) DS_RELU DS_DW (n "d", e, s) DS_RELU DS_CONV1 (n "p", e, o)
#define DS_RES(n, c, e) \
  "{\"op\":\"residual_begin\"}," DS_BODY (n, c, e, c, 1) "{\"op\":\"residual_add\"},"
#define DS_DOWN(n, i, e, o) DS_BODY (n, i, e, o, 2)

static const char dsres_arch[] = "["
  "{\"op\":\"conv2d\",\"name\":\"stem\",\"in\":1,\"out\":32,\"kernel\":3,\"pad\":1},"
  DS_RELU "{\"op\":\"maxpool2d\",\"kernel\":2},"
  DS_RES ("b1", 32, 64)
  DS_DOWN ("b2", 32, 96, 48)
  DS_RES ("b3", 48, 144) DS_RES ("b4", 48, 144)
  DS_DOWN ("b5", 48, 144, 80)
  DS_RES ("b6", 80, 240) DS_RES ("b7", 80, 240)
  DS_DOWN ("b8", 80, 240, 128)
  DS_RES ("b9", 128, 384) DS_RES ("b10", 128, 384)
  DS_CONV1 ("head", 128, 256) DS_RELU
  "{\"op\":\"global_avg_pool\"},"
  "{\"op\":\"linear\",\"name\":\"embed\",\"in\":256,\"out\":128}"
  "]";

static const char *const arch_names[] = { "cnn4", "dsres", NULL };

const char *const *
clar_architecture_names (void)
{
  return arch_names;
}

const char *
clar_architecture_by_name (const char *name)
{
  if (!name)
    return NULL;
  if (strcmp (name, "cnn4") == 0)
    return clar_default_architecture ();
  if (strcmp (name, "dsres") == 0)
    return dsres_arch;
  return NULL;
}

static const struct { const char *name; clar_op op; } op_names[] = {
  { "conv2d", CLAR_OP_CONV2D }, { "batchnorm2d", CLAR_OP_BATCHNORM2D },
  { "relu", CLAR_OP_RELU }, { "maxpool2d", CLAR_OP_MAXPOOL2D },
  { "avgpool2d", CLAR_OP_AVGPOOL2D }, { "global_avg_pool", CLAR_OP_GLOBAL_AVG_POOL },
  { "linear", CLAR_OP_LINEAR }, { "dwconv2d", CLAR_OP_DWCONV2D },
  { "residual_begin", CLAR_OP_RESIDUAL_BEGIN }, { "residual_add", CLAR_OP_RESIDUAL_ADD },
};

#define MAX_LAYERS 256

static int
layer_int (const clar_json *o, const char *key, long long lo, long long hi,
           int *out, size_t idx, clar_error *err)
{
  long long v;
  const clar_json *j = clar_json_get (o, key);
  if (!j)
    return clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "clar.architecture layer %zu: missing \"%s\"", idx, key);
  if (clar_json_get_int (j, lo, hi, &v))
    return clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "clar.architecture layer %zu: \"%s\" must be an integer in %lld..%lld", idx, key, lo, hi);
  *out = (int) v;
  return CLAR_OK;
}

int
clar_architecture_parse (const char *json, clar_layer **layers,
                         size_t *n_layers, clar_error *err)
{
  clar_json *arr = NULL;
  clar_layer *ls = NULL;
  char jerr[128];
  int rc = CLAR_OK, depth = 0;

  *layers = NULL;
  *n_layers = 0;
  if (!json)
    return clar_set_error (err, CLAR_ERR_BAD_METADATA, "metadata key clar.architecture is missing");
  if (clar_json_parse (json, strlen (json), &arr, jerr, sizeof jerr))
    return clar_set_error (err, CLAR_ERR_BAD_METADATA, "clar.architecture: %s", jerr);
  if (arr->type != CLAR_JSON_ARRAY || arr->n == 0 || arr->n > MAX_LAYERS) {
    clar_json_free (arr);
    return clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "clar.architecture must be a JSON array of 1..%d layers", MAX_LAYERS);
  }
  ls = calloc (arr->n, sizeof *ls);
  if (!ls) {
    clar_json_free (arr);
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  }
  for (size_t i = 0; i < arr->n && rc == CLAR_OK; i++) {
    const clar_json *o = &arr->items[i], *op, *name;
    clar_layer *l = &ls[i];
    size_t k;
    if (o->type != CLAR_JSON_OBJECT) {
      rc = clar_set_error (err, CLAR_ERR_BAD_METADATA, "clar.architecture layer %zu is not an object", i);
      break;
    }
    op = clar_json_get (o, "op");
    if (!op || op->type != CLAR_JSON_STRING) {
      rc = clar_set_error (err, CLAR_ERR_BAD_METADATA, "clar.architecture layer %zu: missing \"op\"", i);
      break;
    }
    for (k = 0; k < sizeof op_names / sizeof op_names[0]; k++)
      if (strcmp (op->string, op_names[k].name) == 0)
        break;
    if (k == sizeof op_names / sizeof op_names[0]) {
      rc = clar_set_error (err, CLAR_ERR_UNSUPPORTED,
          "clar.architecture layer %zu: unknown op \"%.32s\"", i, op->string);
      break;
    }
    l->op = op_names[k].op;
    l->stride = 1;
    if (l->op == CLAR_OP_CONV2D || l->op == CLAR_OP_BATCHNORM2D || l->op == CLAR_OP_LINEAR
        || l->op == CLAR_OP_DWCONV2D) {
      name = clar_json_get (o, "name");
      if (!name || name->type != CLAR_JSON_STRING || !name->string[0]
          || strlen (name->string) >= sizeof l->name || strchr (name->string, '.')) {
        rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
            "clar.architecture layer %zu (%s): \"name\" must be a short string without '.'", i, op->string);
        break;
      }
      strcpy (l->name, name->string);
      for (size_t j = 0; j < i; j++)
        if (strcmp (ls[j].name, l->name) == 0) {
          rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
              "clar.architecture: layer name \"%s\" used twice", l->name);
          break;
        }
      if (rc)
        break;
    }
    switch (l->op) {
      case CLAR_OP_CONV2D:
        if ((rc = layer_int (o, "in", 1, 4096, &l->in, i, err))
            || (rc = layer_int (o, "out", 1, 4096, &l->out, i, err))
            || (rc = layer_int (o, "kernel", 1, 15, &l->kernel, i, err)))
          break;
        l->pad = 0;
        if (clar_json_get (o, "pad"))
          rc = layer_int (o, "pad", 0, l->kernel - 1, &l->pad, i, err);
        if (clar_json_get (o, "stride")) {
          int s;
          if ((rc = layer_int (o, "stride", 1, 1, &s, i, err)))
            break;
        }
        break;
      case CLAR_OP_BATCHNORM2D: {
        const clar_json *eps = clar_json_get (o, "eps");
        if ((rc = layer_int (o, "channels", 1, 4096, &l->in, i, err)))
          break;
        l->out = l->in;
        l->eps = 1e-5f;
        if (eps) {
          if (eps->type != CLAR_JSON_NUMBER || !(eps->number > 0.0 && eps->number < 1.0)) {
            rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
                "clar.architecture layer %zu: \"eps\" must be a number in (0, 1)", i);
            break;
          }
          l->eps = (float) eps->number;
        }
        break;
      }
      case CLAR_OP_MAXPOOL2D:
      case CLAR_OP_AVGPOOL2D:
        rc = layer_int (o, "kernel", 1, 64, &l->kernel, i, err);
        break;
      case CLAR_OP_LINEAR:
        if (!(rc = layer_int (o, "in", 1, 65536, &l->in, i, err)))
          rc = layer_int (o, "out", 1, 65536, &l->out, i, err);
        break;
      case CLAR_OP_DWCONV2D:
        /* Depthwise: groups = channels, one k x k filter per channel. */
        if ((rc = layer_int (o, "channels", 1, 4096, &l->in, i, err))
            || (rc = layer_int (o, "kernel", 1, 15, &l->kernel, i, err)))
          break;
        l->out = l->in;
        l->pad = 0;
        if (clar_json_get (o, "pad")
            && (rc = layer_int (o, "pad", 0, l->kernel - 1, &l->pad, i, err)))
          break;
        if (clar_json_get (o, "stride"))
          rc = layer_int (o, "stride", 1, 8, &l->stride, i, err);
        break;
      case CLAR_OP_RESIDUAL_BEGIN:
        if (++depth > CLAR_RESIDUAL_MAX_DEPTH)
          rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
              "clar.architecture layer %zu: residual blocks nested deeper than %d", i,
              CLAR_RESIDUAL_MAX_DEPTH);
        break;
      case CLAR_OP_RESIDUAL_ADD:
        if (depth-- == 0)
          rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
              "clar.architecture layer %zu: residual_add without a residual_begin", i);
        else if (i > 0 && ls[i - 1].op == CLAR_OP_RESIDUAL_BEGIN)
          rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
              "clar.architecture layer %zu: empty residual block", i);
        break;
      case CLAR_OP_RELU:
      case CLAR_OP_GLOBAL_AVG_POOL:
        break;
    }
  }
  if (rc == CLAR_OK && depth != 0)
    rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "clar.architecture: %d residual_begin without a residual_add", depth);
  {
    size_t n = arr->n;
    clar_json_free (arr);
    if (rc != CLAR_OK) {
      free (ls);
      return rc;
    }
    *layers = ls;
    *n_layers = n;
  }
  return CLAR_OK;
}

int
clar_layers_infer_shapes (const clar_layer *layers, size_t n,
                          clar_shape in, clar_shape *shapes)
{
  clar_shape s = in, stack[CLAR_RESIDUAL_MAX_DEPTH];
  int depth = 0;
  for (size_t i = 0; i < n; i++) {
    const clar_layer *l = &layers[i];
    switch (l->op) {
      case CLAR_OP_DWCONV2D:
        if (s.flat || s.c != l->in)
          return CLAR_ERR_DIMENSION_MISMATCH;
        s.h = clar_dwconv_out (s.h, l->kernel, l->pad, l->stride);
        s.w = clar_dwconv_out (s.w, l->kernel, l->pad, l->stride);
        break;
      case CLAR_OP_RESIDUAL_BEGIN:
        if (depth == CLAR_RESIDUAL_MAX_DEPTH)
          return CLAR_ERR_DIMENSION_MISMATCH;
        stack[depth++] = s;
        break;
      case CLAR_OP_RESIDUAL_ADD:
        /* The block must give back exactly the shape it was given. */
        if (depth == 0)
          return CLAR_ERR_DIMENSION_MISMATCH;
        depth--;
        if (stack[depth].c != s.c || stack[depth].h != s.h || stack[depth].w != s.w
            || stack[depth].flat != s.flat)
          return s.h < 1 || s.w < 1 ? CLAR_ERR_INPUT_TOO_SHORT : CLAR_ERR_DIMENSION_MISMATCH;
        break;
      case CLAR_OP_CONV2D:
        if (s.flat || s.c != l->in)
          return CLAR_ERR_DIMENSION_MISMATCH;
        s.c = l->out;
        s.h = clar_conv_out (s.h, l->kernel, l->pad);
        s.w = clar_conv_out (s.w, l->kernel, l->pad);
        break;
      case CLAR_OP_BATCHNORM2D:
        if (s.flat || s.c != l->in)
          return CLAR_ERR_DIMENSION_MISMATCH;
        break;
      case CLAR_OP_RELU:
        break;
      case CLAR_OP_MAXPOOL2D:
      case CLAR_OP_AVGPOOL2D:
        if (s.flat)
          return CLAR_ERR_DIMENSION_MISMATCH;
        s.h = clar_pool_out (s.h, l->kernel);
        s.w = clar_pool_out (s.w, l->kernel);
        break;
      case CLAR_OP_GLOBAL_AVG_POOL:
        if (s.flat)
          return CLAR_ERR_DIMENSION_MISMATCH;
        s.h = s.w = 1;
        s.flat = 1;
        break;
      case CLAR_OP_LINEAR:
        if (!s.flat || s.c != l->in)
          return CLAR_ERR_DIMENSION_MISMATCH;
        s.c = l->out;
        break;
    }
    if (s.h < 1 || s.w < 1)
      return CLAR_ERR_INPUT_TOO_SHORT;
    if (shapes)
      shapes[i] = s;
  }
  return CLAR_OK;
}

static const char *
meta (const clar_st_file *f, const char *key, clar_error *err, int *rc)
{
  const char *v = clar_st_metadata (f, key);
  if (!v && *rc == CLAR_OK)
    *rc = clar_set_error (err, CLAR_ERR_BAD_METADATA, "metadata key %s is missing", key);
  return v;
}

static void
meta_long (const clar_st_file *f, const char *key, long long lo, long long hi,
           long long *out, clar_error *err, int *rc)
{
  const char *v = meta (f, key, err, rc);
  char *end;
  long long x;
  if (!v || *rc != CLAR_OK)
    return;
  x = strtoll (v, &end, 10);
  if (end == v || *end || x < lo || x > hi) {
    *rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "metadata %s = \"%.32s\" is not an integer in %lld..%lld", key, v, lo, hi);
    return;
  }
  *out = x;
}

static void
meta_float (const clar_st_file *f, const char *key, double lo, double hi,
            float *out, clar_error *err, int *rc)
{
  const char *v = meta (f, key, err, rc);
  char *end;
  double x;
  if (!v || *rc != CLAR_OK)
    return;
  x = strtod (v, &end);
  if (end == v || *end || !isfinite (x) || x < lo || x > hi) {
    *rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "metadata %s = \"%.32s\" is not a number in %g..%g", key, v, lo, hi);
    return;
  }
  *out = (float) x;
}

/* Looks up encoder.<layer>.<what> and checks its shape and values. */
static const float *
bind (const clar_st_file *f, const clar_layer *l, const char *what,
      size_t ndim, const size_t *shape, clar_error *err, int *rc)
{
  char name[128], want[64] = "", got[64] = "";
  const clar_st_tensor *t;
  int same;
  if (*rc != CLAR_OK)
    return NULL;
  snprintf (name, sizeof name, "encoder.%s.%s", l->name, what);
  t = clar_st_find (f, name);
  if (!t) {
    *rc = clar_set_error (err, CLAR_ERR_MISSING_TENSOR, "tensor %s is missing", name);
    return NULL;
  }
  same = t->ndim == ndim;
  for (size_t i = 0; i < ndim && same; i++)
    same = t->shape[i] == shape[i];
  if (!same) {
    for (size_t i = 0; i < ndim; i++)
      snprintf (want + strlen (want), sizeof want - strlen (want), "%s%zu", i ? "," : "", shape[i]);
    for (size_t i = 0; i < t->ndim; i++)
      snprintf (got + strlen (got), sizeof got - strlen (got), "%s%zu", i ? "," : "", t->shape[i]);
    *rc = clar_set_error (err, CLAR_ERR_BAD_TENSOR,
        "tensor %s has shape [%s], the architecture needs [%s]", name, got, want);
    return NULL;
  }
  for (size_t i = 0; i < t->n_elements; i++)
    if (!isfinite (t->data[i])) {
      *rc = clar_set_error (err, CLAR_ERR_BAD_TENSOR,
          "tensor %s holds a non-finite value at element %zu", name, i);
      return NULL;
    }
  if (strcmp (what, "running_var") == 0)
    for (size_t i = 0; i < t->n_elements; i++)
      if (t->data[i] < 0.0f) {
        *rc = clar_set_error (err, CLAR_ERR_BAD_TENSOR, "tensor %s has a negative variance", name);
        return NULL;
      }
  return t->data;
}

static int
bind_layers (clar_model *m, clar_error *err)
{
  int rc = CLAR_OK;
  for (size_t i = 0; i < m->n_layers && rc == CLAR_OK; i++) {
    clar_layer *l = &m->layers[i];
    size_t s4[4], s1[1], s2[2];
    switch (l->op) {
      case CLAR_OP_CONV2D:
        s4[0] = (size_t) l->out; s4[1] = (size_t) l->in;
        s4[2] = s4[3] = (size_t) l->kernel;
        s1[0] = (size_t) l->out;
        l->weight = bind (m->st, l, "weight", 4, s4, err, &rc);
        l->bias = bind (m->st, l, "bias", 1, s1, err, &rc);
        break;
      case CLAR_OP_BATCHNORM2D:
        s1[0] = (size_t) l->in;
        l->weight = bind (m->st, l, "weight", 1, s1, err, &rc);
        l->bias = bind (m->st, l, "bias", 1, s1, err, &rc);
        l->running_mean = bind (m->st, l, "running_mean", 1, s1, err, &rc);
        l->running_var = bind (m->st, l, "running_var", 1, s1, err, &rc);
        break;
      case CLAR_OP_DWCONV2D:
        /* PyTorch's Conv2d(C, C, k, groups=C) weight layout [C, 1, k, k]. */
        s4[0] = (size_t) l->in; s4[1] = 1;
        s4[2] = s4[3] = (size_t) l->kernel;
        s1[0] = (size_t) l->in;
        l->weight = bind (m->st, l, "weight", 4, s4, err, &rc);
        l->bias = bind (m->st, l, "bias", 1, s1, err, &rc);
        break;
      case CLAR_OP_LINEAR:
        s2[0] = (size_t) l->out; s2[1] = (size_t) l->in;
        s1[0] = (size_t) l->out;
        l->weight = bind (m->st, l, "weight", 2, s2, err, &rc);
        l->bias = bind (m->st, l, "bias", 1, s1, err, &rc);
        break;
      default:
        break;
    }
  }
  return rc;
}

/* FNV-1a 64 (Fowler, Noll, Vo; http://www.isthe.com/chongo/tech/comp/fnv/):
 * offset basis 14695981039346656037, prime 1099511628211. Not a
 * cryptographic hash: the fingerprint catches label files used beside the
 * wrong encoder by mistake, it does not authenticate anything. */
static uint64_t
fnv1a64 (uint64_t h, const void *data, size_t n)
{
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static uint64_t
fnv1a64_str (uint64_t h, const char *s)
{
  return fnv1a64 (h, s, strlen (s));
}

/* The serialisation of model.h "Encoder fingerprint". */
static void
model_fingerprint (clar_model *m)
{
  const clar_mel_params *p = &m->info.mel;
  uint64_t h = 14695981039346656037ULL;
  char line[256];
  size_t n_fb = (size_t) p->n_mels * (size_t) (p->n_fft / 2 + 1);
  static const char *const ops[] = {
    [CLAR_OP_CONV2D] = "conv2d", [CLAR_OP_BATCHNORM2D] = "batchnorm2d",
    [CLAR_OP_RELU] = "relu", [CLAR_OP_MAXPOOL2D] = "maxpool2d",
    [CLAR_OP_AVGPOOL2D] = "avgpool2d", [CLAR_OP_GLOBAL_AVG_POOL] = "global_avg_pool",
    [CLAR_OP_LINEAR] = "linear", [CLAR_OP_DWCONV2D] = "dwconv2d",
    [CLAR_OP_RESIDUAL_BEGIN] = "residual_begin", [CLAR_OP_RESIDUAL_ADD] = "residual_add",
  };

  h = fnv1a64_str (h, "clar-encoder-v1\n");
  snprintf (line, sizeof line, "%d %d %d %d %d %.9g %.9g %.9g %d\n", p->sample_rate,
      p->n_fft, p->win_length, p->hop_length, p->n_mels, p->f_min, p->f_max,
      p->log_offset, p->center);
  h = fnv1a64_str (h, line);
  h = fnv1a64 (h, m->mel_filterbank, n_fb * sizeof (float));
  for (size_t i = 0; i < m->n_layers; i++) {
    const clar_layer *l = &m->layers[i];
    size_t nw = 0, nb = 0;
    /* (The stride only for dwconv2d: the lines of the other ops, and so
     * the fingerprints of existing models, stay as they were.) */
    if (l->op == CLAR_OP_DWCONV2D)
      snprintf (line, sizeof line, "%s %s %d %d %d %d %.9g %d\n", ops[l->op], l->name, l->in,
          l->out, l->kernel, l->pad, l->eps, l->stride);
    else
      snprintf (line, sizeof line, "%s %s %d %d %d %d %.9g\n", ops[l->op], l->name, l->in,
          l->out, l->kernel, l->pad, l->eps);
    h = fnv1a64_str (h, line);
    if (l->op == CLAR_OP_DWCONV2D) {
      nw = (size_t) l->in * l->kernel * l->kernel;
      nb = (size_t) l->in;
    } else if (l->op == CLAR_OP_CONV2D) {
      nw = (size_t) l->out * l->in * l->kernel * l->kernel;
      nb = (size_t) l->out;
    } else if (l->op == CLAR_OP_LINEAR) {
      nw = (size_t) l->out * l->in;
      nb = (size_t) l->out;
    } else if (l->op == CLAR_OP_BATCHNORM2D) {
      nw = nb = (size_t) l->in;
    }
    if (l->weight)
      h = fnv1a64 (h, l->weight, nw * sizeof (float));
    if (l->bias)
      h = fnv1a64 (h, l->bias, nb * sizeof (float));
    if (l->running_mean)
      h = fnv1a64 (h, l->running_mean, nb * sizeof (float));
    if (l->running_var)
      h = fnv1a64 (h, l->running_var, nb * sizeof (float));
  }
  snprintf (m->fingerprint, sizeof m->fingerprint, "fnv1a64:%016llx", (unsigned long long) h);
}

static void
model_free (clar_model *m)
{
  if (!m)
    return;
  clar_labels_unref (m->labels);
  clar_text_free (m->text);
  clar_st_free (m->st);
  free (m->layers);
  free (m->name);
  free (m);
}

/* Takes ownership of st. */
static int
model_from_st_owned (clar_st_file *st, clar_model **out, clar_error *err)
{
  clar_model *m;
  clar_mel_params *p;
  long long v = 0;
  int rc = CLAR_OK;
  const char *s;
  const clar_st_tensor *fb;
  clar_shape shape = { 1, 0, 0, 0 }, *shapes = NULL;

  m = calloc (1, sizeof *m);
  if (!m) {
    clar_st_free (st);
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  }
  m->refcount = 1;
  m->st = st;
  p = &m->info.mel;

  s = meta (st, "clar.format", err, &rc);
  if (s && strcmp (s, CLAR_MODEL_FORMAT) != 0)
    rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "clar.format is \"%.32s\", expected \"%s\" (not a model file?)", s, CLAR_MODEL_FORMAT);
  meta_long (st, "clar.format_version", 1, 1000000, &v, err, &rc);
  if (rc == CLAR_OK && v > CLAR_MODEL_FORMAT_VERSION)
    rc = clar_set_error (err, CLAR_ERR_UNSUPPORTED,
        "model format version %lld is newer than this libclar (%d)", v, CLAR_MODEL_FORMAT_VERSION);
  m->info.format_version = (int) v;
  meta_long (st, "clar.sample_rate", 8000, 192000, &v, err, &rc); p->sample_rate = (int) v;
  meta_long (st, "clar.n_fft", 16, 65536, &v, err, &rc); p->n_fft = (int) v;
  meta_long (st, "clar.win_length", 2, 65536, &v, err, &rc); p->win_length = (int) v;
  meta_long (st, "clar.hop_length", 1, 65536, &v, err, &rc); p->hop_length = (int) v;
  meta_long (st, "clar.n_mels", 1, 512, &v, err, &rc); p->n_mels = (int) v;
  meta_float (st, "clar.f_min", 0.0, 96000.0, &p->f_min, err, &rc);
  meta_float (st, "clar.f_max", 1.0, 96000.0, &p->f_max, err, &rc);
  meta_float (st, "clar.log_offset", 1e-30, 1e6, &p->log_offset, err, &rc);
  meta_long (st, "clar.center", 0, 1, &v, err, &rc); p->center = (int) v;
  if (rc == CLAR_OK && clar_mel_params_validate (p, err) != CLAR_OK)
    rc = err ? (err->code = CLAR_ERR_BAD_METADATA) : CLAR_ERR_BAD_METADATA;
  meta_long (st, "clar.window_samples", 1, 192000LL * 60, &v, err, &rc); m->info.window_samples = (size_t) v;
  meta_long (st, "clar.hop_samples", 1, 192000LL * 60, &v, err, &rc); m->info.hop_samples = (size_t) v;
  meta_long (st, "clar.embedding_dim", 1, 65536, &v, err, &rc); m->info.embedding_dim = (size_t) v;
  if (rc != CLAR_OK)
    goto fail;

  fb = clar_st_find (st, "frontend.mel_filterbank");
  if (!fb) {
    rc = clar_set_error (err, CLAR_ERR_MISSING_TENSOR, "tensor frontend.mel_filterbank is missing");
    goto fail;
  }
  if (fb->ndim != 2 || fb->shape[0] != (size_t) p->n_mels || fb->shape[1] != (size_t) (p->n_fft / 2 + 1)) {
    rc = clar_set_error (err, CLAR_ERR_BAD_TENSOR,
        "tensor frontend.mel_filterbank must be [%d, %d] (n_mels, n_fft/2+1)", p->n_mels, p->n_fft / 2 + 1);
    goto fail;
  }
  for (size_t i = 0; i < fb->n_elements; i++)
    if (!isfinite (fb->data[i]) || fb->data[i] < 0.0f) {
      rc = clar_set_error (err, CLAR_ERR_BAD_TENSOR,
          "tensor frontend.mel_filterbank holds a negative or non-finite value at %zu", i);
      goto fail;
    }
  m->mel_filterbank = fb->data;

  if ((rc = clar_architecture_parse (clar_st_metadata (st, "clar.architecture"),
          &m->layers, &m->n_layers, err)) != CLAR_OK)
    goto fail;
  m->info.n_layers = m->n_layers;
  shapes = calloc (m->n_layers, sizeof *shapes);
  if (!shapes) {
    rc = clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    goto fail;
  }
  /* Channel chain, with a frame count large enough for any pooling. */
  shape.h = p->n_mels;
  shape.w = 1 << 20;
  rc = clar_layers_infer_shapes (m->layers, m->n_layers, shape, shapes);
  if (rc == CLAR_ERR_INPUT_TOO_SHORT) {
    rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "clar.architecture pools %d mel bands down to nothing", p->n_mels);
    goto fail;
  } else if (rc != CLAR_OK) {
    rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "clar.architecture: layer sizes do not chain (channels/features mismatch, or a linear layer before global pooling)");
    goto fail;
  }
  if (!shapes[m->n_layers - 1].flat || (size_t) shapes[m->n_layers - 1].c != m->info.embedding_dim) {
    rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "clar.architecture ends with %d %s values, clar.embedding_dim is %zu",
        shapes[m->n_layers - 1].c, shapes[m->n_layers - 1].flat ? "flat" : "spatial",
        m->info.embedding_dim);
    goto fail;
  }
  /* Fewest frames the pooling chain accepts (doubling search, then linear). */
  {
    int lo = 1;
    for (;;) {
      shape.w = lo;
      if (clar_layers_infer_shapes (m->layers, m->n_layers, shape, NULL) == CLAR_OK)
        break;
      lo++;
      if (lo > 4096) {
        rc = clar_set_error (err, CLAR_ERR_BAD_METADATA, "clar.architecture needs more than 4096 frames");
        goto fail;
      }
    }
    /* Smallest sample count giving lo frames. */
    {
      size_t n = 1;
      while (clar_mel_n_frames (p, n) < (size_t) lo)
        n++;
      m->info.min_samples = n;
    }
  }
  if (m->info.window_samples < m->info.min_samples) {
    rc = clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "clar.window_samples %zu is shorter than the %zu samples the layers need",
        m->info.window_samples, m->info.min_samples);
    goto fail;
  }
  if ((rc = bind_layers (m, err)) != CLAR_OK)
    goto fail;
  model_fingerprint (m);

  if (clar_st_metadata (st, "clar.labels") || clar_st_find (st, "labels.embeddings")) {
    m->labels = clar_labels_from_st (st, err);
    if (!m->labels) {
      rc = err ? err->code : CLAR_ERR_BAD_METADATA;
      goto fail;
    }
    if (clar_labels_dim (m->labels) != m->info.embedding_dim) {
      rc = clar_set_error (err, CLAR_ERR_DIMENSION_MISMATCH,
          "labels.embeddings has dimension %zu, the model's embedding has %zu",
          clar_labels_dim (m->labels), m->info.embedding_dim);
      goto fail;
    }
  }
  /* Optional text tower (text.h); a model without one still loads. */
  if (clar_text_present (st)
      && (rc = clar_text_from_st (st, m->info.embedding_dim, &m->text, err)) != CLAR_OK)
    goto fail;
  s = clar_st_metadata (st, "clar.name");
  m->name = strdup (s ? s : "");
  if (!m->name) {
    rc = clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    goto fail;
  }
  m->info.name = m->name;
  free (shapes);
  *out = m;
  return CLAR_OK;

fail:
  free (shapes);
  model_free (m);
  return rc;
}

int
clar_model_from_st (const clar_st_file *file, clar_model **out, clar_error *err)
{
  void *data = NULL;
  size_t size = 0;
  clar_st_writer *w;
  int rc;
  /* Re-serialise into a private copy so the model owns its tensors. */
  if (out)
    *out = NULL;
  if (!file || !out)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_model_from_st: NULL argument");
  w = clar_st_writer_new ();
  if (!w)
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  rc = CLAR_OK;
  for (size_t i = 0; i < clar_st_n_metadata (file) && rc == CLAR_OK; i++) {
    const char *k, *v;
    clar_st_metadata_at (file, i, &k, &v);
    rc = clar_st_writer_set_metadata (w, k, v);
  }
  for (size_t i = 0; i < clar_st_n_tensors (file) && rc == CLAR_OK; i++) {
    const clar_st_tensor *t = clar_st_tensor_at (file, i);
    rc = clar_st_writer_add (w, t->name, t->shape, t->ndim, t->data);
  }
  if (rc == CLAR_OK)
    rc = clar_st_writer_to_memory (w, &data, &size, err);
  else
    clar_set_error (err, rc, "cannot copy the parsed file");
  clar_st_writer_free (w);
  if (rc != CLAR_OK)
    return rc;
  rc = clar_model_load_memory (data, size, out, err);
  free (data);
  return rc;
}

int
clar_model_load_memory (const void *data, size_t size, clar_model **out,
                        clar_error *err)
{
  clar_st_file *st = NULL;
  int rc;
  if (out)
    *out = NULL;
  if (!out)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_model_load_memory: NULL argument");
  if ((rc = clar_st_parse (data, size, &st, err)) != CLAR_OK)
    return rc;
  return model_from_st_owned (st, out, err);
}

int
clar_model_load_file (const char *path, clar_model **out, clar_error *err)
{
  clar_st_file *st = NULL;
  int rc;
  if (out)
    *out = NULL;
  if (!path || !out)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_model_load_file: NULL argument");
  if ((rc = clar_st_read_file (path, &st, err)) != CLAR_OK)
    return rc;
  rc = model_from_st_owned (st, out, err);
  if (rc != CLAR_OK && err) {
    char msg[CLAR_ERROR_MESSAGE_SIZE];
    snprintf (msg, sizeof msg, "%.100s: %.150s", path, err->message);
    memcpy (err->message, msg, sizeof msg);
  }
  return rc;
}

clar_model *
clar_model_ref (clar_model *m)
{
  if (m)
    __atomic_add_fetch (&m->refcount, 1, __ATOMIC_RELAXED);
  return m;
}

void
clar_model_unref (clar_model *m)
{
  if (m && __atomic_sub_fetch (&m->refcount, 1, __ATOMIC_ACQ_REL) == 0)
    model_free (m);
}

const clar_model_info *
clar_model_get_info (const clar_model *m)
{
  return m ? &m->info : NULL;
}

const float *
clar_model_get_mel_filterbank (const clar_model *m)
{
  return m ? m->mel_filterbank : NULL;
}

clar_labels *
clar_model_get_labels (const clar_model *m)
{
  return m ? m->labels : NULL;
}

const char *
clar_model_get_metadata (const clar_model *m, const char *key)
{
  return m ? clar_st_metadata (m->st, key) : NULL;
}

const char *
clar_model_get_fingerprint (const clar_model *m)
{
  return m ? m->fingerprint : "";
}

int
clar_model_check_labels (const clar_model *m, const clar_labels *l, clar_error *err)
{
  const char *enc;
  if (!m || !l)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_model_check_labels: NULL argument");
  if (clar_labels_dim (l) != m->info.embedding_dim)
    return clar_set_error (err, CLAR_ERR_DIMENSION_MISMATCH,
        "the labels have %zu-d vectors, the model's embedding has %zu values",
        clar_labels_dim (l), m->info.embedding_dim);
  enc = clar_labels_get_encoder (l);
  if (!*enc)
    return clar_set_error (err, CLAR_LABELS_UNTIED,
        "the labels record no encoder fingerprint, so they cannot be checked against "
        "this model (%s); re-create them with this libclar to tie them", m->fingerprint);
  if (strcmp (enc, m->fingerprint) != 0)
    return clar_set_error (err, CLAR_ERR_ENCODER_MISMATCH,
        "the labels were made with encoder %s, this model's encoder is %s: their scores "
        "would mean nothing (re-enroll or re-create them with this model)",
        enc, m->fingerprint);
  return CLAR_OK;
}

int
clar_writer_fingerprint (const clar_st_writer *w, char out[CLAR_FINGERPRINT_SIZE],
                         clar_error *err)
{
  void *data = NULL;
  size_t size = 0;
  clar_model *m = NULL;
  int rc = clar_st_writer_to_memory (w, &data, &size, err);
  if (rc != CLAR_OK)
    return rc;
  rc = clar_model_load_memory (data, size, &m, err);
  free (data);
  if (rc != CLAR_OK)
    return rc;
  memcpy (out, m->fingerprint, CLAR_FINGERPRINT_SIZE);
  clar_model_unref (m);
  return CLAR_OK;
}

double
clar_model_flops (const clar_model *m, size_t n_frames)
{
  clar_shape in = { 1, 0, (int) n_frames, 0 }, *shapes;
  double flops = 0.0;
  if (!m || n_frames == 0 || n_frames > (1u << 24))
    return 0.0;
  in.h = m->info.mel.n_mels;
  shapes = malloc (m->n_layers * sizeof *shapes);
  if (!shapes || clar_layers_infer_shapes (m->layers, m->n_layers, in, shapes) != CLAR_OK) {
    free (shapes);
    return 0.0;
  }
  for (size_t i = 0; i < m->n_layers; i++) {
    const clar_layer *l = &m->layers[i];
    const clar_shape *s = &shapes[i];
    if (l->op == CLAR_OP_CONV2D)
      flops += 2.0 * s->c * s->h * s->w * (double) l->in * l->kernel * l->kernel;
    else if (l->op == CLAR_OP_DWCONV2D)
      flops += 2.0 * s->c * s->h * s->w * (double) l->kernel * l->kernel;
    else if (l->op == CLAR_OP_LINEAR)
      flops += 2.0 * l->in * (double) l->out;
  }
  free (shapes);
  return flops;
}

int
clar_model_write_header (clar_st_writer *w, const clar_mel_params *mel,
                         size_t window_samples, size_t hop_samples,
                         size_t embedding_dim, const char *architecture,
                         const char *name, const char *description)
{
  char v[64];
  float *fb;
  size_t shape[2];
  int rc = CLAR_OK;
  if (!w || !mel || !architecture || clar_mel_params_validate (mel, NULL) != CLAR_OK)
    return CLAR_ERR_INVALID_ARGUMENT;
#define SET(key, ...) \
  do { snprintf (v, sizeof v, __VA_ARGS__); \
       if (rc == CLAR_OK) rc = clar_st_writer_set_metadata (w, key, v); } while (0)
  SET ("clar.format", "%s", CLAR_MODEL_FORMAT);
  SET ("clar.format_version", "%d", CLAR_MODEL_FORMAT_VERSION);
  SET ("clar.sample_rate", "%d", mel->sample_rate);
  SET ("clar.n_fft", "%d", mel->n_fft);
  SET ("clar.win_length", "%d", mel->win_length);
  SET ("clar.hop_length", "%d", mel->hop_length);
  SET ("clar.n_mels", "%d", mel->n_mels);
  SET ("clar.f_min", "%.9g", mel->f_min);
  SET ("clar.f_max", "%.9g", mel->f_max);
  SET ("clar.log_offset", "%.9g", mel->log_offset);
  SET ("clar.center", "%d", mel->center);
  SET ("clar.window_samples", "%zu", window_samples);
  SET ("clar.hop_samples", "%zu", hop_samples);
  SET ("clar.embedding_dim", "%zu", embedding_dim);
#undef SET
  if (rc == CLAR_OK)
    rc = clar_st_writer_set_metadata (w, "clar.architecture", architecture);
  if (rc == CLAR_OK && name)
    rc = clar_st_writer_set_metadata (w, "clar.name", name);
  if (rc == CLAR_OK && description)
    rc = clar_st_writer_set_metadata (w, "clar.description", description);
  if (rc != CLAR_OK)
    return rc;
  shape[0] = (size_t) mel->n_mels;
  shape[1] = (size_t) (mel->n_fft / 2 + 1);
  fb = malloc (shape[0] * shape[1] * sizeof (float));
  if (!fb)
    return CLAR_ERR_NO_MEMORY;
  rc = clar_mel_filterbank_htk (mel, fb);
  if (rc == CLAR_OK)
    rc = clar_st_writer_add (w, "frontend.mel_filterbank", shape, 2, fb);
  free (fb);
  return rc;
}
