/* db/result_file.c: reading, validating and atomically writing result files (format in
 * result_file.h). One table of metric fields drives the reader, the writer and the checks. */
#include "db/result_file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/util/error.h"
#include "core/text/text.h"
#include "core/util/fileio.h"

#define RESULT_MAX_BYTES (1 << 20)
#define COUNT_MAX 9007199254740992.0 /* 2^53: larger integers do not survive a JSON double */

/* The metrics object, in file order: JSON key, place in DbMetrics, whether it is a count
 * (long long, non-negative integer) or a double, and whether it may be null: never (ANY),
 * when unknown (OPT), or by the point's dataset kind (SQUAD: only on an NQ point; NQ: only on
 * a SQuAD point; see result_file.h). */
typedef enum { MF_ANY, MF_OPT, MF_SQUAD, MF_NQ } MetricKind;
typedef struct {
    const char *name;
    size_t off;
    int is_count;
    MetricKind kind;
} MetricField;

#define MF(f, count, k) {#f, offsetof(DbMetrics, f), count, k}
static const MetricField METRICS[] = {
    MF(f1, 0, MF_ANY),          MF(exact, 0, MF_SQUAD),         MF(has_ans_f1, 0, MF_SQUAD),
    MF(no_ans_f1, 0, MF_SQUAD), MF(heads_kept, 1, MF_ANY),      MF(heads_total, 1, MF_ANY),
    MF(ffn_kept, 1, MF_ANY),    MF(ffn_total, 1, MF_ANY),       MF(params, 1, MF_ANY),
    MF(flops, 0, MF_ANY),       MF(latency_ms, 0, MF_ANY),      MF(teacher_latency_ms, 0, MF_ANY),
    MF(speedup, 0, MF_ANY),     MF(train_seconds, 0, MF_ANY),   MF(peak_rss_mb, 0, MF_OPT),
    MF(f1_before_finetune, 0, MF_OPT),                          MF(teacher_f1, 0, MF_OPT),
    MF(long_f1, 0, MF_NQ),      MF(long_precision, 0, MF_NQ),
    MF(long_recall, 0, MF_NQ),  MF(short_f1, 0, MF_NQ),         MF(short_precision, 0, MF_NQ),
    MF(short_recall, 0, MF_NQ), MF(ort_latency_ms, 0, MF_OPT),
    MF(ort_teacher_latency_ms, 0, MF_OPT),                      MF(ort_speedup, 0, MF_OPT),
};
#undef MF
#define N_METRICS ((int)(sizeof METRICS / sizeof METRICS[0]))

static double *metric_double(DbMetrics *m, const MetricField *f) {
    return (double *)((char *)m + f->off);
}
static long long *metric_count(DbMetrics *m, const MetricField *f) {
    return (long long *)((char *)m + f->off);
}

/* ---------------------------------------------------------------- shared checks */

/* 1 when field f is unused by a point of this kind (written as null, read as NAN). */
static int metric_unused(const MetricField *f, int nq) {
    return (f->kind == MF_SQUAD && nq) || (f->kind == MF_NQ && !nq);
}

int db_check_hash(const char *what, const char *hash) {
    size_t n = strlen(hash);
    if (n == 0 || n >= DB_HASH_MAX)
        return qa_error("%s: config_hash must have 1..%d characters, got %zu", what,
                        DB_HASH_MAX - 1, n);
    for (size_t i = 0; i < n; i++)
        if (hash[i] <= ' ' || hash[i] > '~')
            return qa_error("%s: config_hash \"%s\" has a space or non-ASCII character", what,
                            hash);
    return QA_OK;
}

void db_real_text(double x, char *buf, size_t n) {
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, n, "%.*g", digits, x);
        if (strtod(buf, NULL) == x) return;
    }
}

void db_time_now(char *buf, int cap) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, (size_t)cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* What the reader accepts beyond JSON types: the rules of result_file.h for a parsed r. */
static int result_check(const char *path, const DbResult *r) {
    if (db_check_hash(path, r->config_hash)) return QA_ERR;
    if (r->status == DB_FAILED) {
        if (!r->error[0]) return qa_error("%s: error: a failed result needs a message", path);
        return QA_OK;
    }
    if (r->status != DB_DONE)
        return qa_error("%s: status: must be done or failed, got %d", path, (int)r->status);
    DbMetrics m = r->metrics;
    for (int i = 0; i < N_METRICS; i++) {
        const MetricField *f = &METRICS[i];
        if (metric_unused(f, m.nq)) continue; /* the other dataset kind's */
        if (f->is_count) {
            long long v = *metric_count(&m, f);
            if (v < 0 || (double)v > COUNT_MAX)
                return qa_error("%s: metrics.%s: must be a non-negative integer, got %lld",
                                path, f->name, v);
        } else {
            double v = *metric_double(&m, f);
            if (!isfinite(v) && !(f->kind == MF_OPT && isnan(v)))
                return qa_error("%s: metrics.%s: must be a finite number%s, got %g", path,
                                f->name, f->kind == MF_NQ ? " (a Natural Questions point)" : "",
                                v);
        }
    }
    if (m.heads_kept > m.heads_total || m.ffn_kept > m.ffn_total)
        return qa_error("%s: metrics: kept exceeds total (heads %lld/%lld, ffn %lld/%lld)",
                        path, m.heads_kept, m.heads_total, m.ffn_kept, m.ffn_total);
    if (r->n_layers < 0 || r->n_layers > DB_MAX_LAYERS)
        return qa_error("%s: layers: %d entries, at most %d allowed", path, r->n_layers,
                        DB_MAX_LAYERS);
    if (r->n_layers == 0) return QA_OK;
    long long heads = 0, ffn = 0;
    for (int l = 0; l < r->n_layers; l++) {
        if (r->layer_heads[l] < 0 || r->layer_ffn[l] < 0)
            return qa_error("%s: layers[%d]: negative count (heads %d, ffn %d)", path, l,
                            r->layer_heads[l], r->layer_ffn[l]);
        heads += r->layer_heads[l];
        ffn += r->layer_ffn[l];
    }
    if (heads != m.heads_kept || ffn != m.ffn_kept)
        return qa_error("%s: layers: add up to %lld heads and %lld ffn, metrics say %lld and %lld",
                        path, heads, ffn, m.heads_kept, m.ffn_kept);
    return QA_OK;
}

/* ---------------------------------------------------------------- reading */

static const char *json_kind(const cJSON *v) {
    return !v ? "missing" : cJSON_IsNumber(v) ? "a number" : cJSON_IsString(v) ? "a string"
         : cJSON_IsArray(v) ? "an array" : cJSON_IsObject(v) ? "an object"
         : cJSON_IsBool(v) ? "a boolean" : "null";
}

/* Rejects any key of obj not in keys (NULL-terminated); where names obj in the message. */
static int check_keys(const char *path, const char *where, const cJSON *obj,
                      const char *const *keys) {
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        int known = 0;
        for (int i = 0; keys[i] && !known; i++) known = strcmp(it->string, keys[i]) == 0;
        if (!known) return qa_error("%s: %s%s: unknown key", path, where, it->string);
    }
    return QA_OK;
}

/* Copies the string under key into buf (cap bytes); required unless optional. */
static int get_string(const char *path, const cJSON *obj, const char *key, int optional,
                      char *buf, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    buf[0] = '\0';
    if (!v && optional) return QA_OK;
    if (!cJSON_IsString(v)) return qa_error("%s: %s: must be a string, got %s", path, key,
                                            json_kind(v));
    snprintf(buf, cap, "%s", v->valuestring);
    return QA_OK;
}

/* A non-negative integer (as a JSON number) under key of obj; where prefixes the name. */
static int get_count(const char *path, const char *where, const cJSON *obj, const char *key,
                     long long *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v))
        return qa_error("%s: %s%s: must be a number, got %s", path, where, key, json_kind(v));
    double d = v->valuedouble;
    if (!(d >= 0 && d <= COUNT_MAX) || d != floor(d))
        return qa_error("%s: %s%s: must be a non-negative integer, got %g", path, where, key, d);
    *out = (long long)d;
    return QA_OK;
}

static int read_metrics(const char *path, const cJSON *obj, DbMetrics *m) {
    if (!cJSON_IsObject(obj))
        return qa_error("%s: metrics: must be an object, got %s", path, json_kind(obj));
    const char *keys[N_METRICS + 1];
    for (int i = 0; i < N_METRICS; i++) keys[i] = METRICS[i].name;
    keys[N_METRICS] = NULL;
    if (check_keys(path, "metrics.", obj, keys)) return QA_ERR;
    const cJSON *lf = cJSON_GetObjectItemCaseSensitive(obj, "long_f1");
    m->nq = lf && !cJSON_IsNull(lf); /* a Natural Questions point */
    for (int i = 0; i < N_METRICS; i++) {
        const MetricField *f = &METRICS[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
        if (metric_unused(f, m->nq)) {
            if (v && !cJSON_IsNull(v))
                return qa_error("%s: metrics.%s: must be null or absent for a %s point "
                                "(long_f1 is %s)", path, f->name,
                                m->nq ? "Natural Questions" : "SQuAD", m->nq ? "set" : "null");
            *metric_double(m, f) = NAN;
        } else if (f->is_count) {
            if (get_count(path, "metrics.", obj, f->name, metric_count(m, f))) return QA_ERR;
        } else if (f->kind == MF_OPT && (!v || cJSON_IsNull(v))) {
            *metric_double(m, f) = NAN;
        } else if (!cJSON_IsNumber(v)) {
            return qa_error("%s: metrics.%s: must be a number%s, got %s", path, f->name,
                            f->kind == MF_NQ ? " (a Natural Questions point)" : "", json_kind(v));
        } else {
            *metric_double(m, f) = v->valuedouble;
        }
    }
    return QA_OK;
}

static int read_layers(const char *path, const cJSON *arr, DbResult *r) {
    static const char *const keys[] = {"layer", "heads_kept", "ffn_kept", NULL};
    if (!cJSON_IsArray(arr))
        return qa_error("%s: layers: must be an array, got %s", path, json_kind(arr));
    int n = cJSON_GetArraySize(arr);
    if (n > DB_MAX_LAYERS)
        return qa_error("%s: layers: %d entries, at most %d allowed", path, n, DB_MAX_LAYERS);
    r->n_layers = n;
    for (int l = 0; l < n; l++) {
        const cJSON *e = cJSON_GetArrayItem(arr, l);
        char where[32];
        snprintf(where, sizeof where, "layers[%d].", l);
        if (!cJSON_IsObject(e))
            return qa_error("%s: layers[%d]: must be an object, got %s", path, l, json_kind(e));
        long long idx, heads, ffn;
        if (check_keys(path, where, e, keys) || get_count(path, where, e, "layer", &idx) ||
            get_count(path, where, e, "heads_kept", &heads) ||
            get_count(path, where, e, "ffn_kept", &ffn))
            return QA_ERR;
        if (idx != l)
            return qa_error("%s: layers[%d].layer: must be %d (layers in order), got %lld", path,
                            l, l, idx);
        if (heads > INT_MAX || ffn > INT_MAX)
            return qa_error("%s: layers[%d]: count out of range", path, l);
        r->layer_heads[l] = (int)heads;
        r->layer_ffn[l] = (int)ffn;
    }
    return QA_OK;
}

/* Fills r from the parsed document root (types and presence; result_check does the rest). */
static int read_root(const char *path, const cJSON *root, DbResult *r) {
    static const char *const keys[] = {"format", "config_hash", "status", "error",
                                       "finished_at", "metrics", "layers", "host",
                                       "cpu_model", NULL};
    char format[64], status[16];
    if (!cJSON_IsObject(root))
        return qa_error("%s: must be a JSON object, got %s", path, json_kind(root));
    if (check_keys(path, "", root, keys) ||
        get_string(path, root, "format", 0, format, sizeof format))
        return QA_ERR;
    if (strcmp(format, DB_RESULT_FORMAT) != 0)
        return qa_error("%s: format: expected \"%s\", got \"%s\"", path, DB_RESULT_FORMAT,
                        format);
    if (get_string(path, root, "config_hash", 0, r->config_hash, sizeof r->config_hash) ||
        get_string(path, root, "status", 0, status, sizeof status) ||
        get_string(path, root, "finished_at", 1, r->finished_at, sizeof r->finished_at))
        return QA_ERR;
    if (strcmp(status, "failed") == 0) {
        r->status = DB_FAILED;
        return get_string(path, root, "error", 0, r->error, sizeof r->error);
    }
    if (strcmp(status, "done") != 0)
        return qa_error("%s: status: must be \"done\" or \"failed\", got \"%s\"", path, status);
    r->status = DB_DONE;
    if (get_string(path, root, "host", 1, r->host, sizeof r->host) ||
        get_string(path, root, "cpu_model", 1, r->cpu_model, sizeof r->cpu_model))
        return QA_ERR;
    return read_metrics(path, cJSON_GetObjectItemCaseSensitive(root, "metrics"), &r->metrics) ||
           read_layers(path, cJSON_GetObjectItemCaseSensitive(root, "layers"), r);
}

int db_read_result_file(const char *path, DbResult *r) {
    memset(r, 0, sizeof *r);
    char *text = NULL;
    cJSON *root = NULL;
    int rc = QA_ERR;
    size_t text_len;
    if (file_read(path, RESULT_MAX_BYTES, &text, &text_len)) goto cleanup;
    root = cJSON_Parse(text);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        qa_error("%s: not valid JSON near byte %ld", path, at ? (long)(at - text) : 0L);
        goto cleanup;
    }
    if (read_root(path, root, r) || result_check(path, r)) goto cleanup;
    rc = QA_OK;
cleanup:
    cJSON_Delete(root);
    free(text);
    return rc;
}

/* ---------------------------------------------------------------- writing */

/* Builds the document for r (checked); returns a new tree (free with cJSON_Delete) or NULL. */
static cJSON *build_root(const DbResult *r) {
    char now[32];
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    int ok = cJSON_AddStringToObject(root, "format", DB_RESULT_FORMAT) &&
             cJSON_AddStringToObject(root, "config_hash", r->config_hash);
    if (!r->finished_at[0]) db_time_now(now, sizeof now);
    ok = ok && cJSON_AddStringToObject(root, "status",
                                       r->status == DB_DONE ? "done" : "failed") &&
         cJSON_AddStringToObject(root, "finished_at", r->finished_at[0] ? r->finished_at : now);
    if (r->status == DB_FAILED) {
        ok = ok && cJSON_AddStringToObject(root, "error", r->error);
        if (ok) return root;
        cJSON_Delete(root);
        return NULL;
    }
    if (r->host[0]) ok = ok && cJSON_AddStringToObject(root, "host", r->host);
    if (r->cpu_model[0]) ok = ok && cJSON_AddStringToObject(root, "cpu_model", r->cpu_model);
    cJSON *metrics = ok ? cJSON_AddObjectToObject(root, "metrics") : NULL;
    cJSON *layers = metrics ? cJSON_AddArrayToObject(root, "layers") : NULL;
    ok = layers != NULL;
    DbMetrics m = r->metrics;
    for (int i = 0; ok && i < N_METRICS; i++) {
        /* as raw text: cJSON prints numbers to 15 digits when they read back *nearly* equal,
         * which changed counts above 10^15 and the last bit of doubles */
        const MetricField *f = &METRICS[i];
        double v = f->is_count ? (double)*metric_count(&m, f) : *metric_double(&m, f);
        char num[32];
        if (f->is_count) snprintf(num, sizeof num, "%lld", *metric_count(&m, f));
        else db_real_text(v, num, sizeof num);
        ok = isnan(v) || metric_unused(f, m.nq) ? cJSON_AddNullToObject(metrics, f->name) != NULL
                      : cJSON_AddRawToObject(metrics, f->name, num) != NULL;
    }
    for (int l = 0; ok && l < r->n_layers; l++) {
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(layers, e) && cJSON_AddNumberToObject(e, "layer", l) &&
             cJSON_AddNumberToObject(e, "heads_kept", r->layer_heads[l]) &&
             cJSON_AddNumberToObject(e, "ffn_kept", r->layer_ffn[l]);
    }
    if (ok) return root;
    cJSON_Delete(root);
    return NULL;
}

int db_write_result_file(const char *path, const DbResult *r) {
    if (result_check(path, r)) return QA_ERR;
    cJSON *root = build_root(r);
    char *text = root ? cJSON_Print(root) : NULL;
    int rc = text ? file_write_atomic(path, text, strlen(text))
                  : qa_error("%s: out of memory building the result", path);
    free(text);
    cJSON_Delete(root);
    return rc;
}
