/* Batch norm, activations, pooling, elementwise and structural ops: values against
 * hand-computed references and gradients against finite differences (eps 1e-2,
 * atol 1e-3, rtol 1e-2; max-pool and ReLU inputs are kept away from their kinks). */
#include "testutil.h"

#include <math.h>
#include <string.h>

/* Distinct values in random order: no ties for max-pool, nothing near 0 for ReLU. */
static cnas_tensor *distinct(int ndim, const int64_t *shape, uint64_t seed)
{
    cnas_error err;
    cnas_tensor *t = cnas_tensor_new(ndim, shape, &err);
    int64_t *idx = malloc((size_t)t->numel * sizeof *idx);
    for (int64_t i = 0; i < t->numel; i++)
        idx[i] = i;
    cnas_rng r;
    cnas_rng_init(&r, seed, "distinct");
    cnas_rng_shuffle(&r, idx, t->numel);
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = 0.1f * (float)(idx[i] - t->numel / 2) + 0.05f;
    free(idx);
    return t;
}

typedef struct bn_case { bool training, affine, track; } bn_case;

static cnas_tensor *running[2];

static cnas_tensor *bn_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    const bn_case *k = ctx;
    cnas_batch_norm_params p = {.training = k->training};
    return cnas_batch_norm(g, in[0], k->affine ? in[1] : NULL, k->affine ? in[2] : NULL,
                           k->track ? running[0] : NULL, k->track ? running[1] : NULL, &p);
}

static void bn_check(bn_case k, int ndim, const int64_t *shape)
{
    cnas_error err;
    int64_t C = shape[1];
    cnas_tensor *in[3] = {tu_rand(ndim, shape, 1, -2, 2), tu_rand(CNAS_SHAPE(C), 2, 0.5f, 1.5f),
                          tu_rand(CNAS_SHAPE(C), 3, -1, 1)};
    running[0] = tu_rand(CNAS_SHAPE(C), 4, -0.5f, 0.5f);
    running[1] = tu_rand(CNAS_SHAPE(C), 5, 0.5f, 2.0f);
    for (int i = 0; i < 3; i++)
        cnas_tensor_set_requires_grad(in[i], true);
    TU_GRADCHECK(bn_fn, &k, in, k.affine ? 3 : 1, NULL);
    (void)err;
    for (int i = 0; i < 3; i++)
        cnas_tensor_free(in[i]);
    cnas_tensor_free(running[0]);
    cnas_tensor_free(running[1]);
}

START_TEST(test_batch_norm_matches_finite_differences_in_every_mode)
{
    bn_check((bn_case){true, true, true}, CNAS_SHAPE(3, 2, 5, 4));
    bn_check((bn_case){true, false, true}, CNAS_SHAPE(2, 3, 3, 3));
    bn_check((bn_case){true, true, false}, CNAS_SHAPE(4, 2, 3, 5));
    bn_check((bn_case){false, true, true}, CNAS_SHAPE(2, 2, 3, 3));
    bn_check((bn_case){false, false, false}, CNAS_SHAPE(3, 2, 4, 4)); /* batch stats in eval */
    bn_check((bn_case){true, true, true}, CNAS_SHAPE(6, 3));
    bn_check((bn_case){true, true, true}, CNAS_SHAPE(1, 2, 3, 3));  /* batch 1 */
}
END_TEST

START_TEST(test_batch_norm_normalises_and_updates_running_statistics_as_pytorch)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(4, 2, 3, 3), 9, -3, 5);
    cnas_tensor *rm = cnas_tensor_new(CNAS_SHAPE(2), &err), *rv = cnas_tensor_new(CNAS_SHAPE(2), &err);
    cnas_tensor_fill(rm, 0.5f);
    cnas_tensor_fill(rv, 2.0f);
    cnas_batch_norm_params p = {.training = true, .momentum = 0.1f};
    cnas_tensor *y = cnas_batch_norm(g, x, NULL, NULL, rm, rv, &p);
    for (int c = 0; c < 2; c++) {
        double m = 0, v = 0, ym = 0, yv = 0;
        for (int n = 0; n < 4; n++)
            for (int k = 0; k < 9; k++) {
                m += x->data[(n * 2 + c) * 9 + k];
                ym += y->data[(n * 2 + c) * 9 + k];
            }
        m /= 36;
        ym /= 36;
        for (int n = 0; n < 4; n++)
            for (int k = 0; k < 9; k++) {
                double d = x->data[(n * 2 + c) * 9 + k] - m, e = y->data[(n * 2 + c) * 9 + k] - ym;
                v += d * d;
                yv += e * e;
            }
        ck_assert_double_eq_tol(ym, 0.0, 1e-5);
        ck_assert_double_eq_tol(yv / 36, v / 36 / (v / 36 + 1e-5), 1e-4);
        ck_assert_double_eq_tol(rm->data[c], 0.9 * 0.5 + 0.1 * m, 1e-5);
        ck_assert_double_eq_tol(rv->data[c], 0.9 * 2.0 + 0.1 * v / 35, 1e-4); /* unbiased */
    }
    cnas_graph_reset(g);
    cnas_tensor *bad = tu_rand(CNAS_SHAPE(3), 1, 0, 1);
    ck_assert_ptr_null(cnas_batch_norm(g, x, bad, bad, NULL, NULL, &p));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "batch_norm: weight [3]"));
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(rm);
    cnas_tensor_free(rv);
    cnas_tensor_free(bad);
}
END_TEST

typedef cnas_tensor *(*unary)(cnas_graph *, cnas_tensor *);
static cnas_tensor *unary_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    return ((unary)ctx)(g, in[0]);
}

START_TEST(test_activations_match_finite_differences)
{
    cnas_tensor *x = distinct(CNAS_SHAPE(2, 3, 4, 5), 1);
    cnas_tensor_set_requires_grad(x, true);
    TU_GRADCHECK(unary_fn, (void *)cnas_relu, &x, 1, &(cnas_gradcheck_opts){.eps = 1e-3});
    TU_GRADCHECK(unary_fn, (void *)cnas_sigmoid, &x, 1, NULL);
    TU_GRADCHECK(unary_fn, (void *)cnas_tanh, &x, 1, NULL);
    TU_GRADCHECK(unary_fn, (void *)cnas_global_avg_pool, &x, 1, NULL);
    TU_GRADCHECK(unary_fn, (void *)cnas_flatten, &x, 1, NULL);
    TU_GRADCHECK(unary_fn, (void *)cnas_sum, &x, 1, NULL);
    TU_GRADCHECK(unary_fn, (void *)cnas_mean, &x, 1, NULL);
    cnas_tensor_free(x);
}
END_TEST

typedef struct pool_case { cnas_pool2d_params p; bool max; } pool_case;

static cnas_tensor *pool_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    pool_case *k = ctx;
    return k->max ? cnas_max_pool2d(g, in[0], &k->p) : cnas_avg_pool2d(g, in[0], &k->p);
}

START_TEST(test_pools_match_finite_differences)
{
    cnas_tensor *x = distinct(CNAS_SHAPE(2, 2, 7, 6), 2);
    cnas_tensor_set_requires_grad(x, true);
    pool_case cases[] = {
        {{3, 3, 1, 1, 1, 1, false}, true},  {{3, 3, 2, 2, 1, 1, false}, true},
        {{2, 2, 0, 0, 0, 0, false}, true},  {{3, 3, 1, 1, 1, 1, false}, false},
        {{3, 3, 2, 2, 1, 1, true}, false},  {{5, 5, 3, 3, 0, 0, false}, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        TU_GRADCHECK(pool_fn, &cases[i], &x, 1, &(cnas_gradcheck_opts){.eps = 1e-3});
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_avg_pool_excludes_padding_from_the_divisor_unless_asked)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_tensor_new(CNAS_SHAPE(1, 1, 4, 4), &err);
    cnas_tensor_fill(x, 1.0f);
    cnas_pool2d_params p = {3, 3, 1, 1, 1, 1, false};
    cnas_tensor *y = cnas_avg_pool2d(g, x, &p);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq_tol(y->data[i], 1.0f, 1e-6);
    p.count_include_pad = true;
    y = cnas_avg_pool2d(g, x, &p);
    ck_assert_float_eq_tol(y->data[0], 4.0f / 9.0f, 1e-6);  /* corner: 4 of 9 in bounds */
    ck_assert_float_eq_tol(y->data[1], 6.0f / 9.0f, 1e-6);
    ck_assert_float_eq_tol(y->data[5], 1.0f, 1e-6);
    cnas_tensor *m = distinct(CNAS_SHAPE(1, 1, 4, 4), 3);
    p = (cnas_pool2d_params){2, 2, 2, 2, 0, 0, false};
    y = cnas_max_pool2d(g, m, &p);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            float best = -1e9f;
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++)
                    best = fmaxf(best, m->data[(2 * i + a) * 4 + 2 * j + b]);
            ck_assert_float_eq(y->data[i * 2 + j], best);
        }
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(m);
}
END_TEST

static cnas_tensor *binary_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    int which = *(int *)ctx;
    switch (which) {
    case 0: return cnas_add(g, in[0], in[1]);
    case 1: return cnas_mul(g, in[0], in[1]);
    case 2: return cnas_scale(g, in[0], -1.7f);
    case 3: return cnas_sum_n(g, 2, in);
    case 4: return cnas_concat(g, 2, in);
    case 5: return cnas_weighted_sum(g, 2, in, in[2]);
    case 6: return cnas_slice_channels(g, cnas_concat(g, 2, in), 1, 4);
    case 7: return cnas_crop(g, in[0], 1, 1, 1, 3);
    case 8: return cnas_upsample_nearest(g, in[0], 2);
    default: return cnas_reshape(g, in[0], 2, (int64_t[]){6, 8});
    }
}

START_TEST(test_elementwise_and_structural_ops_match_finite_differences)
{
    cnas_tensor *in[3] = {tu_rand(CNAS_SHAPE(2, 3, 2, 4), 1, -1, 1),
                          tu_rand(CNAS_SHAPE(2, 3, 2, 4), 2, -1, 1), tu_rand(CNAS_SHAPE(2), 3, -1, 1)};
    for (int i = 0; i < 3; i++)
        cnas_tensor_set_requires_grad(in[i], true);
    for (int which = 0; which < 10; which++) {
        int n = which == 5 ? 3 : which == 2 || which >= 7 ? 1 : 2;
        TU_GRADCHECK(binary_fn, &which, in, n, NULL);
    }
    for (int i = 0; i < 3; i++)
        cnas_tensor_free(in[i]);
}
END_TEST

START_TEST(test_concat_slice_and_crop_place_values_where_expected)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *a = tu_rand(CNAS_SHAPE(2, 1, 2, 2), 1, -1, 1), *b = tu_rand(CNAS_SHAPE(2, 2, 2, 2), 2, -1, 1);
    cnas_tensor *c = cnas_concat(g, 2, (cnas_tensor *[]){a, b});
    ck_assert_int_eq(c->shape[1], 3);
    ck_assert_float_eq(c->data[12 + 0], a->data[4]);      /* sample 1, channel 0 */
    ck_assert_float_eq(c->data[12 + 4], b->data[8]);      /* sample 1, channel 1 */
    cnas_tensor *s = cnas_slice_channels(g, c, 1, 3);
    ck_assert_int_eq(memcmp(s->data, b->data, cnas_tensor_bytes(b)), 0);
    cnas_tensor *k = cnas_crop(g, b, 1, 1, 1, 1);
    ck_assert_float_eq(k->data[0], b->data[3]);
    ck_assert_ptr_null(cnas_concat(g, 2, (cnas_tensor *[]){a, cnas_crop(g, b, 0, 0, 1, 1)}));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "concat: input 1 is [2, 2, 1, 1]"));
    cnas_graph_free(g);
    cnas_tensor_free(a);
    cnas_tensor_free(b);
}
END_TEST

START_TEST(test_shape_errors_name_the_op_and_the_shapes)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *a = tu_rand(CNAS_SHAPE(2, 3), 1, -1, 1), *b = tu_rand(CNAS_SHAPE(3, 2), 2, -1, 1);
    ck_assert_ptr_null(cnas_add(g, a, b));
    ck_assert_str_eq(cnas_graph_error(g)->msg, "add: shapes [2, 3] and [3, 2] differ");
    cnas_graph_reset(g);
    ck_assert_ptr_null(cnas_max_pool2d(g, a, &(cnas_pool2d_params){.kernel_h = 3, .kernel_w = 3}));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "max_pool2d: input [2, 3]"));
    cnas_graph_free(g);
    cnas_tensor_free(a);
    cnas_tensor_free(b);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_batch_norm_matches_finite_differences_in_every_mode);
    tcase_add_test(tc, test_batch_norm_normalises_and_updates_running_statistics_as_pytorch);
    tcase_add_test(tc, test_activations_match_finite_differences);
    tcase_add_test(tc, test_pools_match_finite_differences);
    tcase_add_test(tc, test_avg_pool_excludes_padding_from_the_divisor_unless_asked);
    tcase_add_test(tc, test_elementwise_and_structural_ops_match_finite_differences);
    tcase_add_test(tc, test_concat_slice_and_crop_place_values_where_expected);
    tcase_add_test(tc, test_shape_errors_name_the_op_and_the_shapes);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
