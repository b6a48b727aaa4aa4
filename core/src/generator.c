/* Generator handles: finding a generator component, its keys, fitting on a pipeline,
 * generator files and the real-versus-generated grid (generator.h). */
#include <cnas/generator.h>

#include <cnas/ckio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "png.h"

struct cnas_generator {
    const cnas_generator_vtable *vt;
    void *self;
    cnas_params *params;
    char name[128];        /* as asked for, for files and messages */
    char *options;         /* the key text it was created with */
    cnas_gen_shape shape;
};

const cnas_generator_vtable *cnas_generator_vt(const cnas_generator *gen) { return gen->vt; }
void *cnas_generator_self(const cnas_generator *gen) { return gen->self; }
const cnas_gen_shape *cnas_generator_shape(const cnas_generator *gen) { return &gen->shape; }
const char *cnas_generator_name(const cnas_generator *gen) { return gen->name; }

/* "a=1, b = x" -> keys / values (into buf, a copy of text). */
static cnas_status split_options(const char *text, const char *where, char *buf, char **keys,
                                 char **values, int max, int *n, cnas_error *err)
{
    *n = 0;
    strcpy(buf, text ? text : "");
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        if (!*tok)
            continue;
        char *eq = strchr(tok, '=');
        if (!eq)
            return cnas_error_set(err, CNAS_ERR_CONFIG, "%s: '%s' is not key=value (expected "
                                  "key=value pairs separated by commas)", where, tok);
        if (*n >= max)
            return cnas_error_set(err, CNAS_ERR_CONFIG, "%s: more than %d keys", where, max);
        char *k_end = eq;
        while (k_end > tok && (k_end[-1] == ' ' || k_end[-1] == '\t'))
            k_end--;
        *k_end = '\0';
        char *v = eq + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        char *v_end = v + strlen(v);
        while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
            v_end--;
        *v_end = '\0';
        keys[*n] = tok;
        values[(*n)++] = v;
    }
    return CNAS_OK;
}

cnas_status cnas_generator_new(cnas_registry *reg, const char *name, const char *options,
                               const char *where, const cnas_gen_shape *shape, uint64_t seed,
                               cnas_generator **out, cnas_error *err)
{
    *out = NULL;
    if (!reg)
        reg = cnas_registry_default();
    if (!reg)
        return cnas_error_set(err, CNAS_ERR_NOT_FOUND, "%s: generator '%s': no plugins are loaded",
                              where, name);
    const cnas_component *c = cnas_registry_find(reg, CNAS_KIND_GENERATOR, name, NULL, err);
    if (!c) {
        cnas_error_prefix(err, "%s", where);
        return err->code;
    }
    if (shape->channels < 1 || shape->channels > 4 || shape->height < 1 || shape->width < 1 ||
        shape->num_classes < 1)
        return cnas_error_set(err, CNAS_ERR_INVALID, "%s: generator '%s' for %d x %d x %d images "
                              "of %d classes: expected 1-4 channels and positive sizes", where,
                              name, shape->channels, shape->height, shape->width,
                              shape->num_classes);
    cnas_generator *gen = calloc(1, sizeof *gen);
    size_t len = strlen(options ? options : "") + 1;
    char *buf = malloc(len);
    if (!gen || !buf || !(gen->options = strdup(options ? options : ""))) {
        free(buf);
        cnas_generator_free(gen);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "generator: out of memory");
    }
    char *keys[64], *values[64];
    int n = 0;
    cnas_status st = split_options(options, where, buf, keys, values, 64, &n, err);
    if (!st)
        st = cnas_params_resolve(c->params, (int)c->n_params, where, (const char *const *)keys,
                                 (const char *const *)values, n, &gen->params, err);
    free(buf);
    gen->vt = c->vtable;
    gen->shape = *shape;
    gen->shape.size = sizeof gen->shape;
    snprintf(gen->name, sizeof gen->name, "%s", name);
    if (!st && (st = gen->vt->create(gen->params, &gen->shape, seed, &gen->self, err)))
        cnas_error_prefix(err, "generator %s", name);
    if (st) {
        cnas_generator_free(gen);
        return st;
    }
    *out = gen;
    return CNAS_OK;
}

void cnas_generator_free(cnas_generator *gen)
{
    if (!gen)
        return;
    if (gen->self)
        gen->vt->destroy(gen->self);
    cnas_params_free(gen->params);
    free(gen->options);
    free(gen);
}

cnas_status cnas_generator_params(cnas_generator *gen, cnas_tensor ***out, int *n,
                                  cnas_error *err)
{
    int total = gen->vt->tensors(gen->self, NULL, 0);
    cnas_named_tensor *nt = calloc((size_t)(total > 0 ? total : 1), sizeof *nt);
    cnas_tensor **t = calloc((size_t)(total > 0 ? total : 1), sizeof *t);
    if (!nt || !t) {
        free(nt);
        free(t);
        return cnas_error_set(err, CNAS_ERR_NOMEM, "generator: out of memory");
    }
    gen->vt->tensors(gen->self, nt, total);
    int k = 0;
    for (int i = 0; i < total; i++)
        if (nt[i].role == CNAS_ROLE_PARAM)
            t[k++] = nt[i].tensor;
    free(nt);
    *out = t;
    *n = k;
    return CNAS_OK;
}

cnas_tensor *cnas_generator_sample(cnas_generator *gen, cnas_graph *g,
                                   const cnas_gen_sample_args *a)
{
    return gen->vt->sample(gen->self, g, a);
}

/* ---- fitting on a pipeline's TRAIN split ----------------------------------------------- */

typedef struct iter_source {
    cnas_iter *it;
    float *images;
    int32_t *labels;
    int64_t epoch;
    bool started;
    const cnas_gen_shape *shape;
} iter_source;

static int iter_next(void *ctx, cnas_graph *g, cnas_tensor **x, const int32_t **labels,
                     cnas_error *err)
{
    iter_source *s = ctx;
    if (!s->started) {
        if (cnas_iter_begin(s->it, s->epoch, err))
            return -1;
        s->started = true;
    }
    int64_t n = 0;
    int r = cnas_iter_next(s->it, s->images, s->labels, &n, err);
    if (r <= 0) {
        s->started = false;
        s->epoch++;
        return r;
    }
    const cnas_gen_shape *sh = s->shape;
    cnas_tensor *t = cnas_graph_tensor(g, 4, (const int64_t[]){n, sh->channels, sh->height,
                                                                 sh->width});
    if (!t) {
        *err = *cnas_graph_error(g);
        return -1;
    }
    memcpy(t->data, s->images, (size_t)t->numel * sizeof(float));
    *x = t;
    *labels = s->labels;
    return 1;
}

cnas_status cnas_generator_fit_data(cnas_generator *gen, cnas_data *data, int64_t batch_size,
                                    uint64_t seed, cnas_error *err)
{
    const cnas_gen_shape *sh = &gen->shape;
    cnas_iter_config ic = {CNAS_DATA_TRAIN, CNAS_ITER_SHUFFLE, batch_size, false, {0}, false,
                           "generator_fit", seed};
    iter_source s = {0};
    s.shape = sh;
    if (!(s.it = cnas_iter_new(data, &ic, err)))
        return err->code;
    size_t per = (size_t)sh->channels * sh->height * sh->width;
    s.images = malloc((size_t)batch_size * per * sizeof(float));
    s.labels = malloc((size_t)batch_size * sizeof(int32_t));
    cnas_status st;
    if (!s.images || !s.labels) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, "generator: out of memory");
    } else {
        cnas_gen_source src = {sizeof src, iter_next, &s};
        cnas_rng rng;
        cnas_rng_init(&rng, seed, "generator_fit_noise");
        st = gen->vt->fit(gen->self, &src, &rng, err);
    }
    free(s.images);
    free(s.labels);
    cnas_iter_free(s.it);
    return st;
}

/* ---- files -------------------------------------------------------------------------------- */

#define FILE_MAGIC "cnas generator 1"

cnas_status cnas_generator_save_file(cnas_generator *gen, const char *path, cnas_error *err)
{
    cnas_ckpt *ck = cnas_ckpt_new(err);
    if (!ck)
        return err->code;
    const cnas_gen_shape *s = &gen->shape;
    int64_t dims[4] = {s->channels, s->height, s->width, s->num_classes};
    float norm[8];
    memcpy(norm, s->mean, sizeof s->mean);
    memcpy(norm + 4, s->std, sizeof s->std);
    cnas_status st;
    if (!(st = cnas_ckpt_put_str(ck, "generator.format", FILE_MAGIC, err)) &&
        !(st = cnas_ckpt_put_str(ck, "generator.component", gen->name, err)) &&
        !(st = cnas_ckpt_put_str(ck, "generator.options", gen->options, err)) &&
        !(st = cnas_ckpt_put_blob(ck, "generator.dims", dims, sizeof dims, err)) &&
        !(st = cnas_ckpt_put_blob(ck, "generator.norm", norm, sizeof norm, err)) &&
        !(st = gen->vt->save(gen->self, ck, "gen", err)))
        st = cnas_ckpt_save(ck, path, err);
    cnas_ckpt_free(ck);
    return st;
}

cnas_status cnas_generator_load_file(cnas_registry *reg, const char *path, cnas_generator **out,
                                     cnas_error *err)
{
    *out = NULL;
    cnas_ckpt *ck = cnas_ckpt_load(path, err);
    if (!ck)
        return err->code;
    cnas_status st = CNAS_OK;
    const char *fmt = cnas_ckpt_get_str(ck, "generator.format", err);
    const char *name = fmt ? cnas_ckpt_get_str(ck, "generator.component", err) : NULL;
    const char *opts = name ? cnas_ckpt_get_str(ck, "generator.options", err) : NULL;
    int64_t dims[4];
    float norm[8];
    if (!opts || cnas_ckpt_get_blob(ck, "generator.dims", dims, sizeof dims, err) ||
        cnas_ckpt_get_blob(ck, "generator.norm", norm, sizeof norm, err)) {
        st = cnas_error_prefix(err, "%s: not a generator file", path);
    } else if (strcmp(fmt, FILE_MAGIC) != 0) {
        st = cnas_error_set(err, CNAS_ERR_FORMAT, "%s: generator file format '%s', expected '%s'",
                            path, fmt, FILE_MAGIC);
    } else {
        cnas_gen_shape sh = {sizeof sh, (int32_t)dims[0], (int32_t)dims[1], (int32_t)dims[2],
                             (int32_t)dims[3], {0}, {0}};
        memcpy(sh.mean, norm, sizeof sh.mean);
        memcpy(sh.std, norm + 4, sizeof sh.std);
        char where[512];
        snprintf(where, sizeof where, "%s: generator.options", path);
        st = cnas_generator_new(reg, name, opts, where, &sh, 0, out, err);
        if (!st && (st = (*out)->vt->load((*out)->self, ck, "gen", err))) {
            cnas_error_prefix(err, "%s", path);
            cnas_generator_free(*out);
            *out = NULL;
        }
    }
    cnas_ckpt_free(ck);
    return st;
}

/* ---- the grid ----------------------------------------------------------------------------- */

static void put_image(unsigned char *px, int gw, int out_c, int ox, int oy, const float *img,
                      int H, int W, const float *mean, const float *std)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < out_c; c++) {
                float v = img[(c * H + y) * W + x] * std[c] + mean[c];
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                px[((size_t)(oy + y) * gw + ox + x) * out_c + c] =
                    (unsigned char)(v * 255.0f + 0.5f);
            }
}

cnas_status cnas_generator_write_grid_png(cnas_generator *gen, cnas_data *data, const char *path,
                                          int per_class, uint64_t seed, cnas_error *err)
{
    const cnas_gen_shape *sh = &gen->shape;
    const cnas_dataset_info *in = cnas_data_info(data);
    int C = in->channels, H = in->height, W = in->width, K = in->num_classes, pad = 2;
    if (C != sh->channels || H != sh->height || W != sh->width || K != sh->num_classes)
        return cnas_error_set(err, CNAS_ERR_INVALID, "grid: the generator makes %dx%dx%d images "
                              "of %d classes, the data are %dx%dx%d of %d", sh->channels,
                              sh->height, sh->width, sh->num_classes, C, H, W, K);
    if (per_class < 1)
        per_class = 1;
    int gap = 3 * pad;
    int gw = 2 * per_class * (W + pad) + pad + gap, gh = K * (H + pad) + pad;
    int out_c = C >= 3 ? 3 : 1;
    unsigned char *px = calloc((size_t)gw * gh * out_c, 1);
    float *img = malloc((size_t)C * H * W * sizeof *img);
    int *filled = calloc((size_t)K, sizeof *filled);
    int32_t *labels = malloc((size_t)K * per_class * sizeof *labels);
    cnas_graph *g = cnas_graph_new(err);
    cnas_status st = CNAS_OK;
    if (!px || !img || !filled || !labels || !g) {
        st = g ? cnas_error_set(err, CNAS_ERR_NOMEM, "grid: out of memory") : err->code;
        goto out;
    }
    float mean[4], std[4];
    cnas_data_norm(data, mean, std);
    int64_t n = cnas_data_size(data, CNAS_DATA_TRAIN);
    for (int64_t i = 0; i < n && !st; i++) {
        int32_t label;
        if ((st = cnas_data_sample(data, CNAS_DATA_TRAIN, i, img, &label, err)))
            break;
        if (label < 0 || label >= K || filled[label] >= per_class)
            continue;
        put_image(px, gw, out_c, pad + filled[label] * (W + pad), pad + label * (H + pad), img, H,
                  W, mean, std);
        filled[label]++;
    }
    if (st)
        goto out;
    for (int k = 0; k < K; k++)
        for (int j = 0; j < per_class; j++)
            labels[k * per_class + j] = k;
    cnas_rng rng;
    cnas_rng_init(&rng, seed, "grid");
    cnas_graph_set_grad_enabled(g, false);
    cnas_gen_sample_args a = {sizeof a, (int64_t)K * per_class, labels, &rng, false};
    cnas_tensor *x = gen->vt->sample(gen->self, g, &a);
    if (!x) {
        st = cnas_graph_status(g);
        *err = *cnas_graph_error(g);
        goto out;
    }
    size_t per = (size_t)C * H * W;
    int x0 = pad + per_class * (W + pad) + gap;
    for (int k = 0; k < K; k++)
        for (int j = 0; j < per_class; j++)
            put_image(px, gw, out_c, x0 + j * (W + pad), pad + k * (H + pad),
                      x->data + (size_t)(k * per_class + j) * per, H, W, sh->mean, sh->std);
    st = cnas__png_write(path, px, gw, gh, out_c, err);
out:
    cnas_graph_free(g);
    free(px);
    free(img);
    free(filled);
    free(labels);
    return st;
}
