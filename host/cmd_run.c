/* cnas search, cnas train, cnas resume: set up a run directory and run. */
#include "host.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "data_open.h"

static char *read_text(const char *path, cnas_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cnas_error_set(err, CNAS_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)(n > 0 ? n : 0) + 1);
    if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        fclose(f);
        free(buf);
        cnas_error_set(err, CNAS_ERR_IO, "cannot read %s", path);
        return NULL;
    }
    fclose(f);
    buf[n > 0 ? n : 0] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return buf;
}

static cnas_status write_text(const char *dir, const char *name, const char *text, cnas_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return CNAS_OK;
}

static cnas_status mkdirs(const char *path, cnas_error *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return cnas_error_set(err, CNAS_ERR_IO, "cannot create %s: %s", buf, strerror(errno));
            *p = '/';
        }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot create %s: %s", buf, strerror(errno));
    return CNAS_OK;
}

/* out_dir/name, or name-2, name-3, ... when taken. */
static cnas_status new_run_dir(const session *s, const char *suffix, char *out, size_t n,
                               cnas_error *err)
{
    const char *out_dir = cnas_params_str(s->run, "out_dir");
    char name[256];
    const char *given = cnas_params_str(s->run, "name");
    if (*given) {
        snprintf(name, sizeof name, "%s%s", given, suffix);
    } else {
        char *copy = strdup(s->config_path);
        char *base = copy ? basename(copy) : "run";
        char *dot = strrchr(base, '.');
        if (dot)
            *dot = '\0';
        snprintf(name, sizeof name, "%s%s", base, suffix);
        free(copy);
    }
    cnas_status st = mkdirs(out_dir, err);
    if (st)
        return st;
    for (int k = 1; k < 10000; k++) {
        if (k == 1)
            snprintf(out, n, "%s/%s", out_dir, name);
        else
            snprintf(out, n, "%s/%s-%d", out_dir, name, k);
        if (mkdir(out, 0777) == 0)
            return CNAS_OK;
        if (errno != EEXIST)
            return cnas_error_set(err, CNAS_ERR_IO, "cannot create %s: %s", out, strerror(errno));
    }
    return cnas_error_set(err, CNAS_ERR_IO, "%s/%s: too many runs of that name", out_dir, name);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static cnas_status write_manifest(const char *dir, const session *s, const char *command,
                                  int threads, cnas_error *err)
{
    char path[4200], host[256] = "", when[64];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    gethostname(host, sizeof host - 1);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "{\n  \"cnas\": \"%s\",\n  \"plugin_abi\": \"%d.%d\",\n  \"command\": ", cnas_version(),
            CNAS_ABI_MAJOR, CNAS_ABI_MINOR);
    json_string(f, command);
    fprintf(f, ",\n  \"config\": ");
    json_string(f, s->config_path);
    fprintf(f, ",\n  \"seed\": %lld,\n  \"threads\": %d,\n  \"blas_core\": ",
            (long long)cnas_params_int(s->run, "seed"), threads);
    json_string(f, cnas_blas_core());
    fprintf(f, ",\n  \"blas_config\": ");
    json_string(f, cnas_blas_config());
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    fprintf(f, ",\n  \"openblas_coretype_env\": ");
    if (coretype)
        json_string(f, coretype);
    else
        fprintf(f, "null");
    fprintf(f, ",\n  \"hostname\": ");
    json_string(f, host);
    fprintf(f, ",\n  \"started\": \"%s\",\n  \"plugins\": [", when);
    for (int i = 0; i < cnas_registry_plugin_count(s->reg); i++) {
        const char *p;
        const cnas_plugin_desc *d = cnas_registry_plugin(s->reg, i, &p);
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        json_string(f, d->name);
        fprintf(f, ", \"version\": ");
        json_string(f, d->version);
        fprintf(f, ", \"abi\": \"%u.%u\", \"path\": ", d->abi_major, d->abi_minor);
        json_string(f, p);
        fprintf(f, "}");
    }
    fprintf(f, "\n  ]\n}\n");
    if (fclose(f) != 0)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot write %s", path);
    return CNAS_OK;
}

/* Parse an architecture with a supernet of the configured space (the notation
 * belongs to the space). */
static cnas_status parse_arch(const session *s, const cnas_data *data, const char *text,
                              cnas_arch **out, cnas_error *err)
{
    const cnas_space_vtable *vt = s->space_c->vtable;
    const cnas_dataset_info *in = cnas_data_info(data);
    cnas_op_factory ops = cnas_registry_op_factory(s->reg);
    cnas_rng rng;
    cnas_rng_init(&rng, 0, "parse");
    cnas_space_create_args a = {sizeof a, s->space, in->channels, in->height, in->width,
                                in->num_classes, &ops, &rng, CNAS_SPACE_SUPERNET, NULL};
    void *sup;
    cnas_status st = vt->create(&a, &sup, err);
    if (st)
        return st;
    const cnas_choice_point *pts;
    int n = vt->choice_points(sup, &pts);
    *out = cnas_arch_new(n, err);
    st = *out ? vt->parse(sup, text, *out, err) : err->code;
    vt->destroy(sup);
    if (st) {
        cnas_arch_free(*out);
        *out = NULL;
    }
    return st;
}

static bool stop_flag(void)
{
    return cnas_stop_requested();
}

static int run(const host_options *o, cnas_run_kind kind, const char *config_path,
               const char *resume_dir)
{
    cnas_error err = {0};
    session s;
    opened_data od = {0};
    cnas_arch *arch = NULL;
    char *arch_text = NULL, *config_text = NULL, *annotated = NULL, *fingerprint = NULL;
    char run_dir[4096];
    cnas_status st;
    int code = EXIT_OK;
    const char *what = kind == CNAS_RUN_SEARCH ? "search" : "train";
    bool started = false;
    /* The session keeps a pointer to its configuration's path: it lives as long as s. */
    char resume_config[4200];

    if (resume_dir) {
        snprintf(resume_config, sizeof resume_config, "%s/config.ini", resume_dir);
        snprintf(run_dir, sizeof run_dir, "%s", resume_dir);
        st = session_open(&s, resume_config, o, kind == CNAS_RUN_TRAIN, &err);
    } else {
        st = session_open(&s, config_path, o, kind == CNAS_RUN_TRAIN, &err);
    }
    if (!st && !s.space_c)
        st = cnas_error_set(&err, CNAS_ERR_CONFIG, "%s: a %s needs a [space] section",
                            cnas_ini_name(s.ini), what);
    if (!st && kind == CNAS_RUN_SEARCH && !s.strategy_c)
        st = cnas_error_set(&err, CNAS_ERR_CONFIG, "%s: a search needs a [strategy] section",
                            cnas_ini_name(s.ini));
    int threads = cnas_threads_set(st ? 0 : (int)cnas_params_int(s.run, "threads"));
    if (!st)
        st = open_data(&s, &od, kind == CNAS_RUN_TRAIN, &err);
    if (!st && kind == CNAS_RUN_TRAIN) {
        char path[4200];
        if (resume_dir)
            snprintf(path, sizeof path, "%s/arch_input.txt", resume_dir);
        else if (!o->arch_file)
            st = cnas_error_set(&err, CNAS_ERR_CONFIG, "cnas train needs --arch FILE (e.g. "
                                "runs/<name>/arch.txt)");
        else
            snprintf(path, sizeof path, "%s", o->arch_file);
        if (!st && !(arch_text = read_text(path, &err)))
            st = err.code;
        if (!st)
            st = parse_arch(&s, od.data, arch_text, &arch, &err);
    }
    if (!st) {
        config_text = session_config_text(&s, false);
        annotated = session_config_text(&s, true);
        fingerprint = cnas_registry_fingerprint(s.reg);
        if (!config_text || !annotated || !fingerprint)
            st = cnas_error_set(&err, CNAS_ERR_NOMEM, "out of memory");
    }
    if (!st && !resume_dir) {
        st = new_run_dir(&s, kind == CNAS_RUN_TRAIN ? "-train" : "", run_dir, sizeof run_dir, &err);
        if (!st)
            st = write_text(run_dir, "config.ini", annotated, &err);
        if (!st)
            st = write_text(run_dir, "command", kind == CNAS_RUN_SEARCH ? "search\n" : "train\n", &err);
        if (!st && arch_text) {
            char line[8300];
            snprintf(line, sizeof line, "%s\n", arch_text);
            st = write_text(run_dir, "arch_input.txt", line, &err);
        }
        if (!st) {
            char path[4200];
            snprintf(path, sizeof path, "%s/splits.tsv", run_dir);
            st = cnas_data_write_splits(od.data, path, &err);
        }
    }
    if (!st) {
        char path[4200];
        snprintf(path, sizeof path, "%s/log.txt", run_dir);
        st = cnas_log_open_file(path, &err);
    }
    if (!st) {
        /* Again, now that log.txt is open: the run's log records the defaults it took. */
        session_log_defaults(&s, kind == CNAS_RUN_TRAIN, 3);
        st = write_manifest(run_dir, &s, resume_dir ? "resume" : what, threads, &err);
    }
    cnas_run_result res;
    memset(&res, 0, sizeof res);
    if (!st) {
        started = true;
        const cnas_dataset_info *in = cnas_data_info(od.data);
        cnas_log(2, "cnas %s: %s%s into %s", what, resume_dir ? "resuming " : "",
                 resume_dir ? resume_dir : config_path, run_dir);
        cnas_log(2, "data: %s, %d x %d x %d, %d classes; %lld train, %lld val, %lld test; "
                 "%d threads, OpenBLAS %s", in->name ? in->name : "?", in->channels, in->height,
                 in->width, in->num_classes, (long long)cnas_data_size(od.data, CNAS_DATA_TRAIN),
                 (long long)cnas_data_size(od.data, CNAS_DATA_VAL),
                 (long long)cnas_data_size(od.data, CNAS_DATA_TEST), threads, cnas_blas_core());
        cnas_train_settings ts = {.size = sizeof ts};
        ts.epochs = (int32_t)cnas_params_int(s.train, "epochs");
        ts.batch_size = (int32_t)cnas_params_int(s.train, "batch_size");
        ts.lr = (float)cnas_params_float(s.train, "lr");
        ts.lr_min = (float)cnas_params_float(s.train, "lr_min");
        cnas_schedule_kind sk = CNAS_SCHED_COSINE;
        cnas_schedule_parse(cnas_params_str(s.train, "lr_schedule"), &sk, &err);
        ts.lr_schedule = (int32_t)sk;
        ts.momentum = (float)cnas_params_float(s.train, "momentum");
        ts.nesterov = cnas_params_bool(s.train, "nesterov");
        ts.weight_decay = (float)cnas_params_float(s.train, "weight_decay");
        ts.grad_clip = (float)cnas_params_float(s.train, "grad_clip");
        ts.auxiliary_weight = (float)cnas_params_float(s.train, "auxiliary_weight");
        ts.drop_path = (float)cnas_params_float(s.train, "drop_path");
        ts.label_smoothing = (float)cnas_params_float(s.train, "label_smoothing");
        cnas_op_factory ops = cnas_registry_op_factory(s.reg);
        char ckpt[4200];
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.ckpt", run_dir);
        struct stat sb;
        cnas_run_spec spec = {
            .kind = kind,
            .run_dir = run_dir,
            .seed = (uint64_t)cnas_params_int(s.run, "seed"),
            .space_vt = s.space_c->vtable,
            .space_params = s.space,
            .ops = &ops,
            .arch = arch,
            .arch_text = arch_text,
            .strategy_vt = s.strategy_c && kind == CNAS_RUN_SEARCH ? s.strategy_c->vtable : NULL,
            .strategy_params = s.strategy,
            .data = od.data,
            .augment = {(int)cnas_params_int(s.data, "crop_padding"), cnas_params_bool(s.data, "flip"),
                        (int)cnas_params_int(s.train, "cutout")},
            .prefetch = cnas_params_bool(s.data, "prefetch"),
            .drop_last = cnas_params_bool(s.train, "drop_last"),
            .eval_batch_size = cnas_params_int(s.data, "eval_batch_size"),
            .train = &ts,
            .checkpoint = {cnas_params_int(s.checkpoint, "every_steps"),
                           cnas_params_float(s.checkpoint, "every_minutes"),
                           cnas_params_int(s.checkpoint, "every_epochs")},
            .config_text = config_text,
            .fingerprint = fingerprint,
            .resume_from = resume_dir && stat(ckpt, &sb) == 0 ? ckpt : NULL,
            .log = cnas_log_sink_fn,
            .stop_requested = stop_flag,
            .progress_tty = isatty(2) != 0,
        };
        if (resume_dir && !spec.resume_from)
            cnas_log(1, "%s has no checkpoint yet: starting the run from the beginning", run_dir);
        st = cnas_run(&spec, &res, &err);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (st) {
        if (started)
            cnas_log(0, "%s", err.msg);
        else
            host_print_error(resume_dir ? "resume" : what, &err);
        code = started && st != CNAS_ERR_CONFIG && st != CNAS_ERR_PLUGIN ? EXIT_RUN_FAILED
                                                                         : host_exit_code(st);
    } else if (kind == CNAS_RUN_SEARCH) {
        printf("architecture: %s\n", res.arch_text);
        printf("supernet validation accuracy: %.4f\n", res.score);
        printf("stand-alone network: %.2f M parameters, %.1f M multiply-adds per image\n",
               (double)res.params / 1e6, (double)res.flops / 1e6);
        printf("run directory: %s (arch.txt, arch.json, *.dot / *.png drawings, steps.csv, "
               "epochs.csv, alpha history, log.txt, manifest.json)\n", run_dir);
        printf("peak memory: %.0f MiB\n", (double)ru.ru_maxrss / 1024.0);
    } else {
        printf("test accuracy: %.4f\n", res.score);
        printf("network: %.2f M parameters, %.1f M multiply-adds per image\n",
               (double)res.params / 1e6, (double)res.flops / 1e6);
        printf("run directory: %s\n", run_dir);
        printf("peak memory: %.0f MiB\n", (double)ru.ru_maxrss / 1024.0);
    }
    cnas_log_close_file();
    cnas_arch_free(arch);
    free(arch_text);
    free(config_text);
    free(annotated);
    free(fingerprint);
    close_data(&od);
    session_close(&s);
    return code;
}

int cmd_search(const host_options *o)
{
    return run(o, CNAS_RUN_SEARCH, o->args[0], NULL);
}

int cmd_train(const host_options *o)
{
    return run(o, CNAS_RUN_TRAIN, o->args[0], NULL);
}

int cmd_resume(const host_options *o)
{
    cnas_error err;
    char path[4200];
    snprintf(path, sizeof path, "%s/command", o->args[0]);
    char *command = read_text(path, &err);
    if (!command) {
        fprintf(stderr, "cnas resume: %s is not a run directory (%s)\n", o->args[0], err.msg);
        return EXIT_USAGE;
    }
    cnas_run_kind kind = strcmp(command, "train") == 0 ? CNAS_RUN_TRAIN : CNAS_RUN_SEARCH;
    free(command);
    return run(o, kind, NULL, o->args[0]);
}
