/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <clar/common.h>
#include <clar/version.h>
#include "model-private.h"

const char *
clar_strerror (int status)
{
  switch ((clar_status) status) {
    case CLAR_OK: return "success";
    case CLAR_ERR_INVALID_ARGUMENT: return "invalid argument";
    case CLAR_ERR_NO_MEMORY: return "out of memory";
    case CLAR_ERR_IO: return "input/output error";
    case CLAR_ERR_TRUNCATED: return "file is truncated";
    case CLAR_ERR_BAD_HEADER: return "invalid file header";
    case CLAR_ERR_BAD_METADATA: return "invalid or missing metadata";
    case CLAR_ERR_BAD_TENSOR: return "invalid tensor (dtype, shape or offsets)";
    case CLAR_ERR_MISSING_TENSOR: return "missing tensor";
    case CLAR_ERR_UNSUPPORTED: return "unsupported format version, layer or dtype";
    case CLAR_ERR_INPUT_TOO_SHORT: return "input too short";
    case CLAR_ERR_NONFINITE: return "input contains NaN or Inf";
    case CLAR_ERR_FFT: return "FFT plan creation failed";
    case CLAR_ERR_DIMENSION_MISMATCH: return "dimension mismatch";
    case CLAR_ERR_ENCODER_MISMATCH: return "made with a different encoder";
  }
  return "unknown error";
}

const char *
clar_version_string (void)
{
  return CLAR_VERSION_STRING;
}

int
clar_set_error (clar_error *err, int code, const char *fmt, ...)
{
  if (err) {
    va_list ap;
    err->code = code;
    va_start (ap, fmt);
    vsnprintf (err->message, sizeof err->message, fmt, ap);
    va_end (ap);
  }
  return code;
}

int
clar_grow_floats (float **buf, size_t *cap, size_t n)
{
  float *nb;
  if (n <= *cap)
    return 0;
  nb = realloc (*buf, n * sizeof (float));
  if (!nb)
    return -1;
  *buf = nb;
  *cap = n;
  return 0;
}

int
clar_alloc_floats_aligned (float **buf, size_t n)
{
  void *p = NULL;
  free (*buf);
  *buf = NULL;
  if (n > SIZE_MAX / sizeof (float) || posix_memalign (&p, 64, (n ? n : 1) * sizeof (float)))
    return -1;
  *buf = p;
  return 0;
}

int
clar_read_small_file (const char *path, long max_bytes, char **buf, size_t *size_out,
                      clar_error *err)
{
  FILE *f;
  long size;
  char *b;
  *buf = NULL;
  *size_out = 0;
  f = fopen (path, "rb");
  if (!f)
    return clar_set_error (err, CLAR_ERR_IO, "%.150s: %s", path, strerror (errno));
  if (fseek (f, 0, SEEK_END) || (size = ftell (f)) < 0 || fseek (f, 0, SEEK_SET)) {
    fclose (f);
    return clar_set_error (err, CLAR_ERR_IO, "%.150s: cannot determine its size", path);
  }
  /* These files are short lists; refuse anything absurd before allocating. */
  if (size > max_bytes) {
    fclose (f);
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "%.150s: larger than %ld MiB", path,
        max_bytes / (1024 * 1024));
  }
  b = malloc ((size_t) size + 1);
  if (!b) {
    fclose (f);
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "%.150s: out of memory", path);
  }
  if (fread (b, 1, (size_t) size, f) != (size_t) size) {
    free (b);
    fclose (f);
    return clar_set_error (err, CLAR_ERR_IO, "%.150s: read failed", path);
  }
  fclose (f);
  b[size] = '\0';
  *buf = b;
  *size_out = (size_t) size;
  return CLAR_OK;
}
