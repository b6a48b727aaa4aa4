/* The host services appended in ABI 1.1, driven by a strategy written in this file
 * and run through cnas_run on a small DARTS supernet over synthetic data:
 * create_network, evaluate_arch in its three batch-norm modes (none of which may
 * change the supernet's running statistics), report_result with every objective,
 * and the TRAIN_CYCLE stream, which must never move the epoch's TRAIN pass. */
#include "plugin_fixture.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include <cnas/kit.h>

typedef struct fx {
    const cnas_dataset_vtable *dvt;
    void *dataset;
    cnas_params *dparams, *sparams;
    cnas_data *data;
    cnas_component_list ops;
    cnas_op_factory factory;
    const cnas_space_vtable *space_vt;
    cnas_train_settings train;
} fx;

static void fx_setup(fx *f)
{
    memset(f, 0, sizeof *f);
    const cnas_plugin_desc *ops = pf_load("DARTS_OPS_SO");
    const cnas_plugin_desc *space = pf_load("DARTS_CELL_SO");
    const cnas_plugin_desc *synth = pf_load("SYNTH_SO");
    const cnas_component *dc = pf_component(synth, CNAS_KIND_DATASET, "synthetic");
    const cnas_component *sc = pf_component(space, CNAS_KIND_SPACE, "darts_cell");
    f->dvt = dc->vtable;
    f->space_vt = sc->vtable;
    f->dparams = pf_params(dc, 5, (const char *[]){"channels=1", "size=8", "classes=4",
                                                   "n_train=64", "n_test=16"});
    f->sparams = pf_params(sc, 3, (const char *[]){"init_channels=2", "layers=2", "nodes=2"});
    cnas_error err;
    ck_assert_msg(f->dvt->open(f->dparams, &f->dataset, &err) == CNAS_OK, "%s", err.msg);
    cnas_data_config cfg = {.train_portion = 0.5, .normalize = true};
    f->data = cnas_data_open(f->dvt, f->dataset, &cfg, &err);
    ck_assert_msg(f->data != NULL, "%s", err.msg);
    f->ops = (cnas_component_list){ops->components, (int)ops->n_components};
    f->factory = cnas_op_factory_from_list(&f->ops);
    f->train = (cnas_train_settings){.size = sizeof f->train, .epochs = 1, .batch_size = 8,
                                     .lr = 0.1f, .lr_min = 0.001f, .momentum = 0.9f};
}

static void fx_teardown(fx *f)
{
    cnas_data_close(f->data);
    f->dvt->close(f->dataset);
    cnas_params_free(f->dparams);
    cnas_params_free(f->sparams);
}

/* ---- the probing strategy -------------------------------------------------------------- */

typedef enum { PROBE_SERVICES, PROBE_TRAIN_ONLY, PROBE_TRAIN_AFTER_CYCLE } probe_kind;
static probe_kind probe;
static float first_train_batch[8 * 64];

typedef struct probe_state {
    cnas_search_env *env;
} probe_state;

static cnas_status probe_create(const cnas_params *p, cnas_search_env *env, void **self,
                                cnas_error *err)
{
    (void)p;
    probe_state *s = calloc(1, sizeof *s);
    if (!s)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "probe: out of memory");
    s->env = env;
    *self = s;
    return CNAS_OK;
}

static void probe_destroy(void *self) { free(self); }
static cnas_status probe_io(void *self, cnas_ckpt *ck, cnas_error *err) { return CNAS_OK; }
static cnas_status probe_load(void *self, const cnas_ckpt *ck, cnas_error *err) { return CNAS_OK; }

/* A copy of every running-statistics buffer of the supernet. */
static float *buffers_of(cnas_search_env *env, size_t *n)
{
    cnas_named_tensor all[2048];
    int k = env->space_vt->tensors(env->space, all, 2048);
    ck_assert_int_le(k, 2048);
    size_t total = 0;
    for (int i = 0; i < k; i++)
        total += all[i].role == CNAS_ROLE_BUFFER ? (size_t)all[i].tensor->numel : 0;
    float *out = malloc(total * sizeof *out), *o = out;
    for (int i = 0; i < k; i++)
        if (all[i].role == CNAS_ROLE_BUFFER) {
            memcpy(o, all[i].tensor->data, cnas_tensor_bytes(all[i].tensor));
            o += all[i].tensor->numel;
        }
    *n = total;
    return out;
}

static void check_services(cnas_search_env *env)
{
    cnas_error err;
    ck_assert_uint_ge(env->size, sizeof *env);
    const cnas_choice_point *pts;
    int n = env->space_vt->choice_points(env->space, &pts);
    cnas_arch *a = cnas_arch_new(n, &err);
    cnas_rng rng;
    cnas_rng_init(&rng, 3, "probe");
    ck_assert_int_eq(env->space_vt->sample(env->space, &rng, a, &err), CNAS_OK);

    /* create_network: the stand-alone network of a, costed like space->cost(a). */
    void *net;
    ck_assert_msg(env->create_network(env, a, "init.probe", &net, &err) == CNAS_OK, "%s", err.msg);
    int64_t f1, p1, f2, p2;
    ck_assert_int_eq(env->space_vt->cost(net, NULL, &f1, &p1, &err), CNAS_OK);
    ck_assert_int_eq(env->space_vt->cost(env->space, a, &f2, &p2, &err), CNAS_OK);
    ck_assert_int_eq(f1, f2);
    ck_assert_int_eq(p1, p2);

    /* evaluate_arch in every batch-norm mode leaves the running statistics alone. */
    size_t nb, nb2;
    float *before = buffers_of(env, &nb);
    ck_assert_uint_gt(nb, 0);
    double loss[3], acc[3];
    cnas_eval_bn modes[3] = {CNAS_EVAL_BN_RUNNING, CNAS_EVAL_BN_BATCH, CNAS_EVAL_BN_RECALIBRATE};
    for (int m = 0; m < 3; m++) {
        cnas_arch_eval e = {sizeof e, NULL, a, CNAS_STREAM_VAL, 0, modes[m], 3};
        ck_assert_msg(env->evaluate_arch(env, &e, &loss[m], &acc[m], &err) == CNAS_OK, "%s",
                      err.msg);
        ck_assert(acc[m] >= 0.0 && acc[m] <= 1.0 && isfinite(loss[m]));
        float *after = buffers_of(env, &nb2);
        ck_assert_mem_eq(after, before, nb * sizeof *before);
        free(after);
    }
    /* Fresh running statistics (0, 1) and batch statistics are different normalisations. */
    ck_assert(loss[0] != loss[1]);
    ck_assert(loss[0] != loss[2]);
    /* The network instance is evaluated the same way, and a cycling stream needs a count. */
    cnas_arch_eval en = {sizeof en, net, NULL, CNAS_STREAM_VAL_CYCLE, 2, CNAS_EVAL_BN_BATCH, 0};
    ck_assert_msg(env->evaluate_arch(env, &en, &loss[0], &acc[0], &err) == CNAS_OK, "%s", err.msg);
    en.max_batches = 0;
    ck_assert_int_eq(env->evaluate_arch(env, &en, &loss[0], &acc[0], &err), CNAS_ERR_INVALID);
    free(before);
    env->space_vt->destroy(net);

    /* report_result: every objective in ranking.tsv, costs filled in by the host. */
    cnas_result r = {sizeof r, 0, a, 0.5, 0.25, -1, -1};
    ck_assert_msg(env->report_result(env, &r, &err) == CNAS_OK, "%s", err.msg);
    r.rank = 1;
    r.flops = 7;
    r.params = 9;
    ck_assert_int_eq(env->report_result(env, &r, &err), CNAS_OK);
    cnas_arch_free(a);
    char path[600], line[512];
    snprintf(path, sizeof path, "%s/ranking.tsv", env->run_dir);
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_str_eq(line, "rank\tscore\taccuracy\tflops\tparams\tarch\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    long long fl, pa;
    ck_assert_int_eq(sscanf(line, "0\t0.500000\t0.250000\t%lld\t%lld\tGenotype(", &fl, &pa), 2);
    ck_assert_int_eq(fl, f2);
    ck_assert_int_eq(pa, p2);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_msg(strncmp(line, "1\t0.500000\t0.250000\t7\t9\tGenotype(", 33) == 0, "%s", line);
    fclose(fp);
}

static cnas_status probe_run(void *self, cnas_error *err)
{
    probe_state *s = self;
    cnas_search_env *env = s->env;
    if (probe == PROBE_SERVICES) {
        check_services(env);
        return CNAS_OK;
    }
    cnas_graph *g = cnas_graph_new(err);
    cnas_tensor *x;
    const int32_t *y;
    ck_assert_int_eq(env->begin_epoch(env, 0, err), CNAS_OK);
    for (int i = 0; probe == PROBE_TRAIN_AFTER_CYCLE && i < 5; i++) /* wraps the split too */
        ck_assert_int_eq(env->next_batch(env, CNAS_STREAM_TRAIN_CYCLE, g, &x, &y, err), 1);
    ck_assert_int_eq(env->next_batch(env, CNAS_STREAM_TRAIN, g, &x, &y, err), 1);
    ck_assert_int_eq(x->numel, 8 * 64);
    if (probe == PROBE_TRAIN_ONLY)
        memcpy(first_train_batch, x->data, sizeof first_train_batch);
    else
        ck_assert_mem_eq(first_train_batch, x->data, sizeof first_train_batch);
    cnas_graph_free(g);
    return CNAS_OK;
}

static const cnas_strategy_vtable probe_vt = {sizeof probe_vt, probe_create, probe_destroy,
                                              probe_run, probe_io, probe_load, NULL};

static void run_probe(fx *f, probe_kind kind)
{
    char dir[] = "/tmp/cnas_env_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    probe = kind;
    cnas_run_spec spec = {
        .kind = CNAS_RUN_SEARCH, .run_dir = dir, .seed = 5, .space_vt = f->space_vt,
        .space_params = f->sparams, .ops = &f->factory, .strategy_vt = &probe_vt,
        .data = f->data, .eval_batch_size = 8, .train = &f->train, .config_text = "test",
        .fingerprint = "test",
    };
    cnas_run_result res;
    cnas_error err;
    ck_assert_msg(cnas_run(&spec, &res, &err) == CNAS_OK, "%s", err.msg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_networks_evaluation_modes_and_results_of_abi_1_1)
{
    fx f;
    fx_setup(&f);
    run_probe(&f, PROBE_SERVICES);
    fx_teardown(&f);
}
END_TEST

START_TEST(test_drawing_from_the_train_cycle_never_moves_the_epochs_train_pass)
{
    fx f;
    fx_setup(&f);
    run_probe(&f, PROBE_TRAIN_ONLY);
    run_probe(&f, PROBE_TRAIN_AFTER_CYCLE);
    fx_teardown(&f);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("env");
    TCase *tc = tcase_create("services");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_networks_evaluation_modes_and_results_of_abi_1_1);
    tcase_add_test(tc, test_drawing_from_the_train_cycle_never_moves_the_epochs_train_pass);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
