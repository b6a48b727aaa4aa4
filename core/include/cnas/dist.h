/* cnas/dist.h — data parallelism over MPI (docs/distributed.md).
 *
 * libcnas is built with or without MPI (meson option `mpi`). Without it, and in a
 * process not started by an MPI launcher, there is one rank and every function here
 * is a no-op: nothing changes.
 *
 * Two groups matter. The *world* is every process of the job. The *run group* is the
 * set of processes that run one search or training together: the world during a
 * data-parallel cnas_run, a group of one otherwise (stand-alone training gives each
 * rank its own architectures). Collectives below act on the run group.
 *
 * Data parallelism in a run (the search loop, loop.c, and the host, search.c):
 *   - the loop splits each global batch it hands to a step into contiguous row ranges,
 *     one per rank (sizes differ by at most one row; cnas_dist_rows);
 *   - every optimizer step all-reduces its parameters' gradients first, each rank's
 *     gradient weighted by its share of the batch that produced it (the one reduction
 *     point: cnas_optim_step; cnas_kit_update reduces before clipping);
 *   - batch norm in training mode inside a step normalises with the statistics of the
 *     global batch (sums all-reduced across ranks, forward and backward), so every rank
 *     keeps the same running statistics and a step means what it means on one rank;
 *   - after every step the loss and top-1 hits of the global batch are summed;
 *   - evaluation passes are spread over the ranks batch by batch and their sums
 *     combined, so every rank takes the same decisions from them. */
#ifndef CNAS_DIST_H
#define CNAS_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cnas/status.h>
#include <cnas/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* True when libcnas was built with MPI. */
bool cnas_dist_built(void);
/* Initialise MPI when the process was started by an MPI launcher (mpirun, srun with
 * PMI / PMIx) and CNAS_MPI is not 0; else stay a single rank. Safe to call once. */
cnas_status cnas_dist_init(int *argc, char ***argv, cnas_error *err);
void cnas_dist_finalize(void);
/* Stop every process of the job at once (after a failure one rank cannot report to the
 * others; a collective would otherwise wait forever). */
void cnas_dist_abort(int code);

int cnas_dist_world_rank(void);
int cnas_dist_world_size(void);
/* Processes of the job on this machine. */
int cnas_dist_local_size(void);
/* OpenMP threads for this process when [run] threads = 0: the processors it may run on
 * (its affinity mask), shared with the other ranks on the machine; 0 without MPI (all
 * processors, as before). */
int cnas_dist_default_threads(void);

/* The run group: the world when data_parallel, this process alone otherwise. */
void cnas_dist_set_data_parallel(bool data_parallel);
bool cnas_dist_data_parallel(void);
int cnas_dist_rank(void);
int cnas_dist_size(void);

/* This rank's rows [*lo, *hi) of a global batch of n rows and its weight in the
 * reductions (rows / n). A batch of fewer rows than ranks is not split: every rank
 * holds it whole, with weight 1 / size. */
void cnas_dist_rows(int64_t n, int64_t *lo, int64_t *hi, double *weight);

/* The weights of the current loop step: the TRAIN batch's, and the VAL_CYCLE batch's
 * when the loop drew one (negative: none). cnas_kit_update reduces with the TRAIN
 * weight; a direct cnas_optim_step with the VAL_CYCLE weight when there is one (the
 * architecture step of bilevel strategies), else the TRAIN weight. Gradients of a
 * batch every rank holds whole are the same on every rank, so any weights summing to
 * one reduce them to themselves. */
void cnas_dist_step_weights(double train, double val);
double cnas_dist_train_weight(void);
double cnas_dist_arch_weight(void);

/* Σ_r weight_r · grad_r over the run group, in place, for every tensor with a gradient
 * (one message for all of them). */
cnas_status cnas_dist_reduce_grads(cnas_tensor *const *params, int n, double weight,
                                   cnas_error *err);

/* Global-batch statistics in batch norm (norm.c): on for the step functions of a
 * data-parallel run (loop.c), off in evaluation passes, which spread whole batches over
 * the ranks. Returns the previous setting. */
bool cnas_dist_sync_batch_stats(bool on);
bool cnas_dist_batch_stats_synced(void);
/* End of a loop step: the weighted loss and the top-1 hits of the global batch, in
 * place (NaN loss / negative hits: not reported); whole: every rank held the TRAIN
 * batch whole (its hits count once). */
cnas_status cnas_dist_step_end(double *loss, int64_t *correct, bool whole, cnas_error *err);

/* Sum in place over the run group with MPI_Allreduce (batch-norm sums). */
cnas_status cnas_dist_allreduce_f64(double *v, int64_t n, cnas_error *err);
/* Sums over the run group, the same bits on every rank (gathered, added in rank order). */
cnas_status cnas_dist_sum_f64(double *v, int n, cnas_error *err);
/* Weighted means over the run group, the same bits on every rank: v_0 + Σ_r w_r (v_r -
 * v_0) in rank order, so values equal on every rank stay exactly what they are. */
cnas_status cnas_dist_mean_f64(double *v, int n, double w, cnas_error *err);
/* Element-wise maximum over the run group. */
cnas_status cnas_dist_max_i64(int64_t *v, int n, cnas_error *err);
/* Rank 0's bytes to every rank of the run group. */
cnas_status cnas_dist_bcast(void *buf, size_t bytes, cnas_error *err);
/* True when every rank of the run group holds the same 64-bit value. */
cnas_status cnas_dist_same_u64(uint64_t v, bool *same, cnas_error *err);

/* World messages (stand-alone training's work queue): blocking send; a receive of a
 * message with this tag from any rank (*src set), blocking or polled (returns false
 * when none is waiting). */
cnas_status cnas_dist_send(int dest, int tag, const void *buf, size_t bytes, cnas_error *err);
bool cnas_dist_recv(int tag, void *buf, size_t bytes, int *src, bool wait);
/* World broadcast from world rank 0. */
cnas_status cnas_dist_world_bcast(void *buf, size_t bytes, cnas_error *err);

#ifdef __cplusplus
}
#endif
#endif
