/* core/qa/nq.h: Natural Questions files (Kwiatkowski et al. 2019) read one example at a time.
 *
 * Google distributes NQ as JSON lines, gzipped (*.jsonl.gz) or not, in two formats; both are
 * read, told apart per line by their document field:
 *   original:   {"example_id": 797803103760793766, "question_text": "...",
 *                "document_tokens": [{"token": "<P>", "start_byte": 92, "end_byte": 95,
 *                                     "html_token": true}, ...],
 *                "long_answer_candidates": [{"start_token": 18, "end_token": 136,
 *                    "start_byte": 92, "end_byte": 5000, "top_level": true}, ...],
 *                "annotations": [{"long_answer": {"candidate_index": 0, "start_token": 18,
 *                    "end_token": 136, "start_byte": 92, "end_byte": 5000},
 *                    "short_answers": [{"start_token": 40, "end_token": 43, ...}],
 *                    "yes_no_answer": "NONE"}], ...}      (document_html etc. are skipped)
 *   simplified: the same with "document_text", the document tokens joined by single spaces,
 *                in place of "document_tokens", and no byte offsets anywhere.
 * Token indices are the same in both (the simplified text is the original tokens joined),
 * so an example reads the same from either; an HTML token of the simplified text is one that
 * starts with '<' and ends with '>', as every HTML token of the original does. Spans are
 * half-open [start, end); -1 everywhere is a null span. Train has one annotation per example,
 * dev five, test none.
 *
 * Every line is validated; a bad one fails with one line naming the file, the line number and
 * the field: "dev.jsonl.gz: line 12: annotations[0].long_answer.candidate_index: 57, but
 * there are 40 candidates". Documents are held one at a time (a real dev file is ~1 GB). */
#ifndef QAPRUNE_NQ_H
#define QAPRUNE_NQ_H

#include <stdint.h>

typedef struct {
    int64_t start_byte, end_byte;   /* -1, -1 when the file has no byte offsets */
    int64_t start_token, end_token; /* -1, -1 for a null span */
} NqSpan;

#define NQ_NULL_SPAN ((NqSpan){-1, -1, -1, -1})

/* The yes/no label of an annotation or a prediction ("NONE", "YES", "NO" in files). */
typedef enum { NQ_YES_NO_NONE = 0, NQ_YES_NO_YES, NQ_YES_NO_NO } NqYesNo;

/* One annotation (or one prediction). */
typedef struct {
    NqSpan long_answer;
    int candidate_index;   /* index into the example's candidates; -1 when null (or unknown) */
    NqSpan *short_answers; /* [n_short] (owned by the example or prediction set) */
    int n_short;
    NqYesNo yes_no;
} NqLabel;

typedef struct {
    int64_t start_token, end_token; /* [start, end) in document tokens */
    int64_t start_byte, end_byte;   /* -1 in the simplified format */
    int top_level;                  /* 1 when no other candidate contains it */
} NqCandidate;

typedef struct {
    int64_t example_id;
    char *question;          /* question_text */
    int n_tokens;            /* document tokens (0 when read with NQ_READ_LABELS) */
    char **tokens;           /* [n_tokens] NUL-terminated token strings */
    uint8_t *is_html;        /* [n_tokens] 1 for an HTML tag token */
    NqCandidate *candidates; /* [n_candidates] */
    int n_candidates;
    NqLabel *annotations;    /* [n_annotations] */
    int n_annotations;
    char *storage_;          /* private: one allocation holding the token strings */
} NqExample;

typedef enum {
    NQ_READ_ALL = 0,    /* question, document, candidates and annotations */
    NQ_READ_LABELS = 1, /* example_id and annotations only (what the metric needs) */
} NqReadMode;

typedef struct NqReader NqReader;

/* Opens path (gzipped or plain JSON lines) for reading. On success *out gets a new reader
 * (free with nq_reader_close()); QA_ERR naming the path. */
int nq_reader_open(const char *path, NqReadMode mode, NqReader **out);
/* Reads the next example into *ex (its previous content is freed first; zero it before the
 * first call; free the last one with nq_example_clear()). Blank lines are skipped. Returns 1
 * for an example, 0 at the end, QA_ERR naming file, line and field. */
int nq_reader_next(NqReader *r, NqExample *ex);
/* The 1-based line number of the example last read. */
long nq_reader_line(const NqReader *r);
/* The fraction of the file read so far, in [0, 1] (for progress reports). */
double nq_reader_progress(const NqReader *r);
void nq_reader_close(NqReader *r);

/* Frees what *ex owns and zeroes it; accepts a zeroed example. */
void nq_example_clear(NqExample *ex);

/* 1 when the span is null: all four offsets negative (eval_utils.Span.is_null_span). */
int nq_span_is_null(const NqSpan *s);

/* Parses "NONE"/"YES"/"NO" in any case (the official script lowercases); -1 otherwise. */
int nq_yes_no_parse(const char *s);
/* "NONE", "YES" or "NO". */
const char *nq_yes_no_name(NqYesNo y);

#endif
