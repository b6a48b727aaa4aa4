/* The data pipeline: DARTS-style splits, normalisation, batching, shuffling,
 * augmentation, prefetch independence, resumable positions, summaries. */
#include "plugin_fixture.h"

#include <math.h>
#include <unistd.h>
#include <zlib.h>

typedef struct fixture {
    const cnas_dataset_vtable *vt;
    void *ds;
    cnas_data *d;
} fixture;

static fixture open_synth(double portion, int64_t limit_train, bool normalize)
{
    const cnas_plugin_desc *pd = pf_load("SYNTH_SO");
    const cnas_component *c = pf_component(pd, CNAS_KIND_DATASET, "synthetic");
    const char *kv[4] = {"classes=5", "n_train=103", "n_test=21", "size=8"};
    cnas_params *p = pf_params(c, 4, kv);
    fixture f = {c->vtable, NULL, NULL};
    cnas_error err;
    ck_assert_int_eq(f.vt->open(p, &f.ds, &err), CNAS_OK);
    cnas_params_free(p);
    cnas_data_config dc = {.train_portion = portion, .normalize = normalize};
    dc.limit[CNAS_DATA_TRAIN] = limit_train;
    f.d = cnas_data_open(f.vt, f.ds, &dc, &err);
    ck_assert_msg(f.d != NULL, "%s", err.msg);
    return f;
}

static void close_fx(fixture *f)
{
    cnas_data_close(f->d);
    f->vt->close(f->ds);
}

START_TEST(test_train_portion_splits_the_source_training_set_as_darts_does)
{
    fixture f = open_synth(0.5, 0, false);
    ck_assert_int_eq(cnas_data_size(f.d, CNAS_DATA_TRAIN), 51);
    ck_assert_int_eq(cnas_data_size(f.d, CNAS_DATA_VAL), 52);
    ck_assert_int_eq(cnas_data_size(f.d, CNAS_DATA_TEST), 21);
    ck_assert_int_eq(cnas_data_source_index(f.d, CNAS_DATA_TRAIN, 0), 0);
    ck_assert_int_eq(cnas_data_source_index(f.d, CNAS_DATA_VAL, 0), 51);
    close_fx(&f);
    f = open_synth(1.0, 10, false);
    ck_assert_int_eq(cnas_data_size(f.d, CNAS_DATA_TRAIN), 10);
    ck_assert_int_eq(cnas_data_size(f.d, CNAS_DATA_VAL), 0);
    close_fx(&f);
}
END_TEST

START_TEST(test_normalisation_gives_zero_mean_unit_std_on_train)
{
    fixture f = open_synth(0.5, 0, true);
    float img[64];
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < 51; i++) {
        int32_t label;
        cnas_error err;
        ck_assert_int_eq(cnas_data_sample(f.d, CNAS_DATA_TRAIN, i, img, &label, &err), CNAS_OK);
        for (int k = 0; k < 64; k++) {
            s += img[k];
            s2 += (double)img[k] * img[k];
        }
    }
    double n = 51.0 * 64;
    ck_assert_double_eq_tol(s / n, 0.0, 1e-4);
    ck_assert_double_eq_tol(s2 / n, 1.0, 1e-3);
    close_fx(&f);
}
END_TEST

/* All labels of one epoch, in batch order. */
static int64_t epoch_labels(cnas_iter *it, int64_t epoch, int32_t *out, float *first_image)
{
    cnas_error err;
    float img[16 * 64];
    int32_t lab[16];
    int64_t n, total = 0;
    ck_assert_int_eq(cnas_iter_begin(it, epoch, &err), CNAS_OK);
    int r;
    while ((r = cnas_iter_next(it, img, lab, &n, &err)) == 1) {
        if (total == 0 && first_image)
            memcpy(first_image, img, 64 * sizeof(float));
        memcpy(out + total, lab, (size_t)n * sizeof *lab);
        total += n;
    }
    ck_assert_int_eq(r, 0);
    return total;
}

START_TEST(test_shuffling_is_a_seeded_permutation_per_epoch)
{
    fixture f = open_synth(0.5, 0, false);
    cnas_error err;
    cnas_iter_config c = {.split = CNAS_DATA_TRAIN, .order = CNAS_ITER_SEQUENTIAL, .batch_size = 16,
                          .name = "train", .seed = 3};
    cnas_iter *seq = cnas_iter_new(f.d, &c, &err);
    c.order = CNAS_ITER_SHUFFLE;
    cnas_iter *a = cnas_iter_new(f.d, &c, &err), *b = cnas_iter_new(f.d, &c, &err);
    int32_t ref[64], e0[64], e1[64], again[64];
    ck_assert_int_eq(epoch_labels(seq, 0, ref, NULL), 51);
    ck_assert_int_eq(cnas_iter_batches(seq), 4);
    ck_assert_int_eq(epoch_labels(a, 0, e0, NULL), 51);
    epoch_labels(a, 1, e1, NULL);
    epoch_labels(b, 0, again, NULL);
    ck_assert_int_eq(memcmp(e0, again, sizeof(int32_t) * 51), 0);
    ck_assert_int_ne(memcmp(e0, e1, sizeof(int32_t) * 51), 0);
    int hist_ref[5] = {0}, hist[5] = {0};
    for (int i = 0; i < 51; i++) {
        hist_ref[ref[i]]++;
        hist[e1[i]]++;
    }
    ck_assert_int_eq(memcmp(hist_ref, hist, sizeof hist), 0);
    c.drop_last = true;
    cnas_iter *dl = cnas_iter_new(f.d, &c, &err);
    ck_assert_int_eq(epoch_labels(dl, 0, e0, NULL), 48);
    cnas_iter_free(seq);
    cnas_iter_free(a);
    cnas_iter_free(b);
    cnas_iter_free(dl);
    close_fx(&f);
}
END_TEST

static uint32_t hash_epochs(fixture *f, bool prefetch, int64_t resume_epoch, int64_t resume_batch)
{
    cnas_error err;
    cnas_iter_config c = {.split = CNAS_DATA_TRAIN, .order = CNAS_ITER_SHUFFLE, .batch_size = 8,
                          .augment = {.crop_padding = 2, .flip = true, .cutout = 3},
                          .prefetch = prefetch, .name = "train", .seed = 11};
    cnas_iter *it = cnas_iter_new(f->d, &c, &err);
    uint32_t h = 2166136261u;
    float img[8 * 64];
    int32_t lab[8];
    int64_t n;
    for (int64_t e = resume_epoch; e < 3; e++) {
        if (e == resume_epoch && resume_batch > 0)
            ck_assert_int_eq(cnas_iter_seek(it, (cnas_iter_pos){e, resume_batch}, &err), CNAS_OK);
        else
            cnas_iter_begin(it, e, &err);
        while (cnas_iter_next(it, img, lab, &n, &err) == 1) {
            const unsigned char *p = (const unsigned char *)img;
            for (size_t k = 0; k < (size_t)n * 64 * sizeof(float); k++)
                h = (h ^ p[k]) * 16777619u;
            for (int64_t k = 0; k < n; k++)
                h = (h ^ (uint32_t)lab[k]) * 16777619u;
        }
    }
    cnas_iter_free(it);
    return h;
}

START_TEST(test_prefetch_does_not_change_a_single_bit)
{
    fixture f = open_synth(0.5, 0, true);
    ck_assert_uint_eq(hash_epochs(&f, false, 0, 0), hash_epochs(&f, true, 0, 0));
    close_fx(&f);
}
END_TEST

START_TEST(test_a_seeked_position_continues_exactly)
{
    /* The tail from (epoch 1, batch 3) on equals the tail of a full run. */
    fixture f = open_synth(0.5, 0, true);
    cnas_error err;
    cnas_iter_config c = {.split = CNAS_DATA_TRAIN, .order = CNAS_ITER_SHUFFLE, .batch_size = 8,
                          .augment = {.crop_padding = 2, .flip = true}, .name = "train", .seed = 11};
    cnas_iter *full = cnas_iter_new(f.d, &c, &err), *resumed = cnas_iter_new(f.d, &c, &err);
    float a[8 * 64], b[8 * 64];
    int32_t la[8], lb[8];
    int64_t na, nb;
    cnas_iter_begin(full, 1, &err);
    for (int k = 0; k < 3; k++)
        cnas_iter_next(full, a, la, &na, &err);
    cnas_iter_pos pos = cnas_iter_position(full);
    ck_assert_int_eq(pos.epoch, 1);
    ck_assert_int_eq(pos.batch, 3);
    ck_assert_int_eq(cnas_iter_seek(resumed, pos, &err), CNAS_OK);
    int ra, rb;
    while ((ra = cnas_iter_next(full, a, la, &na, &err)) == 1) {
        rb = cnas_iter_next(resumed, b, lb, &nb, &err);
        ck_assert_int_eq(rb, 1);
        ck_assert_int_eq(na, nb);
        ck_assert_int_eq(memcmp(a, b, (size_t)na * 64 * sizeof(float)), 0);
    }
    ck_assert_int_eq(cnas_iter_next(resumed, b, lb, &nb, &err), 0);
    cnas_iter_free(full);
    cnas_iter_free(resumed);
    close_fx(&f);
}
END_TEST

/* The source index of every sample `epochs` windowed epochs yield, in order. */
static int64_t window_stream(fixture *f, bool prefetch, int64_t window, int64_t epochs,
                             int64_t seek_epoch, int64_t *out)
{
    cnas_error err;
    cnas_iter_config c = {.split = CNAS_DATA_TRAIN, .order = CNAS_ITER_SHUFFLE, .batch_size = 8,
                          .prefetch = prefetch, .name = "train", .seed = 11};
    cnas_iter *it = cnas_iter_new(f->d, &c, &err);
    ck_assert_int_eq(cnas_iter_set_epoch_samples(it, window, &err), CNAS_OK);
    ck_assert_int_eq(cnas_iter_batches(it), ((window ? window : 51) + 7) / 8);
    float ref[51][64], img[8 * 64];
    int32_t lab[8];
    for (int64_t i = 0; i < 51; i++)
        ck_assert_int_eq(cnas_data_sample(f->d, CNAS_DATA_TRAIN, i, ref[i], lab, &err), CNAS_OK);
    int64_t got = 0, n;
    for (int64_t e = seek_epoch; e < epochs; e++) {
        cnas_iter_begin(it, e, &err);
        while (cnas_iter_next(it, img, lab, &n, &err) == 1)
            for (int64_t k = 0; k < n; k++) {
                int64_t who = -1;
                for (int64_t i = 0; i < 51 && who < 0; i++)
                    if (!memcmp(img + k * 64, ref[i], sizeof ref[i]))
                        who = i;
                ck_assert_int_ge(who, 0);
                out[got++] = who;
            }
    }
    cnas_iter_free(it);
    return got;
}

START_TEST(test_windowed_epochs_walk_through_whole_shuffled_passes)
{
    /* Epochs of 20 samples over a split of 51: laid end to end they are the passes
     * of the split, each a permutation, the first equal to a plain epoch 0. */
    fixture f = open_synth(0.5, 0, false);
    int64_t s[200], t[200], plain[51];
    ck_assert_int_eq(window_stream(&f, false, 20, 9, 0, s), 180);
    for (int pass = 0; pass < 3; pass++) {
        int seen[51] = {0};
        for (int k = 0; k < 51; k++)
            seen[s[pass * 51 + k]]++;
        for (int i = 0; i < 51; i++)
            ck_assert_int_eq(seen[i], 1);
    }
    ck_assert_int_eq(window_stream(&f, false, 0, 1, 0, plain), 51);
    ck_assert_int_eq(memcmp(plain, s, sizeof plain), 0);
    ck_assert_int_ne(memcmp(s, s + 51, 51 * sizeof *s), 0);
    /* The prefetch thread and a run begun at epoch 4 give the same samples. */
    ck_assert_int_eq(window_stream(&f, true, 20, 9, 0, t), 180);
    ck_assert_int_eq(memcmp(s, t, 180 * sizeof *s), 0);
    ck_assert_int_eq(window_stream(&f, true, 20, 9, 4, t), 100);
    ck_assert_int_eq(memcmp(s + 80, t, 100 * sizeof *s), 0);
    /* A window longer than the split spans passes too. */
    ck_assert_int_eq(window_stream(&f, false, 60, 2, 0, t), 120);
    ck_assert_int_eq(memcmp(s, t, 120 * sizeof *s), 0);
    close_fx(&f);
}
END_TEST

START_TEST(test_a_window_is_refused_after_the_first_batch_and_on_cycles)
{
    fixture f = open_synth(0.5, 0, false);
    cnas_error err;
    cnas_iter_config c = {.split = CNAS_DATA_VAL, .order = CNAS_ITER_CYCLE, .batch_size = 8,
                          .name = "val", .seed = 1};
    cnas_iter *it = cnas_iter_new(f.d, &c, &err);
    ck_assert_int_eq(cnas_iter_set_epoch_samples(it, 10, &err), CNAS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "10 samples an epoch"));
    ck_assert_int_eq(cnas_iter_set_epoch_samples(it, 0, &err), CNAS_OK);
    cnas_iter_free(it);
    c = (cnas_iter_config){.split = CNAS_DATA_TRAIN, .order = CNAS_ITER_SHUFFLE, .batch_size = 8,
                           .name = "train", .seed = 1};
    it = cnas_iter_new(f.d, &c, &err);
    float img[8 * 64];
    int32_t lab[8];
    int64_t n;
    ck_assert_int_eq(cnas_iter_next(it, img, lab, &n, &err), 1);
    ck_assert_int_eq(cnas_iter_set_epoch_samples(it, 10, &err), CNAS_ERR_INVALID);
    cnas_iter_free(it);
    close_fx(&f);
}
END_TEST

START_TEST(test_cycling_iterators_never_end_and_reshuffle_at_each_wrap)
{
    fixture f = open_synth(0.5, 0, false);
    cnas_error err;
    cnas_iter_config c = {.split = CNAS_DATA_VAL, .order = CNAS_ITER_CYCLE, .batch_size = 20,
                          .prefetch = true, .name = "val", .seed = 5};
    cnas_iter *it = cnas_iter_new(f.d, &c, &err);
    float img[20 * 64];
    int32_t lab[20];
    int64_t n, total = 0;
    for (int k = 0; k < 10; k++) {
        ck_assert_int_eq(cnas_iter_next(it, img, lab, &n, &err), 1);
        total += n;
    }
    /* 52 samples make 3 batches (20, 20, 12) per wrap: 10 batches end inside wrap 3. */
    ck_assert_int_eq(total, 3 * 52 + 20);
    ck_assert_int_eq(cnas_iter_position(it).epoch, 3);
    ck_assert_int_eq(cnas_iter_position(it).batch, 1);
    cnas_iter_free(it);
    close_fx(&f);
}
END_TEST

START_TEST(test_cutout_zeroes_at_most_a_square_and_nothing_else)
{
    fixture f = open_synth(0.5, 0, false);
    cnas_error err;
    cnas_iter_config c = {.split = CNAS_DATA_TRAIN, .order = CNAS_ITER_SEQUENTIAL, .batch_size = 51,
                          .augment = {.cutout = 4}, .name = "cut", .seed = 1};
    cnas_iter *it = cnas_iter_new(f.d, &c, &err);
    float img[51 * 64], plain[64];
    int32_t lab[51];
    int64_t n;
    cnas_iter_begin(it, 0, &err);
    ck_assert_int_eq(cnas_iter_next(it, img, lab, &n, &err), 1);
    int squares = 0;
    for (int i = 0; i < 51; i++) {
        int32_t l;
        cnas_data_sample(f.d, CNAS_DATA_TRAIN, i, plain, &l, &err);
        int zeroed = 0, changed = 0;
        for (int k = 0; k < 64; k++) {
            changed += img[i * 64 + k] != plain[k];
            zeroed += img[i * 64 + k] == 0.0f && plain[k] != 0.0f;
        }
        ck_assert_int_eq(changed, zeroed);
        ck_assert_int_le(zeroed, 16);
        squares += zeroed > 0;
    }
    ck_assert_int_gt(squares, 40);
    cnas_iter_free(it);
    close_fx(&f);
}
END_TEST

START_TEST(test_the_summary_counts_every_split_and_class)
{
    fixture f = open_synth(0.5, 0, true);
    cnas_error err;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ck_assert_int_eq(cnas_data_summary(f.d, out, &err), CNAS_OK);
    fclose(out);
    ck_assert_msg(strstr(text, "train 51 samples") && strstr(text, "val   52 samples") &&
                  strstr(text, "test  21 samples") && strstr(text, "8 x 8") &&
                  strstr(text, "5 classes"), "%s", text);
    /* The per-class rows add up to the split sizes and agree with the samples. */
    int64_t want[3][5] = {{0}}, got[3] = {0};
    float img[64];
    for (int sp = 0; sp < 3; sp++)
        for (int64_t i = 0; i < cnas_data_size(f.d, (cnas_data_split)sp); i++) {
            int32_t l;
            cnas_data_sample(f.d, (cnas_data_split)sp, i, img, &l, &err);
            want[sp][l]++;
        }
    const char *row = strstr(text, "per-class counts");
    ck_assert_ptr_nonnull(row);
    for (int k = 0; k < 5; k++) {
        row = strchr(row, '\n') + 1;
        int kk;
        long long a, b, c;
        ck_assert_int_eq(sscanf(row, "%d %lld %lld %lld", &kk, &a, &b, &c), 4);
        ck_assert_int_eq(kk, k);
        ck_assert_int_eq(a, want[0][k]);
        ck_assert_int_eq(b, want[1][k]);
        ck_assert_int_eq(c, want[2][k]);
        got[0] += a;
        got[1] += b;
        got[2] += c;
    }
    ck_assert_int_eq(got[0], 51);
    ck_assert_int_eq(got[1], 52);
    ck_assert_int_eq(got[2], 21);
    free(text);
    close_fx(&f);
}
END_TEST

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

START_TEST(test_the_sample_grid_is_a_valid_png_with_a_row_per_class)
{
    fixture f = open_synth(0.5, 0, true);
    cnas_error err;
    char path[] = "/tmp/cnas-grid-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(cnas_data_write_grid_png(f.d, path, 4, &err), CNAS_OK);
    FILE *png = fopen(path, "rb");
    static unsigned char file[1 << 16];
    size_t size = fread(file, 1, sizeof file, png);
    fclose(png);
    unlink(path);
    ck_assert_int_eq(memcmp(file, "\x89PNG\r\n\x1a\n", 8), 0);
    /* Walk the chunks, checking every CRC, and gather IDAT. */
    static unsigned char z[1 << 16];
    size_t zlen = 0, at = 8;
    uint32_t w = 0, h = 0;
    bool end = false;
    while (at + 12 <= size && !end) {
        uint32_t len = rd32(file + at);
        ck_assert_uint_le(at + 12 + len, size);
        const unsigned char *type = file + at + 4, *data = type + 4;
        uLong crc = crc32(crc32(0L, type, 4), data, len);
        ck_assert_uint_eq(crc, rd32(data + len));
        if (memcmp(type, "IHDR", 4) == 0) {
            w = rd32(data);
            h = rd32(data + 4);
            ck_assert_int_eq(data[8], 8);  /* bit depth */
            ck_assert_int_eq(data[9], 0);  /* grey */
        } else if (memcmp(type, "IDAT", 4) == 0) {
            memcpy(z + zlen, data, len);
            zlen += len;
        }
        end = memcmp(type, "IEND", 4) == 0;
        at += 12 + len;
    }
    ck_assert(end);
    /* 4 samples of 8 px per row with 2 px gaps; 5 class rows. */
    ck_assert_uint_eq(w, 4 * 10 + 2);
    ck_assert_uint_eq(h, 5 * 10 + 2);
    static unsigned char raw[(42 + 1) * 52];
    uLongf raw_len = sizeof raw;
    ck_assert_int_eq(uncompress(raw, &raw_len, z, (uLong)zlen), Z_OK);
    ck_assert_uint_eq(raw_len, (w + 1) * h);
    /* The first cell of class k's row is the first training sample of class k. */
    float mean[4], std[4], img[64];
    cnas_data_norm(f.d, mean, std);
    bool seen[5] = {false};
    for (int64_t i = 0; i < 51; i++) {
        int32_t l;
        cnas_data_sample(f.d, CNAS_DATA_TRAIN, i, img, &l, &err);
        if (seen[l])
            continue;
        seen[l] = true;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) {
                float v = (img[y * 8 + x] * std[0] + mean[0]) * 255.0f;
                int px = raw[(size_t)(2 + l * 10 + y) * (w + 1) + 1 + 2 + x];
                ck_assert_int_le(abs(px - (int)lroundf(v < 0 ? 0 : v > 255 ? 255 : v)), 1);
            }
    }
    close_fx(&f);
}
END_TEST

START_TEST(test_given_statistics_replace_the_computed_ones)
{
    fixture f = open_synth(0.5, 0, false);
    cnas_error err;
    cnas_data_config dc = {.train_portion = 0.5, .normalize = true, .stats_given = true,
                           .mean = {0.25f}, .std = {0.5f}};
    cnas_data *d = cnas_data_open(f.vt, f.ds, &dc, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    float raw[64], norm[64];
    int32_t l;
    ck_assert_int_eq(cnas_data_sample(f.d, CNAS_DATA_TRAIN, 7, raw, &l, &err), CNAS_OK);
    ck_assert_int_eq(cnas_data_sample(d, CNAS_DATA_TRAIN, 7, norm, &l, &err), CNAS_OK);
    for (int k = 0; k < 64; k++)
        ck_assert_float_eq_tol(norm[k], (raw[k] - 0.25f) / 0.5f, 1e-6);
    cnas_data_close(d);
    dc.std[0] = 0.0f;
    ck_assert_ptr_null(cnas_data_open(f.vt, f.ds, &dc, &err));
    ck_assert_int_eq(err.code, CNAS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "std of channel 0"));
    close_fx(&f);
}
END_TEST

START_TEST(test_the_split_file_lists_every_sample_with_its_source_index)
{
    fixture f = open_synth(0.5, 0, false);
    cnas_error err;
    char path[] = "/tmp/cnas-splits-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(cnas_data_write_splits(f.d, path, &err), CNAS_OK);
    FILE *in = fopen(path, "r");
    char line[128], name[16];
    long long pos, src;
    int counts[3] = {0};
    ck_assert_ptr_nonnull(fgets(line, sizeof line, in));
    ck_assert_int_eq(line[0], '#');
    while (fgets(line, sizeof line, in)) {
        ck_assert_int_eq(sscanf(line, "%15s %lld %lld", name, &pos, &src), 3);
        int s = strcmp(name, "train") == 0 ? 0 : strcmp(name, "val") == 0 ? 1 : 2;
        ck_assert_int_eq(pos, counts[s]);
        ck_assert_int_eq(src, (s == 1 ? 51 : 0) + pos);
        counts[s]++;
    }
    fclose(in);
    unlink(path);
    ck_assert_int_eq(counts[0], 51);
    ck_assert_int_eq(counts[1], 52);
    ck_assert_int_eq(counts[2], 21);
    ck_assert_int_ne(cnas_data_write_splits(f.d, "/nonexistent-dir/splits.tsv", &err), CNAS_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent-dir/splits.tsv"));
    close_fx(&f);
}
END_TEST

/* Crop with padding p and flip only move pixels: each augmented image equals the
 * plain one shifted by some (dy, dx) in [-p, p]^2, zero-filled, maybe mirrored. */
static bool is_shift_of(const float *aug, const float *plain, int p)
{
    for (int flip = 0; flip < 2; flip++)
        for (int dy = -p; dy <= p; dy++)
            for (int dx = -p; dx <= p; dx++) {
                bool same = true;
                for (int y = 0; y < 8 && same; y++)
                    for (int x = 0; x < 8 && same; x++) {
                        int xs = flip ? 7 - x : x; /* flip after the crop */
                        int sy = y + dy, sx = xs + dx;
                        float want = sy >= 0 && sy < 8 && sx >= 0 && sx < 8 ? plain[sy * 8 + sx] : 0;
                        same = aug[y * 8 + x] == want;
                    }
                if (same)
                    return true;
            }
    return false;
}

START_TEST(test_crop_and_flip_only_move_pixels_within_the_padding)
{
    fixture f = open_synth(0.5, 0, false);
    cnas_error err;
    cnas_iter_config c = {.split = CNAS_DATA_TRAIN, .order = CNAS_ITER_SEQUENTIAL, .batch_size = 51,
                          .augment = {.crop_padding = 2, .flip = true}, .name = "t", .seed = 9};
    cnas_iter *it = cnas_iter_new(f.d, &c, &err);
    float img[51 * 64], plain[64];
    int32_t lab[51];
    int64_t n;
    ck_assert_int_eq(cnas_iter_next(it, img, lab, &n, &err), 1);
    int moved = 0;
    for (int i = 0; i < 51; i++) {
        int32_t l;
        cnas_data_sample(f.d, CNAS_DATA_TRAIN, i, plain, &l, &err);
        ck_assert_int_eq(l, lab[i]);
        ck_assert_msg(is_shift_of(img + i * 64, plain, 2), "sample %d is not a crop or flip", i);
        moved += memcmp(img + i * 64, plain, sizeof plain) != 0;
    }
    ck_assert_int_gt(moved, 40);
    cnas_iter_free(it);
    close_fx(&f);
}
END_TEST

START_TEST(test_a_sample_is_augmented_the_same_whatever_the_batch_size)
{
    fixture f = open_synth(0.5, 0, true);
    cnas_error err;
    cnas_iter_config c = {.split = CNAS_DATA_TRAIN, .order = CNAS_ITER_SHUFFLE, .batch_size = 51,
                          .augment = {.crop_padding = 1, .flip = true, .cutout = 2}, .name = "train",
                          .seed = 4};
    cnas_iter *whole = cnas_iter_new(f.d, &c, &err);
    c.batch_size = 5;
    c.prefetch = true;
    cnas_iter *small = cnas_iter_new(f.d, &c, &err);
    float a[51 * 64], b[5 * 64];
    int32_t la[51], lb[5];
    int64_t n, off = 0;
    cnas_iter_begin(whole, 2, &err);
    cnas_iter_begin(small, 2, &err);
    ck_assert_int_eq(cnas_iter_next(whole, a, la, &n, &err), 1);
    while (cnas_iter_next(small, b, lb, &n, &err) == 1) {
        ck_assert_int_eq(memcmp(a + off * 64, b, (size_t)n * 64 * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(la + off, lb, (size_t)n * sizeof(int32_t)), 0);
        off += n;
    }
    ck_assert_int_eq(off, 51);
    cnas_iter_free(whole);
    cnas_iter_free(small);
    close_fx(&f);
}
END_TEST

/* A source whose sample 37 cannot be read. */
static cnas_status bad_info(void *self, cnas_dataset_info *info, cnas_error *err)
{
    (void)self;
    (void)err;
    info->channels = 1;
    info->height = info->width = 2;
    info->num_classes = 3;
    info->n_train = 60;
    info->n_test = 0;
    info->name = "flaky";
    info->class_names = NULL;
    return CNAS_OK;
}

static cnas_status bad_get(void *self, cnas_split split, int64_t index, float *image, int32_t *label,
                           cnas_error *err)
{
    (void)self;
    (void)split;
    if (index == 37)
        return cnas_error_set(err, CNAS_ERR_FORMAT, "flaky: record 37 is damaged");
    for (int k = 0; k < 4; k++)
        image[k] = (float)index / 64.0f;
    *label = (int32_t)(index % 3);
    return CNAS_OK;
}

static const cnas_dataset_vtable bad_vt = {sizeof bad_vt, NULL, NULL, bad_info, bad_get};

START_TEST(test_a_dataset_error_reaches_the_consumer_through_the_prefetch_thread)
{
    cnas_error err;
    cnas_data_config dc = {.train_portion = 1.0};
    cnas_data *d = cnas_data_open(&bad_vt, NULL, &dc, &err);
    ck_assert_ptr_nonnull(d);
    for (int prefetch = 0; prefetch < 2; prefetch++) {
        cnas_iter_config c = {.split = CNAS_DATA_TRAIN, .order = CNAS_ITER_SEQUENTIAL,
                              .batch_size = 10, .prefetch = prefetch, .name = "t"};
        cnas_iter *it = cnas_iter_new(d, &c, &err);
        float img[40];
        int32_t lab[10];
        int64_t n;
        int r, good = 0;
        cnas_error_clear(&err);
        while ((r = cnas_iter_next(it, img, lab, &n, &err)) == 1)
            good++;
        ck_assert_int_eq(r, -1);
        ck_assert_int_eq(good, 3); /* batches 0, 1, 2; batch 3 holds sample 37 */
        ck_assert_int_eq(err.code, CNAS_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(err.msg, "record 37 is damaged"));
        ck_assert_int_eq(cnas_iter_position(it).batch, 3);
        /* Asking again repeats the error rather than skipping the batch. */
        ck_assert_int_eq(cnas_iter_next(it, img, lab, &n, &err), -1);
        cnas_iter_free(it);
    }
    cnas_data_close(d);
    /* Normalisation statistics read every training sample, so opening fails too. */
    dc.normalize = true;
    ck_assert_ptr_null(cnas_data_open(&bad_vt, NULL, &dc, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "record 37 is damaged"));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("data");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_train_portion_splits_the_source_training_set_as_darts_does);
    tcase_add_test(tc, test_normalisation_gives_zero_mean_unit_std_on_train);
    tcase_add_test(tc, test_shuffling_is_a_seeded_permutation_per_epoch);
    tcase_add_test(tc, test_prefetch_does_not_change_a_single_bit);
    tcase_add_test(tc, test_a_seeked_position_continues_exactly);
    tcase_add_test(tc, test_windowed_epochs_walk_through_whole_shuffled_passes);
    tcase_add_test(tc, test_a_window_is_refused_after_the_first_batch_and_on_cycles);
    tcase_add_test(tc, test_cycling_iterators_never_end_and_reshuffle_at_each_wrap);
    tcase_add_test(tc, test_cutout_zeroes_at_most_a_square_and_nothing_else);
    tcase_add_test(tc, test_the_summary_counts_every_split_and_class);
    tcase_add_test(tc, test_the_sample_grid_is_a_valid_png_with_a_row_per_class);
    tcase_add_test(tc, test_given_statistics_replace_the_computed_ones);
    tcase_add_test(tc, test_the_split_file_lists_every_sample_with_its_source_index);
    tcase_add_test(tc, test_crop_and_flip_only_move_pixels_within_the_padding);
    tcase_add_test(tc, test_a_sample_is_augmented_the_same_whatever_the_batch_size);
    tcase_add_test(tc, test_a_dataset_error_reaches_the_consumer_through_the_prefetch_thread);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
