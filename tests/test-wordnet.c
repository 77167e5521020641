/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* WordNet reader and expansion (wordnet.h) and the WordNet-expanded text
 * tower (text.h step 2b).
 *
 *   - a tiny database written here in wndb(5WN) format: exact terms and
 *     weights of an expansion, sense choice by the lexicographer-file prior,
 *     morphology (rules and exception list), collocations, hyponyms, damaged
 *     entries, a missing database;
 *   - a tower whose model asks for expansion: its embedding against a hand
 *     computation of the weighted mean, the error when the database is
 *     missing, invalid UTF-8 and empty prompts;
 *   - Debian's wordnet-base when installed (that part is skipped, and
 *     reported, when it is absent): known entries of WordNet 3.0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <clar/clar.h>
#include "clar-test.h"
#include "model-private.h"
#include "text-private.h"

/* ---- collecting terms ---- */

typedef struct {
  char text[8192];
  int n;
} terms;

static void
collect (void *user, const char *t, size_t n, float w)
{
  terms *c = user;
  size_t len = strlen (c->text);
  snprintf (c->text + len, sizeof c->text - len, "%s%.*s:%g", c->n ? " " : "", (int) n, t,
      (double) w);
  c->n++;
}

static int
has_term (const terms *c, const char *term)
{
  char pat[256];
  const char *p = c->text;
  size_t n = strlen (term);
  snprintf (pat, sizeof pat, "%s:", term);
  while ((p = strstr (p, pat))) {
    if (p == c->text || p[-1] == ' ')
      return 1;
    p += n;
  }
  return 0;
}

static int
expand (const clar_wordnet *wn, const clar_wordnet_expand_params *p, const char *text, terms *c)
{
  memset (c, 0, sizeof *c);
  return clar_wordnet_expand (wn, p, text, collect, c);
}

/* ---- a tiny database ---- */

/* Synsets: id, lexicographer file, lemmas, pointers ("@ 1" = hypernym of
 * synset 1, "~ 3" = hyponym), gloss. Offsets are filled in when written. */
typedef struct {
  int lexfile;
  const char *lemmas;
  const char *ptrs;
  const char *gloss;
} syn;

static const syn syns[] = {
  /* 0 */ { 5, "animal beast", "", "a living organism" },
  /* 1 */ { 5, "canine canid", "@ 0 ~ 2", "a mammal with nonretractile claws" },
  /* 2 */ { 5, "dog domestic_dog", "@ 1 ~ 3", "a member of the genus Canis; \"the dog barked\"" },
  /* 3 */ { 5, "puppy", "@ 2", "a young dog" },
  /* 4 */ { 8, "organ", "", "a part of the body" },
  /* 5 */ { 6, "pipe_organ organ", "", "a keyboard instrument" },
  /* 6 */ { 5, "goose", "", "a web-footed bird" },
};
#define N_SYNS (sizeof syns / sizeof syns[0])

static char dbdir[] = "/tmp/clar-test-wordnet-XXXXXX";

static void
write_file (const char *name, const char *text)
{
  char path[256];
  FILE *f;
  snprintf (path, sizeof path, "%s/%s", dbdir, name);
  f = fopen (path, "w");
  CHECK (f != NULL);
  if (f) {
    fputs (text, f);
    fclose (f);
  }
}

static int
make_db (void)
{
  static char data[8192];
  long off[N_SYNS];
  char index[2048];
  size_t len;
  if (!mkdtemp (dbdir))
    return -1;
  /* Offsets first (each line's length does not depend on the offsets'
   * values: they are printed with 8 digits). */
  strcpy (data, "  1 A license line, as in the real files.\n");
  for (int pass = 0; pass < 2; pass++) {
    len = strlen ("  1 A license line, as in the real files.\n");
    data[len] = '\0';
    for (size_t i = 0; i < N_SYNS; i++) {
      char lemmas[256] = "", ptrs[256] = "", *save = NULL, buf[256];
      int n_lemmas = 0, n_ptrs = 0;
      off[i] = (long) len;
      strcpy (buf, syns[i].lemmas);
      for (char *t = strtok_r (buf, " ", &save); t; t = strtok_r (NULL, " ", &save), n_lemmas++)
        snprintf (lemmas + strlen (lemmas), sizeof lemmas - strlen (lemmas), "%s 0 ", t);
      strcpy (buf, syns[i].ptrs);
      save = NULL;
      for (char *sym = strtok_r (buf, " ", &save); sym; sym = strtok_r (NULL, " ", &save)) {
        int target = atoi (strtok_r (NULL, " ", &save));
        snprintf (ptrs + strlen (ptrs), sizeof ptrs - strlen (ptrs), "%s %08ld n 0000 ", sym,
            pass ? off[target] : 0L);
        n_ptrs++;
      }
      len += (size_t) snprintf (data + len, sizeof data - len, "%08ld %02d n %02x %s%03d %s| %s  \n",
          off[i], syns[i].lexfile, n_lemmas, lemmas, n_ptrs, ptrs, syns[i].gloss);
    }
  }
  write_file ("data.noun", data);
  /* Sorted index lines; "broken" points past the end of data.noun and
   * "stale" into the middle of a line. */
  snprintf (index, sizeof index,
      "  1 A license line.\n"
      "animal n 1 1 ~ 1 0 %08ld  \n"
      "beast n 1 0 1 0 %08ld  \n"
      "broken n 1 0 1 0 99999999  \n"
      "canid n 1 0 1 0 %08ld  \n"
      "canine n 1 2 @ ~ 1 0 %08ld  \n"
      "dog n 1 2 @ ~ 1 1 %08ld  \n"
      "domestic_dog n 1 0 1 0 %08ld  \n"
      "goose n 1 0 1 0 %08ld  \n"
      "organ n 2 0 2 0 %08ld %08ld  \n"
      "pipe_organ n 1 0 1 0 %08ld  \n"
      "puppy n 1 1 @ 1 0 %08ld  \n"
      "stale n 1 0 1 0 %08ld  \n",
      off[0], off[0], off[1], off[1], off[2], off[2], off[6], off[4], off[5], off[5], off[3],
      off[2] + 3);
  write_file ("index.noun", index);
  write_file ("noun.exc", "geese goose\n");
  return 0;
}

static void
remove_db (void)
{
  const char *names[] = { "data.noun", "index.noun", "noun.exc" };
  char path[256];
  for (size_t i = 0; i < 3; i++) {
    snprintf (path, sizeof path, "%s/%s", dbdir, names[i]);
    unlink (path);
  }
  rmdir (dbdir);
}

static void
test_tiny_database (void)
{
  clar_wordnet *wn = NULL;
  clar_error err;
  clar_wordnet_expand_params p = { 0.5f, 1.0f, 0.5f, 2, 0.25f };
  terms c;
  CHECK_EQ_INT (clar_wordnet_open (dbdir, &wn, &err), CLAR_OK);
  if (!wn)
    return;
  /* Synonym, gloss words (definition only, function words out), then two
   * hypernym levels with decaying weight. */
  CHECK_EQ_INT (expand (wn, &p, "dog", &c), 1);
  CHECK_MSG (!strcmp (c.text, "domestic_dog:0.5 member:0.25 genus:0.25 Canis:0.25 "
      "canine:1 canid:1 animal:0.5 beast:0.5"), "%s", c.text);
  /* depth 1 stops after the first hypernym; weights 0 emit nothing. */
  {
    clar_wordnet_expand_params q = { 0.0f, 1.0f, 0.5f, 1, 0.0f };
    CHECK_EQ_INT (expand (wn, &q, "dog", &c), 1);
    CHECK_MSG (!strcmp (c.text, "canine:1 canid:1"), "%s", c.text);
  }
  /* Morphology: plural by rule, irregular plural by the exception list. */
  CHECK_EQ_INT (expand (wn, &p, "DOGS", &c), 1);
  CHECK (has_term (&c, "canine"));
  CHECK_EQ_INT (expand (wn, &p, "geese", &c), 1);
  CHECK (has_term (&c, "web"));
  /* Sense choice: "organ"'s first sense is in noun.body, its second in
   * noun.artifact; the prior picks the instrument. */
  CHECK_EQ_INT (expand (wn, &p, "organ", &c), 1);
  CHECK_MSG (has_term (&c, "pipe_organ") && has_term (&c, "keyboard") && !has_term (&c, "body"),
      "%s", c.text);
  /* A collocation is one word; function words and unknown words are not
   * expanded; two known words give two expansions. */
  CHECK_EQ_INT (expand (wn, &p, "the pipe organ", &c), 1);
  CHECK (has_term (&c, "organ") && has_term (&c, "keyboard"));
  CHECK_EQ_INT (expand (wn, &p, "a zyzzyva of the", &c), 0);
  CHECK_EQ_INT (c.n, 0);
  CHECK_EQ_INT (expand (wn, &p, "puppy, organ", &c), 2);
  /* Damaged entries give nothing, never a read outside the files. */
  CHECK_EQ_INT (expand (wn, &p, "broken stale", &c), 0);
  /* Hyponyms and synonyms. */
  memset (&c, 0, sizeof c);
  CHECK_EQ_INT (clar_wordnet_hyponyms (wn, "a dog", 2, 10, collect, &c), 2);
  CHECK_MSG (!strcmp (c.text, "domestic_dog:0 puppy:1"), "%s", c.text);
  memset (&c, 0, sizeof c);
  CHECK_EQ_INT (clar_wordnet_hyponyms (wn, "canine", 2, 10, collect, &c), 4);
  CHECK_MSG (!strcmp (c.text, "canid:0 dog:1 domestic_dog:1 puppy:2"), "%s", c.text);
  memset (&c, 0, sizeof c);
  CHECK_EQ_INT (clar_wordnet_hyponyms (wn, "canine", 1, 10, collect, &c), 3);
  CHECK_EQ_INT (clar_wordnet_hyponyms (wn, "canine", 2, 1, collect, &c), 1);
  /* Bad arguments. */
  p.hypernym_decay = 1.5f;
  CHECK_EQ_INT (expand (wn, &p, "dog", &c), CLAR_ERR_INVALID_ARGUMENT);
  p.hypernym_decay = 0.5f;
  p.depth = CLAR_WORDNET_MAX_DEPTH + 1;
  CHECK_EQ_INT (expand (wn, &p, "dog", &c), CLAR_ERR_INVALID_ARGUMENT);
  p.depth = 2;
  CHECK_EQ_INT (clar_wordnet_expand (wn, &p, NULL, collect, &c), CLAR_ERR_INVALID_ARGUMENT);
  CHECK_EQ_INT (clar_wordnet_expand (NULL, &p, "dog", collect, &c), CLAR_ERR_INVALID_ARGUMENT);
  clar_wordnet_free (wn);
  clar_wordnet_free (NULL);
  /* A directory without the database: a clear error. */
  CHECK_EQ_INT (clar_wordnet_open ("/nonexistent/wordnet", &wn, &err), CLAR_ERR_IO);
  CHECK (wn == NULL);
  CHECK_MSG (strstr (err.message, "wordnet-base") && strstr (err.message, "/nonexistent/wordnet"),
      "%s", err.message);
}

/* ---- the expanded tower ---- */

/* Bucket of the word feature "w:" + word, FNV-1a 32 (seed 0), written
 * here again from the published constants. */
static uint32_t
word_bucket (const char *word, uint32_t buckets)
{
  uint32_t h = 2166136261u;
  for (const char *s = "w:"; *s; s++)
    h = (h ^ (unsigned char) *s) * 16777619u;
  for (const char *s = word; *s; s++)
    h = (h ^ (unsigned char) *s) * 16777619u;
  return h % buckets;
}

static const char *arch =
  "[{\"op\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":2,\"kernel\":3,\"pad\":1},"
  "{\"op\":\"global_avg_pool\"},{\"op\":\"linear\",\"name\":\"fc\",\"in\":2,\"out\":3}]";

/* A 3-d encoder with an expanded tower of 5 buckets, d_t = 2, words only:
 * row k of the table is (k, 1); u = (h0 + 0.5, h1, h0 - h1). */
static int
build (const clar_wordnet_expand_params *ex, const char *version, clar_model **out,
       clar_error *err)
{
  clar_mel_params mel = clar_mel_default_params ();
  clar_st_writer *w = clar_st_writer_new ();
  clar_text_params p = { 0, 5, 0 };
  size_t s4[4] = { 2, 1, 3, 3 }, s1[1] = { 2 }, s2[2] = { 3, 2 }, s3[1] = { 3 };
  float c1w[18], c1b[2] = { 0, 0 }, fcw[6] = { 1, 0, 0, 1, 1, 1 }, fcb[3] = { 0, 0, 0 };
  float E[10] = { 0, 1, 1, 1, 2, 1, 3, 1, 4, 1 };
  float W[6] = { 1, 0, 0, 1, 1, -1 }, b[3] = { 0.5f, 0, 0 };
  void *data;
  size_t size;
  int rc;
  for (int i = 0; i < 18; i++)
    c1w[i] = 0.1f;
  clar_model_write_header (w, &mel, 16000, 8000, 3, arch, "t", NULL);
  clar_st_writer_add (w, "encoder.c1.weight", s4, 4, c1w);
  clar_st_writer_add (w, "encoder.c1.bias", s1, 1, c1b);
  clar_st_writer_add (w, "encoder.fc.weight", s2, 2, fcw);
  clar_st_writer_add (w, "encoder.fc.bias", s3, 1, fcb);
  CHECK_EQ_INT (clar_text_to_writer (w, &p, ex, 2, 3, 20.0f, NULL, E, W, b), CLAR_OK);
  if (version)
    clar_st_writer_set_metadata (w, "clar.text.version", version);
  rc = clar_st_writer_to_memory (w, &data, &size, err);
  clar_st_writer_free (w);
  if (rc)
    return rc;
  rc = clar_model_load_memory (data, size, out, err);
  free (data);
  return rc;
}

static void
test_expanded_tower (void)
{
  clar_wordnet_expand_params ex = { 0.5f, 1.0f, 0.5f, 2, 0.25f };
  clar_text_params p = { 0, 5, 0 };
  clar_model *m = NULL;
  clar_error err;
  const clar_wordnet *wn = NULL;
  uint32_t ids[64];
  float wts[64], v[3], probs[2];
  int n;
  setenv ("CLAR_WORDNET_DIR", dbdir, 1);
  CHECK_EQ_INT (build (&ex, NULL, &m, &err), CLAR_OK);
  if (!m)
    return;
  CHECK (clar_text_get_expansion (clar_model_get_text (m), &wn) != NULL);
  CHECK (wn != NULL);
  /* "puppy": its own word (weight 1), then gloss "young" (0.25; "dog" is
   * the gloss's other word), hypernyms dog, domestic_dog (1) and canine,
   * canid (0.5): same ids as the words' plain features. */
  n = clar_text_features_expanded (&p, wn, clar_text_get_expansion (clar_model_get_text (m), NULL),
      "puppy", ids, wts, 64);
  CHECK_EQ_INT (n, 7);
  {
    const float want_w[7] = { 1, 0.25f, 0.25f, 1, 1, 0.5f, 0.5f };
    const char *words[7] = { "puppy", "young", "dog", "dog", "domestic_dog", "canine", "canid" };
    double h0 = 0, ws = 0, u[3], norm;
    for (int k = 0; k < 7 && k < n; k++) {
      CHECK_EQ_INT (ids[k], word_bucket (words[k], 5));
      CHECK_CLOSE (wts[k], want_w[k], 1e-7);
      h0 += wts[k] * ids[k];
      ws += wts[k];
    }
    h0 /= ws;
    u[0] = h0 + 0.5;
    u[1] = 1.0;
    u[2] = h0 - 1.0;
    norm = sqrt (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
    CHECK_EQ_INT (clar_text_embed (clar_model_get_text (m), "puppy", v), CLAR_OK);
    for (int i = 0; i < 3; i++)
      CHECK_CLOSE (v[i], u[i] / norm, 1e-6);
  }
  /* Bad prompts: invalid UTF-8 (a lone continuation byte, a truncated
   * sequence, an overlong form, a surrogate), empty, only punctuation. */
  {
    const char *bad[] = { "dog \x80", "dog \xc3", "\xc0\xaf", "\xed\xa0\x80", "", " ;, " };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      const char *prompts[2] = { "dog", bad[i] };
      CHECK_EQ_INT (clar_text_embed (clar_model_get_text (m), bad[i], v), CLAR_ERR_INVALID_ARGUMENT);
      CHECK (clar_labels_from_prompts (m, 2, prompts, &err) == NULL);
      CHECK_EQ_INT (err.code, CLAR_ERR_INVALID_ARGUMENT);
      CHECK_MSG (strstr (err.message, "prompt 1") && strstr (err.message, "UTF-8"), "%s",
          err.message);
    }
    /* Valid multi-byte UTF-8 is accepted. */
    CHECK_EQ_INT (clar_text_embed (clar_model_get_text (m), "\xc3\xa9t\xc3\xa9 dog", v), CLAR_OK);
  }
  {
    const char *prompts[2] = { "puppy", "organ" };
    clar_labels *l = clar_labels_from_prompts (m, 2, prompts, &err);
    CHECK (l != NULL);
    if (l) {
      CHECK_EQ_INT (clar_text_embed (clar_model_get_text (m), "puppy", v), CLAR_OK);
      CHECK_EQ_INT (clar_labels_score (l, v, probs, NULL), CLAR_OK);
      CHECK (probs[0] > probs[1]);
      clar_labels_unref (l);
    }
  }
  clar_model_unref (m);

  /* Without the database the model loads (its audio side works) but
   * prompts fail with a message naming the package. */
  setenv ("CLAR_WORDNET_DIR", "/nonexistent/wordnet", 1);
  CHECK_EQ_INT (build (&ex, NULL, &m, &err), CLAR_OK);
  if (m) {
    const char *prompts[1] = { "dog" };
    CHECK_EQ_INT (clar_text_embed (clar_model_get_text (m), "dog", v), CLAR_ERR_UNSUPPORTED);
    CHECK (clar_labels_from_prompts (m, 1, prompts, &err) == NULL);
    CHECK_EQ_INT (err.code, CLAR_ERR_UNSUPPORTED);
    CHECK_MSG (strstr (err.message, "WordNet") && strstr (err.message, "wordnet-base"), "%s",
        err.message);
    clar_model_unref (m);
  }
  setenv ("CLAR_WORDNET_DIR", dbdir, 1);
  /* The version must agree with the WordNet keys; bad weights are refused. */
  m = NULL;
  CHECK_EQ_INT (build (&ex, "1", &m, &err), CLAR_ERR_BAD_METADATA);
  CHECK (m == NULL && strstr (err.message, "clar.text.wordnet"));
  CHECK_EQ_INT (build (NULL, "2", &m, &err), CLAR_ERR_BAD_METADATA);
  {
    clar_st_writer *w = clar_st_writer_new ();
    clar_wordnet_expand_params bad = ex;
    float E[10] = { 0 }, W[6] = { 0 }, b[3] = { 0 };
    bad.depth = -1;
    CHECK_EQ_INT (clar_text_to_writer (w, &p, &bad, 2, 3, 20.0f, NULL, E, W, b),
        CLAR_ERR_INVALID_ARGUMENT);
    clar_st_writer_free (w);
  }
  unsetenv ("CLAR_WORDNET_DIR");
}

/* ---- Debian's wordnet-base ---- */

static int
test_wordnet_base (void)
{
  clar_wordnet *wn = NULL;
  clar_error err;
  clar_wordnet_expand_params p = { 0.5f, 0.5f, 0.8f, 8, 0.25f };
  terms c;
  struct stat st;
  if (stat (CLAR_WORDNET_DEFAULT_DIR "/data.noun", &st) != 0) {
    printf ("skip: %s/data.noun is absent (Debian package wordnet-base)\n",
        CLAR_WORDNET_DEFAULT_DIR);
    return 0;
  }
  CHECK_EQ_INT (clar_wordnet_open (NULL, &wn, &err), CLAR_OK);
  if (!wn)
    return 1;
  /* WordNet 3.0 noun cow#1: "female of domestic cattle", hypernym chain
   * cattle -> bovine -> bovid -> ruminant -> ... -> mammal. */
  CHECK_EQ_INT (expand (wn, &p, "cow", &c), 1);
  CHECK_MSG (has_term (&c, "cattle") && has_term (&c, "bovine") && has_term (&c, "mammal"), "%s",
      c.text);
  /* Words in no training caption reach the general words of their class. */
  CHECK_EQ_INT (expand (wn, &p, "puppy", &c), 1);
  CHECK_MSG (has_term (&c, "dog") && has_term (&c, "animal"), "%s", c.text);
  CHECK_EQ_INT (expand (wn, &p, "a violin", &c), 1);
  CHECK_MSG (has_term (&c, "bowed_stringed_instrument") && has_term (&c, "musical_instrument"),
      "%s", c.text);
  CHECK_EQ_INT (expand (wn, &p, "thunderstorm", &c), 1);
  CHECK_MSG (has_term (&c, "storm"), "%s", c.text);
  /* The sound prior: organ#1 is the body part, the instrument wins;
   * brass#1 is the alloy, the instruments win. */
  CHECK_EQ_INT (expand (wn, &p, "organ", &c), 1);
  CHECK_MSG (has_term (&c, "musical_instrument") && !has_term (&c, "body_part"), "%s", c.text);
  CHECK_EQ_INT (expand (wn, &p, "brass", &c), 1);
  CHECK_MSG (has_term (&c, "brass_instrument") && !has_term (&c, "alloy"), "%s", c.text);
  /* Morphology (cows -> cow/cattle; geese -> goose) and a collocation. */
  CHECK_EQ_INT (expand (wn, &p, "roosters", &c), 1);
  CHECK_MSG (has_term (&c, "chicken"), "%s", c.text);
  CHECK_EQ_INT (expand (wn, &p, "geese", &c), 1);
  CHECK_MSG (has_term (&c, "anseriform_bird"), "%s", c.text);
  CHECK_EQ_INT (expand (wn, &p, "a French horn", &c), 1);
  CHECK_MSG (has_term (&c, "brass"), "%s", c.text);
  CHECK_EQ_INT (expand (wn, &p, "seven", &c), 1);
  CHECK_MSG (has_term (&c, "7") && has_term (&c, "digit"), "%s", c.text);
  /* Hyponyms: training pairs for "canine" include dog and puppy. */
  memset (&c, 0, sizeof c);
  CHECK (clar_wordnet_hyponyms (wn, "canine", 2, 60, collect, &c) > 5);
  CHECK_MSG (has_term (&c, "dog") && has_term (&c, "puppy"), "%s", c.text);
  clar_wordnet_free (wn);
  return 1;
}

int
main (void)
{
  int ran_base;
  if (make_db () != 0) {
    fprintf (stderr, "cannot create a temporary directory\n");
    return 1;
  }
  CLAR_TEST_RUN (test_tiny_database);
  CLAR_TEST_RUN (test_expanded_tower);
  remove_db ();
  ran_base = test_wordnet_base ();
  if (!ran_base)
    printf ("(the tiny-database checks ran; the wordnet-base checks were skipped)\n");
  CLAR_TEST_EXIT ();
}
