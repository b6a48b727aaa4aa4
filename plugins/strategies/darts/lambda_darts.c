/* The `lambda_darts` component (docs/lambda_darts.md). Per batch:
 *
 *  1. the DARTS architecture step. First order, the validation pass routes each
 *     regularised cell's mixture weights through a tap (an identity on the tape whose
 *     gradient is kept), so the same pass that gives ∇_α L_val also gives the per-cell
 *     gradients for the validation corr metric; the taps add their gradients into
 *     softmax(α)'s in the order the mixed edges would, so α moves bit for bit as in
 *     DARTS. Second order, the unrolled step of DARTS and a separate measuring pass.
 *  2. the weight step on the train batch with every cell reading its own leaf copy
 *     β_l = softmax(α): one pass gives ∇_w L and g_l = ∇_{β_l} L; p = ∂R/∂g
 *     (lambda_reg.c), ε = ε₀/‖p‖, and two more passes at β ∓ εp give
 *     ∇_w R ≈ [∇_w L(β + εp) − ∇_w L(β − εp)] / 2ε; the weights descend
 *     ∇_w L − λ_t ∇_w R (clip, SGD), i.e. minimise L − λ_t R. */
#include "lambda_darts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "components.h"

typedef struct lambda_darts {
    darts d;                        /* first: the shared DARTS state */
    lreg_kind kind;
    float lambda;
    double eps0;
    bool ramp;

    cnas_archparams *cells;         /* one group per cell: its copy β_l (never trained) */
    int n_cells;
    int *tied_of;                   /* per cell: its α group */
    int *reg;                       /* the L regularised cells, in cell order */
    int L;
    int64_t n;                      /* elements of one copy */
    cnas_tensor **on, **off;        /* weight pass: weights + regularised β; α + other β */
    int n_off;
    cnas_tensor **group_w;          /* per cell: its mixture weights for the pass */
    cnas_tensor **sm;               /* per α group: softmax(α) on the tape */
    cnas_tensor **taps;             /* per regularised cell, during a validation pass */
    double *gbuf, *pbuf, *scratch;  /* g_l, p_l (L·n) and lreg scratch */
    float *pf;                      /* p in float32, and per-cell pointers into it */
    const float **pf_ptr;
    float *gsave, *fd_out;          /* the weights' gradients; the finite difference */
    float **fd_ptr;
    cnas_tensor **buffers;          /* batch-norm buffers, restored after measuring passes */
    float *buffer_copy;
    int n_buffers;

    /* This epoch's corr metric: batch-weighted sums and the examples counted. */
    double corr_sum[2];
    double ratio_sum;     /* Σ reg_ratio over the epoch's steps, for its mean */
    int64_t ratio_count;
    int64_t corr_count[2];
} lambda_darts;

enum { CORR_TRAIN = 0, CORR_VAL = 1 };

/* ---- the tap: identity on the tape whose output keeps its gradient ------------------ */

static void tap_backward(cnas_graph *g, cnas_node *nd)
{
    cnas_tensor *x = nd->in[0];
    if (!cnas_tensor_requires_grad(x))
        return;
    float *gx = cnas_graph_grad(g, x);
    if (!gx)
        return;
    const float *go = nd->out->grad;
    for (int64_t k = 0; k < x->numel; k++)
        gx[k] += go[k];
}

static cnas_tensor *tap(cnas_graph *g, cnas_tensor *x)
{
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    cnas_tensor *y = cnas_graph_tensor_like(g, x);
    if (!y)
        return NULL;
    memcpy(y->data, x->data, cnas_tensor_bytes(x));
    if (cnas_graph_grad_enabled(g) &&
        !cnas_graph_record(g, "lambda_darts_tap", y, 1, &x, tap_backward, 0))
        return NULL;
    return y;
}

/* ---- the validation pass with per-cell gradients ------------------------------------ */

typedef struct tap_batch {
    lambda_darts *m;
    darts_batch b;
} tap_batch;

static cnas_tensor *tap_loss(cnas_graph *g, void *ctx)
{
    tap_batch *t = ctx;
    lambda_darts *m = t->m;
    if (cnas_archparams_transform(m->d.ap, g, CNAS_AP_SOFTMAX, NULL, m->sm))
        return NULL;
    for (int c = 0; c < m->n_cells; c++)
        m->group_w[c] = m->sm[m->tied_of[c]];
    for (int l = 0; l < m->L; l++)
        if (!(m->group_w[m->reg[l]] = m->taps[l] = tap(g, m->sm[m->tied_of[m->reg[l]]])))
            return NULL;
    t->b.mix = cnas_archparams_mix_from(m->cells, m->group_w);
    return darts_batch_loss(g, &t->b);
}

static void set_grad_flags(cnas_tensor *const *t, int n, bool on)
{
    for (int i = 0; i < n; i++)
        cnas_tensor_set_requires_grad(t[i], on);
}

/* A pass on the validation batch (frozen weights) that leaves g_l in m->gbuf and,
 * when alpha_grads, ∇_α L_val in α's gradients — as cnas_grad_pass would, but the
 * taps' gradients are read before the graph is reset. */
static cnas_status val_pass(lambda_darts *m, darts_batch *b, bool alpha_grads, float *loss,
                            cnas_error *err)
{
    darts *d = &m->d;
    cnas_tensor *const *alpha = cnas_archparams_tensors(d->ap);
    int n_alpha = cnas_archparams_groups(d->ap);
    set_grad_flags(d->weights, d->n_weights, false);
    set_grad_flags(m->off, m->n_off, false);
    set_grad_flags(m->on + d->n_weights, m->L, false);
    set_grad_flags(alpha, n_alpha, alpha_grads);
    for (int i = 0; alpha_grads && i < n_alpha; i++)
        cnas_tensor_zero_grad(alpha[i]);
    cnas_graph_reset(d->g);
    tap_batch t = {m, *b};
    cnas_tensor *l = tap_loss(d->g, &t);
    cnas_status s = l ? cnas_backward(d->g, l) : cnas_graph_status(d->g);
    if (!l && s == CNAS_OK) {
        cnas_graph_fail(d->g, CNAS_ERR_INTERNAL, "loss closure returned NULL without an error");
        s = CNAS_ERR_INTERNAL;
    }
    if (s) {
        cnas_error_set(err, s, "%s", cnas_graph_error(d->g)->msg);
        cnas_graph_reset(d->g);
        return s;
    }
    *loss = l->data[0];
    b->correct = t.b.correct;
    for (int r = 0; r < m->L; r++) {
        const float *gr = m->taps[r]->grad;
        for (int64_t k = 0; k < m->n; k++)
            m->gbuf[(int64_t)r * m->n + k] = gr ? (double)gr[k] : 0.0;
    }
    cnas_graph_reset(d->g);
    return CNAS_OK;
}

static void count_corr(lambda_darts *m, int which, int64_t batch)
{
    double c = lreg_value(LREG_CORR, m->L, m->n, m->gbuf);
    m->d.env->metric(m->d.env, which == CORR_TRAIN ? "train_corr" : "val_corr", c);
    if (isfinite(c)) {
        m->corr_sum[which] += c * (double)batch;
        m->corr_count[which] += batch;
    }
}

static void buffers_save(lambda_darts *m)
{
    size_t off = 0;
    for (int i = 0; i < m->n_buffers; i++) {
        memcpy(m->buffer_copy + off, m->buffers[i]->data, cnas_tensor_bytes(m->buffers[i]));
        off += (size_t)m->buffers[i]->numel;
    }
}

static void buffers_restore(lambda_darts *m)
{
    size_t off = 0;
    for (int i = 0; i < m->n_buffers; i++) {
        memcpy(m->buffers[i]->data, m->buffer_copy + off, cnas_tensor_bytes(m->buffers[i]));
        off += (size_t)m->buffers[i]->numel;
    }
}

static cnas_status arch_step(lambda_darts *m, darts_batch *train, darts_batch *val, float lr,
                             cnas_error *err)
{
    darts *d = &m->d;
    float loss;
    cnas_status st;
    if (d->order == 1) {
        st = val_pass(m, val, true, &loss, err);
    } else {
        /* The unrolled step never forms ∇_β L_val at w: measure it on the side, leaving
         * the batch-norm statistics as DARTS would. */
        float unused;
        buffers_save(m);
        st = val_pass(m, val, false, &unused, err);
        buffers_restore(m);
        if (!st)
            st = darts_unrolled_grad(d, train, val, lr, &loss, err);
    }
    if (st)
        return st;
    count_corr(m, CORR_VAL, val->x->shape[0]);
    d->env->metric(d->env, "arch_loss", loss);
    return cnas_optim_step(d->a_opt, d->arch_lr, err);
}

/* ---- the weight step ---------------------------------------------------------------- */

/* β_l = softmax(α) of the cell's group, by the same kernel DARTS's passes use. */
static cnas_status fill_copies(lambda_darts *m, cnas_error *err)
{
    darts *d = &m->d;
    set_grad_flags(cnas_archparams_tensors(d->ap), cnas_archparams_groups(d->ap), false);
    cnas_graph_reset(d->g);
    if (cnas_archparams_transform(d->ap, d->g, CNAS_AP_SOFTMAX, NULL, m->sm)) {
        cnas_error_set(err, cnas_graph_status(d->g), "%s", cnas_graph_error(d->g)->msg);
        cnas_graph_reset(d->g);
        return err->code;
    }
    cnas_tensor *const *beta = cnas_archparams_tensors(m->cells);
    for (int c = 0; c < m->n_cells; c++)
        memcpy(beta[c]->data, m->sm[m->tied_of[c]]->data, cnas_tensor_bytes(beta[c]));
    cnas_graph_reset(d->g);
    return CNAS_OK;
}

static float lambda_at(const lambda_darts *m, int64_t epoch)
{
    int64_t E = m->d.loop.epochs;
    if (!m->ramp || E <= 1)
        return m->lambda;
    return (float)((double)m->lambda * (double)epoch / (double)(E - 1));
}

/* ∇_w L − λ_t ∇_w R into the weights' gradients, which hold ∇_w L; *ratio = ‖λ_t ∇_w R‖ /
 * ‖∇_w L‖ before clipping (0 when R adds nothing), how much the regulariser steers the
 * weights (docs/lambda_darts.md). */
static cnas_status add_regulariser(lambda_darts *m, darts_batch *train, float lambda_t,
                                   double *ratio, cnas_error *err)
{
    *ratio = 0.0;
    darts *d = &m->d;
    if (lreg_direction(m->kind, m->L, m->n, m->gbuf, m->pbuf, m->scratch))
        return CNAS_OK;          /* R undefined here (a zero gradient): no term */
    double norm = 0.0;
    for (int64_t k = 0; k < (int64_t)m->L * m->n; k++)
        norm += m->pbuf[k] * m->pbuf[k];
    norm = sqrt(norm);
    float eps = (float)(m->eps0 / norm);
    if (!(norm > 0.0) || !isfinite(norm) || !(eps > 0.0f) || !isfinite(eps))
        return CNAS_OK;
    for (int64_t k = 0; k < (int64_t)m->L * m->n; k++)
        m->pf[k] = (float)m->pbuf[k];
    size_t off = 0;
    for (int i = 0; i < d->n_weights; i++) {
        cnas_tensor *w = d->weights[i];
        if (w->grad)
            memcpy(m->gsave + off, w->grad, cnas_tensor_bytes(w));
        else
            memset(m->gsave + off, 0, cnas_tensor_bytes(w));
        off += (size_t)w->numel;
    }
    darts_batch b = *train;
    cnas_status st = cnas_fd_mixed_grad(d->g, darts_batch_loss, &b, m->on + d->n_weights,
                                        m->pf_ptr, m->L, eps, d->weights, d->n_weights,
                                        m->fd_ptr, err);
    if (st)
        return st;
    /* fd = [∇_w L(β + εp) − ∇_w L(β − εp)] / 2ε ≈ ∇_w R; the reference adds λ·(f − b)/2ε
     * with f at β − εp, which is −λ·fd. */
    off = 0;
    double loss2 = 0.0, reg2 = 0.0;
    for (int i = 0; i < d->n_weights; i++) {
        cnas_tensor *w = d->weights[i];
        float *gw = cnas_tensor_grad_buffer(w);
        if (!gw)
            return cnas_error_set(err, CNAS_ERR_NOMEM, "lambda_darts: out of memory");
        for (int64_t k = 0; k < w->numel; k++) {
            float gl = m->gsave[off + (size_t)k], gr = lambda_t * m->fd_out[off + (size_t)k];
            gw[k] = gl - gr;
            loss2 += (double)gl * gl;
            reg2 += (double)gr * gr;
        }
        off += (size_t)w->numel;
    }
    *ratio = loss2 > 0.0 ? sqrt(reg2 / loss2) : 0.0;
    return CNAS_OK;
}

static cnas_status weight_step(lambda_darts *m, cnas_loop_step *s, darts_batch *train,
                               cnas_error *err)
{
    darts *d = &m->d;
    cnas_status st = fill_copies(m, err);
    if (st)
        return st;
    train->mix = cnas_archparams_mix_from(m->cells, cnas_archparams_tensors(m->cells));
    if ((st = cnas_grad_pass(d->g, darts_batch_loss, train, m->on, d->n_weights + m->L, m->off,
                             m->n_off, &s->loss, err)))
        return st;
    for (int r = 0; r < m->L; r++) {
        const float *gr = m->on[d->n_weights + r]->grad;
        for (int64_t k = 0; k < m->n; k++)
            m->gbuf[(int64_t)r * m->n + k] = gr ? (double)gr[k] : 0.0;
    }
    count_corr(m, CORR_TRAIN, s->x->shape[0]);
    float lambda_t = lambda_at(m, s->epoch);
    double ratio = 0.0;
    if (lambda_t > 0.0f && (st = add_regulariser(m, train, lambda_t, &ratio, err)))
        return st;
    d->env->metric(d->env, "reg_ratio", ratio);
    m->ratio_sum += ratio;
    m->ratio_count++;
    return cnas_kit_update(d->env, d->w_opt, s->lr, true, err);
}

/* ---- the loop ----------------------------------------------------------------------- */

static cnas_status lambda_step(void *self, cnas_loop_step *s, cnas_error *err)
{
    lambda_darts *m = self;
    darts *d = &m->d;
    darts_batch train = {.d = d, .x = s->x, .y = s->y}, val = {.d = d, .x = s->xv, .y = s->yv};
    cnas_status st = arch_step(m, &train, &val, s->lr, err);
    if (!st)
        st = weight_step(m, s, &train, err);
    s->correct = train.correct;
    return st;
}

static cnas_status lambda_begin_epoch(void *self, int64_t epoch, bool fresh, cnas_error *err)
{
    (void)epoch;
    (void)err;
    lambda_darts *m = self;
    if (fresh) {
        for (int i = 0; i < 2; i++) {
            m->corr_sum[i] = 0.0;
            m->corr_count[i] = 0;
        }
        m->ratio_sum = 0.0;
        m->ratio_count = 0;
    }
    return CNAS_OK;
}

static cnas_status lambda_end_epoch(void *self, int64_t epoch, cnas_error *err)
{
    lambda_darts *m = self;
    cnas_search_env *env = m->d.env;
    double c[2];
    for (int i = 0; i < 2; i++)
        c[i] = m->corr_count[i] ? m->corr_sum[i] / (double)m->corr_count[i] : NAN;
    env->metric(env, "train_corr", c[CORR_TRAIN]);
    env->metric(env, "val_corr", c[CORR_VAL]);
    env->metric(env, "lambda", lambda_at(m, epoch));
    env->metric(env, "reg_ratio", m->ratio_count ? m->ratio_sum / (double)m->ratio_count : NAN);
    env->log(env, CNAS_LOG_INFO, "epoch %lld lambda %g train_corr %.6f val_corr %.6f",
             (long long)epoch, (double)lambda_at(m, epoch), c[CORR_TRAIN], c[CORR_VAL]);
    return darts_end_epoch(&m->d, epoch, err);
}

static const cnas_loop_hooks lambda_hooks = {sizeof lambda_hooks, lambda_begin_epoch,
                                             lambda_step, lambda_end_epoch};

static cnas_status lambda_run(void *self, cnas_error *err)
{
    lambda_darts *m = self;
    cnas_status st = darts_start(&m->d, err);
    if (!st)
        st = cnas_loop_run(&m->d.loop, &lambda_hooks, m, err);
    /* selection = perturbation: the fine-tuning between decisions takes DARTS's step.
     * The regulariser aligns the cells' copies of softmax(α), which a projected edge no
     * longer has (docs/selection.md). */
    if (!st)
        st = darts_select_run(&m->d, darts_step, err);
    return st ? st : darts_finish(&m->d, err);
}

/* ---- set-up and checkpoints ------------------------------------------------------- */

static void lambda_destroy(void *self)
{
    lambda_darts *m = self;
    if (!m)
        return;
    darts_fini(&m->d);
    cnas_archparams_free(m->cells);
    free(m->tied_of);
    free(m->reg);
    free(m->on);
    free(m->off);
    free(m->group_w);
    free(m->sm);
    free(m->taps);
    free(m->gbuf);
    free(m->pbuf);
    free(m->scratch);
    free(m->pf);
    free(m->pf_ptr);
    free(m->gsave);
    free(m->fd_out);
    free(m->fd_ptr);
    free(m->buffers);
    free(m->buffer_copy);
    free(m);
}

/* Which cells are regularised: their share key against reg_cells (docs/lambda_darts.md). */
static cnas_status choose_cells(lambda_darts *m, const char *want, cnas_error *err)
{
    darts *d = &m->d;
    const cnas_choice_point *pts;
    int np = d->env->space_vt->choice_points(d->env->space, &pts);
    const char *key = want;
    if (strcmp(want, "auto") == 0) {
        key = "all";
        for (int p = 0; p < np; p++)
            if (strcmp(pts[p].share_key, "normal") == 0)
                key = "normal";
    }
    bool all = strcmp(key, "all") == 0;
    m->n_cells = cnas_archparams_groups(m->cells);
    m->tied_of = calloc((size_t)m->n_cells, sizeof *m->tied_of);
    m->reg = calloc((size_t)m->n_cells, sizeof *m->reg);
    int *chosen = calloc((size_t)m->n_cells, sizeof *chosen);
    if (!m->tied_of || !m->reg || !chosen) {
        free(chosen);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "lambda_darts: out of memory");
    }
    for (int p = 0; p < np; p++) {
        int c = cnas_archparams_group_of(m->cells, p);
        m->tied_of[c] = cnas_archparams_group_of(d->ap, p);
        chosen[c] = all || strcmp(pts[p].share_key, key) == 0;
    }
    m->L = 0;
    for (int c = 0; c < m->n_cells; c++)
        if (chosen[c])
            m->reg[m->L++] = c;
    free(chosen);
    if (m->L < 2)
        return cnas_error_set(err, CNAS_ERR_CONFIG, "lambda_darts: [strategy] reg_cells = %s "
                              "selects %d cell%s of the space (%s); the regulariser compares "
                              "cells pairwise and needs at least 2", want, m->L,
                              m->L == 1 ? "" : "s", all ? "every cell" : key);
    cnas_tensor *const *beta = cnas_archparams_tensors(m->cells);
    m->n = beta[m->reg[0]]->numel;
    for (int l = 1; l < m->L; l++)
        if (beta[m->reg[l]]->numel != m->n)
            return cnas_error_set(err, CNAS_ERR_CONFIG, "lambda_darts: [strategy] reg_cells = "
                                  "%s selects cells of different shapes (%s: %lld weights, "
                                  "%s: %lld); choose one share key", want,
                                  cnas_archparams_key(m->cells, m->reg[0]), (long long)m->n,
                                  cnas_archparams_key(m->cells, m->reg[l]),
                                  (long long)beta[m->reg[l]]->numel);
    return CNAS_OK;
}

static cnas_status alloc_state(lambda_darts *m, cnas_error *err)
{
    darts *d = &m->d;
    int n_alpha = cnas_archparams_groups(d->ap), L = m->L;
    size_t ln = (size_t)L * (size_t)m->n, nw = 0;
    for (int i = 0; i < d->n_weights; i++)
        nw += (size_t)d->weights[i]->numel;
    m->on = calloc((size_t)(d->n_weights + L), sizeof *m->on);
    m->off = calloc((size_t)(n_alpha + m->n_cells), sizeof *m->off);
    m->group_w = calloc((size_t)m->n_cells, sizeof *m->group_w);
    m->sm = calloc((size_t)n_alpha, sizeof *m->sm);
    m->taps = calloc((size_t)L, sizeof *m->taps);
    m->gbuf = calloc(ln, sizeof *m->gbuf);
    m->pbuf = calloc(ln, sizeof *m->pbuf);
    m->scratch = calloc((size_t)m->n + (size_t)L, sizeof *m->scratch);
    m->pf = calloc(ln, sizeof *m->pf);
    m->pf_ptr = calloc((size_t)L, sizeof *m->pf_ptr);
    m->gsave = calloc(nw ? nw : 1, sizeof *m->gsave);
    m->fd_out = calloc(nw ? nw : 1, sizeof *m->fd_out);
    m->fd_ptr = calloc((size_t)(d->n_weights ? d->n_weights : 1), sizeof *m->fd_ptr);
    if (!m->on || !m->off || !m->group_w || !m->sm || !m->taps || !m->gbuf || !m->pbuf ||
        !m->scratch || !m->pf || !m->pf_ptr || !m->gsave || !m->fd_out || !m->fd_ptr)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "lambda_darts: out of memory");
    cnas_tensor *const *beta = cnas_archparams_tensors(m->cells);
    cnas_tensor *const *alpha = cnas_archparams_tensors(d->ap);
    memcpy(m->on, d->weights, (size_t)d->n_weights * sizeof *m->on);
    for (int l = 0; l < L; l++) {
        m->on[d->n_weights + l] = beta[m->reg[l]];
        m->pf_ptr[l] = m->pf + (size_t)l * (size_t)m->n;
    }
    for (int i = 0; i < n_alpha; i++)
        m->off[m->n_off++] = alpha[i];
    for (int c = 0, l = 0; c < m->n_cells; c++) {
        if (l < L && m->reg[l] == c)
            l++;
        else
            m->off[m->n_off++] = beta[c];
    }
    size_t off = 0;
    for (int i = 0; i < d->n_weights; i++) {
        m->fd_ptr[i] = m->fd_out + off;
        off += (size_t)d->weights[i]->numel;
    }
    /* The space's batch-norm buffers, for the side-effect-free measuring pass. */
    const cnas_space_vtable *vt = d->env->space_vt;
    int total = vt->tensors(d->env->space, NULL, 0);
    cnas_named_tensor *all = calloc((size_t)(total > 0 ? total : 1), sizeof *all);
    m->buffers = calloc((size_t)(total > 0 ? total : 1), sizeof *m->buffers);
    if (!all || !m->buffers) {
        free(all);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "lambda_darts: out of memory");
    }
    total = vt->tensors(d->env->space, all, total);
    size_t nb = 0;
    for (int i = 0; i < total; i++)
        if (all[i].role == CNAS_ROLE_BUFFER) {
            m->buffers[m->n_buffers++] = all[i].tensor;
            nb += (size_t)all[i].tensor->numel;
        }
    free(all);
    if (!(m->buffer_copy = calloc(nb ? nb : 1, sizeof *m->buffer_copy)))
        return cnas_error_set(err, CNAS_ERR_NOMEM, "lambda_darts: out of memory");
    return CNAS_OK;
}

static cnas_status lambda_create(const cnas_params *p, cnas_search_env *env, void **self,
                                 cnas_error *err)
{
    lambda_darts *m = calloc(1, sizeof *m);
    if (!m)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "lambda_darts: out of memory");
    m->kind = strcmp(cnas_params_str(p, "regularizer"), "signcorr") == 0 ? LREG_SIGNCORR
                                                                          : LREG_CORR;
    m->lambda = (float)cnas_params_float(p, "lambda");
    m->eps0 = cnas_params_float(p, "epsilon_0");
    m->ramp = strcmp(cnas_params_str(p, "lambda_schedule"), "linear") == 0;
    cnas_status st = darts_init(&m->d, "lambda_darts", p, env, err);
    if (!st)
        st = darts_select_init(&m->d, p, err);
    if (!st && !(m->cells = cnas_archparams_new(env->space_vt, env->space, false, err))) {
        cnas_error_prefix(err, "lambda_darts");
        st = err->code;
    }
    if (!st)
        st = choose_cells(m, cnas_params_str(p, "reg_cells"), err);
    if (!st)
        st = alloc_state(m, err);
    if (st) {
        lambda_destroy(m);
        return st;
    }
    *self = m;
    return CNAS_OK;
}

static cnas_status lambda_io(lambda_darts *m, cnas_ckio *io)
{
    darts_io(&m->d, io);
    cnas_ckio_blob(io, "lambda_darts.corr_sum", m->corr_sum, sizeof m->corr_sum);
    /* Added after the first release: a checkpoint without it resumes with the epoch's
     * mean taken over the steps after the resume. */
    if (cnas_ckio_has(io, "lambda_darts.ratio_sum")) {
        cnas_ckio_f64(io, "lambda_darts.ratio_sum", &m->ratio_sum);
        cnas_ckio_i64(io, "lambda_darts.ratio_count", &m->ratio_count);
    }
    return cnas_ckio_blob(io, "lambda_darts.corr_count", m->corr_count, sizeof m->corr_count);
}

static cnas_status lambda_save(void *self, cnas_ckpt *ck, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_put(ck, err);
    return lambda_io(self, &io);
}

static cnas_status lambda_load(void *self, const cnas_ckpt *ck, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_get(ck, err);
    return lambda_io(self, &io);
}

/* DARTS's, and the weight step's two buffers the size of the weights (gsave, fd_out). */
static cnas_status lambda_memory(const cnas_params *p, cnas_strategy_memory *m, cnas_error *err)
{
    m->weight_copies += 2;
    return darts_memory(p, m, err);
}

const cnas_strategy_vtable lambda_darts_vtable = {
    sizeof(cnas_strategy_vtable), lambda_create, lambda_destroy, lambda_run, lambda_save,
    lambda_load, lambda_memory,
};
