/* sweep/main.c: bin/sweep, one CLI with subcommands (see README.md for the tour). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sweep/cli.h"
#include "sweep/commands.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} Command;

static const Command commands[] = {
    {"run", cmd_run, "run a grid.json sweep (resumable; results in OUT/results.db)"},
    {"status", cmd_status, "print every point of a sweep with its status and results"},
    {"query", cmd_query, "run SQL on a sweep's results"},
    {"plot", cmd_plot, "draw a sweep's charts (PNG and SVG) into OUT/plots/"},
    {"report", cmd_report, "write a sweep's OUT/report.html (table, charts, a card per point)"},
    {"compare", cmd_compare, "write one HTML page comparing sweeps (chart and table)"},
    {"bench", cmd_bench, "time the engine on random weights for a given shape (one JSON line)"},
    {"tokenize", cmd_tokenize, "WordPiece-tokenize lines of stdin with a vocab.txt"},
    {"score", cmd_score, "score predictions with the official SQuAD 2.0 or NQ metric (JSON)"},
    {"teacher", cmd_teacher, "train (or reuse) the default teacher on a synthetic/SQuAD dir"},
    {"eval", cmd_eval, "score a checkpoint on a SQuAD file; write predictions and eval.json"},
    {"prune", cmd_prune, "run one pruning point: strategy, physical pruning, fine-tuning"},
    {"export", cmd_export, "write a checkpoint as an ONNX model (+ tokenizer, qaprune.json)"},
    {"gen-data", cmd_gen_data, "write the synthetic QA task (train/dev JSON + vocab.txt)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: sweep COMMAND [options]   (sweep COMMAND --help for its options)\n"
               "       sweep --version\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

/* libgomp's idle threads spin a while by default, and OpenBLAS's own threads spin too: on a
 * machine with as many cores as threads the two steal each other's cores between parallel
 * regions (BERT-base forward at 2 threads: 1,080 ms spinning, 440 ms passive, measured), so
 * with --gemm openblas the threads must wait passively. oneDNN runs in the OpenMP threads
 * themselves, and there the brief spin pays: at 2 threads a 4L/256 training step takes
 * 188 ms with libgomp's default against 375 ms passive, the pruned BERT-base bf16 forward
 * 46 against 105 ms. libgomp reads OMP_WAIT_POLICY only when it loads, before main, so the
 * first start sets it and executes itself again. A user's own setting is left alone. */
static void ensure_passive_openmp(int argc, char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    int openblas = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--gemm=openblas") ||
            (!strcmp(argv[i], "--gemm") && i + 1 < argc && !strcmp(argv[i + 1], "openblas")))
            openblas = 1;
    if (!openblas) return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): carry on with spinning threads, slower but correct */
}

int main(int argc, char **argv) {
    ensure_passive_openmp(argc, argv);
    /* `sweep run ... | head -3`: a closed pipe must not kill a sweep; writes just fail */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("sweep (qaprune) %s\n", QAPRUNE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "sweep: unknown %s '%s' (see sweep --help)\n",
            argv[1][0] == '-' ? "option" : "command", argv[1]);
    return 2;
}
