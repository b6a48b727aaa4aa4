/* Elementwise arithmetic and reductions to a scalar. Reductions accumulate in
 * double over a fixed number of chunks whose bounds depend on the length only,
 * summed in chunk order: the result is the same for any thread count. */
#include <cnas/ops.h>

#include "internal.h"


static cnas_tensor *shape_fail(cnas_graph *g, const char *op, const cnas_tensor *a,
                               const cnas_tensor *b)
{
    char sa[CNAS_SHAPE_STR_MAX], sb[CNAS_SHAPE_STR_MAX];
    return cnas_graph_fail(g, CNAS_ERR_SHAPE, "%s: shapes %s and %s differ", op,
                           cnas_shape_str(a, sa, sizeof sa), cnas_shape_str(b, sb, sizeof sb));
}

static void accumulate(cnas_graph *g, cnas_tensor *x, const float *gy, float s)
{
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    int64_t len = x->numel;
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        gx[i] += s * gy[i];
}

static void add_backward(cnas_graph *g, cnas_node *n)
{
    accumulate(g, n->in[0], n->out->grad, 1.0f);
    accumulate(g, n->in[1], n->out->grad, 1.0f);
}

cnas_tensor *cnas_add(cnas_graph *g, cnas_tensor *a, cnas_tensor *b)
{
    cnas_tensor *in[2] = {a, b};
    if (cnas_graph_bad_inputs(g, 2, in))
        return NULL;
    if (!cnas_tensor_same_shape(a, b))
        return shape_fail(g, "add", a, b);
    cnas_tensor *y = cnas_graph_tensor_like(g, a);
    if (!y)
        return NULL;
    int64_t len = a->numel;
    const float *ad = a->data, *bd = b->data;
    float *yd = y->data;
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        yd[i] = ad[i] + bd[i];
    if (cnas_graph_should_record(g, 2, in) && !cnas_graph_record(g, "add", y, 2, in, add_backward, 0))
        return NULL;
    return y;
}

static void mul_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *a = n->in[0], *b = n->in[1];
    const float *gy = n->out->grad;
    int64_t len = a->numel;
    if (cnas_tensor_requires_grad(a)) {
        float *ga = cnas_graph_grad(g, a);
        if (!ga)
            return;
        const float *bd = b->data;
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
        for (int64_t i = 0; i < len; i++)
            ga[i] += gy[i] * bd[i];
    }
    if (cnas_tensor_requires_grad(b)) {
        float *gb = cnas_graph_grad(g, b);
        if (!gb)
            return;
        const float *ad = a->data;
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
        for (int64_t i = 0; i < len; i++)
            gb[i] += gy[i] * ad[i];
    }
}

cnas_tensor *cnas_mul(cnas_graph *g, cnas_tensor *a, cnas_tensor *b)
{
    cnas_tensor *in[2] = {a, b};
    if (cnas_graph_bad_inputs(g, 2, in))
        return NULL;
    if (!cnas_tensor_same_shape(a, b))
        return shape_fail(g, "mul", a, b);
    cnas_tensor *y = cnas_graph_tensor_like(g, a);
    if (!y)
        return NULL;
    int64_t len = a->numel;
    const float *ad = a->data, *bd = b->data;
    float *yd = y->data;
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        yd[i] = ad[i] * bd[i];
    if (cnas_graph_should_record(g, 2, in) && !cnas_graph_record(g, "mul", y, 2, in, mul_backward, 0))
        return NULL;
    return y;
}

typedef struct scale_ctx { float s; } scale_ctx;

static void scale_backward(cnas_graph *g, cnas_node *n)
{
    accumulate(g, n->in[0], n->out->grad, ((scale_ctx *)n->ctx)->s);
}

cnas_tensor *cnas_scale(cnas_graph *g, cnas_tensor *x, float s)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    cnas_tensor *y = cnas_graph_tensor_like(g, x);
    if (!y)
        return NULL;
    int64_t len = x->numel;
    const float *xd = x->data;
    float *yd = y->data;
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        yd[i] = s * xd[i];
    if (cnas_graph_should_record(g, 1, &x)) {
        cnas_node *n = cnas_graph_record(g, "scale", y, 1, &x, scale_backward, sizeof(scale_ctx));
        if (!n)
            return NULL;
        ((scale_ctx *)n->ctx)->s = s;
    }
    return y;
}

cnas_tensor *cnas_weighted_sum(cnas_graph *g, int n, cnas_tensor *const *xs, cnas_tensor *w)
{
    if (w && w->numel != n) {
        char s[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "weighted_sum: %d inputs but weights %s", n,
                               cnas_shape_str(w, s, sizeof s));
    }
    return cnas_weighted_sum_cols(g, n, xs, w, 0, NULL);
}

static void sum_n_backward(cnas_graph *g, cnas_node *n)
{
    for (int i = 0; i < n->n_in; i++)
        accumulate(g, n->in[i], n->out->grad, 1.0f);
}

cnas_tensor *cnas_sum_n(cnas_graph *g, int n, cnas_tensor *const *xs)
{
    if (n < 1)
        return cnas_graph_fail(g, CNAS_ERR_INVALID, "sum_n: %d inputs, expected at least 1", n);
    if (cnas_graph_bad_inputs(g, n, xs))
        return NULL;
    for (int i = 1; i < n; i++)
        if (!cnas_tensor_same_shape(xs[i], xs[0]))
            return shape_fail(g, "sum_n", xs[0], xs[i]);
    cnas_tensor *y = cnas_graph_tensor_like(g, xs[0]);
    if (!y)
        return NULL;
    int64_t len = y->numel;
    float *yd = y->data;
    /* One pass over the output; inputs are added in index order for every element. */
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        float acc = xs[0]->data[i];
        for (int k = 1; k < n; k++)
            acc += xs[k]->data[i];
        yd[i] = acc;
    }
    if (cnas_graph_should_record(g, n, xs) && !cnas_graph_record(g, "sum_n", y, n, xs, sum_n_backward, 0))
        return NULL;
    return y;
}

typedef struct reduce_ctx { float scale; } reduce_ctx;

static void reduce_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0];
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    float v = n->out->grad[0] * ((reduce_ctx *)n->ctx)->scale;
    int64_t len = x->numel;
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        gx[i] += v;
}

static cnas_tensor *reduce(cnas_graph *g, cnas_tensor *x, int mean)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    cnas_tensor *y = cnas_graph_tensor(g, 1, (int64_t[]){1});
    if (!y)
        return NULL;
    enum { CHUNKS = 64 };
    double part[CHUNKS];
    const float *xd = x->data;
    int64_t len = x->numel;
#pragma omp parallel for schedule(static) if (len >= 1 << 16)
    for (int t = 0; t < CHUNKS; t++) {
        int64_t lo = len * t / CHUNKS, hi = len * (t + 1) / CHUNKS;
        double s = 0.0;
        for (int64_t i = lo; i < hi; i++)
            s += xd[i];
        part[t] = s;
    }
    double s = 0.0;
    for (int t = 0; t < CHUNKS; t++)
        s += part[t];
    float scale = mean ? 1.0f / (float)len : 1.0f;
    y->data[0] = (float)(s * scale);
    if (cnas_graph_should_record(g, 1, &x)) {
        cnas_node *n = cnas_graph_record(g, mean ? "mean" : "sum", y, 1, &x, reduce_backward,
                                         sizeof(reduce_ctx));
        if (!n)
            return NULL;
        ((reduce_ctx *)n->ctx)->scale = scale;
    }
    return y;
}

cnas_tensor *cnas_sum(cnas_graph *g, cnas_tensor *x) { return reduce(g, x, 0); }
cnas_tensor *cnas_mean(cnas_graph *g, cnas_tensor *x) { return reduce(g, x, 1); }
