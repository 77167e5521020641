/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal: the training-only layer primitives of clar-train, next to the
 * forward primitives of src/layers.h that training and inference share.
 * Each backward function is the adjoint of one forward primitive; each is
 * checked against central finite differences in tests/test-nn-grad.c.
 *
 * Layout: NCHW float32 as in layers.h. Unless stated, gradient outputs named
 * dx are overwritten and parameter gradients (dw, db, dgamma, dbeta) are
 * accumulated (+=), so that a caller can sum gradients over several losses.
 *
 * Parallelism: loops over samples, planes or channels run under OpenMP.
 * Every reduction is done by one thread in a fixed order (the convolution's
 * weight gradient is summed over fixed chunks of samples, in chunk order),
 * so results are bit-identical for any number of threads.
 */
#ifndef CLAR_TRAIN_BACKWARD_H
#define CLAR_TRAIN_BACKWARD_H

#include <stddef.h>
#include <stdint.h>

/* How a convolution multiplies a chunk of samples (measured in bench numbers
 * of the final report of the trainer; both give the same values up to float
 * summation order inside SGEMM). */
typedef enum clar_conv_mode {
  /* one SGEMM per sample through clar_conv2d_forward (layers.h) */
  CLAR_CONV_PER_SAMPLE = 0,
  /* im2col of the chunk's samples side by side [C*k*k, n*Ho*Wo], one SGEMM
   * per chunk */
  CLAR_CONV_BATCHED = 1
} clar_conv_mode;

/* Scratch floats that clar_conv2d_train_forward/_backward need for N samples
 * with chunks of `chunk` samples run by n_threads threads. */
size_t clar_conv2d_train_scratch (int N, int C, int H, int W, int O, int k,
                                  int pad, int chunk, int n_threads,
                                  clar_conv_mode mode);

/* y[N,O,Ho,Wo] = conv(x, w) (+ b, nullable), the batch split into chunks of
 * `chunk` samples run by n_threads OpenMP threads (1: in sequence, which
 * leaves the cores to a multi-threaded BLAS inside each SGEMM). With
 * CLAR_CONV_PER_SAMPLE this is exactly clar_conv2d_forward of layers.h
 * applied to each chunk. */
void clar_conv2d_train_forward (const float *x, int N, int C, int H, int W,
                                const float *w, const float *b, int O, int k,
                                int pad, float *y, int chunk,
                                clar_conv_mode mode, int n_threads,
                                float *scratch);

/* Adjoint of the convolution: dw[O,C,k,k] += sum_n dY_n cols_n^T,
 * db[O] += sum dy (nullable), dx = col2im(W^T dY) (nullable, overwritten).
 * Chunk partial sums are added to dw in chunk order (deterministic). */
void clar_conv2d_backward (const float *x, const float *dy, int N, int C,
                           int H, int W, const float *w, int O, int k, int pad,
                           float *dw, float *db, float *dx, int chunk,
                           clar_conv_mode mode, int n_threads, float *scratch);

/* Train-mode batch-norm (Ioffe & Szegedy 2015, Algorithm 1): per channel,
 * mean and biased variance over N x HW, xhat = (x - mean) / sqrt(var + eps),
 * y = gamma * xhat + beta. Writes xhat, y, and per channel mean, var (biased)
 * and inv_std = 1 / sqrt(var + eps). xhat may alias x. Sums in double. */
void clar_batchnorm2d_train_forward (const float *x, int N, int C, int HW,
                                     const float *gamma, const float *beta,
                                     float eps, float *xhat, float *y,
                                     float *mean, float *var, float *inv_std);

/* Backward of the train-mode batch-norm, with m = N*HW:
 *   dbeta += sum dy, dgamma += sum dy*xhat,
 *   dx = gamma * inv_std / m * (m dy - sum dy - xhat * sum dy*xhat)
 * (Ioffe & Szegedy 2015, section 3, simplified). dx nullable. */
void clar_batchnorm2d_backward (const float *dy, const float *xhat,
                                const float *gamma, const float *inv_std,
                                int N, int C, int HW, float *dgamma,
                                float *dbeta, float *dx);

/* In-place ReLU, the expression of clar_relu_forward (layers.h) vectorised
 * and run in parallel. */
void clar_relu_train_forward (float *x, size_t n);

/* dx = dy where the ReLU output y > 0, else 0 (dx may alias dy). */
void clar_relu_backward (const float *y, const float *dy, size_t n, float *dx);

/* dx[N,C,H,W] = 0 except dx[argmax] += dy (argmax from
 * clar_maxpool2d_forward: flat index within the plane). */
void clar_maxpool2d_backward (const float *dy, const int32_t *argmax, int N,
                              int C, int H, int W, int k, float *dx);

/* Average pooling, kernel = stride = k: each input of a window receives
 * dy / k^2; inputs outside every window (floor) receive 0. */
void clar_avgpool2d_backward (const float *dy, int N, int C, int H, int W,
                              int k, float *dx);

/* dx[n,c,:,:] = dy[n,c] / (H*W). */
void clar_global_avg_pool_backward (const float *dy, int N, int C, int H,
                                    int W, float *dx);

/* Adjoint of clar_dwconv2d_forward (layers.h; depthwise, stride s):
 * dw[C,k,k] += sum over n, outputs of dy * x at the tap, db[C] += sum dy
 * (nullable), dx (nullable, overwritten) = the taps' w * dy scattered back.
 * Each channel's sums run over the samples in order on one thread. */
void clar_dwconv2d_backward (const float *x, const float *dy, int N, int C,
                             int H, int W, const float *w, int k, int pad,
                             int s, float *dw, float *db, float *dx);

/* Adjoint of clar_linear_forward (y = x w^T + b): dw[O,n_in] += dy^T x,
 * db[O] += sum_n dy (nullable), dx = dy w (nullable, overwritten). */
void clar_linear_backward (const float *x, const float *dy, int N, int n_in,
                           int O, const float *w, float *dw, float *db,
                           float *dx);

/* y[i] = x[i] / (|x[i]| + 1e-12) per row of D values; norms[i] = |x[i]| +
 * 1e-12 (kept for the backward pass). */
void clar_l2norm_rows (const float *x, int M, int D, float *y, float *norms);

/* dx[i] += (dy[i] - y[i] (y[i] . dy[i])) / norms[i]: the Jacobian of
 * x -> x/|x| is (I - y y^T) / |x|. */
void clar_l2norm_rows_backward (const float *y, const float *norms,
                                const float *dy, int M, int D, float *dx);

#endif
