/* The data pipeline: splits, normalisation, batching, augmentation, prefetch. */
#include <cnas/data.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/plugin.h>
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
    if (!CNAS_VT_HAS(vt, info) || !CNAS_VT_HAS(vt, get)) {
        cnas_error_set(err, CNAS_ERR_PLUGIN, "data: dataset vtable of %u bytes without info or get",
                       vt->size);
        goto fail;
    }
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
    /* train and val index the source's training split, test its test split */
    fprintf(f, "# split\tposition\tsource_index\n");
    for (int s = 0; s < 3; s++)
        for (int64_t i = 0; i < d->size[s]; i++)
            fprintf(f, "%s\t%lld\t%lld\n", names[s], (long long)i, (long long)(d->start[s] + i));
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return cnas_error_set(err, CNAS_ERR_IO, "writing %s failed: %s", path, strerror(errno));
    return CNAS_OK;
}

/* ---- iterators --------------------------------------------------------------------- */

/* One prepared batch. */
typedef struct slot {
    cnas_iter_pos pos;
    float *images;
    int32_t *labels;
    int64_t n;
    int ret;                 /* 1, or -1 with err set */
    cnas_error err;
} slot;

#define QUEUE_LEN 2

struct cnas_iter {
    cnas_data *d;
    cnas_iter_config c;
    char name[32];
    int64_t n, batches;      /* samples and batches in one epoch */
    int64_t split_n;         /* samples in the split */
    int64_t window;          /* 0, or an epoch's samples drawn in turn from shuffled passes */
    int64_t *pass;           /* scratch: one pass's order (windowed iterators) */
    int64_t *perm;           /* the consumer's order of epoch perm_epoch */
    int64_t perm_epoch;
    cnas_iter_pos pos;
    float *tmp;              /* the consumer's crop scratch */

    /* Prefetch. The worker produces the positions expect, expect+1, ... of the current
     * generation into a ring of QUEUE_LEN slots; the consumer takes them from `head`.
     * A seek that breaks the sequence starts a new generation: the worker drops what
     * it is making and the ring is emptied. Every batch is a pure function of its
     * position, so what the consumer receives never depends on the worker's timing. */
    bool threaded, stop, active;
    pthread_t worker;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot ring[QUEUE_LEN];
    int head, count;
    uint64_t gen;
    cnas_iter_pos expect;    /* the position at the ring's head (of this generation) */
    cnas_iter_pos want;      /* the next position the worker makes */
    bool started;            /* a generation exists */
    int64_t *wperm;          /* the worker's own order buffer */
    int64_t *wpass;          /* and its pass scratch */
    int64_t wperm_epoch;
    float *wtmp;
};

static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t z = a ^ (b + 0x9E3779B97F4A7C15ull + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The order of pass `p` over the split: a permutation drawn from the stream keyed by
 * (seed, p), so any pass can be rebuilt on its own. */
static void make_pass(const cnas_iter *it, int64_t p, int64_t *perm)
{
    for (int64_t i = 0; i < it->split_n; i++)
        perm[i] = i;
    if (it->c.order == CNAS_ITER_SEQUENTIAL)
        return;
    char purpose[48];
    snprintf(purpose, sizeof purpose, "data.%s", it->name);
    cnas_rng r;
    cnas_rng_init(&r, mix(it->c.seed, (uint64_t)p), purpose);
    cnas_rng_shuffle(&r, perm, it->split_n);
}

/* The order of `epoch`. Without a window an epoch is one pass. With one, the passes
 * are laid end to end and epoch e takes samples [e·w, (e+1)·w) of that stream: every
 * sample once per pass, and an epoch rebuilt from its number alone. `scratch` holds
 * a pass (the window's passes are made one at a time). */
static void make_perm(const cnas_iter *it, int64_t epoch, int64_t *perm, int64_t *scratch)
{
    if (!it->window) {
        make_pass(it, epoch, perm);
        return;
    }
    int64_t n = it->split_n, w = it->window, s = epoch * w, made = -1;
    for (int64_t j = 0; j < w; j++, s++) {
        if (s / n != made) {
            made = s / n;
            make_pass(it, made, scratch);
        }
        perm[j] = scratch[s % n];
    }
}

/* Crop and flip act on raw pixels (zero padding, as torchvision pads before
 * ToTensor / Normalize); cutout acts after normalisation, as DARTS' Cutout does,
 * so the hole is 0 in normalised units. */
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

/* Produce the batch at `pos` into s; perm holds that epoch's order. The augmentation
 * of a sample draws from a stream keyed by (seed, epoch, position in the epoch), so
 * it does not depend on the batch size nor on who produces the batch, or when. */
static void produce(const cnas_iter *it, cnas_iter_pos pos, const int64_t *perm, float *tmp, slot *s)
{
    int64_t B = it->c.batch_size, lo = pos.batch * B, hi = lo + B;
    if (hi > it->n)
        hi = it->n;
    s->pos = pos;
    s->n = hi - lo;
    s->ret = 1;
    int64_t len = it->d->sample_len;
    char purpose[48];
    snprintf(purpose, sizeof purpose, "augment.%s", it->name);
    uint64_t epoch_key = mix(it->c.seed, (uint64_t)pos.epoch);
    for (int64_t k = lo; k < hi; k++) {
        float *img = s->images + (k - lo) * len;
        if (raw_sample(it->d, it->c.split, perm[k], img, &s->labels[k - lo], &s->err)) {
            s->ret = -1;
            return;
        }
        cnas_rng r;
        cnas_rng_init(&r, mix(epoch_key, (uint64_t)k), purpose);
        augment_sample(it, &r, img, tmp);
    }
}

/* The position after p, or p itself with batch == batches at the end of a pass. */
static cnas_iter_pos advance(const cnas_iter *it, cnas_iter_pos p)
{
    p.batch++;
    if (p.batch >= it->batches && it->c.order == CNAS_ITER_CYCLE) {
        p.epoch++;
        p.batch = 0;
    }
    return p;
}

static bool same_pos(cnas_iter_pos a, cnas_iter_pos b)
{
    return a.epoch == b.epoch && a.batch == b.batch;
}

static void *worker_main(void *arg)
{
    cnas_iter *it = arg;
    pthread_mutex_lock(&it->mu);
    for (;;) {
        while (!it->stop && (!it->active || it->count == QUEUE_LEN))
            pthread_cond_wait(&it->cv, &it->mu);
        if (it->stop)
            break;
        /* The slot past the ring's tail: the consumer reads only filled slots. */
        slot *s = &it->ring[(it->head + it->count) % QUEUE_LEN];
        cnas_iter_pos pos = it->want;
        uint64_t gen = it->gen;
        pthread_mutex_unlock(&it->mu);
        if (it->wperm_epoch != pos.epoch) {
            make_perm(it, pos.epoch, it->wperm, it->wpass);
            it->wperm_epoch = pos.epoch;
        }
        produce(it, pos, it->wperm, it->wtmp, s);
        pthread_mutex_lock(&it->mu);
        if (gen == it->gen) {
            it->count++;
            it->want = advance(it, pos);
            if (it->want.batch >= it->batches)
                it->active = false;
            pthread_cond_broadcast(&it->cv);
        }
    }
    pthread_mutex_unlock(&it->mu);
    return NULL;
}

cnas_iter *cnas_iter_new(cnas_data *d, const cnas_iter_config *c, cnas_error *err)
{
    if (c->batch_size < 1) {
        cnas_error_set(err, CNAS_ERR_CONFIG, "data: batch size %lld, expected >= 1",
                       (long long)c->batch_size);
        return NULL;
    }
    const cnas_augment *a = &c->augment;
    if (a->crop_padding < 0 || a->cutout < 0 || a->crop_padding > 1024 || a->cutout > 65536) {
        cnas_error_set(err, CNAS_ERR_CONFIG, "data: crop padding %d and cutout %d, expected "
                       "0 (off) or a positive size", a->crop_padding, a->cutout);
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
    it->n = it->split_n = d->size[c->split];
    it->batches = batch_count(it);
    it->perm = malloc((size_t)(it->n ? it->n : 1) * sizeof *it->perm);
    it->tmp = malloc((size_t)d->sample_len * sizeof *it->tmp);
    it->perm_epoch = -1;
    bool ok = it->perm && it->tmp;
    if (ok && c->prefetch && it->batches > 0) {
        it->wperm = malloc((size_t)it->n * sizeof *it->wperm);
        it->wtmp = malloc((size_t)d->sample_len * sizeof *it->wtmp);
        it->wperm_epoch = -1;
        ok = it->wperm && it->wtmp;
        for (int i = 0; ok && i < QUEUE_LEN; i++) {
            it->ring[i].images = malloc((size_t)(c->batch_size * d->sample_len) * sizeof(float));
            it->ring[i].labels = malloc((size_t)c->batch_size * sizeof(int32_t));
            ok = it->ring[i].images && it->ring[i].labels;
        }
        if (ok) {
            pthread_mutex_init(&it->mu, NULL);
            pthread_cond_init(&it->cv, NULL);
            /* Without a thread the iterator still works, producing on the caller's. */
            if (pthread_create(&it->worker, NULL, worker_main, it) == 0) {
                it->threaded = true;
            } else {
                pthread_mutex_destroy(&it->mu);
                pthread_cond_destroy(&it->cv);
            }
        }
    }
    if (!ok) {
        cnas_iter_free(it);
        cnas_error_set(err, CNAS_ERR_NOMEM, "data: out of memory");
        return NULL;
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
    free(it->pass);
    free(it->tmp);
    free(it->wperm);
    free(it->wpass);
    free(it->wtmp);
    for (int i = 0; i < QUEUE_LEN; i++) {
        free(it->ring[i].images);
        free(it->ring[i].labels);
    }
    free(it);
}

cnas_status cnas_iter_set_epoch_samples(cnas_iter *it, int64_t samples, cnas_error *err)
{
    if (it->started || it->perm_epoch >= 0)
        return cnas_error_set(err, CNAS_ERR_INVALID, "data: the %s iterator has already made "
                              "batches; its epoch size can only be set before the first", it->name);
    if (samples < 0 || (samples > 0 && it->c.order != CNAS_ITER_SHUFFLE))
        return cnas_error_set(err, CNAS_ERR_CONFIG, "data: %lld samples an epoch for the %s "
                              "iterator, expected 0 (the whole split) or a positive number of a "
                              "shuffled iterator", (long long)samples, it->name);
    if (samples == 0 || it->split_n == 0) {
        it->window = 0;
        it->n = it->split_n;
    } else {
        int64_t *p = realloc(it->perm, (size_t)samples * sizeof *p);
        if (p)
            it->perm = p;
        int64_t *q = it->threaded && p ? realloc(it->wperm, (size_t)samples * sizeof *q) : NULL;
        if (q)
            it->wperm = q;
        if (!it->pass)
            it->pass = malloc((size_t)it->split_n * sizeof *it->pass);
        if (it->threaded && !it->wpass)
            it->wpass = malloc((size_t)it->split_n * sizeof *it->wpass);
        if (!p || !it->pass || (it->threaded && (!q || !it->wpass)))
            return cnas_error_set(err, CNAS_ERR_NOMEM, "data: out of memory");
        it->window = samples;
        it->n = samples;
    }
    it->batches = batch_count(it);
    it->pos = (cnas_iter_pos){0, 0};
    return CNAS_OK;
}

int64_t cnas_iter_batches(const cnas_iter *it) { return it->batches; }
cnas_iter_pos cnas_iter_position(const cnas_iter *it) { return it->pos; }

cnas_status cnas_iter_seek(cnas_iter *it, cnas_iter_pos pos, cnas_error *err)
{
    if (pos.epoch < 0 || pos.batch < 0 || pos.batch > it->batches)
        return cnas_error_set(err, CNAS_ERR_INVALID, "data: position epoch %lld batch %lld, "
                              "expected epoch >= 0 and batch 0 to %lld", (long long)pos.epoch,
                              (long long)pos.batch, (long long)it->batches);
    it->pos = pos;
    return CNAS_OK;
}

cnas_status cnas_iter_begin(cnas_iter *it, int64_t epoch, cnas_error *err)
{
    return cnas_iter_seek(it, (cnas_iter_pos){epoch, 0}, err);
}

/* Take the batch at pos from the ring, restarting the worker there if the ring holds
 * another sequence. Returns the slot's ret. */
static int take_prefetched(cnas_iter *it, cnas_iter_pos pos, float *images, int32_t *labels,
                           int64_t *n, cnas_error *err)
{
    pthread_mutex_lock(&it->mu);
    if (!it->started || !same_pos(pos, it->expect)) {
        it->gen++;
        it->started = true;
        it->count = 0;
        it->expect = it->want = pos;
        it->active = true;
        pthread_cond_broadcast(&it->cv);
    }
    while (it->count == 0)
        pthread_cond_wait(&it->cv, &it->mu);
    slot *s = &it->ring[it->head];
    pthread_mutex_unlock(&it->mu);
    /* The head slot is filled, so the worker writes only the other one. */
    int ret = s->ret;
    if (ret < 0) {
        if (err)
            *err = s->err;
        return -1;   /* stays at the head: asking again gives the same error */
    }
    memcpy(images, s->images, (size_t)(s->n * it->d->sample_len) * sizeof(float));
    memcpy(labels, s->labels, (size_t)s->n * sizeof(int32_t));
    *n = s->n;
    pthread_mutex_lock(&it->mu);
    it->head = (it->head + 1) % QUEUE_LEN;
    it->count--;
    it->expect = advance(it, pos);
    pthread_cond_broadcast(&it->cv);
    pthread_mutex_unlock(&it->mu);
    return 1;
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
    if (it->threaded) {
        if (take_prefetched(it, pos, images, labels, n, err) < 0)
            return -1;
    } else {
        if (it->perm_epoch != pos.epoch) {
            make_perm(it, pos.epoch, it->perm, it->pass);
            it->perm_epoch = pos.epoch;
        }
        slot s = {.images = images, .labels = labels};
        produce(it, pos, it->perm, it->tmp, &s);
        if (s.ret < 0) {
            if (err)
                *err = s.err;
            return -1;
        }
        *n = s.n;
    }
    it->pos.batch++;
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
