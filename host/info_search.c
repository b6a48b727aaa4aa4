/* cnas info CONFIG without --arch: what the configured search costs before it runs — the
 * supernet's parameters (every candidate) and the memory the search needs, with the
 * strategy's own memory model (ABI 1.3, memcheck.c) — the numbers `cnas search` checks
 * against the machine, printed instead of acted on. */
#include "host.h"

#include <math.h>
#include <stdio.h>

int host_info_search(const session *s, const host_options *o, const int dims[4])
{
    cnas_error err = {0};
    const char *strategy = s->strategy_c ? s->strategy_c->name : NULL;
    if (!strategy) {
        cnas_error_set(&err, CNAS_ERR_CONFIG, "%s: no [strategy] section: describe an "
                       "architecture with --arch FILE, or name a strategy to describe the "
                       "search", cnas_ini_name(s->ini));
        host_print_error("info", &err);
        return EXIT_USAGE;
    }
    host_mem_estimate e;
    cnas_status st = host_memory_estimate(s, CNAS_RUN_SEARCH, NULL, dims, INFINITY, &e, &err);
    if (st) {
        host_print_error("info", &err);
        return host_exit_code(st);
    }
    double total, available, need = e.param_bytes + e.activation_bytes;
    host_machine_memory(&total, &available);
    if (o->json) {
        printf("{\n  \"config\": ");
        host_json_string(stdout, o->args[0]);
        printf(",\n  \"space\": ");
        host_json_string(stdout, s->space_c->name);
        printf(",\n  \"strategy\": ");
        host_json_string(stdout, strategy);
        printf(",\n  \"input\": {\"channels\": %d, \"height\": %d, \"width\": %d, \"classes\": "
               "%d},\n", dims[0], dims[1], dims[2], dims[3]);
        printf("  \"supernet_params\": %.0f,\n", e.params);
        printf("  \"memory\": {\"batch_size\": %d, \"eval_batch_size\": %d, \"single_path\": %s, "
               "\"supernets\": %g, \"weight_copies\": %g, \"param_bytes\": %.0f, "
               "\"activation_bytes\": %.0f, \"total_bytes\": %.0f, \"machine_bytes\": %.0f, "
               "\"available_bytes\": %.0f}\n}\n", e.batch, e.eval_batch,
               e.single_path ? "true" : "false", e.supernets, e.weight_copies, e.param_bytes,
               e.activation_bytes, need, total, available);
        return EXIT_OK;
    }
    char what[640], need_s[32], tot_s[32], av_s[32], count[32];
    host_memory_describe(&e, what, sizeof what);
    host_format_bytes(need, need_s, sizeof need_s);
    host_format_bytes(total, tot_s, sizeof tot_s);
    host_format_bytes(available, av_s, sizeof av_s);
    host_format_count(e.params, count, sizeof count);
    printf("search: strategy %s over space %s; input %d x %d x %d, %d classes\n", strategy,
           s->space_c->name, dims[0], dims[1], dims[2], dims[3]);
    printf("supernet: %s parameters (every candidate)\n", count);
    printf("search memory: about %s (%s); this machine: %s, %s available\n", need_s, what, tot_s,
           av_s);
    return EXIT_OK;
}
