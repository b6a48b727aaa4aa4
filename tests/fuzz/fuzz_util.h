/* Shared by the libFuzzer harnesses: temporary files and component parameters. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <cnas/config.h>
#include <cnas/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A private directory for the process, made once. */
static const char *fz_dir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/cnas-fuzz-XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    return dir;
}

static void fz_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (n && fwrite(data, 1, n, f) != n)
        abort();
    fclose(f);
}

/* Component c's parameters with "key=value" overrides; aborts on error (a harness bug). */
static cnas_params *fz_params(const cnas_component *c, int n, const char *const *kv)
{
    const char *keys[16], *values[16];
    char buf[16][256];
    for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof buf[i], "%s", kv[i]);
        char *eq = strchr(buf[i], '=');
        *eq = '\0';
        keys[i] = buf[i];
        values[i] = eq + 1;
    }
    cnas_params *p = NULL;
    cnas_error err;
    if (cnas_params_resolve(c->params, (int)c->n_params, c->name, keys, values, n, &p, &err)) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    return p;
}

#endif
