/* An out-of-tree generator plugin (ABI 1.2): per class the mean image of the training
 * split, plus uniform noise of a chosen amplitude. Built with the core kernels only, so a
 * sample is on the tape and gradients reach the means (docs/generators.md). */
#include <cnas/cnas.h>
#include <cnas/ckio.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct mean_gen {
    cnas_gen_shape shape;
    int64_t D;
    float noise;
    cnas_tensor *means;      /* [D, K]: column k is class k's mean image */
} mean_gen;

static void mg_destroy(void *self)
{
    mean_gen *m = self;
    if (m)
        cnas_tensor_free(m->means);
    free(m);
}

static cnas_status mg_create(const cnas_params *p, const cnas_gen_shape *shape, uint64_t seed,
                             void **self, cnas_error *err)
{
    (void)seed;
    mean_gen *m = calloc(1, sizeof *m);
    if (!m)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "mean_gen: out of memory");
    m->shape = *shape;
    m->D = (int64_t)shape->channels * shape->height * shape->width;
    m->noise = (float)cnas_params_float(p, "noise");
    if (!(m->means = cnas_tensor_new(CNAS_SHAPE(m->D, shape->num_classes), err))) {
        mg_destroy(m);
        return err->code;
    }
    *self = m;
    return CNAS_OK;
}

/* x = means · onehot(y) + noise·U(-1, 1): the class means picked by a linear map. */
static cnas_tensor *mg_sample(void *self, cnas_graph *g, const cnas_gen_sample_args *a)
{
    mean_gen *m = self;
    int64_t K = m->shape.num_classes;
    cnas_tensor *onehot = cnas_graph_zeros(g, 2, (const int64_t[]){a->n, K});
    cnas_tensor *u = cnas_graph_tensor(g, 2, (const int64_t[]){a->n, m->D});
    if (!onehot || !u)
        return NULL;
    for (int64_t i = 0; i < a->n; i++) {
        if (a->labels[i] < 0 || a->labels[i] >= K)
            return cnas_graph_fail(g, CNAS_ERR_INVALID, "mean_gen: label %d", a->labels[i]);
        onehot->data[i * K + a->labels[i]] = 1.0f;
    }
    for (int64_t k = 0; k < u->numel; k++)
        u->data[k] = m->noise * (2.0f * cnas_rng_uniform(a->rng) - 1.0f);
    cnas_tensor *x = cnas_add(g, cnas_linear(g, onehot, cnas_graph_param(g, m->means), NULL), u);
    return cnas_reshape(g, x, 4, (const int64_t[]){a->n, m->shape.channels, m->shape.height,
                                                   m->shape.width});
}

static cnas_status mg_fit(void *self, const cnas_gen_source *src, cnas_rng *rng, cnas_error *err)
{
    (void)rng;
    mean_gen *m = self;
    int64_t K = m->shape.num_classes, D = m->D;
    double *sum = calloc((size_t)(K * D), sizeof *sum);
    int64_t *count = calloc((size_t)K, sizeof *count);
    cnas_graph *g = cnas_graph_new(err);
    cnas_status st = CNAS_OK;
    if (!sum || !count || !g) {
        st = g ? cnas_error_set(err, CNAS_ERR_NOMEM, "mean_gen: out of memory") : err->code;
    } else {
        cnas_tensor *x;
        const int32_t *y;
        int r;
        while ((r = src->next(src->ctx, g, &x, &y, err)) > 0) {
            for (int64_t i = 0; i < x->shape[0]; i++) {
                count[y[i]]++;
                for (int64_t d = 0; d < D; d++)
                    sum[y[i] * D + d] += x->data[i * D + d];
            }
            cnas_graph_reset(g);
        }
        if (r < 0)
            st = err->code;
        for (int64_t k = 0; !st && k < K; k++)
            for (int64_t d = 0; d < D; d++)
                m->means->data[d * K + k] = count[k] ? (float)(sum[k * D + d] / count[k]) : 0.0f;
    }
    cnas_graph_free(g);
    free(sum);
    free(count);
    return st;
}

static cnas_status mg_io(mean_gen *m, cnas_ckio *io, const char *prefix)
{
    char name[160];
    snprintf(name, sizeof name, "%s.means", prefix);
    return cnas_ckio_tensor(io, name, m->means);
}

static cnas_status mg_save(void *self, cnas_ckpt *ck, const char *prefix, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_put(ck, err);
    return mg_io(self, &io, prefix);
}

static cnas_status mg_load(void *self, const cnas_ckpt *ck, const char *prefix, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_get(ck, err);
    return mg_io(self, &io, prefix);
}

static int mg_tensors(void *self, cnas_named_tensor *out, int max)
{
    mean_gen *m = self;
    if (max > 0)
        out[0] = (cnas_named_tensor){"means", m->means, CNAS_ROLE_PARAM};
    return 1;
}

static const cnas_param_spec mg_keys[] = {
    CNAS_PARAM_SPEC_FLOAT("noise", "0.5", 0, 100, "amplitude of the uniform noise added"),
};

static const cnas_generator_vtable mg_vt = {
    sizeof(cnas_generator_vtable), mg_create, mg_destroy, mg_sample, mg_fit,
    mg_save, mg_load, mg_tensors, NULL, /* no train_step: DASGM's frozen mode only */
};

static const cnas_component mg_components[] = {
    CNAS_COMPONENT(CNAS_KIND_GENERATOR, "mean_gen", "class mean images plus uniform noise",
                   mg_keys, &mg_vt),
};

CNAS_PLUGIN("mean_gen", "1.0.0", "An example generator: class means plus noise", "MIT",
            mg_components, NULL)
