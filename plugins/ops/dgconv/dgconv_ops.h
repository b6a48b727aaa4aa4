/* dgconv — convolutions that learn their group count (DGConv: Zhang et al., ICCV 2019;
 * re-implementation d-li14/dgconv.pytorch), as op components. Private declarations.
 *
 * Components:
 *   dgconv_3x3   ReLU -> DGConv 3x3 (C -> C, stride s, pad 1, no bias) -> BN: the cell-op
 *                convention of nor_conv_3x3 / DARTS's ReLUConvBN with a learned grouping.
 *                Needs C_in = C_out = C = 2^K.
 *   dg_resblock  the ResNet basic block (resnet_ops' basic_block) with DGConv 3x3 convs:
 *                conv1 (stride s) – BN – ReLU – conv2 – BN, plus the identity
 *                (C_in = C_out, s = 1) or a dense 1x1 conv + BN projection, then ReLU.
 *                conv2 is always a DGConv (C_out = 2^K); conv1 is one when C_in = C_out,
 *                a dense conv otherwise (the mask is square).
 *
 * The DGConv layer itself (gates, mask, straight-through gradients, the regulariser)
 * is libcnas's (cnas/dgconv.h). Each DGConv layer holds "<conv>.weight" [C, C, 3, 3]
 * and "<conv>.dg_gate" [K]; the gate name is what the trainer's regulariser and the
 * group report look for. Tensor names: "op.1.weight", "op.1.dg_gate", "op.2.weight",
 * "op.2.running_mean", ... (dgconv_3x3); "conv1.weight", "conv1.dg_gate", "bn1.bias",
 * "conv2.dg_gate", "downsample.0.weight", "downsample.1.running_var", ... (dg_resblock).
 * Convs use PyTorch's default init; batch norms are PyTorch's (eps 1e-5, momentum 0.1),
 * affine and with running statistics as the space asks.
 *
 * Parameters: the stored ones (every tensor listed, the full C x C x 3 x 3 weight and the
 * K gates), which is what spaces count. A layer with G groups uses C·(C/G)·9 of its
 * weights; the group report (docs/dgconv.md) gives nnz(U) = C²/G per layer.
 * FLOPs (multiply-accumulates, the resnet_ops convention): a DGConv with G groups counts
 * N·C·H_out·W_out·(C/G)·9, what a grouped convolution of that structure costs (the
 * gates as they are now); a dense conv N·C_out·H_out·W_out·C_in·k·k; one per BN output. */
#ifndef DGCONV_OPS_H
#define DGCONV_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/cnas.h>
#include <cnas/dgconv.h>

/* A bias-free k x k conv; a DGConv when gate is set (then c_in = c_out = 2^K). */
typedef struct dg_conv {
    int c_in, c_out, k, stride;
    cnas_tensor *w, *gate;
} dg_conv;

typedef enum dg_gate_init { DG_INIT_RANDOM, DG_INIT_DEPTHWISE, DG_INIT_DENSE } dg_gate_init;

typedef struct dg_op {
    cnas_opkit kit;             /* first: name, C_in, C_out, stride, affine, tensors */
    bool project;               /* dg_resblock: 1x1 conv + BN shortcut */
    dg_gate_init init;
    dg_conv conv[3];            /* dgconv_3x3: conv[0]; dg_resblock: conv1, conv2, downsample */
    cnas_opkit_bn bn[3];
} dg_op;

/* ---- common.c ------------------------------------------------------------------ */

/* Argument checks, tensors, batch norms, input checks and the BN forward are the op kit's
 * (cnas/opkit.h); destroy and tensors are cnas_opkit_destroy / cnas_opkit_tensors. */

/* cnas_opkit_new (the argument checks) plus an init stream and the gate_init key, for a
 * zeroed dg_op named `op`. */
cnas_status dg_new(const char *op, const cnas_op_args *a, const cnas_params *p, dg_op **out,
                   cnas_error *err);
/* An error naming the op and C unless c is 2^K, K = 1..CNAS_DGCONV_MAX_K. */
cnas_status dg_check_pow2(const dg_op *o, const char *what, int c, cnas_error *err);
/* A conv named prefix.weight, plus prefix.dg_gate when dg (c_in must equal c_out). */
cnas_status dg_conv_new(dg_op *o, const cnas_op_args *a, const char *prefix, int c_in, int c_out,
                        int k, int stride, bool dg, dg_conv *c, cnas_error *err);
cnas_tensor *dg_conv_forward(cnas_graph *g, cnas_tensor *x, const dg_conv *c);
/* MACs of c on in (4 dims) with its current groups, and its output shape; -1 if it cannot run. */
int64_t dg_conv_flops(const dg_conv *c, const int64_t in[4], int64_t out[4]);
static inline int64_t dg_numel4(const int64_t s[4])
{
    return s[0] * s[1] * s[2] * s[3];
}

/* ---- the components -------------------------------------------------------------- */

extern const cnas_op_vtable dg_dgconv_3x3_vt;
extern const cnas_op_vtable dg_resblock_vt;

#endif
