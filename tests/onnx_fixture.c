/* tests/onnx_fixture.c: writes a random-weight checkpoint of a given (possibly ragged) shape,
 * for `make bench`'s ONNX Runtime timings (tests/bench_onnx.sh). Not a test.
 *   onnx_fixture DIR [--layers 12] [--hidden 768] [--heads 12] [--ffn 3072] [--vocab 30522]
 *                    [--positions 512] [--heads-per-layer N,N,...] [--ffn-per-layer N,N,...]
 * A per-layer list with one value applies it to every layer. Weights N(0, 0.02) as BERT's
 * initialisation; kept heads are each layer's first ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/bert.h"
#include "core/model/checkpoint.h"
#include "core/util/error.h"
#include "core/util/fileio.h"

/* "a,b,c" (or one value for every layer) into out[L]; 0 or 1 on a malformed list. */
static int parse_list(const char *s, int L, int *out) {
    int n = 0;
    for (const char *p = s; *p && n < BERT_MAX_LAYERS; n++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0) return 1;
        out[n] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return 1;
    }
    if (n == 1)
        for (int l = 1; l < L; l++) out[l] = out[0];
    return n == 1 || n == L ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: onnx_fixture DIR [--layers L] [--hidden C] [--heads NH] [--ffn F]"
                        " [--vocab V] [--positions P] [--heads-per-layer LIST] [--ffn-per-layer LIST]\n");
        return 2;
    }
    const char *dir = argv[1], *hl = NULL, *fl = NULL;
    int L = 12, C = 768, NH = 12, F = 3072, V = 30522, P = 512;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--layers")) L = atoi(v);
        else if (!strcmp(a, "--hidden")) C = atoi(v);
        else if (!strcmp(a, "--heads")) NH = atoi(v);
        else if (!strcmp(a, "--ffn")) F = atoi(v);
        else if (!strcmp(a, "--vocab")) V = atoi(v);
        else if (!strcmp(a, "--positions")) P = atoi(v);
        else if (!strcmp(a, "--heads-per-layer")) hl = v;
        else if (!strcmp(a, "--ffn-per-layer")) fl = v;
        else {
            fprintf(stderr, "onnx_fixture: unknown option '%s'\n", a);
            return 2;
        }
    }
    BertConfig c;
    bert_config_init(&c, V, P, L, C, NH, F);
    if ((hl && parse_list(hl, L, c.heads)) || (fl && parse_list(fl, L, c.ffn))) {
        fprintf(stderr, "onnx_fixture: a per-layer list needs 1 or %d non-negative integers\n", L);
        return 2;
    }
    char vocab[4096];
    FILE *f = NULL;
    BertModel *m = NULL;
    int rc = file_mkdirs(dir) || path_join(vocab, sizeof vocab, dir, "vocab.txt") ||
             bert_create(&c, &m);
    if (!rc && (f = fopen(vocab, "w"))) {
        for (int i = 0; i < V; i++) fprintf(f, "[unused%d]\n", i);
        rc = fclose(f) != 0;
    } else if (!rc) {
        rc = qa_error("%s: cannot write", vocab);
    }
    if (!rc) {
        bert_init_random(m, 1, 0.02f);
        rc = checkpoint_save(m, dir, vocab);
    }
    bert_free(m);
    if (rc) fprintf(stderr, "onnx_fixture: %s\n", qa_last_error());
    return rc ? 1 : 0;
}
