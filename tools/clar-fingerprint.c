/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * clar-fingerprint: shows and records encoder fingerprints (model.h).
 *
 *   clar-fingerprint FILE...                 one line per file
 *   clar-fingerprint --stamp MODEL -o OUT    MODEL with its own head and text
 *                                            tower tied to its encoder
 *
 * For a model file the line gives the encoder's fingerprint and the
 * fingerprints its head and text tower record; for a label file, the
 * fingerprint its vectors record ("none" when unrecorded).
 *
 * --stamp is for models written before fingerprints existed (the trainer,
 * clar-train --clap and clar-mkmodel record them themselves). It refuses a
 * head or tower that already records another encoder: that file's labels
 * were made for a different encoder, and stamping would hide exactly the
 * mismatch the fingerprint exists to catch.
 */
#include <stdio.h>
#include <string.h>

#include <clar/clar.h>

static const char *
or_none (const char *s)
{
  return s && *s ? s : "none";
}

static int
show (const char *path)
{
  clar_st_file *st = NULL;
  clar_model *m = NULL;
  clar_error err;
  const char *fmt;
  int rc = 0;

  if (clar_st_read_file (path, &st, &err) != CLAR_OK) {
    fprintf (stderr, "clar-fingerprint: %s\n", err.message);
    return 1;
  }
  fmt = clar_st_metadata (st, "clar.format");
  if (fmt && !strcmp (fmt, "clar-model")) {
    if (clar_model_from_st (st, &m, &err) != CLAR_OK) {
      fprintf (stderr, "clar-fingerprint: %s: %s\n", path, err.message);
      rc = 1;
    } else {
      printf ("%s: model encoder %s head %s text %s\n", path, clar_model_get_fingerprint (m),
          clar_model_get_labels (m) ? or_none (clar_labels_get_encoder (clar_model_get_labels (m)))
          : "absent",
          clar_model_get_text (m) ? or_none (clar_text_get_encoder (clar_model_get_text (m)))
          : "absent");
      clar_model_unref (m);
    }
  } else {
    clar_labels *l = clar_labels_from_st (st, &err);
    if (!l) {
      fprintf (stderr, "clar-fingerprint: %s: neither a model nor a label file: %s\n", path,
          err.message);
      rc = 1;
    } else {
      printf ("%s: labels encoder %s (%zu labels)\n", path,
          or_none (clar_labels_get_encoder (l)), clar_labels_count (l));
      clar_labels_unref (l);
    }
  }
  clar_st_free (st);
  return rc;
}

/* A recorded fingerprint other than the encoder's is refused; an absent one
 * is set. Returns 0 or 1 (refused). */
static int
check_part (const char *what, const char *recorded, const char *fp)
{
  if (recorded && *recorded && strcmp (recorded, fp) != 0) {
    fprintf (stderr, "clar-fingerprint: the model's %s records encoder %s, but the model's "
        "encoder is %s: it was made for another encoder; not stamping\n", what, recorded, fp);
    return 1;
  }
  return 0;
}

static int
stamp (const char *in, const char *out)
{
  clar_model *m = NULL;
  clar_st_file *st = NULL;
  clar_st_writer *w = NULL;
  clar_error err;
  const char *fp;
  int rc = CLAR_OK;

  if (clar_st_read_file (in, &st, &err) != CLAR_OK
      || clar_model_from_st (st, &m, &err) != CLAR_OK) {
    fprintf (stderr, "clar-fingerprint: %s\n", err.message);
    clar_st_free (st);
    return 1;
  }
  fp = clar_model_get_fingerprint (m);
  if ((clar_model_get_labels (m)
          && check_part ("head", clar_labels_get_encoder (clar_model_get_labels (m)), fp))
      || (clar_model_get_text (m)
          && check_part ("text tower", clar_text_get_encoder (clar_model_get_text (m)), fp))) {
    clar_model_unref (m);
    clar_st_free (st);
    return 1;
  }
  /* Everything copied as is (metadata and tensors), plus the keys. */
  w = clar_st_writer_new ();
  if (!w)
    rc = CLAR_ERR_NO_MEMORY;
  for (size_t i = 0; rc == CLAR_OK && i < clar_st_n_metadata (st); i++) {
    const char *k, *v;
    clar_st_metadata_at (st, i, &k, &v);
    rc = clar_st_writer_set_metadata (w, k, v);
  }
  for (size_t i = 0; rc == CLAR_OK && i < clar_st_n_tensors (st); i++) {
    const clar_st_tensor *t = clar_st_tensor_at (st, i);
    rc = clar_st_writer_add (w, t->name, t->shape, t->ndim, t->data);
  }
  if (rc == CLAR_OK && clar_model_get_labels (m))
    rc = clar_st_writer_set_metadata (w, "clar.labels.encoder_fingerprint", fp);
  if (rc == CLAR_OK && clar_model_get_text (m))
    rc = clar_st_writer_set_metadata (w, "clar.text.encoder_fingerprint", fp);
  if (rc != CLAR_OK)
    snprintf (err.message, sizeof err.message, "%s", clar_strerror (rc));
  else
    rc = clar_st_writer_save (w, out, &err);
  clar_st_writer_free (w);
  clar_st_free (st);
  if (rc != CLAR_OK) {
    fprintf (stderr, "clar-fingerprint: %s\n", err.message);
    clar_model_unref (m);
    return 1;
  }
  fprintf (stderr, "clar-fingerprint: wrote %s (head%s and text tower%s tied to encoder %s)\n",
      out, clar_model_get_labels (m) ? "" : " absent", clar_model_get_text (m) ? "" : " absent", fp);
  clar_model_unref (m);
  return 0;
}

int
main (int argc, char **argv)
{
  int rc = 0;
  if (argc >= 2 && !strcmp (argv[1], "--stamp")) {
    if (argc != 5 || strcmp (argv[3], "-o")) {
      fprintf (stderr, "usage: clar-fingerprint --stamp MODEL -o OUT\n");
      return 2;
    }
    return stamp (argv[2], argv[4]);
  }
  if (argc < 2 || argv[1][0] == '-') {
    fprintf (stderr, "usage: clar-fingerprint FILE...\n"
        "       clar-fingerprint --stamp MODEL -o OUT\n"
        "Shows the encoder fingerprint of model files and the fingerprints their head,\n"
        "text tower and label files record; --stamp ties a model's own head and text\n"
        "tower to its encoder.\n");
    return argc < 2 ? 2 : (!strcmp (argv[1], "--help") || !strcmp (argv[1], "-h")) ? 0 : 2;
  }
  for (int i = 1; i < argc; i++)
    rc |= show (argv[i]);
  return rc;
}
