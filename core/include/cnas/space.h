/* cnas/space.h — the search space component contract.
 *
 * A space builds either a *supernet* (every candidate of every choice point) or a
 * stand-alone *network* for one architecture, out of op instances obtained from an
 * op factory. It describes its choice points — candidates, owning cell / layer,
 * and a sharing key such as "normal" / "reduce" — so a strategy can tie or untie
 * architecture parameters as its paper does. Forward modes:
 *   MIXTURE  each choice point combines its candidates with weights the strategy
 *            computed on the tape (softmax for DARTS, sigmoid gates for GOLD-NAS,
 *            per-cell copies for Λ-DARTS); gradients flow back to whatever made
 *            them. An optional architecture restricts the candidates (pruning).
 *   PATH     each choice point runs only its selected candidates (SETN, K-shot,
 *            balanced mixture, random search; a network always runs this way).
 * A space also turns weights into a discrete architecture (its paper's rule),
 * writes and parses its paper's notation, JSON and Graphviz drawings, samples and
 * enumerates architectures, and counts FLOPs and parameters.
 *
 * A strategy drives a space like this (α softmaxed per choice point by the kit):
 *
 *     const cnas_choice_point *pts;
 *     int n = vt->choice_points(space, &pts);        // e.g. 2 x 14 DARTS edges when tied
 *     const cnas_mix_weight *mix = cnas_archparams_mix(ap, g, CNAS_AP_SOFTMAX, NULL);
 *     cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_MIXTURE, mix, NULL, true};
 *     cnas_tensor *logits = vt->forward(space, g, x, &fa);        // the supernet
 *     cnas_arch *a = cnas_arch_new(n, &err);
 *     vt->sample(space, &rng, a, &err);                            // a random path
 *     fa = (cnas_space_forward_args){sizeof fa, CNAS_FWD_PATH, NULL, a, true};
 *     logits = vt->forward(space, g, x, &fa);                      // only that path
 *     char text[8192];
 *     vt->format(space, a, text, sizeof text, &err);               // "Genotype(normal=..."
 *
 * Required members: create, destroy, forward, tensors. Every other member is
 * optional: callers check it with CNAS_VT_HAS (plugin.h) first. A space author
 * writes the members in the order of the vtable; docs/plugins.md has a guide. */
#ifndef CNAS_SPACE_H
#define CNAS_SPACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cnas/arch.h>
#include <cnas/graph.h>
#include <cnas/op.h>
#include <cnas/params.h>
#include <cnas/rng.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cnas_space_build {
    CNAS_SPACE_SUPERNET = 1,
    CNAS_SPACE_NETWORK = 2,
} cnas_space_build;

typedef struct cnas_space_create_args {
    uint32_t size;               /* sizeof(cnas_space_create_args) as the host built it */
    const cnas_params *params;   /* the space's validated keys */
    int32_t in_channels, in_height, in_width;
    int32_t num_classes;
    const cnas_op_factory *ops;
    cnas_rng *init_rng;          /* parameter initialisation (borrowed) */
    cnas_space_build build;
    const cnas_arch *arch;       /* NETWORK: the architecture to build (borrowed) */
} cnas_space_create_args;

typedef struct cnas_choice_point {
    uint32_t size;
    const char *name;            /* e.g. "cell3.edge7" */
    const char *share_key;       /* points with equal key and local_index share weights when tied */
    int32_t local_index;         /* index within the share group, e.g. the edge number 0..13 */
    int32_t instance;            /* cell / layer the point belongs to */
    int32_t n_candidates;
    const char *const *candidates; /* candidate names, in weight-column order */
    int32_t node_from, node_to;  /* graph edge for drawings, -1 when not an edge */
} cnas_choice_point;

typedef enum cnas_forward_mode {
    CNAS_FWD_MIXTURE = 1,
    CNAS_FWD_PATH = 2,
} cnas_forward_mode;

/* Mixture weights of one choice point: row `row` of w ([rows, n_candidates], or
 * [n_candidates] with row 0). Tied points simply share the same (w, row). */
typedef struct cnas_mix_weight {
    cnas_tensor *w;
    int32_t row;
} cnas_mix_weight;

typedef struct cnas_space_forward_args {
    uint32_t size;
    cnas_forward_mode mode;
    const cnas_mix_weight *weights; /* MIXTURE: one per choice point */
    const cnas_arch *arch;          /* PATH: the selection; MIXTURE: allowed candidates or NULL */
    bool training;                  /* batch statistics, drop-path on */
    cnas_rng *rng;                  /* drop-path noise (borrowed), may be NULL */
    float drop_path;                /* drop-path probability (networks) */
    cnas_tensor **aux_logits;       /* receives auxiliary-head logits when the network has one */
} cnas_space_forward_args;

typedef struct cnas_space_vtable {
    uint32_t size;  /* sizeof(cnas_space_vtable) as the plugin was built */
    cnas_status (*create)(const cnas_space_create_args *a, void **self, cnas_error *err);
    void (*destroy)(void *self);

    /* The choice points (borrowed, valid until destroy); returns their count. */
    int (*choice_points)(void *self, const cnas_choice_point **points);
    /* Logits [N, num_classes]; NULL with the graph error set on failure. */
    cnas_tensor *(*forward)(void *self, cnas_graph *g, cnas_tensor *x,
                            const cnas_space_forward_args *a);
    /* Up to max owned tensors into out; returns the total count. */
    int (*tensors)(void *self, cnas_named_tensor *out, int max);

    /* The paper's discretisation: probs[p] holds point p's n_candidates weights. */
    cnas_status (*derive)(void *self, const float *const *probs, cnas_arch *out, cnas_error *err);
    /* The paper's notation, NUL-terminated into buf (n bytes). */
    cnas_status (*format)(void *self, const cnas_arch *a, char *buf, size_t n, cnas_error *err);
    cnas_status (*parse)(void *self, const char *text, cnas_arch *out, cnas_error *err);
    cnas_status (*write_json)(void *self, const cnas_arch *a, FILE *f, cnas_error *err);
    /* Graphviz drawings into dir (one file per cell type); returns how many via *n_files. */
    cnas_status (*write_dot)(void *self, const cnas_arch *a, const char *dir, int *n_files,
                             cnas_error *err);
    /* A uniformly random valid architecture. */
    cnas_status (*sample)(void *self, cnas_rng *rng, cnas_arch *out, cnas_error *err);
    /* Number of architectures when small enough to enumerate, else -1. */
    int64_t (*enumerate_count)(void *self);
    cnas_status (*enumerate)(void *self, int64_t index, cnas_arch *out, cnas_error *err);
    /* Multiply-accumulates of one forward of a single input, and trainable parameters,
     * of the stand-alone network of `a` (NULL: of this instance). */
    cnas_status (*cost)(void *self, const cnas_arch *a, int64_t *flops, int64_t *params,
                        cnas_error *err);

    /* ---- appended in ABI 1.1 (optional: check with CNAS_VT_HAS) ------------------- */

    /* Multiply-accumulates per input and parameters of candidate c of choice point p
     * at its position (its channels, stride and input size) as a stand-alone network
     * holds it, without building a network (so swapping candidates changes cost() by
     * the difference): resource terms and FLOPs-bounded search. CNAS_ERR_UNSUPPORTED where a
     * candidate's cost depends on the other choices (it is not separable). */
    cnas_status (*candidate_cost)(void *self, int point, int candidate, int64_t *flops,
                                  int64_t *params, cnas_error *err);
    /* A random valid architecture drawn from per-point weights (probs as for derive)
     * under the space's own rule (DARTS cell: each node's two inputs without
     * replacement, each edge's op from its non-none weights), and its log-probability
     * (log_prob may be NULL): sampling candidates from a learned distribution
     * (SETN's evaluator). */
    cnas_status (*sample_weighted)(void *self, const float *const *probs, cnas_rng *rng,
                                   cnas_arch *out, double *log_prob, cnas_error *err);
    /* log p(a) under the rule of sample_weighted: ranking candidates by likelihood. */
    cnas_status (*log_prob)(void *self, const float *const *probs, const cnas_arch *a,
                            double *out, cnas_error *err);
    /* A random single path for training a supernet the way its paper samples it, which
     * may differ from a valid architecture (NAS-Bench-201's SETN: every cell its own
     * path, no node left with only `none` inputs). Strategies fall back to sample(). */
    cnas_status (*sample_path)(void *self, cnas_rng *rng, cnas_arch *out, cnas_error *err);
} cnas_space_vtable;

#ifdef __cplusplus
}
#endif
#endif
