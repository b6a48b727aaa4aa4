/* GOLD-NAS arithmetic: see gold_logic.h. */
#include "gold_logic.h"

#include <math.h>
#include <string.h>

static bool live(const uint64_t *mask, int p, int c)
{
    return (mask[p] >> c) & 1u;
}

void gold_normalise(const gold_layout *l, const float *sig, const uint64_t *mask, double *S,
                    double *what)
{
    for (int v = 0; v < l->n_nodes; v++)
        S[v] = 0;
    for (int p = 0; p < l->n_points; p++)
        for (int c = 0; c < l->n_cand; c++)
            if (live(mask, p, c))
                S[l->node_of[p]] += sig[p * l->n_cand + c];
    for (int p = 0; p < l->n_points; p++)
        for (int c = 0; c < l->n_cand; c++) {
            int g = p * l->n_cand + c;
            double s = S[l->node_of[p]];
            what[g] = live(mask, p, c) && s > 0 ? sig[g] / s : 0.0;
        }
}

double gold_cost_grad(const gold_layout *l, const float *sig, const uint64_t *mask,
                      const double *k, double xi_min, double *S, double *what, double *dalpha)
{
    int G = l->n_points * l->n_cand;
    gold_normalise(l, sig, mask, S, what);
    /* Per node: n_v and B_v = sum_{o in A_v} k_o n_v r_o / (1 + n_v r_o), the part of
     * dC/ds_j that every gate j of the node gets through S_v:
     *   dC/ds_j = (1{j in A_v} k_j n_v / (1 + n_v r_j) - B_v) / S_v. */
    double cost = 0;
    for (int g = 0; g < G; g++)
        dalpha[g] = 0;
    for (int v = 0; v < l->n_nodes; v++) {
        int n = 0;
        for (int g = 0; g < G; g++)
            if (l->node_of[g / l->n_cand] == v && live(mask, g / l->n_cand, g % l->n_cand) &&
                what[g] > xi_min)
                n++;
        double B = 0;
        for (int g = 0; g < G; g++)
            if (l->node_of[g / l->n_cand] == v && live(mask, g / l->n_cand, g % l->n_cand) &&
                what[g] > xi_min) {
                cost += k[g] * log1p(n * what[g]);
                B += k[g] * n * what[g] / (1 + n * what[g]);
            }
        for (int g = 0; g < G; g++) {
            int p = g / l->n_cand;
            if (l->node_of[p] != v || !live(mask, p, g % l->n_cand))
                continue;
            double own = what[g] > xi_min ? k[g] * n / (1 + n * what[g]) : 0.0;
            double ds = (own - B) / S[v];
            dalpha[g] = ds * sig[g] * (1.0 - sig[g]);
        }
    }
    return cost;
}

int gold_prune_select(const gold_layout *l, const float *sig, const uint64_t *mask, double xi_min,
                      double xi_max, int n0, double *S, double *what, int *scratch,
                      int *out)
{
    int G = l->n_points * l->n_cand, n = 0;
    gold_normalise(l, sig, mask, S, what);
    /* Live gates per node, to keep one per node. */
    int *left = scratch, *taken = scratch + l->n_nodes;
    memset(left, 0, sizeof(int) * (size_t)l->n_nodes);
    for (int g = 0; g < G; g++)
        if (live(mask, g / l->n_cand, g % l->n_cand))
            left[l->node_of[g / l->n_cand]]++;
    for (int g = 0; g < G; g++)
        taken[g] = !live(mask, g / l->n_cand, g % l->n_cand);
    for (int g = 0; g < G; g++) {
        int v = l->node_of[g / l->n_cand];
        if (!taken[g] && what[g] <= xi_min && left[v] > 1) {
            taken[g] = 1;
            left[v]--;
            out[n++] = g;
        }
    }
    for (int r = 0; r < n0; r++) {
        int best = -1;
        for (int g = 0; g < G; g++)
            if (!taken[g] && left[l->node_of[g / l->n_cand]] > 1 &&
                (best < 0 || what[g] < what[best]))
                best = g;
        if (best < 0 || what[best] > xi_max)
            break;
        taken[best] = 1;
        left[l->node_of[best / l->n_cand]]--;
        out[n++] = best;
    }
    return n;
}

void gold_lambda_update(double *lambda, double *delta, int n_pruned, int n0, double lambda0,
                        double c0)
{
    if (n_pruned >= n0) {
        *delta = lambda0;
        *lambda /= c0;
    } else {
        *delta *= c0;
        *lambda += *delta;
    }
}
