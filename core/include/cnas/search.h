/* cnas/search.h — running a search or a retraining on the host services.
 *
 * The host (the cnas CLI) resolves the configuration and the plugins, opens the
 * data pipeline, then hands a cnas_run_spec to cnas_run(): it builds the space
 * (a supernet for a search, a network for retraining), creates the strategy (or
 * the built-in trainer), restores a checkpoint when resuming, runs, and writes the
 * results into the run directory: arch.txt (the space's notation), arch.json, a
 * .dot drawing per cell (plus .png / .svg when Graphviz is installed), metrics,
 * checkpoints. */
#ifndef CNAS_SEARCH_H
#define CNAS_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/data.h>
#include <cnas/op.h>
#include <cnas/space.h>
#include <cnas/strategy.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cnas_run_kind {
    CNAS_RUN_SEARCH = 1,
    CNAS_RUN_TRAIN = 2,
} cnas_run_kind;

typedef struct cnas_checkpoint_settings {
    int64_t every_steps;      /* 0 = off */
    double every_minutes;     /* 0 = off */
    int64_t every_epochs;     /* 0 = off */
} cnas_checkpoint_settings;

/* Where log lines go (the host's logger); level as cnas_log_level. */
typedef void (*cnas_log_sink)(void *ctx, int level, const char *msg);

typedef struct cnas_run_spec {
    cnas_run_kind kind;
    const char *run_dir;
    uint64_t seed;

    const cnas_space_vtable *space_vt;
    const cnas_params *space_params;   /* for retraining: [space] overlaid by [network] */
    const cnas_op_factory *ops;
    const cnas_arch *arch;             /* CNAS_RUN_TRAIN: the architecture to train */
    const char *arch_text;             /* CNAS_RUN_TRAIN: the same, as text (if parsed by the host) */

    const cnas_strategy_vtable *strategy_vt; /* NULL for CNAS_RUN_TRAIN: the built-in trainer */
    const cnas_params *strategy_params;

    cnas_data *data;                   /* the opened pipeline (borrowed) */
    cnas_augment augment;              /* training augmentation (crop, flip, cutout) */
    bool plain_val_cycle;              /* VAL_CYCLE batches without augmentation */
    bool prefetch;                     /* prepare batches on a worker thread */
    bool drop_last;                    /* drop the last incomplete training batch */
    int64_t eval_batch_size;
    const cnas_train_settings *train;
    cnas_checkpoint_settings checkpoint;

    const char *config_text;           /* the resolved configuration, stored in checkpoints;
                                        * a resume compares it without the [run] keys
                                        * that change nothing (threads, log_level, ...) */
    const char *fingerprint;           /* plugin names and versions; resume must match */
    const char *resume_from;           /* a checkpoint to continue from, or NULL */

    cnas_log_sink log;
    void *log_ctx;
    bool (*stop_requested)(void);
    bool progress_tty;                 /* rewrite one progress line instead of printing lines */
    const cnas_params *network_params; /* [space] overlaid by [network]: env->create_network
                                        * (NULL: space_params) */
    /* Data parallel over the MPI world (dist.h, docs/distributed.md): every rank calls
     * cnas_run with the same spec except run_dir, which only world rank 0 writes
     * (checkpoints are written by rank 0 alone; the other ranks get a scratch directory
     * for whatever else writes into run_dir). */
    bool data_parallel;
    /* Called after every step (stand-alone training's work queue), may be NULL. */
    void (*step_hook)(void *ctx);
    void *step_hook_ctx;
    /* Training samples per epoch, drawn in turn from shuffled passes over the training
     * split (0: an epoch is the whole split). cnas_iter_set_epoch_samples. */
    int64_t epoch_samples;
} cnas_run_spec;

typedef struct cnas_run_result {
    double score;          /* the strategy's score of its answer (val / test accuracy) */
    char arch_text[8192];  /* the answer in the space's notation ("" for retraining) */
    int64_t flops, params; /* of the answer's stand-alone network (or the trained network) */
} cnas_run_result;

/* Runs to the end, or until stop_requested (then a checkpoint is written and
 * CNAS_ERR_INTERRUPTED returned). */
cnas_status cnas_run(const cnas_run_spec *spec, cnas_run_result *result, cnas_error *err);

#ifdef __cplusplus
}
#endif
#endif
