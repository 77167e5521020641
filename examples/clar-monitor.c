/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * clar-monitor: prints the labels clarembed finds in a file or in live
 * microphone audio, reading both the bus messages and the GstClarMeta.
 *
 *   clar-monitor FILE [MODEL]      analyse an audio file
 *   clar-monitor --mic [MODEL]     analyse the default microphone (Ctrl-C stops)
 *
 * Build: cc clar-monitor.c $(pkg-config --cflags --libs gstreamer-1.0 gstclarmeta-1.0)
 */
#include <stdio.h>
#include <string.h>

#include <gst/gst.h>
#include <clar/gstclarmeta.h>

static GMainLoop *loop;
static guint n_meta, n_final;

/* Metas ride on buffers: count them in a probe after clarembed. */
static GstPadProbeReturn
count_meta (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  gpointer state = NULL;
  while (gst_buffer_iterate_meta_filtered (buf, &state, GST_CLAR_META_API_TYPE))
    g_atomic_int_inc (&n_meta);
  return GST_PAD_PROBE_OK;
}

/* A final partial window (EOS, DISCONT, caps change) has no buffer of its
 * own: its result follows its audio as a custom downstream event named
 * "clarembed-window" (clar/gstclarmeta.h, "The final padded window"). A
 * clip shorter than one window has only this one. */
static GstPadProbeReturn
count_final (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
  if (GST_EVENT_TYPE (ev) == GST_EVENT_CUSTOM_DOWNSTREAM &&
      gst_event_has_name (ev, "clarembed-window"))
    g_atomic_int_inc (&n_final);
  return GST_PAD_PROBE_OK;
}

static gboolean
on_message (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *s = gst_message_get_structure (msg);
      guint64 ts = 0;
      gboolean silent = FALSE, padded = FALSE;
      const GValue *labels, *scores, *emb;
      if (!gst_structure_has_name (s, "clarembed"))
        break;
      gst_structure_get_uint64 (s, "timestamp", &ts);
      gst_structure_get_boolean (s, "silent", &silent);
      gst_structure_get_boolean (s, "padded", &padded);
      labels = gst_structure_get_value (s, "labels");
      scores = gst_structure_get_value (s, "scores");
      emb = gst_structure_get_value (s, "embedding");
      g_print ("%8.3f s ", ts / 1e9);
      if (silent)
        g_print (" (silent)");
      for (guint i = 0; labels && i < gst_value_array_get_size (labels); i++)
        g_print (" %s %.2f", g_value_get_string (gst_value_array_get_value (labels, i)),
            g_value_get_float (gst_value_array_get_value (scores, i)));
      if (emb && gst_value_array_get_size (emb) >= 4)
        g_print ("   emb[0:4] = [%.3f %.3f %.3f %.3f ...]",
            g_value_get_float (gst_value_array_get_value (emb, 0)),
            g_value_get_float (gst_value_array_get_value (emb, 1)),
            g_value_get_float (gst_value_array_get_value (emb, 2)),
            g_value_get_float (gst_value_array_get_value (emb, 3)));
      g_print ("%s\n", padded ? "  (final, zero-padded)" : "");
      break;
    }
    case GST_MESSAGE_ERROR: {
      GError *err = NULL;
      gchar *dbg = NULL;
      gst_message_parse_error (msg, &err, &dbg);
      g_printerr ("error: %s\n%s\n", err->message, dbg ? dbg : "");
      g_error_free (err);
      g_free (dbg);
      g_main_loop_quit (loop);
      *(int *) user_data = 1;
      break;
    }
    case GST_MESSAGE_EOS:
      g_main_loop_quit (loop);
      break;
    default:
      break;
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  GstElement *pipe, *embed;
  GstPad *src;
  GError *err = NULL;
  gchar *desc, *model_prop = NULL;
  int failed = 0;

  gst_init (&argc, &argv);
  if (argc < 2) {
    g_printerr ("usage: %s FILE|--mic [MODEL]\n", argv[0]);
    return 2;
  }
  if (argc > 2)
    model_prop = g_strdup_printf ("model-location=\"%s\"", argv[2]);
  if (!strcmp (argv[1], "--mic"))
    desc = g_strdup_printf ("autoaudiosrc ! queue ! audioconvert ! audioresample ! "
        "clarembed name=embed hop-size=500000000 %s ! fakesink sync=false",
        model_prop ? model_prop : "");
  else {
    gchar *uri = gst_filename_to_uri (argv[1], NULL);
    desc = g_strdup_printf ("uridecodebin uri=\"%s\" ! audioconvert ! audioresample ! "
        "clarembed name=embed %s ! fakesink", uri ? uri : argv[1], model_prop ? model_prop : "");
    g_free (uri);
  }
  pipe = gst_parse_launch (desc, &err);
  g_free (desc);
  g_free (model_prop);
  /* gst_parse_launch may return a pipeline AND an error (a recoverable one,
   * e.g. clarembed not found: GST_PARSE_ERROR_NO_SUCH_ELEMENT): either way
   * the pipeline is not the one asked for. */
  if (err) {
    g_printerr ("pipeline: %s%s\n", err->message,
        g_error_matches (err, GST_PARSE_ERROR, GST_PARSE_ERROR_NO_SUCH_ELEMENT)
        ? " (is the plugin on GST_PLUGIN_PATH? see README \"Installing\")" : "");
    g_error_free (err);
    if (pipe)
      gst_object_unref (pipe);
    return 1;
  }
  embed = gst_bin_get_by_name (GST_BIN (pipe), "embed");
  src = gst_element_get_static_pad (embed, "src");
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, count_meta, NULL, NULL);
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, count_final, NULL, NULL);
  gst_object_unref (src);
  gst_object_unref (embed);
  loop = g_main_loop_new (NULL, FALSE);
  gst_bus_add_watch (GST_ELEMENT_BUS (pipe), on_message, &failed);
  if (gst_element_set_state (pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    failed = 1;
  else
    g_main_loop_run (loop);
  gst_element_set_state (pipe, GST_STATE_NULL);
  g_print ("%u windows carried a GstClarMeta, %u final padded window%s came as a "
      "clarembed-window event\n", g_atomic_int_get (&n_meta), g_atomic_int_get (&n_final),
      g_atomic_int_get (&n_final) == 1 ? "" : "s");
  gst_bus_remove_watch (GST_ELEMENT_BUS (pipe));
  gst_object_unref (pipe);
  g_main_loop_unref (loop);
  return failed;
}
