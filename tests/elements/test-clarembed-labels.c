/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clarembed zero-shot labels: the labels property and .txt prompt files go
 * through the model's text tower; every misuse is a clear element error. */
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#define RATE 16000
#define CAPS "audio/x-raw,format=F32LE,rate=16000,channels=1,layout=interleaved"

static const gchar *
env_path (const gchar *var)
{
  const gchar *p = g_getenv (var);
  fail_unless (p != NULL, "%s not set", var);
  return p;
}

/* Runs 1.5 s of a tone through clarembed with the given properties and
 * returns its "clarembed" messages (1 s windows every 0.5 s: 2 windows). */
static GList *
run (const gchar *model, const gchar *props)
{
  gchar *desc = g_strdup_printf ("clarembed model-location=\"%s\" window-size=1000000000 "
      "hop-size=500000000 %s", model, props);
  GstHarness *h = gst_harness_new_parse (desc);
  GstBus *bus = gst_bus_new ();
  GstBuffer *b = gst_buffer_new_allocate (NULL, RATE * 3 / 2 * sizeof (gfloat), NULL);
  GstMapInfo map;
  GList *l = NULL;
  GstMessage *m;
  g_free (desc);
  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, CAPS);
  gst_buffer_map (b, &map, GST_MAP_WRITE);
  for (guint i = 0; i < RATE * 3 / 2; i++)
    ((gfloat *) map.data)[i] = (gfloat) (0.3 * sin (2 * G_PI * 440.0 * i / RATE));
  gst_buffer_unmap (b, &map);
  GST_BUFFER_PTS (b) = 0;
  fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  while ((m = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT)))
    if (gst_message_has_name (m, "clarembed"))
      l = g_list_append (l, m);
    else
      gst_message_unref (m);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  return l;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static gchar *
names_of (GstMessage *m, gdouble *score_sum)
{
  const GstStructure *s = gst_message_get_structure (m);
  const GValue *labels = gst_structure_get_value (s, "labels");
  const GValue *scores = gst_structure_get_value (s, "scores");
  guint n = labels ? gst_value_array_get_size (labels) : 0;
  const gchar **v = g_new0 (const gchar *, n + 1);
  gchar *joined;
  *score_sum = 0;
  for (guint i = 0; i < n; i++) {
    v[i] = g_value_get_string (gst_value_array_get_value (labels, i));
    *score_sum += g_value_get_float (gst_value_array_get_value (scores, i));
  }
  qsort (v, n, sizeof (gchar *), cmp_str);
  joined = g_strjoinv (";", (gchar **) v);
  g_free (v);
  return joined;
}

GST_START_TEST (test_labels_property)
{
  /* top-k = number of prompts, threshold 0: every window reports exactly the
   * prompts (trimmed, as their own names), with softmax scores summing to 1. */
  GList *msgs = run (env_path ("CLAR_TEST_TEXT_MODEL"),
      "top-k=3 threshold=0 labels=\" speech ; flute;a dog barking\"");
  fail_unless_equals_int (g_list_length (msgs), 2);
  for (GList *l = msgs; l; l = l->next) {
    gdouble sum;
    gchar *names = names_of (l->data, &sum);
    fail_unless_equals_string (names, "a dog barking;flute;speech");
    fail_unless (fabs (sum - 1.0) < 1e-4, "scores sum to %g", sum);
    g_free (names);
  }
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
}
GST_END_TEST;

GST_START_TEST (test_prompt_file)
{
  gchar *path = g_build_filename (g_get_tmp_dir (), "clar-test-prompts.txt", NULL);
  gchar *props;
  GList *msgs;
  fail_unless (g_file_set_contents (path, "# prompts\nthe word seven\n\na cow mooing\n", -1, NULL));
  props = g_strdup_printf ("top-k=5 threshold=0 labels-location=\"%s\"", path);
  msgs = run (env_path ("CLAR_TEST_TEXT_MODEL"), props);
  fail_unless_equals_int (g_list_length (msgs), 2);
  {
    gdouble sum;
    gchar *names = names_of (msgs->data, &sum);
    fail_unless_equals_string (names, "a cow mooing;the word seven");
    g_free (names);
  }
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  g_unlink (path);
  g_free (props);
  g_free (path);
}
GST_END_TEST;

/* Sets the properties, tries PAUSED, returns the error text (debug included). */
static gchar *
start_error (const gchar *model, const gchar *labels, const gchar *location)
{
  GstElement *e = gst_element_factory_make ("clarembed", NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *m;
  gchar *text = NULL;
  gst_element_set_bus (e, bus);
  g_object_set (e, "model-location", model, "labels", labels, "labels-location", location, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (m) {
    GError *err = NULL;
    gchar *dbg = NULL;
    gst_message_parse_error (m, &err, &dbg);
    text = g_strdup_printf ("%s | %s", err->message, dbg ? dbg : "");
    g_error_free (err);
    g_free (dbg);
    gst_message_unref (m);
  }
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
  return text;
}

GST_START_TEST (test_errors)
{
  const gchar *text_model = env_path ("CLAR_TEST_TEXT_MODEL");
  gchar *t;
  /* A model without a text tower cannot take prompts. */
  t = start_error (env_path ("CLAR_TEST_MODEL"), "speech;flute", NULL);
  fail_unless (t && strstr (t, "text tower"), "error was: %s", t);
  g_free (t);
  /* Prompts and a label file at once. */
  t = start_error (text_model, "speech", "/tmp/x.safetensors");
  fail_unless (t && strstr (t, "not both"), "error was: %s", t);
  g_free (t);
  /* No prompt at all, a prompt without words, a repeated prompt. */
  t = start_error (text_model, " ; ;", NULL);
  fail_unless (t && strstr (t, "no prompt"), "error was: %s", t);
  g_free (t);
  t = start_error (text_model, "speech;!!", NULL);
  fail_unless (t && strstr (t, "prompt 1"), "error was: %s", t);
  g_free (t);
  t = start_error (text_model, "flute;flute", NULL);
  fail_unless (t && strstr (t, "twice"), "error was: %s", t);
  g_free (t);
  /* A prompt file that does not exist. */
  t = start_error (text_model, NULL, "/nonexistent/prompts.txt");
  fail_unless (t && strstr (t, "prompts") && strstr (t, "No such file"), "error was: %s", t);
  g_free (t);
}
GST_END_TEST;

static Suite *
clarembed_labels_suite (void)
{
  Suite *s = suite_create ("clarembed-labels");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_labels_property);
  tcase_add_test (tc, test_prompt_file);
  tcase_add_test (tc, test_errors);
  return s;
}

GST_CHECK_MAIN (clarembed_labels);
