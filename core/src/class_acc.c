/* Per-class accuracy of an evaluation pass: where a network's errors are, which the
 * overall accuracy hides (a hard class such as Fashion-MNIST's shirt is 10% of it). */
#include "class_acc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cnas/dist.h>

#include "internal.h"

cnas_status class_acc_init(class_acc *c, int num_classes, cnas_error *err)
{
    c->k = num_classes;
    c->v = calloc((size_t)(2 * (num_classes > 0 ? num_classes : 1)), sizeof *c->v);
    if (!c->v)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "per-class accuracy: out of memory");
    return CNAS_OK;
}

void class_acc_free(class_acc *c)
{
    free(c->v);
    c->v = NULL;
}

void class_acc_add(class_acc *c, const cnas_tensor *logits, const int32_t *y)
{
    int64_t n = logits->shape[0], k = logits->shape[1];
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= c->k)
            continue;
        c->v[y[i]] += 1.0;
        c->v[c->k + y[i]] += cnas__argmax_row(logits->data + i * k, k) == y[i];
    }
}

cnas_status class_acc_reduce(class_acc *c, cnas_error *err)
{
    return cnas_dist_sum_f64(c->v, 2 * c->k, err);
}

cnas_status class_acc_write(const class_acc *c, const char *const *names, const char *path,
                            cnas_error *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    int bad = fprintf(f, "class,name,images,correct,accuracy\n") < 0;
    for (int j = 0; j < c->k && !bad; j++) {
        double n = c->v[j], ok = c->v[c->k + j];
        bad = fprintf(f, "%d,%s,%.0f,%.0f,%.6f\n", j, names && names[j] ? names[j] : "", n, ok,
                      n > 0 ? ok / n : 0.0) < 0;
    }
    if (fclose(f) != 0 || bad) {
        remove(tmp);
        return cnas_error_set(err, CNAS_ERR_IO, "writing %s failed: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return cnas_error_set(err, CNAS_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
                              strerror(errno));
    }
    return CNAS_OK;
}
