/* The DARTS cell search space (Liu et al., ICLR 2019), private declarations.
 *
 * Layout as the reference model_search.py / model.py: a 3x3 conv stem, `layers`
 * cells with reductions at layers/3 and 2·layers/3 (channels double there), each
 * cell a DAG over two inputs and `nodes` intermediate nodes where node i sums one
 * edge from every earlier state (2+3+4+5 = 14 edges for 4 nodes, edge index
 * i(i+3)/2 + j), output the concatenation of the last `multiplier` nodes, then
 * global average pooling and a linear classifier. */
#ifndef DARTS_CELL_H
#define DARTS_CELL_H

#include <cnas/cnas.h>

#define DC_MAX_CANDIDATES 32
#define DC_MAX_NODES 8

typedef struct dc_op {
    const cnas_op_vtable *vt;
    void *self;
    int cand;           /* candidate index, -1 for preprocessing */
    int identity;       /* skip_connect at stride 1: drop-path does not apply */
    char prefix[64];    /* name prefix of its tensors */
} dc_op;

typedef struct dc_edge {
    int point;          /* global choice point index */
    int from, to;       /* state indices: inputs 0, 1; nodes 2.. */
    int stride;
    dc_op *ops;         /* by candidate; vt == NULL where not instantiated */
} dc_edge;

typedef struct dc_cell {
    int reduction, reduction_prev;
    int C;
    int h_in, w_in, h_out, w_out;   /* spatial size of the cell inputs / nodes */
    int c_pp, c_p;                  /* input channels of the two preprocessors */
    dc_op pre0, pre1;
    dc_edge *edges;
} dc_cell;

typedef struct dc_tensor {
    char name[96];
    cnas_tensor *t;
    cnas_tensor_role role;
} dc_tensor;

typedef struct dc_space {
    cnas_space_build build;
    int nodes, multiplier, layers, C, stem_mult;
    int in_c, in_h, in_w, num_classes;
    int n_cand, none_idx;
    char cand_names[DC_MAX_CANDIDATES][48];
    const char *cand_ptrs[DC_MAX_CANDIDATES];
    int n_edges;                    /* per cell */
    int affine, track;
    int auxiliary, aux_cell, aux_hw;
    int recompute;                  /* supernet mixture steps: recompute mixed edges */
    int skip_bn;                    /* supernet: skip_connect at stride 1 gets a BN (key
                                     * skip_bn, which only gold_cell declares) */
    cnas_op_factory factory;        /* copied; its ctx is borrowed */

    /* Owned tensors: stem, head, auxiliary head (ops own theirs). */
    dc_tensor *own;
    int n_own;
    cnas_tensor *stem_w, *stem_g, *stem_b, *stem_rm, *stem_rv;
    cnas_tensor *fc_w, *fc_b;
    cnas_tensor *aux_w1, *aux_g1, *aux_b1, *aux_rm1, *aux_rv1;
    cnas_tensor *aux_w2, *aux_g2, *aux_b2, *aux_rm2, *aux_rv2;
    cnas_tensor *aux_fc_w, *aux_fc_b;

    dc_cell *cells;
    cnas_choice_point *points;
    int n_points;
    char (*point_names)[32];
    cnas_arch *arch;                /* NETWORK: the architecture built */
    char (*names)[160];             /* composed names of op tensors */
    int names_cap;

    /* Keys kept to build networks of other architectures (cost). */
    const cnas_params *params;
    int64_t seed_for_cost;
} dc_space;

/* supernet.c */
cnas_status dc_create(const cnas_space_create_args *a, void **self, cnas_error *err);
void dc_destroy(void *self);
int dc_choice_points(void *self, const cnas_choice_point **points);
cnas_tensor *dc_forward(void *self, cnas_graph *g, cnas_tensor *x, const cnas_space_forward_args *a);
int dc_tensors(void *self, cnas_named_tensor *out, int max);
cnas_status dc_cost(void *self, const cnas_arch *a, int64_t *flops, int64_t *params,
                    cnas_error *err);
cnas_status dc_candidate_cost(void *self, int point, int candidate, int64_t *flops,
                              int64_t *params, cnas_error *err);

/* weighted.c */
cnas_status dc_sample_weighted(void *self, const float *const *probs, cnas_rng *rng,
                               cnas_arch *out, double *log_prob, cnas_error *err);
cnas_status dc_log_prob(void *self, const float *const *probs, const cnas_arch *a, double *out,
                        cnas_error *err);

/* genotype.c */
cnas_status dc_derive(void *self, const float *const *probs, cnas_arch *out, cnas_error *err);
cnas_status dc_format(void *self, const cnas_arch *a, char *buf, size_t n, cnas_error *err);
cnas_status dc_parse(void *self, const char *text, cnas_arch *out, cnas_error *err);
cnas_status dc_write_json(void *self, const cnas_arch *a, FILE *f, cnas_error *err);
cnas_status dc_write_dot(void *self, const cnas_arch *a, const char *dir, int *n_files,
                         cnas_error *err);
cnas_status dc_sample(void *self, cnas_rng *rng, cnas_arch *out, cnas_error *err);
int64_t dc_enumerate_count(void *self);
cnas_status dc_enumerate(void *self, int64_t index, cnas_arch *out, cnas_error *err);

/* Edge index of (node i, input j): i(i+3)/2 + j. */
static inline int dc_edge_index(int node, int input)
{
    return node * (node + 3) / 2 + input;
}

#endif
