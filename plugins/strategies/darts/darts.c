#include "darts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- set-up ------------------------------------------------------------------ */

static int find_group(darts *d, const char *key)
{
    for (int i = 0; i < d->n_groups; i++)
        if (strcmp(d->groups[i].key, key) == 0)
            return i;
    return -1;
}

static cnas_status make_groups(darts *d, cnas_error *err)
{
    d->groups = calloc((size_t)d->n_points, sizeof *d->groups);
    d->point_group = calloc((size_t)d->n_points, sizeof *d->point_group);
    d->mix = calloc((size_t)d->n_points, sizeof *d->mix);
    if (!d->groups || !d->point_group || !d->mix)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "darts: out of memory");
    int rows[1024] = {0}, cols[1024] = {0};
    for (int p = 0; p < d->n_points; p++) {
        const cnas_choice_point *cp = &d->points[p];
        char key[32];
        if (d->tie)
            snprintf(key, sizeof key, "%s", cp->share_key);
        else
            snprintf(key, sizeof key, "%s.%d", cp->share_key, cp->instance);
        int gi = find_group(d, key);
        if (gi < 0) {
            if (d->n_groups == 1024)
                return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "darts: more than 1024 groups");
            gi = d->n_groups++;
            snprintf(d->groups[gi].key, sizeof d->groups[gi].key, "%s", key);
            cols[gi] = cp->n_candidates;
        }
        if (cp->n_candidates != cols[gi])
            return cnas_error_set(err, CNAS_ERR_INVALID, "darts: choice point %s has %d "
                                  "candidates but its group '%s' has %d", cp->name,
                                  cp->n_candidates, key, cols[gi]);
        if (cp->local_index + 1 > rows[gi])
            rows[gi] = cp->local_index + 1;
        d->point_group[p] = gi;
        d->mix[p].row = cp->local_index;
    }
    d->alphas = calloc((size_t)d->n_groups, sizeof *d->alphas);
    if (!d->alphas)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "darts: out of memory");
    /* α = 1e-3·N(0, 1), group by group in order of first appearance. */
    cnas_rng rng;
    cnas_rng_init(&rng, d->env->seed, "arch_init");
    for (int gi = 0; gi < d->n_groups; gi++) {
        cnas_tensor *a = cnas_tensor_new(CNAS_SHAPE(rows[gi], cols[gi]), err);
        if (!a)
            return err->code;
        char name[48];
        snprintf(name, sizeof name, "alpha.%s", d->groups[gi].key);
        cnas_tensor_set_name(a, name);
        cnas_rng_fill_normal(&rng, a->data, a->numel, 0.0f, d->init_scale);
        d->groups[gi].alpha = a;
        d->alphas[gi] = a;
    }
    return CNAS_OK;
}

static cnas_status collect_weights(darts *d, cnas_error *err)
{
    const cnas_space_vtable *vt = d->env->space_vt;
    int n = vt->tensors(d->env->space, NULL, 0);
    cnas_named_tensor *all = malloc((size_t)(n > 0 ? n : 1) * sizeof *all);
    d->weights = malloc((size_t)(n > 0 ? n : 1) * sizeof *d->weights);
    if (!all || !d->weights) {
        free(all);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "darts: out of memory");
    }
    n = vt->tensors(d->env->space, all, n);
    for (int i = 0; i < n; i++)
        if (all[i].role == CNAS_ROLE_PARAM)
            d->weights[d->n_weights++] = all[i].tensor;
    free(all);
    return CNAS_OK;
}

static void darts_destroy(void *self);

static cnas_status darts_create(const cnas_params *p, cnas_search_env *env, void **self,
                                cnas_error *err)
{
    darts *d = calloc(1, sizeof *d);
    if (!d)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "darts: out of memory");
    d->env = env;
    d->order = (int)cnas_params_int(p, "order");
    d->arch_lr = (float)cnas_params_float(p, "arch_learning_rate");
    d->arch_beta1 = (float)cnas_params_float(p, "arch_beta1");
    d->arch_beta2 = (float)cnas_params_float(p, "arch_beta2");
    d->arch_wd = (float)cnas_params_float(p, "arch_weight_decay");
    d->radius = (float)cnas_params_float(p, "unrolled_radius");
    d->init_scale = (float)cnas_params_float(p, "init_scale");
    d->tie = cnas_params_bool(p, "tie_cells");
    d->eval_every = (int)cnas_params_int(p, "eval_every");
    cnas_status st;
    if (!env->space_vt->choice_points || !env->space_vt->derive) {
        st = cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "darts: the space offers no choice "
                            "points or no derivation rule");
        goto fail;
    }
    d->n_points = env->space_vt->choice_points(env->space, &d->points);
    if ((st = make_groups(d, err)) || (st = collect_weights(d, err)))
        goto fail;
    const cnas_train_settings *t = env->train;
    cnas_sgd_opts so = {.momentum = t->momentum, .weight_decay = t->weight_decay,
                        .nesterov = t->nesterov};
    cnas_adam_opts ao = {.beta1 = d->arch_beta1, .beta2 = d->arch_beta2, .eps = 1e-8f,
                         .weight_decay = d->arch_wd};
    if (!(d->w_opt = cnas_sgd_new(d->weights, d->n_weights, &so, err)) ||
        !(d->a_opt = cnas_adam_new(d->alphas, d->n_groups, &ao, err)) ||
        !(d->g = cnas_graph_new(err)) || !(d->g_data = cnas_graph_new(err)) ||
        !(d->arch = cnas_arch_new(d->n_points, err))) {
        st = err->code;
        goto fail;
    }
    d->sched = (cnas_schedule){(cnas_schedule_kind)t->lr_schedule, t->lr, t->lr_min, t->epochs};
    *self = d;
    return CNAS_OK;
fail:
    darts_destroy(d);
    return st;
}

static void darts_destroy(void *self)
{
    darts *d = self;
    if (!d)
        return;
    for (int i = 0; i < d->n_groups; i++)
        cnas_tensor_free(d->groups[i].alpha);
    free(d->groups);
    free(d->point_group);
    free(d->mix);
    free(d->alphas);
    free(d->weights);
    cnas_optim_free(d->w_opt);
    cnas_optim_free(d->a_opt);
    cnas_graph_free(d->g);
    cnas_graph_free(d->g_data);
    cnas_arch_free(d->arch);
    free(d);
}

/* ---- forward passes -------------------------------------------------------------- */

typedef struct batch_ctx {
    darts *d;
    cnas_tensor *x;
    const int32_t *y;
    int64_t correct;
} batch_ctx;

static int64_t count_correct(const cnas_tensor *logits, const int32_t *y)
{
    int64_t n = logits->shape[0], k = logits->shape[1], c = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = logits->data + i * k;
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (row[j] > row[best])
                best = j;
        c += best == y[i];
    }
    return c;
}

static cnas_tensor *mixture_logits(darts *d, cnas_graph *g, cnas_tensor *x, bool training)
{
    for (int gi = 0; gi < d->n_groups; gi++) {
        cnas_tensor *prob = cnas_softmax(g, d->groups[gi].alpha);
        if (!prob)
            return NULL;
        for (int p = 0; p < d->n_points; p++)
            if (d->point_group[p] == gi)
                d->mix[p].w = prob;
    }
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, d->mix, NULL, training, NULL,
                                  0.0f, NULL};
    return d->env->space_vt->forward(d->env->space, g, x, &fa);
}

static cnas_tensor *batch_loss(cnas_graph *g, void *vctx)
{
    batch_ctx *c = vctx;
    cnas_tensor *logits = mixture_logits(c->d, g, c->x, true);
    if (!logits)
        return NULL;
    c->correct = count_correct(logits, c->y);
    return cnas_cross_entropy(g, logits, c->y, c->d->env->train->label_smoothing);
}

static cnas_tensor *eval_logits(cnas_graph *g, cnas_tensor *x, void *ctx)
{
    return mixture_logits(ctx, g, x, false);
}

/* ---- one search step ----------------------------------------------------------------- */

static cnas_status arch_step(darts *d, batch_ctx *train, batch_ctx *val, float lr, cnas_error *err)
{
    cnas_status st;
    if (d->order == 1) {
        float loss;
        st = cnas_grad_pass(d->g, batch_loss, val, d->alphas, d->n_groups, d->weights,
                            d->n_weights, &loss, err);
        if (!st)
            d->env->metric(d->env, "arch_loss", loss);
    } else {
        const float **mom = malloc((size_t)d->n_weights * sizeof *mom);
        if (!mom)
            return cnas_error_set(err, CNAS_ERR_NOMEM, "darts: out of memory");
        for (int i = 0; i < d->n_weights; i++)
            mom[i] = cnas_optim_state_buffer(d->w_opt, i, 0, false);
        const cnas_train_settings *t = d->env->train;
        cnas_unrolled_args a = {d->weights, d->n_weights, d->alphas, d->n_groups, batch_loss,
                                train, batch_loss, val, lr, t->momentum, t->weight_decay,
                                (const float *const *)mom, d->radius};
        float loss;
        st = cnas_unrolled_alpha_grad(d->g, &a, &loss, err);
        free(mom);
        if (!st)
            d->env->metric(d->env, "arch_loss", loss);
    }
    if (st)
        return st;
    return cnas_optim_step(d->a_opt, d->arch_lr, err);
}

static cnas_status weight_step(darts *d, batch_ctx *train, float lr, float *loss,
                               cnas_error *err)
{
    cnas_status st = cnas_grad_pass(d->g, batch_loss, train, d->weights, d->n_weights, d->alphas,
                                    d->n_groups, loss, err);
    if (st)
        return st;
    if (d->env->train->grad_clip > 0.0f)
        cnas_clip_grad_norm(d->weights, d->n_weights, d->env->train->grad_clip);
    return cnas_optim_step(d->w_opt, lr, err);
}

/* ---- reporting ---------------------------------------------------------------------- */

/* softmax of every group's rows, then one probability row per choice point. */
static cnas_status derive(darts *d, float *probs_store, const float **probs, cnas_error *err)
{
    size_t off = 0;
    for (int gi = 0; gi < d->n_groups; gi++) {
        cnas_tensor *a = d->groups[gi].alpha;
        int64_t rows = a->shape[0], k = a->shape[1];
        for (int64_t r = 0; r < rows; r++) {
            const float *in = a->data + r * k;
            float *out = probs_store + off + (size_t)(r * k);
            float m = in[0];
            for (int64_t j = 1; j < k; j++)
                m = in[j] > m ? in[j] : m;
            double s = 0;
            for (int64_t j = 0; j < k; j++)
                s += exp((double)in[j] - m);
            for (int64_t j = 0; j < k; j++)
                out[j] = (float)(exp((double)in[j] - m) / s);
        }
        for (int p = 0; p < d->n_points; p++)
            if (d->point_group[p] == gi)
                probs[p] = probs_store + off + (size_t)(d->mix[p].row * k);
        off += (size_t)a->numel;
    }
    return d->env->space_vt->derive(d->env->space, probs, d->arch, err);
}

static cnas_status log_epoch(darts *d, int64_t epoch, double val_loss, double val_acc,
                             cnas_error *err)
{
    size_t total = 0;
    for (int gi = 0; gi < d->n_groups; gi++)
        total += (size_t)d->groups[gi].alpha->numel;
    float *store = malloc(total * sizeof *store);
    const float **probs = malloc((size_t)d->n_points * sizeof *probs);
    char *line = malloc(1 << 20);
    cnas_status st = CNAS_OK;
    if (!store || !probs || !line) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, "darts: out of memory");
        goto out;
    }
    if ((st = derive(d, store, probs, err)))
        goto out;
    char text[8192];
    if ((st = d->env->space_vt->format(d->env->space, d->arch, text, sizeof text, err)))
        goto out;
    d->env->log(d->env, CNAS_LOG_INFO, "epoch %lld genotype = %s", (long long)epoch, text);
    /* softmax(α) of every edge, as the reference prints it, and one JSON line of history. */
    size_t o = 0, cap = 1 << 20;
    o += (size_t)snprintf(line + o, cap - o, "{\"epoch\": %lld, \"val_loss\": %.6g, "
                          "\"val_acc\": %.6g", (long long)epoch, val_loss, val_acc);
    size_t off = 0;
    for (int gi = 0; gi < d->n_groups; gi++) {
        cnas_tensor *a = d->groups[gi].alpha;
        int64_t rows = a->shape[0], k = a->shape[1];
        o += (size_t)snprintf(line + o, cap - o, ", \"%s\": [", d->groups[gi].key);
        for (int64_t r = 0; r < rows && o < cap; r++) {
            char msg[1024];
            size_t m = 0;
            o += (size_t)snprintf(line + o, cap - o, "%s[", r ? ", " : "");
            for (int64_t j = 0; j < k && o < cap; j++) {
                float v = store[off + (size_t)(r * k + j)];
                o += (size_t)snprintf(line + o, cap - o, "%s%.6f", j ? ", " : "", v);
                m += (size_t)snprintf(msg + m, sizeof msg - m, " %.4f", v);
            }
            o += (size_t)snprintf(line + o, cap - o, "]");
            d->env->log(d->env, CNAS_LOG_DEBUG, "softmax(alpha) %s edge %lld:%s",
                        d->groups[gi].key, (long long)r, msg);
        }
        o += (size_t)snprintf(line + o, cap - o, "]");
        off += (size_t)a->numel;
    }
    if (o + 3 < cap) {
        line[o++] = '}';
        line[o++] = '\n';
        line[o] = '\0';
    }
    st = d->env->append(d->env, "alpha.jsonl", line, err);
out:
    free(store);
    free(probs);
    free(line);
    return st;
}

/* ---- the loop ------------------------------------------------------------------------ */

static cnas_status darts_run(void *self, cnas_error *err)
{
    darts *d = self;
    cnas_search_env *env = d->env;
    const cnas_train_settings *t = env->train;
    double val_loss = NAN, val_acc = NAN;
    cnas_status st;
    while (d->epoch < t->epochs) {
        float lr = cnas_schedule_lr(&d->sched, d->epoch);
        if ((st = env->begin_epoch(env, d->epoch, err)))
            return st;
        for (;;) {
            if (env->stop_requested(env)) /* checkpoints, then reports the interruption */
                return env->checkpoint_point(env, d->epoch, d->step, false, err);
            cnas_graph_reset(d->g_data);
            batch_ctx train = {d, NULL, NULL, 0}, val = {d, NULL, NULL, 0};
            int r = env->next_batch(env, CNAS_STREAM_TRAIN, d->g_data, &train.x, &train.y, err);
            if (r < 0)
                return err->code;
            if (r == 0)
                break;
            if (env->next_batch(env, CNAS_STREAM_VAL_CYCLE, d->g_data, &val.x, &val.y, err) <= 0)
                return err->code ? err->code
                                 : cnas_error_set(err, CNAS_ERR_INVALID,
                                                  "darts: the validation split is empty "
                                                  "(train_portion must be < 1)");
            float loss;
            if ((st = arch_step(d, &train, &val, lr, err)) ||
                (st = weight_step(d, &train, lr, &loss, err)))
                return cnas_error_prefix(err, "darts: epoch %lld step %lld", (long long)d->epoch,
                                         (long long)d->step);
            env->metric(env, "lr", lr);
            env->metric(env, "train_loss", loss);
            env->metric(env, "train_acc", (double)train.correct / (double)train.x->shape[0]);
            d->step++;
            env->end_step(env, d->epoch, d->step);
            if ((st = env->checkpoint_point(env, d->epoch, d->step, false, err)))
                return st;
        }
        if (d->eval_every > 0 && ((d->epoch + 1) % d->eval_every == 0 || d->epoch + 1 == t->epochs)) {
            if ((st = env->evaluate(env, CNAS_STREAM_VAL, eval_logits, d, &val_loss, &val_acc,
                                    err)))
                return st;
            env->metric(env, "val_loss", val_loss);
            env->metric(env, "val_acc", val_acc);
        }
        if ((st = log_epoch(d, d->epoch, val_loss, val_acc, err)))
            return st;
        env->end_epoch(env, d->epoch);
        d->epoch++;
        d->step = 0;
        if ((st = env->checkpoint_point(env, d->epoch, 0, true, err)))
            return st;
    }
    size_t total = 0;
    for (int gi = 0; gi < d->n_groups; gi++)
        total += (size_t)d->groups[gi].alpha->numel;
    float *store = malloc(total * sizeof *store);
    const float **probs = malloc((size_t)d->n_points * sizeof *probs);
    if (!store || !probs) {
        free(store);
        free(probs);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "darts: out of memory");
    }
    st = derive(d, store, probs, err);
    free(store);
    free(probs);
    if (st)
        return st;
    return env->report(env, 0, d->arch, val_acc, err);
}

/* ---- checkpoints ---------------------------------------------------------------------- */

static cnas_status darts_save(void *self, cnas_ckpt *ck, cnas_error *err)
{
    darts *d = self;
    cnas_status st = cnas_ckpt_put_i64(ck, "darts.epoch", d->epoch, err);
    if (!st)
        st = cnas_ckpt_put_i64(ck, "darts.step", d->step, err);
    for (int gi = 0; !st && gi < d->n_groups; gi++) {
        char name[64];
        snprintf(name, sizeof name, "darts.alpha.%s", d->groups[gi].key);
        st = cnas_ckpt_put_tensor(ck, name, d->groups[gi].alpha, err);
    }
    if (!st)
        st = cnas_optim_save(d->w_opt, ck, "darts.w_opt", err);
    if (!st)
        st = cnas_optim_save(d->a_opt, ck, "darts.a_opt", err);
    return st;
}

static cnas_status darts_load(void *self, const cnas_ckpt *ck, cnas_error *err)
{
    darts *d = self;
    cnas_status st = cnas_ckpt_get_i64(ck, "darts.epoch", &d->epoch, err);
    if (!st)
        st = cnas_ckpt_get_i64(ck, "darts.step", &d->step, err);
    for (int gi = 0; !st && gi < d->n_groups; gi++) {
        char name[64];
        snprintf(name, sizeof name, "darts.alpha.%s", d->groups[gi].key);
        st = cnas_ckpt_get_tensor(ck, name, d->groups[gi].alpha, err);
    }
    if (!st)
        st = cnas_optim_load(d->w_opt, ck, "darts.w_opt", err);
    if (!st)
        st = cnas_optim_load(d->a_opt, ck, "darts.a_opt", err);
    return st;
}

/* ---- the component ------------------------------------------------------------------ */

static const cnas_param_spec darts_keys[] = {
    CNAS_PARAM_SPEC_INT("order", "1", 1, 2,
                        "1: first-order gradient; 2: one-step unrolled (second order)"),
    CNAS_PARAM_SPEC_FLOAT("arch_learning_rate", "3e-4", 0, 10, "Adam learning rate of alpha"),
    CNAS_PARAM_SPEC_FLOAT("arch_beta1", "0.5", 0, 1, "Adam beta1 of alpha"),
    CNAS_PARAM_SPEC_FLOAT("arch_beta2", "0.999", 0, 1, "Adam beta2 of alpha"),
    CNAS_PARAM_SPEC_FLOAT("arch_weight_decay", "1e-3", 0, 1,
                          "coupled L2 weight decay of alpha (torch.optim.Adam weight_decay)"),
    CNAS_PARAM_SPEC_FLOAT("unrolled_radius", "0.01", 1e-8, 10,
                          "finite-difference radius r of the Hessian-vector product (eps = r/|v|)"),
    CNAS_PARAM_SPEC_FLOAT("init_scale", "1e-3", 0, 10, "alpha initialised to init_scale * N(0, 1)"),
    CNAS_PARAM_SPEC_BOOL("tie_cells", "true",
                         "share alpha across cells of a type (normal / reduce), as the paper does"),
    CNAS_PARAM_SPEC_INT("eval_every", "1", 0, 100000,
                        "evaluate the supernet on the validation split every N epochs (0: never)"),
};

static const cnas_strategy_vtable darts_vtable = {
    sizeof(cnas_strategy_vtable), darts_create, darts_destroy, darts_run, darts_save, darts_load,
};

static const cnas_component darts_components[] = {
    CNAS_COMPONENT(CNAS_KIND_STRATEGY, "darts",
                   "DARTS: differentiable architecture search, first or second order (Liu et al. 2019)",
                   darts_keys, &darts_vtable),
};

CNAS_PLUGIN("darts", "0.1.0", "DARTS search strategy", "MIT", darts_components, NULL)
