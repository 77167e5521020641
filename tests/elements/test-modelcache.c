/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Several elements share one loaded model; a changed file is reloaded. */
#include <unistd.h>
#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include "gstclarmodelcache.h"

GST_START_TEST (test_shared_and_released)
{
  const gchar *path = g_getenv ("CLAR_TEST_MODEL");
  clar_error err;
  clar_model *a = gst_clar_model_cache_acquire (path, &err);
  clar_model *b = gst_clar_model_cache_acquire (path, &err);
  fail_unless (a != NULL && a == b);
  fail_unless_equals_int (gst_clar_model_cache_size (), 1);
  gst_clar_model_cache_release (a);
  fail_unless_equals_int (gst_clar_model_cache_size (), 1);
  gst_clar_model_cache_release (b);
  fail_unless_equals_int (gst_clar_model_cache_size (), 0);
  fail_unless (gst_clar_model_cache_acquire ("/nonexistent.safetensors", &err) == NULL);
  fail_unless (strstr (err.message, "No such file") != NULL);
}
GST_END_TEST;

GST_START_TEST (test_changed_file_reloaded)
{
  gchar *src = NULL, *copy = g_build_filename (g_get_tmp_dir (), "clar-cache-test.safetensors", NULL);
  gsize len;
  clar_error err;
  clar_model *a, *b;
  fail_unless (g_file_get_contents (g_getenv ("CLAR_TEST_MODEL"), &src, &len, NULL));
  fail_unless (g_file_set_contents (copy, src, len, NULL));
  a = gst_clar_model_cache_acquire (copy, &err);
  /* Rewrite with a different modification time. */
  g_usleep (20000);
  fail_unless (g_file_set_contents (copy, src, len, NULL));
  b = gst_clar_model_cache_acquire (copy, &err);
  fail_unless (a && b && a != b);
  fail_unless_equals_int (gst_clar_model_cache_size (), 2);
  gst_clar_model_cache_release (a);
  gst_clar_model_cache_release (b);
  fail_unless_equals_int (gst_clar_model_cache_size (), 0);
  g_unlink (copy);
  g_free (copy);
  g_free (src);
}
GST_END_TEST;

static Suite *
cache_suite (void)
{
  Suite *s = suite_create ("modelcache");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_shared_and_released);
  tcase_add_test (tc, test_changed_file_reloaded);
  return s;
}

GST_CHECK_MAIN (cache);
