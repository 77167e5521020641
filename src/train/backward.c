/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Training-only layer primitives: train-mode batch-norm, the adjoints of the
 * forward primitives of src/layers.h, and parallel drivers for the forward
 * primitives. See backward.h for the contract of each function. */
#include <math.h>
#include <string.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "layers.h"
#include "backward.h"
#include "threads.h"
#include "vecmath.h"
#include "reduce.h"

/* ---- convolution ---- */

/* Per-thread scratch: cols and dcols, plus (batched) the chunk's output or
 * output gradient in [O, n*Ho*Wo] layout. */
static size_t
conv_thread_floats (int C, int H, int W, int O, int k, int pad, int chunk,
                    clar_conv_mode mode)
{
  size_t plane = (size_t) clar_conv_out (H, k, pad) * clar_conv_out (W, k, pad);
  size_t K2 = (size_t) C * k * k, cs = mode == CLAR_CONV_BATCHED ? (size_t) chunk : 1;
  return 2 * K2 * plane * cs + (mode == CLAR_CONV_BATCHED ? (size_t) O * plane * cs : 0);
}

static int
n_chunks (int N, int chunk)
{
  return (N + chunk - 1) / chunk;
}

size_t
clar_conv2d_train_scratch (int N, int C, int H, int W, int O, int k, int pad,
                           int chunk, int n_threads, clar_conv_mode mode)
{
  size_t per = (size_t) O * C * k * k + (size_t) O;
  if (chunk < 1)
    chunk = 1;
  if (n_threads < 1)
    n_threads = 1;
  return (size_t) n_threads * conv_thread_floats (C, H, W, O, k, pad, chunk, mode)
      + (size_t) n_chunks (N, chunk) * per;
}

void
clar_conv2d_train_forward (const float *x, int N, int C, int H, int W,
                           const float *w, const float *b, int O, int k,
                           int pad, float *y, int chunk, clar_conv_mode mode,
                           int n_threads, float *scratch)
{
  const int Ho = clar_conv_out (H, k, pad), Wo = clar_conv_out (W, k, pad);
  const size_t plane = (size_t) Ho * Wo, chw = (size_t) C * H * W;
  const int K2 = C * k * k, G = n_chunks (N, chunk);
  const size_t thr = conv_thread_floats (C, H, W, O, k, pad, chunk, mode);

#pragma omp parallel for num_threads(n_threads > 0 ? n_threads : 1) schedule(static)
  for (int g = 0; g < G; g++) {
    float *ws = scratch + (size_t) clar_train_thread_id () * thr;
    int n0 = g * chunk, nc = N - n0 < chunk ? N - n0 : chunk;
    if (mode == CLAR_CONV_PER_SAMPLE) {
      /* The inference primitive itself, on this chunk. */
      clar_conv2d_forward (x + (size_t) n0 * chw, nc, C, H, W, w, b, O, k, pad,
          y + (size_t) n0 * O * plane, ws);
    } else {
      size_t ld = (size_t) nc * plane;
      float *cols = ws, *ycat = ws + 2 * (size_t) K2 * plane * chunk;
      float beta = 0.0f;
      for (int n = 0; n < nc; n++)
        clar_im2col_ld (x + (size_t) (n0 + n) * chw, C, H, W, k, pad, cols + n * plane, ld);
      if (b) {
        for (int o = 0; o < O; o++)
          for (size_t i = 0; i < ld; i++)
            ycat[o * ld + i] = b[o];
        beta = 1.0f;
      }
      /* Ycat[O x n*plane] = W[O x K2] cols[K2 x n*plane] */
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, O, (int) ld, K2, 1.0f,
          w, K2, cols, (int) ld, beta, ycat, (int) ld);
      for (int n = 0; n < nc; n++)
        for (int o = 0; o < O; o++)
          memcpy (y + ((size_t) (n0 + n) * O + o) * plane, ycat + o * ld + n * plane,
              plane * sizeof (float));
    }
  }
}

void
clar_conv2d_backward (const float *x, const float *dy, int N, int C, int H,
                      int W, const float *w, int O, int k, int pad, float *dw,
                      float *db, float *dx, int chunk, clar_conv_mode mode,
                      int n_threads, float *scratch)
{
  const int Ho = clar_conv_out (H, k, pad), Wo = clar_conv_out (W, k, pad);
  const size_t plane = (size_t) Ho * Wo, chw = (size_t) C * H * W;
  const int K2 = C * k * k, G = n_chunks (N, chunk);
  const size_t thr = conv_thread_floats (C, H, W, O, k, pad, chunk, mode);
  const size_t per = (size_t) O * K2 + (size_t) O;
  float *parts;
  if (n_threads < 1)
    n_threads = 1;
  parts = scratch + (size_t) n_threads * thr;

#pragma omp parallel for num_threads(n_threads) schedule(static)
  for (int g = 0; g < G; g++) {
    float *ws = scratch + (size_t) clar_train_thread_id () * thr;
    float *pw = parts + (size_t) g * per, *pb = pw + (size_t) O * K2;
    int n0 = g * chunk, nc = N - n0 < chunk ? N - n0 : chunk;
    if (mode == CLAR_CONV_PER_SAMPLE) {
      /* A 1x1 conv without padding is its own im2col, and its dcols is dx:
       * no copies (the same products, so the same bits). */
      const int pointwise = k == 1 && pad == 0;
      float *cols = ws, *dcols = ws + (size_t) K2 * plane;
      memset (pw, 0, per * sizeof (float));
      for (int n = n0; n < n0 + nc; n++) {
        const float *dyn = dy + (size_t) n * O * plane;
        if (pointwise)
          cols = (float *) (x + (size_t) n * chw);
        else
          clar_im2col (x + (size_t) n * chw, C, H, W, k, pad, cols);
        /* dW[O x K2] += dY_n[O x plane] cols_n[K2 x plane]^T */
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, O, K2, (int) plane, 1.0f,
            dyn, (int) plane, cols, (int) plane, 1.0f, pw, K2);
        /* (The bias sums only when a bias gradient is wanted: the trainer's
         * convs have none, and these sums were a tenth of a dsres step.) */
        for (int o = 0; db && o < O; o++)
          pb[o] += (float) clar_sum_f64 (dyn + (size_t) o * plane, plane);
        if (dx && pointwise) {
          cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, K2, (int) plane, O, 1.0f,
              w, K2, dyn, (int) plane, 0.0f, dx + (size_t) n * chw, (int) plane);
        } else if (dx) {
          /* dcols[K2 x plane] = W^T dY_n; dx_n = col2im(dcols) */
          cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, K2, (int) plane, O, 1.0f,
              w, K2, dyn, (int) plane, 0.0f, dcols, (int) plane);
          memset (dx + (size_t) n * chw, 0, chw * sizeof (float));
          clar_col2im (dcols, C, H, W, k, pad, dx + (size_t) n * chw);
        }
      }
    } else {
      size_t ld = (size_t) nc * plane;
      float *cols = ws, *dcols = ws + (size_t) K2 * plane * chunk;
      float *dycat = dcols + (size_t) K2 * plane * chunk;
      for (int n = 0; n < nc; n++) {
        clar_im2col_ld (x + (size_t) (n0 + n) * chw, C, H, W, k, pad, cols + n * plane, ld);
        for (int o = 0; o < O; o++)
          memcpy (dycat + o * ld + n * plane, dy + ((size_t) (n0 + n) * O + o) * plane,
              plane * sizeof (float));
      }
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, O, K2, (int) ld, 1.0f,
          dycat, (int) ld, cols, (int) ld, 0.0f, pw, K2);
      for (int o = 0; o < O; o++)
        pb[o] = db ? (float) clar_sum_f64 (dycat + o * ld, ld) : 0.0f;
      if (dx) {
        cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, K2, (int) ld, O, 1.0f,
            w, K2, dycat, (int) ld, 0.0f, dcols, (int) ld);
        for (int n = 0; n < nc; n++) {
          float *dxn = dx + (size_t) (n0 + n) * chw;
          memset (dxn, 0, chw * sizeof (float));
          clar_col2im_ld (dcols + n * plane, C, H, W, k, pad, dxn, ld);
        }
      }
    }
  }
  /* Chunk partial sums in chunk order: the same bits for any thread count. */
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < (size_t) O * K2; i++) {
    float s = dw[i];
    for (int g = 0; g < G; g++)
      s += parts[(size_t) g * per + i];
    dw[i] = s;
  }
  if (db)
    for (int o = 0; o < O; o++)
      for (int g = 0; g < G; g++)
        db[o] += parts[(size_t) g * per + (size_t) O * K2 + o];
}

/* ---- batch-norm ---- */

void
clar_batchnorm2d_train_forward (const float *x, int N, int C, int HW,
                                const float *gamma, const float *beta,
                                float eps, float *xhat, float *y, float *mean,
                                float *var, float *inv_std)
{
  const double m = (double) N * HW;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; c++) {
    double s = 0, ss = 0, mu, v;
    float inv, fm, g = gamma[c], b = beta[c];
    for (int n = 0; n < N; n++)
      s += clar_sum_f64 (x + ((size_t) n * C + c) * HW, (size_t) HW);
    mu = s / m;
    /* Two passes (mean, then squared deviations) avoid the cancellation of
     * E[x^2] - E[x]^2. */
    for (int n = 0; n < N; n++)
      ss += clar_sumsq_dev_f64 (x + ((size_t) n * C + c) * HW, (size_t) HW, mu);
    v = ss / m;
    inv = (float) (1.0 / sqrt (v + eps));
    fm = (float) mu;
    mean[c] = fm;
    var[c] = (float) v;
    inv_std[c] = inv;
    for (int n = 0; n < N; n++) {
      size_t off = ((size_t) n * C + c) * HW;
      const float *xp = x + off;
      float *xh = xhat + off, *yp = y + off;
#pragma omp simd
      for (int i = 0; i < HW; i++) {
        float t = (xp[i] - fm) * inv;
        xh[i] = t;
        yp[i] = g * t + b;
      }
    }
  }
}

void
clar_batchnorm2d_backward (const float *dy, const float *xhat,
                           const float *gamma, const float *inv_std, int N,
                           int C, int HW, float *dgamma, float *dbeta,
                           float *dx)
{
  const double m = (double) N * HW;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; c++) {
    double sdy = 0, sdyx = 0;
    float a, b1, b2;
    for (int n = 0; n < N; n++) {
      size_t off = ((size_t) n * C + c) * HW;
      double s1, s2;
      /* One pass over dy, not two: a layer's activations do not fit the
       * caches. */
      clar_sum_dot_f64 (dy + off, xhat + off, (size_t) HW, &s1, &s2);
      sdy += s1;
      sdyx += s2;
    }
    dgamma[c] += (float) sdyx;
    dbeta[c] += (float) sdy;
    if (!dx)
      continue;
    /* dx = a * (dy - sdy/m - xhat * sdyx/m), a = gamma * inv_std. */
    a = gamma[c] * inv_std[c];
    b1 = (float) (sdy / m);
    b2 = (float) (sdyx / m);
    for (int n = 0; n < N; n++) {
      size_t off = ((size_t) n * C + c) * HW;
      const float *d = dy + off, *xh = xhat + off;
      float *o = dx + off;
#pragma omp simd
      for (int i = 0; i < HW; i++)
        o[i] = a * (d[i] - b1 - xh[i] * b2);
    }
  }
}

/* ---- element-wise and pooling ---- */

/* Elements per parallel block of the element-wise loops. */
#define BLOCK 16384

/* The expression of clar_relu_forward (layers.h), so values are identical,
 * but vectorised (omp simd): compiled as a branch, as layers.c's loop is at
 * -O2, it mispredicts on half of the random-sign activations and took 16%
 * of a training step (perf, default architecture, 64 views). */
void
clar_relu_train_forward (float *x, size_t n)
{
  const long nb = (long) ((n + BLOCK - 1) / BLOCK);
#pragma omp parallel for schedule(static)
  for (long bi = 0; bi < nb; bi++) {
    long i0 = bi * BLOCK, i1 = (long) n - i0 < BLOCK ? (long) n : i0 + BLOCK;
#pragma omp simd
    for (long i = i0; i < i1; i++)
      x[i] = x[i] > 0.0f ? x[i] : 0.0f;
  }
}

void
clar_relu_backward (const float *y, const float *dy, size_t n, float *dx)
{
  const long nb = (long) ((n + BLOCK - 1) / BLOCK);
#pragma omp parallel for schedule(static)
  for (long bi = 0; bi < nb; bi++) {
    long i0 = bi * BLOCK, i1 = (long) n - i0 < BLOCK ? (long) n : i0 + BLOCK;
#pragma omp simd
    for (long i = i0; i < i1; i++) {
      float g = dy[i];          /* unconditional load: lets it vectorise */
      dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
  }
}

void
clar_maxpool2d_backward (const float *dy, const int32_t *argmax, int N, int C,
                         int H, int W, int k, float *dx)
{
  const size_t pin = (size_t) H * W;
  const size_t pout = (size_t) clar_pool_out (H, k) * clar_pool_out (W, k);
  const long planes = (long) N * C;
#pragma omp parallel for schedule(static)
  for (long p = 0; p < planes; p++) {
    float *d = dx + (size_t) p * pin;
    const float *g = dy + (size_t) p * pout;
    const int32_t *a = argmax + (size_t) p * pout;
    memset (d, 0, pin * sizeof (float));
    for (size_t i = 0; i < pout; i++)
      d[a[i]] += g[i];
  }
}

void
clar_avgpool2d_backward (const float *dy, int N, int C, int H, int W, int k,
                         float *dx)
{
  const int Ho = clar_pool_out (H, k), Wo = clar_pool_out (W, k);
  const float inv = 1.0f / (float) (k * k);
  const long planes = (long) N * C;
#pragma omp parallel for schedule(static)
  for (long p = 0; p < planes; p++) {
    float *d = dx + (size_t) p * H * W;
    const float *g = dy + (size_t) p * Ho * Wo;
    memset (d, 0, (size_t) H * W * sizeof (float));
    for (int i = 0; i < Ho; i++)
      for (int j = 0; j < Wo; j++) {
        float v = g[i * Wo + j] * inv;
        for (int a = 0; a < k; a++)
          for (int b = 0; b < k; b++)
            d[(size_t) (i * k + a) * W + j * k + b] = v;
      }
  }
}

void
clar_global_avg_pool_backward (const float *dy, int N, int C, int H, int W,
                               float *dx)
{
  const size_t hw = (size_t) H * W;
  const long planes = (long) N * C;
#pragma omp parallel for schedule(static)
  for (long p = 0; p < planes; p++) {
    float v = dy[p] / (float) hw;
    for (size_t i = 0; i < hw; i++)
      dx[(size_t) p * hw + i] = v;
  }
}

/* ---- depthwise convolution ---- */

/* Output columns j of tap kj whose input column j*s + kj - pad lies in
 * [0, W): the same range as the forward's (layers-ds.c). */
static void
dw_tap_range (int W, int Wo, int kj, int pad, int s, int *j0, int *j1)
{
  int lo = pad - kj, hi = W - 1 + pad - kj;
  int a = lo <= 0 ? 0 : (lo + s - 1) / s;
  int b = hi < 0 ? -1 : hi / s;
  if (b > Wo - 1)
    b = Wo - 1;
  *j0 = a;
  *j1 = b + 1 > a ? b + 1 : a;
}

/* The weight gradient of a 3x3, pad 1, stride 1 depthwise plane: for tap
 * (a, b), acc += sum over outputs (h, w) of dy[h][w] x[h+a-1][w+b-1]. The
 * plane as one flat dot product per tap (vectorised; AVX-512/AVX2/SSE2
 * clones, vecmath.h) over the outputs whose rows are inside, minus the
 * terms at the first or last column, whose neighbour in the flat array is
 * the other end of the next or previous row. Needs W >= 3. */
CLAR_VEC_HIDDEN void clar_dw3x3_wgrad_plane (const float *x, const float *dy, int H, int W,
                                             double *acc);

CLAR_VEC_CLONES void
clar_dw3x3_wgrad_plane (const float *x, const float *dy, int H, int W, double *acc)
{
  for (int a = 0; a < 3; a++) {
    const int h0 = a == 0 ? 1 : 0, h1 = a == 2 ? H - 1 : H;
    if (h1 <= h0)
      continue;
    for (int b = 0; b < 3; b++) {
      const int jlo = b == 0 ? 1 : 0, jhi = b == 2 ? W - 1 : W;
      const long o = (long) (a - 1) * W + (b - 1);
      const long p0 = (long) h0 * W + jlo, p1 = (long) (h1 - 1) * W + jhi;
      float sum = 0.0f;
      double d;
#pragma omp simd reduction(+:sum)
      for (long q = p0; q < p1; q++)
        sum += dy[q] * x[q + o];
      d = sum;
      if (b == 0)
        for (long h = h0 + 1; h < h1; h++)
          d -= (double) dy[h * W] * x[h * W + o];
      else if (b == 2)
        for (long h = h0; h < h1 - 1; h++)
          d -= (double) dy[h * W + W - 1] * x[h * W + W - 1 + o];
      acc[a * 3 + b] += d;
    }
  }
}

void
clar_dwconv2d_backward (const float *x, const float *dy, int N, int C, int H,
                        int W, const float *w, int k, int pad, int s,
                        float *dw, float *db, float *dx)
{
  const int Ho = clar_dwconv_out (H, k, pad, s), Wo = clar_dwconv_out (W, k, pad, s);
  const size_t pin = (size_t) H * W, pout = (size_t) Ho * Wo;
  /* dsres's stride-1 blocks: flat dot products for dw, and dx as the
   * forward of dy with the kernel turned by 180 degrees (for stride 1 and
   * pad (k-1)/2 the adjoint of a correlation is the correlation with the
   * flipped kernel). */
  const int fast = k == 3 && pad == 1 && s == 1 && W >= 3;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; c++) {
    const float *wc = w + (size_t) c * k * k;
    double acc[15 * 15], bacc = 0;
    float wflip[9];
    for (int q = 0; q < k * k; q++)
      acc[q] = 0;
    if (fast)
      for (int q = 0; q < 9; q++)
        wflip[q] = wc[8 - q];
    for (int n = 0; n < N; n++) {
      const size_t p = (size_t) n * C + c;
      const float *xp = x + p * pin, *gp = dy + p * pout;
      float *dxp = dx ? dx + p * pin : NULL;
      if (db)
        bacc += clar_sum_f64 (gp, pout);
      if (fast) {
        clar_dw3x3_wgrad_plane (xp, gp, H, W, acc);
        if (dxp)
          clar_dwconv2d_forward (gp, 1, 1, H, W, wflip, NULL, 3, 1, 1, dxp);
        continue;
      }
      if (dxp)
        memset (dxp, 0, pin * sizeof (float));
      for (int i = 0; i < Ho; i++) {
        const float *gr = gp + (size_t) i * Wo;
        for (int ki = 0; ki < k; ki++) {
          int hi = i * s + ki - pad;
          if (hi < 0 || hi >= H)
            continue;
          for (int kj = 0; kj < k; kj++) {
            const float *xs = xp + (size_t) hi * W + kj - pad;
            const float wv = wc[ki * k + kj];
            float a = 0.0f;
            int j0, j1;
            dw_tap_range (W, Wo, kj, pad, s, &j0, &j1);
            if (s == 1) {
#pragma omp simd reduction(+:a)
              for (int j = j0; j < j1; j++)
                a += gr[j] * xs[j];
              if (dxp) {
                float *ds = dxp + (size_t) hi * W + kj - pad;
                for (int j = j0; j < j1; j++)
                  ds[j] += wv * gr[j];
              }
            } else {
#pragma omp simd reduction(+:a)
              for (int j = j0; j < j1; j++)
                a += gr[j] * xs[(size_t) j * s];
              if (dxp) {
                float *ds = dxp + (size_t) hi * W + kj - pad;
                for (int j = j0; j < j1; j++)
                  ds[(size_t) j * s] += wv * gr[j];
              }
            }
            acc[ki * k + kj] += a;
          }
        }
      }
    }
    for (int q = 0; q < k * k; q++)
      dw[(size_t) c * k * k + q] += (float) acc[q];
    if (db)
      db[c] += (float) bacc;
  }
}

void
clar_linear_backward (const float *x, const float *dy, int N, int n_in, int O,
                      const float *w, float *dw, float *db, float *dx)
{
  /* dW[O x n_in] += dY^T[O x N] X[N x n_in] */
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, O, n_in, N, 1.0f, dy, O,
      x, n_in, 1.0f, dw, n_in);
  if (db)
    for (int o = 0; o < O; o++) {
      double s = 0;
      for (int n = 0; n < N; n++)
        s += dy[(size_t) n * O + o];
      db[o] += (float) s;
    }
  if (dx)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, N, n_in, O, 1.0f, dy, O,
        w, n_in, 0.0f, dx, n_in);
}

void
clar_l2norm_rows (const float *x, int M, int D, float *y, float *norms)
{
  for (int i = 0; i < M; i++) {
    const float *xi = x + (size_t) i * D;
    double s = sqrt (clar_dot_f64 (xi, xi, (size_t) D)) + 1e-12;
    norms[i] = (float) s;
    for (int d = 0; d < D; d++)
      y[(size_t) i * D + d] = (float) (xi[d] / s);
  }
}

void
clar_l2norm_rows_backward (const float *y, const float *norms, const float *dy,
                           int M, int D, float *dx)
{
  for (int i = 0; i < M; i++) {
    const float *yi = y + (size_t) i * D, *gi = dy + (size_t) i * D;
    double dot = clar_dot_f64 (yi, gi, (size_t) D);
    for (int d = 0; d < D; d++)
      dx[(size_t) i * D + d] += (float) ((gi[d] - yi[d] * dot) / norms[i]);
  }
}
