/* nor_conv_1x1, nor_conv_3x3 and nb201_resblock (cell_operations.py: the OPS entries
 * "nor_conv_1x1" / "nor_conv_3x3" and class ResNetBasicblock). */
#include "nb201_ops.h"

/* ---- nor_conv_1x1, nor_conv_3x3 ------------------------------------------------------ */

static cnas_status nor_conv_create(const char *name, int k, const cnas_op_args *a, void **self,
                                   cnas_error *err)
{
    nop_op *o;
    cnas_status st = nop_new(name, a, &o, err);
    if (st)
        return st;
    if ((st = nop_rcb_init(o, a, "", o->kit.c_in, o->kit.c_out, k, o->kit.stride, k / 2, &o->a,
                           err))) {
        cnas_opkit_destroy(o);
        return st;
    }
    *self = o;
    return CNAS_OK;
}

static cnas_status nor_conv_1x1_create(const cnas_op_args *a, const cnas_params *p, void **self,
                                       cnas_error *err)
{
    (void)p;
    return nor_conv_create("nor_conv_1x1", 1, a, self, err);
}

static cnas_status nor_conv_3x3_create(const cnas_op_args *a, const cnas_params *p, void **self,
                                       cnas_error *err)
{
    (void)p;
    return nor_conv_create("nor_conv_3x3", 3, a, self, err);
}

static cnas_tensor *nor_conv_forward(void *self, cnas_graph *g, cnas_tensor *x,
                                     const cnas_op_forward_ctx *ctx)
{
    nop_op *o = self;
    if (!cnas_opkit_check_input(&o->kit, g, x, 0))
        return NULL;
    return nop_rcb_forward(g, x, &o->a, cnas_opkit_training(ctx));
}

static int64_t nor_conv_flops(void *self, const int64_t in[4], int64_t out[4])
{
    nop_op *o = self;
    return nop_rcb_flops(&o->a, in, out);
}

const cnas_op_vtable nop_nor_conv_1x1_vt =
    CNAS_OPKIT_VTABLE(nor_conv_1x1_create, nor_conv_forward, nor_conv_flops);
const cnas_op_vtable nop_nor_conv_3x3_vt =
    CNAS_OPKIT_VTABLE(nor_conv_3x3_create, nor_conv_forward, nor_conv_flops);

/* ---- nb201_resblock ------------------------------------------------------------------- */

static cnas_status block_create(const cnas_op_args *a, const cnas_params *p, void **self,
                                cnas_error *err)
{
    (void)p;
    nop_op *o;
    cnas_status st = nop_new("nb201_resblock", a, &o, err);
    if (st)
        return st;
    o->block = true;
    int ci = o->kit.c_in, co = o->kit.c_out;
    o->shortcut = o->kit.stride == 2 ? NOP_SC_POOL_CONV
                  : ci != co         ? NOP_SC_PROJECT
                                     : NOP_SC_IDENTITY;
    if ((st = nop_rcb_init(o, a, "conv_a", ci, co, 3, o->kit.stride, 1, &o->a, err)) ||
        (st = nop_rcb_init(o, a, "conv_b", co, co, 3, 1, 1, &o->b, err)) ||
        (o->shortcut == NOP_SC_POOL_CONV &&
         (st = cnas_opkit_conv(&o->kit, a, "downsample.1.weight", co, ci, 1, &o->sc_w, err))) ||
        (o->shortcut == NOP_SC_PROJECT &&
         (st = nop_rcb_init(o, a, "downsample", ci, co, 1, 1, 0, &o->sc, err)))) {
        cnas_opkit_destroy(o);
        return st;
    }
    *self = o;
    return CNAS_OK;
}

static cnas_tensor *block_forward(void *self, cnas_graph *g, cnas_tensor *x,
                                  const cnas_op_forward_ctx *ctx)
{
    nop_op *o = self;
    if (!cnas_opkit_check_input(&o->kit, g, x, 0))
        return NULL;
    int64_t h = x->shape[2], w = x->shape[3];
    if (o->kit.stride == 2 && (h % 2 || w % 2)) {
        char s[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE,
                               "%s: input %s has odd spatial size %lldx%lld; at stride 2 conv_a "
                               "gives %lldx%lld and the AvgPool2d(2) shortcut %lldx%lld, which "
                               "cannot be added (the block needs even H and W)",
                               o->kit.op, cnas_shape_str(x, s, sizeof s), (long long)h,
                               (long long)w,
                               (long long)((h + 1) / 2), (long long)((w + 1) / 2),
                               (long long)(h / 2), (long long)(w / 2));
    }
    bool tr = cnas_opkit_training(ctx);
    cnas_tensor *y = nop_rcb_forward(g, nop_rcb_forward(g, x, &o->a, tr), &o->b, tr);
    cnas_tensor *sc = x;
    if (o->shortcut == NOP_SC_POOL_CONV) {
        cnas_pool2d_params pp = {.kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2,
                                 .count_include_pad = true};
        cnas_conv2d_params c1 = {0};
        sc = cnas_conv2d(g, cnas_avg_pool2d(g, x, &pp), o->sc_w, NULL, &c1);
    } else if (o->shortcut == NOP_SC_PROJECT) {
        sc = nop_rcb_forward(g, x, &o->sc, tr);
    }
    return cnas_add(g, sc, y); /* residual + basicblock, no ReLU after */
}

static int64_t block_flops(void *self, const int64_t in[4], int64_t out[4])
{
    nop_op *o = self;
    int64_t mid[4], f1, f2, f3 = 0;
    if ((f1 = nop_rcb_flops(&o->a, in, mid)) < 0 || (f2 = nop_rcb_flops(&o->b, mid, out)) < 0)
        return -1;
    if (o->shortcut == NOP_SC_POOL_CONV) {
        if (in[2] % 2 || in[3] % 2) {
            for (int i = 0; i < 4; i++)
                out[i] = 0;
            return -1;
        }
        /* 2x2 average: 4 window elements per pooled output; then the 1x1 conv */
        int64_t pooled = in[0] * in[1] * (in[2] / 2) * (in[3] / 2);
        f3 = 4 * pooled + pooled * o->kit.c_out;
    } else if (o->shortcut == NOP_SC_PROJECT) {
        int64_t sc[4];
        f3 = nop_rcb_flops(&o->sc, in, sc);
    }
    return f1 + f2 + f3;
}

const cnas_op_vtable nop_resblock_vt = CNAS_OPKIT_VTABLE(block_create, block_forward, block_flops);
