/* cnas/op.h — the op component contract (the DARTS factory).
 *
 * An op component is a factory: given (C_in, C_out, stride, affine) and its own
 * validated parameters it creates an instance that owns its tensors, runs its
 * forward pass on a step graph, and reports its parameter count and FLOPs for an
 * input shape. Search spaces build supernets out of op instances by name, so a
 * new op dropped in as a plugin is immediately usable by every space.
 *
 * Tensors an instance owns are listed with a role: PARAM tensors are trained
 * (they receive gradients, optimizers update them); BUFFER tensors are state
 * (batch-norm running statistics) saved in checkpoints but not trained. */
#ifndef CNAS_OP_H
#define CNAS_OP_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/graph.h>
#include <cnas/params.h>
#include <cnas/plugin.h> /* CNAS_VT_HAS, for every header that declares a vtable */
#include <cnas/rng.h>
#include <cnas/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnas_op_args {
    uint32_t size;          /* sizeof(cnas_op_args) as the caller built it */
    int32_t c_in, c_out;
    int32_t stride;
    bool affine;            /* batch norms with learnable scale / shift */
    bool track_running_stats; /* batch norms keep running statistics */
    cnas_rng *init_rng;     /* parameter initialisation stream (borrowed) */
} cnas_op_args;

typedef struct cnas_op_forward_ctx {
    uint32_t size;
    bool training;          /* batch statistics, dropout on */
    cnas_rng *rng;          /* noise stream for stochastic ops (borrowed), may be NULL */
} cnas_op_forward_ctx;

typedef enum cnas_tensor_role {
    CNAS_ROLE_PARAM = 1,
    CNAS_ROLE_BUFFER = 2,
} cnas_tensor_role;

typedef struct cnas_named_tensor {
    const char *name;       /* stable within the instance, e.g. "op.1.weight" */
    cnas_tensor *tensor;    /* owned by the instance */
    cnas_tensor_role role;
} cnas_named_tensor;

typedef struct cnas_op_vtable {
    uint32_t size;  /* sizeof(cnas_op_vtable) as the plugin was built */
    cnas_status (*create)(const cnas_op_args *args, const cnas_params *p, void **self,
                          cnas_error *err);
    void (*destroy)(void *self);
    /* y = op(x) on the graph; NULL with the graph error set on failure. */
    cnas_tensor *(*forward)(void *self, cnas_graph *g, cnas_tensor *x,
                            const cnas_op_forward_ctx *ctx);
    /* Up to max tensors into out; returns how many the instance owns in total. */
    int (*tensors)(void *self, cnas_named_tensor *out, int max);
    /* Multiply-accumulates of one forward for an [N, C, H, W] input; fills the output shape. */
    int64_t (*flops)(void *self, const int64_t in_shape[4], int64_t out_shape[4]);
} cnas_op_vtable;

/* How a space obtains op instances by name without knowing where they come from:
 * the host backs this with its plugin registry, tests with a static table. */
typedef struct cnas_op_factory {
    uint32_t size;
    void *ctx;
    /* Create op `name` ("sep_conv_3x3" or "plugin/sep_conv_3x3"); its keys take their
     * defaults except the n_kv overrides keys[i] = values[i] (validated against the
     * op's schema, so a space can ask for e.g. bn_after = true). */
    cnas_status (*create)(void *ctx, const char *name, const cnas_op_args *args,
                          const char *const *keys, const char *const *values, int n_kv,
                          const cnas_op_vtable **vt, void **self, cnas_error *err);
} cnas_op_factory;

struct cnas_component;
/* Create an instance of op component `c` with its keys' defaults overridden by the
 * n_kv pairs (validated against its schema). The building block of every factory. */
cnas_status cnas_op_component_create(const struct cnas_component *c, const cnas_op_args *args,
                                     const char *const *keys, const char *const *values, int n_kv,
                                     const cnas_op_vtable **vt, void **self, cnas_error *err);

/* A space's training step through one op instance keeping only the op's output on the
 * tape: the op runs as a recomputed segment (cnas_recompute, graph.h), so its
 * intermediates are recomputed in the backward pass. The gradients are bit for bit those
 * of vt->forward. The op must be deterministic (no draws from ctx->rng; apply drop-path
 * and the like outside). Without a tape it is vt->forward. */
cnas_tensor *cnas_op_forward_kept(const cnas_op_vtable *vt, void *self, cnas_graph *g,
                                  cnas_tensor *x, const cnas_op_forward_ctx *ctx);

/* A factory over a plain array of components (one plugin's, or a test's table):
 * names are looked up among the op components of the array. */
typedef struct cnas_component_list {
    const struct cnas_component *items;
    int n;
} cnas_component_list;
cnas_op_factory cnas_op_factory_from_list(const cnas_component_list *list);

#ifdef __cplusplus
}
#endif
#endif
