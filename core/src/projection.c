/* Perturbation-based architecture selection (projection.h; docs/selection.md), after
 * the reference code of Wang et al. (ICLR 2021): sota/cnn/projection.py and
 * model_search_darts_proj.py. */
#include <cnas/projection.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/graph.h>
#include <cnas/kit.h>
#include <cnas/ops.h>
#include <cnas/rng.h>

#define MAX_NODES 64

/* One group of α (DARTS: the normal or the reduce cell). Rows are edges. */
typedef struct pgroup {
    int rows, k;
    float *mul, *add;             /* projected = transform(α)·mul + add, [rows, k] */
    int32_t *decided;             /* per row: the kept candidate, or -1 */
    int n_nodes;                  /* nodes to prune: more than keep_inputs inputs */
    int node_id[MAX_NODES];
    uint64_t node_rows[MAX_NODES]; /* bit r: row r enters the node */
    int32_t node_done[MAX_NODES];
} pgroup;

/* The decision in progress: slot, group, and how far its evaluations have got. */
typedef struct pstate {
    int64_t slot;                 /* the slot being decided; slots < slot are done */
    int32_t group;                /* the group being decided in this slot */
    int32_t target;               /* its row (op decision) or node index (topology), -1: none yet */
    int32_t next;                 /* the next candidate / row to evaluate */
    int32_t best;                 /* the best so far, -1: none */
    double best_crit;
    int64_t remaining;            /* topology: rows still entering the node (bit mask) */
} pstate;


struct cnas_proj {
    cnas_search_env *env;
    cnas_archparams *ap;
    cnas_proj_settings set;
    int n_groups;
    pgroup *g;
    int64_t slots;
    cnas_rng rng;
    pstate st;
    int decisions;
    int header;                   /* projection.csv has its header */
    /* forwards */
    cnas_tensor **wbuf;
    cnas_graph *eval_g;
    /* derive */
    float *store;
    const float **probs;
};

static void pgroups_free(cnas_proj *p)
{
    for (int i = 0; p->g && i < p->n_groups; i++) {
        free(p->g[i].mul);
        free(p->g[i].add);
        free(p->g[i].decided);
    }
    free(p->g);
}

void cnas_proj_free(cnas_proj *p)
{
    if (!p)
        return;
    pgroups_free(p);
    free(p->wbuf);
    free(p->store);
    free(p->probs);
    free(p);
}

/* Nodes of group gi with more than keep inputs, from the choice points' edges. */
static cnas_status find_nodes(cnas_proj *p, int gi, const cnas_choice_point *pts, int np,
                              cnas_error *err)
{
    pgroup *G = &p->g[gi];
    int count[MAX_NODES] = {0};
    uint64_t rows[MAX_NODES] = {0};
    bool seen_row[64] = {false};
    for (int q = 0; q < np; q++) {
        if (cnas_archparams_group_of(p->ap, q) != gi)
            continue;
        int r = cnas_archparams_row_of(p->ap, q), to = pts[q].node_to;
        if (to < 0 || r >= 64 || seen_row[r])
            continue;
        if (to >= MAX_NODES)
            return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "projection: node %d of %s is beyond "
                                  "the %d nodes topology selection handles", to,
                                  cnas_archparams_key(p->ap, gi), MAX_NODES);
        seen_row[r] = true;
        count[to]++;
        rows[to] |= 1ull << r;
    }
    for (int n = 0; n < MAX_NODES; n++)
        if (count[n] > p->set.keep_inputs) {
            G->node_id[G->n_nodes] = n;
            G->node_rows[G->n_nodes] = rows[n];
            G->n_nodes++;
        }
    return CNAS_OK;
}

cnas_proj *cnas_proj_new(cnas_archparams *ap, cnas_search_env *env, const cnas_proj_settings *s,
                         cnas_error *err)
{
    if (!s || s->size < sizeof *s || s->interval < 1 || s->keep_inputs < 0) {
        cnas_error_set(err, CNAS_ERR_INVALID, "projection: interval must be at least 1 epoch and "
                       "keep_inputs at least 0 (got %d and %d)", s ? s->interval : 0,
                       s ? s->keep_inputs : 0);
        return NULL;
    }
    cnas_proj *p = calloc(1, sizeof *p);
    if (!p)
        goto oom;
    p->env = env;
    p->ap = ap;
    p->set = *s;
    p->n_groups = cnas_archparams_groups(ap);
    p->g = calloc((size_t)(p->n_groups ? p->n_groups : 1), sizeof *p->g);
    p->wbuf = calloc((size_t)(p->n_groups ? p->n_groups : 1), sizeof *p->wbuf);
    if (!p->g || !p->wbuf)
        goto oom;
    cnas_tensor *const *alpha = cnas_archparams_tensors(ap);
    size_t total = 0;
    for (int gi = 0; gi < p->n_groups; gi++) {
        pgroup *G = &p->g[gi];
        G->rows = (int)alpha[gi]->shape[0];
        G->k = (int)alpha[gi]->shape[1];
        size_t n = (size_t)G->rows * (size_t)G->k;
        total += n;
        G->mul = malloc(n * sizeof *G->mul);
        G->add = calloc(n, sizeof *G->add);
        G->decided = malloc((size_t)G->rows * sizeof *G->decided);
        if (!G->mul || !G->add || !G->decided)
            goto oom;
        for (size_t i = 0; i < n; i++)
            G->mul[i] = 1.0f;
        for (int r = 0; r < G->rows; r++)
            G->decided[r] = -1;
        if (s->keep_inputs > 0 && G->rows > 64) {
            cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "projection: %s has %d edges; topology "
                           "selection handles at most 64 per group", cnas_archparams_key(ap, gi),
                           G->rows);
            cnas_proj_free(p);
            return NULL;
        }
    }
    const cnas_choice_point *pts = NULL;
    int np = env->space_vt->choice_points(env->space, &pts);
    if (np != cnas_archparams_points(ap)) {
        cnas_error_set(err, CNAS_ERR_INVALID, "projection: the architecture parameters were not "
                       "built over the search's supernet (%d points, the space has %d)",
                       cnas_archparams_points(ap), np);
        cnas_proj_free(p);
        return NULL;
    }
    for (int gi = 0; gi < p->n_groups && s->keep_inputs > 0; gi++)
        if (find_nodes(p, gi, pts, np, err)) {
            cnas_proj_free(p);
            return NULL;
        }
    for (int gi = 0; gi < p->n_groups; gi++) {
        int64_t need = p->g[gi].rows + p->g[gi].n_nodes;
        p->slots = need > p->slots ? need : p->slots;
    }
    p->store = malloc((total ? total : 1) * sizeof *p->store);
    p->probs = calloc((size_t)(np > 0 ? np : 1), sizeof *p->probs);
    if (!p->store || !p->probs)
        goto oom;
    cnas_rng_init(&p->rng, env->seed, "projection");
    p->st = (pstate){0, 0, -1, 0, -1, 0.0, 0};
    return p;
oom:
    cnas_proj_free(p);
    cnas_error_set(err, CNAS_ERR_NOMEM, "projection: out of memory");
    return NULL;
}

int64_t cnas_proj_epochs(const cnas_proj *p)
{
    return p->slots > 0 ? (int64_t)p->set.interval * (p->slots - 1) + 1 : 0;
}

int cnas_proj_decisions(const cnas_proj *p) { return p->decisions; }

bool cnas_proj_finished(const cnas_proj *p) { return p->st.slot >= p->slots; }

/* ---- projected weights ------------------------------------------------------------------- */

static cnas_tensor *project_group(cnas_proj *p, cnas_graph *g, int gi, cnas_tensor *w)
{
    pgroup *G = &p->g[gi];
    size_t n = (size_t)G->rows * (size_t)G->k;
    cnas_tensor *m = cnas_graph_tensor_like(g, w), *a = cnas_graph_tensor_like(g, w);
    if (!m || !a)
        return NULL;
    memcpy(m->data, G->mul, n * sizeof *m->data);
    memcpy(a->data, G->add, n * sizeof *a->data);
    return cnas_add(g, cnas_mul(g, w, m), a);
}

static bool group_untouched(const pgroup *G)
{
    size_t n = (size_t)G->rows * (size_t)G->k;
    for (size_t i = 0; i < n; i++)
        if (G->mul[i] != 1.0f || G->add[i] != 0.0f)
            return false;
    return true;
}

const cnas_mix_weight *cnas_proj_mix(cnas_proj *p, cnas_graph *g)
{
    if (cnas_archparams_transform(p->ap, g, p->set.transform, NULL, p->wbuf))
        return NULL;
    for (int gi = 0; gi < p->n_groups; gi++)
        if (!group_untouched(&p->g[gi]) && !(p->wbuf[gi] = project_group(p, g, gi, p->wbuf[gi])))
            return NULL;
    return cnas_archparams_mix_from(p->ap, p->wbuf);
}

cnas_status cnas_proj_derive(cnas_proj *p, cnas_arch *out, cnas_error *err)
{
    const cnas_space_vtable *vt = p->env->space_vt;
    if (!CNAS_VT_HAS(vt, derive))
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "projection: the space has no "
                              "derivation rule");
    const float *const *plain = cnas_archparams_probs(p->ap, p->set.transform, err);
    if (!plain)
        return err->code;
    int np = cnas_archparams_points(p->ap);
    size_t off = 0;
    for (int gi = 0; gi < p->n_groups; gi++) {
        pgroup *G = &p->g[gi];
        for (int r = 0; r < G->rows; r++) {
            int q = -1; /* a point of this row, for its plain probabilities */
            for (int i = 0; i < np && q < 0; i++)
                if (cnas_archparams_group_of(p->ap, i) == gi && cnas_archparams_row_of(p->ap, i) == r)
                    q = i;
            for (int j = 0; j < G->k; j++) {
                size_t at = (size_t)r * (size_t)G->k + (size_t)j;
                p->store[off + at] = (q >= 0 ? plain[q][j] : 0.0f) * G->mul[at] + G->add[at];
            }
        }
        for (int i = 0; i < np; i++)
            if (cnas_archparams_group_of(p->ap, i) == gi)
                p->probs[i] = p->store + off + (size_t)cnas_archparams_row_of(p->ap, i) * (size_t)G->k;
        off += (size_t)G->rows * (size_t)G->k;
    }
    return vt->derive(p->env->space, p->probs, out, err);
}

/* ---- decisions ---------------------------------------------------------------------------- */

typedef struct eval_ctx {
    cnas_proj *p;
    cnas_proj_logits_fn fn;
    void *ctx;
} eval_ctx;

static cnas_tensor *eval_logits(cnas_graph *g, cnas_tensor *x, void *vctx)
{
    eval_ctx *e = vctx;
    const cnas_mix_weight *mix = cnas_proj_mix(e->p, g);
    return mix ? e->fn(g, x, mix, e->ctx) : NULL;
}

/* Evaluate the supernet with row r of group gi masked: candidate j zeroed (j >= 0) or
 * the whole row (j < 0). The masks are restored before returning. */
static cnas_status evaluate_masked(cnas_proj *p, int gi, int r, int j, cnas_proj_logits_fn fn,
                                   void *ctx, double *loss, double *acc, cnas_error *err)
{
    pgroup *G = &p->g[gi];
    size_t k = (size_t)G->k, base = (size_t)r * k;
    float save_m[256], save_a[256];
    if (k > 256)
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "projection: %zu candidates per edge; "
                              "at most 256", k);
    memcpy(save_m, G->mul + base, k * sizeof *save_m);
    memcpy(save_a, G->add + base, k * sizeof *save_a);
    if (j >= 0) {
        G->mul[base + (size_t)j] = 0.0f;
        G->add[base + (size_t)j] = 0.0f;
    } else {
        memset(G->mul + base, 0, k * sizeof *G->mul);
        memset(G->add + base, 0, k * sizeof *G->add);
    }
    eval_ctx e = {p, fn, ctx};
    cnas_status st = p->env->evaluate(p->env, CNAS_STREAM_VAL, eval_logits, &e, loss, acc, err);
    memcpy(G->mul + base, save_m, k * sizeof *save_m);
    memcpy(G->add + base, save_a, k * sizeof *save_a);
    return st;
}

static int popcount64(uint64_t v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

static cnas_status log_eval(cnas_proj *p, int64_t epoch, const char *kind, int gi, int node,
                            int r, const char *cand, double loss, double acc, cnas_error *err)
{
    char line[512];
    if (!p->header) {
        p->header = 1;
        cnas_status st = p->env->append(p->env, "projection.csv",
                                        "slot,epoch,kind,group,node,edge,removed,val_loss,val_acc,"
                                        "decision\n", err);
        if (st)
            return st;
    }
    snprintf(line, sizeof line, "%lld,%lld,%s,%s,%d,%d,%s,%.6f,%.6f,\n", (long long)p->st.slot,
             (long long)epoch, kind, cnas_archparams_key(p->ap, gi), node, r, cand, loss, acc);
    return p->env->append(p->env, "projection.csv", line, err);
}

static cnas_status log_decision(cnas_proj *p, int64_t epoch, const char *kind, int gi, int node,
                                int r, const char *what, cnas_error *err)
{
    char line[512];
    snprintf(line, sizeof line, "%lld,%lld,%s,%s,%d,%d,,,,%s\n", (long long)p->st.slot,
             (long long)epoch, kind, cnas_archparams_key(p->ap, gi), node, r, what);
    p->env->log(p->env, CNAS_LOG_INFO, "projection: slot %lld, %s: %s %s", (long long)p->st.slot,
                cnas_archparams_key(p->ap, gi), kind, what);
    return p->env->append(p->env, "projection.csv", line, err);
}

/* Is crit better than the best so far? Operations: the removal that hurts most, the
 * first on ties; inputs: the removal that hurts least, the last on ties (the reference's
 * comparisons). */
static bool better(const cnas_proj *p, bool topology, double crit)
{
    if (p->st.best < 0)
        return true;
    bool acc = p->set.criterion == CNAS_PROJ_ACC;
    if (!topology)
        return acc ? crit < p->st.best_crit : crit > p->st.best_crit;
    return acc ? crit >= p->st.best_crit : crit <= p->st.best_crit;
}

static const char *cand_name(const cnas_proj *p, int gi, int j, char *buf, size_t n)
{
    const cnas_choice_point *pts = NULL;
    int np = p->env->space_vt->choice_points(p->env->space, &pts);
    for (int i = 0; i < np; i++)
        if (cnas_archparams_group_of(p->ap, i) == gi && j < pts[i].n_candidates)
            return pts[i].candidates[j];
    snprintf(buf, n, "%d", j);
    return buf;
}

static cnas_status decide_op(cnas_proj *p, int gi, int64_t epoch, cnas_proj_logits_fn fn,
                             void *ctx, cnas_error *err)
{
    pgroup *G = &p->g[gi];
    pstate *s = &p->st;
    char buf[32];
    if (s->target < 0) { /* a random undecided edge, as the reference's edge_decision = random */
        int und = 0;
        for (int r = 0; r < G->rows; r++)
            und += G->decided[r] < 0;
        if (und == 0)
            return CNAS_OK;
        int pick = (int)cnas_rng_below(&p->rng, (uint32_t)und);
        for (int r = 0; r < G->rows; r++)
            if (G->decided[r] < 0 && pick-- == 0) {
                s->target = r;
                break;
            }
        s->next = 0;
        s->best = -1;
    }
    int r = s->target;
    cnas_status st;
    while (s->next < G->k) {
        double loss, acc;
        int j = s->next;
        if ((st = evaluate_masked(p, gi, r, j, fn, ctx, &loss, &acc, err)) ||
            (st = log_eval(p, epoch, "op", gi, -1, r, cand_name(p, gi, j, buf, sizeof buf), loss,
                           acc, err)))
            return st;
        double crit = p->set.criterion == CNAS_PROJ_ACC ? acc : loss;
        if (better(p, false, crit)) {
            s->best = j;
            s->best_crit = crit;
        }
        s->next++;
        if ((st = p->env->checkpoint_point(p->env, epoch, 0, false, err)))
            return st;
    }
    size_t base = (size_t)r * (size_t)G->k;
    for (int j = 0; j < G->k; j++) {
        G->mul[base + (size_t)j] = 0.0f;
        G->add[base + (size_t)j] = j == s->best ? 1.0f : 0.0f;
    }
    G->decided[r] = s->best;
    p->decisions++;
    char what[96];
    snprintf(what, sizeof what, "edge %d keeps %s", r, cand_name(p, gi, s->best, buf, sizeof buf));
    return log_decision(p, epoch, "op", gi, -1, r, what, err);
}

static cnas_status decide_node(cnas_proj *p, int gi, int64_t epoch, cnas_proj_logits_fn fn,
                               void *ctx, cnas_error *err)
{
    pgroup *G = &p->g[gi];
    pstate *s = &p->st;
    if (s->target < 0) {
        int left = 0;
        for (int n = 0; n < G->n_nodes; n++)
            left += !G->node_done[n];
        if (left == 0)
            return CNAS_OK;
        int pick = (int)cnas_rng_below(&p->rng, (uint32_t)left);
        for (int n = 0; n < G->n_nodes; n++)
            if (!G->node_done[n] && pick-- == 0) {
                s->target = n;
                break;
            }
        s->remaining = (int64_t)G->node_rows[s->target];
        s->next = 0;
        s->best = -1;
    }
    int n = s->target;
    cnas_status st;
    /* While more than keep_inputs remain: evaluate each remaining input removed alone
     * (the inputs dropped earlier in this node stay in the supernet until the node is
     * decided, as in the reference) and drop the one whose removal hurts least. */
    while (popcount64((uint64_t)s->remaining) > p->set.keep_inputs) {
        while (s->next < G->rows) {
            int r = s->next;
            if ((uint64_t)s->remaining >> r & 1u) {
                double loss, acc;
                if ((st = evaluate_masked(p, gi, r, -1, fn, ctx, &loss, &acc, err)) ||
                    (st = log_eval(p, epoch, "input", gi, G->node_id[n], r, "all", loss, acc, err)))
                    return st;
                double crit = p->set.criterion == CNAS_PROJ_ACC ? acc : loss;
                if (better(p, true, crit)) {
                    s->best = r;
                    s->best_crit = crit;
                }
            }
            s->next++;
            if ((uint64_t)s->remaining >> r & 1u)
                if ((st = p->env->checkpoint_point(p->env, epoch, 0, false, err)))
                    return st;
        }
        s->remaining &= ~(int64_t)(1ull << s->best);
        s->next = 0;
        s->best = -1;
    }
    char what[160];
    int len = snprintf(what, sizeof what, "node %d keeps edges", G->node_id[n]);
    for (int r = 0; r < G->rows; r++) {
        if ((uint64_t)G->node_rows[n] >> r & 1u && !((uint64_t)s->remaining >> r & 1u)) {
            size_t base = (size_t)r * (size_t)G->k;
            memset(G->mul + base, 0, (size_t)G->k * sizeof *G->mul);
            memset(G->add + base, 0, (size_t)G->k * sizeof *G->add);
        }
        if ((uint64_t)s->remaining >> r & 1u && len < (int)sizeof what - 8)
            len += snprintf(what + len, sizeof what - (size_t)len, " %d", r);
    }
    G->node_done[n] = 1;
    p->decisions++;
    return log_decision(p, epoch, "input", gi, G->node_id[n], -1, what, err);
}

cnas_status cnas_proj_begin_epoch(cnas_proj *p, int64_t t, int64_t epoch, cnas_proj_logits_fn fn,
                                  void *ctx, cnas_error *err)
{
    int64_t last = cnas_proj_epochs(p) - 1;
    if (t % p->set.interval != 0 && t != last)
        return CNAS_OK;
    int64_t slot = t == last ? p->slots - 1 : t / p->set.interval;
    if (slot < p->st.slot || slot >= p->slots)
        return CNAS_OK; /* decided before a resume, or past the last slot */
    cnas_status st;
    for (; p->st.group < p->n_groups; p->st.group++) {
        pgroup *G = &p->g[p->st.group];
        bool op_slot = slot < G->rows;
        st = op_slot ? decide_op(p, p->st.group, epoch, fn, ctx, err)
                     : decide_node(p, p->st.group, epoch, fn, ctx, err);
        if (st)
            return st;
        p->st.target = -1;
        p->st.next = 0;
        p->st.best = -1;
    }
    p->st = (pstate){slot + 1, 0, -1, 0, -1, 0.0, 0};
    return CNAS_OK;
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

cnas_status cnas_proj_io(cnas_proj *p, cnas_ckio *io, const char *prefix)
{
    char name[200];
#define NAME(s) (snprintf(name, sizeof name, "%s.proj." s, prefix), name)
    int32_t st32[6] = {p->st.group, p->st.target, p->st.next, p->st.best, p->decisions, p->header};
    cnas_ckio_i64(io, NAME("slot"), &p->st.slot);
    cnas_ckio_blob(io, NAME("state"), st32, sizeof st32);
    cnas_ckio_f64(io, NAME("best_crit"), &p->st.best_crit);
    cnas_ckio_i64(io, NAME("remaining"), &p->st.remaining);
    cnas_ckio_rng(io, NAME("rng"), &p->rng);
    p->st.group = st32[0];
    p->st.target = st32[1];
    p->st.next = st32[2];
    p->st.best = st32[3];
    p->decisions = st32[4];
    p->header = st32[5];
    for (int gi = 0; gi < p->n_groups; gi++) {
        pgroup *G = &p->g[gi];
        size_t n = (size_t)G->rows * (size_t)G->k;
        snprintf(name, sizeof name, "%s.proj.%d.mul", prefix, gi);
        cnas_ckio_blob(io, name, G->mul, n * sizeof *G->mul);
        snprintf(name, sizeof name, "%s.proj.%d.add", prefix, gi);
        cnas_ckio_blob(io, name, G->add, n * sizeof *G->add);
        snprintf(name, sizeof name, "%s.proj.%d.decided", prefix, gi);
        cnas_ckio_blob(io, name, G->decided, (size_t)G->rows * sizeof *G->decided);
        snprintf(name, sizeof name, "%s.proj.%d.nodes_done", prefix, gi);
        cnas_status st = cnas_ckio_blob(io, name, G->node_done, sizeof G->node_done);
        if (st)
            return st;
    }
#undef NAME
    return CNAS_OK;
}
