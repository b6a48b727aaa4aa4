/* Choosing the final architecture after the search (docs/selection.md): by the
 * magnitude of α (DARTS's rule), or by perturbation (Wang et al., ICLR 2021): decide
 * edge by edge on the searched supernet, fine-tuning between decisions with the
 * component's own step. */
#include "darts.h"

#include <stdlib.h>
#include <string.h>

cnas_status darts_select_init(darts *d, const cnas_params *p, cnas_error *err)
{
    const char *sel = cnas_params_str(p, "selection");
    d->perturb = strcmp(sel, "perturbation") == 0;
    if (!d->perturb)
        return CNAS_OK;
    cnas_proj_settings s = {sizeof s,
                            strcmp(cnas_params_str(p, "proj_criterion"), "loss") == 0
                                ? CNAS_PROJ_LOSS : CNAS_PROJ_ACC,
                            (int32_t)cnas_params_int(p, "proj_interval"),
                            (int32_t)cnas_params_int(p, "proj_inputs"), CNAS_AP_SOFTMAX};
    if (!(d->proj = cnas_proj_new(d->ap, d->env, &s, err)))
        return cnas_error_prefix(err, "%s: selection = perturbation", d->name);
    cnas_status st = cnas_loop_init(&d->tune, d->env, d->name, true, err);
    if (st)
        return st;
    /* The fine-tuning runs the epochs after the search's on a fresh optimizer at
     * proj_lr_factor of the weight learning rate, cosine to [train] lr_min over its own
     * length (the reference resets its optimizer to lr / 10). */
    int64_t n = cnas_proj_epochs(d->proj);
    d->tune.epoch = d->loop.epochs;
    d->tune.epochs = d->loop.epochs + n;
    d->tune.sched = (cnas_schedule){CNAS_SCHED_COSINE,
                                    d->env->train->lr * (float)cnas_params_float(p, "proj_lr_factor"),
                                    d->env->train->lr_min, n};
    if (!(d->tune_opt = cnas_sgd_from_settings(d->env->train, d->weights, d->n_weights, err)))
        return err->code;
    return CNAS_OK;
}

void darts_select_fini(darts *d)
{
    cnas_proj_free(d->proj);
    cnas_loop_free(&d->tune);
    cnas_optim_free(d->tune_opt);
}

bool darts_tuning(const darts *d)
{
    return d->proj && d->loop.epoch >= d->loop.epochs;
}

cnas_optim *darts_weight_optim(darts *d)
{
    return darts_tuning(d) ? d->tune_opt : d->w_opt;
}

const cnas_mix_weight *darts_mix(darts *d, cnas_graph *g)
{
    return darts_tuning(d) ? cnas_proj_mix(d->proj, g)
                           : cnas_archparams_mix(d->ap, g, CNAS_AP_SOFTMAX, NULL);
}

cnas_status darts_derive(darts *d, cnas_arch *out, cnas_error *err)
{
    return darts_tuning(d) ? cnas_proj_derive(d->proj, out, err)
                           : cnas_archparams_derive(d->ap, CNAS_AP_SOFTMAX, out, err);
}

/* The reference evaluates every masked supernet with batch statistics (training mode,
 * no gradients). */
static cnas_tensor *proj_logits(cnas_graph *g, cnas_tensor *x, const cnas_mix_weight *mix,
                                void *ctx)
{
    return darts_logits(ctx, g, x, mix, true);
}

static cnas_status tune_begin(void *self, int64_t epoch, bool fresh, cnas_error *err)
{
    (void)fresh; /* a decision in progress resumes from its own state */
    darts *d = self;
    return cnas_proj_begin_epoch(d->proj, epoch - d->loop.epochs, epoch, proj_logits, d, err);
}

static cnas_status tune_end(void *self, int64_t epoch, cnas_error *err)
{
    return darts_end_epoch(self, epoch, err);
}

cnas_status darts_select_run(darts *d, cnas_status (*step)(void *, cnas_loop_step *, cnas_error *),
                             cnas_error *err)
{
    if (!d->perturb)
        return CNAS_OK;
    cnas_loop_hooks h = {sizeof h, tune_begin, step, tune_end};
    return cnas_loop_run(&d->tune, &h, d, err);
}

cnas_status darts_select_io(darts *d, cnas_ckio *io)
{
    if (!d->perturb)
        return CNAS_OK;
    char name[64];
    snprintf(name, sizeof name, "%s.tune", d->name);
    cnas_loop_io(&d->tune, io, name);
    snprintf(name, sizeof name, "%s.tune_opt", d->name);
    cnas_ckio_optim(io, name, d->tune_opt);
    return cnas_proj_io(d->proj, io, d->name);
}
