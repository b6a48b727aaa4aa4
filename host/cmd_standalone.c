/* cnas standalone: train every architecture of a (small) space from scratch with the
 * retraining recipe ([network] over [space], [retrain] over [train]) and write their
 * test accuracies: the ground truth a supernet's ranking is measured against (see
 * cnas correlate). Each architecture is an ordinary training run in its own
 * sub-directory (000, 001, ...), so it checkpoints and resumes like any other; a
 * finished one leaves result.txt and is never trained again, and standalone.csv is
 * rewritten (atomically) after each. `cnas resume DIR` continues where it stopped.
 *
 * Under mpirun every rank trains architectures of its own (docs/distributed.md): rank 0
 * hands out the unfinished ones one at a time, as ranks ask, and records the results
 * the others send back in standalone.csv; each training run is written by the rank
 * that trains it, into its own sub-directory, so a resume with any number of ranks
 * finds them. */
#include "host.h"

#include <cnas/dist.h>

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

/* ---- under mpirun: a work queue kept by rank 0 ---------------------------------------- */

enum { TAG_ASK = 7101, TAG_WORK = 7102 };

/* A rank's request for work, with the result of its last architecture (k < 0: none). */
typedef struct ask_msg {
    int64_t k;          /* entry trained, or -1 */
    int64_t code;       /* its exit code (EXIT_OK: acc and seconds hold the result) */
    double acc, seconds;
} ask_msg;

typedef struct queue {
    const host_options *o;
    const char *dir, *cmd;
    entry *e;
    int64_t n, next;     /* entries; the next one to hand out */
    int64_t done, total; /* finished by now, to finish in this run */
    int workers_left;    /* ranks not yet told that there is no more work */
    bool failed;         /* a run did not finish: hand out nothing more */
} queue;

static int64_t take_next(queue *q)
{
    if (q->failed)
        return -1;
    while (q->next < q->n && q->e[q->next].done)
        q->next++;
    return q->next < q->n ? q->next++ : -1;
}

/* Rank 0: a finished architecture into standalone.csv, atomically, at once. */
static void record(queue *q, int64_t k, double acc, double seconds)
{
    entry *x = &q->e[k];
    x->done = true;
    x->acc = acc;
    x->seconds = seconds;
    q->done++;
    cnas_error err;
    if (write_table(q->dir, q->e, q->n, &err)) {
        host_print_error(q->cmd, &err);
        q->failed = true;
    }
    printf("[%lld/%lld] %-16s test accuracy %.4f  (%.2f M parameters, %.1f M multiply-adds, "
           "%.0f s)\n", (long long)q->done, (long long)q->total, x->text, x->acc,
           (double)x->params / 1e6, (double)x->flops / 1e6, x->seconds);
    fflush(stdout);
}

/* Rank 0: answer one waiting request (wait: block until one comes). */
static bool serve(queue *q, bool wait)
{
    ask_msg m;
    int src;
    if (!cnas_dist_recv(TAG_ASK, &m, sizeof m, &src, wait))
        return false;
    if (m.k >= 0 && m.code == EXIT_OK) {
        record(q, m.k, m.acc, m.seconds);
    } else if (m.k >= 0) {
        fprintf(stderr, "cnas %s: rank %d: training %s (%s/%03lld) did not finish\n", q->cmd, src,
                q->e[m.k].text, q->dir, (long long)q->e[m.k].index);
        q->failed = true;
    }
    int64_t k = m.k >= 0 && m.code != EXIT_OK ? -1 : take_next(q);
    cnas_error err;
    if (cnas_dist_send(src, TAG_WORK, &k, sizeof k, &err))
        cnas_dist_abort(EXIT_RUN_FAILED);
    if (k < 0)
        q->workers_left--;
    return true;
}

static void serve_hook(void *ctx)
{
    while (serve(ctx, false))
        ;
}

/* Train entry k on this rank alone; its result.txt is written by this rank. */
static int train_entry(const host_options *o, const char *dir, const char *cfg, entry *x,
                       void (*hook)(void *), void *ctx)
{
    char sub[4200], marker[4300];
    snprintf(sub, sizeof sub, "%s/%03lld", dir, (long long)x->index);
    snprintf(marker, sizeof marker, "%s/command", sub);
    run_request rq = {.kind = CNAS_RUN_TRAIN, .quiet_summary = true, .step_hook = hook,
                      .step_hook_ctx = ctx};
    if (exists(marker)) {
        rq.resume_dir = sub;
    } else {
        rq.config_path = cfg;
        rq.run_dir = sub;
        rq.arch_text = x->text;
    }
    cnas_run_result res;
    double t0 = now_seconds();
    int code = host_run(o, &rq, &res);
    if (code != EXIT_OK)
        return code;
    x->acc = res.score;
    x->seconds = now_seconds() - t0;
    char line[128];
    cnas_error err;
    snprintf(line, sizeof line, "%.6f %.1f\n", x->acc, x->seconds);
    if (host_write_text(sub, "result.txt", line, &err)) {
        host_print_error("standalone", &err);
        return EXIT_RUN_FAILED;
    }
    return EXIT_OK;
}

static int standalone_parallel(const host_options *o, const char *dir, const char *cfg, entry *e,
                               int64_t n, const char *cmd)
{
    int rank = cnas_dist_world_rank(), size = cnas_dist_world_size();
    host_run_independent(true);
    int code = EXIT_OK;
    if (rank != 0) {
        ask_msg m = {-1, EXIT_OK, 0.0, 0.0};
        for (;;) {
            cnas_error err;
            int64_t k;
            int src;
            if (cnas_dist_send(0, TAG_ASK, &m, sizeof m, &err))
                cnas_dist_abort(EXIT_RUN_FAILED);
            cnas_dist_recv(TAG_WORK, &k, sizeof k, &src, true);
            if (k < 0)
                break;
            int c = train_entry(o, dir, cfg, &e[k], NULL, NULL);
            m = (ask_msg){k, c, e[k].acc, e[k].seconds};
            if (c != EXIT_OK)
                code = c;
        }
        host_run_independent(false);
        return code;
    }
    queue q = {o, dir, cmd, e, n, 0, 0, 0, size - 1, false};
    for (int64_t k = 0; k < n; k++) {
        char sub[4200];
        snprintf(sub, sizeof sub, "%s/%03lld", dir, (long long)e[k].index);
        e[k].done = read_result(sub, &e[k]);
        q.total += !e[k].done;
    }
    printf("training %lld architectures stand-alone into %s on %d ranks (%lld done before)\n",
           (long long)q.total, dir, size, (long long)(n - q.total));
    fflush(stdout);
    /* Rank 0 trains too, answering the others between its steps. */
    for (int64_t k; (k = take_next(&q)) >= 0;) {
        int c = train_entry(o, dir, cfg, &e[k], serve_hook, &q);
        if (c != EXIT_OK) {
            fprintf(stderr, "cnas %s: training %s (%s/%03lld) did not finish\n", cmd, e[k].text, dir,
                    (long long)e[k].index);
            q.failed = true;
            code = c;
            break;
        }
        record(&q, k, e[k].acc, e[k].seconds);
    }
    while (q.workers_left > 0)
        serve(&q, true);
    host_run_independent(false);
    if (q.failed) {
        fprintf(stderr, "cnas %s: some architectures did not finish; continue with: cnas resume "
                "%s\n", cmd, dir);
        return code != EXIT_OK ? code : EXIT_RUN_FAILED;
    }
    cnas_error err;
    if (write_table(dir, e, n, &err)) {
        host_print_error(cmd, &err);
        return EXIT_RUN_FAILED;
    }
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
    return EXIT_OK;
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
    bool lead = cnas_dist_world_rank() == 0, quiet = false;
    if (!st)
        st = list_entries(&s, only, &e, &n, &err);
    if (!st && !resume_dir && lead) {
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
    if (!st && lead)
        st = host_write_plugin_path(dir, &s, &err);
    session_close(&s);
    free(only);
    if (cnas_dist_world_size() > 1) {
        /* Every rank learns rank 0's directory, or that some rank could not start. */
        int64_t v = st;
        cnas_error e2;
        cnas_dist_set_data_parallel(true);
        if (cnas_dist_max_i64(&v, 1, &e2) || (v == CNAS_OK && cnas_dist_bcast(dir, sizeof dir, &e2)))
            cnas_dist_abort(EXIT_RUN_FAILED);
        cnas_dist_set_data_parallel(false);
        quiet = st == CNAS_OK && v != CNAS_OK;
        st = (cnas_status)v;
        snprintf(cfg, sizeof cfg, "%s/config.ini", dir);
    }
    if (st) {
        if (!quiet)
            host_print_error(cmd, &err);
        free(e);
        return host_exit_code(st);
    }

    if (cnas_dist_world_size() > 1) {
        int code = standalone_parallel(o, dir, cfg, e, n, cmd);
        free(e);
        return code;
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
