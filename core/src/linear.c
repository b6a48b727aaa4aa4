/* y = x·wᵀ + b with OpenBLAS. Rows of x are split across threads for the forward
 * and the input gradient; the weight gradient is one GEMM over the whole batch. */
#include <cnas/ops.h>

#include <cblas.h>
#include <omp.h>

static void linear_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    int64_t out = w->shape[0], in = w->shape[1], N = x->numel / in;
    const float *dy = n->out->grad;
    if (cnas_tensor_requires_grad(x)) {
        float *dx = cnas_graph_grad(g, x);
        if (!dx)
            return;
        int nt = omp_get_max_threads();
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), T = omp_get_num_threads();
            int64_t lo = N * t / T, hi = N * (t + 1) / T;
            if (hi > lo)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(hi - lo), (int)in,
                            (int)out, 1.0f, dy + lo * out, (int)out, w->data, (int)in, 1.0f,
                            dx + lo * in, (int)in);
        }
    }
    if (cnas_tensor_requires_grad(w)) {
        float *dw = cnas_graph_grad(g, w);
        if (!dw)
            return;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)N, 1.0f, dy,
                    (int)out, x->data, (int)in, 1.0f, dw, (int)in);
    }
    if (b && cnas_tensor_requires_grad(b)) {
        float *db = cnas_graph_grad(g, b);
        if (!db)
            return;
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
    cnas_tensor *req[2] = {x, w};
    if (cnas_graph_bad_inputs(g, 2, req))
        return NULL;
    char sx[CNAS_SHAPE_STR_MAX], sw[CNAS_SHAPE_STR_MAX], sb[CNAS_SHAPE_STR_MAX];
    if (w->ndim != 2 || x->ndim < 1 || x->numel % w->shape[1] != 0 ||
        (x->ndim >= 2 && x->numel / x->shape[0] != w->shape[1]) ||
        (x->ndim == 1 && x->numel != w->shape[1]))
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "linear: input %s does not have %lld features "
                               "per sample for weight %s", cnas_shape_str(x, sx, sizeof sx),
                               (long long)(w->ndim == 2 ? w->shape[1] : -1),
                               cnas_shape_str(w, sw, sizeof sw));
    int64_t out = w->shape[0], in = w->shape[1], N = x->numel / in;
    if (b && b->numel != out)
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "linear: bias %s for %lld outputs",
                               cnas_shape_str(b, sb, sizeof sb), (long long)out);
    int64_t shape[2] = {N, out};
    cnas_tensor *y = cnas_graph_tensor(g, 2, shape);
    if (!y)
        return NULL;
    int nt = omp_get_max_threads();
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t lo = N * t / T, hi = N * (t + 1) / T;
        for (int64_t i = lo; i < hi; i++)
            for (int64_t o = 0; o < out; o++)
                y->data[i * out + o] = b ? b->data[o] : 0.0f;
        if (hi > lo)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(hi - lo), (int)out, (int)in,
                        1.0f, x->data + lo * in, (int)in, w->data, (int)in, 1.0f,
                        y->data + lo * out, (int)out);
    }
    cnas_tensor *inputs[3] = {x, w, b};
    if (cnas_graph_should_record(g, 3, inputs) &&
        !cnas_graph_record(g, "linear", y, b ? 3 : 2, inputs, linear_backward, 0))
        return NULL;
    return y;
}
