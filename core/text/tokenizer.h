/* core/text/tokenizer.h: the one tokenizer interface the QA windows and answer decoding use.
 *
 * A Tokenizer is a WordPiece (BERT) or byte-level BPE (GPT-2, RoBERTa) model, read from the
 * files Hugging Face ships, with the special tokens and the input format of the model family:
 *   BERT (bert, distilbert, electra):  [CLS] question [SEP] context [SEP]    types 0 / 1
 *   RoBERTa (roberta):                 <s> question </s></s> context </s>   types all 0
 * (transformers' build_inputs_with_special_tokens and create_token_type_ids_from_sequences
 * of BertTokenizer and RobertaTokenizer). Every token carries the byte span of the original
 * text it came from, so answers are cut from the text, never detokenised.
 *
 * Files, as Hugging Face ships them, from a checkpoint directory (first match wins, as a
 * fast tokenizer prefers tokenizer.json):
 *   tokenizer.json           alone: model.type "BPE" (model.vocab, model.merges as "a b"
 *                            strings or ["a", "b"] pairs) or "WordPiece" (model.vocab),
 *                            added_tokens, the ByteLevel pre_tokenizer's add_prefix_space and
 *                            the post_processor's trim_offsets, the BertNormalizer's lowercase;
 *   vocab.json + merges.txt  byte-level BPE;
 *   vocab.txt                WordPiece;
 * plus, when present, tokenizer_config.json (do_lower_case, add_prefix_space, trim_offsets,
 * model_max_length, special tokens) and special_tokens_map.json (special tokens; overrides
 * tokenizer_config.json), and config.json's model_type for the family. What a file says is
 * used; only a WordPiece vocab.txt with no tokenizer_config.json has its casing inferred
 * from its entries (wordpiece.h), as before. */
#ifndef QAPRUNE_TOKENIZER_H
#define QAPRUNE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t id;         /* vocabulary id */
    int32_t start, end; /* byte span [start, end) in the tokenized text */
} TextToken;

typedef enum { TOKENIZER_WORDPIECE, TOKENIZER_BPE } TokenizerKind;

/* How a family lays out a question and a context (one table in tokenizer.c). */
typedef struct {
    const char *name;   /* "bert", "roberta" */
    int seps_between;   /* separator tokens between question and context: 1 or 2 */
    int context_type;   /* token type of the context and its final separator: 1 or 0 */
} InputFormat;

/* Special token ids, -1 when the vocabulary has none. cls is BERT's [CLS] or RoBERTa's <s>
 * (bos), sep is [SEP] or </s> (eos). */
typedef struct {
    int cls, sep, pad, unk, mask;
} TokSpecial;

/* Which files to read; NULL for absent ones. Exactly one of: tokenizer_json; vocab (vocab.txt
 * for WordPiece, vocab.json for BPE) with merges for BPE. model_type: config.json's, NULL
 * when there is none (the family then follows the kind: WordPiece -> bert, BPE -> roberta). */
typedef struct {
    const char *tokenizer_json, *vocab, *merges;
    const char *config;      /* tokenizer_config.json */
    const char *special_map; /* special_tokens_map.json */
    const char *model_type;
} TokenizerFiles;

typedef struct Tokenizer Tokenizer;

/* Reads the files. On success *out gets a new tokenizer (free with tokenizer_free) and QA_OK
 * is returned; else QA_ERR with one line naming the file and what is wrong. */
int tokenizer_load(const TokenizerFiles *files, Tokenizer **out);
/* Finds the tokenizer files in a checkpoint directory (and config.json's model_type) and
 * reads them; QA_ERR naming dir when it holds none. */
int tokenizer_load_dir(const char *dir, Tokenizer **out);
void tokenizer_free(Tokenizer *t); /* accepts NULL */

/* Tokenizes text[0..len) (UTF-8), no special tokens. On success *out gets a new array of *n
 * tokens (free with free(); never NULL) and QA_OK is returned; QA_ERR when out of memory.
 * Not for two threads at once (the BPE piece cache). */
int tokenizer_encode(Tokenizer *t, const char *text, size_t len, TextToken **out, int *n);

TokenizerKind tokenizer_kind(const Tokenizer *t);
const char *tokenizer_kind_name(const Tokenizer *t); /* "wordpiece" or "bpe" */
const InputFormat *tokenizer_format(const Tokenizer *t);
TokSpecial tokenizer_special(const Tokenizer *t);
/* QA_OK when cls, sep and pad exist (what the windows need); else QA_ERR naming the vocabulary
 * file, the missing token and where its name came from. */
int tokenizer_check_special(const Tokenizer *t);
int tokenizer_vocab_size(const Tokenizer *t); /* 1 + the largest id */
/* The id of the whole token string s (no tokenization), -1 when the vocabulary lacks it. */
int tokenizer_token_id(const Tokenizer *t, const char *s);
/* The token string of id (borrowed, valid until tokenizer_free), NULL if out of range. */
const char *tokenizer_token_str(const Tokenizer *t, int id);
/* WordPiece: 1 when text is lowercased and accent-stripped; BPE: 0. */
int tokenizer_lowercase(const Tokenizer *t);
/* Overrides a WordPiece tokenizer's casing; QA_ERR for a BPE (which has none). */
int tokenizer_set_lowercase(Tokenizer *t, int lowercase);
/* tokenizer_config.json model_max_length, 0 when not given (or effectively unlimited). */
int tokenizer_model_max_length(const Tokenizer *t);

/* The files the tokenizer was read from (tokenizer files, tokenizer_config.json,
 * special_tokens_map.json; not config.json) and, after tokenizer_load_dir, the other
 * tokenizer files of that directory (a vocab.txt beside a tokenizer.json, added_tokens.json):
 * a NULL-terminated array of paths, borrowed. A checkpoint saved with this tokenizer copies
 * each of them. */
const char *const *tokenizer_files(const Tokenizer *t);

/* The input format of a config.json model_type; NULL (with a qa_error line naming the
 * supported ones) for any other. */
const InputFormat *input_format_for(const char *model_type);

#endif
