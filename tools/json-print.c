/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JSON strings for the tools' output (json-print.h). */
#include <glib.h>

#include "json-print.h"

void
clar_json_print_string (FILE *f, const char *s)
{
  gchar *valid = g_utf8_validate (s, -1, NULL) ? NULL : g_utf8_make_valid (s, -1);
  fputc ('"', f);
  for (const unsigned char *c = (const unsigned char *) (valid ? valid : s); *c; c++) {
    switch (*c) {
      case '"': fputs ("\\\"", f); break;
      case '\\': fputs ("\\\\", f); break;
      case '\n': fputs ("\\n", f); break;
      case '\r': fputs ("\\r", f); break;
      case '\t': fputs ("\\t", f); break;
      default:
        if (*c < 0x20)
          fprintf (f, "\\u%04x", *c);
        else
          fputc (*c, f);
    }
  }
  fputc ('"', f);
  g_free (valid);
}
