/* DGConv: the gated Kronecker mask of libcnas (cnas/dgconv.h) and the dgconv op plugin
 * (compiled in, driven through its descriptor; the built dgconv.so is loaded too).
 *
 *  - gates -> groups: all off is depthwise (G = C, U = I), all on dense (G = 1, U = 1);
 *  - the mask is a grouped convolution: conv(x, W ⊙ U) equals the core grouped conv
 *    (groups = G) on channels reordered so that each group is contiguous;
 *  - gradients: x and W by finite differences (gates fixed), the gates' straight-through
 *    gradient against finite differences of the multilinear relaxation U(ĝ), ĝ real, at
 *    the binarised point (what the re-implementation differentiates), and nnz(U);
 *  - the ops: errors naming the op and C, tensors, FLOPs by groups, gradients reaching
 *    the gates;
 *  - the toy: a teacher grouped conv (G = 2, interleaved groups); a DGConv student
 *    started dense with the regulariser learns the teacher's gate pattern. */
#include "testutil.h"

#include <cnas/dgconv.h>

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const cnas_plugin_desc *cnas_plugin_entry(void);

static bool quick(void)
{
    const char *q = getenv("CNAS_TEST_QUICK");
    return q && *q;
}

static cnas_tensor *gates_of(const int *bits, int K)
{
    cnas_error err;
    cnas_tensor *t = cnas_tensor_new(CNAS_SHAPE(K), &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    for (int k = 0; k < K; k++)
        t->data[k] = bits[k] ? 0.3f + 0.1f * (float)k : -0.2f - 0.1f * (float)k;
    return t;
}

/* ---- gates -> groups ------------------------------------------------------------------ */

START_TEST(test_log2)
{
    ck_assert_int_eq(cnas_dgconv_log2(2), 1);
    ck_assert_int_eq(cnas_dgconv_log2(64), 6);
    ck_assert_int_eq(cnas_dgconv_log2(1), -1);
    ck_assert_int_eq(cnas_dgconv_log2(24), -1);
    ck_assert_int_eq(cnas_dgconv_log2(0), -1);
    ck_assert_int_eq(cnas_dgconv_bit(0.0f), 0);
    ck_assert_int_eq(cnas_dgconv_bit(1e-8f), 1);
    ck_assert_int_eq(cnas_dgconv_bit(-1e-8f), 0);
}
END_TEST

START_TEST(test_gates_to_groups)
{
    enum { K = 4, C = 16 };
    int off[K] = {0}, on[K] = {1, 1, 1, 1}, mixed[K] = {1, 0, 1, 0};
    float U[C * C], gh[K];
    cnas_tensor *g = gates_of(off, K);
    ck_assert_int_eq(cnas_dgconv_groups(g), C); /* depthwise */
    for (int k = 0; k < K; k++)
        gh[k] = 0.0f;
    cnas_dgconv_mask(gh, K, U);
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++)
            ck_assert(U[i * C + j] == (i == j ? 1.0f : 0.0f));
    cnas_tensor_free(g);

    g = gates_of(on, K);
    ck_assert_int_eq(cnas_dgconv_groups(g), 1); /* dense */
    for (int k = 0; k < K; k++)
        gh[k] = 1.0f;
    cnas_dgconv_mask(gh, K, U);
    for (int i = 0; i < C * C; i++)
        ck_assert(U[i] == 1.0f);
    cnas_tensor_free(g);

    /* ĝ = (1, 0, 1, 0): channels meet when they agree on bits 2 and 0; G = 4 groups of 4,
     * nnz = 2^(K + 2) = 64. */
    g = gates_of(mixed, K);
    ck_assert_int_eq(cnas_dgconv_groups(g), 4);
    for (int k = 0; k < K; k++)
        gh[k] = (float)mixed[k];
    cnas_dgconv_mask(gh, K, U);
    int nnz = 0;
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++) {
            bool meet = ((i ^ j) & 0x5) == 0;
            ck_assert_msg(U[i * C + j] == (meet ? 1.0f : 0.0f), "U[%d][%d]", i, j);
            nnz += meet;
        }
    ck_assert_int_eq(nnz, 64);
    cnas_error err;
    cnas_graph *gr = cnas_graph_new(&err);
    cnas_tensor *n = cnas_dgconv_nnz(gr, g);
    ck_assert_msg(n != NULL, "%s", cnas_graph_error(gr)->msg);
    ck_assert(n->data[0] == 64.0f);
    cnas_graph_free(gr);
    cnas_tensor_free(g);
}
END_TEST

/* ---- the mask is a grouped convolution ---------------------------------------------------- */

/* Position of channel i when the bits of the off gates become the high bits and those of
 * the on gates the low ones (each keeping its order): the groups become contiguous. */
static int reorder(int i, const int *bits, int K)
{
    int hi = 0, lo = 0;
    for (int m = 0; m < K; m++) {
        int b = (i >> (K - 1 - m)) & 1;
        if (bits[m])
            lo = lo * 2 + b;
        else
            hi = hi * 2 + b;
    }
    int on = 0;
    for (int m = 0; m < K; m++)
        on += bits[m];
    return (hi << on) | lo;
}

static void check_grouped(const int *bits, int K, int stride)
{
    int C = 1 << K, N = 2, H = 7, W = 6;
    cnas_error err;
    cnas_tensor *x = tu_rand(CNAS_SHAPE(N, C, H, W), 11, -1, 1);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(C, C, 3, 3), 12, -1, 1);
    cnas_tensor *gates = gates_of(bits, K);
    int G = (int)cnas_dgconv_groups(gates), bs = C / G;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_conv2d_params p = {.stride_h = stride, .stride_w = stride, .pad_h = 1, .pad_w = 1};
    cnas_tensor *y = cnas_conv2d(g, x, cnas_dgconv_weight(g, w, gates), NULL, &p);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);

    /* The same layer as a grouped conv on reordered channels. */
    cnas_tensor *xp = cnas_tensor_new(CNAS_SHAPE(N, C, H, W), &err);
    cnas_tensor *wg = cnas_tensor_new(CNAS_SHAPE(C, bs, 3, 3), &err);
    int *pos = malloc((size_t)C * sizeof *pos);
    for (int i = 0; i < C; i++)
        pos[i] = reorder(i, bits, K);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            memcpy(xp->data + ((int64_t)n * C + pos[c]) * H * W,
                   x->data + ((int64_t)n * C + c) * H * W, sizeof(float) * (size_t)(H * W));
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++) {
            int pi = pos[i], pj = pos[j];
            if (pi / bs != pj / bs)
                continue; /* another group: the mask must hold 0 there (checked below) */
            memcpy(wg->data + ((int64_t)pi * bs + pj % bs) * 9, w->data + ((int64_t)i * C + j) * 9,
                   sizeof(float) * 9);
        }
    p.groups = G;
    cnas_tensor *yp = cnas_conv2d(g, xp, wg, NULL, &p);
    ck_assert_msg(yp != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert(yp->numel == y->numel);
    int64_t hw = y->shape[2] * y->shape[3];
    double worst = 0.0;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int64_t k = 0; k < hw; k++) {
                double d = fabs((double)y->data[((int64_t)n * C + c) * hw + k] -
                                (double)yp->data[((int64_t)n * C + pos[c]) * hw + k]);
                worst = d > worst ? d : worst;
            }
    ck_assert_msg(worst < 1e-4, "K = %d, G = %d: masked conv and grouped conv differ by %g", K,
                  G, worst);
    free(pos);
    cnas_tensor_free(xp);
    cnas_tensor_free(wg);
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(w);
    cnas_tensor_free(gates);
}

START_TEST(test_mask_is_grouped_conv)
{
    int trailing[3] = {0, 1, 1};  /* contiguous blocks of 4: G = 2 */
    int interleaved[3] = {1, 0, 1};
    int depthwise[3] = {0, 0, 0}, dense[3] = {1, 1, 1};
    int k4[4] = {0, 1, 0, 1};
    check_grouped(trailing, 3, 1);
    check_grouped(interleaved, 3, 1);
    check_grouped(interleaved, 3, 2);
    check_grouped(depthwise, 3, 1);
    check_grouped(dense, 3, 2);
    check_grouped(k4, 4, 1);
}
END_TEST

/* ---- gradients ------------------------------------------------------------------------------- */

typedef struct masked_ctx {
    cnas_tensor *gates;
    int stride;
} masked_ctx;

static cnas_tensor *masked_conv(cnas_graph *g, cnas_tensor *const *in, void *vctx)
{
    masked_ctx *c = vctx;
    cnas_conv2d_params p = {.stride_h = c->stride, .stride_w = c->stride, .pad_h = 1, .pad_w = 1};
    return cnas_conv2d(g, in[0], cnas_dgconv_weight(g, in[1], c->gates), NULL, &p);
}

START_TEST(test_grad_x_and_w)
{
    int patterns[3][3] = {{0, 1, 1}, {1, 0, 1}, {0, 0, 0}};
    for (int t = 0; t < 3; t++) {
        cnas_tensor *x = tu_rand(CNAS_SHAPE(2, 8, 5, 5), 21 + t, -1, 1);
        cnas_tensor *w = tu_rand(CNAS_SHAPE(8, 8, 3, 3), 31 + t, -0.5f, 0.5f);
        cnas_tensor_set_requires_grad(x, true);
        cnas_tensor_set_requires_grad(w, true);
        masked_ctx c = {gates_of(patterns[t], 3), 1 + t % 2};
        cnas_tensor *in[2] = {x, w};
        cnas_gradcheck_opts o = {.eps = 1e-2, .atol = 2e-3, .rtol = 2e-2,
                                 .max_per_input = quick() ? 64 : 0, .seed = 5};
        TU_GRADCHECK(masked_conv, &c, in, 2, &o);
        /* (masked weights: finite differences are 0 there, so the check covers them) */
        cnas_tensor_free(c.gates);
        cnas_tensor_free(x);
        cnas_tensor_free(w);
    }
}
END_TEST

/* L(ĝ) = Σ r·conv(x, W ⊙ U(ĝ)) with ĝ real, by the relaxed mask, without a tape. */
static double relaxed_loss(const cnas_tensor *x, const cnas_tensor *w, const cnas_tensor *r,
                           const float *gh, int K, int stride)
{
    cnas_error err;
    int C = 1 << K;
    float *U = malloc(sizeof(float) * (size_t)(C * C));
    cnas_dgconv_mask(gh, K, U);
    cnas_tensor *wm = cnas_tensor_new(4, w->shape, &err);
    for (int64_t i = 0; i < (int64_t)C * C; i++)
        for (int k = 0; k < 9; k++)
            wm->data[i * 9 + k] = w->data[i * 9 + k] * U[i];
    cnas_graph *g = cnas_graph_new(&err);
    cnas_graph_set_grad_enabled(g, false);
    cnas_conv2d_params p = {.stride_h = stride, .stride_w = stride, .pad_h = 1, .pad_w = 1};
    cnas_tensor *y = cnas_conv2d(g, (cnas_tensor *)x, wm, NULL, &p);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    double L = 0.0;
    for (int64_t i = 0; i < y->numel; i++)
        L += (double)r->data[i] * (double)y->data[i];
    cnas_graph_free(g);
    cnas_tensor_free(wm);
    free(U);
    return L;
}

static void check_gate_grad(const int *bits, int K, int stride)
{
    cnas_error err;
    int C = 1 << K;
    cnas_tensor *x = tu_rand(CNAS_SHAPE(2, C, 5, 5), 41, -1, 1);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(C, C, 3, 3), 42, -0.5f, 0.5f);
    cnas_tensor *gates = gates_of(bits, K);
    cnas_tensor_set_requires_grad(gates, true);
    cnas_tensor_set_requires_grad(w, true);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_conv2d_params p = {.stride_h = stride, .stride_w = stride, .pad_h = 1, .pad_w = 1};
    cnas_tensor *y = cnas_conv2d(g, x, cnas_dgconv_weight(g, w, gates), NULL, &p);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    cnas_tensor *r = tu_rand(4, y->shape, 43, -1, 1);
    cnas_tensor *L = cnas_sum(g, cnas_mul(g, y, r));
    ck_assert_msg(L && cnas_backward(g, L) == CNAS_OK, "%s", cnas_graph_error(g)->msg);
    float gh[CNAS_DGCONV_MAX_K];
    for (int k = 0; k < K; k++)
        gh[k] = (float)bits[k];
    /* L is multilinear in ĝ, so the central difference is exact up to rounding. */
    for (int k = 0; k < K; k++) {
        float save = gh[k];
        gh[k] = save + 0.5f;
        double lp = relaxed_loss(x, w, r, gh, K, stride);
        gh[k] = save - 0.5f;
        double lm = relaxed_loss(x, w, r, gh, K, stride);
        gh[k] = save;
        double num = lp - lm, ana = gates->grad[k];
        ck_assert_msg(fabs(ana - num) <= 1e-3 + 1e-3 * fabs(num),
                      "gate %d (bits %d%d%d..): straight-through gradient %.6g, relaxed finite "
                      "difference %.6g", k, bits[0], bits[1], K > 2 ? bits[2] : 0, ana, num);
        ck_assert_msg(fabs(num) > 1e-3, "gate %d: the check is vacuous (gradient %g)", k, num);
    }
    cnas_graph_free(g);
    cnas_tensor_free(r);
    cnas_tensor_free(x);
    cnas_tensor_free(w);
    cnas_tensor_free(gates);
}

START_TEST(test_grad_gates_straight_through)
{
    int p1[3] = {0, 1, 1}, p2[3] = {1, 0, 1}, p3[3] = {0, 0, 0}, p4[3] = {1, 1, 1};
    int p5[4] = {1, 0, 0, 1};
    check_gate_grad(p1, 3, 1);
    check_gate_grad(p2, 3, 2);
    check_gate_grad(p3, 3, 1);
    check_gate_grad(p4, 3, 1);
    check_gate_grad(p5, 4, 1);
}
END_TEST

START_TEST(test_grad_nnz)
{
    int bits[4] = {1, 0, 1, 1};
    cnas_error err;
    cnas_tensor *gates = gates_of(bits, 4);
    cnas_tensor_set_requires_grad(gates, true);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *n = cnas_dgconv_nnz(g, gates);
    ck_assert_msg(n && cnas_backward(g, n) == CNAS_OK, "%s", cnas_graph_error(g)->msg);
    ck_assert(n->data[0] == 128.0f); /* 2^(4 + 3) */
    /* d/dĝ_k 2^(K + Σĝ) by a central difference of the relaxed form, in double */
    double s = 3.0, h = 1e-5;
    double num = (pow(2.0, 4 + s + h) - pow(2.0, 4 + s - h)) / (2 * h);
    for (int k = 0; k < 4; k++)
        ck_assert_msg(fabs(gates->grad[k] - num) < 1e-3 * num, "gate %d: %g vs %g", k,
                      (double)gates->grad[k], num);
    cnas_graph_free(g);
    cnas_tensor_free(gates);
}
END_TEST

START_TEST(test_shape_errors)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(8, 4, 3, 3), 1, -1, 1);
    int bits[3] = {0, 1, 0};
    cnas_tensor *gates = gates_of(bits, 3);
    ck_assert(cnas_dgconv_weight(g, w, gates) == NULL);
    ck_assert_int_eq(cnas_graph_status(g), CNAS_ERR_SHAPE);
    ck_assert_msg(strstr(cnas_graph_error(g)->msg, "dgconv_weight") != NULL, "%s",
                  cnas_graph_error(g)->msg);
    cnas_graph_free(g);
    cnas_tensor_free(w);
    cnas_tensor_free(gates);
}
END_TEST

/* ---- the op components ----------------------------------------------------------------------- */

static const cnas_component *component(const char *name)
{
    const cnas_plugin_desc *d = cnas_plugin_entry();
    for (uint32_t i = 0; i < d->n_components; i++)
        if (strcmp(d->components[i].name, name) == 0)
            return &d->components[i];
    ck_abort_msg("dgconv has no component '%s'", name);
    return NULL;
}

typedef struct op {
    const cnas_op_vtable *vt;
    void *self;
    cnas_rng rng;
} op;

static cnas_status try_make(op *o, const char *name, int c_in, int c_out, int stride,
                            const char *init, cnas_error *err)
{
    const cnas_component *c = component(name);
    cnas_params *p = NULL;
    const char *keys[1] = {"gate_init"}, *vals[1] = {init};
    ck_assert_msg(cnas_params_resolve(c->params, (int)c->n_params, "test", keys, vals,
                                      init ? 1 : 0, &p, err) == CNAS_OK, "%s", err->msg);
    o->vt = c->vtable;
    o->self = NULL;
    cnas_rng_init(&o->rng, 7, "init");
    cnas_op_args a = {sizeof a, c_in, c_out, stride, true, true, &o->rng};
    cnas_status st = o->vt->create(&a, p, &o->self, err);
    cnas_params_free(p);
    return st;
}

static cnas_tensor *find_tensor(const op *o, const char *name)
{
    cnas_named_tensor t[32];
    int n = o->vt->tensors(o->self, t, 32);
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return t[i].tensor;
    return NULL;
}

START_TEST(test_op_errors)
{
    op o;
    cnas_error err;
    ck_assert(try_make(&o, "dgconv_3x3", 24, 24, 1, NULL, &err) != CNAS_OK);
    ck_assert_msg(strstr(err.msg, "dgconv_3x3") && strstr(err.msg, "C = 24") &&
                  strstr(err.msg, "power of two"), "%s", err.msg);
    ck_assert(try_make(&o, "dgconv_3x3", 8, 16, 1, NULL, &err) != CNAS_OK);
    ck_assert_msg(strstr(err.msg, "C_in = 8, C_out = 16"), "%s", err.msg);
    ck_assert(try_make(&o, "dg_resblock", 8, 12, 2, NULL, &err) != CNAS_OK);
    ck_assert_msg(strstr(err.msg, "dg_resblock") && strstr(err.msg, "C = 12"), "%s", err.msg);
}
END_TEST

START_TEST(test_op_tensors_flops)
{
    op o;
    cnas_error err;
    ck_assert_msg(try_make(&o, "dgconv_3x3", 16, 16, 1, "depthwise", &err) == CNAS_OK, "%s",
                  err.msg);
    cnas_tensor *gate = find_tensor(&o, "op.1.dg_gate"), *w = find_tensor(&o, "op.1.weight");
    ck_assert(gate && w && gate->numel == 4 && w->numel == 16 * 16 * 9);
    ck_assert(find_tensor(&o, "op.2.running_var") != NULL);
    ck_assert(cnas_dgconv_is_gate("cells.0.op.1.dg_gate", gate));
    int64_t in[4] = {2, 16, 8, 8}, out[4];
    /* depthwise: N·C·H·W·(C/G)·9 with G = 16, plus one per BN output */
    ck_assert_int_eq(o.vt->flops(o.self, in, out), 2 * 16 * 64 * 1 * 9 + 2 * 16 * 64);
    ck_assert(out[1] == 16 && out[2] == 8);
    for (int k = 0; k < 4; k++)
        gate->data[k] = 1.0f; /* dense */
    ck_assert_int_eq(o.vt->flops(o.self, in, out), 2 * 16 * 64 * 16 * 9 + 2 * 16 * 64);
    gate->data[0] = -1.0f; /* G = 2 */
    ck_assert_int_eq(o.vt->flops(o.self, in, out), 2 * 16 * 64 * 8 * 9 + 2 * 16 * 64);
    o.vt->destroy(o.self);

    ck_assert_msg(try_make(&o, "dg_resblock", 8, 16, 2, NULL, &err) == CNAS_OK, "%s", err.msg);
    ck_assert(find_tensor(&o, "conv1.dg_gate") == NULL); /* 8 -> 16: dense conv1 */
    ck_assert(find_tensor(&o, "conv2.dg_gate") != NULL);
    ck_assert(find_tensor(&o, "downsample.0.weight") != NULL);
    o.vt->destroy(o.self);
    ck_assert_msg(try_make(&o, "dg_resblock", 8, 8, 1, "dense", &err) == CNAS_OK, "%s", err.msg);
    ck_assert(find_tensor(&o, "conv1.dg_gate") && find_tensor(&o, "conv2.dg_gate"));
    ck_assert(find_tensor(&o, "downsample.0.weight") == NULL);
    int64_t in2[4] = {1, 8, 6, 6};
    /* dense: two 8x8 3x3 convs and two BNs, identity shortcut */
    ck_assert_int_eq(o.vt->flops(o.self, in2, out), 2 * (8 * 36 * 8 * 9) + 2 * 8 * 36);
    o.vt->destroy(o.self);
}
END_TEST

START_TEST(test_op_gradients_reach_gates)
{
    const char *names[2] = {"dgconv_3x3", "dg_resblock"};
    for (int t = 0; t < 2; t++) {
        op o;
        cnas_error err;
        ck_assert_msg(try_make(&o, names[t], 8, 8, 1 + t, "random", &err) == CNAS_OK, "%s",
                      err.msg);
        cnas_graph *g = cnas_graph_new(&err);
        cnas_tensor *x = tu_rand(CNAS_SHAPE(4, 8, 6, 6), 3, -1, 1);
        cnas_op_forward_ctx ctx = {sizeof ctx, true, NULL};
        cnas_tensor *y = o.vt->forward(o.self, g, x, &ctx);
        ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
        ck_assert_int_eq(y->shape[1], 8);
        ck_assert_int_eq(y->shape[2], t ? 3 : 6);
        cnas_tensor *r = tu_rand(4, y->shape, 4, -1, 1);
        cnas_tensor *L = cnas_sum(g, cnas_mul(g, y, r));
        ck_assert_msg(L && cnas_backward(g, L) == CNAS_OK, "%s", cnas_graph_error(g)->msg);
        const char *gate = t ? "conv2.dg_gate" : "op.1.dg_gate";
        cnas_tensor *gt = find_tensor(&o, gate);
        double s = 0;
        for (int k = 0; k < 3; k++)
            s += fabs(gt->grad[k]);
        ck_assert_msg(s > 0, "%s: no gradient reached %s", names[t], gate);
        cnas_graph_free(g);
        cnas_tensor_free(x);
        cnas_tensor_free(r);
        o.vt->destroy(o.self);
    }
}
END_TEST

START_TEST(test_built_plugin_loads)
{
    const char *path = getenv("DGCONV_SO");
    if (!path)
        return;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "%s", dlerror());
    cnas_plugin_entry_fn e = (cnas_plugin_entry_fn)dlsym(h, CNAS_PLUGIN_ENTRY_SYMBOL);
    ck_assert(e != NULL);
    const cnas_plugin_desc *d = e();
    ck_assert_str_eq(d->name, "dgconv");
    ck_assert_int_eq(d->n_components, 2);
    ck_assert(dlsym(h, "dg_new") == NULL); /* helpers stay hidden */
    dlclose(h);
}
END_TEST

/* ---- the toy: learning the teacher's group structure ---------------------------------------------- */

/* Teacher: a conv with G = 2 interleaved groups, ĝ = (1, 0, 1) over C = 8 (channels meet
 * when they agree on bit 1). Student: a DGConv started dense, its gates at +1 (a margin,
 * so that the weights fit the data before a gate can flip, as a warm-up would; at the
 * re-implementation's ±1e-8 the first noisy steps decide every gate), fitted by MSE plus
 * λ·nnz(U) with SGD. Returns the learned gates as a bit string and the final MSE. */
static void toy(float lambda, int steps, char *got, double *mse_out, double *nnz_out)
{
    enum { K = 3, C = 8, N = 16, H = 6 };
    const int teacher[K] = {1, 0, 1};
    cnas_error err;
    cnas_tensor *wt = tu_rand(CNAS_SHAPE(C, C, 3, 3), 51, -0.5f, 0.5f);
    cnas_tensor *tg = gates_of(teacher, K);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(N, C, H, H), 52, -1, 1);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_conv2d_params p = {.pad_h = 1, .pad_w = 1};
    cnas_tensor *yt = cnas_conv2d(g, x, cnas_dgconv_weight(g, wt, tg), NULL, &p);
    cnas_tensor *target = cnas_tensor_new(4, yt->shape, &err);
    memcpy(target->data, yt->data, sizeof(float) * (size_t)yt->numel);
    cnas_graph_reset(g);

    cnas_tensor *ws = tu_rand(CNAS_SHAPE(C, C, 3, 3), 53, -0.2f, 0.2f);
    cnas_tensor *gs = cnas_tensor_new(CNAS_SHAPE(K), &err);
    cnas_tensor_fill(gs, 1.0f);
    cnas_tensor_set_requires_grad(ws, true);
    cnas_tensor_set_requires_grad(gs, true);
    cnas_named_tensor named = {"student.dg_gate", gs, CNAS_ROLE_PARAM};
    cnas_tensor *params[2] = {ws, gs};
    cnas_optim *opt = cnas_sgd_new(params, 2, &(cnas_sgd_opts){.momentum = 0.9f}, &err);
    ck_assert_msg(opt != NULL, "%s", err.msg);
    for (int s = 0; s < steps; s++) {
        cnas_tensor *y = cnas_conv2d(g, x, cnas_dgconv_weight(g, ws, gs), NULL, &p);
        cnas_tensor *mse = cnas_mse(g, y, target);
        cnas_tensor *pen = cnas_dgconv_penalty(g, &named, 1, lambda);
        cnas_tensor *loss = cnas_add(g, mse, pen);
        cnas_optim_zero_grad(opt);
        ck_assert_msg(loss && cnas_backward(g, loss) == CNAS_OK, "%s", cnas_graph_error(g)->msg);
        *mse_out = mse->data[0];
        ck_assert(cnas_optim_step(opt, 0.05f, &err) == CNAS_OK);
        cnas_graph_reset(g);
    }
    for (int k = 0; k < K; k++)
        got[k] = cnas_dgconv_bit(gs->data[k]) ? '1' : '0';
    got[K] = '\0';
    *nnz_out = ldexp(1.0, K + cnas_dgconv_on(gs));
    cnas_optim_free(opt);
    cnas_graph_free(g);
    cnas_tensor_free(wt);
    cnas_tensor_free(tg);
    cnas_tensor_free(x);
    cnas_tensor_free(target);
    cnas_tensor_free(ws);
    cnas_tensor_free(gs);
}

START_TEST(test_toy_learns_groups)
{
    char got[4];
    double mse, nnz;
    /* The teacher's pattern and count, and a fit. */
    toy(1e-4f, 400, got, &mse, &nnz);
    ck_assert_msg(strcmp(got, "101") == 0, "learned gates %s (nnz %g), teacher 101 (G = 2); "
                  "MSE %g", got, nnz, mse);
    ck_assert_msg(mse < 1e-3, "the student does not fit the teacher: MSE %g", mse);
    /* A regulariser far stronger than the data term empties the mask: depthwise, G = 8. */
    toy(0.05f, 400, got, &mse, &nnz);
    ck_assert_msg(strcmp(got, "000") == 0, "with a strong regulariser the gates are %s", got);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("dgconv");
    TCase *tc = tcase_create("dgconv");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_log2);
    tcase_add_test(tc, test_gates_to_groups);
    tcase_add_test(tc, test_mask_is_grouped_conv);
    tcase_add_test(tc, test_grad_x_and_w);
    tcase_add_test(tc, test_grad_gates_straight_through);
    tcase_add_test(tc, test_grad_nnz);
    tcase_add_test(tc, test_shape_errors);
    tcase_add_test(tc, test_op_errors);
    tcase_add_test(tc, test_op_tensors_flops);
    tcase_add_test(tc, test_op_gradients_reach_gates);
    tcase_add_test(tc, test_built_plugin_loads);
    tcase_add_test(tc, test_toy_learns_groups);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
