/* Sessions: a configuration with its plugins loaded and every section resolved. */
#include "host.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CNAS_PLUGINDIR
#define CNAS_PLUGINDIR "/usr/local/lib/cnas/plugins"
#endif

int host_exit_code(cnas_status s)
{
    switch (s) {
    case CNAS_OK: return EXIT_OK;
    case CNAS_ERR_CONFIG:
    case CNAS_ERR_PLUGIN:
    case CNAS_ERR_FORMAT:
    case CNAS_ERR_IO:
    case CNAS_ERR_NOT_FOUND:
    case CNAS_ERR_INVALID: return EXIT_USAGE;
    default: return EXIT_RUN_FAILED;
    }
}

void host_print_error(const char *command, const cnas_error *err)
{
    const char *m = err->msg;
    do {
        size_t n = strcspn(m, "\n");
        fprintf(stderr, "cnas %s: %.*s\n", command, (int)n, m);
        m += n + (m[n] == '\n');
    } while (*m);
}

/* Append err's message to `all` as more lines; the first error's code is kept. */
static void collect(cnas_error *all, int *n, const cnas_error *err)
{
    if (all == err) {
        (*n)++;
        return;
    }
    if ((*n)++ == 0) {
        *all = *err;
        return;
    }
    size_t used = strlen(all->msg);
    if (used + 1 + strlen(err->msg) + 5 > sizeof all->msg) {
        if (!strstr(all->msg, "\n...") && used + 5 <= sizeof all->msg)
            memcpy(all->msg + used, "\n...", 5);
        return;
    }
    all->msg[used] = '\n';
    memcpy(all->msg + used + 1, err->msg, strlen(err->msg) + 1);
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Where the built-in plugins are: in a build tree <build>/host/cnas finds
 * <build>/plugins; an installed cnas finds them relative to itself
 * (<prefix>/bin/cnas -> <prefix>/<libdir>/cnas/plugins), so a moved or
 * DESTDIR-installed tree still works; else the configured directory. */
static void builtin_dir(char *out, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char marker[PATH_MAX + 32];
            snprintf(out, n, "%s/../plugins", exe);
            snprintf(marker, sizeof marker, "%s/../meson-private", exe);
            if (is_dir(out) && is_dir(marker))
                return;
#if defined(CNAS_BINDIR_REL) && defined(CNAS_PLUGINDIR_REL)
            size_t lb = strlen(exe), lr = strlen(CNAS_BINDIR_REL);
            if (lb > lr && exe[lb - lr - 1] == '/' && strcmp(exe + lb - lr, CNAS_BINDIR_REL) == 0) {
                snprintf(out, n, "%.*s%s", (int)(lb - lr), exe, CNAS_PLUGINDIR_REL);
                if (is_dir(out))
                    return;
            }
#endif
        }
    }
    snprintf(out, n, "%s", CNAS_PLUGINDIR);
}

cnas_status host_load_plugins(cnas_registry *reg, const host_options *o, const char *ini_path_list,
                              const char *ini_load_list, cnas_error *err)
{
    /* Every level is loaded even after a failure, so that every bad plugin is named. */
    int n = 0;
    cnas_error e;
    for (int i = 0; i < o->n_plugin_path; i++) {
        /* A colon-separated list, as the loader splits it: warn per missing entry. */
        char *copy = strdup(o->plugin_path[i]), *save = NULL;
        for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
            struct stat sb;
            if (stat(d, &sb) != 0)
                cnas_log(1, "--plugin-path %s: %s", d, strerror(errno));
        }
        free(copy);
        if (cnas_registry_load_path(reg, o->plugin_path[i], &e))
            collect(err, &n, &e);
    }
    if (cnas_registry_load_path(reg, getenv("CNAS_PLUGIN_PATH"), &e))
        collect(err, &n, &e);
    if (ini_path_list && *ini_path_list && cnas_registry_load_path(reg, ini_path_list, &e))
        collect(err, &n, &e);
    if (ini_load_list && *ini_load_list && cnas_registry_load_path(reg, ini_load_list, &e))
        collect(err, &n, &e);
    char dir[PATH_MAX + 32];
    builtin_dir(dir, sizeof dir);
    cnas_log(3, "built-in plugins: %s", dir);
    if (cnas_registry_load_dir(reg, dir, &e))
        collect(err, &n, &e);
    return n ? err->code : CNAS_OK;
}

/* The recorded search path as it grows: lines in buf (NULL once out of memory). */
typedef struct path_text {
    char *buf;
    size_t len, cap;
} path_text;

/* One entry, absolute so that a resume from another directory finds it, and once: a
 * resume given the recorded path and the same CNAS_PLUGIN_PATH records it unchanged. An
 * entry that does not exist loaded nothing (host_load_plugins warned about it) and is
 * left out, so resumes do not repeat the warning. */
static void add_entry(path_text *t, const char *entry)
{
    char abs[PATH_MAX + 2];
    if (!t->buf || !*entry || strchr(entry, '\n') || !realpath(entry, abs))
        return;
    size_t n = strlen(abs);
    for (const char *p = t->buf; (p = strstr(p, abs)); p++)
        if ((p == t->buf || p[-1] == '\n') && p[n] == '\n')
            return;
    if (t->len + n + 2 > t->cap) {
        size_t cap = 2 * t->cap + n + 2;
        char *b = realloc(t->buf, cap);
        if (!b) {
            free(t->buf);
            t->buf = NULL;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, abs, n);
    t->len += n;
    t->buf[t->len++] = '\n';
    t->buf[t->len] = '\0';
}

/* Every entry of a colon-separated list, as the loader splits it. */
static void add_list(path_text *t, const char *list)
{
    if (!list || !t->buf)
        return;
    char *copy = strdup(list), *save = NULL;
    if (!copy) {
        free(t->buf);
        t->buf = NULL;
        return;
    }
    for (char *e = strtok_r(copy, ":", &save); e; e = strtok_r(NULL, ":", &save))
        add_entry(t, e);
    free(copy);
}

char *host_plugin_path_text(const host_options *o)
{
    path_text t = {calloc(1, 1), 0, 1};
    for (int i = 0; i < o->n_plugin_path; i++)
        add_list(&t, o->plugin_path[i]);
    add_list(&t, getenv("CNAS_PLUGIN_PATH"));
    return t.buf;
}

static cnas_status resolve_component(session *s, const char *section, const char *overlay,
                                     cnas_kind kind, const cnas_component **c,
                                     const cnas_plugin_desc **p, cnas_params **out, cnas_error *err)
{
    const char *use = cnas_ini_get(s->ini, section, "use");
    if (!use || !*use)
        return cnas_error_set(err, CNAS_ERR_CONFIG, "%s [%s] key 'use' is required: the name of "
                              "a %s component (see cnas plugins)", cnas_ini_name(s->ini), section,
                              cnas_kind_str(kind));
    if (!(*c = cnas_registry_find(s->reg, kind, use, p, err)))
        return cnas_error_prefix(err, "%s [%s] use = %s", cnas_ini_origin(s->ini, section, "use"),
                                 section, use);
    char what[256];
    snprintf(what, sizeof what, "%s '%s'", cnas_kind_str(kind), use);
    return cnas_ini_resolve_for(s->ini, section, overlay, what, (*c)->params, (int)(*c)->n_params,
                                true, out, err);
}

/* Validate everything and report every error found, one per line: a user fixes a
 * file in one round. A step whose input failed (the plugins, for the component
 * sections) is skipped rather than reported twice. */
static cnas_status open_ini(session *s, const host_options *o, bool retrain, cnas_error *all)
{
    int n = 0;
    cnas_error e;
    if (!(s->plugin_path = host_plugin_path_text(o))) {
        cnas_error_set(all, CNAS_ERR_NOMEM, "out of memory");
        return all->code;
    }
    for (int i = 0; i < o->n_overrides; i++)
        if (cnas_ini_override(s->ini, o->overrides[i], &e))
            collect(all, &n, &e);
    /* After the overrides: --set may name a section of its own. */
    if (cnas_ini_check_sections(s->ini, &e))
        collect(all, &n, &e);
    if (cnas_ini_resolve(s->ini, "run", NULL, cnas_run_keys, cnas_run_n_keys, false, &s->run, &e))
        collect(all, &n, &e);
    if (cnas_ini_resolve(s->ini, "plugins", NULL, cnas_plugins_keys, cnas_plugins_n_keys, false,
                         &s->plugins, &e))
        collect(all, &n, &e);
    cnas_log_set_level(o->verbosity < 0 ? 1
                       : o->verbosity > 0 ? 3
                       : s->run ? cnas_log_level_parse(cnas_params_str(s->run, "log_level"))
                                : 2);
    if (!(s->reg = cnas_registry_new(&e))) {
        collect(all, &n, &e);
        return all->code;
    }
    bool plugins_ok = false;
    if (s->plugins) {
        plugins_ok = host_load_plugins(s->reg, o, cnas_params_str(s->plugins, "path"),
                                       cnas_params_str(s->plugins, "load"), &e) == CNAS_OK;
        if (!plugins_ok)
            collect(all, &n, &e);
    }
    if (cnas_ini_resolve(s->ini, "data", NULL, cnas_data_keys, cnas_data_n_keys, false, &s->data, &e))
        collect(all, &n, &e);
    if (cnas_ini_resolve(s->ini, "train", retrain ? "retrain" : NULL, cnas_train_keys,
                         cnas_train_n_keys, false, &s->train, &e))
        collect(all, &n, &e);
    if (cnas_ini_resolve(s->ini, "checkpoint", NULL, cnas_checkpoint_keys, cnas_checkpoint_n_keys,
                         false, &s->checkpoint, &e))
        collect(all, &n, &e);
    if (plugins_ok) {
        if (resolve_component(s, "dataset", NULL, CNAS_KIND_DATASET, &s->dataset_c, &s->dataset_p,
                              &s->dataset, &e))
            collect(all, &n, &e);
        if ((cnas_ini_has_section(s->ini, "space") || cnas_ini_has_section(s->ini, "strategy")) &&
            resolve_component(s, "space", retrain ? "network" : NULL, CNAS_KIND_SPACE, &s->space_c,
                              &s->space_p, &s->space, &e))
            collect(all, &n, &e);
        if (cnas_ini_has_section(s->ini, "strategy") && !retrain &&
            resolve_component(s, "strategy", NULL, CNAS_KIND_STRATEGY, &s->strategy_c,
                              &s->strategy_p, &s->strategy, &e))
            collect(all, &n, &e);
        /* A search builds stand-alone networks of candidates with the retraining
         * settings of the space ([network] on top of [space]). */
        if (s->space_c && !retrain &&
            cnas_ini_resolve_for(s->ini, "space", "network", "space", s->space_c->params,
                                 (int)s->space_c->n_params, true, &s->network, &e))
            collect(all, &n, &e);
    }
    if (n)
        return all->code;
    session_log_defaults(s, retrain, 3);
    return CNAS_OK;
}

void session_log_defaults(const session *s, bool retrain, int level)
{
    /* Defaults taken, so a mistyped key never hides behind a default silently. */
    const cnas_params *all[] = {s->run, s->data, s->train, s->checkpoint, s->dataset, s->space, s->strategy};
    const char *names[] = {"run", "data", retrain ? "train+retrain" : "train", "checkpoint", "dataset",
                           retrain ? "space+network" : "space", "strategy"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!all[i])
            continue;
        char line[4096];
        cnas_params_defaults_line(all[i], line, sizeof line);
        if (line[0])
            cnas_log(level, "defaults [%s]: %s", names[i], line);
    }
}

cnas_status session_open(session *s, const char *config_path, const host_options *o, bool retrain,
                         cnas_error *err)
{
    memset(s, 0, sizeof *s);
    s->config_path = config_path;
    if (!(s->ini = cnas_ini_load(config_path, err)))
        return err->code;
    return open_ini(s, o, retrain, err);
}

cnas_status session_open_text(session *s, const char *text, const char *name,
                              const host_options *o, bool retrain, cnas_error *err)
{
    memset(s, 0, sizeof *s);
    s->config_path = name;
    if (!(s->ini = cnas_ini_parse_text(text, name, err)))
        return err->code;
    return open_ini(s, o, retrain, err);
}

void session_close(session *s)
{
    cnas_params *all[] = {s->run, s->plugins, s->data, s->train, s->checkpoint, s->dataset, s->space,
                          s->strategy, s->network};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        cnas_params_free(all[i]);
    cnas_ini_free(s->ini);
    cnas_registry_free(s->reg);
    free(s->plugin_path);
    memset(s, 0, sizeof *s);
}

char *session_config_text(const session *s, bool annotate)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    if (annotate)
        fprintf(f, "; The fully resolved configuration of this run (\"; default\": not set by the "
                   "configuration).\n\n");
    cnas_params_write_ini(f, "run", NULL, s->run, annotate);
    cnas_params_write_ini(f, "plugins", NULL, s->plugins, annotate);
    if (s->dataset_c)
        cnas_params_write_ini(f, "dataset", s->dataset_c->name, s->dataset, annotate);
    cnas_params_write_ini(f, "data", NULL, s->data, annotate);
    if (s->space_c)
        cnas_params_write_ini(f, "space", s->space_c->name, s->space, annotate);
    if (s->strategy_c)
        cnas_params_write_ini(f, "strategy", s->strategy_c->name, s->strategy, annotate);
    cnas_params_write_ini(f, "train", NULL, s->train, annotate);
    cnas_params_write_ini(f, "checkpoint", NULL, s->checkpoint, annotate);
    fclose(f);
    return buf;
}
