/* Batch norm, activations, pooling, elementwise and structural ops: values against
 * hand-computed references and gradients against finite differences (step 1e-2, or
 * 1e-3 for pools and ReLU; atol 1e-3, rtol 1e-2). Max-pool and ReLU inputs are
 * distinct values 0.1 apart and at least 0.05 from 0, so no step crosses a kink. */
#include "testutil.h"

#include <math.h>
#include <string.h>

/* Distinct values in random order: no ties for max-pool, nothing near 0 for ReLU. */
static cnas_tensor *distinct(int ndim, const int64_t *shape, uint64_t seed)
{
    cnas_error err;
    cnas_tensor *t = cnas_tensor_new(ndim, shape, &err);
    int64_t *idx = malloc((size_t)t->numel * sizeof *idx);
    for (int64_t i = 0; i < t->numel; i++)
        idx[i] = i;
    cnas_rng r;
    cnas_rng_init(&r, seed, "distinct");
    cnas_rng_shuffle(&r, idx, t->numel);
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = 0.1f * (float)(idx[i] - t->numel / 2) + 0.05f;
    free(idx);
    return t;
}

typedef struct bn_case { bool training, affine, track; } bn_case;

static cnas_tensor *running[2];

static cnas_tensor *bn_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    const bn_case *k = ctx;
    cnas_batch_norm_params p = {.training = k->training};
    return cnas_batch_norm(g, in[0], k->affine ? in[1] : NULL, k->affine ? in[2] : NULL,
                           k->track ? running[0] : NULL, k->track ? running[1] : NULL, &p);
}

static void bn_check(bn_case k, int ndim, const int64_t *shape)
{
    cnas_error err;
    int64_t C = shape[1];
    cnas_tensor *in[3] = {tu_rand(ndim, shape, 1, -2, 2), tu_rand(CNAS_SHAPE(C), 2, 0.5f, 1.5f),
                          tu_rand(CNAS_SHAPE(C), 3, -1, 1)};
    running[0] = tu_rand(CNAS_SHAPE(C), 4, -0.5f, 0.5f);
    running[1] = tu_rand(CNAS_SHAPE(C), 5, 0.5f, 2.0f);
    for (int i = 0; i < 3; i++)
        cnas_tensor_set_requires_grad(in[i], true);
    TU_GRADCHECK(bn_fn, &k, in, k.affine ? 3 : 1, NULL);
    (void)err;
    for (int i = 0; i < 3; i++)
        cnas_tensor_free(in[i]);
    cnas_tensor_free(running[0]);
    cnas_tensor_free(running[1]);
}

START_TEST(test_batch_norm_matches_finite_differences_in_every_mode)
{
    bn_check((bn_case){true, true, true}, CNAS_SHAPE(3, 2, 5, 4));
    bn_check((bn_case){true, false, true}, CNAS_SHAPE(2, 3, 3, 3));
    bn_check((bn_case){true, true, false}, CNAS_SHAPE(4, 2, 3, 5));
    bn_check((bn_case){false, true, true}, CNAS_SHAPE(2, 2, 3, 3));
    bn_check((bn_case){false, false, false}, CNAS_SHAPE(3, 2, 4, 4)); /* batch stats in eval */
    bn_check((bn_case){true, true, true}, CNAS_SHAPE(6, 3));
    bn_check((bn_case){true, true, true}, CNAS_SHAPE(1, 2, 3, 3));  /* batch 1 */
    bn_check((bn_case){true, false, false}, CNAS_SHAPE(5, 3));
    bn_check((bn_case){false, true, true}, CNAS_SHAPE(3, 4));        /* eval, [N, C] */
    bn_check((bn_case){false, true, false}, CNAS_SHAPE(1, 3, 5, 3)); /* batch stats in eval */
}
END_TEST

START_TEST(test_batch_norm_normalises_and_updates_running_statistics_as_pytorch)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(4, 2, 3, 3), 9, -3, 5);
    cnas_tensor *rm = cnas_tensor_new(CNAS_SHAPE(2), &err), *rv = cnas_tensor_new(CNAS_SHAPE(2), &err);
    cnas_tensor_fill(rm, 0.5f);
    cnas_tensor_fill(rv, 2.0f);
    cnas_batch_norm_params p = {.training = true, .momentum = 0.1f};
    cnas_tensor *y = cnas_batch_norm(g, x, NULL, NULL, rm, rv, &p);
    for (int c = 0; c < 2; c++) {
        double m = 0, v = 0, ym = 0, yv = 0;
        for (int n = 0; n < 4; n++)
            for (int k = 0; k < 9; k++) {
                m += x->data[(n * 2 + c) * 9 + k];
                ym += y->data[(n * 2 + c) * 9 + k];
            }
        m /= 36;
        ym /= 36;
        for (int n = 0; n < 4; n++)
            for (int k = 0; k < 9; k++) {
                double d = x->data[(n * 2 + c) * 9 + k] - m, e = y->data[(n * 2 + c) * 9 + k] - ym;
                v += d * d;
                yv += e * e;
            }
        ck_assert_double_eq_tol(ym, 0.0, 1e-5);
        ck_assert_double_eq_tol(yv / 36, v / 36 / (v / 36 + 1e-5), 1e-4);
        ck_assert_double_eq_tol(rm->data[c], 0.9 * 0.5 + 0.1 * m, 1e-5);
        ck_assert_double_eq_tol(rv->data[c], 0.9 * 2.0 + 0.1 * v / 35, 1e-4); /* unbiased */
    }
    cnas_graph_reset(g);
    cnas_tensor *bad = tu_rand(CNAS_SHAPE(3), 1, 0, 1);
    ck_assert_ptr_null(cnas_batch_norm(g, x, bad, bad, NULL, NULL, &p));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "batch_norm: weight [3]"));
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(rm);
    cnas_tensor_free(rv);
    cnas_tensor_free(bad);
}
END_TEST

typedef cnas_tensor *(*unary)(cnas_graph *, cnas_tensor *);
static cnas_tensor *unary_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    return ((unary)ctx)(g, in[0]);
}

START_TEST(test_activations_match_finite_differences)
{
    cnas_tensor *x = distinct(CNAS_SHAPE(2, 3, 4, 5), 1);
    cnas_tensor_set_requires_grad(x, true);
    TU_GRADCHECK(unary_fn, (void *)cnas_relu, &x, 1, &(cnas_gradcheck_opts){.eps = 1e-3});
    TU_GRADCHECK(unary_fn, (void *)cnas_sigmoid, &x, 1, NULL);
    TU_GRADCHECK(unary_fn, (void *)cnas_tanh, &x, 1, NULL);
    TU_GRADCHECK(unary_fn, (void *)cnas_global_avg_pool, &x, 1, NULL);
    TU_GRADCHECK(unary_fn, (void *)cnas_flatten, &x, 1, NULL);
    TU_GRADCHECK(unary_fn, (void *)cnas_sum, &x, 1, NULL);
    TU_GRADCHECK(unary_fn, (void *)cnas_mean, &x, 1, NULL);
    cnas_tensor_free(x);
}
END_TEST

typedef struct pool_case { cnas_pool2d_params p; bool max; } pool_case;

static cnas_tensor *pool_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    pool_case *k = ctx;
    return k->max ? cnas_max_pool2d(g, in[0], &k->p) : cnas_avg_pool2d(g, in[0], &k->p);
}

START_TEST(test_pools_match_finite_differences)
{
    /* Batch > 1 with an even/odd plane, batch 1 with an odd square plane. */
    cnas_tensor *xs[2] = {distinct(CNAS_SHAPE(2, 2, 7, 6), 2), distinct(CNAS_SHAPE(1, 3, 5, 5), 7)};
    pool_case cases[] = {
        {{3, 3, 1, 1, 1, 1, false}, true},  {{3, 3, 2, 2, 1, 1, false}, true},
        {{2, 2, 0, 0, 0, 0, false}, true},  {{3, 2, 2, 1, 1, 1, false}, true},
        {{3, 3, 1, 1, 1, 1, false}, false}, {{3, 3, 1, 1, 1, 1, true}, false},
        {{3, 3, 2, 2, 1, 1, false}, false}, {{3, 3, 2, 2, 1, 1, true}, false},
        {{5, 5, 3, 3, 0, 0, false}, false}, {{2, 3, 1, 2, 1, 1, true}, false},
    };
    for (int k = 0; k < 2; k++) {
        cnas_tensor_set_requires_grad(xs[k], true);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            TU_GRADCHECK(pool_fn, &cases[i], &xs[k], 1, &(cnas_gradcheck_opts){.eps = 1e-3});
        TU_GRADCHECK(unary_fn, (void *)cnas_global_avg_pool, &xs[k], 1, NULL);
        cnas_tensor_free(xs[k]);
    }
}
END_TEST

START_TEST(test_avg_pool_excludes_padding_from_the_divisor_unless_asked)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_tensor_new(CNAS_SHAPE(1, 1, 4, 4), &err);
    cnas_tensor_fill(x, 1.0f);
    cnas_pool2d_params p = {3, 3, 1, 1, 1, 1, false};
    cnas_tensor *y = cnas_avg_pool2d(g, x, &p);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq_tol(y->data[i], 1.0f, 1e-6);
    p.count_include_pad = true;
    y = cnas_avg_pool2d(g, x, &p);
    ck_assert_float_eq_tol(y->data[0], 4.0f / 9.0f, 1e-6);  /* corner: 4 of 9 in bounds */
    ck_assert_float_eq_tol(y->data[1], 6.0f / 9.0f, 1e-6);
    ck_assert_float_eq_tol(y->data[5], 1.0f, 1e-6);
    cnas_tensor *m = distinct(CNAS_SHAPE(1, 1, 4, 4), 3);
    p = (cnas_pool2d_params){2, 2, 2, 2, 0, 0, false};
    y = cnas_max_pool2d(g, m, &p);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            float best = -1e9f;
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++)
                    best = fmaxf(best, m->data[(2 * i + a) * 4 + 2 * j + b]);
            ck_assert_float_eq(y->data[i * 2 + j], best);
        }
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(m);
}
END_TEST

static cnas_tensor *binary_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    int which = *(int *)ctx;
    switch (which) {
    case 0: return cnas_add(g, in[0], in[1]);
    case 1: return cnas_mul(g, in[0], in[1]);
    case 2: return cnas_scale(g, in[0], -1.7f);
    case 3: return cnas_sum_n(g, 2, in);
    case 4: return cnas_concat(g, 2, in);
    case 5: return cnas_weighted_sum(g, 2, in, in[2]);
    case 6: return cnas_slice_channels(g, cnas_concat(g, 2, in), 1, 4);
    case 7: return cnas_crop(g, in[0], 1, 1, 1, 3);
    case 8: return cnas_upsample_nearest(g, in[0], 2);
    default: return cnas_reshape(g, in[0], 2, (int64_t[]){6, 8});
    }
}

START_TEST(test_elementwise_and_structural_ops_match_finite_differences)
{
    cnas_tensor *in[3] = {tu_rand(CNAS_SHAPE(2, 3, 2, 4), 1, -1, 1),
                          tu_rand(CNAS_SHAPE(2, 3, 2, 4), 2, -1, 1), tu_rand(CNAS_SHAPE(2), 3, -1, 1)};
    for (int i = 0; i < 3; i++)
        cnas_tensor_set_requires_grad(in[i], true);
    for (int which = 0; which < 10; which++) {
        int n = which == 5 ? 3 : which == 2 || which >= 7 ? 1 : 2;
        TU_GRADCHECK(binary_fn, &which, in, n, NULL);
    }
    for (int i = 0; i < 3; i++)
        cnas_tensor_free(in[i]);
}
END_TEST

START_TEST(test_concat_slice_and_crop_place_values_where_expected)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *a = tu_rand(CNAS_SHAPE(2, 1, 2, 2), 1, -1, 1), *b = tu_rand(CNAS_SHAPE(2, 2, 2, 2), 2, -1, 1);
    cnas_tensor *c = cnas_concat(g, 2, (cnas_tensor *[]){a, b});
    ck_assert_int_eq(c->shape[1], 3);
    ck_assert_float_eq(c->data[12 + 0], a->data[4]);      /* sample 1, channel 0 */
    ck_assert_float_eq(c->data[12 + 4], b->data[8]);      /* sample 1, channel 1 */
    cnas_tensor *s = cnas_slice_channels(g, c, 1, 3);
    ck_assert_int_eq(memcmp(s->data, b->data, cnas_tensor_bytes(b)), 0);
    cnas_tensor *k = cnas_crop(g, b, 1, 1, 1, 1);
    ck_assert_float_eq(k->data[0], b->data[3]);
    ck_assert_ptr_null(cnas_concat(g, 2, (cnas_tensor *[]){a, cnas_crop(g, b, 0, 0, 1, 1)}));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "concat: input 1 is [2, 2, 1, 1]"));
    cnas_graph_free(g);
    cnas_tensor_free(a);
    cnas_tensor_free(b);
}
END_TEST

START_TEST(test_shape_errors_name_the_op_and_the_shapes)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *a = tu_rand(CNAS_SHAPE(2, 3), 1, -1, 1), *b = tu_rand(CNAS_SHAPE(3, 2), 2, -1, 1);
    ck_assert_ptr_null(cnas_add(g, a, b));
    ck_assert_str_eq(cnas_graph_error(g)->msg, "add: shapes [2, 3] and [3, 2] differ");
    cnas_graph_reset(g);
    ck_assert_ptr_null(cnas_max_pool2d(g, a, &(cnas_pool2d_params){.kernel_h = 3, .kernel_w = 3}));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "max_pool2d: input [2, 3]"));
    cnas_graph_free(g);
    cnas_tensor_free(a);
    cnas_tensor_free(b);
}
END_TEST

START_TEST(test_batch_norm_in_eval_mode_applies_running_statistics_and_leaves_them_alone)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(3, 2, 2, 3), 11, -2, 2);
    cnas_tensor *gam = tu_rand(CNAS_SHAPE(2), 12, 0.5f, 1.5f), *bet = tu_rand(CNAS_SHAPE(2), 13, -1, 1);
    cnas_tensor *rm = tu_rand(CNAS_SHAPE(2), 14, -1, 1), *rv = tu_rand(CNAS_SHAPE(2), 15, 0.5f, 2);
    float rm0[2] = {rm->data[0], rm->data[1]}, rv0[2] = {rv->data[0], rv->data[1]};
    cnas_batch_norm_params p = {.training = false, .eps = 1e-3f};
    cnas_tensor *y = cnas_batch_norm(g, x, gam, bet, rm, rv, &p);
    ck_assert_ptr_nonnull(y);
    for (int n = 0; n < 3; n++)
        for (int c = 0; c < 2; c++)
            for (int k = 0; k < 6; k++) {
                int i = (n * 2 + c) * 6 + k;
                double want = gam->data[c] * (x->data[i] - rm0[c]) / sqrt(rv0[c] + 1e-3) + bet->data[c];
                ck_assert_double_eq_tol(y->data[i], want, 1e-5);
            }
    for (int c = 0; c < 2; c++) {
        ck_assert_float_eq(rm->data[c], rm0[c]);
        ck_assert_float_eq(rv->data[c], rv0[c]);
    }
    /* Without running statistics eval normalises with the batch's own. */
    y = cnas_batch_norm(g, x, NULL, NULL, NULL, NULL, &p);
    for (int c = 0; c < 2; c++) {
        double m = 0;
        for (int n = 0; n < 3; n++)
            for (int k = 0; k < 6; k++)
                m += y->data[(n * 2 + c) * 6 + k];
        ck_assert_double_eq_tol(m / 18, 0.0, 1e-5);
    }
    cnas_graph_free(g);
    cnas_tensor *ts[] = {x, gam, bet, rm, rv};
    for (int i = 0; i < 5; i++)
        cnas_tensor_free(ts[i]);
}
END_TEST

START_TEST(test_batch_norm_rejects_bad_parameters_and_single_value_batches)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(4, 2), 1, -1, 1), *one = tu_rand(CNAS_SHAPE(1, 2), 2, -1, 1);
    ck_assert_ptr_null(cnas_batch_norm(g, x, NULL, NULL, NULL, NULL,
                                       &(cnas_batch_norm_params){.training = true, .momentum = 1.5f}));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "batch_norm: momentum 1.5"));
    cnas_graph_reset(g);
    ck_assert_ptr_null(cnas_batch_norm(g, one, NULL, NULL, NULL, NULL,
                                       &(cnas_batch_norm_params){.training = true}));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "input [1, 2]"));
    cnas_graph_reset(g);
    cnas_tensor *x3 = tu_rand(CNAS_SHAPE(2, 2, 3), 3, -1, 1);
    ck_assert_ptr_null(cnas_batch_norm(g, x3, NULL, NULL, NULL, NULL, NULL));
    ck_assert_ptr_nonnull(strstr(cnas_graph_error(g)->msg, "batch_norm: input [2, 2, 3]"));
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(one);
    cnas_tensor_free(x3);
}
END_TEST

START_TEST(test_max_pool_treats_padding_as_minus_infinity)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(1, 1, 3, 3), 4, -5, -1); /* all negative: a zero pad would win */
    cnas_tensor *y = cnas_max_pool2d(g, x, &(cnas_pool2d_params){3, 3, 1, 1, 1, 1, false});
    const float *d = x->data;
    ck_assert_float_eq(y->data[0], fmaxf(fmaxf(d[0], d[1]), fmaxf(d[3], d[4])));
    ck_assert_float_eq(y->data[8], fmaxf(fmaxf(d[4], d[5]), fmaxf(d[7], d[8])));
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

/* The stride-1 "same" pools (the DARTS case) take their own vectorised path: against a
 * naive loop, with ties everywhere (values on a coarse grid: the first maximum in scan
 * order wins) and, for max pooling, a NaN that must win its windows. */
START_TEST(test_same_padding_pools_match_a_naive_loop)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    const int64_t N = 2, C = 3, H = 9, W = 11;
    cnas_tensor *x = tu_rand(CNAS_SHAPE(N, C, H, W), 8, -2, 2);
    for (int64_t i = 0; i < x->numel; i++)
        x->data[i] = roundf(x->data[i] * 2.0f) / 2.0f;
    for (int k = 3; k <= 5; k += 2)
        for (int kind = 0; kind < 3; kind++) { /* max, avg excluding pad, avg including */
            int r = k / 2;
            cnas_pool2d_params p = {k, k, 1, 1, r, r, kind == 2};
            cnas_tensor_set_requires_grad(x, true);
            cnas_tensor *y = kind ? cnas_avg_pool2d(g, x, &p) : cnas_max_pool2d(g, x, &p);
            ck_assert_ptr_nonnull(y);
            cnas_tensor *gy = tu_rand(CNAS_SHAPE(N, C, H, W), 9, -1, 1);
            if (x->grad)
                memset(x->grad, 0, (size_t)x->numel * sizeof(float));
            ck_assert_int_eq(cnas_backward(g, cnas_sum(g, cnas_mul(g, y, gy))), CNAS_OK);
            const float *gx = x->grad;
            float *want_gx = calloc((size_t)x->numel, sizeof *want_gx);
            for (int64_t pl = 0; pl < N * C; pl++)
                for (int64_t i = 0; i < H; i++)
                    for (int64_t j = 0; j < W; j++) {
                        const float *xp = x->data + pl * H * W;
                        float best = -INFINITY, sum = 0;
                        int64_t at = -1, count = 0;
                        for (int64_t a = i - r; a <= i + r; a++)
                            for (int64_t b = j - r; b <= j + r; b++) {
                                if (a < 0 || a >= H || b < 0 || b >= W)
                                    continue;
                                float v = xp[a * W + b];
                                if (at < 0 || v > best) {
                                    best = v;
                                    at = a * W + b;
                                }
                                sum += v;
                                count++;
                            }
                        int64_t o = pl * H * W + i * W + j;
                        if (kind == 0) {
                            ck_assert_float_eq(y->data[o], best);
                            want_gx[pl * H * W + at] += gy->data[o];
                        } else {
                            float div = kind == 2 ? (float)(k * k) : (float)count;
                            ck_assert_float_eq_tol(y->data[o], sum / div, 1e-5);
                            for (int64_t a = i - r; a <= i + r; a++)
                                for (int64_t b = j - r; b <= j + r; b++)
                                    if (a >= 0 && a < H && b >= 0 && b < W)
                                        want_gx[pl * H * W + a * W + b] += gy->data[o] / div;
                        }
                    }
            for (int64_t i = 0; i < x->numel; i++)
                ck_assert_float_eq_tol(gx[i], want_gx[i], 1e-5);
            free(want_gx);
            cnas_tensor_free(gy);
            cnas_graph_reset(g);
        }
    /* a NaN wins every window it is in */
    cnas_tensor_set_requires_grad(x, false);
    x->data[2 * W + 3] = NAN;
    cnas_tensor *y = cnas_max_pool2d(g, x, &(cnas_pool2d_params){3, 3, 1, 1, 1, 1, false});
    for (int64_t i = 1; i <= 3; i++)
        for (int64_t j = 2; j <= 4; j++)
            ck_assert(isnan(y->data[i * W + j]));
    ck_assert(!isnan(y->data[0]));
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_avg_pool_corner_averages_its_in_bounds_values)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(2, 1, 3, 3), 5, -1, 1);
    cnas_pool2d_params p = {3, 3, 1, 1, 1, 1, false};
    cnas_tensor *excl = cnas_avg_pool2d(g, x, &p);
    p.count_include_pad = true;
    cnas_tensor *incl = cnas_avg_pool2d(g, x, &p);
    for (int n = 0; n < 2; n++) {
        const float *d = x->data + 9 * n;
        float corner = d[0] + d[1] + d[3] + d[4], edge = corner + d[2] + d[5], all = 0;
        for (int k = 0; k < 9; k++)
            all += d[k];
        ck_assert_float_eq_tol(excl->data[9 * n + 0], corner / 4, 1e-6);
        ck_assert_float_eq_tol(excl->data[9 * n + 1], edge / 6, 1e-6);
        ck_assert_float_eq_tol(excl->data[9 * n + 4], all / 9, 1e-6);
        ck_assert_float_eq_tol(incl->data[9 * n + 0], corner / 9, 1e-6);
        ck_assert_float_eq_tol(incl->data[9 * n + 1], edge / 9, 1e-6);
    }
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_weighted_sum_gives_each_weight_the_dot_product_of_its_input_and_the_gradient)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x[3], *w = tu_rand(CNAS_SHAPE(3), 20, -1, 1), *t = tu_rand(CNAS_SHAPE(2, 2, 3, 3), 21, -1, 1);
    for (int i = 0; i < 3; i++) {
        x[i] = tu_rand(CNAS_SHAPE(2, 2, 3, 3), 22 + i, -1, 1);
        cnas_tensor_set_requires_grad(x[i], i != 1); /* x1 is frozen */
    }
    cnas_tensor_set_requires_grad(w, true);
    /* L = Σ t ⊙ y, so dL/dy = t, dL/dw[i] = <t, x_i>, dL/dx_i = w[i]·t. */
    cnas_tensor *y = cnas_weighted_sum(g, 3, x, w);
    ck_assert_ptr_nonnull(y);
    for (int k = 0; k < 36; k++)
        ck_assert_float_eq_tol(y->data[k], w->data[0] * x[0]->data[k] + w->data[1] * x[1]->data[k] +
                               w->data[2] * x[2]->data[k], 1e-6);
    ck_assert_int_eq(cnas_backward(g, cnas_sum(g, cnas_mul(g, y, t))), CNAS_OK);
    for (int i = 0; i < 3; i++) {
        double dot = 0;
        for (int k = 0; k < 36; k++)
            dot += (double)t->data[k] * x[i]->data[k];
        ck_assert_double_eq_tol(w->grad[i], dot, 1e-5);
    }
    ck_assert_ptr_null(x[1]->grad);
    for (int k = 0; k < 36; k++) {
        ck_assert_float_eq_tol(x[0]->grad[k], w->data[0] * t->data[k], 1e-6);
        ck_assert_float_eq_tol(x[2]->grad[k], w->data[2] * t->data[k], 1e-6);
    }
    cnas_graph_reset(g);
    ck_assert_ptr_null(cnas_weighted_sum(g, 2, x, w));
    ck_assert_str_eq(cnas_graph_error(g)->msg, "weighted_sum: 2 inputs but weights [3]");
    cnas_graph_free(g);
    for (int i = 0; i < 3; i++)
        cnas_tensor_free(x[i]);
    cnas_tensor_free(w);
    cnas_tensor_free(t);
}
END_TEST

START_TEST(test_backward_fills_only_the_gradients_that_are_required)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(2, 3, 4, 4), 30, -1, 1);
    cnas_tensor *gam = tu_rand(CNAS_SHAPE(3), 31, 0.5f, 1.5f), *bet = tu_rand(CNAS_SHAPE(3), 32, -1, 1);
    cnas_batch_norm_params p = {.training = true};
    /* Nothing requires a gradient: no node is recorded anywhere. */
    cnas_tensor *h = cnas_batch_norm(g, x, gam, bet, NULL, NULL, &p);
    h = cnas_relu(g, h);
    h = cnas_max_pool2d(g, h, &(cnas_pool2d_params){3, 3, 2, 2, 1, 1, false});
    h = cnas_avg_pool2d(g, h, &(cnas_pool2d_params){3, 3, 1, 1, 1, 1, false});
    h = cnas_concat(g, 2, (cnas_tensor *[]){h, cnas_scale(g, h, 2.0f)});
    h = cnas_mean(g, cnas_flatten(g, h));
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(cnas_graph_node_count(g), 0);
    ck_assert_int_eq(h->node, -1);
    /* Only gamma requires one: x and beta get no buffer. */
    cnas_graph_reset(g);
    cnas_tensor_set_requires_grad(gam, true);
    h = cnas_batch_norm(g, x, gam, bet, NULL, NULL, &p);
    ck_assert_int_eq(cnas_backward(g, cnas_sum(g, cnas_tanh(g, h))), CNAS_OK);
    ck_assert_ptr_nonnull(gam->grad);
    ck_assert_ptr_null(x->grad);
    ck_assert_ptr_null(bet->grad);
    cnas_graph_free(g);
    cnas_tensor_free(x);
    cnas_tensor_free(gam);
    cnas_tensor_free(bet);
}
END_TEST

START_TEST(test_ops_return_null_on_null_inputs_and_after_a_failure)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(1, 2, 3, 3), 1, -1, 1);
    cnas_pool2d_params p = {2, 2, 0, 0, 0, 0, false};
    ck_assert_ptr_null(cnas_relu(g, NULL));
    ck_assert_ptr_null(cnas_add(g, x, NULL));
    ck_assert_ptr_null(cnas_batch_norm(g, NULL, NULL, NULL, NULL, NULL, NULL));
    ck_assert_ptr_null(cnas_max_pool2d(g, NULL, &p));
    ck_assert_ptr_null(cnas_concat(g, 2, (cnas_tensor *[]){x, NULL}));
    ck_assert_ptr_nonnull(cnas_relu(g, x));
    ck_assert_ptr_null(cnas_reshape(g, x, 2, (int64_t[]){4, 4}));
    ck_assert_str_eq(cnas_graph_error(g)->msg,
                     "reshape: [1, 2, 3, 3] has 18 elements but the new shape [4, 4] does not");
    ck_assert_ptr_null(cnas_relu(g, x)); /* the graph has failed */
    ck_assert_ptr_null(cnas_avg_pool2d(g, x, &p));
    ck_assert_ptr_null(cnas_sum(g, x));
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_forward_values_match_naive_references)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(2, 3, 2, 3), 40, -2, 2);
    cnas_tensor *r = cnas_relu(g, x), *s = cnas_sigmoid(g, x), *t = cnas_tanh(g, x);
    cnas_tensor *gap = cnas_global_avg_pool(g, x), *up = cnas_upsample_nearest(g, x, 3);
    cnas_tensor *sum = cnas_sum(g, x), *mean = cnas_mean(g, x);
    ck_assert_int_eq(up->shape[2], 6);
    ck_assert_int_eq(up->shape[3], 9);
    double total = 0;
    for (int k = 0; k < 36; k++) {
        float v = x->data[k];
        ck_assert_float_eq(r->data[k], v > 0 ? v : 0);
        ck_assert_float_eq_tol(s->data[k], 1 / (1 + exp(-v)), 1e-6);
        ck_assert_float_eq_tol(t->data[k], tanh(v), 1e-6);
        total += v;
    }
    ck_assert_double_eq_tol(sum->data[0], total, 1e-5);
    ck_assert_double_eq_tol(mean->data[0], total / 36, 1e-6);
    for (int pl = 0; pl < 6; pl++) {
        double m = 0;
        for (int k = 0; k < 6; k++)
            m += x->data[pl * 6 + k];
        ck_assert_double_eq_tol(gap->data[pl], m / 6, 1e-6);
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 9; j++)
                ck_assert_float_eq(up->data[pl * 54 + i * 9 + j], x->data[pl * 6 + (i / 3) * 3 + j / 3]);
    }
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

START_TEST(test_reductions_and_batch_norm_do_not_depend_on_the_thread_count)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(8, 4, 48, 48), 50, -3, 7);
    float sums[2], bn[2][8];
    for (int run = 0; run < 2; run++) {
        cnas_threads_set(run ? 2 : 1);
        cnas_graph_reset(g);
        sums[run] = cnas_sum(g, x)->data[0];
        cnas_tensor *y = cnas_batch_norm(g, x, NULL, NULL, NULL, NULL,
                                         &(cnas_batch_norm_params){.training = true});
        for (int k = 0; k < 8; k++)
            bn[run][k] = y->data[k * 9973];
    }
    cnas_threads_set(2);
    ck_assert_float_eq(sums[0], sums[1]);
    ck_assert_int_eq(memcmp(bn[0], bn[1], sizeof bn[0]), 0);
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

/* Mean and mean square of y over channel c of an [N, C, H, W] tensor. */
static void channel_moments(const cnas_tensor *y, int64_t c, double *mean, double *mean_sq)
{
    int64_t N = y->shape[0], C = y->shape[1], hw = y->shape[2] * y->shape[3];
    double s = 0, ss = 0;
    for (int64_t b = 0; b < N; b++)
        for (int64_t k = 0; k < hw; k++) {
            double v = y->data[(b * C + c) * hw + k];
            s += v;
            ss += v * v;
        }
    *mean = s / (double)(N * hw);
    *mean_sq = ss / (double)(N * hw);
}

/* Batch statistics of values far from zero: a large offset must not eat the variance. */
START_TEST(test_batch_norm_normalises_values_with_a_large_offset)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(4, 2, 9, 7), 11, -1, 1);
    for (int64_t i = 0; i < x->numel; i++)
        x->data[i] += i % 2 ? 1000.0f : -3000.0f; /* varies within each channel too */
    cnas_batch_norm_params p = {.training = true};
    cnas_tensor *y = cnas_batch_norm(g, x, NULL, NULL, NULL, NULL, &p);
    ck_assert_ptr_nonnull(y);
    for (int c = 0; c < 2; c++) {
        double xm, xsq, ym, ysq;
        channel_moments(x, c, &xm, &xsq);
        channel_moments(y, c, &ym, &ysq);
        ck_assert_double_gt(xsq - xm * xm, 1e5); /* the offsets alternate, so the spread is large */
        ck_assert_double_eq_tol(ym, 0.0, 1e-4);
        ck_assert_double_eq_tol(ysq, 1.0, 1e-3);
    }
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

/* Small noise on a large offset: the variance survives. */
START_TEST(test_batch_norm_keeps_small_variance_on_a_large_mean)
{
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(8, 1, 16, 16), 12, -1, 1);
    for (int64_t i = 0; i < x->numel; i++)
        x->data[i] = 500.0f + 0.1f * x->data[i]; /* variance 1/300, well above eps */
    cnas_batch_norm_params p = {.training = true};
    cnas_tensor *y = cnas_batch_norm(g, x, NULL, NULL, NULL, NULL, &p);
    ck_assert_ptr_nonnull(y);
    double ym, ysq;
    channel_moments(y, 0, &ym, &ysq);
    ck_assert_double_eq_tol(ym, 0.0, 1e-2);
    ck_assert_double_eq_tol(ysq, 1.0, 2e-2);
    cnas_graph_free(g);
    cnas_tensor_free(x);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_batch_norm_matches_finite_differences_in_every_mode);
    tcase_add_test(tc, test_batch_norm_normalises_and_updates_running_statistics_as_pytorch);
    tcase_add_test(tc, test_activations_match_finite_differences);
    tcase_add_test(tc, test_pools_match_finite_differences);
    tcase_add_test(tc, test_avg_pool_excludes_padding_from_the_divisor_unless_asked);
    tcase_add_test(tc, test_elementwise_and_structural_ops_match_finite_differences);
    tcase_add_test(tc, test_concat_slice_and_crop_place_values_where_expected);
    tcase_add_test(tc, test_shape_errors_name_the_op_and_the_shapes);
    tcase_add_test(tc, test_batch_norm_in_eval_mode_applies_running_statistics_and_leaves_them_alone);
    tcase_add_test(tc, test_batch_norm_rejects_bad_parameters_and_single_value_batches);
    tcase_add_test(tc, test_max_pool_treats_padding_as_minus_infinity);
    tcase_add_test(tc, test_same_padding_pools_match_a_naive_loop);
    tcase_add_test(tc, test_batch_norm_normalises_values_with_a_large_offset);
    tcase_add_test(tc, test_batch_norm_keeps_small_variance_on_a_large_mean);
    tcase_add_test(tc, test_avg_pool_corner_averages_its_in_bounds_values);
    tcase_add_test(tc, test_weighted_sum_gives_each_weight_the_dot_product_of_its_input_and_the_gradient);
    tcase_add_test(tc, test_backward_fills_only_the_gradients_that_are_required);
    tcase_add_test(tc, test_ops_return_null_on_null_inputs_and_after_a_failure);
    tcase_add_test(tc, test_forward_values_match_naive_references);
    tcase_add_test(tc, test_reductions_and_batch_norm_do_not_depend_on_the_thread_count);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
