/* Sampling DARTS genotypes from learned weights, and their likelihood: SETN's
 * evaluator on the DARTS space (Dong & Yang 2019 leave this space unfinished; the
 * rule is docs/setn.md's). Per cell type and node, the two inputs are drawn without
 * replacement with probability proportional to 1 - p(none) of their edge, and each
 * chosen edge's op from its weights without `none`. Untied weights are averaged over
 * the cells of a type, as derive does. A node's inputs are listed in index order, so
 * a genotype has one notation however it was drawn. */
#include "darts_cell.h"

#include <math.h>

#define DC_MAX_EDGES (DC_MAX_NODES * (DC_MAX_NODES + 3) / 2)

/* The mean weights of every edge of one cell type; false when the type has no cell. */
static bool type_weights(const dc_space *s, int red, const float *const *probs,
                         double W[DC_MAX_EDGES][DC_MAX_CANDIDATES])
{
    int cells = 0;
    for (int e = 0; e < s->n_edges; e++)
        for (int k = 0; k < s->n_cand; k++)
            W[e][k] = 0.0;
    for (int c = 0; c < s->layers; c++) {
        if (s->cells[c].reduction != red)
            continue;
        cells++;
        for (int e = 0; e < s->n_edges; e++)
            for (int k = 0; k < s->n_cand; k++)
                W[e][k] += probs[c * s->n_edges + e][k];
    }
    for (int e = 0; e < s->n_edges && cells; e++)
        for (int k = 0; k < s->n_cand; k++)
            W[e][k] /= cells;
    return cells > 0;
}

/* How much an edge is worth as a node input: 1 - p(none), floored so that a node
 * whose edges all say `none` still draws uniformly. */
static double input_weight(const dc_space *s, const double *w)
{
    double v = s->none_idx >= 0 ? 1.0 - w[s->none_idx] : 1.0;
    return v > 1e-12 ? v : 1e-12;
}

/* p(op k on an edge), renormalised without `none`. */
static double op_prob(const dc_space *s, const double *w, int k)
{
    double z = 0.0;
    for (int j = 0; j < s->n_cand; j++)
        if (j != s->none_idx)
            z += w[j] > 0 ? w[j] : 0;
    if (z <= 0)
        return 1.0 / (s->n_cand - (s->none_idx >= 0));
    return (w[k] > 0 ? w[k] : 0) / z;
}

/* P({a, b}) for two inputs drawn without replacement with weights v (sum S). */
static double pair_prob(double va, double vb, double S)
{
    return va / S * vb / (S - va) + vb / S * va / (S - vb);
}

static int draw(cnas_rng *rng, const double *v, int n, int skip)
{
    double S = 0.0;
    for (int j = 0; j < n; j++)
        S += j == skip ? 0.0 : v[j];
    double u = cnas_rng_uniform_double(rng) * S, c = 0.0;
    int last = -1;
    for (int j = 0; j < n; j++) {
        if (j == skip)
            continue;
        last = j;
        c += v[j];
        if (u < c)
            return j;
    }
    return last;
}

cnas_status dc_sample_weighted(void *self, const float *const *probs, cnas_rng *rng,
                               cnas_arch *out, double *log_prob, cnas_error *err)
{
    dc_space *s = self;
    if (out->n_points != s->n_points)
        return cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: sample into an architecture "
                              "of %d points, expected %d", out->n_points, s->n_points);
    if (s->n_cand - (s->none_idx >= 0) < 1)
        return cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: no candidate besides 'none'");
    cnas_arch_clear(out);
    double lp = 0.0;
    for (int red = 0; red <= 1; red++) {
        double W[DC_MAX_EDGES][DC_MAX_CANDIDATES];
        if (!type_weights(s, red, probs, W))
            continue;
        for (int i = 0; i < s->nodes; i++) {
            int start = dc_edge_index(i, 0), n_in = i + 2;
            double v[DC_MAX_NODES + 2], S = 0.0;
            for (int j = 0; j < n_in; j++)
                S += v[j] = input_weight(s, W[start + j]);
            int in[2];
            in[0] = draw(rng, v, n_in, -1);
            in[1] = draw(rng, v, n_in, in[0]);
            lp += log(pair_prob(v[in[0]], v[in[1]], S));
            if (in[0] > in[1]) { /* one notation per genotype: inputs in index order */
                int t = in[0];
                in[0] = in[1];
                in[1] = t;
            }
            for (int t = 0; t < 2; t++) {
                int e = start + in[t];
                double ow[DC_MAX_CANDIDATES];
                for (int k = 0; k < s->n_cand; k++)
                    ow[k] = k == s->none_idx ? 0.0 : op_prob(s, W[e], k);
                int k = draw(rng, ow, s->n_cand, s->none_idx);
                lp += log(ow[k]);
                for (int c = 0; c < s->layers; c++)
                    if (s->cells[c].reduction == red) {
                        out->mask[c * s->n_edges + e] = 1ull << k;
                        out->order[c * s->n_edges + e] = t;
                    }
            }
        }
    }
    if (log_prob)
        *log_prob = lp;
    return CNAS_OK;
}

cnas_status dc_log_prob(void *self, const float *const *probs, const cnas_arch *a, double *out,
                        cnas_error *err)
{
    dc_space *s = self;
    if (a->n_points != s->n_points)
        return cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: an architecture of %d points, "
                              "expected %d", a->n_points, s->n_points);
    double lp = 0.0;
    for (int red = 0; red <= 1; red++) {
        double W[DC_MAX_EDGES][DC_MAX_CANDIDATES];
        if (!type_weights(s, red, probs, W))
            continue;
        int c0 = -1;
        for (int c = 0; c < s->layers && c0 < 0; c++)
            if (s->cells[c].reduction == red)
                c0 = c;
        for (int i = 0; i < s->nodes; i++) {
            int start = dc_edge_index(i, 0), n_in = i + 2, in[2], m = 0;
            double v[DC_MAX_NODES + 2], S = 0.0;
            for (int j = 0; j < n_in; j++) {
                S += v[j] = input_weight(s, W[start + j]);
                if (a->mask[c0 * s->n_edges + start + j] && m < 2)
                    in[m++] = j;
            }
            if (m != 2)
                return cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: node %d of the %s cell "
                                      "has %d inputs, expected 2", i + 2,
                                      red ? "reduce" : "normal", m);
            lp += log(pair_prob(v[in[0]], v[in[1]], S));
            for (int t = 0; t < 2; t++) {
                int e = start + in[t];
                int k = cnas_arch_single(a, c0 * s->n_edges + e);
                if (k < 0 || k == s->none_idx)
                    return cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: edge %d of the %s "
                                          "cell has no single op", e, red ? "reduce" : "normal");
                lp += log(op_prob(s, W[e], k));
            }
        }
    }
    *out = lp;
    return CNAS_OK;
}
