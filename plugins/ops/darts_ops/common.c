/* What every DARTS op shares: argument checks, owned tensors, batch norm, FLOPs. */
#include "darts_ops.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* cnas_op_args as ABI 1.0 defines it: the caller must know every field we read. */
#define DOP_ARGS_V1_SIZE (offsetof(cnas_op_args, init_rng) + sizeof(cnas_rng *))

cnas_status dop_fail(cnas_error *err, dop_op *o, const char *fmt, ...)
{
    char msg[CNAS_ERROR_MSG_MAX - 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cnas_error_set(err, CNAS_ERR_INVALID, "%s: %s", o->op, msg);
}

cnas_status dop_new(const char *op, const cnas_op_args *a, dop_op **out, cnas_error *err)
{
    *out = NULL;
    if (!a)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: no create arguments", op);
    if (a->size < DOP_ARGS_V1_SIZE)
        return cnas_error_set(err, CNAS_ERR_INVALID,
                              "%s: create arguments are %u bytes, expected at least %zu "
                              "(cnas_op_args of ABI 1.0)", op, (unsigned)a->size,
                              (size_t)DOP_ARGS_V1_SIZE);
    if (a->c_in < 1 || a->c_out < 1)
        return cnas_error_set(err, CNAS_ERR_INVALID,
                              "%s: C_in = %d, C_out = %d; both must be at least 1", op,
                              (int)a->c_in, (int)a->c_out);
    if (a->stride != 1 && a->stride != 2)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: stride %d, expected 1 or 2", op,
                              (int)a->stride);
    dop_op *o = calloc(1, sizeof *o);
    if (!o)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "%s: out of memory", op);
    o->op = op;
    o->c_in = a->c_in;
    o->c_out = a->c_out;
    o->stride = a->stride;
    o->affine = a->affine;
    o->track = a->track_running_stats;
    o->dilation = 1;
    *out = o;
    return CNAS_OK;
}

static cnas_tensor *own(dop_op *o, const char *name, int ndim, const int64_t *shape,
                        cnas_tensor_role role, cnas_error *err)
{
    if (o->n_tensors == DOP_MAX_TENSORS) {
        cnas_error_set(err, CNAS_ERR_INTERNAL, "%s: more than %d tensors", o->op,
                       DOP_MAX_TENSORS);
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

cnas_status dop_conv(dop_op *o, const cnas_op_args *a, const char *name, int64_t c_out,
                     int64_t c_in_per_group, int k, cnas_tensor **w, cnas_error *err)
{
    if (!a->init_rng)
        return dop_fail(err, o, "no init_rng in the create arguments; it is needed to "
                        "initialise %s", name);
    if (!(*w = own(o, name, CNAS_SHAPE(c_out, c_in_per_group, k, k), CNAS_ROLE_PARAM, err)))
        return err ? err->code : CNAS_ERR_NOMEM;
    cnas_init_default_weight(*w, a->init_rng);
    return CNAS_OK;
}

cnas_status dop_bn_new(dop_op *o, const char *prefix, int64_t c, bool affine, dop_bn *bn,
                       cnas_error *err)
{
    char n[DOP_NAME_MAX];
    *bn = (dop_bn){0};
    if (affine) {
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

void dop_destroy(void *self)
{
    dop_op *o = self;
    if (!o)
        return;
    for (int i = 0; i < o->n_tensors; i++)
        cnas_tensor_free(o->tensors[i].tensor);
    free(o);
}

int dop_tensors(void *self, cnas_named_tensor *out, int max)
{
    dop_op *o = self;
    for (int i = 0; out && i < o->n_tensors && i < max; i++)
        out[i] = o->tensors[i];
    return o->n_tensors;
}

bool dop_training(const cnas_op_forward_ctx *ctx)
{
    return ctx && ctx->training;
}

bool dop_check_input(const dop_op *o, cnas_graph *g, cnas_tensor *x)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return false;
    if (x->ndim != 4 || x->shape[1] != o->c_in) {
        char s[CNAS_SHAPE_STR_MAX];
        cnas_graph_fail(g, CNAS_ERR_SHAPE, "%s: input %s, expected [N, %d, H, W] (C_in = %d)",
                        o->op, cnas_shape_str(x, s, sizeof s), o->c_in, o->c_in);
        return false;
    }
    return true;
}

cnas_tensor *dop_bn_forward(cnas_graph *g, cnas_tensor *x, const dop_bn *bn, bool training)
{
    cnas_batch_norm_params p = {.training = training, .momentum = 0.1f, .eps = 1e-5f};
    return cnas_batch_norm(g, x, bn->gamma, bn->beta, bn->mean, bn->var, &p);
}

bool dop_flops_input(const dop_op *o, const int64_t in[4], int64_t out[4])
{
    for (int i = 0; i < 4; i++)
        out[i] = 0;
    return in && in[0] >= 1 && in[1] == o->c_in && in[2] >= 1 && in[3] >= 1;
}

int64_t dop_conv_flops(const int64_t in[4], int64_t c_out, int groups, int k, int stride, int pad,
                       int dilation, int64_t out[4])
{
    int64_t ho = cnas_conv_out_size(in[2], k, stride, pad, dilation);
    int64_t wo = cnas_conv_out_size(in[3], k, stride, pad, dilation);
    if (ho < 1 || wo < 1 || in[1] % groups)
        return -1;
    out[0] = in[0];
    out[1] = c_out;
    out[2] = ho;
    out[3] = wo;
    return in[0] * c_out * ho * wo * (in[1] / groups) * k * k;
}

/* Σ over output positions of the in-bounds window length along one axis. */
static int64_t window_sum(int64_t n, int k, int stride, int pad, int64_t n_out)
{
    int64_t s = 0;
    for (int64_t o = 0; o < n_out; o++) {
        int64_t lo = o * stride - pad, hi = lo + k;
        s += (hi < n ? hi : n) - (lo > 0 ? lo : 0);
    }
    return s;
}

int64_t dop_pool_flops(const int64_t in[4], int k, int stride, int pad, int64_t out[4])
{
    int64_t ho = cnas_conv_out_size(in[2], k, stride, pad, 1);
    int64_t wo = cnas_conv_out_size(in[3], k, stride, pad, 1);
    if (ho < 1 || wo < 1)
        return -1;
    out[0] = in[0];
    out[1] = in[1];
    out[2] = ho;
    out[3] = wo;
    return in[0] * in[1] * window_sum(in[2], k, stride, pad, ho) *
           window_sum(in[3], k, stride, pad, wo);
}
