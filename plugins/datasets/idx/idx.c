/* MNIST-format IDX files (LeCun et al.), gzipped or plain: Fashion-MNIST, MNIST,
 * KMNIST. The four files are loaded whole at open (a few tens of MB) and checked
 * completely: magic numbers, dimensions, record counts, labels, trailing bytes. */
#include <cnas/cnas.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u

typedef struct idx_split {
    uint8_t *images, *labels;
    int64_t n;
} idx_split;

typedef struct idx_set {
    idx_split split[2];
    int32_t rows, cols, classes;
    const char *const *names;
    char name[64];
} idx_set;

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
static const char *const digit_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

/* Open dir/base or dir/base.gz, whichever exists (gzread reads plain files too). */
static gzFile open_either(const char *dir, const char *base, char *path, size_t n, cnas_error *err)
{
    struct stat st;
    snprintf(path, n, "%s/%s", dir, base);
    if (stat(path, &st) != 0)
        snprintf(path, n, "%s/%s.gz", dir, base);
    if (stat(path, &st) != 0) {
        cnas_error_set(err, CNAS_ERR_IO, "idx: neither %s/%s nor %s/%s.gz exists", dir, base, dir,
                       base);
        return NULL;
    }
    gzFile f = gzopen(path, "rb");
    if (!f)
        cnas_error_set(err, CNAS_ERR_IO, "idx: cannot open %s: %s", path, strerror(errno));
    return f;
}

/* Read exactly n bytes, or say why not. */
static cnas_status read_exact(gzFile f, const char *path, void *buf, size_t n, const char *what,
                              cnas_error *err)
{
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(f, (char *)buf + got, chunk);
        if (r < 0) {
            int code;
            const char *msg = gzerror(f, &code);
            return cnas_error_set(err, CNAS_ERR_FORMAT, "idx: %s: corrupt gzip stream while reading "
                                  "%s (%s)", path, what, msg ? msg : "unknown zlib error");
        }
        if (r == 0)
            return cnas_error_set(err, CNAS_ERR_FORMAT, "idx: %s: truncated: %zu of %zu bytes of "
                                  "%s", path, got, n, what);
        got += (size_t)r;
    }
    return CNAS_OK;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static cnas_status expect_end(gzFile f, const char *path, cnas_error *err)
{
    char extra;
    int r = gzread(f, &extra, 1);
    if (r < 0) {
        int code;
        return cnas_error_set(err, CNAS_ERR_FORMAT, "idx: %s: corrupt gzip stream at the end (%s)",
                              path, gzerror(f, &code));
    }
    if (r > 0)
        return cnas_error_set(err, CNAS_ERR_FORMAT, "idx: %s: unexpected bytes after the last "
                              "record", path);
    return CNAS_OK;
}

static cnas_status load_split(idx_set *s, const char *dir, const char *prefix, idx_split *out,
                              cnas_error *err)
{
    char ipath[4096], lpath[4096], base[64];
    unsigned char h[16];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", prefix);
    gzFile fi = open_either(dir, base, ipath, sizeof ipath, err);
    if (!fi)
        return err->code;
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", prefix);
    gzFile fl = open_either(dir, base, lpath, sizeof lpath, err);
    cnas_status st = fl ? CNAS_OK : err->code;
    if (!st)
        st = read_exact(fi, ipath, h, 16, "the header", err);
    if (!st && be32(h) != IDX_IMAGES)
        st = cnas_error_set(err, CNAS_ERR_FORMAT, "idx: %s: magic number 0x%08x, expected 0x%08x "
                            "(images)", ipath, be32(h), IDX_IMAGES);
    uint32_t n = st ? 0 : be32(h + 4), rows = st ? 0 : be32(h + 8), cols = st ? 0 : be32(h + 12);
    if (!st && (rows == 0 || cols == 0 || rows > 4096 || cols > 4096 || n == 0 || n > 100000000u))
        st = cnas_error_set(err, CNAS_ERR_FORMAT, "idx: %s: %u images of %ux%u, expected a "
                            "positive count and sides up to 4096", ipath, n, rows, cols);
    if (!st && s->rows && ((int32_t)rows != s->rows || (int32_t)cols != s->cols))
        st = cnas_error_set(err, CNAS_ERR_FORMAT, "idx: %s: images are %ux%u but the training "
                            "images are %dx%d", ipath, rows, cols, s->rows, s->cols);
    unsigned char lh[8];
    if (!st)
        st = read_exact(fl, lpath, lh, 8, "the header", err);
    if (!st && be32(lh) != IDX_LABELS)
        st = cnas_error_set(err, CNAS_ERR_FORMAT, "idx: %s: magic number 0x%08x, expected 0x%08x "
                            "(labels)", lpath, be32(lh), IDX_LABELS);
    if (!st && be32(lh + 4) != n)
        st = cnas_error_set(err, CNAS_ERR_FORMAT, "idx: %s holds %u labels but %s holds %u images",
                            lpath, be32(lh + 4), ipath, n);
    if (!st) {
        out->images = malloc((size_t)n * rows * cols);
        out->labels = malloc(n);
        if (!out->images || !out->labels)
            st = cnas_error_set(err, CNAS_ERR_NOMEM, "idx: out of memory for %u images", n);
    }
    if (!st)
        st = read_exact(fi, ipath, out->images, (size_t)n * rows * cols, "the images", err);
    if (!st)
        st = expect_end(fi, ipath, err);
    if (!st)
        st = read_exact(fl, lpath, out->labels, n, "the labels", err);
    if (!st)
        st = expect_end(fl, lpath, err);
    for (uint32_t i = 0; !st && i < n; i++)
        if (out->labels[i] >= s->classes)
            st = cnas_error_set(err, CNAS_ERR_FORMAT, "idx: %s: label %u of record %u is out of "
                                "range (%d classes)", lpath, out->labels[i], i, s->classes);
    if (fi)
        gzclose(fi);
    if (fl)
        gzclose(fl);
    if (!st) {
        out->n = n;
        s->rows = (int32_t)rows;
        s->cols = (int32_t)cols;
    }
    return st;
}

static void idx_close(void *self)
{
    idx_set *s = self;
    if (!s)
        return;
    for (int i = 0; i < 2; i++) {
        free(s->split[i].images);
        free(s->split[i].labels);
    }
    free(s);
}

static cnas_status idx_open(const cnas_params *p, void **self, cnas_error *err)
{
    idx_set *s = calloc(1, sizeof *s);
    if (!s)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "idx: out of memory");
    const char *dir = cnas_params_str(p, "path");
    s->classes = (int32_t)cnas_params_int(p, "classes");
    const char *names = cnas_params_str(p, "class_names");
    int fashion = strcmp(names, "fashion") == 0 || (strcmp(names, "auto") == 0 && strstr(dir, "fashion"));
    s->names = s->classes == 10 && fashion ? fashion_names
               : s->classes == 10 && strcmp(names, "digits") == 0 ? digit_names : NULL;
    const char *slash = strrchr(dir, '/');
    snprintf(s->name, sizeof s->name, "%s", slash && slash[1] ? slash + 1 : dir);
    cnas_status st = load_split(s, dir, "train", &s->split[0], err);
    if (!st)
        st = load_split(s, dir, "t10k", &s->split[1], err);
    if (st) {
        idx_close(s);
        return st;
    }
    *self = s;
    return CNAS_OK;
}

static cnas_status idx_info(void *self, cnas_dataset_info *info, cnas_error *err)
{
    (void)err;
    idx_set *s = self;
    info->channels = 1;
    info->height = s->rows;
    info->width = s->cols;
    info->num_classes = s->classes;
    info->n_train = s->split[0].n;
    info->n_test = s->split[1].n;
    info->name = s->name;
    info->class_names = s->names;
    return CNAS_OK;
}

static cnas_status idx_get(void *self, cnas_split split, int64_t index, float *image,
                           int32_t *label, cnas_error *err)
{
    idx_set *s = self;
    const idx_split *sp = &s->split[split == CNAS_SPLIT_TEST];
    if (index < 0 || index >= sp->n)
        return cnas_error_set(err, CNAS_ERR_INVALID, "idx: sample %lld of %lld", (long long)index,
                              (long long)sp->n);
    int64_t len = (int64_t)s->rows * s->cols;
    const uint8_t *src = sp->images + index * len;
    for (int64_t k = 0; k < len; k++)
        image[k] = (float)src[k] * (1.0f / 255.0f);
    *label = sp->labels[index];
    return CNAS_OK;
}

static const cnas_param_spec idx_keys[] = {
    CNAS_PARAM_SPEC_PATH("path", "/usr/share/datasets/fashion-mnist",
                         "directory with train-/t10k-{images-idx3,labels-idx1}-ubyte[.gz]"),
    CNAS_PARAM_SPEC_INT("classes", "10", 1, 256, "number of classes; labels must be below it"),
    CNAS_PARAM_SPEC_CHOICE("class_names", "auto", "auto|fashion|digits|none",
                           "class names for summaries (auto: Fashion-MNIST names when the path "
                           "says fashion)"),
};

static const cnas_dataset_vtable idx_vtable = {sizeof idx_vtable, idx_open, idx_close, idx_info,
                                               idx_get};

static const cnas_component idx_components[] = {
    CNAS_COMPONENT(CNAS_KIND_DATASET, "idx",
                   "MNIST-format IDX files (Fashion-MNIST, MNIST), gzipped or plain", idx_keys,
                   &idx_vtable),
};

CNAS_PLUGIN("idx", "0.1.0", "IDX datasets: Fashion-MNIST by default", "MIT", idx_components, NULL)
