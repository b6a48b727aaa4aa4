/* What DARTS and Λ-DARTS share: set-up, forward passes, the architecture step, the
 * epoch log and checkpoints (darts.h). */
#include "darts.h"

#include <cnas/dist.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- forward passes ---------------------------------------------------------------- */

cnas_tensor *darts_logits(darts *d, cnas_graph *g, cnas_tensor *x, const cnas_mix_weight *mix,
                          bool training)
{
    if (!mix && !(mix = darts_mix(d, g)))
        return NULL;
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, mix, NULL, training, NULL, 0.0f,
                                  NULL};
    return d->env->space_vt->forward(d->env->space, g, x, &fa);
}

cnas_tensor *darts_batch_loss(cnas_graph *g, void *vctx)
{
    darts_batch *c = vctx;
    /* Synchronised, a batch held whole by N ranks would count N copies in the running
     * variance's unbiased correction. */
    bool synced = c->whole && cnas_dist_sync_batch_stats(false);
    cnas_tensor *logits = darts_logits(c->d, g, c->x, c->mix, true);
    if (synced)
        cnas_dist_sync_batch_stats(true);
    if (!logits)
        return NULL;
    c->correct = cnas_count_correct(logits, c->y);
    return cnas_cross_entropy(g, logits, c->y, c->d->env->train->label_smoothing);
}

static cnas_tensor *eval_logits(cnas_graph *g, cnas_tensor *x, void *ctx)
{
    return darts_logits(ctx, g, x, NULL, false);
}

/* ---- the architecture step --------------------------------------------------------- */

cnas_status darts_unrolled_grad(darts *d, darts_batch *train, darts_batch *val, float lr,
                                float *loss, cnas_error *err)
{
    const float **mom = malloc((size_t)(d->n_weights ? d->n_weights : 1) * sizeof *mom);
    if (!mom)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "%s: out of memory", d->name);
    for (int i = 0; i < d->n_weights; i++)
        mom[i] = cnas_optim_state_buffer(darts_weight_optim(d), i, 0, false);
    const cnas_train_settings *t = d->env->train;
    cnas_unrolled_args a = {d->weights, d->n_weights, cnas_archparams_tensors(d->ap),
                            cnas_archparams_groups(d->ap), darts_batch_loss, train,
                            darts_batch_loss, val, lr, t->momentum, t->weight_decay,
                            (const float *const *)mom, d->radius};
    cnas_status st = cnas_unrolled_alpha_grad(d->g, &a, loss, err);
    free(mom);
    return st;
}

cnas_status darts_arch_step(darts *d, darts_batch *train, darts_batch *val, float lr,
                            cnas_error *err)
{
    float loss;
    cnas_status st;
    if (d->order == 1)
        st = cnas_grad_pass(d->g, darts_batch_loss, val, cnas_archparams_tensors(d->ap),
                            cnas_archparams_groups(d->ap), d->weights, d->n_weights, &loss, err);
    else
        st = darts_unrolled_grad(d, train, val, lr, &loss, err);
    if (st)
        return st;
    d->env->metric(d->env, "arch_loss", loss);
    return cnas_optim_step(d->a_opt, d->arch_lr, err);
}

/* ---- epochs and the result ---------------------------------------------------------- */

cnas_status darts_end_epoch(darts *d, int64_t epoch, cnas_error *err)
{
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
    if ((st = darts_derive(d, d->arch, err)) ||
        (st = env->space_vt->format(env->space, d->arch, text, sizeof text, err)))
        return st;
    env->log(env, CNAS_LOG_INFO, "epoch %lld genotype = %s", (long long)epoch, text);
    cnas_text extra = {0};
    cnas_text_put(&extra, "\"val_loss\": ");
    cnas_text_json_num(&extra, d->val_loss);
    cnas_text_put(&extra, ", \"val_acc\": ");
    cnas_text_json_num(&extra, d->val_acc);
    st = extra.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, "%s: out of memory", d->name)
                   : cnas_archparams_history(d->ap, env, "alpha.jsonl", epoch, CNAS_AP_SOFTMAX,
                                             extra.s, err);
    cnas_text_free(&extra);
    return st;
}

cnas_status darts_start(darts *d, cnas_error *err)
{
    /* Known to the host from the first checkpoint on, so a resumed run cuts the history
     * back to it (a kill after epoch 0's line but before its epoch-end checkpoint would
     * otherwise leave that line twice). */
    return d->env->append(d->env, "alpha.jsonl", "", err);
}

cnas_status darts_finish(darts *d, cnas_error *err)
{
    cnas_status st = darts_derive(d, d->arch, err);
    return st ? st : d->env->report(d->env, 0, d->arch, d->val_acc, err);
}

/* ---- set-up and checkpoints ------------------------------------------------------- */

void darts_fini(darts *d)
{
    darts_select_fini(d);
    cnas_archparams_free(d->ap);
    free(d->weights);
    cnas_optim_free(d->w_opt);
    cnas_optim_free(d->a_opt);
    cnas_loop_free(&d->loop);
    cnas_graph_free(d->g);
    cnas_arch_free(d->arch);
    *d = (darts){0};
}

cnas_status darts_init(darts *d, const char *name, const cnas_params *p, cnas_search_env *env,
                       cnas_error *err)
{
    d->env = env;
    d->name = name;
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
    if (!CNAS_VT_HAS(env->space_vt, derive) || !CNAS_VT_HAS(env->space_vt, format))
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "%s: the space offers no derivation "
                              "rule or no notation", name);
    if (!(d->ap = cnas_archparams_new(env->space_vt, env->space, d->tie, err))) {
        cnas_error_prefix(err, name);
        return err->code;
    }
    /* α = 1e-3·N(0, 1), as the reference initialises alphas_normal / alphas_reduce. */
    cnas_archparams_init_normal(d->ap, env->seed, "arch_init", d->init_scale);
    cnas_adam_opts ao = {.beta1 = d->arch_beta1, .beta2 = d->arch_beta2, .eps = 1e-8f,
                         .weight_decay = d->arch_wd};
    if ((st = cnas_space_param_tensors(env->space_vt, env->space, &d->weights, &d->n_weights,
                                       err)) ||
        (st = cnas_loop_init(&d->loop, env, name, true, err)))
        return st;
    if (!(d->w_opt = cnas_sgd_from_settings(env->train, d->weights, d->n_weights, err)) ||
        !(d->a_opt = cnas_adam_new(cnas_archparams_tensors(d->ap), cnas_archparams_groups(d->ap),
                                   &ao, err)) ||
        !(d->g = cnas_graph_new(err)) ||
        !(d->arch = cnas_arch_new(cnas_archparams_points(d->ap), err)))
        return err->code;
    return CNAS_OK;
}

cnas_status darts_memory(const cnas_params *p, cnas_strategy_memory *m, cnas_error *err)
{
    (void)err;
    if (cnas_params_int(p, "order") == 2)
        m->weight_copies += 4; /* saved w, its gradient, v, the finite difference's base */
    return CNAS_OK;
}

cnas_status darts_io(darts *d, cnas_ckio *io)
{
    char w_opt[64], a_opt[64], vl[64], va[64];
    snprintf(w_opt, sizeof w_opt, "%s.w_opt", d->name);
    snprintf(a_opt, sizeof a_opt, "%s.a_opt", d->name);
    snprintf(vl, sizeof vl, "%s.val_loss", d->name);
    snprintf(va, sizeof va, "%s.val_acc", d->name);
    cnas_loop_io(&d->loop, io, d->name);
    cnas_archparams_io(d->ap, io, d->name);
    cnas_ckio_optim(io, w_opt, d->w_opt);
    cnas_ckio_optim(io, a_opt, d->a_opt);
    cnas_ckio_f64(io, vl, &d->val_loss);
    cnas_ckio_f64(io, va, &d->val_acc);
    return darts_select_io(d, io);
}
