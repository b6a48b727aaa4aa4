/* K-shot NAS (plugins/strategies/kshot): the merged-weight forward's gradients, the
 * evaluation weights, the warm-up codes, and the conflicting-paths toy of docs/kshot.md:
 * a chain of 2 layers with 2 linear ops each (4 paths), every path with its own target
 * map. One set of shared weights (K = 1) cannot fit all four and stalls at an
 * irreducible error; K = 4 dictionaries with a learned simplex code per path fit every
 * path, and the paths' codes come apart. Runs the strategy's own model code
 * (kshot_model.c), compiled in. */
#include <math.h>
#include <string.h>

#include <cnas/gradcheck.h>
#include <cnas/optim.h>

#include "kshot_model.h"
#include "testutil.h"

static cnas_arch *arch2(int i, int j)
{
    cnas_error err;
    cnas_arch *a = cnas_arch_new(2, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    a->mask[0] = 1ull << i;
    a->mask[1] = 1ull << j;
    return a;
}

/* A model over 2 choice points of 2 candidates whose dictionaries are the given tensors
 * (theta[k·n + i]); slot i is theta[i], as the strategy binds env->space's own weights. */
static ks_model *model_over(int K, cnas_tensor **theta, int n, int hidden, uint64_t seed)
{
    cnas_error err;
    cnas_rng r;
    cnas_rng_init(&r, seed, "simplex");
    const int widths[2] = {2, 2};
    ks_model *m = ks_model_new(K, 2, widths, hidden, 1.0f, KS_ENC_FLAT, &r, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    m->n = n;
    m->theta = theta;
    m->slot = theta;
    return m;
}

/* ---- the merged-weight forward: gradients to the K dictionaries and to the code ------ */

typedef struct merged_net {
    ks_model *m;
    cnas_tensor *x;                   /* [2, 3, 5, 5] */
    const cnas_arch *a;
    bool from_simplex;                /* the code from the simplex-net instead of inputs[3K] */
} merged_net;

/* conv 3x3 (weight, bias) -> batch norm (gamma, beta) -> relu -> linear, every
 * parameter read through its binding to Σ_k λ_k·Θ_k. */
static cnas_tensor *merged_forward(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    merged_net *c = ctx;
    ks_model *m = c->m;
    cnas_tensor *lambda = c->from_simplex ? ks_code(g, m, c->a) : in[m->K * m->n];
    if (!lambda || ks_bind(g, m, lambda))
        return NULL;
    cnas_conv2d_params cp = {.pad_h = 1, .pad_w = 1};
    cnas_batch_norm_params bp = {.training = true};
    cnas_tensor *h = cnas_conv2d(g, c->x, m->slot[0], m->slot[1], &cp);
    h = cnas_relu(g, cnas_batch_norm(g, h, m->slot[2], m->slot[3], NULL, NULL, &bp));
    return cnas_linear(g, cnas_flatten(g, h), m->slot[4], NULL);
}

static cnas_tensor **merged_dictionaries(int K)
{
    static const int64_t shapes[5][4] = {{4, 3, 3, 3}, {4}, {4}, {4}, {6, 100}};
    static const int ndims[5] = {4, 1, 1, 1, 2};
    cnas_tensor **t = malloc((size_t)K * 5 * sizeof *t);
    for (int k = 0; k < K; k++)
        for (int i = 0; i < 5; i++) {
            t[k * 5 + i] = tu_rand(ndims[i], shapes[i], 100 + 5 * (uint64_t)k + (uint64_t)i,
                                   i == 2 ? 0.5f : -0.5f, i == 2 ? 1.5f : 0.5f);
            cnas_tensor_set_requires_grad(t[k * 5 + i], true);
        }
    return t;
}

START_TEST(test_merged_forward_gradients_reach_every_dictionary_and_the_code)
{
    enum { K = 3 };
    cnas_tensor **theta = merged_dictionaries(K);
    ks_model *m = model_over(K, theta, 5, 8, 1);
    cnas_tensor *lambda = tu_rand(CNAS_SHAPE(1, K), 7, 0.1f, 0.6f);
    cnas_tensor_set_requires_grad(lambda, true);
    merged_net c = {m, tu_rand(CNAS_SHAPE(2, 3, 5, 5), 8, -1, 1), NULL, false};
    cnas_tensor *in[K * 5 + 1];
    memcpy(in, theta, sizeof(cnas_tensor *) * K * 5);
    in[K * 5] = lambda;
    cnas_gradcheck_opts o = {.eps = 1e-2, .atol = 2e-3, .rtol = 2e-2, .max_per_input = 40,
                             .seed = 3};
    TU_GRADCHECK(merged_forward, &c, in, K * 5 + 1, &o);
    for (int i = 0; i < K * 5; i++)
        cnas_tensor_free(theta[i]);
    free(theta);
    cnas_tensor_free(lambda);
    cnas_tensor_free(c.x);
    ks_model_free(m);
}
END_TEST

START_TEST(test_the_code_passes_gradients_through_the_simplex_net_with_a_temperature)
{
    enum { K = 3 };
    cnas_tensor **theta = merged_dictionaries(K);
    ks_model *m = model_over(K, theta, 5, 8, 2);
    m->tau = 0.5f;
    cnas_arch *a = arch2(1, 0);
    merged_net c = {m, tu_rand(CNAS_SHAPE(2, 3, 5, 5), 9, -1, 1), a, true};
    for (int i = 0; i < K * 5; i++)
        cnas_tensor_set_requires_grad(theta[i], false);
    for (int i = 0; i < 4; i++)
        cnas_tensor_set_requires_grad(m->phi[i], true);
    cnas_gradcheck_opts o = {.eps = 1e-2, .atol = 2e-3, .rtol = 2e-2, .max_per_input = 40,
                             .seed = 4};
    TU_GRADCHECK(merged_forward, &c, m->phi, 4, &o);
    for (int i = 0; i < K * 5; i++)
        cnas_tensor_free(theta[i]);
    free(theta);
    cnas_tensor_free(c.x);
    cnas_arch_free(a);
    ks_model_free(m);
}
END_TEST

/* The evaluation network holds exactly the weights the bound training forward reads. */
START_TEST(test_merged_weights_written_out_equal_the_bound_forward_bit_for_bit)
{
    enum { K = 4 };
    cnas_tensor **theta = merged_dictionaries(K);
    cnas_tensor **copy = merged_dictionaries(1);
    ks_model *m = model_over(K, theta, 5, 8, 3);
    float lambda[K];
    cnas_rng r;
    cnas_rng_init(&r, 5, "codes");
    ks_dirichlet(&r, K, lambda);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_graph_set_grad_enabled(g, false);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(2, 3, 5, 5), 8, -1, 1);
    merged_net c = {m, x, NULL, false};
    cnas_tensor *in[K * 5 + 1] = {0};
    in[K * 5] = ks_code_const(g, m, lambda);
    cnas_tensor *y_bound = merged_forward(g, in, &c);
    ck_assert_ptr_nonnull(y_bound);
    float yb[12];
    memcpy(yb, y_bound->data, sizeof yb);
    cnas_graph_reset(g);
    ks_merge_into(m, lambda, copy);
    ks_model *plain = model_over(1, copy, 5, 8, 3);
    float one = 1.0f;
    c.m = plain;
    in[5] = ks_code_const(g, plain, &one);
    cnas_tensor *y_plain = merged_forward(g, in, &c);
    ck_assert_ptr_nonnull(y_plain);
    ck_assert_int_eq(memcmp(yb, y_plain->data, sizeof yb), 0);
    cnas_graph_free(g);
    for (int i = 0; i < K * 5; i++)
        cnas_tensor_free(theta[i]);
    for (int i = 0; i < 5; i++)
        cnas_tensor_free(copy[i]);
    free(theta);
    free(copy);
    cnas_tensor_free(x);
    ks_model_free(m);
    ks_model_free(plain);
}
END_TEST

START_TEST(test_warmup_codes_are_flat_dirichlet_draws)
{
    enum { K = 4, N = 20000 };
    cnas_rng r;
    cnas_rng_init(&r, 11, "codes");
    double mean[K] = {0}, sq = 0.0;
    for (int t = 0; t < N; t++) {
        float l[K];
        ks_dirichlet(&r, K, l);
        double s = 0.0;
        for (int k = 0; k < K; k++) {
            ck_assert(l[k] > 0.0f && l[k] < 1.0f);
            s += l[k];
            mean[k] += l[k] / N;
        }
        sq += (double)l[0] * l[0] / N;
        ck_assert(fabs(s - 1.0) < 1e-5);
    }
    /* Dirichlet(1,1,1,1): E λ_k = 1/4, Var λ_k = (1·3) / (16·5) = 0.0375. */
    for (int k = 0; k < K; k++)
        ck_assert_msg(fabs(mean[k] - 0.25) < 0.01, "E λ_%d = %g", k, mean[k]);
    ck_assert_msg(fabs(sq - 0.25 * 0.25 - 0.0375) < 0.003, "Var λ_0 = %g", sq - 0.0625);
    float one;
    ks_dirichlet(&r, 1, &one);
    ck_assert(one == 1.0f);
}
END_TEST

START_TEST(test_the_encoding_is_one_hot_per_point_or_their_mean)
{
    cnas_error err;
    cnas_rng r;
    cnas_rng_init(&r, 1, "simplex");
    const int widths[3] = {2, 3, 2};
    ks_model *m = ks_model_new(2, 3, widths, 4, 1.0f, KS_ENC_FLAT, &r, &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->D, 7);
    cnas_arch *a = cnas_arch_new(3, &err);
    a->mask[0] = 2, a->mask[1] = 4, a->mask[2] = 1;
    float e[7];
    ks_encode(m, a, e);
    const float want[7] = {0, 1, 0, 0, 1, 1, 0};
    ck_assert_int_eq(memcmp(e, want, sizeof e), 0);
    ks_model_free(m);
    ck_assert_ptr_null(ks_model_new(2, 3, widths, 4, 1.0f, KS_ENC_MEAN, &r, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "point 1 has 3 candidates"));
    const int same[3] = {2, 2, 2};
    m = ks_model_new(2, 3, same, 4, 1.0f, KS_ENC_MEAN, &r, &err);
    ck_assert_int_eq(m->D, 2);
    a->mask[1] = 2;
    ks_encode(m, a, e);
    ck_assert(fabsf(e[0] - 1.0f / 3) < 1e-7f && fabsf(e[1] - 2.0f / 3) < 1e-7f);
    ks_model_free(m);
    cnas_arch_free(a);
}
END_TEST

/* ---- the conflicting-paths toy ------------------------------------------------------------ */

enum { TOY_D = 4, TOY_B = 32, TOY_PATHS = 4 };

typedef struct toy {
    float target[TOY_PATHS][TOY_D * TOY_D]; /* T_a, row-major: y = T_a x */
    float x[TOY_B * TOY_D];
    ks_model *m;
} toy;

static int path_index(const cnas_arch *a)
{
    return cnas_arch_single(a, 0) * 2 + cnas_arch_single(a, 1);
}

/* MSE of layer2_j(layer1_i(x)) against T_a x on rows [r0, r1). */
static cnas_tensor *toy_loss(cnas_graph *g, void *ctx, const cnas_arch *a, int64_t r0, int64_t r1)
{
    toy *t = ctx;
    int i = cnas_arch_single(a, 0), j = cnas_arch_single(a, 1), p = path_index(a);
    int64_t n = r1 - r0;
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(n, TOY_D));
    cnas_tensor *y = cnas_graph_tensor(g, CNAS_SHAPE(n, TOY_D));
    if (!x || !y)
        return NULL;
    memcpy(x->data, t->x + r0 * TOY_D, (size_t)(n * TOY_D) * sizeof(float));
    for (int64_t b = 0; b < n; b++)
        for (int r = 0; r < TOY_D; r++) {
            float s = 0.0f;
            for (int c = 0; c < TOY_D; c++)
                s += t->target[p][r * TOY_D + c] * x->data[b * TOY_D + c];
            y->data[b * TOY_D + r] = s;
        }
    cnas_tensor *h = cnas_linear(g, x, t->m->slot[i], NULL);
    return cnas_mse(g, cnas_linear(g, h, t->m->slot[2 + j], NULL), y);
}

typedef struct toy_result {
    double mse[TOY_PATHS];      /* per path, merged weights of its code, fresh data */
    float code[TOY_PATHS][KS_MAX_K];
    double mean_code_distance;  /* mean pairwise total variation distance */
    double max_code_distance;
} toy_result;

static void fill_x(toy *t, cnas_rng *r)
{
    cnas_rng_fill_normal(r, t->x, TOY_B * TOY_D, 0.0f, 1.0f);
}

/* Warm-up steps with Dirichlet codes, then alternating supernet and simplex-net steps. */
static void run_toy(int K, int warmup, int steps, toy_result *res)
{
    cnas_error err;
    toy t;
    cnas_rng data, paths, codes, init;
    cnas_rng_init(&init, 21, "targets");
    for (int p = 0; p < TOY_PATHS; p++)
        cnas_rng_fill_normal(&init, t.target[p], TOY_D * TOY_D, 0.0f, 0.5f);
    cnas_rng_init(&data, 22, "x");
    cnas_rng_init(&paths, 23, "paths");
    cnas_rng_init(&codes, 24, "codes");
    cnas_rng_init(&init, 25, "weights");
    cnas_tensor *theta[KS_MAX_K * 4];
    for (int i = 0; i < K * 4; i++) {
        theta[i] = cnas_tensor_new(CNAS_SHAPE(TOY_D, TOY_D), &err);
        cnas_init_default_weight(theta[i], &init);
    }
    ks_model *m = t.m = model_over(K, theta, 4, 16, 26);
    cnas_sgd_opts so = {.momentum = 0.9f};
    cnas_optim *w_opt = cnas_sgd_new(theta, K * 4, &so, &err);
    cnas_adam_opts ao = {0};
    cnas_optim *phi_opt = cnas_adam_new(m->phi, 4, &ao, &err);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_arch *a = arch2(0, 0), *chunk[TOY_PATHS];
    for (int c = 0; c < TOY_PATHS; c++)
        chunk[c] = arch2(c / 2, c % 2); /* every path once per simplex-net batch */
    for (int s = 0; s < steps; s++) {
        int p = (int)cnas_rng_below(&paths, TOY_PATHS);
        a->mask[0] = 1ull << (p / 2), a->mask[1] = 1ull << (p % 2);
        float lambda[KS_MAX_K];
        if (s < warmup)
            ks_dirichlet(&codes, K, lambda);
        else
            ck_assert_int_eq(ks_code_values(g, m, a, lambda, &err), CNAS_OK);
        fill_x(&t, &data);
        ck_assert_msg(ks_theta_pass(g, m, a, lambda, toy_loss, &t, TOY_B, NULL, &err) == CNAS_OK,
                      "%s", err.msg);
        ck_assert_int_eq(cnas_optim_step(w_opt, 0.02f, &err), CNAS_OK);
        if (s >= warmup && K > 1) {
            fill_x(&t, &data);
            /* The chunks' paths in a random order. */
            for (int c = TOY_PATHS - 1; c > 0; c--) {
                int d = (int)cnas_rng_below(&paths, (uint32_t)c + 1);
                cnas_arch *tmp = chunk[c];
                chunk[c] = chunk[d], chunk[d] = tmp;
            }
            ck_assert_msg(ks_phi_pass(g, m, chunk, TOY_PATHS, toy_loss, &t, TOY_B, NULL, &err) ==
                              CNAS_OK, "%s", err.msg);
            ck_assert_int_eq(cnas_optim_step(phi_opt, 0.01f, &err), CNAS_OK);
        }
    }
    /* Every path with its own code on fresh data, no tape. */
    res->mean_code_distance = res->max_code_distance = 0.0;
    for (int p = 0; p < TOY_PATHS; p++) {
        a->mask[0] = 1ull << (p / 2), a->mask[1] = 1ull << (p % 2);
        ck_assert_int_eq(ks_code_values(g, m, a, res->code[p], &err), CNAS_OK);
        double sum = 0.0;
        for (int rep = 0; rep < 8; rep++) {
            fill_x(&t, &data);
            cnas_graph_set_grad_enabled(g, false);
            cnas_tensor *l = ks_code_const(g, m, res->code[p]);
            ck_assert_int_eq(ks_bind(g, m, l), CNAS_OK);
            cnas_tensor *loss = toy_loss(g, &t, a, 0, TOY_B);
            ck_assert_ptr_nonnull(loss);
            sum += loss->data[0];
            cnas_graph_reset(g);
            cnas_graph_set_grad_enabled(g, true);
        }
        res->mse[p] = sum / 8;
        for (int q = 0; q < p; q++) {
            double tv = 0.0;
            for (int k = 0; k < K; k++)
                tv += fabs((double)res->code[p][k] - res->code[q][k]);
            res->mean_code_distance += tv / 2 / (TOY_PATHS * (TOY_PATHS - 1) / 2);
            res->max_code_distance = fmax(res->max_code_distance, tv / 2);
        }
    }
    for (int i = 0; i < K * 4; i++)
        cnas_tensor_free(theta[i]);
    for (int c = 0; c < TOY_PATHS; c++)
        cnas_arch_free(chunk[c]);
    cnas_arch_free(a);
    cnas_graph_free(g);
    cnas_optim_free(w_opt);
    cnas_optim_free(phi_opt);
    ks_model_free(m);
}

static void print_result(const char *name, int K, const toy_result *r)
{
    printf("%s (K = %d): MSE per path", name, K);
    for (int p = 0; p < TOY_PATHS; p++)
        printf(" %.4f", r->mse[p]);
    printf("; codes");
    for (int p = 0; p < TOY_PATHS; p++) {
        printf(" [");
        for (int k = 0; k < K; k++)
            printf("%s%.2f", k ? " " : "", r->code[p][k]);
        printf("]");
    }
    printf("; codes %.3f apart on average, %.3f at most\n", r->mean_code_distance,
           r->max_code_distance);
}

START_TEST(test_conflicting_paths_stall_one_shot_and_k_shot_fits_every_path)
{
    const int steps = getenv("CNAS_TEST_QUICK") && *getenv("CNAS_TEST_QUICK") ? 3000 : 6000;
    cnas_threads_set(1); /* 4x4 matrices: thread start-up would cost more than the work */
    toy_result one, half, four;
    run_toy(1, 0, steps / 2, &half);
    run_toy(1, 0, steps, &one);
    run_toy(4, steps / 10, steps, &four);
    print_result("one-shot, half the steps", 1, &half);
    print_result("one-shot", 1, &one);
    print_result("K-shot", 4, &four);
    /* The targets have variance 0.25 per entry: E|T x|² per output is 4 · 0.25 = 1. */
    double floor = 0.0, earlier = 0.0, worst = 0.0;
    for (int p = 0; p < TOY_PATHS; p++) {
        floor += one.mse[p] / TOY_PATHS;
        earlier += half.mse[p] / TOY_PATHS;
        worst = fmax(worst, four.mse[p]);
    }
    ck_assert_msg(floor > 0.02, "one-shot reached MSE %g: the paths do not conflict", floor);
    ck_assert_msg(floor > 0.8 * earlier, "one-shot went on from MSE %g to %g in the second half: "
                  "not stalled", earlier, floor);
    ck_assert_msg(worst < 0.05 * floor, "K-shot's worst path MSE %g, one-shot's mean %g", worst,
                  floor);
    /* Paths that do not conflict may share a code (two paths through different ops of a
     * layer fit with the same weights, as one-shot fits three of the four); one code for
     * all would be one-shot again. */
    ck_assert_msg(four.mean_code_distance > 0.4 && four.max_code_distance > 0.8,
                  "the codes are %g apart on average, %g at most", four.mean_code_distance,
                  four.max_code_distance);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("kshot");
    TCase *model = tcase_create("model");
    tcase_add_test(model, test_merged_forward_gradients_reach_every_dictionary_and_the_code);
    tcase_add_test(model, test_the_code_passes_gradients_through_the_simplex_net_with_a_temperature);
    tcase_add_test(model, test_merged_weights_written_out_equal_the_bound_forward_bit_for_bit);
    tcase_add_test(model, test_warmup_codes_are_flat_dirichlet_draws);
    tcase_add_test(model, test_the_encoding_is_one_hot_per_point_or_their_mean);
    suite_add_tcase(s, model);
    TCase *toy = tcase_create("toy");
    tcase_set_timeout(toy, 300);
    tcase_add_test(toy, test_conflicting_paths_stall_one_shot_and_k_shot_fits_every_path);
    suite_add_tcase(s, toy);
    return s;
}

CNAS_TEST_MAIN(make_suite)
