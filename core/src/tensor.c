#include <cnas/tensor.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static cnas_status check_shape(int ndim, const int64_t *shape, int64_t *numel, cnas_error *err)
{
    if (ndim < 1 || ndim > CNAS_MAX_DIMS)
        return cnas_error_set(err, CNAS_ERR_SHAPE, "tensor: %d dimensions, expected 1 to %d",
                              ndim, CNAS_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1 || shape[i] > (INT64_C(1) << 40))
            return cnas_error_set(err, CNAS_ERR_SHAPE,
                                  "tensor: dimension %d is %" PRId64 ", expected 1 to 2^40", i,
                                  shape[i]);
        n *= shape[i];
        if (n > (INT64_C(1) << 40))
            return cnas_error_set(err, CNAS_ERR_SHAPE, "tensor: more than 2^40 elements");
    }
    *numel = n;
    return CNAS_OK;
}

cnas_status cnas__tensor_init_shape(cnas_tensor *t, int ndim, const int64_t *shape,
                                    cnas_error *err)
{
    int64_t n = 0;
    cnas_status s = check_shape(ndim, shape, &n, err);
    if (s)
        return s;
    t->ndim = ndim;
    for (int i = 0; i < CNAS_MAX_DIMS; i++)
        t->shape[i] = i < ndim ? shape[i] : 1;
    t->numel = n;
    t->node = -1;
    return CNAS_OK;
}

cnas_tensor *cnas_tensor_new(int ndim, const int64_t *shape, cnas_error *err)
{
    cnas_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        cnas_error_set(err, CNAS_ERR_NOMEM, "tensor: out of memory");
        return NULL;
    }
    if (cnas__tensor_init_shape(t, ndim, shape, err)) {
        free(t);
        return NULL;
    }
    t->data = cnas__aligned_calloc((size_t)t->numel * sizeof(float));
    if (!t->data) {
        cnas_error_set(err, CNAS_ERR_NOMEM, "tensor: cannot allocate %" PRId64 " floats",
                       t->numel);
        free(t);
        return NULL;
    }
    t->flags = CNAS_T_PERSISTENT;
    return t;
}

cnas_tensor *cnas_tensor_wrap(float *data, int ndim, const int64_t *shape, cnas_error *err)
{
    cnas_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        cnas_error_set(err, CNAS_ERR_NOMEM, "tensor: out of memory");
        return NULL;
    }
    if (cnas__tensor_init_shape(t, ndim, shape, err)) {
        free(t);
        return NULL;
    }
    t->data = data;
    t->flags = CNAS_T_PERSISTENT | CNAS_T_VIEW;
    return t;
}

void cnas_tensor_free(cnas_tensor *t)
{
    if (!t)
        return;
    if (!(t->flags & CNAS_T_PERSISTENT))
        return; /* step tensors belong to their graph */
    if (!(t->flags & CNAS_T_VIEW))
        free(t->data);
    free(t->grad);
    free(t);
}

bool cnas_tensor_same_shape(const cnas_tensor *a, const cnas_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

size_t cnas_tensor_bytes(const cnas_tensor *t)
{
    return (size_t)t->numel * sizeof(float);
}

char *cnas_shape_str(const cnas_tensor *t, char *buf, size_t n)
{
    if (!t) {
        snprintf(buf, n, "(null)");
        return buf;
    }
    size_t off = 0;
    off += (size_t)snprintf(buf + off, n - off, "[");
    for (int i = 0; i < t->ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%" PRId64, i ? ", " : "", t->shape[i]);
    if (off < n)
        snprintf(buf + off, n - off, "]");
    return buf;
}

void cnas_tensor_set_requires_grad(cnas_tensor *t, bool on)
{
    if (on)
        t->flags |= CNAS_T_REQUIRES_GRAD;
    else
        t->flags &= ~(uint32_t)CNAS_T_REQUIRES_GRAD;
}

void cnas_tensor_set_name(cnas_tensor *t, const char *name)
{
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
}

void cnas_tensor_zero_grad(cnas_tensor *t)
{
    if (t && t->grad)
        memset(t->grad, 0, cnas_tensor_bytes(t));
}

float *cnas_tensor_grad_buffer(cnas_tensor *t)
{
    if (!t->grad)
        t->grad = cnas__aligned_calloc(cnas_tensor_bytes(t));
    return t->grad;
}

void cnas_tensor_fill(cnas_tensor *t, float v)
{
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = v;
}

cnas_status cnas_tensor_copy(cnas_tensor *dst, const cnas_tensor *src, cnas_error *err)
{
    if (dst->numel != src->numel) {
        char a[CNAS_SHAPE_STR_MAX], b[CNAS_SHAPE_STR_MAX];
        return cnas_error_set(err, CNAS_ERR_SHAPE, "tensor copy: %s into %s",
                              cnas_shape_str(src, a, sizeof a), cnas_shape_str(dst, b, sizeof b));
    }
    memmove(dst->data, src->data, cnas_tensor_bytes(src));
    return CNAS_OK;
}
