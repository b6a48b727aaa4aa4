/* cnas/optim.h — optimizers, gradient clipping, learning-rate schedules, init.
 *
 * An optimizer updates a fixed list of persistent tensors from their ->grad (a
 * tensor whose grad is still NULL is skipped, as PyTorch skips params with no
 * grad). Update rules are PyTorch's, so published hyper-parameters mean the same:
 *   SGD:  g += wd·p;  buf = μ·buf + (1-dampening)·g (buf = g at the first step);
 *         step = nesterov ? g + μ·buf : buf;  p -= lr·step
 *   Adam: g += wd·p (coupled L2);  m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
 *         p -= lr · (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + eps)
 * The state (momentum buffers, moments, step count) is exposed so a checkpoint can
 * store and restore it bit for bit. */
#ifndef CNAS_OPTIM_H
#define CNAS_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/checkpoint.h>
#include <cnas/rng.h>
#include <cnas/status.h>
#include <cnas/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnas_sgd_opts {
    float momentum;
    float dampening;
    float weight_decay;
    bool nesterov;
} cnas_sgd_opts;

typedef struct cnas_adam_opts {
    float beta1, beta2;  /* 0, 0 means 0.9, 0.999 */
    float eps;           /* 0 means 1e-8 */
    float weight_decay;  /* coupled L2, as torch.optim.Adam(weight_decay=...) */
} cnas_adam_opts;

typedef struct cnas_optim cnas_optim;

/* The optimizer borrows the tensors (they must outlive it). */
cnas_optim *cnas_sgd_new(cnas_tensor *const *params, int n, const cnas_sgd_opts *o, cnas_error *err);
cnas_optim *cnas_adam_new(cnas_tensor *const *params, int n, const cnas_adam_opts *o, cnas_error *err);
void cnas_optim_free(cnas_optim *o);

/* One update with learning rate lr. */
cnas_status cnas_optim_step(cnas_optim *o, float lr, cnas_error *err);
/* Zero every parameter's gradient. */
void cnas_optim_zero_grad(cnas_optim *o);

int cnas_optim_param_count(const cnas_optim *o);
cnas_tensor *cnas_optim_param(const cnas_optim *o, int i);
/* State for checkpoints: the step count, and per parameter its state buffers (SGD: the
 * momentum buffer; Adam: m then v), each numel floats; a buffer not yet created is
 * NULL. cnas_optim_state_buffer() creates it zeroed when `create` is set (restore). */
int64_t cnas_optim_steps(const cnas_optim *o);
void cnas_optim_set_steps(cnas_optim *o, int64_t steps);
int cnas_optim_state_buffers_per_param(const cnas_optim *o);
float *cnas_optim_state_buffer(cnas_optim *o, int param, int which, bool create);

/* Checkpoint records of an optimizer's state under a prefix ("<prefix>.steps",
 * "<prefix>.<param>.<buffer>"); buffers not created yet are not written, and are
 * left uncreated on load. */
cnas_status cnas_optim_save(cnas_optim *o, cnas_ckpt *ck, const char *prefix, cnas_error *err);
cnas_status cnas_optim_load(cnas_optim *o, const cnas_ckpt *ck, const char *prefix, cnas_error *err);

/* Scale the gradients so that their global L2 norm is at most max_norm (PyTorch's
 * clip_grad_norm_, with its 1e-6 guard). Returns the norm before clipping. */
float cnas_clip_grad_norm(cnas_tensor *const *params, int n, float max_norm);

/* ---- learning-rate schedules ------------------------------------------------ */

typedef enum cnas_schedule_kind {
    CNAS_SCHED_CONSTANT = 0,
    CNAS_SCHED_COSINE,   /* min + (base-min)·(1+cos(π·t/T))/2, as CosineAnnealingLR */
    CNAS_SCHED_LINEAR,   /* base + (min-base)·t/T */
} cnas_schedule_kind;

typedef struct cnas_schedule {
    cnas_schedule_kind kind;
    float base_lr;
    float min_lr;
    int64_t total;       /* T: epochs or steps, whichever the caller counts */
} cnas_schedule;

/* Learning rate at t (0-based); t beyond total holds the end value. */
float cnas_schedule_lr(const cnas_schedule *s, int64_t t);
/* Parse "constant" | "cosine" | "linear". */
cnas_status cnas_schedule_parse(const char *name, cnas_schedule_kind *out, cnas_error *err);

/* ---- initialisation (PyTorch defaults) --------------------------------------- */

/* Conv2d / Linear default: kaiming_uniform(a=√5) on the weight, i.e. U(-b, b) with
 * b = 1/√fan_in, and the bias U(-1/√fan_in, 1/√fan_in). fan_in = numel / shape[0]. */
void cnas_init_default_weight(cnas_tensor *w, cnas_rng *rng);
void cnas_init_default_bias(cnas_tensor *b, int64_t fan_in, cnas_rng *rng);
/* Kaiming normal (fan_out, relu), the usual ResNet choice. */
void cnas_init_kaiming_normal(cnas_tensor *w, cnas_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
