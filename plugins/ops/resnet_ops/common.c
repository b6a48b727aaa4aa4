/* What the ResNet ops share: argument checks, owned tensors, batch norm, FLOPs. */
#include "resnet_ops.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* cnas_op_args as ABI 1.0 defines it: the caller must know every field we read. */
#define ROP_ARGS_V1_SIZE (offsetof(cnas_op_args, init_rng) + sizeof(cnas_rng *))

cnas_status rop_new(const char *op, const cnas_op_args *a, rop_op **out, cnas_error *err)
{
    *out = NULL;
    if (!a)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: no create arguments", op);
    if (a->size < ROP_ARGS_V1_SIZE)
        return cnas_error_set(err, CNAS_ERR_INVALID,
                              "%s: create arguments are %u bytes, expected at least %zu "
                              "(cnas_op_args of ABI 1.0)", op, (unsigned)a->size,
                              (size_t)ROP_ARGS_V1_SIZE);
    if (a->c_in < 1 || a->c_out < 1)
        return cnas_error_set(err, CNAS_ERR_INVALID,
                              "%s: C_in = %d, C_out = %d; both must be at least 1", op,
                              (int)a->c_in, (int)a->c_out);
    if (a->stride != 1 && a->stride != 2)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: stride %d, expected 1 or 2", op,
                              (int)a->stride);
    rop_op *o = calloc(1, sizeof *o);
    if (!o)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "%s: out of memory", op);
    o->op = op;
    o->c_in = a->c_in;
    o->c_out = a->c_out;
    o->stride = a->stride;
    o->affine = a->affine;
    o->track = a->track_running_stats;
    *out = o;
    return CNAS_OK;
}

static cnas_tensor *own(rop_op *o, const char *name, int ndim, const int64_t *shape,
                        cnas_tensor_role role, cnas_error *err)
{
    if (o->n_tensors == ROP_MAX_TENSORS) {
        cnas_error_set(err, CNAS_ERR_INTERNAL, "%s: more than %d tensors", o->op,
                       ROP_MAX_TENSORS);
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

cnas_status rop_conv(rop_op *o, const cnas_op_args *a, const char *name, int64_t c_out,
                     int64_t c_in, int k, cnas_tensor **w, cnas_error *err)
{
    if (!a->init_rng)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: no init_rng in the create "
                              "arguments; it is needed to initialise %s", o->op, name);
    if (!(*w = own(o, name, CNAS_SHAPE(c_out, c_in, k, k), CNAS_ROLE_PARAM, err)))
        return err ? err->code : CNAS_ERR_NOMEM;
    cnas_init_default_weight(*w, a->init_rng);
    return CNAS_OK;
}

cnas_status rop_bn_new(rop_op *o, const char *prefix, int64_t c, rop_bn *bn, cnas_error *err)
{
    char n[ROP_NAME_MAX];
    *bn = (rop_bn){0};
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

void rop_destroy(void *self)
{
    rop_op *o = self;
    if (!o)
        return;
    for (int i = 0; i < o->n_tensors; i++)
        cnas_tensor_free(o->tensors[i].tensor);
    free(o);
}

int rop_tensors(void *self, cnas_named_tensor *out, int max)
{
    rop_op *o = self;
    for (int i = 0; out && i < o->n_tensors && i < max; i++)
        out[i] = o->tensors[i];
    return o->n_tensors;
}

bool rop_check_input(const rop_op *o, cnas_graph *g, cnas_tensor *x, int64_t min_hw)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return false;
    if (x->ndim != 4 || x->shape[1] != o->c_in || x->shape[2] < min_hw || x->shape[3] < min_hw) {
        char s[CNAS_SHAPE_STR_MAX];
        cnas_graph_fail(g, CNAS_ERR_SHAPE, "%s: input %s, expected [N, %d, H, W] with H, W >= "
                        "%lld (C_in = %d)", o->op, cnas_shape_str(x, s, sizeof s), o->c_in,
                        (long long)min_hw, o->c_in);
        return false;
    }
    return true;
}

cnas_tensor *rop_bn_forward(cnas_graph *g, cnas_tensor *x, const rop_bn *bn, bool training)
{
    cnas_batch_norm_params p = {.training = training, .momentum = 0.1f, .eps = 1e-5f};
    return cnas_batch_norm(g, x, bn->gamma, bn->beta, bn->mean, bn->var, &p);
}

int64_t rop_conv_flops(const int64_t in[4], int64_t c_out, int k, int stride, int64_t out[4])
{
    int64_t ho = cnas_conv_out_size(in[2], k, stride, k / 2, 1);
    int64_t wo = cnas_conv_out_size(in[3], k, stride, k / 2, 1);
    if (in[0] < 1 || in[1] < 1 || ho < 1 || wo < 1)
        return -1;
    out[0] = in[0];
    out[1] = c_out;
    out[2] = ho;
    out[3] = wo;
    return in[0] * c_out * ho * wo * in[1] * k * k;
}
