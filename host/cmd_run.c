/* cnas search, cnas train, cnas resume: set up a run directory and run. */
#include "host.h"

#include <cnas/checkpoint.h>
#include <cnas/dist.h>

#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "data_open.h"

static bool stop_flag(void)
{
    return cnas_stop_requested();
}

/* One process per run directory: an exclusive flock on <run_dir>/cnas.lock, held until
 * the run returns (or the process dies: the kernel drops it, so a killed run leaves no
 * stale lock). Returns the descriptor, or -1 with err set. */
static int lock_run_dir(const char *dir, cnas_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/cnas.lock", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        cnas_error_set(err, CNAS_ERR_IO, "cannot open the lock file %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            cnas_error_set(err, CNAS_ERR_INVALID, "run directory %s is in use by another cnas "
                           "process (it holds %s); wait for it to finish or stop it first", dir,
                           path);
        else
            cnas_error_set(err, CNAS_ERR_IO, "cannot lock %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Before a resume changes anything in the run directory (log, manifest, the appended
 * files it cuts back), its checkpoint must load, checksum and all, and hold the run's
 * records. */
static cnas_status verify_checkpoint(const char *path, cnas_error *err)
{
    cnas_ckpt *ck = cnas_ckpt_load(path, err);
    if (!ck)
        return err->code;
    static const char *const text[] = {"run.config", "run.fingerprint"};
    static const char *const ints[] = {"run.kind", "run.epoch", "run.step", "run.steps_done"};
    cnas_status st = CNAS_OK;
    int64_t v;
    for (size_t i = 0; !st && i < sizeof text / sizeof *text; i++)
        if (!cnas_ckpt_get_str(ck, text[i], err))
            st = err->code;
    for (size_t i = 0; !st && i < sizeof ints / sizeof *ints; i++)
        st = cnas_ckpt_get_i64(ck, ints[i], &v, err);
    for (int i = 0; !st && i < cnas_ckpt_count(ck); i++) {
        const char *name = cnas_ckpt_name_at(ck, i);
        if (strncmp(name, "run.size.", 9) == 0 &&
            (!(st = cnas_ckpt_get_i64(ck, name, &v, err))) && v < 0)
            st = cnas_error_set(err, CNAS_ERR_FORMAT, "checkpoint: record '%s' is negative", name);
    }
    if (st) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        cnas_error_set(err, CNAS_ERR_FORMAT, "checkpoint %s: %s", path,
                       strncmp(msg, "checkpoint: ", 12) == 0 ? msg + 12 : msg);
    }
    cnas_ckpt_free(ck);
    return st ? CNAS_ERR_FORMAT : CNAS_OK;
}

/* ---- data parallel (docs/distributed.md) --------------------------------------------- */

/* A failure one rank met before the run: every rank learns it, so none waits in a
 * collective for a rank that has left. Returns the worst status; *quiet is set on the
 * ranks that did not fail themselves (they exit without repeating the message). */
static cnas_status agree(bool dp, cnas_status st, bool *quiet)
{
    *quiet = false;
    if (!dp)
        return st;
    int64_t v = st;
    cnas_error e;
    if (cnas_dist_max_i64(&v, 1, &e))
        cnas_dist_abort(EXIT_RUN_FAILED);
    *quiet = st == CNAS_OK && v != CNAS_OK;
    return (cnas_status)v;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Ranks other than 0 run in a private directory of their own, removed at the end: files
 * a plugin writes into env->run_dir by itself land there, never in the real run
 * directory that rank 0 alone writes. */
static cnas_status make_scratch(char *out, size_t n, cnas_error *err)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, n, "%s/cnas-rank%d-XXXXXX", tmp && *tmp ? tmp : "/tmp", cnas_dist_world_rank());
    if (!mkdtemp(out))
        return cnas_error_set(err, CNAS_ERR_IO, "rank %d: cannot create a scratch directory %s: "
                              "%s", cnas_dist_world_rank(), out, strerror(errno));
    return CNAS_OK;
}

static void remove_scratch(const char *dir)
{
    if (dir[0])
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool g_independent; /* stand-alone workers: each rank its own runs */

void host_run_independent(bool on)
{
    g_independent = on;
}

int host_run(const host_options *o, const run_request *rq, cnas_run_result *out)
{
    /* Data parallel when started by mpirun with more than one rank (and not as one of
     * stand-alone training's independent runs); rank 0 leads: it alone writes. */
    bool dp = cnas_dist_world_size() > 1 && !g_independent, quiet = false;
    bool lead = !dp || cnas_dist_world_rank() == 0;
    char scratch[4200] = "";
    cnas_dist_set_data_parallel(dp);
    cnas_run_kind kind = rq->kind;
    const char *config_path = rq->config_path, *resume_dir = rq->resume_dir;
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

    int lock_fd = -1;
    /* A write past `ulimit -f` fails with EFBIG (reported, the old checkpoint kept) instead
     * of killing the process. */
    signal(SIGXFSZ, SIG_IGN);
    if (resume_dir) {
        char ckpt[4200];
        struct stat sb;
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.ckpt", resume_dir);
        bool bad = (lead && (lock_fd = lock_run_dir(resume_dir, &err)) < 0) ||
                   (stat(ckpt, &sb) == 0 && verify_checkpoint(ckpt, &err));
        if (agree(dp, bad ? CNAS_ERR_INVALID : CNAS_OK, &quiet)) {
            if (!quiet)
                host_print_error("resume", &err);
            if (lock_fd >= 0)
                close(lock_fd);
            cnas_dist_set_data_parallel(false);
            return EXIT_USAGE;
        }
    }
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
    /* Per process: with several ranks on a machine, [run] threads = 0 shares its
     * processors among them. */
    int threads = cnas_threads_set(st ? 0 : cnas_params_int(s.run, "threads") > 0
                                                ? (int)cnas_params_int(s.run, "threads")
                                                : cnas_dist_default_threads());
    if (!st && (!lead || (g_independent && cnas_dist_world_rank() > 0)))
        cnas_log_set_level(o->verbosity > 0 ? 3 : 1); /* rank 0 reports progress */
    if (!st)
        st = open_data(&s, &od, kind == CNAS_RUN_TRAIN, &err);
    if (!st && kind == CNAS_RUN_TRAIN) {
        char path[4200];
        if (resume_dir)
            snprintf(path, sizeof path, "%s/arch_input.txt", resume_dir);
        else if (rq->arch_text)
            arch_text = strdup(rq->arch_text);
        else if (!o->arch_file)
            st = cnas_error_set(&err, CNAS_ERR_CONFIG, "cnas train needs --arch FILE (e.g. "
                                "runs/<name>/arch.txt)");
        else
            snprintf(path, sizeof path, "%s", o->arch_file);
        if (!st && !arch_text && !(arch_text = host_read_text(path, &err)))
            st = err.code;
        if (!st)
            st = host_parse_arch(&s, od.data, arch_text, &arch, &err);
    }
    /* A run that cannot fit in memory is refused before it allocates anything large. */
    if (!st && cnas_params_bool(s.run, "memory_check"))
        st = host_memory_check(&s, kind, cnas_data_info(od.data), arch, &err);
    if (!st) {
        config_text = session_config_text(&s, false);
        annotated = session_config_text(&s, true);
        fingerprint = cnas_registry_fingerprint(s.reg);
        if (!config_text || !annotated || !fingerprint)
            st = cnas_error_set(&err, CNAS_ERR_NOMEM, "out of memory");
    }
    if (!st && !resume_dir && lead) {
        if (rq->run_dir) {
            snprintf(run_dir, sizeof run_dir, "%s", rq->run_dir);
            st = host_mkdirs(run_dir, &err);
        } else {
            st = host_new_run_dir(&s, kind == CNAS_RUN_TRAIN ? "-train" : "", run_dir,
                                  sizeof run_dir, &err);
        }
        if (!st && (lock_fd = lock_run_dir(run_dir, &err)) < 0)
            st = err.code;
        if (!st)
            st = host_write_text(run_dir, "config.ini", annotated, &err);
        if (!st)
            st = host_write_text(run_dir, "command", kind == CNAS_RUN_SEARCH ? "search\n" : "train\n",
                                 &err);
        if (!st && arch_text) {
            char line[8300];
            snprintf(line, sizeof line, "%s\n", arch_text);
            st = host_write_text(run_dir, "arch_input.txt", line, &err);
        }
        if (!st) {
            char path[4200];
            snprintf(path, sizeof path, "%s/splits.tsv", run_dir);
            st = cnas_data_write_splits(od.data, path, &err);
        }
    }
    /* Again on resume: a --plugin-path given to it is recorded for the next one. */
    if (!st && lead)
        st = host_write_plugin_path(run_dir, &s, &err);
    if (!st && lead) {
        char path[4200];
        snprintf(path, sizeof path, "%s/log.txt", run_dir);
        st = cnas_log_open_file(path, &err);
    }
    if (!st && lead) {
        /* Again, now that log.txt is open: the run's log records the defaults it took. */
        session_log_defaults(&s, kind == CNAS_RUN_TRAIN, 3);
        st = host_write_manifest(run_dir, &s, resume_dir ? "resume" : what, threads, &err);
    }
    if (!st && !lead)
        st = make_scratch(scratch, sizeof scratch, &err);
    /* Every rank learns rank 0's run directory, or that some rank could not start. */
    cnas_status all = agree(dp, st, &quiet);
    if (all && !st) {
        st = all;
        snprintf(err.msg, sizeof err.msg, "another rank could not start the run");
    }
    if (!st && dp) {
        cnas_error e;
        if (cnas_dist_bcast(run_dir, sizeof run_dir, &e))
            cnas_dist_abort(EXIT_RUN_FAILED);
    }
    cnas_run_result res;
    memset(&res, 0, sizeof res);
    if (!st) {
        started = true;
        const cnas_dataset_info *in = cnas_data_info(od.data);
        cnas_log(2, "cnas %s: %s%s into %s", what, resume_dir ? "resuming " : "",
                 resume_dir ? resume_dir : config_path, run_dir);
        if (dp)
            cnas_log(2, "data parallel: %d ranks (%d on this machine), %d threads each; a global "
                     "batch of %lld is split across them", cnas_dist_world_size(),
                     cnas_dist_local_size(), threads, (long long)cnas_params_int(s.train, "batch_size"));
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
        ts.dgconv_penalty = (float)cnas_params_float(s.train, "dgconv_penalty");
        cnas_op_factory ops = cnas_registry_op_factory(s.reg);
        char ckpt[4200];
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.ckpt", run_dir);
        struct stat sb;
        cnas_run_spec spec = {
            .kind = kind,
            .run_dir = lead ? run_dir : scratch,
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
            .plain_val_cycle = !cnas_params_bool(s.data, "augment_val"),
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
            .network_params = s.network,
            .data_parallel = dp,
            .step_hook = rq->step_hook,
            .step_hook_ctx = rq->step_hook_ctx,
            .epoch_samples = cnas_params_int(s.data, "epoch_samples"),
        };
        if (!lead)
            spec.progress_tty = false;
        if (resume_dir && !spec.resume_from)
            cnas_log(1, "%s has no checkpoint yet: starting the run from the beginning", run_dir);
        st = cnas_run(&spec, &res, &err);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    remove_scratch(scratch);
    if (st) {
        if (quiet || (started && dp && !lead && st == CNAS_ERR_INTERRUPTED))
            ; /* rank 0 says it */
        else if (started && dp && !lead)
            cnas_log(0, "rank %d: %s", cnas_dist_world_rank(), err.msg);
        else if (started)
            cnas_log(0, "%s", err.msg);
        else
            host_print_error(resume_dir ? "resume" : what, &err);
        code = started && st != CNAS_ERR_CONFIG && st != CNAS_ERR_PLUGIN ? EXIT_RUN_FAILED
                                                                         : host_exit_code(st);
        /* A failure on some ranks only would leave the others waiting in a collective:
         * stop the whole job (a stop request is agreed by all ranks, so it ends here
         * normally). */
        if (started && dp && st != CNAS_ERR_INTERRUPTED) {
            cnas_log_close_file();
            cnas_dist_abort(code);
        }
    } else if (rq->quiet_summary || !lead) {
        /* the caller reports */
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
    if (out)
        *out = res;
    cnas_log_close_file();
    cnas_arch_free(arch);
    free(arch_text);
    free(config_text);
    free(annotated);
    free(fingerprint);
    close_data(&od);
    session_close(&s);
    if (lock_fd >= 0)
        close(lock_fd);
    cnas_dist_set_data_parallel(false);
    return code;
}

int cmd_search(const host_options *o)
{
    run_request rq = {.kind = CNAS_RUN_SEARCH, .config_path = o->args[0]};
    return host_run(o, &rq, NULL);
}

int cmd_train(const host_options *o)
{
    run_request rq = {.kind = CNAS_RUN_TRAIN, .config_path = o->args[0]};
    return host_run(o, &rq, NULL);
}

/* A run continues with the plugins it started with: the search path it recorded
 * follows any --plugin-path given to resume, so those still win. */
int cmd_resume(const host_options *o)
{
    cnas_error err;
    char path[4200];
    snprintf(path, sizeof path, "%s/command", o->args[0]);
    char *command = host_read_text(path, &err);
    if (!command) {
        fprintf(stderr, "cnas resume: %s is not a run directory (%s)\n", o->args[0], err.msg);
        return EXIT_USAGE;
    }
    host_options ro;
    char *recorded = NULL;
    if (host_resume_options(o, o->args[0], &ro, &recorded, &err)) {
        host_print_error("resume", &err);
        free(command);
        free(recorded);
        return host_exit_code(err.code);
    }
    int code;
    if (strcmp(command, "standalone") == 0) {
        code = host_standalone(&ro, NULL, o->args[0]);
    } else {
        run_request rq = {.kind = strcmp(command, "train") == 0 ? CNAS_RUN_TRAIN : CNAS_RUN_SEARCH,
                          .resume_dir = o->args[0]};
        code = host_run(&ro, &rq, NULL);
    }
    free(command);
    free(recorded);
    return code;
}
