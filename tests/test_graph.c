/* The step graph: arena reuse, tape recording rules, gradient accumulation. */
#include "testutil.h"

#include <string.h>

/* y = a ⊙ b, written against the op-author API to exercise it directly. */
static void mul_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *a = n->in[0], *b = n->in[1];
    const float *go = n->out->grad;
    if (cnas_tensor_requires_grad(a)) {
        float *ga = cnas_graph_grad(g, a);
        if (!ga)
            return;
        for (int64_t i = 0; i < a->numel; i++)
            ga[i] += go[i] * b->data[i];
    }
    if (cnas_tensor_requires_grad(b)) {
        float *gb = cnas_graph_grad(g, b);
        if (!gb)
            return;
        for (int64_t i = 0; i < b->numel; i++)
            gb[i] += go[i] * a->data[i];
    }
}

static int backward_calls;

static void sum_backward(cnas_graph *g, cnas_node *n)
{
    backward_calls++;
    float *gx = cnas_graph_grad(g, n->in[0]);
    if (!gx)
        return;
    for (int64_t i = 0; i < n->in[0]->numel; i++)
        gx[i] += n->out->grad[0];
}

static cnas_tensor *tmul(cnas_graph *g, cnas_tensor *a, cnas_tensor *b)
{
    cnas_tensor *in[2] = {a, b};
    if (cnas_graph_bad_inputs(g, 2, in))
        return NULL;
    if (!cnas_tensor_same_shape(a, b))
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "tmul: shapes differ");
    cnas_tensor *y = cnas_graph_tensor_like(g, a);
    if (!y)
        return NULL;
    for (int64_t i = 0; i < a->numel; i++)
        y->data[i] = a->data[i] * b->data[i];
    if (cnas_graph_should_record(g, 2, in) && !cnas_graph_record(g, "tmul", y, 2, in, mul_backward, 0))
        return NULL;
    return y;
}

static cnas_tensor *tsum(cnas_graph *g, cnas_tensor *x)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    cnas_tensor *y = cnas_graph_tensor(g, CNAS_SHAPE(1));
    if (!y)
        return NULL;
    double s = 0;
    for (int64_t i = 0; i < x->numel; i++)
        s += x->data[i];
    y->data[0] = (float)s;
    if (cnas_graph_should_record(g, 1, &x) && !cnas_graph_record(g, "tsum", y, 1, &x, sum_backward, 0))
        return NULL;
    return y;
}

START_TEST(test_backward_gives_product_rule_gradients)
{
    cnas_error err;
    cnas_tensor *a = tu_rand(CNAS_SHAPE(2, 3), 1, -1, 1);
    cnas_tensor *b = tu_rand(CNAS_SHAPE(2, 3), 2, -1, 1);
    cnas_tensor_set_requires_grad(a, true);
    cnas_tensor_set_requires_grad(b, true);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *l = tsum(g, tmul(g, a, b));
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(cnas_backward(g, l), CNAS_OK);
    for (int i = 0; i < 6; i++) {
        ck_assert_float_eq_tol(a->grad[i], b->data[i], 1e-7);
        ck_assert_float_eq_tol(b->grad[i], a->data[i], 1e-7);
    }
    cnas_graph_free(g);
    cnas_tensor_free(a);
    cnas_tensor_free(b);
}
END_TEST

START_TEST(test_gradients_accumulate_until_zeroed)
{
    cnas_error err;
    cnas_tensor *a = tu_rand(CNAS_SHAPE(4), 3, -1, 1);
    cnas_tensor_set_requires_grad(a, true);
    cnas_graph *g = cnas_graph_new(&err);
    for (int rep = 0; rep < 3; rep++) {
        ck_assert_int_eq(cnas_backward(g, tsum(g, tmul(g, a, a))), CNAS_OK);
        cnas_graph_reset(g);
    }
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(a->grad[i], 3 * 2 * a->data[i], 1e-6);
    cnas_tensor_zero_grad(a);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(a->grad[i], 0.0f);
    cnas_graph_free(g);
    cnas_tensor_free(a);
}
END_TEST

START_TEST(test_inputs_without_requires_grad_receive_nothing)
{
    cnas_error err;
    cnas_tensor *a = tu_rand(CNAS_SHAPE(4), 4, -1, 1);
    cnas_tensor *b = tu_rand(CNAS_SHAPE(4), 5, -1, 1);
    cnas_tensor_set_requires_grad(a, true);
    cnas_graph *g = cnas_graph_new(&err);
    ck_assert_int_eq(cnas_backward(g, tsum(g, tmul(g, a, b))), CNAS_OK);
    ck_assert_ptr_nonnull(a->grad);
    ck_assert_ptr_null(b->grad);
    cnas_graph_free(g);
    cnas_tensor_free(a);
    cnas_tensor_free(b);
}
END_TEST

START_TEST(test_nothing_is_recorded_when_no_input_requires_grad_or_recording_is_off)
{
    cnas_error err;
    cnas_tensor *a = tu_rand(CNAS_SHAPE(4), 6, -1, 1);
    cnas_graph *g = cnas_graph_new(&err);
    tsum(g, tmul(g, a, a));
    ck_assert_uint_eq(cnas_graph_node_count(g), 0);
    cnas_tensor_set_requires_grad(a, true);
    cnas_graph_set_grad_enabled(g, false);
    tsum(g, tmul(g, a, a));
    ck_assert_uint_eq(cnas_graph_node_count(g), 0);
    cnas_graph_set_grad_enabled(g, true);
    tsum(g, tmul(g, a, a));
    ck_assert_uint_eq(cnas_graph_node_count(g), 2);
    cnas_graph_free(g);
    cnas_tensor_free(a);
}
END_TEST

START_TEST(test_backward_skips_nodes_no_gradient_reaches)
{
    cnas_error err;
    cnas_tensor *a = tu_rand(CNAS_SHAPE(4), 7, -1, 1);
    cnas_tensor_set_requires_grad(a, true);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *unused = tsum(g, a); /* recorded, but not part of the loss */
    ck_assert_ptr_nonnull(unused);
    cnas_tensor *l = tsum(g, tmul(g, a, a));
    backward_calls = 0;
    ck_assert_int_eq(cnas_backward(g, l), CNAS_OK);
    ck_assert_int_eq(backward_calls, 1);
    cnas_graph_free(g);
    cnas_tensor_free(a);
}
END_TEST

START_TEST(test_second_identical_step_allocates_no_new_block)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    /* A step larger than the first block forces growth. */
    for (int step = 0; step < 3; step++) {
        for (int k = 0; k < 40; k++)
            ck_assert_ptr_nonnull(cnas_graph_tensor(g, CNAS_SHAPE(1 << 20)));
        if (step == 0)
            ck_assert_uint_gt(cnas_graph_block_allocs(g), 1);
        size_t before = cnas_graph_block_allocs(g);
        cnas_graph_reset(g);
        if (step >= 1)
            ck_assert_uint_eq(cnas_graph_block_allocs(g), before);
    }
    size_t allocs = cnas_graph_block_allocs(g);
    for (int k = 0; k < 40; k++)
        cnas_graph_tensor(g, CNAS_SHAPE(1 << 20));
    ck_assert_uint_eq(cnas_graph_block_allocs(g), allocs);
    ck_assert_uint_ge(cnas_graph_peak_bytes(g), (size_t)40 * (4u << 20));
    cnas_graph_free(g);
}
END_TEST

START_TEST(test_rewind_releases_scratch)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_graph_tensor(g, CNAS_SHAPE(100));
    cnas_arena_mark m = cnas_graph_mark(g);
    void *p1 = cnas_graph_alloc(g, 4096);
    cnas_graph_rewind(g, m);
    void *p2 = cnas_graph_alloc(g, 4096);
    ck_assert_ptr_eq(p1, p2);
    cnas_graph_free(g);
}
END_TEST

START_TEST(test_errors_propagate_as_null_and_keep_the_first_message)
{
    cnas_error err;
    cnas_tensor *a = tu_rand(CNAS_SHAPE(4), 8, -1, 1);
    cnas_tensor *b = tu_rand(CNAS_SHAPE(5), 9, -1, 1);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *y = tsum(g, tmul(g, tmul(g, a, b), a));
    ck_assert_ptr_null(y);
    ck_assert_int_eq(cnas_graph_status(g), CNAS_ERR_SHAPE);
    ck_assert_str_eq(cnas_graph_error(g)->msg, "tmul: shapes differ");
    ck_assert_int_eq(cnas_backward(g, y), CNAS_ERR_SHAPE);
    cnas_graph_reset(g);
    ck_assert_int_eq(cnas_graph_status(g), CNAS_OK);
    cnas_graph_free(g);
    cnas_tensor_free(a);
    cnas_tensor_free(b);
}
END_TEST

START_TEST(test_backward_rejects_a_non_scalar_loss)
{
    cnas_error err;
    cnas_tensor *a = tu_rand(CNAS_SHAPE(4), 8, -1, 1);
    cnas_tensor_set_requires_grad(a, true);
    cnas_graph *g = cnas_graph_new(&err);
    ck_assert_int_eq(cnas_backward(g, tmul(g, a, a)), CNAS_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "[4]"));
    cnas_graph_free(g);
    cnas_tensor_free(a);
}
END_TEST

START_TEST(test_tensor_new_rejects_bad_shapes_with_a_message)
{
    cnas_error err;
    ck_assert_ptr_null(cnas_tensor_new(CNAS_SHAPE(2, 0, 3), &err));
    ck_assert_int_eq(err.code, CNAS_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "dimension 1 is 0"));
    ck_assert_ptr_null(cnas_tensor_new(CNAS_SHAPE(1, 1, 1, 1, 1), &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "5 dimensions"));
}
END_TEST

static void wrong_square_backward(cnas_graph *g, cnas_node *n)
{
    float *gx = cnas_graph_grad(g, n->in[0]);
    if (!gx)
        return;
    for (int64_t i = 0; i < n->in[0]->numel; i++)
        gx[i] += n->out->grad[i] * 3.0f * n->in[0]->data[i]; /* should be 2x */
}

static cnas_tensor *wrong_square(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    (void)ctx;
    cnas_tensor *x = in[0];
    cnas_tensor *y = cnas_graph_tensor_like(g, x);
    for (int64_t i = 0; i < x->numel; i++)
        y->data[i] = x->data[i] * x->data[i];
    if (cnas_graph_should_record(g, 1, in))
        cnas_graph_record(g, "wrong_square", y, 1, in, wrong_square_backward, 0);
    return y;
}

static cnas_tensor *right_square(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    (void)ctx;
    return tmul(g, in[0], in[0]);
}

START_TEST(test_gradcheck_passes_a_right_backward_and_catches_a_wrong_one)
{
    cnas_tensor *a = tu_rand(CNAS_SHAPE(5), 10, 0.5f, 1.0f);
    cnas_tensor_set_requires_grad(a, true);
    cnas_tensor *in[1] = {a};
    TU_GRADCHECK(right_square, NULL, in, 1, NULL);
    cnas_gradcheck_result r;
    cnas_error err;
    ck_assert_int_eq(cnas_gradcheck(wrong_square, NULL, in, 1, NULL, &r, &err), CNAS_OK);
    ck_assert_int_eq(r.checked, 5);
    ck_assert_int_gt(r.failed, 0);
    cnas_tensor_free(a);
}
END_TEST

START_TEST(test_keep_releases_everything_else_without_a_tape)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_graph_set_grad_enabled(g, false);
    cnas_tensor *before = cnas_graph_tensor(g, CNAS_SHAPE(4));
    cnas_tensor_fill(before, 7.0f);
    cnas_arena_mark m = cnas_graph_mark(g);
    for (int k = 0; k < 10; k++)
        cnas_graph_tensor(g, CNAS_SHAPE(1000));
    cnas_tensor *y = cnas_graph_tensor(g, CNAS_SHAPE(3, 5));
    for (int i = 0; i < 15; i++)
        y->data[i] = (float)i;
    cnas_tensor *kept = cnas_graph_keep(g, m, y);
    ck_assert_ptr_nonnull(kept);
    ck_assert_int_eq(kept->shape[1], 5);
    for (int i = 0; i < 15; i++)
        ck_assert_float_eq(kept->data[i], (float)i);
    /* A tensor from before the mark is returned untouched and nothing is released. */
    ck_assert_ptr_eq(cnas_graph_keep(g, m, before), before);
    ck_assert_float_eq(before->data[3], 7.0f);
    /* The next allocation comes right after the kept tensor. */
    cnas_tensor *next = cnas_graph_tensor(g, CNAS_SHAPE(1));
    ck_assert_ptr_eq((char *)next, (char *)kept->data + 64);
    cnas_graph_free(g);
}
END_TEST

/* A recomputed segment: tanh(a * w) + a with a persistent w, and the identity. */
static cnas_tensor *seg_body(cnas_graph *g, cnas_tensor *const *in, const void *ctx)
{
    cnas_tensor *w = *(cnas_tensor *const *)ctx;
    return cnas_add(g, cnas_tanh(g, cnas_mul(g, in[0], w)), in[0]);
}

static cnas_tensor *seg_identity(cnas_graph *g, cnas_tensor *const *in, const void *ctx)
{
    (void)g, (void)ctx;
    return in[0];
}

START_TEST(test_recompute_gives_the_gradients_of_the_plain_graph)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(3, 5), 1, -1, 1), *w = tu_rand(CNAS_SHAPE(3, 5), 2, -1, 1);
    cnas_tensor_set_requires_grad(x, true);
    cnas_tensor_set_requires_grad(w, true);
    float gx[15], gw[15];
    for (int pass = 0; pass < 2; pass++) {
        cnas_tensor_zero_grad(x);
        cnas_tensor_zero_grad(w);
        cnas_tensor *a = cnas_scale(g, x, 2.0f);
        cnas_tensor *y = pass ? cnas_recompute(g, seg_body, 1, &a, &w, sizeof w)
                              : seg_body(g, &a, &w);
        cnas_tensor *z = pass ? cnas_recompute(g, seg_identity, 1, &y, NULL, 0) : y;
        ck_assert_ptr_nonnull(z);
        if (pass)
            ck_assert_ptr_ne(z, y); /* the identity segment's node has an output of its own */
        ck_assert_int_eq(cnas_backward(g, cnas_sum(g, cnas_mul(g, z, z))), CNAS_OK);
        for (int i = 0; i < 15; i++) {
            if (!pass) {
                gx[i] = x->grad[i];
                gw[i] = w->grad[i];
            } else {
                ck_assert_float_eq(x->grad[i], gx[i]);
                ck_assert_float_eq(w->grad[i], gw[i]);
            }
        }
        cnas_graph_reset(g);
    }
    cnas_tensor_free(x);
    cnas_tensor_free(w);
    cnas_graph_free(g);
}
END_TEST

/* Released gradients: the same leaf gradients bit for bit, with a lower peak. A chain of
 * residual blocks h + tanh(h * w_k), every other one a recomputed segment. */
static size_t chain_step(bool release, cnas_tensor *x, cnas_tensor *const *w, int n_blocks)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_graph_set_release_grads(g, release);
    cnas_tensor_zero_grad(x);
    for (int k = 0; k < n_blocks; k++)
        cnas_tensor_zero_grad(w[k]);
    cnas_tensor *h = cnas_scale(g, x, 0.5f);
    for (int k = 0; k < n_blocks; k++) {
        cnas_tensor *a = h;
        h = k % 2 ? cnas_recompute(g, seg_body, 1, &a, &w[k], sizeof w[k]) : seg_body(g, &a, &w[k]);
    }
    ck_assert_int_eq(cnas_backward(g, cnas_sum(g, cnas_mul(g, h, h))), CNAS_OK);
    size_t peak = cnas_graph_peak_bytes(g);
    cnas_graph_free(g);
    return peak;
}

START_TEST(test_released_gradients_keep_leaf_gradients_and_lower_the_peak)
{
    enum { B = 6, N = 4 * 1000 };
    cnas_tensor *x = tu_rand(CNAS_SHAPE(4, 1000), 3, -1, 1), *w[B];
    cnas_tensor_set_requires_grad(x, true);
    for (int k = 0; k < B; k++) {
        w[k] = tu_rand(CNAS_SHAPE(4, 1000), 10 + k, -1, 1);
        cnas_tensor_set_requires_grad(w[k], true);
    }
    static float gx[N], gw[B][N];
    size_t kept = chain_step(false, x, w, B);
    memcpy(gx, x->grad, sizeof gx);
    for (int k = 0; k < B; k++)
        memcpy(gw[k], w[k]->grad, sizeof gw[k]);
    size_t released = chain_step(true, x, w, B);
    ck_assert_mem_eq(x->grad, gx, sizeof gx);
    for (int k = 0; k < B; k++)
        ck_assert_mem_eq(w[k]->grad, gw[k], sizeof gw[k]);
    /* Each block's gradients (input, product, tanh, sum) are about 4 plane-sized buffers
     * kept; released, a handful live at once. */
    ck_assert_msg(released + (size_t)B * N * sizeof(float) < kept,
                  "peak %zu bytes released, %zu kept", released, kept);
    cnas_tensor_free(x);
    for (int k = 0; k < B; k++)
        cnas_tensor_free(w[k]);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("graph");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_backward_gives_product_rule_gradients);
    tcase_add_test(tc, test_gradients_accumulate_until_zeroed);
    tcase_add_test(tc, test_inputs_without_requires_grad_receive_nothing);
    tcase_add_test(tc, test_nothing_is_recorded_when_no_input_requires_grad_or_recording_is_off);
    tcase_add_test(tc, test_backward_skips_nodes_no_gradient_reaches);
    tcase_add_test(tc, test_second_identical_step_allocates_no_new_block);
    tcase_add_test(tc, test_rewind_releases_scratch);
    tcase_add_test(tc, test_errors_propagate_as_null_and_keep_the_first_message);
    tcase_add_test(tc, test_backward_rejects_a_non_scalar_loss);
    tcase_add_test(tc, test_tensor_new_rejects_bad_shapes_with_a_message);
    tcase_add_test(tc, test_gradcheck_passes_a_right_backward_and_catches_a_wrong_one);
    tcase_add_test(tc, test_keep_releases_everything_else_without_a_tape);
    tcase_add_test(tc, test_recompute_gives_the_gradients_of_the_plain_graph);
    tcase_add_test(tc, test_released_gradients_keep_leaf_gradients_and_lower_the_peak);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
