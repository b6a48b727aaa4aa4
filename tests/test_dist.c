/* Run under mpirun (tests/mpi.sh): the data-parallel pieces against one process on the
 * whole batch. A batch of 7 rows is split across the ranks (uneven for 2 and 3 ranks);
 * batch norm with global-batch statistics, each rank's loss the mean over its rows and
 * the gradients reduced with the rank's share must give the whole batch's gradients of
 * γ, β and of every row of x, and the same running statistics. Prints one line per
 * check on rank 0; exit status 0 when all pass on every rank. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cnas/cnas.h>
#include <cnas/dist.h>

#define ROWS 7
#define C 3
#define HW 4

static int failures;

static void expect_close(const char *what, const float *a, const float *b, int64_t n)
{
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1e-6 + fabs((double)b[i]));
        if (d > worst)
            worst = d;
    }
    bool ok = worst < 1e-4;
    failures += !ok;
    if (cnas_dist_world_rank() == 0 || !ok)
        printf("%s rank %d: %s (worst relative difference %.2g)\n", ok ? "ok  " : "FAIL",
               cnas_dist_world_rank(), what, worst);
}

/* loss = (1/rows) Σ y·r over rows [lo, hi) of x, y = BN(x); backward. */
static cnas_status pass(cnas_tensor *x, const float *r, int64_t rows, cnas_tensor *gamma,
                        cnas_tensor *beta, cnas_tensor *rm, cnas_tensor *rv, cnas_error *err)
{
    cnas_graph *g = cnas_graph_new(err);
    if (!g)
        return err->code;
    cnas_tensor *rt = cnas_graph_tensor(g, 4, x->shape);
    memcpy(rt->data, r, cnas_tensor_bytes(rt));
    cnas_batch_norm_params p = {true, 0.1f, 1e-5f};
    cnas_tensor *y = cnas_batch_norm(g, x, gamma, beta, rm, rv, &p);
    cnas_tensor *loss = cnas_scale(g, cnas_sum(g, cnas_mul(g, y, rt)), 1.0f / (float)rows);
    cnas_status st = loss ? cnas_backward(g, loss) : cnas_graph_status(g);
    if (st)
        cnas_error_set(err, st, "%s", cnas_graph_error(g)->msg);
    cnas_graph_free(g);
    return st;
}

int main(int argc, char **argv)
{
    cnas_error err;
    if (cnas_dist_init(&argc, &argv, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int64_t shape[4] = {ROWS, C, 2, 2};
    float xs[ROWS * C * HW], rs[ROWS * C * HW];
    cnas_rng rng;
    cnas_rng_init(&rng, 7, "test_dist");
    for (int i = 0; i < ROWS * C * HW; i++) {
        xs[i] = 3.0f + 2.0f * cnas_rng_normal(&rng);
        rs[i] = cnas_rng_normal(&rng);
    }
    cnas_tensor *t[2][5]; /* [reference, data parallel][x, gamma, beta, running mean, var] */
    int64_t lo, hi;
    double w;
    cnas_dist_set_data_parallel(true);
    cnas_dist_rows(ROWS, &lo, &hi, &w);
    for (int k = 0; k < 2; k++) {
        int64_t xshape[4] = {k ? hi - lo : ROWS, C, 2, 2};
        t[k][0] = cnas_tensor_new(4, xshape, &err);
        for (int j = 1; j < 5; j++)
            t[k][j] = cnas_tensor_new(1, (int64_t[]){C}, &err);
        for (int c = 0; c < C; c++) {
            t[k][1]->data[c] = 1.0f + 0.5f * (float)c;
            t[k][2]->data[c] = -0.25f * (float)c;
            t[k][3]->data[c] = 0.0f;
            t[k][4]->data[c] = 1.0f;
        }
        for (int j = 0; j < 3; j++)
            cnas_tensor_set_requires_grad(t[k][j], true);
    }
    (void)shape;
    memcpy(t[0][0]->data, xs, sizeof xs);
    memcpy(t[1][0]->data, xs + lo * C * HW, cnas_tensor_bytes(t[1][0]));

    /* The whole batch on one process (statistics not synchronised). */
    cnas_dist_sync_batch_stats(false);
    cnas_status st = pass(t[0][0], rs, ROWS, t[0][1], t[0][2], t[0][3], t[0][4], &err);
    /* This rank's rows, synchronised; γ and β reduced with the rank's share. */
    cnas_dist_sync_batch_stats(true);
    if (!st)
        st = pass(t[1][0], rs + lo * C * HW, hi - lo, t[1][1], t[1][2], t[1][3], t[1][4], &err);
    if (!st)
        st = cnas_dist_reduce_grads(&t[1][1], 2, w, &err);
    if (st) {
        fprintf(stderr, "rank %d: %s\n", cnas_dist_world_rank(), err.msg);
        cnas_dist_abort(1);
    }
    /* A rank's gradient of its rows times its share is the whole batch's gradient. */
    float gx[ROWS * C * HW];
    int64_t len = t[1][0]->numel;
    for (int64_t i = 0; i < len; i++)
        gx[i] = (float)w * t[1][0]->grad[i];
    char what[96];
    snprintf(what, sizeof what, "rows %lld-%lld of %d: dL/dx", (long long)lo, (long long)hi - 1,
             ROWS);
    expect_close(what, gx, t[0][0]->grad + lo * C * HW, len);
    expect_close("dL/dgamma reduced", t[1][1]->grad, t[0][1]->grad, C);
    expect_close("dL/dbeta reduced", t[1][2]->grad, t[0][2]->grad, C);
    expect_close("running mean", t[1][3]->data, t[0][3]->data, C);
    expect_close("running var (unbiased over the global batch)", t[1][4]->data, t[0][4]->data, C);

    /* Weighted means and sums are the same bits on every rank. */
    double v[2] = {1.0 / 3.0, (double)cnas_dist_world_rank()};
    cnas_dist_mean_f64(v, 1, w, &err);
    bool same;
    uint64_t bits;
    memcpy(&bits, &v[0], sizeof bits);
    cnas_dist_same_u64(bits, &same, &err);
    failures += !same || v[0] != 1.0 / 3.0;
    if (cnas_dist_world_rank() == 0)
        printf("%s a value equal on all ranks keeps its bits through the weighted mean\n",
               same && v[0] == 1.0 / 3.0 ? "ok  " : "FAIL");
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 5; j++)
            cnas_tensor_free(t[k][j]);
    int64_t total = failures;
    cnas_dist_max_i64(&total, 1, &err);
    cnas_dist_set_data_parallel(false);
    cnas_dist_finalize();
    return total ? 1 : 0;
}
