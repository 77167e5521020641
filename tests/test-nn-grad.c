/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Gradients of clar-train against central finite differences: every layer
 * primitive of src/train/backward.h on its own (loss = sum r * f(x) with a
 * fixed random r, so d loss / d f = r), the projection and cosine heads, and
 * the whole network under the hybrid loss. Also: the same bits for 1 and 2
 * threads, the two convolution modes agree, batch-norm folding at export
 * reproduces the eval-mode net through clar_model + clar_session, a
 * checkpoint round trip gives identical next steps, and a tiny run learns.
 *
 * Error measure per layer: max |numeric - analytic| / max |analytic| over
 * every checked entry (normwise, so tiny entries do not dominate), with
 * double-precision accumulation of the loss and steps of 1e-2 on inputs
 * kept at least 0.05 away from ReLU and max-pool kinks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <clar/clar.h>
#include "clar-test.h"
#include "layers.h"
#include "backward.h"
#include "nn.h"
#include "model-private.h"

static uint32_t rs = 99;
static float
frand (void)
{
  rs = rs * 1664525u + 1013904223u;
  return (float) (rs >> 8) / 16777216.0f * 2.0f - 1.0f;
}

static void
fill (float *x, size_t n, float scale)
{
  for (size_t i = 0; i < n; i++)
    x[i] = scale * frand ();
}

/* Values away from zero (for ReLU): |x| in [0.1, 1.1]. */
static void
fill_away_from_zero (float *x, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    float v = frand ();
    x[i] = (v >= 0 ? 0.1f : -0.1f) + v;
  }
}

/* Distinct values 0.1 apart in random order (for max-pool: a step of 1e-2
 * never changes which input wins). */
static void
fill_distinct (float *x, size_t n)
{
  for (size_t i = 0; i < n; i++)
    x[i] = 0.1f * (float) i - 0.05f * (float) n;
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t) ((frand () + 1.0f) * 0.5f * (float) i) % i;
    float t = x[i - 1];
    x[i - 1] = x[j];
    x[j] = t;
  }
}

static double
dot_r (const float *y, const float *r, size_t n)
{
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += (double) y[i] * r[i];
  return s;
}

/* A layer under test: forward(ctx) computes y from the tensors it holds. */
typedef struct {
  double (*loss) (void *ctx);     /* sum r * f(...) in double */
  void *ctx;
} probe;

/* Central differences of p.loss over entries of v, against analytic g.
 * Returns the normwise relative error. */
static double
fd_check (probe p, float *v, const float *g, size_t n, float h)
{
  double maxdiff = 0, maxg = 1e-12;
  for (size_t i = 0; i < n; i++) {
    float s = v[i];
    double up, dn, num;
    v[i] = s + h;
    up = p.loss (p.ctx);
    v[i] = s - h;
    dn = p.loss (p.ctx);
    v[i] = s;
    num = (up - dn) / (2.0 * (double) h);
    maxdiff = fmax (maxdiff, fabs (num - g[i]));
    maxg = fmax (maxg, fabs (g[i]));
  }
  return maxdiff / maxg;
}

#define REPORT(name, err, tol)                                               \
  do {                                                                       \
    double e_ = (err);                                                       \
    printf ("  %-34s max rel err %.2e\n", name, e_);                        \
    CHECK_MSG (e_ < (tol), "%s: finite-difference error %.3g", name, e_);   \
  } while (0)

/* ---- convolution ---- */
enum { CN = 5, CC = 2, CH = 5, CW = 6, CO = 3, CK = 3, CP = 1 };
typedef struct {
  float x[CN * CC * CH * CW], w[CO * CC * CK * CK], b[CO], r[CN * CO * CH * CW];
  float y[CN * CO * CH * CW];
  float *scratch;
  int mode, chunk;
} conv_ctx;

static double
conv_loss (void *p)
{
  conv_ctx *c = p;
  clar_conv2d_train_forward (c->x, CN, CC, CH, CW, c->w, c->b, CO, CK, CP, c->y, c->chunk,
      (clar_conv_mode) c->mode, 2, c->scratch);
  return dot_r (c->y, c->r, sizeof c->y / sizeof (float));
}

static void
test_conv (void)
{
  for (int mode = 0; mode < 2; mode++) {
    conv_ctx c;
    float dw[sizeof c.w / sizeof (float)], db[CO], dx[sizeof c.x / sizeof (float)];
    probe p = { conv_loss, &c };
    char name[64];
    double e;
    c.mode = mode;
    c.chunk = 2;                /* 5 samples: chunks of 2, 2, 1 */
    c.scratch = malloc (clar_conv2d_train_scratch (CN, CC, CH, CW, CO, CK, CP, c.chunk, 2,
        (clar_conv_mode) mode) * sizeof (float));
    fill (c.x, sizeof c.x / sizeof (float), 1.0f);
    fill (c.w, sizeof c.w / sizeof (float), 0.5f);
    fill (c.b, CO, 0.5f);
    fill (c.r, sizeof c.r / sizeof (float), 1.0f);
    /* Forward against clar_conv2d_forward (the inference primitive). */
    {
      float yref[sizeof c.y / sizeof (float)], *s1 = malloc (CC * CK * CK * CH * CW * sizeof (float));
      double worst = 0;
      conv_loss (&c);
      clar_conv2d_forward (c.x, CN, CC, CH, CW, c.w, c.b, CO, CK, CP, yref, s1);
      for (size_t i = 0; i < sizeof yref / sizeof (float); i++)
        worst = fmax (worst, fabs (yref[i] - c.y[i]));
      CHECK_MSG (worst < 1e-5, "conv mode %d forward differs from clar_conv2d_forward by %g",
          mode, worst);
      free (s1);
    }
    memset (dw, 0, sizeof dw);
    memset (db, 0, sizeof db);
    clar_conv2d_backward (c.x, c.r, CN, CC, CH, CW, c.w, CO, CK, CP, dw, db, dx, c.chunk,
        (clar_conv_mode) mode, 2, c.scratch);
    snprintf (name, sizeof name, "conv2d (%s) d input", mode ? "batched" : "per-sample");
    e = fd_check (p, c.x, dx, sizeof c.x / sizeof (float), 1e-2f);
    REPORT (name, e, 1e-3);
    snprintf (name, sizeof name, "conv2d (%s) d weight", mode ? "batched" : "per-sample");
    e = fd_check (p, c.w, dw, sizeof c.w / sizeof (float), 1e-2f);
    REPORT (name, e, 1e-3);
    snprintf (name, sizeof name, "conv2d (%s) d bias", mode ? "batched" : "per-sample");
    e = fd_check (p, c.b, db, CO, 1e-2f);
    REPORT (name, e, 1e-3);
    free (c.scratch);
  }
}

/* ---- batch-norm (train mode) ---- */
enum { BN_N = 3, BN_C = 2, BN_HW = 5 };
typedef struct {
  float x[BN_N * BN_C * BN_HW], g[BN_C], b[BN_C], r[BN_N * BN_C * BN_HW];
  float xhat[BN_N * BN_C * BN_HW], y[BN_N * BN_C * BN_HW], mean[BN_C], var[BN_C], inv[BN_C];
} bn_ctx;

static double
bn_loss (void *p)
{
  bn_ctx *c = p;
  clar_batchnorm2d_train_forward (c->x, BN_N, BN_C, BN_HW, c->g, c->b, 1e-5f, c->xhat, c->y,
      c->mean, c->var, c->inv);
  return dot_r (c->y, c->r, sizeof c->y / sizeof (float));
}

static void
test_batchnorm (void)
{
  bn_ctx c;
  float dx[sizeof c.x / sizeof (float)], dg[BN_C] = { 0 }, db[BN_C] = { 0 };
  probe p = { bn_loss, &c };
  double mean0 = 0, var0 = 0;
  fill (c.x, sizeof c.x / sizeof (float), 2.0f);
  fill (c.g, BN_C, 1.0f);
  fill (c.b, BN_C, 1.0f);
  fill (c.r, sizeof c.r / sizeof (float), 1.0f);
  bn_loss (&c);
  /* Batch statistics of channel 0 by hand. */
  for (int n = 0; n < BN_N; n++)
    for (int i = 0; i < BN_HW; i++)
      mean0 += c.x[(n * BN_C) * BN_HW + i] / (BN_N * BN_HW);
  for (int n = 0; n < BN_N; n++)
    for (int i = 0; i < BN_HW; i++) {
      double d = c.x[(n * BN_C) * BN_HW + i] - mean0;
      var0 += d * d / (BN_N * BN_HW);
    }
  CHECK_CLOSE (c.mean[0], mean0, 1e-6);
  CHECK_CLOSE (c.var[0], var0, 1e-6);
  CHECK_CLOSE (c.y[3], c.g[0] * (c.x[3] - mean0) / sqrt (var0 + 1e-5) + c.b[0], 1e-5);
  clar_batchnorm2d_backward (c.r, c.xhat, c.g, c.inv, BN_N, BN_C, BN_HW, dg, db, dx);
  REPORT ("batchnorm2d (train) d input", fd_check (p, c.x, dx, sizeof c.x / sizeof (float), 1e-2f), 2e-3);
  REPORT ("batchnorm2d (train) d gamma", fd_check (p, c.g, dg, BN_C, 1e-2f), 1e-3);
  REPORT ("batchnorm2d (train) d beta", fd_check (p, c.b, db, BN_C, 1e-2f), 1e-3);
}

/* ---- ReLU, pooling ---- */
enum { PN = 2, PC = 2, PH = 5, PW = 7, PK = 2 };
typedef struct {
  int op;                          /* 0 relu, 1 max, 2 avg, 3 global */
  float x[PN * PC * PH * PW], r[PN * PC * PH * PW], y[PN * PC * PH * PW];
  int32_t arg[PN * PC * PH * PW];
} pool_ctx;

static size_t
pool_out_n (int op)
{
  if (op == 0)
    return PN * PC * PH * PW;
  if (op == 3)
    return PN * PC;
  return (size_t) PN * PC * clar_pool_out (PH, PK) * clar_pool_out (PW, PK);
}

static double
pool_loss (void *p)
{
  pool_ctx *c = p;
  switch (c->op) {
    case 0:
      memcpy (c->y, c->x, sizeof c->x);
      clar_relu_train_forward (c->y, PN * PC * PH * PW);
      break;
    case 1:
      clar_maxpool2d_forward (c->x, PN, PC, PH, PW, PK, c->y, c->arg);
      break;
    case 2:
      clar_avgpool2d_forward (c->x, PN, PC, PH, PW, PK, c->y);
      break;
    default:
      clar_global_avg_pool_forward (c->x, PN, PC, PH, PW, c->y);
  }
  return dot_r (c->y, c->r, pool_out_n (c->op));
}

static void
test_pointwise_and_pooling (void)
{
  static const char *names[4] = { "relu d input", "maxpool2d d input (odd sizes)",
                                  "avgpool2d d input (odd sizes)", "global_avg_pool d input" };
  for (int op = 0; op < 4; op++) {
    pool_ctx c;
    float dx[PN * PC * PH * PW];
    probe p = { pool_loss, &c };
    c.op = op;
    if (op == 0)
      fill_away_from_zero (c.x, PN * PC * PH * PW);
    else
      fill_distinct (c.x, PN * PC * PH * PW);
    fill (c.r, PN * PC * PH * PW, 1.0f);
    pool_loss (&c);
    switch (op) {
      case 0:
        clar_relu_backward (c.y, c.r, PN * PC * PH * PW, dx);
        break;
      case 1:
        clar_maxpool2d_backward (c.r, c.arg, PN, PC, PH, PW, PK, dx);
        break;
      case 2:
        clar_avgpool2d_backward (c.r, PN, PC, PH, PW, PK, dx);
        break;
      default:
        clar_global_avg_pool_backward (c.r, PN, PC, PH, PW, dx);
    }
    REPORT (names[op], fd_check (p, c.x, dx, PN * PC * PH * PW, 1e-2f), 1e-3);
  }
}

/* ---- depthwise convolution (residual depthwise-separable blocks) ---- */
enum { DN = 3, DC = 3, DH = 7, DW = 8, DK = 3 };
typedef struct {
  int pad, stride;
  float x[DN * DC * DH * DW], w[DC * DK * DK], b[DC], r[DN * DC * DH * DW];
  float y[DN * DC * DH * DW];
} dw_ctx;

static size_t
dw_out_n (const dw_ctx *c)
{
  return (size_t) DN * DC * clar_dwconv_out (DH, DK, c->pad, c->stride)
      * clar_dwconv_out (DW, DK, c->pad, c->stride);
}

static double
dw_loss (void *p)
{
  dw_ctx *c = p;
  clar_dwconv2d_forward (c->x, DN, DC, DH, DW, c->w, c->b, DK, c->pad, c->stride, c->y);
  return dot_r (c->y, c->r, dw_out_n (c));
}

/* The definition of the forward, one output at a time (PyTorch's Conv2d with
 * groups = C: y[n,c,i,j] = b[c] + sum w[c,a,b] x[n,c,i*s+a-pad,j*s+b-pad]). */
static double
dw_naive_error (const dw_ctx *c)
{
  const int Ho = clar_dwconv_out (DH, DK, c->pad, c->stride);
  const int Wo = clar_dwconv_out (DW, DK, c->pad, c->stride);
  double worst = 0;
  for (int n = 0; n < DN; n++)
    for (int ch = 0; ch < DC; ch++)
      for (int i = 0; i < Ho; i++)
        for (int j = 0; j < Wo; j++) {
          double s = c->b[ch];
          for (int a = 0; a < DK; a++)
            for (int bb = 0; bb < DK; bb++) {
              int hi = i * c->stride + a - c->pad, wj = j * c->stride + bb - c->pad;
              if (hi >= 0 && hi < DH && wj >= 0 && wj < DW)
                s += (double) c->w[(ch * DK + a) * DK + bb]
                    * c->x[((n * DC + ch) * DH + hi) * DW + wj];
            }
          worst = fmax (worst, fabs (s - c->y[((n * DC + ch) * Ho + i) * Wo + j]));
        }
  return worst;
}

static void
test_dwconv (void)
{
  static const int cases[][2] = { { 1, 1 }, { 1, 2 }, { 0, 1 }, { 0, 2 }, { 2, 3 } };
  uint32_t saved = rs;
  for (size_t q = 0; q < sizeof cases / sizeof cases[0]; q++) {
    dw_ctx c;
    float dx[DN * DC * DH * DW], dw[DC * DK * DK] = { 0 }, db[DC] = { 0 };
    probe p = { dw_loss, &c };
    char name[96];
    c.pad = cases[q][0];
    c.stride = cases[q][1];
    fill (c.x, sizeof c.x / sizeof (float), 1.0f);
    fill (c.w, sizeof c.w / sizeof (float), 1.0f);
    fill (c.b, DC, 1.0f);
    fill (c.r, sizeof c.r / sizeof (float), 1.0f);
    dw_loss (&c);
    {
      double e = dw_naive_error (&c);
      printf ("  dwconv2d pad %d stride %d: forward vs the definition max abs err %.2e\n",
          c.pad, c.stride, e);
      CHECK (e < 1e-5);
    }
    clar_dwconv2d_backward (c.x, c.r, DN, DC, DH, DW, c.w, DK, c.pad, c.stride, dw, db, dx);
    snprintf (name, sizeof name, "dwconv2d p%d s%d d input", c.pad, c.stride);
    REPORT (name, fd_check (p, c.x, dx, sizeof c.x / sizeof (float), 1e-2f), 1e-3);
    snprintf (name, sizeof name, "dwconv2d p%d s%d d weight", c.pad, c.stride);
    REPORT (name, fd_check (p, c.w, dw, sizeof c.w / sizeof (float), 1e-2f), 1e-3);
    snprintf (name, sizeof name, "dwconv2d p%d s%d d bias", c.pad, c.stride);
    REPORT (name, fd_check (p, c.b, db, DC, 1e-2f), 1e-3);
  }
  rs = saved;
}

/* ---- linear, L2 normalisation ---- */
enum { LN = 4, LI = 5, LO = 3 };
typedef struct {
  int op;                          /* 0 linear, 1 l2norm rows */
  float x[LN * LI], w[LO * LI], b[LO], r[LN * LI], y[LN * LI], norms[LN];
} lin_ctx;

static double
lin_loss (void *p)
{
  lin_ctx *c = p;
  if (c->op == 0) {
    clar_linear_forward (c->x, LN, LI, c->w, c->b, LO, c->y);
    return dot_r (c->y, c->r, LN * LO);
  }
  clar_l2norm_rows (c->x, LN, LI, c->y, c->norms);
  return dot_r (c->y, c->r, LN * LI);
}

static void
test_linear_and_norm (void)
{
  lin_ctx c;
  float dx[LN * LI], dw[LO * LI] = { 0 }, db[LO] = { 0 };
  probe p = { lin_loss, &c };
  fill (c.x, LN * LI, 1.0f);
  fill (c.w, LO * LI, 1.0f);
  fill (c.b, LO, 1.0f);
  fill (c.r, LN * LI, 1.0f);
  c.op = 0;
  lin_loss (&c);
  clar_linear_backward (c.x, c.r, LN, LI, LO, c.w, dw, db, dx);
  REPORT ("linear d input", fd_check (p, c.x, dx, LN * LI, 1e-2f), 1e-3);
  REPORT ("linear d weight", fd_check (p, c.w, dw, LO * LI, 1e-2f), 1e-3);
  REPORT ("linear d bias", fd_check (p, c.b, db, LO, 1e-2f), 1e-3);
  c.op = 1;
  lin_loss (&c);
  memset (dx, 0, sizeof dx);
  clar_l2norm_rows_backward (c.y, c.norms, c.r, LN, LI, dx);
  REPORT ("l2 normalisation d input", fd_check (p, c.x, dx, LN * LI, 1e-3f), 2e-3);
}

/* ---- heads and the whole network ---- */
static const char *tiny_arch =
  "[{\"op\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":3,\"kernel\":3,\"pad\":1},"
  "{\"op\":\"relu\"},{\"op\":\"maxpool2d\",\"kernel\":2},"
  "{\"op\":\"conv2d\",\"name\":\"c2\",\"in\":3,\"out\":4,\"kernel\":3,\"pad\":1},"
  "{\"op\":\"relu\"},{\"op\":\"avgpool2d\",\"kernel\":2},{\"op\":\"global_avg_pool\"},"
  "{\"op\":\"linear\",\"name\":\"fc\",\"in\":4,\"out\":5}]";

/* A small residual depthwise-separable network: inverted-residual blocks
 * (1x1 expand, depthwise 3x3, 1x1 project) with and without a skip, a
 * stride-2 depthwise, nested residual blocks and a residual block right
 * after the input and right before the global pool. */
static const char *tiny_res_arch =
  "[{\"op\":\"residual_begin\"},"
  "{\"op\":\"dwconv2d\",\"name\":\"d0\",\"channels\":1,\"kernel\":3,\"pad\":1},"
  "{\"op\":\"residual_add\"},"
  "{\"op\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":4,\"kernel\":3,\"pad\":1},"
  "{\"op\":\"relu\"},"
  "{\"op\":\"residual_begin\"},"
  "{\"op\":\"conv2d\",\"name\":\"e1\",\"in\":4,\"out\":6,\"kernel\":1,\"pad\":0},"
  "{\"op\":\"relu\"},"
  "{\"op\":\"dwconv2d\",\"name\":\"d1\",\"channels\":6,\"kernel\":3,\"pad\":1,\"stride\":1},"
  "{\"op\":\"relu\"},"
  "{\"op\":\"conv2d\",\"name\":\"p1\",\"in\":6,\"out\":4,\"kernel\":1,\"pad\":0},"
  "{\"op\":\"residual_add\"},{\"op\":\"relu\"},"
  "{\"op\":\"conv2d\",\"name\":\"e2\",\"in\":4,\"out\":6,\"kernel\":1,\"pad\":0},"
  "{\"op\":\"relu\"},"
  "{\"op\":\"dwconv2d\",\"name\":\"d2\",\"channels\":6,\"kernel\":3,\"pad\":1,\"stride\":2},"
  "{\"op\":\"relu\"},"
  "{\"op\":\"conv2d\",\"name\":\"p2\",\"in\":6,\"out\":5,\"kernel\":1,\"pad\":0},"
  "{\"op\":\"residual_begin\"},{\"op\":\"relu\"},"
  "{\"op\":\"residual_begin\"},"
  "{\"op\":\"dwconv2d\",\"name\":\"d3\",\"channels\":5,\"kernel\":3,\"pad\":1},"
  "{\"op\":\"residual_add\"},{\"op\":\"relu\"},"
  "{\"op\":\"conv2d\",\"name\":\"p3\",\"in\":5,\"out\":5,\"kernel\":1,\"pad\":0},"
  "{\"op\":\"residual_add\"},"
  "{\"op\":\"global_avg_pool\"},"
  "{\"op\":\"linear\",\"name\":\"fc\",\"in\":5,\"out\":5}]";

static clar_net *
arch_net (const char *arch, int n_mels, int K, int mode)
{
  clar_net_config c = clar_net_default_config ();
  clar_error err;
  clar_net *net;
  c.architecture = arch;
  c.mel.n_mels = n_mels;
  c.mel.f_min = 0;
  c.proj_dim = 3;
  c.n_classes = K;
  c.conv_chunk = 2;
  c.conv_mode = mode;
  net = clar_net_new (&c, &err);
  if (!net)
    fprintf (stderr, "clar_net_new: %s\n", err.message);
  return net;
}

static clar_net *
tiny_net (int n_mels, int K, int mode)
{
  return arch_net (tiny_arch, n_mels, K, mode);
}

typedef struct {
  clar_net *net;
  const float *mel;
  int M, T;
  const float *rz, *rl;            /* upstream gradients of z / logits */
} head_ctx;

static double
head_loss (void *p)
{
  head_ctx *c = p;
  const float *z, *l;
  double s = 0;
  clar_net_forward (c->net, c->mel, c->M, c->T, 1, NULL, &z, &l);
  if (c->rz)
    s += dot_r (z, c->rz, (size_t) c->M * clar_net_proj_dim (c->net));
  if (c->rl)
    s += dot_r (l, c->rl, (size_t) c->M * clar_net_n_classes (c->net));
  return s;
}

static void
test_heads (void)
{
  enum { M = 4, F = 8, T = 12 };
  clar_net *net = tiny_net (F, 3, 0);
  float mel[M * F * T], rz[M * 3], rl[M * 3];
  head_ctx c = { net, mel, M, T, NULL, NULL };
  probe p = { head_loss, &c };
  CHECK (net != NULL);
  if (!net)
    return;
  fill (mel, M * F * T, 2.0f);
  fill (rz, M * 3, 1.0f);
  fill (rl, M * 3, 1.0f);
  for (int which = 0; which < 2; which++) {
    c.rz = which == 0 ? rz : NULL;
    c.rl = which == 1 ? rl : NULL;
    clar_net_zero_grad (net);
    head_loss (&c);
    clar_net_backward (net, c.rz, c.rl, NULL);
    for (size_t i = 0; i < clar_net_n_params (net); i++) {
      clar_param *q = clar_net_param (net, i);
      char name[128];
      float *g;
      /* Each head's own parameters, and the embedding layer below it. */
      int mine = which == 0 ? strncmp (q->name, "head.proj", 9) == 0
          : strcmp (q->name, "head.classifier.weight") == 0;
      if (!mine && strcmp (q->name, "encoder.fc.weight") != 0)
        continue;
      g = malloc (q->n * sizeof (float));
      memcpy (g, q->g, q->n * sizeof (float));
      snprintf (name, sizeof name, "%s head: %s", which ? "cosine" : "projection", q->name);
      REPORT (name, fd_check (p, q->w, g, q->n, 1e-3f), 1e-2);
      free (g);
    }
  }
  clar_net_free (net);
}

/* Hybrid objective used for the whole-network check: NT-Xent on z + 0.7 CE
 * on the cosine logits. */
static double
objective (clar_net *net, const float *mel, int N, int T, const int *labels, float *dz,
           float *dl)
{
  const float *z, *logits;
  clar_net_forward (net, mel, 2 * N, T, 1, NULL, &z, &logits);
  return clar_loss_hybrid (z, logits, N, clar_net_proj_dim (net), clar_net_n_classes (net),
      labels, CLAR_CONTRASTIVE_NTXENT, 0.5f, 0.7f, dz, dl, NULL, NULL);
}

typedef struct {
  clar_net *net;
  const float *mel;
  const int *labels;
  int N, T;
} net_ctx;

static double
net_loss (void *p)
{
  net_ctx *c = p;
  return objective (c->net, c->mel, c->N, c->T, c->labels, NULL, NULL);
}

/* Central differences of p.loss over the entries of v; the largest
 * |numeric - analytic| (fd_check divides it by max |analytic|). */
static double
fd_absdiff (probe p, float *v, const float *g, size_t n, float h)
{
  double maxdiff = 0;
  for (size_t i = 0; i < n; i++) {
    float s = v[i];
    double up, dn;
    v[i] = s + h;
    up = p.loss (p.ctx);
    v[i] = s - h;
    dn = p.loss (p.ctx);
    v[i] = s;
    maxdiff = fmax (maxdiff, fabs ((up - dn) / (2.0 * (double) h) - g[i]));
  }
  return maxdiff;
}

/* The derivative of p.loss along v = g / |g| (central difference of step h
 * along the unit vector) against |g| = g . v: one number per tensor, so the
 * ReLU kinks that single entries' differences cross average out. Returns
 * |numeric - |g|| / |g|. */
static double
fd_directional (probe p, float *w, const float *g, size_t n, float h)
{
  double norm = 0, up, dn;
  float *w0 = malloc (n * sizeof (float));
  memcpy (w0, w, n * sizeof (float));
  for (size_t i = 0; i < n; i++)
    norm += (double) g[i] * g[i];
  norm = sqrt (norm);
  if (norm == 0) {
    free (w0);
    return 0;
  }
  for (size_t i = 0; i < n; i++)
    w[i] = w0[i] + (float) (h * g[i] / norm);
  up = p.loss (p.ctx);
  for (size_t i = 0; i < n; i++)
    w[i] = w0[i] - (float) (h * g[i] / norm);
  dn = p.loss (p.ctx);
  memcpy (w, w0, n * sizeof (float));
  free (w0);
  return fabs ((up - dn) / (2.0 * h) - norm) / norm;
}

/* Every parameter and the input of a whole network under the hybrid loss.
 * random_bn: batch-norm gamma/beta drawn at random first (see below), and a
 * parameter the loss is exactly invariant to (max |analytic| below 1e-4 of
 * the largest gradient) is checked for a numeric gradient near zero too
 * (absolute error below tol x the largest gradient). */
static void
whole_network (const char *arch, const char *what, int random_bn, int directional,
               double tol, float step)
{
  enum { N = 3, F = 8, T = 12 };
  int labels[N] = { 0, 1, -1 };
  clar_net *net = arch_net (arch, F, 2, 0);
  float mel[2 * N * F * T], dmel[2 * N * F * T], dz[2 * N * 3], dl[2 * N * 2];
  net_ctx c = { net, mel, labels, N, T };
  probe p = { net_loss, &c };
  double worst = 0, gmax = 0;
  CHECK (net != NULL);
  if (!net)
    return;
  fill (mel, 2 * N * F * T, 2.0f);
  /* Batch-norm at its initial gamma 1, beta 0 makes the loss exactly
   * invariant to some parameters (a gamma before ReLU and a batch-norm);
   * random values break the symmetry. (A beta before a 1x1 conv and a
   * batch-norm stays exactly invariant: its gradient is 0.) */
  for (size_t i = 0; random_bn && i < clar_net_n_params (net); i++) {
    clar_param *q = clar_net_param (net, i);
    if (strncmp (q->name, "bn.", 3) == 0)
      for (size_t j = 0; j < q->n; j++)
        q->w[j] = strstr (q->name, ".weight") ? 1.0f + 0.5f * frand () : 0.5f * frand ();
    /* Non-zero head biases: a projection z = W2 relu(W1 h) of a row whose
     * ReLU is all off would be 0, where NT-Xent's normalisation blows up. */
    if (strncmp (q->name, "head.proj", 9) == 0 && strstr (q->name, ".bias"))
      for (size_t j = 0; j < q->n; j++)
        q->w[j] = 0.5f * frand ();
  }
  clar_net_zero_grad (net);
  objective (net, mel, N, T, labels, dz, dl);
  CHECK_EQ_INT (clar_net_backward (net, dz, dl, dmel), CLAR_OK);
  for (size_t i = 0; i < clar_net_n_params (net); i++) {
    clar_param *q = clar_net_param (net, i);
    for (size_t j = 0; j < q->n; j++)
      gmax = fmax (gmax, fabs (q->g[j]));
  }
  for (size_t i = 0; i < clar_net_n_params (net); i++) {
    clar_param *q = clar_net_param (net, i);
    float *g = malloc (q->n * sizeof (float));
    double e, qmax = 0;
    memcpy (g, q->g, q->n * sizeof (float));
    for (size_t j = 0; j < q->n; j++)
      qmax = fmax (qmax, fabs (g[j]));
    if (random_bn && qmax < 1e-4 * gmax) {
      e = fd_absdiff (p, q->w, g, q->n, 1e-3f) / gmax;
      printf ("  %s: %-24s invariant: max |numeric - analytic| / max |gradient| %.2e\n", what,
          q->name, e);
      CHECK_MSG (e < tol, "%s %s (invariant): %.3g", what, q->name, e);
      free (g);
      continue;
    }
    /* The whole chain crosses ReLU and max-pool kinks of random data; a
     * step of 1e-3 keeps most differences on one side of them (along a
     * gradient direction, 1e-4: at 1e-3 and 1e-2 the curvature of the
     * crossed kinks bends the quotient of early layers by 14% and 35%, at
     * 1e-4 by at most 1.4%). */
    e = directional ? fd_directional (p, q->w, g, q->n, 1e-4f) : fd_check (p, q->w, g, q->n, step);
    printf ("  %s: %-24s %s rel err %.2e\n", what, q->name, directional ? "directional" : "max", e);
    CHECK_MSG (e < tol, "%s %s: %.3g", what, q->name, e);
    worst = fmax (worst, e);
    free (g);
  }
  {
    double e = directional ? fd_directional (p, mel, dmel, 2 * N * F * T, 1e-4f)
        : fd_check (p, mel, dmel, 2 * N * F * T, step);
    printf ("  %s: %-24s %s rel err %.2e\n", what, "input (mel)",
        directional ? "directional" : "max", e);
    CHECK (e < tol);
    worst = fmax (worst, e);
  }
  printf ("  %s worst: %.2e\n", what, worst);
  /* Backward after an eval-mode forward is refused with a message. */
  clar_net_forward (net, mel, 2 * N, T, 0, NULL, NULL, NULL);
  CHECK_EQ_INT (clar_net_backward (net, dz, dl, NULL), CLAR_ERR_INVALID_ARGUMENT);
  CHECK (strstr (clar_net_last_error (net), "train-mode") != NULL);
  clar_net_free (net);
}

static void
test_whole_network (void)
{
  whole_network (tiny_arch, "whole net", 0, 0, 2e-2, 1e-3f);
}

/* The residual network twice. Without its ReLUs, entry by entry (a smooth
 * function, so a step of 1e-2: the batch-norm of e1, which the next
 * batch-norm cancels but for the zero-padded border, has a gradient small
 * against float rounding, and with the step of 1e-3 its error was 1.8% to
 * 3.1% depending on the BLAS kernel's rounding (OpenBLAS SkylakeX and
 * Haswell kernels on one CPU); with 1e-2 every tensor is within 0.4% on
 * the SkylakeX, Haswell and Prescott kernels). With them, each of its ~10^4
 * ReLU inputs is a kink that a single entry's step may cross (up to 30%
 * error on early layers, which move every later kink): there each tensor
 * is checked along its gradient's direction instead, with a smaller step. PyTorch autograd in
 * float64 checks the same layers entry by entry
 * (tests/python/test_nn_torch.py). The new tests keep the random stream of
 * the tests before them unchanged. */
static void
test_whole_residual_network (void)
{
  uint32_t saved = rs;
  char *smooth = strdup (tiny_res_arch), *q;
  static const char relu[] = "{\"op\":\"relu\"},";
  while ((q = strstr (smooth, relu)))
    memmove (q, q + strlen (relu), strlen (q + strlen (relu)) + 1);
  whole_network (smooth, "residual net, no ReLU", 1, 0, 1e-2, 1e-2f);
  whole_network (tiny_res_arch, "residual net", 1, 1, 3e-2, 1e-3f);
  free (smooth);
  rs = saved;
}

/* Gradients after one forward/backward, concatenated. */
static float *
grads_for (int mode, int threads, const float *mel, int N, int T, const int *labels,
           size_t *n_out)
{
  clar_net *net = tiny_net (8, 2, mode);
  float dz[2 * 8 * 3], dl[2 * 8 * 2], *all;
  size_t n = 0;
#ifdef _OPENMP
  omp_set_num_threads (threads);
#else
  (void) threads;
#endif
  clar_net_zero_grad (net);
  objective (net, mel, N, T, labels, dz, dl);
  clar_net_backward (net, dz, dl, NULL);
  for (size_t i = 0; i < clar_net_n_params (net); i++)
    n += clar_net_param (net, i)->n;
  all = malloc (n * sizeof (float));
  n = 0;
  for (size_t i = 0; i < clar_net_n_params (net); i++) {
    clar_param *q = clar_net_param (net, i);
    memcpy (all + n, q->g, q->n * sizeof (float));
    n += q->n;
  }
  *n_out = n;
  clar_net_free (net);
  return all;
}

static void
test_threads_and_modes (void)
{
  enum { N = 7, F = 8, T = 16 };
  float mel[2 * N * F * T];
  int labels[N] = { 0, 1, 0, -1, 1, 1, 0 };
  size_t n1, n2, n3;
  float *g1, *g2, *g3;
  double worst = 0, mx = 0;
  fill (mel, 2 * N * F * T, 2.0f);
  g1 = grads_for (1, 1, mel, N, T, labels, &n1);
  g2 = grads_for (1, 2, mel, N, T, labels, &n2);
  g3 = grads_for (0, 2, mel, N, T, labels, &n3);
  CHECK (n1 == n2 && n1 == n3);
  CHECK_MSG (memcmp (g1, g2, n1 * sizeof (float)) == 0,
      "gradients differ between 1 and 2 threads");
  {
    /* Two OpenBLAS threads (the chunks then run in sequence): the same
     * values, but not necessarily the same bits, since OpenBLAS may pick
     * other kernels when threaded; our guarantee covers OpenMP threads. */
    size_t n4;
    float *g4;
    double d4 = 0, m4 = 1e-12;
    clar_blas_set_threads (2);
    g4 = grads_for (1, 2, mel, N, T, labels, &n4);
    clar_blas_set_threads (1);
    CHECK (n4 == n1);
    for (size_t i = 0; i < n1 && n4 == n1; i++) {
      d4 = fmax (d4, fabs (g1[i] - g4[i]));
      m4 = fmax (m4, fabs (g1[i]));
    }
    printf ("  2 OpenBLAS threads: max rel diff %.2e\n", d4 / m4);
    CHECK (d4 / m4 < 1e-5);
    free (g4);
  }
  for (size_t i = 0; i < n1; i++) {
    worst = fmax (worst, fabs (g1[i] - g3[i]));
    mx = fmax (mx, fabs (g1[i]));
  }
  printf ("  1 vs 2 OpenMP threads: identical bits; per-sample vs batched conv: max rel diff %.2e\n",
      worst / mx);
  CHECK (worst / mx < 1e-4);
  free (g1);
  free (g2);
  free (g3);
#ifdef _OPENMP
  omp_set_num_threads (1);
#endif
}

/* clar-train --init: a network loaded from an exported model (batch-norm
 * folded) and calibrated on a batch equals the model, in eval mode on any
 * input and in train mode on the calibration batch; the head rows come back
 * by class name; another layer list is refused. */
static void
test_init_from_model (void)
{
  enum { N = 4, T = 101 };
  const char *names[2] = { "low", "high" };
  clar_net_config c = clar_net_default_config ();
  clar_net *net, *net2, *net3;
  clar_error err;
  clar_model *m = NULL;
  clar_optim a = clar_adam_default ();
  clar_train_config tc = clar_train_default_config ();
  char path[] = "/tmp/clar-init-XXXXXX";
  float *mel = malloc ((size_t) 2 * N * 64 * T * sizeof (float));
  float *other = malloc ((size_t) 2 * N * 64 * T * sizeof (float)), emb[128];
  int labels[N] = { 0, 1, 0, 1 };
  size_t rows = 0;
  const float *h;
  c.n_classes = 2;
  c.class_names = names;
  net = clar_net_new (&c, &err);
  c.seed = 99;
  net2 = clar_net_new (&c, &err);
  CHECK (net && net2 && mel && other);
  if (!net || !net2 || !mel || !other)
    return;
  fill (mel, (size_t) 2 * N * 64 * T, 3.0f);
  fill (other, (size_t) 2 * N * 64 * T, 2.0f);
  for (size_t i = 0; i < (size_t) 2 * N * 64 * T; i++) {
    mel[i] -= 5.0f;
    other[i] -= 4.0f;
  }
  for (int s = 0; s < 3; s++)
    CHECK_EQ_INT (clar_train_step (net, &a, mel, mel + (size_t) N * 64 * T, labels, N, T, &tc,
        NULL, &err), CLAR_OK);
  close (mkstemp (path));
  CHECK_EQ_INT (clar_net_export (net, path, NULL, &err), CLAR_OK);
  CHECK_EQ_INT (clar_model_load_file (path, &m, &err), CLAR_OK);
  if (!m)
    return;
  CHECK_EQ_INT (clar_net_load_encoder (net2, path, clar_model_get_labels (m), &rows, &err), CLAR_OK);
  CHECK_MSG (rows == 2, "head rows kept: %zu", rows);
  /* Calibrated while frozen (clar-train --freeze-encoder): calibration
   * still uses the batch statistics, and leaves the encoder frozen. */
  clar_net_freeze_encoder (net2, 1, 0);
  CHECK_EQ_INT (clar_net_calibrate_bn (net2, mel, 2 * N, T, &err), CLAR_OK);
  CHECK (clar_net_param (net2, 0)->frozen);
  {
    clar_session *s = clar_session_new (m, &err);
    double worst_eval = 0, worst_train = 0, mx = 0;
    const float *lg;
    float probs[2];
    /* Eval mode, inputs the calibration never saw. */
    clar_net_forward (net2, other, 2 * N, T, 0, &h, NULL, &lg);
    for (int i = 0; i < 2 * N; i++) {
      clar_session_encode_raw (s, other + (size_t) i * 64 * T, T, emb);
      for (int d = 0; d < 128; d++) {
        worst_eval = fmax (worst_eval, fabs (emb[d] - h[i * 128 + d]));
        mx = fmax (mx, fabs (emb[d]));
      }
      if (i == 0) {
        double lse = log (exp (lg[0]) + exp (lg[1]));
        clar_labels_score (clar_model_get_labels (m), emb, probs, NULL);
        CHECK_CLOSE (probs[1], exp (lg[1] - lse), 1e-4);
      }
    }
    /* Train mode (batch statistics) on the calibration batch. */
    clar_net_freeze_encoder (net2, 0, 0);
    clar_net_forward (net2, mel, 2 * N, T, 1, &h, NULL, NULL);
    for (int i = 0; i < 2 * N; i++) {
      clar_session_encode_raw (s, mel + (size_t) i * 64 * T, T, emb);
      for (int d = 0; d < 128; d++)
        worst_train = fmax (worst_train, fabs (emb[d] - h[i * 128 + d]));
    }
    printf ("  --init: loaded net vs the model: eval mode max rel err %.2e, train mode on the "
        "calibration batch %.2e\n", worst_eval / mx, worst_train / mx);
    CHECK (worst_eval / mx < 1e-4);
    CHECK (worst_train / mx < 1e-3);
    clar_session_free (s);
  }
  /* Another layer list: refused with a message. */
  c.architecture = clar_architecture_by_name ("dsres");
  net3 = c.architecture ? clar_net_new (&c, &err) : NULL;
  if (net3) {
    CHECK_EQ_INT (clar_net_load_encoder (net3, path, NULL, NULL, &err), CLAR_ERR_INVALID_ARGUMENT);
    CHECK (strstr (err.message, "layer list differs") != NULL);
  }
  clar_net_free (net3);
  clar_model_unref (m);
  unlink (path);
  clar_net_free (net);
  clar_net_free (net2);
  free (mel);
  free (other);
}

static void
test_export_and_checkpoint (void)
{
  enum { N = 4, T = 101 };
  const char *names[2] = { "low", "high" };
  clar_net_config c = clar_net_default_config ();
  clar_net *net, *net2;
  clar_error err;
  clar_model *m = NULL;
  clar_optim a = clar_adam_default (), a2;
  clar_train_config tc = clar_train_default_config ();
  clar_train_losses l1, l2;
  char path[] = "/tmp/clar-export-XXXXXX", ck[] = "/tmp/clar-ckpt-XXXXXX";
  float *mel = malloc ((size_t) 2 * N * 64 * T * sizeof (float)), emb[128];
  float user[3] = { 1, 2, 3 }, u2[3];
  int labels[N] = { 0, 1, 0, -1 };
  const float *h, *hn;
  c.n_classes = 2;
  c.class_names = names;
  net = clar_net_new (&c, &err);
  CHECK (net != NULL);
  if (!net)
    return;
  fill (mel, (size_t) 2 * N * 64 * T, 3.0f);
  for (size_t i = 0; i < (size_t) 2 * N * 64 * T; i++)
    mel[i] -= 5.0f;
  /* A few steps so BN statistics and weights move away from the start. */
  for (int s = 0; s < 3; s++)
    CHECK_EQ_INT (clar_train_step (net, &a, mel, mel + (size_t) N * 64 * T, labels, N, T, &tc,
        NULL, &err), CLAR_OK);
  close (mkstemp (path));
  CHECK_EQ_INT (clar_net_export (net, path, NULL, &err), CLAR_OK);
  CHECK_EQ_INT (clar_model_load_file (path, &m, &err), CLAR_OK);
  if (m) {
    clar_session *s = clar_session_new (m, &err);
    double worst = 0, worst_n = 0, mx = 0;
    clar_net_forward (net, mel, 2 * N, T, 0, &h, NULL, NULL);
    hn = clar_net_embeddings_normalised (net);
    for (int i = 0; i < 2 * N; i++) {
      float e2[128];
      clar_session_encode_raw (s, mel + (size_t) i * 64 * T, T, emb);
      for (int d = 0; d < 128; d++) {
        worst = fmax (worst, fabs (emb[d] - h[i * 128 + d]));
        mx = fmax (mx, fabs (h[i * 128 + d]));
      }
      /* Normalised embedding through the label scorer's own normalisation. */
      memcpy (e2, emb, sizeof e2);
      {
        double nn = 0;
        for (int d = 0; d < 128; d++)
          nn += (double) e2[d] * e2[d];
        for (int d = 0; d < 128; d++)
          worst_n = fmax (worst_n, fabs (e2[d] / sqrt (nn) - hn[i * 128 + d]));
      }
    }
    printf ("  exported model (BN folded) vs eval-mode training net: max rel err %.2e, "
        "normalised max abs err %.2e\n", worst / mx, worst_n);
    CHECK (worst / mx < 1e-4);
    CHECK (worst_n < 1e-4);
    CHECK (clar_model_get_labels (m) && clar_labels_count (clar_model_get_labels (m)) == 2);
    if (clar_model_get_labels (m)) {
      /* The label scores equal the training net's softmax of its logits. */
      const float *logits;
      float probs[2];
      double lse;
      CHECK (strcmp (clar_labels_name (clar_model_get_labels (m), 1), "high") == 0);
      CHECK_CLOSE (clar_labels_scale (clar_model_get_labels (m)), 10.0, 1e-6);
      clar_net_forward (net, mel, 2 * N, T, 0, NULL, NULL, &logits);
      clar_session_encode_raw (s, mel, T, emb);
      clar_labels_score (clar_model_get_labels (m), emb, probs, NULL);
      lse = log (exp (logits[0]) + exp (logits[1]));
      CHECK_CLOSE (probs[1], exp (logits[1] - lse), 1e-4);
    }
    clar_session_free (s);
    clar_model_unref (m);
  }
  unlink (path);

  /* Checkpoint round trip: the next step is identical to the bit. */
  close (mkstemp (ck));
  CHECK_EQ_INT (clar_net_save_checkpoint (net, &a, user, 3, ck, &err), CLAR_OK);
  net2 = clar_net_new (&c, &err);
  a2 = clar_adam_default ();
  CHECK_EQ_INT (clar_net_load_checkpoint (net2, &a2, u2, 3, ck, &err), CLAR_OK);
  CHECK_EQ_INT (a2.step, a.step);
  CHECK (u2[0] == 1.0f && u2[2] == 3.0f);
  CHECK_EQ_INT (clar_train_step (net, &a, mel, mel + (size_t) N * 64 * T, labels, N, T, &tc,
      &l1, &err), CLAR_OK);
  CHECK_EQ_INT (clar_train_step (net2, &a2, mel, mel + (size_t) N * 64 * T, labels, N, T, &tc,
      &l2, &err), CLAR_OK);
  CHECK (l1.total == l2.total);
  {
    int same = 1;
    for (size_t i = 0; i < clar_net_n_params (net); i++) {
      clar_param *p1 = clar_net_param (net, i), *p2 = clar_net_param (net2, i);
      same &= memcmp (p1->w, p2->w, p1->n * sizeof (float)) == 0
          && memcmp (p1->m, p2->m, p1->n * sizeof (float)) == 0
          && memcmp (p1->v, p2->v, p1->n * sizeof (float)) == 0;
    }
    CHECK_MSG (same, "parameters or moments differ after the step following a reload");
  }
  /* A checkpoint of another network is refused and leaves net2 as it was. */
  {
    clar_net *other = tiny_net (8, 2, 0);
    char ck2[] = "/tmp/clar-ckpt2-XXXXXX";
    float before = clar_net_param (net2, 0)->w[0];
    close (mkstemp (ck2));
    CHECK_EQ_INT (clar_net_save_checkpoint (other, NULL, NULL, 0, ck2, &err), CLAR_OK);
    CHECK_EQ_INT (clar_net_load_checkpoint (net2, &a2, NULL, 0, ck2, &err), CLAR_ERR_BAD_METADATA);
    CHECK (strstr (err.message, "architecture") != NULL);
    CHECK (clar_net_param (net2, 0)->w[0] == before);
    /* A missing user blob is named. */
    CHECK_EQ_INT (clar_net_load_checkpoint (other, NULL, u2, 3, ck2, &err), CLAR_ERR_MISSING_TENSOR);
    CHECK (strstr (err.message, "user") != NULL);
    unlink (ck2);
    clar_net_free (other);
  }
  unlink (ck);
  clar_net_free (net2);
  clar_net_free (net);
  free (mel);
}

/* Explicit batchnorm2d layers of the layer list (right after a conv: no BN
 * inserted; after a ReLU) train and export as such. */
static void
test_explicit_batchnorm_export (void)
{
  static const char *arch =
    "[{\"op\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":4,\"kernel\":3,\"pad\":1},"
    "{\"op\":\"batchnorm2d\",\"name\":\"bn0\",\"channels\":4,\"eps\":0.001},"
    "{\"op\":\"relu\"},"
    "{\"op\":\"conv2d\",\"name\":\"c2\",\"in\":4,\"out\":4,\"kernel\":3,\"pad\":1},"
    "{\"op\":\"relu\"},{\"op\":\"batchnorm2d\",\"name\":\"bn1\",\"channels\":4},"
    "{\"op\":\"maxpool2d\",\"kernel\":2},{\"op\":\"global_avg_pool\"},"
    "{\"op\":\"linear\",\"name\":\"fc\",\"in\":4,\"out\":6}]";
  enum { N = 3, F = 16, T = 20 };
  clar_net_config c = clar_net_default_config ();
  clar_net *net;
  clar_optim a = clar_adam_default ();
  clar_train_config tc = clar_train_default_config ();
  clar_error err;
  clar_model *m = NULL;
  char path[] = "/tmp/clar-export-bn-XXXXXX";
  float mel[2 * N * F * T];
  int labels[N] = { -1, -1, -1 };
  const float *h;
  c.architecture = arch;
  c.mel.n_mels = F;
  c.mel.f_min = 0;
  net = clar_net_new (&c, &err);
  CHECK (net != NULL);
  if (!net)
    return;
  fill (mel, 2 * N * F * T, 2.0f);
  {
    /* c1 (no inserted BN), bn0, c2, bn.c2 (inserted), bn1: 2 + 2 + 1 + 2 + 2
     * parameters before the linear layer. */
    int n_bn = 0, has_bn_c1 = 0;
    for (size_t i = 0; i < clar_net_n_params (net); i++) {
      const char *nm = clar_net_param (net, i)->name;
      n_bn += strstr (nm, "bn") != NULL;
      has_bn_c1 |= strcmp (nm, "bn.c1.weight") == 0;
    }
    CHECK_EQ_INT (n_bn, 6);
    CHECK (!has_bn_c1);
  }
  for (int s = 0; s < 3; s++)
    CHECK_EQ_INT (clar_train_step (net, &a, mel, mel + N * F * T, labels, N, T, &tc, NULL, &err),
        CLAR_OK);
  close (mkstemp (path));
  CHECK_EQ_INT (clar_net_export (net, path, NULL, &err), CLAR_OK);
  CHECK_EQ_INT (clar_model_load_file (path, &m, &err), CLAR_OK);
  if (m) {
    clar_session *s = clar_session_new (m, &err);
    float emb[6];
    double worst = 0, mx = 0;
    clar_net_forward (net, mel, 2 * N, T, 0, &h, NULL, NULL);
    for (int i = 0; i < 2 * N; i++) {
      clar_session_encode_raw (s, mel + i * F * T, T, emb);
      for (int d = 0; d < 6; d++) {
        worst = fmax (worst, fabs (emb[d] - h[i * 6 + d]));
        mx = fmax (mx, fabs (h[i * 6 + d]));
      }
    }
    printf ("  explicit batchnorm2d export: max rel err %.2e\n", worst / mx);
    CHECK (worst / mx < 1e-4);
    clar_session_free (s);
    clar_model_unref (m);
  } else {
    fprintf (stderr, "load: %s\n", err.message);
  }
  unlink (path);
  clar_net_free (net);
}

/* The residual depthwise-separable layer list: three train steps, export
 * (BN folded into the 1x1 and depthwise convs), and the inference session
 * reproduces the eval-mode training network; a checkpoint reload continues
 * to the same bits. */
static void
test_residual_export (void)
{
  enum { N = 3, F = 8, T = 21 };
  clar_net *net = arch_net (tiny_res_arch, F, 2, 0), *net2 = arch_net (tiny_res_arch, F, 2, 0);
  clar_optim a = clar_adam_default (), a2 = clar_adam_default ();
  clar_train_config tc = clar_train_default_config ();
  clar_error err;
  clar_model *m = NULL;
  char path[] = "/tmp/clar-export-res-XXXXXX", ck[] = "/tmp/clar-ckpt-res-XXXXXX";
  float mel[2 * N * F * T];
  int labels[N] = { 0, 1, -1 };
  const float *h;
  uint32_t saved = rs;
  CHECK (net != NULL && net2 != NULL);
  if (!net || !net2)
    return;
  fill (mel, 2 * N * F * T, 2.0f);
  rs = saved;
  for (int s = 0; s < 3; s++)
    CHECK_EQ_INT (clar_train_step (net, &a, mel, mel + N * F * T, labels, N, T, &tc, NULL, &err),
        CLAR_OK);
  close (mkstemp (path));
  CHECK_EQ_INT (clar_net_export (net, path, NULL, &err), CLAR_OK);
  CHECK_EQ_INT (clar_model_load_file (path, &m, &err), CLAR_OK);
  if (m) {
    clar_session *s = clar_session_new (m, &err);
    float emb[5];
    double worst = 0, mx = 0;
    clar_net_forward (net, mel, 2 * N, T, 0, &h, NULL, NULL);
    for (int i = 0; i < 2 * N; i++) {
      CHECK_EQ_INT (clar_session_encode_raw (s, mel + i * F * T, T, emb), CLAR_OK);
      for (int d = 0; d < 5; d++) {
        worst = fmax (worst, fabs (emb[d] - h[i * 5 + d]));
        mx = fmax (mx, fabs (h[i * 5 + d]));
      }
    }
    printf ("  residual net export (BN folded into 1x1 and depthwise convs) vs eval-mode "
        "training net: max rel err %.2e\n", worst / mx);
    CHECK (worst / mx < 1e-4);
    clar_session_free (s);
    clar_model_unref (m);
  } else {
    fprintf (stderr, "load: %s\n", err.message);
  }
  unlink (path);
  close (mkstemp (ck));
  CHECK_EQ_INT (clar_net_save_checkpoint (net, &a, NULL, 0, ck, &err), CLAR_OK);
  CHECK_EQ_INT (clar_net_load_checkpoint (net2, &a2, NULL, 0, ck, &err), CLAR_OK);
  unlink (ck);
  {
    clar_train_losses l1, l2;
    int same = 1;
    CHECK_EQ_INT (clar_train_step (net, &a, mel, mel + N * F * T, labels, N, T, &tc, &l1, &err),
        CLAR_OK);
    CHECK_EQ_INT (clar_train_step (net2, &a2, mel, mel + N * F * T, labels, N, T, &tc, &l2, &err),
        CLAR_OK);
    CHECK (l1.total == l2.total);
    for (size_t i = 0; i < clar_net_n_params (net); i++)
      same &= memcmp (clar_net_param (net, i)->w, clar_net_param (net2, i)->w,
          clar_net_param (net, i)->n * sizeof (float)) == 0;
    CHECK_MSG (same, "residual net: parameters differ after the step following a reload");
  }
  clar_net_free (net);
  clar_net_free (net2);
}

static void
test_bad_input (void)
{
  clar_net_config c = clar_net_default_config ();
  clar_error err;
  clar_net *net;
  float mel[64 * 4];
  int labels[2] = { 0, 5 };
  clar_optim a = clar_adam_default ();
  clar_train_config tc = clar_train_default_config ();
  c.architecture = "[{\"op\":\"relu\"}]";
  CHECK (clar_net_new (&c, &err) == NULL);
  CHECK_EQ_INT (err.code, CLAR_ERR_UNSUPPORTED);
  c.architecture = "not json";
  CHECK (clar_net_new (&c, &err) == NULL);
  CHECK (err.message[0] != 0);
  CHECK (clar_net_new (NULL, &err) == NULL);
  c = clar_net_default_config ();
  c.n_classes = 2;
  net = clar_net_new (&c, &err);
  memset (mel, 0, sizeof mel);
  /* 4 frames are too few for four 2x2 poolings. */
  CHECK_EQ_INT (clar_net_forward (net, mel, 1, 4, 1, NULL, NULL, NULL), CLAR_ERR_INPUT_TOO_SHORT);
  CHECK (strstr (clar_net_last_error (net), "too few") != NULL);
  CHECK_EQ_INT (clar_net_forward (net, NULL, 1, 4, 1, NULL, NULL, NULL), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_net_backward (net, NULL, NULL, NULL), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_train_step (net, &a, mel, mel, labels, 1, 4, &tc, NULL, &err),
      CLAR_ERR_INPUT_TOO_SHORT);
  CHECK_EQ_INT (clar_train_step (net, &a, mel, mel, labels, 2, 2, &tc, NULL, &err),
      CLAR_ERR_INVALID_ARGUMENT);   /* label 5 of 2 classes */
  CHECK (strstr (err.message, "label 5") != NULL);
  CHECK_EQ_INT (clar_net_forward (NULL, mel, 1, 4, 1, NULL, NULL, NULL), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_net_export (net, NULL, NULL, &err), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_net_load_checkpoint (net, NULL, NULL, 0, "/nonexistent/ck", &err), CLAR_ERR_IO);
  clar_net_free (net);
  clar_net_free (NULL);
}

static void
test_loss_falls (void)
{
  /* Two synthetic classes of "spectrograms" (energy in the low vs the high
   * bands) with noise; the hybrid loss must fall over 50 steps and the
   * cosine head must separate the classes. */
  enum { N = 8, F = 16, T = 24 };
  clar_net *net = tiny_net (F, 2, 1);
  clar_optim a = clar_adam_default ();
  clar_train_config tc = clar_train_default_config ();
  clar_error err;
  float mel[2 * N * F * T];
  int labels[N];
  double first = 0, last = 0, first_ce = 0, last_ce = 0;
  for (int step = 0; step < 50; step++) {
    clar_train_losses l;
    for (int i = 0; i < N; i++)
      labels[i] = (i + step) % 2;
    for (int v = 0; v < 2 * N; v++)
      for (int f = 0; f < F; f++)
        for (int t = 0; t < T; t++)
          mel[(v * F + f) * T + t] = ((labels[v % N] ? f >= F / 2 : f < F / 2) ? 2.0f : 0.0f)
              + 0.5f * frand ();
    tc.lr = clar_lr_schedule (step, 5, 50, 5e-3f, 1e-4f);
    CHECK_EQ_INT (clar_train_step (net, &a, mel, mel + N * F * T, labels, N, T, &tc, &l, &err),
        CLAR_OK);
    if (step < 5) {
      first += l.total / 5;
      first_ce += l.ce / 5;
    }
    if (step >= 45) {
      last += l.total / 5;
      last_ce += l.ce / 5;
    }
  }
  printf ("  tiny run: hybrid loss %.3f -> %.3f, cross-entropy %.3f -> %.3f (first / last 5 "
      "of 50 steps)\n", first, last, first_ce, last_ce);
  CHECK (last < 0.8 * first);
  CHECK (last_ce < 0.5 * first_ce);
  clar_net_free (net);
}

int
main (void)
{
#ifdef _OPENMP
  omp_set_num_threads (1);
#endif
  CLAR_TEST_RUN (test_conv);
  CLAR_TEST_RUN (test_dwconv);
  CLAR_TEST_RUN (test_batchnorm);
  CLAR_TEST_RUN (test_pointwise_and_pooling);
  CLAR_TEST_RUN (test_linear_and_norm);
  CLAR_TEST_RUN (test_heads);
  CLAR_TEST_RUN (test_whole_network);
  CLAR_TEST_RUN (test_whole_residual_network);
  CLAR_TEST_RUN (test_threads_and_modes);
  CLAR_TEST_RUN (test_export_and_checkpoint);
  CLAR_TEST_RUN (test_init_from_model);
  CLAR_TEST_RUN (test_explicit_batchnorm_export);
  CLAR_TEST_RUN (test_residual_export);
  CLAR_TEST_RUN (test_bad_input);
  CLAR_TEST_RUN (test_loss_falls);
  CLAR_TEST_EXIT ();
}
