/* cnas/kit.h — the strategy kit: what every search strategy needs besides its
 * paper's update rule.
 *
 *   ckio.h        one checkpoint routine for save and load (put / get mode)
 *   archparams.h  architecture-parameter sets: tie, init, transform, derive, history
 *   loop.h        the search-loop skeleton: epochs, steps, batches, metrics,
 *                 checkpoint points, the stop flag, the resume position
 *   projection.h  perturbation-based selection of the final architecture
 * and, below, the small helpers: a space's trainable tensors, optimizers and
 * schedules from [train], the weight update (the one gradient reduction point),
 * top-1 counting, single-path forwards and losses.
 *
 * docs/strategies.md walks through a complete strategy built on the kit;
 * examples/plugins/random_search is a complete one (random search with weight
 * sharing, exactly resumable in training and in its evaluation phase). */
#ifndef CNAS_KIT_H
#define CNAS_KIT_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/archparams.h>
#include <cnas/ckio.h>
#include <cnas/loop.h>
#include <cnas/optim.h>
#include <cnas/space.h>
#include <cnas/strategy.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The trainable (CNAS_ROLE_PARAM) tensors of a space instance, in its order; *out is
 * malloc'd (free it), the tensors are borrowed from the space. */
cnas_status cnas_space_param_tensors(const cnas_space_vtable *vt, void *space,
                                     cnas_tensor ***out, int *n, cnas_error *err);

/* SGD with [train]'s momentum, weight decay and Nesterov flag. */
cnas_optim *cnas_sgd_from_settings(const cnas_train_settings *t, cnas_tensor *const *params,
                                   int n, cnas_error *err);
/* [train]'s learning-rate schedule over its epochs. */
cnas_schedule cnas_schedule_from_settings(const cnas_train_settings *t);

/* The weight update after a gradient pass: the gradient reduction point (a
 * data-parallel run sums the ranks' gradients, each weighted by its share of the
 * step's TRAIN batch; dist.h), clipping to [train] grad_clip when clip is set, then
 * one optimizer step with lr. A direct cnas_optim_step reduces too (with the
 * VAL_CYCLE batch's shares when the step has one): every step is reduced once. */
cnas_status cnas_kit_update(cnas_search_env *env, cnas_optim *opt, float lr, bool clip,
                            cnas_error *err);

/* Top-1 hits of logits [N, K] against N labels (the first maximum wins). */
int64_t cnas_count_correct(const cnas_tensor *logits, const int32_t *labels);

/* Logits of a PATH forward of `arch` through a space instance (NULL: env->space). */
cnas_tensor *cnas_path_logits(cnas_search_env *env, void *space, cnas_graph *g, cnas_tensor *x,
                              const cnas_arch *arch, bool training);
/* A loss closure for cnas_grad_pass: cross-entropy ([train] label smoothing) of a PATH
 * forward; counts top-1 hits into `correct`. */
typedef struct cnas_path_batch {
    cnas_search_env *env;
    void *space;                  /* NULL: env->space */
    const cnas_arch *arch;
    cnas_tensor *x;
    const int32_t *y;
    int64_t correct;              /* out */
} cnas_path_batch;
cnas_tensor *cnas_path_loss(cnas_graph *g, void *path_batch);
/* A logits function for env->evaluate over a PATH forward (ctx: cnas_path_batch). */
cnas_tensor *cnas_path_eval_logits(cnas_graph *g, cnas_tensor *x, void *path_batch);

/* A growing text buffer for output files: put() never fails; the first allocation
 * failure sets oom and later text is dropped. */
typedef struct cnas_text {
    char *s;
    size_t n, cap;
    bool oom;
} cnas_text;
void cnas_text_put(cnas_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cnas_text_json_string(cnas_text *t, const char *s);
/* A JSON number, or null for NaN / infinity. */
void cnas_text_json_num(cnas_text *t, double v);
void cnas_text_free(cnas_text *t);

#ifdef __cplusplus
}
#endif
#endif
