/* cnas/projection.h — perturbation-based architecture selection for mixture strategies
 * (Wang, Cheng, Chen, Tang, Hsieh, "Rethinking Architecture Selection in Differentiable
 * NAS", ICLR 2021; docs/selection.md).
 *
 * The magnitude of α need not say how much an operation contributes to the supernet.
 * Instead, starting from the searched supernet, decide one edge at a time: mask each of
 * its operations in turn (its weight set to 0, the row not renormalised), evaluate the
 * whole validation split, and keep the operation whose removal hurts most; the edge is
 * then one-hot for good. Between decisions the supernet is fine-tuned `interval` epochs
 * (the strategy's own steps, through cnas_proj_mix). After the operations, nodes with
 * more than `keep_inputs` inputs lose, one at a time, the input whose removal hurts
 * least, until `keep_inputs` remain. The result is an ordinary architecture
 * (cnas_proj_derive: the space's own rule applied to the projected weights).
 *
 * Each decision slot decides one random undecided edge (or node) of every group, as
 * the reference code does for the normal and the reduce cell. The strategy runs a
 * fine-tuning loop of cnas_proj_epochs() epochs and calls cnas_proj_begin_epoch() at
 * the start of each; every evaluation is followed by a checkpoint point, and the
 * decision in progress is in cnas_proj_io(), so a run stopped in the middle of a
 * decision resumes with the next evaluation. Every evaluation is appended to
 * projection.csv in the run directory. */
#ifndef CNAS_PROJECTION_H
#define CNAS_PROJECTION_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/archparams.h>
#include <cnas/ckio.h>
#include <cnas/strategy.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cnas_proj_criterion {
    CNAS_PROJ_ACC = 0,   /* keep the operation whose removal gives the lowest accuracy */
    CNAS_PROJ_LOSS = 1,  /* ... the highest loss */
} cnas_proj_criterion;

typedef struct cnas_proj_settings {
    uint32_t size;                /* sizeof(cnas_proj_settings) */
    cnas_proj_criterion criterion;
    int32_t interval;             /* fine-tuning epochs between decisions (reference: 5) */
    int32_t keep_inputs;          /* inputs a node keeps (DARTS space: 2); 0: no topology step */
    cnas_ap_transform transform;  /* α -> weights (SOFTMAX for DARTS) */
} cnas_proj_settings;

/* Logits of the supernet under the given mixture weights, for the evaluations: the
 * strategy's forward (the reference evaluates with batch statistics). */
typedef cnas_tensor *(*cnas_proj_logits_fn)(cnas_graph *g, cnas_tensor *x,
                                            const cnas_mix_weight *mix, void *ctx);

typedef struct cnas_proj cnas_proj;

/* Over the groups of ap (borrowed; one decision per group per slot). */
cnas_proj *cnas_proj_new(cnas_archparams *ap, cnas_search_env *env, const cnas_proj_settings *s,
                         cnas_error *err);
void cnas_proj_free(cnas_proj *p);

/* Fine-tuning epochs, decisions included: interval·(slots − 1) + 1, with one slot per
 * edge and per node to prune (DARTS: 5·(14 + 3 − 1) + 1 = 81). */
int64_t cnas_proj_epochs(const cnas_proj *p);

/* At the start of fine-tuning epoch t (0-based; `epoch` is the loop's own number, for
 * checkpoint points): make the decisions due at t, continuing one in progress. */
cnas_status cnas_proj_begin_epoch(cnas_proj *p, int64_t t, int64_t epoch, cnas_proj_logits_fn fn,
                                  void *ctx, cnas_error *err);

/* The projected mixture weights on g: decided edges one-hot, pruned inputs 0, the
 * others transform(α) (gradients reach their α only). */
const cnas_mix_weight *cnas_proj_mix(cnas_proj *p, cnas_graph *g);

/* The space's derivation rule applied to the projected weights. */
cnas_status cnas_proj_derive(cnas_proj *p, cnas_arch *out, cnas_error *err);

/* Decisions made so far (edges plus nodes), and whether every one has been made. */
int cnas_proj_decisions(const cnas_proj *p);
bool cnas_proj_finished(const cnas_proj *p);

/* The decisions and the one in progress, under "<prefix>.proj.*". */
cnas_status cnas_proj_io(cnas_proj *p, cnas_ckio *io, const char *prefix);

#ifdef __cplusplus
}
#endif
#endif
