/* cnas/threads.h — the one place that owns threads.
 *
 * Scheme: OpenMP owns every worker thread. Kernels split their work across the
 * OpenMP team (each thread takes its share of batch items or channels) and call
 * OpenBLAS from inside that split, so OpenBLAS is pinned to one thread and never
 * starts a team of its own: no nesting, no oversubscription. cnas_threads_set()
 * applies a count to both libraries; call it once at start-up (the host does). */
#ifndef CNAS_THREADS_H
#define CNAS_THREADS_H

#ifdef __cplusplus
extern "C" {
#endif

/* n <= 0 means the number of online processors. Returns the count in effect. */
int cnas_threads_set(int n);
int cnas_threads_get(void);

/* OpenBLAS core name ("Haswell", "SkylakeX", ...) and build configuration string. */
const char *cnas_blas_core(void);
const char *cnas_blas_config(void);

#ifdef __cplusplus
}
#endif
#endif
