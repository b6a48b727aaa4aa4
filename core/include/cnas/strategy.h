/* cnas/strategy.h — the search strategy component contract and the host services
 * a strategy runs on.
 *
 * A strategy owns its architecture parameters and its search loop. The host hands
 * it a cnas_search_env: the search space (a supernet already built, and a way to
 * build more), batches from the data pipeline, evaluation, metrics, logging,
 * checkpoint cadence and the stop flag. A strategy saves and restores its own
 * state through checkpoint records, so a resumed search equals an uninterrupted
 * one, and it reports its result — one architecture or a ranked list — through
 * env->report() / env->report_result().
 *
 * Most of a strategy is the strategy kit's (<cnas/kit.h>): the loop, the checkpoint
 * routine, architecture parameters. A single-path strategy in outline:
 *
 *     static cnas_status step(void *self, cnas_loop_step *s, cnas_error *err)
 *     {
 *         mine *m = self;                            // a path, then one SGD step on it
 *         m->env->space_vt->sample(m->env->space, &m->rng, m->arch, err);
 *         cnas_path_batch b = {m->env, NULL, m->arch, s->x, s->y, 0};
 *         cnas_status st = cnas_grad_pass(m->g, cnas_path_loss, &b, m->w, m->n_w, NULL, 0,
 *                                         &s->loss, err);
 *         s->correct = b.correct;
 *         return st ? st : cnas_kit_update(m->env, m->opt, s->lr, true, err);
 *     }
 *     static const cnas_loop_hooks hooks = {sizeof hooks, NULL, step, NULL};
 *     static cnas_status run(void *self, cnas_error *err)
 *     {
 *         mine *m = self;
 *         cnas_status st = cnas_loop_run(&m->loop, &hooks, m, err);  // epochs, checkpoints
 *         if (st)
 *             return st;                             // CNAS_ERR_INTERRUPTED: checkpointed
 *         cnas_result r = {sizeof r, 0, best, acc, acc, -1, -1};
 *         return m->env->report_result(m->env, &r, err);
 *     }
 *
 * The contract in full — who saves what, step numbering, what run returns after a
 * stop, batch norm in evaluation, staying exactly resumable — is docs/strategies.md. */
#ifndef CNAS_STRATEGY_H
#define CNAS_STRATEGY_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/arch.h>
#include <cnas/checkpoint.h>
#include <cnas/graph.h>
#include <cnas/params.h>
#include <cnas/space.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cnas_data_stream {
    CNAS_STREAM_TRAIN = 0,     /* the weight-training split, one pass per epoch */
    CNAS_STREAM_VAL = 1,       /* the validation split, one pass per call sequence */
    CNAS_STREAM_VAL_CYCLE = 2, /* validation batches forever, reshuffled at each wrap (DARTS' α batches) */
    CNAS_STREAM_TEST = 3,
    /* 1.1: training batches forever, shuffled and augmented, independent of TRAIN's
     * epoch (batch-norm recalibration, extra steps such as K-shot's simplex-net). */
    CNAS_STREAM_TRAIN_CYCLE = 4,
} cnas_data_stream;

typedef enum cnas_log_level {
    CNAS_LOG_ERROR = 0,
    CNAS_LOG_WARN = 1,
    CNAS_LOG_INFO = 2,
    CNAS_LOG_DEBUG = 3,
} cnas_log_level;

/* A weight-training recipe read from [train] (the paper's defaults unless set). */
typedef struct cnas_train_settings {
    uint32_t size;
    int32_t epochs;
    int32_t batch_size;
    float lr, lr_min;
    int32_t lr_schedule;        /* cnas_schedule_kind */
    float momentum;
    bool nesterov;
    float weight_decay;
    float grad_clip;            /* 0 = off */
    float auxiliary_weight;
    float drop_path;
    float label_smoothing;
    /* 1.2: weight of the DGConv regulariser Σ nnz(U) (cnas/dgconv.h) in the weight loss;
     * read it only when size covers it. */
    float dgconv_penalty;
} cnas_train_settings;

/* Builds logits for a batch x; used by evaluation. */
typedef cnas_tensor *(*cnas_logits_fn)(cnas_graph *g, cnas_tensor *x, void *ctx);

typedef struct cnas_search_env cnas_search_env;

/* 1.1: how env->evaluate_arch evaluates one architecture in PATH mode. */
typedef enum cnas_eval_bn {
    CNAS_EVAL_BN_RUNNING = 0,     /* batch norm with its running statistics (eval mode) */
    CNAS_EVAL_BN_BATCH = 1,       /* batch statistics of each evaluation batch (DARTS, SETN) */
    CNAS_EVAL_BN_RECALIBRATE = 2, /* running statistics re-estimated first on recalibrate_batches
                                   * TRAIN_CYCLE batches (SPOS) */
} cnas_eval_bn;

typedef struct cnas_arch_eval {
    uint32_t size;                /* sizeof(cnas_arch_eval) as the strategy built it */
    void *space;                  /* a supernet or network instance; NULL: env->space */
    const cnas_arch *arch;        /* the path (NULL: a network's own) */
    cnas_data_stream stream;      /* VAL, TEST, or VAL_CYCLE / TRAIN_CYCLE (then max_batches) */
    int32_t max_batches;          /* 0: the whole split (VAL / TEST) */
    cnas_eval_bn bn;
    int32_t recalibrate_batches;  /* CNAS_EVAL_BN_RECALIBRATE: how many (0 means 50) */
} cnas_arch_eval;

/* 1.1: one result with all its objectives. */
typedef struct cnas_result {
    uint32_t size;                /* sizeof(cnas_result) as the strategy built it */
    int32_t rank;                 /* 0 is the answer */
    const cnas_arch *arch;        /* NULL: no architecture (retraining) */
    double score;                 /* the strategy's own score (higher is better) */
    double accuracy;              /* NaN when not measured */
    int64_t flops, params;        /* -1: the host computes them with space->cost */
} cnas_result;

struct cnas_search_env {
    uint32_t size;                      /* sizeof(cnas_search_env) as the host built it */

    /* The space: its component vtable and a supernet built from [space]. */
    const cnas_space_vtable *space_vt;
    void *space;
    int32_t in_channels, in_height, in_width, num_classes;
    const cnas_train_settings *train;
    uint64_t seed;
    const char *run_dir;

    /* Another supernet instance of the same space (balanced mixture, K-shot); destroy
     * it with space_vt->destroy. init_stream names the RNG stream for its weights. */
    cnas_status (*create_supernet)(cnas_search_env *env, const char *init_stream, void **space,
                                   cnas_error *err);

    /* Data. Epoch e starts with begin_epoch(e); next_batch creates x [B, C, H, W] in g
     * and points *labels at B labels (valid until the next call on that stream);
     * returns 1 for a batch, 0 when a TRAIN / VAL / TEST pass has ended. */
    cnas_status (*begin_epoch)(cnas_search_env *env, int64_t epoch, cnas_error *err);
    int (*next_batch)(cnas_search_env *env, cnas_data_stream s, cnas_graph *g, cnas_tensor **x,
                      const int32_t **labels, cnas_error *err);
    int64_t (*batches_per_epoch)(cnas_search_env *env, cnas_data_stream s);
    /* Loss and top-1 accuracy of fn over a whole split, no tape, training off. */
    cnas_status (*evaluate)(cnas_search_env *env, cnas_data_stream s, cnas_logits_fn fn,
                            void *ctx, double *loss, double *accuracy, cnas_error *err);

    /* Observability. */
    void (*log)(cnas_search_env *env, cnas_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* A named value at a step (written to metrics.jsonl / .csv at end_step / end_epoch). */
    void (*metric)(cnas_search_env *env, const char *name, double value);
    void (*end_step)(cnas_search_env *env, int64_t epoch, int64_t step);
    void (*end_epoch)(cnas_search_env *env, int64_t epoch);
    /* Append a line of text to a named file in the run directory (alpha history, ...). */
    cnas_status (*append)(cnas_search_env *env, const char *file, const char *text,
                          cnas_error *err);

    /* Checkpoints: call at every step boundary with the position reached; the host
     * decides whether it is time, and if so calls the strategy's save() and writes
     * the checkpoint atomically. */
    cnas_status (*checkpoint_point)(cnas_search_env *env, int64_t epoch, int64_t step,
                                    bool epoch_end, cnas_error *err);
    bool (*stop_requested)(cnas_search_env *env);

    /* Results: rank 0 is the answer; score is the strategy's own (e.g. val accuracy). */
    cnas_status (*report)(cnas_search_env *env, int rank, const cnas_arch *arch, double score,
                          cnas_error *err);

    void *host;                         /* the host's private state */

    /* ---- appended in ABI 1.1 ---------------------------------------------------- */

    /* The stand-alone network of `arch` with the [network] settings (a strategy that
     * trains candidates from scratch); weights from the stream init_stream; destroy it
     * with space_vt->destroy. */
    cnas_status (*create_network)(cnas_search_env *env, const cnas_arch *arch,
                                  const char *init_stream, void **net, cnas_error *err);
    /* Loss and top-1 accuracy of one architecture (see cnas_arch_eval). The space's
     * batch-norm buffers are restored afterwards, so evaluating never changes the
     * supernet a search goes on training. */
    cnas_status (*evaluate_arch)(cnas_search_env *env, const cnas_arch_eval *e, double *loss,
                                 double *accuracy, cnas_error *err);
    /* report() with every objective: ranking.tsv / ranking.csv carry rank, score,
     * accuracy, FLOPs, parameters and the architecture. */
    cnas_status (*report_result)(cnas_search_env *env, const cnas_result *r, cnas_error *err);
};

/* How a search holds memory (ABI 1.3), for the host's estimate before the run starts
 * ([run] memory_check, docs/config.md). The host presets one supernet run as a mixture of
 * every candidate, no copies, every gradient kept; a strategy's `memory` member corrects
 * what differs. */
typedef struct cnas_strategy_memory {
    uint32_t size;         /* sizeof as the host was built: write only members it covers */
    bool single_path;      /* every forward of the supernet runs one sampled architecture,
                            * never the mixture: activations are measured on a sampled path */
    double supernets;      /* sets of supernet weights trained, each with its gradient and
                            * momentum (a balanced mixture's M, K-shot's K); 1 */
    double weight_copies;  /* further buffers the size of one set of weights (second-order
                            * DARTS's saved weights, gradients and direction); 0 */
    bool releases_grads;   /* its training graph recycles intermediate gradients
                            * (cnas_graph_set_release_grads): measured so; false */
} cnas_strategy_memory;

typedef struct cnas_strategy_vtable {
    uint32_t size;  /* sizeof(cnas_strategy_vtable) as the plugin was built */
    cnas_status (*create)(const cnas_params *p, cnas_search_env *env, void **self,
                          cnas_error *err);
    void (*destroy)(void *self);
    /* Run (or, after load, continue) the search to the end or until stop_requested. */
    cnas_status (*run)(void *self, cnas_error *err);
    /* Everything needed to continue: its parameters, optimizer states, RNG streams,
     * position and supernet weights it owns beyond env->space. */
    cnas_status (*save)(void *self, cnas_ckpt *ck, cnas_error *err);
    cnas_status (*load)(void *self, const cnas_ckpt *ck, cnas_error *err);

    /* ---- appended in ABI 1.3 (optional) ------------------------------------------ */

    /* Describe the memory a search with keys `p` holds (see cnas_strategy_memory); called
     * before create(), without an env. NULL: one supernet, run as a mixture. */
    cnas_status (*memory)(const cnas_params *p, cnas_strategy_memory *m, cnas_error *err);
} cnas_strategy_vtable;

#ifdef __cplusplus
}
#endif
#endif
