/* DGConv: the gated Kronecker channel mask, its regulariser and the group report
 * (cnas/dgconv.h; docs/dgconv.md). */
#include <cnas/dgconv.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/kit.h>
#include <cnas/ops.h>

int cnas_dgconv_log2(int64_t c)
{
    for (int k = 1; k <= CNAS_DGCONV_MAX_K; k++)
        if (c == (int64_t)1 << k)
            return k;
    return -1;
}

int cnas_dgconv_on(const cnas_tensor *gates)
{
    int on = 0;
    for (int64_t k = 0; k < gates->numel; k++)
        on += cnas_dgconv_bit(gates->data[k]);
    return on;
}

int64_t cnas_dgconv_groups(const cnas_tensor *gates)
{
    return (int64_t)1 << (gates->numel - cnas_dgconv_on(gates));
}

/* Factor m of the product acts on bit K-1-m of a channel index (U_0 outermost). */
static inline int64_t factor_bit(int K, int m)
{
    return (int64_t)1 << (K - 1 - m);
}

void cnas_dgconv_mask(const float *ghat, int K, float *U)
{
    int64_t C = (int64_t)1 << K;
    for (int64_t i = 0; i < C; i++)
        for (int64_t j = 0; j < C; j++) {
            float u = 1.0f;
            for (int m = 0; m < K; m++) {
                int64_t b = factor_bit(K, m);
                /* U_m[a, b] = 1 on the diagonal, ĝ_m off it */
                if ((i & b) != (j & b))
                    u *= ghat[m];
            }
            U[i * C + j] = u;
        }
}

/* The bits of the gates that are off: i and j must agree on them. */
static int64_t off_bits(const float *g, int K)
{
    int64_t off = 0;
    for (int m = 0; m < K; m++)
        if (!cnas_dgconv_bit(g[m]))
            off |= factor_bit(K, m);
    return off;
}

static bool check_gates(cnas_graph *g, const char *op, const cnas_tensor *gates, int *K)
{
    *K = (int)gates->numel;
    if (gates->ndim != 1 || *K < 1 || *K > CNAS_DGCONV_MAX_K) {
        char s[CNAS_SHAPE_STR_MAX];
        cnas_graph_fail(g, CNAS_ERR_SHAPE, "%s: gates %s, expected [K] with 1 <= K <= %d", op,
                        cnas_shape_str(gates, s, sizeof s), CNAS_DGCONV_MAX_K);
        return false;
    }
    return true;
}

/* ---- W ⊙ U ------------------------------------------------------------------------ */

typedef struct weight_ctx {
    int K;
    int64_t off;    /* off_bits at the forward's binarised gates */
} weight_ctx;

static void weight_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *w = n->in[0], *gates = n->in[1];
    const weight_ctx *c = n->ctx;
    const float *gy = n->out->grad;
    int64_t C = w->shape[0], kk = w->numel / (C * C);
    if (cnas_tensor_requires_grad(w)) {
        float *gw = cnas_graph_grad(g, w);
        if (!gw)
            return;
        for (int64_t i = 0; i < C; i++)
            for (int64_t j = 0; j < C; j++)
                if (!((i ^ j) & c->off)) {
                    int64_t o = (i * C + j) * kk;
                    for (int64_t r = 0; r < kk; r++)
                        gw[o + r] += gy[o + r];
                }
    }
    if (cnas_tensor_requires_grad(gates)) {
        float *gg = cnas_graph_grad(g, gates);
        if (!gg)
            return;
        /* ∂U_ij/∂ĝ_k = 1 when i, j differ on k's bit and agree on every other off bit:
         * for an off gate, the pairs that differ on its bit alone among the off bits;
         * for an on gate, the pairs inside the mask that differ on its bit. */
        double acc[CNAS_DGCONV_MAX_K] = {0};
        int bit_gate[64] = {0};
        for (int m = 0; m < c->K; m++)
            bit_gate[c->K - 1 - m] = m;
        for (int64_t i = 0; i < C; i++)
            for (int64_t j = 0; j < C; j++) {
                int64_t x = i ^ j, d = x & c->off;
                if (d & (d - 1))
                    continue; /* two off bits differ: no single gate reaches the pair */
                int64_t o = (i * C + j) * kk;
                double s = 0.0;
                for (int64_t r = 0; r < kk; r++)
                    s += (double)gy[o + r] * (double)w->data[o + r];
                if (d) {
                    acc[bit_gate[__builtin_ctzll((unsigned long long)d)]] += s;
                } else {
                    for (int64_t on = x; on; on &= on - 1)
                        acc[bit_gate[__builtin_ctzll((unsigned long long)on)]] += s;
                }
            }
        for (int m = 0; m < c->K; m++)
            gg[m] += (float)acc[m];
    }
}

cnas_tensor *cnas_dgconv_weight(cnas_graph *g, cnas_tensor *w, cnas_tensor *gates)
{
    if (cnas_graph_bad_inputs(g, 2, (cnas_tensor *[]){w, gates}))
        return NULL;
    w = cnas_graph_param(g, w);
    gates = cnas_graph_param(g, gates);
    int K;
    if (!check_gates(g, "dgconv_weight", gates, &K))
        return NULL;
    int64_t C = (int64_t)1 << K;
    if (w->ndim != 4 || w->shape[0] != C || w->shape[1] != C) {
        char s[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "dgconv_weight: weight %s with %d gates, "
                               "expected [%lld, %lld, kh, kw] (C = 2^K)",
                               cnas_shape_str(w, s, sizeof s), K, (long long)C, (long long)C);
    }
    cnas_tensor *y = cnas_graph_tensor_like(g, w);
    if (!y)
        return NULL;
    int64_t off = off_bits(gates->data, K), kk = w->numel / (C * C);
    for (int64_t i = 0; i < C; i++)
        for (int64_t j = 0; j < C; j++) {
            int64_t o = (i * C + j) * kk;
            bool on = !((i ^ j) & off);
            for (int64_t r = 0; r < kk; r++)
                y->data[o + r] = on ? w->data[o + r] : 0.0f;
        }
    cnas_tensor *in[2] = {w, gates};
    if (cnas_graph_should_record(g, 2, in)) {
        cnas_node *n = cnas_graph_record(g, "dgconv_weight", y, 2, in, weight_backward,
                                         sizeof(weight_ctx));
        if (!n)
            return NULL;
        *(weight_ctx *)n->ctx = (weight_ctx){K, off};
    }
    return y;
}

/* ---- nnz(U) ------------------------------------------------------------------------- */

static void nnz_backward(cnas_graph *g, cnas_node *n)
{
    cnas_tensor *gates = n->in[0];
    float *gg = cnas_graph_grad(g, gates);
    if (!gg)
        return;
    /* d 2^(K+Σĝ) / dĝ_k = ln 2 · 2^(K+Σĝ), passed straight through to every gate */
    float d = n->out->grad[0] * 0.69314718055994530942f * n->out->data[0];
    for (int64_t k = 0; k < gates->numel; k++)
        gg[k] += d;
}

cnas_tensor *cnas_dgconv_nnz(cnas_graph *g, cnas_tensor *gates)
{
    if (cnas_graph_bad_inputs(g, 1, &gates))
        return NULL;
    gates = cnas_graph_param(g, gates);
    int K;
    if (!check_gates(g, "dgconv_nnz", gates, &K))
        return NULL;
    cnas_tensor *y = cnas_graph_tensor(g, CNAS_SHAPE(1));
    if (!y)
        return NULL;
    y->data[0] = ldexpf(1.0f, K + cnas_dgconv_on(gates));
    if (cnas_graph_should_record(g, 1, &gates) &&
        !cnas_graph_record(g, "dgconv_nnz", y, 1, &gates, nnz_backward, 0))
        return NULL;
    return y;
}

/* ---- finding gates in a space, the regulariser, the report ------------------------------- */

static bool ends_with_gate(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s), m = strlen(CNAS_DGCONV_GATE_NAME);
    return n >= m && strcmp(s + n - m, CNAS_DGCONV_GATE_NAME) == 0 &&
           (n == m || s[n - m - 1] == '.');
}

bool cnas_dgconv_is_gate(const char *name, const cnas_tensor *t)
{
    return t && t->ndim == 1 && t->numel >= 1 && t->numel <= CNAS_DGCONV_MAX_K &&
           (ends_with_gate(name) || ends_with_gate(t->name));
}

cnas_status cnas_dgconv_find(const cnas_space_vtable *vt, void *space, cnas_named_tensor **out,
                             int *n, cnas_error *err)
{
    *out = NULL;
    *n = 0;
    int total = vt->tensors(space, NULL, 0);
    if (total <= 0)
        return CNAS_OK;
    cnas_named_tensor *all = malloc((size_t)total * sizeof *all);
    if (!all)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "dgconv: out of memory");
    total = vt->tensors(space, all, total);
    int k = 0;
    size_t names = 0;
    for (int i = 0; i < total; i++)
        if (all[i].role == CNAS_ROLE_PARAM && cnas_dgconv_is_gate(all[i].name, all[i].tensor)) {
            names += strlen(all[i].name ? all[i].name : all[i].tensor->name) + 1;
            all[k++] = all[i];
        }
    if (k == 0) {
        free(all);
        return CNAS_OK;
    }
    /* One block: the list, then copies of the names (the space's may be transient). */
    cnas_named_tensor *r = malloc((size_t)k * sizeof *r + names);
    if (!r) {
        free(all);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "dgconv: out of memory");
    }
    char *p = (char *)(r + k);
    for (int i = 0; i < k; i++) {
        const char *s = all[i].name ? all[i].name : all[i].tensor->name;
        size_t len = strlen(s) + 1;
        memcpy(p, s, len);
        r[i] = (cnas_named_tensor){p, all[i].tensor, all[i].role};
        p += len;
    }
    free(all);
    *out = r;
    *n = k;
    return CNAS_OK;
}

cnas_tensor *cnas_dgconv_penalty(cnas_graph *g, const cnas_named_tensor *gates, int n, float coef)
{
    if (n < 1)
        return cnas_graph_fail(g, CNAS_ERR_INVALID, "dgconv_penalty: no DGConv layers");
    cnas_tensor *parts[256], *sum = NULL;
    for (int i = 0; i < n; i += 256) {
        int m = n - i < 256 ? n - i : 256;
        for (int k = 0; k < m; k++)
            parts[k] = cnas_dgconv_nnz(g, gates[i + k].tensor);
        cnas_tensor *s = m == 1 ? parts[0] : cnas_sum_n(g, m, parts);
        sum = sum ? cnas_add(g, sum, s) : s;
    }
    return cnas_scale(g, sum, coef);
}

cnas_status cnas_dgconv_report(cnas_search_env *env, const cnas_named_tensor *gates, int n,
                               int64_t epoch, const char *file, bool log_layers,
                               cnas_error *err)
{
    char bits[CNAS_DGCONV_MAX_K + 1], line[512];
    if (epoch == 0 && file) {
        cnas_status st = env->append(env, file, "epoch\tlayer\tchannels\tgates\tgroups\tnnz\n", err);
        if (st)
            return st;
    }
    cnas_text summary = {0};
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const cnas_tensor *t = gates[i].tensor;
        int K = (int)t->numel, on = cnas_dgconv_on(t);
        for (int k = 0; k < K; k++)
            bits[k] = cnas_dgconv_bit(t->data[k]) ? '1' : '0';
        bits[K] = '\0';
        long long C = 1LL << K, G = 1LL << (K - on), nnz = 1LL << (K + on);
        total += nnz;
        if (log_layers)
            env->log(env, CNAS_LOG_INFO, "dgconv %s: C = %lld, gates %s, %lld group%s (%lld of "
                     "%lld channel pairs)", gates[i].name, C, bits, G, G == 1 ? "" : "s", nnz,
                     C * C);
        cnas_text_put(&summary, "%s%lld", i ? "," : "", G);
        if (file && epoch >= 0) {
            snprintf(line, sizeof line, "%lld\t%s\t%lld\t%s\t%lld\t%lld\n", (long long)epoch,
                     gates[i].name, C, bits, G, nnz);
            cnas_status st = env->append(env, file, line, err);
            if (st) {
                cnas_text_free(&summary);
                return st;
            }
        }
    }
    if (!log_layers && n > 0)
        env->log(env, CNAS_LOG_INFO, "dgconv groups per layer%s: %s (sum of nnz(U) %lld)",
                 epoch >= 0 ? "" : " (final)", summary.s ? summary.s : "?", (long long)total);
    cnas_text_free(&summary);
    return CNAS_OK;
}
