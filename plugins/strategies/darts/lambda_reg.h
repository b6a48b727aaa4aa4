/* The Λ-DARTS regularisers (Movahedi et al., ICLR 2023; docs/lambda_darts.md) on the
 * per-cell gradients g_1..g_L of the loss with respect to each cell's copy of the
 * operation weights, in double precision. g holds the L vectors of n values one after
 * another (g + l·n); c = 1 / (L(L-1)/2).
 *
 *   corr:     R = c · Σ_{i<j} ⟨g_i, g_j⟩ / (‖g_i‖‖g_j‖)        (mean pairwise cosine)
 *   signcorr: R = c · Σ_{i<j} ⟨g_i, g_j⟩ / ⟨|g_i|, |g_j|⟩
 *
 * lreg_direction gives p_l = ∂R/∂g_l, the direction along which the strategy takes
 * its finite difference of ∇_w L (∇_w R = Σ_l (∂g_l/∂w)ᵀ p_l). Plain C, no cnas
 * types, so tests can compile it in. */
#ifndef LAMBDA_REG_H
#define LAMBDA_REG_H

#include <stdint.h>

typedef enum lreg_kind {
    LREG_CORR = 0,
    LREG_SIGNCORR = 1,
} lreg_kind;

/* R; NaN when undefined (L < 2, a zero gradient, ⟨|g_i|, |g_j|⟩ = 0). */
double lreg_value(lreg_kind k, int L, int64_t n, const double *g);
/* p (L·n values) = ∂R/∂g. scratch holds n + L doubles. Returns 0, or -1 when R is
 * undefined (p is then zero). */
int lreg_direction(lreg_kind k, int L, int64_t n, const double *g, double *p, double *scratch);

#endif
