/* What the NAS-Bench-201 ops share: argument checks, owned tensors, ReLUConvBN. */
#include "nb201_ops.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* cnas_op_args as ABI 1.0 defines it: the caller must know every field we read. */
#define NOP_ARGS_V1_SIZE (offsetof(cnas_op_args, init_rng) + sizeof(cnas_rng *))

cnas_status nop_new(const char *op, const cnas_op_args *a, nop_op **out, cnas_error *err)
{
    *out = NULL;
    if (!a)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: no create arguments", op);
    if (a->size < NOP_ARGS_V1_SIZE)
        return cnas_error_set(err, CNAS_ERR_INVALID,
                              "%s: create arguments are %u bytes, expected at least %zu "
                              "(cnas_op_args of ABI 1.0)", op, (unsigned)a->size,
                              (size_t)NOP_ARGS_V1_SIZE);
    if (a->c_in < 1 || a->c_out < 1)
        return cnas_error_set(err, CNAS_ERR_INVALID,
                              "%s: C_in = %d, C_out = %d; both must be at least 1", op,
                              (int)a->c_in, (int)a->c_out);
    if (a->stride != 1 && a->stride != 2)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: stride %d, expected 1 or 2", op,
                              (int)a->stride);
    if (!a->init_rng)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: no init_rng in the create arguments; "
                              "it is needed to initialise the conv weights", op);
    nop_op *o = calloc(1, sizeof *o);
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

void nop_destroy(void *self)
{
    nop_op *o = self;
    if (!o)
        return;
    for (int i = 0; i < o->n_tensors; i++)
        cnas_tensor_free(o->tensors[i].tensor);
    free(o);
}

int nop_tensors(void *self, cnas_named_tensor *out, int max)
{
    nop_op *o = self;
    for (int i = 0; out && i < o->n_tensors && i < max; i++)
        out[i] = o->tensors[i];
    return o->n_tensors;
}

static cnas_tensor *own(nop_op *o, const char *name, int ndim, const int64_t *shape,
                        cnas_tensor_role role, cnas_error *err)
{
    if (o->n_tensors == NOP_MAX_TENSORS) {
        cnas_error_set(err, CNAS_ERR_INTERNAL, "%s: more than %d tensors", o->op,
                       NOP_MAX_TENSORS);
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

static cnas_status failed(cnas_error *err)
{
    return err ? err->code : CNAS_ERR_NOMEM;
}

cnas_status nop_conv_weight(nop_op *o, const cnas_op_args *a, const char *name, int c_out,
                            int c_in, int k, cnas_tensor **w, cnas_error *err)
{
    if (!(*w = own(o, name, CNAS_SHAPE(c_out, c_in, k, k), CNAS_ROLE_PARAM, err)))
        return failed(err);
    cnas_init_default_weight(*w, a->init_rng);
    return CNAS_OK;
}

static cnas_status bn_new(nop_op *o, const char *prefix, int c, nop_bn *bn, cnas_error *err)
{
    char n[NOP_NAME_MAX];
    *bn = (nop_bn){0};
    if (o->affine) {
        snprintf(n, sizeof n, "%s.weight", prefix);
        if (!(bn->gamma = own(o, n, CNAS_SHAPE(c), CNAS_ROLE_PARAM, err)))
            return failed(err);
        cnas_tensor_fill(bn->gamma, 1.0f);
        snprintf(n, sizeof n, "%s.bias", prefix);
        if (!(bn->beta = own(o, n, CNAS_SHAPE(c), CNAS_ROLE_PARAM, err)))
            return failed(err);
    }
    if (o->track) {
        snprintf(n, sizeof n, "%s.running_mean", prefix);
        if (!(bn->mean = own(o, n, CNAS_SHAPE(c), CNAS_ROLE_BUFFER, err)))
            return failed(err);
        snprintf(n, sizeof n, "%s.running_var", prefix);
        if (!(bn->var = own(o, n, CNAS_SHAPE(c), CNAS_ROLE_BUFFER, err)))
            return failed(err);
        cnas_tensor_fill(bn->var, 1.0f);
    }
    return CNAS_OK;
}

cnas_status nop_rcb_init(nop_op *o, const cnas_op_args *a, const char *prefix, int c_in,
                         int c_out, int k, int stride, int pad, nop_rcb *r, cnas_error *err)
{
    char n[NOP_NAME_MAX];
    const char *dot = *prefix ? "." : "";
    *r = (nop_rcb){c_in, c_out, k, stride, pad, NULL, NULL, {0}};
    cnas_status st;
    snprintf(n, sizeof n, "%s%sop.1.weight", prefix, dot);
    if ((st = nop_conv_weight(o, a, n, c_out, c_in, k, &r->w, err)))
        return st;
    if (!o->affine) { /* Conv2d(..., bias = not affine) */
        snprintf(n, sizeof n, "%s%sop.1.bias", prefix, dot);
        if (!(r->b = own(o, n, CNAS_SHAPE(c_out), CNAS_ROLE_PARAM, err)))
            return failed(err);
        cnas_init_default_bias(r->b, (int64_t)c_in * k * k, a->init_rng);
    }
    snprintf(n, sizeof n, "%s%sop.2", prefix, dot);
    return bn_new(o, n, c_out, &r->bn, err);
}

cnas_tensor *nop_rcb_forward(cnas_graph *g, cnas_tensor *x, const nop_rcb *r, bool training)
{
    cnas_conv2d_params c = {.stride_h = r->stride, .stride_w = r->stride, .pad_h = r->pad,
                            .pad_w = r->pad};
    cnas_batch_norm_params p = {.training = training, .momentum = 0.1f, .eps = 1e-5f};
    cnas_tensor *h = cnas_conv2d(g, cnas_relu(g, x), r->w, r->b, &c);
    return cnas_batch_norm(g, h, r->bn.gamma, r->bn.beta, r->bn.mean, r->bn.var, &p);
}

int64_t nop_rcb_flops(const nop_rcb *r, const int64_t in[4], int64_t out[4])
{
    for (int i = 0; i < 4; i++)
        out[i] = 0;
    if (!in || in[0] < 1 || in[1] != r->c_in || in[2] < 1 || in[3] < 1)
        return -1;
    int64_t ho = cnas_conv_out_size(in[2], r->k, r->stride, r->pad, 1);
    int64_t wo = cnas_conv_out_size(in[3], r->k, r->stride, r->pad, 1);
    if (ho < 1 || wo < 1)
        return -1;
    out[0] = in[0];
    out[1] = r->c_out;
    out[2] = ho;
    out[3] = wo;
    /* the conv's multiply-adds, then one per output element for the BN */
    return nop_numel4(out) * r->c_in * r->k * r->k + nop_numel4(out);
}

bool nop_check_input(const nop_op *o, cnas_graph *g, cnas_tensor *x)
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
