/* cnas/gradcheck.h — finite-difference gradient checking for op authors.
 *
 * f builds a forward pass from `inputs` on g and returns its output y. The check
 * forms the scalar L = Σ r_i·y_i with a fixed random r, runs cnas_backward once
 * for the analytic gradient of every input flagged CNAS_T_REQUIRES_GRAD, then
 * compares each element (or a seeded sample of max_per_input of them) with the
 * central difference (L(x+ε) - L(x-ε)) / 2ε accumulated in double. An element
 * passes when |analytic - numeric| <= atol + rtol·max(|analytic|, |numeric|).
 * f must be deterministic (re-seed any RNG it uses on every call). */
#ifndef CNAS_GRADCHECK_H
#define CNAS_GRADCHECK_H

#include <stdint.h>

#include <cnas/graph.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef cnas_tensor *(*cnas_gradcheck_fn)(cnas_graph *g, cnas_tensor *const *inputs, void *ctx);

typedef struct cnas_gradcheck_opts {
    double eps;            /* 0 means 1e-2 */
    double atol;           /* 0 means 1e-3 */
    double rtol;           /* 0 means 1e-2 */
    int64_t max_per_input; /* 0 means every element */
    uint64_t seed;
} cnas_gradcheck_opts;

typedef struct cnas_gradcheck_result {
    int64_t checked;       /* elements compared */
    int64_t failed;        /* elements outside tolerance */
    double max_abs_err;
    double max_rel_err;    /* |a-n| / max(|a|, |n|, 1e-12) over all elements */
    int worst_input;       /* input and element of the largest violation (or abs error) */
    int64_t worst_index;
    double worst_analytic, worst_numeric;
} cnas_gradcheck_result;

/* Returns CNAS_OK when the check ran (inspect r->failed), an error when the forward or
 * backward pass itself failed. */
cnas_status cnas_gradcheck(cnas_gradcheck_fn f, void *ctx, cnas_tensor *const *inputs, int n,
                           const cnas_gradcheck_opts *o, cnas_gradcheck_result *r, cnas_error *err);

#ifdef __cplusplus
}
#endif
#endif
