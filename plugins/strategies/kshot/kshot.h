/* The kshot strategy's state, shared by its files: kshot.c (set-up, training steps,
 * checkpoints, the component) and kshot_candidates.c (candidates, their codes, the final
 * evaluation and ranking). docs/kshot.md. */
#ifndef KSHOT_H
#define KSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/cnas.h>
#include <cnas/kit.h>

#include "kshot_model.h"

#define KS "kshot"

typedef enum phi_data { PHI_TRAIN, PHI_VAL, PHI_SAME } phi_data;

typedef struct kshot {
    cnas_search_env *env;
    const cnas_space_vtable *vt;
    /* keys */
    int K, m_paths, phi_every, warmup;
    bool warm_dirichlet, use_sample_path;
    phi_data phi_data;
    float phi_lr;
    cnas_arch_eval eval;

    /* dictionaries: nets[0] is env->space (the host saves it), nets[k] its copies */
    void *nets[KS_MAX_K];
    cnas_tensor **w[KS_MAX_K], **theta;
    int n_w;
    void *scratch;                  /* K > 1: the evaluation network of one candidate */
    cnas_tensor **scratch_w;
    cnas_named_tensor *buf_src, *buf_dst; /* batch-norm buffers: env->space -> scratch */
    int n_named;
    ks_model *model;
    cnas_optim *w_opt, *phi_opt;
    cnas_loop loop;
    cnas_graph *g;
    cnas_rng path_rng, code_rng, phi_rng;
    cnas_arch *path, **chunk;

    /* candidates, drawn at creation from their own stream; evaluated after the loop */
    int n_c, done, room;
    cnas_arch **cand;               /* room entries, the first n_c the candidates */
    int64_t *flops, *params;
    double *acc, *loss;             /* 2·n_c, NaN until evaluated (one allocation) */
} kshot;

/* A path for training: the space's sample, or its sample_path with paths = sample_path. */
cnas_status ks_draw_path(kshot *s, cnas_rng *r, cnas_arch *a, cnas_error *err);
/* Every architecture of a small space, else `want` distinct uniform draws (stream
 * kshot.candidates); those above max_flops (> 0) are left out. */
cnas_status ks_make_candidates(kshot *s, int want, int64_t limit, int64_t max_flops, int n_points,
                               cnas_error *err);
/* The candidates' codes at the end of an epoch: metrics and a line of codes.jsonl. */
cnas_status ks_log_codes(kshot *s, int64_t epoch, cnas_error *err);
/* The final evaluation from candidate s->done on, a checkpoint point after each, then
 * the ranking (ranking.tsv through report_result, candidates.csv). */
cnas_status ks_evaluate_candidates(kshot *s, cnas_error *err);

#endif
