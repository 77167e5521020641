/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the GstHarness element tests: the fixture model, and a harness
 * around one clarembed with its own bus (messages stay inspectable). */
#ifndef CLAR_HARNESS_H
#define CLAR_HARNESS_H

#include <math.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#define RATE 16000
#define F32_CAPS "audio/x-raw,format=F32LE,rate=16000,channels=1,layout=interleaved"
#define S16_CAPS "audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved"

static inline const gchar *
model_path (void)
{
  const gchar *p = g_getenv ("CLAR_TEST_MODEL");
  fail_unless (p != NULL, "CLAR_TEST_MODEL not set");
  return p;
}

/* Test signal: a deterministic mix of a tone and a chirp-like component. */
static inline gfloat
signal_at (guint64 i)
{
  double t = (double) i / RATE;
  return (gfloat) (0.3 * sin (2 * G_PI * 440 * t) + 0.2 * sin (2 * G_PI * (200 + 300 * t) * t));
}

/* A guint64 field of a message's structure; G_MAXUINT64 if absent. */
static inline guint64
msg_u64 (GstMessage *m, const gchar *field)
{
  guint64 v = G_MAXUINT64;
  gst_structure_get_uint64 (gst_message_get_structure (m), field, &v);
  return v;
}

typedef struct {
  GstHarness *h;
  GstElement *e;      /* the clarembed inside the harness bin */
  GstBus *bus;
  GList *pending;     /* messages popped from the bus, not yet taken */
  guint64 pushed;     /* samples pushed */
  GstClockTime base;  /* PTS of sample 0 */
} Fixture;

static inline Fixture
setup_with (const gchar *model, const gchar *caps, const gchar *props)
{
  Fixture f = { 0 };
  gchar *desc = g_strdup_printf ("clarembed model-location=\"%s\" %s", model, props ? props : "");
  f.h = gst_harness_new_parse (desc);
  g_free (desc);
  f.e = gst_harness_find_element (f.h, "clarembed");
  f.bus = gst_bus_new ();
  gst_element_set_bus (f.h->element, f.bus);
  gst_harness_set_src_caps_str (f.h, caps);
  return f;
}

static inline Fixture
setup (const gchar *caps, const gchar *props)
{
  return setup_with (model_path (), caps, props);
}

static inline void
teardown (Fixture *f)
{
  gst_element_set_bus (f->h->element, NULL);
  gst_object_unref (f->bus);
  g_list_free_full (f->pending, (GDestroyNotify) gst_message_unref);
  gst_object_unref (f->e);
  gst_harness_teardown (f->h);
}

/* The element messages named `name` now on the bus, in order (others are
 * dropped). */
static inline GList *
pop_named_messages (Fixture *f, const gchar *name)
{
  GList *l = NULL;
  GstMessage *m;
  while ((m = gst_bus_pop_filtered (f->bus, GST_MESSAGE_ELEMENT)))
    if (gst_message_has_name (m, name))
      l = g_list_append (l, m);
    else
      gst_message_unref (m);
  return l;
}

#endif /* CLAR_HARNESS_H */
