/* cnas-bench: times one benchmark row per process (so the process's peak resident
 * memory belongs to that row) and prints one JSON line. The rows mirror
 * bench/reference.py, which does the same in PyTorch; bench/driver.py runs both.
 *
 *   cnas-bench --list
 *   cnas-bench --row NAME [--threads N] [--warmup W] [--repeats R] [--plugins DIR]
 *
 * Every row is a full training step as a search or a retraining runs it: the
 * supernet / network is built through the real plugins (dlopen), the step is one
 * cnas_grad_pass (forward, backward for the requested tensors only) plus the
 * optimizer update. Inputs are fixed random tensors. */
#include <cnas/cnas.h>
#include <cnas/registry.h>

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef CNAS_BENCH_PLUGIN_DIR
#define CNAS_BENCH_PLUGIN_DIR "plugins"
#endif

typedef struct bench bench;
typedef cnas_status (*step_fn)(bench *b, cnas_error *err);

struct bench {
    /* the model */
    cnas_registry *reg;
    const cnas_space_vtable *svt;
    void *space;
    cnas_params *space_params;
    cnas_op_factory ops;
    cnas_arch *arch;
    /* an op row */
    const cnas_op_vtable *ovt;
    void *op;
    cnas_tensor *w, *gamma, *beta, *gconst;
    int op_kind;
    /* mixture weights (DARTS) */
    cnas_tensor *alpha[2];
    cnas_mix_weight *mix;
    int n_points;
    /* tensors stepped */
    cnas_tensor **weights, **on, **off;
    int n_weights, n_on, n_off;
    cnas_optim *opt;
    float lr, clip;
    /* stand-alone networks: drop-path and the auxiliary head's loss weight */
    float drop_path, aux_weight;
    cnas_rng noise;
    cnas_graph *g;
    cnas_tensor *x;
    int32_t *y;
    double gflop; /* per step, 0 when not counted */
    double gbyte; /* per step, the least tensor traffic (memory-bound rows), 0 otherwise */
    long long params, params_no_aux;
    /* the copy row: one buffer pair per thread */
    char *copy_src, *copy_dst;
    size_t copy_n;
    int copy_threads;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- building ---------------------------------------------------------------------- */

static cnas_status load_plugins(bench *b, const char *dir, cnas_error *err)
{
    if (!(b->reg = cnas_registry_new(err)))
        return err->code;
    cnas_status st = cnas_registry_load_dir(b->reg, dir, err);
    if (st)
        return st;
    b->ops = cnas_registry_op_factory(b->reg);
    return CNAS_OK;
}

/* parse_keys/parse_values configure the supernet that parses arch_text: only its choice
 * points matter, so a network can parse with a narrow one (a full-width supernet's
 * weights would count in the row's peak memory). */
static cnas_status make_space(bench *b, const char *name, const char *const *keys,
                              const char *const *values, int n_kv, int c, int hw,
                              cnas_space_build build, const char *arch_text,
                              const char *const *parse_keys, const char *const *parse_values,
                              int n_parse_kv, cnas_error *err)
{
    const cnas_component *comp = cnas_registry_find(b->reg, CNAS_KIND_SPACE, name, NULL, err);
    if (!comp)
        return err->code;
    b->svt = comp->vtable;
    cnas_status st = cnas_params_resolve(comp->params, (int)comp->n_params, name, keys, values, n_kv,
                                         &b->space_params, err);
    if (st)
        return st;
    cnas_rng rng;
    cnas_rng_init(&rng, 1, "init");
    if (build == CNAS_SPACE_NETWORK) {
        /* the notation belongs to the space: parse with a supernet of it */
        cnas_params *pp;
        if ((st = cnas_params_resolve(comp->params, (int)comp->n_params, name, parse_keys,
                                      parse_values, n_parse_kv, &pp, err)))
            return st;
        cnas_space_create_args sa = {sizeof sa, pp, c, hw, hw, 10, &b->ops, &rng,
                                     CNAS_SPACE_SUPERNET, NULL};
        void *sup;
        st = b->svt->create(&sa, &sup, err);
        if (st) {
            cnas_params_free(pp);
            return st;
        }
        const cnas_choice_point *pts;
        b->arch = cnas_arch_new(b->svt->choice_points(sup, &pts), err);
        st = b->arch ? b->svt->parse(sup, arch_text, b->arch, err) : err->code;
        b->svt->destroy(sup);
        cnas_params_free(pp);
        if (st)
            return st;
    }
    cnas_space_create_args a = {sizeof a, b->space_params, c, hw, hw, 10, &b->ops, &rng, build,
                                b->arch};
    if ((st = b->svt->create(&a, &b->space, err)))
        return st;
    int n = b->svt->tensors(b->space, NULL, 0);
    cnas_named_tensor *all = malloc((size_t)n * sizeof *all);
    b->weights = malloc((size_t)n * sizeof *b->weights);
    if (!all || !b->weights) {
        free(all);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "out of memory");
    }
    n = b->svt->tensors(b->space, all, n);
    for (int i = 0; i < n; i++)
        if (all[i].role == CNAS_ROLE_PARAM) {
            b->weights[b->n_weights++] = all[i].tensor;
            b->params += all[i].tensor->numel;
        }
    free(all);
    int64_t flops = 0, p = 0;
    if (build == CNAS_SPACE_NETWORK && !b->svt->cost(b->space, b->arch, &flops, &p, err)) {
        b->gflop = 3.0 * 2.0 * (double)flops; /* per image: forward + two backward GEMMs */
        b->params_no_aux = p;                  /* cost() leaves out an auxiliary head */
    }
    return CNAS_OK;
}

static cnas_status make_input(bench *b, int n, int c, int hw, cnas_error *err)
{
    if (!(b->x = cnas_tensor_new(CNAS_SHAPE(n, c, hw, hw), err)))
        return err->code;
    cnas_rng rng;
    cnas_rng_init(&rng, 7, "data");
    cnas_rng_fill_normal(&rng, b->x->data, b->x->numel, 0.0f, 1.0f);
    b->y = malloc((size_t)n * sizeof *b->y);
    if (!b->y)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        b->y[i] = (int32_t)(cnas_rng_below(&rng, 10u));
    if (!(b->g = cnas_graph_new(err)))
        return err->code;
    /* As the trainer and DARTS run their steps: intermediate gradients recycled. */
    cnas_graph_set_release_grads(b->g, true);
    return CNAS_OK;
}

/* ---- DARTS supernet ------------------------------------------------------------------ */

static cnas_tensor *darts_loss(cnas_graph *g, void *ctx)
{
    bench *b = ctx;
    cnas_tensor *p[2];
    for (int k = 0; k < 2; k++)
        if (!(p[k] = cnas_softmax(g, b->alpha[k])))
            return NULL;
    const cnas_choice_point *pts;
    b->svt->choice_points(b->space, &pts);
    for (int i = 0; i < b->n_points; i++)
        b->mix[i] = (cnas_mix_weight){strcmp(pts[i].share_key, "reduce") == 0 ? p[1] : p[0],
                                      pts[i].local_index};
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, b->mix, NULL, true, NULL, 0, NULL};
    cnas_tensor *logits = b->svt->forward(b->space, g, b->x, &fa);
    return logits ? cnas_cross_entropy(g, logits, b->y, 0.0f) : NULL;
}

static cnas_status darts_weight_step(bench *b, cnas_error *err)
{
    cnas_status st = cnas_grad_pass(b->g, darts_loss, b, b->weights, b->n_weights, b->alpha, 2,
                                    NULL, err);
    if (st)
        return st;
    cnas_clip_grad_norm(b->weights, b->n_weights, 5.0f);
    return cnas_optim_step(b->opt, 0.025f, err);
}

static cnas_status darts_arch_step(bench *b, cnas_error *err)
{
    cnas_status st = cnas_grad_pass(b->g, darts_loss, b, b->alpha, 2, b->weights, b->n_weights,
                                    NULL, err);
    return st ? st : cnas_optim_step(b->opt, 3e-4f, err);
}

static cnas_status setup_darts(bench *b, int C, int layers, int c_in, int hw, bool arch,
                               cnas_error *err)
{
    char cs[16], ls[16];
    snprintf(cs, sizeof cs, "%d", C);
    snprintf(ls, sizeof ls, "%d", layers);
    const char *keys[] = {"init_channels", "layers"}, *vals[] = {cs, ls};
    cnas_status st = make_space(b, "darts_cell", keys, vals, 2, c_in, hw, CNAS_SPACE_SUPERNET,
                                NULL, NULL, NULL, 0, err);
    if (st || (st = make_input(b, 64, c_in, hw, err)))
        return st;
    const cnas_choice_point *pts;
    b->n_points = b->svt->choice_points(b->space, &pts);
    int rows = 0, cols = pts[0].n_candidates;
    for (int i = 0; i < b->n_points; i++)
        rows = pts[i].local_index + 1 > rows ? pts[i].local_index + 1 : rows;
    cnas_rng rng;
    cnas_rng_init(&rng, 3, "alpha");
    for (int k = 0; k < 2; k++) {
        if (!(b->alpha[k] = cnas_tensor_new(CNAS_SHAPE(rows, cols), err)))
            return err->code;
        cnas_rng_fill_normal(&rng, b->alpha[k]->data, b->alpha[k]->numel, 0.0f, 1e-3f);
    }
    if (!(b->mix = calloc((size_t)b->n_points, sizeof *b->mix)))
        return cnas_error_set(err, CNAS_ERR_NOMEM, "out of memory");
    if (arch) {
        cnas_adam_opts ao = {.beta1 = 0.5f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-3f};
        b->opt = cnas_adam_new(b->alpha, 2, &ao, err);
    } else {
        cnas_sgd_opts so = {.momentum = 0.9f, .weight_decay = 3e-4f};
        b->opt = cnas_sgd_new(b->weights, b->n_weights, &so, err);
    }
    return b->opt ? CNAS_OK : err->code;
}

/* ---- stand-alone networks: ResNet20, DARTS_V2 retraining ------------------------------- */

/* loss = CE(logits) + aux_weight * CE(auxiliary logits), drop-path on (DARTS train.py) */
static cnas_tensor *network_loss(cnas_graph *g, void *ctx)
{
    bench *b = ctx;
    cnas_tensor *aux = NULL;
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, b->arch, true, &b->noise,
                                  b->drop_path, &aux};
    cnas_tensor *logits = b->svt->forward(b->space, g, b->x, &fa);
    cnas_tensor *loss = logits ? cnas_cross_entropy(g, logits, b->y, 0.0f) : NULL;
    if (loss && aux && b->aux_weight > 0.0f)
        loss = cnas_add(g, loss, cnas_scale(g, cnas_cross_entropy(g, aux, b->y, 0.0f),
                                            b->aux_weight));
    return loss;
}

/* forward, backward, clip (when clip > 0), SGD */
static cnas_status network_step(bench *b, cnas_error *err)
{
    cnas_status st = cnas_grad_pass(b->g, network_loss, b, b->weights, b->n_weights, NULL, 0, NULL,
                                    err);
    if (st)
        return st;
    if (b->clip > 0.0f)
        cnas_clip_grad_norm(b->weights, b->n_weights, b->clip);
    return cnas_optim_step(b->opt, b->lr, err);
}

static cnas_status setup_resnet20(bench *b, cnas_error *err)
{
    cnas_status st = make_space(b, "resnet20_pool", NULL, NULL, 0, 3, 32, CNAS_SPACE_NETWORK,
                                "[4,3,3]", NULL, NULL, 0, err);
    if (st || (st = make_input(b, 128, 3, 32, err)))
        return st;
    b->gflop *= 128.0 / 1e9;
    b->lr = 0.1f;
    cnas_sgd_opts so = {.momentum = 0.9f, .weight_decay = 0.0f};
    b->opt = cnas_sgd_new(b->weights, b->n_weights, &so, err);
    return b->opt ? CNAS_OK : err->code;
}

/* DARTS_V2 (Liu et al. 2019, the reference genotypes.py), in the space's notation. */
static const char DARTS_V2[] =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

/* The DARTS_V2 training-step rows; bench/reference.py has the same table (NET_ROWS).
 * SGD momentum 0.9, weight decay 3e-4, gradient clip 5 on both. */
typedef struct net_row {
    const char *name;
    int C, layers, in_c, hw, batch;
    float drop_path, aux_weight, lr; /* aux_weight 0: no auxiliary head */
} net_row;

static const net_row NET_ROWS[] = {
    /* the retraining network of examples/darts-fashion.ini */
    {"darts_net_fashion", 8, 5, 1, 28, 64, 0.0f, 0.0f, 0.05f},
    /* the paper's CIFAR-10 evaluation network */
    {"darts_v2_c36", 36, 20, 3, 32, 96, 0.2f, 0.4f, 0.025f},
};

static const net_row *find_net_row(const char *row)
{
    for (size_t k = 0; k < sizeof NET_ROWS / sizeof *NET_ROWS; k++)
        if (strcmp(row, NET_ROWS[k].name) == 0)
            return &NET_ROWS[k];
    return NULL;
}

static cnas_status setup_darts_net(bench *b, const net_row *r, cnas_error *err)
{
    char cs[16], ls[16];
    snprintf(cs, sizeof cs, "%d", r->C);
    snprintf(ls, sizeof ls, "%d", r->layers);
    const char *keys[] = {"init_channels", "layers", "auxiliary"},
               *vals[] = {cs, ls, r->aux_weight > 0.0f ? "true" : "false"};
    const char *pkeys[] = {"init_channels", "layers"}, *pvals[] = {"2", ls};
    cnas_status st = make_space(b, "darts_cell", keys, vals, 3, r->in_c, r->hw,
                                CNAS_SPACE_NETWORK, DARTS_V2, pkeys, pvals, 2, err);
    if (st || (st = make_input(b, r->batch, r->in_c, r->hw, err)))
        return st;
    b->gflop *= r->batch / 1e9;
    b->drop_path = r->drop_path;
    b->aux_weight = r->aux_weight;
    b->lr = r->lr;
    b->clip = 5.0f;
    cnas_rng_init(&b->noise, 11, "drop_path");
    cnas_sgd_opts so = {.momentum = 0.9f, .weight_decay = 3e-4f};
    b->opt = cnas_sgd_new(b->weights, b->n_weights, &so, err);
    return b->opt ? CNAS_OK : err->code;
}

/* ---- single ops: forward + backward of sum(op(x) * g) ----------------------------------- */

enum { OP_PLUGIN, OP_CONV, OP_DW_CONV, OP_MAX_POOL, OP_AVG_POOL, OP_BN };

static cnas_tensor *op_loss(cnas_graph *g, void *ctx)
{
    bench *b = ctx;
    cnas_tensor *y = NULL;
    cnas_pool2d_params pp = {3, 3, 1, 1, 1, 1, false};
    switch (b->op_kind) {
    case OP_PLUGIN: {
        cnas_op_forward_ctx fc = {sizeof fc, true, NULL};
        y = b->ovt->forward(b->op, g, b->x, &fc);
        break;
    }
    case OP_CONV: {
        cnas_conv2d_params cp = {1, 1, 1, 1, 1, 1, 1};
        y = cnas_conv2d(g, b->x, b->w, NULL, &cp);
        break;
    }
    case OP_DW_CONV: {
        cnas_conv2d_params cp = {1, 1, 1, 1, 1, 1, (int)b->x->shape[1]};
        y = cnas_conv2d(g, b->x, b->w, NULL, &cp);
        break;
    }
    case OP_MAX_POOL: y = cnas_max_pool2d(g, b->x, &pp); break;
    case OP_AVG_POOL: y = cnas_avg_pool2d(g, b->x, &pp); break;
    case OP_BN: {
        cnas_batch_norm_params bp = {true, 0.1f, 1e-5f};
        y = cnas_batch_norm(g, b->x, b->gamma, b->beta, NULL, NULL, &bp);
        break;
    }
    }
    return y ? cnas_sum(g, cnas_mul(g, y, b->gconst)) : NULL;
}

static cnas_status op_step(bench *b, cnas_error *err)
{
    return cnas_grad_pass(b->g, op_loss, b, b->on, b->n_on, NULL, 0, NULL, err);
}

static cnas_status setup_op(bench *b, const char *name, cnas_error *err)
{
    const int N = 64, C = 16, HW = 32;
    cnas_status st = make_input(b, N, C, HW, err);
    if (st)
        return st;
    b->on = calloc(8, sizeof *b->on);
    if (!b->on)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "out of memory");
    b->on[b->n_on++] = b->x;
    cnas_rng rng;
    cnas_rng_init(&rng, 5, "init");
    double macs = 0;
    /* Memory-bound rows: the least traffic of a step, in passes over one activation
     * (N·C·H·W floats), each kernel reading its inputs and writing its outputs once:
     * forward op(x) 2 (read x, write y), y·g 3, sum 1; backward: the sum's gradient 1,
     * the product's 3, the op's 3 (read dy and x, write dx; average pooling needs no
     * x: 2). Max pooling's argmax and batch norm's statistics are recomputed or read
     * at no less cost; the parameters' gradients fuse into the same pass. */
    int passes = 0;
    if (strcmp(name, "conv_3x3") == 0) {
        b->op_kind = OP_CONV;
        if (!(b->w = cnas_tensor_new(CNAS_SHAPE(C, C, 3, 3), err)))
            return err->code;
        cnas_init_default_weight(b->w, &rng);
        b->on[b->n_on++] = b->w;
        b->params = b->w->numel;
        macs = (double)N * HW * HW * C * C * 9;
    } else if (strcmp(name, "dw_conv_3x3") == 0) {
        b->op_kind = OP_DW_CONV;
        if (!(b->w = cnas_tensor_new(CNAS_SHAPE(C, 1, 3, 3), err)))
            return err->code;
        cnas_init_default_weight(b->w, &rng);
        b->on[b->n_on++] = b->w;
        b->params = b->w->numel;
        macs = (double)N * HW * HW * C * 9;
        passes = 13;
    } else if (strcmp(name, "max_pool_3x3") == 0) {
        b->op_kind = OP_MAX_POOL;
        passes = 13;
    } else if (strcmp(name, "avg_pool_3x3") == 0) {
        b->op_kind = OP_AVG_POOL;
        passes = 12;
    } else if (strcmp(name, "batch_norm") == 0) {
        b->op_kind = OP_BN;
        passes = 13;
        if (!(b->gamma = cnas_tensor_new(CNAS_SHAPE(C), err)) ||
            !(b->beta = cnas_tensor_new(CNAS_SHAPE(C), err)))
            return err->code;
        for (int i = 0; i < C; i++)
            b->gamma->data[i] = 1.0f;
        b->on[b->n_on++] = b->gamma;
        b->on[b->n_on++] = b->beta;
        b->params = 2 * C;
    } else {
        b->op_kind = OP_PLUGIN;
        cnas_op_args a = {sizeof a, C, C, 1, false, false, &rng};
        if ((st = b->ops.create(b->ops.ctx, name, &a, NULL, NULL, 0, &b->ovt, &b->op, err)))
            return st;
        cnas_named_tensor t[16];
        int n = b->ovt->tensors(b->op, t, 16);
        for (int i = 0; i < n && i < 16; i++)
            if (t[i].role == CNAS_ROLE_PARAM && b->n_on < 8) {
                b->on[b->n_on++] = t[i].tensor;
                b->params += t[i].tensor->numel;
            }
        int64_t in[4] = {N, C, HW, HW}, out[4];
        macs = (double)b->ovt->flops(b->op, in, out);
    }
    b->gflop = 3.0 * 2.0 * macs / 1e9;
    b->gbyte = (double)passes * N * C * HW * HW * sizeof(float) / 1e9;
    if (!(b->gconst = cnas_tensor_new(CNAS_SHAPE(N, C, HW, HW), err)))
        return err->code;
    cnas_rng_fill_normal(&rng, b->gconst->data, b->gconst->numel, 0.0f, 1.0f);
    return CNAS_OK;
}

/* ---- sgemm peak: every thread multiplies its own 2048 x 2048 block, as the kernels
 * do (OpenMP owns the threads, BLAS runs single-threaded inside each) -------------------- */

static double sgemm_gflops(int threads, int repeats)
{
    const int n = 2048;
    float *a = malloc((size_t)threads * n * n * sizeof *a), *bm = malloc((size_t)n * n * sizeof *bm),
          *c = malloc((size_t)threads * n * n * sizeof *c);
    if (!a || !bm || !c) {
        free(a), free(bm), free(c);
        return 0;
    }
    for (size_t i = 0; i < (size_t)threads * n * n; i++)
        a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)n * n; i++)
        bm[i] = (float)(i % 5) * 0.1f;
    double best = 1e30;
    for (int r = 0; r < repeats + 1; r++) {
        double t0 = now_ms();
#pragma omp parallel for num_threads(threads) schedule(static, 1)
        for (int t = 0; t < threads; t++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f,
                        a + (size_t)t * n * n, n, bm, n, 0.0f, c + (size_t)t * n * n, n);
        double dt = now_ms() - t0;
        if (r > 0 && dt < best)
            best = dt;
    }
    free(a), free(bm), free(c);
    return 2.0 * n * (double)n * n * threads / (best * 1e-3) / 1e9;
}

/* ---- copy bandwidth: every thread copies its own 64 MiB buffer (first touched by that
 * thread), far beyond the caches; bytes read + bytes written per second is the
 * physical limit of the memory-bound rows ----------------------------------------- */

static cnas_status setup_copy(bench *b, int threads, cnas_error *err)
{
    const size_t n = (size_t)64 << 20;
    b->copy_n = n;
    b->copy_threads = threads;
    b->copy_src = malloc((size_t)threads * n);
    b->copy_dst = malloc((size_t)threads * n);
    if (!b->copy_src || !b->copy_dst)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "out of memory for %d x 2 x 64 MiB", threads);
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int t = 0; t < threads; t++) {
        memset(b->copy_src + (size_t)t * n, t + 1, n);
        memset(b->copy_dst + (size_t)t * n, 0, n);
    }
    b->gbyte = 2.0 * (double)n * threads / 1e9; /* read + written */
    return CNAS_OK;
}

static cnas_status copy_step(bench *b, cnas_error *err)
{
    const size_t n = b->copy_n;
#pragma omp parallel for num_threads(b->copy_threads) schedule(static, 1)
    for (int k = 0; k < b->copy_threads; k++)
        memcpy(b->copy_dst + (size_t)k * n, b->copy_src + (size_t)k * n, n);
    if (b->copy_dst[(size_t)b->copy_threads * n - 1] != (char)b->copy_threads)
        return cnas_error_set(err, CNAS_ERR_INTERNAL, "copy: destination differs from source");
    return CNAS_OK;
}

/* ---- main ------------------------------------------------------------------------------ */

static const char *const ROWS[] = {
    "darts_c16_weight", "darts_c16_arch", "darts_c8_weight", "darts_c8_arch", "resnet20_train",
    "darts_net_fashion", "darts_v2_c36",
    "op_conv_3x3", "op_dw_conv_3x3", "op_sep_conv_3x3", "op_sep_conv_5x5", "op_dil_conv_3x3", "op_dil_conv_5x5",
    "op_max_pool_3x3", "op_avg_pool_3x3", "op_batch_norm", "sgemm", "copy",
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cnas-bench --list | --row NAME [--threads N] [--warmup W] [--repeats R] "
               "[--plugins DIR]\n");
}

int main(int argc, char **argv)
{
    const char *row = NULL, *plugin_dir = CNAS_BENCH_PLUGIN_DIR;
    int threads = 2, warmup = 3, repeats = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--list") == 0) {
            for (size_t k = 0; k < sizeof ROWS / sizeof *ROWS; k++)
                puts(ROWS[k]);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--row") == 0)
            row = v;
        else if (strcmp(a, "--threads") == 0)
            threads = atoi(v);
        else if (strcmp(a, "--warmup") == 0)
            warmup = atoi(v);
        else if (strcmp(a, "--repeats") == 0)
            repeats = atoi(v);
        else if (strcmp(a, "--plugins") == 0)
            plugin_dir = v;
        else {
            usage(stderr);
            return 2;
        }
    }
    bool known = false;
    for (size_t k = 0; row && k < sizeof ROWS / sizeof *ROWS; k++)
        known |= strcmp(row, ROWS[k]) == 0;
    if (!known || threads < 1 || repeats < 1 || warmup < 0) {
        fprintf(stderr, "cnas-bench: %s%s\n", row ? "unknown row " : "no --row given",
                row ? row : "");
        usage(stderr);
        return 2;
    }
    threads = cnas_threads_set(threads);

    if (strcmp(row, "sgemm") == 0) {
        double gf = sgemm_gflops(threads, repeats);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("{\"impl\": \"cnas\", \"row\": \"sgemm\", \"gflops\": %.2f, \"median_ms\": null, "
               "\"min_ms\": null, \"peak_rss_mib\": %.1f, \"threads\": %d, \"blas_core\": \"%s\", "
               "\"openblas_config\": \"%s\"}\n", gf, (double)ru.ru_maxrss / 1024.0, threads,
               cnas_blas_core(), cnas_blas_config());
        return 0;
    }

    bench b;
    memset(&b, 0, sizeof b);
    cnas_error err = {0};
    cnas_status st = load_plugins(&b, plugin_dir, &err);
    step_fn step = NULL;
    const net_row *nr = find_net_row(row);
    if (!st) {
        if (nr) {
            st = setup_darts_net(&b, nr, &err);
            step = network_step;
        } else if (strncmp(row, "darts_", 6) == 0) {
            bool c16 = strncmp(row, "darts_c16", 9) == 0, arch = strstr(row, "_arch") != NULL;
            st = setup_darts(&b, c16 ? 16 : 8, c16 ? 8 : 5, c16 ? 3 : 1, c16 ? 32 : 28, arch, &err);
            step = arch ? darts_arch_step : darts_weight_step;
        } else if (strcmp(row, "resnet20_train") == 0) {
            st = setup_resnet20(&b, &err);
            step = network_step;
        } else if (strcmp(row, "copy") == 0) {
            st = setup_copy(&b, threads, &err);
            step = copy_step;
        } else {
            st = setup_op(&b, row + 3, &err);
            step = op_step;
        }
    }
    double *t = malloc((size_t)repeats * sizeof *t);
    for (int r = 0; !st && r < warmup + repeats; r++) {
        double t0 = now_ms();
        st = step(&b, &err);
        if (r >= warmup)
            t[r - warmup] = now_ms() - t0;
    }
    if (st) {
        fprintf(stderr, "cnas-bench %s: %s\n", row, err.msg);
        return 1;
    }
    qsort(t, (size_t)repeats, sizeof *t, cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\": \"cnas\", \"row\": \"%s\", \"median_ms\": %.3f, \"min_ms\": %.3f, "
           "\"peak_rss_mib\": %.1f, \"graph_peak_mib\": %.1f, \"threads\": %d, \"repeats\": %d, "
           "\"params\": %lld, ", row, repeats % 2 ? t[repeats / 2] : 0.5 * (t[repeats / 2 - 1] + t[repeats / 2]),
           t[0], (double)ru.ru_maxrss / 1024.0, b.g ? (double)cnas_graph_peak_bytes(b.g) / 1048576.0 : 0.0,
           threads, repeats, b.params);
    if (b.params_no_aux > 0)
        printf("\"params_no_aux\": %lld, ", b.params_no_aux);
    if (nr)
        printf("\"batch\": %d, \"init_channels\": %d, \"layers\": %d, \"drop_path\": %g, "
               "\"aux_weight\": %g, ", nr->batch, nr->C, nr->layers, (double)nr->drop_path,
               (double)nr->aux_weight);
    if (b.gbyte > 0)
        printf("\"gbyte\": %.5f, ", b.gbyte);
    if (b.gflop > 0)
        printf("\"gflop\": %.4f, ", b.gflop);
    else
        printf("\"gflop\": null, ");
    printf("\"blas_core\": \"%s\", \"openblas_config\": \"%s\"}\n", cnas_blas_core(),
           cnas_blas_config());
    free(t);
    return 0;
}
