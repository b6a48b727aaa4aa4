/* Building and running NAS-Bench-201 supernets (search_model_darts.py / search_model_setn.py
 * with NAS201SearchCell) and stand-alone networks (TinyNetwork with InferCell). */
#include "nb201_cell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int nb_from[NB_EDGES] = {0, 0, 1, 0, 1, 2};
const int nb_to[NB_EDGES] = {1, 2, 2, 3, 3, 3};

static const char *const DEFAULT_CANDIDATES =
    "none,skip_connect,nor_conv_1x1,nor_conv_3x3,avg_pool_3x3";

/* Where the reference's candidates come from. darts_ops' none, skip_connect and avg_pool_3x3
 * (bn_after off) are the reference's Zero, Identity and POOLING wherever this space uses them
 * (C -> C at stride 1); the convolutions are nb201_ops'. The names are qualified so that
 * another plugin's op of the same short name cannot make them ambiguous. */
static const struct {
    const char *name, *component;
} REFERENCE_OPS[5] = {
    {"none", "darts_ops/none"},
    {"skip_connect", "darts_ops/skip_connect"},
    {"nor_conv_1x1", "nb201_ops/nor_conv_1x1"},
    {"nor_conv_3x3", "nb201_ops/nor_conv_3x3"},
    {"avg_pool_3x3", "darts_ops/avg_pool_3x3"},
};
static const char *const RESBLOCK = "nb201_ops/nb201_resblock";

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '/' || c == '.' || c == '-';
}

static cnas_status parse_candidates(nb_space *s, const char *text, cnas_error *err)
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
        if (s->n_cand == NB_MAX_CANDIDATES)
            return cnas_error_set(err, CNAS_ERR_CONFIG, NB_NAME ": key 'candidates' lists more "
                                  "than %d ops", NB_MAX_CANDIDATES);
        if (len >= sizeof s->cand_names[0])
            return cnas_error_set(err, CNAS_ERR_CONFIG, NB_NAME ": candidate name '%.*s' is "
                                  "too long", (int)len, p);
        for (size_t i = 0; i < len; i++)
            if (!name_char(p[i]))
                return cnas_error_set(err, CNAS_ERR_CONFIG, NB_NAME ": candidate '%.*s' has the "
                                      "character '%c'; op names in the notation are letters, "
                                      "digits and _ / . -", (int)len, p, p[i]);
        char *name = s->cand_names[s->n_cand];
        memcpy(name, p, len);
        name[len] = '\0';
        for (int k = 0; k < s->n_cand; k++)
            if (strcmp(s->cand_names[k], name) == 0)
                return cnas_error_set(err, CNAS_ERR_CONFIG, NB_NAME ": candidate '%s' listed "
                                      "twice", name);
        const char *slash = strrchr(name, '/');
        if (strcmp(slash ? slash + 1 : name, "none") == 0)
            s->none_idx = s->n_cand;
        const char *component = name;
        for (int r = 0; r < 5; r++)
            if (strcmp(name, REFERENCE_OPS[r].name) == 0)
                component = REFERENCE_OPS[r].component;
        memcpy(s->op_names[s->n_cand], component, strlen(component) + 1); /* < 48 bytes */
        s->cand_ptrs[s->n_cand] = name;
        s->n_cand++;
        p += len;
    }
    if (s->n_cand < 1)
        return cnas_error_set(err, CNAS_ERR_CONFIG, NB_NAME ": key 'candidates' lists no op");
    s->reference_set = s->n_cand == 5;
    for (int r = 0; r < 5 && s->reference_set; r++)
        s->reference_set = strcmp(s->cand_names[r], REFERENCE_OPS[r].name) == 0;
    return CNAS_OK;
}

static cnas_status make_op(nb_space *s, nb_op *op, const char *component, int c_in, int c_out,
                           int stride, int affine, int track, cnas_rng *rng, const char *prefix,
                           cnas_error *err)
{
    cnas_op_args args = {sizeof args, c_in, c_out, stride, affine != 0, track != 0, rng};
    cnas_status st = s->factory.create(s->factory.ctx, component, &args, NULL, NULL, 0, &op->vt,
                                       &op->self, err);
    if (st) {
        op->vt = NULL;
        op->self = NULL;
        return cnas_error_prefix(err, NB_NAME ": creating '%s' at %s", component, prefix);
    }
    snprintf(op->prefix, sizeof op->prefix, "%s", prefix);
    return CNAS_OK;
}

static void free_op(nb_op *op)
{
    if (op->vt && op->self)
        op->vt->destroy(op->self);
    op->vt = NULL;
    op->self = NULL;
}

static cnas_tensor *own_tensor(nb_space *s, const char *name, cnas_tensor_role role, int ndim,
                               const int64_t *shape, cnas_error *err)
{
    if (s->n_own == (int)(sizeof s->own / sizeof s->own[0])) {
        cnas_error_set(err, CNAS_ERR_INTERNAL, NB_NAME ": too many owned tensors");
        return NULL;
    }
    cnas_tensor *t = cnas_tensor_new(ndim, shape, err);
    if (!t)
        return NULL;
    nb_tensor *d = &s->own[s->n_own++];
    snprintf(d->name, sizeof d->name, "%s", name);
    cnas_tensor_set_name(t, name);
    if (role == CNAS_ROLE_PARAM)
        cnas_tensor_set_requires_grad(t, true);
    d->t = t;
    d->role = role;
    return t;
}

/* An affine batch norm with running statistics (stem and final BN, in every build). */
static cnas_status own_bn(nb_space *s, const char *prefix, int C, cnas_tensor **g,
                          cnas_tensor **b, cnas_tensor **rm, cnas_tensor **rv, cnas_error *err)
{
    char n[64];
    snprintf(n, sizeof n, "%s.weight", prefix);
    if (!(*g = own_tensor(s, n, CNAS_ROLE_PARAM, CNAS_SHAPE(C), err)))
        return err->code;
    cnas_tensor_fill(*g, 1.0f);
    snprintf(n, sizeof n, "%s.bias", prefix);
    if (!(*b = own_tensor(s, n, CNAS_ROLE_PARAM, CNAS_SHAPE(C), err)))
        return err->code;
    snprintf(n, sizeof n, "%s.running_mean", prefix);
    if (!(*rm = own_tensor(s, n, CNAS_ROLE_BUFFER, CNAS_SHAPE(C), err)))
        return err->code;
    snprintf(n, sizeof n, "%s.running_var", prefix);
    if (!(*rv = own_tensor(s, n, CNAS_ROLE_BUFFER, CNAS_SHAPE(C), err)))
        return err->code;
    cnas_tensor_fill(*rv, 1.0f);
    return CNAS_OK;
}

static int stage_channels(const nb_space *s, int stage)
{
    return s->C << stage;
}

static cnas_status build_cell(nb_space *s, int ci, cnas_rng *rng, cnas_error *err)
{
    nb_cell *cell = &s->cells[ci];
    int stage = ci / s->N, i = ci % s->N;
    cell->stage = stage;
    cell->module = stage * (s->N + 1) + i;
    cell->C = stage_channels(s, stage);
    cell->h = s->in_h >> stage;
    cell->w = s->in_w >> stage;
    cell->ops = calloc((size_t)s->n_edges * (size_t)s->n_cand, sizeof *cell->ops);
    if (!cell->ops)
        return cnas_error_set(err, CNAS_ERR_NOMEM, NB_NAME ": out of memory");
    bool net = s->build == CNAS_SPACE_NETWORK;
    for (int e = 0; e < s->n_edges; e++)
        for (int k = 0; k < s->n_cand; k++) {
            /* `none` contributes zero and owns nothing: never instantiated. A network holds
             * only its architecture's ops (InferCell), a supernet every candidate
             * (NAS201SearchCell). */
            if (k == s->none_idx || (net && !((s->arch->mask[ci * s->n_edges + e] >> k) & 1u)))
                continue;
            char prefix[64];
            if (net)
                snprintf(prefix, sizeof prefix, "cells.%d.layers.%d", cell->module, e);
            else
                snprintf(prefix, sizeof prefix, "cells.%d.edges.%d<-%d.%d", cell->module,
                         nb_to[e], nb_from[e], k);
            cnas_status st = make_op(s, &cell->ops[e * s->n_cand + k], s->op_names[k], cell->C,
                                     cell->C, 1, net ? 1 : s->affine, net ? 1 : s->track, rng,
                                     prefix, err);
            if (st)
                return st;
        }
    return CNAS_OK;
}

static cnas_status build_points(nb_space *s, cnas_error *err)
{
    s->n_points = s->n_cells * s->n_edges;
    s->points = calloc((size_t)s->n_points, sizeof *s->points);
    s->point_names = calloc((size_t)s->n_points, sizeof *s->point_names);
    if (!s->points || !s->point_names)
        return cnas_error_set(err, CNAS_ERR_NOMEM, NB_NAME ": out of memory");
    for (int c = 0; c < s->n_cells; c++)
        for (int e = 0; e < s->n_edges; e++) {
            int p = c * s->n_edges + e;
            snprintf(s->point_names[p], sizeof s->point_names[p], "cell%d.%d<-%d", c, nb_to[e],
                     nb_from[e]);
            s->points[p] = (cnas_choice_point){sizeof(cnas_choice_point), s->point_names[p],
                                               "cell", e, c, s->n_cand, s->cand_ptrs,
                                               nb_from[e], nb_to[e]};
        }
    return CNAS_OK;
}

cnas_status nb_create(const cnas_space_create_args *a, void **self, cnas_error *err)
{
    *self = NULL;
    if (!a || !a->params)
        return cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": no create arguments or keys");
    nb_space *s = calloc(1, sizeof *s);
    if (!s)
        return cnas_error_set(err, CNAS_ERR_NOMEM, NB_NAME ": out of memory");
    cnas_status st = CNAS_OK;
    const cnas_params *p = a->params;
    s->build = a->build;
    s->params = p;
    s->C = (int)cnas_params_int(p, "init_channels");
    s->N = (int)cnas_params_int(p, "cells_per_stage");
    s->stages = (int)cnas_params_int(p, "stages");
    s->n_cells = s->stages * s->N;
    s->nodes = (int)cnas_params_int(p, "nodes");
    s->n_edges = s->nodes * (s->nodes - 1) / 2;
    s->track = cnas_params_bool(p, "track_running_stats");
    s->affine = cnas_params_bool(p, "affine");
    s->recompute = cnas_params_bool(p, "recompute");
    s->benchmark_order = strcmp(cnas_params_str(p, "index_order"), "benchmark") == 0;
    s->in_c = a->in_channels;
    s->in_h = a->in_height;
    s->in_w = a->in_width;
    s->num_classes = a->num_classes;
    if (a->build != CNAS_SPACE_SUPERNET && a->build != CNAS_SPACE_NETWORK) {
        st = cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": build %d, expected a supernet (1) "
                            "or a network (2)", (int)a->build);
        goto fail;
    }
    if (!a->ops || !a->ops->create) {
        st = cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": no op factory");
        goto fail;
    }
    s->factory = *a->ops;
    if (s->C < 1 || s->N < 1) {
        st = cnas_error_set(err, CNAS_ERR_CONFIG, NB_NAME ": init_channels = %d, cells_per_stage "
                            "= %d; both must be at least 1", s->C, s->N);
        goto fail;
    }
    if (s->nodes < NB_MIN_NODES || s->nodes > NB_NODES) {
        st = cnas_error_set(err, CNAS_ERR_CONFIG, NB_NAME ": nodes = %d; a cell has %d to %d "
                            "nodes", s->nodes, NB_MIN_NODES, NB_NODES);
        goto fail;
    }
    int m = 1 << (s->stages - 1);
    if (s->in_c < 1 || s->num_classes < 1 || s->in_h < m || s->in_w < m || s->in_h % m ||
        s->in_w % m) {
        st = cnas_error_set(err, CNAS_ERR_CONFIG, NB_NAME ": input [%d, %d, %d] with %d classes; "
                            "the %d stride-2 blocks of %d stages need H and W divisible by %d "
                            "(their shortcut pools and convs only agree on even sizes), and at "
                            "least one channel and class", s->in_c, s->in_h, s->in_w,
                            s->num_classes, s->stages - 1, s->stages, m);
        goto fail;
    }
    if ((st = parse_candidates(s, cnas_params_str(p, "candidates"), err)))
        goto fail;
    if (s->benchmark_order && s->nodes != NB_NODES) {
        st = cnas_error_set(err, CNAS_ERR_CONFIG, NB_NAME ": index_order = benchmark numbers the "
                            "benchmark's 15,625 cells, so it needs nodes = %d (the key 'nodes' "
                            "is %d)", NB_NODES, s->nodes);
        goto fail;
    }
    if (s->benchmark_order && !s->reference_set) {
        st = cnas_error_set(err, CNAS_ERR_CONFIG, NB_NAME ": index_order = benchmark numbers the "
                            "benchmark's 15,625 cells, so it needs candidates = %s (in this "
                            "order)", DEFAULT_CANDIDATES);
        goto fail;
    }
    if ((st = build_points(s, err)))
        goto fail;
    if (a->build == CNAS_SPACE_NETWORK) {
        int ops[NB_EDGES];
        if (!a->arch) {
            st = cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": a network needs an "
                                "architecture");
            goto fail;
        }
        if ((st = nb_arch_ops(s, a->arch, ops, err)) ||
            !(s->arch = cnas_arch_clone(a->arch, err))) {
            st = st ? st : err->code;
            goto fail;
        }
    }

    /* Modules in the reference's order: stem, the cells and blocks of ModuleList `cells`,
     * lastact, classifier (the initialisation stream is drawn in that order). */
    cnas_rng *rng = a->init_rng;
    if (!rng) {
        st = cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": no init_rng in the create "
                            "arguments");
        goto fail;
    }
    if (!(s->stem_w = own_tensor(s, "stem.0.weight", CNAS_ROLE_PARAM,
                                 CNAS_SHAPE(s->C, s->in_c, 3, 3), err))) {
        st = err->code;
        goto fail;
    }
    cnas_init_default_weight(s->stem_w, rng);
    if ((st = own_bn(s, "stem.1", s->C, &s->stem_g, &s->stem_b, &s->stem_rm, &s->stem_rv, err)))
        goto fail;
    s->cells = calloc((size_t)s->n_cells, sizeof *s->cells);
    if (!s->cells) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, NB_NAME ": out of memory");
        goto fail;
    }
    for (int stage = 0; stage < s->stages; stage++) {
        if (stage > 0) {
            /* ResNetBasicblock(C_prev, C_curr, 2): affine, running statistics, in search
             * and evaluation alike. */
            char prefix[64];
            snprintf(prefix, sizeof prefix, "cells.%d", stage * (s->N + 1) - 1);
            if ((st = make_op(s, &s->res[stage - 1], RESBLOCK, stage_channels(s, stage - 1),
                              stage_channels(s, stage), 2, 1, 1, rng, prefix, err)))
                goto fail;
        }
        for (int i = 0; i < s->N; i++)
            if ((st = build_cell(s, stage * s->N + i, rng, err)))
                goto fail;
    }
    int c_last = stage_channels(s, s->stages - 1);
    if ((st = own_bn(s, "lastact.0", c_last, &s->last_g, &s->last_b, &s->last_rm, &s->last_rv,
                     err)))
        goto fail;
    if (!(s->fc_w = own_tensor(s, "classifier.weight", CNAS_ROLE_PARAM,
                               CNAS_SHAPE(s->num_classes, c_last), err)) ||
        !(s->fc_b = own_tensor(s, "classifier.bias", CNAS_ROLE_PARAM,
                               CNAS_SHAPE(s->num_classes), err))) {
        st = err->code;
        goto fail;
    }
    cnas_init_default_weight(s->fc_w, rng);
    cnas_init_default_bias(s->fc_b, c_last, rng);
    *self = s;
    return CNAS_OK;
fail:
    nb_destroy(s);
    return st;
}

void nb_destroy(void *self)
{
    nb_space *s = self;
    if (!s)
        return;
    for (int c = 0; s->cells && c < s->n_cells; c++) {
        for (int i = 0; s->cells[c].ops && i < s->n_edges * s->n_cand; i++)
            free_op(&s->cells[c].ops[i]);
        free(s->cells[c].ops);
    }
    free(s->cells);
    for (int r = 0; r < s->stages - 1; r++)
        free_op(&s->res[r]);
    for (int i = 0; i < s->n_own; i++)
        cnas_tensor_free(s->own[i].t);
    free(s->points);
    free(s->point_names);
    free(s->names);
    free(s->api_to_gen);
    free(s->gen_to_api);
    cnas_arch_free(s->arch);
    free(s);
}

int nb_choice_points(void *self, const cnas_choice_point **points)
{
    nb_space *s = self;
    *points = s->points;
    return s->n_points;
}

/* ---- forward ------------------------------------------------------------------------ */

static int selected(const nb_space *s, const cnas_arch *sel, int point, int k)
{
    if (k == s->none_idx)
        return 0;
    return sel ? (int)((sel->mask[point] >> k) & 1u) : 1;
}

/* An operation of a path (a network or a single path), keeping only its output on the
 * tape when `recompute` is on. Operations without tensors (skip, pooling) keep next to
 * nothing, so they run as they are. */
static cnas_tensor *path_op(const nb_space *s, cnas_graph *g, const nb_op *op, cnas_tensor *x,
                            const cnas_op_forward_ctx *ctx)
{
    if (!s->recompute || op->vt->tensors(op->self, NULL, 0) == 0)
        return op->vt->forward(op->self, g, x, ctx);
    return cnas_op_forward_kept(op->vt, op->self, g, x, ctx);
}

/* One edge's output, or NULL with *none set when it contributes nothing (only `none`
 * selected or allowed). mixture: Σ_k w[row, k]·op_k(x) over the allowed candidates;
 * path: the selected candidate (the sum when several are). */
static cnas_tensor *edge_forward(const nb_space *s, cnas_graph *g, const nb_cell *cell, int e,
                                 int point, cnas_tensor *x, const cnas_arch *sel,
                                 const cnas_mix_weight *mw, const cnas_op_forward_ctx *ctx,
                                 int *none)
{
    cnas_tensor *outs[NB_MAX_CANDIDATES];
    int32_t cols[NB_MAX_CANDIDATES];
    int n = 0;
    *none = 0;
    for (int k = 0; k < s->n_cand; k++) {
        const nb_op *op = &cell->ops[e * s->n_cand + k];
        if (!selected(s, sel, point, k) || !op->vt)
            continue;
        cnas_tensor *y = mw ? op->vt->forward(op->self, g, x, ctx) : path_op(s, g, op, x, ctx);
        if (!y)
            return NULL;
        outs[n] = y;
        cols[n] = k;
        n++;
    }
    if (n == 0) {
        *none = 1;
        return NULL;
    }
    if (mw)
        return cnas_weighted_sum_cols(g, n, outs, mw->w, mw->row, cols);
    return n == 1 ? outs[0] : cnas_sum_n(g, n, outs);
}

static bool edge_has_candidates(const nb_space *s, const nb_cell *cell, int e, int point,
                                const cnas_arch *allowed)
{
    for (int k = 0; k < s->n_cand; k++)
        if (selected(s, allowed, point, k) && cell->ops[e * s->n_cand + k].vt)
            return true;
    return false;
}

/* A mixed edge as a recomputed segment: in = {x, w}; everything else by value, since the
 * backward pass replays it after the forward's stack frames are gone. */
typedef struct edge_segment {
    const nb_space *s;
    const nb_cell *cell;
    int e, point;
    const cnas_arch *allowed;
    int32_t row;
    bool training;
} edge_segment;

static cnas_tensor *edge_replay(cnas_graph *g, cnas_tensor *const *in, const void *vctx)
{
    const edge_segment *c = vctx;
    cnas_mix_weight mw = {in[1], c->row};
    cnas_op_forward_ctx ctx = {sizeof ctx, c->training, NULL};
    int none;
    return edge_forward(c->s, g, c->cell, c->e, c->point, in[0], c->allowed, &mw, &ctx, &none);
}

static cnas_tensor *cell_forward(const nb_space *s, cnas_graph *g, const nb_cell *cell, int ci,
                                 cnas_tensor *x, const cnas_space_forward_args *a,
                                 const cnas_arch *sel, const cnas_op_forward_ctx *ctx)
{
    bool mixture = a->mode == CNAS_FWD_MIXTURE;
    cnas_tensor *nodes[NB_NODES] = {x, NULL, NULL, NULL};
    for (int to = 1; to < s->nodes; to++) {
        cnas_tensor *terms[NB_NODES];
        int n = 0;
        for (int from = 0; from < to; from++) {
            int e = nb_edge(to, from), point = ci * s->n_edges + e, none = 0;
            /* Without a tape an edge's intermediate tensors die with it. */
            cnas_arena_mark mark = cnas_graph_mark(g);
            cnas_tensor *y;
            if (mixture && s->recompute && cnas_graph_grad_enabled(g) &&
                edge_has_candidates(s, cell, e, point, sel)) {
                edge_segment seg = {s, cell, e, point, sel, a->weights[point].row, a->training};
                cnas_tensor *in[2] = {nodes[from], a->weights[point].w};
                y = cnas_recompute(g, edge_replay, 2, in, &seg, sizeof seg);
            } else {
                y = edge_forward(s, g, cell, e, point, nodes[from], sel,
                                 mixture ? &a->weights[point] : NULL, ctx, &none);
            }
            if (!y && !none)
                return NULL;
            if (y && !(y = cnas_graph_keep(g, mark, y)))
                return NULL;
            if (y)
                terms[n++] = y;
        }
        /* A node every edge of which is `none` is zeros of the cell's shape. */
        if (n == 0)
            nodes[to] = cnas_graph_zeros(g, CNAS_SHAPE(x->shape[0], cell->C, x->shape[2],
                                                       x->shape[3]));
        else
            nodes[to] = n == 1 ? terms[0] : cnas_sum_n(g, n, terms);
        if (!nodes[to])
            return NULL;
    }
    return nodes[s->nodes - 1];
}

static cnas_tensor *bn(cnas_graph *g, cnas_tensor *x, cnas_tensor *gamma, cnas_tensor *beta,
                       cnas_tensor *rm, cnas_tensor *rv, bool training)
{
    cnas_batch_norm_params p = {.training = training, .momentum = 0.1f, .eps = 1e-5f};
    return cnas_batch_norm(g, x, gamma, beta, rm, rv, &p);
}

cnas_tensor *nb_forward(void *self, cnas_graph *g, cnas_tensor *x, const cnas_space_forward_args *a)
{
    nb_space *s = self;
    if (cnas_graph_bad_inputs(g, 1, &x))
        return NULL;
    if (!a)
        return cnas_graph_fail(g, CNAS_ERR_INVALID, NB_NAME ": no forward arguments");
    if (x->ndim != 4 || x->shape[1] != s->in_c || x->shape[2] != s->in_h ||
        x->shape[3] != s->in_w) {
        char sh[CNAS_SHAPE_STR_MAX];
        return cnas_graph_fail(g, CNAS_ERR_SHAPE, NB_NAME ": input %s, expected [N, %d, %d, %d]",
                               cnas_shape_str(x, sh, sizeof sh), s->in_c, s->in_h, s->in_w);
    }
    if (a->mode != CNAS_FWD_MIXTURE && a->mode != CNAS_FWD_PATH)
        return cnas_graph_fail(g, CNAS_ERR_INVALID, NB_NAME ": forward mode %d, expected "
                               "mixture (1) or path (2)", (int)a->mode);
    if (a->mode == CNAS_FWD_MIXTURE && (!a->weights || s->build != CNAS_SPACE_SUPERNET))
        return cnas_graph_fail(g, CNAS_ERR_INVALID, NB_NAME ": a mixture forward needs a "
                               "supernet and one weight per choice point");
    if (a->arch && a->arch->n_points != s->n_points)
        return cnas_graph_fail(g, CNAS_ERR_INVALID, NB_NAME ": architecture has %d choice "
                               "points, expected %d (%d edges x %d cells)", a->arch->n_points,
                               s->n_points, s->n_edges, s->n_cells);
    const cnas_arch *sel = a->arch;
    if (a->mode == CNAS_FWD_PATH) {
        if (s->build == CNAS_SPACE_NETWORK) {
            /* A network holds only its own ops: it runs its own architecture. */
            if (a->arch && !cnas_arch_equal(a->arch, s->arch))
                return cnas_graph_fail(g, CNAS_ERR_INVALID, NB_NAME ": this network was built "
                                       "for another architecture than the one given");
            sel = s->arch;
        } else if (!sel) {
            return cnas_graph_fail(g, CNAS_ERR_INVALID, NB_NAME ": a path forward of a "
                                   "supernet needs an architecture");
        }
    }
    cnas_op_forward_ctx ctx = {sizeof ctx, a->training, a->rng};
    cnas_conv2d_params c3 = {.pad_h = 1, .pad_w = 1};
    cnas_tensor *h = bn(g, cnas_conv2d(g, x, s->stem_w, NULL, &c3), s->stem_g, s->stem_b,
                        s->stem_rm, s->stem_rv, a->training);
    for (int stage = 0; stage < s->stages && h; stage++) {
        if (stage > 0) {
            const nb_op *r = &s->res[stage - 1];
            cnas_arena_mark mark = cnas_graph_mark(g);
            h = r->vt->forward(r->self, g, h, &ctx);
            h = cnas_graph_keep(g, mark, h);
        }
        for (int i = 0; i < s->N && h; i++) {
            int ci = stage * s->N + i;
            cnas_arena_mark mark = cnas_graph_mark(g);
            h = cell_forward(s, g, &s->cells[ci], ci, h, a, sel, &ctx);
            h = cnas_graph_keep(g, mark, h);
        }
    }
    h = cnas_relu(g, bn(g, h, s->last_g, s->last_b, s->last_rm, s->last_rv, a->training));
    return cnas_linear(g, cnas_global_avg_pool(g, h), s->fc_w, s->fc_b);
}

/* ---- tensors ---------------------------------------------------------------------------- */

typedef struct tensor_walk {
    cnas_named_tensor *out;
    int max, n;
    char (*names)[160];
} tensor_walk;

static void walk_op(tensor_walk *w, const nb_op *op)
{
    if (!op->vt)
        return;
    cnas_named_tensor buf[64];
    int k = op->vt->tensors(op->self, buf, 64);
    for (int i = 0; i < k && i < 64; i++, w->n++) {
        if (w->n >= w->max)
            continue;
        w->out[w->n] = buf[i];
        snprintf(w->names[w->n], sizeof w->names[w->n], "%s.%s", op->prefix, buf[i].name);
        w->out[w->n].name = w->names[w->n];
    }
}

static void walk_own(tensor_walk *w, const nb_space *s, int from, int to)
{
    for (int i = from; i < to; i++, w->n++)
        if (w->n < w->max)
            w->out[w->n] = (cnas_named_tensor){s->own[i].name, s->own[i].t, s->own[i].role};
}

static int count_op(const nb_op *op)
{
    return op->vt ? op->vt->tensors(op->self, NULL, 0) : 0;
}

int nb_tensors(void *self, cnas_named_tensor *out, int max)
{
    nb_space *s = self;
    int total = s->n_own;
    for (int r = 0; r < s->stages - 1; r++)
        total += count_op(&s->res[r]);
    for (int c = 0; c < s->n_cells; c++)
        for (int i = 0; i < s->n_edges * s->n_cand; i++)
            total += count_op(&s->cells[c].ops[i]);
    if (!out || max <= 0)
        return total;
    if (total > s->names_cap) {
        char(*grown)[160] = realloc(s->names, (size_t)total * sizeof *grown);
        if (!grown)
            return -1;
        s->names = grown;
        s->names_cap = total;
    }
    /* The reference's state_dict order: stem (own 0..4), cells.0 .. cells.3N+1 (search cells
     * and blocks), lastact, classifier (own 5..10). */
    tensor_walk w = {out, max, 0, s->names};
    walk_own(&w, s, 0, 5);
    for (int stage = 0; stage < s->stages; stage++) {
        if (stage > 0)
            walk_op(&w, &s->res[stage - 1]);
        for (int i = 0; i < s->N; i++)
            for (int j = 0; j < s->n_edges * s->n_cand; j++)
                walk_op(&w, &s->cells[stage * s->N + i].ops[j]);
    }
    walk_own(&w, s, 5, s->n_own);
    return w.n;
}

/* ---- cost ------------------------------------------------------------------------------- */

static int64_t op_params(const nb_op *op)
{
    cnas_named_tensor buf[64];
    int k = op->vt->tensors(op->self, buf, 64);
    int64_t p = 0;
    for (int i = 0; i < k && i < 64; i++)
        if (buf[i].role == CNAS_ROLE_PARAM)
            p += buf[i].tensor->numel;
    return p;
}

/* MACs of op on one [c, h, w] input; -1 with err set when it does not count or cannot run. */
static int64_t op_flops(const nb_op *op, const char *what, int c, int h, int w, cnas_error *err)
{
    if (!CNAS_VT_HAS(op->vt, flops)) { /* optional in an op */
        cnas_error_set(err, CNAS_ERR_UNSUPPORTED, NB_NAME ": FLOPs: %s does not count its "
                       "multiply-adds", what);
        return -1;
    }
    int64_t in[4] = {1, c, h, w}, out[4];
    int64_t f = op->vt->flops(op->self, in, out);
    if (f < 0)
        cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": FLOPs: %s cannot take a [%d, %d, %d] "
                       "input", what, c, h, w);
    return f;
}

/* Stem, blocks, final BN and classifier: the same in a supernet and a network. */
static cnas_status base_cost(const nb_space *s, int64_t *flops, int64_t *params, cnas_error *err)
{
    int64_t hw = (int64_t)s->in_h * s->in_w;
    int64_t f = (int64_t)s->C * s->in_c * 9 * hw + (int64_t)s->C * hw; /* stem conv + BN */
    int64_t p = 0;
    for (int i = 0; i < s->n_own; i++)
        if (s->own[i].role == CNAS_ROLE_PARAM)
            p += s->own[i].t->numel;
    for (int stage = 1; stage < s->stages; stage++) {
        const nb_op *r = &s->res[stage - 1];
        int64_t part = op_flops(r, "nb201_resblock", stage_channels(s, stage - 1),
                                s->in_h >> (stage - 1), s->in_w >> (stage - 1), err);
        if (part < 0)
            return err->code;
        f += part;
        p += op_params(r);
    }
    int last = s->stages - 1;
    f += (int64_t)stage_channels(s, last) * (s->in_h >> last) * (s->in_w >> last); /* final BN */
    f += s->fc_w->numel; /* classifier: in·out; global pooling and ReLU are not counted */
    *flops = f;
    *params = p;
    return CNAS_OK;
}

/* Each candidate's cost in a stand-alone network (affine BN with running statistics, as
 * InferCell builds it) at each stage: created once through the factory and measured. */
static cnas_status candidate_costs(nb_space *s, cnas_error *err)
{
    if (s->costs_known)
        return CNAS_OK;
    cnas_rng rng;
    cnas_rng_init(&rng, 0, "cost");
    for (int stage = 0; stage < s->stages; stage++)
        for (int k = 0; k < s->n_cand; k++) {
            s->cand_flops[stage][k] = s->cand_params[stage][k] = 0;
            if (k == s->none_idx)
                continue;
            int C = stage_channels(s, stage);
            char where[64];
            snprintf(where, sizeof where, "stage %d (C = %d)", stage, C);
            nb_op op = {0};
            cnas_status st = make_op(s, &op, s->op_names[k], C, C, 1, 1, 1, &rng, where, err);
            if (st)
                return st;
            char what[96];
            snprintf(what, sizeof what, "candidate '%s'", s->cand_names[k]);
            int64_t f = op_flops(&op, what, C, s->in_h >> stage, s->in_w >> stage, err);
            s->cand_params[stage][k] = op_params(&op);
            free_op(&op);
            if (f < 0)
                return err->code;
            s->cand_flops[stage][k] = f;
        }
    s->costs_known = 1;
    return CNAS_OK;
}

cnas_status nb_cost(void *self, const cnas_arch *a, int64_t *flops, int64_t *params,
                    cnas_error *err)
{
    nb_space *s = self;
    int64_t f = 0, p = 0;
    cnas_status st = base_cost(s, &f, &p, err);
    if (st)
        return st;
    if (!a) {
        /* This instance as it is: a network's architecture, or every candidate of a
         * supernet (its search-mode ops). */
        for (int c = 0; c < s->n_cells; c++) {
            const nb_cell *cell = &s->cells[c];
            for (int e = 0; e < s->n_edges; e++)
                for (int k = 0; k < s->n_cand; k++) {
                    const nb_op *op = &cell->ops[e * s->n_cand + k];
                    if (!op->vt)
                        continue;
                    int64_t part = op_flops(op, s->cand_names[k], cell->C, cell->h, cell->w, err);
                    if (part < 0)
                        return err->code;
                    f += part;
                    p += op_params(op);
                }
        }
        *flops = f;
        *params = p;
        return CNAS_OK;
    }
    /* The stand-alone network of `a`: separable, each edge costs its candidate at its stage.
     * Cells may differ here; each costs what its own choices cost. */
    if (a->n_points != s->n_points)
        return cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": architecture has %d choice "
                              "points, expected %d (%d edges x %d cells)", a->n_points,
                              s->n_points, s->n_edges, s->n_cells);
    for (int pt = 0; pt < s->n_points; pt++) {
        int k = cnas_arch_single(a, pt);
        if (k < 0)
            return cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": %s selects %d candidates, "
                                  "expected exactly one", s->point_names[pt],
                                  cnas_arch_count(a, pt));
        if (k >= s->n_cand)
            return cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": %s selects candidate %d; "
                                  "the space has %d", s->point_names[pt], k, s->n_cand);
    }
    if ((st = candidate_costs(s, err)))
        return st;
    for (int pt = 0; pt < s->n_points; pt++) {
        int stage = s->cells[pt / s->n_edges].stage, k = cnas_arch_single(a, pt);
        f += s->cand_flops[stage][k];
        p += s->cand_params[stage][k];
    }
    *flops = f;
    *params = p;
    return CNAS_OK;
}

/* The candidate as a stand-alone network holds it (affine BN, so a convolution has no bias):
 * then the candidates of an architecture plus the fixed layers make cost() exactly. */
cnas_status nb_candidate_cost(void *self, int point, int candidate, int64_t *flops,
                              int64_t *params, cnas_error *err)
{
    nb_space *s = self;
    if (point < 0 || point >= s->n_points || candidate < 0 || candidate >= s->n_cand)
        return cnas_error_set(err, CNAS_ERR_INVALID, NB_NAME ": candidate %d of choice point "
                              "%d; the space has %d points of %d candidates", candidate, point,
                              s->n_points, s->n_cand);
    cnas_status st = candidate_costs(s, err);
    if (st)
        return st;
    int stage = s->cells[point / s->n_edges].stage;
    *flops = s->cand_flops[stage][candidate];
    *params = s->cand_params[stage][candidate];
    return CNAS_OK;
}
