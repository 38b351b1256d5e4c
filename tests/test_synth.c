/* tests/test_synth.c: the synthetic task generator: valid SQuAD 2.0 files, deterministic per
 * seed, a vocabulary with the special tokens under which no word is [UNK], answers exactly at
 * answer_start, the question mix, and the gen-data CLI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/squad.h"
#include "core/synth.h"
#include "core/text.h"
#include "core/wordpiece.h"
#include "tests/test.h"

static char dir[] = "/tmp/qaprune_synth_XXXXXX";

static char *slurp(const char *sub, const char *name) {
    char path[512], *buf = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    return text_read_file(path, &buf, &len) ? NULL : buf;
}

static int same_file(const char *a, const char *b, const char *name) {
    char *x = slurp(a, name), *y = slurp(b, name);
    int same = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

static void check_split(const char *sub, const char *name, int n_want, const WpVocab *v) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    SquadSet *set = NULL;
    CHECK(squad_load(path, &set) == 0, "%s", qa_last_error());
    if (!set) return;
    CHECK(set->n_questions == n_want, "%s: %d questions, want %d", name, set->n_questions, n_want);
    CHECK(set->n_relocated == 0 && set->n_unlocated == 0, "answers at answer_start");
    int n_unk = 0, n_impossible = 0, longest = 0, n_flag_wrong = 0;
    WpSpecial sp = wp_special(v);
    for (int i = 0; i < set->n_questions; i++) {
        const SquadQuestion *q = &set->questions[i];
        n_impossible += q->n_answers == 0;
        n_flag_wrong += q->is_impossible != (q->n_answers == 0);
        const char *texts[2] = {q->question, q->context};
        for (int k = 0; k < 2; k++) {
            WpToken *t = NULL;
            int n = 0;
            if (wp_tokenize(v, texts[k], strlen(texts[k]), &t, &n)) continue;
            for (int j = 0; j < n; j++) n_unk += t[j].id == sp.unk;
            if (k == 1 && n > longest) longest = n;
            free(t);
        }
    }
    CHECK(n_flag_wrong == 0, "%s: %d is_impossible flags disagree with the answers", name,
          n_flag_wrong);
    CHECK(n_unk == 0, "%s: %d [UNK] tokens", name, n_unk);
    CHECK(longest <= 120, "%s: longest context %d tokens (fits max_seq_len 128 with a question)",
          name, longest);
    double frac = (double)n_impossible / set->n_questions;
    CHECK(frac >= 1.0 / 3 && frac <= 0.5, "%s: %.3f unanswerable", name, frac);
    squad_free(set);
}

int main(void) {
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return TEST_DONE();
    }
    char a[600], b[600], c[600];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    snprintf(c, sizeof c, "%s/c", dir);
    CHECK(synth_generate(a, 7, 1500, 300) == 0, "%s", qa_last_error());
    CHECK(synth_generate(b, 7, 1500, 300) == 0, "%s", qa_last_error());
    CHECK(synth_generate(c, 8, 1500, 300) == 0, "%s", qa_last_error());
    CHECK(same_file("a", "b", "train.json") && same_file("a", "b", "dev.json") &&
          same_file("a", "b", "vocab.txt"), "same seed, same files");
    CHECK(!same_file("a", "c", "train.json") && same_file("a", "c", "vocab.txt"),
          "another seed: other data, the same vocabulary");
    char path[700];
    snprintf(path, sizeof path, "%s/vocab.txt", a);
    WpVocab *v = NULL;
    CHECK(wp_vocab_load(path, &v) == 0, "%s", qa_last_error());
    if (v) {
        WpSpecial sp = wp_special(v);
        CHECK(sp.pad == 0 && sp.unk == 1 && sp.cls == 2 && sp.sep == 3 && sp.mask == 4 &&
              wp_vocab_lowercase(v), "special tokens at 0-4, uncased");
        check_split("a", "train.json", 1500, v);
        check_split("a", "dev.json", 300, v);
        wp_vocab_free(v);
    }
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "%s gen-data --out %s/cli --seed 7 --train 1500 --dev 300 2>/dev/null",
             test_sweep_bin(), dir);
    CHECK(system(cmd) == 0, "gen-data CLI");
    CHECK(same_file("a", "cli", "dev.json"), "the CLI writes what synth_generate writes");
    snprintf(cmd, sizeof cmd, "%s gen-data --seed 1 2>/dev/null", test_sweep_bin());
    CHECK(system(cmd) != 0, "gen-data without --out fails");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
