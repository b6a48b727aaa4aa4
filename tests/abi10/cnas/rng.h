/* cnas/rng.h — seeded, counter-based random streams (Philox4x32-10).
 *
 * A stream is named by purpose ("data", "augment", "sample", "init", ...): its key
 * is derived from the run seed and the name, so adding a new consumer never shifts
 * the numbers another one sees. The whole state is a small plain struct: copy it
 * into a checkpoint and back, and a resumed run draws exactly the numbers an
 * uninterrupted one would. Draws are sequential; kernels that need noise draw it on
 * one thread, so results never depend on the thread count. */
#ifndef CNAS_RNG_H
#define CNAS_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnas_rng {
    uint32_t key[2];
    uint64_t counter;   /* index of the next 128-bit block */
    uint32_t buf[4];    /* the current block */
    uint32_t pos;       /* next unread word of buf; 4 = empty */
    uint32_t pad_;
} cnas_rng;

/* A stream for (seed, purpose). */
void cnas_rng_init(cnas_rng *r, uint64_t seed, const char *purpose);

uint32_t cnas_rng_u32(cnas_rng *r);
uint64_t cnas_rng_u64(cnas_rng *r);
/* Uniform in [0, 1) with 24 bits (float) / 53 bits (double). */
float cnas_rng_uniform(cnas_rng *r);
double cnas_rng_uniform_double(cnas_rng *r);
/* Uniform integer in [0, n), unbiased; n >= 1. */
uint32_t cnas_rng_below(cnas_rng *r, uint32_t n);
/* Standard normal (Box-Muller, both values consumed deterministically). */
float cnas_rng_normal(cnas_rng *r);
/* Gumbel(0, 1): -log(-log(u)), u in (0, 1). */
float cnas_rng_gumbel(cnas_rng *r);
/* Fisher-Yates shuffle of n int64 indices. */
void cnas_rng_shuffle(cnas_rng *r, int64_t *idx, int64_t n);
/* Draw from a categorical distribution given n non-negative weights (need not sum to 1). */
int cnas_rng_categorical(cnas_rng *r, const float *weights, int n);

/* Fill helpers for initialisation. */
void cnas_rng_fill_uniform(cnas_rng *r, float *x, int64_t n, float lo, float hi);
void cnas_rng_fill_normal(cnas_rng *r, float *x, int64_t n, float mean, float std);

/* Philox4x32-10 block function, exposed for tests against known answers. */
void cnas_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]);

#ifdef __cplusplus
}
#endif
#endif
