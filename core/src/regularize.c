/* Dropout and drop-path. Masks are drawn sequentially from the caller's stream, so
 * the same seed gives the same masks whatever the thread count. When inactive they
 * return their input itself (no copy, no node). */
#include <cnas/ops.h>

typedef struct mask_ctx {
    float *mask;        /* per element (dropout) or per sample (drop-path), already scaled */
    int64_t per_sample; /* elements per mask entry */
} mask_ctx;

static void mask_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0];
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    mask_ctx *c = n->ctx;
    const float *gy = n->out->grad;
    int64_t len = x->numel, ps = c->per_sample;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < len; i++)
        gx[i] += gy[i] * c->mask[i / ps];
}

static cnas_tensor *apply_mask(cnas_graph *g, const char *op, cnas_tensor *x, float p, bool training,
                               cnas_rng *rng, int64_t per_sample)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    if (!(p >= 0.0f && p < 1.0f))
        return cnas_graph_fail(g, CNAS_ERR_INVALID, "%s: probability %g, expected 0 <= p < 1", op,
                               (double)p);
    if (!training || p == 0.0f)
        return x;
    if (!rng)
        return cnas_graph_fail(g, CNAS_ERR_INVALID, "%s: no random stream", op);
    int64_t n_mask = x->numel / per_sample;
    float *mask = cnas_graph_alloc(g, (size_t)n_mask * sizeof(float));
    cnas_tensor *y = cnas_graph_tensor_like(g, x);
    if (!mask || !y)
        return NULL;
    float keep = 1.0f - p;
    for (int64_t i = 0; i < n_mask; i++)
        mask[i] = cnas_rng_uniform(rng) < keep ? 1.0f / keep : 0.0f;
    int64_t len = x->numel;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < len; i++)
        y->data[i] = x->data[i] * mask[i / per_sample];
    if (cnas_graph_should_record(g, 1, &x)) {
        cnas_node *n = cnas_graph_record(g, op, y, 1, &x, mask_backward, sizeof(mask_ctx));
        if (!n)
            return NULL;
        *(mask_ctx *)n->ctx = (mask_ctx){mask, per_sample};
    }
    return y;
}

cnas_tensor *cnas_dropout(cnas_graph *g, cnas_tensor *x, float p, bool training, cnas_rng *rng)
{
    return apply_mask(g, "dropout", x, p, training, rng, 1);
}

cnas_tensor *cnas_drop_path(cnas_graph *g, cnas_tensor *x, float p, bool training, cnas_rng *rng)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    return apply_mask(g, "drop_path", x, p, training, rng, x->numel / x->shape[0]);
}
