/* cnas/generator.h — the generator component contract (ABI 1.2) and a handle to use one.
 *
 * A generator is a class-conditional generative model of a dataset's images: given
 * labels and a noise stream it produces images on the step graph, on the tape, so a
 * strategy can send gradients into its parameters (DASGM's hypergradient). It works
 * in the space the classifier sees: images normalised by the data pipeline's
 * per-channel mean and std, which it receives at creation (cnas_gen_shape).
 *
 *     cnas_generator *gen;
 *     cnas_generator_new(NULL, "gaussian_gen", "temperature=2", "[strategy] generator",
 *                        &shape, seed, &gen, &err);         // the component by name
 *     cnas_generator_fit_data(gen, data, 64, seed, &err);   // on the TRAIN split
 *     int32_t labels[64];  ... choose them ...
 *     cnas_gen_sample_args a = {sizeof a, 64, labels, &rng, false};
 *     cnas_tensor *x = cnas_generator_sample(gen, g, &a);   // [64, C, H, W] on g
 *     cnas_generator_save_file(gen, "generator.ckpt", &err);
 *
 * Required members: create, destroy, sample, fit, save, load, tensors. Optional:
 * train_step (one step of the generator's own objective; DASGM's `gan` and `hyper`
 * modes need it). docs/generators.md is the guide for writing one. */
#ifndef CNAS_GENERATOR_H
#define CNAS_GENERATOR_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/checkpoint.h>
#include <cnas/data.h>
#include <cnas/graph.h>
#include <cnas/op.h> /* cnas_named_tensor */
#include <cnas/params.h>
#include <cnas/plugin.h>
#include <cnas/registry.h>
#include <cnas/rng.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a generator models: image shape, classes, and the pipeline's normalisation
 * (x_normalised = (pixel - mean) / std; pixels in [0, 1]). */
typedef struct cnas_gen_shape {
    uint32_t size;             /* sizeof(cnas_gen_shape) as the caller built it */
    int32_t channels, height, width, num_classes;
    float mean[4], std[4];
} cnas_gen_shape;

/* Real batches to fit on, normalised: next() creates x [B, C, H, W] on g, points
 * *labels at B labels (valid until the next call), returns 1; returns 0 at the end of
 * a pass (the next call starts another pass) and -1 on error. */
typedef struct cnas_gen_source {
    uint32_t size;
    int (*next)(void *ctx, cnas_graph *g, cnas_tensor **x, const int32_t **labels,
                cnas_error *err);
    void *ctx;
} cnas_gen_source;

typedef struct cnas_gen_sample_args {
    uint32_t size;             /* sizeof(cnas_gen_sample_args) */
    int64_t n;                 /* images to produce */
    const int32_t *labels;     /* n class labels, chosen by the caller */
    cnas_rng *rng;             /* the noise stream (advanced); same state => same images */
    bool training;             /* training-mode layers (batch statistics); false: eval */
} cnas_gen_sample_args;

/* One step of the generator's own objective on a real batch (GAN: a discriminator step
 * and a generator step; a likelihood model: a maximum-likelihood step). */
typedef struct cnas_gen_step_args {
    uint32_t size;
    cnas_tensor *x;            /* the real batch, normalised */
    const int32_t *labels;
    cnas_rng *rng;             /* noise for the fake batch */
    float weight;              /* γ: the generator's own gradient is scaled by this */
    bool add_to_grad;          /* the caller left a gradient in the generator's PARAM
                                * tensors (->grad): the update uses it + γ·own gradient */
    /* Out. */
    float d_loss, g_loss;      /* the two losses (NaN when the model has no critic) */
    /* Appended in 1.3 (read it only when `size` covers it). The global batch's rows under
     * MPI data parallelism, where x holds this rank's share: a batch the step makes itself
     * (fakes) has this many rows, drawn whole on every rank (docs/distributed.md). 0: x's. */
    int64_t rows;
} cnas_gen_step_args;

typedef struct cnas_generator_vtable {
    uint32_t size;  /* sizeof(cnas_generator_vtable) as the plugin was built */
    cnas_status (*create)(const cnas_params *p, const cnas_gen_shape *shape, uint64_t seed,
                          void **self, cnas_error *err);
    void (*destroy)(void *self);
    /* a->n images of classes a->labels on g, [n, C, H, W]; on the tape when the
     * generator's parameters require a gradient. NULL with the graph error set. */
    cnas_tensor *(*sample)(void *self, cnas_graph *g, const cnas_gen_sample_args *a);
    /* Fit to real data from scratch (the model's own recipe and keys). */
    cnas_status (*fit)(void *self, const cnas_gen_source *src, cnas_rng *rng, cnas_error *err);
    /* Everything needed to continue exactly (parameters, buffers, optimizer states,
     * counters) as records "<prefix>.<name>". */
    cnas_status (*save)(void *self, cnas_ckpt *ck, const char *prefix, cnas_error *err);
    cnas_status (*load)(void *self, const cnas_ckpt *ck, const char *prefix, cnas_error *err);
    /* Up to max owned tensors of the generator proper (not a critic); returns the total. */
    int (*tensors)(void *self, cnas_named_tensor *out, int max);
    /* Optional. */
    cnas_status (*train_step)(void *self, cnas_graph *g, cnas_gen_step_args *a, cnas_error *err);
} cnas_generator_vtable;

/* ---- a handle: the component, its keys and the instance -------------------------- */

typedef struct cnas_generator cnas_generator;

/* The registry consulted when NULL is passed below: the most recently created live
 * one (the host's; a test's). NULL when none exists. */
cnas_registry *cnas_registry_default(void);

/* Generator component `name` ("plugin/name" or short) of `reg` (NULL: the default
 * registry), its keys from "key=value,key=value" text (`where` names the origin in
 * messages), created for `shape`. */
cnas_status cnas_generator_new(cnas_registry *reg, const char *name, const char *options,
                               const char *where, const cnas_gen_shape *shape, uint64_t seed,
                               cnas_generator **out, cnas_error *err);
void cnas_generator_free(cnas_generator *gen);
const cnas_generator_vtable *cnas_generator_vt(const cnas_generator *gen);
void *cnas_generator_self(const cnas_generator *gen);
const cnas_gen_shape *cnas_generator_shape(const cnas_generator *gen);
const char *cnas_generator_name(const cnas_generator *gen);
/* The PARAM tensors (malloc'd array, borrowed tensors). */
cnas_status cnas_generator_params(cnas_generator *gen, cnas_tensor ***out, int *n,
                                  cnas_error *err);

cnas_tensor *cnas_generator_sample(cnas_generator *gen, cnas_graph *g,
                                   const cnas_gen_sample_args *a);
/* Fit on the TRAIN split of a pipeline: shuffled batches of batch_size, no augmentation. */
cnas_status cnas_generator_fit_data(cnas_generator *gen, cnas_data *data, int64_t batch_size,
                                    uint64_t seed, cnas_error *err);

/* A generator file: a checkpoint holding the component name, its options, the shape
 * and the generator's own records. load_file creates the generator it names. */
cnas_status cnas_generator_save_file(cnas_generator *gen, const char *path, cnas_error *err);
cnas_status cnas_generator_load_file(cnas_registry *reg, const char *path, cnas_generator **out,
                                     cnas_error *err);

/* A PNG grid, one row per class: per_class real TRAIN samples, a gap, then per_class
 * generated ones (eval mode, noise from (seed, "grid")). */
cnas_status cnas_generator_write_grid_png(cnas_generator *gen, cnas_data *data, const char *path,
                                          int per_class, uint64_t seed, cnas_error *err);

#ifdef __cplusplus
}
#endif
#endif
