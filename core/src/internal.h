/* Private helpers shared by libcnas sources; not installed. */
#ifndef CNAS_INTERNAL_H
#define CNAS_INTERNAL_H

#include <stddef.h>

#include <cnas/tensor.h>

#define CNAS_ALIGN 64

void *cnas__aligned_alloc(size_t bytes);
void *cnas__aligned_calloc(size_t bytes);

cnas_status cnas__tensor_init_shape(cnas_tensor *t, int ndim, const int64_t *shape,
                                    cnas_error *err);

#endif
