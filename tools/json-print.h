/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * JSON output of the command-line tools (clar-embed, clar-eval): one
 * string writer, so that every name a tool prints (file names, model
 * paths, class names from a manifest) is valid JSON text. Not thread-safe
 * beyond stdio's own locking.
 */
#ifndef CLAR_JSON_PRINT_H
#define CLAR_JSON_PRINT_H

#include <stdio.h>

/* Writes s to f as a quoted JSON string (RFC 8259): '"' and '\\' escaped,
 * control characters as \n, \r, \t or \u00XX. JSON text is UTF-8, and Linux
 * file names are bytes: a string that is not valid UTF-8 is written with
 * each invalid byte as U+FFFD (g_utf8_make_valid). */
void clar_json_print_string (FILE *f, const char *s);

#endif
