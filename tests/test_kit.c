/* The strategy kit: the put/get checkpoint routine, architecture-parameter sets,
 * parameter binding on the graph, and optimizer state that resumes exactly for
 * strategies that update only some weights per step. The loop itself is exercised
 * end to end by every strategy's kill-and-resume tests. */
#include <math.h>
#include <string.h>

#include <cnas/kit.h>

#include "testutil.h"

/* ---- ckio ---------------------------------------------------------------------------- */

typedef struct toy_state {
    int64_t epoch;
    int n;
    double acc;
    float blob[3];
    cnas_rng rng;
    cnas_tensor *t;
} toy_state;

static cnas_status toy_io(toy_state *s, cnas_ckio *io)
{
    cnas_ckio_i64(io, "toy.epoch", &s->epoch);
    cnas_ckio_int(io, "toy.n", &s->n);
    cnas_ckio_f64(io, "toy.acc", &s->acc);
    cnas_ckio_blob(io, "toy.blob", s->blob, sizeof s->blob);
    cnas_ckio_rng(io, "toy.rng", &s->rng);
    cnas_ckio_tensor(io, "toy.t", s->t);
    return cnas_ckio_status(io);
}

START_TEST(test_one_ckio_routine_saves_and_loads_the_same_records)
{
    cnas_error err;
    toy_state a = {7, -3, 0.25, {1, 2, 3}, {0}, tu_rand(CNAS_SHAPE(2, 3), 1, -1, 1)};
    cnas_rng_init(&a.rng, 5, "toy");
    cnas_rng_u32(&a.rng);
    cnas_ckpt *ck = cnas_ckpt_new(&err);
    cnas_ckio put = cnas_ckio_put(ck, &err);
    ck_assert(cnas_ckio_saving(&put));
    ck_assert_int_eq(toy_io(&a, &put), CNAS_OK);
    toy_state b = {0, 0, 0, {0}, {0}, cnas_tensor_new(CNAS_SHAPE(2, 3), &err)};
    cnas_ckio get = cnas_ckio_get(ck, &err);
    ck_assert(!cnas_ckio_saving(&get));
    ck_assert_msg(toy_io(&b, &get) == CNAS_OK, "%s", err.msg);
    ck_assert_int_eq(b.epoch, 7);
    ck_assert_int_eq(b.n, -3);
    ck_assert_double_eq(b.acc, 0.25);
    ck_assert_mem_eq(b.blob, a.blob, sizeof a.blob);
    ck_assert_uint_eq(cnas_rng_u32(&b.rng), cnas_rng_u32(&a.rng));
    ck_assert_mem_eq(b.t->data, a.t->data, cnas_tensor_bytes(a.t));
    cnas_tensor_free(a.t);
    cnas_tensor_free(b.t);
    cnas_ckpt_free(ck);
}
END_TEST

START_TEST(test_a_missing_record_stops_the_routine_and_names_the_record)
{
    cnas_error err;
    cnas_ckpt *ck = cnas_ckpt_new(&err);
    cnas_ckpt_put_i64(ck, "toy.epoch", 3, &err);
    toy_state b = {0, 9, 0, {0}, {0}, cnas_tensor_new(CNAS_SHAPE(2, 3), &err)};
    cnas_ckio get = cnas_ckio_get(ck, &err);
    ck_assert_int_ne(toy_io(&b, &get), CNAS_OK);
    ck_assert_int_eq(b.epoch, 3);
    ck_assert_int_eq(b.n, 9); /* untouched */
    ck_assert_msg(strstr(err.msg, "toy.n") != NULL, "%s", err.msg);
    ck_assert(!cnas_ckio_has(&get, "toy.acc"));
    cnas_tensor_free(b.t);
    cnas_ckpt_free(ck);
}
END_TEST

/* ---- architecture parameters over a toy space ------------------------------------------ */

/* Two cell types ("normal", "reduce"), two cells each, two edges per cell, three
 * candidates per edge. derive picks each point's argmax. */
static const char *const toy_cands[] = {"a", "b", "c"};
static cnas_choice_point toy_points[8];

static int toy_choice_points(void *self, const cnas_choice_point **out)
{
    (void)self;
    for (int i = 0; i < 8; i++) {
        int cell = i / 2, edge = i % 2;
        toy_points[i] = (cnas_choice_point){sizeof(cnas_choice_point), "p",
                                            cell % 2 ? "reduce" : "normal", edge, cell, 3,
                                            toy_cands, -1, -1};
    }
    *out = toy_points;
    return 8;
}

static cnas_status toy_derive(void *self, const float *const *probs, cnas_arch *out,
                              cnas_error *err)
{
    (void)self;
    (void)err;
    for (int p = 0; p < 8; p++) {
        int best = 0;
        for (int c = 1; c < 3; c++)
            best = probs[p][c] > probs[p][best] ? c : best;
        out->mask[p] = 1ull << best;
    }
    return CNAS_OK;
}

static cnas_space_vtable toy_space_vt(void)
{
    cnas_space_vtable vt = {0};
    vt.size = sizeof vt;
    vt.choice_points = toy_choice_points;
    vt.derive = toy_derive;
    return vt;
}

START_TEST(test_tied_parameters_have_one_matrix_per_share_key_and_untied_one_per_cell)
{
    cnas_error err;
    cnas_space_vtable vt = toy_space_vt();
    cnas_archparams *tied = cnas_archparams_new(&vt, NULL, true, &err);
    ck_assert_msg(tied != NULL, "%s", err.msg);
    ck_assert_int_eq(cnas_archparams_groups(tied), 2);
    ck_assert_str_eq(cnas_archparams_key(tied, 0), "normal");
    ck_assert_str_eq(cnas_archparams_key(tied, 1), "reduce");
    ck_assert_int_eq(cnas_archparams_tensors(tied)[0]->shape[0], 2);
    ck_assert_int_eq(cnas_archparams_tensors(tied)[0]->shape[1], 3);
    /* Cells 0 and 2 are both normal: their edge 1 shares group 0, row 1. */
    ck_assert_int_eq(cnas_archparams_group_of(tied, 1), cnas_archparams_group_of(tied, 5));
    ck_assert_int_eq(cnas_archparams_row_of(tied, 5), 1);
    cnas_archparams *untied = cnas_archparams_new(&vt, NULL, false, &err);
    ck_assert_int_eq(cnas_archparams_groups(untied), 4);
    ck_assert_str_eq(cnas_archparams_key(untied, 2), "normal.2");
    cnas_archparams_free(tied);
    cnas_archparams_free(untied);
}
END_TEST

START_TEST(test_softmax_and_sigmoid_weights_match_on_and_off_the_tape_and_derive_uses_them)
{
    cnas_error err;
    cnas_space_vtable vt = toy_space_vt();
    cnas_archparams *ap = cnas_archparams_new(&vt, NULL, true, &err);
    cnas_archparams_init_normal(ap, 3, "arch_init", 1.0f);
    cnas_tensor *a0 = cnas_archparams_tensors(ap)[0];
    a0->data[1 * 3 + 2] = 5.0f; /* normal edge 1: candidate c */
    cnas_graph *g = cnas_graph_new(&err);
    for (int tr = CNAS_AP_SOFTMAX; tr <= CNAS_AP_SIGMOID; tr++) {
        const cnas_mix_weight *mix = cnas_archparams_mix(ap, g, (cnas_ap_transform)tr, NULL);
        ck_assert_ptr_nonnull(mix);
        const float *const *probs = cnas_archparams_probs(ap, (cnas_ap_transform)tr, &err);
        for (int p = 0; p < 8; p++) {
            ck_assert_int_eq(mix[p].row, cnas_archparams_row_of(ap, p));
            double sum = 0;
            for (int c = 0; c < 3; c++) {
                float on_tape = mix[p].w->data[mix[p].row * 3 + c];
                ck_assert_msg(fabsf(on_tape - probs[p][c]) < 1e-6f, "point %d cand %d: %g vs %g",
                              p, c, (double)on_tape, (double)probs[p][c]);
                sum += probs[p][c];
            }
            if (tr == CNAS_AP_SOFTMAX)
                ck_assert(fabs(sum - 1.0) < 1e-6);
        }
        ck_assert(mix[1].w == mix[5].w); /* tied points share the tensor */
        cnas_graph_reset(g);
    }
    cnas_arch *arch = cnas_arch_new(8, &err);
    ck_assert_int_eq(cnas_archparams_derive(ap, CNAS_AP_SOFTMAX, arch, &err), CNAS_OK);
    ck_assert_int_eq(cnas_arch_single(arch, 1), 2);
    ck_assert_int_eq(cnas_arch_single(arch, 5), 2);
    cnas_arch_free(arch);
    cnas_graph_free(g);
    cnas_archparams_free(ap);
}
END_TEST

START_TEST(test_architecture_parameters_round_trip_through_a_checkpoint)
{
    cnas_error err;
    cnas_space_vtable vt = toy_space_vt();
    cnas_archparams *a = cnas_archparams_new(&vt, NULL, false, &err);
    cnas_archparams *b = cnas_archparams_new(&vt, NULL, false, &err);
    cnas_archparams_init_normal(a, 11, "arch_init", 1e-3f);
    cnas_archparams_init_const(b, 0.0f);
    cnas_ckpt *ck = cnas_ckpt_new(&err);
    cnas_ckio put = cnas_ckio_put(ck, &err);
    ck_assert_int_eq(cnas_archparams_io(a, &put, "s"), CNAS_OK);
    ck_assert(cnas_ckpt_has(ck, "s.alpha.reduce.3"));
    cnas_ckio get = cnas_ckio_get(ck, &err);
    ck_assert_int_eq(cnas_archparams_io(b, &get, "s"), CNAS_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_mem_eq(cnas_archparams_tensors(a)[i]->data, cnas_archparams_tensors(b)[i]->data,
                         cnas_tensor_bytes(cnas_archparams_tensors(a)[i]));
    cnas_ckpt_free(ck);
    cnas_archparams_free(a);
    cnas_archparams_free(b);
}
END_TEST

/* ---- parameter binding ------------------------------------------------------------------ */

/* A conv + batch norm + linear whose parameters are replaced by K = 2 dictionary
 * merges Σ_k λ_k·Θ_k with λ = softmax(ℓ), as K-shot NAS forms a path's weights. */
typedef struct bind_ctx {
    cnas_tensor *conv_w, *bn_g, *bn_b, *fc_w;   /* the module's own (never read) */
} bind_ctx;

static cnas_tensor *merged(cnas_graph *g, cnas_tensor *lam, cnas_tensor *t1, cnas_tensor *t2)
{
    cnas_tensor *xs[2] = {t1, t2};
    return cnas_weighted_sum(g, 2, xs, lam);
}

static cnas_tensor *bound_forward(cnas_graph *g, cnas_tensor *const *in, void *vctx)
{
    bind_ctx *c = vctx;
    cnas_tensor *lam = cnas_softmax(g, in[1]);
    cnas_graph_bind(g, c->conv_w, merged(g, lam, in[2], in[3]));
    cnas_graph_bind(g, c->bn_g, merged(g, lam, in[4], in[5]));
    cnas_graph_bind(g, c->bn_b, merged(g, lam, in[6], in[7]));
    cnas_graph_bind(g, c->fc_w, merged(g, lam, in[8], in[9]));
    cnas_conv2d_params cp = {.pad_h = 1, .pad_w = 1};
    cnas_batch_norm_params bp = {.training = true};
    cnas_tensor *h = cnas_conv2d(g, in[0], c->conv_w, NULL, &cp);
    h = cnas_batch_norm(g, h, c->bn_g, c->bn_b, NULL, NULL, &bp);
    return cnas_linear(g, cnas_flatten(g, h), c->fc_w, NULL);
}

START_TEST(test_bound_parameters_carry_gradients_to_the_dictionaries_and_the_code)
{
    cnas_error err;
    bind_ctx c = {tu_rand(CNAS_SHAPE(3, 2, 3, 3), 1, 1e6, 2e6), tu_rand(CNAS_SHAPE(3), 2, 1e6, 2e6),
                  tu_rand(CNAS_SHAPE(3), 3, 1e6, 2e6), tu_rand(CNAS_SHAPE(4, 48), 4, 1e6, 2e6)};
    cnas_tensor *in[10] = {
        tu_rand(CNAS_SHAPE(3, 2, 4, 4), 10, -1, 1), tu_rand(CNAS_SHAPE(2), 11, -1, 1),
        tu_rand(CNAS_SHAPE(3, 2, 3, 3), 12, -0.5, 0.5), tu_rand(CNAS_SHAPE(3, 2, 3, 3), 13, -0.5, 0.5),
        tu_rand(CNAS_SHAPE(3), 14, 0.5, 1.5), tu_rand(CNAS_SHAPE(3), 15, 0.5, 1.5),
        tu_rand(CNAS_SHAPE(3), 16, -0.5, 0.5), tu_rand(CNAS_SHAPE(3), 17, -0.5, 0.5),
        tu_rand(CNAS_SHAPE(4, 48), 18, -0.3, 0.3), tu_rand(CNAS_SHAPE(4, 48), 19, -0.3, 0.3)};
    for (int i = 1; i < 10; i++)
        cnas_tensor_set_requires_grad(in[i], true);
    cnas_tensor_set_requires_grad(c.conv_w, true);
    cnas_gradcheck_opts o = {.eps = 1e-2, .atol = 2e-3, .rtol = 2e-2, .max_per_input = 40, .seed = 4};
    TU_GRADCHECK(bound_forward, &c, in, 10, &o);
    /* The module's own tensor was never read, so it got no gradient. */
    ck_assert(c.conv_w->grad == NULL);
    /* A value of the wrong shape is refused with a message naming the parameter. */
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor_set_name(c.fc_w, "fc.weight");
    ck_assert_int_eq(cnas_graph_bind(g, c.fc_w, in[2]), CNAS_ERR_SHAPE);
    ck_assert_msg(strstr(cnas_graph_error(g)->msg, "fc.weight") != NULL, "%s",
                  cnas_graph_error(g)->msg);
    cnas_graph_reset(g);
    ck_assert_int_eq(cnas_graph_bind(g, c.fc_w, in[8]), CNAS_OK);
    ck_assert_int_eq(cnas_graph_bindings(g), 1);
    ck_assert_ptr_eq(cnas_graph_param(g, c.fc_w), in[8]);
    cnas_graph_reset(g); /* bindings end with the step */
    ck_assert_ptr_eq(cnas_graph_param(g, c.fc_w), c.fc_w);
    cnas_graph_free(g);
    for (int i = 0; i < 10; i++)
        cnas_tensor_free(in[i]);
    cnas_tensor_free(c.conv_w);
    cnas_tensor_free(c.bn_g);
    cnas_tensor_free(c.bn_b);
    cnas_tensor_free(c.fc_w);
}
END_TEST

/* ---- exact resume of a sampling strategy's optimizer -------------------------------------- */

/* Two parameters: a was "sampled" once (it has a gradient buffer, zero now), b
 * never. SGD with momentum and weight decay keeps moving a with a zero gradient,
 * as PyTorch 1.x does after zero_grad(); a checkpoint must carry that, or the
 * resumed copy leaves a frozen until it is sampled again. */
START_TEST(test_an_optimizer_resumed_from_a_checkpoint_moves_the_same_parameters)
{
    cnas_error err;
    cnas_tensor *a = tu_rand(CNAS_SHAPE(5), 1, -1, 1), *b = tu_rand(CNAS_SHAPE(5), 2, -1, 1);
    cnas_tensor *p[2] = {a, b};
    cnas_sgd_opts so = {.momentum = 0.9f, .weight_decay = 0.1f};
    cnas_optim *o = cnas_sgd_new(p, 2, &so, &err);
    float *ga = cnas_tensor_grad_buffer(a);
    for (int i = 0; i < 5; i++)
        ga[i] = 0.5f;
    ck_assert_int_eq(cnas_optim_step(o, 0.1f, &err), CNAS_OK);
    cnas_optim_zero_grad(o);
    cnas_ckpt *ck = cnas_ckpt_new(&err);
    ck_assert_int_eq(cnas_optim_save(o, ck, "o", &err), CNAS_OK);

    cnas_tensor *a2 = cnas_tensor_new(CNAS_SHAPE(5), &err), *b2 = cnas_tensor_new(CNAS_SHAPE(5), &err);
    cnas_tensor_copy(a2, a, &err);
    cnas_tensor_copy(b2, b, &err);
    cnas_tensor *p2[2] = {a2, b2};
    cnas_optim *o2 = cnas_sgd_new(p2, 2, &so, &err);
    ck_assert_msg(cnas_optim_load(o2, ck, "o", &err) == CNAS_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(a2->grad);
    ck_assert_ptr_null(b2->grad);
    for (int s = 0; s < 3; s++) {
        ck_assert_int_eq(cnas_optim_step(o, 0.1f, &err), CNAS_OK);
        ck_assert_int_eq(cnas_optim_step(o2, 0.1f, &err), CNAS_OK);
    }
    ck_assert_mem_eq(a2->data, a->data, cnas_tensor_bytes(a));
    ck_assert_mem_eq(b2->data, b->data, cnas_tensor_bytes(b));
    cnas_optim_free(o);
    cnas_optim_free(o2);
    cnas_ckpt_free(ck);
    cnas_tensor_free(a);
    cnas_tensor_free(b);
    cnas_tensor_free(a2);
    cnas_tensor_free(b2);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("kit");
    TCase *io = tcase_create("ckio");
    tcase_add_test(io, test_one_ckio_routine_saves_and_loads_the_same_records);
    tcase_add_test(io, test_a_missing_record_stops_the_routine_and_names_the_record);
    suite_add_tcase(s, io);
    TCase *ap = tcase_create("archparams");
    tcase_add_test(ap, test_tied_parameters_have_one_matrix_per_share_key_and_untied_one_per_cell);
    tcase_add_test(ap, test_softmax_and_sigmoid_weights_match_on_and_off_the_tape_and_derive_uses_them);
    tcase_add_test(ap, test_architecture_parameters_round_trip_through_a_checkpoint);
    suite_add_tcase(s, ap);
    TCase *bind = tcase_create("binding");
    tcase_add_test(bind, test_bound_parameters_carry_gradients_to_the_dictionaries_and_the_code);
    suite_add_tcase(s, bind);
    TCase *opt = tcase_create("optimizer resume");
    tcase_add_test(opt, test_an_optimizer_resumed_from_a_checkpoint_moves_the_same_parameters);
    suite_add_tcase(s, opt);
    return s;
}

CNAS_TEST_MAIN(make_suite)
