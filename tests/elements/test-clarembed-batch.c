/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clarembed batch-group (issue 19, "many streams, one encoder call"): two
 * elements in one process, each fed from its own thread, share encoder
 * calls and report the embeddings they report alone, with the batch size
 * and the wait in each window's message. */
#include <math.h>
#include <string.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "clar-harness.h"

#define SECONDS 4
#define CHUNK (RATE / 10)

typedef struct {
  Fixture f;
  guint64 offset;     /* where in the test signal this stream starts */
} Feed;

static gpointer
feed_thread (gpointer p)
{
  Feed *d = p;
  for (guint64 pos = 0; pos < (guint64) SECONDS * RATE; pos += CHUNK) {
    GstBuffer *b = gst_buffer_new_allocate (NULL, CHUNK * 4, NULL);
    GstMapInfo map;
    gst_buffer_map (b, &map, GST_MAP_WRITE);
    for (guint i = 0; i < CHUNK; i++)
      ((gfloat *) map.data)[i] = signal_at (d->offset + pos + i);
    gst_buffer_unmap (b, &map);
    GST_BUFFER_PTS (b) = gst_util_uint64_scale (pos, GST_SECOND, RATE);
    GST_BUFFER_DURATION (b) = gst_util_uint64_scale (CHUNK, GST_SECOND, RATE);
    if (gst_harness_push (d->f.h, b) != GST_FLOW_OK)
      return GINT_TO_POINTER (1);
  }
  return NULL;
}

typedef struct {
  guint n;
  gfloat emb[64][256];
  guint dim[64];
  guint batch[64];    /* 0: no batch-size field */
  guint64 wait[64];
} Result;

/* Two elements with `props`, fed at once from two threads; their window
 * messages into res[0], res[1]. */
static void
run_pair (const gchar *props, Result res[2])
{
  Feed d[2];
  GThread *th[2];
  for (int k = 0; k < 2; k++) {
    d[k].f = setup (F32_CAPS, props);
    d[k].offset = k ? 54321 : 0;
  }
  for (int k = 0; k < 2; k++)
    th[k] = g_thread_new ("feed", feed_thread, &d[k]);
  for (int k = 0; k < 2; k++)
    fail_unless (g_thread_join (th[k]) == NULL);
  for (int k = 0; k < 2; k++) {
    GList *msgs = pop_named_messages (&d[k].f, "clarembed");
    memset (&res[k], 0, sizeof res[k]);
    for (GList *l = msgs; l && res[k].n < 64; l = l->next) {
      const GstStructure *s = gst_message_get_structure (l->data);
      const GValue *e = gst_structure_get_value (s, "embedding");
      guint i = res[k].n++;
      fail_unless (e != NULL);
      res[k].dim[i] = gst_value_array_get_size (e);
      fail_unless (res[k].dim[i] <= 256);
      for (guint j = 0; j < res[k].dim[i]; j++)
        res[k].emb[i][j] = g_value_get_float (gst_value_array_get_value (e, j));
      if (!gst_structure_get_uint (s, "batch-size", &res[k].batch[i]))
        res[k].batch[i] = 0;
      gst_structure_get_uint64 (s, "batch-wait", &res[k].wait[i]);
    }
    g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
    teardown (&d[k].f);
  }
}

GST_START_TEST (test_batched_equals_alone)
{
  static Result alone[2], batched[2];
  guint pairs = 0;
  run_pair (NULL, alone);
  /* batch-wait 5 s: cut to one hop (0.5 s) by the stream. */
  run_pair ("batch-group=pair batch-wait=5000000000", batched);
  for (int k = 0; k < 2; k++) {
    fail_unless (alone[k].n >= 6, "only %u windows", alone[k].n);
    fail_unless_equals_int (batched[k].n, alone[k].n);
    for (guint i = 0; i < alone[k].n; i++) {
      double d = 0;
      fail_unless_equals_int (batched[k].dim[i], alone[k].dim[i]);
      for (guint j = 0; j < alone[k].dim[i]; j++)
        d = MAX (d, fabs ((double) batched[k].emb[i][j] - alone[k].emb[i][j]));
      fail_unless (d <= 1e-5, "stream %d window %u: batched differs by %g", k, i, d);
      /* Alone: no batch fields; batched: 1 or 2 windows, waited at most
       * one hop (plus the other window's encoder time and scheduling on a
       * loaded machine). */
      fail_unless_equals_int (alone[k].batch[i], 0);
      fail_unless (batched[k].batch[i] == 1 || batched[k].batch[i] == 2,
          "batch-size %u", batched[k].batch[i]);
      fail_unless (batched[k].wait[i] < 3 * GST_SECOND, "waited %" GST_TIME_FORMAT,
          GST_TIME_ARGS (batched[k].wait[i]));
      pairs += batched[k].batch[i] == 2;
    }
  }
  GST_INFO ("%u of %u windows in batches of 2", pairs, batched[0].n + batched[1].n);
  /* Each element's window waits up to a hop for the other's: the two
   * threads push at full speed, so batches of 2 form. */
  fail_unless (pairs > 0, "no window was batched");
}
GST_END_TEST;

/* The properties: defaults, ranges, read back. */
GST_START_TEST (test_batch_properties)
{
  GstElement *e = gst_element_factory_make ("clarembed", NULL);
  gchar *group = (gchar *) "x";
  guint mb = 0;
  guint64 w = 0;
  GParamSpec *ps;
  fail_unless (e != NULL);
  g_object_get (e, "batch-group", &group, "max-batch", &mb, "batch-wait", &w, NULL);
  fail_unless (group == NULL);
  fail_unless_equals_int (mb, 16);
  fail_unless_equals_uint64 (w, 10 * GST_MSECOND);
  ps = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "max-batch");
  fail_unless_equals_int (G_PARAM_SPEC_UINT (ps)->minimum, 1);
  fail_unless_equals_int (G_PARAM_SPEC_UINT (ps)->maximum, 256);
  g_object_set (e, "batch-group", "g", "max-batch", 4, NULL);
  g_object_get (e, "batch-group", &group, "max-batch", &mb, NULL);
  fail_unless_equals_string (group, "g");
  fail_unless_equals_int (mb, 4);
  g_free (group);
  gst_object_unref (e);
}
GST_END_TEST;

static Suite *
batch_suite (void)
{
  Suite *s = suite_create ("clarembed-batch");
  TCase *tc = tcase_create ("batch");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_batched_equals_alone);
  tcase_add_test (tc, test_batch_properties);
  return s;
}

GST_CHECK_MAIN (batch);
