/* cnas/bilevel.h — gradient passes and the shared second-order machinery.
 *
 * A loss closure builds one forward pass on a graph and returns the scalar loss;
 * the helpers below decide which tensors receive gradients. cnas_unrolled_alpha_grad
 * is the one-step unrolled hypergradient of DARTS (Liu et al. 2019, eq. 7-8, as
 * the reference code computes it), shared by DARTS second order and DASGM:
 *
 *   w' = w - η·(μ·m + ∇w L_train(w, α) + λ·w)        (m: SGD momentum buffer)
 *   v  = ∇w' L_val(w', α),  g = ∇α L_val(w', α)
 *   ε  = r / ‖v‖,  w± = w ± ε·v
 *   ∇α ≈ g - η·[∇α L_train(w+, α) - ∇α L_train(w-, α)] / 2ε
 *
 * The weights are restored bit for bit from a copy afterwards (a +ε, -2ε, +ε walk
 * in float32 would drift). */
#ifndef CNAS_BILEVEL_H
#define CNAS_BILEVEL_H

#include <cnas/graph.h>
#include <cnas/status.h>
#include <cnas/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Build a forward pass on g and return the scalar loss (NULL on failure, graph error set). */
typedef cnas_tensor *(*cnas_loss_closure)(cnas_graph *g, void *ctx);

/* One forward + backward of f with gradients flowing to `on` only: sets
 * CNAS_T_REQUIRES_GRAD on `on`, clears it on `off`, zeroes the gradients of `on`,
 * runs, and resets g. *loss (optional) receives the loss value.
 * PyTorch 1.x semantics: a tensor of `on` that no pass has ever reached keeps no
 * gradient buffer (grad NULL: optimizers skip it, a single-path strategy does not
 * move ops it never sampled); once reached, its buffer stays and is zeroed before
 * each pass, so momentum and weight decay keep acting on it. Checkpoints record which
 * tensors have a buffer (cnas_optim_save). */
cnas_status cnas_grad_pass(cnas_graph *g, cnas_loss_closure f, void *ctx, cnas_tensor *const *on,
                           int n_on, cnas_tensor *const *off, int n_off, float *loss,
                           cnas_error *err);

/* Finite-difference mixed gradient: out[i] (numel of target[i]) =
 * [∇target L(p + ε·v) - ∇target L(p - ε·v)] / 2ε, where p are the `perturb` tensors
 * and v[j] has perturb[j]'s numel. The perturbed tensors are restored exactly. */
cnas_status cnas_fd_mixed_grad(cnas_graph *g, cnas_loss_closure f, void *ctx,
                               cnas_tensor *const *perturb, const float *const *v, int n_perturb,
                               float eps, cnas_tensor *const *target, int n_target,
                               float *const *out, cnas_error *err);

typedef struct cnas_unrolled_args {
    cnas_tensor *const *w;          /* network weights */
    int n_w;
    cnas_tensor *const *alpha;      /* architecture parameters */
    int n_alpha;
    cnas_loss_closure train_loss;
    void *train_ctx;
    cnas_loss_closure val_loss;
    void *val_ctx;
    float eta;                      /* the current weight learning rate */
    float momentum;                 /* μ of the weight optimizer */
    float weight_decay;             /* λ of the weight optimizer */
    const float *const *momentum_buf; /* per weight, or NULL / NULL entries for none yet */
    float r;                        /* finite-difference radius, 0 means 0.01 */
} cnas_unrolled_args;

/* Writes the unrolled hypergradient into alpha[i]->grad (overwriting) and leaves
 * the weights and their gradients as they were. *val_loss (optional) receives
 * L_val(w', α). */
cnas_status cnas_unrolled_alpha_grad(cnas_graph *g, const cnas_unrolled_args *a, float *val_loss,
                                     cnas_error *err);

#ifdef __cplusplus
}
#endif
#endif
