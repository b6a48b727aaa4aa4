/* The resnet_ops plugin: the ResNet basic block, conv-BN-ReLU and 2x2 max-pool
 * downsampling of the Balanced Mixture of SuperNets ResNet20.
 *
 * Components are driven through the plugin descriptor (the plugin's sources are
 * compiled into this suite) as a space drives them through the host, and the built
 * resnet_ops.so is loaded with dlopen as the host loads it.
 *
 * Gradient checks (step 1e-2, atol 2e-3, rtol 2e-2, the darts_ops tolerances) run
 * where no ReLU or max sits within a step of its kink: batch-norm scales are 0.25 and
 * shifts ±3 with the same sign for every BN of a channel, so each ReLU sees inputs at
 * least about 1.5 away from zero, and inputs are distinct values 0.025 apart and at
 * least 0.05 away from zero. */
#include "testutil.h"

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const cnas_plugin_desc *cnas_plugin_entry(void);

static const cnas_component *component(const char *name)
{
    const cnas_plugin_desc *d = cnas_plugin_entry();
    for (uint32_t i = 0; i < d->n_components; i++)
        if (strcmp(d->components[i].name, name) == 0)
            return &d->components[i];
    ck_abort_msg("resnet_ops has no component '%s'", name);
    return NULL;
}

typedef struct op {
    const cnas_op_vtable *vt;
    void *self;
    cnas_rng rng;
} op;

static cnas_status try_make(op *o, const char *name, int c_in, int c_out, int stride, bool affine,
                            bool track, cnas_error *err)
{
    const cnas_component *c = component(name);
    cnas_params *p = NULL;
    ck_assert_msg(cnas_params_resolve(c->params, (int)c->n_params, "test", NULL, NULL, 0, &p,
                                      err) == CNAS_OK, "%s", err->msg);
    o->vt = c->vtable;
    o->self = NULL;
    cnas_rng_init(&o->rng, 7, "init");
    cnas_op_args a = {sizeof a, c_in, c_out, stride, affine, track, &o->rng};
    cnas_status st = o->vt->create(&a, p, &o->self, err);
    cnas_params_free(p);
    return st;
}

static op make(const char *name, int c_in, int c_out, int stride, bool affine, bool track)
{
    op o;
    cnas_error err;
    ck_assert_msg(try_make(&o, name, c_in, c_out, stride, affine, track, &err) == CNAS_OK,
                  "creating %s: %s", name, err.msg);
    return o;
}

static void drop(op *o)
{
    o->vt->destroy(o->self);
}

static cnas_tensor *find_tensor(const op *o, const char *name)
{
    cnas_named_tensor t[32];
    int n = o->vt->tensors(o->self, t, 32);
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return t[i].tensor;
    return NULL;
}

static int64_t count_role(const op *o, cnas_tensor_role role)
{
    cnas_named_tensor t[32];
    int n = o->vt->tensors(o->self, t, 32);
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        if (t[i].role == role)
            total += t[i].tensor->numel;
    return total;
}

static cnas_tensor *forward(op *o, cnas_graph *g, cnas_tensor *x, bool training)
{
    cnas_op_forward_ctx ctx = {sizeof ctx, training, NULL};
    return o->vt->forward(o->self, g, x, &ctx);
}

/* A persistent tensor of distinct values ±(0.05 + 0.025·m), shuffled. */
static cnas_tensor *spaced_input(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed)
{
    cnas_error err;
    cnas_tensor *x = cnas_tensor_new(CNAS_SHAPE(n, c, h, w), &err);
    ck_assert_msg(x != NULL, "%s", err.msg);
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

static void assert_shape(const cnas_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w)
{
    char s[CNAS_SHAPE_STR_MAX];
    ck_assert_msg(t->ndim == 4 && t->shape[0] == n && t->shape[1] == c && t->shape[2] == h &&
                      t->shape[3] == w, "shape %s, expected [%lld, %lld, %lld, %lld]",
                  cnas_shape_str(t, s, sizeof s), (long long)n, (long long)c, (long long)h,
                  (long long)w);
}

/* ---- the descriptor and the built plugin -------------------------------------------- */

START_TEST(test_descriptor_lists_the_three_resnet_layers_as_op_components)
{
    const cnas_plugin_desc *d = cnas_plugin_entry();
    ck_assert_str_eq(d->name, "resnet_ops");
    ck_assert_int_eq(d->abi_major, CNAS_ABI_MAJOR);
    ck_assert_uint_eq(d->n_components, 3);
    const char *names[3] = {"basic_block", "conv_bn_relu", "max_pool_2x2"};
    for (int i = 0; i < 3; i++) {
        const cnas_component *c = component(names[i]);
        ck_assert_int_eq(c->kind, CNAS_KIND_OP);
        ck_assert_uint_ge(((const cnas_op_vtable *)c->vtable)->size, sizeof(cnas_op_vtable));
    }
}
END_TEST

START_TEST(test_built_plugin_exports_only_its_entry_and_its_block_runs)
{
    const char *path = getenv("RESNET_OPS_SO");
    ck_assert_msg(path != NULL, "RESNET_OPS_SO is not set");
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen %s: %s", path, dlerror());
    cnas_plugin_entry_fn entry = (cnas_plugin_entry_fn)dlsym(h, CNAS_PLUGIN_ENTRY_SYMBOL);
    ck_assert_ptr_nonnull(entry);
    ck_assert_ptr_null(dlsym(h, "rop_new"));
    const cnas_plugin_desc *d = entry();
    cnas_component_list list = {d->components, (int)d->n_components};
    cnas_op_factory f = cnas_op_factory_from_list(&list);
    cnas_rng rng;
    cnas_rng_init(&rng, 1, "init");
    cnas_op_args a = {sizeof a, 3, 5, 2, true, true, &rng};
    const cnas_op_vtable *vt;
    void *self;
    cnas_error err;
    ck_assert_msg(f.create(f.ctx, "resnet_ops/basic_block", &a, NULL, NULL, 0, &vt, &self, &err) ==
                  CNAS_OK, "%s", err.msg);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 8, 8));
    cnas_rng_fill_normal(&rng, x->data, x->numel, 0, 1);
    cnas_op_forward_ctx ctx = {sizeof ctx, true, NULL};
    cnas_tensor *y = vt->forward(self, g, x, &ctx);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    assert_shape(y, 2, 5, 4, 4);
    vt->destroy(self);
    cnas_graph_free(g);
}
END_TEST

/* ---- structure ------------------------------------------------------------------------- */

START_TEST(test_identity_block_keeps_the_shape_and_owns_two_convs_and_two_batch_norms)
{
    op o = make("basic_block", 4, 4, 1, true, true);
    ck_assert_int_eq(o.vt->tensors(o.self, NULL, 0), 2 + 2 * 4);
    ck_assert_ptr_null(find_tensor(&o, "downsample.0.weight"));
    ck_assert_int_eq(find_tensor(&o, "conv1.weight")->shape[1], 4);
    /* 2 convs of 4·4·9 and 2 BNs of 2·4 trainable values. */
    ck_assert_int_eq(count_role(&o, CNAS_ROLE_PARAM), 2 * 144 + 2 * 8);
    ck_assert_int_eq(count_role(&o, CNAS_ROLE_BUFFER), 2 * 8);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 4, 7, 5));
    cnas_rng_fill_normal(&o.rng, x->data, x->numel, 0, 1);
    cnas_tensor *y = forward(&o, g, x, true);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    assert_shape(y, 2, 4, 7, 5);
    for (int64_t i = 0; i < y->numel; i++)
        ck_assert_float_ge(y->data[i], 0.0f);
    cnas_graph_free(g);
    drop(&o);
}
END_TEST

START_TEST(test_width_or_stride_change_adds_a_1x1_projection_with_its_batch_norm)
{
    op o = make("basic_block", 4, 6, 1, true, true);
    /* conv1 4·6·9, conv2 6·6·9, projection 4·6, three affine BNs of 2·6. */
    ck_assert_int_eq(count_role(&o, CNAS_ROLE_PARAM), 216 + 324 + 24 + 3 * 12);
    cnas_tensor *p = find_tensor(&o, "downsample.0.weight");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->shape[0], 6);
    ck_assert_int_eq(p->shape[1], 4);
    ck_assert_int_eq(p->shape[2], 1);
    ck_assert_ptr_nonnull(find_tensor(&o, "downsample.1.running_var"));
    drop(&o);

    o = make("basic_block", 4, 4, 2, false, false);
    ck_assert_ptr_nonnull(find_tensor(&o, "downsample.0.weight"));
    /* The search form: no BN scale / shift, no running statistics. */
    ck_assert_ptr_null(find_tensor(&o, "bn1.weight"));
    ck_assert_ptr_null(find_tensor(&o, "bn2.running_mean"));
    ck_assert_int_eq(count_role(&o, CNAS_ROLE_BUFFER), 0);
    ck_assert_int_eq(count_role(&o, CNAS_ROLE_PARAM), 144 + 144 + 16);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(3, 4, 7, 6));
    cnas_rng_fill_normal(&o.rng, x->data, x->numel, 0, 1);
    cnas_tensor *y = forward(&o, g, x, true);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    assert_shape(y, 3, 4, 4, 3);
    cnas_graph_free(g);
    drop(&o);
}
END_TEST

START_TEST(test_initial_state_is_the_pytorch_default)
{
    op o = make("basic_block", 4, 8, 1, true, true);
    cnas_named_tensor t[32];
    int n = o.vt->tensors(o.self, t, 32);
    for (int i = 0; i < n; i++) {
        const cnas_tensor *w = t[i].tensor;
        const char *name = t[i].name;
        if (w->ndim == 4) {
            ck_assert(cnas_tensor_requires_grad(w));
            float bound = 1.0f / sqrtf((float)(w->numel / w->shape[0]));
            for (int64_t j = 0; j < w->numel; j++)
                ck_assert_msg(fabsf(w->data[j]) <= bound, "%s[%lld] = %g beyond %g", name,
                              (long long)j, w->data[j], bound);
            continue;
        }
        float want = strstr(name, "running_var") || strstr(name, ".weight") ? 1.0f : 0.0f;
        for (int64_t j = 0; j < w->numel; j++)
            ck_assert_msg(w->data[j] == want, "%s[%lld] = %g, expected %g", name, (long long)j,
                          w->data[j], want);
        ck_assert_int_eq(cnas_tensor_requires_grad(w), t[i].role == CNAS_ROLE_PARAM);
    }
    drop(&o);
}
END_TEST

/* ---- semantics ------------------------------------------------------------------------- */

static cnas_tensor *ref_bn(cnas_graph *g, cnas_tensor *x, op *o, const char *prefix)
{
    char n[64];
    cnas_tensor *ga, *be, *rm, *rv;
    snprintf(n, sizeof n, "%s.weight", prefix);
    ga = find_tensor(o, n);
    snprintf(n, sizeof n, "%s.bias", prefix);
    be = find_tensor(o, n);
    snprintf(n, sizeof n, "%s.running_mean", prefix);
    rm = find_tensor(o, n);
    snprintf(n, sizeof n, "%s.running_var", prefix);
    rv = find_tensor(o, n);
    cnas_batch_norm_params p = {.training = true, .momentum = 0.1f, .eps = 1e-5f};
    return cnas_batch_norm(g, x, ga, be, rm, rv, &p);
}

static void check_block_composition(int c_in, int c_out, int stride, bool affine)
{
    op o = make("basic_block", c_in, c_out, stride, affine, false);
    if (affine) {
        cnas_rng r;
        cnas_rng_init(&r, 5, "bn");
        const char *bns[3] = {"bn1", "bn2", "downsample.1"};
        for (int i = 0; i < 3; i++) {
            char n[64];
            snprintf(n, sizeof n, "%s.weight", bns[i]);
            cnas_tensor *ga = find_tensor(&o, n);
            snprintf(n, sizeof n, "%s.bias", bns[i]);
            cnas_tensor *be = find_tensor(&o, n);
            if (ga) {
                cnas_rng_fill_uniform(&r, ga->data, ga->numel, 0.5f, 1.5f);
                cnas_rng_fill_uniform(&r, be->data, be->numel, -0.5f, 0.5f);
            }
        }
    }
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, c_in, 6, 6));
    cnas_rng_fill_normal(&o.rng, x->data, x->numel, 0, 1);
    cnas_tensor *y = forward(&o, g, x, true);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    cnas_conv2d_params c1 = {.stride_h = stride, .stride_w = stride, .pad_h = 1, .pad_w = 1};
    cnas_conv2d_params c2 = {.pad_h = 1, .pad_w = 1};
    cnas_conv2d_params pr = {.stride_h = stride, .stride_w = stride};
    cnas_tensor *h = cnas_relu(g, ref_bn(g, cnas_conv2d(g, x, find_tensor(&o, "conv1.weight"), NULL,
                                                        &c1), &o, "bn1"));
    h = ref_bn(g, cnas_conv2d(g, h, find_tensor(&o, "conv2.weight"), NULL, &c2), &o, "bn2");
    cnas_tensor *pw = find_tensor(&o, "downsample.0.weight");
    cnas_tensor *sc = pw ? ref_bn(g, cnas_conv2d(g, x, pw, NULL, &pr), &o, "downsample.1") : x;
    cnas_tensor *want = cnas_relu(g, cnas_add(g, h, sc));
    ck_assert_msg(want != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_int_eq(want->numel, y->numel);
    for (int64_t i = 0; i < y->numel; i++)
        ck_assert_msg(y->data[i] == want->data[i], "element %lld: %g, composition gives %g",
                      (long long)i, y->data[i], want->data[i]);
    cnas_graph_free(g);
    drop(&o);
}

START_TEST(test_block_is_conv_bn_relu_conv_bn_plus_shortcut_then_relu)
{
    check_block_composition(4, 4, 1, true);   /* identity shortcut */
    check_block_composition(4, 6, 1, true);   /* projection for the width */
    check_block_composition(4, 4, 2, false);  /* projection for the stride, search form */
}
END_TEST

START_TEST(test_conv_bn_relu_is_conv3x3_then_bn_then_relu)
{
    op o = make("conv_bn_relu", 3, 5, 1, true, true);
    ck_assert_int_eq(count_role(&o, CNAS_ROLE_PARAM), 3 * 5 * 9 + 2 * 5);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 5, 5));
    cnas_rng_fill_normal(&o.rng, x->data, x->numel, 0, 1);
    cnas_tensor *y = forward(&o, g, x, false);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    assert_shape(y, 2, 5, 5, 5);
    cnas_conv2d_params c = {.pad_h = 1, .pad_w = 1};
    cnas_batch_norm_params p = {.training = false, .momentum = 0.1f, .eps = 1e-5f};
    cnas_tensor *want = cnas_relu(g, cnas_batch_norm(g, cnas_conv2d(g, x, find_tensor(&o, "conv.weight"),
                                                                   NULL, &c),
                                                     find_tensor(&o, "bn.weight"),
                                                     find_tensor(&o, "bn.bias"),
                                                     find_tensor(&o, "bn.running_mean"),
                                                     find_tensor(&o, "bn.running_var"), &p));
    for (int64_t i = 0; i < y->numel; i++)
        ck_assert_float_eq(y->data[i], want->data[i]);
    cnas_graph_free(g);
    drop(&o);
}
END_TEST

START_TEST(test_max_pool_2x2_takes_the_window_maximum_and_floors_odd_sizes)
{
    op o = make("max_pool_2x2", 2, 2, 2, false, false);
    ck_assert_int_eq(o.vt->tensors(o.self, NULL, 0), 0);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(1, 2, 5, 7));
    cnas_rng_fill_normal(&o.rng, x->data, x->numel, 0, 1);
    cnas_tensor *y = forward(&o, g, x, true);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    assert_shape(y, 1, 2, 2, 3);
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) {
                const float *p = x->data + c * 35 + 2 * i * 7 + 2 * j;
                float m = fmaxf(fmaxf(p[0], p[1]), fmaxf(p[7], p[8]));
                ck_assert_float_eq(y->data[c * 6 + i * 3 + j], m);
            }
    cnas_graph_free(g);
    drop(&o);
}
END_TEST

START_TEST(test_without_running_statistics_evaluation_uses_batch_statistics)
{
    /* The supernet form: evaluation gives exactly what training gives. */
    op s = make("basic_block", 3, 4, 1, false, false);
    op n = make("basic_block", 3, 4, 1, true, true);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(4, 3, 5, 5));
    cnas_rng_fill_normal(&s.rng, x->data, x->numel, 1.0f, 2.0f);
    cnas_tensor *yt = forward(&s, g, x, true), *ye = forward(&s, g, x, false);
    ck_assert_ptr_nonnull(yt);
    ck_assert_ptr_nonnull(ye);
    ck_assert_mem_eq(yt->data, ye->data, cnas_tensor_bytes(yt));
    /* The network form keeps running statistics: a training pass moves them and
     * evaluation then differs from training. */
    cnas_tensor *rm = find_tensor(&n, "bn1.running_mean");
    float before = rm->data[0];
    cnas_tensor *nt = forward(&n, g, x, true), *ne = forward(&n, g, x, false);
    ck_assert_ptr_nonnull(nt);
    ck_assert_ptr_nonnull(ne);
    ck_assert_float_ne(rm->data[0], before);
    ck_assert(memcmp(nt->data, ne->data, cnas_tensor_bytes(nt)) != 0);
    cnas_graph_free(g);
    drop(&s);
    drop(&n);
}
END_TEST

/* ---- gradients ----------------------------------------------------------------------------- */

typedef struct gc_ctx {
    op *o;
} gc_ctx;

static cnas_tensor *gc_forward(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    gc_ctx *c = ctx;
    return forward(c->o, g, in[0], true);
}

/* d(output)/d(input) and d(output)/d(every parameter), training mode. */
static void gradcheck_op(const char *name, int c_in, int c_out, int stride, int64_t hw)
{
    op o = make(name, c_in, c_out, stride, true, true);
    cnas_named_tensor t[32];
    int n = o.vt->tensors(o.self, t, 32);
    cnas_tensor *inputs[33];
    inputs[0] = spaced_input(2, c_in, hw, hw, 11);
    cnas_tensor_set_requires_grad(inputs[0], true);
    int n_in = 1;
    for (int i = 0; i < n; i++) {
        if (t[i].role != CNAS_ROLE_PARAM)
            continue;
        size_t len = strlen(t[i].name);
        bool bn = t[i].tensor->ndim == 1;
        for (int64_t c = 0; bn && c < t[i].tensor->numel; c++)
            t[i].tensor->data[c] = strcmp(t[i].name + len - 5, ".bias") == 0
                                       ? (c % 2 ? -3.0f : 3.0f)
                                       : 0.25f;
        inputs[n_in++] = t[i].tensor;
    }
    gc_ctx ctx = {&o};
    cnas_gradcheck_opts opts = {.eps = 1e-2, .atol = 2e-3, .rtol = 2e-2, .seed = 3};
    TU_GRADCHECK(gc_forward, &ctx, inputs, n_in, &opts);
    cnas_tensor_free(inputs[0]);
    drop(&o);
}

START_TEST(test_identity_block_backward_matches_finite_differences)
{
    gradcheck_op("basic_block", 3, 3, 1, 4);
}
END_TEST

START_TEST(test_projection_block_backward_matches_finite_differences)
{
    gradcheck_op("basic_block", 3, 4, 1, 4);
    gradcheck_op("basic_block", 3, 3, 2, 4);
}
END_TEST

START_TEST(test_conv_bn_relu_and_max_pool_backward_match_finite_differences)
{
    gradcheck_op("conv_bn_relu", 2, 3, 1, 4);
    gradcheck_op("max_pool_2x2", 3, 3, 2, 5);
}
END_TEST

/* ---- FLOPs and errors ------------------------------------------------------------------------ */

START_TEST(test_flops_count_multiply_accumulates_as_documented)
{
    int64_t in[4] = {2, 4, 8, 8}, out[4];
    op o = make("basic_block", 4, 4, 1, false, false);
    /* Two 3x3 convs 4->4 over 2·8·8 outputs, two BNs of 2·4·8·8 elements. */
    ck_assert_int_eq(o.vt->flops(o.self, in, out), 2 * (2 * 4 * 64 * 4 * 9) + 2 * (2 * 4 * 64));
    ck_assert_int_eq(out[1], 4);
    ck_assert_int_eq(out[2], 8);
    drop(&o);
    o = make("basic_block", 4, 6, 2, true, true);
    /* conv1 4->6 at stride 2 (4x4 out), conv2 6->6, 1x1 projection 4->6, three BNs. */
    int64_t e = 2 * 6 * 16 * 4 * 9 + 2 * 6 * 16 * 6 * 9 + 2 * 6 * 16 * 4 + 3 * (2 * 6 * 16);
    ck_assert_int_eq(o.vt->flops(o.self, in, out), e);
    ck_assert_int_eq(out[1], 6);
    ck_assert_int_eq(out[2], 4);
    ck_assert_int_eq(out[3], 4);
    drop(&o);
    o = make("conv_bn_relu", 4, 5, 1, true, true);
    ck_assert_int_eq(o.vt->flops(o.self, in, out), 2 * 5 * 64 * 4 * 9 + 2 * 5 * 64);
    drop(&o);
    o = make("max_pool_2x2", 4, 4, 2, true, true);
    int64_t odd[4] = {1, 4, 7, 9};
    ck_assert_int_eq(o.vt->flops(o.self, odd, out), 4 * (4 * 3 * 4));
    ck_assert_int_eq(out[2], 3);
    ck_assert_int_eq(out[3], 4);
    int64_t wrong[4] = {1, 3, 8, 8};
    ck_assert_int_eq(o.vt->flops(o.self, wrong, out), -1);
    drop(&o);
}
END_TEST

START_TEST(test_create_rejects_bad_arguments_naming_the_op_and_the_values)
{
    op o;
    cnas_error err;
    ck_assert_int_eq(try_make(&o, "basic_block", 0, 4, 1, true, true, &err), CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "basic_block") && strstr(err.msg, "C_in = 0"), "%s", err.msg);
    ck_assert_int_eq(try_make(&o, "conv_bn_relu", 3, 4, 3, true, true, &err), CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "conv_bn_relu") && strstr(err.msg, "stride 3"), "%s", err.msg);
    ck_assert_int_eq(try_make(&o, "max_pool_2x2", 4, 4, 1, true, true, &err), CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "max_pool_2x2") && strstr(err.msg, "stride 1"), "%s", err.msg);
    ck_assert_int_eq(try_make(&o, "max_pool_2x2", 4, 8, 2, true, true, &err), CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "C_out = 8"), "%s", err.msg);
    const cnas_component *c = component("basic_block");
    cnas_op_args a = {sizeof a, 4, 4, 1, true, true, NULL};
    void *self = NULL;
    ck_assert_int_eq(((const cnas_op_vtable *)c->vtable)->create(&a, NULL, &self, &err),
                     CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "init_rng"), "%s", err.msg);
    ck_assert_ptr_null(self);
}
END_TEST

START_TEST(test_forward_rejects_wrong_channels_and_too_small_inputs_naming_the_shapes)
{
    op o = make("basic_block", 4, 4, 1, true, true);
    op p = make("max_pool_2x2", 4, 4, 2, true, true);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_zeros(g, CNAS_SHAPE(2, 3, 6, 6));
    ck_assert_ptr_null(forward(&o, g, x, true));
    ck_assert_int_eq(cnas_graph_status(g), CNAS_ERR_SHAPE);
    ck_assert_msg(strstr(cnas_graph_error(g)->msg, "basic_block: input [2, 3, 6, 6]"), "%s",
                  cnas_graph_error(g)->msg);
    cnas_graph_reset(g);
    x = cnas_graph_zeros(g, CNAS_SHAPE(2, 4, 1, 6));
    ck_assert_ptr_null(forward(&p, g, x, true));
    ck_assert_msg(strstr(cnas_graph_error(g)->msg, "max_pool_2x2: input [2, 4, 1, 6]"), "%s",
                  cnas_graph_error(g)->msg);
    cnas_graph_free(g);
    drop(&o);
    drop(&p);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("resnet_ops");
    TCase *plug = tcase_create("plugin");
    tcase_add_test(plug, test_descriptor_lists_the_three_resnet_layers_as_op_components);
    tcase_add_test(plug, test_built_plugin_exports_only_its_entry_and_its_block_runs);
    suite_add_tcase(s, plug);
    TCase *st = tcase_create("structure");
    tcase_add_test(st, test_identity_block_keeps_the_shape_and_owns_two_convs_and_two_batch_norms);
    tcase_add_test(st, test_width_or_stride_change_adds_a_1x1_projection_with_its_batch_norm);
    tcase_add_test(st, test_initial_state_is_the_pytorch_default);
    suite_add_tcase(s, st);
    TCase *sem = tcase_create("semantics");
    tcase_add_test(sem, test_block_is_conv_bn_relu_conv_bn_plus_shortcut_then_relu);
    tcase_add_test(sem, test_conv_bn_relu_is_conv3x3_then_bn_then_relu);
    tcase_add_test(sem, test_max_pool_2x2_takes_the_window_maximum_and_floors_odd_sizes);
    tcase_add_test(sem, test_without_running_statistics_evaluation_uses_batch_statistics);
    suite_add_tcase(s, sem);
    TCase *gr = tcase_create("gradients");
    tcase_set_timeout(gr, 120);
    tcase_add_test(gr, test_identity_block_backward_matches_finite_differences);
    tcase_add_test(gr, test_projection_block_backward_matches_finite_differences);
    tcase_add_test(gr, test_conv_bn_relu_and_max_pool_backward_match_finite_differences);
    suite_add_tcase(s, gr);
    TCase *misc = tcase_create("flops_and_errors");
    tcase_add_test(misc, test_flops_count_multiply_accumulates_as_documented);
    tcase_add_test(misc, test_create_rejects_bad_arguments_naming_the_op_and_the_values);
    tcase_add_test(misc, test_forward_rejects_wrong_channels_and_too_small_inputs_naming_the_shapes);
    suite_add_tcase(s, misc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
