/* Data parallelism over MPI (dist.h, docs/distributed.md). Built without MPI
 * (CNAS_HAVE_MPI undefined), or run without a launcher, there is one rank and every
 * collective returns at once. */
#include <cnas/dist.h>

#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CNAS_HAVE_MPI
#include <mpi.h>
#endif

static bool g_mpi;              /* MPI initialised by us */
static int g_world_rank, g_world_size = 1, g_local_size = 1;
static bool g_dp;               /* the run group is the world */
static double g_w_train = 1.0, g_w_val = -1.0;
static bool g_sync_bn;          /* batch norm uses global-batch statistics */

bool cnas_dist_built(void)
{
#ifdef CNAS_HAVE_MPI
    return true;
#else
    return false;
#endif
}

#ifdef CNAS_HAVE_MPI
/* Started by a launcher: Open MPI's mpirun, PMI (MPICH, srun --mpi=pmi2), PMIx (srun). */
static bool launched(void)
{
    const char *off = getenv("CNAS_MPI");
    if (off && strcmp(off, "0") == 0)
        return false;
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            return true;
    return false;
}
#endif

cnas_status cnas_dist_init(int *argc, char ***argv, cnas_error *err)
{
#ifdef CNAS_HAVE_MPI
    if (g_mpi || !launched())
        return CNAS_OK;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return cnas_error_set(err, CNAS_ERR_IO, "MPI: initialisation failed");
    g_mpi = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_world_size);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
        MPI_Comm_size(local, &g_local_size);
        MPI_Comm_free(&local);
    }
    return CNAS_OK;
#else
    (void)argc;
    (void)argv;
    (void)err;
    return CNAS_OK;
#endif
}

void cnas_dist_finalize(void)
{
#ifdef CNAS_HAVE_MPI
    int done = 0;
    if (g_mpi && MPI_Finalized(&done) == MPI_SUCCESS && !done)
        MPI_Finalize();
#endif
    g_mpi = false;
}

void cnas_dist_abort(int code)
{
#ifdef CNAS_HAVE_MPI
    if (g_mpi && g_world_size > 1)
        MPI_Abort(MPI_COMM_WORLD, code);
#endif
    _exit(code);
}

int cnas_dist_world_rank(void) { return g_world_rank; }
int cnas_dist_world_size(void) { return g_world_size; }
int cnas_dist_local_size(void) { return g_local_size; }

int cnas_dist_default_threads(void)
{
    if (g_world_size <= 1)
        return 0;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int share = (int)((online > 0 ? online : 1) / (g_local_size > 0 ? g_local_size : 1));
    cpu_set_t set;
    /* A launcher that binds each rank (Open MPI binds to a core by default for up to two
     * ranks) leaves it fewer processors than its share. */
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < share)
        share = CPU_COUNT(&set);
    return share > 0 ? share : 1;
}

void cnas_dist_set_data_parallel(bool dp)
{
    g_dp = dp && g_world_size > 1;
    /* Outside a step every rank holds any batch whole (a generator fitted before the
     * first step): its gradients count once in the reduced sum. */
    g_w_train = 1.0 / (g_dp ? g_world_size : 1);
    g_w_val = -1.0;
    g_sync_bn = false;
}

bool cnas_dist_data_parallel(void) { return g_dp; }
int cnas_dist_rank(void) { return g_dp ? g_world_rank : 0; }
int cnas_dist_size(void) { return g_dp ? g_world_size : 1; }

void cnas_dist_rows(int64_t n, int64_t *lo, int64_t *hi, double *weight)
{
    int64_t r = cnas_dist_rank(), p = cnas_dist_size();
    if (n < p) {
        *lo = 0;
        *hi = n;
        *weight = 1.0 / (double)p;
        return;
    }
    *lo = r * n / p;
    *hi = (r + 1) * n / p;
    *weight = (double)(*hi - *lo) / (double)n;
}

void cnas_dist_step_weights(double train, double val)
{
    g_w_train = train;
    g_w_val = val;
}

double cnas_dist_train_weight(void) { return g_w_train; }
double cnas_dist_arch_weight(void) { return g_w_val >= 0.0 ? g_w_val : g_w_train; }

bool cnas_dist_sync_batch_stats(bool on)
{
    bool was = g_sync_bn;
    g_sync_bn = on;
    return was;
}

bool cnas_dist_batch_stats_synced(void) { return g_dp && g_sync_bn; }

/* ---- collectives -------------------------------------------------------------------- */

#ifdef CNAS_HAVE_MPI
static cnas_status mpi_failed(cnas_error *err, const char *what, int rc)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return cnas_error_set(err, CNAS_ERR_IO, "MPI %s failed: %.*s", what, len, msg);
}

/* Sum in place over the world, in chunks that fit an int count. */
static cnas_status allreduce(void *buf, int64_t n, MPI_Datatype type, MPI_Op op, size_t elem,
                             cnas_error *err)
{
    const int64_t chunk = 1 << 28;
    for (int64_t o = 0; o < n; o += chunk) {
        int k = (int)(n - o < chunk ? n - o : chunk);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)o * elem, k, type, op,
                               MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_failed(err, "all-reduce", rc);
    }
    return CNAS_OK;
}
#endif

cnas_status cnas_dist_reduce_grads(cnas_tensor *const *params, int n, double weight,
                                   cnas_error *err)
{
    if (!g_dp)
        return CNAS_OK;
#ifdef CNAS_HAVE_MPI
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        if (params[i]->grad)
            total += params[i]->numel;
    float *buf = malloc((size_t)(total ? total : 1) * sizeof *buf);
    if (!buf)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "gradient reduction: out of memory for %lld "
                              "floats", (long long)total);
    float w = (float)weight;
    int64_t o = 0;
    for (int i = 0; i < n; i++) {
        const cnas_tensor *t = params[i];
        if (!t->grad)
            continue;
        for (int64_t k = 0; k < t->numel; k++)
            buf[o + k] = w * t->grad[k];
        o += t->numel;
    }
    cnas_status st = allreduce(buf, total, MPI_FLOAT, MPI_SUM, sizeof *buf, err);
    o = 0;
    for (int i = 0; !st && i < n; i++) {
        cnas_tensor *t = params[i];
        if (!t->grad)
            continue;
        memcpy(t->grad, buf + o, (size_t)t->numel * sizeof *buf);
        o += t->numel;
    }
    free(buf);
    return st;
#else
    (void)params;
    (void)n;
    (void)weight;
    (void)err;
    return CNAS_OK;
#endif
}

cnas_status cnas_dist_step_end(double *loss, int64_t *correct, bool whole, cnas_error *err)
{
    if (!g_dp)
        return CNAS_OK;
    double w = g_w_train;
    bool has_loss = *loss == *loss, has_correct = *correct >= 0;
    /* A batch held whole by every rank counts its hits once (weight 1 / size). */
    double buf[4] = {has_loss ? w * *loss : 0.0, has_loss ? 0.0 : 1.0,
                     has_correct ? w * (double)*correct : 0.0, has_correct ? 0.0 : 1.0};
    if (has_correct && !whole)
        buf[2] = (double)*correct; /* split: this rank's own rows */
    cnas_status st = cnas_dist_sum_f64(buf, 4, err);
    if (st)
        return st;
    *loss = buf[1] > 0.0 ? (double)NAN : buf[0];
    *correct = buf[3] > 0.0 ? -1 : (int64_t)(buf[2] + 0.5);
    return CNAS_OK;
}

cnas_status cnas_dist_allreduce_f64(double *v, int64_t n, cnas_error *err)
{
    if (!g_dp)
        return CNAS_OK;
#ifdef CNAS_HAVE_MPI
    return allreduce(v, n, MPI_DOUBLE, MPI_SUM, sizeof *v, err);
#else
    (void)v;
    (void)n;
    (void)err;
    return CNAS_OK;
#endif
}

cnas_status cnas_dist_sum_f64(double *v, int n, cnas_error *err)
{
    if (!g_dp)
        return CNAS_OK;
#ifdef CNAS_HAVE_MPI
    double *all = malloc((size_t)n * (size_t)g_world_size * sizeof *all);
    if (!all)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "sum over ranks: out of memory");
    int rc = MPI_Allgather(v, n, MPI_DOUBLE, all, n, MPI_DOUBLE, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS)
        for (int i = 0; i < n; i++) {
            double s = 0.0;
            for (int r = 0; r < g_world_size; r++)
                s += all[r * n + i];
            v[i] = s;
        }
    free(all);
    return rc == MPI_SUCCESS ? CNAS_OK : mpi_failed(err, "all-gather", rc);
#else
    (void)v;
    (void)n;
    (void)err;
    return CNAS_OK;
#endif
}

cnas_status cnas_dist_mean_f64(double *v, int n, double w, cnas_error *err)
{
    if (!g_dp || n <= 0)
        return CNAS_OK;
#ifdef CNAS_HAVE_MPI
    int k = n + 1;
    double *mine = malloc((size_t)k * sizeof *mine);
    double *all = malloc((size_t)k * (size_t)g_world_size * sizeof *all);
    int rc = MPI_ERR_NO_MEM;
    if (mine && all) {
        memcpy(mine, v, (size_t)n * sizeof *v);
        mine[n] = w;
        rc = MPI_Allgather(mine, k, MPI_DOUBLE, all, k, MPI_DOUBLE, MPI_COMM_WORLD);
    }
    if (rc == MPI_SUCCESS)
        for (int i = 0; i < n; i++) {
            double v0 = all[i], s = 0.0;
            for (int r = 0; r < g_world_size; r++)
                s += all[r * k + n] * (all[r * k + i] - v0);
            v[i] = v0 + s;
        }
    free(mine);
    free(all);
    return rc == MPI_SUCCESS ? CNAS_OK : mpi_failed(err, "all-gather", rc);
#else
    (void)v;
    (void)w;
    (void)err;
    return CNAS_OK;
#endif
}

cnas_status cnas_dist_max_i64(int64_t *v, int n, cnas_error *err)
{
    if (!g_dp)
        return CNAS_OK;
#ifdef CNAS_HAVE_MPI
    return allreduce(v, n, MPI_INT64_T, MPI_MAX, sizeof *v, err);
#else
    (void)v;
    (void)n;
    (void)err;
    return CNAS_OK;
#endif
}

cnas_status cnas_dist_bcast(void *buf, size_t bytes, cnas_error *err)
{
    if (!g_dp)
        return CNAS_OK;
    return cnas_dist_world_bcast(buf, bytes, err);
}

cnas_status cnas_dist_world_bcast(void *buf, size_t bytes, cnas_error *err)
{
#ifdef CNAS_HAVE_MPI
    if (!g_mpi || g_world_size <= 1)
        return CNAS_OK;
    int rc = MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? CNAS_OK : mpi_failed(err, "broadcast", rc);
#else
    (void)buf;
    (void)bytes;
    (void)err;
    return CNAS_OK;
#endif
}

cnas_status cnas_dist_same_u64(uint64_t v, bool *same, cnas_error *err)
{
    *same = true;
    if (!g_dp)
        return CNAS_OK;
#ifdef CNAS_HAVE_MPI
    uint64_t *all = malloc((size_t)g_world_size * sizeof *all);
    if (!all)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "comparison over ranks: out of memory");
    int rc = MPI_Allgather(&v, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    for (int r = 0; rc == MPI_SUCCESS && r < g_world_size; r++)
        *same = *same && all[r] == v;
    free(all);
    return rc == MPI_SUCCESS ? CNAS_OK : mpi_failed(err, "all-gather", rc);
#else
    (void)v;
    (void)err;
    return CNAS_OK;
#endif
}

cnas_status cnas_dist_send(int dest, int tag, const void *buf, size_t bytes, cnas_error *err)
{
#ifdef CNAS_HAVE_MPI
    int rc = MPI_Send(buf, (int)bytes, MPI_BYTE, dest, tag, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? CNAS_OK : mpi_failed(err, "send", rc);
#else
    (void)dest;
    (void)tag;
    (void)buf;
    (void)bytes;
    return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "cnas was built without MPI");
#endif
}

bool cnas_dist_recv(int tag, void *buf, size_t bytes, int *src, bool wait)
{
#ifdef CNAS_HAVE_MPI
    if (!g_mpi)
        return false;
    MPI_Status s;
    int flag = 1;
    if (wait)
        MPI_Probe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &s);
    else
        MPI_Iprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &flag, &s);
    if (!flag)
        return false;
    MPI_Recv(buf, (int)bytes, MPI_BYTE, s.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    *src = s.MPI_SOURCE;
    return true;
#else
    (void)tag;
    (void)buf;
    (void)bytes;
    (void)src;
    (void)wait;
    return false;
#endif
}
