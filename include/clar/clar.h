/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/clar.h — libclar, streaming audio embeddings with a contrastively
 * trained encoder. Include this header for the whole API.
 *
 * Usage:
 *
 *   #include <clar/clar.h>
 *
 *   clar_error err;
 *   clar_model *model = NULL;
 *   if (clar_model_load_file ("clar-default.safetensors", &model, &err) != CLAR_OK) {
 *     fprintf (stderr, "model: %s\n", err.message);
 *     return 1;
 *   }
 *   const clar_model_info *info = clar_model_get_info (model);
 *   clar_session *s = clar_session_new (model, &err);     // one per thread
 *   float *emb = malloc (info->embedding_dim * sizeof (float));
 *   // pcm: info->window_samples mono floats at info->mel.sample_rate
 *   if (clar_session_embed (s, pcm, info->window_samples, emb) == CLAR_OK) {
 *     clar_label_score top[3];
 *     int n = clar_labels_top_k (clar_model_get_labels (model), emb, 3, 0.0f, top);
 *     for (int i = 0; i < n; i++)
 *       printf ("%s %.3f\n", clar_labels_name (clar_model_get_labels (model),
 *               top[i].index), top[i].score);
 *   }
 *   free (emb);
 *   clar_session_free (s);
 *   clar_model_unref (model);
 *
 * Threading rule: models and label sets are immutable and may be shared by any
 * number of threads; a session (and a clar_mel) belongs to one thread.
 */
#ifndef CLAR_CLAR_H
#define CLAR_CLAR_H

#include <clar/version.h>
#include <clar/common.h>
#include <clar/mel.h>
#include <clar/safetensors.h>
#include <clar/labels.h>
#include <clar/model.h>
#include <clar/text.h>
#include <clar/wordnet.h>
#include <clar/session.h>
#include <clar/batcher.h>
#include <clar/stream.h>
#include <clar/runtime.h>
#include <clar/events.h>

#endif /* CLAR_CLAR_H */
