/* The Gaussian generator's kernels (gaussian_kernels.h). */
#include "gaussian_kernels.h"

#include <math.h>
#include <string.h>

typedef struct sample_ctx {
    int32_t *labels;
    float *eps;
    int64_t n;
    float T;
} sample_ctx;

static void sample_backward(cnas_graph *g, cnas_node *nd)
{
    sample_ctx *c = nd->ctx;
    cnas_tensor *mu = nd->in[0], *ls = nd->in[1];
    const float *go = nd->out->grad;
    int64_t D = mu->shape[1];
    float *gmu = cnas_tensor_requires_grad(mu) ? cnas_graph_grad(g, mu) : NULL;
    float *gls = cnas_tensor_requires_grad(ls) ? cnas_graph_grad(g, ls) : NULL;
    for (int64_t i = 0; i < c->n; i++) {
        int64_t row = (int64_t)c->labels[i] * D;
        for (int64_t d = 0; d < D; d++) {
            float gv = go[i * D + d];
            if (gmu)
                gmu[row + d] += gv;
            if (gls)
                gls[row + d] += gv * c->T * expf(ls->data[row + d]) * c->eps[i * D + d];
        }
    }
}

cnas_tensor *cnas_gauss_sample(cnas_graph *g, cnas_tensor *mu, cnas_tensor *log_sigma,
                               const int32_t *labels, int64_t n, float T, cnas_rng *rng,
                               const int64_t shape[4])
{
    if (cnas_graph_bad_inputs(g, 2, (cnas_tensor *[]){mu, log_sigma}))
        return NULL;
    int64_t K = mu->shape[0], D = mu->shape[1];
    if (mu->ndim != 2 || !cnas_tensor_same_shape(mu, log_sigma) ||
        shape[0] * shape[1] * shape[2] * shape[3] != n * D)
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "gauss_sample: mu and log_sigma must be the "
                               "same [K, D] and the output hold n*D values");
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= K)
            return cnas_graph_fail(g, CNAS_ERR_INVALID, "gauss_sample: label %d outside [0, %lld)",
                                   labels[i], (long long)K);
    cnas_tensor *x = cnas_graph_tensor(g, 4, shape);
    float *eps = cnas_graph_alloc(g, (size_t)(n * D) * sizeof *eps);
    if (!x || !eps)
        return NULL;
    for (int64_t k = 0; k < n * D; k++)
        eps[k] = cnas_rng_normal(rng);
    for (int64_t i = 0; i < n; i++) {
        const float *m = mu->data + (int64_t)labels[i] * D;
        const float *s = log_sigma->data + (int64_t)labels[i] * D;
        for (int64_t d = 0; d < D; d++)
            x->data[i * D + d] = m[d] + T * expf(s[d]) * eps[i * D + d];
    }
    cnas_tensor *in[2] = {mu, log_sigma};
    if (cnas_graph_should_record(g, 2, in)) {
        cnas_node *nd = cnas_graph_record(g, "gauss_sample", x, 2, in, sample_backward,
                                          sizeof(sample_ctx));
        if (!nd)
            return NULL;
        sample_ctx *c = nd->ctx;
        c->labels = cnas_graph_alloc(g, (size_t)n * sizeof *c->labels);
        if (!c->labels)
            return NULL;
        memcpy(c->labels, labels, (size_t)n * sizeof *labels);
        c->eps = eps;
        c->n = n;
        c->T = T;
    }
    return x;
}

typedef struct nll_ctx {
    int32_t *labels;
    int64_t n;
} nll_ctx;

static void nll_backward(cnas_graph *g, cnas_node *nd)
{
    nll_ctx *c = nd->ctx;
    cnas_tensor *x = nd->in[0], *mu = nd->in[1], *ls = nd->in[2];
    float go = nd->out->grad[0];
    int64_t D = mu->shape[1];
    float *gmu = cnas_tensor_requires_grad(mu) ? cnas_graph_grad(g, mu) : NULL;
    float *gls = cnas_tensor_requires_grad(ls) ? cnas_graph_grad(g, ls) : NULL;
    double scale = (double)go / ((double)c->n * (double)D);
    for (int64_t i = 0; i < c->n; i++) {
        int64_t row = (int64_t)c->labels[i] * D;
        for (int64_t d = 0; d < D; d++) {
            double diff = (double)x->data[i * D + d] - mu->data[row + d];
            double inv_var = exp(-2.0 * (double)ls->data[row + d]);
            if (gmu)
                gmu[row + d] += (float)(-scale * diff * inv_var);
            if (gls)
                gls[row + d] += (float)(scale * (1.0 - diff * diff * inv_var));
        }
    }
}

cnas_tensor *cnas_gauss_nll(cnas_graph *g, cnas_tensor *x, cnas_tensor *mu, cnas_tensor *log_sigma,
                            const int32_t *labels)
{
    if (cnas_graph_bad_inputs(g, 3, (cnas_tensor *[]){x, mu, log_sigma}))
        return NULL;
    int64_t K = mu->shape[0], D = mu->shape[1], n = x->shape[0];
    if (mu->ndim != 2 || !cnas_tensor_same_shape(mu, log_sigma) || x->numel != n * D)
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "gauss_nll: x must hold [n, D] values for "
                               "mu and log_sigma [K, D]");
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= K)
            return cnas_graph_fail(g, CNAS_ERR_INVALID, "gauss_nll: label %d outside [0, %lld)",
                                   labels[i], (long long)K);
    cnas_tensor *out = cnas_graph_tensor(g, 1, (const int64_t[]){1});
    if (!out)
        return NULL;
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        int64_t row = (int64_t)labels[i] * D;
        for (int64_t d = 0; d < D; d++) {
            double diff = (double)x->data[i * D + d] - mu->data[row + d];
            double s = log_sigma->data[row + d];
            acc += 0.5 * diff * diff * exp(-2.0 * s) + s;
        }
    }
    out->data[0] = (float)(acc / ((double)n * (double)D));
    cnas_tensor *in[3] = {x, mu, log_sigma};
    if (cnas_graph_should_record(g, 3, in)) {
        cnas_node *nd = cnas_graph_record(g, "gauss_nll", out, 3, in, nll_backward,
                                          sizeof(nll_ctx));
        if (!nd)
            return NULL;
        nll_ctx *c = nd->ctx;
        if (!(c->labels = cnas_graph_alloc(g, (size_t)n * sizeof *c->labels)))
            return NULL;
        memcpy(c->labels, labels, (size_t)n * sizeof *labels);
        c->n = n;
    }
    return out;
}
