/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sound-event tracker (clar/events.h): smoothing, hysteresis, gap filling
 * and minimum duration over per-window label scores. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clar/events.h>
#include <clar/labels.h>
#include "model-private.h"

enum { IDLE, ACTIVE, HANGOVER };

typedef struct track {
  float on, off;
  int enabled;
  int state;
  int announced;          /* START reported */
  int64_t ev_start, ev_end;   /* first cell's start, last active cell's end */
  uint64_t first, last;       /* window indices (last active) */
  double sum;                 /* scores of the event's windows */
  uint64_t count;
  float peak;
  double h_sum;               /* of the gap windows since the last active one */
  uint64_t h_count;
  float h_peak;
  float ema;                  /* exponential smoothing state */
  clar_events_label_options opt;   /* smoothing, gap, duration (per label) */
  size_t before, after;       /* its median: windows each side */
} track;

typedef struct win {
  uint64_t index;
  int64_t cs, ce;             /* the window's cell */
  int64_t rs, re;             /* where it places a sound: the cell refined by
                                 the active span (see the header) */
} win;

struct clar_events {
  clar_events_params p;
  char *unknown_name;
  size_t n_labels, n_tracks;  /* tracks: labels, then unknown */
  char **names;
  track *tracks;
  /* The last ring_cap windows (scores after the open-set step), by
   * sequence number since the last flush: slot seq % ring_cap. At least
   * the widest `before` plus the widest `after` of any track plus one:
   * window s is decided once s + after is in, and its median reaches back
   * to s - before. */
  size_t ring_cap;
  win *wins;
  float *scores;              /* ring_cap x n_tracks */
  uint64_t seq;               /* windows pushed since the last flush */
  uint64_t decided;           /* windows decided since the last flush */
  size_t after;               /* the widest look-ahead of any track */
  int have_prev;
  uint64_t prev_index;
  int64_t prev_start;
  float *tmp;                 /* median scratch, ring_cap */
  float *smoothed;            /* n_tracks */
  unsigned char *starting;    /* n_tracks: START to report after the ENDs */
  clar_event *queue;
  size_t q_head, q_len, q_cap;
  clar_events_window_fn window_fn;   /* observer, nullable */
  void *window_user;
};

void
clar_events_params_init (clar_events_params *p)
{
  if (!p)
    return;
  memset (p, 0, sizeof *p);
  /* Measured on generated scenes (models/README.md, "Sound events"): at the
   * model's 0.5 s hop a median over 3 windows (1.5 s) erases spoken words;
   * active spans 10 dB above the floor did best. */
  p->smoothing = CLAR_EVENTS_SMOOTH_NONE;
  p->median_windows = 3;
  p->exp_alpha = 0.5f;
  p->on_threshold = 0.5f;
  p->off_threshold = 0.3f;
  p->min_duration_ns = 0;
  p->min_gap_ns = 0;
  p->hop_ns = 0;
  p->unknown_similarity = -1.0f;
  p->unknown_on = 0.5f;
  p->unknown_off = 0.5f;
  p->unknown_name = "unknown";
  p->active_db = 10.0f;
}

static int
check_pair (const char *what, float on, float off, clar_error *err)
{
  if (!isfinite (on) || on < 0.0f || on > 1.0f)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "%s on threshold %g is outside [0, 1]", what, (double) on);
  if (!isfinite (off) || off < 0.0f || off > on)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "%s off threshold %g is outside [0, on threshold %g]", what, (double) off, (double) on);
  return CLAR_OK;
}

/* The options of clar_events_params that a label may have of its own. */
static clar_events_label_options
options_of (const clar_events_params *p)
{
  clar_events_label_options o;
  o.smoothing = p->smoothing;
  o.median_windows = p->median_windows;
  o.exp_alpha = p->exp_alpha;
  o.min_gap_ns = p->min_gap_ns;
  o.min_duration_ns = p->min_duration_ns;
  return o;
}

static void
set_options_of (clar_events_params *p, const clar_events_label_options *o)
{
  p->smoothing = o->smoothing;
  p->median_windows = o->median_windows;
  p->exp_alpha = o->exp_alpha;
  p->min_gap_ns = o->min_gap_ns;
  p->min_duration_ns = o->min_duration_ns;
}

/* One check for the params and for each label's options, so that both
 * take the same values. */
static int
check_options (const clar_events_label_options *o, clar_error *err)
{
  if (o->smoothing != CLAR_EVENTS_SMOOTH_NONE && o->smoothing != CLAR_EVENTS_SMOOTH_MEDIAN
      && o->smoothing != CLAR_EVENTS_SMOOTH_EXP)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "events: unknown smoothing %d",
        (int) o->smoothing);
  /* Checked whatever the smoothing: a nonsense value is a mistake even
   * where it is not used yet. */
  if ((o->median_windows < 1 || o->median_windows > CLAR_EVENTS_MEDIAN_MAX))
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "events: median of %u windows; needs 1..%d", o->median_windows, CLAR_EVENTS_MEDIAN_MAX);
  if ((!isfinite (o->exp_alpha) || o->exp_alpha <= 0.0f || o->exp_alpha > 1.0f))
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "events: exponential smoothing factor %g is outside (0, 1]", (double) o->exp_alpha);
  if (o->min_duration_ns < 0 || o->min_duration_ns > CLAR_EVENTS_TIME_MAX)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "events: minimum duration %lld ns is outside [0, 1 day]", (long long) o->min_duration_ns);
  if (o->min_gap_ns < 0 || o->min_gap_ns > CLAR_EVENTS_TIME_MAX)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "events: minimum gap %lld ns is outside [0, 1 day]", (long long) o->min_gap_ns);
  return CLAR_OK;
}

int
clar_events_params_check (const clar_events_params *p, clar_error *err)
{
  clar_events_label_options o;
  int rc;
  if (!p)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "events: NULL parameters");
  o = options_of (p);
  if ((rc = check_options (&o, err)) != CLAR_OK)
    return rc;
  if ((rc = check_pair ("events:", p->on_threshold, p->off_threshold, err)) != CLAR_OK)
    return rc;
  if ((rc = check_pair ("events: unknown", p->unknown_on, p->unknown_off, err)) != CLAR_OK)
    return rc;
  if (p->hop_ns < 0 || p->hop_ns > CLAR_EVENTS_TIME_MAX)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "events: hop %lld ns is outside [0, 1 day]", (long long) p->hop_ns);
  if (!isfinite (p->unknown_similarity) || p->unknown_similarity < -1.0f
      || p->unknown_similarity > 1.0f)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "events: unknown similarity %g is outside [-1, 1]", (double) p->unknown_similarity);
  if (!isfinite (p->active_db) || p->active_db < 0.0f || p->active_db > 200.0f)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "events: active span threshold %g dB is outside [0, 200]", (double) p->active_db);
  if (p->unknown_name && (!*p->unknown_name || strlen (p->unknown_name) >= CLAR_LABEL_NAME_MAX))
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "events: the unknown track's name must be 1..%d bytes", CLAR_LABEL_NAME_MAX - 1);
  return CLAR_OK;
}

static char *
dup_str (const char *s)
{
  size_t n = strlen (s) + 1;
  char *d = malloc (n);
  if (d)
    memcpy (d, s, n);
  return d;
}

void
clar_events_free (clar_events *t)
{
  if (!t)
    return;
  if (t->names)
    for (size_t i = 0; i < t->n_labels; i++)
      free (t->names[i]);
  free (t->names);
  free (t->unknown_name);
  free (t->tracks);
  free (t->wins);
  free (t->scores);
  free (t->tmp);
  free (t->smoothed);
  free (t->starting);
  free (t->queue);
  free (t);
}

static void
reset_tracks (clar_events *t)
{
  for (size_t k = 0; k < t->n_tracks; k++) {
    track *tr = &t->tracks[k];
    tr->state = IDLE;
    tr->announced = 0;
    tr->ema = 0.0f;
  }
  t->seq = t->decided = 0;
  t->have_prev = 0;
}

/* A track's median: the windows before and after the centre. Centred:
 * (N-1)/2 each side for odd N; N/2 before and N/2 - 1 after for even N
 * (the usual convention of an even-length centred filter, e.g.
 * scipy.ndimage.median_filter's origin 0). No median: none either side. */
static void
median_span (const clar_events_label_options *o, size_t *before, size_t *after)
{
  size_t n = o->smoothing == CLAR_EVENTS_SMOOTH_MEDIAN ? o->median_windows : 1;
  *after = n % 2 ? (n - 1) / 2 : n / 2 - 1;
  *before = n - 1 - *after;
}

/* Gives track k the options all[k] (checked), for every k. Only while no
 * window is pending: the ring and the decision delay depend on them. The
 * ring grows first, so that nothing changes when it cannot (it never
 * shrinks: a larger one holds what a smaller one would). */
static int
commit_options (clar_events *t, const clar_events_label_options *all, clar_error *err)
{
  size_t bmax = 0, amax = 0, cap;
  if (t->seq)
    return clar_set_error (err, CLAR_ERR_UNSUPPORTED,
        "events: windows are pending; tracker options change only after a flush");
  for (size_t k = 0; k < t->n_tracks; k++) {
    size_t b, a;
    median_span (&all[k], &b, &a);
    if (b > bmax)
      bmax = b;
    if (a > amax)
      amax = a;
  }
  /* bmax + amax < 2 CLAR_EVENTS_MEDIAN_MAX and n_tracks <= CLAR_LABELS_MAX
   * + 1: no overflow. */
  cap = bmax + amax + 1;
  if (cap > t->ring_cap) {
    win *w = calloc (cap, sizeof (win));
    float *sc = calloc (cap * t->n_tracks, sizeof (float));
    float *tmp = calloc (cap, sizeof (float));
    if (!w || !sc || !tmp) {
      free (w);
      free (sc);
      free (tmp);
      return clar_set_error (err, CLAR_ERR_NO_MEMORY,
          "events: out of memory for a median of %zu windows", cap);
    }
    free (t->wins);
    free (t->scores);
    free (t->tmp);
    t->wins = w;
    t->scores = sc;
    t->tmp = tmp;
    t->ring_cap = cap;
  }
  for (size_t k = 0; k < t->n_tracks; k++) {
    track *tr = &t->tracks[k];
    tr->opt = all[k];
    median_span (&tr->opt, &tr->before, &tr->after);
  }
  t->after = amax;
  return CLAR_OK;
}

clar_events *
clar_events_new (size_t n_labels, const char *const *names,
                 const clar_events_params *params, clar_error *err)
{
  clar_events_params defaults;
  clar_events_label_options *all = NULL;
  clar_events *t;

  if (!params) {
    clar_events_params_init (&defaults);
    params = &defaults;
  }
  if (clar_events_params_check (params, err) != CLAR_OK)
    return NULL;
  if (n_labels < 1 || n_labels > CLAR_LABELS_MAX || !names) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "events: %zu labels; needs 1..%d names", n_labels, CLAR_LABELS_MAX);
    return NULL;
  }
  for (size_t i = 0; i < n_labels; i++)
    if (!names[i] || !*names[i] || strlen (names[i]) >= CLAR_LABEL_NAME_MAX) {
      clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "events: label %zu has no name or one of %d bytes or more", i, CLAR_LABEL_NAME_MAX);
      return NULL;
    }
  t = calloc (1, sizeof *t);
  if (!t)
    goto oom;
  t->p = *params;
  t->n_labels = n_labels;
  t->n_tracks = n_labels + 1;
  t->unknown_name = dup_str (params->unknown_name ? params->unknown_name : "unknown");
  t->p.unknown_name = t->unknown_name;
  t->names = calloc (n_labels, sizeof (char *));
  t->tracks = calloc (t->n_tracks, sizeof (track));
  t->smoothed = calloc (t->n_tracks, sizeof (float));
  t->starting = calloc (t->n_tracks, 1);
  all = malloc (t->n_tracks * sizeof *all);
  if (!t->unknown_name || !t->names || !t->tracks || !t->smoothed || !t->starting || !all)
    goto oom;
  /* Every track starts with the params' options (the ring with them). */
  for (size_t k = 0; k < t->n_tracks; k++)
    all[k] = options_of (params);
  if (commit_options (t, all, NULL) != CLAR_OK)
    goto oom;
  free (all);
  all = NULL;
  for (size_t i = 0; i < n_labels; i++)
    if (!(t->names[i] = dup_str (names[i])))
      goto oom;
  for (size_t k = 0; k < t->n_tracks; k++) {
    t->tracks[k].on = k < n_labels ? params->on_threshold : params->unknown_on;
    t->tracks[k].off = k < n_labels ? params->off_threshold : params->unknown_off;
    /* The unknown track exists only when a similarity bound is set. */
    t->tracks[k].enabled = k < n_labels || params->unknown_similarity > -1.0f;
  }
  reset_tracks (t);
  return t;

oom:
  free (all);
  clar_events_free (t);
  clar_set_error (err, CLAR_ERR_NO_MEMORY, "events: out of memory for %zu labels", n_labels);
  return NULL;
}

size_t
clar_events_n_labels (const clar_events *t)
{
  return t ? t->n_labels : 0;
}

const clar_events_params *
clar_events_get_params (const clar_events *t)
{
  return t ? &t->p : NULL;
}

int
clar_events_set_hop (clar_events *t, int64_t hop_ns)
{
  if (!t || hop_ns < 0 || hop_ns > CLAR_EVENTS_TIME_MAX)
    return CLAR_ERR_INVALID_ARGUMENT;
  t->p.hop_ns = hop_ns;
  return CLAR_OK;
}

static track *
track_of (const clar_events *t, size_t label)
{
  if (!t)
    return NULL;
  if (label == CLAR_EVENTS_UNKNOWN)
    return &t->tracks[t->n_labels];
  return label < t->n_labels ? &t->tracks[label] : NULL;
}

int
clar_events_set_thresholds (clar_events *t, size_t label, float on, float off)
{
  track *tr = track_of (t, label);
  if (!tr || check_pair ("", on, off, NULL) != CLAR_OK)
    return CLAR_ERR_INVALID_ARGUMENT;
  tr->on = on;
  tr->off = off;
  return CLAR_OK;
}

int
clar_events_get_thresholds (const clar_events *t, size_t label, float *on, float *off)
{
  const track *tr = track_of (t, label);
  if (!tr)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (on)
    *on = tr->on;
  if (off)
    *off = tr->off;
  return CLAR_OK;
}

void
clar_events_set_window_fn (clar_events *t, clar_events_window_fn fn, void *user)
{
  if (!t)
    return;
  t->window_fn = fn;
  t->window_user = user;
}

int
clar_events_set_enabled (clar_events *t, size_t label, int enabled)
{
  track *tr = track_of (t, label);
  if (!tr)
    return CLAR_ERR_INVALID_ARGUMENT;
  tr->enabled = enabled != 0;
  return CLAR_OK;
}

int
clar_events_set_label_options (clar_events *t, size_t label, const clar_events_label_options *o)
{
  clar_events_label_options *all;
  track *tr = track_of (t, label);
  int rc;
  if (!tr || !o || check_options (o, NULL) != CLAR_OK)
    return CLAR_ERR_INVALID_ARGUMENT;
  /* commit_options refuses while windows are pending. */
  all = malloc (t->n_tracks * sizeof *all);
  if (!all)
    return CLAR_ERR_NO_MEMORY;
  for (size_t k = 0; k < t->n_tracks; k++)
    all[k] = t->tracks[k].opt;
  all[tr - t->tracks] = *o;
  rc = commit_options (t, all, NULL);
  free (all);
  return rc;
}

int
clar_events_get_label_options (const clar_events *t, size_t label, clar_events_label_options *o)
{
  const track *tr = track_of (t, label);
  if (!tr || !o)
    return CLAR_ERR_INVALID_ARGUMENT;
  *o = tr->opt;
  return CLAR_OK;
}

/* A threshold field: the whole field must be a number (no trailing junk). */
static int
parse_threshold (const char *s, size_t len, float *out)
{
  char buf[64], *end;
  double v;
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
    len--;
  if (len == 0 || len >= sizeof buf)
    return -1;
  memcpy (buf, s, len);
  buf[len] = '\0';
  errno = 0;
  v = strtod (buf, &end);
  if (end == buf || *end || errno == ERANGE || !isfinite (v))
    return -1;
  *out = (float) v;
  return 0;
}

int
clar_events_parse_thresholds (clar_events *t, const char *text, size_t len,
                              const char *source, clar_error *err)
{
  float *on, *off;
  unsigned char *seen;
  const char *p = text, *end = text + len;
  unsigned line = 0;
  int rc = CLAR_OK;

  if (!source)
    source = "thresholds";
  if (!t || (!text && len))
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "%.150s: NULL argument", source);
  on = malloc (t->n_tracks * sizeof (float));
  off = malloc (t->n_tracks * sizeof (float));
  seen = calloc (t->n_tracks, 1);
  if (!on || !off || !seen) {
    free (on);
    free (off);
    free (seen);
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "%.150s: out of memory", source);
  }
  for (size_t k = 0; k < t->n_tracks; k++) {
    on[k] = t->tracks[k].on;
    off[k] = t->tracks[k].off;
  }
  while (p < end && rc == CLAR_OK) {
    const char *nl = memchr (p, '\n', (size_t) (end - p));
    const char *le = nl ? nl : end, *tab1, *tab2;
    size_t k, name_len;
    float a, b;

    line++;
    if (le > p && le[-1] == '\r')
      le--;
    if (memchr (p, '\0', (size_t) (le - p))) {
      rc = clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "%.150s:%u: NUL byte (not a text file?)",
          source, line);
      break;
    }
    if (le == p || *p == '#')
      goto next;
    tab1 = memchr (p, '\t', (size_t) (le - p));
    if (!tab1) {
      rc = clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "%.150s:%u: expected LABEL<TAB>ON[<TAB>OFF], found no tab", source, line);
      break;
    }
    name_len = (size_t) (tab1 - p);
    for (k = 0; k < t->n_tracks; k++) {
      const char *nm = k < t->n_labels ? t->names[k] : t->unknown_name;
      if (strlen (nm) == name_len && !memcmp (nm, p, name_len))
        break;
    }
    if (k == t->n_tracks) {
      rc = clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "%.150s:%u: no label \"%.*s\" in this label set", source, line,
          (int) (name_len > 64 ? 64 : name_len), p);
      break;
    }
    if (seen[k]) {
      rc = clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "%.150s:%u: label \"%.64s\" appears twice", source, line,
          k < t->n_labels ? t->names[k] : t->unknown_name);
      break;
    }
    seen[k] = 1;
    tab2 = memchr (tab1 + 1, '\t', (size_t) (le - tab1 - 1));
    if (parse_threshold (tab1 + 1, (size_t) ((tab2 ? tab2 : le) - tab1 - 1), &a) != 0
        || (tab2 && (parse_threshold (tab2 + 1, (size_t) (le - tab2 - 1), &b) != 0
                || memchr (tab2 + 1, '\t', (size_t) (le - tab2 - 1))))) {
      rc = clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "%.150s:%u: expected LABEL<TAB>ON[<TAB>OFF] with decimal thresholds", source, line);
      break;
    }
    if (!tab2)
      b = a;
    {
      char what[96];
      snprintf (what, sizeof what, "%.60s:%u:", source, line);
      if ((rc = check_pair (what, a, b, err)) != CLAR_OK)
        break;
    }
    on[k] = a;
    off[k] = b;
  next:
    if (!nl)
      break;
    p = nl + 1;
  }
  if (rc == CLAR_OK)
    for (size_t k = 0; k < t->n_tracks; k++) {
      t->tracks[k].on = on[k];
      t->tracks[k].off = off[k];
    }
  free (on);
  free (off);
  free (seen);
  return rc;
}

/* A threshold file's text. One line per label: 16 MiB is far beyond any
 * real file. */
static int
read_thresholds_file (const char *path, char **buf, size_t *size, clar_error *err)
{
  return clar_read_small_file (path, 16L * 1024 * 1024, buf, size, err);
}

int
clar_events_load_thresholds (clar_events *t, const char *path, clar_error *err)
{
  char *buf;
  size_t size;
  int rc;
  if (!t || !path)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "events thresholds: NULL argument");
  rc = read_thresholds_file (path, &buf, &size, err);
  if (rc != CLAR_OK)
    return rc;
  rc = clar_events_parse_thresholds (t, buf, size, path, err);
  free (buf);
  return rc;
}

int
clar_events_parse_smoothing (const char *spec, clar_events_params *p, clar_error *err)
{
  char *end;
  if (!spec || !p)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "smoothing: NULL argument");
  if (!strcmp (spec, "none")) {
    p->smoothing = CLAR_EVENTS_SMOOTH_NONE;
    return CLAR_OK;
  }
  if (!strncmp (spec, "median:", 7)) {
    long n;
    errno = 0;
    n = strtol (spec + 7, &end, 10);
    if (end != spec + 7 && !*end && errno == 0 && n >= 1 && n <= CLAR_EVENTS_MEDIAN_MAX) {
      p->smoothing = CLAR_EVENTS_SMOOTH_MEDIAN;
      p->median_windows = (unsigned) n;
      return CLAR_OK;
    }
  } else if (!strncmp (spec, "exp:", 4)) {
    double a = strtod (spec + 4, &end);
    if (end != spec + 4 && !*end && isfinite (a) && a > 0 && a <= 1) {
      p->smoothing = CLAR_EVENTS_SMOOTH_EXP;
      p->exp_alpha = (float) a;
      return CLAR_OK;
    }
  }
  return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
      "smoothing \"%.60s\": expected none, median:N (N = 1..%d) or exp:ALPHA (0 < ALPHA <= 1)",
      spec, CLAR_EVENTS_MEDIAN_MAX);
}

/* The keys of a "#% tracker:" or "#% label-tracker:" directive (see the
 * header) and the option each one is. */
static const struct {
  const char *key;
  unsigned opt;
} tracker_keys[] = {
  { "smoothing", CLAR_EVENTS_OPT_SMOOTHING },
  { "min-gap-ns", CLAR_EVENTS_OPT_MIN_GAP },
  { "min-duration-ns", CLAR_EVENTS_OPT_MIN_DURATION },
};

/* A duration value: decimal digits only (no sign, no spaces: strtoll alone
 * would take " +5"), 0..CLAR_EVENTS_TIME_MAX. Returns 0, -1 (not such a
 * number) or -2 (out of range). */
static int
parse_ns (const char *s, int64_t *out)
{
  long long v;
  char *end;
  int neg = *s == '-';
  if (!(s[neg] >= '0' && s[neg] <= '9'))
    return -1;
  errno = 0;
  v = strtoll (s, &end, 10);
  if (*end)
    return -1;
  if (errno == ERANGE || v < 0 || v > CLAR_EVENTS_TIME_MAX)
    return -2;
  *out = (int64_t) v;
  return 0;
}

enum { DIR_NONE, DIR_TRACKER, DIR_LABEL_TRACKER };

/* Which directive the line [line, le) is, for both directive parsers, so
 * that they agree on what a directive is: DIR_NONE for a line not starting
 * with "#%"; otherwise the line must be text, *rest is set after the
 * directive's name, and a name other than "tracker:" or "label-tracker:" is
 * an error (a misspelt directive must not pass for a comment). */
static int
directive_of (const char *line, const char *le, const char *source, unsigned ln, int *kind,
              const char **rest, clar_error *err)
{
  const char *f;
  size_t bad;
  *kind = DIR_NONE;
  if (le - line < 2 || memcmp (line, "#%", 2))
    return CLAR_OK;
  if (memchr (line, '\0', (size_t) (le - line)))
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "%.150s:%u: NUL byte in a directive line (not a text file?)", source, ln);
  if ((bad = clar_utf8_invalid_at (line, (size_t) (le - line))) != (size_t) -1)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "%.150s:%u: directive line is not valid UTF-8 (byte %zu of the line)", source, ln, bad + 1);
  for (f = line + 2; f < le && (*f == ' ' || *f == '\t'); f++)
    ;
  if (le - f >= 8 && !memcmp (f, "tracker:", 8)) {
    *kind = DIR_TRACKER;
    *rest = f + 8;
  } else if (le - f >= 14 && !memcmp (f, "label-tracker:", 14)) {
    *kind = DIR_LABEL_TRACKER;
    *rest = f + 14;
  } else {
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "%.150s:%u: unknown directive \"%.*s\"; the only ones are \"#%% tracker:\" and "
        "\"#%% label-tracker:\"", source, ln, (int) (le - line > 40 ? 40 : le - line), line);
  }
  return CLAR_OK;
}

/* The KEY=VALUE fields of a directive, [f, le), into q. A key already in
 * *given is an error (given twice); *given gains each key, *got the
 * options the fields name (median:N names the median's width too). The
 * one reader of these fields for both directives: they take the same
 * syntax and values. */
static int
parse_fields (const char *f, const char *le, const char *source, unsigned ln,
              const char *directive, clar_events_params *q, unsigned *given, unsigned *got,
              clar_error *err)
{
  for (;;) {
    const char *tok, *eq;
    size_t k, vlen;
    char val[64];
    int r;

    while (f < le && (*f == ' ' || *f == '\t'))
      f++;
    if (f == le)
      return CLAR_OK;
    for (tok = f; f < le && *f != ' ' && *f != '\t'; f++)
      ;
    eq = memchr (tok, '=', (size_t) (f - tok));
    if (!eq || eq == tok)
      return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "%.150s:%u: expected KEY=VALUE in the %s directive, found \"%.*s\"", source, ln,
          directive, (int) (f - tok > 40 ? 40 : f - tok), tok);
    for (k = 0; k < sizeof tracker_keys / sizeof tracker_keys[0]; k++)
      if (strlen (tracker_keys[k].key) == (size_t) (eq - tok)
          && !memcmp (tracker_keys[k].key, tok, (size_t) (eq - tok)))
        break;
    if (k == sizeof tracker_keys / sizeof tracker_keys[0])
      return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "%.150s:%u: unknown tracker option \"%.*s\" (known: smoothing, min-gap-ns, "
          "min-duration-ns)", source, ln, (int) (eq - tok > 40 ? 40 : eq - tok), tok);
    if (*given & tracker_keys[k].opt)
      return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "%.150s:%u: tracker option \"%s\" given twice", source, ln, tracker_keys[k].key);
    *given |= tracker_keys[k].opt;
    vlen = (size_t) (f - eq - 1);
    if (vlen >= sizeof val)
      return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "%.150s:%u: tracker option %s: value of %zu bytes is too long", source, ln,
          tracker_keys[k].key, vlen);
    memcpy (val, eq + 1, vlen);
    val[vlen] = '\0';
    if (tracker_keys[k].opt == CLAR_EVENTS_OPT_SMOOTHING) {
      clar_error e;
      if (clar_events_parse_smoothing (val, q, &e) != CLAR_OK)
        return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "%.150s:%u: %s", source, ln,
            e.message);
      /* median:N and exp:ALPHA name their parameter too. */
      *got |= CLAR_EVENTS_OPT_SMOOTHING
          | (q->smoothing == CLAR_EVENTS_SMOOTH_MEDIAN ? CLAR_EVENTS_OPT_MEDIAN_WINDOWS
              : q->smoothing == CLAR_EVENTS_SMOOTH_EXP ? CLAR_EVENTS_OPT_EXP_ALPHA : 0);
      continue;
    }
    r = parse_ns (val, tracker_keys[k].opt == CLAR_EVENTS_OPT_MIN_GAP ? &q->min_gap_ns
        : &q->min_duration_ns);
    if (r == -1)
      return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "%.150s:%u: tracker option %s: \"%s\" is not a whole number of nanoseconds",
          source, ln, tracker_keys[k].key, val);
    if (r == -2)
      return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "%.150s:%u: tracker option %s: %s ns is outside [0, %lld] (1 day)", source, ln,
          tracker_keys[k].key, val, (long long) CLAR_EVENTS_TIME_MAX);
    *got |= tracker_keys[k].opt;
  }
}

/* The options in mask from `from` into `to` (the named ones a caller did
 * not keep). */
static void
take_options (clar_events_params *to, const clar_events_params *from, unsigned mask)
{
  if (mask & CLAR_EVENTS_OPT_SMOOTHING)
    to->smoothing = from->smoothing;
  if (mask & CLAR_EVENTS_OPT_MEDIAN_WINDOWS)
    to->median_windows = from->median_windows;
  if (mask & CLAR_EVENTS_OPT_EXP_ALPHA)
    to->exp_alpha = from->exp_alpha;
  if (mask & CLAR_EVENTS_OPT_MIN_GAP)
    to->min_gap_ns = from->min_gap_ns;
  if (mask & CLAR_EVENTS_OPT_MIN_DURATION)
    to->min_duration_ns = from->min_duration_ns;
}

int
clar_events_parse_tracker_options (const char *text, size_t len, const char *source,
                                   unsigned keep, clar_events_params *p, unsigned *named,
                                   clar_error *err)
{
  clar_events_params q;
  const char *line = text, *end = text + len;
  unsigned ln = 0, given = 0, got = 0;

  if (!source)
    source = "thresholds";
  if (!p || (!text && len))
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "%.150s: NULL argument", source);
  /* Parsed into a copy: p changes only when the whole text is good. */
  q = *p;
  while (line < end) {
    const char *nl = memchr (line, '\n', (size_t) (end - line));
    const char *le = nl ? nl : end, *f = NULL;
    int kind, rc;

    ln++;
    if (le > line && le[-1] == '\r')
      le--;
    if ((rc = directive_of (line, le, source, ln, &kind, &f, err)) != CLAR_OK)
      return rc;
    /* "#% label-tracker:" is clar_events_parse_label_options' job. */
    if (kind == DIR_TRACKER
        && (rc = parse_fields (f, le, source, ln, "tracker", &q, &given, &got, err)) != CLAR_OK)
      return rc;
    if (!nl)
      break;
    line = nl + 1;
  }
  /* The file's options, except those the user set. */
  take_options (p, &q, got & ~keep);
  if (named)
    *named = got;
  return CLAR_OK;
}

int
clar_events_load_tracker_options (const char *path, unsigned keep, clar_events_params *p,
                                  unsigned *named, clar_error *err)
{
  char *buf = NULL;
  size_t size = 0;
  int rc = !path || !p ? clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
      "events tracker options: NULL argument") : read_thresholds_file (path, &buf, &size, err);
  if (rc == CLAR_OK)
    rc = clar_events_parse_tracker_options (buf, size, path, keep, p, named, err);
  free (buf);
  return rc;
}

/* The track a "#% label-tracker:" line names: the longest name (label or
 * unknown) that [f, le) starts with, followed by a space, a tab or the
 * line's end (names may hold spaces). Returns n_tracks when none; *len is
 * the name's length. */
static size_t
label_at (const clar_events *t, const char *f, const char *le, size_t *len)
{
  size_t best = t->n_tracks, best_len = 0;
  for (size_t k = 0; k < t->n_tracks; k++) {
    const char *nm = k < t->n_labels ? t->names[k] : t->unknown_name;
    size_t n = strlen (nm);
    if (n > (size_t) (le - f) || (best < t->n_tracks && n <= best_len) || memcmp (f, nm, n))
      continue;
    if (f + n < le && f[n] != ' ' && f[n] != '\t')
      continue;
    best = k;
    best_len = n;
  }
  *len = best_len;
  return best;
}

int
clar_events_parse_label_options (clar_events *t, const char *text, size_t len,
                                 const char *source, unsigned keep, clar_error *err)
{
  clar_events_label_options *all;
  unsigned *seen;             /* the line of each track's directive, 0: none */
  const char *line = text, *end = text + len;
  unsigned ln = 0;
  int rc = CLAR_OK;

  if (!source)
    source = "thresholds";
  if (!t || (!text && len))
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "%.150s: NULL argument", source);
  if (t->seq)
    return clar_set_error (err, CLAR_ERR_UNSUPPORTED,
        "%.150s: windows are pending; label tracker options change only after a flush", source);
  /* Parsed into copies: the tracker changes only when the whole text is good. */
  all = malloc (t->n_tracks * sizeof *all);
  seen = calloc (t->n_tracks, sizeof *seen);
  if (!all || !seen) {
    free (all);
    free (seen);
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "%.150s: out of memory", source);
  }
  for (size_t k = 0; k < t->n_tracks; k++)
    all[k] = t->tracks[k].opt;
  while (line < end) {
    const char *nl = memchr (line, '\n', (size_t) (end - line));
    const char *le = nl ? nl : end, *f = NULL;
    clar_events_params q, r;
    unsigned given = 0, got = 0;
    size_t k, name_len;
    int kind;

    ln++;
    if (le > line && le[-1] == '\r')
      le--;
    if ((rc = directive_of (line, le, source, ln, &kind, &f, err)) != CLAR_OK)
      break;
    if (kind != DIR_LABEL_TRACKER)
      goto next;
    while (f < le && (*f == ' ' || *f == '\t'))
      f++;
    k = label_at (t, f, le, &name_len);
    if (k == t->n_tracks) {
      /* For the message: the text before the first KEY=VALUE field. */
      const char *e = f, *w = f;
      while (w < le) {
        const char *we = w;
        while (we < le && *we != ' ' && *we != '\t')
          we++;
        if (memchr (w, '=', (size_t) (we - w)))
          break;
        e = we;
        while (we < le && (*we == ' ' || *we == '\t'))
          we++;
        w = we;
      }
      if (e == f)
        rc = clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
            "%.150s:%u: expected a label name after \"#%% label-tracker:\"", source, ln);
      else
        rc = clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
            "%.150s:%u: no label \"%.*s\" in this label set", source, ln,
            (int) (e - f > 64 ? 64 : e - f), f);
      break;
    }
    if (seen[k]) {
      rc = clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "%.150s:%u: label \"%.64s\" has a label-tracker line already (line %u)", source, ln,
          k < t->n_labels ? t->names[k] : t->unknown_name, seen[k]);
      break;
    }
    seen[k] = ln;
    clar_events_params_init (&q);
    set_options_of (&q, &all[k]);
    r = q;
    if ((rc = parse_fields (f + name_len, le, source, ln, "label-tracker", &q, &given, &got,
        err)) != CLAR_OK)
      break;
    /* The label's options named here, except those the user set. */
    take_options (&r, &q, got & ~keep);
    all[k] = options_of (&r);
  next:
    if (!nl)
      break;
    line = nl + 1;
  }
  if (rc == CLAR_OK)
    rc = commit_options (t, all, err);
  free (all);
  free (seen);
  return rc;
}

int
clar_events_load_label_options (clar_events *t, const char *path, unsigned keep,
                                clar_error *err)
{
  char *buf = NULL;
  size_t size = 0;
  int rc = !t || !path ? clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
      "events label tracker options: NULL argument")
      : read_thresholds_file (path, &buf, &size, err);
  if (rc == CLAR_OK)
    rc = clar_events_parse_label_options (t, buf, size, path, keep, err);
  free (buf);
  return rc;
}

/* Room for `more` events in the queue (compacting it first). */
static int
reserve (clar_events *t, size_t more)
{
  if (t->q_head) {
    memmove (t->queue, t->queue + t->q_head, (t->q_len - t->q_head) * sizeof (clar_event));
    t->q_len -= t->q_head;
    t->q_head = 0;
  }
  if (t->q_len + more > t->q_cap) {
    size_t cap = (t->q_len + more) * 2;
    clar_event *q = realloc (t->queue, cap * sizeof (clar_event));
    if (!q)
      return CLAR_ERR_NO_MEMORY;
    t->queue = q;
    t->q_cap = cap;
  }
  return CLAR_OK;
}

static void
emit (clar_events *t, size_t k, clar_event_kind kind)
{
  const track *tr = &t->tracks[k];
  clar_event *e = &t->queue[t->q_len++];
  e->kind = kind;
  e->label = k < t->n_labels ? k : CLAR_EVENTS_UNKNOWN;
  e->name = k < t->n_labels ? t->names[k] : t->unknown_name;
  e->start_ns = tr->ev_start;
  e->end_ns = tr->ev_end;
  e->peak = tr->peak;
  e->mean = tr->count ? (float) (tr->sum / (double) tr->count) : 0.0f;
  e->first_window = tr->first;
  e->last_window = tr->last;
}

static void
close_track (clar_events *t, size_t k)
{
  track *tr = &t->tracks[k];
  if (tr->announced)
    emit (t, k, CLAR_EVENT_END);
  tr->state = IDLE;
  tr->announced = 0;
}

static int
cmp_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

/* An active window widens its event to the span it places the sound in
 * (refined spans need not grow monotonically). */
static void
extend (track *tr, const win *w)
{
  if (w->rs < tr->ev_start)
    tr->ev_start = w->rs;
  if (w->re > tr->ev_end)
    tr->ev_end = w->re;
}

/* Decides window number `s` (sequence since the last flush), all of whose
 * median neighbours up to `last` are in the ring (last = s + t->after, or
 * the last window at a flush). The queue has room for n_tracks events. */
static void
decide (clar_events *t, uint64_t s, uint64_t last)
{
  const win *w = &t->wins[s % t->ring_cap];
  const float *x = t->scores + (s % t->ring_cap) * t->n_tracks;

  /* Smoothing, each track its own: a track whose median looks ahead less
   * than the widest one takes only its own windows, so that it smooths
   * as a tracker with its options alone would. */
  for (size_t k = 0; k < t->n_tracks; k++) {
    track *tr = &t->tracks[k];
    if (tr->opt.smoothing == CLAR_EVENTS_SMOOTH_MEDIAN && tr->opt.median_windows > 1) {
      uint64_t lo = s >= tr->before ? s - tr->before : 0;
      uint64_t hi = s + tr->after < last ? s + tr->after : last;
      size_t n = (size_t) (hi - lo + 1);
      for (size_t j = 0; j < n; j++)
        t->tmp[j] = t->scores[((lo + j) % t->ring_cap) * t->n_tracks + k];
      qsort (t->tmp, n, sizeof (float), cmp_float);
      t->smoothed[k] = n % 2 ? t->tmp[n / 2] : 0.5f * (t->tmp[n / 2 - 1] + t->tmp[n / 2]);
    } else if (tr->opt.smoothing == CLAR_EVENTS_SMOOTH_EXP) {
      float a = tr->opt.exp_alpha;
      tr->ema = s == 0 ? x[k] : a * x[k] + (1.0f - a) * tr->ema;
      t->smoothed[k] = tr->ema;
    } else {
      t->smoothed[k] = x[k];
    }
  }

  /* Hysteresis, gap filling, minimum duration. ENDs go straight into the
   * queue; STARTs after them. */
  for (size_t k = 0; k < t->n_tracks; k++) {
    track *tr = &t->tracks[k];
    float sm = t->smoothed[k];
    int on = tr->enabled && sm >= tr->on;
    int stay = tr->enabled && sm >= tr->off;
    t->starting[k] = 0;
    switch (tr->state) {
      case IDLE:
        if (!on)
          continue;
        tr->state = ACTIVE;
        tr->announced = 0;
        tr->ev_start = w->rs;
        tr->ev_end = w->re;
        tr->first = tr->last = w->index;
        tr->sum = x[k];
        tr->count = 1;
        tr->peak = x[k];
        break;
      case ACTIVE:
        if (stay) {
          extend (tr, w);
          tr->last = w->index;
          tr->sum += x[k];
          tr->count++;
          if (x[k] > tr->peak)
            tr->peak = x[k];
        } else {
          tr->state = HANGOVER;
          tr->h_sum = x[k];
          tr->h_count = 1;
          tr->h_peak = x[k];
          /* No run can start before this cell's end: the gap is at
           * least ce - ev_end. */
          if (w->ce - tr->ev_end >= tr->opt.min_gap_ns)
            close_track (t, k);
          continue;
        }
        break;
      case HANGOVER:
        if (on) {
          /* A gap shorter than min_gap: one event. */
          tr->state = ACTIVE;
          extend (tr, w);
          tr->last = w->index;
          tr->sum += tr->h_sum + x[k];
          tr->count += tr->h_count + 1;
          if (tr->h_peak > tr->peak)
            tr->peak = tr->h_peak;
          if (x[k] > tr->peak)
            tr->peak = x[k];
        } else {
          tr->h_sum += x[k];
          tr->h_count++;
          if (x[k] > tr->h_peak)
            tr->h_peak = x[k];
          if (w->ce - tr->ev_end >= tr->opt.min_gap_ns)
            close_track (t, k);
          continue;
        }
        break;
    }
    if (!tr->announced && tr->ev_end - tr->ev_start >= tr->opt.min_duration_ns)
      t->starting[k] = 1;
  }
  for (size_t k = 0; k < t->n_tracks; k++)
    if (t->starting[k]) {
      t->tracks[k].announced = 1;
      emit (t, k, CLAR_EVENT_START);
    }
  t->decided = s + 1;
}

int
clar_events_push (clar_events *t, uint64_t index, int64_t start_ns, int64_t end_ns,
                  const float *scores, float similarity)
{
  return clar_events_push_active (t, index, start_ns, end_ns, start_ns, end_ns, scores,
      similarity);
}

int
clar_events_push_active (clar_events *t, uint64_t index, int64_t start_ns, int64_t end_ns,
                         int64_t active_start_ns, int64_t active_end_ns,
                         const float *scores, float similarity)
{
  int64_t len, h;
  win *w;
  size_t slot;
  float *x;
  int unknown;

  if (!t || !scores)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (end_ns <= start_ns || (start_ns < 0 && end_ns > start_ns + INT64_MAX))
    return CLAR_ERR_INVALID_ARGUMENT;
  if (active_start_ns < start_ns || active_end_ns > end_ns || active_end_ns <= active_start_ns)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (t->have_prev && (index <= t->prev_index || start_ns < t->prev_start))
    return CLAR_ERR_INVALID_ARGUMENT;
  if (!isfinite (similarity))
    return CLAR_ERR_NONFINITE;
  for (size_t k = 0; k < t->n_labels; k++) {
    if (!isfinite (scores[k]))
      return CLAR_ERR_NONFINITE;
    if (scores[k] < 0.0f || scores[k] > 1.0f)
      return CLAR_ERR_INVALID_ARGUMENT;
  }
  if (reserve (t, t->n_tracks) != CLAR_OK)
    return CLAR_ERR_NO_MEMORY;
  if (t->window_fn)
    t->window_fn (t->window_user, index, start_ns, end_ns, active_start_ns, active_end_ns,
        scores, similarity);

  /* The window's cell (see the header). */
  len = end_ns - start_ns;
  h = t->p.hop_ns > 0 && t->p.hop_ns < len ? t->p.hop_ns : len;
  slot = (size_t) (t->seq % t->ring_cap);
  w = &t->wins[slot];
  w->index = index;
  w->cs = start_ns + (len - h) / 2;
  w->ce = w->cs + h;
  /* The sound is where the cell and the active span overlap; when they do
   * not, the active span is the better guess. */
  if (active_start_ns < w->ce && active_end_ns > w->cs) {
    w->rs = active_start_ns > w->cs ? active_start_ns : w->cs;
    w->re = active_end_ns < w->ce ? active_end_ns : w->ce;
  } else {
    w->rs = active_start_ns;
    w->re = active_end_ns;
  }
  x = t->scores + slot * t->n_tracks;
  unknown = t->p.unknown_similarity > -1.0f && similarity < t->p.unknown_similarity;
  for (size_t k = 0; k < t->n_labels; k++)
    x[k] = unknown ? 0.0f : scores[k];
  x[t->n_labels] = unknown ? 1.0f : 0.0f;
  t->have_prev = 1;
  t->prev_index = index;
  t->prev_start = start_ns;
  t->seq++;
  /* The window `after` windows back now has all its neighbours (those of
   * the track that looks furthest ahead). */
  if (t->seq > t->after)
    decide (t, t->seq - 1 - t->after, t->seq - 1);
  return CLAR_OK;
}

int
clar_events_flush (clar_events *t)
{
  if (!t)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (reserve (t, (size_t) (t->seq - t->decided + 1) * t->n_tracks) != CLAR_OK)
    return CLAR_ERR_NO_MEMORY;
  while (t->decided < t->seq)
    decide (t, t->decided, t->seq - 1);
  for (size_t k = 0; k < t->n_tracks; k++)
    if (t->tracks[k].state != IDLE)
      close_track (t, k);
  reset_tracks (t);
  return CLAR_OK;
}

int
clar_events_next (clar_events *t, clar_event *out)
{
  if (!t || !out || t->q_head >= t->q_len)
    return 0;
  *out = t->queue[t->q_head++];
  if (t->q_head == t->q_len)
    t->q_head = t->q_len = 0;
  return 1;
}
