/* The balanced_mixture strategy: M supernets, the EMA score matrix, balanced
 * assignment, per-step sampling, final selection, ranking and heatmap outputs. */
#include "balanced_mixture.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BM "balanced_mixture"

/* Files this strategy writes by appending (their sizes go into checkpoints). */
static const char *const OUTPUT_FILES[] = {"mixture.jsonl", "ranking.csv", "ranking.json",
                                           "pma.svg", "ranking.tsv"};

/* ---- set-up ------------------------------------------------------------------------- */

static cnas_status collect_weights(bm_state *b, bm_net *n, cnas_error *err)
{
    int total = b->vt->tensors(n->space, NULL, 0);
    cnas_named_tensor *all = malloc((size_t)(total > 0 ? total : 1) * sizeof *all);
    n->weights = malloc((size_t)(total > 0 ? total : 1) * sizeof *n->weights);
    if (!all || !n->weights) {
        free(all);
        return cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory");
    }
    total = b->vt->tensors(n->space, all, total);
    for (int i = 0; i < total; i++)
        if (all[i].role == CNAS_ROLE_PARAM)
            n->weights[n->n_weights++] = all[i].tensor;
    free(all);
    return CNAS_OK;
}

static cnas_status enumerate_all(bm_state *b, cnas_error *err)
{
    cnas_search_env *env = b->env;
    if (!b->vt->enumerate_count || !b->vt->enumerate || !b->vt->choice_points)
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, BM ": the space cannot enumerate its "
                              "architectures");
    int64_t count = b->vt->enumerate_count(env->space);
    if (count < 1 || count > 100000)
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, BM ": the space has %lld architectures; "
                              "the score matrix needs an enumerable space of 1 to 100000",
                              (long long)count);
    b->A = (int)count;
    const cnas_choice_point *pts;
    int n_points = b->vt->choice_points(env->space, &pts);
    b->archs = calloc((size_t)b->A, sizeof *b->archs);
    b->flops = calloc((size_t)b->A, sizeof *b->flops);
    b->params = calloc((size_t)b->A, sizeof *b->params);
    if (!b->archs || !b->flops || !b->params)
        return cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory");
    for (int a = 0; a < b->A; a++) {
        cnas_status st;
        if (!(b->archs[a] = cnas_arch_new(n_points, err)))
            return err->code;
        if ((st = b->vt->enumerate(env->space, a, b->archs[a], err)) ||
            (st = b->vt->cost(env->space, b->archs[a], &b->flops[a], &b->params[a], err)))
            return cnas_error_prefix(err, BM ": architecture %d", a);
    }
    return CNAS_OK;
}

static void bm_destroy(void *self);

static cnas_status bm_create(const cnas_params *p, cnas_search_env *env, void **self,
                             cnas_error *err)
{
    bm_state *b = calloc(1, sizeof *b);
    if (!b)
        return cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory");
    cnas_status st;
    b->env = env;
    b->vt = env->space_vt;
    b->M = (int)cnas_params_int(p, "supernets");
    b->decay = cnas_params_float(p, "ema_decay");
    b->t_start = cnas_params_float(p, "t_start");
    b->t_end = cnas_params_float(p, "t_end");
    b->kl_threshold = cnas_params_float(p, "kl_threshold");
    b->s_init = cnas_params_float(p, "s_init");
    b->max_balance_steps = (int)cnas_params_int(p, "max_balance_steps");
    b->final_top_k = (int)cnas_params_int(p, "final_top_k");
    if (b->M < 1 || b->M > BM_MAX_SUPERNETS) {
        st = cnas_error_set(err, CNAS_ERR_CONFIG, BM ": supernets = %d, expected 1 to %d", b->M,
                            BM_MAX_SUPERNETS);
        goto fail;
    }
    if ((st = enumerate_all(b, err)))
        goto fail;
    size_t am = (size_t)b->A * (size_t)b->M;
    b->S = malloc(am * sizeof *b->S);
    b->counts = calloc(am, sizeof *b->counts);
    b->Q = malloc((size_t)(b->max_balance_steps > 0 ? b->max_balance_steps : 1) * (size_t)b->M *
                  sizeof *b->Q);
    if (!b->S || !b->counts || !b->Q) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory");
        goto fail;
    }
    for (size_t i = 0; i < am; i++)
        b->S[i] = b->s_init;

    const cnas_train_settings *t = env->train;
    cnas_sgd_opts so = {.momentum = t->momentum, .weight_decay = t->weight_decay,
                        .nesterov = t->nesterov};
    for (int m = 0; m < b->M; m++) {
        bm_net *n = &b->nets[m];
        if (m == 0) {
            n->space = env->space;
        } else {
            /* Each supernet draws its initial weights from its own stream. */
            char stream[32];
            snprintf(stream, sizeof stream, "init.supernet%d", m);
            if ((st = env->create_supernet(env, stream, &n->space, err))) {
                n->space = NULL;
                cnas_error_prefix(err, BM ": supernet %d", m);
                goto fail;
            }
        }
        if ((st = collect_weights(b, n, err)))
            goto fail;
        if (!(n->opt = cnas_sgd_new(n->weights, n->n_weights, &so, err))) {
            st = err->code;
            goto fail;
        }
    }
    b->sched = (cnas_schedule){(cnas_schedule_kind)t->lr_schedule, t->lr, t->lr_min, t->epochs};
    cnas_rng_init(&b->path_rng, env->seed, "bm.path");
    cnas_rng_init(&b->model_rng, env->seed, "bm.supernet");
    if (!(b->g = cnas_graph_new(err)) || !(b->g_data = cnas_graph_new(err))) {
        st = err->code;
        goto fail;
    }
    env->log(env, CNAS_LOG_INFO, BM ": %d supernets over %d architectures; SGD lr %g -> %g over "
             "%d epochs, momentum %g, weight decay %g; T %g -> %g, EMA decay %g", b->M, b->A,
             (double)t->lr, (double)t->lr_min, (int)t->epochs, (double)t->momentum,
             (double)t->weight_decay, b->t_start, b->t_end, b->decay);
    *self = b;
    return CNAS_OK;
fail:
    bm_destroy(b);
    return st;
}

static void bm_destroy(void *self)
{
    bm_state *b = self;
    if (!b)
        return;
    for (int m = 0; m < b->M && m < BM_MAX_SUPERNETS; m++) {
        bm_net *n = &b->nets[m];
        cnas_optim_free(n->opt);
        free(n->weights);
        if (m > 0 && n->space)
            b->vt->destroy(n->space);
    }
    for (int a = 0; b->archs && a < b->A; a++)
        cnas_arch_free(b->archs[a]);
    free(b->archs);
    free(b->flops);
    free(b->params);
    free(b->S);
    free(b->counts);
    free(b->Q);
    cnas_graph_free(b->g);
    cnas_graph_free(b->g_data);
    free(b);
}

/* ---- forward passes -------------------------------------------------------------------- */

static cnas_tensor *path_logits(bm_state *b, int m, cnas_graph *g, cnas_tensor *x,
                                const cnas_arch *arch, bool training)
{
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, arch, training, NULL, 0.0f,
                                  NULL};
    return b->vt->forward(b->nets[m].space, g, x, &fa);
}

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

typedef struct path_ctx {
    bm_state *b;
    int m;
    const cnas_arch *arch;
    cnas_tensor *x;
    const int32_t *y;
    int64_t correct;
} path_ctx;

static cnas_tensor *train_loss(cnas_graph *g, void *vctx)
{
    path_ctx *c = vctx;
    cnas_tensor *logits = path_logits(c->b, c->m, g, c->x, c->arch, true);
    if (!logits)
        return NULL;
    c->correct = count_correct(logits, c->y);
    return cnas_cross_entropy(g, logits, c->y, c->b->env->train->label_smoothing);
}

static cnas_tensor *eval_logits(cnas_graph *g, cnas_tensor *x, void *vctx)
{
    path_ctx *c = vctx;
    return path_logits(c->b, c->m, g, x, c->arch, false);
}

/* ---- balancing -------------------------------------------------------------------------- */

/* The balanced p(m|a) of every configuration at temperature T from the current S;
 * the divisions go to Q (room for max_balance_steps), their count to *nq. Returns
 * KL(q ‖ u) before balancing. */
static double balance_all(bm_state *b, double T, double *P, double *Q, int *nq, bool *converged)
{
    double q[BM_MAX_SUPERNETS];
    bm_softmax_rows(b->S, b->A, b->M, T, P);
    bm_marginal(P, b->A, b->M, q);
    double kl = bm_kl_uniform(q, b->M);
    *nq = bm_balance(P, b->A, b->M, b->kl_threshold, b->max_balance_steps, Q, converged);
    return kl;
}

static cnas_status begin_balance(bm_state *b, double T, cnas_error *err)
{
    double *P = malloc((size_t)b->A * (size_t)b->M * sizeof *P);
    if (!P)
        return cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory");
    bool converged;
    double kl = balance_all(b, T, P, b->Q, &b->nq, &converged);
    free(P);
    if (!converged)
        b->env->log(b->env, CNAS_LOG_WARN, BM ": epoch %lld: balancing stopped after %d steps "
                    "above KL %g; p(m) stays skewed", (long long)b->epoch, b->nq,
                    b->kl_threshold);
    b->env->log(b->env, CNAS_LOG_DEBUG, BM ": epoch %lld: T = %g, KL(p(m) || uniform) = %.3g "
                "before balancing, %d division steps", (long long)b->epoch, T, kl, b->nq);
    return CNAS_OK;
}

/* ---- one step ------------------------------------------------------------------------------ */

static cnas_status one_step(bm_state *b, double T, float lr, cnas_tensor *x, const int32_t *y,
                            double *val_acc, cnas_error *err)
{
    cnas_search_env *env = b->env;
    double p[BM_MAX_SUPERNETS];
    int a = (int)cnas_rng_below(&b->path_rng, (uint32_t)b->A);
    bm_conditional_row(b->S, a, b->M, T, b->Q, b->nq, p);
    int m = bm_pick(p, b->M, cnas_rng_uniform_double(&b->model_rng));
    b->counts[(size_t)a * b->M + m]++;

    bm_net *n = &b->nets[m];
    path_ctx tc = {b, m, b->archs[a], x, y, 0};
    float loss;
    cnas_status st = cnas_grad_pass(b->g, train_loss, &tc, n->weights, n->n_weights, NULL, 0,
                                    &loss, err);
    if (st)
        return st;
    if (env->train->grad_clip > 0.0f)
        cnas_clip_grad_norm(n->weights, n->n_weights, env->train->grad_clip);
    if ((st = cnas_optim_step(n->opt, lr, err)))
        return st;

    /* The same supernet and path, no tape, on the next validation minibatch. */
    cnas_tensor *xv;
    const int32_t *yv;
    int r = env->next_batch(env, CNAS_STREAM_VAL_CYCLE, b->g_data, &xv, &yv, err);
    if (r <= 0)
        return r < 0 ? err->code
                     : cnas_error_set(err, CNAS_ERR_INVALID, BM ": the validation split is empty "
                                      "(train_portion must be < 1)");
    cnas_graph_set_grad_enabled(b->g, false);
    cnas_tensor *logits = path_logits(b, m, b->g, xv, b->archs[a], false);
    double acc = logits ? (double)count_correct(logits, yv) / (double)xv->shape[0] : NAN;
    if (!logits)
        st = cnas_error_set(err, cnas_graph_status(b->g), "%s", cnas_graph_error(b->g)->msg);
    cnas_graph_reset(b->g);
    cnas_graph_set_grad_enabled(b->g, true);
    if (st)
        return st;
    double *s = &b->S[(size_t)a * b->M + m];
    *s = bm_ema(*s, acc, b->decay);
    *val_acc = acc;

    env->metric(env, "lr", lr);
    env->metric(env, "temperature", T);
    env->metric(env, "arch", a);
    env->metric(env, "supernet", m);
    env->metric(env, "train_loss", loss);
    env->metric(env, "train_acc", (double)tc.correct / (double)x->shape[0]);
    env->metric(env, "val_batch_acc", acc);
    /* The balanced marginal p(m) under the current S, every step (set only at epoch
     * ends it would leak into the next step's record). */
    double q[BM_MAX_SUPERNETS] = {0};
    for (int i = 0; i < b->A; i++) {
        bm_conditional_row(b->S, i, b->M, T, b->Q, b->nq, p);
        for (int k = 0; k < b->M; k++)
            q[k] += p[k] / b->A;
    }
    for (int k = 0; k < b->M; k++) {
        char name[32];
        snprintf(name, sizeof name, "p_m%d", k);
        env->metric(env, name, q[k]);
    }
    return CNAS_OK;
}

/* ---- outputs -------------------------------------------------------------------------------- */

/* A growing text buffer. */
typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = b->s ? vsnprintf(b->s + b->n, room, fmt, ap) : -1;
        va_end(ap);
        if (k >= 0 && (size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        if (b->oom)
            return;
        size_t cap = b->cap ? 2 * b->cap : 4096;
        while (k >= 0 && cap - b->n <= (size_t)k)
            cap *= 2;
        char *grown = realloc(b->s, cap);
        if (!grown) {
            b->oom = true;
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
}

/* The selected candidate of every choice point, "0,0,0,1,..." (-1 for none or several). */
static void put_choices(sbuf *o, const cnas_arch *a, const char *sep)
{
    for (int p = 0; p < a->n_points; p++)
        put(o, "%s%d", p ? sep : "", cnas_arch_single(a, p));
}

static void put_json_string(sbuf *o, const char *s)
{
    put(o, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            put(o, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            put(o, "\\u%04x", (unsigned)(unsigned char)*s);
        else
            put(o, "%c", *s);
    }
    put(o, "\"");
}

typedef struct selection {
    double T;
    double *P;                  /* balanced p(m|a) at T, A x M */
    int *best;                  /* m*(a) */
    double *acc, *loss;         /* full validation split with m*(a); NaN when not evaluated */
    double *ema;                /* S[a, m*(a)] */
    int *order;                 /* ranking */
    char (*text)[256];          /* the space's notation */
} selection;

static void free_selection(selection *s)
{
    free(s->P);
    free(s->best);
    free(s->acc);
    free(s->loss);
    free(s->ema);
    free(s->order);
    free(s->text);
}

static cnas_status write_csv(bm_state *b, const selection *sel, cnas_error *err)
{
    sbuf o = {0};
    put(&o, "rank,index,arch,choices,supernet,val_acc,val_loss,ema_acc,flops,params");
    for (int m = 0; m < b->M; m++)
        put(&o, ",p_m%d", m);
    for (int m = 0; m < b->M; m++)
        put(&o, ",count_m%d", m);
    put(&o, "\n");
    for (int r = 0; r < b->A; r++) {
        int a = sel->order[r];
        put(&o, "%d,%d,\"%s\",\"", r, a, sel->text[a]);
        put_choices(&o, b->archs[a], ",");
        put(&o, "\",%d,%.6f,%.6f,%.6f,%lld,%lld", sel->best[a], sel->acc[a], sel->loss[a],
            sel->ema[a], (long long)b->flops[a], (long long)b->params[a]);
        for (int m = 0; m < b->M; m++)
            put(&o, ",%.6f", sel->P[(size_t)a * b->M + m]);
        for (int m = 0; m < b->M; m++)
            put(&o, ",%lld", (long long)b->counts[(size_t)a * b->M + m]);
        put(&o, "\n");
    }
    cnas_status st = o.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory")
                           : b->env->append(b->env, "ranking.csv", o.s, err);
    free(o.s);
    return st;
}

/* The space's own JSON of an architecture, captured from its FILE* writer. */
static cnas_status space_json(bm_state *b, const cnas_arch *a, sbuf *o, cnas_error *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory");
    cnas_status st = b->vt->write_json(b->env->space, a, f, err);
    fclose(f);
    if (!st) {
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
            text[--len] = '\0';
        put(o, "%s", len ? text : "null");
    }
    free(text);
    return st;
}

/* A JSON number; JSON has no NaN, so an unevaluated value is null. */
static void put_num(sbuf *o, double v)
{
    if (isfinite(v))
        put(o, "%.6g", v);
    else
        put(o, "null");
}

static void put_row(sbuf *o, const double *v, int n)
{
    put(o, "[");
    for (int i = 0; i < n; i++) {
        put(o, "%s", i ? ", " : "");
        put_num(o, v[i]);
    }
    put(o, "]");
}

static cnas_status write_json(bm_state *b, const selection *sel, cnas_error *err)
{
    sbuf o = {0};
    double q[BM_MAX_SUPERNETS];
    bm_marginal(sel->P, b->A, b->M, q);
    put(&o, "{\"strategy\": \"" BM "\", \"M\": %d, \"epochs\": %lld, \"temperature\": %g, "
        "\"marginal\": ", b->M, (long long)b->epoch, sel->T);
    put_row(&o, q, b->M);
    put(&o, ",\n \"configurations\": [\n");
    cnas_status st = CNAS_OK;
    for (int r = 0; r < b->A && !st; r++) {
        int a = sel->order[r];
        put(&o, "  {\"rank\": %d, \"index\": %d, \"arch\": ", r, a);
        put_json_string(&o, sel->text[a]);
        put(&o, ", \"choices\": [");
        put_choices(&o, b->archs[a], ", ");
        put(&o, "], \"supernet\": %d, \"val_acc\": ", sel->best[a]);
        put_num(&o, sel->acc[a]);
        put(&o, ", \"val_loss\": ");
        put_num(&o, sel->loss[a]);
        put(&o, ", \"ema_acc\": ");
        put_num(&o, sel->ema[a]);
        put(&o, ", \"flops\": %lld, \"params\": %lld, \"p_m_given_a\": ", (long long)b->flops[a],
            (long long)b->params[a]);
        put_row(&o, sel->P + (size_t)a * b->M, b->M);
        put(&o, ", \"ema\": ");
        put_row(&o, b->S + (size_t)a * b->M, b->M);
        put(&o, ", \"count\": [");
        for (int m = 0; m < b->M; m++)
            put(&o, "%s%lld", m ? ", " : "", (long long)b->counts[(size_t)a * b->M + m]);
        put(&o, "],\n   \"space\": ");
        st = space_json(b, b->archs[a], &o, err);
        put(&o, "}%s\n", r + 1 < b->A ? "," : "");
    }
    put(&o, " ]\n}\n");
    if (!st)
        st = o.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory")
                   : b->env->append(b->env, "ranking.json", o.s, err);
    free(o.s);
    return st;
}

/* A heatmap of p(m|a): one row per configuration in enumeration order, one column
 * per supernet, white (0) to dark blue (1). */
static cnas_status write_svg(bm_state *b, const selection *sel, cnas_error *err)
{
    const int cw = 52, ch = 18, left = 150, top = 44, right = 16;
    int width = left + b->M * cw + right, height = top + b->A * ch + 36;
    int *rank_of = malloc((size_t)b->A * sizeof *rank_of);
    if (!rank_of)
        return cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory");
    for (int r = 0; r < b->A; r++)
        rank_of[sel->order[r]] = r;
    sbuf o = {0};
    put(&o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n"
        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
        "<text x=\"%d\" y=\"16\" font-size=\"13\" font-weight=\"bold\">p(m|a), T = %g, "
        "after %lld epochs</text>\n", width, height, 8, sel->T, (long long)b->epoch);
    for (int m = 0; m < b->M; m++)
        put(&o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">m%d</text>\n",
            left + m * cw + cw / 2, top - 6, m);
    for (int a = 0; a < b->A; a++) {
        int y = top + a * ch;
        put(&o, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s  #%d</text>\n", left - 6,
            y + ch - 5, sel->text[a], rank_of[a] + 1);
        for (int m = 0; m < b->M; m++) {
            double p = sel->P[(size_t)a * b->M + m];
            p = p < 0 ? 0 : p > 1 ? 1 : p;
            /* Linear from white to #08306b. */
            int r = (int)lround(255 - p * (255 - 8)), gg = (int)lround(255 - p * (255 - 48)),
                bl = (int)lround(255 - p * (255 - 107));
            put(&o, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#%02x%02x%02x\" "
                "stroke=\"#cccccc\" stroke-width=\"0.5\"/>\n", left + m * cw, y, cw, ch, r, gg, bl);
            put(&o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%.2f</text>\n",
                left + m * cw + cw / 2, y + ch - 5, p > 0.5 ? "white" : "black", p);
        }
    }
    put(&o, "<text x=\"8\" y=\"%d\" fill=\"#555555\">rows: configurations (#rank by validation "
        "accuracy); columns: supernets</text>\n</svg>\n", top + b->A * ch + 22);
    free(rank_of);
    cnas_status st = o.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory")
                           : b->env->append(b->env, "pma.svg", o.s, err);
    free(o.s);
    return st;
}

/* Every configuration with its most likely supernet on the full validation split. */
static cnas_status select_and_report(bm_state *b, cnas_error *err)
{
    cnas_search_env *env = b->env;
    selection sel = {0};
    size_t am = (size_t)b->A * (size_t)b->M;
    cnas_status st = CNAS_OK;
    sel.P = malloc(am * sizeof *sel.P);
    sel.best = malloc((size_t)b->A * sizeof *sel.best);
    sel.acc = malloc((size_t)b->A * sizeof *sel.acc);
    sel.loss = malloc((size_t)b->A * sizeof *sel.loss);
    sel.ema = malloc((size_t)b->A * sizeof *sel.ema);
    sel.order = malloc((size_t)b->A * sizeof *sel.order);
    sel.text = malloc((size_t)b->A * sizeof *sel.text);
    double *prerank = malloc((size_t)b->A * sizeof *prerank);
    int *pre_order = malloc((size_t)b->A * sizeof *pre_order);
    if (!sel.P || !sel.best || !sel.acc || !sel.loss || !sel.ema || !sel.order || !sel.text ||
        !prerank || !pre_order) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory");
        goto out;
    }
    int64_t E = env->train->epochs;
    sel.T = bm_temperature(b->t_start, b->t_end, E - 1, E);
    bool converged;
    int nq;
    double *Q = malloc((size_t)b->max_balance_steps * (size_t)b->M * sizeof *Q);
    if (!Q) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory");
        goto out;
    }
    balance_all(b, sel.T, sel.P, Q, &nq, &converged);
    free(Q);
    for (int a = 0; a < b->A; a++) {
        const double *row = sel.P + (size_t)a * b->M;
        sel.best[a] = bm_argmax(row, b->M);
        sel.ema[a] = b->S[(size_t)a * b->M + sel.best[a]];
        sel.acc[a] = sel.loss[a] = NAN;
        prerank[a] = b->S[(size_t)a * b->M + bm_argmax(b->S + (size_t)a * b->M, b->M)];
        if ((st = b->vt->format(env->space, b->archs[a], sel.text[a], sizeof sel.text[a], err)))
            goto out;
    }
    /* With final_top_k, only the best k by max_m S are evaluated (the Food101 rule). */
    bm_rank(prerank, NULL, b->A, pre_order);
    int k = b->final_top_k > 0 && b->final_top_k < b->A ? b->final_top_k : b->A;
    for (int i = 0; i < k; i++) {
        int a = pre_order[i];
        if (env->stop_requested(env)) {
            /* Writes a checkpoint at the end of training; resuming redoes the selection. */
            st = env->checkpoint_point(env, b->epoch, 0, false, err);
            if (!st)
                st = cnas_error_set(err, CNAS_ERR_INTERRUPTED, BM ": stopped during the final "
                                    "evaluation");
            goto out;
        }
        path_ctx c = {b, sel.best[a], b->archs[a], NULL, NULL, 0};
        if ((st = env->evaluate(env, CNAS_STREAM_VAL, eval_logits, &c, &sel.loss[a], &sel.acc[a],
                                err))) {
            cnas_error_prefix(err, BM ": evaluating %s on supernet %d", sel.text[a], sel.best[a]);
            goto out;
        }
        env->log(env, CNAS_LOG_INFO, BM ": %-12s supernet %d  val acc %.4f  loss %.4f  (EMA %.4f, "
                 "p(m|a) %.3f)", sel.text[a], sel.best[a], sel.acc[a], sel.loss[a], sel.ema[a],
                 sel.P[(size_t)a * b->M + sel.best[a]]);
    }
    /* Unevaluated configurations (and NaN from an empty split) rank below, by EMA. */
    double *key = prerank;
    for (int a = 0; a < b->A; a++)
        key[a] = isnan(sel.acc[a]) ? -1.0 : sel.acc[a];
    bm_rank(key, sel.ema, b->A, sel.order);
    for (int r = 0; r < b->A && !st; r++) {
        int a = sel.order[r];
        st = env->report(env, r, b->archs[a], isnan(sel.acc[a]) ? sel.ema[a] : sel.acc[a], err);
    }
    if (!st)
        st = write_csv(b, &sel, err);
    if (!st)
        st = write_json(b, &sel, err);
    if (!st)
        st = write_svg(b, &sel, err);
    if (!st)
        env->log(env, CNAS_LOG_INFO, BM ": best %s on supernet %d, val acc %.4f; ranking in "
                 "ranking.csv / ranking.json, p(m|a) in pma.svg", sel.text[sel.order[0]],
                 sel.best[sel.order[0]], sel.acc[sel.order[0]]);
out:
    free(prerank);
    free(pre_order);
    free_selection(&sel);
    return st;
}

/* One JSON line per epoch: temperature, the balanced marginal, S, p(m|a) and counts. */
static cnas_status log_epoch(bm_state *b, double T, double mean_val_acc, cnas_error *err)
{
    size_t am = (size_t)b->A * (size_t)b->M;
    double *P = malloc(am * sizeof *P);
    if (!P)
        return cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory");
    double q[BM_MAX_SUPERNETS];
    for (int a = 0; a < b->A; a++)
        bm_conditional_row(b->S, a, b->M, T, b->Q, b->nq, P + (size_t)a * b->M);
    bm_marginal(P, b->A, b->M, q);
    sbuf o = {0};
    put(&o, "{\"epoch\": %lld, \"temperature\": %g, \"val_batch_acc\": ", (long long)b->epoch, T);
    put_num(&o, mean_val_acc);
    put(&o, ", \"marginal\": ");
    put_row(&o, q, b->M);
    put(&o, ", \"p_m_given_a\": [");
    for (int a = 0; a < b->A; a++) {
        put(&o, "%s", a ? ", " : "");
        put_row(&o, P + (size_t)a * b->M, b->M);
    }
    put(&o, "], \"ema\": [");
    for (int a = 0; a < b->A; a++) {
        put(&o, "%s", a ? ", " : "");
        put_row(&o, b->S + (size_t)a * b->M, b->M);
    }
    put(&o, "], \"count\": [");
    for (int a = 0; a < b->A; a++) {
        put(&o, "%s[", a ? ", " : "");
        for (int m = 0; m < b->M; m++)
            put(&o, "%s%lld", m ? ", " : "", (long long)b->counts[(size_t)a * b->M + m]);
        put(&o, "]");
    }
    put(&o, "]}\n");
    char msg[512];
    size_t k = (size_t)snprintf(msg, sizeof msg, "p(m) =");
    for (int m = 0; m < b->M && k < sizeof msg; m++)
        k += (size_t)snprintf(msg + k, sizeof msg - k, " %.3f", q[m]);
    b->env->log(b->env, CNAS_LOG_INFO, BM ": epoch %lld T = %.3g, mean val batch acc %.4f, %s",
                (long long)b->epoch, T, mean_val_acc, msg);
    free(P);
    cnas_status st = o.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory")
                           : b->env->append(b->env, "mixture.jsonl", o.s, err);
    free(o.s);
    return st;
}

/* ---- the loop ---------------------------------------------------------------------------------- */

static cnas_status bm_run(void *self, cnas_error *err)
{
    bm_state *b = self;
    cnas_search_env *env = b->env;
    int64_t E = env->train->epochs;
    cnas_status st;
    /* Known before the first checkpoint, so a resume cuts them back. */
    for (size_t i = 0; i < sizeof OUTPUT_FILES / sizeof OUTPUT_FILES[0]; i++)
        if ((st = env->append(env, OUTPUT_FILES[i], "", err)))
            return st;
    while (b->epoch < E) {
        double T = bm_temperature(b->t_start, b->t_end, b->epoch, E);
        float lr = cnas_schedule_lr(&b->sched, b->epoch);
        if ((st = env->begin_epoch(env, b->epoch, err)))
            return st;
        /* Balanced once per epoch from the S it starts with; a resumed epoch keeps the
         * divisions it saved. */
        if (b->step == 0 && (st = begin_balance(b, T, err)))
            return st;
        if (b->step == 0) {
            b->val_sum = 0.0;
            b->val_n = 0;
        }
        for (;;) {
            if (env->stop_requested(env)) {
                /* A stop seen here still leaves a checkpoint of the position reached. */
                if ((st = env->checkpoint_point(env, b->epoch, b->step, false, err)))
                    return st;
                return cnas_error_set(err, CNAS_ERR_INTERRUPTED, BM ": stopped at epoch %lld "
                                      "step %lld", (long long)b->epoch, (long long)b->step);
            }
            cnas_graph_reset(b->g_data);
            cnas_tensor *x;
            const int32_t *y;
            int r = env->next_batch(env, CNAS_STREAM_TRAIN, b->g_data, &x, &y, err);
            if (r < 0)
                return err->code;
            if (r == 0)
                break;
            double acc;
            if ((st = one_step(b, T, lr, x, y, &acc, err)))
                return cnas_error_prefix(err, BM ": epoch %lld step %lld", (long long)b->epoch,
                                         (long long)b->step);
            b->val_sum += acc;
            b->val_n++;
            b->step++;
            env->end_step(env, b->epoch, b->step);
            if ((st = env->checkpoint_point(env, b->epoch, b->step, false, err)))
                return st;
        }
        if ((st = log_epoch(b, T, b->val_n ? b->val_sum / (double)b->val_n : NAN, err)))
            return st;
        env->end_epoch(env, b->epoch);
        b->epoch++;
        b->step = 0;
        b->nq = 0; /* the next epoch balances afresh */
        if ((st = env->checkpoint_point(env, b->epoch, 0, true, err)))
            return st;
    }
    return select_and_report(b, err);
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

/* Every tensor of supernet m >= 1 (supernet 0 is the host's env->space). */
static cnas_status net_tensors(bm_state *b, int m, cnas_named_tensor **out, int *n,
                               cnas_error *err)
{
    int total = b->vt->tensors(b->nets[m].space, NULL, 0);
    *out = malloc((size_t)(total > 0 ? total : 1) * sizeof **out);
    if (!*out)
        return cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory");
    *n = b->vt->tensors(b->nets[m].space, *out, total);
    return CNAS_OK;
}

static cnas_status bm_save(void *self, cnas_ckpt *ck, cnas_error *err)
{
    bm_state *b = self;
    size_t am = (size_t)b->A * (size_t)b->M;
    cnas_status st;
    if ((st = cnas_ckpt_put_i64(ck, "bm.M", b->M, err)) ||
        (st = cnas_ckpt_put_i64(ck, "bm.A", b->A, err)) ||
        (st = cnas_ckpt_put_i64(ck, "bm.epoch", b->epoch, err)) ||
        (st = cnas_ckpt_put_i64(ck, "bm.step", b->step, err)) ||
        (st = cnas_ckpt_put_blob(ck, "bm.val_sum", &b->val_sum, sizeof b->val_sum, err)) ||
        (st = cnas_ckpt_put_i64(ck, "bm.val_n", b->val_n, err)) ||
        (st = cnas_ckpt_put_blob(ck, "bm.S", b->S, am * sizeof *b->S, err)) ||
        (st = cnas_ckpt_put_blob(ck, "bm.counts", b->counts, am * sizeof *b->counts, err)) ||
        (st = cnas_ckpt_put_i64(ck, "bm.nq", b->nq, err)) ||
        (b->nq > 0 &&
         (st = cnas_ckpt_put_blob(ck, "bm.Q", b->Q, (size_t)b->nq * b->M * sizeof *b->Q, err))) ||
        (st = cnas_ckpt_put_blob(ck, "bm.rng.path", &b->path_rng, sizeof b->path_rng, err)) ||
        (st = cnas_ckpt_put_blob(ck, "bm.rng.supernet", &b->model_rng, sizeof b->model_rng, err)))
        return st;
    for (int m = 0; m < b->M && !st; m++) {
        char name[320];
        snprintf(name, sizeof name, "bm.opt%d", m);
        if ((st = cnas_optim_save(b->nets[m].opt, ck, name, err)) || m == 0)
            continue;
        cnas_named_tensor *all = NULL;
        int n = 0;
        if ((st = net_tensors(b, m, &all, &n, err)))
            return st;
        for (int i = 0; i < n && !st; i++) {
            snprintf(name, sizeof name, "bm.supernet%d.%s", m, all[i].name);
            st = cnas_ckpt_put_tensor(ck, name, all[i].tensor, err);
        }
        free(all);
    }
    return st;
}

static cnas_status bm_load(void *self, const cnas_ckpt *ck, cnas_error *err)
{
    bm_state *b = self;
    size_t am = (size_t)b->A * (size_t)b->M;
    int64_t M, A, nq;
    cnas_status st;
    if ((st = cnas_ckpt_get_i64(ck, "bm.M", &M, err)) || (st = cnas_ckpt_get_i64(ck, "bm.A", &A, err)))
        return st;
    if (M != b->M || A != b->A)
        return cnas_error_set(err, CNAS_ERR_CONFIG, BM ": the checkpoint holds %lld supernets over "
                              "%lld architectures, this run has %d over %d", (long long)M,
                              (long long)A, b->M, b->A);
    if ((st = cnas_ckpt_get_i64(ck, "bm.epoch", &b->epoch, err)) ||
        (st = cnas_ckpt_get_i64(ck, "bm.step", &b->step, err)) ||
        (st = cnas_ckpt_get_blob(ck, "bm.val_sum", &b->val_sum, sizeof b->val_sum, err)) ||
        (st = cnas_ckpt_get_i64(ck, "bm.val_n", &b->val_n, err)) ||
        (st = cnas_ckpt_get_blob(ck, "bm.S", b->S, am * sizeof *b->S, err)) ||
        (st = cnas_ckpt_get_blob(ck, "bm.counts", b->counts, am * sizeof *b->counts, err)) ||
        (st = cnas_ckpt_get_i64(ck, "bm.nq", &nq, err)))
        return st;
    if (nq < 0 || nq > b->max_balance_steps)
        return cnas_error_set(err, CNAS_ERR_FORMAT, BM ": the checkpoint holds %lld balancing "
                              "steps, at most %d fit", (long long)nq, b->max_balance_steps);
    b->nq = (int)nq;
    if ((b->nq > 0 &&
         (st = cnas_ckpt_get_blob(ck, "bm.Q", b->Q, (size_t)b->nq * b->M * sizeof *b->Q, err))) ||
        (st = cnas_ckpt_get_blob(ck, "bm.rng.path", &b->path_rng, sizeof b->path_rng, err)) ||
        (st = cnas_ckpt_get_blob(ck, "bm.rng.supernet", &b->model_rng, sizeof b->model_rng, err)))
        return st;
    for (int m = 0; m < b->M && !st; m++) {
        char name[320];
        snprintf(name, sizeof name, "bm.opt%d", m);
        if ((st = cnas_optim_load(b->nets[m].opt, ck, name, err)) || m == 0)
            continue;
        cnas_named_tensor *all = NULL;
        int n = 0;
        if ((st = net_tensors(b, m, &all, &n, err)))
            return st;
        for (int i = 0; i < n && !st; i++) {
            snprintf(name, sizeof name, "bm.supernet%d.%s", m, all[i].name);
            st = cnas_ckpt_get_tensor(ck, name, all[i].tensor, err);
        }
        free(all);
    }
    return st;
}

/* ---- the component ---------------------------------------------------------------------------- */

static const cnas_param_spec bm_keys[] = {
    CNAS_PARAM_SPEC_INT("supernets", "4", 1, BM_MAX_SUPERNETS,
                        "M, the number of supernets (1: the plain single-supernet baseline)"),
    CNAS_PARAM_SPEC_FLOAT("ema_decay", "0.9", 0, 1,
                          "decay d of the score EMA: S = d*S + (1-d)*validation batch accuracy"),
    CNAS_PARAM_SPEC_FLOAT("t_start", "1", 0, 1e6, "temperature of the first epoch"),
    CNAS_PARAM_SPEC_FLOAT("t_end", "100", 0, 1e6,
                          "temperature of the last epoch (linear in between)"),
    CNAS_PARAM_SPEC_FLOAT("kl_threshold", "1e-4", 0, 10,
                          "balance p(m|a) until KL(p(m) || uniform) is at most this"),
    CNAS_PARAM_SPEC_FLOAT("s_init", "1.0", -1e6, 1e6, "initial value of every score S[a, m]"),
    CNAS_PARAM_SPEC_INT("max_balance_steps", "10000", 1, 1000000,
                        "most division steps of one balancing"),
    CNAS_PARAM_SPEC_INT("final_top_k", "0", 0, 1000000,
                        "evaluate only the k configurations with the best max_m S on the full "
                        "validation split (0: all of them)"),
};

static const cnas_strategy_vtable bm_vtable = {
    sizeof(cnas_strategy_vtable), bm_create, bm_destroy, bm_run, bm_save, bm_load,
};

static const cnas_component bm_components[] = {
    CNAS_COMPONENT(CNAS_KIND_STRATEGY, BM,
                   "Balanced Mixture of SuperNets: M supernets, balanced p(m|a) from EMA "
                   "validation accuracy, single-path training (Javan Roshtkhari et al. 2023); "
                   "the reference trains with [train] lr 0.1 cosine, momentum 0.9, weight decay "
                   "0, batch 128, epochs 101", bm_keys, &bm_vtable),
};

CNAS_PLUGIN(BM, "0.1.0", "Balanced Mixture of SuperNets search strategy", "MIT", bm_components,
            NULL)
