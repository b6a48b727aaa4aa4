/* nb201_ops — the NAS-Bench-201 operators no other op set provides, as op components
 * (Dong & Yang, ICLR 2020; reference D-X-Y/AutoDL-Projects, xautodl/models/
 * cell_operations.py). Private declarations.
 *
 * Components:
 *   nor_conv_1x1    ReLUConvBN(C_in, C_out, 1, stride s, pad 0)
 *   nor_conv_3x3    ReLUConvBN(C_in, C_out, 3, stride s, pad 1)
 *   nb201_resblock  ResNetBasicblock(C_in, C_out, s): conv_a = ReLUConvBN(C_in, C_out, 3, s, 1),
 *                   conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1), output conv_b(conv_a(x)) +
 *                   shortcut(x) with no ReLU after the sum. The shortcut is
 *                     stride 2:                 AvgPool2d(2, 2) then a bias-free 1x1 conv
 *                                               C_in -> C_out, no BN ("downsample.1");
 *                     stride 1, C_in != C_out:  ReLUConvBN(C_in, C_out, 1, 1, 0);
 *                     stride 1, C_in == C_out:  the identity.
 * The cell's other candidates, none, skip_connect and avg_pool_3x3, are darts_ops' components,
 * which behave exactly as the reference's Zero, Identity and POOLING do in this space (every
 * cell edge maps C -> C at stride 1); see docs/nb201.md.
 *
 * ReLUConvBN as the reference writes it: ReLU -> Conv2d(bias = not affine) -> BatchNorm2d
 * (affine, track_running_stats). So with affine off (the search cells) the conv has a bias
 * ("op.1.bias"), PyTorch's default init U(-1/sqrt(fan_in), 1/sqrt(fan_in)); with affine on
 * (networks) it has none. Batch norms are PyTorch's (eps 1e-5, momentum 0.1, gamma 1, beta 0,
 * running mean 0 / var 1). PARAM tensors are created with requires_grad on.
 *
 * Tensors carry the reference module's state_dict names: "op.1.weight", "op.1.bias",
 * "op.2.weight", "op.2.running_mean", ... for ReLUConvBN; "conv_a.op.1.weight",
 * "conv_b.op.2.bias", "downsample.1.weight" (stride 2) or "downsample.op.1.weight" (stride-1
 * projection) for the block.
 *
 * FLOPs are multiply-accumulates of one forward, the darts_ops convention:
 *   conv        N·C_out·H_out·W_out·C_in·k·k (a conv bias is an addition: not counted);
 *   batch norm  one per output element;
 *   avg pool    one per window element (4 per output of the 2x2 shortcut pool);
 *   ReLU, the residual addition   none.
 * flops returns -1 (output shape zeroed) for an input shape the op cannot take. */
#ifndef NB201_OPS_H
#define NB201_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/cnas.h>

/* ReLU -> conv k x k (stride, pad; bias when not affine) -> BN. */
typedef struct nop_rcb {
    int c_in, c_out, k, stride, pad;
    cnas_tensor *w, *b;         /* b: NULL when affine */
    cnas_opkit_bn bn;
} nop_rcb;

typedef enum nop_shortcut {
    NOP_SC_IDENTITY = 0,
    NOP_SC_POOL_CONV = 1,       /* stride 2: AvgPool2d(2, 2), conv 1x1 */
    NOP_SC_PROJECT = 2,         /* stride 1, C_in != C_out: ReLUConvBN 1x1 */
} nop_shortcut;

/* nb201_resblock with a stride-1 projection and affine off owns 18 tensors: three
 * ReLUConvBNs of conv weight, conv bias and four BN tensors each. */
typedef struct nop_op {
    cnas_opkit kit;             /* first: name, C_in, C_out, stride, affine, tensors */
    bool block;                 /* nb201_resblock */
    nop_rcb a;                  /* nor_conv_*: the op; block: conv_a */
    nop_rcb b;                  /* block: conv_b */
    nop_shortcut shortcut;      /* block */
    cnas_tensor *sc_w;          /* NOP_SC_POOL_CONV: the 1x1 conv */
    nop_rcb sc;                 /* NOP_SC_PROJECT */
} nop_op;

/* ---- common.c ---------------------------------------------------------------- */

/* Argument checks, tensors, batch norms, input checks and FLOPs helpers are the op kit's
 * (cnas/opkit.h); destroy and tensors are cnas_opkit_destroy / cnas_opkit_tensors. */

/* cnas_opkit_new (the argument checks) plus an init stream, for a zeroed nop_op named
 * `op`. */
cnas_status nop_new(const char *op, const cnas_op_args *a, nop_op **out, cnas_error *err);

/* A ReLUConvBN whose tensors are listed under `prefix` ("" for none): prefix.op.1.weight,
 * prefix.op.1.bias (affine off), prefix.op.2.* (the BN). */
cnas_status nop_rcb_init(nop_op *o, const cnas_op_args *a, const char *prefix, int c_in,
                         int c_out, int k, int stride, int pad, nop_rcb *r, cnas_error *err);
cnas_tensor *nop_rcb_forward(cnas_graph *g, cnas_tensor *x, const nop_rcb *r, bool training);
/* MACs of the ReLUConvBN on in (4 dims) and its output shape; -1 when it cannot run. */
int64_t nop_rcb_flops(const nop_rcb *r, const int64_t in[4], int64_t out[4]);

static inline int64_t nop_numel4(const int64_t s[4])
{
    return s[0] * s[1] * s[2] * s[3];
}

/* ---- the components ------------------------------------------------------------ */

extern const cnas_op_vtable nop_nor_conv_1x1_vt;
extern const cnas_op_vtable nop_nor_conv_3x3_vt;
extern const cnas_op_vtable nop_resblock_vt;

#endif
