/* The op kit (cnas/opkit.h): argument checks, owned tensors, batch norm, FLOPs. */
#include <cnas/opkit.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/ops.h>
#include <cnas/optim.h>

/* cnas_op_args as ABI 1.0 defines it: the caller must know every field we read. */
#define OPKIT_ARGS_V1_SIZE (offsetof(cnas_op_args, init_rng) + sizeof(cnas_rng *))

cnas_status cnas_opkit_init(cnas_opkit *k, const char *op, const cnas_op_args *a,
                            cnas_error *err)
{
    if (!a)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: no create arguments", op);
    if (a->size < OPKIT_ARGS_V1_SIZE)
        return cnas_error_set(err, CNAS_ERR_INVALID,
                              "%s: create arguments are %u bytes, expected at least %zu "
                              "(cnas_op_args of ABI 1.0)", op, (unsigned)a->size,
                              (size_t)OPKIT_ARGS_V1_SIZE);
    if (a->c_in < 1 || a->c_out < 1)
        return cnas_error_set(err, CNAS_ERR_INVALID,
                              "%s: C_in = %d, C_out = %d; both must be at least 1", op,
                              (int)a->c_in, (int)a->c_out);
    if (a->stride != 1 && a->stride != 2)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: stride %d, expected 1 or 2", op,
                              (int)a->stride);
    memset(k, 0, sizeof *k);
    k->op = op;
    k->c_in = a->c_in;
    k->c_out = a->c_out;
    k->stride = a->stride;
    k->affine = a->affine;
    k->track = a->track_running_stats;
    return CNAS_OK;
}

cnas_status cnas_opkit_new(const char *op, const cnas_op_args *a, size_t size, void **out,
                           cnas_error *err)
{
    *out = NULL;
    if (size < sizeof(cnas_opkit))
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: op struct of %zu bytes cannot hold "
                              "its cnas_opkit (%zu bytes)", op, size, sizeof(cnas_opkit));
    cnas_opkit *k = calloc(1, size);
    if (!k)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "%s: out of memory", op);
    cnas_status st = cnas_opkit_init(k, op, a, err);
    if (st) {
        free(k);
        return st;
    }
    *out = k;
    return CNAS_OK;
}

cnas_status cnas_opkit_require_rng(const cnas_opkit *k, const cnas_op_args *a,
                                   const char *what, cnas_error *err)
{
    if (a && a->init_rng)
        return CNAS_OK;
    return cnas_error_set(err, CNAS_ERR_INVALID, "%s: no init_rng in the create arguments; "
                          "it is needed to initialise %s", k->op, what);
}

cnas_status cnas_opkit_fail(const cnas_opkit *k, cnas_error *err, const char *fmt, ...)
{
    char msg[CNAS_ERROR_MSG_MAX - 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cnas_error_set(err, CNAS_ERR_INVALID, "%s: %s", k->op, msg);
}

cnas_tensor *cnas_opkit_add(cnas_opkit *k, const char *name, int ndim, const int64_t *shape,
                            cnas_tensor_role role, cnas_error *err)
{
    if (k->n_tensors == CNAS_OPKIT_MAX_TENSORS) {
        cnas_error_set(err, CNAS_ERR_INTERNAL, "%s: more than %d tensors (adding %s)", k->op,
                       CNAS_OPKIT_MAX_TENSORS, name);
        return NULL;
    }
    if (strlen(name) >= CNAS_OPKIT_NAME_MAX) {
        cnas_error_set(err, CNAS_ERR_INTERNAL, "%s: tensor name '%s' is %zu characters, at "
                       "most %d allowed", k->op, name, strlen(name), CNAS_OPKIT_NAME_MAX - 1);
        return NULL;
    }
    cnas_tensor *t = cnas_tensor_new(ndim, shape, err);
    if (!t) {
        cnas_error_prefix(err, "%s: tensor %s", k->op, name);
        return NULL;
    }
    int i = k->n_tensors++;
    snprintf(k->names[i], sizeof k->names[i], "%s", name);
    cnas_tensor_set_name(t, name);
    if (role == CNAS_ROLE_PARAM)
        cnas_tensor_set_requires_grad(t, true);
    k->tensors[i] = (cnas_named_tensor){k->names[i], t, role};
    return t;
}

static cnas_status failed(cnas_error *err)
{
    return err ? err->code : CNAS_ERR_NOMEM;
}

cnas_status cnas_opkit_conv(cnas_opkit *k, const cnas_op_args *a, const char *name,
                            int64_t c_out, int64_t c_in_per_group, int kernel, cnas_tensor **w,
                            cnas_error *err)
{
    cnas_status st = cnas_opkit_require_rng(k, a, name, err);
    if (st)
        return st;
    if (!(*w = cnas_opkit_add(k, name, CNAS_SHAPE(c_out, c_in_per_group, kernel, kernel),
                              CNAS_ROLE_PARAM, err)))
        return failed(err);
    cnas_init_default_weight(*w, a->init_rng);
    return CNAS_OK;
}

/* One batch-norm tensor "<prefix><suffix>" of c channels filled with v. */
static cnas_tensor *bn_tensor(cnas_opkit *k, const char *prefix, const char *suffix, int64_t c,
                              cnas_tensor_role role, float v, cnas_error *err)
{
    char n[CNAS_OPKIT_NAME_MAX + 1];
    int len = snprintf(n, sizeof n, "%s%s", prefix, suffix);
    if (len < 0 || len >= (int)sizeof n) {
        cnas_error_set(err, CNAS_ERR_INTERNAL, "%s: tensor name '%s%s' is longer than %d "
                       "characters", k->op, prefix, suffix, CNAS_OPKIT_NAME_MAX - 1);
        return NULL;
    }
    cnas_tensor *t = cnas_opkit_add(k, n, CNAS_SHAPE(c), role, err);
    if (t && v != 0.0f)
        cnas_tensor_fill(t, v);
    return t;
}

cnas_status cnas_opkit_bn_new(cnas_opkit *k, const char *prefix, int64_t c, bool affine,
                              cnas_opkit_bn *bn, cnas_error *err)
{
    *bn = (cnas_opkit_bn){0};
    if (affine &&
        (!(bn->gamma = bn_tensor(k, prefix, ".weight", c, CNAS_ROLE_PARAM, 1.0f, err)) ||
         !(bn->beta = bn_tensor(k, prefix, ".bias", c, CNAS_ROLE_PARAM, 0.0f, err))))
        return failed(err);
    if (k->track &&
        (!(bn->mean = bn_tensor(k, prefix, ".running_mean", c, CNAS_ROLE_BUFFER, 0.0f, err)) ||
         !(bn->var = bn_tensor(k, prefix, ".running_var", c, CNAS_ROLE_BUFFER, 1.0f, err))))
        return failed(err);
    return CNAS_OK;
}

int cnas_opkit_tensors(void *self, cnas_named_tensor *out, int max)
{
    const cnas_opkit *k = self;
    for (int i = 0; out && i < k->n_tensors && i < max; i++)
        out[i] = k->tensors[i];
    return k->n_tensors;
}

void cnas_opkit_free_tensors(cnas_opkit *k)
{
    for (int i = 0; i < k->n_tensors; i++)
        cnas_tensor_free(k->tensors[i].tensor);
    k->n_tensors = 0;
}

void cnas_opkit_destroy(void *self)
{
    if (!self)
        return;
    cnas_opkit_free_tensors(self);
    free(self);
}

bool cnas_opkit_training(const cnas_op_forward_ctx *ctx)
{
    return ctx && ctx->training;
}

bool cnas_opkit_check_input(const cnas_opkit *k, cnas_graph *g, cnas_tensor *x,
                            int64_t min_hw)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return false;
    if (x->ndim == 4 && x->shape[1] == k->c_in && x->shape[2] >= min_hw &&
        x->shape[3] >= min_hw)
        return true;
    char s[CNAS_SHAPE_STR_MAX];
    if (min_hw > 0)
        cnas_graph_fail(g, CNAS_ERR_SHAPE, "%s: input %s, expected [N, %d, H, W] with H, W >= "
                        "%lld (C_in = %d)", k->op, cnas_shape_str(x, s, sizeof s), k->c_in,
                        (long long)min_hw, k->c_in);
    else
        cnas_graph_fail(g, CNAS_ERR_SHAPE, "%s: input %s, expected [N, %d, H, W] (C_in = %d)",
                        k->op, cnas_shape_str(x, s, sizeof s), k->c_in, k->c_in);
    return false;
}

cnas_tensor *cnas_opkit_bn_forward(cnas_graph *g, cnas_tensor *x, const cnas_opkit_bn *bn,
                                   bool training)
{
    cnas_batch_norm_params p = {.training = training, .momentum = CNAS_OPKIT_BN_MOMENTUM,
                                .eps = CNAS_OPKIT_BN_EPS};
    return cnas_batch_norm(g, x, bn->gamma, bn->beta, bn->mean, bn->var, &p);
}

bool cnas_opkit_flops_input(const cnas_opkit *k, const int64_t in[4], int64_t out[4])
{
    for (int i = 0; i < 4; i++)
        out[i] = 0;
    return in && in[0] >= 1 && in[1] == k->c_in && in[2] >= 1 && in[3] >= 1;
}

int64_t cnas_opkit_conv_flops(const int64_t in[4], int64_t c_out, int groups, int kernel,
                              int stride, int pad, int dilation, int64_t out[4])
{
    if (in[0] < 1 || in[1] < 1 || groups < 1 || in[1] % groups || stride < 1)
        return -1;
    int64_t ho = cnas_conv_out_size(in[2], kernel, stride, pad, dilation);
    int64_t wo = cnas_conv_out_size(in[3], kernel, stride, pad, dilation);
    if (ho < 1 || wo < 1)
        return -1;
    out[0] = in[0];
    out[1] = c_out;
    out[2] = ho;
    out[3] = wo;
    return in[0] * c_out * ho * wo * (in[1] / groups) * kernel * kernel;
}

/* Σ over output positions of the in-bounds window length along one axis. */
static int64_t window_sum(int64_t n, int kernel, int stride, int pad, int64_t n_out)
{
    int64_t s = 0;
    for (int64_t o = 0; o < n_out; o++) {
        int64_t lo = o * stride - pad, hi = lo + kernel;
        s += (hi < n ? hi : n) - (lo > 0 ? lo : 0);
    }
    return s;
}

int64_t cnas_opkit_pool_flops(const int64_t in[4], int kernel, int stride, int pad,
                              int64_t out[4])
{
    if (stride < 1)
        return -1;
    int64_t ho = cnas_conv_out_size(in[2], kernel, stride, pad, 1);
    int64_t wo = cnas_conv_out_size(in[3], kernel, stride, pad, 1);
    if (ho < 1 || wo < 1)
        return -1;
    out[0] = in[0];
    out[1] = in[1];
    out[2] = ho;
    out[3] = wo;
    return in[0] * in[1] * window_sum(in[2], kernel, stride, pad, ho) *
           window_sum(in[3], kernel, stride, pad, wo);
}
