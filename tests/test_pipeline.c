/* The data pipeline: DARTS-style splits, normalisation, batching, shuffling,
 * augmentation, prefetch independence, resumable positions, summaries. */
#include "plugin_fixture.h"

#include <math.h>
#include <unistd.h>

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

START_TEST(test_summary_and_sample_grid_are_written)
{
    fixture f = open_synth(0.5, 0, true);
    cnas_error err;
    char path[] = "/tmp/cnas-grid-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    FILE *out = fopen("/dev/null", "w");
    ck_assert_int_eq(cnas_data_summary(f.d, out, &err), CNAS_OK);
    fclose(out);
    ck_assert_int_eq(cnas_data_write_grid_png(f.d, path, 4, &err), CNAS_OK);
    FILE *png = fopen(path, "rb");
    unsigned char sig[8];
    ck_assert_int_eq(fread(sig, 1, 8, png), 8);
    fclose(png);
    ck_assert_int_eq(memcmp(sig, "\x89PNG\r\n\x1a\n", 8), 0);
    unlink(path);
    close_fx(&f);
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
    tcase_add_test(tc, test_cycling_iterators_never_end_and_reshuffle_at_each_wrap);
    tcase_add_test(tc, test_cutout_zeroes_at_most_a_square_and_nothing_else);
    tcase_add_test(tc, test_summary_and_sample_grid_are_written);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
