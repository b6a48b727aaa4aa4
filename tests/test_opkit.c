/* The op kit (cnas/opkit.h): the create-argument checks and their messages, the owned
 * tensor table (names, roles, order, the limit), batch norms, the input check, and FLOPs
 * of a known conv and pool. The op plugins' suites exercise it through real ops. */
#include <math.h>
#include <string.h>

#include <cnas/cnas.h>

#include "testutil.h"

typedef struct toy_op {
    cnas_opkit kit; /* first, so cnas_opkit_destroy / cnas_opkit_tensors apply */
    cnas_tensor *w;
    cnas_opkit_bn bn;
} toy_op;

static cnas_op_args args(int c_in, int c_out, int stride, cnas_rng *rng)
{
    return (cnas_op_args){sizeof(cnas_op_args), c_in, c_out, stride, true, true, rng};
}

/* A kit for an op "name" of c channels in and out at stride 1, no init stream. */
static void init_kit(cnas_opkit *k, const char *name, int c)
{
    cnas_error err;
    cnas_op_args a = args(c, c, 1, NULL);
    ck_assert_int_eq(cnas_opkit_init(k, name, &a, &err), CNAS_OK);
}

static void expect_msg(cnas_status st, const cnas_error *err, const char *want)
{
    ck_assert_int_eq(st, CNAS_ERR_INVALID);
    ck_assert_msg(strstr(err->msg, want), "message '%s' lacks '%s'", err->msg, want);
}

START_TEST(test_create_arguments_are_checked_and_the_messages_name_the_op_and_value)
{
    cnas_error err;
    cnas_opkit k;
    cnas_rng rng;
    cnas_rng_init(&rng, 1, "init");
    cnas_op_args a = args(0, 8, 1, &rng);
    expect_msg(cnas_opkit_init(&k, "toy", NULL, &err), &err, "toy: no create arguments");
    expect_msg(cnas_opkit_init(&k, "toy", &a, &err), &err,
               "toy: C_in = 0, C_out = 8; both must be at least 1");
    a = args(4, 8, 3, &rng);
    expect_msg(cnas_opkit_init(&k, "toy", &a, &err), &err, "toy: stride 3, expected 1 or 2");
    a = args(4, 8, 1, &rng);
    a.size = 8;
    expect_msg(cnas_opkit_init(&k, "toy", &a, &err), &err,
               "toy: create arguments are 8 bytes, expected at least");
    a = args(4, 8, 2, NULL);
    void *self = NULL;
    ck_assert_int_eq(cnas_opkit_new("toy", &a, sizeof(toy_op), &self, &err), CNAS_OK);
    toy_op *o = self;
    ck_assert_str_eq(o->kit.op, "toy");
    ck_assert(o->kit.c_in == 4 && o->kit.c_out == 8 && o->kit.stride == 2 && o->kit.affine &&
              o->kit.track && o->kit.n_tensors == 0);
    /* A conv weight needs the init stream; the message names the tensor. */
    expect_msg(cnas_opkit_conv(&o->kit, &a, "op.1.weight", 8, 4, 3, &o->w, &err), &err,
               "toy: no init_rng in the create arguments; it is needed to initialise op.1.weight");
    expect_msg(cnas_opkit_fail(&o->kit, &err, "kernel %d", 4), &err, "toy: kernel 4");
    cnas_opkit_destroy(o);
    cnas_opkit_destroy(NULL);
}
END_TEST

START_TEST(test_tensors_are_listed_in_order_with_names_roles_and_default_values)
{
    cnas_error err;
    cnas_rng rng;
    cnas_rng_init(&rng, 2, "init");
    cnas_op_args a = args(3, 4, 1, &rng);
    void *self;
    ck_assert_int_eq(cnas_opkit_new("toy", &a, sizeof(toy_op), &self, &err), CNAS_OK);
    toy_op *o = self;
    ck_assert_int_eq(cnas_opkit_conv(&o->kit, &a, "op.1.weight", 4, 3, 3, &o->w, &err), CNAS_OK);
    ck_assert_int_eq(cnas_opkit_bn_new(&o->kit, "op.2", 4, true, &o->bn, &err), CNAS_OK);
    cnas_named_tensor t[8];
    ck_assert_int_eq(cnas_opkit_tensors(o, NULL, 0), 5);
    ck_assert_int_eq(cnas_opkit_tensors(o, t, 8), 5);
    const char *names[] = {"op.1.weight", "op.2.weight", "op.2.bias", "op.2.running_mean",
                           "op.2.running_var"};
    const cnas_tensor_role roles[] = {CNAS_ROLE_PARAM, CNAS_ROLE_PARAM, CNAS_ROLE_PARAM,
                                      CNAS_ROLE_BUFFER, CNAS_ROLE_BUFFER};
    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(t[i].name, names[i]);
        ck_assert_int_eq(t[i].role, roles[i]);
        ck_assert_int_eq(cnas_tensor_requires_grad(t[i].tensor), roles[i] == CNAS_ROLE_PARAM);
    }
    ck_assert(o->w->ndim == 4 && o->w->shape[0] == 4 && o->w->shape[1] == 3 &&
              o->w->shape[3] == 3);
    /* PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 27, not all zero. */
    float mx = 0;
    for (int64_t i = 0; i < o->w->numel; i++)
        mx = fabsf(o->w->data[i]) > mx ? fabsf(o->w->data[i]) : mx;
    ck_assert(mx > 0 && mx <= 1 / sqrtf(27.0f));
    ck_assert(o->bn.gamma->data[0] == 1 && o->bn.beta->data[0] == 0 &&
              o->bn.mean->data[0] == 0 && o->bn.var->data[3] == 1);
    /* affine off, no running statistics: no tensors at all. */
    o->kit.track = false;
    cnas_opkit_bn bn;
    ck_assert_int_eq(cnas_opkit_bn_new(&o->kit, "bn", 4, false, &bn, &err), CNAS_OK);
    ck_assert(!bn.gamma && !bn.beta && !bn.mean && !bn.var && o->kit.n_tensors == 5);
    cnas_opkit_destroy(o);
}
END_TEST

START_TEST(test_past_the_tensor_limit_the_error_names_the_op_and_the_limit)
{
    cnas_error err;
    cnas_opkit k;
    init_kit(&k, "big", 1);
    char n[32];
    for (int i = 0; i < CNAS_OPKIT_MAX_TENSORS; i++) {
        snprintf(n, sizeof n, "t%d", i);
        ck_assert_ptr_nonnull(cnas_opkit_add(&k, n, CNAS_SHAPE(2), CNAS_ROLE_BUFFER, &err));
    }
    ck_assert_ptr_null(cnas_opkit_add(&k, "one_more", CNAS_SHAPE(2), CNAS_ROLE_BUFFER, &err));
    ck_assert_int_eq(err.code, CNAS_ERR_INTERNAL);
    char want[64];
    snprintf(want, sizeof want, "big: more than %d tensors", CNAS_OPKIT_MAX_TENSORS);
    ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
    ck_assert_int_eq(k.n_tensors, CNAS_OPKIT_MAX_TENSORS);
    /* A bad shape is reported with the op and tensor name; nothing is added. */
    cnas_opkit_free_tensors(&k);
    ck_assert_ptr_null(cnas_opkit_add(&k, "w", CNAS_SHAPE(0), CNAS_ROLE_PARAM, &err));
    ck_assert_msg(strstr(err.msg, "big: tensor w"), "%s", err.msg);
    char longname[CNAS_OPKIT_NAME_MAX + 1];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    ck_assert_ptr_null(cnas_opkit_add(&k, longname, CNAS_SHAPE(1), CNAS_ROLE_PARAM, &err));
    ck_assert_msg(strstr(err.msg, "big: tensor name"), "%s", err.msg);
    ck_assert_int_eq(k.n_tensors, 0);
}
END_TEST

START_TEST(test_the_input_check_fails_the_graph_with_the_op_and_the_shape)
{
    cnas_error err;
    cnas_opkit k;
    init_kit(&k, "toy", 3);
    cnas_graph *g = cnas_graph_new(&err);
    ck_assert(cnas_opkit_check_input(&k, g, cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 4, 4)), 0));
    ck_assert(!cnas_opkit_check_input(&k, g, cnas_graph_tensor(g, CNAS_SHAPE(2, 1, 4, 4)), 0));
    ck_assert_str_eq(cnas_graph_error(g)->msg,
                     "toy: input [2, 1, 4, 4], expected [N, 3, H, W] (C_in = 3)");
    cnas_graph_reset(g);
    ck_assert(!cnas_opkit_check_input(&k, g, cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 1, 4)), 2));
    ck_assert_str_eq(cnas_graph_error(g)->msg,
                     "toy: input [2, 3, 1, 4], expected [N, 3, H, W] with H, W >= 2 (C_in = 3)");
    cnas_graph_free(g);
    ck_assert(!cnas_opkit_training(NULL));
    cnas_op_forward_ctx ctx = {sizeof ctx, true, NULL};
    ck_assert(cnas_opkit_training(&ctx));
}
END_TEST

START_TEST(test_flops_of_a_known_conv_and_pool)
{
    int64_t out[4];
    /* 3x3 conv, 8 -> 16 channels, pad 1, stride 1 on [2, 8, 5, 5]: 2·16·5·5·8·9. */
    const int64_t in[4] = {2, 8, 5, 5};
    ck_assert_int_eq(cnas_opkit_conv_flops(in, 16, 1, 3, 1, 1, 1, out), 2 * 16 * 5 * 5 * 8 * 9);
    ck_assert(out[0] == 2 && out[1] == 16 && out[2] == 5 && out[3] == 5);
    /* Depthwise (groups = C), stride 2, dilation 2, pad 2: H_out = 3, C_in/groups = 1. */
    ck_assert_int_eq(cnas_opkit_conv_flops(in, 8, 8, 3, 2, 2, 2, out), 2 * 8 * 3 * 3 * 1 * 9);
    ck_assert(out[2] == 3 && out[3] == 3);
    /* Groups that do not divide C, or a window that does not fit: -1. */
    ck_assert_int_eq(cnas_opkit_conv_flops(in, 16, 3, 3, 1, 1, 1, out), -1);
    ck_assert_int_eq(cnas_opkit_conv_flops(in, 16, 1, 7, 1, 0, 1, out), -1);
    /* 3x3 pool, stride 1, pad 1 on 5 wide: windows along one axis hold 2,3,3,3,2 = 13
     * in-bounds elements, so 2·8·13·13 (padding is not counted). */
    ck_assert_int_eq(cnas_opkit_pool_flops(in, 3, 1, 1, out), 2 * 8 * 13 * 13);
    ck_assert(out[1] == 8 && out[2] == 5 && out[3] == 5);
    /* 2x2 pool, stride 2 on 5: 2 outputs of 2 each per axis (the odd row is dropped). */
    ck_assert_int_eq(cnas_opkit_pool_flops(in, 2, 2, 0, out), 2 * 8 * 4 * 4);
    ck_assert(out[2] == 2 && out[3] == 2);
    cnas_opkit k;
    init_kit(&k, "toy", 8);
    ck_assert(cnas_opkit_flops_input(&k, in, out) && out[0] == 0 && out[3] == 0);
    const int64_t bad[4] = {2, 4, 5, 5};
    ck_assert(!cnas_opkit_flops_input(&k, bad, out));
    ck_assert(!cnas_opkit_flops_input(&k, NULL, out));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("opkit");
    TCase *tc = tcase_create("opkit");
    tcase_add_test(tc, test_create_arguments_are_checked_and_the_messages_name_the_op_and_value);
    tcase_add_test(tc, test_tensors_are_listed_in_order_with_names_roles_and_default_values);
    tcase_add_test(tc, test_past_the_tensor_limit_the_error_names_the_op_and_the_limit);
    tcase_add_test(tc, test_the_input_check_fails_the_graph_with_the_op_and_the_shape);
    tcase_add_test(tc, test_flops_of_a_known_conv_and_pool);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
