/* tests/test_synth.c: the synthetic task generator: valid SQuAD 2.0 files, deterministic per
 * seed, a vocabulary with the special tokens under which no word is [UNK], answers exactly at
 * answer_start, the question mix, and the gen-data CLI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util/error.h"
#include "core/qa/squad.h"
#include "core/qa/synth.h"
#include "core/text/text.h"
#include "core/text/wordpiece.h"
#include "tests/test.h"
#include "core/util/fileio.h"

static char dir[] = "/tmp/qaprune_synth_XXXXXX";

static char *slurp(const char *sub, const char *name) {
    char path[512], *buf = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    return file_read(path, 0, &buf, &len) ? NULL : buf;
}

static int same_file(const char *a, const char *b, const char *name) {
    char *x = slurp(a, name), *y = slurp(b, name);
    int same = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

static void check_split(const char *sub, const char *name, int n_want, int want_lookups,
                        const WpVocab *v) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    SquadSet *set = NULL;
    CHECK(squad_load(path, &set) == 0, "%s", qa_last_error());
    if (!set) return;
    CHECK(set->n_questions == n_want, "%s: %d questions, want %d", name, set->n_questions, n_want);
    CHECK(set->n_relocated == 0 && set->n_unlocated == 0, "answers at answer_start");
    int n_unk = 0, n_impossible = 0, longest = 0, n_flag_wrong = 0, n_lookup = 0, n_bad_lookup = 0;
    WpSpecial sp = wp_special(v);
    for (int i = 0; i < set->n_questions; i++) {
        const SquadQuestion *q = &set->questions[i];
        size_t ql = strlen(q->question);
        int mention = ql > 11 && !strcmp(q->question + ql - 11, " mentioned?");
        int sentence = !strncmp(q->question, "What does the text say about ", 29);
        if (mention || sentence) {
            /* the answer is the asked name itself, or a whole sentence that names it */
            n_lookup++;
            const char *name = sentence ? q->question + 29 : q->question + 9;
            size_t nl = sentence ? ql - 30 : ql - 20;
            const char *a = q->n_answers ? q->answers[0].text : "";
            size_t al = strlen(a);
            char who[64];
            snprintf(who, sizeof who, "%.*s", (int)nl, name);
            n_bad_lookup += !q->n_answers ||
                            (mention ? strcmp(a, who) : al < 2 || a[al - 1] != '.' || !strstr(a, who));
        } else {
            n_impossible += q->n_answers == 0; /* the mix counts the task's own questions */
        }
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
    CHECK(n_bad_lookup == 0, "%s: %d lookup answers are not the name or its sentence", name,
          n_bad_lookup);
    if (want_lookups)
        CHECK(n_lookup > set->n_questions / 4, "%s: %d lookup questions of %d", name, n_lookup,
              set->n_questions);
    else
        CHECK(n_lookup == 0, "%s: %d lookup questions (want none)", name, n_lookup);
    double frac = (double)n_impossible / (set->n_questions - n_lookup);
    /* dev: a third to a half (the mix); train paragraphs hold fewer questions of
     * their own beside the lookups, which tilts their mix slightly towards answerable */
    double lo = want_lookups ? 0.3 : 1.0 / 3;
    CHECK(frac >= lo && frac <= 0.5, "%s: %.3f unanswerable", name, frac);
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
    CHECK(synth_generate(a, 7, 1500, 300, 1) == 0, "%s", qa_last_error());
    CHECK(synth_generate(b, 7, 1500, 300, 1) == 0, "%s", qa_last_error());
    CHECK(synth_generate(c, 8, 1500, 300, 1) == 0, "%s", qa_last_error());
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
        check_split("a", "train.json", 1500, 1, v);
        check_split("a", "dev.json", 300, 0, v);
        char d[600];
        snprintf(d, sizeof d, "%s/d", dir);
        CHECK(synth_generate(d, 7, 1500, 300, 0) == 0, "%s", qa_last_error());
        check_split("d", "train.json", 1500, 0, v);
        CHECK(same_file("a", "d", "dev.json"), "lookups change train.json only");
        wp_vocab_free(v);
    }
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "%s gen-data --out %s/cli --seed 7 --train 1500 --dev 300 2>/dev/null",
             test_sweep_bin(), dir);
    CHECK(system(cmd) == 0, "gen-data CLI");
    CHECK(same_file("a", "cli", "dev.json") && same_file("a", "cli", "train.json"),
          "the CLI writes what synth_generate writes");
    snprintf(cmd, sizeof cmd,
             "%s gen-data --out %s/cli0 --seed 7 --train 1500 --dev 300 --lookup 0 2>/dev/null",
             test_sweep_bin(), dir);
    CHECK(system(cmd) == 0 && same_file("d", "cli0", "train.json"), "gen-data --lookup 0");
    snprintf(cmd, sizeof cmd, "%s gen-data --seed 1 2>/dev/null", test_sweep_bin());
    CHECK(system(cmd) != 0, "gen-data without --out fails");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
