#include <cnas/gradcheck.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/rng.h>

/* L = Σ r_i·y_i, as a node so cnas_backward can start from a scalar. */
typedef struct project_ctx { const float *r; } project_ctx;

static void project_backward(cnas_graph *g, cnas_node *n)
{
    project_ctx *c = n->ctx;
    cnas_tensor *y = n->in[0];
    float *gy = cnas_graph_grad(g, y);
    if (!gy)
        return;
    float go = n->out->grad[0];
    for (int64_t i = 0; i < y->numel; i++)
        gy[i] += go * c->r[i];
}

static cnas_tensor *project(cnas_graph *g, cnas_tensor *y, const float *r)
{
    cnas_tensor *l = cnas_graph_tensor(g, 1, (int64_t[]){1});
    if (!l)
        return NULL;
    double s = 0.0;
    for (int64_t i = 0; i < y->numel; i++)
        s += (double)y->data[i] * r[i];
    l->data[0] = (float)s;
    if (cnas_graph_should_record(g, 1, &y)) {
        cnas_node *n = cnas_graph_record(g, "gradcheck_project", l, 1, &y, project_backward,
                                         sizeof(project_ctx));
        if (!n)
            return NULL;
        ((project_ctx *)n->ctx)->r = r;
    }
    return l;
}

static double eval_loss(cnas_gradcheck_fn f, void *ctx, cnas_graph *g, cnas_tensor *const *in,
                        const float *r, int64_t numel, cnas_status *st)
{
    cnas_graph_reset(g);
    cnas_graph_set_grad_enabled(g, false);
    cnas_tensor *y = f(g, in, ctx);
    cnas_graph_set_grad_enabled(g, true);
    if (!y || y->numel != numel) {
        *st = y ? CNAS_ERR_SHAPE : cnas_graph_status(g);
        return 0.0;
    }
    double s = 0.0;
    for (int64_t i = 0; i < numel; i++)
        s += (double)y->data[i] * r[i];
    return s;
}

cnas_status cnas_gradcheck(cnas_gradcheck_fn f, void *ctx, cnas_tensor *const *inputs, int n,
                           const cnas_gradcheck_opts *o, cnas_gradcheck_result *r, cnas_error *err)
{
    cnas_gradcheck_opts opt = o ? *o : (cnas_gradcheck_opts){0};
    if (opt.eps <= 0) opt.eps = 1e-2;
    if (opt.atol <= 0) opt.atol = 1e-3;
    if (opt.rtol <= 0) opt.rtol = 1e-2;
    memset(r, 0, sizeof *r);
    r->worst_input = -1;

    cnas_graph *g = cnas_graph_new(err);
    if (!g)
        return err ? err->code : CNAS_ERR_NOMEM;
    cnas_status st = CNAS_OK;
    float *proj = NULL;
    float **analytic = calloc((size_t)n, sizeof *analytic);
    if (!analytic) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, "gradcheck: out of memory");
        goto out;
    }

    /* Analytic pass. */
    for (int i = 0; i < n; i++)
        cnas_tensor_zero_grad(inputs[i]);
    cnas_tensor *y = f(g, inputs, ctx);
    if (!y) {
        st = cnas_error_set(err, cnas_graph_status(g), "gradcheck forward: %s",
                            cnas_graph_error(g)->msg);
        goto out;
    }
    int64_t numel = y->numel;
    proj = malloc((size_t)numel * sizeof *proj);
    if (!proj) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, "gradcheck: out of memory");
        goto out;
    }
    cnas_rng rng;
    cnas_rng_init(&rng, opt.seed, "gradcheck");
    cnas_rng_fill_uniform(&rng, proj, numel, -1.0f, 1.0f);
    cnas_tensor *l = project(g, y, proj);
    if (!l || cnas_backward(g, l) != CNAS_OK) {
        st = cnas_error_set(err, cnas_graph_status(g), "gradcheck backward: %s",
                            cnas_graph_error(g)->msg);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        cnas_tensor *t = inputs[i];
        if (!cnas_tensor_requires_grad(t))
            continue;
        analytic[i] = calloc((size_t)t->numel, sizeof(float));
        if (!analytic[i]) {
            st = cnas_error_set(err, CNAS_ERR_NOMEM, "gradcheck: out of memory");
            goto out;
        }
        if (t->grad)
            memcpy(analytic[i], t->grad, (size_t)t->numel * sizeof(float));
    }

    /* Numeric pass. */
    double worst_violation = -1.0;
    for (int i = 0; i < n; i++) {
        cnas_tensor *t = inputs[i];
        if (!analytic[i])
            continue;
        int64_t count = t->numel;
        if (opt.max_per_input > 0 && opt.max_per_input < count)
            count = opt.max_per_input;
        for (int64_t k = 0; k < count; k++) {
            int64_t j = count == t->numel ? k : (int64_t)(cnas_rng_u64(&rng) % (uint64_t)t->numel);
            float saved = t->data[j];
            t->data[j] = (float)(saved + opt.eps);
            double lp = eval_loss(f, ctx, g, inputs, proj, numel, &st);
            t->data[j] = (float)(saved - opt.eps);
            double lm = eval_loss(f, ctx, g, inputs, proj, numel, &st);
            double h = (double)(float)(saved + opt.eps) - (double)(float)(saved - opt.eps);
            t->data[j] = saved;
            if (st) {
                cnas_error_set(err, st, "gradcheck: forward failed while perturbing input %d", i);
                goto out;
            }
            double num = (lp - lm) / h;
            double ana = analytic[i][j];
            double diff = fabs(ana - num);
            double scale = fmax(fabs(ana), fabs(num));
            double rel = diff / fmax(scale, 1e-12);
            double allowed = opt.atol + opt.rtol * scale;
            r->checked++;
            if (diff > r->max_abs_err)
                r->max_abs_err = diff;
            if (scale > opt.atol && rel > r->max_rel_err)
                r->max_rel_err = rel;
            if (diff > allowed)
                r->failed++;
            if (diff - allowed > worst_violation) {
                worst_violation = diff - allowed;
                r->worst_input = i;
                r->worst_index = j;
                r->worst_analytic = ana;
                r->worst_numeric = num;
            }
        }
    }
out:
    if (analytic)
        for (int i = 0; i < n; i++)
            free(analytic[i]);
    free(analytic);
    free(proj);
    cnas_graph_free(g);
    return st;
}
