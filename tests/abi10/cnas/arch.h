/* cnas/arch.h — a discrete architecture, the common currency of spaces and strategies.
 *
 * An architecture says, for every choice point of a space, which candidates are
 * selected: a bit mask over at most 64 candidates (one bit for a DARTS edge op,
 * none for an absent edge, several for a GOLD-NAS edge), plus an order key per
 * point that a space may use to keep its notation stable (the DARTS genotype lists
 * a node's two inputs strongest first). Spaces give the masks meaning; strategies
 * only store, compare, rank and pass them on. */
#ifndef CNAS_ARCH_H
#define CNAS_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/status.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CNAS_ARCH_MAX_CANDIDATES 64

typedef struct cnas_arch {
    int32_t n_points;
    uint64_t *mask;   /* n_points masks: bit c set = candidate c selected */
    int32_t *order;   /* n_points order keys (space-specific; 0 when unused) */
} cnas_arch;

cnas_arch *cnas_arch_new(int n_points, cnas_error *err);
void cnas_arch_free(cnas_arch *a);
cnas_arch *cnas_arch_clone(const cnas_arch *a, cnas_error *err);
/* Copy masks and orders; both must have the same number of points. */
cnas_status cnas_arch_copy(cnas_arch *dst, const cnas_arch *src, cnas_error *err);
bool cnas_arch_equal(const cnas_arch *a, const cnas_arch *b);
void cnas_arch_clear(cnas_arch *a);
/* The single selected candidate of a point, or -1 when none or several are. */
int cnas_arch_single(const cnas_arch *a, int point);
int cnas_arch_count(const cnas_arch *a, int point);

#ifdef __cplusplus
}
#endif
#endif
