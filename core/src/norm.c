/* Batch normalisation over (N, H, W) per channel, parallel over channels: each
 * channel's statistics are a private reduction (16 float lanes per plane, planes summed
 * in double), so results do not depend on the thread count and the loops vectorise.
 * The backward recomputes x̂ from the saved mean and 1/σ instead of storing it. */
#include <cnas/dist.h>
#include <cnas/ops.h>

#include <math.h>
#include <string.h>

#include "internal.h"

#define LANES 16

/* 16 float lanes as a GCC/Clang vector: the same lanes on every ISA level (one
 * AVX-512 register, two AVX2 ones, four SSE ones), so the reductions below give the
 * same bits whatever the machine picks. */
typedef float lanes __attribute__((vector_size(LANES * sizeof(float))));

/* Vectors never cross a function boundary here (their ABI differs between the
 * clones): loads are memcpy in place, totals read through a pointer. */
#define LOAD_LANES(v, p) memcpy(&(v), (p), sizeof(lanes))

static double lanes_total(const lanes *v)
{
    double s = 0.0;
    for (int l = 0; l < LANES; l++)
        s += (*v)[l];
    return s;
}

/* Σ (x - s) and Σ (x - s)² over one plane in one pass, added to *s1, *s2. The shift s
 * (the channel's first value) keeps the squares from cancelling when the mean is far
 * from zero. */
CNAS_CLONES static void plane_moments(const float *restrict x, int64_t n, float sh, double *s1,
                                      double *s2)
{
    lanes a1 = {0}, a2 = {0};
    int64_t k = 0;
    for (; k + LANES <= n; k += LANES) {
        lanes d;
        LOAD_LANES(d, x + k);
        d -= sh;
        a1 += d;
        a2 += d * d;
    }
    double t1 = lanes_total(&a1), t2 = lanes_total(&a2);
    for (; k < n; k++) {
        double d = (double)x[k] - sh;
        t1 += d;
        t2 += d * d;
    }
    *s1 += t1;
    *s2 += t2;
}

/* Σ dy and Σ dy·(x - m) over one plane, added to *s1, *s2. */
CNAS_CLONES static void plane_dy_sums(const float *restrict dy, const float *restrict x,
                                      int64_t n, float m, double *s1, double *s2)
{
    lanes a1 = {0}, a2 = {0};
    int64_t k = 0;
    for (; k + LANES <= n; k += LANES) {
        lanes g, v;
        LOAD_LANES(g, dy + k);
        LOAD_LANES(v, x + k);
        a1 += g;
        a2 += g * (v - m);
    }
    double t1 = lanes_total(&a1), t2 = lanes_total(&a2);
    for (; k < n; k++) {
        t1 += dy[k];
        t2 += (double)dy[k] * (x[k] - m);
    }
    *s1 += t1;
    *s2 += t2;
}

/* dx += k1·(dy - k2 - (x - m)·k3) over one plane. */
CNAS_CLONES static void plane_dx(float *restrict dx, const float *restrict dy,
                                 const float *restrict x, int64_t n, float m, float k1, float k2,
                                 float k3)
{
    for (int64_t k = 0; k < n; k++)
        dx[k] += k1 * (dy[k] - k2 - (x[k] - m) * k3);
}

typedef struct bn_ctx {
    float *mean, *invstd;   /* per channel, as used in the forward */
    bool batch_stats;       /* statistics came from the batch (their gradient flows) */
    bool sync;              /* ... of the global batch across ranks (dist.h) */
    double share;           /* then this rank's elements over the global batch's */
} bn_ctx;

/* The backward of global-batch statistics (dist.h). This rank's loss is the mean over
 * its rows, so its dy is the global loss's divided by its share w; the global means of
 * dy and dy·x̂ come from every rank's sums weighted by its share, and this rank's dx is
 * the global one divided by w again: k2 = Σ_r w_r Σ dy / M_local (and k3 alike). γ and
 * β get this rank's sums, reduced with the other parameters' gradients. */
static void bn_backward_sync(cnas_graph *g, cnas_node *n, float *gx, float *gg, float *gb)
{
    cnas_tensor *x = n->in[0], *gamma = n->in[1];
    bn_ctx *c = n->ctx;
    int64_t N = x->shape[0], C = x->shape[1], hw = x->numel / (N * C);
    double M = (double)(N * hw);
    const float *gy = n->out->grad;
    double *sums = cnas_graph_alloc(g, (size_t)(4 * C) * sizeof(double));
    if (!sums)
        return;
#pragma omp parallel for schedule(static)
    for (int64_t ch = 0; ch < C; ch++) {
        double sum_dy = 0.0, sum_dy_xc = 0.0;
        for (int64_t b = 0; b < N; b++)
            plane_dy_sums(gy + (b * C + ch) * hw, x->data + (b * C + ch) * hw, hw, c->mean[ch],
                          &sum_dy, &sum_dy_xc);
        sums[2 * C + 2 * ch] = sum_dy;
        sums[2 * C + 2 * ch + 1] = sum_dy_xc;
        sums[2 * ch] = c->share * sum_dy;
        sums[2 * ch + 1] = c->share * sum_dy_xc;
    }
    cnas_error e;
    if (cnas_dist_allreduce_f64(sums, 2 * C, &e)) {
        cnas_graph_fail(g, e.code, "batch_norm backward: %s", e.msg);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t ch = 0; ch < C; ch++) {
        double inv = c->invstd[ch];
        if (gg)
            gg[ch] += (float)(sums[2 * C + 2 * ch + 1] * inv);
        if (gb)
            gb[ch] += (float)sums[2 * C + 2 * ch];
        if (!gx)
            continue;
        double gam = gamma ? gamma->data[ch] : 1.0;
        float k1 = (float)(gam * inv);
        float k2 = (float)(sums[2 * ch] / M);
        float k3 = (float)(sums[2 * ch + 1] * inv / M * inv);
        for (int64_t b = 0; b < N; b++)
            plane_dx(gx + (b * C + ch) * hw, gy + (b * C + ch) * hw, x->data + (b * C + ch) * hw,
                     hw, c->mean[ch], k1, k2, k3);
    }
}

static void bn_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    bn_ctx *c = n->ctx;
    int64_t N = x->shape[0], C = x->shape[1], hw = x->numel / (N * C);
    double M = (double)(N * hw);
    const float *gy = n->out->grad;
    float *gx = NULL, *gg = NULL, *gb = NULL;
    if (cnas_tensor_requires_grad(x) && !(gx = cnas_graph_grad(g, x)))
        return;
    if (gamma && cnas_tensor_requires_grad(gamma) && !(gg = cnas_graph_grad(g, gamma)))
        return;
    if (beta && cnas_tensor_requires_grad(beta) && !(gb = cnas_graph_grad(g, beta)))
        return;
    if (c->sync) {
        bn_backward_sync(g, n, gx, gg, gb);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t ch = 0; ch < C; ch++) {
        float mean = c->mean[ch];
        double inv = c->invstd[ch];
        double sum_dy = 0.0, sum_dy_xc = 0.0;
        for (int64_t b = 0; b < N; b++)
            plane_dy_sums(gy + (b * C + ch) * hw, x->data + (b * C + ch) * hw, hw, mean, &sum_dy,
                          &sum_dy_xc);
        double sum_dy_xhat = sum_dy_xc * inv;
        if (gg)
            gg[ch] += (float)sum_dy_xhat;
        if (gb)
            gb[ch] += (float)sum_dy;
        if (!gx)
            continue;
        double gam = gamma ? gamma->data[ch] : 1.0;
        /* batch statistics: dx = γ/σ·(dy - mean(dy) - x̂·mean(dy·x̂)); running ones: γ/σ·dy */
        float k1 = (float)(gam * inv);
        float k2 = c->batch_stats ? (float)(sum_dy / M) : 0.0f;
        float k3 = c->batch_stats ? (float)(sum_dy_xhat / M * inv) : 0.0f;
        for (int64_t b = 0; b < N; b++)
            plane_dx(gx + (b * C + ch) * hw, gy + (b * C + ch) * hw, x->data + (b * C + ch) * hw,
                     hw, mean, k1, k2, k3);
    }
}

cnas_tensor *cnas_batch_norm(cnas_graph *g, cnas_tensor *x, cnas_tensor *gamma, cnas_tensor *beta,
                             cnas_tensor *running_mean, cnas_tensor *running_var,
                             const cnas_batch_norm_params *p)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    gamma = cnas_graph_param(g, gamma); /* bound parameters (graph.h) */
    beta = cnas_graph_param(g, beta);
    char s1[CNAS_SHAPE_STR_MAX], s2[CNAS_SHAPE_STR_MAX];
    if (x->ndim != 4 && x->ndim != 2)
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "batch_norm: input %s, expected [N, C, H, W] "
                               "or [N, C]", cnas_shape_str(x, s1, sizeof s1));
    int64_t N = x->shape[0], C = x->shape[1], hw = x->numel / (N * C);
    cnas_tensor *per_channel[4] = {gamma, beta, running_mean, running_var};
    static const char *const names[4] = {"weight", "bias", "running mean", "running var"};
    for (int i = 0; i < 4; i++)
        if (per_channel[i] && per_channel[i]->numel != C)
            return cnas_graph_fail(g, CNAS_ERR_SHAPE, "batch_norm: %s %s for input %s with %lld "
                                   "channels", names[i], cnas_shape_str(per_channel[i], s2, sizeof s2),
                                   cnas_shape_str(x, s1, sizeof s1), (long long)C);
    if ((gamma == NULL) != (beta == NULL) || (running_mean == NULL) != (running_var == NULL))
        return cnas_graph_fail(g, CNAS_ERR_INVALID, "batch_norm: weight and bias (and running "
                               "mean and var) come in pairs");
    if (p && (!(p->momentum >= 0.0f && p->momentum <= 1.0f) || !(p->eps >= 0.0f)))
        return cnas_graph_fail(g, CNAS_ERR_INVALID, "batch_norm: momentum %g and eps %g; expected "
                               "momentum in [0, 1] and eps >= 0 (0 picks 0.1 and 1e-5)",
                               (double)p->momentum, (double)p->eps);
    float momentum = p && p->momentum > 0.0f ? p->momentum : 0.1f;
    float eps = p && p->eps > 0.0f ? p->eps : 1e-5f;
    bool training = p && p->training;
    bool batch_stats = training || !running_mean;
    if (batch_stats && N * hw < 2 && training)
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "batch_norm: training needs more than one value "
                               "per channel, input %s", cnas_shape_str(x, s1, sizeof s1));
    cnas_tensor *y = cnas_graph_tensor_like(g, x);
    float *mean = cnas_graph_alloc(g, (size_t)C * sizeof(float));
    float *invstd = cnas_graph_alloc(g, (size_t)C * sizeof(float));
    if (!y || !mean || !invstd)
        return NULL;
    /* Data parallel (dist.h): the statistics of the global batch, from every rank's
     * sums (raw moments in double), so all ranks normalise alike and keep the same
     * running statistics. */
    bool sync = batch_stats && training && cnas_dist_batch_stats_synced();
    double *gsum = NULL;
    if (sync) {
        if (!(gsum = cnas_graph_alloc(g, (size_t)(2 * C + 1) * sizeof(double))))
            return NULL;
#pragma omp parallel for schedule(static)
        for (int64_t ch = 0; ch < C; ch++) {
            double s1 = 0.0, s2 = 0.0;
            for (int64_t b = 0; b < N; b++)
                plane_moments(x->data + (b * C + ch) * hw, hw, 0.0f, &s1, &s2);
            gsum[2 * ch] = s1;
            gsum[2 * ch + 1] = s2;
        }
        gsum[2 * C] = (double)(N * hw);
        cnas_error e;
        if (cnas_dist_allreduce_f64(gsum, 2 * C + 1, &e))
            return cnas_graph_fail(g, e.code, "batch_norm: %s", e.msg);
    }
#pragma omp parallel for schedule(static)
    for (int64_t ch = 0; ch < C; ch++) {
        double m, var;
        if (batch_stats) {
            double s1 = 0.0, s2 = 0.0, M = (double)(N * hw);
            float sh = x->data[ch * hw];
            if (sync) {
                s1 = gsum[2 * ch];
                s2 = gsum[2 * ch + 1];
                M = gsum[2 * C];
                sh = 0.0f;
            } else {
                for (int64_t b = 0; b < N; b++)
                    plane_moments(x->data + (b * C + ch) * hw, hw, sh, &s1, &s2);
            }
            double dmean = s1 / M;
            m = (double)sh + dmean;
            var = s2 / M - dmean * dmean;
            if (var < 0.0)
                var = 0.0;
            if (training && running_mean && !cnas_graph_replaying(g)) {
                double unbiased = M > 1.0 ? var * M / (M - 1.0) : var;
                running_mean->data[ch] = (float)((1.0 - momentum) * running_mean->data[ch] + momentum * m);
                running_var->data[ch] = (float)((1.0 - momentum) * running_var->data[ch] + momentum * unbiased);
            }
        } else {
            m = running_mean->data[ch];
            var = running_var->data[ch];
        }
        double inv = 1.0 / sqrt(var + eps);
        mean[ch] = (float)m;
        invstd[ch] = (float)inv;
        float a = (float)(inv * (gamma ? gamma->data[ch] : 1.0f));
        float bsh = (float)((beta ? beta->data[ch] : 0.0f) - m * inv * (gamma ? gamma->data[ch] : 1.0f));
        for (int64_t b = 0; b < N; b++) {
            const float *xp = x->data + (b * C + ch) * hw;
            float *yp = y->data + (b * C + ch) * hw;
            for (int64_t k = 0; k < hw; k++)
                yp[k] = a * xp[k] + bsh;
        }
    }
    cnas_tensor *in[3] = {x, gamma, beta};
    if (cnas_graph_should_record(g, 3, in)) {
        cnas_node *n = cnas_graph_record(g, "batch_norm", y, 3, in, bn_backward, sizeof(bn_ctx));
        if (!n)
            return NULL;
        bn_ctx *c = n->ctx;
        c->mean = mean;
        c->invstd = invstd;
        c->batch_stats = batch_stats;
        c->sync = sync;
        c->share = sync ? (double)(N * hw) / gsum[2 * C] : 1.0;
    }
    return y;
}
