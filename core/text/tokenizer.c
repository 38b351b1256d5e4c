/* core/text/tokenizer.c: the tokenizer interface (see tokenizer.h): the family table, the
 * Hugging Face files read into a WordPiece or BPE model, special tokens, and dispatch. */
#include "core/text/tokenizer.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text/bpe.h"
#include "core/text/wordpiece.h"
#include "core/util/error.h"
#include "core/util/fileio.h"

#define JSON_MAX_BYTES (256u << 20)

/* ---------------------------------------------------------------- families */

static const InputFormat FORMAT_BERT = {"bert", 1, 1};
static const InputFormat FORMAT_ROBERTA = {"roberta", 2, 0};

/* config.json model_type -> input format: the one list of the families we tokenize for. */
static const struct {
    const char *model_type;
    const InputFormat *format;
} FAMILIES[] = {
    {"bert", &FORMAT_BERT},
    {"distilbert", &FORMAT_BERT},
    {"electra", &FORMAT_BERT},
    {"roberta", &FORMAT_ROBERTA},
};
#define N_FAMILIES ((int)(sizeof FAMILIES / sizeof *FAMILIES))

const InputFormat *input_format_for(const char *model_type) {
    char names[128] = "";
    for (int i = 0; i < N_FAMILIES; i++) {
        if (!strcmp(model_type, FAMILIES[i].model_type)) return FAMILIES[i].format;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s\"%s\"", i ? ", " : "",
                 FAMILIES[i].model_type);
    }
    qa_error("model_type \"%s\" has no known input format (supported: %s)", model_type, names);
    return NULL;
}

/* ---------------------------------------------------------------- the tokenizer */

enum { SP_CLS, SP_SEP, SP_PAD, SP_UNK, SP_MASK, N_SPECIAL };
static const char *const SPECIAL_KEYS[N_SPECIAL] = {"cls_token", "sep_token", "pad_token",
                                                    "unk_token", "mask_token"};
static const char *const WP_DEFAULTS[N_SPECIAL] = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"};
static const char *const BPE_DEFAULTS[N_SPECIAL] = {"<s>", "</s>", "<pad>", "<unk>", "<mask>"};

struct Tokenizer {
    TokenizerKind kind;
    WpVocab *wp;
    BpeModel *bpe;
    const InputFormat *format;
    int ids[N_SPECIAL];
    char name[N_SPECIAL][128];  /* each special token's string */
    char from[N_SPECIAL][64];   /* where the name came from, for messages */
    char vocab_file[4096];      /* the file holding the vocabulary, for messages */
    int model_max_length;
    char *files[8];             /* NULL-terminated, owned */
};

/* What the optional files say; -1 (or "") when they say nothing. */
typedef struct {
    int lowercase, add_prefix_space, trim_offsets, use_regex, model_max_length;
    char name[N_SPECIAL][128];
    char from[N_SPECIAL][64];
    int lstrip[N_SPECIAL], rstrip[N_SPECIAL]; /* an AddedToken object's flags; -1: not said */
} Settings;

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int add_file(Tokenizer *t, const char *path) {
    int n = 0;
    while (t->files[n] && strcmp(t->files[n], path)) n++;
    if (t->files[n]) return QA_OK; /* already listed */
    if (!(t->files[n] = strdup(path))) return qa_error("%s: out of memory", path);
    return QA_OK;
}

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    wp_vocab_free(t->wp);
    bpe_free(t->bpe);
    for (int i = 0; t->files[i]; i++) free(t->files[i]);
    free(t);
}

/* ---------------------------------------------------------------- JSON helpers */

static int json_read(const char *path, cJSON **out) {
    char *text = NULL;
    size_t n = 0;
    *out = NULL;
    if (file_read(path, JSON_MAX_BYTES, &text, &n)) return QA_ERR;
    const char *err_at = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &err_at, 0);
    int rc = QA_OK;
    if (!root)
        rc = qa_error("%s: not valid JSON (truncated or malformed at byte %ld of %zu)", path,
                      err_at ? (long)(err_at - text) : 0L, n);
    else if (!cJSON_IsObject(root))
        rc = qa_error("%s: not a JSON object", path);
    free(text);
    if (rc) cJSON_Delete(root);
    else *out = root;
    return rc;
}

/* A boolean under key into *out (unchanged when absent or null). */
static int json_bool(const char *path, const cJSON *o, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return QA_OK;
    if (!cJSON_IsBool(v)) return qa_error("%s: \"%s\" is not a boolean", path, key);
    *out = cJSON_IsTrue(v);
    return QA_OK;
}

/* Special token k under its key: a string, or an AddedToken object {"content": "...",
 * "lstrip": ..., "rstrip": ...}. */
static int json_token(const char *path, const cJSON *o, int k, Settings *s) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, SPECIAL_KEYS[k]);
    if (!v || cJSON_IsNull(v)) return QA_OK;
    if (cJSON_IsObject(v)) {
        if (json_bool(path, v, "lstrip", &s->lstrip[k]) || json_bool(path, v, "rstrip", &s->rstrip[k]))
            return QA_ERR;
        v = cJSON_GetObjectItemCaseSensitive(v, "content");
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof s->name[k])
        return qa_error("%s: \"%s\" is not a token string (or an object with \"content\")",
                        path, SPECIAL_KEYS[k]);
    snprintf(s->name[k], sizeof s->name[k], "%s", v->valuestring);
    snprintf(s->from[k], sizeof s->from[k], "%s", base_name(path));
    return QA_OK;
}

static int read_special_keys(const char *path, const cJSON *o, Settings *s) {
    for (int k = 0; k < N_SPECIAL; k++)
        if (json_token(path, o, k, s)) return QA_ERR;
    return QA_OK;
}

/* tokenizer_config.json: casing, the ByteLevel switches, model_max_length, special tokens. */
static int read_config(const char *path, Settings *s) {
    cJSON *o;
    if (json_read(path, &o)) return QA_ERR;
    int rc = json_bool(path, o, "do_lower_case", &s->lowercase) ||
             json_bool(path, o, "add_prefix_space", &s->add_prefix_space) ||
             json_bool(path, o, "trim_offsets", &s->trim_offsets) || read_special_keys(path, o, s);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model_max_length");
    if (!rc && m && !cJSON_IsNull(m)) {
        if (!cJSON_IsNumber(m) || !(m->valuedouble >= 1) || m->valuedouble != floor(m->valuedouble))
            rc = qa_error("%s: \"model_max_length\" is not a positive integer", path);
        else /* transformers writes 1e30 for "no limit" */
            s->model_max_length = m->valuedouble > INT_MAX ? 0 : (int)m->valuedouble;
    }
    cJSON_Delete(o);
    return rc ? QA_ERR : QA_OK;
}

static int read_special_map(const char *path, Settings *s) {
    cJSON *o;
    if (json_read(path, &o)) return QA_ERR;
    int rc = read_special_keys(path, o, s);
    cJSON_Delete(o);
    return rc;
}

/* ---------------------------------------------------------------- vocabularies */

/* {"token": id, ...} into the BPE model. */
static int bpe_vocab_from_json(BpeModel *b, const cJSON *vocab, const char *path,
                               const char *field) {
    if (!cJSON_IsObject(vocab)) return qa_error("%s: %s is not an object of token ids", path, field);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        double d = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(d >= 0 && d <= INT_MAX) || d != floor(d))
            return qa_error("%s: %s: token \"%s\" has no non-negative integer id", path, field,
                            e->string);
        if (bpe_add_token(b, e->string, strlen(e->string), (int)d, path)) return QA_ERR;
    }
    return QA_OK;
}

/* One merge "left right" (exactly one space between two non-empty tokens). */
static int merge_line(BpeModel *b, const char *s, size_t n, const char *path, int line) {
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s || sp == s + n - 1 || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1)))
        return qa_error("%s:%d: \"%.*s\" is not two tokens separated by one space", path, line,
                        (int)n, s);
    return bpe_add_merge(b, s, (size_t)(sp - s), sp + 1, (size_t)(s + n - sp - 1), path, line);
}

/* merges.txt: an optional "#version" first line, then one merge per line in rank order. */
static int read_merges(BpeModel *b, const char *path) {
    char *text = NULL;
    size_t len = 0;
    if (file_read(path, JSON_MAX_BYTES, &text, &len)) return QA_ERR;
    int rc = QA_OK, line = 0;
    for (char *p = text; rc == QA_OK && p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        char *end = nl ? nl : text + len;
        size_t n = (size_t)(end - p);
        if (n > 0 && p[n - 1] == '\r') n--;
        line++;
        if (!(line == 1 && n >= 8 && !strncmp(p, "#version", 8)) && n > 0)
            rc = merge_line(b, p, n, path, line);
        p = end + 1;
    }
    free(text);
    return rc;
}

static int load_bpe_files(Tokenizer *t, const char *vocab, const char *merges) {
    cJSON *v;
    if (bpe_new(&t->bpe) || json_read(vocab, &v)) return QA_ERR;
    int rc = bpe_vocab_from_json(t->bpe, v, vocab, "the vocabulary");
    cJSON_Delete(v);
    return rc ? QA_ERR : read_merges(t->bpe, merges);
}

/* WordPiece model.vocab {"token": id} as the lines of a vocab.txt (ids 0..n-1, no gaps). */
static int wp_from_json(Tokenizer *t, const cJSON *vocab, const char *path) {
    int n = cJSON_GetArraySize(vocab);
    const char **tok = calloc((size_t)n + 1, sizeof *tok);
    size_t bytes = 1;
    if (!tok) return qa_error("%s: out of memory", path);
    int rc = QA_OK;
    for (const cJSON *e = vocab->child; e && !rc; e = e->next) {
        double d = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(d >= 0 && d < n) || d != floor(d) || tok[(int)d] || strchr(e->string, '\n'))
            rc = qa_error("%s: model.vocab: token \"%s\" needs a distinct id in [0, %d)", path,
                          e->string, n);
        else
            tok[(int)d] = e->string, bytes += strlen(e->string) + 1;
    }
    char *buf = rc ? NULL : malloc(bytes);
    if (!rc && !buf) rc = qa_error("%s: out of memory", path);
    size_t at = 0;
    for (int i = 0; !rc && i < n; i++) {
        size_t k = strlen(tok[i]);
        memcpy(buf + at, tok[i], k);
        buf[at + k] = '\n';
        at += k + 1;
    }
    free(tok);
    if (rc) return QA_ERR;
    return wp_vocab_from_lines(buf, at, path, &t->wp);
}

/* ---------------------------------------------------------------- tokenizer.json */

/* The type string of o (NULL when absent). */
static const char *type_of(const cJSON *o) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The ByteLevel settings of pre_tokenizer (itself, or a member of a Sequence). */
static int read_pre_tokenizer(const char *path, const cJSON *pre, Settings *js) {
    const char *type = type_of(pre);
    if (type && !strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
        for (const cJSON *p = cJSON_IsArray(list) ? list->child : NULL; p; p = p->next)
            if (type_of(p) && !strcmp(type_of(p), "ByteLevel")) return read_pre_tokenizer(path, p, js);
        type = NULL;
    }
    if (!type || strcmp(type, "ByteLevel"))
        return qa_error("%s: pre_tokenizer is %s; a byte-level BPE needs \"ByteLevel\"", path,
                        type ? type : "not ByteLevel");
    return json_bool(path, pre, "add_prefix_space", &js->add_prefix_space) ||
                   json_bool(path, pre, "use_regex", &js->use_regex)
               ? QA_ERR : QA_OK;
}

/* post_processor: trim_offsets, and the cls / sep tokens of Roberta- and BertProcessing. */
static int read_post_processor(const char *path, const cJSON *post, Settings *js) {
    if (!post || cJSON_IsNull(post)) return QA_OK;
    if (json_bool(path, post, "trim_offsets", &js->trim_offsets)) return QA_ERR;
    static const char *const keys[2] = {"cls", "sep"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(post, keys[k]);
        if (cJSON_IsArray(v) && cJSON_IsString(v->child)) {
            snprintf(js->name[k], sizeof js->name[k], "%s", v->child->valuestring);
            snprintf(js->from[k], sizeof js->from[k], "%s", base_name(path));
        }
    }
    return QA_OK;
}

/* model.merges: "a b" strings or ["a", "b"] pairs. */
static int json_merges(BpeModel *b, const cJSON *merges, const char *path) {
    if (!cJSON_IsArray(merges)) return qa_error("%s: model.merges is not an array", path);
    int i = 0;
    for (const cJSON *m = merges->child; m; m = m->next, i++) {
        int rc;
        if (cJSON_IsString(m)) {
            rc = merge_line(b, m->valuestring, strlen(m->valuestring), path, 0);
        } else if (cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) {
            const char *l = m->child->valuestring, *r = m->child->next->valuestring;
            rc = bpe_add_merge(b, l, strlen(l), r, strlen(r), path, 0);
        } else {
            rc = qa_error("%s: model.merges[%d] is neither \"a b\" nor [\"a\", \"b\"]", path, i);
        }
        if (rc) return QA_ERR;
    }
    return QA_OK;
}

/* added_tokens [{"id", "content"}]: added to a BPE vocabulary when missing from it. */
static int json_added(Tokenizer *t, const cJSON *added, const char *path) {
    if (!added || cJSON_IsNull(added)) return QA_OK;
    if (!cJSON_IsArray(added)) return qa_error("%s: added_tokens is not an array", path);
    int i = 0;
    for (const cJSON *a = added->child; a; a = a->next, i++) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(a, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || !cJSON_IsString(c))
            return qa_error("%s: added_tokens[%d] lacks \"id\" or \"content\"", path, i);
        const char *s = c->valuestring;
        int have = t->bpe ? bpe_token_id(t->bpe, s, strlen(s)) : wp_token_id(t->wp, s);
        if (have >= 0 && have != id->valueint)
            return qa_error("%s: added_tokens[%d] \"%s\" has id %d, the vocabulary says %d",
                            path, i, s, id->valueint, have);
        if (have < 0 && !t->bpe)
            return qa_error("%s: added_tokens[%d] \"%s\" is not in the WordPiece vocabulary",
                            path, i, s);
        if (have < 0 && bpe_add_token(t->bpe, s, strlen(s), id->valueint, path)) return QA_ERR;
        int lstrip = 0, rstrip = 0;
        if (t->bpe && (json_bool(path, a, "lstrip", &lstrip) || json_bool(path, a, "rstrip", &rstrip) ||
                       bpe_add_special(t->bpe, id->valueint, lstrip, rstrip)))
            return QA_ERR;
    }
    return QA_OK;
}

static int load_tokenizer_json(Tokenizer *t, const char *path, Settings *js) {
    cJSON *root;
    if (json_read(path, &root)) return QA_ERR;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const char *type = type_of(model);
    int rc = QA_OK;
    if (!cJSON_IsObject(model) || !type || !cJSON_IsObject(vocab)) {
        rc = qa_error("%s: no \"model\" with a \"type\" and a \"vocab\" object", path);
    } else if (!strcmp(type, "BPE")) {
        const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
        const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
        const cJSON *suffix = cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix");
        t->kind = TOKENIZER_BPE;
        if ((cJSON_IsString(prefix) && *prefix->valuestring) ||
            (cJSON_IsString(suffix) && *suffix->valuestring))
            rc = qa_error("%s: model.continuing_subword_prefix / end_of_word_suffix are not "
                          "supported (byte-level BPE has neither)", path);
        else
            rc = read_pre_tokenizer(path, pre, js) || bpe_new(&t->bpe) ||
                 bpe_vocab_from_json(t->bpe, vocab, path, "model.vocab") ||
                 json_merges(t->bpe, cJSON_GetObjectItemCaseSensitive(model, "merges"), path);
    } else if (!strcmp(type, "WordPiece")) {
        const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
        const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
        t->kind = TOKENIZER_WORDPIECE;
        int strip = -1;
        if (type_of(norm) && !strcmp(type_of(norm), "BertNormalizer"))
            rc = json_bool(path, norm, "lowercase", &js->lowercase) ||
                 json_bool(path, norm, "strip_accents", &strip);
        if (!rc && strip >= 0 && js->lowercase >= 0 && strip != js->lowercase)
            rc = qa_error("%s: normalizer strip_accents %s with lowercase %s is not supported",
                          path, strip ? "true" : "false", js->lowercase ? "true" : "false");
        if (!rc) rc = wp_from_json(t, vocab, path);
        if (!rc && cJSON_IsString(unk)) rc = wp_vocab_set_unk(t->wp, unk->valuestring, path);
    } else {
        rc = qa_error("%s: model.type \"%s\" is not supported (\"BPE\" or \"WordPiece\")", path,
                      type);
    }
    if (!rc) rc = json_added(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), path);
    if (!rc) rc = read_post_processor(path, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), js);
    cJSON_Delete(root);
    return rc ? QA_ERR : QA_OK;
}

/* ---------------------------------------------------------------- loading */

static void settings_init(Settings *s) {
    memset(s, 0, sizeof *s);
    s->lowercase = s->add_prefix_space = s->trim_offsets = s->use_regex = -1;
    for (int k = 0; k < N_SPECIAL; k++) s->lstrip[k] = s->rstrip[k] = -1;
}

/* Overlays the fields a says something about onto s. */
static void settings_overlay(Settings *s, const Settings *a) {
    if (a->lowercase >= 0) s->lowercase = a->lowercase;
    if (a->add_prefix_space >= 0) s->add_prefix_space = a->add_prefix_space;
    if (a->trim_offsets >= 0) s->trim_offsets = a->trim_offsets;
    if (a->use_regex >= 0) s->use_regex = a->use_regex;
    if (a->model_max_length > 0) s->model_max_length = a->model_max_length;
    for (int k = 0; k < N_SPECIAL; k++)
        if (a->name[k][0]) {
            memcpy(s->name[k], a->name[k], sizeof s->name[k]);
            memcpy(s->from[k], a->from[k], sizeof s->from[k]);
            s->lstrip[k] = a->lstrip[k];
            s->rstrip[k] = a->rstrip[k];
        }
}

static int token_id(const Tokenizer *t, const char *s) {
    return t->bpe ? bpe_token_id(t->bpe, s, strlen(s)) : wp_token_id(t->wp, s);
}

/* Everything after the vocabulary: settings (tokenizer.json < tokenizer_config.json <
 * special_tokens_map.json, as transformers' fast tokenizers re-apply their init arguments),
 * special token ids, the family. */
static int finish(Tokenizer *t, const TokenizerFiles *f, const Settings *js, int has_config) {
    Settings s, c, m;
    settings_init(&s);
    settings_init(&c);
    settings_init(&m);
    if ((f->config && read_config(f->config, &c)) ||
        (f->special_map && read_special_map(f->special_map, &m)))
        return QA_ERR;
    settings_overlay(&s, js);
    settings_overlay(&s, &c);
    settings_overlay(&s, &m);
    t->model_max_length = s.model_max_length;
    const char *const *defaults = t->kind == TOKENIZER_BPE ? BPE_DEFAULTS : WP_DEFAULTS;
    for (int k = 0; k < N_SPECIAL; k++) {
        snprintf(t->name[k], sizeof t->name[k], "%s", s.name[k][0] ? s.name[k] : defaults[k]);
        snprintf(t->from[k], sizeof t->from[k], "%s", s.name[k][0] ? s.from[k] : "the default");
        t->ids[k] = token_id(t, t->name[k]);
    }
    if (t->kind == TOKENIZER_BPE) {
        BpeOpts o = BPE_OPTS_DEFAULT;
        if (s.add_prefix_space >= 0) o.add_prefix_space = s.add_prefix_space;
        if (s.trim_offsets >= 0) o.trim_offsets = s.trim_offsets;
        if (s.use_regex >= 0) o.use_regex = s.use_regex;
        if (bpe_finish(t->bpe, &o, t->vocab_file)) return QA_ERR;
        /* the special tokens are added tokens (RobertaTokenizer: <mask> takes the whitespace
         * to its left unless a file says otherwise); tokenizer.json's flags came first */
        for (int k = 0; k < N_SPECIAL; k++) {
            int lstrip = s.lstrip[k] >= 0 ? s.lstrip[k] : k == SP_MASK;
            if (t->ids[k] >= 0 && bpe_add_special(t->bpe, t->ids[k], lstrip, s.rstrip[k] > 0))
                return QA_ERR;
        }
    } else {
        /* BertTokenizer's do_lower_case defaults to true; only a bare vocab.txt is inferred */
        if (s.lowercase >= 0) wp_vocab_set_lowercase(t->wp, s.lowercase);
        else if (has_config) wp_vocab_set_lowercase(t->wp, 1);
        if (t->ids[SP_UNK] >= 0 && wp_vocab_set_unk(t->wp, t->name[SP_UNK], t->vocab_file))
            return QA_ERR;
    }
    if (f->model_type) {
        if (!(t->format = input_format_for(f->model_type))) return QA_ERR;
    } else {
        t->format = t->kind == TOKENIZER_BPE ? &FORMAT_ROBERTA : &FORMAT_BERT;
    }
    return QA_OK;
}

int tokenizer_load(const TokenizerFiles *f, Tokenizer **out) {
    *out = NULL;
    Tokenizer *t = calloc(1, sizeof *t);
    if (!t) return qa_error("tokenizer: out of memory");
    Settings js;
    settings_init(&js);
    int rc;
    if (f->tokenizer_json) {
        snprintf(t->vocab_file, sizeof t->vocab_file, "%s", f->tokenizer_json);
        rc = load_tokenizer_json(t, f->tokenizer_json, &js) || add_file(t, f->tokenizer_json);
    } else if (f->vocab && f->merges) {
        t->kind = TOKENIZER_BPE;
        snprintf(t->vocab_file, sizeof t->vocab_file, "%s", f->vocab);
        rc = load_bpe_files(t, f->vocab, f->merges) || add_file(t, f->vocab) ||
             add_file(t, f->merges);
    } else if (f->vocab) {
        size_t n = strlen(f->vocab);
        t->kind = TOKENIZER_WORDPIECE;
        snprintf(t->vocab_file, sizeof t->vocab_file, "%s", f->vocab);
        rc = n >= 5 && !strcmp(f->vocab + n - 5, ".json")
                 ? qa_error("%s: a vocab.json needs its merges.txt (byte-level BPE)", f->vocab)
                 : wp_vocab_load(f->vocab, &t->wp) || add_file(t, f->vocab);
    } else {
        rc = qa_error("tokenizer: no vocabulary given (vocab.txt, vocab.json + merges.txt, or "
                      "tokenizer.json)");
    }
    if (!rc) rc = finish(t, f, &js, f->config != NULL);
    if (!rc && f->config) rc = add_file(t, f->config);
    if (!rc && f->special_map) rc = add_file(t, f->special_map);
    if (rc) {
        tokenizer_free(t);
        return QA_ERR;
    }
    *out = t;
    return QA_OK;
}

/* config.json's model_type into buf ("" when the file is absent). */
static int read_model_type(const char *path, char *buf, size_t n) {
    buf[0] = '\0';
    if (!file_exists(path)) return QA_OK;
    cJSON *o;
    if (json_read(path, &o)) return QA_ERR;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "model_type");
    int rc = cJSON_IsString(v) && strlen(v->valuestring) < n
                 ? (snprintf(buf, n, "%s", v->valuestring), QA_OK)
                 : qa_error("%s: \"model_type\" missing or not a string", path);
    cJSON_Delete(o);
    return rc;
}

int tokenizer_load_dir(const char *dir, Tokenizer **out) {
    char tj[4096], vj[4096], mt[4096], vt[4096], cfg[4096], map[4096], config[4096], type[64];
    *out = NULL;
    if (path_join(tj, sizeof tj, dir, "tokenizer.json") ||
        path_join(vj, sizeof vj, dir, "vocab.json") || path_join(mt, sizeof mt, dir, "merges.txt") ||
        path_join(vt, sizeof vt, dir, "vocab.txt") ||
        path_join(cfg, sizeof cfg, dir, "tokenizer_config.json") ||
        path_join(map, sizeof map, dir, "special_tokens_map.json") ||
        path_join(config, sizeof config, dir, "config.json") ||
        read_model_type(config, type, sizeof type))
        return QA_ERR;
    TokenizerFiles f = {0};
    if (file_exists(tj)) {
        f.tokenizer_json = tj;
    } else if (file_exists(vj) || file_exists(mt)) {
        if (!file_exists(vj) || !file_exists(mt))
            return qa_error("%s: has %s but not %s (byte-level BPE needs both)", dir,
                            file_exists(vj) ? "vocab.json" : "merges.txt",
                            file_exists(vj) ? "merges.txt" : "vocab.json");
        f.vocab = vj;
        f.merges = mt;
    } else if (file_exists(vt)) {
        f.vocab = vt;
    } else {
        return qa_error("%s: no tokenizer files (tokenizer.json, vocab.json + merges.txt, or "
                        "vocab.txt)", dir);
    }
    f.config = file_exists(cfg) ? cfg : NULL;
    f.special_map = file_exists(map) ? map : NULL;
    f.model_type = type[0] ? type : NULL;
    if (tokenizer_load(&f, out)) return QA_ERR;
    /* the directory's other tokenizer files travel with it when a checkpoint is saved */
    const char *others[] = {tj, vj, mt, vt, "added_tokens.json"};
    char added[4096];
    if (path_join(added, sizeof added, dir, others[4])) return QA_OK;
    others[4] = added;
    for (int i = 0; i < 5; i++)
        if (file_exists(others[i]) && add_file(*out, others[i])) {
            tokenizer_free(*out);
            *out = NULL;
            return QA_ERR;
        }
    return QA_OK;
}

/* ---------------------------------------------------------------- use */

int tokenizer_encode(Tokenizer *t, const char *text, size_t len, TextToken **out, int *n) {
    return t->bpe ? bpe_encode(t->bpe, text, len, out, n) : wp_tokenize(t->wp, text, len, out, n);
}

TokenizerKind tokenizer_kind(const Tokenizer *t) { return t->kind; }
const char *tokenizer_kind_name(const Tokenizer *t) {
    return t->kind == TOKENIZER_BPE ? "bpe" : "wordpiece";
}
const InputFormat *tokenizer_format(const Tokenizer *t) { return t->format; }

TokSpecial tokenizer_special(const Tokenizer *t) {
    return (TokSpecial){t->ids[SP_CLS], t->ids[SP_SEP], t->ids[SP_PAD], t->ids[SP_UNK],
                        t->ids[SP_MASK]};
}

int tokenizer_check_special(const Tokenizer *t) {
    for (int k = SP_CLS; k <= SP_PAD; k++)
        if (t->ids[k] < 0)
            return qa_error("%s: %s \"%s\" (from %s) is not in the vocabulary; the %s input "
                            "format needs it", t->vocab_file, SPECIAL_KEYS[k], t->name[k],
                            t->from[k], t->format->name);
    return QA_OK;
}

int tokenizer_vocab_size(const Tokenizer *t) {
    return t->bpe ? bpe_vocab_size(t->bpe) : wp_vocab_size(t->wp);
}

int tokenizer_token_id(const Tokenizer *t, const char *s) { return token_id(t, s); }

const char *tokenizer_token_str(const Tokenizer *t, int id) {
    return t->bpe ? bpe_token_str(t->bpe, id) : wp_token_str(t->wp, id);
}

int tokenizer_lowercase(const Tokenizer *t) { return t->wp ? wp_vocab_lowercase(t->wp) : 0; }

int tokenizer_set_lowercase(Tokenizer *t, int lowercase) {
    if (!t->wp) return qa_error("%s: a byte-level BPE has no casing to set", t->vocab_file);
    wp_vocab_set_lowercase(t->wp, lowercase);
    return QA_OK;
}
int tokenizer_model_max_length(const Tokenizer *t) { return t->model_max_length; }
const char *const *tokenizer_files(const Tokenizer *t) { return (const char *const *)t->files; }
