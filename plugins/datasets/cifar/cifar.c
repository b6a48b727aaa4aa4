/* CIFAR-10 and CIFAR-100, binary version (Krizhevsky 2009), read exactly as
 * published: CIFAR-10 records are <label><3072 pixels>, five training batches and
 * one test batch; CIFAR-100 records are <coarse><fine><3072 pixels> in train.bin
 * and test.bin. Pixels are 1024 red, 1024 green, 1024 blue, row-major 32x32. */
#include <cnas/cnas.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PIXELS 3072

typedef struct cifar {
    uint8_t *pix[2], *lab[2];
    int64_t n[2];
    int classes;
    char name[16];
    const char *const *names;
} cifar;

static const char *const cifar10_names[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                              "dog", "frog", "horse", "ship", "truck"};

static cnas_status read_file(cifar *c, int split, const char *path, int label_bytes, int which,
                             cnas_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cnas_error_set(err, CNAS_ERR_IO, "cifar: cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return cnas_error_set(err, CNAS_ERR_IO, "cifar: cannot stat %s: %s", path, strerror(e));
    }
    int64_t rec = label_bytes + PIXELS;
    if (st.st_size == 0 || st.st_size % rec != 0) {
        fclose(f);
        return cnas_error_set(err, CNAS_ERR_FORMAT, "cifar: %s has %lld bytes, not a whole number "
                              "of %lld-byte records (truncated or not a %s file)", path,
                              (long long)st.st_size, (long long)rec,
                              label_bytes == 1 ? "CIFAR-10" : "CIFAR-100");
    }
    int64_t n = st.st_size / rec, base = c->n[split];
    uint8_t *p = realloc(c->pix[split], (size_t)(base + n) * PIXELS);
    if (p)
        c->pix[split] = p;
    uint8_t *l = realloc(c->lab[split], (size_t)(base + n));
    if (l)
        c->lab[split] = l;
    if (!p || !l) {
        fclose(f);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "cifar: out of memory");
    }
    unsigned char buf[2 + PIXELS];
    for (int64_t i = 0; i < n; i++) {
        if (fread(buf, 1, (size_t)rec, f) != (size_t)rec) {
            fclose(f);
            return cnas_error_set(err, CNAS_ERR_IO, "cifar: %s: short read at record %lld", path,
                                  (long long)i);
        }
        int label = buf[which];
        if (label >= c->classes) {
            fclose(f);
            return cnas_error_set(err, CNAS_ERR_FORMAT, "cifar: %s: record %lld has label %d, "
                                  "expected 0 to %d", path, (long long)i, label, c->classes - 1);
        }
        c->lab[split][base + i] = (uint8_t)label;
        memcpy(c->pix[split] + (base + i) * PIXELS, buf + label_bytes, PIXELS);
    }
    fclose(f);
    c->n[split] = base + n;
    return CNAS_OK;
}

static void cifar_close(void *self)
{
    cifar *c = self;
    if (!c)
        return;
    for (int i = 0; i < 2; i++) {
        free(c->pix[i]);
        free(c->lab[i]);
    }
    free(c);
}

static cnas_status cifar_open(const cnas_params *p, void **self, cnas_error *err)
{
    cifar *c = calloc(1, sizeof *c);
    if (!c)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "cifar: out of memory");
    const char *dir = cnas_params_str(p, "path");
    int c100 = strcmp(cnas_params_str(p, "variant"), "cifar100") == 0;
    int fine = strcmp(cnas_params_str(p, "label"), "fine") == 0;
    char path[4096];
    cnas_status st = CNAS_OK;
    if (c100) {
        c->classes = fine ? 100 : 20;
        snprintf(c->name, sizeof c->name, "cifar100");
        snprintf(path, sizeof path, "%s/train.bin", dir);
        st = read_file(c, 0, path, 2, fine ? 1 : 0, err);
        snprintf(path, sizeof path, "%s/test.bin", dir);
        if (!st)
            st = read_file(c, 1, path, 2, fine ? 1 : 0, err);
    } else {
        c->classes = 10;
        c->names = cifar10_names;
        snprintf(c->name, sizeof c->name, "cifar10");
        for (int b = 1; !st && b <= 5; b++) {
            snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, b);
            st = read_file(c, 0, path, 1, 0, err);
        }
        snprintf(path, sizeof path, "%s/test_batch.bin", dir);
        if (!st)
            st = read_file(c, 1, path, 1, 0, err);
    }
    if (st) {
        cifar_close(c);
        return st;
    }
    *self = c;
    return CNAS_OK;
}

static cnas_status cifar_info(void *self, cnas_dataset_info *info, cnas_error *err)
{
    (void)err;
    cifar *c = self;
    info->channels = 3;
    info->height = 32;
    info->width = 32;
    info->num_classes = c->classes;
    info->n_train = c->n[0];
    info->n_test = c->n[1];
    info->name = c->name;
    info->class_names = c->names;
    return CNAS_OK;
}

static cnas_status cifar_get(void *self, cnas_split split, int64_t index, float *image,
                             int32_t *label, cnas_error *err)
{
    cifar *c = self;
    int s = split == CNAS_SPLIT_TEST;
    if (index < 0 || index >= c->n[s])
        return cnas_error_set(err, CNAS_ERR_INVALID, "cifar: sample %lld of %lld", (long long)index,
                              (long long)c->n[s]);
    const uint8_t *src = c->pix[s] + index * PIXELS;
    for (int k = 0; k < PIXELS; k++)
        image[k] = (float)src[k] * (1.0f / 255.0f);
    *label = c->lab[s][index];
    return CNAS_OK;
}

static const cnas_param_spec cifar_keys[] = {
    CNAS_PARAM_SPEC_PATH("path", "data/cifar-10-batches-bin",
                         "directory of the binary version (data_batch_*.bin or train.bin)"),
    CNAS_PARAM_SPEC_CHOICE("variant", "cifar10", "cifar10|cifar100", "which data set"),
    CNAS_PARAM_SPEC_CHOICE("label", "fine", "fine|coarse", "CIFAR-100 labels: 100 fine or 20 coarse"),
};

static const cnas_dataset_vtable cifar_vtable = {sizeof cifar_vtable, cifar_open, cifar_close,
                                                 cifar_info, cifar_get};

static const cnas_component cifar_components[] = {
    CNAS_COMPONENT(CNAS_KIND_DATASET, "cifar", "CIFAR-10 / CIFAR-100, binary version", cifar_keys,
                   &cifar_vtable),
};

CNAS_PLUGIN("cifar", "0.1.0", "CIFAR-10 and CIFAR-100 (binary version)", "MIT", cifar_components, NULL)
