/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where the encoder's time goes, per convolution layer (with its fused ReLU
 * and 2x2 pooling, as the encoder runs it), at batch 1 on the active
 * kernel: the figure behind the decision on reusing the convolution
 * activations of overlapping windows (bench/README.md, "Compute once per
 * hop"). Each layer's cost is the smallest thread CPU time of 400 calls
 * (robust on a loaded machine); FLOPs as clar_model_flops counts them.
 *
 *   bench-layers MODEL
 *
 * Prints "conv NAME C H W O ms gflops share" per layer, then the encoder's
 * whole forward by the same measure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clar/clar.h>
#include "bench-util.h"
#include "convkernel.h"
#include "layers.h"
#include "model-private.h"

/* Buffers at a cache-line boundary, as the session's activations
 * (clar_alloc_floats_aligned), so that each layer is timed as the encoder
 * runs it. */
static float *
floats64 (size_t bytes)
{
  void *p = NULL;
  if (posix_memalign (&p, 64, bytes ? bytes : 1))
    abort ();
  return p;
}

int
main (int argc, char **argv)
{
  clar_error err;
  clar_model *model = NULL;
  clar_shape in, *sh;
  clar_session *s;
  clar_kernel_kind k = clar_kernel_active ();
  double total = 0, dw_total = 0, whole = 1e30, ms[64] = { 0 };
  size_t T, nconv = 0;
  float *mel, *emb;
  if (argc < 2) {
    fprintf (stderr, "usage: %s MODEL\n", argv[0]);
    return 2;
  }
  if (clar_model_load_file (argv[1], &model, &err) != CLAR_OK) {
    fprintf (stderr, "%s: %s\n", argv[1], err.message);
    return 1;
  }
  if (k == CLAR_KERNEL_BLAS) {
    printf ("kernel blas: no direct kernel on this CPU, nothing to time\n");
    return 0;
  }
  s = clar_session_new (model, &err);
  T = clar_session_n_frames (s, model->info.window_samples);
  in.c = 1;
  in.h = model->info.mel.n_mels;
  in.w = (int) T;
  in.flat = 0;
  sh = calloc (model->n_layers, sizeof *sh);
  clar_layers_infer_shapes (model->layers, model->n_layers, in, sh);
  printf ("kernel %s, %zu frames\n", clar_kernel_name (k), T);
  for (size_t i = 0; i < model->n_layers && nconv < 64; i++) {
    const clar_layer *l = &model->layers[i];
    const clar_shape *p = i ? &sh[i - 1] : &in;
    int relu = 0, pool = 0;
    size_t nx, need;
    float *x, *y, *scratch;
    double best = 1e30, fl;
    if (l->op == CLAR_OP_DWCONV2D) {
      /* Depthwise layers: timed too, not counted as convolutions. */
      const int Ho = (p->h + 2 * l->pad - l->kernel) / l->stride + 1;
      const int Wo = (p->w + 2 * l->pad - l->kernel) / l->stride + 1;
      nx = (size_t) p->c * p->h * p->w;
      x = floats64 (nx * sizeof (float));
      y = floats64 ((size_t) p->c * Ho * Wo * sizeof (float));
      for (size_t j = 0; j < nx; j++)
        x[j] = (float) ((j * 2654435761u) % 1000) / 1000.0f - 0.5f;
      for (int r = 0; r < 400; r++) {
        double t0 = bench_thread_cpu ();
        clar_dwconv2d_forward (x, 1, p->c, p->h, p->w, l->weight, l->bias, l->kernel, l->pad,
            l->stride, y);
        t0 = bench_thread_cpu () - t0;
        if (t0 < best)
          best = t0;
      }
      dw_total += best * 1e3;
      printf ("dw %s in %dx%dx%d stride %d: %.4f ms\n", l->name, p->c, p->h, p->w, l->stride,
          best * 1e3);
      free (x);
      free (y);
      continue;
    }
    if (l->op != CLAR_OP_CONV2D || l->stride > 1)
      continue;
    relu = i + 1 < model->n_layers && model->layers[i + 1].op == CLAR_OP_RELU;
    pool = relu && i + 2 < model->n_layers && model->layers[i + 2].op == CLAR_OP_MAXPOOL2D
        && model->layers[i + 2].kernel == 2;
    nx = (size_t) p->c * p->h * p->w;
    need = clar_conv2d_direct_scratch (1, p->c, p->h, p->w, l->out, l->kernel, l->pad);
    x = floats64 (nx * sizeof (float));
    y = floats64 ((size_t) l->out * (p->h + 2) * (p->w + 2) * sizeof (float));
    scratch = floats64 (need * sizeof (float));
    for (size_t j = 0; j < nx; j++)
      x[j] = (float) ((j * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (int r = 0; r < 400; r++) {
      double t0 = bench_thread_cpu ();
      clar_conv2d_direct (k, x, 1, p->c, p->h, p->w, l->weight, l->bias, l->out, l->kernel,
          l->pad, relu, pool, y, scratch);
      t0 = bench_thread_cpu () - t0;
      if (t0 < best)
        best = t0;
    }
    fl = 2.0 * l->out * p->c * l->kernel * l->kernel
        * (double) (p->h + 2 * l->pad - l->kernel + 1) * (p->w + 2 * l->pad - l->kernel + 1);
    ms[nconv] = best * 1e3;
    total += best * 1e3;
    printf ("conv %s in %dx%dx%d out %d: %.4f ms, %.1f GFLOP/s\n", l->name, p->c, p->h, p->w,
        l->out, best * 1e3, fl / best * 1e-9);
    nconv++;
    free (x);
    free (y);
    free (scratch);
  }
  mel = calloc ((size_t) in.h * T, sizeof (float));
  emb = malloc (model->info.embedding_dim * sizeof (float));
  for (int r = 0; r < 400; r++) {
    double t0 = bench_thread_cpu ();
    clar_session_encode (s, mel, T, emb);
    t0 = bench_thread_cpu () - t0;
    if (t0 < whole)
      whole = t0;
  }
  for (size_t i = 0; i < nconv; i++)
    printf ("conv_share %zu %.3f\n", i + 1, ms[i] / (whole * 1e3));
  printf ("conv_total_ms %.4f\n", total);
  if (dw_total > 0)
    printf ("dw_total_ms %.4f\n", dw_total);
  printf ("encoder_ms %.4f\n", whole * 1e3);
  free (mel);
  free (emb);
  free (sh);
  clar_session_free (s);
  clar_model_unref (model);
  return 0;
}
