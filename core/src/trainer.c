#include <cnas/trainer.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/bilevel.h>
#include <cnas/ops.h>
#include <cnas/optim.h>

typedef struct trainer {
    cnas_search_env *env;
    cnas_tensor **weights;
    int n_weights;
    cnas_optim *opt;
    cnas_schedule sched;
    cnas_graph *g, *g_data;
    cnas_rng noise;             /* drop-path masks */
    int64_t epoch, step;
    double last_acc;            /* accuracy of the last evaluation */
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
    cnas_optim_free(t->opt);
    cnas_graph_free(t->g);
    cnas_graph_free(t->g_data);
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
    int n = env->space_vt->tensors(env->space, NULL, 0);
    cnas_named_tensor *all = malloc((size_t)(n > 0 ? n : 1) * sizeof *all);
    t->weights = malloc((size_t)(n > 0 ? n : 1) * sizeof *t->weights);
    if (!all || !t->weights) {
        free(all);
        trainer_destroy(t);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "trainer: out of memory");
    }
    n = env->space_vt->tensors(env->space, all, n);
    for (int i = 0; i < n; i++)
        if (all[i].role == CNAS_ROLE_PARAM)
            t->weights[t->n_weights++] = all[i].tensor;
    free(all);
    const cnas_train_settings *s = env->train;
    cnas_sgd_opts so = {.momentum = s->momentum, .weight_decay = s->weight_decay,
                        .nesterov = s->nesterov};
    if (!(t->opt = cnas_sgd_new(t->weights, t->n_weights, &so, err)) ||
        !(t->g = cnas_graph_new(err)) || !(t->g_data = cnas_graph_new(err))) {
        trainer_destroy(t);
        return err->code;
    }
    t->sched = (cnas_schedule){(cnas_schedule_kind)s->lr_schedule, s->lr, s->lr_min, s->epochs};
    cnas_rng_init(&t->noise, env->seed, "drop_path");
    *self = t;
    return CNAS_OK;
}

static int64_t correct_of(const cnas_tensor *logits, const int32_t *y)
{
    int64_t n = logits->shape[0], k = logits->shape[1], c = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *r = logits->data + i * k;
        int64_t b = 0;
        for (int64_t j = 1; j < k; j++)
            if (r[j] > r[b])
                b = j;
        c += b == y[i];
    }
    return c;
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
    c->correct = correct_of(logits, c->y);
    float ls = t->env->train->label_smoothing;
    cnas_tensor *loss = cnas_cross_entropy(g, logits, c->y, ls);
    if (aux && t->env->train->auxiliary_weight > 0.0f)
        loss = cnas_add(g, loss, cnas_scale(g, cnas_cross_entropy(g, aux, c->y, ls),
                                            t->env->train->auxiliary_weight));
    return loss;
}

static cnas_tensor *eval_logits(cnas_graph *g, cnas_tensor *x, void *ctx)
{
    trainer *t = ctx;
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, NULL, false, NULL, 0.0f, NULL};
    return t->env->space_vt->forward(t->env->space, g, x, &fa);
}

static cnas_status trainer_run(void *self, cnas_error *err)
{
    trainer *t = self;
    cnas_search_env *env = t->env;
    const cnas_train_settings *s = env->train;
    cnas_data_stream eval_stream =
        env->batches_per_epoch(env, CNAS_STREAM_VAL) > 0 ? CNAS_STREAM_VAL : CNAS_STREAM_TEST;
    cnas_status st;
    while (t->epoch < s->epochs) {
        float lr = cnas_schedule_lr(&t->sched, t->epoch);
        float dp = s->drop_path * (float)t->epoch / (float)s->epochs;
        if ((st = env->begin_epoch(env, t->epoch, err)))
            return st;
        for (;;) {
            if (env->stop_requested(env)) /* checkpoints, then reports the interruption */
                return env->checkpoint_point(env, t->epoch, t->step, false, err);
            cnas_graph_reset(t->g_data);
            step_ctx c = {t, NULL, NULL, dp, 0};
            int r = env->next_batch(env, CNAS_STREAM_TRAIN, t->g_data, &c.x, &c.y, err);
            if (r < 0)
                return err->code;
            if (r == 0)
                break;
            float loss;
            st = cnas_grad_pass(t->g, train_loss, &c, t->weights, t->n_weights, NULL, 0, &loss,
                                err);
            if (st)
                return cnas_error_prefix(err, "training epoch %lld step %lld",
                                         (long long)t->epoch, (long long)t->step);
            if (s->grad_clip > 0.0f)
                cnas_clip_grad_norm(t->weights, t->n_weights, s->grad_clip);
            if ((st = cnas_optim_step(t->opt, lr, err)))
                return st;
            env->metric(env, "lr", lr);
            env->metric(env, "train_loss", loss);
            env->metric(env, "train_acc", (double)c.correct / (double)c.x->shape[0]);
            t->step++;
            env->end_step(env, t->epoch, t->step);
            if ((st = env->checkpoint_point(env, t->epoch, t->step, false, err)))
                return st;
        }
        double loss, acc;
        if ((st = env->evaluate(env, eval_stream, eval_logits, t, &loss, &acc, err)))
            return st;
        const char *which = eval_stream == CNAS_STREAM_VAL ? "val" : "test";
        char name[32];
        snprintf(name, sizeof name, "%s_loss", which);
        env->metric(env, name, loss);
        snprintf(name, sizeof name, "%s_acc", which);
        env->metric(env, name, acc);
        env->log(env, CNAS_LOG_INFO, "epoch %lld: %s loss %.4f, %s accuracy %.4f",
                 (long long)t->epoch, which, loss, which, acc);
        t->last_acc = acc;
        env->end_epoch(env, t->epoch);
        t->epoch++;
        t->step = 0;
        if ((st = env->checkpoint_point(env, t->epoch, 0, true, err)))
            return st;
    }
    double acc = t->last_acc;
    if (eval_stream != CNAS_STREAM_TEST || s->epochs == 0) {
        /* The epochs were judged on validation data: now the test split, once. */
        double loss;
        if ((st = env->evaluate(env, CNAS_STREAM_TEST, eval_logits, t, &loss, &acc, err)))
            return st;
        env->metric(env, "test_loss", loss);
        env->metric(env, "test_acc", acc);
        env->log(env, CNAS_LOG_INFO, "test accuracy %.4f (loss %.4f)", acc, loss);
    }
    return env->report(env, 0, NULL, acc, err);
}

static cnas_status trainer_save(void *self, cnas_ckpt *ck, cnas_error *err)
{
    trainer *t = self;
    cnas_status st = cnas_ckpt_put_i64(ck, "trainer.epoch", t->epoch, err);
    if (!st)
        st = cnas_ckpt_put_i64(ck, "trainer.step", t->step, err);
    if (!st)
        st = cnas_ckpt_put_blob(ck, "trainer.rng.drop_path", &t->noise, sizeof t->noise, err);
    if (!st)
        st = cnas_ckpt_put_blob(ck, "trainer.last_acc", &t->last_acc, sizeof t->last_acc, err);
    if (!st)
        st = cnas_optim_save(t->opt, ck, "trainer.opt", err);
    return st;
}

static cnas_status trainer_load(void *self, const cnas_ckpt *ck, cnas_error *err)
{
    trainer *t = self;
    cnas_status st = cnas_ckpt_get_i64(ck, "trainer.epoch", &t->epoch, err);
    if (!st)
        st = cnas_ckpt_get_i64(ck, "trainer.step", &t->step, err);
    if (!st)
        st = cnas_ckpt_get_blob(ck, "trainer.rng.drop_path", &t->noise, sizeof t->noise, err);
    if (!st)
        st = cnas_ckpt_get_blob(ck, "trainer.last_acc", &t->last_acc, sizeof t->last_acc, err);
    if (!st)
        st = cnas_optim_load(t->opt, ck, "trainer.opt", err);
    return st;
}

static const cnas_strategy_vtable trainer_vt = {
    sizeof(cnas_strategy_vtable), trainer_create, trainer_destroy, trainer_run, trainer_save,
    trainer_load,
};

const cnas_strategy_vtable *cnas_trainer_vtable(void)
{
    return &trainer_vt;
}

const cnas_param_spec cnas_trainer_keys[] = {{0}};
const int cnas_trainer_n_keys = 0;
