/* core/text/bpe.h: byte-level BPE (GPT-2, RoBERTa), with byte spans.
 *
 * Same ids as Hugging Face's ByteLevel pre-tokenizer + BPE model + ByteLevel post-processor
 * (tokenizers' byte_level.rs and models/bpe; also GPT-2's encoder.py), in this order:
 *   1. add_prefix_space: a space is put before the text unless it starts with one;
 *   2. pre-tokenisation by GPT-2's pattern, applied to code points:
 *          's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      \p{L} and \p{N} are the Unicode letter and number categories (utf8proc), \s the
 *      Unicode White_Space property (Oniguruma's \s, which tokenizers uses). The pattern is
 *      matched by hand (pretokenize() in bpe.c), alternative by alternative;
 *   3. every UTF-8 byte of a piece becomes one symbol: the vocabulary entry of its character
 *      in GPT-2's bytes-to-unicode map (printable Latin-1 bytes map to themselves, the other
 *      68 to U+0100 onwards in byte order, so the space is "Ġ" U+0120);
 *   4. merges by rank: the adjacent pair of symbols with the lowest merge rank is merged,
 *      every non-overlapping occurrence from left to right, until no pair has a rank;
 *      results are cached per piece.
 * There are no unknown tokens: every byte has a symbol (required when loading).
 * Added tokens (bpe_add_special: the special tokens, tokenizer.json's added_tokens) are found
 * in the raw text first, as tokenizers' AddedVocabulary does: the leftmost match, the longest
 * of those starting there, with the whitespace to its left when lstrip (RoBERTa's <mask>) and
 * to its right when rstrip; the text between matches is tokenized as above, piece by piece,
 * and the added token's span is its match with that whitespace. (single_word is not
 * supported: such a token matches anywhere.)
 *
 * Spans: every token carries the BYTE span [start, end) of the original text it came from,
 * widened to whole UTF-8 characters (a character split over two tokens is in both spans,
 * as Hugging Face's offsets are), then, with trim_offsets, without the leading and trailing
 * spaces of the token (the ByteLevel post-processor's process_offsets: a lone "Ġ" gets an
 * empty span at its end; the first token keeps one leading space that add_prefix_space put
 * there). Text cut at a span is valid UTF-8 of the original. */
#ifndef QAPRUNE_BPE_H
#define QAPRUNE_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/text/tokenizer.h"

typedef struct BpeModel BpeModel;

typedef struct {
    int add_prefix_space; /* ByteLevel add_prefix_space (RoBERTa and GPT-2 default: 0) */
    int trim_offsets;     /* ByteLevel trim_offsets (default 1) */
    int use_regex;        /* ByteLevel use_regex (default 1; 0: the text is one piece) */
} BpeOpts;

#define BPE_OPTS_DEFAULT ((BpeOpts){.add_prefix_space = 0, .trim_offsets = 1, .use_regex = 1})

/* Building a model: bpe_new, then bpe_add_token for every vocabulary entry, bpe_add_merge
 * for every merge in rank order, then bpe_finish. `file` names the source in messages.
 * Each returns QA_OK, or QA_ERR with one line naming file and what is wrong (a duplicate
 * token or id, a merge naming a token not in the vocabulary or making one that is not,
 * a byte without its symbol). After an error free the model with bpe_free(). */
int bpe_new(BpeModel **out);
int bpe_add_token(BpeModel *b, const char *tok, size_t len, int id, const char *file);
/* Merge rank = order of the calls (0 first); `line` is for messages (1-based, 0: none). */
int bpe_add_merge(BpeModel *b, const char *left, size_t nl, const char *right, size_t nr,
                  const char *file, int line);
int bpe_finish(BpeModel *b, const BpeOpts *opts, const char *file);
/* Makes token id (in the vocabulary) an added token, matched in the text before anything
 * else; a second call for the same id changes nothing. QA_ERR for an unknown id. */
int bpe_add_special(BpeModel *b, int id, int lstrip, int rstrip);
void bpe_free(BpeModel *b); /* accepts NULL */

/* Returns the id of token tok (exact match, len bytes), or -1. */
int bpe_token_id(const BpeModel *b, const char *tok, size_t len);
/* The token string of id as in vocab.json ("Ġthe"); borrowed; NULL if there is no such id. */
const char *bpe_token_str(const BpeModel *b, int id);
/* 1 + the largest id. */
int bpe_vocab_size(const BpeModel *b);
int bpe_num_merges(const BpeModel *b);
BpeOpts bpe_opts(const BpeModel *b);

/* Tokenizes text[0..len). On success *out gets a new array of *n tokens (free with free();
 * never NULL) and QA_OK is returned; QA_ERR when out of memory. Updates the piece cache, so
 * one model must not be used by two threads at once. */
int bpe_encode(BpeModel *b, const char *text, size_t len, TextToken **out, int *n);

/* Step 2 alone (no prefix space): calls fn(ctx, start, end) with the byte span of every piece
 * of text[0..len) in order; stops at and returns the first non-zero result of fn. QA_ERR
 * when out of memory. For the trainer (bpe_train.h). */
int bpe_pretokenize(const char *text, size_t len, int (*fn)(void *ctx, int start, int end),
                    void *ctx);

/* Appends the bytes of token id to buf (room for its length needed: at most 4 bytes per
 * character of its string) and returns how many were written: the inverse of step 3, so
 * the concatenated bytes of a text's tokens are the text. -1 for an unknown id. */
int bpe_token_bytes(const BpeModel *b, int id, char *buf);

#endif
