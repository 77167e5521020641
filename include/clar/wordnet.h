/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * clar/wordnet.h — a reader of the WordNet 3.0 database (Princeton
 * University; Miller 1995, "WordNet: a lexical database for English",
 * CACM 38(11)) as Debian's wordnet-base installs it, and the prompt
 * expansion the text tower (text.h) uses to know words that appear in no
 * training caption.
 *
 * Files read (wndb(5WN)): index.{noun,verb,adj,adv} (sorted lemma lines,
 * looked up by binary search), data.{noun,verb,adj,adv} (synset lines at
 * the byte offsets the index gives) and {noun,verb,adj,adv}.exc (irregular
 * forms). They are mapped read-only, nothing is parsed up front; a lookup
 * costs a few page reads.
 *
 * Expansion of a text (clar_wordnet_expand): the text is split into words
 * as text.h does (ASCII letters lower-cased; runs of letters, digits and
 * bytes >= 0x80). Function words (a short fixed list) are not expanded.
 * Runs of 3 or 2 words that are a WordNet collocation ("pipe organ") are
 * taken together. Each remaining word is reduced to its base forms as
 * morphy(7WN) does (exception lists, then the detachment rules: "cows" ->
 * "cow", "barking" -> "bark"), and one sense is chosen among its noun
 * senses (else verb, adjective, adverb senses):
 *
 *   score(sense) = prior(lexicographer file) / (1 + 0.5 rank)
 *                  + 0.5 * (context words found in the sense's lemmas,
 *                           gloss and first hypernym's lemmas)
 *
 * rank is the sense's place in the index (WordNet orders senses by tagged
 * frequency); the context overlap is the simplified Lesk algorithm (Lesk
 * 1986; Kilgarriff & Rosenzweig 2000). prior is 1 for the noun files of
 * things that are heard — noun.act, animal, artifact, communication, event,
 * person, phenomenon, process, quantity (lexnames(5WN)) — and 0.3 for the
 * others, because a sound label names a sound or its source: "organ" is
 * then the instrument (noun.artifact), not the body part (noun.body), and
 * "brass" the instruments, not the alloy. Non-noun senses all have prior
 * 1; an instance (a named entity, '@i' pointer: "Reed" the journalist)
 * has its score multiplied by 0.3.
 *
 * The chosen sense then emits weighted terms (lemmas keep WordNet's '_'
 * between words, e.g. "wind_instrument"):
 *   - its other lemmas (synonyms)              synonym_weight each
 *   - the lemmas of its hypernym chain (first '@' or '@i' pointer, at most
 *     3 lemmas a level) up to depth levels     hypernym_weight *
 *                                              hypernym_decay^(level-1)
 *   - the content words of its definition (the gloss up to the first ';'
 *     or example quote, function words left out, at most 12)
 *                                              gloss_weight each
 *
 * Threading: a clar_wordnet is immutable after clar_wordnet_open and may be
 * used from any number of threads.
 */
#ifndef CLAR_WORDNET_H
#define CLAR_WORDNET_H

#include <stddef.h>
#include <clar/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where Debian's wordnet-base installs the database. */
#define CLAR_WORDNET_DEFAULT_DIR "/usr/share/wordnet"
#define CLAR_WORDNET_MAX_DEPTH 16
#define CLAR_WORDNET_MAX_TEXT 4096   /* longest text expanded (= CLAR_TEXT_MAX_BYTES) */

typedef struct clar_wordnet clar_wordnet;

/* Opens the database in dir; dir NULL means $CLAR_WORDNET_DIR when set,
 * else CLAR_WORDNET_DEFAULT_DIR. CLAR_ERR_IO (message naming the directory
 * and the Debian package) when index.noun / data.noun cannot be read. */
CLAR_API int clar_wordnet_open (const char *dir, clar_wordnet **out,
                                clar_error *err);
/* NULL-safe. */
CLAR_API void clar_wordnet_free (clar_wordnet *wn);

typedef struct clar_wordnet_expand_params {
  float synonym_weight;    /* >= 0 */
  float hypernym_weight;   /* >= 0 */
  float hypernym_decay;    /* 0..1 */
  int depth;               /* 0..CLAR_WORDNET_MAX_DEPTH hypernym levels */
  float gloss_weight;      /* >= 0 */
} clar_wordnet_expand_params;

/* Receives one term (not NUL-terminated, len bytes) and its weight. */
typedef void (*clar_wordnet_emit) (void *user, const char *term, size_t len,
                                   float weight);

/* Expands text as described above, calling emit for each term (the text's
 * own words are not emitted). Returns the number of words that were found
 * in WordNet, or CLAR_ERR_INVALID_ARGUMENT (NULL arguments, parameters out
 * of range). A word WordNet does not know is simply not expanded. */
CLAR_API int clar_wordnet_expand (const clar_wordnet *wn,
                                  const clar_wordnet_expand_params *params,
                                  const char *text, clar_wordnet_emit emit,
                                  void *user);

/* Hyponyms (more specific words) of the sense of the last content word of
 * text that clar_wordnet_expand would choose, down to depth levels
 * ('~' and '~i' pointers, breadth first), plus that sense's synonyms:
 * emit receives each lemma with weight = its level (0 for synonyms).
 * At most max_terms terms. Returns the number emitted, or a negative
 * status. Used to build training pairs ("poodle" for a "dog" clip). */
CLAR_API int clar_wordnet_hyponyms (const clar_wordnet *wn, const char *text,
                                    int depth, size_t max_terms,
                                    clar_wordnet_emit emit, void *user);

#ifdef __cplusplus
}
#endif
#endif /* CLAR_WORDNET_H */
