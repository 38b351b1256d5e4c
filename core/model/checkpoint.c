/* core/model/checkpoint.c: Hugging Face checkpoint directories (config.json, model.safetensors,
 * vocab.txt) to and from BertModel. The tensor list comes from the model's own table
 * (bert_tensor); this file only maps the name prefix and reads or writes config.json. */
#include "core/model/checkpoint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/error.h"
#include "core/text/text.h"
#include "core/model/safetensors.h"
#include "core/util/fileio.h"

#define CONFIG_MAX_BYTES (1 << 20)
#define VOCAB_MAX_BYTES (64 << 20)

/* Tensors transformers may store that question answering does not use, named without the
 * model prefix: the position/token-type id buffers and BertModel's pooler. */
static const char *const HARMLESS[] = {
    "embeddings.position_ids", "embeddings.token_type_ids", "pooler.dense.weight",
    "pooler.dense.bias",
};

/* What config.json says beyond BertConfig: the tensor prefix and the informational
 * "qaprune" per-layer counts (has_hint 0 when absent). */
typedef struct {
    BertConfig cfg;
    const char *prefix; /* "bert." or "roberta."; "" for a file whose names lack it */
    int has_hint;
    int hint_heads[BERT_MAX_LAYERS], hint_ffn[BERT_MAX_LAYERS];
} CkptConfig;

/* ---------------------------------------------------------------- files */

/* Re-raises the last error (a "config: ..." line from bert_config_check) prefixed by path. */
static int error_at(const char *path) {
    char msg[1024];
    const char *e = qa_last_error();
    snprintf(msg, sizeof msg, "%s", strncmp(e, "config: ", 8) ? e : e + 8);
    return qa_error("%s: %s", path, msg);
}

/* ---------------------------------------------------------------- reading config.json */

static const char *json_kind(const cJSON *v) {
    return cJSON_IsNumber(v) ? "a number" : cJSON_IsString(v) ? "a string"
         : cJSON_IsArray(v) ? "an array" : cJSON_IsObject(v) ? "an object"
         : cJSON_IsBool(v) ? "a boolean" : "null";
}

/* Sets *out to the number under key (def when absent or null and not required). */
static int get_number(const char *path, const cJSON *root, const char *key, int required,
                      double def, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (cJSON_IsNull(v) && !required) v = NULL;
    if (!v && required) return qa_error("%s: missing key \"%s\"", path, key);
    if (v && !cJSON_IsNumber(v))
        return qa_error("%s: \"%s\" is %s, not a number", path, key, json_kind(v));
    *out = v ? v->valuedouble : def;
    return QA_OK;
}

static int get_int(const char *path, const cJSON *root, const char *key, int required, int def,
                   int lo, int hi, int *out) {
    double d = def;
    if (get_number(path, root, key, required, def, &d)) return QA_ERR;
    if (!(d >= lo && d <= hi) || d != floor(d))
        return qa_error("%s: \"%s\" = %g must be an integer in [%d, %d]", path, key, d, lo, hi);
    *out = (int)d;
    return QA_OK;
}

static int get_float(const char *path, const cJSON *root, const char *key, int required,
                     double def, double lo, double hi, float *out) {
    double d = def;
    if (get_number(path, root, key, required, def, &d)) return QA_ERR;
    if (!(d >= lo && d < hi))
        return qa_error("%s: \"%s\" = %g outside [%g, %g)", path, key, d, lo, hi);
    *out = (float)d;
    return QA_OK;
}

/* Sets *out to the string under key (borrowed from root); NULL when absent and optional. */
static int get_string(const char *path, const cJSON *root, const char *key, int required,
                      const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = cJSON_IsString(v) ? v->valuestring : NULL;
    if (!v && required) return qa_error("%s: missing key \"%s\"", path, key);
    if (v && !*out) return qa_error("%s: \"%s\" is %s, not a string", path, key, json_kind(v));
    return QA_OK;
}

/* "pruned_heads": {"layer": [original head ids]} -> heads[l] and increasing head_ids[l]. */
static int parse_pruned_heads(const char *path, const cJSON *root, BertConfig *c) {
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(root, "pruned_heads");
    uint8_t pruned[BERT_MAX_LAYERS][BERT_MAX_HEADS] = {{0}}, seen[BERT_MAX_LAYERS] = {0};
    if (ph && !cJSON_IsObject(ph))
        return qa_error("%s: \"pruned_heads\" is %s, not an object", path, json_kind(ph));
    for (const cJSON *e = ph ? ph->child : NULL; e; e = e->next) {
        char *end;
        long l = strtol(e->string, &end, 10);
        if (!*e->string || *end || l < 0 || l >= c->num_layers || seen[l]++)
            return qa_error("%s: \"pruned_heads\" key \"%s\" is not a distinct layer index in "
                            "[0, %d)", path, e->string, c->num_layers);
        if (!cJSON_IsArray(e))
            return qa_error("%s: \"pruned_heads\".\"%s\" is %s, not an array", path, e->string,
                            json_kind(e));
        for (const cJSON *h = e->child; h; h = h->next) {
            double d = cJSON_IsNumber(h) ? h->valuedouble : -1;
            if (!(d >= 0 && d < c->num_heads) || d != floor(d) || pruned[l][(int)d]++) {
                char *v = cJSON_PrintUnformatted(h);
                qa_error("%s: \"pruned_heads\".\"%s\": head %s is not a distinct integer in "
                         "[0, %d)", path, e->string, v ? v : "?", c->num_heads);
                cJSON_free(v);
                return QA_ERR;
            }
        }
    }
    for (int l = 0; l < c->num_layers; l++) {
        c->heads[l] = 0;
        for (int h = 0; h < c->num_heads; h++)
            if (!pruned[l][h]) c->head_ids[l][c->heads[l]++] = (int8_t)h;
    }
    return QA_OK;
}

/* One array of "qaprune": num_layers non-negative integers into out. */
static int parse_hint_array(const char *path, const cJSON *q, const char *key, int n, int *out) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(q, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return qa_error("%s: \"qaprune\".\"%s\" is not an array of %d layer counts", path, key, n);
    int i = 0;
    for (const cJSON *v = a->child; v; v = v->next, i++) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > INT_MAX ||
            v->valuedouble != floor(v->valuedouble))
            return qa_error("%s: \"qaprune\".\"%s\"[%d] is not a non-negative integer", path,
                            key, i);
        out[i] = (int)v->valuedouble;
    }
    return QA_OK;
}

/* The informational "qaprune" key: parsed, and its head counts checked against pruned_heads. */
static int parse_hint(const char *path, const cJSON *root, CkptConfig *cc) {
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "qaprune");
    if (!q) return QA_OK;
    int L = cc->cfg.num_layers;
    if (!cJSON_IsObject(q))
        return qa_error("%s: \"qaprune\" is %s, not an object", path, json_kind(q));
    if (parse_hint_array(path, q, "heads_per_layer", L, cc->hint_heads) ||
        parse_hint_array(path, q, "ffn_per_layer", L, cc->hint_ffn))
        return QA_ERR;
    for (int l = 0; l < L; l++)
        if (cc->hint_heads[l] != cc->cfg.heads[l])
            return qa_error("%s: \"qaprune\".\"heads_per_layer\"[%d] = %d but pruned_heads "
                            "leaves %d heads", path, l, cc->hint_heads[l], cc->cfg.heads[l]);
    cc->has_hint = 1;
    return QA_OK;
}

/* Fills cc from the parsed JSON object; every required key present, every value checked. */
static int config_from_json(const char *path, const cJSON *root, CkptConfig *cc) {
    BertConfig *c = &cc->cfg;
    const char *type, *act, *pos_type;
    if (get_string(path, root, "model_type", 1, &type)) return QA_ERR;
    int roberta = !strcmp(type, "roberta");
    if (!roberta && strcmp(type, "bert"))
        return qa_error("%s: \"model_type\" is \"%s\"; only \"bert\" and \"roberta\" are "
                        "supported", path, type);
    cc->prefix = roberta ? "roberta." : "bert.";
    int V, P, L, C, NH, F, pad;
    if (get_int(path, root, "vocab_size", 1, 0, 1, INT_MAX, &V) ||
        get_int(path, root, "max_position_embeddings", 1, 0, 1, INT_MAX, &P) ||
        get_int(path, root, "num_hidden_layers", 1, 0, 0, BERT_MAX_LAYERS, &L) ||
        get_int(path, root, "hidden_size", 1, 0, 1, INT_MAX, &C) ||
        get_int(path, root, "num_attention_heads", 1, 0, 1, BERT_MAX_HEADS, &NH) ||
        get_int(path, root, "intermediate_size", 1, 0, 0, INT_MAX, &F))
        return QA_ERR;
    if (C % NH)
        return qa_error("%s: \"hidden_size\" = %d is not a multiple of \"num_attention_heads\" "
                        "= %d", path, C, NH);
    bert_config_init(c, V, P, L, C, NH, F);
    if (get_int(path, root, "type_vocab_size", 1, 0, 1, INT_MAX, &c->type_vocab_size) ||
        get_float(path, root, "layer_norm_eps", 1, 0, 1e-30, 1, &c->layer_norm_eps) ||
        get_float(path, root, "hidden_dropout_prob", 0, 0.1, 0, 1, &c->hidden_dropout) ||
        get_float(path, root, "attention_probs_dropout_prob", 0, 0.1, 0, 1,
                  &c->attention_dropout) ||
        get_int(path, root, "pad_token_id", 0, roberta, 0, INT_MAX - 1, &pad) ||
        get_string(path, root, "hidden_act", 1, &act) ||
        get_string(path, root, "position_embedding_type", 0, &pos_type))
        return QA_ERR;
    if (strcmp(act, "gelu"))
        return qa_error("%s: \"hidden_act\" is \"%s\"; only \"gelu\" (exact erf GELU) is "
                        "supported", path, act);
    if (pos_type && strcmp(pos_type, "absolute"))
        return qa_error("%s: \"position_embedding_type\" is \"%s\"; only \"absolute\" is "
                        "supported", path, pos_type);
    c->position_offset = roberta ? pad + 1 : 0; /* RobertaEmbeddings: padding_idx + 1 + t */
    if (parse_pruned_heads(path, root, c) || parse_hint(path, root, cc)) return QA_ERR;
    for (int l = 0; l < L && cc->has_hint; l++) c->ffn[l] = cc->hint_ffn[l];
    return bert_config_check(c) ? error_at(path) : QA_OK;
}

static int config_parse(const char *path, CkptConfig *cc) {
    memset(cc, 0, sizeof *cc);
    char *text;
    size_t n;
    if (file_read(path, CONFIG_MAX_BYTES, &text, &n)) return QA_ERR;
    const char *err_at = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &err_at, 0);
    int rc = !root ? qa_error("%s: not valid JSON (error at byte %ld)", path,
                              err_at ? (long)(err_at - text) : 0L)
           : !cJSON_IsObject(root) ? qa_error("%s: not a JSON object", path)
           : config_from_json(path, root, cc);
    cJSON_Delete(root);
    free(text);
    return rc;
}

int checkpoint_read_config(const char *path, BertConfig *cfg) {
    char file[PATH_MAX];
    struct stat sb;
    int is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (is_dir && path_join(file, PATH_MAX, path, "config.json")) return QA_ERR;
    CkptConfig cc;
    if (config_parse(is_dir ? file : path, &cc)) return QA_ERR;
    *cfg = cc.cfg;
    return QA_OK;
}

/* ---------------------------------------------------------------- loading */

/* The file's name for an engine table name ("bert.x" -> prefix + "x"). */
static void file_name(char *buf, size_t n, const char *prefix, const char *engine_name) {
    if (!strncmp(engine_name, "bert.", 5)) snprintf(buf, n, "%s%s", prefix, engine_name + 5);
    else snprintf(buf, n, "%s", engine_name);
}

static const char *shape_text(const StTensor *t, char *buf, size_t n) {
    int k = snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && k < (int)n; i++)
        k += snprintf(buf + k, n - (size_t)k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (k < (int)n) snprintf(buf + k, n - (size_t)k, "]");
    return buf;
}

/* Settles the name prefix (refusing a file without a QA head), then takes each layer's FFN
 * width from the rows of its intermediate.dense.weight and cross-checks the "qaprune" hint. */
static int shape_from_tensors(const char *mpath, const char *cpath, const SafeTensors *st,
                              CkptConfig *cc) {
    char name[160], sb[160];
    if (!st_find(st, "qa_outputs.weight"))
        return qa_error("%s: no qa_outputs.weight: not a question-answering checkpoint", mpath);
    snprintf(name, sizeof name, "%sembeddings.word_embeddings.weight", cc->prefix);
    if (!st_find(st, name) && st_find(st, "embeddings.word_embeddings.weight")) cc->prefix = "";
    BertConfig *c = &cc->cfg;
    for (int l = 0; l < c->num_layers; l++) {
        snprintf(name, sizeof name, "%sencoder.layer.%d.intermediate.dense.weight", cc->prefix, l);
        const StTensor *t = st_find(st, name);
        if (!t) return qa_error("%s: tensor '%s': missing", mpath, name);
        if (t->ndim != 2 || t->shape[1] != c->hidden_size || t->shape[0] > INT_MAX)
            return qa_error("%s: tensor '%s': expected shape [F, %d], found %s", mpath, name,
                            c->hidden_size, shape_text(t, sb, sizeof sb));
        c->ffn[l] = (int)t->shape[0];
        if (cc->has_hint && cc->hint_ffn[l] != c->ffn[l])
            return qa_error("%s: \"qaprune\".\"ffn_per_layer\"[%d] = %d but tensor '%s' has %d "
                            "rows", cpath, l, cc->hint_ffn[l], name, c->ffn[l]);
    }
    return QA_OK;
}

/* Every tensor of the file must be one of the model's or a known harmless extra. */
static int check_extras(const char *mpath, const SafeTensors *st, const BertModel *m,
                        const char *prefix) {
    size_t np = strlen(prefix);
    for (int i = 0; i < st_count(st); i++) {
        const char *name = st_at(st, i)->name;
        char engine[160];
        if (!strncmp(name, "qa_outputs.", 11)) snprintf(engine, sizeof engine, "%s", name);
        else if (!strncmp(name, prefix, np)) snprintf(engine, sizeof engine, "bert.%s", name + np);
        else engine[0] = '\0';
        if (engine[0] && bert_find_tensor(m, engine)) continue;
        int harmless = 0;
        for (size_t k = 0; k < sizeof HARMLESS / sizeof *HARMLESS && engine[0]; k++)
            harmless |= !strcmp(engine + 5, HARMLESS[k]);
        if (!harmless)
            return qa_error("%s: tensor '%s': unexpected (not part of this %d-layer "
                            "question-answering model)", mpath, name, bert_config(m)->num_layers);
    }
    return QA_OK;
}

int checkpoint_load(const char *dir, BertModel **out) {
    *out = NULL;
    char cpath[PATH_MAX], mpath[PATH_MAX], name[160];
    CkptConfig cc;
    if (path_join(cpath, PATH_MAX, dir, "config.json") || path_join(mpath, PATH_MAX, dir, "model.safetensors") ||
        config_parse(cpath, &cc))
        return QA_ERR;
    SafeTensors *st;
    if (st_open(mpath, &st)) return QA_ERR;
    BertModel *m = NULL;
    int rc = shape_from_tensors(mpath, cpath, st, &cc);
    if (!rc && bert_create(&cc.cfg, &m)) rc = error_at(cpath);
    if (!rc) rc = check_extras(mpath, st, m, cc.prefix);
    for (int i = 0; !rc && i < bert_num_tensors(m); i++) {
        const BertTensor *t = bert_tensor(m, i);
        int64_t shape[2] = {t->shape[0], t->shape[1]};
        file_name(name, sizeof name, cc.prefix, t->name);
        rc = st_read_f32(st, name, t->ndim, shape, bert_params(m) + t->offset);
    }
    st_close(st);
    if (rc) {
        bert_free(m);
        return QA_ERR;
    }
    *out = m;
    return QA_OK;
}

/* ---------------------------------------------------------------- saving */

/* Prints x with the fewest digits that read back as the same float (1e-12, not 9.99e-13). */
static void put_float(FILE *f, float x) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
    fputs(buf, f);
}

static void put_counts(FILE *f, const char *key, const int *v, int n, const char *after) {
    fprintf(f, "    \"%s\": [", key);
    for (int i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", v[i]);
    fprintf(f, "]%s\n", after);
}

/* config.json as transformers writes it (keys sorted, indent 2), plus "qaprune". */
static void write_config(FILE *f, const BertConfig *c) {
    int roberta = c->position_offset > 0, first = 1;
    fprintf(f, "{\n  \"architectures\": [\"%sForQuestionAnswering\"],\n",
            roberta ? "Roberta" : "Bert");
    fputs("  \"attention_probs_dropout_prob\": ", f);
    put_float(f, c->attention_dropout);
    fputs(",\n  \"hidden_act\": \"gelu\",\n  \"hidden_dropout_prob\": ", f);
    put_float(f, c->hidden_dropout);
    fprintf(f, ",\n  \"hidden_size\": %d,\n  \"initializer_range\": 0.02,\n"
            "  \"intermediate_size\": %d,\n  \"layer_norm_eps\": ", c->hidden_size,
            c->intermediate_size);
    put_float(f, c->layer_norm_eps);
    fprintf(f, ",\n  \"max_position_embeddings\": %d,\n  \"model_type\": \"%s\",\n"
            "  \"num_attention_heads\": %d,\n  \"num_hidden_layers\": %d,\n"
            "  \"pad_token_id\": %d,\n  \"position_embedding_type\": \"absolute\",\n"
            "  \"pruned_heads\": {", c->max_position, roberta ? "roberta" : "bert",
            c->num_heads, c->num_layers, roberta ? c->position_offset - 1 : 0);
    for (int l = 0; l < c->num_layers; l++) {
        if (c->heads[l] == c->num_heads) continue;
        fprintf(f, "%s\n    \"%d\": [", first ? "" : ",", l);
        for (int h = 0, j = 0, n = 0; h < c->num_heads; h++) {
            if (j < c->heads[l] && c->head_ids[l][j] == h) j++;
            else fprintf(f, "%s%d", n++ ? ", " : "", h);
        }
        fputc(']', f);
        first = 0;
    }
    fputs(first ? "},\n  \"qaprune\": {\n" : "\n  },\n  \"qaprune\": {\n", f);
    put_counts(f, "ffn_per_layer", c->ffn, c->num_layers, ",");
    put_counts(f, "heads_per_layer", c->heads, c->num_layers, "");
    fprintf(f, "  },\n  \"type_vocab_size\": %d,\n  \"vocab_size\": %d\n}\n",
            c->type_vocab_size, c->vocab_size);
}

static int save_config(const BertConfig *c, const char *path) {
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f) return qa_error("%s: out of memory", path);
    write_config(f, c);
    int bad = ferror(f);
    if (fclose(f) || bad) {
        free(text);
        return qa_error("%s: out of memory", path);
    }
    int rc = file_write_atomic(path, text, n);
    free(text);
    return rc;
}

/* model.safetensors: every table tensor as F32 under its file name; metadata format "pt"
 * (transformers refuses safetensors files without it). */
static int save_tensors(const BertModel *m, const char *path) {
    static const char *const meta[] = {"format", "pt", NULL};
    const char *prefix = bert_config(m)->position_offset > 0 ? "roberta." : "bert.";
    int n = bert_num_tensors(m);
    StEntry *e = calloc((size_t)n, sizeof *e);
    char(*names)[160] = calloc((size_t)n, sizeof *names);
    /* bert_params() takes a mutable model; the parameters are only read here. */
    const float *params = bert_params((BertModel *)m);
    int rc = e && names ? QA_OK : qa_error("%s: out of memory", path);
    for (int i = 0; !rc && i < n; i++) {
        const BertTensor *t = bert_tensor(m, i);
        file_name(names[i], sizeof names[i], prefix, t->name);
        e[i] = (StEntry){names[i], ST_F32, t->ndim, {t->shape[0], t->shape[1]},
                         params + t->offset};
    }
    if (!rc) rc = st_write(path, e, n, meta);
    free(names);
    free(e);
    return rc;
}

enum { MAX_TOKENIZER_FILES = 16 };

int checkpoint_save_files(const BertModel *m, const char *dir, const char *const *files) {
    char path[PATH_MAX], *data[MAX_TOKENIZER_FILES] = {0};
    size_t size[MAX_TOKENIZER_FILES];
    int n = 0, rc = QA_OK;
    for (; files && files[n] && !rc; n++) {
        if (n == MAX_TOKENIZER_FILES) {
            rc = qa_error("%s: more than %d tokenizer files", dir, MAX_TOKENIZER_FILES);
            break;
        }
        rc = file_read(files[n], VOCAB_MAX_BYTES, &data[n], &size[n]);
    }
    if (!rc) rc = file_mkdirs(dir);
    if (!rc && (path_join(path, PATH_MAX, dir, "config.json") || save_config(bert_config(m), path)))
        rc = QA_ERR;
    if (!rc && (path_join(path, PATH_MAX, dir, "model.safetensors") || save_tensors(m, path))) rc = QA_ERR;
    for (int i = 0; i < n && !rc; i++) {
        const char *base = strrchr(files[i], '/');
        if (path_join(path, PATH_MAX, dir, base ? base + 1 : files[i]) ||
            file_write_atomic(path, data[i], size[i]))
            rc = QA_ERR;
    }
    for (int i = 0; i < n; i++) free(data[i]);
    if (rc) return QA_ERR;
    file_sync_dir(dir); /* make the renames durable */
    return QA_OK;
}

int checkpoint_save(const BertModel *m, const char *dir, const char *vocab_src_path) {
    const char *files[2] = {vocab_src_path, NULL};
    return checkpoint_save_files(m, dir, files);
}
