/* DARTS sanity check (docs/darts.md): a single DARTS mixed edge must find the op that generated the
 * data. Candidates {none, skip, avg_pool, max_pool, conv3x3}; first-order DARTS
 * alternates an Adam step on α (validation batch) and an SGD step on the conv
 * weights (training batch). Only max_pool can represent y = maxpool3x3(x). */
#include "testutil.h"

#include <math.h>
#include <string.h>

enum { C_NONE, C_SKIP, C_AVG, C_MAX, C_CONV, N_CAND };
static const char *const names[N_CAND] = {"none", "skip_connect", "avg_pool_3x3",
                                          "max_pool_3x3", "conv_3x3"};

typedef struct toy {
    cnas_tensor *alpha, *conv_w;
    int target;
    cnas_tensor *x;
    cnas_tensor *y;
} toy;

static cnas_tensor *target_of(cnas_graph *g, cnas_tensor *x, int target)
{
    cnas_pool2d_params p = {.kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 1,
                            .pad_h = 1, .pad_w = 1};
    return target == C_MAX ? cnas_max_pool2d(g, x, &p) : cnas_scale(g, x, 1.0f);
}

static cnas_tensor *edge_loss(cnas_graph *g, void *ctx)
{
    toy *t = ctx;
    cnas_pool2d_params p = {.kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 1,
                            .pad_h = 1, .pad_w = 1};
    cnas_conv2d_params c = {.pad_h = 1, .pad_w = 1};
    /* 'none' contributes zero and is skipped, exactly as the search space does. */
    cnas_tensor *outs[4] = {t->x, cnas_avg_pool2d(g, t->x, &p), cnas_max_pool2d(g, t->x, &p),
                            cnas_conv2d(g, t->x, t->conv_w, NULL, &c)};
    int32_t cols[4] = {C_SKIP, C_AVG, C_MAX, C_CONV};
    cnas_tensor *mixed = cnas_weighted_sum_cols(g, 4, outs, cnas_softmax(g, t->alpha), 0, cols);
    return cnas_mse(g, mixed, t->y);
}

static int search(int target, float *probs_out)
{
    cnas_error err;
    toy t = {0};
    t.target = target;
    t.alpha = cnas_tensor_new(CNAS_SHAPE(1, N_CAND), &err);
    t.conv_w = cnas_tensor_new(CNAS_SHAPE(1, 1, 3, 3), &err);
    cnas_rng init, data;
    cnas_rng_init(&init, 5, "init");
    cnas_rng_init(&data, 5, "data");
    cnas_rng_fill_normal(&init, t.alpha->data, N_CAND, 0.0f, 1e-3f);
    cnas_init_default_weight(t.conv_w, &init);
    cnas_optim *a_opt = cnas_adam_new(&t.alpha, 1,
                                      &(cnas_adam_opts){.beta1 = 0.5f, .beta2 = 0.999f,
                                                        .weight_decay = 1e-3f}, &err);
    cnas_optim *w_opt = cnas_sgd_new(&t.conv_w, 1,
                                     &(cnas_sgd_opts){.momentum = 0.9f, .weight_decay = 3e-4f},
                                     &err);
    cnas_graph *g = cnas_graph_new(&err), *gd = cnas_graph_new(&err);
    for (int step = 0; step < 300; step++) {
        for (int phase = 0; phase < 2; phase++) { /* 0: α on a val batch, 1: w on a train batch */
            cnas_graph_reset(gd);
            t.x = cnas_graph_tensor(gd, CNAS_SHAPE(8, 1, 8, 8));
            cnas_rng_fill_normal(&data, t.x->data, t.x->numel, 0.0f, 1.0f);
            cnas_graph_set_grad_enabled(gd, false);
            t.y = target_of(gd, t.x, target);
            ck_assert_ptr_nonnull(t.y);
            if (phase == 0) {
                ck_assert_int_eq(cnas_grad_pass(g, edge_loss, &t, &t.alpha, 1, &t.conv_w, 1, NULL,
                                                &err), CNAS_OK);
                cnas_optim_step(a_opt, 3e-3f, &err);
            } else {
                ck_assert_int_eq(cnas_grad_pass(g, edge_loss, &t, &t.conv_w, 1, &t.alpha, 1, NULL,
                                                &err), CNAS_OK);
                cnas_optim_step(w_opt, 0.025f, &err);
            }
        }
    }
    int best = 0;
    double s = 0;
    for (int k = 0; k < N_CAND; k++) {
        s += exp(t.alpha->data[k]);
        if (t.alpha->data[k] > t.alpha->data[best])
            best = k;
    }
    for (int k = 0; k < N_CAND; k++)
        probs_out[k] = (float)(exp(t.alpha->data[k]) / s);
    cnas_graph_free(g);
    cnas_graph_free(gd);
    cnas_optim_free(a_opt);
    cnas_optim_free(w_opt);
    cnas_tensor_free(t.alpha);
    cnas_tensor_free(t.conv_w);
    return best;
}

START_TEST(test_mixed_edge_recovers_the_planted_max_pool)
{
    float p[N_CAND];
    int best = search(C_MAX, p);
    ck_assert_msg(best == C_MAX, "argmax softmax(alpha) is %s (p = %.3f %.3f %.3f %.3f %.3f)",
                  names[best], p[0], p[1], p[2], p[3], p[4]);
}
END_TEST

START_TEST(test_mixed_edge_prefers_skip_or_conv_and_never_none_for_an_identity_target)
{
    float p[N_CAND];
    int best = search(C_SKIP, p);
    ck_assert_msg(best == C_SKIP || best == C_CONV, "argmax is %s (p = %.3f %.3f %.3f %.3f %.3f)",
                  names[best], p[0], p[1], p[2], p[3], p[4]);
    ck_assert_float_lt(p[C_NONE], p[best]);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("planted_op");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_mixed_edge_recovers_the_planted_max_pool);
    tcase_add_test(tc, test_mixed_edge_prefers_skip_or_conv_and_never_none_for_an_identity_target);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
