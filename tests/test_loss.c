/* Softmax, losses, Gumbel-softmax, dropout and drop-path (gradient checks: eps 1e-2,
 * atol 1e-3, rtol 1e-2; stochastic ops re-seed their stream on every call). */
#include "testutil.h"

#include <math.h>
#include <string.h>

static const int32_t labels[4] = {2, 0, 4, 1};

static cnas_tensor *loss_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    int which = *(int *)ctx;
    static cnas_rng r;
    switch (which) {
    case 0: return cnas_softmax(g, in[0]);
    case 1: return cnas_log_softmax(g, in[0]);
    case 2: return cnas_cross_entropy(g, in[0], labels, 0.0f);
    case 3: return cnas_cross_entropy(g, in[0], labels, 0.1f);
    case 4: return cnas_mse(g, in[0], in[1]);
    case 5: cnas_rng_init(&r, 3, "gumbel"); return cnas_gumbel_softmax(g, in[0], 0.7f, false, &r);
    case 6: cnas_rng_init(&r, 4, "drop"); return cnas_dropout(g, in[0], 0.3f, true, &r);
    default: cnas_rng_init(&r, 5, "drop"); return cnas_drop_path(g, in[0], 0.5f, true, &r);
    }
}

START_TEST(test_probabilities_and_losses_match_finite_differences)
{
    cnas_tensor *in[2] = {tu_rand(CNAS_SHAPE(4, 5), 1, -2, 2), tu_rand(CNAS_SHAPE(4, 5), 2, -1, 1)};
    cnas_tensor_set_requires_grad(in[0], true);
    cnas_tensor_set_requires_grad(in[1], true);
    for (int which = 0; which < 8; which++)
        TU_GRADCHECK(loss_fn, &which, in, which == 4 ? 2 : 1, NULL);
    cnas_tensor *v = tu_rand(CNAS_SHAPE(7), 3, -2, 2);
    cnas_tensor_set_requires_grad(v, true);
    int which = 0;
    TU_GRADCHECK(loss_fn, &which, &v, 1, NULL); /* 1-D softmax */
    cnas_tensor_free(v);
    cnas_tensor_free(in[0]);
    cnas_tensor_free(in[1]);
}
END_TEST

START_TEST(test_cross_entropy_equals_the_hand_computed_value)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_tensor_new(CNAS_SHAPE(2, 3), &err);
    float v[6] = {1, 2, 3, 0, 0, 0};
    memcpy(x->data, v, sizeof v);
    int32_t y[2] = {2, 1};
    /* row 0: -log(e^3/(e+e^2+e^3)) = 0.40760596; row 1: log 3 = 1.09861229 */
    cnas_tensor *l = cnas_cross_entropy(g, x, y, 0.0f);
    ck_assert_double_eq_tol(l->data[0], (0.40760596 + 1.09861229) / 2, 1e-6);
    /* smoothing 0.3: target (0.1, 0.1, 0.8) on row 0, (0.1, 0.8, 0.1) on row 1 */
    double lp0[3] = {-2.40760596, -1.40760596, -0.40760596};
    double want = 0.1 * -lp0[0] + 0.1 * -lp0[1] + 0.8 * -lp0[2] + 1.09861229;
    l = cnas_cross_entropy(g, x, y, 0.3f);
    ck_assert_double_eq_tol(l->data[0], want / 2, 1e-6);
    int32_t bad[2] = {2, 3};
    ck_assert_ptr_null(cnas_cross_entropy(g, x, bad, 0.0f));
    ck_assert_str_eq(cnas_graph_error(g)->msg, "cross_entropy: label 1 is 3, expected 0 to 2");
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_hard_gumbel_is_one_hot_with_the_soft_gradient)
{
    cnas_error err;
    cnas_tensor *x = tu_rand(CNAS_SHAPE(3, 6), 1, -1, 1);
    cnas_tensor_set_requires_grad(x, true);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(3, 6), 2, -1, 1);
    float soft_grad[18];
    for (int hard = 0; hard < 2; hard++) {
        cnas_graph *g = cnas_graph_new(&err);
        cnas_rng r;
        cnas_rng_init(&r, 9, "gumbel");
        cnas_tensor *y = cnas_gumbel_softmax(g, x, 0.5f, hard, &r);
        if (hard)
            for (int i = 0; i < 3; i++) {
                float s = 0;
                for (int j = 0; j < 6; j++) {
                    ck_assert(y->data[i * 6 + j] == 0.0f || y->data[i * 6 + j] == 1.0f);
                    s += y->data[i * 6 + j];
                }
                ck_assert_float_eq(s, 1.0f);
            }
        cnas_tensor_zero_grad(x);
        ck_assert_int_eq(cnas_backward(g, cnas_sum(g, cnas_mul(g, y, w))), CNAS_OK);
        if (!hard)
            memcpy(soft_grad, x->grad, sizeof soft_grad);
        else
            for (int i = 0; i < 18; i++)
                ck_assert_float_eq(x->grad[i], soft_grad[i]);
        cnas_graph_free(g);
    }
    cnas_tensor_free(x);
    cnas_tensor_free(w);
}
END_TEST

START_TEST(test_dropout_keeps_the_mean_and_drop_path_drops_whole_samples)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_tensor_new(CNAS_SHAPE(100000), &err);
    cnas_tensor_fill(x, 1.0f);
    cnas_rng r;
    cnas_rng_init(&r, 1, "drop");
    cnas_tensor *y = cnas_dropout(g, x, 0.25f, true, &r);
    double mean = 0;
    int zeros = 0;
    for (int i = 0; i < 100000; i++) {
        mean += y->data[i];
        zeros += y->data[i] == 0.0f;
    }
    ck_assert_double_eq_tol(mean / 100000, 1.0, 0.01);
    ck_assert_int_lt(abs(zeros - 25000), 600);
    ck_assert_ptr_eq(cnas_dropout(g, x, 0.25f, false, &r), x);
    cnas_tensor *s = cnas_tensor_new(CNAS_SHAPE(64, 2, 3, 3), &err);
    cnas_tensor_fill(s, 2.0f);
    y = cnas_drop_path(g, s, 0.5f, true, &r);
    int dropped = 0;
    for (int n = 0; n < 64; n++) {
        float first = y->data[n * 18];
        for (int k = 1; k < 18; k++)
            ck_assert_float_eq(y->data[n * 18 + k], first);
        ck_assert(first == 0.0f || first == 4.0f);
        dropped += first == 0.0f;
    }
    ck_assert_int_gt(dropped, 10);
    ck_assert_int_lt(dropped, 54);
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(s);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("kernels");
    tcase_add_test(tc, test_probabilities_and_losses_match_finite_differences);
    tcase_add_test(tc, test_cross_entropy_equals_the_hand_computed_value);
    tcase_add_test(tc, test_hard_gumbel_is_one_hot_with_the_soft_gradient);
    tcase_add_test(tc, test_dropout_keeps_the_mean_and_drop_path_drops_whole_samples);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
