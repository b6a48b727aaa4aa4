/* darts_ops — the DARTS op set (quark0/darts cnn/operations.py) as op components.
 *
 * Every component is one `dop_op` instance: the reference module's hyper-parameters,
 * the tensors it owns, and the table of those tensors under the reference module's
 * state_dict names (e.g. sep_conv: "op.1.weight" is the first depthwise conv, "op.3.*"
 * its batch norm), so checkpoints read like the PyTorch ones (there is no
 * num_batches_tracked). Components differ only in create, forward and flops; the
 * rest (argument checks, owned tensors, destroy, tensors, batch norm, FLOPs helpers)
 * is libcnas's op kit, cnas/opkit.h.
 *
 * Batch norms: PyTorch defaults (eps 1e-5, momentum 0.1); gamma = 1, beta = 0 when
 * affine; running mean 0 / var 1 when args->track_running_stats. PARAM tensors are
 * created with requires_grad on, as nn.Parameter is; callers freeze them by clearing
 * the flag.
 *
 * FLOPs are multiply-accumulates of one forward:
 *   conv          N·C_out·H_out·W_out·(C_in/groups)·kh·kw, exact;
 *   batch norm    one per output element (a folded scale and shift);
 *   max/avg pool  one per in-bounds window element summed over outputs (the
 *                 comparisons / additions actually done; avg excludes padding);
 *   ReLU, zero, identity, crop, concat   none.
 * flops returns -1 (output shape zeroed) for an input shape the op cannot take. */
#ifndef DARTS_OPS_H
#define DARTS_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/cnas.h>

typedef struct dop_op {
    cnas_opkit kit;             /* first: name, C_in, C_out, stride, affine, tensors */
    int kernel, pad, dilation;  /* of the spatial conv, where the op has one */
    bool bn_after;              /* pools: BN(C, affine=False) after the pool */
    bool reduce;                /* skip_connect at stride 2: FactorizedReduce */
    cnas_tensor *conv[4];       /* bias-free conv weights, in module order */
    cnas_opkit_bn bn[2];
} dop_op;

/* ---- common.c ---------------------------------------------------------------- */

/* cnas_opkit_new (the argument checks) for a dop_op named `op`, dilation 1. Argument
 * checks, tensors, batch norms, input checks and FLOPs helpers are the op kit's
 * (cnas/opkit.h); destroy and tensors are cnas_opkit_destroy / cnas_opkit_tensors. */
cnas_status dop_new(const char *op, const cnas_op_args *a, dop_op **out, cnas_error *err);
/* FactorizedReduce on x with `o`'s conv[0..1], bn[0] (shared by skip_connect). */
cnas_tensor *dop_factorized_reduce_forward(dop_op *o, cnas_graph *g, cnas_tensor *x,
                                           bool training);
cnas_status dop_factorized_reduce_init(dop_op *o, const cnas_op_args *a, cnas_error *err);
int64_t dop_factorized_reduce_flops(const dop_op *o, const int64_t in[4], int64_t out[4]);

/* ---- the components ------------------------------------------------------------ */

extern const cnas_op_vtable dop_none_vt;
extern const cnas_op_vtable dop_max_pool_3x3_vt;
extern const cnas_op_vtable dop_avg_pool_3x3_vt;
extern const cnas_op_vtable dop_skip_connect_vt;
extern const cnas_op_vtable dop_sep_conv_3x3_vt;
extern const cnas_op_vtable dop_sep_conv_5x5_vt;
extern const cnas_op_vtable dop_dil_conv_3x3_vt;
extern const cnas_op_vtable dop_dil_conv_5x5_vt;
extern const cnas_op_vtable dop_relu_conv_bn_vt;
extern const cnas_op_vtable dop_factorized_reduce_vt;
extern const cnas_op_vtable dop_conv_3x3_vt;

#endif
