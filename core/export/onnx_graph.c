/* core/export/onnx_graph.c: the ONNX graph builder over protobuf-c's generated onnx.proto
 * types (build/gen/onnx.pb-c.h). Every allocation goes through one owner list, freed at
 * once; see onnx_graph.h for the contract. */
#include "core/export/onnx_graph.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "core/util/fileio.h"
#include "onnx.pb-c.h"

/* Protobuf refuses to parse a message of 2 GiB or more; leave room for the graph itself. */
#define EXTERNAL_DEFAULT_ABOVE ((size_t)2000 * 1000 * 1000)
#define EXTERNAL_MIN_BYTES 1024 /* smaller initializers stay inline even when external */
#define EXTERNAL_ALIGN 4096     /* offsets page-aligned so that a runtime may mmap them */

/* A growable array of pointers (the repeated fields' storage). */
typedef struct {
    void **v;
    size_t n, cap;
} PtrVec;

struct OnnxNode {
    OnnxGraph *g;
    Onnx__NodeProto proto;
    PtrVec attrs;
};

struct OnnxGraph {
    int failed;
    char *name;
    PtrVec owned; /* every malloc of the graph, freed by onnx_graph_free */
    PtrVec nodes, inits, inputs, outputs;
};

/* ---------------------------------------------------------------- memory */

static int vec_push(PtrVec *v, void *p) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 16;
        void **nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) return QA_ERR;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = p;
    return QA_OK;
}

/* A zeroed block owned by g, or NULL (and g failed) when memory runs out. */
static void *g_alloc(OnnxGraph *g, size_t n) {
    if (g->failed) return NULL;
    void *p = calloc(1, n ? n : 1);
    if (!p || vec_push(&g->owned, p)) {
        free(p);
        g->failed = 1;
        return NULL;
    }
    return p;
}

static char *g_strdup(OnnxGraph *g, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = g_alloc(g, n);
    if (d) memcpy(d, s, n);
    return d;
}

static void g_push(OnnxGraph *g, PtrVec *v, void *p) {
    if (!g->failed && p && vec_push(v, p)) g->failed = 1;
}

int onnx_graph_create(const char *name, OnnxGraph **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return qa_error("onnx: out of memory");
    (*out)->name = g_strdup(*out, name);
    if ((*out)->failed) {
        onnx_graph_free(*out);
        *out = NULL;
        return qa_error("onnx: out of memory");
    }
    return QA_OK;
}

void onnx_graph_free(OnnxGraph *g) {
    if (!g) return;
    for (size_t i = 0; i < g->nodes.n; i++) free(((OnnxNode *)g->nodes.v[i])->attrs.v);
    for (size_t i = 0; i < g->owned.n; i++) free(g->owned.v[i]);
    free(g->owned.v);
    free(g->nodes.v);
    free(g->inits.v);
    free(g->inputs.v);
    free(g->outputs.v);
    free(g);
}

int onnx_graph_failed(const OnnxGraph *g) { return g->failed; }

/* ---------------------------------------------------------------- inputs and outputs */

static Onnx__ValueInfoProto *value_info(OnnxGraph *g, const char *name, int elem, int ndim,
                                        const int64_t *dims, const char *const *dim_names) {
    Onnx__ValueInfoProto *vi = g_alloc(g, sizeof *vi);
    Onnx__TypeProto *tp = g_alloc(g, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = g_alloc(g, sizeof *tt);
    Onnx__TensorShapeProto *sh = g_alloc(g, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dv = g_alloc(g, (size_t)ndim * sizeof *dv);
    if (g->failed) return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = g_alloc(g, sizeof *d);
        if (!d) return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] >= 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = g_strdup(g, dim_names[i]);
        }
        dv[i] = d;
    }
    sh->n_dim = (size_t)ndim;
    sh->dim = dv;
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = g_strdup(g, name);
    vi->type = tp;
    return g->failed ? NULL : vi;
}

void onnx_graph_input(OnnxGraph *g, const char *name, int elem, int ndim, const int64_t *dims,
                      const char *const *dim_names) {
    g_push(g, &g->inputs, value_info(g, name, elem, ndim, dims, dim_names));
}

void onnx_graph_output(OnnxGraph *g, const char *name, int elem, int ndim, const int64_t *dims,
                       const char *const *dim_names) {
    g_push(g, &g->outputs, value_info(g, name, elem, ndim, dims, dim_names));
}

/* ---------------------------------------------------------------- initializers */

/* A TensorProto named name of type elem and shape dims, with nbytes of raw little-endian
 * data owned by the graph; returns the data, or NULL after a failure. */
static void *init_tensor(OnnxGraph *g, const char *name, int elem, int ndim,
                         const int64_t *dims, size_t nbytes) {
    Onnx__TensorProto *t = g_alloc(g, sizeof *t);
    int64_t *d = g_alloc(g, (size_t)ndim * sizeof *d);
    uint8_t *data = g_alloc(g, nbytes);
    if (g->failed) return NULL;
    onnx__tensor_proto__init(t);
    if (ndim) memcpy(d, dims, (size_t)ndim * sizeof *d);
    t->n_dims = (size_t)ndim;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = elem;
    t->name = g_strdup(g, name);
    t->has_raw_data = 1;
    t->raw_data.len = nbytes;
    t->raw_data.data = data;
    g_push(g, &g->inits, t);
    return g->failed ? NULL : data;
}

float *onnx_graph_init_f32(OnnxGraph *g, const char *name, int ndim, const int64_t *dims) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
    return init_tensor(g, name, ONNX_FLOAT, ndim, dims, n * sizeof(float));
}

void onnx_graph_init_i64(OnnxGraph *g, const char *name, int n, const int64_t *values) {
    int64_t dim = n;
    int64_t *p = init_tensor(g, name, ONNX_INT64, 1, &dim, (size_t)n * sizeof(int64_t));
    if (p) memcpy(p, values, (size_t)n * sizeof(int64_t));
}

void onnx_graph_init_scalar(OnnxGraph *g, const char *name, float value) {
    float *p = onnx_graph_init_f32(g, name, 0, NULL);
    if (p) *p = value;
}

/* ---------------------------------------------------------------- nodes */

static char **str_array(OnnxGraph *g, int n, const char *const *s) {
    char **a = g_alloc(g, (size_t)n * sizeof *a);
    for (int i = 0; a && i < n; i++) a[i] = g_strdup(g, s[i]);
    return g->failed ? NULL : a;
}

OnnxNode *onnx_graph_node(OnnxGraph *g, const char *op_type, const char *name, int n_in,
                          const char *const *inputs, int n_out, const char *const *outputs) {
    OnnxNode *n = g_alloc(g, sizeof *n);
    if (!n) return NULL;
    n->g = g;
    onnx__node_proto__init(&n->proto);
    n->proto.op_type = g_strdup(g, op_type);
    n->proto.name = g_strdup(g, name);
    n->proto.n_input = (size_t)n_in;
    n->proto.input = str_array(g, n_in, inputs);
    n->proto.n_output = (size_t)n_out;
    n->proto.output = str_array(g, n_out, outputs);
    g_push(g, &g->nodes, n);
    return g->failed ? NULL : n;
}

static Onnx__AttributeProto *attr(OnnxNode *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type) {
    if (!n) return NULL;
    Onnx__AttributeProto *a = g_alloc(n->g, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = g_strdup(n->g, name);
    a->has_type = 1;
    a->type = type;
    if (!n->g->failed && vec_push(&n->attrs, a)) n->g->failed = 1;
    return n->g->failed ? NULL : a;
}

void onnx_node_attr_int(OnnxNode *n, const char *name, int64_t value) {
    Onnx__AttributeProto *a = attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!a) return;
    a->has_i = 1;
    a->i = value;
}

void onnx_node_attr_float(OnnxNode *n, const char *name, float value) {
    Onnx__AttributeProto *a = attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (!a) return;
    a->has_f = 1;
    a->f = value;
}

void onnx_node_attr_ints(OnnxNode *n, const char *name, int count, const int64_t *values) {
    Onnx__AttributeProto *a = attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *v = a ? g_alloc(n->g, (size_t)count * sizeof *v) : NULL;
    if (!v) return;
    memcpy(v, values, (size_t)count * sizeof *v);
    a->n_ints = (size_t)count;
    a->ints = v;
}

/* ---------------------------------------------------------------- writing */

/* protobuf-c's output sink: packed bytes streamed into an atomic writer. */
typedef struct {
    ProtobufCBuffer base;
    FileAtomic *w;
    int failed;
} FileSink;

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data) {
    FileSink *s = (FileSink *)b;
    if (!s->failed && file_atomic_write(s->w, data, len)) s->failed = 1;
}

/* Moves every initializer of at least EXTERNAL_MIN_BYTES into data_path (named by its base
 * name, relative to the model file, as the external-data format requires): its raw bytes go
 * to the file at a page-aligned offset, its TensorProto keeps location/offset/length. */
static int write_external(OnnxGraph *g, const char *data_path) {
    const char *base = strrchr(data_path, '/');
    base = base ? base + 1 : data_path;
    FileAtomic *w;
    if (file_atomic_open(data_path, &w)) return QA_ERR;
    static const uint8_t zeros[EXTERNAL_ALIGN];
    size_t off = 0;
    for (size_t i = 0; i < g->inits.n; i++) {
        Onnx__TensorProto *t = g->inits.v[i];
        if (t->raw_data.len < EXTERNAL_MIN_BYTES) continue;
        size_t pad = (EXTERNAL_ALIGN - off % EXTERNAL_ALIGN) % EXTERNAL_ALIGN;
        if ((pad && file_atomic_write(w, zeros, pad)) ||
            file_atomic_write(w, t->raw_data.data, t->raw_data.len)) {
            file_atomic_abort(w);
            return QA_ERR;
        }
        off += pad;
        char num[2][32];
        snprintf(num[0], sizeof num[0], "%zu", off);
        snprintf(num[1], sizeof num[1], "%zu", t->raw_data.len);
        const char *keys[3] = {"location", "offset", "length"}, *vals[3] = {base, num[0], num[1]};
        Onnx__StringStringEntryProto **e = g_alloc(g, 3 * sizeof *e);
        for (int k = 0; e && k < 3; k++) {
            e[k] = g_alloc(g, sizeof *e[k]);
            if (!e[k]) break;
            onnx__string_string_entry_proto__init(e[k]);
            e[k]->key = g_strdup(g, keys[k]);
            e[k]->value = g_strdup(g, vals[k]);
        }
        if (g->failed) {
            file_atomic_abort(w);
            return qa_error("%s: out of memory", data_path);
        }
        off += t->raw_data.len;
        t->n_external_data = 3;
        t->external_data = e;
        t->has_data_location = 1;
        t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        t->has_raw_data = 0;
    }
    return file_atomic_commit(w);
}

int onnx_graph_write(OnnxGraph *g, const char *path, const OnnxWriteOpts *o,
                     int *used_external) {
    if (used_external) *used_external = 0;
    if (g->failed) return qa_error("%s: out of memory building the graph", path);
    Onnx__GraphProto gp;
    Onnx__ModelProto mp;
    Onnx__OperatorSetIdProto ops;
    Onnx__OperatorSetIdProto *opsv[1] = {&ops};
    onnx__graph_proto__init(&gp);
    onnx__model_proto__init(&mp);
    onnx__operator_set_id_proto__init(&ops);
    Onnx__NodeProto **nodes = g_alloc(g, g->nodes.n * sizeof *nodes);
    if (!nodes) return qa_error("%s: out of memory", path);
    for (size_t i = 0; i < g->nodes.n; i++) {
        OnnxNode *n = g->nodes.v[i];
        n->proto.n_attribute = n->attrs.n;
        n->proto.attribute = (Onnx__AttributeProto **)n->attrs.v;
        nodes[i] = &n->proto;
    }
    gp.name = g->name;
    gp.n_node = g->nodes.n;
    gp.node = nodes;
    gp.n_initializer = g->inits.n;
    gp.initializer = (Onnx__TensorProto **)g->inits.v;
    gp.n_input = g->inputs.n;
    gp.input = (Onnx__ValueInfoProto **)g->inputs.v;
    gp.n_output = g->outputs.n;
    gp.output = (Onnx__ValueInfoProto **)g->outputs.v;
    ops.domain = "";
    ops.has_version = 1;
    ops.version = o->opset;
    mp.has_ir_version = 1;
    mp.ir_version = o->ir_version;
    mp.n_opset_import = 1;
    mp.opset_import = opsv;
    mp.producer_name = (char *)(o->producer ? o->producer : "");
    mp.producer_version = (char *)(o->producer_version ? o->producer_version : "");
    mp.doc_string = (char *)(o->doc ? o->doc : "");
    mp.graph = &gp;

    size_t above = o->external_above ? o->external_above : EXTERNAL_DEFAULT_ABOVE;
    if (o->force_external || onnx__model_proto__get_packed_size(&mp) > above) {
        char data_path[PATH_MAX];
        if (snprintf(data_path, sizeof data_path, "%s.data", path) >= (int)sizeof data_path)
            return qa_error("%s: path too long", path);
        if (write_external(g, data_path)) return QA_ERR;
        if (used_external) *used_external = 1;
        if (onnx__model_proto__get_packed_size(&mp) >= (size_t)INT_MAX)
            return qa_error("%s: the graph alone packs to 2 GiB or more", path);
    }
    FileSink sink = {.base = {.append = sink_append}};
    if (file_atomic_open(path, &sink.w)) return QA_ERR;
    onnx__model_proto__pack_to_buffer(&mp, &sink.base);
    if (sink.failed) {
        file_atomic_abort(sink.w);
        return QA_ERR;
    }
    return file_atomic_commit(sink.w);
}
