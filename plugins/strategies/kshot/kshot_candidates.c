/* The kshot strategy's candidates: drawn or enumerated at creation, their codes logged per
 * epoch, each evaluated after the search with its merged weights, all ranked. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kshot.h"

static cnas_status cost_of(kshot *s, const cnas_arch *a, int64_t *flops, int64_t *params,
                           cnas_error *err)
{
    *flops = *params = -1;
    return CNAS_VT_HAS(s->vt, cost) ? s->vt->cost(s->env->space, a, flops, params, err)
                                    : CNAS_OK;
}

cnas_status ks_make_candidates(kshot *s, int want, int64_t limit, int64_t max_flops, int n_points,
                               cnas_error *err)
{
    cnas_search_env *env = s->env;
    int64_t count = CNAS_VT_HAS(s->vt, enumerate_count) && CNAS_VT_HAS(s->vt, enumerate)
                        ? s->vt->enumerate_count(env->space) : -1;
    bool all = count > 0 && count <= limit;
    int room = s->room = all ? (int)count : want;
    s->cand = calloc((size_t)room, sizeof *s->cand);
    s->flops = malloc((size_t)room * sizeof *s->flops);
    s->params = malloc((size_t)room * sizeof *s->params);
    if (!s->cand || !s->flops || !s->params)
        return cnas_error_set(err, CNAS_ERR_NOMEM, KS ": out of memory");
    cnas_rng rng;
    cnas_rng_init(&rng, env->seed, "kshot.candidates");
    int64_t tries = all ? count : 100 * (int64_t)want;
    cnas_status rc = CNAS_OK;
    for (int64_t t = 0; t < tries && s->n_c < room && !rc; t++) {
        cnas_arch *a = s->cand[s->n_c] ? s->cand[s->n_c] : cnas_arch_new(n_points, err);
        if (!(s->cand[s->n_c] = a))
            return err->code;
        if ((rc = all ? s->vt->enumerate(env->space, t, a, err)
                      : ks_draw_path(s, &rng, a, err)) ||
            (rc = cost_of(s, a, &s->flops[s->n_c], &s->params[s->n_c], err)))
            break;
        bool keep = max_flops <= 0 || s->flops[s->n_c] <= max_flops;
        for (int j = 0; j < s->n_c && keep && !all; j++)
            keep = !cnas_arch_equal(s->cand[j], a);
        s->n_c += keep;
    }
    if (rc)
        return cnas_error_prefix(err, KS ": drawing candidates");
    if (s->n_c == 0)
        return cnas_error_set(err, CNAS_ERR_CONFIG, KS ": no candidate within max_flops = %lld "
                              "(%lld tried)", (long long)max_flops, (long long)tries);
    if (!all && s->n_c < want)
        env->log(env, CNAS_LOG_WARN, KS ": %d distinct candidates%s after %lld draws, of %d "
                 "asked", s->n_c, max_flops > 0 ? " within max_flops" : "", (long long)tries,
                 want);
    if (!(s->acc = malloc(2 * (size_t)s->n_c * sizeof *s->acc)))
        return cnas_error_set(err, CNAS_ERR_NOMEM, KS ": out of memory");
    s->loss = s->acc + s->n_c;
    for (int c = 0; c < 2 * s->n_c; c++)
        s->acc[c] = NAN;
    return CNAS_OK;
}

/* The dictionaries (env->space and K - 1 copies), their SGD, the evaluation network. */
/* ---- codes of the candidates -------------------------------------------------------------- */

/* Mean normalised entropy of the candidates' codes and their mean pairwise total
 * variation distance: how much the paths share (1, 0) or keep apart (0, 1). */
static cnas_status code_stats(kshot *s, float *codes, double *entropy, double *spread,
                              cnas_error *err)
{
    int K = s->K;
    double h = 0.0, d = 0.0;
    for (int c = 0; c < s->n_c; c++) {
        cnas_status rc = ks_code_values(s->g, s->model, s->cand[c], codes + (size_t)c * K, err);
        if (rc)
            return rc;
        for (int k = 0; k < K; k++) {
            double p = codes[(size_t)c * K + k];
            h -= p > 0.0 ? p * log(p) : 0.0;
        }
    }
    int64_t pairs = 0;
    for (int a = 0; a < s->n_c; a++)
        for (int b = a + 1; b < s->n_c; b++, pairs++) {
            double tv = 0.0;
            for (int k = 0; k < K; k++)
                tv += fabs((double)codes[(size_t)a * K + k] - codes[(size_t)b * K + k]);
            d += 0.5 * tv;
        }
    *entropy = h / ((double)s->n_c * log((double)K));
    *spread = pairs ? d / (double)pairs : 0.0;
    return CNAS_OK;
}

cnas_status ks_log_codes(kshot *s, int64_t epoch, cnas_error *err)
{
    if (s->K == 1)
        return CNAS_OK;
    float *codes = malloc((size_t)s->n_c * (size_t)s->K * sizeof *codes);
    if (!codes)
        return cnas_error_set(err, CNAS_ERR_NOMEM, KS ": out of memory");
    double h, d;
    cnas_status rc = code_stats(s, codes, &h, &d, err);
    cnas_text o = {0};
    if (!rc) {
        s->env->metric(s->env, "code_entropy", h);
        s->env->metric(s->env, "code_spread", d);
        s->env->log(s->env, CNAS_LOG_INFO, KS ": epoch %lld%s: codes of the %d candidates: mean "
                    "entropy %.3f of log K, mean distance %.3f", (long long)epoch,
                    epoch < s->warmup ? " (warm-up)" : "", s->n_c, h, d);
        cnas_text_put(&o, "{\"epoch\": %lld, \"warmup\": %s, \"entropy\": ", (long long)epoch,
                      epoch < s->warmup ? "true" : "false");
        cnas_text_json_num(&o, h);
        cnas_text_put(&o, ", \"spread\": ");
        cnas_text_json_num(&o, d);
        cnas_text_put(&o, ", \"codes\": [");
        for (int c = 0; c < s->n_c; c++) {
            cnas_text_put(&o, "%s[", c ? ", " : "");
            for (int k = 0; k < s->K; k++)
                cnas_text_put(&o, "%s%.4f", k ? ", " : "", codes[(size_t)c * s->K + k]);
            cnas_text_put(&o, "]");
        }
        cnas_text_put(&o, "]}\n");
        rc = o.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, KS ": out of memory")
                   : s->env->append(s->env, "codes.jsonl", o.s, err);
    }
    cnas_text_free(&o);
    free(codes);
    return rc;
}

/* ---- the final evaluation ------------------------------------------------------------------ */

/* Candidate c's merged weights into the evaluation network, with the supernet's
 * batch-norm buffers (which eval_bn = recalibrate re-estimates). */
static cnas_status load_candidate(kshot *s, int c, float *lambda, cnas_error *err)
{
    cnas_status rc = ks_code_values(s->g, s->model, s->cand[c], lambda, err);
    if (rc || s->K == 1)
        return rc;
    ks_merge_into(s->model, lambda, s->scratch_w);
    for (int i = 0; i < s->n_named; i++)
        if (s->buf_src[i].role == CNAS_ROLE_BUFFER &&
            (rc = cnas_tensor_copy(s->buf_dst[i].tensor, s->buf_src[i].tensor, err)))
            return rc;
    return CNAS_OK;
}

typedef struct ranked {
    double acc, loss;
    int i;
} ranked;

/* Best accuracy first (NaN last), then lower loss, then candidate order. */
static int by_accuracy(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    double x = isnan(a->acc) ? -1 : a->acc, y = isnan(b->acc) ? -1 : b->acc;
    if (x != y)
        return x > y ? -1 : 1;
    if (a->loss != b->loss && !isnan(a->loss) && !isnan(b->loss))
        return a->loss < b->loss ? -1 : 1;
    return a->i - b->i;
}

static cnas_status report(kshot *s, cnas_error *err)
{
    cnas_search_env *env = s->env;
    ranked *order = malloc((size_t)s->n_c * sizeof *order);
    float *codes = malloc((size_t)s->n_c * (size_t)s->K * sizeof *codes);
    if (!order || !codes) {
        free(order);
        free(codes);
        return cnas_error_set(err, CNAS_ERR_NOMEM, KS ": out of memory");
    }
    cnas_status rc = CNAS_OK;
    for (int c = 0; c < s->n_c; c++)
        order[c] = (ranked){s->acc[c], s->loss[c], c};
    qsort(order, (size_t)s->n_c, sizeof *order, by_accuracy);
    cnas_text o = {0};
    cnas_text_put(&o, "rank,index,arch,val_acc,val_loss,flops,params");
    for (int k = 0; k < s->K; k++)
        cnas_text_put(&o, ",lambda%d", k);
    cnas_text_put(&o, "\n");
    for (int r = 0; r < s->n_c && !rc; r++) {
        int c = order[r].i;
        cnas_result res = {sizeof res, r, s->cand[c], s->acc[c], s->acc[c], s->flops[c],
                           s->params[c]};
        char text[8192];
        float *l = codes + (size_t)c * s->K;
        if ((rc = env->report_result(env, &res, err)) ||
            (rc = s->vt->format(env->space, s->cand[c], text, sizeof text, err)) ||
            (rc = ks_code_values(s->g, s->model, s->cand[c], l, err)))
            break;
        cnas_text_put(&o, "%d,%d,", r, c);
        cnas_text_json_string(&o, text); /* a JSON string is a valid quoted CSV field here */
        cnas_text_put(&o, ",%.6f,%.6f,%lld,%lld", s->acc[c], s->loss[c], (long long)s->flops[c],
                      (long long)s->params[c]);
        for (int k = 0; k < s->K; k++)
            cnas_text_put(&o, ",%.6f", l[k]);
        cnas_text_put(&o, "\n");
    }
    if (!rc)
        rc = o.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, KS ": out of memory")
                   : env->append(env, "candidates.csv", o.s, err);
    if (!rc && s->n_c) {
        char text[8192];
        if (!s->vt->format(env->space, s->cand[order[0].i], text, sizeof text, err))
            env->log(env, CNAS_LOG_INFO, KS ": best of %d candidates %s, val acc %.4f with its "
                     "merged weights; all in ranking.tsv and candidates.csv", s->n_c, text,
                     order[0].acc);
    }
    cnas_text_free(&o);
    free(order);
    free(codes);
    return rc;
}

cnas_status ks_evaluate_candidates(kshot *s, cnas_error *err)
{
    cnas_search_env *env = s->env;
    cnas_status rc;
    /* A checkpoint point after every candidate: a resumed run goes on with the next. */
    for (int c = s->done; c < s->n_c; c++) {
        float lambda[KS_MAX_K];
        char text[8192];
        s->eval.arch = s->cand[c];
        if ((rc = load_candidate(s, c, lambda, err)) ||
            (rc = env->evaluate_arch(env, &s->eval, &s->loss[c], &s->acc[c], err)) ||
            (rc = s->vt->format(env->space, s->cand[c], text, sizeof text, err)))
            return cnas_error_prefix(err, KS ": candidate %d", c);
        env->log(env, CNAS_LOG_INFO, KS ": candidate %d/%d val acc %.4f loss %.4f %s", c + 1,
                 s->n_c, s->acc[c], s->loss[c], text);
        s->done = c + 1;
        if ((rc = env->checkpoint_point(env, s->loop.epoch, 0, false, err)))
            return rc;
    }
    return report(s, err);
}
