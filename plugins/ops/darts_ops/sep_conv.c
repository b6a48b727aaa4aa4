/* SepConv and DilConv: ReLU → depthwise k×k → pointwise 1×1 → BN, all convs bias-free.
 *
 * SepConv (sep_conv_3x3, sep_conv_5x5) applies the unit twice: the first at the op's
 * stride mapping C_in → C_in, the second at stride 1 mapping C_in → C_out. Module
 * indices of the reference nn.Sequential: op.1 / op.5 depthwise, op.2 / op.6
 * pointwise, op.3 / op.7 batch norms.
 * DilConv (dil_conv_3x3, dil_conv_5x5) applies it once with dilation 2 and padding
 * 2 (k = 3) or 4 (k = 5): op.1 depthwise, op.2 pointwise, op.3 batch norm.
 * Both keep H and W at stride 1 and give ceil(H/2) × ceil(W/2) at stride 2. */
#include "darts_ops.h"

/* ---- SepConv -------------------------------------------------------------------- */

static cnas_status sep_create(const char *name, int k, const cnas_op_args *a, void **self,
                              cnas_error *err)
{
    dop_op *o;
    cnas_status st = dop_new(name, a, &o, err);
    if (st)
        return st;
    o->kernel = k;
    o->pad = k / 2;
    int64_t ci = o->kit.c_in, co = o->kit.c_out;
    if ((st = cnas_opkit_conv(&o->kit, a, "op.1.weight", ci, 1, k, &o->conv[0], err)) ||
        (st = cnas_opkit_conv(&o->kit, a, "op.2.weight", ci, ci, 1, &o->conv[1], err)) ||
        (st = cnas_opkit_bn_new(&o->kit, "op.3", ci, o->kit.affine, &o->bn[0], err)) ||
        (st = cnas_opkit_conv(&o->kit, a, "op.5.weight", ci, 1, k, &o->conv[2], err)) ||
        (st = cnas_opkit_conv(&o->kit, a, "op.6.weight", co, ci, 1, &o->conv[3], err)) ||
        (st = cnas_opkit_bn_new(&o->kit, "op.7", co, o->kit.affine, &o->bn[1], err))) {
        cnas_opkit_destroy(o);
        return st;
    }
    *self = o;
    return CNAS_OK;
}

static cnas_status sep3_create(const cnas_op_args *a, const cnas_params *p, void **self,
                               cnas_error *err)
{
    return sep_create("sep_conv_3x3", 3, a, self, err);
}

static cnas_status sep5_create(const cnas_op_args *a, const cnas_params *p, void **self,
                               cnas_error *err)
{
    return sep_create("sep_conv_5x5", 5, a, self, err);
}

static cnas_tensor *sep_forward(void *self, cnas_graph *g, cnas_tensor *x,
                                const cnas_op_forward_ctx *ctx)
{
    dop_op *o = self;
    if (!cnas_opkit_check_input(&o->kit, g, x, 0))
        return NULL;
    bool tr = cnas_opkit_training(ctx);
    cnas_conv2d_params dw1 = {.stride_h = o->kit.stride, .stride_w = o->kit.stride,
                              .pad_h = o->pad, .pad_w = o->pad, .groups = o->kit.c_in};
    cnas_conv2d_params dw2 = {.pad_h = o->pad, .pad_w = o->pad, .groups = o->kit.c_in};
    cnas_conv2d_params pw = {0};
    cnas_tensor *h = cnas_conv2d(g, cnas_relu(g, x), o->conv[0], NULL, &dw1);
    h = cnas_opkit_bn_forward(g, cnas_conv2d(g, h, o->conv[1], NULL, &pw), &o->bn[0], tr);
    h = cnas_conv2d(g, cnas_relu(g, h), o->conv[2], NULL, &dw2);
    return cnas_opkit_bn_forward(g, cnas_conv2d(g, h, o->conv[3], NULL, &pw), &o->bn[1], tr);
}

static int64_t sep_flops(void *self, const int64_t in[4], int64_t out[4])
{
    dop_op *o = self;
    if (!cnas_opkit_flops_input(&o->kit, in, out))
        return -1;
    int64_t a[4], b[4], c[4], f = 0, part;
    if ((part = cnas_opkit_conv_flops(in, o->kit.c_in, o->kit.c_in, o->kernel, o->kit.stride,
                                      o->pad, 1, a)) < 0)
        return -1;
    f += part;
    f += cnas_opkit_conv_flops(a, o->kit.c_in, 1, 1, 1, 0, 1, b);
    f += b[0] * b[1] * b[2] * b[3];
    f += cnas_opkit_conv_flops(b, o->kit.c_in, o->kit.c_in, o->kernel, 1, o->pad, 1, c);
    f += cnas_opkit_conv_flops(c, o->kit.c_out, 1, 1, 1, 0, 1, out);
    return f + out[0] * out[1] * out[2] * out[3];
}

const cnas_op_vtable dop_sep_conv_3x3_vt = CNAS_OPKIT_VTABLE(sep3_create, sep_forward, sep_flops);
const cnas_op_vtable dop_sep_conv_5x5_vt = CNAS_OPKIT_VTABLE(sep5_create, sep_forward, sep_flops);

/* ---- DilConv -------------------------------------------------------------------- */

static cnas_status dil_create(const char *name, int k, const cnas_op_args *a, void **self,
                              cnas_error *err)
{
    dop_op *o;
    cnas_status st = dop_new(name, a, &o, err);
    if (st)
        return st;
    o->kernel = k;
    o->dilation = 2;
    o->pad = k == 3 ? 2 : 4;
    if ((st = cnas_opkit_conv(&o->kit, a, "op.1.weight", o->kit.c_in, 1, k, &o->conv[0], err)) ||
        (st = cnas_opkit_conv(&o->kit, a, "op.2.weight", o->kit.c_out, o->kit.c_in, 1,
                              &o->conv[1], err)) ||
        (st = cnas_opkit_bn_new(&o->kit, "op.3", o->kit.c_out, o->kit.affine, &o->bn[0], err))) {
        cnas_opkit_destroy(o);
        return st;
    }
    *self = o;
    return CNAS_OK;
}

static cnas_status dil3_create(const cnas_op_args *a, const cnas_params *p, void **self,
                               cnas_error *err)
{
    return dil_create("dil_conv_3x3", 3, a, self, err);
}

static cnas_status dil5_create(const cnas_op_args *a, const cnas_params *p, void **self,
                               cnas_error *err)
{
    return dil_create("dil_conv_5x5", 5, a, self, err);
}

static cnas_tensor *dil_forward(void *self, cnas_graph *g, cnas_tensor *x,
                                const cnas_op_forward_ctx *ctx)
{
    dop_op *o = self;
    if (!cnas_opkit_check_input(&o->kit, g, x, 0))
        return NULL;
    cnas_conv2d_params dw = {.stride_h = o->kit.stride, .stride_w = o->kit.stride,
                             .pad_h = o->pad, .pad_w = o->pad, .dilation_h = o->dilation,
                             .dilation_w = o->dilation, .groups = o->kit.c_in};
    cnas_conv2d_params pw = {0};
    cnas_tensor *h = cnas_conv2d(g, cnas_relu(g, x), o->conv[0], NULL, &dw);
    return cnas_opkit_bn_forward(g, cnas_conv2d(g, h, o->conv[1], NULL, &pw), &o->bn[0],
                                 cnas_opkit_training(ctx));
}

static int64_t dil_flops(void *self, const int64_t in[4], int64_t out[4])
{
    dop_op *o = self;
    if (!cnas_opkit_flops_input(&o->kit, in, out))
        return -1;
    int64_t a[4], f;
    if ((f = cnas_opkit_conv_flops(in, o->kit.c_in, o->kit.c_in, o->kernel, o->kit.stride,
                                   o->pad, o->dilation, a)) < 0)
        return -1;
    f += cnas_opkit_conv_flops(a, o->kit.c_out, 1, 1, 1, 0, 1, out);
    return f + out[0] * out[1] * out[2] * out[3];
}

const cnas_op_vtable dop_dil_conv_3x3_vt = CNAS_OPKIT_VTABLE(dil3_create, dil_forward, dil_flops);
const cnas_op_vtable dop_dil_conv_5x5_vt = CNAS_OPKIT_VTABLE(dil5_create, dil_forward, dil_flops);
