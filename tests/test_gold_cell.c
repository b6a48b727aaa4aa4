/* The GOLD-NAS open space gold_cell (docs/gold_nas.md): every (cell, edge, operator) a
 * gate of its own, the one-line-per-cell notation with an exact round trip, networks
 * of any architecture (several inputs per node, edges with 0..2 operators, a node with
 * none), a hand-counted parameter count, exact per-candidate costs, the search op
 * skip_connect = identity + BN, and pruned operators that are never run. The space
 * and the op set are loaded from their built plugins. */
#include "plugin_fixture.h"

#include <math.h>
#include <unistd.h>

typedef struct fixture {
    const cnas_space_vtable *vt;
    const cnas_component *comp;
    cnas_component_list ops;
    cnas_op_factory factory;
    cnas_params *params;
    cnas_rng rng;
} fixture;

static fixture fx;

static void fx_setup(int n, const char *const *kv)
{
    const cnas_plugin_desc *ops = pf_load("DARTS_OPS_SO");
    const cnas_plugin_desc *space = pf_load("GOLD_CELL_SO");
    fx.comp = pf_component(space, CNAS_KIND_SPACE, "gold_cell");
    fx.vt = fx.comp->vtable;
    fx.ops = (cnas_component_list){ops->components, (int)ops->n_components};
    fx.factory = cnas_op_factory_from_list(&fx.ops);
    fx.params = pf_params(fx.comp, n, kv);
    cnas_rng_init(&fx.rng, 1, "init");
}

static void *fx_build(cnas_space_build build, const cnas_arch *arch, int c, int h, int classes,
                      cnas_error *err)
{
    cnas_space_create_args a = {sizeof a, fx.params, c, h, h, classes, &fx.factory, &fx.rng,
                                build, arch};
    void *self = NULL;
    if (fx.vt->create(&a, &self, err) != CNAS_OK)
        return NULL;
    return self;
}

static void fx_teardown(void)
{
    cnas_params_free(fx.params);
    fx.params = NULL;
}

static cnas_arch *parsed(void *s, const char *text)
{
    cnas_error err;
    const cnas_choice_point *p;
    cnas_arch *a = cnas_arch_new(fx.vt->choice_points(s, &p), &err);
    ck_assert_ptr_nonnull(a);
    ck_assert_msg(fx.vt->parse(s, text, a, &err) == CNAS_OK, "%s", err.msg);
    return a;
}

START_TEST(test_every_cell_edge_and_operator_is_a_gate_of_its_own)
{
    fx_setup(2, (const char *[]){"init_channels=4", "layers=3"});
    cnas_error err;
    void *s = fx_build(CNAS_SPACE_SUPERNET, NULL, 1, 8, 10, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    const cnas_choice_point *p;
    int n = fx.vt->choice_points(s, &p);
    ck_assert_int_eq(n, 3 * 14);
    for (int q = 0; q < n; q++) {
        ck_assert_int_eq(p[q].instance, q / 14);
        ck_assert_int_eq(p[q].n_candidates, 2);
        ck_assert_str_eq(p[q].candidates[0], "skip_connect");
        ck_assert_str_eq(p[q].candidates[1], "sep_conv_3x3");
    }
    /* The search op: the identity with a non-affine BN at stride 1 (running statistics
     * only), FactorizedReduce at stride 2. */
    cnas_named_tensor t[4096];
    int nt = fx.vt->tensors(s, t, 4096);
    ck_assert_int_le(nt, 4096);
    int bn_stats = 0, bn_affine = 0;
    for (int i = 0; i < nt; i++) {
        if (strstr(t[i].name, "cells.0.edges.4.skip_connect.1.running_mean"))
            bn_stats++;
        if (strstr(t[i].name, "skip_connect.1.weight"))
            bn_affine++;
    }
    ck_assert_int_eq(bn_stats, 1);
    ck_assert_int_eq(bn_affine, 0);
    /* 2^(14 * 2 * 3) architectures, 84 gates; with every node fed: (2^4-1)(2^6-1)(2^8-1)
     * (2^10-1) per cell. */
    char path[] = "/tmp/gold_cell_jsonXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w+");
    cnas_arch *a = cnas_arch_new(n, &err);
    ck_assert(fx.vt->write_json(s, a, f, &err) == CNAS_OK);
    rewind(f);
    char buf[8192] = "";
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    fclose(f);
    unlink(path);
    double want = 3 * log10(15.0 * 63 * 255 * 1023);
    char w1[64], w2[64];
    snprintf(w1, sizeof w1, "\"log10_architectures\": %.2f", 84 * log10(2.0));
    snprintf(w2, sizeof w2, "\"log10_architectures_every_node_fed\": %.2f", want);
    ck_assert_msg(strstr(buf, w1) && strstr(buf, w2), "%s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "\"triples\": []"));
    cnas_arch_free(a);
    fx.vt->destroy(s);
    /* 14 cells: 2^392 = 10^118.0; every node fed: 10^117.49 (the paper's "more than 10^117"). */
    fx_teardown();
    fx_setup(2, (const char *[]){"init_channels=2", "layers=14"});
    s = fx_build(CNAS_SPACE_SUPERNET, NULL, 1, 8, 10, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    f = tmpfile();
    a = cnas_arch_new(14 * 14, &err);
    ck_assert(fx.vt->write_json(s, a, f, &err) == CNAS_OK);
    rewind(f);
    got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    fclose(f);
    ck_assert_msg(strstr(buf, "\"log10_architectures\": 118.00") &&
                  strstr(buf, "\"log10_architectures_every_node_fed\": 117.49"), "%s", buf);
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

static const char *const SMALL =
    "cell 0 (normal): 2 <- skip_connect(0, 1) + sep_conv_3x3(1); 3 <- -; 4 <- sep_conv_3x3(0, 2, 3); "
    "5 <- skip_connect(4)\n"
    "cell 1 (reduce): 2 <- sep_conv_3x3(0); 3 <- skip_connect(1, 2); 4 <- skip_connect(3); "
    "5 <- skip_connect(0, 1, 2, 3, 4) + sep_conv_3x3(0, 1, 2, 3, 4)\n"
    "cell 2 (reduce): 2 <- -; 3 <- -; 4 <- -; 5 <- -";

START_TEST(test_the_notation_round_trips_exactly)
{
    fx_setup(2, (const char *[]){"init_channels=4", "layers=3"});
    cnas_error err;
    void *s = fx_build(CNAS_SPACE_SUPERNET, NULL, 1, 8, 10, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    char text[8192];
    cnas_arch *a = parsed(s, SMALL);
    ck_assert(fx.vt->format(s, a, text, sizeof text, &err) == CNAS_OK);
    ck_assert_str_eq(text, SMALL);
    /* (operator, input, node) triples: cell 1 node 5 has both operators on all 5 edges. */
    ck_assert_int_eq(a->mask[14 + 9], 3);
    ck_assert_int_eq(a->mask[14 + 13], 3);
    ck_assert_int_eq(a->mask[0], 1);      /* cell 0 edge (0 -> 2): skip */
    ck_assert_int_eq(a->mask[1], 3);      /* cell 0 edge (1 -> 2): both */
    ck_assert_int_eq(a->mask[2], 0);      /* node 3 has no input */
    /* Any order and spacing, all cells on one line. */
    cnas_arch *b = parsed(s, "cell 2: 5 <- -   cell 0:4<-sep_conv_3x3(3,2,0);2<-sep_conv_3x3(1)+"
                             "skip_connect(1,0);5<-skip_connect(4) cell 1 (reduce): 5 <- "
                             "sep_conv_3x3(4, 3, 2, 1, 0) + skip_connect(0, 1, 2, 3, 4); "
                             "4 <- skip_connect(3); 3 <- skip_connect(2, 1); 2 <- sep_conv_3x3(0)");
    ck_assert(cnas_arch_equal(a, b));
    /* The drawings number the nodes as the notation does (2..5). */
    char dir[] = "/tmp/gold_cell_dotXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    int n_files = 0;
    ck_assert(fx.vt->write_dot(s, a, dir, &n_files, &err) == CNAS_OK);
    ck_assert_int_eq(n_files, 3);
    char dot[4096] = "", file[4200];
    snprintf(file, sizeof file, "%s/cell0.dot", dir);
    FILE *df = fopen(file, "r");
    ck_assert_ptr_nonnull(df);
    dot[fread(dot, 1, sizeof dot - 1, df)] = '\0';
    fclose(df);
    ck_assert_msg(strstr(dot, "\"c_{k-1}\" -> \"2\" [label=\"sep_conv_3x3\"") &&
                  strstr(dot, "\"3\" -> \"4\" [label=\"sep_conv_3x3\"") &&
                  strstr(dot, "\"4\" -> \"5\" [label=\"skip_connect\"") &&
                  strstr(dot, "\"5\" -> \"c_{k}\"") && !strstr(dot, "\"0\""), "%s", dot);
    for (int c = 0; c < 3; c++) {
        snprintf(file, sizeof file, "%s/cell%d.dot", dir, c);
        unlink(file);
    }
    rmdir(dir);
    /* Random architectures: format, parse, format. */
    cnas_rng r;
    cnas_rng_init(&r, 5, "test");
    for (int i = 0; i < 50; i++) {
        ck_assert(fx.vt->sample(s, &r, a, &err) == CNAS_OK);
        ck_assert(fx.vt->format(s, a, text, sizeof text, &err) == CNAS_OK);
        ck_assert(fx.vt->parse(s, text, b, &err) == CNAS_OK);
        ck_assert(cnas_arch_equal(a, b));
        char again[8192];
        ck_assert(fx.vt->format(s, b, again, sizeof again, &err) == CNAS_OK);
        ck_assert_str_eq(again, text);
    }
    /* Mistakes are named. */
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"cell 0: 2 <- max_pool_3x3(0)", "not among the space's candidates"},
        {"cell 0: 2 <- skip_connect(0, 0)", "listed twice"},
        {"cell 0: 3 <- skip_connect(3)", "a node takes inputs 0..2"},
        {"cell 0: 6 <- skip_connect(0)", "numbered 2..5"},
        {"cell 0: 2 <- -\ncell 1: 2 <- -", "gives 2 cells; the space has 3"},
        {"cell 0 (reduce): 2 <- -", "is a normal cell"},
        {"cell 0: 2 <- skip_connect 0", "expected '('"},
        {"cell 3: 2 <- -", "cells 0..2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(fx.vt->parse(s, bad[i].text, b, &err) != CNAS_OK, "%s", bad[i].text);
        ck_assert_msg(strstr(err.msg, bad[i].msg), "'%s': %s", bad[i].text, err.msg);
    }
    cnas_arch_free(a);
    cnas_arch_free(b);
    fx.vt->destroy(s);
    fx_teardown();
    /* 'none' makes no sense in the open space. */
    fx_setup(1, (const char *[]){"candidates=none,skip_connect"});
    ck_assert(fx_build(CNAS_SPACE_SUPERNET, NULL, 1, 8, 10, &err) == NULL);
    ck_assert_ptr_nonnull(strstr(err.msg, "'none'"));
    fx_teardown();
}
END_TEST

START_TEST(test_a_network_has_the_hand_counted_parameters_and_exact_costs)
{
    /* One cell (a reduction: layers/3 = 0), C = 4 doubled to 8, 1 input channel,
     * 10 classes:
     *   stem conv 12x1x3x3 = 108, stem BN 24                          132
     *   pre0, pre1: ReLU-conv 1x1 12->8 (96) + BN (16), each            224
     *   node 2: sep_conv_3x3 from 0 (stride 2): 2 x (72 + 64 + 16)      304
     *           skip_connect from 1 (stride 2): FactorizedReduce(8, 8)
     *           = 2 x (4 x 8) + BN 16                                      80
     *   node 3: nothing (zeros)                                            0
     *   node 4: skip_connect from 2 (identity)                             0
     *   node 5: sep_conv_3x3 from 3 and from 4                            608
     *   classifier 32 -> 10: 320 + 10                                     330
     *                                                              total 1678 */
    fx_setup(2, (const char *[]){"init_channels=4", "layers=1"});
    cnas_error err;
    void *sup = fx_build(CNAS_SPACE_SUPERNET, NULL, 1, 8, 10, &err);
    ck_assert_msg(sup != NULL, "%s", err.msg);
    cnas_arch *a = parsed(sup, "cell 0 (reduce): 2 <- skip_connect(1) + sep_conv_3x3(0); 3 <- -; "
                               "4 <- skip_connect(2); 5 <- sep_conv_3x3(3, 4)");
    int64_t flops, params, f0, p0;
    ck_assert(fx.vt->cost(sup, a, &flops, &params, &err) == CNAS_OK);
    ck_assert_int_eq(params, 1678);
    /* The cost of an architecture is the empty network's plus its operators'. */
    cnas_arch *none = cnas_arch_new(a->n_points, &err);
    ck_assert(fx.vt->cost(sup, none, &f0, &p0, &err) == CNAS_OK);
    ck_assert_int_eq(p0, 132 + 224 + 330);
    int64_t sf = 0, sp = 0;
    for (int p = 0; p < a->n_points; p++)
        for (int c = 0; c < 2; c++)
            if ((a->mask[p] >> c) & 1u) {
                int64_t cf, cp;
                ck_assert(fx.vt->candidate_cost(sup, p, c, &cf, &cp, &err) == CNAS_OK);
                sf += cf;
                sp += cp;
            }
    ck_assert_int_eq(f0 + sf, flops);
    ck_assert_int_eq(p0 + sp, params);
    /* The network runs, node 3 with no input included. */
    void *net = fx_build(CNAS_SPACE_NETWORK, a, 1, 8, 10, &err);
    ck_assert_msg(net != NULL, "%s", err.msg);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 1, 8, 8));
    ck_assert_ptr_nonnull(x);
    for (int64_t i = 0; i < x->numel; i++)
        x->data[i] = sinf((float)i);
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, NULL, true, NULL, 0, NULL};
    cnas_tensor *y = fx.vt->forward(net, g, x, &fa);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_int_eq(y->shape[0], 2);
    ck_assert_int_eq(y->shape[1], 10);
    for (int64_t i = 0; i < y->numel; i++)
        ck_assert(isfinite(y->data[i]));
    cnas_graph_free(g);
    fx.vt->destroy(net);
    cnas_arch_free(none);
    cnas_arch_free(a);
    fx.vt->destroy(sup);
    fx_teardown();
}
END_TEST

typedef struct mix_ctx {
    void *space;
    cnas_tensor *gates;
    cnas_mix_weight *mw;
    const cnas_arch *allowed;
    int32_t labels[2];
} mix_ctx;

static cnas_tensor *mix_loss(cnas_graph *g, void *vctx)
{
    mix_ctx *c = vctx;
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 1, 8, 8));
    if (!x)
        return NULL;
    for (int64_t i = 0; i < x->numel; i++)
        x->data[i] = cosf(0.3f * (float)i);
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, c->mw, c->allowed, true, NULL, 0,
                                  NULL};
    cnas_tensor *y = fx.vt->forward(c->space, g, x, &fa);
    return y ? cnas_cross_entropy(g, y, c->labels, 0.0f) : NULL;
}

START_TEST(test_pruned_operators_are_never_run)
{
    fx_setup(3, (const char *[]){"init_channels=4", "layers=2", "recompute=false"});
    cnas_error err;
    void *s = fx_build(CNAS_SPACE_SUPERNET, NULL, 1, 8, 3, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    const cnas_choice_point *pts;
    int np = fx.vt->choice_points(s, &pts);
    cnas_arch *a = parsed(s, "cell 0 (reduce): 2 <- sep_conv_3x3(0); 3 <- sep_conv_3x3(2); "
                             "4 <- skip_connect(3); 5 <- sep_conv_3x3(4)\n"
                             "cell 1 (reduce): 2 <- sep_conv_3x3(1); 3 <- skip_connect(2); "
                             "4 <- sep_conv_3x3(3); 5 <- skip_connect(4)");
    mix_ctx c = {s, NULL, NULL, a, {0, 2}};
    c.gates = cnas_tensor_new(CNAS_SHAPE(np, 2), &err);
    cnas_tensor_fill(c.gates, 0.5f);
    c.mw = calloc((size_t)np, sizeof *c.mw);
    for (int p = 0; p < np; p++)
        c.mw[p] = (cnas_mix_weight){c.gates, p};
    cnas_named_tensor t[4096];
    int nt = fx.vt->tensors(s, t, 4096);
    cnas_tensor *on[4096];
    int n_on = 0;
    for (int i = 0; i < nt; i++)
        if (t[i].role == CNAS_ROLE_PARAM)
            on[n_on++] = t[i].tensor;
    on[n_on++] = c.gates;
    cnas_graph *g = cnas_graph_new(&err);
    float loss;
    ck_assert_msg(cnas_grad_pass(g, mix_loss, &c, on, n_on, NULL, 0, &loss, &err) == CNAS_OK, "%s",
                  err.msg);
    /* Only the allowed operators' weights got a gradient; a pruned gate's too is zero. */
    int reached = 0, pruned_reached = 0;
    for (int i = 0; i < nt; i++) {
        if (t[i].role != CNAS_ROLE_PARAM || !strstr(t[i].name, "edges."))
            continue;
        int cell, edge;
        char op[64];
        ck_assert(sscanf(t[i].name, "cells.%d.edges.%d.%63[a-z_0-9]", &cell, &edge, op) == 3);
        int cand = strncmp(op, "sep_conv_3x3", 12) == 0 ? 1 : 0;
        bool allowed = (a->mask[cell * 14 + edge] >> cand) & 1u;
        bool got = t[i].tensor->grad != NULL;
        reached += got;
        pruned_reached += got && !allowed;
    }
    ck_assert_int_gt(reached, 0);
    ck_assert_int_eq(pruned_reached, 0);
    for (int p = 0; p < np; p++)
        for (int k = 0; k < 2; k++)
            if (!((a->mask[p] >> k) & 1u))
                ck_assert(c.gates->grad[p * 2 + k] == 0.0f);
    cnas_graph_free(g);
    cnas_tensor_free(c.gates);
    free(c.mw);
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("gold_cell");
    TCase *tc = tcase_create("space");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_cell_edge_and_operator_is_a_gate_of_its_own);
    tcase_add_test(tc, test_the_notation_round_trips_exactly);
    tcase_add_test(tc, test_a_network_has_the_hand_counted_parameters_and_exact_costs);
    tcase_add_test(tc, test_pruned_operators_are_never_run);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
