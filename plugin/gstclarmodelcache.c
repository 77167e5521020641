/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* realpath() is XSI, not plain POSIX. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gst/gst.h>

#include "gstclarmodelcache.h"

/* "clarmodelcache" at INFO logs each real load (one per file and process,
 * while an element holds it): bench/bench-pipeline counts these lines. */
GST_DEBUG_CATEGORY_STATIC (clar_model_cache_debug);
#define GST_CAT_DEFAULT clar_model_cache_debug

typedef struct {
  gchar *path;
  gint64 mtime_ns;
  gint64 size;
  clar_model *model;
  guint users;
} CacheEntry;

/* The cache is the plugin's one piece of global state, guarded by this
 * mutex. Entries are few (one per distinct model file). */
static GMutex cache_lock;
static GList *cache_entries;

static void
entry_free (CacheEntry *e)
{
  clar_model_unref (e->model);
  g_free (e->path);
  g_free (e);
}

clar_model *
gst_clar_model_cache_acquire (const gchar *path, clar_error *err)
{
  struct stat st;
  gchar *canon;
  clar_model *model = NULL;
  CacheEntry *found = NULL;
  gint64 mtime_ns;

  {
    static gsize debug_once = 0;
    if (g_once_init_enter (&debug_once)) {
      GST_DEBUG_CATEGORY_INIT (clar_model_cache_debug, "clarmodelcache", 0, "clarembed model cache");
      g_once_init_leave (&debug_once, 1);
    }
  }
  if (!path || !*path) {
    if (err) {
      err->code = CLAR_ERR_INVALID_ARGUMENT;
      g_strlcpy (err->message, "no model file given", sizeof err->message);
    }
    return NULL;
  }
  if (stat (path, &st) != 0) {
    /* Let the loader produce the precise message (ENOENT, EACCES...). */
    clar_model_load_file (path, &model, err);
    return model;
  }
  canon = realpath (path, NULL);
  if (!canon)
    canon = strdup (path);
  mtime_ns = (gint64) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;

  g_mutex_lock (&cache_lock);
  for (GList *l = cache_entries; l; l = l->next) {
    CacheEntry *e = l->data;
    if (strcmp (e->path, canon) == 0 && e->mtime_ns == mtime_ns && e->size == (gint64) st.st_size) {
      found = e;
      break;
    }
  }
  if (found) {
    found->users++;
    model = clar_model_ref (found->model);
    GST_DEBUG ("reusing %s (%u users)", canon, found->users);
  } else if (clar_model_load_file (canon, &model, err) == CLAR_OK) {
    GST_INFO ("loaded model %s", canon);
    /* Loading under the lock: concurrent first uses of one file load it once. */
    CacheEntry *e = g_new0 (CacheEntry, 1);
    e->path = g_strdup (canon);
    e->mtime_ns = mtime_ns;
    e->size = (gint64) st.st_size;
    e->model = clar_model_ref (model);
    e->users = 1;
    cache_entries = g_list_prepend (cache_entries, e);
  }
  g_mutex_unlock (&cache_lock);
  free (canon);
  return model;
}

void
gst_clar_model_cache_release (clar_model *model)
{
  if (!model)
    return;
  g_mutex_lock (&cache_lock);
  for (GList *l = cache_entries; l; l = l->next) {
    CacheEntry *e = l->data;
    if (e->model == model) {
      if (--e->users == 0) {
        cache_entries = g_list_delete_link (cache_entries, l);
        entry_free (e);
      }
      break;
    }
  }
  g_mutex_unlock (&cache_lock);
  clar_model_unref (model);
}

guint
gst_clar_model_cache_size (void)
{
  guint n;
  g_mutex_lock (&cache_lock);
  n = g_list_length (cache_entries);
  g_mutex_unlock (&cache_lock);
  return n;
}
