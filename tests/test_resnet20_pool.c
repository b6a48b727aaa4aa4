/* The resnet20_pool space (Balanced Mixture of SuperNets, docs/pooling.md): choice
 * points, the 36 configurations in the reference's order, the [n1,n2,n3] notation
 * and the 0/1 code with exact round trips, rejection of invalid texts, single-path
 * forward at 32x32 and 28x28, batch-norm modes, FLOPs and parameters. The space and
 * its ops are loaded from their built plugins. */
#include "plugin_fixture.h"

#include <stdio.h>
#include <sys/stat.h>
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
    const cnas_plugin_desc *ops = pf_load("RESNET_OPS_SO");
    const cnas_plugin_desc *space = pf_load("RESNET20_POOL_SO");
    fx.comp = pf_component(space, CNAS_KIND_SPACE, "resnet20_pool");
    fx.vt = fx.comp->vtable;
    fx.ops = (cnas_component_list){ops->components, (int)ops->n_components};
    fx.factory = cnas_op_factory_from_list(&fx.ops);
    fx.params = pf_params(fx.comp, n, kv);
    cnas_rng_init(&fx.rng, 1, "init");
}

static void fx_teardown(void)
{
    cnas_params_free(fx.params);
    fx.params = NULL;
}

static cnas_status try_build(cnas_space_build build, const cnas_arch *arch, int c, int h,
                             void **self, cnas_error *err)
{
    cnas_space_create_args a = {sizeof a, fx.params, c, h, h, 10, &fx.factory, &fx.rng, build, arch};
    *self = NULL;
    return fx.vt->create(&a, self, err);
}

static void *build(cnas_space_build b, const cnas_arch *arch, int c, int h)
{
    cnas_error err;
    void *s;
    ck_assert_msg(try_build(b, arch, c, h, &s, &err) == CNAS_OK, "%s", err.msg);
    return s;
}

static cnas_arch *parse(void *s, const char *text)
{
    cnas_error err;
    cnas_arch *a = cnas_arch_new(9, &err);
    ck_assert_msg(fx.vt->parse(s, text, a, &err) == CNAS_OK, "parsing '%s': %s", text, err.msg);
    return a;
}

/* Pooled layers of a 9-point architecture into pos; returns how many. */
static int pooled(const cnas_arch *a, int *pos)
{
    int k = 0;
    for (int p = 0; p < a->n_points; p++) {
        ck_assert_msg(a->mask[p] == 1u || a->mask[p] == 2u, "point %d mask 0x%llx", p,
                      (unsigned long long)a->mask[p]);
        if (a->mask[p] == 2u)
            pos[k++] = p + 1;
    }
    return k;
}

static void format(void *s, const cnas_arch *a, char *buf, size_t n)
{
    cnas_error err;
    ck_assert_msg(fx.vt->format(s, a, buf, n, &err) == CNAS_OK, "%s", err.msg);
}

static cnas_tensor *find_tensor(void *s, const char *name)
{
    static cnas_named_tensor buf[256];
    int n = fx.vt->tensors(s, buf, 256);
    ck_assert_int_le(n, 256);
    for (int i = 0; i < n; i++)
        if (strcmp(buf[i].name, name) == 0)
            return buf[i].tensor;
    return NULL;
}

/* ---- choice points and enumeration ---------------------------------------------------- */

START_TEST(test_choice_points_are_the_nine_blocks_each_kept_or_pooled)
{
    fx_setup(0, NULL);
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 3, 32);
    const cnas_choice_point *p;
    ck_assert_int_eq(fx.vt->choice_points(s, &p), 9);
    for (int i = 0; i < 9; i++) {
        char name[16];
        snprintf(name, sizeof name, "layer%d", i + 1);
        ck_assert_str_eq(p[i].name, name);
        ck_assert_str_eq(p[i].share_key, "layer");
        ck_assert_int_eq(p[i].instance, i + 1);
        ck_assert_int_eq(p[i].local_index, i);
        ck_assert_int_eq(p[i].n_candidates, 2);
        ck_assert_str_eq(p[i].candidates[0], "keep");
        ck_assert_str_eq(p[i].candidates[1], "pool");
    }
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_enumeration_yields_exactly_36_distinct_valid_configurations)
{
    fx_setup(0, NULL);
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 3, 32);
    ck_assert_int_eq(fx.vt->enumerate_count(s), 36);
    cnas_error err;
    cnas_arch *all[36];
    int seen[10][10] = {{0}};
    for (int i = 0; i < 36; i++) {
        all[i] = cnas_arch_new(9, &err);
        ck_assert_msg(fx.vt->enumerate(s, i, all[i], &err) == CNAS_OK, "%s", err.msg);
        int pos[9];
        ck_assert_int_eq(pooled(all[i], pos), 2);
        ck_assert_int_lt(pos[0], pos[1]);
        seen[pos[0]][pos[1]]++;
        for (int j = 0; j < i; j++)
            ck_assert_msg(!cnas_arch_equal(all[i], all[j]), "configurations %d and %d are equal",
                          i, j);
    }
    /* Every pair of layers 1..9 exactly once: C(9, 2) = 36. */
    for (int a = 1; a <= 9; a++)
        for (int b = a + 1; b <= 9; b++)
            ck_assert_int_eq(seen[a][b], 1);
    /* The reference's order, itertools.combinations(range(9), 2): [1,1,8] first. */
    char t[64];
    format(s, all[0], t, sizeof t);
    ck_assert_str_eq(t, "[1,1,8]");
    format(s, all[1], t, sizeof t);
    ck_assert_str_eq(t, "[1,2,7]");
    format(s, all[8], t, sizeof t);
    ck_assert_str_eq(t, "[2,1,7]");
    format(s, all[35], t, sizeof t);
    ck_assert_str_eq(t, "[8,1,1]");
    cnas_arch *x = cnas_arch_new(9, &err);
    ck_assert_int_eq(fx.vt->enumerate(s, 36, x, &err), CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "index 36") && strstr(err.msg, "0 to 35"), "%s", err.msg);
    ck_assert_int_eq(fx.vt->enumerate(s, -1, x, &err), CNAS_ERR_INVALID);
    cnas_arch_free(x);
    for (int i = 0; i < 36; i++)
        cnas_arch_free(all[i]);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_4_3_3_is_the_standard_resnet20_pooling_before_layers_4_and_7)
{
    fx_setup(0, NULL);
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 3, 32);
    cnas_arch *a = parse(s, "[4,3,3]");
    int pos[9];
    ck_assert_int_eq(pooled(a, pos), 2);
    ck_assert_int_eq(pos[0], 4);
    ck_assert_int_eq(pos[1], 7);
    /* The reference's default path string, and its index in the enumeration. */
    cnas_arch *code = parse(s, "0,0,0,0,1,0,0,1,0,0");
    ck_assert(cnas_arch_equal(a, code));
    cnas_error err;
    cnas_arch *e = cnas_arch_new(9, &err);
    ck_assert_int_eq(fx.vt->enumerate(s, 23, e, &err), CNAS_OK);
    ck_assert(cnas_arch_equal(a, e));
    /* Its network: 32x32 through layers 0-3, 16x16 through 4-6, 8x8 through 7-9, with
     * projections where the width doubles (layers 4 and 7). */
    void *net = build(CNAS_SPACE_NETWORK, a, 3, 32);
    cnas_tensor *p4 = find_tensor(net, "res.4.0.downsample.0.weight");
    cnas_tensor *p7 = find_tensor(net, "res.7.0.downsample.0.weight");
    ck_assert_ptr_nonnull(p4);
    ck_assert_ptr_nonnull(p7);
    ck_assert_int_eq(p4->shape[0], 32);
    ck_assert_int_eq(p4->shape[1], 16);
    ck_assert_int_eq(p7->shape[0], 64);
    ck_assert_int_eq(p7->shape[1], 32);
    ck_assert_ptr_null(find_tensor(net, "res.5.0.downsample.0.weight"));
    ck_assert_int_eq(find_tensor(net, "res.0.conv.weight")->shape[1], 3);
    ck_assert_int_eq(find_tensor(net, "fc.weight")->shape[1], 64);
    FILE *f = tmpfile();
    ck_assert_int_eq(fx.vt->write_json(net, a, f, &err), CNAS_OK);
    char json[2048] = {0};
    rewind(f);
    ck_assert_uint_gt(fread(json, 1, sizeof json - 1, f), 0);
    fclose(f);
    ck_assert_msg(strstr(json, "\"code\": \"0,0,0,0,1,0,0,1,0,0\"") &&
                      strstr(json, "\"pool_before\": [4, 7]") &&
                      strstr(json, "[32, 32], [32, 32], [32, 32], [32, 32], [16, 16], [16, 16], "
                                   "[16, 16], [8, 8], [8, 8], [8, 8]"), "%s", json);
    fx.vt->destroy(net);
    cnas_arch_free(a);
    cnas_arch_free(code);
    cnas_arch_free(e);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

/* ---- notation --------------------------------------------------------------------------- */

START_TEST(test_both_notations_round_trip_for_every_configuration)
{
    fx_setup(0, NULL);
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 3, 32);
    cnas_error err;
    cnas_arch *a = cnas_arch_new(9, &err);
    for (int i = 0; i < 36; i++) {
        ck_assert_int_eq(fx.vt->enumerate(s, i, a, &err), CNAS_OK);
        char blocks[64], code[64], digits[16], tuple[64];
        format(s, a, blocks, sizeof blocks);
        int pos[9];
        pooled(a, pos);
        /* [n1,n2,n3] from the pooled layers, written independently of the space. */
        char want[64];
        snprintf(want, sizeof want, "[%d,%d,%d]", pos[0], pos[1] - pos[0], 10 - pos[1]);
        ck_assert_str_eq(blocks, want);
        size_t o = 0, t = (size_t)snprintf(tuple, sizeof tuple, "(");
        for (int c = 0; c < 10; c++) {
            int bit = c == pos[0] || c == pos[1];
            o += (size_t)snprintf(code + o, sizeof code - o, "%s%d", c ? "," : "", bit);
            digits[c] = (char)('0' + bit);
            t += (size_t)snprintf(tuple + t, sizeof tuple - t, "%s%d", c ? ", " : "", bit);
        }
        digits[10] = '\0';
        snprintf(tuple + t, sizeof tuple - t, ")");
        const char *texts[4] = {blocks, code, digits, tuple};
        for (int k = 0; k < 4; k++) {
            cnas_arch *b = parse(s, texts[k]);
            ck_assert_msg(cnas_arch_equal(a, b), "'%s' does not give configuration %d", texts[k], i);
            cnas_arch_free(b);
        }
    }
    /* Spaces and a list form of the code are fine too. */
    cnas_arch *b = parse(s, "  [ 4 , 3 , 3 ]  ");
    cnas_arch *c = parse(s, "[0, 0, 0, 0, 1, 0, 0, 1, 0, 0]");
    ck_assert(cnas_arch_equal(b, c));
    cnas_arch_free(b);
    cnas_arch_free(c);
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

static void expect_rejected(void *s, const char *text, const char *fragment)
{
    cnas_error err;
    cnas_arch *a = cnas_arch_new(9, &err);
    ck_assert_msg(fx.vt->parse(s, text, a, &err) == CNAS_ERR_INVALID, "'%s' was accepted", text);
    ck_assert_msg(strstr(err.msg, "resnet20_pool") && strstr(err.msg, fragment),
                  "'%s': message '%s' lacks '%s'", text, err.msg, fragment);
    cnas_arch_free(a);
}

START_TEST(test_invalid_notations_are_rejected_with_messages_saying_what_is_expected)
{
    fx_setup(0, NULL);
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 3, 32);
    expect_rejected(s, "[4,3,2]", "sum to 9, expected 10");
    expect_rejected(s, "[4,6]", "2 block counts, expected 3");
    expect_rejected(s, "[2,2,2,4]", "4 block counts, expected 3");
    expect_rejected(s, "1,0,0,0,1,0,0,0,0,0", "layer 0 is pooled");
    expect_rejected(s, "0,0,0,0,1,0,0,0,0,0", "pools 1 layers, expected exactly 2");
    expect_rejected(s, "0,1,1,1,0,0,0,0,0,0", "pools 3 layers, expected exactly 2");
    expect_rejected(s, "0,0,2,0,1,0,0,0,0,0", "entry 2 is 2");
    expect_rejected(s, "0,0,0,1,0,0,1,0,0", "9 entries, expected one per layer (10)");
    expect_rejected(s, "normal", "expected [n1,...,n3]");
    expect_rejected(s, "[4,3,3", "missing ']'");
    expect_rejected(s, "[4,3,3] and more", "unexpected text");
    expect_rejected(s, "[]", "no numbers");
    expect_rejected(s, "[4,-3,9]", "unexpected '-'");
    /* An architecture that is not a placement is refused by every consumer. */
    cnas_error err;
    cnas_arch *a = cnas_arch_new(9, &err);
    for (int p = 0; p < 9; p++)
        a->mask[p] = 1u;
    a->mask[2] = 3u;
    char buf[64];
    ck_assert_int_eq(fx.vt->format(s, a, buf, sizeof buf, &err), CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "layer 3 selects candidate mask 0x3"), "%s", err.msg);
    a->mask[2] = 1u;
    void *net;
    ck_assert_int_eq(try_build(CNAS_SPACE_NETWORK, a, 3, 32, &net, &err), CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "pools 0 layers, expected exactly 2"), "%s", err.msg);
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

/* ---- forward ---------------------------------------------------------------------------- */

static void check_forward(void *s, const cnas_arch *a, int c, int h, bool training)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_graph_set_grad_enabled(g, training);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, c, h, h));
    cnas_rng_fill_normal(&fx.rng, x->data, x->numel, 0, 1);
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, a, training, NULL, 0, NULL};
    cnas_tensor *y = fx.vt->forward(s, g, x, &fa);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_int_eq(y->ndim, 2);
    ck_assert_int_eq(y->shape[0], 2);
    ck_assert_int_eq(y->shape[1], 10);
    for (int64_t i = 0; i < y->numel; i++)
        ck_assert(isfinite(y->data[i]));
    cnas_graph_free(g);
}

START_TEST(test_single_path_forward_gives_logits_at_32x32_and_28x28)
{
    fx_setup(0, NULL);
    const char *archs[3] = {"[1,1,8]", "[4,3,3]", "[8,1,1]"};
    void *s32 = build(CNAS_SPACE_SUPERNET, NULL, 3, 32);
    void *s28 = build(CNAS_SPACE_SUPERNET, NULL, 1, 28);
    for (int i = 0; i < 3; i++) {
        cnas_arch *a = parse(s32, archs[i]);
        check_forward(s32, a, 3, 32, true);
        check_forward(s28, a, 1, 28, false);
        void *net = build(CNAS_SPACE_NETWORK, a, 1, 28);
        check_forward(net, NULL, 1, 28, true);
        check_forward(net, NULL, 1, 28, false);
        fx.vt->destroy(net);
        cnas_arch_free(a);
    }
    /* Mixing keep and pool is meaningless (different resolutions): refused. */
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_zeros(g, CNAS_SHAPE(2, 3, 32, 32));
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, NULL, NULL, true, NULL, 0, NULL};
    ck_assert_ptr_null(fx.vt->forward(s32, g, x, &fa));
    ck_assert_int_eq(cnas_graph_status(g), CNAS_ERR_UNSUPPORTED);
    cnas_graph_reset(g);
    fa.mode = CNAS_FWD_PATH;
    ck_assert_ptr_null(fx.vt->forward(s32, g, x, &fa));
    ck_assert_msg(strstr(cnas_graph_error(g)->msg, "needs an architecture"), "%s",
                  cnas_graph_error(g)->msg);
    cnas_graph_reset(g);
    x = cnas_graph_zeros(g, CNAS_SHAPE(2, 1, 32, 32));
    cnas_arch *a = parse(s32, "[4,3,3]");
    fa.arch = a;
    ck_assert_ptr_null(fx.vt->forward(s32, g, x, &fa));
    ck_assert_msg(strstr(cnas_graph_error(g)->msg, "input [2, 1, 32, 32], expected [N, 3, H, W]"),
                  "%s", cnas_graph_error(g)->msg);
    cnas_arch_free(a);
    cnas_graph_free(g);
    fx.vt->destroy(s32);
    fx.vt->destroy(s28);
    fx_teardown();
}
END_TEST

START_TEST(test_supernet_batch_norms_are_non_affine_and_use_batch_statistics)
{
    fx_setup(1, (const char *[]){"channels=4,4,4,4,8,8,8,16,16,16"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 3, 16);
    cnas_named_tensor t[256];
    int n = fx.vt->tensors(s, t, 256);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(t[i].role, CNAS_ROLE_PARAM);
        ck_assert_msg(!strstr(t[i].name, "bn") && !strstr(t[i].name, "downsample.1"),
                      "supernet tensor %s", t[i].name);
    }
    cnas_arch *a = parse(s, "[2,5,3]");
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(4, 3, 16, 16));
    cnas_rng_fill_normal(&fx.rng, x->data, x->numel, 0.5f, 2);
    cnas_space_forward_args tr = {sizeof tr, CNAS_FWD_PATH, NULL, a, true, NULL, 0, NULL};
    cnas_space_forward_args ev = tr;
    ev.training = false;
    cnas_tensor *yt = fx.vt->forward(s, g, x, &tr), *ye = fx.vt->forward(s, g, x, &ev);
    ck_assert_ptr_nonnull(yt);
    ck_assert_ptr_nonnull(ye);
    ck_assert_mem_eq(yt->data, ye->data, cnas_tensor_bytes(yt));
    /* The stand-alone network has affine BN with running statistics. */
    void *net = build(CNAS_SPACE_NETWORK, a, 3, 16);
    ck_assert_ptr_nonnull(find_tensor(net, "res.0.bn.weight"));
    ck_assert_ptr_nonnull(find_tensor(net, "res.3.0.bn2.running_var"));
    ck_assert_ptr_nonnull(find_tensor(net, "res.4.0.downsample.1.bias"));
    cnas_graph_free(g);
    fx.vt->destroy(net);
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

/* ---- cost ------------------------------------------------------------------------------------ */

START_TEST(test_flops_and_params_of_the_standard_resnet20_match_a_hand_count)
{
    fx_setup(0, NULL);
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 3, 32);
    cnas_arch *a = parse(s, "[4,3,3]");
    int64_t flops, params;
    cnas_error err;
    ck_assert_msg(fx.vt->cost(s, a, &flops, &params, &err) == CNAS_OK, "%s", err.msg);
    /* Parameters of the stand-alone network (affine BN):
     *   convs  3·16·9 + 3·(2·16·16·9) + (16·32·9 + 32·32·9 + 16·32) + 2·(2·32·32·9)
     *          + (32·64·9 + 64·64·9 + 32·64) + 2·(2·64·64·9)          = 270256
     *   BN     2·(16 + 3·2·16 + 3·32 + 2·2·32 + 3·64 + 2·2·64)          =   1568
     *   fc     64·10 + 10                                              =    650 */
    ck_assert_int_eq(params, 272474);
    /* MACs of one 3x32x32 image (BN one per element, max pool 4 per output):
     *   layer 0        3->16 at 32x32: 16·1024·27 + 16·1024                =   458752
     *   layers 1-3     2·16·1024·144 + 2·16·1024, three times              = 14254080
     *   pool           16·16·16·4                                          =    16384
     *   layer 4        32·256·144 + 32·256·288 + 32·256·16 + 3·32·256      =  3694592
     *   layers 5, 6    2·32·256·288 + 2·32·256, twice                      =  9469952
     *   pool           32·8·8·4                                            =     8192
     *   layer 7        64·64·288 + 64·64·576 + 64·64·32 + 3·64·64          =  3682304
     *   layers 8, 9    2·64·64·576 + 2·64·64, twice                        =  9453568
     *   fc             64·10                                               =      640 */
    ck_assert_int_eq(flops, 41038464);
    /* Pools later cost more; the widths, hence the parameters, never change. */
    cnas_arch *early = parse(s, "[1,1,8]"), *late = parse(s, "[8,1,1]");
    int64_t f_early, f_late, p2;
    ck_assert_int_eq(fx.vt->cost(s, early, &f_early, &p2, &err), CNAS_OK);
    ck_assert_int_eq(p2, 272474);
    ck_assert_int_eq(fx.vt->cost(s, late, &f_late, &p2, &err), CNAS_OK);
    ck_assert_int_lt(f_early, flops);
    ck_assert_int_gt(f_late, flops);
    /* The network of [4,3,3] reports the same numbers about itself. */
    void *net = build(CNAS_SPACE_NETWORK, a, 3, 32);
    ck_assert_int_eq(fx.vt->cost(net, NULL, &f_early, &p2, &err), CNAS_OK);
    ck_assert_int_eq(f_early, 41038464);
    ck_assert_int_eq(p2, 272474);
    /* The supernet itself trains no BN scale or shift. */
    ck_assert_int_eq(fx.vt->cost(s, NULL, &f_early, &p2, &err), CNAS_OK);
    ck_assert_int_eq(p2, 272474 - 1568);
    fx.vt->destroy(net);
    cnas_arch_free(a);
    cnas_arch_free(early);
    cnas_arch_free(late);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

/* ---- sampling, derivation, drawings, keys ------------------------------------------------------ */

START_TEST(test_sampling_yields_only_valid_configurations_and_reaches_all_36)
{
    fx_setup(0, NULL);
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 3, 32);
    cnas_error err;
    cnas_arch *a = cnas_arch_new(9, &err);
    cnas_rng r;
    cnas_rng_init(&r, 3, "sample");
    int hits[10][10] = {{0}};
    for (int i = 0; i < 1800; i++) {
        ck_assert_int_eq(fx.vt->sample(s, &r, a, &err), CNAS_OK);
        int pos[9];
        ck_assert_int_eq(pooled(a, pos), 2);
        hits[pos[0]][pos[1]]++;
    }
    /* 50 expected per configuration. */
    for (int x = 1; x <= 9; x++)
        for (int y = x + 1; y <= 9; y++)
            ck_assert_msg(hits[x][y] >= 20 && hits[x][y] <= 90, "pools (%d, %d) drawn %d times",
                          x, y, hits[x][y]);
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_derive_pools_the_two_layers_with_the_largest_pool_weight)
{
    fx_setup(0, NULL);
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 3, 32);
    float w[9][2];
    const float *probs[9];
    for (int p = 0; p < 9; p++) {
        w[p][0] = 0.7f;
        w[p][1] = 0.3f;
        probs[p] = w[p];
    }
    w[5][1] = 0.9f; /* layer 6 */
    w[1][1] = 0.6f; /* layer 2 */
    cnas_error err;
    cnas_arch *a = cnas_arch_new(9, &err);
    ck_assert_int_eq(fx.vt->derive(s, probs, a, &err), CNAS_OK);
    char t[32];
    format(s, a, t, sizeof t);
    ck_assert_str_eq(t, "[2,4,4]");
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_drawing_shows_each_layer_and_the_pools_before_them)
{
    fx_setup(0, NULL);
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 1, 28);
    cnas_arch *a = parse(s, "[5,3,2]");
    char dir[] = "/tmp/cnas_rp_dot_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    int n = 0;
    cnas_error err;
    ck_assert_msg(fx.vt->write_dot(s, a, dir, &n, &err) == CNAS_OK, "%s", err.msg);
    ck_assert_int_eq(n, 1);
    char path[256], text[8192] = {0};
    snprintf(path, sizeof path, "%s/network.dot", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_gt(fread(text, 1, sizeof text - 1, f), 0);
    fclose(f);
    ck_assert_msg(strstr(text, "pool5 -> layer5") && strstr(text, "pool8 -> layer8") &&
                      strstr(text, "layer 5: basic block\\n32 ch, 14x14") &&
                      strstr(text, "layer 8: basic block\\n64 ch, 7x7") &&
                      !strstr(text, "pool4"), "%s", text);
    unlink(path);
    rmdir(dir);
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_keys_set_the_widths_and_the_number_of_pools)
{
    fx_setup(2, (const char *[]){"channels=2,2,4,4,8", "pools=1"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 1, 8);
    const cnas_choice_point *p;
    ck_assert_int_eq(fx.vt->choice_points(s, &p), 4);
    ck_assert_int_eq(fx.vt->enumerate_count(s), 4);
    cnas_error err;
    cnas_arch *a = cnas_arch_new(4, &err);
    ck_assert_int_eq(fx.vt->enumerate(s, 2, a, &err), CNAS_OK);
    char t[32];
    format(s, a, t, sizeof t);
    ck_assert_str_eq(t, "[3,2]");
    ck_assert_int_eq(fx.vt->parse(s, "0,0,0,1,0", a, &err), CNAS_OK);
    format(s, a, t, sizeof t);
    ck_assert_str_eq(t, "[3,2]");
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();

    /* Three pools of a 4x4 input would leave nothing. */
    fx_setup(1, (const char *[]){"pools=3"});
    void *bad;
    ck_assert_int_eq(try_build(CNAS_SPACE_SUPERNET, NULL, 1, 4, &bad, &err), CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "3 2x2 pools need H, W >= 8"), "%s", err.msg);
    fx_teardown();
    fx_setup(2, (const char *[]){"channels=4,4,4", "pools=3"});
    ck_assert_int_eq(try_build(CNAS_SPACE_SUPERNET, NULL, 1, 32, &bad, &err), CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "'pools' = 3, expected 0 to 2"), "%s", err.msg);
    fx_teardown();
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("resnet20_pool");
    TCase *en = tcase_create("enumeration");
    tcase_add_test(en, test_choice_points_are_the_nine_blocks_each_kept_or_pooled);
    tcase_add_test(en, test_enumeration_yields_exactly_36_distinct_valid_configurations);
    tcase_add_test(en, test_4_3_3_is_the_standard_resnet20_pooling_before_layers_4_and_7);
    suite_add_tcase(s, en);
    TCase *no = tcase_create("notation");
    tcase_add_test(no, test_both_notations_round_trip_for_every_configuration);
    tcase_add_test(no, test_invalid_notations_are_rejected_with_messages_saying_what_is_expected);
    suite_add_tcase(s, no);
    TCase *fw = tcase_create("forward");
    tcase_set_timeout(fw, 120);
    tcase_add_test(fw, test_single_path_forward_gives_logits_at_32x32_and_28x28);
    tcase_add_test(fw, test_supernet_batch_norms_are_non_affine_and_use_batch_statistics);
    suite_add_tcase(s, fw);
    TCase *co = tcase_create("cost");
    tcase_add_test(co, test_flops_and_params_of_the_standard_resnet20_match_a_hand_count);
    suite_add_tcase(s, co);
    TCase *mi = tcase_create("misc");
    tcase_add_test(mi, test_sampling_yields_only_valid_configurations_and_reaches_all_36);
    tcase_add_test(mi, test_derive_pools_the_two_layers_with_the_largest_pool_weight);
    tcase_add_test(mi, test_drawing_shows_each_layer_and_the_pools_before_them);
    tcase_add_test(mi, test_keys_set_the_widths_and_the_number_of_pools);
    suite_add_tcase(s, mi);
    return s;
}

CNAS_TEST_MAIN(make_suite)
