/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sound-event tracker (clar/events.h) on scripted score sequences:
 * smoothing, hysteresis, gap filling, minimum duration, the unknown track,
 * flushes, per-label threshold files and bad input. */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <clar/clar.h>
#include "clar-test.h"

#define SEC 1000000000LL
#define HOP (SEC / 2)

static const char *names2[2] = { "a", "b" };

/* Windows of 1 s every 0.5 s: window i spans [i/2, i/2 + 1) s and stands
 * for the cell [i/2 + 0.25, i/2 + 0.75) s. */
static int64_t cell_start (uint64_t i) { return (int64_t) i * HOP + HOP / 2; }
static int64_t cell_end (uint64_t i) { return (int64_t) i * HOP + 3 * HOP / 2; }

static clar_events_params
params_none (void)
{
  clar_events_params p;
  clar_events_params_init (&p);
  p.smoothing = CLAR_EVENTS_SMOOTH_NONE;
  p.hop_ns = HOP;
  return p;
}

static int
push (clar_events *t, uint64_t i, float a, float b, float sim)
{
  float s[2] = { a, b };
  return clar_events_push (t, i, (int64_t) i * HOP, (int64_t) i * HOP + SEC, s, sim);
}

/* Pushes scores of label a (b = 0), flushes, and collects END events. */
static int
run_a (const clar_events_params *p, const float *a, size_t n, clar_event *ends, int max)
{
  clar_events *t = clar_events_new (2, names2, p, NULL);
  clar_event e;
  int n_end = 0, n_start = 0;
  CHECK (t != NULL);
  if (!t)
    return -1;
  for (size_t i = 0; i < n; i++)
    CHECK_EQ_INT (push (t, i, a[i], 0.0f, 1.0f), CLAR_OK);
  CHECK_EQ_INT (clar_events_flush (t), CLAR_OK);
  while (clar_events_next (t, &e)) {
    if (e.kind == CLAR_EVENT_START) {
      n_start++;
    } else if (n_end < max) {
      /* The name lives as long as the tracker. */
      CHECK (!strcmp (e.name, names2[e.label]));
      ends[n_end] = e;
      ends[n_end++].name = NULL;
    }
  }
  /* Every event reported at its end was reported at its start. */
  CHECK_EQ_INT (n_start, n_end);
  clar_events_free (t);
  return n_end;
}

static void
test_defaults (void)
{
  clar_events_params p;
  clar_error err;
  clar_events_params_init (&p);
  CHECK_EQ_INT (p.smoothing, CLAR_EVENTS_SMOOTH_NONE);
  CHECK_EQ_INT (p.median_windows, 3);
  CHECK_CLOSE (p.active_db, 10.0, 0);
  CHECK_CLOSE (p.on_threshold, 0.5, 0);
  CHECK_CLOSE (p.off_threshold, 0.3, 1e-7);
  CHECK_CLOSE (p.unknown_similarity, -1.0, 0);
  CHECK (!strcmp (p.unknown_name, "unknown"));
  CHECK_EQ_INT (clar_events_params_check (&p, &err), CLAR_OK);
  clar_events *t = clar_events_new (2, names2, NULL, &err);
  CHECK (t != NULL);
  CHECK_EQ_INT (clar_events_n_labels (t), 2);
  CHECK_EQ_INT (clar_events_get_params (t)->median_windows, 3);
  clar_events_free (t);
  clar_events_free (NULL);
}

static void
test_single_window (void)
{
  clar_events_params p = params_none ();
  float a[5] = { 0, 0, 0.9f, 0, 0 };
  clar_event e[4];
  CHECK_EQ_INT (run_a (&p, a, 5, e, 4), 1);
  CHECK_EQ_INT (e[0].label, 0);
  CHECK_EQ_INT (e[0].start_ns, cell_start (2));   /* 1.25 s */
  CHECK_EQ_INT (e[0].end_ns, cell_end (2));       /* 1.75 s */
  CHECK_EQ_INT (e[0].first_window, 2);
  CHECK_EQ_INT (e[0].last_window, 2);
  CHECK_CLOSE (e[0].peak, 0.9, 1e-7);
  CHECK_CLOSE (e[0].mean, 0.9, 1e-7);

  /* The first and the last window of the stream, hop_ns = 0: whole windows. */
  float b[3] = { 0.8f, 0, 0.7f };
  p.hop_ns = 0;
  CHECK_EQ_INT (run_a (&p, b, 3, e, 4), 2);
  CHECK_EQ_INT (e[0].start_ns, 0);
  CHECK_EQ_INT (e[0].end_ns, SEC);
  CHECK_EQ_INT (e[1].start_ns, 2 * HOP);
  CHECK_EQ_INT (e[1].end_ns, 2 * HOP + SEC);
  CHECK_EQ_INT (e[1].first_window, 2);
}

static void
test_hysteresis (void)
{
  clar_events_params p = params_none ();   /* on 0.5, off 0.3 */
  float a[7] = { 0.6f, 0.4f, 0.35f, 0.2f, 0.4f, 0.45f, 0.6f };
  clar_event e[4];
  CHECK_EQ_INT (run_a (&p, a, 7, e, 4), 2);
  /* 0.4 and 0.35 keep it on; 0.2 ends it; 0.4 and 0.45 do not restart it. */
  CHECK_EQ_INT (e[0].first_window, 0);
  CHECK_EQ_INT (e[0].last_window, 2);
  CHECK_CLOSE (e[0].mean, (0.6 + 0.4 + 0.35) / 3, 1e-6);
  CHECK_CLOSE (e[0].peak, 0.6, 1e-7);
  CHECK_EQ_INT (e[1].first_window, 6);
  /* No hysteresis (off = on): three events of one window each. */
  p.off_threshold = 0.5f;
  float c[5] = { 0.6f, 0.4f, 0.6f, 0.49f, 0.5f };
  CHECK_EQ_INT (run_a (&p, c, 5, e, 4), 3);
  CHECK_EQ_INT (e[2].first_window, 4);   /* >= on, inclusive */
}

static void
test_min_gap (void)
{
  clar_events_params p = params_none ();
  clar_event e[4];
  p.min_gap_ns = SEC;
  /* Gap of one window (0.5 s < 1 s): merged; gap of 1.5 s: not. */
  float a[8] = { 0.9f, 0.9f, 0, 0.9f, 0, 0, 0, 0.9f };
  CHECK_EQ_INT (run_a (&p, a, 8, e, 4), 2);
  CHECK_EQ_INT (e[0].first_window, 0);
  CHECK_EQ_INT (e[0].last_window, 3);
  CHECK_EQ_INT (e[0].start_ns, cell_start (0));
  CHECK_EQ_INT (e[0].end_ns, cell_end (3));
  /* Mean over the event's windows, the gap window included. */
  CHECK_CLOSE (e[0].mean, 0.9 * 3 / 4, 1e-6);
  CHECK_EQ_INT (e[1].first_window, 7);
  /* A gap exactly min_gap long is not filled. */
  float b[4] = { 0.9f, 0, 0, 0.9f };
  CHECK_EQ_INT (run_a (&p, b, 4, e, 4), 2);
  /* min_gap 0: every gap splits. */
  p.min_gap_ns = 0;
  CHECK_EQ_INT (run_a (&p, a, 8, e, 4), 3);

  /* The END waits until the gap is known to be long enough. */
  p.min_gap_ns = SEC;
  clar_events *t = clar_events_new (2, names2, &p, NULL);
  clar_event ev;
  push (t, 0, 0.9f, 0, 1);
  CHECK (clar_events_next (t, &ev) && ev.kind == CLAR_EVENT_START);
  push (t, 1, 0, 0, 1);
  CHECK (!clar_events_next (t, &ev));   /* 0.5 s of gap: might still merge */
  push (t, 2, 0, 0, 1);
  CHECK (clar_events_next (t, &ev) && ev.kind == CLAR_EVENT_END && ev.last_window == 0);
  clar_events_free (t);
}

static void
test_min_duration (void)
{
  clar_events_params p = params_none ();
  clar_event e[4], ev;
  p.min_duration_ns = SEC + SEC / 5;   /* 1.2 s */
  /* A 1 s run is dropped, a 1.5 s run kept. */
  float a[7] = { 0.9f, 0.9f, 0, 0.9f, 0.9f, 0.9f, 0 };
  CHECK_EQ_INT (run_a (&p, a, 7, e, 4), 1);
  CHECK_EQ_INT (e[0].first_window, 3);
  CHECK_EQ_INT (e[0].last_window, 5);
  /* Exactly min_duration long is kept. */
  p.min_duration_ns = SEC;
  CHECK_EQ_INT (run_a (&p, a, 7, e, 4), 2);

  /* START comes when the event reaches the minimum, with its true start. */
  p.min_duration_ns = SEC + SEC / 5;
  clar_events *t = clar_events_new (2, names2, &p, NULL);
  for (uint64_t i = 0; i < 5; i++)
    push (t, i, a[i], 0, 1);
  CHECK (!clar_events_next (t, &ev));
  push (t, 5, a[5], 0, 1);
  CHECK (clar_events_next (t, &ev));
  CHECK_EQ_INT (ev.kind, CLAR_EVENT_START);
  CHECK_EQ_INT (ev.start_ns, cell_start (3));
  CHECK_EQ_INT (ev.end_ns, cell_end (5));
  CHECK_EQ_INT (ev.last_window, 5);
  clar_events_free (t);

  /* Gaps are filled before short events are dropped: two 0.5 s runs with
   * a 0.5 s gap make a 1.5 s event. */
  p.min_gap_ns = SEC;
  float b[4] = { 0.9f, 0, 0.9f, 0 };
  CHECK_EQ_INT (run_a (&p, b, 4, e, 4), 1);
  CHECK_EQ_INT (e[0].end_ns - e[0].start_ns, 3 * HOP);
}

static void
test_median (void)
{
  clar_events_params p = params_none ();
  clar_event e[4], ev;
  p.smoothing = CLAR_EVENTS_SMOOTH_MEDIAN;
  p.median_windows = 3;
  /* The lone spike goes; the pair stays, with undelayed times. */
  float a[10] = { 0, 0, 0.9f, 0, 0, 0, 0.9f, 0.9f, 0, 0 };
  CHECK_EQ_INT (run_a (&p, a, 10, e, 4), 1);
  CHECK_EQ_INT (e[0].first_window, 6);
  CHECK_EQ_INT (e[0].last_window, 7);
  CHECK_EQ_INT (e[0].start_ns, cell_start (6));
  CHECK_EQ_INT (e[0].end_ns, cell_end (7));

  /* A one-window dip inside an event is filled. */
  float b[7] = { 0.9f, 0.9f, 0.1f, 0.9f, 0.9f, 0, 0 };
  CHECK_EQ_INT (run_a (&p, b, 7, e, 4), 1);
  CHECK_EQ_INT (e[0].last_window, 4);
  CHECK_CLOSE (e[0].mean, (0.9 * 4 + 0.1) / 5, 1e-6);   /* raw scores */

  /* Window 6 is decided when window 7 arrives (one window of look-ahead). */
  clar_events *t = clar_events_new (2, names2, &p, NULL);
  for (uint64_t i = 0; i < 7; i++)
    push (t, i, a[i], 0, 1);
  CHECK (!clar_events_next (t, &ev));
  push (t, 7, a[7], 0, 1);
  CHECK (clar_events_next (t, &ev) && ev.kind == CLAR_EVENT_START && ev.first_window == 6);
  clar_events_free (t);

  /* Even N = 4: two windows before, one after. Window 2's median is over
   * windows 0..3 = {0.9, 0.9, 0, 0} -> 0.45 (< on); window 1's over 0..2
   * (stream start) = 0.9. */
  p.median_windows = 4;
  float c[6] = { 0.9f, 0.9f, 0, 0, 0, 0 };
  CHECK_EQ_INT (run_a (&p, c, 6, e, 4), 1);
  CHECK_EQ_INT (e[0].first_window, 0);
  CHECK_EQ_INT (e[0].last_window, 2);   /* 0.45 >= off 0.3 */

  /* The median runs over the windows there are at a flush: an event in
   * the last two windows survives a median of 5. */
  p.median_windows = 5;
  float d[6] = { 0, 0, 0, 0, 0.9f, 0.9f };
  CHECK_EQ_INT (run_a (&p, d, 6, e, 4), 1);
  CHECK_EQ_INT (e[0].last_window, 5);
  CHECK_EQ_INT (e[0].end_ns, cell_end (5));

  /* N = 1 is no smoothing. */
  p.median_windows = 1;
  CHECK_EQ_INT (run_a (&p, a, 10, e, 4), 2);
}

static void
test_exponential (void)
{
  clar_events_params p = params_none ();
  clar_event e[4];
  p.smoothing = CLAR_EVENTS_SMOOTH_EXP;
  p.exp_alpha = 0.5f;
  /* s = 1, 1, 0.5, 0.25: on through window 2 (0.5 >= off 0.3). */
  float a[5] = { 1, 1, 0, 0, 0 };
  CHECK_EQ_INT (run_a (&p, a, 5, e, 4), 1);
  CHECK_EQ_INT (e[0].last_window, 2);
  /* s = 0.45, 0.675: starts at the second window. */
  float b[3] = { 0.9f, 0.9f, 0 };
  p.exp_alpha = 0.5f;
  CHECK_EQ_INT (run_a (&p, b, 3, e, 4), 1);
  CHECK_EQ_INT (e[0].first_window, 0);   /* s_0 = x_0 = 0.9 */
  float c[3] = { 0.4f, 0.9f, 0 };        /* s = 0.4, 0.65, 0.325 */
  CHECK_EQ_INT (run_a (&p, c, 3, e, 4), 1);
  CHECK_EQ_INT (e[0].first_window, 1);
  CHECK_EQ_INT (e[0].last_window, 2);
}

static void
test_flush (void)
{
  clar_events_params p = params_none ();
  clar_events *t;
  clar_event ev;
  int ends = 0;
  p.smoothing = CLAR_EVENTS_SMOOTH_MEDIAN;
  p.median_windows = 3;
  t = clar_events_new (2, names2, &p, NULL);
  for (uint64_t i = 0; i < 4; i++)
    CHECK_EQ_INT (push (t, i, 0.9f, 0, 1), CLAR_OK);
  CHECK_EQ_INT (clar_events_flush (t), CLAR_OK);
  while (clar_events_next (t, &ev))
    if (ev.kind == CLAR_EVENT_END) {
      ends++;
      CHECK_EQ_INT (ev.first_window, 0);
      CHECK_EQ_INT (ev.last_window, 3);   /* the median's last window decided */
      CHECK_EQ_INT (ev.end_ns, cell_end (3));
    }
  CHECK_EQ_INT (ends, 1);
  /* After a flush the timeline may restart: index 0 and time 0 again. */
  CHECK_EQ_INT (push (t, 0, 0.9f, 0, 1), CLAR_OK);
  CHECK_EQ_INT (push (t, 1, 0.9f, 0, 1), CLAR_OK);
  CHECK_EQ_INT (clar_events_flush (t), CLAR_OK);
  ends = 0;
  while (clar_events_next (t, &ev))
    if (ev.kind == CLAR_EVENT_END) {
      ends++;
      CHECK_EQ_INT (ev.start_ns, cell_start (0));
    }
  CHECK_EQ_INT (ends, 1);
  /* An empty flush reports nothing; flushing twice is harmless. */
  CHECK_EQ_INT (clar_events_flush (t), CLAR_OK);
  CHECK (!clar_events_next (t, &ev));
  clar_events_free (t);

  /* An event cut by the flush shorter than min_duration is dropped. */
  p.min_duration_ns = 2 * SEC;
  t = clar_events_new (2, names2, &p, NULL);
  for (uint64_t i = 0; i < 3; i++)
    push (t, i, 0.9f, 0, 1);
  clar_events_flush (t);
  CHECK (!clar_events_next (t, &ev));
  clar_events_free (t);
}

static void
test_unknown (void)
{
  clar_events_params p = params_none ();
  clar_events *t;
  clar_event ev, ends[6];
  int n = 0;
  float sims[6] = { 0.9f, 0.1f, 0.1f, 0.1f, 0.9f, 0.9f };
  p.unknown_similarity = 0.3f;
  p.unknown_name = "other";
  t = clar_events_new (2, names2, &p, NULL);
  /* A confident "a" throughout, but windows 1-3 resemble no label. */
  for (uint64_t i = 0; i < 6; i++)
    CHECK_EQ_INT (push (t, i, 0.9f, 0.1f, sims[i]), CLAR_OK);
  clar_events_flush (t);
  while (clar_events_next (t, &ev))
    if (ev.kind == CLAR_EVENT_END && n < 6)
      ends[n++] = ev;
  CHECK_EQ_INT (n, 3);
  CHECK_EQ_INT (ends[0].label, 0);
  CHECK_EQ_INT (ends[0].last_window, 0);
  CHECK_EQ_INT (ends[1].label, CLAR_EVENTS_UNKNOWN);
  CHECK (!strcmp (ends[1].name, "other"));
  CHECK_EQ_INT (ends[1].first_window, 1);
  CHECK_EQ_INT (ends[1].last_window, 3);
  CHECK_CLOSE (ends[1].peak, 1.0, 0);
  CHECK_EQ_INT (ends[2].label, 0);
  CHECK_EQ_INT (ends[2].first_window, 4);
  clar_events_free (t);

  /* Off by default: low similarity changes nothing. */
  p = params_none ();
  t = clar_events_new (2, names2, &p, NULL);
  n = 0;
  for (uint64_t i = 0; i < 6; i++)
    push (t, i, 0.9f, 0.1f, sims[i]);
  clar_events_flush (t);
  while (clar_events_next (t, &ev))
    n += ev.kind == CLAR_EVENT_END;
  CHECK_EQ_INT (n, 1);
  clar_events_free (t);
}

static void
test_order (void)
{
  clar_events_params p = params_none ();
  clar_events *t = clar_events_new (2, names2, &p, NULL);
  clar_event ev;
  push (t, 0, 0.9f, 0, 1);
  push (t, 1, 0.9f, 0, 1);
  CHECK (clar_events_next (t, &ev) && ev.kind == CLAR_EVENT_START && ev.label == 0);
  CHECK (!clar_events_next (t, &ev));
  /* a ends and b starts in the same window: the END comes first. */
  push (t, 2, 0.0f, 0.9f, 1);
  CHECK (clar_events_next (t, &ev) && ev.kind == CLAR_EVENT_END && ev.label == 0);
  CHECK (clar_events_next (t, &ev) && ev.kind == CLAR_EVENT_START && ev.label == 1);
  CHECK_EQ_INT (ev.start_ns, cell_start (2));
  /* Both labels at once (scores need not sum to 1). */
  push (t, 3, 0.9f, 0.9f, 1);
  CHECK (clar_events_next (t, &ev) && ev.kind == CLAR_EVENT_START && ev.label == 0);
  CHECK (!clar_events_next (t, &ev));
  clar_events_free (t);
}

static void
test_bad_input (void)
{
  clar_events_params p = params_none ();
  clar_events *t = clar_events_new (2, names2, &p, NULL);
  clar_event ev;
  float s[2] = { NAN, 0 };
  CHECK_EQ_INT (clar_events_push (t, 0, 0, SEC, s, 1.0f), CLAR_ERR_NONFINITE);
  s[0] = INFINITY;
  CHECK_EQ_INT (clar_events_push (t, 0, 0, SEC, s, 1.0f), CLAR_ERR_NONFINITE);
  s[0] = 0.9f;
  CHECK_EQ_INT (clar_events_push (t, 0, 0, SEC, s, NAN), CLAR_ERR_NONFINITE);
  s[1] = 1.5f;
  CHECK_EQ_INT (clar_events_push (t, 0, 0, SEC, s, 1.0f), CLAR_ERR_INVALID_ARGUMENT);
  s[1] = -0.1f;
  CHECK_EQ_INT (clar_events_push (t, 0, 0, SEC, s, 1.0f), CLAR_ERR_INVALID_ARGUMENT);
  s[1] = 0;
  CHECK_EQ_INT (clar_events_push (t, 0, SEC, SEC, s, 1.0f), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_push (t, 0, 2 * SEC, SEC, s, 1.0f), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_push (t, 0, INT64_MIN, INT64_MAX, s, 1.0f),
      CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_push (t, 0, 0, SEC, NULL, 1.0f), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_push (NULL, 0, 0, SEC, s, 1.0f), CLAR_ERR_INVALID_ARGUMENT);
  /* Nothing was taken: the first good window is the first window. */
  CHECK (!clar_events_next (t, &ev));
  CHECK_EQ_INT (clar_events_push (t, 5, 10 * SEC, 11 * SEC, s, 1.0f), CLAR_OK);
  CHECK (clar_events_next (t, &ev) && ev.first_window == 5);
  /* Time and index must not go back; index must increase. */
  CHECK_EQ_INT (clar_events_push (t, 5, 11 * SEC, 12 * SEC, s, 1.0f), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_push (t, 6, 9 * SEC, 12 * SEC, s, 1.0f), CLAR_ERR_INVALID_ARGUMENT);
  s[0] = NAN;
  CHECK_EQ_INT (clar_events_push (t, 6, 11 * SEC, 12 * SEC, s, 1.0f), CLAR_ERR_NONFINITE);
  /* The NaN window changed nothing: the event ends at window 5. */
  s[0] = 0;
  CHECK_EQ_INT (clar_events_push (t, 7, 12 * SEC, 13 * SEC, s, 1.0f), CLAR_OK);
  CHECK (clar_events_next (t, &ev) && ev.kind == CLAR_EVENT_END && ev.last_window == 5);
  CHECK_EQ_INT (clar_events_flush (NULL), CLAR_ERR_INVALID_ARGUMENT);
  CHECK (!clar_events_next (NULL, &ev));
  CHECK (!clar_events_next (t, NULL));
  clar_events_free (t);
}

static void
test_params (void)
{
  clar_events_params p;
  clar_error err;
  const char *empty[2] = { "a", "" };
#define BAD(field, value, what)                                             \
  do {                                                                      \
    clar_events_params_init (&p);                                           \
    p.field = value;                                                        \
    err.message[0] = 0;                                                     \
    CHECK_EQ_INT (clar_events_params_check (&p, &err), CLAR_ERR_INVALID_ARGUMENT); \
    CHECK_MSG (strstr (err.message, what) != NULL, "%s", err.message);      \
    CHECK (clar_events_new (2, names2, &p, NULL) == NULL);                  \
  } while (0)
  BAD (median_windows, 0, "median of 0 windows");
  BAD (median_windows, CLAR_EVENTS_MEDIAN_MAX + 1, "median");
  BAD (smoothing, (clar_events_smoothing) 7, "smoothing");
  clar_events_params_init (&p);
  p.smoothing = CLAR_EVENTS_SMOOTH_EXP;
  p.exp_alpha = 0;
  CHECK_EQ_INT (clar_events_params_check (&p, &err), CLAR_ERR_INVALID_ARGUMENT);
  p.exp_alpha = NAN;
  CHECK_EQ_INT (clar_events_params_check (&p, &err), CLAR_ERR_INVALID_ARGUMENT);
  p.exp_alpha = 1.0f;
  CHECK_EQ_INT (clar_events_params_check (&p, &err), CLAR_OK);
  BAD (on_threshold, 1.5f, "on threshold");
  BAD (on_threshold, NAN, "on threshold");
  BAD (off_threshold, 0.6f, "off threshold");   /* above on 0.5 */
  BAD (off_threshold, -0.1f, "off threshold");
  BAD (min_duration_ns, -1, "minimum duration");
  BAD (min_duration_ns, CLAR_EVENTS_TIME_MAX + 1, "minimum duration");
  BAD (min_gap_ns, -1, "minimum gap");
  BAD (hop_ns, -1, "hop");
  BAD (unknown_similarity, 1.5f, "unknown similarity");
  BAD (unknown_similarity, NAN, "unknown similarity");
  BAD (unknown_off, 0.9f, "unknown off");
  BAD (unknown_name, "", "name");
  BAD (active_db, -1.0f, "active span");
  BAD (active_db, NAN, "active span");
  CHECK_EQ_INT (clar_events_params_check (NULL, &err), CLAR_ERR_INVALID_ARGUMENT);
  CHECK (clar_events_new (0, names2, NULL, &err) == NULL);
  CHECK (strstr (err.message, "0 labels") != NULL);
  CHECK (clar_events_new (2, NULL, NULL, NULL) == NULL);
  CHECK (clar_events_new (2, empty, NULL, &err) == NULL);
  CHECK (clar_events_new ((size_t) CLAR_LABELS_MAX + 1, names2, NULL, NULL) == NULL);

  /* Extremes that are valid do what they say. */
  clar_event e[4];
  float a[8] = { 0.9f, 0.9f, 0, 0, 0, 0, 0.9f, 0 };
  p = params_none ();
  p.min_duration_ns = CLAR_EVENTS_TIME_MAX;   /* nothing is ever that long */
  CHECK_EQ_INT (run_a (&p, a, 8, e, 4), 0);
  p = params_none ();
  p.min_gap_ns = CLAR_EVENTS_TIME_MAX;        /* every gap is filled */
  CHECK_EQ_INT (run_a (&p, a, 8, e, 4), 1);
  CHECK_EQ_INT (e[0].last_window, 6);
  p = params_none ();
  p.on_threshold = p.off_threshold = 0;       /* every window is on, for both labels */
  CHECK_EQ_INT (run_a (&p, a, 8, e, 4), 2);
  CHECK_EQ_INT (e[0].last_window, 7);
  CHECK_EQ_INT (e[1].label, 1);
  p = params_none ();
  p.on_threshold = p.off_threshold = 1;       /* only a score of exactly 1 */
  CHECK_EQ_INT (run_a (&p, a, 8, e, 4), 0);
  p = params_none ();
  p.hop_ns = CLAR_EVENTS_TIME_MAX;            /* longer than a window: whole windows */
  CHECK_EQ_INT (run_a (&p, a, 8, e, 4), 2);
  CHECK_EQ_INT (e[0].start_ns, 0);
  CHECK_EQ_INT (e[0].end_ns, HOP + SEC);
  /* The largest median over a long event in a short stream. */
  static float longa[600];
  for (int i = 0; i < 600; i++)
    longa[i] = i >= 200 && i < 400 ? 0.9f : 0.0f;
  p = params_none ();
  p.smoothing = CLAR_EVENTS_SMOOTH_MEDIAN;
  p.median_windows = CLAR_EVENTS_MEDIAN_MAX;
  CHECK_EQ_INT (run_a (&p, longa, 600, e, 4), 1);
  /* The median of the 255 windows centred on window i is on when at least
   * 128 of them are: windows 200 (73..327 holds 200..327) to 399. */
  CHECK_EQ_INT (e[0].first_window, 200);
  CHECK_EQ_INT (e[0].last_window, 399);
#undef BAD
}

static void
test_thresholds (void)
{
  clar_events_params p = params_none ();
  clar_events *t;
  clar_error err;
  float on, off;
  const char *names[3] = { "dog bark", "cat", "rain" };
  const char *good =
      "# per-label thresholds\n"
      "dog bark\t0.7\t0.4\r\n"
      "\n"
      "cat\t0.2\n"
      "unknown\t0.6\t0.5\n";
  t = clar_events_new (3, names, &p, &err);
  CHECK_EQ_INT (clar_events_parse_thresholds (t, good, strlen (good), "th.tsv", &err), CLAR_OK);
  clar_events_get_thresholds (t, 0, &on, &off);
  CHECK_CLOSE (on, 0.7, 1e-7);
  CHECK_CLOSE (off, 0.4, 1e-7);
  clar_events_get_thresholds (t, 1, &on, &off);
  CHECK_CLOSE (on, 0.2, 1e-7);
  CHECK_CLOSE (off, 0.2, 1e-7);   /* OFF defaults to ON */
  clar_events_get_thresholds (t, 2, &on, &off);   /* untouched: the defaults */
  CHECK_CLOSE (on, 0.5, 0);
  CHECK_CLOSE (off, 0.3, 1e-7);
  clar_events_get_thresholds (t, CLAR_EVENTS_UNKNOWN, &on, &off);
  CHECK_CLOSE (on, 0.6, 1e-7);
  CHECK_EQ_INT (clar_events_get_thresholds (t, 3, &on, &off), CLAR_ERR_INVALID_ARGUMENT);

  /* Errors name the source and the line; nothing changes. */
  struct { const char *text, *msg; } bad[] = {
    { "cat\t0.3\ndgo\t0.5\n", "th.tsv:2: no label \"dgo\"" },
    { "cat 0.3\n", "th.tsv:1: expected LABEL<TAB>ON[<TAB>OFF], found no tab" },
    { "#\n\ncat\tx\n", "th.tsv:3: expected" },
    { "cat\t0.3\t0.1\t0.0\n", "th.tsv:1: expected" },
    { "cat\t0.3abc\n", "th.tsv:1: expected" },
    { "cat\t\n", "th.tsv:1: expected" },
    { "cat\t0.3\t\n", "th.tsv:1: expected" },
    { "cat\t1.5\n", "th.tsv:1: on threshold 1.5 is outside [0, 1]" },
    { "cat\tnan\n", "th.tsv:1: " },
    { "cat\t0.3\t0.5\n", "th.tsv:1: off threshold 0.5 is outside" },
    { "cat\t0.3\ncat\t0.4\n", "th.tsv:2: label \"cat\" appears twice" },
    { "\tcat\t0.3\n", "th.tsv:1: no label \"\"" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err.message[0] = 0;
    CHECK_EQ_INT (clar_events_parse_thresholds (t, bad[i].text, strlen (bad[i].text), "th.tsv",
        &err), CLAR_ERR_INVALID_ARGUMENT);
    CHECK_MSG (strstr (err.message, bad[i].msg) == err.message, "case %zu: got \"%s\"", i,
        err.message);
    clar_events_get_thresholds (t, 1, &on, &off);
    CHECK_CLOSE (on, 0.2, 1e-7);
  }
  /* A NUL byte inside the text. */
  CHECK_EQ_INT (clar_events_parse_thresholds (t, "cat\t0.3\0\n", 9, "th.tsv", &err),
      CLAR_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.message, "NUL") != NULL);
  /* An empty text is valid (no change). */
  CHECK_EQ_INT (clar_events_parse_thresholds (t, "", 0, NULL, &err), CLAR_OK);

  /* The file reader. */
  char path[] = "/tmp/clar-test-thresholds-XXXXXX";
  int fd = mkstemp (path);
  CHECK (fd >= 0);
  CHECK (write (fd, "rain\t0.25\t0.1\n", 14) == 14);
  close (fd);
  CHECK_EQ_INT (clar_events_load_thresholds (t, path, &err), CLAR_OK);
  clar_events_get_thresholds (t, 2, &on, &off);
  CHECK_CLOSE (on, 0.25, 1e-7);
  CHECK_CLOSE (off, 0.1, 1e-7);
  unlink (path);
  CHECK_EQ_INT (clar_events_load_thresholds (t, path, &err), CLAR_ERR_IO);
  CHECK (strstr (err.message, "No such file") != NULL);
  CHECK_EQ_INT (clar_events_load_thresholds (t, NULL, &err), CLAR_ERR_INVALID_ARGUMENT);
  clar_events_free (t);

  /* Per-label thresholds act: "b" fires at 0.3 with its own threshold. */
  t = clar_events_new (2, names2, &p, NULL);
  CHECK_EQ_INT (clar_events_set_thresholds (t, 1, 0.25f, 0.2f), CLAR_OK);
  CHECK_EQ_INT (clar_events_set_thresholds (t, 1, 0.25f, 0.3f), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_set_thresholds (t, 9, 0.25f, 0.2f), CLAR_ERR_INVALID_ARGUMENT);
  push (t, 0, 0.3f, 0.3f, 1);
  clar_event ev;
  CHECK (clar_events_next (t, &ev) && ev.label == 1);
  CHECK (!clar_events_next (t, &ev));
  /* A disabled label never fires. */
  CHECK_EQ_INT (clar_events_set_enabled (t, 0, 0), CLAR_OK);
  push (t, 1, 1.0f, 0.3f, 1);
  CHECK (!clar_events_next (t, &ev));
  clar_events_free (t);
}

static void
test_smoothing_spec (void)
{
  clar_events_params p;
  clar_error err;
  clar_events_params_init (&p);
  CHECK_EQ_INT (clar_events_parse_smoothing ("median:5", &p, &err), CLAR_OK);
  CHECK_EQ_INT (p.smoothing, CLAR_EVENTS_SMOOTH_MEDIAN);
  CHECK_EQ_INT (p.median_windows, 5);
  CHECK_EQ_INT (clar_events_parse_smoothing ("exp:0.25", &p, &err), CLAR_OK);
  CHECK_EQ_INT (p.smoothing, CLAR_EVENTS_SMOOTH_EXP);
  CHECK_CLOSE (p.exp_alpha, 0.25, 1e-7);
  CHECK_EQ_INT (clar_events_parse_smoothing ("none", &p, &err), CLAR_OK);
  CHECK_EQ_INT (p.smoothing, CLAR_EVENTS_SMOOTH_NONE);
  const char *bad[] = { "median:0", "median:256", "median:", "median:3x", "exp:0", "exp:1.5",
    "exp:nan", "mean:3", "", "median:-1" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_EQ_INT (clar_events_parse_smoothing (bad[i], &p, &err), CLAR_ERR_INVALID_ARGUMENT);
    CHECK (strstr (err.message, "expected none, median:N") != NULL);
  }
  CHECK_EQ_INT (p.smoothing, CLAR_EVENTS_SMOOTH_NONE);   /* unchanged by errors */
}

/* The "#% tracker:" directive of threshold files: the options it names,
 * the user's explicit settings kept, each malformed directive an error
 * that changes nothing. */
static void
test_tracker_options (void)
{
  clar_events_params p, want;
  clar_error err;
  unsigned named;
  const char *good =
      "# Per-label thresholds\n"
      "#% tracker: smoothing=median:3 min-gap-ns=250000000\r\n"
      "a\t0.4\t0.2\n"
      "#%tracker:\tmin-duration-ns=86400000000000\n";

  clar_events_params_init (&p);
  named = 99;
  CHECK_EQ_INT (clar_events_parse_tracker_options (good, strlen (good), "th.tsv", 0, &p,
      &named, &err), CLAR_OK);
  CHECK_EQ_INT (named, CLAR_EVENTS_OPT_SMOOTHING | CLAR_EVENTS_OPT_MEDIAN_WINDOWS
      | CLAR_EVENTS_OPT_MIN_GAP | CLAR_EVENTS_OPT_MIN_DURATION);
  CHECK_EQ_INT (p.smoothing, CLAR_EVENTS_SMOOTH_MEDIAN);
  CHECK_EQ_INT (p.median_windows, 3);
  CHECK_EQ_INT (p.min_gap_ns, 250000000);
  CHECK_EQ_INT (p.min_duration_ns, CLAR_EVENTS_TIME_MAX);
  CHECK_EQ_INT (clar_events_params_check (&p, &err), CLAR_OK);

  /* What the user set stays; the rest comes from the file. */
  clar_events_params_init (&p);
  p.smoothing = CLAR_EVENTS_SMOOTH_NONE;
  p.median_windows = 7;
  p.min_duration_ns = 5;
  CHECK_EQ_INT (clar_events_parse_tracker_options (good, strlen (good), "th.tsv",
      CLAR_EVENTS_OPT_SMOOTHING | CLAR_EVENTS_OPT_MIN_DURATION, &p, &named, &err), CLAR_OK);
  CHECK_EQ_INT (named, CLAR_EVENTS_OPT_SMOOTHING | CLAR_EVENTS_OPT_MEDIAN_WINDOWS
      | CLAR_EVENTS_OPT_MIN_GAP | CLAR_EVENTS_OPT_MIN_DURATION);
  CHECK_EQ_INT (p.smoothing, CLAR_EVENTS_SMOOTH_NONE);
  CHECK_EQ_INT (p.median_windows, 3);
  CHECK_EQ_INT (p.min_gap_ns, 250000000);
  CHECK_EQ_INT (p.min_duration_ns, 5);

  /* exp:ALPHA names the factor; none names the smoothing alone. */
  clar_events_params_init (&p);
  {
    const char *t = "#% tracker: smoothing=exp:0.25\n";
    CHECK_EQ_INT (clar_events_parse_tracker_options (t, strlen (t), NULL, 0, &p, &named, &err),
        CLAR_OK);
    CHECK_EQ_INT (named, CLAR_EVENTS_OPT_SMOOTHING | CLAR_EVENTS_OPT_EXP_ALPHA);
    CHECK_EQ_INT (p.smoothing, CLAR_EVENTS_SMOOTH_EXP);
    CHECK_CLOSE (p.exp_alpha, 0.25, 1e-7);
    t = "#% tracker: smoothing=none";   /* no final newline */
    CHECK_EQ_INT (clar_events_parse_tracker_options (t, strlen (t), NULL, 0, &p, &named, &err),
        CLAR_OK);
    CHECK_EQ_INT (named, CLAR_EVENTS_OPT_SMOOTHING);
    CHECK_EQ_INT (p.smoothing, CLAR_EVENTS_SMOOTH_NONE);
    CHECK_CLOSE (p.exp_alpha, 0.25, 1e-7);
  }

  /* No directive (plain comments, "#%" only at the start counts, an empty
   * text, an empty directive): nothing named, nothing changed. */
  {
    const char *none[] = { "", "# smoothing=median:3\na\t0.5\n", " #% tracker: x\n",
      "a\t0.5\t0.3\n# #% tracker: smoothing=median:3\n", "#% tracker:\n" };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
      clar_events_params_init (&p);
      want = p;
      named = 99;
      CHECK_EQ_INT (clar_events_parse_tracker_options (none[i], strlen (none[i]), "th.tsv", 0,
          &p, &named, &err), CLAR_OK);
      CHECK_MSG (named == 0, "case %zu: named %u", i, named);
      CHECK (!memcmp (&p, &want, sizeof p));
    }
  }

  /* Errors name the source and the line and leave p and named as they were. */
  struct { const char *text, *msg; } bad[] = {
    { "#% tracker: smoothing=median:3 gap=5\n", "th.tsv:1: unknown tracker option \"gap\"" },
    { "# x\n#% tracker: smoothing=mean:3\n", "th.tsv:2: smoothing \"mean:3\": expected none" },
    { "#% tracker: smoothing=median:0\n", "th.tsv:1: smoothing \"median:0\"" },
    { "#% tracker: smoothing=\n", "th.tsv:1: smoothing \"\"" },
    { "#% tracker: min-gap-ns=0.5\n", "th.tsv:1: tracker option min-gap-ns: \"0.5\" is not a whole" },
    { "#% tracker: min-gap-ns=+5\n", "th.tsv:1: tracker option min-gap-ns: \"+5\" is not" },
    { "#% tracker: min-duration-ns=\n", "th.tsv:1: tracker option min-duration-ns: \"\" is not" },
    { "#% tracker: min-duration-ns=-1\n",
      "th.tsv:1: tracker option min-duration-ns: -1 ns is outside [0, 86400000000000]" },
    { "#% tracker: min-gap-ns=86400000000001\n", "th.tsv:1: tracker option min-gap-ns: "
      "86400000000001 ns is outside" },
    { "#% tracker: min-gap-ns=99999999999999999999999\n", "th.tsv:1: tracker option min-gap-ns: "
      "99999999999999999999999 ns is outside" },
    { "#% tracker: min-gap-ns=0 min-gap-ns=0\n", "th.tsv:1: tracker option \"min-gap-ns\" given twice" },
    { "#% tracker: smoothing=none\na\t1\n#% tracker: smoothing=none\n",
      "th.tsv:3: tracker option \"smoothing\" given twice" },
    { "#% tracker: smoothing median:3\n", "th.tsv:1: expected KEY=VALUE in the tracker directive, "
      "found \"smoothing\"" },
    { "#% tracker: =3\n", "th.tsv:1: expected KEY=VALUE" },
    { "#% tracker smoothing=none\n", "th.tsv:1: unknown directive \"#% tracker smoothing=none\"" },
    { "#% trackers: smoothing=none\n", "th.tsv:1: unknown directive" },
    { "#%\n", "th.tsv:1: unknown directive" },
    { "#% tracker: smoothing=median:3 \xff\n", "th.tsv:1: directive line is not valid UTF-8 (byte 32" },
    { "#% tracker: min-gap-ns=0\xc0\x80\n", "th.tsv:1: directive line is not valid UTF-8" },
    { "#% tracker: smoothing=median:0000000000000000000000000000000000000000000000000000000000003\n",
      "th.tsv:1: tracker option smoothing: value of 68 bytes is too long" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    clar_events_params_init (&p);
    want = p;
    named = 99;
    err.message[0] = 0;
    CHECK_EQ_INT (clar_events_parse_tracker_options (bad[i].text, strlen (bad[i].text), "th.tsv",
        0, &p, &named, &err), CLAR_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT (err.code, CLAR_ERR_INVALID_ARGUMENT);
    CHECK_MSG (strstr (err.message, bad[i].msg) == err.message, "case %zu: got \"%s\"", i,
        err.message);
    CHECK_MSG (named == 99 && !memcmp (&p, &want, sizeof p), "case %zu: changed", i);
  }
  /* A NUL byte in a directive line; elsewhere it is the threshold parser's
   * business. */
  clar_events_params_init (&p);
  CHECK_EQ_INT (clar_events_parse_tracker_options ("#% tracker: smoothing=none\0\n", 28, "th.tsv",
      0, &p, &named, &err), CLAR_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.message, "th.tsv:1: NUL byte") == err.message);
  CHECK_EQ_INT (clar_events_parse_tracker_options (NULL, 1, "th.tsv", 0, &p, &named, &err),
      CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_parse_tracker_options ("", 0, "th.tsv", 0, NULL, &named, &err),
      CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_parse_tracker_options (NULL, 0, NULL, 0, &p, NULL, NULL), CLAR_OK);

  /* The threshold parser skips the directive, whatever it holds. */
  {
    clar_events *t = clar_events_new (2, names2, NULL, &err);
    const char *text = "#% tracker: smoothing=median:3\n#% nonsense\na\t0.4\n";
    float on, off;
    CHECK_EQ_INT (clar_events_parse_thresholds (t, text, strlen (text), "th.tsv", &err), CLAR_OK);
    clar_events_get_thresholds (t, 0, &on, &off);
    CHECK_CLOSE (on, 0.4, 1e-7);
    clar_events_free (t);
  }

  /* The file reader. */
  char path[] = "/tmp/clar-test-tracker-options-XXXXXX";
  int fd = mkstemp (path);
  CHECK (fd >= 0);
  CHECK (write (fd, good, strlen (good)) == (ssize_t) strlen (good));
  close (fd);
  clar_events_params_init (&p);
  CHECK_EQ_INT (clar_events_load_tracker_options (path, 0, &p, &named, &err), CLAR_OK);
  CHECK_EQ_INT (p.smoothing, CLAR_EVENTS_SMOOTH_MEDIAN);
  CHECK_EQ_INT (p.min_gap_ns, 250000000);
  unlink (path);
  CHECK_EQ_INT (clar_events_load_tracker_options (path, 0, &p, &named, &err), CLAR_ERR_IO);
  CHECK (strstr (err.message, "No such file") != NULL);
  CHECK_EQ_INT (clar_events_load_tracker_options (NULL, 0, &p, &named, &err),
      CLAR_ERR_INVALID_ARGUMENT);
}

/* Tracker options per label: a tracker whose labels have different
 * options reports for label k exactly the events (times, scores, window
 * indices) that a tracker with label k's options for every label reports
 * for label k, whatever the other labels use. Random scores, a flush in
 * the middle (a new timeline after it), the unknown track, per-label
 * thresholds; several mixes of options. */
typedef struct {
  int n;
  clar_event ev[2048];
} event_log;

static uint32_t lt_rng;

static float
lt_rand (void)
{
  lt_rng = lt_rng * 1664525u + 1013904223u;
  return (float) (lt_rng >> 8) / 16777216.0f;
}

static void
drain (clar_events *t, event_log *log, size_t only)
{
  clar_event e;
  while (clar_events_next (t, &e))
    if ((only == (size_t) -2 || e.label == only) && log->n < 2048) {
      e.name = NULL;
      log->ev[log->n++] = e;
    }
}

static int
same_events (const event_log *a, const event_log *b)
{
  if (a->n != b->n)
    return 0;
  for (int i = 0; i < a->n; i++) {
    const clar_event *x = &a->ev[i], *y = &b->ev[i];
    if (x->kind != y->kind || x->label != y->label || x->start_ns != y->start_ns
        || x->end_ns != y->end_ns || x->peak != y->peak || x->mean != y->mean
        || x->first_window != y->first_window || x->last_window != y->last_window)
      return 0;
  }
  return 1;
}

/* For one push: ENDs before STARTs, each by label index (the unknown
 * track, CLAR_EVENTS_UNKNOWN, last). */
static int
push_order_ok (const event_log *log, int from)
{
  for (int i = from + 1; i < log->n; i++) {
    const clar_event *p = &log->ev[i - 1], *e = &log->ev[i];
    if (p->kind == CLAR_EVENT_START && e->kind == CLAR_EVENT_END)
      return 0;
    if (p->kind == e->kind && p->label >= e->label)
      return 0;
  }
  return 1;
}

enum { LT_LABELS = 4, LT_TRACKS = LT_LABELS + 1, LT_W1 = 150, LT_W2 = 90 };

typedef struct {
  uint64_t index;
  int64_t s, e, as, ae;
  float scores[LT_LABELS], sim;
} lt_window;

/* Feeds the windows (a flush after the first LT_W1), collecting every
 * event, or label `only`'s (-2: all). */
static void
lt_run (clar_events *t, const lt_window *w, event_log *log, size_t only, int check_order)
{
  for (int i = 0; i < LT_W1 + LT_W2; i++) {
    int from = log->n;
    CHECK_EQ_INT (clar_events_push_active (t, w[i].index, w[i].s, w[i].e, w[i].as, w[i].ae,
        w[i].scores, w[i].sim), CLAR_OK);
    drain (t, log, only);
    if (check_order)
      CHECK_MSG (push_order_ok (log, from), "window %d: events out of order", i);
    if (i == LT_W1 - 1) {
      CHECK_EQ_INT (clar_events_flush (t), CLAR_OK);
      drain (t, log, only);
    }
  }
  CHECK_EQ_INT (clar_events_flush (t), CLAR_OK);
  drain (t, log, only);
}

static clar_events_label_options
lt_opt (clar_events_smoothing sm, unsigned n, float alpha, int64_t gap, int64_t dur)
{
  clar_events_label_options o;
  o.smoothing = sm;
  o.median_windows = n;
  o.exp_alpha = alpha;
  o.min_gap_ns = gap;
  o.min_duration_ns = dur;
  return o;
}

/* Field by field: the struct has padding. */
static int
same_options (const clar_events_label_options *a, const clar_events_label_options *b)
{
  return a->smoothing == b->smoothing && a->median_windows == b->median_windows
      && a->exp_alpha == b->exp_alpha && a->min_gap_ns == b->min_gap_ns
      && a->min_duration_ns == b->min_duration_ns;
}

static void
test_label_options_equivalence (void)
{
  static const char *names[LT_LABELS] = { "w0", "w1", "w2", "w3" };
  static lt_window w[LT_W1 + LT_W2];
  const clar_events_smoothing M = CLAR_EVENTS_SMOOTH_MEDIAN, E = CLAR_EVENTS_SMOOTH_EXP,
      N = CLAR_EVENTS_SMOOTH_NONE;
  /* Per track (w0..w3, unknown). */
  const clar_events_label_options mixes[][LT_TRACKS] = {
    { lt_opt (M, 1, 0.5f, 0, 0), lt_opt (M, 3, 0.5f, 0, 0), lt_opt (M, 4, 0.5f, 0, 0),
      lt_opt (M, 5, 0.5f, 0, 0), lt_opt (N, 3, 0.5f, 0, 0) },
    { lt_opt (N, 3, 0.5f, 0, 0), lt_opt (M, 5, 0.5f, SEC, 0), lt_opt (E, 3, 0.3f, 0, 0),
      lt_opt (M, 3, 0.5f, 0, 3 * HOP), lt_opt (M, 4, 0.5f, HOP, HOP) },
    { lt_opt (E, 5, 0.7f, 2 * SEC, 0), lt_opt (N, 7, 0.5f, 0, 2 * SEC),
      lt_opt (M, 2, 0.5f, HOP, 0), lt_opt (N, 3, 1.0f, 0, 0), lt_opt (E, 3, 0.25f, 0, SEC) },
    /* The widest median: every window waits for the flush. */
    { lt_opt (M, 5, 0.5f, 0, 0), lt_opt (N, 3, 0.5f, 0, 0),
      lt_opt (M, CLAR_EVENTS_MEDIAN_MAX, 0.5f, 0, 0), lt_opt (E, 3, 0.5f, HOP, 0),
      lt_opt (M, 9, 0.5f, 0, HOP) },
    /* All alike: the options of the params. */
    { lt_opt (M, 3, 0.5f, HOP, 0), lt_opt (M, 3, 0.5f, HOP, 0), lt_opt (M, 3, 0.5f, HOP, 0),
      lt_opt (M, 3, 0.5f, HOP, 0), lt_opt (M, 3, 0.5f, HOP, 0) },
  };
  const float on[LT_TRACKS] = { 0.5f, 0.6f, 0.4f, 0.55f, 0.5f };
  const float off[LT_TRACKS] = { 0.3f, 0.45f, 0.4f, 0.2f, 0.5f };
  int total = 0;

  for (size_t m = 0; m < sizeof mixes / sizeof mixes[0]; m++) {
    clar_events_params p = params_none ();
    int state[LT_LABELS] = { 0 }, unknown = 0;
    event_log *all = calloc (1, sizeof *all), *mine = calloc (1, sizeof *mine),
        *ref = calloc (1, sizeof *ref);
    clar_events *t;

    /* Scores: each label flips between on and off runs, with stray spikes
     * and dips (w2 has a long run, for the widest median); runs of windows
     * are unknown (similarity below 0.25); random active spans. A new
     * timeline after the flush. */
    lt_rng = 12345u + (uint32_t) m;
    for (int i = 0; i < LT_W1 + LT_W2; i++) {
      int j = i < LT_W1 ? i : i - LT_W1;
      int64_t a, b;
      w[i].index = (uint64_t) j + (i < LT_W1 ? 10 : 0);
      w[i].s = (int64_t) j * HOP;
      w[i].e = w[i].s + SEC;
      a = w[i].s + (int64_t) (lt_rand () * 0.6f * SEC);
      b = a + 1 + (int64_t) (lt_rand () * (float) (w[i].e - a - 1));
      w[i].as = lt_rand () < 0.5f ? w[i].s : a;
      w[i].ae = w[i].as == w[i].s ? w[i].e : b;
      for (int k = 0; k < LT_LABELS; k++) {
        if (lt_rand () < 0.15f)
          state[k] = !state[k];
        if (k == 2)
          state[k] = (j >= 10 && j < 140) || lt_rand () < 0.1f;
        w[i].scores[k] = state[k] ? (lt_rand () < 0.1f ? 0.3f * lt_rand () : 0.35f + 0.65f * lt_rand ())
            : (lt_rand () < 0.08f ? 0.5f + 0.5f * lt_rand () : 0.45f * lt_rand ());
      }
      if (lt_rand () < (unknown ? 0.3f : 0.05f))
        unknown = !unknown;
      w[i].sim = unknown ? 0.1f : 0.8f;
    }
    p.unknown_similarity = 0.25f;
    p.smoothing = M;
    p.median_windows = 3;
    p.min_gap_ns = HOP;

    t = clar_events_new (LT_LABELS, names, &p, NULL);
    CHECK (t != NULL);
    if (!t)
      return;
    for (size_t k = 0; k < LT_TRACKS; k++) {
      size_t label = k < LT_LABELS ? k : CLAR_EVENTS_UNKNOWN;
      clar_events_label_options got;
      CHECK_EQ_INT (clar_events_set_label_options (t, label, &mixes[m][k]), CLAR_OK);
      CHECK_EQ_INT (clar_events_set_thresholds (t, label, on[k], off[k]), CLAR_OK);
      CHECK_EQ_INT (clar_events_get_label_options (t, label, &got), CLAR_OK);
      CHECK (same_options (&got, &mixes[m][k]));
    }
    /* The params stay those of clar_events_new. */
    CHECK_EQ_INT (clar_events_get_params (t)->median_windows, 3);
    lt_run (t, w, all, (size_t) -2, 1);
    clar_events_free (t);

    for (size_t k = 0; k < LT_TRACKS; k++) {
      size_t label = k < LT_LABELS ? k : CLAR_EVENTS_UNKNOWN;
      clar_events_params q = p;
      clar_events *r;
      q.smoothing = mixes[m][k].smoothing;
      q.median_windows = mixes[m][k].median_windows;
      q.exp_alpha = mixes[m][k].exp_alpha;
      q.min_gap_ns = mixes[m][k].min_gap_ns;
      q.min_duration_ns = mixes[m][k].min_duration_ns;
      r = clar_events_new (LT_LABELS, names, &q, NULL);
      CHECK (r != NULL);
      if (!r)
        break;
      CHECK_EQ_INT (clar_events_set_thresholds (r, label, on[k], off[k]), CLAR_OK);
      ref->n = 0;
      lt_run (r, w, ref, label, 0);
      clar_events_free (r);
      mine->n = 0;
      for (int i = 0; i < all->n; i++)
        if (all->ev[i].label == label)
          mine->ev[mine->n++] = all->ev[i];
      CHECK_MSG (same_events (mine, ref), "mix %zu, track %zu: %d events, alone %d", m, k,
          mine->n, ref->n);
      /* Something to compare: every track has events. */
      CHECK_MSG (ref->n >= 2, "mix %zu, track %zu: only %d events", m, k, ref->n);
      total += ref->n;
    }
    free (all);
    free (mine);
    free (ref);
  }
  CHECK (total > 200);
}

/* Label options change only while no window is pending; bad values and
 * labels are refused; nothing changes on a refusal. */
static void
test_label_options_set (void)
{
  clar_events_params p = params_none ();
  clar_events_label_options o, got, m5 = lt_opt (CLAR_EVENTS_SMOOTH_MEDIAN, 5, 0.5f, 0, 0);
  clar_events *t;
  clar_event ev;
  p.min_duration_ns = 7;
  t = clar_events_new (2, names2, &p, NULL);
  /* At creation: the params' options, for the unknown track too. */
  CHECK_EQ_INT (clar_events_get_label_options (t, CLAR_EVENTS_UNKNOWN, &got), CLAR_OK);
  CHECK_EQ_INT (got.smoothing, CLAR_EVENTS_SMOOTH_NONE);
  CHECK_EQ_INT (got.median_windows, 3);
  CHECK_CLOSE (got.exp_alpha, 0.5, 0);
  CHECK_EQ_INT (got.min_duration_ns, 7);
  CHECK_EQ_INT (got.min_gap_ns, 0);
  CHECK_EQ_INT (clar_events_get_label_options (t, 2, &got), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_get_label_options (t, 0, NULL), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_get_label_options (NULL, 0, &got), CLAR_ERR_INVALID_ARGUMENT);

  /* Bad values: the ranges of clar_events_params. */
  {
    clar_events_label_options bad[] = {
      lt_opt (CLAR_EVENTS_SMOOTH_MEDIAN, 0, 0.5f, 0, 0),
      lt_opt (CLAR_EVENTS_SMOOTH_NONE, CLAR_EVENTS_MEDIAN_MAX + 1, 0.5f, 0, 0),
      lt_opt (CLAR_EVENTS_SMOOTH_EXP, 3, 0.0f, 0, 0),
      lt_opt (CLAR_EVENTS_SMOOTH_EXP, 3, NAN, 0, 0),
      lt_opt (CLAR_EVENTS_SMOOTH_NONE, 3, 1.5f, 0, 0),
      lt_opt ((clar_events_smoothing) 7, 3, 0.5f, 0, 0),
      lt_opt (CLAR_EVENTS_SMOOTH_NONE, 3, 0.5f, -1, 0),
      lt_opt (CLAR_EVENTS_SMOOTH_NONE, 3, 0.5f, 0, CLAR_EVENTS_TIME_MAX + 1),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
      CHECK_MSG (clar_events_set_label_options (t, 0, &bad[i]) == CLAR_ERR_INVALID_ARGUMENT,
          "case %zu", i);
  }
  CHECK_EQ_INT (clar_events_set_label_options (t, 2, &m5), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_set_label_options (t, 0, NULL), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_set_label_options (NULL, 0, &m5), CLAR_ERR_INVALID_ARGUMENT);
  clar_events_get_label_options (t, 0, &got);
  CHECK_EQ_INT (got.smoothing, CLAR_EVENTS_SMOOTH_NONE);
  /* The extremes are good. */
  o = lt_opt (CLAR_EVENTS_SMOOTH_EXP, CLAR_EVENTS_MEDIAN_MAX, 1.0f, CLAR_EVENTS_TIME_MAX,
      CLAR_EVENTS_TIME_MAX);
  CHECK_EQ_INT (clar_events_set_label_options (t, 1, &o), CLAR_OK);

  /* Label "a" with a median of 5 (it waits for two windows after), "b"
   * with none: b's event in window 0 comes out when window 2 is in. */
  o = lt_opt (CLAR_EVENTS_SMOOTH_NONE, 3, 0.5f, 0, 0);
  CHECK_EQ_INT (clar_events_set_label_options (t, 1, &o), CLAR_OK);
  CHECK_EQ_INT (clar_events_set_label_options (t, 0, &m5), CLAR_OK);
  CHECK_EQ_INT (push (t, 0, 0, 0.9f, 1), CLAR_OK);
  /* A window is pending: refused, nothing changed. */
  CHECK_EQ_INT (clar_events_set_label_options (t, 0, &o), CLAR_ERR_UNSUPPORTED);
  CHECK_EQ_INT (clar_events_set_label_options (t, 1, &m5), CLAR_ERR_UNSUPPORTED);
  CHECK_EQ_INT (clar_events_set_label_options (t, 0, &o), CLAR_ERR_UNSUPPORTED);
  clar_events_get_label_options (t, 0, &got);
  CHECK (same_options (&got, &m5));
  CHECK (!clar_events_next (t, &ev));
  CHECK_EQ_INT (push (t, 1, 0, 0, 1), CLAR_OK);
  CHECK (!clar_events_next (t, &ev));
  CHECK_EQ_INT (push (t, 2, 0, 0, 1), CLAR_OK);
  CHECK (clar_events_next (t, &ev) && ev.kind == CLAR_EVENT_START && ev.label == 1
      && ev.first_window == 0 && ev.start_ns == cell_start (0));
  /* Still refused once everything pushed is decided: only a flush starts
   * a new stretch whose options may differ. */
  CHECK_EQ_INT (clar_events_set_label_options (t, 1, &o), CLAR_ERR_UNSUPPORTED);
  CHECK_EQ_INT (clar_events_flush (t), CLAR_OK);
  while (clar_events_next (t, &ev))
    ;
  CHECK_EQ_INT (clar_events_set_label_options (t, 0, &o), CLAR_OK);
  /* Now no track looks ahead: decided at once. */
  CHECK_EQ_INT (push (t, 0, 0, 0.9f, 1), CLAR_OK);
  CHECK (clar_events_next (t, &ev) && ev.label == 1);
  clar_events_free (t);
}

/* "#% label-tracker:" lines. */
static void
test_label_options_file (void)
{
  clar_events_params p = params_none ();
  clar_events *t;
  clar_error err;
  clar_events_label_options o;
  const char *names[4] = { "dog bark", "cat", "rain", "dog" };
  const char *good =
      "# thresholds\n"
      "#% tracker: smoothing=median:3\n"
      "#% label-tracker: dog bark smoothing=median:5 min-gap-ns=250000000\r\n"
      "#% label-tracker:\tcat\tsmoothing=none min-duration-ns=86400000000000\n"
      "cat\t0.4\n"
      "#%label-tracker: unknown smoothing=exp:0.25\n"
      "#% label-tracker: dog\n"
      "#% label-tracker: rain min-duration-ns=5";   /* no final newline */

  p.smoothing = CLAR_EVENTS_SMOOTH_MEDIAN;
  p.median_windows = 3;
  p.min_gap_ns = 9;
  t = clar_events_new (4, names, &p, &err);
  CHECK_EQ_INT (clar_events_parse_label_options (t, good, strlen (good), "th.tsv", 0, &err),
      CLAR_OK);
  /* The longest name: "dog bark", not "dog". */
  clar_events_get_label_options (t, 0, &o);
  CHECK_EQ_INT (o.smoothing, CLAR_EVENTS_SMOOTH_MEDIAN);
  CHECK_EQ_INT (o.median_windows, 5);
  CHECK_EQ_INT (o.min_gap_ns, 250000000);
  CHECK_EQ_INT (o.min_duration_ns, 0);
  clar_events_get_label_options (t, 1, &o);
  CHECK_EQ_INT (o.smoothing, CLAR_EVENTS_SMOOTH_NONE);
  CHECK_EQ_INT (o.median_windows, 3);   /* "none" names the smoothing alone */
  CHECK_EQ_INT (o.min_gap_ns, 9);       /* not named: the tracker's */
  CHECK_EQ_INT (o.min_duration_ns, CLAR_EVENTS_TIME_MAX);
  clar_events_get_label_options (t, CLAR_EVENTS_UNKNOWN, &o);
  CHECK_EQ_INT (o.smoothing, CLAR_EVENTS_SMOOTH_EXP);
  CHECK_CLOSE (o.exp_alpha, 0.25, 1e-7);
  clar_events_get_label_options (t, 3, &o);   /* named, nothing given */
  CHECK_EQ_INT (o.smoothing, CLAR_EVENTS_SMOOTH_MEDIAN);
  CHECK_EQ_INT (o.median_windows, 3);
  clar_events_get_label_options (t, 2, &o);
  CHECK_EQ_INT (o.min_duration_ns, 5);
  /* The tracker line is not this parser's: the params stay. */
  CHECK_EQ_INT (clar_events_get_params (t)->median_windows, 3);
  clar_events_free (t);

  /* keep: what the user set wins for every label; the rest applies. */
  t = clar_events_new (4, names, &p, &err);
  CHECK_EQ_INT (clar_events_parse_label_options (t, good, strlen (good), "th.tsv",
      CLAR_EVENTS_OPT_SMOOTHING | CLAR_EVENTS_OPT_MEDIAN_WINDOWS | CLAR_EVENTS_OPT_EXP_ALPHA
      | CLAR_EVENTS_OPT_MIN_DURATION, &err), CLAR_OK);
  for (size_t k = 0; k < 5; k++) {
    clar_events_get_label_options (t, k < 4 ? k : CLAR_EVENTS_UNKNOWN, &o);
    CHECK_EQ_INT (o.smoothing, CLAR_EVENTS_SMOOTH_MEDIAN);
    CHECK_EQ_INT (o.median_windows, 3);
    CHECK_CLOSE (o.exp_alpha, 0.5, 0);
    CHECK_EQ_INT (o.min_duration_ns, 0);
    CHECK_EQ_INT (o.min_gap_ns, k == 0 ? 250000000 : 9);
  }
  /* The median's width alone kept: the file's smoothing kind applies with
   * the user's width (as for "#% tracker:"). */
  clar_events_free (t);
  t = clar_events_new (4, names, &p, &err);
  CHECK_EQ_INT (clar_events_parse_label_options (t, good, strlen (good), "th.tsv",
      CLAR_EVENTS_OPT_MEDIAN_WINDOWS, &err), CLAR_OK);
  clar_events_get_label_options (t, 0, &o);
  CHECK_EQ_INT (o.smoothing, CLAR_EVENTS_SMOOTH_MEDIAN);
  CHECK_EQ_INT (o.median_windows, 3);
  clar_events_free (t);

  /* Errors name the source and line; nothing changes (all or nothing: the
   * good lines before the bad one neither). */
  t = clar_events_new (4, names, &p, &err);
  {
    struct { const char *text, *msg; } bad[] = {
      { "#% label-tracker: cat smoothing=none\n#% label-tracker: dgo bark smoothing=none\n",
        "th.tsv:2: no label \"dgo bark\" in this label set" },
      { "#% label-tracker: cats smoothing=none\n", "th.tsv:1: no label \"cats\"" },
      { "#% label-tracker: smoothing=none\n",
        "th.tsv:1: expected a label name after \"#% label-tracker:\"" },
      { "#% label-tracker:\n", "th.tsv:1: expected a label name" },
      { "#% label-tracker: cat smoothing=none gap=5\n",
        "th.tsv:1: unknown tracker option \"gap\"" },
      { "#% label-tracker: cat smoothing=median:0\n", "th.tsv:1: smoothing \"median:0\"" },
      { "#% label-tracker: cat min-gap-ns=-1\n",
        "th.tsv:1: tracker option min-gap-ns: -1 ns is outside" },
      { "#% label-tracker: cat min-duration-ns=1s\n",
        "th.tsv:1: tracker option min-duration-ns: \"1s\" is not a whole" },
      { "#% label-tracker: cat smoothing=none smoothing=none\n",
        "th.tsv:1: tracker option \"smoothing\" given twice" },
      { "#% label-tracker: cat smoothing=none\nrain\t0.5\n#% label-tracker: cat min-gap-ns=0\n",
        "th.tsv:3: label \"cat\" has a label-tracker line already (line 1)" },
      { "#% label-tracker: cat smoothing\n",
        "th.tsv:1: expected KEY=VALUE in the label-tracker directive, found \"smoothing\"" },
      { "#% label-tracker: cat smoothing=none \xff\n", "th.tsv:1: directive line is not valid UTF-8" },
      { "#% label_tracker: cat smoothing=none\n", "th.tsv:1: unknown directive" },
      { "#% tracker: smoothing=none\n#% labels: x\n", "th.tsv:2: unknown directive" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      err.message[0] = 0;
      CHECK_EQ_INT (clar_events_parse_label_options (t, bad[i].text, strlen (bad[i].text),
          "th.tsv", 0, &err), CLAR_ERR_INVALID_ARGUMENT);
      CHECK_EQ_INT (err.code, CLAR_ERR_INVALID_ARGUMENT);
      CHECK_MSG (strstr (err.message, bad[i].msg) == err.message, "case %zu: got \"%s\"", i,
          err.message);
      for (size_t k = 0; k < 5; k++) {
        clar_events_get_label_options (t, k < 4 ? k : CLAR_EVENTS_UNKNOWN, &o);
        CHECK_MSG (o.smoothing == CLAR_EVENTS_SMOOTH_MEDIAN && o.median_windows == 3
            && o.min_gap_ns == 9 && o.min_duration_ns == 0, "case %zu: label %zu changed", i, k);
      }
    }
  }
  CHECK_EQ_INT (clar_events_parse_label_options (t, "#% label-tracker: cat smoothing=none\0\n",
      38, "th.tsv", 0, &err), CLAR_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.message, "th.tsv:1: NUL byte") == err.message);
  CHECK_EQ_INT (clar_events_parse_label_options (t, NULL, 1, "th.tsv", 0, &err),
      CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_parse_label_options (NULL, "", 0, "th.tsv", 0, &err),
      CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_parse_label_options (t, NULL, 0, NULL, 0, NULL), CLAR_OK);

  /* Windows pending: refused, whatever the text. */
  {
    float s[4] = { 0 };
    const char *text = "#% label-tracker: cat smoothing=none\n";
    CHECK_EQ_INT (clar_events_push (t, 0, 0, SEC, s, 1), CLAR_OK);
    CHECK_EQ_INT (clar_events_parse_label_options (t, text, strlen (text), "th.tsv", 0, &err),
        CLAR_ERR_UNSUPPORTED);
    CHECK (strstr (err.message, "th.tsv: windows are pending") == err.message);
    clar_events_get_label_options (t, 1, &o);
    CHECK_EQ_INT (o.smoothing, CLAR_EVENTS_SMOOTH_MEDIAN);
    clar_events_flush (t);
    CHECK_EQ_INT (clar_events_parse_label_options (t, text, strlen (text), "th.tsv", 0, &err),
        CLAR_OK);
    clar_events_get_label_options (t, 1, &o);
    CHECK_EQ_INT (o.smoothing, CLAR_EVENTS_SMOOTH_NONE);
  }
  clar_events_free (t);

  /* The other parsers skip the lines: the tracker line's parser whatever
   * they hold (not its business), the threshold parser every '#' line. */
  {
    clar_events_params q;
    unsigned named = 99;
    float on, off;
    const char *text = "#% label-tracker: no-such-label gap=5\n#% tracker: min-gap-ns=3\n"
        "cat\t0.4\n";
    clar_events_params_init (&q);
    CHECK_EQ_INT (clar_events_parse_tracker_options (text, strlen (text), "th.tsv", 0, &q,
        &named, &err), CLAR_OK);
    CHECK_EQ_INT (named, CLAR_EVENTS_OPT_MIN_GAP);
    CHECK_EQ_INT (q.min_gap_ns, 3);
    CHECK_EQ_INT (clar_events_parse_tracker_options ("#% label-tracker: x \xff\n", 22, "th.tsv",
        0, &q, &named, &err), CLAR_ERR_INVALID_ARGUMENT);
    t = clar_events_new (4, names, &p, &err);
    CHECK_EQ_INT (clar_events_parse_thresholds (t, text, strlen (text), "th.tsv", &err), CLAR_OK);
    clar_events_get_thresholds (t, 1, &on, &off);
    CHECK_CLOSE (on, 0.4, 1e-7);
    clar_events_free (t);
  }

  /* The file reader. */
  {
    char path[] = "/tmp/clar-test-label-options-XXXXXX";
    int fd = mkstemp (path);
    CHECK (fd >= 0);
    CHECK (write (fd, good, strlen (good)) == (ssize_t) strlen (good));
    close (fd);
    t = clar_events_new (4, names, &p, &err);
    CHECK_EQ_INT (clar_events_load_label_options (t, path, 0, &err), CLAR_OK);
    clar_events_get_label_options (t, 0, &o);
    CHECK_EQ_INT (o.median_windows, 5);
    unlink (path);
    CHECK_EQ_INT (clar_events_load_label_options (t, path, 0, &err), CLAR_ERR_IO);
    CHECK (strstr (err.message, "No such file") != NULL);
    CHECK_EQ_INT (clar_events_load_label_options (t, NULL, 0, &err), CLAR_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT (clar_events_load_label_options (NULL, path, 0, &err),
        CLAR_ERR_INVALID_ARGUMENT);
    clar_events_free (t);
  }
}

/* Active spans refine where a window places its sound. */
static void
test_active_span (void)
{
  clar_events_params p = params_none ();
  clar_events *t = clar_events_new (2, names2, &p, NULL);
  clar_event ev;
  float on[2] = { 0.9f, 0 }, off[2] = { 0, 0 };
  /* Window 2 spans [1, 2) s, cell [1.25, 1.75); a sound at [1.3, 1.5):
   * the overlap. Window 3, [1.5, 2.5), cell [1.75, 2.25), hears the same
   * sound's tail [1.5, 1.6), outside its cell: the active span itself. */
  CHECK_EQ_INT (clar_events_push_active (t, 2, 2 * HOP, 2 * HOP + SEC, 13 * SEC / 10,
      15 * SEC / 10, on, 1), CLAR_OK);
  CHECK_EQ_INT (clar_events_push_active (t, 3, 3 * HOP, 3 * HOP + SEC, 15 * SEC / 10,
      16 * SEC / 10, on, 1), CLAR_OK);
  CHECK_EQ_INT (clar_events_push (t, 4, 4 * HOP, 4 * HOP + SEC, off, 1), CLAR_OK);
  CHECK (clar_events_next (t, &ev) && ev.kind == CLAR_EVENT_START);
  CHECK_EQ_INT (ev.start_ns, 13 * SEC / 10);
  CHECK_EQ_INT (ev.end_ns, 15 * SEC / 10);
  CHECK (clar_events_next (t, &ev) && ev.kind == CLAR_EVENT_END);
  CHECK_EQ_INT (ev.start_ns, 13 * SEC / 10);
  CHECK_EQ_INT (ev.end_ns, 16 * SEC / 10);
  /* A whole-window active span is the cell. */
  CHECK_EQ_INT (clar_events_push_active (t, 5, 5 * HOP, 5 * HOP + SEC, 5 * HOP, 5 * HOP + SEC,
      on, 1), CLAR_OK);
  CHECK (clar_events_next (t, &ev) && ev.start_ns == cell_start (5) && ev.end_ns == cell_end (5));
  /* Spans outside the window, or empty, are refused. */
  CHECK_EQ_INT (clar_events_push_active (t, 6, 6 * HOP, 6 * HOP + SEC, 6 * HOP - 1,
      6 * HOP + SEC, on, 1), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_push_active (t, 6, 6 * HOP, 6 * HOP + SEC, 6 * HOP,
      6 * HOP + SEC + 1, on, 1), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_events_push_active (t, 6, 6 * HOP, 6 * HOP + SEC, 6 * HOP + 5,
      6 * HOP + 5, on, 1), CLAR_ERR_INVALID_ARGUMENT);
  clar_events_free (t);
}

/* Many labels and a long stream: the queue grows, nothing is lost. */
static void
test_many (void)
{
  enum { L = 200, W = 400 };
  static char buf[L][16];
  const char *names[L];
  float s[L];
  clar_events_params p = params_none ();
  clar_events *t;
  clar_event ev;
  long starts = 0, ends = 0;
  for (int i = 0; i < L; i++) {
    snprintf (buf[i], sizeof buf[i], "l%d", i);
    names[i] = buf[i];
  }
  t = clar_events_new (L, names, &p, NULL);
  for (int w = 0; w < W; w++) {
    /* Label i is on in windows where (w / (i % 7 + 1)) is odd. */
    for (int i = 0; i < L; i++)
      s[i] = (w / (i % 7 + 1)) % 2 ? 0.9f : 0.0f;
    CHECK_EQ_INT (clar_events_push (t, (uint64_t) w, (int64_t) w * HOP, (int64_t) w * HOP + SEC,
        s, 1.0f), CLAR_OK);
  }
  clar_events_flush (t);
  while (clar_events_next (t, &ev)) {
    starts += ev.kind == CLAR_EVENT_START;
    ends += ev.kind == CLAR_EVENT_END;
  }
  /* Label i has W / (2 (i % 7 + 1)) runs (rounded down; 400 is divisible
   * by 2, 4, 6?, ...): count them the same way. */
  long want = 0;
  for (int i = 0; i < L; i++) {
    int prev = 0;
    for (int w = 0; w < W; w++) {
      int cur = (w / (i % 7 + 1)) % 2;
      want += cur && !prev;
      prev = cur;
    }
  }
  CHECK_EQ_INT (starts, want);
  CHECK_EQ_INT (ends, want);
  clar_events_free (t);
}

/* The window observer sees every accepted window exactly as pushed (scores
 * before the open-set step), none that the tracker refused. */
typedef struct {
  int n;
  uint64_t index[4];
  int64_t a0[4], a1[4];
  float score_b[4], sim[4];
} seen_windows;

static void
observe (void *user, uint64_t index, int64_t start_ns, int64_t end_ns, int64_t a0, int64_t a1,
         const float *scores, float similarity)
{
  seen_windows *w = user;
  CHECK (end_ns - start_ns == SEC);
  if (w->n < 4) {
    w->index[w->n] = index;
    w->a0[w->n] = a0;
    w->a1[w->n] = a1;
    w->score_b[w->n] = scores[1];
    w->sim[w->n] = similarity;
  }
  w->n++;
}

static void
test_window_fn (void)
{
  clar_events_params p = params_none ();
  seen_windows w = { 0 };
  float s[2] = { 0.2f, 0.7f }, nan_[2] = { NAN, 0.0f };
  clar_events *t;
  p.unknown_similarity = 0.5f;
  t = clar_events_new (2, names2, &p, NULL);
  CHECK (t != NULL);
  if (!t)
    return;
  clar_events_set_window_fn (t, observe, &w);
  CHECK_EQ_INT (clar_events_push_active (t, 3, 0, SEC, SEC / 10, SEC / 5, s, 0.25f), CLAR_OK);
  /* Refused: NaN score, and an index that does not increase. */
  CHECK_EQ_INT (clar_events_push (t, 4, HOP, HOP + SEC, nan_, 1.0f), CLAR_ERR_NONFINITE);
  CHECK_EQ_INT (clar_events_push (t, 3, HOP, HOP + SEC, s, 1.0f), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (push (t, 5, 0.1f, 0.9f, 0.8f), CLAR_OK);
  CHECK_EQ_INT (w.n, 2);
  CHECK_EQ_INT (w.index[0], 3);
  CHECK_EQ_INT (w.a0[0], SEC / 10);
  CHECK_EQ_INT (w.a1[0], SEC / 5);
  /* Below unknown_similarity the tracker zeroes the labels; the observer
   * still gets the scores as pushed. */
  CHECK_CLOSE (w.score_b[0], 0.7, 1e-7);
  CHECK_CLOSE (w.sim[0], 0.25, 1e-7);
  CHECK_EQ_INT (w.index[1], 5);
  CHECK_EQ_INT (w.a0[1], 5 * HOP);
  CHECK_EQ_INT (w.a1[1], 5 * HOP + SEC);
  CHECK_CLOSE (w.score_b[1], 0.9, 1e-7);
  /* Removed: no more calls. */
  clar_events_set_window_fn (t, NULL, NULL);
  CHECK_EQ_INT (push (t, 6, 0.1f, 0.9f, 0.8f), CLAR_OK);
  CHECK_EQ_INT (w.n, 2);
  clar_events_set_window_fn (NULL, observe, &w);   /* NULL-safe */
  clar_events_free (t);
}

int
main (void)
{
  CLAR_TEST_RUN (test_defaults);
  CLAR_TEST_RUN (test_single_window);
  CLAR_TEST_RUN (test_hysteresis);
  CLAR_TEST_RUN (test_min_gap);
  CLAR_TEST_RUN (test_min_duration);
  CLAR_TEST_RUN (test_median);
  CLAR_TEST_RUN (test_exponential);
  CLAR_TEST_RUN (test_flush);
  CLAR_TEST_RUN (test_unknown);
  CLAR_TEST_RUN (test_order);
  CLAR_TEST_RUN (test_bad_input);
  CLAR_TEST_RUN (test_params);
  CLAR_TEST_RUN (test_thresholds);
  CLAR_TEST_RUN (test_smoothing_spec);
  CLAR_TEST_RUN (test_tracker_options);
  CLAR_TEST_RUN (test_label_options_equivalence);
  CLAR_TEST_RUN (test_label_options_set);
  CLAR_TEST_RUN (test_label_options_file);
  CLAR_TEST_RUN (test_active_span);
  CLAR_TEST_RUN (test_many);
  CLAR_TEST_RUN (test_window_fn);
  CLAR_TEST_EXIT ();
}
