/* cnas/dgconv.h — learnable group structure for convolutions (DGConv).
 *
 * DGConv (Zhang et al., "Differentiable Learning-to-Group Channels via Groupable
 * Convolutional Neural Networks", ICCV 2019) learns how many groups a C -> C convolution
 * has, C = 2^K. Each layer holds K real gates g_k. Forward, they are binarised,
 * ĝ_k = 1 when g_k > 0 and 0 otherwise, and give the C x C channel mask
 *
 *     U = U_0 ⊗ U_1 ⊗ ... ⊗ U_{K-1},   U_k = (1 - ĝ_k)·I_2 + ĝ_k·1_{2x2}
 *
 * (U_0 the outermost factor: it acts on the most significant bit of a channel index).
 * Output channel i sees input channel j when, for every gate that is off, i and j agree
 * on that gate's bit. The layer convolves with W ⊙ U (U broadcast over the kernel): a
 * grouped convolution with G = 2^(K - Σĝ) groups, whose channels are interleaved unless
 * the gates that are on are the last ones. All gates off: U = I, depthwise (G = C); all
 * on: U = 1, dense (G = 1). The regulariser is nnz(U) = 2^(K + Σĝ).
 *
 * Gradients follow the public re-implementation d-li14/dgconv.pytorch: U and nnz(U) are
 * multilinear in ĝ and differentiated at the binarised point; the gradient reaching ĝ
 * is passed to g unchanged (straight-through, no clipping). So
 *     ∂L/∂W    = ∂L/∂(W⊙U) ⊙ U
 *     ∂L/∂g_k  = Σ_ij S_ij ∂U_ij/∂ĝ_k,  S_ij = Σ_kernel ∂L/∂(W⊙U)_ij · W_ij,
 *     ∂U_ij/∂ĝ_k = [bit k of i ≠ bit k of j] · Π_{m≠k} U_m[bit m of i, bit m of j]
 *     ∂nnz/∂g_k = ln 2 · 2^(K + Σĝ).
 * docs/dgconv.md has the details and the choices made where the sources are silent.
 *
 * Gates are found by name: an op that owns DGConv gates names the tensor
 * CNAS_DGCONV_GATE_NAME or "<prefix>." CNAS_DGCONV_GATE_NAME, 1-D with K elements. The
 * regulariser and the group report below collect them from any space this way. */
#ifndef CNAS_DGCONV_H
#define CNAS_DGCONV_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/graph.h>
#include <cnas/op.h>
#include <cnas/strategy.h>
#include <cnas/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CNAS_DGCONV_GATE_NAME "dg_gate"
#define CNAS_DGCONV_MAX_K 16

/* K when c = 2^K with 1 <= K <= CNAS_DGCONV_MAX_K, else -1. */
int cnas_dgconv_log2(int64_t c);

/* The binarised gate: 1 when g > 0. */
static inline int cnas_dgconv_bit(float g)
{
    return g > 0.0f;
}

/* Σĝ and G = 2^(K - Σĝ) of a gate vector (K = numel). */
int cnas_dgconv_on(const cnas_tensor *gates);
int64_t cnas_dgconv_groups(const cnas_tensor *gates);

/* The C x C mask (C = 2^K, row-major [out][in]) for real-valued ĝ[0..K-1]: the
 * multilinear form above, exact at binary ĝ. For tests and reports. */
void cnas_dgconv_mask(const float *ghat, int K, float *U);

/* W ⊙ U(ĝ) on the tape: w [C, C, kh, kw], gates [K], C = 2^K. Gradients go to w (through
 * the mask) and to gates (straight-through), as above. Bound parameters are honoured
 * (cnas_graph_param). */
cnas_tensor *cnas_dgconv_weight(cnas_graph *g, cnas_tensor *w, cnas_tensor *gates);

/* nnz(U) = 2^(K + Σĝ) as a one-element tensor, straight-through gradient to gates. */
cnas_tensor *cnas_dgconv_nnz(cnas_graph *g, cnas_tensor *gates);

/* True when t is a DGConv gate vector by the naming rule above. */
bool cnas_dgconv_is_gate(const char *name, const cnas_tensor *t);

/* The DGConv gate vectors among a space's tensors, in the space's order: *out is
 * malloc'd (free it; NULL when there are none), names and tensors are borrowed. */
cnas_status cnas_dgconv_find(const cnas_space_vtable *vt, void *space, cnas_named_tensor **out,
                             int *n, cnas_error *err);

/* coef · Σ_layers nnz(U_layer) on the tape (a one-element tensor); NULL with the graph
 * error set on failure. A loss adds it: loss = cnas_add(g, loss, penalty). */
cnas_tensor *cnas_dgconv_penalty(cnas_graph *g, const cnas_named_tensor *gates, int n,
                                 float coef);

/* The learned groups of every layer: tab-separated lines "epoch layer channels gates
 * groups nnz" appended to `file` in the run directory when file is set (a header line
 * first when epoch is 0; gates as a bit string, ĝ_0 first), and a log line per layer
 * with log_layers, else one line with every layer's group count. A layer's weights that
 * take part are nnz·kh·kw of its C·C·kh·kw stored ones. */
cnas_status cnas_dgconv_report(cnas_search_env *env, const cnas_named_tensor *gates, int n,
                               int64_t epoch, const char *file, bool log_layers,
                               cnas_error *err);

#ifdef __cplusplus
}
#endif
#endif
