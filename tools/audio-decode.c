/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#ifdef CLAR_HAVE_SNDFILE
#include <sndfile.h>
#endif

#include "audio-decode.h"

static int
fail (char **msg, const char *path, const char *why)
{
  if (msg)
    *msg = g_strdup_printf ("%s: %s", path, why);
  return -1;
}

/* What GStreamer (base, good and bad plugins) or libsndfile decodes. */
static const char *audio_ext[] = { ".wav", ".ogg", ".flac", ".mp3", ".opus", ".oga", ".aiff", ".aif",
  ".aifc", ".au", ".snd", ".gsm", ".caf", ".w64", ".voc", ".spx", ".m4a", NULL };

int
clar_is_audio_file_name (const char *name)
{
  const char *dot = strrchr (name, '.');
  if (!dot)
    return 0;
  for (int i = 0; audio_ext[i]; i++)
    if (!g_ascii_strcasecmp (dot, audio_ext[i]))
      return 1;
  return 0;
}

int
clar_decode_has_sndfile (void)
{
#ifdef CLAR_HAVE_SNDFILE
  return 1;
#else
  return 0;
#endif
}

/* Runs pipe (its appsink named "sink") to EOS and collects the F32 samples.
 * src: an appsrc to feed data[bytes] into first, or NULL. */
static int
run_pipeline (GstElement *pipe, GstElement *src, const void *data, size_t bytes,
              GstClockTime duration, const char *path, float **pcm, size_t *n_samples, char **error_message,
              int timeout_seconds)
{
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  GstBus *bus = gst_element_get_bus (pipe);
  GByteArray *acc = g_byte_array_new ();
  GError *gerr = NULL;
  gint64 deadline;
  int rc = 0;

  if (gst_element_set_state (pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (m) {
      gchar *why;
      gst_message_parse_error (m, &gerr, NULL);
      why = g_strdup_printf ("cannot decode: %s", gerr->message);
      rc = fail (error_message, path, why);
      g_free (why);
      g_clear_error (&gerr);
      gst_message_unref (m);
    } else {
      rc = fail (error_message, path, "cannot start decoding");
    }
    goto out;
  }
  if (src) {
    GstBuffer *b = gst_buffer_new_memdup (data, bytes);
    /* Timestamped like a demuxer's output: audioresample drains its filter
     * at EOS only for a timestamped stream (else the last ~10 ms are lost). */
    GST_BUFFER_PTS (b) = 0;
    GST_BUFFER_DURATION (b) = duration;
    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DISCONT);
    gst_app_src_push_buffer (GST_APP_SRC (src), b);
    gst_app_src_end_of_stream (GST_APP_SRC (src));
  }
  deadline = g_get_monotonic_time () + (gint64) (timeout_seconds > 0 ? timeout_seconds : 600) * G_USEC_PER_SEC;
  for (;;) {
    GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 100 * GST_MSECOND);
    if (s) {
      GstBuffer *b = gst_sample_get_buffer (s);
      GstMapInfo map;
      if (gst_buffer_map (b, &map, GST_MAP_READ)) {
        g_byte_array_append (acc, map.data, (guint) map.size);
        gst_buffer_unmap (b, &map);
      }
      gst_sample_unref (s);
      if (acc->len > (guint) 1 << 31) {
        rc = fail (error_message, path, "decoded audio exceeds 2 GiB");
        goto out;
      }
      continue;
    }
    {
      GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
      if (m) {
        gchar *why;
        gst_message_parse_error (m, &gerr, NULL);
        /* decodebin says "missing plugin" / "could not determine type" for non-audio. */
        why = g_strdup_printf ("cannot decode: %s", gerr->message);
        rc = fail (error_message, path, why);
        g_free (why);
        g_clear_error (&gerr);
        gst_message_unref (m);
        goto out;
      }
    }
    if (gst_app_sink_is_eos (GST_APP_SINK (sink)))
      break;
    if (g_get_monotonic_time () > deadline) {
      rc = fail (error_message, path, "decoding timed out");
      goto out;
    }
  }
  if (acc->len < sizeof (float)) {
    rc = fail (error_message, path, "contains no audio samples");
    goto out;
  }
  *n_samples = acc->len / sizeof (float);
  *pcm = malloc (*n_samples * sizeof (float));
  if (!*pcm) {
    *n_samples = 0;
    rc = fail (error_message, path, "out of memory");
    goto out;
  }
  memcpy (*pcm, acc->data, *n_samples * sizeof (float));

out:
  gst_element_set_state (pipe, GST_STATE_NULL);
  g_byte_array_unref (acc);
  gst_object_unref (bus);
  gst_object_unref (sink);
  return rc;
}

/* The conversion every decoded stream goes through. */
#define CONVERT_TAIL "audioconvert ! audioresample ! " \
    "audio/x-raw,format=F32LE,channels=1,layout=interleaved,rate=%d ! appsink name=sink sync=false"

static int
decode_gst (const char *path, int sample_rate, float **pcm, size_t *n_samples,
            char **error_message, int timeout_seconds)
{
  GstElement *pipe;
  GError *gerr = NULL;
  gchar *uri, *desc, *tail;
  int rc;

  uri = gst_filename_to_uri (path, &gerr);
  if (!uri) {
    rc = fail (error_message, path, gerr ? gerr->message : "invalid path");
    g_clear_error (&gerr);
    return rc;
  }
  tail = g_strdup_printf (CONVERT_TAIL, sample_rate);
  desc = g_strdup_printf ("uridecodebin uri=\"%s\" caps=audio/x-raw ! %s", uri, tail);
  g_free (uri);
  g_free (tail);
  pipe = gst_parse_launch (desc, &gerr);
  g_free (desc);
  if (!pipe || gerr) {
    rc = fail (error_message, path, gerr ? gerr->message : "cannot build the decoding pipeline");
    g_clear_error (&gerr);
    if (pipe)
      gst_object_unref (pipe);
    return rc;
  }
  rc = run_pipeline (pipe, NULL, NULL, 0, 0, path, pcm, n_samples, error_message, timeout_seconds);
  gst_object_unref (pipe);
  return rc;
}

#ifdef CLAR_HAVE_SNDFILE
/* libsndfile reads the file at its own rate and channel count; GStreamer
 * then mixes down and resamples exactly as for its own decoders. */
static int
decode_sndfile (const char *path, int sample_rate, float **pcm, size_t *n_samples,
                char **error_message, int timeout_seconds)
{
  SF_INFO info;
  SNDFILE *sf;
  const char *dot = strrchr (path, '.');
  float *buf = NULL;
  size_t frames = 0, cap = 0;
  GstElement *pipe;
  GError *gerr = NULL;
  gchar *desc, *tail;
  int rc;

  memset (&info, 0, sizeof info);
  sf = sf_open (path, SFM_READ, &info);
  if (!sf && dot && !g_ascii_strcasecmp (dot, ".gsm")) {
    /* Headerless GSM 6.10 (Asterisk's prompts): 8 kHz mono, as sox reads it. */
    memset (&info, 0, sizeof info);
    info.format = SF_FORMAT_RAW | SF_FORMAT_GSM610;
    info.samplerate = 8000;
    info.channels = 1;
    sf = sf_open (path, SFM_READ, &info);
  }
  if (!sf)
    return fail (error_message, path, sf_strerror (NULL));
  if (info.channels < 1 || info.channels > 64 || info.samplerate < 1000 || info.samplerate > 384000) {
    sf_close (sf);
    return fail (error_message, path, "libsndfile: unsupported channel count or rate");
  }
  for (;;) {
    sf_count_t got;
    if (frames + 4096 > cap) {
      size_t ncap = cap ? cap * 2 : 65536;
      float *nb;
      if (ncap * (size_t) info.channels * sizeof (float) > ((size_t) 1 << 31)) {
        free (buf);
        sf_close (sf);
        return fail (error_message, path, "decoded audio exceeds 2 GiB");
      }
      nb = realloc (buf, ncap * (size_t) info.channels * sizeof (float));
      if (!nb) {
        free (buf);
        sf_close (sf);
        return fail (error_message, path, "out of memory");
      }
      buf = nb;
      cap = ncap;
    }
    got = sf_readf_float (sf, buf + frames * (size_t) info.channels, 4096);
    if (got <= 0)
      break;
    frames += (size_t) got;
  }
  sf_close (sf);
  if (!frames) {
    free (buf);
    return fail (error_message, path, "contains no audio samples");
  }
  tail = g_strdup_printf (CONVERT_TAIL, sample_rate);
  desc = g_strdup_printf ("appsrc name=src format=time caps=audio/x-raw,format=F32LE,"
      "layout=interleaved,rate=%d,channels=%d ! %s", info.samplerate, info.channels, tail);
  g_free (tail);
  pipe = gst_parse_launch (desc, &gerr);
  g_free (desc);
  if (!pipe || gerr) {
    rc = fail (error_message, path, gerr ? gerr->message : "cannot build the conversion pipeline");
    g_clear_error (&gerr);
    if (pipe)
      gst_object_unref (pipe);
  } else {
    GstElement *src = gst_bin_get_by_name (GST_BIN (pipe), "src");
    rc = run_pipeline (pipe, src, buf, frames * (size_t) info.channels * sizeof (float),
        gst_util_uint64_scale (frames, GST_SECOND, (guint64) info.samplerate), path,
        pcm, n_samples, error_message, timeout_seconds);
    gst_object_unref (src);
    gst_object_unref (pipe);
  }
  free (buf);
  return rc;
}
#endif

int
clar_decode_file (const char *path, int sample_rate, float **pcm,
                  size_t *n_samples, char **error_message, int timeout_seconds)
{
  int rc;

  *pcm = NULL;
  *n_samples = 0;
  if (error_message)
    *error_message = NULL;
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return fail (error_message, path, "no such file");
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    return fail (error_message, path, "is a directory");
  if (sample_rate < 1000 || sample_rate > 384000)
    return fail (error_message, path, "invalid sample rate requested");
  rc = decode_gst (path, sample_rate, pcm, n_samples, error_message, timeout_seconds);
#ifdef CLAR_HAVE_SNDFILE
  if (rc != 0) {
    char *msg2 = NULL;
    float *p2 = NULL;
    size_t n2 = 0;
    if (decode_sndfile (path, sample_rate, &p2, &n2, &msg2, timeout_seconds) == 0) {
      if (error_message) {
        free (*error_message);
        *error_message = NULL;
      }
      *pcm = p2;
      *n_samples = n2;
      rc = 0;
    } else if (error_message && *error_message) {
      /* Both refused: GStreamer's reason, which names a missing plug-in. */
      free (msg2);
    } else {
      if (error_message)
        *error_message = msg2;
      else
        free (msg2);
    }
  }
#endif
  return rc;
}
