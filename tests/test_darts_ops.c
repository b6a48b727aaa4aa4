/* The darts_ops plugin: the DARTS op set of quark0/darts cnn/operations.py.
 *
 * Components are driven through the plugin descriptor (the plugin's sources are
 * compiled into this suite) exactly as a search space drives them through the host:
 * keys resolved against the component's schema, then create / forward / tensors /
 * flops. The built darts_ops.so is also loaded with dlopen, as the host loads it.
 *
 * Gradient checks run where no ReLU or max sits within the finite-difference step of
 * its kink: inputs are distinct values at least 0.025 apart and at least 0.05 away
 * from zero (step 1e-2), and batch-norm shifts are set to ±3 per channel, so the ReLU
 * inside sep_conv sees values far from zero and still masks whole channels. */
#include "testutil.h"

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const cnas_plugin_desc *cnas_plugin_entry(void);

static const char *const all_ops[] = {"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                                      "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
                                      "dil_conv_5x5", "relu_conv_bn", "factorized_reduce",
                                      "conv_3x3"};
#define N_OPS ((int)(sizeof all_ops / sizeof all_ops[0]))

static const cnas_component *component(const char *name)
{
    const cnas_plugin_desc *d = cnas_plugin_entry();
    for (uint32_t i = 0; i < d->n_components; i++)
        if (strcmp(d->components[i].name, name) == 0)
            return &d->components[i];
    ck_abort_msg("darts_ops has no component '%s'", name);
    return NULL;
}

/* One created op and what it needs to run. */
typedef struct op {
    const cnas_op_vtable *vt;
    void *self;
    cnas_rng rng;
} op;

typedef struct op_spec {
    const char *name;
    int c_in, c_out, stride;
    bool affine, track;
    int n_kv;
    const char *keys[2], *vals[2];
} op_spec;

/* Designated initialisers for an op_spec's leading fields (tables). */
#define OPS(n, ci, co, s) .name = (n), .c_in = (ci), .c_out = (co), .stride = (s)

static op_spec spec(const char *name, int c_in, int c_out, int stride, bool affine, bool track)
{
    return (op_spec){.name = name, .c_in = c_in, .c_out = c_out, .stride = stride,
                     .affine = affine, .track = track};
}

/* The spec with one or two keys set. */
static op_spec kv1(op_spec s, const char *k, const char *v)
{
    s.n_kv = 1;
    s.keys[0] = k;
    s.vals[0] = v;
    return s;
}

static op_spec kv2(op_spec s, const char *k0, const char *v0, const char *k1, const char *v1)
{
    s = kv1(s, k0, v0);
    s.n_kv = 2;
    s.keys[1] = k1;
    s.vals[1] = v1;
    return s;
}

/* Resolve the keys against the component's schema and create; the status is
 * returned and err filled, o->self set only on success. */
static cnas_status try_make(op *o, op_spec s, cnas_error *err)
{
    const cnas_component *c = component(s.name);
    cnas_params *p = NULL;
    cnas_status st = cnas_params_resolve(c->params, (int)c->n_params, "test", s.keys, s.vals,
                                         s.n_kv, &p, err);
    ck_assert_msg(st == CNAS_OK, "keys of %s: %s", s.name, err->msg);
    o->vt = c->vtable;
    o->self = NULL;
    cnas_rng_init(&o->rng, 7, "init");
    cnas_op_args a = {sizeof a, s.c_in, s.c_out, s.stride, s.affine, s.track, &o->rng};
    st = o->vt->create(&a, p, &o->self, err);
    cnas_params_free(p);
    return st;
}

static op make(op_spec s)
{
    op o;
    cnas_error err;
    cnas_status st = try_make(&o, s, &err);
    ck_assert_msg(st == CNAS_OK, "creating %s: %s", s.name, err.msg);
    ck_assert_ptr_nonnull(o.self);
    return o;
}

static void drop(op *o)
{
    o->vt->destroy(o->self);
    o->self = NULL;
}

static int64_t count_role(const op *o, cnas_tensor_role role)
{
    cnas_named_tensor t[32];
    int n = o->vt->tensors(o->self, t, 32);
    ck_assert_int_le(n, 32);
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        if (t[i].role == role)
            total += t[i].tensor->numel;
    return total;
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

static cnas_tensor *forward(op *o, cnas_graph *g, cnas_tensor *x, bool training)
{
    cnas_op_forward_ctx ctx = {sizeof ctx, training, NULL};
    return o->vt->forward(o->self, g, x, &ctx);
}

/* A persistent [n, c, h, w] tensor of distinct values: ±(0.05 + 0.025·m), shuffled,
 * so no two are within 0.025 of each other and none within 0.05 of zero. */
static cnas_tensor *spaced_input(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed)
{
    cnas_error err;
    cnas_tensor *x = cnas_tensor_new(CNAS_SHAPE(n, c, h, w), &err);
    ck_assert_msg(x != NULL, "%s", err.msg);
    int64_t *idx = malloc((size_t)x->numel * sizeof *idx);
    ck_assert_ptr_nonnull(idx);
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

static cnas_tensor *step_copy(cnas_graph *g, const cnas_tensor *x)
{
    cnas_tensor *y = cnas_graph_tensor_like(g, x);
    ck_assert_ptr_nonnull(y);
    memcpy(y->data, x->data, cnas_tensor_bytes(x));
    return y;
}

/* ---- the descriptor and the built plugin ------------------------------------------ */

START_TEST(test_descriptor_lists_every_darts_op_once_as_an_op_component)
{
    const cnas_plugin_desc *d = cnas_plugin_entry();
    ck_assert_uint_eq(d->size, sizeof(cnas_plugin_desc));
    ck_assert_uint_eq(d->abi_major, CNAS_ABI_MAJOR);
    ck_assert_uint_le(d->abi_minor, CNAS_ABI_MINOR);
    ck_assert_str_eq(d->name, "darts_ops");
    ck_assert_int_eq((int)d->n_components, N_OPS);
    for (uint32_t i = 0; i < d->n_components; i++) {
        const cnas_component *c = &d->components[i];
        ck_assert_uint_eq(c->size, sizeof(cnas_component));
        ck_assert_int_eq(c->kind, CNAS_KIND_OP);
        ck_assert_msg(strspn(c->name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(c->name),
                      "component name '%s' is not [a-z0-9_]+", c->name);
        for (uint32_t j = 0; j < i; j++)
            ck_assert_str_ne(c->name, d->components[j].name);
        const cnas_op_vtable *vt = c->vtable;
        ck_assert_uint_eq(vt->size, sizeof(cnas_op_vtable));
        ck_assert_msg(vt->create && vt->destroy && vt->forward && vt->tensors && vt->flops,
                      "%s has an empty vtable slot", c->name);
    }
    for (int k = 0; k < N_OPS; k++)
        ck_assert_ptr_nonnull(component(all_ops[k]));
}
END_TEST

START_TEST(test_built_plugin_exports_only_its_entry_and_its_ops_run)
{
    const char *path = getenv("DARTS_OPS_SO");
    ck_assert_msg(path && *path, "DARTS_OPS_SO is not set (run through meson test)");
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen %s: %s", path, dlerror());
    cnas_plugin_entry_fn entry = (cnas_plugin_entry_fn)dlsym(h, CNAS_PLUGIN_ENTRY_SYMBOL);
    ck_assert_msg(entry != NULL, "%s does not export %s", path, CNAS_PLUGIN_ENTRY_SYMBOL);
    /* The plugin's internal helpers stay internal. */
    ck_assert_ptr_null(dlsym(h, "dop_new"));
    const cnas_plugin_desc *d = entry();
    ck_assert_ptr_ne(d, cnas_plugin_entry());
    ck_assert_str_eq(d->name, "darts_ops");
    ck_assert_uint_eq(d->n_components, cnas_plugin_entry()->n_components);
    const cnas_op_vtable *vt = NULL;
    for (uint32_t i = 0; i < d->n_components; i++)
        if (strcmp(d->components[i].name, "sep_conv_3x3") == 0)
            vt = d->components[i].vtable;
    ck_assert_ptr_nonnull(vt);
    cnas_error err;
    cnas_rng rng;
    cnas_rng_init(&rng, 1, "init");
    cnas_op_args a = {sizeof a, 4, 8, 2, true, true, &rng};
    void *self = NULL;
    ck_assert_msg(vt->create(&a, NULL, &self, &err) == CNAS_OK, "%s", err.msg);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 4, 8, 8));
    cnas_rng_fill_uniform(&rng, x->data, x->numel, -1, 1);
    cnas_op_forward_ctx ctx = {sizeof ctx, true, NULL};
    cnas_tensor *y = vt->forward(self, g, x, &ctx);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert(y->ndim == 4 && y->shape[0] == 2 && y->shape[1] == 8 && y->shape[2] == 4 &&
              y->shape[3] == 4);
    cnas_graph_free(g);
    vt->destroy(self);
    dlclose(h);
}
END_TEST

/* ---- shapes ------------------------------------------------------------------------ */

START_TEST(test_every_op_gives_the_reference_output_shape_at_stride_1_and_2)
{
    /* Channel-preserving ops run 4 -> 4, the others 4 -> 6. FactorizedReduce has no
     * stride in the reference and always halves. */
    static const struct { const char *name; int c_out; bool always_halves; } cases[] = {
        {"none", 4, false},         {"max_pool_3x3", 4, false}, {"avg_pool_3x3", 4, false},
        {"skip_connect", 4, false}, {"sep_conv_3x3", 6, false}, {"sep_conv_5x5", 6, false},
        {"dil_conv_3x3", 6, false}, {"dil_conv_5x5", 6, false}, {"relu_conv_bn", 6, false},
        {"factorized_reduce", 6, true}, {"conv_3x3", 6, false},
    };
    static const int sizes[] = {8, 6};
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int stride = 1; stride <= 2; stride++)
            for (int si = 0; si < 2; si++) {
                int hw = sizes[si];
                op o = make(spec(cases[k].name, 4, cases[k].c_out, stride, true, true));
                cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 4, hw, hw));
                cnas_rng_fill_uniform(&o.rng, x->data, x->numel, -1, 1);
                cnas_tensor *y = forward(&o, g, x, true);
                ck_assert_msg(y != NULL, "%s: %s", cases[k].name, cnas_graph_error(g)->msg);
                int64_t want = stride == 2 || cases[k].always_halves ? hw / 2 : hw;
                char s[CNAS_SHAPE_STR_MAX];
                ck_assert_msg(y->ndim == 4 && y->shape[0] == 2 && y->shape[1] == cases[k].c_out &&
                                  y->shape[2] == want && y->shape[3] == want,
                              "%s stride %d on %dx%d gave %s, expected [2, %d, %lld, %lld]",
                              cases[k].name, stride, hw, hw, cnas_shape_str(y, s, sizeof s),
                              cases[k].c_out, (long long)want, (long long)want);
                /* flops reports the same output shape. */
                int64_t in[4] = {2, 4, hw, hw}, out[4];
                ck_assert_int_ge(o.vt->flops(o.self, in, out), 0);
                for (int d = 0; d < 4; d++)
                    ck_assert_int_eq(out[d], y->shape[d]);
                drop(&o);
                cnas_graph_reset(g);
            }
    cnas_graph_free(g);
}
END_TEST

START_TEST(test_strided_ops_give_ceil_of_half_on_odd_sizes)
{
    /* x[:, :, ::2, ::2] and a 3x3 / 5x5 / dilated window with "same" padding at stride 2
     * all give ceil(7/2) = 4 rows. */
    static const char *const names[] = {"none", "max_pool_3x3", "avg_pool_3x3", "sep_conv_3x3",
                                        "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
                                        "conv_3x3"};
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        op o = make(spec(names[k], 3, 3, 2, false, false));
        cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(1, 3, 7, 9));
        cnas_rng_fill_uniform(&o.rng, x->data, x->numel, -1, 1);
        cnas_tensor *y = forward(&o, g, x, true);
        ck_assert_msg(y != NULL, "%s: %s", names[k], cnas_graph_error(g)->msg);
        ck_assert_msg(y->shape[2] == 4 && y->shape[3] == 5, "%s: %lldx%lld, expected 4x5",
                      names[k], (long long)y->shape[2], (long long)y->shape[3]);
        drop(&o);
        cnas_graph_reset(g);
    }
    cnas_graph_free(g);
}
END_TEST

/* ---- parameters and buffers --------------------------------------------------------- */

START_TEST(test_parameter_counts_equal_the_pytorch_module_counts)
{
    /* C = 16, affine BN (weight + bias = 2·C each); derived by hand from operations.py:
     *   sep_conv_3x3   2·(16·9 + 16·16 + 2·16)           = 2·432   = 864
     *   sep_conv_5x5   2·(16·25 + 16·16 + 2·16)          = 2·688   = 1376
     *   dil_conv_3x3   16·9 + 16·16 + 2·16                         = 432
     *   dil_conv_5x5   16·25 + 16·16 + 2·16                        = 688
     *   skip_connect s1  0;  s2 = FactorizedReduce(16, 16): 2·(8·16) + 2·16 = 288
     *   factorized_reduce(16, 32)  2·(16·16) + 2·32                = 576
     *   relu_conv_bn(16, 32), k = 1   32·16 + 2·32                 = 576
     *   relu_conv_bn(16, 32), k = 3   32·16·9 + 2·32               = 4672
     *   conv_3x3(16, 16)              16·16·9 + 2·16               = 2336
     *   pools, none                   0 (the bn_after BN is affine=False)
     * Without affine, subtract the BN terms. Running statistics are 2·C buffers per BN. */
    static const struct {
        op_spec s;
        int64_t params, params_no_affine, buffers;
    } cases[] = {
        {{OPS("sep_conv_3x3", 16, 16, 1)}, 864, 800, 64},
        {{OPS("sep_conv_5x5", 16, 16, 2)}, 1376, 1312, 64},
        {{OPS("dil_conv_3x3", 16, 16, 1)}, 432, 400, 32},
        {{OPS("dil_conv_5x5", 16, 16, 2)}, 688, 656, 32},
        {{OPS("skip_connect", 16, 16, 1)}, 0, 0, 0},
        {{OPS("skip_connect", 16, 16, 2)}, 288, 256, 32},
        {{OPS("factorized_reduce", 16, 32, 1)}, 576, 512, 64},
        {{OPS("relu_conv_bn", 16, 32, 1)}, 576, 512, 64},
        {{OPS("relu_conv_bn", 16, 32, 1), .n_kv = 2, .keys = {"kernel_size", "padding"},
          .vals = {"3", "1"}}, 4672, 4608, 64},
        {{OPS("conv_3x3", 16, 16, 2)}, 2336, 2304, 32},
        {{OPS("max_pool_3x3", 16, 16, 1)}, 0, 0, 0},
        {{OPS("avg_pool_3x3", 16, 16, 2), .n_kv = 1, .keys = {"bn_after"}, .vals = {"true"}}, 0, 0,
         32},
        {{OPS("none", 16, 16, 2)}, 0, 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int affine = 0; affine <= 1; affine++)
            for (int track = 0; track <= 1; track++) {
                op_spec s = cases[k].s;
                s.affine = affine;
                s.track = track;
                op o = make(s);
                int64_t want = affine ? cases[k].params : cases[k].params_no_affine;
                ck_assert_msg(count_role(&o, CNAS_ROLE_PARAM) == want,
                              "%s (stride %d, affine %d): %lld parameters, expected %lld",
                              s.name, s.stride, affine,
                              (long long)count_role(&o, CNAS_ROLE_PARAM), (long long)want);
                ck_assert_int_eq(count_role(&o, CNAS_ROLE_BUFFER), track ? cases[k].buffers : 0);
                drop(&o);
            }
}
END_TEST

START_TEST(test_tensor_names_follow_the_reference_state_dict_and_are_unique)
{
    op o = make(spec("sep_conv_3x3", 16, 24, 2, true, true));
    static const struct { const char *name; cnas_tensor_role role; int64_t shape[4]; } want[] = {
        {"op.1.weight", CNAS_ROLE_PARAM, {16, 1, 3, 3}},
        {"op.2.weight", CNAS_ROLE_PARAM, {16, 16, 1, 1}},
        {"op.3.weight", CNAS_ROLE_PARAM, {16, 1, 1, 1}},
        {"op.3.bias", CNAS_ROLE_PARAM, {16, 1, 1, 1}},
        {"op.3.running_mean", CNAS_ROLE_BUFFER, {16, 1, 1, 1}},
        {"op.3.running_var", CNAS_ROLE_BUFFER, {16, 1, 1, 1}},
        {"op.5.weight", CNAS_ROLE_PARAM, {16, 1, 3, 3}},
        {"op.6.weight", CNAS_ROLE_PARAM, {24, 16, 1, 1}},
        {"op.7.weight", CNAS_ROLE_PARAM, {24, 1, 1, 1}},
        {"op.7.bias", CNAS_ROLE_PARAM, {24, 1, 1, 1}},
        {"op.7.running_mean", CNAS_ROLE_BUFFER, {24, 1, 1, 1}},
        {"op.7.running_var", CNAS_ROLE_BUFFER, {24, 1, 1, 1}},
    };
    int n_want = (int)(sizeof want / sizeof want[0]);
    ck_assert_int_eq(o.vt->tensors(o.self, NULL, 0), n_want);
    cnas_named_tensor t[16];
    /* A short buffer gets the first entries and the full count. */
    ck_assert_int_eq(o.vt->tensors(o.self, t, 3), n_want);
    ck_assert_str_eq(t[2].name, "op.3.weight");
    ck_assert_int_eq(o.vt->tensors(o.self, t, 16), n_want);
    for (int i = 0; i < n_want; i++) {
        ck_assert_str_eq(t[i].name, want[i].name);
        ck_assert_int_eq(t[i].role, want[i].role);
        for (int d = 0; d < 4; d++)
            ck_assert_int_eq(t[i].tensor->shape[d], want[i].shape[d]);
        ck_assert(cnas_tensor_requires_grad(t[i].tensor) == (want[i].role == CNAS_ROLE_PARAM));
    }
    drop(&o);

    o = make(spec("skip_connect", 8, 8, 2, true, true));
    ck_assert_ptr_nonnull(find_tensor(&o, "conv_1.weight"));
    ck_assert_ptr_nonnull(find_tensor(&o, "conv_2.weight"));
    ck_assert_ptr_nonnull(find_tensor(&o, "bn.running_var"));
    drop(&o);
    o = make(kv1(spec("max_pool_3x3", 8, 8, 1, true, true), "bn_after", "true"));
    ck_assert_int_eq(o.vt->tensors(o.self, NULL, 0), 2);
    ck_assert_ptr_nonnull(find_tensor(&o, "1.running_mean"));
    drop(&o);

    for (int k = 0; k < N_OPS; k++) {
        o = make(spec(all_ops[k], 8, 8, 2, true, true));
        int n = o.vt->tensors(o.self, t, 16);
        ck_assert_int_le(n, 16);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++)
                ck_assert_str_ne(t[i].name, t[j].name);
        drop(&o);
    }
}
END_TEST

START_TEST(test_initial_state_is_the_pytorch_default)
{
    /* BN: weight 1, bias 0, running mean 0, running var 1. Convs: kaiming_uniform(a=√5),
     * i.e. U(-1/√fan_in, 1/√fan_in), drawn from the init stream: same stream, same weights. */
    for (int k = 0; k < N_OPS; k++) {
        op a = make(spec(all_ops[k], 8, 8, 2, true, true));
        op b = make(spec(all_ops[k], 8, 8, 2, true, true));
        cnas_named_tensor ta[16], tb[16];
        int n = a.vt->tensors(a.self, ta, 16);
        ck_assert_int_eq(b.vt->tensors(b.self, tb, 16), n);
        for (int i = 0; i < n; i++) {
            const char *name = ta[i].name;
            const cnas_tensor *t = ta[i].tensor;
            ck_assert_mem_eq(t->data, tb[i].tensor->data, cnas_tensor_bytes(t));
            size_t len = strlen(name);
            bool conv = t->ndim == 4;
            float fill = strstr(name, "running_var") || (!conv && len > 7 &&
                                                        strcmp(name + len - 7, ".weight") == 0)
                             ? 1.0f : 0.0f;
            if (!conv) {
                for (int64_t j = 0; j < t->numel; j++)
                    ck_assert_float_eq(t->data[j], fill);
                continue;
            }
            float bound = 1.0f / sqrtf((float)(t->numel / t->shape[0]));
            float lo = 0, hi = 0;
            for (int64_t j = 0; j < t->numel; j++) {
                lo = fminf(lo, t->data[j]);
                hi = fmaxf(hi, t->data[j]);
            }
            ck_assert_msg(lo >= -bound && hi <= bound && hi - lo > bound / 2,
                          "%s %s: range [%g, %g], expected to fill [-%g, %g]", all_ops[k], name,
                          lo, hi, bound, bound);
        }
        drop(&a);
        drop(&b);
    }
}
END_TEST

/* ---- gradients ------------------------------------------------------------------------- */

typedef struct gc_ctx {
    op *o;
} gc_ctx;

static cnas_tensor *gc_forward(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    gc_ctx *c = ctx;
    return forward(c->o, g, in[0], true);
}

/* Check d(output)/d(input) and d(output)/d(every parameter) in training mode. */
static void gradcheck_op(op_spec s, int64_t hw)
{
    op o = make(s);
    cnas_named_tensor t[16];
    int n = o.vt->tensors(o.self, t, 16);
    cnas_tensor *inputs[17];
    inputs[0] = spaced_input(2, s.c_in, hw, hw, 11);
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
    cnas_gradcheck_opts opts = {.eps = 1e-2, .atol = 2e-3, .rtol = 2e-2, .seed = 3};
    TU_GRADCHECK(gc_forward, &ctx, inputs, n_in, &opts);
    cnas_tensor_free(inputs[0]);
    drop(&o);
}

START_TEST(test_sep_conv_backward_matches_finite_differences)
{
    gradcheck_op(spec("sep_conv_3x3", 4, 4, 1, true, true), 6);
    gradcheck_op(spec("sep_conv_3x3", 4, 6, 2, true, true), 6);
    gradcheck_op(spec("sep_conv_5x5", 4, 4, 1, true, false), 6);
    gradcheck_op(spec("sep_conv_5x5", 4, 4, 2, true, true), 6);
}
END_TEST

START_TEST(test_dil_conv_backward_matches_finite_differences)
{
    gradcheck_op(spec("dil_conv_3x3", 4, 4, 1, true, true), 6);
    gradcheck_op(spec("dil_conv_3x3", 4, 6, 2, false, true), 6);
    gradcheck_op(spec("dil_conv_5x5", 4, 4, 1, true, false), 6);
    gradcheck_op(spec("dil_conv_5x5", 4, 4, 2, true, true), 6);
}
END_TEST

START_TEST(test_factorized_reduce_and_skip_connect_backward_match_finite_differences)
{
    gradcheck_op(spec("factorized_reduce", 4, 6, 1, true, true), 6);
    gradcheck_op(spec("factorized_reduce", 4, 4, 2, false, true), 6);
    gradcheck_op(spec("skip_connect", 4, 4, 2, true, true), 6);
    gradcheck_op(spec("skip_connect", 4, 4, 1, true, true), 6);
}
END_TEST

START_TEST(test_relu_conv_bn_backward_matches_finite_differences)
{
    gradcheck_op(spec("relu_conv_bn", 4, 6, 1, true, true), 6);
    gradcheck_op(kv2(spec("relu_conv_bn", 4, 6, 2, true, true), "kernel_size", "3", "padding",
                     "1"), 6);
    gradcheck_op(spec("conv_3x3", 4, 4, 1, false, true), 6);
    gradcheck_op(spec("conv_3x3", 4, 6, 2, true, false), 6);
}
END_TEST

START_TEST(test_pools_backward_matches_finite_differences_with_and_without_bn_after)
{
    static const char *const pools[] = {"max_pool_3x3", "avg_pool_3x3"};
    for (int k = 0; k < 2; k++)
        for (int stride = 1; stride <= 2; stride++) {
            gradcheck_op(spec(pools[k], 4, 4, stride, false, true), 6);
            gradcheck_op(kv1(spec(pools[k], 4, 4, stride, false, true), "bn_after", "true"), 6);
        }
}
END_TEST

/* ---- op semantics -------------------------------------------------------------------- */

START_TEST(test_factorized_reduce_branches_see_x_and_x_shifted_by_one_pixel)
{
    /* One input channel, unit 1x1 weights, running statistics (0, 1) in evaluation:
     * channel 0 is relu(x) at even rows/columns, channel 1 at odd ones. */
    op o = make(spec("factorized_reduce", 1, 2, 1, false, true));
    cnas_tensor_fill(find_tensor(&o, "conv_1.weight"), 1.0f);
    cnas_tensor_fill(find_tensor(&o, "conv_2.weight"), 1.0f);
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(1, 1, 6, 8));
    for (int64_t i = 0; i < x->numel; i++)
        x->data[i] = (float)(i % 5) - 2.0f + 0.01f * (float)i;
    cnas_tensor *y = forward(&o, g, x, false);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_int_eq(y->shape[1], 2);
    ck_assert_int_eq(y->shape[2], 3);
    ck_assert_int_eq(y->shape[3], 4);
    float s = 1.0f / sqrtf(1.0f + 1e-5f);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            for (int c = 0; c < 2; c++) {
                float v = x->data[(2 * i + c) * 8 + 2 * j + c];
                ck_assert_float_eq_tol(y->data[(c * 3 + i) * 4 + j], fmaxf(v, 0.0f) * s, 1e-6);
            }
    cnas_graph_free(g);
    drop(&o);
}
END_TEST

START_TEST(test_factorized_reduce_equals_its_composition_from_core_ops)
{
    op o = make(spec("factorized_reduce", 4, 6, 1, true, true));
    cnas_error err;
    cnas_tensor *rm = cnas_tensor_new(CNAS_SHAPE(6), &err);
    cnas_tensor *rv = cnas_tensor_new(CNAS_SHAPE(6), &err);
    cnas_tensor_fill(rv, 1.0f);
    cnas_tensor *x0 = spaced_input(2, 4, 8, 6, 5);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = step_copy(g, x0);
    cnas_tensor *y = forward(&o, g, x, true);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);

    cnas_conv2d_params s2 = {.stride_h = 2, .stride_w = 2};
    cnas_batch_norm_params bn = {.training = true, .momentum = 0.1f, .eps = 1e-5f};
    cnas_tensor *r = cnas_relu(g, x);
    cnas_tensor *br[2] = {cnas_conv2d(g, r, find_tensor(&o, "conv_1.weight"), NULL, &s2),
                          cnas_conv2d(g, cnas_crop(g, r, 1, 1, 7, 5),
                                      find_tensor(&o, "conv_2.weight"), NULL, &s2)};
    cnas_tensor *ref = cnas_batch_norm(g, cnas_concat(g, 2, br), find_tensor(&o, "bn.weight"),
                                       find_tensor(&o, "bn.bias"), rm, rv, &bn);
    ck_assert_msg(ref != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert(cnas_tensor_same_shape(y, ref));
    for (int64_t i = 0; i < y->numel; i++)
        ck_assert_float_eq_tol(y->data[i], ref->data[i], 1e-5);
    /* Both updated their running statistics the same way. */
    for (int c = 0; c < 6; c++) {
        ck_assert_float_eq_tol(find_tensor(&o, "bn.running_mean")->data[c], rm->data[c], 1e-6);
        ck_assert_float_eq_tol(find_tensor(&o, "bn.running_var")->data[c], rv->data[c], 1e-6);
    }
    cnas_graph_free(g);
    cnas_tensor_free(x0);
    cnas_tensor_free(rm);
    cnas_tensor_free(rv);
    drop(&o);
}
END_TEST

/* ReLU → depthwise k×k (stride, pad, dilation) → pointwise → BN with fresh statistics,
 * in training mode, using the op's own weights: one unit of SepConv / DilConv. */
static cnas_tensor *ref_unit(cnas_graph *g, cnas_tensor *x, cnas_tensor *dw_w, cnas_tensor *pw_w,
                             cnas_tensor *gamma, cnas_tensor *beta, int stride, int pad, int dil)
{
    cnas_conv2d_params dw = {.stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad,
                             .dilation_h = dil, .dilation_w = dil, .groups = (int)x->shape[1]};
    cnas_conv2d_params pw = {0};
    cnas_batch_norm_params bn = {.training = true, .momentum = 0.1f, .eps = 1e-5f};
    cnas_tensor *h = cnas_conv2d(g, cnas_conv2d(g, cnas_relu(g, x), dw_w, NULL, &dw), pw_w, NULL,
                                 &pw);
    return cnas_batch_norm(g, h, gamma, beta, NULL, NULL, &bn);
}

START_TEST(test_sep_conv_and_dil_conv_equal_their_composition_from_core_ops)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x0 = spaced_input(2, 4, 8, 8, 6);
    /* SepConv: two units, the second at stride 1, C_in -> C_in then C_in -> C_out. */
    op s = make(spec("sep_conv_5x5", 4, 6, 2, true, true));
    cnas_tensor *y = forward(&s, g, step_copy(g, x0), true);
    cnas_tensor *h = ref_unit(g, step_copy(g, x0), find_tensor(&s, "op.1.weight"),
                              find_tensor(&s, "op.2.weight"), find_tensor(&s, "op.3.weight"),
                              find_tensor(&s, "op.3.bias"), 2, 2, 1);
    cnas_tensor *ref = ref_unit(g, h, find_tensor(&s, "op.5.weight"),
                                find_tensor(&s, "op.6.weight"), find_tensor(&s, "op.7.weight"),
                                find_tensor(&s, "op.7.bias"), 1, 2, 1);
    ck_assert_msg(y && ref, "%s", cnas_graph_error(g)->msg);
    ck_assert(cnas_tensor_same_shape(y, ref));
    for (int64_t i = 0; i < y->numel; i++)
        ck_assert_float_eq_tol(y->data[i], ref->data[i], 1e-5);
    drop(&s);
    /* DilConv 5x5: dilation 2, padding 4, one unit. */
    op d = make(spec("dil_conv_5x5", 4, 6, 2, false, false));
    y = forward(&d, g, step_copy(g, x0), true);
    ref = ref_unit(g, step_copy(g, x0), find_tensor(&d, "op.1.weight"),
                   find_tensor(&d, "op.2.weight"), NULL, NULL, 2, 4, 2);
    ck_assert_msg(y && ref, "%s", cnas_graph_error(g)->msg);
    ck_assert(cnas_tensor_same_shape(y, ref));
    for (int64_t i = 0; i < y->numel; i++)
        ck_assert_float_eq_tol(y->data[i], ref->data[i], 1e-5);
    drop(&d);
    cnas_graph_free(g);
    cnas_tensor_free(x0);
}
END_TEST

START_TEST(test_factorized_reduce_rejects_odd_spatial_sizes_naming_both_branch_shapes)
{
    static const char *const names[] = {"factorized_reduce", "skip_connect"};
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    for (int k = 0; k < 2; k++) {
        op o = make(spec(names[k], 4, 4, 2, true, true));
        cnas_tensor *x = cnas_graph_zeros(g, CNAS_SHAPE(2, 4, 7, 6));
        ck_assert_ptr_null(forward(&o, g, x, true));
        ck_assert_int_eq(cnas_graph_status(g), CNAS_ERR_SHAPE);
        const char *msg = cnas_graph_error(g)->msg;
        ck_assert_msg(strstr(msg, names[k]) && strstr(msg, "[2, 4, 7, 6]") &&
                          strstr(msg, "4x3") && strstr(msg, "3x3"),
                      "unhelpful message: %s", msg);
        int64_t in[4] = {2, 4, 7, 6}, out[4] = {9, 9, 9, 9};
        ck_assert_int_eq(o.vt->flops(o.self, in, out), -1);
        ck_assert_int_eq(out[2], 0);
        drop(&o);
        cnas_graph_reset(g);
    }
    cnas_graph_free(g);
}
END_TEST

START_TEST(test_none_returns_zeros_of_the_strided_shape_and_records_nothing)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x0 = spaced_input(2, 4, 7, 6, 9);
    cnas_tensor_set_requires_grad(x0, true);
    for (int stride = 1; stride <= 2; stride++) {
        op o = make(spec("none", 4, 4, stride, false, false));
        cnas_tensor *y = forward(&o, g, x0, true);
        ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
        int64_t want[4] = {2, 4, stride == 2 ? 4 : 7, stride == 2 ? 3 : 6};
        for (int d = 0; d < 4; d++)
            ck_assert_int_eq(y->shape[d], want[d]);
        for (int64_t i = 0; i < y->numel; i++)
            ck_assert_float_eq(y->data[i], 0.0f);
        ck_assert(!cnas_tensor_requires_grad(y));
        ck_assert_uint_eq(cnas_graph_node_count(g), 0);
        int64_t in[4] = {2, 4, 7, 6}, out[4];
        ck_assert_int_eq(o.vt->flops(o.self, in, out), 0);
        for (int d = 0; d < 4; d++)
            ck_assert_int_eq(out[d], want[d]);
        drop(&o);
        cnas_graph_reset(g);
    }
    cnas_graph_free(g);
    cnas_tensor_free(x0);
}
END_TEST

START_TEST(test_skip_connect_at_stride_1_returns_its_input_itself)
{
    op o = make(spec("skip_connect", 4, 4, 1, true, true));
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_zeros(g, CNAS_SHAPE(2, 4, 5, 5));
    ck_assert_ptr_eq(forward(&o, g, x, true), x);
    ck_assert_uint_eq(cnas_graph_node_count(g), 0);
    cnas_graph_free(g);
    drop(&o);
}
END_TEST

START_TEST(test_pools_use_a_3x3_window_with_padding_left_out_of_the_average)
{
    /* x[h][w] = h·6 + w on 6x6: the corner window holds {0, 1, 6, 7}, the max 7 and
     * the in-bounds mean 3.5 (3.5·4/9 if padding counted); an interior window centred
     * at (2, 3) has mean 15 and max 22. */
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(1, 1, 6, 6));
    for (int i = 0; i < 36; i++)
        x->data[i] = (float)i;
    op mx = make(spec("max_pool_3x3", 1, 1, 1, false, false));
    op av = make(spec("avg_pool_3x3", 1, 1, 1, false, false));
    cnas_tensor *ym = forward(&mx, g, x, true), *ya = forward(&av, g, x, true);
    ck_assert_ptr_nonnull(ym);
    ck_assert_ptr_nonnull(ya);
    ck_assert_float_eq_tol(ym->data[0], 7.0f, 1e-6);
    ck_assert_float_eq_tol(ya->data[0], 3.5f, 1e-5);
    ck_assert_float_eq_tol(ym->data[2 * 6 + 3], 22.0f, 1e-6);
    ck_assert_float_eq_tol(ya->data[2 * 6 + 3], 15.0f, 1e-5);
    /* Stride 2 samples windows centred at even positions. */
    op mx2 = make(spec("max_pool_3x3", 1, 1, 2, false, false));
    cnas_tensor *y2 = forward(&mx2, g, x, true);
    ck_assert_ptr_nonnull(y2);
    ck_assert_float_eq_tol(y2->data[1 * 3 + 1], 21.0f, 1e-6); /* centre (2, 2) */
    drop(&mx);
    drop(&av);
    drop(&mx2);
    cnas_graph_free(g);
}
END_TEST

START_TEST(test_bn_after_normalises_the_pool_output_with_batch_statistics)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x0 = spaced_input(2, 3, 6, 6, 4);
    op plain = make(spec("avg_pool_3x3", 3, 3, 1, true, true));
    op bn = make(kv1(spec("avg_pool_3x3", 3, 3, 1, true, true), "bn_after", "true"));
    cnas_tensor *yp = forward(&plain, g, step_copy(g, x0), true);
    cnas_tensor *yb = forward(&bn, g, step_copy(g, x0), true);
    ck_assert_ptr_nonnull(yp);
    ck_assert_ptr_nonnull(yb);
    for (int c = 0; c < 3; c++) {
        double m = 0, v = 0, mp = 0;
        for (int n = 0; n < 2; n++)
            for (int i = 0; i < 36; i++) {
                m += yb->data[(n * 3 + c) * 36 + i];
                mp += yp->data[(n * 3 + c) * 36 + i];
            }
        m /= 72;
        mp /= 72;
        for (int n = 0; n < 2; n++)
            for (int i = 0; i < 36; i++) {
                double d = yb->data[(n * 3 + c) * 36 + i] - m;
                v += d * d;
            }
        v /= 72;
        ck_assert_double_eq_tol(m, 0.0, 1e-5);
        ck_assert_double_eq_tol(v, 1.0, 1e-3);
        /* The running mean moved a tenth of the way towards the batch mean. */
        ck_assert_double_eq_tol(find_tensor(&bn, "1.running_mean")->data[c], 0.1 * mp, 1e-5);
    }
    drop(&plain);
    drop(&bn);
    cnas_graph_free(g);
    cnas_tensor_free(x0);
}
END_TEST

START_TEST(test_training_flag_selects_batch_or_running_statistics)
{
    /* dil_conv_3x3 = ReLU, dw conv, pw conv, BN. In evaluation with fresh running
     * statistics (0, 1) the BN is y = z / sqrt(1 + eps); in training it normalises with
     * the batch. Without running statistics it normalises with the batch either way. */
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x0 = spaced_input(2, 4, 6, 6, 8);
    op o = make(spec("dil_conv_3x3", 4, 4, 1, true, true));
    cnas_conv2d_params dw = {.pad_h = 2, .pad_w = 2, .dilation_h = 2, .dilation_w = 2,
                             .groups = 4};
    cnas_conv2d_params pw = {0};
    cnas_tensor *z = cnas_conv2d(g, cnas_conv2d(g, cnas_relu(g, step_copy(g, x0)),
                                                find_tensor(&o, "op.1.weight"), NULL, &dw),
                                 find_tensor(&o, "op.2.weight"), NULL, &pw);
    ck_assert_msg(z != NULL, "%s", cnas_graph_error(g)->msg);
    cnas_tensor *ye = forward(&o, g, step_copy(g, x0), false);
    ck_assert_ptr_nonnull(ye);
    float s = 1.0f / sqrtf(1.0f + 1e-5f);
    for (int64_t i = 0; i < z->numel; i++)
        ck_assert_float_eq_tol(ye->data[i], z->data[i] * s, 1e-5);
    ck_assert_float_eq(find_tensor(&o, "op.3.running_mean")->data[0], 0.0f);
    cnas_tensor *yt = forward(&o, g, step_copy(g, x0), true);
    ck_assert_ptr_nonnull(yt);
    ck_assert_float_ne(find_tensor(&o, "op.3.running_mean")->data[0], 0.0f);
    double m = 0;
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 36; i++)
            m += yt->data[n * 4 * 36 + i];
    ck_assert_double_eq_tol(m / 72, 0.0, 1e-5);
    drop(&o);

    op u = make(spec("dil_conv_3x3", 4, 4, 1, true, false));
    cnas_tensor *a = forward(&u, g, step_copy(g, x0), false);
    cnas_tensor *b = forward(&u, g, step_copy(g, x0), true);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    for (int64_t i = 0; i < a->numel; i++)
        ck_assert_float_eq_tol(a->data[i], b->data[i], 1e-6);
    drop(&u);
    cnas_graph_free(g);
    cnas_tensor_free(x0);
}
END_TEST

/* ---- FLOPs ------------------------------------------------------------------------------ */

START_TEST(test_flops_count_multiply_accumulates_as_documented)
{
    /* Input [1, 16, 32, 32] (1024 positions); conv N·C_out·HW_out·(C_in/groups)·k², BN one
     * per output element, ReLU none, pools one per in-bounds window element. */
    static const struct { op_spec s; int64_t flops; } cases[] = {
        /* dw 16·1024·9 + pw 16·1024·16 + BN 16·1024, twice */
        {{OPS("sep_conv_3x3", 16, 16, 1)}, 2 * (147456 + 262144 + 16384)},
        /* at stride 2 both units run on 16x16 = 256 positions */
        {{OPS("sep_conv_3x3", 16, 16, 2)}, 2 * (36864 + 65536 + 4096)},
        /* dw 16·1024·25 + pw + BN, twice */
        {{OPS("sep_conv_5x5", 16, 16, 1)}, 2 * (409600 + 262144 + 16384)},
        {{OPS("dil_conv_3x3", 16, 16, 1)}, 147456 + 262144 + 16384},
        {{OPS("dil_conv_5x5", 16, 32, 2)}, 16 * 256 * 25 + 32 * 256 * 16 + 32 * 256},
        /* two 1x1 stride-2 convs 16 -> 16 on 256 positions, BN over 32 channels */
        {{OPS("factorized_reduce", 16, 32, 1)}, 2 * (16 * 256 * 16) + 32 * 256},
        {{OPS("skip_connect", 16, 16, 2)}, 2 * (8 * 256 * 16) + 16 * 256},
        {{OPS("skip_connect", 16, 16, 1)}, 0},
        {{OPS("relu_conv_bn", 16, 32, 1)}, 32 * 1024 * 16 + 32 * 1024},
        {{OPS("conv_3x3", 16, 16, 2)}, 16 * 256 * 16 * 9 + 16 * 256},
        /* per axis the in-bounds window lengths are 2 + 3·30 + 2 = 94 */
        {{OPS("avg_pool_3x3", 16, 16, 1)}, 16 * 94 * 94},
        {{OPS("max_pool_3x3", 16, 16, 1), .n_kv = 1, .keys = {"bn_after"}, .vals = {"true"}},
         16 * 94 * 94 + 16 * 1024},
        /* stride 2: windows start at -1, 1, ..., 29: lengths 2 + 3·15 = 47 */
        {{OPS("max_pool_3x3", 16, 16, 2)}, 16 * 47 * 47},
        {{OPS("none", 16, 16, 2)}, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        op_spec s = cases[k].s;
        s.affine = true;
        s.track = true;
        op o = make(s);
        int64_t in[4] = {1, 16, 32, 32}, out[4];
        int64_t f = o.vt->flops(o.self, in, out);
        ck_assert_msg(f == cases[k].flops, "%s stride %d: %lld MACs, expected %lld", s.name,
                      s.stride, (long long)f, (long long)cases[k].flops);
        /* A batch of 3 costs three times as much. */
        in[0] = 3;
        ck_assert_int_eq(o.vt->flops(o.self, in, out), 3 * cases[k].flops);
        /* The wrong channel count is refused. */
        in[1] = 15;
        ck_assert_int_eq(o.vt->flops(o.self, in, out), -1);
        drop(&o);
    }
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------ */

static void expect_create_error(op_spec s, const char *want1, const char *want2)
{
    op o;
    cnas_error err;
    cnas_status st = try_make(&o, s, &err);
    ck_assert_msg(st == CNAS_ERR_INVALID, "%s: expected an invalid-argument error, got %d",
                  s.name, st);
    ck_assert_ptr_null(o.self);
    ck_assert_msg(strstr(err.msg, s.name) && strstr(err.msg, want1) &&
                      (!want2 || strstr(err.msg, want2)),
                  "message '%s' should name %s, '%s' and '%s'", err.msg, s.name, want1,
                  want2 ? want2 : "");
}

START_TEST(test_create_rejects_bad_arguments_naming_the_op_and_the_values)
{
    expect_create_error(spec("sep_conv_3x3", 4, 4, 3, false, false), "stride 3", "1 or 2");
    expect_create_error(spec("dil_conv_5x5", 0, 4, 1, false, false), "C_in = 0", NULL);
    expect_create_error(spec("conv_3x3", 4, -2, 1, false, false), "C_out = -2", NULL);
    expect_create_error(spec("factorized_reduce", 4, 15, 1, false, false), "C_out = 15", "even");
    expect_create_error(spec("skip_connect", 4, 7, 2, false, false), "C_out = 7", "even");
    expect_create_error(spec("skip_connect", 4, 8, 1, false, false), "C_out = 8", "C_in");
    expect_create_error(spec("max_pool_3x3", 4, 8, 2, false, false), "C_out = 8", "C_in = 4");
    expect_create_error(spec("avg_pool_3x3", 4, 8, 1, false, false), "C_out = 8", NULL);
    expect_create_error(spec("none", 6, 3, 2, false, false), "C_out = 3", NULL);

    /* No init stream for an op with weights; too small an argument struct. */
    cnas_error err;
    void *self = NULL;
    cnas_op_args a = {sizeof a, 4, 4, 1, true, true, NULL};
    const cnas_op_vtable *sep = component("sep_conv_3x3")->vtable;
    ck_assert_int_eq(sep->create(&a, NULL, &self, &err), CNAS_ERR_INVALID);
    ck_assert_ptr_null(self);
    ck_assert_msg(strstr(err.msg, "sep_conv_3x3") && strstr(err.msg, "init_rng"), "%s", err.msg);
    const cnas_op_vtable *vt = component("dil_conv_3x3")->vtable;
    a.size = 8;
    ck_assert_int_eq(vt->create(&a, NULL, &self, &err), CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "dil_conv_3x3") && strstr(err.msg, "8 bytes"), "%s", err.msg);
    ck_assert_int_eq(vt->create(NULL, NULL, &self, &err), CNAS_ERR_INVALID);
}
END_TEST

START_TEST(test_relu_conv_bn_keys_set_kernel_and_padding_with_the_cell_defaults)
{
    /* No keys: the cell preprocessing ReLUConvBN(C_in, C_out, 1, 1, 0). */
    op o = make(spec("relu_conv_bn", 8, 4, 1, true, true));
    cnas_tensor *w = find_tensor(&o, "op.1.weight");
    ck_assert_int_eq(w->shape[2], 1);
    drop(&o);
    o = make(kv2(spec("relu_conv_bn", 8, 4, 1, true, true), "kernel_size", "5", "padding", "2"));
    w = find_tensor(&o, "op.1.weight");
    ck_assert_int_eq(w->shape[2], 5);
    int64_t in[4] = {1, 8, 10, 10}, out[4];
    ck_assert_int_eq(o.vt->flops(o.self, in, out), 4 * 100 * 8 * 25 + 4 * 100);
    ck_assert_int_eq(out[2], 10);
    drop(&o);
    /* Out-of-range keys are refused by the schema before the op sees them. */
    const cnas_component *c = component("relu_conv_bn");
    cnas_params *p = NULL;
    cnas_error err;
    const char *k[1] = {"kernel_size"}, *v[1] = {"0"};
    ck_assert_int_ne(cnas_params_resolve(c->params, (int)c->n_params, "test", k, v, 1, &p, &err),
                     CNAS_OK);
    ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_forward_rejects_a_wrong_channel_count_naming_the_op_and_shapes)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    for (int k = 0; k < N_OPS; k++) {
        op o = make(spec(all_ops[k], 4, 4, 1, true, true));
        cnas_tensor *x = cnas_graph_zeros(g, CNAS_SHAPE(2, 3, 6, 6));
        ck_assert_ptr_null(forward(&o, g, x, true));
        ck_assert_int_eq(cnas_graph_status(g), CNAS_ERR_SHAPE);
        const char *msg = cnas_graph_error(g)->msg;
        ck_assert_msg(strstr(msg, all_ops[k]) && strstr(msg, "[2, 3, 6, 6]") &&
                          strstr(msg, "C_in = 4"),
                      "unhelpful message: %s", msg);
        /* A failed graph stays failed: the next op returns NULL at once. */
        ck_assert_ptr_null(forward(&o, g, cnas_graph_zeros(g, CNAS_SHAPE(2, 4, 6, 6)), true));
        drop(&o);
        cnas_graph_reset(g);
    }
    cnas_graph_free(g);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("darts_ops");
    TCase *plugin = tcase_create("plugin");
    tcase_add_test(plugin, test_descriptor_lists_every_darts_op_once_as_an_op_component);
    tcase_add_test(plugin, test_built_plugin_exports_only_its_entry_and_its_ops_run);
    suite_add_tcase(s, plugin);

    TCase *shape = tcase_create("shapes_and_tensors");
    tcase_add_test(shape, test_every_op_gives_the_reference_output_shape_at_stride_1_and_2);
    tcase_add_test(shape, test_strided_ops_give_ceil_of_half_on_odd_sizes);
    tcase_add_test(shape, test_parameter_counts_equal_the_pytorch_module_counts);
    tcase_add_test(shape, test_tensor_names_follow_the_reference_state_dict_and_are_unique);
    tcase_add_test(shape, test_initial_state_is_the_pytorch_default);
    suite_add_tcase(s, shape);

    TCase *grad = tcase_create("gradients");
    tcase_set_timeout(grad, 300);
    tcase_add_test(grad, test_sep_conv_backward_matches_finite_differences);
    tcase_add_test(grad, test_dil_conv_backward_matches_finite_differences);
    tcase_add_test(grad, test_factorized_reduce_and_skip_connect_backward_match_finite_differences);
    tcase_add_test(grad, test_relu_conv_bn_backward_matches_finite_differences);
    tcase_add_test(grad, test_pools_backward_matches_finite_differences_with_and_without_bn_after);
    suite_add_tcase(s, grad);

    TCase *sem = tcase_create("semantics");
    tcase_add_test(sem, test_factorized_reduce_branches_see_x_and_x_shifted_by_one_pixel);
    tcase_add_test(sem, test_factorized_reduce_equals_its_composition_from_core_ops);
    tcase_add_test(sem, test_sep_conv_and_dil_conv_equal_their_composition_from_core_ops);
    tcase_add_test(sem, test_factorized_reduce_rejects_odd_spatial_sizes_naming_both_branch_shapes);
    tcase_add_test(sem, test_none_returns_zeros_of_the_strided_shape_and_records_nothing);
    tcase_add_test(sem, test_skip_connect_at_stride_1_returns_its_input_itself);
    tcase_add_test(sem, test_pools_use_a_3x3_window_with_padding_left_out_of_the_average);
    tcase_add_test(sem, test_bn_after_normalises_the_pool_output_with_batch_statistics);
    tcase_add_test(sem, test_training_flag_selects_batch_or_running_statistics);
    tcase_add_test(sem, test_flops_count_multiply_accumulates_as_documented);
    suite_add_tcase(s, sem);

    TCase *err = tcase_create("errors");
    tcase_add_test(err, test_create_rejects_bad_arguments_naming_the_op_and_the_values);
    tcase_add_test(err, test_relu_conv_bn_keys_set_kernel_and_padding_with_the_cell_defaults);
    tcase_add_test(err, test_forward_rejects_a_wrong_channel_count_naming_the_op_and_shapes);
    suite_add_tcase(s, err);
    return s;
}

CNAS_TEST_MAIN(make_suite)
