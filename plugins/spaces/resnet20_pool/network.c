/* Building and running ResNet20 pooling supernets and stand-alone networks. */
#include "resnet20_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const CANDIDATES[2] = {"keep", "pool"};

/* The ops come from whichever plugin the factory knows as resnet_ops. */
static cnas_status make_op(rp_space *s, const char *name, int c_in, int c_out, int stride,
                           cnas_rng *rng, const cnas_op_vtable **vt, void **self,
                           const char *where, cnas_error *err)
{
    bool net = s->build == CNAS_SPACE_NETWORK;
    cnas_op_args args = {sizeof args, c_in, c_out, stride, net, net, rng};
    cnas_status st = s->factory.create(s->factory.ctx, name, &args, NULL, NULL, 0, vt, self, err);
    if (st)
        return cnas_error_prefix(err, RP_NAME ": creating '%s' for %s", name, where);
    return CNAS_OK;
}

static cnas_status read_keys(rp_space *s, const cnas_params *p, cnas_error *err)
{
    int64_t ch[RP_MAX_LAYERS + 1];
    int n = cnas_params_int_list(p, "channels", ch, RP_MAX_LAYERS + 1);
    if (n < 2 || n > RP_MAX_LAYERS)
        return cnas_error_set(err, CNAS_ERR_CONFIG, RP_NAME ": key 'channels' lists %d widths, "
                              "expected 2 to %d (one per layer)", n, RP_MAX_LAYERS);
    s->L = n;
    for (int i = 0; i < n; i++) {
        if (ch[i] < 1 || ch[i] > 65536)
            return cnas_error_set(err, CNAS_ERR_CONFIG, RP_NAME ": key 'channels': layer %d has "
                                  "width %lld, expected 1 to 65536", i, (long long)ch[i]);
        s->channels[i] = (int)ch[i];
    }
    int64_t pools = cnas_params_int(p, "pools");
    if (pools < 0 || pools > n - 1)
        return cnas_error_set(err, CNAS_ERR_CONFIG, RP_NAME ": key 'pools' = %lld, expected 0 "
                              "to %d (pooling can precede layers 1..%d)", (long long)pools,
                              n - 1, n - 1);
    s->pools = (int)pools;
    return CNAS_OK;
}

cnas_status rp_create(const cnas_space_create_args *a, void **self, cnas_error *err)
{
    rp_space *s = calloc(1, sizeof *s);
    if (!s)
        return cnas_error_set(err, CNAS_ERR_NOMEM, RP_NAME ": out of memory");
    cnas_status st;
    s->build = a->build;
    s->params = a->params;
    s->network_params = -1;
    s->in_c = a->in_channels;
    s->in_h = a->in_height;
    s->in_w = a->in_width;
    s->num_classes = a->num_classes;
    if ((st = read_keys(s, a->params, err)))
        goto fail;
    if (a->build != CNAS_SPACE_SUPERNET && a->build != CNAS_SPACE_NETWORK) {
        st = cnas_error_set(err, CNAS_ERR_INVALID, RP_NAME ": build %d, expected a supernet (1) "
                            "or a network (2)", (int)a->build);
        goto fail;
    }
    if (!a->ops || !a->ops->create) {
        st = cnas_error_set(err, CNAS_ERR_INVALID, RP_NAME ": no op factory");
        goto fail;
    }
    if (s->in_c < 1 || s->num_classes < 1 || (s->in_h >> s->pools) < 1 ||
        (s->in_w >> s->pools) < 1) {
        st = cnas_error_set(err, CNAS_ERR_CONFIG, RP_NAME ": input [%d, %d, %d] with %d classes; "
                            "%d 2x2 pools need H, W >= %d and at least one channel and class",
                            s->in_c, s->in_h, s->in_w, s->num_classes, s->pools, 1 << s->pools);
        goto fail;
    }
    s->factory = *a->ops;
    s->count = rp_binomial(s->L - 1, s->pools);
    for (int c = 1; c < s->L; c++) {
        int p = c - 1;
        snprintf(s->point_names[p], sizeof s->point_names[p], "layer%d", c);
        s->points[p] = (cnas_choice_point){sizeof(cnas_choice_point), s->point_names[p], "layer",
                                           p, c, 2, CANDIDATES, -1, -1};
    }
    if (a->build == CNAS_SPACE_NETWORK) {
        int pos[RP_MAX_LAYERS];
        if (!a->arch) {
            st = cnas_error_set(err, CNAS_ERR_INVALID, RP_NAME ": a network needs an architecture");
            goto fail;
        }
        if ((st = rp_positions(s, a->arch, pos, err)) || !(s->arch = cnas_arch_clone(a->arch, err))) {
            st = err->code;
            goto fail;
        }
    }

    cnas_rng *rng = a->init_rng;
    for (int c = 0; c < s->L; c++) {
        rp_layer *l = &s->layers[c];
        char where[32];
        snprintf(where, sizeof where, "layer %d", c);
        if (c == 0) {
            snprintf(l->prefix, sizeof l->prefix, "res.0");
            st = make_op(s, "resnet_ops/conv_bn_relu", s->in_c, s->channels[0], 1, rng, &l->vt,
                         &l->self, where, err);
        } else {
            snprintf(l->prefix, sizeof l->prefix, "res.%d.0", c);
            st = make_op(s, "resnet_ops/basic_block", s->channels[c - 1], s->channels[c], 1, rng,
                         &l->vt, &l->self, where, err);
            /* Every layer of a supernet may be pooled; a network pools its own. */
            if (!st && (s->build == CNAS_SPACE_SUPERNET || s->arch->mask[c - 1] == 2u))
                st = make_op(s, "resnet_ops/max_pool_2x2", s->channels[c - 1], s->channels[c - 1],
                             2, rng, &l->pool_vt, &l->pool, where, err);
        }
        if (st)
            goto fail;
    }
    int c_last = s->channels[s->L - 1];
    if (!(s->fc_w = cnas_tensor_new(CNAS_SHAPE(s->num_classes, c_last), err)) ||
        !(s->fc_b = cnas_tensor_new(CNAS_SHAPE(s->num_classes), err))) {
        st = err->code;
        goto fail;
    }
    cnas_tensor_set_name(s->fc_w, "fc.weight");
    cnas_tensor_set_name(s->fc_b, "fc.bias");
    cnas_tensor_set_requires_grad(s->fc_w, true);
    cnas_tensor_set_requires_grad(s->fc_b, true);
    cnas_init_default_weight(s->fc_w, rng);
    cnas_init_default_bias(s->fc_b, c_last, rng);
    *self = s;
    return CNAS_OK;
fail:
    rp_destroy(s);
    return st;
}

void rp_destroy(void *self)
{
    rp_space *s = self;
    if (!s)
        return;
    for (int c = 0; c < s->L; c++) {
        rp_layer *l = &s->layers[c];
        if (l->vt && l->self)
            l->vt->destroy(l->self);
        if (l->pool_vt && l->pool)
            l->pool_vt->destroy(l->pool);
    }
    cnas_tensor_free(s->fc_w);
    cnas_tensor_free(s->fc_b);
    cnas_arch_free(s->arch);
    free(s->names);
    free(s);
}

int rp_choice_points(void *self, const cnas_choice_point **points)
{
    rp_space *s = self;
    *points = s->points;
    return s->L - 1;
}

/* ---- forward ---------------------------------------------------------------------- */

cnas_tensor *rp_forward(void *self, cnas_graph *g, cnas_tensor *x, const cnas_space_forward_args *a)
{
    rp_space *s = self;
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    if (!a || a->mode != CNAS_FWD_PATH)
        return cnas_graph_fail(g, CNAS_ERR_UNSUPPORTED, RP_NAME ": only the single-path forward "
                               "exists (keep and pool give different resolutions, so they cannot "
                               "be mixed); got mode %d", a ? (int)a->mode : 0);
    int64_t min_hw = (int64_t)1 << s->pools;
    if (x->ndim != 4 || x->shape[1] != s->in_c || x->shape[2] < min_hw || x->shape[3] < min_hw) {
        char sh[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, RP_NAME ": input %s, expected [N, %d, H, W] "
                               "with H, W >= %lld", cnas_shape_str(x, sh, sizeof sh), s->in_c,
                               (long long)min_hw);
    }
    const cnas_arch *arch = a->arch ? a->arch : s->arch;
    if (!arch)
        return cnas_graph_fail(g, CNAS_ERR_INVALID, RP_NAME ": a supernet forward needs an "
                               "architecture");
    int pos[RP_MAX_LAYERS];
    cnas_error err;
    if (rp_positions(s, arch, pos, &err))
        return cnas_graph_fail(g, err.code, "%s", err.msg);
    cnas_op_forward_ctx ctx = {sizeof ctx, a->training, a->rng};
    cnas_tensor *h = x;
    for (int c = 0, k = 0; c < s->L && h; c++) {
        rp_layer *l = &s->layers[c];
        /* Without a tape a layer's intermediates die with it: evaluation runs in the
         * memory of the widest layer. */
        cnas_arena_mark mark = cnas_graph_mark(g);
        if (k < s->pools && pos[k] == c) {
            if (!l->pool)
                return cnas_graph_fail(g, CNAS_ERR_INVALID, RP_NAME ": this network pools before "
                                       "other layers than the architecture given");
            h = l->pool_vt->forward(l->pool, g, h, &ctx);
            k++;
        }
        if (h)
            h = l->vt->forward(l->self, g, h, &ctx);
        if (h)
            h = cnas_graph_keep(g, mark, h);
    }
    return cnas_linear(g, cnas_global_avg_pool(g, h), s->fc_w, s->fc_b);
}

/* ---- tensors and cost ------------------------------------------------------------------ */

int rp_tensors(void *self, cnas_named_tensor *out, int max)
{
    rp_space *s = self;
    int total = 2;
    for (int c = 0; c < s->L; c++)
        total += s->layers[c].vt->tensors(s->layers[c].self, NULL, 0);
    if (!out || max <= 0)
        return total;
    if (total > s->names_cap) {
        char(*grown)[64] = realloc(s->names, (size_t)total * sizeof *grown);
        if (!grown)
            return -1;
        s->names = grown;
        s->names_cap = total;
    }
    /* The reference's state_dict order: res.0..., res.9..., fc. */
    int n = 0;
    for (int c = 0; c < s->L; c++) {
        rp_layer *l = &s->layers[c];
        cnas_named_tensor buf[32];
        int k = l->vt->tensors(l->self, buf, 32);
        for (int i = 0; i < k && i < 32; i++, n++) {
            if (n >= max)
                continue;
            snprintf(s->names[n], sizeof s->names[n], "%s.%s", l->prefix, buf[i].name);
            out[n] = buf[i];
            out[n].name = s->names[n];
        }
    }
    if (n < max)
        out[n] = (cnas_named_tensor){"fc.weight", s->fc_w, CNAS_ROLE_PARAM};
    n++;
    if (n < max)
        out[n] = (cnas_named_tensor){"fc.bias", s->fc_b, CNAS_ROLE_PARAM};
    return n + 1;
}

static int64_t count_params(rp_space *s)
{
    int64_t p = s->fc_w->numel + s->fc_b->numel;
    for (int c = 0; c < s->L; c++) {
        cnas_named_tensor buf[32];
        int k = s->layers[c].vt->tensors(s->layers[c].self, buf, 32);
        for (int i = 0; i < k && i < 32; i++)
            if (buf[i].role == CNAS_ROLE_PARAM)
                p += buf[i].tensor->numel;
    }
    return p;
}

/* MACs of one forward of a single input along the pooled positions pos. */
static cnas_status path_flops(rp_space *s, const int *pos, int64_t *flops, cnas_error *err)
{
    int64_t shape[4] = {1, s->in_c, s->in_h, s->in_w}, out[4], f = 0, part;
    for (int c = 0, k = 0; c < s->L; c++) {
        rp_layer *l = &s->layers[c];
        if (k < s->pools && pos[k] == c) {
            /* A network holds only its own pools; the count is the same for any pool. */
            out[0] = shape[0];
            out[1] = shape[1];
            out[2] = shape[2] / 2;
            out[3] = shape[3] / 2;
            if (out[2] < 1 || out[3] < 1)
                goto bad;
            f += 4 * out[0] * out[1] * out[2] * out[3];
            memcpy(shape, out, sizeof shape);
            k++;
        }
        if (!CNAS_VT_HAS(l->vt, flops)) /* optional in an op */
            return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, RP_NAME ": FLOPs: layer %d's op "
                                  "does not count its multiply-adds", c);
        if ((part = l->vt->flops(l->self, shape, out)) < 0)
            goto bad;
        f += part;
        memcpy(shape, out, sizeof shape);
    }
    *flops = f + s->fc_w->numel;
    return CNAS_OK;
bad:
    return cnas_error_set(err, CNAS_ERR_INVALID, RP_NAME ": FLOPs: the input [%d, %d, %d] does "
                          "not survive the pooling placement", s->in_c, s->in_h, s->in_w);
}

cnas_status rp_cost(void *self, const cnas_arch *a, int64_t *flops, int64_t *params,
                    cnas_error *err)
{
    rp_space *s = self;
    int pos[RP_MAX_LAYERS];
    cnas_status st;
    if (!a && s->build == CNAS_SPACE_SUPERNET) {
        /* A supernet as such: its own parameters and its dearest path, pools as late as
         * possible (every layer but the last few at full resolution). */
        for (int k = 0; k < s->pools; k++)
            pos[k] = s->L - s->pools + k;
        *params = count_params(s);
        return path_flops(s, pos, flops, err);
    }
    if ((st = rp_positions(s, a ? a : s->arch, pos, err)) || (st = path_flops(s, pos, flops, err)))
        return st;
    if (s->build == CNAS_SPACE_NETWORK) {
        *params = count_params(s);
        return CNAS_OK;
    }
    if (s->network_params < 0) {
        /* Widths do not depend on the placement: one network tells them all. */
        cnas_rng rng;
        cnas_rng_init(&rng, 0, "cost");
        cnas_space_create_args args = {sizeof args, s->params, s->in_c, s->in_h, s->in_w,
                                       s->num_classes, &s->factory, &rng, CNAS_SPACE_NETWORK, a};
        void *net;
        if ((st = rp_create(&args, &net, err)))
            return st;
        s->network_params = count_params(net);
        rp_destroy(net);
    }
    *params = s->network_params;
    return CNAS_OK;
}
