/* core/export/onnx_graph.h: a small builder for ONNX graphs, written with protobuf-c from
 * ONNX's own onnx.proto (the C is generated at build time; see the Makefile).
 *
 * The builder owns everything it is given or hands out (names are copied, initializer
 * buffers are allocated by it), so a caller builds a whole graph with plain calls and frees
 * it with one onnx_graph_free(). Like a FILE's error flag, an allocation failure is sticky:
 * later calls do nothing, and onnx_graph_write() reports it. The protobuf-c types never
 * leave onnx_graph.c.
 *
 * Tensors are named by strings, as in ONNX: a node's inputs are names of graph inputs,
 * initializers or earlier nodes' outputs. */
#ifndef QAPRUNE_ONNX_GRAPH_H
#define QAPRUNE_ONNX_GRAPH_H

#include <stddef.h>
#include <stdint.h>

/* TensorProto.DataType values used here. */
enum { ONNX_FLOAT = 1, ONNX_INT64 = 7 };

typedef struct OnnxGraph OnnxGraph;
typedef struct OnnxNode OnnxNode;

/* Returns a new empty graph named name in *out (free with onnx_graph_free), or QA_ERR. */
int onnx_graph_create(const char *name, OnnxGraph **out);
void onnx_graph_free(OnnxGraph *g); /* accepts NULL */
/* 1 once an allocation has failed (every later call was a no-op), else 0. */
int onnx_graph_failed(const OnnxGraph *g);

/* A graph input or output of element type elem (ONNX_FLOAT, ONNX_INT64) and ndim dims:
 * dims[i] >= 0 is a fixed size, dims[i] < 0 a symbolic one named dim_names[i]. */
void onnx_graph_input(OnnxGraph *g, const char *name, int elem, int ndim, const int64_t *dims,
                      const char *const *dim_names);
void onnx_graph_output(OnnxGraph *g, const char *name, int elem, int ndim, const int64_t *dims,
                       const char *const *dim_names);

/* A float initializer of shape dims[ndim] (ndim 0: a scalar). Returns its zeroed buffer of
 * prod(dims) floats, owned by the graph, for the caller to fill; NULL after a failure. */
float *onnx_graph_init_f32(OnnxGraph *g, const char *name, int ndim, const int64_t *dims);
/* A 1-D int64 initializer holding values[0..n). */
void onnx_graph_init_i64(OnnxGraph *g, const char *name, int n, const int64_t *values);
/* A float scalar initializer (0-D). */
void onnx_graph_init_scalar(OnnxGraph *g, const char *name, float value);

/* Appends a node of the default ONNX domain: op_type, node name, inputs, outputs. Returns a
 * handle for its attributes (valid until onnx_graph_free), or NULL after a failure; the
 * attribute setters accept NULL. */
OnnxNode *onnx_graph_node(OnnxGraph *g, const char *op_type, const char *name, int n_in,
                          const char *const *inputs, int n_out, const char *const *outputs);
void onnx_node_attr_int(OnnxNode *n, const char *name, int64_t value);
void onnx_node_attr_float(OnnxNode *n, const char *name, float value);
void onnx_node_attr_ints(OnnxNode *n, const char *name, int count, const int64_t *values);

/* How onnx_graph_write lays out the file. */
typedef struct {
    int ir_version;           /* ModelProto.ir_version (8 for ONNX 1.12's checker) */
    int opset;                /* version of the default domain's operator set */
    const char *producer, *producer_version, *doc;
    /* Initializers go to external data (PATH.data beside PATH, as ONNX's external-data
     * format: location, offset, length) when the model would pack to more than this many
     * bytes; protobuf cannot read messages of 2 GiB or more. 0 means that default. */
    size_t external_above;
    int force_external; /* 1: external data whatever the size */
} OnnxWriteOpts;

/* Writes the model (graph plus opts) to path atomically, and PATH.data before it when the
 * weights go external; on failure neither path is left half written. *used_external gets 1
 * when the weights went to PATH.data (may be NULL). Returns QA_OK or QA_ERR naming the
 * path. */
int onnx_graph_write(OnnxGraph *g, const char *path, const OnnxWriteOpts *opts,
                     int *used_external);

#endif
