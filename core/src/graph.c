/* The step graph: a block arena for activations and a tape of backward nodes.
 *
 * Arena: a short list of blocks with bump allocation. When a step outgrows the
 * blocks it has, a new block is added; at reset, a graph that needed more than one
 * block replaces them with a single block as large as the step's peak, so every
 * later step of the same shape runs without touching the system allocator. */
#include <cnas/graph.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ARENA_MAX_BLOCKS 64
#define ARENA_MIN_BLOCK (8u << 20)

typedef struct arena_block {
    char *mem;
    size_t cap;
    size_t used;
} arena_block;

struct cnas_graph {
    arena_block blocks[ARENA_MAX_BLOCKS];
    size_t n_blocks;
    size_t cur;             /* block receiving allocations */
    size_t in_use;          /* bytes handed out and not rewound */
    size_t cycle_peak;      /* peak in_use since the last reset */
    size_t peak;            /* peak in_use ever */
    size_t block_allocs;    /* blocks ever obtained from the system */

    cnas_node *nodes;
    size_t n_nodes, cap_nodes;

    bool grad_enabled;
    int replaying;          /* depth of segment replays' forward runs (cnas_recompute) */
    int in_segment;         /* depth of segment backwards (replay and its backward) */
    cnas_error err;

    /* Parameter bindings (cnas_graph_bind), cleared at reset. */
    const cnas_tensor *bound_param[CNAS_GRAPH_MAX_BINDINGS];
    cnas_tensor *bound_value[CNAS_GRAPH_MAX_BINDINGS];
    int n_bound;

    /* Gradients of bound values first reached inside a segment replay: the values live
     * below the replay's arena mark, so these buffers must outlive its release (malloc'd,
     * freed at reset). */
    float **side;
    size_t n_side, cap_side;

    /* With release_grads, a node's output gradient goes to this free list as soon as the
     * node's backward has run (every consumer has run before it), and a later gradient
     * of the same size takes it instead of new arena memory. Cleared at reset. */
    bool release_grads;
    struct free_grad {
        float *p;
        size_t bytes;
    } *pool;
    size_t n_pool, cap_pool;
};

cnas_graph *cnas_graph_new(cnas_error *err)
{
    cnas_graph *g = calloc(1, sizeof *g);
    if (!g) {
        cnas_error_set(err, CNAS_ERR_NOMEM, "graph: out of memory");
        return NULL;
    }
    g->grad_enabled = true;
    return g;
}

static void free_side(cnas_graph *g)
{
    for (size_t i = 0; i < g->n_side; i++)
        free(g->side[i]);
    g->n_side = 0;
}

void cnas_graph_free(cnas_graph *g)
{
    if (!g)
        return;
    free_side(g);
    free(g->side);
    free(g->pool);
    for (size_t i = 0; i < g->n_blocks; i++)
        free(g->blocks[i].mem);
    free(g->nodes);
    free(g);
}

static bool add_block(cnas_graph *g, size_t min_bytes)
{
    if (g->n_blocks == ARENA_MAX_BLOCKS)
        return false;
    size_t cap = ARENA_MIN_BLOCK;
    if (g->n_blocks && g->blocks[g->n_blocks - 1].cap * 2 > cap)
        cap = g->blocks[g->n_blocks - 1].cap * 2;
    if (cap < min_bytes)
        cap = min_bytes;
    char *mem = cnas__aligned_alloc(cap);
    if (!mem)
        return false;
    g->blocks[g->n_blocks++] = (arena_block){mem, cap, 0};
    g->block_allocs++;
    return true;
}

void cnas_graph_reset(cnas_graph *g)
{
    if (g->n_blocks > 1) {
        /* Consolidate: one block that holds the whole step (plus slack). */
        size_t want = g->cycle_peak + g->cycle_peak / 8 + CNAS_ALIGN;
        for (size_t i = 0; i < g->n_blocks; i++)
            free(g->blocks[i].mem);
        g->n_blocks = 0;
        add_block(g, want); /* on failure the next step grows again */
    }
    for (size_t i = 0; i < g->n_blocks; i++)
        g->blocks[i].used = 0;
    g->cur = 0;
    g->in_use = 0;
    g->cycle_peak = 0;
    g->n_nodes = 0;
    g->n_bound = 0;
    g->n_pool = 0;
    free_side(g);
    cnas_error_clear(&g->err);
}

cnas_status cnas_graph_bind(cnas_graph *g, const cnas_tensor *param, cnas_tensor *value)
{
    if (!param || !value)
        return cnas_error_set(&g->err, CNAS_ERR_INVALID, "bind: NULL parameter or value");
    if (!cnas_tensor_same_shape(param, value)) {
        char a[CNAS_SHAPE_STR_MAX], b[CNAS_SHAPE_STR_MAX];
        return cnas_error_set(&g->err, CNAS_ERR_SHAPE, "bind: value %s for parameter '%s' %s",
                              cnas_shape_str(value, a, sizeof a), param->name,
                              cnas_shape_str(param, b, sizeof b));
    }
    for (int i = 0; i < g->n_bound; i++)
        if (g->bound_param[i] == param) {
            g->bound_value[i] = value;
            return CNAS_OK;
        }
    if (g->n_bound == CNAS_GRAPH_MAX_BINDINGS)
        return cnas_error_set(&g->err, CNAS_ERR_UNSUPPORTED, "bind: more than %d bindings",
                              CNAS_GRAPH_MAX_BINDINGS);
    g->bound_param[g->n_bound] = param;
    g->bound_value[g->n_bound++] = value;
    return CNAS_OK;
}

void cnas_graph_unbind_all(cnas_graph *g) { g->n_bound = 0; }
int cnas_graph_bindings(const cnas_graph *g) { return g->n_bound; }

cnas_tensor *cnas_graph_param(const cnas_graph *g, cnas_tensor *t)
{
    /* A linear scan: a supernet path binds tens of tensors, and kernels look up at
     * most three parameters each. */
    if (!t || g->n_bound == 0)
        return t;
    for (int i = 0; i < g->n_bound; i++)
        if (g->bound_param[i] == t)
            return g->bound_value[i];
    return t;
}

void cnas_graph_set_grad_enabled(cnas_graph *g, bool on) { g->grad_enabled = on; }
void cnas_graph_set_release_grads(cnas_graph *g, bool on) { g->release_grads = on; }
bool cnas_graph_grad_enabled(const cnas_graph *g) { return g->grad_enabled; }
cnas_status cnas_graph_status(const cnas_graph *g) { return g->err.code; }
const cnas_error *cnas_graph_error(const cnas_graph *g) { return &g->err; }
size_t cnas_graph_peak_bytes(const cnas_graph *g) { return g->peak; }
size_t cnas_graph_block_allocs(const cnas_graph *g) { return g->block_allocs; }
size_t cnas_graph_node_count(const cnas_graph *g) { return g->n_nodes; }

size_t cnas_graph_capacity_bytes(const cnas_graph *g)
{
    size_t c = 0;
    for (size_t i = 0; i < g->n_blocks; i++)
        c += g->blocks[i].cap;
    return c;
}

void *cnas_graph_fail(cnas_graph *g, cnas_status code, const char *fmt, ...)
{
    if (g->err.code == CNAS_OK) {
        va_list ap;
        va_start(ap, fmt);
        cnas_error_vset(&g->err, code, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

void *cnas_graph_alloc(cnas_graph *g, size_t bytes)
{
    size_t need = (bytes + CNAS_ALIGN - 1) / CNAS_ALIGN * CNAS_ALIGN;
    if (need == 0)
        need = CNAS_ALIGN;
    while (g->cur < g->n_blocks) {
        arena_block *b = &g->blocks[g->cur];
        if (b->cap - b->used >= need) {
            void *p = b->mem + b->used;
            b->used += need;
            g->in_use += need;
            if (g->in_use > g->cycle_peak)
                g->cycle_peak = g->in_use;
            if (g->in_use > g->peak)
                g->peak = g->in_use;
            return p;
        }
        if (g->cur + 1 == g->n_blocks)
            break;
        g->cur++;
    }
    if (!add_block(g, need))
        return cnas_graph_fail(g, CNAS_ERR_NOMEM, "graph arena: cannot allocate %zu bytes "
                               "(%zu in use)", need, g->in_use);
    g->cur = g->n_blocks - 1;
    return cnas_graph_alloc(g, bytes);
}

cnas_arena_mark cnas_graph_mark(const cnas_graph *g)
{
    cnas_arena_mark m = {g->cur, g->n_blocks ? g->blocks[g->cur].used : 0};
    return m;
}

void cnas_graph_rewind(cnas_graph *g, cnas_arena_mark m)
{
    if (g->n_blocks == 0)
        return;
    for (size_t i = m.block; i < g->n_blocks; i++) {
        size_t keep = i == m.block ? m.offset : 0;
        g->in_use -= g->blocks[i].used - keep;
        g->blocks[i].used = keep;
    }
    g->cur = m.block;
}

cnas_tensor *cnas_graph_keep(cnas_graph *g, cnas_arena_mark m, cnas_tensor *t)
{
    if (!t || g->grad_enabled || g->err.code || (t->flags & CNAS_T_PERSISTENT))
        return t;
    /* Only a tensor allocated after the mark can be kept this way (an op may hand
     * back one of its inputs, e.g. an identity). */
    const char *p = (const char *)t;
    bool after = false;
    for (size_t b = 0; b < g->n_blocks; b++) {
        const arena_block *blk = &g->blocks[b];
        if (p >= blk->mem && p < blk->mem + blk->cap) {
            after = b > m.block || (b == m.block && (size_t)(p - blk->mem) >= m.offset);
            break;
        }
    }
    if (!after)
        return t;
    /* Allocation order is address order within a block and block order across
     * blocks, so the new struct and data land at or before the old ones: copy the
     * struct aside, rewind, re-allocate, memmove the data down, then write the struct. */
    cnas_tensor saved = *t;
    size_t bytes = (size_t)saved.numel * sizeof(float);
    cnas_graph_rewind(g, m);
    cnas_tensor *nt = cnas_graph_alloc(g, sizeof *nt);
    float *nd = nt ? cnas_graph_alloc(g, bytes) : NULL;
    if (!nd)
        return NULL;
    memmove(nd, saved.data, bytes);
    saved.data = nd;
    saved.grad = NULL;
    *nt = saved;
    return nt;
}

static cnas_tensor *new_step_tensor(cnas_graph *g, int ndim, const int64_t *shape, bool zero)
{
    if (g->err.code)
        return NULL;
    cnas_tensor *t = cnas_graph_alloc(g, sizeof *t);
    if (!t)
        return NULL;
    memset(t, 0, sizeof *t);
    cnas_error e;
    if (cnas__tensor_init_shape(t, ndim, shape, &e))
        return cnas_graph_fail(g, e.code, "%s", e.msg);
    t->data = cnas_graph_alloc(g, (size_t)t->numel * sizeof(float));
    if (!t->data)
        return NULL;
    if (zero)
        memset(t->data, 0, (size_t)t->numel * sizeof(float));
    return t;
}

cnas_tensor *cnas_graph_tensor(cnas_graph *g, int ndim, const int64_t *shape)
{
    return new_step_tensor(g, ndim, shape, false);
}

cnas_tensor *cnas_graph_zeros(cnas_graph *g, int ndim, const int64_t *shape)
{
    return new_step_tensor(g, ndim, shape, true);
}

cnas_tensor *cnas_graph_tensor_like(cnas_graph *g, const cnas_tensor *t)
{
    return new_step_tensor(g, t->ndim, t->shape, false);
}

bool cnas_graph_bad_inputs(const cnas_graph *g, int n, cnas_tensor *const *in)
{
    if (g->err.code)
        return true;
    for (int i = 0; i < n; i++)
        if (!in[i])
            return true;
    return false;
}

bool cnas_graph_should_record(const cnas_graph *g, int n_in, cnas_tensor *const *in)
{
    if (!g->grad_enabled)
        return false;
    for (int i = 0; i < n_in; i++)
        if (in[i] && (in[i]->flags & CNAS_T_REQUIRES_GRAD))
            return true;
    return false;
}

cnas_node *cnas_graph_record(cnas_graph *g, const char *op, cnas_tensor *out, int n_in,
                             cnas_tensor *const *in, cnas_backward_fn backward, size_t ctx_bytes)
{
    if (g->err.code)
        return NULL;
    if (g->n_nodes == g->cap_nodes) {
        size_t cap = g->cap_nodes ? g->cap_nodes * 2 : 256;
        cnas_node *nodes = realloc(g->nodes, cap * sizeof *nodes);
        if (!nodes)
            return cnas_graph_fail(g, CNAS_ERR_NOMEM, "%s: cannot grow the tape", op);
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    cnas_tensor **ins = cnas_graph_alloc(g, (size_t)(n_in ? n_in : 1) * sizeof *ins);
    void *ctx = NULL;
    if (ins && ctx_bytes) {
        ctx = cnas_graph_alloc(g, ctx_bytes);
        if (ctx)
            memset(ctx, 0, ctx_bytes);
    }
    if (!ins || (ctx_bytes && !ctx))
        return NULL;
    memcpy(ins, in, (size_t)n_in * sizeof *ins);
    cnas_node *n = &g->nodes[g->n_nodes];
    *n = (cnas_node){op, backward, out, ins, n_in, ctx};
    out->node = (int32_t)g->n_nodes;
    out->flags |= CNAS_T_REQUIRES_GRAD;
    g->n_nodes++;
    return n;
}

static bool is_bound_value(const cnas_graph *g, const cnas_tensor *t)
{
    for (int i = 0; i < g->n_bound; i++)
        if (g->bound_value[i] == t)
            return true;
    return false;
}

/* A segment reads bound parameters without declaring them as inputs (graph.h), so their
 * values' gradients may first be needed during a replay, whose arena is released after. */
static float *side_grad(cnas_graph *g, cnas_tensor *t)
{
    if (g->n_side == g->cap_side) {
        size_t cap = g->cap_side ? 2 * g->cap_side : 64;
        float **side = realloc(g->side, cap * sizeof *side);
        if (!side)
            return cnas_graph_fail(g, CNAS_ERR_NOMEM, "gradient: out of memory");
        g->side = side;
        g->cap_side = cap;
    }
    float *gr = calloc((size_t)t->numel, sizeof *gr);
    if (!gr)
        return cnas_graph_fail(g, CNAS_ERR_NOMEM, "gradient: out of memory");
    g->side[g->n_side++] = gr;
    t->grad = gr;
    return gr;
}

float *cnas_graph_grad(cnas_graph *g, cnas_tensor *t)
{
    if (t->grad)
        return t->grad;
    if (t->flags & CNAS_T_PERSISTENT) {
        if (!cnas_tensor_grad_buffer(t))
            return cnas_graph_fail(g, CNAS_ERR_NOMEM, "gradient of %s: out of memory",
                                   t->name[0] ? t->name : "tensor");
        return t->grad;
    }
    if (g->in_segment > 0 && is_bound_value(g, t))
        return side_grad(g, t);
    size_t bytes = (size_t)t->numel * sizeof(float);
    float *gr = NULL;
    /* A replay's gradients die with its arena release; the free list holds only memory
     * below every open replay, so replays neither take from it nor give to it. */
    if (g->in_segment == 0)
        for (size_t i = g->n_pool; i-- > 0;)
            if (g->pool[i].bytes == bytes) {
                gr = g->pool[i].p;
                g->pool[i] = g->pool[--g->n_pool];
                break;
            }
    if (!gr && !(gr = cnas_graph_alloc(g, bytes)))
        return NULL;
    memset(gr, 0, bytes);
    t->grad = gr;
    return gr;
}

/* After node n's backward: its output's gradient is complete and read by nobody else. */
static void release_out_grad(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *t = n->out;
    if (!g->release_grads || !t->grad || (t->flags & CNAS_T_PERSISTENT) || is_bound_value(g, t))
        return;
    if (g->n_pool == g->cap_pool) {
        size_t cap = g->cap_pool ? 2 * g->cap_pool : 256;
        struct free_grad *pool = realloc(g->pool, cap * sizeof *pool);
        if (!pool)
            return; /* the buffer simply stays with its tensor */
        g->pool = pool;
        g->cap_pool = cap;
    }
    g->pool[g->n_pool++] = (struct free_grad){t->grad, (size_t)t->numel * sizeof(float)};
    t->grad = NULL;
}

cnas_status cnas_backward(cnas_graph *g, cnas_tensor *loss)
{
    if (g->err.code)
        return g->err.code;
    if (!loss)
        return cnas_error_set(&g->err, CNAS_ERR_INVALID, "backward: loss is NULL");
    if (loss->numel != 1) {
        char s[CNAS_SHAPE_STR_MAX];
        return cnas_error_set(&g->err, CNAS_ERR_SHAPE,
                              "backward: loss has shape %s, expected a single element",
                              cnas_shape_str(loss, s, sizeof s));
    }
    if (!(loss->flags & CNAS_T_REQUIRES_GRAD))
        return CNAS_OK; /* nothing asked for a gradient */
    float *lg = cnas_graph_grad(g, loss);
    if (!lg)
        return g->err.code;
    lg[0] += 1.0f;
    for (size_t i = g->n_nodes; i-- > 0;) {
        cnas_node *n = &g->nodes[i];
        if (!n->out->grad)
            continue; /* no gradient reached this node */
        n->backward(g, n);
        if (g->err.code)
            return cnas_error_prefix(&g->err, "backward of %s", n->op);
        release_out_grad(g, n);
    }
    return CNAS_OK;
}

/* ---- recomputation ---------------------------------------------------------------- */

bool cnas_graph_replaying(const cnas_graph *g)
{
    return g->replaying > 0;
}

typedef struct segment {
    cnas_segment_fn f;
    size_t ctx_bytes;
    /* the caller's ctx follows */
} segment;

static void segment_backward(cnas_graph *g, cnas_node *n)
{
    /* The replay appends to the tape, which may move it: copy what is needed first. */
    const segment *sg = n->ctx;
    cnas_segment_fn f = sg->f;
    const void *user = sg + 1;
    cnas_tensor *out = n->out, *const *in = n->in;
    int n_in = n->n_in;
    /* Input gradients live below the mark, so they survive the release. */
    for (int i = 0; i < n_in; i++)
        if (cnas_tensor_requires_grad(in[i]) && !cnas_graph_grad(g, in[i]))
            return;
    cnas_arena_mark m = cnas_graph_mark(g);
    size_t n0 = g->n_nodes;
    g->in_segment++;
    g->replaying++;
    cnas_tensor *y = f(g, in, user);
    g->replaying--;
    if (y && y->numel != out->numel)
        cnas_graph_fail(g, CNAS_ERR_INTERNAL, "recompute: the replay's output has %lld elements, "
                        "the first run's %lld", (long long)y->numel, (long long)out->numel);
    else if (y && cnas_tensor_requires_grad(y)) {
        if (!y->grad) {
            y->grad = out->grad;
        } else {
            /* the segment handed back one of its inputs */
            for (int64_t k = 0; k < y->numel; k++)
                y->grad[k] += out->grad[k];
        }
        for (size_t i = g->n_nodes; i-- > n0 && !g->err.code;) {
            cnas_node *r = &g->nodes[i];
            if (r->out->grad)
                r->backward(g, r);
        }
    }
    g->in_segment--;
    g->n_nodes = n0;
    cnas_graph_rewind(g, m);
}

cnas_tensor *cnas_recompute(cnas_graph *g, cnas_segment_fn f, int n_in, cnas_tensor *const *in,
                            const void *ctx, size_t ctx_bytes)
{
    if (cnas_graph_bad_inputs(g, n_in, in))
        return NULL;
    if (!g->grad_enabled)
        return f(g, in, ctx);
    cnas_arena_mark m = cnas_graph_mark(g);
    g->grad_enabled = false;
    cnas_tensor *y = f(g, in, ctx);
    y = y ? cnas_graph_keep(g, m, y) : NULL;
    g->grad_enabled = true;
    if (!y)
        return NULL;
    bool is_input = (y->flags & CNAS_T_PERSISTENT) != 0;
    for (int i = 0; i < n_in; i++)
        is_input |= y == in[i];
    if (is_input) {
        /* the node needs an output of its own */
        cnas_tensor *c = cnas_graph_tensor_like(g, y);
        if (!c)
            return NULL;
        memcpy(c->data, y->data, (size_t)y->numel * sizeof(float));
        y = c;
    }
    cnas_node *n = cnas_graph_record(g, "recompute", y, n_in, in, segment_backward,
                                     sizeof(segment) + ctx_bytes);
    if (!n)
        return NULL;
    segment *sg = n->ctx;
    sg->f = f;
    sg->ctx_bytes = ctx_bytes;
    if (ctx_bytes)
        memcpy(sg + 1, ctx, ctx_bytes);
    return y;
}
