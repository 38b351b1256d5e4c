/* sweep/point.c: see point.h. */
#include "sweep/point.h"

#include <assert.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util/error.h"
#include "core/util/fileio.h"

static const char *const NAMES[POINT_N_STATES] = {
    "pending", "claimed", "trained", "measured", "done", "failed", "elsewhere", "submitted",
};

const char *point_state_name(PointState s) {
    return s >= 0 && s < POINT_N_STATES ? NAMES[s] : "?";
}

int points_init(Points *p, int n, const char *const *hash, const char *out, Db *db) {
    memset(p, 0, sizeof *p);
    p->state = calloc((size_t)(n > 0 ? n : 1), sizeof *p->state);
    p->pid = calloc((size_t)(n > 0 ? n : 1), sizeof *p->pid);
    if (!p->state || !p->pid) {
        points_free(p);
        return qa_error("%s: out of memory for %d points", out, n);
    }
    p->n = n;
    p->hash = hash;
    p->out = out;
    p->db = db;
    return QA_OK;
}

void points_free(Points *p) {
    free(p->state);
    free(p->pid);
    memset(p, 0, sizeof *p);
}

void point_dir(const Points *p, int i, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/points/%s", p->out, p->hash[i]);
}

void point_result_path(const Points *p, int i, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/results/%s.json", p->out, p->hash[i]);
}

void point_trained_path(const Points *p, int i, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/points/%s/trained.json", p->out, p->hash[i]);
}

/* One transition: asserts the point is in one of the states `from` allows (bit mask). */
static void move(Points *p, int i, unsigned from, PointState to) {
    assert(i >= 0 && i < p->n && (from >> p->state[i] & 1u));
    p->state[i] = to;
}

#define BIT(s) (1u << (s))

int point_claim(Points *p, int i, const char *owner, int *claimed) {
    *claimed = 0;
    if (db_claim(p->db, p->hash[i], owner, claimed)) return QA_ERR;
    move(p, i, BIT(POINT_PENDING), *claimed ? POINT_CLAIMED : POINT_ELSEWHERE);
    if (*claimed) {
        char path[4400];
        point_result_path(p, i, path, sizeof path);
        remove(path); /* a stale file of an interrupted attempt is not this attempt's result */
    }
    return QA_OK;
}

void point_started(Points *p, int i, pid_t pid) {
    move(p, i, BIT(POINT_CLAIMED), POINT_CLAIMED);
    p->pid[i] = pid;
}

void point_submitted(Points *p, int i) { move(p, i, BIT(POINT_CLAIMED), POINT_SUBMITTED); }

void point_adopt(Points *p, int i) { move(p, i, BIT(POINT_PENDING), POINT_SUBMITTED); }

void point_trained(Points *p, int i) {
    move(p, i, BIT(POINT_CLAIMED), POINT_TRAINED);
    p->pid[i] = 0;
}

void point_measured(Points *p, int i) { move(p, i, BIT(POINT_TRAINED), POINT_MEASURED); }

/* Ingests the point's result file and removes it; the new state from the database. */
static int ingest(Points *p, int i, const char *path) {
    if (db_ingest_result(p->db, path)) return QA_ERR;
    remove(path);
    DbStatus st = DB_FAILED;
    int found = 0;
    if (db_get_status(p->db, p->hash[i], &st, &found)) return QA_ERR;
    PointState to = found && st == DB_DONE ? POINT_DONE : POINT_FAILED;
    move(p, i, BIT(POINT_CLAIMED) | BIT(POINT_TRAINED) | BIT(POINT_MEASURED) |
                   BIT(POINT_SUBMITTED), to);
    p->pid[i] = 0;
    p->finished_here[to]++;
    return QA_OK;
}

int point_finish(Points *p, int i, const DbResult *r) {
    char path[4400];
    point_result_path(p, i, path, sizeof path);
    if (db_write_result_file(path, r)) return QA_ERR;
    fault_at("ingest");
    return ingest(p, i, path);
}

void fault_at(const char *stage) {
    const char *f = getenv("QAPRUNE_FAULT");
    if (f && !strcmp(f, stage)) raise(SIGKILL);
}

int point_fail(Points *p, int i, const char *message) {
    DbResult r;
    memset(&r, 0, sizeof r);
    snprintf(r.config_hash, sizeof r.config_hash, "%s", p->hash[i]);
    r.status = DB_FAILED;
    snprintf(r.error, sizeof r.error, "%s", message && *message ? message : "failed");
    return point_finish(p, i, &r);
}

int point_finish_file(Points *p, int i) {
    char path[4400];
    point_result_path(p, i, path, sizeof path);
    return ingest(p, i, path);
}

void point_release(Points *p, int i) {
    move(p, i, BIT(POINT_CLAIMED) | BIT(POINT_TRAINED), POINT_PENDING);
    p->pid[i] = 0;
}

void point_result_init(DbResult *d, const char *hash, const PruneResult *r) {
    memset(d, 0, sizeof *d);
    snprintf(d->config_hash, sizeof d->config_hash, "%s", hash);
    d->status = DB_DONE;
    d->metrics = (DbMetrics){.f1 = r->final.f1, .exact = r->final.exact,
                             .has_ans_f1 = r->final.has_ans_f1,
                             .no_ans_f1 = r->final.no_ans_f1, .heads_kept = r->heads_kept,
                             .heads_total = r->heads_total, .ffn_kept = r->ffn_kept,
                             .ffn_total = r->ffn_total, .params = (long long)r->params,
                             .flops = r->flops, .train_seconds = r->train_seconds,
                             .f1_before_finetune = r->pruned.f1, .teacher_f1 = r->teacher.f1,
                             .ort_latency_ms = NAN, .ort_teacher_latency_ms = NAN,
                             .ort_speedup = NAN, .peak_rss_mb = r->peak_rss_mb};
    if (r->nq) { /* f1 is the short-answer F1 (pipeline_nq_squad_view); NQ scores in percent */
        const NqAnswerScores *la = &r->nq_final.long_answer, *sa = &r->nq_final.short_answer;
        DbMetrics *m = &d->metrics;
        m->nq = 1;
        m->exact = m->has_ans_f1 = m->no_ans_f1 = NAN;
        m->long_f1 = 100 * la->f1, m->long_precision = 100 * la->precision;
        m->long_recall = 100 * la->recall;
        m->short_f1 = 100 * sa->f1, m->short_precision = 100 * sa->precision;
        m->short_recall = 100 * sa->recall;
    }
    d->n_layers = r->layers;
    for (int l = 0; l < r->layers; l++) {
        d->layer_heads[l] = r->layer_heads[l];
        d->layer_ffn[l] = r->layer_ffn[l];
    }
}

void point_result_where(DbResult *d) {
    d->host[0] = d->cpu_model[0] = '\0';
    gethostname(d->host, sizeof d->host - 1);
    d->host[sizeof d->host - 1] = '\0';
    char *text = NULL;
    size_t len;
    if (file_read("/proc/cpuinfo", 1 << 22, &text, &len) != QA_OK) {
        qa_clear_error();
        return;
    }
    const char *m = strstr(text, "model name");
    const char *colon = m ? strchr(m, ':') : NULL;
    if (colon) {
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        size_t n = strcspn(colon, "\n");
        snprintf(d->cpu_model, sizeof d->cpu_model, "%.*s", (int)n, colon);
    }
    free(text);
}

int points_count(const Points *p, PointState s) {
    int n = 0;
    for (int i = 0; i < p->n; i++) n += p->state[i] == s;
    return n;
}
