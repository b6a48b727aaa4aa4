/* Direct stride-1 "same" convolution for narrow layers (ResNet-style 3x3 blocks of a
 * few dozen channels), where im2col + GEMM spends as long copying and packing as
 * multiplying. Each sample's input is copied once into a zero-padded plane; a block of
 * output channels times one or two 8-float vectors of an output row is accumulated in
 * registers over every input channel and tap, then stored. The same kernel gives the
 * input gradient (a correlation with the flipped, transposed kernel).
 *
 * Vectors are GCC/Clang vector extensions of 8 floats: every lane does the same
 * operations in the same order on every ISA level. */
#include <cnas/graph.h>

#include <omp.h>
#include <string.h>

#include "internal.h"

typedef float v8 __attribute__((vector_size(8 * sizeof(float))));

#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v8))

/* Output-channel block and vectors per row chunk: 4 x 2 (16 floats wide) for wide
 * rows, 8 x 1 for rows of at most 8. */
#define OB_WIDE 4
#define OB_NARROW 8

typedef struct direct_geom {
    int64_t C, H, W, O;
    int k, d, pad;
    int64_t Hp, Wp; /* padded plane */
    int64_t Wv;     /* output row width rounded up to the chunk */
    int jv, ob;     /* vectors per chunk, output channels per block */
} direct_geom;

/* wp[blk][c][tap][q] = w[blk·ob + q][c][tap] (zero beyond O). */
static void pack_weights(const direct_geom *g, const float *restrict w, float *restrict wp)
{
    int64_t kk = (int64_t)g->k * g->k, blocks = (g->O + g->ob - 1) / g->ob;
    for (int64_t blk = 0; blk < blocks; blk++)
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t t = 0; t < kk; t++)
                for (int q = 0; q < g->ob; q++) {
                    int64_t o = blk * g->ob + q;
                    wp[((blk * g->C + c) * kk + t) * g->ob + q] =
                        o < g->O ? w[(o * g->C + c) * kk + t] : 0.0f;
                }
}

static void pad_sample(const direct_geom *g, const float *restrict x, float *restrict xp)
{
    memset(xp, 0, (size_t)(g->C * g->Hp * g->Wp) * sizeof(float));
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t i = 0; i < g->H; i++)
            memcpy(xp + (c * g->Hp + i + g->pad) * g->Wp + g->pad, x + (c * g->H + i) * g->W,
                   (size_t)g->W * sizeof(float));
}

static inline void store_row(float *restrict y, const float *restrict v, int64_t n, bool acc)
{
    if (acc)
        for (int64_t j = 0; j < n; j++)
            y[j] += v[j];
    else
        memcpy(y, v, (size_t)n * sizeof(float));
}

/* One sample, one block of output channels. */
CNAS_CLONES static void direct_block(const direct_geom *g, const float *restrict xp,
                                     const float *restrict wb, float *restrict y, int64_t o0,
                                     bool acc)
{
    int64_t kk = (int64_t)g->k * g->k, plane = g->H * g->W;
    int nq = g->O - o0 < g->ob ? (int)(g->O - o0) : g->ob;
    for (int64_t i = 0; i < g->H; i++)
        for (int64_t j0 = 0; j0 < g->W; j0 += 8 * g->jv) {
            int64_t n = g->W - j0 < 8 * g->jv ? g->W - j0 : 8 * g->jv;
            float out[OB_NARROW][16];
            if (g->jv == 2) {
                v8 a[OB_WIDE][2];
                for (int q = 0; q < OB_WIDE; q++)
                    a[q][0] = a[q][1] = (v8){0};
                for (int64_t c = 0; c < g->C; c++)
                    for (int r = 0; r < g->k; r++) {
                        const float *xr = xp + (c * g->Hp + i + (int64_t)r * g->d) * g->Wp + j0;
                        const float *wr = wb + (c * kk + (int64_t)r * g->k) * OB_WIDE;
                        for (int s = 0; s < g->k; s++) {
                            v8 x0, x1;
                            LOAD8(x0, xr + (int64_t)s * g->d);
                            LOAD8(x1, xr + (int64_t)s * g->d + 8);
                            const float *wq = wr + (int64_t)s * OB_WIDE;
                            for (int q = 0; q < OB_WIDE; q++) {
                                a[q][0] += wq[q] * x0;
                                a[q][1] += wq[q] * x1;
                            }
                        }
                    }
                for (int q = 0; q < nq; q++) {
                    memcpy(out[q], &a[q][0], sizeof(v8));
                    memcpy(out[q] + 8, &a[q][1], sizeof(v8));
                }
            } else {
                v8 a[OB_NARROW];
                for (int q = 0; q < OB_NARROW; q++)
                    a[q] = (v8){0};
                for (int64_t c = 0; c < g->C; c++)
                    for (int r = 0; r < g->k; r++) {
                        const float *xr = xp + (c * g->Hp + i + (int64_t)r * g->d) * g->Wp + j0;
                        const float *wr = wb + (c * kk + (int64_t)r * g->k) * OB_NARROW;
                        for (int s = 0; s < g->k; s++) {
                            v8 x0;
                            LOAD8(x0, xr + (int64_t)s * g->d);
                            const float *wq = wr + (int64_t)s * OB_NARROW;
                            for (int q = 0; q < OB_NARROW; q++)
                                a[q] += wq[q] * x0;
                        }
                    }
                for (int q = 0; q < nq; q++)
                    memcpy(out[q], &a[q], sizeof(v8));
            }
            for (int q = 0; q < nq; q++)
                store_row(y + (o0 + q) * plane + i * g->W + j0, out[q], n, acc);
        }
}

bool cnas__conv_direct_fits(int64_t C, int64_t O, int64_t W, int k)
{
    /* Narrow layers only: wide ones are GEMM-bound and OpenBLAS wins there. */
    return k >= 1 && (k & 1) && C <= 128 && O <= 128 && W >= 4 && W <= 256;
}

bool cnas__conv_direct(cnas_graph *gr, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int k,
                       int d, const float *x, const float *w, float *y, bool acc)
{
    direct_geom g = {.C = C, .H = H, .W = W, .O = O, .k = k, .d = d, .pad = d * (k - 1) / 2};
    g.jv = W > 8 ? 2 : 1;
    g.ob = g.jv == 2 ? OB_WIDE : OB_NARROW;
    g.Wv = (W + 8 * g.jv - 1) / (8 * g.jv) * (8 * g.jv);
    g.Hp = H + 2 * g.pad;
    g.Wp = g.Wv + 2 * g.pad;
    int64_t kk = (int64_t)k * k, blocks = (O + g.ob - 1) / g.ob;
    int nt = omp_get_max_threads();
    size_t slice = (size_t)(C * g.Hp * g.Wp);
    cnas_arena_mark m = cnas_graph_mark(gr);
    float *wp = cnas_graph_alloc(gr, (size_t)(blocks * C * kk * g.ob) * sizeof(float));
    float *scratch = cnas_graph_alloc(gr, (size_t)nt * slice * sizeof(float));
    if (!wp || !scratch)
        return false;
    pack_weights(&g, w, wp);
    int64_t in_plane = C * H * W, out_plane = O * H * W;
#pragma omp parallel num_threads(nt) if (N * out_plane * C * kk >= (1 << 15))
    {
        float *xp = scratch + (size_t)omp_get_thread_num() * slice;
#pragma omp for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            pad_sample(&g, x + n * in_plane, xp);
            for (int64_t blk = 0; blk < blocks; blk++)
                direct_block(&g, xp, wp + blk * C * kk * g.ob, y + n * out_plane, blk * g.ob, acc);
        }
    }
    cnas_graph_rewind(gr, m);
    return true;
}
