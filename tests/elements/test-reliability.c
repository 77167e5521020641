/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clarembed under bad input and abuse (issue 8): denormal/huge/clipped and
 * all-zero samples, zero-length and odd-sized buffers, timestamp jumps and
 * missing timestamps, a rate change in mid-stream, the model file replaced
 * or deleted while PLAYING, properties changed from another thread while
 * buffers flow, 1000 NULL<->PLAYING cycles, several elements on several
 * threads sharing one model (bit-identical to one thread), and the live
 * policy against a test clock. NaN/Inf windows, GAP buffers, DISCONT and
 * caps changes are in test-clarembed.c. */
#include <math.h>
#include <string.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>
#include <clar/gstclarmeta.h>

#include "clar-harness.h"

#define HOP_1S "hop-size=1000000000"

typedef gfloat (*SampleFunc) (guint64 i);

/* Pushes n F32 samples from fn at the running sample position, PTS given. */
static GstFlowReturn
push_fn_at (Fixture *f, guint n, SampleFunc fn, GstClockTime pts)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, n * sizeof (gfloat), NULL);
  GstMapInfo map;
  gst_buffer_map (b, &map, GST_MAP_WRITE);
  for (guint i = 0; i < n; i++)
    ((gfloat *) map.data)[i] = fn (f->pushed + i);
  gst_buffer_unmap (b, &map);
  GST_BUFFER_PTS (b) = pts;
  GST_BUFFER_DURATION (b) = gst_util_uint64_scale (n, GST_SECOND, RATE);
  f->pushed += n;
  return gst_harness_push (f->h, b);
}

static GstFlowReturn
push_fn (Fixture *f, guint n, SampleFunc fn)
{
  return push_fn_at (f, n, fn, gst_util_uint64_scale (f->pushed, GST_SECOND, RATE));
}

/* Pulls and drops every buffer the harness holds (keeps memory flat). */
static void
drain (Fixture *f)
{
  GstBuffer *b;
  while ((b = gst_harness_try_pull (f->h)))
    gst_buffer_unref (b);
}

/* Moves every message on the bus to f->pending (gst_bus_pop_filtered would
 * drop the messages of other types in front of the one it returns). */
static void
collect (Fixture *f)
{
  GstMessage *m;
  while ((m = gst_bus_pop (f->bus)))
    f->pending = g_list_append (f->pending, m);
}

/* The first pending message of this type (transfer full), or NULL. */
static GstMessage *
take_first (Fixture *f, GstMessageType type)
{
  collect (f);
  for (GList *l = f->pending; l; l = l->next) {
    GstMessage *m = l->data;
    if (GST_MESSAGE_TYPE (m) == type) {
      f->pending = g_list_delete_link (f->pending, l);
      return m;
    }
  }
  return NULL;
}

/* All pending "clarembed" element messages, in order (transfer full). */
static GList *
pop_messages (Fixture *f)
{
  GList *l = NULL, *rest = NULL;
  collect (f);
  for (GList *i = f->pending; i; i = i->next) {
    GstMessage *m = i->data;
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT && gst_message_has_name (m, "clarembed"))
      l = g_list_append (l, m);
    else
      rest = g_list_append (rest, m);
  }
  g_list_free (f->pending);
  f->pending = rest;
  return l;
}

/* The message's embedding: finite and of unit length (or empty). */
static void
check_embedding_sane (GstMessage *m)
{
  const GValue *emb = gst_structure_get_value (gst_message_get_structure (m), "embedding");
  guint n;
  gdouble ss = 0;
  fail_unless (emb != NULL);
  n = gst_value_array_get_size (emb);
  fail_unless (n > 0, "no embedding");
  for (guint i = 0; i < n; i++) {
    gfloat x = g_value_get_float (gst_value_array_get_value (emb, i));
    fail_unless (isfinite (x), "embedding[%u] = %f", i, x);
    ss += (gdouble) x * x;
  }
  fail_unless (fabs (ss - 1.0) < 1e-3, "|e|^2 = %f", ss);
}

static gfloat
denormal_at (guint64 i)
{
  /* Subnormal floats (below FLT_MIN = 1.18e-38): the log-mel front end
   * sees a power of ~1e-80, far under its log offset. */
  return (i & 1 ? 1.0f : -1.0f) * 1e-40f * (gfloat) (1 + i % 7);
}

static gfloat
huge_at (guint64 i)
{
  /* Finite but far outside full scale: power spectra near FLT_MAX. */
  return signal_at (i) * 1e18f;
}

static gfloat
loud_at (guint64 i)
{
  /* 60 dB over full scale (F32 allows it): must still embed normally. */
  return signal_at (i) * 1000.0f;
}

static gfloat
clipped_at (guint64 i)
{
  /* A hard-clipped tone: a square wave at full scale. */
  return sin (2 * G_PI * 440 * (double) i / RATE) >= 0 ? 1.0f : -1.0f;
}

static gfloat
zero_at (guint64 i)
{
  return 0.0f;
}

GST_START_TEST (test_extreme_samples)
{
  SampleFunc fns[] = { denormal_at, loud_at, clipped_at, zero_at };
  const gchar *names[] = { "denormal", "loud", "clipped", "zero" };
  for (guint k = 0; k < G_N_ELEMENTS (fns); k++) {
    /* min-rms=0: the encoder itself must cope with these (by default the
     * zero and denormal windows would be reported silent). */
    Fixture f = setup (F32_CAPS, HOP_1S " min-rms=0");
    GList *msgs;
    for (guint i = 0; i < 3; i++)
      fail_unless_equals_int (push_fn (&f, RATE, fns[k]), GST_FLOW_OK);
    drain (&f);
    msgs = pop_messages (&f);
    fail_unless (g_list_length (msgs) == 3, "%s: %u windows", names[k], g_list_length (msgs));
    for (GList *l = msgs; l; l = l->next) {
      gdouble rms = -1;
      gst_structure_get_double (gst_message_get_structure (l->data), "rms", &rms);
      fail_unless (isfinite (rms), "%s: rms %f", names[k], rms);
      check_embedding_sane (l->data);
    }
    g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
    teardown (&f);
  }
}
GST_END_TEST;

GST_START_TEST (test_overflowing_samples)
{
  /* Finite samples so large (1e18) that the power spectrum overflows to
   * Inf: the element must skip such windows (warning), never post a
   * non-finite embedding, and carry on with normal audio after them. */
  Fixture f = setup (F32_CAPS, HOP_1S);
  GList *msgs;
  for (guint i = 0; i < 2; i++)
    fail_unless_equals_int (push_fn (&f, RATE, huge_at), GST_FLOW_OK);
  fail_unless_equals_int (push_fn (&f, RATE, signal_at), GST_FLOW_OK);
  drain (&f);
  msgs = pop_messages (&f);
  fail_unless (g_list_length (msgs) >= 1);
  for (GList *l = msgs; l; l = l->next)
    check_embedding_sane (l->data);
  fail_unless_equals_uint64 (msg_u64 (g_list_last (msgs)->data, "timestamp"), 2 * GST_SECOND);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_s16_full_scale)
{
  /* S16 at both rails (-32768 and 32767), the clipping case for integers. */
  Fixture f = setup (S16_CAPS, HOP_1S);
  GstBuffer *b = gst_buffer_new_allocate (NULL, RATE * 2, NULL);
  GstMapInfo map;
  GList *msgs;
  gst_buffer_map (b, &map, GST_MAP_WRITE);
  for (guint i = 0; i < RATE; i++)
    ((gint16 *) map.data)[i] = (i / 18) % 2 ? G_MAXINT16 : G_MININT16;
  gst_buffer_unmap (b, &map);
  GST_BUFFER_PTS (b) = 0;
  fail_unless_equals_int (gst_harness_push (f.h, b), GST_FLOW_OK);
  drain (&f);
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 1);
  check_embedding_sane (msgs->data);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_zero_length_and_odd_buffers)
{
  Fixture f = setup (F32_CAPS, HOP_1S);
  GList *msgs;
  GstBuffer *b;
  guint i = 0;
  /* 2 s in 100-sample buffers, each followed by an empty buffer carrying
   * the next PTS, and one odd-sized (non multiple of 4 bytes) buffer. */
  while (f.pushed < 2 * RATE) {
    fail_unless_equals_int (push_fn (&f, 100, signal_at), GST_FLOW_OK);
    b = gst_buffer_new ();
    GST_BUFFER_PTS (b) = gst_util_uint64_scale (f.pushed, GST_SECOND, RATE);
    fail_unless_equals_int (gst_harness_push (f.h, b), GST_FLOW_OK);
    if (i++ == 50) {
      b = gst_buffer_new_allocate (NULL, 3, NULL);
      gst_buffer_memset (b, 0, 0x7f, 3);
      GST_BUFFER_PTS (b) = gst_util_uint64_scale (f.pushed, GST_SECOND, RATE);
      fail_unless_equals_int (gst_harness_push (f.h, b), GST_FLOW_OK);
    }
  }
  drain (&f);
  msgs = pop_messages (&f);
  /* Neither kind adds samples: windows at exactly 0 s and 1 s. */
  fail_unless_equals_int (g_list_length (msgs), 2);
  fail_unless_equals_uint64 (msg_u64 (msgs->data, "timestamp"), 0);
  fail_unless_equals_uint64 (msg_u64 (msgs->next->data, "timestamp"), GST_SECOND);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_timestamp_jumps)
{
  Fixture f = setup (F32_CAPS, HOP_1S " eos-min-fill=1.0");
  GList *msgs, *l;
  /* 1 s at 0, then a jump back to 0.25 s, a jump forward to 100 s, a
   * buffer without PTS (continues the timeline), and a jump far back. */
  fail_unless_equals_int (push_fn_at (&f, RATE, signal_at, 0), GST_FLOW_OK);
  fail_unless_equals_int (push_fn_at (&f, RATE, signal_at, GST_SECOND / 4), GST_FLOW_OK);
  fail_unless_equals_int (push_fn_at (&f, RATE / 2, signal_at, 100 * GST_SECOND), GST_FLOW_OK);
  fail_unless_equals_int (push_fn_at (&f, RATE / 2, signal_at, GST_CLOCK_TIME_NONE), GST_FLOW_OK);
  fail_unless_equals_int (push_fn_at (&f, RATE, signal_at, 3 * GST_SECOND), GST_FLOW_OK);
  drain (&f);
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 4);
  l = msgs;
  fail_unless_equals_uint64 (msg_u64 (l->data, "timestamp"), 0);
  l = l->next;
  fail_unless_equals_uint64 (msg_u64 (l->data, "timestamp"), GST_SECOND / 4);
  fail_unless_equals_uint64 (msg_u64 (l->data, "window-index"), 0);
  l = l->next;
  fail_unless_equals_uint64 (msg_u64 (l->data, "timestamp"), 100 * GST_SECOND);
  l = l->next;
  fail_unless_equals_uint64 (msg_u64 (l->data, "timestamp"), 3 * GST_SECOND);
  for (l = msgs; l; l = l->next)
    check_embedding_sane (l->data);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_rate_change_midstream)
{
  Fixture f = setup (F32_CAPS, HOP_1S);
  GstMessage *err;
  GstBuffer *b;
  GstFlowReturn ret;
  fail_unless_equals_int (push_fn (&f, RATE, signal_at), GST_FLOW_OK);
  drain (&f);
  /* Upstream switches to 44.1 kHz without a resampler. */
  gst_harness_set_src_caps_str (f.h,
      "audio/x-raw,format=F32LE,rate=44100,channels=1,layout=interleaved");
  b = gst_buffer_new_allocate (NULL, 44100 * 4, NULL);
  gst_buffer_memset (b, 0, 0, 44100 * 4);
  ret = gst_harness_push (f.h, b);
  fail_unless (ret == GST_FLOW_NOT_NEGOTIATED || ret == GST_FLOW_ERROR, "flow %s",
      gst_flow_get_name (ret));
  err = take_first (&f, GST_MESSAGE_ERROR);
  fail_unless (err != NULL, "no error message");
  gst_message_unref (err);
  /* And back: the element works again. */
  gst_harness_set_src_caps_str (f.h, F32_CAPS);
  f.pushed = 0;
  g_list_free_full (pop_messages (&f), (GDestroyNotify) gst_message_unref);
  fail_unless_equals_int (push_fn (&f, RATE, signal_at), GST_FLOW_OK);
  {
    GList *msgs = pop_messages (&f);
    fail_unless_equals_int (g_list_length (msgs), 1);
    g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  }
  drain (&f);
  teardown (&f);
}
GST_END_TEST;

static gchar *
copy_model (const gchar *name)
{
  gchar *data = NULL, *path = g_build_filename (g_get_tmp_dir (), name, NULL);
  gsize len = 0;
  fail_unless (g_file_get_contents (model_path (), &data, &len, NULL));
  fail_unless (g_file_set_contents (path, data, len, NULL));
  g_free (data);
  return path;
}

GST_START_TEST (test_model_replaced_or_deleted_while_playing)
{
  gchar *path = copy_model ("clar-rel-model.safetensors");
  Fixture f = setup_with (path, F32_CAPS, HOP_1S);
  GList *msgs;
  GstStateChangeReturn sr;
  fail_unless_equals_int (push_fn (&f, RATE, signal_at), GST_FLOW_OK);
  /* Overwritten with garbage while PLAYING: the loaded model is in memory
   * (read, not mapped), so the stream goes on unaffected. */
  fail_unless (g_file_set_contents (path, "garbage", 7, NULL));
  fail_unless_equals_int (push_fn (&f, RATE, signal_at), GST_FLOW_OK);
  /* Deleted while PLAYING. */
  fail_unless_equals_int (g_unlink (path), 0);
  fail_unless_equals_int (push_fn (&f, RATE, signal_at), GST_FLOW_OK);
  drain (&f);
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 3);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  /* A restart needs the file: a clear error, no crash. */
  gst_element_set_state (f.h->element, GST_STATE_NULL);
  sr = gst_element_set_state (f.h->element, GST_STATE_PLAYING);
  fail_unless_equals_int (sr, GST_STATE_CHANGE_FAILURE);
  {
    GstMessage *m = take_first (&f, GST_MESSAGE_ERROR);
    fail_unless (m != NULL);
    gst_message_unref (m);
  }
  gst_element_set_state (f.h->element, GST_STATE_NULL);
  g_free (path);
  teardown (&f);
}
GST_END_TEST;

typedef struct {
  GstElement *e;
  gint stop;
  guint n_sets;
} Toggler;

static gpointer
toggle_properties (gpointer data)
{
  Toggler *t = data;
  guint i = 0;
  while (!g_atomic_int_get (&t->stop)) {
    switch (i % 9) {
      case 0: g_object_set (t->e, "window-size", (guint64) (i % 2 ? 1000 : 2000) * GST_MSECOND, NULL); break;
      case 1: g_object_set (t->e, "hop-size", (guint64) (100 + i % 700) * GST_MSECOND, NULL); break;
      case 2: g_object_set (t->e, "top-k", (guint) (i % 5), NULL); break;
      case 3: g_object_set (t->e, "threshold", (gfloat) (i % 10) / 10.0f, NULL); break;
      case 4: g_object_set (t->e, "attach-meta", (gboolean) (i % 2), NULL); break;
      case 5: g_object_set (t->e, "message-embedding", (gboolean) (i % 2), NULL); break;
      case 6: g_object_set (t->e, "min-rms", (i % 3) * 0.1, NULL); break;
      case 7: g_object_set (t->e, "eos-min-fill", (i % 4) * 0.3, NULL); break;
      default: {
        guint64 skipped;
        gchar *loc;
        g_object_get (t->e, "windows-skipped", &skipped, "model-location", &loc, NULL);
        g_free (loc);
      }
    }
    i++;
    g_usleep (50);
  }
  t->n_sets = i;
  return NULL;
}

GST_START_TEST (test_properties_from_another_thread)
{
  Fixture f = setup (F32_CAPS, "hop-size=100000000");
  Toggler t = { f.e, 0, 0 };
  GThread *th = g_thread_new ("toggler", toggle_properties, &t);
  GList *msgs;
  guint n_msgs;
  /* 20 s of audio in 20 ms buffers while the other thread changes every
   * writable PLAYING-mutable property. */
  while (f.pushed < 20 * RATE) {
    fail_unless_equals_int (push_fn (&f, 320, signal_at), GST_FLOW_OK);
    drain (&f);
    g_list_free_full (pop_messages (&f), (GDestroyNotify) gst_message_unref);
  }
  g_atomic_int_set (&t.stop, 1);
  g_thread_join (th);
  fail_unless (t.n_sets > 9, "the toggler ran %u times", t.n_sets);
  /* Settled properties: the stream behaves normally afterwards. */
  g_object_set (f.e, "window-size", GST_SECOND, "hop-size", GST_SECOND, "min-rms", 0.0,
      "post-messages", TRUE, "message-embedding", TRUE, NULL);
  fail_unless_equals_int (push_fn (&f, 10, signal_at), GST_FLOW_OK);   /* applies the change */
  g_list_free_full (pop_messages (&f), (GDestroyNotify) gst_message_unref);
  fail_unless_equals_int (push_fn (&f, 3 * RATE, signal_at), GST_FLOW_OK);
  drain (&f);
  msgs = pop_messages (&f);
  n_msgs = g_list_length (msgs);
  fail_unless_equals_int (n_msgs, 3);
  for (GList *l = msgs; l; l = l->next)
    check_embedding_sane (l->data);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_state_cycles)
{
  const gchar *env = g_getenv ("CLAR_TEST_STATE_CYCLES");
  guint n = env ? (guint) g_ascii_strtoull (env, NULL, 10) : 1000;
  Fixture f = setup (F32_CAPS, HOP_1S);
  GList *msgs;
  guint n_flowed = 0;
  for (guint i = 0; i < n; i++) {
    fail_unless_equals_int (gst_element_set_state (f.h->element, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    fail_unless (gst_element_set_state (f.h->element, GST_STATE_PLAYING)
        != GST_STATE_CHANGE_FAILURE, "cycle %u", i);
    if (i % 100 == 0) {
      /* Now and then data flows (with fresh caps: the sink pad lost them
       * when it was deactivated) before the next teardown. */
      gst_harness_set_src_caps_str (f.h, F32_CAPS);
      f.pushed = 0;
      fail_unless_equals_int (push_fn (&f, RATE, signal_at), GST_FLOW_OK);
      drain (&f);
      n_flowed++;
    }
  }
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), n_flowed);
  for (GList *l = msgs; l; l = l->next)
    fail_unless_equals_uint64 (msg_u64 (l->data, "timestamp"), 0);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  teardown (&f);
}
GST_END_TEST;

/* Threads: each runs its own harness over the same model file (the model
 * cache gives them one shared clar_model) and records its embeddings. */
#define MT_SECONDS 6
#define MT_THREADS 4

typedef struct {
  gfloat *emb;          /* MT windows x dim */
  guint n_windows, dim;
  guint variant;        /* signal variant: threads differ in input too */
} MtRun;

#define MT_VARIANT_GAIN 0.1f

static gpointer
mt_run (gpointer data)
{
  MtRun *r = data;
  Fixture f = setup (F32_CAPS, "hop-size=500000000 attach-meta=true post-messages=false");
  GstBuffer *b;
  guint cap = MT_SECONDS * 2 + 2;
  r->n_windows = 0;
  r->dim = 0;
  r->emb = NULL;
  for (guint64 pos = 0; pos < (guint64) MT_SECONDS * RATE; pos += 1600) {
    b = gst_buffer_new_allocate (NULL, 1600 * 4, NULL);
    {
      GstMapInfo map;
      gst_buffer_map (b, &map, GST_MAP_WRITE);
      for (guint i = 0; i < 1600; i++)
        ((gfloat *) map.data)[i] = signal_at (pos + i + r->variant * 977) *
            (1.0f + MT_VARIANT_GAIN * r->variant);
      gst_buffer_unmap (b, &map);
    }
    GST_BUFFER_PTS (b) = gst_util_uint64_scale (pos, GST_SECOND, RATE);
    if (gst_harness_push (f.h, b) != GST_FLOW_OK)
      break;
    while ((b = gst_harness_try_pull (f.h))) {
      GstClarMeta *m = gst_buffer_get_clar_meta (b);
      if (m) {
        if (!r->emb) {
          r->dim = m->n_dims;
          r->emb = g_new0 (gfloat, (gsize) cap * r->dim);
        }
        if (r->n_windows < cap)
          memcpy (r->emb + (gsize) r->n_windows++ * r->dim, m->embedding,
              r->dim * sizeof (gfloat));
      }
      gst_buffer_unref (b);
    }
  }
  teardown (&f);
  return NULL;
}

GST_START_TEST (test_threads_share_model_identical)
{
  MtRun single[MT_THREADS], multi[MT_THREADS * 2];
  GThread *th[MT_THREADS * 2];
  /* Reference: one after another on this thread. */
  for (guint v = 0; v < MT_THREADS; v++) {
    single[v].variant = v;
    mt_run (&single[v]);
    fail_unless (single[v].n_windows >= MT_SECONDS * 2 - 1, "%u windows", single[v].n_windows);
  }
  /* Concurrently: two elements per variant, all on their own threads. */
  for (guint i = 0; i < MT_THREADS * 2; i++) {
    multi[i].variant = i % MT_THREADS;
    th[i] = g_thread_new ("clar-mt", mt_run, &multi[i]);
  }
  for (guint i = 0; i < MT_THREADS * 2; i++)
    g_thread_join (th[i]);
  for (guint i = 0; i < MT_THREADS * 2; i++) {
    MtRun *a = &single[i % MT_THREADS], *b = &multi[i];
    fail_unless_equals_int (b->n_windows, a->n_windows);
    fail_unless_equals_int (b->dim, a->dim);
    fail_unless (memcmp (a->emb, b->emb, (gsize) a->n_windows * a->dim * sizeof (gfloat)) == 0,
        "thread %u: embeddings differ from the single-threaded run", i);
  }
  /* And the variants really differ (the comparison is not vacuous). */
  fail_unless (memcmp (single[0].emb, single[1].emb, single[0].dim * sizeof (gfloat)) != 0);
  for (guint i = 0; i < MT_THREADS; i++)
    g_free (single[i].emb);
  for (guint i = 0; i < MT_THREADS * 2; i++)
    g_free (multi[i].emb);
}
GST_END_TEST;

/* Live policy with a live harness and a test clock: deterministic. */
GST_START_TEST (test_live_late_windows_skipped)
{
  Fixture f = setup (F32_CAPS, "hop-size=500000000 max-lateness=200000000");
  GstMessage *m;
  GList *msgs;
  guint64 skipped = 0, processed = 0, dropped = 0;
  GstFormat fmt;
  gst_harness_use_testclock (f.h);
  gst_harness_set_live (f.h, TRUE);
  gst_harness_set_upstream_latency (f.h, 0);
  /* On time: the clock at 0 while 2 s of audio arrive -> 3 windows. */
  fail_unless (gst_harness_set_time (f.h, 0));
  fail_unless_equals_int (push_fn (&f, 2 * RATE, signal_at), GST_FLOW_OK);
  g_object_get (f.e, "windows-skipped", &skipped, NULL);
  fail_unless_equals_uint64 (skipped, 0);
  /* The clock jumps to 6 s: the windows of the next 2 s of audio end 2 to
   * 3.5 s behind it, more than 200 ms, so none of them is computed. */
  fail_unless (gst_harness_set_time (f.h, 6 * GST_SECOND));
  fail_unless_equals_int (push_fn (&f, 2 * RATE, signal_at), GST_FLOW_OK);
  g_object_get (f.e, "windows-skipped", &skipped, NULL);
  fail_unless_equals_uint64 (skipped, 4);
  m = take_first (&f, GST_MESSAGE_WARNING);
  fail_unless (m != NULL, "no warning on the first skipped window");
  gst_message_unref (m);
  m = take_first (&f, GST_MESSAGE_QOS);
  fail_unless (m == NULL, "QoS before the burst ended");
  /* Skipping costs nothing, so the audio catches up with the clock: the
   * windows ending at 4.5, 5 and 5.5 s are still late, the one ending at
   * 6 s is on time: the burst ends with one QoS message. */
  fail_unless_equals_int (push_fn (&f, 5 * RATE / 2, signal_at), GST_FLOW_OK);
  g_object_get (f.e, "windows-skipped", &skipped, NULL);
  fail_unless_equals_uint64 (skipped, 7);
  m = take_first (&f, GST_MESSAGE_QOS);
  fail_unless (m != NULL, "no QoS message after the burst");
  gst_message_parse_qos_stats (m, &fmt, &processed, &dropped);
  fail_unless_equals_int (fmt, GST_FORMAT_DEFAULT);
  fail_unless_equals_uint64 (dropped, 7);
  fail_unless_equals_uint64 (processed, 3);
  gst_message_unref (m);
  fail_unless (take_first (&f, GST_MESSAGE_WARNING) == NULL, "warned twice");
  drain (&f);
  /* Windows after the burst keep exact timestamps on the same timeline. */
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 3 + 2);
  fail_unless_equals_uint64 (msg_u64 (g_list_nth_data (msgs, 3), "timestamp"), 5 * GST_SECOND);
  fail_unless_equals_uint64 (msg_u64 (g_list_nth_data (msgs, 3), "window-index"), 10);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  /* max-lateness=-1: never skip. */
  g_object_set (f.e, "max-lateness", (gint64) - 1, NULL);
  fail_unless (gst_harness_set_time (f.h, 60 * GST_SECOND));
  fail_unless_equals_int (push_fn (&f, RATE, signal_at), GST_FLOW_OK);
  g_object_get (f.e, "windows-skipped", &skipped, NULL);
  fail_unless_equals_uint64 (skipped, 7);
  drain (&f);
  teardown (&f);
}
GST_END_TEST;

GST_START_TEST (test_nonlive_never_skips)
{
  Fixture f = setup (F32_CAPS, "hop-size=500000000 max-lateness=0");
  guint64 skipped = 1;
  GList *msgs;
  gst_harness_use_testclock (f.h);
  gst_harness_set_live (f.h, FALSE);
  fail_unless (gst_harness_set_time (f.h, 100 * GST_SECOND));
  fail_unless_equals_int (push_fn (&f, 3 * RATE, signal_at), GST_FLOW_OK);
  g_object_get (f.e, "windows-skipped", &skipped, NULL);
  fail_unless_equals_uint64 (skipped, 0);
  msgs = pop_messages (&f);
  fail_unless_equals_int (g_list_length (msgs), 5);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  drain (&f);
  teardown (&f);
}
GST_END_TEST;

static Suite *
reliability_suite (void)
{
  Suite *s = suite_create ("clarembed-reliability");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 600);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_extreme_samples);
  tcase_add_test (tc, test_overflowing_samples);
  tcase_add_test (tc, test_s16_full_scale);
  tcase_add_test (tc, test_zero_length_and_odd_buffers);
  tcase_add_test (tc, test_timestamp_jumps);
  tcase_add_test (tc, test_rate_change_midstream);
  tcase_add_test (tc, test_model_replaced_or_deleted_while_playing);
  tcase_add_test (tc, test_properties_from_another_thread);
  tcase_add_test (tc, test_state_cycles);
  tcase_add_test (tc, test_threads_share_model_identical);
  tcase_add_test (tc, test_live_late_windows_skipped);
  tcase_add_test (tc, test_nonlive_never_skips);
  return s;
}

GST_CHECK_MAIN (reliability);
