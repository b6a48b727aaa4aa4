/* The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020; docs/nb201.md) and its op set:
 * nb201_ops' components (shapes, parameters, FLOPs, the residual block's composition,
 * finite-difference gradients), then the space: choice points shared by every cell, the
 * enumeration in Structure.gen_all's and in the benchmark's index order, the benchmark's
 * string with an exact round trip and rejection of bad strings, hand-counted parameters and
 * FLOPs of stand-alone networks, the benchmark's parameter count at C = 16, N = 5, mixture
 * and path forwards, candidate costs, derivation, sampling, JSON and drawings. The plugins
 * (nb201_ops, darts_ops for none / skip_connect / avg_pool_3x3, nb201_cell) are loaded from
 * their built files. */
#include "plugin_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The architecture of the benchmark's documentation (docs/NAS-Bench-201.md). */
static const char *const DOC_ARCH =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
/* The ResNet-like cell named in the benchmark's paper. */
static const char *const RESNET_ARCH =
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|";
static const char *const ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|";
static const char *const ALL_AVG =
    "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|";
static const char *const ALL_CONV3 =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";

/* ---- plugins and an op factory over two op plugins ------------------------------------- */

typedef struct fixture {
    const cnas_plugin_desc *nb_ops, *darts_ops, *space;
    const cnas_space_vtable *vt;
    const cnas_component *comp;
    cnas_op_factory factory;
    cnas_params *params;
    cnas_rng rng;
} fixture;

static fixture fx;

/* "plugin/name" looks in that plugin only; a short name must be unique across both, as
 * the host's registry requires. */
static cnas_status two_plugin_create(void *ctx, const char *name, const cnas_op_args *args,
                                     const char *const *keys, const char *const *values, int n_kv,
                                     const cnas_op_vtable **vt, void **self, cnas_error *err)
{
    const fixture *f = ctx;
    const cnas_plugin_desc *plugins[2] = {f->nb_ops, f->darts_ops};
    const char *slash = strchr(name, '/');
    const char *shortname = slash ? slash + 1 : name;
    const cnas_component *found = NULL;
    for (int i = 0; i < 2; i++) {
        const cnas_plugin_desc *d = plugins[i];
        if (slash && (strlen(d->name) != (size_t)(slash - name) ||
                      strncmp(d->name, name, (size_t)(slash - name)) != 0))
            continue;
        for (uint32_t c = 0; c < d->n_components; c++)
            if (d->components[c].kind == CNAS_KIND_OP &&
                strcmp(d->components[c].name, shortname) == 0) {
                if (found)
                    return cnas_error_set(err, CNAS_ERR_CONFIG, "op '%s' is ambiguous", name);
                found = &d->components[c];
            }
    }
    if (!found)
        return cnas_error_set(err, CNAS_ERR_NOT_FOUND, "no op component named '%s'", name);
    return cnas_op_component_create(found, args, keys, values, n_kv, vt, self, err);
}

static void load_plugins(void)
{
    fx.nb_ops = pf_load("NB201_OPS_SO");
    fx.darts_ops = pf_load("DARTS_OPS_SO");
    fx.space = pf_load("NB201_CELL_SO");
    fx.comp = pf_component(fx.space, CNAS_KIND_SPACE, "nb201_cell");
    fx.vt = fx.comp->vtable;
    fx.factory = (cnas_op_factory){sizeof(cnas_op_factory), &fx, two_plugin_create};
}

static void fx_setup(int n, const char *const *kv)
{
    load_plugins();
    fx.params = pf_params(fx.comp, n, kv);
    cnas_rng_init(&fx.rng, 1, "init");
}

static void fx_teardown(void)
{
    cnas_params_free(fx.params);
    fx.params = NULL;
}

static cnas_status try_build(cnas_space_build b, const cnas_arch *arch, int h, int classes,
                             void **self, cnas_error *err)
{
    cnas_space_create_args a = {sizeof a, fx.params, 3, h, h, classes, &fx.factory, &fx.rng,
                                b, arch};
    *self = NULL;
    return fx.vt->create(&a, self, err);
}

static void *build(cnas_space_build b, const cnas_arch *arch, int h, int classes)
{
    cnas_error err;
    void *s;
    ck_assert_msg(try_build(b, arch, h, classes, &s, &err) == CNAS_OK, "%s", err.msg);
    return s;
}

static int n_points(void *s)
{
    const cnas_choice_point *p;
    return fx.vt->choice_points(s, &p);
}

static cnas_arch *parse(void *s, const char *text)
{
    cnas_error err;
    cnas_arch *a = cnas_arch_new(n_points(s), &err);
    ck_assert_msg(fx.vt->parse(s, text, a, &err) == CNAS_OK, "parsing '%s': %s", text, err.msg);
    return a;
}

static void format(void *s, const cnas_arch *a, char *buf, size_t n)
{
    cnas_error err;
    ck_assert_msg(fx.vt->format(s, a, buf, n, &err) == CNAS_OK, "%s", err.msg);
}

static cnas_tensor *find_tensor(void *s, const char *name)
{
    int n = fx.vt->tensors(s, NULL, 0);
    cnas_named_tensor *t = malloc((size_t)n * sizeof *t);
    ck_assert_int_eq(fx.vt->tensors(s, t, n), n);
    cnas_tensor *found = NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            found = t[i].tensor;
    free(t);
    return found;
}

/* ---- the op plugin ------------------------------------------------------------------------ */

typedef struct op {
    const cnas_op_vtable *vt;
    void *self;
    cnas_rng rng;
} op;

static op make_op(const char *name, int c_in, int c_out, int stride, bool affine, bool track)
{
    op o;
    cnas_error err;
    cnas_rng_init(&o.rng, 7, "init");
    cnas_op_args a = {sizeof a, c_in, c_out, stride, affine, track, &o.rng};
    const cnas_component *c = pf_component(fx.nb_ops, CNAS_KIND_OP, name);
    ck_assert_msg(cnas_op_component_create(c, &a, NULL, NULL, 0, &o.vt, &o.self, &err) == CNAS_OK,
                  "creating %s: %s", name, err.msg);
    return o;
}

static void drop(op *o)
{
    o->vt->destroy(o->self);
}

static int64_t op_params(const op *o)
{
    cnas_named_tensor t[32];
    int n = o->vt->tensors(o->self, t, 32);
    int64_t p = 0;
    for (int i = 0; i < n; i++)
        if (t[i].role == CNAS_ROLE_PARAM)
            p += t[i].tensor->numel;
    return p;
}

static cnas_tensor *op_tensor(const op *o, const char *name)
{
    cnas_named_tensor t[32];
    int n = o->vt->tensors(o->self, t, 32);
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return t[i].tensor;
    return NULL;
}

static cnas_tensor *op_forward(op *o, cnas_graph *g, cnas_tensor *x, bool training)
{
    cnas_op_forward_ctx ctx = {sizeof ctx, training, NULL};
    return o->vt->forward(o->self, g, x, &ctx);
}

/* A persistent [n, c, h, w] tensor of distinct values ±(0.05 + 0.025·m), shuffled: no two
 * within 0.025 of each other, none within 0.05 of zero (gradient checks stay off kinks). */
static cnas_tensor *spaced_input(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed)
{
    cnas_error err;
    cnas_tensor *x = cnas_tensor_new(CNAS_SHAPE(n, c, h, w), &err);
    ck_assert_ptr_nonnull(x);
    int64_t *idx = malloc((size_t)x->numel * sizeof *idx);
    for (int64_t i = 0; i < x->numel; i++)
        idx[i] = i;
    cnas_rng r;
    cnas_rng_init(&r, seed, "test");
    cnas_rng_shuffle(&r, idx, x->numel);
    for (int64_t i = 0; i < x->numel; i++) {
        float mag = 0.05f + 0.025f * (float)(idx[i] / 2);
        x->data[i] = idx[i] % 2 ? -mag : mag;
    }
    free(idx);
    return x;
}

START_TEST(test_op_plugin_lists_its_ops_under_names_no_other_op_set_uses)
{
    load_plugins();
    const char *names[] = {"nor_conv_1x1", "nor_conv_3x3", "nb201_resblock"};
    ck_assert_str_eq(fx.nb_ops->name, "nb201_ops");
    ck_assert_uint_eq(fx.nb_ops->n_components, 3);
    for (int i = 0; i < 3; i++) {
        const cnas_component *c = pf_component(fx.nb_ops, CNAS_KIND_OP, names[i]);
        const cnas_op_vtable *vt = c->vtable;
        ck_assert(vt->create && vt->destroy && vt->forward && vt->tensors && vt->flops);
    }
    /* The host resolves short names only while unique: none of these may be a darts_ops
     * name, or darts_cell's unqualified candidates would become ambiguous. */
    for (uint32_t i = 0; i < fx.nb_ops->n_components; i++)
        for (uint32_t j = 0; j < fx.darts_ops->n_components; j++)
            ck_assert_str_ne(fx.nb_ops->components[i].name, fx.darts_ops->components[j].name);
}
END_TEST

START_TEST(test_ops_give_the_reference_shapes_parameters_and_tensor_names)
{
    load_plugins();
    /* Hand counts (cell_operations.py): ReLUConvBN has conv C_out·C_in·k² (plus a C_out bias
     * when not affine, Conv2d(bias = not affine)) and an affine BN 2·C_out. */
    static const struct {
        const char *name;
        int c_in, c_out, stride;
        bool affine;
        int64_t params;
        int64_t out_hw; /* on 6x6 */
    } cases[] = {
        {"nor_conv_3x3", 4, 6, 1, true, 6 * 4 * 9 + 2 * 6, 6},           /* 228 */
        {"nor_conv_3x3", 4, 6, 2, false, 6 * 4 * 9 + 6, 3},              /* 222: bias, no BN params */
        {"nor_conv_1x1", 4, 6, 1, true, 6 * 4 + 2 * 6, 6},               /* 36 */
        {"nor_conv_1x1", 4, 6, 2, false, 6 * 4 + 6, 3},                  /* 30 */
        /* conv_a 8·4·9 + 16, conv_b 8·8·9 + 16, shortcut 1x1 8·4 (no BN) */
        {"nb201_resblock", 4, 8, 2, true, 288 + 16 + 576 + 16 + 32, 3},  /* 928 */
        /* stride 1, widening: shortcut ReLUConvBN 1x1 8·4 + 16 */
        {"nb201_resblock", 4, 8, 1, true, 288 + 16 + 576 + 16 + 48, 6},  /* 944 */
        /* stride 1, same width: identity shortcut */
        {"nb201_resblock", 8, 8, 1, true, 576 + 16 + 576 + 16, 6},       /* 1184 */
    };
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op o = make_op(cases[i].name, cases[i].c_in, cases[i].c_out, cases[i].stride,
                       cases[i].affine, true);
        ck_assert_msg(op_params(&o) == cases[i].params, "%s case %zu: %lld parameters, expected "
                      "%lld", cases[i].name, i, (long long)op_params(&o),
                      (long long)cases[i].params);
        cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, cases[i].c_in, 6, 6));
        cnas_rng_fill_uniform(&o.rng, x->data, x->numel, -1, 1);
        cnas_tensor *y = op_forward(&o, g, x, true);
        ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
        ck_assert(y->shape[0] == 2 && y->shape[1] == cases[i].c_out &&
                  y->shape[2] == cases[i].out_hw && y->shape[3] == cases[i].out_hw);
        int64_t in[4] = {2, cases[i].c_in, 6, 6}, out[4];
        ck_assert_int_gt(o.vt->flops(o.self, in, out), 0);
        for (int d = 0; d < 4; d++)
            ck_assert_int_eq(out[d], y->shape[d]);
        drop(&o);
        cnas_graph_reset(g);
    }
    cnas_graph_free(g);

    op c = make_op("nor_conv_3x3", 4, 6, 1, false, true);
    ck_assert_ptr_nonnull(op_tensor(&c, "op.1.weight"));
    ck_assert_ptr_nonnull(op_tensor(&c, "op.1.bias"));
    ck_assert_ptr_null(op_tensor(&c, "op.2.weight"));
    ck_assert_ptr_nonnull(op_tensor(&c, "op.2.running_mean"));
    drop(&c);
    c = make_op("nor_conv_3x3", 4, 6, 1, true, false);
    ck_assert_ptr_null(op_tensor(&c, "op.1.bias"));
    ck_assert_ptr_nonnull(op_tensor(&c, "op.2.bias"));
    ck_assert_ptr_null(op_tensor(&c, "op.2.running_var"));
    drop(&c);
    op b = make_op("nb201_resblock", 4, 8, 2, true, true);
    ck_assert_ptr_nonnull(op_tensor(&b, "conv_a.op.1.weight"));
    ck_assert_ptr_nonnull(op_tensor(&b, "conv_b.op.2.running_var"));
    ck_assert_int_eq(op_tensor(&b, "downsample.1.weight")->shape[1], 4);
    drop(&b);
    b = make_op("nb201_resblock", 4, 8, 1, true, true);
    ck_assert_ptr_nonnull(op_tensor(&b, "downsample.op.2.weight"));
    drop(&b);
}
END_TEST

START_TEST(test_op_flops_count_multiply_accumulates)
{
    load_plugins();
    /* Input [1, 16, 32, 32]: conv C_out·HW_out·C_in·k², BN one per output element. */
    static const struct {
        const char *name;
        int c_in, c_out, stride;
        int64_t flops;
    } cases[] = {
        {"nor_conv_3x3", 16, 16, 1, 16 * 1024 * 16 * 9 + 16 * 1024},     /* 2,375,680 */
        {"nor_conv_1x1", 16, 32, 2, 32 * 256 * 16 + 32 * 256},            /* 139,264 */
        /* conv_a 32·256·16·9 + BN, conv_b 32·256·32·9 + BN, pool 4·16·256, conv 256·16·32 */
        {"nb201_resblock", 16, 32, 2,
         1179648 + 8192 + 2359296 + 8192 + 16384 + 131072},                /* 3,702,784 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op o = make_op(cases[i].name, cases[i].c_in, cases[i].c_out, cases[i].stride, true, true);
        int64_t in[4] = {1, cases[i].c_in, 32, 32}, out[4];
        ck_assert_int_eq(o.vt->flops(o.self, in, out), cases[i].flops);
        in[0] = 3;
        ck_assert_int_eq(o.vt->flops(o.self, in, out), 3 * cases[i].flops);
        in[1] = cases[i].c_in + 1;
        ck_assert_int_eq(o.vt->flops(o.self, in, out), -1);
        drop(&o);
    }
    /* The stride-2 block cannot take an odd size: conv_a would give ceil, the pool floor. */
    op b = make_op("nb201_resblock", 4, 8, 2, true, true);
    int64_t in[4] = {1, 4, 7, 8}, out[4];
    ck_assert_int_eq(b.vt->flops(b.self, in, out), -1);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    ck_assert_ptr_null(op_forward(&b, g, cnas_graph_zeros(g, CNAS_SHAPE(1, 4, 7, 8)), true));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "odd spatial size 7x8"));
    cnas_graph_free(g);
    drop(&b);
}
END_TEST

/* conv_b(conv_a(x)) + conv1x1(avgpool2x2(x)), no ReLU after the sum, from core ops. */
START_TEST(test_resblock_equals_its_composition_from_core_ops)
{
    load_plugins();
    op b = make_op("nb201_resblock", 4, 6, 2, true, true);
    cnas_error err;
    cnas_tensor *stats[4];
    for (int i = 0; i < 4; i++) {
        stats[i] = cnas_tensor_new(CNAS_SHAPE(6), &err);
        cnas_tensor_fill(stats[i], i % 2 ? 1.0f : 0.0f);
    }
    /* BN shifts of ±1 so the inner ReLU matters. */
    cnas_tensor *beta_a = op_tensor(&b, "conv_a.op.2.bias");
    for (int c = 0; c < 6; c++)
        beta_a->data[c] = c % 2 ? -1.0f : 1.0f;
    cnas_tensor *x0 = spaced_input(2, 4, 8, 8, 5);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor_like(g, x0);
    memcpy(x->data, x0->data, cnas_tensor_bytes(x0));
    cnas_tensor *y = op_forward(&b, g, x, true);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);

    cnas_conv2d_params s2 = {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
    cnas_conv2d_params s1 = {.pad_h = 1, .pad_w = 1};
    cnas_conv2d_params one = {0};
    cnas_batch_norm_params bn = {.training = true, .momentum = 0.1f, .eps = 1e-5f};
    cnas_pool2d_params pool = {.kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2};
    cnas_tensor *h = cnas_batch_norm(
        g, cnas_conv2d(g, cnas_relu(g, x), op_tensor(&b, "conv_a.op.1.weight"), NULL, &s2),
        op_tensor(&b, "conv_a.op.2.weight"), beta_a, stats[0], stats[1], &bn);
    h = cnas_batch_norm(
        g, cnas_conv2d(g, cnas_relu(g, h), op_tensor(&b, "conv_b.op.1.weight"), NULL, &s1),
        op_tensor(&b, "conv_b.op.2.weight"), op_tensor(&b, "conv_b.op.2.bias"), stats[2],
        stats[3], &bn);
    cnas_tensor *sc = cnas_conv2d(g, cnas_avg_pool2d(g, x, &pool),
                                  op_tensor(&b, "downsample.1.weight"), NULL, &one);
    cnas_tensor *ref = cnas_add(g, sc, h);
    ck_assert_msg(ref != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert(cnas_tensor_same_shape(y, ref));
    int negative = 0;
    for (int64_t i = 0; i < y->numel; i++) {
        ck_assert_float_eq_tol(y->data[i], ref->data[i], 1e-5);
        negative += y->data[i] < 0;
    }
    ck_assert_int_gt(negative, 0); /* no ReLU after the sum */
    cnas_graph_free(g);
    cnas_tensor_free(x0);
    for (int i = 0; i < 4; i++)
        cnas_tensor_free(stats[i]);
    drop(&b);
}
END_TEST

typedef struct gc_ctx {
    op *o;
} gc_ctx;

static cnas_tensor *gc_forward(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    return op_forward(((gc_ctx *)ctx)->o, g, in[0], true);
}

/* d(output)/d(input) and d(output)/d(every parameter) in training mode. Shifts (every
 * ".bias") are set to ±3 per channel so a ReLU after a BN sees values far from zero. */
static void gradcheck_op(const char *name, int c_in, int c_out, int stride, bool affine, bool track)
{
    op o = make_op(name, c_in, c_out, stride, affine, track);
    cnas_named_tensor t[32];
    int n = o.vt->tensors(o.self, t, 32);
    cnas_tensor *inputs[33];
    inputs[0] = spaced_input(2, c_in, 6, 6, 11);
    cnas_tensor_set_requires_grad(inputs[0], true);
    int n_in = 1;
    for (int i = 0; i < n; i++) {
        if (t[i].role != CNAS_ROLE_PARAM)
            continue;
        size_t len = strlen(t[i].name);
        if (len > 5 && strcmp(t[i].name + len - 5, ".bias") == 0)
            for (int64_t c = 0; c < t[i].tensor->numel; c++)
                t[i].tensor->data[c] = c % 2 ? -3.0f : 3.0f;
        inputs[n_in++] = t[i].tensor;
    }
    gc_ctx ctx = {&o};
    /* Step 5e-3 rather than 1e-2: a train-mode BN whose channel has a small spread (the
     * block's 1x1 projection) curves enough that a 1e-2 central difference misses by more
     * than the tolerance; at 1e-3 float32 rounding takes over. */
    cnas_gradcheck_opts opts = {.eps = 5e-3, .atol = 2e-3, .rtol = 2e-2, .seed = 3};
    TU_GRADCHECK(gc_forward, &ctx, inputs, n_in, &opts);
    cnas_tensor_free(inputs[0]);
    drop(&o);
}

START_TEST(test_nor_convs_backward_match_finite_differences)
{
    load_plugins();
    gradcheck_op("nor_conv_1x1", 4, 4, 1, true, true);
    gradcheck_op("nor_conv_1x1", 4, 6, 2, false, true);  /* search mode: conv bias, no affine */
    gradcheck_op("nor_conv_3x3", 4, 4, 1, false, false);
    gradcheck_op("nor_conv_3x3", 4, 6, 2, true, true);
}
END_TEST

START_TEST(test_resblock_backward_matches_finite_differences)
{
    load_plugins();
    gradcheck_op("nb201_resblock", 4, 6, 2, true, true);  /* pool + 1x1 conv shortcut */
    gradcheck_op("nb201_resblock", 4, 6, 1, true, true);  /* ReLUConvBN projection */
    gradcheck_op("nb201_resblock", 4, 4, 1, true, false); /* identity */
}
END_TEST

/* ---- the space: choice points and enumeration --------------------------------------------- */

START_TEST(test_every_cell_has_the_six_reference_edges_sharing_one_key)
{
    fx_setup(2, (const char *[]){"init_channels=4", "cells_per_stage=2"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    const cnas_choice_point *p;
    int n = fx.vt->choice_points(s, &p);
    ck_assert_int_eq(n, 6 * 3 * 2);
    /* sorted(edge keys) of NAS201SearchCell: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2 */
    int to[6] = {1, 2, 2, 3, 3, 3}, from[6] = {0, 0, 1, 0, 1, 2};
    for (int c = 0; c < 6; c++)
        for (int e = 0; e < 6; e++) {
            const cnas_choice_point *q = &p[c * 6 + e];
            ck_assert_int_eq(q->node_to, to[e]);
            ck_assert_int_eq(q->node_from, from[e]);
            ck_assert_int_eq(q->local_index, e);
            ck_assert_int_eq(q->instance, c);
            ck_assert_str_eq(q->share_key, "cell");
            ck_assert_int_eq(q->n_candidates, 5);
        }
    ck_assert_str_eq(p[17].name, "cell2.3<-2");
    const char *cands[5] = {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                            "avg_pool_3x3"};
    for (int k = 0; k < 5; k++)
        ck_assert_str_eq(p[0].candidates[k], cands[k]);
    /* Reference module names: stage 1's first cell is cells.3 (cells.2 is the block). */
    ck_assert_ptr_nonnull(find_tensor(s, "stem.0.weight"));
    ck_assert_ptr_nonnull(find_tensor(s, "cells.2.conv_a.op.1.weight"));
    ck_assert_ptr_nonnull(find_tensor(s, "cells.5.conv_b.op.2.bias"));
    ck_assert_ptr_nonnull(find_tensor(s, "cells.3.edges.3<-1.3.op.1.bias")); /* search mode */
    ck_assert_ptr_null(find_tensor(s, "cells.3.edges.3<-1.3.op.2.weight"));
    ck_assert_ptr_nonnull(find_tensor(s, "lastact.0.running_var"));
    ck_assert_int_eq(find_tensor(s, "classifier.weight")->shape[1], 16);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_enumeration_follows_gen_all_with_the_last_edge_fastest)
{
    fx_setup(1, (const char *[]){"cells_per_stage=1"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    ck_assert_int_eq(fx.vt->enumerate_count(s), 15625);
    /* index = Σ_e op_e·5^(5-e) over 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2, ops in candidate
     * order none 0, skip_connect 1, nor_conv_1x1 2, nor_conv_3x3 3, avg_pool_3x3 4. */
    static const struct {
        int64_t index;
        const char *text;
    } cases[] = {
        {0, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"},
        {1, "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"},
        {5, "|none~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|"},
        {25, "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"},
        /* 3906 = 1+5+25+125+625+3125: every edge skip_connect */
        {3906, "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|"
               "skip_connect~2|"},
        /* 1234 = 0·3125 + 1·625 + 4·125 + 4·25 + 1·5 + 4 */
        {1234, "|none~0|+|skip_connect~0|avg_pool_3x3~1|+|avg_pool_3x3~0|skip_connect~1|"
               "avg_pool_3x3~2|"},
        /* DOC_ARCH: 3·3125 + 3·625 + 4·125 + 1·25 + 3·5 + 1 */
        {11791, "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
                "skip_connect~2|"},
        {15624, "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|"
                "avg_pool_3x3~2|"},
    };
    cnas_error err;
    cnas_arch *a = cnas_arch_new(n_points(s), &err);
    char text[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(fx.vt->enumerate(s, cases[i].index, a, &err), CNAS_OK);
        format(s, a, text, sizeof text);
        ck_assert_str_eq(text, cases[i].text);
        cnas_arch *b = parse(s, cases[i].text);
        ck_assert(cnas_arch_equal(a, b));
        cnas_arch_free(b);
    }
    ck_assert_int_eq(fx.vt->enumerate(s, 15625, a, &err), CNAS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "0 to 15624"));
    ck_assert_int_eq(fx.vt->enumerate(s, -1, a, &err), CNAS_ERR_INVALID);
    /* Every index gives a distinct valid architecture. */
    char seen_first[512];
    ck_assert_int_eq(fx.vt->enumerate(s, 7812, a, &err), CNAS_OK);
    format(s, a, seen_first, sizeof seen_first);
    ck_assert_str_eq(seen_first, "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|"
                                 "nor_conv_1x1~1|nor_conv_1x1~2|");
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_benchmark_order_matches_the_reference_meta_generation)
{
    /* exps/NAS-Bench-201/main.py generate_meta_info shuffles gen_all with random.seed(88)
     * and asserts these three entries of the benchmark's index. */
    fx_setup(2, (const char *[]){"cells_per_stage=1", "index_order=benchmark"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    static const struct {
        int64_t index;
        const char *text;
    } cases[] = {
        {0, "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
            "skip_connect~2|"},
        {9, "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"},
        {123, "|avg_pool_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|"
              "nor_conv_3x3~2|"},
    };
    cnas_error err;
    cnas_arch *a = cnas_arch_new(n_points(s), &err);
    char text[512];
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(fx.vt->enumerate(s, cases[i].index, a, &err), CNAS_OK);
        format(s, a, text, sizeof text);
        ck_assert_str_eq(text, cases[i].text);
    }
    /* The JSON names both indices: gen_all's and the benchmark's. */
    char path[] = "/tmp/cnas-nb201-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w+");
    cnas_arch *b = parse(s, cases[1].text);
    ck_assert_int_eq(fx.vt->write_json(s, b, f, &err), CNAS_OK);
    rewind(f);
    char json[2048];
    size_t len = fread(json, 1, sizeof json - 1, f);
    json[len] = '\0';
    fclose(f);
    unlink(path);
    /* gen_all index of cases[1]: 4·3125 + 0 + 0 + 1·25 + 0 + 3 = 12528 */
    ck_assert_msg(strstr(json, "\"index\": 12528, \"benchmark_index\": 9"), "%s", json);
    cnas_arch_free(a);
    cnas_arch_free(b);
    fx.vt->destroy(s);
    fx_teardown();
    /* The benchmark's numbering exists only for its five candidates. */
    fx_setup(2, (const char *[]){"index_order=benchmark", "candidates=none,skip_connect"});
    void *t;
    ck_assert_int_eq(try_build(CNAS_SPACE_SUPERNET, NULL, 8, 10, &t, &err), CNAS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "index_order"));
    fx_teardown();
}
END_TEST

/* ---- the notation ---------------------------------------------------------------------- */

START_TEST(test_string_round_trip_is_byte_identical)
{
    fx_setup(2, (const char *[]){"init_channels=4", "cells_per_stage=2"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    const char *texts[] = {DOC_ARCH, RESNET_ARCH, ALL_NONE, ALL_AVG, ALL_CONV3,
                           "|nor_conv_1x1~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|"
                           "nor_conv_1x1~1|nor_conv_3x3~2|"};
    char text[512];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cnas_arch *a = parse(s, texts[i]);
        /* Parsing sets every cell. */
        for (int c = 1; c < 6; c++)
            for (int e = 0; e < 6; e++)
                ck_assert_uint_eq(a->mask[c * 6 + e], a->mask[e]);
        format(s, a, text, sizeof text);
        ck_assert_str_eq(text, texts[i]);
        cnas_arch_free(a);
    }
    /* A line read from a file may end in a newline. */
    char line[512];
    snprintf(line, sizeof line, "%s\n", DOC_ARCH);
    cnas_arch *a = parse(s, line), *b = parse(s, DOC_ARCH);
    ck_assert(cnas_arch_equal(a, b));
    /* format refuses a buffer too small and an architecture whose cells disagree. */
    cnas_error err;
    ck_assert_int_eq(fx.vt->format(s, a, text, 20, &err), CNAS_ERR_INVALID);
    a->mask[3 * 6 + 4] = 1u << 2;
    ck_assert_int_eq(fx.vt->format(s, a, text, sizeof text, &err), CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "cell 3 edge 3<-1") && strstr(err.msg, "'nor_conv_1x1'") &&
                      strstr(err.msg, "cell 0 selects 'nor_conv_3x3'"), "%s", err.msg);
    a->mask[3 * 6 + 4] = (1u << 2) | (1u << 3);
    ck_assert_int_eq(fx.vt->format(s, a, text, sizeof text, &err), CNAS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "2 candidates, expected exactly one"));
    cnas_arch_free(a);
    cnas_arch_free(b);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

static void expect_rejected(void *s, const char *text, const char *want1, const char *want2)
{
    cnas_error err;
    cnas_arch *a = cnas_arch_new(n_points(s), &err);
    ck_assert_int_eq(fx.vt->parse(s, text, a, &err), CNAS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, want1) && (!want2 || strstr(err.msg, want2)),
                  "parsing '%s': message '%s' should name '%s' and '%s'", text, err.msg, want1,
                  want2 ? want2 : "");
    cnas_arch_free(a);
}

START_TEST(test_bad_strings_are_rejected_saying_what_was_expected_where)
{
    fx_setup(1, (const char *[]){"cells_per_stage=1"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    /* a wrong op name */
    expect_rejected(s, "|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "offset 1",
                    "not 'nor_conv_5x5'");
    /* a wrong input index: node 2's second input must be 1 */
    expect_rejected(s, "|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "offset 22",
                    "expected input 1 (node 2 takes inputs 0 to 1");
    /* node 1 only has input 0 */
    expect_rejected(s, "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "expected input 0",
                    NULL);
    /* a missing '+' between nodes */
    expect_rejected(s, "|none~0||none~0|none~1|+|none~0|none~1|none~2|", "offset 8",
                    "expected '+' after node 1");
    /* a node with too many inputs */
    expect_rejected(s, "|none~0|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                    "expected '+' after node 1", NULL);
    /* two nodes only */
    expect_rejected(s, "|none~0|+|none~0|none~1|", "expected '+' after node 2",
                    "found the end of the text");
    /* something after node 3 */
    expect_rejected(s, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|",
                    "expected the end of the text after node 3", NULL);
    /* a missing '~' and a missing opening '|' */
    expect_rejected(s, "|none|+|none~0|none~1|+|none~0|none~1|none~2|", "'~'", NULL);
    expect_rejected(s, "none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'|' opening node 1",
                    NULL);
    expect_rejected(s, "", "'|' opening node 1", "found the end of the text");
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

/* ---- cost ---------------------------------------------------------------------------------- */

static void costs(void *s, const cnas_arch *a, int64_t *flops, int64_t *params)
{
    cnas_error err;
    ck_assert_msg(fx.vt->cost(s, a, flops, params, &err) == CNAS_OK, "%s", err.msg);
}

START_TEST(test_network_parameters_and_flops_are_the_hand_counts)
{
    /* C = 4, N = 1, 10 classes, 3x8x8 input; stages at 8x8 (C 4), 4x4 (C 8), 2x2 (C 16).
     * Every layer is counted in a network: affine BN (weight + bias), bias-free convs.
     *   stem        conv 4·3·3·3 = 108, BN 2·4 = 8                                  116
     *   block 4->8  conv_a 8·4·9 = 288 + BN 16, conv_b 8·8·9 = 576 + BN 16,
     *               shortcut 1x1 8·4 = 32                                           928
     *   block 8->16 conv_a 16·8·9 = 1152 + 32, conv_b 16·16·9 = 2304 + 32,
     *               shortcut 16·8 = 128                                            3648
     *   lastact     BN 2·16                                                          32
     *   classifier  16·10 + 10                                                      170
     *   fixed layers                                                               4894
     * nor_conv_3x3 at C: 9C² + 2C: 152 (C 4), 592 (C 8), 2336 (C 16): 3080 per edge-slot
     * over the three cells; nor_conv_1x1: C² + 2C: 24 + 80 + 288 = 392; the others 0.
     *   ALL_CONV3     4894 + 6·3080 = 23374
     *   RESNET_ARCH   4894 + 2·3080 = 11054 (two nor_conv_3x3; skip_connect and none hold
     *                 nothing)
     *   ALL_NONE      4894
     *   all 1x1       4894 + 6·392  =  7246
     * FLOPs (MACs per image; BN one per output element, the shortcut pool 4 per output):
     *   stem        conv 4·64·3·9 = 6912, BN 4·64 = 256                             7168
     *   block 4->8  conv_a 8·16·4·9 = 4608 + 128, conv_b 8·16·8·9 = 9216 + 128,
     *               pool 4·4·16 = 256, conv 16·4·8 = 512                           14848
     *   block 8->16 conv_a 16·4·8·9 = 4608 + 64, conv_b 16·4·16·9 = 9216 + 64,
     *               pool 4·8·4 = 128, conv 4·8·16 = 512                            14592
     *   lastact BN 16·4 = 64; classifier 16·10 = 160                                 224
     *   fixed layers                                                               36832
     * nor_conv_3x3: 4·64·4·9 + 256 = 9472, 8·16·8·9 + 128 = 9344, 16·4·16·9 + 64 = 9280:
     * 28096 per edge-slot.
     *   RESNET_ARCH   36832 + 2·28096 = 93024;  ALL_NONE 36832. */
    fx_setup(2, (const char *[]){"init_channels=4", "cells_per_stage=1"});
    void *sup = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    static const struct {
        const char *text;
        int64_t params, flops;
    } cases[] = {
        {"|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
         "nor_conv_3x3~2|", 23374, 36832 + 6 * 28096},
        {"|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", 11054,
         93024},
        {"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 4894, 36832},
        {"|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_1x1~1|"
         "nor_conv_1x1~2|", 7246, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cnas_arch *a = parse(sup, cases[i].text);
        int64_t f1, p1, f2, p2;
        costs(sup, a, &f1, &p1); /* from the supernet, without building the network */
        void *net = build(CNAS_SPACE_NETWORK, a, 8, 10);
        costs(net, NULL, &f2, &p2); /* the network itself */
        ck_assert_msg(p1 == cases[i].params && p2 == cases[i].params,
                      "%s: %lld / %lld parameters, expected %lld", cases[i].text, (long long)p1,
                      (long long)p2, (long long)cases[i].params);
        ck_assert_int_eq(f1, f2);
        if (cases[i].flops >= 0)
            ck_assert_msg(f1 == cases[i].flops, "%s: %lld MACs, expected %lld", cases[i].text,
                          (long long)f1, (long long)cases[i].flops);
        /* The network's PARAM tensors are exactly what cost counts. */
        int n = fx.vt->tensors(net, NULL, 0);
        cnas_named_tensor *t = malloc((size_t)n * sizeof *t);
        ck_assert_int_eq(fx.vt->tensors(net, t, n), n);
        int64_t counted = 0;
        for (int k = 0; k < n; k++)
            counted += t[k].role == CNAS_ROLE_PARAM ? t[k].tensor->numel : 0;
        ck_assert_int_eq(counted, cases[i].params);
        free(t);
        fx.vt->destroy(net);
        cnas_arch_free(a);
    }
    fx.vt->destroy(sup);
    fx_teardown();
}
END_TEST

START_TEST(test_one_stage_network_is_stem_cell_and_head)
{
    /* stages = 1 (SETN's toy): C = 8, 3 nodes, 8 classes, 3x8x8, no residual blocks.
     *   stem conv 8·3·9 = 216 + BN 16; lastact BN 16; classifier 8·8 + 8 = 72      320
     *   nor_conv_3x3 at C 8: 9·64 + 16 = 592 per edge
     *   |nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|   320 + 2·592 = 1504
     * FLOPs: stem 8·64·27 + 512 = 14336, lastact 512, classifier 64: 14912; a conv
     * 8·64·72 + 512 = 37376 per edge: 14912 + 2·37376 = 89664. */
    fx_setup(5, (const char *[]){"init_channels=8", "cells_per_stage=1", "stages=1", "nodes=3",
                                 "candidates=none,skip_connect,nor_conv_3x3"});
    void *sup = build(CNAS_SPACE_SUPERNET, NULL, 8, 8);
    cnas_arch *a = parse(sup, "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|");
    int64_t f1, p1, f2, p2;
    costs(sup, a, &f1, &p1);
    void *net = build(CNAS_SPACE_NETWORK, a, 8, 8);
    costs(net, NULL, &f2, &p2);
    ck_assert_int_eq(p1, 1504);
    ck_assert_int_eq(p2, 1504);
    ck_assert_int_eq(f1, 89664);
    ck_assert_int_eq(f2, 89664);
    fx.vt->destroy(net);
    cnas_arch_free(a);
    fx.vt->destroy(sup);
    fx_teardown();
}
END_TEST

START_TEST(test_network_has_the_benchmark_parameter_count)
{
    /* The benchmark's cost information for this cell on CIFAR-10 (C = 16, N = 5, 10
     * classes): params 0.802426 (million), as the NAS-Bench-201 / NATS-Bench API reports it
     * (get_cost_info(..., 'cifar10', hp="12"), quoted in D-X-Y/NATS-Bench issue #36). By
     * hand: fixed layers 464 + 14464 + 57600 + 128 + 650 = 73306; three nor_conv_3x3 per
     * cell, 5 cells per stage: 15·(2336 + 9280 + 36992) = 729120; total 802426. */
    fx_setup(0, NULL);
    void *sup = build(CNAS_SPACE_SUPERNET, NULL, 32, 10);
    cnas_arch *a = parse(sup, "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|"
                              "nor_conv_3x3~1|nor_conv_3x3~2|");
    int64_t f, p, f2, p2;
    costs(sup, a, &f, &p);
    ck_assert_int_eq(p, 802426);
    /* The same report gives flops 113.95137 (million): the reference's counter takes conv
     * and linear multiply-adds plus the classifier's 10 bias additions. cnas also counts one
     * per BN output and per pooling-window element (darts_ops' convention), by hand:
     *   convs and classifier   113,951,360 (the benchmark's figure less the 10 biases)
     *   BN outputs             stem 16·1024 + cells 15·(16·1024 + 32·256 + 64·64)
     *                          + blocks 2·32·256 + 2·64·64 + lastact 64·64    =   475,136
     *   avg_pool_3x3           5·(16·94² + 32·46² + 64·22²)                    = 1,200,320
     *   block shortcut pools   4·(16·256) + 4·(32·64)                          =    24,576 */
    ck_assert_int_eq(f, 113951360 + 475136 + 1200320 + 24576);
    void *net = build(CNAS_SPACE_NETWORK, a, 32, 10);
    costs(net, NULL, &f2, &p2);
    ck_assert_int_eq(p2, 802426);
    ck_assert_int_eq(f2, f);
    fx.vt->destroy(net);
    cnas_arch_free(a);
    fx.vt->destroy(sup);
    fx_teardown();
}
END_TEST

/* Every cell shares the architecture, so swapping an edge's op changes every cell:
 * FLOPs(net with b) - FLOPs(net with a) = Σ_cells [cost(b, p_cell) - cost(a, p_cell)]. */
START_TEST(test_candidate_costs_add_up_to_the_network_cost)
{
    fx_setup(2, (const char *[]){"init_channels=4", "cells_per_stage=2"});
    void *sup = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    ck_assert(CNAS_VT_HAS(fx.vt, candidate_cost));
    const cnas_choice_point *pts;
    int n = fx.vt->choice_points(sup, &pts);
    cnas_arch *a = parse(sup, DOC_ARCH);
    int64_t f1, p1, f2, p2;
    costs(sup, a, &f1, &p1);
    /* edge 4 (3<-1): nor_conv_3x3 (3) -> avg_pool_3x3 (4) in every cell */
    int64_t df = 0, dp = 0;
    cnas_error err;
    for (int c = 0; c < 6; c++) {
        int p = c * 6 + 4;
        ck_assert_int_eq(cnas_arch_single(a, p), 3);
        int64_t fa, pa, fb, pb;
        ck_assert_int_eq(fx.vt->candidate_cost(sup, p, 3, &fa, &pa, &err), CNAS_OK);
        ck_assert_int_eq(fx.vt->candidate_cost(sup, p, 4, &fb, &pb, &err), CNAS_OK);
        df += fb - fa;
        dp += pb - pa;
        a->mask[p] = 1u << 4;
    }
    costs(sup, a, &f2, &p2);
    ck_assert_int_eq(f2 - f1, df);
    ck_assert_int_eq(p2 - p1, dp);
    /* By hand: avg pool (no BN, padding left out of the count) at C 4 on 8x8: window lengths
     * 2+3·6+2 = 22 per axis, 4·22² = 1936; 4x4: 8·10² = 800; 2x2: 16·4² = 256. nor_conv_3x3
     * 9472, 9344, 9280 MACs and 152, 592, 2336 parameters. Two cells per stage. */
    ck_assert_int_eq(df, 2 * ((1936 - 9472) + (800 - 9344) + (256 - 9280)));
    ck_assert_int_eq(dp, -2 * (152 + 592 + 2336));
    int64_t f, p;
    ck_assert_int_eq(fx.vt->candidate_cost(sup, 0, 0, &f, &p, &err), CNAS_OK); /* none */
    ck_assert(f == 0 && p == 0);
    ck_assert_int_eq(fx.vt->candidate_cost(sup, 35, 2, &f, &p, &err), CNAS_OK);
    ck_assert_int_eq(f, 16 * 4 * 16 + 16 * 4); /* nor_conv_1x1 at C 16 on 2x2 */
    ck_assert_int_eq(p, 16 * 16 + 2 * 16);
    ck_assert_int_eq(fx.vt->candidate_cost(sup, n, 0, &f, &p, &err), CNAS_ERR_INVALID);
    ck_assert_int_eq(fx.vt->candidate_cost(sup, 0, 5, &f, &p, &err), CNAS_ERR_INVALID);
    cnas_arch_free(a);
    fx.vt->destroy(sup);
    fx_teardown();
}
END_TEST

/* ---- forward ---------------------------------------------------------------------------- */

START_TEST(test_mixture_forward_reaches_the_weights_and_path_forward_runs)
{
    fx_setup(2, (const char *[]){"init_channels=4", "cells_per_stage=1"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    const cnas_choice_point *p;
    int np = fx.vt->choice_points(s, &p);
    cnas_error err;
    /* One [6, 5] weight matrix shared by the three cells, used as the mixture weights. */
    cnas_tensor *w = cnas_tensor_new(CNAS_SHAPE(6, 5), &err);
    cnas_tensor_fill(w, 0.2f);
    cnas_tensor_set_requires_grad(w, true);
    cnas_mix_weight *mix = calloc((size_t)np, sizeof *mix);
    for (int i = 0; i < np; i++)
        mix[i] = (cnas_mix_weight){w, p[i].local_index};
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 8, 8));
    cnas_rng_fill_normal(&fx.rng, x->data, x->numel, 0, 1);
    int32_t y[2] = {1, 7};
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, mix, NULL, true, NULL, 0, NULL};
    cnas_tensor *logits = fx.vt->forward(s, g, x, &fa);
    ck_assert_msg(logits != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert(logits->shape[0] == 2 && logits->shape[1] == 10);
    ck_assert_int_eq(cnas_backward(g, cnas_cross_entropy(g, logits, y, 0.0f)), CNAS_OK);
    ck_assert_ptr_nonnull(w->grad);
    for (int e = 0; e < 6; e++) {
        /* `none` contributes exactly zero: its weight gets no gradient; the others do. */
        ck_assert_float_eq(w->grad[e * 5 + 0], 0.0f);
        for (int k = 1; k < 5; k++)
            ck_assert_msg(w->grad[e * 5 + k] != 0.0f, "edge %d candidate %d: no gradient", e, k);
    }
    cnas_graph_reset(g);

    /* Path mode: only the selected op runs; an all-`none` cell gives zeros of the right
     * shape and the network still produces logits. */
    const char *paths[] = {RESNET_ARCH, ALL_NONE, DOC_ARCH};
    for (int i = 0; i < 3; i++) {
        cnas_arch *a = parse(s, paths[i]);
        x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 8, 8));
        cnas_rng_fill_normal(&fx.rng, x->data, x->numel, 0, 1);
        fa = (cnas_space_forward_args){sizeof fa, CNAS_FWD_PATH, NULL, a, true, NULL, 0, NULL};
        logits = fx.vt->forward(s, g, x, &fa);
        ck_assert_msg(logits != NULL, "%s: %s", paths[i], cnas_graph_error(g)->msg);
        ck_assert(logits->shape[0] == 2 && logits->shape[1] == 10);
        ck_assert_int_eq(cnas_backward(g, cnas_cross_entropy(g, logits, y, 0.0f)), CNAS_OK);
        cnas_graph_reset(g);
        cnas_arch_free(a);
    }
    /* Path mode needs an architecture; a wrong input is named. */
    fa = (cnas_space_forward_args){sizeof fa, CNAS_FWD_PATH, NULL, NULL, true, NULL, 0, NULL};
    x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 8, 8));
    ck_assert_ptr_null(fx.vt->forward(s, g, x, &fa));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "needs an architecture"));
    cnas_graph_reset(g);
    x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 16, 16));
    ck_assert_ptr_null(fx.vt->forward(s, g, x, &fa));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "expected [N, 3, 8, 8]"));
    cnas_graph_free(g);
    cnas_tensor_free(w);
    free(mix);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

/* One mixture step's gradients (weights and α) and running statistics in tensor order. */
static float *mixture_step(const char *recompute, size_t *n_out, size_t *peak, bool path)
{
    fx_setup(3, (const char *[]){"init_channels=4", "cells_per_stage=1", recompute});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    const cnas_choice_point *p;
    int np = fx.vt->choice_points(s, &p);
    cnas_error err;
    cnas_tensor *alpha = cnas_tensor_new(CNAS_SHAPE(6, 5), &err);
    cnas_rng_fill_normal(&fx.rng, alpha->data, alpha->numel, 0, 0.1f);
    cnas_tensor_set_requires_grad(alpha, true);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *pr = cnas_softmax(g, alpha);
    cnas_mix_weight *mix = calloc((size_t)np, sizeof *mix);
    for (int i = 0; i < np; i++)
        mix[i] = (cnas_mix_weight){pr, p[i].local_index};
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(4, 3, 8, 8));
    cnas_rng_fill_normal(&fx.rng, x->data, x->numel, 0, 1);
    int32_t y[4] = {1, 2, 3, 4};
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, mix, NULL, true, NULL, 0, NULL};
    cnas_arch *a = cnas_arch_new(np, &err);
    if (path) { /* one path with every kind of candidate */
        ck_assert_int_eq(fx.vt->parse(s, "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+"
                                         "|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|", a, &err),
                         CNAS_OK);
        fa = (cnas_space_forward_args){sizeof fa, CNAS_FWD_PATH, NULL, a, true, NULL, 0, NULL};
    }
    cnas_tensor *loss = cnas_cross_entropy(g, fx.vt->forward(s, g, x, &fa), y, 0.0f);
    ck_assert_msg(loss != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_int_eq(cnas_backward(g, loss), CNAS_OK);
    *peak = cnas_graph_peak_bytes(g);
    cnas_arch_free(a);
    int nt = fx.vt->tensors(s, NULL, 0);
    cnas_named_tensor *t = malloc((size_t)nt * sizeof *t);
    ck_assert_int_eq(fx.vt->tensors(s, t, nt), nt);
    size_t total = 30;
    for (int i = 0; i < nt; i++)
        total += (size_t)t[i].tensor->numel;
    float *v = malloc(total * sizeof *v);
    size_t o = 0;
    for (int i = 0; i < nt; i++) {
        const float *src = t[i].role == CNAS_ROLE_PARAM ? t[i].tensor->grad : t[i].tensor->data;
        if (!src) { /* a conv bias before a train-mode BN may get no gradient buffer */
            memset(v + o, 0, (size_t)t[i].tensor->numel * sizeof *v);
        } else {
            memcpy(v + o, src, (size_t)t[i].tensor->numel * sizeof *v);
        }
        o += (size_t)t[i].tensor->numel;
    }
    if (alpha->grad)
        memcpy(v + o, alpha->grad, 30 * sizeof *v);
    else
        memset(v + o, 0, 30 * sizeof *v);
    *n_out = o + 30;
    free(t);
    free(mix);
    cnas_graph_free(g);
    cnas_tensor_free(alpha);
    fx.vt->destroy(s);
    fx_teardown();
    return v;
}

START_TEST(test_recomputed_edges_give_identical_gradients)
{
    size_t n1, n2, peak1, peak2;
    float *kept = mixture_step("recompute=false", &n1, &peak1, false);
    float *again = mixture_step("recompute=true", &n2, &peak2, false);
    ck_assert_uint_eq(n1, n2);
    for (size_t i = 0; i < n1; i++)
        ck_assert_msg(kept[i] == again[i], "value %zu: %.9g kept, %.9g recomputed", i,
                      (double)kept[i], (double)again[i]);
    ck_assert_uint_lt(peak2, peak1);
    free(kept);
    free(again);
}
END_TEST

/* The same on a single path: each convolution keeps only its output (docs/nb201.md). */
START_TEST(test_recomputed_path_gives_identical_gradients)
{
    size_t n1, n2, peak1, peak2;
    float *kept = mixture_step("recompute=false", &n1, &peak1, true);
    float *again = mixture_step("recompute=true", &n2, &peak2, true);
    ck_assert_uint_eq(n1, n2);
    double norm = 0.0;
    for (size_t i = 0; i < n1; i++) {
        ck_assert_msg(kept[i] == again[i], "value %zu: %.9g kept, %.9g recomputed", i,
                      (double)kept[i], (double)again[i]);
        norm += fabs(kept[i]);
    }
    ck_assert_double_gt(norm, 0.0);
    ck_assert_uint_lt(peak2, peak1);
    free(kept);
    free(again);
}
END_TEST

/* ---- derivation, sampling, networks, drawings ----------------------------------------------- */

START_TEST(test_derivation_takes_the_argmax_of_every_edge_none_included)
{
    fx_setup(1, (const char *[]){"cells_per_stage=1"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    float probs[18][5];
    const float *rows[18];
    for (int p = 0; p < 18; p++) {
        for (int k = 0; k < 5; k++)
            probs[p][k] = 0.1f;
        rows[p] = probs[p];
    }
    /* Tied weights: the same row in every cell. Edge 0: none strongest (kept, as the
     * reference's argmax keeps it); edge 1: nor_conv_3x3; edge 2: a tie between
     * skip_connect and avg_pool_3x3 (the first wins); edge 5: avg_pool_3x3. Edges 3, 4
     * tie everywhere: the first candidate, none. */
    for (int c = 0; c < 3; c++) {
        probs[c * 6 + 0][0] = 0.6f;
        probs[c * 6 + 1][3] = 0.6f;
        probs[c * 6 + 2][1] = 0.3f;
        probs[c * 6 + 2][4] = 0.3f;
        probs[c * 6 + 5][4] = 0.6f;
    }
    /* Untied weights are averaged: cell 2 alone prefers nor_conv_1x1 on edge 5, outvoted. */
    probs[2 * 6 + 5][2] = 0.9f;
    cnas_error err;
    cnas_arch *a = cnas_arch_new(18, &err);
    ck_assert_int_eq(fx.vt->derive(s, rows, a, &err), CNAS_OK);
    char text[512];
    format(s, a, text, sizeof text);
    ck_assert_str_eq(text, "|none~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|"
                           "avg_pool_3x3~2|");
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_uniform_samples_cover_every_candidate_none_included)
{
    fx_setup(1, (const char *[]){"cells_per_stage=2"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    cnas_error err;
    cnas_arch *a = cnas_arch_new(36, &err);
    cnas_rng r;
    cnas_rng_init(&r, 5, "sample");
    int counts[6][5] = {{0}};
    int draws = 5000;
    char text[512];
    for (int i = 0; i < draws; i++) {
        ck_assert_int_eq(fx.vt->sample(s, &r, a, &err), CNAS_OK);
        format(s, a, text, sizeof text); /* valid: one op per edge, every cell alike */
        for (int e = 0; e < 6; e++)
            counts[e][cnas_arch_single(a, e)]++;
    }
    /* 1000 expected per cell of the table, sd about 28 */
    for (int e = 0; e < 6; e++)
        for (int k = 0; k < 5; k++)
            ck_assert_msg(abs(counts[e][k] - draws / 5) < 150, "edge %d op %d: %d of %d", e, k,
                          counts[e][k], draws);
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_weighted_samples_follow_the_weights_with_their_log_probability)
{
    fx_setup(1, (const char *[]){"cells_per_stage=1"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    ck_assert(CNAS_VT_HAS(fx.vt, sample_weighted) && CNAS_VT_HAS(fx.vt, log_prob));
    float probs[18][5];
    const float *rows[18];
    const float row[5] = {0.1f, 0.2f, 0.3f, 0.25f, 0.15f};
    for (int p = 0; p < 18; p++) {
        memcpy(probs[p], row, sizeof row);
        rows[p] = probs[p];
    }
    cnas_rng r;
    cnas_rng_init(&r, 9, "test");
    cnas_error err;
    cnas_arch *a = cnas_arch_new(18, &err);
    int counts[5] = {0}, draws = 4000;
    for (int i = 0; i < draws; i++) {
        double lp, check;
        ck_assert_int_eq(fx.vt->sample_weighted(s, rows, &r, a, &lp, &err), CNAS_OK);
        ck_assert_int_eq(fx.vt->log_prob(s, rows, a, &check, &err), CNAS_OK);
        ck_assert(fabs(lp - check) < 1e-9);
        double want = 0.0;
        for (int e = 0; e < 6; e++)
            want += log(row[cnas_arch_single(a, e)]);
        ck_assert(fabs(lp - want) < 1e-6);
        counts[cnas_arch_single(a, 3)]++;
    }
    for (int k = 0; k < 5; k++) {
        double expect = row[k] * draws, sd = sqrt(expect * (1 - row[k]));
        ck_assert_msg(fabs(counts[k] - expect) < 4 * sd, "op %d: %d draws, expected %.0f", k,
                      counts[k], expect);
    }
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_networks_need_one_shared_cell_and_a_divisible_input)
{
    fx_setup(2, (const char *[]){"init_channels=4", "cells_per_stage=1"});
    void *sup = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    cnas_arch *a = parse(sup, DOC_ARCH);
    cnas_error err;
    void *net;
    a->mask[2 * 6 + 1] = 1u << 2; /* cell 2 edge 2<-0 disagrees with cell 0 */
    ck_assert_int_eq(try_build(CNAS_SPACE_NETWORK, a, 8, 10, &net, &err), CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "cell 2 edge 2<-0") && strstr(err.msg, "shares one"), "%s",
                  err.msg);
    a->mask[2 * 6 + 1] = 0;
    ck_assert_int_eq(try_build(CNAS_SPACE_NETWORK, a, 8, 10, &net, &err), CNAS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "0 candidates"));
    a->mask[2 * 6 + 1] = 1u << 7; /* beyond the five candidates */
    ck_assert_int_eq(try_build(CNAS_SPACE_NETWORK, a, 8, 10, &net, &err), CNAS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "selects candidate 7; the space has 5"));
    int64_t f, p;
    ck_assert_int_eq(fx.vt->cost(sup, a, &f, &p, &err), CNAS_ERR_INVALID);
    ck_assert_int_eq(try_build(CNAS_SPACE_NETWORK, NULL, 8, 10, &net, &err), CNAS_ERR_INVALID);
    ck_assert_int_eq(try_build(CNAS_SPACE_SUPERNET, NULL, 10, 10, &net, &err), CNAS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "divisible by 4"));
    cnas_arch_free(a);

    /* A network runs its own architecture in path mode, with affine BN and running
     * statistics: evaluation uses them. */
    a = parse(sup, DOC_ARCH);
    net = build(CNAS_SPACE_NETWORK, a, 8, 10);
    /* InferCell's layers are the edges in order; stage 2's cell is cells.4 (N = 1). */
    ck_assert_ptr_nonnull(find_tensor(net, "cells.0.layers.0.op.2.weight"));
    ck_assert_ptr_nonnull(find_tensor(net, "cells.4.layers.4.op.2.running_mean"));
    ck_assert_ptr_null(find_tensor(net, "cells.4.layers.5.op.1.weight")); /* skip_connect */
    ck_assert_ptr_null(find_tensor(net, "cells.0.layers.0.op.1.bias"));   /* affine: no bias */
    cnas_graph *g = cnas_graph_new(&err);
    for (int training = 1; training >= 0; training--) {
        cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 8, 8));
        cnas_rng_fill_normal(&fx.rng, x->data, x->numel, 0, 1);
        cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, NULL, training, NULL, 0,
                                      NULL};
        cnas_tensor *logits = fx.vt->forward(net, g, x, &fa);
        ck_assert_msg(logits != NULL, "%s", cnas_graph_error(g)->msg);
        ck_assert_int_eq(logits->shape[1], 10);
        cnas_graph_reset(g);
    }
    cnas_arch *other = parse(sup, RESNET_ARCH);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 8, 8));
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, other, true, NULL, 0, NULL};
    ck_assert_ptr_null(fx.vt->forward(net, g, x, &fa));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "another architecture"));
    cnas_graph_free(g);
    cnas_arch_free(other);
    cnas_arch_free(a);
    fx.vt->destroy(net);
    fx.vt->destroy(sup);
    fx_teardown();
}
END_TEST

START_TEST(test_drawing_and_json_are_written)
{
    fx_setup(1, (const char *[]){"cells_per_stage=1"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    cnas_arch *a = parse(s, RESNET_ARCH);
    char dir[] = "/tmp/cnas-nb201-dot-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    int n = 0;
    cnas_error err;
    ck_assert_int_eq(fx.vt->write_dot(s, a, dir, &n, &err), CNAS_OK);
    ck_assert_int_eq(n, 1);
    char path[256], line[512];
    snprintf(path, sizeof path, "%s/cell.dot", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int edges = 0, conv = 0;
    while (fgets(line, sizeof line, f)) {
        edges += strstr(line, "->") != NULL;
        conv += strstr(line, "\"1\" -> \"2\" [label=\"nor_conv_3x3\"") != NULL;
        ck_assert_ptr_null(strstr(line, "\"none\""));
    }
    fclose(f);
    ck_assert_int_eq(edges, 4); /* two none edges left out */
    ck_assert_int_eq(conv, 1);
    snprintf(path, sizeof path, "%s/arch.json", dir);
    f = fopen(path, "w+");
    ck_assert_int_eq(fx.vt->write_json(s, a, f, &err), CNAS_OK);
    rewind(f);
    char json[2048];
    size_t len = fread(json, 1, sizeof json - 1, f);
    json[len] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(strstr(json, RESNET_ARCH));
    ck_assert_ptr_nonnull(strstr(json, "{\"from\": 1, \"to\": 2, \"op\": \"nor_conv_3x3\"}"));
    ck_assert_ptr_nonnull(strstr(json, "{\"from\": 2, \"to\": 3, \"op\": \"skip_connect\"}"));
    ck_assert_ptr_nonnull(strstr(json, "\"benchmark_index\": "));
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

/* ---- smaller cells: the key `nodes` ------------------------------------------------------ */

/* The JSON of architecture a into buf. */
static void json_of(void *s, const cnas_arch *a, char *buf, size_t n)
{
    char path[] = "/tmp/cnas-nb201-json-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w+");
    cnas_error err;
    ck_assert_msg(fx.vt->write_json(s, a, f, &err) == CNAS_OK, "%s", err.msg);
    rewind(f);
    size_t len = fread(buf, 1, n - 1, f);
    buf[len] = '\0';
    fclose(f);
    unlink(path);
}

static int count_str(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

START_TEST(test_nodes_key_is_checked_against_its_range)
{
    load_plugins();
    cnas_params *p = NULL;
    cnas_error err;
    const char *keys[1] = {"nodes"};
    const char *bad[2] = {"1", "5"};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_ne(cnas_params_resolve(fx.comp->params, (int)fx.comp->n_params,
                                             fx.comp->name, keys, &bad[i], 1, &p, &err),
                         CNAS_OK);
        ck_assert_msg(strstr(err.msg, "nodes"), "%s", err.msg);
    }
    /* The default is the benchmark's cell. */
    fx_setup(1, (const char *[]){"cells_per_stage=1"});
    ck_assert_int_eq(cnas_params_int(fx.params, "nodes"), 4);
    fx_teardown();
}
END_TEST

/* SETN's sanity space: 3 nodes (edges 1<-0, 2<-0, 2<-1) of 3 candidates, 3^3 = 27 cells. */
START_TEST(test_three_node_cells_enumerate_27_architectures_in_gen_all_order)
{
    fx_setup(3, (const char *[]){"nodes=3", "candidates=none,skip_connect,nor_conv_3x3",
                                 "cells_per_stage=1"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    const cnas_choice_point *p;
    int n = fx.vt->choice_points(s, &p);
    ck_assert_int_eq(n, 3 * 3);
    int to[3] = {1, 2, 2}, from[3] = {0, 0, 1};
    for (int c = 0; c < 3; c++)
        for (int e = 0; e < 3; e++) {
            const cnas_choice_point *q = &p[c * 3 + e];
            ck_assert_int_eq(q->node_to, to[e]);
            ck_assert_int_eq(q->node_from, from[e]);
            ck_assert_int_eq(q->local_index, e);
            ck_assert_int_eq(q->instance, c);
            ck_assert_str_eq(q->share_key, "cell");
            ck_assert_int_eq(q->n_candidates, 3);
        }
    ck_assert_str_eq(p[8].name, "cell2.2<-1");
    ck_assert_int_eq(fx.vt->enumerate_count(s), 27);
    /* index = 9·op(1<-0) + 3·op(2<-0) + op(2<-1); none 0, skip_connect 1, nor_conv_3x3 2 */
    static const struct {
        int64_t index;
        const char *text;
    } cases[] = {
        {0, "|none~0|+|none~0|none~1|"},
        {1, "|none~0|+|none~0|skip_connect~1|"},
        {3, "|none~0|+|skip_connect~0|none~1|"},
        {9, "|skip_connect~0|+|none~0|none~1|"},
        {13, "|skip_connect~0|+|skip_connect~0|skip_connect~1|"},      /* 9 + 3 + 1 */
        {17, "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"},      /* 9 + 6 + 2 */
        {23, "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|"},      /* 18 + 3 + 2 */
        {26, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"},
    };
    cnas_error err;
    cnas_arch *a = cnas_arch_new(n, &err);
    char text[256], json[2048];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(fx.vt->enumerate(s, cases[i].index, a, &err), CNAS_OK);
        format(s, a, text, sizeof text);
        ck_assert_str_eq(text, cases[i].text);
        cnas_arch *b = parse(s, cases[i].text);
        ck_assert(cnas_arch_equal(a, b));
        /* The JSON gives the generation index back, and no benchmark index. */
        json_of(s, b, json, sizeof json);
        char want[64];
        snprintf(want, sizeof want, "\"index\": %lld,", (long long)cases[i].index);
        ck_assert_msg(strstr(json, want) && strstr(json, cases[i].text), "%s", json);
        ck_assert_ptr_null(strstr(json, "benchmark_index"));
        ck_assert_int_eq(count_str(json, "\"from\""), 3);
        cnas_arch_free(b);
    }
    /* All 27 are distinct valid cells, every cell alike. */
    char seen[27][64];
    for (int i = 0; i < 27; i++) {
        ck_assert_int_eq(fx.vt->enumerate(s, i, a, &err), CNAS_OK);
        for (int c = 1; c < 3; c++)
            for (int e = 0; e < 3; e++)
                ck_assert_uint_eq(a->mask[c * 3 + e], a->mask[e]);
        format(s, a, seen[i], sizeof seen[i]);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(seen[i], seen[j]);
    }
    ck_assert_int_eq(fx.vt->enumerate(s, 27, a, &err), CNAS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "0 to 26"));
    /* An architecture of the 4-node space's size is refused, naming the cell's size. */
    cnas_arch *wrong = cnas_arch_new(18, &err);
    ck_assert_int_eq(fx.vt->enumerate(s, 0, wrong, &err), CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "expected 9 (3 edges x 3 cells)"), "%s", err.msg);
    cnas_arch_free(wrong);
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_three_node_strings_round_trip_and_bad_ones_are_rejected)
{
    fx_setup(3, (const char *[]){"nodes=3", "init_channels=4", "cells_per_stage=2"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    const char *texts[] = {
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|",
        "|none~0|+|none~0|none~1|",
        "|skip_connect~0|+|nor_conv_1x1~0|none~1|",
        "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|",
    };
    char text[256];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cnas_arch *a = parse(s, texts[i]);
        ck_assert_int_eq(a->n_points, 3 * 6);
        for (int c = 1; c < 6; c++)
            for (int e = 0; e < 3; e++)
                ck_assert_uint_eq(a->mask[c * 3 + e], a->mask[e]);
        format(s, a, text, sizeof text);
        ck_assert_str_eq(text, texts[i]);
        cnas_arch_free(a);
    }
    /* 5 candidates: |conv3|+|conv3|avg| is 3·25 + 3·5 + 4 = 94. */
    cnas_error err;
    cnas_arch *a = cnas_arch_new(18, &err);
    ck_assert_int_eq(fx.vt->enumerate_count(s), 125);
    ck_assert_int_eq(fx.vt->enumerate(s, 94, a, &err), CNAS_OK);
    format(s, a, text, sizeof text);
    ck_assert_str_eq(text, texts[0]);
    /* A line from a file; cells that disagree are named. */
    char line[256];
    snprintf(line, sizeof line, "  %s\n", texts[2]);
    cnas_arch *b = parse(s, line), *c = parse(s, texts[2]);
    ck_assert(cnas_arch_equal(b, c));
    b->mask[4 * 3 + 2] = 1u << 3;
    ck_assert_int_eq(fx.vt->format(s, b, text, sizeof text, &err), CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "cell 4 edge 2<-1") && strstr(err.msg, "'nor_conv_3x3'") &&
                      strstr(err.msg, "cell 0 selects 'none'"), "%s", err.msg);
    cnas_arch_free(b);
    cnas_arch_free(c);
    /* Same strictness and messages as the 4-node cell. */
    expect_rejected(s, "|none~0|+|none~0|none~2|", "offset 22",
                    "expected input 1 (node 2 takes inputs 0 to 1");
    expect_rejected(s, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                    "offset 24: expected the end of the text after node 2",
                    "(a cell has nodes 1 to 2)");
    expect_rejected(s, "|none~0|", "expected '+' after node 1", "found the end of the text");
    expect_rejected(s, "|none~0||none~0|none~1|", "offset 8", "expected '+' after node 1");
    expect_rejected(s, "|none~0|+|none~0|", "an op name (node 2, input 1)", NULL);
    expect_rejected(s, "|nor_conv_5x5~0|+|none~0|none~1|", "offset 1", "not 'nor_conv_5x5'");
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

START_TEST(test_benchmark_order_needs_the_four_node_cell)
{
    cnas_error err;
    void *t;
    fx_setup(3, (const char *[]){"nodes=3", "index_order=benchmark", "cells_per_stage=1"});
    ck_assert_int_eq(try_build(CNAS_SPACE_SUPERNET, NULL, 8, 10, &t, &err), CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "index_order = benchmark") && strstr(err.msg, "nodes = 4") &&
                      strstr(err.msg, "'nodes' is 3"), "%s", err.msg);
    fx_teardown();
    fx_setup(2, (const char *[]){"nodes=2", "index_order=benchmark"});
    ck_assert_int_eq(try_build(CNAS_SPACE_SUPERNET, NULL, 8, 10, &t, &err), CNAS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "'nodes' is 2"));
    fx_teardown();
    /* Explicit nodes = 4 is the benchmark's cell. */
    fx_setup(3, (const char *[]){"nodes=4", "index_order=benchmark", "cells_per_stage=1"});
    t = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    cnas_arch *a = cnas_arch_new(n_points(t), &err);
    char text[512];
    ck_assert_int_eq(fx.vt->enumerate(t, 9, a, &err), CNAS_OK);
    format(t, a, text, sizeof text);
    ck_assert_str_eq(text, "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|"
                           "nor_conv_3x3~2|");
    cnas_arch_free(a);
    fx.vt->destroy(t);
    fx_teardown();
}
END_TEST

START_TEST(test_three_node_network_has_the_hand_counted_parameters_and_flops)
{
    /* C = 4, N = 1, 10 classes, 3x8x8 input: the fixed layers are those of the 4-node test,
     * 4894 parameters and 36832 MACs. The cell |nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|
     * holds per cell position one nor_conv_1x1 (C² + 2C: 24, 80, 288 at C 4, 8, 16) and one
     * nor_conv_3x3 (9C² + 2C: 152, 592, 2336); the pool holds nothing:
     *   parameters   4894 + (24 + 80 + 288) + (152 + 592 + 2336) = 4894 + 392 + 3080 = 8366
     * MACs: nor_conv_1x1 C·HW·C + C·HW: 1024 + 256, 1024 + 128, 1024 + 64 = 3520;
     * nor_conv_3x3 9472 + 9344 + 9280 = 28096; the pool 4·22² + 8·10² + 16·4² = 2992:
     *   MACs         36832 + 3520 + 28096 + 2992 = 71440 */
    fx_setup(3, (const char *[]){"nodes=3", "init_channels=4", "cells_per_stage=1"});
    void *sup = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    /* The supernet's tensors stop at node 2. */
    ck_assert_ptr_nonnull(find_tensor(sup, "cells.0.edges.2<-1.3.op.1.bias"));
    ck_assert_ptr_null(find_tensor(sup, "cells.0.edges.3<-0.3.op.1.bias"));
    const char *arch = "|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|";
    cnas_arch *a = parse(sup, arch);
    int64_t f1, p1, f2, p2;
    costs(sup, a, &f1, &p1);
    ck_assert_int_eq(p1, 8366);
    ck_assert_int_eq(f1, 71440);
    void *net = build(CNAS_SPACE_NETWORK, a, 8, 10);
    costs(net, NULL, &f2, &p2);
    ck_assert_int_eq(p2, 8366);
    ck_assert_int_eq(f2, 71440);
    int n = fx.vt->tensors(net, NULL, 0);
    cnas_named_tensor *t = malloc((size_t)n * sizeof *t);
    ck_assert_int_eq(fx.vt->tensors(net, t, n), n);
    int64_t counted = 0;
    for (int k = 0; k < n; k++)
        counted += t[k].role == CNAS_ROLE_PARAM ? t[k].tensor->numel : 0;
    ck_assert_int_eq(counted, 8366);
    free(t);
    ck_assert_ptr_nonnull(find_tensor(net, "cells.0.layers.0.op.2.weight"));  /* 1x1 */
    ck_assert_ptr_nonnull(find_tensor(net, "cells.4.layers.1.op.1.weight"));  /* 3x3 */
    ck_assert_ptr_null(find_tensor(net, "cells.0.layers.3.op.1.weight"));
    /* Candidate costs add up: cost(a) - cost(all none) = Σ over the points. */
    cnas_arch *none = parse(sup, "|none~0|+|none~0|none~1|");
    int64_t f0, p0, df = 0, dp = 0;
    costs(sup, none, &f0, &p0);
    ck_assert_int_eq(p0, 4894);
    ck_assert_int_eq(f0, 36832);
    cnas_error err;
    for (int pt = 0; pt < 9; pt++) {
        int64_t f, p;
        ck_assert_int_eq(fx.vt->candidate_cost(sup, pt, cnas_arch_single(a, pt), &f, &p, &err),
                         CNAS_OK);
        df += f;
        dp += p;
    }
    ck_assert_int_eq(df, f1 - f0);
    ck_assert_int_eq(dp, p1 - p0);
    int64_t f, p;
    ck_assert_int_eq(fx.vt->candidate_cost(sup, 9, 0, &f, &p, &err), CNAS_ERR_INVALID);
    /* The network runs its cell in training and evaluation. */
    cnas_graph *g = cnas_graph_new(&err);
    for (int training = 1; training >= 0; training--) {
        cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 8, 8));
        cnas_rng_fill_normal(&fx.rng, x->data, x->numel, 0, 1);
        cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, NULL, training, NULL, 0,
                                      NULL};
        cnas_tensor *logits = fx.vt->forward(net, g, x, &fa);
        ck_assert_msg(logits != NULL, "%s", cnas_graph_error(g)->msg);
        ck_assert_int_eq(logits->shape[1], 10);
        cnas_graph_reset(g);
    }
    cnas_graph_free(g);
    cnas_arch_free(none);
    cnas_arch_free(a);
    fx.vt->destroy(net);
    fx.vt->destroy(sup);
    fx_teardown();
}
END_TEST

/* Mixture and path forwards, derivation and weighted sampling of a 3-node supernet. */
START_TEST(test_three_node_supernet_mixes_derives_and_samples)
{
    fx_setup(3, (const char *[]){"nodes=3", "init_channels=4", "cells_per_stage=1"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    const cnas_choice_point *p;
    int np = fx.vt->choice_points(s, &p);
    ck_assert_int_eq(np, 9);
    cnas_error err;
    cnas_tensor *w = cnas_tensor_new(CNAS_SHAPE(3, 5), &err);
    cnas_tensor_fill(w, 0.2f);
    cnas_tensor_set_requires_grad(w, true);
    cnas_mix_weight mix[9];
    for (int i = 0; i < np; i++)
        mix[i] = (cnas_mix_weight){w, p[i].local_index};
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 8, 8));
    cnas_rng_fill_normal(&fx.rng, x->data, x->numel, 0, 1);
    int32_t y[2] = {1, 7};
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, mix, NULL, true, NULL, 0, NULL};
    cnas_tensor *logits = fx.vt->forward(s, g, x, &fa);
    ck_assert_msg(logits != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_int_eq(cnas_backward(g, cnas_cross_entropy(g, logits, y, 0.0f)), CNAS_OK);
    for (int e = 0; e < 3; e++) {
        ck_assert_float_eq(w->grad[e * 5 + 0], 0.0f);
        for (int k = 1; k < 5; k++)
            ck_assert_msg(w->grad[e * 5 + k] != 0.0f, "edge %d candidate %d: no gradient", e, k);
    }
    cnas_graph_reset(g);
    const char *paths[] = {"|nor_conv_3x3~0|+|none~0|skip_connect~1|", "|none~0|+|none~0|none~1|"};
    for (int i = 0; i < 2; i++) {
        cnas_arch *a = parse(s, paths[i]);
        x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 8, 8));
        cnas_rng_fill_normal(&fx.rng, x->data, x->numel, 0, 1);
        fa = (cnas_space_forward_args){sizeof fa, CNAS_FWD_PATH, NULL, a, true, NULL, 0, NULL};
        logits = fx.vt->forward(s, g, x, &fa);
        ck_assert_msg(logits != NULL, "%s: %s", paths[i], cnas_graph_error(g)->msg);
        ck_assert_int_eq(logits->shape[1], 10);
        cnas_graph_reset(g);
        cnas_arch_free(a);
    }
    /* A 4-node architecture does not fit. */
    cnas_arch *big = cnas_arch_new(18, &err);
    x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 8, 8));
    fa = (cnas_space_forward_args){sizeof fa, CNAS_FWD_PATH, NULL, big, true, NULL, 0, NULL};
    ck_assert_ptr_null(fx.vt->forward(s, g, x, &fa));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "expected 9 (3 edges x 3 cells)"));
    cnas_arch_free(big);
    cnas_graph_free(g);
    cnas_tensor_free(w);

    /* derive: edge 0 nor_conv_1x1, edge 1 none, edge 2 avg_pool_3x3 */
    float probs[9][5];
    const float *rows[9];
    for (int i = 0; i < 9; i++) {
        for (int k = 0; k < 5; k++)
            probs[i][k] = 0.1f;
        probs[i][(int[]){2, 0, 4}[i % 3]] = 0.6f;
        rows[i] = probs[i];
    }
    cnas_arch *a = cnas_arch_new(9, &err);
    ck_assert_int_eq(fx.vt->derive(s, rows, a, &err), CNAS_OK);
    char text[256];
    format(s, a, text, sizeof text);
    ck_assert_str_eq(text, "|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|");
    /* weighted samples: log p over the three edges */
    const float row[5] = {0.1f, 0.2f, 0.3f, 0.25f, 0.15f};
    for (int i = 0; i < 9; i++)
        memcpy(probs[i], row, sizeof row);
    cnas_rng r;
    cnas_rng_init(&r, 9, "test");
    for (int i = 0; i < 200; i++) {
        double lp, check, want = 0.0;
        ck_assert_int_eq(fx.vt->sample_weighted(s, rows, &r, a, &lp, &err), CNAS_OK);
        ck_assert_int_eq(fx.vt->log_prob(s, rows, a, &check, &err), CNAS_OK);
        for (int e = 0; e < 3; e++)
            want += log(row[cnas_arch_single(a, e)]);
        ck_assert(fabs(lp - want) < 1e-6 && fabs(check - want) < 1e-6);
        ck_assert_int_eq(fx.vt->sample(s, &r, a, &err), CNAS_OK);
        format(s, a, text, sizeof text);
    }
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

/* nodes = 2: one edge 1<-0, the cell is node 1 = op(node 0). */
START_TEST(test_two_node_cells_have_one_edge)
{
    fx_setup(3, (const char *[]){"nodes=2", "init_channels=4", "cells_per_stage=1"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    const cnas_choice_point *p;
    int np = fx.vt->choice_points(s, &p);
    ck_assert_int_eq(np, 3);
    for (int c = 0; c < 3; c++) {
        ck_assert_int_eq(p[c].node_from, 0);
        ck_assert_int_eq(p[c].node_to, 1);
        ck_assert_int_eq(p[c].local_index, 0);
        ck_assert_int_eq(p[c].instance, c);
    }
    ck_assert_str_eq(p[2].name, "cell2.1<-0");
    ck_assert_int_eq(fx.vt->enumerate_count(s), 5);
    const char *names[5] = {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                            "avg_pool_3x3"};
    cnas_error err;
    cnas_arch *a = cnas_arch_new(np, &err);
    char text[128], want[128];
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(fx.vt->enumerate(s, i, a, &err), CNAS_OK);
        format(s, a, text, sizeof text);
        snprintf(want, sizeof want, "|%s~0|", names[i]);
        ck_assert_str_eq(text, want);
        cnas_arch *b = parse(s, want);
        ck_assert(cnas_arch_equal(a, b));
        cnas_arch_free(b);
    }
    expect_rejected(s, "|none~0|+|none~0|none~1|", "offset 8",
                    "expected the end of the text after node 1 (a cell of 2 nodes has node 1 only)");
    expect_rejected(s, "|none~1|", "expected input 0 (node 1 takes inputs 0 to 0", NULL);
    expect_rejected(s, "", "'|' opening node 1", NULL);

    /* Parameters: the fixed layers (4894) and one nor_conv_3x3 per cell position (3080). */
    cnas_arch_free(a);
    a = parse(s, "|nor_conv_3x3~0|");
    int64_t f, pa;
    costs(s, a, &f, &pa);
    ck_assert_int_eq(pa, 4894 + 3080);
    ck_assert_int_eq(f, 36832 + 28096);
    void *net = build(CNAS_SPACE_NETWORK, a, 8, 10);
    int64_t f2, p2;
    costs(net, NULL, &f2, &p2);
    ck_assert_int_eq(p2, 4894 + 3080);
    ck_assert_int_eq(f2, f);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 8, 8));
    cnas_rng_fill_normal(&fx.rng, x->data, x->numel, 0, 1);
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, NULL, true, NULL, 0, NULL};
    ck_assert_msg(fx.vt->forward(net, g, x, &fa) != NULL, "%s", cnas_graph_error(g)->msg);
    cnas_graph_reset(g);
    /* A supernet's mixture over the single edge. */
    cnas_tensor *w = cnas_tensor_new(CNAS_SHAPE(1, 5), &err);
    cnas_tensor_fill(w, 0.2f);
    cnas_tensor_set_requires_grad(w, true);
    cnas_mix_weight mix[3];
    for (int i = 0; i < 3; i++)
        mix[i] = (cnas_mix_weight){w, p[i].local_index};
    x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 8, 8));
    cnas_rng_fill_normal(&fx.rng, x->data, x->numel, 0, 1);
    int32_t y[2] = {3, 4};
    fa = (cnas_space_forward_args){sizeof fa, CNAS_FWD_MIXTURE, mix, NULL, true, NULL, 0, NULL};
    cnas_tensor *logits = fx.vt->forward(s, g, x, &fa);
    ck_assert_msg(logits != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_int_eq(cnas_backward(g, cnas_cross_entropy(g, logits, y, 0.0f)), CNAS_OK);
    ck_assert_float_eq(w->grad[0], 0.0f);
    for (int k = 1; k < 5; k++)
        ck_assert(w->grad[k] != 0.0f);
    cnas_graph_free(g);
    cnas_tensor_free(w);

    /* derive, sampling, JSON and the drawing of one edge */
    float probs[3][5] = {{0.1f, 0.1f, 0.1f, 0.1f, 0.6f}, {0.1f, 0.1f, 0.1f, 0.1f, 0.6f},
                         {0.1f, 0.1f, 0.1f, 0.1f, 0.6f}};
    const float *rows[3] = {probs[0], probs[1], probs[2]};
    ck_assert_int_eq(fx.vt->derive(s, rows, a, &err), CNAS_OK);
    format(s, a, text, sizeof text);
    ck_assert_str_eq(text, "|avg_pool_3x3~0|");
    double lp, check;
    cnas_rng r;
    cnas_rng_init(&r, 4, "test");
    ck_assert_int_eq(fx.vt->sample_weighted(s, rows, &r, a, &lp, &err), CNAS_OK);
    ck_assert_int_eq(fx.vt->log_prob(s, rows, a, &check, &err), CNAS_OK);
    ck_assert(fabs(lp - log(probs[0][cnas_arch_single(a, 0)])) < 1e-6 && fabs(lp - check) < 1e-9);
    ck_assert_int_eq(fx.vt->sample(s, &r, a, &err), CNAS_OK);
    ck_assert_uint_eq(a->mask[1], a->mask[0]);
    ck_assert_uint_eq(a->mask[2], a->mask[0]);
    cnas_arch_free(a);
    a = parse(s, "|nor_conv_3x3~0|");
    char json[1024];
    json_of(s, a, json, sizeof json);
    ck_assert_msg(strstr(json, "\"index\": 3,") &&
                      strstr(json, "[{\"from\": 0, \"to\": 1, \"op\": \"nor_conv_3x3\"}]"),
                  "%s", json);
    ck_assert_ptr_null(strstr(json, "benchmark_index"));
    char dir[] = "/tmp/cnas-nb201-dot-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    int nf = 0;
    ck_assert_int_eq(fx.vt->write_dot(s, a, dir, &nf, &err), CNAS_OK);
    ck_assert_int_eq(nf, 1);
    char path[256], line[512];
    snprintf(path, sizeof path, "%s/cell.dot", dir);
    FILE *fd = fopen(path, "r");
    ck_assert_ptr_nonnull(fd);
    int edges = 0, out = 0, nodes = 0;
    while (fgets(line, sizeof line, fd)) {
        edges += strstr(line, "->") != NULL;
        nodes += strstr(line, "[fillcolor=") != NULL;
        out += strstr(line, "\"1\" [fillcolor=palegoldenrod]") != NULL;
        ck_assert_ptr_null(strstr(line, "\"2\""));
    }
    fclose(fd);
    ck_assert_int_eq(edges, 1);
    ck_assert_int_eq(nodes, 2);
    ck_assert_int_eq(out, 1);
    unlink(path);
    rmdir(dir);
    cnas_arch_free(a);
    fx.vt->destroy(net);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST


/* SETN trains the template network on the reference's forward_urs paths: every cell
 * draws its own ops, and no node is fed by `none` alone; the draws stay uniform
 * otherwise (node 1 never takes none; at node 3 each op of an edge is about as likely). */
START_TEST(test_training_paths_differ_per_cell_and_never_starve_a_node)
{
    fx_setup(2, (const char *[]){"init_channels=4", "cells_per_stage=2"});
    void *s = build(CNAS_SPACE_SUPERNET, NULL, 8, 10);
    ck_assert(CNAS_VT_HAS(fx.vt, sample_path));
    cnas_error err;
    cnas_arch *a = cnas_arch_new(n_points(s), &err);
    cnas_rng rng;
    cnas_rng_init(&rng, 4, "test");
    int differ = 0, count[5] = {0}, draws = 3000;
    for (int t = 0; t < draws; t++) {
        ck_assert_int_eq(fx.vt->sample_path(s, &rng, a, &err), CNAS_OK);
        for (int c = 0; c < 6; c++) {
            int op[6];
            for (int e = 0; e < 6; e++) {
                op[e] = cnas_arch_single(a, c * 6 + e);
                ck_assert_int_ge(op[e], 0);
            }
            ck_assert_int_ne(op[0], 0);                           /* node 1 <- 0 */
            ck_assert(op[1] != 0 || op[2] != 0);                  /* node 2 */
            ck_assert(op[3] != 0 || op[4] != 0 || op[5] != 0);    /* node 3 */
            if (c == 0)
                count[op[5]]++;
        }
        for (int e = 0; e < 6; e++)
            differ += cnas_arch_single(a, e) != cnas_arch_single(a, 6 + e);
    }
    ck_assert_int_gt(differ, draws); /* cells draw independently */
    /* At node 3 an all-none draw (1/125) is redrawn: p(none on 3<-2) = 24/124. */
    for (int k = 0; k < 5; k++) {
        double want = (k == 0 ? 24.0 : 25.0) / 124.0 * draws;
        ck_assert_msg(fabs(count[k] - want) < 5 * sqrt(want), "op %d: %d of %d", k, count[k],
                      draws);
    }
    cnas_arch_free(a);
    fx.vt->destroy(s);
    fx_teardown();
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("nb201_cell");
    TCase *ops = tcase_create("ops");
    tcase_set_timeout(ops, 300);
    tcase_add_test(ops, test_op_plugin_lists_its_ops_under_names_no_other_op_set_uses);
    tcase_add_test(ops, test_ops_give_the_reference_shapes_parameters_and_tensor_names);
    tcase_add_test(ops, test_op_flops_count_multiply_accumulates);
    tcase_add_test(ops, test_resblock_equals_its_composition_from_core_ops);
    tcase_add_test(ops, test_nor_convs_backward_match_finite_differences);
    tcase_add_test(ops, test_resblock_backward_matches_finite_differences);
    suite_add_tcase(s, ops);

    TCase *tc = tcase_create("space");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_every_cell_has_the_six_reference_edges_sharing_one_key);
    tcase_add_test(tc, test_training_paths_differ_per_cell_and_never_starve_a_node);
    tcase_add_test(tc, test_enumeration_follows_gen_all_with_the_last_edge_fastest);
    tcase_add_test(tc, test_benchmark_order_matches_the_reference_meta_generation);
    tcase_add_test(tc, test_string_round_trip_is_byte_identical);
    tcase_add_test(tc, test_bad_strings_are_rejected_saying_what_was_expected_where);
    tcase_add_test(tc, test_network_parameters_and_flops_are_the_hand_counts);
    tcase_add_test(tc, test_one_stage_network_is_stem_cell_and_head);
    tcase_add_test(tc, test_network_has_the_benchmark_parameter_count);
    tcase_add_test(tc, test_candidate_costs_add_up_to_the_network_cost);
    tcase_add_test(tc, test_mixture_forward_reaches_the_weights_and_path_forward_runs);
    tcase_add_test(tc, test_recomputed_edges_give_identical_gradients);
    tcase_add_test(tc, test_recomputed_path_gives_identical_gradients);
    tcase_add_test(tc, test_derivation_takes_the_argmax_of_every_edge_none_included);
    tcase_add_test(tc, test_uniform_samples_cover_every_candidate_none_included);
    tcase_add_test(tc, test_weighted_samples_follow_the_weights_with_their_log_probability);
    tcase_add_test(tc, test_networks_need_one_shared_cell_and_a_divisible_input);
    tcase_add_test(tc, test_drawing_and_json_are_written);
    tcase_add_test(tc, test_nodes_key_is_checked_against_its_range);
    tcase_add_test(tc, test_three_node_cells_enumerate_27_architectures_in_gen_all_order);
    tcase_add_test(tc, test_three_node_strings_round_trip_and_bad_ones_are_rejected);
    tcase_add_test(tc, test_benchmark_order_needs_the_four_node_cell);
    tcase_add_test(tc, test_three_node_network_has_the_hand_counted_parameters_and_flops);
    tcase_add_test(tc, test_three_node_supernet_mixes_derives_and_samples);
    tcase_add_test(tc, test_two_node_cells_have_one_edge);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
