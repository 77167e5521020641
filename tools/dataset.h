/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Labelled audio clip sets for clar-train, clar-eval and clar-enroll: a TSV
 * manifest (columns path, label[, split, ...]; optional header line starting
 * with "path"; paths relative to the manifest's folder; label "" or "-"
 * means unlabelled) or a folder-per-class tree (ROOT/LABEL/FILE), plus
 * unlabelled folders. Audio is decoded once (GStreamer, with libsndfile as
 * the fallback: audio-decode.h) into a cache file.
 *
 * Held-out split. A folder tree (and a manifest row without a split column)
 * has no split of its own, so one is derived: a clip is in split "val" when
 * a 64-bit hash of its path relative to the root ("LABEL/FILE", FNV-1a
 * then the splitmix64 finaliser) falls below val_fraction of the hash
 * range, else in "train". The assignment of a file depends on its own name
 * only, so adding or removing files does not move other files between
 * splits. One exception keeps small classes usable: in a class of at least
 * two clips that the hash put entirely in one split, the clip with the
 * smallest hash goes to "val" (or the one with the largest to "train");
 * when files added later make that unnecessary, that one clip goes back
 * (from val to train in all but classes whose every clip hashed to val,
 * about 0.2^n of the classes of n clips). val_fraction 0 puts every clip
 * in "train".
 *
 * Dropped files. clar_dataset_load() counts the clips that cannot be used
 * (decoder errors, no samples, shorter than min_samples) by reason, prints
 * the counts on every run (the reasons are kept in the cache, so a cached
 * run reports the same) and fails when more than max_dropped of the listed
 * clips were dropped.
 *
 * Threading: a dataset belongs to one thread; gst_init() must have been
 * called before clar_dataset_load().
 */
#ifndef CLAR_DATASET_H
#define CLAR_DATASET_H

#include <stddef.h>

/* Defaults of the options below (documented in each tool's --help). */
#define CLAR_DATASET_VAL_FRACTION 0.2
#define CLAR_DATASET_MAX_DROPPED 0.05
/* A clip the trainer learns from is a clip the clip tools embed: the
 * trainer keeps clips down to a tenth of a window (a footstep, a knock),
 * so clar-eval, clar-enroll, clar-train --clap and clar-embed --clip do
 * too. With windows every half window this share decides only clips
 * shorter than a window: a longer clip's last partial window always holds
 * at least half a window. The element and clar-embed's per-window mode
 * keep the stream's own 0.5 (clarembed's eos-min-fill). */
#define CLAR_DATASET_MIN_FILL 0.1

typedef struct {
  double val_fraction;  /* share of a folder's clips held out as "val" */
  double max_dropped;   /* clar_dataset_load fails above this share dropped */
  double min_fill;      /* a clip's partial window is embedded (zero-padded) when
                         * it holds at least this share of a window */
  size_t min_samples;   /* clips shorter than this are dropped (0: none); the
                         * tools set it to clar_min_clip_samples (window, min_fill) */
  int exclude_overlap;  /* clar_dataset_check_disjoint drops instead of failing */
} clar_dataset_options;

typedef struct {
  char *path;
  char *label;     /* NULL: unlabelled */
  char *split;
  float *pcm;      /* into the dataset's sample store */
  size_t n;
  int class_id;    /* index into classes, -1 if unlabelled or unknown */
  char *md5;       /* file content hash, set by clar_dataset_check_disjoint */
} clar_clip;

typedef struct {
  clar_clip *clips;
  size_t n_clips;
  char **classes;  /* sorted label names */
  size_t n_classes;
  float *store;
  size_t store_n;
  /* Appended: */
  clar_dataset_options opt;
  int has_opt;     /* 0 (a zeroed dataset): the defaults above */
  char *what;      /* "SOURCE (split S)", for messages */
  size_t n_listed, n_dropped;   /* after clar_dataset_load */
} clar_dataset;

clar_dataset_options clar_dataset_options_default (void);
/* Parses the options every data tool shares: --val-fraction F,
 * --max-dropped F, --exclude-overlap. Returns 2 when arg and value were
 * consumed, 1 when only arg was, 0 when arg is none of them, -1 (message on
 * stderr) for a bad value. */
int clar_dataset_parse_option (clar_dataset_options *o, const char *arg, const char *value);
/* Help lines for those options. */
#define CLAR_DATASET_OPTIONS_HELP \
  "  --val-fraction F       folder data: share of each class held out as split \"val\"\n" \
  "                         by a hash of the file name (default 0.2; 0: all \"train\")\n" \
  "  --max-dropped F        refuse when more than this share of the files cannot be\n" \
  "                         used (undecodable, shorter than --min-fill; default 0.05)\n" \
  "  --min-fill F           a clip shorter than a window (or a clip's last partial\n" \
  "                         window) is zero-padded and embedded when it holds at least\n" \
  "                         F of a window, else dropped and counted (default 0.1,\n" \
  "                         the trainer's: 0.1 s sounds; 0.5 as clarembed's\n" \
  "                         eos-min-fill)\n" \
  "  --exclude-overlap      drop test clips that are also training clips (same path or\n" \
  "                         same file content) instead of refusing\n"

/* Zeroes ds and sets its options (NULL: defaults). */
void clar_dataset_init (clar_dataset *ds, const clar_dataset_options *o);

/* Reads a manifest or folder tree; keeps rows of `split` (NULL: all).
 * Returns 0 or -1 with a message on stderr. */
int clar_dataset_list (clar_dataset *ds, const char *source, const char *split);
/* Adds every audio file below dir as unlabelled. */
int clar_dataset_add_unlabelled (clar_dataset *ds, const char *dir);
/* Decodes every clip (cache file in cache_dir, reused when the file list,
 * sizes and mtimes match), drops the clips that cannot be used, prints how
 * many were dropped and why. threads: parallel decoders. Returns 0, or -1
 * when no clip is left or more than max_dropped were dropped. */
int clar_dataset_load (clar_dataset *ds, int sample_rate, const char *cache_dir,
                       int threads);
/* Sets class_id from the sorted set of labels of the listed clips, or from
 * the given class names (clips whose label is not among them get -1). */
void clar_dataset_index_classes (clar_dataset *ds, char **names, size_t n);
/* The test clips that are also training clips, by path or by file content
 * (MD5). None: 0. Some: a message naming the count and examples, then with
 * test->opt.exclude_overlap they are removed from test (and 0 returned,
 * or -1 if none is left); otherwise -1. `who` prefixes the messages. */
int clar_dataset_check_disjoint (const char *who, clar_dataset *train, clar_dataset *test);
/* The clips' content hashes for a model's metadata (key
 * CLAR_TRAINING_CLIPS_KEY): the first 16 hex digits of each file's MD5,
 * comma-separated, sorted, no duplicates; "prev" (may be NULL, e.g. the
 * list of an --init model) is merged in. g_free() the result. */
#define CLAR_TRAINING_CLIPS_KEY "clar.training_clips_md5"
#define CLAR_TEXT_TRAINING_CLIPS_KEY "clar.text.training_clips_md5"
char *clar_dataset_content_list (clar_dataset *ds, const char *prev);
/* Like clar_dataset_check_disjoint, against such a list: the clips a model
 * (or its text tower) was trained on. list NULL: nothing to check, 0. */
int clar_dataset_check_list (const char *who, const char *what, const char *list,
                             clar_dataset *test);
/* Removes clips with keep[i] == 0 (their samples stay in the store). */
void clar_dataset_filter (clar_dataset *ds, const unsigned char *keep);
void clar_dataset_free (clar_dataset *ds);

#endif
