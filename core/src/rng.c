/* Philox4x32-10 (Salmon et al., SC'11): a counter-based generator, so the state is
 * just (key, counter) and any position of a stream can be reproduced exactly. */
#include <cnas/rng.h>

#include <math.h>
#include <string.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

void cnas_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = mulhilo(PHILOX_M0, c0, &hi0);
        uint32_t lo1 = mulhilo(PHILOX_M1, c2, &hi1);
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n1 = lo1;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        uint32_t n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* splitmix64 finaliser: spreads seed and name hash over the key. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void cnas_rng_init(cnas_rng *r, uint64_t seed, const char *purpose)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a of the purpose name */
    for (const char *p = purpose ? purpose : ""; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ull;
    }
    uint64_t k = mix64(seed ^ mix64(h));
    memset(r, 0, sizeof *r);
    r->key[0] = (uint32_t)k;
    r->key[1] = (uint32_t)(k >> 32);
    r->counter = 0;
    r->pos = 4;
}

uint32_t cnas_rng_u32(cnas_rng *r)
{
    if (r->pos >= 4) {
        uint32_t ctr[4] = {(uint32_t)r->counter, (uint32_t)(r->counter >> 32), 0, 0};
        cnas_philox4x32(r->key, ctr, r->buf);
        r->counter++;
        r->pos = 0;
    }
    return r->buf[r->pos++];
}

uint64_t cnas_rng_u64(cnas_rng *r)
{
    uint64_t hi = cnas_rng_u32(r);
    return (hi << 32) | cnas_rng_u32(r);
}

float cnas_rng_uniform(cnas_rng *r)
{
    return (float)(cnas_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

double cnas_rng_uniform_double(cnas_rng *r)
{
    return (double)(cnas_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint32_t cnas_rng_below(cnas_rng *r, uint32_t n)
{
    if (n <= 1)
        return 0;
    /* Lemire's nearly-divisionless method with rejection: exact uniformity. */
    uint64_t m = (uint64_t)cnas_rng_u32(r) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (lo < t) {
            m = (uint64_t)cnas_rng_u32(r) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float cnas_rng_normal(cnas_rng *r)
{
    /* Box-Muller on doubles; u1 in (0, 1] keeps log finite. One value per call
     * so the stream position never depends on a hidden cached second value. */
    double u1 = 1.0 - cnas_rng_uniform_double(r);
    double u2 = cnas_rng_uniform_double(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

float cnas_rng_gumbel(cnas_rng *r)
{
    double u = cnas_rng_uniform_double(r);
    if (u < 1e-300)
        u = 1e-300;
    return (float)(-log(-log(u) + 0.0));
}

void cnas_rng_shuffle(cnas_rng *r, int64_t *idx, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j;
        if (i < 0xFFFFFFFFll)
            j = cnas_rng_below(r, (uint32_t)(i + 1));
        else
            j = (int64_t)(cnas_rng_u64(r) % (uint64_t)(i + 1));
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

int cnas_rng_categorical(cnas_rng *r, const float *w, int n)
{
    double total = 0.0;
    for (int i = 0; i < n; i++)
        total += w[i] > 0.0f ? w[i] : 0.0f;
    double u = cnas_rng_uniform_double(r) * total;
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (w[i] <= 0.0f)
            continue;
        last = i;
        if (u < w[i])
            return i;
        u -= w[i];
    }
    return last;
}

void cnas_rng_fill_uniform(cnas_rng *r, float *x, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * cnas_rng_uniform(r);
}

void cnas_rng_fill_normal(cnas_rng *r, float *x, int64_t n, float mean, float std)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = mean + std * cnas_rng_normal(r);
}
