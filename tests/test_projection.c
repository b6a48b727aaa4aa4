/* Perturbation-based selection (cnas/projection.h, docs/selection.md) on a linear toy
 * whose answers are known. Every edge e maps x ∈ R^D to Σ_o w[e][o]·o_e(x) with the
 * candidates none, skip (x) and lin (A_e·x); the edges are summed and compared with a
 * target by mean squared error (accuracy := 1 / (1 + loss)). The host services are
 * mocked: evaluate runs the toy on one fixed batch, checkpoint points can stop the run. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include <cnas/kit.h>
#include <cnas/projection.h>

enum { C_NONE, C_SKIP, C_LIN, K };
enum { D = 6, B = 16, MAXE = 8 };
static const char *const cands[K] = {"none", "skip_connect", "lin"};

typedef struct toy {
    cnas_search_env env;
    int n_edges;
    cnas_choice_point pts[MAXE];
    char names[MAXE][16];
    cnas_tensor *A[MAXE];
    cnas_tensor *x, *y;       /* the fixed batch and its target */
    char log[1 << 16];        /* projection.csv as appended */
    int stop_at;              /* checkpoint point that stops the run (0: never) */
    int points;
} toy;

static toy T;

static int toy_points(void *self, const cnas_choice_point **p)
{
    (void)self;
    *p = T.pts;
    return T.n_edges;
}

/* The DARTS rule in miniature: per edge the strongest candidate; an edge whose weights
 * are all zero (an input pruned away) gets none. */
static cnas_status toy_derive(void *self, const float *const *probs, cnas_arch *out,
                              cnas_error *err)
{
    (void)self;
    (void)err;
    for (int e = 0; e < T.n_edges; e++) {
        int best = C_NONE;
        for (int j = 1; j < K; j++)
            if (probs[e][j] > probs[e][best])
                best = j;
        out->mask[e] = 1ull << best;
    }
    return CNAS_OK;
}

static cnas_space_vtable toy_vt;

static cnas_tensor *toy_logits(cnas_graph *g, cnas_tensor *x, const cnas_mix_weight *mix, void *ctx)
{
    (void)ctx;
    cnas_tensor *sum = NULL;
    for (int e = 0; e < T.n_edges; e++) {
        cnas_tensor *outs[2] = {x, cnas_linear(g, x, T.A[e], NULL)};
        int32_t cols[2] = {C_SKIP, C_LIN};
        cnas_tensor *o = cnas_weighted_sum_cols(g, 2, outs, mix[e].w, mix[e].row, cols);
        sum = sum ? cnas_add(g, sum, o) : o;
    }
    return sum;
}

static cnas_status env_evaluate(cnas_search_env *env, cnas_data_stream s, cnas_logits_fn fn,
                                void *ctx, double *loss, double *acc, cnas_error *err)
{
    (void)env;
    (void)s;
    cnas_graph *g = cnas_graph_new(err);
    cnas_graph_set_grad_enabled(g, false);
    cnas_tensor *out = fn(g, T.x, ctx);
    cnas_tensor *l = out ? cnas_mse(g, out, T.y) : NULL;
    cnas_status st = l ? CNAS_OK : cnas_error_set(err, CNAS_ERR_INVALID, "%s", cnas_graph_error(g)->msg);
    if (l) {
        *loss = l->data[0];
        *acc = 1.0 / (1.0 + l->data[0]);
    }
    cnas_graph_free(g);
    return st;
}

static cnas_status env_append(cnas_search_env *env, const char *file, const char *text,
                              cnas_error *err)
{
    (void)env;
    (void)err;
    ck_assert_str_eq(file, "projection.csv");
    strncat(T.log, text, sizeof T.log - strlen(T.log) - 1);
    return CNAS_OK;
}

static void env_log(cnas_search_env *env, cnas_log_level level, const char *fmt, ...)
{
    (void)env;
    (void)level;
    (void)fmt;
}

static cnas_status env_point(cnas_search_env *env, int64_t epoch, int64_t step, bool end,
                             cnas_error *err)
{
    (void)env;
    (void)epoch;
    (void)step;
    (void)end;
    if (++T.points == T.stop_at)
        return cnas_error_set(err, CNAS_ERR_INTERRUPTED, "stopped");
    return CNAS_OK;
}

/* n edges; edge e enters node to[e] from node e; the target is Σ_e B_e·x with the
 * given scales, and A_e is fitted so the supernet reproduces it at α. */
static void toy_setup(int n, const int *to, const float *target_scale)
{
    memset(&T, 0, sizeof T);
    T.n_edges = n;
    toy_vt = (cnas_space_vtable){.size = sizeof toy_vt, .choice_points = toy_points,
                                 .derive = toy_derive};
    for (int e = 0; e < n; e++) {
        snprintf(T.names[e], sizeof T.names[e], "edge%d", e);
        T.pts[e] = (cnas_choice_point){sizeof T.pts[e], T.names[e], "cell", e, 0, K, cands, e % 2,
                                       to[e]};
    }
    T.env = (cnas_search_env){.size = sizeof T.env, .space_vt = &toy_vt, .space = &T, .seed = 7,
                              .evaluate = env_evaluate, .log = env_log, .append = env_append,
                              .checkpoint_point = env_point};
    T.x = tu_rand(2, (int64_t[]){B, D}, 1, -1, 1);
    cnas_error err;
    T.y = cnas_tensor_new(2, (int64_t[]){B, D}, &err);
    memset(T.y->data, 0, sizeof(float) * B * D);
    for (int e = 0; e < n; e++) {
        T.A[e] = tu_rand(2, (int64_t[]){D, D}, 10 + (uint64_t)e, -1, 1);
        /* y += scale_e · x A_eᵀ */
        for (int b = 0; b < B; b++)
            for (int i = 0; i < D; i++) {
                double s = 0;
                for (int j = 0; j < D; j++)
                    s += T.x->data[b * D + j] * T.A[e]->data[i * D + j];
                T.y->data[b * D + i] += target_scale[e] * (float)s;
            }
    }
}

static void toy_teardown(void)
{
    for (int e = 0; e < T.n_edges; e++)
        cnas_tensor_free(T.A[e]);
    cnas_tensor_free(T.x);
    cnas_tensor_free(T.y);
}

/* α per edge: [none, skip, lin]; A_e is rescaled so that skip + lin reproduce the
 * edge's share of the target exactly: A ← (s·A − w_skip·I) / w_lin. */
static cnas_archparams *make_alpha(const float (*alpha)[K], const float *scale)
{
    cnas_error err;
    cnas_archparams *ap = cnas_archparams_new(&toy_vt, &T, true, &err);
    ck_assert_msg(ap != NULL, "%s", err.msg);
    cnas_tensor *a = cnas_archparams_tensors(ap)[0];
    ck_assert_int_eq(a->shape[0], T.n_edges);
    memcpy(a->data, alpha, sizeof(float) * (size_t)T.n_edges * K);
    for (int e = 0; e < T.n_edges; e++) {
        double m = fmax(alpha[e][0], fmax(alpha[e][1], alpha[e][2])), z = 0;
        for (int j = 0; j < K; j++)
            z += exp(alpha[e][j] - m);
        double ws = exp(alpha[e][C_SKIP] - m) / z, wl = exp(alpha[e][C_LIN] - m) / z;
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) {
                float *v = &T.A[e]->data[i * D + j];
                *v = (float)((scale[e] * *v - (i == j ? ws : 0.0)) / wl);
            }
    }
    return ap;
}

static cnas_proj *make_proj(cnas_archparams *ap, cnas_proj_criterion c, int keep)
{
    cnas_error err;
    cnas_proj_settings s = {sizeof s, c, 2, keep, CNAS_AP_SOFTMAX};
    cnas_proj *p = cnas_proj_new(ap, &T.env, &s, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    return p;
}

/* Run every fine-tuning epoch's decisions (no training in between: the toy is exact). */
static cnas_status run_all(cnas_proj *p, int64_t from, cnas_error *err)
{
    for (int64_t t = from; t < cnas_proj_epochs(p); t++) {
        cnas_status st = cnas_proj_begin_epoch(p, t, 100 + t, toy_logits, NULL, err);
        if (st)
            return st;
    }
    return CNAS_OK;
}

START_TEST(test_a_large_skip_weight_that_contributes_little_loses_to_the_op_that_matters)
{
    /* One edge: α favours skip (w 0.70 against lin 0.30), but the target is far from x,
     * so removing lin hurts far more than removing skip. Magnitude keeps skip;
     * perturbation keeps lin, by either criterion. */
    const float alpha[1][K] = {{-6.0f, 1.0f, 0.15f}}, scale[1] = {1.0f};
    for (int c = 0; c < 2; c++) {
        toy_setup(1, (int[]){1}, scale);
        cnas_archparams *ap = make_alpha(alpha, scale);
        cnas_error err;
        cnas_arch *mag = cnas_arch_new(1, &err), *pert = cnas_arch_new(1, &err);
        ck_assert_int_eq(cnas_archparams_derive(ap, CNAS_AP_SOFTMAX, mag, &err), CNAS_OK);
        ck_assert_int_eq(cnas_arch_single(mag, 0), C_SKIP);
        cnas_proj *p = make_proj(ap, (cnas_proj_criterion)c, 0);
        ck_assert_int_eq(cnas_proj_epochs(p), 1); /* one slot: decided at epoch 0 */
        ck_assert_msg(run_all(p, 0, &err) == CNAS_OK, "%s", err.msg);
        ck_assert(cnas_proj_finished(p));
        ck_assert_int_eq(cnas_proj_decisions(p), 1);
        ck_assert_int_eq(cnas_proj_derive(p, pert, &err), CNAS_OK);
        ck_assert_msg(cnas_arch_single(pert, 0) == C_LIN, "criterion %d kept %d:\n%s", c,
                      cnas_arch_single(pert, 0), T.log);
        ck_assert_ptr_nonnull(strstr(T.log, "edge 0 keeps lin"));
        /* The projected mixture: edge 0 is one-hot on lin now. */
        cnas_graph *g = cnas_graph_new(&err);
        const cnas_mix_weight *mix = cnas_proj_mix(p, g);
        ck_assert_ptr_nonnull(mix);
        ck_assert_float_eq(mix[0].w->data[C_LIN], 1.0f);
        ck_assert_float_eq(mix[0].w->data[C_SKIP], 0.0f);
        cnas_graph_free(g);
        cnas_proj_free(p);
        cnas_arch_free(mag);
        cnas_arch_free(pert);
        cnas_archparams_free(ap);
        toy_teardown();
    }
}
END_TEST

/* Five edges: 0, 1, 2 enter node 3 and 3, 4 enter node 2. Node 3 keeps two of its
 * three inputs: the one whose share of the target is smallest goes. */
static const int dag_to[5] = {3, 3, 3, 2, 2};
static const float dag_scale[5] = {1.0f, 0.05f, 0.7f, 0.5f, 0.8f};
/* lin dominates every edge here (the first test covers a misleading α), so each op
 * decision keeps lin and the one-hot edge stays close to the fitted mixture. */
static const float dag_alpha[5][K] = {{-3, -3, 2}, {-3, -2.5f, 2}, {-3, -3, 2.5f},
                                      {-3, -3.5f, 2}, {-3, -3, 1.8f}};

START_TEST(test_edges_then_inputs_are_decided_and_the_weakest_input_is_pruned)
{
    toy_setup(5, dag_to, dag_scale);
    cnas_archparams *ap = make_alpha(dag_alpha, dag_scale);
    cnas_proj *p = make_proj(ap, CNAS_PROJ_LOSS, 2);
    cnas_error err;
    /* 5 edges + 1 node: 6 slots, 2 epochs apart: 2·5 + 1 = 11 epochs. */
    ck_assert_int_eq(cnas_proj_epochs(p), 11);
    ck_assert_msg(run_all(p, 0, &err) == CNAS_OK, "%s", err.msg);
    ck_assert_int_eq(cnas_proj_decisions(p), 6);
    cnas_arch *a = cnas_arch_new(5, &err);
    ck_assert_int_eq(cnas_proj_derive(p, a, &err), CNAS_OK);
    for (int e = 0; e < 5; e++)
        ck_assert_msg(cnas_arch_single(a, e) == (e == 1 ? C_NONE : C_LIN), "edge %d: %d\n%s", e,
                      cnas_arch_single(a, e), T.log);
    ck_assert_ptr_nonnull(strstr(T.log, "node 3 keeps edges 0 2"));
    /* 5 op decisions of 3 evaluations, one node of 3, the header and 6 decision lines. */
    int lines = 0;
    for (const char *c = T.log; *c; c++)
        lines += *c == '\n';
    ck_assert_int_eq(lines, 1 + 5 * 3 + 3 + 6);
    cnas_arch_free(a);
    cnas_proj_free(p);
    cnas_archparams_free(ap);
    toy_teardown();
}
END_TEST

START_TEST(test_a_run_stopped_inside_a_decision_resumes_to_the_same_decisions)
{
    /* Uninterrupted reference. */
    toy_setup(5, dag_to, dag_scale);
    cnas_archparams *ap = make_alpha(dag_alpha, dag_scale);
    cnas_proj *p = make_proj(ap, CNAS_PROJ_ACC, 2);
    cnas_error err;
    ck_assert_msg(run_all(p, 0, &err) == CNAS_OK, "%s", err.msg);
    static char ref[sizeof T.log];
    memcpy(ref, T.log, sizeof ref);
    int total = T.points;
    cnas_proj_free(p);
    cnas_archparams_free(ap);
    toy_teardown();

    for (int stop = 1; stop < total; stop += 4) {
        toy_setup(5, dag_to, dag_scale);
        ap = make_alpha(dag_alpha, dag_scale);
        p = make_proj(ap, CNAS_PROJ_ACC, 2);
        T.stop_at = stop;
        int64_t t = 0;
        cnas_status st = CNAS_OK;
        for (; t < cnas_proj_epochs(p); t++)
            if ((st = cnas_proj_begin_epoch(p, t, 100 + t, toy_logits, NULL, &err)))
                break;
        ck_assert_int_eq(st, CNAS_ERR_INTERRUPTED);
        /* The checkpoint holds what the strategy saves; a new process loads it. */
        cnas_ckpt *ck = cnas_ckpt_new(&err);
        cnas_ckio io = cnas_ckio_put(ck, &err);
        ck_assert_int_eq(cnas_proj_io(p, &io, "s"), CNAS_OK);
        cnas_proj_free(p);
        p = make_proj(ap, CNAS_PROJ_ACC, 2);
        io = cnas_ckio_get(ck, &err);
        ck_assert_msg(cnas_proj_io(p, &io, "s") == CNAS_OK, "%s", err.msg);
        cnas_ckpt_free(ck);
        T.stop_at = 0;
        ck_assert_msg(run_all(p, t, &err) == CNAS_OK, "%s", err.msg);
        ck_assert_msg(strcmp(T.log, ref) == 0, "stopped at point %d:\n%s\nexpected\n%s", stop,
                      T.log, ref);
        cnas_proj_free(p);
        cnas_archparams_free(ap);
        toy_teardown();
    }
}
END_TEST

START_TEST(test_bad_settings_are_refused)
{
    toy_setup(1, (int[]){1}, (float[]){1});
    const float alpha[1][K] = {{0, 0, 0}};
    cnas_archparams *ap = make_alpha(alpha, (float[]){1});
    cnas_error err;
    cnas_proj_settings s = {sizeof s, CNAS_PROJ_ACC, 0, 2, CNAS_AP_SOFTMAX};
    ck_assert_ptr_null(cnas_proj_new(ap, &T.env, &s, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "interval"));
    cnas_archparams_free(ap);
    toy_teardown();
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("projection");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_a_large_skip_weight_that_contributes_little_loses_to_the_op_that_matters);
    tcase_add_test(tc, test_edges_then_inputs_are_decided_and_the_weakest_input_is_pruned);
    tcase_add_test(tc, test_a_run_stopped_inside_a_decision_resumes_to_the_same_decisions);
    tcase_add_test(tc, test_bad_settings_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
