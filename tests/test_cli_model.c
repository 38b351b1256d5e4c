/* tests/test_cli_model.c: the pipeline end to end through the real CLI on a tiny synthetic
 * task: gen-data -> teacher (trained, then reused from its cache) -> prune with each
 * strategy -> eval of the saved pruned checkpoint, which must score exactly as prune said;
 * exact sparsity, determinism for a seed, and one-line errors for bad input. Then the
 * PyTorch-made DistilBERT and ELECTRA checkpoints of tests/data as outside teachers: prune,
 * fine-tune, save, and eval of the saved checkpoint scoring as prune said; windows longer
 * than a checkpoint's positions refused in one line. */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/test.h"

static char dir[256];

/* The number after "key": in text (a JSON object, possibly among other output lines), or
 * NAN when the key is missing or not followed by a number: NAN equals nothing, so a check
 * comparing two outputs fails when either lacks the key instead of passing on two defaults. */
static double json_number(const char *text, const char *key) {
    char pat[64], *end;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = text ? strstr(text, pat) : NULL;
    if (!p) return NAN;
    p += strlen(pat);
    double v = strtod(p, &end);
    return end == p ? NAN : v;
}

/* The small PyTorch-made checkpoints (24 and 16 positions) as teachers of the synthetic
 * data (their vocabularies make every word [UNK]; what counts is that every stage runs and
 * the saved model scores as prune said). */
static void test_outside_checkpoints(const char *bin, char *out, size_t n) {
    const char *names[] = {"torch_ckpt", "torch_distilbert_ckpt", "torch_electra_ckpt"};
    const char *limits[] = {"24", "20", "16"};
    for (int i = 0; i < 3; i++) {
        if (access("tests/data/torch_ckpt/config.json", F_OK)) {
            SKIP("tests/data/%s missing", names[i]);
            continue;
        }
        int rc = run(out, n, "%s eval --model tests/data/%s --data %s/data/dev.json --out %s/ev_%s",
                     bin, names[i], dir, dir, names[i]);
        char want[160];
        snprintf(want, sizeof want, "tests/data/%s: max_seq_len 384 is too long", names[i]);
        CHECK(rc == 1 && strstr(out, want) && strstr(out, limits[i]),
              "%s: the default window of 384 refused: %s", names[i], out);
        rc = run(out, n, "mkdir -p %s/t_%s && cp tests/data/%s/* %s/t_%s/ && echo '{\"spec\": "
                 "{\"max_seq_len\": 16, \"doc_stride\": 6, \"max_query_len\": 6}}' > "
                 "%s/t_%s/qaprune.json", dir, names[i], names[i], dir, names[i], dir, names[i]);
        rc = run(out, n, "%s prune --teacher %s/t_%s --data %s/data --strategy gain --heads 0.5 "
                 "--ffn 0.5 --finetune distill --out %s/tp_%s --threads 1 --ft_steps 4 "
                 "--batch_size 8 --gain_batches 2", bin, dir, names[i], dir, dir, names[i]);
        CHECK(rc == 0 && strstr(out, "heads kept"), "%s: prune as a teacher: %s", names[i], out);
        char path[512], *ev;
        snprintf(path, sizeof path, "%s/tp_%s/eval.json", dir, names[i]);
        ev = slurp_file(path);
        rc = run(out, n, "%s eval --model %s/tp_%s --data %s/data/dev.json --out %s/te_%s "
                 "--threads 1", bin, dir, names[i], dir, dir, names[i]);
        CHECK(rc == 0 && ev && json_number(out, "f1") == json_number(ev, "f1"),
              "%s: the pruned, saved checkpoint scores as prune said (%s)", names[i], out);
        free(ev);
    }
}

int main(void) {
    const char *bin = test_sweep_bin();
    static char out[65536];
    snprintf(dir, sizeof dir, "/tmp/qaprune-cli-XXXXXX");
    if (!mkdtemp(dir)) {
        SKIP("cannot make a temporary directory");
        return TEST_DONE();
    }
    CHECK(run(out, sizeof out, "%s gen-data --out %s/data --seed 5 --train 600 --dev 120", bin, dir) == 0,
          "gen-data: %s", out);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/teacher.json", dir);
    FILE *f = fopen(cfg, "w");
    fputs("{\"layers\": 2, \"hidden\": 32, \"heads\": 4, \"ffn\": 64, \"steps\": 60, "
          "\"batch_size\": 16, \"max_seq_len\": 128}\n", f);
    fclose(f);
    int rc = run(out, sizeof out, "%s teacher --data %s/data --out %s/teacher --config %s --threads 1",
                 bin, dir, dir, cfg);
    CHECK(rc == 0 && strstr(out, "teacher: trained"), "teacher trains: %s", out);
    rc = run(out, sizeof out, "%s teacher --data %s/data --out %s/teacher --config %s --threads 1",
             bin, dir, dir, cfg);
    CHECK(rc == 0 && strstr(out, "teacher: reused"), "teacher is reused from its cache: %s", out);

    const char *strategies[] = {"random", "gain", "l0", "dense"};
    for (int i = 0; i < 4; i++) {
        rc = run(out, sizeof out,
                 "%s prune --teacher %s/teacher --data %s/data --strategy %s --heads 0.5 --ffn 0.75 "
                 "--finetune distill --out %s/p_%s --threads 1 --ft_steps 10 --l0_steps 10 "
                 "--batch_size 8 --gain_batches 3",
                 bin, dir, dir, strategies[i], dir, strategies[i]);
        CHECK(rc == 0, "prune %s: %s", strategies[i], out);
        CHECK(strstr(out, "heads kept 4 of 8, FFN neurons kept 32 of 128") != NULL,
              "prune %s meets the targets exactly: %s", strategies[i], out);
        /* the saved checkpoint, reloaded and scored, gives the same metric */
        char path[512], *ev;
        snprintf(path, sizeof path, "%s/p_%s/eval.json", dir, strategies[i]);
        ev = slurp_file(path);
        CHECK(ev != NULL, "%s written", path);
        rc = run(out, sizeof out, "%s eval --model %s/p_%s --data %s/data/dev.json --out %s/e_%s --threads 1",
                 bin, dir, strategies[i], dir, dir, strategies[i]);
        CHECK(rc == 0 && json_number(out, "f1") == json_number(ev, "f1") &&
                  json_number(out, "exact") == json_number(ev, "exact"),
              "%s: reloaded checkpoint scores identically (f1 %g vs %g, exact %g vs %g)",
              strategies[i], json_number(out, "f1"), json_number(ev, "f1"),
              json_number(out, "exact"), json_number(ev, "exact"));
        free(ev);
    }
    /* the other GEMM backend and bf16 score the same checkpoint (the default is onednn,
     * fp32). openblas fp32 may differ from onednn only by fp32 rounding, which can flip a
     * near-tie: at most one question of 120 (0.84 F1). bf16 moves logits by ~0.3% (test_bert),
     * flipping only answers whose best two spans (or the null score) are that close: we allow
     * three questions (2.5 F1). */
    {
        char path[512], *ev;
        snprintf(path, sizeof path, "%s/p_gain/eval.json", dir);
        ev = slurp_file(path);
        double want = ev ? json_number(ev, "f1") : -1;
        rc = run(out, sizeof out, "%s eval --model %s/p_gain --data %s/data/dev.json --out %s/e_ob "
                 "--threads 1 --gemm openblas", bin, dir, dir, dir);
        double f_ob = json_number(out, "f1");
        CHECK(rc == 0 && fabs(f_ob - want) <= 0.84, "eval --gemm openblas: F1 %g vs onednn %g",
              f_ob, want);
        rc = run(out, sizeof out, "%s eval --model %s/p_gain --data %s/data/dev.json --out %s/e_bf "
                 "--threads 1 --precision bf16", bin, dir, dir, dir);
        double f_bf = json_number(out, "f1");
        CHECK(rc == 0 && strstr(out, "precision bf16") && fabs(f_bf - want) <= 2.5,
              "eval --precision bf16: F1 %g vs fp32 %g (margin 2.5): %s", f_bf, want, out);
        printf("F1 of the pruned checkpoint: onednn fp32 %.2f, openblas fp32 %.2f, bf16 %.2f\n",
               want, f_ob, f_bf);
        rc = run(out, sizeof out, "%s eval --model %s/p_gain --data %s/data/dev.json --out %s/e_x "
                 "--gemm mkl", bin, dir, dir, dir);
        CHECK(rc == 2 && strstr(out, "--gemm must be onednn or openblas"), "bad --gemm: %s", out);
        free(ev);
    }
    /* determinism: the same point twice gives the same predictions; run from an empty
     * working directory, which it must leave empty (outputs go only where they are asked) */
    char cwd[512], absbin[4096];
    snprintf(cwd, sizeof cwd, "%s/cwd", dir);
    CHECK(mkdir(cwd, 0755) == 0 && realpath(bin, absbin), "empty working directory %s", cwd);
    rc = run(out, sizeof out,
             "cd %s && %s prune --teacher %s/teacher --data %s/data --strategy gain --heads 0.5 "
             "--ffn 0.75 --finetune distill --out %s/p_gain2 --threads 1 --ft_steps 10 "
             "--batch_size 8 --gain_batches 3",
             cwd, absbin, dir, dir, dir);
    DIR *cd = opendir(cwd);
    int strays = 0;
    for (struct dirent *e; cd && (e = readdir(cd));)
        strays += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (cd) closedir(cd);
    CHECK(cd && strays == 0, "prune wrote nothing into its working directory (%d entries)",
          strays);
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/p_gain/predictions.json", dir);
    snprintf(p2, sizeof p2, "%s/p_gain2/predictions.json", dir);
    char *a = slurp_file(p1), *b = slurp_file(p2);
    CHECK(rc == 0 && a && b && !strcmp(a, b), "same seed, same predictions");
    free(a), free(b);

    /* bad input: one line naming the thing */
    rc = run(out, sizeof out, "%s prune --teacher %s/nope --data %s/data --strategy gain --heads 0.5 "
             "--ffn 0.5 --finetune none --out %s/x --threads 1", bin, dir, dir, dir);
    CHECK(rc == 1 && strstr(out, "/nope"), "missing teacher is named: %s", out);
    rc = run(out, sizeof out, "%s prune --teacher %s/teacher --data %s/data --strategy magic --heads 0.5 "
             "--ffn 0.5 --finetune none --out %s/x", bin, dir, dir, dir);
    CHECK(rc == 2 && strstr(out, "magic"), "bad strategy is named: %s", out);
    rc = run(out, sizeof out, "%s prune --teacher %s/teacher --data %s/data --strategy dense "
             "--heads 0.5 --ffn 0.5 --finetune none --out %s/x", bin, dir, dir, dir);
    CHECK(rc == 2 && strstr(out, "finetune: 'none' with strategy 'dense'"),
          "dense without fine-tuning is refused, naming finetune: %s", out);
    rc = run(out, sizeof out, "%s prune --teacher %s/teacher --data %s/data --heads 1.5 --out %s/x", bin, dir, dir, dir);
    CHECK(rc == 2 && strstr(out, "head_sparsity"), "out-of-range sparsity is named: %s", out);
    f = fopen(cfg, "w");
    fputs("{\"layers\": 2, \"hiden\": 32}\n", f);
    fclose(f);
    rc = run(out, sizeof out, "%s teacher --data %s/data --out %s/t2 --config %s", bin, dir, dir, cfg);
    CHECK(rc == 2 && strstr(out, "hiden") && strstr(out, "unknown key"), "unknown config key: %s", out);

    test_outside_checkpoints(bin, out, sizeof out);

    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
