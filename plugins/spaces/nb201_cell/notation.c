/* Discrete NAS-Bench-201 architectures: the benchmark's string (genotypes.py Structure.tostr
 * and str2structure), JSON, a Graphviz drawing, uniform and weighted sampling, enumeration in
 * the order of Structure.gen_all or of the benchmark's API index, and the argmax derivation of
 * the reference's genotype(). An architecture is one cell shared by every cell position. */
#include "nb201_cell.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- validity --------------------------------------------------------------------- */

static const char *edge_name(int e, char *buf, size_t n)
{
    snprintf(buf, n, "%d<-%d", nb_to[e], nb_from[e]);
    return buf;
}

cnas_status nb_arch_ops(const nb_space *s, const cnas_arch *a, int ops[NB_EDGES], cnas_error *err)
{
    char en[16];
    if (!a || a->n_points != s->n_points)
        return cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": architecture has %d choice "
                              "points, expected %d (%d edges x %d cells)", a ? a->n_points : 0,
                              s->n_points, s->n_edges, s->n_cells);
    for (int c = 0; c < s->n_cells; c++)
        for (int e = 0; e < s->n_edges; e++) {
            int p = c * s->n_edges + e, k = cnas_arch_single(a, p);
            if (k < 0)
                return cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": cell %d edge %s selects "
                                      "%d candidates, expected exactly one", c,
                                      edge_name(e, en, sizeof en), cnas_arch_count(a, p));
            if (k >= s->n_cand)
                return cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": cell %d edge %s selects "
                                      "candidate %d; the space has %d", c,
                                      edge_name(e, en, sizeof en), k, s->n_cand);
            if (c == 0)
                ops[e] = k;
            else if (k != ops[e])
                return cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": cell %d edge %s selects "
                                      "'%s' but cell 0 selects '%s'; every cell shares one "
                                      "architecture", c, edge_name(e, en, sizeof en),
                                      s->cand_names[k], s->cand_names[ops[e]]);
        }
    return CNAS_OK;
}

void nb_set_ops(const nb_space *s, cnas_arch *a, const int ops[NB_EDGES])
{
    cnas_arch_clear(a);
    for (int c = 0; c < s->n_cells; c++)
        for (int e = 0; e < s->n_edges; e++)
            a->mask[c * s->n_edges + e] = 1ull << ops[e];
}

static cnas_status check_out(const nb_space *s, const cnas_arch *out, const char *what,
                             cnas_error *err)
{
    if (!out || out->n_points != s->n_points)
        return cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": %s into an architecture of %d "
                              "points, expected %d (%d edges x %d cells)", what,
                              out ? out->n_points : 0, s->n_points, s->n_edges, s->n_cells);
    return CNAS_OK;
}

/* Per edge the weights averaged over cells (tied weights are the same in every cell),
 * normalised to sum 1 (uniform where they sum to nothing). */
static void edge_weights(const nb_space *s, const float *const *probs,
                         double W[NB_EDGES][NB_MAX_CANDIDATES])
{
    for (int e = 0; e < s->n_edges; e++) {
        double z = 0.0;
        for (int k = 0; k < s->n_cand; k++) {
            double v = 0.0;
            for (int c = 0; c < s->n_cells; c++)
                v += probs[c * s->n_edges + e][k];
            W[e][k] = v > 0 ? v / s->n_cells : 0.0;
            z += W[e][k];
        }
        for (int k = 0; k < s->n_cand; k++)
            W[e][k] = z > 0 ? W[e][k] / z : 1.0 / s->n_cand;
    }
}

/* ---- derivation -------------------------------------------------------------------- */

/* genotype() of search_model_darts.py / _setn.py: per edge the argmax over every candidate,
 * `none` included (ties: the first, as torch.argmax). Untied weights are averaged. */
cnas_status nb_derive(void *self, const float *const *probs, cnas_arch *out, cnas_error *err)
{
    nb_space *s = self;
    cnas_status st = check_out(s, out, "derive", err);
    if (st)
        return st;
    int ops[NB_EDGES];
    for (int e = 0; e < s->n_edges; e++) {
        double best = 0.0;
        ops[e] = -1;
        for (int k = 0; k < s->n_cand; k++) {
            double v = 0.0;
            for (int c = 0; c < s->n_cells; c++)
                v += probs[c * s->n_edges + e][k];
            if (ops[e] < 0 || v > best) {
                best = v;
                ops[e] = k;
            }
        }
    }
    nb_set_ops(s, out, ops);
    return CNAS_OK;
}

/* ---- the benchmark's string ---------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, len;
    int overflow;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p + b->len, b->len < b->n ? b->n - b->len : 0, fmt, ap);
    va_end(ap);
    if (k < 0 || b->len + (size_t)k >= b->n)
        b->overflow = 1;
    else
        b->len += (size_t)k;
}

/* "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|" (4 nodes): nodes 1 .. nodes-1, each listing its
 * inputs in order. */
static cnas_status format_ops(const nb_space *s, const int ops[NB_EDGES], char *buf, size_t n,
                              cnas_error *err)
{
    sbuf b = {buf, n, 0, 0};
    if (n > 0)
        buf[0] = '\0';
    for (int to = 1; to < s->nodes; to++) {
        put(&b, "%s|", to > 1 ? "+" : "");
        for (int from = 0; from < to; from++)
            put(&b, "%s~%d|", s->cand_names[ops[nb_edge(to, from)]], from);
    }
    if (b.overflow)
        return cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": the architecture string does not "
                              "fit in %zu bytes", n);
    return CNAS_OK;
}

cnas_status nb_format(void *self, const cnas_arch *a, char *buf, size_t n, cnas_error *err)
{
    nb_space *s = self;
    int ops[NB_EDGES];
    cnas_status st = nb_arch_ops(s, a, ops, err);
    return st ? st : format_ops(s, ops, buf, n, err);
}

typedef struct lexer {
    const char *text, *p, *end;
    cnas_error *err;
} lexer;

static cnas_status fail(lexer *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cnas_status fail(lexer *l, const char *fmt, ...)
{
    char what[160], found[24];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (l->p < l->end)
        snprintf(found, sizeof found, "'%.*s'", (int)(l->end - l->p < 16 ? l->end - l->p : 16),
                 l->p);
    else
        snprintf(found, sizeof found, "the end of the text");
    return cnas_error_set(l->err, CNAS_ERR_FORMAT, NB_NAME ": architecture string at offset %ld: "
                          "expected %s, found %s", (long)(l->p - l->text), what, found);
}

static int accept(lexer *l, char c)
{
    if (l->p < l->end && *l->p == c) {
        l->p++;
        return 1;
    }
    return 0;
}

cnas_status nb_parse(void *self, const char *text, cnas_arch *out, cnas_error *err)
{
    nb_space *s = self;
    cnas_status st = check_out(s, out, "parse", err);
    if (st)
        return st;
    if (!text)
        return cnas_error_set(err, CNAS_ERR_FORMAT, NB_NAME ": no architecture string");
    /* Surrounding white space (a line read from a file) is not part of the string. */
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    const char *end = text + strlen(text);
    while (end > text && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
        end--;
    lexer l = {text, text, end, err};
    int ops[NB_EDGES];
    for (int to = 1; to < s->nodes; to++) {
        if (to > 1 && !accept(&l, '+'))
            return fail(&l, "'+' after node %d (it has %d input%s; nodes are separated by '+')",
                        to - 1, to - 1, to - 1 == 1 ? "" : "s");
        if (!accept(&l, '|'))
            return fail(&l, "'|' opening node %d", to);
        for (int from = 0; from < to; from++) {
            const char *name = l.p;
            while (l.p < l.end && *l.p != '~' && *l.p != '|' && *l.p != '+')
                l.p++;
            size_t len = (size_t)(l.p - name);
            if (len == 0) {
                l.p = name;
                return fail(&l, "an op name (node %d, input %d)", to, from);
            }
            int k = -1;
            for (int c = 0; c < s->n_cand && k < 0; c++)
                if (strlen(s->cand_names[c]) == len && strncmp(s->cand_names[c], name, len) == 0)
                    k = c;
            if (k < 0) {
                char cands[NB_MAX_CANDIDATES * 48] = "";
                sbuf b = {cands, sizeof cands, 0, 0};
                for (int c = 0; c < s->n_cand; c++)
                    put(&b, "%s%s", c ? ", " : "", s->cand_names[c]);
                l.p = name;
                return fail(&l, "one of the candidates (%s) at node %d, input %d, not '%.*s'",
                            cands, to, from, (int)(len < 40 ? len : 40), name);
            }
            if (!accept(&l, '~'))
                return fail(&l, "'~' and the input index after op '%s' (node %d)",
                            s->cand_names[k], to);
            const char *digits = l.p;
            long input = 0;
            while (l.p < l.end && *l.p >= '0' && *l.p <= '9' && input < 1000)
                input = 10 * input + (*l.p++ - '0');
            if (l.p == digits || input != from) {
                l.p = digits;
                return fail(&l, "input %d (node %d takes inputs 0 to %d, each once, in this "
                            "order)", from, to, to - 1);
            }
            if (!accept(&l, '|'))
                return fail(&l, "'|' after input %d of node %d", from, to);
            ops[nb_edge(to, from)] = k;
        }
    }
    if (l.p != l.end) {
        if (s->nodes == 2)
            return fail(&l, "the end of the text after node 1 (a cell of 2 nodes has node 1 "
                        "only)");
        return fail(&l, "the end of the text after node %d (a cell has nodes 1 to %d)",
                    s->nodes - 1, s->nodes - 1);
    }
    nb_set_ops(s, out, ops);
    return CNAS_OK;
}

/* ---- enumeration ------------------------------------------------------------------------ */

/* Structure.gen_all (genotypes.py) grows the list node by node, the earlier edges in the
 * outer loops and the candidates in their order: the last edge (3<-2 with 4 nodes) varies
 * fastest, so index = Σ_e op_e · n^(E-1-e) over the cell's E edges, the first E of 1<-0,
 * 2<-0, 2<-1, 3<-0, 3<-1, 3<-2. */
static int64_t gen_index(const nb_space *s, const int ops[NB_EDGES])
{
    int64_t g = 0;
    for (int e = 0; e < s->n_edges; e++)
        g = g * s->n_cand + ops[e];
    return g;
}

static void gen_decode(const nb_space *s, int64_t g, int ops[NB_EDGES])
{
    for (int e = s->n_edges - 1; e >= 0; e--) {
        ops[e] = (int)(g % s->n_cand);
        g /= s->n_cand;
    }
}

int64_t nb_enumerate_count(void *self)
{
    nb_space *s = self;
    int64_t n = 1;
    for (int e = 0; e < s->n_edges; e++)
        n *= s->n_cand;
    return n;
}

/* The benchmark's API index (exps/NAS-Bench-201/main.py, generate_meta_info): the gen_all
 * list shuffled by Python's random.seed(88); random.shuffle(archs). Python's generator is
 * MT19937 seeded by init_by_array([88]); shuffle swaps x[i] with x[randbelow(i + 1)] for i
 * from the end down to 1, randbelow(n) drawing k = bit_length(n) bits (the top bits of one
 * 32-bit output) until the value is below n. Written here from that description. */
typedef struct mt19937 {
    uint32_t v[624];
    int i;
} mt19937;

static void mt_seed(mt19937 *m, uint32_t seed)
{
    m->v[0] = seed;
    for (int i = 1; i < 624; i++)
        m->v[i] = 1812433253u * (m->v[i - 1] ^ (m->v[i - 1] >> 30)) + (uint32_t)i;
    m->i = 624;
}

static void mt_seed_array(mt19937 *m, const uint32_t *key, int n)
{
    mt_seed(m, 19650218u);
    int i = 1, j = 0;
    for (int k = 624 > n ? 624 : n; k; k--) {
        m->v[i] = (m->v[i] ^ ((m->v[i - 1] ^ (m->v[i - 1] >> 30)) * 1664525u)) + key[j] +
                  (uint32_t)j;
        i++;
        j++;
        if (i >= 624) {
            m->v[0] = m->v[623];
            i = 1;
        }
        if (j >= n)
            j = 0;
    }
    for (int k = 623; k; k--) {
        m->v[i] = (m->v[i] ^ ((m->v[i - 1] ^ (m->v[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= 624) {
            m->v[0] = m->v[623];
            i = 1;
        }
    }
    m->v[0] = 0x80000000u;
}

static uint32_t mt_next(mt19937 *m)
{
    if (m->i >= 624) {
        for (int k = 0; k < 624; k++) {
            uint32_t y = (m->v[k] & 0x80000000u) | (m->v[(k + 1) % 624] & 0x7fffffffu);
            m->v[k] = m->v[(k + 397) % 624] ^ (y >> 1) ^ (y & 1u ? 0x9908b0dfu : 0u);
        }
        m->i = 0;
    }
    uint32_t y = m->v[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static uint32_t py_randbelow(mt19937 *m, uint32_t n)
{
    int k = 0;
    while (k < 32 && (n >> k))
        k++;
    for (;;) {
        uint32_t r = mt_next(m) >> (32 - k);
        if (r < n)
            return r;
    }
}

cnas_status nb_benchmark_order(nb_space *s, cnas_error *err)
{
    if (s->api_to_gen)
        return CNAS_OK;
    if (!nb_is_benchmark(s))
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, NB_NAME ": the benchmark's index exists "
                              "only for its cell of %d nodes and its five candidates in their "
                              "order", NB_NODES);
    int32_t *x = malloc(NB_REFERENCE_COUNT * sizeof *x);
    int32_t *inv = malloc(NB_REFERENCE_COUNT * sizeof *inv);
    if (!x || !inv) {
        free(x);
        free(inv);
        return cnas_error_set(err, CNAS_ERR_NOMEM, NB_NAME ": out of memory");
    }
    for (int i = 0; i < NB_REFERENCE_COUNT; i++)
        x[i] = i;
    mt19937 m;
    const uint32_t key[1] = {88};
    mt_seed_array(&m, key, 1);
    for (int i = NB_REFERENCE_COUNT - 1; i > 0; i--) {
        int j = (int)py_randbelow(&m, (uint32_t)i + 1);
        int32_t t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
    for (int i = 0; i < NB_REFERENCE_COUNT; i++)
        inv[x[i]] = i;
    s->api_to_gen = x;
    s->gen_to_api = inv;
    return CNAS_OK;
}

cnas_status nb_enumerate(void *self, int64_t index, cnas_arch *out, cnas_error *err)
{
    nb_space *s = self;
    cnas_status st = check_out(s, out, "enumerate", err);
    if (st)
        return st;
    int64_t count = nb_enumerate_count(s);
    if (index < 0 || index >= count)
        return cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": architecture index %lld, expected "
                              "0 to %lld", (long long)index, (long long)(count - 1));
    int64_t g = index;
    if (s->benchmark_order) {
        if ((st = nb_benchmark_order(s, err)))
            return st;
        g = s->api_to_gen[index];
    }
    int ops[NB_EDGES];
    gen_decode(s, g, ops);
    nb_set_ops(s, out, ops);
    return CNAS_OK;
}

/* ---- JSON and drawing ---------------------------------------------------------------- */

cnas_status nb_write_json(void *self, const cnas_arch *a, FILE *f, cnas_error *err)
{
    nb_space *s = self;
    int ops[NB_EDGES];
    char text[NB_EDGES * 64];
    cnas_status st = nb_arch_ops(s, a, ops, err);
    if (st || (st = format_ops(s, ops, text, sizeof text, err)))
        return st;
    int64_t g = gen_index(s, ops);
    fprintf(f, "{\"space\": \"" NB_NAME "\", \"arch\": \"%s\",\n \"index\": %lld", text,
            (long long)g);
    if (nb_is_benchmark(s) && !nb_benchmark_order(s, err))
        fprintf(f, ", \"benchmark_index\": %d", (int)s->gen_to_api[g]);
    fprintf(f, ",\n \"edges\": [");
    for (int e = 0; e < s->n_edges; e++)
        fprintf(f, "%s{\"from\": %d, \"to\": %d, \"op\": \"%s\"}", e ? ", " : "", nb_from[e],
                nb_to[e], s->cand_names[ops[e]]);
    fprintf(f, "]}\n");
    if (ferror(f))
        return cnas_error_set(err, CNAS_ERR_IO, NB_NAME ": writing JSON failed");
    return CNAS_OK;
}

cnas_status nb_write_dot(void *self, const cnas_arch *a, const char *dir, int *n_files,
                         cnas_error *err)
{
    nb_space *s = self;
    int ops[NB_EDGES];
    *n_files = 0;
    cnas_status st = nb_arch_ops(s, a, ops, err);
    if (st)
        return st;
    char path[4096];
    snprintf(path, sizeof path, "%s/cell.dot", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return cnas_error_set(err, CNAS_ERR_IO, NB_NAME ": cannot write %s: %s", path,
                              strerror(errno));
    /* Node 0 is the cell input, the last node its output; `none` edges carry nothing and
     * are left out. */
    fprintf(f, "digraph cell {\n  rankdir=LR;\n");
    fprintf(f, "  node [style=filled, shape=rect, align=center, fontsize=20, height=0.5, "
               "width=0.5, penwidth=2, fontname=\"times\"];\n");
    fprintf(f, "  edge [fontsize=20, fontname=\"times\"];\n");
    for (int v = 0; v < s->nodes; v++)
        fprintf(f, "  \"%d\" [fillcolor=%s];\n", v,
                v == 0 ? "darkseagreen2" : v == s->nodes - 1 ? "palegoldenrod" : "lightblue");
    for (int e = 0; e < s->n_edges; e++)
        if (ops[e] != s->none_idx)
            fprintf(f, "  \"%d\" -> \"%d\" [label=\"%s\", fillcolor=gray];\n", nb_from[e],
                    nb_to[e], s->cand_names[ops[e]]);
    fprintf(f, "}\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return cnas_error_set(err, CNAS_ERR_IO, NB_NAME ": writing %s failed", path);
    *n_files = 1;
    return CNAS_OK;
}

/* ---- sampling ------------------------------------------------------------------------- */

/* SETN's uniform path (dync_genotype(use_random=True)): each edge's op uniformly over every
 * candidate, `none` included, the same in every cell. */
cnas_status nb_sample(void *self, cnas_rng *rng, cnas_arch *out, cnas_error *err)
{
    nb_space *s = self;
    cnas_status st = check_out(s, out, "sample", err);
    if (st)
        return st;
    int ops[NB_EDGES];
    for (int e = 0; e < s->n_edges; e++)
        ops[e] = (int)cnas_rng_below(rng, (uint32_t)s->n_cand);
    nb_set_ops(s, out, ops);
    return CNAS_OK;
}

/* SETN's training paths (forward_urs of the reference's search cell): every cell draws
 * its own ops, each node's incoming ops uniformly, redrawn until at least one of them
 * is not `none`. */
cnas_status nb_sample_path(void *self, cnas_rng *rng, cnas_arch *out, cnas_error *err)
{
    nb_space *s = self;
    cnas_status st = check_out(s, out, "sample a path into", err);
    if (st)
        return st;
    cnas_arch_clear(out);
    for (int c = 0; c < s->n_cells; c++)
        for (int i = 1; i < s->nodes; i++) {
            int first = i * (i - 1) / 2, k[NB_NODES];
            bool live;
            do {
                live = s->none_idx < 0;
                for (int j = 0; j < i; j++) {
                    k[j] = (int)cnas_rng_below(rng, (uint32_t)s->n_cand);
                    live = live || k[j] != s->none_idx;
                }
            } while (!live && s->n_cand > 1);
            for (int j = 0; j < i; j++)
                out->mask[c * s->n_edges + first + j] = 1ull << k[j];
        }
    return CNAS_OK;
}

/* SETN's dync_genotype(use_random=False) and get_log_prob: each edge's op drawn from its
 * weights (every candidate, `none` included), log p = Σ_e log w_e[op_e] over the cell's edges. Untied weights are
 * averaged over the cells; every edge's weights are renormalised to sum 1. */
cnas_status nb_sample_weighted(void *self, const float *const *probs, cnas_rng *rng,
                               cnas_arch *out, double *log_prob, cnas_error *err)
{
    nb_space *s = self;
    cnas_status st = check_out(s, out, "sample", err);
    if (st)
        return st;
    double W[NB_EDGES][NB_MAX_CANDIDATES];
    edge_weights(s, probs, W);
    int ops[NB_EDGES];
    double lp = 0.0;
    for (int e = 0; e < s->n_edges; e++) {
        double u = cnas_rng_uniform_double(rng), c = 0.0;
        ops[e] = -1;
        for (int k = 0; k < s->n_cand && ops[e] < 0; k++) {
            c += W[e][k];
            if (u < c)
                ops[e] = k;
        }
        if (ops[e] < 0) /* rounding: the last candidate with weight */
            for (int k = s->n_cand - 1; k >= 0 && ops[e] < 0; k--)
                if (W[e][k] > 0)
                    ops[e] = k;
        lp += log(fmax(W[e][ops[e]], 1e-300));
    }
    nb_set_ops(s, out, ops);
    if (log_prob)
        *log_prob = lp;
    return CNAS_OK;
}

cnas_status nb_log_prob(void *self, const float *const *probs, const cnas_arch *a, double *out,
                        cnas_error *err)
{
    nb_space *s = self;
    int ops[NB_EDGES];
    cnas_status st = nb_arch_ops(s, a, ops, err);
    if (st)
        return st;
    double W[NB_EDGES][NB_MAX_CANDIDATES];
    edge_weights(s, probs, W);
    double lp = 0.0;
    for (int e = 0; e < s->n_edges; e++)
        lp += log(fmax(W[e][ops[e]], 1e-300));
    *out = lp;
    return CNAS_OK;
}
