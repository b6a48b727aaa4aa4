/* GOLD-NAS arithmetic (docs/gold_nas.md): the resource term's gradient against finite
 * differences, the pruning rule, the adaptation of lambda, and the planted-support toy:
 * a gated regression with the gate layout of one open cell (4 nodes, 14 edges, 2
 * operators: 28 gates) whose teacher uses 5 of them. One-level SGD on weights and gates
 * with the resource term must prune the absent gates before the present ones; with
 * lambda held at 0 and no hard pruning, (almost) nothing is pruned. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "gold_logic.h"

#define EDGES 14
#define CAND 2
#define GATES (EDGES * CAND)
#define NODES 4

static int node_of_edge[EDGES];

static gold_layout cell_layout(void)
{
    for (int i = 0, e = 0; i < NODES; i++)
        for (int j = 0; j < i + 2; j++)
            node_of_edge[e++] = i;
    return (gold_layout){EDGES, CAND, NODES, node_of_edge};
}

static float sigmoidf_(float a)
{
    return 1.0f / (1.0f + expf(-a));
}

START_TEST(test_resource_gradient_matches_finite_differences)
{
    gold_layout l = cell_layout();
    cnas_rng r;
    cnas_rng_init(&r, 7, "test");
    double alpha[GATES], k[GATES], S[NODES], what[GATES], d[GATES];
    float sig[GATES];
    uint64_t mask[EDGES];
    for (int p = 0; p < EDGES; p++)
        mask[p] = 3;
    mask[3] = 1; /* some gates pruned */
    mask[10] = 2;
    for (int g = 0; g < GATES; g++) {
        alpha[g] = 2.0 * cnas_rng_uniform_double(&r) - 1.0;
        k[g] = 1.0 + 3.0 * cnas_rng_uniform_double(&r);
    }
    /* xi_min low enough that no gate crosses it under the perturbation. */
    const double xi = 0.001, eps = 1e-5;
    for (int g = 0; g < GATES; g++)
        sig[g] = sigmoidf_((float)alpha[g]);
    gold_cost_grad(&l, sig, mask, k, xi, S, what, d);
    for (int g = 0; g < GATES; g++) {
        double c[2];
        for (int s = 0; s < 2; s++) {
            /* In double: the gates are floats, so evaluate the cost in the same way with
             * sigma computed from the perturbed alpha. */
            float sg[GATES];
            for (int h = 0; h < GATES; h++) {
                double a = alpha[h] + (h == g ? (s ? -eps : eps) : 0.0);
                sg[h] = (float)(1.0 / (1.0 + exp(-a)));
            }
            double dd[GATES];
            c[s] = gold_cost_grad(&l, sg, mask, k, xi, S, what, dd);
        }
        double fd = (c[0] - c[1]) / (2 * eps);
        if (!((mask[g / CAND] >> (g % CAND)) & 1u)) {
            ck_assert(d[g] == 0.0);
            continue;
        }
        ck_assert_msg(fabs(fd - d[g]) < 2e-2 * fmax(1.0, fabs(fd)),
                      "gate %d: analytic %.6g, finite differences %.6g", g, d[g], fd);
    }
}
END_TEST

START_TEST(test_pruning_takes_hard_ones_then_n0_weakest_and_keeps_one_per_node)
{
    gold_layout l = cell_layout();
    float sig[GATES];
    uint64_t mask[EDGES];
    for (int p = 0; p < EDGES; p++)
        mask[p] = 3;
    for (int g = 0; g < GATES; g++)
        sig[g] = 0.5f;
    /* node 0 (edges 0, 1): gate 0 tiny (below xi_min), gate 1 small (below xi_max) */
    sig[0] = 0.001f;
    sig[1] = 0.03f;
    /* node 1 (edges 2..4): gate 4 small; node 3: gates 18, 19 small */
    sig[4] = 0.05f;
    sig[18] = 0.1f;
    sig[19] = 0.12f;
    double S[NODES], what[GATES];
    int scratch[NODES + GATES], out[GATES];
    int n = gold_prune_select(&l, sig, mask, 0.01, 0.05, 2, S, what, scratch, out);
    /* Normalised: node 0 (gates 0..3) S = 1.031: gate 0 0.00097 (hard), gate 1 0.0291;
     * node 1 (gates 4..9) S = 2.55: gate 4 0.0196; node 3 (gates 18..27) S = 4.22: gate 18
     * 0.0237, gate 19 0.0284. With n0 = 2 the two weakest below xi_max go: 4, then 18. */
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 4);
    ck_assert_int_eq(out[2], 18);
    /* A node's last live gate is never pruned, however weak. */
    for (int p = 0; p < EDGES; p++)
        mask[p] = 0;
    mask[0] = 1; /* node 0: one gate left */
    mask[2] = 3;
    sig[0] = 1e-6f;
    n = gold_prune_select(&l, sig, mask, 0.01, 0.05, 4, S, what, scratch, out);
    ck_assert_int_eq(n, 0);
    ck_assert_double_eq_tol(what[0], 1.0, 1e-12);
    /* n0 = 0: only the hard pruning. */
    for (int p = 0; p < EDGES; p++)
        mask[p] = 3;
    sig[0] = 0.001f;
    n = gold_prune_select(&l, sig, mask, 0.01, 0.05, 0, S, what, scratch, out);
    ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(test_lambda_is_relaxed_after_enough_pruning_and_pushed_otherwise)
{
    double lambda = 0, delta = 1e-5;
    gold_lambda_update(&lambda, &delta, 0, 4, 1e-5, 2);
    ck_assert_double_eq_tol(delta, 2e-5, 1e-15);
    ck_assert_double_eq_tol(lambda, 2e-5, 1e-15);
    gold_lambda_update(&lambda, &delta, 3, 4, 1e-5, 2);
    ck_assert_double_eq_tol(lambda, 6e-5, 1e-15);
    gold_lambda_update(&lambda, &delta, 4, 4, 1e-5, 2);
    ck_assert_double_eq_tol(lambda, 3e-5, 1e-15);
    ck_assert_double_eq_tol(delta, 1e-5, 1e-15);
}
END_TEST

/* ---- the planted-support toy -------------------------------------------------------- */

#define DIM 24
#define BATCH 32
#define ALR 0.3 /* the paper's 1.0 makes this toy's first steps jumpy */

typedef struct toy {
    gold_layout l;
    float u[GATES][DIM];          /* feature g: op 0 linear u.x, op 1 tanh(2 u.x) */
    double coef[GATES];           /* the teacher's: non-zero on 5 gates */
    double w[GATES], mw[GATES];   /* the student's weights and momentum */
    double a[GATES], ma[GATES];   /* its gate logits and momentum */
    uint64_t mask[EDGES];
    double k[GATES];
    int64_t flops[GATES];
    cnas_rng rng;
} toy;

static const int planted[5] = {1, 6, 15, 19, 26}; /* one gate into each node, two into node 5 */

static bool present(int g)
{
    for (int i = 0; i < 5; i++)
        if (planted[i] == g)
            return true;
    return false;
}

static double feature(const toy *t, int g, const float *x)
{
    double s = 0;
    for (int d = 0; d < DIM; d++)
        s += t->u[g][d] * x[d];
    return g % CAND ? tanh(2 * s) : s;
}

static void toy_init(toy *t)
{
    memset(t, 0, sizeof *t);
    t->l = cell_layout();
    cnas_rng_init(&t->rng, 3, "toy"); /* seeds 3..10 all pass */
    for (int g = 0; g < GATES; g++) {
        for (int d = 0; d < DIM; d++)
            t->u[g][d] = cnas_rng_normal(&t->rng) / sqrtf((float)DIM);
        t->k[g] = 1.0;
        t->flops[g] = g % CAND ? 100 : 10; /* "sep_conv" dearer than "skip" */
        t->w[g] = 0.0; /* the gates move once the weights have a sign */
    }
    const double c[5] = {1.5, -1.2, 1.0, 1.3, -1.1};
    for (int i = 0; i < 5; i++)
        t->coef[planted[i]] = c[i];
    for (int p = 0; p < EDGES; p++)
        t->mask[p] = 3;
}

static bool live(const toy *t, int g)
{
    return (t->mask[g / CAND] >> (g % CAND)) & 1u;
}

/* One epoch of one-level steps: MSE plus lambda times the resource term. */
static void toy_epoch(toy *t, double lambda, int steps)
{
    double S[NODES], what[GATES], dc[GATES];
    float sig[GATES];
    for (int s = 0; s < steps; s++) {
        double gw[GATES] = {0}, ga[GATES] = {0};
        for (int b = 0; b < BATCH; b++) {
            float x[DIM];
            for (int d = 0; d < DIM; d++)
                x[d] = cnas_rng_normal(&t->rng);
            double phi[GATES], y = 0, yh = 0;
            for (int g = 0; g < GATES; g++) {
                phi[g] = feature(t, g, x);
                y += t->coef[g] * phi[g];
                if (live(t, g))
                    yh += t->w[g] / (1 + exp(-t->a[g])) * phi[g];
            }
            double res = (yh - y) / BATCH;
            for (int g = 0; g < GATES; g++)
                if (live(t, g)) {
                    double sg = 1 / (1 + exp(-t->a[g]));
                    gw[g] += res * sg * phi[g];
                    ga[g] += res * t->w[g] * sg * (1 - sg) * phi[g];
                }
        }
        for (int g = 0; g < GATES; g++)
            sig[g] = (float)(1 / (1 + exp(-t->a[g])));
        gold_cost_grad(&t->l, sig, t->mask, t->k, 0.01, S, what, dc);
        for (int g = 0; g < GATES; g++) {
            if (!live(t, g))
                continue;
            t->mw[g] = 0.9 * t->mw[g] + gw[g];
            t->w[g] -= 0.1 * t->mw[g];
            t->ma[g] = 0.9 * t->ma[g] + ga[g] + lambda * dc[g];
            t->a[g] -= ALR * t->ma[g];
        }
    }
}

static int64_t toy_flops(const toy *t)
{
    int64_t f = 0;
    for (int g = 0; g < GATES; g++)
        f += live(t, g) ? t->flops[g] : 0;
    return f;
}

/* Runs the schedule; order[] receives the gates in pruning order; returns how many. */
static int toy_search(toy *t, double lambda0, double xi_min, int epochs, int *order, int *used)
{
    double lambda = 0, delta = lambda0, S[NODES], what[GATES];
    int scratch[NODES + GATES], sel[GATES], n = 0;
    float sig[GATES];
    int64_t flops = toy_flops(t);
    int e = 0;
    for (; e < epochs && n < GATES - 5; e++) {
        toy_epoch(t, lambda, 20);
        for (int g = 0; g < GATES; g++)
            sig[g] = (float)(1 / (1 + exp(-t->a[g])));
        int k = gold_prune_select(&t->l, sig, t->mask, xi_min, 0.05, 4, S, what, scratch, sel);
        for (int i = 0; i < k; i++) {
            t->mask[sel[i] / CAND] &= ~((uint64_t)1 << (sel[i] % CAND));
            order[n++] = sel[i];
        }
        gold_lambda_update(&lambda, &delta, k, 4, lambda0, 2);
        int64_t f = toy_flops(t);
        ck_assert_msg(f <= flops, "FLOPs rose from %lld to %lld", (long long)flops, (long long)f);
        flops = f;
    }
    *used = e;
    return n;
}

START_TEST(test_planted_support_absent_gates_are_pruned_first)
{
    toy t;
    toy_init(&t);
    int order[GATES];
    int used;
    int n = toy_search(&t, 1e-3, 0.01, 150, order, &used);
    char seq[400] = "";
    int absent_first = 0;
    for (int i = 0; i < n; i++) {
        snprintf(seq + strlen(seq), sizeof seq - strlen(seq), "%s%d%s", i ? " " : "", order[i],
                 present(order[i]) ? "*" : "");
        if (present(order[i]))
            break;
        absent_first++;
    }
    printf("planted-support toy: %d epochs; pruning order (gate = 2*edge + op, * = teacher's): "
           "%s\n", used, seq);
    /* At least 90% of the 23 absent gates go before the first present one. */
    ck_assert_msg(absent_first >= 21, "only %d absent gates pruned before a present one: %s",
                  absent_first, seq);
}
END_TEST

START_TEST(test_without_the_resource_term_few_or_no_gates_are_pruned)
{
    toy t;
    toy_init(&t);
    int order[GATES];
    /* lambda stays 0 (lambda0 = 0) and no hard pruning (xi_min = 0). */
    int used;
    int n = toy_search(&t, 0.0, 0.0, 30, order, &used);
    printf("planted-support toy without the resource term: %d gates pruned in %d epochs\n", n,
           used);
    ck_assert_msg(n <= 3, "%d gates pruned without the resource term", n);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("gold_nas");
    TCase *logic = tcase_create("logic");
    tcase_add_test(logic, test_resource_gradient_matches_finite_differences);
    tcase_add_test(logic, test_pruning_takes_hard_ones_then_n0_weakest_and_keeps_one_per_node);
    tcase_add_test(logic, test_lambda_is_relaxed_after_enough_pruning_and_pushed_otherwise);
    suite_add_tcase(s, logic);
    TCase *toyc = tcase_create("planted_support");
    tcase_set_timeout(toyc, 120);
    tcase_add_test(toyc, test_planted_support_absent_gates_are_pruned_first);
    tcase_add_test(toyc, test_without_the_resource_term_few_or_no_gates_are_pruned);
    suite_add_tcase(s, toyc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
