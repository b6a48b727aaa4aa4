/* Validating a component's keys against its schema. Values are parsed once, here;
 * components read typed values that cannot fail. */
#include <cnas/params.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "params_internal.h"

#define MAX_LIST 64

typedef struct value {
    const cnas_param_spec *spec;
    char *text;           /* the value as given (or the default) */
    bool set;             /* given by the configuration */
    int64_t i;
    double f;
    bool b;
    int64_t list[MAX_LIST];
    int n_list;
} value;

struct cnas_params {
    value *v;
    int n;
};

/* ---- error collection ----------------------------------------------------------- */

static void errs_vadd(cnas__errs *e, cnas_status code, const char *fmt, va_list ap)
{
    e->n++;
    if (!e->err)
        return;
    if (e->n == 1) {
        cnas_error_vset(e->err, code, fmt, ap);
        return;
    }
    if (e->full)
        return;
    char line[CNAS_ERROR_MSG_MAX];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t used = strlen(e->err->msg), need = strlen(line) + 1;
    /* Keep room for the "\n..." that says some messages were dropped. */
    if (used + need + 5 > sizeof e->err->msg) {
        if (used + 5 <= sizeof e->err->msg)
            memcpy(e->err->msg + used, "\n...", 5);
        e->full = true;
        return;
    }
    e->err->msg[used] = '\n';
    memcpy(e->err->msg + used + 1, line, need);
}

void cnas__errs_add(cnas__errs *e, cnas_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errs_vadd(e, code, fmt, ap);
    va_end(ap);
}

void cnas__errs_add_error(cnas__errs *e, const cnas_error *err2)
{
    if (e->err == err2) { /* the record already holds it as its only message */
        e->n++;
        return;
    }
    cnas__errs_add(e, err2->code, "%s", err2->msg);
}

/* ---- names ---------------------------------------------------------------------- */

size_t cnas__edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

const char *cnas__did_you_mean(const char *s, const char *const *names, int n)
{
    const char *best = NULL;
    size_t bd = 99;
    for (int i = 0; i < n; i++) {
        size_t d = cnas__edit_distance(s, names[i]);
        if (d < bd) {
            bd = d;
            best = names[i];
        }
    }
    /* Two edits, plus one per four characters: 'lerning_rate' finds 'learning_rate',
     * 'lr' does not find 'wd'. */
    return best && bd <= 2 + strlen(s) / 4 && bd < strlen(s) ? best : NULL;
}

static const char *type_name(cnas_param_type t)
{
    switch (t) {
    case CNAS_PARAM_INT: return "an integer";
    case CNAS_PARAM_FLOAT: return "a number";
    case CNAS_PARAM_BOOL: return "true or false";
    case CNAS_PARAM_STRING: return "a string";
    case CNAS_PARAM_CHOICE: return "one of the choices";
    case CNAS_PARAM_PATH: return "a path";
    case CNAS_PARAM_INT_LIST: return "comma-separated integers";
    }
    return "a value";
}

/* ---- parsing -------------------------------------------------------------------- */

static bool parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (end == s || *end || errno)
        return false;
    *out = v;
    return true;
}

/* Integer ranges print as integers ("between 0 and 2147483647", not 2.14748e+09). */
static void range_text(const cnas_param_spec *s, char *buf, size_t n)
{
    buf[0] = '\0';
    if (!s->has_range)
        return;
    if (s->type == CNAS_PARAM_INT)
        snprintf(buf, n, " between %lld and %lld", (long long)s->min, (long long)s->max);
    else
        snprintf(buf, n, " between %g and %g", s->min, s->max);
}

/* Parse v->text by v->spec; on failure write "expected ..." into why. */
static bool parse_value(value *v, char *why, size_t n)
{
    const cnas_param_spec *s = v->spec;
    const char *t = v->text;
    char range[96];
    range_text(s, range, sizeof range);
    switch (s->type) {
    case CNAS_PARAM_INT:
        if (!parse_int(t, &v->i) || (s->has_range && (v->i < s->min || v->i > s->max))) {
            snprintf(why, n, "expected an integer%s", range);
            return false;
        }
        v->f = (double)v->i;
        return true;
    case CNAS_PARAM_FLOAT: {
        char *end;
        errno = 0;
        v->f = strtod(t, &end);
        while (isspace((unsigned char)*end))
            end++;
        if (end == t || *end || errno || !isfinite(v->f) ||
            (s->has_range && (v->f < s->min || v->f > s->max))) {
            snprintf(why, n, "expected a number%s", range);
            return false;
        }
        return true;
    }
    case CNAS_PARAM_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
        for (int i = 0; i < 4; i++) {
            if (strcasecmp(t, yes[i]) == 0) {
                v->b = true;
                return true;
            }
            if (strcasecmp(t, no[i]) == 0) {
                v->b = false;
                return true;
            }
        }
        snprintf(why, n, "expected true or false (also yes/no, on/off, 1/0)");
        return false;
    }
    case CNAS_PARAM_CHOICE: {
        const char *c = s->choices ? s->choices : "";
        size_t len = strlen(t);
        while (*c) {
            size_t k = strcspn(c, "|");
            if (k == len && strncmp(c, t, k) == 0)
                return true;
            c += k + (c[k] == '|');
        }
        snprintf(why, n, "expected one of %s", s->choices ? s->choices : "(none)");
        return false;
    }
    case CNAS_PARAM_INT_LIST: {
        v->n_list = 0;
        const char *p = t;
        while (*p) {
            while (*p == ' ' || *p == ',')
                p++;
            if (!*p)
                break;
            char item[32];
            size_t k = strcspn(p, ", ");
            if (k >= sizeof item || v->n_list == MAX_LIST)
                goto bad_list;
            memcpy(item, p, k);
            item[k] = '\0';
            if (!parse_int(item, &v->list[v->n_list]))
                goto bad_list;
            v->n_list++;
            p += k;
        }
        return true;
    bad_list:
        snprintf(why, n, "expected comma-separated integers (at most %d)", MAX_LIST);
        return false;
    }
    case CNAS_PARAM_STRING:
    case CNAS_PARAM_PATH:
        return true;
    }
    snprintf(why, n, "the schema gives key '%s' the unknown type %d", s->key, (int)s->type);
    return false;
}

/* ---- schemas -------------------------------------------------------------------- */

cnas_status cnas__params_check_schema(const cnas_param_spec *spec, int n_spec, const char *where,
                                      cnas_error *err)
{
    where = where ? where : "";
    if (n_spec > 0 && !spec)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "%s: %d keys declared but no schema", where,
                              n_spec);
    for (int i = 0; i < n_spec; i++) {
        const cnas_param_spec *s = &spec[i];
        if (s->size < sizeof(cnas_param_spec))
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "%s: key %d has size %u, expected %zu",
                                  where, i, s->size, sizeof(cnas_param_spec));
        if (!s->key || !*s->key)
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "%s: key %d has no name", where, i);
        /* Keys match case-insensitively, as INI keys do (iniparser lowercases them), so
         * a schema may say "M" and a file "m = 4"; two keys that differ only in case
         * are declared twice. */
        for (const char *c = s->key; *c; c++)
            if (!(isalnum((unsigned char)*c) || *c == '_'))
                return cnas_error_set(err, CNAS_ERR_PLUGIN, "%s: key '%s' is not [A-Za-z0-9_]+",
                                      where, s->key);
        if (strcasecmp(s->key, "use") == 0 || strcasecmp(s->key, "include") == 0)
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "%s: key '%s' is reserved by the "
                                  "configuration format", where, s->key);
        if (s->type < CNAS_PARAM_INT || s->type > CNAS_PARAM_INT_LIST)
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "%s: key '%s' has unknown type %d", where,
                                  s->key, (int)s->type);
        if (s->type == CNAS_PARAM_CHOICE && (!s->choices || !*s->choices))
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "%s: choice key '%s' lists no choices",
                                  where, s->key);
        if (s->has_range && !(s->min <= s->max))
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "%s: key '%s' has the empty range "
                                  "[%g, %g]", where, s->key, s->min, s->max);
        for (int j = 0; j < i; j++)
            if (strcasecmp(s->key, spec[j].key) == 0)
                return cnas_error_set(err, CNAS_ERR_PLUGIN, "%s: key '%s' is declared twice",
                                      where, s->key);
        if (s->default_value) {
            value v = {.spec = s, .text = (char *)s->default_value};
            char why[256];
            if (!parse_value(&v, why, sizeof why))
                return cnas_error_set(err, CNAS_ERR_PLUGIN, "%s: the default of key '%s' is "
                                      "'%s': %s", where, s->key, s->default_value, why);
        }
    }
    return CNAS_OK;
}

/* ---- resolution ----------------------------------------------------------------- */

static void unknown_key(cnas__errs *e, const cnas_param_spec *spec, int n_spec, const char *wh,
                        const char *what, const char *key)
{
    const char *names[128];
    int n = n_spec < 128 ? n_spec : 128;
    for (int i = 0; i < n; i++)
        names[i] = spec[i].key;
    const char *best = cnas__did_you_mean(key, names, n);
    char hint[400];
    if (best) {
        snprintf(hint, sizeof hint, "; did you mean '%s'?", best);
    } else if (n == 0) {
        snprintf(hint, sizeof hint, " (it takes no keys)");
    } else {
        /* No close match: list the keys, so the user need not look them up. */
        size_t o = (size_t)snprintf(hint, sizeof hint, " (known keys: ");
        for (int i = 0; i < n && o < sizeof hint; i++)
            o += (size_t)snprintf(hint + o, sizeof hint - o, "%s%s", i ? ", " : "", names[i]);
        if (o + 2 < sizeof hint)
            memcpy(hint + o, ")", 2);
        else
            memcpy(hint + sizeof hint - 5, "...)", 5);
    }
    /* "unknown key for strategy 'darts' (known keys: ...)", or with a suggestion
     * "unknown key; did you mean 'x'? (strategy 'darts')". */
    if (best && what)
        cnas__errs_add(e, CNAS_ERR_CONFIG, "%s key '%s': unknown key%s (%s)", wh, key, hint, what);
    else
        cnas__errs_add(e, CNAS_ERR_CONFIG, "%s key '%s': unknown key%s%s%s", wh, key,
                       what ? " for " : "", what ? what : "", hint);
}

cnas_status cnas__params_resolve(const cnas_param_spec *spec, int n_spec, const char *where,
                                 const char *what, const char *const *keys,
                                 const char *const *values, const char *const *wheres, int n_raw,
                                 cnas_params **out, cnas_error *err)
{
    *out = NULL;
    where = where ? where : "";
    cnas_status st = cnas__params_check_schema(spec, n_spec, what ? what : where, err);
    if (st)
        return st;
    cnas__errs e = {err, 0, false};
    for (int r = 0; r < n_raw; r++) {
        const char *wh = wheres && wheres[r] ? wheres[r] : where;
        int found = -1;
        for (int i = 0; i < n_spec; i++)
            if (strcasecmp(keys[r], spec[i].key) == 0)
                found = i;
        if (found < 0) {
            unknown_key(&e, spec, n_spec, wh, what, keys[r]);
            continue;
        }
        for (int q = 0; q < r; q++)
            if (strcasecmp(keys[q], keys[r]) == 0) {
                cnas__errs_add(&e, CNAS_ERR_CONFIG, "%s key '%s' is given twice", wh, keys[r]);
                break;
            }
    }
    cnas_params *p = calloc(1, sizeof *p);
    if (!p || !(p->v = calloc((size_t)(n_spec ? n_spec : 1), sizeof *p->v))) {
        free(p);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "%s: out of memory", where);
    }
    p->n = n_spec;
    for (int i = 0; i < n_spec; i++) {
        value *v = &p->v[i];
        v->spec = &spec[i];
        const char *text = spec[i].default_value, *wh = where;
        for (int r = 0; r < n_raw; r++)
            if (strcasecmp(keys[r], spec[i].key) == 0) {
                text = values[r] ? values[r] : "";
                wh = wheres && wheres[r] ? wheres[r] : where;
                v->set = true;
            }
        if (!text) {
            char range[96];
            range_text(&spec[i], range, sizeof range);
            cnas__errs_add(&e, CNAS_ERR_CONFIG, "%s key '%s' is required: %s%s%s%s", where,
                           spec[i].key, type_name(spec[i].type), range,
                           spec[i].help ? " — " : "", spec[i].help ? spec[i].help : "");
            continue;
        }
        if (!(v->text = strdup(text))) {
            cnas_params_free(p);
            return cnas_error_set(err, CNAS_ERR_NOMEM, "%s: out of memory", where);
        }
        char why[256];
        if (!parse_value(v, why, sizeof why))
            cnas__errs_add(&e, CNAS_ERR_CONFIG, "%s key '%s' = '%s': %s", wh, spec[i].key, text, why);
    }
    if (e.n) {
        cnas_params_free(p);
        return err ? err->code : CNAS_ERR_CONFIG;
    }
    *out = p;
    return CNAS_OK;
}

cnas_status cnas_params_resolve(const cnas_param_spec *spec, int n_spec, const char *where,
                                const char *const *keys, const char *const *values, int n_raw,
                                cnas_params **out, cnas_error *err)
{
    return cnas__params_resolve(spec, n_spec, where, NULL, keys, values, NULL, n_raw, out, err);
}

void cnas_params_free(cnas_params *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        free(p->v[i].text);
    free(p->v);
    free(p);
}

static const value *lookup(const cnas_params *p, const char *key)
{
    for (int i = 0; p && key && i < p->n; i++)
        if (strcasecmp(p->v[i].spec->key, key) == 0)
            return &p->v[i];
    return NULL;
}

int64_t cnas_params_int(const cnas_params *p, const char *key)
{
    const value *v = lookup(p, key);
    return v ? v->i : 0;
}

double cnas_params_float(const cnas_params *p, const char *key)
{
    const value *v = lookup(p, key);
    return v ? v->f : 0.0;
}

bool cnas_params_bool(const cnas_params *p, const char *key)
{
    const value *v = lookup(p, key);
    return v ? v->b : false;
}

const char *cnas_params_str(const cnas_params *p, const char *key)
{
    const value *v = lookup(p, key);
    return v ? v->text : "";
}

int cnas_params_int_list(const cnas_params *p, const char *key, int64_t *out, int max)
{
    const value *v = lookup(p, key);
    if (!v)
        return 0;
    for (int i = 0; out && i < v->n_list && i < max; i++)
        out[i] = v->list[i];
    return v->n_list;
}

bool cnas_params_is_set(const cnas_params *p, const char *key)
{
    const value *v = lookup(p, key);
    return v && v->set;
}

int cnas_params_count(const cnas_params *p) { return p ? p->n : 0; }

const char *cnas_params_key_at(const cnas_params *p, int i)
{
    return p && i >= 0 && i < p->n ? p->v[i].spec->key : NULL;
}

const char *cnas_params_text_at(const cnas_params *p, int i)
{
    return p && i >= 0 && i < p->n ? p->v[i].text : NULL;
}
