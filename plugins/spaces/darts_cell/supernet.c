/* Building and running DARTS supernets and stand-alone networks. */
#include "darts_cell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const DEFAULT_CANDIDATES =
    "none,max_pool_3x3,avg_pool_3x3,skip_connect,sep_conv_3x3,sep_conv_5x5,dil_conv_3x3,"
    "dil_conv_5x5";

static cnas_status parse_candidates(dc_space *s, const char *text, cnas_error *err)
{
    const char *p = text && *text ? text : DEFAULT_CANDIDATES;
    s->n_cand = 0;
    s->none_idx = -1;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, ", ");
        if (s->n_cand == DC_MAX_CANDIDATES)
            return cnas_error_set(err, CNAS_ERR_CONFIG, "darts_cell: more than %d candidates",
                                  DC_MAX_CANDIDATES);
        if (len >= sizeof s->cand_names[0])
            return cnas_error_set(err, CNAS_ERR_CONFIG, "darts_cell: candidate name '%.*s' is "
                                  "too long", (int)len, p);
        memcpy(s->cand_names[s->n_cand], p, len);
        s->cand_names[s->n_cand][len] = '\0';
        for (int k = 0; k < s->n_cand; k++)
            if (strcmp(s->cand_names[k], s->cand_names[s->n_cand]) == 0)
                return cnas_error_set(err, CNAS_ERR_CONFIG, "darts_cell: candidate '%s' listed "
                                      "twice", s->cand_names[k]);
        if (strcmp(s->cand_names[s->n_cand], "none") == 0)
            s->none_idx = s->n_cand;
        s->cand_ptrs[s->n_cand] = s->cand_names[s->n_cand];
        s->n_cand++;
        p += len;
    }
    if (s->n_cand < 1)
        return cnas_error_set(err, CNAS_ERR_CONFIG, "darts_cell: key 'candidates' lists no op");
    return CNAS_OK;
}

static cnas_status make_op(dc_space *s, dc_op *op, const char *name, int c_in, int c_out,
                           int stride, int affine, int pool_bn, cnas_rng *rng, const char *prefix,
                           cnas_error *err)
{
    cnas_op_args args = {sizeof args, c_in, c_out, stride, affine != 0, s->track != 0, rng};
    const char *keys[1] = {"bn_after"}, *vals[1] = {"true"};
    cnas_status st = s->factory.create(s->factory.ctx, name, &args, keys, vals, pool_bn ? 1 : 0,
                                       &op->vt, &op->self, err);
    if (st)
        return cnas_error_prefix(err, "darts_cell: creating '%s' at %s", name, prefix);
    op->identity = strcmp(name, "skip_connect") == 0 && stride == 1;
    snprintf(op->prefix, sizeof op->prefix, "%s", prefix);
    return CNAS_OK;
}

static void free_op(dc_op *op)
{
    if (op->vt && op->self)
        op->vt->destroy(op->self);
    op->vt = NULL;
    op->self = NULL;
}

static cnas_tensor *own_tensor(dc_space *s, const char *name, cnas_tensor_role role, int ndim,
                               const int64_t *shape, cnas_error *err)
{
    cnas_tensor *t = cnas_tensor_new(ndim, shape, err);
    if (!t)
        return NULL;
    dc_tensor *grown = realloc(s->own, (size_t)(s->n_own + 1) * sizeof *grown);
    if (!grown) {
        cnas_tensor_free(t);
        cnas_error_set(err, CNAS_ERR_NOMEM, "darts_cell: out of memory");
        return NULL;
    }
    s->own = grown;
    dc_tensor *d = &s->own[s->n_own++];
    snprintf(d->name, sizeof d->name, "%s", name);
    cnas_tensor_set_name(t, name);
    d->t = t;
    d->role = role;
    return t;
}

/* A batch norm's four tensors: weight, bias (when affine), running mean, var. */
static cnas_status own_bn(dc_space *s, const char *prefix, int C, int affine, cnas_tensor **g,
                          cnas_tensor **b, cnas_tensor **rm, cnas_tensor **rv, cnas_error *err)
{
    char n[96];
    *g = *b = *rm = *rv = NULL;
    if (affine) {
        snprintf(n, sizeof n, "%s.weight", prefix);
        if (!(*g = own_tensor(s, n, CNAS_ROLE_PARAM, CNAS_SHAPE(C), err)))
            return err->code;
        cnas_tensor_fill(*g, 1.0f);
        snprintf(n, sizeof n, "%s.bias", prefix);
        if (!(*b = own_tensor(s, n, CNAS_ROLE_PARAM, CNAS_SHAPE(C), err)))
            return err->code;
    }
    if (s->track) {
        snprintf(n, sizeof n, "%s.running_mean", prefix);
        if (!(*rm = own_tensor(s, n, CNAS_ROLE_BUFFER, CNAS_SHAPE(C), err)))
            return err->code;
        snprintf(n, sizeof n, "%s.running_var", prefix);
        if (!(*rv = own_tensor(s, n, CNAS_ROLE_BUFFER, CNAS_SHAPE(C), err)))
            return err->code;
        cnas_tensor_fill(*rv, 1.0f);
    }
    return CNAS_OK;
}

static int selected(const dc_space *s, const cnas_arch *arch, int point, int cand)
{
    if (cand == s->none_idx)
        return 0;
    return arch ? (int)((arch->mask[point] >> cand) & 1u) : 1;
}

static cnas_status build_points(dc_space *s, cnas_error *err)
{
    s->n_points = s->layers * s->n_edges;
    s->points = calloc((size_t)s->n_points, sizeof *s->points);
    s->point_names = calloc((size_t)s->n_points, sizeof *s->point_names);
    if (!s->points || !s->point_names)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "darts_cell: out of memory");
    for (int c = 0; c < s->layers; c++)
        for (int i = 0; i < s->nodes; i++)
            for (int j = 0; j < i + 2; j++) {
                int e = dc_edge_index(i, j);
                int p = c * s->n_edges + e;
                snprintf(s->point_names[p], sizeof s->point_names[p], "cell%d.edge%d", c, e);
                s->points[p] = (cnas_choice_point){
                    sizeof(cnas_choice_point), s->point_names[p],
                    s->cells[c].reduction ? "reduce" : "normal", e, c, s->n_cand,
                    s->cand_ptrs, j, i + 2};
            }
    return CNAS_OK;
}

static cnas_status build_cell(dc_space *s, int ci, int *c_pp, int *c_p, int *h_pp, int *w_pp,
                              int *h, int *w, int *reduction_prev, int *c_curr,
                              const cnas_arch *arch, cnas_rng *rng, cnas_error *err)
{
    dc_cell *cell = &s->cells[ci];
    int L = s->layers;
    cell->reduction = ci == L / 3 || ci == 2 * L / 3;
    if (cell->reduction)
        *c_curr *= 2;
    cell->reduction_prev = *reduction_prev;
    cell->C = *c_curr;
    cell->c_pp = *c_pp;
    cell->c_p = *c_p;
    cell->h_in = *h;
    cell->w_in = *w;
    if (cell->reduction && ((*h % 2) || (*w % 2)))
        return cnas_error_set(err, CNAS_ERR_CONFIG, "darts_cell: reduction cell %d gets %dx%d "
                              "features; reductions need even sizes (choose an input size "
                              "divisible by 4)", ci, *h, *w);
    if (cell->reduction_prev && (*h_pp != 2 * *h || *w_pp != 2 * *w))
        return cnas_error_set(err, CNAS_ERR_INTERNAL, "darts_cell: cell %d spatial bookkeeping",
                              ci);
    cell->h_out = cell->reduction ? *h / 2 : *h;
    cell->w_out = cell->reduction ? *w / 2 : *w;
    int aff = s->affine;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "cells.%d.pre0", ci);
    cnas_status st = make_op(s, &cell->pre0, cell->reduction_prev ? "factorized_reduce"
                                                                 : "relu_conv_bn",
                             *c_pp, cell->C, 1, aff, 0, rng, prefix, err);
    if (st)
        return st;
    cell->pre0.cand = -1;
    snprintf(prefix, sizeof prefix, "cells.%d.pre1", ci);
    if ((st = make_op(s, &cell->pre1, "relu_conv_bn", *c_p, cell->C, 1, aff, 0, rng, prefix, err)))
        return st;
    cell->pre1.cand = -1;
    cell->edges = calloc((size_t)s->n_edges, sizeof *cell->edges);
    if (!cell->edges)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "darts_cell: out of memory");
    for (int i = 0; i < s->nodes; i++)
        for (int j = 0; j < i + 2; j++) {
            dc_edge *e = &cell->edges[dc_edge_index(i, j)];
            e->point = ci * s->n_edges + dc_edge_index(i, j);
            e->from = j;
            e->to = i + 2;
            e->stride = cell->reduction && j < 2 ? 2 : 1;
            e->ops = calloc((size_t)s->n_cand, sizeof *e->ops);
            if (!e->ops)
                return cnas_error_set(err, CNAS_ERR_NOMEM, "darts_cell: out of memory");
            for (int k = 0; k < s->n_cand; k++) {
                /* A network instantiates only its architecture's ops; a supernet all
                 * of them ('none' included, though its output is never computed). */
                if (s->build == CNAS_SPACE_NETWORK && !selected(s, arch, e->point, k))
                    continue;
                snprintf(prefix, sizeof prefix, "cells.%d.edges.%d.%s", ci, dc_edge_index(i, j),
                         s->cand_names[k]);
                /* The search MixedOp's BN after pools (DARTS) and after the identity
                 * (GOLD-NAS, key skip_bn of gold_cell). */
                int pool_bn = s->build == CNAS_SPACE_SUPERNET &&
                              (strstr(s->cand_names[k], "pool") ||
                               (s->skip_bn && e->stride == 1 &&
                                strcmp(s->cand_names[k], "skip_connect") == 0));
                if ((st = make_op(s, &e->ops[k], s->cand_names[k], cell->C, cell->C, e->stride,
                                  aff, pool_bn, rng, prefix, err)))
                    return st;
                e->ops[k].cand = k;
            }
        }
    *c_pp = *c_p;
    *c_p = s->multiplier * cell->C;
    *reduction_prev = cell->reduction;
    *h_pp = *h;
    *w_pp = *w;
    *h = cell->h_out;
    *w = cell->w_out;
    return CNAS_OK;
}

static cnas_status build_aux(dc_space *s, int C, int h, int w, cnas_rng *rng, cnas_error *err)
{
    /* AuxiliaryHeadCIFAR: ReLU, avg pool 5 stride 3 (no padding), 1x1 conv to 128, BN,
     * ReLU, 2x2 conv to 768, BN, ReLU, linear. Designed for 8x8 features. */
    int hp = (h - 5) / 3 + 1, wp = (w - 5) / 3 + 1;
    if (h < 8 || w < 8)
        return cnas_error_set(err, CNAS_ERR_CONFIG, "darts_cell: the auxiliary head needs at "
                              "least 8x8 features after cell %d, got %dx%d (set auxiliary = "
                              "false or use a larger input)", s->aux_cell, h, w);
    s->aux_hw = (hp - 1) * (wp - 1);
    cnas_status st;
    if (!(s->aux_w1 = own_tensor(s, "aux.conv1.weight", CNAS_ROLE_PARAM, CNAS_SHAPE(128, C, 1, 1), err)))
        return err->code;
    cnas_init_default_weight(s->aux_w1, rng);
    if ((st = own_bn(s, "aux.bn1", 128, 1, &s->aux_g1, &s->aux_b1, &s->aux_rm1, &s->aux_rv1, err)))
        return st;
    if (!(s->aux_w2 = own_tensor(s, "aux.conv2.weight", CNAS_ROLE_PARAM, CNAS_SHAPE(768, 128, 2, 2), err)))
        return err->code;
    cnas_init_default_weight(s->aux_w2, rng);
    if ((st = own_bn(s, "aux.bn2", 768, 1, &s->aux_g2, &s->aux_b2, &s->aux_rm2, &s->aux_rv2, err)))
        return st;
    if (!(s->aux_fc_w = own_tensor(s, "aux.classifier.weight", CNAS_ROLE_PARAM,
                                   CNAS_SHAPE(s->num_classes, 768 * s->aux_hw), err)))
        return err->code;
    cnas_init_default_weight(s->aux_fc_w, rng);
    if (!(s->aux_fc_b = own_tensor(s, "aux.classifier.bias", CNAS_ROLE_PARAM,
                                   CNAS_SHAPE(s->num_classes), err)))
        return err->code;
    cnas_init_default_bias(s->aux_fc_b, 768 * s->aux_hw, rng);
    return CNAS_OK;
}

cnas_status dc_create(const cnas_space_create_args *a, void **self, cnas_error *err)
{
    dc_space *s = calloc(1, sizeof *s);
    if (!s)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "darts_cell: out of memory");
    cnas_status st = CNAS_OK;
    const cnas_params *p = a->params;
    s->build = a->build;
    s->params = p;
    s->C = (int)cnas_params_int(p, "init_channels");
    s->layers = (int)cnas_params_int(p, "layers");
    s->nodes = (int)cnas_params_int(p, "nodes");
    s->multiplier = (int)cnas_params_int(p, "multiplier");
    if (s->multiplier == 0)
        s->multiplier = s->nodes;
    s->stem_mult = (int)cnas_params_int(p, "stem_multiplier");
    s->track = cnas_params_bool(p, "track_running_stats");
    s->affine = a->build == CNAS_SPACE_NETWORK;
    s->auxiliary = a->build == CNAS_SPACE_NETWORK && cnas_params_bool(p, "auxiliary");
    s->recompute = cnas_params_bool(p, "recompute");
    s->skip_bn = cnas_params_bool(p, "skip_bn"); /* false where the schema lacks it */
    s->aux_cell = 2 * s->layers / 3;
    s->in_c = a->in_channels;
    s->in_h = a->in_height;
    s->in_w = a->in_width;
    s->num_classes = a->num_classes;
    s->n_edges = s->nodes * (s->nodes + 3) / 2;
    if (!a->ops || !a->ops->create) {
        st = cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: no op factory");
        goto fail;
    }
    s->factory = *a->ops;
    if ((st = parse_candidates(s, cnas_params_str(p, "candidates"), err)))
        goto fail;
    if (s->nodes < 1 || s->nodes > DC_MAX_NODES || s->multiplier > s->nodes) {
        st = cnas_error_set(err, CNAS_ERR_CONFIG, "darts_cell: nodes = %d and multiplier = %d; "
                            "expected 1 <= multiplier <= nodes <= %d", s->nodes, s->multiplier,
                            DC_MAX_NODES);
        goto fail;
    }
    if (a->build == CNAS_SPACE_NETWORK && (!a->arch || a->arch->n_points != s->layers * s->n_edges)) {
        st = cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: a network needs an architecture "
                            "with %d choice points, got %d", s->layers * s->n_edges,
                            a->arch ? a->arch->n_points : 0);
        goto fail;
    }
    if (a->build == CNAS_SPACE_NETWORK && !(s->arch = cnas_arch_clone(a->arch, err))) {
        st = err->code;
        goto fail;
    }

    cnas_rng *rng = a->init_rng;
    int c_stem = s->stem_mult * s->C;
    if (!(s->stem_w = own_tensor(s, "stem.conv.weight", CNAS_ROLE_PARAM,
                                 CNAS_SHAPE(c_stem, s->in_c, 3, 3), err))) {
        st = err->code;
        goto fail;
    }
    cnas_init_default_weight(s->stem_w, rng);
    /* The stem BN is affine in search and evaluation alike (model_search.py). */
    int saved_track = s->track;
    s->track = 1;
    st = own_bn(s, "stem.bn", c_stem, 1, &s->stem_g, &s->stem_b, &s->stem_rm, &s->stem_rv, err);
    s->track = saved_track;
    if (st)
        goto fail;

    s->cells = calloc((size_t)s->layers, sizeof *s->cells);
    if (!s->cells) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, "darts_cell: out of memory");
        goto fail;
    }
    int c_pp = c_stem, c_p = c_stem, c_curr = s->C, reduction_prev = 0;
    int h = s->in_h, w = s->in_w, h_pp = h, w_pp = w;
    for (int ci = 0; ci < s->layers; ci++) {
        st = build_cell(s, ci, &c_pp, &c_p, &h_pp, &w_pp, &h, &w, &reduction_prev, &c_curr,
                        a->arch, rng, err);
        if (st)
            goto fail;
        if (s->auxiliary && ci == s->aux_cell && (st = build_aux(s, c_p, h, w, rng, err)))
            goto fail;
    }
    if (!(s->fc_w = own_tensor(s, "classifier.weight", CNAS_ROLE_PARAM,
                               CNAS_SHAPE(s->num_classes, c_p), err)) ||
        !(s->fc_b = own_tensor(s, "classifier.bias", CNAS_ROLE_PARAM,
                               CNAS_SHAPE(s->num_classes), err))) {
        st = err->code;
        goto fail;
    }
    cnas_init_default_weight(s->fc_w, rng);
    cnas_init_default_bias(s->fc_b, c_p, rng);
    if ((st = build_points(s, err)))
        goto fail;
    *self = s;
    return CNAS_OK;
fail:
    dc_destroy(s);
    return st;
}

void dc_destroy(void *self)
{
    dc_space *s = self;
    if (!s)
        return;
    for (int ci = 0; s->cells && ci < s->layers; ci++) {
        dc_cell *c = &s->cells[ci];
        free_op(&c->pre0);
        free_op(&c->pre1);
        for (int e = 0; c->edges && e < s->n_edges; e++) {
            for (int k = 0; c->edges[e].ops && k < s->n_cand; k++)
                free_op(&c->edges[e].ops[k]);
            free(c->edges[e].ops);
        }
        free(c->edges);
    }
    free(s->cells);
    for (int i = 0; i < s->n_own; i++)
        cnas_tensor_free(s->own[i].t);
    free(s->own);
    free(s->points);
    free(s->point_names);
    free(s->names);
    cnas_arch_free(s->arch);
    free(s);
}

int dc_choice_points(void *self, const cnas_choice_point **points)
{
    dc_space *s = self;
    *points = s->points;
    return s->n_points;
}

/* ---- forward ---------------------------------------------------------------- */

typedef struct fwd {
    dc_space *s;
    cnas_graph *g;
    const cnas_space_forward_args *a;
    cnas_op_forward_ctx ctx;
} fwd;

static cnas_tensor *run_op(fwd *f, dc_op *op, cnas_tensor *x)
{
    return op->vt->forward(op->self, f->g, x, &f->ctx);
}

/* An operation of a path (a network or a single path), or a cell's preprocessing, keeping
 * only its output on the tape when `recompute` is on (drop-path draws random numbers, so
 * it stays outside). */
static cnas_tensor *run_op_kept(fwd *f, dc_op *op, cnas_tensor *x)
{
    if (!f->s->recompute || op->identity)
        return run_op(f, op, x);
    return cnas_op_forward_kept(op->vt, op->self, f->g, x, &f->ctx);
}

/* One edge's contribution, or NULL with *none set when it contributes nothing; mw is
 * the edge's mixture weight (MIXTURE mode). */
static cnas_tensor *edge_forward(fwd *f, dc_edge *e, cnas_tensor *x, const cnas_mix_weight *mw,
                                 int *none)
{
    dc_space *s = f->s;
    const cnas_space_forward_args *a = f->a;
    cnas_tensor *outs[DC_MAX_CANDIDATES];
    int32_t cols[DC_MAX_CANDIDATES];
    int n = 0;
    const cnas_arch *sel = a->mode == CNAS_FWD_PATH && !a->arch ? s->arch : a->arch;
    *none = 0;
    for (int k = 0; k < s->n_cand; k++) {
        if (!selected(s, sel, e->point, k) || !e->ops[k].vt)
            continue;
        cnas_tensor *y = a->mode == CNAS_FWD_PATH ? run_op_kept(f, &e->ops[k], x)
                                                  : run_op(f, &e->ops[k], x);
        if (!y)
            return NULL;
        if (a->mode == CNAS_FWD_PATH && a->training && a->drop_path > 0.0f &&
            !e->ops[k].identity)
            if (!(y = cnas_drop_path(f->g, y, a->drop_path, true, a->rng)))
                return NULL;
        outs[n] = y;
        cols[n] = k;
        n++;
    }
    if (n == 0) {
        *none = 1;
        return NULL;
    }
    if (a->mode == CNAS_FWD_MIXTURE)
        return cnas_weighted_sum_cols(f->g, n, outs, mw->w, mw->row, cols);
    return n == 1 ? outs[0] : cnas_sum_n(f->g, n, outs);
}

/* A mixed edge as a recomputed segment: in = {x, w}; everything else by value, since
 * the backward pass replays it after the forward's stack frames are gone. */
typedef struct edge_segment {
    dc_space *s;
    dc_edge *e;
    const cnas_arch *allowed;
    int32_t row;
    bool training;
} edge_segment;

static cnas_tensor *edge_replay(cnas_graph *g, cnas_tensor *const *in, const void *vctx)
{
    const edge_segment *c = vctx;
    cnas_mix_weight mw = {in[1], c->row};
    cnas_space_forward_args a = {sizeof a, CNAS_FWD_MIXTURE, &mw, c->allowed, c->training, NULL,
                                 0.0f, NULL};
    fwd f = {c->s, g, &a, {sizeof(cnas_op_forward_ctx), c->training, NULL}};
    int none;
    return edge_forward(&f, c->e, in[0], &mw, &none);
}

static cnas_tensor *bn(fwd *f, cnas_tensor *x, cnas_tensor *g, cnas_tensor *b, cnas_tensor *rm,
                       cnas_tensor *rv)
{
    cnas_batch_norm_params p = {.training = f->a->training};
    return cnas_batch_norm(f->g, x, g, b, rm, rv, &p);
}

static cnas_tensor *aux_head(fwd *f, cnas_tensor *x)
{
    dc_space *s = f->s;
    cnas_graph *g = f->g;
    cnas_pool2d_params pool = {.kernel_h = 5, .kernel_w = 5, .stride_h = 3, .stride_w = 3};
    cnas_conv2d_params c = {0};
    cnas_tensor *h = cnas_avg_pool2d(g, cnas_relu(g, x), &pool);
    h = cnas_relu(g, bn(f, cnas_conv2d(g, h, s->aux_w1, NULL, &c), s->aux_g1, s->aux_b1,
                        s->aux_rm1, s->aux_rv1));
    h = cnas_relu(g, bn(f, cnas_conv2d(g, h, s->aux_w2, NULL, &c), s->aux_g2, s->aux_b2,
                        s->aux_rm2, s->aux_rv2));
    return cnas_linear(g, cnas_flatten(g, h), s->aux_fc_w, s->aux_fc_b);
}

static bool edge_has_candidates(const dc_space *s, const cnas_arch *allowed, const dc_edge *e)
{
    for (int k = 0; k < s->n_cand; k++)
        if (selected(s, allowed, e->point, k) && e->ops[k].vt)
            return true;
    return false;
}

cnas_tensor *dc_forward(void *self, cnas_graph *g, cnas_tensor *x, const cnas_space_forward_args *a)
{
    dc_space *s = self;
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    if (x->ndim != 4 || x->shape[1] != s->in_c || x->shape[2] != s->in_h || x->shape[3] != s->in_w) {
        char sh[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, "darts_cell: input %s, expected [N, %d, %d, %d]",
                               cnas_shape_str(x, sh, sizeof sh), s->in_c, s->in_h, s->in_w);
    }
    if (a->mode == CNAS_FWD_MIXTURE && (!a->weights || s->build != CNAS_SPACE_SUPERNET))
        return cnas_graph_fail(g, CNAS_ERR_INVALID, "darts_cell: mixture forward needs a "
                               "supernet and one weight per choice point");
    if (a->mode == CNAS_FWD_PATH && !a->arch && !s->arch)
        return cnas_graph_fail(g, CNAS_ERR_INVALID, "darts_cell: path forward needs an "
                               "architecture");
    if (a->arch && a->arch->n_points != s->n_points)
        return cnas_graph_fail(g, CNAS_ERR_INVALID, "darts_cell: architecture has %d choice "
                               "points, expected %d", a->arch->n_points, s->n_points);
    fwd f = {s, g, a, {sizeof(cnas_op_forward_ctx), a->training, a->rng}};
    cnas_conv2d_params c3 = {.pad_h = 1, .pad_w = 1};
    cnas_tensor *h = bn(&f, cnas_conv2d(g, x, s->stem_w, NULL, &c3), s->stem_g, s->stem_b,
                        s->stem_rm, s->stem_rv);
    cnas_tensor *s0 = h, *s1 = h;
    cnas_tensor *states[2 + DC_MAX_NODES];
    for (int ci = 0; ci < s->layers && s1; ci++) {
        dc_cell *cell = &s->cells[ci];
        states[0] = run_op_kept(&f, &cell->pre0, s0);
        states[1] = states[0] ? run_op_kept(&f, &cell->pre1, s1) : NULL;
        if (!states[1])
            return NULL;
        for (int i = 0; i < s->nodes; i++) {
            cnas_tensor *terms[DC_MAX_NODES + 2];
            int n = 0;
            for (int j = 0; j < i + 2; j++) {
                int none;
                /* Without a tape an edge's intermediate tensors die with it. */
                cnas_arena_mark mark = cnas_graph_mark(g);
                dc_edge *e = &cell->edges[dc_edge_index(i, j)];
                cnas_tensor *y;
                if (s->recompute && a->mode == CNAS_FWD_MIXTURE && cnas_graph_grad_enabled(g) &&
                    edge_has_candidates(s, a->arch, e)) {
                    edge_segment seg = {s, e, a->arch, a->weights[e->point].row, a->training};
                    cnas_tensor *in[2] = {states[j], a->weights[e->point].w};
                    y = cnas_recompute(g, edge_replay, 2, in, &seg, sizeof seg);
                    none = 0;
                } else {
                    y = edge_forward(&f, e, states[j],
                                     a->mode == CNAS_FWD_MIXTURE ? &a->weights[e->point] : NULL,
                                     &none);
                }
                if (!y && !none)
                    return NULL;
                if (y && !(y = cnas_graph_keep(g, mark, y)))
                    return NULL;
                if (y)
                    terms[n++] = y;
            }
            if (n == 0)
                states[2 + i] = cnas_graph_zeros(g, CNAS_SHAPE(x->shape[0], cell->C, cell->h_out,
                                                               cell->w_out));
            else
                states[2 + i] = n == 1 ? terms[0] : cnas_sum_n(g, n, terms);
            if (!states[2 + i])
                return NULL;
        }
        s0 = s1;
        s1 = cnas_concat(g, s->multiplier, states + 2 + s->nodes - s->multiplier);
        if (s->auxiliary && ci == s->aux_cell && a->training && a->aux_logits && s1)
            *a->aux_logits = aux_head(&f, s1);
    }
    return cnas_linear(g, cnas_global_avg_pool(g, s1), s->fc_w, s->fc_b);
}

/* ---- tensors and cost ----------------------------------------------------------- */

typedef struct tensor_walk {
    cnas_named_tensor *out;
    int max, n;
    char (*names)[160];
} tensor_walk;

static void walk_op(tensor_walk *w, dc_op *op)
{
    if (!op->vt)
        return;
    cnas_named_tensor buf[64];
    int k = op->vt->tensors(op->self, buf, 64);
    for (int i = 0; i < k && i < 64; i++, w->n++) {
        if (w->n >= w->max)
            continue;
        w->out[w->n] = buf[i];
        if (w->names) {
            snprintf(w->names[w->n], sizeof w->names[w->n], "%s.%s", op->prefix, buf[i].name);
            w->out[w->n].name = w->names[w->n];
        }
    }
}

int dc_tensors(void *self, cnas_named_tensor *out, int max)
{
    dc_space *s = self;
    /* Op tensor names get the op's prefix; the composed names live in the space. */
    tensor_walk w = {out, max, 0, NULL};
    if (max > 0) {
        int total = dc_tensors(self, NULL, 0);
        if (total > s->names_cap) {
            char(*grown)[160] = realloc(s->names, (size_t)total * sizeof *grown);
            if (!grown)
                return -1;
            s->names = grown;
            s->names_cap = total;
        }
        w.names = s->names;
    }
    for (int i = 0; i < s->n_own; i++, w.n++)
        if (w.n < max)
            out[w.n] = (cnas_named_tensor){s->own[i].name, s->own[i].t, s->own[i].role};
    for (int ci = 0; ci < s->layers; ci++) {
        dc_cell *c = &s->cells[ci];
        walk_op(&w, &c->pre0);
        walk_op(&w, &c->pre1);
        for (int e = 0; e < s->n_edges; e++)
            for (int k = 0; k < s->n_cand; k++)
                walk_op(&w, &c->edges[e].ops[k]);
    }
    return w.n;
}

static int64_t op_flops(dc_op *op, int c, int h, int w)
{
    if (!op->vt || !CNAS_VT_HAS(op->vt, flops)) /* optional: an op may not count */
        return 0;
    int64_t in[4] = {1, c, h, w}, out[4];
    return op->vt->flops(op->self, in, out);
}

cnas_status dc_cost(void *self, const cnas_arch *a, int64_t *flops, int64_t *params,
                    cnas_error *err)
{
    dc_space *s = self;
    if (a) {
        /* Build the stand-alone network of `a` at this instance's size and measure it. */
        cnas_rng rng;
        cnas_rng_init(&rng, 0, "cost");
        cnas_space_create_args args = {sizeof args, s->params, s->in_c, s->in_h, s->in_w,
                                       s->num_classes, &s->factory, &rng, CNAS_SPACE_NETWORK, a};
        void *net;
        cnas_status st = dc_create(&args, &net, err);
        if (st)
            return st;
        st = dc_cost(net, NULL, flops, params, err);
        dc_destroy(net);
        return st;
    }
    int64_t f = (int64_t)s->stem_mult * s->C * s->in_c * 9 * s->in_h * s->in_w;
    for (int ci = 0; ci < s->layers; ci++) {
        dc_cell *c = &s->cells[ci];
        int hpp = c->reduction_prev ? 2 * c->h_in : c->h_in;
        int wpp = c->reduction_prev ? 2 * c->w_in : c->w_in;
        f += op_flops(&c->pre0, c->c_pp, hpp, wpp);
        f += op_flops(&c->pre1, c->c_p, c->h_in, c->w_in);
        for (int e = 0; e < s->n_edges; e++) {
            dc_edge *ed = &c->edges[e];
            int h = ed->from < 2 ? c->h_in : c->h_out, w = ed->from < 2 ? c->w_in : c->w_out;
            for (int k = 0; k < s->n_cand; k++)
                if (k != s->none_idx)
                    f += op_flops(&ed->ops[k], c->C, h, w);
        }
    }
    f += (int64_t)s->fc_w->numel;
    int n = dc_tensors(s, NULL, 0);
    cnas_named_tensor *all = malloc((size_t)(n > 0 ? n : 1) * sizeof *all);
    if (!all)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "darts_cell: out of memory");
    n = dc_tensors(s, all, n);
    int64_t p = 0;
    for (int i = 0; i < n; i++)
        if (all[i].role == CNAS_ROLE_PARAM && strncmp(all[i].name, "aux.", 4) != 0)
            p += all[i].tensor->numel;
    free(all);
    *flops = f;
    *params = p;
    return CNAS_OK;
}

/* The cost of one candidate at its position, as a stand-alone network holds it
 * (affine batch norms, no batch norm after pools): swapping candidates in a network
 * changes cost() by exactly the difference of their candidate costs. */
cnas_status dc_candidate_cost(void *self, int point, int candidate, int64_t *flops,
                              int64_t *params, cnas_error *err)
{
    dc_space *s = self;
    if (point < 0 || point >= s->n_points || candidate < 0 || candidate >= s->n_cand)
        return cnas_error_set(err, CNAS_ERR_INVALID, "darts_cell: candidate %d of choice point "
                              "%d; the space has %d points of %d candidates", candidate, point,
                              s->n_points, s->n_cand);
    int ci = point / s->n_edges, e = point % s->n_edges;
    dc_cell *c = &s->cells[ci];
    dc_edge *ed = &c->edges[e];
    *flops = *params = 0;
    if (candidate == s->none_idx)
        return CNAS_OK;
    /* A throwaway instance of the network's op (weights never used). */
    cnas_rng rng;
    cnas_rng_init(&rng, 0, "cost");
    dc_op op = {0};
    cnas_status st = make_op(s, &op, s->cand_names[candidate], c->C, c->C, ed->stride, 1, 0,
                             &rng, s->point_names[point], err);
    if (st)
        return st;
    int h = ed->from < 2 ? c->h_in : c->h_out, w = ed->from < 2 ? c->w_in : c->w_out;
    *flops = op_flops(&op, c->C, h, w);
    cnas_named_tensor buf[64];
    int k = op.vt->tensors(op.self, buf, 64);
    for (int i = 0; i < k && i < 64; i++)
        if (buf[i].role == CNAS_ROLE_PARAM)
            *params += buf[i].tensor->numel;
    free_op(&op);
    return CNAS_OK;
}
