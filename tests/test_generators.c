/* Generators (ABI 1.2): the Gaussian generator's kernels (finite-difference checks, compiled
 * in), its maximum-likelihood fit, temperature and file round trip; the `generated`
 * dataset; the small conditional GAN (its discriminator loss moves, its samples depend on
 * the class); DASGM's generator hypergradient against the analytic one on a quadratic toy
 * (compiled in). The plugins are loaded from the build (GAUSSIAN_GEN_SO, CGAN_SO,
 * GENERATED_SO). */
#include "testutil.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "dasgm_hyper.h"
#include "gaussian_kernels.h"

/* ---- kernels ---------------------------------------------------------------------- */

static const int32_t k_labels[5] = {0, 2, 1, 2, 0};

static cnas_tensor *sample_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    (void)ctx;
    cnas_rng r;
    cnas_rng_init(&r, 7, "gauss_sample_check");
    return cnas_gauss_sample(g, in[0], in[1], k_labels, 5, 1.5f, &r,
                             (const int64_t[]){5, 1, 2, 2});
}

START_TEST(test_gauss_sample_grad)
{
    cnas_tensor *mu = tu_rand(CNAS_SHAPE(3, 4), 1, -1, 1), *ls = tu_rand(CNAS_SHAPE(3, 4), 2, -1, 0.5);
    cnas_tensor_set_requires_grad(mu, true);
    cnas_tensor_set_requires_grad(ls, true);
    cnas_tensor *in[2] = {mu, ls};
    cnas_gradcheck_opts o = {.eps = 1e-3, .atol = 1e-3, .rtol = 1e-2, .seed = 3};
    TU_GRADCHECK(sample_fn, NULL, in, 2, &o);
    cnas_tensor_free(mu);
    cnas_tensor_free(ls);
}
END_TEST

static cnas_tensor *nll_fn(cnas_graph *g, cnas_tensor *const *in, void *ctx)
{
    return cnas_gauss_nll(g, ctx, in[0], in[1], k_labels);
}

START_TEST(test_gauss_nll_grad)
{
    cnas_tensor *mu = tu_rand(CNAS_SHAPE(3, 4), 1, -1, 1), *ls = tu_rand(CNAS_SHAPE(3, 4), 2, -1, 0.5);
    cnas_tensor *x = tu_rand(CNAS_SHAPE(5, 4), 3, -2, 2);
    cnas_tensor_set_requires_grad(mu, true);
    cnas_tensor_set_requires_grad(ls, true);
    cnas_tensor *in[2] = {mu, ls};
    cnas_gradcheck_opts o = {.eps = 1e-3, .atol = 1e-3, .rtol = 1e-2, .seed = 4};
    TU_GRADCHECK(nll_fn, x, in, 2, &o);
    cnas_tensor_free(mu);
    cnas_tensor_free(ls);
    cnas_tensor_free(x);
}
END_TEST

/* ---- plugins -------------------------------------------------------------------------- */

static cnas_registry *load(const char *const *vars, int n)
{
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    for (int i = 0; i < n; i++) {
        const char *path = getenv(vars[i]);
        ck_assert_msg(path != NULL, "%s is not set", vars[i]);
        ck_assert_msg(cnas_registry_load_file(r, path, &err) == CNAS_OK, "%s", err.msg);
    }
    return r;
}

/* A toy source: class k is the constant image k plus N(0, (0.1·(k+1))²) per pixel. */
typedef struct toy_source {
    int64_t batches, done, B, D;
    int K;
    cnas_rng rng;
    int32_t labels[64];
    float pattern;     /* 0: constants; else the left/right pattern images of the GAN test */
} toy_source;

static int toy_next(void *ctx, cnas_graph *g, cnas_tensor **x, const int32_t **labels,
                    cnas_error *err)
{
    (void)err;
    toy_source *s = ctx;
    if (s->done == s->batches) {
        s->done = 0;
        return 0;
    }
    s->done++;
    cnas_tensor *t = cnas_graph_tensor(g, 4, (const int64_t[]){s->B, 1, 1, s->D});
    ck_assert(t != NULL);
    for (int64_t i = 0; i < s->B; i++) {
        int k = (int)cnas_rng_below(&s->rng, (uint32_t)s->K);
        s->labels[i] = k;
        for (int64_t d = 0; d < s->D; d++) {
            float base = (float)k;
            if (s->pattern != 0.0f) /* class 0: left half high; class 1: right half high */
                base = ((d % 8 < 4) == (k == 0)) ? s->pattern : -s->pattern;
            t->data[i * s->D + d] = base + 0.1f * (float)(k + 1) * cnas_rng_normal(&s->rng);
        }
    }
    *x = t;
    *labels = s->labels;
    return 1;
}

START_TEST(test_gaussian_fit_file)
{
    static const char *const vars[] = {"GAUSSIAN_GEN_SO"};
    cnas_registry *reg = load(vars, 1);
    cnas_error err;
    cnas_gen_shape sh = {sizeof sh, 1, 1, 6, 3, {0.5f}, {0.25f}};
    cnas_generator *gen;
    ck_assert_msg(cnas_generator_new(NULL, "gaussian_gen", "temperature = 2", "test", &sh, 1,
                                     &gen, &err) == CNAS_OK, "%s", err.msg);
    toy_source s = {.batches = 50, .B = 64, .D = 6, .K = 3};
    cnas_rng_init(&s.rng, 5, "toy");
    cnas_gen_source src = {sizeof src, toy_next, &s};
    cnas_rng rng;
    cnas_rng_init(&rng, 1, "fit");
    ck_assert_msg(cnas_generator_vt(gen)->fit(cnas_generator_self(gen), &src, &rng, &err) ==
                      CNAS_OK, "%s", err.msg);
    cnas_named_tensor nt[2];
    ck_assert_int_eq(cnas_generator_vt(gen)->tensors(cnas_generator_self(gen), nt, 2), 2);
    for (int k = 0; k < 3; k++)
        for (int d = 0; d < 6; d++) {
            ck_assert_msg(fabsf(nt[0].tensor->data[k * 6 + d] - (float)k) < 0.03f, "mean %g",
                          (double)nt[0].tensor->data[k * 6 + d]);
            float sd = expf(nt[1].tensor->data[k * 6 + d]);
            ck_assert_msg(fabsf(sd / (0.1f * (float)(k + 1)) - 1.0f) < 0.1f, "std %g", (double)sd);
        }
    /* Temperature 2: samples of class 2 spread with about twice the fitted std. */
    cnas_graph *g = cnas_graph_new(&err);
    int32_t y[400];
    for (int i = 0; i < 400; i++)
        y[i] = 2;
    cnas_rng noise;
    cnas_rng_init(&noise, 9, "noise");
    cnas_rng noise_copy = noise;
    cnas_gen_sample_args a = {sizeof a, 400, y, &noise, false};
    cnas_tensor *x = cnas_generator_sample(gen, g, &a);
    ck_assert(x != NULL);
    double m = 0, v = 0;
    for (int64_t k = 0; k < x->numel; k++)
        m += x->data[k];
    m /= (double)x->numel;
    for (int64_t k = 0; k < x->numel; k++)
        v += (x->data[k] - m) * (x->data[k] - m);
    double sd = sqrt(v / (double)x->numel);
    ck_assert_msg(fabs(m - 2.0) < 0.05 && fabs(sd / 0.6 - 1.0) < 0.1, "mean %g std %g", m, sd);
    /* The file round trip gives the same samples, bit for bit. */
    char path[] = "/tmp/cnas_gen_XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    ck_assert_msg(cnas_generator_save_file(gen, path, &err) == CNAS_OK, "%s", err.msg);
    cnas_generator *back;
    ck_assert_msg(cnas_generator_load_file(NULL, path, &back, &err) == CNAS_OK, "%s", err.msg);
    ck_assert_float_eq(cnas_generator_shape(back)->std[0], 0.25f);
    cnas_gen_sample_args b = {sizeof b, 400, y, &noise_copy, false};
    cnas_tensor *x2 = cnas_generator_sample(back, g, &b);
    ck_assert(x2 != NULL);
    ck_assert(memcmp(x->data, x2->data, cnas_tensor_bytes(x)) == 0);
    /* A bad option is a configuration error naming the key. */
    cnas_generator *bad;
    ck_assert_int_eq(cnas_generator_new(NULL, "gaussian_gen", "temprature=2", "[strategy] "
                                        "generator_options", &sh, 1, &bad, &err),
                     CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "temprature") != NULL, "%s", err.msg);
    ck_assert_int_ne(cnas_generator_new(NULL, "gaussian_gen", "temperature", "x", &sh, 1, &bad,
                                        &err), CNAS_OK);
    /* The generated dataset serves the file's samples: class i mod K, pixels in [0, 1]. */
    cnas_generator_free(back);
    cnas_generator_free(gen);
    cnas_graph_free(g);
    const char *gpath = getenv("GENERATED_SO");
    ck_assert(gpath != NULL);
    ck_assert_msg(cnas_registry_load_file(reg, gpath, &err) == CNAS_OK, "%s", err.msg);
    const cnas_component *c = cnas_registry_find(reg, CNAS_KIND_DATASET, "generated", NULL, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    const char *keys[] = {"file", "n_train"}, *vals[] = {path, "30"};
    cnas_params *p;
    ck_assert_msg(cnas_params_resolve(c->params, (int)c->n_params, "test", keys, vals, 2, &p,
                                      &err) == CNAS_OK, "%s", err.msg);
    const cnas_dataset_vtable *dvt = c->vtable;
    void *ds;
    ck_assert_msg(dvt->open(p, &ds, &err) == CNAS_OK, "%s", err.msg);
    cnas_dataset_info info = {.size = sizeof info};
    ck_assert(dvt->info(ds, &info, &err) == CNAS_OK);
    ck_assert_int_eq(info.num_classes, 3);
    ck_assert_int_eq(info.n_train, 30);
    float img[6], img2[6];
    int32_t lab;
    for (int i = 0; i < 30; i++) {
        ck_assert(dvt->get(ds, CNAS_SPLIT_TRAIN, i, img, &lab, &err) == CNAS_OK);
        ck_assert_int_eq(lab, i % 3);
        for (int d = 0; d < 6; d++)
            ck_assert(img[d] >= 0.0f && img[d] <= 1.0f);
    }
    ck_assert(dvt->get(ds, CNAS_SPLIT_TRAIN, 7, img2, &lab, &err) == CNAS_OK);
    ck_assert(dvt->get(ds, CNAS_SPLIT_TRAIN, 7, img, &lab, &err) == CNAS_OK);
    ck_assert(memcmp(img, img2, sizeof img) == 0);
    ck_assert(dvt->get(ds, CNAS_SPLIT_TRAIN, 30, img, &lab, &err) != CNAS_OK);
    dvt->close(ds);
    cnas_params_free(p);
    unlink(path);
    cnas_registry_free(reg);
}
END_TEST

/* ---- the conditional GAN ----------------------------------------------------------------- */

START_TEST(test_cgan_smoke)
{
    static const char *const vars[] = {"CGAN_SO"};
    cnas_registry *reg = load(vars, 1);
    cnas_error err;
    /* 1 x 8 x 8 in [-1, 1]; class 0 bright on the left, class 1 on the right. */
    cnas_gen_shape sh = {sizeof sh, 1, 8, 8, 2, {0.5f}, {0.5f}};
    cnas_generator *gen;
    ck_assert_msg(cnas_generator_new(reg, "cgan", "channels=8, d_channels=8, learning_rate=2e-3",
                                     "test", &sh, 3, &gen, &err) == CNAS_OK, "%s", err.msg);
    const cnas_generator_vtable *vt = cnas_generator_vt(gen);
    ck_assert(CNAS_VT_HAS(vt, train_step));
    toy_source s = {.batches = 1000000, .B = 32, .D = 64, .K = 2, .pattern = 0.8f};
    cnas_rng_init(&s.rng, 6, "toy");
    cnas_graph *bg = cnas_graph_new(&err), *g = cnas_graph_new(&err);
    cnas_rng rng;
    cnas_rng_init(&rng, 2, "gan");
    int steps = getenv("CNAS_TEST_QUICK") && *getenv("CNAS_TEST_QUICK") ? 60 : 150;
    double d_first = 0, d_last = 0;
    for (int i = 0; i < steps; i++) {
        cnas_tensor *x;
        const int32_t *y;
        ck_assert_int_eq(toy_next(&s, bg, &x, &y, &err), 1);
        cnas_gen_step_args a = {sizeof a, x, y, &rng, 1.0f, false, 0, 0, 0};
        ck_assert_msg(vt->train_step(cnas_generator_self(gen), g, &a, &err) == CNAS_OK, "%s",
                      err.msg);
        ck_assert(isfinite(a.d_loss) && isfinite(a.g_loss));
        if (i < 10)
            d_first += a.d_loss / 10.0;
        if (i >= steps - 10)
            d_last += a.d_loss / 10.0;
        cnas_graph_reset(bg);
    }
    ck_assert_msg(fabs(d_first - d_last) > 0.05, "discriminator loss %g -> %g", d_first, d_last);
    /* Samples depend on the class: left-minus-right brightness has the class's sign. */
    int32_t y[64];
    for (int i = 0; i < 64; i++)
        y[i] = i % 2;
    cnas_gen_sample_args a = {sizeof a, 64, y, &rng, false};
    cnas_graph_set_grad_enabled(g, false);
    cnas_tensor *x = cnas_generator_sample(gen, g, &a);
    ck_assert(x != NULL);
    double lr[2] = {0, 0};
    for (int i = 0; i < 64; i++)
        for (int d = 0; d < 64; d++)
            lr[i % 2] += (d % 8 < 4 ? 1.0 : -1.0) * x->data[i * 64 + d] / (32.0 * 64.0);
    for (int64_t k = 0; k < x->numel; k++)
        ck_assert(x->data[k] >= -1.0001f && x->data[k] <= 1.0001f);
    ck_assert_msg(lr[0] - lr[1] > 0.1, "left-right contrast: class 0 %g, class 1 %g", lr[0], lr[1]);
    /* Exactly resumable: save, two more steps; load, the same two steps: same parameters. */
    cnas_ckpt *ck = cnas_ckpt_new(&err);
    ck_assert(vt->save(cnas_generator_self(gen), ck, "gen", &err) == CNAS_OK);
    cnas_rng rng0 = rng;
    toy_source s0 = s;
    float after[2][64];
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            ck_assert_msg(vt->load(cnas_generator_self(gen), ck, "gen", &err) == CNAS_OK, "%s",
                          err.msg);
            rng = rng0;
            s = s0;
        }
        for (int i = 0; i < 2; i++) {
            cnas_tensor *xr;
            const int32_t *yr;
            ck_assert_int_eq(toy_next(&s, bg, &xr, &yr, &err), 1);
            cnas_graph_set_grad_enabled(g, true);
            cnas_gen_step_args st = {sizeof st, xr, yr, &rng, 1.0f, false, 0, 0, 0};
            ck_assert(vt->train_step(cnas_generator_self(gen), g, &st, &err) == CNAS_OK);
            cnas_graph_reset(bg);
        }
        cnas_rng r2;
        cnas_rng_init(&r2, 4, "probe");
        cnas_graph_set_grad_enabled(g, false);
        cnas_gen_sample_args pa = {sizeof pa, 1, y, &r2, false};
        cnas_tensor *px = cnas_generator_sample(gen, g, &pa);
        ck_assert(px != NULL);
        memcpy(after[pass], px->data, sizeof after[pass]);
        cnas_graph_reset(g);
    }
    ck_assert(memcmp(after[0], after[1], sizeof after[0]) == 0);
    cnas_ckpt_free(ck);
    cnas_graph_free(g);
    cnas_graph_free(bg);
    cnas_generator_free(gen);
    cnas_registry_free(reg);
}
END_TEST

/* ---- the hypergradient on a quadratic toy -------------------------------------------------
 * L_syn(A; G) = ½‖P·A - (Q·G + c)‖² (the synthetic "data" Q·G + c are linear in G),
 * L_val(A') = ½‖A' - a*‖². With A' = A - ξ·∇_A L_syn, the one-step hypergradient is
 * dL_val/dG = -ξ·(∂²L_syn/∂G∂A)·v = ξ·Qᵀ·P·v, v = A' - a*. */

enum { NA = 3, NG = 4, NX = 5 };

typedef struct quad {
    cnas_tensor *A, *G, *P, *Q, *c;
} quad;

static cnas_tensor *quad_syn(cnas_graph *g, void *ctx)
{
    quad *q = ctx;
    cnas_tensor *pa = cnas_linear(g, q->A, q->P, NULL);
    cnas_tensor *data = cnas_add(g, cnas_linear(g, q->G, q->Q, NULL), q->c);
    cnas_tensor *d = cnas_add(g, pa, cnas_scale(g, data, -1.0f));
    return cnas_scale(g, cnas_sum(g, cnas_mul(g, d, d)), 0.5f);
}

START_TEST(test_hypergrad_quadratic)
{
    quad q = {tu_rand(CNAS_SHAPE(1, NA), 1, -1, 1), tu_rand(CNAS_SHAPE(1, NG), 2, -1, 1),
              tu_rand(CNAS_SHAPE(NX, NA), 3, -1, 1), tu_rand(CNAS_SHAPE(NX, NG), 4, -1, 1),
              tu_rand(CNAS_SHAPE(1, NX), 5, -1, 1)};
    float astar[NA] = {0.3f, -0.2f, 0.5f}, xi = 0.1f;
    cnas_error err;
    cnas_graph *g = cnas_graph_new(&err);
    /* A' = A - ξ∇_A L_syn; v = A' - a*. */
    cnas_tensor *A[1] = {q.A}, *G[1] = {q.G};
    ck_assert(cnas_grad_pass(g, quad_syn, &q, A, 1, G, 1, NULL, &err) == CNAS_OK);
    double v[NA];
    float vf[NA];
    for (int i = 0; i < NA; i++) {
        v[i] = (double)q.A->data[i] - xi * (double)q.A->grad[i] - astar[i];
        vf[i] = (float)v[i];
    }
    /* Analytic ξ·Qᵀ P v, in double. */
    double pv[NX] = {0}, want[NG] = {0};
    for (int r = 0; r < NX; r++)
        for (int i = 0; i < NA; i++)
            pv[r] += (double)q.P->data[r * NA + i] * v[i];
    for (int j = 0; j < NG; j++)
        for (int r = 0; r < NX; r++)
            want[j] += xi * (double)q.Q->data[r * NG + j] * pv[r];
    float a_before[NA];
    memcpy(a_before, q.A->data, sizeof a_before);
    float got[NG], *out[1] = {got};
    const float *vp[1] = {vf};
    float eps;
    ck_assert_msg(dasgm_hypergrad(g, quad_syn, &q, A, vp, 1, 0.01f, xi, G, 1, out, &eps, &err) ==
                      CNAS_OK, "%s", err.msg);
    ck_assert(eps > 0.0f);
    ck_assert(memcmp(a_before, q.A->data, sizeof a_before) == 0); /* A restored exactly */
    double worst = 0, scale = 0;
    for (int j = 0; j < NG; j++) {
        worst = fmax(worst, fabs(got[j] - want[j]));
        scale = fmax(scale, fabs(want[j]));
    }
    /* Exact for a quadratic up to float32 rounding of the two gradients (O(ulp/ε)). */
    ck_assert_msg(worst <= 2e-3 * scale, "FD %g vs analytic, worst error %g of %g", (double)got[0],
                  worst, scale);
    /* A zero v gives a zero hypergradient. */
    float zero[NA] = {0};
    const float *zp[1] = {zero};
    ck_assert(dasgm_hypergrad(g, quad_syn, &q, A, zp, 1, 0.01f, xi, G, 1, out, &eps, &err) ==
              CNAS_OK);
    for (int j = 0; j < NG; j++)
        ck_assert(got[j] == 0.0f);
    cnas_graph_free(g);
    cnas_tensor_free(q.A);
    cnas_tensor_free(q.G);
    cnas_tensor_free(q.P);
    cnas_tensor_free(q.Q);
    cnas_tensor_free(q.c);
}
END_TEST


/* ---- the behavioural toy (docs/dasgm.md) ------------------------------------------------
 * 2-D points, 2 classes: class 0 around (0, 0); class 1 around (2, 0) and, for 5% of its
 * points, a rare mode around (-2, 0) that no linear boundary separates from class 0. The
 * "architecture" is one mixed edge over {linear features x·U, RBF features}; first-order
 * DARTS with the architecture step on (a) a validation split of the same distribution,
 * (b) samples of the class-conditional Gaussian fitted to the training split at
 * temperature 2, which put class-1 points on both sides of class 0. Expected: (b) gives
 * the RBF op more weight. This shows the mechanism only. */

enum { TOY_N = 1000, TOY_F = 8, TOY_B = 64 };

static void toy_points(cnas_rng *r, float *x, int32_t *y, int n)
{
    for (int i = 0; i < n; i++) {
        int k = (int)cnas_rng_below(r, 2);
        float cx = k == 0 ? 0.0f : (cnas_rng_uniform(r) < 0.05f ? -2.0f : 2.0f);
        x[2 * i] = cx + 0.3f * cnas_rng_normal(r);
        x[2 * i + 1] = 0.3f * cnas_rng_normal(r);
        y[i] = k;
    }
}

/* The two ops' features of a batch: constants (no gradient reaches x in first order). */
static void toy_features(const float *x, int n, cnas_tensor *lin, cnas_tensor *rbf)
{
    static const float U[2][TOY_F] = {{0.9f, -0.4f, 0.3f, 0.7f, -0.8f, 0.2f, 0.5f, -0.6f},
                                      {0.1f, 0.8f, -0.7f, 0.4f, 0.3f, -0.9f, 0.6f, 0.2f}};
    for (int i = 0; i < n; i++)
        for (int j = 0; j < TOY_F; j++) {
            float c = -6.0f + 12.0f * (float)j / (TOY_F - 1); /* centres along the x axis */
            float dx = x[2 * i] - c, dy = x[2 * i + 1];
            lin->data[i * TOY_F + j] = x[2 * i] * U[0][j] + x[2 * i + 1] * U[1][j];
            rbf->data[i * TOY_F + j] = expf(-0.5f * (dx * dx + dy * dy));
        }
}

typedef struct toy_model {
    cnas_tensor *alpha, *w, *b, *lin, *rbf;
    const int32_t *y;
} toy_model;

static cnas_tensor *toy_loss(cnas_graph *g, void *ctx)
{
    toy_model *m = ctx;
    cnas_tensor *xs[2] = {m->lin, m->rbf};
    cnas_tensor *h = cnas_weighted_sum(g, 2, xs, cnas_softmax(g, m->alpha));
    return cnas_cross_entropy(g, cnas_linear(g, h, m->w, m->b), m->y, 0.0f);
}

/* softmax(α)[rbf] after the search; synthetic: the architecture step on generated points. */
static double toy_search(cnas_generator *gen, const float *xt, const int32_t *yt,
                         const float *xv, const int32_t *yv)
{
    cnas_error err;
    toy_model m = {0};
    m.alpha = cnas_tensor_new(CNAS_SHAPE(2), &err);
    m.w = tu_rand(CNAS_SHAPE(2, TOY_F), 11, -0.3f, 0.3f);
    m.b = cnas_tensor_new(CNAS_SHAPE(2), &err);
    m.lin = cnas_tensor_new(CNAS_SHAPE(TOY_B, TOY_F), &err);
    m.rbf = cnas_tensor_new(CNAS_SHAPE(TOY_B, TOY_F), &err);
    cnas_tensor *W[2] = {m.w, m.b}, *A[1] = {m.alpha};
    cnas_sgd_opts so = {.momentum = 0.9f};
    cnas_adam_opts ao = {.beta1 = 0.5f, .beta2 = 0.999f};
    cnas_optim *wo = cnas_sgd_new(W, 2, &so, &err), *ao_ = cnas_adam_new(A, 1, &ao, &err);
    cnas_graph *g = cnas_graph_new(&err);
    cnas_rng r;
    cnas_rng_init(&r, 3, "toy_search");
    float xb[2 * TOY_B];
    int32_t yb[TOY_B];
    for (int step = 0; step < 600; step++) {
        /* Architecture step: a validation batch, or a synthetic one. */
        if (gen) {
            for (int i = 0; i < TOY_B; i++)
                yb[i] = (int32_t)cnas_rng_below(&r, 2);
            cnas_graph_set_grad_enabled(g, false);
            cnas_gen_sample_args a = {sizeof a, TOY_B, yb, &r, false};
            cnas_tensor *xs = cnas_generator_sample(gen, g, &a);
            ck_assert(xs != NULL);
            memcpy(xb, xs->data, sizeof xb);
            cnas_graph_reset(g);
            cnas_graph_set_grad_enabled(g, true);
        } else {
            for (int i = 0; i < TOY_B; i++) {
                int k = (int)cnas_rng_below(&r, TOY_N);
                xb[2 * i] = xv[2 * k];
                xb[2 * i + 1] = xv[2 * k + 1];
                yb[i] = yv[k];
            }
        }
        toy_features(xb, TOY_B, m.lin, m.rbf);
        m.y = yb;
        ck_assert(cnas_grad_pass(g, toy_loss, &m, A, 1, W, 2, NULL, &err) == CNAS_OK);
        ck_assert(cnas_optim_step(ao_, 3e-3f, &err) == CNAS_OK);
        /* Weight step on a training batch. */
        int32_t yt_b[TOY_B];
        for (int i = 0; i < TOY_B; i++) {
            int k = (int)cnas_rng_below(&r, TOY_N);
            xb[2 * i] = xt[2 * k];
            xb[2 * i + 1] = xt[2 * k + 1];
            yt_b[i] = yt[k];
        }
        toy_features(xb, TOY_B, m.lin, m.rbf);
        m.y = yt_b;
        ck_assert(cnas_grad_pass(g, toy_loss, &m, W, 2, A, 1, NULL, &err) == CNAS_OK);
        ck_assert(cnas_optim_step(wo, 0.05f, &err) == CNAS_OK);
    }
    double p = 1.0 / (1.0 + exp((double)m.alpha->data[0] - (double)m.alpha->data[1]));
    cnas_optim_free(wo);
    cnas_optim_free(ao_);
    cnas_graph_free(g);
    cnas_tensor *all[5] = {m.alpha, m.w, m.b, m.lin, m.rbf};
    for (int i = 0; i < 5; i++)
        cnas_tensor_free(all[i]);
    return p;
}

typedef struct toy_src {
    const float *x;
    const int32_t *y;
    int done;
} toy_src;

static int toy_src_next(void *ctx, cnas_graph *g, cnas_tensor **x, const int32_t **labels,
                        cnas_error *err)
{
    (void)err;
    toy_src *s = ctx;
    if (s->done) {
        s->done = 0;
        return 0;
    }
    s->done = 1;
    cnas_tensor *t = cnas_graph_tensor(g, 4, (const int64_t[]){TOY_N, 1, 1, 2});
    memcpy(t->data, s->x, sizeof(float) * 2 * TOY_N);
    *x = t;
    *labels = s->y;
    return 1;
}

START_TEST(test_rare_mode_toy)
{
    static const char *const vars[] = {"GAUSSIAN_GEN_SO"};
    cnas_registry *reg = load(vars, 1);
    cnas_error err;
    static float xt[2 * TOY_N], xv[2 * TOY_N];
    static int32_t yt[TOY_N], yv[TOY_N];
    cnas_rng r;
    cnas_rng_init(&r, 1, "toy_data");
    toy_points(&r, xt, yt, TOY_N);
    toy_points(&r, xv, yv, TOY_N);
    cnas_gen_shape sh = {sizeof sh, 1, 1, 2, 2, {0.0f}, {1.0f}};
    cnas_generator *gen;
    ck_assert_msg(cnas_generator_new(reg, "gaussian_gen", "temperature=2", "toy", &sh, 1, &gen,
                                     &err) == CNAS_OK, "%s", err.msg);
    toy_src ts = {xt, yt, 0};
    cnas_gen_source src = {sizeof src, toy_src_next, &ts};
    ck_assert(cnas_generator_vt(gen)->fit(cnas_generator_self(gen), &src, &r, &err) == CNAS_OK);
    double p_val = toy_search(NULL, xt, yt, xv, yv);
    double p_syn = toy_search(gen, xt, yt, xv, yv);
    fprintf(stderr, "rare-mode toy: softmax(alpha)[rbf] %.4f with a same-distribution "
            "validation split, %.4f with synthetic data\n", p_val, p_syn);
    ck_assert_msg(p_syn > p_val, "rbf weight: synthetic %g, validation %g", p_syn, p_val);
    cnas_generator_free(gen);
    cnas_registry_free(reg);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("generators");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_gauss_sample_grad);
    tcase_add_test(tc, test_gauss_nll_grad);
    tcase_add_test(tc, test_gaussian_fit_file);
    tcase_add_test(tc, test_hypergrad_quadratic);
    tcase_add_test(tc, test_cgan_smoke);
    tcase_add_test(tc, test_rare_mode_toy);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
