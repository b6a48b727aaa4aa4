/* One checkpoint routine for save and load (ckio.h): each call puts or gets the
 * same record depending on the mode, with a sticky status. */
#include <cnas/ckio.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

cnas_ckio cnas_ckio_put(cnas_ckpt *ck, cnas_error *err)
{
    return (cnas_ckio){ck, NULL, err, CNAS_OK};
}

cnas_ckio cnas_ckio_get(const cnas_ckpt *ck, cnas_error *err)
{
    return (cnas_ckio){NULL, ck, err, CNAS_OK};
}

static cnas_status keep(cnas_ckio *io, cnas_status st)
{
    if (!io->status)
        io->status = st;
    return io->status;
}

cnas_status cnas_ckio_i64(cnas_ckio *io, const char *name, int64_t *v)
{
    if (io->status)
        return io->status;
    return keep(io, io->put ? cnas_ckpt_put_i64(io->put, name, *v, io->err)
                            : cnas_ckpt_get_i64(io->get, name, v, io->err));
}

cnas_status cnas_ckio_int(cnas_ckio *io, const char *name, int *v)
{
    int64_t w = *v;
    if (cnas_ckio_i64(io, name, &w))
        return io->status;
    if (w < INT_MIN || w > INT_MAX)
        return keep(io, cnas_error_set(io->err, CNAS_ERR_FORMAT, "checkpoint record %s: %lld "
                                       "does not fit an int", name, (long long)w));
    *v = (int)w;
    return CNAS_OK;
}

cnas_status cnas_ckio_blob(cnas_ckio *io, const char *name, void *data, size_t len)
{
    if (io->status)
        return io->status;
    return keep(io, io->put ? cnas_ckpt_put_blob(io->put, name, data, len, io->err)
                            : cnas_ckpt_get_blob(io->get, name, data, len, io->err));
}

cnas_status cnas_ckio_f64(cnas_ckio *io, const char *name, double *v)
{
    return cnas_ckio_blob(io, name, v, sizeof *v);
}

cnas_status cnas_ckio_rng(cnas_ckio *io, const char *name, cnas_rng *r)
{
    return cnas_ckio_blob(io, name, r, sizeof *r);
}

cnas_status cnas_ckio_tensor(cnas_ckio *io, const char *name, cnas_tensor *t)
{
    if (io->status)
        return io->status;
    return keep(io, io->put ? cnas_ckpt_put_tensor(io->put, name, t, io->err)
                            : cnas_ckpt_get_tensor(io->get, name, t, io->err));
}

cnas_status cnas_ckio_optim(cnas_ckio *io, const char *prefix, cnas_optim *o)
{
    if (io->status)
        return io->status;
    return keep(io, io->put ? cnas_optim_save(o, io->put, prefix, io->err)
                            : cnas_optim_load(o, io->get, prefix, io->err));
}

cnas_status cnas_ckio_space(cnas_ckio *io, const char *prefix, const cnas_space_vtable *vt,
                            void *space)
{
    if (io->status)
        return io->status;
    int n = vt->tensors(space, NULL, 0);
    cnas_named_tensor *all = malloc((size_t)(n > 0 ? n : 1) * sizeof *all);
    if (!all)
        return keep(io, cnas_error_set(io->err, CNAS_ERR_NOMEM, "checkpoint: out of memory"));
    n = vt->tensors(space, all, n);
    for (int i = 0; i < n && !io->status; i++) {
        char name[320];
        snprintf(name, sizeof name, "%s.%s", prefix, all[i].name);
        cnas_ckio_tensor(io, name, all[i].tensor);
    }
    free(all);
    return io->status;
}

bool cnas_ckio_has(const cnas_ckio *io, const char *name)
{
    return io->put || cnas_ckpt_has(io->get, name);
}
