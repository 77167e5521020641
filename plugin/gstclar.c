/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>
#include "gstclarembed.h"
#include "gstclarpublish.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  return gst_element_register (plugin, "clarembed", GST_RANK_NONE, GST_TYPE_CLAR_EMBED)
      && gst_element_register (plugin, "clarpublish", GST_RANK_NONE, GST_TYPE_CLAR_PUBLISH);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, clar,
    "Streaming audio embeddings with a contrastively trained encoder",
    plugin_init, PACKAGE_VERSION, "LGPL", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
