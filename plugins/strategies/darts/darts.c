#include "darts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- forward passes ---------------------------------------------------------------- */

typedef struct batch_ctx {
    darts *d;
    cnas_tensor *x;
    const int32_t *y;
    int64_t correct;
} batch_ctx;

static cnas_tensor *mixture_logits(darts *d, cnas_graph *g, cnas_tensor *x, bool training)
{
    const cnas_mix_weight *mix = cnas_archparams_mix(d->ap, g, CNAS_AP_SOFTMAX, NULL);
    if (!mix)
        return NULL;
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, mix, NULL, training, NULL, 0.0f,
                                  NULL};
    return d->env->space_vt->forward(d->env->space, g, x, &fa);
}

static cnas_tensor *batch_loss(cnas_graph *g, void *vctx)
{
    batch_ctx *c = vctx;
    cnas_tensor *logits = mixture_logits(c->d, g, c->x, true);
    if (!logits)
        return NULL;
    c->correct = cnas_count_correct(logits, c->y);
    return cnas_cross_entropy(g, logits, c->y, c->d->env->train->label_smoothing);
}

static cnas_tensor *eval_logits(cnas_graph *g, cnas_tensor *x, void *ctx)
{
    return mixture_logits(ctx, g, x, false);
}

/* ---- one search step: the architecture step first, then the weight step ------------ */

static cnas_status arch_step(darts *d, batch_ctx *train, batch_ctx *val, float lr, cnas_error *err)
{
    cnas_tensor *const *alphas = cnas_archparams_tensors(d->ap);
    int n_alpha = cnas_archparams_groups(d->ap);
    float loss;
    cnas_status st;
    if (d->order == 1) {
        st = cnas_grad_pass(d->g, batch_loss, val, alphas, n_alpha, d->weights, d->n_weights,
                            &loss, err);
    } else {
        const float **mom = malloc((size_t)(d->n_weights ? d->n_weights : 1) * sizeof *mom);
        if (!mom)
            return cnas_error_set(err, CNAS_ERR_NOMEM, "darts: out of memory");
        for (int i = 0; i < d->n_weights; i++)
            mom[i] = cnas_optim_state_buffer(d->w_opt, i, 0, false);
        const cnas_train_settings *t = d->env->train;
        cnas_unrolled_args a = {d->weights, d->n_weights, alphas, n_alpha, batch_loss, train,
                                batch_loss, val, lr, t->momentum, t->weight_decay,
                                (const float *const *)mom, d->radius};
        st = cnas_unrolled_alpha_grad(d->g, &a, &loss, err);
        free(mom);
    }
    if (st)
        return st;
    d->env->metric(d->env, "arch_loss", loss);
    return cnas_optim_step(d->a_opt, d->arch_lr, err);
}

static cnas_status darts_step(void *self, cnas_loop_step *s, cnas_error *err)
{
    darts *d = self;
    batch_ctx train = {d, s->x, s->y, 0}, val = {d, s->xv, s->yv, 0};
    cnas_status st = arch_step(d, &train, &val, s->lr, err);
    if (!st)
        st = cnas_grad_pass(d->g, batch_loss, &train, d->weights, d->n_weights,
                            cnas_archparams_tensors(d->ap), cnas_archparams_groups(d->ap), &s->loss,
                            err);
    if (!st)
        st = cnas_kit_update(d->env, d->w_opt, s->lr, true, err);
    s->correct = train.correct;
    return st;
}

/* Evaluate the supernet when due, log the genotype and softmax(α). */
static cnas_status darts_end_epoch(void *self, int64_t epoch, cnas_error *err)
{
    darts *d = self;
    cnas_search_env *env = d->env;
    cnas_status st;
    if (d->eval_every > 0 && ((epoch + 1) % d->eval_every == 0 || epoch + 1 == d->loop.epochs)) {
        if ((st = env->evaluate(env, CNAS_STREAM_VAL, eval_logits, d, &d->val_loss, &d->val_acc,
                                err)))
            return st;
        env->metric(env, "val_loss", d->val_loss);
        env->metric(env, "val_acc", d->val_acc);
    }
    char text[8192];
    if ((st = cnas_archparams_derive(d->ap, CNAS_AP_SOFTMAX, d->arch, err)) ||
        (st = env->space_vt->format(env->space, d->arch, text, sizeof text, err)))
        return st;
    env->log(env, CNAS_LOG_INFO, "epoch %lld genotype = %s", (long long)epoch, text);
    cnas_text extra = {0};
    cnas_text_put(&extra, "\"val_loss\": ");
    cnas_text_json_num(&extra, d->val_loss);
    cnas_text_put(&extra, ", \"val_acc\": ");
    cnas_text_json_num(&extra, d->val_acc);
    st = extra.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, "darts: out of memory")
                   : cnas_archparams_history(d->ap, env, "alpha.jsonl", epoch, CNAS_AP_SOFTMAX,
                                             extra.s, err);
    cnas_text_free(&extra);
    return st;
}

static const cnas_loop_hooks darts_hooks = {sizeof darts_hooks, NULL, darts_step, darts_end_epoch};

static cnas_status darts_run(void *self, cnas_error *err)
{
    darts *d = self;
    cnas_status st = cnas_loop_run(&d->loop, &darts_hooks, d, err);
    if (!st)
        st = cnas_archparams_derive(d->ap, CNAS_AP_SOFTMAX, d->arch, err);
    return st ? st : d->env->report(d->env, 0, d->arch, d->val_acc, err);
}

/* ---- set-up and checkpoints ------------------------------------------------------- */

static void darts_destroy(void *self)
{
    darts *d = self;
    if (!d)
        return;
    cnas_archparams_free(d->ap);
    free(d->weights);
    cnas_optim_free(d->w_opt);
    cnas_optim_free(d->a_opt);
    cnas_loop_free(&d->loop);
    cnas_graph_free(d->g);
    cnas_arch_free(d->arch);
    free(d);
}

static cnas_status darts_create(const cnas_params *p, cnas_search_env *env, void **self,
                                cnas_error *err)
{
    darts *d = calloc(1, sizeof *d);
    if (!d)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "darts: out of memory");
    d->env = env;
    d->order = (int)cnas_params_int(p, "order");
    d->arch_lr = (float)cnas_params_float(p, "arch_learning_rate");
    d->arch_beta1 = (float)cnas_params_float(p, "arch_beta1");
    d->arch_beta2 = (float)cnas_params_float(p, "arch_beta2");
    d->arch_wd = (float)cnas_params_float(p, "arch_weight_decay");
    d->radius = (float)cnas_params_float(p, "unrolled_radius");
    d->init_scale = (float)cnas_params_float(p, "init_scale");
    d->tie = cnas_params_bool(p, "tie_cells");
    d->eval_every = (int)cnas_params_int(p, "eval_every");
    d->val_loss = d->val_acc = NAN;
    cnas_status st;
    if (!CNAS_VT_HAS(env->space_vt, derive) || !CNAS_VT_HAS(env->space_vt, format)) {
        st = cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "darts: the space offers no derivation "
                            "rule or no notation");
        goto fail;
    }
    if (!(d->ap = cnas_archparams_new(env->space_vt, env->space, d->tie, err))) {
        st = err->code;
        cnas_error_prefix(err, "darts");
        goto fail;
    }
    /* α = 1e-3·N(0, 1), as the reference initialises alphas_normal / alphas_reduce. */
    cnas_archparams_init_normal(d->ap, env->seed, "arch_init", d->init_scale);
    cnas_adam_opts ao = {.beta1 = d->arch_beta1, .beta2 = d->arch_beta2, .eps = 1e-8f,
                         .weight_decay = d->arch_wd};
    if ((st = cnas_space_param_tensors(env->space_vt, env->space, &d->weights, &d->n_weights,
                                       err)) ||
        (st = cnas_loop_init(&d->loop, env, "darts", true, err)))
        goto fail;
    if (!(d->w_opt = cnas_sgd_from_settings(env->train, d->weights, d->n_weights, err)) ||
        !(d->a_opt = cnas_adam_new(cnas_archparams_tensors(d->ap), cnas_archparams_groups(d->ap),
                                   &ao, err)) ||
        !(d->g = cnas_graph_new(err)) ||
        !(d->arch = cnas_arch_new(cnas_archparams_points(d->ap), err))) {
        st = err->code;
        goto fail;
    }
    *self = d;
    return CNAS_OK;
fail:
    darts_destroy(d);
    return st;
}

static cnas_status darts_io(darts *d, cnas_ckio *io)
{
    cnas_loop_io(&d->loop, io, "darts");
    cnas_archparams_io(d->ap, io, "darts");
    cnas_ckio_optim(io, "darts.w_opt", d->w_opt);
    cnas_ckio_optim(io, "darts.a_opt", d->a_opt);
    cnas_ckio_f64(io, "darts.val_loss", &d->val_loss);
    return cnas_ckio_f64(io, "darts.val_acc", &d->val_acc);
}

static cnas_status darts_save(void *self, cnas_ckpt *ck, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_put(ck, err);
    return darts_io(self, &io);
}

static cnas_status darts_load(void *self, const cnas_ckpt *ck, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_get(ck, err);
    return darts_io(self, &io);
}

/* ---- the component ------------------------------------------------------------------ */

static const cnas_param_spec darts_keys[] = {
    CNAS_PARAM_SPEC_INT("order", "1", 1, 2,
                        "1: first-order gradient; 2: one-step unrolled (second order)"),
    CNAS_PARAM_SPEC_FLOAT("arch_learning_rate", "3e-4", 0, 10, "Adam learning rate of alpha"),
    CNAS_PARAM_SPEC_FLOAT("arch_beta1", "0.5", 0, 1, "Adam beta1 of alpha"),
    CNAS_PARAM_SPEC_FLOAT("arch_beta2", "0.999", 0, 1, "Adam beta2 of alpha"),
    CNAS_PARAM_SPEC_FLOAT("arch_weight_decay", "1e-3", 0, 1,
                          "coupled L2 weight decay of alpha (torch.optim.Adam weight_decay)"),
    CNAS_PARAM_SPEC_FLOAT("unrolled_radius", "0.01", 1e-8, 10,
                          "finite-difference radius r of the Hessian-vector product (eps = r/|v|)"),
    CNAS_PARAM_SPEC_FLOAT("init_scale", "1e-3", 0, 10, "alpha initialised to init_scale * N(0, 1)"),
    CNAS_PARAM_SPEC_BOOL("tie_cells", "true",
                         "share alpha across cells of a type (normal / reduce), as the paper does"),
    CNAS_PARAM_SPEC_INT("eval_every", "1", 0, 100000,
                        "evaluate the supernet on the validation split every N epochs (0: never)"),
};

static const cnas_strategy_vtable darts_vtable = {
    sizeof(cnas_strategy_vtable), darts_create, darts_destroy, darts_run, darts_save, darts_load,
};

static const cnas_component darts_components[] = {
    CNAS_COMPONENT(CNAS_KIND_STRATEGY, "darts",
                   "DARTS: differentiable architecture search, first or second order (Liu et al. 2019)",
                   darts_keys, &darts_vtable),
};

CNAS_PLUGIN("darts", "0.2.0", "DARTS search strategy", "MIT", darts_components, NULL)
