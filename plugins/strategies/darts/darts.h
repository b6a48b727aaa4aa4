/* DARTS (Liu et al., ICLR 2019): continuous relaxation of the cell space, weights
 * by SGD on the train split, architecture by Adam on the validation split, first
 * order or with the one-step unrolled hypergradient (second order). The update
 * rules and defaults are in docs/darts.md. */
#ifndef DARTS_STRATEGY_H
#define DARTS_STRATEGY_H

#include <cnas/cnas.h>
#include <cnas/kit.h>

typedef struct darts {
    cnas_search_env *env;
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
} darts;

#endif
