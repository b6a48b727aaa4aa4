/* cnas/dataset.h — the dataset component contract.
 *
 * A dataset opens a source named by its parameters and serves random access to
 * samples of its source splits (train and test) as float CHW images scaled to
 * [0, 1] with an integer label. Splitting train into train / val, shuffling,
 * batching, augmentation and normalisation are the core pipeline's job (data.h),
 * so every dataset gets them for free. Bad or truncated files are errors naming
 * the file and what is wrong; a dataset never returns a partial load. */
#ifndef CNAS_DATASET_H
#define CNAS_DATASET_H

#include <stdint.h>

#include <cnas/params.h>
#include <cnas/status.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cnas_split {
    CNAS_SPLIT_TRAIN = 0, /* the source's training split (before the val carve-out) */
    CNAS_SPLIT_TEST = 1,
} cnas_split;

typedef struct cnas_dataset_info {
    uint32_t size;          /* sizeof(cnas_dataset_info) as the host built it */
    int32_t channels, height, width;
    int32_t num_classes;
    int64_t n_train, n_test;
    const char *name;            /* e.g. "fashion-mnist", for logs */
    const char *const *class_names; /* num_classes names, or NULL */
} cnas_dataset_info;

typedef struct cnas_dataset_vtable {
    uint32_t size;  /* sizeof(cnas_dataset_vtable) as the plugin was built */
    /* Open (and typically load) the source. *self is the instance. */
    cnas_status (*open)(const cnas_params *p, void **self, cnas_error *err);
    void (*close)(void *self);
    /* Fill *info (the host sets info->size first). Pointers stay valid until close. */
    cnas_status (*info)(void *self, cnas_dataset_info *info, cnas_error *err);
    /* Sample `index` of `split`: channels*height*width floats in [0, 1] to `image`,
     * its class to *label. Must be safe to call from several threads at once. */
    cnas_status (*get)(void *self, cnas_split split, int64_t index, float *image, int32_t *label,
                       cnas_error *err);
} cnas_dataset_vtable;

#ifdef __cplusplus
}
#endif
#endif
