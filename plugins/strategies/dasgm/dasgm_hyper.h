/* DASGM's generator hypergradient (docs/dasgm.md), apart from the strategy so that
 * tests/test_generators.c can check it on a quadratic toy. */
#ifndef DASGM_HYPER_H
#define DASGM_HYPER_H

#include <cnas/bilevel.h>

/* out[i] (numel of gen[i]) = -xi·[∇_gen L(A + εv) - ∇_gen L(A - εv)] / 2ε with
 * ε = r/‖v‖, where A are the alpha tensors and L the synthetic-data loss closure (which
 * must draw the same noise on every call): the one-step approximation of
 * d L_val(W', A - xi·∇_A L) / d gen when v = ∇_A' L_val. The alpha tensors are
 * restored exactly. A zero v gives a zero gradient. *eps_out (optional) receives ε. */
cnas_status dasgm_hypergrad(cnas_graph *g, cnas_loss_closure syn_loss, void *ctx,
                            cnas_tensor *const *alpha, const float *const *v, int n_alpha,
                            float r, float xi, cnas_tensor *const *gen, int n_gen,
                            float *const *out, float *eps_out, cnas_error *err);

#endif
