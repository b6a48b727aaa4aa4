/* Optimizers against hand-computed values of the published (PyTorch) update rules,
 * clipping, schedules, initialisation and optimizer state round trips. */
#include "testutil.h"

#include <math.h>
#include <string.h>

static cnas_tensor *param(const float *v, int n)
{
    cnas_error err;
    cnas_tensor *t = cnas_tensor_new(CNAS_SHAPE(n), &err);
    memcpy(t->data, v, (size_t)n * sizeof(float));
    cnas_tensor_grad_buffer(t);
    return t;
}

/* Three steps with gradients g_t = p + t (a gradient that depends on the parameter). */
static void run_steps(cnas_optim *o, cnas_tensor *p, float lr)
{
    cnas_error err;
    for (int t = 0; t < 3; t++) {
        for (int i = 0; i < p->numel; i++)
            p->grad[i] = p->data[i] + (float)t;
        ck_assert_int_eq(cnas_optim_step(o, lr, &err), CNAS_OK);
    }
}

START_TEST(test_sgd_with_momentum_follows_the_published_rule)
{
    /* p0 = 1, lr 0.1, μ 0.9:
     * t0: g = 1,           buf = 1,                       p = 1 - 0.1·1        = 0.9
     * t1: g = 0.9 + 1,     buf = 0.9·1 + 1.9 = 2.8,       p = 0.9 - 0.28       = 0.62
     * t2: g = 0.62 + 2,    buf = 0.9·2.8 + 2.62 = 5.14,   p = 0.62 - 0.514     = 0.106 */
    cnas_error err;
    cnas_tensor *p = param((float[]){1.0f}, 1);
    cnas_optim *o = cnas_sgd_new(&p, 1, &(cnas_sgd_opts){.momentum = 0.9f}, &err);
    run_steps(o, p, 0.1f);
    ck_assert_float_eq_tol(p->data[0], 0.106f, 1e-6);
    cnas_optim_free(o);
    cnas_tensor_free(p);
}
END_TEST

START_TEST(test_sgd_nesterov_and_weight_decay_follow_the_published_rule)
{
    double p = 1.0, buf = 0.0, lr = 0.1, mu = 0.9, wd = 0.01;
    for (int t = 0; t < 3; t++) {
        double g = (p + t) + wd * p;
        buf = t == 0 ? g : mu * buf + g;
        p -= lr * (g + mu * buf);
    }
    cnas_error err;
    cnas_tensor *pt = param((float[]){1.0f}, 1);
    cnas_optim *o = cnas_sgd_new(&pt, 1, &(cnas_sgd_opts){.momentum = 0.9f, .weight_decay = 0.01f,
                                                          .nesterov = true}, &err);
    run_steps(o, pt, 0.1f);
    ck_assert_double_eq_tol(pt->data[0], p, 1e-6);
    /* Plain SGD with weight decay: p1 = 1 - 0.1·(1 + 0.5·1) = 0.85 */
    cnas_tensor *q = param((float[]){1.0f}, 1);
    cnas_optim *o2 = cnas_sgd_new(&q, 1, &(cnas_sgd_opts){.weight_decay = 0.5f}, &err);
    q->grad[0] = 1.0f;
    cnas_optim_step(o2, 0.1f, &err);
    ck_assert_float_eq_tol(q->data[0], 0.85f, 1e-7);
    ck_assert_ptr_null(cnas_sgd_new(&q, 1, &(cnas_sgd_opts){.nesterov = true}, &err));
    cnas_optim_free(o);
    cnas_optim_free(o2);
    cnas_tensor_free(pt);
    cnas_tensor_free(q);
}
END_TEST

START_TEST(test_adam_with_coupled_weight_decay_follows_the_published_rule)
{
    /* DARTS' architecture optimizer: betas (0.5, 0.999), wd 1e-3, lr 3e-4.
     * First step by hand: g = 1 + 1e-3·1 = 1.001, m = 0.5005, v = 0.001002001,
     * m̂ = 1.001, v̂ = 1.002001, p = 1 - 3e-4·1.001/(1.001 + 1e-8) ≈ 0.9997. */
    double p = 1.0, m = 0, v = 0;
    const double b1 = 0.5, b2 = 0.999, wd = 1e-3, lr = 3e-4, eps = 1e-8;
    for (int t = 0; t < 3; t++) {
        double g = (p + t) + wd * p;
        m = b1 * m + (1 - b1) * g;
        v = b2 * v + (1 - b2) * g * g;
        double mh = m / (1 - pow(b1, t + 1)), vh = v / (1 - pow(b2, t + 1));
        p -= lr * mh / (sqrt(vh) + eps);
        if (t == 0)
            ck_assert_double_eq_tol(p, 0.9997, 1e-9);
    }
    cnas_error err;
    cnas_tensor *pt = param((float[]){1.0f}, 1);
    cnas_optim *o = cnas_adam_new(&pt, 1, &(cnas_adam_opts){.beta1 = 0.5f, .beta2 = 0.999f,
                                                            .weight_decay = 1e-3f}, &err);
    run_steps(o, pt, 3e-4f);
    ck_assert_double_eq_tol(pt->data[0], p, 1e-6);
    ck_assert_int_eq(cnas_optim_steps(o), 3);
    cnas_optim_free(o);
    cnas_tensor_free(pt);
}
END_TEST

START_TEST(test_tensors_without_gradients_are_skipped)
{
    cnas_error err;
    cnas_tensor *a = param((float[]){1.0f}, 1);
    cnas_tensor *b = cnas_tensor_new(CNAS_SHAPE(1), &err);
    b->data[0] = 5.0f;
    cnas_tensor *ps[2] = {a, b};
    cnas_optim *o = cnas_sgd_new(ps, 2, &(cnas_sgd_opts){.momentum = 0.9f, .weight_decay = 0.1f}, &err);
    a->grad[0] = 1.0f;
    cnas_optim_step(o, 0.1f, &err);
    ck_assert_float_eq(b->data[0], 5.0f);
    ck_assert_ptr_null(cnas_optim_state_buffer(o, 1, 0, false));
    cnas_optim_free(o);
    cnas_tensor_free(a);
    cnas_tensor_free(b);
}
END_TEST

START_TEST(test_clip_grad_norm_scales_to_the_limit_and_returns_the_norm)
{
    cnas_tensor *a = param((float[]){0, 0}, 2), *b = param((float[]){0}, 1);
    a->grad[0] = 3.0f;
    a->grad[1] = 0.0f;
    b->grad[0] = 4.0f;
    cnas_tensor *ps[2] = {a, b};
    ck_assert_float_eq_tol(cnas_clip_grad_norm(ps, 2, 1.0f), 5.0f, 1e-6);
    ck_assert_float_eq_tol(a->grad[0], 3.0f / (5.0f + 1e-6f), 1e-6);
    ck_assert_float_eq_tol(b->grad[0], 4.0f / (5.0f + 1e-6f), 1e-6);
    ck_assert_float_eq_tol(cnas_clip_grad_norm(ps, 2, 5.0f), 1.0f, 1e-5);
    ck_assert_float_eq_tol(b->grad[0], 4.0f / (5.0f + 1e-6f), 1e-6); /* untouched below the limit */
    cnas_tensor_free(a);
    cnas_tensor_free(b);
}
END_TEST

START_TEST(test_schedules_hit_their_endpoints_and_midpoints)
{
    cnas_schedule s = {CNAS_SCHED_COSINE, 0.025f, 0.001f, 50};
    ck_assert_float_eq_tol(cnas_schedule_lr(&s, 0), 0.025f, 1e-9);
    ck_assert_float_eq_tol(cnas_schedule_lr(&s, 25), 0.013f, 1e-7);
    ck_assert_float_eq_tol(cnas_schedule_lr(&s, 50), 0.001f, 1e-9);
    ck_assert_float_eq_tol(cnas_schedule_lr(&s, 80), 0.001f, 1e-9);
    s.kind = CNAS_SCHED_LINEAR;
    ck_assert_float_eq_tol(cnas_schedule_lr(&s, 25), 0.013f, 1e-7);
    s.kind = CNAS_SCHED_CONSTANT;
    ck_assert_float_eq(cnas_schedule_lr(&s, 49), 0.025f);
    cnas_schedule_kind k;
    cnas_error err;
    ck_assert_int_eq(cnas_schedule_parse("cosine", &k, &err), CNAS_OK);
    ck_assert_int_eq(k, CNAS_SCHED_COSINE);
    ck_assert_int_eq(cnas_schedule_parse("cosin", &k, &err), CNAS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "'cosin'"));
}
END_TEST

START_TEST(test_default_init_bounds_and_kaiming_std_match_pytorch)
{
    cnas_error err;
    cnas_rng r;
    cnas_rng_init(&r, 1, "init");
    cnas_tensor *w = cnas_tensor_new(CNAS_SHAPE(64, 16, 3, 3), &err);
    cnas_init_default_weight(w, &r);
    float bound = 1.0f / sqrtf(144.0f), mx = 0;
    for (int64_t i = 0; i < w->numel; i++)
        mx = fmaxf(mx, fabsf(w->data[i]));
    ck_assert_float_le(mx, bound);
    ck_assert_float_gt(mx, 0.95f * bound);
    cnas_init_kaiming_normal(w, &r);
    double s2 = 0;
    for (int64_t i = 0; i < w->numel; i++)
        s2 += (double)w->data[i] * w->data[i];
    ck_assert_double_eq_tol(sqrt(s2 / (double)w->numel), sqrt(2.0 / (64 * 9)), 0.003);
    cnas_tensor_free(w);
}
END_TEST

START_TEST(test_optimizer_state_round_trips_to_an_identical_next_step)
{
    cnas_error err;
    float init[3] = {0.5f, -1.0f, 2.0f};
    cnas_tensor *a = param(init, 3), *b = param(init, 3);
    cnas_optim *oa = cnas_adam_new(&a, 1, NULL, &err), *ob = cnas_adam_new(&b, 1, NULL, &err);
    run_steps(oa, a, 0.01f);
    memcpy(b->data, a->data, sizeof init);
    for (int k = 0; k < 2; k++)
        memcpy(cnas_optim_state_buffer(ob, 0, k, true), cnas_optim_state_buffer(oa, 0, k, false),
               sizeof init);
    cnas_optim_set_steps(ob, cnas_optim_steps(oa));
    for (int i = 0; i < 3; i++)
        a->grad[i] = b->grad[i] = 0.3f * (float)i;
    cnas_optim_step(oa, 0.01f, &err);
    cnas_optim_step(ob, 0.01f, &err);
    ck_assert_int_eq(memcmp(a->data, b->data, sizeof init), 0);
    cnas_optim_free(oa);
    cnas_optim_free(ob);
    cnas_tensor_free(a);
    cnas_tensor_free(b);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_sgd_with_momentum_follows_the_published_rule);
    tcase_add_test(tc, test_sgd_nesterov_and_weight_decay_follow_the_published_rule);
    tcase_add_test(tc, test_adam_with_coupled_weight_decay_follows_the_published_rule);
    tcase_add_test(tc, test_tensors_without_gradients_are_skipped);
    tcase_add_test(tc, test_clip_grad_norm_scales_to_the_limit_and_returns_the_norm);
    tcase_add_test(tc, test_schedules_hit_their_endpoints_and_midpoints);
    tcase_add_test(tc, test_default_init_bounds_and_kaiming_std_match_pytorch);
    tcase_add_test(tc, test_optimizer_state_round_trips_to_an_identical_next_step);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
