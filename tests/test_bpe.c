/* tests/test_bpe.c: byte-level BPE and the tokenizer files.
 *   - GPT-2's vocab.json + merges.txt (../shared): the ids of every line of sample-ids.jsonl,
 *     whose ids an independent implementation gave; spans cover the text (every byte of a
 *     non-space character in exactly one token, or in each of the consecutive tokens that split
 *     that character) and the tokens' bytes give the text back;
 *   - the same vocabulary as one tokenizer.json (merges as "a b" strings and as pairs): the
 *     same ids and spans;
 *   - a small hand-made vocabulary: pre-tokenisation cases, merge order, add_prefix_space,
 *     trim_offsets, special tokens from tokenizer_config.json / special_tokens_map.json and
 *     matched in the text (lstrip / rstrip);
 *   - WordPiece from vocab.txt (casing inferred, or read from tokenizer_config.json) and from
 *     tokenizer.json (its normalizer's lowercase, overridden by tokenizer_config.json);
 *   - bad files: one line naming the file and what is wrong. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/text/bpe.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "tests/test.h"

#define GPT2 "../shared/data/gpt2-bpe"

static char dir[] = "/tmp/qaprune_bpe_XXXXXX";

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static const char *write_tmp(const char *name, const char *text) {
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

/* Spans and bytes of tokens t[0..n) of text: see the file comment. Returns failures. */
static int check_cover(Tokenizer *tok, const char *text, size_t len, const TextToken *t, int n) {
    int bad = 0;
    unsigned char *count = calloc(len + 1, 1);
    char *bytes = malloc(4 * len + 64);
    size_t nb = 0;
    for (int i = 0; i < n; i++) {
        if (t[i].start < 0 || t[i].end < t[i].start || (size_t)t[i].end > len) bad++;
        for (int k = t[i].start; k < t[i].end && !bad; k++) count[k]++;
        const char *s = tokenizer_token_str(tok, t[i].id);
        /* the token's bytes: GPT-2's map inverted by hand, through bpe_token_bytes' twin */
        size_t sl = s ? strlen(s) : 0, pos = 0;
        while (pos < sl) {
            unsigned c = (unsigned char)s[pos];
            unsigned cp = c < 0x80 ? c : ((c & 0x1F) << 6) | ((unsigned char)s[pos + 1] & 0x3F);
            pos += c < 0x80 ? 1 : 2;
            int b = cp >= 256 ? -1 : (int)cp;
            if (cp >= 256) { /* the 68 bytes GPT-2 moves to U+0100.. */
                int m = 0;
                for (int x = 0; x < 256; x++) {
                    int printable = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
                    if (!printable && 256 + m++ == (int)cp) b = x;
                }
            }
            bytes[nb++] = (char)b;
        }
    }
    if (nb != len || memcmp(bytes, text, len)) bad++;
    for (size_t k = 0; k < len && !bad; k++) {
        if (text[k] == ' ') continue;
        if (count[k] == 1) continue;
        /* a character split over consecutive tokens is in both of their spans */
        int in_split = count[k] >= 2 && (unsigned char)text[k] >= 0x80;
        if (!in_split) bad++;
    }
    free(count);
    free(bytes);
    return bad;
}

/* Every line of sample-ids.jsonl through tok; returns the lines checked (0 if none). */
static int check_samples(Tokenizer *tok, const char *label) {
    char *text = NULL;
    size_t len = 0;
    if (file_read(GPT2 "/sample-ids.jsonl", 0, &text, &len)) return 0;
    int lines = 0, id_fail = 0, cover_fail = 0;
    for (char *p = text, *nl; p < text + len; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(text + len - p));
        if (!nl) nl = text + len;
        *nl = '\0';
        if (nl == p) continue;
        cJSON *o = cJSON_Parse(p);
        const cJSON *s = cJSON_GetObjectItem(o, "text"), *ids = cJSON_GetObjectItem(o, "ids");
        CHECK(cJSON_IsString(s) && cJSON_IsArray(ids), "%s: sample line %d unreadable", label, lines + 1);
        if (cJSON_IsString(s) && cJSON_IsArray(ids)) {
            TextToken *t = NULL;
            int n = 0, same;
            size_t sl = strlen(s->valuestring);
            CHECK(tokenizer_encode(tok, s->valuestring, sl, &t, &n) == QA_OK, "%s", qa_last_error());
            same = n == cJSON_GetArraySize(ids);
            int k = 0;
            for (const cJSON *v = ids->child; v && same; v = v->next, k++) same = v->valueint == t[k].id;
            if (!same && id_fail++ < 3) {
                fprintf(stderr, "%s: line %d ids differ: %.60s\n  got ", label, lines + 1, s->valuestring);
                for (int i = 0; i < n && i < 24; i++) fprintf(stderr, "%d ", t[i].id);
                fprintf(stderr, "\n  want ");
                for (const cJSON *v = ids->child; v && v != NULL; v = v->next) fprintf(stderr, "%d ", v->valueint);
                fputc('\n', stderr);
            }
            if (check_cover(tok, s->valuestring, sl, t, n) && cover_fail++ < 3)
                fprintf(stderr, "%s: line %d: spans or bytes do not cover the text\n", label, lines + 1);
            free(t);
        }
        cJSON_Delete(o);
        lines++;
    }
    free(text);
    CHECK(id_fail == 0, "%s: %d of %d sample lines with other ids", label, id_fail, lines);
    CHECK(cover_fail == 0, "%s: %d of %d sample lines not covered by their spans", label, cover_fail, lines);
    return lines;
}

/* GPT-2's files as one tokenizer.json (merges as strings, or as pairs). */
static const char *gpt2_tokenizer_json(int pairs) {
    char *vocab = NULL, *merges = NULL;
    size_t nv, nm;
    if (file_read(GPT2 "/vocab.json", 0, &vocab, &nv) || file_read(GPT2 "/merges.txt", 0, &merges, &nm))
        return NULL;
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddItemToObject(model, "vocab", cJSON_Parse(vocab));
    cJSON *arr = cJSON_AddArrayToObject(model, "merges");
    for (char *p = merges, *nl; p < merges + nm; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(merges + nm - p));
        if (!nl) nl = merges + nm;
        *nl = '\0';
        if (!*p || !strncmp(p, "#version", 8)) continue;
        if (!pairs) {
            cJSON_AddItemToArray(arr, cJSON_CreateString(p));
        } else {
            char *sp = strchr(p, ' ');
            *sp = '\0';
            const char *two[2] = {p, sp + 1};
            cJSON_AddItemToArray(arr, cJSON_CreateStringArray(two, 2));
        }
    }
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "ByteLevel");
    cJSON_AddFalseToObject(pre, "add_prefix_space");
    cJSON_AddTrueToObject(pre, "use_regex");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    cJSON *eot = cJSON_CreateObject();
    cJSON_AddNumberToObject(eot, "id", 50256);
    cJSON_AddStringToObject(eot, "content", "<|endoftext|>");
    cJSON_AddItemToArray(added, eot);
    char *js = cJSON_PrintUnformatted(root);
    const char *path = tmp_path(pairs ? "pairs-tokenizer.json" : "tokenizer.json");
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(js, f);
        fclose(f);
    }
    cJSON_free(js);
    cJSON_Delete(root);
    free(vocab);
    free(merges);
    return path;
}

static void test_gpt2(void) {
    if (access(GPT2 "/sample-ids.jsonl", R_OK) != 0) {
        SKIP("%s missing: GPT-2 BPE sample ids not checked", GPT2);
        return;
    }
    Tokenizer *tok = NULL;
    TokenizerFiles f = {.vocab = GPT2 "/vocab.json", .merges = GPT2 "/merges.txt"};
    CHECK(tokenizer_load(&f, &tok) == QA_OK, "load GPT-2: %s", qa_last_error());
    if (!tok) return;
    CHECK(tokenizer_vocab_size(tok) == 50257 && tokenizer_kind(tok) == TOKENIZER_BPE, "GPT-2 size");
    int lines = check_samples(tok, "vocab.json+merges.txt");
    CHECK(lines == 171, "sample lines: %d", lines);
    printf("gpt2: %d sample lines checked (ids, spans, bytes)\n", lines);
    /* a second pass runs from the piece cache and must give the same */
    CHECK(check_samples(tok, "vocab.json+merges.txt, cached") == lines, "second pass");
    tokenizer_free(tok);
    for (int pairs = 0; pairs <= 1; pairs++) {
        TokenizerFiles j = {.tokenizer_json = gpt2_tokenizer_json(pairs)};
        tok = NULL;
        CHECK(j.tokenizer_json && tokenizer_load(&j, &tok) == QA_OK, "load tokenizer.json: %s",
              qa_last_error());
        if (tok) CHECK(check_samples(tok, pairs ? "tokenizer.json pairs" : "tokenizer.json") == 171,
                       "tokenizer.json lines");
        tokenizer_free(tok);
    }
}

/* ---------------------------------------------------------------- a small vocabulary */

/* The 256 byte symbols (ids 0-255 in byte order), then the tokens of extra, then merges. */
static void write_small(const char *sub, const char *extra_vocab, const char *merges) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    file_mkdirs(path);
    cJSON *v = cJSON_CreateObject();
    int m = 0, id = 0;
    for (int x = 0; x < 256; x++) {
        int printable = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
        int cp = printable ? x : 256 + m++;
        char u[4] = {0};
        if (cp < 0x80) u[0] = (char)cp;
        else u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F));
        cJSON_AddNumberToObject(v, u, id++);
    }
    char *ex = strdup(extra_vocab);
    for (char *w = strtok(ex, " "); w; w = strtok(NULL, " ")) cJSON_AddNumberToObject(v, w, id++);
    free(ex);
    char *js = cJSON_Print(v);
    snprintf(path, sizeof path, "%s/vocab.json", sub);
    write_tmp(path, js);
    cJSON_free(js);
    cJSON_Delete(v);
    snprintf(path, sizeof path, "%s/merges.txt", sub);
    write_tmp(path, merges);
}

static Tokenizer *small_dir(const char *sub) {
    Tokenizer *t = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    CHECK(tokenizer_load_dir(path, &t) == QA_OK, "%s: %s", sub, qa_last_error());
    return t;
}

/* Encodes text and compares "id:start-end ..." with want. */
static void expect(Tokenizer *t, const char *text, const char *want) {
    TextToken *tk = NULL;
    int n = 0;
    char got[1024] = "";
    if (!t) return;
    CHECK(tokenizer_encode(t, text, strlen(text), &tk, &n) == QA_OK, "%s", qa_last_error());
    for (int i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s:%d-%d", i ? " " : "",
                 tokenizer_token_str(t, tk[i].id), tk[i].start, tk[i].end);
    CHECK(!strcmp(got, want), "'%s': got '%s', want '%s'", text, got, want);
    free(tk);
}

static void test_small(void) {
    /* ids: bytes 0-255, then <s>=256 <pad>=257 </s>=258 <unk>=259 ... */
    write_small("s", "<s> <pad> </s> <unk> Ġt Ġth Ġthe he ll re 're Ġ1 Ġ12 ĠĠ",
                "#version: 0.2\nĠ t\nĠt h\nĠth e\nh e\nl l\nr e\n' re\nĠ 1\nĠ1 2\nĠ Ġ\n");
    Tokenizer *t = small_dir("s");
    if (!t) return;
    TokSpecial sp = tokenizer_special(t);
    CHECK(sp.cls == 256 && sp.pad == 257 && sp.sep == 258 && sp.unk == 259 && sp.mask == -1,
          "specials %d %d %d %d %d", sp.cls, sp.pad, sp.sep, sp.unk, sp.mask);
    CHECK(tokenizer_check_special(t) == QA_OK && !strcmp(tokenizer_format(t)->name, "roberta"),
          "roberta format by default for BPE");
    /* merges by rank: "Ġ t" first, so " the" is Ġthe, "he" alone is he */
    expect(t, "he the", "he:0-2 Ġthe:3-6");
    /* contractions split before letters; numbers and letters apart */
    expect(t, "we're 12x", "w:0-1 e:1-2 're:2-5 Ġ12:6-8 x:8-9");
    /* runs of spaces: all but the last before a word; the lone "Ġ" before a word is trimmed */
    expect(t, "a   the", "a:0-1 ĠĠ:3-3 Ġthe:4-7");
    /* whitespace at the end stays one piece; a newline is its own piece */
    expect(t, "a\nb  ", "a:0-1 Ċ:1-2 b:2-3 ĠĠ:5-5");
    /* a split character: both tokens carry its whole span */
    expect(t, "\xc3\xa9t", "Ã:0-2 ©:0-2 t:2-3");
    /* special tokens in the text are matched first; the text between is tokenized on its
     * own (so "b " ends in a lone Ġ, as RoBERTa's "hello </s>" does) */
    expect(t, "a<s>b </s> the", "a:0-1 <s>:1-4 b:4-5 Ġ:6-6 </s>:6-10 Ġthe:11-14");
    tokenizer_free(t);

    /* <mask> takes the whitespace to its left (RobertaTokenizer's lstrip) unless a file
     * says otherwise */
    write_small("m", "<s> <pad> </s> <unk> <mask> Ġc", "Ġ c\n");
    t = small_dir("m");
    expect(t, "a <mask> c<mask>", "a:0-1 <mask>:1-8 Ġc:9-10 <mask>:10-16");
    tokenizer_free(t);
    write_tmp("m/special_tokens_map.json",
              "{\"mask_token\": {\"content\": \"<mask>\", \"lstrip\": false, \"rstrip\": true}}");
    t = small_dir("m");
    expect(t, "a <mask> c", "a:0-1 Ġ:2-2 <mask>:2-9 c:9-10");
    tokenizer_free(t);

    /* add_prefix_space from tokenizer_config.json; special names from special_tokens_map */
    write_small("p", "<s> <pad> </s> <unk> Ġt Ġth Ġthe [C]", "Ġ t\nĠt h\nĠth e\n");
    write_tmp("p/tokenizer_config.json",
              "{\"add_prefix_space\": true, \"model_max_length\": 512, \"cls_token\": \"<s>\"}");
    write_tmp("p/special_tokens_map.json",
              "{\"cls_token\": {\"content\": \"[C]\", \"lstrip\": false}, \"sep_token\": \"</s>\"}");
    t = small_dir("p");
    if (!t) return;
    CHECK(tokenizer_special(t).cls == 263 && tokenizer_model_max_length(t) == 512,
          "cls from special_tokens_map.json (%d), model_max_length", tokenizer_special(t).cls);
    expect(t, "the the", "Ġthe:0-3 Ġthe:4-7");
    const char *const *files = tokenizer_files(t);
    int nf = 0;
    while (files[nf]) nf++;
    CHECK(nf == 4, "files read: %d", nf);
    tokenizer_free(t);
}

/* ---------------------------------------------------------------- WordPiece files */

/* ids of text through the tokenizer in directory sub, as "5 6 ..." */
static void expect_ids(const char *sub, const char *text, const char *want, int lowercase) {
    Tokenizer *t = small_dir(sub);
    TextToken *tk = NULL;
    int n = 0;
    char got[256] = "";
    if (!t) return;
    CHECK(tokenizer_kind(t) == TOKENIZER_WORDPIECE && !strcmp(tokenizer_format(t)->name, "bert"),
          "%s: WordPiece, BERT format", sub);
    CHECK(tokenizer_lowercase(t) == lowercase, "%s: lowercase %d", sub, tokenizer_lowercase(t));
    CHECK(tokenizer_encode(t, text, strlen(text), &tk, &n) == QA_OK, "%s", qa_last_error());
    for (int i = 0; i < n; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", i ? " " : "", tk[i].id);
    CHECK(!strcmp(got, want), "%s: '%s' -> '%s', want '%s'", sub, text, got, want);
    free(tk);
    tokenizer_free(t);
}

static void test_wordpiece_files(void) {
    static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\nHello\n##s\n";
    static const char json[] =
        "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", "
        "\"continuing_subword_prefix\": \"##\", \"vocab\": {\"[PAD]\": 0, \"[UNK]\": 1, "
        "\"[CLS]\": 2, \"[SEP]\": 3, \"[MASK]\": 4, \"hello\": 5, \"world\": 6, \"Hello\": 7, "
        "\"##s\": 8}}, \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": %s}}";
    char buf[1024];
    /* a bare vocab.txt: casing inferred from its entries ("Hello" makes it cased) */
    file_mkdirs(tmp_path("w1"));
    write_tmp("w1/vocab.txt", vocab);
    expect_ids("w1", "Hello worlds", "7 6 8", 0);
    /* tokenizer_config.json says do_lower_case: no guessing */
    file_mkdirs(tmp_path("w2"));
    write_tmp("w2/vocab.txt", vocab);
    write_tmp("w2/tokenizer_config.json", "{\"do_lower_case\": true}");
    expect_ids("w2", "Hello worlds", "5 6 8", 1);
    /* tokenizer.json alone: its BertNormalizer's lowercase */
    file_mkdirs(tmp_path("w3"));
    snprintf(buf, sizeof buf, json, "false");
    write_tmp("w3/tokenizer.json", buf);
    expect_ids("w3", "Hello worlds", "7 6 8", 0);
    file_mkdirs(tmp_path("w4"));
    snprintf(buf, sizeof buf, json, "true");
    write_tmp("w4/tokenizer.json", buf);
    expect_ids("w4", "Hello worlds", "5 6 8", 1);
    /* ... overridden by tokenizer_config.json, as transformers' BertTokenizerFast does */
    write_tmp("w4/tokenizer_config.json", "{\"do_lower_case\": false}");
    expect_ids("w4", "Hello worlds", "7 6 8", 0);
}

/* ---------------------------------------------------------------- bad files */

static void expect_fail(const TokenizerFiles *f, const char *dir_path, const char *a, const char *b) {
    Tokenizer *t = NULL;
    int rc = dir_path ? tokenizer_load_dir(dir_path, &t) : tokenizer_load(f, &t);
    const char *e = qa_last_error();
    CHECK(rc == QA_ERR && !t, "expected a failure (%s)", a);
    CHECK(strstr(e, a) && (!b || strstr(e, b)) && !strchr(e, '\n'), "message '%s' lacks '%s' / '%s'",
          e, a, b ? b : "");
    tokenizer_free(t);
}

static void test_bad(void) {
    write_small("b1", "<s> <pad> </s> Ġt", "#version: 0.2\nĠ t\nĠt zz\n");
    expect_fail(NULL, tmp_path("b1"), "b1/merges.txt:3: merge \"Ġt zz\"", "\"zz\" is not in the vocabulary");
    write_small("b2", "<s> <pad> </s>", "Ġ t\n");
    expect_fail(NULL, tmp_path("b2"), "b2/merges.txt:1: merge \"Ġ t\" makes \"Ġt\"", "not in the vocabulary");
    write_small("b3", "<s> <pad> </s>", "a b c\n");
    expect_fail(NULL, tmp_path("b3"), "b3/merges.txt:1", "not two tokens");
    write_tmp("b4.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"");
    TokenizerFiles f = {.tokenizer_json = tmp_path("b4.json")};
    expect_fail(&f, NULL, "b4.json: not valid JSON", "truncated");
    write_tmp("b5.json", "{\"!\": 0, \"a\": 1}");
    write_tmp("b5.txt", "");
    f = (TokenizerFiles){.vocab = tmp_path("b5.json"), .merges = tmp_path("b5.txt")};
    expect_fail(&f, NULL, "b5.json: no token \"\xc4\x80\" for byte 0x00", NULL);
    write_small("b6", "<s> </s>", "");
    Tokenizer *t = small_dir("b6");
    CHECK(t && tokenizer_check_special(t) == QA_ERR, "a vocabulary without <pad> fails the check");
    CHECK(strstr(qa_last_error(), "b6/vocab.json: pad_token \"<pad>\" (from the default) is not in "
                 "the vocabulary"), "message: %s", qa_last_error());
    tokenizer_free(t);
    write_small("b7", "<s> </s> <p>", "");
    write_tmp("b7/special_tokens_map.json", "{\"pad_token\": \"<padding>\"}");
    t = small_dir("b7");
    CHECK(t && tokenizer_check_special(t) == QA_ERR &&
              strstr(qa_last_error(), "\"<padding>\" (from special_tokens_map.json)"),
          "message: %s", qa_last_error());
    tokenizer_free(t);
    write_small("b8", "<s> </s>", "");
    write_tmp("b8/config.json", "{\"model_type\": \"gpt-neo\"}");
    expect_fail(NULL, tmp_path("b8"), "model_type \"gpt-neo\"", "supported: \"bert\"");
    expect_fail(NULL, "/nonexistent-dir", "no tokenizer files", NULL);
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_gpt2();
    test_small();
    test_wordpiece_files();
    test_bad();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cannot remove %s", dir);
    return TEST_DONE();
}
