/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Labelled audio clip sets for clar-train and clar-eval: a TSV manifest
 * (columns path, label[, split, ...]; optional header line starting with
 * "path"; paths relative to the manifest's folder; label "" or "-" means
 * unlabelled) or a folder-per-class tree (ROOT/LABEL/FILE), plus unlabelled
 * folders. Audio is decoded once (GStreamer, 16 kHz mono) into a cache file.
 */
#ifndef CLAR_DATASET_H
#define CLAR_DATASET_H

#include <stddef.h>

typedef struct {
  char *path;
  char *label;     /* NULL: unlabelled */
  char *split;
  float *pcm;      /* into the dataset's sample store */
  size_t n;
  int class_id;    /* index into classes, -1 if unlabelled or unknown */
} clar_clip;

typedef struct {
  clar_clip *clips;
  size_t n_clips;
  char **classes;  /* sorted label names */
  size_t n_classes;
  float *store;
  size_t store_n;
} clar_dataset;

/* Reads a manifest or folder tree; keeps rows of `split` (NULL: all). For a
 * folder tree every clip is in split "train". Returns 0 or -1 with a
 * message on stderr. */
int clar_dataset_list (clar_dataset *ds, const char *source, const char *split);
/* Adds every audio file below dir as unlabelled. */
int clar_dataset_add_unlabelled (clar_dataset *ds, const char *dir);
/* Decodes every clip (cache file in cache_dir, reused when the file list,
 * sizes and mtimes match); drops clips that fail to decode with a warning.
 * threads: parallel decoders. Returns 0 or -1. */
int clar_dataset_load (clar_dataset *ds, int sample_rate, const char *cache_dir,
                       int threads);
/* Sets class_id from the sorted set of labels of the listed clips, or from
 * the given class names (clips whose label is not among them get -1). */
void clar_dataset_index_classes (clar_dataset *ds, char **names, size_t n);
void clar_dataset_free (clar_dataset *ds);

#endif
