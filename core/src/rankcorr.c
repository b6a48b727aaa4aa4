/* Rank correlations. Kendall's tau-b counts pairs directly (O(n^2)): the rankings
 * compared in NAS hold tens to a few thousand architectures, where that is
 * instant and obviously right. */
#include <cnas/rankcorr.h>

#include <math.h>
#include <stdlib.h>

double cnas_kendall_tau(const double *x, const double *y, int64_t n)
{
    if (n < 2)
        return NAN;
    double concordant = 0, discordant = 0, tied_x = 0, tied_y = 0, pairs = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            double dx = x[j] - x[i], dy = y[j] - y[i];
            pairs += 1;
            if (dx == 0)
                tied_x += 1;
            if (dy == 0)
                tied_y += 1;
            if (dx == 0 || dy == 0)
                continue;
            if ((dx > 0) == (dy > 0))
                concordant += 1;
            else
                discordant += 1;
        }
    double denom = sqrt((pairs - tied_x) * (pairs - tied_y));
    return denom > 0 ? (concordant - discordant) / denom : NAN;
}

typedef struct ranked {
    double v;
    int64_t i;
} ranked;

static int by_value(const void *a, const void *b)
{
    const ranked *p = a, *q = b;
    if (p->v != q->v)
        return p->v < q->v ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

int cnas_average_ranks(const double *x, int64_t n, double *r)
{
    ranked *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    if (!s)
        return -1;
    for (int64_t i = 0; i < n; i++)
        s[i] = (ranked){x[i], i};
    qsort(s, (size_t)n, sizeof *s, by_value);
    for (int64_t a = 0; a < n;) {
        int64_t b = a;
        while (b + 1 < n && s[b + 1].v == s[a].v)
            b++;
        double rank = 0.5 * (double)(a + b) + 1.0; /* mean of positions a..b, 1-based */
        for (int64_t k = a; k <= b; k++)
            r[s[k].i] = rank;
        a = b + 1;
    }
    free(s);
    return 0;
}

double cnas_spearman_rho(const double *x, const double *y, int64_t n)
{
    if (n < 2)
        return NAN;
    double *rx = malloc((size_t)n * 2 * sizeof *rx);
    if (!rx || cnas_average_ranks(x, n, rx) || cnas_average_ranks(y, n, rx + n)) {
        free(rx);
        return NAN;
    }
    double *ry = rx + n, mean = 0.5 * (double)(n + 1), sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = rx[i] - mean, b = ry[i] - mean;
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    free(rx);
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}
