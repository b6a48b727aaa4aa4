/* INI composition: the input is up to three files and override lines, separated by
 * lines "--". The first file is loaded (it may include a.ini and b.ini, which may include
 * each other), then each further part is a --set assignment. */
#include "fuzz_util.h"

#include <cnas/config.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    const char *names[3] = {"main.ini", "a.ini", "b.ini"};
    char path[3][128];
    char *parts[16];
    int n = 0;
    char *p = text;
    while (n < 16) {
        parts[n++] = p;
        char *sep = strstr(p, "\n--\n");
        if (!sep)
            break;
        *sep = '\0';
        p = sep + 4;
    }
    for (int i = 0; i < 3; i++) {
        snprintf(path[i], sizeof path[i], "%s/%s", fz_dir(), names[i]);
        const char *body = i < n ? parts[i] : "";
        fz_write(path[i], body, strlen(body));
    }
    cnas_error err;
    cnas_ini *ini = cnas_ini_load(path[0], &err);
    if (ini) {
        for (int i = 3; i < n; i++)
            cnas_ini_override(ini, parts[i], &err);
        cnas_ini_check_sections(ini, &err);
        const char *secs[] = {"run", "train", "space", "dataset", "strategy", "checkpoint"};
        for (size_t i = 0; i < sizeof secs / sizeof *secs; i++) {
            cnas_ini_has_section(ini, secs[i]);
            cnas_ini_get(ini, secs[i], "use");
            cnas_ini_origin(ini, secs[i], "use");
        }
        cnas_ini_name(ini);
        cnas_ini_free(ini);
    }
    free(text);
    return 0;
}
