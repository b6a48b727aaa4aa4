/* The ResNet basic block, the conv–BN–ReLU first layer and 2x2 max-pool downsampling. */
#include "resnet_ops.h"

/* ---- basic_block ------------------------------------------------------------------ */

static cnas_status block_create(const cnas_op_args *a, const cnas_params *p, void **self,
                                cnas_error *err)
{
    rop_op *o;
    cnas_status st = rop_new("basic_block", a, &o, err);
    if (st)
        return st;
    o->project = o->kit.c_in != o->kit.c_out || o->kit.stride != 1;
    cnas_opkit *k = &o->kit;
    if ((st = cnas_opkit_conv(k, a, "conv1.weight", k->c_out, k->c_in, 3, &o->conv[0], err)) ||
        (st = cnas_opkit_bn_new(k, "bn1", k->c_out, k->affine, &o->bn[0], err)) ||
        (st = cnas_opkit_conv(k, a, "conv2.weight", k->c_out, k->c_out, 3, &o->conv[1], err)) ||
        (st = cnas_opkit_bn_new(k, "bn2", k->c_out, k->affine, &o->bn[1], err)) ||
        (o->project &&
         ((st = cnas_opkit_conv(k, a, "downsample.0.weight", k->c_out, k->c_in, 1, &o->conv[2],
                                err)) ||
          (st = cnas_opkit_bn_new(k, "downsample.1", k->c_out, k->affine, &o->bn[2], err))))) {
        cnas_opkit_destroy(o);
        return st;
    }
    *self = o;
    return CNAS_OK;
}

static cnas_tensor *block_forward(void *self, cnas_graph *g, cnas_tensor *x,
                                  const cnas_op_forward_ctx *ctx)
{
    rop_op *o = self;
    if (!cnas_opkit_check_input(&o->kit, g, x, 1))
        return NULL;
    bool tr = cnas_opkit_training(ctx);
    cnas_conv2d_params c1 = {.stride_h = o->kit.stride, .stride_w = o->kit.stride, .pad_h = 1,
                             .pad_w = 1};
    cnas_conv2d_params c2 = {.pad_h = 1, .pad_w = 1};
    cnas_conv2d_params pr = {.stride_h = o->kit.stride, .stride_w = o->kit.stride};
    cnas_tensor *h = cnas_relu(
        g, cnas_opkit_bn_forward(g, cnas_conv2d(g, x, o->conv[0], NULL, &c1), &o->bn[0], tr));
    h = cnas_opkit_bn_forward(g, cnas_conv2d(g, h, o->conv[1], NULL, &c2), &o->bn[1], tr);
    cnas_tensor *sc =
        o->project
            ? cnas_opkit_bn_forward(g, cnas_conv2d(g, x, o->conv[2], NULL, &pr), &o->bn[2], tr)
            : x;
    return cnas_relu(g, cnas_add(g, h, sc));
}

static int64_t block_flops(void *self, const int64_t in[4], int64_t out[4])
{
    rop_op *o = self;
    for (int i = 0; i < 4; i++)
        out[i] = 0;
    if (!in || in[1] != o->kit.c_in)
        return -1;
    int64_t a[4], b[4], f1, f2, f3 = 0;
    if ((f1 = cnas_opkit_conv_flops(in, o->kit.c_out, 1, 3, o->kit.stride, 1, 1, a)) < 0 ||
        (f2 = cnas_opkit_conv_flops(a, o->kit.c_out, 1, 3, 1, 1, 1, b)) < 0)
        return -1;
    int64_t bns = 2 * rop_numel4(b);
    if (o->project) {
        int64_t c[4];
        if ((f3 = cnas_opkit_conv_flops(in, o->kit.c_out, 1, 1, o->kit.stride, 0, 1, c)) < 0)
            return -1;
        bns += rop_numel4(c);
    }
    for (int i = 0; i < 4; i++)
        out[i] = b[i];
    return f1 + f2 + f3 + bns;
}

const cnas_op_vtable rop_basic_block_vt =
    CNAS_OPKIT_VTABLE(block_create, block_forward, block_flops);

/* ---- conv_bn_relu ------------------------------------------------------------------ */

static cnas_status cbr_create(const cnas_op_args *a, const cnas_params *p, void **self,
                              cnas_error *err)
{
    rop_op *o;
    cnas_status st = rop_new("conv_bn_relu", a, &o, err);
    if (st)
        return st;
    if ((st = cnas_opkit_conv(&o->kit, a, "conv.weight", o->kit.c_out, o->kit.c_in, 3,
                              &o->conv[0], err)) ||
        (st = cnas_opkit_bn_new(&o->kit, "bn", o->kit.c_out, o->kit.affine, &o->bn[0], err))) {
        cnas_opkit_destroy(o);
        return st;
    }
    *self = o;
    return CNAS_OK;
}

static cnas_tensor *cbr_forward(void *self, cnas_graph *g, cnas_tensor *x,
                                const cnas_op_forward_ctx *ctx)
{
    rop_op *o = self;
    if (!cnas_opkit_check_input(&o->kit, g, x, 1))
        return NULL;
    cnas_conv2d_params c = {.stride_h = o->kit.stride, .stride_w = o->kit.stride, .pad_h = 1,
                            .pad_w = 1};
    return cnas_relu(g, cnas_opkit_bn_forward(g, cnas_conv2d(g, x, o->conv[0], NULL, &c),
                                              &o->bn[0], cnas_opkit_training(ctx)));
}

static int64_t cbr_flops(void *self, const int64_t in[4], int64_t out[4])
{
    rop_op *o = self;
    for (int i = 0; i < 4; i++)
        out[i] = 0;
    if (!in || in[1] != o->kit.c_in)
        return -1;
    int64_t f = cnas_opkit_conv_flops(in, o->kit.c_out, 1, 3, o->kit.stride, 1, 1, out);
    return f < 0 ? -1 : f + rop_numel4(out);
}

const cnas_op_vtable rop_conv_bn_relu_vt = CNAS_OPKIT_VTABLE(cbr_create, cbr_forward, cbr_flops);

/* ---- max_pool_2x2 ------------------------------------------------------------------ */

static cnas_status pool_create(const cnas_op_args *a, const cnas_params *p, void **self,
                               cnas_error *err)
{
    rop_op *o;
    cnas_status st = rop_new("max_pool_2x2", a, &o, err);
    if (st)
        return st;
    if (o->kit.c_out != o->kit.c_in || o->kit.stride != 2) {
        st = cnas_error_set(err, CNAS_ERR_INVALID, "max_pool_2x2: C_in = %d, C_out = %d, stride "
                            "%d; the pool keeps the channels and always halves H and W, so it "
                            "needs C_out = C_in and stride 2", o->kit.c_in, o->kit.c_out,
                            o->kit.stride);
        cnas_opkit_destroy(o);
        return st;
    }
    *self = o;
    return CNAS_OK;
}

static cnas_tensor *pool_forward(void *self, cnas_graph *g, cnas_tensor *x,
                                 const cnas_op_forward_ctx *ctx)
{
    rop_op *o = self;
    if (!cnas_opkit_check_input(&o->kit, g, x, 2))
        return NULL;
    cnas_pool2d_params p = {.kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2};
    return cnas_max_pool2d(g, x, &p);
}

static int64_t pool_flops(void *self, const int64_t in[4], int64_t out[4])
{
    rop_op *o = self;
    for (int i = 0; i < 4; i++)
        out[i] = 0;
    if (!in || in[0] < 1 || in[1] != o->kit.c_in || in[2] < 2 || in[3] < 2)
        return -1;
    out[0] = in[0];
    out[1] = in[1];
    out[2] = in[2] / 2;
    out[3] = in[3] / 2;
    return 4 * rop_numel4(out);
}

const cnas_op_vtable rop_max_pool_2x2_vt = CNAS_OPKIT_VTABLE(pool_create, pool_forward, pool_flops);
