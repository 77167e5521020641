/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forward primitives (NCHW float32). Convolution is im2col + one SGEMM per
 * sample (Chellapilla et al. 2006, "High performance convolutional neural
 * networks for document processing"). */
#include <float.h>
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "layers.h"
#include "vecmath.h"

void
clar_im2col (const float *x, int C, int H, int W, int k, int pad, float *cols)
{
  clar_im2col_ld (x, C, H, W, k, pad, cols,
      (size_t) clar_conv_out (H, k, pad) * clar_conv_out (W, k, pad));
}

void
clar_im2col_ld (const float *x, int C, int H, int W, int k, int pad,
                float *cols, size_t plane)
{
  const int Ho = clar_conv_out (H, k, pad), Wo = clar_conv_out (W, k, pad);
  for (int c = 0; c < C; c++) {
    const float *xc = x + (size_t) c * H * W;
    for (int ki = 0; ki < k; ki++) {
      for (int kj = 0; kj < k; kj++) {
        float *dst = cols + ((size_t) (c * k + ki) * k + kj) * plane;
        /* Output columns j whose input column j + kj - pad is inside [0, W). */
        int j0 = pad - kj > 0 ? pad - kj : 0;
        int j1 = W + pad - kj < Wo ? W + pad - kj : Wo;
        if (j1 < j0)
          j1 = j0;
        for (int i = 0; i < Ho; i++) {
          int hi = i + ki - pad;
          float *row = dst + (size_t) i * Wo;
          if (hi < 0 || hi >= H) {
            memset (row, 0, (size_t) Wo * sizeof (float));
            continue;
          }
          const float *src = xc + (size_t) hi * W + (kj - pad);
          for (int j = 0; j < j0; j++)
            row[j] = 0.0f;
          memcpy (row + j0, src + j0, (size_t) (j1 - j0) * sizeof (float));
          for (int j = j1; j < Wo; j++)
            row[j] = 0.0f;
        }
      }
    }
  }
}

void
clar_col2im (const float *cols, int C, int H, int W, int k, int pad, float *dx)
{
  clar_col2im_ld (cols, C, H, W, k, pad, dx,
      (size_t) clar_conv_out (H, k, pad) * clar_conv_out (W, k, pad));
}

void
clar_col2im_ld (const float *cols, int C, int H, int W, int k, int pad,
                float *dx, size_t plane)
{
  const int Ho = clar_conv_out (H, k, pad), Wo = clar_conv_out (W, k, pad);
  for (int c = 0; c < C; c++) {
    float *xc = dx + (size_t) c * H * W;
    for (int ki = 0; ki < k; ki++) {
      for (int kj = 0; kj < k; kj++) {
        const float *src = cols + ((size_t) (c * k + ki) * k + kj) * plane;
        int j0 = pad - kj > 0 ? pad - kj : 0;
        int j1 = W + pad - kj < Wo ? W + pad - kj : Wo;
        for (int i = 0; i < Ho; i++) {
          int hi = i + ki - pad;
          if (hi < 0 || hi >= H)
            continue;
          float *dst = xc + (size_t) hi * W + (kj - pad);
          const float *row = src + (size_t) i * Wo;
          for (int j = j0; j < j1; j++)
            dst[j] += row[j];
        }
      }
    }
  }
}

void
clar_conv2d_forward (const float *x, int N, int C, int H, int W,
                     const float *w, const float *b, int O, int k, int pad,
                     float *y, float *scratch)
{
  const int Ho = clar_conv_out (H, k, pad), Wo = clar_conv_out (W, k, pad);
  const int plane = Ho * Wo, K = C * k * k;
  for (int n = 0; n < N; n++) {
    const float *xn = x + (size_t) n * C * H * W;
    float *yn = y + (size_t) n * O * plane;
    const float *cols;
    float beta = 0.0f;
    if (k == 1 && pad == 0) {
      cols = xn;                        /* 1x1 conv: the input is its own im2col */
    } else {
      clar_im2col (xn, C, H, W, k, pad, scratch);
      cols = scratch;
    }
    if (b) {
      for (int o = 0; o < O; o++)
        for (int i = 0; i < plane; i++)
          yn[(size_t) o * plane + i] = b[o];
      beta = 1.0f;
    }
    /* Y[O x plane] = Wt[O x K] * cols[K x plane] (+ Y holding the bias) */
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, O, plane, K,
        1.0f, w, K, cols, plane, beta, yn, plane);
  }
}

void
clar_relu_forward (float *x, size_t n)
{
  clar_relu_inplace (x, n);
}

void
clar_maxpool2d_forward (const float *x, int N, int C, int H, int W, int k,
                        float *y, int32_t *argmax)
{
  const int Ho = clar_pool_out (H, k), Wo = clar_pool_out (W, k);
  if (k == 2 && !argmax) {
    /* Inference's common case, vectorised. */
    clar_maxpool2x2 (x, (size_t) N * C, (size_t) H, (size_t) W, y);
    return;
  }
  for (size_t p = 0; p < (size_t) N * C; p++) {
    const float *xp = x + p * H * W;
    float *yp = y + p * Ho * Wo;
    int32_t *ap = argmax ? argmax + p * Ho * Wo : NULL;
    for (int i = 0; i < Ho; i++)
      for (int j = 0; j < Wo; j++) {
        int best = (i * k) * W + j * k;
        float m = xp[best];
        for (int di = 0; di < k; di++)
          for (int dj = 0; dj < k; dj++) {
            int idx = (i * k + di) * W + j * k + dj;
            if (xp[idx] > m) {
              m = xp[idx];
              best = idx;
            }
          }
        yp[i * Wo + j] = m;
        if (ap)
          ap[i * Wo + j] = best;
      }
  }
}

void
clar_avgpool2d_forward (const float *x, int N, int C, int H, int W, int k,
                        float *y)
{
  const int Ho = clar_pool_out (H, k), Wo = clar_pool_out (W, k);
  const float inv = 1.0f / (float) (k * k);
  for (size_t p = 0; p < (size_t) N * C; p++) {
    const float *xp = x + p * H * W;
    float *yp = y + p * Ho * Wo;
    for (int i = 0; i < Ho; i++)
      for (int j = 0; j < Wo; j++) {
        float s = 0.0f;
        for (int di = 0; di < k; di++)
          for (int dj = 0; dj < k; dj++)
            s += xp[(i * k + di) * W + j * k + dj];
        yp[i * Wo + j] = s * inv;
      }
  }
}

void
clar_global_avg_pool_forward (const float *x, int N, int C, int H, int W,
                              float *y)
{
  const size_t hw = (size_t) H * W;
  for (size_t p = 0; p < (size_t) N * C; p++) {
    const float *xp = x + p * hw;
    double s = 0.0;
    for (size_t i = 0; i < hw; i++)
      s += xp[i];
    y[p] = (float) (s / (double) hw);
  }
}

void
clar_batchnorm2d_inference (float *x, int N, int C, int HW, const float *gamma,
                            const float *beta, const float *mean,
                            const float *var, float eps)
{
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) {
      float *xp = x + ((size_t) n * C + c) * HW;
      const float scale = gamma[c] / sqrtf (var[c] + eps);
      const float shift = beta[c] - mean[c] * scale;
      for (int i = 0; i < HW; i++)
        xp[i] = xp[i] * scale + shift;
    }
}

void
clar_linear_forward (const float *x, int N, int n_in, const float *w,
                     const float *b, int O, float *y)
{
  float beta = 0.0f;
  if (b) {
    for (int n = 0; n < N; n++)
      memcpy (y + (size_t) n * O, b, (size_t) O * sizeof (float));
    beta = 1.0f;
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, N, O, n_in, 1.0f, x, n_in,
      w, n_in, beta, y, O);
}
