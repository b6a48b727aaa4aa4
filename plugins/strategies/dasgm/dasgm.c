/* DASGM: differentiable architecture search with a generative model (Zhang, Liang,
 * Somayajula, Xie 2021). Only the paper's abstract is public; this is the
 * reconstruction documented in docs/dasgm.md:
 *
 *   weights       W on training batches (DARTS's weight step),
 *   architecture  A on *synthetic* batches (x_s, y_s) = (G(z, y_s), y_s): DARTS's
 *                 architecture step, first or second order, with the validation batch
 *                 replaced by the synthetic one,
 *   generator     G, by `generator_update`:
 *                   frozen  fitted once (or loaded), then fixed;
 *                   gan     one step of its own objective per step on the train batch;
 *                   hyper   the one-step hypergradient of the real validation loss
 *                           through A' = A - ξ_A·∇_A L(W', A; x_s(G)):
 *                             v = ∇_A' L(W', A'; x_v),  ε = r/‖v‖,
 *                             ∇_G ≈ -ξ_A·[∇_G L(W', A+εv; x_s) - ∇_G L(W', A-εv; x_s)]/2ε,
 *                           plus γ·(its own objective), one Adam step.
 *
 * The DARTS machinery (α, both optimizers, the loop, the unrolled hypergradient, the
 * epoch log and the result) is the darts plugin's darts_common.c, compiled in. */
#include "darts.h"
#include "dasgm_hyper.h"

#include <cnas/dist.h>
#include <cnas/generator.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MODE_FROZEN, MODE_GAN, MODE_HYPER };

typedef struct dasgm {
    darts d;                       /* first: the DARTS state, prefix "dasgm" */
    int mode;
    bool replay;                   /* generator = replay_val */
    float gamma, hyper_lr, hyper_radius;
    char gen_name[128], gen_opts[1024], gen_file[1024];
    cnas_generator *gen;
    cnas_tensor **gp;              /* the generator's PARAM tensors */
    int n_gp;
    float *hg;                     /* hypergradient, all generator parameters */
    float **hgp;
    cnas_rng syn_rng, gan_rng;
    int32_t *ys;
    int64_t ys_cap;
} dasgm;

/* ---- the generator ------------------------------------------------------------------ */

static cnas_status gen_attach(dasgm *m, cnas_error *err)
{
    free(m->gp);
    free(m->hg);
    free(m->hgp);
    m->gp = NULL;
    m->hg = NULL;
    m->hgp = NULL;
    cnas_status st = cnas_generator_params(m->gen, &m->gp, &m->n_gp, err);
    if (st)
        return st;
    size_t total = 0;
    for (int i = 0; i < m->n_gp; i++)
        total += (size_t)m->gp[i]->numel;
    m->hg = malloc((total ? total : 1) * sizeof *m->hg);
    m->hgp = malloc((size_t)(m->n_gp > 0 ? m->n_gp : 1) * sizeof *m->hgp);
    if (!m->hg || !m->hgp)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "dasgm: out of memory");
    for (int i = 0, off = 0; i < m->n_gp; off += (int)m->gp[i]->numel, i++)
        m->hgp[i] = m->hg + off;
    const cnas_generator_vtable *vt = cnas_generator_vt(m->gen);
    if (m->mode != MODE_FROZEN && !CNAS_VT_HAS(vt, train_step))
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "dasgm: [strategy] generator_update = %s "
                              "needs a generator with train_step; '%s' has none (use frozen)",
                              m->mode == MODE_GAN ? "gan" : "hyper", m->gen_name);
    return CNAS_OK;
}

static cnas_status gen_create(dasgm *m, const float mean[4], const float std[4], cnas_error *err)
{
    cnas_search_env *env = m->d.env;
    cnas_gen_shape sh = {sizeof sh, env->in_channels, env->in_height, env->in_width,
                         env->num_classes, {0}, {0}};
    memcpy(sh.mean, mean, sizeof sh.mean);
    memcpy(sh.std, std, sizeof sh.std);
    char where[256];
    snprintf(where, sizeof where, "[strategy] generator = %s, generator_options", m->gen_name);
    cnas_status st = cnas_generator_new(NULL, m->gen_name, m->gen_opts, where, &sh, env->seed,
                                        &m->gen, err);
    return st ? st : gen_attach(m, err);
}

/* TRAIN_CYCLE batches, `per_pass` to a pass. */
typedef struct cycle_source {
    cnas_search_env *env;
    int64_t per_pass, done;
} cycle_source;

static int cycle_next(void *ctx, cnas_graph *g, cnas_tensor **x, const int32_t **labels,
                      cnas_error *err)
{
    cycle_source *c = ctx;
    if (c->done == c->per_pass) {
        c->done = 0;
        return 0;
    }
    int r = c->env->next_batch(c->env, CNAS_STREAM_TRAIN_CYCLE, g, x, labels, err);
    if (r > 0)
        c->done++;
    return r > 0 ? 1 : -1;
}

/* The pipeline's normalisation is not part of the search environment: it is read off
 * one pass of training batches, whose per-channel extremes are the normalised images
 * of pixel values 0 and 1. */
static cnas_status measure_norm(dasgm *m, int64_t per_pass, float mean[4], float std[4],
                                cnas_error *err)
{
    cnas_search_env *env = m->d.env;
    float lo[4] = {INFINITY, INFINITY, INFINITY, INFINITY};
    float hi[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    cnas_graph *g = cnas_graph_new(err);
    if (!g)
        return err->code;
    cycle_source src = {env, per_pass, 0};
    cnas_tensor *x;
    const int32_t *y;
    int r;
    int64_t hw = (int64_t)env->in_height * env->in_width;
    while ((r = cycle_next(&src, g, &x, &y, err)) > 0) {
        for (int64_t k = 0; k < x->numel; k++) {
            int c = (int)((k / hw) % env->in_channels);
            lo[c] = fminf(lo[c], x->data[k]);
            hi[c] = fmaxf(hi[c], x->data[k]);
        }
        cnas_graph_reset(g);
    }
    cnas_graph_free(g);
    if (r < 0)
        return err->code;
    for (int c = 0; c < 4; c++) {
        bool ok = c < env->in_channels && hi[c] > lo[c];
        std[c] = ok ? 1.0f / (hi[c] - lo[c]) : 1.0f;
        mean[c] = ok ? -lo[c] * std[c] : 0.0f;
    }
    return CNAS_OK;
}

static cnas_status gen_save_file(dasgm *m, cnas_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/generator.ckpt", m->d.env->run_dir);
    return cnas_generator_save_file(m->gen, path, err);
}

/* A fresh run: the generator from its file, or created and fitted on the train split. */
static cnas_status gen_prepare(dasgm *m, cnas_error *err)
{
    cnas_search_env *env = m->d.env;
    cnas_status st;
    if (*m->gen_file) {
        if ((st = cnas_generator_load_file(NULL, m->gen_file, &m->gen, err)))
            return cnas_error_prefix(err, "dasgm: [strategy] generator_file");
        const cnas_gen_shape *s = cnas_generator_shape(m->gen);
        if (s->channels != env->in_channels || s->height != env->in_height ||
            s->width != env->in_width || s->num_classes != env->num_classes)
            return cnas_error_set(err, CNAS_ERR_CONFIG, "dasgm: [strategy] generator_file = %s "
                                  "makes %dx%dx%d images of %d classes; the data are %dx%dx%d "
                                  "of %d", m->gen_file, s->channels, s->height, s->width,
                                  s->num_classes, env->in_channels, env->in_height,
                                  env->in_width, env->num_classes);
        snprintf(m->gen_name, sizeof m->gen_name, "%s", cnas_generator_name(m->gen));
        if ((st = gen_attach(m, err)))
            return st;
    } else {
        int64_t per_pass = env->batches_per_epoch(env, CNAS_STREAM_TRAIN);
        float mean[4], std[4];
        if ((st = measure_norm(m, per_pass, mean, std, err)) ||
            (st = gen_create(m, mean, std, err)))
            return st;
        cycle_source src = {env, per_pass, 0};
        cnas_gen_source gs = {sizeof gs, cycle_next, &src};
        cnas_rng fit_rng;
        cnas_rng_init(&fit_rng, env->seed, "dasgm_gen_fit");
        env->log(env, CNAS_LOG_INFO, "dasgm: fitting generator %s on the train split",
                 m->gen_name);
        if ((st = cnas_generator_vt(m->gen)->fit(cnas_generator_self(m->gen), &gs, &fit_rng,
                                                 err)))
            return cnas_error_prefix(err, "dasgm: fitting generator %s", m->gen_name);
    }
    return gen_save_file(m, err);
}

/* ---- one step -------------------------------------------------------------------------- */

typedef struct syn_ctx {
    dasgm *m;
    cnas_rng noise;                /* the step's noise: every pass draws the same z */
    int64_t n;
    int64_t correct;
} syn_ctx;

/* L(W, A; G(z, y_s), y_s) with the synthetic images on the tape. */
static cnas_tensor *syn_gen_loss(cnas_graph *g, void *vctx)
{
    syn_ctx *c = vctx;
    cnas_rng r = c->noise;
    cnas_gen_sample_args a = {sizeof a, c->n, c->m->ys, &r, false}; /* eval mode */
    cnas_tensor *x = cnas_generator_sample(c->m->gen, g, &a);
    if (!x)
        return NULL;
    /* Every rank holds the synthetic batch whole. */
    darts_batch b = {.d = &c->m->d, .x = x, .y = c->m->ys, .whole = true};
    cnas_tensor *loss = darts_batch_loss(g, &b);
    c->correct = b.correct;
    return loss;
}

static float *backup(cnas_tensor *const *t, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += (size_t)t[i]->numel;
    float *b = malloc((total ? total : 1) * sizeof *b);
    for (size_t off = 0, i = 0; b && i < (size_t)n; off += (size_t)t[i]->numel, i++)
        memcpy(b + off, t[i]->data, cnas_tensor_bytes(t[i]));
    return b;
}

static void restore(cnas_tensor *const *t, int n, const float *b)
{
    for (size_t off = 0, i = 0; i < (size_t)n; off += (size_t)t[i]->numel, i++)
        memcpy(t[i]->data, b + off, cnas_tensor_bytes(t[i]));
}

/* W ← W' = W - η·(μ·m + ∇W L_train(W, A) + λ·W), DARTS's virtual step. */
static cnas_status virtual_step(dasgm *m, darts_batch *train, float eta, cnas_error *err)
{
    darts *d = &m->d;
    cnas_status st = cnas_grad_pass(d->g, darts_batch_loss, train, d->weights, d->n_weights,
                                    cnas_archparams_tensors(d->ap), cnas_archparams_groups(d->ap),
                                    NULL, err);
    /* Data parallel: the global batch's gradient, so every rank steps to the same W'. */
    if (!st)
        st = cnas_dist_reduce_grads(d->weights, d->n_weights, cnas_dist_train_weight(), err);
    if (st)
        return st;
    const cnas_train_settings *t = d->env->train;
    for (int i = 0; i < d->n_weights; i++) {
        cnas_tensor *w = d->weights[i];
        const float *mom = cnas_optim_state_buffer(darts_weight_optim(d), i, 0, false);
        if (!w->grad)
            continue;
        for (int64_t k = 0; k < w->numel; k++)
            w->data[k] -= eta * ((mom ? t->momentum * mom[k] : 0.0f) + w->grad[k] +
                                 t->weight_decay * w->data[k]);
    }
    return CNAS_OK;
}

/* The generator step of `hyper`; alpha0 is A before this step's architecture update. */
static cnas_status hyper_step(dasgm *m, cnas_loop_step *s, darts_batch *train,
                              const float *alpha0, const cnas_rng *noise0, cnas_error *err)
{
    darts *d = &m->d;
    cnas_tensor *const *al = cnas_archparams_tensors(d->ap);
    int n_al = cnas_archparams_groups(d->ap);
    float *w0 = d->order == 2 ? backup(d->weights, d->n_weights) : NULL;
    float *a_new = backup(al, n_al), *v = backup(al, n_al);
    const float **vp = malloc((size_t)n_al * sizeof *vp);
    cnas_status st = CNAS_OK;
    if ((d->order == 2 && !w0) || !a_new || !v || !vp) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, "dasgm: out of memory");
        goto out;
    }
    if (d->order == 2 && (st = virtual_step(m, train, s->lr, err)))
        goto out;
    /* v = ∇_A' L(W', A'; real validation batch). */
    darts_batch val = {.d = d, .x = s->xv, .y = s->yv};
    float vloss;
    if ((st = cnas_grad_pass(d->g, darts_batch_loss, &val, al, n_al, d->weights, d->n_weights,
                             &vloss, err)))
        goto out;
    /* Data parallel: v of the global validation batch, the same on every rank, so every
     * rank computes the same generator gradient from the same synthetic batch. (The
     * metric below is combined across ranks by the host.) */
    if ((st = cnas_dist_reduce_grads(al, n_al, cnas_dist_arch_weight(), err)))
        goto out;
    for (int i = 0, off = 0; i < n_al; off += (int)al[i]->numel, i++) {
        memcpy(v + off, al[i]->grad, cnas_tensor_bytes(al[i]));
        vp[i] = v + off;
    }
    d->env->metric(d->env, "hyper_val_loss", vloss);
    /* ∇_G ≈ -ξ_A·[∇_G L(A+εv) - ∇_G L(A-εv)]/2ε at the pre-update A, W' held fixed. */
    restore(al, n_al, alpha0);
    for (int i = 0; i < d->n_weights; i++)
        cnas_tensor_set_requires_grad(d->weights[i], false);
    syn_ctx c = {m, *noise0, s->rows, 0};
    float xi = m->hyper_lr > 0.0f ? m->hyper_lr : d->arch_lr;
    st = dasgm_hypergrad(d->g, syn_gen_loss, &c, al, vp, n_al, m->hyper_radius, xi, m->gp,
                         m->n_gp, m->hgp, NULL, err);
    restore(al, n_al, a_new);
    if (st)
        goto out;
    if (w0)
        restore(d->weights, d->n_weights, w0);
    double hnorm = 0.0;
    for (int i = 0; i < m->n_gp; i++) {
        float *gr = cnas_tensor_grad_buffer(m->gp[i]);
        if (!gr) {
            st = cnas_error_set(err, CNAS_ERR_NOMEM, "dasgm: out of memory");
            goto out;
        }
        memcpy(gr, m->hgp[i], cnas_tensor_bytes(m->gp[i]));
        for (int64_t k = 0; k < m->gp[i]->numel; k++)
            hnorm += (double)gr[k] * gr[k];
    }
    d->env->metric(d->env, "hyper_grad_norm", sqrt(hnorm));
    cnas_gen_step_args ga = {sizeof ga, s->x, s->y, &m->gan_rng, m->gamma, true, 0, 0,
                             s->rows};
    if ((st = cnas_generator_vt(m->gen)->train_step(cnas_generator_self(m->gen), d->g, &ga, err)))
        goto out;
    d->env->metric(d->env, "gen_loss", ga.g_loss);
    if (!isnan(ga.d_loss))
        d->env->metric(d->env, "disc_loss", ga.d_loss);
out:
    if (w0 && st)
        restore(d->weights, d->n_weights, w0);
    free(w0);
    free(a_new);
    free(v);
    free(vp);
    return st;
}

static cnas_status dasgm_step(void *self, cnas_loop_step *s, cnas_error *err)
{
    dasgm *m = self;
    darts *d = &m->d;
    cnas_search_env *env = d->env;
    darts_batch train = {.d = d, .x = s->x, .y = s->y}, syn = {.d = d, .x = s->xv, .y = s->yv};
    cnas_rng noise0 = m->syn_rng;
    cnas_status st;
    if (!m->replay) {
        /* The synthetic batch: as many images as the global train batch, classes uniform.
         * Under data parallelism every rank draws it whole from the same stream (dist.h:
         * a batch every rank holds whole reduces to itself), so N ranks search as one. */
        int64_t n = s->rows;
        if (n > m->ys_cap) {
            int32_t *ys = realloc(m->ys, (size_t)n * sizeof *ys);
            if (!ys)
                return cnas_error_set(err, CNAS_ERR_NOMEM, "dasgm: out of memory");
            m->ys = ys;
            m->ys_cap = n;
        }
        for (int64_t i = 0; i < n; i++)
            m->ys[i] = (int32_t)cnas_rng_below(&m->syn_rng, (uint32_t)env->num_classes);
        noise0 = m->syn_rng;
        cnas_graph_set_grad_enabled(s->g, false);
        cnas_gen_sample_args a = {sizeof a, n, m->ys, &m->syn_rng, false};
        cnas_tensor *xs = cnas_generator_sample(m->gen, s->g, &a);
        cnas_graph_set_grad_enabled(s->g, true);
        if (!xs) {
            *err = *cnas_graph_error(s->g);
            return cnas_error_prefix(err, "dasgm: generator %s", m->gen_name);
        }
        syn = (darts_batch){.d = d, .x = xs, .y = m->ys, .whole = true};
    }
    float *alpha0 = NULL;
    if (m->mode == MODE_HYPER &&
        !(alpha0 = backup(cnas_archparams_tensors(d->ap), cnas_archparams_groups(d->ap))))
        return cnas_error_set(err, CNAS_ERR_NOMEM, "dasgm: out of memory");
    st = darts_arch_step(d, &train, &syn, s->lr, err);
    if (!st && !m->replay)
        env->metric(env, "syn_acc", (double)syn.correct / (double)s->rows);
    if (!st && m->mode == MODE_GAN) {
        cnas_gen_step_args ga = {sizeof ga, s->x, s->y, &m->gan_rng, 1.0f, false, 0, 0, s->rows};
        st = cnas_generator_vt(m->gen)->train_step(cnas_generator_self(m->gen), d->g, &ga, err);
        if (!st) {
            env->metric(env, "gen_loss", ga.g_loss);
            if (!isnan(ga.d_loss))
                env->metric(env, "disc_loss", ga.d_loss);
        }
    }
    if (!st && m->mode == MODE_HYPER)
        st = hyper_step(m, s, &train, alpha0, &noise0, err);
    free(alpha0);
    /* The weight step, exactly DARTS's. */
    if (!st)
        st = cnas_grad_pass(d->g, darts_batch_loss, &train, d->weights, d->n_weights,
                            cnas_archparams_tensors(d->ap), cnas_archparams_groups(d->ap),
                            &s->loss, err);
    if (!st)
        st = cnas_kit_update(env, darts_weight_optim(d), s->lr, true, err);
    s->correct = train.correct;
    return st;
}

static cnas_status dasgm_epoch_end(void *self, int64_t epoch, cnas_error *err)
{
    return darts_end_epoch(self, epoch, err);
}

static const cnas_loop_hooks dasgm_hooks = {sizeof dasgm_hooks, NULL, dasgm_step,
                                            dasgm_epoch_end};

static cnas_status dasgm_run(void *self, cnas_error *err)
{
    dasgm *m = self;
    cnas_status st;
    if (!m->replay && !m->gen && (st = gen_prepare(m, err)))
        return st;
    st = cnas_loop_run(&m->d.loop, &dasgm_hooks, m, err);
    /* selection = perturbation: the fine-tuning between decisions takes DASGM's own step
     * (architecture on synthetic batches). m->d is dasgm's first member, so the selection
     * loop's darts pointer is this step's dasgm. */
    if (!st)
        st = darts_select_run(&m->d, dasgm_step, err);
    if (!st && m->gen && m->mode != MODE_FROZEN)
        st = gen_save_file(m, err);
    return st ? st : darts_finish(&m->d, err);
}

/* ---- set-up and checkpoints --------------------------------------------------------------- */

static void dasgm_destroy(void *self)
{
    dasgm *m = self;
    if (!m)
        return;
    darts_fini(&m->d);
    cnas_generator_free(m->gen);
    free(m->gp);
    free(m->hg);
    free(m->hgp);
    free(m->ys);
    free(m);
}

static cnas_status dasgm_create(const cnas_params *p, cnas_search_env *env, void **self,
                                cnas_error *err)
{
    dasgm *m = calloc(1, sizeof *m);
    if (!m)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "dasgm: out of memory");
    cnas_status st = darts_init(&m->d, "dasgm", p, env, err);
    if (!st)
        st = darts_select_init(&m->d, p, err);
    const char *mode = cnas_params_str(p, "generator_update");
    m->mode = strcmp(mode, "gan") == 0 ? MODE_GAN : strcmp(mode, "hyper") == 0 ? MODE_HYPER
                                                                              : MODE_FROZEN;
    m->gamma = (float)cnas_params_float(p, "gamma");
    m->hyper_lr = (float)cnas_params_float(p, "hyper_lr");
    m->hyper_radius = (float)cnas_params_float(p, "hyper_radius");
    snprintf(m->gen_name, sizeof m->gen_name, "%s", cnas_params_str(p, "generator"));
    snprintf(m->gen_opts, sizeof m->gen_opts, "%s", cnas_params_str(p, "generator_options"));
    snprintf(m->gen_file, sizeof m->gen_file, "%s", cnas_params_str(p, "generator_file"));
    m->replay = strcmp(m->gen_name, "replay_val") == 0;
    if (!st && m->replay && m->mode != MODE_FROZEN)
        st = cnas_error_set(err, CNAS_ERR_CONFIG, "dasgm: [strategy] generator = replay_val "
                            "replays real validation batches and cannot be trained: "
                            "generator_update must be frozen, not %s", mode);
    /* Refuse a bad generator name, key or shape now rather than after the fit: a probe
     * instance (the normalisation is not known before run). */
    if (!st && !m->replay && !*m->gen_file) {
        float mean[4] = {0}, std[4] = {1, 1, 1, 1};
        if (!(st = gen_create(m, mean, std, err))) {
            cnas_generator_free(m->gen);
            m->gen = NULL;
        }
    }
    cnas_rng_init(&m->syn_rng, env->seed, "dasgm_synthetic");
    cnas_rng_init(&m->gan_rng, env->seed, "dasgm_generator");
    if (st) {
        dasgm_destroy(m);
        return st;
    }
    *self = m;
    return CNAS_OK;
}

static cnas_status dasgm_io(dasgm *m, cnas_ckio *io)
{
    darts_io(&m->d, io);
    cnas_ckio_rng(io, "dasgm.syn_rng", &m->syn_rng);
    cnas_ckio_rng(io, "dasgm.gan_rng", &m->gan_rng);
    int64_t has_gen = m->gen != NULL;
    cnas_ckio_i64(io, "dasgm.has_generator", &has_gen);
    if (cnas_ckio_status(io) || !has_gen)
        return cnas_ckio_status(io);
    float norm[8];
    if (m->gen) {
        memcpy(norm, cnas_generator_shape(m->gen)->mean, 4 * sizeof(float));
        memcpy(norm + 4, cnas_generator_shape(m->gen)->std, 4 * sizeof(float));
    }
    cnas_status st = cnas_ckio_blob(io, "dasgm.generator_norm", norm, sizeof norm);
    if (st)
        return st;
    if (cnas_ckio_saving(io))
        return cnas_generator_vt(m->gen)->save(cnas_generator_self(m->gen), io->put,
                                               "dasgm.gen", io->err);
    if (!m->gen && *m->gen_file) {
        /* The same file again (its component and keys), then the checkpoint's state. */
        if ((st = cnas_generator_load_file(NULL, m->gen_file, &m->gen, io->err)) ||
            (st = gen_attach(m, io->err)))
            return io->status = st;
    } else if (!m->gen && (st = gen_create(m, norm, norm + 4, io->err))) {
        return io->status = st;
    }
    return io->status = cnas_generator_vt(m->gen)->load(cnas_generator_self(m->gen), io->get,
                                                        "dasgm.gen", io->err);
}

static cnas_status dasgm_save(void *self, cnas_ckpt *ck, cnas_error *err)
{
    dasgm *m = self;
    cnas_ckio io = cnas_ckio_put(ck, err);
    return dasgm_io(m, &io);
}

static cnas_status dasgm_load(void *self, const cnas_ckpt *ck, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_get(ck, err);
    return dasgm_io(self, &io);
}

static const cnas_strategy_vtable dasgm_vtable = {
    sizeof(cnas_strategy_vtable), dasgm_create, dasgm_destroy, dasgm_run, dasgm_save, dasgm_load,
    darts_memory, /* the generator is not counted */
};

static const cnas_param_spec dasgm_keys[] = {
    DARTS_COMMON_KEYS,
    DARTS_SELECTION_KEYS,
    CNAS_PARAM_SPEC_STRING("generator", "gaussian_gen",
                           "generator component of the synthetic data, or replay_val (real "
                           "validation batches: DASGM reduces to DARTS)"),
    CNAS_PARAM_SPEC_STRING("generator_options", "",
                           "the generator's keys as key=value pairs separated by commas"),
    CNAS_PARAM_SPEC_PATH("generator_file", "",
                         "a saved generator to start from (empty: fit one on the train split)"),
    CNAS_PARAM_SPEC_CHOICE("generator_update", "frozen", "frozen|gan|hyper",
                           "frozen: fixed after fitting; gan: its own objective every step; "
                           "hyper: hypergradient of the real validation loss + gamma * its own "
                           "objective"),
    CNAS_PARAM_SPEC_FLOAT("gamma", "1", 0, 1e6,
                          "hyper: weight of the generator's own objective"),
    CNAS_PARAM_SPEC_FLOAT("hyper_lr", "0", 0, 10,
                          "hyper: xi_A of A' = A - xi_A*g_A (0: arch_learning_rate)"),
    CNAS_PARAM_SPEC_FLOAT("hyper_radius", "0.01", 1e-8, 10,
                          "hyper: finite-difference radius r (eps = r/|v|)"),
};

static const cnas_component dasgm_components[] = {
    CNAS_COMPONENT(CNAS_KIND_STRATEGY, "dasgm",
                   "DASGM: DARTS with the architecture trained on synthesized data "
                   "(reconstruction of Zhang et al. 2021)",
                   dasgm_keys, &dasgm_vtable),
};

CNAS_PLUGIN("dasgm", "0.1.0", "DASGM search strategy", "MIT", dasgm_components, NULL)
