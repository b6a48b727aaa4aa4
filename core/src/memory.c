#include <stdlib.h>
#include <string.h>

#include "internal.h"

void *cnas__aligned_alloc(size_t bytes)
{
    size_t n = (bytes + CNAS_ALIGN - 1) / CNAS_ALIGN * CNAS_ALIGN;
    return aligned_alloc(CNAS_ALIGN, n ? n : CNAS_ALIGN);
}

void *cnas__aligned_calloc(size_t bytes)
{
    void *p = cnas__aligned_alloc(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}
