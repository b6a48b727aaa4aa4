/* The unrolled DARTS hypergradient on a quadratic bilevel problem (docs/darts.md),
 * where the exact answer is known in closed form:
 *   L_train = ½ (w - Bα)ᵀ H (w - Bα),  L_val = ½ ‖w - c‖²,  c = Bα*
 *   w' = w - η H (w - Bα),  ∇α L_val(w'(α)) = η Bᵀ H (w' - c). */
#include "testutil.h"

#include <math.h>
#include <string.h>

#define N 6
#define M 3

typedef struct toy {
    cnas_tensor *w, *alpha, *B, *H, *neg_c;
    double Bd[N][M], Hd[N][N], alpha_star[M];
} toy;

static cnas_tensor *train_loss(cnas_graph *g, void *ctx)
{
    toy *t = ctx;
    cnas_tensor *ba = cnas_linear(g, t->alpha, t->B, NULL);          /* (Bα)ᵀ [1, N] */
    cnas_tensor *d = cnas_add(g, t->w, cnas_scale(g, ba, -1.0f));    /* (w - Bα)ᵀ */
    cnas_tensor *hd = cnas_linear(g, d, t->H, NULL);                 /* (H d)ᵀ, H symmetric */
    return cnas_scale(g, cnas_sum(g, cnas_mul(g, d, hd)), 0.5f);
}

static cnas_tensor *val_loss(cnas_graph *g, void *ctx)
{
    toy *t = ctx;
    cnas_tensor *e = cnas_add(g, t->w, t->neg_c);
    return cnas_scale(g, cnas_sum(g, cnas_mul(g, e, e)), 0.5f);
}

static void toy_init(toy *t)
{
    cnas_error err;
    cnas_rng r;
    cnas_rng_init(&r, 11, "toy");
    t->w = cnas_tensor_new(CNAS_SHAPE(1, N), &err);
    t->alpha = cnas_tensor_new(CNAS_SHAPE(1, M), &err);
    t->B = cnas_tensor_new(CNAS_SHAPE(N, M), &err);
    t->H = cnas_tensor_new(CNAS_SHAPE(N, N), &err);
    t->neg_c = cnas_tensor_new(CNAS_SHAPE(1, N), &err);
    double A[N][N];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            A[i][j] = cnas_rng_normal(&r) * 0.5;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = i == j ? 1.0 : 0.0;
            for (int k = 0; k < N; k++)
                s += A[i][k] * A[j][k];
            t->Hd[i][j] = (float)s;
            t->H->data[i * N + j] = (float)s;
        }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) {
            t->B->data[i * M + j] = cnas_rng_normal(&r);
            t->Bd[i][j] = t->B->data[i * M + j];
        }
    for (int j = 0; j < M; j++)
        t->alpha_star[j] = cnas_rng_normal(&r);
    for (int i = 0; i < N; i++) {
        double c = 0;
        for (int j = 0; j < M; j++)
            c += t->Bd[i][j] * t->alpha_star[j];
        t->neg_c->data[i] = (float)-c;
        t->w->data[i] = cnas_rng_normal(&r);
    }
}

static void toy_free(toy *t)
{
    cnas_tensor_free(t->w);
    cnas_tensor_free(t->alpha);
    cnas_tensor_free(t->B);
    cnas_tensor_free(t->H);
    cnas_tensor_free(t->neg_c);
}

/* η Bᵀ H (w' - c) in double. */
static void exact_hypergrad(const toy *t, double eta, double out[M])
{
    double d[N], wp[N], e[N], he[N];
    for (int i = 0; i < N; i++) {
        double ba = 0;
        for (int j = 0; j < M; j++)
            ba += t->Bd[i][j] * t->alpha->data[j];
        d[i] = t->w->data[i] - ba;
    }
    for (int i = 0; i < N; i++) {
        double hd = 0;
        for (int k = 0; k < N; k++)
            hd += t->Hd[i][k] * d[k];
        wp[i] = t->w->data[i] - eta * hd;
        e[i] = wp[i] + t->neg_c->data[i];
    }
    for (int i = 0; i < N; i++) {
        he[i] = 0;
        for (int k = 0; k < N; k++)
            he[i] += t->Hd[i][k] * e[k];
    }
    for (int j = 0; j < M; j++) {
        out[j] = 0;
        for (int i = 0; i < N; i++)
            out[j] += eta * t->Bd[i][j] * he[i];
    }
}

static cnas_unrolled_args args_for(toy *t, float eta)
{
    static cnas_tensor *w[1], *a[1];
    w[0] = t->w;
    a[0] = t->alpha;
    return (cnas_unrolled_args){.w = w, .n_w = 1, .alpha = a, .n_alpha = 1,
                                .train_loss = train_loss, .train_ctx = t,
                                .val_loss = val_loss, .val_ctx = t, .eta = eta};
}

START_TEST(test_unrolled_hypergradient_matches_the_closed_form_on_a_quadratic)
{
    toy t;
    toy_init(&t);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    float w_before[N];
    memcpy(w_before, t.w->data, sizeof w_before);
    cnas_unrolled_args a = args_for(&t, 0.1f);
    ck_assert_int_eq(cnas_unrolled_alpha_grad(g, &a, NULL, &err), CNAS_OK);
    double want[M];
    exact_hypergrad(&t, 0.1, want);
    double scale = 0;
    for (int j = 0; j < M; j++)
        scale = fmax(scale, fabs(want[j]));
    ck_assert_double_gt(scale, 1e-2);
    for (int j = 0; j < M; j++)
        ck_assert_msg(fabs(t.alpha->grad[j] - want[j]) < 2e-3 * scale,
                      "component %d: finite differences %.7g, closed form %.7g", j,
                      t.alpha->grad[j], want[j]);
    /* The weights come back bit for bit. */
    ck_assert_int_eq(memcmp(w_before, t.w->data, sizeof w_before), 0);
    cnas_graph_free(g);
    toy_free(&t);
}
END_TEST

START_TEST(test_first_order_gradient_is_zero_when_the_val_loss_ignores_alpha)
{
    toy t;
    toy_init(&t);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    ck_assert_int_eq(cnas_grad_pass(g, val_loss, &t, &t.alpha, 1, &t.w, 1, NULL, &err), CNAS_OK);
    /* No path reaches α: it gets no gradient at all (PyTorch's None), which is zero. */
    for (int j = 0; t.alpha->grad && j < M; j++)
        ck_assert_float_eq(t.alpha->grad[j], 0.0f);
    cnas_graph_free(g);
    toy_free(&t);
}
END_TEST

START_TEST(test_alternating_unrolled_steps_recover_the_planted_alpha)
{
    toy t;
    toy_init(&t);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    const float eta = 0.1f;
    cnas_unrolled_args a = args_for(&t, eta);
    for (int it = 0; it < 3000; it++) {
        ck_assert_int_eq(cnas_unrolled_alpha_grad(g, &a, NULL, &err), CNAS_OK);
        for (int j = 0; j < M; j++)
            t.alpha->data[j] -= 0.5f * t.alpha->grad[j];
        ck_assert_int_eq(cnas_grad_pass(g, train_loss, &t, &t.w, 1, &t.alpha, 1, NULL, &err),
                         CNAS_OK);
        for (int i = 0; i < N; i++)
            t.w->data[i] -= eta * t.w->grad[i];
    }
    double dist = 0;
    for (int j = 0; j < M; j++)
        dist += (t.alpha->data[j] - t.alpha_star[j]) * (t.alpha->data[j] - t.alpha_star[j]);
    ck_assert_msg(sqrt(dist) < 1e-3, "‖α - α*‖ = %.3g", sqrt(dist));
    cnas_graph_free(g);
    toy_free(&t);
}
END_TEST

START_TEST(test_fd_mixed_grad_restores_the_perturbed_tensors_exactly)
{
    toy t;
    toy_init(&t);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    float v[N], out[M], before[N];
    for (int i = 0; i < N; i++)
        v[i] = 0.3f * (float)(i + 1);
    memcpy(before, t.w->data, sizeof before);
    const float *vp[1] = {v};
    float *op[1] = {out};
    ck_assert_int_eq(cnas_fd_mixed_grad(g, train_loss, &t, &t.w, vp, 1, 1e-2f, &t.alpha, 1, op,
                                        &err), CNAS_OK);
    ck_assert_int_eq(memcmp(before, t.w->data, sizeof before), 0);
    /* ∇α∇w L_train · v = -Bᵀ H v */
    for (int j = 0; j < M; j++) {
        double want = 0;
        for (int i = 0; i < N; i++)
            for (int k = 0; k < N; k++)
                want -= t.Bd[i][j] * t.Hd[i][k] * v[k];
        ck_assert_msg(fabs(out[j] - want) < 2e-3 * fmax(1.0, fabs(want)), "%d: %g vs %g", j,
                      out[j], want);
    }
    cnas_graph_free(g);
    toy_free(&t);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("bilevel");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_unrolled_hypergradient_matches_the_closed_form_on_a_quadratic);
    tcase_add_test(tc, test_first_order_gradient_is_zero_when_the_val_loss_ignores_alpha);
    tcase_add_test(tc, test_alternating_unrolled_steps_recover_the_planted_alpha);
    tcase_add_test(tc, test_fd_mixed_grad_restores_the_perturbed_tensors_exactly);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
