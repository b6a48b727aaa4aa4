/* scaled_relu: a third-party op plugin for cnas, built outside the cnas tree with
 * nothing but the installed SDK:
 *
 *     cc -shared -fPIC -o scaled_relu.so scaled_relu.c $(pkg-config --cflags --libs cnas)
 *
 * The op computes y = scale * relu(x), taking every s-th pixel at stride s (so it
 * can sit on the reducing edges of a DARTS cell, as the identity and the pools
 * do). It is made of core kernels that record themselves on the tape, so the
 * backward pass comes for free. Like the DARTS candidates it keeps the channel
 * count: C_out must equal C_in.
 *
 * The op kit (cnas/opkit.h) does the chores: checking the create arguments, the
 * instance's memory, listing and freeing its tensors (it has none), checking the
 * input shape, with error messages that name the op. */
#include <cnas/cnas.h>

typedef struct scaled_relu {
    cnas_opkit kit; /* first member: cnas_opkit_destroy / cnas_opkit_tensors apply */
    float scale;
} scaled_relu;

static cnas_status sr_create(const cnas_op_args *a, const cnas_params *p, void **self,
                             cnas_error *err)
{
    /* The kit checks C_in, C_out >= 1 and stride 1 or 2; a bad request is reported with
     * the values found and those expected, never by exiting. */
    cnas_status st = cnas_opkit_new("scaled_relu", a, sizeof(scaled_relu), self, err);
    if (st)
        return st;
    scaled_relu *o = *self;
    if (a->c_out != a->c_in) { /* what this op needs beyond the kit's checks */
        st = cnas_opkit_fail(&o->kit, err, "C_in %d, C_out %d; expected C_out = C_in", a->c_in,
                             a->c_out);
        cnas_opkit_destroy(o);
        *self = NULL;
        return st;
    }
    /* Already validated against the schema below: a float in [0, 100]. */
    o->scale = (float)cnas_params_float(p, "scale");
    return CNAS_OK;
}

static cnas_tensor *sr_forward(void *self, cnas_graph *g, cnas_tensor *x,
                               const cnas_op_forward_ctx *ctx)
{
    scaled_relu *o = self;
    (void)ctx;
    if (!cnas_opkit_check_input(&o->kit, g, x, 0))
        return NULL;
    cnas_tensor *y = cnas_scale(g, cnas_relu(g, x), o->scale);
    if (o->kit.stride == 1)
        return y;
    /* A 1x1 pool at stride s keeps pixels (0, 0), (0, s), ...: ceil(H / s) rows. */
    cnas_pool2d_params sub = {1, 1, o->kit.stride, o->kit.stride, 0, 0, false};
    return cnas_avg_pool2d(g, y, &sub);
}

static int64_t sr_flops(void *self, const int64_t in[4], int64_t out[4])
{
    scaled_relu *o = self;
    if (!cnas_opkit_flops_input(&o->kit, in, out))
        return -1;
    int s = o->kit.stride;
    out[0] = in[0];
    out[1] = in[1];
    out[2] = (in[2] + s - 1) / s;
    out[3] = (in[3] + s - 1) / s;
    return in[0] * in[1] * in[2] * in[3]; /* one multiply per input element */
}

/* No parameters or buffers: the kit's tensors lists none, its destroy frees the op. */
static const cnas_op_vtable sr_vtable = CNAS_OPKIT_VTABLE(sr_create, sr_forward, sr_flops);

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
