/* The mixed edge over a weight-matrix row, and discrete architectures. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct mix_case {
    int n;
    int64_t row;
    const int32_t *cols;
} mix_case;

static cnas_tensor *mix_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    mix_case *c = ctx;
    return cnas_weighted_sum_cols(g, c->n, in, in[c->n], c->row, c->cols);
}

START_TEST(test_weighted_sum_cols_matches_finite_differences_for_inputs_and_weights)
{
    int32_t cols[3] = {4, 0, 2};
    mix_case c = {3, 1, cols};
    cnas_tensor *in[4];
    for (int i = 0; i < 3; i++)
        in[i] = tu_rand(CNAS_SHAPE(2, 3, 5, 5), 10 + i, -1, 1);
    in[3] = tu_rand(CNAS_SHAPE(3, 5), 20, -1, 1);
    for (int i = 0; i < 4; i++)
        cnas_tensor_set_requires_grad(in[i], true);
    TU_GRADCHECK(mix_fn, &c, in, 4, NULL);
    for (int i = 0; i < 4; i++)
        cnas_tensor_free(in[i]);
}
END_TEST

START_TEST(test_weighted_sum_cols_gives_unused_columns_no_gradient)
{
    cnas_error err;
    int32_t cols[2] = {3, 1};
    cnas_tensor *x0 = tu_rand(CNAS_SHAPE(4, 6), 1, -1, 1);
    cnas_tensor *x1 = tu_rand(CNAS_SHAPE(4, 6), 2, -1, 1);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(2, 4), 3, -1, 1);
    cnas_tensor_set_requires_grad(w, true);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *y = cnas_weighted_sum_cols(g, 2, (cnas_tensor *[]){x0, x1}, w, 0, cols);
    ck_assert_ptr_nonnull(y);
    for (int k = 0; k < 24; k++)
        ck_assert_float_eq_tol(y->data[k], w->data[3] * x0->data[k] + w->data[1] * x1->data[k], 1e-6);
    ck_assert_int_eq(cnas_backward(g, cnas_sum(g, y)), CNAS_OK);
    for (int k = 0; k < 8; k++)
        if (k != 3 && k != 1)
            ck_assert_float_eq(w->grad[k], 0.0f);
    ck_assert_ptr_null(x0->grad);
    cnas_graph_free(g);
    cnas_tensor_free(x0);
    cnas_tensor_free(x1);
    cnas_tensor_free(w);
}
END_TEST

/* Output, input gradients and the weight row's gradient of a mixed edge large enough to
 * run in parallel, on `threads` threads; returns the floats written to out. */
static int64_t mix_run(int threads, float *out)
{
    cnas_threads_set(threads);
    cnas_error err;
    int32_t cols[3] = {2, 0, 3};
    cnas_tensor *x[3], *w = tu_rand(CNAS_SHAPE(2, 4), 40, -1, 1);
    for (int i = 0; i < 3; i++) {
        x[i] = tu_rand(CNAS_SHAPE(7, 5, 23, 29), 41 + i, -1, 1); /* 23345: above the cut */
        cnas_tensor_set_requires_grad(x[i], true);
    }
    cnas_tensor_set_requires_grad(w, true);
    cnas_tensor *r = tu_rand(CNAS_SHAPE(7, 5, 23, 29), 44, -1, 1);
    /* Terms whose double sum depends on how they are grouped: 1e20 at 0, then -1e20 and
     * 1 at the middle, where two threads would split the length: (1e20 + ... - 1e20) + 1
     * is 1, 1e20 + (-1e20 + 1) is 0. */
    int64_t mid = x[0]->numel / 2;
    memset(x[0]->data, 0, cnas_tensor_bytes(x[0]));
    memset(r->data, 0, cnas_tensor_bytes(r));
    x[0]->data[0] = 1e10f, r->data[0] = 1e10f;
    x[0]->data[mid] = -1e10f, r->data[mid] = 1e10f;
    x[0]->data[mid + 1] = 1.0f, r->data[mid + 1] = 1.0f;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *y = cnas_weighted_sum_cols(g, 3, x, w, 1, cols);
    ck_assert_int_eq(cnas_backward(g, cnas_sum(g, cnas_mul(g, y, r))), CNAS_OK);
    int64_t k = 0;
    memcpy(out + k, y->data, cnas_tensor_bytes(y));
    k += y->numel;
    for (int i = 0; i < 3; i++) {
        memcpy(out + k, x[i]->grad, cnas_tensor_bytes(x[i]));
        k += x[i]->numel;
        cnas_tensor_free(x[i]);
    }
    memcpy(out + k, w->grad, cnas_tensor_bytes(w));
    k += w->numel;
    cnas_graph_free(g);
    cnas_tensor_free(w);
    cnas_tensor_free(r);
    return k;
}

START_TEST(test_weighted_sum_cols_is_bitwise_the_same_for_any_thread_count)
{
    int saved = cnas_threads_get();
    int64_t n = 4 * 7 * 5 * 23 * 29 + 8;
    float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    int64_t len = mix_run(1, a);
    ck_assert_int_eq(len, n);
    for (int t = 2; t <= 3; t++) {
        ck_assert_int_eq(mix_run(t, b), n);
        ck_assert_msg(memcmp(a, b, (size_t)n * sizeof *a) == 0,
                      "%d threads differ from 1 (the weight gradient is the last 8 floats)", t);
    }
    cnas_threads_set(saved);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_weighted_sum_cols_rejects_bad_rows_columns_and_shapes)
{
    cnas_error err;
    cnas_tensor *x0 = tu_rand(CNAS_SHAPE(4, 6), 1, -1, 1);
    cnas_tensor *x1 = tu_rand(CNAS_SHAPE(4, 5), 2, -1, 1);
    cnas_tensor *w = tu_rand(CNAS_SHAPE(2, 4), 3, -1, 1);
    cnas_graph *g = cnas_graph_new(&err);
    ck_assert_ptr_null(cnas_weighted_sum_cols(g, 1, &x0, w, 2, NULL));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "row 2"));
    cnas_graph_reset(g);
    ck_assert_ptr_null(cnas_weighted_sum_cols(g, 1, &x0, w, 0, (int32_t[]){4}));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "column 4"));
    cnas_graph_reset(g);
    ck_assert_ptr_null(cnas_weighted_sum_cols(g, 2, (cnas_tensor *[]){x0, x1}, w, 0, NULL));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "[4, 5]"));
    cnas_graph_free(g);
    cnas_tensor_free(x0);
    cnas_tensor_free(x1);
    cnas_tensor_free(w);
}
END_TEST

START_TEST(test_arch_masks_copy_compare_and_report_single_choices)
{
    cnas_error err;
    cnas_arch *a = cnas_arch_new(3, &err);
    a->mask[0] = 1u << 5;
    a->mask[1] = 0;
    a->mask[2] = (1u << 1) | (1u << 3);
    a->order[0] = 2;
    ck_assert_int_eq(cnas_arch_single(a, 0), 5);
    ck_assert_int_eq(cnas_arch_single(a, 1), -1);
    ck_assert_int_eq(cnas_arch_single(a, 2), -1);
    ck_assert_int_eq(cnas_arch_count(a, 2), 2);
    cnas_arch *b = cnas_arch_clone(a, &err);
    ck_assert(cnas_arch_equal(a, b));
    b->order[0] = 1;
    ck_assert(!cnas_arch_equal(a, b));
    cnas_arch *c = cnas_arch_new(2, &err);
    ck_assert_int_eq(cnas_arch_copy(c, a, &err), CNAS_ERR_INVALID);
    ck_assert_ptr_null(cnas_arch_new(0, &err));
    cnas_arch_free(a);
    cnas_arch_free(b);
    cnas_arch_free(c);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("mixture");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_weighted_sum_cols_matches_finite_differences_for_inputs_and_weights);
    tcase_add_test(tc, test_weighted_sum_cols_gives_unused_columns_no_gradient);
    tcase_add_test(tc, test_weighted_sum_cols_rejects_bad_rows_columns_and_shapes);
    tcase_add_test(tc, test_weighted_sum_cols_is_bitwise_the_same_for_any_thread_count);
    tcase_add_test(tc, test_arch_masks_copy_compare_and_report_single_choices);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
