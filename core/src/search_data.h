/* Private: the run's view of the data pipeline (one iterator per stream). */
#ifndef CNAS_SEARCH_DATA_H
#define CNAS_SEARCH_DATA_H

#include <cnas/checkpoint.h>
#include <cnas/data.h>
#include <cnas/graph.h>
#include <cnas/strategy.h>

typedef struct search_data {
    cnas_data *data;
    cnas_iter *train, *val, *val_cycle, *test, *train_cycle;
    int32_t channels, height, width, num_classes;
    int64_t batches_per_epoch;
    int64_t batch_size, eval_batch_size;
    float *images;
    int32_t *labels[5];
} search_data;

typedef struct search_data_options {
    int64_t eval_batch_size;
    cnas_augment augment;
    bool prefetch;
    bool drop_last;
    bool augment_val;   /* VAL_CYCLE batches augmented like training (DARTS) */
    int64_t epoch_samples; /* TRAIN epochs of this many samples (0: the whole split) */
} search_data_options;

cnas_status search_data_init(search_data *s, cnas_data *data, const cnas_train_settings *train,
                             const search_data_options *o, uint64_t seed, cnas_error *err);
void search_data_free(search_data *s);
cnas_status search_data_begin_epoch(search_data *s, int64_t epoch, cnas_error *err);
cnas_status search_data_begin_pass(search_data *s, cnas_data_stream stream, cnas_error *err);
int search_data_next(search_data *s, cnas_data_stream stream, cnas_graph *g, cnas_tensor **x,
                     const int32_t **labels, cnas_error *err);
/* Move past the next batch without making it (a data-parallel evaluation: another rank
 * evaluates it); returns as search_data_next. */
int search_data_skip(search_data *s, cnas_data_stream stream, cnas_error *err);
int64_t search_data_batches(search_data *s, cnas_data_stream stream);
cnas_status search_data_save(search_data *s, cnas_ckpt *ck, cnas_error *err);
cnas_status search_data_load(search_data *s, const cnas_ckpt *ck, cnas_error *err);

#endif
