/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * clar-embed: embeddings and labels of audio files, one JSON line per window.
 *
 *   clar-embed [--model FILE] [--labels FILE|PROMPTS.txt] [--prompts "A;B"]
 *              [--window S] [--hop S] [--top-k K] [--embeddings]
 *              [--npy OUT.npy] [--csv OUT.csv] [--events [event options]]
 *              [--events-trace TRACE] FILE|DIR|- ...
 *   clar-embed --events-replay TRACE [event options]
 *
 * A folder stands for every audio file below it (sorted); "-" reads the
 * audio from standard input.
 *
 * With --events it prints one JSON line per sound event instead (libclar's
 * tracker, clar/events.h, over the same windows).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gst/gst.h>
#include <clar/clar.h>
#include "audio-decode.h"
#include "clip-embed.h"
#include "json-print.h"

#ifndef CLAR_DEFAULT_MODEL
#define CLAR_DEFAULT_MODEL "clar-default.safetensors"
#endif

static int
cmp_str (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
usage (FILE *f)
{
  fprintf (f,
      "usage: clar-embed [options] FILE|DIR|- ...\n"
      "  (a folder: every audio file below it; -: the audio on standard input)\n"
      "  --model FILE     model (default: $CLAR_MODEL, else %s)\n"
      "  --labels FILE    label set replacing the model's labels, or a .txt file of\n"
      "                   text prompts, one per line (# comments; needs a text tower)\n"
      "  --prompts \"A;B\"  zero-shot labels: text prompts separated by ';'\n"
      "  --npy FILE       also write the embeddings as a float32 array [windows, dim]\n"
      "                   (numpy.load); row i belongs to output line i\n"
      "  --csv FILE       also write one row per window: file, start, duration, padded,\n"
      "                   rms, silent, label, score, similarity, e0..e(dim-1)\n"
      "                   (pandas.read_csv; a silent window has empty label and e*,\n"
      "                   and a NaN row in --npy)\n"
      "  --window SEC     window length (default: the model's)\n"
      "  --hop SEC        hop between windows (default: the model's)\n"
      "  --top-k K        labels per window (default 3)\n"
      "  --min-fill F     a final partial window is zero-padded and reported when it\n"
      "                   holds at least F of a window (default 0.5, as clarembed's\n"
      "                   eos-min-fill; with --clip 0.1, as clar-eval and the\n"
      "                   trainer); a file with no window at all is an error\n"
      "  --min-rms R      windows with RMS below R are silent: no labels (default %g)\n"
      "  --min-similarity S  windows whose best cosine similarity to any label is\n"
      "                   below S are labelled \"unknown\" (-1..1; default %g)\n"
      "  --embeddings     include the embedding vectors\n"
      "  --clip           one line per file instead of per window: the clip embedding\n"
      "                   (the normalised mean of its windows, every half window, as\n"
      "                   clar-eval and clar-enroll embed a clip) and its labels;\n"
      "                   with --npy, one row per file; not with --window, --hop,\n"
      "                   --min-rms, --csv or --events\n"
      "  --blas-threads N BLAS threads (default 1, or $CLAR_BLAS_THREADS)\n"
      "  --allow-encoder-mismatch  use --labels made with another encoder anyway\n"
      "  --events         print sound events instead of windows (clar/events.h):\n"
      "                   one object per event when it ends: file, label, start, end,\n"
      "                   peak, mean, first_window, last_window (times in seconds)\n"
      "  --event-on P, --event-off P   thresholds on the smoothed score (default 0.5, 0.3)\n"
      "  --event-smoothing none|median:N|exp:ALPHA   (default none)\n"
      "  --event-min-duration SEC, --event-min-gap SEC   (default 0, 0)\n"
      "                   (these three default to the --event-thresholds file's\n"
      "                   \"#%% tracker:\" line when it has one; given, they win)\n"
      "  --event-unknown-similarity S  windows with max cosine similarity below S\n"
      "                   are \"unknown\" (default: --min-similarity's value)\n"
      "  --event-thresholds FILE  per-label thresholds, lines LABEL<TAB>ON[<TAB>OFF];\n"
      "                   a line \"#%% tracker: smoothing=median:3 min-gap-ns=0\n"
      "                   min-duration-ns=0\" (any of the three) names the options the\n"
      "                   thresholds were chosen with (tools/events/calibrate.py\n"
      "                   writes it): they apply unless given on the command line;\n"
      "                   so do lines \"#%% label-tracker: LABEL smoothing=...\" (same\n"
      "                   keys), one label's own options\n"
      "  --event-active-db DB   sharpen event boundaries to the sound around each window's\n"
      "                   loudest 10 ms frame when it is more than DB above the window's\n"
      "                   background (default 10; 0: off)\n"
      "  --events-trace FILE  with --events, also record every window the tracker is fed\n"
      "                   (scores of all labels, times, active span) to FILE\n"
      "  --events-replay FILE  no audio, no model: run the tracker with the event options\n"
      "                   over the windows of a trace and print its events as --events\n"
      "                   does (tools/events/calibrate.sh tries settings this way)\n"
      "Prints one JSON object per window: file, start, duration, labels[, embedding]\n"
      "(--clip: per file: file, duration, windows, labels[, embedding]).\n"
      "A final partial window is zero-padded if it holds at least --min-fill of a window.\n",
      CLAR_DEFAULT_MODEL, CLAR_DEFAULT_MIN_RMS, (double) CLAR_STREAM_DEFAULT_MIN_SIMILARITY);
}

static double
parse_seconds (const char *opt, const char *v)
{
  char *end;
  double x = strtod (v, &end);
  if (end == v || *end || !isfinite (x) || x <= 0 || x > 3600) {
    fprintf (stderr, "clar-embed: %s needs a duration in seconds (0 < s <= 3600), got \"%s\"\n", opt, v);
    exit (2);
  }
  return x;
}

/* A number in [lo, hi] for option opt; exits with status 2 otherwise. */
static double
parse_range (const char *opt, const char *v, double lo, double hi)
{
  char *end;
  double x = strtod (v, &end);
  if (end == v || *end || !isfinite (x) || x < lo || x > hi) {
    fprintf (stderr, "clar-embed: %s needs a number in [%g, %g], got \"%s\"\n", opt, lo, hi, v);
    exit (2);
  }
  return x;
}

/* One JSON line per completed event the tracker holds. */
static void
print_events (const char *file, clar_events *t)
{
  clar_event ev;
  while (clar_events_next (t, &ev)) {
    if (ev.kind != CLAR_EVENT_END)
      continue;
    printf ("{\"file\":");
    clar_json_print_string (stdout, file);
    printf (",\"label\":");
    clar_json_print_string (stdout, ev.name);
    printf (",\"start\":%.3f,\"end\":%.3f,\"peak\":%.4f,\"mean\":%.4f,"
        "\"first_window\":%llu,\"last_window\":%llu}\n", ev.start_ns / 1e9, ev.end_ns / 1e9,
        ev.peak, ev.mean, (unsigned long long) ev.first_window,
        (unsigned long long) ev.last_window);
  }
}

/* --events-trace / --events-replay: the tracker's input as text, so that
 * settings can be tried on it without the encoder. UTF-8, tab-separated:
 *
 *   # clar-embed events trace 1
 *   labels NAME...                     (the label set, in index order)
 *   file NAME HOP_NS                   (a file starts: windows until the next)
 *   w INDEX START END ACTIVE_START ACTIVE_END SIMILARITY SCORE...
 *
 * times in integer nanoseconds, floats with 9 significant digits (a float
 * prints and reads back exactly), so a replay gives the very events of the
 * run that wrote the trace. Names hold no tab, CR or LF. */
#define TRACE_MAGIC "# clar-embed events trace 1"

typedef struct {
  FILE *f;
  size_t n_labels;
} trace_out;

static void
trace_window (void *user, uint64_t index, int64_t start, int64_t end, int64_t a0, int64_t a1,
              const float *scores, float similarity)
{
  trace_out *t = user;
  fprintf (t->f, "w\t%llu\t%lld\t%lld\t%lld\t%lld\t%.9g", (unsigned long long) index,
      (long long) start, (long long) end, (long long) a0, (long long) a1, similarity);
  for (size_t i = 0; i < t->n_labels; i++)
    fprintf (t->f, "\t%.9g", scores[i]);
  fputc ('\n', t->f);
}

static int
trace_name_ok (const char *s)
{
  return *s && !strpbrk (s, "\t\r\n");
}

/* Reads one tab-separated number field at *p (advancing past it and its
 * tab); 0 on success. */
static int
trace_i64 (char **p, long long *out)
{
  char *end;
  errno = 0;
  *out = strtoll (*p, &end, 10);
  if (end == *p || errno || (*end != '\t' && *end != '\0'))
    return -1;
  *p = *end ? end + 1 : end;
  return 0;
}

static int
trace_float (char **p, float *out)
{
  char *end;
  errno = 0;
  *out = strtof (*p, &end);
  if (end == *p || errno == ERANGE || (*end != '\t' && *end != '\0'))
    return -1;
  *p = *end ? end + 1 : end;
  return 0;
}

static void print_events (const char *file, clar_events *t);

/* --events-replay: returns the exit status. */
static int
replay_trace (const char *path, const clar_events_params *ep, unsigned ep_explicit,
              const char *thresholds_path)
{
  FILE *f = fopen (path, "r");
  char *line = NULL, *file = NULL;
  size_t cap = 0;
  ssize_t len;
  unsigned long ln = 0;
  clar_events *t = NULL;
  float *scores = NULL;
  clar_error err;
  int status = 0;

  if (!f) {
    fprintf (stderr, "clar-embed: cannot read %s: %s\n", path, strerror (errno));
    return 1;
  }
#define BAD(...) do { fprintf (stderr, "clar-embed: %s:%lu: ", path, ln); \
    fprintf (stderr, __VA_ARGS__); fputc ('\n', stderr); status = 2; goto done; } while (0)
  while ((len = getline (&line, &cap, f)) >= 0) {
    char *p;
    ln++;
    if (len > 0 && line[len - 1] == '\n')
      line[--len] = '\0';
    if ((size_t) len != strlen (line))
      BAD ("NUL byte (not a trace?)");
    if (ln == 1) {
      if (strcmp (line, TRACE_MAGIC))
        BAD ("not a clar-embed events trace (first line \"%s\")", TRACE_MAGIC);
      continue;
    }
    if (ln == 2) {
      GPtrArray *names = g_ptr_array_new ();
      if (strncmp (line, "labels\t", 7))
        BAD ("expected labels<TAB>NAME...");
      for (p = line + 7; p; ) {
        char *tab = strchr (p, '\t');
        if (tab)
          *tab = '\0';
        g_ptr_array_add (names, p);
        p = tab ? tab + 1 : NULL;
      }
      t = clar_events_new (names->len, (const char *const *) names->pdata, ep, &err);
      scores = calloc (names->len, sizeof (float));
      g_ptr_array_unref (names);
      if (!t || !scores)
        BAD ("%s", t ? "out of memory" : err.message);
      /* The file's options per label ("#% label-tracker:"), where the
       * command line does not give the option: as for "#% tracker:". */
      if (thresholds_path && (clar_events_load_thresholds (t, thresholds_path, &err) != CLAR_OK
              || clar_events_load_label_options (t, thresholds_path, ep_explicit, &err)
              != CLAR_OK)) {
        fprintf (stderr, "clar-embed: %s\n", err.message);
        status = err.code == CLAR_ERR_IO ? 1 : 2;
        goto done;
      }
      continue;
    }
    if (!strncmp (line, "file\t", 5)) {
      char *tab = strrchr (line + 5, '\t');
      long long hop;
      if (file) {
        clar_events_flush (t);
        print_events (file, t);
      }
      g_free (file);
      file = NULL;
      if (!tab || tab == line + 5)
        BAD ("expected file<TAB>NAME<TAB>HOP_NS");
      *tab = '\0';
      p = tab + 1;
      if (trace_i64 (&p, &hop) || *p || clar_events_set_hop (t, hop) != CLAR_OK)
        BAD ("bad hop");
      file = g_strdup (line + 5);
    } else if (!strncmp (line, "w\t", 2) && file) {
      long long v[5];
      float sim;
      int rc;
      p = line + 2;
      for (int i = 0; i < 5; i++)
        if (trace_i64 (&p, &v[i]) || (i == 0 && v[0] < 0))
          BAD ("expected w<TAB>INDEX<TAB>START<TAB>END<TAB>ACTIVE_START<TAB>ACTIVE_END"
              "<TAB>SIMILARITY<TAB>SCORE...");
      if (trace_float (&p, &sim))
        BAD ("bad similarity");
      for (size_t i = 0; i < clar_events_n_labels (t); i++)
        if (!*p || trace_float (&p, &scores[i]))
          BAD ("expected %zu scores", clar_events_n_labels (t));
      if (*p)
        BAD ("more than %zu scores", clar_events_n_labels (t));
      rc = clar_events_push_active (t, (uint64_t) v[0], v[1], v[2], v[3], v[4], scores, sim);
      if (rc != CLAR_OK)
        BAD ("the tracker refuses this window: %s", clar_strerror (rc));
      print_events (file, t);
    } else {
      BAD ("expected a file or w line");
    }
  }
  if (ln < 2)
    BAD ("no labels line: not a complete trace");
  if (ferror (f))
    BAD ("read error");
  if (file) {
    clar_events_flush (t);
    print_events (file, t);
  }
done:
#undef BAD
  fclose (f);
  free (line);
  g_free (file);
  free (scores);
  clar_events_free (t);
  return status;
}

/* The "labels" array of a window's or a clip's JSON line, then its
 * max_similarity and unknown when a label was scored (max_sim not NaN). An
 * open-set verdict (--min-similarity; the element reports such a window
 * the same way) is the single label "unknown". */
static void
print_labels (const clar_labels *labels, const clar_label_score *top, int n_top, int unknown,
              float max_sim)
{
  printf (",\"labels\":[");
  if (unknown) {
    printf ("{\"name\":\"unknown\",\"score\":1,\"similarity\":%.4f}", max_sim);
  } else {
    for (int i = 0; i < n_top; i++) {
      printf ("%s{\"name\":", i ? "," : "");
      clar_json_print_string (stdout, clar_labels_name (labels, top[i].index));
      printf (",\"score\":%.4f,\"similarity\":%.4f}", top[i].score, top[i].similarity);
    }
  }
  printf ("]");
  if (!isnan (max_sim))
    printf (",\"max_similarity\":%.4f,\"unknown\":%s", max_sim, unknown ? "true" : "false");
}

static void
print_embedding (const float *e, size_t dim)
{
  printf (",\"embedding\":[");
  for (size_t i = 0; i < dim; i++)
    printf ("%s%.6g", i ? "," : "", e[i]);
  printf ("]");
}

/* One JSON line for a window the stream computed. */
static void
print_window (const char *file, const clar_model_info *info, const clar_labels *labels,
              int with_emb, const clar_window_result *r)
{
  double rate = info->mel.sample_rate;
  printf ("{\"file\":");
  clar_json_print_string (stdout, file);
  printf (",\"start\":%.3f,\"duration\":%.3f,\"padded\":%s", (double) r->start / rate,
      (double) r->n_samples / rate, r->padded ? "true" : "false");
  /* A silent window (below --min-rms; the encoder did not run) has no
   * label, no similarity (NaN) and is not "unknown". */
  print_labels (labels, r->top, r->n_top, r->unknown, r->max_similarity);
  printf (",\"rms\":%.6g,\"silent\":%s", r->rms, r->silent ? "true" : "false");
  if (with_emb && r->embedding)
    print_embedding (r->embedding, info->embedding_dim);
  printf ("}\n");
}

/* A file with no window at all is an error, not silent nothing (the
 * element posts the same warning); hint names the options that help. */
static void
report_no_window (const char *file, size_t n_samples, double rate, double min_fill,
                  size_t window, const char *hint)
{
  fprintf (stderr, "clar-embed: %s: %.3f s of audio is less than --min-fill %.2f of the "
      "%.3f s window: no window (lower %s)\n", file, (double) n_samples / rate, min_fill,
      (double) window / rate, hint);
}

/* --clip: one JSON line for a whole file. emb is the clip embedding
 * (clip-embed.h), scored against the labels as a window is (labels.h:
 * softmax over scaled cosine); "unknown" below --min-similarity. */
static void
print_clip (const char *file, const clar_model_info *info, const clar_labels *labels,
            int with_emb, size_t n_samples, size_t windows, const float *emb, long top_k,
            float min_similarity, clar_label_score *top)
{
  int n = 0, unknown = 0;
  float sim = NAN;
  printf ("{\"file\":");
  clar_json_print_string (stdout, file);
  printf (",\"duration\":%.3f,\"windows\":%zu", (double) n_samples / info->mel.sample_rate,
      windows);
  if (labels && top_k > 0)
    n = clar_labels_top_k (labels, emb, (size_t) top_k, 0.0f, top);
  /* The stream's rule for a window (labels.h). */
  if (labels)
    unknown = clar_labels_open_set (labels, emb, min_similarity, &sim) == 1;
  print_labels (labels, top, n, unknown, sim);
  if (with_emb)
    print_embedding (emb, info->embedding_dim);
  printf ("}\n");
}

/* The inputs: FILE, every audio file below DIR (sorted), or "-" (standard
 * input, copied to a temporary file that *stdin_tmp names). */
static void
add_input (GPtrArray *out, const char *arg, char **stdin_tmp)
{
  if (!strcmp (arg, "-")) {
    gchar *path = NULL;
    GError *e = NULL;
    int fd = g_file_open_tmp ("clar-embed-stdin-XXXXXX", &path, &e);
    char buf[65536];
    ssize_t r;
    int ok = fd >= 0;
    if (*stdin_tmp) {
      fprintf (stderr, "clar-embed: \"-\" given twice\n");
      exit (2);
    }
    while (ok && (r = read (0, buf, sizeof buf)) != 0) {
      if (r < 0 || write (fd, buf, (size_t) r) != r)
        ok = 0;
    }
    if (fd >= 0)
      close (fd);
    if (!ok) {
      fprintf (stderr, "clar-embed: cannot copy standard input to a temporary file%s%s\n",
          e ? ": " : "", e ? e->message : "");
      exit (1);
    }
    *stdin_tmp = path;
    g_ptr_array_add (out, g_strdup ("-"));
  } else if (g_file_test (arg, G_FILE_TEST_IS_DIR)) {
    GDir *d = g_dir_open (arg, 0, NULL);
    GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
    const char *n;
    guint before = out->len;
    while (d && (n = g_dir_read_name (d)))
      g_ptr_array_add (names, g_build_filename (arg, n, NULL));
    if (d)
      g_dir_close (d);
    g_ptr_array_sort (names, (GCompareFunc) cmp_str);
    for (guint i = 0; i < names->len; i++) {
      const char *p = g_ptr_array_index (names, i);
      if (g_file_test (p, G_FILE_TEST_IS_DIR) || clar_is_audio_file_name (p))
        add_input (out, p, stdin_tmp);
    }
    g_ptr_array_unref (names);
    if (out->len == before)
      fprintf (stderr, "clar-embed: warning: no audio files in folder %s\n", arg);
  } else {
    g_ptr_array_add (out, g_strdup (arg));
  }
}

/* Rows for --npy / --csv. */
typedef struct {
  GArray *emb;         /* float, windows x dim */
  FILE *csv;
  size_t dim, rows;
} table_out;

static void
record_window (table_out *t, const char *file, const clar_model_info *info,
               const clar_labels *labels, const clar_window_result *r)
{
  double rate = info->mel.sample_rate;
  if (!t->emb && !t->csv)
    return;
  if (t->emb) {
    if (r->embedding)
      g_array_append_vals (t->emb, r->embedding, (guint) t->dim);
    else {
      /* A window without an embedding (silent): a row of NaN keeps rows and
       * lines aligned. */
      for (size_t d = 0; d < t->dim; d++) {
        float nan_ = NAN;
        g_array_append_val (t->emb, nan_);
      }
    }
  }
  if (t->csv) {
    /* RFC 4180 quoting of the file name, made valid UTF-8 as in the JSON. */
    gchar *valid = g_utf8_make_valid (file, -1);
    fputc ('"', t->csv);
    for (const char *p = valid; *p; p++) {
      if (*p == '"')
        fputc ('"', t->csv);
      fputc (*p, t->csv);
    }
    g_free (valid);
    fprintf (t->csv, "\",%.3f,%.3f,%d,%.6g,%d,", (double) r->start / rate,
        (double) r->n_samples / rate, r->padded, r->rms, r->silent);
    /* The best label as the JSON line gives it ("unknown" below
     * --min-similarity), its score, and the best cosine similarity. */
    if (r->unknown && !r->silent) {
      fprintf (t->csv, "unknown,1");
    } else if (r->n_top > 0 && labels && !r->silent) {
      const char *name = clar_labels_name (labels, r->top[0].index);
      fputc ('"', t->csv);
      for (const char *p = name; *p; p++) {
        if (*p == '"')
          fputc ('"', t->csv);
        fputc (*p, t->csv);
      }
      fprintf (t->csv, "\",%.4f", r->top[0].score);
    } else {
      fprintf (t->csv, ",");
    }
    if (!isnan (r->max_similarity) && !r->silent)
      fprintf (t->csv, ",%.4f", r->max_similarity);
    else
      fprintf (t->csv, ",");
    for (size_t d = 0; d < t->dim; d++) {
      if (r->embedding)
        fprintf (t->csv, ",%.6g", r->embedding[d]);
      else
        fprintf (t->csv, ",");
    }
    fputc ('\n', t->csv);
  }
  t->rows++;
}

/* NumPy's .npy format 1.0 (numpy.lib.format): magic, version, header
 * length, a Python dict literal padded with spaces to a multiple of 64
 * bytes, then the little-endian float32 data in C order. */
static int
write_npy (const char *path, const float *data, size_t rows, size_t cols)
{
  char dict[128];
  unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0 };
  FILE *f = fopen (path, "wb");
  int n, total, ok;
  if (!f)
    return -1;
  n = snprintf (dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }",
      rows, cols);
  total = ((10 + n + 1 + 63) / 64) * 64;
  pre[8] = (unsigned char) ((total - 10) & 0xff);
  pre[9] = (unsigned char) ((total - 10) >> 8);
  ok = fwrite (pre, 1, 10, f) == 10 && fwrite (dict, 1, (size_t) n, f) == (size_t) n;
  for (int i = 10 + n; ok && i < total - 1; i++)
    ok = fputc (' ', f) != EOF;
  ok = ok && fputc ('\n', f) != EOF;
  /* x86-64 and the other Debian targets that matter here are little-endian;
   * the header says '<f4' so a big-endian host would need a swap. */
  ok = ok && (rows * cols == 0 || fwrite (data, sizeof (float), rows * cols, f) == rows * cols);
  ok = (fclose (f) == 0) && ok;
  return ok ? 0 : -1;
}

int
main (int argc, char **argv)
{
  const char *model_path = NULL, *labels_path = NULL, *prompts = NULL, *npy_path = NULL;
  const char *csv_path = NULL;
  char *stdin_tmp = NULL;
  GPtrArray *inputs;
  table_out tab = { NULL, NULL, 0, 0 };
  double window_s = 0, hop_s = 0;
  long top_k = 3;
  int with_emb = 0, n_files = 0, failures = 0, allow_mismatch = 0, events = 0, clip = 0;
  int window_given = 0, rms_given = 0;
  clar_session *session = NULL;
  float *clip_emb = NULL;
  clar_label_score *clip_top = NULL;
  const char *thresholds_path = NULL, *trace_path = NULL, *replay_path = NULL;
  trace_out trace = { NULL, 0 };
  clar_events_params ep;
  unsigned ep_explicit = 0;   /* clar_events_option: the event options given */
  char **files = calloc ((size_t) argc, sizeof (char *));
  clar_model *model = NULL;
  clar_stream *st = NULL;   /* windows; --clip embeds through session instead */
  clar_labels *labels;
  float min_similarity = CLAR_STREAM_DEFAULT_MIN_SIMILARITY;
  double min_rms = CLAR_DEFAULT_MIN_RMS, min_fill = -1;   /* -1: the mode's default */
  clar_error err;
  const clar_model_info *info;
  size_t W, H;

  clar_events_params_init (&ep);
  for (int i = 1; i < argc; i++) {
    if (!strcmp (argv[i], "--model") && i + 1 < argc) model_path = argv[++i];
    else if (!strcmp (argv[i], "--events")) events = 1;
    else if (!strcmp (argv[i], "--event-on") && i + 1 < argc)
      ep.on_threshold = (float) parse_range ("--event-on", argv[++i], 0, 1);
    else if (!strcmp (argv[i], "--event-off") && i + 1 < argc)
      ep.off_threshold = (float) parse_range ("--event-off", argv[++i], 0, 1);
    else if (!strcmp (argv[i], "--event-min-duration") && i + 1 < argc) {
      ep.min_duration_ns = llround (1e9 * parse_range ("--event-min-duration", argv[++i], 0, 86400));
      ep_explicit |= CLAR_EVENTS_OPT_MIN_DURATION;
    }
    else if (!strcmp (argv[i], "--event-min-gap") && i + 1 < argc) {
      ep.min_gap_ns = llround (1e9 * parse_range ("--event-min-gap", argv[++i], 0, 86400));
      ep_explicit |= CLAR_EVENTS_OPT_MIN_GAP;
    }
    else if (!strcmp (argv[i], "--event-unknown-similarity") && i + 1 < argc)
      ep.unknown_similarity = (float) parse_range ("--event-unknown-similarity", argv[++i], -1, 1);
    else if (!strcmp (argv[i], "--event-thresholds") && i + 1 < argc) thresholds_path = argv[++i];
    else if (!strcmp (argv[i], "--events-trace") && i + 1 < argc) trace_path = argv[++i];
    else if (!strcmp (argv[i], "--events-replay") && i + 1 < argc) replay_path = argv[++i];
    else if (!strcmp (argv[i], "--event-active-db") && i + 1 < argc)
      ep.active_db = (float) parse_range ("--event-active-db", argv[++i], 0, 200);
    else if (!strcmp (argv[i], "--event-smoothing") && i + 1 < argc) {
      if (clar_events_parse_smoothing (argv[++i], &ep, &err) != CLAR_OK) {
        fprintf (stderr, "clar-embed: --event-smoothing: %s\n", err.message);
        return 2;
      }
      /* One flag for the kind and its parameter: none of them from a file. */
      ep_explicit |= CLAR_EVENTS_OPT_SMOOTHING | CLAR_EVENTS_OPT_MEDIAN_WINDOWS
          | CLAR_EVENTS_OPT_EXP_ALPHA;
    }
    else if (!strcmp (argv[i], "--labels") && i + 1 < argc) labels_path = argv[++i];
    else if (!strcmp (argv[i], "--prompts") && i + 1 < argc) prompts = argv[++i];
    else if (!strcmp (argv[i], "--npy") && i + 1 < argc) npy_path = argv[++i];
    else if (!strcmp (argv[i], "--csv") && i + 1 < argc) csv_path = argv[++i];
    else if (!strcmp (argv[i], "--window") && i + 1 < argc) {
      window_s = parse_seconds ("--window", argv[++i]);
      window_given = 1;
    }
    else if (!strcmp (argv[i], "--hop") && i + 1 < argc) {
      hop_s = parse_seconds ("--hop", argv[++i]);
      window_given = 1;
    }
    else if (!strcmp (argv[i], "--top-k") && i + 1 < argc) {
      char *end;
      top_k = strtol (argv[++i], &end, 10);
      if (*end || top_k < 0 || top_k > 1000) {
        fprintf (stderr, "clar-embed: --top-k needs 0..1000\n");
        return 2;
      }
    }
    else if (!strcmp (argv[i], "--embeddings")) with_emb = 1;
    else if (!strcmp (argv[i], "--clip")) clip = 1;
    else if (!strcmp (argv[i], "--min-fill") && i + 1 < argc)
      min_fill = parse_range ("--min-fill", argv[++i], 0, 1);
    else if (!strcmp (argv[i], "--min-rms") && i + 1 < argc) {
      min_rms = parse_range ("--min-rms", argv[++i], 0, 1);
      rms_given = 1;
    }
    else if (!strcmp (argv[i], "--min-similarity") && i + 1 < argc)
      min_similarity = (float) parse_range ("--min-similarity", argv[++i], -1, 1);
    else if (!strcmp (argv[i], "--blas-threads") && i + 1 < argc) {
      char *end;
      long t = strtol (argv[++i], &end, 10);
      if (*end || t < 1 || t > 1024) {
        fprintf (stderr, "clar-embed: --blas-threads needs 1..1024\n");
        return 2;
      }
      setenv ("CLAR_BLAS_THREADS", argv[i], 1);
    }
    else if (!strcmp (argv[i], "--allow-encoder-mismatch")) allow_mismatch = 1;
    else if (!strcmp (argv[i], "--help") || !strcmp (argv[i], "-h")) { usage (stdout); return 0; }
    else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf (stderr, "clar-embed: unknown or incomplete option %s\n", argv[i]);
      usage (stderr);
      return 2;
    }
    else files[n_files++] = argv[i];
  }
  /* --event-unknown-similarity unset: follow --min-similarity. */
  if (ep.unknown_similarity <= -1.0f)
    ep.unknown_similarity = min_similarity;
  /* The tracker options the thresholds were chosen with (clar/events.h,
   * "#% tracker:"), where the command line does not give them. */
  if (thresholds_path && (events || replay_path)
      && clar_events_load_tracker_options (thresholds_path, ep_explicit, &ep, NULL, &err)
      != CLAR_OK) {
    fprintf (stderr, "clar-embed: %s\n", err.message);
    free (files);
    return err.code == CLAR_ERR_IO ? 1 : 2;
  }
  if (replay_path) {
    if (n_files || trace_path || events) {
      fprintf (stderr, "clar-embed: --events-replay takes no audio files, --events or "
          "--events-trace\n");
      free (files);
      return 2;
    }
    int rc = replay_trace (replay_path, &ep, ep_explicit, thresholds_path);
    free (files);
    return rc;
  }
  /* A clip embedding has one definition (clip-embed.h): the model's window
   * every half window over every window, silent ones included. */
  if (clip && (window_given || rms_given || csv_path || events || thresholds_path)) {
    fprintf (stderr, "clar-embed: --clip takes no --window, --hop, --min-rms, --csv or "
        "--events options\n");
    free (files);
    return 2;
  }
  /* Windows follow the element (eos-min-fill 0.5); a clip is embedded as
   * clar-eval and the trainer take it, down to a tenth of a window. */
  if (min_fill < 0)
    min_fill = clip ? CLAR_DATASET_MIN_FILL : 0.5;
  if (trace_path && !events) {
    fprintf (stderr, "clar-embed: --events-trace needs --events\n");
    return 2;
  }
  if (!n_files) {
    usage (stderr);
    return 2;
  }
  if (prompts && labels_path) {
    fprintf (stderr, "clar-embed: --prompts and --labels exclude each other\n");
    return 2;
  }
  if (!model_path)
    model_path = getenv ("CLAR_MODEL") && *getenv ("CLAR_MODEL") ? getenv ("CLAR_MODEL") : CLAR_DEFAULT_MODEL;
  gst_init (NULL, NULL);
  clar_blas_default_threads ();   /* one BLAS thread unless CLAR_BLAS_THREADS says */
  if (clar_model_load_file (model_path, &model, &err) != CLAR_OK) {
    fprintf (stderr, "clar-embed: cannot load model: %s\n", err.message);
    return 1;
  }
  {
    char warn[512];
    /* Only a BLAS fallback that the encoder actually runs on matters here. */
    if (clar_blas_warning (warn, sizeof warn) && !strcmp (clar_encoder_kernel (), "blas"))
      fprintf (stderr, "clar-embed: warning: %s\n", warn);
  }
  info = clar_model_get_info (model);
  W = window_s > 0 ? (size_t) llround (window_s * info->mel.sample_rate) : info->window_samples;
  H = hop_s > 0 ? (size_t) llround (hop_s * info->mel.sample_rate) : info->hop_samples;
  if (W < info->min_samples) {
    fprintf (stderr, "clar-embed: --window is shorter than the model's minimum of %.3f s\n",
        (double) info->min_samples / info->mel.sample_rate);
    return 2;
  }
  if (H < 1)
    H = 1;
  labels = clar_model_get_labels (model);
  if (prompts || (labels_path && g_str_has_suffix (labels_path, ".txt"))) {
    /* Zero-shot labels through the model's text tower (text.h), as the
     * element's labels / labels-location=FILE.txt. */
    char **list = NULL;
    size_t n = 0;
    int rc;
    memset (&err, 0, sizeof err);
    rc = prompts ? clar_text_split_prompts (prompts, ";", &list, &n)
        : clar_text_read_prompts (labels_path, &list, &n, &err);
    if (rc != CLAR_OK) {
      fprintf (stderr, "clar-embed: %s: %s\n", prompts ? "--prompts" : labels_path,
          err.message[0] ? err.message : clar_strerror (rc));
      return rc == CLAR_ERR_IO ? 1 : 2;
    }
    if (n == 0) {
      fprintf (stderr, "clar-embed: %s holds no prompt\n", prompts ? "--prompts" : labels_path);
      clar_text_prompts_free (list);
      return 2;
    }
    labels = clar_labels_from_prompts (model, n, (const char *const *) list, &err);
    clar_text_prompts_free (list);
    if (!labels) {
      fprintf (stderr, "clar-embed: prompts: %s\n", err.message);
      return 1;
    }
    labels_path = prompts ? "--prompts" : labels_path;
  } else if (labels_path) {
    labels = clar_labels_load_file (labels_path, &err);
    if (!labels) {
      fprintf (stderr, "clar-embed: cannot load labels: %s\n", err.message);
      return 1;
    }
  } else if (labels) {
    clar_labels_ref (labels);
  }
  /* Labels made with another encoder score nothing meaningful (model.h). */
  if (labels) {
    const char *what = labels_path ? labels_path : "the model's head";
    switch (clar_model_check_labels (model, labels, &err)) {
      case CLAR_OK:
        break;
      case CLAR_LABELS_UNTIED:
        fprintf (stderr, "clar-embed: warning: %s: %s\n", what, err.message);
        break;
      case CLAR_ERR_ENCODER_MISMATCH:
        if (allow_mismatch) {
          fprintf (stderr, "clar-embed: warning (--allow-encoder-mismatch): %s: %s\n",
              what, err.message);
          break;
        }
        fprintf (stderr, "clar-embed: %s: %s; --allow-encoder-mismatch uses them anyway\n",
            what, err.message);
        return 1;
      default:
        fprintf (stderr, "clar-embed: %s: %s\n", what, err.message);
        return 1;
    }
  }
  if (clip) {
    if (!(session = clar_session_new (model, &err))) {
      fprintf (stderr, "clar-embed: %s\n", err.message);
      return 1;
    }
    clip_emb = calloc (info->embedding_dim, sizeof (float));
    clip_top = calloc (top_k > 0 ? (size_t) top_k : 1, sizeof *clip_top);
    if (!clip_emb || !clip_top) {
      fprintf (stderr, "clar-embed: out of memory\n");
      return 1;
    }
  } else {
    clar_stream_params p;
    clar_stream_params_init (&p);
    p.window_samples = W;
    p.hop_samples = H;
    p.top_k = (size_t) top_k;
    p.eos_min_fill = min_fill;
    p.min_similarity = min_similarity;
    p.min_rms = min_rms;
    st = clar_stream_new (model, &p, &err);
    if (!st) {
      fprintf (stderr, "clar-embed: %s\n", err.message);
      return 1;
    }
    clar_stream_set_labels (st, labels);
  }
  if (events) {
    size_t nl = labels ? clar_labels_count (labels) : 0;
    const char **names = calloc (nl ? nl : 1, sizeof (char *));
    clar_events *t;
    if (!labels) {
      fprintf (stderr, "clar-embed: --events needs labels (the model has none; use --labels)\n");
      return 1;
    }
    for (size_t i = 0; i < nl; i++)
      names[i] = clar_labels_name (labels, i);
    t = clar_events_new (nl, names, &ep, &err);
    free (names);
    if (!t) {
      fprintf (stderr, "clar-embed: %s\n", err.message);
      return 2;
    }
    /* The file's options per label ("#% label-tracker:"), where the
     * command line does not give the option: as for "#% tracker:". */
    if (thresholds_path && (clar_events_load_thresholds (t, thresholds_path, &err) != CLAR_OK
            || clar_events_load_label_options (t, thresholds_path, ep_explicit, &err)
            != CLAR_OK)) {
      fprintf (stderr, "clar-embed: %s\n", err.message);
      clar_events_free (t);
      return err.code == CLAR_ERR_IO ? 1 : 2;
    }
    if (clar_stream_set_events (st, t) != CLAR_OK) {
      fprintf (stderr, "clar-embed: cannot track events\n");
      return 1;
    }
    if (trace_path) {
      for (size_t i = 0; i < nl; i++)
        if (!trace_name_ok (clar_labels_name (labels, i))) {
          fprintf (stderr, "clar-embed: --events-trace: label %zu's name holds a tab or "
              "line break\n", i);
          return 2;
        }
      if (!(trace.f = fopen (trace_path, "w"))) {
        fprintf (stderr, "clar-embed: cannot write %s: %s\n", trace_path, strerror (errno));
        return 1;
      }
      trace.n_labels = nl;
      fprintf (trace.f, "%s\nlabels", TRACE_MAGIC);
      for (size_t i = 0; i < nl; i++)
        fprintf (trace.f, "\t%s", clar_labels_name (labels, i));
      fputc ('\n', trace.f);
      clar_events_set_window_fn (t, trace_window, &trace);
    }
  } else if (thresholds_path) {
    fprintf (stderr, "clar-embed: --event-thresholds needs --events\n");
    return 2;
  }
  inputs = g_ptr_array_new_with_free_func (g_free);
  for (int f = 0; f < n_files; f++)
    add_input (inputs, files[f], &stdin_tmp);
  tab.dim = info->embedding_dim;
  if (npy_path)
    tab.emb = g_array_new (FALSE, FALSE, sizeof (float));
  if (csv_path) {
    if (!(tab.csv = fopen (csv_path, "w"))) {
      fprintf (stderr, "clar-embed: cannot write %s\n", csv_path);
      return 1;
    }
    fprintf (tab.csv, "file,start,duration,padded,rms,silent,label,score,similarity");
    for (size_t d = 0; d < tab.dim; d++)
      fprintf (tab.csv, ",e%zu", d);
    fputc ('\n', tab.csv);
  }
  for (guint f = 0; f < inputs->len; f++) {
    float *pcm = NULL;
    size_t n = 0, pos = 0, used;
    char *msg = NULL;
    clar_window_result r;
    const char *name = g_ptr_array_index (inputs, f);
    const char *src = strcmp (name, "-") ? name : stdin_tmp;
    if (!g_utf8_validate (name, -1, NULL)) {
      gchar *shown = g_utf8_make_valid (name, -1);
      fprintf (stderr, "clar-embed: warning: file name %s is not valid UTF-8: the output "
          "shows each invalid byte as U+FFFD\n", shown);
      g_free (shown);
    }
    if (clar_decode_file (src, info->mel.sample_rate, &pcm, &n, &msg, 0) != 0) {
      /* The message names the temporary copy for "-". */
      fprintf (stderr, "clar-embed: %s%s\n", strcmp (name, "-") ? "" : "standard input: ", msg);
      free (msg);
      failures++;
      continue;
    }
    if (clip) {
      size_t nw = 0, nbad = 0;
      int crc = clar_embed_clip_fill (session, pcm, n, min_fill, clip_emb, &nw, &nbad);
      if (nbad) {
        /* Not a silently smaller mean: the file's status says it. */
        fprintf (stderr, "clar-embed: %s: %zu window%s with NaN or Inf samples left out of the "
            "clip embedding\n", name, nbad, nbad == 1 ? "" : "s");
        failures++;
      }
      if (crc != 0) {
        if (nbad) {
          /* said above */
        } else if (nw == 0)
          report_no_window (name, n, info->mel.sample_rate, min_fill, info->window_samples,
              "--min-fill");
        else
          fprintf (stderr, "clar-embed: %s: no clip embedding (non-finite encoder output)\n",
              name);
        failures += !nbad;
      } else {
        print_clip (name, info, labels, with_emb, n, nw, clip_emb, top_k, min_similarity,
            clip_top);
        if (tab.emb) {
          g_array_append_vals (tab.emb, clip_emb, (guint) tab.dim);
          tab.rows++;
        }
      }
      free (pcm);
      fflush (stdout);
      continue;
    }
    clar_stream_reset (st);
    if (trace.f) {
      if (!trace_name_ok (name)) {
        fprintf (stderr, "clar-embed: --events-trace: file name %s holds a tab or line break\n",
            name);
        free (pcm);
        failures++;
        continue;
      }
      fprintf (trace.f, "file\t%s\t%lld\n", name,
          (long long) clar_events_get_params (clar_stream_get_events (st))->hop_ns);
    }
    size_t windows = 0, refused = 0;
    /* Every full window as the audio is pushed, then (last) the final
     * partial one when it holds --min-fill of a window. */
    for (int last = 0; !last; ) {
      int rc;
      if (pos < n) {
        int ready = clar_stream_push_f32 (st, pcm + pos, n - pos, &used);
        pos += used;
        if (ready != 1)
          continue;
        rc = clar_stream_compute (st, &r);
      } else {
        last = 1;
        rc = clar_stream_flush (st, &r);
        if (rc == CLAR_ERR_INPUT_TOO_SHORT) {
          if (events)   /* the flush ends the events still open */
            print_events (name, clar_stream_get_events (st));
          break;
        }
      }
      windows++;
      if (rc != CLAR_OK) {
        /* NaN or Inf samples: named here, and the exit status says it:
         * no output is silently missing. */
        refused++;
        fprintf (stderr, "clar-embed: %s at %.3f s: %s\n", name,
            (double) r.start / info->mel.sample_rate, clar_strerror (rc));
      }
      if (events)
        print_events (name, clar_stream_get_events (st));
      else if (rc == CLAR_OK) {
        print_window (name, info, labels, with_emb, &r);
        record_window (&tab, name, info, labels, &r);
      }
    }
    failures += refused > 0;
    if (windows == 0) {
      report_no_window (name, n, info->mel.sample_rate, min_fill, W, "--min-fill or --window");
      failures++;
    }
    free (pcm);
    fflush (stdout);
  }
  if (trace.f && fclose (trace.f) != 0) {
    fprintf (stderr, "clar-embed: cannot write %s\n", trace_path);
    failures++;
  }
  if (tab.csv && fclose (tab.csv) != 0) {
    fprintf (stderr, "clar-embed: cannot write %s\n", csv_path);
    failures++;
  }
  if (tab.emb) {
    if (write_npy (npy_path, (const float *) (void *) tab.emb->data, tab.rows, tab.dim) != 0) {
      fprintf (stderr, "clar-embed: cannot write %s\n", npy_path);
      failures++;
    }
    g_array_free (tab.emb, TRUE);
  }
  if (stdin_tmp) {
    unlink (stdin_tmp);
    g_free (stdin_tmp);
  }
  g_ptr_array_unref (inputs);
  clar_stream_free (st);
  clar_session_free (session);
  free (clip_emb);
  free (clip_top);
  clar_labels_unref (labels);
  clar_model_unref (model);
  free (files);
  return failures ? 1 : 0;
}
