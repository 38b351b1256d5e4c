/* core/qa/nq.c: the Natural Questions reader (see nq.h). */
#include "core/qa/nq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/qa/nq_json.h"
#include "core/util/error.h"
#include "core/util/fileio.h"

struct NqReader {
    FileLines *lines;
    char *path;
    NqReadMode mode;
};

/* Where a field sits, for error lines: file, line number and a JSON path. */
typedef struct {
    const NqReader *r;
    char field[160];
} Where;

static int fail(const Where *w, const char *what) {
    return qa_error("%s: line %ld: %s: %s", w->r->path, file_lines_number(w->r->lines),
                    w->field[0] ? w->field : "(the line)", what);
}

static void where_set(Where *w, const char *fmt, int i, const char *tail) {
    int k = snprintf(w->field, sizeof w->field, fmt, i);
    if (tail && k >= 0 && (size_t)k < sizeof w->field)
        snprintf(w->field + k, sizeof w->field - (size_t)k, "%s", tail);
}

int nq_span_is_null(const NqSpan *s) {
    return s->start_byte < 0 && s->end_byte < 0 && s->start_token < 0 && s->end_token < 0;
}

int nq_yes_no_parse(const char *s) {
    if (!strcasecmp(s, "none")) return NQ_YES_NO_NONE;
    if (!strcasecmp(s, "yes")) return NQ_YES_NO_YES;
    if (!strcasecmp(s, "no")) return NQ_YES_NO_NO;
    return -1;
}

const char *nq_yes_no_name(NqYesNo y) {
    return y == NQ_YES_NO_YES ? "YES" : y == NQ_YES_NO_NO ? "NO" : "NONE";
}

/* Reads a span object (nq_json_span), failing with the field's name. */
static int read_span(const cJSON *js, const Where *w, NqSpan *out) {
    char msg[160];
    return nq_json_span(js, out, msg, sizeof msg) ? fail(w, msg) : QA_OK;
}

/* Token-range checks of a full read: a non-null token span within [0, n_tokens). */
static int check_tokens(const NqSpan *s, int n_tokens, const Where *w) {
    if (s->start_token < 0 && !nq_span_is_null(s))
        return fail(w, "a span with bytes but no token offsets");
    if (s->end_token > n_tokens) {
        char msg[96];
        snprintf(msg, sizeof msg, "end_token %lld is past the document's %d tokens",
                 (long long)s->end_token, n_tokens);
        return fail(w, msg);
    }
    return QA_OK;
}

static int read_tokens_original(const cJSON *jt, NqExample *ex, Where *w) {
    snprintf(w->field, sizeof w->field, "document_tokens");
    if (!cJSON_IsArray(jt)) return fail(w, "expected an array");
    int n = cJSON_GetArraySize(jt);
    size_t bytes = 0;
    const cJSON *t;
    int i = 0;
    cJSON_ArrayForEach(t, jt) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(t, "token");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(t, "html_token");
        where_set(w, "document_tokens[%d]", i++, NULL);
        if (!cJSON_IsString(s) || !s->valuestring) return fail(w, "token: expected a string");
        if (!cJSON_IsBool(h)) return fail(w, "html_token: expected true or false");
        bytes += strlen(s->valuestring) + 1;
    }
    ex->tokens = malloc(((size_t)n + 1) * sizeof *ex->tokens);
    ex->is_html = malloc((size_t)n + 1);
    ex->storage_ = malloc(bytes + 1);
    if (!ex->tokens || !ex->is_html || !ex->storage_) return qa_env_error(ENOMEM, "nq: out of memory");
    size_t off = 0;
    i = 0;
    cJSON_ArrayForEach(t, jt) {
        const char *s = cJSON_GetObjectItemCaseSensitive(t, "token")->valuestring;
        size_t len = strlen(s);
        memcpy(ex->storage_ + off, s, len + 1);
        ex->tokens[i] = ex->storage_ + off;
        ex->is_html[i++] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "html_token"));
        off += len + 1;
    }
    ex->n_tokens = n;
    return QA_OK;
}

/* The simplified document: tokens joined by single spaces (an empty token between two
 * spaces stays a token, so indices match the original). */
static int read_tokens_simplified(const cJSON *jt, NqExample *ex, Where *w) {
    snprintf(w->field, sizeof w->field, "document_text");
    if (!cJSON_IsString(jt) || !jt->valuestring) return fail(w, "expected a string");
    const char *text = jt->valuestring;
    size_t len = strlen(text);
    int n = len ? 1 : 0;
    for (size_t k = 0; k < len; k++) n += text[k] == ' ';
    ex->tokens = malloc(((size_t)n + 1) * sizeof *ex->tokens);
    ex->is_html = malloc((size_t)n + 1);
    ex->storage_ = malloc(len + 1);
    if (!ex->tokens || !ex->is_html || !ex->storage_) return qa_env_error(ENOMEM, "nq: out of memory");
    memcpy(ex->storage_, text, len + 1);
    for (int i = 0, k = 0; i < n; i++) {
        char *tok = ex->storage_ + k;
        char *sp = strchr(tok, ' ');
        if (sp) *sp = '\0';
        size_t tl = strlen(tok);
        ex->tokens[i] = tok;
        ex->is_html[i] = tl >= 2 && tok[0] == '<' && tok[tl - 1] == '>';
        k += (int)tl + 1;
    }
    ex->n_tokens = n;
    return QA_OK;
}

static int read_candidates(const cJSON *jc, NqExample *ex, Where *w) {
    snprintf(w->field, sizeof w->field, "long_answer_candidates");
    if (!cJSON_IsArray(jc)) return fail(w, "expected an array");
    int n = cJSON_GetArraySize(jc);
    ex->candidates = calloc((size_t)n + 1, sizeof *ex->candidates);
    if (!ex->candidates) return qa_env_error(ENOMEM, "nq: out of memory");
    const cJSON *c;
    int i = 0;
    cJSON_ArrayForEach(c, jc) {
        where_set(w, "long_answer_candidates[%d]", i, NULL);
        NqSpan s;
        if (read_span(c, w, &s) || check_tokens(&s, ex->n_tokens, w)) return QA_ERR;
        if (nq_span_is_null(&s)) return fail(w, "a null span");
        const cJSON *top = cJSON_GetObjectItemCaseSensitive(c, "top_level");
        if (!cJSON_IsBool(top)) return fail(w, "top_level: expected true or false");
        ex->candidates[i++] = (NqCandidate){s.start_token, s.end_token, s.start_byte,
                                            s.end_byte, cJSON_IsTrue(top)};
    }
    ex->n_candidates = n;
    return QA_OK;
}

/* Full-read checks of one annotation: its candidate exists and is its long answer, and every
 * short answer lies inside the long answer. */
static int check_annotation(const NqLabel *a, const NqExample *ex, int i, Where *w) {
    char msg[160];
    where_set(w, "annotations[%d]", i, ".long_answer.candidate_index");
    if (a->candidate_index >= ex->n_candidates) {
        snprintf(msg, sizeof msg, "%d, but there are %d candidates", a->candidate_index,
                 ex->n_candidates);
        return fail(w, msg);
    }
    where_set(w, "annotations[%d]", i, ".long_answer");
    if (check_tokens(&a->long_answer, ex->n_tokens, w)) return QA_ERR;
    if (a->candidate_index < 0 && !nq_span_is_null(&a->long_answer))
        return fail(w, "a span with candidate_index -1");
    if (a->candidate_index >= 0) {
        const NqCandidate *c = &ex->candidates[a->candidate_index];
        if (c->start_token != a->long_answer.start_token ||
            c->end_token != a->long_answer.end_token) {
            snprintf(msg, sizeof msg, "tokens [%lld, %lld) differ from candidate %d's [%lld, %lld)",
                     (long long)a->long_answer.start_token, (long long)a->long_answer.end_token,
                     a->candidate_index, (long long)c->start_token, (long long)c->end_token);
            return fail(w, msg);
        }
    }
    for (int k = 0; k < a->n_short; k++) {
        const NqSpan *s = &a->short_answers[k];
        where_set(w, "annotations[%d]", i, "");
        size_t len = strlen(w->field);
        snprintf(w->field + len, sizeof w->field - len, ".short_answers[%d]", k);
        if (check_tokens(s, ex->n_tokens, w)) return QA_ERR;
        if (nq_span_is_null(s)) continue;
        if (nq_span_is_null(&a->long_answer)) return fail(w, "a short answer without a long answer");
        if (s->start_token < a->long_answer.start_token || s->end_token > a->long_answer.end_token) {
            snprintf(msg, sizeof msg, "tokens [%lld, %lld) outside its long answer [%lld, %lld)",
                     (long long)s->start_token, (long long)s->end_token,
                     (long long)a->long_answer.start_token, (long long)a->long_answer.end_token);
            return fail(w, msg);
        }
    }
    return QA_OK;
}

static int read_annotation(const cJSON *ja, NqLabel *a, int i, Where *w) {
    where_set(w, "annotations[%d]", i, NULL);
    if (!cJSON_IsObject(ja)) return fail(w, "expected an object");
    where_set(w, "annotations[%d]", i, ".long_answer");
    const cJSON *jl = cJSON_GetObjectItemCaseSensitive(ja, "long_answer");
    if (read_span(jl, w, &a->long_answer)) return QA_ERR;
    int64_t ci;
    if (nq_json_int(jl, "candidate_index", -1, INT32_MAX, -1, &ci) < 0)
        return fail(w, "candidate_index: expected a whole number >= -1");
    a->candidate_index = (int)ci;
    where_set(w, "annotations[%d]", i, ".short_answers");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(ja, "short_answers");
    if (!cJSON_IsArray(js)) return fail(w, "expected an array");
    int n = cJSON_GetArraySize(js);
    a->short_answers = calloc((size_t)n + 1, sizeof *a->short_answers);
    if (!a->short_answers) return qa_env_error(ENOMEM, "nq: out of memory");
    const cJSON *s;
    int k = 0;
    cJSON_ArrayForEach(s, js) {
        where_set(w, "annotations[%d]", i, "");
        size_t len = strlen(w->field);
        snprintf(w->field + len, sizeof w->field - len, ".short_answers[%d]", k);
        if (read_span(s, w, &a->short_answers[k++])) return QA_ERR;
        a->n_short = k;
    }
    where_set(w, "annotations[%d]", i, ".yes_no_answer");
    const cJSON *yn = cJSON_GetObjectItemCaseSensitive(ja, "yes_no_answer");
    int y = cJSON_IsString(yn) && yn->valuestring ? nq_yes_no_parse(yn->valuestring) : -1;
    if (y < 0) return fail(w, "expected \"NONE\", \"YES\" or \"NO\"");
    a->yes_no = (NqYesNo)y;
    return QA_OK;
}

static int read_example(const NqReader *r, const cJSON *root, NqExample *ex) {
    Where w = {.r = r};
    if (!cJSON_IsObject(root)) return fail(&w, "expected a JSON object");
    snprintf(w.field, sizeof w.field, "example_id");
    if (nq_json_id(root, &ex->example_id)) return fail(&w, "expected a 64-bit integer");
    if (r->mode == NQ_READ_ALL) {
        snprintf(w.field, sizeof w.field, "question_text");
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "question_text");
        if (!cJSON_IsString(q) || !q->valuestring) return fail(&w, "expected a string");
        if (!(ex->question = strdup(q->valuestring))) return qa_env_error(ENOMEM, "nq: out of memory");
        const cJSON *orig = cJSON_GetObjectItemCaseSensitive(root, "document_tokens");
        const cJSON *simp = cJSON_GetObjectItemCaseSensitive(root, "document_text");
        if (!orig && !simp) {
            w.field[0] = '\0';
            return fail(&w, "neither document_tokens (original format) nor document_text (simplified)");
        }
        if (orig ? read_tokens_original(orig, ex, &w) : read_tokens_simplified(simp, ex, &w))
            return QA_ERR;
        if (read_candidates(cJSON_GetObjectItemCaseSensitive(root, "long_answer_candidates"), ex, &w))
            return QA_ERR;
    }
    snprintf(w.field, sizeof w.field, "annotations");
    const cJSON *ja = cJSON_GetObjectItemCaseSensitive(root, "annotations");
    if (!ja && r->mode == NQ_READ_ALL) return QA_OK; /* the test set: no annotations */
    if (!cJSON_IsArray(ja)) return fail(&w, "expected an array");
    int n = cJSON_GetArraySize(ja);
    ex->annotations = calloc((size_t)n + 1, sizeof *ex->annotations);
    if (!ex->annotations) return qa_env_error(ENOMEM, "nq: out of memory");
    const cJSON *a;
    cJSON_ArrayForEach(a, ja) {
        NqLabel *lab = &ex->annotations[ex->n_annotations++];
        if (read_annotation(a, lab, ex->n_annotations - 1, &w)) return QA_ERR;
        if (r->mode == NQ_READ_ALL && check_annotation(lab, ex, ex->n_annotations - 1, &w))
            return QA_ERR;
    }
    return QA_OK;
}

int nq_reader_open(const char *path, NqReadMode mode, NqReader **out) {
    *out = NULL;
    NqReader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return qa_env_error(ENOMEM, "%s: out of memory", path);
    }
    r->mode = mode;
    if (file_lines_open(path, &r->lines)) {
        nq_reader_close(r);
        return QA_ERR;
    }
    *out = r;
    return QA_OK;
}

int nq_reader_next(NqReader *r, NqExample *ex) {
    nq_example_clear(ex);
    const char *line;
    size_t len;
    int got;
    for (;;) {
        if ((got = file_lines_next(r->lines, &line, &len)) <= 0) return got;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) k++;
        if (k < len) break;
    }
    cJSON *root = nq_json_parse(line, len);
    if (!root) {
        Where w = {.r = r};
        return fail(&w, file_lines_terminated(r->lines)
                            ? "not valid JSON"
                            : "not valid JSON (a truncated last line: the file is cut)");
    }
    int rc = read_example(r, root, ex);
    cJSON_Delete(root);
    if (rc) {
        nq_example_clear(ex);
        return QA_ERR;
    }
    return 1;
}

long nq_reader_line(const NqReader *r) { return file_lines_number(r->lines); }

double nq_reader_progress(const NqReader *r) { return file_lines_progress(r->lines); }

void nq_reader_close(NqReader *r) {
    if (!r) return;
    file_lines_close(r->lines);
    free(r->path);
    free(r);
}

void nq_example_clear(NqExample *ex) {
    free(ex->question);
    free(ex->tokens);
    free(ex->is_html);
    free(ex->storage_);
    free(ex->candidates);
    for (int i = 0; i < ex->n_annotations; i++) free(ex->annotations[i].short_answers);
    free(ex->annotations);
    memset(ex, 0, sizeof *ex);
}
