/* A dataset plugin compiled in (idx.c or cifar.c, -DFUZZ_IDX or -DFUZZ_CIFAR): the input
 * is split into the files the reader opens, written to a directory, opened through the
 * plugin's vtable, and every sample is read. */
#include "fuzz_util.h"

#include <cnas/dataset.h>

const cnas_plugin_desc *cnas_plugin_entry(void);

static void put_parts(const char *dir, const unsigned char *data, size_t size,
                      const char *const *files, int n)
{
    /* IDX: the first 2 bytes (big-endian) split images from labels; both splits get them. */
    size_t cut = size >= 2 ? ((size_t)data[0] << 8 | data[1]) : 0;
    const unsigned char *body = size >= 2 ? data + 2 : data;
    size_t len = size >= 2 ? size - 2 : 0;
    if (cut > len)
        cut = len;
    char path[256];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (n == 4)
            fz_write(path, i % 2 == 0 ? body : body + cut, i % 2 == 0 ? cut : len - cut);
        else
            fz_write(path, body, len);
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const cnas_component *c;
    if (!c)
        c = &cnas_plugin_entry()->components[0];
    const cnas_dataset_vtable *vt = c->vtable;
    char dir[128], kv[200];
    snprintf(dir, sizeof dir, "%s", fz_dir());
    snprintf(kv, sizeof kv, "path=%s", dir);
#ifdef FUZZ_IDX
    static const char *const files[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    put_parts(dir, data, size, files, 4);
    const char *args[] = {kv, "classes=256"};
#else
    static const char *const files[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                        "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    put_parts(dir, data, size, files, 6);
    const char *args[] = {kv};
#endif
    cnas_params *p = fz_params(c, (int)(sizeof args / sizeof *args), args);
    void *self = NULL;
    cnas_error err;
    if (vt->open(p, &self, &err) == CNAS_OK) {
        cnas_dataset_info info;
        if (vt->info(self, &info, &err) == CNAS_OK) {
            size_t px = (size_t)info.channels * info.height * info.width;
            float *img = px && px < (1u << 24) ? malloc(px * sizeof *img) : NULL;
            for (int s = 0; img && s < 2; s++) {
                int64_t n = s == 0 ? info.n_train : info.n_test;
                for (int64_t i = 0; i < n && i < 64; i++) {
                    int32_t label;
                    vt->get(self, s == 0 ? CNAS_SPLIT_TRAIN : CNAS_SPLIT_TEST, i, img, &label, &err);
                }
                int32_t label;
                vt->get(self, CNAS_SPLIT_TRAIN, n, img, &label, &err);
            }
            free(img);
        }
        vt->close(self);
    }
    cnas_params_free(p);
    return 0;
}
