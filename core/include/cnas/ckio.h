/* cnas/ckio.h — one checkpoint routine for saving and loading.
 *
 * A strategy that writes a save() and a load() by hand keeps two lists that must
 * stay mirror images; one forgotten record and a resumed run silently diverges.
 * A cnas_ckio walks the same list in either direction: in PUT mode every call
 * copies the value into the checkpoint, in GET mode it copies it back. The error
 * is sticky: after the first failure every call is a no-op returning it, so a
 * routine is a flat list of calls with one check at the end.
 *
 *     static cnas_status my_io(my_state *s, cnas_ckio *io)
 *     {
 *         cnas_ckio_i64(io, "my.epoch", &s->epoch);
 *         cnas_ckio_tensor(io, "my.alpha", s->alpha);
 *         cnas_ckio_rng(io, "my.rng", &s->rng);
 *         cnas_ckio_optim(io, "my.opt", s->opt);
 *         return cnas_ckio_status(io);
 *     }
 *     static cnas_status my_save(void *self, cnas_ckpt *ck, cnas_error *err)
 *     {
 *         cnas_ckio io = cnas_ckio_put(ck, err);
 *         return my_io(self, &io);
 *     }
 *     static cnas_status my_load(void *self, const cnas_ckpt *ck, cnas_error *err)
 *     {
 *         cnas_ckio io = cnas_ckio_get(ck, err);
 *         return my_io(self, &io);
 *     }
 *
 * Names are "<strategy>.<what>"; the host owns "run.*", "space.*" and "data.*"
 * (docs/strategies.md). Every call returns the sticky status. */
#ifndef CNAS_CKIO_H
#define CNAS_CKIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cnas/checkpoint.h>
#include <cnas/optim.h>
#include <cnas/rng.h>
#include <cnas/space.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnas_ckio {
    cnas_ckpt *put;          /* PUT mode: the checkpoint being written */
    const cnas_ckpt *get;    /* GET mode: the checkpoint being read */
    cnas_error *err;
    cnas_status status;      /* sticky: the first failure */
} cnas_ckio;

cnas_ckio cnas_ckio_put(cnas_ckpt *ck, cnas_error *err);
cnas_ckio cnas_ckio_get(const cnas_ckpt *ck, cnas_error *err);
static inline bool cnas_ckio_saving(const cnas_ckio *io) { return io->put != NULL; }
static inline cnas_status cnas_ckio_status(const cnas_ckio *io) { return io->status; }

cnas_status cnas_ckio_i64(cnas_ckio *io, const char *name, int64_t *v);
/* An int: stored as a 64-bit record; a loaded value outside int's range is an error. */
cnas_status cnas_ckio_int(cnas_ckio *io, const char *name, int *v);
/* Raw bytes of a plain value (doubles, counters, arrays): exactly len bytes. */
cnas_status cnas_ckio_blob(cnas_ckio *io, const char *name, void *data, size_t len);
cnas_status cnas_ckio_f64(cnas_ckio *io, const char *name, double *v);
/* A persistent tensor's data (its shape must match on load). */
cnas_status cnas_ckio_tensor(cnas_ckio *io, const char *name, cnas_tensor *t);
cnas_status cnas_ckio_rng(cnas_ckio *io, const char *name, cnas_rng *r);
/* An optimizer's whole state (cnas_optim_save / cnas_optim_load under `prefix`). */
cnas_status cnas_ckio_optim(cnas_ckio *io, const char *prefix, cnas_optim *o);
/* Every tensor a space instance owns (parameters and buffers), as "<prefix>.<name>":
 * for the supernets a strategy creates itself (the host saves env->space). */
cnas_status cnas_ckio_space(cnas_ckio *io, const char *prefix, const cnas_space_vtable *vt,
                            void *space);
/* GET mode: true when the record exists (PUT mode: always true). For records added in
 * a later version of a strategy, so older checkpoints still load. */
bool cnas_ckio_has(const cnas_ckio *io, const char *name);

#ifdef __cplusplus
}
#endif
#endif
