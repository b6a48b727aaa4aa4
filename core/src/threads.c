#include <cnas/threads.h>

#include <cblas.h>
#include <omp.h>
#include <unistd.h>

static int g_threads;

int cnas_threads_set(int n)
{
    if (n <= 0) {
        long p = sysconf(_SC_NPROCESSORS_ONLN);
        n = p > 0 ? (int)p : 1;
    }
    omp_set_num_threads(n);
    omp_set_max_active_levels(1);
    openblas_set_num_threads(1);
    g_threads = n;
    return n;
}

int cnas_threads_get(void)
{
    if (!g_threads)
        return cnas_threads_set(0);
    return g_threads;
}

const char *cnas_blas_core(void)
{
    return openblas_get_corename();
}

const char *cnas_blas_config(void)
{
    return openblas_get_config();
}

/* Whatever the caller does, OpenBLAS must never start its own team inside an
 * OpenMP region: pin it to one thread as soon as libcnas is loaded. */
__attribute__((constructor)) static void cnas_threads_pin_blas(void)
{
    openblas_set_num_threads(1);
}
