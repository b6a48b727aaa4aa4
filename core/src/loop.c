/* The search-loop skeleton (loop.h). */
#include <cnas/loop.h>

#include <math.h>
#include <stdio.h>

#include <cnas/kit.h>

cnas_status cnas_loop_init(cnas_loop *l, cnas_search_env *env, const char *name, bool want_val,
                           cnas_error *err)
{
    *l = (cnas_loop){0};
    l->env = env;
    l->name = name;
    l->want_val = want_val;
    l->epochs = env->train->epochs;
    l->sched = cnas_schedule_from_settings(env->train);
    l->g = cnas_graph_new(err);
    return l->g ? CNAS_OK : err->code;
}

void cnas_loop_free(cnas_loop *l)
{
    cnas_graph_free(l->g);
    l->g = NULL;
}

/* Write a checkpoint at the position reached, then report the interruption. */
static cnas_status stop_here(cnas_loop *l, cnas_error *err)
{
    cnas_status st = l->env->checkpoint_point(l->env, l->epoch, l->step, false, err);
    if (st)
        return st;
    return cnas_error_set(err, CNAS_ERR_INTERRUPTED, "%s: stopped at epoch %lld step %lld",
                          l->name, (long long)l->epoch, (long long)l->step);
}

static cnas_status run_epoch(cnas_loop *l, const cnas_loop_hooks *h, void *self, cnas_error *err)
{
    cnas_search_env *env = l->env;
    /* The schedule spans the loop's last sched.total epochs: a later phase (fine-tuning
     * after a search) runs epochs [first, epochs) on a schedule of its own length. */
    int64_t first = l->sched.total > 0 && l->sched.total < l->epochs ? l->epochs - l->sched.total : 0;
    float lr = cnas_schedule_lr(&l->sched, l->epoch - first);
    cnas_status st;
    if ((st = env->begin_epoch(env, l->epoch, err)))
        return st;
    if (h->begin_epoch && (st = h->begin_epoch(self, l->epoch, l->step == 0, err)))
        return st;
    for (;;) {
        if (env->stop_requested(env))
            return stop_here(l, err);
        cnas_graph_reset(l->g);
        cnas_loop_step s = {l->epoch, l->step, lr, l->g, NULL, NULL, NULL, NULL, NAN, -1};
        int r = env->next_batch(env, CNAS_STREAM_TRAIN, l->g, &s.x, &s.y, err);
        if (r < 0)
            return err->code;
        if (r == 0)
            break;
        if (l->want_val) {
            r = env->next_batch(env, CNAS_STREAM_VAL_CYCLE, l->g, &s.xv, &s.yv, err);
            if (r <= 0)
                return r < 0 ? err->code
                             : cnas_error_set(err, CNAS_ERR_INVALID, "%s: the validation split "
                                              "is empty (train_portion must be < 1)", l->name);
        }
        if ((st = h->step(self, &s, err)))
            return cnas_error_prefix(err, "%s: epoch %lld step %lld", l->name,
                                     (long long)l->epoch, (long long)l->step);
        env->metric(env, "lr", lr);
        if (!isnan(s.loss))
            env->metric(env, "train_loss", s.loss);
        if (s.correct >= 0)
            env->metric(env, "train_acc", (double)s.correct / (double)s.x->shape[0]);
        l->step++;
        env->end_step(env, l->epoch, l->step);
        if ((st = env->checkpoint_point(env, l->epoch, l->step, false, err)))
            return st;
    }
    return CNAS_OK;
}

cnas_status cnas_loop_run(cnas_loop *l, const cnas_loop_hooks *h, void *self, cnas_error *err)
{
    cnas_search_env *env = l->env;
    cnas_status st;
    if (!h || !h->step)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: the loop needs a step function",
                              l->name);
    while (l->epoch < l->epochs) {
        if ((st = run_epoch(l, h, self, err)))
            return st;
        if (h->end_epoch && (st = h->end_epoch(self, l->epoch, err)))
            return cnas_error_prefix(err, "%s: end of epoch %lld", l->name, (long long)l->epoch);
        env->end_epoch(env, l->epoch);
        l->epoch++;
        l->step = 0;
        if ((st = env->checkpoint_point(env, l->epoch, 0, true, err)))
            return st;
    }
    return CNAS_OK;
}

cnas_status cnas_loop_io(cnas_loop *l, cnas_ckio *io, const char *prefix)
{
    char name[160];
    snprintf(name, sizeof name, "%s.epoch", prefix);
    cnas_ckio_i64(io, name, &l->epoch);
    snprintf(name, sizeof name, "%s.step", prefix);
    return cnas_ckio_i64(io, name, &l->step);
}
