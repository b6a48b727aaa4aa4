/* The search-loop skeleton (loop.h). */
#include <cnas/loop.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cnas/dist.h>
#include <cnas/kit.h>
#include <cnas/ops.h>

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

/* A data-parallel run hands each rank its rows of the global batch (dist.h): a new
 * tensor on the step's graph; the labels are the same buffer from row lo. */
static cnas_status take_rows(cnas_loop *l, cnas_tensor **x, const int32_t **y, double *weight,
                             cnas_error *err)
{
    int64_t n = (*x)->shape[0], lo, hi;
    cnas_dist_rows(n, &lo, &hi, weight);
    if (lo == 0 && hi == n)
        return CNAS_OK;
    int64_t row = (*x)->numel / n;
    int64_t shape[CNAS_MAX_DIMS];
    for (int d = 0; d < (*x)->ndim; d++)
        shape[d] = (*x)->shape[d];
    shape[0] = hi - lo;
    cnas_tensor *part = cnas_graph_tensor(l->g, (*x)->ndim, shape);
    if (!part)
        return cnas_error_set(err, cnas_graph_status(l->g), "%s: %s", l->name,
                              cnas_graph_error(l->g)->msg);
    memcpy(part->data, (*x)->data + lo * row, (size_t)((hi - lo) * row) * sizeof(float));
    *x = part;
    *y += lo;
    return CNAS_OK;
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
        cnas_loop_step s = {l->epoch, l->step, lr, l->g, NULL, NULL, NULL, NULL, NAN, -1, 0};
        int r = env->next_batch(env, CNAS_STREAM_TRAIN, l->g, &s.x, &s.y, err);
        if (r < 0)
            return err->code;
        if (r == 0)
            break;
        int64_t rows = s.x->shape[0];
        s.rows = rows;
        double w_train = 1.0, w_val = -1.0;
        if (cnas_dist_data_parallel() && (st = take_rows(l, &s.x, &s.y, &w_train, err)))
            return st;
        if (l->want_val) {
            r = env->next_batch(env, CNAS_STREAM_VAL_CYCLE, l->g, &s.xv, &s.yv, err);
            if (r <= 0)
                return r < 0 ? err->code
                             : cnas_error_set(err, CNAS_ERR_INVALID, "%s: the validation split "
                                              "is empty (train_portion must be < 1)", l->name);
            if (cnas_dist_data_parallel() && (st = take_rows(l, &s.xv, &s.yv, &w_val, err)))
                return st;
        }
        cnas_dist_step_weights(w_train, w_val);
        cnas_dist_sync_batch_stats(true);
        st = h->step(self, &s, err);
        cnas_dist_sync_batch_stats(false);
        if (st)
            return cnas_error_prefix(err, "%s: epoch %lld step %lld", l->name,
                                     (long long)l->epoch, (long long)l->step);
        /* Data parallel: the loss and hits of the global batch. */
        double loss = s.loss;
        int64_t correct = s.correct;
        if ((st = cnas_dist_step_end(&loss, &correct, s.x->shape[0] == rows, err)))
            return st;
        env->metric(env, "lr", s.lr);
        if (!isnan(loss))
            env->metric(env, "train_loss", loss);
        if (correct >= 0)
            env->metric(env, "train_acc", (double)correct / (double)rows);
        l->step++;
        env->end_step(env, l->epoch, l->step);
        cnas_dist_step_weights(1.0 / cnas_dist_size(), -1.0); /* outside a step: any batch is whole */
        /* After the epoch's last step its end follows at once, with a checkpoint point
         * of its own: a checkpoint here would resume into an epoch end whose step
         * metrics (the epoch record's train_loss, ...) the resumed run never saw. */
        if (l->step < env->batches_per_epoch(env, CNAS_STREAM_TRAIN) &&
            (st = env->checkpoint_point(env, l->epoch, l->step, false, err)))
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
