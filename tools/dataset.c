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

static int
is_audio (const char *name)
{
  return clar_is_audio_file_name (name);
}

clar_dataset_options
clar_dataset_options_default (void)
{
  clar_dataset_options o = { CLAR_DATASET_VAL_FRACTION, CLAR_DATASET_MAX_DROPPED, CLAR_DATASET_MIN_FILL, 0, 0 };
  return o;
}

int
clar_dataset_parse_option (clar_dataset_options *o, const char *arg, const char *value)
{
  double *dst = NULL;
  char *end;
  if (!strcmp (arg, "--exclude-overlap")) {
    o->exclude_overlap = 1;
    return 1;
  }
  if (!strcmp (arg, "--val-fraction"))
    dst = &o->val_fraction;
  else if (!strcmp (arg, "--max-dropped"))
    dst = &o->max_dropped;
  else if (!strcmp (arg, "--min-fill"))
    dst = &o->min_fill;
  else
    return 0;
  if (!value) {
    fprintf (stderr, "%s needs a value between 0 and 1\n", arg);
    return -1;
  }
  *dst = strtod (value, &end);
  if (end == value || *end || !(*dst >= 0 && *dst <= (dst == &o->val_fraction ? 0.9 : 1.0))
      || (dst == &o->min_fill && !(*dst >= 0.01))) {
    fprintf (stderr, "%s needs a number in 0..%s, got \"%s\"\n", arg,
        dst == &o->val_fraction ? "0.9" : "1", value);
    return -1;
  }
  return 2;
}

void
clar_dataset_init (clar_dataset *ds, const clar_dataset_options *o)
{
  memset (ds, 0, sizeof *ds);
  ds->opt = o ? *o : clar_dataset_options_default ();
  ds->has_opt = 1;
}

static const clar_dataset_options *
opts (clar_dataset *ds)
{
  if (!ds->has_opt) {
    ds->opt = clar_dataset_options_default ();
    ds->has_opt = 1;
  }
  return &ds->opt;
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
  c->split = split ? g_strdup (split) : NULL;
  c->class_id = -1;
}

static void
clip_clear (clar_clip *c)
{
  g_free (c->path);
  g_free (c->label);
  g_free (c->split);
  g_free (c->md5);
}

static int
cmp_ptrstr (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The split key: FNV-1a 64 (Fowler, Noll, Vo) of the name, then the
 * splitmix64 finaliser (Steele et al. 2014) so that names differing in their
 * last character spread over the whole range. */
static uint64_t
name_hash (const char *s)
{
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char) *s) * 1099511628211ULL;
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
  return h ^ (h >> 31);
}

/* Clips [first, ds->n_clips) with split NULL get "val"/"train" from the hash
 * of keys[i - first] (dataset.h, "Held-out split"). */
static void
derive_splits (clar_dataset *ds, size_t first, char **keys, double frac)
{
  size_t n = ds->n_clips - first;
  uint64_t *h = g_new (uint64_t, n ? n : 1);
  /* frac * 2^64 without overflow: compare h / 2^64 < frac in long double. */
  for (size_t i = 0; i < n; i++) {
    h[i] = keys[i] ? name_hash (keys[i]) : 0;
    if (!ds->clips[first + i].split)
      ds->clips[first + i].split = g_strdup (
          frac > 0 && (long double) h[i] < (long double) frac * 18446744073709551616.0L ? "val" : "train");
  }
  if (frac > 0) {
    /* Per class: at least one clip in each split when it has two. */
    for (size_t i = 0; i < n; i++) {
      const char *lab = ds->clips[first + i].label;
      size_t n_val = 0, n_all = 0, lo = i, hi = i, seen = 0;
      if (!keys[i])
        continue;
      for (size_t j = 0; j < i && !seen; j++)
        seen = keys[j] && g_strcmp0 (ds->clips[first + j].label, lab) == 0;
      if (seen)
        continue;
      for (size_t j = i; j < n; j++) {
        if (!keys[j] || g_strcmp0 (ds->clips[first + j].label, lab))
          continue;
        n_all++;
        n_val += !strcmp (ds->clips[first + j].split, "val");
        if (h[j] < h[lo]) lo = j;
        if (h[j] > h[hi]) hi = j;
      }
      if (n_all >= 2 && n_val == 0) {
        g_free (ds->clips[first + lo].split);
        ds->clips[first + lo].split = g_strdup ("val");
      } else if (n_all >= 2 && n_val == n_all) {
        g_free (ds->clips[first + hi].split);
        ds->clips[first + hi].split = g_strdup ("train");
      }
    }
  }
  g_free (h);
}

/* Lists dir recursively; keys receives each clip's path relative to root. */
static void
walk (clar_dataset *ds, const char *dir, const char *label, const char *rel, GPtrArray *keys)
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
    const char *base = g_ptr_array_index (names, i);
    gchar *p = g_build_filename (dir, base, NULL);
    gchar *r = rel ? g_strconcat (rel, "/", base, NULL) : g_strdup (base);
    if (g_file_test (p, G_FILE_TEST_IS_DIR))
      walk (ds, p, label, r, keys);
    else if (is_audio (p)) {
      add_clip (ds, p, label, keys ? NULL : "train");
      if (keys)
        g_ptr_array_add (keys, g_strdup (r));
    }
    g_free (r);
    g_free (p);
  }
  g_ptr_array_unref (names);
}

int
clar_dataset_list (clar_dataset *ds, const char *source, const char *split)
{
  size_t first = ds->n_clips;
  GPtrArray *keys = g_ptr_array_new_with_free_func (g_free);
  double frac = opts (ds)->val_fraction;
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
        walk (ds, p, g_ptr_array_index (labels, i), g_ptr_array_index (labels, i), keys);
      g_free (p);
    }
    g_ptr_array_unref (labels);
  } else {
    gchar *text = NULL, **lines, *base;
    GError *e = NULL;
    if (!g_file_get_contents (source, &text, NULL, &e)) {
      fprintf (stderr, "cannot read %s: %s\n", source, e->message);
      g_error_free (e);
      g_ptr_array_unref (keys);
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
      p = g_path_is_absolute (f[0]) ? g_strdup (f[0]) : g_build_filename (base, f[0], NULL);
      /* A row without a split column gets a derived one, like a folder. */
      add_clip (ds, p, f[1], f[1] && f[2] && f[2][0] ? f[2] : NULL);
      g_ptr_array_add (keys, f[1] && f[2] && f[2][0] ? NULL : g_strdup (f[0]));
      g_free (p);
      g_strfreev (f);
    }
    g_strfreev (lines);
    g_free (text);
    g_free (base);
  }
  derive_splits (ds, first, (char **) keys->pdata, frac);
  g_ptr_array_unref (keys);
  if (split) {
    size_t w = first;
    for (size_t i = first; i < ds->n_clips; i++) {
      if (!strcmp (ds->clips[i].split, split))
        ds->clips[w++] = ds->clips[i];
      else
        clip_clear (&ds->clips[i]);
    }
    ds->n_clips = w;
  }
  g_free (ds->what);
  ds->what = split ? g_strdup_printf ("%s (split %s)", source, split) : g_strdup (source);
  if (ds->n_clips == first) {
    fprintf (stderr, "%s: no clips%s%s%s\n", source, split ? " in split " : "", split ? split : "",
        split && !strcmp (split, "val") && g_file_test (source, G_FILE_TEST_IS_DIR) && frac == 0
        ? " (--val-fraction is 0)" : "");
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
  walk (ds, dir, NULL, NULL, NULL);
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
  char **why;
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
    const char *p = j->ds->clips[i].path;
    /* The reason without the "PATH: " prefix, so that equal reasons group. */
    j->why[i] = g_strdup (msg && g_str_has_prefix (msg, p) && !strncmp (msg + strlen (p), ": ", 2)
        ? msg + strlen (p) + 2 : msg ? msg : "cannot decode");
    free (msg);
    j->pcm[i] = NULL;
    j->n[i] = 0;
  }
  g_atomic_int_inc (&j->done);
}

/* FNV-1a over the file list with sizes and mtimes: the cache key. "v2":
 * the cache records why a clip was dropped. */
static uint64_t
list_hash (const clar_dataset *ds, int rate)
{
  uint64_t h = 1469598103934665603ULL;
  for (const char *p = "clar-decode-cache-v2"; *p; p++)
    h = (h ^ (unsigned char) *p) * 1099511628211ULL;
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

/* Cache file: u64 count, then per clip u64 samples and the samples, or 0
 * and u32 length + the reason it was dropped. */
static int
read_cache (const char *cache, size_t n_clips, float **pcm, size_t *n, char **why)
{
  FILE *f = fopen (cache, "rb");
  uint64_t cnt = 0;
  int ok;
  if (!f)
    return 0;
  ok = fread (&cnt, 8, 1, f) == 1 && cnt == n_clips;
  for (size_t i = 0; ok && i < n_clips; i++) {
    uint64_t len;
    uint32_t wl;
    if (fread (&len, 8, 1, f) != 1 || len > (1ULL << 32)) { ok = 0; break; }
    n[i] = (size_t) len;
    if (len) {
      pcm[i] = malloc (len * sizeof (float));
      ok = pcm[i] && fread (pcm[i], sizeof (float), len, f) == len;
    } else {
      ok = fread (&wl, 4, 1, f) == 1 && wl < 65536;
      if (ok) {
        why[i] = g_malloc0 (wl + 1);
        ok = fread (why[i], 1, wl, f) == wl;
      }
    }
  }
  fclose (f);
  return ok;
}

static void
write_cache (const char *cache, size_t n_clips, float **pcm, const size_t *n, char **why)
{
  gchar *tmp = g_strconcat (cache, ".tmp", NULL);
  FILE *f = fopen (tmp, "wb");
  uint64_t cnt = n_clips;
  int ok;
  if (!f) {
    g_free (tmp);
    return;
  }
  ok = fwrite (&cnt, 8, 1, f) == 1;
  for (size_t i = 0; ok && i < n_clips; i++) {
    uint64_t len = n[i];
    ok = fwrite (&len, 8, 1, f) == 1;
    if (ok && len)
      ok = fwrite (pcm[i], sizeof (float), len, f) == len;
    else if (ok) {
      uint32_t wl = why[i] ? (uint32_t) MIN (strlen (why[i]), 65535) : 0;
      ok = fwrite (&wl, 4, 1, f) == 1 && fwrite (why[i] ? why[i] : "", 1, wl, f) == wl;
    }
  }
  ok = (fclose (f) == 0) && ok;
  /* Renamed into place only when complete: an interrupted run leaves no
   * half-written cache that a later run would read. */
  if (!ok || rename (tmp, cache) != 0)
    remove (tmp);
  g_free (tmp);
}

/* Prints "WHAT: N files, M used, K dropped: C reason (e.g. PATH); ..." */
static void
report_drops (clar_dataset *ds, char **why)
{
  GHashTable *count = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTable *example = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *order = g_ptr_array_new ();
  GString *s = g_string_new (NULL);
  g_string_printf (s, "%s: %zu files, %zu used, %zu dropped", ds->what ? ds->what : "data",
      ds->n_listed, ds->n_listed - ds->n_dropped, ds->n_dropped);
  for (size_t i = 0; i < ds->n_listed; i++) {
    gpointer c;
    if (!why[i])
      continue;
    if (!g_hash_table_lookup_extended (count, why[i], NULL, &c)) {
      g_ptr_array_add (order, why[i]);
      g_hash_table_insert (example, why[i], GSIZE_TO_POINTER (i));
      c = GSIZE_TO_POINTER (0);
    }
    g_hash_table_insert (count, why[i], GSIZE_TO_POINTER (GPOINTER_TO_SIZE (c) + 1));
  }
  for (guint k = 0; k < order->len; k++) {
    const char *w = g_ptr_array_index (order, k);
    g_string_append_printf (s, "%s %zu %s (e.g. %s)", k ? ";" : ":",
        GPOINTER_TO_SIZE (g_hash_table_lookup (count, w)), w,
        ds->clips[GPOINTER_TO_SIZE (g_hash_table_lookup (example, w))].path);
  }
  fprintf (stderr, "%s\n", s->str);
  g_string_free (s, TRUE);
  g_ptr_array_free (order, TRUE);
  g_hash_table_destroy (count);
  g_hash_table_destroy (example);
}

int
clar_dataset_load (clar_dataset *ds, int rate, const char *cache_dir, int threads)
{
  const clar_dataset_options *o = opts (ds);
  uint64_t h = list_hash (ds, rate);
  gchar *cache = NULL;
  size_t *n = g_new0 (size_t, ds->n_clips + 1), total = 0;
  float **pcm = g_new0 (float *, ds->n_clips + 1);
  char **why = g_new0 (char *, ds->n_clips + 1);
  int from_cache = 0, rc = 0;

  if (cache_dir) {
    gchar *name = g_strdup_printf ("decoded-%016llx.f32", (unsigned long long) h);
    g_mkdir_with_parents (cache_dir, 0755);
    cache = g_build_filename (cache_dir, name, NULL);
    g_free (name);
    from_cache = read_cache (cache, ds->n_clips, pcm, n, why);
    if (from_cache)
      fprintf (stderr, "decoded audio from cache %s\n", cache);
  }
  if (!from_cache) {
    decode_job job = { ds, pcm, n, why, rate, 0 };
    GThreadPool *pool = g_thread_pool_new (decode_one, &job, threads > 0 ? threads : 2, TRUE, NULL);
    gint64 t0 = g_get_monotonic_time (), last = t0;
    for (size_t i = 0; i < ds->n_clips; i++) {
      free (pcm[i]);
      pcm[i] = NULL;
      g_free (why[i]);
      why[i] = NULL;
      n[i] = 0;
      g_thread_pool_push (pool, GSIZE_TO_POINTER (i + 1), NULL);
    }
    while ((size_t) g_atomic_int_get (&job.done) < ds->n_clips) {
      g_usleep (20000);
      if (g_get_monotonic_time () - last > 5 * G_USEC_PER_SEC) {
        last = g_get_monotonic_time ();
        fprintf (stderr, "decoding %d/%zu files (%.0f s)\n", g_atomic_int_get (&job.done),
            ds->n_clips, (last - t0) / 1e6);
      }
    }
    g_thread_pool_free (pool, FALSE, TRUE);
    if (cache)
      write_cache (cache, ds->n_clips, pcm, n, why);
  }
  /* Too short for the tool's window: dropped by the same rule everywhere
   * (audio-decode.h, clar_min_clip_samples). Not cached: it depends on the model. */
  for (size_t i = 0; i < ds->n_clips; i++)
    if (n[i] && o->min_samples && n[i] < o->min_samples) {
      why[i] = g_strdup_printf ("shorter than %.2f of a window (%.3f s)", o->min_fill,
          (double) o->min_samples / rate);
      n[i] = 0;
    }
  ds->n_listed = ds->n_clips;
  ds->n_dropped = 0;
  for (size_t i = 0; i < ds->n_clips; i++) {
    total += n[i];
    ds->n_dropped += n[i] == 0;
    if (!n[i] && !why[i])
      why[i] = g_strdup ("contains no audio samples");
  }
  report_drops (ds, why);
  ds->store = malloc ((total ? total : 1) * sizeof (float));
  ds->store_n = total;
  {
    size_t off = 0, kept = 0;
    for (size_t i = 0; i < ds->n_clips; i++) {
      if (!n[i]) {
        clip_clear (&ds->clips[i]);
        free (pcm[i]);
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
  if (!ds->n_clips) {
    fprintf (stderr, "%s: no clip could be used\n", ds->what ? ds->what : "data");
    rc = -1;
  } else if (ds->n_dropped > o->max_dropped * (double) ds->n_listed) {
    fprintf (stderr, "%s: refusing: %zu of %zu files (%.1f%%) could not be used, more than "
        "--max-dropped %g allows (fix or remove them, or raise --max-dropped)\n",
        ds->what ? ds->what : "data", ds->n_dropped, ds->n_listed,
        100.0 * ds->n_dropped / ds->n_listed, o->max_dropped);
    rc = -1;
  }
  for (size_t i = 0; i < ds->n_listed; i++)
    g_free (why[i]);
  g_free (why);
  g_free (pcm);
  g_free (n);
  g_free (cache);
  return rc;
}

/* MD5 of a file's bytes (hex), NULL if unreadable. */
static char *
file_md5 (const char *path)
{
  GChecksum *c = g_checksum_new (G_CHECKSUM_MD5);
  FILE *f = fopen (path, "rb");
  guchar buf[65536];
  size_t r;
  char *out = NULL;
  if (f) {
    while ((r = fread (buf, 1, sizeof buf, f)) > 0)
      g_checksum_update (c, buf, r);
    if (!ferror (f))
      out = g_strdup (g_checksum_get_string (c));
    fclose (f);
  }
  g_checksum_free (c);
  return out;
}

static void
ensure_md5 (clar_dataset *ds)
{
  for (size_t i = 0; i < ds->n_clips; i++)
    if (!ds->clips[i].md5)
      ds->clips[i].md5 = file_md5 (ds->clips[i].path);
}

char *
clar_dataset_content_list (clar_dataset *ds, const char *prev)
{
  GHashTable *seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GPtrArray *all = g_ptr_array_new ();
  GString *s = g_string_new (NULL);
  gchar **old = prev && *prev ? g_strsplit (prev, ",", -1) : NULL;
  ensure_md5 (ds);
  for (size_t i = 0; old && old[i]; i++)
    if (strlen (old[i]) == 16)
      g_hash_table_add (seen, g_strdup (old[i]));
  for (size_t i = 0; i < ds->n_clips; i++)
    if (ds->clips[i].md5)
      g_hash_table_add (seen, g_strndup (ds->clips[i].md5, 16));
  {
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init (&it, seen);
    while (g_hash_table_iter_next (&it, &k, NULL))
      g_ptr_array_add (all, k);
  }
  g_ptr_array_sort (all, cmp_ptrstr);
  for (guint i = 0; i < all->len; i++)
    g_string_append_printf (s, "%s%s", i ? "," : "", (const char *) g_ptr_array_index (all, i));
  g_ptr_array_free (all, TRUE);
  g_hash_table_destroy (seen);
  g_strfreev (old);
  return g_string_free (s, FALSE);
}

int
clar_dataset_check_list (const char *who, const char *what, const char *list, clar_dataset *test)
{
  GHashTable *set;
  gchar **v;
  unsigned char *keep;
  size_t hits = 0;
  const char *ex = NULL;
  int rc = 0;
  if (!list || !*list)
    return 0;
  ensure_md5 (test);
  v = g_strsplit (list, ",", -1);
  set = g_hash_table_new (g_str_hash, g_str_equal);
  for (size_t i = 0; v[i]; i++)
    g_hash_table_add (set, v[i]);
  keep = g_new (unsigned char, test->n_clips + 1);
  for (size_t i = 0; i < test->n_clips; i++) {
    char key[17];
    keep[i] = 1;
    if (!test->clips[i].md5)
      continue;
    g_strlcpy (key, test->clips[i].md5, sizeof key);
    if (g_hash_table_contains (set, key)) {
      keep[i] = 0;
      hits++;
      if (!ex)
        ex = test->clips[i].path;
    }
  }
  if (hits) {
    fprintf (stderr, "%s: %s %zu of %zu test clips (%s) are clips %s was trained on "
        "(identical file content); e.g. %s\n", who,
        test->opt.exclude_overlap ? "WARNING:" : "refusing:", hits, test->n_clips,
        test->what ? test->what : "test data", what, ex);
    if (test->opt.exclude_overlap) {
      clar_dataset_filter (test, keep);
      fprintf (stderr, "%s: WARNING: those clips are excluded; %zu test clips remain\n", who,
          test->n_clips);
      rc = test->n_clips ? 0 : -1;
    } else {
      fprintf (stderr, "%s: an accuracy on them would not be held-out; evaluate on clips the "
          "model never saw, or --exclude-overlap to score the other clips\n", who);
      rc = -1;
    }
  }
  g_free (keep);
  g_hash_table_destroy (set);
  g_strfreev (v);
  return rc;
}

void
clar_dataset_filter (clar_dataset *ds, const unsigned char *keep)
{
  size_t w = 0;
  for (size_t i = 0; i < ds->n_clips; i++) {
    if (keep[i])
      ds->clips[w++] = ds->clips[i];
    else
      clip_clear (&ds->clips[i]);
  }
  ds->n_clips = w;
}

int
clar_dataset_check_disjoint (const char *who, clar_dataset *train, clar_dataset *test)
{
  GHashTable *paths = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTable *sums = g_hash_table_new (g_str_hash, g_str_equal);
  unsigned char *keep = g_new (unsigned char, test->n_clips + 1);
  size_t by_path = 0, by_content = 0;
  const char *ex_test = NULL, *ex_train = NULL;
  int rc = 0;
  for (size_t i = 0; i < train->n_clips; i++) {
    clar_clip *c = &train->clips[i];
    if (!c->md5)
      c->md5 = file_md5 (c->path);
    g_hash_table_insert (paths, c->path, c->path);
    if (c->md5)
      g_hash_table_insert (sums, c->md5, c->path);
  }
  for (size_t i = 0; i < test->n_clips; i++) {
    clar_clip *c = &test->clips[i];
    const char *other;
    keep[i] = 1;
    if (!c->md5)
      c->md5 = file_md5 (c->path);
    if (g_hash_table_contains (paths, c->path)) {
      by_path++;
      keep[i] = 0;
      if (!ex_test) { ex_test = c->path; ex_train = c->path; }
    } else if (c->md5 && (other = g_hash_table_lookup (sums, c->md5))) {
      by_content++;
      keep[i] = 0;
      if (!ex_test) { ex_test = c->path; ex_train = other; }
    }
  }
  if (by_path + by_content) {
    const char *tr = train->what ? train->what : "training data";
    fprintf (stderr, "%s: %s %zu of %zu test clips (%s) are also training clips (%s): %zu by path, "
        "%zu by identical file content; e.g. %s%s%s\n",
        who, test->opt.exclude_overlap ? "WARNING:" : "refusing:",
        by_path + by_content, test->n_clips, test->what ? test->what : "test data", tr, by_path,
        by_content, ex_test, strcmp (ex_test, ex_train) ? " = " : "", strcmp (ex_test, ex_train) ? ex_train : "");
    if (test->opt.exclude_overlap) {
      clar_dataset_filter (test, keep);
      fprintf (stderr, "%s: WARNING: those clips are excluded; %zu test clips remain\n", who, test->n_clips);
      rc = test->n_clips ? 0 : -1;
    } else {
      fprintf (stderr, "%s: an accuracy on them would not be held-out; use separate splits "
          "(--val-fraction for folders), or --exclude-overlap to score the other clips\n", who);
      rc = -1;
    }
  }
  g_free (keep);
  g_hash_table_destroy (paths);
  g_hash_table_destroy (sums);
  return rc;
}

void
clar_dataset_free (clar_dataset *ds)
{
  for (size_t i = 0; i < ds->n_clips; i++)
    clip_clear (&ds->clips[i]);
  g_free (ds->what);
  for (size_t k = 0; k < ds->n_classes; k++)
    g_free (ds->classes[k]);
  g_free (ds->classes);
  g_free (ds->clips);
  free (ds->store);
  memset (ds, 0, sizeof *ds);
}
