/* core/model/checkpoint.c: Hugging Face checkpoint directories (config.json, model.safetensors,
 * vocab.txt) to and from BertModel. The tensor list and names come from the model's own table
 * (bert_tensor); this file only reads and writes config.json (whose keys differ by family)
 * and matches the file's tensors to the table's. */
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

/* What config.json says beyond BertConfig: whether the file's names lack the family prefix
 * and the informational "qaprune" per-layer counts (has_hint 0 when absent). */
typedef struct {
    BertConfig cfg;
    int bare; /* tensors named without the family prefix ("embeddings...", not "bert.embeddings...") */
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

static int get_bool(const char *path, const cJSON *root, const char *key, int def, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (v && !cJSON_IsBool(v))
        return qa_error("%s: \"%s\" is %s, not a boolean", path, key, json_kind(v));
    *out = v ? cJSON_IsTrue(v) : def;
    return QA_OK;
}

/* The config.json keys of the numbers every family has: DistilBertConfig names them its own
 * way, BERT, RoBERTa and ELECTRA configs as BertConfig does. */
typedef struct {
    const char *hidden, *layers, *heads, *ffn, *act, *hidden_drop, *attn_drop;
} ConfigKeys;

static const ConfigKeys BERT_KEYS = {"hidden_size",        "num_hidden_layers",
                                     "num_attention_heads", "intermediate_size",
                                     "hidden_act",          "hidden_dropout_prob",
                                     "attention_probs_dropout_prob"};
static const ConfigKeys DISTIL_KEYS = {"dim",        "n_layers", "n_heads",          "hidden_dim",
                                       "activation", "dropout",  "attention_dropout"};

static const ConfigKeys *config_keys(BertFamily f) {
    return f == BERT_FAMILY_DISTILBERT ? &DISTIL_KEYS : &BERT_KEYS;
}

/* The family-specific keys: DistilBERT's fixed positions and QA dropout (no token types, its
 * LayerNorms have eps 1e-12 whatever the file says), the others' token types, LayerNorm eps
 * and position type (defaults as transformers' config classes), ELECTRA's embedding size. */
static int family_from_json(const char *path, const cJSON *root, BertConfig *c) {
    const char *pos_type;
    if (c->family == BERT_FAMILY_DISTILBERT) {
        c->type_vocab_size = 0;
        return get_bool(path, root, "sinusoidal_pos_embds", 0, &c->frozen_positions) ||
               get_float(path, root, "qa_dropout", 0, 0.1, 0, 1, &c->qa_dropout);
    }
    if (get_int(path, root, "type_vocab_size", 0, 2, 1, INT_MAX, &c->type_vocab_size) ||
        get_float(path, root, "layer_norm_eps", 0, 1e-12, 1e-30, 1, &c->layer_norm_eps) ||
        get_string(path, root, "position_embedding_type", 0, &pos_type))
        return QA_ERR;
    if (pos_type && strcmp(pos_type, "absolute"))
        return qa_error("%s: \"position_embedding_type\" is \"%s\"; only \"absolute\" is "
                        "supported", path, pos_type);
    if (c->family == BERT_FAMILY_ELECTRA &&
        get_int(path, root, "embedding_size", 1, 0, 1, INT_MAX, &c->embedding_size))
        return QA_ERR;
    return QA_OK;
}

/* Fills cc from the parsed JSON object; every required key present, every value checked. */
static int config_from_json(const char *path, const cJSON *root, CkptConfig *cc) {
    BertConfig *c = &cc->cfg;
    const char *type, *act;
    if (get_string(path, root, "model_type", 1, &type)) return QA_ERR;
    const BertFamilyInfo *fi = bert_family_find(type);
    if (!fi)
        return qa_error("%s: \"model_type\" is \"%s\"; supported: %s", path, type,
                        bert_family_list());
    const ConfigKeys *k = config_keys(fi->family);
    int roberta = fi->family == BERT_FAMILY_ROBERTA;
    int V, P, L, C, NH, F, pad;
    if (get_int(path, root, "vocab_size", 1, 0, 1, INT_MAX, &V) ||
        get_int(path, root, "max_position_embeddings", 1, 0, 1, INT_MAX, &P) ||
        get_int(path, root, k->layers, 1, 0, 0, BERT_MAX_LAYERS, &L) ||
        get_int(path, root, k->hidden, 1, 0, 1, INT_MAX, &C) ||
        get_int(path, root, k->heads, 1, 0, 1, BERT_MAX_HEADS, &NH) ||
        get_int(path, root, k->ffn, 1, 0, 0, INT_MAX, &F))
        return QA_ERR;
    if (C % NH)
        return qa_error("%s: \"%s\" = %d is not a multiple of \"%s\" = %d", path, k->hidden, C,
                        k->heads, NH);
    bert_config_init(c, V, P, L, C, NH, F);
    c->family = fi->family;
    if (family_from_json(path, root, c) ||
        get_float(path, root, k->hidden_drop, 0, 0.1, 0, 1, &c->hidden_dropout) ||
        get_float(path, root, k->attn_drop, 0, 0.1, 0, 1, &c->attention_dropout) ||
        get_int(path, root, "pad_token_id", 0, roberta, 0, INT_MAX - 1, &pad) ||
        get_int(path, root, "num_answer_types", 0, 0, 0, 64, &c->num_answer_types) ||
        get_string(path, root, k->act, 1, &act))
        return QA_ERR;
    if (strcmp(act, "gelu"))
        return qa_error("%s: \"%s\" is \"%s\"; only \"gelu\" (exact erf GELU) is supported",
                        path, k->act, act);
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

/* The name a table tensor has in a file whose names may lack the family prefix. */
static const char *file_name(const BertTensor *t, int bare) {
    return bare ? t->name + t->prefix_len : t->name;
}

static const char *shape_text(const StTensor *t, char *buf, size_t n) {
    int k = snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && k < (int)n; i++)
        k += snprintf(buf + k, n - (size_t)k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (k < (int)n) snprintf(buf + k, n - (size_t)k, "]");
    return buf;
}

/* Settles the name prefix (refusing a file without a QA head), then takes each layer's FFN
 * width from the rows of its FFN input weight and cross-checks the "qaprune" hint. */
static int shape_from_tensors(const char *mpath, const char *cpath, const SafeTensors *st,
                              CkptConfig *cc) {
    char name[160], sb[160];
    BertConfig *c = &cc->cfg;
    const char *prefix = bert_family(c->family)->prefix;
    if (!st_find(st, "qa_outputs.weight"))
        return qa_error("%s: no qa_outputs.weight: not a question-answering checkpoint", mpath);
    snprintf(name, sizeof name, "%sembeddings.word_embeddings.weight", prefix);
    cc->bare = !st_find(st, name) && st_find(st, "embeddings.word_embeddings.weight");
    for (int l = 0; l < c->num_layers; l++) {
        bert_ffn_weight_name(c, l, name, sizeof name);
        const char *fname = cc->bare ? name + strlen(prefix) : name;
        const StTensor *t = st_find(st, fname);
        if (!t) return qa_error("%s: tensor '%s': missing", mpath, fname);
        if (t->ndim != 2 || t->shape[1] != c->hidden_size || t->shape[0] > INT_MAX)
            return qa_error("%s: tensor '%s': expected shape [F, %d], found %s", mpath, fname,
                            c->hidden_size, shape_text(t, sb, sizeof sb));
        c->ffn[l] = (int)t->shape[0];
        if (cc->has_hint && cc->hint_ffn[l] != c->ffn[l])
            return qa_error("%s: \"qaprune\".\"ffn_per_layer\"[%d] = %d but tensor '%s' has %d "
                            "rows", cpath, l, cc->hint_ffn[l], fname, c->ffn[l]);
    }
    return QA_OK;
}

/* Every tensor of the file must be one of the model's or a known harmless extra. */
static int check_extras(const char *mpath, const SafeTensors *st, const BertModel *m, int bare) {
    const char *prefix = bert_family(bert_config(m)->family)->prefix;
    size_t np = strlen(prefix);
    for (int i = 0; i < st_count(st); i++) {
        const char *name = st_at(st, i)->name;
        int known = 0;
        for (int k = 0; k < bert_num_tensors(m) && !known; k++)
            known = !strcmp(file_name(bert_tensor(m, k), bare), name);
        const char *rest = bare ? name : !strncmp(name, prefix, np) ? name + np : NULL;
        for (size_t k = 0; k < sizeof HARMLESS / sizeof *HARMLESS && rest && !known; k++)
            known = !strcmp(rest, HARMLESS[k]);
        if (!known)
            return qa_error("%s: tensor '%s': unexpected (not part of this %d-layer %s "
                            "question-answering model)", mpath, name, bert_config(m)->num_layers,
                            bert_family(bert_config(m)->family)->model_type);
    }
    return QA_OK;
}

/* Reads every table tensor from the file. The one untrained tensor, DistilBERT's fixed
 * sinusoidal position table, is a function of the config: a file without it gets it
 * computed (transformers saves it, but nothing else in it is needed). */
/* A NaN or infinite weight would score silently (F1 of a constant prediction): refused,
 * naming the tensor and the first bad element. */
static int check_finite(const char *path, const char *name, const float *v, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (!isfinite(v[k]))
            return qa_error("%s: tensor %s: element %zu is %s, not a finite number", path, name,
                            k, isnan(v[k]) ? "NaN" : v[k] > 0 ? "+inf" : "-inf");
    return QA_OK;
}

static int read_tensors(const char *path, const SafeTensors *st, BertModel *m, int bare) {
    for (int i = 0; i < bert_num_tensors(m); i++) {
        const BertTensor *t = bert_tensor(m, i);
        int64_t shape[2] = {t->shape[0], t->shape[1]};
        const char *name = file_name(t, bare);
        if (!t->trainable && !st_find(st, name)) {
            bert_set_fixed_positions(m);
            continue;
        }
        if (st_read_f32(st, name, t->ndim, shape, bert_params(m) + t->offset) ||
            check_finite(path, name, bert_params(m) + t->offset, t->numel))
            return QA_ERR;
    }
    return QA_OK;
}

int checkpoint_load(const char *dir, BertModel **out) {
    *out = NULL;
    char cpath[PATH_MAX], mpath[PATH_MAX];
    CkptConfig cc;
    if (path_join(cpath, PATH_MAX, dir, "config.json") ||
        path_join(mpath, PATH_MAX, dir, "model.safetensors") || config_parse(cpath, &cc))
        return QA_ERR;
    SafeTensors *st;
    if (st_open(mpath, &st)) return QA_ERR;
    BertModel *m = NULL;
    int rc = shape_from_tensors(mpath, cpath, st, &cc);
    if (!rc && bert_create(&cc.cfg, &m)) rc = error_at(cpath);
    if (!rc) rc = check_extras(mpath, st, m, cc.bare);
    if (!rc) rc = read_tensors(mpath, st, m, cc.bare);
    st_close(st);
    if (rc) {
        bert_free(m);
        return QA_ERR;
    }
    *out = m;
    return QA_OK;
}

/* ---------------------------------------------------------------- saving */

/* x as the double with the fewest digits that reads back as the same float, so that cJSON
 * prints 1e-12, not 9.9999999600419720e-13. */
static double short_double(float x) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
    return strtod(buf, NULL);
}

static int by_key(const void *a, const void *b) {
    return strcmp((*(cJSON *const *)a)->string, (*(cJSON *const *)b)->string);
}

/* Reorders the members of object o by key, as transformers writes config.json. */
static int sort_keys(cJSON *o) {
    int n = cJSON_GetArraySize(o), i = 0;
    cJSON **v = malloc(sizeof *v * (size_t)(n ? n : 1));
    if (!v) return QA_ERR;
    for (cJSON *e = o->child; e; e = e->next) v[i++] = e;
    qsort(v, (size_t)n, sizeof *v, by_key);
    o->child = n ? v[0] : NULL;
    for (i = 0; i < n; i++) {
        v[i]->prev = i ? v[i - 1] : v[n - 1]; /* cJSON: the head's prev is the tail */
        v[i]->next = i + 1 < n ? v[i + 1] : NULL;
    }
    free(v);
    return QA_OK;
}

/* "pruned_heads": {"layer": [removed original head ids]} for the layers that lost heads. */
static cJSON *pruned_heads_json(const BertConfig *c) {
    cJSON *ph = cJSON_CreateObject();
    for (int l = 0; ph && l < c->num_layers; l++) {
        if (c->heads[l] == c->num_heads) continue;
        int gone[BERT_MAX_HEADS], n = 0;
        for (int h = 0, j = 0; h < c->num_heads; h++) {
            if (j < c->heads[l] && c->head_ids[l][j] == h) j++;
            else gone[n++] = h;
        }
        char key[16];
        snprintf(key, sizeof key, "%d", l);
        if (!cJSON_AddItemToObject(ph, key, cJSON_CreateIntArray(gone, n))) {
            cJSON_Delete(ph);
            return NULL;
        }
    }
    return ph;
}

/* config.json as transformers writes it for the family (keys sorted), plus "qaprune":
 * {"ffn_per_layer": [...], "heads_per_layer": [...]}. Returns a new object or NULL. */
static cJSON *config_to_json(const BertConfig *c) {
    const BertFamilyInfo *fi = bert_family(c->family);
    const ConfigKeys *k = config_keys(c->family);
    cJSON *o = cJSON_CreateObject(), *q = cJSON_CreateObject();
    cJSON *arch = cJSON_CreateStringArray(&fi->architecture, 1);
    int ok = o && q && arch && cJSON_AddItemToObject(o, "architectures", arch);
    if (!ok) cJSON_Delete(arch);
    ok = ok && cJSON_AddStringToObject(o, "model_type", fi->model_type) &&
         cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size) &&
         cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_position) &&
         cJSON_AddNumberToObject(o, k->hidden, c->hidden_size) &&
         cJSON_AddNumberToObject(o, k->layers, c->num_layers) &&
         cJSON_AddNumberToObject(o, k->heads, c->num_heads) &&
         cJSON_AddNumberToObject(o, k->ffn, c->intermediate_size) &&
         cJSON_AddStringToObject(o, k->act, "gelu") &&
         cJSON_AddNumberToObject(o, k->hidden_drop, short_double(c->hidden_dropout)) &&
         cJSON_AddNumberToObject(o, k->attn_drop, short_double(c->attention_dropout)) &&
         cJSON_AddNumberToObject(o, "initializer_range", 0.02) &&
         cJSON_AddNumberToObject(o, "pad_token_id",
                                 c->family == BERT_FAMILY_ROBERTA ? c->position_offset - 1 : 0);
    if (ok && c->family == BERT_FAMILY_DISTILBERT)
        ok = cJSON_AddBoolToObject(o, "sinusoidal_pos_embds", c->frozen_positions) &&
             cJSON_AddNumberToObject(o, "qa_dropout", short_double(c->qa_dropout));
    else if (ok)
        ok = cJSON_AddNumberToObject(o, "type_vocab_size", c->type_vocab_size) &&
             cJSON_AddNumberToObject(o, "layer_norm_eps", short_double(c->layer_norm_eps)) &&
             cJSON_AddStringToObject(o, "position_embedding_type", "absolute");
    if (ok && c->family == BERT_FAMILY_ELECTRA)
        ok = cJSON_AddNumberToObject(o, "embedding_size", bert_embedding_size(c)) != NULL;
    if (ok && c->num_answer_types) /* qaprune's answer-type head (Natural Questions) */
        ok = cJSON_AddNumberToObject(o, "num_answer_types", c->num_answer_types) != NULL;
    cJSON *ph = ok ? pruned_heads_json(c) : NULL;
    ok = ph && cJSON_AddItemToObject(o, "pruned_heads", ph);
    if (!ok) cJSON_Delete(ph);
    ok = ok && cJSON_AddItemToObject(q, "ffn_per_layer", cJSON_CreateIntArray(c->ffn, c->num_layers)) &&
         cJSON_AddItemToObject(q, "heads_per_layer", cJSON_CreateIntArray(c->heads, c->num_layers)) &&
         cJSON_AddItemToObject(o, "qaprune", q);
    if (!ok || sort_keys(o)) {
        if (!cJSON_GetObjectItemCaseSensitive(o, "qaprune")) cJSON_Delete(q);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int save_config(const BertConfig *c, const char *path) {
    cJSON *o = config_to_json(c);
    char *json = o ? cJSON_Print(o) : NULL, *text = json ? malloc(strlen(json) + 2) : NULL;
    cJSON_Delete(o);
    if (text) sprintf(text, "%s\n", json); /* a text file ends with a newline */
    cJSON_free(json);
    if (!text) return qa_error("%s: out of memory", path);
    int rc = file_write_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

/* model.safetensors: every table tensor as F32 under its Hugging Face name; metadata format
 * "pt" (transformers refuses safetensors files without it). */
static int save_tensors(const BertModel *m, const char *path) {
    static const char *const meta[] = {"format", "pt", NULL};
    int n = bert_num_tensors(m);
    StEntry *e = calloc((size_t)n, sizeof *e);
    /* bert_params() takes a mutable model; the parameters are only read here. */
    const float *params = bert_params((BertModel *)m);
    if (!e) return qa_error("%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        const BertTensor *t = bert_tensor(m, i);
        e[i] = (StEntry){t->name, ST_F32, t->ndim, {t->shape[0], t->shape[1]}, params + t->offset};
    }
    int rc = st_write(path, e, n, meta);
    free(e);
    return rc;
}

int checkpoint_save(const BertModel *m, const char *dir, const char *vocab_src_path) {
    char path[PATH_MAX], *vocab = NULL;
    size_t nvocab;
    if (file_read(vocab_src_path, VOCAB_MAX_BYTES, &vocab, &nvocab)) return QA_ERR;
    int rc = file_mkdirs(dir);
    if (!rc && (path_join(path, PATH_MAX, dir, "config.json") || save_config(bert_config(m), path)))
        rc = QA_ERR;
    if (!rc && (path_join(path, PATH_MAX, dir, "model.safetensors") || save_tensors(m, path))) rc = QA_ERR;
    if (!rc && (path_join(path, PATH_MAX, dir, "vocab.txt") || file_write_atomic(path, vocab, nvocab)))
        rc = QA_ERR;
    free(vocab);
    if (rc) return QA_ERR;
    file_sync_dir(dir); /* make the renames durable */
    return QA_OK;
}
