/* tests/test_checkpoint.c: core/checkpoint round trip of a ragged model (bit-exact parameters,
 * config and logits), pruned_heads as transformers records them, one-line errors for broken
 * checkpoints, and the PyTorch-made BERT, RoBERTa, DistilBERT and ELECTRA checkpoints of
 * tests/make_torch_checkpoint.py: logits matched, then each pruned (equal to the gated model),
 * fine-tuned, saved and reloaded bit-exactly. A MiniLM-shaped config loads. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/model/bert.h"
#include "core/model/checkpoint.h"
#include "core/util/error.h"
#include "core/model/safetensors.h"
#include "core/model/train.h"
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

/* Sets the member at key ("a" or "a.b") of the JSON file to the JSON text value, or removes
 * it when value is NULL; returns 1 if done. */
static int edit_json(const char *path, const char *key, const char *value) {
    char *s = read_text(path), outer[64] = "";
    cJSON *root = s ? cJSON_Parse(s) : NULL, *obj = root;
    free(s);
    const char *dot = strchr(key, '.');
    if (dot) {
        snprintf(outer, sizeof outer, "%.*s", (int)(dot - key), key);
        obj = cJSON_GetObjectItemCaseSensitive(root, outer);
        key = dot + 1;
    }
    int done = 0;
    if (obj && !value) done = cJSON_GetObjectItemCaseSensitive(obj, key) != NULL;
    if (obj) cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON *v = value ? cJSON_Parse(value) : NULL;
    if (obj && v) done = cJSON_AddItemToObject(obj, key, v);
    char *out = done ? cJSON_Print(root) : NULL;
    if (out) write_text(path, out);
    cJSON_free(out);
    cJSON_Delete(root);
    return done;
}

/* The JSON text of the member at key of the file (new string, free with cJSON_free), or NULL. */
static char *json_member(const char *path, const char *key) {
    char *s = read_text(path);
    cJSON *root = s ? cJSON_Parse(s) : NULL;
    free(s);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    char *out = v ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(root);
    return out;
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
    char *ph = json_member(scratch("pruned", "config.json"), "pruned_heads");
    char *q = json_member(scratch("pruned", "config.json"), "qaprune");
    CHECK(ph && !strcmp(ph, "{\"0\":[1,2,3],\"1\":[0,1,2],\"2\":[0,1,2,3]}"),
          "config.json pruned_heads wrong: %s", ph ? ph : "(none)");
    CHECK(q && !strcmp(q, "{\"ffn_per_layer\":[11,7,0],\"heads_per_layer\":[1,1,0]}"),
          "config.json qaprune counts wrong: %s", q ? q : "(none)");
    cJSON_free(ph);
    cJSON_free(q);
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

/* Saves m as checkpoint name, then sets config.json's key to the JSON text value (removes it
 * when value is NULL; no edit when key is NULL). */
static const char *broken_config(BertModel *m, const char *name, const char *key,
                                 const char *value) {
    const char *ck = scratch(name, NULL);
    checkpoint_save(m, ck, scratch("vocab.txt", NULL));
    if (key) CHECK(edit_json(scratch(name, "config.json"), key, value), "%s: no '%s'", name, key);
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
    ck = broken_config(m, "nokey", "hidden_size", NULL);
    expect_error(ck, scratch("nokey", cj), "missing key \"hidden_size\"", NULL);
    ck = broken_config(m, "act", "hidden_act", "\"gelu_new\"");
    expect_error(ck, scratch("act", cj), "\"hidden_act\" is \"gelu_new\"", "only \"gelu\"");
    ck = broken_config(m, "type", "hidden_size", "\"16\"");
    expect_error(ck, scratch("type", cj), "\"hidden_size\" is a string", NULL);
    ck = broken_config(m, "range", "num_attention_heads", "0");
    expect_error(ck, scratch("range", cj), "\"num_attention_heads\" = 0", NULL);
    ck = broken_config(m, "model", "model_type", "\"gpt2\"");
    expect_error(ck, scratch("model", cj), "\"model_type\" is \"gpt2\"",
                 "supported: \"bert\", \"roberta\", \"distilbert\", \"electra\"");
    ck = broken_config(m, "dup", "pruned_heads", "{\"0\": [1, 1]}");
    expect_error(ck, scratch("dup", cj), "\"pruned_heads\".\"0\": head 1", NULL);
    ck = broken_config(m, "layer", "pruned_heads", "{\"3\": [0]}");
    expect_error(ck, scratch("layer", cj), "\"pruned_heads\" key \"3\"", NULL);
    ck = broken_config(m, "hint", "qaprune.ffn_per_layer", "[12, 8, 0]");
    expect_error(ck, scratch("hint", cj), "ffn_per_layer\"[1] = 8",
                 "bert.encoder.layer.1.intermediate.dense.weight");
    ck = broken_config(m, "json", NULL, NULL);
    CHECK(edit_file(scratch("json", cj), "\"vocab_size\"", "vocab_size"), "json: no vocab_size");
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

/* The expected logits of a torch fixture, with its inputs: returns 0 and fills the arrays
 * (new, free ids and want) or -1. */
typedef struct {
    int B, T;
    int32_t *ids, *types, *mask; /* [B*T] each, one allocation */
    float *want;                 /* start [B*T] then end [B*T] */
} Expected;

static int read_expected(const char *path, Expected *x) {
    SafeTensors *st = NULL;
    memset(x, 0, sizeof *x);
    if (st_open(path, &st)) return -1;
    const StTensor *t = st_find(st, "input_ids");
    int rc = -1;
    if (t && t->ndim == 2) {
        x->B = (int)t->shape[0];
        x->T = (int)t->shape[1];
        int N = x->B * x->T;
        x->ids = malloc(sizeof(int32_t) * 3 * N);
        x->types = x->ids + N;
        x->mask = x->ids + 2 * N;
        x->want = malloc(sizeof(float) * 2 * N);
        rc = st_read_i32(st, "input_ids", 2, t->shape, x->ids) ||
                     st_read_i32(st, "token_type_ids", 2, t->shape, x->types) ||
                     st_read_i32(st, "attention_mask", 2, t->shape, x->mask) ||
                     st_read_f32(st, "start_logits", 2, t->shape, x->want) ||
                     st_read_f32(st, "end_logits", 2, t->shape, x->want + N)
                 ? -1
                 : 0;
    }
    st_close(st);
    return rc;
}

/* Loads a checkpoint written by PyTorch and matches its logits (at real tokens only when
 * real_only: transformers puts RoBERTa's padding at position pad, the engine at pad + 1 + t). */
static BertModel *check_torch(const char *ck, const char *expected, int real_only) {
    BertModel *m = NULL;
    Expected x;
    if (access(expected, F_OK) != 0) {
        SKIP("%s missing (run tests/make_torch_checkpoint.py)", expected);
        return NULL;
    }
    CHECK(checkpoint_load(ck, &m) == QA_OK, "load %s: %s", ck, qa_last_error());
    CHECK(read_expected(expected, &x) == 0, "%s: %s", expected, qa_last_error());
    if (!m || !x.ids) {
        free(x.ids), free(x.want);
        return m;
    }
    int N = x.B * x.T;
    BertBatch b = {x.B, x.T, x.ids, x.types, x.mask};
    CHECK(bert_forward(m, &b, NULL, 0, 0) == QA_OK, "forward: %s", qa_last_error());
    const float *s = bert_start_logits(m), *e = bert_end_logits(m);
    int compared = 0;
    double worst = 0;
    for (int i = 0; i < N; i++) {
        if (real_only && !x.mask[i]) continue;
        CHECK_CLOSE(s[i], x.want[i], 1e-4, "%s start logit %d", ck, i);
        CHECK_CLOSE(e[i], x.want[N + i], 1e-4, "%s end logit %d", ck, i);
        worst = fmax(worst, fmax(fabs(s[i] - x.want[i]), fabs(e[i] - x.want[N + i])));
        compared++;
    }
    printf("%s: %d start/end logit pairs, worst |diff| %.2g\n", ck, compared, worst);
    CHECK(compared > N / 2, "%s: only %d logits compared", ck, compared);
    free(x.want);
    free(x.ids);
    return m;
}

/* Runs m on the fixture's inputs (gates may be NULL); logits into out [2*B*T]. */
static int logits_of(BertModel *m, const Expected *x, const BertGates *g, float *out) {
    BertBatch b = {x->B, x->T, x->ids, x->types, x->mask};
    int N = x->B * x->T;
    if (bert_forward(m, &b, g, 0, 0)) return -1;
    memcpy(out, bert_start_logits(m), sizeof(float) * N);
    memcpy(out + N, bert_end_logits(m), sizeof(float) * N);
    return 0;
}

/* A few AdamW steps on the fixture's inputs with made-up gold spans (dropout on). */
static int fine_tune(BertModel *m, const Expected *x) {
    int32_t sp[16], ep[16];
    for (int b = 0; b < x->B && b < 16; b++) sp[b] = 1 + b, ep[b] = 2 + b;
    QaData d = {x->B, x->T, x->ids, x->types, x->mask, sp, ep, NULL};
    TrainOpts o;
    train_opts_init(&o);
    o.batch_size = x->B;
    o.steps = 3;
    o.lr = 1e-2f;
    o.seed = 5;
    TrainStats st;
    return train_qa(m, &d, &o, &st);
}

/* The life of an outside checkpoint: prune a head or two and some neurons of every layer
 * (the physically smaller model equals the gated one), fine-tune, save in the Hugging Face
 * layout, reload: same config, same parameters, same logits to the bit. */
static void check_cycle(BertModel *m, const char *expected, const char *name) {
    Expected x;
    if (!m || read_expected(expected, &x)) return;
    const BertConfig *c = bert_config(m);
    int nh = bert_total_heads(c), nf = bert_total_ffn(c), N = x.B * x.T;
    uint8_t *kh = malloc((size_t)nh + 1), *kf = malloc((size_t)nf + 1);
    float *gh = malloc(sizeof(float) * (nh + 1)), *gf = malloc(sizeof(float) * (nf + 1));
    float *want = malloc(sizeof(float) * 2 * N), *got = malloc(sizeof(float) * 2 * N);
    for (int i = 0; i < nh; i++) gh[i] = kh[i] = i % 3 != 1;
    for (int i = 0; i < nf; i++) gf[i] = kf[i] = i % 4 != 2;
    BertModel *p = NULL, *r = NULL;
    CHECK(logits_of(m, &x, &(BertGates){gh, gf}, want) == 0, "%s gated: %s", name, qa_last_error());
    CHECK(bert_prune(m, kh, kf, &p) == QA_OK, "%s prune: %s", name, qa_last_error());
    if (p) {
        CHECK(logits_of(p, &x, NULL, got) == 0, "%s pruned: %s", name, qa_last_error());
        double worst = 0;
        for (int i = 0; i < 2 * N; i++) worst = fmax(worst, fabs(got[i] - want[i]));
        CHECK(worst < 1e-5, "%s: pruned logits differ from the gated ones by %.2g", name, worst);
        printf("%s: pruned to %d of %d heads, %d of %d neurons; pruned vs gated logits %.2g\n",
               name, bert_total_heads(bert_config(p)), nh, bert_total_ffn(bert_config(p)), nf,
               worst);
        CHECK(bert_total_heads(bert_config(p)) < nh && bert_total_ffn(bert_config(p)) < nf,
              "%s: pruning removed nothing", name);
        float *before = malloc(sizeof(float) * bert_num_params(p));
        memcpy(before, bert_params(p), sizeof(float) * bert_num_params(p));
        CHECK(fine_tune(p, &x) == QA_OK, "%s fine-tune: %s", name, qa_last_error());
        for (int i = 0; i < bert_num_tensors(p); i++) {
            const BertTensor *t = bert_tensor(p, i);
            int same = !memcmp(before + t->offset, bert_params(p) + t->offset,
                               sizeof(float) * t->numel);
            CHECK(t->numel == 0 || same == !t->trainable,
                  "%s: %s %s by fine-tuning", name, t->name, same ? "unchanged" : "changed");
        }
        free(before);
        const char *ck = scratch(name, NULL);
        CHECK(checkpoint_save(p, ck, scratch("vocab.txt", NULL)) == QA_OK, "%s save: %s", name,
              qa_last_error());
        CHECK(checkpoint_load(ck, &r) == QA_OK, "%s reload: %s", name, qa_last_error());
    }
    if (r) {
        CHECK(config_equal(bert_config(r), bert_config(p)) &&
                  bert_config(r)->family == bert_config(p)->family &&
                  bert_embedding_size(bert_config(r)) == bert_embedding_size(bert_config(p)) &&
                  bert_config(r)->frozen_positions == bert_config(p)->frozen_positions &&
                  bert_config(r)->qa_dropout == bert_config(p)->qa_dropout,
              "%s: config differs after save and reload", name);
        CHECK(bert_num_params(r) == bert_num_params(p) &&
                  !memcmp(bert_params(r), bert_params(p), sizeof(float) * bert_num_params(p)),
              "%s: parameters differ after save and reload", name);
        CHECK(logits_of(p, &x, NULL, want) == 0 && logits_of(r, &x, NULL, got) == 0 &&
                  !memcmp(want, got, sizeof(float) * 2 * N),
              "%s: reloaded logits differ", name);
    }
    bert_free(r);
    bert_free(p);
    free(kh), free(kf), free(gh), free(gf), free(want), free(got), free(x.ids), free(x.want);
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
    check_cycle(m, "tests/data/torch_ckpt_expected.safetensors", "bert_cycle");
    bert_free(m);
    m = check_torch("tests/data/torch_roberta_ckpt",
                    "tests/data/torch_roberta_ckpt_expected.safetensors", 1);
    if (m) {
        const BertConfig *c = bert_config(m);
        CHECK(c->position_offset == 2 && c->type_vocab_size == 1 && c->layer_norm_eps == 1e-5f &&
                  c->heads[0] == 3 && c->head_ids[0][1] == 2 && c->ffn[1] == 12,
              "torch RoBERTa config not read");
        /* Written back by us, it must load the same and still say RoBERTa. */
        const char *ck = scratch("roberta_again", NULL);
        CHECK(checkpoint_save(m, ck, "tests/data/torch_roberta_ckpt/vocab.txt") == QA_OK, "%s",
              qa_last_error());
        char *mt = json_member(scratch("roberta_again", "config.json"), "model_type");
        char *pad = json_member(scratch("roberta_again", "config.json"), "pad_token_id");
        CHECK(mt && pad && !strcmp(mt, "\"roberta\"") && !strcmp(pad, "1"),
              "RoBERTa config.json wrong: model_type %s, pad_token_id %s", mt, pad);
        cJSON_free(mt);
        cJSON_free(pad);
        BertModel *r = NULL;
        CHECK(checkpoint_load(ck, &r) == QA_OK, "reload: %s", qa_last_error());
        CHECK(r && config_equal(bert_config(r), c) &&
                  !memcmp(bert_params(r), bert_params(m), bert_num_params(m) * sizeof(float)),
              "RoBERTa round trip differs");
        bert_free(r);
    }
    check_cycle(m, "tests/data/torch_roberta_ckpt_expected.safetensors", "roberta_cycle");
    bert_free(m);
}

/* DistilBERT: its own names, no token types (the fixture's inputs have types 0/1, ignored),
 * fixed sinusoidal positions (computed when the file lacks them), its own config keys. */
static void test_torch_distilbert(void) {
    const char *exp = "tests/data/torch_distilbert_ckpt_expected.safetensors";
    BertModel *m = check_torch("tests/data/torch_distilbert_ckpt", exp, 0);
    if (!m) return;
    const BertConfig *c = bert_config(m);
    CHECK(c->family == BERT_FAMILY_DISTILBERT && c->type_vocab_size == 0 &&
              c->frozen_positions && c->qa_dropout == 0.1f && c->heads[0] == 3 &&
              c->heads[2] == 2 && c->head_ids[2][0] == 1 && c->head_ids[2][1] == 3 &&
              c->ffn[0] == 24 && c->ffn[1] == 10 && c->ffn[2] == 7,
          "torch DistilBERT config or structure not read");
    CHECK(bert_find_tensor(m, "distilbert.transformer.layer.1.ffn.lin1.weight") &&
              bert_find_tensor(m, "distilbert.transformer.layer.2.sa_layer_norm.bias") &&
              !bert_find_tensor(m, "distilbert.embeddings.token_type_embeddings.weight"),
          "DistilBERT tensor names");
    /* The file without its position table: the fixed sinusoids are computed instead. */
    const char *ck = scratch("distil_nopos", NULL);
    CHECK(checkpoint_save(m, ck, "tests/data/torch_distilbert_ckpt/vocab.txt") == QA_OK, "%s",
          qa_last_error());
    broken_tensors(m, "distil_nopos", DROP, "distilbert.embeddings.position_embeddings.weight");
    BertModel *r = check_torch(ck, exp, 0);
    CHECK(r && !memcmp(bert_weights(r)->wpe, bert_weights(m)->wpe,
                       sizeof(float) * (size_t)c->max_position * c->hidden_size),
          "computed sinusoids differ from the stored ones");
    bert_free(r);
    char *sin = json_member(scratch("distil_nopos", "config.json"), "sinusoidal_pos_embds");
    char *dim = json_member(scratch("distil_nopos", "config.json"), "dim");
    CHECK(sin && dim && !strcmp(sin, "true") && !strcmp(dim, "16"),
          "DistilBERT config.json keys: sinusoidal_pos_embds %s, dim %s", sin, dim);
    cJSON_free(sin);
    cJSON_free(dim);
    ck = broken_config(m, "distil_act", "activation", "\"relu\"");
    expect_error(ck, scratch("distil_act", "config.json"), "\"activation\" is \"relu\"",
                 "only \"gelu\"");
    ck = broken_config(m, "distil_dim", "dim", NULL);
    expect_error(ck, scratch("distil_dim", "config.json"), "missing key \"dim\"", NULL);
    check_cycle(m, exp, "distilbert_cycle");
    bert_free(m);
}

/* ELECTRA: embedding tables of width 8 projected to hidden 16 by embeddings_project. */
static void test_torch_electra(void) {
    const char *exp = "tests/data/torch_electra_ckpt_expected.safetensors";
    BertModel *m = check_torch("tests/data/torch_electra_ckpt", exp, 0);
    if (!m) return;
    const BertConfig *c = bert_config(m);
    const BertTensor *pw = bert_find_tensor(m, "electra.embeddings_project.weight");
    const BertTensor *we = bert_find_tensor(m, "electra.embeddings.word_embeddings.weight");
    CHECK(c->family == BERT_FAMILY_ELECTRA && bert_embedding_size(c) == 8 &&
              c->hidden_size == 16 && c->heads[1] == 2 && c->ffn[0] == 12 && pw &&
              pw->shape[0] == 16 && pw->shape[1] == 8 && we && we->shape[1] == 8,
          "torch ELECTRA config or embeddings_project not read");
    const char *ck = broken_config(m, "electra_e", "embedding_size", NULL);
    expect_error(ck, scratch("electra_e", "config.json"), "missing key \"embedding_size\"", NULL);
    ck = broken_config(m, "electra_proj", NULL, NULL);
    broken_tensors(m, "electra_proj", DROP, "electra.embeddings_project.bias");
    expect_error(ck, scratch("electra_proj", "model.safetensors"),
                 "electra.embeddings_project.bias", "missing");
    check_cycle(m, exp, "electra_cycle");
    bert_free(m);
}

/* ELECTRA with embedding_size = hidden_size (electra-base/large) has no embeddings_project;
 * the family rules of the config are checked with one line each. */
static void test_electra_same_width(void) {
    BertConfig c;
    bert_config_init(&c, 20, 16, 2, 16, 4, 12);
    c.family = BERT_FAMILY_ELECTRA;
    c.embedding_size = 16;
    BertModel *m = NULL, *r = NULL;
    CHECK(bert_create(&c, &m) == QA_OK, "ELECTRA E = C: %s", qa_last_error());
    if (!m) return;
    bert_init_random(m, 4, 0.2f);
    CHECK(!bert_find_tensor(m, "electra.embeddings_project.weight") &&
              bert_find_tensor(m, "electra.encoder.layer.1.output.dense.weight"),
          "ELECTRA E = C: no projection, electra. names");
    const char *ck = scratch("electra_same", NULL);
    CHECK(checkpoint_save(m, ck, scratch("vocab.txt", NULL)) == QA_OK, "save: %s", qa_last_error());
    char *e = json_member(scratch("electra_same", "config.json"), "embedding_size");
    CHECK(e && !strcmp(e, "16"), "embedding_size written: %s", e);
    cJSON_free(e);
    CHECK(checkpoint_load(ck, &r) == QA_OK && r && bert_config(r)->family == BERT_FAMILY_ELECTRA &&
              bert_num_params(r) == bert_num_params(m) &&
              !memcmp(bert_params(r), bert_params(m), sizeof(float) * bert_num_params(m)),
          "ELECTRA E = C round trip: %s", qa_last_error());
    bert_free(r);
    bert_free(m);
    BertConfig bad = c;
    bad.family = BERT_FAMILY_BERT;
    bad.embedding_size = 8;
    CHECK(bert_config_check(&bad) == QA_ERR && strstr(qa_last_error(), "embedding_size 8") &&
              strstr(qa_last_error(), "\"electra\""),
          "BERT with embedding_size != hidden_size refused: %s", qa_last_error());
    bad = c;
    bad.family = BERT_FAMILY_DISTILBERT;
    CHECK(bert_config_check(&bad) == QA_ERR && strstr(qa_last_error(), "type_vocab_size 2"),
          "DistilBERT with token types refused: %s", qa_last_error());
    bad = c;
    bad.family = BERT_FAMILY_BERT;
    bad.embedding_size = 0;
    bad.position_offset = 2;
    CHECK(bert_config_check(&bad) == QA_ERR && strstr(qa_last_error(), "position offset 2"),
          "BERT with a RoBERTa position offset refused: %s", qa_last_error());
}

/* MiniLM (e.g. deepset/minilm-uncased-squad2) is a BERT: hidden 384 in 12 heads of 32. */
static void test_minilm_config(void) {
    const char *path = scratch("minilm.json", NULL);
    write_text(path, "{\"architectures\": [\"BertForQuestionAnswering\"], "
                     "\"attention_probs_dropout_prob\": 0.1, \"hidden_act\": \"gelu\", "
                     "\"hidden_dropout_prob\": 0.1, \"hidden_size\": 384, "
                     "\"initializer_range\": 0.02, \"intermediate_size\": 1536, "
                     "\"max_position_embeddings\": 512, \"model_type\": \"bert\", "
                     "\"num_attention_heads\": 12, \"num_hidden_layers\": 12, "
                     "\"type_vocab_size\": 2, \"vocab_size\": 30522}\n");
    BertConfig c;
    CHECK(checkpoint_read_config(path, &c) == QA_OK, "MiniLM config: %s", qa_last_error());
    CHECK(c.family == BERT_FAMILY_BERT && c.hidden_size == 384 && c.num_heads == 12 &&
              bert_head_size(&c) == 32 && c.num_layers == 12 && c.ffn[11] == 1536 &&
              c.layer_norm_eps == 1e-12f && bert_embedding_size(&c) == 384,
          "MiniLM config read wrong");
    CHECK(bert_check_seq_len(&c, 512, "minilm") == QA_OK, "512 tokens fit 512 positions");
    CHECK(bert_check_seq_len(&c, 513, "minilm") == QA_ERR &&
              strstr(qa_last_error(), "minilm: max_seq_len 513") &&
              strstr(qa_last_error(), "max_position_embeddings 512"),
          "513 tokens rejected: %s", qa_last_error());
    /* Small vocabulary and two layers of that shape run, prune, save and reload. */
    c.vocab_size = 40;
    c.max_position = 16;
    c.num_layers = 2;
    BertModel *m = NULL, *p = NULL, *r = NULL;
    CHECK(bert_create(&c, &m) == QA_OK, "MiniLM-shaped model: %s", qa_last_error());
    if (!m) return;
    bert_init_random(m, 3, 0.05f);
    uint8_t kh[24], kf[3072];
    for (int i = 0; i < 24; i++) kh[i] = i % 5 != 0;
    for (int i = 0; i < 3072; i++) kf[i] = i % 3 != 0;
    CHECK(bert_prune(m, kh, kf, &p) == QA_OK, "prune: %s", qa_last_error());
    const char *ck = scratch("minilm", NULL);
    CHECK(p && checkpoint_save(p, ck, scratch("vocab.txt", NULL)) == QA_OK, "save: %s",
          qa_last_error());
    CHECK(checkpoint_load(ck, &r) == QA_OK, "reload: %s", qa_last_error());
    if (r) {
        float s1[12], e1[12], s2[12], e2[12];
        run_batch(p, s1, e1);
        run_batch(r, s2, e2);
        CHECK(!memcmp(s1, s2, sizeof s1) && !memcmp(e1, e2, sizeof e1) &&
                  bert_config(r)->heads[0] == 9 && bert_config(r)->ffn[1] == 1024,
              "MiniLM-shaped round trip");
    }
    bert_free(r);
    bert_free(p);
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
    test_torch_distilbert();
    test_torch_electra();
    test_minilm_config();
    test_electra_same_width();
    bert_free(m);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cannot remove %s", dir);
    return TEST_DONE();
}
