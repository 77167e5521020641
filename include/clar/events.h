/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/events.h — sound events from per-window label scores: smoothing,
 * hysteresis, per-label thresholds, minimum duration and gap, an "unknown"
 * track for windows that resemble no label (open set).
 *
 * A tracker is fed one window at a time, in time order: the window's index,
 * its start and end (int64 nanoseconds on any monotonic timeline, e.g. the
 * stream's PTS), one score per label (the softmax probabilities of
 * clar_labels_score) and the window's highest cosine similarity to any label.
 * It reports each sound event twice: when it starts (as soon as it is known
 * to be at least min_duration_ns long) and when it ends (once min_gap_ns
 * has passed without the label, or at clar_events_flush()).
 *
 * Per label (and for the unknown track), in this order:
 *
 *  1. Open set: a window whose highest similarity is below
 *     unknown_similarity counts as "unknown": the unknown track scores 1 in
 *     it and every label track scores 0 (a confident softmax over the wrong
 *     labels is no evidence for any of them). Otherwise unknown scores 0.
 *  2. Smoothing over windows (post-processing as in the DCASE SED
 *     baselines, e.g. Mesaros et al., "Sound Event Detection: A Tutorial",
 *     IEEE SPM 2021, sec. "Post-processing"):
 *     - CLAR_EVENTS_SMOOTH_MEDIAN: median of the N windows centred on each
 *       window (N odd: (N-1)/2 each side; N even: N/2 before, N/2-1 after,
 *       the mean of the two middle values). The tracker waits for the
 *       windows after a window before it decides it, so events come out
 *       N/2 windows late but with undelayed times (with options per label,
 *       below: the widest look-ahead of any label, for every label); near
 *       a flush the median runs over the windows there are.
 *     - CLAR_EVENTS_SMOOTH_EXP: s_i = alpha x_i + (1 - alpha) s_{i-1},
 *       s_0 = x_0 (causal; no look-ahead, so onsets and offsets lag).
 *     - CLAR_EVENTS_SMOOTH_NONE.
 *  3. Hysteresis (Schmitt trigger): a track turns on when its smoothed
 *     score is >= its on threshold and stays on while it is >= its off
 *     threshold (off <= on).
 *  4. Gaps shorter than min_gap_ns between two runs of one label are
 *     filled (the runs become one event); then events shorter than
 *     min_duration_ns are dropped (never reported). Both as in sed_eval /
 *     DCASE post-processing ("fill gaps, then remove short events").
 *
 * Smoothing, min_gap_ns and min_duration_ns may differ per label
 * (clar_events_set_label_options, "#% label-tracker:" lines in threshold
 * files), as the thresholds of step 3 do.
 *
 * Time of an event: each window stands for the hop-long cell centred on it,
 * [c - h/2, c + h/2) with c the window's centre and h = min(hop_ns, window
 * length) (hop_ns = 0: the whole window). An event runs from the first cell's
 * start to the last cell's end. With 1 s windows every 0.5 s, a window that
 * hears a sound most of its length is the one whose centre half holds it;
 * taking whole windows would stretch every event by half a window at each
 * end.
 *
 * Sharper boundaries (optional): a caller that knows where in the window
 * the sound is (clar_stream: around the window's loudest 10 ms frame when
 * it is more than active_db above the window's background, widened while
 * frames stay more than active_db / 2 above it and across gaps of at most
 * 150 ms to frames more than active_db above it) passes that "active span" with
 * clar_events_push_active. The window then places its sound where its cell
 * and its active span overlap (the active span alone when they do not), and
 * an event runs from the earliest such start to the latest end of its
 * windows. A short sound well above the background then gets its own
 * extent instead of a cell's (a 0.4 s word in 1 s windows: 0.4 s, not 1 s);
 * in noise as loud as the sound the active span is the whole window and
 * nothing changes. Gaps (min_gap_ns) are still measured on cells.
 *
 * Peak and mean are of the label's window scores after the open-set step
 * (unsmoothed) over every window of the event, gap windows included.
 *
 * Threading: a tracker belongs to one thread at a time (no internal
 * locking); separate trackers are independent. clar_events_params_init()
 * and the threshold and tracker-option parsers are thread-safe (they touch
 * only their arguments).
 */
#ifndef CLAR_EVENTS_H
#define CLAR_EVENTS_H

#include <stdint.h>
#include <clar/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clar_events clar_events;

typedef enum clar_events_smoothing {
  CLAR_EVENTS_SMOOTH_NONE = 0,
  CLAR_EVENTS_SMOOTH_MEDIAN = 1,
  CLAR_EVENTS_SMOOTH_EXP = 2
} clar_events_smoothing;

/* Largest median filter, in windows. */
#define CLAR_EVENTS_MEDIAN_MAX 255
/* Longest min_duration_ns / min_gap_ns / hop_ns accepted (one day). */
#define CLAR_EVENTS_TIME_MAX ((int64_t) 86400 * 1000000000)
/* Label index of the unknown track in clar_event.label. */
#define CLAR_EVENTS_UNKNOWN ((size_t) -1)

typedef struct clar_events_params {
  clar_events_smoothing smoothing;   /* default NONE (see models/README.md) */
  unsigned median_windows;           /* 1..CLAR_EVENTS_MEDIAN_MAX, default 3 */
  float exp_alpha;                   /* (0, 1], default 0.5 */
  float on_threshold;                /* [0, 1], default 0.5: every label's */
  float off_threshold;               /* [0, on], default 0.3 */
  int64_t min_duration_ns;           /* [0, TIME_MAX], default 0 */
  int64_t min_gap_ns;                /* [0, TIME_MAX], default 0 */
  int64_t hop_ns;                    /* the caller's hop; 0 = whole windows */
  /* Open set: windows whose highest cosine similarity is below this are
   * "unknown"; -1 (the default) turns the unknown track off. [-1, 1]. */
  float unknown_similarity;
  float unknown_on, unknown_off;     /* unknown track's thresholds, 0.5, 0.5 */
  const char *unknown_name;          /* its label name, default "unknown"; copied */
  /* For the caller (clar_stream) that computes active spans: a window's
   * active span is the sound around its loudest 10 ms frame when that is
   * more than this many dB above its background (10th-percentile frame
   * energy), widened while frames stay more than half this above it and
   * across gaps of at most 150 ms to frames more than this above it;
   * 0 = no active spans.
   * Default 10. [0, 200]. */
  float active_db;
} clar_events_params;

typedef enum clar_event_kind {
  CLAR_EVENT_START = 0,   /* reported once the event is min_duration_ns long */
  CLAR_EVENT_END = 1      /* the event is over; every field is final */
} clar_event_kind;

typedef struct clar_event {
  clar_event_kind kind;
  size_t label;           /* label index, or CLAR_EVENTS_UNKNOWN */
  const char *name;       /* owned by the tracker, valid until it is freed */
  int64_t start_ns;       /* first cell's start */
  int64_t end_ns;         /* last cell's end (START: so far) */
  float peak, mean;       /* of the event's window scores (START: so far) */
  uint64_t first_window, last_window;   /* window indices (START: so far) */
} clar_event;

/* Defaults as documented on each field. Never fails. */
CLAR_API void clar_events_params_init (clar_events_params *p);

/* Checks every field; returns CLAR_OK or CLAR_ERR_INVALID_ARGUMENT with a
 * message naming the field and its range. */
CLAR_API int clar_events_params_check (const clar_events_params *p,
                                       clar_error *err);

/* A tracker for n_labels labels (1..CLAR_LABELS_MAX) named names[i] (copied;
 * they name the labels of a threshold file and the reported events). p may
 * be NULL for the defaults. */
CLAR_API clar_events *clar_events_new (size_t n_labels,
                                       const char *const *names,
                                       const clar_events_params *p,
                                       clar_error *err);
/* NULL-safe. */
CLAR_API void clar_events_free (clar_events *t);

CLAR_API size_t clar_events_n_labels (const clar_events *t);
CLAR_API const clar_events_params *clar_events_get_params (const clar_events *t);

/* Sets params.hop_ns (the caller's hop, 0..CLAR_EVENTS_TIME_MAX) for the
 * windows pushed from now on: for a stream whose hop changed (flush first). */
CLAR_API int clar_events_set_hop (clar_events *t, int64_t hop_ns);

/* Per-label thresholds: label is an index or CLAR_EVENTS_UNKNOWN; on in
 * [0, 1], off in [0, on]. An on threshold of 1 with off 1 still fires on a
 * score of exactly 1; use clar_events_set_enabled to switch a label off. */
CLAR_API int clar_events_set_thresholds (clar_events *t, size_t label,
                                         float on, float off);
CLAR_API int clar_events_get_thresholds (const clar_events *t, size_t label,
                                         float *on, float *off);
/* A disabled label never starts an event (default: all enabled). */
CLAR_API int clar_events_set_enabled (clar_events *t, size_t label,
                                      int enabled);

/* Tracker options per label. One smoothing for every label is a
 * compromise that costs: a held instrument note wants a median over several
 * windows to bridge its dips, while a spoken word one window long does not
 * survive one (the default model at a 0.5 s hop, cross-validated on
 * calibration scenes: event F1 0.797 with one setting and pair for all
 * labels, 0.840 with a pair and options per domain; models/README.md,
 * "Sound events"). So each track (a label, or CLAR_EVENTS_UNKNOWN)
 * has its own smoothing, median width, exponential factor, minimum gap and
 * minimum duration; clar_events_new gives every track those of its params,
 * and clar_events_get_params keeps returning those. Fields and ranges as
 * in clar_events_params, checked whatever the smoothing; a bad value or
 * label gives CLAR_ERR_INVALID_ARGUMENT and changes nothing.
 *
 * A label's events are exactly those a tracker whose params carry that
 * label's options would report for it (same times, scores and window
 * indices), whatever options the other labels have. They may come later:
 * the tracker decides a window once every track's median has the windows
 * after it, i.e. after the widest look-ahead of any track, so a label
 * without smoothing beside one with a median of 5 has its events reported
 * 2 windows late (their times are not delayed). Ordering as documented at
 * clar_events_next.
 *
 * Setting is allowed only while no window is pending: right after
 * clar_events_new or clar_events_flush, before the next push. The options
 * decide how many windows the tracker keeps and how late it decides them,
 * and an event in progress began under the old ones. Otherwise
 * CLAR_ERR_UNSUPPORTED (not a bad value: the same call succeeds after a
 * flush) and nothing changes. CLAR_ERR_NO_MEMORY (nothing changed) when the
 * window history cannot grow for a wider median. */
typedef struct clar_events_label_options {
  clar_events_smoothing smoothing;   /* as clar_events_params' fields */
  unsigned median_windows;
  float exp_alpha;
  int64_t min_gap_ns;
  int64_t min_duration_ns;
} clar_events_label_options;

CLAR_API int clar_events_set_label_options (clar_events *t, size_t label,
                                            const clar_events_label_options *o);
CLAR_API int clar_events_get_label_options (const clar_events *t, size_t label,
                                            clar_events_label_options *o);

/* Per-label threshold file: UTF-8 text, one line per label,
 *
 *   LABEL <TAB> ON [<TAB> OFF]
 *
 * (OFF defaults to ON, i.e. no hysteresis, for that label). Empty lines and
 * lines starting with '#' are skipped (the "#% tracker:" and
 * "#% label-tracker:" directives below too: clar_events_parse_tracker_options
 * and clar_events_parse_label_options read them); a trailing CR is
 * ignored. LABEL is a label name of the tracker or its unknown name. Errors
 * name the source and line, e.g. "th.tsv:3: no label \"dgo\" in this label
 * set", and leave the tracker's thresholds untouched (all or nothing).
 * clar_events_parse_thresholds reads text (len bytes; source names it in
 * messages). */
CLAR_API int clar_events_parse_thresholds (clar_events *t, const char *text,
                                           size_t len, const char *source,
                                           clar_error *err);
CLAR_API int clar_events_load_thresholds (clar_events *t, const char *path,
                                          clar_error *err);

/* Parses a smoothing spec into p: "none", "median:N" or "exp:ALPHA". */
CLAR_API int clar_events_parse_smoothing (const char *spec,
                                          clar_events_params *p,
                                          clar_error *err);

/* Tracker options in a threshold file. Thresholds are chosen for scores
 * smoothed and post-processed one particular way (tools/events/calibrate.py
 * tries several); the file says which in a directive line
 *
 *   #% tracker: smoothing=median:3 min-gap-ns=0 min-duration-ns=0
 *
 * "#%" then "tracker:" then KEY=VALUE fields separated by spaces or tabs,
 * each key at most once in the file (over all such lines), in any order,
 * any of them left out:
 *
 *   smoothing=SPEC      clar_events_parse_smoothing's none, median:N or
 *                       exp:ALPHA; names CLAR_EVENTS_OPT_SMOOTHING and, for
 *                       median:N / exp:ALPHA, CLAR_EVENTS_OPT_MEDIAN_WINDOWS /
 *                       CLAR_EVENTS_OPT_EXP_ALPHA
 *   min-gap-ns=N        decimal integer, 0..CLAR_EVENTS_TIME_MAX
 *   min-duration-ns=N   likewise
 *
 * The line starts with '#', so clar_events_parse_thresholds (and readers
 * older than this) skip it as a comment. Every line starting with "#%" is
 * a directive, and "tracker:" and "label-tracker:" (below) the only ones:
 * "#% other:" is an error, not a comment, so that a misspelt directive is
 * never silently ignored. A file without a directive names nothing (not an
 * error).
 *
 * The rule for callers (clarembed, clar-embed): an option the file names
 * applies unless the user set it explicitly; an explicit setting always
 * wins. clar_events_parse_tracker_options reads the directives of text
 * (len bytes; source names it in messages) into p, except the fields in
 * keep (a mask of clar_events_option: those the user set), and stores in
 * *named (may be NULL) every field the file names, kept ones included (so
 * named & ~keep came from the file). Errors (CLAR_ERR_INVALID_ARGUMENT, a
 * message naming the source and line, e.g. "th.tsv:4: unknown tracker
 * option \"gap\""): an unknown directive or key, a field that is not
 * KEY=VALUE, a bad or out-of-range value, a key given twice, a directive
 * line that is not valid UTF-8 or holds a NUL byte; they leave p and
 * *named untouched (all or nothing). "#% label-tracker:" lines are checked
 * for UTF-8 and NUL bytes only (clar_events_parse_label_options reads
 * them); other lines are not looked at (that is
 * clar_events_parse_thresholds' job). clar_events_load_tracker_options
 * reads the file at path (CLAR_ERR_IO when it cannot). */
typedef enum clar_events_option {
  CLAR_EVENTS_OPT_SMOOTHING = 1 << 0,        /* p->smoothing */
  CLAR_EVENTS_OPT_MEDIAN_WINDOWS = 1 << 1,   /* p->median_windows */
  CLAR_EVENTS_OPT_EXP_ALPHA = 1 << 2,        /* p->exp_alpha */
  CLAR_EVENTS_OPT_MIN_GAP = 1 << 3,          /* p->min_gap_ns */
  CLAR_EVENTS_OPT_MIN_DURATION = 1 << 4      /* p->min_duration_ns */
} clar_events_option;

CLAR_API int clar_events_parse_tracker_options (const char *text, size_t len,
                                                const char *source,
                                                unsigned keep,
                                                clar_events_params *p,
                                                unsigned *named,
                                                clar_error *err);
CLAR_API int clar_events_load_tracker_options (const char *path,
                                               unsigned keep,
                                               clar_events_params *p,
                                               unsigned *named,
                                               clar_error *err);

/* Tracker options of one label in a threshold file (see
 * clar_events_set_label_options for why): a directive line per label,
 *
 *   #% label-tracker: word smoothing=none min-gap-ns=0 min-duration-ns=0
 *
 * "#%" then "label-tracker:" then LABEL, a label name of the tracker or
 * its unknown name, then the KEY=VALUE fields of "#% tracker:" (same keys,
 * same values, each at most once on the line, any left out: the label
 * keeps the option it has). Names may hold spaces, so LABEL is the longest
 * name of the tracker that the text after "label-tracker:" (and its spaces
 * or tabs) starts with, followed by a space, a tab or the line's end. A
 * label on two lines is an error (which one wins would be a guess).
 * tools/events/calibrate.py writes these lines for the labels of a domain
 * that does better with options of its own than with the file's
 * "#% tracker:" line.
 *
 * The rule for callers is the one of "#% tracker:", with the same mask:
 * an option in keep (a clar_events_option mask, those the user set
 * explicitly) is applied to no label, so the user's global setting wins
 * for every label as it wins over the tracker line (the user asked for
 * that setting, not for the calibration's). Callers load the tracker
 * options into the params, create the tracker, then load its thresholds
 * and these label options from the same file with the same keep.
 *
 * clar_events_parse_label_options reads the "#% label-tracker:" lines of
 * text (len bytes; source names it in messages) into t's label options,
 * as clar_events_set_label_options would (so only while no window is
 * pending). Other lines are not looked at, "#% tracker:" ones included;
 * any other directive is an error, as in clar_events_parse_tracker_options.
 * Errors (CLAR_ERR_INVALID_ARGUMENT with a message naming the source and
 * line, e.g. "th.tsv:5: no label \"dgo\" in this label set"): an unknown
 * label or a line without one, an unknown key, a field that is not
 * KEY=VALUE, a bad or out-of-range value, a key given twice on a line, a
 * label on two lines, a directive line that is not valid UTF-8 or holds a
 * NUL byte; CLAR_ERR_UNSUPPORTED while windows are pending;
 * CLAR_ERR_NO_MEMORY. All or nothing: on any error no label changes.
 * clar_events_load_label_options reads the file at path (CLAR_ERR_IO when
 * it cannot). */
CLAR_API int clar_events_parse_label_options (clar_events *t,
                                              const char *text, size_t len,
                                              const char *source,
                                              unsigned keep,
                                              clar_error *err);
CLAR_API int clar_events_load_label_options (clar_events *t,
                                             const char *path, unsigned keep,
                                             clar_error *err);

/* Feeds one window: index (increasing; gaps allowed), start_ns < end_ns,
 * start_ns not before the previous window's start, scores[n_labels] finite
 * and in [0, 1], similarity finite in [-1, 1] (pass 1 when there is none).
 * Bad input returns CLAR_ERR_INVALID_ARGUMENT or CLAR_ERR_NONFINITE and
 * changes nothing. Events it completes are queued for clar_events_next. */
CLAR_API int clar_events_push (clar_events *t, uint64_t index,
                               int64_t start_ns, int64_t end_ns,
                               const float *scores, float similarity);

/* The same with the window's active span [active_start_ns, active_end_ns)
 * inside [start_ns, end_ns) (see "Sharper boundaries" above);
 * clar_events_push passes the whole window. */
CLAR_API int clar_events_push_active (clar_events *t, uint64_t index,
                                      int64_t start_ns, int64_t end_ns,
                                      int64_t active_start_ns,
                                      int64_t active_end_ns,
                                      const float *scores, float similarity);

/* Observer of the tracker's input: fn (when not NULL) is called with every
 * window that clar_events_push / clar_events_push_active accept, exactly as
 * passed (scores before the open-set step), before the tracker uses it.
 * clar-embed --events-trace records a stream's windows this way, so that
 * tools/events/calibrate.sh can replay them through trackers with other
 * settings (clar-embed --events-replay) without running the encoder again.
 * fn runs in the pushing thread and must not call back into the tracker. */
typedef void (*clar_events_window_fn) (void *user, uint64_t index,
                                       int64_t start_ns, int64_t end_ns,
                                       int64_t active_start_ns,
                                       int64_t active_end_ns,
                                       const float *scores, float similarity);
CLAR_API void clar_events_set_window_fn (clar_events *t,
                                         clar_events_window_fn fn, void *user);

/* End of a stretch of audio (EOS, discontinuity, seek): decides the windows
 * the median still waits for, ends every event in progress (those at least
 * min_duration_ns long are reported, shorter ones dropped) and forgets the
 * smoothing history. The next push may start a new timeline. Returns
 * CLAR_OK, or CLAR_ERR_NO_MEMORY (nothing changed) when the event queue
 * cannot grow. */
CLAR_API int clar_events_flush (clar_events *t);

/* Pops the oldest queued event into *out: returns 1, or 0 when none is
 * queued. Events come in the order they were decided; for one push or
 * flush, ENDs before STARTs, each by label index (per window decided, in
 * window order: a flush may decide several). */
CLAR_API int clar_events_next (clar_events *t, clar_event *out);

#ifdef __cplusplus
}
#endif
#endif /* CLAR_EVENTS_H */
