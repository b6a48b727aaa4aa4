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

static size_t levenshtein(const char *a, const char *b)
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

static bool parse_value(value *v, const char *where, cnas_error *err)
{
    const cnas_param_spec *s = v->spec;
    const char *t = v->text;
    char range[96] = "";
    if (s->has_range)
        snprintf(range, sizeof range, " between %g and %g", s->min, s->max);
    switch (s->type) {
    case CNAS_PARAM_INT:
        if (!parse_int(t, &v->i) || (s->has_range && (v->i < s->min || v->i > s->max))) {
            cnas_error_set(err, CNAS_ERR_CONFIG, "%s key '%s' = '%s': expected an integer%s", where,
                           s->key, t, range);
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
            cnas_error_set(err, CNAS_ERR_CONFIG, "%s key '%s' = '%s': expected a number%s", where,
                           s->key, t, range);
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
        cnas_error_set(err, CNAS_ERR_CONFIG, "%s key '%s' = '%s': expected true or false", where,
                       s->key, t);
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
        cnas_error_set(err, CNAS_ERR_CONFIG, "%s key '%s' = '%s': expected one of %s", where,
                       s->key, t, s->choices ? s->choices : "(none)");
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
        cnas_error_set(err, CNAS_ERR_CONFIG, "%s key '%s' = '%s': expected comma-separated "
                       "integers (at most %d)", where, s->key, t, MAX_LIST);
        return false;
    }
    case CNAS_PARAM_STRING:
    case CNAS_PARAM_PATH:
        return true;
    }
    cnas_error_set(err, CNAS_ERR_PLUGIN, "%s key '%s': unknown type %d in the schema", where,
                   s->key, (int)s->type);
    return false;
}

cnas_status cnas_params_resolve(const cnas_param_spec *spec, int n_spec, const char *where,
                                const char *const *keys, const char *const *values, int n_raw,
                                cnas_params **out, cnas_error *err)
{
    *out = NULL;
    where = where ? where : "";
    for (int i = 0; i < n_spec; i++) {
        if (spec[i].size < sizeof(cnas_param_spec) || !spec[i].key || !spec[i].type)
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "%s: schema entry %d is malformed", where, i);
        for (int j = 0; j < i; j++)
            if (strcmp(spec[i].key, spec[j].key) == 0)
                return cnas_error_set(err, CNAS_ERR_PLUGIN, "%s: schema declares '%s' twice", where,
                                      spec[i].key);
    }
    for (int r = 0; r < n_raw; r++) {
        int found = -1;
        for (int i = 0; i < n_spec; i++)
            if (strcmp(keys[r], spec[i].key) == 0)
                found = i;
        if (found < 0) {
            const char *best = NULL;
            size_t bd = 99;
            for (int i = 0; i < n_spec; i++) {
                size_t d = levenshtein(keys[r], spec[i].key);
                if (d < bd) {
                    bd = d;
                    best = spec[i].key;
                }
            }
            if (best && bd <= 2 + strlen(keys[r]) / 4)
                return cnas_error_set(err, CNAS_ERR_CONFIG, "%s key '%s': unknown key; did you mean "
                                      "'%s'?", where, keys[r], best);
            return cnas_error_set(err, CNAS_ERR_CONFIG, "%s key '%s': unknown key", where, keys[r]);
        }
        for (int q = 0; q < r; q++)
            if (strcmp(keys[q], keys[r]) == 0)
                return cnas_error_set(err, CNAS_ERR_CONFIG, "%s key '%s' is given twice", where,
                                      keys[r]);
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
        const char *text = spec[i].default_value;
        for (int r = 0; r < n_raw; r++)
            if (strcmp(keys[r], spec[i].key) == 0) {
                text = values[r];
                v->set = true;
            }
        if (!text) {
            cnas_params_free(p);
            return cnas_error_set(err, CNAS_ERR_CONFIG, "%s key '%s' is required (%s): %s", where,
                                  spec[i].key, type_name(spec[i].type),
                                  spec[i].help ? spec[i].help : "no help");
        }
        if (!(v->text = strdup(text))) {
            cnas_params_free(p);
            return cnas_error_set(err, CNAS_ERR_NOMEM, "%s: out of memory", where);
        }
        if (!parse_value(v, where, err)) {
            if (!v->set)
                cnas_error_prefix(err, "the default of a plugin's key is invalid");
            cnas_params_free(p);
            return err->code;
        }
    }
    *out = p;
    return CNAS_OK;
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
    for (int i = 0; p && i < p->n; i++)
        if (strcmp(p->v[i].spec->key, key) == 0)
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
    for (int i = 0; i < v->n_list && i < max; i++)
        out[i] = v->list[i];
    return v->n_list;
}

bool cnas_params_is_set(const cnas_params *p, const char *key)
{
    const value *v = lookup(p, key);
    return v && v->set;
}

int cnas_params_count(const cnas_params *p) { return p ? p->n : 0; }
const char *cnas_params_key_at(const cnas_params *p, int i) { return p->v[i].spec->key; }
const char *cnas_params_text_at(const cnas_params *p, int i) { return p->v[i].text; }
