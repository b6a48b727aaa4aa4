/* Optimizers against the published update rules, gradient clipping, learning-rate
 * schedules, PyTorch's default initialisation, and optimizer state round trips. */
#include "testutil.h"

#include <math.h>
#include <string.h>

enum { LEN = 4, STEPS = 3 };

static const float p0[LEN] = {1.0f, -2.0f, 0.5f, 3.0f};

/* A different gradient at every step, so momentum and moments are exercised. */
static float grad_at(int step, int k)
{
    static const float g[STEPS][LEN] = {{0.5f, -1.0f, 0.25f, 2.0f},
                                        {-0.3f, 0.7f, 0.1f, 1.5f},
                                        {0.2f, 0.2f, -0.6f, -1.0f}};
    return g[step][k];
}

static cnas_tensor *param(void)
{
    cnas_error err;
    cnas_tensor *t = cnas_tensor_new(CNAS_SHAPE(LEN), &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    memcpy(t->data, p0, sizeof p0);
    cnas_tensor_set_requires_grad(t, true);
    return t;
}

static void set_grad(cnas_tensor *t, int step)
{
    float *g = cnas_tensor_grad_buffer(t);
    ck_assert_ptr_nonnull(g);
    for (int k = 0; k < LEN; k++)
        g[k] = grad_at(step, k);
}

/* The rules of optim.h in double, one parameter element at a time. */
static void sgd_reference(const cnas_sgd_opts *o, float lr, double out[STEPS][LEN])
{
    for (int k = 0; k < LEN; k++) {
        double p = p0[k], buf = 0.0;
        for (int t = 0; t < STEPS; t++) {
            double g = grad_at(t, k) + (double)o->weight_decay * p;
            if (o->momentum != 0.0f) {
                buf = t == 0 ? g : o->momentum * buf + (1.0 - o->dampening) * g;
                g = o->nesterov ? g + o->momentum * buf : buf;
            }
            p -= lr * g;
            out[t][k] = p;
        }
    }
}

static void adam_reference(const cnas_adam_opts *o, float lr, double out[STEPS][LEN])
{
    for (int k = 0; k < LEN; k++) {
        double p = p0[k], m = 0.0, v = 0.0;
        for (int t = 0; t < STEPS; t++) {
            double g = grad_at(t, k) + (double)o->weight_decay * p;
            m = o->beta1 * m + (1.0 - o->beta1) * g;
            v = o->beta2 * v + (1.0 - o->beta2) * g * g;
            double mhat = m / (1.0 - pow(o->beta1, t + 1));
            double vhat = v / (1.0 - pow(o->beta2, t + 1));
            p -= lr * mhat / (sqrt(vhat) + o->eps);
            out[t][k] = p;
        }
    }
}

/* Runs STEPS updates and compares every element after every step. */
static void check_against(cnas_optim *o, cnas_tensor *t, float lr, double want[STEPS][LEN], double tol)
{
    cnas_error err;
    for (int s = 0; s < STEPS; s++) {
        set_grad(t, s);
        ck_assert_int_eq(cnas_optim_step(o, lr, &err), CNAS_OK);
        for (int k = 0; k < LEN; k++)
            ck_assert_msg(fabs(t->data[k] - want[s][k]) <= tol * (1.0 + fabs(want[s][k])),
                          "step %d element %d: %.9g, expected %.9g", s + 1, k, (double)t->data[k],
                          want[s][k]);
    }
    ck_assert_int_eq(cnas_optim_steps(o), STEPS);
}

static void run_sgd_case(const cnas_sgd_opts *opts, float lr)
{
    cnas_error err;
    cnas_tensor *t = param();
    cnas_optim *o = cnas_sgd_new(&t, 1, opts, &err);
    ck_assert_msg(o != NULL, "%s", err.msg);
    double want[STEPS][LEN];
    sgd_reference(opts, lr, want);
    check_against(o, t, lr, want, 1e-6);
    cnas_optim_free(o);
    cnas_tensor_free(t);
}

/* ---- SGD ------------------------------------------------------------------------------ */

START_TEST(test_sgd_plain_steps_follow_p_minus_lr_g)
{
    run_sgd_case(&(cnas_sgd_opts){0}, 0.1f);
    /* By hand, element 0: 1 - 0.1·0.5 = 0.95; + 0.1·0.3 = 0.98; - 0.1·0.2 = 0.96. */
    cnas_error err;
    cnas_tensor *t = param();
    cnas_optim *o = cnas_sgd_new(&t, 1, NULL, &err);
    for (int s = 0; s < STEPS; s++) {
        set_grad(t, s);
        cnas_optim_step(o, 0.1f, &err);
    }
    ck_assert_double_eq_tol(t->data[0], 0.96, 1e-6);
    cnas_optim_free(o);
    cnas_tensor_free(t);
}
END_TEST

START_TEST(test_sgd_momentum_starts_its_buffer_at_the_first_gradient)
{
    run_sgd_case(&(cnas_sgd_opts){.momentum = 0.9f}, 0.1f);
    /* By hand, constant g = 1 on p = 1, lr 0.1, μ 0.9: buf 1, 1.9, 2.71, so p is
     * 0.9, 0.71, 0.439. A zero-initialised buffer would give buf 0.1 at step one. */
    cnas_error err;
    float v = 1.0f;
    cnas_tensor *t = cnas_tensor_wrap(&v, CNAS_SHAPE(1), &err);
    cnas_optim *o = cnas_sgd_new(&t, 1, &(cnas_sgd_opts){.momentum = 0.9f}, &err);
    const double want[STEPS] = {0.9, 0.71, 0.439};
    for (int s = 0; s < STEPS; s++) {
        cnas_tensor_grad_buffer(t)[0] = 1.0f;
        ck_assert_int_eq(cnas_optim_step(o, 0.1f, &err), CNAS_OK);
        ck_assert_double_eq_tol(v, want[s], 1e-6);
    }
    cnas_optim_free(o);
    cnas_tensor_free(t);
}
END_TEST

START_TEST(test_sgd_momentum_with_dampening_scales_the_new_gradient_only_after_step_one)
{
    run_sgd_case(&(cnas_sgd_opts){.momentum = 0.9f, .dampening = 0.5f}, 0.1f);
}
END_TEST

START_TEST(test_sgd_nesterov_steps_along_g_plus_mu_buf)
{
    run_sgd_case(&(cnas_sgd_opts){.momentum = 0.9f, .nesterov = true}, 0.1f);
    /* By hand, constant g = 1 on p = 1, lr 0.1, μ 0.9: steps 1.9, 2.71, 3.439, so p is
     * 0.81, 0.539, 0.1951. */
    cnas_error err;
    float v = 1.0f;
    cnas_tensor *t = cnas_tensor_wrap(&v, CNAS_SHAPE(1), &err);
    cnas_optim *o = cnas_sgd_new(&t, 1, &(cnas_sgd_opts){.momentum = 0.9f, .nesterov = true}, &err);
    const double want[STEPS] = {0.81, 0.539, 0.1951};
    for (int s = 0; s < STEPS; s++) {
        cnas_tensor_grad_buffer(t)[0] = 1.0f;
        ck_assert_int_eq(cnas_optim_step(o, 0.1f, &err), CNAS_OK);
        ck_assert_double_eq_tol(v, want[s], 1e-6);
    }
    cnas_optim_free(o);
    cnas_tensor_free(t);
}
END_TEST

START_TEST(test_sgd_weight_decay_adds_wd_times_p_to_the_gradient)
{
    run_sgd_case(&(cnas_sgd_opts){.weight_decay = 3e-4f}, 0.1f);
    run_sgd_case(&(cnas_sgd_opts){.momentum = 0.9f, .weight_decay = 0.05f}, 0.025f);
    /* By hand: p = 3, g = 2, wd 0.05, lr 0.025: 3 - 0.025·(2 + 0.15) = 2.94625. */
    cnas_error err;
    cnas_tensor *t = param();
    cnas_optim *o = cnas_sgd_new(&t, 1, &(cnas_sgd_opts){.weight_decay = 0.05f}, &err);
    set_grad(t, 0);
    cnas_optim_step(o, 0.025f, &err);
    ck_assert_double_eq_tol(t->data[3], 2.94625, 1e-6);
    cnas_optim_free(o);
    cnas_tensor_free(t);
}
END_TEST

START_TEST(test_sgd_rejects_nesterov_without_momentum_or_with_dampening)
{
    cnas_error err;
    cnas_tensor *t = param();
    ck_assert_ptr_null(cnas_sgd_new(&t, 1, &(cnas_sgd_opts){.nesterov = true}, &err));
    ck_assert_int_eq(err.code, CNAS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "Nesterov"));
    ck_assert_ptr_null(cnas_sgd_new(&t, 1,
                                    &(cnas_sgd_opts){.momentum = 0.9f, .dampening = 0.1f, .nesterov = true},
                                    &err));
    ck_assert_ptr_null(cnas_sgd_new(&t, 1, &(cnas_sgd_opts){.momentum = -0.5f}, &err));
    cnas_tensor_free(t);
}
END_TEST

/* ---- Adam ------------------------------------------------------------------------------ */

START_TEST(test_adam_with_coupled_weight_decay_follows_the_bias_corrected_rule)
{
    cnas_error err;
    cnas_adam_opts opts = {.beta1 = 0.5f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-3f};
    cnas_tensor *t = param();
    cnas_optim *o = cnas_adam_new(&t, 1, &opts, &err);
    ck_assert_msg(o != NULL, "%s", err.msg);
    double want[STEPS][LEN];
    adam_reference(&opts, 3e-4f, want);
    check_against(o, t, 3e-4f, want, 1e-6);
    cnas_optim_free(o);
    cnas_tensor_free(t);
}
END_TEST

START_TEST(test_adam_defaults_match_pytorch_and_the_first_step_moves_by_lr)
{
    /* By hand: at step one m̂ = g' and v̂ = g'², so p moves by lr·g'/(|g'| + eps) ≈ lr·sign(g').
     * p = 1, g = 0.5, wd 0.1: g' = 0.6, lr 0.01: p = 1 - 0.01 = 0.99. Then step two with
     * g = -0.3: g' = -0.3 + 0.099 = -0.201, m = 0.9·0.06 + 0.1·(-0.201) = 0.0339,
     * v = 0.999·0.00036 + 0.001·0.040401 = 0.000400041, m̂ = 0.0339/0.19 = 0.178421,
     * v̂ = 0.000400041/0.001999 = 0.200120, p = 0.99 - 0.01·0.178421/0.447348 = 0.986012. */
    cnas_error err;
    cnas_adam_opts opts = {.weight_decay = 0.1f};
    cnas_tensor *t = param();
    cnas_optim *o = cnas_adam_new(&t, 1, &opts, &err);
    ck_assert_msg(o != NULL, "%s", err.msg);
    set_grad(t, 0);
    ck_assert_int_eq(cnas_optim_step(o, 0.01f, &err), CNAS_OK);
    ck_assert_double_eq_tol(t->data[0], 0.99, 1e-6);
    set_grad(t, 1);
    ck_assert_int_eq(cnas_optim_step(o, 0.01f, &err), CNAS_OK);
    ck_assert_double_eq_tol(t->data[0], 0.986012, 2e-6);
    cnas_optim_free(o);
    cnas_tensor_free(t);

    /* The same run with the defaults spelled out agrees over every step. */
    cnas_adam_opts full = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f};
    t = param();
    o = cnas_adam_new(&t, 1, &opts, &err);
    double want[STEPS][LEN];
    adam_reference(&full, 0.01f, want);
    check_against(o, t, 0.01f, want, 1e-6);
    cnas_optim_free(o);
    cnas_tensor_free(t);
}
END_TEST

START_TEST(test_adam_rejects_a_beta_of_one)
{
    cnas_error err;
    cnas_tensor *t = param();
    ck_assert_ptr_null(cnas_adam_new(&t, 1, &(cnas_adam_opts){.beta1 = 1.0f, .beta2 = 0.999f}, &err));
    ck_assert_int_eq(err.code, CNAS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "adam"));
    cnas_tensor_free(t);
}
END_TEST

/* ---- stepping rules shared by both --------------------------------------------------- */

START_TEST(test_step_skips_parameters_without_a_gradient)
{
    cnas_error err;
    cnas_tensor *ps[2] = {param(), param()};
    cnas_optim *optims[2] = {cnas_sgd_new(ps, 2, &(cnas_sgd_opts){.momentum = 0.9f}, &err),
                             cnas_adam_new(ps, 2, NULL, &err)};
    /* The gradient-less parameter comes first, so a step that stopped at it would fail. */
    for (int i = 0; i < 2; i++) {
        cnas_optim *o = optims[i];
        ck_assert_ptr_nonnull(o);
        ck_assert_int_eq(cnas_optim_param_count(o), 2);
        ck_assert_ptr_eq(cnas_optim_param(o, 1), ps[1]);
        set_grad(ps[1], 0);
        ck_assert_int_eq(cnas_optim_step(o, 0.1f, &err), CNAS_OK);
        ck_assert_int_eq(memcmp(ps[0]->data, p0, sizeof p0), 0);
        ck_assert_int_ne(memcmp(ps[1]->data, p0, sizeof p0), 0);
        ck_assert_ptr_null(ps[0]->grad);
        for (int w = 0; w < cnas_optim_state_buffers_per_param(o); w++) {
            ck_assert_ptr_null(cnas_optim_state_buffer(o, 0, w, false));
            ck_assert_ptr_nonnull(cnas_optim_state_buffer(o, 1, w, false));
        }
        memcpy(ps[1]->data, p0, sizeof p0);
        cnas_optim_free(o);
    }
    cnas_tensor_free(ps[0]);
    cnas_tensor_free(ps[1]);
}
END_TEST

START_TEST(test_zero_grad_clears_every_parameter_gradient)
{
    cnas_error err;
    cnas_tensor *ps[2] = {param(), param()};
    set_grad(ps[0], 0);
    set_grad(ps[1], 1);
    cnas_optim *o = cnas_sgd_new(ps, 2, NULL, &err);
    cnas_optim_zero_grad(o);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < LEN; k++)
            ck_assert_float_eq(ps[i]->grad[k], 0.0f);
    cnas_optim_free(o);
    cnas_tensor_free(ps[0]);
    cnas_tensor_free(ps[1]);
}
END_TEST

/* Runs two steps on `a`, copies its state into a fresh optimizer `b` over a copy of the
 * parameter, then takes the same third step on both: the results must be identical. */
static void check_state_round_trip(cnas_optim *(*make)(cnas_tensor *), const char *what)
{
    cnas_error err;
    cnas_tensor *pa = param(), *pb = param();
    cnas_optim *a = make(pa);
    for (int s = 0; s < 2; s++) {
        set_grad(pa, s);
        ck_assert_int_eq(cnas_optim_step(a, 0.05f, &err), CNAS_OK);
    }
    memcpy(pb->data, pa->data, sizeof p0);
    cnas_optim *b = make(pb);
    ck_assert_int_eq(cnas_optim_state_buffers_per_param(a), cnas_optim_state_buffers_per_param(b));
    cnas_optim_set_steps(b, cnas_optim_steps(a));
    for (int w = 0; w < cnas_optim_state_buffers_per_param(a); w++) {
        const float *src = cnas_optim_state_buffer(a, 0, w, false);
        ck_assert_msg(src != NULL, "%s: buffer %d missing after two steps", what, w);
        float *dst = cnas_optim_state_buffer(b, 0, w, true);
        ck_assert_ptr_nonnull(dst);
        memcpy(dst, src, sizeof p0);
    }
    set_grad(pa, 2);
    set_grad(pb, 2);
    ck_assert_int_eq(cnas_optim_step(a, 0.05f, &err), CNAS_OK);
    ck_assert_int_eq(cnas_optim_step(b, 0.05f, &err), CNAS_OK);
    ck_assert_msg(memcmp(pa->data, pb->data, sizeof p0) == 0, "%s: restored step differs", what);
    for (int w = 0; w < cnas_optim_state_buffers_per_param(a); w++)
        ck_assert_msg(memcmp(cnas_optim_state_buffer(a, 0, w, false),
                             cnas_optim_state_buffer(b, 0, w, false), sizeof p0) == 0,
                      "%s: buffer %d differs after the restored step", what, w);
    ck_assert_int_eq(cnas_optim_steps(b), 3);
    cnas_optim_free(a);
    cnas_optim_free(b);
    cnas_tensor_free(pa);
    cnas_tensor_free(pb);
}

static cnas_optim *make_sgd(cnas_tensor *t)
{
    cnas_error err;
    return cnas_sgd_new(&t, 1, &(cnas_sgd_opts){.momentum = 0.9f, .weight_decay = 3e-4f}, &err);
}

static cnas_optim *make_adam(cnas_tensor *t)
{
    cnas_error err;
    return cnas_adam_new(&t, 1, &(cnas_adam_opts){.beta1 = 0.5f, .beta2 = 0.999f, .weight_decay = 1e-3f},
                         &err);
}

START_TEST(test_state_buffers_round_trip_to_an_identical_next_step)
{
    check_state_round_trip(make_sgd, "sgd");
    check_state_round_trip(make_adam, "adam");
}
END_TEST

START_TEST(test_state_buffer_rejects_out_of_range_indices)
{
    cnas_error err;
    cnas_tensor *t = param();
    cnas_optim *o = cnas_adam_new(&t, 1, NULL, &err);
    ck_assert_int_eq(cnas_optim_state_buffers_per_param(o), 2);
    ck_assert_ptr_null(cnas_optim_state_buffer(o, 1, 0, true));
    ck_assert_ptr_null(cnas_optim_state_buffer(o, 0, 2, true));
    ck_assert_ptr_null(cnas_optim_state_buffer(o, -1, 0, true));
    cnas_optim_free(o);
    cnas_tensor_free(t);
}
END_TEST

/* ---- gradient clipping ---------------------------------------------------------------- */

START_TEST(test_clip_grad_norm_scales_to_the_max_and_returns_the_norm_before)
{
    cnas_error err;
    cnas_tensor *a = cnas_tensor_new(CNAS_SHAPE(2), &err), *b = cnas_tensor_new(CNAS_SHAPE(1), &err);
    cnas_tensor *none = cnas_tensor_new(CNAS_SHAPE(3), &err); /* no gradient: ignored */
    cnas_tensor_grad_buffer(a)[0] = 3.0f;
    cnas_tensor_grad_buffer(a)[1] = 4.0f;
    cnas_tensor_grad_buffer(b)[0] = 12.0f;
    cnas_tensor *ps[3] = {a, none, b};
    /* ‖(3, 4, 12)‖ = 13; PyTorch scales by 6.5 / (13 + 1e-6). */
    ck_assert_double_eq_tol(cnas_clip_grad_norm(ps, 3, 6.5f), 13.0, 1e-6);
    double c = 6.5 / (13.0 + 1e-6);
    ck_assert_double_eq_tol(a->grad[0], 3.0 * c, 1e-6);
    ck_assert_double_eq_tol(a->grad[1], 4.0 * c, 1e-6);
    ck_assert_double_eq_tol(b->grad[0], 12.0 * c, 1e-6);
    ck_assert_ptr_null(none->grad);
    /* The clipped norm is the max (a hair under, from the guard). */
    ck_assert_double_eq_tol(cnas_clip_grad_norm(ps, 3, 100.0f), 6.5, 1e-5);

    /* The guard shows on tiny norms: 1e-6 / (2e-6 + 1e-6) = 1/3, not 1/2. */
    cnas_tensor_grad_buffer(a)[0] = 2e-6f;
    cnas_tensor_grad_buffer(a)[1] = 0.0f;
    cnas_tensor_grad_buffer(b)[0] = 0.0f;
    ck_assert_double_eq_tol(cnas_clip_grad_norm(ps, 3, 1e-6f), 2e-6, 1e-12);
    ck_assert_double_eq_tol(a->grad[0], 2e-6 / 3.0, 1e-12);
    cnas_tensor_free(a);
    cnas_tensor_free(b);
    cnas_tensor_free(none);
}
END_TEST

START_TEST(test_clip_grad_norm_leaves_small_gradients_untouched)
{
    cnas_error err;
    cnas_tensor *a = cnas_tensor_new(CNAS_SHAPE(3), &err);
    float g[3] = {0.1f, -0.2f, 0.3f};
    memcpy(cnas_tensor_grad_buffer(a), g, sizeof g);
    float norm = cnas_clip_grad_norm(&a, 1, 5.0f);
    ck_assert_double_eq_tol(norm, sqrt(0.01 + 0.04 + 0.09), 1e-6);
    ck_assert_int_eq(memcmp(a->grad, g, sizeof g), 0);
    cnas_tensor_free(a);
}
END_TEST

/* ---- schedules ------------------------------------------------------------------------ */

START_TEST(test_cosine_schedule_runs_from_base_to_min_through_the_midpoint)
{
    /* DARTS: lr 0.025 annealed to 0.001 over 50 epochs. */
    cnas_schedule s = {CNAS_SCHED_COSINE, 0.025f, 0.001f, 50};
    ck_assert_double_eq_tol(cnas_schedule_lr(&s, 0), 0.025, 1e-9);
    ck_assert_double_eq_tol(cnas_schedule_lr(&s, 25), 0.013, 1e-8);
    ck_assert_double_eq_tol(cnas_schedule_lr(&s, 50), 0.001, 1e-9);
    /* 0.001 + 0.024·(1 + cos(π/50))/2, as CosineAnnealingLR gives at epoch 1. */
    ck_assert_double_eq_tol(cnas_schedule_lr(&s, 1), 0.02497632074, 1e-8);
    /* Symmetric about the midpoint, decreasing, held at the end. */
    ck_assert_double_eq_tol(cnas_schedule_lr(&s, 10) + cnas_schedule_lr(&s, 40), 0.026, 1e-8);
    for (int t = 1; t <= 50; t++)
        ck_assert_float_lt(cnas_schedule_lr(&s, t), cnas_schedule_lr(&s, t - 1));
    ck_assert_float_eq(cnas_schedule_lr(&s, 75), cnas_schedule_lr(&s, 50));
}
END_TEST

START_TEST(test_linear_schedule_interpolates_and_holds_the_end_value)
{
    cnas_schedule s = {CNAS_SCHED_LINEAR, 1.0f, 0.2f, 4};
    const double want[6] = {1.0, 0.8, 0.6, 0.4, 0.2, 0.2};
    for (int t = 0; t < 6; t++)
        ck_assert_double_eq_tol(cnas_schedule_lr(&s, t), want[t], 1e-7);
}
END_TEST

START_TEST(test_constant_schedule_ignores_min_and_total)
{
    cnas_schedule s = {CNAS_SCHED_CONSTANT, 0.1f, 0.0f, 10};
    for (int t = 0; t < 20; t += 5)
        ck_assert_float_eq(cnas_schedule_lr(&s, t), 0.1f);
}
END_TEST

START_TEST(test_schedule_parse_accepts_the_three_names_and_rejects_others_listing_them)
{
    cnas_error err;
    cnas_schedule_kind k;
    ck_assert_int_eq(cnas_schedule_parse("constant", &k, &err), CNAS_OK);
    ck_assert_int_eq(k, CNAS_SCHED_CONSTANT);
    ck_assert_int_eq(cnas_schedule_parse("cosine", &k, &err), CNAS_OK);
    ck_assert_int_eq(k, CNAS_SCHED_COSINE);
    ck_assert_int_eq(cnas_schedule_parse("linear", &k, &err), CNAS_OK);
    ck_assert_int_eq(k, CNAS_SCHED_LINEAR);
    ck_assert_int_eq(cnas_schedule_parse("cosinus", &k, &err), CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "'cosinus'") && strstr(err.msg, "constant") &&
                      strstr(err.msg, "cosine") && strstr(err.msg, "linear"),
                  "message: %s", err.msg);
    ck_assert_int_eq(cnas_schedule_parse("", &k, &err), CNAS_ERR_CONFIG);
    ck_assert_int_eq(cnas_schedule_parse(NULL, &k, &err), CNAS_ERR_CONFIG);
}
END_TEST

/* ---- initialisation ------------------------------------------------------------------- */

static void moments(const cnas_tensor *t, double *mean, double *sd, double *maxabs)
{
    double s = 0.0, s2 = 0.0, m = 0.0;
    for (int64_t i = 0; i < t->numel; i++) {
        s += t->data[i];
        s2 += (double)t->data[i] * t->data[i];
        m = fmax(m, fabs(t->data[i]));
    }
    *mean = s / (double)t->numel;
    *sd = sqrt(s2 / (double)t->numel - *mean * *mean);
    *maxabs = m;
}

START_TEST(test_default_weight_init_is_uniform_within_one_over_sqrt_fan_in)
{
    cnas_error err;
    cnas_tensor *w = cnas_tensor_new(CNAS_SHAPE(64, 16, 3, 3), &err); /* fan_in 144 */
    cnas_rng r;
    cnas_rng_init(&r, 1, "init");
    cnas_init_default_weight(w, &r);
    double mean, sd, maxabs, bound = 1.0 / 12.0;
    moments(w, &mean, &sd, &maxabs);
    ck_assert_double_le(maxabs, bound);
    ck_assert_double_gt(maxabs, 0.99 * bound);                 /* fills the range */
    ck_assert_double_eq_tol(sd, bound / sqrt(3.0), 0.02 * bound); /* U(-b, b): sd b/√3 */
    ck_assert_double_eq_tol(mean, 0.0, 0.03 * bound);
    cnas_tensor_free(w);

    w = cnas_tensor_new(CNAS_SHAPE(10, 400), &err); /* linear: fan_in 400 */
    cnas_init_default_weight(w, &r);
    moments(w, &mean, &sd, &maxabs);
    ck_assert_double_le(maxabs, 0.05);
    ck_assert_double_gt(maxabs, 0.049);
    cnas_tensor_free(w);
}
END_TEST

START_TEST(test_default_bias_init_is_uniform_within_one_over_sqrt_fan_in)
{
    cnas_error err;
    cnas_tensor *b = cnas_tensor_new(CNAS_SHAPE(4096), &err);
    cnas_rng r;
    cnas_rng_init(&r, 2, "init");
    cnas_init_default_bias(b, 25, &r);
    double mean, sd, maxabs;
    moments(b, &mean, &sd, &maxabs);
    ck_assert_double_le(maxabs, 0.2);
    ck_assert_double_gt(maxabs, 0.19);
    cnas_tensor_free(b);
}
END_TEST

START_TEST(test_kaiming_normal_has_std_sqrt_two_over_fan_out)
{
    cnas_error err;
    cnas_tensor *w = cnas_tensor_new(CNAS_SHAPE(64, 32, 3, 3), &err);
    cnas_rng r;
    cnas_rng_init(&r, 3, "init");
    cnas_init_kaiming_normal(w, &r);
    double mean, sd, maxabs, want = sqrt(2.0 / (64.0 * 9.0)); /* fan_out = 64·3·3 */
    moments(w, &mean, &sd, &maxabs);
    /* 18432 draws: the sample sd is within 0.6 % of σ at one standard error. */
    ck_assert_double_eq_tol(sd, want, 0.03 * want);
    ck_assert_double_eq_tol(mean, 0.0, 0.05 * want);
    /* Not the fan_in scaling, which would be sqrt(2/288). */
    ck_assert_double_lt(sd, 0.8 * sqrt(2.0 / 288.0));
    cnas_tensor_free(w);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("sgd");
    tcase_add_test(tc, test_sgd_plain_steps_follow_p_minus_lr_g);
    tcase_add_test(tc, test_sgd_momentum_starts_its_buffer_at_the_first_gradient);
    tcase_add_test(tc, test_sgd_momentum_with_dampening_scales_the_new_gradient_only_after_step_one);
    tcase_add_test(tc, test_sgd_nesterov_steps_along_g_plus_mu_buf);
    tcase_add_test(tc, test_sgd_weight_decay_adds_wd_times_p_to_the_gradient);
    tcase_add_test(tc, test_sgd_rejects_nesterov_without_momentum_or_with_dampening);
    suite_add_tcase(s, tc);

    tc = tcase_create("adam");
    tcase_add_test(tc, test_adam_with_coupled_weight_decay_follows_the_bias_corrected_rule);
    tcase_add_test(tc, test_adam_defaults_match_pytorch_and_the_first_step_moves_by_lr);
    tcase_add_test(tc, test_adam_rejects_a_beta_of_one);
    suite_add_tcase(s, tc);

    tc = tcase_create("stepping");
    tcase_add_test(tc, test_step_skips_parameters_without_a_gradient);
    tcase_add_test(tc, test_zero_grad_clears_every_parameter_gradient);
    tcase_add_test(tc, test_state_buffers_round_trip_to_an_identical_next_step);
    tcase_add_test(tc, test_state_buffer_rejects_out_of_range_indices);
    tcase_add_test(tc, test_clip_grad_norm_scales_to_the_max_and_returns_the_norm_before);
    tcase_add_test(tc, test_clip_grad_norm_leaves_small_gradients_untouched);
    suite_add_tcase(s, tc);

    tc = tcase_create("schedules");
    tcase_add_test(tc, test_cosine_schedule_runs_from_base_to_min_through_the_midpoint);
    tcase_add_test(tc, test_linear_schedule_interpolates_and_holds_the_end_value);
    tcase_add_test(tc, test_constant_schedule_ignores_min_and_total);
    tcase_add_test(tc, test_schedule_parse_accepts_the_three_names_and_rejects_others_listing_them);
    suite_add_tcase(s, tc);

    tc = tcase_create("init");
    tcase_add_test(tc, test_default_weight_init_is_uniform_within_one_over_sqrt_fan_in);
    tcase_add_test(tc, test_default_bias_init_is_uniform_within_one_over_sqrt_fan_in);
    tcase_add_test(tc, test_kaiming_normal_has_std_sqrt_two_over_fan_out);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
