/* Pooling, parallel over (n, c) planes. Max pooling keeps the argmax of every
 * output (an index into its input plane) for the backward scatter; average pooling
 * recomputes its divisor, which excludes padding when count_include_pad is off (as
 * DARTS' AvgPool2d(count_include_pad=False)). Stride-1 "same" windows (k odd, padding
 * (k-1)/2: every pooling of a DARTS cell) take vectorised paths over a padded copy of
 * the plane; the general loops serve the rest. */
#include <cnas/ops.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "internal.h"

typedef struct pool_geom {
    int kh, kw, sh, sw, ph, pw;
    int64_t H, W, Ho, Wo, planes;
    bool include_pad;
} pool_geom;

typedef struct pool_ctx {
    pool_geom geo;
    int32_t *argmax;
} pool_ctx;

static bool geometry(cnas_graph *g, const char *op, const cnas_tensor *x, const cnas_pool2d_params *p,
                     pool_geom *o)
{
    char s[CNAS_SHAPE_STR_MAX];
    if (x->ndim != 4) {
        cnas_graph_fail(g, CNAS_ERR_SHAPE, "%s: input %s, expected [N, C, H, W]", op,
                        cnas_shape_str(x, s, sizeof s));
        return false;
    }
    o->kh = p->kernel_h;
    o->kw = p->kernel_w;
    o->sh = p->stride_h ? p->stride_h : p->kernel_h;
    o->sw = p->stride_w ? p->stride_w : p->kernel_w;
    o->ph = p->pad_h;
    o->pw = p->pad_w;
    o->include_pad = p->count_include_pad;
    o->H = x->shape[2];
    o->W = x->shape[3];
    o->planes = x->shape[0] * x->shape[1];
    if (o->kh < 1 || o->kw < 1 || o->sh < 1 || o->sw < 1 || o->ph < 0 || o->pw < 0 ||
        2 * o->ph > o->kh || 2 * o->pw > o->kw) {
        cnas_graph_fail(g, CNAS_ERR_INVALID, "%s: kernel %dx%d, stride %dx%d, padding %dx%d; "
                        "expected positive sizes and padding at most half the kernel", op, o->kh,
                        o->kw, o->sh, o->sw, o->ph, o->pw);
        return false;
    }
    o->Ho = cnas_conv_out_size(o->H, o->kh, o->sh, o->ph, 1);
    o->Wo = cnas_conv_out_size(o->W, o->kw, o->sw, o->pw, 1);
    if (o->Ho < 1 || o->Wo < 1) {
        cnas_graph_fail(g, CNAS_ERR_SHAPE, "%s: kernel %dx%d does not fit input %s with padding "
                        "%dx%d", op, o->kh, o->kw, cnas_shape_str(x, s, sizeof s), o->ph, o->pw);
        return false;
    }
    return true;
}

/* ---- stride 1, "same" padding: row-vectorised over padded planes ------------------- */

static bool same_stride1(const pool_geom *o)
{
    return o->sh == 1 && o->sw == 1 && o->kh == o->kw && (o->kh & 1) && o->ph == o->kh / 2 &&
           o->pw == o->kw / 2 && o->Ho == o->H && o->Wo == o->W;
}

/* Copy plane x (H x W) into the middle of p ((H+2r) x (W+2r)), whose border holds fill. */
static void pad_plane(float *restrict p, const float *restrict x, int64_t H, int64_t W, int r,
                      float fill)
{
    int64_t Wp = W + 2 * r;
    for (int64_t i = 0; i < (H + 2 * r) * Wp; i++)
        p[i] = fill;
    for (int64_t i = 0; i < H; i++)
        memcpy(p + (i + r) * Wp + r, x + i * W, (size_t)W * sizeof(float));
}

/* Window maxima in scan order (first maximum wins, NaN wins), starting from the centre
 * element so the argmax is always inside the input. */
CNAS_CLONES static void max_same_plane(const float *restrict pp, int64_t H, int64_t W, int k,
                                       float *restrict y, int32_t *restrict arg)
{
    int r = k / 2;
    int64_t Wp = W + 2 * r;
    for (int64_t i = 0; i < H; i++) {
        float *yr = y + i * W;
        int32_t *ar = arg ? arg + i * W : NULL;
        for (int64_t j = 0; j < W; j++)
            yr[j] = -INFINITY;
        if (ar)
            for (int64_t j = 0; j < W; j++)
                ar[j] = (int32_t)(i * W + j);
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++) {
                const float *src = pp + (i + a) * Wp + b;
                int32_t base = (int32_t)((i + a - r) * W + (b - r));
                if (ar) {
                    for (int64_t j = 0; j < W; j++) {
                        float v = src[j];
                        bool take = v > yr[j] || v != v; /* greater, or NaN */
                        yr[j] = take ? v : yr[j];
                        ar[j] = take ? base + (int32_t)j : ar[j];
                    }
                } else {
                    for (int64_t j = 0; j < W; j++) {
                        float v = src[j];
                        yr[j] = v > yr[j] || v != v ? v : yr[j];
                    }
                }
            }
    }
}

/* 1 / (in-bounds window size) of row i, column j; count_include_pad gives 1/k^2. */
static float inv_count(int64_t i, int64_t j, int64_t H, int64_t W, int k, bool include_pad)
{
    if (include_pad)
        return 1.0f / (float)(k * k);
    int r = k / 2;
    int64_t r0 = i - r < 0 ? 0 : i - r, r1 = i + r >= H ? H - 1 : i + r;
    int64_t c0 = j - r < 0 ? 0 : j - r, c1 = j + r >= W ? W - 1 : j + r;
    return 1.0f / (float)((r1 - r0 + 1) * (c1 - c0 + 1));
}

/* y = window sums of the zero-padded plane pp times inv (per output element); the
 * backward pass is the same with gy·inv as its plane (the window is symmetric). */
CNAS_CLONES static void sum_same_plane(const float *restrict pp, int64_t H, int64_t W, int k,
                                       const float *restrict inv, float *restrict acc,
                                       float *restrict y, bool accumulate)
{
    int r = k / 2;
    int64_t Wp = W + 2 * r;
    for (int64_t i = 0; i < H; i++) {
        for (int64_t j = 0; j < W; j++)
            acc[j] = 0.0f;
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++) {
                const float *src = pp + (i + a) * Wp + b;
                for (int64_t j = 0; j < W; j++)
                    acc[j] += src[j];
            }
        float *yr = y + i * W;
        if (inv) {
            const float *ir = inv + i * W;
            if (accumulate)
                for (int64_t j = 0; j < W; j++)
                    yr[j] += acc[j] * ir[j];
            else
                for (int64_t j = 0; j < W; j++)
                    yr[j] = acc[j] * ir[j];
        } else {
            for (int64_t j = 0; j < W; j++)
                yr[j] += acc[j];
        }
    }
}

/* Per-thread scratch from the graph arena: a padded plane ((H+k-1)(W+k-1)) and a row. */
static size_t plane_slice(const pool_geom *o)
{
    return (size_t)(o->H + o->kh - 1) * (size_t)(o->W + o->kw - 1) + (size_t)o->W;
}

static float *inv_counts(cnas_graph *g, const pool_geom *o)
{
    float *inv = cnas_graph_alloc(g, (size_t)(o->H * o->W) * sizeof(float));
    if (inv)
        for (int64_t i = 0; i < o->H; i++)
            for (int64_t j = 0; j < o->W; j++)
                inv[i * o->W + j] = inv_count(i, j, o->H, o->W, o->kh, o->include_pad);
    return inv;
}

static void max_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0];
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    pool_ctx *c = n->ctx;
    const pool_geom *o = &c->geo;
    int64_t in_plane = o->H * o->W, out_plane = o->Ho * o->Wo;
    const float *gy = n->out->grad;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < o->planes; p++)
        for (int64_t k = 0; k < out_plane; k++)
            gx[p * in_plane + c->argmax[p * out_plane + k]] += gy[p * out_plane + k];
}

cnas_tensor *cnas_max_pool2d(cnas_graph *g, cnas_tensor *x, const cnas_pool2d_params *p)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    pool_geom o;
    if (!geometry(g, "max_pool2d", x, p, &o))
        return NULL;
    int64_t shape[4] = {x->shape[0], x->shape[1], o.Ho, o.Wo};
    cnas_tensor *y = cnas_graph_tensor(g, 4, shape);
    if (!y)
        return NULL;
    bool record = cnas_graph_should_record(g, 1, &x);
    int32_t *arg = NULL;
    if (record && !(arg = cnas_graph_alloc(g, (size_t)y->numel * sizeof *arg)))
        return NULL;
    if (same_stride1(&o)) {
        int nt = omp_get_max_threads();
        size_t slice = plane_slice(&o);
        cnas_arena_mark m = cnas_graph_mark(g);
        float *scratch = cnas_graph_alloc(g, (size_t)nt * slice * sizeof(float));
        if (!scratch)
            return NULL;
        int64_t plane = o.H * o.W;
#pragma omp parallel num_threads(nt)
        {
            float *my = scratch + (size_t)omp_get_thread_num() * slice;
#pragma omp for schedule(static)
            for (int64_t pl = 0; pl < o.planes; pl++) {
                pad_plane(my, x->data + pl * plane, o.H, o.W, o.kh / 2, -INFINITY);
                max_same_plane(my, o.H, o.W, o.kh, y->data + pl * plane, arg ? arg + pl * plane : NULL);
            }
        }
        cnas_graph_rewind(g, m);
    } else {
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < o.planes; pl++) {
        const float *xp = x->data + pl * o.H * o.W;
        float *yp = y->data + pl * o.Ho * o.Wo;
        for (int64_t i = 0; i < o.Ho; i++)
            for (int64_t j = 0; j < o.Wo; j++) {
                float best = -FLT_MAX;
                int32_t at = -1;
                for (int a = 0; a < o.kh; a++) {
                    int64_t r = i * o.sh - o.ph + a;
                    if (r < 0 || r >= o.H)
                        continue;
                    for (int b = 0; b < o.kw; b++) {
                        int64_t cidx = j * o.sw - o.pw + b;
                        if (cidx < 0 || cidx >= o.W)
                            continue;
                        float v = xp[r * o.W + cidx];
                        /* NaN wins, as in PyTorch, so a diverged input shows up. */
                        if (at < 0 || v > best || isnan(v)) {
                            best = v;
                            at = (int32_t)(r * o.W + cidx);
                        }
                    }
                }
                yp[i * o.Wo + j] = best;
                if (arg)
                    arg[pl * o.Ho * o.Wo + i * o.Wo + j] = at;
            }
    }
    }
    if (record) {
        cnas_node *n = cnas_graph_record(g, "max_pool2d", y, 1, &x, max_backward, sizeof(pool_ctx));
        if (!n)
            return NULL;
        pool_ctx *c = n->ctx;
        c->geo = o;
        c->argmax = arg;
    }
    return y;
}

/* Number of window elements inside the input (or the full window with padding counted). */
static inline int divisor(const pool_geom *o, int64_t i, int64_t j)
{
    int64_t r0 = i * o->sh - o->ph, c0 = j * o->sw - o->pw;
    if (o->include_pad) {
        /* PyTorch counts the padded window but not the part beyond the padding. */
        int64_t r1 = r0 + o->kh, c1 = c0 + o->kw;
        if (r1 > o->H + o->ph)
            r1 = o->H + o->ph;
        if (c1 > o->W + o->pw)
            c1 = o->W + o->pw;
        return (int)((r1 - r0) * (c1 - c0));
    }
    int64_t r1 = r0 + o->kh, c1 = c0 + o->kw;
    if (r0 < 0) r0 = 0;
    if (c0 < 0) c0 = 0;
    if (r1 > o->H) r1 = o->H;
    if (c1 > o->W) c1 = o->W;
    return (int)((r1 - r0) * (c1 - c0));
}

static void avg_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0];
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    const pool_geom *o = &((pool_ctx *)n->ctx)->geo;
    const float *gy = n->out->grad;
    if (same_stride1(o)) {
        /* gx += window sums of (gy / count), the window being symmetric */
        int nt = omp_get_max_threads();
        size_t slice = plane_slice(o);
        int64_t plane = o->H * o->W;
        cnas_arena_mark m = cnas_graph_mark(g);
        float *inv = inv_counts(g, o);
        float *scratch = cnas_graph_alloc(g, (size_t)nt * (slice + (size_t)plane) * sizeof(float));
        if (!inv || !scratch)
            return;
#pragma omp parallel num_threads(nt)
        {
            float *my = scratch + (size_t)omp_get_thread_num() * (slice + (size_t)plane);
            float *scaled = my + slice;
#pragma omp for schedule(static)
            for (int64_t pl = 0; pl < o->planes; pl++) {
                const float *gyp = gy + pl * plane;
                for (int64_t k = 0; k < plane; k++)
                    scaled[k] = gyp[k] * inv[k];
                pad_plane(my, scaled, o->H, o->W, o->kh / 2, 0.0f);
                sum_same_plane(my, o->H, o->W, o->kh, NULL, my + slice - (size_t)o->W,
                               gx + pl * plane, true);
            }
        }
        cnas_graph_rewind(g, m);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < o->planes; pl++) {
        float *gp = gx + pl * o->H * o->W;
        const float *yp = gy + pl * o->Ho * o->Wo;
        for (int64_t i = 0; i < o->Ho; i++)
            for (int64_t j = 0; j < o->Wo; j++) {
                float v = yp[i * o->Wo + j] / (float)divisor(o, i, j);
                for (int a = 0; a < o->kh; a++) {
                    int64_t r = i * o->sh - o->ph + a;
                    if (r < 0 || r >= o->H)
                        continue;
                    for (int b = 0; b < o->kw; b++) {
                        int64_t c = j * o->sw - o->pw + b;
                        if (c >= 0 && c < o->W)
                            gp[r * o->W + c] += v;
                    }
                }
            }
    }
}

cnas_tensor *cnas_avg_pool2d(cnas_graph *g, cnas_tensor *x, const cnas_pool2d_params *p)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    pool_geom o;
    if (!geometry(g, "avg_pool2d", x, p, &o))
        return NULL;
    int64_t shape[4] = {x->shape[0], x->shape[1], o.Ho, o.Wo};
    cnas_tensor *y = cnas_graph_tensor(g, 4, shape);
    if (!y)
        return NULL;
    if (same_stride1(&o)) {
        int nt = omp_get_max_threads();
        size_t slice = plane_slice(&o);
        int64_t plane = o.H * o.W;
        cnas_arena_mark m = cnas_graph_mark(g);
        float *inv = inv_counts(g, &o);
        float *scratch = cnas_graph_alloc(g, (size_t)nt * slice * sizeof(float));
        if (!inv || !scratch)
            return NULL;
#pragma omp parallel num_threads(nt)
        {
            float *my = scratch + (size_t)omp_get_thread_num() * slice;
#pragma omp for schedule(static)
            for (int64_t pl = 0; pl < o.planes; pl++) {
                pad_plane(my, x->data + pl * plane, o.H, o.W, o.kh / 2, 0.0f);
                sum_same_plane(my, o.H, o.W, o.kh, inv, my + slice - (size_t)o.W,
                               y->data + pl * plane, false);
            }
        }
        cnas_graph_rewind(g, m);
    } else {
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < o.planes; pl++) {
        const float *xp = x->data + pl * o.H * o.W;
        float *yp = y->data + pl * o.Ho * o.Wo;
        for (int64_t i = 0; i < o.Ho; i++)
            for (int64_t j = 0; j < o.Wo; j++) {
                float s = 0.0f;
                for (int a = 0; a < o.kh; a++) {
                    int64_t r = i * o.sh - o.ph + a;
                    if (r < 0 || r >= o.H)
                        continue;
                    for (int b = 0; b < o.kw; b++) {
                        int64_t c = j * o.sw - o.pw + b;
                        if (c >= 0 && c < o.W)
                            s += xp[r * o.W + c];
                    }
                }
                yp[i * o.Wo + j] = s / (float)divisor(&o, i, j);
            }
    }
    }
    if (cnas_graph_should_record(g, 1, &x)) {
        cnas_node *n = cnas_graph_record(g, "avg_pool2d", y, 1, &x, avg_backward, sizeof(pool_ctx));
        if (!n)
            return NULL;
        ((pool_ctx *)n->ctx)->geo = o;
    }
    return y;
}

static void gap_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *x = n->in[0];
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    int64_t planes = x->shape[0] * x->shape[1], hw = x->shape[2] * x->shape[3];
    const float *gy = n->out->grad;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float v = gy[p] / (float)hw;
        for (int64_t k = 0; k < hw; k++)
            gx[p * hw + k] += v;
    }
}

cnas_tensor *cnas_global_avg_pool(cnas_graph *g, cnas_tensor *x)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    if (x->ndim != 4) {
        char s[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "global_avg_pool: input %s, expected [N, C, H, W]",
                               cnas_shape_str(x, s, sizeof s));
    }
    int64_t shape[2] = {x->shape[0], x->shape[1]};
    cnas_tensor *y = cnas_graph_tensor(g, 2, shape);
    if (!y)
        return NULL;
    int64_t planes = shape[0] * shape[1], hw = x->shape[2] * x->shape[3];
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        double s = 0.0;
        for (int64_t k = 0; k < hw; k++)
            s += x->data[p * hw + k];
        y->data[p] = (float)(s / (double)hw);
    }
    if (cnas_graph_should_record(g, 1, &x) && !cnas_graph_record(g, "global_avg_pool", y, 1, &x, gap_backward, 0))
        return NULL;
    return y;
}
