/* cnas info CONFIG --arch FILE: what an architecture of the configured space costs as
 * the network `cnas train` would build ([space] overlaid by [network]): its parameters
 * (as the space counts them, and with every trainable tensor, e.g. an auxiliary head),
 * multiply-adds per image, the cost of the operations chosen in each cell (the space's
 * candidate_cost, summed over the choice points of each cell), the rest of the network
 * as one line, the memory a training run of it needs, and its drawings (--out DIR).
 * The input shape comes from the dataset, or from --input C,H,W and --classes K, which
 * spare opening it (CIFAR-10 need not be on the machine to count DARTS's parameters). */
#include "host.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

extern char **environ;

typedef struct cell_cost {
    int points, chosen;
    int64_t params, flops;
} cell_cost;

typedef struct group {
    char name[96];
    int64_t params;
} group;

/* "3,32,32" or "3x32x32": three positive integers. */
static bool parse_dims(const char *text, int out[3])
{
    const char *p = text;
    for (int i = 0; i < 3; i++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 65536)
            return false;
        out[i] = (int)v;
        p = end;
        if (i < 2) {
            if (*p != ',' && *p != 'x')
                return false;
            p++;
        }
    }
    return *p == '\0';
}

static char *read_stream(FILE *f)
{
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (n + 1 == cap) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                return NULL;
            }
            buf = b;
            cap *= 2;
        }
    }
    if (!buf)
        return NULL;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return buf;
}

/* 3349342 -> "3,349,342" */
static const char *grouped(int64_t v, char *buf, size_t n)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v));
    size_t len = strlen(digits), o = 0;
    if (v < 0 && o + 1 < n)
        buf[o++] = '-';
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* Tensor names grouped as the space names them: "stem.conv.weight" -> "stem",
 * "cells.3.pre0.w" -> "cells.3". */
static void group_name(const char *name, char *out, size_t n)
{
    const char *dot = strchr(name, '.');
    size_t len = dot ? (size_t)(dot - name) : strlen(name);
    if (dot) {
        const char *q = dot + 1;
        while (*q >= '0' && *q <= '9')
            q++;
        if (q > dot + 1 && (*q == '.' || *q == '\0'))
            len = (size_t)(q - name);
    }
    snprintf(out, n, "%.*s", (int)len, name);
}

static void render_dot(const char *dot_path, const char *format)
{
    char out[4200], fmt_arg[16];
    snprintf(out, sizeof out, "%.*s.%s", (int)(strlen(dot_path) - 4), dot_path, format);
    snprintf(fmt_arg, sizeof fmt_arg, "-T%s", format);
    char *argv[] = {"dot", fmt_arg, (char *)dot_path, "-o", out, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    if (posix_spawnp(&pid, "dot", &fa, NULL, argv, environ) == 0) {
        int status;
        waitpid(pid, &status, 0);
    }
    posix_spawn_file_actions_destroy(&fa);
}

/* The .dot files the space just wrote into dir (newer than `since`), rendered with
 * Graphviz when it is installed. */
static int list_drawings(const char *dir, time_t since, char (*names)[4200], int max)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        size_t len = strlen(e->d_name);
        if (len < 5 || e->d_name[0] == '.' || strcmp(e->d_name + len - 4, ".dot") != 0)
            continue;
        struct stat sb;
        snprintf(names[n], sizeof names[n], "%s/%s", dir, e->d_name);
        if (stat(names[n], &sb) == 0 && sb.st_mtime >= since)
            n++;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* sorted, for stable output */
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[4200];
            memcpy(t, names[j], sizeof t);
            memcpy(names[j], names[j - 1], sizeof t);
            memcpy(names[j - 1], t, sizeof t);
        }
    for (int i = 0; i < n; i++) {
        render_dot(names[i], "png");
        render_dot(names[i], "svg");
    }
    return n;
}

int cmd_info(const host_options *o)
{
    cnas_error err = {0};
    session s;
    const char *cmd = "info";
    /* With --arch, the network `cnas train` would build ([network], [retrain]); without,
     * the search as `cnas search` runs it. */
    cnas_status st = session_open(&s, o->args[0], o, o->arch_file != NULL, &err);
    char *text = NULL;
    void *sup = NULL, *net = NULL;
    cnas_arch *arch = NULL;
    cell_cost *cells = NULL;
    group *groups = NULL;
    cnas_named_tensor *tens = NULL;
    int n_cells = 0, n_groups = 0;
    char formatted[8192] = "";
    const char *arch_name = o->arch_file ? (strcmp(o->arch_file, "-") == 0 ? "stdin" : o->arch_file)
                                         : NULL;
    if (!st && !s.space_c)
        st = cnas_error_set(&err, CNAS_ERR_CONFIG, "%s: cnas info needs a [space] section",
                            cnas_ini_name(s.ini));

    /* The input: --input / --classes, else the dataset's description. */
    int dims[4] = {0, 0, 0, 0}; /* channels, height, width, classes */
    bool from_dataset = !o->input || !o->classes;
    if (!st && o->input && !parse_dims(o->input, dims))
        st = cnas_error_set(&err, CNAS_ERR_CONFIG, "--input '%s': expected C,H,W (three positive "
                            "integers, e.g. 3,32,32)", o->input);
    if (!st && o->classes) {
        char *end;
        long k = strtol(o->classes, &end, 10);
        if (end == o->classes || *end || k < 1 || k > 1000000)
            st = cnas_error_set(&err, CNAS_ERR_CONFIG, "--classes '%s': expected a positive "
                                "integer", o->classes);
        dims[3] = (int)k;
    }
    if (!st && from_dataset) {
        const cnas_dataset_vtable *dvt = s.dataset_c->vtable;
        void *ds = NULL;
        cnas_dataset_info in = {.size = sizeof in};
        st = dvt->open(s.dataset, &ds, &err);
        if (!st)
            st = dvt->info(ds, &in, &err);
        if (ds)
            dvt->close(ds);
        if (st) {
            cnas_error_prefix(&err, "dataset %s", s.dataset_c->name);
            size_t used = strlen(err.msg);
            snprintf(err.msg + used, sizeof err.msg - used, " (--input C,H,W --classes K describe "
                     "the input without the dataset)");
        } else {
            if (!o->input) {
                dims[0] = in.channels;
                dims[1] = in.height;
                dims[2] = in.width;
            }
            if (!o->classes)
                dims[3] = in.num_classes;
        }
    }

    /* Without an architecture: the search the configuration describes. */
    if (!st && !o->arch_file) {
        int code = host_info_search(&s, o, dims);
        session_close(&s);
        return code;
    }
    /* The architecture, parsed by a supernet of the space (its notation). */
    if (!st) {
        if (strcmp(o->arch_file, "-") == 0) {
            if (!(text = read_stream(stdin)))
                st = cnas_error_set(&err, CNAS_ERR_IO, "cannot read the architecture from stdin");
        } else if (!(text = host_read_text(o->arch_file, &err))) {
            st = err.code;
        }
    }
    const cnas_space_vtable *vt = st ? NULL : s.space_c->vtable;
    cnas_op_factory ops;
    cnas_rng rng;
    cnas_space_create_args ca;
    if (!st && (!CNAS_VT_HAS(vt, choice_points) || !CNAS_VT_HAS(vt, parse)))
        st = cnas_error_set(&err, CNAS_ERR_PLUGIN, "space '%s' cannot read architectures (it has "
                            "no '%s')", s.space_c->name,
                            CNAS_VT_HAS(vt, parse) ? "choice_points" : "parse");
    if (!st) {
        ops = cnas_registry_op_factory(s.reg);
        cnas_rng_init(&rng, 0, "info");
        ca = (cnas_space_create_args){sizeof ca, s.space, dims[0], dims[1], dims[2], dims[3],
                                      &ops, &rng, CNAS_SPACE_SUPERNET, NULL};
        st = vt->create(&ca, &sup, &err);
    }
    const cnas_choice_point *pts = NULL;
    int n_points = 0;
    if (!st) {
        n_points = vt->choice_points(sup, &pts);
        if (!(arch = cnas_arch_new(n_points, &err)))
            st = err.code;
        else if ((st = vt->parse(sup, text, arch, &err)))
            cnas_error_prefix(&err, "%s", arch_name);
    }
    if (!st && CNAS_VT_HAS(vt, format) && vt->format(sup, arch, formatted, sizeof formatted, &err))
        snprintf(formatted, sizeof formatted, "%s", text);
    /* Per cell: the chosen candidates of its choice points, costed where they stand. */
    bool per_cell = !st && CNAS_VT_HAS(vt, candidate_cost);
    for (int p = 0; per_cell && p < n_points; p++)
        n_cells = pts[p].instance + 1 > n_cells ? pts[p].instance + 1 : n_cells;
    if (per_cell && !(cells = calloc((size_t)(n_cells ? n_cells : 1), sizeof *cells)))
        st = cnas_error_set(&err, CNAS_ERR_NOMEM, "out of memory");
    for (int p = 0; per_cell && !st && p < n_points; p++) {
        if (pts[p].instance < 0)
            continue;
        cell_cost *c = &cells[pts[p].instance];
        c->points++;
        for (int k = 0; k < pts[p].n_candidates && k < CNAS_ARCH_MAX_CANDIDATES; k++) {
            if (!(arch->mask[p] >> k & 1))
                continue;
            int64_t f = 0, q = 0;
            cnas_error ce;
            if (vt->candidate_cost(sup, p, k, &f, &q, &ce)) {
                cnas_log(2, "no per-cell costs: %s", ce.msg);
                per_cell = false;
                break;
            }
            c->chosen++;
            c->params += q;
            c->flops += f;
        }
    }
    if (sup) {
        vt->destroy(sup); /* before the network: one of them at a time */
        sup = NULL;
    }

    /* The network: its cost and its tensors. */
    int64_t flops = -1, params = -1, all_params = 0;
    if (!st) {
        ca.build = CNAS_SPACE_NETWORK;
        ca.arch = arch;
        st = vt->create(&ca, &net, &err);
    }
    if (!st && CNAS_VT_HAS(vt, cost))
        st = vt->cost(net, NULL, &flops, &params, &err);
    if (!st) {
        int n = vt->tensors(net, NULL, 0);
        tens = calloc((size_t)(n > 0 ? n : 1), sizeof *tens);
        groups = calloc((size_t)(n > 0 ? n : 1), sizeof *groups);
        if (!tens || !groups)
            st = cnas_error_set(&err, CNAS_ERR_NOMEM, "out of memory");
        n = st ? 0 : vt->tensors(net, tens, n);
        for (int i = 0; i < n; i++) {
            if (tens[i].role != CNAS_ROLE_PARAM || !tens[i].tensor)
                continue;
            all_params += tens[i].tensor->numel;
            char g[96];
            group_name(tens[i].name ? tens[i].name : "?", g, sizeof g);
            int k = 0;
            while (k < n_groups && strcmp(groups[k].name, g) != 0)
                k++;
            if (k == n_groups)
                snprintf(groups[n_groups++].name, sizeof groups[0].name, "%s", g);
            groups[k].params += tens[i].tensor->numel;
        }
        if (params < 0)
            params = all_params;
    }
    /* Drawings. */
    char (*drawings)[4200] = NULL;
    int n_drawings = 0;
    if (!st && o->out_dir) {
        int nf = 0;
        time_t since = time(NULL) - 1;
        if (!CNAS_VT_HAS(vt, write_dot))
            cnas_log(1, "space '%s' has no drawings (no 'write_dot')", s.space_c->name);
        else if (!(st = host_mkdirs(o->out_dir, &err)) &&
                 !(st = vt->write_dot(net, arch, o->out_dir, &nf, &err)) &&
                 (drawings = calloc(64, sizeof *drawings)))
            n_drawings = list_drawings(o->out_dir, since, drawings, 64);
    }
    if (net) {
        vt->destroy(net);
        net = NULL;
    }
    /* Training memory, measured on small instances (memcheck.c). */
    host_mem_estimate mem;
    bool have_mem = false;
    double total = 0, available = 0;
    if (!st) {
        cnas_error me;
        have_mem = host_memory_estimate(&s, CNAS_RUN_TRAIN, arch, dims, INFINITY, &mem, &me) ==
                   CNAS_OK;
        if (!have_mem)
            cnas_log(2, "no memory estimate: %s", me.msg);
        host_machine_memory(&total, &available);
    }

    int code = EXIT_OK;
    int64_t cell_params = 0, cell_flops = 0;
    for (int i = 0; per_cell && i < n_cells; i++) {
        cell_params += cells[i].params;
        cell_flops += cells[i].flops;
    }
    if (st) {
        host_print_error(cmd, &err);
        code = host_exit_code(st);
    } else if (o->json) {
        FILE *f = stdout;
        fprintf(f, "{\n  \"config\": ");
        host_json_string(f, o->args[0]);
        fprintf(f, ",\n  \"space\": ");
        host_json_string(f, s.space_c->name);
        fprintf(f, ",\n  \"arch_file\": ");
        host_json_string(f, arch_name);
        fprintf(f, ",\n  \"arch\": ");
        host_json_string(f, formatted);
        fprintf(f, ",\n  \"input\": {\"channels\": %d, \"height\": %d, \"width\": %d, "
                   "\"classes\": %d, \"from\": \"%s\"},\n", dims[0], dims[1], dims[2], dims[3],
                from_dataset ? "dataset" : "options");
        fprintf(f, "  \"params\": %lld,\n  \"params_all\": %lld,\n", (long long)params,
                (long long)all_params);
        if (flops >= 0)
            fprintf(f, "  \"multiply_adds\": %lld,\n", (long long)flops);
        else
            fprintf(f, "  \"multiply_adds\": null,\n");
        fprintf(f, "  \"cells\": [");
        for (int i = 0; per_cell && i < n_cells; i++)
            fprintf(f, "%s\n    {\"cell\": %d, \"choice_points\": %d, \"chosen\": %d, \"params\": "
                    "%lld, \"multiply_adds\": %lld}", i ? "," : "", i, cells[i].points,
                    cells[i].chosen, (long long)cells[i].params, (long long)cells[i].flops);
        fprintf(f, "%s],\n", per_cell && n_cells ? "\n  " : "");
        if (per_cell && flops >= 0)
            fprintf(f, "  \"outside_choice_points\": {\"params\": %lld, \"multiply_adds\": %lld},\n",
                    (long long)(params - cell_params), (long long)(flops - cell_flops));
        fprintf(f, "  \"tensor_groups\": [");
        for (int i = 0; i < n_groups; i++) {
            fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
            host_json_string(f, groups[i].name);
            fprintf(f, ", \"params\": %lld}", (long long)groups[i].params);
        }
        fprintf(f, "%s],\n", n_groups ? "\n  " : "");
        if (have_mem)
            fprintf(f, "  \"memory\": {\"batch_size\": %d, \"eval_batch_size\": %d, "
                       "\"param_bytes\": %.0f, \"activation_bytes\": %.0f, \"total_bytes\": %.0f, "
                       "\"machine_bytes\": %.0f, \"available_bytes\": %.0f},\n",
                    mem.batch, mem.eval_batch, mem.param_bytes, mem.activation_bytes,
                    mem.param_bytes + mem.activation_bytes, total, available);
        else
            fprintf(f, "  \"memory\": null,\n");
        fprintf(f, "  \"drawings\": [");
        for (int i = 0; i < n_drawings; i++) {
            fprintf(f, "%s", i ? ", " : "");
            host_json_string(f, drawings[i]);
        }
        fprintf(f, "]\n}\n");
    } else {
        char a[32], b[32];
        printf("%s: space %s, input %dx%dx%d, %d classes%s\n", o->args[0], s.space_c->name,
               dims[0], dims[1], dims[2], dims[3],
               from_dataset ? "" : " (from --input/--classes)");
        printf("architecture (%s): %s\n", arch_name, formatted);
        printf("parameters: %s (%.2f M)%s\n", grouped(params, a, sizeof a), (double)params / 1e6,
               all_params != params ? "; the space's count, which leaves out the auxiliary head"
                                    : "");
        if (all_params != params)
            printf("parameters of every trainable tensor: %s (%.2f M)\n",
                   grouped(all_params, b, sizeof b), (double)all_params / 1e6);
        if (flops >= 0)
            printf("multiply-adds per image: %s (%.1f M)\n", grouped(flops, a, sizeof a),
                   (double)flops / 1e6);
        if (per_cell) {
            printf("per cell: the operations chosen at its choice points, as the space costs "
                   "them (candidate_cost)\n");
            printf("  %5s %7s %7s %13s %16s\n", "cell", "points", "chosen", "parameters",
                   "multiply-adds");
            for (int i = 0; i < n_cells; i++)
                printf("  %5d %7d %7d %13s %16s\n", i, cells[i].points, cells[i].chosen,
                       grouped(cells[i].params, a, sizeof a), grouped(cells[i].flops, b, sizeof b));
            if (flops >= 0)
                printf("  outside the choice points (stem, cell inputs, classifier, ...): %s "
                       "parameters, %s multiply-adds\n", grouped(params - cell_params, a, sizeof a),
                       grouped(flops - cell_flops, b, sizeof b));
        } else {
            printf("per cell: not available (space '%s' has no candidate_cost)\n", s.space_c->name);
        }
        if (o->verbosity > 0) {
            printf("parameters by tensor name:\n");
            for (int i = 0; i < n_groups; i++)
                printf("  %-24s %13s\n", groups[i].name, grouped(groups[i].params, a, sizeof a));
        }
        if (have_mem) {
            char need[32], par[32], act[32], tot[32], av[32];
            host_format_bytes(mem.param_bytes + mem.activation_bytes, need, sizeof need);
            host_format_bytes(mem.param_bytes, par, sizeof par);
            host_format_bytes(mem.activation_bytes, act, sizeof act);
            host_format_bytes(total, tot, sizeof tot);
            host_format_bytes(available, av, sizeof av);
            printf("training memory: about %s (weights, gradients, momentum %s; activations %s: "
                   "a step at batch %d and an evaluation pass at %d); this machine: %s, %s "
                   "available\n", need, par, act, mem.batch, mem.eval_batch, tot, av);
        }
        for (int i = 0; i < n_drawings; i++)
            printf("%s %s\n", i ? "         " : "drawings:", drawings[i]);
    }
    free(drawings);
    free(tens);
    free(groups);
    free(cells);
    cnas_arch_free(arch);
    free(text);
    session_close(&s);
    return code;
}
