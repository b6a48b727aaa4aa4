/* PyTorch's default initialisation, so published recipes start from the same
 * distribution: Conv2d / Linear reset_parameters() is kaiming_uniform_(a=√5), which
 * works out to U(-1/√fan_in, 1/√fan_in), and the bias U(-1/√fan_in, 1/√fan_in). */
#include <cnas/optim.h>

#include <math.h>

static int64_t fan_in_of(const cnas_tensor *w)
{
    return w->shape[0] > 0 ? w->numel / w->shape[0] : 1;
}

void cnas_init_default_weight(cnas_tensor *w, cnas_rng *rng)
{
    float b = (float)(1.0 / sqrt((double)fan_in_of(w)));
    cnas_rng_fill_uniform(rng, w->data, w->numel, -b, b);
}

void cnas_init_default_bias(cnas_tensor *b, int64_t fan_in, cnas_rng *rng)
{
    float bound = fan_in > 0 ? (float)(1.0 / sqrt((double)fan_in)) : 0.0f;
    cnas_rng_fill_uniform(rng, b->data, b->numel, -bound, bound);
}

void cnas_init_kaiming_normal(cnas_tensor *w, cnas_rng *rng)
{
    /* fan_out = out_channels · receptive field, gain √2 (ReLU). */
    int64_t receptive = w->ndim > 2 ? w->numel / (w->shape[0] * w->shape[1]) : 1;
    double fan_out = (double)w->shape[0] * (double)receptive;
    cnas_rng_fill_normal(rng, w->data, w->numel, 0.0f, (float)(sqrt(2.0) / sqrt(fan_out)));
}
