#include <cnas/bilevel.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/dist.h>

static void set_flags(cnas_tensor *const *t, int n, bool on)
{
    for (int i = 0; i < n; i++)
        cnas_tensor_set_requires_grad(t[i], on);
}

/* dense: every tensor of `on` leaves with a gradient buffer (zero where no path
 * reached it), for the finite-difference helpers below that read them as vectors. */
static cnas_status grad_pass(cnas_graph *g, cnas_loss_closure f, void *ctx, cnas_tensor *const *on,
                             int n_on, cnas_tensor *const *off, int n_off, float *loss, bool dense,
                             cnas_error *err)
{
    set_flags(off, n_off, false);
    set_flags(on, n_on, true);
    for (int i = 0; i < n_on; i++)
        cnas_tensor_zero_grad(on[i]);
    cnas_graph_reset(g);
    cnas_tensor *l = f(g, ctx);
    cnas_status s = l ? cnas_backward(g, l) : cnas_graph_status(g);
    if (!l && s == CNAS_OK) {
        cnas_graph_fail(g, CNAS_ERR_INTERNAL, "loss closure returned NULL without an error");
        s = CNAS_ERR_INTERNAL;
    }
    if (s) {
        cnas_error_set(err, s, "%s", cnas_graph_error(g)->msg);
        cnas_graph_reset(g);
        return s;
    }
    if (loss)
        *loss = l->data[0];
    for (int i = 0; dense && i < n_on; i++)
        if (!cnas_tensor_grad_buffer(on[i])) {
            cnas_graph_reset(g);
            return cnas_error_set(err, CNAS_ERR_NOMEM, "gradient pass: out of memory");
        }
    cnas_graph_reset(g);
    return CNAS_OK;
}

/* PyTorch 1.x semantics: a tensor no pass has ever reached keeps no gradient (the
 * optimizers skip it); once reached, its buffer stays and is zeroed before each pass,
 * so SGD keeps applying momentum and weight decay to it (optim_state.c). */
cnas_status cnas_grad_pass(cnas_graph *g, cnas_loss_closure f, void *ctx, cnas_tensor *const *on,
                           int n_on, cnas_tensor *const *off, int n_off, float *loss,
                           cnas_error *err)
{
    return grad_pass(g, f, ctx, on, n_on, off, n_off, loss, false, err);
}

/* Total element count and a flat float32 backup of a tensor list. */
static float *backup(cnas_tensor *const *t, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += (size_t)t[i]->numel;
    float *b = malloc((total ? total : 1) * sizeof *b);
    if (!b)
        return NULL;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        memcpy(b + off, t[i]->data, cnas_tensor_bytes(t[i]));
        off += (size_t)t[i]->numel;
    }
    return b;
}

static void restore(cnas_tensor *const *t, int n, const float *b)
{
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        memcpy(t[i]->data, b + off, cnas_tensor_bytes(t[i]));
        off += (size_t)t[i]->numel;
    }
}

/* t = base + s·v, tensor by tensor. */
static void axpy_from(cnas_tensor *const *t, int n, const float *base, float s,
                      const float *const *v)
{
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        float *d = t[i]->data;
        const float *vi = v[i];
        for (int64_t k = 0; k < t[i]->numel; k++)
            d[k] = base[off + (size_t)k] + s * vi[k];
        off += (size_t)t[i]->numel;
    }
}

cnas_status cnas_fd_mixed_grad(cnas_graph *g, cnas_loss_closure f, void *ctx,
                               cnas_tensor *const *perturb, const float *const *v, int n_perturb,
                               float eps, cnas_tensor *const *target, int n_target,
                               float *const *out, cnas_error *err)
{
    if (!(eps > 0.0f))
        return cnas_error_set(err, CNAS_ERR_INVALID, "fd_mixed_grad: eps %g, expected > 0",
                              (double)eps);
    float *base = backup(perturb, n_perturb);
    if (!base)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "fd_mixed_grad: out of memory");
    cnas_status s;
    axpy_from(perturb, n_perturb, base, eps, v);
    s = grad_pass(g, f, ctx, target, n_target, perturb, n_perturb, NULL, true, err);
    if (!s) {
        for (int i = 0; i < n_target; i++)
            memcpy(out[i], target[i]->grad, cnas_tensor_bytes(target[i]));
        axpy_from(perturb, n_perturb, base, -eps, v);
        s = grad_pass(g, f, ctx, target, n_target, perturb, n_perturb, NULL, true, err);
    }
    if (!s) {
        /* The perturbation actually applied, in float32, is (x+εv) - (x-εv); using 2ε
         * is what the reference does and the error is O(ulp/ε). */
        float inv = 1.0f / (2.0f * eps);
        for (int i = 0; i < n_target; i++) {
            const float *gm = target[i]->grad;
            for (int64_t k = 0; k < target[i]->numel; k++)
                out[i][k] = (out[i][k] - gm[k]) * inv;
        }
    }
    restore(perturb, n_perturb, base);
    free(base);
    return s;
}

cnas_status cnas_unrolled_alpha_grad(cnas_graph *g, const cnas_unrolled_args *a, float *val_loss,
                                     cnas_error *err)
{
    cnas_status s = CNAS_OK;
    float r = a->r > 0.0f ? a->r : 0.01f;
    float *w0 = backup(a->w, a->n_w);
    float *gw0 = NULL, *vbuf = NULL, *gdirect = NULL, *hvp = NULL;
    float **vptr = calloc((size_t)a->n_w, sizeof *vptr);
    float **hptr = calloc((size_t)a->n_alpha, sizeof *hptr);
    /* The caller's weight gradients survive: they belong to its own schedule. */
    size_t nw = 0, na = 0;
    for (int i = 0; i < a->n_w; i++)
        nw += (size_t)a->w[i]->numel;
    for (int i = 0; i < a->n_alpha; i++)
        na += (size_t)a->alpha[i]->numel;
    gw0 = malloc((nw ? nw : 1) * sizeof *gw0);
    vbuf = malloc((nw ? nw : 1) * sizeof *vbuf);
    gdirect = malloc((na ? na : 1) * sizeof *gdirect);
    hvp = malloc((na ? na : 1) * sizeof *hvp);
    if (!w0 || !gw0 || !vbuf || !gdirect || !hvp || !vptr || !hptr) {
        s = cnas_error_set(err, CNAS_ERR_NOMEM, "unrolled hypergradient: out of memory");
        goto out;
    }
    size_t off = 0;
    for (int i = 0; i < a->n_w; i++) {
        if (a->w[i]->grad)
            memcpy(gw0 + off, a->w[i]->grad, cnas_tensor_bytes(a->w[i]));
        else
            memset(gw0 + off, 0, cnas_tensor_bytes(a->w[i]));
        vptr[i] = vbuf + off;
        off += (size_t)a->w[i]->numel;
    }
    off = 0;
    for (int i = 0; i < a->n_alpha; i++) {
        hptr[i] = hvp + off;
        off += (size_t)a->alpha[i]->numel;
    }

    /* 1. w' = w - η(μ·m + ∇w L_train + λw). */
    s = grad_pass(g, a->train_loss, a->train_ctx, a->w, a->n_w, a->alpha, a->n_alpha, NULL, true,
                       err);
    /* Data parallel (dist.h): the virtual step and v use the global batches' gradients,
     * so every rank unrolls to the same w'. The Hessian-vector product stays this rank's
     * and is reduced with the architecture gradient it is part of. */
    if (!s)
        s = cnas_dist_reduce_grads(a->w, a->n_w, cnas_dist_train_weight(), err);
    if (s)
        goto out;
    for (int i = 0; i < a->n_w; i++) {
        float *d = a->w[i]->data;
        const float *gr = a->w[i]->grad;
        const float *m = a->momentum_buf ? a->momentum_buf[i] : NULL;
        for (int64_t k = 0; k < a->w[i]->numel; k++) {
            float step = gr[k] + a->weight_decay * d[k] + (m ? a->momentum * m[k] : 0.0f);
            d[k] -= a->eta * step;
        }
    }
    /* 2. v and the direct term at w'. */
    cnas_tensor **both = malloc((size_t)(a->n_w + a->n_alpha) * sizeof *both);
    if (!both) {
        s = cnas_error_set(err, CNAS_ERR_NOMEM, "unrolled hypergradient: out of memory");
        goto out;
    }
    memcpy(both, a->w, (size_t)a->n_w * sizeof *both);
    memcpy(both + a->n_w, a->alpha, (size_t)a->n_alpha * sizeof *both);
    s = grad_pass(g, a->val_loss, a->val_ctx, both, a->n_w + a->n_alpha, NULL, 0, val_loss, true,
                       err);
    free(both);
    if (!s)
        s = cnas_dist_reduce_grads(a->w, a->n_w, cnas_dist_arch_weight(), err);
    if (s)
        goto out;
    double norm2 = 0.0;
    for (int i = 0; i < a->n_w; i++) {
        memcpy(vptr[i], a->w[i]->grad, cnas_tensor_bytes(a->w[i]));
        for (int64_t k = 0; k < a->w[i]->numel; k++)
            norm2 += (double)vptr[i][k] * vptr[i][k];
    }
    off = 0;
    for (int i = 0; i < a->n_alpha; i++) {
        memcpy(gdirect + off, a->alpha[i]->grad, cnas_tensor_bytes(a->alpha[i]));
        off += (size_t)a->alpha[i]->numel;
    }
    /* 3-4. The Hessian-vector product at the original weights. */
    restore(a->w, a->n_w, w0);
    if (norm2 > 0.0) {
        float eps = (float)(r / sqrt(norm2));
        s = cnas_fd_mixed_grad(g, a->train_loss, a->train_ctx, a->w, (const float *const *)vptr,
                               a->n_w, eps, a->alpha, a->n_alpha, hptr, err);
        if (s)
            goto out;
    } else {
        memset(hvp, 0, na * sizeof *hvp);
    }
    /* 5. g_α = g - η·HVP. */
    off = 0;
    for (int i = 0; i < a->n_alpha; i++) {
        float *ga = cnas_tensor_grad_buffer(a->alpha[i]);
        if (!ga) {
            s = cnas_error_set(err, CNAS_ERR_NOMEM, "unrolled hypergradient: out of memory");
            goto out;
        }
        for (int64_t k = 0; k < a->alpha[i]->numel; k++)
            ga[k] = gdirect[off + (size_t)k] - a->eta * hptr[i][k];
        off += (size_t)a->alpha[i]->numel;
    }
out:
    if (w0) {
        restore(a->w, a->n_w, w0);
        off = 0;
        for (int i = 0; gw0 && i < a->n_w; i++) {
            if (a->w[i]->grad)
                memcpy(a->w[i]->grad, gw0 + off, cnas_tensor_bytes(a->w[i]));
            off += (size_t)a->w[i]->numel;
        }
    }
    free(w0);
    free(gw0);
    free(vbuf);
    free(gdirect);
    free(hvp);
    free(vptr);
    free(hptr);
    return s;
}
