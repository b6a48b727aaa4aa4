/* gold_cell architectures: the notation (one line per cell), JSON, drawings, the
 * derivation and sampling rules, and the size of the space.
 *
 * Notation, one line per cell; a node lists its operators, each with its inputs
 * (0 = c_{k-2}, 1 = c_{k-1}, 2.. = earlier nodes), "-" when it has none:
 *
 *   cell 0 (normal): 2 <- sep_conv_3x3(0, 1) + skip_connect(0); 3 <- sep_conv_3x3(2); 4 <- -; ...
 *
 * It is the set of (operator, input, node) triples of the GOLD-NAS code's genotype
 * (('sep_conv_3x3', 0, 2), ...) grouped by node and operator, so that the fullest
 * architecture of 14 cells stays a few kilobytes. Canonical order: nodes ascending,
 * operators in candidate order, inputs ascending. The parser takes any order and
 * spacing, and cells on one line as well as on several (it goes by the "cell" word). */
#include "gold_cell.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/kit.h>

cnas_status gc_validate(dc_space *s, cnas_error *err)
{
    if (s->none_idx >= 0)
        return cnas_error_set(err, CNAS_ERR_CONFIG, "gold_cell: key 'candidates' lists 'none'; "
                              "in the open space an operator that is absent is 'none', so list "
                              "only real operators (e.g. skip_connect,sep_conv_3x3)");
    if (s->n_cand > CNAS_ARCH_MAX_CANDIDATES)
        return cnas_error_set(err, CNAS_ERR_CONFIG, "gold_cell: %d candidates; at most %d",
                              s->n_cand, CNAS_ARCH_MAX_CANDIDATES);
    return CNAS_OK;
}

static cnas_status check_arch(const dc_space *s, const cnas_arch *a, const char *what,
                              cnas_error *err)
{
    if (!a || a->n_points != s->n_points)
        return cnas_error_set(err, CNAS_ERR_INVALID, "gold_cell: %s an architecture of %d choice "
                              "points, expected %d", what, a ? a->n_points : 0, s->n_points);
    return CNAS_OK;
}

static int bit(const cnas_arch *a, int point, int cand)
{
    return (int)((a->mask[point] >> cand) & 1u);
}

/* ---- size of the space ---------------------------------------------------------- */

double gc_log10_candidates(const dc_space *s, bool every_node_fed)
{
    double per_cell = 0;
    for (int i = 0; i < s->nodes; i++) {
        int gates = (i + 2) * s->n_cand;
        /* log10(2^g - 1) = g log10 2 + log10(1 - 2^-g) */
        per_cell += gates * log10(2.0) + (every_node_fed ? log10(1.0 - pow(2.0, -gates)) : 0.0);
    }
    return per_cell * s->layers;
}

int64_t gc_enumerate_count(void *self)
{
    dc_space *s = self;
    return s->n_points * s->n_cand <= 20 ? (int64_t)1 << (s->n_points * s->n_cand) : -1;
}

/* ---- derive and sample -------------------------------------------------------------- */

/* Without the strategy's pruning state: keep every operator whose gate is at least 0.5
 * (sigmoid(alpha) >= 0.5, i.e. alpha >= 0). gold_nas keeps its own mask instead. */
cnas_status gc_derive(void *self, const float *const *probs, cnas_arch *out, cnas_error *err)
{
    dc_space *s = self;
    cnas_status st = check_arch(s, out, "derive into", err);
    if (st)
        return st;
    cnas_arch_clear(out);
    for (int p = 0; p < s->n_points; p++)
        for (int k = 0; k < s->n_cand; k++)
            if (probs[p][k] >= 0.5f)
                out->mask[p] |= (uint64_t)1 << k;
    return CNAS_OK;
}

/* Uniform over the space: every gate on with probability 1/2 (nodes may end up with
 * no input; a network feeds such a node zeros). */
cnas_status gc_sample(void *self, cnas_rng *rng, cnas_arch *out, cnas_error *err)
{
    dc_space *s = self;
    cnas_status st = check_arch(s, out, "sample into", err);
    if (st)
        return st;
    cnas_arch_clear(out);
    for (int p = 0; p < s->n_points; p++)
        for (int k = 0; k < s->n_cand; k++)
            if (cnas_rng_uniform(rng) < 0.5)
                out->mask[p] |= (uint64_t)1 << k;
    return CNAS_OK;
}

/* ---- format ----------------------------------------------------------------------- */

typedef struct sbuf {
    char *b;
    size_t n, o;
    bool full;
} sbuf;

static void put(sbuf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *w, const char *fmt, ...)
{
    if (w->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(w->b + w->o, w->n - w->o, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= w->n - w->o)
        w->full = true;
    else
        w->o += (size_t)k;
}

static void format_cell(const dc_space *s, const cnas_arch *a, int c, sbuf *w)
{
    put(w, "cell %d (%s):", c, s->cells[c].reduction ? "reduce" : "normal");
    for (int i = 0; i < s->nodes; i++) {
        put(w, "%s %d <-", i ? ";" : "", i + 2);
        int any = 0;
        for (int k = 0; k < s->n_cand; k++) {
            int first = 1;
            for (int j = 0; j < i + 2; j++) {
                if (!bit(a, c * s->n_edges + dc_edge_index(i, j), k))
                    continue;
                if (first)
                    put(w, "%s %s(%d", any ? " +" : "", s->cand_names[k], j);
                else
                    put(w, ", %d", j);
                first = 0;
                any = 1;
            }
            if (!first)
                put(w, ")");
        }
        if (!any)
            put(w, " -");
    }
}

cnas_status gc_format(void *self, const cnas_arch *a, char *buf, size_t n, cnas_error *err)
{
    dc_space *s = self;
    cnas_status st = check_arch(s, a, "format of", err);
    if (st)
        return st;
    if (n == 0)
        return cnas_error_set(err, CNAS_ERR_INVALID, "gold_cell: format into an empty buffer");
    sbuf w = {buf, n, 0, false};
    buf[0] = '\0';
    for (int c = 0; c < s->layers; c++) {
        if (c)
            put(&w, "\n");
        format_cell(s, a, c, &w);
    }
    if (w.full)
        return cnas_error_set(err, CNAS_ERR_INVALID, "gold_cell: the notation of this "
                              "architecture does not fit in %zu bytes", n);
    return CNAS_OK;
}

/* ---- parse ---------------------------------------------------------------------- */

typedef struct scan {
    const char *t, *p;
    cnas_error *err;
} scan;

static void skip_space(scan *sc)
{
    while (*sc->p && isspace((unsigned char)*sc->p))
        sc->p++;
}

static cnas_status fail(scan *sc, const char *what)
{
    return cnas_error_set(sc->err, CNAS_ERR_FORMAT, "gold_cell: architecture text, offset %ld: "
                          "expected %s near '%.24s'", (long)(sc->p - sc->t), what, sc->p);
}

static bool word(scan *sc, const char *w)
{
    skip_space(sc);
    size_t n = strlen(w);
    if (strncmp(sc->p, w, n) != 0)
        return false;
    sc->p += n;
    return true;
}

static bool integer(scan *sc, int *out)
{
    skip_space(sc);
    if (!isdigit((unsigned char)*sc->p))
        return false;
    char *end;
    errno = 0;
    long v = strtol(sc->p, &end, 10);
    if (errno || v > 1000000)
        return false;
    *out = (int)v;
    sc->p = end;
    return true;
}

static bool at_cell(scan *sc)
{
    skip_space(sc);
    return strncmp(sc->p, "cell", 4) == 0 && !isalnum((unsigned char)sc->p[4]) &&
           sc->p[4] != '_';
}

static cnas_status parse_node(dc_space *s, scan *sc, int c, cnas_arch *out)
{
    int node;
    if (!integer(sc, &node))
        return fail(sc, "a node number");
    if (node < 2 || node >= 2 + s->nodes)
        return cnas_error_set(sc->err, CNAS_ERR_FORMAT, "gold_cell: cell %d: node %d; nodes are "
                              "numbered 2..%d", c, node, s->nodes + 1);
    if (!word(sc, "<-"))
        return fail(sc, "'<-'");
    if (word(sc, "-"))
        return CNAS_OK;
    do {
        skip_space(sc);
        size_t len = 0;
        while (sc->p[len] && (isalnum((unsigned char)sc->p[len]) || strchr("_/.-", sc->p[len])))
            len++;
        int k = -1;
        for (int q = 0; q < s->n_cand && len; q++)
            if (strlen(s->cand_names[q]) == len && strncmp(s->cand_names[q], sc->p, len) == 0)
                k = q;
        if (k < 0) {
            if (!len)
                return fail(sc, "an operator name");
            return cnas_error_set(sc->err, CNAS_ERR_FORMAT, "gold_cell: cell %d node %d: operator "
                                  "'%.*s' is not among the space's candidates", c, node, (int)len,
                                  sc->p);
        }
        sc->p += len;
        if (!word(sc, "("))
            return fail(sc, "'(' and the operator's inputs");
        do {
            int j;
            if (!integer(sc, &j))
                return fail(sc, "an input number");
            if (j >= node)
                return cnas_error_set(sc->err, CNAS_ERR_FORMAT, "gold_cell: cell %d: input %d of "
                                      "node %d; a node takes inputs 0..%d", c, j, node, node - 1);
            int p = c * s->n_edges + dc_edge_index(node - 2, j);
            if (bit(out, p, k))
                return cnas_error_set(sc->err, CNAS_ERR_FORMAT, "gold_cell: cell %d: (%s, %d, %d) "
                                      "listed twice", c, s->cand_names[k], j, node);
            out->mask[p] |= (uint64_t)1 << k;
        } while (word(sc, ","));
        if (!word(sc, ")"))
            return fail(sc, "')'");
    } while (word(sc, "+"));
    return CNAS_OK;
}

cnas_status gc_parse(void *self, const char *text, cnas_arch *out, cnas_error *err)
{
    dc_space *s = self;
    cnas_status st = check_arch(s, out, "parse into", err);
    if (st)
        return st;
    cnas_arch_clear(out);
    scan sc = {text, text, err};
    char seen[128] = {0};
    int n_seen = 0;
    while (at_cell(&sc)) {
        sc.p += 4;
        int c;
        if (!integer(&sc, &c))
            return fail(&sc, "a cell number");
        if (c >= s->layers)
            return cnas_error_set(err, CNAS_ERR_FORMAT, "gold_cell: cell %d; the space has cells "
                                  "0..%d", c, s->layers - 1);
        if (seen[c])
            return cnas_error_set(err, CNAS_ERR_FORMAT, "gold_cell: cell %d given twice", c);
        seen[c] = 1;
        n_seen++;
        if (word(&sc, "(")) {
            const char *type = s->cells[c].reduction ? "reduce" : "normal";
            if (!word(&sc, type))
                return cnas_error_set(err, CNAS_ERR_FORMAT, "gold_cell: cell %d is a %s cell in "
                                      "this space (layers = %d)", c, type, s->layers);
            if (!word(&sc, ")"))
                return fail(&sc, "')'");
        }
        if (!word(&sc, ":"))
            return fail(&sc, "':' after the cell number");
        while (!at_cell(&sc) && *sc.p) {
            if ((st = parse_node(s, &sc, c, out)))
                return st;
            if (!word(&sc, ";") && !at_cell(&sc) && *sc.p)
                return fail(&sc, "';' between nodes or the next cell");
        }
    }
    skip_space(&sc);
    if (*sc.p)
        return fail(&sc, "'cell N (type): ...'");
    if (n_seen != s->layers)
        return cnas_error_set(err, CNAS_ERR_FORMAT, "gold_cell: architecture text gives %d cells; "
                              "the space has %d (one line 'cell N (type): ...' each)", n_seen,
                              s->layers);
    return CNAS_OK;
}

/* ---- JSON and drawings ---------------------------------------------------------- */

cnas_status gc_write_json(void *self, const cnas_arch *a, FILE *f, cnas_error *err)
{
    dc_space *s = self;
    cnas_status st = check_arch(s, a, "JSON of", err);
    if (st)
        return st;
    size_t cap = 64 + (size_t)s->layers * (size_t)s->n_edges * (size_t)s->n_cand * 64;
    char *text = malloc(cap);
    if (!text)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "gold_cell: out of memory");
    if ((st = gc_format(s, a, text, cap, err))) {
        free(text);
        return st;
    }
    cnas_text t = {0};
    cnas_text_put(&t, "{\"space\": \"gold_cell\", \"layers\": %d, \"nodes\": %d, \"candidates\": [",
                  s->layers, s->nodes);
    for (int k = 0; k < s->n_cand; k++) {
        cnas_text_put(&t, k ? ", " : "");
        cnas_text_json_string(&t, s->cand_names[k]);
    }
    cnas_text_put(&t, "],\n \"log10_architectures\": %.2f, \"log10_architectures_every_node_fed\": "
                  "%.2f,\n \"notation\": ", gc_log10_candidates(s, false),
                  gc_log10_candidates(s, true));
    cnas_text_json_string(&t, text);
    free(text);
    cnas_text_put(&t, ",\n \"cells\": [");
    for (int c = 0; c < s->layers; c++) {
        cnas_text_put(&t, "%s\n  {\"cell\": %d, \"type\": \"%s\", \"triples\": [", c ? "," : "", c,
                      s->cells[c].reduction ? "reduce" : "normal");
        int n = 0;
        for (int i = 0; i < s->nodes; i++)
            for (int j = 0; j < i + 2; j++)
                for (int k = 0; k < s->n_cand; k++)
                    if (bit(a, c * s->n_edges + dc_edge_index(i, j), k)) {
                        cnas_text_put(&t, "%s[", n++ ? ", " : "");
                        cnas_text_json_string(&t, s->cand_names[k]);
                        cnas_text_put(&t, ", %d, %d]", j, i + 2);
                    }
        cnas_text_put(&t, "]}");
    }
    cnas_text_put(&t, "],\n \"concat\": [");
    for (int k = 2 + s->nodes - s->multiplier; k < 2 + s->nodes; k++)
        cnas_text_put(&t, "%s%d", k == 2 + s->nodes - s->multiplier ? "" : ", ", k);
    cnas_text_put(&t, "]}\n");
    if (t.oom) {
        cnas_text_free(&t);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "gold_cell: out of memory");
    }
    fputs(t.s, f);
    cnas_text_free(&t);
    if (ferror(f))
        return cnas_error_set(err, CNAS_ERR_IO, "gold_cell: writing JSON failed");
    return CNAS_OK;
}

/* States are labelled as in the notation: c_{k-2}, c_{k-1}, then nodes 2, 3, ... */
static const char *state_name(int j, char *buf, size_t n)
{
    if (j == 0)
        return "c_{k-2}";
    if (j == 1)
        return "c_{k-1}";
    snprintf(buf, n, "%d", j);
    return buf;
}

/* One drawing per cell (cell0.dot, ...): every cell has its own architecture. */
cnas_status gc_write_dot(void *self, const cnas_arch *a, const char *dir, int *n_files,
                         cnas_error *err)
{
    dc_space *s = self;
    *n_files = 0;
    cnas_status st = check_arch(s, a, "drawing of", err);
    if (st)
        return st;
    for (int c = 0; c < s->layers; c++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/cell%d.dot", dir, c);
        FILE *f = fopen(path, "w");
        if (!f)
            return cnas_error_set(err, CNAS_ERR_IO, "gold_cell: cannot write %s: %s", path,
                                  strerror(errno));
        fprintf(f, "digraph cell%d {\n  rankdir=LR;\n  label=\"cell %d (%s)\";\n", c, c,
                s->cells[c].reduction ? "reduce" : "normal");
        fprintf(f, "  node [style=filled, shape=rect, align=center, fontsize=20, height=0.5, "
                   "width=0.5, penwidth=2, fontname=\"times\"];\n");
        fprintf(f, "  edge [fontsize=20, fontname=\"times\"];\n");
        fprintf(f, "  \"c_{k-2}\" [fillcolor=darkseagreen2];\n  \"c_{k-1}\" [fillcolor=darkseagreen2];\n");
        for (int i = 0; i < s->nodes; i++)
            fprintf(f, "  \"%d\" [fillcolor=lightblue];\n", i + 2);
        for (int i = 0; i < s->nodes; i++)
            for (int j = 0; j < i + 2; j++)
                for (int k = 0; k < s->n_cand; k++)
                    if (bit(a, c * s->n_edges + dc_edge_index(i, j), k)) {
                        char b[16];
                        fprintf(f, "  \"%s\" -> \"%d\" [label=\"%s\", fillcolor=gray];\n",
                                state_name(j, b, sizeof b), i + 2, s->cand_names[k]);
                    }
        fprintf(f, "  \"c_{k}\" [fillcolor=palegoldenrod];\n");
        for (int i = s->nodes - s->multiplier; i < s->nodes; i++)
            fprintf(f, "  \"%d\" -> \"c_{k}\" [fillcolor=gray];\n", i + 2);
        fprintf(f, "}\n");
        int bad = ferror(f);
        if (fclose(f) != 0 || bad)
            return cnas_error_set(err, CNAS_ERR_IO, "gold_cell: writing %s failed", path);
        (*n_files)++;
    }
    return CNAS_OK;
}
