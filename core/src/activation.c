/* Pointwise activations. Each saves nothing beyond its output (ReLU, sigmoid and
 * tanh derivatives are functions of the output), so backward reads out->data. */
#include <cnas/ops.h>

#include <math.h>

#include "internal.h"

/* Elements per parallel chunk: the chunk loops below are branch-free and vectorised. */
#define CHUNK 4096

CNAS_CLONES static void relu_fwd(float *restrict y, const float *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

CNAS_CLONES static void relu_bwd(float *restrict gx, const float *restrict y,
                                 const float *restrict gy, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        gx[i] += y[i] > 0.0f ? gy[i] : 0.0f;
}

typedef enum { ACT_RELU, ACT_SIGMOID, ACT_TANH } act_kind;

static void act_backward(cnas_graph *g, cnas_node *n, act_kind k)
{
    cnas_tensor *x = n->in[0];
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    const float *y = n->out->data, *gy = n->out->grad;
    int64_t len = x->numel;
    switch (k) {
    case ACT_RELU:
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
        for (int64_t i = 0; i < len; i += CHUNK)
            relu_bwd(gx + i, y + i, gy + i, len - i < CHUNK ? len - i : CHUNK);
        break;
    case ACT_SIGMOID:
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
        for (int64_t i = 0; i < len; i++)
            gx[i] += gy[i] * y[i] * (1.0f - y[i]);
        break;
    case ACT_TANH:
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
        for (int64_t i = 0; i < len; i++)
            gx[i] += gy[i] * (1.0f - y[i] * y[i]);
        break;
    }
}

static void relu_backward(cnas_graph *g, cnas_node *n) { act_backward(g, n, ACT_RELU); }
static void sigmoid_backward(cnas_graph *g, cnas_node *n) { act_backward(g, n, ACT_SIGMOID); }
static void tanh_backward(cnas_graph *g, cnas_node *n) { act_backward(g, n, ACT_TANH); }

static cnas_tensor *activation(cnas_graph *g, cnas_tensor *x, act_kind k)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    cnas_tensor *y = cnas_graph_tensor_like(g, x);
    if (!y)
        return NULL;
    const float *xd = x->data;
    float *yd = y->data;
    int64_t len = x->numel;
    switch (k) {
    case ACT_RELU:
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
        for (int64_t i = 0; i < len; i += CHUNK)
            relu_fwd(yd + i, xd + i, len - i < CHUNK ? len - i : CHUNK);
        break;
    case ACT_SIGMOID:
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
        for (int64_t i = 0; i < len; i++)
            yd[i] = 1.0f / (1.0f + expf(-xd[i]));
        break;
    case ACT_TANH:
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
        for (int64_t i = 0; i < len; i++)
            yd[i] = tanhf(xd[i]);
        break;
    }
    static const char *const names[] = {"relu", "sigmoid", "tanh"};
    static const cnas_backward_fn bw[] = {relu_backward, sigmoid_backward, tanh_backward};
    if (cnas_graph_should_record(g, 1, &x) && !cnas_graph_record(g, names[k], y, 1, &x, bw[k], 0))
        return NULL;
    return y;
}

cnas_tensor *cnas_relu(cnas_graph *g, cnas_tensor *x) { return activation(g, x, ACT_RELU); }
cnas_tensor *cnas_sigmoid(cnas_graph *g, cnas_tensor *x) { return activation(g, x, ACT_SIGMOID); }
cnas_tensor *cnas_tanh(cnas_graph *g, cnas_tensor *x) { return activation(g, x, ACT_TANH); }
