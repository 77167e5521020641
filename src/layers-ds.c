/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forward primitives of the residual depthwise-separable blocks (NCHW
 * float32): the depthwise convolution of MobileNets (Howard et al. 2017,
 * "MobileNets: Efficient convolutional neural networks for mobile vision
 * applications", section 3.1) and the residual add of MobileNetV2 (Sandler
 * et al. 2018). The 1x1 convolutions of these blocks are clar_conv2d_forward
 * (layers.c), which multiplies them with one SGEMM and no im2col. */
#include <stddef.h>

#include "convkernel.h"
#include "layers.h"
#include "vecmath.h"

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

/* The 3x3, pad 1 case of every dsres block, stride 1 or 2: each output is
 * b + the nine taps in the order of dw_plane (row by row, left to right), so
 * the result is the same bits, but computed in registers in one pass over
 * the output instead of nine read-modify-write passes, and compiled for
 * AVX-512 / AVX2 / SSE2 (vecmath.h). A row above or below the plane is read
 * as the middle row with weights 0 (inputs are finite: 0 * x = 0). */
CLAR_VEC_HIDDEN void clar_dw3x3_plane (const float *x, int H, int W, const float *w,
                                       float bias, int s, float *y, int Ho, int Wo);

/* Outputs j0 <= j < j1 of output row i, zero padding handled per tap. */
static inline __attribute__ ((always_inline)) void
dw3_row (const float *x, int H, int W, const float *w, float bias, int s, float *y,
         int Wo, int i, int j0, int j1)
{
  const int hc = i * s;                        /* input row of the middle tap */
  const float *r1 = x + (size_t) hc * W;
  const float *r0 = hc > 0 ? r1 - W : r1, *r2 = hc + 1 < H ? r1 + W : r1;
  const float z0 = hc > 0 ? 1.0f : 0.0f, z2 = hc + 1 < H ? 1.0f : 0.0f;
  const float a0 = w[0] * z0, a1 = w[1] * z0, a2 = w[2] * z0;
  const float b0 = w[3], b1 = w[4], b2 = w[5];
  const float c0 = w[6] * z2, c1 = w[7] * z2, c2 = w[8] * z2;
  float *restrict yr = y + (size_t) i * Wo;
  /* Columns whose three taps are all inside the row: j*s - 1 >= 0 and
   * j*s + 1 <= W - 1. */
  int j = j0, jin = (W - 2) / s + 1;
  if (jin > j1)
    jin = j1;
  for (; j < j1 && j < 1; j++) {
    /* Left edge: the tap left of column 0 is zero padding. */
    float v = bias;
    const int hasr = 1 < W;
    v += a1 * r0[0];
    if (hasr) v += a2 * r0[1];
    v += b1 * r1[0];
    if (hasr) v += b2 * r1[1];
    v += c1 * r2[0];
    if (hasr) v += c2 * r2[1];
    yr[j] = v;
  }
  if (s == 1) {
    for (; j < jin; j++)
      yr[j] = bias + a0 * r0[j - 1] + a1 * r0[j] + a2 * r0[j + 1]
          + b0 * r1[j - 1] + b1 * r1[j] + b2 * r1[j + 1]
          + c0 * r2[j - 1] + c1 * r2[j] + c2 * r2[j + 1];
  } else {
    for (; j < jin; j++)
      yr[j] = bias + a0 * r0[2 * j - 1] + a1 * r0[2 * j] + a2 * r0[2 * j + 1]
          + b0 * r1[2 * j - 1] + b1 * r1[2 * j] + b2 * r1[2 * j + 1]
          + c0 * r2[2 * j - 1] + c1 * r2[2 * j] + c2 * r2[2 * j + 1];
  }
  for (; j < j1; j++) {
    /* Right edge: the tap right of the last column is zero padding. */
    const int c = j * s;
    yr[j] = bias + a0 * r0[c - 1] + a1 * r0[c] + b0 * r1[c - 1] + b1 * r1[c]
        + c0 * r2[c - 1] + c1 * r2[c];
  }
}

CLAR_VEC_CLONES void
clar_dw3x3_plane (const float *x, int H, int W, const float *w, float bias, int s,
                  float *y, int Ho, int Wo)
{
  if (s == 1 && H >= 3 && W >= 3) {
    /* Stride 1: the plane as one flat array (late dsres stages have rows of
     * 13 or 7 columns, too short for 16-float vectors). Every output from
     * (1, 1) to (H-2, W-2) reads its nine taps at fixed offsets; the flat
     * loop also writes the first and last column of each inner row, with
     * taps wrapped around from the neighbouring row, which the row code
     * then rewrites. */
    const size_t HW = (size_t) H * W, Wz = (size_t) W;
    const float a0 = w[0], a1 = w[1], a2 = w[2], b0 = w[3], b1 = w[4], b2 = w[5];
    const float c0 = w[6], c1 = w[7], c2 = w[8];
    float *restrict yp = y;
    for (size_t p = Wz + 1; p + Wz + 1 < HW; p++)
      yp[p] = bias + a0 * x[p - Wz - 1] + a1 * x[p - Wz] + a2 * x[p - Wz + 1]
          + b0 * x[p - 1] + b1 * x[p] + b2 * x[p + 1]
          + c0 * x[p + Wz - 1] + c1 * x[p + Wz] + c2 * x[p + Wz + 1];
    dw3_row (x, H, W, w, bias, 1, y, Wo, 0, 0, Wo);
    dw3_row (x, H, W, w, bias, 1, y, Wo, H - 1, 0, Wo);
    for (int i = 1; i < H - 1; i++) {
      dw3_row (x, H, W, w, bias, 1, y, Wo, i, 0, 1);
      dw3_row (x, H, W, w, bias, 1, y, Wo, i, W - 1, W);
    }
    return;
  }
  for (int i = 0; i < Ho; i++)
    dw3_row (x, H, W, w, bias, s, y, Wo, i, 0, Wo);
}

void
clar_dwconv2d_forward_relu (const float *x, int N, int C, int H, int W,
                            const float *w, const float *b, int k, int pad, int s,
                            int relu, float *y)
{
  const int Ho = clar_dwconv_out (H, k, pad, s), Wo = clar_dwconv_out (W, k, pad, s);
  const int fast = k == 3 && pad == 1 && (s == 1 || s == 2) && W >= 2;
  /* The AVX-512 (AVX2) row kernel wins at stride 2 and on rows of at most
   * 16 columns; wider stride-1 planes are faster with the flat loop of
   * clar_dw3x3_plane (bench-layers, dsres default encoder, Intel Xeon model
   * 207: b1d, 32 x 50, 0.040 ms flat against 0.069 ms by rows; b9d, 4 x 7,
   * 0.021 against 0.016; with the AVX2 kernels forced on the same core the
   * depthwise layers take 0.31-0.34 ms in all against 0.40). */
  const clar_dw3x3_plane_fn rows = fast && (s == 2 || W <= 16)
      ? clar_dw3x3_plane_kernel (clar_kernel_active ()) : NULL;
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) {
      const size_t p = (size_t) n * C + c;
      float *yp = y + p * Ho * Wo;
      if (rows) {
        rows (x + p * H * W, H, W, w + (size_t) c * 9, b ? b[c] : 0.0f, s, relu, yp, Ho, Wo);
        continue;
      }
      if (fast)
        clar_dw3x3_plane (x + p * H * W, H, W, w + (size_t) c * 9, b ? b[c] : 0.0f, s,
            yp, Ho, Wo);
      else
        dw_plane (x + p * H * W, H, W, w + (size_t) c * k * k, b ? b[c] : 0.0f, k, pad, s,
            yp, Ho, Wo);
      if (relu)
        clar_relu_inplace (yp, (size_t) Ho * Wo);       /* while the plane is in L1 */
    }
}

void
clar_dwconv2d_forward (const float *x, int N, int C, int H, int W,
                       const float *w, const float *b, int k, int pad, int s,
                       float *y)
{
  clar_dwconv2d_forward_relu (x, N, C, H, W, w, b, k, pad, s, 0, y);
}

void
clar_residual_add_forward (float *y, const float *x, size_t n)
{
  for (size_t i = 0; i < n; i++)
    y[i] += x[i];
}
