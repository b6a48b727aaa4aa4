#include <cnas/arch.h>

#include <stdlib.h>
#include <string.h>

cnas_arch *cnas_arch_new(int n_points, cnas_error *err)
{
    if (n_points < 1) {
        cnas_error_set(err, CNAS_ERR_INVALID, "architecture: %d choice points, expected >= 1",
                       n_points);
        return NULL;
    }
    cnas_arch *a = calloc(1, sizeof *a);
    if (a) {
        a->n_points = n_points;
        a->mask = calloc((size_t)n_points, sizeof *a->mask);
        a->order = calloc((size_t)n_points, sizeof *a->order);
    }
    if (!a || !a->mask || !a->order) {
        cnas_arch_free(a);
        cnas_error_set(err, CNAS_ERR_NOMEM, "architecture: out of memory");
        return NULL;
    }
    return a;
}

void cnas_arch_free(cnas_arch *a)
{
    if (!a)
        return;
    free(a->mask);
    free(a->order);
    free(a);
}

cnas_status cnas_arch_copy(cnas_arch *dst, const cnas_arch *src, cnas_error *err)
{
    if (dst->n_points != src->n_points)
        return cnas_error_set(err, CNAS_ERR_INVALID,
                              "architecture copy: %d choice points into %d", src->n_points,
                              dst->n_points);
    memcpy(dst->mask, src->mask, (size_t)src->n_points * sizeof *src->mask);
    memcpy(dst->order, src->order, (size_t)src->n_points * sizeof *src->order);
    return CNAS_OK;
}

cnas_arch *cnas_arch_clone(const cnas_arch *a, cnas_error *err)
{
    cnas_arch *c = cnas_arch_new(a->n_points, err);
    if (c)
        cnas_arch_copy(c, a, err);
    return c;
}

bool cnas_arch_equal(const cnas_arch *a, const cnas_arch *b)
{
    return a->n_points == b->n_points &&
           memcmp(a->mask, b->mask, (size_t)a->n_points * sizeof *a->mask) == 0 &&
           memcmp(a->order, b->order, (size_t)a->n_points * sizeof *a->order) == 0;
}

void cnas_arch_clear(cnas_arch *a)
{
    memset(a->mask, 0, (size_t)a->n_points * sizeof *a->mask);
    memset(a->order, 0, (size_t)a->n_points * sizeof *a->order);
}

int cnas_arch_count(const cnas_arch *a, int point)
{
    return __builtin_popcountll(a->mask[point]);
}

int cnas_arch_single(const cnas_arch *a, int point)
{
    uint64_t m = a->mask[point];
    if (m == 0 || (m & (m - 1)))
        return -1;
    return __builtin_ctzll(m);
}
