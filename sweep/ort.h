/* sweep/ort.h: latency in ONNX Runtime, the deployment runtime, with the engine's protocol
 * (core/model/latency.h): the same timed inputs (latency_inputs), threads, warm-up and
 * repeats, the models interleaved within every round, medians; speedup = teacher median /
 * pruned median.
 *
 * ONNX Runtime is the CPU build inside npm's onnxruntime-node, reached through node and
 * sweep/ort_latency.js (compiled into bin/sweep, run with `node -e`). Where it is installed:
 * `--ort DIR`, else $QAPRUNE_ORT_DIR, else the current directory, i.e. DIR/node_modules/
 * onnxruntime-node as `npm install --ignore-scripts onnxruntime-node` run in DIR leaves it
 * (--ignore-scripts: the package's install script only fetches GPU extras). */
#ifndef QAPRUNE_ORT_H
#define QAPRUNE_ORT_H

#include <stddef.h>

#include "core/model/bert.h"
#include "core/model/latency.h"

#define ORT_DIR_ENV "QAPRUNE_ORT_DIR"
#define ORT_VERSION_MAX 32

/* The install directory: given when not NULL, else $QAPRUNE_ORT_DIR when set and not empty,
 * else "." (borrowed strings). */
const char *ort_dir_choose(const char *given);

/* QA_OK when node is on PATH and dir holds node_modules/onnxruntime-node; else QA_ERR with
 * one line saying what is missing and the command that installs it. */
int ort_check(const char *dir);

/* Times the exported teacher and pruned models (ONNX files) in ONNX Runtime under dir with
 * threads intra-op threads, on the timed inputs of a model like cfg (its vocabulary, and
 * token types all 0 when it has one type, as latency_measure does): o->batch x o->seq
 * tokens, o->warmup untimed rounds, o->repeats timed ones, teacher and pruned alternating.
 * work_dir (existing) holds the inputs file while it runs. Fills *r as latency_measure does
 * and version (cap bytes, may be NULL) with ONNX Runtime's version. QA_ERR with one line
 * (ONNX Runtime's own message when it failed). */
int ort_measure(const char *dir, const char *teacher_onnx, const char *pruned_onnx,
                const BertConfig *cfg, const LatencyOpts *o, int threads,
                const char *work_dir, LatencyResult *r, char *version, size_t cap);

/* Writes m as an ONNX graph at path for ort_measure (default export options: opset 17,
 * dynamic batch and sequence). QA_ERR naming the path. */
int ort_export(const BertModel *m, const char *path);

#endif
