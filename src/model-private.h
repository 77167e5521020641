/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: the parsed layer list of a model, shared by model.c, encoder.c
 * and the trainer. */
#ifndef CLAR_MODEL_PRIVATE_H
#define CLAR_MODEL_PRIVATE_H

#include <clar/model.h>

typedef enum clar_op {
  CLAR_OP_CONV2D,
  CLAR_OP_BATCHNORM2D,
  CLAR_OP_RELU,
  CLAR_OP_MAXPOOL2D,
  CLAR_OP_AVGPOOL2D,
  CLAR_OP_GLOBAL_AVG_POOL,
  CLAR_OP_LINEAR,
  /* Appended for the residual depthwise-separable encoders (dsres): */
  CLAR_OP_DWCONV2D,          /* depthwise conv, one k x k filter per channel */
  CLAR_OP_RESIDUAL_BEGIN,    /* pushes the current activation */
  CLAR_OP_RESIDUAL_ADD       /* pops it and adds it to the current one */
} clar_op;

/* Deepest nesting of residual_begin/residual_add pairs a layer list may use. */
#define CLAR_RESIDUAL_MAX_DEPTH 8

typedef struct clar_layer {
  clar_op op;
  char name[64];        /* conv2d, batchnorm2d, linear; "" otherwise */
  int in, out;          /* channels / features (conv2d, linear); C for bn */
  int kernel, pad;      /* conv2d, dwconv2d; kernel for pooling */
  float eps;            /* batchnorm2d */
  /* Borrowed pointers into the model's tensor storage (NULL when unused). */
  const float *weight, *bias, *running_mean, *running_var;
  int stride;           /* dwconv2d (1 elsewhere) */
} clar_layer;

struct clar_model {
  int refcount;                 /* atomic */
  clar_model_info info;
  clar_st_file *st;             /* owns tensor memory */
  const float *mel_filterbank;  /* into st */
  clar_layer *layers;
  size_t n_layers;
  clar_labels *labels;          /* NULL if none */
  struct clar_text *text;       /* NULL if none (text.h; owned) */
  char *name;
  char fingerprint[CLAR_FINGERPRINT_SIZE];   /* of the encoder (model.h) */
};

/* Offset of the first byte of str[0..n) that is not well-formed UTF-8, or
 * (size_t) -1 when it all is (labels.c). */
size_t clar_utf8_invalid_at (const char *str, size_t n);

/* 1 if fp is a well-formed fingerprint string (labels.h). */
int clar_fingerprint_valid (const char *fp);

/* The encoder fingerprint of the model w would write (serialises w and
 * loads it: the writer must hold a complete model). */
int clar_writer_fingerprint (const clar_st_writer *w,
                             char out[CLAR_FINGERPRINT_SIZE], clar_error *err);

/* Shape of the activation after each layer for a given input, used by the
 * encoder to size its buffers and by the loader to compute min_samples.
 * Returns CLAR_ERR_INPUT_TOO_SHORT if a layer would get an empty input. */
typedef struct clar_shape { int c, h, w; int flat; /* 1 after global pool */ } clar_shape;
int clar_layers_infer_shapes (const clar_layer *layers, size_t n_layers,
                              clar_shape input, clar_shape *shapes /* n_layers */);

/* Parses a clar.architecture JSON array into layers (weights not bound).
 * Caller frees *layers with free(). */
int clar_architecture_parse (const char *json, clar_layer **layers,
                             size_t *n_layers, clar_error *err);

/* The default encoder layer list (JSON for clar.architecture): four
 * conv3x3 blocks (batch-norm folded into the conv bias at export) with 2x2
 * max pooling, global average pooling and a 128-d embedding layer. */
const char *clar_default_architecture (void);

/* A named layer list for clar-train --arch and clar-mkmodel --arch:
 * "cnn4" (the default above) or "dsres" (residual depthwise-separable
 * blocks, see model.c). NULL for an unknown name. */
const char *clar_architecture_by_name (const char *name);
/* The names clar_architecture_by_name accepts, NULL-terminated. */
const char *const *clar_architecture_names (void);

/* Writes every clar.* metadata key of model.h (front end from mel, the
 * layer list, sizes, name/description) and the HTK mel filterbank tensor
 * into w; the caller adds the encoder.* tensors (and optionally a label set
 * via clar_labels_to_writer). Shared by clar-mkmodel, tests and the trainer's
 * export so every writer produces the same keys. */
int clar_model_write_header (clar_st_writer *w, const clar_mel_params *mel,
                             size_t window_samples, size_t hop_samples,
                             size_t embedding_dim, const char *architecture,
                             const char *name, const char *description);

/* Grows *buf (realloc) to hold at least n floats; *cap tracks its size.
 * Returns 0, or -1 when out of memory (the old buffer stays valid). */
int clar_grow_floats (float **buf, size_t *cap, size_t n);
/* Frees *buf and allocates n floats at a 64-byte boundary (a cache line:
 * the AVX-512 kernels' full-vector loads then never straddle two lines when
 * the plane is a multiple of 16 floats; measured 9% on a 1x1 layer of the
 * dsres encoder on the Intel Xeon model 207). Contents are not kept; on
 * failure *buf is NULL and -1 is returned. */
int clar_alloc_floats_aligned (float **buf, size_t n);

/* Sets err (if non-NULL) with printf-style message; returns code. */
/* Reads a whole small text file (at most max_bytes) into a malloc'd,
 * NUL-terminated buffer (*size excludes the terminator): the label,
 * prompt and threshold files. Errors name the path. */
int clar_read_small_file (const char *path, long max_bytes, char **buf, size_t *size,
                          clar_error *err);
int clar_set_error (clar_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4)))
#endif
  ;

#endif
