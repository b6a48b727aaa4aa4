/* ckpt_diff A B PATTERN TOL: the tensor records whose names contain PATTERN, compared
 * between two checkpoints element by element, relative to the tensor's scale: |a - b| /
 * (1e-12 + root mean square of A's tensor), so entries near zero do not blow up. Prints
 * how many tensors matched and the worst difference with its tensor; exit 0 when it is within TOL, 1 when not (or a tensor is in one file only or
 * changed shape), 2 on a usage or read error or when nothing matched. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/checkpoint.h>

static cnas_tensor *load_tensor(const cnas_ckpt *ck, const char *name, cnas_error *err)
{
    int nd;
    int64_t shape[CNAS_MAX_DIMS];
    if (cnas_ckpt_tensor_shape(ck, name, &nd, shape, err))
        return NULL;
    cnas_tensor *t = cnas_tensor_new(nd, shape, err);
    if (t && cnas_ckpt_get_tensor(ck, name, t, err)) {
        cnas_tensor_free(t);
        return NULL;
    }
    return t;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: ckpt_diff A B PATTERN TOL\n");
        return 2;
    }
    double tol = strtod(argv[4], NULL);
    cnas_error err;
    cnas_ckpt *a = cnas_ckpt_load(argv[1], &err);
    cnas_ckpt *b = a ? cnas_ckpt_load(argv[2], &err) : NULL;
    if (!b) {
        fprintf(stderr, "ckpt_diff: %s\n", err.msg);
        cnas_ckpt_free(a);
        return 2;
    }
    int matched = 0, rc = 0;
    double worst = 0.0;
    char worst_name[256] = "";
    for (int i = 0; i < cnas_ckpt_count(a) && rc != 2; i++) {
        const char *name = cnas_ckpt_name_at(a, i);
        int nd;
        int64_t shape[CNAS_MAX_DIMS];
        if (!strstr(name, argv[3]) || cnas_ckpt_tensor_shape(a, name, &nd, shape, &err))
            continue; /* not matched, or not a tensor */
        cnas_tensor *x = load_tensor(a, name, &err), *y = NULL;
        if (x && !(y = load_tensor(b, name, &err)))
            printf("%s: %s\n", name, err.msg);
        else if (y && y->numel != x->numel)
            printf("%s: %lld elements in A, %lld in B\n", name, (long long)x->numel,
                   (long long)y->numel);
        if (!x || !y || y->numel != x->numel) {
            rc = x ? 1 : 2;
            cnas_tensor_free(x);
            cnas_tensor_free(y);
            continue;
        }
        matched++;
        double ss = 0.0;
        for (int64_t k = 0; k < x->numel; k++)
            ss += (double)x->data[k] * x->data[k];
        double scale = 1e-12 + sqrt(ss / (double)(x->numel ? x->numel : 1));
        for (int64_t k = 0; k < x->numel; k++) {
            double d = fabs((double)x->data[k] - y->data[k]) / scale;
            if (!isnan(worst) && (isnan(d) || d > worst)) { /* a NaN is the worst */
                worst = d;
                snprintf(worst_name, sizeof worst_name, "%s[%lld]", name, (long long)k);
            }
        }
        cnas_tensor_free(x);
        cnas_tensor_free(y);
    }
    cnas_ckpt_free(a);
    cnas_ckpt_free(b);
    if (rc == 2 || !matched) {
        fprintf(stderr, "ckpt_diff: %s\n", rc == 2 ? err.msg : "no tensor matched");
        return 2;
    }
    printf("%d tensors matching '%s': worst relative difference %.3g%s%s\n", matched, argv[3],
           worst, *worst_name ? " at " : "", worst_name);
    return rc ? rc : !(worst <= tol);
}
