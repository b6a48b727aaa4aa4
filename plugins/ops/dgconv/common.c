/* What the DGConv ops share: argument checks, owned tensors, the gated conv, BN, FLOPs. */
#include "dgconv_ops.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cnas_op_args as ABI 1.0 defines it: the caller must know every field we read. */
#define DG_ARGS_V1_SIZE (offsetof(cnas_op_args, init_rng) + sizeof(cnas_rng *))

/* The re-implementation starts every gate at ±1e-8: a sign, and no preference. */
#define DG_GATE_INIT 1e-8f

cnas_status dg_new(const char *op, const cnas_op_args *a, const cnas_params *p, dg_op **out,
                   cnas_error *err)
{
    *out = NULL;
    if (!a)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: no create arguments", op);
    if (a->size < DG_ARGS_V1_SIZE)
        return cnas_error_set(err, CNAS_ERR_INVALID,
                              "%s: create arguments are %u bytes, expected at least %zu "
                              "(cnas_op_args of ABI 1.0)", op, (unsigned)a->size,
                              (size_t)DG_ARGS_V1_SIZE);
    if (a->c_in < 1 || a->c_out < 1)
        return cnas_error_set(err, CNAS_ERR_INVALID,
                              "%s: C_in = %d, C_out = %d; both must be at least 1", op,
                              (int)a->c_in, (int)a->c_out);
    if (a->stride != 1 && a->stride != 2)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: stride %d, expected 1 or 2", op,
                              (int)a->stride);
    if (!a->init_rng)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: no init_rng in the create arguments; "
                              "it is needed to initialise the weights and gates", op);
    const char *init = p ? cnas_params_str(p, "gate_init") : "random";
    dg_gate_init gi;
    if (!init || strcmp(init, "random") == 0)
        gi = DG_INIT_RANDOM;
    else if (strcmp(init, "depthwise") == 0)
        gi = DG_INIT_DEPTHWISE;
    else if (strcmp(init, "dense") == 0)
        gi = DG_INIT_DENSE;
    else
        return cnas_error_set(err, CNAS_ERR_CONFIG, "%s: key 'gate_init' = '%s', expected "
                              "random, depthwise or dense", op, init);
    dg_op *o = calloc(1, sizeof *o);
    if (!o)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "%s: out of memory", op);
    o->op = op;
    o->c_in = a->c_in;
    o->c_out = a->c_out;
    o->stride = a->stride;
    o->affine = a->affine;
    o->track = a->track_running_stats;
    o->init = gi;
    *out = o;
    return CNAS_OK;
}

cnas_status dg_check_pow2(const dg_op *o, const char *what, int c, cnas_error *err)
{
    if (cnas_dgconv_log2(c) < 0)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: %s C = %d is not a power of two; the "
                              "DGConv mask is a Kronecker product of log2(C) 2x2 factors, so C "
                              "must be 2^K with K = 1..%d", o->op, what, c, CNAS_DGCONV_MAX_K);
    return CNAS_OK;
}

static cnas_tensor *own(dg_op *o, const char *name, int ndim, const int64_t *shape,
                        cnas_tensor_role role, cnas_error *err)
{
    if (o->n_tensors == DG_MAX_TENSORS) {
        cnas_error_set(err, CNAS_ERR_INTERNAL, "%s: more than %d tensors", o->op, DG_MAX_TENSORS);
        return NULL;
    }
    cnas_tensor *t = cnas_tensor_new(ndim, shape, err);
    if (!t) {
        cnas_error_prefix(err, "%s: tensor %s", o->op, name);
        return NULL;
    }
    int i = o->n_tensors++;
    snprintf(o->names[i], sizeof o->names[i], "%s", name);
    cnas_tensor_set_name(t, name);
    if (role == CNAS_ROLE_PARAM)
        cnas_tensor_set_requires_grad(t, true);
    o->tensors[i] = (cnas_named_tensor){o->names[i], t, role};
    return t;
}

cnas_status dg_conv_new(dg_op *o, const cnas_op_args *a, const char *prefix, int c_in, int c_out,
                        int k, int stride, bool dg, dg_conv *c, cnas_error *err)
{
    char n[DG_NAME_MAX];
    *c = (dg_conv){c_in, c_out, k, stride, NULL, NULL};
    snprintf(n, sizeof n, "%s.weight", prefix);
    if (!(c->w = own(o, n, CNAS_SHAPE(c_out, c_in, k, k), CNAS_ROLE_PARAM, err)))
        return err ? err->code : CNAS_ERR_NOMEM;
    cnas_init_default_weight(c->w, a->init_rng);
    if (!dg)
        return CNAS_OK;
    int K = cnas_dgconv_log2(c_out);
    if (c_in != c_out || K < 0)
        return cnas_error_set(err, CNAS_ERR_INTERNAL, "%s: DGConv %s is %d -> %d", o->op, prefix,
                              c_in, c_out);
    snprintf(n, sizeof n, "%s." CNAS_DGCONV_GATE_NAME, prefix);
    if (!(c->gate = own(o, n, CNAS_SHAPE(K), CNAS_ROLE_PARAM, err)))
        return err ? err->code : CNAS_ERR_NOMEM;
    for (int i = 0; i < K; i++) {
        float s = o->init == DG_INIT_DENSE       ? 1.0f
                  : o->init == DG_INIT_DEPTHWISE ? -1.0f
                  : cnas_rng_uniform(a->init_rng) < 0.5f ? -1.0f : 1.0f;
        c->gate->data[i] = s * DG_GATE_INIT;
    }
    return CNAS_OK;
}

cnas_status dg_bn_new(dg_op *o, const char *prefix, int c, dg_bn *bn, cnas_error *err)
{
    char n[DG_NAME_MAX];
    *bn = (dg_bn){0};
    if (o->affine) {
        snprintf(n, sizeof n, "%s.weight", prefix);
        if (!(bn->gamma = own(o, n, CNAS_SHAPE(c), CNAS_ROLE_PARAM, err)))
            return err ? err->code : CNAS_ERR_NOMEM;
        cnas_tensor_fill(bn->gamma, 1.0f);
        snprintf(n, sizeof n, "%s.bias", prefix);
        if (!(bn->beta = own(o, n, CNAS_SHAPE(c), CNAS_ROLE_PARAM, err)))
            return err ? err->code : CNAS_ERR_NOMEM;
    }
    if (o->track) {
        snprintf(n, sizeof n, "%s.running_mean", prefix);
        if (!(bn->mean = own(o, n, CNAS_SHAPE(c), CNAS_ROLE_BUFFER, err)))
            return err ? err->code : CNAS_ERR_NOMEM;
        snprintf(n, sizeof n, "%s.running_var", prefix);
        if (!(bn->var = own(o, n, CNAS_SHAPE(c), CNAS_ROLE_BUFFER, err)))
            return err ? err->code : CNAS_ERR_NOMEM;
        cnas_tensor_fill(bn->var, 1.0f);
    }
    return CNAS_OK;
}

void dg_destroy(void *self)
{
    dg_op *o = self;
    if (!o)
        return;
    for (int i = 0; i < o->n_tensors; i++)
        cnas_tensor_free(o->tensors[i].tensor);
    free(o);
}

int dg_tensors(void *self, cnas_named_tensor *out, int max)
{
    dg_op *o = self;
    for (int i = 0; out && i < o->n_tensors && i < max; i++)
        out[i] = o->tensors[i];
    return o->n_tensors;
}

bool dg_check_input(const dg_op *o, cnas_graph *g, cnas_tensor *x)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return false;
    if (x->ndim != 4 || x->shape[1] != o->c_in || x->shape[2] < 1 || x->shape[3] < 1) {
        char s[CNAS_SHAPE_STR_MAX];
        cnas_graph_fail(g, CNAS_ERR_SHAPE, "%s: input %s, expected [N, %d, H, W] (C_in = %d)",
                        o->op, cnas_shape_str(x, s, sizeof s), o->c_in, o->c_in);
        return false;
    }
    return true;
}

cnas_tensor *dg_conv_forward(cnas_graph *g, cnas_tensor *x, const dg_conv *c)
{
    cnas_conv2d_params p = {.stride_h = c->stride, .stride_w = c->stride, .pad_h = c->k / 2,
                            .pad_w = c->k / 2};
    cnas_tensor *w = c->gate ? cnas_dgconv_weight(g, c->w, c->gate) : c->w;
    return cnas_conv2d(g, x, w, NULL, &p);
}

cnas_tensor *dg_bn_forward(cnas_graph *g, cnas_tensor *x, const dg_bn *bn, bool training)
{
    cnas_batch_norm_params p = {.training = training, .momentum = 0.1f, .eps = 1e-5f};
    return cnas_batch_norm(g, x, bn->gamma, bn->beta, bn->mean, bn->var, &p);
}

int64_t dg_conv_flops(const dg_conv *c, const int64_t in[4], int64_t out[4])
{
    int64_t ho = cnas_conv_out_size(in[2], c->k, c->stride, c->k / 2, 1);
    int64_t wo = cnas_conv_out_size(in[3], c->k, c->stride, c->k / 2, 1);
    if (in[0] < 1 || in[1] != c->c_in || ho < 1 || wo < 1)
        return -1;
    out[0] = in[0];
    out[1] = c->c_out;
    out[2] = ho;
    out[3] = wo;
    int64_t groups = c->gate ? cnas_dgconv_groups(c->gate) : 1;
    return in[0] * c->c_out * ho * wo * (c->c_in / groups) * c->k * c->k;
}
