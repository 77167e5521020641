/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Decodes a whole audio file (any format GStreamer can read) to mono float
 * samples at a given rate: uridecodebin ! audioconvert ! audioresample !
 * audio/x-raw,format=F32LE,channels=1,rate=R ! appsink.
 * Used by clar-embed (and the trainer's data loader).
 *
 * Threading: reentrant; gst_init() must have been called.
 */
#ifndef CLAR_AUDIO_DECODE_H
#define CLAR_AUDIO_DECODE_H

#include <stddef.h>

/* On success returns 0 and a malloc'd buffer in *pcm (free() it) holding
 * *n_samples samples. On failure returns -1 and a malloc'd message in
 * *error_message (free() it) naming the file and the reason: missing file,
 * not audio, no audio samples, or a decoder error. Gives up after
 * timeout_seconds (<= 0: 600). */
int clar_decode_file (const char *path, int sample_rate, float **pcm,
                      size_t *n_samples, char **error_message,
                      int timeout_seconds);

#endif
