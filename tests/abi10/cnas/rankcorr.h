/* cnas/rankcorr.h — agreement between two rankings, as NAS papers report it:
 * how well a supernet's estimates order architectures the way stand-alone training
 * does. Ties are handled the usual way (Kendall's tau-b; Spearman's rho as the
 * Pearson correlation of average ranks), matching scipy.stats.kendalltau /
 * spearmanr. */
#ifndef CNAS_RANKCORR_H
#define CNAS_RANKCORR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Kendall's tau-b of the paired values; NaN when n < 2 or either side is constant. */
double cnas_kendall_tau(const double *x, const double *y, int64_t n);
/* Spearman's rho with average ranks for ties; NaN when undefined. */
double cnas_spearman_rho(const double *x, const double *y, int64_t n);
/* Average ranks (1-based; tied values share the mean of their positions) into r.
 * Returns 0, or -1 when out of memory. */
int cnas_average_ranks(const double *x, int64_t n, double *r);

#ifdef __cplusplus
}
#endif
#endif
