/* tests/test_grid.c: grid parsing, point identity by content (sweep/grid.h,
 * sweep/identity.h) without running a sweep:
 *   - a grid's points: the product of its axes, a point listed twice kept once;
 *   - identity: an edited data file or teacher file gives new point identities; the same
 *     bytes at another path give the same identities; a synthetic generator setting changes
 *     them; paths never enter the identity but do enter config_json, which is valid JSON
 *     even for a path holding a double quote;
 *   - a BERT teacher's identity did not change when teachers got a family: the shipped grids'
 *     teacher and data identities and teacher_hash on fixed files equal the values before;
 *     family roberta and data.synthetic.bpe_merges give new ones, and a roberta teacher
 *     without a BPE is refused naming data.synthetic.bpe_merges;
 *   - the file-hash cache: a database remembers hashes, an edited file is hashed again.
 * The point state machine is tests/test_point_states.c. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/error.h"
#include "core/qa/synth.h"
#include "core/util/fileio.h"
#include "db/results.h"
#include "sweep/grid.h"
#include "sweep/identity.h"
#include "sweep/point.h"
#include "tests/test.h"

static char dir[64];

static void copy_file(const char *from, const char *to) {
    char *buf = NULL;
    size_t n = 0;
    CHECK(file_read(from, 0, &buf, &n) == QA_OK && file_write_atomic(to, buf, n) == QA_OK,
          "copy %s to %s: %s", from, to, qa_last_error());
    free(buf);
}

static void copy_ckpt(const char *from, const char *to) {
    static const char *const files[] = {"config.json", "model.safetensors", "vocab.txt"};
    char a[600], b[600];
    CHECK(file_mkdirs(to) == QA_OK, "mkdir %s", to);
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof a, "%s/%s", from, files[i]);
        snprintf(b, sizeof b, "%s/%s", to, files[i]);
        copy_file(a, b);
    }
    /* the fixture has 24 positions: its windows must fit them (run_squad's 384 would not) */
    static const char meta[] =
        "{\"spec\": {\"max_seq_len\": 24, \"doc_stride\": 8, \"max_query_len\": 8}}";
    snprintf(b, sizeof b, "%s/qaprune.json", to);
    CHECK(file_write_atomic(b, meta, strlen(meta)) == QA_OK, "write %s", b);
}

/* Writes a grid over SQuAD-format files in data_dir and a checkpoint teacher; n_heads
 * targets 0.25 and 0.5 twice over (the repeat must collapse). */
static void write_grid(const char *path, const char *data_dir, const char *teacher) {
    cJSON *g = cJSON_CreateObject();
    char p[600];
    snprintf(p, sizeof p, "%s/out", dir);
    cJSON_AddStringToObject(g, "out", p);
    cJSON *d = cJSON_AddObjectToObject(g, "data");
    snprintf(p, sizeof p, "%s/train.json", data_dir);
    cJSON_AddStringToObject(d, "train", p);
    snprintf(p, sizeof p, "%s/dev.json", data_dir);
    cJSON_AddStringToObject(d, "dev", p);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(g, "teacher"), "checkpoint", teacher);
    cJSON *a = cJSON_AddObjectToObject(g, "axes");
    const char *st[] = {"random", "gain"}, *ft[] = {"none"};
    cJSON_AddItemToObject(a, "strategy", cJSON_CreateStringArray(st, 2));
    cJSON_AddItemToObject(a, "finetune", cJSON_CreateStringArray(ft, 1));
    double hs[] = {0.25, 0.5, 0.25}, fs[] = {0.5};
    cJSON_AddItemToObject(a, "head_sparsity", cJSON_CreateDoubleArray(hs, 3));
    cJSON_AddItemToObject(a, "ffn_sparsity", cJSON_CreateDoubleArray(fs, 1));
    char *text = cJSON_Print(g);
    CHECK(file_write_atomic(path, text, strlen(text)) == QA_OK, "write %s", path);
    free(text);
    cJSON_Delete(g);
}

/* Loads and resolves path; the points' identities (sorted copy) into ids. */
static Grid *load(const char *path, HashCache *c) {
    Grid *g = NULL;
    if (grid_load(path, &g) || grid_resolve(g, c)) {
        CHECK(0, "load %s: %s", path, qa_last_error());
        grid_free(g);
        return NULL;
    }
    return g;
}

/* 1 when both grids have the same point identities in the same order. */
static int same_points(const Grid *a, const Grid *b) {
    if (!a || !b || a->n_points != b->n_points) return 0;
    for (int i = 0; i < a->n_points; i++)
        if (strcmp(a->points[i].hash, b->points[i].hash)) return 0;
    return 1;
}

/* 1 when no point identity of a appears in b. */
static int disjoint_points(const Grid *a, const Grid *b) {
    if (!a || !b) return 0;
    for (int i = 0; i < a->n_points; i++)
        for (int j = 0; j < b->n_points; j++)
            if (!strcmp(a->points[i].hash, b->points[j].hash)) return 0;
    return 1;
}

static void test_identity(void) {
    char data1[300], data2[300], quoted[300], t1[300], t2[300], grid[300], p[600], q[600];
    snprintf(data1, sizeof data1, "%s/data1", dir);
    snprintf(data2, sizeof data2, "%s/data2", dir);
    snprintf(quoted, sizeof quoted, "%s/da\"ta", dir);
    snprintf(t1, sizeof t1, "%s/teacher1", dir);
    snprintf(t2, sizeof t2, "%s/teacher2", dir);
    snprintf(grid, sizeof grid, "%s/grid.json", dir);
    CHECK(synth_generate(data1, 3, 40, 10, 1) == QA_OK, "gen-data: %s", qa_last_error());
    CHECK(file_mkdirs(data2) == QA_OK && file_mkdirs(quoted) == QA_OK, "mkdir");
    for (int i = 0; i < 2; i++) {
        const char *f = i ? "dev.json" : "train.json";
        snprintf(p, sizeof p, "%s/%s", data1, f);
        snprintf(q, sizeof q, "%s/%s", data2, f);
        copy_file(p, q);
        snprintf(q, sizeof q, "%s/%s", quoted, f);
        copy_file(p, q);
    }
    copy_ckpt("tests/data/torch_ckpt", t1);
    copy_ckpt("tests/data/torch_ckpt", t2);

    HashCache *c = hash_cache_new();
    write_grid(grid, data1, t1);
    Grid *a = load(grid, c);
    CHECK(a && a->n_points == 4, "2 strategies x 2 distinct targets = 4 points (%d)",
          a ? a->n_points : -1);
    CHECK(a && strlen(a->points[0].hash) == 32 && strlen(a->data_hash) == 32 &&
          strlen(a->teachers[0].hash) == 32, "identities are 128-bit hex");
    CHECK(a && !strcmp(a->teachers[0].name, "teacher1") && !strcmp(a->data_name, "dev.json"),
          "names: teacher %s, data %s", a ? a->teachers[0].name : "", a ? a->data_name : "");

    /* the same bytes elsewhere: the same points */
    write_grid(grid, data2, t2);
    Grid *b = load(grid, c);
    CHECK(same_points(a, b), "same contents at other paths give the same identities");
    CHECK(b && a && strcmp(a->points[0].config_json, b->points[0].config_json),
          "config_json records the paths");

    /* a path with a double quote: config_json is still JSON */
    write_grid(grid, quoted, t1);
    Grid *qg = load(grid, c);
    cJSON *parsed = qg ? cJSON_Parse(qg->points[0].config_json) : NULL;
    const cJSON *train = cJSON_GetObjectItem(cJSON_GetObjectItem(parsed, "data"), "train");
    CHECK(cJSON_IsString(train) && strstr(train->valuestring, "da\"ta"),
          "config_json parses and holds the quoted path");
    CHECK(same_points(a, qg), "and the identity is the same");
    cJSON_Delete(parsed);

    /* edit dev.json in place: new identities */
    snprintf(p, sizeof p, "%s/dev.json", data2);
    snprintf(q, sizeof q, "%s/train.json", data2);
    copy_file(q, p); /* other contents (the train split) */
    write_grid(grid, data2, t2);
    Grid *e = load(grid, c);
    CHECK(disjoint_points(a, e) && e && strcmp(e->data_hash, a->data_hash),
          "an edited dev.json gives new identities");

    /* an edited teacher file: new identities */
    snprintf(p, sizeof p, "%s/vocab.txt", t2);
    FILE *f = fopen(p, "a");
    if (f) fputs("extra\n", f), fclose(f);
    write_grid(grid, data1, t2);
    Grid *t = load(grid, c);
    CHECK(disjoint_points(a, t) && t && !strcmp(t->data_hash, a->data_hash) &&
          strcmp(t->teachers[0].hash, a->teachers[0].hash),
          "an edited teacher vocab gives new identities, same data identity");
    /* a tokenizer file that appears: new identities too */
    snprintf(p, sizeof p, "%s/tokenizer_config.json", t1);
    file_write_atomic(p, "{}", 2);
    write_grid(grid, data1, t1);
    Grid *t3 = load(grid, c);
    CHECK(disjoint_points(a, t3), "a new tokenizer_config.json gives new identities");

    /* windows that do not fit the checkpoint's positions are refused up front */
    snprintf(p, sizeof p, "%s/qaprune.json", t1);
    static const char big[] =
        "{\"spec\": {\"max_seq_len\": 64, \"doc_stride\": 16, \"max_query_len\": 16}}";
    file_write_atomic(p, big, strlen(big));
    write_grid(grid, data1, t1);
    Grid *w = NULL;
    CHECK(grid_load(grid, &w) == QA_OK && grid_resolve(w, c) == QA_ERR &&
          strstr(qa_last_error(), "24 positions"), "windows beyond positions: %s",
          qa_last_error());
    grid_free(w);

    /* a missing input is an error naming the field */
    snprintf(p, sizeof p, "%s/nowhere", dir);
    write_grid(grid, p, t1);
    Grid *m = NULL;
    CHECK(grid_load(grid, &m) == QA_OK && grid_resolve(m, c) == QA_ERR &&
          strstr(qa_last_error(), "data.train") && strstr(qa_last_error(), "nowhere"),
          "missing data: %s", qa_last_error());
    grid_free(m);
    write_grid(grid, data1, p);
    CHECK(grid_load(grid, &m) == QA_OK && grid_resolve(m, c) == QA_ERR &&
          strstr(qa_last_error(), "teacher.checkpoint"), "missing teacher: %s", qa_last_error());
    grid_free(m);

    grid_free(a);
    grid_free(b);
    grid_free(qg);
    grid_free(e);
    grid_free(t);
    grid_free(t3);
    hash_cache_free(c);
}

/* Synthetic data: the generator's settings are the data's identity. */
static void test_synthetic_identity(void) {
    char grid[300], text[1024];
    snprintf(grid, sizeof grid, "%s/synth.json", dir);
    const char *fmt = "{\"out\": \"%s/o\", \"data\": {\"synthetic\": {\"seed\": %d}},"
                      " \"axes\": {\"strategy\": [\"l0\"], \"targets\": [{\"heads\": 0.5,"
                      " \"ffn\": 0.5}], \"finetune\": [\"distill\"]}}";
    char ids[2][HASH_HEX], tdir[2][4096];
    for (int k = 0; k < 2; k++) {
        snprintf(text, sizeof text, fmt, dir, k + 1);
        file_write_atomic(grid, text, strlen(text));
        HashCache *c = hash_cache_new();
        Grid *g = load(grid, c);
        snprintf(ids[k], HASH_HEX, "%s", g ? g->points[0].hash : "");
        snprintf(tdir[k], sizeof tdir[k], "%s", g ? g->teachers[0].dir : "");
        CHECK(g && !strncmp(g->teachers[0].name, "trained-", 8), "a trained teacher's name");
        grid_free(g);
        hash_cache_free(c);
    }
    CHECK(strcmp(ids[0], ids[1]) && strcmp(tdir[0], tdir[1]),
          "another generator seed: another point and teacher cache directory");
}

/* The identities of BERT teachers from before teachers had a family (the values below were
 * printed by the same calls built from main at af527e1, before sweep/teacher.c knew
 * families): a BERT teacher must keep them, so that caches of trained teachers and the
 * points' results stay valid. The default teacher's steps went from 4600 to 9000 since:
 * configs/grid.json with "steps": 4600 stated is the grid of af527e1. */
static void test_bert_identity_unchanged(void) {
    char grid4600[300];
    snprintf(grid4600, sizeof grid4600, "%s/grid-4600.json", dir);
    char *src = NULL;
    size_t len = 0;
    CHECK(file_read("configs/grid.json", 1 << 20, &src, &len) == QA_OK, "read configs/grid.json");
    const char *key = "\"teacher\": {";
    char *at = src ? strstr(src, key) : NULL;
    CHECK(at != NULL, "configs/grid.json has %s", key);
    if (at) {
        FILE *f = fopen(grid4600, "w");
        CHECK(f != NULL, "write %s", grid4600);
        if (f) {
            size_t head = (size_t)(at - src) + strlen(key);
            fprintf(f, "%.*s\"train\": {\"steps\": 4600}, %s", (int)head, src, src + head);
            fclose(f);
        }
    }
    free(src);
    static const struct {
        const char *grid, *teacher, *data;
    } want[] = {
        {NULL, "1e4035b1fc489cef47212f987f47f4d8", "d0d40be57c8213dd2607f7f928ecb6af"},
        {"configs/ci.json", "a5009b92ade132b24581d8d92ea15bb0", "63e55333bf13d165e2dac378cae1093d"},
    };
    for (int i = 0; i < 2; i++) {
        const char *grid = want[i].grid ? want[i].grid : grid4600;
        HashCache *c = hash_cache_new();
        Grid *g = load(grid, c);
        CHECK(g && !strcmp(g->teachers[0].hash, want[i].teacher),
              "%s: BERT teacher identity %s, was %s", grid, g ? g->teachers[0].hash : "?",
              want[i].teacher);
        CHECK(g && !strcmp(g->data_hash, want[i].data), "%s: data identity %s, was %s",
              grid, g ? g->data_hash : "?", want[i].data);
        /* a point's identity too, through settings added since (dense_steps): the gain
         * h0.5 f0.7 distill point of configs/grid.json, its config_hash in the results.db
         * that `make run` wrote at af527e1 */
        int found = 0;
        for (int k = 0; g && i == 0 && k < g->n_points; k++) {
            const PruneSpec *ps = &g->points[k].spec;
            if (strcmp(ps->strategy, "gain") || ps->head_sparsity != 0.5 ||
                strcmp(ps->finetune, "distill"))
                continue;
            found = 1;
            CHECK(!strcmp(g->points[k].hash, "5914f16d427e1a9e76bbd5c0d8ba4235"),
                  "configs/grid.json: point gain h0.5 distill identity %s, was "
                  "5914f16d427e1a9e76bbd5c0d8ba4235", g->points[k].hash);
        }
        CHECK(i != 0 || found, "configs/grid.json: no gain h0.5 distill point");
        grid_free(g);
        hash_cache_free(c);
    }
    /* teacher_hash (the hash a cached teacher's qaprune.json holds) of the default settings
     * on three fixed files */
    char d[300], path[400];
    snprintf(d, sizeof d, "%s/fixed", dir);
    static const char *const names[3] = {"train.json", "dev.json", "vocab.txt"};
    static const char *const bytes[3] = {"train bytes\n", "dev bytes\n", "[PAD]\n"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", d, names[i]);
        CHECK(file_mkdirs(d) == QA_OK && file_write_atomic(path, bytes[i], strlen(bytes[i])) == QA_OK,
              "write %s", path);
    }
    DataPaths data = {0};
    TeacherSpec spec;
    teacher_spec_default(&spec);
    spec.steps = 4600; /* the default of af527e1 */
    char h[HASH_HEX] = "", hr[HASH_HEX] = "";
    CHECK(data_paths_in_dir(&data, d) == QA_OK && teacher_hash(&spec, &data, h) == QA_OK &&
              !strcmp(h, "e678913ed04146f0cd1daba63155fd88"),
          "teacher_hash of a BERT teacher unchanged: %s", h);
    /* train_precision fp32 (the default) is left out of the identity; bf16 is another one */
    snprintf(spec.train_precision, SPEC_STR, "bf16");
    CHECK(teacher_hash(&spec, &data, hr) == QA_OK && strcmp(hr, h),
          "train_precision bf16: another teacher hash");
    snprintf(spec.train_precision, SPEC_STR, "fp32");
    /* a roberta teacher hashes its BPE files: missing ones are named, present ones count */
    snprintf(spec.family, SPEC_STR, "roberta");
    CHECK(teacher_hash(&spec, &data, hr) == QA_ERR && strstr(qa_last_error(), "vocab.json: missing"),
          "a roberta teacher without vocab.json: %s", qa_last_error());
    static const char *const bpe[2][2] = {{"vocab.json", "{\"<s>\": 0}"}, {"merges.txt", "#version: 0.2\n"}};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", d, bpe[i][0]);
        file_write_atomic(path, bpe[i][1], strlen(bpe[i][1]));
    }
    char hr2[HASH_HEX] = "";
    CHECK(teacher_hash(&spec, &data, hr) == QA_OK && strcmp(hr, h), "family roberta: another hash");
    static const char edited[] = "#version: 0.2\na b\n";
    file_write_atomic(path, edited, strlen(edited));
    CHECK(teacher_hash(&spec, &data, hr2) == QA_OK && strcmp(hr, hr2),
          "an edited merges.txt: another roberta teacher hash");

    /* the grid: family roberta and a BPE in the data are new identities */
    char grid[300], text[1024];
    snprintf(grid, sizeof grid, "%s/roberta.json", dir);
    const char *fmt = "{\"out\": \"%s/o\", \"data\": {\"synthetic\": {\"seed\": 1%s}},"
                      " \"teacher\": {\"train\": {\"steps\": 4600, \"family\": \"%s\"}},"
                      " \"axes\": {\"strategy\": [\"l0\"], \"targets\": [{\"heads\": 0.5,"
                      " \"ffn\": 0.5}], \"finetune\": [\"distill\"]}}";
    static const struct {
        const char *bpe, *family;
    } v[3] = {{"", "bert"}, {", \"bpe_merges\": 300", "bert"}, {", \"bpe_merges\": 300", "roberta"}};
    char th[3][HASH_HEX] = {"", "", ""}, dh[3][HASH_HEX] = {"", "", ""};
    for (int k = 0; k < 3; k++) {
        snprintf(text, sizeof text, fmt, dir, v[k].bpe, v[k].family);
        file_write_atomic(grid, text, strlen(text));
        HashCache *c = hash_cache_new();
        Grid *g = load(grid, c);
        if (g) {
            snprintf(th[k], HASH_HEX, "%s", g->teachers[0].hash);
            snprintf(dh[k], HASH_HEX, "%s", g->data_hash);
        }
        grid_free(g);
        hash_cache_free(c);
    }
    CHECK(*th[0] && !strcmp(th[0], "1e4035b1fc489cef47212f987f47f4d8"),
          "\"family\": \"bert\" given: af527e1's default teacher's identity (%s)", th[0]);
    CHECK(*dh[1] && strcmp(dh[0], dh[1]) && strcmp(th[0], th[1]),
          "bpe_merges: another data and teacher identity");
    CHECK(*th[2] && strcmp(th[1], th[2]) && !strcmp(dh[1], dh[2]),
          "family roberta: another teacher identity on the same data");
    snprintf(text, sizeof text, fmt, dir, "", "roberta");
    file_write_atomic(grid, text, strlen(text));
    Grid *g = NULL;
    CHECK(grid_load(grid, &g) == QA_ERR && strstr(qa_last_error(), "data.synthetic.bpe_merges") &&
              strstr(qa_last_error(), "teacher.train.family"),
          "a roberta teacher without a BPE names the grid field: %s", qa_last_error());
    grid_free(g);
}

/* The cache: hashes survive in the database and edited files are hashed again. */
static void test_cache(void) {
    char db_path[300], file[300], h1[HASH_HEX], h2[HASH_HEX], h3[HASH_HEX];
    snprintf(db_path, sizeof db_path, "%s/cache.db", dir);
    snprintf(file, sizeof file, "%s/f.txt", dir);
    file_write_atomic(file, "one", 3);
    Db *db = NULL;
    CHECK(db_open(db_path, &db) == QA_OK, "open: %s", qa_last_error());
    HashCache *c = hash_cache_new();
    CHECK(identity_file(c, file, h1) == QA_OK && hash_cache_attach(c, db) == QA_OK,
          "hash, then attach");
    hash_cache_free(c);
    char abs[4096], got[64];
    int found = 0;
    struct stat sb;
    stat(file, &sb);
    CHECK(realpath(file, abs) &&
          db_file_hash_get(db, abs, sb.st_size,
                           (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec,
                           (long long)sb.st_ino, got, sizeof got, &found) == QA_OK &&
          found && !strcmp(got, h1), "attaching records the hash in the database");
    /* a planted row for the same stat proves the next process reads the database */
    db_file_hash_put(db, abs, sb.st_size,
                     (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec,
                     (long long)sb.st_ino, "0123456789abcdef0123456789abcdef");
    c = hash_cache_new();
    hash_cache_attach(c, db);
    CHECK(identity_file(c, file, h2) == QA_OK && !strcmp(h2, "0123456789abcdef0123456789abcdef"),
          "an unchanged file is not read again (%s)", h2);
    usleep(2000);
    file_write_atomic(file, "two", 3);
    CHECK(identity_file(c, file, h3) == QA_OK && strcmp(h3, h1) && strcmp(h3, h2),
          "an edited file is hashed again");
    char direct[HASH_HEX];
    hash_bytes("two", 3, direct);
    CHECK(!strcmp(h3, direct), "the file hash is the hash of its bytes");
    hash_cache_free(c);
    db_close(db);
}

static int try_grid_points(const char *body, int resolve, Grid **out);

static int try_grid(const char *body, int resolve) { return try_grid_points(body, resolve, NULL); }

/* try_grid keeping the loaded grid in *out (when not NULL and it loaded; free with
 * grid_free). */
static int try_grid_points(const char *body, int resolve, Grid **out) {
    char path[300], *text = NULL;
    snprintf(path, sizeof path, "%s/v.json", dir);
    size_t n = strlen(body) + 256;
    text = malloc(n);
    snprintf(text, n, "{\"out\": \"%s/vout\", %s}", dir, body);
    file_write_atomic(path, text, strlen(text));
    free(text);
    Grid *g = NULL;
    int rc = grid_load(path, &g);
    if (rc == QA_OK && resolve) {
        HashCache *c = hash_cache_new();
        rc = grid_resolve(g, c);
        hash_cache_free(c);
    }
    if (out && rc == QA_OK) *out = g;
    else grid_free(g);
    return rc;
}

#define SYNTH "\"data\": {\"synthetic\": {\"seed\": 1}}"
#define AXES1 "\"axes\": {\"strategy\": [\"gain\"], \"targets\": [{\"heads\": 0.5, \"ffn\": 0.5}], \"finetune\": [\"none\"]}"

/* Values that used to pass validation and fail every point at run time are errors at load,
 * naming the JSON path. */
static void test_validation(void) {
    static const struct {
        const char *body, *expect;
        int resolve;
    } bad[] = {
        {SYNTH ", \"teacher\": {\"train\": {\"init\": \"zeros\"}}, " AXES1, "teacher.train.init", 0},
        {SYNTH ", \"teacher\": {\"train\": {\"pos_init\": \"learned\"}}, " AXES1, "teacher.train.pos_init", 0},
        {SYNTH ", \"teacher\": {\"train\": {\"family\": \"gpt2\"}}, " AXES1, "teacher.train.family", 0},
        {SYNTH ", \"teacher\": {\"train\": {\"train_precision\": \"fp16\"}}, " AXES1, "teacher.train.train_precision: 'fp16'", 0},
        {SYNTH ", \"prune\": {\"train_precision\": \"int8\"}, " AXES1, "train_precision: 'int8'", 0},
        {SYNTH ", \"teacher\": {\"train\": {\"heads\": 5, \"hidden\": 32}}, " AXES1, "teacher.train.hidden", 0},
        {SYNTH ", \"teacher\": {\"train\": {\"max_query_len\": 1000, \"max_seq_len\": 128}}, " AXES1, "teacher.train.max_query_len", 0},
        {SYNTH ", \"teacher\": {\"train\": {\"doc_stride\": 500}}, " AXES1, "teacher.train.doc_stride", 0},
        {SYNTH ", \"bench\": {\"seq\": 4096}, " AXES1, "bench.seq", 1},
        {SYNTH ", " AXES1 ", \"threads\": 1, \"threads\": 2", "threads: given twice", 0},
        {SYNTH ", \"prune\": {\"ft_steps\": 1, \"ft_steps\": 2}, " AXES1, "prune.ft_steps: given twice", 0},
        {"\"data\": {\"synthetic\": {\"seed\": 1, \"seed\": 2}}, " AXES1, "data.synthetic.seed: given twice", 0},
        /* a dense student is only made by fine-tuning: none is a grid error */
        {SYNTH ", \"axes\": {\"strategy\": [\"gain\", \"dense\"], \"finetune\": [\"distill\", "
         "\"none\"], \"targets\": [{\"heads\": 0.5, \"ffn\": 0.5}]}",
         "axes.finetune[1]: 'none' with strategy 'dense'", 0},
        {SYNTH ", \"prune\": {\"ft_steps\": 0}, \"axes\": {\"strategy\": [\"dense\"], "
         "\"finetune\": [\"distill\"], \"targets\": [{\"heads\": 0.5, \"ffn\": 0.5}]}",
         "prune.ft_steps: 0 with strategy 'dense'", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(try_grid(bad[i].body, bad[i].resolve) == QA_ERR &&
                  strstr(qa_last_error(), bad[i].expect),
              "refused naming %s: %s", bad[i].expect, qa_last_error());
    CHECK(try_grid(SYNTH ", " AXES1, 1) == QA_OK, "the base grid is valid: %s", qa_last_error());
    CHECK(try_grid(SYNTH ", \"teacher\": {\"train\": {\"train_precision\": \"bf16\"}}, "
                   "\"prune\": {\"train_precision\": \"bf16\"}, " AXES1, 1) == QA_OK,
          "train_precision bf16 for the teacher and the points: %s", qa_last_error());
    CHECK(try_grid(SYNTH ", \"prune\": {\"ft_steps\": 0, \"dense_steps\": 50}, \"axes\": "
                   "{\"strategy\": [\"dense\"], \"finetune\": [\"standard\", \"distill\"], "
                   "\"targets\": [{\"heads\": 0.5, \"ffn\": 0.5}]}", 1) == QA_OK,
          "dense with standard and distill, trained for dense_steps: %s", qa_last_error());

    /* axes.gain_steps: gain once per value (one-shot and iterative side by side), the other
     * strategies once; recorded as gain and gain-iter4 */
    Grid *gg = NULL;
    CHECK(try_grid_points(SYNTH ", \"axes\": {\"strategy\": [\"random\", \"gain\", \"l0\"], "
                          "\"gain_steps\": [1, 4], \"targets\": [{\"heads\": 0.5, \"ffn\": 0.5}], "
                          "\"finetune\": [\"none\", \"distill\"], \"seed\": [1, 2, 3]}", 1,
                          &gg) == QA_OK, "gain_steps axis: %s", qa_last_error());
    int by_kind[4] = {0}; /* random, gain one-shot, gain-iter4, l0 */
    for (int i = 0; gg && i < gg->n_points; i++) {
        char label[64];
        prune_spec_label(&gg->points[i].spec, label, sizeof label);
        by_kind[0] += !strcmp(label, "random") && gg->points[i].spec.gain_steps == 1;
        by_kind[1] += !strcmp(label, "gain") && gg->points[i].spec.gain_steps == 1;
        by_kind[2] += !strcmp(label, "gain-iter4") && gg->points[i].spec.gain_steps == 4;
        by_kind[3] += !strcmp(label, "l0");
    }
    CHECK(gg && gg->n_points == 24 && by_kind[0] == 6 && by_kind[1] == 6 && by_kind[2] == 6 &&
              by_kind[3] == 6,
          "4 methods x 2 modes x 3 seeds = 24 points (%d: random %d, gain %d, gain-iter4 %d, "
          "l0 %d)", gg ? gg->n_points : -1, by_kind[0], by_kind[1], by_kind[2], by_kind[3]);
    grid_free(gg);
    CHECK(try_grid(SYNTH ", \"prune\": {\"gain_steps\": 2}, \"axes\": {\"strategy\": [\"gain\"], "
                   "\"gain_steps\": [1, 4], \"targets\": [{\"heads\": 0.5, \"ffn\": 0.5}], "
                   "\"finetune\": [\"none\"]}", 0) == QA_ERR &&
              strstr(qa_last_error(), "prune.gain_steps: also an axis"),
          "gain_steps both under prune and axes is refused: %s", qa_last_error());

    /* 128 targets are allowed, 129 are not */
    char body[16384];
    for (int n = 128; n <= 129; n++) {
        int k = snprintf(body, sizeof body, SYNTH ", \"axes\": {\"strategy\": [\"gain\"], "
                                                  "\"finetune\": [\"none\"], \"targets\": [");
        for (int i = 0; i < n; i++)
            k += snprintf(body + k, sizeof body - k, "%s{\"heads\": %g, \"ffn\": 0.5}",
                          i ? ", " : "", i / 200.0);
        snprintf(body + k, sizeof body - k, "]}");
        int rc = try_grid(body, 0);
        CHECK(n == 128 ? rc == QA_OK : rc == QA_ERR && strstr(qa_last_error(), "128"),
              "%d targets: %s", n, rc ? qa_last_error() : "accepted");
    }
    /* a grid beyond GRID_MAX_POINTS is refused at once; a large one resolves in O(n log n)
     * (it hung with the quadratic duplicate check) */
    snprintf(body, sizeof body, SYNTH ", \"axes\": {\"strategy\": [\"random\", \"gain\", \"l0\"],"
             " \"finetune\": [\"none\", \"standard\", \"distill\"],"
             " \"head_sparsity\": [%s], \"ffn_sparsity\": [0.1, 0.2],"
             " \"seed\": [%s]}",
             "0,0.01,0.02,0.03,0.04,0.05,0.06,0.07,0.08,0.09,0.1,0.11,0.12,0.13,0.14,0.15,0.16,"
             "0.17,0.18,0.19,0.2,0.21,0.22,0.23,0.24,0.25,0.26,0.27,0.28,0.29,0.3,0.31,0.32,0.33,"
             "0.34,0.35,0.36,0.37,0.38,0.39,0.4,0.41,0.42,0.43,0.44,0.45,0.46,0.47,0.48,0.49,0.5,"
             "0.51,0.52,0.53,0.54,0.55,0.56,0.57,0.58,0.59,0.6,0.61,0.62,0.63",
             "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,"
             "31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,"
             "58,59,60,61,62,63,64");
    /* 3 x 3 x 128 x 64 = 73,728 points: allowed */
    CHECK(try_grid(body, 1) == QA_OK, "73,728 points resolve: %s", qa_last_error());
    /* 8 teachers x 3 x 3 x 128 targets x 20 seeds = 184,320 points: beyond the limit */
    snprintf(body, sizeof body, SYNTH ", \"teacher\": {\"checkpoint\": [\"a\", \"b\", \"c\", \"d\", "
             "\"e\", \"f\", \"g\", \"h\"]}, \"axes\": {\"strategy\": [\"random\", \"gain\", \"l0\"],"
             " \"finetune\": [\"none\", \"standard\", \"distill\"], \"head_sparsity\": [0.1, 0.2, "
             "0.3, 0.4, 0.5, 0.6, 0.7, 0.8], \"ffn_sparsity\": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, "
             "0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 0.25, 0.35, 0.45, 0.55], \"seed\": [1, 2, 3, 4, "
             "5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]}");
    CHECK(try_grid(body, 0) == QA_ERR && strstr(qa_last_error(), "184320 points") &&
              strstr(qa_last_error(), "100000 allowed"),
          "184,320 points refused: %s", qa_last_error());
}

/* A window's room for context counts the family's special tokens: 3 for BERT, 4 for RoBERTa. */
static void test_window_specials(void) {
    TeacherSpec s;
    teacher_spec_default(&s);
    s.max_seq_len = 128;
    s.max_query_len = 124; /* BERT: 1 context token; RoBERTa: none */
    s.doc_stride = 1;
    CHECK(teacher_spec_check(&s, "g.json", "teacher.train") == QA_OK, "bert: %s",
          qa_last_error());
    snprintf(s.family, sizeof s.family, "roberta");
    CHECK(teacher_spec_check(&s, "g.json", "teacher.train") == QA_ERR &&
              strstr(qa_last_error(), "teacher.train.max_query_len") &&
              strstr(qa_last_error(), "max_seq_len - 5"),
          "roberta: '%s'", qa_last_error());
    s.max_query_len = 123;
    CHECK(teacher_spec_check(&s, "g.json", "teacher.train") == QA_OK, "roberta 123: %s",
          qa_last_error());
}

/* Loads and resolves the grid of body into *g (NULL on failure); grid_load's code. */
static int load_grid(const char *body, Grid **g) {
    char path[300], text[4096];
    snprintf(path, sizeof path, "%s/ort.json", dir);
    snprintf(text, sizeof text, "{\"out\": \"%s/vout\", %s}", dir, body);
    file_write_atomic(path, text, strlen(text));
    HashCache *c = hash_cache_new();
    int rc = grid_load(path, g);
    if (rc == QA_OK && grid_resolve(*g, c)) {
        rc = QA_ERR;
        grid_free(*g);
        *g = NULL;
    }
    hash_cache_free(c);
    return rc;
}

/* "bench": {"ort": true}: a boolean, one line for anything else; it sets bench_ort, leaves
 * the other bench settings to apply, and is not part of the points' identity. */
static void test_bench_ort(void) {
    static const struct { const char *bench, *expect; } bad[] = {
        {"{\"ort\": 1}", "bench.ort: expected true or false"},
        {"{\"ort\": \"yes\"}", "bench.ort: expected true or false"},
        {"{\"ort\": null}", "bench.ort: expected true or false"},
        {"{\"orts\": true}", "bench.orts: unknown key (allowed: batch, seq, warmup, repeats, ort)"},
        {"{\"ort\": true, \"ort\": false}", "bench.ort: given twice"},
        {"{\"ort\": true, \"repeats\": 0}", "bench.repeats"},
    };
    char body[1024];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body, SYNTH ", \"bench\": %s, " AXES1, bad[i].bench);
        Grid *g = NULL;
        int rc = load_grid(body, &g);
        const char *err = qa_last_error();
        CHECK(rc == QA_ERR && !g && strstr(err, bad[i].expect) && strstr(err, "ort.json") &&
                  !strchr(err, '\n'),
              "bench %s refused with one line naming %s: %s", bad[i].bench, bad[i].expect, err);
    }
    Grid *off = NULL, *on = NULL, *plain = NULL;
    CHECK(load_grid(SYNTH ", \"bench\": {\"repeats\": 7, \"ort\": false}, " AXES1, &off) == QA_OK &&
              load_grid(SYNTH ", \"bench\": {\"repeats\": 7, \"ort\": true}, " AXES1, &on) == QA_OK &&
              load_grid(SYNTH ", \"bench\": {\"repeats\": 7}, " AXES1, &plain) == QA_OK,
          "bench.ort true and false load: %s", qa_last_error());
    if (off && on && plain) {
        CHECK(on->bench_ort == 1 && off->bench_ort == 0 && plain->bench_ort == 0,
              "bench_ort on %d off %d absent %d", on->bench_ort, off->bench_ort,
              plain->bench_ort);
        CHECK(on->bench.repeats == 7 && off->bench.repeats == 7, "repeats %d with ort",
              on->bench.repeats);
        CHECK(on->n_points == 1 && !strcmp(on->points[0].hash, off->points[0].hash) &&
                  !strcmp(on->points[0].hash, plain->points[0].hash) &&
                  !strcmp(on->points[0].config_json, plain->points[0].config_json),
              "bench.ort is not part of the identity: %s vs %s", on->points[0].hash,
              plain->points[0].hash);
    }
    grid_free(off);
    grid_free(on);
    grid_free(plain);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/qaprune_test_grid_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_identity();
    test_synthetic_identity();
    test_bert_identity_unchanged();
    test_cache();
    test_validation();
    test_window_specials();
    test_bench_ort();
    if (!test_failed) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return TEST_DONE();
}
