/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal: libclar's own convolution kernels for inference, chosen per CPU
 * at run time, so that the encoder is fast whatever BLAS kernel the system
 * library picked (Debian 12's OpenBLAS 0.3.21 runs its generic SSE3 kernel
 * on CPUs newer than itself).
 *
 * A stride-1 k x k convolution with zero padding p is computed directly
 * from a zero-padded copy of the input (C x Hp x Wp, Hp = H + 2p,
 * Wp = W + 2p), flattened: output row i, column j of channel o is
 *
 *   y[o][i*Wp + j] = b[o] + sum_{c,ki,kj} w[o][c][ki][kj] xpad[c][(i+ki)*Wp + j+kj]
 *                  = b[o] + sum_r w[o][r] xpad_flat[off[r] + i*Wp + j],
 *
 * r = (c, ki, kj), off[r] = c*Hp*Wp + ki*Wp + kj: a matrix product whose
 * right-hand rows are contiguous runs of the padded input, so no im2col
 * copy is made (the "shifted input" formulation of direct convolution;
 * e.g. Georganas et al., "Anatomy of High-Performance Deep Learning
 * Convolutions on SIMD Architectures", SC18). Columns j in [Wo, Wp) of each
 * row are computed and dropped. The register-blocked micro-kernel keeps an
 * MR x NR block of outputs in vector registers across the whole sum
 * (Goto & van de Geijn 2008, "Anatomy of high-performance matrix
 * multiplication").
 */
#ifndef CLAR_CONVKERNEL_H
#define CLAR_CONVKERNEL_H

#include <stddef.h>

typedef enum clar_kernel_kind {
  CLAR_KERNEL_BLAS = 0,     /* im2col + the BLAS's SGEMM (layers.c) */
  CLAR_KERNEL_AVX2 = 1,     /* AVX2 + FMA micro-kernel */
  CLAR_KERNEL_AVX512 = 2,   /* AVX-512F micro-kernel */
} clar_kernel_kind;

/* The kernel inference uses: the best the CPU supports, unless the
 * environment variable CLAR_KERNEL (blas, avx2, avx512) asks for another
 * (one the CPU lacks falls back to the best it has). Decided once. */
__attribute__((visibility ("hidden"))) clar_kernel_kind clar_kernel_active (void);
__attribute__((visibility ("hidden"))) const char *clar_kernel_name (clar_kernel_kind k);
/* 1 if this CPU (and build) can run kernel k. */
__attribute__((visibility ("hidden"))) int clar_kernel_supported (clar_kernel_kind k);
/* Tests: makes k the active kernel if supported (not thread-safe against
 * running encoders); returns the previous one. */
__attribute__((visibility ("hidden"))) clar_kernel_kind clar_kernel_force (clar_kernel_kind k);

/* Floats of scratch clar_conv2d_direct needs for a batch of B samples. */
__attribute__((visibility ("hidden")))
size_t clar_conv2d_direct_scratch (int B, int C, int H, int W, int O, int k, int pad);

/* y[B,O,Ho,Wo] = conv(x[B,C,H,W], w[O,C,k,k]) + b (b nullable), then ReLU
 * if relu is non-zero, then, if pool2 is non-zero, 2x2 max pooling (floor
 * mode: y is B x O x Ho/2 x Wo/2), read straight from the kernel's output;
 * kind must be AVX2 or AVX512 (and supported). The B samples are one matrix
 * product (their padded rows side by side); each sample's output is
 * bit-identical to a call with B = 1. */
__attribute__((visibility ("hidden")))
void clar_conv2d_direct (clar_kernel_kind kind, const float *x, int B, int C, int H, int W,
                         const float *w, const float *b, int O, int k, int pad,
                         int relu, int pool2, float *y, float *scratch);

/* 3x3 depthwise convolution of one plane, zero padding 1, stride s (1 or
 * 2), then ReLU if relu is non-zero, y = Ho x Wo. */
typedef void (*clar_dw3x3_plane_fn) (const float *x, int H, int W, const float *w, float bias,
                                     int s, int relu, float *y, int Ho, int Wo);
/* Kernel k's row kernel for it (AVX512 or AVX2; k supported), or NULL for
 * the BLAS kind, whose callers run the portable code of layers-ds.c. Same
 * sums, in the same order, as that code, so within rounding of it. */
__attribute__((visibility ("hidden")))
clar_dw3x3_plane_fn clar_dw3x3_plane_kernel (clar_kernel_kind k);

#endif
