/* sweep/grid.c: grid.json parsing and point resolution (see grid.h). */
#include "sweep/grid.h"
#include "sweep/spec_json.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/checkpoint.h"
#include "core/model/train.h"
#include "core/prune/strategy.h"
#include "core/util/error.h"
#include "core/qa/nq.h"
#include "core/qa/synth.h"
#include "core/qa/synth_nq.h"
#include "core/text/text.h"
#include "core/util/fileio.h"

static const char *const TOP_KEYS[] = {"out",   "data",    "teacher", "axes", "prune",
                                       "bench", "threads", "export",  "slurm"};

/* Applies the object o (may be NULL) to dst through spec fields. */
static int apply(const cJSON *o, const char *file, const char *path, const SpecField *f, int n,
                 void *dst) {
    return o ? spec_apply_object(o, file, path, f, n, dst) : QA_OK;
}

static int by_key(const void *a, const void *b) {
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* Rejects an object that names one key twice, anywhere in the tree (cJSON keeps both copies
 * and lookups would silently take one of them). path names o for the message. */
static int check_duplicates(const cJSON *o, const char *file, const char *path) {
    int n = 0;
    for (const cJSON *it = o->child; it; it = it->next) n++;
    if (cJSON_IsObject(o) && n > 1) {
        const cJSON **keys = malloc(sizeof *keys * (size_t)n);
        if (!keys) return qa_error("%s: out of memory", file);
        int k = 0;
        for (const cJSON *it = o->child; it; it = it->next) keys[k++] = it;
        qsort(keys, (size_t)n, sizeof *keys, by_key);
        for (int i = 1; i < n; i++)
            if (!strcmp(keys[i]->string, keys[i - 1]->string)) {
                char dup[256];
                snprintf(dup, sizeof dup, "%s", keys[i]->string);
                free(keys);
                return qa_error("%s: %s%s%s: given twice", file, path, *path ? "." : "", dup);
            }
        free(keys);
    }
    int i = 0;
    for (const cJSON *it = o->child; it; it = it->next, i++) {
        if (!cJSON_IsObject(it) && !cJSON_IsArray(it)) continue;
        char sub[512];
        if (cJSON_IsObject(o))
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", it->string);
        else
            snprintf(sub, sizeof sub, "%s[%d]", path, i);
        if (check_duplicates(it, file, sub)) return QA_ERR;
    }
    return QA_OK;
}

static int check_keys(const cJSON *o, const char *file, const char *path,
                      const char *const *keys, int n) {
    if (!cJSON_IsObject(o)) return qa_error("%s: %s: expected a JSON object", file, path);
    for (const cJSON *it = o->child; it; it = it->next) {
        int ok = 0;
        for (int i = 0; i < n; i++) ok |= !strcmp(it->string, keys[i]);
        if (!ok) {
            char allowed[512] = "";
            for (int i = 0; i < n; i++)
                snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s",
                         i ? ", " : "", keys[i]);
            return qa_error("%s: %s%s%s: unknown key (allowed: %s)", file, path, *path ? "." : "",
                            it->string, allowed);
        }
    }
    return QA_OK;
}

static int get_string(const cJSON *o, const char *key, const char *file, const char *path,
                      char *dst, size_t n, int required) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (!v) return required ? qa_error("%s: %s%s%s: missing (a string is required)", file, path,
                                       *path ? "." : "", key) : QA_OK;
    if (!cJSON_IsString(v) || !*v->valuestring || strlen(v->valuestring) >= n)
        return qa_error("%s: %s%s%s: expected a non-empty string", file, path, *path ? "." : "", key);
    snprintf(dst, n, "%s", v->valuestring);
    return QA_OK;
}

typedef struct {
    int n;
    double v[64];
} NumList;

static int get_numbers(const cJSON *axes, const char *key, const char *file, double lo,
                       double hi, int integer, NumList *out) {
    out->n = 0;
    const cJSON *a = cJSON_GetObjectItem(axes, key);
    if (!a) return QA_OK;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || cJSON_GetArraySize(a) > 64)
        return qa_error("%s: axes.%s: expected a list of 1 to 64 numbers", file, key);
    for (int i = 0; i < cJSON_GetArraySize(a); i++) {
        const cJSON *e = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(e) || e->valuedouble < lo || e->valuedouble > hi ||
            (integer && e->valuedouble != (long)e->valuedouble))
            return qa_error("%s: axes.%s[%d]: expected %s in [%g, %g]", file, key, i,
                            integer ? "an integer" : "a number", lo, hi);
        out->v[out->n++] = e->valuedouble;
    }
    return QA_OK;
}

typedef struct {
    int n;
    char v[8][16];
} StrList;

static int get_strings(const cJSON *axes, const char *key, const char *file,
                       const char *const *allowed, int n_allowed, StrList *out) {
    out->n = 0;
    const cJSON *a = cJSON_GetObjectItem(axes, key);
    if (!a) return qa_error("%s: axes.%s: missing (a list of strings is required)", file, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || cJSON_GetArraySize(a) > 8)
        return qa_error("%s: axes.%s: expected a list of 1 to 8 strings", file, key);
    for (int i = 0; i < cJSON_GetArraySize(a); i++) {
        const cJSON *e = cJSON_GetArrayItem(a, i);
        int ok = 0;
        for (int k = 0; k < n_allowed && cJSON_IsString(e); k++) ok |= !strcmp(e->valuestring, allowed[k]);
        if (!ok) {
            char list[128] = "";
            for (int k = 0; k < n_allowed; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", allowed[k]);
            return qa_error("%s: axes.%s[%d]: expected one of %s", file, key, i, list);
        }
        snprintf(out->v[out->n++], 16, "%s", e->valuestring);
    }
    return QA_OK;
}

#define BF(k, f, lo, hi, h) {k, SPEC_INT, offsetof(LatencyOpts, f), lo, hi, h, NULL}
const SpecField GRID_BENCH_FIELDS[] = {
    BF("batch", batch, 1, 1024, "windows per timed forward"),
    BF("seq", seq, 0, 4096, "tokens per window (0 = the teacher's max_seq_len)"),
    BF("warmup", warmup, 0, 1000, "untimed passes of each model"),
    BF("repeats", repeats, 1, 100000, "timed passes of each model (median reported)"),
};

const int GRID_BENCH_NFIELDS = 4;

/* The synthetic generator's settings, laid out as in Synth below. */
typedef struct {
    int seed, train, dev, lookup;
    char format[SPEC_STR];
    int bpe_merges;
} Synth;

static const SpecField SYNTH_FIELDS[] = {
    {"seed", SPEC_INT, offsetof(Synth, seed), 0, 2147483647, "generator seed", NULL},
    {"train", SPEC_INT, offsetof(Synth, train), 1, 10000000, "train questions", NULL},
    {"dev", SPEC_INT, offsetof(Synth, dev), 1, 10000000, "dev questions", NULL},
    {"lookup", SPEC_INT, offsetof(Synth, lookup), 0, 1, "1: lookup questions in train.json", NULL},
    {"format", SPEC_STRING, offsetof(Synth, format), 0, 0, "squad | nq (as gen-data --format)", NULL},
    {"bpe_merges", SPEC_INT, offsetof(Synth, bpe_merges), 0, 1000000,
     "K > 0: also a byte-level BPE of K merges (vocab.json, merges.txt)", NULL},
};

/* "format" of data or data.synthetic: squad or nq into g->data.nq. */
static int parse_format(const char *name, const char *f, const char *path, Grid *g) {
    if (strcmp(name, "squad") && strcmp(name, "nq"))
        return qa_error("%s: %s: '%s' is not one of squad, nq", f, path, name);
    g->data.nq = !strcmp(name, "nq");
    return QA_OK;
}

/* data.include_unknowns: NQ training windows without an answer kept (BERT-joint's 0.02). */
static int parse_include_unknowns(const cJSON *d, const char *f, Grid *g) {
    const cJSON *u = cJSON_GetObjectItem(d, "include_unknowns");
    g->data.nq_include_unknowns = NQ_INCLUDE_UNKNOWNS_DEFAULT;
    if (!u) return QA_OK;
    if (!g->data.nq)
        return qa_error("%s: data.include_unknowns: only for Natural Questions data "
                        "(format \"nq\")", f);
    if (!cJSON_IsNumber(u) || !(u->valuedouble >= 0 && u->valuedouble <= 1))
        return qa_error("%s: data.include_unknowns: expected a number in [0, 1]", f);
    g->data.nq_include_unknowns = u->valuedouble;
    return QA_OK;
}

static int parse_data(const cJSON *root, Grid *g) {
    const char *f = g->file;
    const cJSON *d = cJSON_GetObjectItem(root, "data");
    if (!d) return qa_error("%s: data: missing ({\"synthetic\": {...}} or {\"train\": ..., \"dev\": ...})", f);
    static const char *const keys[] = {"synthetic", "train", "dev", "vocab", "vocab_json",
                                       "merges", "format", "include_unknowns"};
    if (check_keys(d, f, "data", keys, 8)) return QA_ERR;
    const cJSON *s = cJSON_GetObjectItem(d, "synthetic");
    if (s) {
        if (cJSON_GetObjectItem(d, "train") || cJSON_GetObjectItem(d, "dev"))
            return qa_error("%s: data: give either synthetic or train/dev, not both", f);
        if (cJSON_GetObjectItem(d, "format"))
            return qa_error("%s: data.format: is for data files; synthetic data takes "
                            "data.synthetic.format", f);
        Synth v = {1, SYNTH_DEFAULT_TRAIN, SYNTH_DEFAULT_DEV, 1, "squad", 0};
        if (apply(s, f, "data.synthetic", SYNTH_FIELDS, 6, &v) ||
            parse_format(v.format, f, "data.synthetic.format", g))
            return QA_ERR;
        if (g->data.nq && v.bpe_merges)
            return qa_error("%s: data.synthetic.bpe_merges: learnt on SQuAD-format synthetic "
                            "data only, not with format nq (give NQ files and data.vocab_json, "
                            "data.merges for a roberta teacher on NQ)", f);
        g->synthetic = 1;
        g->synth_seed = v.seed, g->synth_train = v.train, g->synth_dev = v.dev;
        g->synth_lookup = v.lookup;
        g->synth_bpe_merges = v.bpe_merges;
        if (parse_include_unknowns(d, f, g)) return QA_ERR;
        char dir[4096];
        int nq = g->data.nq;
        double u = g->data.nq_include_unknowns;
        if (path_join(dir, sizeof dir, g->out, "data") ||
            (nq ? data_paths_nq_in_dir(&g->data, dir, u) : data_paths_in_dir(&g->data, dir)))
            return QA_ERR;
        return QA_OK;
    }
    char format[16] = "squad";
    if (get_string(d, "train", f, "data", g->data.train, sizeof g->data.train, 1) ||
        get_string(d, "dev", f, "data", g->data.dev, sizeof g->data.dev, 1) ||
        get_string(d, "vocab", f, "data", g->data.vocab, sizeof g->data.vocab, 0) ||
        get_string(d, "vocab_json", f, "data", g->data.bpe_vocab, sizeof g->data.bpe_vocab, 0) ||
        get_string(d, "merges", f, "data", g->data.bpe_merges, sizeof g->data.bpe_merges, 0) ||
        get_string(d, "format", f, "data", format, sizeof format, 0) ||
        parse_format(format, f, "data.format", g) || parse_include_unknowns(d, f, g))
        return QA_ERR;
    if (!*g->data.bpe_vocab != !*g->data.bpe_merges)
        return qa_error("%s: data: give vocab_json and merges together (a byte-level BPE)", f);
    return QA_OK;
}

static int parse_teacher(const cJSON *root, Grid *g) {
    const char *f = g->file;
    const cJSON *t = cJSON_GetObjectItem(root, "teacher");
    teacher_spec_default(&g->teacher);
    snprintf(g->teacher_cache, sizeof g->teacher_cache, "runs/cache");
    g->n_teachers = 1;
    if (t) {
        static const char *const keys[] = {"train", "checkpoint", "cache"};
        if (check_keys(t, f, "teacher", keys, 3)) return QA_ERR;
        const cJSON *ck = cJSON_GetObjectItem(t, "checkpoint");
        if (ck) {
            if (cJSON_GetObjectItem(t, "train"))
                return qa_error("%s: teacher: give either train or checkpoint, not both", f);
            g->teacher_checkpoint = 1;
            if (cJSON_IsString(ck))
                return get_string(t, "checkpoint", f, "teacher", g->teachers[0].dir,
                                  sizeof g->teachers[0].dir, 1);
            int n = cJSON_GetArraySize(ck);
            if (!cJSON_IsArray(ck) || n < 1 || n > GRID_MAX_TEACHERS)
                return qa_error("%s: teacher.checkpoint: expected a directory or a list of 1 to %d",
                                f, GRID_MAX_TEACHERS);
            for (int i = 0; i < n; i++) {
                const cJSON *e = cJSON_GetArrayItem(ck, i);
                if (!cJSON_IsString(e) || !*e->valuestring ||
                    strlen(e->valuestring) >= sizeof g->teachers[0].dir)
                    return qa_error("%s: teacher.checkpoint[%d]: expected a directory name", f, i);
                snprintf(g->teachers[i].dir, sizeof g->teachers[i].dir, "%s", e->valuestring);
            }
            g->n_teachers = n;
            return QA_OK;
        }
        if (apply(cJSON_GetObjectItem(t, "train"), f, "teacher.train", TEACHER_FIELDS,
                  TEACHER_NFIELDS, &g->teacher) ||
            get_string(t, "cache", f, "teacher", g->teacher_cache, sizeof g->teacher_cache, 0))
            return QA_ERR;
    }
    if (teacher_spec_check(&g->teacher, f, "teacher.train")) return QA_ERR;
    if (!strcmp(g->teacher.family, "roberta")) {
        if (g->synthetic && g->synth_bpe_merges < 1)
            return qa_error("%s: data.synthetic.bpe_merges: required (K > 0 merges) to train a "
                            "teacher of family roberta (teacher.train.family): its byte-level "
                            "BPE", f);
        if (!g->synthetic && !*g->data.bpe_vocab)
            return qa_error("%s: data.vocab_json and data.merges: required to train a teacher "
                            "of family roberta (teacher.train.family) on %s files", f,
                            g->data.nq ? "Natural Questions" : "SQuAD");
    } else if (!g->synthetic && !*g->data.vocab) {
        return qa_error("%s: data.vocab: required to train a teacher on %s files", f,
                        g->data.nq ? "Natural Questions" : "SQuAD");
    }
    return QA_OK;
}

/* "bench": {"ort": true}: ONNX Runtime's latency too (sweep/ort.h). Taken out of the object
 * before the LatencyOpts fields read the rest: like "export", it is not part of the points'
 * identity (it adds columns and changes no other result). */
static int parse_bench_ort(cJSON *root, Grid *g) {
    cJSON *b = cJSON_GetObjectItem(root, "bench");
    if (!cJSON_IsObject(b)) return QA_OK; /* apply() says what is wrong */
    const char *keys[GRID_BENCH_NFIELDS + 1];
    for (int i = 0; i < GRID_BENCH_NFIELDS; i++) keys[i] = GRID_BENCH_FIELDS[i].key;
    keys[GRID_BENCH_NFIELDS] = "ort";
    if (check_keys(b, g->file, "bench", keys, GRID_BENCH_NFIELDS + 1)) return QA_ERR;
    cJSON *ort = cJSON_DetachItemFromObjectCaseSensitive(b, "ort");
    int bad = ort && !cJSON_IsBool(ort);
    g->bench_ort = cJSON_IsTrue(ort);
    cJSON_Delete(ort);
    return bad ? qa_error("%s: bench.ort: expected true or false", g->file) : QA_OK;
}

/* "slurm": {"partition", "time", "cpus_per_task", "mem", "array_parallelism",
 * "sbatch_args"}; times and sizes in Slurm's formats, checked here (sweep/slurm.h). */
static int parse_slurm(const cJSON *root, Grid *g) {
    const char *f = g->file;
    const cJSON *s = cJSON_GetObjectItem(root, "slurm");
    SlurmOpts *o = &g->slurm;
    if (!s) return QA_OK;
    static const char *const keys[] = {"partition", "time", "cpus_per_task", "mem",
                                       "array_parallelism", "sbatch_args"};
    if (check_keys(s, f, "slurm", keys, 6) ||
        get_string(s, "partition", f, "slurm", o->partition, sizeof o->partition, 0) ||
        get_string(s, "time", f, "slurm", o->time, sizeof o->time, 0) ||
        get_string(s, "mem", f, "slurm", o->mem, sizeof o->mem, 0))
        return QA_ERR;
    long v;
    char what[4200];
    snprintf(what, sizeof what, "%s: slurm.time", f);
    if (*o->time && slurm_parse_time(what, o->time, &v)) return QA_ERR;
    snprintf(what, sizeof what, "%s: slurm.mem", f);
    if (*o->mem && slurm_parse_mem(what, o->mem, &v)) return QA_ERR;
    const char *ints[2] = {"cpus_per_task", "array_parallelism"};
    int *dst[2] = {&o->cpus_per_task, &o->array_parallelism};
    for (int i = 0; i < 2; i++) {
        const cJSON *n = cJSON_GetObjectItem(s, ints[i]);
        if (n && (!cJSON_IsNumber(n) || n->valuedouble < 1 || n->valuedouble > 4096 ||
                  n->valuedouble != (int)n->valuedouble))
            return qa_error("%s: slurm.%s: expected an integer in [1, 4096]", f, ints[i]);
        if (n) *dst[i] = n->valueint;
    }
    const cJSON *a = cJSON_GetObjectItem(s, "sbatch_args");
    if (!a) return QA_OK;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > SLURM_MAX_ARGS)
        return qa_error("%s: slurm.sbatch_args: expected a list of at most %d strings", f,
                        SLURM_MAX_ARGS);
    for (int i = 0; i < cJSON_GetArraySize(a); i++) {
        const cJSON *e = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsString(e) || !*e->valuestring ||
            strlen(e->valuestring) >= SLURM_ARG_MAX || e->valuestring[0] != '-')
            return qa_error("%s: slurm.sbatch_args[%d]: expected an sbatch option "
                            "(a string beginning with '-', under %d characters)",
                            f, i, SLURM_ARG_MAX);
        snprintf(o->args[o->n_args++], SLURM_ARG_MAX, "%s", e->valuestring);
    }
    return QA_OK;
}

/* Adds a point's settings (room for it is allocated by parse_axes); its identity comes
 * with grid_resolve. */
static int add_point(Grid *g, const PruneSpec *s, int teacher_index) {
    g->points[g->n_points++] = (GridPoint){.spec = *s, .teacher = teacher_index};
    return QA_OK;
}

static int parse_axes(const cJSON *root, Grid *g, const PruneSpec *base) {
    const char *f = g->file;
    const cJSON *a = cJSON_GetObjectItem(root, "axes");
    static const char *const keys[] = {"strategy", "targets", "head_sparsity", "ffn_sparsity",
                                       "finetune", "seed", "precision", "gain_steps"};
    static const char *const precisions[] = {"fp32", "bf16"};
    if (!a) return qa_error("%s: axes: missing (strategy, targets or head_sparsity x ffn_sparsity, finetune)", f);
    if (check_keys(a, f, "axes", keys, 8)) return QA_ERR;
    StrList st, ft, pr = {.n = 1};
    snprintf(pr.v[0], sizeof pr.v[0], "%.15s", base->precision); /* no axis: the one given */
    if (cJSON_GetObjectItem(a, "precision") && get_strings(a, "precision", f, precisions, 2, &pr))
        return QA_ERR;
    NumList hs, fs, seeds, gsteps;
    if (get_numbers(a, "gain_steps", f, 1, 100, 1, &gsteps)) return QA_ERR;
    if (gsteps.n && cJSON_GetObjectItem(cJSON_GetObjectItem(root, "prune"), "gain_steps"))
        return qa_error("%s: prune.gain_steps: also an axis here (axes.gain_steps); give one", f);
    if (gsteps.n == 0) gsteps.v[gsteps.n++] = base->gain_steps;
    if (get_strings(a, "strategy", f, STRATEGY_NAMES, STRATEGY_N, &st) ||
        get_strings(a, "finetune", f, FINETUNE_NAMES, FINETUNE_N, &ft) ||
        get_numbers(a, "head_sparsity", f, 0, 1, 0, &hs) ||
        get_numbers(a, "ffn_sparsity", f, 0, 1, 0, &fs) ||
        get_numbers(a, "seed", f, 0, 2147483647, 1, &seeds))
        return QA_ERR;
    for (int i = 0; i < st.n; i++) /* a dense student is made by fine-tuning only */
        for (int j = 0; j < ft.n && !strcmp(st.v[i], "dense"); j++) {
            char key[64];
            snprintf(key, sizeof key, "axes.finetune[%d]", j);
            if (prune_spec_check_dense(base, ft.v[j], f, key, "prune.ft_steps")) return QA_ERR;
        }
    if ((hs.n > 0) != (fs.n > 0))
        return qa_error("%s: axes: head_sparsity and ffn_sparsity go together (their product)", f);
    double th[GRID_MAX_TARGETS], tf[GRID_MAX_TARGETS];
    int nt = 0;
    const cJSON *targets = cJSON_GetObjectItem(a, "targets");
    if (targets) {
        if (!cJSON_IsArray(targets) || cJSON_GetArraySize(targets) > GRID_MAX_TARGETS)
            return qa_error("%s: axes.targets: expected a list of at most %d "
                            "{\"heads\": h, \"ffn\": f}", f, GRID_MAX_TARGETS);
        for (int i = 0; i < cJSON_GetArraySize(targets); i++) {
            const cJSON *t = cJSON_GetArrayItem(targets, i), *h = cJSON_GetObjectItem(t, "heads");
            const cJSON *ff = cJSON_GetObjectItem(t, "ffn");
            static const char *const tk[] = {"heads", "ffn"};
            char path[64];
            snprintf(path, sizeof path, "axes.targets[%d]", i);
            if (check_keys(t, f, path, tk, 2)) return QA_ERR;
            if (!cJSON_IsNumber(h) || !cJSON_IsNumber(ff) || h->valuedouble < 0 ||
                h->valuedouble > 1 || ff->valuedouble < 0 || ff->valuedouble > 1)
                return qa_error("%s: %s: heads and ffn must both be numbers in [0, 1]", f, path);
            th[nt] = h->valuedouble;
            tf[nt++] = ff->valuedouble;
        }
    }
    for (int i = 0; i < hs.n; i++)
        for (int j = 0; j < fs.n; j++) {
            if (nt >= GRID_MAX_TARGETS)
                return qa_error("%s: axes: more than %d sparsity targets (targets plus "
                                "head_sparsity x ffn_sparsity)", f, GRID_MAX_TARGETS);
            th[nt] = hs.v[i];
            tf[nt++] = fs.v[j];
        }
    if (nt == 0) return qa_error("%s: axes: no sparsity targets (give targets or head_sparsity x ffn_sparsity)", f);
    if (seeds.n == 0) seeds.v[seeds.n++] = base->seed;
    /* every teacher x strategy x target x fine-tune mode x seed x precision, and gain once
     * per gain_steps value (the other strategies take the first: it does not change them) */
    int n_gain = 0;
    for (int i = 0; i < st.n; i++) n_gain += !strcmp(st.v[i], "gain");
    long long n_combos = (long long)g->n_teachers * st.n * nt * ft.n * seeds.n * pr.n;
    long long n_points = n_combos / st.n * (st.n - n_gain + (long long)n_gain * gsteps.n);
    if (n_points > GRID_MAX_POINTS)
        return qa_error("%s: axes: %lld points (teachers x strategies x targets x fine-tune "
                        "modes x seeds x precisions, gain x gain_steps), more than the %d "
                        "allowed", f, n_points, GRID_MAX_POINTS);
    g->points = malloc(sizeof *g->points * (size_t)n_points);
    if (!g->points) return qa_error("%s: out of memory for %lld points", f, n_points);
    for (int cp = 0; cp < (int)n_combos; cp++) {
        int q = cp % pr.n, c = cp / pr.n;
        int k = c % seeds.n, m = c / seeds.n % ft.n, t = c / seeds.n / ft.n % nt;
        int s = c / seeds.n / ft.n / nt % st.n, te = c / seeds.n / ft.n / nt / st.n;
        PruneSpec p = *base;
        snprintf(p.precision, SPEC_STR, "%s", pr.v[q]);
        snprintf(p.strategy, SPEC_STR, "%s", st.v[s]);
        snprintf(p.finetune, SPEC_STR, "%s", ft.v[m]);
        p.head_sparsity = th[t];
        p.ffn_sparsity = tf[t];
        p.seed = (int)seeds.v[k];
        for (int j = 0; j < (strcmp(p.strategy, "gain") ? 1 : gsteps.n); j++) {
            p.gain_steps = (int)gsteps.v[j];
            if (add_point(g, &p, te)) return QA_ERR;
        }
    }
    return QA_OK;
}

int grid_load(const char *path, Grid **out) {
    *out = NULL;
    char *text = NULL;
    size_t len;
    if (file_read(path, GRID_MAX_BYTES, &text, &len)) return QA_ERR;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    Grid *g = calloc(1, sizeof *g);
    int rc = QA_ERR;
    if (!g) {
        qa_error("%s: out of memory", path);
        goto cleanup;
    }
    snprintf(g->file, sizeof g->file, "%s", path);
    if (!root) {
        int line = 1;
        for (const char *p = text; end && p < end; p++) line += *p == '\n';
        qa_error("%s: invalid JSON near line %d", path, line);
        goto cleanup;
    }
    if (check_duplicates(root, path, "") || check_keys(root, path, "", TOP_KEYS, 9) ||
        get_string(root, "out", path, "", g->out, sizeof g->out, 1) || parse_data(root, g) ||
        parse_teacher(root, g) || parse_slurm(root, g))
        goto cleanup;
    g->bench = (LatencyOpts){1, 0, 3, 20};
    if (parse_bench_ort(root, g) ||
        apply(cJSON_GetObjectItem(root, "bench"), path, "bench", GRID_BENCH_FIELDS,
              GRID_BENCH_NFIELDS, &g->bench))
        goto cleanup;
    g->threads = 2;
    const cJSON *th = cJSON_GetObjectItem(root, "threads");
    if (th && (!cJSON_IsNumber(th) || th->valuedouble < 1 || th->valuedouble > 256 ||
               th->valuedouble != (int)th->valuedouble)) {
        qa_error("%s: threads: expected an integer in [1, 256]", path);
        goto cleanup;
    }
    if (th) g->threads = th->valueint;
    /* "export": {"onnx": true}: each point's model as ONNX once measured (not part of the
     * points' identity: it changes no result) */
    static const char *const export_keys[] = {"onnx"};
    const cJSON *ex = cJSON_GetObjectItem(root, "export");
    const cJSON *onnx = ex ? cJSON_GetObjectItem(ex, "onnx") : NULL;
    if (ex && check_keys(ex, path, "export", export_keys, 1)) goto cleanup;
    if (onnx && !cJSON_IsBool(onnx)) {
        qa_error("%s: export.onnx: expected true or false", path);
        goto cleanup;
    }
    g->export_onnx = cJSON_IsTrue(onnx);
    PruneSpec base;
    prune_spec_default(&base);
    const cJSON *pr = cJSON_GetObjectItem(root, "prune");
    if (pr) {
        static const char *const axis_keys[] = {"strategy", "head_sparsity", "ffn_sparsity",
                                                "finetune", "seed", "precision"};
        for (int i = 0; i < 6; i++)
            if (cJSON_GetObjectItem(pr, axis_keys[i])) {
                qa_error("%s: prune.%s: is an axis; set it under axes", path, axis_keys[i]);
                goto cleanup;
            }
    }
    if (apply(pr, path, "prune", PRUNE_FIELDS, PRUNE_NFIELDS, &base) ||
        prune_spec_check(&base, path) || parse_axes(root, g, &base))
        goto cleanup;
    *out = g;
    g = NULL;
    rc = QA_OK;
cleanup:
    grid_free(g);
    cJSON_Delete(root);
    free(text);
    return rc;
}

/* ---------------------------------------------------------------- identities */

/* Parses a settings table's canonical JSON (spec_to_json) into a new cJSON object. */
static cJSON *spec_object(const SpecField *f, int n, const void *dst) {
    char *js = spec_to_json(f, n, dst);
    cJSON *o = js ? cJSON_Parse(js) : NULL;
    free(js);
    return o;
}

/* The same as it enters an identity (spec_identity_json). */
static cJSON *spec_identity_object(const SpecField *f, int n, const void *dst) {
    char *js = spec_identity_json(f, n, dst);
    cJSON *o = js ? cJSON_Parse(js) : NULL;
    free(js);
    return o;
}

/* The last path component of dir ("a/b/" -> "b"), for a name. */
static void base_name(char *buf, size_t cap, const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t start = n;
    while (start > 0 && dir[start - 1] != '/') start--;
    snprintf(buf, cap, "%.*s", (int)(n - start), dir + start);
}

/* The data's description: {"synthetic": {...}} or {"train": ..., "dev": ..., "vocab": ...}.
 * with_paths 0 leaves the paths out (the identity holds contents, not places). */
static cJSON *data_object(const Grid *g, int with_paths) {
    cJSON *d = cJSON_CreateObject();
    if (g->synthetic) {
        cJSON *s = cJSON_AddObjectToObject(d, "synthetic");
        /* the generator's version too: the same settings give other data after a change */
        cJSON_AddNumberToObject(s, "version", SYNTH_VERSION);
        cJSON_AddNumberToObject(s, "seed", g->synth_seed);
        cJSON_AddNumberToObject(s, "train", g->synth_train);
        cJSON_AddNumberToObject(s, "dev", g->synth_dev);
        cJSON_AddNumberToObject(s, "lookup", g->synth_lookup);
        /* only when asked for: data without a BPE keeps the identity it had before */
        if (g->synth_bpe_merges) cJSON_AddNumberToObject(s, "bpe_merges", g->synth_bpe_merges);
        if (g->data.nq) { /* only then: SQuAD identities stay what they were */
            cJSON_AddStringToObject(s, "format", "nq");
            cJSON_AddNumberToObject(s, "nq_version", SYNTH_NQ_VERSION);
        }
    } else if (with_paths) {
        cJSON_AddStringToObject(d, "train", g->data.train);
        cJSON_AddStringToObject(d, "dev", g->data.dev);
        if (*g->data.vocab) cJSON_AddStringToObject(d, "vocab", g->data.vocab);
        if (*g->data.bpe_vocab) cJSON_AddStringToObject(d, "vocab_json", g->data.bpe_vocab);
        if (*g->data.bpe_merges) cJSON_AddStringToObject(d, "merges", g->data.bpe_merges);
    }
    if (g->data.nq) {
        if (!g->synthetic) cJSON_AddStringToObject(d, "format", "nq");
        cJSON_AddNumberToObject(d, "include_unknowns", g->data.nq_include_unknowns);
    }
    return d;
}

/* Hash of a cJSON value's canonical text (our objects are built in a fixed key order). */
static int hash_json(const cJSON *o, const char *what, char out[HASH_HEX]) {
    char *t = o ? cJSON_PrintUnformatted(o) : NULL;
    if (!t) return qa_error("%s: out of memory", what);
    hash_bytes(t, strlen(t), out);
    free(t);
    return QA_OK;
}

/* An NQ data file is checked before anything runs: its first example must read (a SQuAD
 * file given with format "nq", or a truncated one, fails here, naming the line and field). */
static int check_nq_file(const char *path) {
    NqReader *r = NULL;
    NqExample ex = {0};
    int got = nq_reader_open(path, NQ_READ_LABELS, &r) ? -1 : nq_reader_next(r, &ex);
    nq_example_clear(&ex);
    nq_reader_close(r);
    if (got == 0) return qa_error("%s: no examples (an NQ file is JSON lines)", path);
    return got == 1 ? QA_OK : QA_ERR;
}

static int resolve_data(Grid *g, HashCache *cache) {
    cJSON *id = data_object(g, 0);
    if (!g->synthetic) {
        const char *keys[5] = {"train", "dev", "vocab", "vocab_json", "merges"};
        const char *paths[5] = {g->data.train, g->data.dev, g->data.vocab, g->data.bpe_vocab,
                                g->data.bpe_merges};
        for (int i = 0; i < 5; i++) {
            char h[HASH_HEX];
            if (!*paths[i]) continue;
            if (identity_file(cache, paths[i], h) ||
                (i < 2 && g->data.nq && check_nq_file(paths[i]))) {
                char msg[1200];
                snprintf(msg, sizeof msg, "%s", qa_last_error());
                cJSON_Delete(id);
                return qa_error("%s: data.%s: %s", g->file, keys[i], msg);
            }
            cJSON_AddStringToObject(id, keys[i], h);
        }
        base_name(g->data_name, sizeof g->data_name, g->data.dev);
    } else {
        int n = snprintf(g->data_name, sizeof g->data_name, "synthetic%s-s%d-%d-%d%s",
                         g->data.nq ? "-nq" : "", g->synth_seed, g->synth_train, g->synth_dev,
                         g->synth_lookup ? "" : "-nolookup");
        if (g->synth_bpe_merges && n > 0 && (size_t)n < sizeof g->data_name)
            snprintf(g->data_name + n, sizeof g->data_name - (size_t)n, "-bpe%d",
                     g->synth_bpe_merges);
    }
    int rc = hash_json(id, g->file, g->data_hash);
    cJSON_Delete(id);
    return rc;
}

static int resolve_teachers(Grid *g, HashCache *cache) {
    if (g->teacher_checkpoint) {
        for (int k = 0; k < g->n_teachers; k++) {
            GridTeacher *t = &g->teachers[k];
            char cfg[4200];
            BertConfig bc;
            snprintf(cfg, sizeof cfg, "%s/config.json", t->dir);
            if (identity_checkpoint(cache, t->dir, t->hash) || checkpoint_read_config(cfg, &bc)) {
                char msg[1200];
                snprintf(msg, sizeof msg, "%s", qa_last_error());
                return qa_error("%s: teacher.checkpoint: %s", g->file, msg);
            }
            base_name(t->name, sizeof t->name, t->dir);
            /* the windows it was trained with (or run_squad's) and the timed inputs must fit
             * its position embeddings */
            FeatureOpts fo;
            int positions = bc.max_position - bc.position_offset;
            if (model_feature_opts(t->dir, &fo) ||
                window_check(&fo, window_specials(bc.family), g->file,
                             "teacher.checkpoint (its qaprune.json)"))
                return QA_ERR;
            if (fo.max_seq_len > positions)
                return qa_error("%s: teacher.checkpoint: %s: windows of %d tokens, more than its "
                                "%d positions", g->file, t->dir, fo.max_seq_len, positions);
            if (g->bench.seq > positions)
                return qa_error("%s: bench.seq: %d is more than the %d positions of teacher %s",
                                g->file, g->bench.seq, positions, t->dir);
        }
        return QA_OK;
    }
    if (g->bench.seq > g->teacher.max_seq_len)
        return qa_error("%s: bench.seq: %d is more than the teacher's max_seq_len %d (its "
                        "positions)", g->file, g->bench.seq, g->teacher.max_seq_len);
    /* trained here: its settings and its data say what it is, before it exists */
    cJSON *id = cJSON_CreateObject();
    cJSON_AddStringToObject(id, "kind", "qaprune trained teacher v1");
    char *spec_text = teacher_identity_json(&g->teacher); /* no family for BERT: as before */
    cJSON *spec = spec_text ? cJSON_Parse(spec_text) : NULL;
    free(spec_text);
    if (spec) cJSON_AddItemToObject(id, "settings", spec);
    cJSON_AddStringToObject(id, "data", g->data_hash);
    GridTeacher *t = &g->teachers[0];
    int rc = spec ? hash_json(id, g->file, t->hash) : qa_error("%s: out of memory", g->file);
    cJSON_Delete(id);
    if (rc) return QA_ERR;
    snprintf(t->name, sizeof t->name, "trained-%.8s", t->hash);
    if ((size_t)snprintf(t->dir, sizeof t->dir, "%s/teacher-%.16s", g->teacher_cache, t->hash) >=
        sizeof t->dir)
        return qa_error("%s: teacher.cache: path too long", g->file);
    return QA_OK;
}

/* A point's identity object (no paths) and its configuration for humans (with paths). */
static int point_identity(Grid *g, GridPoint *p) {
    const GridTeacher *t = &g->teachers[p->teacher];
    cJSON *prune = spec_object(PRUNE_FIELDS, PRUNE_NFIELDS, &p->spec);
    cJSON *prune_id = spec_identity_object(PRUNE_FIELDS, PRUNE_NFIELDS, &p->spec);
    cJSON *bench = spec_object(GRID_BENCH_FIELDS, GRID_BENCH_NFIELDS, &g->bench);
    cJSON *id = cJSON_CreateObject(), *cfg = NULL;
    int rc = QA_ERR;
    if (!prune || !prune_id || !bench || !id) goto oom;
    cJSON_AddStringToObject(id, "kind", "qaprune point v2");
    cJSON_AddStringToObject(id, "teacher", t->hash);
    cJSON_AddStringToObject(id, "data", g->data_hash);
    cJSON_AddItemReferenceToObject(id, "prune", prune_id);
    cJSON_AddItemReferenceToObject(id, "bench", bench);
    if (hash_json(id, g->file, p->hash)) goto cleanup;

    cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "identity", p->hash);
    cJSON *te = cJSON_AddObjectToObject(cfg, "teacher");
    cJSON_AddStringToObject(te, "name", t->name);
    cJSON_AddStringToObject(te, g->teacher_checkpoint ? "checkpoint" : "cache", t->dir);
    cJSON_AddStringToObject(te, "hash", t->hash);
    if (!g->teacher_checkpoint) {
        cJSON *ts = spec_object(TEACHER_FIELDS, TEACHER_NFIELDS, &g->teacher);
        if (!ts) goto oom;
        cJSON_AddItemToObject(te, "train", ts);
    }
    cJSON *da = data_object(g, 1);
    cJSON_AddStringToObject(da, "name", g->data_name);
    cJSON_AddStringToObject(da, "hash", g->data_hash);
    cJSON_AddItemToObject(cfg, "data", da);
    cJSON_AddItemReferenceToObject(cfg, "prune", prune);
    cJSON_AddItemReferenceToObject(cfg, "bench", bench);
    cJSON_AddNumberToObject(cfg, "threads", g->threads);
    free(p->config_json);
    p->config_json = cJSON_PrintUnformatted(cfg);
    if (!p->config_json) goto oom;
    rc = QA_OK;
    goto cleanup;
oom:
    qa_error("%s: out of memory", g->file);
cleanup:
    cJSON_Delete(id);
    cJSON_Delete(cfg);
    cJSON_Delete(prune);
    cJSON_Delete(prune_id);
    cJSON_Delete(bench);
    return rc;
}

static int by_hash(const void *a, const void *b) {
    const GridPoint *x = *(GridPoint *const *)a, *y = *(GridPoint *const *)b;
    int c = strcmp(x->hash, y->hash);
    return c ? c : (x < y ? -1 : x > y); /* the first listed copy sorts first */
}

/* Drops the later copies of points listed twice, keeping grid order: O(n log n). */
static int drop_duplicates(Grid *g) {
    if (g->n_points < 2) return QA_OK;
    GridPoint **order = malloc(sizeof *order * (size_t)g->n_points);
    if (!order) return qa_error("%s: out of memory", g->file);
    for (int i = 0; i < g->n_points; i++) order[i] = &g->points[i];
    qsort(order, (size_t)g->n_points, sizeof *order, by_hash);
    for (int i = 1; i < g->n_points; i++)
        if (!strcmp(order[i]->hash, order[i - 1]->hash)) {
            free(order[i]->config_json);
            order[i]->config_json = NULL; /* marks the copy */
        }
    free(order);
    int n = 0;
    for (int i = 0; i < g->n_points; i++)
        if (g->points[i].config_json) g->points[n++] = g->points[i];
    g->n_points = n;
    return QA_OK;
}

int grid_resolve(Grid *g, HashCache *cache) {
    if (resolve_data(g, cache) || resolve_teachers(g, cache)) return QA_ERR;
    for (int i = 0; i < g->n_points; i++)
        if (point_identity(g, &g->points[i])) return QA_ERR;
    if (drop_duplicates(g)) return QA_ERR;
    g->resolved = 1;
    return QA_OK;
}

void grid_free(Grid *g) {
    if (!g) return;
    for (int i = 0; i < g->n_points; i++) free(g->points[i].config_json);
    free(g->points);
    free(g);
}
