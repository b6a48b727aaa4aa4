/* dgconv_3x3 (ReLU, DGConv 3x3, BN) and dg_resblock (the ResNet basic block on DGConvs). */
#include "dgconv_ops.h"

/* ---- dgconv_3x3 --------------------------------------------------------------------- */

static cnas_status conv_create(const cnas_op_args *a, const cnas_params *p, void **self,
                               cnas_error *err)
{
    dg_op *o;
    cnas_status st = dg_new("dgconv_3x3", a, p, &o, err);
    if (st)
        return st;
    if (o->kit.c_in != o->kit.c_out)
        st = cnas_error_set(err, CNAS_ERR_INVALID, "dgconv_3x3: C_in = %d, C_out = %d; the "
                            "DGConv mask is C x C, so it needs C_in = C_out", o->kit.c_in,
                            o->kit.c_out);
    else if (!(st = dg_check_pow2(o, "channels", o->kit.c_in, err)) &&
             !(st = dg_conv_new(o, a, "op.1", o->kit.c_in, o->kit.c_out, 3, o->kit.stride, true,
                                &o->conv[0], err)))
        st = cnas_opkit_bn_new(&o->kit, "op.2", o->kit.c_out, o->kit.affine, &o->bn[0], err);
    if (st) {
        cnas_opkit_destroy(o);
        return st;
    }
    *self = o;
    return CNAS_OK;
}

static cnas_tensor *conv_forward(void *self, cnas_graph *g, cnas_tensor *x,
                                 const cnas_op_forward_ctx *ctx)
{
    dg_op *o = self;
    if (!cnas_opkit_check_input(&o->kit, g, x, 0))
        return NULL;
    cnas_tensor *h = dg_conv_forward(g, cnas_relu(g, x), &o->conv[0]);
    return cnas_opkit_bn_forward(g, h, &o->bn[0], cnas_opkit_training(ctx));
}

static int64_t conv_flops(void *self, const int64_t in[4], int64_t out[4])
{
    dg_op *o = self;
    for (int i = 0; i < 4; i++)
        out[i] = 0;
    if (!in)
        return -1;
    int64_t f = dg_conv_flops(&o->conv[0], in, out);
    if (f < 0) {
        for (int i = 0; i < 4; i++)
            out[i] = 0;
        return -1;
    }
    return f + dg_numel4(out);
}

const cnas_op_vtable dg_dgconv_3x3_vt = CNAS_OPKIT_VTABLE(conv_create, conv_forward, conv_flops);

/* ---- dg_resblock ---------------------------------------------------------------------- */

static cnas_status block_create(const cnas_op_args *a, const cnas_params *p, void **self,
                                cnas_error *err)
{
    dg_op *o;
    cnas_status st = dg_new("dg_resblock", a, p, &o, err);
    if (st)
        return st;
    o->project = o->kit.c_in != o->kit.c_out || o->kit.stride != 1;
    bool square = o->kit.c_in == o->kit.c_out;
    cnas_opkit *k = &o->kit;
    if ((st = dg_check_pow2(o, "C_out", k->c_out, err)) ||
        (st = dg_conv_new(o, a, "conv1", k->c_in, k->c_out, 3, k->stride, square, &o->conv[0],
                          err)) ||
        (st = cnas_opkit_bn_new(k, "bn1", k->c_out, k->affine, &o->bn[0], err)) ||
        (st = dg_conv_new(o, a, "conv2", k->c_out, k->c_out, 3, 1, true, &o->conv[1], err)) ||
        (st = cnas_opkit_bn_new(k, "bn2", k->c_out, k->affine, &o->bn[1], err)) ||
        (o->project &&
         ((st = dg_conv_new(o, a, "downsample.0", k->c_in, k->c_out, 1, k->stride, false,
                            &o->conv[2], err)) ||
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
    dg_op *o = self;
    if (!cnas_opkit_check_input(&o->kit, g, x, 0))
        return NULL;
    bool tr = cnas_opkit_training(ctx);
    cnas_tensor *h =
        cnas_relu(g, cnas_opkit_bn_forward(g, dg_conv_forward(g, x, &o->conv[0]), &o->bn[0], tr));
    h = cnas_opkit_bn_forward(g, dg_conv_forward(g, h, &o->conv[1]), &o->bn[1], tr);
    cnas_tensor *sc =
        o->project ? cnas_opkit_bn_forward(g, dg_conv_forward(g, x, &o->conv[2]), &o->bn[2], tr)
                   : x;
    return cnas_relu(g, cnas_add(g, h, sc));
}

static int64_t block_flops(void *self, const int64_t in[4], int64_t out[4])
{
    dg_op *o = self;
    for (int i = 0; i < 4; i++)
        out[i] = 0;
    if (!in)
        return -1;
    int64_t a[4], b[4], c[4], f1, f2, f3 = 0;
    if ((f1 = dg_conv_flops(&o->conv[0], in, a)) < 0 || (f2 = dg_conv_flops(&o->conv[1], a, b)) < 0)
        return -1;
    int64_t bns = 2 * dg_numel4(b);
    if (o->project) {
        if ((f3 = dg_conv_flops(&o->conv[2], in, c)) < 0)
            return -1;
        bns += dg_numel4(c);
    }
    for (int i = 0; i < 4; i++)
        out[i] = b[i];
    return f1 + f2 + f3 + bns;
}

const cnas_op_vtable dg_resblock_vt = CNAS_OPKIT_VTABLE(block_create, block_forward, block_flops);
