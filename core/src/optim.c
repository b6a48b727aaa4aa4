/* SGD and Adam with PyTorch's update rules (see optim.h). Updates are elementwise
 * and parallel over elements; the global gradient norm is a fixed-order reduction. */
#include <cnas/optim.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/dist.h>

#include "internal.h"

typedef enum { OPT_SGD, OPT_ADAM } opt_kind;

struct cnas_optim {
    opt_kind kind;
    cnas_sgd_opts sgd;
    cnas_adam_opts adam;
    int n;
    cnas_tensor **params;
    float **state;          /* n * per buffers, NULL until created */
    int per;
    int64_t steps;
};

static cnas_optim *optim_new(opt_kind kind, cnas_tensor *const *params, int n, int per, cnas_error *err)
{
    if (n < 0 || (n > 0 && !params)) {
        cnas_error_set(err, CNAS_ERR_INVALID, "optimizer: %d parameters", n);
        return NULL;
    }
    cnas_optim *o = calloc(1, sizeof *o);
    if (o) {
        o->params = calloc((size_t)(n ? n : 1), sizeof *o->params);
        o->state = calloc((size_t)(n ? n : 1) * (size_t)per, sizeof *o->state);
    }
    if (!o || !o->params || !o->state) {
        cnas_optim_free(o);
        cnas_error_set(err, CNAS_ERR_NOMEM, "optimizer: out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!params[i]) {
            cnas_optim_free(o);
            cnas_error_set(err, CNAS_ERR_INVALID, "optimizer: parameter %d is NULL", i);
            return NULL;
        }
        o->params[i] = params[i];
    }
    o->kind = kind;
    o->n = n;
    o->per = per;
    return o;
}

cnas_optim *cnas_sgd_new(cnas_tensor *const *params, int n, const cnas_sgd_opts *opts, cnas_error *err)
{
    cnas_sgd_opts s = opts ? *opts : (cnas_sgd_opts){0};
    if (s.momentum < 0 || s.weight_decay < 0 || (s.nesterov && (s.momentum <= 0 || s.dampening != 0))) {
        cnas_error_set(err, CNAS_ERR_INVALID, "sgd: momentum %g, dampening %g, weight decay %g, "
                       "nesterov %d; Nesterov needs momentum > 0 and no dampening",
                       (double)s.momentum, (double)s.dampening, (double)s.weight_decay, s.nesterov);
        return NULL;
    }
    cnas_optim *o = optim_new(OPT_SGD, params, n, 1, err);
    if (o)
        o->sgd = s;
    return o;
}

cnas_optim *cnas_adam_new(cnas_tensor *const *params, int n, const cnas_adam_opts *opts, cnas_error *err)
{
    cnas_adam_opts a = opts ? *opts : (cnas_adam_opts){0};
    if (a.beta1 == 0.0f && a.beta2 == 0.0f) {
        a.beta1 = 0.9f;
        a.beta2 = 0.999f;
    }
    if (a.eps == 0.0f)
        a.eps = 1e-8f;
    if (a.beta1 < 0 || a.beta1 >= 1 || a.beta2 < 0 || a.beta2 >= 1 || a.eps < 0 || a.weight_decay < 0) {
        cnas_error_set(err, CNAS_ERR_INVALID, "adam: betas (%g, %g), eps %g, weight decay %g; "
                       "expected betas in [0, 1)", (double)a.beta1, (double)a.beta2, (double)a.eps,
                       (double)a.weight_decay);
        return NULL;
    }
    cnas_optim *o = optim_new(OPT_ADAM, params, n, 2, err);
    if (o)
        o->adam = a;
    return o;
}

void cnas_optim_free(cnas_optim *o)
{
    if (!o)
        return;
    if (o->state)
        for (int i = 0; i < o->n * o->per; i++)
            free(o->state[i]);
    free(o->state);
    free(o->params);
    free(o);
}

int cnas_optim_param_count(const cnas_optim *o) { return o->n; }
cnas_tensor *cnas_optim_param(const cnas_optim *o, int i) { return o->params[i]; }
int64_t cnas_optim_steps(const cnas_optim *o) { return o->steps; }
void cnas_optim_set_steps(cnas_optim *o, int64_t steps) { o->steps = steps; }
int cnas_optim_state_buffers_per_param(const cnas_optim *o) { return o->per; }

float *cnas_optim_state_buffer(cnas_optim *o, int param, int which, bool create)
{
    if (param < 0 || param >= o->n || which < 0 || which >= o->per)
        return NULL;
    float **slot = &o->state[param * o->per + which];
    if (!*slot && create)
        *slot = calloc((size_t)o->params[param]->numel, sizeof(float));
    return *slot;
}

void cnas_optim_zero_grad(cnas_optim *o)
{
    for (int i = 0; i < o->n; i++)
        cnas_tensor_zero_grad(o->params[i]);
}

/* The momentum buffer is created on the first step and set to g there (PyTorch), so
 * a restored buffer (non-NULL) continues the running average instead. Returns false
 * when the buffer cannot be allocated. */
static bool sgd_update(const cnas_sgd_opts *s, float *p, const float *gr, float **bufp, int64_t len,
                       float lr)
{
    float mu = s->momentum, wd = s->weight_decay, damp = 1.0f - s->dampening;
    float *buf = *bufp;
    bool first = false;
    if (mu != 0.0f && !buf) {
        buf = *bufp = malloc((size_t)len * sizeof(float));
        if (!buf)
            return false;
        first = true;
    }
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
    for (int64_t k = 0; k < len; k++) {
        float g = gr[k] + wd * p[k];
        if (mu != 0.0f) {
            float b = first ? g : mu * buf[k] + damp * g;
            buf[k] = b;
            g = s->nesterov ? g + mu * b : b;
        }
        p[k] -= lr * g;
    }
    return true;
}

/* The reduction point of a data-parallel run (dist.h): every optimizer step of every
 * strategy passes here, so the gradients of weights and architecture parameters alike
 * are reduced across ranks before any update. With one rank it returns at once. */
cnas_status cnas_optim_step(cnas_optim *o, float lr, cnas_error *err)
{
    cnas_status st = cnas_dist_reduce_grads(o->params, o->n, cnas_dist_arch_weight(), err);
    return st ? st : cnas__optim_step_reduced(o, lr, err);
}

cnas_status cnas__optim_step_reduced(cnas_optim *o, float lr, cnas_error *err)
{
    o->steps++;
    for (int i = 0; i < o->n; i++) {
        cnas_tensor *t = o->params[i];
        if (!t->grad)
            continue;
        int64_t len = t->numel;
        float *p = t->data;
        const float *gr = t->grad;
        if (o->kind == OPT_SGD) {
            /* SGD keeps one buffer per parameter, so state[i] is parameter i's. */
            if (!sgd_update(&o->sgd, p, gr, &o->state[i], len, lr))
                return cnas_error_set(err, CNAS_ERR_NOMEM, "sgd: out of memory for the momentum "
                                      "buffer of parameter %d (%lld floats)", i, (long long)len);
            continue;
        }
        float *m = cnas_optim_state_buffer(o, i, 0, true), *v = cnas_optim_state_buffer(o, i, 1, true);
        if (!m || !v)
            return cnas_error_set(err, CNAS_ERR_NOMEM, "adam: out of memory");
        const cnas_adam_opts *a = &o->adam;
        double bc1 = 1.0 - pow(a->beta1, (double)o->steps);
        double bc2 = 1.0 - pow(a->beta2, (double)o->steps);
        float step = (float)(lr / bc1);
        float sbc2 = (float)sqrt(bc2);
#pragma omp parallel for schedule(static) if (len >= CNAS_PAR_MIN)
        for (int64_t k = 0; k < len; k++) {
            float g = gr[k] + a->weight_decay * p[k];
            m[k] = a->beta1 * m[k] + (1.0f - a->beta1) * g;
            v[k] = a->beta2 * v[k] + (1.0f - a->beta2) * g * g;
            p[k] -= step * m[k] / (sqrtf(v[k]) / sbc2 + a->eps);
        }
    }
    return CNAS_OK;
}

float cnas_clip_grad_norm(cnas_tensor *const *params, int n, float max_norm)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const cnas_tensor *t = params[i];
        if (!t->grad)
            continue;
        double s = 0.0;
        for (int64_t k = 0; k < t->numel; k++)
            s += (double)t->grad[k] * t->grad[k];
        total += s;
    }
    double norm = sqrt(total);
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0)
        for (int i = 0; i < n; i++) {
            cnas_tensor *t = params[i];
            if (!t->grad)
                continue;
            float c = (float)coef;
            for (int64_t k = 0; k < t->numel; k++)
                t->grad[k] *= c;
        }
    return (float)norm;
}
