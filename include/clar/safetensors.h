/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/safetensors.h — read and write the safetensors container used for
 * model and label files.
 *
 * Layout (https://github.com/huggingface/safetensors): 8-byte little-endian
 * unsigned header length N, then N bytes of UTF-8 JSON, then the raw tensor
 * bytes. The JSON object maps tensor names to
 * {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} (offsets
 * relative to the end of the header) and may hold "__metadata__", an object of
 * string -> string. libclar stores structured metadata (architecture, label
 * names) as JSON text inside those strings, so the files stay loadable by the
 * reference `safetensors` Python package; Python reads them with:
 *
 *   n = int.from_bytes(f.read(8), "little"); hdr = json.loads(f.read(n))
 *
 * The parser is written for hostile input: every length and offset is checked
 * before use, tensors must lie inside the file, must not overlap, and their
 * byte size must equal prod(shape) * sizeof(dtype). Only F32 tensors are
 * accepted (others give CLAR_ERR_UNSUPPORTED). Header size is capped at
 * CLAR_ST_MAX_HEADER bytes and rank at CLAR_ST_MAX_DIMS.
 *
 * Threading: a parsed clar_st_file is immutable and may be read from any
 * number of threads. A writer belongs to one thread.
 */
#ifndef CLAR_SAFETENSORS_H
#define CLAR_SAFETENSORS_H

#include <stdint.h>
#include <clar/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLAR_ST_MAX_HEADER (16u * 1024u * 1024u)
#define CLAR_ST_MAX_DIMS 8

typedef struct clar_st_tensor {
  const char *name;
  size_t ndim;
  size_t shape[CLAR_ST_MAX_DIMS];
  size_t n_elements;      /* product of shape (1 for rank 0) */
  const float *data;      /* points into the clar_st_file's buffer; aligned */
} clar_st_tensor;

typedef struct clar_st_file clar_st_file;

/* Parses a whole file image (copied; the caller keeps `data`). */
CLAR_API int clar_st_parse (const void *data, size_t size, clar_st_file **out,
                            clar_error *err);

/* Reads and parses a file. */
CLAR_API int clar_st_read_file (const char *path, clar_st_file **out,
                                clar_error *err);

/* NULL-safe. */
CLAR_API void clar_st_free (clar_st_file *file);

CLAR_API size_t clar_st_n_tensors (const clar_st_file *file);

/* i-th tensor in file order (by data offset); NULL if out of range. */
CLAR_API const clar_st_tensor *clar_st_tensor_at (const clar_st_file *file,
                                                  size_t i);

/* Tensor by name, NULL if absent. */
CLAR_API const clar_st_tensor *clar_st_find (const clar_st_file *file,
                                             const char *name);

/* __metadata__ value for key, NULL if absent. */
CLAR_API const char *clar_st_metadata (const clar_st_file *file,
                                       const char *key);

CLAR_API size_t clar_st_n_metadata (const clar_st_file *file);
/* i-th metadata pair; returns CLAR_ERR_INVALID_ARGUMENT if out of range. */
CLAR_API int clar_st_metadata_at (const clar_st_file *file, size_t i,
                                  const char **key, const char **value);

/* ---- writer ---- */
typedef struct clar_st_writer clar_st_writer;

CLAR_API clar_st_writer *clar_st_writer_new (void);
/* NULL-safe. */
CLAR_API void clar_st_writer_free (clar_st_writer *w);

/* Sets (or replaces) a metadata string; both are copied. */
CLAR_API int clar_st_writer_set_metadata (clar_st_writer *w, const char *key,
                                          const char *value);

/* Adds an F32 tensor; name, shape and data are copied. Duplicate names give
 * CLAR_ERR_INVALID_ARGUMENT. */
CLAR_API int clar_st_writer_add (clar_st_writer *w, const char *name,
                                 const size_t *shape, size_t ndim,
                                 const float *data);

/* Serialises to a malloc'd buffer (free() it). */
CLAR_API int clar_st_writer_to_memory (const clar_st_writer *w, void **data,
                                       size_t *size, clar_error *err);

/* Writes path atomically (temporary file in the same folder + rename). */
CLAR_API int clar_st_writer_save (const clar_st_writer *w, const char *path,
                                  clar_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CLAR_SAFETENSORS_H */
