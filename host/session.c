/* Sessions: a configuration with its plugins loaded and every section resolved. */
#include "host.h"

#include <limits.h>
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

/* Where the built-in plugins are: next to the executable in a build tree
 * (<build>/host/cnas -> <build>/plugins), else the installed directory. */
static void builtin_dir(char *out, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, n, "%s/../plugins", exe);
            struct stat sb;
            char marker[PATH_MAX + 32];
            snprintf(marker, sizeof marker, "%s/../meson-private", exe);
            if (stat(out, &sb) == 0 && S_ISDIR(sb.st_mode) && stat(marker, &sb) == 0)
                return;
        }
    }
    snprintf(out, n, "%s", CNAS_PLUGINDIR);
}

cnas_status host_load_plugins(cnas_registry *reg, const host_options *o, const char *ini_path_list,
                              const char *ini_load_list, cnas_error *err)
{
    cnas_status st = CNAS_OK;
    for (int i = 0; !st && i < o->n_plugin_path; i++)
        st = cnas_registry_load_path(reg, o->plugin_path[i], err);
    if (!st)
        st = cnas_registry_load_path(reg, getenv("CNAS_PLUGIN_PATH"), err);
    if (!st && ini_path_list && *ini_path_list)
        st = cnas_registry_load_path(reg, ini_path_list, err);
    if (!st && ini_load_list && *ini_load_list)
        st = cnas_registry_load_path(reg, ini_load_list, err);
    if (!st) {
        char dir[PATH_MAX + 32];
        builtin_dir(dir, sizeof dir);
        st = cnas_registry_load_dir(reg, dir, err);
    }
    return st;
}

static cnas_status resolve_component(session *s, const char *section, const char *overlay,
                                     cnas_kind kind, const cnas_component **c,
                                     const cnas_plugin_desc **p, cnas_params **out, cnas_error *err)
{
    const char *use = cnas_ini_get(s->ini, section, "use");
    if (!use)
        return cnas_error_set(err, CNAS_ERR_CONFIG, "%s [%s]: key 'use' is required: the name of "
                              "a %s component (see cnas plugins)", cnas_ini_name(s->ini), section,
                              cnas_kind_str(kind));
    if (!(*c = cnas_registry_find(s->reg, kind, use, p, err)))
        return cnas_error_prefix(err, "%s [%s] use = %s", cnas_ini_name(s->ini), section, use);
    return cnas_ini_resolve(s->ini, section, overlay, (*c)->params, (int)(*c)->n_params, true, out,
                            err);
}

static cnas_status open_ini(session *s, const host_options *o, bool retrain, cnas_error *err)
{
    cnas_status st = cnas_ini_check_sections(s->ini, err);
    for (int i = 0; !st && i < o->n_overrides; i++)
        st = cnas_ini_override(s->ini, o->overrides[i], err);
    if (!st)
        st = cnas_ini_check_sections(s->ini, err);
    if (!st)
        st = cnas_ini_resolve(s->ini, "run", NULL, cnas_run_keys, cnas_run_n_keys, false, &s->run, err);
    if (!st)
        st = cnas_ini_resolve(s->ini, "plugins", NULL, cnas_plugins_keys, cnas_plugins_n_keys, false,
                              &s->plugins, err);
    if (st)
        return st;
    cnas_log_set_level(o->verbosity < 0 ? 1
                       : o->verbosity > 0 ? 3
                                          : cnas_log_level_parse(cnas_params_str(s->run, "log_level")));
    if (!(s->reg = cnas_registry_new(err)))
        return err->code;
    st = host_load_plugins(s->reg, o, cnas_params_str(s->plugins, "path"),
                           cnas_params_str(s->plugins, "load"), err);
    if (!st)
        st = cnas_ini_resolve(s->ini, "data", NULL, cnas_data_keys, cnas_data_n_keys, false, &s->data, err);
    if (!st)
        st = cnas_ini_resolve(s->ini, "train", retrain ? "retrain" : NULL, cnas_train_keys,
                              cnas_train_n_keys, false, &s->train, err);
    if (!st)
        st = cnas_ini_resolve(s->ini, "checkpoint", NULL, cnas_checkpoint_keys,
                              cnas_checkpoint_n_keys, false, &s->checkpoint, err);
    if (!st)
        st = resolve_component(s, "dataset", NULL, CNAS_KIND_DATASET, &s->dataset_c, &s->dataset_p,
                               &s->dataset, err);
    if (!st && (cnas_ini_has_section(s->ini, "space") || cnas_ini_has_section(s->ini, "strategy")))
        st = resolve_component(s, "space", retrain ? "network" : NULL, CNAS_KIND_SPACE, &s->space_c,
                               &s->space_p, &s->space, err);
    if (!st && cnas_ini_has_section(s->ini, "strategy") && !retrain)
        st = resolve_component(s, "strategy", NULL, CNAS_KIND_STRATEGY, &s->strategy_c,
                               &s->strategy_p, &s->strategy, err);
    if (st)
        return st;
    /* Defaults taken, so a typo'd key never hides behind a default silently. */
    const cnas_params *all[] = {s->run, s->data, s->train, s->checkpoint, s->dataset, s->space, s->strategy};
    const char *names[] = {"run", "data", retrain ? "train+retrain" : "train", "checkpoint", "dataset",
                           retrain ? "space+network" : "space", "strategy"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!all[i])
            continue;
        char line[4096];
        cnas_params_defaults_line(all[i], line, sizeof line);
        if (line[0])
            cnas_log(3, "defaults [%s]: %s", names[i], line);
    }
    return CNAS_OK;
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
                          s->strategy};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        cnas_params_free(all[i]);
    cnas_ini_free(s->ini);
    cnas_registry_free(s->reg);
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
