/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Process-wide cache of loaded models, so that several clarembed elements
 * using the same file share one immutable clar_model (each keeps its own
 * session). Entries are keyed by canonical path and invalidated when the
 * file's size or modification time changes. An entry lives while at least
 * one element holds it. Thread-safe (one GMutex).
 */
#ifndef GST_CLAR_MODEL_CACHE_H
#define GST_CLAR_MODEL_CACHE_H

#include <glib.h>
#include <clar/clar.h>

G_BEGIN_DECLS

/* Returns a model reference (release with gst_clar_model_cache_release) or
 * NULL with err filled. */
clar_model *gst_clar_model_cache_acquire (const gchar *path, clar_error *err);
void gst_clar_model_cache_release (clar_model *model);
/* Number of distinct models currently cached (for tests). */
guint gst_clar_model_cache_size (void);

G_END_DECLS

#endif
