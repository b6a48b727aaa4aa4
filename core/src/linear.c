/* y = x·wᵀ + b with OpenBLAS. Work is cut into fixed blocks of rows (of x for the
 * forward and the input gradient, of w for the weight gradient) that OpenMP threads
 * share; each block is one single-threaded GEMM. The blocks depend on the shapes only,
 * so results are bitwise the same for any thread count, and no output element is
 * summed across threads. */
#include <cnas/ops.h>

#include <cblas.h>
#include <omp.h>

#define LINEAR_BLOCK 32          /* rows per GEMM call */
#define LINEAR_PAR_MIN (1 << 15) /* multiply-adds below which one thread does it all */

static void linear_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    int64_t out = w->shape[0], in = w->shape[1], N = x->numel / in;
    const float *dy = n->out->grad;
    bool par = N * out * in >= LINEAR_PAR_MIN;
    float *dx = NULL, *dw = NULL, *db = NULL;
    if (cnas_tensor_requires_grad(x) && !(dx = cnas_graph_grad(g, x)))
        return;
    if (cnas_tensor_requires_grad(w) && !(dw = cnas_graph_grad(g, w)))
        return;
    if (b && cnas_tensor_requires_grad(b) && !(db = cnas_graph_grad(g, b)))
        return;
    if (dx) { /* dx[rows] += dy[rows] · w */
        int64_t nb = (N + LINEAR_BLOCK - 1) / LINEAR_BLOCK;
#pragma omp parallel for schedule(static) if (par)
        for (int64_t k = 0; k < nb; k++) {
            int64_t lo = k * LINEAR_BLOCK, m = N - lo < LINEAR_BLOCK ? N - lo : LINEAR_BLOCK;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)in, (int)out,
                        1.0f, dy + lo * out, (int)out, w->data, (int)in, 1.0f, dx + lo * in,
                        (int)in);
        }
    }
    if (dw) { /* dw[outputs] += dy[:, outputs]ᵀ · x, the whole batch in one GEMM per block */
        int64_t nb = (out + LINEAR_BLOCK - 1) / LINEAR_BLOCK;
#pragma omp parallel for schedule(static) if (par)
        for (int64_t k = 0; k < nb; k++) {
            int64_t lo = k * LINEAR_BLOCK, m = out - lo < LINEAR_BLOCK ? out - lo : LINEAR_BLOCK;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)in, (int)N, 1.0f,
                        dy + lo, (int)out, x->data, (int)in, 1.0f, dw + lo * in, (int)in);
        }
    }
    if (db) {
        for (int64_t o = 0; o < out; o++) {
            double s = 0.0;
            for (int64_t i = 0; i < N; i++)
                s += dy[i * out + o];
            db[o] += (float)s;
        }
    }
}

cnas_tensor *cnas_linear(cnas_graph *g, cnas_tensor *x, cnas_tensor *w, cnas_tensor *b)
{
    w = cnas_graph_param(g, w); /* bound parameters (graph.h) */
    b = cnas_graph_param(g, b);
    cnas_tensor *req[2] = {x, w};
    if (cnas_graph_bad_inputs(g, 2, req))
        return NULL;
    char sx[CNAS_SHAPE_STR_MAX], sw[CNAS_SHAPE_STR_MAX], sb[CNAS_SHAPE_STR_MAX];
    if (w->ndim != 2)
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "linear: weight %s, expected [out, in]",
                               cnas_shape_str(w, sw, sizeof sw));
    int64_t out = w->shape[0], in = w->shape[1];
    /* A 1-D input is one sample; otherwise the first dimension is the batch and the
     * rest flatten to the features. */
    int64_t per = x->ndim >= 2 ? x->numel / x->shape[0] : x->numel;
    if (x->ndim < 1 || per != in || x->numel == 0)
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "linear: input %s has %lld features per "
                               "sample but weight %s expects %lld",
                               cnas_shape_str(x, sx, sizeof sx), (long long)per,
                               cnas_shape_str(w, sw, sizeof sw), (long long)in);
    if (b && (b->ndim != 1 || b->numel != out))
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "linear: bias %s for weight %s, expected [%lld]",
                               cnas_shape_str(b, sb, sizeof sb), cnas_shape_str(w, sw, sizeof sw),
                               (long long)out);
    int64_t N = x->numel / in;
    int64_t shape[2] = {N, out};
    cnas_tensor *y = cnas_graph_tensor(g, 2, shape);
    if (!y)
        return NULL;
    int64_t nb = (N + LINEAR_BLOCK - 1) / LINEAR_BLOCK;
#pragma omp parallel for schedule(static) if (N * out * in >= LINEAR_PAR_MIN)
    for (int64_t k = 0; k < nb; k++) {
        int64_t lo = k * LINEAR_BLOCK, m = N - lo < LINEAR_BLOCK ? N - lo : LINEAR_BLOCK;
        for (int64_t i = lo; i < lo + m; i++)
            for (int64_t o = 0; o < out; o++)
                y->data[i * out + o] = b ? b->data[o] : 0.0f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)out, (int)in, 1.0f,
                    x->data + lo * in, (int)in, w->data, (int)in, 1.0f, y->data + lo * out,
                    (int)out);
    }
    cnas_tensor *inputs[3] = {x, w, b};
    if (cnas_graph_should_record(g, 3, inputs) &&
        !cnas_graph_record(g, "linear", y, b ? 3 : 2, inputs, linear_backward, 0))
        return NULL;
    return y;
}
