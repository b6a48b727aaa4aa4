/* GOLD-NAS arithmetic (Bi et al. 2020; docs/gold_nas.md), free of the host so the
 * planted-support test drives it directly: per-node normalisation of the gates, the
 * resource term and its gradient, the pruning rule and the adaptation of lambda.
 *
 * Gates are indexed g = point * n_cand + candidate; node_of[point] names the node the
 * point's edge enters (a global id < n_nodes). A gate is live while its bit in
 * mask[point] is set. Every node's gates are normalised over *all* its incoming edges
 * (the unofficial code resets the sum inside the edge loop, so that only the first
 * edge of each node is ever normalised, pruned or counted; see docs/gold_nas.md). */
#ifndef GOLD_LOGIC_H
#define GOLD_LOGIC_H

#include <stdbool.h>
#include <stdint.h>

typedef struct gold_layout {
    int n_points, n_cand, n_nodes;
    const int *node_of;           /* per point */
} gold_layout;

/* S_v = sum of the live gates entering node v (S[n_nodes]); what[g] = sigma_g / S_v for
 * live gates, 0 for pruned ones. */
void gold_normalise(const gold_layout *l, const float *sig, const uint64_t *mask, double *S,
                    double *what);

/* The resource term
 *   C = sum_v sum_{o in A_v} k_o ln(1 + n_v sigma_o / S_v),
 *   A_v = live gates into v with sigma/S_v > xi_min, n_v = |A_v|,
 * (k_o = uniform + mu * MFLOPs_o, given per gate) and, into dalpha[g], dC/dalpha_g
 * through sigma = sigmoid(alpha) and S_v (n_v held fixed); 0 for pruned gates.
 * S and what are scratch of n_nodes and n_points * n_cand. */
double gold_cost_grad(const gold_layout *l, const float *sig, const uint64_t *mask,
                      const double *k, double xi_min, double *S, double *what, double *dalpha);

/* The gates to prune after an epoch, in pruning order, into out (at most
 * n_points * n_cand): every live gate with what <= xi_min, then up to n0 times the
 * weakest remaining one if its what <= xi_max. The last live gate of a node is never
 * pruned. Weights are normalised once, before pruning. scratch holds n_nodes +
 * n_points * n_cand ints. Returns how many. */
int gold_prune_select(const gold_layout *l, const float *sig, const uint64_t *mask, double xi_min,
                      double xi_max, int n0, double *S, double *what, int *scratch,
                      int *out);

/* lambda after an epoch that pruned n_pruned gates: at least n0, relax (delta = lambda0,
 * lambda /= c0); fewer, push harder (delta *= c0, lambda += delta). */
void gold_lambda_update(double *lambda, double *delta, int n_pruned, int n0, double lambda0,
                        double c0);

#endif
