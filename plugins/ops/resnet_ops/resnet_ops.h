/* resnet_ops — the ResNet building blocks as op components, private declarations.
 *
 * Components (the layers of the ResNet20 of Balanced Mixture of SuperNets,
 * mehravehj/Balanced-Mixture-of-SuperNets create_model.py):
 *   basic_block   conv3x3(C_in→C_out, stride s) – BN – ReLU – conv3x3 – BN, plus the
 *                 shortcut, then ReLU. The shortcut is the identity when C_in = C_out
 *                 and s = 1, else a 1x1 conv at stride s followed by BN (the
 *                 reference's `downsample`).
 *   conv_bn_relu  conv3x3(C_in→C_out, stride s, pad 1) – BN – ReLU (the first layer).
 *   max_pool_2x2  2x2 max pool at stride 2 (F.max_pool2d(x, 2)): floor(H/2) x floor(W/2),
 *                 C_out = C_in; created with stride 2 since it always downsamples.
 *
 * Tensors carry the reference module's state_dict names ("conv1.weight",
 * "bn1.running_mean", "downsample.0.weight", "downsample.1.bias", "conv.weight",
 * "bn.weight"), so a checkpoint reads like the PyTorch one. All convs are bias-free
 * with PyTorch's default init; batch norms are PyTorch's (eps 1e-5, momentum 0.1,
 * gamma 1, beta 0, running mean 0 / var 1). With affine off there is no gamma / beta;
 * with track_running_stats off there are no running statistics and the BN uses
 * batch statistics even in evaluation (the supernet of the reference).
 *
 * FLOPs are multiply-accumulates of one forward, the darts_ops convention:
 *   conv       N·C_out·H_out·W_out·C_in·k·k;
 *   batch norm one per output element (a folded scale and shift);
 *   max pool   one per window element (4 per output);
 *   ReLU, the residual addition   none.
 * flops returns -1 (output shape zeroed) for an input shape the op cannot take. */
#ifndef RESNET_OPS_H
#define RESNET_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/cnas.h>

typedef struct rop_op {
    cnas_opkit kit;             /* first: name, C_in, C_out, stride, affine, tensors */
    bool project;               /* basic_block: 1x1 conv + BN shortcut */
    cnas_tensor *conv[3];       /* conv1, conv2, downsample.0 (or conv) */
    cnas_opkit_bn bn[3];        /* bn1, bn2, downsample.1 (or bn) */
} rop_op;

/* Argument checks, tensors, batch norms, input checks and FLOPs helpers are the op kit's
 * (cnas/opkit.h); destroy and tensors are cnas_opkit_destroy / cnas_opkit_tensors. */

/* cnas_opkit_new (the argument checks) for a zeroed rop_op named `op`. */
static inline cnas_status rop_new(const char *op, const cnas_op_args *a, rop_op **out,
                                  cnas_error *err)
{
    void *p;
    cnas_status st = cnas_opkit_new(op, a, sizeof **out, &p, err);
    *out = p;
    return st;
}
static inline int64_t rop_numel4(const int64_t s[4])
{
    return s[0] * s[1] * s[2] * s[3];
}

/* ---- the components -------------------------------------------------------------- */

extern const cnas_op_vtable rop_basic_block_vt;
extern const cnas_op_vtable rop_conv_bn_relu_vt;
extern const cnas_op_vtable rop_max_pool_2x2_vt;

#endif
