/* The K-shot model: dictionaries, simplex-net, merged weights, gradient passes. */
#include "kshot_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/bilevel.h>
#include <cnas/ops.h>
#include <cnas/optim.h>

ks_model *ks_model_new(int K, int n_points, const int *n_cand, int hidden, float tau,
                       ks_encoding enc, cnas_rng *rng, cnas_error *err)
{
    if (K < 1 || K > KS_MAX_K || n_points < 1 || hidden < 1 || !(tau > 0.0f)) {
        cnas_error_set(err, CNAS_ERR_CONFIG, "kshot: K = %d (1 to %d), %d choice points, hidden "
                       "width %d, temperature %g: expected at least one of each and τ > 0", K,
                       KS_MAX_K, n_points, hidden, (double)tau);
        return NULL;
    }
    ks_model *m = calloc(1, sizeof *m);
    if (!m || !(m->offset = malloc((size_t)n_points * sizeof *m->offset)) ||
        !(m->width = malloc((size_t)n_points * sizeof *m->width))) {
        ks_model_free(m);
        cnas_error_set(err, CNAS_ERR_NOMEM, "kshot: out of memory");
        return NULL;
    }
    m->K = K;
    m->n_points = n_points;
    m->H = hidden;
    m->tau = tau;
    m->enc = enc;
    int d = 0;
    for (int p = 0; p < n_points; p++) {
        m->width[p] = n_cand[p];
        if (enc == KS_ENC_MEAN && n_cand[p] != n_cand[0]) {
            cnas_error_set(err, CNAS_ERR_CONFIG, "kshot: encoding = mean averages the choice "
                           "points' one-hot rows, but point %d has %d candidates and point 0 "
                           "has %d (use encoding = flat)", p, n_cand[p], n_cand[0]);
            ks_model_free(m);
            return NULL;
        }
        m->offset[p] = enc == KS_ENC_MEAN ? 0 : d;
        d += n_cand[p];
    }
    m->D = enc == KS_ENC_MEAN ? n_cand[0] : d;
    const int64_t shapes[4][2] = {{hidden, m->D}, {hidden, 1}, {K, hidden}, {K, 1}};
    for (int i = 0; i < 4; i++) {
        m->phi[i] = i % 2 ? cnas_tensor_new(1, shapes[i], err) : cnas_tensor_new(2, shapes[i], err);
        if (!m->phi[i]) {
            ks_model_free(m);
            return NULL;
        }
    }
    cnas_tensor_set_name(m->phi[0], "simplex.fc1.weight");
    cnas_tensor_set_name(m->phi[1], "simplex.fc1.bias");
    cnas_tensor_set_name(m->phi[2], "simplex.fc2.weight");
    cnas_tensor_set_name(m->phi[3], "simplex.fc2.bias");
    /* torch.nn.Linear's default: weight and bias uniform in ±1/√fan_in. */
    cnas_init_default_weight(m->phi[0], rng);
    cnas_init_default_bias(m->phi[1], m->D, rng);
    cnas_init_default_weight(m->phi[2], rng);
    cnas_init_default_bias(m->phi[3], hidden, rng);
    return m;
}

void ks_model_free(ks_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < 4; i++)
        cnas_tensor_free(m->phi[i]);
    free(m->offset);
    free(m->width);
    free(m);
}

void ks_encode(const ks_model *m, const cnas_arch *a, float *e)
{
    memset(e, 0, (size_t)m->D * sizeof *e);
    float one = m->enc == KS_ENC_MEAN ? 1.0f / (float)m->n_points : 1.0f;
    for (int p = 0; p < m->n_points && p < a->n_points; p++)
        for (int c = 0; c < m->width[p] && c < CNAS_ARCH_MAX_CANDIDATES; c++)
            if (a->mask[p] >> c & 1u)
                e[m->offset[p] + c] += one;
}

cnas_tensor *ks_code(cnas_graph *g, const ks_model *m, const cnas_arch *a)
{
    cnas_tensor *e = cnas_graph_tensor(g, CNAS_SHAPE(1, m->D));
    if (!e)
        return NULL;
    ks_encode(m, a, e->data);
    cnas_tensor *h = cnas_relu(g, cnas_linear(g, e, m->phi[0], m->phi[1]));
    cnas_tensor *z = cnas_linear(g, h, m->phi[2], m->phi[3]);
    if (m->tau != 1.0f)
        z = cnas_scale(g, z, 1.0f / m->tau);
    return cnas_softmax(g, z);
}

cnas_status ks_code_values(cnas_graph *g, const ks_model *m, const cnas_arch *a, float *out,
                           cnas_error *err)
{
    bool rec = cnas_graph_grad_enabled(g);
    cnas_graph_set_grad_enabled(g, false);
    cnas_tensor *l = ks_code(g, m, a);
    cnas_status st = CNAS_OK;
    if (l)
        memcpy(out, l->data, (size_t)m->K * sizeof *out);
    else
        st = cnas_error_set(err, cnas_graph_status(g), "kshot: simplex-net: %s",
                            cnas_graph_error(g)->msg);
    cnas_graph_reset(g);
    cnas_graph_set_grad_enabled(g, rec);
    return st;
}

cnas_tensor *ks_code_const(cnas_graph *g, const ks_model *m, const float *lambda)
{
    cnas_tensor *l = cnas_graph_tensor(g, CNAS_SHAPE(1, m->K));
    if (l)
        memcpy(l->data, lambda, (size_t)m->K * sizeof *lambda);
    return l;
}

cnas_status ks_bind(cnas_graph *g, const ks_model *m, cnas_tensor *lambda)
{
    cnas_tensor *xs[KS_MAX_K];
    for (int i = 0; i < m->n && !cnas_graph_status(g); i++) {
        for (int k = 0; k < m->K; k++)
            xs[k] = m->theta[(size_t)k * m->n + i];
        cnas_tensor *merged = cnas_weighted_sum_cols(g, m->K, xs, lambda, 0, NULL);
        if (merged)
            cnas_graph_bind(g, m->slot[i], merged);
    }
    return cnas_graph_status(g);
}

void ks_merge_into(const ks_model *m, const float *lambda, cnas_tensor *const *dst)
{
    for (int i = 0; i < m->n; i++) {
        float *y = dst[i]->data;
        int64_t numel = dst[i]->numel;
        const float *x0 = m->theta[i]->data;
        for (int64_t j = 0; j < numel; j++)
            y[j] = lambda[0] * x0[j];
        for (int k = 1; k < m->K; k++) {
            const float *xk = m->theta[(size_t)k * m->n + i]->data;
            for (int64_t j = 0; j < numel; j++)
                y[j] += lambda[k] * xk[j];
        }
    }
}

void ks_dirichlet(cnas_rng *rng, int K, float *out)
{
    double e[KS_MAX_K], s = 0.0;
    for (int k = 0; k < K; k++) {
        /* 1 - u is in (0, 1]: the log is finite. */
        e[k] = -log(1.0 - cnas_rng_uniform_double(rng));
        s += e[k];
    }
    for (int k = 0; k < K; k++)
        out[k] = s > 0.0 ? (float)(e[k] / s) : 1.0f / (float)K;
}

/* ---- gradient passes ------------------------------------------------------------- */

typedef struct theta_ctx {
    const ks_model *m;
    const cnas_arch *a;
    const float *lambda;
    ks_loss_fn f;
    void *ctx;
    int64_t B;
} theta_ctx;

static cnas_tensor *theta_loss(cnas_graph *g, void *p)
{
    theta_ctx *c = p;
    cnas_tensor *l = c->lambda ? ks_code_const(g, c->m, c->lambda) : ks_code(g, c->m, c->a);
    if (!l || ks_bind(g, c->m, l))
        return NULL;
    return c->f(g, c->ctx, c->a, 0, c->B);
}

cnas_status ks_theta_pass(cnas_graph *g, const ks_model *m, const cnas_arch *a,
                          const float *lambda, ks_loss_fn f, void *ctx, int64_t B, float *loss,
                          cnas_error *err)
{
    theta_ctx c = {m, a, lambda, f, ctx, B};
    return cnas_grad_pass(g, theta_loss, &c, m->theta, m->K * m->n, m->phi, 4, loss, err);
}

cnas_status ks_phi_pass(cnas_graph *g, const ks_model *m, cnas_arch *const *archs, int n_chunks,
                        ks_loss_fn f, void *ctx, int64_t B, float *loss, cnas_error *err)
{
    if (n_chunks < 1 || n_chunks > B)
        return cnas_error_set(err, CNAS_ERR_CONFIG, "kshot: %d simplex-net paths for a batch of "
                              "%lld (each path needs at least one sample)", n_chunks,
                              (long long)B);
    for (int i = 0; i < m->K * m->n; i++)
        cnas_tensor_set_requires_grad(m->theta[i], false);
    for (int i = 0; i < 4; i++) {
        cnas_tensor_set_requires_grad(m->phi[i], true);
        cnas_tensor_zero_grad(m->phi[i]);
    }
    double total = 0.0;
    for (int c = 0; c < n_chunks; c++) {
        int64_t r0 = B * c / n_chunks, r1 = B * (c + 1) / n_chunks;
        cnas_graph_reset(g);
        cnas_tensor *l = ks_code(g, m, archs[c]);
        cnas_tensor *y = l && !ks_bind(g, m, l) ? f(g, ctx, archs[c], r0, r1) : NULL;
        cnas_tensor *w = cnas_scale(g, y, (float)(r1 - r0) / (float)B);
        cnas_status st = w ? cnas_backward(g, w) : cnas_graph_status(g);
        if (!w && !st)
            st = cnas_error_set(err, CNAS_ERR_INTERNAL, "kshot: a loss function returned NULL "
                                "without an error");
        else if (st)
            cnas_error_set(err, st, "%s", cnas_graph_error(g)->msg);
        if (st) {
            cnas_graph_reset(g);
            return st;
        }
        total += (double)w->data[0];
    }
    cnas_graph_reset(g);
    if (loss)
        *loss = (float)total;
    return CNAS_OK;
}
