/* Balanced Mixture of SuperNets (Javan Roshtkhari et al. 2023; docs/pooling.md).
 *
 * The arithmetic (bm_logic.c, compiled in): the temperature schedule, the EMA, the
 * balancing of p(m|a) towards a uniform marginal and its replay, sampling and
 * ranking, and the conflict-separation toy of 6.7 run on those functions with a
 * hand-written linear "supernet". Then whole searches through the built plugins
 * (balanced_mixture over resnet20_pool with tiny widths, on synthetic 8x8 images):
 * the outputs, M = 1 as the single-supernet baseline, and a stopped and resumed
 * search that equals an uninterrupted one byte for byte. */
#include "plugin_fixture.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bm_logic.h"

/* ---- the arithmetic ------------------------------------------------------------------ */

START_TEST(test_temperature_rises_linearly_from_t_start_to_t_end_over_the_epochs)
{
    /* The reference: 101 epochs e = 0..100, T = 1 + 99·e/100. */
    ck_assert_double_eq(bm_temperature(1, 100, 0, 101), 1.0);
    ck_assert_double_eq_tol(bm_temperature(1, 100, 50, 101), 50.5, 1e-12);
    ck_assert_double_eq_tol(bm_temperature(1, 100, 1, 101), 1.99, 1e-12);
    ck_assert_double_eq(bm_temperature(1, 100, 100, 101), 100.0);
    ck_assert_double_eq(bm_temperature(1, 100, 7, 1), 100.0);
    ck_assert_double_eq_tol(bm_temperature(2, 4, 1, 3), 3.0, 1e-12);
}
END_TEST

START_TEST(test_ema_moves_a_tenth_of_the_way_with_decay_0_9)
{
    ck_assert_double_eq_tol(bm_ema(1.0, 0.0, 0.9), 0.9, 1e-15);
    ck_assert_double_eq_tol(bm_ema(0.5, 1.0, 0.9), 0.55, 1e-15);
    ck_assert_double_eq(bm_ema(0.3, 0.8, 0.0), 0.8);
    ck_assert_double_eq(bm_ema(0.3, 0.8, 1.0), 0.3);
}
END_TEST

static void random_scores(double *S, int n, uint64_t seed)
{
    cnas_rng r;
    cnas_rng_init(&r, seed, "scores");
    for (int i = 0; i < n; i++)
        S[i] = cnas_rng_uniform_double(&r);
}

#define A36 36
#define MAX_Q 10000

START_TEST(test_balancing_makes_rows_sum_to_one_and_the_marginal_uniform_keeping_clear_argmaxes)
{
    static double S[A36 * 8], P0[A36 * 8], P[A36 * 8], Q[MAX_Q * 8];
    const int Ms[3] = {2, 4, 8};
    const double Ts[2] = {1.0, 100.0};
    int checked_rows = 0;
    for (int mi = 0; mi < 3; mi++)
        for (int ti = 0; ti < 2; ti++)
            for (uint64_t seed = 1; seed <= 5; seed++) {
                int M = Ms[mi];
                double T = Ts[ti];
                random_scores(S, A36 * M, seed * 10 + (uint64_t)M);
                bm_softmax_rows(S, A36, M, T, P0);
                memcpy(P, P0, sizeof(double) * A36 * M);
                bool converged;
                int nq = bm_balance(P, A36, M, 1e-4, MAX_Q, Q, &converged);
                ck_assert_msg(converged, "M %d T %g seed %llu: not balanced after %d steps", M, T,
                              (unsigned long long)seed, nq);
                double q[8];
                bm_marginal(P, A36, M, q);
                ck_assert_msg(bm_kl_uniform(q, M) < 1e-4, "KL %g", bm_kl_uniform(q, M));
                /* The total column scaling c_m = 1 / Π q_m over the steps. */
                double logc[8] = {0}, lo = INFINITY, hi = -INFINITY;
                for (int m = 0; m < M; m++) {
                    for (int i = 0; i < nq; i++)
                        logc[m] -= log(Q[i * M + m]);
                    lo = fmin(lo, logc[m]);
                    hi = fmax(hi, logc[m]);
                }
                for (int a = 0; a < A36; a++) {
                    double sum = 0;
                    for (int m = 0; m < M; m++)
                        sum += P[a * M + m];
                    ck_assert_double_eq_tol(sum, 1.0, 1e-6);
                    /* The argmax can only move when the scaling spread exceeds the row's
                     * log-margin between its best and second-best supernet. */
                    const double *r0 = P0 + a * M;
                    int best = bm_argmax(r0, M);
                    double second = 0;
                    for (int m = 0; m < M; m++)
                        if (m != best)
                            second = fmax(second, r0[m]);
                    if (log(r0[best] / second) > hi - lo + 1e-9) {
                        checked_rows++;
                        ck_assert_int_eq(bm_argmax(P + a * M, M), best);
                    }
                }
            }
    /* The check is not vacuous: most rows of the hard (T = 100) cases qualify. */
    ck_assert_int_gt(checked_rows, 3 * 5 * A36 / 2);
}
END_TEST

START_TEST(test_balancing_is_a_column_scaling_followed_by_row_normalisation)
{
    static double S[A36 * 4], P0[A36 * 4], P[A36 * 4], Q[MAX_Q * 4];
    random_scores(S, A36 * 4, 99);
    bm_softmax_rows(S, A36, 4, 100.0, P0);
    memcpy(P, P0, sizeof P);
    bool converged;
    int nq = bm_balance(P, A36, 4, 1e-4, MAX_Q, Q, &converged);
    ck_assert(converged);
    ck_assert_int_gt(nq, 0);
    /* P[a, m] / P[a, 0] ÷ P0[a, m] / P0[a, 0] = c_m / c_0 for every row a. */
    for (int m = 1; m < 4; m++) {
        double want = NAN;
        for (int a = 0; a < A36; a++) {
            double ratio = (P[a * 4 + m] / P[a * 4]) / (P0[a * 4 + m] / P0[a * 4]);
            if (isnan(want))
                want = ratio;
            ck_assert_msg(fabs(ratio / want - 1.0) < 1e-9, "row %d column %d: scaling %g vs %g", a,
                          m, ratio, want);
        }
    }
}
END_TEST

START_TEST(test_replaying_the_stored_divisions_reproduces_the_balanced_rows)
{
    static double S[A36 * 4], P[A36 * 4], Q[MAX_Q * 4];
    random_scores(S, A36 * 4, 7);
    bm_softmax_rows(S, A36, 4, 40.0, P);
    bool converged;
    int nq = bm_balance(P, A36, 4, 1e-4, MAX_Q, Q, &converged);
    ck_assert_int_gt(nq, 0);
    for (int a = 0; a < A36; a++) {
        double p[4];
        bm_conditional_row(S, a, 4, 40.0, Q, nq, p);
        for (int m = 0; m < 4; m++)
            ck_assert_double_eq_tol(p[m], P[a * 4 + m], 1e-12);
    }
}
END_TEST

START_TEST(test_scores_all_favouring_one_supernet_are_spread_evenly_over_all_of_them)
{
    static double S[A36 * 4], P[A36 * 4], Q[MAX_Q * 4];
    cnas_rng r;
    cnas_rng_init(&r, 5, "skew");
    for (int a = 0; a < A36; a++)
        for (int m = 0; m < 4; m++)
            S[a * 4 + m] = (m == 0 ? 0.9 : 0.5) + 0.05 * cnas_rng_uniform_double(&r);
    bm_softmax_rows(S, A36, 4, 100.0, P);
    double q[4];
    bm_marginal(P, A36, 4, q);
    ck_assert_double_gt(q[0], 0.99);
    bool converged;
    bm_balance(P, A36, 4, 1e-4, MAX_Q, Q, &converged);
    ck_assert(converged);
    bm_marginal(P, A36, 4, q);
    for (int m = 0; m < 4; m++)
        ck_assert_double_eq_tol(q[m], 0.25, 0.01);
}
END_TEST

START_TEST(test_a_single_supernet_needs_no_balancing_and_takes_every_configuration)
{
    double S[A36], P[A36], Q[4];
    random_scores(S, A36, 3);
    bm_softmax_rows(S, A36, 1, 100.0, P);
    bool converged;
    ck_assert_int_eq(bm_balance(P, A36, 1, 1e-4, 4, Q, &converged), 0);
    ck_assert(converged);
    for (int a = 0; a < A36; a++) {
        double p;
        bm_conditional_row(S, a, 1, 100.0, Q, 0, &p);
        ck_assert_double_eq(p, 1.0);
        ck_assert_int_eq(bm_pick(&p, 1, 0.999), 0);
    }
}
END_TEST

START_TEST(test_pick_follows_the_cumulative_probabilities_and_skips_empty_categories)
{
    double p[4] = {0.2, 0.0, 0.5, 0.3};
    ck_assert_int_eq(bm_pick(p, 4, 0.0), 0);
    ck_assert_int_eq(bm_pick(p, 4, 0.1999), 0);
    ck_assert_int_eq(bm_pick(p, 4, 0.2), 2);
    ck_assert_int_eq(bm_pick(p, 4, 0.6999), 2);
    ck_assert_int_eq(bm_pick(p, 4, 0.7), 3);
    ck_assert_int_eq(bm_pick(p, 4, 0.9999999), 3);
    double q[3] = {0.4, 0.6, 0.0};
    ck_assert_int_eq(bm_pick(q, 3, 1.0), 1); /* rounding past the total: the last non-empty */
    /* Frequencies follow p. */
    cnas_rng r;
    cnas_rng_init(&r, 1, "pick");
    int hits[4] = {0};
    for (int i = 0; i < 20000; i++)
        hits[bm_pick(p, 4, cnas_rng_uniform_double(&r))]++;
    ck_assert_int_eq(hits[1], 0);
    ck_assert_int_lt(abs(hits[0] - 4000), 300);
    ck_assert_int_lt(abs(hits[2] - 10000), 300);
}
END_TEST

START_TEST(test_rank_orders_by_score_then_second_key_then_index)
{
    double score[6] = {0.5, 0.9, 0.5, 0.7, 0.5, NAN};
    double second[6] = {0.1, 0.0, 0.3, 0.0, 0.3, 0.0};
    int order[6];
    bm_rank(score, second, 5, order);
    int want[5] = {1, 3, 2, 4, 0};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(order[i], want[i]);
    bm_rank(score, NULL, 5, order);
    int want2[5] = {1, 3, 0, 2, 4};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(order[i], want2[i]);
    double acc[3] = {0.2, 0.8, 0.5};
    ck_assert_int_eq(bm_argmax(acc, 3), 1);
    double tie[3] = {0.8, 0.8, 0.5};
    ck_assert_int_eq(bm_argmax(tie, 3), 0);
}
END_TEST

/* ---- the conflict-separation toy (docs/pooling.md) ------------------------------------
 *
 * 12 configurations in two groups of 6. Configuration a reads the first k = a % 6 + 1
 * of 6 Gaussian features through the supernet's weights w (a path); the label is
 * sign(Σ_j x_j) for group A and the opposite for group B, so A needs w ∝ +1 and B
 * needs w ∝ -1. Stand-alone, configuration k reaches 1 - arccos(√(k/6))/π in both
 * groups. One shared supernet is pulled both ways and ranks nothing; two balanced
 * supernets should take one group each and rank like stand-alone training. */

#define TOY_A 12
#define TOY_D 6
#define TOY_EPOCHS 20
#define TOY_STEPS 60

typedef struct toy {
    int M;
    double w[2][TOY_D];
    double S[TOY_A * 2], P[TOY_A * 2], Q[MAX_Q * 2];
    int nq;
    cnas_rng data, path, pick;
} toy;

static int toy_group(int a)
{
    return a / 6;
}

static int toy_k(int a)
{
    return a % 6 + 1;
}

static void toy_sample(cnas_rng *r, int a, double *x, int *y)
{
    double s = 0;
    for (int j = 0; j < TOY_D; j++)
        s += x[j] = cnas_rng_normal(r);
    *y = toy_group(a) == 0 ? s > 0 : s < 0;
}

static double toy_logit(const double *w, const double *x, int k)
{
    double z = 0;
    for (int j = 0; j < k; j++)
        z += w[j] * x[j];
    return z;
}

static double toy_accuracy(const double *w, int a, cnas_rng *r, int n)
{
    int correct = 0;
    for (int i = 0; i < n; i++) {
        double x[TOY_D];
        int y;
        toy_sample(r, a, x, &y);
        correct += (toy_logit(w, x, toy_k(a)) > 0) == y;
    }
    return (double)correct / n;
}

/* One SGD step of the logistic loss on a batch of 32. */
static void toy_train(double *w, int a, cnas_rng *r, double lr)
{
    double g[TOY_D] = {0};
    int k = toy_k(a);
    for (int i = 0; i < 32; i++) {
        double x[TOY_D];
        int y;
        toy_sample(r, a, x, &y);
        double err = 1.0 / (1.0 + exp(-toy_logit(w, x, k))) - y;
        for (int j = 0; j < k; j++)
            g[j] += err * x[j] / 32;
    }
    for (int j = 0; j < k; j++)
        w[j] -= lr * g[j];
}

/* The strategy's loop on the toy: balance at each epoch start, then per step a
 * uniform configuration, a supernet from the balanced p(m|a), an SGD step, the
 * accuracy of the next validation batch into the EMA. */
static void toy_run(toy *t, int M, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    t->M = M;
    cnas_rng_init(&t->data, seed, "data");
    cnas_rng_init(&t->path, seed, "path");
    cnas_rng_init(&t->pick, seed, "pick");
    for (int m = 0; m < M; m++)
        for (int j = 0; j < TOY_D; j++)
            t->w[m][j] = 0.1 * cnas_rng_normal(&t->data);
    for (int i = 0; i < TOY_A * M; i++)
        t->S[i] = 1.0;
    for (int e = 0; e < TOY_EPOCHS; e++) {
        double T = bm_temperature(1, 100, e, TOY_EPOCHS);
        bool converged;
        bm_softmax_rows(t->S, TOY_A, M, T, t->P);
        t->nq = bm_balance(t->P, TOY_A, M, 1e-4, MAX_Q, t->Q, &converged);
        ck_assert(converged);
        for (int s = 0; s < TOY_STEPS; s++) {
            int a = (int)cnas_rng_below(&t->path, TOY_A);
            double p[2];
            bm_conditional_row(t->S, a, M, T, t->Q, t->nq, p);
            int m = bm_pick(p, M, cnas_rng_uniform_double(&t->pick));
            toy_train(t->w[m], a, &t->data, 0.5);
            double acc = toy_accuracy(t->w[m], a, &t->data, 64);
            t->S[a * M + m] = bm_ema(t->S[a * M + m], acc, 0.9);
        }
    }
    bool converged;
    bm_softmax_rows(t->S, TOY_A, M, 100.0, t->P);
    t->nq = bm_balance(t->P, TOY_A, M, 1e-4, MAX_Q, t->Q, &converged);
}

/* Kendall τ between the estimate and the stand-alone accuracy over the pairs whose
 * stand-alone accuracies differ (configurations with different k). */
static double toy_tau(const toy *t, uint64_t seed)
{
    double est[TOY_A];
    cnas_rng r;
    cnas_rng_init(&r, seed, "eval");
    for (int a = 0; a < TOY_A; a++)
        est[a] = toy_accuracy(t->w[bm_argmax(t->P + a * t->M, t->M)], a, &r, 4000);
    int conc = 0, disc = 0;
    for (int a = 0; a < TOY_A; a++)
        for (int b = a + 1; b < TOY_A; b++) {
            int dk = toy_k(a) - toy_k(b);
            double de = est[a] - est[b];
            if (dk == 0)
                continue;
            if (dk * de > 0)
                conc++;
            else
                disc++;
        }
    return (double)(conc - disc) / (conc + disc);
}

START_TEST(test_two_balanced_supernets_separate_two_conflicting_groups)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        toy t;
        toy_run(&t, 2, seed);
        /* Each group puts at least 90% of its mass on one supernet, a different one. */
        double mass[2][2] = {{0}};
        for (int a = 0; a < TOY_A; a++)
            for (int m = 0; m < 2; m++)
                mass[toy_group(a)][m] += t.P[a * 2 + m] / 6;
        int ga = mass[0][0] > mass[0][1] ? 0 : 1, gb = mass[1][0] > mass[1][1] ? 0 : 1;
        ck_assert_msg(ga != gb, "seed %llu: both groups on supernet %d", (unsigned long long)seed,
                      ga);
        ck_assert_msg(mass[0][ga] >= 0.9 && mass[1][gb] >= 0.9,
                      "seed %llu: group masses %.3f / %.3f", (unsigned long long)seed,
                      mass[0][ga], mass[1][gb]);
        /* The supernets learned the opposite signs their groups need. */
        ck_assert_double_gt(t.w[ga][0], 0.0);
        ck_assert_double_lt(t.w[gb][0], 0.0);
        double q[2];
        bm_marginal(t.P, TOY_A, 2, q);
        ck_assert_double_eq_tol(q[0], 0.5, 0.02);
        /* The estimates now rank like stand-alone training; one supernet does not. */
        toy one;
        toy_run(&one, 1, seed);
        double tau2 = toy_tau(&t, seed), tau1 = toy_tau(&one, seed);
        ck_assert_msg(tau2 >= 0.8, "seed %llu: tau(M=2) = %.3f", (unsigned long long)seed, tau2);
        ck_assert_msg(tau1 <= tau2 - 0.4, "seed %llu: tau(M=1) = %.3f vs tau(M=2) = %.3f",
                      (unsigned long long)seed, tau1, tau2);
    }
}
END_TEST

/* ---- whole searches through the built plugins -------------------------------------------------- */

typedef struct search_fx {
    const cnas_dataset_vtable *dvt;
    void *dataset;
    cnas_params *dparams, *sparams, *bparams;
    cnas_data *data;
    cnas_component_list ops;
    cnas_op_factory factory;
    const cnas_space_vtable *space_vt;
    const cnas_strategy_vtable *strategy_vt;
    cnas_train_settings train;
} search_fx;

static int stop_after, stop_calls;

static bool stop_fn(void)
{
    return stop_after > 0 && ++stop_calls >= stop_after;
}

static void search_setup(search_fx *f, const char *m)
{
    memset(f, 0, sizeof *f);
    const cnas_plugin_desc *ops = pf_load("RESNET_OPS_SO");
    const cnas_plugin_desc *space = pf_load("RESNET20_POOL_SO");
    const cnas_plugin_desc *strat = pf_load("BALANCED_MIXTURE_SO");
    const cnas_plugin_desc *synth = pf_load("SYNTH_SO");
    const cnas_component *dc = pf_component(synth, CNAS_KIND_DATASET, "synthetic");
    const cnas_component *sc = pf_component(space, CNAS_KIND_SPACE, "resnet20_pool");
    const cnas_component *bc = pf_component(strat, CNAS_KIND_STRATEGY, "balanced_mixture");
    f->dvt = dc->vtable;
    f->space_vt = sc->vtable;
    f->strategy_vt = bc->vtable;
    f->dparams = pf_params(dc, 5, (const char *[]){"channels=1", "size=8", "classes=4",
                                                   "n_train=96", "n_test=16"});
    f->sparams = pf_params(sc, 1, (const char *[]){"channels=2,2,2,2,4,4,4,8,8,8"});
    char mkey[32];
    snprintf(mkey, sizeof mkey, "supernets=%s", m);
    f->bparams = pf_params(bc, 1, (const char *[]){mkey});
    cnas_error err;
    ck_assert_msg(f->dvt->open(f->dparams, &f->dataset, &err) == CNAS_OK, "%s", err.msg);
    cnas_data_config dc_cfg = {.train_portion = 0.5, .normalize = true};
    f->data = cnas_data_open(f->dvt, f->dataset, &dc_cfg, &err);
    ck_assert_msg(f->data != NULL, "%s", err.msg);
    f->ops = (cnas_component_list){ops->components, (int)ops->n_components};
    f->factory = cnas_op_factory_from_list(&f->ops);
    f->train = (cnas_train_settings){.size = sizeof f->train, .epochs = 3, .batch_size = 16,
                                     .lr = 0.1f, .lr_min = 0.001f,
                                     .lr_schedule = CNAS_SCHED_COSINE, .momentum = 0.9f};
}

static void search_teardown(search_fx *f)
{
    cnas_data_close(f->data);
    f->dvt->close(f->dataset);
    cnas_params_free(f->dparams);
    cnas_params_free(f->sparams);
    cnas_params_free(f->bparams);
}

static cnas_status run_search(search_fx *f, const char *dir, bool resume, int stop,
                              cnas_run_result *res, cnas_error *err)
{
    char ckpt[512];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.ckpt", dir);
    stop_after = stop;
    stop_calls = 0;
    cnas_run_spec spec = {
        .kind = CNAS_RUN_SEARCH,
        .run_dir = dir,
        .seed = 5,
        .space_vt = f->space_vt,
        .space_params = f->sparams,
        .ops = &f->factory,
        .strategy_vt = f->strategy_vt,
        .strategy_params = f->bparams,
        .data = f->data,
        .drop_last = true,
        .eval_batch_size = 16,
        .train = &f->train,
        .checkpoint = {0, 0, 1},
        .config_text = "test",
        .fingerprint = "test",
        .resume_from = resume ? ckpt : NULL,
        .stop_requested = stop_fn,
    };
    return cnas_run(&spec, res, err);
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return s;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static int count_of(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

static void remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_search_reports_all_36_configurations_ranked_with_csv_json_and_heatmap)
{
    search_fx f;
    search_setup(&f, "2");
    char dir[] = "/tmp/cnas_bm_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    cnas_run_result res;
    cnas_error err;
    ck_assert_msg(run_search(&f, dir, false, 0, &res, &err) == CNAS_OK, "%s", err.msg);
    char *csv = slurp(dir, "ranking.csv", NULL);
    ck_assert_int_eq(count_lines(csv), 37);
    const char *header = "rank,index,arch,choices,supernet,val_acc,val_loss,ema_acc,flops,params,"
                         "p_m0,p_m1,count_m0,count_m1\n";
    ck_assert_msg(strncmp(csv, header, strlen(header)) == 0, "header %.120s", csv);
    /* Every configuration once, ranks 0..35 in order, accuracies non-increasing. */
    int seen[36] = {0};
    double prev = 2.0;
    int64_t steps = 0;
    const char *line = strchr(csv, '\n') + 1;
    for (int r = 0; r < 36; r++) {
        int rank, index, sup;
        char arch[32];
        double acc, loss, ema, p0, p1;
        long long flops, params, c0, c1;
        const char *after_arch = strchr(strchr(line, '"') + 1, '"');
        ck_assert_int_eq(sscanf(line, "%d,%d,\"%31[^\"]\"", &rank, &index, arch), 3);
        const char *rest = strchr(after_arch + 3, '"') + 1; /* past the choices */
        ck_assert_int_eq(sscanf(rest, ",%d,%lf,%lf,%lf,%lld,%lld,%lf,%lf,%lld,%lld", &sup, &acc,
                                &loss, &ema, &flops, &params, &p0, &p1, &c0, &c1), 10);
        ck_assert_int_eq(rank, r);
        ck_assert(index >= 0 && index < 36 && !seen[index]);
        seen[index] = 1;
        ck_assert(acc >= 0.0 && acc <= 1.0 && acc <= prev);
        prev = acc;
        ck_assert_int_eq(sup, p1 > p0 ? 1 : 0);
        ck_assert_double_eq_tol(p0 + p1, 1.0, 1e-5);
        ck_assert_int_gt(flops, 0);
        steps += c0 + c1;
        line = strchr(line, '\n') + 1;
    }
    /* 48 training images in batches of 16, 3 epochs. */
    ck_assert_int_eq(steps, 9);
    /* arch.txt is the winner, in the space's notation. */
    char *arch = slurp(dir, "arch.txt", NULL);
    char first[32];
    ck_assert_int_eq(sscanf(strchr(csv, '\n') + 1, "0,%*d,\"%31[^\"]\"", first), 1);
    ck_assert_msg(strncmp(arch, first, strlen(first)) == 0, "arch.txt %s, ranking %s", arch, first);
    ck_assert_str_eq(res.arch_text, first);
    char *json = slurp(dir, "ranking.json", NULL);
    const char *head = "{\"strategy\": \"balanced_mixture\", \"M\": 2, \"epochs\": 3";
    ck_assert_msg(strncmp(json, head, strlen(head)) == 0, "%.200s", json);
    ck_assert_int_eq(count_of(json, "\"rank\": "), 36);
    ck_assert_int_eq(count_of(json, "\"code\": \"0,"), 36);
    ck_assert_int_eq(count_of(json, "nan"), 0);
    char *svg = slurp(dir, "pma.svg", NULL);
    ck_assert_msg(strncmp(svg, "<svg ", 5) == 0, "%.200s", svg);
    ck_assert_int_eq(count_of(svg, "<rect x="), 36 * 2);
    char *mix = slurp(dir, "mixture.jsonl", NULL);
    ck_assert_int_eq(count_lines(mix), 3);
    free(mix);
    free(csv);
    free(arch);
    free(json);
    free(svg);
    remove_dir(dir);
    search_teardown(&f);
}
END_TEST

START_TEST(test_one_supernet_is_the_plain_single_supernet_baseline)
{
    search_fx f;
    search_setup(&f, "1");
    char dir[] = "/tmp/cnas_bm1_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    cnas_run_result res;
    cnas_error err;
    ck_assert_msg(run_search(&f, dir, false, 0, &res, &err) == CNAS_OK, "%s", err.msg);
    char *csv = slurp(dir, "ranking.csv", NULL);
    ck_assert_msg(strstr(csv, "p_m0,count_m0\n") != NULL, "%s", csv);
    /* Every configuration on supernet 0 with probability 1. */
    const char *line = strchr(csv, '\n') + 1;
    for (int r = 0; r < 36; r++) {
        const char *q = strrchr(line, '"');
        int sup;
        double p0;
        ck_assert_int_eq(sscanf(q, "\",%d,%*f,%*f,%*f,%*d,%*d,%lf", &sup, &p0), 2);
        ck_assert_int_eq(sup, 0);
        ck_assert_double_eq(p0, 1.0);
        line = strchr(line, '\n') + 1;
    }
    free(csv);
    remove_dir(dir);
    search_teardown(&f);
}
END_TEST

/* Stop at the stop-th poll of the stop flag, resume, and compare with a run never
 * stopped. The last checkpoint is compared too unless it was taken during the final
 * evaluation (its validation-pass position then differs, harmlessly: every
 * evaluation restarts the pass). */
static void check_resume_equals_uninterrupted(int stop, int64_t epoch, int64_t step,
                                              bool same_checkpoint)
{
    search_fx f;
    search_setup(&f, "2");
    char a[] = "/tmp/cnas_bmA_XXXXXX", b[] = "/tmp/cnas_bmB_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(a));
    ck_assert_ptr_nonnull(mkdtemp(b));
    cnas_run_result ra, rb;
    cnas_error err;
    ck_assert_msg(run_search(&f, a, false, 0, &ra, &err) == CNAS_OK, "%s", err.msg);
    ck_assert_int_eq(run_search(&f, b, false, stop, &rb, &err), CNAS_ERR_INTERRUPTED);
    char path[512];
    snprintf(path, sizeof path, "%s/checkpoint.ckpt", b);
    cnas_ckpt *ck = cnas_ckpt_load(path, &err);
    ck_assert_msg(ck != NULL, "%s", err.msg);
    int64_t e, s;
    ck_assert_int_eq(cnas_ckpt_get_i64(ck, "bm.epoch", &e, &err), CNAS_OK);
    ck_assert_int_eq(cnas_ckpt_get_i64(ck, "bm.step", &s, &err), CNAS_OK);
    ck_assert_msg(e == epoch && s == step, "stopped at epoch %lld step %lld, expected %lld / %lld",
                  (long long)e, (long long)s, (long long)epoch, (long long)step);
    cnas_ckpt_free(ck);
    ck_assert_msg(run_search(&f, b, true, 0, &rb, &err) == CNAS_OK, "%s", err.msg);
    const char *files[] = {"ranking.csv", "ranking.json", "pma.svg", "mixture.jsonl",
                           "ranking.tsv", "arch.txt", "checkpoint.ckpt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0] - !same_checkpoint; i++) {
        size_t la, lb;
        char *x = slurp(a, files[i], &la), *y = slurp(b, files[i], &lb);
        ck_assert_msg(la == lb && memcmp(x, y, la) == 0, "stop after %d: %s differs", stop,
                      files[i]);
        free(x);
        free(y);
    }
    ck_assert_double_eq(ra.score, rb.score);
    if (!getenv("KEEP_DIRS")) {
        remove_dir(a);
        remove_dir(b);
    }
    search_teardown(&f);
}

/* The flag is polled at each step's start and at each checkpoint point (none after an
 * epoch's last step: the epoch end's follows at once): 7 polls per epoch of 3 steps,
 * then one per configuration of the final evaluation. */
START_TEST(test_a_search_stopped_mid_epoch_and_resumed_equals_an_uninterrupted_one)
{
    check_resume_equals_uninterrupted(11, 1, 2, true); /* after step 2 of epoch 1 */
}
END_TEST

START_TEST(test_a_search_stopped_at_an_epoch_start_and_resumed_equals_an_uninterrupted_one)
{
    check_resume_equals_uninterrupted(8, 1, 0, true); /* before step 1 of epoch 1 */
}
END_TEST

START_TEST(test_a_search_stopped_during_the_final_evaluation_and_resumed_equals_an_uninterrupted_one)
{
    check_resume_equals_uninterrupted(23, 3, 0, false); /* after the first configuration */
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("balanced_mixture");
    TCase *ar = tcase_create("arithmetic");
    tcase_add_test(ar, test_temperature_rises_linearly_from_t_start_to_t_end_over_the_epochs);
    tcase_add_test(ar, test_ema_moves_a_tenth_of_the_way_with_decay_0_9);
    tcase_add_test(ar, test_balancing_makes_rows_sum_to_one_and_the_marginal_uniform_keeping_clear_argmaxes);
    tcase_add_test(ar, test_balancing_is_a_column_scaling_followed_by_row_normalisation);
    tcase_add_test(ar, test_replaying_the_stored_divisions_reproduces_the_balanced_rows);
    tcase_add_test(ar, test_scores_all_favouring_one_supernet_are_spread_evenly_over_all_of_them);
    tcase_add_test(ar, test_a_single_supernet_needs_no_balancing_and_takes_every_configuration);
    tcase_add_test(ar, test_pick_follows_the_cumulative_probabilities_and_skips_empty_categories);
    tcase_add_test(ar, test_rank_orders_by_score_then_second_key_then_index);
    suite_add_tcase(s, ar);
    TCase *toy = tcase_create("toy");
    tcase_set_timeout(toy, 120);
    tcase_add_test(toy, test_two_balanced_supernets_separate_two_conflicting_groups);
    suite_add_tcase(s, toy);
    TCase *run = tcase_create("search");
    tcase_set_timeout(run, 300);
    tcase_add_test(run, test_search_reports_all_36_configurations_ranked_with_csv_json_and_heatmap);
    tcase_add_test(run, test_one_supernet_is_the_plain_single_supernet_baseline);
    tcase_add_test(run, test_a_search_stopped_mid_epoch_and_resumed_equals_an_uninterrupted_one);
    tcase_add_test(run, test_a_search_stopped_at_an_epoch_start_and_resumed_equals_an_uninterrupted_one);
    tcase_add_test(run, test_a_search_stopped_during_the_final_evaluation_and_resumed_equals_an_uninterrupted_one);
    suite_add_tcase(s, run);
    return s;
}

CNAS_TEST_MAIN(make_suite)
