/* What the DGConv ops share beyond the op kit (cnas/opkit.h): the gate_init key and the
 * gated conv. */
#include "dgconv_ops.h"

#include <stdio.h>
#include <string.h>

/* The re-implementation starts every gate at ±1e-8: a sign, and no preference. */
#define DG_GATE_INIT 1e-8f

static cnas_status gate_init(const char *op, const cnas_params *p, dg_gate_init *gi,
                             cnas_error *err)
{
    const char *init = p ? cnas_params_str(p, "gate_init") : "random";
    if (!init || strcmp(init, "random") == 0)
        *gi = DG_INIT_RANDOM;
    else if (strcmp(init, "depthwise") == 0)
        *gi = DG_INIT_DEPTHWISE;
    else if (strcmp(init, "dense") == 0)
        *gi = DG_INIT_DENSE;
    else
        return cnas_error_set(err, CNAS_ERR_CONFIG, "%s: key 'gate_init' = '%s', expected "
                              "random, depthwise or dense", op, init);
    return CNAS_OK;
}

cnas_status dg_new(const char *op, const cnas_op_args *a, const cnas_params *p, dg_op **out,
                   cnas_error *err)
{
    void *mem;
    *out = NULL;
    cnas_status st = cnas_opkit_new(op, a, sizeof **out, &mem, err);
    if (st)
        return st;
    dg_op *o = mem;
    if ((st = cnas_opkit_require_rng(&o->kit, a, "the weights and gates", err)) ||
        (st = gate_init(op, p, &o->init, err))) {
        cnas_opkit_destroy(o);
        return st;
    }
    *out = o;
    return CNAS_OK;
}

cnas_status dg_check_pow2(const dg_op *o, const char *what, int c, cnas_error *err)
{
    if (cnas_dgconv_log2(c) < 0)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: %s C = %d is not a power of two; the "
                              "DGConv mask is a Kronecker product of log2(C) 2x2 factors, so C "
                              "must be 2^K with K = 1..%d", o->kit.op, what, c,
                              CNAS_DGCONV_MAX_K);
    return CNAS_OK;
}

cnas_status dg_conv_new(dg_op *o, const cnas_op_args *a, const char *prefix, int c_in, int c_out,
                        int k, int stride, bool dg, dg_conv *c, cnas_error *err)
{
    char n[CNAS_OPKIT_NAME_MAX];
    *c = (dg_conv){c_in, c_out, k, stride, NULL, NULL};
    snprintf(n, sizeof n, "%s.weight", prefix);
    cnas_status st = cnas_opkit_conv(&o->kit, a, n, c_out, c_in, k, &c->w, err);
    if (st || !dg)
        return st;
    int K = cnas_dgconv_log2(c_out);
    if (c_in != c_out || K < 0)
        return cnas_error_set(err, CNAS_ERR_INTERNAL, "%s: DGConv %s is %d -> %d", o->kit.op,
                              prefix, c_in, c_out);
    snprintf(n, sizeof n, "%s." CNAS_DGCONV_GATE_NAME, prefix);
    if (!(c->gate = cnas_opkit_add(&o->kit, n, CNAS_SHAPE(K), CNAS_ROLE_PARAM, err)))
        return err ? err->code : CNAS_ERR_NOMEM;
    for (int i = 0; i < K; i++) {
        float s = o->init == DG_INIT_DENSE       ? 1.0f
                  : o->init == DG_INIT_DEPTHWISE ? -1.0f
                  : cnas_rng_uniform(a->init_rng) < 0.5f ? -1.0f : 1.0f;
        c->gate->data[i] = s * DG_GATE_INIT;
    }
    return CNAS_OK;
}

cnas_tensor *dg_conv_forward(cnas_graph *g, cnas_tensor *x, const dg_conv *c)
{
    cnas_conv2d_params p = {.stride_h = c->stride, .stride_w = c->stride, .pad_h = c->k / 2,
                            .pad_w = c->k / 2};
    cnas_tensor *w = c->gate ? cnas_dgconv_weight(g, c->w, c->gate) : c->w;
    return cnas_conv2d(g, x, w, NULL, &p);
}

int64_t dg_conv_flops(const dg_conv *c, const int64_t in[4], int64_t out[4])
{
    if (in[1] != c->c_in)
        return -1;
    int groups = c->gate ? (int)cnas_dgconv_groups(c->gate) : 1;
    return cnas_opkit_conv_flops(in, c->c_out, groups, c->k, c->stride, c->k / 2, 1, out);
}
