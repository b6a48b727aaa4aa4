/* cnas/opkit.h — the op kit: what every op component needs besides its forward pass.
 *
 * An op (cnas/op.h) checks its create arguments, owns a table of named tensors (conv
 * weights, batch-norm scale / shift and running statistics), lists them for the host,
 * frees them, checks its input shape and counts its FLOPs. The kit does all of that
 * once:
 *
 *   typedef struct my_op {
 *       cnas_opkit kit;           // first member: then cnas_opkit_destroy and
 *       cnas_tensor *w;           // cnas_opkit_tensors are the vtable's members
 *       cnas_opkit_bn bn;
 *   } my_op;
 *
 *   static cnas_status my_create(const cnas_op_args *a, const cnas_params *p, void **self,
 *                                cnas_error *err)
 *   {
 *       cnas_status st = cnas_opkit_new("my_op", a, sizeof(my_op), self, err);
 *       if (st)
 *           return st;
 *       my_op *o = *self;
 *       if ((st = cnas_opkit_conv(&o->kit, a, "op.1.weight", a->c_out, a->c_in, 3, &o->w,
 *                                 err)) ||
 *           (st = cnas_opkit_bn_new(&o->kit, "op.2", a->c_out, a->affine, &o->bn, err))) {
 *           cnas_opkit_destroy(o);
 *           *self = NULL;
 *       }
 *       return st;
 *   }
 *   const cnas_op_vtable my_op_vt = CNAS_OPKIT_VTABLE(my_create, my_forward, my_flops);
 *
 * Conventions (PyTorch's, so checkpoints read like state_dicts): PARAM tensors are
 * created with requires_grad on; a conv weight gets PyTorch's default init from
 * args->init_rng; a batch norm has gamma = 1, beta = 0 ("<prefix>.weight", ".bias")
 * when affine and running mean 0 / var 1 (".running_mean", ".running_var") when the
 * args ask for running statistics; its forward uses momentum 0.1 and eps 1e-5.
 * FLOPs are multiply-accumulates. Every error message starts with the op's name.
 * docs/plugins.md, "Writing an op with the op kit", walks through a complete op. */
#ifndef CNAS_OPKIT_H
#define CNAS_OPKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cnas/graph.h>
#include <cnas/op.h>
#include <cnas/status.h>
#include <cnas/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The most tensors one op instance owns, and the longest tensor name (with its NUL). */
#define CNAS_OPKIT_MAX_TENSORS 32
#define CNAS_OPKIT_NAME_MAX 48

/* Batch-norm hyper-parameters (PyTorch's defaults). */
#define CNAS_OPKIT_BN_MOMENTUM 0.1f
#define CNAS_OPKIT_BN_EPS 1e-5f

typedef struct cnas_opkit {
    const char *op;             /* the op's name, for messages (borrowed, e.g. a literal) */
    int c_in, c_out, stride;    /* from cnas_op_args */
    bool affine, track;         /* affine, track_running_stats */
    int n_tensors;
    cnas_named_tensor tensors[CNAS_OPKIT_MAX_TENSORS]; /* in the order they were added */
    char names[CNAS_OPKIT_MAX_TENSORS][CNAS_OPKIT_NAME_MAX];
} cnas_opkit;

typedef struct cnas_opkit_bn {
    cnas_tensor *gamma, *beta;  /* NULL when not affine */
    cnas_tensor *mean, *var;    /* NULL when running statistics are off */
} cnas_opkit_bn;

/* ---- create --------------------------------------------------------------------- */

/* Check what every op needs (args present and at least the ABI 1.0 cnas_op_args,
 * C_in, C_out >= 1, stride 1 or 2) and fill k from them with no tensors. */
cnas_status cnas_opkit_init(cnas_opkit *k, const char *op, const cnas_op_args *a,
                            cnas_error *err);
/* cnas_opkit_init on a zeroed allocation of `size` bytes (>= sizeof(cnas_opkit))
 * whose first member is the kit; *out is NULL on failure. Free it with
 * cnas_opkit_destroy. */
cnas_status cnas_opkit_new(const char *op, const cnas_op_args *a, size_t size, void **out,
                           cnas_error *err);
/* "<op>: no init_rng in the create arguments; it is needed to initialise <what>"
 * unless a->init_rng is set. */
cnas_status cnas_opkit_require_rng(const cnas_opkit *k, const cnas_op_args *a,
                                   const char *what, cnas_error *err);
/* A create-time error "<op>: <message>"; returns CNAS_ERR_INVALID. */
cnas_status cnas_opkit_fail(const cnas_opkit *k, cnas_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A zeroed tensor owned by k and listed as `name` (copied) with `role`; a PARAM has
 * requires_grad on. NULL with an error past CNAS_OPKIT_MAX_TENSORS tensors or for a
 * name of CNAS_OPKIT_NAME_MAX characters or more. */
cnas_tensor *cnas_opkit_add(cnas_opkit *k, const char *name, int ndim, const int64_t *shape,
                            cnas_tensor_role role, cnas_error *err);
/* A bias-free conv weight [c_out, c_in_per_group, kernel, kernel] listed as `name`,
 * PyTorch's default init from a->init_rng (an error without one). */
cnas_status cnas_opkit_conv(cnas_opkit *k, const cnas_op_args *a, const char *name,
                            int64_t c_out, int64_t c_in_per_group, int kernel, cnas_tensor **w,
                            cnas_error *err);
/* A batch norm over c channels: `prefix`.weight and .bias when affine, .running_mean
 * and .running_var when k->track, in that order. */
cnas_status cnas_opkit_bn_new(cnas_opkit *k, const char *prefix, int64_t c, bool affine,
                              cnas_opkit_bn *bn, cnas_error *err);

/* ---- tensors and destroy ----------------------------------------------------------- */

/* The vtable's `tensors` and `destroy` for an op whose first member is its kit
 * (destroy also frees the op itself, which must come from malloc / cnas_opkit_new). */
int cnas_opkit_tensors(void *self, cnas_named_tensor *out, int max);
void cnas_opkit_destroy(void *self);
/* Free the tensors k owns (for an op that embeds its kit elsewhere). */
void cnas_opkit_free_tensors(cnas_opkit *k);

/* The vtable of an op whose first member is its kit:
 *     const cnas_op_vtable my_op_vt = CNAS_OPKIT_VTABLE(my_create, my_forward, my_flops); */
#define CNAS_OPKIT_VTABLE(create, forward, flops)                                          \
    {sizeof(cnas_op_vtable), create, cnas_opkit_destroy, forward, cnas_opkit_tensors, flops}

/* ---- forward ------------------------------------------------------------------------ */

/* Training mode from a forward context; NULL means evaluation. */
bool cnas_opkit_training(const cnas_op_forward_ctx *ctx);
/* False, with a shape error on g naming the op, unless x is [N, C_in, H, W] (and
 * H, W >= min_hw when min_hw > 0). Also false when x is missing or g has failed. */
bool cnas_opkit_check_input(const cnas_opkit *k, cnas_graph *g, cnas_tensor *x,
                            int64_t min_hw);
/* Batch norm with the tensors of bn (momentum 0.1, eps 1e-5). */
cnas_tensor *cnas_opkit_bn_forward(cnas_graph *g, cnas_tensor *x, const cnas_opkit_bn *bn,
                                   bool training);

/* ---- FLOPs (multiply-accumulates) ---------------------------------------------------- */

/* Zero out and say whether in is [N >= 1, C_in, H >= 1, W >= 1]. */
bool cnas_opkit_flops_input(const cnas_opkit *k, const int64_t in[4], int64_t out[4]);
/* A bias-free conv from in [N, C, H, W] to c_out channels: N·c_out·H_out·W_out·(C/groups)·
 * kernel², with its output shape in out; -1 (out untouched) when it cannot run. */
int64_t cnas_opkit_conv_flops(const int64_t in[4], int64_t c_out, int groups, int kernel,
                              int stride, int pad, int dilation, int64_t out[4]);
/* A max / avg pool: one per in-bounds window element summed over the outputs (padding
 * is not counted), with its output shape in out; -1 (out untouched) when it cannot run. */
int64_t cnas_opkit_pool_flops(const int64_t in[4], int kernel, int stride, int pad,
                              int64_t out[4]);

#ifdef __cplusplus
}
#endif
#endif
