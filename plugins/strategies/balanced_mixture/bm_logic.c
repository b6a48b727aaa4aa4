/* The score matrix, temperature, balancing and ranking of the balanced mixture. */
#include "bm_logic.h"

#include <math.h>
#include <stdlib.h>

/* A marginal this small means a supernet no configuration wants; dividing by it
 * must stay finite. */
#define BM_Q_FLOOR 1e-300

double bm_temperature(double t_start, double t_end, int64_t epoch, int64_t epochs)
{
    if (epochs <= 1)
        return t_end;
    if (epoch >= epochs - 1)
        return t_end;
    if (epoch <= 0)
        return t_start;
    return t_start + (t_end - t_start) * (double)epoch / (double)(epochs - 1);
}

double bm_ema(double old, double value, double decay)
{
    return decay * old + (1.0 - decay) * value;
}

static void softmax_row(const double *s, int M, double T, double *p)
{
    double mx = T * s[0];
    for (int m = 1; m < M; m++)
        mx = fmax(mx, T * s[m]);
    double z = 0.0;
    for (int m = 0; m < M; m++)
        z += p[m] = exp(T * s[m] - mx);
    for (int m = 0; m < M; m++)
        p[m] /= z;
}

void bm_softmax_rows(const double *S, int A, int M, double T, double *P)
{
    for (int a = 0; a < A; a++)
        softmax_row(S + (size_t)a * M, M, T, P + (size_t)a * M);
}

void bm_marginal(const double *P, int A, int M, double *q)
{
    for (int m = 0; m < M; m++)
        q[m] = 0.0;
    for (int a = 0; a < A; a++)
        for (int m = 0; m < M; m++)
            q[m] += P[(size_t)a * M + m];
    for (int m = 0; m < M; m++)
        q[m] /= A;
}

double bm_kl_uniform(const double *q, int M)
{
    double kl = 0.0;
    for (int m = 0; m < M; m++)
        if (q[m] > 0.0)
            kl += q[m] * log(q[m] * M);
    return kl;
}

/* Divide by the marginal q and renormalise one row. */
static void divide_row(double *p, int M, const double *q)
{
    double z = 0.0;
    for (int m = 0; m < M; m++)
        z += p[m] /= fmax(q[m], BM_Q_FLOOR);
    if (z > 0.0)
        for (int m = 0; m < M; m++)
            p[m] /= z;
}

int bm_balance(double *P, int A, int M, double threshold, int max_iter, double *Q,
               bool *converged)
{
    double *q = malloc((size_t)M * sizeof *q);
    int n = 0;
    *converged = false;
    if (!q)
        return 0;
    bm_marginal(P, A, M, q);
    while (fabs(bm_kl_uniform(q, M)) > threshold) {
        if (n == max_iter) {
            free(q);
            return n;
        }
        for (int m = 0; m < M; m++)
            Q[(size_t)n * M + m] = q[m];
        n++;
        for (int a = 0; a < A; a++)
            divide_row(P + (size_t)a * M, M, q);
        bm_marginal(P, A, M, q);
    }
    *converged = true;
    free(q);
    return n;
}

void bm_apply_row(double *p, int M, const double *Q, int nq)
{
    for (int i = 0; i < nq; i++)
        divide_row(p, M, Q + (size_t)i * M);
}

void bm_conditional_row(const double *S, int a, int M, double T, const double *Q, int nq,
                        double *p)
{
    softmax_row(S + (size_t)a * M, M, T, p);
    bm_apply_row(p, M, Q, nq);
}

int bm_pick(const double *p, int n, double u)
{
    double total = 0.0;
    for (int i = 0; i < n; i++)
        total += p[i];
    double target = u * total, c = 0.0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] <= 0.0)
            continue;
        last = i;
        c += p[i];
        if (target < c)
            return i;
    }
    return last;
}

int bm_argmax(const double *row, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (row[i] > row[best])
            best = i;
    return best;
}

void bm_rank(const double *score, const double *second, int n, int *order)
{
    for (int i = 0; i < n; i++)
        order[i] = i;
    /* Stable insertion sort: n is the number of configurations (36). */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0; j--) {
            int a = order[j], b = order[j - 1];
            bool before = score[a] > score[b] ||
                          (score[a] == score[b] && second && second[a] > second[b]);
            if (!before)
                break;
            order[j] = b;
            order[j - 1] = a;
        }
}
