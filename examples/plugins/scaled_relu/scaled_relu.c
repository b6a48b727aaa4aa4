/* scaled_relu: a third-party op plugin for cnas, built outside the cnas tree with
 * nothing but the installed SDK:
 *
 *     cc -shared -fPIC -o scaled_relu.so scaled_relu.c $(pkg-config --cflags --libs cnas)
 *
 * The op computes y = scale * relu(x), taking every s-th pixel at stride s (so it
 * can sit on the reducing edges of a DARTS cell, as the identity and the pools
 * do). It is made of core kernels that record themselves on the tape, so the
 * backward pass comes for free. Like the DARTS candidates it keeps the channel
 * count: C_out must equal C_in. */
#include <stdio.h>
#include <stdlib.h>

#include <cnas/cnas.h>

typedef struct scaled_relu {
    int c, stride;
    float scale;
} scaled_relu;

static cnas_status sr_create(const cnas_op_args *a, const cnas_params *p, void **self,
                             cnas_error *err)
{
    /* Report a bad request with the values found and those expected; never exit. */
    if (a->c_in != a->c_out || a->stride < 1 || a->stride > 2)
        return cnas_error_set(err, CNAS_ERR_INVALID, "scaled_relu: C_in %d, C_out %d, stride %d; "
                              "expected C_out = C_in and stride 1 or 2", a->c_in, a->c_out,
                              a->stride);
    scaled_relu *o = malloc(sizeof *o);
    if (!o)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "scaled_relu: out of memory");
    o->c = a->c_in;
    o->stride = a->stride;
    /* Already validated against the schema below: a float in [0, 100]. */
    o->scale = (float)cnas_params_float(p, "scale");
    *self = o;
    return CNAS_OK;
}

static void sr_destroy(void *self) { free(self); }

static cnas_tensor *sr_forward(void *self, cnas_graph *g, cnas_tensor *x,
                               const cnas_op_forward_ctx *ctx)
{
    scaled_relu *o = self;
    (void)ctx;
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    if (x->ndim != 4 || x->shape[1] != o->c) {
        char s[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "scaled_relu: input %s, expected [N, %d, H, W]",
                               cnas_shape_str(x, s, sizeof s), o->c);
    }
    cnas_tensor *y = cnas_scale(g, cnas_relu(g, x), o->scale);
    if (o->stride == 1)
        return y;
    /* A 1x1 pool at stride s keeps pixels (0, 0), (0, s), ...: ceil(H / s) rows. */
    cnas_pool2d_params sub = {1, 1, o->stride, o->stride, 0, 0, false};
    return cnas_avg_pool2d(g, y, &sub);
}

/* No parameters or buffers: nothing to train, nothing to checkpoint. */
static int sr_tensors(void *self, cnas_named_tensor *out, int max)
{
    (void)self, (void)out, (void)max;
    return 0;
}

static int64_t sr_flops(void *self, const int64_t in[4], int64_t out[4])
{
    scaled_relu *o = self;
    out[0] = in[0];
    out[1] = in[1];
    out[2] = (in[2] + o->stride - 1) / o->stride;
    out[3] = (in[3] + o->stride - 1) / o->stride;
    return in[0] * in[1] * in[2] * in[3]; /* one multiply per input element */
}

static const cnas_op_vtable sr_vtable = {sizeof sr_vtable, sr_create, sr_destroy, sr_forward,
                                         sr_tensors, sr_flops};

static const cnas_param_spec sr_keys[] = {
    CNAS_PARAM_SPEC_FLOAT("scale", "1.0", 0, 100, "the slope of the positive part"),
};

static const cnas_component sr_components[] = {
    CNAS_COMPONENT(CNAS_KIND_OP, "scaled_relu",
                   "scale * relu(x), every s-th pixel at stride s; C_out = C_in", sr_keys,
                   &sr_vtable),
};

CNAS_PLUGIN("scaled_relu", "1.0.0", "An example op plugin built against the installed cnas SDK",
            "MIT", sr_components, NULL)
