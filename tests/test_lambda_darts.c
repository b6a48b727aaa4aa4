/* The Λ-DARTS regularisers (plugins/strategies/darts/lambda_reg.c, docs/lambda_darts.md)
 * in double precision:
 *  - p = ∂R/∂g against central differences of R, for corr and signcorr;
 *  - the strategy's finite difference along p, [∇_w L(β + εp) − ∇_w L(β − εp)] / 2ε with
 *    ε = ε₀/‖p‖, against ∇_w R from central differences of R(w) in every coordinate of
 *    w, on a toy network of 4 cells, each a tanh of a mixture (weights β_l) of three
 *    linear maps 8x8, and a linear head; relative error below 1e-3 at ε₀ = 1e-4;
 *  - R's value: cosines of constructed gradients, and NaN where undefined.
 * The strategy's behaviour end to end is tests/lambda_darts.sh. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "lambda_reg.h"

#define CELLS 4
#define OPS 3
#define D 8
#define OUT 3
#define BATCH 5

/* w: the cells' maps A[l][k] (D x D) then the head H (OUT x D). */
#define NA (CELLS * OPS * D * D)
#define NW (NA + OUT * D)

typedef struct toy {
    double x[BATCH][D], t[BATCH][OUT];
} toy;

static double *amap(double *w, int l, int k) { return w + ((l * OPS + k) * D * D); }
static double *head(double *w) { return w + NA; }

/* L = 1/(2B) Σ ‖H h_4 − t‖², h_{l+1} = tanh(Σ_k β_l[k] A_lk h_l); gradients with
 * respect to w (gw, NW) and β (gb, CELLS·OPS), either may be NULL. */
static double toy_loss(const toy *t, const double *w, const double *beta, double *gw, double *gb)
{
    double *wc = (double *)w;
    double loss = 0.0;
    if (gw)
        memset(gw, 0, NW * sizeof *gw);
    if (gb)
        memset(gb, 0, CELLS * OPS * sizeof *gb);
    for (int s = 0; s < BATCH; s++) {
        double h[CELLS + 1][D];
        memcpy(h[0], t->x[s], sizeof h[0]);
        for (int l = 0; l < CELLS; l++)
            for (int i = 0; i < D; i++) {
                double z = 0.0;
                for (int k = 0; k < OPS; k++)
                    for (int j = 0; j < D; j++)
                        z += beta[l * OPS + k] * amap(wc, l, k)[i * D + j] * h[l][j];
                h[l + 1][i] = tanh(z);
            }
        double dout[OUT], dh[D] = {0};
        for (int o = 0; o < OUT; o++) {
            double y = 0.0;
            for (int j = 0; j < D; j++)
                y += head(wc)[o * D + j] * h[CELLS][j];
            dout[o] = (y - t->t[s][o]) / BATCH;
            loss += 0.5 * (y - t->t[s][o]) * (y - t->t[s][o]) / BATCH;
        }
        for (int o = 0; o < OUT; o++)
            for (int j = 0; j < D; j++) {
                if (gw)
                    head(gw)[o * D + j] += dout[o] * h[CELLS][j];
                dh[j] += head(wc)[o * D + j] * dout[o];
            }
        for (int l = CELLS - 1; l >= 0; l--) {
            double dz[D], dprev[D] = {0};
            for (int i = 0; i < D; i++)
                dz[i] = dh[i] * (1.0 - h[l + 1][i] * h[l + 1][i]);
            for (int k = 0; k < OPS; k++) {
                const double *A = amap(wc, l, k);
                double bk = beta[l * OPS + k];
                for (int i = 0; i < D; i++)
                    for (int j = 0; j < D; j++) {
                        if (gb)
                            gb[l * OPS + k] += dz[i] * A[i * D + j] * h[l][j];
                        if (gw)
                            amap(gw, l, k)[i * D + j] += bk * dz[i] * h[l][j];
                        dprev[j] += bk * A[i * D + j] * dz[i];
                    }
            }
            memcpy(dh, dprev, sizeof dh);
        }
    }
    return loss;
}

static double uniform(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static void toy_init(toy *t, double *w, double *beta, uint64_t seed)
{
    for (int s = 0; s < BATCH; s++) {
        for (int j = 0; j < D; j++)
            t->x[s][j] = uniform(&seed);
        for (int o = 0; o < OUT; o++)
            t->t[s][o] = uniform(&seed);
    }
    for (int i = 0; i < NW; i++)
        w[i] = 0.6 * uniform(&seed);
    for (int l = 0; l < CELLS; l++) {     /* softmax-like weights */
        double a = uniform(&seed), b = uniform(&seed);
        beta[l * OPS] = 0.4 + 0.2 * a;
        beta[l * OPS + 1] = 0.3 + 0.1 * b;
        beta[l * OPS + 2] = 1.0 - beta[l * OPS] - beta[l * OPS + 1];
    }
}

/* R(w) through the cells' gradients g_l = ∂L/∂β_l. */
static double reg_of_w(lreg_kind kind, const toy *t, const double *w, const double *beta)
{
    double gb[CELLS * OPS];
    toy_loss(t, w, beta, NULL, gb);
    return lreg_value(kind, CELLS, OPS, gb);
}

static double rel_err(const double *a, const double *b, int n)
{
    double num = 0.0, den = 0.0;
    for (int i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / den);
}

static void check_fd_against_numeric(lreg_kind kind, uint64_t seed)
{
    static double w[NW], numeric[NW], fd[NW], gm[NW], gp[NW], wp[NW];
    double beta[CELLS * OPS], g[CELLS * OPS], p[CELLS * OPS], bpert[CELLS * OPS];
    double scratch[OPS + CELLS];
    toy t;
    toy_init(&t, w, beta, seed);
    /* ∇_w R by central differences of R in every coordinate. */
    const double h = 1e-5;
    for (int i = 0; i < NW; i++) {
        memcpy(wp, w, sizeof wp);
        wp[i] = w[i] + h;
        double rp = reg_of_w(kind, &t, wp, beta);
        wp[i] = w[i] - h;
        double rm = reg_of_w(kind, &t, wp, beta);
        numeric[i] = (rp - rm) / (2.0 * h);
    }
    /* The strategy's estimate: p from g, ε = ε₀/‖p‖, two gradient passes at β ± εp. */
    toy_loss(&t, w, beta, NULL, g);
    ck_assert_int_eq(lreg_direction(kind, CELLS, OPS, g, p, scratch), 0);
    double norm = 0.0;
    for (int i = 0; i < CELLS * OPS; i++)
        norm += p[i] * p[i];
    double eps = 1e-4 / sqrt(norm);
    for (int i = 0; i < CELLS * OPS; i++)
        bpert[i] = beta[i] + eps * p[i];
    toy_loss(&t, w, bpert, gp, NULL);
    for (int i = 0; i < CELLS * OPS; i++)
        bpert[i] = beta[i] - eps * p[i];
    toy_loss(&t, w, bpert, gm, NULL);
    for (int i = 0; i < NW; i++)
        fd[i] = (gp[i] - gm[i]) / (2.0 * eps);
    double e = rel_err(fd, numeric, NW);
    printf("%s, seed %llu: |FD - numeric| / |numeric| = %.2e (|grad R| = %.3e)\n",
           kind == LREG_CORR ? "corr" : "signcorr", (unsigned long long)seed, e,
           sqrt(norm));
    ck_assert_msg(e < 1e-3, "relative error %g", e);
}

START_TEST(test_finite_difference_along_p_gives_the_gradient_of_corr)
{
    for (uint64_t seed = 1; seed <= 3; seed++)
        check_fd_against_numeric(LREG_CORR, seed);
}
END_TEST

START_TEST(test_finite_difference_along_p_gives_the_gradient_of_signcorr)
{
    for (uint64_t seed = 1; seed <= 3; seed++)
        check_fd_against_numeric(LREG_SIGNCORR, seed);
}
END_TEST

/* p = ∂R/∂g by central differences of R, on random vectors. */
static void check_direction(lreg_kind kind, int L, int n, uint64_t seed)
{
    double g[64], p[64], scratch[64], gp[64];
    for (int i = 0; i < L * n; i++)
        g[i] = uniform(&seed);
    ck_assert_int_eq(lreg_direction(kind, L, n, g, p, scratch), 0);
    double num[64];
    for (int i = 0; i < L * n; i++) {
        memcpy(gp, g, sizeof gp);
        gp[i] = g[i] + 1e-6;
        double rp = lreg_value(kind, L, n, gp);
        gp[i] = g[i] - 1e-6;
        double rm = lreg_value(kind, L, n, gp);
        num[i] = (rp - rm) / 2e-6;
    }
    double e = rel_err(p, num, L * n);
    ck_assert_msg(e < 1e-7, "%s L=%d n=%d: relative error %g", kind == LREG_CORR ? "corr" :
                  "signcorr", L, n, e);
}

START_TEST(test_the_direction_is_the_gradient_of_the_regulariser)
{
    check_direction(LREG_CORR, 2, 5, 7);
    check_direction(LREG_CORR, 6, 8, 8);
    check_direction(LREG_SIGNCORR, 2, 5, 9);
    check_direction(LREG_SIGNCORR, 6, 8, 10);
}
END_TEST

START_TEST(test_the_value_is_the_mean_pairwise_cosine)
{
    /* g_0 = (1, 0), g_1 = (1, 1), g_2 = (0, -2): cosines 1/√2, 0, −1/√2. */
    double g[6] = {1, 0, 1, 1, 0, -2};
    ck_assert_double_eq_tol(lreg_value(LREG_CORR, 3, 2, g), 0.0, 1e-15);
    double h[4] = {3, 4, 6, 8};
    ck_assert_double_eq_tol(lreg_value(LREG_CORR, 2, 2, h), 1.0, 1e-15);
    /* signcorr: ⟨g_i, g_j⟩ / ⟨|g_i|, |g_j|⟩ = (2 − 3) / (2 + 3). */
    double s[4] = {1, 1, 2, -3};
    ck_assert_double_eq_tol(lreg_value(LREG_SIGNCORR, 2, 2, s), -0.2, 1e-15);
    /* Aligned in sign only: signcorr 1, corr below 1. */
    double a[4] = {1, 2, 3, 0.5};
    ck_assert_double_eq_tol(lreg_value(LREG_SIGNCORR, 2, 2, a), 1.0, 1e-15);
    ck_assert(lreg_value(LREG_CORR, 2, 2, a) < 0.9);
}
END_TEST

START_TEST(test_undefined_cases_give_nan_and_no_direction)
{
    double g[6] = {1, 2, 0, 0, 3, 1}, p[6], scratch[8];
    ck_assert(isnan(lreg_value(LREG_CORR, 3, 2, g)));       /* a zero gradient */
    ck_assert_int_eq(lreg_direction(LREG_CORR, 3, 2, g, p, scratch), -1);
    for (int i = 0; i < 6; i++)
        ck_assert(p[i] == 0.0);
    ck_assert_int_eq(lreg_direction(LREG_SIGNCORR, 3, 2, g, p, scratch), -1);
    ck_assert(isnan(lreg_value(LREG_CORR, 1, 2, g)));       /* one cell: no pair */
    ck_assert_int_eq(lreg_direction(LREG_CORR, 1, 2, g, p, scratch), -1);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("lambda_darts");
    TCase *tc = tcase_create("regularisers");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_the_value_is_the_mean_pairwise_cosine);
    tcase_add_test(tc, test_the_direction_is_the_gradient_of_the_regulariser);
    tcase_add_test(tc, test_undefined_cases_give_nan_and_no_direction);
    tcase_add_test(tc, test_finite_difference_along_p_gives_the_gradient_of_corr);
    tcase_add_test(tc, test_finite_difference_along_p_gives_the_gradient_of_signcorr);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
