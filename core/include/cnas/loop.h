/* cnas/loop.h — the search-loop skeleton every strategy runs on.
 *
 * The loop owns what every strategy repeats and what is easy to get subtly wrong on
 * resume: epochs and steps, the weight learning rate of the epoch ([train]
 * schedule), a train batch per step (and a validation batch when asked), the
 * lr / train_loss / train_acc metrics, env->end_step and env->end_epoch, a
 * checkpoint point after every step and at every epoch end, the stop flag, and the
 * position (epoch, step) saved in checkpoints. The strategy supplies a step
 * function: its paper's update rule for one batch.
 *
 *     static cnas_status my_step(void *self, cnas_loop_step *s, cnas_error *err)
 *     {
 *         ... forward / backward / optimizer on s->x, s->y (and s->xv, s->yv) ...
 *         s->loss = loss;          // reported as train_loss (NaN: not reported)
 *         s->correct = correct;    // top-1 hits on s->x: train_acc
 *         return CNAS_OK;
 *     }
 *     static const cnas_loop_hooks hooks = {sizeof hooks, NULL, my_step, my_end_epoch};
 *     ...
 *     cnas_loop_init(&me->loop, env, "mine", true, &err);       // in create
 *     st = cnas_loop_run(&me->loop, &hooks, me, &err);        // in run
 *     if (st) return st;           // CNAS_ERR_INTERRUPTED after a stop (checkpointed)
 *     ... final selection, env->report ...
 *     cnas_loop_io(&me->loop, io, "mine");                    // in the ckio routine
 *
 * Step numbering (docs/strategies.md): a step's position is (epoch, step) with step
 * counting from 0; after it the loop calls end_step and checkpoint_point with step +
 * 1, the number of steps done in the epoch (no checkpoint point after the epoch's
 * last step: the epoch end's follows at once); at the end of epoch e it calls
 * end_epoch(e), then checkpoint_point(e + 1, 0, epoch_end = true). A checkpoint
 * therefore always names the next step to run, and a resumed run continues there:
 * begin_epoch is called again for a resumed epoch, with fresh = false when it
 * resumes mid-way (env->begin_epoch does not reshuffle an epoch already under way).
 *
 * Data parallel (mpirun, docs/distributed.md): s->x / s->y and s->xv / s->yv are this
 * rank's rows of the global batches; batch norm in the step uses the global batch's
 * statistics, the optimizer steps reduce gradients across ranks, and s->loss /
 * s->correct are combined into the global batch's before they are reported. */
#ifndef CNAS_LOOP_H
#define CNAS_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/ckio.h>
#include <cnas/optim.h>
#include <cnas/strategy.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnas_loop_step {
    int64_t epoch, step;          /* this step's position (step from 0) */
    float lr;                     /* the weight learning rate of this epoch (a step that uses
                                   * another sets it here: the lr metric logs this value) */
    cnas_graph *g;                /* the graph holding the batches; reset before each step */
    cnas_tensor *x;               /* the train batch [B, C, H, W] and its labels */
    const int32_t *y;
    cnas_tensor *xv;              /* a VAL_CYCLE batch when the loop was asked for one */
    const int32_t *yv;
    /* Set by the step function. */
    float loss;                   /* train_loss; NaN (the default) reports none */
    int64_t correct;              /* top-1 hits on x, for train_acc; -1 (default) reports none */
    /* Appended in 1.3. The global train batch's rows: x holds this rank's share of them in
     * a data-parallel run (dist.h), all of them otherwise. A step that makes a batch of
     * its own the size of the train batch (DASGM's synthetic one) sizes it by this. */
    int64_t rows;
} cnas_loop_step;

typedef struct cnas_loop_hooks {
    uint32_t size;                /* sizeof(cnas_loop_hooks) */
    /* Optional: at the start of every epoch run (fresh = false when resuming mid-epoch). */
    cnas_status (*begin_epoch)(void *self, int64_t epoch, bool fresh, cnas_error *err);
    /* Required: one step. */
    cnas_status (*step)(void *self, cnas_loop_step *s, cnas_error *err);
    /* Optional: after the epoch's last step, before its metrics record and checkpoint
     * (evaluate, log the architecture, set epoch metrics). */
    cnas_status (*end_epoch)(void *self, int64_t epoch, cnas_error *err);
} cnas_loop_hooks;

typedef struct cnas_loop {
    cnas_search_env *env;
    const char *name;             /* for messages ("darts: epoch 3 step 7: ...") */
    bool want_val;                /* draw a VAL_CYCLE batch every step */
    int64_t epochs;               /* [train] epochs: the loop runs epochs [epoch, epochs) */
    cnas_schedule sched;          /* [train] learning-rate schedule, per epoch; it spans the
                                   * last sched.total epochs, so a second phase (e.g. the
                                   * fine-tuning of cnas/projection.h) sets epoch, epochs
                                   * and a schedule of its own length, and its epochs keep
                                   * counting after the search's */
    int64_t epoch, step;          /* position: the next step to run */
    cnas_graph *g;                /* batches */
} cnas_loop;

cnas_status cnas_loop_init(cnas_loop *l, cnas_search_env *env, const char *name, bool want_val,
                           cnas_error *err);
void cnas_loop_free(cnas_loop *l);
/* Run from the current position to the end of the last epoch. CNAS_OK when done;
 * CNAS_ERR_INTERRUPTED when a stop was requested (a checkpoint was written first);
 * any failure prefixed with "<name>: epoch E step S". */
cnas_status cnas_loop_run(cnas_loop *l, const cnas_loop_hooks *h, void *self, cnas_error *err);
/* The position, as "<prefix>.epoch" and "<prefix>.step". */
cnas_status cnas_loop_io(cnas_loop *l, cnas_ckio *io, const char *prefix);

#ifdef __cplusplus
}
#endif
#endif
