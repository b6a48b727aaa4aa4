/* One iterator per stream of a run: TRAIN (shuffled per epoch, augmented; an epoch
 * may be a window of a longer stream of passes, [data] epoch_samples), VAL and
 * TEST (in order, for evaluation), VAL_CYCLE (DARTS' random validation batches:
 * shuffled, augmented like training unless the run says
 * otherwise, never ending), TRAIN_CYCLE (training batches that never end, for
 * batch-norm recalibration and extra steps; its own shuffle stream, so drawing from
 * it never moves TRAIN). Iterator positions go into
 * checkpoints; begin_epoch(e) does not move TRAIN when it already stands inside
 * epoch e, so a resumed run continues mid-epoch. */
#include "search_data.h"

#include <stdlib.h>
#include <string.h>

static cnas_iter **iter_of(search_data *s, cnas_data_stream st)
{
    switch (st) {
    case CNAS_STREAM_TRAIN: return &s->train;
    case CNAS_STREAM_VAL: return &s->val;
    case CNAS_STREAM_VAL_CYCLE: return &s->val_cycle;
    case CNAS_STREAM_TRAIN_CYCLE: return &s->train_cycle;
    default: return &s->test;
    }
}

cnas_status search_data_init(search_data *s, cnas_data *data, const cnas_train_settings *train,
                             const search_data_options *o, uint64_t seed, cnas_error *err)
{
    memset(s, 0, sizeof *s);
    s->data = data;
    const cnas_dataset_info *in = cnas_data_info(data);
    s->channels = in->channels;
    s->height = in->height;
    s->width = in->width;
    s->num_classes = in->num_classes;
    s->batch_size = train->batch_size;
    s->eval_batch_size = o->eval_batch_size > 0 ? o->eval_batch_size : train->batch_size;
    cnas_iter_config tr = {CNAS_DATA_TRAIN, CNAS_ITER_SHUFFLE, s->batch_size, o->drop_last,
                           o->augment, o->prefetch, "train", seed};
    cnas_augment none = {0};
    cnas_iter_config vc = {CNAS_DATA_VAL, CNAS_ITER_CYCLE, s->batch_size, false,
                           o->augment_val ? o->augment : none,
                           o->prefetch, "val_cycle", seed};
    cnas_iter_config va = {CNAS_DATA_VAL, CNAS_ITER_SEQUENTIAL, s->eval_batch_size, false, {0},
                           false, "val", seed};
    cnas_iter_config tc = {CNAS_DATA_TRAIN, CNAS_ITER_CYCLE, s->batch_size, false, o->augment,
                           false, "train_cycle", seed};
    cnas_iter_config te = {CNAS_DATA_TEST, CNAS_ITER_SEQUENTIAL, s->eval_batch_size, false, {0},
                           false, "test", seed};
    int64_t biggest = s->batch_size > s->eval_batch_size ? s->batch_size : s->eval_batch_size;
    s->images = malloc((size_t)biggest * (size_t)(s->channels * s->height * s->width) * sizeof(float));
    for (int i = 0; i < 5; i++)
        s->labels[i] = malloc((size_t)biggest * sizeof(int32_t));
    if (!s->images || !s->labels[0] || !s->labels[1] || !s->labels[2] || !s->labels[3] ||
        !s->labels[4]) {
        search_data_free(s);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "data: out of memory");
    }
    if (!(s->train = cnas_iter_new(data, &tr, err)) || !(s->test = cnas_iter_new(data, &te, err)) ||
        !(s->train_cycle = cnas_iter_new(data, &tc, err)) ||
        cnas_iter_set_epoch_samples(s->train, o->epoch_samples, err)) {
        search_data_free(s);
        return err->code;
    }
    if (cnas_data_size(data, CNAS_DATA_VAL) > 0 &&
        (!(s->val = cnas_iter_new(data, &va, err)) || !(s->val_cycle = cnas_iter_new(data, &vc, err)))) {
        search_data_free(s);
        return err->code;
    }
    s->batches_per_epoch = cnas_iter_batches(s->train);
    if (s->batches_per_epoch < 1) {
        search_data_free(s);
        return cnas_error_set(err, CNAS_ERR_CONFIG, "data: the training split (%lld samples) gives "
                              "no batch of %lld", (long long)cnas_data_size(data, CNAS_DATA_TRAIN),
                              (long long)s->batch_size);
    }
    return CNAS_OK;
}

void search_data_free(search_data *s)
{
    cnas_iter_free(s->train);
    cnas_iter_free(s->val);
    cnas_iter_free(s->val_cycle);
    cnas_iter_free(s->test);
    cnas_iter_free(s->train_cycle);
    free(s->images);
    for (int i = 0; i < 5; i++)
        free(s->labels[i]);
    memset(s, 0, sizeof *s);
}

cnas_status search_data_begin_epoch(search_data *s, int64_t epoch, cnas_error *err)
{
    cnas_iter_pos p = cnas_iter_position(s->train);
    if (p.epoch == epoch && p.batch > 0)
        return CNAS_OK; /* resumed inside this epoch */
    return cnas_iter_begin(s->train, epoch, err);
}

cnas_status search_data_begin_pass(search_data *s, cnas_data_stream stream, cnas_error *err)
{
    cnas_iter *it = *iter_of(s, stream);
    return it ? cnas_iter_begin(it, 0, err) : CNAS_OK;
}

int search_data_next(search_data *s, cnas_data_stream stream, cnas_graph *g, cnas_tensor **x,
                     const int32_t **labels, cnas_error *err)
{
    cnas_iter *it = *iter_of(s, stream);
    if (!it)
        return 0;
    int64_t n;
    int32_t *lab = s->labels[stream];
    int r = cnas_iter_next(it, s->images, lab, &n, err);
    if (r <= 0)
        return r;
    *x = cnas_graph_tensor(g, CNAS_SHAPE(n, s->channels, s->height, s->width));
    if (!*x) {
        cnas_error_set(err, cnas_graph_status(g), "%s", cnas_graph_error(g)->msg);
        return -1;
    }
    memcpy((*x)->data, s->images, cnas_tensor_bytes(*x));
    *labels = lab;
    return 1;
}

int search_data_skip(search_data *s, cnas_data_stream stream, cnas_error *err)
{
    cnas_iter *it = *iter_of(s, stream);
    if (!it)
        return 0;
    cnas_iter_pos p = cnas_iter_position(it);
    int64_t nb = cnas_iter_batches(it);
    if (p.batch >= nb) {
        bool cycle = stream == CNAS_STREAM_VAL_CYCLE || stream == CNAS_STREAM_TRAIN_CYCLE;
        if (!cycle || nb == 0)
            return 0;
        p.epoch++;
        p.batch = 0;
    }
    p.batch++;
    return cnas_iter_seek(it, p, err) ? -1 : 1;
}

int64_t search_data_batches(search_data *s, cnas_data_stream stream)
{
    cnas_iter *it = *iter_of(s, stream);
    return it ? cnas_iter_batches(it) : 0;
}

static const char *const stream_names[5] = {"train", "val", "val_cycle", "test", "train_cycle"};

cnas_status search_data_save(search_data *s, cnas_ckpt *ck, cnas_error *err)
{
    for (int i = 0; i < 5; i++) {
        cnas_iter *it = *iter_of(s, (cnas_data_stream)i);
        if (!it)
            continue;
        cnas_iter_pos p = cnas_iter_position(it);
        char name[64];
        snprintf(name, sizeof name, "data.%s", stream_names[i]);
        cnas_status st = cnas_ckpt_put_blob(ck, name, &p, sizeof p, err);
        if (st)
            return st;
    }
    return CNAS_OK;
}

cnas_status search_data_load(search_data *s, const cnas_ckpt *ck, cnas_error *err)
{
    for (int i = 0; i < 5; i++) {
        cnas_iter *it = *iter_of(s, (cnas_data_stream)i);
        if (!it)
            continue;
        cnas_iter_pos p;
        char name[64];
        snprintf(name, sizeof name, "data.%s", stream_names[i]);
        if (i == CNAS_STREAM_TRAIN_CYCLE && !cnas_ckpt_has(ck, name))
            continue; /* a checkpoint from before the stream existed */
        cnas_status st = cnas_ckpt_get_blob(ck, name, &p, sizeof p, err);
        if (!st)
            st = cnas_iter_seek(it, p, err);
        if (st)
            return st;
    }
    return CNAS_OK;
}
