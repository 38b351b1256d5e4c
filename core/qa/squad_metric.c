/* core/qa/squad_metric.c: evaluate-v2.0.py in C (see squad_metric.h). Each function names the
 * function of the official script it reproduces. */
#include "core/qa/squad_metric.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "core/util/strmap.h"
#include "core/text/text.h"

/* Python's string.punctuation: the 32 ASCII punctuation characters. */
static int is_ascii_punct(int32_t c) {
    return c < 128 && c > 32 && c != 127 && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", (int)c);
}

/* normalize_answer(s) = white_space_fix(remove_articles(remove_punc(lower(s)))). */
char *squad_normalize_answer(const char *s) {
    int32_t *cps = NULL, *low = NULL;
    int n = 0, m = 0;
    char *out = NULL;
    if (text_decode(s, strlen(s), &cps, &n, NULL)) return NULL;
    low = malloc((3 * (size_t)n + 1) * sizeof *low);
    out = malloc(12 * (size_t)n + 1);
    if (!low || !out) {
        free(out);
        out = NULL;
        goto cleanup;
    }
    for (int i = 0; i < n; i++) { /* lower(), then remove_punc() */
        int32_t l[3];
        int k = text_lower_at(cps, n, i, l);
        for (int j = 0; j < k; j++)
            if (!is_ascii_punct(l[j])) low[m++] = l[j];
    }
    /* remove_articles: re.sub(r'\b(a|an|the)\b', ' ', text) replaces each maximal run of
     * word characters that is exactly a, an or the by one space. */
    for (int i = 0; i < m;) {
        if (!text_is_word(low[i])) {
            i++;
            continue;
        }
        int j = i;
        while (j < m && text_is_word(low[j])) j++;
        int len = j - i;
        int article = (len == 1 && low[i] == 'a') ||
                      (len == 2 && low[i] == 'a' && low[i + 1] == 'n') ||
                      (len == 3 && low[i] == 't' && low[i + 1] == 'h' && low[i + 2] == 'e');
        if (article) {
            low[i] = ' ';
            memmove(low + i + 1, low + j, (size_t)(m - j) * sizeof *low);
            m -= len - 1;
            i++;
        } else {
            i = j;
        }
    }
    /* white_space_fix: ' '.join(text.split()) */
    size_t k = 0;
    for (int i = 0; i < m;) {
        if (text_is_space(low[i])) {
            i++;
            continue;
        }
        if (k) out[k++] = ' ';
        while (i < m && !text_is_space(low[i])) k += (size_t)text_put(out + k, low[i++]);
    }
    out[k] = '\0';
cleanup:
    free(cps);
    free(low);
    return out;
}

/* Splits a normalised answer at its single spaces, in place; returns the token count. */
static int split_tokens(char *s, char **tok) {
    int n = 0;
    for (char *p = s; *p;) {
        tok[n++] = p;
        char *sp = strchr(p, ' ');
        if (!sp) break;
        *sp = '\0';
        p = sp + 1;
    }
    return n;
}

/* compute_f1 on already normalised texts: token overlap counted with multiplicity
 * (collections.Counter intersection), 1/0 when either side has no tokens. */
static double f1_normalized(const char *gold, const char *pred) {
    size_t lg = strlen(gold), lp = strlen(pred);
    char *g = malloc(lg + 1), *p = malloc(lp + 1);
    char **gt = malloc((lg / 2 + 1) * sizeof *gt), **pt = malloc((lp / 2 + 1) * sizeof *pt);
    char *used = calloc(lg / 2 + 1, 1);
    double f1 = NAN;
    if (!g || !p || !gt || !pt || !used) goto cleanup;
    memcpy(g, gold, lg + 1);
    memcpy(p, pred, lp + 1);
    int ng = split_tokens(g, gt), np = split_tokens(p, pt), same = 0;
    if (ng == 0 || np == 0) {
        f1 = ng == np;
        goto cleanup;
    }
    for (int i = 0; i < np; i++)
        for (int j = 0; j < ng; j++)
            if (!used[j] && !strcmp(pt[i], gt[j])) {
                used[j] = 1;
                same++;
                break;
            }
    if (same == 0) {
        f1 = 0;
        goto cleanup;
    }
    double precision = 1.0 * same / np, recall = 1.0 * same / ng;
    f1 = (2 * precision * recall) / (precision + recall);
cleanup:
    free(g);
    free(p);
    free(gt);
    free(pt);
    free(used);
    return f1;
}

int squad_exact(const char *gold, const char *pred) {
    char *g = squad_normalize_answer(gold), *p = squad_normalize_answer(pred);
    int same = g && p && !strcmp(g, p);
    free(g);
    free(p);
    return same;
}

double squad_f1(const char *gold, const char *pred) {
    char *g = squad_normalize_answer(gold), *p = squad_normalize_answer(pred);
    double f1 = g && p ? f1_normalized(g, p) : NAN;
    free(g);
    free(p);
    return f1;
}

/* get_raw_scores() for one question: max over the gold answers that do not normalise to
 * "" (or over [""] when none is left) of exact match and F1. */
static int raw_scores(const SquadQuestion *q, const char *pred_text, double *exact, double *f1) {
    char *pred = squad_normalize_answer(pred_text);
    if (!pred) return qa_error("squad metric: out of memory");
    int n_gold = 0;
    *exact = 0;
    *f1 = 0;
    for (int a = 0; a <= q->n_answers; a++) {
        if (a == q->n_answers && n_gold > 0) break;
        char *gold = squad_normalize_answer(a < q->n_answers ? q->answers[a].text : "");
        if (!gold) {
            free(pred);
            return qa_error("squad metric: out of memory");
        }
        if (*gold || a == q->n_answers) {
            n_gold++;
            double e = !strcmp(gold, pred), f = f1_normalized(gold, pred);
            if (e > *exact) *exact = e;
            if (f > *f1) *f1 = f;
        }
        free(gold);
    }
    free(pred);
    return QA_OK;
}

/* Python's sorted(na_probs, key=na_probs.get): ascending, ties in file order (stable). */
typedef struct {
    double prob;
    int index;
} Ranked;

static int by_prob(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    if (x->prob != y->prob) return x->prob < y->prob ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* find_best_thresh(): start from "answer nothing" (score = number of unanswerable
 * questions), then lower the threshold past each question in na-score order; keep the
 * first threshold reaching the best running score (strictly greater updates only). */
static void best_thresh(const SquadSet *set, const Predictions *pred, const int *q_pred,
                        const int *na_to_q, const unsigned char *counted, const double *scores,
                        int total, double *best, double *thresh) {
    Ranked *order = malloc((pred->n_na ? pred->n_na : 1) * sizeof *order);
    double cur = 0;
    for (int i = 0; i < set->n_questions; i++)
        cur += set->questions[i].n_answers == 0 && counted[i];
    double best_score = cur;
    *thresh = 0.0;
    if (order) {
        for (int i = 0; i < pred->n_na; i++) order[i] = (Ranked){pred->na_prob[i], i};
        qsort(order, pred->n_na, sizeof *order, by_prob);
        for (int r = 0; r < pred->n_na; r++) {
            int qi = na_to_q[order[r].index];
            if (qi < 0 || q_pred[qi] < 0) continue; /* "if qid not in scores: continue" */
            double diff = set->questions[qi].n_answers > 0 ? scores[qi]
                          : pred->text[q_pred[qi]][0] ? -1 : 0;
            cur += diff;
            if (cur > best_score) {
                best_score = cur;
                *thresh = order[r].prob;
            }
        }
    }
    free(order);
    *best = 100.0 * best_score / total;
}

/* Builds the id lookups: q_pred[q] = prediction index of question q, q_na[q] = its na
 * score index, na_to_q[k] = question of na score k (-1 for ids not in the set). */
static int index_ids(const SquadSet *set, const Predictions *pred, int *q_pred, int *q_na,
                     int *na_to_q, unsigned char *counted) {
    StrMap *pm = strmap_new(pred->n), *qm = strmap_new(set->n_questions);
    int rc = pm && qm ? QA_OK : qa_error("squad metric: out of memory");
    for (int i = 0; !rc && i < pred->n; i++) rc = strmap_put(pm, pred->id[i], strlen(pred->id[i]), i);
    for (int i = 0; !rc && i < set->n_questions; i++) {
        const char *id = set->questions[i].id;
        rc = strmap_put(qm, id, strlen(id), i);
        q_pred[i] = strmap_get(pm, id, strlen(id));
        q_na[i] = -1;
    }
    for (int k = 0; !rc && k < pred->n_na; k++) {
        na_to_q[k] = strmap_get(qm, pred->na_id[k], strlen(pred->na_id[k]));
        if (na_to_q[k] >= 0) q_na[na_to_q[k]] = k;
    }
    /* The script keys its scores by id: a question id listed twice counts once, with the
     * gold answers of its last listing (later dict assignments win). */
    for (int i = 0; !rc && i < set->n_questions; i++) {
        const char *id = set->questions[i].id;
        counted[i] = strmap_get(qm, id, strlen(id)) == i;
    }
    strmap_free(pm);
    strmap_free(qm);
    return rc;
}

int squad_evaluate(const SquadSet *set, const Predictions *pred, double na_prob_thresh,
                   SquadScores *out) {
    int nq = set->n_questions, rc = QA_ERR;
    memset(out, 0, sizeof *out);
    int *q_pred = malloc((nq + 1) * sizeof *q_pred), *q_na = malloc((nq + 1) * sizeof *q_na);
    int *na_to_q = malloc((pred->n_na + 1) * sizeof *na_to_q);
    double *ex = malloc((nq + 1) * sizeof *ex), *f1 = malloc((nq + 1) * sizeof *f1);
    unsigned char *counted = malloc((size_t)nq + 1);
    if (!q_pred || !q_na || !na_to_q || !ex || !f1 || !counted) {
        qa_error("squad metric: out of memory");
        goto cleanup;
    }
    if (index_ids(set, pred, q_pred, q_na, na_to_q, counted)) goto cleanup;
    for (int i = 0; i < nq; i++) {
        const SquadQuestion *q = &set->questions[i];
        ex[i] = f1[i] = 0;
        if (!counted[i]) continue;
        if (q_pred[i] < 0) {
            qa_error("squad metric: no prediction for question %s", q->id);
            goto cleanup;
        }
        if (pred->n_na && q_na[i] < 0) {
            qa_error("squad metric: no no-answer score for question %s", q->id);
            goto cleanup;
        }
        if (raw_scores(q, pred->text[q_pred[i]], &ex[i], &f1[i])) goto cleanup;
    }
    /* apply_no_ans_threshold() then make_eval_dict() overall, HasAns and NoAns, summed in
     * question order as the script's dicts are */
    double se = 0, sf = 0, he = 0, hf = 0, ne = 0, nf = 0;
    int n_counted = 0;
    for (int i = 0; i < nq; i++) {
        if (!counted[i]) continue;
        n_counted++;
        int has = set->questions[i].n_answers > 0;
        double na = pred->n_na ? pred->na_prob[q_na[i]] : 0.0, e = ex[i], f = f1[i];
        if (na > na_prob_thresh) e = f = !has;
        se += e, sf += f;
        if (has) he += e, hf += f, out->has_ans_total++;
        else ne += e, nf += f, out->no_ans_total++;
    }
    out->total = n_counted;
    out->exact = 100.0 * se / n_counted;
    out->f1 = 100.0 * sf / n_counted;
    if (out->has_ans_total) {
        out->has_ans_exact = 100.0 * he / out->has_ans_total;
        out->has_ans_f1 = 100.0 * hf / out->has_ans_total;
    }
    if (out->no_ans_total) {
        out->no_ans_exact = 100.0 * ne / out->no_ans_total;
        out->no_ans_f1 = 100.0 * nf / out->no_ans_total;
    }
    if (pred->n_na) { /* find_all_best_thresh() on the raw (unthresholded) scores */
        out->has_best = 1;
        best_thresh(set, pred, q_pred, na_to_q, counted, ex, n_counted, &out->best_exact,
                    &out->best_exact_thresh);
        best_thresh(set, pred, q_pred, na_to_q, counted, f1, n_counted, &out->best_f1,
                    &out->best_f1_thresh);
    }
    rc = nq > 0 ? QA_OK : qa_error("squad metric: the data set has no questions");
cleanup:
    free(q_pred);
    free(q_na);
    free(na_to_q);
    free(ex);
    free(f1);
    free(counted);
    return rc;
}

/* Python's repr() of a float: the shortest digits that read back to x; positional notation
 * when the decimal exponent is in [-4, 16), else d.ddde+XX; always a '.' or an exponent. */
static void format_pyfloat(double x, char *buf, size_t cap) {
    if (isnan(x) || isinf(x)) {
        snprintf(buf, cap, "%s", isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
        return;
    }
    char sci[40];
    for (int p = 0; p < 17; p++) {
        snprintf(sci, sizeof sci, "%.*e", p, x);
        if (strtod(sci, NULL) == x) break;
    }
    char digits[24];
    int nd = 0, neg = sci[0] == '-';
    const char *e = strchr(sci, 'e');
    for (const char *c = sci + neg; c < e; c++)
        if (*c != '.') digits[nd++] = *c;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    int exp10 = atoi(e + 1);
    size_t k = (size_t)snprintf(buf, cap, "%s", neg ? "-" : "");
    if (exp10 < -4 || exp10 >= 16) {
        snprintf(buf + k, cap - k, "%c%s%se%c%02d", digits[0], nd > 1 ? "." : "", digits + 1,
                 exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (exp10 < 0) {
        snprintf(buf + k, cap - k, "0.%.*s%s", -exp10 - 1, "0000", digits);
    } else if (nd <= exp10 + 1) {
        snprintf(buf + k, cap - k, "%s%.*s.0", digits, exp10 + 1 - nd, "0000000000000000");
    } else {
        snprintf(buf + k, cap - k, "%.*s.%s", exp10 + 1, digits, digits + exp10 + 1);
    }
}

char *squad_scores_json(const SquadScores *s) {
    struct { const char *key; double v; int is_int; int on; } f[] = {
        {"exact", s->exact, 0, 1}, {"f1", s->f1, 0, 1}, {"total", s->total, 1, 1},
        {"HasAns_exact", s->has_ans_exact, 0, s->has_ans_total > 0},
        {"HasAns_f1", s->has_ans_f1, 0, s->has_ans_total > 0},
        {"HasAns_total", s->has_ans_total, 1, s->has_ans_total > 0},
        {"NoAns_exact", s->no_ans_exact, 0, s->no_ans_total > 0},
        {"NoAns_f1", s->no_ans_f1, 0, s->no_ans_total > 0},
        {"NoAns_total", s->no_ans_total, 1, s->no_ans_total > 0},
        {"best_exact", s->best_exact, 0, s->has_best},
        {"best_exact_thresh", s->best_exact_thresh, 0, s->has_best},
        {"best_f1", s->best_f1, 0, s->has_best},
        {"best_f1_thresh", s->best_f1_thresh, 0, s->has_best},
    };
    size_t n = sizeof f / sizeof f[0], cap = 64 * n, k = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    k += (size_t)snprintf(out, cap, "{");
    for (size_t i = 0, first = 1; i < n; i++) {
        if (!f[i].on) continue;
        char num[48];
        if (f[i].is_int) snprintf(num, sizeof num, "%d", (int)f[i].v);
        else if (!isfinite(f[i].v)) snprintf(num, sizeof num, "null"); /* JSON has no inf */
        else format_pyfloat(f[i].v, num, sizeof num);
        k += (size_t)snprintf(out + k, cap - k, "%s\n  \"%s\": %s", first ? "" : ",", f[i].key, num);
        first = 0;
    }
    snprintf(out + k, cap - k, "\n}");
    return out;
}
