/* random_search: random search with weight sharing (L. Li and A. Talwalkar, "Random Search
 * and Reproducibility for Neural Architecture Search", UAI 2019, arXiv:1902.07638), a
 * complete strategy on the public SDK alone; cnas also builds it in as a plugin.
 *
 *     cc -shared -fPIC -o random_search.so random_search.c $(pkg-config --cflags --libs cnas)
 *
 * Phase 1 trains the supernet for [train] epochs, each step one SGD step on one path drawn
 * uniformly by the space's sample(). Phase 2 evaluates `candidates` architectures, drawn at
 * creation from their own stream, with the shared weights on the validation split, and
 * reports them all, best validation accuracy first. Checkpoints hold the loop position, the
 * path stream, the optimizer and phase 2's progress: phase 2 reaches a checkpoint point after
 * every candidate, so a run stopped or killed there goes on with the next candidate instead
 * of redoing the evaluation (the host saves the data streams' positions with it), and its
 * files equal an uninterrupted run's.
 *
 * cnas keeps PyTorch 1.x gradient semantics (cnas_grad_pass): an op never sampled has no
 * gradient and does not move; once sampled, momentum and weight decay keep acting on it.
 * The reference code (liamcli/randomNAS_release) sets every gradient to None before a step,
 * so SGD moves the sampled path only. The reference
 * screens 1000 candidates on 10 validation batches in eval mode (here: candidates = 1000,
 * eval_bn = running, eval_batches = 10), then re-evaluates the best 10 on the whole split. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/cnas.h>
#include <cnas/kit.h>

#define RS "random"

typedef struct rs {
    cnas_search_env *env;
    const cnas_space_vtable *vt;
    int n, done;                  /* candidates, and how many phase 2 has evaluated */
    cnas_arch **cand, *path;      /* the candidates; this step's path */
    double *acc, *loss;           /* per candidate, NaN until evaluated (one allocation) */
    cnas_arch_eval eval;
    cnas_tensor **w;              /* the supernet's weights (borrowed) */
    int n_w;
    cnas_optim *opt;
    cnas_rng path_rng;
    cnas_loop loop;
    cnas_graph *g;
} rs;

static void rs_destroy(void *self)
{
    rs *r = self;
    for (int i = 0; r->cand && i < r->n; i++)
        cnas_arch_free(r->cand[i]);
    free(r->cand);
    cnas_arch_free(r->path);
    free(r->acc);
    free(r->w);
    cnas_optim_free(r->opt);
    cnas_loop_free(&r->loop);
    cnas_graph_free(r->g);
    free(r);
}

static cnas_status setup(rs *r, const cnas_params *p, cnas_search_env *env, cnas_error *err)
{
    const char *bn = cnas_params_str(p, "eval_bn");
    int batches = (int)cnas_params_int(p, "eval_batches");
    r->eval = (cnas_arch_eval){sizeof r->eval, NULL, NULL,
        batches ? CNAS_STREAM_VAL_CYCLE : CNAS_STREAM_VAL, batches,
        !strcmp(bn, "running") ? CNAS_EVAL_BN_RUNNING
        : !strcmp(bn, "recalibrate") ? CNAS_EVAL_BN_RECALIBRATE : CNAS_EVAL_BN_BATCH,
        (int)cnas_params_int(p, "recalibrate_batches")};
    r->n = (int)cnas_params_int(p, "candidates");
    const char *missing = !CNAS_VT_HAS(r->vt, sample) ? "sample (to draw architectures)"
                          : !CNAS_VT_HAS(r->vt, format) ? "format (to name architectures)"
                          : !CNAS_VT_HAS(r->vt, choice_points) ? "choice_points" : NULL;
    if (missing)
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, RS ": the space has no %s", missing);
    if (env->batches_per_epoch(env, CNAS_STREAM_VAL) < 1)
        return cnas_error_set(err, CNAS_ERR_CONFIG, RS ": the validation split is empty "
                              "([data] train_portion must be below 1)");
    const cnas_choice_point *pts;
    int n_points = r->vt->choice_points(env->space, &pts);
    if (!(r->cand = calloc((size_t)r->n, sizeof *r->cand)) ||
        !(r->acc = malloc(2 * (size_t)r->n * sizeof *r->acc)))
        return cnas_error_set(err, CNAS_ERR_NOMEM, RS ": out of memory");
    r->loss = r->acc + r->n;
    cnas_rng rng;
    cnas_rng_init(&rng, env->seed, "random.candidates");
    for (int i = 0; i < r->n; i++) {
        r->acc[i] = r->loss[i] = NAN;
        if (!(r->cand[i] = cnas_arch_new(n_points, err)) ||
            r->vt->sample(env->space, &rng, r->cand[i], err))
            return cnas_error_prefix(err, RS ": drawing candidate %d", i);
    }
    cnas_rng_init(&r->path_rng, env->seed, "random.path");
    if (!(r->path = cnas_arch_new(n_points, err)) ||
        cnas_space_param_tensors(r->vt, env->space, &r->w, &r->n_w, err) ||
        !(r->opt = cnas_sgd_from_settings(env->train, r->w, r->n_w, err)) ||
        cnas_loop_init(&r->loop, env, RS, false, err) || !(r->g = cnas_graph_new(err)))
        return err->code;
    /* Only the weights' gradients are read after backward: the graph may recycle the
     * others' memory during backward (graph.h), a smaller peak at no cost. */
    cnas_graph_set_release_grads(r->g, true);
    env->log(env, CNAS_LOG_INFO, RS ": %d epochs of uniform single-path training, then %d "
             "candidates on %s, batch norm: %s", (int)env->train->epochs, r->n,
             batches ? "validation batches" : "the validation split", bn);
    return CNAS_OK;
}

static cnas_status rs_create(const cnas_params *p, cnas_search_env *env, void **self,
                             cnas_error *err)
{
    rs *r = calloc(1, sizeof *r);
    if (!r)
        return cnas_error_set(err, CNAS_ERR_NOMEM, RS ": out of memory");
    *r = (rs){.env = env, .vt = env->space_vt};
    cnas_status st = setup(r, p, env, err);
    if (st)
        rs_destroy(r);
    else
        *self = r;
    return st;
}

/* Phase 1: one SGD step on a path drawn uniformly. */
static cnas_status rs_step(void *self, cnas_loop_step *s, cnas_error *err)
{
    rs *r = self;
    cnas_path_batch b = {r->env, NULL, r->path, s->x, s->y, 0};
    cnas_status st = r->vt->sample(r->env->space, &r->path_rng, r->path, err);
    if (!st)
        st = cnas_grad_pass(r->g, cnas_path_loss, &b, r->w, r->n_w, NULL, 0, &s->loss, err);
    s->correct = b.correct;
    return st ? st : cnas_kit_update(r->env, r->opt, s->lr, true, err);
}

static const cnas_loop_hooks rs_hooks = {sizeof rs_hooks, NULL, rs_step, NULL};

/* Best accuracy first (NaN last), then lower loss, then the order drawn. */
typedef struct ranked {
    double acc, loss;
    int i;
} ranked;
static int by_accuracy(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    double x = isnan(a->acc) ? -1 : a->acc, y = isnan(b->acc) ? -1 : b->acc;
    if (x != y)
        return x > y ? -1 : 1;
    return a->loss != b->loss ? (a->loss < b->loss ? -1 : 1) : a->i - b->i;
}

static cnas_status rs_run(void *self, cnas_error *err)
{
    rs *r = self;
    cnas_search_env *env = r->env;
    char text[4096];
    /* Appended to by report_result: known before the first checkpoint, a resume cuts it back. */
    cnas_status st = env->append(env, "ranking.tsv", "", err);
    if (st || (st = cnas_loop_run(&r->loop, &rs_hooks, r, err)))
        return st;
    for (int i = r->done; i < r->n; i++) { /* phase 2 */
        r->eval.arch = r->cand[i];
        if (env->evaluate_arch(env, &r->eval, &r->loss[i], &r->acc[i], err) ||
            r->vt->format(env->space, r->cand[i], text, sizeof text, err))
            return cnas_error_prefix(err, RS ": candidate %d", i);
        env->log(env, CNAS_LOG_INFO, RS ": candidate %d/%d  val acc %.4f  loss %.4f  %s", i + 1,
                 r->n, r->acc[i], r->loss[i], text);
        r->done = i + 1; /* a checkpoint here names the next candidate */
        if ((st = env->checkpoint_point(env, r->loop.epoch, 0, false, err)))
            return st;
    }
    ranked *order = malloc((size_t)r->n * sizeof *order);
    if (!order)
        return cnas_error_set(err, CNAS_ERR_NOMEM, RS ": out of memory");
    for (int i = 0; i < r->n; i++)
        order[i] = (ranked){r->acc[i], r->loss[i], i};
    qsort(order, (size_t)r->n, sizeof *order, by_accuracy);
    for (int k = 0; k < r->n && !st; k++) {
        cnas_result res = {sizeof res, k, r->cand[order[k].i], order[k].acc, order[k].acc, -1, -1};
        st = env->report_result(env, &res, err);
    }
    free(order);
    return st;
}

static cnas_status rs_io(rs *r, cnas_ckio *io)
{
    cnas_loop_io(&r->loop, io, RS);
    cnas_ckio_rng(io, RS ".rng.path", &r->path_rng);
    cnas_ckio_optim(io, RS ".opt", r->opt);
    cnas_ckio_int(io, RS ".done", &r->done);
    if (!io->status && (r->done < 0 || r->done > r->n))
        return io->status = cnas_error_set(io->err, CNAS_ERR_FORMAT, RS ": the checkpoint has "
                                           "%d of %d candidates evaluated", r->done, r->n);
    return cnas_ckio_blob(io, RS ".acc_loss", r->acc, 2 * (size_t)r->n * sizeof *r->acc);
}

static cnas_status rs_save(void *self, cnas_ckpt *ck, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_put(ck, err);
    return rs_io(self, &io);
}

static cnas_status rs_load(void *self, const cnas_ckpt *ck, cnas_error *err)
{
    rs *r = self;
    cnas_ckio io = cnas_ckio_get(ck, err);
    cnas_status st = rs_io(r, &io);
    if (!st)
        r->env->log(r->env, CNAS_LOG_INFO, RS ": resuming at epoch %lld step %lld, %d of %d "
                    "candidates evaluated", (long long)r->loop.epoch, (long long)r->loop.step,
                    r->done, r->n);
    return st;
}

static const cnas_param_spec rs_keys[] = {
    CNAS_PARAM_SPEC_INT("candidates", "100", 1, 1000000,
                        "architectures drawn and evaluated with the shared weights"),
    CNAS_PARAM_SPEC_CHOICE("eval_bn", "batch", "running|batch|recalibrate",
                           "batch norm in the evaluation: running statistics, each batch's own, "
                           "or running statistics re-estimated on training batches"),
    CNAS_PARAM_SPEC_INT("recalibrate_batches", "50", 1, 100000,
                        "eval_bn = recalibrate: training batches per candidate"),
    CNAS_PARAM_SPEC_INT("eval_batches", "0", 0, 1000000,
                        "validation batches per candidate (0: the whole validation split)"),
};

/* Optional (ABI 1.3): tells the host's memory check that every step runs one sampled
 * path and recycles gradients, so it measures that rather than the mixture of every
 * candidate with every gradient kept. */
static cnas_status rs_memory(const cnas_params *p, cnas_strategy_memory *m, cnas_error *err)
{
    (void)p;
    (void)err;
    m->single_path = true;
    m->releases_grads = true;
    return CNAS_OK;
}

static const cnas_strategy_vtable rs_vtable = {sizeof rs_vtable, rs_create, rs_destroy, rs_run,
                                               rs_save, rs_load, rs_memory};

static const cnas_component rs_components[] = {
    CNAS_COMPONENT(CNAS_KIND_STRATEGY, RS, "Random search with weight sharing: uniform "
                   "single-path supernet training, random candidates ranked by validation "
                   "accuracy (Li & Talwalkar 2019)", rs_keys, &rs_vtable),
};

CNAS_PLUGIN("random_search", "1.0.0", "Random search with weight sharing", "MIT", rs_components,
            NULL)
