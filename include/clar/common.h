/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/common.h — export macro, status codes and the error record shared by
 * every libclar call.
 *
 * Convention: every function that can fail returns an int status: 0 (CLAR_OK)
 * on success, a negative clar_status otherwise. Functions that create objects
 * take an optional `clar_error *` that receives the code plus a one-line,
 * human-readable message naming exactly what was wrong (which tensor, which
 * metadata key, which byte offset). Passing NULL is allowed everywhere.
 *
 * Threading: clar_strerror() and clar_version_string() are thread-safe.
 */
#ifndef CLAR_COMMON_H
#define CLAR_COMMON_H

#include <stddef.h>

#if defined(_WIN32)
#  if defined(CLAR_BUILDING_LIB)
#    define CLAR_API __declspec(dllexport)
#  else
#    define CLAR_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define CLAR_API __attribute__((visibility("default")))
#else
#  define CLAR_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum clar_status {
  CLAR_OK = 0,
  CLAR_ERR_INVALID_ARGUMENT = -1,   /* NULL pointer, zero/oversized size, bad parameter */
  CLAR_ERR_NO_MEMORY = -2,
  CLAR_ERR_IO = -3,                 /* open/read/write failed (errno in the message) */
  CLAR_ERR_TRUNCATED = -4,          /* file ends before what its header announces */
  CLAR_ERR_BAD_HEADER = -5,         /* header length or JSON syntax invalid */
  CLAR_ERR_BAD_METADATA = -6,       /* a __metadata__ key missing or out of range */
  CLAR_ERR_BAD_TENSOR = -7,         /* dtype, shape or data offsets invalid */
  CLAR_ERR_MISSING_TENSOR = -8,     /* a tensor the architecture needs is absent */
  CLAR_ERR_UNSUPPORTED = -9,        /* unknown format version, op or dtype */
  CLAR_ERR_INPUT_TOO_SHORT = -10,   /* fewer samples/frames than the model needs */
  CLAR_ERR_NONFINITE = -11,         /* NaN or Inf in the input samples */
  CLAR_ERR_FFT = -12,               /* FFTW could not create a plan */
  CLAR_ERR_DIMENSION_MISMATCH = -13,/* e.g. label vectors vs embedding size */
  CLAR_ERR_ENCODER_MISMATCH = -14   /* labels/text tower made with another encoder */
} clar_status;

/* Longest message clar_error can hold, including the terminating NUL. */
#define CLAR_ERROR_MESSAGE_SIZE 256

typedef struct clar_error {
  int code;                                 /* a clar_status */
  char message[CLAR_ERROR_MESSAGE_SIZE];    /* never NULL-terminated-less */
} clar_error;

/* Static English description of a status code; never NULL. */
CLAR_API const char *clar_strerror (int status);

/* The library's version at run time, e.g. "0.1.0". */
CLAR_API const char *clar_version_string (void);

#ifdef __cplusplus
}
#endif
#endif /* CLAR_COMMON_H */
