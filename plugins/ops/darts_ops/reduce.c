/* FactorizedReduce and ReLUConvBN (relu_conv_bn, conv_3x3).
 *
 * FactorizedReduce(C_in, C_out) halves H and W without losing every other pixel:
 * ReLU, then two 1×1 stride-2 convs C_in → C_out/2, the first on x and the second on
 * x[:, :, 1:, 1:] (x shifted by one pixel, so it samples the odd rows and columns),
 * concatenated along channels, then BN(C_out). Tensors: conv_1.weight, conv_2.weight,
 * bn.*. The reference has no stride argument and always halves; the `stride` of the
 * factory is accepted (1 or 2) and ignored. With an odd H (or W) the branches give
 * ceil(H/2) and ceil((H-1)/2) rows, which the reference fails to concatenate; the
 * forward returns a shape error there instead.
 *
 * ReLUConvBN(C_in, C_out, k, stride, pad): ReLU → conv k×k (bias-free) → BN(C_out),
 * tensors op.1.weight, op.2.*. relu_conv_bn takes k and pad from its keys (defaults
 * 1 and 0: the cell preprocessing); conv_3x3 is the k = 3, pad = 1 instance. */
#include "darts_ops.h"

/* ---- FactorizedReduce ------------------------------------------------------------ */

cnas_status dop_factorized_reduce_init(dop_op *o, const cnas_op_args *a, cnas_error *err)
{
    if (o->kit.c_out % 2)
        return cnas_opkit_fail(&o->kit, err, "C_out = %d is odd; FactorizedReduce concatenates "
                               "two halves of C_out/2 channels, so C_out must be even",
                               o->kit.c_out);
    o->reduce = true;
    cnas_status st;
    int half = o->kit.c_out / 2;
    if ((st = cnas_opkit_conv(&o->kit, a, "conv_1.weight", half, o->kit.c_in, 1, &o->conv[0],
                              err)) ||
        (st = cnas_opkit_conv(&o->kit, a, "conv_2.weight", half, o->kit.c_in, 1, &o->conv[1],
                              err)) ||
        (st = cnas_opkit_bn_new(&o->kit, "bn", o->kit.c_out, o->kit.affine, &o->bn[0], err)))
        return st;
    return CNAS_OK;
}

cnas_tensor *dop_factorized_reduce_forward(dop_op *o, cnas_graph *g, cnas_tensor *x,
                                           bool training)
{
    if (!cnas_opkit_check_input(&o->kit, g, x, 0))
        return NULL;
    int64_t h = x->shape[2], w = x->shape[3];
    if (h % 2 || w % 2) {
        char s[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE,
                               "%s: input %s has odd spatial size %lldx%lld; the stride-2 "
                               "branches on x and x[:, :, 1:, 1:] would give %lldx%lld and "
                               "%lldx%lld, which cannot be concatenated (FactorizedReduce "
                               "needs even H and W)",
                               o->kit.op, cnas_shape_str(x, s, sizeof s), (long long)h,
                               (long long)w, (long long)((h + 1) / 2), (long long)((w + 1) / 2),
                               (long long)(h / 2), (long long)(w / 2));
    }
    cnas_conv2d_params s2 = {.stride_h = 2, .stride_w = 2};
    cnas_tensor *r = cnas_relu(g, x);
    cnas_tensor *br[2] = {cnas_conv2d(g, r, o->conv[0], NULL, &s2),
                          cnas_conv2d(g, cnas_crop(g, r, 1, 1, h - 1, w - 1), o->conv[1], NULL,
                                      &s2)};
    if (!br[0] || !br[1])
        return NULL;
    return cnas_opkit_bn_forward(g, cnas_concat(g, 2, br), &o->bn[0], training);
}

int64_t dop_factorized_reduce_flops(const dop_op *o, const int64_t in[4], int64_t out[4])
{
    if (!cnas_opkit_flops_input(&o->kit, in, out) || in[2] % 2 || in[3] % 2)
        return -1;
    int64_t shifted[4] = {in[0], in[1], in[2] - 1, in[3] - 1}, half[4];
    int64_t f = cnas_opkit_conv_flops(in, o->kit.c_out / 2, 1, 1, 2, 0, 1, half);
    f += cnas_opkit_conv_flops(shifted, o->kit.c_out / 2, 1, 1, 2, 0, 1, half);
    out[0] = half[0];
    out[1] = o->kit.c_out;
    out[2] = half[2];
    out[3] = half[3];
    return f + out[0] * out[1] * out[2] * out[3];
}

static cnas_status fr_create(const cnas_op_args *a, const cnas_params *p, void **self,
                             cnas_error *err)
{
    dop_op *o;
    cnas_status st = dop_new("factorized_reduce", a, &o, err);
    if (st)
        return st;
    if ((st = dop_factorized_reduce_init(o, a, err))) {
        cnas_opkit_destroy(o);
        return st;
    }
    *self = o;
    return CNAS_OK;
}

static cnas_tensor *fr_forward(void *self, cnas_graph *g, cnas_tensor *x,
                               const cnas_op_forward_ctx *ctx)
{
    return dop_factorized_reduce_forward(self, g, x, cnas_opkit_training(ctx));
}

static int64_t fr_flops(void *self, const int64_t in[4], int64_t out[4])
{
    return dop_factorized_reduce_flops(self, in, out);
}

const cnas_op_vtable dop_factorized_reduce_vt = CNAS_OPKIT_VTABLE(fr_create, fr_forward, fr_flops);

/* ---- ReLUConvBN ------------------------------------------------------------------ */

static cnas_status rcb_create(const char *name, int k, int pad, const cnas_op_args *a,
                              void **self, cnas_error *err)
{
    dop_op *o;
    cnas_status st = dop_new(name, a, &o, err);
    if (st)
        return st;
    if (k < 1 || pad < 0)
        st = cnas_opkit_fail(&o->kit, err, "kernel_size = %d, padding = %d; expected "
                             "kernel_size >= 1 and padding >= 0", k, pad);
    o->kernel = k;
    o->pad = pad;
    if (st ||
        (st = cnas_opkit_conv(&o->kit, a, "op.1.weight", o->kit.c_out, o->kit.c_in, k,
                              &o->conv[0], err)) ||
        (st = cnas_opkit_bn_new(&o->kit, "op.2", o->kit.c_out, o->kit.affine, &o->bn[0], err))) {
        cnas_opkit_destroy(o);
        return st;
    }
    *self = o;
    return CNAS_OK;
}

static cnas_status relu_conv_bn_create(const cnas_op_args *a, const cnas_params *p, void **self,
                                       cnas_error *err)
{
    /* Without resolved keys (a caller that passes none) the schema defaults apply. */
    int k = p ? (int)cnas_params_int(p, "kernel_size") : 1;
    int pad = p ? (int)cnas_params_int(p, "padding") : 0;
    return rcb_create("relu_conv_bn", k, pad, a, self, err);
}

static cnas_status conv_3x3_create(const cnas_op_args *a, const cnas_params *p, void **self,
                                   cnas_error *err)
{
    return rcb_create("conv_3x3", 3, 1, a, self, err);
}

static cnas_tensor *rcb_forward(void *self, cnas_graph *g, cnas_tensor *x,
                                const cnas_op_forward_ctx *ctx)
{
    dop_op *o = self;
    if (!cnas_opkit_check_input(&o->kit, g, x, 0))
        return NULL;
    cnas_conv2d_params c = {.stride_h = o->kit.stride, .stride_w = o->kit.stride, .pad_h = o->pad,
                            .pad_w = o->pad};
    return cnas_opkit_bn_forward(g, cnas_conv2d(g, cnas_relu(g, x), o->conv[0], NULL, &c),
                                 &o->bn[0], cnas_opkit_training(ctx));
}

static int64_t rcb_flops(void *self, const int64_t in[4], int64_t out[4])
{
    dop_op *o = self;
    if (!cnas_opkit_flops_input(&o->kit, in, out))
        return -1;
    int64_t f =
        cnas_opkit_conv_flops(in, o->kit.c_out, 1, o->kernel, o->kit.stride, o->pad, 1, out);
    return f < 0 ? -1 : f + out[0] * out[1] * out[2] * out[3];
}

const cnas_op_vtable dop_relu_conv_bn_vt =
    CNAS_OPKIT_VTABLE(relu_conv_bn_create, rcb_forward, rcb_flops);
const cnas_op_vtable dop_conv_3x3_vt = CNAS_OPKIT_VTABLE(conv_3x3_create, rcb_forward, rcb_flops);
