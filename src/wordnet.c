/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* WordNet 3.0 database reader and prompt expansion (wordnet.h). File
 * formats: wndb(5WN), morphology: morphy(7WN), lexicographer file numbers:
 * lexnames(5WN), all in the WordNet 3.0 distribution (Princeton). Every
 * parse is bounded by the mapped file's end: a damaged file yields fewer
 * terms, never a read past the mapping. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <clar/wordnet.h>
#include "model-private.h"

enum { WN_NOUN, WN_VERB, WN_ADJ, WN_ADV, WN_NPOS };
static const char *const pos_file[WN_NPOS] = { "noun", "verb", "adj", "adv" };

typedef struct {
  const char *p;
  size_t n;
} wn_map;

struct clar_wordnet {
  wn_map index[WN_NPOS], data[WN_NPOS], exc[WN_NPOS];
};

#define WN_MAX_WORD 128          /* longest lemma / word looked up */
#define WN_MAX_SENSES 16         /* senses scored per word */
#define WN_MAX_LEMMAS 16
#define WN_MAX_PTRS 64
#define WN_MAX_WORDS 256         /* words of a text considered */

/* ---- files ---- */

static int
map_file (const char *dir, const char *name, wn_map *m, int *err_no)
{
  char path[1024];
  struct stat st;
  int fd;
  void *p;
  m->p = NULL;
  m->n = 0;
  if (snprintf (path, sizeof path, "%s/%s", dir, name) >= (int) sizeof path) {
    *err_no = ENAMETOOLONG;
    return -1;
  }
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err_no = errno;
    return -1;
  }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || st.st_size <= 0) {
    *err_no = fstat (fd, &st) != 0 ? errno : EINVAL;
    close (fd);
    return -1;
  }
  p = mmap (NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close (fd);
  if (p == MAP_FAILED) {
    *err_no = errno;
    return -1;
  }
  m->p = p;
  m->n = (size_t) st.st_size;
  return 0;
}

static void
unmap (wn_map *m)
{
  if (m->p)
    munmap ((void *) m->p, m->n);
  m->p = NULL;
}

void
clar_wordnet_free (clar_wordnet *wn)
{
  if (!wn)
    return;
  for (int i = 0; i < WN_NPOS; i++) {
    unmap (&wn->index[i]);
    unmap (&wn->data[i]);
    unmap (&wn->exc[i]);
  }
  free (wn);
}

int
clar_wordnet_open (const char *dir, clar_wordnet **out, clar_error *err)
{
  clar_wordnet *wn;
  char name[32];
  int e = 0;
  if (!out)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_wordnet_open: NULL argument");
  *out = NULL;
  if (!dir)
    dir = getenv ("CLAR_WORDNET_DIR");
  if (!dir || !*dir)
    dir = CLAR_WORDNET_DEFAULT_DIR;
  wn = calloc (1, sizeof *wn);
  if (!wn)
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  for (int i = 0; i < WN_NPOS; i++) {
    /* index.noun and data.noun are required; the others only add words. */
    snprintf (name, sizeof name, "index.%s", pos_file[i]);
    if (map_file (dir, name, &wn->index[i], &e) != 0 && i == WN_NOUN)
      goto fail;
    snprintf (name, sizeof name, "data.%s", pos_file[i]);
    if (map_file (dir, name, &wn->data[i], &e) != 0) {
      if (i == WN_NOUN)
        goto fail;
      unmap (&wn->index[i]);
    }
    snprintf (name, sizeof name, "%s.exc", pos_file[i]);
    map_file (dir, name, &wn->exc[i], &e);
  }
  *out = wn;
  return CLAR_OK;
fail:
  clar_wordnet_free (wn);
  return clar_set_error (err, CLAR_ERR_IO,
      "WordNet 3.0 not found: %.200s/%s: %s (install Debian's wordnet-base, or set "
      "CLAR_WORDNET_DIR to a directory with index.noun and data.noun)", dir, name, strerror (e));
}

/* ---- lookups ---- */

/* The line of sorted file m whose first space-separated token is key, or
 * NULL. Binary search over byte positions, each probe moved back to the
 * start of its line (the license lines at the top start with two spaces
 * and sort before every lemma). */
static const char *
find_line (const wn_map *m, const char *key, size_t klen, const char **line_end)
{
  size_t lo = 0, hi = m->n;
  if (!m->p)
    return NULL;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2, s = mid, e, t;
    int c;
    while (s > lo && m->p[s - 1] != '\n')
      s--;
    for (e = s; e < m->n && m->p[e] != '\n'; e++)
      ;
    for (t = s; t < e && m->p[t] != ' '; t++)
      ;
    c = memcmp (m->p + s, key, (t - s) < klen ? (t - s) : klen);
    if (c == 0)
      c = (t - s) < klen ? -1 : (t - s) > klen ? 1 : 0;
    if (c == 0) {
      *line_end = m->p + e;
      return m->p + s;
    }
    if (c < 0)
      lo = e + 1;
    else
      hi = s;
  }
  return NULL;
}

/* Next space-separated token of [*p, e). */
static int
token (const char **p, const char *e, const char **t, size_t *n)
{
  const char *s = *p;
  while (s < e && *s == ' ')
    s++;
  if (s == e)
    return 0;
  *t = s;
  while (s < e && *s != ' ' && *s != '\n')
    s++;
  *n = (size_t) (s - *t);
  *p = s;
  return 1;
}

static long
tok_num (const char **p, const char *e, int base)
{
  const char *t;
  size_t n;
  char buf[24];
  char *end;
  long v;
  if (!token (p, e, &t, &n) || n == 0 || n >= sizeof buf)
    return -1;
  memcpy (buf, t, n);
  buf[n] = '\0';
  v = strtol (buf, &end, base);
  return *end || v < 0 ? -1 : v;
}

typedef struct {
  int pos;
  long offset;
} wn_ref;

/* Synset offsets of lemma in pos's index (sense order). */
static int
index_senses (const clar_wordnet *wn, int pos, const char *lemma, size_t len,
              wn_ref *refs, int max)
{
  const char *e, *p = find_line (&wn->index[pos], lemma, len, &e);
  long n_syn, n_ptr;
  int n = 0;
  const char *t;
  size_t tn;
  if (!p)
    return 0;
  token (&p, e, &t, &tn);            /* lemma */
  token (&p, e, &t, &tn);            /* pos */
  n_syn = tok_num (&p, e, 10);
  n_ptr = tok_num (&p, e, 10);
  if (n_syn < 0 || n_ptr < 0)
    return 0;
  for (long i = 0; i < n_ptr; i++)
    if (!token (&p, e, &t, &tn))
      return 0;
  if (tok_num (&p, e, 10) < 0 || tok_num (&p, e, 10) < 0)   /* sense_cnt tagsense_cnt */
    return 0;
  for (long i = 0; i < n_syn && n < max; i++) {
    long off = tok_num (&p, e, 10);
    if (off < 0)
      break;
    refs[n].pos = pos;
    refs[n].offset = off;
    n++;
  }
  return n;
}

typedef struct {
  int lexfile;
  int n_lemmas;
  const char *lemma[WN_MAX_LEMMAS];
  size_t lemma_len[WN_MAX_LEMMAS];
  int n_ptrs;
  char ptr_sym[WN_MAX_PTRS][3];
  wn_ref ptr[WN_MAX_PTRS];
  const char *gloss;
  size_t gloss_len;
} wn_synset;

static int
pos_of_char (char c)
{
  switch (c) {
    case 'n': return WN_NOUN;
    case 'v': return WN_VERB;
    case 'a': case 's': return WN_ADJ;
    case 'r': return WN_ADV;
    default: return -1;
  }
}

static int
read_synset (const clar_wordnet *wn, wn_ref r, wn_synset *s)
{
  const wn_map *m = &wn->data[r.pos];
  const char *p, *e, *t;
  size_t tn;
  long w_cnt, p_cnt, lex;
  memset (s, 0, sizeof *s);
  if (!m->p || r.offset < 0 || (size_t) r.offset >= m->n)
    return -1;
  p = m->p + r.offset;
  e = memchr (p, '\n', m->n - (size_t) r.offset);
  if (!e)
    e = m->p + m->n;
  /* The line must start with its own offset (a stale index or a damaged
   * file otherwise points into the middle of another line). */
  if (tok_num (&p, e, 10) != r.offset)
    return -1;
  lex = tok_num (&p, e, 10);
  if (lex < 0 || !token (&p, e, &t, &tn))
    return -1;
  s->lexfile = (int) lex;
  w_cnt = tok_num (&p, e, 16);
  if (w_cnt < 0)
    return -1;
  for (long i = 0; i < w_cnt; i++) {
    if (!token (&p, e, &t, &tn))
      return -1;
    if (s->n_lemmas < WN_MAX_LEMMAS) {
      /* Adjectives may carry a syntactic marker: "galore(ip)". */
      const char *paren = memchr (t, '(', tn);
      s->lemma[s->n_lemmas] = t;
      s->lemma_len[s->n_lemmas] = paren ? (size_t) (paren - t) : tn;
      s->n_lemmas++;
    }
    if (tok_num (&p, e, 16) < 0)      /* lex_id */
      return -1;
  }
  p_cnt = tok_num (&p, e, 10);
  if (p_cnt < 0)
    return -1;
  for (long i = 0; i < p_cnt; i++) {
    const char *sym, *ps;
    size_t sn, pn;
    long off;
    if (!token (&p, e, &sym, &sn) || (off = tok_num (&p, e, 10)) < 0
        || !token (&p, e, &ps, &pn) || !token (&p, e, &t, &tn))
      return -1;
    if (s->n_ptrs < WN_MAX_PTRS && sn <= 2 && pn == 1 && pos_of_char (ps[0]) >= 0) {
      memcpy (s->ptr_sym[s->n_ptrs], sym, sn);
      s->ptr_sym[s->n_ptrs][sn] = '\0';
      s->ptr[s->n_ptrs].pos = pos_of_char (ps[0]);
      s->ptr[s->n_ptrs].offset = off;
      s->n_ptrs++;
    }
  }
  t = memchr (p, '|', (size_t) (e - p));
  if (t) {
    t++;
    while (t < e && *t == ' ')
      t++;
    s->gloss = t;
    s->gloss_len = (size_t) (e - t);
  }
  return 0;
}

/* First hypernym ('@' or instance '@i') of s. */
static int
first_hypernym (const wn_synset *s, wn_ref *r)
{
  for (int i = 0; i < s->n_ptrs; i++)
    if (!strcmp (s->ptr_sym[i], "@") || !strcmp (s->ptr_sym[i], "@i")) {
      *r = s->ptr[i];
      return 1;
    }
  return 0;
}

static int
is_instance (const wn_synset *s)
{
  for (int i = 0; i < s->n_ptrs; i++)
    if (!strcmp (s->ptr_sym[i], "@i"))
      return 1;
  return 0;
}

/* ---- words ---- */

static int
is_word_byte (unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
      || c >= 0x80;
}

static int
is_stopword (const char *w, size_t n)
{
  /* Function words of prompts and glosses: they carry no sound. */
  static const char *const stop[] = {
    "a", "about", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been",
    "being", "by", "can", "for", "from", "has", "have", "having", "in", "into", "is",
    "it", "its", "many", "more", "most", "much", "of", "often", "one's", "or", "other",
    "some", "someone", "something", "such", "than", "that", "the", "their", "them",
    "then", "there", "these", "this", "those", "to", "used", "usually", "very", "was",
    "when", "where", "which", "who", "whose", "with", "without",
    /* Particles: as prompts ("on", "off") their WordNet senses are
     * unrelated nouns ("down": fine feathers). */
    "but", "down", "if", "not", "off", "on", "onto", "out", "over", "so", "under", "up",
    "upon",
  };
  for (size_t i = 0; i < sizeof stop / sizeof stop[0]; i++)
    if (strlen (stop[i]) == n && !memcmp (stop[i], w, n))
      return 1;
  return 0;
}

static void
lower_copy (char *dst, const char *src, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char) src[i];
    dst[i] = (char) (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  dst[n] = '\0';
}

/* Senses of word (base forms by morphy(7WN): the word itself, its
 * irregular forms from POS.exc, then the detachment rules) in pos. */
static int
senses_of (const clar_wordnet *wn, int pos, const char *w, size_t n, wn_ref *refs, int max)
{
  static const char *const rules[WN_NPOS][8][2] = {
    { { "s", "" }, { "ses", "s" }, { "xes", "x" }, { "zes", "z" }, { "ches", "ch" },
      { "shes", "sh" }, { "men", "man" }, { "ies", "y" } },
    { { "s", "" }, { "ies", "y" }, { "es", "e" }, { "es", "" }, { "ed", "e" }, { "ed", "" },
      { "ing", "e" }, { "ing", "" } },
    { { "er", "" }, { "est", "" }, { "er", "e" }, { "est", "e" } },
    { { NULL, NULL } },
  };
  char buf[WN_MAX_WORD + 8];
  const char *e, *line;
  int k;
  if (!wn->index[pos].p || n == 0 || n > WN_MAX_WORD)
    return 0;
  if ((k = index_senses (wn, pos, w, n, refs, max)) > 0)
    return k;
  /* Exception list line: "inflected base [base...]". */
  line = find_line (&wn->exc[pos], w, n, &e);
  if (line) {
    const char *p = line, *t;
    size_t tn;
    token (&p, e, &t, &tn);
    while (token (&p, e, &t, &tn))
      if ((k = index_senses (wn, pos, t, tn, refs, max)) > 0)
        return k;
  }
  for (int r = 0; r < 8 && rules[pos][r][0]; r++) {
    size_t sl = strlen (rules[pos][r][0]), el = strlen (rules[pos][r][1]);
    if (n <= sl || memcmp (w + n - sl, rules[pos][r][0], sl))
      continue;
    memcpy (buf, w, n - sl);
    memcpy (buf + n - sl, rules[pos][r][1], el);
    if ((k = index_senses (wn, pos, buf, n - sl + el, refs, max)) > 0)
      return k;
  }
  return 0;
}

/* Nouns of things that are heard (lexnames(5WN)): act 04, animal 05,
 * artifact 06, communication 10, event 11, person 18, phenomenon 19,
 * process 22, quantity 23. */
static float
lexfile_prior (int pos, int lexfile)
{
  if (pos != WN_NOUN)
    return 1.0f;
  switch (lexfile) {
    case 4: case 5: case 6: case 10: case 11: case 18: case 19: case 22: case 23:
      return 1.0f;
    default:
      return 0.3f;
  }
}

typedef struct {
  const char *w;
  size_t n;
} wn_word;

/* Does word (len n) occur as a word in [s, s+len) (split at non-word bytes
 * and '_')? Case-insensitive for ASCII. */
static int
occurs_in (const char *w, size_t n, const char *s, size_t len)
{
  size_t i = 0;
  while (i < len) {
    size_t a;
    while (i < len && !is_word_byte ((unsigned char) s[i]))
      i++;
    a = i;
    while (i < len && is_word_byte ((unsigned char) s[i]))
      i++;
    if (i - a == n) {
      size_t k = 0;
      for (; k < n; k++) {
        unsigned char c = (unsigned char) s[a + k];
        if ((char) (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c) != w[k])
          break;
      }
      if (k == n)
        return 1;
    }
  }
  return 0;
}

static int
lesk_overlap (const clar_wordnet *wn, const wn_synset *s, const wn_word *ctx, int n_ctx,
              int self)
{
  wn_synset h;
  wn_ref r;
  int have_h = first_hypernym (s, &r) && read_synset (wn, r, &h) == 0, score = 0;
  for (int i = 0; i < n_ctx; i++) {
    int hit = 0;
    if (i == self)
      continue;
    if (s->gloss && occurs_in (ctx[i].w, ctx[i].n, s->gloss, s->gloss_len))
      hit = 1;
    for (int k = 0; !hit && k < s->n_lemmas; k++)
      hit = occurs_in (ctx[i].w, ctx[i].n, s->lemma[k], s->lemma_len[k]);
    for (int k = 0; !hit && have_h && k < h.n_lemmas; k++)
      hit = occurs_in (ctx[i].w, ctx[i].n, h.lemma[k], h.lemma_len[k]);
    score += hit;
  }
  return score;
}

/* The chosen sense of word ctx[self] (see wordnet.h), or -1. */
static int
choose_sense (const clar_wordnet *wn, const char *w, size_t n, const wn_word *ctx,
              int n_ctx, int self, wn_synset *best)
{
  wn_ref refs[WN_MAX_SENSES];
  int k = 0;
  double best_score = -1.0;
  for (int pos = 0; pos < WN_NPOS && k == 0; pos++)
    k = senses_of (wn, pos, w, n, refs, WN_MAX_SENSES);
  for (int i = 0; i < k; i++) {
    wn_synset s;
    double score;
    if (read_synset (wn, refs[i], &s) != 0)
      continue;
    score = lexfile_prior (refs[i].pos, s.lexfile) / (1.0 + 0.5 * i)
        + 0.5 * lesk_overlap (wn, &s, ctx, n_ctx, self);
    /* An instance ('@i': "Reed" the journalist) is a named entity, rarely
     * what a sound prompt means. */
    if (s.n_ptrs > 0 && is_instance (&s))
      score *= 0.3;
    if (score > best_score) {
      best_score = score;
      *best = s;
    }
  }
  return best_score >= 0.0 ? 0 : -1;
}

/* Words of text: maximal runs of word bytes, lower-cased into store. */
static int
split_words (const char *text, char *store, size_t store_size, wn_word *words, int max)
{
  size_t i = 0, used = 0, len = strlen (text);
  int n = 0;
  while (i < len && n < max) {
    size_t a;
    while (i < len && !is_word_byte ((unsigned char) text[i]))
      i++;
    a = i;
    while (i < len && is_word_byte ((unsigned char) text[i]))
      i++;
    if (i == a || used + (i - a) + 1 > store_size)
      break;
    lower_copy (store + used, text + a, i - a);
    words[n].w = store + used;
    words[n].n = i - a;
    used += i - a + 1;
    n++;
  }
  return n;
}

static int
same_word (const char *a, size_t an, const char *b, size_t bn)
{
  if (an != bn)
    return 0;
  for (size_t i = 0; i < an; i++) {
    unsigned char c = (unsigned char) b[i];
    if (a[i] != (char) (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c))
      return 0;
  }
  return 1;
}

static int
params_ok (const clar_wordnet_expand_params *p)
{
  return p && p->synonym_weight >= 0.0f && p->hypernym_weight >= 0.0f
      && p->hypernym_decay >= 0.0f && p->hypernym_decay <= 1.0f && p->gloss_weight >= 0.0f
      && p->depth >= 0 && p->depth <= CLAR_WORDNET_MAX_DEPTH
      && p->synonym_weight <= 1e6f && p->hypernym_weight <= 1e6f && p->gloss_weight <= 1e6f;
}

/* Longest collocation (3, 2 words, joined by '_') starting at words[i]
 * that noun/verb indexes know, else the word alone. Writes the lemma to
 * buf; returns the number of words taken. */
static int
lemma_at (const clar_wordnet *wn, const wn_word *words, int n_words, int i, char *buf,
          size_t *len)
{
  for (int span = 3; span >= 2; span--) {
    size_t l = 0;
    wn_ref r;
    if (i + span > n_words)
      continue;
    for (int k = 0; k < span; k++) {
      if (l + words[i + k].n + 1 > WN_MAX_WORD)
        break;
      if (k)
        buf[l++] = '_';
      memcpy (buf + l, words[i + k].w, words[i + k].n);
      l += words[i + k].n;
    }
    if (l > WN_MAX_WORD)
      continue;
    for (int pos = 0; pos < WN_NPOS; pos++)
      if (senses_of (wn, pos, buf, l, &r, 1) > 0) {
        *len = l;
        return span;
      }
  }
  memcpy (buf, words[i].w, words[i].n);
  *len = words[i].n;
  return 1;
}

static void
emit_gloss (const wn_synset *s, const char *self, size_t self_n, float w,
            clar_wordnet_emit emit, void *user)
{
  size_t i = 0, n = s->gloss_len, emitted = 0;
  const char *g = s->gloss;
  if (!g || w <= 0.0f)
    return;
  /* The definition ends at the first ';' (examples follow) or quote. */
  for (size_t k = 0; k < n; k++)
    if (g[k] == ';' || g[k] == '"') {
      n = k;
      break;
    }
  while (i < n && emitted < 12) {
    size_t a;
    while (i < n && !is_word_byte ((unsigned char) g[i]))
      i++;
    a = i;
    while (i < n && is_word_byte ((unsigned char) g[i]))
      i++;
    if (i - a >= 2 && !is_stopword (g + a, i - a) && !same_word (self, self_n, g + a, i - a)) {
      emit (user, g + a, i - a, w);
      emitted++;
    }
  }
}

int
clar_wordnet_expand (const clar_wordnet *wn, const clar_wordnet_expand_params *p,
                     const char *text, clar_wordnet_emit emit, void *user)
{
  char store[CLAR_WORDNET_MAX_TEXT + WN_MAX_WORDS];
  wn_word words[WN_MAX_WORDS], ctx[WN_MAX_WORDS];
  int n_words, n_ctx = 0, found = 0;
  if (!wn || !params_ok (p) || !text || !emit || strlen (text) > CLAR_WORDNET_MAX_TEXT)
    return CLAR_ERR_INVALID_ARGUMENT;
  n_words = split_words (text, store, sizeof store, words, WN_MAX_WORDS);
  for (int i = 0; i < n_words; i++)
    if (!is_stopword (words[i].w, words[i].n))
      ctx[n_ctx++] = words[i];
  for (int i = 0; i < n_words;) {
    char lemma[WN_MAX_WORD + 1];
    size_t len;
    int span, self = -1;
    wn_synset s;
    if (is_stopword (words[i].w, words[i].n)) {
      i++;
      continue;
    }
    span = lemma_at (wn, words, n_words, i, lemma, &len);
    for (int c = 0; c < n_ctx; c++)
      if (ctx[c].w == words[i].w)
        self = c;
    i += span;
    if (choose_sense (wn, lemma, len, ctx, n_ctx, self, &s) != 0)
      continue;
    found++;
    for (int k = 0; k < s.n_lemmas && k < 6; k++)
      if (!same_word (lemma, len, s.lemma[k], s.lemma_len[k]) && p->synonym_weight > 0.0f)
        emit (user, s.lemma[k], s.lemma_len[k], p->synonym_weight);
    emit_gloss (&s, lemma, len, p->gloss_weight, emit, user);
    {
      wn_synset h, cur = s;
      wn_ref r;
      float w = p->hypernym_weight;
      for (int d = 0; d < p->depth && w > 0.0f && first_hypernym (&cur, &r)
           && read_synset (wn, r, &h) == 0; d++) {
        for (int k = 0; k < h.n_lemmas && k < 3; k++)
          emit (user, h.lemma[k], h.lemma_len[k], w);
        cur = h;
        w *= p->hypernym_decay;
      }
    }
  }
  return found;
}

int
clar_wordnet_hyponyms (const clar_wordnet *wn, const char *text, int depth,
                       size_t max_terms, clar_wordnet_emit emit, void *user)
{
  char store[CLAR_WORDNET_MAX_TEXT + WN_MAX_WORDS];
  wn_word words[WN_MAX_WORDS];
  wn_ref queue[512];
  int level[512];
  size_t head = 0, tail = 0, n_out = 0;
  int n_words, last = -1;
  wn_synset s;
  char lemma[WN_MAX_WORD + 1];
  size_t len;
  if (!wn || !text || !emit || depth < 0 || depth > CLAR_WORDNET_MAX_DEPTH
      || strlen (text) > CLAR_WORDNET_MAX_TEXT)
    return CLAR_ERR_INVALID_ARGUMENT;
  n_words = split_words (text, store, sizeof store, words, WN_MAX_WORDS);
  for (int i = 0; i < n_words; i++)
    if (!is_stopword (words[i].w, words[i].n))
      last = i;
  if (last < 0)
    return 0;
  /* The whole text as a collocation first ("pipe organ"), else its last
   * content word (the head of an English compound). */
  {
    int first = last;
    while (first > 0 && last - first < 2 && !is_stopword (words[first - 1].w, words[first - 1].n))
      first--;
    for (; first <= last; first++)
      if (lemma_at (wn, words, n_words, first, lemma, &len) == last - first + 1)
        break;
  }
  if (choose_sense (wn, lemma, len, words, 0, -1, &s) != 0)
    return 0;
  for (int k = 0; k < s.n_lemmas && n_out < max_terms; k++)
    if (!same_word (lemma, len, s.lemma[k], s.lemma_len[k])) {
      emit (user, s.lemma[k], s.lemma_len[k], 0.0f);
      n_out++;
    }
  /* Breadth first over hyponym pointers. */
  for (int i = 0; i < s.n_ptrs && tail < 512; i++)
    if (!strcmp (s.ptr_sym[i], "~") || !strcmp (s.ptr_sym[i], "~i")) {
      queue[tail] = s.ptr[i];
      level[tail++] = 1;
    }
  while (head < tail && n_out < max_terms) {
    wn_synset h;
    int lv = level[head];
    if (lv > depth || read_synset (wn, queue[head++], &h) != 0)
      continue;
    for (int k = 0; k < h.n_lemmas && n_out < max_terms; k++) {
      emit (user, h.lemma[k], h.lemma_len[k], (float) lv);
      n_out++;
    }
    for (int i = 0; i < h.n_ptrs && tail < 512 && lv < depth; i++)
      if (!strcmp (h.ptr_sym[i], "~") || !strcmp (h.ptr_sym[i], "~i")) {
        queue[tail] = h.ptr[i];
        level[tail++] = lv + 1;
      }
  }
  return (int) n_out;
}
