/* Convolution and linear layers: every path against a naive double-precision reference
 * and against finite differences, shape errors, gradients skipped for frozen inputs,
 * bitwise equality across thread counts, and scratch that does not accumulate.
 *
 * Gradient checks use the checker's defaults: eps 1e-2, atol 1e-3, rtol 1e-2 (float32
 * kernels; the loss is accumulated in double; conv and linear are linear in each input,
 * so the central difference is exact up to rounding). Forward values must be within
 * 1e-4·(1 + |ref|) of the double reference. */
#include "testutil.h"

#include <math.h>
#include <string.h>

typedef struct conv_case {
    int n, c, h, w, o, kh, kw;
    int sh, sw, ph, pw, dh, dw, groups;
    bool bias;
} conv_case;

/* Square stride / padding / dilation, the common case. */
#define SQ(N, C, H, W, O, KH, KW, S, P, D, G, B) \
    ((conv_case){N, C, H, W, O, KH, KW, S, S, P, P, D, D, G, B})

static cnas_conv2d_params params_of(const conv_case *k)
{
    return (cnas_conv2d_params){k->sh, k->sw, k->ph, k->pw, k->dh, k->dw, k->groups};
}

static cnas_tensor *conv_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    const conv_case *k = ctx;
    cnas_conv2d_params p = params_of(k);
    return cnas_conv2d(g, in[0], in[1], k->bias ? in[2] : NULL, &p);
}

static int out_size(int in, int k, int s, int p, int d)
{
    return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* y[n][o][i][j] = b[o] + Σ_c Σ_a Σ_b w[o][c][a][b] ·
 *                 x[n][g·cg + c][i·sh - ph + a·dh][j·sw - pw + b·dw] */
static void naive_conv(const conv_case *k, const float *x, const float *w, const float *b,
                       double *y, int ho, int wo)
{
    int cg = k->c / k->groups, og = k->o / k->groups;
    for (int n = 0; n < k->n; n++)
        for (int o = 0; o < k->o; o++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) {
                    double s = b ? b[o] : 0.0;
                    int grp = o / og;
                    for (int c = 0; c < cg; c++)
                        for (int a = 0; a < k->kh; a++)
                            for (int bb = 0; bb < k->kw; bb++) {
                                int r = i * k->sh - k->ph + a * k->dh;
                                int q = j * k->sw - k->pw + bb * k->dw;
                                if (r < 0 || r >= k->h || q < 0 || q >= k->w)
                                    continue;
                                s += (double)w[((o * cg + c) * k->kh + a) * k->kw + bb] *
                                     x[((n * k->c + grp * cg + c) * k->h + r) * k->w + q];
                            }
                    y[((n * k->o + o) * ho + i) * wo + j] = s;
                }
}

/* Forward against the reference, then finite differences for x, w and (if used) b. */
static void check_case(conv_case k)
{
    cnas_tensor *x = tu_rand(CNAS_SHAPE(k.n, k.c, k.h, k.w), 1, -1, 1);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(k.o, k.c / k.groups, k.kh, k.kw), 2, -1, 1);
    cnas_tensor *b = tu_rand(CNAS_SHAPE(k.o), 3, -1, 1);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *in[3] = {x, w, b};
    cnas_tensor *y = conv_fn(g, in, &k);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    int ho = out_size(k.h, k.kh, k.sh, k.ph, k.dh), wo = out_size(k.w, k.kw, k.sw, k.pw, k.dw);
    ck_assert_int_eq(y->ndim, 4);
    ck_assert_int_eq(y->shape[0], k.n);
    ck_assert_int_eq(y->shape[1], k.o);
    ck_assert_int_eq(y->shape[2], ho);
    ck_assert_int_eq(y->shape[3], wo);
    double *ref = malloc((size_t)y->numel * sizeof *ref);
    naive_conv(&k, x->data, w->data, k.bias ? b->data : NULL, ref, ho, wo);
    for (int64_t i = 0; i < y->numel; i++)
        ck_assert_msg(fabs(y->data[i] - ref[i]) < 1e-4 * (1 + fabs(ref[i])),
                      "output element %lld: %g, reference %g", (long long)i, y->data[i], ref[i]);
    free(ref);
    cnas_graph_free(g);
    for (int i = 0; i < 3; i++)
        cnas_tensor_set_requires_grad(in[i], true);
    cnas_gradcheck_opts o = {.max_per_input = 300, .seed = 7};
    TU_GRADCHECK(conv_fn, &k, in, k.bias ? 3 : 2, &o);
    cnas_tensor_free(x);
    cnas_tensor_free(w);
    cnas_tensor_free(b);
}

/* ---- general (im2col) path ------------------------------------------------------------ */

START_TEST(test_conv2d_general_path_matches_reference_and_gradients_with_odd_sizes_and_padding)
{
    check_case(SQ(2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, true));
    check_case(SQ(1, 2, 5, 7, 3, 3, 3, 1, 0, 1, 1, false)); /* batch 1, no padding */
}
END_TEST

/* Stride-1 "same" convolutions take the direct kernel: rows of 16 with a partial
 * chunk, rows of at most 8, output channels not filling a block, 5x5, dilation 2. */
START_TEST(test_conv2d_direct_path_matches_reference_and_gradients)
{
    check_case(SQ(2, 3, 4, 11, 5, 3, 3, 1, 1, 1, 1, true));
    check_case(SQ(2, 4, 6, 6, 9, 3, 3, 1, 1, 1, 1, false));
    check_case(SQ(1, 2, 5, 20, 3, 5, 5, 1, 2, 1, 1, false));
    check_case(SQ(2, 3, 7, 18, 6, 3, 3, 1, 2, 2, 1, true));
}
END_TEST

START_TEST(test_conv2d_general_path_with_stride_two_and_non_square_kernels)
{
    check_case(SQ(2, 2, 8, 9, 3, 3, 2, 2, 1, 1, 1, false));
    check_case((conv_case){2, 2, 9, 8, 3, 1, 3, 2, 1, 0, 1, 1, 1, 1, true}); /* 1x3, strides 2/1 */
}
END_TEST

START_TEST(test_conv2d_general_path_with_dilation_two)
{
    check_case(SQ(1, 2, 9, 9, 2, 3, 3, 1, 2, 2, 1, true));
    check_case((conv_case){2, 3, 10, 9, 2, 3, 3, 2, 1, 1, 2, 2, 1, 1, false}); /* dilation 2/1 */
}
END_TEST

START_TEST(test_conv2d_grouped_with_two_groups_and_with_a_channel_multiplier)
{
    check_case(SQ(2, 4, 6, 6, 6, 3, 3, 1, 1, 1, 2, true));
    check_case(SQ(1, 6, 7, 5, 4, 3, 3, 2, 1, 1, 2, false));
    /* One group per input channel but two outputs each: grouped, not depthwise. */
    check_case(SQ(2, 3, 6, 5, 6, 3, 3, 1, 1, 1, 3, true));
}
END_TEST

/* ---- depthwise path ------------------------------------------------------------------- */

START_TEST(test_conv2d_depthwise_3x3_and_5x5_with_dilation_one_and_two)
{
    check_case(SQ(2, 3, 8, 8, 3, 3, 3, 1, 1, 1, 3, false));
    check_case(SQ(2, 3, 9, 7, 3, 5, 5, 1, 2, 1, 3, true));
    check_case(SQ(1, 4, 10, 10, 4, 3, 3, 1, 2, 2, 4, false));
    check_case(SQ(2, 2, 12, 12, 2, 5, 5, 1, 4, 2, 2, false));
    /* Output rows of 19 columns: two 8-column blocks and a tail in the weight gradient. */
    check_case(SQ(2, 3, 11, 19, 3, 3, 3, 1, 1, 1, 3, true));
    check_case(SQ(1, 2, 9, 21, 2, 5, 5, 1, 4, 2, 2, false));
}
END_TEST

START_TEST(test_conv2d_depthwise_with_stride_two_and_three)
{
    check_case(SQ(2, 3, 8, 8, 3, 3, 3, 2, 1, 1, 3, true));
    check_case(SQ(1, 2, 9, 9, 2, 5, 5, 2, 4, 2, 2, false));
    check_case(SQ(2, 2, 12, 35, 2, 3, 3, 2, 1, 1, 2, false)); /* 18 output columns */
    check_case(SQ(1, 2, 11, 11, 2, 5, 5, 2, 2, 1, 2, false));
    check_case(SQ(1, 2, 13, 12, 2, 7, 7, 2, 3, 1, 2, true)); /* generic taps */
    check_case(SQ(2, 2, 11, 10, 2, 3, 3, 3, 1, 1, 2, false)); /* stride 3 */
    check_case((conv_case){1, 3, 7, 12, 3, 3, 3, 1, 2, 1, 1, 2, 1, 3, true}); /* stride 1/2 */
}
END_TEST

START_TEST(test_conv2d_depthwise_with_other_kernels_unequal_strides_and_wide_padding)
{
    check_case(SQ(2, 2, 9, 9, 2, 7, 7, 1, 3, 1, 2, false));                   /* 7x7 */
    check_case((conv_case){2, 3, 8, 11, 3, 3, 5, 1, 1, 1, 2, 1, 1, 3, true}); /* 3x5 */
    /* stride 2/1, dilation 1/2 */
    check_case((conv_case){1, 2, 9, 10, 2, 3, 3, 2, 1, 1, 1, 1, 2, 2, false});
    check_case(SQ(2, 3, 5, 6, 3, 1, 1, 1, 0, 1, 3, true));                    /* 1x1 depthwise */
    /* Padding wider than the kernel's reach: the input gradient gathers from stuffed rows. */
    check_case(SQ(1, 2, 5, 6, 2, 3, 3, 1, 3, 1, 2, false));
    /* Kernel wider than the input on one axis, fitting only through padding. */
    check_case((conv_case){2, 2, 6, 3, 2, 3, 5, 1, 1, 1, 2, 1, 1, 2, false});
}
END_TEST

/* ---- pointwise path ------------------------------------------------------------------- */

START_TEST(test_conv2d_pointwise_path_matches_reference_and_gradients)
{
    check_case(SQ(3, 5, 4, 6, 7, 1, 1, 1, 0, 1, 1, true));
    check_case(SQ(1, 4, 3, 5, 2, 1, 1, 1, 0, 1, 1, false));
}
END_TEST

START_TEST(test_conv2d_strided_or_padded_1x1_uses_the_general_path_correctly)
{
    check_case(SQ(1, 4, 8, 8, 2, 1, 1, 2, 0, 1, 1, false));
    check_case(SQ(2, 3, 4, 5, 2, 1, 1, 1, 1, 1, 1, true));
}
END_TEST

/* 19 samples: the GEMM weight gradient sums more batch chunks than it has (16), unevenly. */
START_TEST(test_conv2d_weight_gradients_over_a_batch_larger_than_the_chunk_count)
{
    const conv_case cases[] = {SQ(19, 4, 5, 6, 6, 3, 3, 1, 1, 1, 2, true),
                               SQ(19, 4, 5, 6, 6, 1, 1, 1, 0, 1, 1, false),
                               SQ(19, 4, 5, 6, 4, 3, 3, 1, 1, 1, 4, false)};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const conv_case *k = &cases[c];
        cnas_tensor *in[3] = {tu_rand(CNAS_SHAPE(k->n, k->c, k->h, k->w), 1, -1, 1),
                              tu_rand(CNAS_SHAPE(k->o, k->c / k->groups, k->kh, k->kw), 2, -1, 1),
                              tu_rand(CNAS_SHAPE(k->o), 3, -1, 1)};
        cnas_tensor_set_requires_grad(in[1], true);
        cnas_tensor_set_requires_grad(in[2], true);
        TU_GRADCHECK(conv_fn, (void *)k, in, k->bias ? 3 : 2, NULL);
        for (int i = 0; i < 3; i++)
            cnas_tensor_free(in[i]);
    }
}
END_TEST

/* ---- errors --------------------------------------------------------------------------- */

static const char *conv_error(cnas_tensor *x, cnas_tensor *w, cnas_tensor *b,
                              cnas_conv2d_params p, cnas_status expect, char *buf, size_t len)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    ck_assert_ptr_null(cnas_conv2d(g, x, w, b, &p));
    ck_assert_int_eq(cnas_graph_status(g), expect);
    snprintf(buf, len, "%s", cnas_graph_error(g)->msg);
    cnas_graph_free(g);
    return buf;
}

START_TEST(test_conv2d_reports_mismatched_shapes_with_op_and_shapes)
{
    char m[512];
    cnas_tensor *x = tu_rand(CNAS_SHAPE(8, 3, 32, 32), 1, -1, 1);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(16, 4, 3, 3), 2, -1, 1);
    ck_assert_str_eq(conv_error(x, w, NULL, (cnas_conv2d_params){0}, CNAS_ERR_SHAPE, m, sizeof m),
                     "conv2d: input [8, 3, 32, 32] has 3 channels but weight [16, 4, 3, 3] "
                     "expects 4 (groups 1)");

    cnas_tensor *x4 = tu_rand(CNAS_SHAPE(2, 4, 6, 6), 1, -1, 1);
    cnas_tensor *w5 = tu_rand(CNAS_SHAPE(5, 2, 3, 3), 2, -1, 1);
    conv_error(x4, w5, NULL, (cnas_conv2d_params){.groups = 2}, CNAS_ERR_SHAPE, m, sizeof m);
    ck_assert_msg(strstr(m, "conv2d: weight [5, 2, 3, 3]") && strstr(m, "groups 2"), "%s", m);

    cnas_tensor *w6 = tu_rand(CNAS_SHAPE(6, 4, 3, 3), 2, -1, 1);
    cnas_tensor *b5 = tu_rand(CNAS_SHAPE(5), 3, -1, 1);
    conv_error(x4, w6, b5, (cnas_conv2d_params){0}, CNAS_ERR_SHAPE, m, sizeof m);
    ck_assert_msg(strstr(m, "conv2d: bias [5]") && strstr(m, "expected [6]"), "%s", m);

    cnas_tensor *big = tu_rand(CNAS_SHAPE(2, 4, 7, 7), 2, -1, 1);
    conv_error(x4, big, NULL, (cnas_conv2d_params){0}, CNAS_ERR_SHAPE, m, sizeof m);
    ck_assert_msg(strstr(m, "conv2d: kernel 7x7") && strstr(m, "[2, 4, 6, 6]") &&
                      strstr(m, "does not fit"), "%s", m);

    cnas_tensor *flat = tu_rand(CNAS_SHAPE(2, 4, 36), 1, -1, 1);
    conv_error(flat, w6, NULL, (cnas_conv2d_params){0}, CNAS_ERR_SHAPE, m, sizeof m);
    ck_assert_msg(strstr(m, "conv2d: input [2, 4, 36]"), "%s", m);

    conv_error(x4, w6, NULL, (cnas_conv2d_params){.stride_h = -1}, CNAS_ERR_INVALID, m, sizeof m);
    ck_assert_msg(strstr(m, "conv2d: stride -1x1"), "%s", m);
    conv_error(x4, w6, NULL, (cnas_conv2d_params){.pad_w = -2}, CNAS_ERR_INVALID, m, sizeof m);
    ck_assert_msg(strstr(m, "padding 0x-2"), "%s", m);

    cnas_tensor *ts[] = {x, w, x4, w5, w6, b5, big, flat};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        cnas_tensor_free(ts[i]);
}
END_TEST

/* ---- gradients that nobody asked for ------------------------------------------------- */

START_TEST(test_frozen_weights_get_no_gradient_while_the_input_does)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(2, 3, 6, 6), 1, -1, 1);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(4, 3, 3, 3), 2, -1, 1);
    cnas_tensor *dw = tu_rand(CNAS_SHAPE(3, 1, 3, 3), 3, -1, 1);
    cnas_tensor *pw = tu_rand(CNAS_SHAPE(4, 4, 1, 1), 4, -1, 1);
    cnas_tensor *b = tu_rand(CNAS_SHAPE(4), 5, -1, 1);
    cnas_tensor_set_requires_grad(x, true);
    cnas_conv2d_params p = {.pad_h = 1, .pad_w = 1};
    cnas_conv2d_params pd = {.pad_h = 1, .pad_w = 1, .groups = 3};
    /* Depthwise, then general, then pointwise, all with frozen weights and bias. */
    cnas_tensor *y = cnas_conv2d(g, x, dw, NULL, &pd);
    y = cnas_conv2d(g, y, w, b, &p);
    y = cnas_conv2d(g, y, pw, b, NULL);
    ck_assert_int_eq(cnas_backward(g, cnas_sum(g, y)), CNAS_OK);
    ck_assert_ptr_nonnull(x->grad);
    double norm = 0.0;
    for (int64_t i = 0; i < x->numel; i++)
        norm += fabs(x->grad[i]);
    ck_assert(norm > 0.0);
    ck_assert_ptr_null(w->grad);
    ck_assert_ptr_null(dw->grad);
    ck_assert_ptr_null(pw->grad);
    ck_assert_ptr_null(b->grad);
    cnas_graph_free(g);
    cnas_tensor *ts[] = {x, w, dw, pw, b};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        cnas_tensor_free(ts[i]);
}
END_TEST

/* The weight gradient of each path is the same whether or not the input also wants one. */
START_TEST(test_weight_gradients_do_not_depend_on_whether_the_input_needs_one)
{
    const conv_case cases[] = {SQ(3, 4, 9, 11, 4, 3, 3, 1, 1, 1, 4, true),
                               SQ(3, 4, 9, 11, 6, 3, 3, 1, 1, 1, 2, true),
                               SQ(3, 4, 9, 11, 5, 1, 1, 1, 0, 1, 1, true)};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const conv_case *k = &cases[c];
        cnas_tensor *x = tu_rand(CNAS_SHAPE(k->n, k->c, k->h, k->w), 1, -1, 1);
        cnas_tensor *w = tu_rand(CNAS_SHAPE(k->o, k->c / k->groups, k->kh, k->kw), 2, -1, 1);
        cnas_tensor *b = tu_rand(CNAS_SHAPE(k->o), 3, -1, 1);
        cnas_tensor *in[3] = {x, w, b};
        float *first = NULL;
        for (int pass = 0; pass < 2; pass++) {
            cnas_tensor_set_requires_grad(x, pass == 0);
            cnas_tensor_set_requires_grad(w, true);
            cnas_tensor_zero_grad(w);
            cnas_error err;
            cnas_graph *g = cnas_graph_new(&err);
            ck_assert_int_eq(cnas_backward(g, cnas_sum(g, conv_fn(g, in, (void *)k))), CNAS_OK);
            ck_assert_ptr_nonnull(w->grad);
            if (pass == 0) {
                ck_assert_ptr_nonnull(x->grad);
                first = malloc(cnas_tensor_bytes(w));
                memcpy(first, w->grad, cnas_tensor_bytes(w));
            } else {
                ck_assert_int_eq(memcmp(first, w->grad, cnas_tensor_bytes(w)), 0);
            }
            cnas_graph_free(g);
        }
        free(first);
        cnas_tensor_free(x);
        cnas_tensor_free(w);
        cnas_tensor_free(b);
    }
}
END_TEST

/* ---- threads and memory ---------------------------------------------------------------- */

/* Forward outputs and every gradient of a small network using each conv path and two
 * linear layers, concatenated into out (which must hold them; returns the count). */
static int64_t run_all_paths(int threads, int n, float *out)
{
    cnas_threads_set(threads);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(n, 4, 12, 19), 1, -1, 1);
    cnas_tensor *ts[] = {
        tu_rand(CNAS_SHAPE(4, 1, 5, 5), 2, -1, 1), /* depthwise, dilation 2 */
        tu_rand(CNAS_SHAPE(4), 3, -1, 1),
        tu_rand(CNAS_SHAPE(6, 4, 1, 1), 4, -1, 1), /* pointwise */
        tu_rand(CNAS_SHAPE(6, 3, 3, 3), 5, -1, 1), /* general, 2 groups, stride 2 */
        tu_rand(CNAS_SHAPE(6, 1, 3, 3), 6, -1, 1), /* depthwise, stride 2 */
        tu_rand(CNAS_SHAPE(5, 6 * 3 * 5), 7, -1, 1), /* linear */
        tu_rand(CNAS_SHAPE(5), 8, -1, 1),
        tu_rand(CNAS_SHAPE(70, 40), 10, -1, 1), /* linear over several row blocks */
        tu_rand(CNAS_SHAPE(45, 40), 11, -1, 1),
        tu_rand(CNAS_SHAPE(45), 12, -1, 1),
    };
    int nt = (int)(sizeof ts / sizeof *ts);
    cnas_tensor_set_requires_grad(x, true);
    cnas_tensor_set_requires_grad(ts[7], true);
    for (int i = 0; i < nt; i++)
        cnas_tensor_set_requires_grad(ts[i], true);
    cnas_tensor *y = cnas_conv2d(g, x, ts[0], ts[1],
                                 &(cnas_conv2d_params){.pad_h = 4, .pad_w = 4, .dilation_h = 2,
                                                       .dilation_w = 2, .groups = 4});
    y = cnas_conv2d(g, y, ts[2], NULL, NULL);
    y = cnas_conv2d(g, y, ts[3], NULL,
                    &(cnas_conv2d_params){.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1,
                                          .groups = 2});
    y = cnas_conv2d(g, y, ts[4], NULL,
                    &(cnas_conv2d_params){.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1,
                                          .groups = 6});
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    y = cnas_linear(g, y, ts[5], ts[6]);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    cnas_tensor *r = tu_rand(CNAS_SHAPE(y->shape[0], y->shape[1]), 9, -1, 1);
    cnas_tensor *z = cnas_linear(g, ts[7], ts[8], ts[9]);
    cnas_tensor *rz = tu_rand(CNAS_SHAPE(70, 45), 13, -1, 1);
    cnas_tensor *loss =
        cnas_add(g, cnas_sum(g, cnas_mul(g, y, r)), cnas_sum(g, cnas_mul(g, z, rz)));
    ck_assert_int_eq(cnas_backward(g, loss), CNAS_OK);
    int64_t k = 0;
    memcpy(out + k, y->data, cnas_tensor_bytes(y));
    k += y->numel;
    memcpy(out + k, z->data, cnas_tensor_bytes(z));
    k += z->numel;
    memcpy(out + k, x->grad, cnas_tensor_bytes(x));
    k += x->numel;
    for (int i = 0; i < nt; i++) {
        memcpy(out + k, ts[i]->grad, cnas_tensor_bytes(ts[i]));
        k += ts[i]->numel;
        cnas_tensor_free(ts[i]);
    }
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(r);
    cnas_tensor_free(rz);
    cnas_threads_set(2);
    return k;
}

START_TEST(test_all_paths_give_bitwise_identical_results_with_one_two_and_three_threads)
{
    /* 5 samples: fewer than the weight-gradient chunks; 18: more, unevenly split. */
    const int batch[] = {5, 18};
    for (int c = 0; c < 2; c++) {
        size_t cap = (size_t)batch[c] * 4 * 12 * 19 + 70 * 40 + 70 * 45 + 45 * 41 + 4096;
        float *a = malloc(cap * sizeof(float)), *b = malloc(cap * sizeof(float));
        int64_t na = run_all_paths(1, batch[c], a);
        for (int t = 2; t <= 3; t++) {
            int64_t nb = run_all_paths(t, batch[c], b);
            ck_assert_int_eq(na, nb);
            for (int64_t i = 0; i < na; i++)
                ck_assert_msg(memcmp(&a[i], &b[i], sizeof(float)) == 0,
                              "batch %d, %d threads: value %lld is %.9g, with one thread %.9g",
                              batch[c], t, (long long)i, b[i], a[i]);
        }
        free(a);
        free(b);
    }
}
END_TEST

/* Peak arena bytes of a forward and backward pass through `layers` copies of one conv
 * (3x3, padding 1, C -> C channels); the second of two identical steps. */
static size_t chain_peak(int layers, int groups, size_t *step_bytes)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(2, 8, 16, 16), 1, -1, 1);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(8, 8 / groups, 3, 3), 2, -1, 1);
    cnas_tensor_set_requires_grad(w, true);
    cnas_conv2d_params p = {.pad_h = 1, .pad_w = 1, .groups = groups};
    size_t peak = 0, blocks = 0;
    for (int step = 0; step < 2; step++) {
        cnas_graph_reset(g);
        cnas_tensor *y = x;
        for (int l = 0; l < layers; l++)
            y = cnas_conv2d(g, y, w, NULL, &p);
        ck_assert_int_eq(cnas_backward(g, cnas_sum(g, y)), CNAS_OK);
        if (step == 0)
            blocks = cnas_graph_block_allocs(g);
        peak = cnas_graph_peak_bytes(g);
        *step_bytes = cnas_tensor_bytes(y);
    }
    /* A repeated step gets by with the memory the first one obtained. */
    ck_assert_uint_eq(cnas_graph_block_allocs(g), blocks);
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(w);
    return peak;
}

/* Convolution scratch (im2col columns, padded planes, partial sums; each many times an
 * activation here) is returned to the arena before each call returns: five more layers
 * cost their outputs and gradients, not five more sets of scratch. */
START_TEST(test_convolution_scratch_is_released_before_each_call_returns)
{
    const int groups[] = {1, 8};
    for (int i = 0; i < 2; i++) {
        size_t act, one = chain_peak(1, groups[i], &act), six = chain_peak(6, groups[i], &act);
        ck_assert_msg(six - one <= 5 * 2 * act + 8192,
                      "groups %d: six layers peak at %zu bytes, one at %zu; activation %zu",
                      groups[i], six, one, act);
    }
}
END_TEST

/* ---- linear --------------------------------------------------------------------------- */

typedef struct lin_case {
    bool bias;
} lin_case;

static cnas_tensor *linear_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    const lin_case *k = ctx;
    return cnas_linear(g, in[0], in[1], k->bias ? in[2] : NULL);
}

static void check_linear(cnas_tensor *x, int out, bool bias)
{
    int64_t in_f = x->ndim >= 2 ? x->numel / x->shape[0] : x->numel, n = x->numel / in_f;
    cnas_tensor *in[3] = {x, tu_rand(CNAS_SHAPE(out, in_f), 2, -1, 1),
                          tu_rand(CNAS_SHAPE(out), 3, -1, 1)};
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *y = cnas_linear(g, in[0], in[1], bias ? in[2] : NULL);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_int_eq(y->ndim, 2);
    ck_assert_int_eq(y->shape[0], n);
    ck_assert_int_eq(y->shape[1], out);
    for (int64_t i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = bias ? in[2]->data[o] : 0.0;
            for (int64_t k = 0; k < in_f; k++)
                s += (double)x->data[i * in_f + k] * in[1]->data[o * in_f + k];
            ck_assert_double_eq_tol(y->data[i * out + o], s, 1e-4 * (1 + fabs(s)));
        }
    cnas_graph_free(g);
    for (int i = 0; i < 3; i++)
        cnas_tensor_set_requires_grad(in[i], true);
    lin_case k = {bias};
    TU_GRADCHECK(linear_fn, &k, in, bias ? 3 : 2, NULL);
    cnas_tensor_free(in[1]);
    cnas_tensor_free(in[2]);
}

START_TEST(test_linear_matches_reference_and_gradients_with_and_without_bias)
{
    cnas_tensor *x = tu_rand(CNAS_SHAPE(5, 7), 1, -1, 1);
    check_linear(x, 3, true);
    check_linear(x, 3, false);
    cnas_tensor_free(x);
    /* More rows and outputs than one GEMM block. */
    x = tu_rand(CNAS_SHAPE(37, 6), 1, -1, 1);
    check_linear(x, 35, true);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_linear_flattens_trailing_dimensions_and_takes_a_vector_as_one_sample)
{
    cnas_tensor *x = tu_rand(CNAS_SHAPE(3, 2, 2, 3), 1, -1, 1);
    check_linear(x, 4, true);
    cnas_tensor_free(x);
    x = tu_rand(CNAS_SHAPE(9), 1, -1, 1);
    check_linear(x, 2, false);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_linear_reports_mismatched_shapes_and_skips_frozen_weights)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(5, 6), 1, -1, 1);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(3, 7), 2, -1, 1);
    cnas_tensor *w6 = tu_rand(CNAS_SHAPE(3, 6), 2, -1, 1);
    cnas_tensor *b = tu_rand(CNAS_SHAPE(4), 3, -1, 1);
    ck_assert_ptr_null(cnas_linear(g, x, w, NULL));
    ck_assert_str_eq(cnas_graph_error(g)->msg,
                     "linear: input [5, 6] has 6 features per sample but weight [3, 7] expects 7");
    cnas_graph_reset(g);
    ck_assert_ptr_null(cnas_linear(g, x, w6, b));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "linear: bias [4]"));
    cnas_graph_reset(g);
    ck_assert_ptr_null(cnas_linear(g, x, b, NULL));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "linear: weight [4]"));
    cnas_graph_reset(g);

    cnas_tensor_set_requires_grad(x, true);
    ck_assert_int_eq(cnas_backward(g, cnas_sum(g, cnas_linear(g, x, w6, NULL))), CNAS_OK);
    ck_assert_ptr_nonnull(x->grad);
    ck_assert_ptr_null(w6->grad);
    cnas_graph_free(g);
    cnas_tensor *ts[] = {x, w, w6, b};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        cnas_tensor_free(ts[i]);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_conv2d_general_path_matches_reference_and_gradients_with_odd_sizes_and_padding);
    tcase_add_test(tc, test_conv2d_direct_path_matches_reference_and_gradients);
    tcase_add_test(tc, test_conv2d_general_path_with_stride_two_and_non_square_kernels);
    tcase_add_test(tc, test_conv2d_general_path_with_dilation_two);
    tcase_add_test(tc, test_conv2d_grouped_with_two_groups_and_with_a_channel_multiplier);
    tcase_add_test(tc, test_conv2d_depthwise_3x3_and_5x5_with_dilation_one_and_two);
    tcase_add_test(tc, test_conv2d_depthwise_with_stride_two_and_three);
    tcase_add_test(tc, test_conv2d_depthwise_with_other_kernels_unequal_strides_and_wide_padding);
    tcase_add_test(tc, test_conv2d_pointwise_path_matches_reference_and_gradients);
    tcase_add_test(tc, test_conv2d_strided_or_padded_1x1_uses_the_general_path_correctly);
    tcase_add_test(tc, test_conv2d_weight_gradients_over_a_batch_larger_than_the_chunk_count);
    tcase_add_test(tc, test_conv2d_reports_mismatched_shapes_with_op_and_shapes);
    tcase_add_test(tc, test_frozen_weights_get_no_gradient_while_the_input_does);
    tcase_add_test(tc, test_weight_gradients_do_not_depend_on_whether_the_input_needs_one);
    tcase_add_test(tc, test_all_paths_give_bitwise_identical_results_with_one_two_and_three_threads);
    tcase_add_test(tc, test_convolution_scratch_is_released_before_each_call_returns);
    tcase_add_test(tc, test_linear_matches_reference_and_gradients_with_and_without_bias);
    tcase_add_test(tc, test_linear_flattens_trailing_dimensions_and_takes_a_vector_as_one_sample);
    tcase_add_test(tc, test_linear_reports_mismatched_shapes_and_skips_frozen_weights);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
