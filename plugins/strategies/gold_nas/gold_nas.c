/* GOLD-NAS search strategy: the one-level step, the end-of-epoch pruning schedule,
 * set-up and checkpoints (gold_nas.h; docs/gold_nas.md). */
#include "gold_nas.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- costs of architectures: the base network plus its live operators ----------------- */

void gold_arch_cost(const gold *m, const uint64_t *mask, int64_t *flops, int64_t *params,
                    int64_t *n_ops)
{
    int64_t f = m->base_flops, p = m->base_params, n = 0;
    for (int g = 0; g < m->n_gates; g++)
        if ((mask[g / m->lay.n_cand] >> (g % m->lay.n_cand)) & 1u) {
            f += m->gate_flops[g];
            p += m->gate_params[g];
            n++;
        }
    *flops = f;
    *params = p;
    if (n_ops)
        *n_ops = n;
}

/* ---- forward passes ------------------------------------------------------------------- */

typedef struct batch_ctx {
    gold *m;
    cnas_tensor *x;
    const int32_t *y;
    int64_t correct;
} batch_ctx;

static cnas_tensor *gated_logits(gold *m, cnas_graph *g, cnas_tensor *x, bool training)
{
    const cnas_mix_weight *mix = cnas_archparams_mix(m->ap, g, CNAS_AP_SIGMOID, NULL);
    if (!mix)
        return NULL;
    /* The live mask restricts every edge to its unpruned operators: pruned ones are
     * never run again. */
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, mix, m->live, training, NULL, 0.0f,
                                  NULL};
    return m->env->space_vt->forward(m->env->space, g, x, &fa);
}

static cnas_tensor *batch_loss(cnas_graph *g, void *vctx)
{
    batch_ctx *c = vctx;
    cnas_tensor *logits = gated_logits(c->m, g, c->x, true);
    if (!logits)
        return NULL;
    c->correct = cnas_count_correct(logits, c->y);
    return cnas_cross_entropy(g, logits, c->y, c->m->env->train->label_smoothing);
}

static cnas_tensor *eval_logits(cnas_graph *g, cnas_tensor *x, void *ctx)
{
    return gated_logits(ctx, g, x, false);
}

/* The gates sigma(alpha), one row of n_cand per choice point, into m->sig. */
static void read_gates(gold *m, cnas_error *err)
{
    const float *const *probs = cnas_archparams_probs(m->ap, CNAS_AP_SIGMOID, err);
    for (int p = 0; p < m->lay.n_points; p++)
        memcpy(m->sig + (size_t)p * m->lay.n_cand, probs[p], sizeof(float) * m->lay.n_cand);
}

/* ---- one step: weights and gates on the same batch ------------------------------------ */

static cnas_status gold_step(void *self, cnas_loop_step *s, cnas_error *err)
{
    gold *m = self;
    batch_ctx b = {m, s->x, s->y, 0};
    cnas_status st = cnas_grad_pass(m->g, batch_loss, &b, m->on, m->n_on, NULL, 0, &s->loss, err);
    if (st)
        return st;
    /* + lambda * dC/dalpha, computed in closed form (the term depends on alpha only). */
    read_gates(m, err);
    m->last_cost = gold_cost_grad(&m->lay, m->sig, m->live->mask, m->k, m->xi_min, m->S, m->what,
                                  m->dalpha);
    cnas_tensor *const *alpha = cnas_archparams_tensors(m->ap);
    for (int p = 0; p < m->lay.n_points; p++) {
        cnas_tensor *a = alpha[cnas_archparams_group_of(m->ap, p)];
        if (!a->grad)
            continue; /* not reached: every gate of the group pruned */
        float *gr = a->grad + (size_t)cnas_archparams_row_of(m->ap, p) * m->lay.n_cand;
        for (int c = 0; c < m->lay.n_cand; c++)
            gr[c] += (float)(m->lambda * m->dalpha[p * m->lay.n_cand + c]);
    }
    /* After the warm-up the weights may learn at a rate of their own (prune_lr): the
     * supernet then changes little while operators go, so snapshots differ by their
     * architecture rather than by how long the weights have trained (docs/gold_nas.md). */
    if (m->prune_lr > 0 && s->epoch >= m->warmup)
        s->lr = (float)m->prune_lr;
    if ((st = cnas_kit_update(m->env, m->w_opt, s->lr, true, err)) ||
        (st = cnas_optim_step(m->a_opt, (float)m->arch_lr, err)))
        return st;
    m->env->metric(m->env, "resource_cost", m->last_cost);
    s->correct = b.correct;
    m->correct += b.correct;
    m->seen += s->x->shape[0];
    return CNAS_OK;
}

static cnas_status gold_begin_epoch(void *self, int64_t epoch, bool fresh, cnas_error *err)
{
    (void)epoch;
    (void)err;
    gold *m = self;
    if (fresh)
        m->correct = m->seen = 0;
    return CNAS_OK;
}

/* ---- snapshots -------------------------------------------------------------------------- */

static cnas_status add_snapshot(gold *m, int64_t epoch, bool final, cnas_error *err)
{
    if (m->n_snaps == m->cap_snaps) {
        int cap = m->cap_snaps ? 2 * m->cap_snaps : 16;
        gold_snap *s = realloc(m->snaps, (size_t)cap * sizeof *s);
        if (s)
            m->snaps = s;
        uint64_t *k = realloc(m->snap_masks, (size_t)cap * m->lay.n_points * sizeof *k);
        if (k)
            m->snap_masks = k;
        if (!s || !k)
            return cnas_error_set(err, CNAS_ERR_NOMEM, "gold_nas: out of memory");
        m->cap_snaps = cap;
    }
    gold_snap *s = &m->snaps[m->n_snaps];
    memset(s, 0, sizeof *s);
    s->epoch = epoch;
    s->final = final;
    gold_arch_cost(m, m->live->mask, &s->flops, &s->params, &s->n_ops);
    s->train_acc = m->seen ? (double)m->correct / (double)m->seen : NAN;
    s->val_acc = s->val_loss = NAN;
    cnas_search_env *env = m->env;
    if (m->evaluate && env->batches_per_epoch(env, CNAS_STREAM_VAL) > 0) {
        cnas_status st = env->evaluate(env, CNAS_STREAM_VAL, eval_logits, m, &s->val_loss,
                                       &s->val_acc, err);
        if (st)
            return st;
    }
    memcpy(m->snap_masks + (size_t)m->n_snaps * m->lay.n_points, m->live->mask,
           sizeof(uint64_t) * m->lay.n_points);
    m->n_snaps++;
    env->log(env, CNAS_LOG_INFO, "gold_nas: snapshot %d after epoch %lld: %.2f MFLOPs, %lld "
             "parameters, %lld operators, supernet train acc %.4f, val acc %.4f", m->n_snaps - 1,
             (long long)epoch, s->flops / 1e6, (long long)s->params, (long long)s->n_ops,
             s->train_acc, s->val_acc);
    return CNAS_OK;
}

/* ---- end of an epoch: prune, adapt lambda, record, stop ------------------------------- */

static cnas_status log_pruned(gold *m, int64_t epoch, int n, cnas_error *err)
{
    const cnas_choice_point *pts;
    m->env->space_vt->choice_points(m->env->space, &pts);
    cnas_text t = {0};
    for (int i = 0; i < n; i++) {
        int g = m->sel[i], p = g / m->lay.n_cand, c = g % m->lay.n_cand;
        cnas_text_put(&t, "%lld,%d,%d,%d,%d,%s,%.6g,%.6g,%.6g\n", (long long)epoch, i,
                      pts[p].instance, pts[p].node_from, pts[p].node_to, pts[p].candidates[c],
                      m->what[g], (double)m->sig[g], m->lambda);
    }
    cnas_status st = t.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, "gold_nas: out of memory")
                           : n ? m->env->append(m->env, "pruned.csv", t.s, err) : CNAS_OK;
    cnas_text_free(&t);
    return st;
}

static cnas_status gold_end_epoch(void *self, int64_t epoch, cnas_error *err)
{
    gold *m = self;
    cnas_search_env *env = m->env;
    cnas_status st;
    read_gates(m, err);
    /* Warm-up: the weights and gates train with lambda = 0; nothing is pruned and lambda
     * waits. These epochs count as quiet, so the first pruning records the supernet. */
    bool warm = epoch < m->warmup;
    int n = warm ? 0
                 : gold_prune_select(&m->lay, m->sig, m->live->mask, m->xi_min, m->xi_max, m->n0,
                                     m->S, m->what, m->scratch, m->sel);
    /* A stable architecture is recorded before the pruning that ends it. */
    if (n > 0 && m->quiet >= m->stable_rounds && (st = add_snapshot(m, epoch, false, err)))
        return st;
    m->quiet = n > 0 ? 0 : m->quiet + 1;
    if ((st = log_pruned(m, epoch, n, err)))
        return st;
    for (int i = 0; i < n; i++)
        m->live->mask[m->sel[i] / m->lay.n_cand] &= ~((uint64_t)1 << (m->sel[i] % m->lay.n_cand));
    double lambda_used = m->lambda;
    if (!warm)
        gold_lambda_update(&m->lambda, &m->delta, n, m->n0, m->lambda0, m->c0);
    int64_t flops, params, ops;
    gold_arch_cost(m, m->live->mask, &flops, &params, &ops);
    env->metric(env, "lambda", lambda_used);
    env->metric(env, "pruned", n);
    env->metric(env, "live_ops", (double)ops);
    env->metric(env, "mflops", flops / 1e6);
    env->metric(env, "params", (double)params);
    env->metric(env, "supernet_acc", m->seen ? (double)m->correct / (double)m->seen : NAN);
    env->log(env, CNAS_LOG_INFO, "gold_nas: epoch %lld pruned %d, %lld operators left, %.2f "
             "MFLOPs, lambda %.3g -> %.3g%s", (long long)epoch, n, (long long)ops, flops / 1e6,
             lambda_used, m->lambda, warm ? " (warm-up)" : "");
    if (m->flops_min > 0 && flops / 1e6 < m->flops_min) {
        env->log(env, CNAS_LOG_INFO, "gold_nas: below the floor of %.2f MFLOPs: search ends",
                 m->flops_min);
        m->stopped = 1;
        m->loop.epochs = epoch + 1;
    }
    return CNAS_OK;
}

static const cnas_loop_hooks gold_hooks = {sizeof gold_hooks, gold_begin_epoch, gold_step,
                                           gold_end_epoch};

static cnas_status gold_run(void *self, cnas_error *err)
{
    gold *m = self;
    cnas_search_env *env = m->env;
    /* Files written after the loop, made known before the first checkpoint. */
    static const char *const late[] = {"pareto.csv", "pareto.json", "pareto.svg"};
    cnas_status st = CNAS_OK;
    for (size_t i = 0; i < sizeof late / sizeof *late && !st; i++)
        st = env->append(env, late[i], "", err);
    if (!st && m->loop.epoch == 0 && m->loop.step == 0)
        st = env->append(env, "pruned.csv", "epoch,order,cell,input,node,op,normalised_weight,"
                         "gate,lambda\n", err);
    if (st)
        return st;
    if (m->stopped)
        m->loop.epochs = m->loop.epoch;
    int64_t f, pa, ops;
    gold_arch_cost(m, m->live->mask, &f, &pa, &ops);
    if (m->resumed)
        env->log(env, CNAS_LOG_INFO, "gold_nas: resuming at epoch %lld step %lld, lambda %g, %d "
                 "snapshots", (long long)m->loop.epoch, (long long)m->loop.step, m->lambda,
                 m->n_snaps);
    env->log(env, CNAS_LOG_INFO, "gold_nas: %d gates; the network without operators has %.3f "
             "MFLOPs, the current one %lld operators and %.3f MFLOPs", m->n_gates,
             m->base_flops / 1e6, (long long)ops, f / 1e6);
    if ((st = cnas_loop_run(&m->loop, &gold_hooks, m, err)))
        return st;
    /* The architecture the search ends with, when it ran out of epochs while stable (or
     * nothing else was recorded). */
    bool same = m->n_snaps > 0 &&
                memcmp(m->snap_masks + (size_t)(m->n_snaps - 1) * m->lay.n_points,
                       m->live->mask, sizeof(uint64_t) * m->lay.n_points) == 0;
    if (!same && (m->n_snaps == 0 || (!m->stopped && m->quiet >= m->stable_rounds)) &&
        (st = add_snapshot(m, m->loop.epoch - 1, true, err)))
        return st;
    return gold_write_outputs(m, err);
}

/* ---- set-up and checkpoints ---------------------------------------------------------- */

static void gold_destroy(void *self)
{
    gold *m = self;
    if (!m)
        return;
    cnas_archparams_free(m->ap);
    free(m->weights);
    free(m->on);
    cnas_optim_free(m->w_opt);
    cnas_optim_free(m->a_opt);
    cnas_loop_free(&m->loop);
    cnas_graph_free(m->g);
    cnas_arch_free(m->live);
    free(m->node_of);
    free(m->k);
    free(m->gate_flops);
    free(m->gate_params);
    free(m->sig);
    free(m->S);
    free(m->what);
    free(m->dalpha);
    free(m->scratch);
    free(m->sel);
    free(m->snaps);
    free(m->snap_masks);
    free(m);
}

/* Gate layout and the cost of every gate and of the network with none. */
static cnas_status build_gates(gold *m, cnas_error *err)
{
    const cnas_space_vtable *vt = m->env->space_vt;
    void *space = m->env->space;
    const cnas_choice_point *pts;
    int np = vt->choice_points(space, &pts);
    if (np <= 0)
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "gold_nas: the space has no choice "
                              "points");
    int nc = pts[0].n_candidates, max_inst = 0, max_node = 0;
    for (int p = 0; p < np; p++) {
        if (pts[p].n_candidates != nc || nc > CNAS_ARCH_MAX_CANDIDATES || pts[p].node_to < 0)
            return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "gold_nas: choice point %s: every "
                                  "point must be an edge into a node with the same operators "
                                  "(an open cell space such as gold_cell)", pts[p].name);
        max_inst = pts[p].instance > max_inst ? pts[p].instance : max_inst;
        max_node = pts[p].node_to > max_node ? pts[p].node_to : max_node;
    }
    int G = np * nc, nodes = (max_inst + 1) * (max_node + 1);
    m->n_gates = G;
    m->node_of = malloc(sizeof(int) * (size_t)np);
    m->k = malloc(sizeof(double) * (size_t)G);
    m->gate_flops = malloc(sizeof(int64_t) * (size_t)G);
    m->gate_params = malloc(sizeof(int64_t) * (size_t)G);
    m->sig = malloc(sizeof(float) * (size_t)G);
    m->S = malloc(sizeof(double) * (size_t)nodes);
    m->what = malloc(sizeof(double) * (size_t)G);
    m->dalpha = malloc(sizeof(double) * (size_t)G);
    m->scratch = malloc(sizeof(int) * (size_t)(nodes + G));
    m->sel = malloc(sizeof(int) * (size_t)G);
    if (!m->node_of || !m->k || !m->gate_flops || !m->gate_params || !m->sig || !m->S ||
        !m->what || !m->dalpha || !m->scratch || !m->sel)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "gold_nas: out of memory");
    for (int p = 0; p < np; p++)
        m->node_of[p] = pts[p].instance * (max_node + 1) + pts[p].node_to;
    m->lay = (gold_layout){np, nc, nodes, m->node_of};
    cnas_status st;
    for (int g = 0; g < G; g++) {
        if ((st = vt->candidate_cost(space, g / nc, g % nc, &m->gate_flops[g], &m->gate_params[g],
                                     err)))
            return cnas_error_prefix(err, "gold_nas");
        m->k[g] = m->uniform_w + m->flops_w * (double)m->gate_flops[g] / 1e6;
    }
    if (!(m->live = cnas_arch_new(np, err)))
        return err->code;
    if ((st = vt->cost(space, m->live, &m->base_flops, &m->base_params, err)))
        return cnas_error_prefix(err, "gold_nas: cost of the network without operators");
    uint64_t all = nc == 64 ? ~(uint64_t)0 : (((uint64_t)1 << nc) - 1);
    for (int p = 0; p < np; p++)
        m->live->mask[p] = all;
    return CNAS_OK;
}

static cnas_status gold_create(const cnas_params *p, cnas_search_env *env, void **self,
                               cnas_error *err)
{
    gold *m = calloc(1, sizeof *m);
    if (!m)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "gold_nas: out of memory");
    m->env = env;
    m->arch_lr = cnas_params_float(p, "arch_learning_rate");
    m->arch_momentum = cnas_params_float(p, "arch_momentum");
    m->arch_wd = cnas_params_float(p, "arch_weight_decay");
    m->xi_min = cnas_params_float(p, "xi_min");
    m->xi_max = cnas_params_float(p, "xi_max");
    m->n0 = (int)cnas_params_int(p, "n0");
    m->lambda0 = cnas_params_float(p, "lambda0");
    m->c0 = cnas_params_float(p, "c0");
    m->uniform_w = cnas_params_float(p, "cost_uniform_weight");
    m->flops_w = cnas_params_float(p, "cost_flops_weight");
    m->flops_min = cnas_params_float(p, "flops_min");
    m->stable_rounds = (int)cnas_params_int(p, "stable_rounds");
    m->warmup = cnas_params_int(p, "warmup_epochs");
    m->prune_lr = cnas_params_float(p, "prune_lr");
    m->evaluate = cnas_params_bool(p, "evaluate_snapshots");
    m->lambda = 0;
    m->delta = m->lambda0;
    cnas_status st;
    const cnas_space_vtable *vt = env->space_vt;
    if (m->xi_min > m->xi_max) {
        st = cnas_error_set(err, CNAS_ERR_CONFIG, "gold_nas: xi_min = %g is above xi_max = %g; "
                            "expected xi_min <= xi_max", m->xi_min, m->xi_max);
        goto fail;
    }
    if (!CNAS_VT_HAS(vt, candidate_cost) || !CNAS_VT_HAS(vt, cost) || !CNAS_VT_HAS(vt, format) ||
        !CNAS_VT_HAS(vt, choice_points)) {
        st = cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "gold_nas: the space needs choice points, "
                            "a notation, cost and candidate_cost (use gold_cell)");
        goto fail;
    }
    if ((st = build_gates(m, err)))
        goto fail;
    /* Every cell its own gates, alpha = 0 (every gate at 0.5), as the reference. */
    if (!(m->ap = cnas_archparams_new(vt, env->space, false, err))) {
        st = cnas_error_prefix(err, "gold_nas");
        goto fail;
    }
    cnas_archparams_init_const(m->ap, 0.0f);
    if ((st = cnas_space_param_tensors(vt, env->space, &m->weights, &m->n_weights, err)) ||
        (st = cnas_loop_init(&m->loop, env, "gold_nas", false, err)))
        goto fail;
    int na = cnas_archparams_groups(m->ap);
    m->n_on = m->n_weights + na;
    if (!(m->on = malloc(sizeof *m->on * (size_t)m->n_on))) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, "gold_nas: out of memory");
        goto fail;
    }
    memcpy(m->on, m->weights, sizeof *m->on * (size_t)m->n_weights);
    memcpy(m->on + m->n_weights, cnas_archparams_tensors(m->ap), sizeof *m->on * (size_t)na);
    cnas_sgd_opts ao = {.momentum = (float)m->arch_momentum, .weight_decay = (float)m->arch_wd};
    if (!(m->w_opt = cnas_sgd_from_settings(env->train, m->weights, m->n_weights, err)) ||
        !(m->a_opt = cnas_sgd_new(cnas_archparams_tensors(m->ap), na, &ao, err)) ||
        !(m->g = cnas_graph_new(err))) {
        st = err->code;
        goto fail;
    }
    /* Only leaf gradients (weights, architecture parameters) are read after backward,
     * so backward may recycle the others (graph.h). */
    cnas_graph_set_release_grads(m->g, true);
    *self = m;
    return CNAS_OK;
fail:
    gold_destroy(m);
    return st;
}

static cnas_status gold_io(gold *m, cnas_ckio *io)
{
    cnas_loop_io(&m->loop, io, "gold_nas");
    cnas_archparams_io(m->ap, io, "gold_nas");
    cnas_ckio_optim(io, "gold_nas.w_opt", m->w_opt);
    cnas_ckio_optim(io, "gold_nas.a_opt", m->a_opt);
    cnas_ckio_blob(io, "gold_nas.live", m->live->mask, sizeof(uint64_t) * m->lay.n_points);
    cnas_ckio_f64(io, "gold_nas.lambda", &m->lambda);
    cnas_ckio_f64(io, "gold_nas.delta", &m->delta);
    cnas_ckio_int(io, "gold_nas.quiet", &m->quiet);
    cnas_ckio_int(io, "gold_nas.stopped", &m->stopped);
    cnas_ckio_i64(io, "gold_nas.correct", &m->correct);
    cnas_ckio_i64(io, "gold_nas.seen", &m->seen);
    int n = m->n_snaps;
    if (cnas_ckio_int(io, "gold_nas.n_snaps", &n))
        return cnas_ckio_status(io);
    if (!cnas_ckio_saving(io)) {
        if (n < 0 || n > 1000000)
            return cnas_error_set(io->err, CNAS_ERR_FORMAT, "gold_nas: checkpoint holds %d "
                                  "snapshots", n);
        m->n_snaps = 0;
        if (n > m->cap_snaps) {
            gold_snap *s = realloc(m->snaps, (size_t)n * sizeof *s);
            if (s)
                m->snaps = s;
            uint64_t *k = realloc(m->snap_masks, (size_t)n * m->lay.n_points * sizeof *k);
            if (k)
                m->snap_masks = k;
            if (!s || !k)
                return cnas_error_set(io->err, CNAS_ERR_NOMEM, "gold_nas: out of memory");
            m->cap_snaps = n;
        }
        m->n_snaps = n;
    }
    if (n > 0) {
        cnas_ckio_blob(io, "gold_nas.snaps", m->snaps, sizeof *m->snaps * (size_t)n);
        cnas_ckio_blob(io, "gold_nas.snap_masks", m->snap_masks,
                       sizeof(uint64_t) * (size_t)n * m->lay.n_points);
    }
    return cnas_ckio_status(io);
}

static cnas_status gold_save(void *self, cnas_ckpt *ck, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_put(ck, err);
    return gold_io(self, &io);
}

static cnas_status gold_load(void *self, const cnas_ckpt *ck, cnas_error *err)
{
    gold *m = self;
    cnas_ckio io = cnas_ckio_get(ck, err);
    m->resumed = true;
    return gold_io(m, &io);
}

/* ---- the component ------------------------------------------------------------------- */

static const cnas_param_spec gold_keys[] = {
    CNAS_PARAM_SPEC_FLOAT("arch_learning_rate", "1.0", 0, 1000, "SGD learning rate of alpha"),
    CNAS_PARAM_SPEC_FLOAT("arch_momentum", "0.9", 0, 1, "SGD momentum of alpha"),
    CNAS_PARAM_SPEC_FLOAT("arch_weight_decay", "0", 0, 1, "SGD weight decay of alpha"),
    CNAS_PARAM_SPEC_FLOAT("xi_min", "0.01", 0, 1,
                          "prune every operator whose gate, normalised over its node's incoming "
                          "operators, is at most this"),
    CNAS_PARAM_SPEC_FLOAT("xi_max", "0.05", 0, 1,
                          "then prune up to n0 of the weakest operators at most this"),
    CNAS_PARAM_SPEC_INT("n0", "4", 0, 100000, "operators pruned per epoch that count as enough"),
    CNAS_PARAM_SPEC_FLOAT("lambda0", "1e-5", 0, 1e6, "first increment of lambda"),
    CNAS_PARAM_SPEC_FLOAT("c0", "2", 1, 1e6,
                          "lambda is divided by c0 after an epoch that pruned n0 or more, its "
                          "increment multiplied by c0 after one that pruned fewer"),
    CNAS_PARAM_SPEC_FLOAT("cost_uniform_weight", "1", 0, 1e6,
                          "resource weight of every operator (counts operators)"),
    CNAS_PARAM_SPEC_FLOAT("cost_flops_weight", "0", 0, 1e6,
                          "resource weight per MFLOP (multiply-adds) of an operator (mu)"),
    CNAS_PARAM_SPEC_FLOAT("flops_min", "0", 0, 1e12,
                          "stop once the architecture has fewer MFLOPs than this (0: run all "
                          "[train] epochs)"),
    CNAS_PARAM_SPEC_INT("stable_rounds", "3", 0, 100000,
                        "epochs without pruning before an architecture is recorded as a snapshot"),
    CNAS_PARAM_SPEC_INT("warmup_epochs", "0", 0, 1000000,
                        "first epochs that train weights and gates with lambda = 0, before any "
                        "pruning or adaptation of lambda"),
    CNAS_PARAM_SPEC_FLOAT("prune_lr", "0", 0, 100,
                          "the weights' learning rate once the warm-up is over (0: [train]'s "
                          "schedule throughout, as the paper)"),
    CNAS_PARAM_SPEC_BOOL("evaluate_snapshots", "true",
                         "evaluate every snapshot on the validation split (when it is not empty)"),
};

/* One supernet, every gate's operation run; gradients recycled (gold_create). */
static cnas_status gold_memory(const cnas_params *p, cnas_strategy_memory *m, cnas_error *err)
{
    (void)p, (void)err;
    m->releases_grads = true;
    return CNAS_OK;
}

static const cnas_strategy_vtable gold_vtable = {
    sizeof(cnas_strategy_vtable), gold_create, gold_destroy, gold_run, gold_save, gold_load,
    gold_memory,
};

static const cnas_component gold_components[] = {
    CNAS_COMPONENT(CNAS_KIND_STRATEGY, "gold_nas",
                   "GOLD-NAS: gradual one-level search with a variable resource constraint; a "
                   "Pareto front from one run (Bi et al. 2020)",
                   gold_keys, &gold_vtable),
};

CNAS_PLUGIN("gold_nas", "0.1.0", "GOLD-NAS search strategy", "MIT", gold_components, NULL)
