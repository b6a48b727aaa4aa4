/* SETN: one-shot NAS with a self-evaluated template network (Dong & Yang, ICCV 2019;
 * reference D-X-Y/AutoDL-Projects, exps/NAS-Bench-201-algos/SETN.py). docs/setn.md.
 *
 * Each step trains the template network (the supernet) on a train batch through one
 * uniformly sampled path, then trains the evaluator θ — one categorical per choice
 * point, p_θ(a) = Π softmax(θ) — first order by Adam on a validation batch in mixture
 * mode, so θ learns which candidates tend to have a low validation loss. Candidates
 * come from the evaluator: the N most likely architectures where the space is small
 * enough to enumerate, else N distinct draws from p_θ; each is evaluated on
 * validation data with the shared weights and the best is the answer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/cnas.h>
#include <cnas/kit.h>

#define SETN "setn"

typedef struct candidate {
    cnas_arch *arch;
    double log_p, acc, loss;
    int64_t flops, params;
    int order;                  /* position in candidate generation */
} candidate;

typedef struct setn {
    cnas_search_env *env;
    const cnas_space_vtable *vt;
    float arch_lr, init_scale;
    cnas_adam_opts adam;
    int n_cand, select_every, eval_batches, recal;
    int64_t enumerate_limit;
    cnas_eval_bn eval_bn;

    cnas_archparams *theta;
    cnas_tensor **w;
    int n_w;
    cnas_optim *w_opt, *a_opt;
    cnas_loop loop;
    cnas_graph *g;
    cnas_rng path_rng, cand_rng;
    cnas_arch *path;
    candidate *cands;
    int n_done;                 /* candidates filled by the last generation */
    int final_phase;            /* 1 once the final selection has generated its candidates */
    int n_eval;                 /* of those, how many are evaluated */
    char chosen[8192];          /* the last selection's answer, for the history */
} setn;

/* ---- one step: the template network on a uniform path, then the evaluator -------- */

typedef struct mix_batch {
    setn *s;
    cnas_tensor *x;
    const int32_t *y;
    int64_t correct;
} mix_batch;

static cnas_tensor *mixture_loss(cnas_graph *g, void *ctx)
{
    mix_batch *b = ctx;
    const cnas_mix_weight *mix = cnas_archparams_mix(b->s->theta, g, CNAS_AP_SOFTMAX, NULL);
    if (!mix)
        return NULL;
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, mix, NULL, true, NULL, 0.0f, NULL};
    cnas_tensor *logits = b->s->vt->forward(b->s->env->space, g, b->x, &fa);
    if (!logits)
        return NULL;
    b->correct = cnas_count_correct(logits, b->y);
    return cnas_cross_entropy(g, logits, b->y, 0.0f);
}

static cnas_status setn_step(void *self, cnas_loop_step *st, cnas_error *err)
{
    setn *s = self;
    cnas_search_env *env = s->env;
    cnas_tensor *const *theta = cnas_archparams_tensors(s->theta);
    int n_theta = cnas_archparams_groups(s->theta);
    /* The paper's training paths where the space has its own rule (NAS-Bench-201: a
     * path per cell, no node fed only by `none`), else a uniform architecture. */
    cnas_status rc = CNAS_VT_HAS(s->vt, sample_path)
                         ? s->vt->sample_path(env->space, &s->path_rng, s->path, err)
                         : s->vt->sample(env->space, &s->path_rng, s->path, err);
    cnas_path_batch pb = {env, NULL, s->path, st->x, st->y, 0};
    if (!rc)
        rc = cnas_grad_pass(s->g, cnas_path_loss, &pb, s->w, s->n_w, theta, n_theta, &st->loss,
                            err);
    if (!rc)
        rc = cnas_kit_update(env, s->w_opt, st->lr, true, err);
    st->correct = pb.correct;
    mix_batch vb = {s, st->xv, st->yv, 0};
    float arch_loss;
    if (!rc)
        rc = cnas_grad_pass(s->g, mixture_loss, &vb, theta, n_theta, s->w, s->n_w, &arch_loss,
                            err);
    if (!rc)
        rc = cnas_optim_step(s->a_opt, s->arch_lr, err);
    if (!rc) {
        env->metric(env, "arch_loss", arch_loss);
        env->metric(env, "arch_acc", (double)vb.correct / (double)st->xv->shape[0]);
    }
    return rc;
}

/* ---- candidates ------------------------------------------------------------------ */

/* log p_θ(a): the space's own rule, else the sum over points with one selection. */
static cnas_status log_prob(setn *s, const float *const *probs, const cnas_arch *a, double *lp,
                            cnas_error *err)
{
    if (CNAS_VT_HAS(s->vt, log_prob))
        return s->vt->log_prob(s->env->space, probs, a, lp, err);
    *lp = 0.0;
    for (int p = 0; p < a->n_points; p++) {
        int k = cnas_arch_single(a, p);
        if (k >= 0)
            *lp += log(fmax((double)probs[p][k], 1e-300));
    }
    return CNAS_OK;
}

typedef struct scored {
    int64_t index;
    double lp;
} scored;

static int by_lp_desc(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->lp != y->lp)
        return x->lp > y->lp ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The N most likely architectures of an enumerable space (the reference's top-N). */
static cnas_status top_n(setn *s, const float *const *probs, int64_t count, cnas_error *err)
{
    scored *all = malloc((size_t)count * sizeof *all);
    if (!all)
        return cnas_error_set(err, CNAS_ERR_NOMEM, SETN ": out of memory");
    cnas_status st = CNAS_OK;
    for (int64_t i = 0; i < count && !st; i++) {
        all[i].index = i;
        if (!(st = s->vt->enumerate(s->env->space, i, s->path, err)))
            st = log_prob(s, probs, s->path, &all[i].lp, err);
    }
    if (!st)
        qsort(all, (size_t)count, sizeof *all, by_lp_desc);
    s->n_done = (int)(count < s->n_cand ? count : s->n_cand);
    for (int c = 0; c < s->n_done && !st; c++) {
        s->cands[c].log_p = all[c].lp;
        st = s->vt->enumerate(s->env->space, all[c].index, s->cands[c].arch, err);
    }
    free(all);
    return st;
}

/* N distinct draws from p_θ (at most 20·N tries: a peaked θ has few likely ones). */
static cnas_status draw_n(setn *s, const float *const *probs, cnas_error *err)
{
    if (!CNAS_VT_HAS(s->vt, sample_weighted))
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, SETN ": the space can neither "
                              "enumerate its architectures nor sample them from weights "
                              "(sample_weighted)");
    s->n_done = 0;
    for (int tries = 0; s->n_done < s->n_cand && tries < 20 * s->n_cand; tries++) {
        candidate *c = &s->cands[s->n_done];
        cnas_status st = s->vt->sample_weighted(s->env->space, probs, &s->cand_rng, c->arch,
                                                &c->log_p, err);
        if (st)
            return st;
        bool seen = false;
        for (int j = 0; j < s->n_done && !seen; j++)
            seen = cnas_arch_equal(s->cands[j].arch, c->arch);
        s->n_done += !seen;
    }
    return CNAS_OK;
}

static int by_acc_desc(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    double ax = isnan(x->acc) ? -1 : x->acc, ay = isnan(y->acc) ? -1 : y->acc;
    if (ax != ay)
        return ax > ay ? -1 : 1;
    if (x->log_p != y->log_p)
        return x->log_p > y->log_p ? -1 : 1;
    return x->order - y->order;
}

/* The candidates of a selection, from the evaluator's current θ. */
static cnas_status generate(setn *s, cnas_error *err)
{
    const float *const *probs = cnas_archparams_probs(s->theta, CNAS_AP_SOFTMAX, err);
    int64_t count = CNAS_VT_HAS(s->vt, enumerate_count) ? s->vt->enumerate_count(s->env->space) : -1;
    cnas_status st = count > 0 && count <= s->enumerate_limit && CNAS_VT_HAS(s->vt, enumerate)
                         ? top_n(s, probs, count, err)
                         : draw_n(s, probs, err);
    for (int c = 0; c < s->n_done; c++) {
        s->cands[c].order = c;
        s->cands[c].acc = s->cands[c].loss = NAN;
        s->cands[c].flops = s->cands[c].params = -1;
    }
    return st;
}

/* One candidate with the shared weights, on the next validation batches. */
static cnas_status evaluate(setn *s, candidate *k, bool cost, cnas_error *err)
{
    cnas_arch_eval e = {sizeof e, NULL, k->arch,
                        s->eval_batches > 0 ? CNAS_STREAM_VAL_CYCLE : CNAS_STREAM_VAL,
                        s->eval_batches, s->eval_bn, s->recal};
    cnas_status st = s->env->evaluate_arch(s->env, &e, &k->loss, &k->acc, err);
    if (!st && cost && CNAS_VT_HAS(s->vt, cost))
        st = s->vt->cost(s->env->space, k->arch, &k->flops, &k->params, err);
    return st;
}

/* Best first; the answer's notation into s->chosen. */
static cnas_status rank(setn *s, cnas_error *err)
{
    qsort(s->cands, (size_t)s->n_done, sizeof *s->cands, by_acc_desc);
    return s->n_done ? s->vt->format(s->env->space, s->cands[0].arch, s->chosen,
                                     sizeof s->chosen, err)
                     : CNAS_OK;
}

static cnas_status setn_end_epoch(void *self, int64_t epoch, cnas_error *err)
{
    setn *s = self;
    cnas_search_env *env = s->env;
    cnas_status st = CNAS_OK;
    bool last = epoch + 1 == s->loop.epochs;
    if (s->select_every > 0 && !last && (epoch + 1) % s->select_every == 0) {
        if ((st = generate(s, err)))
            return st;
        for (int c = 0; c < s->n_done && !st; c++)
            st = evaluate(s, &s->cands[c], false, err);
        if (st || (st = rank(s, err)))
            return st;
        env->log(env, CNAS_LOG_INFO, "epoch %lld: chosen %s (one-shot val acc %.4f, log p %.3f)",
                 (long long)epoch, s->chosen, s->cands[0].acc, s->cands[0].log_p);
        env->metric(env, "chosen_val_acc", s->cands[0].acc);
    }
    cnas_text extra = {0};
    cnas_text_put(&extra, "\"chosen\": ");
    cnas_text_json_string(&extra, s->chosen);
    st = extra.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, SETN ": out of memory")
                   : cnas_archparams_history(s->theta, env, "alpha.jsonl", epoch, CNAS_AP_SOFTMAX,
                                             extra.s, err);
    cnas_text_free(&extra);
    return st;
}

static cnas_status write_candidates(setn *s, cnas_error *err)
{
    cnas_text o = {0};
    cnas_text_put(&o, "rank,arch,val_acc,val_loss,log_p,flops,params\n");
    for (int c = 0; c < s->n_done; c++) {
        char text[8192];
        cnas_status st = s->vt->format(s->env->space, s->cands[c].arch, text, sizeof text, err);
        if (st) {
            cnas_text_free(&o);
            return st;
        }
        cnas_text_put(&o, "%d,", c);
        cnas_text_json_string(&o, text); /* a JSON string is a valid quoted CSV field here */
        cnas_text_put(&o, ",%.6f,%.6f,%.6f,%lld,%lld\n", s->cands[c].acc, s->cands[c].loss,
                      s->cands[c].log_p, (long long)s->cands[c].flops,
                      (long long)s->cands[c].params);
    }
    cnas_status st = o.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, SETN ": out of memory")
                           : s->env->append(s->env, "candidates.csv", o.s, err);
    cnas_text_free(&o);
    return st;
}

static const cnas_loop_hooks setn_hooks = {sizeof setn_hooks, NULL, setn_step, setn_end_epoch};

/* The final selection: generated once, then evaluated candidate by candidate with a
 * checkpoint point after each, so a stop or a crash there goes on with the next one
 * (the checkpoint holds the candidates and the data streams' positions). */
static cnas_status final_selection(setn *s, cnas_error *err)
{
    cnas_search_env *env = s->env;
    cnas_status st;
    if (!s->final_phase) {
        if ((st = generate(s, err)))
            return st;
        s->final_phase = 1;
        s->n_eval = 0;
    }
    while (s->n_eval < s->n_done) {
        if (env->stop_requested(env))
            return env->checkpoint_point(env, s->loop.epoch, 0, false, err);
        if ((st = evaluate(s, &s->cands[s->n_eval], true, err)))
            return st;
        env->log(env, CNAS_LOG_INFO, SETN ": candidate %d/%d val acc %.4f", s->n_eval + 1,
                 s->n_done, s->cands[s->n_eval].acc);
        s->n_eval++;
        if ((st = env->checkpoint_point(env, s->loop.epoch, 0, false, err)))
            return st;
    }
    return rank(s, err);
}

static cnas_status setn_run(void *self, cnas_error *err)
{
    setn *s = self;
    cnas_search_env *env = s->env;
    cnas_status st = env->append(env, "candidates.csv", "", err); /* cut back on resume */
    if (!st)
        st = cnas_loop_run(&s->loop, &setn_hooks, s, err);
    if (!st)
        st = final_selection(s, err);
    for (int c = 0; c < s->n_done && !st; c++) {
        candidate *k = &s->cands[c];
        cnas_result r = {sizeof r, c, k->arch, k->acc, k->acc, k->flops, k->params};
        st = env->report_result(env, &r, err);
    }
    if (!st)
        st = write_candidates(s, err);
    if (!st && s->n_done)
        env->log(env, CNAS_LOG_INFO, SETN ": best of %d candidates %s, one-shot val acc %.4f; "
                 "all in candidates.csv", s->n_done, s->chosen, s->cands[0].acc);
    return st;
}

/* ---- set-up and checkpoints ----------------------------------------------------- */

static void setn_destroy(void *self)
{
    setn *s = self;
    if (!s)
        return;
    cnas_archparams_free(s->theta);
    free(s->w);
    cnas_optim_free(s->w_opt);
    cnas_optim_free(s->a_opt);
    cnas_loop_free(&s->loop);
    cnas_graph_free(s->g);
    cnas_arch_free(s->path);
    for (int c = 0; s->cands && c < s->n_cand; c++)
        cnas_arch_free(s->cands[c].arch);
    free(s->cands);
    free(s);
}

static cnas_status setn_create(const cnas_params *p, cnas_search_env *env, void **self,
                               cnas_error *err)
{
    setn *s = calloc(1, sizeof *s);
    if (!s)
        return cnas_error_set(err, CNAS_ERR_NOMEM, SETN ": out of memory");
    s->env = env;
    s->vt = env->space_vt;
    s->arch_lr = (float)cnas_params_float(p, "arch_learning_rate");
    s->adam = (cnas_adam_opts){(float)cnas_params_float(p, "arch_beta1"),
                               (float)cnas_params_float(p, "arch_beta2"), 1e-8f,
                               (float)cnas_params_float(p, "arch_weight_decay")};
    s->init_scale = (float)cnas_params_float(p, "init_scale");
    s->n_cand = (int)cnas_params_int(p, "candidates");
    s->select_every = (int)cnas_params_int(p, "select_every");
    s->eval_batches = (int)cnas_params_int(p, "eval_batches");
    s->recal = (int)cnas_params_int(p, "recalibrate_batches");
    s->enumerate_limit = cnas_params_int(p, "enumerate_limit");
    const char *bn = cnas_params_str(p, "eval_bn");
    s->eval_bn = strcmp(bn, "batch") == 0         ? CNAS_EVAL_BN_BATCH
                 : strcmp(bn, "recalibrate") == 0 ? CNAS_EVAL_BN_RECALIBRATE
                                                  : CNAS_EVAL_BN_RUNNING;
    cnas_status st;
    if (!CNAS_VT_HAS(s->vt, sample) || !CNAS_VT_HAS(s->vt, format) ||
        !CNAS_VT_HAS(s->vt, choice_points)) {
        st = cnas_error_set(err, CNAS_ERR_UNSUPPORTED, SETN ": the space needs choice points, "
                            "uniform sampling and a notation (choice_points, sample, format)");
        goto fail;
    }
    if (!(s->theta = cnas_archparams_new(s->vt, env->space, true, err))) {
        st = cnas_error_prefix(err, SETN);
        goto fail;
    }
    cnas_archparams_init_normal(s->theta, env->seed, "arch_init", s->init_scale);
    int n_points = cnas_archparams_points(s->theta);
    s->cands = calloc((size_t)s->n_cand, sizeof *s->cands);
    if (!s->cands) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, SETN ": out of memory");
        goto fail;
    }
    for (int c = 0; c < s->n_cand; c++)
        if (!(s->cands[c].arch = cnas_arch_new(n_points, err))) {
            st = err->code;
            goto fail;
        }
    if ((st = cnas_space_param_tensors(s->vt, env->space, &s->w, &s->n_w, err)) ||
        (st = cnas_loop_init(&s->loop, env, SETN, true, err)))
        goto fail;
    if (!(s->w_opt = cnas_sgd_from_settings(env->train, s->w, s->n_w, err)) ||
        !(s->a_opt = cnas_adam_new(cnas_archparams_tensors(s->theta),
                                   cnas_archparams_groups(s->theta), &s->adam, err)) ||
        !(s->g = cnas_graph_new(err)) || !(s->path = cnas_arch_new(n_points, err))) {
        st = err->code;
        goto fail;
    }
    /* Only leaf gradients (weights, architecture parameters) are read after backward,
     * so backward may recycle the others (graph.h). */
    cnas_graph_set_release_grads(s->g, true);
    cnas_rng_init(&s->path_rng, env->seed, "setn.path");
    cnas_rng_init(&s->cand_rng, env->seed, "setn.candidates");
    *self = s;
    return CNAS_OK;
fail:
    setn_destroy(s);
    return st;
}

static cnas_status setn_io(setn *s, cnas_ckio *io)
{
    cnas_loop_io(&s->loop, io, SETN);
    cnas_archparams_io(s->theta, io, SETN);
    cnas_ckio_optim(io, SETN ".w_opt", s->w_opt);
    cnas_ckio_optim(io, SETN ".a_opt", s->a_opt);
    cnas_ckio_rng(io, SETN ".rng.path", &s->path_rng);
    cnas_ckio_rng(io, SETN ".rng.candidates", &s->cand_rng);
    cnas_ckio_blob(io, SETN ".chosen", s->chosen, sizeof s->chosen);
    cnas_ckio_int(io, SETN ".final.phase", &s->final_phase);
    if (!s->final_phase)
        return cnas_ckio_status(io);
    /* The final selection under way: its candidates and what is evaluated so far. */
    int n_done = s->n_done;
    cnas_ckio_int(io, SETN ".final.candidates", &n_done);
    cnas_ckio_int(io, SETN ".final.evaluated", &s->n_eval);
    if (!io->status && (n_done < 0 || n_done > s->n_cand || s->n_eval < 0 || s->n_eval > n_done))
        return io->status = cnas_error_set(io->err, CNAS_ERR_FORMAT, SETN ": the checkpoint holds "
                                           "%d candidates (%d evaluated), this run has room for %d",
                                           n_done, s->n_eval, s->n_cand);
    s->n_done = n_done;
    for (int c = 0; c < s->n_done && !io->status; c++) {
        candidate *k = &s->cands[c];
        char name[64];
        snprintf(name, sizeof name, SETN ".final.%d.mask", c);
        cnas_ckio_blob(io, name, k->arch->mask, (size_t)k->arch->n_points * sizeof *k->arch->mask);
        snprintf(name, sizeof name, SETN ".final.%d.order", c);
        cnas_ckio_blob(io, name, k->arch->order, (size_t)k->arch->n_points * sizeof *k->arch->order);
        double v[3] = {k->log_p, k->acc, k->loss};
        int64_t cost[3] = {k->flops, k->params, k->order};
        snprintf(name, sizeof name, SETN ".final.%d.values", c);
        cnas_ckio_blob(io, name, v, sizeof v);
        snprintf(name, sizeof name, SETN ".final.%d.cost", c);
        cnas_ckio_blob(io, name, cost, sizeof cost);
        k->log_p = v[0], k->acc = v[1], k->loss = v[2];
        k->flops = cost[0], k->params = cost[1], k->order = (int)cost[2];
    }
    return cnas_ckio_status(io);
}

static cnas_status setn_save(void *self, cnas_ckpt *ck, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_put(ck, err);
    return setn_io(self, &io);
}

static cnas_status setn_load(void *self, const cnas_ckpt *ck, cnas_error *err)
{
    setn *s = self;
    cnas_ckio io = cnas_ckio_get(ck, err);
    cnas_status st = setn_io(s, &io);
    if (!st)
        s->env->log(s->env, CNAS_LOG_INFO, SETN ": resuming at epoch %lld step %lld, %d of %d "
                    "final candidates evaluated", (long long)s->loop.epoch,
                    (long long)s->loop.step, s->final_phase ? s->n_eval : 0,
                    s->final_phase ? s->n_done : 0);
    return st;
}

/* ---- the component ---------------------------------------------------------------- */

static const cnas_param_spec setn_keys[] = {
    CNAS_PARAM_SPEC_FLOAT("arch_learning_rate", "3e-4", 0, 10, "Adam learning rate of the evaluator"),
    CNAS_PARAM_SPEC_FLOAT("arch_beta1", "0.5", 0, 1, "Adam beta1 of the evaluator"),
    CNAS_PARAM_SPEC_FLOAT("arch_beta2", "0.999", 0, 1, "Adam beta2 of the evaluator"),
    CNAS_PARAM_SPEC_FLOAT("arch_weight_decay", "1e-3", 0, 1,
                          "coupled L2 weight decay of the evaluator (torch.optim.Adam)"),
    CNAS_PARAM_SPEC_FLOAT("init_scale", "1e-3", 0, 10, "theta initialised to init_scale * N(0, 1)"),
    CNAS_PARAM_SPEC_INT("candidates", "100", 1, 100000,
                        "N: candidates generated by the evaluator and evaluated (select_num)"),
    CNAS_PARAM_SPEC_INT("select_every", "1", 0, 100000,
                        "choose (and log) an architecture every N epochs during the search "
                        "(0: only at the end)"),
    CNAS_PARAM_SPEC_INT("eval_batches", "1", 0, 1000000,
                        "validation batches per candidate, each candidate taking the next ones "
                        "as the reference does (0: the whole validation split)"),
    CNAS_PARAM_SPEC_CHOICE("eval_bn", "batch", "running|batch|recalibrate",
                           "batch norm when evaluating a candidate: batch statistics of each "
                           "evaluation batch, running statistics (the reference's eval mode; "
                           "the evaluator's mixture passes skew them), or running statistics "
                           "re-estimated on training batches"),
    CNAS_PARAM_SPEC_INT("recalibrate_batches", "50", 1, 100000,
                        "training batches for eval_bn = recalibrate"),
    CNAS_PARAM_SPEC_INT("enumerate_limit", "100000", 0, 100000000,
                        "spaces with at most this many architectures take the N most likely; "
                        "larger ones sample N distinct ones from the evaluator"),
};

/* One supernet; the architecture step runs the mixture; gradients recycled (setn_create). */
static cnas_status setn_memory(const cnas_params *p, cnas_strategy_memory *m, cnas_error *err)
{
    (void)p, (void)err;
    m->releases_grads = true;
    return CNAS_OK;
}

static const cnas_strategy_vtable setn_vtable = {
    sizeof(cnas_strategy_vtable), setn_create, setn_destroy, setn_run, setn_save, setn_load,
    setn_memory,
};

static const cnas_component setn_components[] = {
    CNAS_COMPONENT(CNAS_KIND_STRATEGY, SETN,
                   "SETN: uniform single-path training of a template network and an evaluator "
                   "that proposes candidates (Dong & Yang 2019); the reference trains with SGD "
                   "0.025 cosine, Nesterov momentum 0.9, weight decay 5e-4, no clipping",
                   setn_keys, &setn_vtable),
};

CNAS_PLUGIN(SETN, "0.1.0", "SETN search strategy", "MIT", setn_components, NULL)
