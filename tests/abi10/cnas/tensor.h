/* cnas/tensor.h — float32 tensors of up to four dimensions (NCHW).
 *
 * A tensor is a shape, a contiguous data buffer and, when some gradient flows to
 * it, a gradient buffer of the same shape. Two lifetimes exist:
 *   - persistent tensors (parameters, architecture weights, running statistics):
 *     cnas_tensor_new() / cnas_tensor_free(), owned by whoever created them;
 *   - step tensors (activations, their gradients): created by ops inside a
 *     cnas_graph, they live in the graph's arena and vanish at cnas_graph_reset().
 * A persistent tensor's gradient is allocated once, on first use, and accumulates
 * until cnas_tensor_zero_grad(). */
#ifndef CNAS_TENSOR_H
#define CNAS_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cnas/status.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CNAS_MAX_DIMS 4

/* Tensor flags. Append only. */
enum {
    CNAS_T_REQUIRES_GRAD = 1u << 0, /* gradients flow to this tensor */
    CNAS_T_PERSISTENT = 1u << 1,    /* heap-owned (cnas_tensor_new), survives graph resets */
    CNAS_T_VIEW = 1u << 2,          /* data borrowed from another tensor or buffer */
};

typedef struct cnas_tensor {
    float *data;
    float *grad;                   /* NULL until a gradient reaches this tensor */
    int64_t shape[CNAS_MAX_DIMS];  /* dims past ndim are 1 */
    int64_t numel;
    int32_t ndim;
    uint32_t flags;
    int32_t node;                  /* producing tape node, -1 for a leaf */
    char name[32];                 /* optional, for messages */
} cnas_tensor;

/* Shape literal helper: cnas_tensor_new(CNAS_SHAPE(64, 16, 32, 32), &err). */
#define CNAS_SHAPE(...)                                                        \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}

/* A zero-filled persistent tensor. Returns NULL and fills err on a bad shape or OOM. */
cnas_tensor *cnas_tensor_new(int ndim, const int64_t *shape, cnas_error *err);
void cnas_tensor_free(cnas_tensor *t);

/* Persistent tensor wrapping a caller-owned buffer (not freed by cnas_tensor_free). */
cnas_tensor *cnas_tensor_wrap(float *data, int ndim, const int64_t *shape, cnas_error *err);

static inline int64_t cnas_tensor_dim(const cnas_tensor *t, int i) { return t->shape[i]; }
bool cnas_tensor_same_shape(const cnas_tensor *a, const cnas_tensor *b);
size_t cnas_tensor_bytes(const cnas_tensor *t);

/* "[64, 16, 32, 32]" into buf; returns buf. */
char *cnas_shape_str(const cnas_tensor *t, char *buf, size_t n);
#define CNAS_SHAPE_STR_MAX 96

void cnas_tensor_set_requires_grad(cnas_tensor *t, bool on);
static inline bool cnas_tensor_requires_grad(const cnas_tensor *t)
{
    return (t->flags & CNAS_T_REQUIRES_GRAD) != 0;
}
void cnas_tensor_set_name(cnas_tensor *t, const char *name);

/* Zero the gradient of a persistent tensor (no-op if it has none yet). */
void cnas_tensor_zero_grad(cnas_tensor *t);
/* The persistent gradient buffer, allocated zeroed on first call; NULL on OOM. */
float *cnas_tensor_grad_buffer(cnas_tensor *t);

void cnas_tensor_fill(cnas_tensor *t, float v);
cnas_status cnas_tensor_copy(cnas_tensor *dst, const cnas_tensor *src, cnas_error *err);

#ifdef __cplusplus
}
#endif
#endif
