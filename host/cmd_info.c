/* cnas plugins, cnas describe, cnas check. */
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

static int fail(const char *what, cnas_error *err)
{
    fprintf(stderr, "cnas %s: %s\n", what, err->msg);
    return host_exit_code(err->code);
}

int cmd_plugins(const host_options *o)
{
    cnas_error err;
    cnas_registry *reg = cnas_registry_new(&err);
    if (!reg || host_load_plugins(reg, o, NULL, NULL, &err)) {
        cnas_registry_free(reg);
        return fail("plugins", &err);
    }
    int n = cnas_registry_plugin_count(reg);
    if (n == 0)
        printf("no plugins found (search path: --plugin-path, CNAS_PLUGIN_PATH, the built-in "
               "directory)\n");
    static const cnas_kind kinds[] = {CNAS_KIND_DATASET, CNAS_KIND_OP, CNAS_KIND_SPACE,
                                      CNAS_KIND_STRATEGY};
    for (int i = 0; i < n; i++) {
        const char *path;
        const cnas_plugin_desc *d = cnas_registry_plugin(reg, i, &path);
        printf("%s %s (ABI %u.%u, %s)\n  %s\n  %s\n", d->name, d->version, d->abi_major,
               d->abi_minor, d->license ? d->license : "no license given",
               d->description ? d->description : "", path);
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            int first = 1;
            for (uint32_t c = 0; c < d->n_components; c++)
                if (d->components[c].kind == kinds[k]) {
                    printf("%s%s", first ? "  " : ", ", first ? "" : "");
                    if (first)
                        printf("%s: ", cnas_kind_str(kinds[k]));
                    printf("%s", d->components[c].name);
                    first = 0;
                }
            if (!first)
                printf("\n");
        }
    }
    cnas_registry_free(reg);
    return EXIT_OK;
}

int cmd_describe(const host_options *o)
{
    cnas_error err;
    cnas_registry *reg = cnas_registry_new(&err);
    if (!reg || host_load_plugins(reg, o, NULL, NULL, &err)) {
        cnas_registry_free(reg);
        return fail("describe", &err);
    }
    const char *name = o->args[0];
    const cnas_component *c = NULL;
    const cnas_plugin_desc *p = NULL;
    static const cnas_kind kinds[] = {CNAS_KIND_STRATEGY, CNAS_KIND_SPACE, CNAS_KIND_DATASET,
                                      CNAS_KIND_OP};
    cnas_error first = {0};
    for (size_t k = 0; k < 4 && !c; k++) {
        cnas_error e;
        c = cnas_registry_find(reg, kinds[k], name, &p, &e);
        if (!c && (e.code != CNAS_ERR_CONFIG || strstr(e.msg, "ambiguous")) && !first.code)
            first = e;
    }
    if (!c) {
        if (!first.code)
            cnas_error_set(&first, CNAS_ERR_CONFIG, "no component named '%s' (see cnas plugins)", name);
        cnas_registry_free(reg);
        return fail("describe", &first);
    }
    printf("%s/%s (%s) — %s\n", p->name, c->name, cnas_kind_str(c->kind),
           c->description ? c->description : "");
    if (c->n_params == 0)
        printf("  no keys\n");
    for (uint32_t i = 0; i < c->n_params; i++) {
        const cnas_param_spec *s = &c->params[i];
        printf("  %-24s %-8s default %s", s->key, type_name(s->type),
               s->default_value ? (s->default_value[0] ? s->default_value : "\"\"") : "(required)");
        if (s->has_range)
            printf(", range [%g, %g]", s->min, s->max);
        if (s->type == CNAS_PARAM_CHOICE && s->choices)
            printf(", one of %s", s->choices);
        printf("\n      %s\n", s->help ? s->help : "");
    }
    cnas_registry_free(reg);
    return EXIT_OK;
}

int cmd_check(const host_options *o)
{
    cnas_error err;
    session s;
    if (session_open(&s, o->args[0], o, false, &err)) {
        session_close(&s);
        return fail("check", &err);
    }
    printf("%s: configuration OK: dataset %s/%s", o->args[0], s.dataset_p->name, s.dataset_c->name);
    if (s.space_c)
        printf(", space %s/%s", s.space_p->name, s.space_c->name);
    if (s.strategy_c)
        printf(", strategy %s/%s", s.strategy_p->name, s.strategy_c->name);
    printf("\n");
    session_close(&s);
    return EXIT_OK;
}
