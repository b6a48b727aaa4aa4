/* The `darts` component: per batch the architecture step first, then the weight step
 * (docs/darts.md). */
#include "darts.h"

#include <stdlib.h>

#include "components.h"

cnas_status darts_step(void *self, cnas_loop_step *s, cnas_error *err)
{
    darts *d = self;
    darts_batch train = {.d = d, .x = s->x, .y = s->y}, val = {.d = d, .x = s->xv, .y = s->yv};
    cnas_status st = darts_arch_step(d, &train, &val, s->lr, err);
    if (!st)
        st = cnas_grad_pass(d->g, darts_batch_loss, &train, d->weights, d->n_weights,
                            cnas_archparams_tensors(d->ap), cnas_archparams_groups(d->ap),
                            &s->loss, err);
    if (!st)
        st = cnas_kit_update(d->env, darts_weight_optim(d), s->lr, true, err);
    s->correct = train.correct;
    return st;
}

static cnas_status darts_epoch_end(void *self, int64_t epoch, cnas_error *err)
{
    return darts_end_epoch(self, epoch, err);
}

static const cnas_loop_hooks darts_hooks = {sizeof darts_hooks, NULL, darts_step,
                                            darts_epoch_end};

static cnas_status darts_run(void *self, cnas_error *err)
{
    darts *d = self;
    cnas_status st = darts_start(d, err);
    if (!st)
        st = cnas_loop_run(&d->loop, &darts_hooks, d, err);
    if (!st)
        st = darts_select_run(d, darts_step, err); /* selection = perturbation */
    return st ? st : darts_finish(d, err);
}

static void darts_destroy(void *self)
{
    if (!self)
        return;
    darts_fini(self);
    free(self);
}

static cnas_status darts_create(const cnas_params *p, cnas_search_env *env, void **self,
                                cnas_error *err)
{
    darts *d = calloc(1, sizeof *d);
    if (!d)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "darts: out of memory");
    cnas_status st = darts_init(d, "darts", p, env, err);
    if (!st)
        st = darts_select_init(d, p, err);
    if (st) {
        darts_destroy(d);
        return st;
    }
    /* DARTS reads only leaf gradients (weights, α): backward may recycle the rest
     * (graph.h). Λ-DARTS reads its taps' gradients and keeps them. */
    cnas_graph_set_release_grads(d->g, true);
    *self = d;
    return CNAS_OK;
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

static cnas_status darts_memory_released(const cnas_params *p, cnas_strategy_memory *m,
                                         cnas_error *err)
{
    m->releases_grads = true; /* as darts_create sets it */
    return darts_memory(p, m, err);
}

const cnas_strategy_vtable darts_vtable = {
    sizeof(cnas_strategy_vtable), darts_create, darts_destroy, darts_run, darts_save, darts_load,
    darts_memory_released,
};
