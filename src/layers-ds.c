/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forward primitives of the residual depthwise-separable blocks (NCHW
 * float32): the depthwise convolution of MobileNets (Howard et al. 2017,
 * "MobileNets: Efficient convolutional neural networks for mobile vision
 * applications", section 3.1) and the residual add of MobileNetV2 (Sandler
 * et al. 2018). The 1x1 convolutions of these blocks are clar_conv2d_forward
 * (layers.c), which multiplies them with one SGEMM and no im2col. */
#include <stddef.h>

#include "layers.h"

/* Output columns j of one filter tap kj whose input column j*s + kj - pad is
 * inside [0, W): j0 <= j < j1. */
static void
tap_range (int W, int Wo, int kj, int pad, int s, int *j0, int *j1)
{
  int lo = pad - kj, hi = W - 1 + pad - kj;     /* j*s in [lo, hi] */
  int a = lo <= 0 ? 0 : (lo + s - 1) / s;
  int b = hi < 0 ? -1 : hi / s;
  if (b > Wo - 1)
    b = Wo - 1;
  *j0 = a;
  *j1 = b + 1 > a ? b + 1 : a;
}

/* One channel plane. The output row stays in L1 while every tap adds a
 * shifted input row into it; with stride 1 the inner loop is a contiguous
 * multiply-add that the compiler vectorises. */
static void
dw_plane (const float *x, int H, int W, const float *w, float bias, int k,
          int pad, int s, float *y, int Ho, int Wo)
{
  for (int i = 0; i < Ho; i++) {
    float *yr = y + (size_t) i * Wo;
    for (int j = 0; j < Wo; j++)
      yr[j] = bias;
    for (int ki = 0; ki < k; ki++) {
      int hi = i * s + ki - pad;
      const float *xr;
      if (hi < 0 || hi >= H)
        continue;
      xr = x + (size_t) hi * W;
      for (int kj = 0; kj < k; kj++) {
        const float wv = w[ki * k + kj];
        const float *xs = xr + kj - pad;
        int j0, j1;
        tap_range (W, Wo, kj, pad, s, &j0, &j1);
        if (s == 1) {
          for (int j = j0; j < j1; j++)
            yr[j] += wv * xs[j];
        } else {
          for (int j = j0; j < j1; j++)
            yr[j] += wv * xs[(size_t) j * s];
        }
      }
    }
  }
}

void
clar_dwconv2d_forward (const float *x, int N, int C, int H, int W,
                       const float *w, const float *b, int k, int pad, int s,
                       float *y)
{
  const int Ho = clar_dwconv_out (H, k, pad, s), Wo = clar_dwconv_out (W, k, pad, s);
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) {
      size_t p = (size_t) n * C + c;
      dw_plane (x + p * H * W, H, W, w + (size_t) c * k * k, b ? b[c] : 0.0f, k, pad, s,
          y + p * Ho * Wo, Ho, Wo);
    }
}

void
clar_residual_add_forward (float *y, const float *x, size_t n)
{
  for (size_t i = 0; i < n; i++)
    y[i] += x[i];
}
