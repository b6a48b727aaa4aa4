/* Pooling placements as architectures: validation, the [n1,n2,n3] notation and the
 * 0/1 code (printed and parsed), enumeration in the reference's order, sampling,
 * derivation from weights, JSON and a Graphviz drawing. */
#include "resnet20_pool.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t rp_binomial(int n, int k)
{
    if (k < 0 || k > n)
        return 0;
    if (k > n - k)
        k = n - k;
    int64_t r = 1;
    for (int i = 1; i <= k; i++) {
        /* r·(n-k+i)/i stays exact: r is C(n-k+i-1, i-1), and the product is divisible by i. */
        if (r > INT64_MAX / (n - k + i))
            return INT64_MAX;
        r = r * (n - k + i) / i;
    }
    return r;
}

cnas_status rp_positions(const rp_space *s, const cnas_arch *a, int *pos, cnas_error *err)
{
    if (!a)
        return cnas_error_set(err, CNAS_ERR_INVALID, RP_NAME ": no architecture");
    if (a->n_points != s->L - 1)
        return cnas_error_set(err, CNAS_ERR_INVALID, RP_NAME ": architecture has %d choice points, "
                              "expected %d (layers 1..%d)", a->n_points, s->L - 1, s->L - 1);
    int k = 0;
    for (int p = 0; p < a->n_points; p++) {
        uint64_t m = a->mask[p];
        if (m != 1u && m != 2u)
            return cnas_error_set(err, CNAS_ERR_INVALID, RP_NAME ": layer %d selects candidate "
                                  "mask 0x%llx; expected exactly one of keep (0x1) or pool (0x2)",
                                  p + 1, (unsigned long long)m);
        if (m == 2u) {
            if (k < s->pools)
                pos[k] = p + 1;
            k++;
        }
    }
    if (k != s->pools)
        return cnas_error_set(err, CNAS_ERR_INVALID, RP_NAME ": architecture pools %d layers, "
                              "expected exactly %d", k, s->pools);
    return CNAS_OK;
}

void rp_set_positions(const rp_space *s, cnas_arch *a, const int *pos)
{
    for (int p = 0; p < s->L - 1; p++) {
        a->mask[p] = 1u;
        a->order[p] = 0;
    }
    for (int k = 0; k < s->pools; k++)
        a->mask[pos[k] - 1] = 2u;
}

static cnas_status check_out(const rp_space *s, const cnas_arch *out, cnas_error *err)
{
    if (!out || out->n_points != s->L - 1)
        return cnas_error_set(err, CNAS_ERR_INVALID, RP_NAME ": output architecture has %d "
                              "choice points, expected %d", out ? out->n_points : 0, s->L - 1);
    return CNAS_OK;
}

/* ---- enumeration and sampling ----------------------------------------------------------- */

int64_t rp_enumerate_count(void *self)
{
    rp_space *s = self;
    return s->count <= INT32_MAX ? s->count : -1;
}

/* Lexicographic unranking of k-subsets of layers 1..L-1: the order of Python's
 * itertools.combinations(range(L-1), k), which the reference enumerates. */
cnas_status rp_enumerate(void *self, int64_t index, cnas_arch *out, cnas_error *err)
{
    rp_space *s = self;
    cnas_status st = check_out(s, out, err);
    if (st)
        return st;
    if (index < 0 || index >= s->count)
        return cnas_error_set(err, CNAS_ERR_INVALID, RP_NAME ": architecture index %lld, "
                              "expected 0 to %lld", (long long)index, (long long)s->count - 1);
    int n = s->L - 1, pos[RP_MAX_LAYERS], x = 1;
    for (int i = 0; i < s->pools; i++, x++) {
        for (;; x++) {
            int64_t c = rp_binomial(n - x, s->pools - i - 1);
            if (index < c)
                break;
            index -= c;
        }
        pos[i] = x;
    }
    rp_set_positions(s, out, pos);
    return CNAS_OK;
}

cnas_status rp_sample(void *self, cnas_rng *rng, cnas_arch *out, cnas_error *err)
{
    rp_space *s = self;
    cnas_status st = check_out(s, out, err);
    if (st)
        return st;
    if (s->count <= UINT32_MAX)
        return rp_enumerate(s, (int64_t)cnas_rng_below(rng, (uint32_t)s->count), out, err);
    /* Too many to index with 32 bits: a uniform k-subset by a partial shuffle. */
    int layers[RP_MAX_LAYERS], pos[RP_MAX_LAYERS];
    for (int i = 0; i < s->L - 1; i++)
        layers[i] = i + 1;
    for (int i = 0; i < s->pools; i++) {
        int j = i + (int)cnas_rng_below(rng, (uint32_t)(s->L - 1 - i));
        int t = layers[i];
        layers[i] = layers[j];
        layers[j] = t;
    }
    memcpy(pos, layers, (size_t)s->pools * sizeof *pos);
    for (int i = 1; i < s->pools; i++)
        for (int j = i; j > 0 && pos[j] < pos[j - 1]; j--) {
            int t = pos[j];
            pos[j] = pos[j - 1];
            pos[j - 1] = t;
        }
    rp_set_positions(s, out, pos);
    return CNAS_OK;
}

/* The `pools` layers whose pool weight is largest (ties: the earlier layer). */
cnas_status rp_derive(void *self, const float *const *probs, cnas_arch *out, cnas_error *err)
{
    rp_space *s = self;
    cnas_status st = check_out(s, out, err);
    if (st)
        return st;
    int taken[RP_MAX_LAYERS] = {0}, pos[RP_MAX_LAYERS];
    for (int k = 0; k < s->pools; k++) {
        int best = -1;
        for (int p = 0; p < s->L - 1; p++)
            if (!taken[p] && (best < 0 || probs[p][1] > probs[best][1]))
                best = p;
        taken[best] = 1;
    }
    for (int p = 0, k = 0; p < s->L - 1; p++)
        if (taken[p])
            pos[k++] = p + 1;
    rp_set_positions(s, out, pos);
    return CNAS_OK;
}

/* ---- text ---------------------------------------------------------------------------- */

cnas_status rp_format(void *self, const cnas_arch *a, char *buf, size_t n, cnas_error *err)
{
    rp_space *s = self;
    int pos[RP_MAX_LAYERS];
    cnas_status st = rp_positions(s, a, pos, err);
    if (st)
        return st;
    size_t o = 0;
    int prev = 0;
    o += (size_t)snprintf(buf, n, "[");
    for (int k = 0; k <= s->pools; k++) {
        int end = k < s->pools ? pos[k] : s->L;
        o += (size_t)snprintf(buf + (o < n ? o : n), o < n ? n - o : 0, "%s%d", k ? "," : "",
                              end - prev);
        prev = end;
    }
    o += (size_t)snprintf(buf + (o < n ? o : n), o < n ? n - o : 0, "]");
    if (o >= n)
        return cnas_error_set(err, CNAS_ERR_INVALID, RP_NAME ": a buffer of %zu bytes cannot hold "
                              "the notation (%zu needed)", n, o + 1);
    return CNAS_OK;
}

/* The 0/1 code over layers 0..L-1, comma-separated. */
static void format_code(const rp_space *s, const int *pos, char *buf, size_t n)
{
    size_t o = 0;
    for (int c = 0, k = 0; c < s->L && o < n; c++) {
        int pooled = k < s->pools && pos[k] == c;
        k += pooled;
        o += (size_t)snprintf(buf + o, n - o, "%s%d", c ? "," : "", pooled);
    }
}

static cnas_status parse_fail(cnas_error *err, const char *text, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cnas_status parse_fail(cnas_error *err, const char *text, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return cnas_error_set(err, CNAS_ERR_INVALID, RP_NAME ": cannot read '%.200s': %s", text, why);
}

cnas_status rp_parse(void *self, const char *text, cnas_arch *out, cnas_error *err)
{
    rp_space *s = self;
    cnas_status st = check_out(s, out, err);
    if (st)
        return st;
    if (!text)
        return cnas_error_set(err, CNAS_ERR_INVALID, RP_NAME ": no text to parse");
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    char close = 0;
    if (*p == '[' || *p == '(') {
        close = *p == '[' ? ']' : ')';
        p++;
    }
    long v[RP_MAX_LAYERS + 1];
    int n = 0;
    bool digit_string = false;
    for (;;) {
        while (isspace((unsigned char)*p) || *p == ',')
            p++;
        if (!*p || *p == close)
            break;
        if (!isdigit((unsigned char)*p))
            return parse_fail(err, text, "unexpected '%c'; expected [n1,...,n%d] (layers per "
                              "resolution) or the 0/1 code over the %d layers%s", *p,
                              s->pools + 1, s->L,
                              s->L == 10 && s->pools == 2
                                  ? ", e.g. [4,3,3] or 0,0,0,0,1,0,0,1,0,0" : "");
        const char *start = p;
        while (isdigit((unsigned char)*p))
            p++;
        size_t len = (size_t)(p - start);
        /* "0000100100": the code as one digit string (it starts with layer 0's 0). */
        if (n == 0 && len > 1 && start[0] == '0' && strspn(start, "01") >= len) {
            if (len > RP_MAX_LAYERS)
                return parse_fail(err, text, "a code of %zu digits, expected %d", len, s->L);
            for (size_t i = 0; i < len; i++)
                v[n++] = start[i] - '0';
            digit_string = true;
            continue;
        }
        if (n == RP_MAX_LAYERS + 1 || digit_string)
            return parse_fail(err, text, "too many numbers");
        errno = 0;
        v[n++] = strtol(start, NULL, 10);
        if (errno || len > 6)
            return parse_fail(err, text, "number '%.*s' is out of range", (int)len, start);
    }
    if (close) {
        if (*p != close)
            return parse_fail(err, text, "missing '%c'", close);
        p++;
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p)
        return parse_fail(err, text, "unexpected text after the list: '%.40s'", p);
    if (n == 0)
        return parse_fail(err, text, "no numbers");

    int pos[RP_MAX_LAYERS], k = 0;
    bool has_zero = false;
    for (int i = 0; i < n; i++)
        has_zero |= v[i] == 0;
    if (has_zero) {
        /* A block count is never 0, so this is the 0/1 code. */
        if (n != s->L)
            return parse_fail(err, text, "a 0/1 code of %d entries, expected one per layer (%d)",
                              n, s->L);
        for (int c = 0; c < n; c++) {
            if (v[c] != 0 && v[c] != 1)
                return parse_fail(err, text, "code entry %d is %ld, expected 0 or 1", c, v[c]);
            if (v[c] == 1 && c == 0)
                return parse_fail(err, text, "layer 0 is pooled; pooling can only precede layers "
                                  "1..%d", s->L - 1);
            if (v[c] == 1) {
                if (k < s->pools)
                    pos[k] = c;
                k++;
            }
        }
        if (k != s->pools)
            return parse_fail(err, text, "the code pools %d layers, expected exactly %d", k,
                              s->pools);
    } else {
        if (n != s->pools + 1)
            return parse_fail(err, text, "%d block counts, expected %d (one per resolution: %d "
                              "pooling layers + 1)", n, s->pools + 1, s->pools);
        long sum = 0;
        for (int i = 0; i < n; i++)
            sum += v[i];
        if (sum != s->L)
            return parse_fail(err, text, "the block counts sum to %ld, expected %d (one per "
                              "layer)", sum, s->L);
        for (int i = 0, c = 0; i < s->pools; i++) {
            c += (int)v[i];
            pos[i] = c;
        }
    }
    rp_set_positions(s, out, pos);
    return CNAS_OK;
}

/* ---- JSON and Graphviz ------------------------------------------------------------------- */

cnas_status rp_write_json(void *self, const cnas_arch *a, FILE *f, cnas_error *err)
{
    rp_space *s = self;
    int pos[RP_MAX_LAYERS];
    char blocks[512], code[512];
    int64_t flops, params;
    cnas_status st;
    if ((st = rp_positions(s, a, pos, err)) || (st = rp_format(s, a, blocks, sizeof blocks, err)) ||
        (st = rp_cost(s, a, &flops, &params, err)))
        return st;
    format_code(s, pos, code, sizeof code);
    fprintf(f, "{\n  \"space\": \"" RP_NAME "\",\n  \"blocks\": \"%s\",\n  \"code\": \"%s\",\n"
            "  \"pool_before\": [", blocks, code);
    for (int k = 0; k < s->pools; k++)
        fprintf(f, "%s%d", k ? ", " : "", pos[k]);
    fprintf(f, "],\n  \"channels\": [");
    for (int c = 0; c < s->L; c++)
        fprintf(f, "%s%d", c ? ", " : "", s->channels[c]);
    fprintf(f, "],\n  \"resolution\": [");
    int h = s->in_h, w = s->in_w;
    for (int c = 0, k = 0; c < s->L; c++) {
        if (k < s->pools && pos[k] == c) {
            h /= 2;
            w /= 2;
            k++;
        }
        fprintf(f, "%s[%d, %d]", c ? ", " : "", h, w);
    }
    fprintf(f, "],\n  \"flops\": %lld,\n  \"params\": %lld\n}\n", (long long)flops,
            (long long)params);
    if (ferror(f))
        return cnas_error_set(err, CNAS_ERR_IO, RP_NAME ": writing the JSON failed");
    return CNAS_OK;
}

cnas_status rp_write_dot(void *self, const cnas_arch *a, const char *dir, int *n_files,
                         cnas_error *err)
{
    rp_space *s = self;
    int pos[RP_MAX_LAYERS];
    char blocks[512];
    cnas_status st;
    *n_files = 0;
    if ((st = rp_positions(s, a, pos, err)) || (st = rp_format(s, a, blocks, sizeof blocks, err)))
        return st;
    char path[4200];
    snprintf(path, sizeof path, "%s/network.dot", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return cnas_error_set(err, CNAS_ERR_IO, RP_NAME ": cannot write %s: %s", path,
                              strerror(errno));
    fprintf(f, "digraph network {\n  label=\"" RP_NAME " %s\";\n  rankdir=TB;\n"
            "  node [shape=box, style=\"rounded,filled\", fontname=helvetica, fillcolor=\"#e8eef7\"];\n"
            "  input [label=\"input %dx%dx%d\", fillcolor=\"#ffffff\"];\n", blocks, s->in_c,
            s->in_h, s->in_w);
    const char *prev = "input";
    char node[32], prev_buf[32];
    int h = s->in_h, w = s->in_w;
    for (int c = 0, k = 0; c < s->L; c++) {
        if (k < s->pools && pos[k] == c) {
            h /= 2;
            w /= 2;
            snprintf(node, sizeof node, "pool%d", c);
            fprintf(f, "  %s [label=\"max pool 2x2\", fillcolor=\"#f7d9c4\"];\n  %s -> %s;\n",
                    node, prev, node);
            snprintf(prev_buf, sizeof prev_buf, "%s", node);
            prev = prev_buf;
            k++;
        }
        snprintf(node, sizeof node, "layer%d", c);
        fprintf(f, "  %s [label=\"layer %d: %s\\n%d ch, %dx%d\"];\n  %s -> %s;\n", node, c,
                c == 0 ? "conv-BN-ReLU" : "basic block", s->channels[c], h, w, prev, node);
        snprintf(prev_buf, sizeof prev_buf, "%s", node);
        prev = prev_buf;
    }
    fprintf(f, "  head [label=\"global avg pool + FC(%d -> %d)\", fillcolor=\"#ffffff\"];\n"
            "  %s -> head;\n}\n", s->channels[s->L - 1], s->num_classes, prev);
    if (fclose(f) != 0)
        return cnas_error_set(err, CNAS_ERR_IO, RP_NAME ": writing %s failed", path);
    *n_files = 1;
    return CNAS_OK;
}
