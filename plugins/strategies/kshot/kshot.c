/* K-shot NAS (Su, You, Zheng, Wang, Qian, Zhang, Xu, "K-shot NAS: Learnable Weight-Sharing
 * for NAS with K-shot Supernets", ICML 2021, arXiv:2106.06442). docs/kshot.md.
 *
 * K supernets are K copies Θ_1..Θ_K of every weight; a path a runs with the merged
 * weights θ(a) = Σ_k λ_k(a)·Θ_k, bound into the supernet forward (cnas_graph_bind),
 * where the simplex code λ(a) comes from a small MLP on a's one-hot encoding. Warm-up
 * epochs train the dictionaries with codes drawn from a flat Dirichlet; then every step
 * trains them on a uniform path with its code (no gradient to the simplex-net) and the
 * simplex-net on m paths of one batch, one per chunk (no gradient to the dictionaries).
 * Candidates (all of a small space, else N drawn uniformly, optionally under a FLOPs
 * bound) are evaluated with their merged weights and batch-norm statistics re-estimated,
 * and all are ranked. No official code exists: every unverified choice is a key. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kshot.h"

/* ---- the loss of a path on rows of a batch --------------------------------------------- */

typedef struct batch_ctx {
    cnas_search_env *env;
    cnas_tensor *x;
    const int32_t *y;
    int64_t correct;
} batch_ctx;

static cnas_tensor *rows_loss(cnas_graph *g, void *p, const cnas_arch *a, int64_t r0, int64_t r1)
{
    batch_ctx *b = p;
    cnas_tensor *x = b->x;
    if (r0 > 0 || r1 < x->shape[0]) {
        int64_t shape[CNAS_MAX_DIMS];
        memcpy(shape, x->shape, sizeof shape);
        shape[0] = r1 - r0;
        if (!(x = cnas_graph_tensor(g, x->ndim, shape)))
            return NULL;
        size_t row = (size_t)(b->x->numel / b->x->shape[0]);
        memcpy(x->data, b->x->data + (size_t)r0 * row, (size_t)(r1 - r0) * row * sizeof *x->data);
    }
    cnas_path_batch pb = {b->env, NULL, a, x, b->y + r0, 0};
    cnas_tensor *l = cnas_path_loss(g, &pb);
    b->correct += pb.correct;
    return l;
}

typedef struct path_ctx {
    batch_ctx b;
    const cnas_arch *a;
} path_ctx;

static cnas_tensor *plain_loss(cnas_graph *g, void *p)
{
    path_ctx *c = p;
    return rows_loss(g, &c->b, c->a, 0, c->b.x->shape[0]);
}

/* ---- one step ----------------------------------------------------------------------------- */

cnas_status ks_draw_path(kshot *s, cnas_rng *r, cnas_arch *a, cnas_error *err)
{
    return s->use_sample_path ? s->vt->sample_path(s->env->space, r, a, err)
                              : s->vt->sample(s->env->space, r, a, err);
}

/* The simplex-net on m paths, one per chunk of a batch. */
static cnas_status phi_step(kshot *s, cnas_loop_step *st, cnas_error *err)
{
    cnas_search_env *env = s->env;
    batch_ctx b = {env, st->x, st->y, 0};
    if (s->phi_data != PHI_SAME) {
        int r = env->next_batch(env, s->phi_data == PHI_VAL ? CNAS_STREAM_VAL_CYCLE
                                                            : CNAS_STREAM_TRAIN_CYCLE,
                                st->g, &b.x, &b.y, err);
        if (r <= 0)
            return r < 0 ? err->code
                         : cnas_error_set(err, CNAS_ERR_CONFIG, KS ": simplex_data = val needs a "
                                          "validation split ([data] train_portion below 1)");
    }
    for (int c = 0; c < s->m_paths; c++) {
        cnas_status rc = ks_draw_path(s, &s->phi_rng, s->chunk[c], err);
        if (rc)
            return rc;
    }
    float loss;
    cnas_status rc = ks_phi_pass(s->g, s->model, s->chunk, s->m_paths, rows_loss, &b,
                                 b.x->shape[0], &loss, err);
    if (!rc)
        rc = cnas_optim_step(s->phi_opt, s->phi_lr, err);
    if (!rc) {
        env->metric(env, "simplex_loss", loss);
        env->metric(env, "simplex_acc", (double)b.correct / (double)b.x->shape[0]);
    }
    return rc;
}

static cnas_status ks_step(void *self, cnas_loop_step *st, cnas_error *err)
{
    kshot *s = self;
    cnas_search_env *env = s->env;
    cnas_status rc = ks_draw_path(s, &s->path_rng, s->path, err);
    if (rc)
        return rc;
    bool warm = st->epoch < s->warmup;
    float lambda[KS_MAX_K];
    path_ctx pc = {{env, st->x, st->y, 0}, s->path};
    if (s->K == 1) {
        /* λ = 1: plain single-path weight sharing, without the merge. */
        rc = cnas_grad_pass(s->g, plain_loss, &pc, s->theta, s->n_w, NULL, 0, &st->loss, err);
    } else {
        if (warm && s->warm_dirichlet)
            ks_dirichlet(&s->code_rng, s->K, lambda);
        else if (warm)
            for (int k = 0; k < s->K; k++)
                lambda[k] = 1.0f / (float)s->K;
        else if ((rc = ks_code_values(s->g, s->model, s->path, lambda, err)))
            return rc;
        rc = ks_theta_pass(s->g, s->model, s->path, lambda, rows_loss, &pc.b, st->x->shape[0],
                           &st->loss, err);
        double hmax = 0.0;
        for (int k = 0; k < s->K; k++)
            hmax = fmax(hmax, lambda[k]);
        env->metric(env, "code_max", hmax);
    }
    if (!rc)
        rc = cnas_kit_update(env, s->w_opt, st->lr, true, err);
    st->correct = pc.b.correct;
    if (rc || s->K == 1)
        return rc;
    if (!warm && s->phi_every > 0 && st->step % s->phi_every == 0)
        return phi_step(s, st, err);
    env->metric(env, "simplex_loss", NAN);
    env->metric(env, "simplex_acc", NAN);
    return CNAS_OK;
}

static cnas_status ks_end_epoch(void *self, int64_t epoch, cnas_error *err)
{
    return ks_log_codes(self, epoch, err);
}

static const cnas_loop_hooks ks_hooks = {sizeof ks_hooks, NULL, ks_step, ks_end_epoch};

static cnas_status ks_run(void *self, cnas_error *err)
{
    kshot *s = self;
    cnas_search_env *env = s->env;
    static const char *const files[] = {"ranking.tsv", "candidates.csv", "codes.jsonl"};
    cnas_status rc = CNAS_OK;
    /* Known before the first checkpoint, so a resume cuts them back. */
    for (size_t i = 0; i < sizeof files / sizeof *files && !rc; i++)
        rc = env->append(env, files[i], "", err);
    if (rc || (rc = cnas_loop_run(&s->loop, &ks_hooks, s, err)))
        return rc;
    return ks_evaluate_candidates(s, err);
}

/* ---- set-up -------------------------------------------------------------------------------- */

static void ks_destroy(void *self)
{
    kshot *s = self;
    if (!s)
        return;
    for (int k = 0; k < KS_MAX_K; k++) {
        free(s->w[k]);
        if (k > 0 && s->nets[k])
            s->vt->destroy(s->nets[k]);
    }
    if (s->scratch)
        s->vt->destroy(s->scratch);
    free(s->theta);
    free(s->scratch_w);
    free(s->buf_src);
    free(s->buf_dst);
    ks_model_free(s->model);
    cnas_optim_free(s->w_opt);
    cnas_optim_free(s->phi_opt);
    cnas_loop_free(&s->loop);
    cnas_graph_free(s->g);
    cnas_arch_free(s->path);
    for (int c = 0; s->chunk && c < s->m_paths; c++)
        cnas_arch_free(s->chunk[c]);
    free(s->chunk);
    for (int c = 0; s->cand && c < s->room; c++)
        cnas_arch_free(s->cand[c]);
    free(s->cand);
    free(s->flops);
    free(s->params);
    free(s->acc);
    free(s);
}

static cnas_status make_dictionaries(kshot *s, cnas_error *err)
{
    cnas_search_env *env = s->env;
    s->nets[0] = env->space;
    for (int k = 0; k < s->K; k++) {
        char stream[32];
        snprintf(stream, sizeof stream, "kshot.supernet%d", k);
        int n;
        if (k > 0 && env->create_supernet(env, stream, &s->nets[k], err)) {
            s->nets[k] = NULL;
            return cnas_error_prefix(err, KS ": supernet %d", k);
        }
        if (cnas_space_param_tensors(s->vt, s->nets[k], &s->w[k], &n, err))
            return err->code;
        if (k > 0 && n != s->n_w)
            return cnas_error_set(err, CNAS_ERR_INTERNAL, KS ": supernet %d has %d weights, "
                                  "supernet 0 has %d", k, n, s->n_w);
        s->n_w = n;
    }
    if (!(s->theta = malloc((size_t)s->K * (size_t)s->n_w * sizeof *s->theta)))
        return cnas_error_set(err, CNAS_ERR_NOMEM, KS ": out of memory");
    for (int k = 0; k < s->K; k++)
        memcpy(s->theta + (size_t)k * s->n_w, s->w[k], (size_t)s->n_w * sizeof *s->theta);
    if (!(s->w_opt = cnas_sgd_from_settings(env->train, s->theta, s->K * s->n_w, err)))
        return err->code;
    if (s->K > 1 && s->n_w > CNAS_GRAPH_MAX_BINDINGS)
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, KS ": the supernet has %d weight "
                              "tensors; parameter binding takes at most %d", s->n_w,
                              CNAS_GRAPH_MAX_BINDINGS);
    if (s->K == 1)
        return CNAS_OK;
    int n;
    if (env->create_supernet(env, "kshot.eval", &s->scratch, err)) {
        s->scratch = NULL;
        return cnas_error_prefix(err, KS ": the evaluation network");
    }
    if (cnas_space_param_tensors(s->vt, s->scratch, &s->scratch_w, &n, err))
        return err->code;
    s->n_named = s->vt->tensors(env->space, NULL, 0);
    s->buf_src = malloc((size_t)(s->n_named + 1) * sizeof *s->buf_src);
    s->buf_dst = malloc((size_t)(s->n_named + 1) * sizeof *s->buf_dst);
    if (!s->buf_src || !s->buf_dst)
        return cnas_error_set(err, CNAS_ERR_NOMEM, KS ": out of memory");
    if (s->vt->tensors(env->space, s->buf_src, s->n_named) != s->n_named ||
        s->vt->tensors(s->scratch, s->buf_dst, s->n_named) != s->n_named || n != s->n_w)
        return cnas_error_set(err, CNAS_ERR_INTERNAL, KS ": the evaluation network's tensors "
                              "differ from the supernet's");
    s->eval.space = s->scratch;
    return CNAS_OK;
}

static cnas_status setup(kshot *s, const cnas_params *p, cnas_error *err)
{
    cnas_search_env *env = s->env;
    s->K = (int)cnas_params_int(p, "k");
    s->m_paths = (int)cnas_params_int(p, "simplex_paths");
    s->phi_every = (int)cnas_params_int(p, "simplex_every");
    s->warmup = (int)cnas_params_int(p, "warmup_epochs");
    s->warm_dirichlet = !strcmp(cnas_params_str(p, "warmup_codes"), "dirichlet");
    s->use_sample_path = !strcmp(cnas_params_str(p, "paths"), "sample_path");
    const char *pd = cnas_params_str(p, "simplex_data");
    s->phi_data = !strcmp(pd, "val") ? PHI_VAL : !strcmp(pd, "same") ? PHI_SAME : PHI_TRAIN;
    s->phi_lr = (float)cnas_params_float(p, "simplex_lr");
    const char *bn = cnas_params_str(p, "eval_bn");
    int batches = (int)cnas_params_int(p, "eval_batches");
    s->eval = (cnas_arch_eval){sizeof s->eval, NULL, NULL,
        batches ? CNAS_STREAM_VAL_CYCLE : CNAS_STREAM_VAL, batches,
        !strcmp(bn, "running") ? CNAS_EVAL_BN_RUNNING
        : !strcmp(bn, "batch") ? CNAS_EVAL_BN_BATCH : CNAS_EVAL_BN_RECALIBRATE,
        (int)cnas_params_int(p, "recalibrate_batches")};
    const char *missing = !CNAS_VT_HAS(s->vt, choice_points) ? "choice_points"
                          : !CNAS_VT_HAS(s->vt, format) ? "format (to name architectures)"
                          : !CNAS_VT_HAS(s->vt, sample) ? "sample (to draw paths)"
                          : s->use_sample_path && !CNAS_VT_HAS(s->vt, sample_path)
                              ? "sample_path (paths = sample_path)" : NULL;
    if (missing)
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, KS ": the space has no %s", missing);
    int64_t max_flops = cnas_params_int(p, "max_flops");
    if (max_flops > 0 && !CNAS_VT_HAS(s->vt, cost))
        return cnas_error_set(err, CNAS_ERR_CONFIG, KS ": max_flops = %lld, but the space cannot "
                              "count FLOPs (no cost)", (long long)max_flops);
    if (env->batches_per_epoch(env, CNAS_STREAM_VAL) < 1)
        return cnas_error_set(err, CNAS_ERR_CONFIG, KS ": the validation split is empty ([data] "
                              "train_portion must be below 1): candidates are evaluated on it");
    if (s->K > 1 && s->m_paths > env->train->batch_size)
        return cnas_error_set(err, CNAS_ERR_CONFIG, KS ": simplex_paths = %d, but a batch holds "
                              "%d samples ([train] batch_size); each path needs one at least",
                              s->m_paths, (int)env->train->batch_size);

    const cnas_choice_point *pts;
    int n_points = s->vt->choice_points(env->space, &pts);
    int *widths = malloc((size_t)(n_points > 0 ? n_points : 1) * sizeof *widths);
    if (!widths)
        return cnas_error_set(err, CNAS_ERR_NOMEM, KS ": out of memory");
    for (int q = 0; q < n_points; q++)
        widths[q] = pts[q].n_candidates;
    cnas_rng init;
    cnas_rng_init(&init, env->seed, "kshot.simplex_init");
    s->model = ks_model_new(s->K, n_points, widths, (int)cnas_params_int(p, "hidden"),
                            (float)cnas_params_float(p, "temperature"),
                            strcmp(cnas_params_str(p, "encoding"), "mean") ? KS_ENC_FLAT
                                                                           : KS_ENC_MEAN,
                            &init, err);
    free(widths);
    if (!s->model)
        return err->code;
    cnas_status rc;
    if ((rc = ks_make_candidates(s, (int)cnas_params_int(p, "candidates"),
                              cnas_params_int(p, "enumerate_limit"), max_flops, n_points, err)) ||
        (rc = make_dictionaries(s, err)))
        return rc;
    s->model->n = s->n_w;
    s->model->slot = s->w[0];
    s->model->theta = s->theta;
    cnas_adam_opts ao = {(float)cnas_params_float(p, "simplex_beta1"),
                         (float)cnas_params_float(p, "simplex_beta2"), 1e-8f,
                         (float)cnas_params_float(p, "simplex_weight_decay")};
    if (!(s->phi_opt = cnas_adam_new(s->model->phi, 4, &ao, err)) ||
        !(s->g = cnas_graph_new(err)) || !(s->path = cnas_arch_new(n_points, err)) ||
        !(s->chunk = calloc((size_t)s->m_paths, sizeof *s->chunk)))
        return err->code ? err->code : cnas_error_set(err, CNAS_ERR_NOMEM, KS ": out of memory");
    for (int c = 0; c < s->m_paths; c++)
        if (!(s->chunk[c] = cnas_arch_new(n_points, err)))
            return err->code;
    /* Only leaf gradients (weights, architecture parameters) are read after backward,
     * so backward may recycle the others (graph.h). */
    cnas_graph_set_release_grads(s->g, true);
    if ((rc = cnas_loop_init(&s->loop, env, KS, false, err)))
        return rc;
    cnas_rng_init(&s->path_rng, env->seed, "kshot.path");
    cnas_rng_init(&s->code_rng, env->seed, "kshot.warmup_codes");
    cnas_rng_init(&s->phi_rng, env->seed, "kshot.simplex_paths");
    if (s->K > 1 && s->warmup >= env->train->epochs)
        env->log(env, CNAS_LOG_WARN, KS ": warmup_epochs = %d covers all %d epochs: the "
                 "simplex-net is never trained", s->warmup, (int)env->train->epochs);
    env->log(env, CNAS_LOG_INFO, KS ": K = %d dictionaries of %d weight tensors; %d warm-up "
             "epochs (%s codes), then a simplex-net step on %d paths every %d steps; %d "
             "candidates%s", s->K, s->n_w, s->warmup, s->warm_dirichlet ? "Dirichlet" : "1/K",
             s->m_paths, s->phi_every, s->n_c,
             s->n_c && CNAS_VT_HAS(s->vt, enumerate_count) &&
                     s->vt->enumerate_count(env->space) == s->n_c ? " (the whole space)" : "");
    return CNAS_OK;
}

static cnas_status ks_create(const cnas_params *p, cnas_search_env *env, void **self,
                             cnas_error *err)
{
    kshot *s = calloc(1, sizeof *s);
    if (!s)
        return cnas_error_set(err, CNAS_ERR_NOMEM, KS ": out of memory");
    s->env = env;
    s->vt = env->space_vt;
    cnas_status rc = setup(s, p, err);
    if (rc) {
        ks_destroy(s);
        return rc;
    }
    *self = s;
    return CNAS_OK;
}

/* ---- checkpoints ----------------------------------------------------------------------------- */

static cnas_status ks_io(kshot *s, cnas_ckio *io)
{
    int K = s->K, n_c = s->n_c;
    cnas_ckio_int(io, KS ".k", &K);
    cnas_ckio_int(io, KS ".candidates", &n_c);
    if (!io->status && (K != s->K || n_c != s->n_c))
        return io->status = cnas_error_set(io->err, CNAS_ERR_CONFIG, KS ": the checkpoint holds "
                                           "K = %d and %d candidates, this run has K = %d and %d",
                                           K, n_c, s->K, s->n_c);
    cnas_loop_io(&s->loop, io, KS);
    cnas_ckio_optim(io, KS ".w_opt", s->w_opt);
    cnas_ckio_optim(io, KS ".simplex_opt", s->phi_opt);
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, KS ".simplex.%d", i);
        cnas_ckio_tensor(io, name, s->model->phi[i]);
    }
    for (int k = 1; k < s->K; k++) { /* supernet 0 is env->space, saved by the host */
        char name[64];
        snprintf(name, sizeof name, KS ".supernet%d", k);
        cnas_ckio_space(io, name, s->vt, s->nets[k]);
    }
    cnas_ckio_rng(io, KS ".rng.path", &s->path_rng);
    cnas_ckio_rng(io, KS ".rng.warmup_codes", &s->code_rng);
    cnas_ckio_rng(io, KS ".rng.simplex_paths", &s->phi_rng);
    cnas_ckio_int(io, KS ".done", &s->done);
    if (!io->status && (s->done < 0 || s->done > s->n_c))
        return io->status = cnas_error_set(io->err, CNAS_ERR_FORMAT, KS ": the checkpoint has "
                                           "%d of %d candidates evaluated", s->done, s->n_c);
    return cnas_ckio_blob(io, KS ".acc_loss", s->acc, 2 * (size_t)s->n_c * sizeof *s->acc);
}

static cnas_status ks_save(void *self, cnas_ckpt *ck, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_put(ck, err);
    return ks_io(self, &io);
}

static cnas_status ks_load(void *self, const cnas_ckpt *ck, cnas_error *err)
{
    kshot *s = self;
    cnas_ckio io = cnas_ckio_get(ck, err);
    cnas_status rc = ks_io(s, &io);
    if (!rc)
        s->env->log(s->env, CNAS_LOG_INFO, KS ": resuming at epoch %lld step %lld, %d of %d "
                    "candidates evaluated", (long long)s->loop.epoch, (long long)s->loop.step,
                    s->done, s->n_c);
    return rc;
}

/* ---- the component ------------------------------------------------------------------------------ */

static const cnas_param_spec ks_keys[] = {
    CNAS_PARAM_SPEC_INT("k", "4", 1, KS_MAX_K,
                        "K, the number of supernets (weight dictionaries); 1 is plain single-path "
                        "weight sharing (unverified default: the paper ablates K, the unofficial "
                        "code uses 2)"),
    CNAS_PARAM_SPEC_INT("hidden", "100", 1, 100000, "hidden width of the simplex-net"),
    CNAS_PARAM_SPEC_FLOAT("temperature", "1", 1e-6, 1e6,
                          "τ of the simplex-net's softmax(z / τ) (unverified)"),
    CNAS_PARAM_SPEC_CHOICE("encoding", "flat", "flat|mean",
                           "simplex-net input: the choice points' one-hot rows concatenated "
                           "(flat) or averaged (mean, as the unofficial code; needs equal "
                           "candidate counts) (unverified)"),
    CNAS_PARAM_SPEC_INT("warmup_epochs", "5", 0, 1000000,
                        "epochs that train the dictionaries only, with codes from warmup_codes"),
    CNAS_PARAM_SPEC_CHOICE("warmup_codes", "dirichlet", "dirichlet|uniform",
                           "warm-up codes: a flat Dirichlet draw per step, or 1/K (the "
                           "unofficial code; the K copies then differ only by their "
                           "initialisation) (unverified)"),
    CNAS_PARAM_SPEC_INT("simplex_paths", "16", 1, 100000,
                        "m: paths per simplex-net batch, one per chunk of the batch"),
    CNAS_PARAM_SPEC_INT("simplex_every", "1", 0, 1000000,
                        "a simplex-net step after every N-th supernet step of an epoch (0: "
                        "never) (unverified: the unofficial code alternates 1:1)"),
    CNAS_PARAM_SPEC_CHOICE("simplex_data", "train", "train|val|same",
                           "the simplex-net's batch: the next training batch of its own cycle "
                           "(train), a validation batch (val), or the supernet step's batch "
                           "(same) (unverified)"),
    CNAS_PARAM_SPEC_FLOAT("simplex_lr", "1e-3", 0, 10,
                          "Adam learning rate of the simplex-net (unverified)"),
    CNAS_PARAM_SPEC_FLOAT("simplex_beta1", "0.9", 0, 1, "Adam beta1 of the simplex-net"),
    CNAS_PARAM_SPEC_FLOAT("simplex_beta2", "0.999", 0, 1, "Adam beta2 of the simplex-net"),
    CNAS_PARAM_SPEC_FLOAT("simplex_weight_decay", "0", 0, 1,
                          "coupled L2 weight decay of the simplex-net"),
    CNAS_PARAM_SPEC_CHOICE("paths", "sample", "sample|sample_path",
                           "training paths: uniform architectures (sample) or the space's "
                           "training paths (sample_path, e.g. NAS-Bench-201 per-cell paths)"),
    CNAS_PARAM_SPEC_INT("candidates", "100", 1, 1000000,
                        "N: candidates drawn uniformly when the space has more than "
                        "enumerate_limit architectures"),
    CNAS_PARAM_SPEC_INT("enumerate_limit", "1000", 0, 100000000,
                        "spaces with at most this many architectures evaluate all of them"),
    CNAS_PARAM_SPEC_INT("max_flops", "0", 0, 1e15,
                        "leave out candidates above this many multiply-adds per input (0: no "
                        "bound)"),
    CNAS_PARAM_SPEC_CHOICE("eval_bn", "recalibrate", "running|batch|recalibrate",
                           "batch norm when evaluating a candidate: running statistics "
                           "re-estimated on training batches with its merged weights, each "
                           "batch's own, or the supernet's running statistics"),
    CNAS_PARAM_SPEC_INT("recalibrate_batches", "50", 1, 100000,
                        "eval_bn = recalibrate: training batches per candidate"),
    CNAS_PARAM_SPEC_INT("eval_batches", "0", 0, 1000000,
                        "validation batches per candidate (0: the whole validation split)"),
};

/* K supernets trained on single paths; with K > 1 the evaluation network's weights and the
 * merged weights bound into each forward, with their gradients (make_dictionaries). */
static cnas_status ks_memory(const cnas_params *p, cnas_strategy_memory *m, cnas_error *err)
{
    (void)err;
    int64_t k = cnas_params_int(p, "k");
    m->single_path = true;
    m->supernets = (double)k;
    m->weight_copies = k > 1 ? 3 : 0;
    m->releases_grads = true;
    return CNAS_OK;
}

static const cnas_strategy_vtable ks_vtable = {sizeof ks_vtable, ks_create, ks_destroy, ks_run,
                                               ks_save, ks_load, ks_memory};

static const cnas_component ks_components[] = {
    CNAS_COMPONENT(CNAS_KIND_STRATEGY, KS,
                   "K-shot NAS: K supernets as weight dictionaries merged per path by a "
                   "simplex-net's code, trained iteratively; candidates evaluated with their "
                   "merged weights (Su et al. 2021)", ks_keys, &ks_vtable),
};

CNAS_PLUGIN(KS, "0.1.0", "K-shot NAS search strategy", "MIT", ks_components, NULL)
