/* The data pipeline: splits, normalisation, batching, augmentation, prefetch. */
#include <cnas/data.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/rng.h>

struct cnas_data {
    const cnas_dataset_vtable *vt;
    void *ds;
    cnas_dataset_info info;
    int64_t sample_len;
    int64_t start[3], size[3];      /* each split is a contiguous range of its source */
    float mean[4], std[4];
};

static cnas_split source_of(cnas_data_split s)
{
    return s == CNAS_DATA_TEST ? CNAS_SPLIT_TEST : CNAS_SPLIT_TRAIN;
}

const cnas_dataset_info *cnas_data_info(const cnas_data *d) { return &d->info; }
int64_t cnas_data_size(const cnas_data *d, cnas_data_split s) { return d->size[s]; }

int64_t cnas_data_source_index(const cnas_data *d, cnas_data_split s, int64_t i)
{
    return d->start[s] + i;
}

void cnas_data_norm(const cnas_data *d, float *mean, float *std)
{
    for (int c = 0; c < d->info.channels; c++) {
        mean[c] = d->mean[c];
        std[c] = d->std[c];
    }
}

static cnas_status raw_sample(cnas_data *d, cnas_data_split s, int64_t i, float *img, int32_t *label,
                              cnas_error *err)
{
    cnas_status st = d->vt->get(d->ds, source_of(s), d->start[s] + i, img, label, err);
    if (!st && (*label < 0 || *label >= d->info.num_classes))
        st = cnas_error_set(err, CNAS_ERR_FORMAT, "dataset %s: sample %lld has label %d, expected "
                            "0 to %d", d->info.name ? d->info.name : "", (long long)(d->start[s] + i),
                            *label, d->info.num_classes - 1);
    return st;
}

static void normalise(const cnas_data *d, float *img)
{
    int64_t hw = (int64_t)d->info.height * d->info.width;
    for (int c = 0; c < d->info.channels; c++) {
        float m = d->mean[c], inv = 1.0f / d->std[c];
        float *p = img + c * hw;
        for (int64_t k = 0; k < hw; k++)
            p[k] = (p[k] - m) * inv;
    }
}

cnas_status cnas_data_sample(cnas_data *d, cnas_data_split s, int64_t i, float *image, int32_t *label,
                             cnas_error *err)
{
    if (i < 0 || i >= d->size[s])
        return cnas_error_set(err, CNAS_ERR_INVALID, "data: sample %lld of a split of %lld",
                              (long long)i, (long long)d->size[s]);
    cnas_status st = raw_sample(d, s, i, image, label, err);
    if (!st)
        normalise(d, image);
    return st;
}

static cnas_status compute_stats(cnas_data *d, cnas_error *err)
{
    int C = d->info.channels;
    int64_t hw = (int64_t)d->info.height * d->info.width;
    double sum[4] = {0}, sq[4] = {0};
    float *img = malloc((size_t)d->sample_len * sizeof *img);
    if (!img)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "data: out of memory");
    for (int64_t i = 0; i < d->size[CNAS_DATA_TRAIN]; i++) {
        int32_t label;
        cnas_status st = raw_sample(d, CNAS_DATA_TRAIN, i, img, &label, err);
        if (st) {
            free(img);
            return st;
        }
        for (int c = 0; c < C; c++)
            for (int64_t k = 0; k < hw; k++) {
                double v = img[c * hw + k];
                sum[c] += v;
                sq[c] += v * v;
            }
    }
    free(img);
    double n = (double)d->size[CNAS_DATA_TRAIN] * (double)hw;
    for (int c = 0; c < C; c++) {
        double m = sum[c] / n, var = sq[c] / n - m * m;
        d->mean[c] = (float)m;
        d->std[c] = (float)sqrt(var > 1e-12 ? var : 1e-12);
    }
    return CNAS_OK;
}

cnas_data *cnas_data_open(const cnas_dataset_vtable *vt, void *dataset, const cnas_data_config *c,
                          cnas_error *err)
{
    cnas_data *d = calloc(1, sizeof *d);
    if (!d) {
        cnas_error_set(err, CNAS_ERR_NOMEM, "data: out of memory");
        return NULL;
    }
    d->vt = vt;
    d->ds = dataset;
    d->info.size = sizeof d->info;
    if (vt->info(dataset, &d->info, err))
        goto fail;
    const cnas_dataset_info *in = &d->info;
    if (in->channels < 1 || in->channels > 4 || in->height < 1 || in->width < 1 ||
        in->num_classes < 1 || in->n_train < 1 || in->n_test < 0) {
        cnas_error_set(err, CNAS_ERR_FORMAT, "dataset %s: %d channels of %dx%d, %d classes, %lld "
                       "train and %lld test samples; expected 1 to 4 channels and a non-empty "
                       "training split", in->name ? in->name : "", in->channels, in->height,
                       in->width, in->num_classes, (long long)in->n_train, (long long)in->n_test);
        goto fail;
    }
    if (!(c->train_portion > 0.0 && c->train_portion <= 1.0)) {
        cnas_error_set(err, CNAS_ERR_CONFIG, "data: train_portion %g, expected 0 < p <= 1",
                       c->train_portion);
        goto fail;
    }
    d->sample_len = (int64_t)in->channels * in->height * in->width;
    int64_t n_tr = (int64_t)floor(c->train_portion * (double)in->n_train);
    if (n_tr < 1)
        n_tr = 1;
    d->start[CNAS_DATA_TRAIN] = 0;
    d->size[CNAS_DATA_TRAIN] = n_tr;
    d->start[CNAS_DATA_VAL] = n_tr;
    d->size[CNAS_DATA_VAL] = in->n_train - n_tr;
    d->start[CNAS_DATA_TEST] = 0;
    d->size[CNAS_DATA_TEST] = in->n_test;
    for (int s = 0; s < 3; s++)
        if (c->limit[s] > 0 && c->limit[s] < d->size[s])
            d->size[s] = c->limit[s];
    for (int ch = 0; ch < 4; ch++) {
        d->mean[ch] = 0.0f;
        d->std[ch] = 1.0f;
    }
    if (c->normalize && c->stats_given) {
        for (int ch = 0; ch < in->channels; ch++) {
            if (!(c->std[ch] > 0.0f)) {
                cnas_error_set(err, CNAS_ERR_CONFIG, "data: std of channel %d is %g, expected > 0",
                               ch, (double)c->std[ch]);
                goto fail;
            }
            d->mean[ch] = c->mean[ch];
            d->std[ch] = c->std[ch];
        }
    } else if (c->normalize && compute_stats(d, err)) {
        goto fail;
    }
    return d;
fail:
    free(d);
    return NULL;
}

void cnas_data_close(cnas_data *d)
{
    free(d);
}

cnas_status cnas_data_write_splits(const cnas_data *d, const char *path, cnas_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    static const char *const names[3] = {"train", "val", "test"};
    fprintf(f, "# split\tfirst_source_index\tcount (splits are contiguous ranges of the source)\n");
    for (int s = 0; s < 3; s++)
        fprintf(f, "%s\t%lld\t%lld\n", names[s], (long long)d->start[s], (long long)d->size[s]);
    if (fclose(f) != 0)
        return cnas_error_set(err, CNAS_ERR_IO, "writing %s failed: %s", path, strerror(errno));
    return CNAS_OK;
}

/* ---- iterators --------------------------------------------------------------------- */

typedef struct slot {
    cnas_iter_pos pos;
    float *images;
    int32_t *labels;
    int64_t n;
    int ret;
    cnas_error err;
} slot;

struct cnas_iter {
    cnas_data *d;
    cnas_iter_config c;
    char name[32];
    int64_t n, batches;
    int64_t *perm;          /* order of the current epoch */
    int64_t perm_epoch;
    cnas_iter_pos pos;

    /* prefetch: the worker fills `ahead` for position `want` */
    bool threaded, stop, busy, have_job;
    pthread_t worker;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot ahead;
    int64_t *wperm;         /* the worker's own permutation buffer */
    int64_t wperm_epoch;
};

static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t z = a ^ (b + 0x9E3779B97F4A7C15ull + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void make_perm(const cnas_iter *it, int64_t epoch, int64_t *perm)
{
    for (int64_t i = 0; i < it->n; i++)
        perm[i] = i;
    if (it->c.order == CNAS_ITER_SEQUENTIAL)
        return;
    char purpose[48];
    snprintf(purpose, sizeof purpose, "order.%s", it->name);
    cnas_rng r;
    cnas_rng_init(&r, mix(it->c.seed, (uint64_t)epoch), purpose);
    cnas_rng_shuffle(&r, perm, it->n);
}

/* Augment one normalised... no: crop and flip act on raw pixels (zero padding, as
 * torchvision pads the image before ToTensor/Normalize); cutout acts after
 * normalisation, as DARTS' Cutout does. */
static void augment_sample(const cnas_iter *it, cnas_rng *r, float *img, float *tmp)
{
    const cnas_dataset_info *in = &it->d->info;
    int C = in->channels, H = in->height, W = in->width;
    const cnas_augment *a = &it->c.augment;
    if (a->crop_padding > 0) {
        int p = a->crop_padding;
        int dy = (int)cnas_rng_below(r, (uint32_t)(2 * p + 1)) - p;
        int dx = (int)cnas_rng_below(r, (uint32_t)(2 * p + 1)) - p;
        memcpy(tmp, img, (size_t)C * H * W * sizeof *tmp);
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    int sy = y + dy, sx = x + dx;
                    img[(c * H + y) * W + x] =
                        sy >= 0 && sy < H && sx >= 0 && sx < W ? tmp[(c * H + sy) * W + sx] : 0.0f;
                }
    }
    if (a->flip && cnas_rng_below(r, 2))
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++) {
                float *row = img + (c * H + y) * W;
                for (int x = 0; x < W / 2; x++) {
                    float t = row[x];
                    row[x] = row[W - 1 - x];
                    row[W - 1 - x] = t;
                }
            }
    normalise(it->d, img);
    if (a->cutout > 0) {
        int cy = (int)cnas_rng_below(r, (uint32_t)H), cx = (int)cnas_rng_below(r, (uint32_t)W);
        int y0 = cy - a->cutout / 2, x0 = cx - a->cutout / 2;
        for (int c = 0; c < C; c++)
            for (int y = y0 < 0 ? 0 : y0; y < y0 + a->cutout && y < H; y++)
                for (int x = x0 < 0 ? 0 : x0; x < x0 + a->cutout && x < W; x++)
                    img[(c * H + y) * W + x] = 0.0f;
    }
}

static int64_t batch_count(const cnas_iter *it)
{
    int64_t B = it->c.batch_size;
    return it->c.drop_last ? it->n / B : (it->n + B - 1) / B;
}

/* Produce the batch at `pos` (within an epoch) into s. perm must hold that epoch's order. */
static void produce(cnas_iter *it, cnas_iter_pos pos, const int64_t *perm, slot *s)
{
    int64_t B = it->c.batch_size, lo = pos.batch * B, hi = lo + B;
    if (hi > it->n)
        hi = it->n;
    s->pos = pos;
    s->n = hi - lo;
    s->ret = 1;
    int64_t len = it->d->sample_len;
    float *tmp = malloc((size_t)len * sizeof *tmp);
    if (!tmp) {
        s->ret = -1;
        cnas_error_set(&s->err, CNAS_ERR_NOMEM, "data: out of memory");
        return;
    }
    char purpose[48];
    snprintf(purpose, sizeof purpose, "augment.%s", it->name);
    cnas_rng r;
    cnas_rng_init(&r, mix(mix(it->c.seed, (uint64_t)pos.epoch), (uint64_t)pos.batch), purpose);
    for (int64_t k = lo; k < hi; k++) {
        float *img = s->images + (k - lo) * len;
        if (raw_sample(it->d, it->c.split, perm[k], img, &s->labels[k - lo], &s->err)) {
            s->ret = -1;
            break;
        }
        augment_sample(it, &r, img, tmp);
    }
    free(tmp);
}

static void *worker_main(void *arg)
{
    cnas_iter *it = arg;
    pthread_mutex_lock(&it->mu);
    for (;;) {
        while (!it->stop && !it->have_job)
            pthread_cond_wait(&it->cv, &it->mu);
        if (it->stop)
            break;
        it->busy = true;
        it->have_job = false;
        cnas_iter_pos pos = it->ahead.pos;
        pthread_mutex_unlock(&it->mu);
        if (it->wperm_epoch != pos.epoch) {
            make_perm(it, pos.epoch, it->wperm);
            it->wperm_epoch = pos.epoch;
        }
        produce(it, pos, it->wperm, &it->ahead);
        pthread_mutex_lock(&it->mu);
        it->busy = false;
        pthread_cond_broadcast(&it->cv);
    }
    pthread_mutex_unlock(&it->mu);
    return NULL;
}

/* Wait until the worker is idle; then `ahead` is stable. */
static void wait_idle(cnas_iter *it)
{
    while (it->busy || it->have_job)
        pthread_cond_wait(&it->cv, &it->mu);
}

cnas_iter *cnas_iter_new(cnas_data *d, const cnas_iter_config *c, cnas_error *err)
{
    if (c->batch_size < 1) {
        cnas_error_set(err, CNAS_ERR_CONFIG, "data: batch size %lld, expected >= 1",
                       (long long)c->batch_size);
        return NULL;
    }
    cnas_iter *it = calloc(1, sizeof *it);
    if (!it) {
        cnas_error_set(err, CNAS_ERR_NOMEM, "data: out of memory");
        return NULL;
    }
    it->d = d;
    it->c = *c;
    snprintf(it->name, sizeof it->name, "%s", c->name ? c->name : "batches");
    it->c.name = it->name;
    it->n = d->size[c->split];
    it->batches = batch_count(it);
    it->perm = malloc((size_t)(it->n ? it->n : 1) * sizeof *it->perm);
    it->perm_epoch = -1;
    if (!it->perm) {
        cnas_iter_free(it);
        cnas_error_set(err, CNAS_ERR_NOMEM, "data: out of memory");
        return NULL;
    }
    if (c->prefetch && it->n > 0) {
        it->wperm = malloc((size_t)it->n * sizeof *it->wperm);
        it->ahead.images = malloc((size_t)(c->batch_size * d->sample_len) * sizeof(float));
        it->ahead.labels = malloc((size_t)c->batch_size * sizeof(int32_t));
        it->wperm_epoch = -1;
        it->ahead.pos.epoch = -1;
        if (!it->wperm || !it->ahead.images || !it->ahead.labels) {
            cnas_iter_free(it);
            cnas_error_set(err, CNAS_ERR_NOMEM, "data: out of memory");
            return NULL;
        }
        pthread_mutex_init(&it->mu, NULL);
        pthread_cond_init(&it->cv, NULL);
        if (pthread_create(&it->worker, NULL, worker_main, it) == 0)
            it->threaded = true;
    }
    return it;
}

void cnas_iter_free(cnas_iter *it)
{
    if (!it)
        return;
    if (it->threaded) {
        pthread_mutex_lock(&it->mu);
        it->stop = true;
        pthread_cond_broadcast(&it->cv);
        pthread_mutex_unlock(&it->mu);
        pthread_join(it->worker, NULL);
        pthread_mutex_destroy(&it->mu);
        pthread_cond_destroy(&it->cv);
    }
    free(it->perm);
    free(it->wperm);
    free(it->ahead.images);
    free(it->ahead.labels);
    free(it);
}

int64_t cnas_iter_batches(const cnas_iter *it) { return it->batches; }
cnas_iter_pos cnas_iter_position(const cnas_iter *it) { return it->pos; }

cnas_status cnas_iter_seek(cnas_iter *it, cnas_iter_pos pos, cnas_error *err)
{
    if (pos.epoch < 0 || pos.batch < 0 || pos.batch > it->batches)
        return cnas_error_set(err, CNAS_ERR_INVALID, "data: position epoch %lld batch %lld of %lld",
                              (long long)pos.epoch, (long long)pos.batch, (long long)it->batches);
    it->pos = pos;
    return CNAS_OK;
}

cnas_status cnas_iter_begin(cnas_iter *it, int64_t epoch, cnas_error *err)
{
    return cnas_iter_seek(it, (cnas_iter_pos){epoch, 0}, err);
}

static void schedule_next(cnas_iter *it, cnas_iter_pos pos)
{
    if (!it->threaded)
        return;
    if (pos.batch >= it->batches) {
        if (it->c.order != CNAS_ITER_CYCLE)
            return;
        pos.epoch++;
        pos.batch = 0;
    }
    pthread_mutex_lock(&it->mu);
    wait_idle(it);
    it->ahead.pos = pos;
    it->have_job = true;
    pthread_cond_broadcast(&it->cv);
    pthread_mutex_unlock(&it->mu);
}

int cnas_iter_next(cnas_iter *it, float *images, int32_t *labels, int64_t *n, cnas_error *err)
{
    if (it->pos.batch >= it->batches) {
        if (it->c.order != CNAS_ITER_CYCLE || it->batches == 0)
            return 0;
        it->pos.epoch++;
        it->pos.batch = 0;
    }
    cnas_iter_pos pos = it->pos;
    bool done = false;
    if (it->threaded) {
        pthread_mutex_lock(&it->mu);
        wait_idle(it);
        if (it->ahead.pos.epoch == pos.epoch && it->ahead.pos.batch == pos.batch) {
            if (it->ahead.ret < 0) {
                pthread_mutex_unlock(&it->mu);
                *err = it->ahead.err;
                return -1;
            }
            memcpy(images, it->ahead.images, (size_t)(it->ahead.n * it->d->sample_len) * sizeof(float));
            memcpy(labels, it->ahead.labels, (size_t)it->ahead.n * sizeof(int32_t));
            *n = it->ahead.n;
            done = true;
        }
        pthread_mutex_unlock(&it->mu);
    }
    if (!done) {
        if (it->perm_epoch != pos.epoch) {
            make_perm(it, pos.epoch, it->perm);
            it->perm_epoch = pos.epoch;
        }
        slot s = {.images = images, .labels = labels};
        produce(it, pos, it->perm, &s);
        if (s.ret < 0) {
            *err = s.err;
            return -1;
        }
        *n = s.n;
    }
    it->pos.batch++;
    schedule_next(it, it->pos);
    return 1;
}

/* ---- summaries ----------------------------------------------------------------------- */

cnas_status cnas_data_summary(cnas_data *d, FILE *out, cnas_error *err)
{
    const cnas_dataset_info *in = &d->info;
    fprintf(out, "dataset %s: %d x %d x %d, %d classes\n", in->name ? in->name : "(unnamed)",
            in->channels, in->height, in->width, in->num_classes);
    fprintf(out, "source: %lld train, %lld test\n", (long long)in->n_train, (long long)in->n_test);
    static const char *const names[3] = {"train", "val", "test"};
    int64_t *counts = calloc((size_t)in->num_classes * 3, sizeof *counts);
    float *img = malloc((size_t)d->sample_len * sizeof *img);
    if (!counts || !img) {
        free(counts);
        free(img);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "data: out of memory");
    }
    int64_t hw = (int64_t)in->height * in->width;
    double sum[4] = {0}, sq[4] = {0};
    for (int s = 0; s < 3; s++)
        for (int64_t i = 0; i < d->size[s]; i++) {
            int32_t label;
            cnas_status st = raw_sample(d, (cnas_data_split)s, i, img, &label, err);
            if (st) {
                free(counts);
                free(img);
                return st;
            }
            counts[s * in->num_classes + label]++;
            if (s == CNAS_DATA_TRAIN)
                for (int c = 0; c < in->channels; c++)
                    for (int64_t k = 0; k < hw; k++) {
                        sum[c] += img[c * hw + k];
                        sq[c] += (double)img[c * hw + k] * img[c * hw + k];
                    }
        }
    for (int s = 0; s < 3; s++)
        fprintf(out, "%-5s %lld samples\n", names[s], (long long)d->size[s]);
    fprintf(out, "per-class counts (train / val / test):\n");
    for (int k = 0; k < in->num_classes; k++)
        fprintf(out, "  %3d %-14s %6lld %6lld %6lld\n", k,
                in->class_names ? in->class_names[k] : "", (long long)counts[k],
                (long long)counts[in->num_classes + k], (long long)counts[2 * in->num_classes + k]);
    double n = (double)d->size[CNAS_DATA_TRAIN] * (double)hw;
    for (int c = 0; c < in->channels; c++) {
        double m = sum[c] / n;
        fprintf(out, "train channel %d: mean %.4f std %.4f (pixels in [0, 1])\n", c, m,
                sqrt(fmax(sq[c] / n - m * m, 0.0)));
    }
    free(counts);
    free(img);
    return CNAS_OK;
}
