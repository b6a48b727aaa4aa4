/* The DARTS mixed edge over a row of an architecture-weight matrix. Weight-gradient
 * dot products accumulate in double over a fixed number of chunks whose bounds depend
 * on the length only, summed in chunk order: the result is the same for any thread
 * count (as elementwise.c's reductions). */
#include <cnas/ops.h>

#include "internal.h"

#include <string.h>

typedef struct mix_ctx {
    int64_t row;
    int32_t *cols;
} mix_ctx;

static inline int64_t col_of(const int32_t *cols, int i)
{
    return cols ? cols[i] : i;
}

static void mix_backward(cnas_graph *g, cnas_node *nd)
{
    mix_ctx *c = nd->ctx;
    int n = nd->n_in - 1;
    cnas_tensor *w = nd->in[n];
    const float *go = nd->out->grad;
    int64_t numel = nd->out->numel;
    int64_t K = w->ndim == 1 ? w->numel : w->shape[1];
    const float *wr = w->data + c->row * K;
    for (int i = 0; i < n; i++) {
        cnas_tensor *x = nd->in[i];
        if (!cnas_tensor_requires_grad(x))
            continue;
        float *gx = cnas_graph_grad(g, x);
        if (!gx)
            return;
        float wi = wr[col_of(c->cols, i)];
#pragma omp parallel for schedule(static) if (numel >= CNAS_PAR_MIN)
        for (int64_t k = 0; k < numel; k++)
            gx[k] += wi * go[k];
    }
    if (!cnas_tensor_requires_grad(w))
        return;
    float *gw = cnas_graph_grad(g, w);
    if (!gw)
        return;
    enum { CHUNKS = 64 };
    double *part = cnas_graph_alloc(g, (size_t)CHUNKS * (size_t)n * sizeof(double));
    if (!part)
        return;
#pragma omp parallel for schedule(static) if (numel >= CNAS_PAR_MIN)
    for (int t = 0; t < CHUNKS; t++) {
        int64_t lo = numel * t / CHUNKS, hi = numel * (t + 1) / CHUNKS;
        for (int i = 0; i < n; i++) {
            const float *x = nd->in[i]->data;
            double s = 0.0;
            for (int64_t k = lo; k < hi; k++)
                s += (double)go[k] * x[k];
            part[(size_t)t * (size_t)n + (size_t)i] = s;
        }
    }
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int t = 0; t < CHUNKS; t++)
            s += part[(size_t)t * (size_t)n + (size_t)i];
        gw[c->row * K + col_of(c->cols, i)] += (float)s;
    }
}

cnas_tensor *cnas_weighted_sum_cols(cnas_graph *g, int n, cnas_tensor *const *xs, cnas_tensor *w,
                                    int64_t row, const int32_t *cols)
{
    if (cnas_graph_status(g) || !w || n < 1)
        return n < 1 ? cnas_graph_fail(g, CNAS_ERR_INVALID, "weighted_sum_cols: %d inputs", n)
                     : NULL;
    if (cnas_graph_bad_inputs(g, n, xs))
        return NULL;
    char a[CNAS_SHAPE_STR_MAX], b[CNAS_SHAPE_STR_MAX];
    if (w->ndim > 2)
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "weighted_sum_cols: weights %s, expected "
                               "[rows, K] or [K]", cnas_shape_str(w, a, sizeof a));
    int64_t rows = w->ndim == 1 ? 1 : w->shape[0];
    int64_t K = w->ndim == 1 ? w->numel : w->shape[1];
    if (row < 0 || row >= rows)
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "weighted_sum_cols: row %lld of weights %s",
                               (long long)row, cnas_shape_str(w, a, sizeof a));
    for (int i = 0; i < n; i++) {
        int64_t col = col_of(cols, i);
        if (col < 0 || col >= K)
            return cnas_graph_fail(g, CNAS_ERR_SHAPE, "weighted_sum_cols: column %lld of "
                                   "weights %s", (long long)col, cnas_shape_str(w, a, sizeof a));
        if (!cnas_tensor_same_shape(xs[i], xs[0]))
            return cnas_graph_fail(g, CNAS_ERR_SHAPE, "weighted_sum_cols: input %d is %s but "
                                   "input 0 is %s", i, cnas_shape_str(xs[i], a, sizeof a),
                                   cnas_shape_str(xs[0], b, sizeof b));
    }
    cnas_tensor *y = cnas_graph_tensor_like(g, xs[0]);
    if (!y)
        return NULL;
    const float *wr = w->data + row * K;
    int64_t numel = y->numel;
    float *yd = y->data;
    float w0 = wr[col_of(cols, 0)];
    const float *x0 = xs[0]->data;
#pragma omp parallel for schedule(static) if (numel >= CNAS_PAR_MIN)
    for (int64_t k = 0; k < numel; k++)
        yd[k] = w0 * x0[k];
    for (int i = 1; i < n; i++) {
        float wi = wr[col_of(cols, i)];
        const float *xi = xs[i]->data;
#pragma omp parallel for schedule(static) if (numel >= CNAS_PAR_MIN)
        for (int64_t k = 0; k < numel; k++)
            yd[k] += wi * xi[k];
    }
    cnas_tensor **in = cnas_graph_alloc(g, (size_t)(n + 1) * sizeof *in);
    if (!in)
        return NULL;
    memcpy(in, xs, (size_t)n * sizeof *in);
    in[n] = w;
    if (!cnas_graph_should_record(g, n + 1, in))
        return y;
    cnas_node *nd = cnas_graph_record(g, "weighted_sum_cols", y, n + 1, in, mix_backward,
                                      sizeof(mix_ctx));
    if (!nd)
        return NULL;
    mix_ctx *c = nd->ctx;
    c->row = row;
    if (cols) {
        c->cols = cnas_graph_alloc(g, (size_t)n * sizeof *cols);
        if (!c->cols)
            return NULL;
        memcpy(c->cols, cols, (size_t)n * sizeof *cols);
    }
    return y;
}
