/* Checkpoint loading: the input is the file; every record is then read back by type. */
#include "fuzz_util.h"

#include <cnas/checkpoint.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char path[128];
    snprintf(path, sizeof path, "%s/c.ckpt", fz_dir());
    fz_write(path, data, size);
    cnas_error err;
    cnas_ckpt *ck = cnas_ckpt_load(path, &err);
    if (!ck)
        return 0;
    cnas_tensor *t = cnas_tensor_new(CNAS_SHAPE(4, 4), &err);
    for (int i = 0; i < cnas_ckpt_count(ck); i++) {
        const char *name = cnas_ckpt_name_at(ck, i);
        int64_t v;
        unsigned char blob[64];
        cnas_ckpt_has(ck, name);
        cnas_ckpt_get_i64(ck, name, &v, &err);
        cnas_ckpt_get_str(ck, name, &err);
        cnas_ckpt_get_blob(ck, name, blob, sizeof blob, &err);
        if (t)
            cnas_ckpt_get_tensor(ck, name, t, &err);
        /* A record of the shape it declares (a valid record is no larger than the file). */
        int nd;
        int64_t shape[CNAS_MAX_DIMS];
        if (!cnas_ckpt_tensor_shape(ck, name, &nd, shape, &err)) {
            cnas_tensor *u = cnas_tensor_new(nd, shape, &err);
            if (u && cnas_ckpt_get_tensor(ck, name, u, &err))
                __builtin_trap(); /* the shape it reported must be the shape it accepts */
            cnas_tensor_free(u);
        }
    }
    cnas_tensor_free(t);
    cnas_ckpt_free(ck);
    return 0;
}
