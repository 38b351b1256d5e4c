/* sweep/cmd_export.c: `sweep export`, a checkpoint as an ONNX model directory
 * (core/export/artifact.h: OUT.onnx, tokenizer files, config.json, qaprune.json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/export/artifact.h"
#include "core/util/error.h"
#include "sweep/cli.h"
#include "sweep/commands.h"

/* --dynamic-axes: "batch,sequence", "sequence,batch", "batch", "sequence" or "none". */
static int parse_axes(const char *v, OnnxExportOpts *o) {
    int b = strstr(v, "batch") != NULL, s = strstr(v, "sequence") != NULL;
    int ok = !strcmp(v, "none") || !strcmp(v, "batch") || !strcmp(v, "sequence") ||
             !strcmp(v, "batch,sequence") || !strcmp(v, "sequence,batch");
    if (!ok) {
        fprintf(stderr, "sweep export: --dynamic-axes: expected batch,sequence, batch, "
                        "sequence or none, got '%s' (see sweep export --help)\n", v);
        return 2;
    }
    o->dynamic_batch = b;
    o->dynamic_seq = s;
    return 0;
}

static void print_settings(const char *model, const char *onnx, const OnnxExportOpts *o) {
    fprintf(stderr, "export settings:\n  %-14s %s\n  %-14s %s\n  %-14s %d (IR version %d)\n",
            "model", model, "onnx", onnx, "opset", o->opset, ONNX_IR_VERSION);
    fprintf(stderr, "  %-14s %s\n  %-14s %s\n  %-14s %s\n", "batch axis",
            o->dynamic_batch ? "dynamic" : "fixed", "sequence axis",
            o->dynamic_seq ? "dynamic" : "fixed", "external data",
            o->force_external ? "yes" : "past ~2 GB");
    if (!o->dynamic_batch) fprintf(stderr, "  %-14s %d\n", "batch", o->batch);
    if (!o->dynamic_seq) fprintf(stderr, "  %-14s %d\n", "seq", o->seq);
}

int cmd_export(int argc, char **argv) {
    const char *model = NULL, *onnx = NULL, *axes = "batch,sequence";
    OnnxExportOpts o;
    ExportMeta meta;
    onnx_export_opts_default(&o);
    export_meta_init(&meta);
    const CliOpt opts[] = {
        {"model", CLI_STRING, &model, 0, 0, "DIR", "the checkpoint to export", CLI_REQUIRED},
        {"onnx", CLI_STRING, &onnx, 0, 0, "OUT.onnx", "the model file (the rest goes beside it)", CLI_REQUIRED},
        {"opset", CLI_INT, &o.opset, ONNX_OPSET_MIN, ONNX_OPSET_MAX, "N",
         "ONNX operator set", CLI_OPTIONAL},
        {"dynamic-axes", CLI_STRING, &axes, 0, 0, "AXES", "batch,sequence|batch|sequence|none", CLI_OPTIONAL},
        {"batch", CLI_INT, &o.batch, 1, 1 << 20, "N", "batch size when not dynamic",
         CLI_OPTIONAL},
        {"seq", CLI_INT, &o.seq, 1, 1 << 20, "N", "sequence length when not dynamic",
         CLI_OPTIONAL},
        {"external-data", CLI_FLAG, &o.force_external, 0, 0, NULL,
         "weights in OUT.onnx.data (automatic past ~2 GB)", CLI_OPTIONAL},
        {"strategy", CLI_STRING, &meta.strategy, 0, 0, "NAME", "for qaprune.json (else DIR's)", CLI_OPTIONAL},
        {"f1", CLI_DOUBLE, &meta.f1, 0, 0, "X", "for qaprune.json (nan: DIR/eval.json's)", CLI_OPTIONAL},
        {"speedup", CLI_DOUBLE, &meta.speedup, 0, 0, "X", "for qaprune.json (nan: unknown)", CLI_OPTIONAL},
    };
    const CliSpec cli = {
        .cmd = "export",
        .about = "Writes the checkpoint in DIR (any family, pruned or not) as an ONNX graph "
                 "(IR version 8):\ninputs input_ids, attention_mask (and token_type_ids for "
                 "BERT, ELECTRA), int64 [batch, sequence];\noutputs start_logits, end_logits. Beside "
                 "OUT.onnx: config.json, the tokenizer files and\nqaprune.json.\n",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]),
    };
    int prc = cli_parse(&cli, argc, argv, NULL);
    if (prc != CLI_CONTINUE) return prc;
    if (parse_axes(axes, &o)) return 2;
    print_settings(model, onnx, &o);
    OnnxExportInfo info;
    if (export_artifact(model, onnx, &o, &meta, &info)) {
        fprintf(stderr, "sweep export: %s\n", qa_last_error());
        return 1;
    }
    printf("export: %s graph, %d nodes, %d initializers, %.1f MB of weights%s\n", info.family,
           info.nodes, info.initializers, info.weight_bytes / 1e6,
           info.external ? " (in OUT.onnx.data)" : "");
    printf("outputs: %s%s, with qaprune.json, config.json and the tokenizer files beside it\n",
           onnx, info.external ? " and its .data" : "");
    return 0;
}
