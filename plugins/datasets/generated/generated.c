/* The `generated` dataset: the samples of a saved generator (a file written by
 * cnas_generator_save_file, e.g. the generator.ckpt of a dasgm run) served as a dataset,
 * so every strategy and `cnas train` can use synthetic data. Sample i of a split has
 * class i mod K and its own noise stream (seed, split, i), so any sample can be drawn
 * alone, from any thread, and always comes out the same. */
#include <cnas/cnas.h>
#include <cnas/generator.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct generated {
    cnas_generator *gen;
    cnas_gen_shape shape;
    int64_t n[2];
    uint64_t seed;
} generated;

static void gd_close(void *self)
{
    generated *d = self;
    if (!d)
        return;
    cnas_generator_free(d->gen);
    free(d);
}

static cnas_status gd_open(const cnas_params *p, void **self, cnas_error *err)
{
    generated *d = calloc(1, sizeof *d);
    if (!d)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "generated: out of memory");
    const char *path = cnas_params_str(p, "file");
    cnas_status st = cnas_generator_load_file(NULL, path, &d->gen, err);
    if (st) {
        cnas_error_prefix(err, "generated: [dataset] file = %s", path);
        gd_close(d);
        return st;
    }
    d->shape = *cnas_generator_shape(d->gen);
    d->n[CNAS_SPLIT_TRAIN] = cnas_params_int(p, "n_train");
    d->n[CNAS_SPLIT_TEST] = cnas_params_int(p, "n_test");
    d->seed = (uint64_t)cnas_params_int(p, "seed");
    *self = d;
    return CNAS_OK;
}

static cnas_status gd_info(void *self, cnas_dataset_info *info, cnas_error *err)
{
    (void)err;
    generated *d = self;
    info->channels = d->shape.channels;
    info->height = d->shape.height;
    info->width = d->shape.width;
    info->num_classes = d->shape.num_classes;
    info->n_train = d->n[CNAS_SPLIT_TRAIN];
    info->n_test = d->n[CNAS_SPLIT_TEST];
    info->name = "generated";
    info->class_names = NULL;
    return CNAS_OK;
}

static cnas_status gd_get(void *self, cnas_split split, int64_t index, float *image,
                          int32_t *label, cnas_error *err)
{
    generated *d = self;
    if (index < 0 || index >= d->n[split])
        return cnas_error_set(err, CNAS_ERR_INVALID, "generated: sample %lld outside the %lld of "
                              "the %s split", (long long)index, (long long)d->n[split],
                              split == CNAS_SPLIT_TRAIN ? "train" : "test");
    char purpose[96];
    snprintf(purpose, sizeof purpose, "generated.%s.%lld", split == CNAS_SPLIT_TRAIN ? "train" : "test",
             (long long)index);
    cnas_rng rng;
    cnas_rng_init(&rng, d->seed, purpose);
    int32_t y = (int32_t)(index % d->shape.num_classes);
    cnas_graph *g = cnas_graph_new(err);
    if (!g)
        return err->code;
    cnas_graph_set_grad_enabled(g, false);
    cnas_gen_sample_args a = {sizeof a, 1, &y, &rng, false};
    cnas_tensor *x = cnas_generator_sample(d->gen, g, &a);
    cnas_status st = CNAS_OK;
    if (!x) {
        *err = *cnas_graph_error(g);
        st = err->code;
    } else {
        int64_t hw = (int64_t)d->shape.height * d->shape.width;
        for (int64_t k = 0; k < x->numel; k++) {
            int c = (int)(k / hw);
            float v = x->data[k] * d->shape.std[c] + d->shape.mean[c];
            image[k] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
        *label = y;
    }
    cnas_graph_free(g);
    return st;
}

static const cnas_param_spec gd_keys[] = {
    CNAS_PARAM_SPEC_PATH("file", NULL, "a generator file (cnas_generator_save_file; a dasgm "
                         "run's generator.ckpt)"),
    CNAS_PARAM_SPEC_INT("n_train", "10000", 1, 100000000, "samples in the train split"),
    CNAS_PARAM_SPEC_INT("n_test", "2000", 1, 100000000, "samples in the test split"),
    CNAS_PARAM_SPEC_INT("seed", "0", 0, 2147483647, "noise seed of the samples"),
};

static const cnas_dataset_vtable gd_vt = {sizeof gd_vt, gd_open, gd_close, gd_info, gd_get};

static const cnas_component gd_components[] = {
    CNAS_COMPONENT(CNAS_KIND_DATASET, "generated",
                   "the samples of a saved generator (balanced classes)", gd_keys, &gd_vt),
};

CNAS_PLUGIN("generated", "0.1.0", "Synthetic datasets from saved generators", "MIT",
            gd_components, NULL)
