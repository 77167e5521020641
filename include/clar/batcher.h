/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/batcher.h — many streams, one encoder call: windows that streams of
 * one model complete at about the same time, in different threads, are
 * encoded together (clar_session_encode_batch), so that one thread runs
 * the encoder for all of them.
 *
 * Opt-in: a stream uses a batcher after clar_stream_set_batcher. A window's
 * log-mel is computed by its own stream; clar_batcher_encode adds it to the
 * open batch and blocks until the batch has been encoded, by whichever of
 * the waiting threads closes it (no thread of its own). A batch closes when
 *   - it holds max_batch windows, or
 *   - it holds a window of every member (clar_batcher_join): a member
 *     waiting on its result cannot add another, so nothing more can come, or
 *   - the first window in it has waited max_wait_ns (that window's own
 *     bound; clar_stream_set_batcher keeps it at most one hop),
 * so batching adds at most max_wait_ns to a window's latency; the wait is
 * reported with each window (clar_batcher_encode's wait_ns,
 * clar_window_result.batch_wait_ns). A lone member is never kept waiting.
 * Windows of another length than the open batch's are encoded alone.
 *
 * Each member must submit from its own thread: two members served by one
 * thread (e.g. two streams computed in turn) cannot be in one batch, and
 * each of their windows waits max_wait_ns for the other.
 *
 *   clar_batcher *b = clar_batcher_new (model, 16, &err);
 *   // per stream, in its own thread:
 *   clar_stream_set_batcher (st, b, 10 * 1000000);   // joins b
 *   ... clar_stream_compute (st, &r) as usual: r.batch_size, r.batch_wait_ns
 *   clar_stream_set_batcher (st, NULL, 0);            // leaves b
 *   clar_batcher_unref (b);
 *
 * Results are those of clar_session_encode on each window alone
 * (bit-identical with libclar's own kernels, within rounding on the BLAS
 * path; test-batcher).
 *
 * Threading: every function is thread-safe (one mutex per batcher; the
 * encoder runs outside it). The model is shared read-only.
 */
#ifndef CLAR_BATCHER_H
#define CLAR_BATCHER_H

#include <stdint.h>
#include <clar/common.h>
#include <clar/model.h>
#include <clar/session.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clar_batcher clar_batcher;

/* Largest max_batch (CLAR_SESSION_MAX_BATCH). */
#define CLAR_BATCHER_MAX_BATCH CLAR_SESSION_MAX_BATCH

/* Longest wait clar_batcher_encode accepts (longer ones are cut to it). */
#define CLAR_BATCHER_MAX_WAIT_NS ((uint64_t) 60 * 1000000000u)

/* A batcher for windows of `model` (referenced), at most max_batch (1 ..
 * CLAR_BATCHER_MAX_BATCH) windows per encoder call. NULL on error. */
CLAR_API clar_batcher *clar_batcher_new (clar_model *model, size_t max_batch, clar_error *err);
CLAR_API clar_batcher *clar_batcher_ref (clar_batcher *b);
/* NULL-safe; the last reference frees it (no member may be waiting). */
CLAR_API void clar_batcher_unref (clar_batcher *b);

CLAR_API clar_model *clar_batcher_get_model (const clar_batcher *b);
CLAR_API size_t clar_batcher_max_batch (const clar_batcher *b);

/* Members: the streams that submit windows (clar_stream_set_batcher joins
 * and leaves for its stream). A batch holding a window of every member
 * closes at once. */
CLAR_API void clar_batcher_join (clar_batcher *b);
CLAR_API void clar_batcher_leave (clar_batcher *b);

/* Encodes mel[n_mels][n_frames] into embedding[embedding_dim] (as
 * clar_session_encode) in a batch with other members' windows; blocks
 * until done, at most max_wait_ns plus the batch's encoder time when the
 * batch does not fill. batch_size (nullable) receives the number of
 * windows in the encoder call, wait_ns (nullable) the time from the call
 * to the start of the encoder call. CLAR_ERR_NONFINITE when mel holds
 * NaN/Inf (only this window fails), CLAR_ERR_INVALID_ARGUMENT on NULL
 * arguments, else the encoder's status. */
CLAR_API int clar_batcher_encode (clar_batcher *b, const float *mel, size_t n_frames,
                                  uint64_t max_wait_ns, float *embedding, size_t *batch_size,
                                  uint64_t *wait_ns);

/* Encoder calls and windows encoded since creation (each nullable). */
CLAR_API void clar_batcher_stats (clar_batcher *b, uint64_t *calls, uint64_t *windows);

#ifdef __cplusplus
}
#endif
#endif /* CLAR_BATCHER_H */
