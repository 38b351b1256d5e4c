/* core/qa/nq_windows.h: model inputs over whole Natural Questions documents, as BERT-joint
 * builds them (Alberti, Lee & Collins 2019, "A BERT Baseline for the Natural Questions";
 * google-research/language bert_joint/run_nq.py; the code here is our own).
 *
 * The document seen by the model is its top-level long-answer candidates in document order
 * (at most max_contexts of them), HTML tags dropped. With markup on, each candidate is
 * preceded by two markup tokens, "[ContextId=i]" (i = the candidate index) and its kind and
 * rank "[Paragraph=k]" / "[Table=k]" / "[List=k]" / "[Other=k]" (kind from the candidate's
 * first tag: <P>, <Table>, <Ul>/<Ol>/<Dl>, else Other; k counts that kind, capped at
 * max_position), and the whole document by "[ContextId=-1] [NoLongAnswer]"; a markup token
 * the vocabulary lacks is its unknown token, as in BERT-joint. The question is "[Q]" and its
 * tokens, the last max_query_len kept. Windows of max_seq_len tokens
 *     [CLS] [Q] question [SEP] (one or two per the family) document-window [SEP] [PAD]...
 * start doc_stride document tokens apart (run_squad's sliding window).
 *
 * Labels (every window; used in training). The example's answer is that of its first
 * annotation with a long answer, in candidate order, that has short answers; else of the
 * first with a long answer (BERT-joint's get_first_annotation):
 *   SHORT: span = first short answer's start .. last short answer's end;
 *   YES / NO (the annotation's yes/no label) and LONG: span = the long-answer candidate;
 *   NONE: no annotation has a long answer.
 * A window holding the whole span gets that type and the span's first and last subtoken as
 * start_pos/end_pos; every other window is NONE with start = end = 0 ([CLS]). In training,
 * NONE windows are kept with probability include_unknowns (BERT-joint: 0.02), decided by a
 * hash of (seed, example_id, window), so the choice does not depend on reading order.
 *
 * Offsets: token_map gives, for every document subtoken of a window, the index of the NQ
 * document token it came from (-1 for everything else), so predicted spans map back to NQ
 * token offsets exactly: a span of subtokens [s, e] is the document tokens
 * [token_map[s], token_map[e] + 1).
 *
 * The tokenizer is reached through NqTokenizer (a few function pointers), so any tokenizer
 * with word encoding and id lookup plugs in; nq_tokenizer_wordpiece() adapts a WordPiece
 * vocabulary, nq_tokenizer_of() the generic Tokenizer (core/text/tokenizer.h: WordPiece or
 * byte-level BPE, in its family's input format: RoBERTa's <s> q </s></s> doc </s>). */
#ifndef QAPRUNE_NQ_WINDOWS_H
#define QAPRUNE_NQ_WINDOWS_H

#include <stddef.h>
#include <stdint.h>

#include "core/qa/nq.h"
#include "core/text/tokenizer.h"
#include "core/text/wordpiece.h"

/* The answer types of the type head, in its logit order. */
typedef enum {
    NQ_TYPE_NONE = 0, NQ_TYPE_LONG, NQ_TYPE_SHORT, NQ_TYPE_YES, NQ_TYPE_NO, NQ_N_TYPES
} NqAnswerType;
extern const char *const nq_type_names[NQ_N_TYPES]; /* "none", "long", "short", "yes", "no" */

typedef struct {
    /* Encodes one whitespace-free word as it reads after a space in running text: *ids gets
     * a new array of *n ids (free with free(); never NULL). Returns 0, or QA_ERR. */
    int (*encode)(void *ctx, const char *word, size_t len, int32_t **ids, int *n);
    /* The id of a whole token such as "[Q]" or "[Paragraph=3]"; -1 when there is none. */
    int (*token_id)(void *ctx, const char *name);
    void *ctx;
    int cls, sep, pad, unk;
    int seps_between; /* separators between question and document: 1 (BERT) or 2 (RoBERTa) */
    int doc_type;     /* token type of the document and its final separator: 1 or 0 */
} NqTokenizer;

/* A WordPiece tokenizer behind NqTokenizer (BERT layout); v is borrowed. */
NqTokenizer nq_tokenizer_wordpiece(const WpVocab *v);
/* Any Tokenizer behind NqTokenizer, in its family's layout (separators, token types); t is
 * borrowed and used for one thread at a time. Each document word is encoded as it reads
 * after a space (a byte-level BPE gives it its leading "Ġ"); a markup token the vocabulary
 * lacks is the unknown token (the pad token for a vocabulary without one). */
NqTokenizer nq_tokenizer_of(Tokenizer *t);

typedef struct {
    int max_seq_len, doc_stride, max_query_len;
    int max_contexts;        /* top-level candidates kept (the [ContextId=-1] head counts) */
    int max_position;        /* cap of k in "[Paragraph=k]" */
    int markup;              /* 1: markup tokens as above; 0: candidates' text only */
    int training;            /* 1: down-sample NONE windows */
    double include_unknowns; /* training: probability of keeping a NONE window */
    uint64_t seed;
} NqWindowOpts;

/* BERT-joint's settings (run_nq.py flags), for 384-token windows */
#define NQ_WINDOW_OPTS_DEFAULT                                                          \
    ((NqWindowOpts){.max_seq_len = 384, .doc_stride = 128, .max_query_len = 64,        \
                    .max_contexts = 48, .max_position = 50, .markup = 1, .training = 0, \
                    .include_unknowns = 0.02, .seed = 0})

/* Windows of many examples, appended one example at a time (no document text is kept).
 * Shapes: n windows, seq = max_seq_len, E examples, C candidates in all.
 *   input_ids, type_ids, mask [n*seq]; token_map [n*seq] (see above)
 *   max_context [n*seq]  1 when this window gives the document subtoken its maximal context
 *                        (run_squad's _check_is_max_context), 0 for other tokens
 *   start_pos, end_pos, answer_type [n]; example [n] index of the window's example
 *   example_id [E]; first_window [E+1] (windows of example e: first_window[e] ..
 *   first_window[e+1]-1); first_candidate [E+1] into cand_start, cand_end, cand_top [C]
 *   label_type [E], label_start, label_end [E]: the example's answer in document tokens
 *   ([start, end), -1 for NONE) before windowing */
typedef struct {
    int n, seq, n_examples, n_candidates;
    int32_t *input_ids, *type_ids, *mask, *token_map;
    uint8_t *max_context;
    int32_t *start_pos, *end_pos, *answer_type, *example;
    int64_t *example_id;
    int32_t *first_window, *first_candidate;
    int32_t *cand_start, *cand_end;
    uint8_t *cand_top;
    int32_t *label_type, *label_start, *label_end;
    int n_answers_outside; /* examples with an answer that no window holds whole */
    size_t cap_windows_, cap_examples_, cap_candidates_; /* private */
} NqWindows;

/* Returns a new empty set (free with nq_windows_free()), or NULL (with a qa_error line) when
 * out of memory or when the options leave no room. */
NqWindows *nq_windows_new(const NqWindowOpts *opts);
/* Appends the windows of ex. Returns 0, or QA_ERR (out of memory, a tokenizer failure). */
int nq_windows_add(NqWindows *w, const NqExample *ex, const NqTokenizer *tok,
                   const NqWindowOpts *opts);
void nq_windows_free(NqWindows *w);

/* The example's answer as defined above: type, and document-token span [start, end). */
NqAnswerType nq_example_answer(const NqExample *ex, int *start, int *end);

#endif
