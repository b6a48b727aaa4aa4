/* 2-D convolution, NCHW, forward and backward. Three paths:
 *   depthwise (groups == C_in == C_out): direct loops over each (n, c) plane, read from
 *     a zero-padded copy so that no row has border columns. The loop over output
 *     columns keeps each output's sum in a register across all taps (3x3 and 5x5 at
 *     stride 1 and 2 are instantiated with constant sizes) and vectorises. The stride-1
 *     input gradient is the same correlation of the padded dY with the flipped kernel;
 *     strided ones gather from zero-stuffed dY rows. The weight gradient keeps per-tap,
 *     per-column sums in registers across rows and is owned per channel.
 *   pointwise (1x1, stride 1, no padding, one group): GEMMs on the NCHW planes as
 *     they are, no im2col;
 *   general: im2col per sample and group, then GEMM; col2im for the input gradient.
 * Work is split over samples, planes or channels by OpenMP; each thread calls
 * single-threaded OpenBLAS. Nothing depends on the thread count: outputs and input
 * gradients are per sample, depthwise weight gradients are owned per channel, and
 * GEMM weight gradients are summed from a fixed number of batch chunks in chunk
 * order. Gradients nobody asked for are never computed, and all scratch comes from
 * the graph arena and is released before the call returns. */
#include <cnas/ops.h>

#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "internal.h"

/* Below this many multiply-adds a call runs on the calling thread. */
#define CONV_PAR_MIN (1 << 15)
/* Batch chunks of the GEMM weight gradient, and the most their partial sums may take. */
#define CONV_WGRAD_CHUNKS 16
#define CONV_WGRAD_BYTES ((size_t)64 << 20)

/* The depthwise loops are cloned per ISA level (CNAS_CLONES, internal.h). */
#define CONV_CLONES CNAS_CLONES

typedef struct conv_geom {
    int64_t N, C, H, W, O, Ho, Wo;
    int kh, kw, sh, sw, ph, pw, dh, dw, groups;
} conv_geom;

typedef struct conv_ctx {
    conv_geom g;
} conv_ctx;

/* Output columns j whose input column j*s - p + off lies in [0, W). */
static inline void valid_range(int64_t Wo, int64_t W, int s, int p, int64_t off, int64_t *lo,
                               int64_t *hi)
{
    int64_t a = 0, z = Wo;
    int64_t need = p - off; /* j*s >= p - off */
    if (need > 0)
        a = (need + s - 1) / s;
    int64_t top = W - 1 + p - off; /* j*s <= W - 1 + p - off */
    if (top < 0)
        z = 0;
    else if (top / s + 1 < z)
        z = top / s + 1;
    *lo = a;
    *hi = z > a ? z : a;
}

/* ---- depthwise ---------------------------------------------------------------------- */

/* The depthwise kernels read a zero-padded copy of each input plane (per-thread scratch
 * whose border is zeroed once), so no output row has border columns: every row is one
 * bounds-free loop. With a column stride of 2 each padded row is stored as its even
 * columns followed by its odd ones, so every tap reads consecutive floats. */
typedef struct dw_pad {
    int64_t Hp, Wp; /* padded plane; Wp is the row stride the kernels use */
    int64_t half;   /* split rows: where the odd columns start, else 0 */
    int ph, pw;
} dw_pad;

static dw_pad dw_pad_of(int64_t H, int64_t W, int ph, int pw, int sw)
{
    int64_t Wp = W + 2 * pw;
    return (dw_pad){H + 2 * ph, Wp, sw == 2 ? (Wp + 1) / 2 : 0, ph, pw};
}

/* Where padded column c of a row is stored, and the step between output columns. */
static inline int64_t dw_col(const dw_pad *p, int64_t c)
{
    return p->half ? (c & 1) * p->half + (c >> 1) : c;
}

static inline int64_t dw_step(const dw_pad *p, int sw)
{
    return p->half ? 1 : sw;
}

/* The plane x (H x W) as the kernels see it: itself when neither padded nor split,
 * else copied into scratch whose other entries are zero. */
CONV_CLONES static const float *dw_padded(const dw_pad *p, const float *restrict x, int64_t H,
                                          int64_t W, float *restrict scratch)
{
    if (!p->ph && !p->pw && !p->half)
        return x;
    /* Split rows: input columns q0, q0+2, ... land on even padded columns, the others on
     * odd ones; each set is one contiguous run in the row. */
    int64_t q0 = p->pw & 1, q1 = 1 - q0;
    int64_t ne = (W - q0 + 1) / 2, no = (W - q1 + 1) / 2;
    int64_t de = dw_col(p, p->pw + q0), dodd = dw_col(p, p->pw + q1);
    for (int64_t r = 0; r < H; r++) {
        float *row = scratch + (r + p->ph) * p->Wp;
        const float *src = x + r * W;
        if (!p->half) {
            memcpy(row + p->pw, src, (size_t)W * sizeof(float));
            continue;
        }
        for (int64_t m = 0; m < ne; m++)
            row[de + m] = src[q0 + 2 * m];
        for (int64_t m = 0; m < no; m++)
            row[dodd + m] = src[q1 + 2 * m];
    }
    return scratch;
}

/* Offset of tap column b·d within a row: plain, or in a split row (odd columns from
 * half on). */
static inline __attribute__((always_inline)) int64_t tap_col(bool SPLIT, int64_t bd, int64_t half)
{
    return SPLIT ? (bd >> 1) + (bd & 1) * half : bd;
}

/* For each of `rows` output rows i (y advancing by ys, x by xs):
 *   y[i][j] = (ACC ? y[i][j] : init) + Σ_a Σ_b w[a][b] · x[off + i·xs + a·rs + col(b·d) + j]
 * for j < n. KH, KW, SPLIT and ACC are constants at every call site, so the tap loops
 * unroll and the j loop vectorises; each output keeps its running sum in a register
 * across all taps, and the weights and tap offsets are set up once for all rows. */
static inline __attribute__((always_inline)) void
taps(int KH, int KW, bool SPLIT, bool ACC, const float *restrict w, const float *restrict x,
     int64_t off, int64_t xs, int64_t rs, int64_t d, int64_t half, float *restrict y,
     int64_t ys, int64_t rows, int64_t n, float init)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + off + i * xs;
        float *yi = y + i * ys;
        for (int64_t j = 0; j < n; j++) {
            float s = ACC ? yi[j] : init;
            for (int a = 0; a < KH; a++)
                for (int b = 0; b < KW; b++)
                    s += w[a * KW + b] * xi[a * rs + tap_col(SPLIT, b * d, half) + j];
            yi[j] = s;
        }
    }
}

/* y (Ho x Wo) = init + correlation of the padded plane xp with w (kh x kw), or
 * y += correlation when acc. */
CONV_CLONES static void dw_plane(const conv_geom *g, const dw_pad *p, const float *restrict xp,
                                 const float *restrict w, float *restrict y, bool acc,
                                 float init)
{
    int64_t rs = (int64_t)g->dh * p->Wp, n = g->Wo, js = dw_step(p, g->sw), d = g->dw;
    int64_t h = p->half, xs = g->sh * p->Wp;
    int k = g->kh == g->kw && js == 1 ? g->kh : 0;
#define DW_CASE(K, SPLIT)                                                                 \
    if (k == K && (h != 0) == SPLIT) {                                                    \
        if (acc)                                                                          \
            taps(K, K, SPLIT, true, w, xp, 0, xs, rs, d, h, y, n, g->Ho, n, 0.0f);        \
        else                                                                              \
            taps(K, K, SPLIT, false, w, xp, 0, xs, rs, d, h, y, n, g->Ho, n, init);       \
        return;                                                                           \
    }
    DW_CASE(3, false) DW_CASE(5, false) DW_CASE(3, true) DW_CASE(5, true)
#undef DW_CASE
    for (int64_t i = 0; i < g->Ho; i++) {
        float *yr = y + i * g->Wo;
        int64_t off = i * xs;
        if (!acc)
            for (int64_t j = 0; j < n; j++)
                yr[j] = init;
        for (int a = 0; a < g->kh; a++)
            for (int b = 0; b < g->kw; b++) {
                float wv = w[a * g->kw + b];
                const float *xr = xp + off + a * rs + dw_col(p, (int64_t)b * g->dw);
                if (js == 1)
                    for (int64_t j = 0; j < n; j++)
                        yr[j] += wv * xr[j];
                else
                    for (int64_t j = 0; j < n; j++)
                        yr[j] += wv * xr[j * js];
            }
    }
}

/* The strided input gradient gathers from dY rows "stuffed" with zeros: dy[i][j] sits
 * at column j·sw + P of a row of Wu, so input column q reads the stuffed row at
 * q + e + b·dw for the column-flipped taps b, a stride-1 loop like the forward. */
typedef struct dw_stuff {
    int64_t Wu, P, e;
} dw_stuff;

static dw_stuff dw_stuff_of(const conv_geom *g)
{
    int64_t reach = (int64_t)(g->kw - 1) * g->dw;
    int64_t P = reach > g->pw ? reach - g->pw : 0;
    return (dw_stuff){g->W + g->pw + P, P, g->pw + P - reach};
}

/* dx (H x W) += transposed convolution of dy (Ho x Wo) with the kernel, for strides above
 * 1 and padding wider than the kernel's reach. wf is the kernel flipped in both axes; u
 * is Ho x Wu scratch whose non-data columns are zero and stay zero. */
CONV_CLONES static void dw_tconv_plane(const conv_geom *g, const dw_stuff *st,
                                       const float *restrict dy, const float *restrict wf,
                                       float *restrict u, float *restrict dx)
{
    for (int64_t i = 0; i < g->Ho; i++)
        for (int64_t j = 0; j < g->Wo && j * g->sw + st->P < st->Wu; j++)
            u[i * st->Wu + j * g->sw + st->P] = dy[i * g->Wo + j];
    int kw = g->kw;
    int64_t d = g->dw, n = g->W;
    for (int64_t r = 0; r < g->H; r++) {
        float *xr = dx + r * g->W;
        for (int a = 0; a < g->kh; a++) {
            int64_t num = r + g->ph - (int64_t)a * g->dh;
            if (num < 0 || num % g->sh || num / g->sh >= g->Ho)
                continue;
            /* Row a of w, columns reversed, is row kh-1-a of the full flip. */
            const float *wr = wf + (g->kh - 1 - a) * kw;
            int64_t off = num / g->sh * st->Wu + st->e;
            if (kw == 3)
                taps(1, 3, false, true, wr, u, off, 0, 0, d, 0, xr, 0, 1, n, 0.0f);
            else if (kw == 5)
                taps(1, 5, false, true, wr, u, off, 0, 0, d, 0, xr, 0, 1, n, 0.0f);
            else
                for (int b = 0; b < kw; b++)
                    for (int64_t q = 0; q < n; q++)
                        xr[q] += wr[b] * u[off + q + b * d];
        }
    }
}

/* Four floats as one value (GCC / Clang generic vectors, one SSE register on the x86-64
 * baseline); v4u is its unaligned-memory view. */
typedef float v4f __attribute__((vector_size(16)));
typedef float v4u __attribute__((vector_size(16), aligned(4)));

/* acc[b][j] += Σ_i dy[i][j] · xp[off + i·sh·Wp + col(b·d) + j] for the KW <= 5 taps of
 * one kernel row (consecutive columns: stride 1, or split rows). Columns go in blocks of 8
 * whose partial sums stay in registers across all rows i (named variables, two vectors
 * per tap: enough independent chains to hide the add latency); one dY load feeds KW
 * taps. */
static inline __attribute__((always_inline)) void
wg_taps(int KW, bool SPLIT, const conv_geom *g, const dw_pad *p, const float *restrict dy,
        const float *restrict xp, int64_t off, float *restrict acc)
{
    int64_t n = g->Wo, step = (int64_t)g->sh * p->Wp, d = g->dw, h = p->half, jb = 0;
    for (; jb + 8 <= n; jb += 8) {
        v4f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0};
        v4f b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0}, b4 = {0};
        for (int64_t i = 0; i < g->Ho; i++) {
            const float *yr = dy + i * n + jb;
            v4f ya = *(const v4u *)yr, yb = *(const v4u *)(yr + 4);
            const float *xa = xp + off + i * step + jb;
#define WG_TAP(B, A, Bv)                                                                  \
    if (KW > B) {                                                                         \
        A += ya * *(const v4u *)(xa + tap_col(SPLIT, B * d, h));                          \
        Bv += yb * *(const v4u *)(xa + tap_col(SPLIT, B * d, h) + 4);                     \
    }
            WG_TAP(0, a0, b0) WG_TAP(1, a1, b1) WG_TAP(2, a2, b2) WG_TAP(3, a3, b3)
            WG_TAP(4, a4, b4)
#undef WG_TAP
        }
        v4f va[5] = {a0, a1, a2, a3, a4}, vb[5] = {b0, b1, b2, b3, b4};
        for (int b = 0; b < KW; b++) {
            *(v4u *)(acc + b * n + jb) += va[b];
            *(v4u *)(acc + b * n + jb + 4) += vb[b];
        }
    }
    for (int64_t j = jb; j < n; j++)
        for (int b = 0; b < KW; b++) {
            float s = 0.0f;
            for (int64_t i = 0; i < g->Ho; i++)
                s += dy[i * n + j] * xp[off + i * step + tap_col(SPLIT, b * d, h) + j];
            acc[b * n + j] += s;
        }
}

/* acc[a·kw + b][j] += Σ_i dy[i][j] · x[i·s + a·d][j·s + b·d] on the padded plane: per-tap,
 * per-column partial sums, summed over j once per channel. */
CONV_CLONES static void dw_wgrad_plane(const conv_geom *g, const dw_pad *p,
                                       const float *restrict dy, const float *restrict xp,
                                       float *restrict acc)
{
    int64_t n = g->Wo, js = dw_step(p, g->sw);
    for (int a = 0; a < g->kh; a++) {
        int64_t off = (int64_t)a * g->dh * p->Wp;
        float *ar = acc + (int64_t)a * g->kw * n;
        if (js == 1 && (g->kw == 3 || g->kw == 5)) {
            bool split = p->half != 0;
            if (g->kw == 3 && !split)
                wg_taps(3, false, g, p, dy, xp, off, ar);
            else if (g->kw == 3)
                wg_taps(3, true, g, p, dy, xp, off, ar);
            else if (!split)
                wg_taps(5, false, g, p, dy, xp, off, ar);
            else
                wg_taps(5, true, g, p, dy, xp, off, ar);
            continue;
        }
        /* Other kernel widths and strides above 2: plain loops. */
        for (int b = 0; b < g->kw; b++) {
            float *tr = ar + b * n;
            int64_t cb = dw_col(p, (int64_t)b * g->dw);
            for (int64_t i = 0; i < g->Ho; i++) {
                const float *yr = dy + i * n;
                const float *xr = xp + off + i * g->sh * p->Wp + cb;
                for (int64_t j = 0; j < n; j++)
                    tr[j] += yr[j] * xr[j * js];
            }
        }
    }
}

/* ---- im2col ------------------------------------------------------------------------- */

/* col[(c*kh + a)*kw + b][i*Wo + j] = x[c][i*s - p + a*d][j*s - p + b*d] (0 outside). */
/* Stride 1 with the output as large as the input: each tap's row block is the input
 * plane shifted by one offset, so it is one copy of the plane plus zeroed borders
 * (instead of a copy per feature-map row). */
static void im2col_same(const conv_geom *g, const float *restrict x, int64_t cg,
                        float *restrict col)
{
    int64_t H = g->H, W = g->W, hw = H * W;
    for (int64_t c = 0; c < cg; c++)
        for (int a = 0; a < g->kh; a++)
            for (int b = 0; b < g->kw; b++) {
                float *row = col + ((c * g->kh + a) * g->kw + b) * hw;
                const float *xp = x + c * hw;
                int64_t dr = (int64_t)a * g->dh - g->ph, dc = (int64_t)b * g->dw - g->pw;
                int64_t ilo = dr < 0 ? -dr : 0, ihi = dr > 0 ? H - dr : H;
                int64_t jlo = dc < 0 ? -dc : 0, jhi = dc > 0 ? W - dc : W;
                if (ilo >= ihi || jlo >= jhi) {
                    memset(row, 0, (size_t)hw * sizeof(float));
                    continue;
                }
                int64_t shift = dr * W + dc, q0 = ilo * W, q1 = ihi * W;
                int64_t qa = q0 > -shift ? q0 : -shift, qb = q1 < hw - shift ? q1 : hw - shift;
                memset(row, 0, (size_t)q0 * sizeof(float));
                memcpy(row + qa, xp + qa + shift, (size_t)(qb - qa) * sizeof(float));
                memset(row + q1, 0, (size_t)(hw - q1) * sizeof(float));
                if (jlo > 0 || jhi < W)
                    for (int64_t i = ilo; i < ihi; i++) {
                        for (int64_t j = 0; j < jlo; j++)
                            row[i * W + j] = 0.0f;
                        for (int64_t j = jhi; j < W; j++)
                            row[i * W + j] = 0.0f;
                    }
            }
}

static void im2col(const conv_geom *g, const float *restrict x, int64_t cg, float *restrict col)
{
    if (g->sh == 1 && g->sw == 1 && g->Ho == g->H && g->Wo == g->W) {
        im2col_same(g, x, cg, col);
        return;
    }
    int64_t hw = g->Ho * g->Wo;
    for (int64_t c = 0; c < cg; c++)
        for (int a = 0; a < g->kh; a++)
            for (int b = 0; b < g->kw; b++) {
                float *row = col + ((c * g->kh + a) * g->kw + b) * hw;
                int64_t jlo, jhi;
                valid_range(g->Wo, g->W, g->sw, g->pw, (int64_t)b * g->dw, &jlo, &jhi);
                for (int64_t i = 0; i < g->Ho; i++) {
                    float *out = row + i * g->Wo;
                    int64_t r = i * g->sh - g->ph + (int64_t)a * g->dh;
                    if (r < 0 || r >= g->H) {
                        memset(out, 0, (size_t)g->Wo * sizeof(float));
                        continue;
                    }
                    const float *xr = x + (c * g->H + r) * g->W;
                    int64_t o = (int64_t)b * g->dw - g->pw;
                    for (int64_t j = 0; j < jlo; j++)
                        out[j] = 0.0f;
                    if (g->sw == 1)
                        memcpy(out + jlo, xr + o + jlo, (size_t)(jhi - jlo) * sizeof(float));
                    else
                        for (int64_t j = jlo; j < jhi; j++)
                            out[j] = xr[o + j * g->sw];
                    for (int64_t j = jhi; j < g->Wo; j++)
                        out[j] = 0.0f;
                }
            }
}

static void col2im_add(const conv_geom *g, const float *restrict col, int64_t cg,
                       float *restrict dx)
{
    int64_t hw = g->Ho * g->Wo;
    for (int64_t c = 0; c < cg; c++)
        for (int a = 0; a < g->kh; a++)
            for (int b = 0; b < g->kw; b++) {
                const float *row = col + ((c * g->kh + a) * g->kw + b) * hw;
                int64_t jlo, jhi;
                valid_range(g->Wo, g->W, g->sw, g->pw, (int64_t)b * g->dw, &jlo, &jhi);
                for (int64_t i = 0; i < g->Ho; i++) {
                    int64_t r = i * g->sh - g->ph + (int64_t)a * g->dh;
                    if (r < 0 || r >= g->H)
                        continue;
                    float *xr = dx + (c * g->H + r) * g->W;
                    int64_t o = (int64_t)b * g->dw - g->pw;
                    const float *in = row + i * g->Wo;
                    if (g->sw == 1)
                        for (int64_t j = jlo; j < jhi; j++)
                            xr[o + j] += in[j];
                    else
                        for (int64_t j = jlo; j < jhi; j++)
                            xr[o + j * g->sw] += in[j];
                }
            }
}

static bool is_depthwise(const conv_geom *g)
{
    return g->groups == g->C && g->O == g->C && g->groups > 1;
}

static bool is_pointwise(const conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 &&
           g->groups == 1;
}

static int64_t conv_macs(const conv_geom *g)
{
    return g->N * g->O * g->Ho * g->Wo * (g->C / g->groups) * g->kh * g->kw;
}

/* ---- backward ------------------------------------------------------------------------ */

static void dw_backward(cnas_graph *gr, const conv_geom *g, const float *x, const float *w,
                        const float *dy, float *dx, float *dwt)
{
    int64_t in_plane = g->H * g->W, out_plane = g->Ho * g->Wo, kk = g->kh * g->kw;
    bool par = conv_macs(g) >= CONV_PAR_MIN;
    int nt = omp_get_max_threads();
    if (dx) {
        /* Stride 1 with padding within the kernel's reach: dx is dY padded by d·(k-1) - p,
         * correlated with the flipped kernel (geometry t). Otherwise: gather from
         * zero-stuffed dY rows. */
        conv_geom t = *g;
        t.H = g->Ho, t.W = g->Wo, t.Ho = g->H, t.Wo = g->W;
        t.ph = g->dh * (g->kh - 1) - g->ph;
        t.pw = g->dw * (g->kw - 1) - g->pw;
        bool corr = g->sh == 1 && g->sw == 1 && t.ph >= 0 && t.pw >= 0;
        dw_pad p = dw_pad_of(t.H, t.W, t.ph, t.pw, t.sw);
        dw_stuff st = dw_stuff_of(g);
        size_t slice = corr ? (size_t)(p.Hp * p.Wp) : (size_t)(g->Ho * st.Wu);
        float *wf = cnas_graph_alloc(gr, (size_t)(g->C * kk) * sizeof(float));
        float *scratch = cnas_graph_alloc(gr, (size_t)nt * slice * sizeof(float));
        if (!wf || !scratch)
            return;
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t k = 0; k < kk; k++)
                wf[c * kk + k] = w[c * kk + kk - 1 - k];
#pragma omp parallel num_threads(nt) if (par)
        {
            float *my = scratch + (size_t)omp_get_thread_num() * slice;
            memset(my, 0, slice * sizeof(float));
#pragma omp for schedule(static)
            for (int64_t pl = 0; pl < g->N * g->C; pl++) {
                const float *dyp = dy + pl * out_plane, *wc = wf + (pl % g->C) * kk;
                if (corr)
                    dw_plane(&t, &p, dw_padded(&p, dyp, t.H, t.W, my), wc, dx + pl * in_plane,
                             true, 0.0f);
                else
                    dw_tconv_plane(g, &st, dyp, wc, my, dx + pl * in_plane);
            }
        }
    }
    if (dwt) {
        dw_pad p = dw_pad_of(g->H, g->W, g->ph, g->pw, g->sw);
        size_t slice = (size_t)(kk * g->Wo + p.Hp * p.Wp);
        float *scratch = cnas_graph_alloc(gr, (size_t)nt * slice * sizeof(float));
        if (!scratch)
            return;
        /* Each channel's gradient is owned by one thread and summed over the batch in
         * sample order: no cross-thread reduction. */
#pragma omp parallel num_threads(nt) if (par)
        {
            float *acc = scratch + (size_t)omp_get_thread_num() * slice;
            float *my = acc + kk * g->Wo;
            memset(my, 0, (size_t)(p.Hp * p.Wp) * sizeof(float));
#pragma omp for schedule(static)
            for (int64_t c = 0; c < g->C; c++) {
                memset(acc, 0, (size_t)(kk * g->Wo) * sizeof(float));
                for (int64_t k = 0; k < g->N; k++) {
                    int64_t pl = k * g->C + c;
                    dw_wgrad_plane(g, &p, dy + pl * out_plane,
                                   dw_padded(&p, x + pl * in_plane, g->H, g->W, my), acc);
                }
                for (int64_t t = 0; t < kk; t++) {
                    double s = 0.0;
                    for (int64_t j = 0; j < g->Wo; j++)
                        s += acc[t * g->Wo + j];
                    dwt[c * kk + t] += (float)s;
                }
            }
        }
    }
}

/* Input gradient of the GEMM paths: per sample, dcol = W_gᵀ · dY_g, then col2im. */
/* The direct kernel's case: stride 1, groups 1, square odd kernel, "same" padding. */
static bool direct_case(const conv_geom *g)
{
    return g->sh == 1 && g->sw == 1 && g->groups == 1 && g->kh == g->kw && (g->kh & 1) &&
           g->dh == g->dw && g->ph == g->dh * (g->kh - 1) / 2 && g->pw == g->ph &&
           g->Ho == g->H && g->Wo == g->W && g->kh > 1 &&
           cnas__conv_direct_fits(g->C, g->O, g->W, g->kh);
}

/* Input gradient of a stride-1 convolution as a correlation of dY with the kernel
 * flipped and transposed: dx += Wtᵀ · im2col(dY) with Wt [cg][og·kh·kw]. The GEMM has
 * the forward's shape (K = og·kh·kw, output straight into dx), where the col2im route
 * multiplies with K = og (tiny for narrow layers) and scatters back. */
static bool gemm_backward_input_corr(cnas_graph *gr, const conv_geom *g, const float *w,
                                     const float *dy, float *dx)
{
    int64_t cg = g->C / g->groups, og = g->O / g->groups, kk = (int64_t)g->kh * g->kw;
    int64_t kdim = og * kk, in_plane = g->H * g->W, out_plane = g->Ho * g->Wo;
    conv_geom t = *g;
    t.C = g->O, t.O = g->C, t.H = g->Ho, t.W = g->Wo, t.Ho = g->H, t.Wo = g->W;
    t.ph = g->dh * (g->kh - 1) - g->ph;
    t.pw = g->dw * (g->kw - 1) - g->pw;
    if (g->sh != 1 || g->sw != 1 || t.ph < 0 || t.pw < 0 ||
        cnas_conv_out_size(t.H, t.kh, 1, t.ph, t.dh) != g->H ||
        cnas_conv_out_size(t.W, t.kw, 1, t.pw, t.dw) != g->W)
        return false;
    int nt = omp_get_max_threads();
    size_t slice = (size_t)(kdim * in_plane);
    bool direct = direct_case(g);
    float *wt = cnas_graph_alloc(gr, (size_t)(g->groups * cg * kdim) * sizeof(float));
    float *col = direct ? NULL : cnas_graph_alloc(gr, (size_t)nt * slice * sizeof(float));
    if (!wt || (!direct && !col))
        return true; /* the arena recorded the failure */
    /* Wt[grp][c][o][a][b] = w[grp][o][c][kh-1-a][kw-1-b] */
    for (int grp = 0; grp < g->groups; grp++)
        for (int64_t c = 0; c < cg; c++)
            for (int64_t o = 0; o < og; o++)
                for (int64_t k = 0; k < kk; k++)
                    wt[((grp * cg + c) * og + o) * kk + k] =
                        w[((grp * og + o) * cg + c) * kk + kk - 1 - k];
    if (direct) {
        cnas__conv_direct(gr, g->N, g->O, g->H, g->W, g->C, g->kh, g->dh, dy, wt, dx, true);
        return true;
    }
#pragma omp parallel num_threads(nt) if (conv_macs(g) >= CONV_PAR_MIN)
    {
        float *my = col + (size_t)omp_get_thread_num() * slice;
#pragma omp for schedule(static)
        for (int64_t k = 0; k < g->N; k++)
            for (int grp = 0; grp < g->groups; grp++) {
                im2col(&t, dy + (k * g->O + grp * og) * out_plane, og, my);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cg, (int)in_plane,
                            (int)kdim, 1.0f, wt + grp * cg * kdim, (int)kdim, my,
                            (int)in_plane, 1.0f, dx + (k * g->C + grp * cg) * in_plane,
                            (int)in_plane);
            }
    }
    return true;
}

static void gemm_backward_input(cnas_graph *gr, const conv_geom *g, const float *w,
                                const float *dy, float *dx)
{
    int64_t cg = g->C / g->groups, og = g->O / g->groups, kdim = cg * g->kh * g->kw;
    int64_t in_plane = g->H * g->W, out_plane = g->Ho * g->Wo;
    bool point = is_pointwise(g);
    if (!point && gemm_backward_input_corr(gr, g, w, dy, dx))
        return;
    int nt = omp_get_max_threads();
    size_t slice = (size_t)(kdim * out_plane);
    float *dcol = point ? NULL : cnas_graph_alloc(gr, (size_t)nt * slice * sizeof(float));
    if (!point && !dcol)
        return;
#pragma omp parallel num_threads(nt) if (conv_macs(g) >= CONV_PAR_MIN)
    {
        float *my = dcol ? dcol + (size_t)omp_get_thread_num() * slice : NULL;
#pragma omp for schedule(static)
        for (int64_t k = 0; k < g->N; k++)
            for (int grp = 0; grp < g->groups; grp++) {
                const float *wg = w + grp * og * kdim;
                const float *dys = dy + (k * g->O + grp * og) * out_plane;
                float *dxs = dx + (k * g->C + grp * cg) * in_plane;
                if (point) {
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)kdim,
                                (int)out_plane, (int)og, 1.0f, wg, (int)kdim, dys,
                                (int)out_plane, 1.0f, dxs, (int)out_plane);
                } else {
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)kdim,
                                (int)out_plane, (int)og, 1.0f, wg, (int)kdim, dys,
                                (int)out_plane, 0.0f, my, (int)out_plane);
                    col2im_add(g, my, cg, dxs);
                }
            }
    }
}

/* Weight gradient of the GEMM paths: dW_g = Σ_n dY_g[n] · col[n]ᵀ. The batch is cut into
 * a number of chunks that depends on the shapes only; each chunk sums its samples in
 * order into its own partial buffer and the partials are added in chunk order, so the
 * result is the same for any thread count. */
static void gemm_backward_weight(cnas_graph *gr, const conv_geom *g, const float *x,
                                 const float *dy, float *dwt)
{
    int64_t cg = g->C / g->groups, og = g->O / g->groups, kdim = cg * g->kh * g->kw;
    int64_t in_plane = g->H * g->W, out_plane = g->Ho * g->Wo;
    int64_t len = g->O * kdim;
    bool point = is_pointwise(g);
    int64_t K = g->N < CONV_WGRAD_CHUNKS ? g->N : CONV_WGRAD_CHUNKS;
    int64_t fit = (int64_t)(CONV_WGRAD_BYTES / ((size_t)len * sizeof(float)));
    if (K > fit)
        K = fit > 1 ? fit : 1;
    int nt = omp_get_max_threads();
    size_t slice = (size_t)(kdim * out_plane);
    float *col = point ? NULL : cnas_graph_alloc(gr, (size_t)nt * slice * sizeof(float));
    float *part = cnas_graph_alloc(gr, (size_t)K * (size_t)len * sizeof(float));
    if ((!point && !col) || !part)
        return;
    memset(part, 0, (size_t)K * (size_t)len * sizeof(float));
#pragma omp parallel num_threads(nt) if (conv_macs(g) >= CONV_PAR_MIN)
    {
        float *my = col ? col + (size_t)omp_get_thread_num() * slice : NULL;
#pragma omp for schedule(static)
        for (int64_t ch = 0; ch < K; ch++) {
            float *pc = part + ch * len;
            for (int64_t k = g->N * ch / K; k < g->N * (ch + 1) / K; k++)
                for (int grp = 0; grp < g->groups; grp++) {
                    const float *src = x + (k * g->C + grp * cg) * in_plane;
                    if (!point) {
                        im2col(g, src, cg, my);
                        src = my;
                    }
                    /* dW_gᵀ += col · dY_gᵀ: OpenBLAS packs this orientation about twice
                     * as fast as dY_g · colᵀ when og is small. */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)kdim, (int)og,
                                (int)out_plane, 1.0f, src, (int)out_plane,
                                dy + (k * g->O + grp * og) * out_plane, (int)out_plane, 1.0f,
                                pc + grp * og * kdim, (int)og);
                }
        }
    }
    /* Partials hold each group's dWᵀ ([kdim][og]); dW is [og][kdim] per group. */
#pragma omp parallel for schedule(static) if (len * K >= CONV_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        int64_t grp = i / (og * kdim), o = i / kdim % og, c = i % kdim;
        int64_t src = grp * og * kdim + c * og + o;
        float s = 0.0f;
        for (int64_t ch = 0; ch < K; ch++)
            s += part[ch * len + src];
        dwt[i] += s;
    }
}

static void conv_backward(cnas_graph *gr, cnas_node *n)
{
    const conv_geom *g = &((conv_ctx *)n->ctx)->g;
    cnas_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    const float *dy = n->out->grad;
    float *dx = NULL, *dw = NULL, *db = NULL;
    if (cnas_tensor_requires_grad(x) && !(dx = cnas_graph_grad(gr, x)))
        return;
    if (cnas_tensor_requires_grad(w) && !(dw = cnas_graph_grad(gr, w)))
        return;
    if (b && cnas_tensor_requires_grad(b) && !(db = cnas_graph_grad(gr, b)))
        return;
    int64_t out_plane = g->Ho * g->Wo;
    if (db) {
#pragma omp parallel for schedule(static) if (g->N * g->O * out_plane >= CONV_PAR_MIN)
        for (int64_t o = 0; o < g->O; o++) {
            double s = 0.0;
            for (int64_t k = 0; k < g->N; k++)
                for (int64_t t = 0; t < out_plane; t++)
                    s += dy[(k * g->O + o) * out_plane + t];
            db[o] += (float)s;
        }
    }
    if (!dx && !dw)
        return;
    /* Each part's scratch is released before the next one takes its own. */
    cnas_arena_mark mark = cnas_graph_mark(gr);
    if (is_depthwise(g)) {
        dw_backward(gr, g, x->data, w->data, dy, dx, NULL);
        cnas_graph_rewind(gr, mark);
        dw_backward(gr, g, x->data, w->data, dy, NULL, dw);
    } else {
        if (dx)
            gemm_backward_input(gr, g, w->data, dy, dx);
        cnas_graph_rewind(gr, mark);
        if (dw)
            gemm_backward_weight(gr, g, x->data, dy, dw);
    }
    cnas_graph_rewind(gr, mark);
}

/* ---- forward --------------------------------------------------------------------------- */

static bool gemm_forward(cnas_graph *gr, const conv_geom *g, const float *x, const float *w,
                         const float *b, float *y)
{
    if (direct_case(g)) {
        if (!cnas__conv_direct(gr, g->N, g->C, g->H, g->W, g->O, g->kh, g->dh, x, w, y, false))
            return false;
        int64_t plane = g->H * g->W;
        if (b)
#pragma omp parallel for schedule(static) if (g->N * g->O * plane >= CONV_PAR_MIN)
            for (int64_t no = 0; no < g->N * g->O; no++)
                for (int64_t t = 0; t < plane; t++)
                    y[no * plane + t] += b[no % g->O];
        return true;
    }
    int64_t cg = g->C / g->groups, og = g->O / g->groups, kdim = cg * g->kh * g->kw;
    int64_t in_plane = g->H * g->W, out_plane = g->Ho * g->Wo;
    bool point = is_pointwise(g);
    int nt = omp_get_max_threads();
    size_t slice = (size_t)(kdim * out_plane);
    cnas_arena_mark mark = cnas_graph_mark(gr);
    float *col = point ? NULL : cnas_graph_alloc(gr, (size_t)nt * slice * sizeof(float));
    if (!point && !col)
        return false;
#pragma omp parallel num_threads(nt) if (conv_macs(g) >= CONV_PAR_MIN)
    {
        float *my = col ? col + (size_t)omp_get_thread_num() * slice : NULL;
#pragma omp for schedule(static)
        for (int64_t k = 0; k < g->N; k++) {
            for (int grp = 0; grp < g->groups; grp++) {
                const float *src = x + (k * g->C + grp * cg) * in_plane;
                if (!point) {
                    im2col(g, src, cg, my);
                    src = my;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)og, (int)out_plane,
                            (int)kdim, 1.0f, w + grp * og * kdim, (int)kdim, src, (int)out_plane,
                            0.0f, y + (k * g->O + grp * og) * out_plane, (int)out_plane);
            }
            /* Bias while the sample's output is still in cache. */
            for (int64_t o = 0; b && o < g->O; o++) {
                float *yp = y + (k * g->O + o) * out_plane;
                for (int64_t t = 0; t < out_plane; t++)
                    yp[t] += b[o];
            }
        }
    }
    cnas_graph_rewind(gr, mark);
    return true;
}

cnas_tensor *cnas_conv2d(cnas_graph *gr, cnas_tensor *x, cnas_tensor *w, cnas_tensor *b,
                         const cnas_conv2d_params *p)
{
    w = cnas_graph_param(gr, w); /* bound parameters (graph.h) */
    b = cnas_graph_param(gr, b);
    cnas_tensor *req[2] = {x, w};
    if (cnas_graph_bad_inputs(gr, 2, req))
        return NULL;
    char sx[CNAS_SHAPE_STR_MAX], sw_[CNAS_SHAPE_STR_MAX], sb[CNAS_SHAPE_STR_MAX];
    cnas_conv2d_params q = p ? *p : (cnas_conv2d_params){0};
    conv_geom g = {0};
    g.groups = q.groups ? q.groups : 1;
    g.sh = q.stride_h ? q.stride_h : 1;
    g.sw = q.stride_w ? q.stride_w : 1;
    g.dh = q.dilation_h ? q.dilation_h : 1;
    g.dw = q.dilation_w ? q.dilation_w : 1;
    g.ph = q.pad_h;
    g.pw = q.pad_w;
    if (x->ndim != 4 || w->ndim != 4)
        return cnas_graph_fail(gr, CNAS_ERR_SHAPE, "conv2d: input %s and weight %s, expected "
                               "[N, C, H, W] and [C_out, C_in/groups, kh, kw]",
                               cnas_shape_str(x, sx, sizeof sx),
                               cnas_shape_str(w, sw_, sizeof sw_));
    g.N = x->shape[0];
    g.C = x->shape[1];
    g.H = x->shape[2];
    g.W = x->shape[3];
    g.O = w->shape[0];
    g.kh = (int)w->shape[2];
    g.kw = (int)w->shape[3];
    if (g.groups < 1 || g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.ph < 0 || g.pw < 0)
        return cnas_graph_fail(gr, CNAS_ERR_INVALID, "conv2d: stride %dx%d, padding %dx%d, "
                               "dilation %dx%d, groups %d; expected positive values and "
                               "non-negative padding", g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
                               g.groups);
    if (g.C % g.groups || w->shape[1] * g.groups != g.C)
        return cnas_graph_fail(gr, CNAS_ERR_SHAPE, "conv2d: input %s has %lld channels but weight "
                               "%s expects %lld (groups %d)", cnas_shape_str(x, sx, sizeof sx),
                               (long long)g.C, cnas_shape_str(w, sw_, sizeof sw_),
                               (long long)(w->shape[1] * g.groups), g.groups);
    if (g.O % g.groups)
        return cnas_graph_fail(gr, CNAS_ERR_SHAPE, "conv2d: weight %s has %lld output channels, "
                               "not divisible by groups %d", cnas_shape_str(w, sw_, sizeof sw_),
                               (long long)g.O, g.groups);
    if (b && (b->ndim != 1 || b->numel != g.O))
        return cnas_graph_fail(gr, CNAS_ERR_SHAPE, "conv2d: bias %s for weight %s, expected [%lld]",
                               cnas_shape_str(b, sb, sizeof sb), cnas_shape_str(w, sw_, sizeof sw_),
                               (long long)g.O);
    g.Ho = cnas_conv_out_size(g.H, g.kh, g.sh, g.ph, g.dh);
    g.Wo = cnas_conv_out_size(g.W, g.kw, g.sw, g.pw, g.dw);
    if (g.Ho < 1 || g.Wo < 1)
        return cnas_graph_fail(gr, CNAS_ERR_SHAPE, "conv2d: kernel %dx%d (dilation %dx%d, stride "
                               "%dx%d) does not fit input %s with padding %dx%d: output %lldx%lld",
                               g.kh, g.kw, g.dh, g.dw, g.sh, g.sw, cnas_shape_str(x, sx, sizeof sx),
                               g.ph, g.pw, (long long)g.Ho, (long long)g.Wo);
    int64_t shape[4] = {g.N, g.O, g.Ho, g.Wo};
    cnas_tensor *y = cnas_graph_tensor(gr, 4, shape);
    if (!y)
        return NULL;
    int64_t in_plane = g.H * g.W, out_plane = g.Ho * g.Wo;
    const float *bias = b ? b->data : NULL;
    if (is_depthwise(&g)) {
        int64_t kk = g.kh * g.kw;
        dw_pad pad = dw_pad_of(g.H, g.W, g.ph, g.pw, g.sw);
        size_t slice = (size_t)(pad.Hp * pad.Wp);
        int nt = omp_get_max_threads();
        cnas_arena_mark mark = cnas_graph_mark(gr);
        float *scratch = cnas_graph_alloc(gr, (size_t)nt * slice * sizeof(float));
        if (!scratch)
            return NULL;
#pragma omp parallel num_threads(nt) if (conv_macs(&g) >= CONV_PAR_MIN)
        {
            float *my = scratch + (size_t)omp_get_thread_num() * slice;
            memset(my, 0, slice * sizeof(float));
#pragma omp for schedule(static)
            for (int64_t pl = 0; pl < g.N * g.C; pl++)
                dw_plane(&g, &pad, dw_padded(&pad, x->data + pl * in_plane, g.H, g.W, my),
                         w->data + (pl % g.C) * kk, y->data + pl * out_plane, false,
                         bias ? bias[pl % g.C] : 0.0f);
        }
        cnas_graph_rewind(gr, mark);
    } else if (!gemm_forward(gr, &g, x->data, w->data, bias, y->data)) {
        return NULL;
    }
    cnas_tensor *in[3] = {x, w, b};
    if (cnas_graph_should_record(gr, 3, in)) {
        cnas_node *n = cnas_graph_record(gr, "conv2d", y, b ? 3 : 2, in, conv_backward,
                                         sizeof(conv_ctx));
        if (!n)
            return NULL;
        ((conv_ctx *)n->ctx)->g = g;
    }
    return y;
}
