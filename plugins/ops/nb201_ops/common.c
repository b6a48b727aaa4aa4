/* What the NAS-Bench-201 ops share beyond the op kit (cnas/opkit.h): the instance and
 * ReLUConvBN. */
#include "nb201_ops.h"

#include <stdio.h>

cnas_status nop_new(const char *op, const cnas_op_args *a, nop_op **out, cnas_error *err)
{
    void *p;
    cnas_status st = cnas_opkit_new(op, a, sizeof **out, &p, err);
    if (st)
        return st;
    *out = p;
    if ((st = cnas_opkit_require_rng(&(*out)->kit, a, "the conv weights", err))) {
        cnas_opkit_destroy(*out);
        *out = NULL;
    }
    return st;
}

cnas_status nop_rcb_init(nop_op *o, const cnas_op_args *a, const char *prefix, int c_in,
                         int c_out, int k, int stride, int pad, nop_rcb *r, cnas_error *err)
{
    char n[CNAS_OPKIT_NAME_MAX];
    const char *dot = *prefix ? "." : "";
    *r = (nop_rcb){c_in, c_out, k, stride, pad, NULL, NULL, {0}};
    cnas_status st;
    snprintf(n, sizeof n, "%s%sop.1.weight", prefix, dot);
    if ((st = cnas_opkit_conv(&o->kit, a, n, c_out, c_in, k, &r->w, err)))
        return st;
    if (!o->kit.affine) { /* Conv2d(..., bias = not affine) */
        snprintf(n, sizeof n, "%s%sop.1.bias", prefix, dot);
        if (!(r->b = cnas_opkit_add(&o->kit, n, CNAS_SHAPE(c_out), CNAS_ROLE_PARAM, err)))
            return err ? err->code : CNAS_ERR_NOMEM;
        cnas_init_default_bias(r->b, (int64_t)c_in * k * k, a->init_rng);
    }
    snprintf(n, sizeof n, "%s%sop.2", prefix, dot);
    return cnas_opkit_bn_new(&o->kit, n, c_out, o->kit.affine, &r->bn, err);
}

cnas_tensor *nop_rcb_forward(cnas_graph *g, cnas_tensor *x, const nop_rcb *r, bool training)
{
    cnas_conv2d_params c = {.stride_h = r->stride, .stride_w = r->stride, .pad_h = r->pad,
                            .pad_w = r->pad};
    cnas_tensor *h = cnas_conv2d(g, cnas_relu(g, x), r->w, r->b, &c);
    return cnas_opkit_bn_forward(g, h, &r->bn, training);
}

int64_t nop_rcb_flops(const nop_rcb *r, const int64_t in[4], int64_t out[4])
{
    for (int i = 0; i < 4; i++)
        out[i] = 0;
    if (!in || in[0] < 1 || in[1] != r->c_in || in[2] < 1 || in[3] < 1)
        return -1;
    int64_t f = cnas_opkit_conv_flops(in, r->c_out, 1, r->k, r->stride, r->pad, 1, out);
    /* the conv's multiply-adds, then one per output element for the BN */
    return f < 0 ? -1 : f + nop_numel4(out);
}
