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

static cnas_status enumerate_all(bm_state *b, cnas_error *err)
{
    cnas_search_env *env = b->env;
    if (!CNAS_VT_HAS(b->vt, enumerate_count) || !CNAS_VT_HAS(b->vt, enumerate) ||
        !CNAS_VT_HAS(b->vt, choice_points) || !CNAS_VT_HAS(b->vt, format))
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
        b->flops[a] = b->params[a] = -1;
        if ((st = b->vt->enumerate(env->space, a, b->archs[a], err)) ||
            (CNAS_VT_HAS(b->vt, cost) &&
             (st = b->vt->cost(env->space, b->archs[a], &b->flops[a], &b->params[a], err))))
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
        if ((st = cnas_space_param_tensors(b->vt, n->space, &n->weights, &n->n_weights, err)))
            goto fail;
        if (!(n->opt = cnas_sgd_from_settings(env->train, n->weights, n->n_weights, err))) {
            st = err->code;
            goto fail;
        }
    }
    cnas_rng_init(&b->path_rng, env->seed, "bm.path");
    cnas_rng_init(&b->model_rng, env->seed, "bm.supernet");
    if ((st = cnas_loop_init(&b->loop, env, BM, false, err)))
        goto fail;
    if (!(b->g = cnas_graph_new(err))) {
        st = err->code;
        goto fail;
    }
    /* Only leaf gradients (weights, architecture parameters) are read after backward,
     * so backward may recycle the others (graph.h). */
    cnas_graph_set_release_grads(b->g, true);
    const cnas_train_settings *t = env->train;
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
    cnas_loop_free(&b->loop);
    free(b);
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
                    "above KL %g; p(m) stays skewed", (long long)b->loop.epoch, b->nq,
                    b->kl_threshold);
    b->env->log(b->env, CNAS_LOG_DEBUG, BM ": epoch %lld: T = %g, KL(p(m) || uniform) = %.3g "
                "before balancing, %d division steps", (long long)b->loop.epoch, T, kl, b->nq);
    return CNAS_OK;
}

/* ---- one step ------------------------------------------------------------------------------ */

/* Draw a configuration and a supernet for it, one SGD step of that supernet on that
 * path, then the EMA of its accuracy on the next validation minibatch. */
static cnas_status bm_step(void *self, cnas_loop_step *s, cnas_error *err)
{
    bm_state *b = self;
    cnas_search_env *env = b->env;
    double T = b->T, p[BM_MAX_SUPERNETS];
    int a = (int)cnas_rng_below(&b->path_rng, (uint32_t)b->A);
    bm_conditional_row(b->S, a, b->M, T, b->Q, b->nq, p);
    int m = bm_pick(p, b->M, cnas_rng_uniform_double(&b->model_rng));
    b->counts[(size_t)a * b->M + m]++;

    bm_net *n = &b->nets[m];
    cnas_path_batch tb = {env, n->space, b->archs[a], s->x, s->y, 0};
    cnas_status st = cnas_grad_pass(b->g, cnas_path_loss, &tb, n->weights, n->n_weights, NULL, 0,
                                    &s->loss, err);
    if (st || (st = cnas_kit_update(env, n->opt, s->lr, true, err)))
        return st;
    s->correct = tb.correct;

    /* The same supernet and path, no tape, on the next validation minibatch. */
    cnas_tensor *xv;
    const int32_t *yv;
    int r = env->next_batch(env, CNAS_STREAM_VAL_CYCLE, s->g, &xv, &yv, err);
    if (r <= 0)
        return r < 0 ? err->code
                     : cnas_error_set(err, CNAS_ERR_INVALID, BM ": the validation split is empty "
                                      "(train_portion must be < 1)");
    cnas_graph_set_grad_enabled(b->g, false);
    cnas_tensor *logits = cnas_path_logits(env, n->space, b->g, xv, b->archs[a], false);
    double acc = logits ? (double)cnas_count_correct(logits, yv) / (double)xv->shape[0] : NAN;
    if (!logits)
        st = cnas_error_set(err, cnas_graph_status(b->g), "%s", cnas_graph_error(b->g)->msg);
    cnas_graph_reset(b->g);
    cnas_graph_set_grad_enabled(b->g, true);
    if (st)
        return st;
    double *sc = &b->S[(size_t)a * b->M + m];
    *sc = bm_ema(*sc, acc, b->decay);
    b->val_sum += acc;
    b->val_n++;

    env->metric(env, "temperature", T);
    env->metric(env, "arch", a);
    env->metric(env, "supernet", m);
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

/* The selected candidate of every choice point, "0,0,0,1,..." (-1 for none or several). */
static void put_choices(cnas_text *o, const cnas_arch *a, const char *sep)
{
    for (int p = 0; p < a->n_points; p++)
        cnas_text_put(o, "%s%d", p ? sep : "", cnas_arch_single(a, p));
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
    cnas_text o = {0};
    cnas_text_put(&o, "rank,index,arch,choices,supernet,val_acc,val_loss,ema_acc,flops,params");
    for (int m = 0; m < b->M; m++)
        cnas_text_put(&o, ",p_m%d", m);
    for (int m = 0; m < b->M; m++)
        cnas_text_put(&o, ",count_m%d", m);
    cnas_text_put(&o, "\n");
    for (int r = 0; r < b->A; r++) {
        int a = sel->order[r];
        cnas_text_put(&o, "%d,%d,\"%s\",\"", r, a, sel->text[a]);
        put_choices(&o, b->archs[a], ",");
        cnas_text_put(&o, "\",%d,%.6f,%.6f,%.6f,%lld,%lld", sel->best[a], sel->acc[a], sel->loss[a],
            sel->ema[a], (long long)b->flops[a], (long long)b->params[a]);
        for (int m = 0; m < b->M; m++)
            cnas_text_put(&o, ",%.6f", sel->P[(size_t)a * b->M + m]);
        for (int m = 0; m < b->M; m++)
            cnas_text_put(&o, ",%lld", (long long)b->counts[(size_t)a * b->M + m]);
        cnas_text_put(&o, "\n");
    }
    cnas_status st = o.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory")
                           : b->env->append(b->env, "ranking.csv", o.s, err);
    cnas_text_free(&o);
    return st;
}

/* The space's own JSON of an architecture, captured from its FILE* writer. */
static cnas_status space_json(bm_state *b, const cnas_arch *a, cnas_text *o, cnas_error *err)
{
    if (!CNAS_VT_HAS(b->vt, write_json)) { /* optional */
        cnas_text_put(o, "null");
        return CNAS_OK;
    }
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
        cnas_text_put(o, "%s", len ? text : "null");
    }
    free(text);
    return st;
}

static void put_row(cnas_text *o, const double *v, int n)
{
    cnas_text_put(o, "[");
    for (int i = 0; i < n; i++) {
        cnas_text_put(o, "%s", i ? ", " : "");
        cnas_text_json_num(o, v[i]);
    }
    cnas_text_put(o, "]");
}

static cnas_status write_json(bm_state *b, const selection *sel, cnas_error *err)
{
    cnas_text o = {0};
    double q[BM_MAX_SUPERNETS];
    bm_marginal(sel->P, b->A, b->M, q);
    cnas_text_put(&o, "{\"strategy\": \"" BM "\", \"M\": %d, \"epochs\": %lld, \"temperature\": %g, "
        "\"marginal\": ", b->M, (long long)b->loop.epoch, sel->T);
    put_row(&o, q, b->M);
    cnas_text_put(&o, ",\n \"configurations\": [\n");
    cnas_status st = CNAS_OK;
    for (int r = 0; r < b->A && !st; r++) {
        int a = sel->order[r];
        cnas_text_put(&o, "  {\"rank\": %d, \"index\": %d, \"arch\": ", r, a);
        cnas_text_json_string(&o, sel->text[a]);
        cnas_text_put(&o, ", \"choices\": [");
        put_choices(&o, b->archs[a], ", ");
        cnas_text_put(&o, "], \"supernet\": %d, \"val_acc\": ", sel->best[a]);
        cnas_text_json_num(&o, sel->acc[a]);
        cnas_text_put(&o, ", \"val_loss\": ");
        cnas_text_json_num(&o, sel->loss[a]);
        cnas_text_put(&o, ", \"ema_acc\": ");
        cnas_text_json_num(&o, sel->ema[a]);
        cnas_text_put(&o, ", \"flops\": %lld, \"params\": %lld, \"p_m_given_a\": ", (long long)b->flops[a],
            (long long)b->params[a]);
        put_row(&o, sel->P + (size_t)a * b->M, b->M);
        cnas_text_put(&o, ", \"ema\": ");
        put_row(&o, b->S + (size_t)a * b->M, b->M);
        cnas_text_put(&o, ", \"count\": [");
        for (int m = 0; m < b->M; m++)
            cnas_text_put(&o, "%s%lld", m ? ", " : "", (long long)b->counts[(size_t)a * b->M + m]);
        cnas_text_put(&o, "],\n   \"space\": ");
        st = space_json(b, b->archs[a], &o, err);
        cnas_text_put(&o, "}%s\n", r + 1 < b->A ? "," : "");
    }
    cnas_text_put(&o, " ]\n}\n");
    if (!st)
        st = o.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory")
                   : b->env->append(b->env, "ranking.json", o.s, err);
    cnas_text_free(&o);
    return st;
}

/* A heatmap of p(m|a): one row per configuration in enumeration order, one column
 * per supernet, white (0) to dark blue (1). */
static cnas_status write_svg(bm_state *b, const selection *sel, cnas_error *err)
{
    const int cw = 52, ch = 18, left = 150, top = 44, right = 16;
    int width = left + b->M * cw + right, height = top + b->A * ch + 36;
    /* The caption (about 72 characters of 11 px text) sets the least width: with two or
     * three supernets the grid alone is narrower than it. */
    if (width < 430)
        width = 430;
    int *rank_of = malloc((size_t)b->A * sizeof *rank_of);
    if (!rank_of)
        return cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory");
    for (int r = 0; r < b->A; r++)
        rank_of[sel->order[r]] = r;
    cnas_text o = {0};
    cnas_text_put(&o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n"
        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
        "<text x=\"%d\" y=\"16\" font-size=\"13\" font-weight=\"bold\">p(m|a), T = %g, "
        "after %lld epochs</text>\n", width, height, 8, sel->T, (long long)b->loop.epoch);
    for (int m = 0; m < b->M; m++)
        cnas_text_put(&o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">m%d</text>\n",
            left + m * cw + cw / 2, top - 6, m);
    for (int a = 0; a < b->A; a++) {
        int y = top + a * ch;
        cnas_text_put(&o, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s  #%d</text>\n", left - 6,
            y + ch - 5, sel->text[a], rank_of[a] + 1);
        for (int m = 0; m < b->M; m++) {
            double p = sel->P[(size_t)a * b->M + m];
            p = p < 0 ? 0 : p > 1 ? 1 : p;
            /* Linear from white to #08306b. */
            int r = (int)lround(255 - p * (255 - 8)), gg = (int)lround(255 - p * (255 - 48)),
                bl = (int)lround(255 - p * (255 - 107));
            cnas_text_put(&o, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#%02x%02x%02x\" "
                "stroke=\"#cccccc\" stroke-width=\"0.5\"/>\n", left + m * cw, y, cw, ch, r, gg, bl);
            cnas_text_put(&o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%.2f</text>\n",
                left + m * cw + cw / 2, y + ch - 5, p > 0.5 ? "white" : "black", p);
        }
    }
    cnas_text_put(&o, "<text x=\"8\" y=\"%d\" fill=\"#555555\">rows: configurations (#rank by validation "
        "accuracy); columns: supernets</text>\n</svg>\n", top + b->A * ch + 22);
    free(rank_of);
    cnas_status st = o.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory")
                           : b->env->append(b->env, "pma.svg", o.s, err);
    cnas_text_free(&o);
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
            st = env->checkpoint_point(env, b->loop.epoch, 0, false, err);
            if (!st)
                st = cnas_error_set(err, CNAS_ERR_INTERRUPTED, BM ": stopped during the final "
                                    "evaluation");
            goto out;
        }
        cnas_path_batch c = {env, b->nets[sel.best[a]].space, b->archs[a], NULL, NULL, 0};
        if ((st = env->evaluate(env, CNAS_STREAM_VAL, cnas_path_eval_logits, &c, &sel.loss[a],
                                &sel.acc[a], err))) {
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
        cnas_result res = {sizeof res, r, b->archs[a], isnan(sel.acc[a]) ? sel.ema[a] : sel.acc[a],
                           sel.acc[a], b->flops[a], b->params[a]};
        st = env->report_result(env, &res, err);
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
    cnas_text o = {0};
    cnas_text_put(&o, "{\"epoch\": %lld, \"temperature\": %g, \"val_batch_acc\": ", (long long)b->loop.epoch, T);
    cnas_text_json_num(&o, mean_val_acc);
    cnas_text_put(&o, ", \"marginal\": ");
    put_row(&o, q, b->M);
    cnas_text_put(&o, ", \"p_m_given_a\": [");
    for (int a = 0; a < b->A; a++) {
        cnas_text_put(&o, "%s", a ? ", " : "");
        put_row(&o, P + (size_t)a * b->M, b->M);
    }
    cnas_text_put(&o, "], \"ema\": [");
    for (int a = 0; a < b->A; a++) {
        cnas_text_put(&o, "%s", a ? ", " : "");
        put_row(&o, b->S + (size_t)a * b->M, b->M);
    }
    cnas_text_put(&o, "], \"count\": [");
    for (int a = 0; a < b->A; a++) {
        cnas_text_put(&o, "%s[", a ? ", " : "");
        for (int m = 0; m < b->M; m++)
            cnas_text_put(&o, "%s%lld", m ? ", " : "", (long long)b->counts[(size_t)a * b->M + m]);
        cnas_text_put(&o, "]");
    }
    cnas_text_put(&o, "]}\n");
    char msg[512];
    size_t k = (size_t)snprintf(msg, sizeof msg, "p(m) =");
    for (int m = 0; m < b->M && k < sizeof msg; m++)
        k += (size_t)snprintf(msg + k, sizeof msg - k, " %.3f", q[m]);
    b->env->log(b->env, CNAS_LOG_INFO, BM ": epoch %lld T = %.3g, mean val batch acc %.4f, %s",
                (long long)b->loop.epoch, T, mean_val_acc, msg);
    free(P);
    cnas_status st = o.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, BM ": out of memory")
                           : b->env->append(b->env, "mixture.jsonl", o.s, err);
    cnas_text_free(&o);
    return st;
}

/* ---- the loop ---------------------------------------------------------------------------------- */

/* Balanced once per epoch from the S it starts with; a resumed epoch keeps the
 * divisions it saved. */
static cnas_status bm_begin_epoch(void *self, int64_t epoch, bool fresh, cnas_error *err)
{
    bm_state *b = self;
    b->T = bm_temperature(b->t_start, b->t_end, epoch, b->loop.epochs);
    if (!fresh)
        return CNAS_OK;
    b->val_sum = 0.0;
    b->val_n = 0;
    return begin_balance(b, b->T, err);
}

static cnas_status bm_end_epoch(void *self, int64_t epoch, cnas_error *err)
{
    bm_state *b = self;
    cnas_status st = log_epoch(b, b->T, b->val_n ? b->val_sum / (double)b->val_n : NAN, err);
    b->nq = 0; /* the next epoch balances afresh */
    (void)epoch;
    return st;
}

static const cnas_loop_hooks bm_hooks = {sizeof bm_hooks, bm_begin_epoch, bm_step, bm_end_epoch};

static cnas_status bm_run(void *self, cnas_error *err)
{
    bm_state *b = self;
    cnas_search_env *env = b->env;
    cnas_status st;
    /* Known before the first checkpoint, so a resume cuts them back. */
    for (size_t i = 0; i < sizeof OUTPUT_FILES / sizeof OUTPUT_FILES[0]; i++)
        if ((st = env->append(env, OUTPUT_FILES[i], "", err)))
            return st;
    if ((st = cnas_loop_run(&b->loop, &bm_hooks, b, err)))
        return st;
    return select_and_report(b, err);
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

static cnas_status bm_io(bm_state *b, cnas_ckio *io)
{
    size_t am = (size_t)b->A * (size_t)b->M;
    int M = b->M, A = b->A, nq = b->nq;
    cnas_ckio_int(io, "bm.M", &M);
    cnas_ckio_int(io, "bm.A", &A);
    if (!io->status && (M != b->M || A != b->A))
        return io->status = cnas_error_set(io->err, CNAS_ERR_CONFIG, BM ": the checkpoint holds "
                                           "%d supernets over %d architectures, this run has %d "
                                           "over %d", M, A, b->M, b->A);
    cnas_loop_io(&b->loop, io, "bm");
    cnas_ckio_f64(io, "bm.val_sum", &b->val_sum);
    cnas_ckio_i64(io, "bm.val_n", &b->val_n);
    cnas_ckio_blob(io, "bm.S", b->S, am * sizeof *b->S);
    cnas_ckio_blob(io, "bm.counts", b->counts, am * sizeof *b->counts);
    cnas_ckio_int(io, "bm.nq", &nq);
    if (!io->status && (nq < 0 || nq > b->max_balance_steps))
        return io->status = cnas_error_set(io->err, CNAS_ERR_FORMAT, BM ": the checkpoint holds %d "
                                           "balancing steps, at most %d fit", nq,
                                           b->max_balance_steps);
    b->nq = nq;
    if (b->nq > 0)
        cnas_ckio_blob(io, "bm.Q", b->Q, (size_t)b->nq * b->M * sizeof *b->Q);
    cnas_ckio_rng(io, "bm.rng.path", &b->path_rng);
    cnas_ckio_rng(io, "bm.rng.supernet", &b->model_rng);
    for (int m = 0; m < b->M; m++) {
        char name[64];
        snprintf(name, sizeof name, "bm.opt%d", m);
        cnas_ckio_optim(io, name, b->nets[m].opt);
        snprintf(name, sizeof name, "bm.supernet%d", m);
        if (m > 0) /* supernet 0 is the host's env->space, saved by the host */
            cnas_ckio_space(io, name, b->vt, b->nets[m].space);
    }
    return io->status;
}

static cnas_status bm_save(void *self, cnas_ckpt *ck, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_put(ck, err);
    return bm_io(self, &io);
}

static cnas_status bm_load(void *self, const cnas_ckpt *ck, cnas_error *err)
{
    cnas_ckio io = cnas_ckio_get(ck, err);
    return bm_io(self, &io);
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

/* M supernets, each trained on single paths with its own SGD. */
static cnas_status bm_memory(const cnas_params *p, cnas_strategy_memory *m, cnas_error *err)
{
    (void)err;
    m->single_path = true;
    m->supernets = (double)cnas_params_int(p, "supernets");
    m->releases_grads = true;
    return CNAS_OK;
}

static const cnas_strategy_vtable bm_vtable = {
    sizeof(cnas_strategy_vtable), bm_create, bm_destroy, bm_run, bm_save, bm_load, bm_memory,
};

static const cnas_component bm_components[] = {
    CNAS_COMPONENT(CNAS_KIND_STRATEGY, BM,
                   "Balanced Mixture of SuperNets: M supernets, balanced p(m|a) from EMA "
                   "validation accuracy, single-path training (Javan Roshtkhari et al. 2023); "
                   "the reference trains with [train] lr 0.1 cosine, momentum 0.9, weight decay "
                   "0, batch 128, epochs 101", bm_keys, &bm_vtable),
};

CNAS_PLUGIN(BM, "0.2.0", "Balanced Mixture of SuperNets search strategy", "MIT", bm_components,
            NULL)
