/* cnas describe NAME: the keys of a component (or of a core section), with their
 * types, defaults, ranges and help. */
#include "host.h"

#include <stdio.h>
#include <string.h>

static const char *type_name(cnas_param_type t)
{
    switch (t) {
    case CNAS_PARAM_INT: return "int";
    case CNAS_PARAM_FLOAT: return "float";
    case CNAS_PARAM_BOOL: return "bool";
    case CNAS_PARAM_STRING: return "string";
    case CNAS_PARAM_CHOICE: return "choice";
    case CNAS_PARAM_PATH: return "path";
    case CNAS_PARAM_INT_LIST: return "int list";
    }
    return "?";
}

static void print_keys(const cnas_param_spec *spec, int n)
{
    if (n == 0)
        printf("  no keys\n");
    for (int i = 0; i < n; i++) {
        const cnas_param_spec *s = &spec[i];
        printf("  %-24s %-8s ", s->key, type_name(s->type));
        if (!s->default_value)
            printf("required");
        else
            printf("default %s", s->default_value[0] ? s->default_value : "\"\"");
        if (s->has_range && s->type == CNAS_PARAM_INT)
            printf(", range [%lld, %lld]", (long long)s->min, (long long)s->max);
        else if (s->has_range)
            printf(", range [%g, %g]", s->min, s->max);
        if (s->type == CNAS_PARAM_CHOICE && s->choices)
            printf(", one of %s", s->choices);
        printf("\n");
        if (s->help && *s->help)
            printf("      %s\n", s->help);
    }
}

/* The sections cnas itself reads. */
static const struct {
    const char *name;
    const cnas_param_spec *keys;
    const int *n;
    const char *help;
} core_sections[] = {
    {"run", cnas_run_keys, &cnas_run_n_keys, "the run: name, seed, output directory, threads"},
    {"plugins", cnas_plugins_keys, &cnas_plugins_n_keys, "where plugins are found"},
    {"data", cnas_data_keys, &cnas_data_n_keys, "splits, normalisation, augmentation, prefetch"},
    {"train", cnas_train_keys, &cnas_train_n_keys,
     "weight training ([retrain] overrides it for cnas train)"},
    {"checkpoint", cnas_checkpoint_keys, &cnas_checkpoint_n_keys, "checkpoint cadence"},
};

int cmd_describe(const host_options *o)
{
    const char *name = o->args[0];
    char bare[128];
    size_t len = strlen(name);
    /* "[train]" names a core section explicitly. */
    if (len > 2 && len < sizeof bare && name[0] == '[' && name[len - 1] == ']')
        snprintf(bare, sizeof bare, "%.*s", (int)(len - 2), name + 1);
    else
        snprintf(bare, sizeof bare, "%s", name);
    bool section_syntax = strcmp(bare, name) != 0;

    cnas_error err;
    cnas_registry *reg = cnas_registry_new(&err);
    if (!reg) {
        host_print_error("describe", &err);
        return host_exit_code(err.code);
    }
    cnas_status load_st = section_syntax ? CNAS_OK : host_load_plugins(reg, o, NULL, NULL, &err);
    int shown = 0;
    cnas_error ambiguous = {0};
    static const cnas_kind kinds[] = {CNAS_KIND_STRATEGY, CNAS_KIND_SPACE, CNAS_KIND_DATASET,
                                      CNAS_KIND_OP, CNAS_KIND_GENERATOR};
    /* A name may denote components of several kinds (a space and a strategy both
     * called darts): show each. */
    for (size_t k = 0; !section_syntax && k < sizeof kinds / sizeof kinds[0]; k++) {
        cnas_error e;
        const cnas_plugin_desc *p = NULL;
        const cnas_component *c = cnas_registry_find(reg, kinds[k], name, &p, &e);
        if (!c) {
            if (strstr(e.msg, "ambiguous") && !ambiguous.code)
                ambiguous = e;
            continue;
        }
        const char *path = "";
        for (int i = 0; i < cnas_registry_plugin_count(reg); i++)
            if (cnas_registry_plugin(reg, i, &path) == p)
                break;
        printf("%s%s/%s (%s)%s%s\n  plugin %s %s, %s\n", shown++ ? "\n" : "", p->name, c->name,
               cnas_kind_str(c->kind), c->description && *c->description ? " — " : "",
               c->description ? c->description : "", p->name, p->version, path);
        print_keys(c->params, (int)c->n_params);
    }
    for (size_t i = 0; !shown && i < sizeof core_sections / sizeof core_sections[0]; i++)
        if (strcmp(bare, core_sections[i].name) == 0) {
            printf("[%s] (core section) — %s\n", core_sections[i].name, core_sections[i].help);
            print_keys(core_sections[i].keys, *core_sections[i].n);
            shown++;
        }
    int code = EXIT_OK;
    if (!shown) {
        if (ambiguous.code)
            err = ambiguous;
        else if (!load_st)
            cnas_error_set(&err, CNAS_ERR_NOT_FOUND, "no component named '%s' and no core section "
                           "of that name (see cnas plugins; core sections: run, plugins, data, "
                           "train, checkpoint)",
                           name);
        host_print_error("describe", &err);
        code = host_exit_code(err.code);
    } else if (load_st) {
        host_print_error("describe", &err); /* a broken plugin elsewhere on the path */
        code = host_exit_code(load_st);
    }
    cnas_registry_free(reg);
    return code;
}
