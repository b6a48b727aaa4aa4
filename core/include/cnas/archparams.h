/* cnas/archparams.h — architecture-parameter sets: the α of differentiable NAS.
 *
 * A set holds one matrix per group of choice points: tied, the points that share a
 * key (the space's `share_key`, e.g. "normal" / "reduce") share one matrix whose row
 * is the point's `local_index`, as DARTS ties every normal cell; untied, every cell
 * instance has its own ("normal.3"). A transform turns the matrices into the
 * mixture weights the space takes (softmax for DARTS, sigmoid gates for GOLD-NAS,
 * Gumbel-softmax for GDAS / SNAS), on the tape, so gradients reach α.
 *
 *     cnas_archparams *ap = cnas_archparams_new(env->space_vt, env->space, true, &err);
 *     cnas_archparams_init_normal(ap, env->seed, "arch_init", 1e-3f);
 *     ...
 *     const cnas_mix_weight *mix = cnas_archparams_mix(ap, g, CNAS_AP_SOFTMAX, NULL);
 *     cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, mix, NULL, true};
 *     cnas_tensor *logits = env->space_vt->forward(env->space, g, x, &fa);
 *     ...
 *     cnas_archparams_derive(ap, CNAS_AP_SOFTMAX, arch, &err);        // the paper's rule
 *     cnas_archparams_history(ap, env, "alpha.jsonl", epoch, CNAS_AP_SOFTMAX, NULL, &err);
 *
 * The set owns its tensors (flagged for gradients by cnas_grad_pass, not here). */
#ifndef CNAS_ARCHPARAMS_H
#define CNAS_ARCHPARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/ckio.h>
#include <cnas/space.h>
#include <cnas/strategy.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Append only. */
typedef enum cnas_ap_transform {
    CNAS_AP_SOFTMAX = 0,      /* softmax over a point's candidates (DARTS) */
    CNAS_AP_SIGMOID = 1,      /* independent gates σ(α) (GOLD-NAS) */
    CNAS_AP_GUMBEL_SOFT = 2,  /* softmax((α + Gumbel noise) / τ) (SNAS) */
    CNAS_AP_GUMBEL_HARD = 3,  /* one-hot forward, soft gradient (GDAS) */
    CNAS_AP_IDENTITY = 4,     /* α itself */
} cnas_ap_transform;

/* Options of a transform: τ for Gumbel, and the stream its noise comes from. */
typedef struct cnas_ap_opts {
    float tau;                /* Gumbel temperature; 0 means 1 */
    cnas_rng *rng;            /* Gumbel noise (borrowed); required for the Gumbel transforms */
} cnas_ap_opts;

typedef struct cnas_archparams cnas_archparams;

/* One matrix per share key (tie) or per (share key, instance) (untied). Every point
 * of a group must have the same candidate count. */
cnas_archparams *cnas_archparams_new(const cnas_space_vtable *vt, void *space, bool tie,
                                     cnas_error *err);
void cnas_archparams_free(cnas_archparams *ap);

/* α = scale·N(0, 1), group by group in order of first appearance, from the stream
 * (seed, purpose); DARTS uses 1e-3 and "arch_init". */
void cnas_archparams_init_normal(cnas_archparams *ap, uint64_t seed, const char *purpose,
                                 float scale);
void cnas_archparams_init_const(cnas_archparams *ap, float value);

int cnas_archparams_groups(const cnas_archparams *ap);
/* The groups' tensors ([rows, candidates]), for optimizers and gradient passes. */
cnas_tensor *const *cnas_archparams_tensors(const cnas_archparams *ap);
const char *cnas_archparams_key(const cnas_archparams *ap, int group);
int cnas_archparams_points(const cnas_archparams *ap);
/* The group of point p and its row in that group's matrix. */
int cnas_archparams_group_of(const cnas_archparams *ap, int point);
int cnas_archparams_row_of(const cnas_archparams *ap, int point);

/* The transformed weights of every group on g (one tensor per group, into out). */
cnas_status cnas_archparams_transform(const cnas_archparams *ap, cnas_graph *g,
                                      cnas_ap_transform tr, const cnas_ap_opts *o,
                                      cnas_tensor **out);
/* Mixture weights per choice point for a MIXTURE forward, from per-group tensors (for
 * strategies that compute their own, e.g. per-cell copies); valid until the next
 * call. */
const cnas_mix_weight *cnas_archparams_mix_from(cnas_archparams *ap, cnas_tensor *const *group_w);
/* transform + mix_from; NULL (graph error set) on failure. */
const cnas_mix_weight *cnas_archparams_mix(cnas_archparams *ap, cnas_graph *g, cnas_ap_transform tr,
                                           const cnas_ap_opts *o);

/* The transformed weights without a tape (Gumbel: the plain softmax), one row per
 * point: probs[p] points at point p's n_candidates values; valid until the next
 * call or free. */
const float *const *cnas_archparams_probs(cnas_archparams *ap, cnas_ap_transform tr,
                                          cnas_error *err);
/* The space's discretisation rule applied to probs (space->derive). */
cnas_status cnas_archparams_derive(cnas_archparams *ap, cnas_ap_transform tr, cnas_arch *out,
                                   cnas_error *err);
/* One JSON line appended to `file` in the run directory: {"epoch": e, <extra>, "<key>":
 * [[row], ...], ...} with the transformed weights of every group; extra is a JSON
 * fragment ("\"val_acc\": 0.9") or NULL. Each row is also logged at debug level. */
cnas_status cnas_archparams_history(cnas_archparams *ap, cnas_search_env *env, const char *file,
                                    int64_t epoch, cnas_ap_transform tr, const char *extra,
                                    cnas_error *err);
/* Every group's α as "<prefix>.alpha.<key>". */
cnas_status cnas_archparams_io(cnas_archparams *ap, cnas_ckio *io, const char *prefix);

#ifdef __cplusplus
}
#endif
#endif
