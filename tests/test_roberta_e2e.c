/* tests/test_roberta_e2e.c: a RoBERTa question-answering checkpoint with byte-level BPE
 * tokenizer files, as Hugging Face saves one, written by the PyTorch mirror of
 * tests/make_torch_checkpoint.py (its own BPE, run_squad windows in the RoBERTa layout,
 * transformers' position ids, run_squad decoding), through the library and the real CLI:
 *   - the windows' input ids equal the mirror's, and the logits on them agree to 1e-4;
 *   - `sweep tokenize --model` and `--vocab vocab.json --merges merges.txt` give its ids;
 *   - `sweep eval` gives its answer texts and no-answer scores (1e-4), and the same with
 *     tokenizer.json as the only tokenizer file;
 *   - `sweep prune` saves a checkpoint with copies of every tokenizer file, which `sweep
 *     eval` scores exactly as prune reported; a whole `sweep run` with it as the teacher;
 *   - a bad merges.txt: one line naming the file, exit 1, nothing written;
 * and, without the mirror, the embedded default's RoBERTa teacher (teacher.train.family
 * roberta over data.synthetic.bpe_merges):
 *   - a whole `sweep run` at configs/ci.json's size finishes every point; the data step wrote
 *     the BPE, the teacher is saved as model_type roberta with copies of its vocab.json and
 *     merges.txt, a point's pruned checkpoint too, and `sweep eval` scores it as the sweep did;
 *     a second run reuses everything;
 *   - no BPE: the grid names data.synthetic.bpe_merges, `sweep teacher` the missing file. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/model/checkpoint.h"
#include "core/model/safetensors.h"
#include "core/qa/qa.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "tests/e2e.h"
#include "tests/test.h"

#define CK "tests/data/torch_roberta_bpe"
#define CK_JSON "tests/data/torch_roberta_bpe_json"
#define DATA "tests/data/torch_roberta_bpe_data"
#define EXPECTED "tests/data/torch_roberta_bpe_expected"

static char dir[] = "/tmp/qaprune_roberta_XXXXXX";

static cJSON *read_json(const char *path) {
    char *s = slurp_file(path);
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    free(s);
    return j;
}

static int same_file(const char *a, const char *b) {
    char *x = slurp_file(a), *y = slurp_file(b);
    int same = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

/* Windows and logits through the library, against the mirror's. */
static void test_library(void) {
    Tokenizer *tok = NULL;
    BertModel *m = NULL;
    SafeTensors *st = NULL;
    QaSplit split = {0};
    FeatureOpts fo = FEATURE_OPTS_DEFAULT;
    CHECK(tokenizer_load_dir(CK, &tok) == QA_OK, "%s", qa_last_error());
    CHECK(tok && tokenizer_kind(tok) == TOKENIZER_BPE && !strcmp(tokenizer_format(tok)->name, "roberta"),
          "a BPE tokenizer with the RoBERTa format");
    CHECK(checkpoint_load(CK, &m) == QA_OK, "%s", qa_last_error());
    CHECK(st_open(EXPECTED ".safetensors", &st) == QA_OK, "%s", qa_last_error());
    if (!tok || !m || !st || qa_split_load(DATA "/dev.json", tok, &fo, &split)) {
        CHECK(0, "setup: %s", qa_last_error());
        goto cleanup;
    }
    const StTensor *t = st_find(st, "input_ids");
    int n = t ? (int)t->shape[0] : 0, T = t ? (int)t->shape[1] : 0, N = n * T;
    CHECK(n == split.data.n && T == split.data.T && n > 1, "windows %d x %d, mirror %d x %d",
          split.data.n, split.data.T, n, T);
    if (n != split.data.n || T != split.data.T) goto cleanup;
    int32_t *ids = malloc(sizeof(int32_t) * 2 * N), *mask = ids + N;
    float *want = malloc(sizeof(float) * 2 * N);
    CHECK(st_read_i32(st, "input_ids", 2, t->shape, ids) == QA_OK &&
              st_read_i32(st, "attention_mask", 2, t->shape, mask) == QA_OK &&
              st_read_f32(st, "start_logits", 2, t->shape, want) == QA_OK &&
              st_read_f32(st, "end_logits", 2, t->shape, want + N) == QA_OK,
          "%s", qa_last_error());
    int id_diff = 0, type_nonzero = 0;
    for (int i = 0; i < N; i++) {
        id_diff += ids[i] != split.feat->input_ids[i] || mask[i] != split.feat->mask[i];
        type_nonzero += split.feat->type_ids[i] != 0;
    }
    CHECK(id_diff == 0, "%d window ids or mask entries differ from the mirror's", id_diff);
    CHECK(type_nonzero == 0, "RoBERTa token types all 0");
    /* one forward over all windows at full length, so padded positions are compared too
     * (qa_predict trims each batch to its longest window) */
    BertBatch batch = {n, T, split.feat->input_ids, split.feat->type_ids, split.feat->mask};
    CHECK(bert_forward(m, &batch, NULL, 0, 0) == QA_OK, "%s", qa_last_error());
    const float *s = bert_start_logits(m), *e = bert_end_logits(m);
    double worst = 0;
    int bad = 0;
    for (int i = 0; i < 2 * N; i++) {
        double got = i < N ? s[i] : e[i - N];
        double d = fabs(got - want[i]) / (fabs(want[i]) > 1 ? fabs(want[i]) : 1);
        if (d > worst) worst = d;
        bad += !(d <= 1e-4);
    }
    printf("roberta+bpe: %d windows, logits within %.2g of the mirror (padding included)\n", n,
           worst);
    CHECK(bad == 0, "%d of %d logits off by more than 1e-4 (worst %g)", bad, 2 * N, worst);
    free(ids);
    free(want);
cleanup:
    qa_split_free(&split);
    st_close(st);
    bert_free(m);
    tokenizer_free(tok);
}

/* predictions.json and na_prob.json of DIR against the mirror's. */
static void check_predictions(const char *out_dir, const cJSON *expected) {
    char p[700], q[700];
    snprintf(p, sizeof p, "%s/predictions.json", out_dir);
    snprintf(q, sizeof q, "%s/na_prob.json", out_dir);
    cJSON *pred = read_json(p), *na = read_json(q);
    const cJSON *wp = cJSON_GetObjectItem(expected, "predictions");
    const cJSON *wn = cJSON_GetObjectItem(expected, "na_prob");
    int n = 0, text_diff = 0, na_diff = 0;
    for (const cJSON *e = wp ? wp->child : NULL; e; e = e->next, n++) {
        const cJSON *g = cJSON_GetObjectItem(pred, e->string);
        if (!cJSON_IsString(g) || strcmp(g->valuestring, e->valuestring)) {
            if (text_diff++ < 3)
                fprintf(stderr, "%s: %s: '%s', mirror '%s'\n", out_dir, e->string,
                        cJSON_IsString(g) ? g->valuestring : "(none)", e->valuestring);
        }
        const cJSON *gn = cJSON_GetObjectItem(na, e->string), *en = cJSON_GetObjectItem(wn, e->string);
        if (!cJSON_IsNumber(gn) || !cJSON_IsNumber(en) ||
            !test_close(gn->valuedouble, en->valuedouble, 1e-4))
            na_diff++;
    }
    CHECK(n > 20 && cJSON_GetArraySize(pred) == n, "%s: %d predictions", out_dir, n);
    CHECK(text_diff == 0, "%s: %d answer texts differ from the mirror's", out_dir, text_diff);
    CHECK(na_diff == 0, "%s: %d no-answer scores differ by more than 1e-4", out_dir, na_diff);
    cJSON_Delete(pred);
    cJSON_Delete(na);
}

static void test_cli(const char *bin) {
    static char out[1 << 16];
    cJSON *expected = read_json(EXPECTED ".json");
    CHECK(expected != NULL, "cannot read %s.json", EXPECTED);
    if (!expected) return;

    /* tokenize: the mirror's ids of its sample lines, from the checkpoint and from the files */
    const cJSON *samples = cJSON_GetObjectItem(expected, "samples");
    for (const cJSON *s = samples ? samples->child : NULL; s; s = s->next) {
        char want[4096] = "", line[600];
        for (const cJSON *v = cJSON_GetObjectItem(s, "ids")->child; v; v = v->next)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", *want ? " " : "",
                     v->valueint);
        FILE *f = fopen(strcat(strcpy(line, dir), "/line.txt"), "w");
        fprintf(f, "%s\n", cJSON_GetObjectItem(s, "text")->valuestring);
        fclose(f);
        int rc = run(out, sizeof out, "(%s tokenize --model %s < %s 2>/dev/null)", bin, CK, line);
        CHECK(rc == 0 && !strncmp(out, want, strlen(want)) && out[strlen(want)] == '\n',
              "tokenize --model: '%s', want '%s'", out, want);
        rc = run(out, sizeof out, "(%s tokenize --vocab %s/vocab.json --merges %s/merges.txt < %s "
                 "2>/dev/null)", bin, CK, CK, line);
        CHECK(rc == 0 && !strncmp(out, want, strlen(want)), "tokenize --vocab --merges: '%s'", out);
    }

    /* eval with vocab.json + merges.txt, then with tokenizer.json alone */
    int rc = run(out, sizeof out, "%s eval --model %s --data %s/dev.json --out %s/e1 --threads 1",
                 bin, CK, DATA, dir);
    CHECK(rc == 0, "eval: %s", out);
    CHECK(strstr(out, "tokenizer bpe (roberta input format"), "eval prints its tokenizer: %s", out);
    char e1[600];
    snprintf(e1, sizeof e1, "%s/e1", dir);
    check_predictions(e1, expected);
    rc = run(out, sizeof out, "mkdir -p %s/tj && ln -sf $PWD/%s/config.json $PWD/%s/model.safetensors "
             "$PWD/%s/tokenizer.json %s/tj/ && %s eval --model %s/tj --data %s/dev.json --out %s/e2 "
             "--threads 1", dir, CK, CK, CK_JSON, dir, bin, dir, DATA, dir);
    CHECK(rc == 0, "eval with tokenizer.json: %s", out);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/e1/predictions.json", dir);
    snprintf(b, sizeof b, "%s/e2/predictions.json", dir);
    CHECK(same_file(a, b), "tokenizer.json gives the same predictions as vocab.json + merges.txt");
    snprintf(a, sizeof a, "%s/e1/na_prob.json", dir);
    snprintf(b, sizeof b, "%s/e2/na_prob.json", dir);
    CHECK(same_file(a, b), "and the same no-answer scores");

    /* prune -> save (every tokenizer file copied) -> eval scores as prune said */
    rc = run(out, sizeof out, "%s prune --teacher %s --data %s --strategy random --heads 0.25 "
             "--ffn 0.3 --finetune none --out %s/p --threads 1", bin, CK, DATA, dir);
    CHECK(rc == 0, "prune: %s", out);
    static const char *const files[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                        "special_tokens_map.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(a, sizeof a, "%s/%s", CK, files[i]);
        snprintf(b, sizeof b, "%s/p/%s", dir, files[i]);
        CHECK(same_file(a, b), "pruned checkpoint has a copy of %s", files[i]);
    }
    rc = run(out, sizeof out, "%s eval --model %s/p --data %s/dev.json --out %s/pe --threads 1",
             bin, dir, DATA, dir);
    CHECK(rc == 0, "eval of the pruned checkpoint: %s", out);
    snprintf(a, sizeof a, "%s/p/eval.json", dir);
    snprintf(b, sizeof b, "%s/pe/eval.json", dir);
    cJSON *ja = read_json(a), *jb = read_json(b);
    const cJSON *fa = cJSON_GetObjectItem(ja, "f1"), *fb = cJSON_GetObjectItem(jb, "f1");
    CHECK(cJSON_IsNumber(fa) && cJSON_IsNumber(fb) && fa->valuedouble == fb->valuedouble,
          "reloaded pruned model scores as prune said (%g vs %g)",
          cJSON_IsNumber(fa) ? fa->valuedouble : -1, cJSON_IsNumber(fb) ? fb->valuedouble : -1);
    snprintf(a, sizeof a, "%s/p/predictions.json", dir);
    snprintf(b, sizeof b, "%s/pe/predictions.json", dir);
    CHECK(same_file(a, b), "and gives the same predictions");
    cJSON_Delete(ja);
    cJSON_Delete(jb);

    /* a whole sweep with this RoBERTa as the teacher: every point done (latency included) */
    char grid[700], cwd[4096];
    snprintf(grid, sizeof grid, "%s/grid.json", dir);
    FILE *g = fopen(grid, "w");
    if (g && getcwd(cwd, sizeof cwd)) {
        fprintf(g, "{\"out\": \"%s/sweep\", \"data\": {\"train\": \"%s/%s/train.json\", "
                "\"dev\": \"%s/%s/dev.json\"}, \"teacher\": {\"checkpoint\": \"%s/%s\"},\n"
                " \"axes\": {\"strategy\": [\"random\", \"gain\", \"l0\"], \"targets\": "
                "[{\"heads\": 0.25, \"ffn\": 0.5}], \"finetune\": [\"none\", \"distill\"]},\n"
                " \"prune\": {\"ft_steps\": 4, \"l0_steps\": 4, \"gain_batches\": 2, "
                "\"batch_size\": 4}, \"bench\": {\"repeats\": 3, \"warmup\": 1}, "
                "\"threads\": 1}\n", dir, cwd, DATA, cwd, DATA, cwd, CK);
        fclose(g);
    }
    rc = run(out, sizeof out, "%s run %s --jobs 1", bin, grid);
    CHECK(rc == 0 && strstr(out, "points of this grid: 6 done, 0 failed"),
          "sweep run with a RoBERTa teacher: %s", out + (strlen(out) > 600 ? strlen(out) - 600 : 0));

    /* a merges.txt naming a token that is not in vocab.json */
    rc = run(out, sizeof out, "mkdir -p %s/bad && ln -sf $PWD/%s/config.json $PWD/%s/model.safetensors "
             "$PWD/%s/vocab.json %s/bad/ && head -2 %s/merges.txt > %s/bad/merges.txt && "
             "echo 'q zz9' >> %s/bad/merges.txt && %s eval --model %s/bad --data %s/dev.json "
             "--out %s/ebad", dir, CK, CK, CK, dir, CK, dir, dir, bin, dir, DATA, dir);
    CHECK(rc == 1, "eval with a bad merges.txt exits 1 (got %d)", rc);
    CHECK(strstr(out, "bad/merges.txt:3: merge \"q zz9\": \"zz9\" is not in the vocabulary"),
          "one line naming the file: %s", out);
    snprintf(a, sizeof a, "%s/ebad", dir);
    CHECK(access(a, F_OK) != 0, "nothing written for a bad tokenizer");
    cJSON_Delete(expected);
}

/* The value of key (a number) in the JSON file at path, or -1. */
static double json_number(const char *path, const char *key) {
    cJSON *j = read_json(path);
    const cJSON *v = cJSON_GetObjectItem(j, key);
    double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
    cJSON_Delete(j);
    return x;
}

/* The embedded default's teacher as RoBERTa: a whole sweep at configs/ci.json's size. */
static void test_trained_teacher(const char *bin) {
    static char out[1 << 16];
    char grid[600], o[600], a[2048], b[2048];
    snprintf(o, sizeof o, "%s/rt", dir);
    snprintf(grid, sizeof grid, "%s/roberta-ci.json", dir);
    /* configs/ci.json with "family": "roberta" and a BPE of 300 merges */
    static const char fmt[] =
        "{\"out\": \"%s\", \"data\": {\"synthetic\": {\"seed\": 7, \"train\": 600, \"dev\": 120%s}},\n"
        " \"teacher\": {\"train\": {\"family\": \"roberta\", \"layers\": 2, \"hidden\": 32, "
        "\"heads\": 4, \"ffn\": 64, \"steps\": 60, \"batch_size\": 16, \"max_seq_len\": 128, "
        "\"lr\": 0.002}, \"cache\": \"%s/cache\"},\n"
        " \"axes\": {\"strategy\": [\"random\", \"gain\", \"l0\"], \"targets\": [{\"heads\": 0.25, "
        "\"ffn\": 0.5}, {\"heads\": 0.5, \"ffn\": 0.75}], \"finetune\": [\"none\", \"distill\"]},\n"
        " \"prune\": {\"ft_steps\": 10, \"l0_steps\": 10, \"gain_batches\": 3, \"batch_size\": 8},\n"
        " \"bench\": {\"repeats\": 5, \"warmup\": 1}, \"threads\": 1}\n";
    FILE *f = fopen(grid, "w");
    if (f) {
        fprintf(f, fmt, o, "", o);
        fclose(f);
    }
    int rc = run(out, sizeof out, "%s run %s --jobs 1", bin, grid);
    CHECK(rc == 2 && strstr(out, "data.synthetic.bpe_merges: required") &&
              strstr(out, "teacher.train.family"),
          "a roberta teacher without a BPE: exit 2 naming the grid field (%d): %s", rc, out);

    f = fopen(grid, "w");
    if (f) {
        fprintf(f, fmt, o, ", \"bpe_merges\": 300", o);
        fclose(f);
    }
    rc = run(out, sizeof out, "%s run %s --jobs 2 --no-plots", bin, grid);
    CHECK(rc == 0 && strstr(out, "points of this grid: 12 done, 0 failed"),
          "sweep run with a trained RoBERTa teacher: %s",
          out + (strlen(out) > 1500 ? strlen(out) - 1500 : 0));
    /* the data step wrote the BPE; the teacher is a RoBERTa with copies of it */
    char teacher[900] = "";
    snprintf(a, sizeof a, "ls -d %s/cache/teacher-* 2>/dev/null | grep -v '\\.lock$' | head -1", o);
    FILE *p = popen(a, "r");
    if (p && fgets(teacher, sizeof teacher, p)) teacher[strcspn(teacher, "\n")] = '\0';
    if (p) pclose(p);
    CHECK(*teacher, "the teacher's cache directory under %s/cache", o);
    snprintf(a, sizeof a, "%s/config.json", teacher);
    CHECK(file_contains(a, "\"model_type\":\t\"roberta\"") &&
              file_contains(a, "\"type_vocab_size\":\t1") && file_contains(a, "\"pad_token_id\":\t1") &&
              file_contains(a, "RobertaForQuestionAnswering"),
          "the teacher's config.json is RoBERTa's (%s)", a);
    static const char *const bpe[2] = {"vocab.json", "merges.txt"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/data/%s", o, bpe[i]);
        snprintf(b, sizeof b, "%s/%s", teacher, bpe[i]);
        CHECK(same_file(a, b), "the teacher has a copy of the data's %s", bpe[i]);
    }
    snprintf(a, sizeof a, "%s/vocab.txt", teacher);
    CHECK(access(a, F_OK) != 0, "and no WordPiece vocab.txt");
    BertModel *m = NULL;
    CHECK(checkpoint_load(teacher, &m) == QA_OK && bert_config(m)->family == BERT_FAMILY_ROBERTA &&
              bert_config(m)->position_offset == 2 && bert_config(m)->type_vocab_size == 1,
          "the teacher loads back as RoBERTa, positions from padding_idx 1 + 1: %s",
          m ? "" : qa_last_error());
    bert_free(m);

    /* a point's pruned checkpoint: RoBERTa with the BPE copied; eval scores it as the sweep */
    char point[900] = "";
    snprintf(a, sizeof a, "ls -d %s/points/*/ 2>/dev/null | while read d; do "
             "[ -f \"$d/model.safetensors\" ] && echo \"$d\" && break; done", o);
    p = popen(a, "r");
    if (p && fgets(point, sizeof point, p)) point[strcspn(point, "\n")] = '\0';
    if (p) pclose(p);
    CHECK(*point, "a point directory with a pruned checkpoint under %s/points", o);
    for (int i = 0; i < 2 && *point; i++) {
        snprintf(a, sizeof a, "%s/data/%s", o, bpe[i]);
        snprintf(b, sizeof b, "%s/%s", point, bpe[i]);
        CHECK(same_file(a, b), "the pruned checkpoint %s has a copy of %s", point, bpe[i]);
    }
    rc = run(out, sizeof out, "%s eval --model %s --data %s/data/dev.json --out %s/rte --threads 1",
             bin, point, o, dir);
    CHECK(rc == 0 && strstr(out, "tokenizer bpe (roberta input format"),
          "eval of a point's checkpoint: %s", out);
    snprintf(a, sizeof a, "%s/eval.json", point);
    snprintf(b, sizeof b, "%s/rte/eval.json", dir);
    double fa = json_number(a, "f1"), fb = json_number(b, "f1");
    CHECK(fa >= 0 && fa == fb, "eval scores the point's checkpoint as the sweep did (%g vs %g)",
          fa, fb);
    /* a second run: nothing to do, the data and the teacher kept */
    rc = run(out, sizeof out, "%s run %s --jobs 1 --no-plots", bin, grid);
    CHECK(rc == 0 && strstr(out, "points of this grid: 12 done, 0 failed") &&
              !strstr(out, "writing it again") && !strstr(out, "teacher: step"),
          "a second run redoes nothing: %s", out + (strlen(out) > 800 ? strlen(out) - 800 : 0));

    /* sweep teacher on data without a BPE names the missing file */
    rc = run(out, sizeof out, "%s gen-data --out %s/nobpe --seed 1 --train 50 --dev 10 && "
             "echo '{\"family\": \"roberta\"}' > %s/rob.json && "
             "%s teacher --data %s/nobpe --out %s/nobpe-t --config %s/rob.json", bin, dir, dir,
             bin, dir, dir, dir);
    CHECK(rc == 1 && strstr(out, "nobpe/vocab.json: missing: a roberta teacher reads the data's "
                                 "byte-level BPE"),
          "sweep teacher without the BPE files: %s", out + (strlen(out) > 600 ? strlen(out) - 600 : 0));
    snprintf(a, sizeof a, "%s/nobpe-t", dir);
    CHECK(access(a, F_OK) != 0, "nothing written");
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_trained_teacher(test_sweep_bin());
    if (access(EXPECTED ".safetensors", R_OK) || access(CK "/vocab.json", R_OK)) {
        SKIP("%s missing (run tests/make_torch_checkpoint.py)", CK);
    } else {
        test_library();
        test_cli(test_sweep_bin());
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cannot remove %s", dir);
    return TEST_DONE();
}
