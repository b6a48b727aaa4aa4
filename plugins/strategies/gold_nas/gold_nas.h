/* GOLD-NAS: gradual, one-level, differentiable architecture search (Bi, Xie, Chen,
 * Wei, Tian 2020, arXiv 2007.03331; docs/gold_nas.md).
 *
 * Every step updates the weights and the gates sigma(alpha) together on the same
 * training batch (one level): loss = CE + lambda * C(alpha), one backward pass, an SGD
 * step on the weights ([train]) and an SGD step on alpha (lr 1, momentum 0.9). After
 * every epoch the weakest operators are pruned for good (normalised per node below
 * xi_min, then up to n0 below xi_max), lambda is adapted (lambda0, c0), and an
 * architecture that stayed unchanged for stable_rounds epochs is recorded as a
 * snapshot before it is pruned. The search stops at a FLOPs floor or the epoch limit;
 * the snapshots, their costs and accuracies and the non-dominated front go to
 * pareto.csv / pareto.json / pareto.svg and ranking.tsv. */
#ifndef GOLD_NAS_H
#define GOLD_NAS_H

#include <cnas/cnas.h>
#include <cnas/kit.h>

#include "gold_logic.h"

typedef struct gold_snap {
    int64_t epoch;                /* the epoch after which it was recorded */
    int64_t flops, params, n_ops;
    double train_acc;             /* the supernet's training accuracy over that epoch */
    double val_acc, val_loss;     /* the supernet on the held-out split (NaN: none) */
    int32_t front, final;         /* non-dominated; recorded at the end of the search */
} gold_snap;

typedef struct gold {
    cnas_search_env *env;
    /* keys */
    double arch_lr, arch_momentum, arch_wd;
    double xi_min, xi_max, lambda0, c0, uniform_w, flops_w;
    double flops_min;             /* MFLOPs floor (0: none) */
    int n0, stable_rounds;
    int64_t warmup;               /* epochs before the schedule starts */
    double prune_lr;              /* weights' learning rate after the warm-up; 0: [train]'s */
    bool evaluate;
    /* the supernet and its parameters */
    cnas_archparams *ap;
    cnas_tensor **weights, **on;
    int n_weights, n_on;
    cnas_optim *w_opt, *a_opt;
    cnas_loop loop;
    cnas_graph *g;
    /* the gates */
    gold_layout lay;
    int *node_of;
    int n_gates;
    double *k;                    /* resource weight per gate */
    int64_t *gate_flops, *gate_params;
    int64_t base_flops, base_params; /* the network with no operator at all */
    float *sig;
    double *S, *what, *dalpha;
    int *scratch, *sel;
    cnas_arch *live;              /* the operators not yet pruned */
    /* schedule state */
    double lambda, delta;
    int quiet, stopped;
    bool resumed;                 /* loaded from a checkpoint */
    int64_t correct, seen;        /* this epoch's training accuracy */
    double last_cost;
    /* snapshots */
    gold_snap *snaps;
    uint64_t *snap_masks;         /* n_points per snapshot */
    int n_snaps, cap_snaps;
} gold;

/* gold_nas.c */
void gold_arch_cost(const gold *m, const uint64_t *mask, int64_t *flops, int64_t *params,
                    int64_t *n_ops);

/* output.c: mark the front, write pareto.csv / .json / .svg / pareto_plot.dot and
 * snapshot_<i>.txt, report every snapshot (front first, by accuracy). */
cnas_status gold_write_outputs(gold *m, cnas_error *err);

#endif
