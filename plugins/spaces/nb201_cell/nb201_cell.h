/* The NAS-Bench-201 cell search space (Dong & Yang, ICLR 2020; reference
 * D-X-Y/AutoDL-Projects, xautodl/models/cell_searchs/ and cell_infers/), private
 * declarations. docs/nb201.md describes the space.
 *
 * Macro (TinyNetwork): conv 3x3 (in -> C, no bias) + BN; three stages of N cells at C, 2C,
 * 4C with an nb201_resblock (stride 2) between stages; BN + ReLU, global average pooling, a
 * linear classifier. The reference's `cells` ModuleList holds 3N + 2 modules: stage s's
 * cell i is module s(N+1) + i, the blocks are modules N and 2N + 1.
 *
 * Cell: nodes 0..n-1 (key `nodes`, n = 4 by default, the reference's max_nodes; 2..4),
 * node i = Σ_{j<i} op_{i<-j}(node j), output node n-1; edge index e = i(i-1)/2 + j, so the
 * edges are 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2 (the reference's sorted edge keys), of which
 * a cell of n nodes has the first E = n(n-1)/2. Every cell edge maps C -> C at stride 1.
 *
 * Choice points: E per cell, cell-major (point = E·cell + edge), share_key "cell",
 * local_index = edge, instance = cell (0..3N-1, counting search cells only). A valid
 * architecture selects exactly one candidate per point and the same one in every cell. */
#ifndef NB201_CELL_H
#define NB201_CELL_H

#include <cnas/cnas.h>

#define NB_NAME "nb201_cell"
#define NB_MAX_CANDIDATES 32
/* The reference cell's size, and the maximum of the key `nodes` (fixed-size arrays). */
#define NB_EDGES 6
#define NB_NODES 4
#define NB_MIN_NODES 2
#define NB_STAGES 3             /* at most; the key `stages` */
/* 15,625 architectures of the reference's five candidates. */
#define NB_REFERENCE_COUNT 15625

/* Edge e goes from node nb_from[e] to node nb_to[e]; a cell of n nodes has edges
 * 0 .. n(n-1)/2 - 1 of these. */
extern const int nb_from[NB_EDGES], nb_to[NB_EDGES];

typedef struct nb_op {
    const cnas_op_vtable *vt;   /* NULL where not instantiated */
    void *self;
    char prefix[64];            /* name prefix of its tensors */
} nb_op;

typedef struct nb_cell {
    int stage, module;          /* stage 0..2; index in the reference's cells ModuleList */
    int C, h, w;
    nb_op *ops;                 /* [n_edges * n_cand]: edge e, candidate k at e·n_cand + k */
} nb_cell;

typedef struct nb_tensor {
    char name[64];
    cnas_tensor *t;
    cnas_tensor_role role;
} nb_tensor;

typedef struct nb_space {
    cnas_space_build build;
    int C, N, n_cells;          /* n_cells = 3N search cells */
    int nodes, n_edges;         /* nodes per cell (2..NB_NODES), n_edges = nodes(nodes-1)/2 */
    int in_c, in_h, in_w, num_classes;
    int stages;                 /* stages of cells, 1..NB_STAGES */
    int affine, track;          /* the search cells' batch norms */
    int recompute;              /* training steps: recompute mixed edges / path operations */
    int benchmark_order;        /* enumerate in the benchmark's (API) index order */
    int n_cand, none_idx;
    int reference_set;          /* candidates are the reference's five, in its order */
    char cand_names[NB_MAX_CANDIDATES][48];   /* as written in the notation */
    const char *cand_ptrs[NB_MAX_CANDIDATES];
    char op_names[NB_MAX_CANDIDATES][64];     /* as asked of the op factory */
    cnas_op_factory factory;    /* copied; its ctx is borrowed */
    const cnas_params *params;  /* borrowed */

    /* Owned tensors (ops own theirs): stem, final BN, classifier. */
    nb_tensor own[16];
    int n_own;
    cnas_tensor *stem_w, *stem_g, *stem_b, *stem_rm, *stem_rv;
    cnas_tensor *last_g, *last_b, *last_rm, *last_rv;
    cnas_tensor *fc_w, *fc_b;
    nb_op res[NB_STAGES - 1];   /* the block before stage s is res[s-1] */

    nb_cell *cells;
    cnas_choice_point *points;
    char (*point_names)[32];
    int n_points;
    cnas_arch *arch;            /* NETWORK: the architecture built */
    char (*names)[160];         /* composed tensor names */
    int names_cap;

    /* Cost of each candidate in a stand-alone network, per stage (computed on first use). */
    int costs_known;
    int64_t cand_flops[NB_STAGES][NB_MAX_CANDIDATES], cand_params[NB_STAGES][NB_MAX_CANDIDATES];

    /* The benchmark's index order (reference candidates only; computed on first use):
     * api_to_gen[api index] = generation index, gen_to_api its inverse. */
    int32_t *api_to_gen, *gen_to_api;
} nb_space;

/* network.c */
cnas_status nb_create(const cnas_space_create_args *a, void **self, cnas_error *err);
void nb_destroy(void *self);
int nb_choice_points(void *self, const cnas_choice_point **points);
cnas_tensor *nb_forward(void *self, cnas_graph *g, cnas_tensor *x, const cnas_space_forward_args *a);
int nb_tensors(void *self, cnas_named_tensor *out, int max);
cnas_status nb_cost(void *self, const cnas_arch *a, int64_t *flops, int64_t *params,
                    cnas_error *err);
cnas_status nb_candidate_cost(void *self, int point, int candidate, int64_t *flops,
                              int64_t *params, cnas_error *err);

/* notation.c */
cnas_status nb_derive(void *self, const float *const *probs, cnas_arch *out, cnas_error *err);
cnas_status nb_format(void *self, const cnas_arch *a, char *buf, size_t n, cnas_error *err);
cnas_status nb_parse(void *self, const char *text, cnas_arch *out, cnas_error *err);
cnas_status nb_write_json(void *self, const cnas_arch *a, FILE *f, cnas_error *err);
cnas_status nb_write_dot(void *self, const cnas_arch *a, const char *dir, int *n_files,
                         cnas_error *err);
cnas_status nb_sample(void *self, cnas_rng *rng, cnas_arch *out, cnas_error *err);
int64_t nb_enumerate_count(void *self);
cnas_status nb_enumerate(void *self, int64_t index, cnas_arch *out, cnas_error *err);
cnas_status nb_sample_weighted(void *self, const float *const *probs, cnas_rng *rng,
                               cnas_arch *out, double *log_prob, cnas_error *err);
cnas_status nb_sample_path(void *self, cnas_rng *rng, cnas_arch *out, cnas_error *err);
cnas_status nb_log_prob(void *self, const float *const *probs, const cnas_arch *a, double *out,
                        cnas_error *err);

/* Shared helpers (notation.c). */
/* The candidate of each edge of a valid architecture (one per point, every cell like cell
 * 0) into ops; an error naming the point otherwise. */
cnas_status nb_arch_ops(const nb_space *s, const cnas_arch *a, int ops[NB_EDGES],
                        cnas_error *err);
/* Set every cell's edge e to candidate ops[e]. */
void nb_set_ops(const nb_space *s, cnas_arch *a, const int ops[NB_EDGES]);
/* The benchmark's permutation (builds it on first use); CNAS_ERR_UNSUPPORTED unless the
 * space is the reference's: 4 nodes and its five candidates. */
cnas_status nb_benchmark_order(nb_space *s, cnas_error *err);

/* The benchmark's setting: 4 nodes, the reference's five candidates in their order. */
static inline int nb_is_benchmark(const nb_space *s)
{
    return s->nodes == NB_NODES && s->reference_set;
}

/* Edge index of node `to` <- node `from` (from < to). */
static inline int nb_edge(int to, int from)
{
    return to * (to - 1) / 2 + from;
}

#endif
