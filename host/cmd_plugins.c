/* cnas plugins: every plugin on the search path with its components by kind. */
#include "host.h"

#include <stdio.h>

int cmd_plugins(const host_options *o)
{
    cnas_error err;
    cnas_registry *reg = cnas_registry_new(&err);
    if (!reg) {
        host_print_error("plugins", &err);
        return host_exit_code(err.code);
    }
    /* List what loaded even when some plugin was rejected; the rejections follow on
     * stderr and make the exit status 2. */
    cnas_status st = host_load_plugins(reg, o, NULL, NULL, &err);
    int n = cnas_registry_plugin_count(reg);
    if (n == 0 && !st)
        printf("no plugins found (search path: --plugin-path, CNAS_PLUGIN_PATH, the built-in "
               "directory)\n");
    static const cnas_kind kinds[] = {CNAS_KIND_DATASET, CNAS_KIND_OP, CNAS_KIND_SPACE,
                                      CNAS_KIND_STRATEGY, CNAS_KIND_GENERATOR};
    for (int i = 0; i < n; i++) {
        const char *path;
        const cnas_plugin_desc *d = cnas_registry_plugin(reg, i, &path);
        printf("%s %s (ABI %u.%u, %s)\n", d->name, d->version, d->abi_major, d->abi_minor,
               d->license && *d->license ? d->license : "no license given");
        if (d->description && *d->description)
            printf("  %s\n", d->description);
        printf("  %s\n", path);
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            int count = 0;
            for (uint32_t c = 0; c < d->n_components; c++) {
                if (d->components[c].kind != kinds[k])
                    continue;
                if (count++ == 0)
                    printf("  %s: %s", cnas_kind_str(kinds[k]), d->components[c].name);
                else
                    printf(", %s", d->components[c].name);
            }
            if (count)
                printf("\n");
        }
    }
    cnas_registry_free(reg);
    if (st) {
        host_print_error("plugins", &err);
        return host_exit_code(st);
    }
    return EXIT_OK;
}
