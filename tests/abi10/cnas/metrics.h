/* cnas/metrics.h — per-step and per-epoch metrics as JSON lines and CSV.
 *
 * Values are set by name during a step or an epoch and written as one record when
 * the step or epoch ends: a JSON object per line in <prefix>.jsonl (every value),
 * and a CSV row in <prefix>.csv whose columns are fixed by the first record. */
#ifndef CNAS_METRICS_H
#define CNAS_METRICS_H

#include <stdint.h>

#include <cnas/status.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnas_metrics cnas_metrics;

/* Opens (appending) dir/<prefix>.jsonl and dir/<prefix>.csv. */
cnas_metrics *cnas_metrics_open(const char *dir, const char *prefix, cnas_error *err);
void cnas_metrics_close(cnas_metrics *m);
void cnas_metrics_set(cnas_metrics *m, const char *name, double value);
/* Write the record (with epoch and step first) and clear the values. */
cnas_status cnas_metrics_write(cnas_metrics *m, int64_t epoch, int64_t step, cnas_error *err);
/* Forget the values set since the last record without writing them. */
void cnas_metrics_clear(cnas_metrics *m);
/* The last value written or set under a name; NaN when never seen. */
double cnas_metrics_last(const cnas_metrics *m, const char *name);

#ifdef __cplusplus
}
#endif
#endif
