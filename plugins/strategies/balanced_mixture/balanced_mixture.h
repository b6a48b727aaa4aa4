/* Balanced Mixture of SuperNets (Javan Roshtkhari, Toews, Pedersoli, AutoML-Conf 2023),
 * private declarations. docs/pooling.md; the reference is
 * mehravehj/Balanced-Mixture-of-SuperNets (resnet20 NAS_trainer.py).
 *
 * M supernets of one enumerable space, each with its own SGD optimiser and cosine
 * schedule. Every training step draws a configuration a uniformly, a supernet m from
 * the balanced p(m|a), takes one SGD step of supernet m on path a, measures the
 * accuracy of (m, a) on the next validation minibatch and folds it into the EMA
 * score S[a, m]. p(m|a) = softmax(T·S[a, :]) balanced towards a uniform marginal,
 * with T rising linearly over the epochs, so the assignment goes from soft to hard
 * and configurations that conflict end up on different supernets. At the end every
 * configuration is evaluated on the full validation split with its most likely
 * supernet, and all of them are reported, ranked. M = 1 is the plain single-supernet
 * baseline (uniform single-path sampling).
 *
 * Epochs: the reference loops e = 0..E (E + 1 epochs) with CosineAnnealingLR(T_max =
 * E + 1) and T_e = T0 + (Tmax - T0)·e/E. Here [train] epochs counts every epoch run:
 * epochs = E + 1 reproduces it exactly (cosine over `epochs`, T from t_start at the
 * first epoch to t_end at the last). The weights train with [train]'s SGD recipe;
 * the reference's is lr 0.1 to 0.001, momentum 0.9, weight decay 0, no clipping,
 * batch 128.
 *
 * Outputs in the run directory, besides the host's arch.txt / ranking.tsv (rank 0 is
 * the answer, every configuration is reported with its validation accuracy):
 *   ranking.csv    one row per configuration, best first: rank, enumeration index,
 *                  the space's notation, `choices` (the selected candidate of every
 *                  choice point; for resnet20_pool the pool bits of layers 1..9),
 *                  m*(a), full-validation accuracy and loss, S[a, m*], FLOPs,
 *                  parameters, p(m|a) and the step counts per supernet;
 *   ranking.json   the same plus the EMA row and the space's own JSON of each
 *                  configuration (for resnet20_pool both notations);
 *   pma.svg        a heatmap of p(m|a), configurations in enumeration order;
 *   mixture.jsonl  per epoch: temperature, the marginal p(m), p(m|a), S and counts. */
#ifndef BALANCED_MIXTURE_H
#define BALANCED_MIXTURE_H

#include <cnas/cnas.h>
#include <cnas/kit.h>

#include "bm_logic.h"

#define BM_MAX_SUPERNETS 64

typedef struct bm_net {
    void *space;                /* supernet 0 is env->space (borrowed); the others owned */
    cnas_tensor **weights;      /* its trainable tensors (borrowed from the space) */
    int n_weights;
    cnas_optim *opt;
} bm_net;

typedef struct bm_state {
    cnas_search_env *env;
    const cnas_space_vtable *vt;

    /* keys */
    int M;
    double decay, t_start, t_end, kl_threshold, s_init;
    int max_balance_steps;
    int final_top_k;

    /* the configurations */
    int A;
    cnas_arch **archs;
    int64_t *flops, *params;

    bm_net nets[BM_MAX_SUPERNETS];
    cnas_loop loop;

    /* mixture state, A x M row-major */
    double *S;
    int64_t *counts;
    double *Q;                  /* the divisions of this epoch's balancing, nq x M */
    int nq;
    cnas_rng path_rng, model_rng;

    cnas_graph *g;
    double T;                   /* this epoch's temperature */
    double val_sum;             /* this epoch's validation batch accuracies so far */
    int64_t val_n;
} bm_state;

#endif
