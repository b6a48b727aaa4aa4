/* The DARTS cell space (Liu et al. 2019; docs/darts.md): edge indexing, reduction
 * strides, channel bookkeeping, the top-2 rule, the genotype notation with an exact
 * round trip, stand-alone networks and their parameter counts. The space and the
 * op set are loaded from their built plugins. */
#include "plugin_fixture.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const DARTS_V2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

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
    const cnas_plugin_desc *space = pf_load("DARTS_CELL_SO");
    fx.comp = pf_component(space, CNAS_KIND_SPACE, "darts_cell");
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

START_TEST(test_fourteen_edges_are_indexed_as_the_reference_does)
{
    fx_setup(2, (const char *[]){"init_channels=4", "layers=3"});
    cnas_error err;
    void *s = fx_build(CNAS_SPACE_SUPERNET, NULL, 1, 8, 10, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    const cnas_choice_point *p;
    int n = fx.vt->choice_points(s, &p);
    ck_assert_int_eq(n, 3 * 14);
    /* (to, from) per edge: node 2 <- 0,1; node 3 <- 0,1,2; node 4 <- 0..3; node 5 <- 0..4 */
    int to[14] = {2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5};
    int from[14] = {0, 1, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3, 4};
    for (int c = 0; c < 3; c++)
        for (int e = 0; e < 14; e++) {
            ck_assert_int_eq(p[c * 14 + e].node_to, to[e]);
            ck_assert_int_eq(p[c * 14 + e].node_from, from[e]);
            ck_assert_int_eq(p[c * 14 + e].local_index, e);
            ck_assert_int_eq(p[c * 14 + e].instance, c);
            ck_assert_int_eq(p[c * 14 + e].n_candidates, 8);
        }
    ck_assert_str_eq(p[0].share_key, "normal");
    ck_assert_str_eq(p[14].share_key, "reduce"); /* layers/3 = 1 */
    ck_assert_str_eq(p[28].share_key, "reduce"); /* 2*layers/3 = 2 */
    ck_assert_str_eq(p[0].candidates[4], "sep_conv_3x3");
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

static cnas_tensor *find_tensor(const cnas_space_vtable *vt, void *s, const char *name)
{
    cnas_named_tensor buf[4096];
    int n = vt->tensors(s, buf, 4096);
    ck_assert_int_le(n, 4096);
    for (int i = 0; i < n; i++)
        if (strcmp(buf[i].name, name) == 0)
            return buf[i].tensor;
    ck_abort_msg("no tensor named %s", name);
    return NULL;
}

START_TEST(test_reductions_halve_the_size_and_double_the_channels)
{
    fx_setup(2, (const char *[]){"init_channels=4", "layers=5"});
    cnas_error err;
    void *s = fx_build(CNAS_SPACE_SUPERNET, NULL, 3, 16, 7, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    /* Cells 0 (C=4), 1 (reduction, C=8), 2 (C=8), 3 (reduction, C=16), 4 (C=16); each cell
     * outputs 4C channels, so the classifier sees 64. */
    ck_assert_int_eq(find_tensor(fx.vt, s, "classifier.weight")->shape[1], 64);
    ck_assert_int_eq(find_tensor(fx.vt, s, "stem.conv.weight")->shape[0], 12);
    /* A forward pass only fits together if every stride and channel count is right. */
    const cnas_choice_point *p;
    int np = fx.vt->choice_points(s, &p);
    cnas_tensor *w = cnas_tensor_new(CNAS_SHAPE(14, 8), &err);
    cnas_tensor_fill(w, 0.125f);
    cnas_mix_weight *mix = calloc((size_t)np, sizeof *mix);
    for (int i = 0; i < np; i++)
        mix[i] = (cnas_mix_weight){w, p[i].local_index};
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 16, 16));
    cnas_rng_fill_normal(&fx.rng, x->data, x->numel, 0, 1);
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, mix, NULL, true, NULL, 0, NULL};
    cnas_tensor *logits = fx.vt->forward(s, g, x, &fa);
    ck_assert_msg(logits != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_int_eq(logits->shape[0], 2);
    ck_assert_int_eq(logits->shape[1], 7);
    cnas_graph_free(g);
    cnas_tensor_free(w);
    free(mix);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_an_odd_size_at_a_reduction_is_a_clear_error)
{
    fx_setup(2, (const char *[]){"init_channels=4", "layers=3"});
    cnas_error err;
    ck_assert_ptr_null(fx_build(CNAS_SPACE_SUPERNET, NULL, 1, 9, 10, &err));
    ck_assert_int_eq(err.code, CNAS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "9x9"));
    fx_teardown();
}
END_TEST


/* One supernet step's gradients (weights and both alphas) and running statistics, with
 * every tensor's values copied out in tensor order; and the step's arena peak. */
typedef struct step_record {
    float *v;
    size_t n;
    size_t peak;
} step_record;

/* A step's record: every parameter's gradient (zeros where none reached it) and every
 * buffer's values, in tensor order, with `extra` more floats of room; and the arena peak. */
static step_record record_step(const cnas_named_tensor *t, int nt, const cnas_graph *g,
                               size_t extra)
{
    step_record r = {NULL, 0, cnas_graph_peak_bytes(g)};
    for (int i = 0; i < nt; i++)
        r.n += (size_t)t[i].tensor->numel;
    r.v = calloc(r.n + extra, sizeof *r.v);
    ck_assert_ptr_nonnull(r.v);
    size_t o = 0;
    for (int i = 0; i < nt; i++) {
        const float *src = t[i].role == CNAS_ROLE_PARAM ? t[i].tensor->grad : t[i].tensor->data;
        if (src)
            memcpy(r.v + o, src, (size_t)t[i].tensor->numel * sizeof(float));
        o += (size_t)t[i].tensor->numel;
    }
    return r;
}

/* Kept and recomputed steps agree bit for bit. */
static void assert_same_records(const step_record *kept, const step_record *again)
{
    ck_assert_uint_eq(kept->n, again->n);
    for (size_t i = 0; i < kept->n; i++)
        ck_assert_msg(kept->v[i] == again->v[i], "value %zu: %.9g kept, %.9g recomputed", i,
                      (double)kept->v[i], (double)again->v[i]);
}

static step_record supernet_step(const char *recompute)
{
    fx_setup(3, (const char *[]){"init_channels=4", "layers=3", recompute});
    cnas_error err;
    void *s = fx_build(CNAS_SPACE_SUPERNET, NULL, 1, 8, 10, &err);
    ck_assert_ptr_nonnull(s);
    const cnas_choice_point *p;
    int np = fx.vt->choice_points(s, &p);
    cnas_tensor *al[2] = {cnas_tensor_new(CNAS_SHAPE(14, 8), &err),
                          cnas_tensor_new(CNAS_SHAPE(14, 8), &err)};
    int nt = fx.vt->tensors(s, NULL, 0);
    cnas_named_tensor *t = malloc((size_t)nt * sizeof *t);
    ck_assert_int_eq(fx.vt->tensors(s, t, nt), nt);
    for (int k = 0; k < 2; k++) {
        cnas_rng_fill_normal(&fx.rng, al[k]->data, al[k]->numel, 0, 1e-1f);
        cnas_tensor_set_requires_grad(al[k], true);
    }
    for (int i = 0; i < nt; i++)
        cnas_tensor_set_requires_grad(t[i].tensor, t[i].role == CNAS_ROLE_PARAM);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *pn = cnas_softmax(g, al[0]), *pr = cnas_softmax(g, al[1]);
    cnas_mix_weight *mix = calloc((size_t)np, sizeof *mix);
    for (int i = 0; i < np; i++)
        mix[i] = (cnas_mix_weight){strcmp(p[i].share_key, "normal") ? pr : pn, p[i].local_index};
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(4, 1, 8, 8));
    cnas_rng_fill_normal(&fx.rng, x->data, x->numel, 0, 1);
    int32_t y[4] = {1, 2, 3, 4};
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, mix, NULL, true, NULL, 0, NULL};
    cnas_tensor *loss = cnas_cross_entropy(g, fx.vt->forward(s, g, x, &fa), y, 0.0f);
    ck_assert_msg(loss != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_int_eq(cnas_backward(g, loss), CNAS_OK);
    step_record r = record_step(t, nt, g, 2 * 14 * 8);
    size_t o = r.n;
    for (int k = 0; k < 2; k++, o += 14 * 8)
        memcpy(r.v + o, al[k]->grad, 14 * 8 * sizeof(float));
    r.n = o;
    free(t);
    cnas_graph_free(g);
    cnas_tensor_free(al[0]);
    cnas_tensor_free(al[1]);
    free(mix);
    fx.vt->destroy(s);
    fx_teardown();
    return r;
}

START_TEST(test_mixture_gradients_reach_the_architecture_weights)
{
    step_record r = supernet_step("recompute=true");
    double sn = 0, sr = 0; /* the record ends with the normal, then the reduce alphas' gradients */
    for (size_t i = 0; i < 14 * 8; i++) {
        sn += fabs(r.v[r.n - 2 * 14 * 8 + i]);
        sr += fabs(r.v[r.n - 14 * 8 + i]);
    }
    ck_assert_double_gt(sn, 0.0);
    ck_assert_double_gt(sr, 0.0);
    free(r.v);
}
END_TEST

/* Recomputing mixed edges in the backward pass changes nothing but memory: the same
 * gradients bit for bit, running statistics updated once, a smaller arena. */
START_TEST(test_recomputed_edges_give_identical_gradients_in_less_memory)
{
    step_record kept = supernet_step("recompute=false"), again = supernet_step("recompute=true");
    assert_same_records(&kept, &again);
    ck_assert_uint_lt(again.peak, kept.peak / 2);
    free(kept.v);
    free(again.v);
}
END_TEST

/* A stand-alone network's training step (DARTS_V2's cells, drop-path 0.2, auxiliary
 * head): gradients, running statistics and the auxiliary logits, with the arena peak. */
static step_record network_step(const char *recompute)
{
    fx_setup(4, (const char *[]){"init_channels=8", "layers=5", "auxiliary=true", recompute});
    cnas_error err;
    void *sup = fx_build(CNAS_SPACE_SUPERNET, NULL, 3, 32, 10, &err);
    ck_assert_msg(sup != NULL, "%s", err.msg);
    cnas_arch *a = cnas_arch_new(5 * 14, &err);
    ck_assert_int_eq(fx.vt->parse(sup, DARTS_V2, a, &err), CNAS_OK);
    void *net = fx_build(CNAS_SPACE_NETWORK, a, 3, 32, 10, &err);
    ck_assert_msg(net != NULL, "%s", err.msg);
    int nt = fx.vt->tensors(net, NULL, 0);
    cnas_named_tensor *t = malloc((size_t)nt * sizeof *t);
    ck_assert_int_eq(fx.vt->tensors(net, t, nt), nt);
    for (int i = 0; i < nt; i++)
        cnas_tensor_set_requires_grad(t[i].tensor, t[i].role == CNAS_ROLE_PARAM);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_rng r;
    cnas_rng_init(&r, 5, "drop_path");
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(4, 3, 32, 32));
    cnas_rng_fill_normal(&r, x->data, x->numel, 0, 1);
    int32_t y[4] = {1, 2, 3, 4};
    cnas_tensor *aux = NULL;
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, NULL, true, &r, 0.2f, &aux};
    cnas_tensor *logits = fx.vt->forward(net, g, x, &fa);
    ck_assert_msg(logits != NULL && aux != NULL, "%s", cnas_graph_error(g)->msg);
    cnas_tensor *loss = cnas_add(g, cnas_cross_entropy(g, logits, y, 0.0f),
                                 cnas_scale(g, cnas_cross_entropy(g, aux, y, 0.0f), 0.4f));
    ck_assert_msg(loss != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_int_eq(cnas_backward(g, loss), CNAS_OK);
    step_record rec = record_step(t, nt, g, 0);
    free(t);
    cnas_graph_free(g);
    fx.vt->destroy(net);
    fx.vt->destroy(sup);
    cnas_arch_free(a);
    fx_teardown();
    return rec;
}

/* A single path of the supernet with every parameter bound to a step tensor (2·p, as
 * K-shot binds merged weights): the parameters' gradients through the bindings. */
static step_record bound_path_step(const char *recompute)
{
    fx_setup(3, (const char *[]){"init_channels=4", "layers=3", recompute});
    cnas_error err;
    void *s = fx_build(CNAS_SPACE_SUPERNET, NULL, 1, 8, 10, &err);
    ck_assert_ptr_nonnull(s);
    cnas_arch *a = cnas_arch_new(3 * 14, &err);
    cnas_rng r;
    cnas_rng_init(&r, 7, "sample");
    ck_assert_int_eq(fx.vt->sample(s, &r, a, &err), CNAS_OK);
    int nt = fx.vt->tensors(s, NULL, 0);
    cnas_named_tensor *t = malloc((size_t)nt * sizeof *t);
    ck_assert_int_eq(fx.vt->tensors(s, t, nt), nt);
    for (int i = 0; i < nt; i++) {
        cnas_tensor_set_requires_grad(t[i].tensor, t[i].role == CNAS_ROLE_PARAM);
        cnas_tensor_zero_grad(t[i].tensor);
    }
    cnas_graph *g = cnas_graph_new(&err);
    for (int i = 0; i < nt; i++)
        if (t[i].role == CNAS_ROLE_PARAM)
            ck_assert_int_eq(cnas_graph_bind(g, t[i].tensor, cnas_scale(g, t[i].tensor, 2.0f)),
                             CNAS_OK);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(4, 1, 8, 8));
    cnas_rng_fill_normal(&r, x->data, x->numel, 0, 1);
    int32_t y[4] = {1, 2, 3, 4};
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, a, true, NULL, 0, NULL};
    cnas_tensor *loss = cnas_cross_entropy(g, fx.vt->forward(s, g, x, &fa), y, 0.0f);
    ck_assert_msg(loss != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_int_eq(cnas_backward(g, loss), CNAS_OK);
    step_record rec = record_step(t, nt, g, 0);
    free(t);
    cnas_graph_free(g);
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
    return rec;
}

/* Recomputed operations read bound parameters (graph.h): their gradients reach the bound
 * values and on to the parameters exactly as without recomputation. */
START_TEST(test_recomputed_path_with_bound_parameters_gives_identical_gradients)
{
    step_record kept = bound_path_step("recompute=false"), again = bound_path_step("recompute=true");
    assert_same_records(&kept, &again);
    double norm = 0.0;
    for (size_t i = 0; i < kept.n; i++)
        norm += fabs(kept.v[i]);
    ck_assert_double_gt(norm, 0.0);
    free(kept.v);
    free(again.v);
}
END_TEST

/* The same for a stand-alone network (docs/darts.md, Memory): each operation's
 * intermediates are recomputed, drop-path's draws are not repeated. */
START_TEST(test_recomputed_network_gives_identical_gradients_in_less_memory)
{
    step_record kept = network_step("recompute=false"), again = network_step("recompute=true");
    assert_same_records(&kept, &again);
    ck_assert_uint_lt(again.peak, kept.peak / 2);
    free(kept.v);
    free(again.v);
}
END_TEST

START_TEST(test_genotype_round_trip_is_byte_identical)
{
    fx_setup(0, NULL);
    cnas_error err;
    void *s = fx_build(CNAS_SPACE_SUPERNET, NULL, 3, 32, 10, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    cnas_arch *a = cnas_arch_new(8 * 14, &err);
    ck_assert_int_eq(fx.vt->parse(s, DARTS_V2, a, &err), CNAS_OK);
    char text[4096];
    ck_assert_int_eq(fx.vt->format(s, a, text, sizeof text, &err), CNAS_OK);
    ck_assert_str_eq(text, DARTS_V2);
    /* range(2, 6) is accepted and printed back as a list. */
    char ranged[4096];
    snprintf(ranged, sizeof ranged, "%s", DARTS_V2);
    char *c1 = strstr(ranged, "normal_concat=[2, 3, 4, 5]");
    memcpy(c1 + strlen("normal_concat="), "range(2, 6)", 11);
    memmove(c1 + strlen("normal_concat=range(2, 6)"), c1 + strlen("normal_concat=[2, 3, 4, 5]"),
            strlen(c1 + strlen("normal_concat=[2, 3, 4, 5]")) + 1);
    cnas_arch *b = cnas_arch_new(8 * 14, &err);
    ck_assert_msg(fx.vt->parse(s, ranged, b, &err) == CNAS_OK, "%s", err.msg);
    ck_assert(cnas_arch_equal(a, b));
    cnas_arch_free(a);
    cnas_arch_free(b);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_bad_genotypes_are_rejected_with_the_reason)
{
    fx_setup(0, NULL);
    cnas_error err;
    void *s = fx_build(CNAS_SPACE_SUPERNET, NULL, 3, 32, 10, &err);
    cnas_arch *a = cnas_arch_new(8 * 14, &err);
    char bad[4096];
    snprintf(bad, sizeof bad, "%s", DARTS_V2);
    memcpy(strstr(bad, "dil_conv_3x3"), "dil_conv_9x9", 12);
    ck_assert_int_eq(fx.vt->parse(s, bad, a, &err), CNAS_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "dil_conv_9x9"));
    snprintf(bad, sizeof bad, "%s", DARTS_V2);
    memcpy(strstr(bad, "('dil_conv_3x3', 2)"), "('dil_conv_3x3', 7)", 19);
    ck_assert_int_eq(fx.vt->parse(s, bad, a, &err), CNAS_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "inputs 0 to 4"));
    ck_assert_int_eq(fx.vt->parse(s, "Genotype(normal=[('sep_conv_3x3', 0)])", a, &err),
                     CNAS_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "1 pairs, expected 8"));
    ck_assert_int_eq(fx.vt->parse(s, "Genotipe(", a, &err), CNAS_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "offset 0"));
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_derivation_keeps_the_two_strongest_edges_and_ignores_none)
{
    fx_setup(2, (const char *[]){"init_channels=4", "layers=3"});
    cnas_error err;
    void *s = fx_build(CNAS_SPACE_SUPERNET, NULL, 1, 8, 10, &err);
    float probs[42][8];
    const float *rows[42];
    for (int p = 0; p < 42; p++) {
        for (int k = 0; k < 8; k++)
            probs[p][k] = 0.1f;
        probs[p][0] = 0.9f; /* 'none' is the strongest everywhere and must be ignored */
        rows[p] = probs[p];
    }
    /* Normal cell (cell 0), node 5 (edges 9..13): input 3 strongest with dil_conv_5x5 (7),
     * then input 1 with avg_pool_3x3 (2); inputs 0 and 2 tie below and lose. */
    probs[9 + 3][7] = 0.5f;
    probs[9 + 1][2] = 0.4f;
    cnas_arch *a = cnas_arch_new(42, &err);
    ck_assert_int_eq(fx.vt->derive(s, rows, a, &err), CNAS_OK);
    char text[4096];
    ck_assert_int_eq(fx.vt->format(s, a, text, sizeof text, &err), CNAS_OK);
    /* Nodes 2-4 all tie: the lowest two inputs with the first non-none op. */
    ck_assert_str_eq(text,
        "Genotype(normal=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
        "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('max_pool_3x3', 1), ('dil_conv_5x5', 3), "
        "('avg_pool_3x3', 1)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
        "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
        "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])");
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_darts_v2_network_has_the_published_parameter_count)
{
    /* train.py reports "param size = 3.349342MB" for DARTS_V2 at C=36, 20 layers, with
     * the auxiliary head, counting every parameter except the auxiliary head's. */
    fx_setup(3, (const char *[]){"init_channels=36", "layers=20", "auxiliary=true"});
    cnas_error err;
    void *sup = fx_build(CNAS_SPACE_SUPERNET, NULL, 3, 32, 10, &err);
    ck_assert_msg(sup != NULL, "%s", err.msg);
    cnas_arch *a = cnas_arch_new(20 * 14, &err);
    ck_assert_int_eq(fx.vt->parse(sup, DARTS_V2, a, &err), CNAS_OK);
    void *net = fx_build(CNAS_SPACE_NETWORK, a, 3, 32, 10, &err);
    ck_assert_msg(net != NULL, "%s", err.msg);
    int64_t flops, params;
    ck_assert_int_eq(fx.vt->cost(net, NULL, &flops, &params, &err), CNAS_OK);
    ck_assert_int_eq(params, 3349342);
    fx.vt->destroy(net);
    fx.vt->destroy(sup);
    cnas_arch_free(a);
    fx_teardown();
}
END_TEST

START_TEST(test_network_runs_with_auxiliary_head_and_drop_path)
{
    fx_setup(3, (const char *[]){"init_channels=4", "layers=5", "auxiliary=true"});
    cnas_error err;
    void *sup = fx_build(CNAS_SPACE_SUPERNET, NULL, 3, 32, 10, &err);
    cnas_arch *a = cnas_arch_new(5 * 14, &err);
    cnas_rng r;
    cnas_rng_init(&r, 3, "sample");
    ck_assert_int_eq(fx.vt->sample(sup, &r, a, &err), CNAS_OK);
    void *net = fx_build(CNAS_SPACE_NETWORK, a, 3, 32, 10, &err);
    ck_assert_msg(net != NULL, "%s", err.msg);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 32, 32));
    cnas_rng_fill_normal(&r, x->data, x->numel, 0, 1);
    cnas_tensor *aux = NULL;
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, NULL, true, &r, 0.2f, &aux};
    cnas_tensor *logits = fx.vt->forward(net, g, x, &fa);
    ck_assert_msg(logits != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_ptr_nonnull(aux);
    ck_assert_int_eq(aux->shape[1], 10);
    /* The same architecture through the supernet's path mode runs too. */
    fa = (cnas_space_forward_args){sizeof fa, CNAS_FWD_PATH, NULL, a, true, NULL, 0, NULL};
    ck_assert_ptr_nonnull(fx.vt->forward(sup, g, x, &fa));
    cnas_graph_free(g);
    cnas_arch_free(a);
    fx.vt->destroy(net);
    fx.vt->destroy(sup);
    fx_teardown();
}
END_TEST

START_TEST(test_drawings_and_json_are_written)
{
    fx_setup(0, NULL);
    cnas_error err;
    void *s = fx_build(CNAS_SPACE_SUPERNET, NULL, 3, 32, 10, &err);
    cnas_arch *a = cnas_arch_new(8 * 14, &err);
    ck_assert_int_eq(fx.vt->parse(s, DARTS_V2, a, &err), CNAS_OK);
    char dir[] = "/tmp/cnas-dot-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    int n = 0;
    ck_assert_int_eq(fx.vt->write_dot(s, a, dir, &n, &err), CNAS_OK);
    ck_assert_int_eq(n, 2);
    char path[256], line[512];
    snprintf(path, sizeof path, "%s/reduce.dot", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int found = 0;
    while (fgets(line, sizeof line, f))
        found += strstr(line, "\"c_{k-2}\" -> \"0\" [label=\"max_pool_3x3\"") != NULL;
    fclose(f);
    ck_assert_int_eq(found, 1);
    snprintf(path, sizeof path, "%s/arch.json", dir);
    f = fopen(path, "w");
    ck_assert_int_eq(fx.vt->write_json(s, a, f, &err), CNAS_OK);
    fclose(f);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST


/* A candidate's cost at its position is what swapping it into a network changes:
 * FLOPs(net with op b at p) - FLOPs(net with op a at p) = cost(b, p) - cost(a, p). */
START_TEST(test_candidate_costs_add_up_to_the_network_cost)
{
    fx_setup(0, NULL);
    cnas_error err;
    void *sup = fx_build(CNAS_SPACE_SUPERNET, NULL, 3, 32, 10, &err);
    ck_assert_msg(sup != NULL, "%s", err.msg);
    ck_assert(CNAS_VT_HAS(fx.vt, candidate_cost));
    const cnas_choice_point *pts;
    int n = fx.vt->choice_points(sup, &pts);
    cnas_arch *a = cnas_arch_new(n, &err);
    ck_assert_int_eq(fx.vt->parse(sup, DARTS_V2, a, &err), CNAS_OK);
    int p = -1, dil = -1, sep = -1, none = -1;
    for (int i = 0; i < n; i++)
        if (pts[i].instance == 0 && pts[i].local_index == 11)
            p = i;
    for (int c = 0; c < pts[p].n_candidates; c++) {
        dil = strcmp(pts[p].candidates[c], "dil_conv_3x3") == 0 ? c : dil;
        sep = strcmp(pts[p].candidates[c], "sep_conv_5x5") == 0 ? c : sep;
        none = strcmp(pts[p].candidates[c], "none") == 0 ? c : none;
    }
    ck_assert_int_eq(cnas_arch_single(a, p), dil); /* node 5 takes dil_conv_3x3 from node 2 */
    int64_t f1, p1, f2, p2, cf_dil, cp_dil, cf_sep, cp_sep, cf_none, cp_none;
    ck_assert_int_eq(fx.vt->cost(sup, a, &f1, &p1, &err), CNAS_OK);
    a->mask[p] = 1ull << sep;
    ck_assert_int_eq(fx.vt->cost(sup, a, &f2, &p2, &err), CNAS_OK);
    ck_assert_int_eq(fx.vt->candidate_cost(sup, p, dil, &cf_dil, &cp_dil, &err), CNAS_OK);
    ck_assert_int_eq(fx.vt->candidate_cost(sup, p, sep, &cf_sep, &cp_sep, &err), CNAS_OK);
    ck_assert_int_eq(fx.vt->candidate_cost(sup, p, none, &cf_none, &cp_none, &err), CNAS_OK);
    ck_assert(cf_sep > cf_dil && cf_dil > 0);
    ck_assert_int_eq(f2 - f1, cf_sep - cf_dil);
    ck_assert_int_eq(cf_none, 0);
    ck_assert_int_eq(cp_none, 0);
    ck_assert_int_eq(p2 - p1, cp_sep - cp_dil);
    /* C = 16: dil_conv_3x3 holds a 16x1x3x3 depthwise and a 16x16 pointwise kernel and
     * an affine batch norm of 16 channels. */
    ck_assert_int_eq(cp_dil, 16 * 9 + 16 * 16 + 2 * 16);
    ck_assert_int_eq(fx.vt->candidate_cost(sup, n, 0, &cf_dil, &cp_dil, &err), CNAS_ERR_INVALID);
    cnas_arch_free(a);
    fx.vt->destroy(sup);
    fx_teardown();
}
END_TEST


/* SETN's evaluator on the DARTS space samples genotypes from learned weights: every
 * draw is a valid genotype, the log-probability it reports is log_prob's, and the
 * draws follow those probabilities. */
START_TEST(test_weighted_samples_are_valid_genotypes_drawn_with_their_log_probability)
{
    fx_setup(4, (const char *[]){"init_channels=2", "layers=3", "nodes=2",
                                  "candidates=none,skip_connect,sep_conv_3x3"});
    cnas_error err;
    void *s = fx_build(CNAS_SPACE_SUPERNET, NULL, 1, 8, 4, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert(CNAS_VT_HAS(fx.vt, sample_weighted) && CNAS_VT_HAS(fx.vt, log_prob));
    const cnas_choice_point *pts;
    int n = fx.vt->choice_points(s, &pts);
    float *store = malloc((size_t)n * 3 * sizeof *store);
    const float **probs = malloc((size_t)n * sizeof *probs);
    for (int p = 0; p < n; p++) {
        /* Edges from input 0 are unlikely (mostly none); skip beats sep_conv 3:1. */
        float none = pts[p].local_index == 0 || pts[p].local_index == 2 ? 0.8f : 0.2f;
        store[3 * p] = none;
        store[3 * p + 1] = 0.75f * (1 - none);
        store[3 * p + 2] = 0.25f * (1 - none);
        probs[p] = store + 3 * p;
    }
    cnas_rng rng;
    cnas_rng_init(&rng, 9, "test");
    cnas_arch *first = cnas_arch_new(n, &err), *a = cnas_arch_new(n, &err);
    double lp_first, lp, check;
    ck_assert_int_eq(fx.vt->sample_weighted(s, probs, &rng, first, &lp_first, &err), CNAS_OK);
    ck_assert_int_eq(fx.vt->log_prob(s, probs, first, &check, &err), CNAS_OK);
    ck_assert(fabs(check - lp_first) < 1e-9);
    int hits = 0, draws = 4000;
    char text[4096];
    for (int i = 0; i < draws; i++) {
        ck_assert_int_eq(fx.vt->sample_weighted(s, probs, &rng, a, &lp, &err), CNAS_OK);
        ck_assert_msg(fx.vt->format(s, a, text, sizeof text, &err) == CNAS_OK, "%s", err.msg);
        ck_assert(strstr(text, "'none'") == NULL);
        ck_assert_int_eq(fx.vt->log_prob(s, probs, a, &check, &err), CNAS_OK);
        ck_assert(fabs(check - lp) < 1e-9);
        hits += cnas_arch_equal(a, first);
    }
    double expect = exp(lp_first) * draws, sd = sqrt(expect * (1 - exp(lp_first)));
    ck_assert_msg(fabs(hits - expect) < 4 * sd + 1, "%d hits, expected %.1f (sd %.1f)", hits,
                  expect, sd);
    cnas_arch_free(first);
    cnas_arch_free(a);
    free(store);
    free(probs);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("darts_cell");
    TCase *tc = tcase_create("space");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fourteen_edges_are_indexed_as_the_reference_does);
    tcase_add_test(tc, test_reductions_halve_the_size_and_double_the_channels);
    tcase_add_test(tc, test_an_odd_size_at_a_reduction_is_a_clear_error);
    tcase_add_test(tc, test_mixture_gradients_reach_the_architecture_weights);
    tcase_add_test(tc, test_recomputed_edges_give_identical_gradients_in_less_memory);
    tcase_add_test(tc, test_recomputed_network_gives_identical_gradients_in_less_memory);
    tcase_add_test(tc, test_recomputed_path_with_bound_parameters_gives_identical_gradients);
    tcase_add_test(tc, test_genotype_round_trip_is_byte_identical);
    tcase_add_test(tc, test_bad_genotypes_are_rejected_with_the_reason);
    tcase_add_test(tc, test_derivation_keeps_the_two_strongest_edges_and_ignores_none);
    tcase_add_test(tc, test_darts_v2_network_has_the_published_parameter_count);
    tcase_add_test(tc, test_network_runs_with_auxiliary_head_and_drop_path);
    tcase_add_test(tc, test_drawings_and_json_are_written);
    tcase_add_test(tc, test_candidate_costs_add_up_to_the_network_cost);
    tcase_add_test(tc, test_weighted_samples_are_valid_genotypes_drawn_with_their_log_probability);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
