/* darts_ops — the DARTS op set (quark0/darts cnn/operations.py) as op components.
 *
 * Every component is one `dop_op` instance: the reference module's hyper-parameters,
 * the tensors it owns, and the table of those tensors under the reference module's
 * state_dict names (e.g. sep_conv: "op.1.weight" is the first depthwise conv, "op.3.*"
 * its batch norm), so checkpoints read like the PyTorch ones (there is no
 * num_batches_tracked). Components differ only in create, forward and flops; destroy
 * and tensors are shared.
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

/* The most tensors one instance owns: sep_conv has 4 convs and 2 batch norms. */
#define DOP_MAX_TENSORS 16
#define DOP_NAME_MAX 24

typedef struct dop_bn {
    cnas_tensor *gamma, *beta;  /* NULL when not affine */
    cnas_tensor *mean, *var;    /* NULL when running statistics are off */
} dop_bn;

typedef struct dop_op {
    const char *op;             /* component name, for messages */
    int c_in, c_out, stride;
    bool affine, track;
    int kernel, pad, dilation;  /* of the spatial conv, where the op has one */
    bool bn_after;              /* pools: BN(C, affine=False) after the pool */
    bool reduce;                /* skip_connect at stride 2: FactorizedReduce */
    cnas_tensor *conv[4];       /* bias-free conv weights, in module order */
    dop_bn bn[2];
    int n_tensors;
    cnas_named_tensor tensors[DOP_MAX_TENSORS];
    char names[DOP_MAX_TENSORS][DOP_NAME_MAX];
} dop_op;

/* ---- common.c ---------------------------------------------------------------- */

/* Validate what every op needs (args present, C_in, C_out >= 1, stride 1 or 2) and
 * allocate a zeroed instance named `op`. */
cnas_status dop_new(const char *op, const cnas_op_args *a, dop_op **out, cnas_error *err);
/* A bias-free conv weight [c_out, c_in_per_group, k, k], PyTorch default init from
 * a->init_rng, listed as `name`. */
cnas_status dop_conv(dop_op *o, const cnas_op_args *a, const char *name, int64_t c_out,
                     int64_t c_in_per_group, int k, cnas_tensor **w, cnas_error *err);
/* A batch norm over c channels, listed as `prefix`.weight/.bias/.running_mean/.running_var. */
cnas_status dop_bn_new(dop_op *o, const char *prefix, int64_t c, bool affine, dop_bn *bn,
                       cnas_error *err);
void dop_destroy(void *self);
int dop_tensors(void *self, cnas_named_tensor *out, int max);
/* Create-time error naming the op: "op: message". Returns CNAS_ERR_INVALID. */
cnas_status dop_fail(cnas_error *err, dop_op *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Forward helpers. A NULL ctx means evaluation. */
bool dop_training(const cnas_op_forward_ctx *ctx);
/* False (graph error recorded) unless x is [N, C_in, H, W]. */
bool dop_check_input(const dop_op *o, cnas_graph *g, cnas_tensor *x);
cnas_tensor *dop_bn_forward(cnas_graph *g, cnas_tensor *x, const dop_bn *bn, bool training);

/* FLOPs helpers: the input shape check, and the output size / MACs of a conv or pool
 * along with the output shape (all four dims). Each returns -1 when it cannot run. */
bool dop_flops_input(const dop_op *o, const int64_t in[4], int64_t out[4]);
int64_t dop_conv_flops(const int64_t in[4], int64_t c_out, int groups, int k, int stride, int pad,
                       int dilation, int64_t out[4]);
int64_t dop_pool_flops(const int64_t in[4], int k, int stride, int pad, int64_t out[4]);
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
