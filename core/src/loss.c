/* Probabilities and losses over the last dimension of [K] or [N, K] tensors.
 * Row-wise work is parallel over rows; the batch means are summed in row order. */
#include <cnas/ops.h>

#include <math.h>
#include <string.h>

static bool rows_of(cnas_graph *g, const char *op, const cnas_tensor *x, int64_t *rows, int64_t *k)
{
    if (x->ndim > 2) {
        char s[CNAS_SHAPE_STR_MAX];
        cnas_graph_fail(g, CNAS_ERR_SHAPE, "%s: input %s, expected [K] or [N, K]", op,
                        cnas_shape_str(x, s, sizeof s));
        return false;
    }
    *k = x->shape[x->ndim - 1];
    *rows = x->ndim == 2 ? x->shape[0] : 1;
    return true;
}

static void softmax_row(const float *x, float *y, int64_t k, bool log_space)
{
    float m = x[0];
    for (int64_t j = 1; j < k; j++)
        m = x[j] > m ? x[j] : m;
    double s = 0.0;
    for (int64_t j = 0; j < k; j++)
        s += exp((double)(x[j] - m));
    double ls = log(s);
    for (int64_t j = 0; j < k; j++)
        y[j] = log_space ? (float)((double)(x[j] - m) - ls) : (float)(exp((double)(x[j] - m)) / s);
}

/* dx = y ⊙ (dy - Σ dy·y) for softmax; dx = dy - softmax·Σ dy for log-softmax. */
static void softmax_backward_impl(cnas_graph *g, cnas_node *n, bool log_space)
{
    cnas_tensor *x = n->in[0];
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    int64_t k = x->shape[x->ndim - 1], rows = x->numel / k;
    const float *y = n->out->data, *gy = n->out->grad;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * k, *gr = gy + r * k;
        float *xr = gx + r * k;
        double dot = 0.0;
        if (log_space) {
            for (int64_t j = 0; j < k; j++)
                dot += gr[j];
            for (int64_t j = 0; j < k; j++)
                xr[j] += (float)(gr[j] - exp((double)yr[j]) * dot);
        } else {
            for (int64_t j = 0; j < k; j++)
                dot += (double)gr[j] * yr[j];
            for (int64_t j = 0; j < k; j++)
                xr[j] += (float)(yr[j] * (gr[j] - dot));
        }
    }
}

static void softmax_backward(cnas_graph *g, cnas_node *n) { softmax_backward_impl(g, n, false); }
static void log_softmax_backward(cnas_graph *g, cnas_node *n) { softmax_backward_impl(g, n, true); }

static cnas_tensor *softmax_impl(cnas_graph *g, cnas_tensor *x, bool log_space)
{
    const char *op = log_space ? "log_softmax" : "softmax";
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    int64_t rows, k;
    if (!rows_of(g, op, x, &rows, &k))
        return NULL;
    cnas_tensor *y = cnas_graph_tensor_like(g, x);
    if (!y)
        return NULL;
#pragma omp parallel for schedule(static) if (rows > 64)
    for (int64_t r = 0; r < rows; r++)
        softmax_row(x->data + r * k, y->data + r * k, k, log_space);
    if (cnas_graph_should_record(g, 1, &x) &&
        !cnas_graph_record(g, op, y, 1, &x, log_space ? log_softmax_backward : softmax_backward, 0))
        return NULL;
    return y;
}

cnas_tensor *cnas_softmax(cnas_graph *g, cnas_tensor *x) { return softmax_impl(g, x, false); }
cnas_tensor *cnas_log_softmax(cnas_graph *g, cnas_tensor *x) { return softmax_impl(g, x, true); }

/* ---- cross-entropy -------------------------------------------------------------------- */

typedef struct ce_ctx {
    float *prob;       /* softmax of the logits, saved for the backward */
    int32_t *labels;
    float smoothing;
} ce_ctx;

static void ce_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0];
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    ce_ctx *c = n->ctx;
    int64_t N = x->shape[0], K = x->shape[1];
    float go = n->out->grad[0] / (float)N;
    float off = c->smoothing / (float)K, on = 1.0f - c->smoothing + off;
#pragma omp parallel for schedule(static) if (N > 64)
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < K; j++)
            gx[i * K + j] += go * (c->prob[i * K + j] - (j == c->labels[i] ? on : off));
}

cnas_tensor *cnas_cross_entropy(cnas_graph *g, cnas_tensor *logits, const int32_t *labels,
                                float label_smoothing)
{
    if (cnas_graph_bad_inputs(g, 1, &logits))
        return NULL;
    char s[CNAS_SHAPE_STR_MAX];
    if (logits->ndim != 2)
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "cross_entropy: logits %s, expected [N, K]",
                               cnas_shape_str(logits, s, sizeof s));
    if (!labels)
        return cnas_graph_fail(g, CNAS_ERR_INVALID, "cross_entropy: no labels");
    if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f))
        return cnas_graph_fail(g, CNAS_ERR_INVALID, "cross_entropy: label smoothing %g, expected "
                               "0 <= eps < 1", (double)label_smoothing);
    int64_t N = logits->shape[0], K = logits->shape[1];
    for (int64_t i = 0; i < N; i++)
        if (labels[i] < 0 || labels[i] >= K)
            return cnas_graph_fail(g, CNAS_ERR_INVALID, "cross_entropy: label %lld is %d, expected "
                                   "0 to %lld", (long long)i, labels[i], (long long)(K - 1));
    float *logp = cnas_graph_alloc(g, (size_t)(N * K) * sizeof(float));
    cnas_tensor *y = cnas_graph_tensor(g, 1, (int64_t[]){1});
    if (!logp || !y)
        return NULL;
    float off = label_smoothing / (float)K, on = 1.0f - label_smoothing + off;
    double total = 0.0;
    for (int64_t i = 0; i < N; i++) {
        softmax_row(logits->data + i * K, logp + i * K, K, true);
        double li = 0.0;
        for (int64_t j = 0; j < K; j++)
            li -= (j == labels[i] ? on : off) * (double)logp[i * K + j];
        total += li;
    }
    y->data[0] = (float)(total / (double)N);
    if (cnas_graph_should_record(g, 1, &logits)) {
        cnas_node *n = cnas_graph_record(g, "cross_entropy", y, 1, &logits, ce_backward, sizeof(ce_ctx));
        int32_t *lab = n ? cnas_graph_alloc(g, (size_t)N * sizeof *lab) : NULL;
        if (!lab)
            return NULL;
        memcpy(lab, labels, (size_t)N * sizeof *lab);
        for (int64_t i = 0; i < N * K; i++)
            logp[i] = expf(logp[i]);
        ce_ctx *c = n->ctx;
        c->prob = logp;
        c->labels = lab;
        c->smoothing = label_smoothing;
    }
    return y;
}

/* ---- mean squared error ---------------------------------------------------------------- */

static void mse_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0], *t = n->in[1];
    float s = 2.0f * n->out->grad[0] / (float)x->numel;
    for (int which = 0; which < 2; which++) {
        cnas_tensor *v = n->in[which];
        if (!cnas_tensor_requires_grad(v))
            continue;
        float *gv = cnas_graph_grad(g, v);
        if (!gv)
            return;
        float sign = which == 0 ? s : -s;
        for (int64_t i = 0; i < x->numel; i++)
            gv[i] += sign * (x->data[i] - t->data[i]);
    }
}

cnas_tensor *cnas_mse(cnas_graph *g, cnas_tensor *x, cnas_tensor *target)
{
    cnas_tensor *in[2] = {x, target};
    if (cnas_graph_bad_inputs(g, 2, in))
        return NULL;
    if (!cnas_tensor_same_shape(x, target)) {
        char a[CNAS_SHAPE_STR_MAX], b[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "mse: input %s and target %s differ",
                               cnas_shape_str(x, a, sizeof a), cnas_shape_str(target, b, sizeof b));
    }
    cnas_tensor *y = cnas_graph_tensor(g, 1, (int64_t[]){1});
    if (!y)
        return NULL;
    double s = 0.0;
    for (int64_t i = 0; i < x->numel; i++) {
        double d = (double)x->data[i] - target->data[i];
        s += d * d;
    }
    y->data[0] = (float)(s / (double)x->numel);
    if (cnas_graph_should_record(g, 2, in) && !cnas_graph_record(g, "mse", y, 2, in, mse_backward, 0))
        return NULL;
    return y;
}

/* ---- Gumbel-softmax --------------------------------------------------------------------- */

typedef struct gumbel_ctx {
    float *soft;
    float tau;
} gumbel_ctx;

static void gumbel_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0];
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    gumbel_ctx *c = n->ctx;
    int64_t k = x->shape[x->ndim - 1], rows = x->numel / k;
    const float *gy = n->out->grad;
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = c->soft + r * k, *gr = gy + r * k;
        double dot = 0.0;
        for (int64_t j = 0; j < k; j++)
            dot += (double)gr[j] * yr[j];
        for (int64_t j = 0; j < k; j++)
            gx[r * k + j] += (float)(yr[j] * (gr[j] - dot) / c->tau);
    }
}

cnas_tensor *cnas_gumbel_softmax(cnas_graph *g, cnas_tensor *logits, float tau, bool hard,
                                 cnas_rng *rng)
{
    if (cnas_graph_bad_inputs(g, 1, &logits))
        return NULL;
    int64_t rows, k;
    if (!rows_of(g, "gumbel_softmax", logits, &rows, &k))
        return NULL;
    if (!(tau > 0.0f) || !rng)
        return cnas_graph_fail(g, CNAS_ERR_INVALID, "gumbel_softmax: temperature %g and rng %s; "
                               "expected tau > 0 and an rng", (double)tau, rng ? "given" : "NULL");
    cnas_tensor *y = cnas_graph_tensor_like(g, logits);
    float *soft = cnas_graph_alloc(g, cnas_tensor_bytes(logits));
    float *z = cnas_graph_alloc(g, (size_t)k * sizeof(float));
    if (!y || !soft || !z)
        return NULL;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < k; j++)
            z[j] = (logits->data[r * k + j] + cnas_rng_gumbel(rng)) / tau;
        softmax_row(z, soft + r * k, k, false);
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (soft[r * k + j] > soft[r * k + best])
                best = j;
        for (int64_t j = 0; j < k; j++)
            y->data[r * k + j] = hard ? (j == best ? 1.0f : 0.0f) : soft[r * k + j];
    }
    if (cnas_graph_should_record(g, 1, &logits)) {
        cnas_node *n = cnas_graph_record(g, "gumbel_softmax", y, 1, &logits, gumbel_backward,
                                         sizeof(gumbel_ctx));
        if (!n)
            return NULL;
        gumbel_ctx *c = n->ctx;
        c->soft = soft;
        c->tau = tau;
    }
    return y;
}
