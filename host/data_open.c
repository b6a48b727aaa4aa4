#include "data_open.h"

#include <stdlib.h>
#include <string.h>

static int parse_floats(const char *text, float *out, int max)
{
    int n = 0;
    const char *p = text;
    while (*p && n < max) {
        char *end;
        out[n] = strtof(p, &end);
        if (end == p)
            return -1;
        n++;
        p = end;
        while (*p == ' ' || *p == ',')
            p++;
    }
    return *p ? -1 : n;
}

cnas_status open_data(const session *s, opened_data *od, bool full_train, cnas_error *err)
{
    memset(od, 0, sizeof *od);
    od->vt = s->dataset_c->vtable;
    if (!CNAS_VT_HAS(od->vt, open) || !CNAS_VT_HAS(od->vt, get))
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "dataset %s: incomplete vtable", s->dataset_c->name);
    cnas_status st = od->vt->open(s->dataset, &od->ds, err);
    if (st)
        return cnas_error_prefix(err, "dataset %s", s->dataset_c->name);
    cnas_data_config dc = {0};
    dc.train_portion = full_train ? 1.0 : cnas_params_float(s->data, "train_portion");
    dc.limit[CNAS_DATA_TRAIN] = cnas_params_int(s->data, "limit_train");
    dc.limit[CNAS_DATA_VAL] = cnas_params_int(s->data, "limit_val");
    dc.limit[CNAS_DATA_TEST] = cnas_params_int(s->data, "limit_test");
    dc.normalize = cnas_params_bool(s->data, "normalize");
    const char *mean = cnas_params_str(s->data, "mean"), *std = cnas_params_str(s->data, "std");
    if (*mean || *std) {
        int nm = parse_floats(mean, dc.mean, 4), ns = parse_floats(std, dc.std, 4);
        if (nm < 1 || nm != ns) {
            close_data(od);
            return cnas_error_set(err, CNAS_ERR_CONFIG, "%s [data]: mean = '%s' and std = '%s': "
                                  "expected the same number (one per channel) of numbers",
                                  cnas_ini_name(s->ini), mean, std);
        }
        dc.stats_given = true;
    }
    if (!(od->data = cnas_data_open(od->vt, od->ds, &dc, err))) {
        close_data(od);
        return err->code;
    }
    if (dc.stats_given) {
        const cnas_dataset_info *in = cnas_data_info(od->data);
        int nm = parse_floats(mean, dc.mean, 4);
        if (nm != in->channels) {
            close_data(od);
            return cnas_error_set(err, CNAS_ERR_CONFIG, "%s [data]: mean has %d values but the "
                                  "dataset has %d channels", cnas_ini_name(s->ini), nm, in->channels);
        }
    }
    return CNAS_OK;
}

void close_data(opened_data *od)
{
    cnas_data_close(od->data);
    if (od->ds)
        od->vt->close(od->ds);
    memset(od, 0, sizeof *od);
}
