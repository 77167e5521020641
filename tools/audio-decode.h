/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Decodes a whole audio file to mono float samples at a given rate:
 * uridecodebin ! audioconvert ! audioresample !
 * audio/x-raw,format=F32LE,channels=1,rate=R ! appsink.
 * Where GStreamer refuses a file that Debian's audio tools (sox) read, and
 * the build found libsndfile, the file is read with libsndfile instead
 * (headerless .gsm as GSM 6.10 at 8 kHz, as sox does) and converted by
 * appsrc ! audioconvert ! audioresample ! appsink, so both paths mix down
 * and resample the same way.
 * Used by clar-embed and the data tools' loader (dataset.h).
 *
 * Threading: reentrant; gst_init() must have been called.
 */
#ifndef CLAR_AUDIO_DECODE_H
#define CLAR_AUDIO_DECODE_H

#include <math.h>
#include <stddef.h>

/* On success returns 0 and a malloc'd buffer in *pcm (free() it) holding
 * *n_samples samples. On failure returns -1 and a malloc'd message in
 * *error_message (free() it) naming the file and the reason: missing file,
 * not audio, no audio samples, or a decoder error. Gives up after
 * timeout_seconds (<= 0: 600). */
int clar_decode_file (const char *path, int sample_rate, float **pcm,
                      size_t *n_samples, char **error_message,
                      int timeout_seconds);

/* 1 when name ends in an audio extension the decoder reads (.wav, .ogg,
 * .flac, .mp3, .opus, .aiff, .au, .gsm, .caf, ...): the files a folder
 * given to clar-embed or the data tools contributes. */
int clar_is_audio_file_name (const char *name);

/* 1 when the build can fall back to libsndfile. */
int clar_decode_has_sndfile (void);

/* The shortest clip that gives a window: min_fill of a window, rounded up.
 * The one rule for a partial window (a clip's last window, or a short clip's
 * only one) is clar_stream's eos_min_fill (clar/stream.h; by default 0.5 in
 * clarembed and clar-embed's windows, 0.1 in the clip tools, clar-embed
 * --clip and the trainer: CLAR_DATASET_MIN_FILL): a window holding at least
 * that share of a window is zero-padded and embedded. The data tools drop
 * (and count) the clips shorter than this (dataset.h). */
static inline size_t
clar_min_clip_samples (size_t window, double min_fill)
{
  size_t n = (size_t) ceil (min_fill * (double) window - 1e-9);
  return n ? n : 1;
}

#endif
