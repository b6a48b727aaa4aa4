/* The K-shot model without the host: K weight dictionaries, the simplex-net that
 * maps an architecture to a simplex code, the merge θ(a) = Σ_k λ_k(a)·Θ_k bound into
 * a forward, and the two gradient passes of the iterative training (Su et al., "K-shot
 * NAS", ICML 2021; docs/kshot.md). The strategy (kshot.c) and tests/test_kshot.c
 * (the conflicting-paths toy, gradient checks) both build on it. */
#ifndef KSHOT_MODEL_H
#define KSHOT_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/arch.h>
#include <cnas/graph.h>
#include <cnas/rng.h>
#include <cnas/space.h>
#include <cnas/tensor.h>

#define KS_MAX_K 16

typedef enum ks_encoding {
    KS_ENC_FLAT = 0, /* one one-hot block per choice point, concatenated (position-aware) */
    KS_ENC_MEAN = 1, /* the blocks averaged over the points (the unofficial code) */
} ks_encoding;

typedef struct ks_model {
    int K;                 /* dictionaries */
    int n;                 /* tensors per dictionary */
    cnas_tensor **slot;    /* n: the tensors the forward reads; bound to the merge */
    cnas_tensor **theta;   /* K·n: theta[k·n + i] is copy k of slot i (borrowed) */

    /* The simplex-net: λ = softmax((W2·relu(W1·e + b1) + b2) / τ). */
    ks_encoding enc;
    int n_points, D, H;
    int *offset;           /* n_points: where point p's one-hot block starts */
    int *width;            /* n_points: its candidates */
    float tau;
    cnas_tensor *phi[4];   /* W1 [H, D], b1 [H], W2 [K, H], b2 [K] (owned) */
} ks_model;

/* The simplex-net for choice points with n_cand[p] candidates, initialised as
 * torch.nn.Linear is (uniform ±1/√fan_in) from `rng`. slot and theta are set by the
 * caller. NULL with err on bad sizes (the mean encoding needs equal widths). */
ks_model *ks_model_new(int K, int n_points, const int *n_cand, int hidden, float tau,
                       ks_encoding enc, cnas_rng *rng, cnas_error *err);
void ks_model_free(ks_model *m);

/* The encoding of `a` into e (m->D floats). */
void ks_encode(const ks_model *m, const cnas_arch *a, float *e);
/* λ(a) as a [1, K] step tensor on g (on the tape when φ requires a gradient). */
cnas_tensor *ks_code(cnas_graph *g, const ks_model *m, const cnas_arch *a);
/* λ(a) into out (K floats), without a tape; g is reset afterwards. */
cnas_status ks_code_values(cnas_graph *g, const ks_model *m, const cnas_arch *a, float *out,
                           cnas_error *err);
/* A constant code [1, K] on g. */
cnas_tensor *ks_code_const(cnas_graph *g, const ks_model *m, const float *lambda);
/* Bind every slot to Σ_k λ_k·Θ_k computed on g (λ: [1, K]). */
cnas_status ks_bind(cnas_graph *g, const ks_model *m, cnas_tensor *lambda);
/* dst[i] = Σ_k λ_k·Θ_k[i] without a tape, in the order of the bound forward, so an
 * evaluation network holds exactly the weights the training forward reads. */
void ks_merge_into(const ks_model *m, const float *lambda, cnas_tensor *const *dst);
/* A draw from the flat Dirichlet(1, ..., 1) (normalised Exp(1) draws). */
void ks_dirichlet(cnas_rng *rng, int K, float *out);

/* The loss of the forward of `a` on rows [r0, r1) of the caller's batch, with the
 * slots bound (so the forward reads the merged weights). */
typedef cnas_tensor *(*ks_loss_fn)(cnas_graph *g, void *ctx, const cnas_arch *a, int64_t r0,
                                   int64_t r1);

/* The supernet step's gradients: one forward of `a` on rows [0, B) with the code
 * `lambda` (NULL: the simplex-net's, without a gradient to it); gradients to the K
 * dictionaries only (PyTorch semantics, cnas_grad_pass). */
cnas_status ks_theta_pass(cnas_graph *g, const ks_model *m, const cnas_arch *a,
                          const float *lambda, ks_loss_fn f, void *ctx, int64_t B, float *loss,
                          cnas_error *err);
/* The simplex-net step's gradients: rows [0, B) in n_chunks chunks, chunk c through
 * archs[c] with its own code; the chunk losses weighted by their share of the batch,
 * so *loss and the gradients are those of the batch mean. Gradients to φ only;
 * one backward pass per chunk (each chunk binds other merged weights). */
cnas_status ks_phi_pass(cnas_graph *g, const ks_model *m, cnas_arch *const *archs, int n_chunks,
                        ks_loss_fn f, void *ctx, int64_t B, float *loss, cnas_error *err);

#endif
