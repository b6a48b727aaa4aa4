/* Loading built plugins in tests the way the host does, and resolving keys. */
#ifndef CNAS_PLUGIN_FIXTURE_H
#define CNAS_PLUGIN_FIXTURE_H

#include <dlfcn.h>
#include <string.h>

#include "testutil.h"

/* dlopen the plugin named by environment variable `var` and return its descriptor. */
static inline const cnas_plugin_desc *pf_load(const char *var)
{
    const char *path = getenv(var);
    ck_assert_msg(path != NULL, "environment variable %s is not set", var);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen %s: %s", path, dlerror());
    cnas_plugin_entry_fn entry = (cnas_plugin_entry_fn)dlsym(h, CNAS_PLUGIN_ENTRY_SYMBOL);
    ck_assert_msg(entry != NULL, "%s: no entry symbol", path);
    return entry();
}

static inline const cnas_component *pf_component(const cnas_plugin_desc *d, cnas_kind kind,
                                                 const char *name)
{
    for (uint32_t i = 0; i < d->n_components; i++)
        if (d->components[i].kind == kind && strcmp(d->components[i].name, name) == 0)
            return &d->components[i];
    ck_abort_msg("plugin %s has no %s component '%s'", d->name, cnas_kind_str(kind), name);
    return NULL;
}

/* Keys of component c with n overrides "key=value". */
static inline cnas_params *pf_params(const cnas_component *c, int n, const char *const *kv)
{
    const char *keys[32], *values[32];
    char buf[32][128];
    ck_assert_int_le(n, 32);
    for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof buf[i], "%s", kv[i]);
        char *eq = strchr(buf[i], '=');
        ck_assert_ptr_nonnull(eq);
        *eq = '\0';
        keys[i] = buf[i];
        values[i] = eq + 1;
    }
    cnas_params *p = NULL;
    cnas_error err;
    ck_assert_msg(cnas_params_resolve(c->params, (int)c->n_params, c->name, keys, values, n, &p,
                                      &err) == CNAS_OK, "%s", err.msg);
    return p;
}

#endif
