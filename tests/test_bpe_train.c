/* tests/test_bpe_train.c: the byte-level BPE trainer.
 *   - a hand-worked corpus: merge order, ties to the smaller pair, overlapping pairs, a merge
 *     whose string another merge already made;
 *   - on the PyTorch mirror's corpus (tests/data/torch_roberta_bpe_data/dev.json) it learns
 *     the mirror's merges.txt byte for byte and the same vocab.json;
 *   - what it writes loads as a tokenizer whose tokens give every training text back;
 *   - `sweep gen-data --bpe-merges` writes vocab.json + merges.txt that `sweep tokenize` reads. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/qa/squad.h"
#include "core/text/bpe.h"
#include "core/text/bpe_train.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "tests/test.h"

#define MIRROR "tests/data/torch_roberta_bpe"

static char dir[] = "/tmp/qaprune_bpetrain_XXXXXX";

static const char *tmp(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static char *slurp(const char *path) {
    char *s = NULL;
    size_t n;
    return file_read(path, 0, &s, &n) ? NULL : s;
}

static void test_hand(void) {
    BpeTrainer *t = NULL;
    /* pieces: "aaaa" once, "ab" once, " ab" twice ("ab ab ab" -> ab Ġab Ġab) */
    const char *texts[] = {"aaaa", "ab ab ab"};
    CHECK(bpe_trainer_new(&t) == QA_OK, "%s", qa_last_error());
    for (int i = 0; i < 2; i++) CHECK(bpe_trainer_add(t, texts[i], strlen(texts[i])) == QA_OK, "add");
    int n = bpe_trainer_write(t, 10, tmp("v.json"), tmp("m.txt"));
    /* round 1: (a,b) 3 and (a,a) 3 tie -> ("a","a") < ("a","b"); "aaaa" -> aa aa.
     * round 2: (a,b) 3; round 3: (Ġ,ab) 2; round 4: (aa,aa) 1; then no pair is left */
    CHECK(n == 4, "merges learnt: %d", n);
    char *m = slurp(tmp("m.txt"));
    CHECK(m && !strcmp(m, "#version: 0.2\na a\na b\n\xc4\xa0 ab\naa aa\n"), "merges: %s", m ? m : "");
    free(m);
    bpe_trainer_free(t);
    TokenizerFiles f = {.vocab = tmp("v.json"), .merges = tmp("m.txt")};
    Tokenizer *tok = NULL;
    CHECK(tokenizer_load(&f, &tok) == QA_OK, "the trained files load: %s", qa_last_error());
    if (tok) {
        TextToken *tk = NULL;
        int nt = 0;
        CHECK(tokenizer_encode(tok, "aaaa ab", 7, &tk, &nt) == QA_OK && nt == 2 &&
                  !strcmp(tokenizer_token_str(tok, tk[0].id), "aaaa") &&
                  !strcmp(tokenizer_token_str(tok, tk[1].id), "\xc4\xa0" "ab"),
              "encoded with the learnt merges (%d tokens)", nt);
        TokSpecial sp = tokenizer_special(tok);
        CHECK(sp.cls == 0 && sp.pad == 1 && sp.sep == 2 && sp.unk == 3 &&
                  sp.mask == tokenizer_vocab_size(tok) - 1, "RoBERTa's special ids");
        free(tk);
    }
    tokenizer_free(tok);
}

static void test_mirror(void) {
    if (access(MIRROR "_data/dev.json", R_OK) || access(MIRROR "/merges.txt", R_OK)) {
        SKIP("%s missing (run tests/make_torch_checkpoint.py)", MIRROR);
        return;
    }
    SquadSet *set = NULL;
    BpeTrainer *t = NULL;
    CHECK(squad_load(MIRROR "_data/dev.json", &set) == QA_OK && bpe_trainer_new(&t) == QA_OK,
          "%s", qa_last_error());
    if (!set || !t) goto cleanup;
    for (int i = 0; i < set->n_paragraphs; i++)
        bpe_trainer_add(t, set->contexts[i], strlen(set->contexts[i]));
    for (int i = 0; i < set->n_questions; i++)
        bpe_trainer_add(t, set->questions[i].question, strlen(set->questions[i].question));
    int n = bpe_trainer_write(t, 160, tmp("vocab.json"), tmp("merges.txt"));
    CHECK(n == 160, "learnt %d merges", n);
    char *a = slurp(tmp("merges.txt")), *b = slurp(MIRROR "/merges.txt");
    CHECK(a && b && !strcmp(a, b), "merges.txt equals the mirror's");
    free(a);
    free(b);
    a = slurp(tmp("vocab.json"));
    b = slurp(MIRROR "/vocab.json");
    cJSON *ja = a ? cJSON_Parse(a) : NULL, *jb = b ? cJSON_Parse(b) : NULL;
    CHECK(ja && jb && cJSON_GetArraySize(ja) == cJSON_GetArraySize(jb) && cJSON_Compare(ja, jb, 1),
          "vocab.json equals the mirror's (%d vs %d ids)", ja ? cJSON_GetArraySize(ja) : -1,
          jb ? cJSON_GetArraySize(jb) : -1);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    free(a);
    free(b);
cleanup:
    bpe_trainer_free(t);
    squad_free(set);
}

static void test_gen_data(const char *bin) {
    char cmd[2048], line[4096];
    snprintf(cmd, sizeof cmd, "%s gen-data --out %s/gd --seed 3 --train 300 --dev 40 "
             "--bpe-merges 300 2>/dev/null && echo 'Where was Lafel born?' | %s tokenize "
             "--vocab %s/gd/vocab.json --merges %s/gd/merges.txt --tokens 2>/dev/null",
             bin, dir, bin, dir, dir);
    FILE *p = popen(cmd, "r");
    line[0] = '\0';
    if (p && !fgets(line, sizeof line, p)) line[0] = '\0';
    int st = p ? pclose(p) : -1;
    CHECK(st == 0 && strstr(line, "Where") && strstr(line, "\xc4\xa0" "born"),
          "gen-data --bpe-merges, then tokenize: '%s'", line);
    char *m = slurp(tmp("gd/merges.txt"));
    int lines = 0;
    for (char *c = m; c && *c; c++) lines += *c == '\n';
    CHECK(lines == 301, "merges.txt lines: %d", lines);
    free(m);
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_hand();
    test_mirror();
    test_gen_data(test_sweep_bin());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cannot remove %s", dir);
    return TEST_DONE();
}
