/* DASGM's generator hypergradient (dasgm_hyper.h). */
#include "dasgm_hyper.h"

#include <math.h>
#include <string.h>

cnas_status dasgm_hypergrad(cnas_graph *g, cnas_loss_closure syn_loss, void *ctx,
                            cnas_tensor *const *alpha, const float *const *v, int n_alpha,
                            float r, float xi, cnas_tensor *const *gen, int n_gen,
                            float *const *out, float *eps_out, cnas_error *err)
{
    double norm = 0.0;
    for (int i = 0; i < n_alpha; i++)
        for (int64_t k = 0; k < alpha[i]->numel; k++)
            norm += (double)v[i][k] * v[i][k];
    norm = sqrt(norm);
    if (eps_out)
        *eps_out = 0.0f;
    if (!(norm > 0.0)) {
        for (int i = 0; i < n_gen; i++)
            memset(out[i], 0, (size_t)gen[i]->numel * sizeof(float));
        return CNAS_OK;
    }
    float eps = (float)(r / norm);
    if (eps_out)
        *eps_out = eps;
    cnas_status st = cnas_fd_mixed_grad(g, syn_loss, ctx, alpha, v, n_alpha, eps, gen, n_gen, out,
                                        err);
    if (st)
        return st;
    for (int i = 0; i < n_gen; i++)
        for (int64_t k = 0; k < gen[i]->numel; k++)
            out[i][k] *= -xi;
    return CNAS_OK;
}
