/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the label inputs of clarembed (labels-location, labels).
 * Every input goes through both parsers:
 *  - as a label file, parsed as clar_labels_load_file does (clar_st_parse +
 *    clar_labels_from_st), then scored once so that a wrong dimension check
 *    would read out of bounds;
 *  - as text: the prompt-file / labels-property parser
 *    (clar_text_split_prompts with "\n" and ";"), and, when the
 *    CLAR_FUZZ_TEXT_MODEL environment variable names a model with a text
 *    tower, the prompts go through the tokeniser and the tower
 *    (clar_labels_from_prompts), as the element does at start.
 * Build and run: tests/fuzz/build.sh, tests/fuzz/README.md. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <clar/clar.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Loaded once and never changed (read-only after initialisation). */
static clar_model *text_model;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  const char *p = getenv ("CLAR_FUZZ_TEXT_MODEL");
  if (p && *p && clar_model_load_file (p, &text_model, NULL) != CLAR_OK)
    abort ();   /* a wrong path must not silently fuzz less */
  if (text_model && !clar_model_get_text (text_model))
    abort ();
  return 0;
}

static void
fuzz_label_file (const uint8_t *data, size_t size)
{
  clar_st_file *st = NULL;
  clar_error err = { 0 };
  clar_labels *l;
  if (clar_st_parse (data, size, &st, &err) != CLAR_OK) {
    if (err.message[0] == '\0')
      abort ();
    return;
  }
  l = clar_labels_from_st (st, &err);
  clar_st_free (st);
  if (!l) {
    if (err.message[0] == '\0')
      abort ();
    return;
  }
  {
    size_t n = clar_labels_count (l), dim = clar_labels_dim (l);
    float *e = calloc (dim, sizeof (float)), *p = calloc (n, sizeof (float));
    clar_label_score top[4];
    if (e && p && dim > 0) {
      e[0] = 1.0f;
      (void) clar_labels_score (l, e, p, NULL);
      (void) clar_labels_top_k (l, e, 4, 0.0f, top);
      for (size_t i = 0; i < n; i++)
        if (strlen (clar_labels_name (l, i)) == 0)
          abort ();   /* labels.h: names are non-empty */
    }
    free (e);
    free (p);
  }
  clar_labels_unref (l);
}

static void
fuzz_prompts (const uint8_t *data, size_t size)
{
  char *text = malloc (size + 1), **list = NULL;
  size_t n = 0;
  if (!text)
    return;
  memcpy (text, data, size);
  text[size] = '\0';
  if (clar_text_split_prompts (text, ";", &list, &n) == CLAR_OK)
    clar_text_prompts_free (list);
  list = NULL;
  if (clar_text_split_prompts (text, "\n", &list, &n) == CLAR_OK) {
    for (size_t i = 0; i < n; i++)
      if (list[i] == NULL || list[i][0] == '\0' || list[i][0] == '#')
        abort ();   /* text.h: empty items and comments are skipped */
    if (list[n] != NULL)
      abort ();     /* NULL-terminated */
    if (text_model && n > 0) {
      clar_labels *l = clar_labels_from_prompts (text_model, n,
          (const char *const *) list, NULL);
      clar_labels_unref (l);
    }
    clar_text_prompts_free (list);
  }
  free (text);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fuzz_label_file (data, size);
  fuzz_prompts (data, size);
  return 0;
}
