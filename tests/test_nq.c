/* tests/test_nq.c: the Natural Questions reader (core/qa/nq.c): the original and the
 * simplified format of the same examples read the same, gzipped or plain; bad lines fail with
 * one line naming the file, the line number and the field. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/qa/nq.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "tests/test.h"

static char tmp_dir[64];

static const char *tmp_path(const char *name) {
    static char buf[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir, name);
    return buf[k];
}

/* The documents: tokens of a small page, HTML tags among them. */
static const char *const doc_tokens[] = {
    "<H1>", "Lafel", "</H1>", "<P>", "Lafel", "was", "born", "in", "Bupiva", ".", "</P>",
    "<Ul>", "<Li>", "mentor", ":", "Gopan", "</Li>", "<Li>", "children", ":", "four", "</Li>",
    "</Ul>", "<Table>", "<Tr>", "<Td>", "1962", "</Td>", "<Td>", "yes", "</Td>", "</Tr>",
    "</Table>"};
enum { N_DOC = sizeof doc_tokens / sizeof doc_tokens[0] };
/* candidates: the paragraph, the list, its two items, the table, its row */
static const int cand[][3] = {{3, 11, 1}, {11, 23, 1}, {12, 17, 0}, {17, 22, 0}, {23, 33, 1}, {24, 32, 0}};
enum { N_CAND = sizeof cand / sizeof cand[0] };

static int byte_of(int token) { return 10 * token + 3; } /* any increasing map will do */

static cJSON *span_obj(int st, int et, int bytes, int candidate) {
    cJSON *o = cJSON_CreateObject();
    if (bytes) {
        cJSON_AddNumberToObject(o, "start_byte", st < 0 ? -1 : byte_of(st));
        cJSON_AddNumberToObject(o, "end_byte", et < 0 ? -1 : byte_of(et) - 1);
    }
    cJSON_AddNumberToObject(o, "start_token", st);
    cJSON_AddNumberToObject(o, "end_token", et);
    if (candidate >= -1) cJSON_AddNumberToObject(o, "candidate_index", candidate);
    return o;
}

/* annotation k of example e: long candidate, short spans, yes/no */
typedef struct { int cand; int n_short; int sh[2][2]; const char *yes_no; } Ann;
static const Ann anns[3][5] = {
    {{0, 1, {{8, 9}}, "NONE"}, {0, 1, {{8, 9}}, "NONE"}, {-1, 0, {{0}}, "NONE"},
     {0, 2, {{4, 5}, {8, 9}}, "NONE"}, {2, 1, {{15, 16}}, "NONE"}},
    {{4, 0, {{0}}, "YES"}, {4, 0, {{0}}, "YES"}, {5, 0, {{0}}, "NO"}, {-1, 0, {{0}}, "NONE"},
     {4, 1, {{26, 27}}, "NONE"}},
    {{3, 1, {{20, 21}}, "NONE"}, {0}, {0}, {0}, {0}}, /* a training example: one annotation */
};
static const int n_anns[3] = {5, 5, 1};
static const char *const ids[3] = {"-1220107454853145579", "9223372036854775807", "797803103760793766"};

/* One example as a JSON line; simplified: document_text and no byte offsets. */
static char *example_line(int e, int simplified) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddRawToObject(o, "example_id", ids[e]);
    cJSON_AddStringToObject(o, "question_text", e == 1 ? "is 1962 listed" : "where was lafel born");
    if (simplified) {
        char text[1024] = "";
        for (int i = 0; i < N_DOC; i++) {
            if (i) strcat(text, " ");
            strcat(text, doc_tokens[i]);
        }
        cJSON_AddStringToObject(o, "document_text", text);
    } else {
        cJSON_AddStringToObject(o, "document_html", "<html>...</html>");
        cJSON *toks = cJSON_AddArrayToObject(o, "document_tokens");
        for (int i = 0; i < N_DOC; i++) {
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "token", doc_tokens[i]);
            cJSON_AddNumberToObject(t, "start_byte", byte_of(i));
            cJSON_AddNumberToObject(t, "end_byte", byte_of(i + 1) - 1);
            cJSON_AddBoolToObject(t, "html_token", doc_tokens[i][0] == '<');
            cJSON_AddItemToArray(toks, t);
        }
    }
    cJSON *cs = cJSON_AddArrayToObject(o, "long_answer_candidates");
    for (int c = 0; c < N_CAND; c++) {
        cJSON *j = span_obj(cand[c][0], cand[c][1], !simplified, -2);
        cJSON_AddBoolToObject(j, "top_level", cand[c][2]);
        cJSON_AddItemToArray(cs, j);
    }
    cJSON *as = cJSON_AddArrayToObject(o, "annotations");
    for (int k = 0; k < n_anns[e]; k++) {
        const Ann *a = &anns[e][k];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "annotation_id", 1000 + k);
        cJSON_AddItemToObject(j, "long_answer", a->cand < 0 ? span_obj(-1, -1, !simplified, -1)
                                                : span_obj(cand[a->cand][0], cand[a->cand][1],
                                                           !simplified, a->cand));
        cJSON *sa = cJSON_AddArrayToObject(j, "short_answers");
        for (int s = 0; s < a->n_short; s++)
            cJSON_AddItemToArray(sa, span_obj(a->sh[s][0], a->sh[s][1], !simplified, -2));
        cJSON_AddStringToObject(j, "yes_no_answer", a->yes_no);
        cJSON_AddItemToArray(as, j);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Writes the lines to path, gzipped when gz. */
static void write_lines(const char *path, char **lines, int n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        for (int i = 0; i < n; i++) gzprintf(f, "%s\n", lines[i]);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        for (int i = 0; i < n; i++) fprintf(f, "%s\n", lines[i]);
        fclose(f);
    }
}

static int spans_same(const NqSpan *a, const NqSpan *b) {
    return a->start_token == b->start_token && a->end_token == b->end_token;
}

/* Checks one read example against the tables above. */
static void check_example(const NqExample *ex, int e, int simplified, const char *what) {
    CHECK(ex->example_id == strtoll(ids[e], NULL, 10), "%s: example_id %lld", what,
          (long long)ex->example_id);
    CHECK(ex->n_tokens == N_DOC, "%s: %d tokens", what, ex->n_tokens);
    for (int i = 0; i < ex->n_tokens && i < N_DOC; i++) {
        CHECK(!strcmp(ex->tokens[i], doc_tokens[i]), "%s: token %d '%s'", what, i, ex->tokens[i]);
        CHECK(ex->is_html[i] == (doc_tokens[i][0] == '<'), "%s: is_html %d", what, i);
    }
    CHECK(ex->n_candidates == N_CAND, "%s: candidates", what);
    for (int c = 0; c < ex->n_candidates && c < N_CAND; c++) {
        const NqCandidate *k = &ex->candidates[c];
        CHECK(k->start_token == cand[c][0] && k->end_token == cand[c][1] &&
              k->top_level == cand[c][2], "%s: candidate %d", what, c);
        CHECK(k->start_byte == (simplified ? -1 : byte_of(cand[c][0])), "%s: candidate bytes", what);
    }
    CHECK(ex->n_annotations == n_anns[e], "%s: annotations", what);
    for (int k = 0; k < ex->n_annotations && k < n_anns[e]; k++) {
        const Ann *a = &anns[e][k];
        const NqLabel *l = &ex->annotations[k];
        NqSpan want = a->cand < 0 ? NQ_NULL_SPAN
                                  : (NqSpan){-1, -1, cand[a->cand][0], cand[a->cand][1]};
        CHECK(l->candidate_index == a->cand && spans_same(&l->long_answer, &want),
              "%s: annotation %d long answer", what, k);
        CHECK(l->n_short == a->n_short, "%s: annotation %d short answers", what, k);
        for (int s = 0; s < l->n_short && s < a->n_short; s++)
            CHECK(l->short_answers[s].start_token == a->sh[s][0] &&
                  l->short_answers[s].end_token == a->sh[s][1], "%s: short %d.%d", what, k, s);
        CHECK((int)l->yes_no == nq_yes_no_parse(a->yes_no), "%s: yes/no %d", what, k);
    }
}

static void test_formats(void) {
    for (int simplified = 0; simplified < 2; simplified++) {
        char *lines[3];
        for (int e = 0; e < 3; e++) lines[e] = example_line(e, simplified);
        for (int gz = 0; gz < 2; gz++) {
            char name[64], what[64];
            snprintf(name, sizeof name, "%s.jsonl%s", simplified ? "simplified" : "original",
                     gz ? ".gz" : "");
            snprintf(what, sizeof what, "%s", name);
            const char *path = tmp_path(name);
            write_lines(path, lines, 3, gz);
            NqReader *r = NULL;
            NqExample ex = {0};
            CHECK(nq_reader_open(path, NQ_READ_ALL, &r) == QA_OK, "open: %s", qa_last_error());
            if (!r) continue;
            double last = 0;
            int e = 0, got;
            while ((got = nq_reader_next(r, &ex)) == 1) {
                if (e < 3) check_example(&ex, e, simplified, what);
                CHECK(nq_reader_line(r) == e + 1, "%s: line number", what);
                CHECK(nq_reader_progress(r) >= last, "%s: progress goes forward", what);
                last = nq_reader_progress(r);
                e++;
            }
            CHECK(got == 0 && e == 3, "%s: read %d examples (%s)", what, e, qa_last_error());
            CHECK(last == 1.0, "%s: progress ends at 1 (%g)", what, last);
            nq_example_clear(&ex);
            nq_reader_close(r);
            /* the metric's reading: annotations only, from either format */
            r = NULL;
            CHECK(nq_reader_open(path, NQ_READ_LABELS, &r) == QA_OK, "open: %s", qa_last_error());
            for (e = 0; r && nq_reader_next(r, &ex) == 1; e++) {
                CHECK(ex.n_tokens == 0 && ex.n_annotations == n_anns[e] &&
                      ex.example_id == strtoll(ids[e], NULL, 10), "%s: labels of %d", what, e);
                CHECK(ex.annotations[0].candidate_index == anns[e][0].cand &&
                      ex.annotations[0].n_short == anns[e][0].n_short, "%s: labels of %d", what, e);
            }
            CHECK(e == 3, "%s: labels of 3 examples", what);
            nq_example_clear(&ex);
            nq_reader_close(r);
        }
        for (int e = 0; e < 3; e++) free(lines[e]);
    }
}

/* Reads path to its end; returns the first error's code (QA_OK when none). */
static int read_all(const char *path) {
    NqReader *r = NULL;
    NqExample ex = {0};
    if (nq_reader_open(path, NQ_READ_ALL, &r)) return QA_ERR;
    int got;
    while ((got = nq_reader_next(r, &ex)) == 1) {}
    nq_example_clear(&ex);
    nq_reader_close(r);
    return got;
}

static void expect_error(const char *name, char **lines, int n, int gz, const char *want1,
                         const char *want2) {
    const char *path = tmp_path(name);
    write_lines(path, lines, n, gz);
    int rc = read_all(path);
    const char *msg = qa_last_error();
    printf("%s: %s\n", name, msg);
    CHECK(rc == QA_ERR && strstr(msg, path) && strstr(msg, want1) && (!want2 || strstr(msg, want2)) &&
          !strchr(msg, '\n'), "%s: '%s'", name, msg);
}

static char *replace(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    if (!at) return strdup(s);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

static void test_errors(void) {
    char *good[3];
    for (int e = 0; e < 3; e++) good[e] = example_line(e, 0);
    char *lines[3] = {good[0], good[1], good[2]};

    /* a truncated last line (the file was cut): plain, then gzipped */
    char *cut = strndup(good[2], strlen(good[2]) / 2);
    lines[2] = cut;
    const char *path = tmp_path("cut.jsonl");
    FILE *f = fopen(path, "wb");
    fprintf(f, "%s\n%s\n%s", good[0], good[1], cut);
    fclose(f);
    CHECK(read_all(path) == QA_ERR && strstr(qa_last_error(), "line 3") &&
          strstr(qa_last_error(), "truncated"), "cut line: '%s'", qa_last_error());
    lines[2] = good[2];
    /* a cut gzip stream */
    const char *gz = tmp_path("whole.jsonl.gz");
    write_lines(gz, lines, 3, 1);
    char *bytes = NULL;
    size_t len = 0;
    CHECK(file_read(gz, 0, &bytes, &len) == QA_OK, "read gz");
    const char *cut_gz = tmp_path("cut.jsonl.gz");
    file_write_atomic(cut_gz, bytes, len * 2 / 3);
    free(bytes);
    CHECK(read_all(cut_gz) == QA_ERR && strstr(qa_last_error(), cut_gz), "cut gzip: '%s'",
          qa_last_error());

    /* a candidate index out of range, on line 2 */
    char *bad = replace(good[1], "\"candidate_index\":4", "\"candidate_index\":57");
    lines[1] = bad;
    expect_error("cand.jsonl.gz", lines, 3, 1, "line 2: annotations[0].long_answer.candidate_index",
                 "57, but there are 6 candidates");
    free(bad);
    /* a short answer outside its long answer */
    bad = replace(good[1], "{\"start_byte\":263,\"end_byte\":272,\"start_token\":26,\"end_token\":27}",
                  "{\"start_byte\":23,\"end_byte\":32,\"start_token\":2,\"end_token\":3}");
    CHECK(strcmp(bad, good[1]), "the short answer of example 1 was replaced");
    lines[1] = bad;
    expect_error("short.jsonl", lines, 3, 0, "line 2: annotations[4].short_answers[0]",
                 "outside its long answer [23, 33)");
    free(bad);
    lines[1] = good[1];
    /* a long answer that is not its candidate; a token past the document; a bad yes/no */
    bad = replace(good[0], "\"start_token\":3,\"end_token\":11,\"candidate_index\":0",
                  "\"start_token\":4,\"end_token\":11,\"candidate_index\":0");
    lines[0] = bad;
    expect_error("long.jsonl", lines, 3, 0, "line 1: annotations[0].long_answer", "differ from candidate 0");
    free(bad);
    bad = replace(good[0], "\"start_token\":23,\"end_token\":33", "\"start_token\":23,\"end_token\":34");
    lines[0] = bad;
    expect_error("past.jsonl", lines, 3, 0, "line 1: long_answer_candidates[4]", "past the document");
    free(bad);
    bad = replace(good[0], "\"yes_no_answer\":\"NONE\"", "\"yes_no_answer\":\"PERHAPS\"");
    lines[0] = bad;
    expect_error("yesno.jsonl", lines, 3, 0, "line 1: annotations[0].yes_no_answer", NULL);
    free(bad);
    bad = replace(good[0], "\"example_id\":-1220107454853145579", "\"example_id\":1.5");
    lines[0] = bad;
    expect_error("id.jsonl", lines, 3, 0, "line 1: example_id", "64-bit integer");
    free(bad);
    lines[0] = good[0];
    CHECK(read_all(tmp_path("no-such-file.jsonl.gz")) == QA_ERR &&
          strstr(qa_last_error(), "cannot open"), "missing file: '%s'", qa_last_error());
    free(cut);
    for (int e = 0; e < 3; e++) free(good[e]);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/test_nq.XXXXXX");
    if (!mkdtemp(tmp_dir)) return 1;
    test_formats();
    test_errors();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return TEST_DONE();
}
