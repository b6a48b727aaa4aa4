/* Probabilities, losses and stochastic regularisers: gradients against finite
 * differences, values against hand computation, and the statistics of the masks. */
#include "testutil.h"

#include <math.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------ */

static cnas_tensor *grad_leaf(cnas_tensor *t)
{
    cnas_tensor_set_requires_grad(t, true);
    return t;
}

/* L = Σ w_i·y_i with a constant w: a scalar whose gradient w.r.t. y is w, written here
 * so the straight-through test depends on no other kernel. */
typedef struct dot_ctx {
    const float *w;
} dot_ctx;

static void dot_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *y = n->in[0];
    if (!cnas_tensor_requires_grad(y))
        return;
    float *gy = cnas_graph_grad(g, y);
    if (!gy)
        return;
    const float *w = ((dot_ctx *)n->ctx)->w;
    for (int64_t i = 0; i < y->numel; i++)
        gy[i] += n->out->grad[0] * w[i];
}

static cnas_tensor *dot_const(cnas_graph *g, cnas_tensor *y, const float *w)
{
    if (cnas_graph_bad_inputs(g, 1, &y))
        return NULL;
    cnas_tensor *l = cnas_graph_tensor(g, CNAS_SHAPE(1));
    if (!l)
        return NULL;
    double s = 0.0;
    for (int64_t i = 0; i < y->numel; i++)
        s += (double)w[i] * y->data[i];
    l->data[0] = (float)s;
    if (cnas_graph_should_record(g, 1, &y)) {
        cnas_node *n = cnas_graph_record(g, "dot_const", l, 1, &y, dot_backward, sizeof(dot_ctx));
        if (!n)
            return NULL;
        ((dot_ctx *)n->ctx)->w = w;
    }
    return l;
}

/* ---- gradient-check forward functions ------------------------------------------------ */

static cnas_tensor *fwd_softmax(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    (void)ctx;
    return cnas_softmax(g, in[0]);
}

static cnas_tensor *fwd_log_softmax(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    (void)ctx;
    return cnas_log_softmax(g, in[0]);
}

typedef struct ce_case {
    const int32_t *labels;
    float smoothing;
} ce_case;

static cnas_tensor *fwd_cross_entropy(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    ce_case *c = ctx;
    return cnas_cross_entropy(g, in[0], c->labels, c->smoothing);
}

static cnas_tensor *fwd_mse(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    (void)ctx;
    return cnas_mse(g, in[0], in[1]);
}

/* The stochastic ops re-seed their stream on every call, so the finite differences
 * see the same noise / mask as the analytic pass. */
typedef struct noise_case {
    float tau_or_p;
    bool hard;
} noise_case;

static cnas_tensor *fwd_gumbel(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    noise_case *c = ctx;
    cnas_rng r;
    cnas_rng_init(&r, 11, "sample");
    return cnas_gumbel_softmax(g, in[0], c->tau_or_p, c->hard, &r);
}

static cnas_tensor *fwd_dropout(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    noise_case *c = ctx;
    cnas_rng r;
    cnas_rng_init(&r, 12, "dropout");
    return cnas_dropout(g, in[0], c->tau_or_p, true, &r);
}

static cnas_tensor *fwd_drop_path(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    noise_case *c = ctx;
    cnas_rng r;
    cnas_rng_init(&r, 13, "drop_path");
    return cnas_drop_path(g, in[0], c->tau_or_p, true, &r);
}

/* ---- softmax / log-softmax ----------------------------------------------------------- */

START_TEST(test_softmax_backward_matches_finite_differences_on_rows_and_vectors)
{
    cnas_tensor *x2 = grad_leaf(tu_rand(CNAS_SHAPE(4, 7), 1, -3, 3));
    cnas_tensor *x1 = grad_leaf(tu_rand(CNAS_SHAPE(5), 2, -3, 3));
    TU_GRADCHECK(fwd_softmax, NULL, &x2, 1, NULL);
    TU_GRADCHECK(fwd_softmax, NULL, &x1, 1, NULL);
    cnas_tensor_free(x2);
    cnas_tensor_free(x1);
}
END_TEST

START_TEST(test_log_softmax_backward_matches_finite_differences_on_rows_and_vectors)
{
    cnas_tensor *x2 = grad_leaf(tu_rand(CNAS_SHAPE(4, 7), 3, -3, 3));
    cnas_tensor *x1 = grad_leaf(tu_rand(CNAS_SHAPE(5), 4, -3, 3));
    TU_GRADCHECK(fwd_log_softmax, NULL, &x2, 1, NULL);
    TU_GRADCHECK(fwd_log_softmax, NULL, &x1, 1, NULL);
    cnas_tensor_free(x2);
    cnas_tensor_free(x1);
}
END_TEST

START_TEST(test_softmax_stays_finite_and_normalised_for_huge_logits)
{
    cnas_error err;
    float v[6] = {1000, 1001, 999, -999, -998, -1000};
    cnas_tensor *x = cnas_tensor_wrap(v, CNAS_SHAPE(2, 3), &err);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *p = cnas_softmax(g, x);
    cnas_tensor *lp = cnas_log_softmax(g, x);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(lp);
    /* Both rows are shifts of [1, 2, 0]: softmax is shift-invariant. */
    double s = exp(1.0) + exp(2.0) + exp(0.0);
    double want[3] = {exp(1.0) / s, exp(2.0) / s, 1.0 / s};
    for (int r = 0; r < 2; r++) {
        double sum = 0.0;
        for (int j = 0; j < 3; j++) {
            ck_assert_double_eq_tol(p->data[r * 3 + j], want[j], 1e-6);
            ck_assert_double_eq_tol(lp->data[r * 3 + j], log(want[j]), 1e-5);
            sum += p->data[r * 3 + j];
        }
        ck_assert_double_eq_tol(sum, 1.0, 1e-6);
    }
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_softmax_rejects_a_four_dimensional_input_naming_its_shape)
{
    cnas_error err;
    cnas_tensor *x = cnas_tensor_new(CNAS_SHAPE(2, 3, 4, 5), &err);
    cnas_graph *g = cnas_graph_new(&err);
    ck_assert_ptr_null(cnas_softmax(g, x));
    ck_assert_int_eq(cnas_graph_status(g), CNAS_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "[2, 3, 4, 5]"));
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

/* ---- cross-entropy and MSE ---------------------------------------------------------- */

START_TEST(test_cross_entropy_backward_matches_finite_differences_without_smoothing)
{
    static const int32_t labels[5] = {0, 3, 5, 2, 3};
    ce_case c = {labels, 0.0f};
    cnas_tensor *x = grad_leaf(tu_rand(CNAS_SHAPE(5, 6), 5, -2, 2));
    TU_GRADCHECK(fwd_cross_entropy, &c, &x, 1, NULL);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_cross_entropy_backward_matches_finite_differences_with_label_smoothing)
{
    /* Few classes and strong smoothing, so a wrong off-target weight (eps/(K-1)
     * instead of eps/K) moves the gradient well past the tolerance. */
    static const int32_t labels[3] = {1, 3, 0};
    ce_case c = {labels, 0.5f};
    cnas_tensor *x = grad_leaf(tu_rand(CNAS_SHAPE(3, 4), 6, -2, 2));
    TU_GRADCHECK(fwd_cross_entropy, &c, &x, 1, NULL);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_cross_entropy_equals_the_hand_computed_batch_mean)
{
    /* Row 0: logits [1, 2, 3], label 2: loss = log(1 + e^-1 + e^-2) = 0.4076059644.
     * Row 1: logits [0, 0, 0], label 1: loss = log 3 = 1.0986122887.
     * Mean 0.7531091266. With eps = 0.1 the target is (0.0333, 0.0333, 0.9333) on row 0:
     * 0.9333·0.4076060 + 0.0333·(2.4076060 + 1.4076060) = 0.5076060; row 1 stays log 3
     * (uniform logits), so the mean is 0.8031091266. */
    cnas_error err;
    float v[6] = {1, 2, 3, 0, 0, 0};
    const int32_t labels[2] = {2, 1};
    cnas_tensor *x = cnas_tensor_wrap(v, CNAS_SHAPE(2, 3), &err);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *l0 = cnas_cross_entropy(g, x, labels, 0.0f);
    cnas_tensor *l1 = cnas_cross_entropy(g, x, labels, 0.1f);
    ck_assert_ptr_nonnull(l0);
    ck_assert_ptr_nonnull(l1);
    ck_assert_int_eq(l0->numel, 1);
    ck_assert_double_eq_tol(l0->data[0], 0.7531091266, 1e-6);
    ck_assert_double_eq_tol(l1->data[0], 0.8031091266, 1e-6);
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_cross_entropy_rejects_an_out_of_range_label_naming_index_and_value)
{
    cnas_error err;
    cnas_tensor *x = cnas_tensor_new(CNAS_SHAPE(3, 4), &err);
    cnas_graph *g = cnas_graph_new(&err);
    const int32_t too_big[3] = {0, 3, 4};
    ck_assert_ptr_null(cnas_cross_entropy(g, x, too_big, 0.0f));
    ck_assert_int_eq(cnas_graph_status(g), CNAS_ERR_INVALID);
    const char *msg = cnas_graph_error(g)->msg;
    ck_assert_msg(strstr(msg, "label 2 is 4") && strstr(msg, "0 to 3"), "message: %s", msg);
    cnas_graph_reset(g);

    const int32_t negative[3] = {-1, 0, 0};
    ck_assert_ptr_null(cnas_cross_entropy(g, x, negative, 0.0f));
    msg = cnas_graph_error(g)->msg;
    ck_assert_msg(strstr(msg, "label 0 is -1"), "message: %s", msg);
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_cross_entropy_rejects_smoothing_outside_zero_to_one)
{
    cnas_error err;
    cnas_tensor *x = cnas_tensor_new(CNAS_SHAPE(1, 4), &err);
    cnas_graph *g = cnas_graph_new(&err);
    const int32_t labels[1] = {0};
    ck_assert_ptr_null(cnas_cross_entropy(g, x, labels, 1.0f));
    ck_assert_int_eq(cnas_graph_status(g), CNAS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "smoothing"));
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_mse_backward_matches_finite_differences_for_input_and_target)
{
    cnas_tensor *in[2] = {grad_leaf(tu_rand(CNAS_SHAPE(3, 4), 7, -1, 1)),
                          grad_leaf(tu_rand(CNAS_SHAPE(3, 4), 8, -1, 1))};
    TU_GRADCHECK(fwd_mse, NULL, in, 2, NULL);
    cnas_tensor_free(in[0]);
    cnas_tensor_free(in[1]);
}
END_TEST

START_TEST(test_mse_is_the_mean_of_squared_differences)
{
    cnas_error err;
    float a[4] = {1, 2, 3, 4}, b[4] = {0, 2, 5, 1};
    cnas_tensor *x = cnas_tensor_wrap(a, CNAS_SHAPE(4), &err);
    cnas_tensor *t = cnas_tensor_wrap(b, CNAS_SHAPE(4), &err);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *l = cnas_mse(g, x, t);
    ck_assert_ptr_nonnull(l);
    ck_assert_double_eq_tol(l->data[0], (1.0 + 0.0 + 4.0 + 9.0) / 4.0, 1e-6);
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(t);
}
END_TEST

/* ---- Gumbel-softmax ------------------------------------------------------------------- */

START_TEST(test_gumbel_softmax_soft_backward_matches_finite_differences)
{
    noise_case c = {0.7f, false};
    cnas_tensor *x = grad_leaf(tu_rand(CNAS_SHAPE(3, 5), 9, -1, 1));
    TU_GRADCHECK(fwd_gumbel, &c, &x, 1, NULL);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_gumbel_softmax_hard_is_one_hot_at_the_soft_argmax_with_the_soft_gradient)
{
    cnas_error err;
    enum { R = 6, K = 5 };
    cnas_tensor *x = grad_leaf(tu_rand(CNAS_SHAPE(R, K), 10, -1, 1));
    cnas_tensor *wt = tu_rand(CNAS_SHAPE(R, K), 20, -1, 1);
    cnas_graph *g = cnas_graph_new(&err);
    float soft[R * K], soft_grad[R * K];

    cnas_rng r;
    cnas_rng_init(&r, 5, "sample");
    cnas_tensor *ys = cnas_gumbel_softmax(g, x, 0.5f, false, &r);
    ck_assert_ptr_nonnull(ys);
    memcpy(soft, ys->data, sizeof soft);
    ck_assert_int_eq(cnas_backward(g, dot_const(g, ys, wt->data)), CNAS_OK);
    memcpy(soft_grad, x->grad, sizeof soft_grad);
    cnas_graph_reset(g);
    cnas_tensor_zero_grad(x);

    cnas_rng_init(&r, 5, "sample");
    cnas_tensor *yh = cnas_gumbel_softmax(g, x, 0.5f, true, &r);
    ck_assert_ptr_nonnull(yh);
    for (int i = 0; i < R; i++) {
        int best = 0, ones = 0;
        for (int j = 0; j < K; j++) {
            float v = yh->data[i * K + j];
            ck_assert_msg(v == 0.0f || v == 1.0f, "row %d col %d is %g", i, j, (double)v);
            ones += v == 1.0f;
            if (soft[i * K + j] > soft[i * K + best])
                best = j;
        }
        ck_assert_int_eq(ones, 1);
        ck_assert_float_eq(yh->data[i * K + best], 1.0f);
    }
    ck_assert_int_eq(cnas_backward(g, dot_const(g, yh, wt->data)), CNAS_OK);
    for (int i = 0; i < R * K; i++)
        ck_assert_float_eq(x->grad[i], soft_grad[i]);
    /* A non-trivial gradient, so equality above is not two zeros. */
    double norm = 0.0;
    for (int i = 0; i < R * K; i++)
        norm += fabs(soft_grad[i]);
    ck_assert_double_gt(norm, 1e-3);
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(wt);
}
END_TEST

START_TEST(test_gumbel_softmax_rejects_a_non_positive_temperature)
{
    cnas_error err;
    cnas_tensor *x = cnas_tensor_new(CNAS_SHAPE(2, 3), &err);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_rng r;
    cnas_rng_init(&r, 1, "sample");
    ck_assert_ptr_null(cnas_gumbel_softmax(g, x, 0.0f, false, &r));
    ck_assert_int_eq(cnas_graph_status(g), CNAS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "gumbel_softmax"));
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

/* ---- dropout and drop-path ---------------------------------------------------------- */

START_TEST(test_dropout_backward_matches_finite_differences)
{
    noise_case c = {0.4f, false};
    cnas_tensor *x = grad_leaf(tu_rand(CNAS_SHAPE(4, 6), 14, -1, 1));
    TU_GRADCHECK(fwd_dropout, &c, &x, 1, NULL);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_dropout_keeps_the_mean_and_zeroes_about_a_fraction_p)
{
    cnas_error err;
    enum { N = 100000 };
    const float p = 0.3f;
    cnas_tensor *x = cnas_tensor_new(CNAS_SHAPE(N), &err);
    cnas_tensor_fill(x, 1.0f);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_rng r;
    cnas_rng_init(&r, 3, "dropout");
    cnas_tensor *y = cnas_dropout(g, x, p, true, &r);
    ck_assert_ptr_nonnull(y);
    double sum = 0.0;
    int64_t zeros = 0;
    for (int64_t i = 0; i < N; i++) {
        float v = y->data[i];
        ck_assert_msg(v == 0.0f || fabsf(v - 1.0f / 0.7f) < 1e-6f, "element %lld is %g",
                      (long long)i, (double)v);
        zeros += v == 0.0f;
        sum += v;
    }
    /* Standard errors: mean 0.0021, zero fraction 0.0014; both bounds are about 7 of them. */
    ck_assert_double_eq_tol(sum / N, 1.0, 0.015);
    ck_assert_double_eq_tol((double)zeros / N, p, 0.01);
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_dropout_and_drop_path_return_their_input_when_inactive)
{
    cnas_error err;
    cnas_tensor *x = tu_rand(CNAS_SHAPE(4, 3), 15, -1, 1);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_rng r;
    cnas_rng_init(&r, 3, "dropout");
    cnas_rng before = r;
    ck_assert_ptr_eq(cnas_dropout(g, x, 0.5f, false, &r), x);
    ck_assert_ptr_eq(cnas_dropout(g, x, 0.0f, true, &r), x);
    ck_assert_ptr_eq(cnas_drop_path(g, x, 0.5f, false, &r), x);
    ck_assert_ptr_eq(cnas_drop_path(g, x, 0.0f, true, &r), x);
    /* Inactive calls draw nothing, so they do not shift later masks. */
    ck_assert_int_eq(memcmp(&before, &r, sizeof r), 0);
    ck_assert_int_eq(cnas_graph_status(g), CNAS_OK);
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_dropout_rejects_a_probability_of_one)
{
    cnas_error err;
    cnas_tensor *x = cnas_tensor_new(CNAS_SHAPE(4), &err);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_rng r;
    cnas_rng_init(&r, 3, "dropout");
    ck_assert_ptr_null(cnas_dropout(g, x, 1.0f, true, &r));
    ck_assert_int_eq(cnas_graph_status(g), CNAS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "dropout"));
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_dropout_masks_do_not_depend_on_the_thread_count)
{
    cnas_error err;
    cnas_tensor *x = tu_rand(CNAS_SHAPE(64, 33), 16, -1, 1);
    cnas_graph *g = cnas_graph_new(&err);
    float out[2][64 * 33];
    int saved = cnas_threads_get();
    for (int t = 0; t < 2; t++) {
        cnas_threads_set(t + 1);
        cnas_rng r;
        cnas_rng_init(&r, 4, "dropout");
        cnas_tensor *y = cnas_dropout(g, x, 0.5f, true, &r);
        ck_assert_ptr_nonnull(y);
        memcpy(out[t], y->data, sizeof out[t]);
        cnas_graph_reset(g);
    }
    cnas_threads_set(saved);
    ck_assert_int_eq(memcmp(out[0], out[1], sizeof out[0]), 0);
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_drop_path_backward_matches_finite_differences)
{
    noise_case c = {0.5f, false};
    cnas_tensor *x = grad_leaf(tu_rand(CNAS_SHAPE(6, 2, 3, 3), 17, -1, 1));
    TU_GRADCHECK(fwd_drop_path, &c, &x, 1, NULL);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_drop_path_zeroes_whole_samples_and_scales_the_survivors)
{
    cnas_error err;
    enum { N = 64, PER = 3 * 4 * 4 };
    const float p = 0.25f;
    cnas_tensor *x = tu_rand(CNAS_SHAPE(N, 3, 4, 4), 18, 0.5f, 1.5f); /* no zero inputs */
    cnas_graph *g = cnas_graph_new(&err);
    cnas_rng r;
    cnas_rng_init(&r, 6, "drop_path");
    cnas_tensor *y = cnas_drop_path(g, x, p, true, &r);
    ck_assert_ptr_nonnull(y);
    int dropped = 0;
    for (int i = 0; i < N; i++) {
        bool zero = y->data[i * PER] == 0.0f;
        dropped += zero;
        for (int k = 0; k < PER; k++) {
            float want = zero ? 0.0f : x->data[i * PER + k] / (1.0f - p);
            ck_assert_msg(fabsf(y->data[i * PER + k] - want) <= 1e-6f * fabsf(want),
                          "sample %d element %d: %g, expected %g", i, k,
                          (double)y->data[i * PER + k], (double)want);
        }
    }
    /* Binomial(64, 0.25): mean 16, sd 3.5. */
    ck_assert_int_gt(dropped, 4);
    ck_assert_int_lt(dropped, 32);
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("probabilities");
    tcase_add_test(tc, test_softmax_backward_matches_finite_differences_on_rows_and_vectors);
    tcase_add_test(tc, test_log_softmax_backward_matches_finite_differences_on_rows_and_vectors);
    tcase_add_test(tc, test_softmax_stays_finite_and_normalised_for_huge_logits);
    tcase_add_test(tc, test_softmax_rejects_a_four_dimensional_input_naming_its_shape);
    tcase_add_test(tc, test_gumbel_softmax_soft_backward_matches_finite_differences);
    tcase_add_test(tc, test_gumbel_softmax_hard_is_one_hot_at_the_soft_argmax_with_the_soft_gradient);
    tcase_add_test(tc, test_gumbel_softmax_rejects_a_non_positive_temperature);
    suite_add_tcase(s, tc);

    tc = tcase_create("losses");
    tcase_add_test(tc, test_cross_entropy_backward_matches_finite_differences_without_smoothing);
    tcase_add_test(tc, test_cross_entropy_backward_matches_finite_differences_with_label_smoothing);
    tcase_add_test(tc, test_cross_entropy_equals_the_hand_computed_batch_mean);
    tcase_add_test(tc, test_cross_entropy_rejects_an_out_of_range_label_naming_index_and_value);
    tcase_add_test(tc, test_cross_entropy_rejects_smoothing_outside_zero_to_one);
    tcase_add_test(tc, test_mse_backward_matches_finite_differences_for_input_and_target);
    tcase_add_test(tc, test_mse_is_the_mean_of_squared_differences);
    suite_add_tcase(s, tc);

    tc = tcase_create("regularisation");
    tcase_add_test(tc, test_dropout_backward_matches_finite_differences);
    tcase_add_test(tc, test_dropout_keeps_the_mean_and_zeroes_about_a_fraction_p);
    tcase_add_test(tc, test_dropout_and_drop_path_return_their_input_when_inactive);
    tcase_add_test(tc, test_dropout_rejects_a_probability_of_one);
    tcase_add_test(tc, test_dropout_masks_do_not_depend_on_the_thread_count);
    tcase_add_test(tc, test_drop_path_backward_matches_finite_differences);
    tcase_add_test(tc, test_drop_path_zeroes_whole_samples_and_scales_the_survivors);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
