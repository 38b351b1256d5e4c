/* core/qa/features.h: model inputs for a SquadSet, as the reference BERT SQuAD recipe builds
 * them (google-research/bert run_squad.py, convert_examples_to_features), in the input format
 * of the tokenizer's family (core/text/tokenizer.h).
 *
 * Each question becomes one or more windows over its context:
 *     BERT:     [CLS] question [SEP] context-window [SEP] [PAD]...
 *     RoBERTa:  <s> question </s></s> context-window </s> <pad>...
 * The question loses its leading whitespace first (transformers' run_qa.py lstrip; no token
 * changes for WordPiece, but a byte-level BPE would make the space a token). It is cut to
 * max_query_len tokens; the context is cut into windows of at most
 * max_seq_len - query_len - S tokens (S special tokens: 3 for BERT, 4 for RoBERTa), each
 * window starting doc_stride tokens after the
 * previous one (the last window ends at the context's end). Every window is padded to
 * max_seq_len, so the arrays below are [n * seq] and batch directly (row w = window w).
 *
 * Shapes: n windows, seq = max_seq_len, Q = number of questions of the set.
 *   input_ids  [n*seq]  token ids; the pad id after the final separator
 *   type_ids   [n*seq]  0 for cls, question, separators (and padding); the format's context
 *                       type for the context + final separator (BERT 1, RoBERTa 0)
 *   mask       [n*seq]  1 for real tokens, 0 for padding
 *   start_pos, end_pos [n]  gold answer token indices in the window, from the question's
 *                       first answer; 0 ([CLS]) when the question has no answer, when the
 *                       answer is not (wholly) inside this window, or when its text was not
 *                       found in the context
 *   question   [n]      index of the window's question in SquadSet.questions
 *   ctx_start, ctx_end [n*seq]  byte span [start, end) in the question's context of each
 *                       context token; -1 for every other token, so a token is a context
 *                       token exactly when ctx_start >= 0
 *   max_context [n*seq] 1 when this window gives the token its maximal context (run_squad's
 *                       _check_is_max_context: the window maximising min(left, right) +
 *                       0.01 * window length, first one on ties); 0 for non-context tokens
 *   first_window [Q+1]  the windows of question q are first_window[q] .. first_window[q+1]-1,
 *                       in context order
 * Gold token positions come from byte spans: the answer's first token is the first context
 * token ending after the answer's first byte, its last the last token starting before the
 * answer's end (run_squad's _improve_answer_span gives the same for whole-token answers). */
#ifndef QAPRUNE_FEATURES_H
#define QAPRUNE_FEATURES_H

#include <stdint.h>

#include "core/qa/squad.h"
#include "core/text/tokenizer.h"

typedef struct {
    int max_seq_len;   /* tokens per window, all special tokens included */
    int doc_stride;    /* tokens between the starts of consecutive windows */
    int max_query_len; /* question tokens kept */
} FeatureOpts;

/* run_squad.py's defaults */
#define FEATURE_OPTS_DEFAULT ((FeatureOpts){.max_seq_len = 384, .doc_stride = 128, .max_query_len = 64})

typedef struct {
    int n;    /* windows */
    int seq;  /* = max_seq_len */
    int n_questions;
    int32_t *input_ids, *type_ids, *mask;   /* [n*seq] */
    int32_t *start_pos, *end_pos, *question; /* [n] */
    int32_t *ctx_start, *ctx_end;           /* [n*seq] */
    uint8_t *max_context;                   /* [n*seq] */
    int32_t *first_window;                  /* [n_questions + 1] */
    int n_answers_outside;                  /* answerable questions whose answer is in no window */
} Features;

/* Builds the windows of every question of set with tok (its cls, sep and pad tokens must
 * exist: tokenizer_check_special; max_seq_len must not exceed its model_max_length). On success *out gets new Features (all arrays owned; free
 * with features_free()) and 0 is returned; QA_ERR on bad options, missing special tokens or
 * when out of memory. */
int features_build(const SquadSet *set, Tokenizer *tok, const FeatureOpts *opts,
                   Features **out);
void features_free(Features *f);

#endif
