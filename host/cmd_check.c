/* cnas check CONFIG: validate a configuration, its includes, overrides and plugins
 * without running anything. */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_check(const host_options *o)
{
    cnas_error err;
    session s;
    if (session_open(&s, o->args[0], o, false, &err)) {
        session_close(&s);
        host_print_error("check", &err);
        return host_exit_code(err.code);
    }
    printf("%s: configuration OK: dataset %s/%s", o->args[0], s.dataset_p->name, s.dataset_c->name);
    if (s.space_c)
        printf(", space %s/%s", s.space_p->name, s.space_c->name);
    if (s.strategy_c)
        printf(", strategy %s/%s", s.strategy_p->name, s.strategy_c->name);
    printf("\n");
    if (o->verbosity > 0) {
        char *text = session_config_text(&s, true);
        if (text)
            fputs(text, stdout);
        free(text);
    }
    session_close(&s);
    return EXIT_OK;
}
