/* Private helpers shared by libcnas sources; not installed. */
#ifndef CNAS_INTERNAL_H
#define CNAS_INTERNAL_H

#include <stddef.h>

#include <cnas/tensor.h>

#define CNAS_ALIGN 64

/* Elements below which an OpenMP team costs more than the loop it would split. */
#define CNAS_PAR_MIN 16384

void *cnas__aligned_alloc(size_t bytes);
void *cnas__aligned_calloc(size_t bytes);

/* cnas_optim_step without the gradient reduction (optim.c): cnas_kit_update reduces
 * before it clips, then steps with this. */
struct cnas_optim;
cnas_status cnas__optim_step_reduced(struct cnas_optim *o, float lr, cnas_error *err);

cnas_status cnas__tensor_init_shape(cnas_tensor *t, int ndim, const int64_t *shape,
                                    cnas_error *err);

/* The predicted class of one row of logits: the first maximum (kit.c; the accuracy
 * counters and the per-class table must agree on ties). */
int64_t cnas__argmax_row(const float *row, int64_t k);


/* Direct stride-1 "same" convolution for narrow layers (conv_direct.c): y (+)= x * w for
 * N samples, x [N][C][H][W], w [O][C][k][k] (k odd), dilation d, padding d(k-1)/2,
 * groups 1. Scratch from the graph's arena; false when it cannot be had. */
struct cnas_graph;
bool cnas__conv_direct_fits(int64_t C, int64_t O, int64_t W, int k);
bool cnas__conv_direct(struct cnas_graph *gr, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
                       int k, int d, const float *x, const float *w, float *y, bool acc);

/* Hot loops compiled for the x86-64 baseline and for the AVX2 and AVX-512 levels,
 * picked at load time. The build is ISO C (no contraction into FMA) and every vector
 * lane runs the same operations in the same order, so all clones give bitwise the
 * same results. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define CNAS_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define CNAS_CLONES
#endif

#endif
