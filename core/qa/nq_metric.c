/* core/qa/nq_metric.c: the official NQ metric (see nq_metric.h). Function names follow the
 * script's (nq_eval.py, eval_utils.py) so each rule can be read beside the one it mirrors. */
#include "core/qa/nq_metric.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/qa/nq_json.h"
#include "core/util/error.h"
#include "core/util/fileio.h"

const double nq_precision_targets[NQ_N_TARGETS] = {0.5, 0.75, 0.9};

/* ---- the rules ------------------------------------------------------------------------ */

/* eval_utils.is_null_span_list: every span null, or none at all. */
static int is_null_span_list(const NqSpan *s, int n) {
    for (int i = 0; i < n; i++)
        if (!nq_span_is_null(&s[i])) return 0;
    return 1;
}

/* eval_utils.nonnull_span_equal: byte offsets first when both spans have them, then token
 * offsets when both have them (a byte mismatch still falls through to the tokens). */
static int nonnull_span_equal(const NqSpan *a, const NqSpan *b) {
    if (a->start_byte >= 0 && a->end_byte >= 0 && b->start_byte >= 0 && b->end_byte >= 0 &&
        a->start_byte == b->start_byte && a->end_byte == b->end_byte)
        return 1;
    if (a->start_token >= 0 && a->end_token >= 0 && b->start_token >= 0 && b->end_token >= 0 &&
        a->start_token == b->start_token && a->end_token == b->end_token)
        return 1;
    return 0;
}

/* 1 when the non-null span x equals some non-null span of set[0..n). */
static int span_in(const NqSpan *x, const NqSpan *set, int n) {
    for (int i = 0; i < n; i++)
        if (!nq_span_is_null(&set[i]) && nonnull_span_equal(x, &set[i])) return 1;
    return 0;
}

/* eval_utils.span_set_equal: null spans ignored, every span of each side equals one of the
 * other side's. */
static int span_set_equal(const NqSpan *gold, int ng, const NqSpan *pred, int np) {
    for (int i = 0; i < np; i++)
        if (!nq_span_is_null(&pred[i]) && !span_in(&pred[i], gold, ng)) return 0;
    for (int i = 0; i < ng; i++)
        if (!nq_span_is_null(&gold[i]) && !span_in(&gold[i], pred, np)) return 0;
    return 1;
}

/* eval_utils.gold_has_long_answer / gold_has_short_answer: the 2-of-5 vote. */
static int gold_has_long_answer(const NqLabel *g, int n) {
    int votes = 0;
    for (int i = 0; i < n; i++) votes += !nq_span_is_null(&g[i].long_answer);
    return n > 0 && votes >= NQ_NON_NULL_THRESHOLD;
}

static int gold_has_short_answer(const NqLabel *g, int n) {
    int votes = 0;
    for (int i = 0; i < n; i++)
        votes += !is_null_span_list(g[i].short_answers, g[i].n_short) ||
                 g[i].yes_no != NQ_YES_NO_NONE;
    return n > 0 && votes >= NQ_NON_NULL_THRESHOLD;
}

NqStat nq_score_long(const NqLabel *gold, int n, const NqLabel *pred, double score) {
    NqStat s = {gold_has_long_answer(gold, n), !nq_span_is_null(&pred->long_answer), 0, score};
    if (s.has_gold && s.has_pred)
        for (int i = 0; i < n && !s.correct; i++)
            s.correct = !nq_span_is_null(&gold[i].long_answer) &&
                        nonnull_span_equal(&gold[i].long_answer, &pred->long_answer);
    return s;
}

NqStat nq_score_short(const NqLabel *gold, int n, const NqLabel *pred, double score) {
    NqStat s = {gold_has_short_answer(gold, n),
                !is_null_span_list(pred->short_answers, pred->n_short) ||
                    pred->yes_no != NQ_YES_NO_NONE,
                0, score};
    if (!s.has_gold || !s.has_pred) return s;
    for (int i = 0; i < n && !s.correct; i++) {
        if (pred->yes_no != NQ_YES_NO_NONE) /* the system thinks it is a yes/no question */
            s.correct = pred->yes_no == gold[i].yes_no;
        else
            s.correct = span_set_equal(gold[i].short_answers, gold[i].n_short,
                                       pred->short_answers, pred->n_short);
    }
    return s;
}

/* nq_eval.safe_divide */
static double safe_divide(double x, double y) { return y == 0 ? 0.0 : x / y; }

static int by_score_desc(const void *a, const void *b) {
    double x = ((const NqStat *)a)->score, y = ((const NqStat *)b)->score;
    return x > y ? -1 : x < y ? 1 : 0;
}

/* nq_eval.compute_pr_curves: precision and recall after every distinct score (the stats after
 * the last of a run of equal scores, as the script's OrderedDict keeps), then the F1 maximum
 * (strictly greater: the highest threshold wins ties) and, per target, the highest recall
 * whose precision reaches it. */
void nq_pr_curve(NqStat *stats, int n, NqAnswerScores *out) {
    memset(out, 0, sizeof *out);
    qsort(stats, (size_t)n, sizeof *stats, by_score_desc);
    long total_gold = 0, total_pred = 0, total_correct = 0;
    for (int i = 0; i < n; i++) total_gold += stats[i].has_gold;
    out->n = n;
    out->n_gold = (int)total_gold;
    double best_f1 = 0.0;
    for (int i = 0; i < n; i++) {
        total_correct += stats[i].correct;
        total_pred += stats[i].has_pred;
        if (i + 1 < n && stats[i + 1].score == stats[i].score) continue; /* a tie goes on */
        double precision = safe_divide((double)total_correct, (double)total_pred);
        double recall = safe_divide((double)total_correct, (double)total_gold);
        for (int t = 0; t < NQ_N_TARGETS; t++) {
            if (precision >= nq_precision_targets[t] && recall > out->recall_at[t]) {
                out->recall_at[t] = recall;
                out->precision_at[t] = precision;
            }
        }
        double f1 = safe_divide(2 * precision * recall, precision + recall);
        if (f1 > best_f1) {
            best_f1 = f1;
            out->f1 = f1;
            out->precision = precision;
            out->recall = recall;
            out->threshold = stats[i].score;
        }
    }
}

/* ---- gold ------------------------------------------------------------------------------ */

static void labels_free(NqLabel *l, int n) {
    for (int i = 0; l && i < n; i++) free(l[i].short_answers);
    free(l);
}

NqGold *nq_gold_new(void) { return calloc(1, sizeof(NqGold)); }

int nq_gold_add(NqGold *g, int64_t id, NqLabel *labels, int n) {
    if (g->n == g->cap_) {
        int cap = g->cap_ ? 2 * g->cap_ : 1024;
        int64_t *ids = realloc(g->ids, (size_t)cap * sizeof *ids);
        if (ids) g->ids = ids;
        NqLabel **ls = ids ? realloc(g->labels, (size_t)cap * sizeof *ls) : NULL;
        if (ls) g->labels = ls;
        int *ns = ls ? realloc(g->n_labels, (size_t)cap * sizeof *ns) : NULL;
        if (!ns) {
            labels_free(labels, n);
            return qa_env_error(ENOMEM, "nq metric: out of memory for %d gold examples", cap);
        }
        g->n_labels = ns;
        g->cap_ = cap;
    }
    g->ids[g->n] = id;
    g->labels[g->n] = labels;
    g->n_labels[g->n++] = n;
    return QA_OK;
}

static int by_gold_id(const void *a, const void *b, void *base) {
    const int64_t *ids = base;
    int x = *(const int *)a, y = *(const int *)b;
    if (ids[x] != ids[y]) return ids[x] < ids[y] ? -1 : 1;
    return x < y ? -1 : x > y; /* reading order: the later of two equal ids wins */
}

int nq_gold_finish(NqGold *g) {
    int n = g->n, *order = malloc(((size_t)n + 1) * sizeof *order);
    int64_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    NqLabel **ls = malloc(((size_t)n + 1) * sizeof *ls);
    int *ns = malloc(((size_t)n + 1) * sizeof *ns);
    if (!order || !ids || !ls || !ns) {
        free(order);
        free(ids);
        free(ls);
        free(ns);
        return qa_env_error(ENOMEM, "nq metric: out of memory sorting %d gold examples", n);
    }
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, by_gold_id, g->ids);
    int k = 0;
    for (int i = 0; i < n; i++) {
        int j = order[i];
        if (i + 1 < n && g->ids[order[i + 1]] == g->ids[j]) { /* dropped: a later one wins */
            labels_free(g->labels[j], g->n_labels[j]);
            continue;
        }
        ids[k] = g->ids[j];
        ls[k] = g->labels[j];
        ns[k++] = g->n_labels[j];
    }
    free(order);
    free(g->ids);
    free(g->labels);
    free(g->n_labels);
    g->ids = ids;
    g->labels = ls;
    g->n_labels = ns;
    g->n = g->cap_ = k;
    return QA_OK;
}

/* Adds every example of one file to g. */
static int gold_read_file(const char *path, NqProgressFn progress, void *ctx, NqGold *g) {
    NqReader *r = NULL;
    if (nq_reader_open(path, NQ_READ_LABELS, &r)) return QA_ERR;
    NqExample ex = {0};
    int got, rc = QA_OK;
    while (!rc && (got = nq_reader_next(r, &ex)) == 1) {
        rc = nq_gold_add(g, ex.example_id, ex.annotations, ex.n_annotations);
        ex.annotations = NULL; /* now owned by g */
        ex.n_annotations = 0;
        if (progress && nq_reader_line(r) % 2000 == 0)
            progress(ctx, path, nq_reader_line(r), nq_reader_progress(r));
    }
    if (!rc && got < 0) rc = QA_ERR;
    if (!rc && progress) progress(ctx, path, nq_reader_line(r), 1.0);
    nq_example_clear(&ex);
    nq_reader_close(r);
    return rc;
}

int nq_gold_load(const char *path, NqProgressFn progress, void *ctx, NqGold **out) {
    *out = NULL;
    glob_t gl = {0};
    int grc = glob(path, 0, NULL, &gl);
    if (grc == GLOB_NOMATCH) {
        globfree(&gl);
        return qa_error("%s: no such file (nor files matching it as a pattern)", path);
    }
    if (grc) {
        globfree(&gl);
        return qa_error("%s: cannot expand the pattern", path);
    }
    NqGold *g = nq_gold_new();
    int rc = g ? QA_OK : qa_env_error(ENOMEM, "%s: out of memory", path);
    for (size_t f = 0; f < gl.gl_pathc && !rc; f++)
        rc = gold_read_file(gl.gl_pathv[f], progress, ctx, g);
    globfree(&gl);
    if (!rc) rc = nq_gold_finish(g);
    if (rc) {
        nq_gold_free(g);
        return QA_ERR;
    }
    *out = g;
    return QA_OK;
}

void nq_gold_free(NqGold *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++) labels_free(g->labels[i], g->n_labels[i]);
    free(g->ids);
    free(g->labels);
    free(g->n_labels);
    free(g);
}

/* ---- predictions ------------------------------------------------------------------------ */

static int pred_fail(const char *path, int i, const char *field, const char *what) {
    return qa_error("%s: predictions[%d].%s: %s", path, i, field, what);
}

static int read_score(const char *path, int i, const cJSON *jp, const char *field, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(jp, field);
    if (!cJSON_IsNumber(v)) return pred_fail(path, i, field, "expected a number");
    /* a number past a double's range (1e400) parses as infinity, which no threshold search
     * can use and JSON cannot write back */
    if (!isfinite(v->valuedouble)) return pred_fail(path, i, field, "out of a double's range");
    *out = v->valuedouble;
    return QA_OK;
}

/* read_prediction_json for one entry. */
static int read_prediction(const char *path, int i, const cJSON *jp, NqPrediction *p) {
    char msg[160];
    if (!cJSON_IsObject(jp)) return qa_error("%s: predictions[%d]: expected an object", path, i);
    if (nq_json_id(jp, &p->example_id))
        return pred_fail(path, i, "example_id", "expected a 64-bit integer");
    p->label.candidate_index = -1;
    p->label.long_answer = NQ_NULL_SPAN;
    const cJSON *jl = cJSON_GetObjectItemCaseSensitive(jp, "long_answer");
    if (jl && nq_json_span(jl, &p->label.long_answer, msg, sizeof msg))
        return pred_fail(path, i, "long_answer", msg);
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(jp, "short_answers");
    if (js) {
        if (!cJSON_IsArray(js)) return pred_fail(path, i, "short_answers", "expected an array");
        int n = cJSON_GetArraySize(js), k = 0;
        if (!(p->label.short_answers = calloc((size_t)n + 1, sizeof *p->label.short_answers)))
            return qa_env_error(ENOMEM, "%s: out of memory", path);
        const cJSON *s;
        cJSON_ArrayForEach(s, js) {
            if (nq_json_span(s, &p->label.short_answers[k], msg, sizeof msg)) {
                char field[48];
                snprintf(field, sizeof field, "short_answers[%d]", k);
                return pred_fail(path, i, field, msg);
            }
            p->label.n_short = ++k;
        }
    }
    const cJSON *yn = cJSON_GetObjectItemCaseSensitive(jp, "yes_no_answer");
    if (yn) {
        int y = cJSON_IsString(yn) && yn->valuestring ? nq_yes_no_parse(yn->valuestring) : -1;
        if (y < 0) return pred_fail(path, i, "yes_no_answer", "expected \"NONE\", \"YES\" or \"NO\"");
        p->label.yes_no = (NqYesNo)y;
        if (y != NQ_YES_NO_NONE && !is_null_span_list(p->label.short_answers, p->label.n_short))
            return pred_fail(path, i, "yes_no_answer", "a yes/no answer beside short answers");
    }
    if (read_score(path, i, jp, "long_answer_score", &p->long_score) ||
        read_score(path, i, jp, "short_answers_score", &p->short_score))
        return QA_ERR;
    return QA_OK;
}

static int pred_by_id(const void *a, const void *b) {
    const NqPrediction *x = a, *y = b;
    return x->example_id < y->example_id ? -1 : x->example_id > y->example_id;
}

int nq_predictions_load(const char *path, NqPredictions **out) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    if (file_read(path, 0, &text, &len)) return QA_ERR;
    cJSON *root = nq_json_parse(text, len);
    free(text);
    if (!root) return qa_error("%s: not valid JSON", path);
    int rc = QA_OK;
    NqPredictions *p = calloc(1, sizeof *p);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "predictions");
    if (!p) {
        rc = qa_env_error(ENOMEM, "%s: out of memory", path);
    } else if (!cJSON_IsArray(arr)) {
        rc = qa_error("%s: predictions: expected an array (the official prediction format)", path);
    } else {
        int n = cJSON_GetArraySize(arr);
        if (!(p->p = calloc((size_t)n + 1, sizeof *p->p))) rc = qa_env_error(ENOMEM, "%s: out of memory", path);
        const cJSON *jp;
        cJSON_ArrayForEach(jp, arr) {
            if (rc) break;
            rc = read_prediction(path, p->n, jp, &p->p[p->n]);
            p->n++;
        }
    }
    cJSON_Delete(root);
    if (rc) {
        nq_predictions_free(p);
        return QA_ERR;
    }
    /* a later entry for the same id wins (a dict assignment in the script): keep the last of
     * each run of equal ids, the sort being stable through the index tiebreak below */
    for (int i = 0; i < p->n; i++) p->p[i].label.candidate_index = -1 - i;
    qsort(p->p, (size_t)p->n, sizeof *p->p, pred_by_id);
    int k = 0;
    for (int i = 0; i < p->n; i++) {
        int last = i;
        while (i + 1 < p->n && p->p[i + 1].example_id == p->p[last].example_id) {
            i++;
            int keep = p->p[i].label.candidate_index < p->p[last].label.candidate_index ? i : last;
            int drop = keep == i ? last : i;
            free(p->p[drop].label.short_answers);
            last = keep;
        }
        p->p[k] = p->p[last];
        p->p[k++].label.candidate_index = -1;
    }
    p->n = k;
    *out = p;
    return QA_OK;
}

static cJSON *span_json(const NqSpan *s) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "start_byte", (double)s->start_byte);
    cJSON_AddNumberToObject(o, "end_byte", (double)s->end_byte);
    cJSON_AddNumberToObject(o, "start_token", (double)s->start_token);
    cJSON_AddNumberToObject(o, "end_token", (double)s->end_token);
    return o;
}

int nq_predictions_write(const NqPredictions *p, const char *path) {
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "predictions") : NULL;
    int ok = arr != NULL;
    for (int i = 0; ok && i < p->n; i++) {
        const NqPrediction *q = &p->p[i];
        if (!isfinite(q->long_score) || !isfinite(q->short_score)) {
            cJSON_Delete(root);
            return qa_error("%s: prediction %d (example %lld): a score is not finite", path, i,
                            (long long)q->example_id);
        }
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)q->example_id);
        cJSON *o = cJSON_CreateObject(), *sa;
        ok = o && cJSON_AddItemToArray(arr, o) && cJSON_AddRawToObject(o, "example_id", id);
        ok = ok && cJSON_AddItemToObject(o, "long_answer", span_json(&q->label.long_answer));
        ok = ok && cJSON_AddNumberToObject(o, "long_answer_score", q->long_score);
        ok = ok && (sa = cJSON_AddArrayToObject(o, "short_answers"));
        for (int k = 0; ok && k < q->label.n_short; k++)
            ok = cJSON_AddItemToArray(sa, span_json(&q->label.short_answers[k]));
        ok = ok && cJSON_AddNumberToObject(o, "short_answers_score", q->short_score);
        ok = ok && cJSON_AddStringToObject(o, "yes_no_answer", nq_yes_no_name(q->label.yes_no));
    }
    char *s = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!s) return qa_env_error(ENOMEM, "%s: out of memory writing predictions", path);
    int rc = file_write_atomic(path, s, strlen(s));
    free(s);
    return rc;
}

void nq_predictions_free(NqPredictions *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) free(p->p[i].label.short_answers);
    free(p->p);
    free(p);
}

/* ---- the evaluation --------------------------------------------------------------------- */

static int by_pred_id(const void *a, const void *b, void *base) {
    const NqPrediction *p = base;
    int64_t x = p[*(const int *)a].example_id, y = p[*(const int *)b].example_id;
    return x < y ? -1 : x > y;
}

int nq_evaluate(const NqGold *gold, const NqPredictions *pred, NqScores *out) {
    memset(out, 0, sizeof *out);
    /* the predictions in id order (gold ids are sorted and unique already) */
    int *order = malloc(((size_t)pred->n + 1) * sizeof *order);
    if (!order) return qa_env_error(ENOMEM, "nq metric: out of memory");
    for (int j = 0; j < pred->n; j++) order[j] = j;
    qsort_r(order, (size_t)pred->n, sizeof *order, by_pred_id, pred->p);
    for (int j = 1; j < pred->n; j++) {
        if (pred->p[order[j]].example_id == pred->p[order[j - 1]].example_id) {
            long long id = (long long)pred->p[order[j]].example_id;
            free(order);
            return qa_error("nq metric: two predictions for example_id %lld", id);
        }
    }
    /* one merge finds the missing and the extra ids */
    long missing = 0, extra = 0;
    int64_t first_missing = 0, first_extra = 0;
    for (int i = 0, j = 0; i < gold->n || j < pred->n;) {
        int64_t pid = j < pred->n ? pred->p[order[j]].example_id : 0;
        if (j == pred->n || (i < gold->n && gold->ids[i] < pid)) {
            if (!missing++) first_missing = gold->ids[i];
            i++;
        } else if (i == gold->n || pid < gold->ids[i]) {
            if (!extra++) first_extra = pid;
            j++;
        } else {
            i++, j++;
        }
    }
    if (missing || extra || gold->n == 0) free(order);
    if (missing)
        return qa_error("nq metric: the predictions lack %ld of the %d gold examples (the first: "
                        "example_id %lld)", missing, gold->n, (long long)first_missing);
    if (extra)
        return qa_error("nq metric: %ld predictions are for examples not in the gold file (the "
                        "first: example_id %lld)", extra, (long long)first_extra);
    if (gold->n == 0) return qa_error("nq metric: the gold file has no examples");
    NqStat *ls = malloc((size_t)gold->n * sizeof *ls), *ss = malloc((size_t)gold->n * sizeof *ss);
    if (!ls || !ss) {
        free(ls);
        free(ss);
        free(order);
        return qa_env_error(ENOMEM, "nq metric: out of memory");
    }
    for (int i = 0; i < gold->n; i++) {
        const NqPrediction *p = &pred->p[order[i]]; /* the same ids on both sides now */
        ls[i] = nq_score_long(gold->labels[i], gold->n_labels[i], &p->label, p->long_score);
        ss[i] = nq_score_short(gold->labels[i], gold->n_labels[i], &p->label, p->short_score);
    }
    nq_pr_curve(ls, gold->n, &out->long_answer);
    nq_pr_curve(ss, gold->n, &out->short_answer);
    free(order);
    free(ls);
    free(ss);
    return QA_OK;
}

/* get_metrics_with_answer_stats: the keys, in the script's order, for one prefix. */
static int add_answer_scores(cJSON *o, const char *prefix, const NqAnswerScores *a) {
    static const char *target_names[NQ_N_TARGETS] = {"0.5", "0.75", "0.9"};
    char key[64];
    const char *names[4] = {"best-threshold-f1", "best-threshold-precision",
                            "best-threshold-recall", "best-threshold"};
    const double vals[4] = {a->f1, a->precision, a->recall, a->threshold};
    for (int k = 0; k < 4; k++) {
        snprintf(key, sizeof key, "%s%s", prefix, names[k]);
        if (!cJSON_AddNumberToObject(o, key, vals[k])) return -1;
    }
    for (int t = 0; t < NQ_N_TARGETS; t++) {
        snprintf(key, sizeof key, "%srecall-at-precision>=%s", prefix, target_names[t]);
        if (!cJSON_AddNumberToObject(o, key, a->recall_at[t])) return -1;
        snprintf(key, sizeof key, "%sprecision-at-precision>=%s", prefix, target_names[t]);
        if (!cJSON_AddNumberToObject(o, key, a->precision_at[t])) return -1;
    }
    return 0;
}

char *nq_scores_json(const NqScores *s) {
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    if (o && !add_answer_scores(o, "long-", &s->long_answer) &&
        !add_answer_scores(o, "short-", &s->short_answer))
        text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}
