/* core/qa/squad.c: the SQuAD JSON reader (see squad.h). cJSON stays inside this file. */
#include "core/qa/squad.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "core/text/text.h"
#include "core/util/fileio.h"

enum { MAX_WARNINGS = 5 }; /* answer warnings printed per file; the rest are only counted */

/* The JSON path of the node being read, e.g. "data[3].paragraphs[7].qas[2]". */
typedef struct {
    const char *file;
    int article, paragraph, qa, answer; /* -1 where not inside one */
} Where;

static void where_format(const Where *w, const char *field, char *buf, size_t cap) {
    int k = snprintf(buf, cap, "data");
    if (w->article >= 0) k += snprintf(buf + k, cap - k, "[%d]", w->article);
    if (w->paragraph >= 0) k += snprintf(buf + k, cap - k, ".paragraphs[%d]", w->paragraph);
    if (w->qa >= 0) k += snprintf(buf + k, cap - k, ".qas[%d]", w->qa);
    if (w->answer >= 0) k += snprintf(buf + k, cap - k, ".answers[%d]", w->answer);
    if (field) snprintf(buf + k, cap - k, ".%s", field);
}

static int fail(const Where *w, const char *field, const char *expected) {
    char path[160];
    where_format(w, field, path, sizeof path);
    return qa_error("%s: %s: expected %s", w->file, path, expected);
}

/* Returns obj[field] when it is a string (copied into *out, owned by the caller). */
static int get_string(const cJSON *obj, const char *field, const Where *w, char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!cJSON_IsString(v) || !v->valuestring) return fail(w, field, "a string");
    *out = strdup(v->valuestring);
    if (!*out) return qa_error("%s: out of memory", w->file);
    return QA_OK;
}

static const cJSON *get_array(const cJSON *obj, const char *field, const Where *w) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!cJSON_IsArray(v)) {
        fail(w, field, "an array");
        return NULL;
    }
    return v;
}

/* Finds the byte span of a->text in the context: at answer_start if it is there, else the
 * occurrence whose character offset is nearest to answer_start. */
static void locate_answer(SquadAnswer *a, const char *ctx, const int *byte_start, int n_chars,
                          SquadSet *set, const Where *w) {
    size_t len = strlen(a->text);
    if (a->answer_start <= n_chars) {
        int b = byte_start[a->answer_start];
        if (!strncmp(ctx + b, a->text, len)) {
            a->start = b;
            a->end = b + (int)len;
            return;
        }
    }
    int best = -1, best_dist = 0, k = 0;
    for (const char *p = len ? strstr(ctx, a->text) : NULL; p; p = strstr(p + 1, a->text)) {
        int b = (int)(p - ctx);
        while (k < n_chars && byte_start[k] < b) k++; /* b's character offset */
        int dist = abs(k - a->answer_start);
        if (best < 0 || dist < best_dist) best = b, best_dist = dist;
    }
    char path[160];
    where_format(w, "answer_start", path, sizeof path);
    int n_warned = set->n_relocated + set->n_unlocated;
    if (best >= 0) {
        a->start = best;
        a->end = best + (int)len;
        set->n_relocated++;
        if (n_warned < MAX_WARNINGS)
            fprintf(stderr, "warning: %s: %s: %d does not match the answer text; found it at "
                    "byte %d\n", w->file, path, a->answer_start, best);
    } else {
        a->start = a->end = -1;
        set->n_unlocated++;
        if (n_warned < MAX_WARNINGS)
            fprintf(stderr, "warning: %s: %s: the answer text \"%.40s\" is not in the context\n",
                    w->file, path, a->text);
    }
}

static int read_answer(const cJSON *ja, SquadAnswer *a, const char *ctx, const int *byte_start,
                       int n_chars, SquadSet *set, const Where *w) {
    if (!cJSON_IsObject(ja)) return fail(w, NULL, "an object");
    if (get_string(ja, "text", w, &a->text)) return QA_ERR;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(ja, "answer_start");
    if (!cJSON_IsNumber(s) || !(s->valuedouble >= 0 && s->valuedouble < 1e9) ||
        s->valuedouble != (double)(int)s->valuedouble)
        return fail(w, "answer_start", "a non-negative integer");
    a->answer_start = (int)s->valuedouble;
    locate_answer(a, ctx, byte_start, n_chars, set, w);
    return QA_OK;
}

static int read_qa(const cJSON *jq, SquadQuestion *q, const char *ctx, const int *byte_start,
                   int n_chars, SquadSet *set, Where *w) {
    if (!cJSON_IsObject(jq)) return fail(w, NULL, "an object");
    if (get_string(jq, "id", w, &q->id) || get_string(jq, "question", w, &q->question))
        return QA_ERR;
    const cJSON *imp = cJSON_GetObjectItemCaseSensitive(jq, "is_impossible");
    if (imp && !cJSON_IsBool(imp)) return fail(w, "is_impossible", "true or false");
    q->is_impossible = imp && cJSON_IsTrue(imp);
    const cJSON *answers = get_array(jq, "answers", w);
    if (!answers) return QA_ERR;
    int n = cJSON_GetArraySize(answers);
    q->answers = calloc(n ? n : 1, sizeof *q->answers);
    if (!q->answers) return qa_error("%s: out of memory", w->file);
    const cJSON *ja;
    w->answer = 0;
    cJSON_ArrayForEach(ja, answers) {
        if (read_answer(ja, &q->answers[q->n_answers++], ctx, byte_start, n_chars, set, w))
            return QA_ERR;
        w->answer++;
    }
    w->answer = -1;
    return QA_OK;
}

static int count_questions(const cJSON *data, int *n_paragraphs, int *n_questions) {
    const cJSON *art, *par;
    cJSON_ArrayForEach(art, data) {
        const cJSON *pars = cJSON_GetObjectItemCaseSensitive(art, "paragraphs");
        cJSON_ArrayForEach(par, pars) {
            (*n_paragraphs)++;
            *n_questions += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(par, "qas"));
        }
    }
    return QA_OK;
}

static int read_paragraph(const cJSON *jp, SquadSet *set, Where *w) {
    if (!cJSON_IsObject(jp)) return fail(w, NULL, "an object");
    int pi = set->n_paragraphs;
    if (get_string(jp, "context", w, &set->contexts[pi])) return QA_ERR;
    set->n_paragraphs++;
    const cJSON *qas = get_array(jp, "qas", w);
    if (!qas) return QA_ERR;
    const char *ctx = set->contexts[pi];
    int32_t *cps = NULL;
    int *byte_start = NULL, n_chars = 0, rc = QA_OK;
    if (text_decode(ctx, strlen(ctx), &cps, &n_chars, &byte_start)) return QA_ERR;
    const cJSON *jq;
    w->qa = 0;
    cJSON_ArrayForEach(jq, qas) {
        SquadQuestion *q = &set->questions[set->n_questions++];
        q->context = ctx;
        q->context_len = (int)strlen(ctx);
        q->paragraph = pi;
        if ((rc = read_qa(jq, q, ctx, byte_start, n_chars, set, w))) break;
        w->qa++;
    }
    w->qa = -1;
    free(cps);
    free(byte_start);
    return rc;
}

static int read_set(const cJSON *root, SquadSet *set, Where *w) {
    if (!cJSON_IsObject(root)) return qa_error("%s: expected a JSON object at the top", w->file);
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    set->version = strdup(cJSON_IsString(ver) ? ver->valuestring : "");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsArray(data)) return qa_error("%s: data: expected an array", w->file);
    int n_par = 0, n_q = 0;
    count_questions(data, &n_par, &n_q);
    set->contexts = calloc(n_par ? n_par : 1, sizeof *set->contexts);
    set->questions = calloc(n_q ? n_q : 1, sizeof *set->questions);
    if (!set->version || !set->contexts || !set->questions)
        return qa_error("%s: out of memory", w->file);
    const cJSON *art, *par;
    cJSON_ArrayForEach(art, data) {
        if (!cJSON_IsObject(art)) return fail(w, NULL, "an object");
        const cJSON *pars = get_array(art, "paragraphs", w);
        if (!pars) return QA_ERR;
        w->paragraph = 0;
        cJSON_ArrayForEach(par, pars) {
            if (read_paragraph(par, set, w)) return QA_ERR;
            w->paragraph++;
        }
        w->paragraph = -1;
        w->article++;
    }
    return QA_OK;
}

int squad_load(const char *path, SquadSet **out) {
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    if (file_read(path, 0, &buf, &len)) return QA_ERR;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        int line = 1;
        for (const char *p = buf; end && p < end; p++) line += *p == '\n';
        qa_error("%s: line %d (byte %ld): not valid JSON", path, line,
                 end ? (long)(end - buf) : -1L);
        free(buf);
        return QA_ERR;
    }
    free(buf);
    SquadSet *set = calloc(1, sizeof *set);
    Where w = {path, 0, -1, -1, -1};
    int rc = set ? read_set(root, set, &w) : qa_error("%s: out of memory", path);
    cJSON_Delete(root);
    if (rc) {
        squad_free(set);
        return QA_ERR;
    }
    int n_warned = set->n_relocated + set->n_unlocated;
    if (n_warned > MAX_WARNINGS)
        fprintf(stderr, "warning: %s: %d answers relocated by text, %d not in their context "
                "(first %d shown)\n", path, set->n_relocated, set->n_unlocated, MAX_WARNINGS);
    *out = set;
    return QA_OK;
}

void squad_free(SquadSet *set) {
    if (!set) return;
    for (int i = 0; i < set->n_questions; i++) {
        SquadQuestion *q = &set->questions[i];
        for (int a = 0; a < q->n_answers; a++) free(q->answers[a].text);
        free(q->answers);
        free(q->id);
        free(q->question);
    }
    for (int i = 0; i < set->n_paragraphs; i++) free(set->contexts[i]);
    free(set->contexts);
    free(set->questions);
    free(set->version);
    free(set);
}
