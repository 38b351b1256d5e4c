/* tests/test_checkpoint.c: core/checkpoint round trip of a ragged model (bit-exact parameters,
 * config and logits), pruned_heads as transformers records them, one-line errors for broken
 * checkpoints, and loading the PyTorch-made BERT and RoBERTa checkpoints of
 * tests/make_torch_checkpoint.py with their logits matched. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/model/bert.h"
#include "core/model/checkpoint.h"
#include "core/util/error.h"
#include "core/model/safetensors.h"
#include "tests/test.h"

static char dir[] = "/tmp/qaprune_ckpt_XXXXXX";

/* Returns dir/name[/file] in one of four rotating buffers. */
static const char *scratch(const char *name, const char *file) {
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s%s%s", dir, name, file ? "/" : "", file ? file : "");
    return p;
}

/* Returns the whole file as a new string (free with free()), or NULL. */
static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    fclose(f);
    s[got] = '\0';
    return s;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

/* Replaces the first occurrence of from by to in the file; returns 1 if found. */
static int edit_file(const char *path, const char *from, const char *to) {
    char *s = read_text(path), *at = s ? strstr(s, from) : NULL;
    if (at) {
        char *out = malloc(strlen(s) + strlen(to) + 1);
        sprintf(out, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
        write_text(path, out);
        free(out);
    }
    free(s);
    return at != NULL;
}

/* A 3-layer model with ragged heads (4, 2 of ids {1, 3}, 0) and FFN widths (12, 7, 0). */
static BertModel *ragged_model(void) {
    BertConfig cfg;
    bert_config_init(&cfg, 20, 16, 3, 16, 4, 12);
    cfg.heads[1] = 2;
    cfg.head_ids[1][0] = 1;
    cfg.head_ids[1][1] = 3;
    cfg.heads[2] = 0;
    cfg.ffn[1] = 7;
    cfg.ffn[2] = 0;
    cfg.hidden_dropout = 0.05f;
    BertModel *m = NULL;
    CHECK(bert_create(&cfg, &m) == QA_OK, "bert_create: %s", qa_last_error());
    if (m) bert_init_random(m, 7, 0.2f);
    return m;
}

static int config_equal(const BertConfig *a, const BertConfig *b) {
    int same = a->vocab_size == b->vocab_size && a->max_position == b->max_position &&
               a->type_vocab_size == b->type_vocab_size && a->hidden_size == b->hidden_size &&
               a->num_layers == b->num_layers && a->num_heads == b->num_heads &&
               a->intermediate_size == b->intermediate_size &&
               a->layer_norm_eps == b->layer_norm_eps &&
               a->position_offset == b->position_offset &&
               a->hidden_dropout == b->hidden_dropout &&
               a->attention_dropout == b->attention_dropout;
    for (int l = 0; same && l < a->num_layers; l++) {
        same = a->heads[l] == b->heads[l] && a->ffn[l] == b->ffn[l];
        for (int h = 0; same && h < a->heads[l]; h++) same = a->head_ids[l][h] == b->head_ids[l][h];
    }
    return same;
}

/* Runs a 2 x 6 batch (the second row padded after 4 tokens); logits into start, end [12]. */
static void run_batch(BertModel *m, float *start, float *end) {
    int32_t ids[12] = {2, 5, 9, 11, 3, 19, 2, 7, 8, 3, 0, 0};
    int32_t types[12] = {0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0};
    int32_t mask[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    BertBatch b = {2, 6, ids, types, mask};
    CHECK(bert_forward(m, &b, NULL, 0, 0) == QA_OK, "forward: %s", qa_last_error());
    memcpy(start, bert_start_logits(m), sizeof(float) * 12);
    memcpy(end, bert_end_logits(m), sizeof(float) * 12);
}

static void test_round_trip(BertModel *m) {
    const char *ck = scratch("rt", NULL), *vocab = scratch("vocab.txt", NULL);
    write_text(vocab, "[PAD]\n[UNK]\nfoo\n");
    CHECK(checkpoint_save(m, ck, vocab) == QA_OK, "save: %s", qa_last_error());
    BertModel *r = NULL;
    CHECK(checkpoint_load(ck, &r) == QA_OK, "load: %s", qa_last_error());
    if (!r) return;
    CHECK(config_equal(bert_config(m), bert_config(r)), "config differs after the round trip");
    CHECK(bert_num_params(m) == bert_num_params(r) &&
              !memcmp(bert_params(m), bert_params(r), bert_num_params(m) * sizeof(float)),
          "parameters differ after the round trip");
    float s1[12], e1[12], s2[12], e2[12];
    run_batch(m, s1, e1);
    run_batch(r, s2, e2);
    CHECK(!memcmp(s1, s2, sizeof s1) && !memcmp(e1, e2, sizeof e1), "logits differ");
    char *v = read_text(scratch("rt", "vocab.txt"));
    CHECK(v && !strcmp(v, "[PAD]\n[UNK]\nfoo\n"), "vocab.txt not copied");
    free(v);
    BertConfig cfg;
    CHECK(checkpoint_read_config(scratch("rt", "config.json"), &cfg) == QA_OK &&
              config_equal(&cfg, bert_config(m)),
          "read_config (file): %s", qa_last_error());
    CHECK(checkpoint_read_config(ck, &cfg) == QA_OK && config_equal(&cfg, bert_config(m)),
          "read_config (dir): %s", qa_last_error());
    CHECK(access(scratch("rt", "model.safetensors.tmp"), F_OK) != 0 &&
              access(scratch("rt", "config.json.tmp"), F_OK) != 0,
          "temporary files left behind");
    bert_free(r);
}

/* Prunes twice, so the second pruning's kept-head indices must map back to original ids. */
static void test_pruned_heads(BertModel *m) {
    uint8_t kh[6] = {1, 0, 1, 0, /* layer 1 */ 1, 1}, kf[19];
    memset(kf, 1, sizeof kf);
    kf[3] = 0;
    BertModel *p1 = NULL, *p2 = NULL, *r = NULL;
    CHECK(bert_prune(m, kh, kf, &p1) == QA_OK, "prune: %s", qa_last_error());
    uint8_t kh2[4] = {1, 0, /* layer 1 */ 0, 1}, kf2[18];
    memset(kf2, 1, sizeof kf2);
    CHECK(bert_prune(p1, kh2, kf2, &p2) == QA_OK, "prune again: %s", qa_last_error());
    const char *ck = scratch("pruned", NULL);
    CHECK(checkpoint_save(p2, ck, scratch("vocab.txt", NULL)) == QA_OK, "save: %s",
          qa_last_error());
    char *cj = read_text(scratch("pruned", "config.json"));
    CHECK(cj && strstr(cj, "\"pruned_heads\": {\n    \"0\": [1, 2, 3],\n    \"1\": [0, 1, 2],\n"
                           "    \"2\": [0, 1, 2, 3]\n  }"),
          "config.json pruned_heads wrong:\n%s", cj ? cj : "(none)");
    CHECK(cj && strstr(cj, "\"ffn_per_layer\": [11, 7, 0]") &&
              strstr(cj, "\"heads_per_layer\": [1, 1, 0]"),
          "config.json qaprune counts wrong");
    free(cj);
    CHECK(checkpoint_load(ck, &r) == QA_OK, "load: %s", qa_last_error());
    if (r) {
        const BertConfig *c = bert_config(r);
        CHECK(c->heads[0] == 1 && c->head_ids[0][0] == 0 && c->heads[1] == 1 &&
                  c->head_ids[1][0] == 3 && c->heads[2] == 0 && c->ffn[0] == 11,
              "head ids not kept: layer 0 %d heads, layer 1 %d heads", c->heads[0], c->heads[1]);
        CHECK(config_equal(c, bert_config(p2)), "pruned config differs after reload");
        CHECK(!memcmp(bert_params(r), bert_params(p2), bert_num_params(p2) * sizeof(float)),
              "pruned parameters differ after reload");
    }
    bert_free(r);
    bert_free(p2);
    bert_free(p1);
}

/* Checks that loading ck fails with one line naming file and holding both fragments. */
static void expect_error(const char *ck, const char *file, const char *frag1, const char *frag2) {
    BertModel *m = (BertModel *)1;
    int rc = checkpoint_load(ck, &m);
    const char *msg = qa_last_error();
    CHECK(rc == QA_ERR && m == NULL, "%s: load should fail (%s)", ck, frag1);
    CHECK(strstr(msg, file) && strstr(msg, frag1) && (!frag2 || strstr(msg, frag2)) &&
              !strchr(msg, '\n'),
          "message '%s' lacks '%s' / '%s' / '%s'", msg, file, frag1, frag2 ? frag2 : "");
}

/* Saves m as checkpoint name, then applies one config.json edit (if from is not NULL). */
static const char *broken_config(BertModel *m, const char *name, const char *from,
                                 const char *to) {
    const char *ck = scratch(name, NULL);
    checkpoint_save(m, ck, scratch("vocab.txt", NULL));
    if (from) CHECK(edit_file(scratch(name, "config.json"), from, to), "%s: no '%s'", name, from);
    return ck;
}

enum { DROP, RESHAPE, ADD };

/* Rewrites name's model.safetensors with tensor victim dropped, given one more column, or
 * followed by an extra tensor of that name. */
static void broken_tensors(BertModel *m, const char *name, int how, const char *victim) {
    int n = bert_num_tensors(m), k = 0;
    StEntry *e = calloc((size_t)n + 1, sizeof *e);
    float *zeros = calloc(4096, sizeof(float));
    for (int i = 0; i < n; i++) {
        const BertTensor *t = bert_tensor(m, i);
        StEntry x = {t->name, ST_F32, t->ndim, {t->shape[0], t->shape[1]},
                     bert_params(m) + t->offset};
        if (!strcmp(t->name, victim) && how == DROP) continue;
        if (!strcmp(t->name, victim) && how == RESHAPE) {
            x.shape[1]++;
            x.data = zeros;
        }
        e[k++] = x;
    }
    if (how == ADD) e[k++] = (StEntry){victim, ST_F32, 1, {4}, zeros};
    static const char *const meta[] = {"format", "pt", NULL};
    CHECK(st_write(scratch(name, "model.safetensors"), e, k, meta) == QA_OK, "st_write: %s",
          qa_last_error());
    free(zeros);
    free(e);
}

static void test_errors(BertModel *m) {
    const char *ck, *cj = "config.json", *ms = "model.safetensors";
    ck = broken_config(m, "nokey", "  \"hidden_size\": 16,\n", "");
    expect_error(ck, scratch("nokey", cj), "missing key \"hidden_size\"", NULL);
    ck = broken_config(m, "act", "\"gelu\"", "\"gelu_new\"");
    expect_error(ck, scratch("act", cj), "\"hidden_act\"", "gelu_new");
    ck = broken_config(m, "type", "\"hidden_size\": 16", "\"hidden_size\": \"16\"");
    expect_error(ck, scratch("type", cj), "\"hidden_size\" is a string", NULL);
    ck = broken_config(m, "range", "\"num_attention_heads\": 4", "\"num_attention_heads\": 0");
    expect_error(ck, scratch("range", cj), "\"num_attention_heads\" = 0", NULL);
    ck = broken_config(m, "model", "\"model_type\": \"bert\"", "\"model_type\": \"gpt2\"");
    expect_error(ck, scratch("model", cj), "\"model_type\"", "gpt2");
    ck = broken_config(m, "dup", "\"pruned_heads\": {", "\"pruned_heads\": {\"0\": [1, 1],");
    expect_error(ck, scratch("dup", cj), "\"pruned_heads\".\"0\": head 1", NULL);
    ck = broken_config(m, "layer", "\"pruned_heads\": {", "\"pruned_heads\": {\"3\": [0],");
    expect_error(ck, scratch("layer", cj), "\"pruned_heads\" key \"3\"", NULL);
    ck = broken_config(m, "hint", "\"ffn_per_layer\": [12, 7, 0]", "\"ffn_per_layer\": [12, 8, 0]");
    expect_error(ck, scratch("hint", cj), "ffn_per_layer\"[1] = 8",
                 "bert.encoder.layer.1.intermediate.dense.weight");
    ck = broken_config(m, "json", "\"vocab_size\"", "vocab_size");
    expect_error(ck, scratch("json", cj), "not valid JSON", NULL);

    const char *ow = "bert.encoder.layer.0.attention.output.dense.weight";
    ck = broken_config(m, "shape", NULL, NULL);
    broken_tensors(m, "shape", RESHAPE, ow);
    expect_error(ck, scratch("shape", ms), ow, "expected shape [16, 16], found [16, 17]");
    ck = broken_config(m, "missing", NULL, NULL);
    broken_tensors(m, "missing", DROP, "bert.encoder.layer.2.output.LayerNorm.bias");
    expect_error(ck, scratch("missing", ms), "bert.encoder.layer.2.output.LayerNorm.bias",
                 "missing");
    ck = broken_config(m, "extra", NULL, NULL);
    broken_tensors(m, "extra", ADD, "bert.encoder.layer.0.attention.self.rotary");
    expect_error(ck, scratch("extra", ms), "bert.encoder.layer.0.attention.self.rotary",
                 "unexpected");
    ck = broken_config(m, "noqa", NULL, NULL);
    broken_tensors(m, "noqa", DROP, "qa_outputs.weight");
    expect_error(ck, scratch("noqa", ms), "no qa_outputs.weight",
                 "not a question-answering checkpoint");
    ck = broken_config(m, "cut", NULL, NULL);
    const char *mp = scratch("cut", ms);
    FILE *f = fopen(mp, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CHECK(truncate(mp, size - 100) == 0, "truncate %s", mp);
    expect_error(ck, mp, "bytes", NULL);
    CHECK(truncate(mp, 20) == 0, "truncate %s", mp);
    expect_error(ck, mp, "header length", NULL);
    expect_error(scratch("nothere", NULL), scratch("nothere", cj), "cannot open", NULL);
}

/* Loads a checkpoint written by PyTorch and matches its logits (at real tokens only when
 * real_only; padded ones too otherwise: RoBERTa's padding sits at position pad in both). */
static BertModel *check_torch(const char *ck, const char *expected, int real_only) {
    BertModel *m = NULL;
    SafeTensors *st = NULL;
    if (access(expected, F_OK) != 0) {
        SKIP("%s missing (run tests/make_torch_checkpoint.py)", expected);
        return NULL;
    }
    CHECK(checkpoint_load(ck, &m) == QA_OK, "load %s: %s", ck, qa_last_error());
    CHECK(st_open(expected, &st) == QA_OK, "%s", qa_last_error());
    const StTensor *t = st ? st_find(st, "input_ids") : NULL;
    if (!m || !t || t->ndim != 2) {
        st_close(st);
        return m;
    }
    int B = (int)t->shape[0], T = (int)t->shape[1], N = B * T;
    int32_t *ids = malloc(sizeof(int32_t) * 3 * N), *types = ids + N, *mask = ids + 2 * N;
    float *want = malloc(sizeof(float) * 2 * N);
    CHECK(st_read_i32(st, "input_ids", 2, t->shape, ids) == QA_OK &&
              st_read_i32(st, "token_type_ids", 2, t->shape, types) == QA_OK &&
              st_read_i32(st, "attention_mask", 2, t->shape, mask) == QA_OK &&
              st_read_f32(st, "start_logits", 2, t->shape, want) == QA_OK &&
              st_read_f32(st, "end_logits", 2, t->shape, want + N) == QA_OK,
          "%s", qa_last_error());
    BertBatch b = {B, T, ids, types, mask};
    CHECK(bert_forward(m, &b, NULL, 0, 0) == QA_OK, "forward: %s", qa_last_error());
    const float *s = bert_start_logits(m), *e = bert_end_logits(m);
    int compared = 0;
    for (int i = 0; i < N; i++) {
        if (real_only && !mask[i]) continue;
        CHECK_CLOSE(s[i], want[i], 1e-4, "%s start logit %d", ck, i);
        CHECK_CLOSE(e[i], want[N + i], 1e-4, "%s end logit %d", ck, i);
        compared++;
    }
    CHECK(compared > N / 2, "%s: only %d logits compared", ck, compared);
    free(want);
    free(ids);
    st_close(st);
    return m;
}

static void test_torch(void) {
    BertModel *m =
        check_torch("tests/data/torch_ckpt", "tests/data/torch_ckpt_expected.safetensors", 0);
    if (m) {
        const BertConfig *c = bert_config(m);
        CHECK(c->heads[0] == 4 && c->heads[1] == 2 && c->head_ids[1][0] == 1 &&
                  c->head_ids[1][1] == 3 && c->ffn[1] == 32 && c->ffn[2] == 20,
              "torch BERT structure not read from pruned_heads and shapes");
    }
    bert_free(m);
    m = check_torch("tests/data/torch_roberta_ckpt",
                    "tests/data/torch_roberta_ckpt_expected.safetensors", 0);
    if (m) {
        const BertConfig *c = bert_config(m);
        CHECK(c->position_offset == 2 && c->type_vocab_size == 1 && c->layer_norm_eps == 1e-5f &&
                  c->heads[0] == 3 && c->head_ids[0][1] == 2 && c->ffn[1] == 12,
              "torch RoBERTa config not read");
        /* Written back by us, it must load the same and still say RoBERTa. */
        const char *ck = scratch("roberta_again", NULL);
        CHECK(checkpoint_save(m, ck, "tests/data/torch_roberta_ckpt/vocab.txt") == QA_OK, "%s",
              qa_last_error());
        char *cj = read_text(scratch("roberta_again", "config.json"));
        CHECK(cj && strstr(cj, "\"model_type\": \"roberta\"") && strstr(cj, "\"pad_token_id\": 1"),
              "RoBERTa config.json wrong");
        free(cj);
        BertModel *r = NULL;
        CHECK(checkpoint_load(ck, &r) == QA_OK, "reload: %s", qa_last_error());
        CHECK(r && config_equal(bert_config(r), c) &&
                  !memcmp(bert_params(r), bert_params(m), bert_num_params(m) * sizeof(float)),
              "RoBERTa round trip differs");
        bert_free(r);
    }
    bert_free(m);
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    BertModel *m = ragged_model();
    if (m) {
        test_round_trip(m);
        test_pruned_heads(m);
        test_errors(m);
    }
    test_torch();
    bert_free(m);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cannot remove %s", dir);
    return TEST_DONE();
}
