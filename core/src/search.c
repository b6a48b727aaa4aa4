/* The host services of a run (cnas_search_env) and the run itself: build the
 * space, create the strategy or trainer, resume, run, write the results. */
#include <cnas/search.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <cnas/checkpoint.h>
#include <cnas/dist.h>
#include <cnas/kit.h>
#include <cnas/metrics.h>
#include <cnas/ops.h>
#include <cnas/trainer.h>

#include "class_acc.h"
#include "search_data.h"

extern char **environ;

#define MAX_APPENDED 16

typedef struct host {
    const cnas_run_spec *spec;
    cnas_search_env env;
    cnas_run_result *res;
    const cnas_strategy_vtable *svt;
    void *strategy;
    cnas_metrics *steps, *epochs;
    search_data data;
    cnas_graph *eval_g;
    cnas_rng init_rng;

    /* checkpoint cadence */
    int64_t steps_since_ckpt;
    double last_ckpt_time;
    char ckpt_path[4096];

    /* files written by appending: their sizes go into checkpoints, so a resumed run
     * first cuts them back to what the checkpoint had seen */
    char appended[MAX_APPENDED][64];
    int n_appended;

    /* data parallel: the metrics of a step, combined across ranks before they are written */
    char pend_name[64][48];
    double pend_value[64];
    int n_pend;

    /* progress */
    double t_start, t_last_line;
    int64_t steps_done, steps_total, step0;
} host;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static host *host_of(cnas_search_env *env)
{
    return env->host;
}

/* ---- logging, metrics, files ---------------------------------------------------------- */

static void env_log(cnas_search_env *env, cnas_log_level level, const char *fmt, ...)
{
    host *h = host_of(env);
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (h->spec->log)
        h->spec->log(h->spec->log_ctx, (int)level, msg);
}

static void env_metric(cnas_search_env *env, const char *name, double value)
{
    host *h = host_of(env);
    if (cnas_dist_data_parallel() && h->n_pend < 64) {
        /* A strategy's value may be this rank's (a loss on its rows): combined at the
         * end of the step. */
        snprintf(h->pend_name[h->n_pend], sizeof h->pend_name[0], "%s", name);
        h->pend_value[h->n_pend++] = value;
        return;
    }
    cnas_metrics_set(h->steps, name, value);
    cnas_metrics_set(h->epochs, name, value);
}

/* Data parallel: every rank set the same metrics in the same order; the written value is
 * their mean weighted by the step's batch shares (the VAL_CYCLE batch's when the step
 * drew one, else the TRAIN batch's), exactly the value itself when all ranks agree. */
static void flush_metrics(host *h)
{
    if (!h->n_pend)
        return;
    cnas_error err;
    if (cnas_dist_mean_f64(h->pend_value, h->n_pend, cnas_dist_arch_weight(), &err))
        cnas_dist_abort(EXIT_FAILURE);
    for (int i = 0; i < h->n_pend; i++) {
        cnas_metrics_set(h->steps, h->pend_name[i], h->pend_value[i]);
        cnas_metrics_set(h->epochs, h->pend_name[i], h->pend_value[i]);
    }
    h->n_pend = 0;
}

/* Rank 0 of a data-parallel run writes checkpoints and drawings (the others write their
 * files into a scratch directory, docs/distributed.md). */
static bool writer(void)
{
    return cnas_dist_rank() == 0;
}

static void format_eta(double seconds, char *buf, size_t n)
{
    if (!isfinite(seconds) || seconds < 0) {
        snprintf(buf, n, "--:--");
        return;
    }
    long s = (long)seconds;
    if (s >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, n, "%02ld:%02ld", s / 60, s % 60);
}

static void progress(host *h, int64_t epoch, int64_t step, int final)
{
    double t = now_seconds();
    if (!final && !h->spec->progress_tty && t - h->t_last_line < 10.0)
        return;
    if (!final && h->spec->progress_tty && t - h->t_last_line < 0.2)
        return;
    h->t_last_line = t;
    double rate = (double)(h->steps_done - h->step0) / fmax(t - h->t_start, 1e-9);
    char eta[32];
    format_eta((double)(h->steps_total - h->steps_done) / rate, eta, sizeof eta);
    double loss = cnas_metrics_last(h->steps, "train_loss");
    double acc = cnas_metrics_last(h->steps, "train_acc");
    int64_t per_epoch = h->data.batches_per_epoch;
    char line[256];
    snprintf(line, sizeof line, "epoch %" PRId64 "/%d step %" PRId64 "/%" PRId64 " [%3.0f%%] "
             "%.2f steps/s ETA %s loss %.4f acc %.3f", epoch + 1, h->spec->train->epochs, step,
             per_epoch, 100.0 * (double)h->steps_done / (double)(h->steps_total ? h->steps_total : 1),
             rate, eta, loss, acc);
    if (h->spec->progress_tty) {
        fprintf(stderr, "\r%s\033[K", line);
        if (final)
            fputc('\n', stderr);
        fflush(stderr);
    } else {
        env_log(&h->env, CNAS_LOG_INFO, "%s", line);
    }
}

static void env_end_step(cnas_search_env *env, int64_t epoch, int64_t step)
{
    host *h = host_of(env);
    cnas_error err;
    h->steps_done++;
    flush_metrics(h);
    if (cnas_metrics_write(h->steps, epoch, step, &err))
        env_log(env, CNAS_LOG_WARN, "%s", err.msg);
    progress(h, epoch, step, 0);
    if (h->spec->step_hook)
        h->spec->step_hook(h->spec->step_hook_ctx);
}

static void env_end_epoch(cnas_search_env *env, int64_t epoch)
{
    host *h = host_of(env);
    cnas_error err;
    flush_metrics(h);
    if (h->spec->progress_tty)
        progress(h, epoch, h->data.batches_per_epoch, 1);
    cnas_metrics_set(h->epochs, "train_loss", cnas_metrics_last(h->steps, "train_loss"));
    if (cnas_metrics_write(h->epochs, epoch, h->data.batches_per_epoch, &err))
        env_log(env, CNAS_LOG_WARN, "%s", err.msg);
    /* Values set for the epoch record do not spill into the next step's record (a
     * resumed run would not have them). */
    cnas_metrics_clear(h->steps);
}

static int appended_slot(host *h, const char *file)
{
    for (int i = 0; i < h->n_appended; i++)
        if (strcmp(h->appended[i], file) == 0)
            return i;
    if (h->n_appended == MAX_APPENDED)
        return -1;
    snprintf(h->appended[h->n_appended], sizeof h->appended[0], "%s", file);
    return h->n_appended++;
}

static cnas_status env_append(cnas_search_env *env, const char *file, const char *text,
                              cnas_error *err)
{
    host *h = host_of(env);
    if (strchr(file, '/') || file[0] == '.' || appended_slot(h, file) < 0)
        return cnas_error_set(err, CNAS_ERR_INVALID, "append: '%s' is not a plain file name "
                              "(or too many files)", file);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", h->spec->run_dir, file);
    FILE *f = fopen(path, "a");
    if (!f)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot append to %s: %s", path, strerror(errno));
    fputs(text, f);
    if (fclose(f) != 0)
        return cnas_error_set(err, CNAS_ERR_IO, "writing %s failed: %s", path, strerror(errno));
    return CNAS_OK;
}

static bool local_stop(host *h)
{
    return h->spec->stop_requested && h->spec->stop_requested();
}

/* Data parallel: a stop seen by any rank stops every rank at the same point (a signal
 * reaches the ranks at different moments). */
static bool env_stop_requested(cnas_search_env *env)
{
    host *h = host_of(env);
    int64_t stop = local_stop(h);
    cnas_error err;
    if (cnas_dist_max_i64(&stop, 1, &err))
        cnas_dist_abort(EXIT_FAILURE);
    return stop != 0;
}

/* ---- data ---------------------------------------------------------------------------- */

static cnas_status env_begin_epoch(cnas_search_env *env, int64_t epoch, cnas_error *err)
{
    return search_data_begin_epoch(&host_of(env)->data, epoch, err);
}

static int env_next_batch(cnas_search_env *env, cnas_data_stream s, cnas_graph *g,
                          cnas_tensor **x, const int32_t **labels, cnas_error *err)
{
    return search_data_next(&host_of(env)->data, s, g, x, labels, err);
}

static int64_t env_batches_per_epoch(cnas_search_env *env, cnas_data_stream s)
{
    return search_data_batches(&host_of(env)->data, s);
}

/* An evaluation's sums over the ranks that shared its batches (the same bits on every
 * rank, so every rank takes the same decisions from it). */
static cnas_status combine_eval(double loss_sum, int64_t correct, int64_t seen, double *loss,
                                double *accuracy, cnas_error *err)
{
    double v[3] = {loss_sum, (double)correct, (double)seen};
    cnas_status st = cnas_dist_sum_f64(v, 3, err);
    if (st)
        return st;
    *loss = v[2] > 0 ? v[0] / v[2] : NAN;
    *accuracy = v[2] > 0 ? v[1] / v[2] : NAN;
    return CNAS_OK;
}

/* test_per_class.csv: the latest test evaluation per class, and a log line. */
static cnas_status write_class_acc(host *h, class_acc *pc, cnas_error *err)
{
    cnas_status st = class_acc_reduce(pc, err);
    if (st || !writer())
        return st;
    const char *const *names = cnas_data_info(h->data.data)->class_names;
    char path[4200], line[1024];
    snprintf(path, sizeof path, "%s/test_per_class.csv", h->spec->run_dir);
    size_t o = 0;
    line[0] = '\0';
    for (int j = 0; j < pc->k && o < sizeof line; j++) {
        double n = pc->v[j];
        char name[16];
        snprintf(name, sizeof name, "%d", j);
        o += (size_t)snprintf(line + o, sizeof line - o, "%s%s %.3f", j ? ", " : "",
                              names && names[j] ? names[j] : name,
                              n > 0 ? pc->v[pc->k + j] / n : 0.0);
    }
    env_log(&h->env, CNAS_LOG_INFO, "test accuracy per class: %s", line);
    return class_acc_write(pc, names, path, err);
}

static cnas_status env_evaluate(cnas_search_env *env, cnas_data_stream s, cnas_logits_fn fn,
                                void *ctx, double *loss, double *accuracy, cnas_error *err)
{
    host *h = host_of(env);
    cnas_status st = search_data_begin_pass(&h->data, s, err);
    if (st)
        return st;
    /* The test split's evaluations also count per class (test_per_class.csv). */
    class_acc pc = {0};
    if (s == CNAS_STREAM_TEST && (st = class_acc_init(&pc, h->data.num_classes, err)))
        return st;
    bool synced = cnas_dist_sync_batch_stats(false); /* whole batches per rank */
    double loss_sum = 0.0;
    int64_t correct = 0, seen = 0;
    for (int64_t b = 0;; b++) {
        cnas_graph_reset(h->eval_g);
        cnas_graph_set_grad_enabled(h->eval_g, false);
        cnas_tensor *x;
        const int32_t *y;
        int r = b % cnas_dist_size() == cnas_dist_rank()
                    ? search_data_next(&h->data, s, h->eval_g, &x, &y, err)
                    : search_data_skip(&h->data, s, err); /* another rank's batch */
        if (r < 0) {
            class_acc_free(&pc);
            return err->code;
        }
        if (r == 0)
            break;
        if (b % cnas_dist_size() != cnas_dist_rank())
            continue;
        cnas_tensor *logits = fn(h->eval_g, x, ctx);
        cnas_tensor *l = logits ? cnas_cross_entropy(h->eval_g, logits, y, 0.0f) : NULL;
        if (!l) {
            class_acc_free(&pc);
            return cnas_error_set(err, cnas_graph_status(h->eval_g), "evaluation: %s",
                                  cnas_graph_error(h->eval_g)->msg);
        }
        int64_t n = logits->shape[0];
        correct += cnas_count_correct(logits, y);
        if (pc.v)
            class_acc_add(&pc, logits, y);
        loss_sum += (double)l->data[0] * (double)n;
        seen += n;
    }
    cnas_graph_reset(h->eval_g);
    cnas_graph_set_grad_enabled(h->eval_g, true);
    cnas_dist_sync_batch_stats(synced);
    st = combine_eval(loss_sum, correct, seen, loss, accuracy, err);
    if (!st && pc.v)
        st = write_class_acc(h, &pc, err);
    class_acc_free(&pc);
    return st;
}

/* ---- checkpoints ------------------------------------------------------------------------ */

static cnas_status write_checkpoint(host *h, int64_t epoch, int64_t step, cnas_error *err)
{
    cnas_ckpt *ck = cnas_ckpt_new(err);
    if (!ck)
        return err->code;
    cnas_status st = cnas_ckpt_put_str(ck, "run.config", h->spec->config_text ? h->spec->config_text : "", err);
    if (!st)
        st = cnas_ckpt_put_str(ck, "run.fingerprint", h->spec->fingerprint ? h->spec->fingerprint : "", err);
    if (!st)
        st = cnas_ckpt_put_i64(ck, "run.kind", h->spec->kind, err);
    if (!st)
        st = cnas_ckpt_put_i64(ck, "run.epoch", epoch, err);
    if (!st)
        st = cnas_ckpt_put_i64(ck, "run.step", step, err);
    if (!st)
        st = cnas_ckpt_put_i64(ck, "run.steps_done", h->steps_done, err);
    if (!st && cnas_dist_size() > 1) /* informative: any number of ranks may resume it */
        st = cnas_ckpt_put_i64(ck, "run.ranks", cnas_dist_size(), err);
    for (int i = 0; !st && i < h->n_appended; i++) {
        char path[4200], name[96];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", h->spec->run_dir, h->appended[i]);
        snprintf(name, sizeof name, "run.size.%s", h->appended[i]);
        st = cnas_ckpt_put_i64(ck, name, stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0, err);
    }
    cnas_ckio io = cnas_ckio_put(ck, err);
    if (!st)
        st = cnas_ckio_space(&io, "space", h->spec->space_vt, h->env.space);
    if (!st)
        st = search_data_save(&h->data, ck, err);
    if (!st)
        st = h->svt->save(h->strategy, ck, err);
    if (!st)
        st = cnas_ckpt_save(ck, h->ckpt_path, err);
    cnas_ckpt_free(ck);
    if (!st) {
        h->steps_since_ckpt = 0;
        h->last_ckpt_time = now_seconds();
        env_log(&h->env, CNAS_LOG_DEBUG, "checkpoint at epoch %" PRId64 " step %" PRId64 " -> %s",
                epoch, step, h->ckpt_path);
    }
    return st;
}

/* A hash of env->space's tensors: data-parallel ranks must hold the same bits. */
static uint64_t space_hash(host *h)
{
    const cnas_space_vtable *vt = h->spec->space_vt;
    int n = vt->tensors(h->env.space, NULL, 0);
    cnas_named_tensor *all = malloc((size_t)(n > 0 ? n : 1) * sizeof *all);
    uint64_t x = 1469598103934665603ull;
    if (!all)
        return 0;
    n = vt->tensors(h->env.space, all, n);
    for (int i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)all[i].tensor->data;
        for (size_t k = 0; k < cnas_tensor_bytes(all[i].tensor); k++)
            x = (x ^ p[k]) * 1099511628211ull;
    }
    free(all);
    return x;
}

static cnas_status env_checkpoint_point(cnas_search_env *env, int64_t epoch, int64_t step,
                                        bool epoch_end, cnas_error *err)
{
    host *h = host_of(env);
    const cnas_checkpoint_settings *c = &h->spec->checkpoint;
    h->steps_since_ckpt++;
    /* Data parallel: rank 0's clock decides, a stop on any rank stops all. */
    int64_t v[2] = {local_stop(h),
                    writer() && ((c->every_steps > 0 && h->steps_since_ckpt >= c->every_steps) ||
                                 (c->every_minutes > 0 &&
                                  now_seconds() - h->last_ckpt_time >= 60.0 * c->every_minutes) ||
                                 (epoch_end && c->every_epochs > 0 && epoch % c->every_epochs == 0))};
    cnas_status st = cnas_dist_max_i64(v, 2, err);
    if (st)
        return st;
    bool stop = v[0] != 0, due = stop || v[1] != 0;
    if (!due)
        return CNAS_OK;
    if (cnas_dist_size() > 1) {
        bool same;
        if ((st = cnas_dist_same_u64(space_hash(h), &same, err)))
            return st;
        if (!same)
            return cnas_error_set(err, CNAS_ERR_INVALID, "data parallel: the ranks' supernets "
                                  "differ at epoch %" PRId64 " step %" PRId64 " (a strategy took "
                                  "a decision from rank-local data; see docs/distributed.md)",
                                  epoch, step);
    }
    if (writer())
        st = write_checkpoint(h, epoch, step, err);
    else
        h->steps_since_ckpt = 0;
    if (st)
        return st;
    if (stop && epoch >= h->spec->train->epochs) /* after the search epochs: selection, evaluation */
        return cnas_error_set(err, CNAS_ERR_INTERRUPTED, "stopped after the %d search epochs "
                              "(at epoch %" PRId64 " step %" PRId64 " of the selection or final "
                              "evaluation); checkpoint written to %s; continue with: cnas resume "
                              "%s", h->spec->train->epochs, epoch + 1, step, h->ckpt_path,
                              h->spec->run_dir);
    if (stop)
        return cnas_error_set(err, CNAS_ERR_INTERRUPTED, "stopped in epoch %" PRId64 " of %d at "
                              "step %" PRId64 "; checkpoint written to %s; continue with: cnas "
                              "resume %s", epoch + 1, h->spec->train->epochs, step, h->ckpt_path,
                              h->spec->run_dir);
    return CNAS_OK;
}

/* The first line where two texts differ, for "the configuration changed" messages,
 * named by the [section] it is in (configuration texts) or its line number. */
static void first_difference(const char *a, const char *b, char *out, size_t n)
{
    int line = 1;
    const char *la = a, *lb = b, *sec = *a == '[' ? a : NULL;
    while (*a && *a == *b) {
        if (*a == '\n') {
            line++;
            la = a + 1;
            lb = b + 1;
            if (*la == '[')
                sec = la;
        }
        a++;
        b++;
    }
    char where[96];
    if (sec)
        snprintf(where, sizeof where, "%.*s", (int)strcspn(sec, "\n"), sec);
    else
        snprintf(where, sizeof where, "line %d", line);
    snprintf(out, n, "%s: checkpoint has '%.*s', now '%.*s'", where, (int)strcspn(la, "\n"), la,
             (int)strcspn(lb, "\n"), lb);
}

/* [run] keys that change nothing a run computes or writes: how many threads (every kernel
 * is bitwise independent of it), what the terminal shows, the memory check before the
 * start, and a key kept only so older configurations load. A resume compares
 * configurations without them, so `cnas resume --set run.threads=8` continues the run
 * exactly (docs/config.md). */
static char *identity_text(const char *text)
{
    static const char *const free_keys[] = {"threads", "log_level", "memory_check",
                                            "deterministic"};
    char *out = malloc(strlen(text) + 1), *w = out;
    if (!out)
        return NULL;
    bool in_run = false;
    for (const char *r = text; *r;) {
        size_t n = strcspn(r, "\n");
        bool nl = r[n] == '\n', drop = false;
        if (r[0] == '[')
            in_run = strncmp(r, "[run]", 5) == 0;
        for (size_t k = 0; in_run && !drop && k < sizeof free_keys / sizeof *free_keys; k++) {
            size_t kl = strlen(free_keys[k]);
            drop = strncmp(r, free_keys[k], kl) == 0 && strncmp(r + kl, " = ", 3) == 0;
        }
        if (!drop) {
            memcpy(w, r, n + nl);
            w += n + nl;
        }
        r += n + nl;
    }
    *w = '\0';
    return out;
}

static cnas_status resume(host *h, int64_t *steps_done, cnas_error *err)
{
    cnas_ckpt *ck = cnas_ckpt_load(h->spec->resume_from, err);
    if (!ck)
        return err->code;
    cnas_status st = CNAS_OK;
    const char *cfg = cnas_ckpt_get_str(ck, "run.config", err);
    const char *fp = cfg ? cnas_ckpt_get_str(ck, "run.fingerprint", err) : NULL;
    int64_t kind = 0;
    if (!cfg || !fp || cnas_ckpt_get_i64(ck, "run.kind", &kind, err)) {
        st = err->code;
        goto out;
    }
    if (kind != h->spec->kind) {
        st = cnas_error_set(err, CNAS_ERR_CONFIG, "checkpoint %s belongs to a %s run, not a %s run",
                            h->spec->resume_from, kind == CNAS_RUN_SEARCH ? "search" : "training",
                            h->spec->kind == CNAS_RUN_SEARCH ? "search" : "training");
        goto out;
    }
    if (h->spec->config_text) {
        char *was = identity_text(cfg), *now = identity_text(h->spec->config_text);
        if (!was || !now)
            st = cnas_error_set(err, CNAS_ERR_NOMEM, "resume: out of memory");
        else if (strcmp(was, now) != 0) {
            char diff[512];
            first_difference(was, now, diff, sizeof diff);
            st = cnas_error_set(err, CNAS_ERR_CONFIG, "checkpoint %s was written with another "
                                "configuration (%s)", h->spec->resume_from, diff);
        }
        free(was);
        free(now);
        if (st)
            goto out;
    }
    if (h->spec->fingerprint && strcmp(fp, h->spec->fingerprint) != 0) {
        char diff[512];
        first_difference(fp, h->spec->fingerprint, diff, sizeof diff);
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "checkpoint %s was written with other plugin "
                            "versions (%s)", h->spec->resume_from, diff);
        goto out;
    }
    cnas_ckio io = cnas_ckio_get(ck, err);
    if ((st = cnas_ckio_space(&io, "space", h->spec->space_vt, h->env.space)) ||
        (st = search_data_load(&h->data, ck, err)) || (st = h->svt->load(h->strategy, ck, err)) ||
        (st = cnas_ckpt_get_i64(ck, "run.steps_done", steps_done, err)))
        goto out;
    int64_t ranks = 1;
    if (cnas_ckpt_has(ck, "run.ranks") && (st = cnas_ckpt_get_i64(ck, "run.ranks", &ranks, err)))
        goto out;
    if (ranks != cnas_dist_size() && writer())
        env_log(&h->env, CNAS_LOG_INFO, "resume: the checkpoint was written by %" PRId64 " rank%s, "
                "this run has %d; the state is the same, the steps from here are those of %d "
                "rank%s (docs/distributed.md)", ranks, ranks == 1 ? "" : "s", cnas_dist_size(),
                cnas_dist_size(), cnas_dist_size() == 1 ? "" : "s");
    /* Cut appended files back to what the checkpoint had seen: lines written after it
     * will be written again. */
    for (int i = 0; i < cnas_ckpt_count(ck); i++) {
        const char *name = cnas_ckpt_name_at(ck, i);
        if (strncmp(name, "run.size.", 9) != 0)
            continue;
        int64_t size;
        char path[4200];
        if ((st = cnas_ckpt_get_i64(ck, name, &size, err)))
            goto out;
        snprintf(path, sizeof path, "%s/%s", h->spec->run_dir, name + 9);
        appended_slot(h, name + 9);
        if (truncate(path, (off_t)size) != 0 && errno != ENOENT) {
            st = cnas_error_set(err, CNAS_ERR_IO, "resume: cannot truncate %s: %s", path,
                                strerror(errno));
            goto out;
        }
    }
out:
    cnas_ckpt_free(ck);
    return st;
}

/* ---- results ---------------------------------------------------------------------------- */

/* Render a .dot file with Graphviz when it is installed; silently skip otherwise. */
static void render_dot(const char *dot_path, const char *format)
{
    char out[4200];
    snprintf(out, sizeof out, "%.*s.%s", (int)(strlen(dot_path) - 4), dot_path, format);
    char fmt_arg[16];
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

/* Render every .dot drawing in the run directory: the space names its drawings (one
 * per cell type, one per cell, the whole network, ...) and the host draws them all. */
static void render_drawings(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || e->d_name[0] == '.' || strcmp(e->d_name + n - 4, ".dot") != 0)
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        render_dot(path, "png");
        render_dot(path, "svg");
    }
    closedir(d);
}

static cnas_status write_text_file(const char *path, const char *text, cnas_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return CNAS_OK;
}

/* The space's notation of an architecture; spaces without one get the selected
 * candidate of every choice point ("2,0,1,...", -1 for none or several). */
static cnas_status arch_text(host *h, const cnas_arch *arch, char *buf, size_t n, cnas_error *err)
{
    const cnas_space_vtable *vt = h->spec->space_vt;
    if (CNAS_VT_HAS(vt, format))
        return vt->format(h->env.space, arch, buf, n, err);
    size_t o = 0;
    buf[0] = '\0';
    for (int p = 0; p < arch->n_points && o < n; p++)
        o += (size_t)snprintf(buf + o, n - o, "%s%d", p ? "," : "", cnas_arch_single(arch, p));
    return CNAS_OK;
}

static cnas_status arch_cost(host *h, const cnas_arch *arch, int64_t *flops, int64_t *params,
                             cnas_error *err)
{
    const cnas_space_vtable *vt = h->spec->space_vt;
    *flops = *params = -1;
    if (!CNAS_VT_HAS(vt, cost))
        return CNAS_OK;
    return vt->cost(h->env.space, arch, flops, params, err);
}

static cnas_status write_answer(host *h, const cnas_arch *arch, cnas_error *err)
{
    const cnas_space_vtable *vt = h->spec->space_vt;
    char path[4200];
    cnas_status st = arch_text(h, arch, h->res->arch_text, sizeof h->res->arch_text, err);
    if (st)
        return st;
    snprintf(path, sizeof path, "%s/arch.txt", h->spec->run_dir);
    if ((st = write_text_file(path, h->res->arch_text, err)))
        return st;
    if (CNAS_VT_HAS(vt, write_json)) {
        snprintf(path, sizeof path, "%s/arch.json", h->spec->run_dir);
        FILE *f = fopen(path, "w");
        if (!f)
            return cnas_error_set(err, CNAS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        st = vt->write_json(h->env.space, arch, f, err);
        if (fclose(f) != 0 && !st)
            st = cnas_error_set(err, CNAS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        if (st)
            return st;
    }
    int n_files = 0;
    if (CNAS_VT_HAS(vt, write_dot) &&
        (st = vt->write_dot(h->env.space, arch, h->spec->run_dir, &n_files, err)))
        return st;
    if (writer())
        render_drawings(h->spec->run_dir);
    return arch_cost(h, arch, &h->res->flops, &h->res->params, err);
}

static cnas_status env_report_result(cnas_search_env *env, const cnas_result *r, cnas_error *err)
{
    host *h = host_of(env);
    /* Read only what the strategy's struct covers. */
    cnas_result res = {sizeof res, 0, NULL, NAN, NAN, -1, -1};
    memcpy(&res, r, r->size < sizeof res ? r->size : sizeof res);
    if (res.rank == 0) {
        h->res->score = res.score;
        if (res.arch) {
            cnas_status st = write_answer(h, res.arch, err);
            if (st)
                return st;
        }
    }
    if (!res.arch)
        return CNAS_OK;
    cnas_status st = CNAS_OK;
    if (res.flops < 0 || res.params < 0) {
        int64_t f, p;
        if ((st = arch_cost(h, res.arch, &f, &p, err)))
            return st;
        res.flops = res.flops < 0 ? f : res.flops;
        res.params = res.params < 0 ? p : res.params;
    }
    enum { TEXT_MAX = 1 << 16 };
    char *text = malloc(TEXT_MAX), *line = malloc(TEXT_MAX + 512);
    if (!text || !line) {
        free(text);
        free(line);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "ranking: out of memory");
    }
    if ((st = arch_text(h, res.arch, text, TEXT_MAX, err))) {
        free(text);
        free(line);
        return st;
    }
    /* One row per result: a multi-line notation (one line per cell) is joined with
     * spaces, which every space's parser reads back. */
    for (char *c = text; *c; c++)
        if (*c == '\n' || *c == '\t' || *c == '\r')
            *c = ' ';
    /* ranking.tsv: rank, score, then the other objectives and the architecture; the
     * header line is written with the first row. */
    int k = 0;
    if (res.rank == 0)
        k = snprintf(line, TEXT_MAX + 512, "rank\tscore\taccuracy\tflops\tparams\tarch\n");
    char acc[32];
    if (isnan(res.accuracy))
        snprintf(acc, sizeof acc, "nan");
    else
        snprintf(acc, sizeof acc, "%.6f", res.accuracy);
    snprintf(line + k, TEXT_MAX + 512 - (size_t)k, "%d\t%.6f\t%s\t%" PRId64 "\t%" PRId64 "\t%s\n",
             res.rank, res.score, acc, res.flops, res.params, text);
    st = env_append(env, "ranking.tsv", line, err);
    free(text);
    free(line);
    return st;
}

static cnas_status env_report(cnas_search_env *env, int rank, const cnas_arch *arch, double score,
                              cnas_error *err)
{
    cnas_result r = {sizeof r, rank, arch, score, NAN, -1, -1};
    return env_report_result(env, &r, err);
}

/* ---- the run ----------------------------------------------------------------------------- */

static cnas_status build_space_with(host *h, const cnas_params *params, cnas_space_build build,
                                    const cnas_arch *arch, cnas_rng *rng, void **out,
                                    cnas_error *err)
{
    const search_data *d = &h->data;
    cnas_space_create_args a = {sizeof a, params, d->channels, d->height, d->width,
                                d->num_classes, h->spec->ops, rng, build, arch};
    return h->spec->space_vt->create(&a, out, err);
}

static cnas_status build_space(host *h, cnas_space_build build, const cnas_arch *arch,
                               cnas_rng *rng, void **out, cnas_error *err)
{
    return build_space_with(h, h->spec->space_params, build, arch, rng, out, err);
}

static cnas_status env_create_network(cnas_search_env *env, const cnas_arch *arch,
                                      const char *init_stream, void **net, cnas_error *err)
{
    host *h = host_of(env);
    cnas_rng rng;
    cnas_rng_init(&rng, h->spec->seed, init_stream);
    const cnas_params *p = h->spec->network_params ? h->spec->network_params : h->spec->space_params;
    return build_space_with(h, p, CNAS_SPACE_NETWORK, arch, &rng, net, err);
}

/* ---- evaluating one architecture (evaluate_arch) ---------------------------------------- */

/* The batch-norm buffers of a space instance, copied so an evaluation can restore them. */
typedef struct buffer_copy {
    cnas_named_tensor *all;
    float **saved;
    int n;
} buffer_copy;

static void buffers_free(buffer_copy *b)
{
    for (int i = 0; b->saved && i < b->n; i++)
        free(b->saved[i]);
    free(b->saved);
    free(b->all);
    *b = (buffer_copy){0};
}

static cnas_status buffers_save(const cnas_space_vtable *vt, void *space, buffer_copy *b,
                                cnas_error *err)
{
    int n = vt->tensors(space, NULL, 0);
    b->all = malloc((size_t)(n > 0 ? n : 1) * sizeof *b->all);
    b->saved = calloc((size_t)(n > 0 ? n : 1), sizeof *b->saved);
    if (!b->all || !b->saved)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "evaluation: out of memory");
    b->n = vt->tensors(space, b->all, n);
    for (int i = 0; i < b->n; i++) {
        if (b->all[i].role != CNAS_ROLE_BUFFER)
            continue;
        const cnas_tensor *t = b->all[i].tensor;
        if (!(b->saved[i] = malloc(cnas_tensor_bytes(t))))
            return cnas_error_set(err, CNAS_ERR_NOMEM, "evaluation: out of memory");
        memcpy(b->saved[i], t->data, cnas_tensor_bytes(t));
    }
    return CNAS_OK;
}

static void buffers_restore(buffer_copy *b)
{
    for (int i = 0; i < b->n; i++)
        if (b->saved[i])
            memcpy(b->all[i].tensor->data, b->saved[i], cnas_tensor_bytes(b->all[i].tensor));
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Running statistics back to PyTorch's initial values (mean 0, variance 1). */
static void buffers_reset_stats(buffer_copy *b)
{
    for (int i = 0; i < b->n; i++) {
        if (b->all[i].role != CNAS_ROLE_BUFFER)
            continue;
        if (ends_with(b->all[i].name, "running_mean"))
            cnas_tensor_fill(b->all[i].tensor, 0.0f);
        else if (ends_with(b->all[i].name, "running_var"))
            cnas_tensor_fill(b->all[i].tensor, 1.0f);
    }
}

static cnas_status eval_passes(host *h, void *space, const cnas_arch_eval *e, double *loss,
                               double *acc, cnas_error *err)
{
    cnas_search_env *env = &h->env;
    bool cycle = e->stream == CNAS_STREAM_VAL_CYCLE || e->stream == CNAS_STREAM_TRAIN_CYCLE;
    if (cycle && e->max_batches <= 0)
        return cnas_error_set(err, CNAS_ERR_INVALID, "evaluate_arch: a cycling stream needs "
                              "max_batches > 0");
    cnas_status st;
    if (e->bn == CNAS_EVAL_BN_RECALIBRATE) {
        int k = e->recalibrate_batches > 0 ? e->recalibrate_batches : 50;
        for (int i = 0; i < k; i++) {
            cnas_graph_reset(h->eval_g);
            cnas_graph_set_grad_enabled(h->eval_g, false);
            cnas_tensor *x;
            const int32_t *y;
            int r = search_data_next(&h->data, CNAS_STREAM_TRAIN_CYCLE, h->eval_g, &x, &y, err);
            if (r <= 0)
                return r < 0 ? err->code : CNAS_OK;
            if (!cnas_path_logits(env, space, h->eval_g, x, e->arch, true))
                return cnas_error_set(err, cnas_graph_status(h->eval_g), "recalibration: %s",
                                      cnas_graph_error(h->eval_g)->msg);
        }
    }
    if (!cycle && (st = search_data_begin_pass(&h->data, e->stream, err)))
        return st;
    bool batch_stats = e->bn == CNAS_EVAL_BN_BATCH;
    double loss_sum = 0.0;
    int64_t correct = 0, seen = 0;
    for (int b = 0; e->max_batches <= 0 || b < e->max_batches; b++) {
        cnas_graph_reset(h->eval_g);
        cnas_graph_set_grad_enabled(h->eval_g, false);
        cnas_tensor *x;
        const int32_t *y;
        bool mine = b % cnas_dist_size() == cnas_dist_rank();
        int r = mine ? search_data_next(&h->data, e->stream, h->eval_g, &x, &y, err)
                     : search_data_skip(&h->data, e->stream, err);
        if (r < 0)
            return err->code;
        if (r == 0)
            break;
        if (!mine)
            continue;
        cnas_tensor *logits = cnas_path_logits(env, space, h->eval_g, x, e->arch, batch_stats);
        cnas_tensor *l = logits ? cnas_cross_entropy(h->eval_g, logits, y, 0.0f) : NULL;
        if (!l)
            return cnas_error_set(err, cnas_graph_status(h->eval_g), "evaluation: %s",
                                  cnas_graph_error(h->eval_g)->msg);
        correct += cnas_count_correct(logits, y);
        loss_sum += (double)l->data[0] * (double)x->shape[0];
        seen += x->shape[0];
    }
    return combine_eval(loss_sum, correct, seen, loss, acc, err);
}

static cnas_status env_evaluate_arch(cnas_search_env *env, const cnas_arch_eval *req, double *loss,
                                     double *accuracy, cnas_error *err)
{
    host *h = host_of(env);
    cnas_arch_eval e = {sizeof e, NULL, NULL, CNAS_STREAM_VAL, 0, CNAS_EVAL_BN_RUNNING, 0};
    memcpy(&e, req, req->size < sizeof e ? req->size : sizeof e);
    void *space = e.space ? e.space : env->space;
    /* Whole batches per rank here: batch norm uses each batch's own statistics. */
    bool synced = cnas_dist_sync_batch_stats(false);
    buffer_copy b = {0};
    cnas_status st = buffers_save(h->spec->space_vt, space, &b, err);
    if (!st) {
        if (e.bn == CNAS_EVAL_BN_RECALIBRATE)
            buffers_reset_stats(&b);
        st = eval_passes(h, space, &e, loss, accuracy, err);
        buffers_restore(&b);
    }
    cnas_dist_sync_batch_stats(synced);
    buffers_free(&b);
    cnas_graph_reset(h->eval_g);
    cnas_graph_set_grad_enabled(h->eval_g, true);
    return st;
}

static cnas_status env_create_supernet(cnas_search_env *env, const char *init_stream, void **space,
                                       cnas_error *err)
{
    host *h = host_of(env);
    cnas_rng rng;
    cnas_rng_init(&rng, h->spec->seed, init_stream);
    return build_space(h, CNAS_SPACE_SUPERNET, NULL, &rng, space, err);
}

cnas_status cnas_run(const cnas_run_spec *spec, cnas_run_result *result, cnas_error *err)
{
    host h;
    memset(&h, 0, sizeof h);
    cnas_search_env *env = &h.env;
    memset(result, 0, sizeof *result);
    result->score = NAN;
    h.spec = spec;
    h.res = result;
    h.svt = spec->strategy_vt ? spec->strategy_vt : cnas_trainer_vtable();
    cnas_status st;
    if (spec->kind == CNAS_RUN_TRAIN && !spec->arch)
        return cnas_error_set(err, CNAS_ERR_INVALID, "training needs an architecture");
    search_data_options dopt = {spec->eval_batch_size, spec->augment, spec->prefetch,
                                spec->drop_last, !spec->plain_val_cycle, spec->epoch_samples};
    if ((st = search_data_init(&h.data, spec->data, spec->train, &dopt, spec->seed, err)))
        return st;
    cnas_dist_set_data_parallel(spec->data_parallel);
    if (!(h.eval_g = cnas_graph_new(err))) {
        st = err->code;
        goto out;
    }
    if (!(h.steps = cnas_metrics_open(spec->run_dir, "steps", err)) ||
        !(h.epochs = cnas_metrics_open(spec->run_dir, "epochs", err))) {
        st = err->code;
        goto out;
    }
    appended_slot(&h, "steps.jsonl");
    appended_slot(&h, "steps.csv");
    appended_slot(&h, "epochs.jsonl");
    appended_slot(&h, "epochs.csv");
    appended_slot(&h, "ranking.tsv"); /* results reported before a stop are written again */
    snprintf(h.ckpt_path, sizeof h.ckpt_path, "%s/checkpoint.ckpt", spec->run_dir);

    env->size = sizeof *env;
    env->space_vt = spec->space_vt;
    env->in_channels = h.data.channels;
    env->in_height = h.data.height;
    env->in_width = h.data.width;
    env->num_classes = h.data.num_classes;
    env->train = spec->train;
    env->seed = spec->seed;
    env->run_dir = spec->run_dir;
    env->create_supernet = env_create_supernet;
    env->begin_epoch = env_begin_epoch;
    env->next_batch = env_next_batch;
    env->batches_per_epoch = env_batches_per_epoch;
    env->evaluate = env_evaluate;
    env->log = env_log;
    env->metric = env_metric;
    env->end_step = env_end_step;
    env->end_epoch = env_end_epoch;
    env->append = env_append;
    env->checkpoint_point = env_checkpoint_point;
    env->stop_requested = env_stop_requested;
    env->report = env_report;
    env->host = &h;
    env->create_network = env_create_network;
    env->evaluate_arch = env_evaluate_arch;
    env->report_result = env_report_result;

    cnas_rng_init(&h.init_rng, spec->seed, "init");
    st = build_space(&h, spec->kind == CNAS_RUN_SEARCH ? CNAS_SPACE_SUPERNET : CNAS_SPACE_NETWORK,
                     spec->arch, &h.init_rng, &env->space, err);
    if (st) {
        env->space = NULL;
        goto out;
    }
    if ((st = h.svt->create(spec->strategy_params, env, &h.strategy, err))) {
        h.strategy = NULL;
        goto out;
    }
    int64_t done = 0;
    if (spec->resume_from && (st = resume(&h, &done, err)))
        goto out;
    h.steps_done = h.step0 = done;
    h.steps_total = (int64_t)spec->train->epochs * h.data.batches_per_epoch;
    h.t_start = h.t_last_line = h.last_ckpt_time = now_seconds();
    st = h.svt->run(h.strategy, err);
    if (!st && spec->kind == CNAS_RUN_TRAIN && CNAS_VT_HAS(spec->space_vt, cost))
        st = spec->space_vt->cost(env->space, NULL, &result->flops, &result->params, err);
    if (!st && spec->kind == CNAS_RUN_TRAIN && spec->arch_text)
        snprintf(result->arch_text, sizeof result->arch_text, "%s", spec->arch_text);
out:
    if (h.strategy)
        h.svt->destroy(h.strategy);
    if (env->space)
        spec->space_vt->destroy(env->space);
    cnas_metrics_close(h.steps);
    cnas_metrics_close(h.epochs);
    cnas_graph_free(h.eval_g);
    search_data_free(&h.data);
    cnas_dist_set_data_parallel(false);
    return st;
}
