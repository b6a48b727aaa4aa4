/* abi10_relu: an op plugin built against the frozen ABI 1.0 headers next to it (never
 * against core/include), so the tests can show that a 1.0 plugin keeps loading and
 * running in every 1.x host. y = relu(x), keeping every s-th pixel at stride s (so it
 * can sit on the reducing edges of a DARTS cell); no parameters; C_out = C_in. */
#include <stdlib.h>

#include <cnas/cnas.h>

#if CNAS_ABI_MAJOR != 1 || CNAS_ABI_MINOR != 0
#error "abi10_relu must be built against the frozen ABI 1.0 headers (-I tests/abi10)"
#endif

typedef struct abi10_relu {
    int c, stride;
} abi10_relu;

static cnas_status ar_create(const cnas_op_args *a, const cnas_params *p, void **self,
                             cnas_error *err)
{
    (void)p;
    if (a->c_in != a->c_out || a->stride < 1 || a->stride > 2)
        return cnas_error_set(err, CNAS_ERR_INVALID, "abi10_relu: C_in %d, C_out %d, stride %d; "
                              "expected C_out = C_in and stride 1 or 2", a->c_in, a->c_out,
                              a->stride);
    abi10_relu *o = malloc(sizeof *o);
    if (!o)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "abi10_relu: out of memory");
    o->c = a->c_in;
    o->stride = a->stride;
    *self = o;
    return CNAS_OK;
}

static void ar_destroy(void *self) { free(self); }

static cnas_tensor *ar_forward(void *self, cnas_graph *g, cnas_tensor *x,
                               const cnas_op_forward_ctx *ctx)
{
    abi10_relu *o = self;
    (void)ctx;
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    if (x->ndim != 4 || x->shape[1] != o->c) {
        char s[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "abi10_relu: input %s, expected [N, %d, H, W]",
                               cnas_shape_str(x, s, sizeof s), o->c);
    }
    cnas_tensor *y = cnas_relu(g, x);
    if (o->stride == 1)
        return y;
    cnas_pool2d_params sub = {1, 1, o->stride, o->stride, 0, 0, false};
    return cnas_avg_pool2d(g, y, &sub);
}

static int ar_tensors(void *self, cnas_named_tensor *out, int max)
{
    (void)self, (void)out, (void)max;
    return 0;
}

/* One comparison per input element. */
static int64_t ar_flops(void *self, const int64_t in[4], int64_t out[4])
{
    abi10_relu *o = self;
    out[0] = in[0];
    out[1] = in[1];
    out[2] = (in[2] + o->stride - 1) / o->stride;
    out[3] = (in[3] + o->stride - 1) / o->stride;
    return in[0] * in[1] * in[2] * in[3];
}

static const cnas_op_vtable ar_vtable = {sizeof ar_vtable, ar_create, ar_destroy, ar_forward,
                                         ar_tensors, ar_flops};

static const cnas_component ar_components[] = {
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "abi10_relu",
                            "relu(x), every s-th pixel at stride s; built for plugin ABI 1.0",
                            &ar_vtable),
};

CNAS_PLUGIN("abi10", "1.0.0", "An op plugin built against the frozen ABI 1.0 headers", "MIT",
            ar_components, NULL)
