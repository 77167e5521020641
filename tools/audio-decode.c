/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/app/gstappsink.h>

#include "audio-decode.h"

static int
fail (char **msg, const char *path, const char *why)
{
  if (msg)
    *msg = g_strdup_printf ("%s: %s", path, why);
  return -1;
}

int
clar_decode_file (const char *path, int sample_rate, float **pcm,
                  size_t *n_samples, char **error_message, int timeout_seconds)
{
  GstElement *pipe = NULL, *sink;
  GstBus *bus;
  GError *gerr = NULL;
  gchar *uri, *desc;
  GByteArray *acc;
  int rc = 0;
  gint64 deadline;

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
  uri = gst_filename_to_uri (path, &gerr);
  if (!uri) {
    rc = fail (error_message, path, gerr ? gerr->message : "invalid path");
    g_clear_error (&gerr);
    return rc;
  }
  desc = g_strdup_printf ("uridecodebin uri=\"%s\" caps=audio/x-raw ! audioconvert ! "
      "audioresample ! audio/x-raw,format=F32LE,channels=1,layout=interleaved,rate=%d ! "
      "appsink name=sink sync=false", uri, sample_rate);
  g_free (uri);
  pipe = gst_parse_launch (desc, &gerr);
  g_free (desc);
  if (!pipe) {
    rc = fail (error_message, path, gerr ? gerr->message : "cannot build the decoding pipeline");
    g_clear_error (&gerr);
    return rc;
  }
  sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  bus = gst_element_get_bus (pipe);
  acc = g_byte_array_new ();
  if (gst_element_set_state (pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (m) {
      gst_message_parse_error (m, &gerr, NULL);
      rc = fail (error_message, path, gerr->message);
      g_clear_error (&gerr);
      gst_message_unref (m);
    } else {
      rc = fail (error_message, path, "cannot start decoding");
    }
    goto out;
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
  gst_object_unref (pipe);
  return rc;
}
