/* The ResNet20 pooling-placement space (Balanced Mixture of SuperNets, Javan
 * Roshtkhari, Toews, Pedersoli, AutoML-Conf 2023), private declarations.
 *
 * The backbone has L = 10 layers (key `channels`, one width per layer, default
 * 16,16,16,16,32,32,32,64,64,64): layer 0 is conv3x3–BN–ReLU (C_in → channels[0]),
 * layers 1..L-1 are ResNet basic blocks (channels[c-1] → channels[c]; a 1x1 conv + BN
 * projection where the width changes), then global average pooling and a linear
 * classifier: 1 + 9·2 + 1 = 20 weighted layers. Channels depend on the layer index
 * only, never on where the pooling is.
 *
 * An architecture places `pools` (default 2) 2x2 max-pools, each directly *before*
 * one of the layers 1..L-1 (layer 0 is never pooled): C(9, 2) = 36 configurations.
 * One choice point per layer 1..L-1, candidates {keep, pool}; a valid architecture
 * pools exactly `pools` layers.
 *
 * Notations (the reference's utils/search_space_design.py and create_model.py):
 *   0/1 code  one entry per layer 0..L-1, 1 = max-pool before that layer; entry 0 is
 *             always 0. The reference enumerates itertools.combinations(range(9), 2)
 *             over layers 1..9 and prepends the 0. The standard ResNet20 is
 *             0,0,0,0,1,0,0,1,0,0 (pools before layers 4 and 7).
 *   [n1,...]  the number of layers at each resolution: with pools before layers
 *             c1 < c2, n1 = c1, n2 = c2 - c1, n3 = L - c2. The standard ResNet20 is
 *             [4,3,3]. Every n_i >= 1 and they sum to L.
 * format() prints [n1,n2,n3]; parse() reads both (a list containing a 0 is a code,
 * since block counts never are 0; a code may also be written as one digit string
 * "0000100100"). Enumeration follows the reference's order: index 0 is [1,1,8].
 *
 * Batch norm: in the supernet every BN is non-affine and uses batch statistics even
 * in evaluation (affine=False, track_running_stats=False, as the reference's search
 * model); the stand-alone network uses affine BN with running statistics.
 *
 * Forward: single path only (keep and pool give different resolutions, so there is
 * nothing to mix); a supernet runs the architecture given, a network its own.
 * Without a tape each layer keeps only its output, so evaluation runs in the memory
 * of the widest layer.
 *
 * cost(): multiply-accumulates of one forward of one input (resnet_ops' convention:
 * conv MACs, one per BN output, four per pool output, in·out for the classifier) and
 * the trainable parameters of the stand-alone network of an architecture (affine BN;
 * the same for every placement). A supernet asked about itself gives its own
 * parameters and its dearest path, the pools as late as possible. */
#ifndef RESNET20_POOL_H
#define RESNET20_POOL_H

#include <cnas/cnas.h>

#define RP_MAX_LAYERS 64
#define RP_NAME "resnet20_pool"

typedef struct rp_layer {
    const cnas_op_vtable *vt;       /* conv_bn_relu (layer 0) or basic_block */
    void *self;
    const cnas_op_vtable *pool_vt;  /* max_pool_2x2 before the layer (layers >= 1) */
    void *pool;
    char prefix[24];                /* tensor name prefix: "res.0", "res.3.0" */
} rp_layer;

typedef struct rp_space {
    cnas_space_build build;
    int L, pools;
    int channels[RP_MAX_LAYERS];
    int in_c, in_h, in_w, num_classes;
    cnas_op_factory factory;        /* copied; its ctx is borrowed */
    const cnas_params *params;      /* borrowed: to build networks for cost() */

    rp_layer layers[RP_MAX_LAYERS];
    cnas_tensor *fc_w, *fc_b;

    cnas_choice_point points[RP_MAX_LAYERS];
    char point_names[RP_MAX_LAYERS][16];
    cnas_arch *arch;                /* NETWORK: the architecture built */
    int64_t count;                  /* C(L-1, pools) */
    int64_t network_params;         /* trainable parameters of a network; -1 until known */

    char (*names)[64];              /* composed tensor names */
    int names_cap;
} rp_space;

/* network.c */
cnas_status rp_create(const cnas_space_create_args *a, void **self, cnas_error *err);
void rp_destroy(void *self);
int rp_choice_points(void *self, const cnas_choice_point **points);
cnas_tensor *rp_forward(void *self, cnas_graph *g, cnas_tensor *x, const cnas_space_forward_args *a);
int rp_tensors(void *self, cnas_named_tensor *out, int max);
cnas_status rp_cost(void *self, const cnas_arch *a, int64_t *flops, int64_t *params,
                    cnas_error *err);

/* notation.c */
cnas_status rp_derive(void *self, const float *const *probs, cnas_arch *out, cnas_error *err);
cnas_status rp_format(void *self, const cnas_arch *a, char *buf, size_t n, cnas_error *err);
cnas_status rp_parse(void *self, const char *text, cnas_arch *out, cnas_error *err);
cnas_status rp_write_json(void *self, const cnas_arch *a, FILE *f, cnas_error *err);
cnas_status rp_write_dot(void *self, const cnas_arch *a, const char *dir, int *n_files,
                         cnas_error *err);
cnas_status rp_sample(void *self, cnas_rng *rng, cnas_arch *out, cnas_error *err);
int64_t rp_enumerate_count(void *self);
cnas_status rp_enumerate(void *self, int64_t index, cnas_arch *out, cnas_error *err);

/* Shared helpers (notation.c). */
/* Check that `a` is a valid architecture of s and write its pooled layers in
 * increasing order into pos (s->pools of them). */
cnas_status rp_positions(const rp_space *s, const cnas_arch *a, int *pos, cnas_error *err);
/* Set `a` to pool exactly before the layers pos[0..s->pools-1]. */
void rp_set_positions(const rp_space *s, cnas_arch *a, const int *pos);
/* n choose k, saturating at INT64_MAX. */
int64_t rp_binomial(int n, int k);

#endif
