/* cnas standalone: train every architecture of a (small) space from scratch with the
 * retraining recipe ([network] over [space], [retrain] over [train]) and write their
 * test accuracies: the ground truth a supernet's ranking is measured against (see
 * cnas correlate). Each architecture is an ordinary training run in its own
 * sub-directory (000, 001, ...), so it checkpoints and resumes like any other; a
 * finished one leaves result.txt and is never trained again, and standalone.csv is
 * rewritten (atomically) after each. `cnas resume DIR` continues where it stopped. */
#include "host.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "data_open.h"

typedef struct entry {
    int64_t index;
    char text[512];
    int64_t flops, params;
    bool done;
    double acc, seconds;
} entry;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* "3,5-7,12" → a sorted list of distinct indices below count. */
static cnas_status parse_only(const char *list, int64_t count, int64_t **out, int64_t *n,
                              cnas_error *err)
{
    bool *take = calloc((size_t)count, sizeof *take);
    if (!take)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "out of memory");
    const char *p = list;
    while (*p) {
        char *end;
        long long a = strtoll(p, &end, 10), b = a;
        if (end == p)
            goto bad;
        if (*end == '-') {
            p = end + 1;
            b = strtoll(p, &end, 10);
            if (end == p)
                goto bad;
        }
        if (a < 0 || b < a || b >= count) {
            free(take);
            if (a == b)
                return cnas_error_set(err, CNAS_ERR_CONFIG, "--only '%s': index %lld is outside 0..%lld",
                                      list, a, (long long)count - 1);
            return cnas_error_set(err, CNAS_ERR_CONFIG, "--only '%s': %lld-%lld is not a range "
                                  "within 0..%lld", list, a, b, (long long)count - 1);
        }
        for (long long i = a; i <= b; i++)
            take[i] = true;
        if (*end != ',' && *end != '\0')
            goto bad;
        p = *end ? end + 1 : end;
    }
    *n = 0;
    *out = malloc((size_t)count * sizeof **out);
    if (!*out) {
        free(take);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < count; i++)
        if (take[i])
            (*out)[(*n)++] = i;
    free(take);
    return *n ? CNAS_OK : cnas_error_set(err, CNAS_ERR_CONFIG, "--only '%s' selects nothing", list);
bad:
    free(take);
    return cnas_error_set(err, CNAS_ERR_CONFIG, "--only '%s': expected indices and ranges such as "
                          "0,3,5-9", list);
}

/* The architectures to train: enumerated by a supernet of the configured space. */
static cnas_status list_entries(const session *s, const char *only, entry **out, int64_t *n,
                                cnas_error *err)
{
    opened_data od = {0};
    cnas_status st = open_data(s, &od, true, err);
    if (st)
        return st;
    const cnas_space_vtable *vt = s->space_c->vtable;
    /* Optional members of a space, all needed here. */
    static const char *const needs[] = {"choice_points", "enumerate_count", "enumerate", "format",
                                        "cost"};
    const bool has[] = {CNAS_VT_HAS(vt, choice_points), CNAS_VT_HAS(vt, enumerate_count),
                        CNAS_VT_HAS(vt, enumerate), CNAS_VT_HAS(vt, format), CNAS_VT_HAS(vt, cost)};
    for (size_t i = 0; i < sizeof has / sizeof has[0]; i++)
        if (!has[i]) {
            close_data(&od);
            return cnas_error_set(err, CNAS_ERR_CONFIG, "[space] use = %s: the space cannot list "
                                  "its architectures (it has no '%s')", s->space_c->name, needs[i]);
        }
    const cnas_dataset_info *in = cnas_data_info(od.data);
    cnas_op_factory ops = cnas_registry_op_factory(s->reg);
    cnas_rng rng;
    cnas_rng_init(&rng, 0, "enumerate");
    cnas_space_create_args a = {sizeof a, s->space, in->channels, in->height, in->width,
                                in->num_classes, &ops, &rng, CNAS_SPACE_SUPERNET, NULL};
    void *sup = NULL;
    cnas_arch *arch = NULL;
    int64_t *idx = NULL, count = 0;
    *out = NULL;
    if ((st = vt->create(&a, &sup, err)))
        goto done;
    const cnas_choice_point *pts;
    if (!(arch = cnas_arch_new(vt->choice_points(sup, &pts), err))) {
        st = err->code;
        goto done;
    }
    count = vt->enumerate_count(sup);
    if (count < 1) {
        st = cnas_error_set(err, CNAS_ERR_CONFIG, "[space] use = %s: the space cannot list its "
                            "architectures (too many to train each)", s->space_c->name);
        goto done;
    }
    if (only) {
        if ((st = parse_only(only, count, &idx, n, err)))
            goto done;
    } else {
        *n = count;
    }
    if (!(*out = calloc((size_t)*n, sizeof **out))) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t k = 0; k < *n && !st; k++) {
        entry *e = &(*out)[k];
        e->index = idx ? idx[k] : k;
        st = vt->enumerate(sup, e->index, arch, err);
        if (!st)
            st = vt->format(sup, arch, e->text, sizeof e->text, err);
        if (!st)
            st = vt->cost(sup, arch, &e->flops, &e->params, err);
    }
done:
    if (st) {
        free(*out);
        *out = NULL;
    }
    free(idx);
    cnas_arch_free(arch);
    if (sup)
        vt->destroy(sup);
    close_data(&od);
    return st;
}

static void csv_field(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* standalone.csv, finished architectures only, written to a temporary file first. */
static cnas_status write_table(const char *dir, const entry *e, int64_t n, cnas_error *err)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/standalone.csv", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, "index,arch,test_acc,flops,params,seconds\n");
    for (int64_t k = 0; k < n; k++) {
        if (!e[k].done)
            continue;
        fprintf(f, "%lld,", (long long)e[k].index);
        csv_field(f, e[k].text);
        fprintf(f, ",%.6f,%lld,%lld,%.1f\n", e[k].acc, (long long)e[k].flops,
                (long long)e[k].params, e[k].seconds);
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return CNAS_OK;
}

static bool read_result(const char *sub, entry *e)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/result.txt", sub);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fscanf(f, "%lf %lf", &e->acc, &e->seconds) == 2;
    fclose(f);
    return ok;
}

int host_standalone(const host_options *o, const char *config_path, const char *resume_dir)
{
    cnas_error err = {0};
    session s;
    char dir[4096], cfg[4200];
    char *only = NULL;
    entry *e = NULL;
    int64_t n = 0;
    const char *cmd = resume_dir ? "resume" : "standalone";
    cnas_status st;
    if (resume_dir) {
        snprintf(dir, sizeof dir, "%s", resume_dir);
        snprintf(cfg, sizeof cfg, "%s/config.ini", dir);
        char path[4200];
        snprintf(path, sizeof path, "%s/only.txt", dir);
        if (exists(path) && !(only = host_read_text(path, &err))) {
            host_print_error(cmd, &err);
            return EXIT_USAGE;
        }
        st = session_open(&s, cfg, o, true, &err);
    } else {
        st = session_open(&s, config_path, o, true, &err);
        if (o->only && !(only = strdup(o->only)))
            st = cnas_error_set(&err, CNAS_ERR_NOMEM, "out of memory");
    }
    if (!st && !s.space_c)
        st = cnas_error_set(&err, CNAS_ERR_CONFIG, "%s: standalone training needs a [space] section",
                            cnas_ini_name(s.ini));
    if (!st)
        st = list_entries(&s, only, &e, &n, &err);
    if (!st && !resume_dir) {
        char *annotated = session_config_text(&s, true);
        if (!annotated)
            st = cnas_error_set(&err, CNAS_ERR_NOMEM, "out of memory");
        if (!st)
            st = host_new_run_dir(&s, "-standalone", dir, sizeof dir, &err);
        if (!st)
            st = host_write_text(dir, "config.ini", annotated, &err);
        if (!st)
            st = host_write_text(dir, "command", "standalone\n", &err);
        if (!st && only) {
            char line[4200];
            snprintf(line, sizeof line, "%s\n", only);
            st = host_write_text(dir, "only.txt", line, &err);
        }
        free(annotated);
        snprintf(cfg, sizeof cfg, "%s/config.ini", dir);
    }
    if (!st)
        st = host_write_plugin_path(dir, &s, &err);
    session_close(&s);
    free(only);
    if (st) {
        host_print_error(cmd, &err);
        free(e);
        return host_exit_code(st);
    }

    printf("training %lld architectures stand-alone into %s\n", (long long)n, dir);
    fflush(stdout);
    int code = EXIT_OK;
    for (int64_t k = 0; k < n && code == EXIT_OK; k++) {
        char sub[4200], marker[4300];
        snprintf(sub, sizeof sub, "%s/%03lld", dir, (long long)e[k].index);
        if (read_result(sub, &e[k])) {
            e[k].done = true;
            continue;
        }
        snprintf(marker, sizeof marker, "%s/command", sub);
        run_request rq = {.kind = CNAS_RUN_TRAIN, .quiet_summary = true};
        if (exists(marker)) {
            rq.resume_dir = sub;
        } else {
            rq.config_path = cfg;
            rq.run_dir = sub;
            rq.arch_text = e[k].text;
        }
        cnas_run_result res;
        double t0 = now_seconds();
        code = host_run(o, &rq, &res);
        if (code != EXIT_OK) {
            fprintf(stderr, "cnas %s: training %s (%s) did not finish; continue with: cnas resume %s\n",
                    cmd, e[k].text, sub, dir);
            break;
        }
        e[k].done = true;
        e[k].acc = res.score;
        e[k].seconds = now_seconds() - t0;
        char line[128];
        snprintf(line, sizeof line, "%.6f %.1f\n", e[k].acc, e[k].seconds);
        st = host_write_text(sub, "result.txt", line, &err);
        if (!st)
            st = write_table(dir, e, n, &err);
        if (st) {
            host_print_error(cmd, &err);
            code = EXIT_RUN_FAILED;
            break;
        }
        printf("[%lld/%lld] %-16s test accuracy %.4f  (%.2f M parameters, %.1f M multiply-adds, "
               "%.0f s)\n", (long long)k + 1, (long long)n, e[k].text, e[k].acc,
               (double)e[k].params / 1e6, (double)e[k].flops / 1e6, e[k].seconds);
        fflush(stdout);
    }
    if (code == EXIT_OK) {
        st = write_table(dir, e, n, &err);
        if (st) {
            host_print_error(cmd, &err);
            code = EXIT_RUN_FAILED;
        }
    }
    if (code == EXIT_OK) {
        int64_t best = 0, worst = 0;
        for (int64_t k = 1; k < n; k++) {
            if (e[k].acc > e[best].acc)
                best = k;
            if (e[k].acc < e[worst].acc)
                worst = k;
        }
        printf("best: %s at %.4f; worst: %s at %.4f\n", e[best].text, e[best].acc, e[worst].text,
               e[worst].acc);
        printf("results: %s/standalone.csv (compare a search's ranking with: cnas correlate "
               "RUN/ranking.csv %s/standalone.csv)\n", dir, dir);
    }
    free(e);
    return code;
}

int cmd_standalone(const host_options *o)
{
    return host_standalone(o, o->args[0], NULL);
}
