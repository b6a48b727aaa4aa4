/* INI composition on top of iniparser: files are read with iniparser, their keys
 * kept in file order with their origin, includes resolved relative to the
 * including file, overrides applied last. */
#include <cnas/config.h>

#include <ctype.h>
#include <errno.h>
#include <iniparser.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "params_internal.h"

typedef struct entry {
    char *section, *key, *value, *origin;
} entry;

/* Sections are kept apart from keys so that an empty [strategy] or a misspelt empty
 * section is still seen. */
typedef struct section_seen {
    char *name, *origin;
} section_seen;

struct cnas_ini {
    entry *e;
    int n, cap;
    section_seen *s;
    int ns, scap;
    char *name;
};

static const char *const known_sections[] = {"run", "plugins", "dataset", "data", "space",
                                             "network", "strategy", "train", "retrain",
                                             "checkpoint"};
#define N_KNOWN ((int)(sizeof known_sections / sizeof known_sections[0]))

static cnas_status note_section(cnas_ini *ini, const char *name, const char *origin,
                                cnas_error *err)
{
    for (int i = 0; i < ini->ns; i++)
        if (strcmp(ini->s[i].name, name) == 0)
            return CNAS_OK;
    if (ini->ns == ini->scap) {
        int cap = ini->scap ? 2 * ini->scap : 16;
        section_seen *s = realloc(ini->s, (size_t)cap * sizeof *s);
        if (!s)
            return cnas_error_set(err, CNAS_ERR_NOMEM, "config: out of memory");
        ini->s = s;
        ini->scap = cap;
    }
    section_seen *s = &ini->s[ini->ns];
    s->name = strdup(name);
    s->origin = strdup(origin);
    if (!s->name || !s->origin) {
        free(s->name);
        free(s->origin);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "config: out of memory");
    }
    ini->ns++;
    return CNAS_OK;
}

static cnas_status put(cnas_ini *ini, const char *section, const char *key, const char *value,
                       const char *origin, cnas_error *err)
{
    cnas_status st = note_section(ini, section, origin, err);
    if (st)
        return st;
    for (int i = 0; i < ini->n; i++)
        if (strcmp(ini->e[i].section, section) == 0 && strcmp(ini->e[i].key, key) == 0) {
            char *v = strdup(value), *o = strdup(origin);
            if (!v || !o) {
                free(v);
                free(o);
                return cnas_error_set(err, CNAS_ERR_NOMEM, "config: out of memory");
            }
            free(ini->e[i].value);
            free(ini->e[i].origin);
            ini->e[i].value = v;
            ini->e[i].origin = o;
            return CNAS_OK;
        }
    if (ini->n == ini->cap) {
        int cap = ini->cap ? 2 * ini->cap : 64;
        entry *e = realloc(ini->e, (size_t)cap * sizeof *e);
        if (!e)
            return cnas_error_set(err, CNAS_ERR_NOMEM, "config: out of memory");
        ini->e = e;
        ini->cap = cap;
    }
    entry *e = &ini->e[ini->n];
    *e = (entry){strdup(section), strdup(key), strdup(value), strdup(origin)};
    if (!e->section || !e->key || !e->value || !e->origin) {
        free(e->section);
        free(e->key);
        free(e->value);
        free(e->origin);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "config: out of memory");
    }
    ini->n++;
    return CNAS_OK;
}

/* iniparser reports syntax errors through a global printf-like callback without a
 * context pointer; keep the first report of the current load, flattened to one line. */
static _Thread_local char parse_msg[512];

static int capture_parse_error(const char *fmt, ...)
{
    if (parse_msg[0])
        return 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(parse_msg, sizeof parse_msg, fmt, ap);
    va_end(ap);
    for (char *p = parse_msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return 0;
}

static dictionary *parse_file(const char *path, cnas_error *err)
{
    parse_msg[0] = '\0';
    iniparser_set_error_callback(capture_parse_error);
    dictionary *d = iniparser_load(path);
    iniparser_set_error_callback(NULL);
    if (!d) {
        const char *m = parse_msg;
        if (strncmp(m, "iniparser: ", 11) == 0)
            m += 11;
        /* "syntax error in FILE (LINE): -> TEXT" becomes "FILE:LINE: syntax error: 'TEXT'". */
        const char *open = strrchr(m, '('), *arrow = strstr(m, "-> ");
        long line = open ? strtol(open + 1, NULL, 10) : 0;
        if (strncmp(m, "syntax error", 12) == 0 && line > 0 && arrow) {
            size_t n = strlen(arrow + 3);
            while (n && arrow[3 + n - 1] == ' ')
                n--;
            cnas_error_set(err, CNAS_ERR_CONFIG, "%s:%ld: not a valid INI line: '%.*s' (expected "
                           "[section], key = value or a ; comment)", path, line, (int)n, arrow + 3);
        } else {
            size_t n = strlen(m);
            while (n && m[n - 1] == ' ')
                n--;
            cnas_error_set(err, CNAS_ERR_CONFIG, "%s: not a valid INI file: %.*s", path, (int)n,
                           n ? m : "(no detail)");
        }
    }
    return d;
}

/* stack[0..depth) holds the real paths of the files being read, to name a cycle. */
static cnas_status load_into(cnas_ini *ini, const char *path, char **stack, int depth,
                             cnas_error *err)
{
    if (depth >= 16)
        return cnas_error_set(err, CNAS_ERR_CONFIG, "%s: includes nest more than 16 deep", path);
    char *real = realpath(path, NULL);
    for (int i = 0; real && i < depth; i++)
        if (strcmp(stack[i], real) == 0) {
            cnas_error_set(err, CNAS_ERR_CONFIG, "%s: include cycle: %s includes it again", path,
                           stack[depth - 1]);
            free(real);
            return CNAS_ERR_CONFIG;
        }
    FILE *probe = real ? fopen(path, "r") : NULL;
    if (!probe) {
        cnas_status st = cnas_error_set(err, CNAS_ERR_CONFIG, "%s: cannot read: %s", path,
                                        strerror(errno));
        free(real);
        return st;
    }
    fclose(probe);
    stack[depth] = real;
    dictionary *d = parse_file(path, err);
    if (!d) {
        free(real);
        return err ? err->code : CNAS_ERR_CONFIG;
    }
    cnas_status st = CNAS_OK;
    /* Includes first, so this file's keys override them. */
    for (int i = 0; !st && i < d->size; i++) {
        if (!d->key[i] || !d->val[i])
            continue;
        const char *colon = strchr(d->key[i], ':');
        const char *key = colon ? colon + 1 : d->key[i];
        if (strcmp(key, "include") != 0)
            continue;
        char target[4096];
        if (d->val[i][0] == '/') {
            snprintf(target, sizeof target, "%s", d->val[i]);
        } else {
            char *copy = strdup(path);
            snprintf(target, sizeof target, "%s/%s", copy ? dirname(copy) : ".", d->val[i]);
            free(copy);
        }
        st = load_into(ini, target, stack, depth + 1, err);
    }
    for (int i = 0; !st && i < d->size; i++) {
        if (!d->key[i])
            continue;
        const char *colon = strchr(d->key[i], ':');
        if (!d->val[i]) { /* a section header */
            if (!colon)
                st = note_section(ini, d->key[i], path, err);
            continue;
        }
        if (!colon) {
            st = cnas_error_set(err, CNAS_ERR_CONFIG, "%s: key '%s' is outside any section", path,
                                d->key[i]);
            break;
        }
        char section[128];
        snprintf(section, sizeof section, "%.*s", (int)(colon - d->key[i]), d->key[i]);
        if (strcmp(colon + 1, "include") == 0)
            continue;
        if (!section[0]) {
            st = cnas_error_set(err, CNAS_ERR_CONFIG, "%s: key '%s' is outside any section", path,
                                colon + 1);
            break;
        }
        st = put(ini, section, colon + 1, d->val[i], path, err);
    }
    iniparser_freedict(d);
    free(real);
    return st;
}

cnas_ini *cnas_ini_load(const char *path, cnas_error *err)
{
    cnas_ini *ini = calloc(1, sizeof *ini);
    if (!ini || !(ini->name = strdup(path))) {
        free(ini);
        cnas_error_set(err, CNAS_ERR_NOMEM, "config: out of memory");
        return NULL;
    }
    char *stack[16];
    if (load_into(ini, path, stack, 0, err)) {
        cnas_ini_free(ini);
        return NULL;
    }
    return ini;
}

cnas_ini *cnas_ini_parse_text(const char *text, const char *name, cnas_error *err)
{
    /* iniparser reads files only. */
    const char *tmp = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/cnas-ini-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        cnas_error_set(err, CNAS_ERR_IO, "config: cannot create a temporary file: %s", strerror(errno));
        return NULL;
    }
    FILE *f = fdopen(fd, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        if (!f)
            close(fd);
        unlink(tmpl);
        cnas_error_set(err, CNAS_ERR_IO, "config: cannot write a temporary file: %s", strerror(errno));
        return NULL;
    }
    cnas_ini *ini = cnas_ini_load(tmpl, err);
    unlink(tmpl);
    if (!ini) {
        /* Name the caller's source, not the temporary file. */
        if (err) {
            char *at = strstr(err->msg, tmpl);
            if (at) {
                char rest[CNAS_ERROR_MSG_MAX];
                snprintf(rest, sizeof rest, "%s", at + strlen(tmpl));
                snprintf(at, sizeof err->msg - (size_t)(at - err->msg), "%s%s", name, rest);
            }
        }
        return NULL;
    }
    char *nm = strdup(name);
    if (!nm) {
        cnas_ini_free(ini);
        cnas_error_set(err, CNAS_ERR_NOMEM, "config: out of memory");
        return NULL;
    }
    free(ini->name);
    ini->name = nm;
    for (int i = 0; i < ini->n; i++) {
        char *o = strdup(name);
        if (o) {
            free(ini->e[i].origin);
            ini->e[i].origin = o;
        }
    }
    for (int i = 0; i < ini->ns; i++) {
        char *o = strdup(name);
        if (o) {
            free(ini->s[i].origin);
            ini->s[i].origin = o;
        }
    }
    return ini;
}

void cnas_ini_free(cnas_ini *ini)
{
    if (!ini)
        return;
    for (int i = 0; i < ini->n; i++) {
        free(ini->e[i].section);
        free(ini->e[i].key);
        free(ini->e[i].value);
        free(ini->e[i].origin);
    }
    for (int i = 0; i < ini->ns; i++) {
        free(ini->s[i].name);
        free(ini->s[i].origin);
    }
    free(ini->e);
    free(ini->s);
    free(ini->name);
    free(ini);
}

cnas_status cnas_ini_override(cnas_ini *ini, const char *a, cnas_error *err)
{
    const char *dot = strchr(a, '.'), *eq = strchr(a, '=');
    if (!dot || !eq || dot > eq || dot == a || eq == dot + 1)
        return cnas_error_set(err, CNAS_ERR_CONFIG, "--set '%s': expected section.key=value", a);
    if (dot - a >= 128 || eq - dot - 1 >= 128)
        return cnas_error_set(err, CNAS_ERR_CONFIG, "--set '%s': section or key too long", a);
    char section[128], key[128];
    snprintf(section, sizeof section, "%.*s", (int)(dot - a), a);
    snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
    /* Like iniparser: names are case-insensitive, surrounding blanks ignored. */
    for (char *p = section; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    for (char *p = key; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const char *v = eq + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    return put(ini, section, key, v, "--set", err);
}

const char *cnas_ini_name(const cnas_ini *ini) { return ini->name; }

const char *cnas_ini_get(const cnas_ini *ini, const char *section, const char *key)
{
    for (int i = 0; i < ini->n; i++)
        if (strcmp(ini->e[i].section, section) == 0 && strcmp(ini->e[i].key, key) == 0)
            return ini->e[i].value;
    return NULL;
}

const char *cnas_ini_origin(const cnas_ini *ini, const char *section, const char *key)
{
    for (int i = 0; i < ini->n; i++)
        if (strcmp(ini->e[i].section, section) == 0 && strcmp(ini->e[i].key, key) == 0)
            return ini->e[i].origin;
    return NULL;
}

bool cnas_ini_has_section(const cnas_ini *ini, const char *section)
{
    for (int i = 0; i < ini->ns; i++)
        if (strcmp(ini->s[i].name, section) == 0)
            return true;
    return false;
}

cnas_status cnas_ini_check_sections(const cnas_ini *ini, cnas_error *err)
{
    cnas__errs e = {err, 0, false};
    for (int i = 0; i < ini->ns; i++) {
        bool ok = false;
        for (int k = 0; k < N_KNOWN; k++)
            ok |= strcmp(ini->s[i].name, known_sections[k]) == 0;
        if (ok)
            continue;
        const char *best = cnas__did_you_mean(ini->s[i].name, known_sections, N_KNOWN);
        if (best)
            cnas__errs_add(&e, CNAS_ERR_CONFIG, "%s: unknown section [%s]; did you mean [%s]?",
                           ini->s[i].origin, ini->s[i].name, best);
        else
            cnas__errs_add(&e, CNAS_ERR_CONFIG, "%s: unknown section [%s] (known: run, plugins, "
                           "dataset, data, space, network, strategy, train, retrain, checkpoint)",
                           ini->s[i].origin, ini->s[i].name);
    }
    return e.n ? (err ? err->code : CNAS_ERR_CONFIG) : CNAS_OK;
}

cnas_status cnas_ini_resolve_for(const cnas_ini *ini, const char *section, const char *overlay,
                                 const char *what, const cnas_param_spec *spec, int n_spec,
                                 bool skip_use, cnas_params **out, cnas_error *err)
{
    size_t cap = (size_t)ini->n + 1;
    const char **keys = calloc(cap, sizeof *keys), **vals = calloc(cap, sizeof *vals);
    char **wheres = calloc(cap, sizeof *wheres);
    cnas_status st = CNAS_OK;
    int n = 0;
    if (!keys || !vals || !wheres) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, "config: out of memory");
        goto done;
    }
    /* The overlay's keys replace the section's: [retrain] over [train]. */
    for (int pass = 0; pass < (overlay ? 2 : 1); pass++) {
        const char *sec = pass ? overlay : section;
        for (int i = 0; i < ini->n; i++) {
            const entry *e = &ini->e[i];
            if (strcmp(e->section, sec) != 0 || (skip_use && strcmp(e->key, "use") == 0))
                continue;
            int at = -1;
            for (int k = 0; k < n; k++)
                if (strcmp(keys[k], e->key) == 0)
                    at = k;
            if (at < 0)
                at = n++;
            size_t len = strlen(e->origin) + strlen(sec) + 4;
            char *w = malloc(len);
            if (!w) {
                st = cnas_error_set(err, CNAS_ERR_NOMEM, "config: out of memory");
                goto done;
            }
            snprintf(w, len, "%s [%s]", e->origin, sec);
            free(wheres[at]);
            keys[at] = e->key;
            vals[at] = e->value;
            wheres[at] = w;
        }
    }
    char where[512];
    snprintf(where, sizeof where, "%s [%s%s%s]", ini->name, section, overlay ? " + " : "",
             overlay ? overlay : "");
    st = cnas__params_resolve(spec, n_spec, where, what, keys, vals, (const char *const *)wheres,
                              n, out, err);
done:
    for (size_t i = 0; wheres && i < cap; i++)
        free(wheres[i]);
    free(wheres);
    free(keys);
    free(vals);
    return st;
}

cnas_status cnas_ini_resolve(const cnas_ini *ini, const char *section, const char *overlay,
                             const cnas_param_spec *spec, int n_spec, bool skip_use,
                             cnas_params **out, cnas_error *err)
{
    return cnas_ini_resolve_for(ini, section, overlay, NULL, spec, n_spec, skip_use, out, err);
}

/* ---- core section schemas ---------------------------------------------------------- */

const cnas_param_spec cnas_run_keys[] = {
    CNAS_PARAM_SPEC_STRING("name", "", "run name; the run directory is out_dir/name (default: "
                                       "the configuration file's name)"),
    CNAS_PARAM_SPEC_INT("seed", "2", 0, 2147483647, "the one seed every random stream derives from"),
    CNAS_PARAM_SPEC_PATH("out_dir", "runs", "directory that holds run directories"),
    CNAS_PARAM_SPEC_INT("threads", "0", 0, 1024, "worker threads (0: all processors)"),
    CNAS_PARAM_SPEC_BOOL("deterministic", "true",
                         "no effect, kept so older configurations load: every run repeats bit "
                         "for bit, on any thread count"),
    CNAS_PARAM_SPEC_CHOICE("log_level", "info", "error|warn|info|debug", "terminal log level"),
    CNAS_PARAM_SPEC_BOOL("memory_check", "true",
                         "before a search or training, estimate the memory it needs and refuse it "
                         "when that exceeds 90% of the machine's (not part of the run's identity: "
                         "a resume may change it)"),
};
const int cnas_run_n_keys = (int)(sizeof cnas_run_keys / sizeof cnas_run_keys[0]);

const cnas_param_spec cnas_plugins_keys[] = {
    CNAS_PARAM_SPEC_STRING("path", "", "colon-separated plugin directories searched after "
                                       "--plugin-path and CNAS_PLUGIN_PATH"),
    CNAS_PARAM_SPEC_STRING("load", "", "colon-separated plugin files to load as well"),
};
const int cnas_plugins_n_keys = (int)(sizeof cnas_plugins_keys / sizeof cnas_plugins_keys[0]);

const cnas_param_spec cnas_data_keys[] = {
    CNAS_PARAM_SPEC_FLOAT("train_portion", "0.5", 1e-9, 1,
                          "share of the training split that trains weights; the rest validates "
                          "(DARTS: first half / second half)"),
    CNAS_PARAM_SPEC_INT("limit_train", "0", 0, 1000000000, "keep the first N training samples (0: all)"),
    CNAS_PARAM_SPEC_INT("limit_val", "0", 0, 1000000000, "keep the first N validation samples (0: all)"),
    CNAS_PARAM_SPEC_INT("limit_test", "0", 0, 1000000000, "keep the first N test samples (0: all)"),
    CNAS_PARAM_SPEC_INT("epoch_samples", "0", 0, 1000000000,
                        "training samples per epoch, taken in turn from shuffled passes over the "
                        "whole training split (0: an epoch is the whole split)"),
    CNAS_PARAM_SPEC_BOOL("normalize", "true", "per-channel normalisation"),
    CNAS_PARAM_SPEC_STRING("mean", "", "per-channel means, comma-separated (default: computed "
                                       "from the training split)"),
    CNAS_PARAM_SPEC_STRING("std", "", "per-channel standard deviations, comma-separated"),
    CNAS_PARAM_SPEC_INT("crop_padding", "0", 0, 64, "random crop after zero padding (CIFAR: 4)"),
    CNAS_PARAM_SPEC_BOOL("flip", "false", "random horizontal flips"),
    CNAS_PARAM_SPEC_BOOL("augment_val", "true", "augment the validation batches a search draws "
                                                "during training, like training batches (DARTS: "
                                                "true; balanced mixture: false)"),
    CNAS_PARAM_SPEC_BOOL("prefetch", "true", "prepare batches on a worker thread"),
    CNAS_PARAM_SPEC_INT("eval_batch_size", "256", 1, 100000, "batch size of evaluation passes"),
};
const int cnas_data_n_keys = (int)(sizeof cnas_data_keys / sizeof cnas_data_keys[0]);

const cnas_param_spec cnas_train_keys[] = {
    CNAS_PARAM_SPEC_INT("epochs", "50", 1, 100000, "training epochs"),
    CNAS_PARAM_SPEC_INT("batch_size", "64", 1, 100000, "training batch size"),
    CNAS_PARAM_SPEC_FLOAT("lr", "0.025", 0, 100, "initial learning rate of the weights"),
    CNAS_PARAM_SPEC_FLOAT("lr_min", "0.001", 0, 100, "final learning rate"),
    CNAS_PARAM_SPEC_CHOICE("lr_schedule", "cosine", "cosine|linear|constant",
                           "learning-rate schedule over the epochs"),
    CNAS_PARAM_SPEC_FLOAT("momentum", "0.9", 0, 1, "SGD momentum"),
    CNAS_PARAM_SPEC_BOOL("nesterov", "false", "Nesterov momentum"),
    CNAS_PARAM_SPEC_FLOAT("weight_decay", "3e-4", 0, 1, "L2 weight decay"),
    CNAS_PARAM_SPEC_FLOAT("grad_clip", "5", 0, 1e9, "clip the weights' gradient norm (0: off)"),
    CNAS_PARAM_SPEC_FLOAT("auxiliary_weight", "0.4", 0, 100, "weight of the auxiliary head's loss"),
    CNAS_PARAM_SPEC_FLOAT("drop_path", "0", 0, 0.99, "drop-path probability, ramped linearly over the epochs"),
    CNAS_PARAM_SPEC_FLOAT("label_smoothing", "0", 0, 0.99, "label smoothing of the cross-entropy"),
    CNAS_PARAM_SPEC_INT("cutout", "0", 0, 1024, "Cutout square side (DARTS retraining: 16; 0: off)"),
    CNAS_PARAM_SPEC_BOOL("drop_last", "false", "drop the last incomplete training batch"),
    CNAS_PARAM_SPEC_FLOAT("dgconv_penalty", "0", 0, 1e6, "weight of the DGConv regulariser: "
                          "the sum over DGConv layers of nnz(U) = 2^(K + active gates), added "
                          "to the training loss (0: off; docs/dgconv.md)"),
};
const int cnas_train_n_keys = (int)(sizeof cnas_train_keys / sizeof cnas_train_keys[0]);

const cnas_param_spec cnas_checkpoint_keys[] = {
    CNAS_PARAM_SPEC_INT("every_steps", "0", 0, 1000000000, "checkpoint every N steps (0: off)"),
    CNAS_PARAM_SPEC_FLOAT("every_minutes", "10", 0, 1e6, "checkpoint every N minutes (0: off)"),
    CNAS_PARAM_SPEC_INT("every_epochs", "1", 0, 1000000, "checkpoint every N epochs (0: off)"),
};
const int cnas_checkpoint_n_keys = (int)(sizeof cnas_checkpoint_keys / sizeof cnas_checkpoint_keys[0]);

void cnas_params_write_ini(FILE *f, const char *section, const char *use, const cnas_params *p,
                           bool annotate)
{
    fprintf(f, "[%s]\n", section);
    if (use)
        fprintf(f, "use = %s\n", use);
    for (int i = 0; i < cnas_params_count(p); i++) {
        const char *k = cnas_params_key_at(p, i);
        fprintf(f, "%s = %s%s\n", k, cnas_params_text_at(p, i),
                annotate && !cnas_params_is_set(p, k) ? "  ; default" : "");
    }
    fprintf(f, "\n");
}

void cnas_params_defaults_line(const cnas_params *p, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < cnas_params_count(p) && o < n; i++) {
        const char *k = cnas_params_key_at(p, i);
        if (!cnas_params_is_set(p, k))
            o += (size_t)snprintf(buf + o, n - o, "%s%s = %s", o ? ", " : "", k,
                                  cnas_params_text_at(p, i));
    }
}
