/* Opening the configured dataset and pipeline of a session. */
#ifndef CNAS_HOST_DATA_OPEN_H
#define CNAS_HOST_DATA_OPEN_H

#include "host.h"

typedef struct opened_data {
    const cnas_dataset_vtable *vt;
    void *ds;
    cnas_data *data;
} opened_data;

/* full_train: train on the whole source training split (retraining: no validation). */
cnas_status open_data(const session *s, opened_data *od, bool full_train, cnas_error *err);
void close_data(opened_data *od);

#endif
