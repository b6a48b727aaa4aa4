/* Checkpoint file layout (all integers little-endian on the machines we build for;
 * the endianness marker makes a foreign file an error instead of garbage):
 *
 *   "CNASCKPT"  u32 format_version  u32 0x01020304  u64 n_records
 *   n_records x { u32 type  u32 name_len  name bytes  u64 payload_len  payload }
 *   u32 crc32 of every byte above
 *
 * A tensor payload is u32 ndim, ndim x i64 dims, then numel float32 values. */
#include <cnas/checkpoint.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CKPT_MAGIC "CNASCKPT"
#define CKPT_ENDIAN 0x01020304u

enum { REC_TENSOR = 1, REC_BLOB = 2, REC_I64 = 3, REC_STR = 4 };

typedef struct record {
    uint32_t type;
    char *name;
    unsigned char *payload;
    uint64_t len;
} record;

struct cnas_ckpt {
    record *recs;
    size_t n, cap;
    unsigned char *file; /* loaded file bytes, when read */
};

cnas_ckpt *cnas_ckpt_new(cnas_error *err)
{
    cnas_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck)
        cnas_error_set(err, CNAS_ERR_NOMEM, "checkpoint: out of memory");
    return ck;
}

void cnas_ckpt_free(cnas_ckpt *ck)
{
    if (!ck)
        return;
    for (size_t i = 0; i < ck->n; i++) {
        free(ck->recs[i].name);
        if (!ck->file)
            free(ck->recs[i].payload);
    }
    free(ck->recs);
    free(ck->file);
    free(ck);
}

static const record *find(const cnas_ckpt *ck, const char *name)
{
    for (size_t i = 0; i < ck->n; i++)
        if (strcmp(ck->recs[i].name, name) == 0)
            return &ck->recs[i];
    return NULL;
}

int cnas_ckpt_has(const cnas_ckpt *ck, const char *name)
{
    return find(ck, name) != NULL;
}

int cnas_ckpt_count(const cnas_ckpt *ck)
{
    return (int)ck->n;
}

const char *cnas_ckpt_name_at(const cnas_ckpt *ck, int i)
{
    return i >= 0 && (size_t)i < ck->n ? ck->recs[i].name : NULL;
}

static cnas_status put(cnas_ckpt *ck, uint32_t type, const char *name, const void *a, size_t alen,
                       const void *b, size_t blen, cnas_error *err)
{
    if (!name || !*name || strlen(name) > 4096)
        return cnas_error_set(err, CNAS_ERR_INVALID, "checkpoint: record name empty or too long");
    if (find(ck, name))
        return cnas_error_set(err, CNAS_ERR_INVALID, "checkpoint: record '%s' added twice", name);
    if (ck->n == ck->cap) {
        size_t cap = ck->cap ? ck->cap * 2 : 32;
        record *r = realloc(ck->recs, cap * sizeof *r);
        if (!r)
            return cnas_error_set(err, CNAS_ERR_NOMEM, "checkpoint: out of memory");
        ck->recs = r;
        ck->cap = cap;
    }
    record r = {type, strdup(name), malloc(alen + blen ? alen + blen : 1), alen + blen};
    if (!r.name || !r.payload) {
        free(r.name);
        free(r.payload);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "checkpoint: out of memory");
    }
    if (alen)
        memcpy(r.payload, a, alen);
    if (blen)
        memcpy(r.payload + alen, b, blen);
    ck->recs[ck->n++] = r;
    return CNAS_OK;
}

cnas_status cnas_ckpt_put_tensor(cnas_ckpt *ck, const char *name, const cnas_tensor *t,
                                 cnas_error *err)
{
    unsigned char head[4 + 8 * CNAS_MAX_DIMS];
    uint32_t nd = (uint32_t)t->ndim;
    memcpy(head, &nd, 4);
    for (int i = 0; i < t->ndim; i++)
        memcpy(head + 4 + 8 * i, &t->shape[i], 8);
    return put(ck, REC_TENSOR, name, head, 4 + 8 * (size_t)t->ndim, t->data,
               cnas_tensor_bytes(t), err);
}

cnas_status cnas_ckpt_put_blob(cnas_ckpt *ck, const char *name, const void *data, size_t len,
                               cnas_error *err)
{
    return put(ck, REC_BLOB, name, data, len, NULL, 0, err);
}

cnas_status cnas_ckpt_put_i64(cnas_ckpt *ck, const char *name, int64_t v, cnas_error *err)
{
    return put(ck, REC_I64, name, &v, sizeof v, NULL, 0, err);
}

cnas_status cnas_ckpt_put_str(cnas_ckpt *ck, const char *name, const char *s, cnas_error *err)
{
    return put(ck, REC_STR, name, s, strlen(s) + 1, NULL, 0, err);
}

/* Buffered writer that keeps a running CRC. */
typedef struct wbuf {
    FILE *f;
    uLong crc;
    int failed;
} wbuf;

static void wr(wbuf *w, const void *p, size_t n)
{
    if (w->failed || n == 0)
        return;
    if (fwrite(p, 1, n, w->f) != n)
        w->failed = errno ? errno : EIO;
    /* zlib's crc32 takes uInt lengths: feed large payloads in chunks. */
    const unsigned char *c = p;
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        w->crc = crc32(w->crc, c, k);
        c += k;
        n -= k;
    }
}

static cnas_status fsync_dir_of(const char *path, cnas_error *err)
{
    char *copy = strdup(path);
    if (!copy)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "checkpoint: out of memory");
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0)
        return CNAS_OK; /* best effort: the rename itself is done */
    fsync(fd);
    close(fd);
    return CNAS_OK;
}

cnas_status cnas_ckpt_save(const cnas_ckpt *ck, const char *path, cnas_error *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "checkpoint: out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        cnas_status s = cnas_error_set(err, CNAS_ERR_IO, "checkpoint %s: cannot create: %s", tmp,
                                       strerror(errno));
        free(tmp);
        return s;
    }
    wbuf w = {f, crc32(0L, Z_NULL, 0), 0};
    uint32_t version = CNAS_CKPT_FORMAT_VERSION, endian = CKPT_ENDIAN;
    uint64_t n = ck->n;
    wr(&w, CKPT_MAGIC, 8);
    wr(&w, &version, 4);
    wr(&w, &endian, 4);
    wr(&w, &n, 8);
    for (size_t i = 0; i < ck->n; i++) {
        const record *r = &ck->recs[i];
        uint32_t nl = (uint32_t)strlen(r->name);
        wr(&w, &r->type, 4);
        wr(&w, &nl, 4);
        wr(&w, r->name, nl);
        wr(&w, &r->len, 8);
        wr(&w, r->payload, r->len);
    }
    uint32_t crc = (uint32_t)w.crc;
    if (!w.failed && fwrite(&crc, 1, 4, f) != 4)
        w.failed = errno ? errno : EIO;
    if (!w.failed && fflush(f) != 0)
        w.failed = errno ? errno : EIO;
    if (!w.failed && fsync(fileno(f)) != 0)
        w.failed = errno ? errno : EIO;
    if (fclose(f) != 0 && !w.failed)
        w.failed = errno ? errno : EIO;
    if (w.failed) {
        cnas_status s = cnas_error_set(err, CNAS_ERR_IO, "checkpoint %s: write failed: %s (%s "
                                       "is left as it was)", tmp, strerror(w.failed), path);
        unlink(tmp);
        free(tmp);
        return s;
    }
    if (rename(tmp, path) != 0) {
        cnas_status s = cnas_error_set(err, CNAS_ERR_IO, "checkpoint %s: cannot rename to %s: %s",
                                       tmp, path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    return fsync_dir_of(path, err);
}

static cnas_ckpt *load_fail(cnas_ckpt *ck, cnas_error *err, cnas_status code, const char *path,
                            const char *what)
{
    cnas_error_set(err, code, "checkpoint %s: %s", path, what);
    cnas_ckpt_free(ck);
    return NULL;
}

/* A record that does not fit: name it by position, byte offset and (when readable) name. */
static cnas_ckpt *record_fail(cnas_ckpt *ck, cnas_error *err, const char *path, uint64_t i,
                              uint64_t n, size_t at, const char *name, const char *what,
                              size_t size)
{
    cnas_error_set(err, CNAS_ERR_FORMAT, "checkpoint %s: record %" PRIu64 " of %" PRIu64
                   "%s%s%s at byte offset %zu: %s (the file has %zu bytes: truncated or corrupt)",
                   path, i + 1, n, name ? " '" : "", name ? name : "", name ? "'" : "", at, what,
                   size);
    cnas_ckpt_free(ck);
    return NULL;
}

cnas_ckpt *cnas_ckpt_load(const char *path, cnas_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cnas_error_set(err, CNAS_ERR_IO, "checkpoint %s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        cnas_error_set(err, CNAS_ERR_IO, "checkpoint %s: cannot stat: %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    if (st.st_size < 28) {
        fclose(f);
        cnas_error_set(err, CNAS_ERR_FORMAT, "checkpoint %s: truncated (%lld bytes, expected at "
                       "least 28)", path, (long long)st.st_size);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    cnas_ckpt *ck = cnas_ckpt_new(err);
    unsigned char *buf = malloc(size);
    if (!ck || !buf) {
        fclose(f);
        free(buf);
        return load_fail(ck, err, CNAS_ERR_NOMEM, path, "out of memory");
    }
    ck->file = buf;
    size_t got = fread(buf, 1, size, f);
    fclose(f);
    if (got != size)
        return load_fail(ck, err, CNAS_ERR_IO, path, "short read");
    if (memcmp(buf, CKPT_MAGIC, 8) != 0)
        return load_fail(ck, err, CNAS_ERR_FORMAT, path,
                         "not a cnas checkpoint (bad magic at byte offset 0)");
    uint32_t version, endian, crc_file;
    uint64_t n;
    memcpy(&version, buf + 8, 4);
    memcpy(&endian, buf + 12, 4);
    memcpy(&n, buf + 16, 8);
    if (endian != CKPT_ENDIAN)
        return load_fail(ck, err, CNAS_ERR_FORMAT, path,
                         "written on a machine of the other endianness (or a corrupt marker at "
                         "byte offset 12)");
    if (version != CNAS_CKPT_FORMAT_VERSION) {
        cnas_error_set(err, CNAS_ERR_FORMAT, "checkpoint %s: format version %" PRIu32
                       " at byte offset 8, this cnas reads version %d", path, version,
                       CNAS_CKPT_FORMAT_VERSION);
        cnas_ckpt_free(ck);
        return NULL;
    }
    /* The structure first, so that a truncated file names the record it cuts into; then
     * the checksum over every byte. */
    size_t off = 24, end = size - 4;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t type, nl;
        uint64_t len;
        size_t at = off;
        if (end - off < 8)
            return record_fail(ck, err, path, i, n, at, NULL, "header past the end", size);
        memcpy(&type, buf + off, 4);
        memcpy(&nl, buf + off + 4, 4);
        off += 8;
        if (nl == 0 || nl > 4096)
            return record_fail(ck, err, path, i, n, at, NULL, "bad name length", size);
        if (nl > end - off || end - off - nl < 8)
            return record_fail(ck, err, path, i, n, at, NULL, "name past the end", size);
        if (memchr(buf + off, '\0', nl))
            return record_fail(ck, err, path, i, n, at, NULL, "name holds a NUL byte", size);
        char *name = strndup((const char *)buf + off, nl);
        if (!name)
            return load_fail(ck, err, CNAS_ERR_NOMEM, path, "out of memory");
        off += nl;
        memcpy(&len, buf + off, 8);
        off += 8;
        if (len > end - off) {
            record_fail(NULL, err, path, i, n, at, name, "payload past the end", size);
            free(name);
            cnas_ckpt_free(ck);
            return NULL;
        }
        if (ck->n == ck->cap) {
            size_t cap = ck->cap ? ck->cap * 2 : 32;
            record *r = realloc(ck->recs, cap * sizeof *r);
            if (!r) {
                free(name);
                return load_fail(ck, err, CNAS_ERR_NOMEM, path, "out of memory");
            }
            ck->recs = r;
            ck->cap = cap;
        }
        ck->recs[ck->n++] = (record){type, name, buf + off, len};
        off += len;
    }
    if (off != end) {
        char what[160];
        snprintf(what, sizeof what, "%zu trailing bytes after record %" PRIu64
                 " (ending at byte offset %zu) before the checksum", end - off, n, off);
        return load_fail(ck, err, CNAS_ERR_FORMAT, path, what);
    }
    memcpy(&crc_file, buf + size - 4, 4);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t o = 0; o < size - 4;) {
        uInt k = size - 4 - o > (1u << 30) ? (1u << 30) : (uInt)(size - 4 - o);
        crc = crc32(crc, buf + o, k);
        o += k;
    }
    if ((uint32_t)crc != crc_file) {
        char what[200];
        snprintf(what, sizeof what, "checksum mismatch at byte offset %zu (stored 0x%08" PRIx32
                 ", computed 0x%08" PRIx32 " over bytes 0-%zu): the file is corrupt", size - 4,
                 crc_file, (uint32_t)crc, size - 5);
        return load_fail(ck, err, CNAS_ERR_FORMAT, path, what);
    }
    return ck;
}

static const record *need(const cnas_ckpt *ck, const char *name, uint32_t type, cnas_error *err)
{
    const record *r = find(ck, name);
    if (!r)
        cnas_error_set(err, CNAS_ERR_NOT_FOUND, "checkpoint: no record '%s'", name);
    else if (r->type != type) {
        cnas_error_set(err, CNAS_ERR_FORMAT, "checkpoint: record '%s' has type %u, expected %u",
                       name, r->type, type);
        return NULL;
    }
    return r;
}

/* A tensor record's rank and shape (checked against its length: 4 bytes of floats per
 * element, nothing more) and its record; NULL with err set otherwise. */
static const record *tensor_record(const cnas_ckpt *ck, const char *name, uint32_t *ndim,
                                   int64_t shape[CNAS_MAX_DIMS], cnas_error *err)
{
    const record *r = need(ck, name, REC_TENSOR, err);
    if (!r)
        return NULL;
    uint32_t nd = 0;
    if (r->len >= 4)
        memcpy(&nd, r->payload, 4);
    bool ok = nd >= 1 && nd <= CNAS_MAX_DIMS && r->len >= 4 + 8ull * nd;
    uint64_t count = 1;
    if (ok) {
        memcpy(shape, r->payload + 4, 8 * nd);
        for (uint32_t i = 0; ok && i < nd; i++) {
            ok = shape[i] >= 0 && (shape[i] == 0 || count <= UINT64_MAX / 4 / (uint64_t)shape[i]);
            count *= (uint64_t)shape[i];
        }
    }
    if (!ok || r->len != 4 + 8ull * nd + 4 * count) {
        cnas_error_set(err, CNAS_ERR_FORMAT, "checkpoint: tensor '%s' is malformed", name);
        return NULL;
    }
    *ndim = nd;
    return r;
}

cnas_status cnas_ckpt_tensor_shape(const cnas_ckpt *ck, const char *name, int *ndim,
                                   int64_t shape[CNAS_MAX_DIMS], cnas_error *err)
{
    uint32_t nd;
    int64_t s[CNAS_MAX_DIMS];
    cnas_error local;
    if (!tensor_record(ck, name, &nd, s, err ? err : &local))
        return err ? err->code : local.code;
    *ndim = (int)nd;
    for (int i = 0; i < CNAS_MAX_DIMS; i++)
        shape[i] = i < (int)nd ? s[i] : 1;
    return CNAS_OK;
}

cnas_status cnas_ckpt_get_tensor(const cnas_ckpt *ck, const char *name, cnas_tensor *t,
                                 cnas_error *err)
{
    uint32_t nd;
    int64_t shape[CNAS_MAX_DIMS];
    cnas_error local;
    const record *r = tensor_record(ck, name, &nd, shape, err ? err : &local);
    if (!r)
        return err ? err->code : local.code;
    bool same = (int)nd == t->ndim;
    for (uint32_t i = 0; same && i < nd; i++)
        same = shape[i] == t->shape[i];
    if (!same || r->len != 4 + 8ull * nd + cnas_tensor_bytes(t)) {
        char want[CNAS_SHAPE_STR_MAX], have[CNAS_SHAPE_STR_MAX] = "[";
        size_t o = 1;
        for (uint32_t i = 0; i < nd; i++)
            o += (size_t)snprintf(have + o, sizeof have - o, "%s%" PRId64, i ? ", " : "", shape[i]);
        snprintf(have + o, sizeof have - o, "]");
        return cnas_error_set(err, CNAS_ERR_SHAPE, "checkpoint: tensor '%s' has shape %s, "
                              "expected %s", name, have, cnas_shape_str(t, want, sizeof want));
    }
    memcpy(t->data, r->payload + 4 + 8 * nd, cnas_tensor_bytes(t));
    return CNAS_OK;
}

cnas_status cnas_ckpt_get_blob(const cnas_ckpt *ck, const char *name, void *out, size_t len,
                               cnas_error *err)
{
    const record *r = need(ck, name, REC_BLOB, err);
    if (!r)
        return err ? err->code : CNAS_ERR_NOT_FOUND;
    if (r->len != len)
        return cnas_error_set(err, CNAS_ERR_FORMAT, "checkpoint: blob '%s' has %" PRIu64
                              " bytes, expected %zu", name, r->len, len);
    memcpy(out, r->payload, len);
    return CNAS_OK;
}

cnas_status cnas_ckpt_get_i64(const cnas_ckpt *ck, const char *name, int64_t *v, cnas_error *err)
{
    const record *r = need(ck, name, REC_I64, err);
    if (!r)
        return err ? err->code : CNAS_ERR_NOT_FOUND;
    if (r->len != 8)
        return cnas_error_set(err, CNAS_ERR_FORMAT, "checkpoint: integer '%s' is malformed", name);
    memcpy(v, r->payload, 8);
    return CNAS_OK;
}

const char *cnas_ckpt_get_str(const cnas_ckpt *ck, const char *name, cnas_error *err)
{
    const record *r = need(ck, name, REC_STR, err);
    if (!r)
        return NULL;
    if (r->len == 0 || r->payload[r->len - 1] != '\0') {
        cnas_error_set(err, CNAS_ERR_FORMAT, "checkpoint: text '%s' is not terminated", name);
        return NULL;
    }
    return (const char *)r->payload;
}
