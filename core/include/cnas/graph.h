/* cnas/graph.h — the step graph: an activation arena plus a define-by-run tape.
 *
 * Every differentiable op takes the graph as its first argument, allocates its
 * output from the graph's arena and, when some input requires a gradient and
 * recording is on, appends a node (its inputs, its output, a backward function and
 * whatever it saved) to the tape. cnas_backward() walks the tape in reverse and
 * accumulates gradients into every tensor flagged CNAS_T_REQUIRES_GRAD; inputs
 * that do not ask for a gradient cost nothing, so an architecture step with frozen
 * weights skips every weight-gradient GEMM. cnas_graph_reset() drops the tape and
 * rewinds the arena; after the first step the arena is one block large enough for
 * the step, so identical steps allocate nothing.
 *
 * Errors propagate like NaN: an op that fails records the first error in the graph
 * and returns NULL; an op given a NULL input returns NULL at once. Build a whole
 * forward pass, then check once:
 *
 *     cnas_graph *g = cnas_graph_new(&err);
 *     cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(8, 3, 32, 32));   // fill x->data
 *     cnas_tensor *h = cnas_relu(g, cnas_conv2d(g, x, w, NULL, &conv));
 *     cnas_tensor *loss = cnas_cross_entropy(g, cnas_linear(g, cnas_flatten(g, h), fc_w, fc_b),
 *                                            labels, 0.0f);
 *     if (!loss || cnas_backward(g, loss) != CNAS_OK)
 *         fprintf(stderr, "%s\n", cnas_graph_error(g)->msg);
 *     ...  // optimizer step on w->grad, fc_w->grad
 *     cnas_graph_reset(g);
 */
#ifndef CNAS_GRAPH_H
#define CNAS_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include <cnas/status.h>
#include <cnas/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnas_graph cnas_graph;
typedef struct cnas_node cnas_node;

/* Backward of one node: read n->out->grad, add into cnas_graph_grad(g, n->in[i]) for
 * each input that requires a gradient. Report failures with cnas_graph_fail(). */
typedef void (*cnas_backward_fn)(cnas_graph *g, cnas_node *n);

struct cnas_node {
    const char *op;           /* static op name, for messages */
    cnas_backward_fn backward;
    cnas_tensor *out;
    cnas_tensor **in;         /* n_in inputs (arena copy) */
    int n_in;
    void *ctx;                /* op-specific saved state, arena-allocated, zeroed */
};

cnas_graph *cnas_graph_new(cnas_error *err);
void cnas_graph_free(cnas_graph *g);

/* Drop the tape and every step tensor, clear the error; keep the arena memory. */
void cnas_graph_reset(cnas_graph *g);

/* Recording is on by default; turn it off for evaluation (no tape, no saved state). */
void cnas_graph_set_grad_enabled(cnas_graph *g, bool on);
bool cnas_graph_grad_enabled(const cnas_graph *g);

/* Off by default. When on, cnas_backward() hands each node's output gradient back to
 * the graph as soon as that node's backward has run, and later gradients of the same
 * size reuse the memory: a training step's peak then holds the activations and a few
 * live gradients instead of a gradient for every activation. Only the gradients of
 * leaves (parameters, inputs, bound values) can be read after cnas_backward(); a
 * caller that reads an intermediate tensor's gradient must leave this off. */
void cnas_graph_set_release_grads(cnas_graph *g, bool on);

/* CNAS_OK until an op fails; then the first failure. */
cnas_status cnas_graph_status(const cnas_graph *g);
const cnas_error *cnas_graph_error(const cnas_graph *g);

/* Accumulate d(loss)/d(t) into every tensor that requires a gradient. `loss`
 * must hold one element. Returns the graph status. */
cnas_status cnas_backward(cnas_graph *g, cnas_tensor *loss);

/* Memory accounting: the most arena bytes ever in use at once, the bytes the arena
 * holds now, and how many blocks it has ever obtained from the system. */
size_t cnas_graph_peak_bytes(const cnas_graph *g);
size_t cnas_graph_capacity_bytes(const cnas_graph *g);
size_t cnas_graph_block_allocs(const cnas_graph *g);
size_t cnas_graph_node_count(const cnas_graph *g);

/* ---- Parameter binding (1.1) ------------------------------------------------- */

/* While `param` (a persistent parameter) is bound to `value` (usually a step tensor
 * computed on this graph, e.g. a K-shot merge Σ_k λ_k·Θ_k), every kernel that reads
 * param as a weight, bias or batch-norm scale / shift reads value instead, and the
 * gradient flows to value and on to whatever produced it; param itself gets none.
 * So a strategy runs a supernet forward with chosen parameters replaced without the
 * space or its ops knowing. Shapes must match. Bindings last until
 * cnas_graph_unbind_all() or cnas_graph_reset(); keep them through the backward
 * pass (recomputed segments replay with them). Errors go to the graph's error. */
#define CNAS_GRAPH_MAX_BINDINGS 4096
cnas_status cnas_graph_bind(cnas_graph *g, const cnas_tensor *param, cnas_tensor *value);
void cnas_graph_unbind_all(cnas_graph *g);
int cnas_graph_bindings(const cnas_graph *g);
/* The tensor a kernel must use for parameter t: its bound value, or t. Kernels that
 * read parameters themselves (not through the core kernels) call this. */
cnas_tensor *cnas_graph_param(const cnas_graph *g, cnas_tensor *t);

/* ---- For op authors (core kernels and plugins alike) ----------------------- */

/* A step tensor with uninitialised data; NULL (error recorded) on failure. */
cnas_tensor *cnas_graph_tensor(cnas_graph *g, int ndim, const int64_t *shape);
cnas_tensor *cnas_graph_tensor_like(cnas_graph *g, const cnas_tensor *t);
/* Same, zero-filled. */
cnas_tensor *cnas_graph_zeros(cnas_graph *g, int ndim, const int64_t *shape);

/* 64-byte aligned arena memory, valid until reset; NULL (error recorded) on failure. */
void *cnas_graph_alloc(cnas_graph *g, size_t bytes);

/* Scratch that an op needs only while it runs (im2col buffers): take a mark,
 * allocate, and rewind to the mark before returning. Nothing allocated after the
 * mark may outlive the rewind. */
typedef struct cnas_arena_mark { size_t block; size_t offset; } cnas_arena_mark;
cnas_arena_mark cnas_graph_mark(const cnas_graph *g);
void cnas_graph_rewind(cnas_graph *g, cnas_arena_mark m);

/* Without a tape (recording off), keep only `t` of everything allocated since
 * `m`: t moves down to the mark and the rest of the arena is released. Lets
 * evaluation of a large network run in the memory of its widest layer. Returns
 * the moved tensor; with recording on it returns t unchanged. */
cnas_tensor *cnas_graph_keep(cnas_graph *g, cnas_arena_mark m, cnas_tensor *t);

/* Recomputation (gradient checkpointing) of a segment y = f(g, in, ctx): the forward
 * pass runs f without a tape and keeps only y; the backward pass runs f again with a
 * tape, back-propagates y's gradient through it and releases it. One more forward of
 * f buys all of f's intermediates. f must be deterministic (no random draws), read
 * only `in`, persistent tensors and bound parameters (their values' gradients outlive
 * the replay), and keep nothing it allocates; ctx (ctx_bytes) is copied. With recording
 * off this is simply f(g, in, ctx). */
typedef cnas_tensor *(*cnas_segment_fn)(cnas_graph *g, cnas_tensor *const *in, const void *ctx);
cnas_tensor *cnas_recompute(cnas_graph *g, cnas_segment_fn f, int n_in, cnas_tensor *const *in,
                            const void *ctx, size_t ctx_bytes);
/* True while a segment is being replayed for its backward pass: ops with side effects
 * (batch norm's running statistics) skip them, the first run having done them. */
bool cnas_graph_replaying(const cnas_graph *g);

/* True when an op with these inputs must record a node (recording on and some
 * input requires a gradient). NULL inputs are ignored. */
bool cnas_graph_should_record(const cnas_graph *g, int n_in, cnas_tensor *const *in);

/* Append a node producing `out` and flag `out` as requiring a gradient. `ctx_bytes`
 * of zeroed arena memory are reserved at node->ctx. NULL (error recorded) on failure. */
cnas_node *cnas_graph_record(cnas_graph *g, const char *op, cnas_tensor *out, int n_in,
                             cnas_tensor *const *in, cnas_backward_fn backward, size_t ctx_bytes);

/* The gradient buffer of `t`, allocated zero-filled on first touch: in the arena for
 * step tensors, on the heap (persisting) for persistent tensors. NULL (error
 * recorded) on failure. */
float *cnas_graph_grad(cnas_graph *g, cnas_tensor *t);

/* Record the graph's first error and return NULL, for `return cnas_graph_fail(...)`. */
void *cnas_graph_fail(cnas_graph *g, cnas_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True when any of the n inputs is NULL or the graph has already failed: ops start
 * with `if (cnas_graph_bad_inputs(g, 2, (cnas_tensor*[]){x, w})) return NULL;`. */
bool cnas_graph_bad_inputs(const cnas_graph *g, int n, cnas_tensor *const *in);

#ifdef __cplusplus
}
#endif
#endif
