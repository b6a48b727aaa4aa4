/* The small helpers of the strategy kit (kit.h). */
#include <cnas/kit.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <cnas/dist.h>
#include <cnas/ops.h>

#include "internal.h"

cnas_status cnas_space_param_tensors(const cnas_space_vtable *vt, void *space,
                                     cnas_tensor ***out, int *n, cnas_error *err)
{
    int total = vt->tensors(space, NULL, 0);
    cnas_named_tensor *all = malloc((size_t)(total > 0 ? total : 1) * sizeof *all);
    cnas_tensor **w = malloc((size_t)(total > 0 ? total : 1) * sizeof *w);
    if (!all || !w) {
        free(all);
        free(w);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "space tensors: out of memory");
    }
    total = vt->tensors(space, all, total);
    int k = 0;
    for (int i = 0; i < total; i++)
        if (all[i].role == CNAS_ROLE_PARAM)
            w[k++] = all[i].tensor;
    free(all);
    *out = w;
    *n = k;
    return CNAS_OK;
}

cnas_optim *cnas_sgd_from_settings(const cnas_train_settings *t, cnas_tensor *const *params,
                                   int n, cnas_error *err)
{
    cnas_sgd_opts so = {.momentum = t->momentum, .weight_decay = t->weight_decay,
                        .nesterov = t->nesterov};
    return cnas_sgd_new(params, n, &so, err);
}

cnas_schedule cnas_schedule_from_settings(const cnas_train_settings *t)
{
    return (cnas_schedule){(cnas_schedule_kind)t->lr_schedule, t->lr, t->lr_min, t->epochs};
}

cnas_status cnas_kit_update(cnas_search_env *env, cnas_optim *opt, float lr, bool clip,
                            cnas_error *err)
{
    /* The reduction point: a data-parallel run sums the ranks' gradients, each weighted
     * by its share of the step's TRAIN batch (dist.h), so clipping sees the global batch's
     * gradient; with one process the gradients are already the batch's. */
    cnas_status st = CNAS_OK;
    if (cnas_dist_data_parallel()) {
        int n = cnas_optim_param_count(opt);
        cnas_tensor *stack[256];
        cnas_tensor **p = n <= 256 ? stack : malloc((size_t)n * sizeof *p);
        if (!p)
            return cnas_error_set(err, CNAS_ERR_NOMEM, "weight update: out of memory");
        for (int i = 0; i < n; i++)
            p[i] = cnas_optim_param(opt, i);
        st = cnas_dist_reduce_grads(p, n, cnas_dist_train_weight(), err);
        if (p != stack)
            free(p);
        if (st)
            return st;
    }
    if (clip && env->train->grad_clip > 0.0f) {
        int n = cnas_optim_param_count(opt);
        cnas_tensor *stack[256];
        cnas_tensor **p = n <= 256 ? stack : malloc((size_t)n * sizeof *p);
        if (!p)
            return cnas_error_set(err, CNAS_ERR_NOMEM, "weight update: out of memory");
        for (int i = 0; i < n; i++)
            p[i] = cnas_optim_param(opt, i);
        cnas_clip_grad_norm(p, n, env->train->grad_clip);
        if (p != stack)
            free(p);
    }
    return cnas__optim_step_reduced(opt, lr, err);
}

int64_t cnas__argmax_row(const float *row, int64_t k)
{
    int64_t best = 0;
    for (int64_t j = 1; j < k; j++)
        if (row[j] > row[best])
            best = j;
    return best;
}

int64_t cnas_count_correct(const cnas_tensor *logits, const int32_t *labels)
{
    int64_t n = logits->shape[0], k = logits->shape[1], c = 0;
    for (int64_t i = 0; i < n; i++)
        c += cnas__argmax_row(logits->data + i * k, k) == labels[i];
    return c;
}

cnas_tensor *cnas_path_logits(cnas_search_env *env, void *space, cnas_graph *g, cnas_tensor *x,
                              const cnas_arch *arch, bool training)
{
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, arch, training, NULL, 0.0f,
                                  NULL};
    return env->space_vt->forward(space ? space : env->space, g, x, &fa);
}

cnas_tensor *cnas_path_loss(cnas_graph *g, void *path_batch)
{
    cnas_path_batch *b = path_batch;
    cnas_tensor *logits = cnas_path_logits(b->env, b->space, g, b->x, b->arch, true);
    if (!logits)
        return NULL;
    b->correct = cnas_count_correct(logits, b->y);
    return cnas_cross_entropy(g, logits, b->y, b->env->train->label_smoothing);
}

cnas_tensor *cnas_path_eval_logits(cnas_graph *g, cnas_tensor *x, void *path_batch)
{
    cnas_path_batch *b = path_batch;
    return cnas_path_logits(b->env, b->space, g, x, b->arch, false);
}

void cnas_text_put(cnas_text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->n;
        int k = t->s ? vsnprintf(t->s + t->n, room, fmt, ap) : -1;
        va_end(ap);
        if (k >= 0 && (size_t)k < room) {
            t->n += (size_t)k;
            return;
        }
        if (t->oom)
            return;
        size_t cap = t->cap ? 2 * t->cap : 4096;
        while (k >= 0 && cap - t->n <= (size_t)k)
            cap *= 2;
        char *grown = realloc(t->s, cap);
        if (!grown) {
            t->oom = true;
            return;
        }
        t->s = grown;
        t->cap = cap;
    }
}

void cnas_text_json_string(cnas_text *t, const char *s)
{
    cnas_text_put(t, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            cnas_text_put(t, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            cnas_text_put(t, "\\u%04x", (unsigned)(unsigned char)*s);
        else
            cnas_text_put(t, "%c", *s);
    }
    cnas_text_put(t, "\"");
}

void cnas_text_json_num(cnas_text *t, double v)
{
    if (isfinite(v))
        cnas_text_put(t, "%.6g", v);
    else
        cnas_text_put(t, "null");
}

void cnas_text_free(cnas_text *t)
{
    free(t->s);
    *t = (cnas_text){0};
}
