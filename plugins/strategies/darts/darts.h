/* The darts plugin: DARTS (Liu et al., ICLR 2019) and Λ-DARTS (Movahedi et al., ICLR
 * 2023), which is DARTS with a regularised weight step.
 *
 * DARTS: continuous relaxation of the cell space, weights by SGD on the train split,
 * architecture by Adam on the validation split, first order or with the one-step
 * unrolled hypergradient (second order). The update rules and defaults are in
 * docs/darts.md; Λ-DARTS's additions in docs/lambda_darts.md.
 *
 * darts_common.c holds what both strategies share (set-up, forward passes, the
 * architecture step, the epoch log, checkpoints); darts.c and lambda_darts.c are the
 * two components' step rules; lambda_reg.c the regularisers' arithmetic. */
#ifndef DARTS_STRATEGY_H
#define DARTS_STRATEGY_H

#include <cnas/cnas.h>
#include <cnas/kit.h>
#include <cnas/projection.h>

typedef struct darts {
    cnas_search_env *env;
    const char *name;               /* "darts" / "lambda_darts": messages, checkpoint prefix */
    int order;
    float arch_lr, arch_beta1, arch_beta2, arch_wd, radius, init_scale;
    int tie, eval_every;

    cnas_archparams *ap;            /* α, tied per cell type or per cell */
    cnas_tensor **weights;          /* supernet parameters (borrowed from the space) */
    int n_weights;
    cnas_optim *w_opt, *a_opt;
    cnas_loop loop;
    cnas_graph *g;
    cnas_arch *arch;
    double val_loss, val_acc;       /* the last supernet evaluation */

    /* selection = perturbation (darts_select.c, docs/selection.md): the decisions, the
     * fine-tuning loop after the search's and its fresh weight optimizer. */
    bool perturb;
    cnas_proj *proj;
    cnas_loop tune;
    cnas_optim *tune_opt;
} darts;

/* A loss closure's context: one batch through the supernet. mix NULL: softmax(α) on
 * the tape (DARTS); otherwise these mixture weights (Λ-DARTS's per-cell copies). whole:
 * every rank of a data-parallel run holds this batch whole (a batch the strategy made
 * itself), so batch norm over it is not synchronised (docs/distributed.md). */
typedef struct darts_batch {
    darts *d;
    cnas_tensor *x;
    const int32_t *y;
    int64_t correct;
    const cnas_mix_weight *mix;
    bool whole;
} darts_batch;

/* The keys both components read (a list of CNAS_PARAM_SPEC_* initialisers). */
#define DARTS_COMMON_KEYS                                                                        \
    CNAS_PARAM_SPEC_INT("order", "1", 1, 2,                                                      \
                        "1: first-order gradient; 2: one-step unrolled (second order)"),         \
    CNAS_PARAM_SPEC_FLOAT("arch_learning_rate", "3e-4", 0, 10, "Adam learning rate of alpha"),   \
    CNAS_PARAM_SPEC_FLOAT("arch_beta1", "0.5", 0, 1, "Adam beta1 of alpha"),                     \
    CNAS_PARAM_SPEC_FLOAT("arch_beta2", "0.999", 0, 1, "Adam beta2 of alpha"),                   \
    CNAS_PARAM_SPEC_FLOAT("arch_weight_decay", "1e-3", 0, 1,                                     \
                          "coupled L2 weight decay of alpha (torch.optim.Adam weight_decay)"),   \
    CNAS_PARAM_SPEC_FLOAT("unrolled_radius", "0.01", 1e-8, 10,                                   \
                          "finite-difference radius r of the Hessian-vector product "            \
                          "(eps = r/|v|)"),                                                      \
    CNAS_PARAM_SPEC_FLOAT("init_scale", "1e-3", 0, 10,                                           \
                          "alpha initialised to init_scale * N(0, 1)"),                          \
    CNAS_PARAM_SPEC_BOOL("tie_cells", "true",                                                    \
                         "share alpha across cells of a type (normal / reduce), as the paper "   \
                         "does"),                                                                \
    CNAS_PARAM_SPEC_INT("eval_every", "1", 0, 100000,                                            \
                        "evaluate the supernet on the validation split every N epochs "          \
                        "(0: never)")

/* How the final architecture is chosen (darts, lambda_darts and dasgm). */
#define DARTS_SELECTION_KEYS                                                                     \
    CNAS_PARAM_SPEC_CHOICE("selection", "magnitude", "magnitude|perturbation",                   \
                           "the final architecture: by the magnitude of softmax(alpha) (DARTS), "\
                           "or edge by edge by masking each operation on the searched supernet " \
                           "and fine-tuning between decisions (Wang et al. 2021; "               \
                           "docs/selection.md)"),                                                \
    CNAS_PARAM_SPEC_INT("proj_interval", "5", 1, 1000,                                           \
                        "perturbation: fine-tuning epochs between decisions"),                   \
    CNAS_PARAM_SPEC_CHOICE("proj_criterion", "acc", "acc|loss",                                  \
                           "perturbation: keep the operation whose removal gives the lowest "    \
                           "validation accuracy (acc) or the highest loss (loss)"),              \
    CNAS_PARAM_SPEC_INT("proj_inputs", "2", 0, 64,                                               \
                        "perturbation: inputs each node keeps after the operations are decided " \
                        "(0: no topology step, for spaces whose nodes keep every input)"),       \
    CNAS_PARAM_SPEC_FLOAT("proj_lr_factor", "0.1", 0, 10,                                        \
                          "perturbation: the fine-tuning's weight learning rate as a fraction "  \
                          "of [train] lr (cosine to lr_min over the fine-tuning epochs)")

/* Reads the common keys and builds α, the optimizers, the loop and the graph. On
 * failure everything built is freed by darts_fini (call it anyway). */
cnas_status darts_init(darts *d, const char *name, const cnas_params *p, cnas_search_env *env,
                       cnas_error *err);
void darts_fini(darts *d);

/* cnas_loss_closure over a darts_batch: cross-entropy of a MIXTURE forward in training
 * mode; counts top-1 hits. */
cnas_tensor *darts_batch_loss(cnas_graph *g, void *batch);
/* The supernet's logits under mixture weights mix (NULL: softmax(α) on the tape). */
cnas_tensor *darts_logits(darts *d, cnas_graph *g, cnas_tensor *x, const cnas_mix_weight *mix,
                          bool training);

/* The second-order architecture gradient into α's grads (the reference architect's
 * unrolled step); *loss receives L_val(w', α). */
cnas_status darts_unrolled_grad(darts *d, darts_batch *train, darts_batch *val, float lr,
                                float *loss, cnas_error *err);
/* The DARTS architecture step: the gradient of `order`, then Adam. */
cnas_status darts_arch_step(darts *d, darts_batch *train, darts_batch *val, float lr,
                            cnas_error *err);

/* End of an epoch: evaluate the supernet when due, log the genotype and append
 * softmax(α) to alpha.jsonl. */
cnas_status darts_end_epoch(darts *d, int64_t epoch, cnas_error *err);
/* Before the loop: make alpha.jsonl known to the host's resume bookkeeping. */
cnas_status darts_start(darts *d, cnas_error *err);
/* After the loop: derive the genotype and report it. */
cnas_status darts_finish(darts *d, cnas_error *err);
/* Position, α, both optimizers and the last evaluation, as "<name>.*". */
cnas_status darts_io(darts *d, cnas_ckio *io);
/* The strategies' memory member (ABI 1.3): one supernet run as a mixture; second order adds
 * the unrolled step's four buffers the size of the weights (cnas_unrolled_alpha_grad).
 * Says nothing of gradient recycling, which only darts turns on. */
cnas_status darts_memory(const cnas_params *p, cnas_strategy_memory *m, cnas_error *err);

/* The DARTS step (darts.c): architecture step, then weight step, both on the phase's
 * mixture weights. Also Λ-DARTS's fine-tuning step between perturbation decisions. */
cnas_status darts_step(void *self, cnas_loop_step *s, cnas_error *err);

/* ---- darts_select.c: the final selection ------------------------------------------- */

/* Reads DARTS_SELECTION_KEYS (after darts_init); magnitude needs nothing. */
cnas_status darts_select_init(darts *d, const cnas_params *p, cnas_error *err);
void darts_select_fini(darts *d);
/* Past the search epochs, fine-tuning between perturbation decisions. */
bool darts_tuning(const darts *d);
/* The weight optimizer of the phase, the mixture weights (projected while tuning) and the
 * architecture (the projection's while tuning, else the magnitude rule). */
cnas_optim *darts_weight_optim(darts *d);
const cnas_mix_weight *darts_mix(darts *d, cnas_graph *g);
cnas_status darts_derive(darts *d, cnas_arch *out, cnas_error *err);
/* After the search loop: the perturbation decisions and fine-tuning, with `step` as the
 * fine-tuning's step rule (nothing for magnitude). */
cnas_status darts_select_run(darts *d, cnas_status (*step)(void *, cnas_loop_step *, cnas_error *),
                             cnas_error *err);
cnas_status darts_select_io(darts *d, cnas_ckio *io);

#endif
