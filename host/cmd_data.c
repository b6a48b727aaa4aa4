/* cnas data: what the configured dataset holds. */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>

#include "data_open.h"

int cmd_data(const host_options *o)
{
    cnas_error err;
    session s;
    opened_data od = {0};
    int code = EXIT_OK;
    if (session_open(&s, o->args[0], o, false, &err) || open_data(&s, &od, false, &err)) {
        host_print_error("data", &err);
        code = host_exit_code(err.code);
    } else if (cnas_data_summary(od.data, stdout, &err)) {
        host_print_error("data", &err);
        code = host_exit_code(err.code);
    } else if (o->grid_file) {
        if (cnas_data_write_grid_png(od.data, o->grid_file, 8, &err)) {
            host_print_error("data", &err);
            code = host_exit_code(err.code);
        } else {
            printf("wrote %s (8 training samples per class, one row per class)\n", o->grid_file);
        }
    }
    close_data(&od);
    session_close(&s);
    return code;
}
