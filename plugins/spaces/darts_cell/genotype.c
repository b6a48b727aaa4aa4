/* Discrete DARTS architectures: the top-2 derivation rule, the Genotype(...)
 * notation of the reference code (printed and parsed with an exact round trip),
 * JSON, Graphviz drawings and uniform sampling. A genotype describes one normal
 * and one reduction cell; every cell of a type gets the same selection. */
#include "darts_cell.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Set edge e of every cell of one type. */
static void set_type(const dc_space *s, cnas_arch *a, int reduction, int e, uint64_t mask,
                     int32_t order)
{
    for (int c = 0; c < s->layers; c++)
        if (s->cells[c].reduction == reduction) {
            a->mask[c * s->n_edges + e] = mask;
            a->order[c * s->n_edges + e] = order;
        }
}

static int first_cell_of(const dc_space *s, int reduction)
{
    for (int c = 0; c < s->layers; c++)
        if (s->cells[c].reduction == reduction)
            return c;
    return -1;
}

cnas_status dc_derive(void *self, const float *const *probs, cnas_arch *out, cnas_error *err)
{
    dc_space *s = self;
    if (out->n_points != s->n_points)
        return cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: derive into an architecture "
                              "of %d points, expected %d", out->n_points, s->n_points);
    if (s->n_cand - (s->none_idx >= 0) < 1)
        return cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: no candidate besides 'none'");
    cnas_arch_clear(out);
    for (int red = 0; red <= 1; red++) {
        /* Cells of a type share their weights when tied; untied weights are averaged. */
        double W[DC_MAX_NODES * (DC_MAX_NODES + 3) / 2][DC_MAX_CANDIDATES] = {{0}};
        int cells = 0;
        for (int c = 0; c < s->layers; c++) {
            if (s->cells[c].reduction != red)
                continue;
            cells++;
            for (int e = 0; e < s->n_edges; e++)
                for (int k = 0; k < s->n_cand; k++)
                    W[e][k] += probs[c * s->n_edges + e][k];
        }
        if (!cells)
            continue;
        for (int i = 0; i < s->nodes; i++) {
            int start = dc_edge_index(i, 0), n_in = i + 2;
            int idx[DC_MAX_NODES + 2];
            double score[DC_MAX_NODES + 2];
            for (int j = 0; j < n_in; j++) {
                idx[j] = j;
                score[j] = -1e300;
                for (int k = 0; k < s->n_cand; k++)
                    if (k != s->none_idx && W[start + j][k] > score[j])
                        score[j] = W[start + j][k];
            }
            /* Stable insertion sort by descending score: ties keep the lower input,
             * as Python's sorted() does in the reference. */
            for (int a = 1; a < n_in; a++)
                for (int b = a; b > 0 && score[idx[b]] > score[idx[b - 1]]; b--) {
                    int t = idx[b];
                    idx[b] = idx[b - 1];
                    idx[b - 1] = t;
                }
            for (int r = 0; r < 2 && r < n_in; r++) {
                int j = idx[r], best = -1;
                for (int k = 0; k < s->n_cand; k++)
                    if (k != s->none_idx && (best < 0 || W[start + j][k] > W[start + j][best]))
                        best = k;
                set_type(s, out, red, start + j, 1ull << best, r);
            }
        }
    }
    return CNAS_OK;
}

/* ---- text ------------------------------------------------------------------- */

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

typedef struct pair {
    int input, op, order;
} pair;

/* The (input, op) pairs of node i of a cell, in notation order. */
static int node_pairs(const dc_space *s, const cnas_arch *a, int cell, int i, pair *out)
{
    int n = 0;
    for (int j = 0; j < i + 2; j++) {
        int p = cell * s->n_edges + dc_edge_index(i, j);
        for (int k = 0; k < s->n_cand; k++)
            if ((a->mask[p] >> k) & 1u)
                out[n++] = (pair){j, k, a->order[p]};
    }
    for (int x = 1; x < n; x++)
        for (int y = x; y > 0 && (out[y].order < out[y - 1].order ||
                                  (out[y].order == out[y - 1].order && out[y].input < out[y - 1].input));
             y--) {
            pair t = out[y];
            out[y] = out[y - 1];
            out[y - 1] = t;
        }
    return n;
}

static void put_cell(const dc_space *s, const cnas_arch *a, int red, sbuf *b)
{
    int c = first_cell_of(s, red);
    put(b, "[");
    int first = 1;
    for (int i = 0; c >= 0 && i < s->nodes; i++) {
        pair pr[2 * DC_MAX_CANDIDATES * (DC_MAX_NODES + 2)];
        int n = node_pairs(s, a, c, i, pr);
        for (int q = 0; q < n; q++) {
            put(b, "%s('%s', %d)", first ? "" : ", ", s->cand_names[pr[q].op], pr[q].input);
            first = 0;
        }
    }
    put(b, "]");
}

static void put_concat(const dc_space *s, sbuf *b)
{
    put(b, "[");
    for (int k = 2 + s->nodes - s->multiplier; k < 2 + s->nodes; k++)
        put(b, "%s%d", k == 2 + s->nodes - s->multiplier ? "" : ", ", k);
    put(b, "]");
}

cnas_status dc_format(void *self, const cnas_arch *a, char *buf, size_t n, cnas_error *err)
{
    dc_space *s = self;
    if (a->n_points != s->n_points)
        return cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: architecture has %d points, "
                              "expected %d", a->n_points, s->n_points);
    sbuf b = {buf, n, 0, 0};
    put(&b, "Genotype(normal=");
    put_cell(s, a, 0, &b);
    put(&b, ", normal_concat=");
    put_concat(s, &b);
    put(&b, ", reduce=");
    put_cell(s, a, 1, &b);
    put(&b, ", reduce_concat=");
    put_concat(s, &b);
    put(&b, ")");
    if (b.overflow)
        return cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: genotype longer than %zu bytes",
                              n);
    return CNAS_OK;
}

/* ---- parsing ---------------------------------------------------------------- */

typedef struct lexer {
    const char *text, *p;
    cnas_error *err;
    int failed;
} lexer;

static void skip_ws(lexer *l)
{
    while (isspace((unsigned char)*l->p))
        l->p++;
}

static int fail(lexer *l, const char *what)
{
    if (!l->failed) {
        char found[24];
        snprintf(found, sizeof found, "%.16s", *l->p ? l->p : "end of text");
        cnas_error_set(l->err, CNAS_ERR_FORMAT, "darts_cell: genotype at offset %ld: expected "
                       "%s, found '%s'", (long)(l->p - l->text), what, found);
    }
    l->failed = 1;
    return 0;
}

static int expect(lexer *l, const char *tok)
{
    skip_ws(l);
    size_t n = strlen(tok);
    if (strncmp(l->p, tok, n) != 0) {
        char what[40];
        snprintf(what, sizeof what, "'%s'", tok);
        return fail(l, what);
    }
    l->p += n;
    return 1;
}

static int accept(lexer *l, const char *tok)
{
    skip_ws(l);
    size_t n = strlen(tok);
    if (strncmp(l->p, tok, n) != 0)
        return 0;
    l->p += n;
    return 1;
}

static int read_int(lexer *l, long *v)
{
    skip_ws(l);
    char *end;
    errno = 0;
    *v = strtol(l->p, &end, 10);
    if (end == l->p || errno)
        return fail(l, "an integer");
    l->p = end;
    return 1;
}

static int read_word(lexer *l, char *out, size_t n)
{
    skip_ws(l);
    size_t k = 0;
    while (isalnum((unsigned char)l->p[k]) || l->p[k] == '_')
        k++;
    if (k == 0 || k >= n)
        return fail(l, "a field name");
    memcpy(out, l->p, k);
    out[k] = '\0';
    l->p += k;
    return 1;
}

static int read_quoted(lexer *l, char *out, size_t n)
{
    skip_ws(l);
    char q = *l->p;
    if (q != '\'' && q != '"')
        return fail(l, "a quoted op name");
    const char *end = strchr(l->p + 1, q);
    if (!end || (size_t)(end - l->p - 1) >= n)
        return fail(l, "a closing quote");
    memcpy(out, l->p + 1, (size_t)(end - l->p - 1));
    out[end - l->p - 1] = '\0';
    l->p = end + 1;
    return 1;
}

static int parse_cell(dc_space *s, lexer *l, int red, cnas_arch *a, int *seen)
{
    if (!expect(l, "["))
        return 0;
    int q = 0;
    int used[DC_MAX_NODES][DC_MAX_NODES + 2] = {{0}};
    while (!accept(l, "]")) {
        if (q > 0 && !expect(l, ","))
            return 0;
        if (accept(l, "]"))
            break; /* trailing comma */
        char op[64];
        long input;
        if (!expect(l, "(") || !read_quoted(l, op, sizeof op) || !expect(l, ",") ||
            !read_int(l, &input) || !expect(l, ")"))
            return 0;
        int node = q / 2;
        if (node >= s->nodes) {
            cnas_error_set(l->err, CNAS_ERR_FORMAT, "darts_cell: genotype %s cell has more than "
                           "%d pairs (2 per node, %d nodes)", red ? "reduce" : "normal",
                           2 * s->nodes, s->nodes);
            return 0;
        }
        if (input < 0 || input > node + 1) {
            cnas_error_set(l->err, CNAS_ERR_FORMAT, "darts_cell: genotype %s cell pair %d "
                           "('%s', %ld): node %d can take inputs 0 to %d", red ? "reduce" : "normal",
                           q, op, input, node + 2, node + 1);
            return 0;
        }
        int k = -1;
        for (int c = 0; c < s->n_cand; c++)
            if (strcmp(s->cand_names[c], op) == 0)
                k = c;
        if (k < 0 || k == s->none_idx) {
            cnas_error_set(l->err, CNAS_ERR_FORMAT, "darts_cell: genotype %s cell pair %d: op "
                           "'%s' is not a candidate of this space", red ? "reduce" : "normal", q,
                           op);
            return 0;
        }
        if (used[node][input]) {
            cnas_error_set(l->err, CNAS_ERR_FORMAT, "darts_cell: genotype %s cell: node %d takes "
                           "input %ld twice, which this space cannot represent",
                           red ? "reduce" : "normal", node + 2, input);
            return 0;
        }
        used[node][input] = 1;
        set_type(s, a, red, dc_edge_index(node, (int)input), 1ull << k, q % 2);
        q++;
    }
    if (q != 2 * s->nodes) {
        cnas_error_set(l->err, CNAS_ERR_FORMAT, "darts_cell: genotype %s cell has %d pairs, "
                       "expected %d (2 per node)", red ? "reduce" : "normal", q, 2 * s->nodes);
        return 0;
    }
    *seen = 1;
    return 1;
}

static int parse_concat(dc_space *s, lexer *l, const char *field)
{
    long want_lo = 2 + s->nodes - s->multiplier, want_hi = 2 + s->nodes;
    long lo, hi;
    if (accept(l, "range")) {
        if (!expect(l, "(") || !read_int(l, &lo) || !expect(l, ",") || !read_int(l, &hi) ||
            !expect(l, ")"))
            return 0;
    } else {
        if (!expect(l, "["))
            return 0;
        long prev = -1, v;
        lo = -1;
        int n = 0;
        while (!accept(l, "]")) {
            if (n > 0 && !expect(l, ","))
                return 0;
            if (!read_int(l, &v))
                return 0;
            if (n == 0)
                lo = v;
            else if (v != prev + 1)
                lo = -1000; /* not consecutive */
            prev = v;
            n++;
        }
        hi = prev + 1;
    }
    if (lo != want_lo || hi != want_hi) {
        cnas_error_set(l->err, CNAS_ERR_FORMAT, "darts_cell: genotype %s must be [%ld..%ld] "
                       "(the last %d nodes)", field, want_lo, want_hi - 1, s->multiplier);
        return 0;
    }
    return 1;
}

cnas_status dc_parse(void *self, const char *text, cnas_arch *out, cnas_error *err)
{
    dc_space *s = self;
    if (out->n_points != s->n_points)
        return cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: parse into an architecture "
                              "of %d points, expected %d", out->n_points, s->n_points);
    cnas_arch_clear(out);
    lexer l = {text, text, err, 0};
    int seen_normal = 0, seen_reduce = 0, fields = 0;
    if (!expect(&l, "Genotype") || !expect(&l, "("))
        return err->code;
    while (!accept(&l, ")")) {
        if (fields > 0 && !expect(&l, ","))
            return err->code;
        char name[32];
        if (!read_word(&l, name, sizeof name) || !expect(&l, "="))
            return err->code;
        int ok;
        if (strcmp(name, "normal") == 0)
            ok = parse_cell(s, &l, 0, out, &seen_normal);
        else if (strcmp(name, "reduce") == 0)
            ok = parse_cell(s, &l, 1, out, &seen_reduce);
        else if (strcmp(name, "normal_concat") == 0 || strcmp(name, "reduce_concat") == 0)
            ok = parse_concat(s, &l, name);
        else
            return cnas_error_set(err, CNAS_ERR_FORMAT, "darts_cell: genotype field '%s' is not "
                                  "one of normal, normal_concat, reduce, reduce_concat", name);
        if (!ok)
            return err->code;
        fields++;
    }
    skip_ws(&l);
    if (*l.p)
        return fail(&l, "end of text"), err->code;
    if (!seen_normal || !seen_reduce)
        return cnas_error_set(err, CNAS_ERR_FORMAT, "darts_cell: genotype lacks the %s cell",
                              seen_normal ? "reduce" : "normal");
    return CNAS_OK;
}

/* ---- JSON and drawings ------------------------------------------------------- */

static void json_cell(const dc_space *s, const cnas_arch *a, int red, FILE *f)
{
    int c = first_cell_of(s, red);
    fprintf(f, "[");
    int first = 1;
    for (int i = 0; c >= 0 && i < s->nodes; i++) {
        pair pr[2 * DC_MAX_CANDIDATES * (DC_MAX_NODES + 2)];
        int n = node_pairs(s, a, c, i, pr);
        for (int q = 0; q < n; q++, first = 0)
            fprintf(f, "%s{\"node\": %d, \"input\": %d, \"op\": \"%s\"}", first ? "" : ", ", i + 2,
                    pr[q].input, s->cand_names[pr[q].op]);
    }
    fprintf(f, "]");
}

cnas_status dc_write_json(void *self, const cnas_arch *a, FILE *f, cnas_error *err)
{
    dc_space *s = self;
    char text[4096];
    cnas_status st = dc_format(s, a, text, sizeof text, err);
    if (st)
        return st;
    fprintf(f, "{\"space\": \"darts_cell\", \"nodes\": %d, \"multiplier\": %d,\n", s->nodes,
            s->multiplier);
    fprintf(f, " \"genotype\": \"%s\",\n \"normal\": ", text);
    json_cell(s, a, 0, f);
    fprintf(f, ",\n \"reduce\": ");
    json_cell(s, a, 1, f);
    fprintf(f, ",\n \"concat\": [");
    for (int k = 2 + s->nodes - s->multiplier; k < 2 + s->nodes; k++)
        fprintf(f, "%s%d", k == 2 + s->nodes - s->multiplier ? "" : ", ", k);
    fprintf(f, "]}\n");
    if (ferror(f))
        return cnas_error_set(err, CNAS_ERR_IO, "darts_cell: writing JSON failed");
    return CNAS_OK;
}

static const char *state_name(int j, char *buf, size_t n)
{
    if (j == 0)
        return "c_{k-2}";
    if (j == 1)
        return "c_{k-1}";
    snprintf(buf, n, "%d", j - 2);
    return buf;
}

cnas_status dc_write_dot(void *self, const cnas_arch *a, const char *dir, int *n_files,
                         cnas_error *err)
{
    dc_space *s = self;
    *n_files = 0;
    for (int red = 0; red <= 1; red++) {
        int c = first_cell_of(s, red);
        if (c < 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.dot", dir, red ? "reduce" : "normal");
        FILE *f = fopen(path, "w");
        if (!f)
            return cnas_error_set(err, CNAS_ERR_IO, "darts_cell: cannot write %s: %s", path,
                                  strerror(errno));
        /* The look of the reference visualize.py. */
        fprintf(f, "digraph %s {\n  rankdir=LR;\n", red ? "reduce" : "normal");
        fprintf(f, "  node [style=filled, shape=rect, align=center, fontsize=20, height=0.5, "
                   "width=0.5, penwidth=2, fontname=\"times\"];\n");
        fprintf(f, "  edge [fontsize=20, fontname=\"times\"];\n");
        fprintf(f, "  \"c_{k-2}\" [fillcolor=darkseagreen2];\n  \"c_{k-1}\" [fillcolor=darkseagreen2];\n");
        for (int i = 0; i < s->nodes; i++)
            fprintf(f, "  \"%d\" [fillcolor=lightblue];\n", i);
        for (int i = 0; i < s->nodes; i++) {
            pair pr[2 * DC_MAX_CANDIDATES * (DC_MAX_NODES + 2)];
            int n = node_pairs(s, a, c, i, pr);
            for (int q = 0; q < n; q++) {
                char b[16];
                fprintf(f, "  \"%s\" -> \"%d\" [label=\"%s\", fillcolor=gray];\n",
                        state_name(pr[q].input, b, sizeof b), i, s->cand_names[pr[q].op]);
            }
        }
        fprintf(f, "  \"c_{k}\" [fillcolor=palegoldenrod];\n");
        for (int i = s->nodes - s->multiplier; i < s->nodes; i++)
            fprintf(f, "  \"%d\" -> \"c_{k}\" [fillcolor=gray];\n", i);
        fprintf(f, "}\n");
        int bad = ferror(f);
        if (fclose(f) != 0 || bad)
            return cnas_error_set(err, CNAS_ERR_IO, "darts_cell: writing %s failed", path);
        (*n_files)++;
    }
    return CNAS_OK;
}

/* ---- sampling ---------------------------------------------------------------- */

cnas_status dc_sample(void *self, cnas_rng *rng, cnas_arch *out, cnas_error *err)
{
    dc_space *s = self;
    if (out->n_points != s->n_points)
        return cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: sample into an architecture "
                              "of %d points, expected %d", out->n_points, s->n_points);
    int ops[DC_MAX_CANDIDATES], n_ops = 0;
    for (int k = 0; k < s->n_cand; k++)
        if (k != s->none_idx)
            ops[n_ops++] = k;
    if (!n_ops)
        return cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: no candidate besides 'none'");
    cnas_arch_clear(out);
    for (int red = 0; red <= 1; red++) {
        if (first_cell_of(s, red) < 0)
            continue;
        /* Each node: two distinct inputs, each with a uniformly chosen op. */
        for (int i = 0; i < s->nodes; i++) {
            int a = (int)cnas_rng_below(rng, (uint32_t)(i + 2));
            int b = (int)cnas_rng_below(rng, (uint32_t)(i + 1));
            if (b >= a)
                b++;
            int ka = ops[cnas_rng_below(rng, (uint32_t)n_ops)];
            int kb = ops[cnas_rng_below(rng, (uint32_t)n_ops)];
            set_type(s, out, red, dc_edge_index(i, a), 1ull << ka, 0);
            set_type(s, out, red, dc_edge_index(i, b), 1ull << kb, 1);
        }
    }
    return CNAS_OK;
}

int64_t dc_enumerate_count(void *self)
{
    (void)self;
    return -1; /* about 10^18 genotypes with 8 ops */
}

cnas_status dc_enumerate(void *self, int64_t index, cnas_arch *out, cnas_error *err)
{
    (void)self;
    (void)index;
    (void)out;
    return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "darts_cell: the space is too large to "
                          "enumerate; sample instead");
}
