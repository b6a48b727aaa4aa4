/* Generated classification images for tests and smoke runs. Class k draws bars at
 * orientation π·k/classes with a class-specific frequency, at a random phase, plus
 * a Gaussian blob and pixel noise; `noise` sets the difficulty. Every sample is a
 * pure function of (seed, split, index), so get() is O(1) and thread-safe. */
#include <cnas/cnas.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct synth {
    int32_t channels, size, classes;
    int64_t n[2];
    float noise;
    uint64_t seed;
} synth;

/* splitmix64 of (seed, sample): distinct seeds never share a sample's stream. */
static uint64_t sample_key(uint64_t seed, uint64_t sample)
{
    uint64_t z = seed * 0x9E3779B97F4A7C15ull ^ (sample + 0x632BE59BD9B4E019ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static cnas_status synth_open(const cnas_params *p, void **self, cnas_error *err)
{
    synth *s = calloc(1, sizeof *s);
    if (!s)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "synthetic: out of memory");
    s->channels = (int32_t)cnas_params_int(p, "channels");
    s->size = (int32_t)cnas_params_int(p, "size");
    s->classes = (int32_t)cnas_params_int(p, "classes");
    s->n[0] = cnas_params_int(p, "n_train");
    s->n[1] = cnas_params_int(p, "n_test");
    s->noise = (float)cnas_params_float(p, "noise");
    s->seed = (uint64_t)cnas_params_int(p, "seed");
    *self = s;
    return CNAS_OK;
}

static void synth_close(void *self)
{
    free(self);
}

static cnas_status synth_info(void *self, cnas_dataset_info *info, cnas_error *err)
{
    (void)err;
    synth *s = self;
    info->channels = s->channels;
    info->height = s->size;
    info->width = s->size;
    info->num_classes = s->classes;
    info->n_train = s->n[0];
    info->n_test = s->n[1];
    info->name = "synthetic";
    info->class_names = NULL;
    return CNAS_OK;
}

static cnas_status synth_get(void *self, cnas_split split, int64_t index, float *image,
                             int32_t *label, cnas_error *err)
{
    synth *s = self;
    int sp = split == CNAS_SPLIT_TEST;
    if (index < 0 || index >= s->n[sp])
        return cnas_error_set(err, CNAS_ERR_INVALID, "synthetic: sample %lld of %lld",
                              (long long)index, (long long)s->n[sp]);
    cnas_rng r;
    cnas_rng_init(&r, sample_key(s->seed, (uint64_t)index * 2u + (uint64_t)sp), "synthetic");
    int k = (int)cnas_rng_below(&r, (uint32_t)s->classes);
    double theta = M_PI * k / s->classes, freq = 0.5 + 0.25 * (k % 3);
    double phase = 2 * M_PI * cnas_rng_uniform_double(&r);
    double by = s->size * (0.25 + 0.5 * cnas_rng_uniform_double(&r));
    double bx = s->size * (0.25 + 0.5 * cnas_rng_uniform_double(&r));
    double ct = cos(theta), st = sin(theta);
    for (int c = 0; c < s->channels; c++) {
        double tint = 0.7 + 0.3 * cos(k + 2.0 * c);
        for (int y = 0; y < s->size; y++)
            for (int x = 0; x < s->size; x++) {
                double u = ct * x + st * y;
                double bar = 0.5 + 0.5 * sin(freq * u + phase);
                double d2 = (y - by) * (y - by) + (x - bx) * (x - bx);
                double v = 0.7 * bar * tint + 0.3 * exp(-d2 / (0.05 * s->size * s->size)) +
                           s->noise * cnas_rng_normal(&r);
                image[(c * s->size + y) * s->size + x] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
            }
    }
    *label = k;
    return CNAS_OK;
}

static const cnas_param_spec synth_keys[] = {
    CNAS_PARAM_SPEC_INT("channels", "1", 1, 4, "image channels"),
    CNAS_PARAM_SPEC_INT("size", "16", 4, 512, "image height and width"),
    CNAS_PARAM_SPEC_INT("classes", "4", 2, 64, "number of classes"),
    CNAS_PARAM_SPEC_INT("n_train", "2000", 1, 10000000, "training samples"),
    CNAS_PARAM_SPEC_INT("n_test", "500", 0, 10000000, "test samples"),
    CNAS_PARAM_SPEC_FLOAT("noise", "0.2", 0, 10, "standard deviation of the pixel noise"),
    CNAS_PARAM_SPEC_INT("seed", "1", 0, 2147483647, "generator seed (independent of the run seed)"),
};

static const cnas_dataset_vtable synth_vtable = {sizeof synth_vtable, synth_open, synth_close,
                                                 synth_info, synth_get};

static const cnas_component synth_components[] = {
    CNAS_COMPONENT(CNAS_KIND_DATASET, "synthetic",
                   "Generated oriented bars and blobs with noise, for tests and smoke runs",
                   synth_keys, &synth_vtable),
};

CNAS_PLUGIN("synthetic", "0.1.0", "Generated classification images", "MIT", synth_components, NULL)
