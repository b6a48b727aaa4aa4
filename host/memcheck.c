/* How much memory a run needs, measured before it starts, against what the machine has.
 *
 * The model (docs/config.md, [run] memory_check):
 *   parameters   every trainable element 12 bytes (weight, gradient, momentum), every
 *                other tensor of the space (batch-norm statistics) 4 bytes;
 *   activations  the step arena of one training step (forward and backward) at the
 *                configured batch size plus that of one evaluation pass at the
 *                evaluation batch size: the strategy's graph and the host's evaluation
 *                graph each keep their arena for the whole run (measured: a DARTS
 *                search's peak falls by the evaluation arena with eval_every = 0);
 *                a search runs the supernet as a
 *                mixture of all its candidates (uniform weights) or, for a strategy
 *                that says it trains single paths, one sampled path; a training run
 *                the network of its architecture; backward recycles intermediate
 *                gradients where the run does (the trainer, strategies that say so);
 *   copies       what the strategy says it keeps (its `memory` member, ABI 1.3):
 *                several supernets (12 bytes a parameter each) and buffers the
 *                size of the weights (4 bytes a parameter each).
 * Both are measured on instances of the space built for the purpose. Where the space
 * has an integer key init_channels (the toolkit's width key), they are built at small
 * widths only and the results extrapolated: parameter counts are exactly quadratic in
 * the width (fitted at three widths, checked at a fourth), activations linear (every
 * activation's channels scale with it). So a supernet of tens of gigabytes is refused
 * without allocating it. A space without that key is built once as configured.
 * Not counted: the dataset (already in memory when the check runs, so the machine's
 * available memory has it), a strategy's small state (architecture parameters, a
 * generator), per-thread scratch buffers. */
#include "host.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define PROBE_BATCH 2

/* The space's parameters with init_channels = width. */
static cnas_status params_with_width(const session *s, const cnas_params *base, int64_t width,
                                     cnas_params **out, cnas_error *err)
{
    int n = cnas_params_count(base);
    const char **keys = calloc((size_t)(n ? n : 1), sizeof *keys);
    const char **values = calloc((size_t)(n ? n : 1), sizeof *values);
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)width);
    cnas_status st;
    if (!keys || !values) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, "out of memory");
    } else {
        for (int i = 0; i < n; i++) {
            keys[i] = cnas_params_key_at(base, i);
            values[i] = strcasecmp(keys[i], "init_channels") == 0 ? text
                                                                  : cnas_params_text_at(base, i);
        }
        st = cnas_params_resolve(s->space_c->params, (int)s->space_c->n_params,
                                 "memory estimate", keys, values, n, out, err);
    }
    free(keys);
    free(values);
    return st;
}

typedef struct probe {
    double params, others;     /* trainable elements; other tensor elements */
    double train, eval;        /* step arena bytes at PROBE_BATCH */
    bool stepped;
} probe;

/* The space's forward at PROBE_BATCH, training (with a backward) or evaluating. */
static cnas_status probe_step(const cnas_space_vtable *vt, void *self, cnas_space_build build,
                              const cnas_arch *arch, const cnas_space_create_args *a,
                              bool single_path, bool release_grads, bool training, double *peak,
                              cnas_error *err)
{
    cnas_graph *g = cnas_graph_new(err);
    if (!g)
        return err->code;
    cnas_tensor *x = cnas_tensor_new(4, (int64_t[]){PROBE_BATCH, a->in_channels, a->in_height,
                                                    a->in_width}, err);
    cnas_status st = x ? CNAS_OK : err->code;
    cnas_mix_weight *mix = NULL;
    cnas_tensor **w = NULL;
    cnas_arch *sampled = NULL;
    int n_points = 0;
    if (!st) {
        cnas_tensor_fill(x, 0.5f);
        cnas_graph_set_grad_enabled(g, training);
        cnas_graph_set_release_grads(g, release_grads);
    }
    cnas_space_forward_args fa = {sizeof fa, CNAS_FWD_PATH, NULL, arch, training, NULL, 0.f, NULL};
    cnas_tensor *aux = NULL;
    if (!st && build == CNAS_SPACE_SUPERNET && !single_path && CNAS_VT_HAS(vt, choice_points)) {
        /* A mixture of every candidate, the largest a supernet's step gets. */
        const cnas_choice_point *pts;
        n_points = vt->choice_points(self, &pts);
        mix = calloc((size_t)(n_points ? n_points : 1), sizeof *mix);
        w = calloc((size_t)(n_points ? n_points : 1), sizeof *w);
        if (!mix || !w)
            st = cnas_error_set(err, CNAS_ERR_NOMEM, "out of memory");
        for (int p = 0; !st && p < n_points; p++) {
            int64_t k = pts[p].n_candidates > 0 ? pts[p].n_candidates : 1;
            if (!(w[p] = cnas_tensor_new(1, (int64_t[]){k}, err))) {
                st = err->code;
                break;
            }
            cnas_tensor_fill(w[p], 1.0f / (float)k);
            cnas_tensor_set_requires_grad(w[p], training);
            mix[p] = (cnas_mix_weight){w[p], 0};
        }
        fa.mode = CNAS_FWD_MIXTURE;
        fa.weights = mix;
        fa.arch = NULL;
    } else if (!st && build == CNAS_SPACE_NETWORK) {
        fa.aux_logits = &aux;
    }
    bool path = build == CNAS_SPACE_SUPERNET && single_path;
    cnas_tensor *logits = st || path ? NULL : vt->forward(self, g, x, &fa);
    if (!st && !logits && build == CNAS_SPACE_SUPERNET && CNAS_VT_HAS(vt, sample) &&
        CNAS_VT_HAS(vt, choice_points)) {
        /* A single-path strategy, or a space without mixtures: a sampled path. */
        cnas_graph_reset(g);
        cnas_rng rng;
        cnas_rng_init(&rng, 0, "memory estimate");
        const cnas_choice_point *pts;
        if (!(sampled = cnas_arch_new(vt->choice_points(self, &pts), err)) ||
            vt->sample(self, &rng, sampled, err)) {
            st = err->code;
        } else {
            fa = (cnas_space_forward_args){sizeof fa, CNAS_FWD_PATH, NULL, sampled, training,
                                           NULL, 0.f, NULL};
            logits = vt->forward(self, g, x, &fa);
        }
    }
    if (!st && !logits)
        st = cnas_error_set(err, cnas_graph_status(g) ? cnas_graph_status(g) : CNAS_ERR_INTERNAL,
                            "%s", cnas_graph_error(g)->msg);
    if (!st && training) {
        int32_t labels[PROBE_BATCH] = {0};
        cnas_tensor *loss = cnas_cross_entropy(g, logits, labels, 0.f);
        st = loss ? cnas_backward(g, loss) : cnas_graph_status(g);
        if (st)
            cnas_error_set(err, st, "%s", cnas_graph_error(g)->msg);
    }
    if (!st)
        *peak = (double)cnas_graph_peak_bytes(g);
    cnas_graph_free(g);
    cnas_tensor_free(x);
    for (int p = 0; w && p < n_points; p++)
        cnas_tensor_free(w[p]);
    free(w);
    free(mix);
    cnas_arch_free(sampled);
    return st;
}

/* Build the space with `params`; count its tensors and, when asked, measure a step. */
static cnas_status measure(const session *s, const cnas_params *params, cnas_space_build build,
                           const cnas_arch *arch, const int dims[4], bool single_path,
                           bool release, bool step, probe *out, cnas_error *err)
{
    const cnas_space_vtable *vt = s->space_c->vtable;
    cnas_op_factory ops = cnas_registry_op_factory(s->reg);
    cnas_rng rng;
    cnas_rng_init(&rng, 0, "memory estimate");
    cnas_space_create_args a = {sizeof a, params, dims[0], dims[1], dims[2], dims[3], &ops, &rng,
                                build, arch};
    void *self = NULL;
    cnas_status st = vt->create(&a, &self, err);
    if (st)
        return st;
    memset(out, 0, sizeof *out);
    int n = vt->tensors(self, NULL, 0);
    cnas_named_tensor *t = n > 0 ? calloc((size_t)n, sizeof *t) : NULL;
    if (n > 0 && !t) {
        vt->destroy(self);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "out of memory");
    }
    n = n > 0 ? vt->tensors(self, t, n) : 0;
    for (int i = 0; i < n; i++) {
        if (!t[i].tensor)
            continue;
        if (t[i].role == CNAS_ROLE_PARAM) {
            out->params += (double)t[i].tensor->numel;
            if (step)
                cnas_tensor_set_requires_grad(t[i].tensor, true);
        } else {
            out->others += (double)t[i].tensor->numel;
        }
    }
    if (step) {
        st = probe_step(vt, self, build, arch, &a, single_path, release, true, &out->train, err);
        if (!st)
            st = probe_step(vt, self, build, arch, &a, single_path, release, false, &out->eval,
                            err);
        out->stepped = !st;
    }
    free(t);
    vt->destroy(self);
    return st;
}

/* The quadratic through (1, f1), (2, f2), (3, f3) at x. */
static double quadratic(double f1, double f2, double f3, double x)
{
    return f1 * (x - 2) * (x - 3) / 2 - f2 * (x - 1) * (x - 3) + f3 * (x - 1) * (x - 2) / 2;
}

static bool has_width_key(const session *s)
{
    for (uint32_t i = 0; i < s->space_c->n_params; i++)
        if (strcasecmp(s->space_c->params[i].key, "init_channels") == 0 &&
            s->space_c->params[i].type == CNAS_PARAM_INT)
            return true;
    return false;
}

/* Fills e from `params` on: the model, measured. sm: NULL for a training run. */
static cnas_status estimate(const session *s, const cnas_params *space_params,
                            cnas_space_build build, const cnas_arch *arch,
                            const cnas_strategy_memory *sm, const int dims[4], double limit,
                            host_mem_estimate *e, cnas_error *err)
{
    bool path = sm && sm->single_path;
    /* A training run's trainer recycles gradients (trainer.c); a search as its strategy says. */
    bool release = sm ? sm->releases_grads : true;
    double sets = sm ? sm->supernets : 1, copies = sm ? sm->weight_copies : 0;
    e->single_path = path;
    e->supernets = sets;
    e->weight_copies = copies;
    int64_t width = has_width_key(s) ? cnas_params_int(space_params, "init_channels") : 0;
    const int64_t unit = 1; /* probe widths unit, 2 unit, 3 unit; checked at 4 unit */
    probe p[4];
    cnas_status st;
    if (width <= 4 * unit) {
        /* Small enough (or no width key): the configured instance itself. */
        if ((st = measure(s, space_params, build, arch, dims, path, release, true, &p[0], err)))
            return st;
        e->params = p[0].params;
        e->param_bytes = sets * (12.0 * p[0].params + 4.0 * p[0].others) +
                         copies * 4.0 * p[0].params;
        e->train_per_image = p[0].train / PROBE_BATCH;
        e->eval_per_image = p[0].eval / PROBE_BATCH;
    } else {
        e->extrapolated = true;
        e->width = width;
        for (int k = 0; k < 4; k++) {
            cnas_params *pp = NULL;
            if ((st = params_with_width(s, space_params, (k + 1) * unit, &pp, err)))
                return st;
            /* Steps only where the activations are fitted (the first two widths), and
             * only once the parameters alone leave room for them. */
            st = measure(s, pp, build, arch, dims, path, release, false, &p[k], err);
            cnas_params_free(pp);
            if (st)
                return st;
        }
        double x = (double)width / (double)unit;
        double want = quadratic(p[0].params, p[1].params, p[2].params, 4);
        double want_o = quadratic(p[0].others, p[1].others, p[2].others, 4);
        if (fabs(want - p[3].params) > 0.5 || fabs(want_o - p[3].others) > 0.5)
            return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "the size of space '%s' is not "
                                  "quadratic in init_channels (%.0f parameters predicted at "
                                  "init_channels = %lld, %.0f built)", s->space_c->name, want,
                                  (long long)(4 * unit), p[3].params);
        e->params = quadratic(p[0].params, p[1].params, p[2].params, x);
        e->param_bytes = sets * (12.0 * e->params + 4.0 * quadratic(p[0].others, p[1].others,
                                                                   p[2].others, x)) +
                         copies * 4.0 * e->params;
        if (e->param_bytes > limit)
            return CNAS_OK; /* refused on the parameters alone: no step needed */
        for (int k = 0; k < 2; k++) {
            cnas_params *pp = NULL;
            if ((st = params_with_width(s, space_params, (k + 1) * unit, &pp, err)))
                return st;
            st = measure(s, pp, build, arch, dims, path, release, true, &p[k], err);
            cnas_params_free(pp);
            if (st)
                return st;
        }
        /* Linear in the width through the two measured points (never below them). */
        double t = p[0].train + (p[1].train - p[0].train) * (x - 1);
        double v = p[0].eval + (p[1].eval - p[0].eval) * (x - 1);
        e->train_per_image = fmax(t, p[1].train) / PROBE_BATCH;
        e->eval_per_image = fmax(v, p[1].eval) / PROBE_BATCH;
    }
    e->activation_bytes = e->train_per_image * e->batch + e->eval_per_image * e->eval_batch;
    e->stepped = true;
    return CNAS_OK;
}

/* The strategy's memory model, or one supernet run as a mixture without one. */
static cnas_status strategy_memory(const session *s, cnas_strategy_memory *sm, cnas_error *err)
{
    *sm = (cnas_strategy_memory){sizeof *sm, false, 1, 0, false};
    const cnas_strategy_vtable *vt = s->strategy_c ? s->strategy_c->vtable : NULL;
    if (!vt || !CNAS_VT_HAS(vt, memory))
        return CNAS_OK;
    cnas_status st = vt->memory(s->strategy, sm, err);
    if (st)
        return cnas_error_prefix(err, "%s: [strategy] %s", cnas_ini_name(s->ini),
                                 s->strategy_c->name);
    if (sm->size != sizeof *sm || !(sm->supernets >= 1 && sm->supernets <= 1e6) ||
        !(sm->weight_copies >= 0 && sm->weight_copies <= 1e6))
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "strategy '%s' (plugin %s) describes its "
                              "memory as %g supernets and %g weight copies (size %u); expected 1 "
                              "to 1e6 supernets, 0 to 1e6 copies and the size the host set",
                              s->strategy_c->name, s->strategy_p->name, sm->supernets,
                              sm->weight_copies, (unsigned)sm->size);
    /* A single path needs the space to draw one; without `sample` the strategy cannot
     * run anyway, and the mixture is the safe side. */
    const cnas_space_vtable *space_vt = s->space_c->vtable;
    if (sm->single_path && !CNAS_VT_HAS(space_vt, sample))
        sm->single_path = false;
    return CNAS_OK;
}

cnas_status host_memory_estimate(const session *s, cnas_run_kind kind, const cnas_arch *arch,
                                 const int dims[4], double limit, host_mem_estimate *e,
                                 cnas_error *err)
{
    memset(e, 0, sizeof *e);
    e->search = kind == CNAS_RUN_SEARCH;
    e->batch = (int)cnas_params_int(s->train, "batch_size");
    e->eval_batch = (int)cnas_params_int(s->data, "eval_batch_size");
    cnas_strategy_memory sm;
    cnas_status st = e->search ? strategy_memory(s, &sm, err) : CNAS_OK;
    if (st)
        return st;
    st = estimate(s, s->space, e->search ? CNAS_SPACE_SUPERNET : CNAS_SPACE_NETWORK,
                  e->search ? NULL : arch, e->search ? &sm : NULL, dims, limit, e, err);
    e->unmeasured = st != CNAS_OK;
    return st;
}

static double read_number_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[64] = "";
    char *ok = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!ok)
        return -1;
    char *end;
    double v = strtod(buf, &end);
    return end == buf ? -1 : v; /* "max" (no limit) reads as -1 */
}

void host_machine_memory(double *total, double *available)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    *total = pages > 0 && size > 0 ? (double)pages * (double)size : 0;
    *available = -1;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "MemAvailable:", 13) == 0) {
                *available = strtod(line + 13, NULL) * 1024.0;
                break;
            }
        fclose(f);
    }
    if (*available < 0) {
        long av = sysconf(_SC_AVPHYS_PAGES);
        *available = av > 0 && size > 0 ? (double)av * (double)size : *total;
    }
    /* A container's limit (cgroup v2, then v1) is the machine as far as the run goes. */
    double lim = read_number_file("/sys/fs/cgroup/memory.max");
    double used = read_number_file("/sys/fs/cgroup/memory.current");
    if (lim < 0) {
        lim = read_number_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
        used = read_number_file("/sys/fs/cgroup/memory/memory.usage_in_bytes");
    }
    if (lim > 0 && (*total <= 0 || lim < *total)) {
        *total = lim;
        if (used >= 0 && lim - used < *available)
            *available = lim - used > 0 ? lim - used : 0;
    }
}

void host_format_bytes(double b, char *buf, size_t n)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (b >= 1024.0 && u < 6) {
        b /= 1024.0;
        u++;
    }
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

void host_format_count(double v, char *buf, size_t n)
{
    if (v >= 1e9)
        snprintf(buf, n, "%.1f G", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, n, "%.2f M", v / 1e6);
    else
        snprintf(buf, n, "%.0f", v);
}

void host_memory_describe(const host_mem_estimate *e, char *what, size_t n)
{
    bool search = e->search;
    char par_s[32], act_s[32], count[32], sets[96] = "";
    const char *net = search ? "supernet" : "network";
    host_format_bytes(e->param_bytes, par_s, sizeof par_s);
    host_format_bytes(e->activation_bytes, act_s, sizeof act_s);
    host_format_count(e->params, count, sizeof count);
    if (search && (e->supernets != 1 || e->weight_copies > 0))
        snprintf(sets, sizeof sets, ", %g supernets and %g weight copies", e->supernets,
                 e->weight_copies);
    if (e->stepped)
        snprintf(what, n, "%s parameters of the %s (%s for weights, gradients and momentum%s) "
                 "and %s of activations (a training step of %d images and an evaluation pass "
                 "of %d%s)%s", count, net, par_s, sets, act_s, e->batch, e->eval_batch,
                 !search ? "" : e->single_path ? ", one sampled path" : ", every candidate mixed",
                 e->extrapolated ? "; extrapolated from small widths" : "");
    else
        snprintf(what, n, "%s parameters of the %s: %s for weights, gradients and momentum%s "
                 "alone%s", count, net, par_s, sets,
                 e->extrapolated ? "; extrapolated from small widths" : "");
}

cnas_status host_memory_check(const session *s, cnas_run_kind kind, const cnas_dataset_info *in,
                              const cnas_arch *arch, cnas_error *err)
{
    double total, available;
    host_machine_memory(&total, &available);
    if (total <= 0)
        return CNAS_OK; /* nothing to compare with */
    const double refuse_share = 0.9;
    int dims[4] = {in->channels, in->height, in->width, in->num_classes};
    bool search = kind == CNAS_RUN_SEARCH;
    host_mem_estimate e;
    cnas_error why;
    cnas_status st = host_memory_estimate(s, kind, arch, dims, refuse_share * total, &e, &why);
    if (st && !e.unmeasured) {
        *err = why; /* the strategy's answer is wrong: a plugin error */
        return st;
    }
    if (st) {
        cnas_log(2, "memory check skipped: %s", why.msg);
        return CNAS_OK;
    }
    double need = e.param_bytes + e.activation_bytes;
    char need_s[32], tot_s[32], av_s[32], what[640];
    host_format_bytes(need, need_s, sizeof need_s);
    host_format_bytes(total, tot_s, sizeof tot_s);
    host_format_bytes(available, av_s, sizeof av_s);
    host_memory_describe(&e, what, sizeof what);
    cnas_log(3, "memory estimate: %s (%s); machine: %s, %s available", need_s, what, tot_s, av_s);
    if (need > refuse_share * total)
        return cnas_error_set(err, CNAS_ERR_CONFIG, "%s: this %s needs an estimated %s of memory "
                              "(%s); this machine has %s (%s available). Reduce [space] "
                              "init_channels or layers, or the batch sizes ([train] batch_size, "
                              "[data] eval_batch_size); [run] memory_check = false runs it "
                              "anyway", cnas_ini_name(s->ini),
                              search ? "search" : "training", need_s, what, tot_s, av_s);
    if (need > available)
        cnas_log(1, "this %s needs an estimated %s of memory (%s), more than the %s available "
                 "now (of %s): it may swap or be stopped by the system", search ? "search"
                 : "training", need_s, what, av_s, tot_s);
    return CNAS_OK;
}
