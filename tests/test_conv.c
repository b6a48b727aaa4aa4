/* Convolution and linear layers: every path against a naive double-precision
 * reference and against finite differences. Gradient checks use eps 1e-2 with
 * atol 1e-3 + rtol 1e-2 (float32 kernels, double accumulation in the checker). */
#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <string.h>

typedef struct conv_case {
    int n, c, h, w, o, kh, kw, stride, pad, dil, groups;
    bool bias;
} conv_case;

static cnas_conv2d_params params_of(const conv_case *k)
{
    return (cnas_conv2d_params){k->stride, k->stride, k->pad, k->pad, k->dil, k->dil, k->groups};
}

static cnas_tensor *conv_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    const conv_case *k = ctx;
    cnas_conv2d_params p = params_of(k);
    return cnas_conv2d(g, in[0], in[1], k->bias ? in[2] : NULL, &p);
}

/* y[n][o][i][j] = b[o] + Σ_c Σ_a Σ_b w[o][c][a][b] x[n][g·cg + c][i·s - p + a·d][j·s - p + b·d] */
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
                                int r = i * k->stride - k->pad + a * k->dil;
                                int q = j * k->stride - k->pad + bb * k->dil;
                                if (r < 0 || r >= k->h || q < 0 || q >= k->w)
                                    continue;
                                s += (double)w[((o * cg + c) * k->kh + a) * k->kw + bb] *
                                     x[((n * k->c + grp * cg + c) * k->h + r) * k->w + q];
                            }
                    y[((n * k->o + o) * ho + i) * wo + j] = s;
                }
}

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
    int ho = (int)y->shape[2], wo = (int)y->shape[3];
    ck_assert_int_eq(ho, (k.h + 2 * k.pad - k.dil * (k.kh - 1) - 1) / k.stride + 1);
    double *ref = malloc((size_t)y->numel * sizeof *ref);
    naive_conv(&k, x->data, w->data, k.bias ? b->data : NULL, ref, ho, wo);
    for (int64_t i = 0; i < y->numel; i++)
        ck_assert_msg(fabs(y->data[i] - ref[i]) < 1e-4 * (1 + fabs(ref[i])), "element %lld: %g vs %g",
                      (long long)i, y->data[i], ref[i]);
    free(ref);
    cnas_graph_free(g);
    for (int i = 0; i < 3; i++)
        cnas_tensor_set_requires_grad(in[i], true);
    cnas_gradcheck_opts o = {.max_per_input = 200, .seed = 7};
    TU_GRADCHECK(conv_fn, &k, in, k.bias ? 3 : 2, &o);
    cnas_tensor_free(x);
    cnas_tensor_free(w);
    cnas_tensor_free(b);
}

START_TEST(test_conv2d_general_path_with_odd_sizes_and_padding)
{
    check_case((conv_case){2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, true});
}
END_TEST

START_TEST(test_conv2d_stride_two_and_non_square_kernel)
{
    check_case((conv_case){2, 2, 8, 9, 3, 3, 2, 2, 1, 1, 1, false});
}
END_TEST

START_TEST(test_conv2d_dilation_two)
{
    check_case((conv_case){1, 2, 9, 9, 2, 3, 3, 1, 2, 2, 1, true});
}
END_TEST

START_TEST(test_conv2d_grouped)
{
    check_case((conv_case){2, 4, 6, 6, 6, 3, 3, 1, 1, 1, 2, true});
}
END_TEST

START_TEST(test_conv2d_depthwise_3x3_and_5x5_with_dilation_and_stride)
{
    check_case((conv_case){2, 3, 8, 8, 3, 3, 3, 1, 1, 1, 3, false});
    check_case((conv_case){2, 3, 9, 7, 3, 5, 5, 1, 2, 1, 3, false});
    check_case((conv_case){1, 4, 10, 10, 4, 3, 3, 1, 2, 2, 4, false});
    check_case((conv_case){2, 2, 12, 12, 2, 5, 5, 1, 4, 2, 2, false});
    check_case((conv_case){2, 3, 8, 8, 3, 3, 3, 2, 1, 1, 3, true});
    check_case((conv_case){1, 2, 9, 9, 2, 5, 5, 2, 4, 2, 2, false});
}
END_TEST

START_TEST(test_conv2d_pointwise_path)
{
    check_case((conv_case){3, 5, 4, 6, 7, 1, 1, 1, 0, 1, 1, true});
    check_case((conv_case){1, 4, 8, 8, 2, 1, 1, 2, 0, 1, 1, false}); /* strided 1x1: general path */
}
END_TEST

START_TEST(test_conv2d_reports_mismatched_shapes_with_op_and_shapes)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(8, 3, 32, 32), 1, -1, 1);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(16, 4, 3, 3), 2, -1, 1);
    ck_assert_ptr_null(cnas_conv2d(g, x, w, NULL, &(cnas_conv2d_params){0}));
    ck_assert_int_eq(cnas_graph_status(g), CNAS_ERR_SHAPE);
    ck_assert_str_eq(cnas_graph_error(g)->msg,
                     "conv2d: input [8, 3, 32, 32] has 3 channels but weight [16, 4, 3, 3] expects 4 (groups 1)");
    cnas_graph_reset(g);
    cnas_tensor *w5 = tu_rand(CNAS_SHAPE(2, 3, 5, 5), 2, -1, 1);
    cnas_tensor *tiny = tu_rand(CNAS_SHAPE(1, 3, 3, 3), 2, -1, 1);
    ck_assert_ptr_null(cnas_conv2d(g, tiny, w5, NULL, &(cnas_conv2d_params){0}));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "does not fit"));
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(w);
    cnas_tensor_free(w5);
    cnas_tensor_free(tiny);
}
END_TEST

START_TEST(test_frozen_weights_get_no_gradient_while_the_input_does)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(2, 3, 6, 6), 1, -1, 1);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(4, 3, 3, 3), 2, -1, 1);
    cnas_tensor *dw = tu_rand(CNAS_SHAPE(3, 1, 3, 3), 3, -1, 1);
    cnas_tensor_set_requires_grad(x, true);
    cnas_conv2d_params p = {.pad_h = 1, .pad_w = 1};
    cnas_conv2d_params pd = {.pad_h = 1, .pad_w = 1, .groups = 3};
    cnas_tensor *y = cnas_add(g, cnas_conv2d(g, x, dw, NULL, &pd), cnas_conv2d(g, x, dw, NULL, &pd));
    cnas_tensor *l = cnas_sum(g, cnas_conv2d(g, y, w, NULL, &p));
    ck_assert_int_eq(cnas_backward(g, l), CNAS_OK);
    ck_assert_ptr_nonnull(x->grad);
    ck_assert_ptr_null(w->grad);
    ck_assert_ptr_null(dw->grad);
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(w);
    cnas_tensor_free(dw);
}
END_TEST

static void grads_with_threads(int threads, float *out, int64_t n_out)
{
    omp_set_num_threads(threads);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(5, 4, 9, 9), 1, -1, 1);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(6, 2, 3, 3), 2, -1, 1);
    cnas_tensor *dw = tu_rand(CNAS_SHAPE(4, 1, 5, 5), 3, -1, 1);
    cnas_tensor_set_requires_grad(w, true);
    cnas_tensor_set_requires_grad(dw, true);
    cnas_conv2d_params p = {.pad_h = 1, .pad_w = 1, .groups = 2};
    cnas_conv2d_params pd = {.pad_h = 4, .pad_w = 4, .dilation_h = 2, .dilation_w = 2, .groups = 4};
    cnas_tensor *l = cnas_sum(g, cnas_conv2d(g, cnas_conv2d(g, x, dw, NULL, &pd), w, NULL, &p));
    ck_assert_int_eq(cnas_backward(g, l), CNAS_OK);
    memcpy(out, w->grad, cnas_tensor_bytes(w));
    memcpy(out + w->numel, dw->grad, cnas_tensor_bytes(dw));
    ck_assert_int_eq(w->numel + dw->numel, n_out);
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(w);
    cnas_tensor_free(dw);
    omp_set_num_threads(2);
}

START_TEST(test_gradients_are_identical_with_one_and_two_threads)
{
    /* The weight-gradient reduction is per thread; compare within float rounding, and
     * bitwise between two runs with the same thread count. */
    int64_t n = 6 * 2 * 9 + 4 * 25;
    float a[208], b[208], c[208];
    grads_with_threads(1, a, n);
    grads_with_threads(2, b, n);
    grads_with_threads(2, c, n);
    ck_assert_int_eq(memcmp(b, c, (size_t)n * sizeof(float)), 0);
    for (int64_t i = 0; i < n; i++)
        ck_assert_float_eq_tol(a[i], b[i], 1e-3f * (1.0f + fabsf(a[i])));
}
END_TEST

typedef struct lin_case { bool bias; } lin_case;

static cnas_tensor *linear_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    const lin_case *k = ctx;
    return cnas_linear(g, in[0], in[1], k->bias ? in[2] : NULL);
}

START_TEST(test_linear_matches_finite_differences_with_and_without_bias)
{
    cnas_tensor *in[3] = {tu_rand(CNAS_SHAPE(5, 7), 1, -1, 1), tu_rand(CNAS_SHAPE(3, 7), 2, -1, 1),
                          tu_rand(CNAS_SHAPE(3), 3, -1, 1)};
    for (int i = 0; i < 3; i++)
        cnas_tensor_set_requires_grad(in[i], true);
    lin_case with = {true}, without = {false};
    TU_GRADCHECK(linear_fn, &with, in, 3, NULL);
    TU_GRADCHECK(linear_fn, &without, in, 2, NULL);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *y = cnas_linear(g, in[0], in[1], in[2]);
    for (int i = 0; i < 5; i++)
        for (int o = 0; o < 3; o++) {
            double s = in[2]->data[o];
            for (int k = 0; k < 7; k++)
                s += (double)in[0]->data[i * 7 + k] * in[1]->data[o * 7 + k];
            ck_assert_double_eq_tol(y->data[i * 3 + o], s, 1e-5);
        }
    cnas_tensor *bad = tu_rand(CNAS_SHAPE(5, 6), 4, -1, 1);
    ck_assert_ptr_null(cnas_linear(g, bad, in[1], NULL));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "linear: input [5, 6]"));
    cnas_graph_free(g);
    cnas_tensor_free(bad);
    for (int i = 0; i < 3; i++)
        cnas_tensor_free(in[i]);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_conv2d_general_path_with_odd_sizes_and_padding);
    tcase_add_test(tc, test_conv2d_stride_two_and_non_square_kernel);
    tcase_add_test(tc, test_conv2d_dilation_two);
    tcase_add_test(tc, test_conv2d_grouped);
    tcase_add_test(tc, test_conv2d_depthwise_3x3_and_5x5_with_dilation_and_stride);
    tcase_add_test(tc, test_conv2d_pointwise_path);
    tcase_add_test(tc, test_conv2d_reports_mismatched_shapes_with_op_and_shapes);
    tcase_add_test(tc, test_frozen_weights_get_no_gradient_while_the_input_does);
    tcase_add_test(tc, test_gradients_are_identical_with_one_and_two_threads);
    tcase_add_test(tc, test_linear_matches_finite_differences_with_and_without_bias);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
