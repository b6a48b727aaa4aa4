/* Creating op instances from component descriptors. Op keys are validated like any
 * INI section; the resolved parameters live only during create (an op copies what
 * it needs). */
#include <cnas/op.h>
#include <cnas/plugin.h>

#include <stdio.h>
#include <string.h>

cnas_status cnas_op_component_create(const cnas_component *c, const cnas_op_args *args,
                                     const char *const *keys, const char *const *values, int n_kv,
                                     const cnas_op_vtable **vt, void **self, cnas_error *err)
{
    if (c->kind != CNAS_KIND_OP || !c->vtable)
        return cnas_error_set(err, CNAS_ERR_INVALID, "component '%s' is a %s, not an op", c->name,
                              cnas_kind_str(c->kind));
    const cnas_op_vtable *ov = c->vtable;
    /* The required members (a vtable of an older minor is smaller than ours); components
     * from a plugin were checked when it loaded, a table of a test's was not. */
    if (!CNAS_VT_HAS(ov, create) || !CNAS_VT_HAS(ov, destroy) || !CNAS_VT_HAS(ov, forward) ||
        !CNAS_VT_HAS(ov, tensors))
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "op '%s': incomplete vtable", c->name);
    char where[96];
    snprintf(where, sizeof where, "op '%s'", c->name);
    cnas_params *p = NULL;
    cnas_status st = cnas_params_resolve(c->params, (int)c->n_params, where, keys, values, n_kv,
                                         &p, err);
    if (st)
        return st;
    st = ov->create(args, p, self, err);
    cnas_params_free(p);
    if (!st)
        *vt = ov;
    return st;
}

static cnas_status list_create(void *ctx, const char *name, const cnas_op_args *args,
                               const char *const *keys, const char *const *values, int n_kv,
                               const cnas_op_vtable **vt, void **self, cnas_error *err)
{
    const cnas_component_list *l = ctx;
    const char *slash = strrchr(name, '/');
    const char *shortname = slash ? slash + 1 : name;
    for (int i = 0; i < l->n; i++)
        if (l->items[i].kind == CNAS_KIND_OP && strcmp(l->items[i].name, shortname) == 0)
            return cnas_op_component_create(&l->items[i], args, keys, values, n_kv, vt, self, err);
    return cnas_error_set(err, CNAS_ERR_NOT_FOUND, "no op component named '%s'", name);
}

cnas_op_factory cnas_op_factory_from_list(const cnas_component_list *list)
{
    cnas_op_factory f = {sizeof f, (void *)list, list_create};
    return f;
}

/* ---- one op as a recomputed segment ------------------------------------------------ */

typedef struct op_segment {
    const cnas_op_vtable *vt;
    void *self;
    bool training;
} op_segment;

static cnas_tensor *op_replay(cnas_graph *g, cnas_tensor *const *in, const void *vctx)
{
    const op_segment *c = vctx;
    cnas_op_forward_ctx ctx = {sizeof ctx, c->training, NULL};
    return c->vt->forward(c->self, g, in[0], &ctx);
}

cnas_tensor *cnas_op_forward_kept(const cnas_op_vtable *vt, void *self, cnas_graph *g,
                                  cnas_tensor *x, const cnas_op_forward_ctx *ctx)
{
    if (!cnas_graph_grad_enabled(g))
        return vt->forward(self, g, x, ctx);
    op_segment seg = {vt, self, ctx && ctx->training};
    return cnas_recompute(g, op_replay, 1, &x, &seg, sizeof seg);
}
