/* End to end: a small CNN built from core kernels learns a generated task, reuses
 * its arena, and reproduces itself bit for bit. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#define IMG 12
#define CLASSES 4

/* Four classes of oriented bars (horizontal, vertical, diagonal, anti-diagonal)
 * at a random offset, with Gaussian noise: learnable only through spatial features. */
static void make_sample(cnas_rng *r, float *img, int32_t *label)
{
    int c = (int)cnas_rng_below(r, CLASSES);
    int off = (int)cnas_rng_below(r, 4);
    for (int y = 0; y < IMG; y++)
        for (int x = 0; x < IMG; x++) {
            int on;
            switch (c) {
            case 0: on = (y + off) % 4 == 0; break;
            case 1: on = (x + off) % 4 == 0; break;
            case 2: on = (x + y + off) % 4 == 0; break;
            default: on = (x - y + 16 + off) % 4 == 0; break;
            }
            img[y * IMG + x] = (on ? 1.0f : 0.0f) + 0.3f * cnas_rng_normal(r);
        }
    *label = c;
}

typedef struct net {
    cnas_tensor *w1, *g1, *b1, *rm1, *rv1, *w2, *b2, *fc_w, *fc_b;
    cnas_tensor *params[7];
} net;

static void net_init(net *n, uint64_t seed)
{
    cnas_error err;
    cnas_rng r;
    cnas_rng_init(&r, seed, "init");
    n->w1 = cnas_tensor_new(CNAS_SHAPE(8, 1, 3, 3), &err);
    n->g1 = cnas_tensor_new(CNAS_SHAPE(8), &err);
    n->b1 = cnas_tensor_new(CNAS_SHAPE(8), &err);
    n->rm1 = cnas_tensor_new(CNAS_SHAPE(8), &err);
    n->rv1 = cnas_tensor_new(CNAS_SHAPE(8), &err);
    n->w2 = cnas_tensor_new(CNAS_SHAPE(16, 8, 3, 3), &err);
    n->b2 = cnas_tensor_new(CNAS_SHAPE(16), &err);
    n->fc_w = cnas_tensor_new(CNAS_SHAPE(CLASSES, 16), &err);
    n->fc_b = cnas_tensor_new(CNAS_SHAPE(CLASSES), &err);
    cnas_init_default_weight(n->w1, &r);
    cnas_tensor_fill(n->g1, 1.0f);
    cnas_tensor_fill(n->rv1, 1.0f);
    cnas_init_default_weight(n->w2, &r);
    cnas_init_default_bias(n->b2, 8 * 9, &r);
    cnas_init_default_weight(n->fc_w, &r);
    cnas_init_default_bias(n->fc_b, 16, &r);
    cnas_tensor *p[7] = {n->w1, n->g1, n->b1, n->w2, n->b2, n->fc_w, n->fc_b};
    memcpy(n->params, p, sizeof p);
    for (int i = 0; i < 7; i++)
        cnas_tensor_set_requires_grad(n->params[i], true);
}

static void net_free(net *n)
{
    cnas_tensor *all[9] = {n->w1, n->g1, n->b1, n->rm1, n->rv1, n->w2, n->b2, n->fc_w, n->fc_b};
    for (int i = 0; i < 9; i++)
        cnas_tensor_free(all[i]);
}

static cnas_tensor *net_forward(net *n, cnas_graph *g, cnas_tensor *x, bool training)
{
    cnas_conv2d_params c3 = {.pad_h = 1, .pad_w = 1};
    cnas_batch_norm_params bn = {.training = training};
    cnas_pool2d_params mp = {.kernel_h = 2, .kernel_w = 2};
    cnas_tensor *h = cnas_conv2d(g, x, n->w1, NULL, &c3);
    h = cnas_relu(g, cnas_batch_norm(g, h, n->g1, n->b1, n->rm1, n->rv1, &bn));
    h = cnas_max_pool2d(g, h, &mp);
    h = cnas_relu(g, cnas_conv2d(g, h, n->w2, n->b2, &c3));
    return cnas_linear(g, cnas_global_avg_pool(g, h), n->fc_w, n->fc_b);
}

typedef struct train_result {
    float first_loss, last_loss, accuracy;
    size_t allocs_after_warmup, allocs_at_end;
    uint32_t weight_hash;
} train_result;

static void train(uint64_t seed, int steps, train_result *res)
{
    cnas_error err;
    net n;
    net_init(&n, seed);
    cnas_optim *opt = cnas_sgd_new(n.params, 7, &(cnas_sgd_opts){.momentum = 0.9f}, &err);
    ck_assert_msg(opt != NULL, "%s", err.msg);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_rng data;
    cnas_rng_init(&data, seed, "data");
    const int B = 32;
    int32_t labels[64];
    for (int step = 0; step < steps; step++) {
        cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(B, 1, IMG, IMG));
        ck_assert_ptr_nonnull(x);
        for (int i = 0; i < B; i++)
            make_sample(&data, x->data + i * IMG * IMG, &labels[i]);
        cnas_optim_zero_grad(opt);
        cnas_tensor *loss = cnas_cross_entropy(g, net_forward(&n, g, x, true), labels, 0.0f);
        ck_assert_msg(loss != NULL, "%s", cnas_graph_error(g)->msg);
        ck_assert_int_eq(cnas_backward(g, loss), CNAS_OK);
        ck_assert_int_eq(cnas_optim_step(opt, 0.05f, &err), CNAS_OK);
        if (step == 0)
            res->first_loss = loss->data[0];
        res->last_loss = loss->data[0];
        cnas_graph_reset(g);
        if (step == 1)
            res->allocs_after_warmup = cnas_graph_block_allocs(g);
    }
    res->allocs_at_end = cnas_graph_block_allocs(g);

    /* Held-out accuracy with running statistics and no tape. */
    cnas_graph_set_grad_enabled(g, false);
    int correct = 0, total = 0;
    for (int b = 0; b < 8; b++) {
        cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(B, 1, IMG, IMG));
        for (int i = 0; i < B; i++)
            make_sample(&data, x->data + i * IMG * IMG, &labels[i]);
        cnas_tensor *logits = net_forward(&n, g, x, false);
        ck_assert_ptr_nonnull(logits);
        for (int i = 0; i < B; i++) {
            int best = 0;
            for (int k = 1; k < CLASSES; k++)
                if (logits->data[i * CLASSES + k] > logits->data[i * CLASSES + best])
                    best = k;
            correct += best == labels[i];
            total++;
        }
        cnas_graph_reset(g);
    }
    res->accuracy = (float)correct / (float)total;
    uint32_t h = 2166136261u;
    for (int i = 0; i < 7; i++) {
        const unsigned char *p = (const unsigned char *)n.params[i]->data;
        for (size_t k = 0; k < cnas_tensor_bytes(n.params[i]); k++)
            h = (h ^ p[k]) * 16777619u;
    }
    res->weight_hash = h;
    cnas_graph_free(g);
    cnas_optim_free(opt);
    net_free(&n);
}

START_TEST(test_small_cnn_learns_oriented_bars_well_past_chance)
{
    train_result r;
    train(1, 300, &r);
    ck_assert_msg(r.last_loss < 0.5f * r.first_loss, "loss %.3f -> %.3f", r.first_loss, r.last_loss);
    ck_assert_msg(r.accuracy > 0.85f, "held-out accuracy %.3f (chance 0.25)", r.accuracy);
}
END_TEST

START_TEST(test_training_steps_after_the_first_allocate_no_arena_memory)
{
    train_result r;
    train(2, 20, &r);
    ck_assert_uint_eq(r.allocs_at_end, r.allocs_after_warmup);
}
END_TEST

START_TEST(test_same_seed_and_threads_give_bitwise_identical_weights)
{
    train_result a, b, c;
    train(3, 30, &a);
    train(3, 30, &b);
    train(4, 30, &c);
    ck_assert_uint_eq(a.weight_hash, b.weight_hash);
    ck_assert_float_eq(a.last_loss, b.last_loss);
    ck_assert_uint_ne(a.weight_hash, c.weight_hash);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("cnn");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_small_cnn_learns_oriented_bars_well_past_chance);
    tcase_add_test(tc, test_training_steps_after_the_first_allocate_no_arena_memory);
    tcase_add_test(tc, test_same_seed_and_threads_give_bitwise_identical_weights);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
