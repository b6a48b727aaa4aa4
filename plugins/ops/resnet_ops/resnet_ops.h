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

/* basic_block with projection: 3 convs, 3 batch norms of 4 tensors each. */
#define ROP_MAX_TENSORS 16
#define ROP_NAME_MAX 32

typedef struct rop_bn {
    cnas_tensor *gamma, *beta;  /* NULL when not affine */
    cnas_tensor *mean, *var;    /* NULL when running statistics are off */
} rop_bn;

typedef struct rop_op {
    const char *op;             /* component name, for messages */
    int c_in, c_out, stride;
    bool affine, track;
    bool project;               /* basic_block: 1x1 conv + BN shortcut */
    cnas_tensor *conv[3];       /* conv1, conv2, downsample.0 (or conv) */
    rop_bn bn[3];               /* bn1, bn2, downsample.1 (or bn) */
    int n_tensors;
    cnas_named_tensor tensors[ROP_MAX_TENSORS];
    char names[ROP_MAX_TENSORS][ROP_NAME_MAX];
} rop_op;

/* ---- common.c ------------------------------------------------------------------ */

/* Validate the arguments every op needs (present, C_in, C_out >= 1, stride 1 or 2, an
 * init stream) and allocate a zeroed instance named `op`. */
cnas_status rop_new(const char *op, const cnas_op_args *a, rop_op **out, cnas_error *err);
/* A bias-free conv weight [c_out, c_in, k, k] with PyTorch's default init. */
cnas_status rop_conv(rop_op *o, const cnas_op_args *a, const char *name, int64_t c_out,
                     int64_t c_in, int k, cnas_tensor **w, cnas_error *err);
/* A batch norm over c channels listed as prefix.weight / .bias / .running_mean / .running_var. */
cnas_status rop_bn_new(rop_op *o, const char *prefix, int64_t c, rop_bn *bn, cnas_error *err);
void rop_destroy(void *self);
int rop_tensors(void *self, cnas_named_tensor *out, int max);

/* False (graph error recorded) unless x is [N, C_in, H, W] with H, W >= min_hw. */
bool rop_check_input(const rop_op *o, cnas_graph *g, cnas_tensor *x, int64_t min_hw);
cnas_tensor *rop_bn_forward(cnas_graph *g, cnas_tensor *x, const rop_bn *bn, bool training);
static inline bool rop_training(const cnas_op_forward_ctx *ctx)
{
    return ctx && ctx->training;
}

/* MACs of a bias-free k x k conv (pad k/2) at stride s from in (4 dims) to c_out
 * channels, plus its output shape; -1 when it cannot run. */
int64_t rop_conv_flops(const int64_t in[4], int64_t c_out, int k, int stride, int64_t out[4]);
static inline int64_t rop_numel4(const int64_t s[4])
{
    return s[0] * s[1] * s[2] * s[3];
}

/* ---- the components -------------------------------------------------------------- */

extern const cnas_op_vtable rop_basic_block_vt;
extern const cnas_op_vtable rop_conv_bn_relu_vt;
extern const cnas_op_vtable rop_max_pool_2x2_vt;

#endif
