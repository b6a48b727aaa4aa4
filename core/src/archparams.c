/* Architecture-parameter sets (archparams.h): groups of α matrices tied per share
 * key or per cell instance, transformed into mixture weights on the tape. */
#include <cnas/archparams.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/kit.h>
#include <cnas/ops.h>

#define KEY_MAX 48

struct cnas_archparams {
    const cnas_space_vtable *vt;
    void *space;
    const cnas_choice_point *points;
    int n_points;
    int n_groups;
    char (*keys)[KEY_MAX];
    cnas_tensor **alpha;        /* per group, [rows, candidates] */
    int *group, *row;           /* per point */
    cnas_mix_weight *mix;       /* per point */
    float *store;               /* probs of every group, concatenated */
    const float **probs;        /* per point, into store */
};

static int find_key(const cnas_archparams *ap, const char *key)
{
    for (int i = 0; i < ap->n_groups; i++)
        if (strcmp(ap->keys[i], key) == 0)
            return i;
    return -1;
}

cnas_archparams *cnas_archparams_new(const cnas_space_vtable *vt, void *space, bool tie,
                                     cnas_error *err)
{
    if (!CNAS_VT_HAS(vt, choice_points)) {
        cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "architecture parameters: the space has no "
                       "choice points");
        return NULL;
    }
    cnas_archparams *ap = calloc(1, sizeof *ap);
    if (!ap)
        goto oom;
    ap->vt = vt;
    ap->space = space;
    ap->n_points = vt->choice_points(space, &ap->points);
    size_t np = (size_t)(ap->n_points > 0 ? ap->n_points : 1);
    ap->keys = calloc(np, sizeof *ap->keys);
    ap->group = calloc(np, sizeof *ap->group);
    ap->row = calloc(np, sizeof *ap->row);
    ap->mix = calloc(np, sizeof *ap->mix);
    ap->probs = calloc(np, sizeof *ap->probs);
    int *rows = calloc(np, sizeof *rows), *cols = calloc(np, sizeof *cols);
    if (!ap->keys || !ap->group || !ap->row || !ap->mix || !ap->probs || !rows || !cols) {
        free(rows);
        free(cols);
        goto oom;
    }
    for (int p = 0; p < ap->n_points; p++) {
        const cnas_choice_point *cp = &ap->points[p];
        char key[KEY_MAX];
        if (tie)
            snprintf(key, sizeof key, "%s", cp->share_key);
        else
            snprintf(key, sizeof key, "%s.%d", cp->share_key, cp->instance);
        int gi = find_key(ap, key);
        if (gi < 0) {
            gi = ap->n_groups++;
            snprintf(ap->keys[gi], KEY_MAX, "%s", key);
            cols[gi] = cp->n_candidates;
        }
        if (cp->n_candidates != cols[gi] || cp->local_index < 0) {
            cnas_error_set(err, CNAS_ERR_INVALID, "architecture parameters: choice point %s has "
                           "%d candidates (local index %d) but its group '%s' has %d", cp->name,
                           cp->n_candidates, cp->local_index, key, cols[gi]);
            free(rows);
            free(cols);
            cnas_archparams_free(ap);
            return NULL;
        }
        if (cp->local_index + 1 > rows[gi])
            rows[gi] = cp->local_index + 1;
        ap->group[p] = gi;
        ap->row[p] = ap->mix[p].row = cp->local_index;
    }
    ap->alpha = calloc((size_t)(ap->n_groups ? ap->n_groups : 1), sizeof *ap->alpha);
    size_t total = 0;
    for (int gi = 0; ap->alpha && gi < ap->n_groups; gi++) {
        if (!(ap->alpha[gi] = cnas_tensor_new(CNAS_SHAPE(rows[gi], cols[gi]), err))) {
            free(rows);
            free(cols);
            cnas_archparams_free(ap);
            return NULL;
        }
        char name[64];
        snprintf(name, sizeof name, "alpha.%s", ap->keys[gi]);
        cnas_tensor_set_name(ap->alpha[gi], name);
        total += (size_t)ap->alpha[gi]->numel;
    }
    free(rows);
    free(cols);
    if (!ap->alpha || !(ap->store = malloc((total ? total : 1) * sizeof *ap->store)))
        goto oom;
    return ap;
oom:
    cnas_archparams_free(ap);
    cnas_error_set(err, CNAS_ERR_NOMEM, "architecture parameters: out of memory");
    return NULL;
}

void cnas_archparams_free(cnas_archparams *ap)
{
    if (!ap)
        return;
    for (int gi = 0; ap->alpha && gi < ap->n_groups; gi++)
        cnas_tensor_free(ap->alpha[gi]);
    free(ap->alpha);
    free(ap->keys);
    free(ap->group);
    free(ap->row);
    free(ap->mix);
    free(ap->store);
    free(ap->probs);
    free(ap);
}

void cnas_archparams_init_normal(cnas_archparams *ap, uint64_t seed, const char *purpose,
                                 float scale)
{
    cnas_rng rng;
    cnas_rng_init(&rng, seed, purpose);
    for (int gi = 0; gi < ap->n_groups; gi++)
        cnas_rng_fill_normal(&rng, ap->alpha[gi]->data, ap->alpha[gi]->numel, 0.0f, scale);
}

void cnas_archparams_init_const(cnas_archparams *ap, float value)
{
    for (int gi = 0; gi < ap->n_groups; gi++)
        cnas_tensor_fill(ap->alpha[gi], value);
}

int cnas_archparams_groups(const cnas_archparams *ap) { return ap->n_groups; }
cnas_tensor *const *cnas_archparams_tensors(const cnas_archparams *ap) { return ap->alpha; }
const char *cnas_archparams_key(const cnas_archparams *ap, int group) { return ap->keys[group]; }
int cnas_archparams_points(const cnas_archparams *ap) { return ap->n_points; }
int cnas_archparams_group_of(const cnas_archparams *ap, int point) { return ap->group[point]; }
int cnas_archparams_row_of(const cnas_archparams *ap, int point) { return ap->row[point]; }

cnas_status cnas_archparams_transform(const cnas_archparams *ap, cnas_graph *g,
                                      cnas_ap_transform tr, const cnas_ap_opts *o,
                                      cnas_tensor **out)
{
    float tau = o && o->tau > 0.0f ? o->tau : 1.0f;
    for (int gi = 0; gi < ap->n_groups; gi++) {
        cnas_tensor *a = ap->alpha[gi];
        switch (tr) {
        case CNAS_AP_SOFTMAX: out[gi] = cnas_softmax(g, a); break;
        case CNAS_AP_SIGMOID: out[gi] = cnas_sigmoid(g, a); break;
        case CNAS_AP_GUMBEL_SOFT:
        case CNAS_AP_GUMBEL_HARD:
            if (!o || !o->rng)
                return cnas_graph_fail(g, CNAS_ERR_INVALID, "architecture parameters: the "
                                       "Gumbel transforms need a noise stream"),
                       cnas_graph_status(g);
            out[gi] = cnas_gumbel_softmax(g, a, tau, tr == CNAS_AP_GUMBEL_HARD, o->rng);
            break;
        case CNAS_AP_IDENTITY: out[gi] = a; break;
        default:
            cnas_graph_fail(g, CNAS_ERR_INVALID, "architecture parameters: transform %d",
                            (int)tr);
            return cnas_graph_status(g);
        }
        if (!out[gi])
            return cnas_graph_status(g);
    }
    return CNAS_OK;
}

const cnas_mix_weight *cnas_archparams_mix_from(cnas_archparams *ap, cnas_tensor *const *group_w)
{
    for (int p = 0; p < ap->n_points; p++)
        ap->mix[p].w = group_w[ap->group[p]];
    return ap->mix;
}

const cnas_mix_weight *cnas_archparams_mix(cnas_archparams *ap, cnas_graph *g, cnas_ap_transform tr,
                                           const cnas_ap_opts *o)
{
    cnas_tensor *w[1024];
    cnas_tensor **wp = ap->n_groups <= 1024 ? w : cnas_graph_alloc(g, (size_t)ap->n_groups * sizeof *wp);
    if (!wp || cnas_archparams_transform(ap, g, tr, o, wp))
        return NULL;
    return cnas_archparams_mix_from(ap, wp);
}

/* Rows in double, as the reference's softmax over float32 α is close to. */
static void transform_row(cnas_ap_transform tr, const float *in, float *out, int64_t k)
{
    if (tr == CNAS_AP_IDENTITY) {
        memcpy(out, in, (size_t)k * sizeof *out);
        return;
    }
    if (tr == CNAS_AP_SIGMOID) {
        for (int64_t j = 0; j < k; j++)
            out[j] = (float)(1.0 / (1.0 + exp(-(double)in[j])));
        return;
    }
    float m = in[0];
    for (int64_t j = 1; j < k; j++)
        m = in[j] > m ? in[j] : m;
    double s = 0;
    for (int64_t j = 0; j < k; j++)
        s += exp((double)in[j] - m);
    for (int64_t j = 0; j < k; j++)
        out[j] = (float)(exp((double)in[j] - m) / s);
}

const float *const *cnas_archparams_probs(cnas_archparams *ap, cnas_ap_transform tr,
                                          cnas_error *err)
{
    (void)err;
    size_t off = 0;
    for (int gi = 0; gi < ap->n_groups; gi++) {
        cnas_tensor *a = ap->alpha[gi];
        int64_t rows = a->shape[0], k = a->shape[1];
        for (int64_t r = 0; r < rows; r++)
            transform_row(tr, a->data + r * k, ap->store + off + (size_t)(r * k), k);
        for (int p = 0; p < ap->n_points; p++)
            if (ap->group[p] == gi)
                ap->probs[p] = ap->store + off + (size_t)(ap->row[p] * k);
        off += (size_t)a->numel;
    }
    return ap->probs;
}

cnas_status cnas_archparams_derive(cnas_archparams *ap, cnas_ap_transform tr, cnas_arch *out,
                                   cnas_error *err)
{
    if (!CNAS_VT_HAS(ap->vt, derive))
        return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "architecture parameters: the space has "
                              "no derivation rule");
    const float *const *probs = cnas_archparams_probs(ap, tr, err);
    return ap->vt->derive(ap->space, probs, out, err);
}

cnas_status cnas_archparams_history(cnas_archparams *ap, cnas_search_env *env, const char *file,
                                    int64_t epoch, cnas_ap_transform tr, const char *extra,
                                    cnas_error *err)
{
    cnas_archparams_probs(ap, tr, err);
    cnas_text o = {0};
    cnas_text_put(&o, "{\"epoch\": %lld", (long long)epoch);
    if (extra && *extra)
        cnas_text_put(&o, ", %s", extra);
    size_t off = 0;
    for (int gi = 0; gi < ap->n_groups; gi++) {
        cnas_tensor *a = ap->alpha[gi];
        int64_t rows = a->shape[0], k = a->shape[1];
        cnas_text_put(&o, ", ");
        cnas_text_json_string(&o, ap->keys[gi]);
        cnas_text_put(&o, ": [");
        for (int64_t r = 0; r < rows; r++) {
            char msg[1024];
            size_t m = 0;
            cnas_text_put(&o, "%s[", r ? ", " : "");
            for (int64_t j = 0; j < k; j++) {
                float v = ap->store[off + (size_t)(r * k + j)];
                cnas_text_put(&o, "%s%.6f", j ? ", " : "", v);
                if (m < sizeof msg)
                    m += (size_t)snprintf(msg + m, sizeof msg - m, " %.4f", v);
            }
            cnas_text_put(&o, "]");
            env->log(env, CNAS_LOG_DEBUG, "weights %s row %lld:%s", ap->keys[gi], (long long)r,
                     msg);
        }
        cnas_text_put(&o, "]");
        off += (size_t)a->numel;
    }
    cnas_text_put(&o, "}\n");
    cnas_status st = o.oom ? cnas_error_set(err, CNAS_ERR_NOMEM, "architecture history: out of "
                                            "memory")
                           : env->append(env, file, o.s, err);
    cnas_text_free(&o);
    return st;
}

cnas_status cnas_archparams_io(cnas_archparams *ap, cnas_ckio *io, const char *prefix)
{
    for (int gi = 0; gi < ap->n_groups && !io->status; gi++) {
        char name[160];
        snprintf(name, sizeof name, "%s.alpha.%s", prefix, ap->keys[gi]);
        cnas_ckio_tensor(io, name, ap->alpha[gi]);
    }
    return io->status;
}
