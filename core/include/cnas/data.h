/* cnas/data.h — the data pipeline between a dataset component and training.
 *
 * A cnas_data wraps an opened dataset and carves its splits: TRAIN and VAL come
 * from the source's training split as DARTS does it (the first
 * floor(train_portion·n) indices train the weights, the rest validate; no shuffle
 * before the split), TEST is the source's test split; `limit_*` keeps the first k
 * of a split for quick runs. Normalisation statistics are computed once from the
 * TRAIN split unless given.
 *
 * An iterator walks one split in batches: in order, or shuffled per epoch, or
 * forever (reshuffled at every wrap), with augmentation (random crop with zero
 * padding, horizontal flip, cutout). Which samples a batch holds and how they are
 * augmented depend only on the seed, the iterator's name, the epoch and the batch
 * index, so a worker thread may prepare batches ahead (prefetch) without changing
 * any result, and an iterator's position (epoch, batch) is all a checkpoint needs. */
#ifndef CNAS_DATA_H
#define CNAS_DATA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cnas/dataset.h>
#include <cnas/status.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cnas_data_split {
    CNAS_DATA_TRAIN = 0,
    CNAS_DATA_VAL = 1,
    CNAS_DATA_TEST = 2,
} cnas_data_split;

typedef struct cnas_data_config {
    double train_portion;          /* share of the source train split used for TRAIN (1: no VAL) */
    int64_t limit[3];              /* keep the first k samples of each split; 0 = all */
    bool normalize;
    bool stats_given;              /* use mean / std below instead of computing them */
    float mean[4], std[4];
} cnas_data_config;

typedef struct cnas_augment {
    int crop_padding;              /* random crop back to size after zero padding; 0 = off */
    bool flip;                     /* horizontal flip with probability 1/2 */
    int cutout;                    /* side of the zeroed square (DARTS Cutout); 0 = off */
} cnas_augment;

typedef struct cnas_data cnas_data;

/* Takes ownership of nothing: the dataset instance must outlive the pipeline. */
cnas_data *cnas_data_open(const cnas_dataset_vtable *vt, void *dataset, const cnas_data_config *c,
                          cnas_error *err);
void cnas_data_close(cnas_data *d);

const cnas_dataset_info *cnas_data_info(const cnas_data *d);
int64_t cnas_data_size(const cnas_data *d, cnas_data_split s);
/* The source index of the i-th sample of a split. */
int64_t cnas_data_source_index(const cnas_data *d, cnas_data_split s, int64_t i);
/* Per-channel normalisation in use (identity when off). */
void cnas_data_norm(const cnas_data *d, float *mean, float *std);
/* One sample of a split, normalised, not augmented. */
cnas_status cnas_data_sample(cnas_data *d, cnas_data_split s, int64_t i, float *image, int32_t *label,
                             cnas_error *err);
/* Write "split<TAB>position<TAB>source_index" lines for every sample. */
cnas_status cnas_data_write_splits(const cnas_data *d, const char *path, cnas_error *err);

/* ---- iterators ------------------------------------------------------------------ */

typedef enum cnas_iter_order {
    CNAS_ITER_SEQUENTIAL = 0,  /* in split order, one pass per epoch */
    CNAS_ITER_SHUFFLE = 1,     /* a fresh permutation every epoch */
    CNAS_ITER_CYCLE = 2,       /* shuffled, never ends: reshuffles at every wrap */
} cnas_iter_order;

typedef struct cnas_iter_config {
    cnas_data_split split;
    cnas_iter_order order;
    int64_t batch_size;
    bool drop_last;
    cnas_augment augment;
    bool prefetch;             /* prepare the next batch on a worker thread */
    const char *name;          /* names the random streams, e.g. "train" */
    uint64_t seed;
} cnas_iter_config;

typedef struct cnas_iter cnas_iter;

typedef struct cnas_iter_pos {
    int64_t epoch;             /* for CYCLE: the number of completed wraps */
    int64_t batch;             /* next batch within the epoch */
} cnas_iter_pos;

cnas_iter *cnas_iter_new(cnas_data *d, const cnas_iter_config *c, cnas_error *err);
void cnas_iter_free(cnas_iter *it);
/* Make an epoch of a SHUFFLE iterator `samples` long (0: the whole split, the
 * default): the split's shuffled passes are laid end to end and epoch e takes the
 * samples e·samples to (e+1)·samples − 1 of that stream, so every sample comes once
 * per pass and any epoch is rebuilt from its number. Call it before the first batch;
 * it moves the iterator to epoch 0. docs/config.md ([data] epoch_samples). */
cnas_status cnas_iter_set_epoch_samples(cnas_iter *it, int64_t samples, cnas_error *err);
/* Batches in one epoch (CYCLE: in one wrap). */
int64_t cnas_iter_batches(const cnas_iter *it);
/* Position at the start of `epoch`. */
cnas_status cnas_iter_begin(cnas_iter *it, int64_t epoch, cnas_error *err);
/* The next batch into images [n, C, H, W] and labels [n] (buffers of batch_size
 * samples); returns 1 with *n set, 0 at the end of the epoch, -1 on error. */
int cnas_iter_next(cnas_iter *it, float *images, int32_t *labels, int64_t *n, cnas_error *err);
cnas_iter_pos cnas_iter_position(const cnas_iter *it);
cnas_status cnas_iter_seek(cnas_iter *it, cnas_iter_pos pos, cnas_error *err);

/* ---- summaries -------------------------------------------------------------------- */

/* Samples per split, shape, classes, per-class counts and per-channel mean / std of TRAIN. */
cnas_status cnas_data_summary(cnas_data *d, FILE *out, cnas_error *err);
/* A PNG grid of `per_class` TRAIN samples of every class (a row per class). */
cnas_status cnas_data_write_grid_png(cnas_data *d, const char *path, int per_class, cnas_error *err);

#ifdef __cplusplus
}
#endif
#endif
