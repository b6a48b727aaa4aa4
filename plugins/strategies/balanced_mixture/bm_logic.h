/* The arithmetic of Balanced Mixture of SuperNets (Javan Roshtkhari et al. 2023, sections 3.2-3.4; docs/pooling.md), free of
 * any network or data so it can be tested on its own.
 *
 * S is the A x M score matrix (row-major, S[a·M + m]): an EMA of the validation
 * minibatch accuracy of configuration a on supernet m. The conditional
 * p(m|a) = softmax_m(T·S[a, :]) is balanced towards a uniform marginal p(m) by
 * Sinkhorn-like steps, each dividing every column by its marginal q and
 * renormalising the rows, until KL(q ‖ u) <= threshold. The marginals divided by are
 * kept (Q, in order), so that during an epoch the current S gives p(m|a) by
 * replaying the same divisions on softmax(T·S[a, :]), row by row.
 *
 * Everything is double precision: at T = 100 the softmax spans e^-100, which float
 * would flush to zero. */
#ifndef BM_LOGIC_H
#define BM_LOGIC_H

#include <stdbool.h>
#include <stdint.h>

/* Temperature of epoch e of E epochs: linear from t_start at e = 0 to t_end at
 * e = E - 1 (the reference's T0 + (Tmax - T0)·e/E over its E + 1 epochs 0..E). */
double bm_temperature(double t_start, double t_end, int64_t epoch, int64_t epochs);

/* d·old + (1 - d)·value. */
double bm_ema(double old, double value, double decay);

/* P = softmax over each row of T·S (A x M), max-subtracted. */
void bm_softmax_rows(const double *S, int A, int M, double T, double *P);
/* q[m] = mean over rows of P[:, m]. */
void bm_marginal(const double *P, int A, int M, double *q);
/* KL(q ‖ u) = Σ q_m log(M q_m), with 0 log 0 = 0. */
double bm_kl_uniform(const double *q, int M);

/* Balance P (A x M) in place. Appends each marginal divided by to Q (room for
 * max_iter·M doubles) and returns how many; *converged tells whether |KL| fell to
 * threshold within max_iter steps. */
int bm_balance(double *P, int A, int M, double threshold, int max_iter, double *Q,
               bool *converged);
/* Replay nq stored divisions on one row p (M entries), renormalising after each. */
void bm_apply_row(double *p, int M, const double *Q, int nq);
/* p(m|a) for row a of the current S: softmax(T·S[a, :]) with Q replayed. */
void bm_conditional_row(const double *S, int a, int M, double T, const double *Q, int nq,
                        double *p);

/* The category u in [0, 1) falls into, by cumulative sums of p (n entries summing
 * to about 1); the last category with a positive weight when rounding leaves u past
 * the total. */
int bm_pick(const double *p, int n, double u);

/* Index of the largest entry (the first one on ties). */
int bm_argmax(const double *row, int n);
/* order[0..n-1]: indices by score descending, ties by `second` descending (may be
 * NULL), then by index ascending. */
void bm_rank(const double *score, const double *second, int n, int *order);

#endif
