/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: what clar_stream needs from the front end and the session to
 * compute the log-mel frames that consecutive windows share only once. */
#ifndef CLAR_STREAM_PRIVATE_H
#define CLAR_STREAM_PRIVATE_H

#include <clar/mel.h>
#include <clar/session.h>

/* clar_mel_compute, except that frames [keep0, keep1) of out are left as
 * they are (the caller filled them). Every frame it computes is
 * bit-identical to clar_mel_compute's. */
__attribute__((visibility ("hidden")))
int clar_mel_compute_except (clar_mel *mel, const float *pcm, size_t n_samples, float *out,
                             size_t n_frames, size_t keep0, size_t keep1);

/* The session's front end (owned by the session). */
__attribute__((visibility ("hidden"))) clar_mel *clar_session_mel (clar_session *s);

#endif
