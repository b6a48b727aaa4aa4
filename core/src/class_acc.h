/* Private: per-class accuracy of an evaluation pass (search.c writes it for the test
 * split as test_per_class.csv; README, docs/report.md). */
#ifndef CNAS_CLASS_ACC_H
#define CNAS_CLASS_ACC_H

#include <cnas/dataset.h>
#include <cnas/tensor.h>

typedef struct class_acc {
    int k;
    double *v;          /* [0, k): examples per true class; [k, 2k): correct among them */
} class_acc;

cnas_status class_acc_init(class_acc *c, int num_classes, cnas_error *err);
void class_acc_free(class_acc *c);
/* Counts a batch: logits [n][k], labels y (top-1, ties to the lowest index, as
 * cnas_count_correct). */
void class_acc_add(class_acc *c, const cnas_tensor *logits, const int32_t *y);
/* Sums the counts over the ranks of a data-parallel run. */
cnas_status class_acc_reduce(class_acc *c, cnas_error *err);
/* Writes "class,name,images,correct,accuracy" rows to path atomically (a temporary file
 * renamed over it); names may be NULL. */
cnas_status class_acc_write(const class_acc *c, const char *const *names, const char *path,
                            cnas_error *err);

#endif
