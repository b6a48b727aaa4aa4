/* A small PNG writer (8-bit grey or RGB, one IDAT, zlib-compressed) for sample
 * grids and heatmaps. */
#include <cnas/data.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "png.h"

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static int chunk(FILE *f, const char *type, const unsigned char *data, uint32_t len)
{
    unsigned char head[8];
    be32(head, len);
    memcpy(head + 4, type, 4);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (len)
        crc = crc32(crc, data, len);
    unsigned char tail[4];
    be32(tail, (uint32_t)crc);
    return fwrite(head, 1, 8, f) == 8 && (len == 0 || fwrite(data, 1, len, f) == len) &&
           fwrite(tail, 1, 4, f) == 4;
}

cnas_status cnas__png_write(const char *path, const unsigned char *pixels, int width, int height,
                            int channels, cnas_error *err)
{
    if (channels != 1 && channels != 3)
        return cnas_error_set(err, CNAS_ERR_INVALID, "png: %d channels, expected 1 or 3", channels);
    size_t row = (size_t)width * (size_t)channels;
    size_t raw_len = (row + 1) * (size_t)height;
    unsigned char *raw = malloc(raw_len);
    uLongf z_len = compressBound((uLong)raw_len);
    unsigned char *z = malloc(z_len);
    if (!raw || !z) {
        free(raw);
        free(z);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "png: out of memory");
    }
    for (int y = 0; y < height; y++) {
        raw[(size_t)y * (row + 1)] = 0; /* filter: none */
        memcpy(raw + (size_t)y * (row + 1) + 1, pixels + (size_t)y * row, row);
    }
    int zst = compress2(z, &z_len, raw, (uLong)raw_len, 9);
    free(raw);
    if (zst != Z_OK) {
        free(z);
        return cnas_error_set(err, CNAS_ERR_INTERNAL, "png: compression failed");
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(z);
        return cnas_error_set(err, CNAS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char ihdr[13];
    be32(ihdr, (uint32_t)width);
    be32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;
    ihdr[9] = channels == 3 ? 2 : 0;
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    int ok = fwrite(sig, 1, 8, f) == 8 && chunk(f, "IHDR", ihdr, 13) &&
             chunk(f, "IDAT", z, (uint32_t)z_len) && chunk(f, "IEND", NULL, 0);
    free(z);
    if (fclose(f) != 0 || !ok)
        return cnas_error_set(err, CNAS_ERR_IO, "writing %s failed", path);
    return CNAS_OK;
}

cnas_status cnas_data_write_grid_png(cnas_data *d, const char *path, int per_class, cnas_error *err)
{
    const cnas_dataset_info *in = cnas_data_info(d);
    int C = in->channels, H = in->height, W = in->width, K = in->num_classes, pad = 2;
    if (per_class < 1)
        per_class = 1;
    int gw = per_class * (W + pad) + pad, gh = K * (H + pad) + pad;
    int out_c = C >= 3 ? 3 : 1;
    unsigned char *px = calloc((size_t)gw * gh * out_c, 1);
    float *img = malloc((size_t)C * H * W * sizeof *img);
    int *filled = calloc((size_t)K, sizeof *filled);
    if (!px || !img || !filled) {
        free(px);
        free(img);
        free(filled);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "png: out of memory");
    }
    float mean[4], std[4];
    cnas_data_norm(d, mean, std);
    int64_t n = cnas_data_size(d, CNAS_DATA_TRAIN);
    cnas_status st = CNAS_OK;
    for (int64_t i = 0; i < n && !st; i++) {
        int32_t label;
        if ((st = cnas_data_sample(d, CNAS_DATA_TRAIN, i, img, &label, err)))
            break;
        if (filled[label] >= per_class)
            continue;
        int ox = pad + filled[label] * (W + pad), oy = pad + label * (H + pad);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < out_c; c++) {
                    float v = img[(c * H + y) * W + x] * std[c] + mean[c];
                    v = v < 0 ? 0 : v > 1 ? 1 : v;
                    px[((size_t)(oy + y) * gw + ox + x) * out_c + c] = (unsigned char)(v * 255.0f + 0.5f);
                }
        filled[label]++;
    }
    if (!st)
        st = cnas__png_write(path, px, gw, gh, out_c, err);
    free(px);
    free(img);
    free(filled);
    return st;
}
