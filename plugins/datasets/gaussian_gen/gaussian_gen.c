/* The class-conditional Gaussian generator: per class a mean and a diagonal standard
 * deviation over the (normalised) pixels, fitted by maximum likelihood on the training
 * split, sampled with a temperature T as x = μ_y + T·σ_y·ε, ε ~ N(0, I). The sample is
 * reparameterised on the tape, so gradients reach μ and log σ (DASGM's `hyper` mode);
 * its own objective (train_step) is the Gaussian negative log-likelihood of a real
 * batch. T > 1 widens the distribution: the "different distribution" of DASGM's
 * synthetic data in its cheapest form (docs/generators.md, docs/dasgm.md). */
#include <cnas/cnas.h>
#include <cnas/ckio.h>
#include <cnas/generator.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gaussian_kernels.h"

typedef struct gauss {
    cnas_gen_shape shape;
    int64_t K, D;
    float temperature, min_std, lr;
    cnas_tensor *mu, *log_sigma;   /* [K, D] */
    cnas_optim *opt;               /* Adam, for train_step */
    int64_t fitted;
} gauss;

static void gauss_destroy(void *self)
{
    gauss *m = self;
    if (!m)
        return;
    cnas_optim_free(m->opt);
    cnas_tensor_free(m->mu);
    cnas_tensor_free(m->log_sigma);
    free(m);
}

static cnas_status gauss_create(const cnas_params *p, const cnas_gen_shape *shape, uint64_t seed,
                                void **self, cnas_error *err)
{
    (void)seed;
    gauss *m = calloc(1, sizeof *m);
    if (!m)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "gaussian_gen: out of memory");
    m->shape = *shape;
    m->K = shape->num_classes;
    m->D = (int64_t)shape->channels * shape->height * shape->width;
    m->temperature = (float)cnas_params_float(p, "temperature");
    m->min_std = (float)cnas_params_float(p, "min_std");
    m->lr = (float)cnas_params_float(p, "learning_rate");
    if (!(m->mu = cnas_tensor_new(CNAS_SHAPE(m->K, m->D), err)) ||
        !(m->log_sigma = cnas_tensor_new(CNAS_SHAPE(m->K, m->D), err))) {
        gauss_destroy(m);
        return err->code;
    }
    cnas_tensor_set_name(m->mu, "mu");
    cnas_tensor_set_name(m->log_sigma, "log_sigma");
    cnas_tensor *ps[2] = {m->mu, m->log_sigma};
    cnas_adam_opts ao = {.beta1 = (float)cnas_params_float(p, "beta1"),
                         .beta2 = (float)cnas_params_float(p, "beta2"), .eps = 1e-8f};
    if (!(m->opt = cnas_adam_new(ps, 2, &ao, err))) {
        gauss_destroy(m);
        return err->code;
    }
    *self = m;
    return CNAS_OK;
}

static cnas_tensor *gauss_sample(void *self, cnas_graph *g, const cnas_gen_sample_args *a)
{
    gauss *m = self;
    const cnas_gen_shape *s = &m->shape;
    return cnas_gauss_sample(g, cnas_graph_param(g, m->mu), cnas_graph_param(g, m->log_sigma),
                             a->labels, a->n, m->temperature, a->rng,
                             (const int64_t[]){a->n, s->channels, s->height, s->width});
}

/* Maximum likelihood in one pass: per-class sums in double. */
static cnas_status gauss_fit(void *self, const cnas_gen_source *src, cnas_rng *rng,
                             cnas_error *err)
{
    (void)rng;
    gauss *m = self;
    int64_t K = m->K, D = m->D;
    double *sum = calloc((size_t)(K * D), sizeof *sum);
    double *sq = calloc((size_t)(K * D), sizeof *sq);
    int64_t *count = calloc((size_t)K, sizeof *count);
    cnas_graph *g = cnas_graph_new(err);
    cnas_status st = CNAS_OK;
    if (!sum || !sq || !count || !g) {
        st = g ? cnas_error_set(err, CNAS_ERR_NOMEM, "gaussian_gen: out of memory") : err->code;
        goto out;
    }
    for (;;) {
        cnas_tensor *x;
        const int32_t *y;
        int r = src->next(src->ctx, g, &x, &y, err);
        if (r < 0) {
            st = err->code;
            goto out;
        }
        if (r == 0)
            break;
        if (x->numel != x->shape[0] * D) {
            st = cnas_error_set(err, CNAS_ERR_SHAPE, "gaussian_gen: a batch of %lld values per "
                                "image, expected %lld", (long long)(x->numel / x->shape[0]),
                                (long long)D);
            goto out;
        }
        for (int64_t i = 0; i < x->shape[0]; i++) {
            int32_t k = y[i];
            if (k < 0 || k >= K) {
                st = cnas_error_set(err, CNAS_ERR_INVALID, "gaussian_gen: label %d outside "
                                    "[0, %lld)", k, (long long)K);
                goto out;
            }
            count[k]++;
            const float *xi = x->data + i * D;
            for (int64_t d = 0; d < D; d++) {
                sum[k * D + d] += xi[d];
                sq[k * D + d] += (double)xi[d] * xi[d];
            }
        }
        cnas_graph_reset(g);
    }
    double floor_var = (double)m->min_std * m->min_std;
    for (int64_t k = 0; k < K; k++)
        for (int64_t d = 0; d < D; d++) {
            double mean = count[k] ? sum[k * D + d] / (double)count[k] : 0.0;
            double var = count[k] ? sq[k * D + d] / (double)count[k] - mean * mean : 1.0;
            if (var < floor_var)
                var = floor_var;
            m->mu->data[k * D + d] = (float)mean;
            m->log_sigma->data[k * D + d] = (float)(0.5 * log(var));
        }
    m->fitted = 1;
out:
    cnas_graph_free(g);
    free(sum);
    free(sq);
    free(count);
    return st;
}

typedef struct nll_ctx {
    gauss *m;
    cnas_tensor *x;
    const int32_t *y;
} nll_ctx;

static cnas_tensor *nll_loss(cnas_graph *g, void *vctx)
{
    nll_ctx *c = vctx;
    return cnas_gauss_nll(g, c->x, cnas_graph_param(g, c->m->mu),
                          cnas_graph_param(g, c->m->log_sigma), c->y);
}

/* One Adam step on caller's gradient + γ·∇NLL(real batch). */
static cnas_status gauss_train_step(void *self, cnas_graph *g, cnas_gen_step_args *a,
                                    cnas_error *err)
{
    gauss *m = self;
    cnas_tensor *ps[2] = {m->mu, m->log_sigma};
    size_t bytes = cnas_tensor_bytes(m->mu);
    float *keep[2] = {NULL, NULL};
    if (a->add_to_grad)
        for (int i = 0; i < 2; i++) {
            keep[i] = malloc(bytes);
            if (!keep[i]) {
                free(keep[0]);
                return cnas_error_set(err, CNAS_ERR_NOMEM, "gaussian_gen: out of memory");
            }
            if (ps[i]->grad)
                memcpy(keep[i], ps[i]->grad, bytes);
            else
                memset(keep[i], 0, bytes);
        }
    nll_ctx c = {m, a->x, a->labels};
    cnas_status st = cnas_grad_pass(g, nll_loss, &c, ps, 2, NULL, 0, &a->g_loss, err);
    a->d_loss = NAN;
    for (int i = 0; !st && i < 2; i++) {
        float *gr = ps[i]->grad;
        for (int64_t k = 0; k < ps[i]->numel; k++)
            gr[k] = (keep[i] ? keep[i][k] : 0.0f) + a->weight * gr[k];
    }
    free(keep[0]);
    free(keep[1]);
    if (!st)
        st = cnas_optim_step(m->opt, m->lr, err);
    /* The standard deviation stays above its floor. */
    float lo = logf(m->min_std);
    for (int64_t k = 0; !st && k < m->log_sigma->numel; k++)
        if (m->log_sigma->data[k] < lo)
            m->log_sigma->data[k] = lo;
    return st;
}

static cnas_status gauss_io(gauss *m, cnas_ckio *io, const char *prefix)
{
    char name[160];
    snprintf(name, sizeof name, "%s.mu", prefix);
    cnas_ckio_tensor(io, name, m->mu);
    snprintf(name, sizeof name, "%s.log_sigma", prefix);
    cnas_ckio_tensor(io, name, m->log_sigma);
    snprintf(name, sizeof name, "%s.fitted", prefix);
    cnas_ckio_i64(io, name, &m->fitted);
    snprintf(name, sizeof name, "%s.opt", prefix);
    return cnas_ckio_optim(io, name, m->opt);
}

static cnas_status gauss_save(void *self, cnas_ckpt *ck, const char *prefix, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_put(ck, err);
    return gauss_io(self, &io, prefix);
}

static cnas_status gauss_load(void *self, const cnas_ckpt *ck, const char *prefix,
                              cnas_error *err)
{
    cnas_ckio io = cnas_ckio_get(ck, err);
    return gauss_io(self, &io, prefix);
}

static int gauss_tensors(void *self, cnas_named_tensor *out, int max)
{
    gauss *m = self;
    cnas_named_tensor t[2] = {{"mu", m->mu, CNAS_ROLE_PARAM},
                              {"log_sigma", m->log_sigma, CNAS_ROLE_PARAM}};
    for (int i = 0; i < 2 && i < max; i++)
        out[i] = t[i];
    return 2;
}

static const cnas_param_spec gauss_keys[] = {
    CNAS_PARAM_SPEC_FLOAT("temperature", "2", 0, 100,
                          "sampling temperature T: x = mu + T*sigma*eps (1: the fitted "
                          "distribution; > 1 wider)"),
    CNAS_PARAM_SPEC_FLOAT("min_std", "1e-3", 1e-8, 10,
                          "floor of every standard deviation (constant pixels)"),
    CNAS_PARAM_SPEC_FLOAT("learning_rate", "2e-4", 0, 10,
                          "Adam learning rate of train_step (DASGM gan / hyper modes)"),
    CNAS_PARAM_SPEC_FLOAT("beta1", "0", 0, 0.9999, "Adam beta1"),
    CNAS_PARAM_SPEC_FLOAT("beta2", "0.999", 0, 0.9999, "Adam beta2"),
};

static const cnas_generator_vtable gauss_vt = {
    sizeof(cnas_generator_vtable), gauss_create, gauss_destroy, gauss_sample, gauss_fit,
    gauss_save, gauss_load, gauss_tensors, gauss_train_step,
};

static const cnas_component gauss_components[] = {
    CNAS_COMPONENT(CNAS_KIND_GENERATOR, "gaussian_gen",
                   "class-conditional Gaussian (per-class mean, diagonal variance), sampled "
                   "with a temperature",
                   gauss_keys, &gauss_vt),
};

CNAS_PLUGIN("gaussian_gen", "0.1.0", "Class-conditional Gaussian image generator", "MIT",
            gauss_components, NULL)
