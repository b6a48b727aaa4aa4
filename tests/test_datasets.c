/* Dataset plugins: the real Fashion-MNIST, generated IDX and CIFAR files in their
 * published layouts, and one test per kind of bad input. */
#include "plugin_fixture.h"

#include <unistd.h>
#include <zlib.h>

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/cnas-data-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

typedef struct opened {
    const cnas_dataset_vtable *vt;
    void *self;
    cnas_status st;
    cnas_error err;
} opened;

static opened open_ds(const char *so_var, const char *name, int n, const char *const *kv)
{
    const cnas_plugin_desc *d = pf_load(so_var);
    const cnas_component *c = pf_component(d, CNAS_KIND_DATASET, name);
    cnas_params *p = pf_params(c, n, kv);
    opened o = {c->vtable, NULL, CNAS_OK, {0}};
    o.st = o.vt->open(p, &o.self, &o.err);
    cnas_params_free(p);
    return o;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Write an IDX pair for `prefix` with n 4x3 images; gz selects gzip. */
static void write_idx(const char *prefix, uint32_t n_images, uint32_t n_labels, uint32_t magic_img,
                      int bad_label_at, int gz, long truncate_images_to)
{
    char path[256];
    unsigned char h[16];
    size_t len = 16 + (size_t)n_images * 12;
    unsigned char *buf = malloc(len);
    put32(buf, magic_img);
    put32(buf + 4, n_images);
    put32(buf + 8, 4);
    put32(buf + 12, 3);
    for (size_t i = 16; i < len; i++)
        buf[i] = (unsigned char)(i * 7);
    if (truncate_images_to > 0)
        len = (size_t)truncate_images_to;
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, buf, (unsigned)len);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(buf, 1, len, f);
        fclose(f);
    }
    free(buf);
    unsigned char *lab = malloc(8 + n_labels);
    put32(lab, 0x801);
    put32(lab + 4, n_labels);
    for (uint32_t i = 0; i < n_labels; i++)
        lab[8 + i] = (unsigned char)((int)i == bad_label_at ? 10 : i % 10);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, lab, 8 + n_labels);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(lab, 1, 8 + n_labels, f);
        fclose(f);
    }
    free(lab);
    (void)h;
}

static opened open_idx(void)
{
    char kv[300];
    snprintf(kv, sizeof kv, "path=%s", dir);
    const char *kvs[1] = {kv};
    return open_ds("IDX_SO", "idx", 1, kvs);
}

START_TEST(test_the_default_idx_source_is_fashion_mnist_as_published)
{
    /* No keys: the embedded default path, installed by the dataset-fashion-mnist package. */
    opened o = open_ds("IDX_SO", "idx", 0, NULL);
    ck_assert_msg(o.st == CNAS_OK, "Fashion-MNIST (install the Debian package "
                  "dataset-fashion-mnist): %s", o.err.msg);
    cnas_dataset_info info = {.size = sizeof info};
    ck_assert_int_eq(o.vt->info(o.self, &info, &o.err), CNAS_OK);
    ck_assert_int_eq(info.n_train, 60000);
    ck_assert_int_eq(info.n_test, 10000);
    ck_assert_int_eq(info.height, 28);
    ck_assert_int_eq(info.num_classes, 10);
    ck_assert_str_eq(info.class_names[9], "Ankle boot");
    int counts[10] = {0};
    float img[784];
    for (int64_t i = 0; i < 60000; i++) {
        int32_t label;
        ck_assert_int_eq(o.vt->get(o.self, CNAS_SPLIT_TRAIN, i, img, &label, &o.err), CNAS_OK);
        counts[label]++;
    }
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(counts[k], 6000);
    o.vt->close(o.self);
}
END_TEST

START_TEST(test_idx_reads_plain_and_gzipped_files)
{
    write_idx("train", 20, 20, 0x803, -1, 0, 0);
    write_idx("t10k", 5, 5, 0x803, -1, 1, 0);
    opened o = open_idx();
    ck_assert_msg(o.st == CNAS_OK, "%s", o.err.msg);
    cnas_dataset_info info = {.size = sizeof info};
    o.vt->info(o.self, &info, &o.err);
    ck_assert_int_eq(info.n_train, 20);
    ck_assert_int_eq(info.n_test, 5);
    ck_assert_int_eq(info.height, 4);
    ck_assert_int_eq(info.width, 3);
    float img[12];
    int32_t label;
    ck_assert_int_eq(o.vt->get(o.self, CNAS_SPLIT_TEST, 3, img, &label, &o.err), CNAS_OK);
    ck_assert_int_eq(label, 3);
    ck_assert_float_eq_tol(img[0], (float)((16 + 36) * 7 % 256) / 255.0f, 1e-6);
    o.vt->close(o.self);
}
END_TEST

static void expect_failure(cnas_status code, const char *fragment1, const char *fragment2)
{
    opened o = open_idx();
    ck_assert_int_eq(o.st, code);
    ck_assert_msg(strstr(o.err.msg, fragment1) && strstr(o.err.msg, fragment2),
                  "message '%s' lacks '%s' or '%s'", o.err.msg, fragment1, fragment2);
}

START_TEST(test_idx_missing_file_is_named)
{
    write_idx("train", 20, 20, 0x803, -1, 0, 0);
    expect_failure(CNAS_ERR_IO, "t10k-images-idx3-ubyte", "exists");
}
END_TEST

START_TEST(test_idx_truncated_file_is_reported)
{
    write_idx("train", 20, 20, 0x803, -1, 0, 100);
    write_idx("t10k", 5, 5, 0x803, -1, 0, 0);
    expect_failure(CNAS_ERR_FORMAT, "train-images-idx3-ubyte", "truncated");
}
END_TEST

START_TEST(test_idx_truncated_gzip_file_is_reported)
{
    write_idx("train", 20, 20, 0x803, -1, 0, 0);
    write_idx("t10k", 50, 50, 0x803, -1, 1, 0);
    char path[256];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(path, size / 2), 0);
    opened o = open_idx();
    ck_assert_int_eq(o.st, CNAS_ERR_FORMAT);
    ck_assert_msg(strstr(o.err.msg, "t10k-images-idx3-ubyte.gz") &&
                  (strstr(o.err.msg, "truncated") || strstr(o.err.msg, "corrupt")), "%s", o.err.msg);
}
END_TEST

START_TEST(test_idx_wrong_magic_is_reported)
{
    write_idx("train", 20, 20, 0x804, -1, 0, 0);
    write_idx("t10k", 5, 5, 0x803, -1, 0, 0);
    expect_failure(CNAS_ERR_FORMAT, "train-images-idx3-ubyte", "magic number 0x00000804");
}
END_TEST

START_TEST(test_idx_label_out_of_range_is_reported)
{
    write_idx("train", 20, 20, 0x803, 7, 0, 0);
    write_idx("t10k", 5, 5, 0x803, -1, 0, 0);
    expect_failure(CNAS_ERR_FORMAT, "train-labels-idx1-ubyte", "record 7");
}
END_TEST

START_TEST(test_idx_image_and_label_counts_must_agree)
{
    write_idx("train", 20, 19, 0x803, -1, 0, 0);
    write_idx("t10k", 5, 5, 0x803, -1, 0, 0);
    expect_failure(CNAS_ERR_FORMAT, "19 labels", "20 images");
}
END_TEST

START_TEST(test_idx_corrupt_gzip_stream_is_reported)
{
    write_idx("train", 200, 200, 0x803, -1, 1, 0);
    write_idx("t10k", 5, 5, 0x803, -1, 0, 0);
    char path[256];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    FILE *f = fopen(path, "r+b");
    fseek(f, 30, SEEK_SET);
    for (int i = 0; i < 40; i++)
        fputc(0xA5 ^ i, f);
    fclose(f);
    opened o = open_idx();
    ck_assert_int_eq(o.st, CNAS_ERR_FORMAT);
    ck_assert_msg(strstr(o.err.msg, "train-images-idx3-ubyte.gz") &&
                  (strstr(o.err.msg, "corrupt") || strstr(o.err.msg, "truncated")), "%s", o.err.msg);
}
END_TEST

static void write_cifar(const char *name, int n, int label_bytes, int bad_at, int extra_bytes)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < n; i++) {
        fputc(i == bad_at ? 200 : i % 10, f);
        if (label_bytes == 2)
            fputc(i == bad_at ? 200 : (i * 7) % 100, f);
        for (int k = 0; k < 3072; k++)
            fputc((k < 1024 ? 10 : k < 2048 ? 20 : 30) + i, f);
    }
    for (int i = 0; i < extra_bytes; i++)
        fputc(1, f);
    fclose(f);
}

START_TEST(test_cifar10_reads_the_published_record_layout)
{
    for (int b = 1; b <= 5; b++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        write_cifar(name, 3, 1, -1, 0);
    }
    write_cifar("test_batch.bin", 2, 1, -1, 0);
    char kv[300];
    snprintf(kv, sizeof kv, "path=%s", dir);
    const char *kvs[1] = {kv};
    opened o = open_ds("CIFAR_SO", "cifar", 1, kvs);
    ck_assert_msg(o.st == CNAS_OK, "%s", o.err.msg);
    cnas_dataset_info info = {.size = sizeof info};
    o.vt->info(o.self, &info, &o.err);
    ck_assert_int_eq(info.n_train, 15);
    ck_assert_int_eq(info.n_test, 2);
    ck_assert_str_eq(info.class_names[0], "airplane");
    float img[3072];
    int32_t label;
    ck_assert_int_eq(o.vt->get(o.self, CNAS_SPLIT_TRAIN, 4, img, &label, &o.err), CNAS_OK);
    ck_assert_int_eq(label, 1); /* second record of batch 2 */
    ck_assert_float_eq_tol(img[0], 11.0f / 255, 1e-6);     /* red plane */
    ck_assert_float_eq_tol(img[1024], 21.0f / 255, 1e-6);  /* green plane */
    ck_assert_float_eq_tol(img[2048], 31.0f / 255, 1e-6);  /* blue plane */
    o.vt->close(o.self);
}
END_TEST

START_TEST(test_cifar100_offers_fine_and_coarse_labels)
{
    write_cifar("train.bin", 4, 2, -1, 0);
    write_cifar("test.bin", 2, 2, -1, 0);
    char kv[300];
    snprintf(kv, sizeof kv, "path=%s", dir);
    for (int fine = 0; fine < 2; fine++) {
        const char *kvs[3] = {kv, "variant=cifar100", fine ? "label=fine" : "label=coarse"};
        opened o = open_ds("CIFAR_SO", "cifar", 3, kvs);
        ck_assert_msg(o.st == CNAS_OK, "%s", o.err.msg);
        cnas_dataset_info info = {.size = sizeof info};
        o.vt->info(o.self, &info, &o.err);
        ck_assert_int_eq(info.num_classes, fine ? 100 : 20);
        float img[3072];
        int32_t label;
        o.vt->get(o.self, CNAS_SPLIT_TRAIN, 3, img, &label, &o.err);
        ck_assert_int_eq(label, fine ? 21 : 3);
        o.vt->close(o.self);
    }
}
END_TEST

START_TEST(test_cifar_bad_files_are_reported)
{
    write_cifar("train.bin", 4, 2, -1, 5);
    write_cifar("test.bin", 2, 2, -1, 0);
    char kv[300];
    snprintf(kv, sizeof kv, "path=%s", dir);
    const char *kvs[2] = {kv, "variant=cifar100"};
    opened o = open_ds("CIFAR_SO", "cifar", 2, kvs);
    ck_assert_int_eq(o.st, CNAS_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(o.err.msg, "train.bin"));
    ck_assert_ptr_nonnull(strstr(o.err.msg, "whole number"));
    write_cifar("train.bin", 4, 2, 2, 0);
    o = open_ds("CIFAR_SO", "cifar", 2, kvs);
    ck_assert_int_eq(o.st, CNAS_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(o.err.msg, "record 2 has label 200"));
    const char *kv10[1] = {kv};
    o = open_ds("CIFAR_SO", "cifar", 1, kv10);
    ck_assert_int_eq(o.st, CNAS_ERR_IO);
    ck_assert_ptr_nonnull(strstr(o.err.msg, "data_batch_1.bin"));
}
END_TEST

START_TEST(test_synthetic_samples_are_deterministic_and_balanced)
{
    const char *kv[3] = {"classes=4", "n_train=400", "size=12"};
    opened a = open_ds("SYNTH_SO", "synthetic", 3, kv), b = open_ds("SYNTH_SO", "synthetic", 3, kv);
    ck_assert_int_eq(a.st, CNAS_OK);
    float x[144], y[144];
    int counts[4] = {0};
    for (int64_t i = 0; i < 400; i++) {
        int32_t la, lb;
        a.vt->get(a.self, CNAS_SPLIT_TRAIN, i, x, &la, &a.err);
        b.vt->get(b.self, CNAS_SPLIT_TRAIN, i, y, &lb, &b.err);
        ck_assert_int_eq(la, lb);
        ck_assert_int_eq(memcmp(x, y, sizeof x), 0);
        counts[la]++;
    }
    for (int k = 0; k < 4; k++)
        ck_assert_int_gt(counts[k], 60);
    a.vt->close(a.self);
    b.vt->close(b.self);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("datasets");
    TCase *tc = tcase_create("plugins");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_the_default_idx_source_is_fashion_mnist_as_published);
    tcase_add_test(tc, test_idx_reads_plain_and_gzipped_files);
    tcase_add_test(tc, test_idx_missing_file_is_named);
    tcase_add_test(tc, test_idx_truncated_file_is_reported);
    tcase_add_test(tc, test_idx_truncated_gzip_file_is_reported);
    tcase_add_test(tc, test_idx_wrong_magic_is_reported);
    tcase_add_test(tc, test_idx_label_out_of_range_is_reported);
    tcase_add_test(tc, test_idx_image_and_label_counts_must_agree);
    tcase_add_test(tc, test_idx_corrupt_gzip_stream_is_reported);
    tcase_add_test(tc, test_cifar10_reads_the_published_record_layout);
    tcase_add_test(tc, test_cifar100_offers_fine_and_coarse_labels);
    tcase_add_test(tc, test_cifar_bad_files_are_reported);
    tcase_add_test(tc, test_synthetic_samples_are_deterministic_and_balanced);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
