/* The parameter-free DARTS ops: none (Zero), max_pool_3x3, avg_pool_3x3, skip_connect.
 *
 * Pools: 3×3, stride s, padding 1; avg divides by the in-bounds count
 * (count_include_pad = False). The search MixedOp of the reference follows each pool
 * with BN(C, affine=False); the key bn_after asks for it (tensors "1.*", the index
 * in nn.Sequential(pool, BN)), so the search space decides, not the op. That BN is
 * never affine, as in the reference, but honours track_running_stats.
 * none: Zero(stride) = x[:, :, ::s, ::s]·0, i.e. zeros of [N, C, ceil(H/s), ceil(W/s)]. It
 * does not depend on x, so it records no node and x receives no gradient from it.
 * skip_connect: the identity at stride 1 (the forward returns x itself),
 * FactorizedReduce(C_in, C_out) at stride 2. GOLD-NAS's search op is the identity
 * followed by BN(C, affine=False) (Bi et al. 2020, docs/gold_nas.md): the key bn_after
 * asks for it at stride 1 (tensors "1.*"); FactorizedReduce has its own BN already.
 * Zero, the pools and the identity keep the channel count: they need C_out = C_in. */
#include "darts_ops.h"

static cnas_status same_channels(dop_op *o, const char *why, cnas_error *err)
{
    if (o->kit.c_out == o->kit.c_in)
        return CNAS_OK;
    return cnas_opkit_fail(&o->kit, err, "C_in = %d, C_out = %d; %s keeps the channel count, "
                           "so C_out must equal C_in", o->kit.c_in, o->kit.c_out, why);
}

/* ---- none ----------------------------------------------------------------------- */

static cnas_status none_create(const cnas_op_args *a, const cnas_params *p, void **self,
                               cnas_error *err)
{
    dop_op *o;
    cnas_status st = dop_new("none", a, &o, err);
    if (st)
        return st;
    if ((st = same_channels(o, "Zero", err))) {
        cnas_opkit_destroy(o);
        return st;
    }
    *self = o;
    return CNAS_OK;
}

static cnas_tensor *none_forward(void *self, cnas_graph *g, cnas_tensor *x,
                                 const cnas_op_forward_ctx *ctx)
{
    dop_op *o = self;
    if (!cnas_opkit_check_input(&o->kit, g, x, 0))
        return NULL;
    int64_t s = o->kit.stride;
    return cnas_graph_zeros(g, CNAS_SHAPE(x->shape[0], x->shape[1], (x->shape[2] + s - 1) / s,
                                          (x->shape[3] + s - 1) / s));
}

static int64_t none_flops(void *self, const int64_t in[4], int64_t out[4])
{
    dop_op *o = self;
    if (!cnas_opkit_flops_input(&o->kit, in, out))
        return -1;
    out[0] = in[0];
    out[1] = in[1];
    out[2] = (in[2] + o->kit.stride - 1) / o->kit.stride;
    out[3] = (in[3] + o->kit.stride - 1) / o->kit.stride;
    return 0;
}

const cnas_op_vtable dop_none_vt = CNAS_OPKIT_VTABLE(none_create, none_forward, none_flops);

/* ---- pools ---------------------------------------------------------------------- */

static cnas_status pool_create(const char *name, const cnas_op_args *a, const cnas_params *p,
                               void **self, cnas_error *err)
{
    dop_op *o;
    cnas_status st = dop_new(name, a, &o, err);
    if (st)
        return st;
    o->kernel = 3;
    o->pad = 1;
    o->bn_after = p && cnas_params_bool(p, "bn_after");
    if ((st = same_channels(o, "pooling", err)) ||
        (o->bn_after &&
         (st = cnas_opkit_bn_new(&o->kit, "1", o->kit.c_in, false, &o->bn[0], err)))) {
        cnas_opkit_destroy(o);
        return st;
    }
    *self = o;
    return CNAS_OK;
}

static cnas_status max_pool_create(const cnas_op_args *a, const cnas_params *p, void **self,
                                   cnas_error *err)
{
    return pool_create("max_pool_3x3", a, p, self, err);
}

static cnas_status avg_pool_create(const cnas_op_args *a, const cnas_params *p, void **self,
                                   cnas_error *err)
{
    return pool_create("avg_pool_3x3", a, p, self, err);
}

static cnas_tensor *pool_forward(dop_op *o, cnas_graph *g, cnas_tensor *x,
                                 const cnas_op_forward_ctx *ctx, bool max)
{
    if (!cnas_opkit_check_input(&o->kit, g, x, 0))
        return NULL;
    cnas_pool2d_params pp = {.kernel_h = 3, .kernel_w = 3, .stride_h = o->kit.stride,
                             .stride_w = o->kit.stride, .pad_h = 1, .pad_w = 1,
                             .count_include_pad = false};
    cnas_tensor *y = max ? cnas_max_pool2d(g, x, &pp) : cnas_avg_pool2d(g, x, &pp);
    return o->bn_after ? cnas_opkit_bn_forward(g, y, &o->bn[0], cnas_opkit_training(ctx)) : y;
}

static cnas_tensor *max_pool_forward(void *self, cnas_graph *g, cnas_tensor *x,
                                     const cnas_op_forward_ctx *ctx)
{
    return pool_forward(self, g, x, ctx, true);
}

static cnas_tensor *avg_pool_forward(void *self, cnas_graph *g, cnas_tensor *x,
                                     const cnas_op_forward_ctx *ctx)
{
    return pool_forward(self, g, x, ctx, false);
}

static int64_t pool_flops(void *self, const int64_t in[4], int64_t out[4])
{
    dop_op *o = self;
    if (!cnas_opkit_flops_input(&o->kit, in, out))
        return -1;
    int64_t f = cnas_opkit_pool_flops(in, o->kernel, o->kit.stride, o->pad, out);
    if (f >= 0 && o->bn_after)
        f += out[0] * out[1] * out[2] * out[3];
    return f;
}

const cnas_op_vtable dop_max_pool_3x3_vt =
    CNAS_OPKIT_VTABLE(max_pool_create, max_pool_forward, pool_flops);
const cnas_op_vtable dop_avg_pool_3x3_vt =
    CNAS_OPKIT_VTABLE(avg_pool_create, avg_pool_forward, pool_flops);

/* ---- skip_connect ----------------------------------------------------------------- */

static cnas_status skip_create(const cnas_op_args *a, const cnas_params *p, void **self,
                               cnas_error *err)
{
    dop_op *o;
    cnas_status st = dop_new("skip_connect", a, &o, err);
    if (st)
        return st;
    st = o->kit.stride == 1 ? same_channels(o, "the identity at stride 1", err)
                            : dop_factorized_reduce_init(o, a, err);
    o->bn_after = o->kit.stride == 1 && p && cnas_params_bool(p, "bn_after");
    if (!st && o->bn_after)
        st = cnas_opkit_bn_new(&o->kit, "1", o->kit.c_in, false, &o->bn[0], err);
    if (st) {
        cnas_opkit_destroy(o);
        return st;
    }
    *self = o;
    return CNAS_OK;
}

static cnas_tensor *skip_forward(void *self, cnas_graph *g, cnas_tensor *x,
                                 const cnas_op_forward_ctx *ctx)
{
    dop_op *o = self;
    if (o->reduce)
        return dop_factorized_reduce_forward(o, g, x, cnas_opkit_training(ctx));
    if (!cnas_opkit_check_input(&o->kit, g, x, 0))
        return NULL;
    return o->bn_after ? cnas_opkit_bn_forward(g, x, &o->bn[0], cnas_opkit_training(ctx)) : x;
}

static int64_t skip_flops(void *self, const int64_t in[4], int64_t out[4])
{
    dop_op *o = self;
    if (o->reduce)
        return dop_factorized_reduce_flops(o, in, out);
    if (!cnas_opkit_flops_input(&o->kit, in, out))
        return -1;
    for (int i = 0; i < 4; i++)
        out[i] = in[i];
    return o->bn_after ? in[0] * in[1] * in[2] * in[3] : 0;
}

const cnas_op_vtable dop_skip_connect_vt = CNAS_OPKIT_VTABLE(skip_create, skip_forward, skip_flops);
