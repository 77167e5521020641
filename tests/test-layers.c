/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forward primitives and the whole encoder against naive loop references. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <clar/clar.h>
#include "clar-test.h"
#include "convkernel.h"
#include "layers.h"
#include "model-private.h"

static uint32_t rng = 12345;
static float
frand (void)
{
  rng = rng * 1664525u + 1013904223u;
  return (float) (rng >> 8) / 16777216.0f * 2.0f - 1.0f;
}
static float *
randv (size_t n)
{
  float *v = malloc (n * sizeof (float));
  for (size_t i = 0; i < n; i++)
    v[i] = frand ();
  return v;
}

static void
naive_conv (const float *x, int C, int H, int W, const float *w, const float *b,
            int O, int k, int pad, float *y)
{
  int Ho = H + 2 * pad - k + 1, Wo = W + 2 * pad - k + 1;
  for (int o = 0; o < O; o++)
    for (int i = 0; i < Ho; i++)
      for (int j = 0; j < Wo; j++) {
        double s = b ? b[o] : 0;
        for (int c = 0; c < C; c++)
          for (int a = 0; a < k; a++)
            for (int d = 0; d < k; d++) {
              int hi = i + a - pad, wj = j + d - pad;
              if (hi >= 0 && hi < H && wj >= 0 && wj < W)
                s += (double) w[((o * C + c) * k + a) * k + d] * x[(c * H + hi) * W + wj];
            }
        y[(o * Ho + i) * Wo + j] = (float) s;
      }
}

static double
max_rel (const float *a, const float *b, size_t n)
{
  double m = 0, mx = 1e-30;
  for (size_t i = 0; i < n; i++) {
    if (fabs (a[i] - b[i]) > m) m = fabs (a[i] - b[i]);
    if (fabs (b[i]) > mx) mx = fabs (b[i]);
  }
  return m / mx;
}

static void
test_conv (void)
{
  static const int cfg[][6] = {   /* C, H, W, O, k, pad */
    { 1, 64, 101, 16, 3, 1 }, { 3, 7, 5, 4, 3, 0 }, { 2, 9, 13, 3, 5, 2 },
    { 4, 6, 6, 2, 1, 0 }, { 2, 3, 17, 5, 3, 2 },
  };
  for (size_t q = 0; q < sizeof cfg / sizeof cfg[0]; q++) {
    int C = cfg[q][0], H = cfg[q][1], W = cfg[q][2], O = cfg[q][3], k = cfg[q][4], pad = cfg[q][5];
    int Ho = H + 2 * pad - k + 1, Wo = W + 2 * pad - k + 1, N = 2;
    float *x = randv ((size_t) N * C * H * W), *w = randv ((size_t) O * C * k * k), *b = randv ((size_t) O);
    float *y = malloc ((size_t) N * O * Ho * Wo * sizeof (float)), *ref = malloc ((size_t) O * Ho * Wo * sizeof (float));
    float *scratch = malloc ((size_t) C * k * k * Ho * Wo * sizeof (float));
    clar_conv2d_forward (x, N, C, H, W, w, b, O, k, pad, y, scratch);
    for (int n = 0; n < N; n++) {
      naive_conv (x + (size_t) n * C * H * W, C, H, W, w, b, O, k, pad, ref);
      double e = max_rel (y + (size_t) n * O * Ho * Wo, ref, (size_t) O * Ho * Wo);
      CHECK_MSG (e < 1e-5, "conv cfg %zu sample %d: rel err %g", q, n, e);
    }
    free (x); free (w); free (b); free (y); free (ref); free (scratch);
  }
}

/* libclar's own kernels (convkernel.h) against the naive convolution, with
 * and without the fused ReLU, on odd shapes (channel counts not a multiple
 * of the register block, widths not a multiple of the vector, 1x1 and 5x5,
 * no padding, a guard band around the output to catch stray writes). */
static void
test_conv_direct (void)
{
  static const int cfg[][6] = {   /* C, H, W, O, k, pad */
    { 1, 64, 101, 16, 3, 1 }, { 16, 32, 50, 32, 3, 1 }, { 64, 8, 12, 128, 3, 1 },
    { 3, 7, 5, 4, 3, 0 }, { 2, 9, 13, 3, 5, 2 }, { 4, 6, 6, 2, 1, 0 },
    { 2, 3, 17, 5, 3, 2 }, { 5, 1, 1, 9, 1, 0 }, { 7, 4, 40, 13, 3, 1 },
    /* 1x1 over whole tiles (read and written in place): 16 x 2 and 24 x 2. */
    { 8, 4, 8, 24, 1, 0 }, { 16, 2, 24, 20, 1, 0 }, { 32, 16, 25, 64, 1, 0 },
    /* 1x1 over planes that end in a partial tile, read and written in place
     * with masked tails: the dsres encoder's late stages (8 x 13, 4 x 7),
     * and tails of 1 to 47 positions. */
    { 240, 8, 13, 80, 1, 0 }, { 384, 4, 7, 128, 1, 0 }, { 9, 7, 7, 11, 1, 0 },
    { 3, 1, 17, 5, 1, 0 }, { 6, 5, 19, 17, 1, 0 }, { 5, 3, 15, 8, 1, 0 },
  };
  for (int kind = CLAR_KERNEL_AVX2; kind <= CLAR_KERNEL_AVX512; kind++) {
    if (!clar_kernel_supported ((clar_kernel_kind) kind)) {
      printf ("kernel %s: not supported by this CPU, not tested\n",
          clar_kernel_name ((clar_kernel_kind) kind));
      continue;
    }
    for (size_t q = 0; q < sizeof cfg / sizeof cfg[0]; q++) {
      int C = cfg[q][0], H = cfg[q][1], W = cfg[q][2], O = cfg[q][3], k = cfg[q][4], pad = cfg[q][5];
      int Ho = H + 2 * pad - k + 1, Wo = W + 2 * pad - k + 1;
      size_t ny = (size_t) O * Ho * Wo;
      float *x = randv ((size_t) C * H * W), *w = randv ((size_t) O * C * k * k), *b = randv ((size_t) O);
      float *y = malloc ((ny + 32) * sizeof (float)), *ref = malloc (ny * sizeof (float));
      float *scratch = malloc (clar_conv2d_direct_scratch (1, C, H, W, O, k, pad) * sizeof (float));
      naive_conv (x, C, H, W, w, b, O, k, pad, ref);
      for (int relu = 0; relu < 2; relu++) {
        for (size_t i = 0; i < ny + 32; i++)
          y[i] = 12345.0f;
        clar_conv2d_direct ((clar_kernel_kind) kind, x, 1, C, H, W, w, relu ? b : NULL, O, k, pad,
            relu, 0, y, scratch);
        if (relu) {
          for (size_t i = 0; i < ny; i++)
            if (ref[i] < 0) ref[i] = 0;
        } else {
          /* Without a bias: compare against the reference minus it. */
          for (int o = 0; o < O; o++)
            for (int i = 0; i < Ho * Wo; i++)
              y[(size_t) o * Ho * Wo + i] += b[o];
        }
        double e = max_rel (y, ref, ny);
        CHECK_MSG (e < 1e-5, "%s cfg %zu relu %d: rel err %g",
            clar_kernel_name ((clar_kernel_kind) kind), q, relu, e);
        for (size_t i = ny; i < ny + 32; i++)
          CHECK (y[i] == 12345.0f);
      }
      /* With 2x2 max pooling fused (ref holds conv + ReLU now): exactly
       * clar_maxpool2x2 of the unfused output. */
      {
        size_t np = (size_t) O * (Ho / 2) * (Wo / 2);
        float *pref = malloc ((np + 1) * sizeof (float));
        for (size_t i = 0; i < np + 32 && i < ny + 32; i++)
          y[i] = 12345.0f;
        clar_maxpool2d_forward (ref, 1, O, Ho, Wo, 2, pref, NULL);
        clar_conv2d_direct ((clar_kernel_kind) kind, x, 1, C, H, W, w, b, O, k, pad, 1, 1, y,
            scratch);
        double e = max_rel (y, pref, np);
        CHECK_MSG (np == 0 || e < 1e-5, "%s cfg %zu pooled: rel err %g",
            clar_kernel_name ((clar_kernel_kind) kind), q, e);
        CHECK (y[np] == 12345.0f);
        free (pref);
      }
      /* A batch of 3 (the first sample is x, two more random): each
       * sample's output is bit-identical to the call with B = 1, pooled and
       * not, and nothing is written past the batch's output. */
      for (int pool = 0; pool < 2; pool++) {
        const int B = 3;
        size_t nx = (size_t) C * H * W, no = pool ? (size_t) O * (Ho / 2) * (Wo / 2) : ny;
        float *xb = randv (B * nx), *yb = malloc ((B * no + 32) * sizeof (float));
        float *y1 = malloc ((no + 32) * sizeof (float));
        float *sb = malloc (clar_conv2d_direct_scratch (B, C, H, W, O, k, pad) * sizeof (float));
        int same = 1;
        for (size_t i = 0; i < B * no + 32; i++)
          yb[i] = 12345.0f;
        clar_conv2d_direct ((clar_kernel_kind) kind, xb, B, C, H, W, w, b, O, k, pad, 1, pool,
            yb, sb);
        for (int n = 0; n < B; n++) {
          clar_conv2d_direct ((clar_kernel_kind) kind, xb + n * nx, 1, C, H, W, w, b, O, k,
              pad, 1, pool, y1, scratch);
          same &= memcmp (y1, yb + n * no, no * sizeof (float)) == 0;
        }
        CHECK_MSG (same, "%s cfg %zu pool %d: batch of 3 differs from batch 1",
            clar_kernel_name ((clar_kernel_kind) kind), q, pool);
        for (size_t i = B * no; i < B * no + 32; i++)
          CHECK (yb[i] == 12345.0f);
        free (xb); free (yb); free (y1); free (sb);
      }
      free (x); free (w); free (b); free (y); free (ref); free (scratch);
    }
  }
}

/* The 3x3 depthwise convolution (pad 1, stride 1 and 2) on every path
 * (AVX-512 row kernel where supported, the portable code with the kernel
 * forced to blas) against a double-precision naive one, over plane sizes
 * that cover one-column tails, rows shorter and longer than a vector, odd
 * widths at stride 2 and one-row planes, with a guard band after each
 * output plane. */
static void
test_dwconv3x3 (void)
{
  static const int hw[][2] = {
    { 1, 2 }, { 1, 17 }, { 2, 3 }, { 3, 2 }, { 4, 7 }, { 5, 16 }, { 8, 13 }, { 6, 17 },
    { 7, 31 }, { 16, 25 }, { 9, 32 }, { 3, 33 }, { 32, 50 }, { 5, 47 }, { 2, 64 },
  };
  const int C = 3;
  const clar_kernel_kind kinds[] = { CLAR_KERNEL_BLAS, CLAR_KERNEL_AVX2, CLAR_KERNEL_AVX512 };
  for (size_t kk = 0; kk < 3; kk++) {
    clar_kernel_kind prev;
    if (!clar_kernel_supported (kinds[kk])) {
      printf ("dwconv path %s: not supported by this CPU, not tested\n",
          clar_kernel_name (kinds[kk]));
      continue;
    }
    prev = clar_kernel_force (kinds[kk]);
    for (size_t q = 0; q < sizeof hw / sizeof hw[0]; q++)
      for (int st = 1; st <= 2; st++) {
        const int H = hw[q][0], W = hw[q][1];
        const int Ho = (H - 1) / st + 1, Wo = (W - 1) / st + 1;
        const size_t ny = (size_t) C * Ho * Wo;
        float *x = randv ((size_t) C * H * W), *w = randv ((size_t) C * 9), *b = randv (C);
        float *y = malloc ((ny + 16) * sizeof (float)), *ref = malloc (ny * sizeof (float));
        for (int c = 0; c < C; c++)
          for (int i = 0; i < Ho; i++)
            for (int j = 0; j < Wo; j++) {
              double acc = b[c];
              for (int a = 0; a < 3; a++)
                for (int d = 0; d < 3; d++) {
                  const int hi = i * st + a - 1, wj = j * st + d - 1;
                  if (hi >= 0 && hi < H && wj >= 0 && wj < W)
                    acc += (double) w[c * 9 + a * 3 + d] * x[((size_t) c * H + hi) * W + wj];
                }
              ref[((size_t) c * Ho + i) * Wo + j] = (float) acc;
            }
        for (size_t i = 0; i < ny + 16; i++)
          y[i] = 12345.0f;
        clar_dwconv2d_forward (x, 1, C, H, W, w, b, 3, 1, st, y);
        CHECK_MSG (max_rel (y, ref, ny) < 1e-6, "dw %s %dx%d stride %d: rel err %g",
            clar_kernel_name (kinds[kk]), H, W, st, max_rel (y, ref, ny));
        for (size_t i = ny; i < ny + 16; i++)
          CHECK (y[i] == 12345.0f);
        /* With the ReLU fused (the encoder's depthwise + ReLU). */
        clar_dwconv2d_forward_relu (x, 1, C, H, W, w, b, 3, 1, st, 1, y);
        for (size_t i = 0; i < ny; i++)
          if (ref[i] < 0)
            ref[i] = 0;
        CHECK_MSG (max_rel (y, ref, ny) < 1e-6, "dw+relu %s %dx%d stride %d: rel err %g",
            clar_kernel_name (kinds[kk]), H, W, st, max_rel (y, ref, ny));
        for (size_t i = ny; i < ny + 16; i++)
          CHECK (y[i] == 12345.0f);
        free (x); free (w); free (b); free (y); free (ref);
      }
    clar_kernel_force (prev);
  }
}

static void
test_im2col_adjoint (void)
{
  /* <im2col(x), c> == <x, col2im(c)> for random x, c. */
  int C = 3, H = 7, W = 9, k = 3, pad = 1, Ho = H, Wo = W;
  size_t nx = (size_t) C * H * W, nc = (size_t) C * k * k * Ho * Wo;
  float *x = randv (nx), *c = randv (nc), *cols = malloc (nc * sizeof (float)), *dx = calloc (nx, sizeof (float));
  double a = 0, b = 0;
  clar_im2col (x, C, H, W, k, pad, cols);
  clar_col2im (c, C, H, W, k, pad, dx);
  for (size_t i = 0; i < nc; i++) a += (double) cols[i] * c[i];
  for (size_t i = 0; i < nx; i++) b += (double) x[i] * dx[i];
  CHECK_CLOSE (a, b, 1e-4 * fabs (a) + 1e-6);
  free (x); free (c); free (cols); free (dx);
}

static void
test_pools_linear_bn (void)
{
  int N = 2, C = 3, H = 7, W = 9, k = 2, Ho = 3, Wo = 4;
  float *x = randv ((size_t) N * C * H * W), y[2 * 3 * 3 * 4], ya[2 * 3 * 3 * 4], g[6];
  int32_t am[2 * 3 * 3 * 4];
  clar_maxpool2d_forward (x, N, C, H, W, k, y, am);
  clar_avgpool2d_forward (x, N, C, H, W, k, ya);
  for (int p = 0; p < N * C; p++)
    for (int i = 0; i < Ho; i++)
      for (int j = 0; j < Wo; j++) {
        float m = -INFINITY, s = 0;
        for (int a = 0; a < k; a++)
          for (int b = 0; b < k; b++) {
            float v = x[(size_t) p * H * W + (i * k + a) * W + j * k + b];
            if (v > m) m = v;
            s += v;
          }
        int o = (p * Ho + i) * Wo + j;
        CHECK (y[o] == m);
        CHECK (x[(size_t) p * H * W + am[o]] == m);
        CHECK_CLOSE (ya[o], s / 4, 1e-6);
      }
  clar_global_avg_pool_forward (x, N, C, H, W, g);
  for (int p = 0; p < N * C; p++) {
    double s = 0;
    for (int i = 0; i < H * W; i++) s += x[(size_t) p * H * W + i];
    CHECK_CLOSE (g[p], s / (H * W), 1e-6);
  }
  {
    float *w = randv (5 * 6), *b = randv (5), out[2 * 5], *in = randv (2 * 6);
    clar_linear_forward (in, 2, 6, w, b, 5, out);
    for (int n = 0; n < 2; n++)
      for (int o = 0; o < 5; o++) {
        double s = b[o];
        for (int i = 0; i < 6; i++) s += (double) in[n * 6 + i] * w[o * 6 + i];
        CHECK_CLOSE (out[n * 5 + o], s, 1e-5);
      }
    free (w); free (b); free (in);
  }
  {
    float v[4] = { 1, 2, 3, 4 }, gm = 2, bt = 1, mu = 2, var = 4;
    clar_batchnorm2d_inference (v, 1, 1, 4, &gm, &bt, &mu, &var, 0.0f);
    CHECK_CLOSE (v[0], 0.0, 1e-6);   /* (1-2)/2*2+1 */
    CHECK_CLOSE (v[3], 3.0, 1e-6);
  }
  {
    float r[4] = { -1, 0, 2, -0.0f };
    clar_relu_forward (r, 4);
    CHECK (r[0] == 0 && r[2] == 2 && r[3] == 0);
  }
  free (x);
}

/* Whole default encoder: session vs a naive forward written here. */
static void
test_encoder_vs_naive (void)
{
  char path[] = "/tmp/clar-enc-XXXXXX";
  char cmd[512];
  clar_model *m = NULL;
  clar_error err;
  int fd = mkstemp (path);
  close (fd);
  {
    /* Build a random default-architecture model in memory. */
    clar_mel_params mel = clar_mel_default_params ();
    clar_layer *ls; size_t nl;
    clar_st_writer *w = clar_st_writer_new ();
    clar_architecture_parse (clar_default_architecture (), &ls, &nl, NULL);
    clar_model_write_header (w, &mel, 16000, 8000, 128, clar_default_architecture (), "t", NULL);
    for (size_t i = 0; i < nl; i++) {
      if (ls[i].op != CLAR_OP_CONV2D && ls[i].op != CLAR_OP_LINEAR) continue;
      int k = ls[i].op == CLAR_OP_CONV2D ? ls[i].kernel : 1;
      size_t sh[4] = { (size_t) ls[i].out, (size_t) ls[i].in, (size_t) k, (size_t) k };
      size_t n = sh[0] * sh[1] * k * k;
      float *wt = randv (n), *bs = randv (sh[0]);
      for (size_t j = 0; j < n; j++) wt[j] *= (float) sqrt (3.0 / (sh[1] * k * k)) * 1.4f;
      snprintf (cmd, sizeof cmd, "encoder.%s.weight", ls[i].name);
      clar_st_writer_add (w, cmd, sh, ls[i].op == CLAR_OP_CONV2D ? 4 : 2, wt);
      snprintf (cmd, sizeof cmd, "encoder.%s.bias", ls[i].name);
      clar_st_writer_add (w, cmd, sh, 1, bs);
      free (wt); free (bs);
    }
    CHECK_EQ_INT (clar_st_writer_save (w, path, &err), CLAR_OK);
    clar_st_writer_free (w);
    free (ls);
  }
  CHECK_EQ_INT (clar_model_load_file (path, &m, &err), CLAR_OK);
  unlink (path);
  if (!m) return;
  {
    const size_t Ts[] = { 101, 40, 17, 333 };
    clar_session *s = clar_session_new (m, &err), *s2 = clar_session_new (m, &err);
    for (size_t q = 0; q < 4; q++) {
      size_t T = Ts[q];
      float *mel = randv (64 * T), out[128], out2[128], ref[128];
      for (size_t i = 0; i < 64 * T; i++) mel[i] = mel[i] * 4 - 6;
      CHECK_EQ_INT (clar_session_encode_raw (s, mel, T, out), CLAR_OK);
      /* Every kernel this CPU has gives the same embedding within 1e-5 (the
       * active one is checked against the naive forward below). */
      {
        clar_kernel_kind active = clar_kernel_active ();
        for (int kind = CLAR_KERNEL_BLAS; kind <= CLAR_KERNEL_AVX512; kind++) {
          float o2[128];
          if (!clar_kernel_supported ((clar_kernel_kind) kind))
            continue;
          clar_kernel_force ((clar_kernel_kind) kind);
          CHECK_EQ_INT (clar_session_encode_raw (s2, mel, T, o2), CLAR_OK);
          double ek = max_rel (o2, out, 128);
          CHECK_MSG (ek < 1e-5, "kernel %s vs %s, %zu frames: %g",
              clar_kernel_name ((clar_kernel_kind) kind), clar_kernel_name (active), T, ek);
          if (q == 0)
            printf ("encoder, kernel %s vs %s: relative difference %.3g\n",
                clar_kernel_name ((clar_kernel_kind) kind), clar_kernel_name (active), ek);
        }
        clar_kernel_force (active);
      }
      /* Naive forward through the layer list. */
      {
        int C = 1, H = 64, W = (int) T;
        float *a = malloc (64 * T * sizeof (float));
        memcpy (a, mel, 64 * T * sizeof (float));
        for (size_t i = 0; i < m->n_layers; i++) {
          const clar_layer *l = &m->layers[i];
          if (l->op == CLAR_OP_CONV2D) {
            int Ho = H + 2 * l->pad - l->kernel + 1, Wo = W + 2 * l->pad - l->kernel + 1;
            float *y = malloc ((size_t) l->out * Ho * Wo * sizeof (float));
            naive_conv (a, C, H, W, l->weight, l->bias, l->out, l->kernel, l->pad, y);
            free (a); a = y; C = l->out; H = Ho; W = Wo;
          } else if (l->op == CLAR_OP_RELU) {
            for (int j = 0; j < C * H * W; j++) a[j] = a[j] > 0 ? a[j] : 0;
          } else if (l->op == CLAR_OP_MAXPOOL2D) {
            int Ho = H / 2, Wo = W / 2;
            float *y = malloc ((size_t) C * Ho * Wo * sizeof (float));
            for (int c = 0; c < C; c++) for (int i2 = 0; i2 < Ho; i2++) for (int j = 0; j < Wo; j++) {
              float mx = -INFINITY;
              for (int u = 0; u < 2; u++) for (int v = 0; v < 2; v++) {
                float z = a[(c * H + 2 * i2 + u) * W + 2 * j + v];
                if (z > mx) mx = z;
              }
              y[(c * Ho + i2) * Wo + j] = mx;
            }
            free (a); a = y; H = Ho; W = Wo;
          } else if (l->op == CLAR_OP_GLOBAL_AVG_POOL) {
            float *y = malloc ((size_t) C * sizeof (float));
            for (int c = 0; c < C; c++) {
              double t = 0;
              for (int j = 0; j < H * W; j++) t += a[c * H * W + j];
              y[c] = (float) (t / (H * W));
            }
            free (a); a = y; H = W = 1;
          } else if (l->op == CLAR_OP_LINEAR) {
            float *y = malloc ((size_t) l->out * sizeof (float));
            for (int o = 0; o < l->out; o++) {
              double t = l->bias[o];
              for (int j = 0; j < l->in; j++) t += (double) l->weight[o * l->in + j] * a[j];
              y[o] = (float) t;
            }
            free (a); a = y; C = l->out;
          }
        }
        memcpy (ref, a, sizeof ref);
        free (a);
      }
      double e = max_rel (out, ref, 128);
      CHECK_MSG (e < 1e-5, "%zu frames: relative error %g", T, e);
      printf ("encoder (kernel %s) vs naive, %zu frames: relative error %.3g\n",
          clar_encoder_kernel (), T, e);
      /* A second session on the same model agrees exactly. */
      CHECK_EQ_INT (clar_session_encode_raw (s2, mel, T, out2), CLAR_OK);
      CHECK (memcmp (out, out2, sizeof out) == 0);
      /* Normalised output has unit norm. */
      CHECK_EQ_INT (clar_session_encode (s, mel, T, out), CLAR_OK);
      double nn = 0;
      for (int i = 0; i < 128; i++) nn += (double) out[i] * out[i];
      CHECK_CLOSE (nn, 1.0, 1e-5);
      mel[5] = NAN;
      CHECK_EQ_INT (clar_session_encode (s, mel, T, out), CLAR_ERR_NONFINITE);
      free (mel);
    }
    {
      float mel[64 * 7], out[128];
      memset (mel, 0, sizeof mel);
      CHECK_EQ_INT (clar_session_encode (s, mel, 7, out), CLAR_ERR_INPUT_TOO_SHORT);
      float pcm[1000] = { 0 };
      CHECK_EQ_INT (clar_session_embed (s, pcm, 1000, out), CLAR_ERR_INPUT_TOO_SHORT);
    }
    clar_session_free (s);
    clar_session_free (s2);
    clar_session_free (NULL);
  }
  clar_model_unref (m);
}

int
main (void)
{
  if (getenv ("CLAR_TEST_EXPECT_FAST_KERNEL")) {
    /* test-layers-generic-blas: OpenBLAS forced to its generic kernel; the
     * encoder must still run libclar's own (and agree with the naive
     * forward, below). */
    clar_blas_report r;
    clar_blas_inspect (&r);
    printf ("BLAS core %s (fallback %d), encoder kernel %s\n", r.core_name, r.is_fallback,
        clar_encoder_kernel ());
    CHECK_MSG (strcmp (clar_encoder_kernel (), "blas") != 0,
        "the encoder runs the BLAS path on a CPU with AVX2+FMA");
#ifdef CLAR_TEST_OPENBLAS
    CHECK (r.is_fallback);
#endif
  }
  CLAR_TEST_RUN (test_conv);
  CLAR_TEST_RUN (test_conv_direct);
  CLAR_TEST_RUN (test_dwconv3x3);
  CLAR_TEST_RUN (test_im2col_adjoint);
  CLAR_TEST_RUN (test_pools_linear_bn);
  CLAR_TEST_RUN (test_encoder_vs_naive);
  CLAR_TEST_EXIT ();
}
