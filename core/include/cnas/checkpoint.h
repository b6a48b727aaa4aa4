/* cnas/checkpoint.h — one binary checkpoint format, written atomically.
 *
 * A checkpoint is a list of named records (tensors, raw blobs, integers, text)
 * behind a header with a magic, a format version and an endianness marker, and
 * followed by a CRC-32 of everything before it. Writing goes to "<path>.tmp",
 * is fsynced, renamed over <path>, and the directory is fsynced, so a crash at
 * any moment leaves either the old checkpoint or the new one, never a torn file.
 *
 *     cnas_ckpt *ck = cnas_ckpt_new(&err);
 *     cnas_ckpt_put_tensor(ck, "stem.weight", w, &err);
 *     cnas_ckpt_put_blob(ck, "rng.data", &rng, sizeof rng, &err);
 *     cnas_ckpt_save(ck, "runs/x/checkpoint.bin", &err);
 *     cnas_ckpt_free(ck);
 *
 *     cnas_ckpt *in = cnas_ckpt_load("runs/x/checkpoint.bin", &err);  // verifies all
 *     cnas_ckpt_get_tensor(in, "stem.weight", w, &err);               // shape must match
 */
#ifndef CNAS_CHECKPOINT_H
#define CNAS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include <cnas/status.h>
#include <cnas/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CNAS_CKPT_FORMAT_VERSION 1

typedef struct cnas_ckpt cnas_ckpt;

cnas_ckpt *cnas_ckpt_new(cnas_error *err);
void cnas_ckpt_free(cnas_ckpt *ck);

/* Adding a name twice is an error. Data are copied. */
cnas_status cnas_ckpt_put_tensor(cnas_ckpt *ck, const char *name, const cnas_tensor *t,
                                 cnas_error *err);
cnas_status cnas_ckpt_put_blob(cnas_ckpt *ck, const char *name, const void *data, size_t len,
                               cnas_error *err);
cnas_status cnas_ckpt_put_i64(cnas_ckpt *ck, const char *name, int64_t v, cnas_error *err);
cnas_status cnas_ckpt_put_str(cnas_ckpt *ck, const char *name, const char *s, cnas_error *err);

/* Atomic write (tmp + fsync + rename + directory fsync). */
cnas_status cnas_ckpt_save(const cnas_ckpt *ck, const char *path, cnas_error *err);
/* Read and verify magic, version, endianness, structure and checksum. */
cnas_ckpt *cnas_ckpt_load(const char *path, cnas_error *err);

int cnas_ckpt_has(const cnas_ckpt *ck, const char *name);
/* Records in file order, for iterating names (e.g. by prefix). */
int cnas_ckpt_count(const cnas_ckpt *ck);
const char *cnas_ckpt_name_at(const cnas_ckpt *ck, int i);
/* A tensor record's rank and shape (dims past ndim set to 1), to allocate a tensor
 * for cnas_ckpt_get_tensor without knowing the shape beforehand. */
cnas_status cnas_ckpt_tensor_shape(const cnas_ckpt *ck, const char *name, int *ndim,
                                   int64_t shape[CNAS_MAX_DIMS], cnas_error *err);
/* Copy a tensor record into t; its shape must equal t's. */
cnas_status cnas_ckpt_get_tensor(const cnas_ckpt *ck, const char *name, cnas_tensor *t,
                                 cnas_error *err);
/* Copy a blob of exactly len bytes. */
cnas_status cnas_ckpt_get_blob(const cnas_ckpt *ck, const char *name, void *out, size_t len,
                               cnas_error *err);
cnas_status cnas_ckpt_get_i64(const cnas_ckpt *ck, const char *name, int64_t *v, cnas_error *err);
/* Borrowed, NUL-terminated; NULL with err set when absent or not text. */
const char *cnas_ckpt_get_str(const cnas_ckpt *ck, const char *name, cnas_error *err);

#ifdef __cplusplus
}
#endif
#endif
