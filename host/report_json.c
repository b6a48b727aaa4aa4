/* cnas report: a small JSON reader for manifest.json, arch.json and the JSON-lines
 * histories (alpha.jsonl, mixture.jsonl). Strict enough to refuse a line cut short;
 * nesting is limited so that no input can exhaust the stack. */
#include "report.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 64 };

typedef struct parser {
    const char *p;
    bool bad;
} parser;

void rj_free(rj *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->n; i++) {
        rj_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

static void ws(parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
        ps->p++;
}

static void put_utf8(char **w, unsigned cp)
{
    char *o = *w;
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    *w = o;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* At the opening quote; a new string, or NULL (ps->bad) on error. */
static char *string(parser *ps)
{
    const char *s = ++ps->p;
    size_t n = 0;
    while (s[n] && s[n] != '"') {
        if (s[n] == '\\' && s[n + 1])
            n++;
        n++;
    }
    if (s[n] != '"') {
        ps->bad = true;
        return NULL;
    }
    char *out = malloc(n + 1), *w = out;
    if (!out) {
        ps->bad = true;
        return NULL;
    }
    const char *r = s;
    while (r < s + n) {
        if (*r != '\\') {
            *w++ = *r++;
            continue;
        }
        r++;
        switch (*r) {
        case 'n': *w++ = '\n'; r++; break;
        case 't': *w++ = '\t'; r++; break;
        case 'r': *w++ = '\r'; r++; break;
        case 'b': *w++ = '\b'; r++; break;
        case 'f': *w++ = '\f'; r++; break;
        case 'u': {
            unsigned cp;
            if (r + 5 > s + n || hex4(r + 1, &cp)) {
                ps->bad = true;
                free(out);
                return NULL;
            }
            r += 5;
            if (cp >= 0xd800 && cp < 0xdc00 && r + 6 <= s + n && r[0] == '\\' && r[1] == 'u') {
                unsigned lo;
                if (!hex4(r + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    r += 6;
                }
            }
            if (cp >= 0xd800 && cp < 0xe000)
                cp = 0xfffd;
            /* \u escapes take 6 bytes and expand to at most 4 */
            put_utf8(&w, cp ? cp : 0xfffd);
            break;
        }
        default: *w++ = *r++; break; /* \" \\ \/ */
        }
    }
    *w = '\0';
    ps->p = s + n + 1;
    return out;
}

static rj *value(parser *ps, int depth);

static bool push(rj *v, rj *item, char *key, int *cap)
{
    if (v->n == *cap) {
        int c = *cap ? 2 * *cap : 8;
        rj **items = realloc(v->items, (size_t)c * sizeof *items);
        if (!items)
            return false;
        v->items = items;
        if (v->type == RJ_OBJ) {
            char **keys = realloc(v->keys, (size_t)c * sizeof *keys);
            if (!keys)
                return false;
            v->keys = keys;
        }
        *cap = c;
    }
    v->items[v->n] = item;
    if (v->type == RJ_OBJ)
        v->keys[v->n] = key;
    v->n++;
    return true;
}

static rj *compound(parser *ps, int depth, bool obj)
{
    rj *v = calloc(1, sizeof *v);
    if (!v) {
        ps->bad = true;
        return NULL;
    }
    v->type = obj ? RJ_OBJ : RJ_ARR;
    int cap = 0;
    char close = obj ? '}' : ']';
    ps->p++;
    ws(ps);
    if (*ps->p == close) {
        ps->p++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        ws(ps);
        if (obj) {
            if (*ps->p != '"' || !(key = string(ps)))
                break;
            ws(ps);
            if (*ps->p != ':') {
                free(key);
                break;
            }
            ps->p++;
        }
        rj *item = value(ps, depth + 1);
        if (!item || !push(v, item, key, &cap)) {
            rj_free(item);
            free(key);
            break;
        }
        ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            return v;
        }
        break;
    }
    ps->bad = true;
    rj_free(v);
    return NULL;
}

static rj *value(parser *ps, int depth)
{
    ws(ps);
    if (depth > MAX_DEPTH) {
        ps->bad = true;
        return NULL;
    }
    char c = *ps->p;
    if (c == '{' || c == '[')
        return compound(ps, depth, c == '{');
    rj *v = calloc(1, sizeof *v);
    if (!v) {
        ps->bad = true;
        return NULL;
    }
    if (c == '"') {
        v->type = RJ_STR;
        if (!(v->str = string(ps))) {
            free(v);
            return NULL;
        }
    } else if (strncmp(ps->p, "null", 4) == 0) {
        v->type = RJ_NULL;
        ps->p += 4;
    } else if (strncmp(ps->p, "true", 4) == 0) {
        v->type = RJ_BOOL;
        v->num = 1;
        ps->p += 4;
    } else if (strncmp(ps->p, "false", 5) == 0) {
        v->type = RJ_BOOL;
        ps->p += 5;
    } else if (c == '-' || (c >= '0' && c <= '9') || strncmp(ps->p, "NaN", 3) == 0) {
        char *end;
        v->type = RJ_NUM;
        v->num = strtod(ps->p, &end);
        if (end == ps->p) {
            free(v);
            ps->bad = true;
            return NULL;
        }
        ps->p = end;
    } else {
        free(v);
        ps->bad = true;
        return NULL;
    }
    return v;
}

rj *rj_parse(const char *text)
{
    if (!text)
        return NULL;
    parser ps = {text, false};
    rj *v = value(&ps, 0);
    ws(&ps);
    if (!v || ps.bad || *ps.p) {
        rj_free(v);
        return NULL;
    }
    return v;
}

const rj *rj_get(const rj *obj, const char *key)
{
    if (!obj || obj->type != RJ_OBJ)
        return NULL;
    for (int i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

double rj_num(const rj *v) { return v && v->type == RJ_NUM ? v->num : NAN; }

const char *rj_str(const rj *v) { return v && v->type == RJ_STR ? v->str : NULL; }

double *rj_matrix(const rj *v, int *rows, int *cols)
{
    if (!v || v->type != RJ_ARR || v->n == 0)
        return NULL;
    int k = -1;
    for (int r = 0; r < v->n; r++) {
        const rj *row = v->items[r];
        if (row->type != RJ_ARR || row->n == 0 || (k >= 0 && row->n != k))
            return NULL;
        k = row->n;
        for (int c = 0; c < k; c++)
            if (row->items[c]->type != RJ_NUM && row->items[c]->type != RJ_NULL)
                return NULL;
    }
    if ((int64_t)v->n * k > 1 << 24)
        return NULL;
    double *m = malloc((size_t)v->n * (size_t)k * sizeof *m);
    for (int r = 0; m && r < v->n; r++)
        for (int c = 0; c < k; c++)
            m[(size_t)r * (size_t)k + (size_t)c] = rj_num(v->items[r]->items[c]);
    if (m) {
        *rows = v->n;
        *cols = k;
    }
    return m;
}

void rj_lines_free(rj_lines *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->n; i++)
        rj_free(l->line[i]);
    free(l->line);
    free(l);
}

rj_lines *rj_lines_read(const char *path)
{
    char *text = rp_slurp(path, NULL, true);
    if (!text)
        return NULL;
    rj_lines *l = calloc(1, sizeof *l);
    int cap = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); l && line; line = strtok_r(NULL, "\n", &save)) {
        rj *v = rj_parse(line);
        if (!v)
            continue;
        if (l->n == cap) {
            cap = cap ? 2 * cap : 32;
            rj **p = realloc(l->line, (size_t)cap * sizeof *p);
            if (!p) {
                rj_free(v);
                break;
            }
            l->line = p;
        }
        l->line[l->n++] = v;
    }
    free(text);
    if (l && l->n == 0) {
        rj_lines_free(l);
        l = NULL;
    }
    return l;
}
