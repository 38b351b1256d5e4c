/* tests/test_onnx.c: `sweep export` end to end. A ragged pruned BERT (heads per layer
 * 4/1/0/2, FFN widths 24/9/5/0, every bias and LayerNorm parameter random so that the empty
 * layers' bias paths count), its unpruned original and a pruned RoBERTa are saved as
 * checkpoints, exported through the real CLI (opset 17, opset 13 with LayerNorm decomposed,
 * external data, fixed axes), checked by ONNX's own checker (Debian python3-onnx) and run in
 * ONNX Runtime (npm onnxruntime-node, tests/ort_run.js) on real windows of the synthetic
 * task; start and end logits must equal the engine's to 1e-4. Also qaprune.json and the
 * copied files, and one-line errors with no OUT.onnx left behind for bad input. Without node
 * and onnxruntime-node, or without python3-onnx, those checks say "skipped". */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/export/onnx.h"
#include "core/model/bert.h"
#include "core/model/checkpoint.h"
#include "core/qa/qa.h"
#include "core/qa/synth.h"
#include "core/util/error.h"
#include "core/util/rng.h"
#include "tests/test.h"

#define TOL 1e-4
#define MAX_WINDOWS 4

static char dir[256];

/* Runs the shell command built from fmt with its output in dir/log; returns the exit
 * status. The log's text is left in log_text (first 64 KiB). */
static char log_text[65536];
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[4096], full[4600], path[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/log", dir);
    snprintf(full, sizeof full, "(%.4096s) >%.300s 2>&1", cmd, path);
    int st = system(full);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(log_text, 1, sizeof log_text - 1, f) : 0;
    log_text[n] = '\0';
    if (f) fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static cJSON *read_json_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc((size_t)n + 1, 1);
    size_t got = fread(s, 1, (size_t)n, f);
    fclose(f);
    cJSON *j = got == (size_t)n ? cJSON_Parse(s) : NULL;
    free(s);
    return j;
}

/* A 4-layer model of family f (C 32, 4 heads of 8, FFN 24; ELECTRA with embedding tables of
 * width 16 projected to 32) with Xavier weights and every 1-D parameter (biases, LayerNorm)
 * moved off its initial value, so that no term is zero. */
static BertModel *random_model(int vocab, BertFamily f) {
    BertConfig c;
    bert_config_init(&c, vocab, 64 + (f == BERT_FAMILY_ROBERTA ? 2 : 0), 4, 32, 4, 24);
    c.family = f;
    if (f == BERT_FAMILY_ROBERTA) {
        c.position_offset = 2;
        c.type_vocab_size = 1;
        c.layer_norm_eps = 1e-5f;
    }
    if (f == BERT_FAMILY_DISTILBERT) c.type_vocab_size = 0;
    if (f == BERT_FAMILY_ELECTRA) c.embedding_size = 16;
    BertModel *m;
    if (bert_create(&c, &m)) return NULL;
    bert_init_xavier(m, 7 + (uint64_t)f);
    Rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < bert_num_tensors(m); i++) {
        const BertTensor *t = bert_tensor(m, i);
        float *p = bert_params(m) + t->offset;
        for (size_t k = 0; t->ndim == 1 && k < t->numel; k++)
            p[k] += (float)(0.4 * (rng_uniform(&r) - 0.5));
    }
    return m;
}

/* The ragged shape of test_bert: heads 4/1/0/2 and FFN 24/9/5/0 out of 4 and 24. */
static BertModel *prune_ragged(const BertModel *m) {
    static const int heads[4] = {4, 1, 0, 2}, ffn[4] = {24, 9, 5, 0};
    uint8_t kh[16] = {0}, kf[96] = {0};
    for (int l = 0; l < 4; l++) {
        for (int h = 0; h < heads[l]; h++) kh[l * 4 + (3 - h)] = 1; /* keep the last ones */
        for (int f = 0; f < ffn[l]; f++) kf[l * 24 + (f * 7) % 24] = 1;
    }
    BertModel *p = NULL;
    return bert_prune(m, kh, kf, &p) ? NULL : p;
}

/* Every head and neuron removed: each layer is residual + biases + LayerNorms only. */
static BertModel *prune_all(const BertModel *m) {
    uint8_t kh[16] = {0}, kf[96] = {0};
    BertModel *p = NULL;
    return bert_prune(m, kh, kf, &p) ? NULL : p;
}

typedef struct {
    const char *label, *ckpt, *args; /* checkpoint under dir, sweep export options */
    int token_types;                 /* the family takes token_type_ids (BERT, ELECTRA) */
    BertModel *model;
    char onnx[300];
    float *start, *end; /* the engine's logits [B*T] */
} Case;

/* The engine's logits for the windows (types zeroed for families without them). */
static int engine_logits(Case *k, const Features *f, int B) {
    int T = f->seq, N = B * T;
    int32_t *types = calloc((size_t)N, sizeof *types);
    for (int i = 0; k->token_types && i < N; i++) types[i] = f->type_ids[i];
    BertBatch b = {B, T, f->input_ids, types, f->mask};
    int rc = bert_forward(k->model, &b, NULL, 0, 0);
    free(types);
    if (rc) return rc;
    k->start = malloc(sizeof(float) * N);
    k->end = malloc(sizeof(float) * N);
    memcpy(k->start, bert_start_logits(k->model), sizeof(float) * N);
    memcpy(k->end, bert_end_logits(k->model), sizeof(float) * N);
    return 0;
}

static cJSON *int_array(const int32_t *v, int n, int zero) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(zero ? 0 : v[i]));
    return a;
}

/* Runs every case's model in ONNX Runtime on the windows; returns ort_run's output. */
static cJSON *run_ort(const char *ort_dir, Case *cases, int n, const Features *f, int B) {
    cJSON *spec = cJSON_CreateObject(), *models = cJSON_AddArrayToObject(spec, "models");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(models, cJSON_CreateString(cases[i].onnx));
    cJSON_AddNumberToObject(spec, "B", B);
    cJSON_AddNumberToObject(spec, "T", f->seq);
    cJSON_AddNumberToObject(spec, "threads", 1);
    cJSON *in = cJSON_AddObjectToObject(spec, "inputs");
    cJSON_AddItemToObject(in, "input_ids", int_array(f->input_ids, B * f->seq, 0));
    cJSON_AddItemToObject(in, "attention_mask", int_array(f->mask, B * f->seq, 0));
    cJSON_AddItemToObject(in, "token_type_ids", int_array(f->type_ids, B * f->seq, 0));
    char path[300], out[300];
    snprintf(path, sizeof path, "%s/ort_spec.json", dir);
    snprintf(out, sizeof out, "%s/ort_out.json", dir);
    char *text = cJSON_Print(spec);
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
    free(text);
    cJSON_Delete(spec);
    int rc = sh("ORT_DIR='%s' node tests/ort_run.js %s %s", ort_dir, path, out);
    CHECK(rc == 0, "ort_run failed: %s", log_text);
    CHECK(!strstr(log_text, "Removing initializer"), "unused initializers: %s", log_text);
    return rc ? NULL : read_json_file(out);
}

static double max_diff(const cJSON *arr, const float *ref, int N) {
    double worst = cJSON_GetArraySize(arr) == N ? 0.0 : INFINITY;
    int i = 0;
    for (const cJSON *v = arr ? arr->child : NULL; v && i < N; v = v->next, i++) {
        double d = fabs(v->valuedouble - ref[i]) / fmax(1.0, fabs(ref[i]));
        if (!(d <= worst)) worst = d; /* NaN propagates */
    }
    return worst;
}

static void check_artifact(const char *bin) {
    char path[300];
    snprintf(path, sizeof path, "%s/out/pruned17/qaprune.json", dir);
    cJSON *j = read_json_file(path);
    CHECK(j != NULL, "no qaprune.json beside the export");
    if (!j) return;
    static const int heads[4] = {4, 1, 0, 2}, ffn[4] = {24, 9, 5, 0};
    const cJSON *layers = cJSON_GetObjectItem(j, "layers");
    CHECK(cJSON_GetArraySize(layers) == 4, "qaprune.json: 4 layers");
    for (int l = 0; l < 4 && cJSON_GetArraySize(layers) == 4; l++) {
        const cJSON *e = cJSON_GetArrayItem(layers, l);
        CHECK(cJSON_GetObjectItem(e, "heads")->valueint == heads[l], "layer %d heads", l);
        CHECK(cJSON_GetObjectItem(e, "ffn")->valueint == ffn[l], "layer %d ffn", l);
    }
    CHECK(cJSON_GetObjectItem(j, "heads_kept")->valueint == 7, "heads_kept");
    CHECK(cJSON_GetObjectItem(j, "ffn_total")->valueint == 96, "ffn_total");
    CHECK(!strcmp(cJSON_GetObjectItem(j, "family")->valuestring, "bert"), "family");
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "inputs"), "token_type_ids") != NULL,
          "BERT takes token_type_ids");
    CHECK(!strcmp(cJSON_GetObjectItem(j, "strategy")->valuestring, "random"), "strategy");
    CHECK_CLOSE(cJSON_GetObjectItem(j, "speedup")->valuedouble, 1.5, 1e-12, "speedup");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "f1")), "f1 unknown -> null");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "external_data")), "no external data");
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/out/roberta/qaprune.json", dir);
    j = read_json_file(path);
    const cJSON *rin = j ? cJSON_GetObjectItem(j, "inputs") : NULL;
    CHECK(rin && cJSON_GetObjectItem(rin, "input_ids") &&
              !cJSON_GetObjectItem(rin, "token_type_ids"), "RoBERTa: no token_type_ids");
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/out/external/qaprune.json", dir);
    j = read_json_file(path);
    const cJSON *ext = j ? cJSON_GetObjectItem(j, "external_data") : NULL;
    CHECK(cJSON_IsString(ext) && !strcmp(ext->valuestring, "model.onnx.data"),
          "external_data recorded");
    cJSON_Delete(j);
    /* the pipeline's point: strategy from its qaprune.json, F1 from its eval.json */
    snprintf(path, sizeof path, "%s/out/l0/qaprune.json", dir);
    j = read_json_file(path);
    snprintf(path, sizeof path, "%s/l0/eval.json", dir);
    cJSON *ev = read_json_file(path);
    const cJSON *st = j ? cJSON_GetObjectItem(j, "strategy") : NULL;
    CHECK(cJSON_IsString(st) && !strcmp(st->valuestring, "l0"), "l0 point: strategy recorded");
    CHECK(j && ev && cJSON_GetObjectItem(j, "f1")->valuedouble ==
                         cJSON_GetObjectItem(ev, "f1")->valuedouble, "l0 point: F1 from eval.json");
    CHECK(j && cJSON_GetObjectItem(j, "max_seq_len")->valuedouble == 64, "l0 point: window");
    CHECK(j && cJSON_GetObjectItem(j, "heads_kept")->valueint == 4, "l0 point: 4 of 8 heads");
    cJSON_Delete(ev);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/out/pruned17/vocab.txt", dir);
    CHECK(access(path, R_OK) == 0, "vocab.txt copied beside the export");
    snprintf(path, sizeof path, "%s/out/pruned17/config.json", dir);
    CHECK(access(path, R_OK) == 0, "config.json copied beside the export");
    (void)bin;
}

/* A sweep with "export": {"onnx": true}: the measured point's model under
 * OUT/points/HASH/onnx/ with its strategy and measured speedup; a bad value is refused. */
static void check_grid_export(const char *bin, const char *data) {
    char grid[300];
    snprintf(grid, sizeof grid, "%s/grid.json", dir);
    FILE *f = fopen(grid, "w");
    fprintf(f, "{\"out\": \"%s/sweep\", \"data\": {\"train\": \"%s/train.json\", "
               "\"dev\": \"%s/dev.json\", \"vocab\": \"%s/vocab.txt\"},\n"
               " \"teacher\": {\"checkpoint\": \"%s/teacher\"},\n"
               " \"axes\": {\"strategy\": [\"random\"], \"targets\": [{\"heads\": 0.5, "
               "\"ffn\": 0.5}], \"finetune\": [\"none\"]},\n"
               " \"bench\": {\"repeats\": 2, \"warmup\": 1}, \"threads\": 1,\n"
               " \"export\": {\"onnx\": true}}\n", dir, data, data, data, dir);
    fclose(f);
    int rc = sh("%s run %s --no-plots", bin, grid);
    CHECK(rc == 0, "sweep with export: %s", log_text);
    char path[400] = "";
    sh("ls %s/sweep/points/*/onnx/qaprune.json", dir);
    sscanf(log_text, "%399s", path);
    cJSON *j = read_json_file(path);
    const cJSON *sp = j ? cJSON_GetObjectItem(j, "speedup") : NULL;
    const cJSON *st = j ? cJSON_GetObjectItem(j, "strategy") : NULL;
    CHECK(cJSON_IsNumber(sp) && sp->valuedouble > 0, "exported point records its speedup");
    CHECK(cJSON_IsString(st) && !strcmp(st->valuestring, "random"), "and its strategy");
    cJSON_Delete(j);
    rc = sh("ls %s/sweep/points/*/onnx/model.onnx", dir);
    CHECK(rc == 0, "the point's model.onnx: %s", log_text);
    rc = sh("sed -i 's/\"onnx\": true/\"onnx\": 1/' %s && %s run %s", grid, bin, grid);
    CHECK(rc == 2 && strstr(log_text, "export.onnx"), "export.onnx must be a boolean: %s",
          log_text);
}

/* Bad input: one "sweep export:" line naming the field, exit 1 (2 for usage), no OUT.onnx. */
static void check_errors(const char *bin) {
    char out[300];
    snprintf(out, sizeof out, "%s/out/bad/model.onnx", dir);
    int rc = sh("mkdir -p %s/alien && cp %s/pruned/* %s/alien/ && sed -i "
                "'s/\"model_type\":[[:space:]]*\"bert\"/\"model_type\": \"albert\"/' "
                "%s/alien/config.json && %s export --model %s/alien --onnx %s", dir, dir, dir, dir,
                bin, dir, out);
    CHECK(rc == 1 && strstr(log_text, "sweep export: ") && strstr(log_text, "model_type") &&
          strstr(log_text, "albert"), "unknown family: rc %d, %s", rc, log_text);
    CHECK(access(out, F_OK) != 0, "no OUT.onnx after an unknown family");
    rc = sh("mkdir -p %s/short && cp %s/pruned/* %s/short/ && sed -i "
            "'s/\"num_hidden_layers\":[[:space:]]*4/\"num_hidden_layers\": 5/; "
            "s/24, 9, 5, 0]/24, 9, 5, 0, 1]/; s/4, 1, 0, 2]$/4, 1, 0, 2, 4]/' "
            "%s/short/config.json && %s export --model %s/short --onnx %s", dir, dir, dir, dir,
            bin, dir, out);
    CHECK(rc == 1 && strstr(log_text, "encoder.layer.4.") && strstr(log_text, "missing"),
          "missing tensor named: rc %d, %s", rc, log_text);
    CHECK(access(out, F_OK) != 0, "no OUT.onnx after a missing tensor");
    rc = sh("%s export --model %s/pruned --onnx %s/pruned/model.onnx", bin, dir, dir);
    CHECK(rc == 1 && strstr(log_text, "directory other than"), "export into the checkpoint: %s",
          log_text);
    rc = sh("%s export --model %s/pruned --onnx %s --opset 18", bin, dir, out);
    CHECK(rc == 2 && strstr(log_text, "--opset"), "opset 18 refused: %s", log_text);
    rc = sh("%s export --model %s/pruned --onnx %s --dynamic-axes time", bin, dir, out);
    CHECK(rc == 2 && strstr(log_text, "--dynamic-axes"), "bad axes refused: %s", log_text);
    CHECK(access(out, F_OK) != 0, "no OUT.onnx after usage errors");
}

int main(void) {
    const char *bin = test_sweep_bin();
    snprintf(dir, sizeof dir, "/tmp/qaprune-onnx-XXXXXX");
    if (!mkdtemp(dir)) {
        SKIP("cannot make a temporary directory");
        return TEST_DONE();
    }
    char data[280], vocab_path[300], dev[300], p[300];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", data);
    snprintf(dev, sizeof dev, "%s/dev.json", data);
    WpVocab *vocab = NULL;
    QaSplit split = {0};
    FeatureOpts fo = {.max_seq_len = 48, .doc_stride = 16, .max_query_len = 16};
    CHECK(synth_generate(data, 5, 300, 8, 0) == 0 && wp_vocab_load(vocab_path, &vocab) == 0 &&
              qa_split_load(dev, vocab, &fo, &split) == 0,
          "synthetic windows");
    if (!split.feat) return TEST_DONE();
    const Features *f = split.feat;
    int B = f->n < MAX_WINDOWS ? f->n : MAX_WINDOWS;

    int V = wp_vocab_size(vocab);
    BertModel *full = random_model(V, BERT_FAMILY_BERT);
    BertModel *rob_full = random_model(V, BERT_FAMILY_ROBERTA);
    BertModel *dis_full = random_model(V, BERT_FAMILY_DISTILBERT);
    BertModel *ele_full = random_model(V, BERT_FAMILY_ELECTRA);
    BertModel *pruned = full ? prune_ragged(full) : NULL, *rob = rob_full ? prune_ragged(rob_full) : NULL;
    BertModel *dis = dis_full ? prune_ragged(dis_full) : NULL, *ele = ele_full ? prune_ragged(ele_full) : NULL;
    BertModel *empty = full ? prune_all(full) : NULL;
    CHECK(pruned && rob && dis && ele && empty, "models: %s", qa_last_error());
    if (!pruned || !rob || !dis || !ele || !empty) return TEST_DONE();
    char ckpt[300];
    const char *names[6] = {"full", "pruned", "roberta", "empty", "distilbert", "electra"};
    BertModel *models[6] = {full, pruned, rob, empty, dis, ele};
    for (int i = 0; i < 6; i++) {
        snprintf(ckpt, sizeof ckpt, "%s/%s", dir, names[i]);
        CHECK(checkpoint_save(models[i], ckpt, vocab_path) == 0, "save %s: %s", names[i],
              qa_last_error());
    }
    /* a point of the real pipeline: a tiny teacher trained, pruned by l0 and fine-tuned */
    snprintf(ckpt, sizeof ckpt, "%s/teacher.json", dir);
    FILE *tf = fopen(ckpt, "w");
    fputs("{\"layers\": 2, \"hidden\": 32, \"heads\": 4, \"ffn\": 64, \"steps\": 40, "
          "\"batch_size\": 16, \"max_seq_len\": 64, \"doc_stride\": 16, \"max_query_len\": 16}\n", tf);
    fclose(tf);
    int prc = sh("%s teacher --data %s --out %s/teacher --config %s --threads 1 && "
                 "%s prune --teacher %s/teacher --data %s --strategy l0 --heads 0.5 --ffn 0.75 "
                 "--finetune distill --out %s/l0 --threads 1 --ft_steps 10 --l0_steps 10 "
                 "--batch_size 8", bin, data, dir, ckpt, bin, dir, data, dir);
    CHECK(prc == 0, "teacher and l0 point: %s", log_text);
    BertModel *point = NULL;
    snprintf(ckpt, sizeof ckpt, "%s/l0", dir);
    CHECK(prc == 0 && checkpoint_load(ckpt, &point) == 0, "load the l0 point");
    char fixed[128];
    snprintf(fixed, sizeof fixed, "--dynamic-axes none --batch %d --seq %d", B, f->seq);
    Case cases[] = {
        {"unpruned, opset 17", "full", "", 1, full, "", NULL, NULL},
        {"pruned ragged, opset 17", "pruned", "--strategy random --speedup 1.5", 1, pruned, "", NULL, NULL},
        {"pruned ragged, opset 13", "pruned", "--opset 13", 1, pruned, "", NULL, NULL},
        {"pruned ragged, external data", "pruned", "--external-data", 1, pruned, "", NULL, NULL},
        {"pruned ragged, fixed axes", "pruned", fixed, 1, pruned, "", NULL, NULL},
        {"roberta pruned ragged", "roberta", "", 0, rob, "", NULL, NULL},
        {"distilbert pruned ragged", "distilbert", "", 0, dis, "", NULL, NULL},
        {"electra pruned ragged (E 16)", "electra", "", 1, ele, "", NULL, NULL},
        {"every head and neuron pruned", "empty", "", 1, empty, "", NULL, NULL},
        {"pipeline l0 point (trained)", "l0", "", 1, point, "", NULL, NULL},
    };
    static const char *const sub[] = {"full17", "pruned17", "pruned13", "external", "fixed",
                                      "roberta", "distilbert", "electra", "empty", "l0"};
    int nc = (int)(sizeof cases / sizeof *cases) - (point ? 0 : 1);
    for (int i = 0; i < nc; i++) {
        Case *k = &cases[i];
        snprintf(k->onnx, sizeof k->onnx, "%s/out/%s/model.onnx", dir, sub[i]);
        int rc = sh("%s export --model %s/%s --onnx %s %s", bin, dir, k->ckpt, k->onnx, k->args);
        CHECK(rc == 0 && access(k->onnx, R_OK) == 0, "%s: export rc %d: %s", k->label, rc, log_text);
        CHECK(engine_logits(k, f, B) == 0, "%s: engine forward", k->label);
    }
    snprintf(p, sizeof p, "%s/out/external/model.onnx.data", dir);
    CHECK(access(p, R_OK) == 0, "external data file written");
    /* the size rule itself: past external_above bytes the weights go external unasked */
    OnnxExportOpts eo;
    OnnxExportInfo ei = {0};
    onnx_export_opts_default(&eo);
    eo.external_above = 4096;
    snprintf(p, sizeof p, "%s/auto.onnx", dir);
    CHECK(onnx_export_model(pruned, p, &eo, &ei) == 0 && ei.external == 1, "auto external data");
    eo.external_above = 0;
    CHECK(onnx_export_model(pruned, p, &eo, &ei) == 0 && ei.external == 0 &&
              ei.weight_bytes == bert_num_params(pruned) * sizeof(float),
          "inline below the default threshold, every parameter exported once (%zu bytes)",
          ei.weight_bytes);
    check_artifact(bin);

    if (sh("/usr/bin/python3 -c 'import onnx'") != 0) {
        SKIP("onnx.checker: Debian python3-onnx is not installed");
    } else {
        for (int i = 0; i < nc; i++) {
            int rc = sh("/usr/bin/python3 -c 'import onnx, sys; onnx.checker.check_model(sys.argv[1], "
                        "full_check=True); m = onnx.load(sys.argv[1]); "
                        "assert m.ir_version <= 8 and m.opset_import[0].version <= 17' %s",
                        cases[i].onnx);
            CHECK(rc == 0, "%s: onnx.checker: %s", cases[i].label, log_text);
        }
    }

    const char *ort_dir = getenv("ORT_DIR");
    char pkg[400];
    snprintf(pkg, sizeof pkg, "%s/node_modules/onnxruntime-node/package.json", ort_dir ? ort_dir : "");
    if (!ort_dir || access(pkg, R_OK) != 0 || sh("node --version") != 0) {
        SKIP("ONNX Runtime: node or onnxruntime-node under $ORT_DIR missing (tests/ort_setup.sh)");
    } else {
        cJSON *o = run_ort(ort_dir, cases, nc, f, B);
        const cJSON *outs = o ? cJSON_GetObjectItem(o, "outputs") : NULL;
        for (int i = 0; outs && i < nc; i++) {
            const cJSON *e = cJSON_GetArrayItem(outs, i);
            int N = B * f->seq;
            double ds = max_diff(cJSON_GetObjectItem(e, "start_logits"), cases[i].start, N);
            double de = max_diff(cJSON_GetObjectItem(e, "end_logits"), cases[i].end, N);
            printf("onnx: %-30s ORT vs engine, %d windows x %d tokens: start %.2e, end %.2e\n",
                   cases[i].label, B, f->seq, ds, de);
            CHECK(ds <= TOL && de <= TOL, "%s: logits differ (start %g, end %g)", cases[i].label,
                  ds, de);
        }
        cJSON_Delete(o);
    }
    check_errors(bin);
    if (point) check_grid_export(bin, data);

    for (int i = 0; i < nc; i++) {
        free(cases[i].start);
        free(cases[i].end);
    }
    bert_free(full);
    bert_free(pruned);
    bert_free(rob_full);
    bert_free(rob);
    bert_free(dis_full);
    bert_free(dis);
    bert_free(ele_full);
    bert_free(ele);
    bert_free(point);
    bert_free(empty);
    qa_split_free(&split);
    wp_vocab_free(vocab);
    if (!test_failed) sh("rm -rf %s", dir);
    return TEST_DONE();
}
