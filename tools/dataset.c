/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gst/gst.h>

#include "audio-decode.h"
#include "dataset.h"

static const char *audio_ext[] = { ".wav", ".ogg", ".flac", ".mp3", ".opus", ".oga", ".aiff", ".au", NULL };

static int
is_audio (const char *name)
{
  const char *dot = strrchr (name, '.');
  if (!dot)
    return 0;
  for (int i = 0; audio_ext[i]; i++)
    if (!g_ascii_strcasecmp (dot, audio_ext[i]))
      return 1;
  return 0;
}

static void
add_clip (clar_dataset *ds, const char *path, const char *label, const char *split)
{
  clar_clip *c;
  ds->clips = g_renew (clar_clip, ds->clips, ds->n_clips + 1);
  c = &ds->clips[ds->n_clips++];
  memset (c, 0, sizeof *c);
  c->path = g_strdup (path);
  c->label = label && *label && strcmp (label, "-") ? g_strdup (label) : NULL;
  c->split = g_strdup (split ? split : "train");
  c->class_id = -1;
}

static int
cmp_ptrstr (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
walk (clar_dataset *ds, const char *dir, const char *label)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  if (!d)
    return;
  while ((name = g_dir_read_name (d)))
    g_ptr_array_add (names, g_strdup (name));
  g_dir_close (d);
  /* Sorted, so the clip order (and thus a seeded run) does not depend on the
   * file system. */
  g_ptr_array_sort (names, cmp_ptrstr);
  for (guint i = 0; i < names->len; i++) {
    gchar *p = g_build_filename (dir, g_ptr_array_index (names, i), NULL);
    if (g_file_test (p, G_FILE_TEST_IS_DIR))
      walk (ds, p, label);
    else if (is_audio (p))
      add_clip (ds, p, label, "train");
    g_free (p);
  }
  g_ptr_array_unref (names);
}

int
clar_dataset_list (clar_dataset *ds, const char *source, const char *split)
{
  if (g_file_test (source, G_FILE_TEST_IS_DIR)) {
    GDir *d = g_dir_open (source, 0, NULL);
    const char *name;
    GPtrArray *labels = g_ptr_array_new_with_free_func (g_free);
    while (d && (name = g_dir_read_name (d)))
      g_ptr_array_add (labels, g_strdup (name));
    if (d)
      g_dir_close (d);
    qsort (labels->pdata, labels->len, sizeof (gpointer), cmp_ptrstr);
    for (guint i = 0; i < labels->len; i++) {
      gchar *p = g_build_filename (source, g_ptr_array_index (labels, i), NULL);
      if (g_file_test (p, G_FILE_TEST_IS_DIR))
        walk (ds, p, g_ptr_array_index (labels, i));
      g_free (p);
    }
    g_ptr_array_unref (labels);
  } else {
    gchar *text = NULL, **lines, *base;
    GError *e = NULL;
    if (!g_file_get_contents (source, &text, NULL, &e)) {
      fprintf (stderr, "cannot read %s: %s\n", source, e->message);
      g_error_free (e);
      return -1;
    }
    base = g_path_get_dirname (source);
    lines = g_strsplit (text, "\n", -1);
    for (int i = 0; lines[i]; i++) {
      gchar **f;
      gchar *p;
      g_strchomp (lines[i]);
      if (!lines[i][0] || lines[i][0] == '#' || (i == 0 && g_str_has_prefix (lines[i], "path")))
        continue;
      f = g_strsplit (lines[i], "\t", -1);
      if (!f[0] || !f[0][0]) {
        g_strfreev (f);
        continue;
      }
      if (!split || (f[1] && f[2] && !strcmp (f[2], split)) || (!(f[1] && f[2]) && !strcmp (split, "train"))) {
        p = g_path_is_absolute (f[0]) ? g_strdup (f[0]) : g_build_filename (base, f[0], NULL);
        add_clip (ds, p, f[1], f[1] && f[2] ? f[2] : "train");
        g_free (p);
      }
      g_strfreev (f);
    }
    g_strfreev (lines);
    g_free (text);
    g_free (base);
  }
  if (!ds->n_clips) {
    fprintf (stderr, "%s: no clips%s%s\n", source, split ? " in split " : "", split ? split : "");
    return -1;
  }
  return 0;
}

int
clar_dataset_add_unlabelled (clar_dataset *ds, const char *dir)
{
  size_t before = ds->n_clips;
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    fprintf (stderr, "%s is not a folder\n", dir);
    return -1;
  }
  walk (ds, dir, NULL);
  return ds->n_clips > before ? 0 : -1;
}

void
clar_dataset_index_classes (clar_dataset *ds, char **names, size_t n)
{
  if (!names) {
    GPtrArray *a = g_ptr_array_new ();
    for (size_t i = 0; i < ds->n_clips; i++) {
      gboolean seen = FALSE;
      if (!ds->clips[i].label)
        continue;
      for (guint k = 0; k < a->len && !seen; k++)
        seen = !strcmp (g_ptr_array_index (a, k), ds->clips[i].label);
      if (!seen)
        g_ptr_array_add (a, ds->clips[i].label);
    }
    qsort (a->pdata, a->len, sizeof (gpointer), cmp_ptrstr);
    ds->n_classes = a->len;
    ds->classes = g_new0 (char *, a->len + 1);
    for (guint k = 0; k < a->len; k++)
      ds->classes[k] = g_strdup (g_ptr_array_index (a, k));
    g_ptr_array_free (a, TRUE);
  } else {
    ds->n_classes = n;
    ds->classes = g_new0 (char *, n + 1);
    for (size_t k = 0; k < n; k++)
      ds->classes[k] = g_strdup (names[k]);
  }
  for (size_t i = 0; i < ds->n_clips; i++) {
    ds->clips[i].class_id = -1;
    for (size_t k = 0; ds->clips[i].label && k < ds->n_classes; k++)
      if (!strcmp (ds->classes[k], ds->clips[i].label))
        ds->clips[i].class_id = (int) k;
  }
}

typedef struct {
  clar_dataset *ds;
  float **pcm;
  size_t *n;
  int rate;
  volatile gint done;
} decode_job;

static void
decode_one (gpointer data, gpointer user)
{
  decode_job *j = user;
  size_t i = GPOINTER_TO_SIZE (data) - 1;
  char *msg = NULL;
  if (clar_decode_file (j->ds->clips[i].path, j->rate, &j->pcm[i], &j->n[i], &msg, 120) != 0) {
    fprintf (stderr, "warning: skipped %s\n", msg);
    free (msg);
    j->pcm[i] = NULL;
    j->n[i] = 0;
  }
  g_atomic_int_inc (&j->done);
}

/* FNV-1a over the file list with sizes and mtimes: the cache key. */
static uint64_t
list_hash (const clar_dataset *ds, int rate)
{
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < ds->n_clips; i++) {
    struct stat st;
    char buf[64];
    const char *p = ds->clips[i].path;
    for (; *p; p++) h = (h ^ (unsigned char) *p) * 1099511628211ULL;
    if (stat (ds->clips[i].path, &st) == 0) {
      snprintf (buf, sizeof buf, "|%lld|%lld|", (long long) st.st_size, (long long) st.st_mtime);
      for (p = buf; *p; p++) h = (h ^ (unsigned char) *p) * 1099511628211ULL;
    }
  }
  return h ^ (uint64_t) rate;
}

int
clar_dataset_load (clar_dataset *ds, int rate, const char *cache_dir, int threads)
{
  uint64_t h = list_hash (ds, rate);
  gchar *cache = NULL;
  size_t *n = g_new0 (size_t, ds->n_clips), total = 0;
  float **pcm = g_new0 (float *, ds->n_clips);
  FILE *f;
  int from_cache = 0;

  if (cache_dir) {
    gchar *name = g_strdup_printf ("decoded-%016llx.f32", (unsigned long long) h);
    g_mkdir_with_parents (cache_dir, 0755);
    cache = g_build_filename (cache_dir, name, NULL);
    g_free (name);
    f = fopen (cache, "rb");
    if (f) {
      uint64_t cnt = 0;
      from_cache = fread (&cnt, 8, 1, f) == 1 && cnt == ds->n_clips;
      for (size_t i = 0; from_cache && i < ds->n_clips; i++) {
        uint64_t len;
        if (fread (&len, 8, 1, f) != 1 || len > (1ULL << 32)) { from_cache = 0; break; }
        n[i] = (size_t) len;
        pcm[i] = len ? malloc (len * sizeof (float)) : NULL;
        if (len && (!pcm[i] || fread (pcm[i], sizeof (float), len, f) != len)) { from_cache = 0; break; }
      }
      fclose (f);
      if (from_cache)
        fprintf (stderr, "decoded audio from cache %s\n", cache);
    }
  }
  if (!from_cache) {
    decode_job job = { ds, pcm, n, rate, 0 };
    GThreadPool *pool = g_thread_pool_new (decode_one, &job, threads > 0 ? threads : 2, TRUE, NULL);
    gint64 t0 = g_get_monotonic_time (), last = 0;
    for (size_t i = 0; i < ds->n_clips; i++) {
      free (pcm[i]);
      pcm[i] = NULL;
      g_thread_pool_push (pool, GSIZE_TO_POINTER (i + 1), NULL);
    }
    while ((size_t) g_atomic_int_get (&job.done) < ds->n_clips) {
      g_usleep (200000);
      if (g_get_monotonic_time () - last > 5 * G_USEC_PER_SEC) {
        last = g_get_monotonic_time ();
        fprintf (stderr, "decoding %d/%zu files (%.0f s)\n", g_atomic_int_get (&job.done),
            ds->n_clips, (last - t0) / 1e6);
      }
    }
    g_thread_pool_free (pool, FALSE, TRUE);
    if (cache && (f = fopen (cache, "wb"))) {
      uint64_t cnt = ds->n_clips;
      fwrite (&cnt, 8, 1, f);
      for (size_t i = 0; i < ds->n_clips; i++) {
        uint64_t len = n[i];
        fwrite (&len, 8, 1, f);
        if (len)
          fwrite (pcm[i], sizeof (float), len, f);
      }
      fclose (f);
    }
  }
  for (size_t i = 0; i < ds->n_clips; i++)
    total += n[i];
  ds->store = malloc ((total ? total : 1) * sizeof (float));
  ds->store_n = total;
  {
    size_t off = 0, kept = 0;
    for (size_t i = 0; i < ds->n_clips; i++) {
      if (!n[i]) {
        g_free (ds->clips[i].path);
        g_free (ds->clips[i].label);
        g_free (ds->clips[i].split);
        continue;
      }
      memcpy (ds->store + off, pcm[i], n[i] * sizeof (float));
      ds->clips[kept] = ds->clips[i];
      ds->clips[kept].pcm = ds->store + off;
      ds->clips[kept].n = n[i];
      off += n[i];
      kept++;
      free (pcm[i]);
    }
    ds->n_clips = kept;
  }
  g_free (pcm);
  g_free (n);
  g_free (cache);
  return ds->n_clips ? 0 : -1;
}

void
clar_dataset_free (clar_dataset *ds)
{
  for (size_t i = 0; i < ds->n_clips; i++) {
    g_free (ds->clips[i].path);
    g_free (ds->clips[i].label);
    g_free (ds->clips[i].split);
  }
  for (size_t k = 0; k < ds->n_classes; k++)
    g_free (ds->classes[k]);
  g_free (ds->classes);
  g_free (ds->clips);
  free (ds->store);
  memset (ds, 0, sizeof *ds);
}
