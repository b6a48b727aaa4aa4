/* Structural ops: channel concat and slice, spatial crop, reshape, nearest
 * upsampling. All NCHW; a plane is H*W contiguous floats, so channel ops move
 * whole planes with memcpy. */
#include <cnas/ops.h>

#include "internal.h"

#include <stdio.h>
#include <string.h>

static void add_into(float *dst, const float *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* ---- concat ---------------------------------------------------------------------- */

static void concat_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *y = n->out;
    int64_t N = y->shape[0], C = y->shape[1], hw = y->shape[2] * y->shape[3];
    int64_t c0 = 0;
    for (int i = 0; i < n->n_in; i++) {
        cnas_tensor *x = n->in[i];
        int64_t cx = x->shape[1];
        if (cnas_tensor_requires_grad(x)) {
            float *gx = cnas_graph_grad(g, x);
            if (!gx)
                return;
#pragma omp parallel for schedule(static) if (N * cx * hw >= CNAS_PAR_MIN)
            for (int64_t b = 0; b < N; b++)
                add_into(gx + b * cx * hw, y->grad + (b * C + c0) * hw, cx * hw);
        }
        c0 += cx;
    }
}

cnas_tensor *cnas_concat(cnas_graph *g, int n, cnas_tensor *const *xs)
{
    if (n < 1)
        return cnas_graph_fail(g, CNAS_ERR_INVALID, "concat: %d inputs", n);
    if (cnas_graph_bad_inputs(g, n, xs))
        return NULL;
    int64_t C = 0;
    for (int i = 0; i < n; i++) {
        const cnas_tensor *x = xs[i];
        if (x->ndim < 2 || x->shape[0] != xs[0]->shape[0] || x->ndim != xs[0]->ndim ||
            x->shape[2] != xs[0]->shape[2] || x->shape[3] != xs[0]->shape[3]) {
            char a[CNAS_SHAPE_STR_MAX], b[CNAS_SHAPE_STR_MAX];
            return cnas_graph_fail(g, CNAS_ERR_SHAPE, "concat: input %d is %s but input 0 is %s; "
                                   "only dim 1 may differ", i, cnas_shape_str(x, a, sizeof a),
                                   cnas_shape_str(xs[0], b, sizeof b));
        }
        C += x->shape[1];
    }
    int64_t shape[4] = {xs[0]->shape[0], C, xs[0]->shape[2], xs[0]->shape[3]};
    cnas_tensor *y = cnas_graph_tensor(g, xs[0]->ndim, shape);
    if (!y)
        return NULL;
    int64_t N = shape[0], hw = shape[2] * shape[3];
    int64_t c0 = 0;
    for (int i = 0; i < n; i++) {
        int64_t cx = xs[i]->shape[1];
        const float *xd = xs[i]->data;
#pragma omp parallel for schedule(static) if (N * cx * hw >= CNAS_PAR_MIN)
        for (int64_t b = 0; b < N; b++)
            memcpy(y->data + (b * C + c0) * hw, xd + b * cx * hw, (size_t)(cx * hw) * sizeof(float));
        c0 += cx;
    }
    if (cnas_graph_should_record(g, n, xs) && !cnas_graph_record(g, "concat", y, n, xs, concat_backward, 0))
        return NULL;
    return y;
}

/* ---- slice channels ---------------------------------------------------------------- */

typedef struct slice_ctx { int64_t c0; } slice_ctx;

static void slice_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0], *y = n->out;
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    int64_t N = x->shape[0], C = x->shape[1], cy = y->shape[1], hw = x->shape[2] * x->shape[3];
    int64_t c0 = ((slice_ctx *)n->ctx)->c0;
#pragma omp parallel for schedule(static) if (N * cy * hw >= CNAS_PAR_MIN)
    for (int64_t b = 0; b < N; b++)
        add_into(gx + (b * C + c0) * hw, y->grad + b * cy * hw, cy * hw);
}

cnas_tensor *cnas_slice_channels(cnas_graph *g, cnas_tensor *x, int64_t c0, int64_t c1)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    if (x->ndim < 2 || c0 < 0 || c1 > x->shape[1] || c0 >= c1) {
        char s[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "slice_channels: [%lld, %lld) of %s",
                               (long long)c0, (long long)c1, cnas_shape_str(x, s, sizeof s));
    }
    int64_t shape[4] = {x->shape[0], c1 - c0, x->shape[2], x->shape[3]};
    cnas_tensor *y = cnas_graph_tensor(g, x->ndim, shape);
    if (!y)
        return NULL;
    int64_t N = x->shape[0], C = x->shape[1], hw = x->shape[2] * x->shape[3], cy = c1 - c0;
#pragma omp parallel for schedule(static) if (N * cy * hw >= CNAS_PAR_MIN)
    for (int64_t b = 0; b < N; b++)
        memcpy(y->data + b * cy * hw, x->data + (b * C + c0) * hw, (size_t)(cy * hw) * sizeof(float));
    if (cnas_graph_should_record(g, 1, &x)) {
        cnas_node *n = cnas_graph_record(g, "slice_channels", y, 1, &x, slice_backward, sizeof(slice_ctx));
        if (!n)
            return NULL;
        ((slice_ctx *)n->ctx)->c0 = c0;
    }
    return y;
}

/* ---- crop ---------------------------------------------------------------------------- */

typedef struct crop_ctx { int64_t h0, w0; } crop_ctx;

static void crop_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0], *y = n->out;
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    crop_ctx *c = n->ctx;
    int64_t planes = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t h = y->shape[2], w = y->shape[3];
#pragma omp parallel for schedule(static) if (planes * h * w >= CNAS_PAR_MIN)
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < h; i++)
            add_into(gx + p * H * W + (c->h0 + i) * W + c->w0, y->grad + p * h * w + i * w, w);
}

cnas_tensor *cnas_crop(cnas_graph *g, cnas_tensor *x, int64_t h0, int64_t w0, int64_t h, int64_t w)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    if (x->ndim != 4 || h0 < 0 || w0 < 0 || h < 1 || w < 1 || h0 + h > x->shape[2] ||
        w0 + w > x->shape[3]) {
        char s[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "crop: rows [%lld, %lld) and columns [%lld, "
                               "%lld) do not fit %s", (long long)h0, (long long)(h0 + h),
                               (long long)w0, (long long)(w0 + w), cnas_shape_str(x, s, sizeof s));
    }
    int64_t shape[4] = {x->shape[0], x->shape[1], h, w};
    cnas_tensor *y = cnas_graph_tensor(g, 4, shape);
    if (!y)
        return NULL;
    int64_t planes = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3];
#pragma omp parallel for schedule(static) if (planes * h * w >= CNAS_PAR_MIN)
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < h; i++)
            memcpy(y->data + p * h * w + i * w, x->data + p * H * W + (h0 + i) * W + w0,
                   (size_t)w * sizeof(float));
    if (cnas_graph_should_record(g, 1, &x)) {
        cnas_node *n = cnas_graph_record(g, "crop", y, 1, &x, crop_backward, sizeof(crop_ctx));
        if (!n)
            return NULL;
        *(crop_ctx *)n->ctx = (crop_ctx){h0, w0};
    }
    return y;
}

/* ---- reshape ------------------------------------------------------------------------- */

static void reshape_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0];
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (gx)
        add_into(gx, n->out->grad, x->numel);
}

cnas_tensor *cnas_reshape(cnas_graph *g, cnas_tensor *x, int ndim, const int64_t *shape)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    char s[CNAS_SHAPE_STR_MAX];
    if (!shape || ndim < 1 || ndim > CNAS_MAX_DIMS)
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "reshape: %s to %d dims; expected 1 to %d",
                               cnas_shape_str(x, s, sizeof s), ndim, CNAS_MAX_DIMS);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return cnas_graph_fail(g, CNAS_ERR_SHAPE, "reshape: %s to a shape with dim %d = %lld",
                                   cnas_shape_str(x, s, sizeof s), i, (long long)shape[i]);
        /* Saturate instead of overflowing: any product beyond x's count is a mismatch. */
        numel = shape[i] > x->numel / numel ? x->numel + 1 : numel * shape[i];
    }
    if (numel != x->numel) {
        char t[CNAS_SHAPE_STR_MAX];
        int at = snprintf(t, sizeof t, "[");
        for (int i = 0; i < ndim; i++)
            at += snprintf(t + at, sizeof t - (size_t)at, "%s%lld", i ? ", " : "", (long long)shape[i]);
        snprintf(t + at, sizeof t - (size_t)at, "]");
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "reshape: %s has %lld elements but the new shape "
                               "%s does not", cnas_shape_str(x, s, sizeof s), (long long)x->numel, t);
    }
    cnas_tensor *y = cnas_graph_tensor(g, ndim, shape);
    if (!y)
        return NULL;
    memcpy(y->data, x->data, cnas_tensor_bytes(x));
    if (cnas_graph_should_record(g, 1, &x) && !cnas_graph_record(g, "reshape", y, 1, &x, reshape_backward, 0))
        return NULL;
    return y;
}

cnas_tensor *cnas_flatten(cnas_graph *g, cnas_tensor *x)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    int64_t shape[2] = {x->shape[0], x->numel / x->shape[0]};
    return cnas_reshape(g, x, 2, shape);
}

/* ---- nearest upsampling ----------------------------------------------------------------- */

typedef struct up_ctx { int s; } up_ctx;

static void upsample_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0], *y = n->out;
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    int s = ((up_ctx *)n->ctx)->s;
    int64_t planes = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t Wo = W * s;
#pragma omp parallel for schedule(static) if (planes * H * W * s * s >= CNAS_PAR_MIN)
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < H * s; i++)
            for (int64_t j = 0; j < Wo; j++)
                gx[p * H * W + (i / s) * W + j / s] += y->grad[p * H * s * Wo + i * Wo + j];
}

cnas_tensor *cnas_upsample_nearest(cnas_graph *g, cnas_tensor *x, int scale)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    if (x->ndim != 4 || scale < 1) {
        char s[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "upsample_nearest: input %s with scale %d; "
                               "expected NCHW and a scale >= 1", cnas_shape_str(x, s, sizeof s),
                               scale);
    }
    int64_t H = x->shape[2], W = x->shape[3];
    int64_t shape[4] = {x->shape[0], x->shape[1], H * scale, W * scale};
    cnas_tensor *y = cnas_graph_tensor(g, 4, shape);
    if (!y)
        return NULL;
    int64_t planes = x->shape[0] * x->shape[1], Wo = W * scale;
#pragma omp parallel for schedule(static) if (planes * H * W * scale * scale >= CNAS_PAR_MIN)
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < H * scale; i++)
            for (int64_t j = 0; j < Wo; j++)
                y->data[p * H * scale * Wo + i * Wo + j] = x->data[p * H * W + (i / scale) * W + j / scale];
    if (cnas_graph_should_record(g, 1, &x)) {
        cnas_node *n = cnas_graph_record(g, "upsample_nearest", y, 1, &x, upsample_backward,
                                         sizeof(up_ctx));
        if (!n)
            return NULL;
        ((up_ctx *)n->ctx)->s = scale;
    }
    return y;
}
