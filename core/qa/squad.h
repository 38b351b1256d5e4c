/* core/qa/squad.h: SQuAD 1.1 / 2.0 JSON files read into plain structs.
 *
 * The file format (validated field by field; a malformed file fails with one line naming the
 * file, the JSON path such as data[3].paragraphs[7].qas[2].answers[0].answer_start, and what
 * was expected):
 *   {"version": "...", "data": [{"title": "...", "paragraphs": [{"context": "...",
 *     "qas": [{"id": "...", "question": "...", "is_impossible": false,
 *              "answers": [{"text": "...", "answer_start": 17}]}]}]}]}
 * "version", "title" and "is_impossible" are optional (SQuAD 1.1 has no is_impossible);
 * other fields (plausible_answers, ...) are ignored.
 *
 * Offsets. answer_start in the file counts characters (Unicode code points, as Python does).
 * Everything else in qaprune uses byte offsets into the UTF-8 context: each answer carries its
 * byte span [start, end). When the text is not found at answer_start, the answer is located
 * by text (the occurrence nearest to answer_start) and a warning goes to stderr; an answer
 * whose text is nowhere in the context keeps start = end = -1 (also warned about). */
#ifndef QAPRUNE_SQUAD_H
#define QAPRUNE_SQUAD_H

typedef struct {
    char *text;       /* the answer text as in the file (owned by the set) */
    int answer_start; /* the file's character offset */
    int start, end;   /* byte span of the text in the context; -1, -1 if it is not there */
} SquadAnswer;

typedef struct {
    char *id;              /* question id (owned by the set) */
    char *question;        /* question text (owned by the set) */
    const char *context;   /* the paragraph's context, borrowed from SquadSet.contexts */
    int context_len;       /* its length in bytes */
    int paragraph;         /* index into SquadSet.contexts */
    SquadAnswer *answers;  /* [n_answers] (owned by the set); empty for unanswerable ones */
    int n_answers;
    int is_impossible;     /* the file's is_impossible, 0 when absent */
} SquadQuestion;

typedef struct {
    char *version;            /* the file's "version", "" when absent */
    char **contexts;          /* [n_paragraphs] NUL-terminated UTF-8 contexts */
    int n_paragraphs;
    SquadQuestion *questions; /* [n_questions], flattened in file order */
    int n_questions;
    int n_relocated;          /* answers found by text away from their answer_start */
    int n_unlocated;          /* answers whose text is not in the context at all */
} SquadSet;

/* Reads and validates the SQuAD JSON file at path. On success *out gets a new set (free with
 * squad_free()) and 0 is returned; on failure QA_ERR with the one-line message (qa_error). */
int squad_load(const char *path, SquadSet **out);
void squad_free(SquadSet *set);

#endif
