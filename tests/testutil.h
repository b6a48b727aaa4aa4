/* Shared helpers for the Check suites. */
#ifndef CNAS_TESTUTIL_H
#define CNAS_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include <cnas/cnas.h>

/* Each suite file defines `Suite *make_suite(void)` and ends with CNAS_TEST_MAIN.
 * Tests run in-process (no fork): OpenMP and fork do not mix, and a crash is a
 * failure either way. */
#define CNAS_TEST_MAIN(make_suite)                                   \
    int main(void)                                                   \
    {                                                                \
        cnas_threads_set(2);                                         \
        SRunner *sr = srunner_create(make_suite());                  \
        srunner_set_fork_status(sr, CK_NOFORK);                      \
        srunner_run_all(sr, CK_NORMAL);                              \
        int failed = srunner_ntests_failed(sr);                      \
        srunner_free(sr);                                            \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                 \
    }

/* A persistent tensor filled from a named RNG stream with U(lo, hi). */
static inline cnas_tensor *tu_rand(int ndim, const int64_t *shape, uint64_t seed, float lo, float hi)
{
    cnas_error err;
    cnas_tensor *t = cnas_tensor_new(ndim, shape, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    cnas_rng r;
    cnas_rng_init(&r, seed, "test");
    cnas_rng_fill_uniform(&r, t->data, t->numel, lo, hi);
    return t;
}

/* Run a gradient check and fail the test with a readable report. */
#define TU_GRADCHECK(fn, ctx, inputs, n, opts)                                                  \
    do {                                                                                        \
        cnas_gradcheck_result r_;                                                               \
        cnas_error e_;                                                                          \
        cnas_status s_ = cnas_gradcheck((fn), (ctx), (inputs), (n), (opts), &r_, &e_);          \
        ck_assert_msg(s_ == CNAS_OK, "gradcheck could not run: %s", e_.msg);                    \
        ck_assert_msg(r_.checked > 0, "gradcheck compared no element");                         \
        ck_assert_msg(r_.failed == 0,                                                           \
                      "%lld of %lld gradient elements off; worst: input %d element %lld "       \
                      "analytic %.6g numeric %.6g (max abs err %.3g, max rel err %.3g)",        \
                      (long long)r_.failed, (long long)r_.checked, r_.worst_input,              \
                      (long long)r_.worst_index, r_.worst_analytic, r_.worst_numeric,           \
                      r_.max_abs_err, r_.max_rel_err);                                          \
    } while (0)

#endif
