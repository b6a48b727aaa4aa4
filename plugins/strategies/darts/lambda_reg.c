/* The Λ-DARTS regularisers and their gradients with respect to the per-cell
 * gradients (lambda_reg.h). The formulas follow the reference get_perturbations /
 * get_corr; a test checks them against numeric differences. */
#include "lambda_reg.h"

#include <math.h>
#include <string.h>

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0.0;
    for (int64_t k = 0; k < n; k++)
        s += a[k] * b[k];
    return s;
}

static double abs_dot(const double *a, const double *b, int64_t n)
{
    double s = 0.0;
    for (int64_t k = 0; k < n; k++)
        s += fabs(a[k]) * fabs(b[k]);
    return s;
}

static double sgn(double v)
{
    return (double)((v > 0.0) - (v < 0.0));
}

double lreg_value(lreg_kind k, int L, int64_t n, const double *g)
{
    if (L < 2)
        return NAN;
    double sum = 0.0;
    for (int i = 0; i < L; i++)
        for (int j = i + 1; j < L; j++) {
            const double *a = g + (int64_t)i * n, *b = g + (int64_t)j * n;
            double den = k == LREG_CORR ? sqrt(dot(a, a, n)) * sqrt(dot(b, b, n))
                                        : abs_dot(a, b, n);
            if (!(den > 0.0))
                return NAN;
            sum += dot(a, b, n) / den;
        }
    return sum / ((double)L * (L - 1) / 2.0);
}

/* p_l = c/‖g_l‖ · (I − u_l u_lᵀ) Σ_k u_k, u_k = g_k/‖g_k‖. */
static int corr_direction(int L, int64_t n, const double *g, double c, double *p,
                          double *scratch)
{
    double *sum_u = scratch, *norm = scratch + n;
    memset(sum_u, 0, (size_t)n * sizeof *sum_u);
    for (int l = 0; l < L; l++) {
        const double *gl = g + (int64_t)l * n;
        norm[l] = sqrt(dot(gl, gl, n));
        if (!(norm[l] > 0.0) || !isfinite(norm[l]))
            return -1;
        for (int64_t k = 0; k < n; k++)
            sum_u[k] += gl[k] / norm[l];
    }
    for (int l = 0; l < L; l++) {
        const double *gl = g + (int64_t)l * n;
        double *pl = p + (int64_t)l * n;
        double us = dot(gl, sum_u, n) / norm[l];
        for (int64_t k = 0; k < n; k++)
            pl[k] = c / norm[l] * (sum_u[k] - gl[k] / norm[l] * us);
    }
    return 0;
}

/* p_l = c Σ_{j≠l} (1 − (d/a)·sign(g_l)⊙sign(g_j)) ⊙ g_j / a, d = ⟨g_l, g_j⟩,
 * a = ⟨|g_l|, |g_j|⟩. */
static int signcorr_direction(int L, int64_t n, const double *g, double c, double *p)
{
    for (int l = 0; l < L; l++) {
        const double *gl = g + (int64_t)l * n;
        double *pl = p + (int64_t)l * n;
        memset(pl, 0, (size_t)n * sizeof *pl);
        for (int j = 0; j < L; j++) {
            if (j == l)
                continue;
            const double *gj = g + (int64_t)j * n;
            double d = dot(gl, gj, n), a = abs_dot(gl, gj, n);
            if (!(a > 0.0) || !isfinite(a))
                return -1;
            for (int64_t k = 0; k < n; k++)
                pl[k] += (1.0 - d / a * sgn(gl[k]) * sgn(gj[k])) * gj[k] / a;
        }
        for (int64_t k = 0; k < n; k++)
            pl[k] *= c;
    }
    return 0;
}

int lreg_direction(lreg_kind k, int L, int64_t n, const double *g, double *p, double *scratch)
{
    int rc = -1;
    if (L >= 2) {
        double c = 1.0 / ((double)L * (L - 1) / 2.0);
        rc = k == LREG_CORR ? corr_direction(L, n, g, c, p, scratch)
                            : signcorr_direction(L, n, g, c, p);
    }
    if (rc)
        memset(p, 0, (size_t)L * (size_t)n * sizeof *p);
    return rc;
}
