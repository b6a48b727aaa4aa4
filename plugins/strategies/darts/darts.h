/* DARTS (Liu et al., ICLR 2019): continuous relaxation of the cell space, weights
 * by SGD on the train split, architecture by Adam on the validation split, first
 * order or with the one-step unrolled hypergradient (second order). */
#ifndef DARTS_STRATEGY_H
#define DARTS_STRATEGY_H

#include <cnas/cnas.h>

typedef struct darts_group {
    char key[32];           /* share key ("normal") or instance ("cell3") when untied */
    cnas_tensor *alpha;     /* [rows, n_candidates] */
} darts_group;

typedef struct darts {
    cnas_search_env *env;
    int order;
    float arch_lr, arch_beta1, arch_beta2, arch_wd, radius, init_scale;
    int tie, eval_every;

    const cnas_choice_point *points;
    int n_points, n_cand;
    darts_group *groups;
    int n_groups;
    int *point_group;               /* group of each point */
    cnas_mix_weight *mix;           /* per point, filled on each forward */
    cnas_tensor **alphas;           /* the groups' alpha tensors */

    cnas_tensor **weights;          /* supernet parameters (borrowed from the space) */
    int n_weights;
    cnas_optim *w_opt, *a_opt;
    cnas_schedule sched;

    cnas_graph *g, *g_data;
    int64_t epoch, step;            /* position: next step to run */
    cnas_arch *arch;
} darts;

#endif
