/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal: forward primitives shared by inference (encoder.c) and training
 * (train/). Training and inference run the same forward code; the trainer
 * adds backward passes and train-mode batch-norm on top of these.
 *
 * Layout: activations are NCHW float32, row-major: x[((n*C + c)*H + h)*W + w].
 * For the encoder, H = mel bands (frequency) and W = frames (time).
 * All functions are reentrant; scratch buffers are supplied by the caller.
 */
#ifndef CLAR_LAYERS_H
#define CLAR_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* im2col for a stride-1 k x k convolution with zero padding `pad`:
 * cols[(c*k*k + ki*k + kj) * (Ho*Wo) + (i*Wo + j)] = x[c, i+ki-pad, j+kj-pad]
 * (0 outside), Ho = H + 2*pad - k + 1, Wo likewise. */
void clar_im2col (const float *x, int C, int H, int W, int k, int pad,
                  float *cols);

/* Adjoint of im2col: accumulates cols back into dx (dx must be zeroed by the
 * caller when starting a fresh gradient). */
void clar_col2im (const float *cols, int C, int H, int W, int k, int pad,
                  float *dx);

/* The same with the rows of cols ld floats apart (ld >= Ho*Wo), so that the
 * im2col of several samples can sit side by side for one batched SGEMM. */
void clar_im2col_ld (const float *x, int C, int H, int W, int k, int pad,
                     float *cols, size_t ld);
void clar_col2im_ld (const float *cols, int C, int H, int W, int k, int pad,
                     float *dx, size_t ld);

/* Output spatial size of a stride-1 conv. */
static inline int clar_conv_out (int in, int k, int pad) { return in + 2 * pad - k + 1; }
/* Output size of a conv with stride s (floor, as PyTorch's Conv2d). */
static inline int clar_dwconv_out (int in, int k, int pad, int s)
{ return in + 2 * pad < k ? 0 : (in + 2 * pad - k) / s + 1; }
/* Output size of a pooling layer with kernel = stride = k (floor). */
static inline int clar_pool_out (int in, int k) { return in / k; }

/* y[N,O,Ho,Wo] = conv(x[N,C,H,W], w[O,C,k,k]) + b[O] (b may be NULL).
 * scratch must hold C*k*k*Ho*Wo floats. One cblas_sgemm per sample:
 * Y(O x HoWo) = W(O x Ck^2) * cols(Ck^2 x HoWo). */
void clar_conv2d_forward (const float *x, int N, int C, int H, int W,
                          const float *w, const float *b, int O, int k,
                          int pad, float *y, float *scratch);

/* In-place ReLU over n values. */
void clar_relu_forward (float *x, size_t n);

/* Max pooling, kernel = stride = k. argmax (nullable) receives, for each
 * output, the flat index h*W + w of the chosen input within its channel plane
 * (for the backward pass). */
void clar_maxpool2d_forward (const float *x, int N, int C, int H, int W, int k,
                             float *y, int32_t *argmax);

/* Average pooling, kernel = stride = k. */
void clar_avgpool2d_forward (const float *x, int N, int C, int H, int W, int k,
                             float *y);

/* y[N,C] = mean over H,W of x[N,C,H,W]. */
void clar_global_avg_pool_forward (const float *x, int N, int C, int H, int W,
                                   float *y);

/* Inference batch-norm, in place:
 * x = (x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c]. */
void clar_batchnorm2d_inference (float *x, int N, int C, int HW,
                                 const float *gamma, const float *beta,
                                 const float *mean, const float *var,
                                 float eps);

/* y[N,O] = x[N,n_in] * w[O,n_in]^T + b[O] (b nullable), one cblas_sgemm. */
void clar_linear_forward (const float *x, int N, int n_in, const float *w,
                          const float *b, int O, float *y);

/* ---- residual depthwise-separable blocks (layers-ds.c) ---- */

/* Depthwise convolution (groups = C): y[n,c] = conv(x[n,c], w[c,0]) + b[c]
 * (b nullable), k x k, zero padding pad, stride s; Ho = clar_dwconv_out (H,
 * k, pad, s), Wo likewise. Needs no scratch. */
void clar_dwconv2d_forward (const float *x, int N, int C, int H, int W,
                            const float *w, const float *b, int k, int pad,
                            int s, float *y);
/* The same, then ReLU if relu is non-zero (inference fuses the two). */
void clar_dwconv2d_forward_relu (const float *x, int N, int C, int H, int W,
                                 const float *w, const float *b, int k, int pad, int s,
                                 int relu, float *y);

/* y[i] += x[i] over n values (the residual connection). */
void clar_residual_add_forward (float *y, const float *x, size_t n);

#endif
