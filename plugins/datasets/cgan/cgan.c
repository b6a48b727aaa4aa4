/* A small class-conditional GAN sized to the dataset (docs/generators.md).
 *
 * Generator: z ⊕ embed(y) → linear → [upsample ×2, conv 3×3, BN, ReLU] × 2 → conv 3×3 →
 * tanh, mapped per channel onto the normalised range of pixels in [0, 1] (the space
 * the classifier sees). Discriminator with a projection head (Miyato & Koyama 2018):
 * conv 3×3 stride 2, ReLU, conv 3×3 stride 2, ReLU, global average pool → h;
 * D(x, y) = w·h + b + embed_D(y)·h. Hinge loss; Adam with BigGAN's betas (0, 0.999).
 * Spectral normalisation is left out (the networks are tiny). Label embeddings are
 * linear maps of one-hot codes, so they need no dedicated kernel. */
#include <cnas/cnas.h>
#include <cnas/ckio.h>
#include <cnas/dist.h>
#include <cnas/generator.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { G_EMB, G_FC_W, G_FC_B, G_C1, G_BN1_G, G_BN1_B, G_C2, G_BN2_G, G_BN2_B, G_C3_W, G_C3_B,
       G_BN1_M, G_BN1_V, G_BN2_M, G_BN2_V, G_COUNT, G_PARAMS = G_BN1_M };
enum { D_C1_W, D_C1_B, D_C2_W, D_C2_B, D_LIN_W, D_LIN_B, D_EMB, D_COUNT };

static const char *const g_names[G_COUNT] = {
    "g.embed", "g.fc.weight", "g.fc.bias", "g.conv1.weight", "g.bn1.weight", "g.bn1.bias",
    "g.conv2.weight", "g.bn2.weight", "g.bn2.bias", "g.conv3.weight", "g.conv3.bias",
    "g.bn1.running_mean", "g.bn1.running_var", "g.bn2.running_mean", "g.bn2.running_var"};
static const char *const d_names[D_COUNT] = {"d.conv1.weight", "d.conv1.bias", "d.conv2.weight",
                                             "d.conv2.bias", "d.linear.weight", "d.linear.bias",
                                             "d.embed"};

typedef struct cgan {
    cnas_gen_shape shape;
    int64_t Z, E, ch, dch, h0, w0, fit_epochs;
    float lr;
    float out_scale[4], out_shift[4];   /* tanh → the normalised pixel range */
    cnas_tensor *gt[G_COUNT], *dt[D_COUNT];
    cnas_optim *g_opt, *d_opt;
    int64_t steps;
} cgan;

static void cgan_destroy(void *self)
{
    cgan *m = self;
    if (!m)
        return;
    cnas_optim_free(m->g_opt);
    cnas_optim_free(m->d_opt);
    for (int i = 0; i < G_COUNT; i++)
        cnas_tensor_free(m->gt[i]);
    for (int i = 0; i < D_COUNT; i++)
        cnas_tensor_free(m->dt[i]);
    free(m);
}

static cnas_tensor *new_t(int ndim, const int64_t *shape, const char *name, cnas_error *err)
{
    cnas_tensor *t = cnas_tensor_new(ndim, shape, err);
    if (t)
        cnas_tensor_set_name(t, name);
    return t;
}

static cnas_status cgan_create(const cnas_params *p, const cnas_gen_shape *s, uint64_t seed,
                               void **self, cnas_error *err)
{
    if (s->height % 4 || s->width % 4)
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "cgan: images of %d x %d; the generator "
                              "upsamples twice, so height and width must be multiples of 4",
                              s->height, s->width);
    cgan *m = calloc(1, sizeof *m);
    if (!m)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "cgan: out of memory");
    m->shape = *s;
    m->Z = cnas_params_int(p, "noise_dim");
    m->E = cnas_params_int(p, "embed_dim");
    m->ch = cnas_params_int(p, "channels");
    m->dch = cnas_params_int(p, "d_channels");
    m->fit_epochs = cnas_params_int(p, "fit_epochs");
    m->lr = (float)cnas_params_float(p, "learning_rate");
    m->h0 = s->height / 4;
    m->w0 = s->width / 4;
    for (int c = 0; c < s->channels; c++) {
        float lo = (0.0f - s->mean[c]) / s->std[c], hi = (1.0f - s->mean[c]) / s->std[c];
        m->out_scale[c] = 0.5f * (hi - lo);
        m->out_shift[c] = 0.5f * (hi + lo);
    }
    int64_t K = s->num_classes, C = s->channels, ch = m->ch, ch2 = m->ch / 2, dc = m->dch;
    const int64_t gshape[G_COUNT][4] = {
        {m->E, K}, {ch * m->h0 * m->w0, m->Z + m->E}, {ch * m->h0 * m->w0}, {ch, ch, 3, 3},
        {ch}, {ch}, {ch2, ch, 3, 3}, {ch2}, {ch2}, {C, ch2, 3, 3}, {C}, {ch}, {ch}, {ch2}, {ch2}};
    const int gdims[G_COUNT] = {2, 2, 1, 4, 1, 1, 4, 1, 1, 4, 1, 1, 1, 1, 1};
    const int64_t dshape[D_COUNT][4] = {{dc, C, 3, 3}, {dc}, {2 * dc, dc, 3, 3}, {2 * dc},
                                        {1, 2 * dc}, {1}, {2 * dc, K}};
    const int ddims[D_COUNT] = {4, 1, 4, 1, 2, 1, 2};
    for (int i = 0; i < G_COUNT; i++)
        if (!(m->gt[i] = new_t(gdims[i], gshape[i], g_names[i], err)))
            goto fail;
    for (int i = 0; i < D_COUNT; i++)
        if (!(m->dt[i] = new_t(ddims[i], dshape[i], d_names[i], err)))
            goto fail;
    /* PyTorch's defaults; embeddings N(0, 1) as nn.Embedding. */
    cnas_rng rng;
    cnas_rng_init(&rng, seed, "cgan_init");
    cnas_rng_fill_normal(&rng, m->gt[G_EMB]->data, m->gt[G_EMB]->numel, 0.0f, 1.0f);
    const int gw[] = {G_FC_W, G_C1, G_C2, G_C3_W};
    for (size_t i = 0; i < sizeof gw / sizeof gw[0]; i++)
        cnas_init_default_weight(m->gt[gw[i]], &rng);
    cnas_init_default_bias(m->gt[G_FC_B], m->Z + m->E, &rng);
    cnas_init_default_bias(m->gt[G_C3_B], ch2 * 9, &rng);
    cnas_tensor_fill(m->gt[G_BN1_G], 1.0f);
    cnas_tensor_fill(m->gt[G_BN2_G], 1.0f);
    cnas_tensor_fill(m->gt[G_BN1_V], 1.0f);
    cnas_tensor_fill(m->gt[G_BN2_V], 1.0f);
    cnas_init_default_weight(m->dt[D_C1_W], &rng);
    cnas_init_default_bias(m->dt[D_C1_B], C * 9, &rng);
    cnas_init_default_weight(m->dt[D_C2_W], &rng);
    cnas_init_default_bias(m->dt[D_C2_B], dc * 9, &rng);
    cnas_init_default_weight(m->dt[D_LIN_W], &rng);
    cnas_init_default_bias(m->dt[D_LIN_B], 2 * dc, &rng);
    cnas_rng_fill_normal(&rng, m->dt[D_EMB]->data, m->dt[D_EMB]->numel, 0.0f, 0.1f);
    cnas_adam_opts ao = {.beta1 = (float)cnas_params_float(p, "beta1"),
                         .beta2 = (float)cnas_params_float(p, "beta2"), .eps = 1e-8f};
    if (!(m->g_opt = cnas_adam_new(m->gt, G_PARAMS, &ao, err)) ||
        !(m->d_opt = cnas_adam_new(m->dt, D_COUNT, &ao, err)))
        goto fail;
    *self = m;
    return CNAS_OK;
fail:
    cgan_destroy(m);
    return err->code;
}

/* One-hot codes [n, K] (no gradient). */
static cnas_tensor *one_hot(cnas_graph *g, const int32_t *y, int64_t n, int64_t K)
{
    cnas_tensor *t = cnas_graph_zeros(g, 2, (const int64_t[]){n, K});
    if (!t)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= K)
            return cnas_graph_fail(g, CNAS_ERR_INVALID, "cgan: label %d outside [0, %lld)", y[i],
                                   (long long)K);
        t->data[i * K + y[i]] = 1.0f;
    }
    return t;
}

static cnas_tensor *const_like(cnas_graph *g, int ndim, const int64_t *shape, float v)
{
    cnas_tensor *t = cnas_graph_tensor(g, ndim, shape);
    if (t)
        for (int64_t k = 0; k < t->numel; k++)
            t->data[k] = v;
    return t;
}

static cnas_tensor *generate(cgan *m, cnas_graph *g, const int32_t *y, int64_t n, cnas_rng *rng,
                             bool training)
{
    const cnas_gen_shape *s = &m->shape;
    cnas_tensor *z = cnas_graph_tensor(g, 2, (const int64_t[]){n, m->Z});
    if (!z)
        return NULL;
    for (int64_t k = 0; k < z->numel; k++)
        z->data[k] = cnas_rng_normal(rng);
    cnas_tensor **t = m->gt;
    cnas_tensor *emb = cnas_linear(g, one_hot(g, y, n, s->num_classes), t[G_EMB], NULL);
    cnas_tensor *zin[2] = {z, emb};
    cnas_tensor *h = cnas_linear(g, cnas_concat(g, 2, zin), t[G_FC_W], t[G_FC_B]);
    h = cnas_reshape(g, h, 4, (const int64_t[]){n, m->ch, m->h0, m->w0});
    cnas_conv2d_params cp = {.pad_h = 1, .pad_w = 1};
    cnas_batch_norm_params bp = {.training = training};
    h = cnas_conv2d(g, cnas_upsample_nearest(g, h, 2), t[G_C1], NULL, &cp);
    h = cnas_relu(g, cnas_batch_norm(g, h, t[G_BN1_G], t[G_BN1_B], t[G_BN1_M], t[G_BN1_V], &bp));
    h = cnas_conv2d(g, cnas_upsample_nearest(g, h, 2), t[G_C2], NULL, &cp);
    h = cnas_relu(g, cnas_batch_norm(g, h, t[G_BN2_G], t[G_BN2_B], t[G_BN2_M], t[G_BN2_V], &bp));
    h = cnas_tanh(g, cnas_conv2d(g, h, t[G_C3_W], t[G_C3_B], &cp));
    if (!h)
        return NULL;
    /* Per channel: [-1, 1] → [(0 - mean) / std, (1 - mean) / std]. */
    cnas_tensor *sc = cnas_graph_tensor_like(g, h), *sh = cnas_graph_tensor_like(g, h);
    if (!sc || !sh)
        return NULL;
    int64_t hw = (int64_t)s->height * s->width;
    for (int64_t i = 0; i < h->numel; i++) {
        int c = (int)((i / hw) % s->channels);
        sc->data[i] = m->out_scale[c];
        sh->data[i] = m->out_shift[c];
    }
    return cnas_add(g, cnas_mul(g, h, sc), sh);
}

static cnas_tensor *cgan_sample(void *self, cnas_graph *g, const cnas_gen_sample_args *a)
{
    return generate(self, g, a->labels, a->n, a->rng, a->training);
}

/* D(x, y) [n, 1]: linear head + projection of the label embedding onto the features. */
static cnas_tensor *discriminate(cgan *m, cnas_graph *g, cnas_tensor *x, const int32_t *y)
{
    int64_t n = x->shape[0], F = 2 * m->dch;
    cnas_tensor **t = m->dt;
    cnas_conv2d_params cp = {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
    cnas_tensor *h = cnas_relu(g, cnas_conv2d(g, x, t[D_C1_W], t[D_C1_B], &cp));
    h = cnas_global_avg_pool(g, cnas_relu(g, cnas_conv2d(g, h, t[D_C2_W], t[D_C2_B], &cp)));
    cnas_tensor *lin = cnas_linear(g, h, t[D_LIN_W], t[D_LIN_B]);
    cnas_tensor *ey = cnas_linear(g, one_hot(g, y, n, m->shape.num_classes), t[D_EMB], NULL);
    cnas_tensor *ones = const_like(g, 2, (const int64_t[]){1, F}, 1.0f);
    cnas_tensor *proj = cnas_linear(g, cnas_mul(g, h, ey), ones, NULL);
    return cnas_add(g, lin, proj);
}

/* mean(relu(1 + sign·d)). */
static cnas_tensor *hinge(cnas_graph *g, cnas_tensor *d, float sign)
{
    if (!d)
        return NULL;
    cnas_tensor *one = const_like(g, d->ndim, d->shape, 1.0f);
    return cnas_mean(g, cnas_relu(g, cnas_add(g, one, cnas_scale(g, d, sign))));
}

typedef struct step_ctx {
    cgan *m;
    cnas_tensor *x;
    const int32_t *y;
    int64_t n;
    int32_t *fake_y;
    cnas_rng noise;       /* a copy: the pass draws the same z every time it runs */
} step_ctx;

static cnas_tensor *d_loss_fn(cnas_graph *g, void *vctx)
{
    step_ctx *c = vctx;
    cnas_rng r = c->noise;
    cnas_tensor *fake = generate(c->m, g, c->fake_y, c->n, &r, true);
    cnas_tensor *real_term = hinge(g, discriminate(c->m, g, c->x, c->y), -1.0f);
    cnas_tensor *fake_term = fake ? hinge(g, discriminate(c->m, g, fake, c->fake_y), 1.0f) : NULL;
    return cnas_add(g, real_term, fake_term);
}

static cnas_tensor *g_loss_fn(cnas_graph *g, void *vctx)
{
    step_ctx *c = vctx;
    cnas_rng r = c->noise;
    cnas_tensor *fake = generate(c->m, g, c->fake_y, c->n, &r, true);
    cnas_tensor *d = fake ? discriminate(c->m, g, fake, c->fake_y) : NULL;
    return cnas_scale(g, cnas_mean(g, d), -1.0f);
}

static cnas_status cgan_train_step(void *self, cnas_graph *g, cnas_gen_step_args *a,
                                   cnas_error *err)
{
    cgan *m = self;
    /* The fake batches: the global batch's size, whole on every rank under MPI, so the
     * reduced gradients are those of one process (docs/distributed.md). */
    bool has_rows = a->size >= offsetof(cnas_gen_step_args, rows) + sizeof a->rows;
    int64_t n = has_rows && a->rows > 0 ? a->rows : a->x->shape[0];
    int32_t *fy = malloc((size_t)n * sizeof *fy);
    float *keep = NULL;
    size_t total = 0;
    for (int i = 0; i < G_PARAMS; i++)
        total += (size_t)m->gt[i]->numel;
    if (!fy || (a->add_to_grad && !(keep = calloc(total, sizeof *keep)))) {
        free(fy);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "cgan: out of memory");
    }
    if (keep)
        for (int i = 0, off = 0; i < G_PARAMS; off += (int)m->gt[i]->numel, i++)
            if (m->gt[i]->grad)
                memcpy(keep + off, m->gt[i]->grad, cnas_tensor_bytes(m->gt[i]));
    step_ctx c = {.m = m, .x = a->x, .y = a->labels, .n = n, .fake_y = fy};
    /* The generator's batch norm sees only fakes, which every rank holds whole: its own
     * statistics are the global batch's (synchronised, the duplicates would count N
     * times in the running variance's n/(n-1)). D has no batch norm, so its real rows
     * need no synchronisation either. */
    bool synced = cnas_dist_sync_batch_stats(false);
    /* Discriminator: real batch against a fake one of uniformly drawn classes. */
    for (int64_t i = 0; i < n; i++)
        fy[i] = (int32_t)cnas_rng_below(a->rng, (uint32_t)m->shape.num_classes);
    c.noise = *a->rng;
    for (int64_t k = 0; k < n * m->Z; k++)
        cnas_rng_normal(a->rng);
    cnas_status st = cnas_grad_pass(g, d_loss_fn, &c, m->dt, D_COUNT, m->gt, G_PARAMS,
                                    &a->d_loss, err);
    if (!st)
        st = cnas_optim_step(m->d_opt, m->lr, err);
    /* Generator: a fresh fake batch against the updated discriminator. */
    if (!st) {
        for (int64_t i = 0; i < n; i++)
            fy[i] = (int32_t)cnas_rng_below(a->rng, (uint32_t)m->shape.num_classes);
        c.noise = *a->rng;
        for (int64_t k = 0; k < n * m->Z; k++)
            cnas_rng_normal(a->rng);
        st = cnas_grad_pass(g, g_loss_fn, &c, m->gt, G_PARAMS, m->dt, D_COUNT, &a->g_loss, err);
    }
    if (!st) {
        size_t off = 0;
        for (int i = 0; i < G_PARAMS; off += (size_t)m->gt[i]->numel, i++) {
            float *gr = cnas_tensor_grad_buffer(m->gt[i]);
            if (!gr) {
                st = cnas_error_set(err, CNAS_ERR_NOMEM, "cgan: out of memory");
                break;
            }
            for (int64_t k = 0; k < m->gt[i]->numel; k++)
                gr[k] = (keep ? keep[off + (size_t)k] : 0.0f) + a->weight * gr[k];
        }
    }
    if (!st)
        st = cnas_optim_step(m->g_opt, m->lr, err);
    if (!st)
        m->steps++;
    cnas_dist_sync_batch_stats(synced);
    free(fy);
    free(keep);
    return st;
}

static cnas_status cgan_fit(void *self, const cnas_gen_source *src, cnas_rng *rng,
                            cnas_error *err)
{
    cgan *m = self;
    cnas_graph *bg = cnas_graph_new(err), *g = bg ? cnas_graph_new(err) : NULL;
    cnas_status st = g ? CNAS_OK : err->code;
    for (int64_t e = 0; !st && e < m->fit_epochs; e++) {
        for (;;) {
            cnas_tensor *x;
            const int32_t *y;
            int r = src->next(src->ctx, bg, &x, &y, err);
            if (r < 0)
                st = err->code;
            if (r <= 0)
                break;
            cnas_gen_step_args a = {sizeof a, x, y, rng, 1.0f, false, 0, 0, 0};
            st = cgan_train_step(m, g, &a, err);
            cnas_graph_reset(bg);
            if (st)
                break;
        }
    }
    cnas_graph_free(g);
    cnas_graph_free(bg);
    return st;
}

static cnas_status cgan_io(cgan *m, cnas_ckio *io, const char *prefix)
{
    char name[192];
    for (int i = 0; i < G_COUNT; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, g_names[i]);
        cnas_ckio_tensor(io, name, m->gt[i]);
    }
    for (int i = 0; i < D_COUNT; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, d_names[i]);
        cnas_ckio_tensor(io, name, m->dt[i]);
    }
    snprintf(name, sizeof name, "%s.g_opt", prefix);
    cnas_ckio_optim(io, name, m->g_opt);
    snprintf(name, sizeof name, "%s.d_opt", prefix);
    cnas_ckio_optim(io, name, m->d_opt);
    snprintf(name, sizeof name, "%s.steps", prefix);
    return cnas_ckio_i64(io, name, &m->steps);
}

static cnas_status cgan_save(void *self, cnas_ckpt *ck, const char *prefix, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_put(ck, err);
    return cgan_io(self, &io, prefix);
}

static cnas_status cgan_load(void *self, const cnas_ckpt *ck, const char *prefix, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_get(ck, err);
    return cgan_io(self, &io, prefix);
}

static int cgan_tensors(void *self, cnas_named_tensor *out, int max)
{
    cgan *m = self;
    for (int i = 0; i < G_COUNT && i < max; i++)
        out[i] = (cnas_named_tensor){g_names[i], m->gt[i],
                                     i < G_PARAMS ? CNAS_ROLE_PARAM : CNAS_ROLE_BUFFER};
    return G_COUNT;
}

static const cnas_param_spec cgan_keys[] = {
    CNAS_PARAM_SPEC_INT("noise_dim", "16", 1, 4096, "dimension of the noise z"),
    CNAS_PARAM_SPEC_INT("embed_dim", "16", 1, 4096, "dimension of the generator's label embedding"),
    CNAS_PARAM_SPEC_INT("channels", "32", 2, 4096,
                        "generator width after the linear layer (halved by the second conv)"),
    CNAS_PARAM_SPEC_INT("d_channels", "32", 1, 4096,
                        "discriminator width of the first conv (doubled by the second)"),
    CNAS_PARAM_SPEC_FLOAT("learning_rate", "2e-4", 0, 10, "Adam learning rate of G and D"),
    CNAS_PARAM_SPEC_FLOAT("beta1", "0", 0, 0.9999, "Adam beta1 of G and D (BigGAN: 0)"),
    CNAS_PARAM_SPEC_FLOAT("beta2", "0.999", 0, 0.9999, "Adam beta2 of G and D"),
    CNAS_PARAM_SPEC_INT("fit_epochs", "5", 0, 100000,
                        "passes over the training split when fitted from scratch"),
};

static const cnas_generator_vtable cgan_vt = {
    sizeof(cnas_generator_vtable), cgan_create, cgan_destroy, cgan_sample, cgan_fit,
    cgan_save, cgan_load, cgan_tensors, cgan_train_step,
};

static const cnas_component cgan_components[] = {
    CNAS_COMPONENT(CNAS_KIND_GENERATOR, "cgan",
                   "small class-conditional GAN: projection discriminator, hinge loss",
                   cgan_keys, &cgan_vt),
};

CNAS_PLUGIN("cgan", "0.1.0", "A small class-conditional GAN generator", "MIT", cgan_components,
            NULL)
