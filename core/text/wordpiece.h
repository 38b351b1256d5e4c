/* core/text/wordpiece.h: the BERT WordPiece tokenizer, with character spans.
 *
 * Same output as the reference BERT tokenizer (google-research/bert tokenization.py,
 * FullTokenizer = BasicTokenizer + WordpieceTokenizer; also HF BertTokenizer with
 * do_lower_case), in this order:
 *   1. clean: drop U+0000, U+FFFD (and so any invalid UTF-8 byte) and control characters
 *      (categories Cc, Cf, except tab/newline/CR); whitespace (space, \t \n \r, Zs, and
 *      what else Python's str.split() splits at: U+2028, U+2029) splits words;
 *   2. every CJK ideograph (the reference's code point blocks) is a word of its own;
 *   3. uncased vocabularies only: Python str.lower() of each word, then NFD and drop the
 *      combining marks (category Mn), i.e. accents are stripped;
 *   4. punctuation (ASCII 33-47, 58-64, 91-96, 123-126 and categories P*) splits, each
 *      punctuation character being a word of its own;
 *   5. each word: greedy longest-match-first pieces, continuations looked up as "##piece";
 *      a word with a piece not in the vocabulary, or longer than 100 characters, is one
 *      [UNK].
 * Text like "[CLS]" in the input is ordinary text (as in the reference; HF would keep it).
 * Where the reference applies Python's lower() to a whole word, text_lower_at() gives the
 * same context-dependent result (final sigma).
 *
 * Spans: every token carries the BYTE span [start, end) in the original UTF-8 input of the
 * characters it came from (for a piece of a word: its first to its last character; an
 * [UNK] word: the whole word), so text cut at a span is exactly the original text, accents,
 * case and all. When one input character expands to several (U+0130, Hangul syllables under
 * NFD) and a piece boundary falls inside it, both pieces carry that character's span. */
#ifndef QAPRUNE_WORDPIECE_H
#define QAPRUNE_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

#include "core/text/tokenizer.h"

typedef struct WpVocab WpVocab;

typedef TextToken WpToken; /* id and byte span (core/text/tokenizer.h) */

/* The special tokens, looked up by name in the vocabulary (-1 when absent). */
typedef struct {
    int pad, unk, cls, sep, mask;
} WpSpecial;

enum { WP_MAX_WORD_CHARS = 100 }; /* longer words become [UNK] (the reference's limit) */

/* Reads a vocab.txt (one token per line, id = line number from 0; a trailing \r is dropped).
 * The vocabulary is taken as uncased (lowercase + strip accents) unless some entry other
 * than a [BRACKETED] special token has a letter that lowercases to another one; wp_vocab_set_lowercase()
 * overrides. Requires [UNK]. On success *out gets a new vocabulary (free with
 * wp_vocab_free()) and 0 is returned; else QA_ERR naming the file. */
int wp_vocab_load(const char *path, WpVocab **out);
/* The same from buf[0..len) (the lines of a vocab.txt; takes ownership of buf, which must
 * have room for a NUL at buf[len]); path names the source in messages. */
int wp_vocab_from_lines(char *buf, size_t len, const char *path, WpVocab **out);
/* Makes unk (which must be in the vocabulary) the unknown token, for files that name another
 * than [UNK]; QA_ERR naming path otherwise. */
int wp_vocab_set_unk(WpVocab *v, const char *unk, const char *path);
void wp_vocab_free(WpVocab *v);

/* Returns the id of token tok (exact match), or -1 when it is not in the vocabulary. */
int wp_token_id(const WpVocab *v, const char *tok);
/* Returns the token string of id (borrowed, valid until wp_vocab_free), NULL if out of range. */
const char *wp_token_str(const WpVocab *v, int id);
int wp_vocab_size(const WpVocab *v);
WpSpecial wp_special(const WpVocab *v);

/* 1 when text is lowercased and accent-stripped before lookup (an uncased vocabulary). */
int wp_vocab_lowercase(const WpVocab *v);
void wp_vocab_set_lowercase(WpVocab *v, int lowercase);

/* Tokenizes text[0..len) (UTF-8). On success *out gets a new array of *n tokens (free with
 * free(); may be empty but never NULL) and 0 is returned; QA_ERR when out of memory. */
int wp_tokenize(const WpVocab *v, const char *text, size_t len, WpToken **out, int *n);

#endif
