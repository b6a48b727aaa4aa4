/* The built-in trainer (trainer.h): a stand-alone network trained from scratch on
 * the strategy kit's loop, like any search. */
#include <cnas/trainer.h>

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/bilevel.h>
#include <cnas/dgconv.h>
#include <cnas/kit.h>
#include <cnas/ops.h>
#include <cnas/optim.h>

typedef struct trainer {
    cnas_search_env *env;
    cnas_tensor **weights;
    int n_weights;
    cnas_optim *opt;
    cnas_loop loop;
    cnas_graph *g;
    cnas_rng noise;             /* drop-path masks */
    cnas_data_stream eval_stream;
    double last_acc;            /* accuracy of the last evaluation */
    cnas_named_tensor *dg;      /* DGConv gate vectors of the network (cnas/dgconv.h) */
    int n_dg;
    float dg_penalty;           /* [train] dgconv_penalty */
} trainer;

typedef struct step_ctx {
    trainer *t;
    cnas_tensor *x;
    const int32_t *y;
    float drop_path;
    int64_t correct;
} step_ctx;

static void trainer_destroy(void *self)
{
    trainer *t = self;
    if (!t)
        return;
    free(t->weights);
    free(t->dg);
    cnas_optim_free(t->opt);
    cnas_loop_free(&t->loop);
    cnas_graph_free(t->g);
    free(t);
}

static cnas_status trainer_create(const cnas_params *p, cnas_search_env *env, void **self,
                                  cnas_error *err)
{
    (void)p;
    trainer *t = calloc(1, sizeof *t);
    if (!t)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "trainer: out of memory");
    t->env = env;
    cnas_status st;
    if ((st = cnas_space_param_tensors(env->space_vt, env->space, &t->weights, &t->n_weights,
                                       err)) ||
        (st = cnas_loop_init(&t->loop, env, "training", false, err)) ||
        (st = cnas_dgconv_find(env->space_vt, env->space, &t->dg, &t->n_dg, err))) {
        trainer_destroy(t);
        return st;
    }
    if (!(t->opt = cnas_sgd_from_settings(env->train, t->weights, t->n_weights, err)) ||
        !(t->g = cnas_graph_new(err))) {
        trainer_destroy(t);
        return err->code;
    }
    /* Nothing here reads an intermediate gradient: let backward recycle them (graph.h). */
    cnas_graph_set_release_grads(t->g, true);
    cnas_rng_init(&t->noise, env->seed, "drop_path");
    const cnas_train_settings *ts = env->train;
    if (ts->size >= offsetof(cnas_train_settings, dgconv_penalty) + sizeof ts->dgconv_penalty)
        t->dg_penalty = ts->dgconv_penalty;
    if (t->dg_penalty > 0.0f && t->n_dg == 0)
        env->log(env, CNAS_LOG_WARN, "[train] dgconv_penalty = %g, but the network has no DGConv "
                 "layers: no regulariser", (double)t->dg_penalty);
    t->eval_stream =
        env->batches_per_epoch(env, CNAS_STREAM_VAL) > 0 ? CNAS_STREAM_VAL : CNAS_STREAM_TEST;
    *self = t;
    return CNAS_OK;
}

static cnas_tensor *train_loss(cnas_graph *g, void *vctx)
{
    step_ctx *c = vctx;
    trainer *t = c->t;
    cnas_tensor *aux = NULL;
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, NULL, true, &t->noise,
                                  c->drop_path, &aux};
    cnas_tensor *logits = t->env->space_vt->forward(t->env->space, g, c->x, &fa);
    if (!logits)
        return NULL;
    c->correct = cnas_count_correct(logits, c->y);
    float ls = t->env->train->label_smoothing;
    cnas_tensor *loss = cnas_cross_entropy(g, logits, c->y, ls);
    if (aux && t->env->train->auxiliary_weight > 0.0f)
        loss = cnas_add(g, loss, cnas_scale(g, cnas_cross_entropy(g, aux, c->y, ls),
                                            t->env->train->auxiliary_weight));
    if (t->dg_penalty > 0.0f && t->n_dg > 0) /* the DGConv regulariser (cnas/dgconv.h) */
        loss = cnas_add(g, loss, cnas_dgconv_penalty(g, t->dg, t->n_dg, t->dg_penalty));
    return loss;
}

static cnas_tensor *eval_logits(cnas_graph *g, cnas_tensor *x, void *ctx)
{
    trainer *t = ctx;
    return cnas_path_logits(t->env, NULL, g, x, NULL, false);
}

/* Drop-path p·epoch/epochs (DARTS train.py), clipping, SGD with the schedule. */
static cnas_status trainer_step(void *self, cnas_loop_step *s, cnas_error *err)
{
    trainer *t = self;
    const cnas_train_settings *ts = t->env->train;
    step_ctx c = {t, s->x, s->y, ts->drop_path * (float)s->epoch / (float)ts->epochs, 0};
    cnas_status st = cnas_grad_pass(t->g, train_loss, &c, t->weights, t->n_weights, NULL, 0,
                                    &s->loss, err);
    s->correct = c.correct;
    return st ? st : cnas_kit_update(t->env, t->opt, s->lr, true, err);
}

static cnas_status evaluate(trainer *t, cnas_data_stream stream, double *acc, cnas_error *err)
{
    cnas_search_env *env = t->env;
    double loss;
    cnas_status st = env->evaluate(env, stream, eval_logits, t, &loss, acc, err);
    if (st)
        return st;
    const char *which = stream == CNAS_STREAM_VAL ? "val" : "test";
    char name[32];
    snprintf(name, sizeof name, "%s_loss", which);
    env->metric(env, name, loss);
    snprintf(name, sizeof name, "%s_acc", which);
    env->metric(env, name, *acc);
    return CNAS_OK;
}

/* After each epoch: the test split (or validation, when one exists). */
static cnas_status trainer_end_epoch(void *self, int64_t epoch, cnas_error *err)
{
    trainer *t = self;
    cnas_status st = evaluate(t, t->eval_stream, &t->last_acc, err);
    if (!st)
        t->env->log(t->env, CNAS_LOG_INFO, "epoch %lld: %s accuracy %.4f", (long long)epoch,
                    t->eval_stream == CNAS_STREAM_VAL ? "val" : "test", t->last_acc);
    if (!st && t->n_dg > 0) /* the learned group counts, per epoch */
        st = cnas_dgconv_report(t->env, t->dg, t->n_dg, epoch, "dgconv_groups.tsv", false, err);
    return st;
}

static const cnas_loop_hooks trainer_hooks = {sizeof trainer_hooks, NULL, trainer_step,
                                              trainer_end_epoch};

static cnas_status trainer_run(void *self, cnas_error *err)
{
    trainer *t = self;
    cnas_search_env *env = t->env;
    cnas_status st = cnas_loop_run(&t->loop, &trainer_hooks, t, err);
    if (st)
        return st;
    if (t->n_dg > 0 && (st = cnas_dgconv_report(env, t->dg, t->n_dg, -1, NULL, true, err)))
        return st;
    double acc = t->last_acc;
    if (t->eval_stream != CNAS_STREAM_TEST || env->train->epochs == 0) {
        /* The epochs were judged on validation data: now the test split, once. */
        if ((st = evaluate(t, CNAS_STREAM_TEST, &acc, err)))
            return st;
        env->log(env, CNAS_LOG_INFO, "test accuracy %.4f", acc);
    }
    return env->report(env, 0, NULL, acc, err);
}

static cnas_status trainer_io(trainer *t, cnas_ckio *io)
{
    cnas_loop_io(&t->loop, io, "trainer");
    cnas_ckio_rng(io, "trainer.rng.drop_path", &t->noise);
    cnas_ckio_f64(io, "trainer.last_acc", &t->last_acc);
    return cnas_ckio_optim(io, "trainer.opt", t->opt);
}

static cnas_status trainer_save(void *self, cnas_ckpt *ck, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_put(ck, err);
    return trainer_io(self, &io);
}

static cnas_status trainer_load(void *self, const cnas_ckpt *ck, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_get(ck, err);
    return trainer_io(self, &io);
}

static const cnas_strategy_vtable trainer_vt = {
    sizeof(cnas_strategy_vtable), trainer_create, trainer_destroy, trainer_run, trainer_save,
    trainer_load, NULL, /* memory: the host estimates a training run itself */
};

const cnas_strategy_vtable *cnas_trainer_vtable(void)
{
    return &trainer_vt;
}

const cnas_param_spec cnas_trainer_keys[] = {{0}};
const int cnas_trainer_n_keys = 0;
