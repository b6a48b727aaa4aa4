#include <cnas/metrics.h>

#include <cnas/log.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_METRICS 64

struct cnas_metrics {
    FILE *jsonl, *csv;
    int n;
    char names[MAX_METRICS][48];
    double values[MAX_METRICS], last[MAX_METRICS];
    int set[MAX_METRICS];
    int csv_cols;               /* columns fixed by the first record; 0 before it */
    int csv_col_of[MAX_METRICS];
    bool in_csv[MAX_METRICS];   /* a column of the CSV */
    bool warned[MAX_METRICS];   /* told that it reaches the .jsonl only */
    bool warned_full;           /* told that names past MAX_METRICS are dropped */
    char prefix[32];
};

static int slot(cnas_metrics *m, const char *name);

/* A resumed run appends to an existing CSV: take its columns from its header. */
static void read_header(cnas_metrics *m, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    if (!f)
        return;
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *save = NULL;
        int col = 0;
        for (char *tok = strtok_r(line, ",", &save); tok; tok = strtok_r(NULL, ",", &save), col++) {
            if (col < 2)
                continue; /* epoch, step */
            int i = slot(m, tok);
            if (i >= 0) {
                m->csv_col_of[m->csv_cols++] = i;
                m->in_csv[i] = true;
            }
        }
        if (m->csv_cols == 0)
            m->csv_cols = -1; /* a header without metrics: write no more rows */
    }
    fclose(f);
}

cnas_metrics *cnas_metrics_open(const char *dir, const char *prefix, cnas_error *err)
{
    cnas_metrics *m = calloc(1, sizeof *m);
    char path[4096];
    if (!m) {
        cnas_error_set(err, CNAS_ERR_NOMEM, "metrics: out of memory");
        return NULL;
    }
    snprintf(m->prefix, sizeof m->prefix, "%s", prefix);
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, prefix);
    m->jsonl = fopen(path, "a");
    if (m->jsonl) {
        snprintf(path, sizeof path, "%s/%s.csv", dir, prefix);
        struct stat st;
        int existed = stat(path, &st) == 0 && st.st_size > 0;
        if (existed)
            read_header(m, path);
        m->csv = fopen(path, "a");
    }
    if (!m->jsonl || !m->csv) {
        cnas_error_set(err, CNAS_ERR_IO, "metrics: cannot open %s: %s", path, strerror(errno));
        cnas_metrics_close(m);
        return NULL;
    }
    for (int i = 0; i < MAX_METRICS; i++)
        m->last[i] = NAN;
    return m;
}

void cnas_metrics_close(cnas_metrics *m)
{
    if (!m)
        return;
    if (m->jsonl)
        fclose(m->jsonl);
    if (m->csv)
        fclose(m->csv);
    free(m);
}

static int slot(cnas_metrics *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->names[i], name) == 0)
            return i;
    if (m->n == MAX_METRICS)
        return -1;
    snprintf(m->names[m->n], sizeof m->names[0], "%s", name);
    return m->n++;
}

void cnas_metrics_set(cnas_metrics *m, const char *name, double value)
{
    int i = slot(m, name);
    if (i < 0) {
        if (!m->warned_full)
            cnas_log(1, "metrics: more than %d names in %s; '%s' and later new names are not "
                     "recorded", MAX_METRICS, m->prefix, name);
        m->warned_full = true;
        return;
    }
    m->values[i] = value;
    m->last[i] = value;
    m->set[i] = 1;
}

void cnas_metrics_clear(cnas_metrics *m)
{
    memset(m->set, 0, sizeof m->set);
}

double cnas_metrics_last(const cnas_metrics *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->names[i], name) == 0)
            return m->last[i];
    return NAN;
}

static void put_number(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.9g", v);
    else
        fprintf(f, "null");
}

cnas_status cnas_metrics_write(cnas_metrics *m, int64_t epoch, int64_t step, cnas_error *err)
{
    fprintf(m->jsonl, "{\"epoch\": %lld, \"step\": %lld", (long long)epoch, (long long)step);
    for (int i = 0; i < m->n; i++)
        if (m->set[i]) {
            fprintf(m->jsonl, ", \"%s\": ", m->names[i]);
            put_number(m->jsonl, m->values[i]);
        }
    fprintf(m->jsonl, "}\n");
    /* The header comes with the first record that has a value (no columns, no file). */
    bool any = false;
    for (int i = 0; i < m->n && !any; i++)
        any = m->set[i];
    if (m->csv_cols == 0 && any) {
        fprintf(m->csv, "epoch,step");
        for (int i = 0; i < m->n; i++)
            if (m->set[i]) {
                fprintf(m->csv, ",%s", m->names[i]);
                m->csv_col_of[m->csv_cols++] = i;
                m->in_csv[i] = true;
            }
        fprintf(m->csv, "\n");
    }
    /* The CSV cannot grow a column; a name first set after its header (or one a resumed
     * run's header lacks) is in the .jsonl only: say so once. A strategy that has no value
     * yet sets NaN (an empty cell) from the first record instead. */
    for (int i = 0; i < m->n; i++)
        if (m->set[i] && !m->in_csv[i] && !m->warned[i]) {
            m->warned[i] = true;
            cnas_log(1, "metrics: '%s' was first set after the columns of %s.csv were fixed; "
                     "it is written to %s.jsonl only", m->names[i], m->prefix, m->prefix);
        }
    if (m->csv_cols > 0) {
        fprintf(m->csv, "%lld,%lld", (long long)epoch, (long long)step);
        for (int c = 0; c < m->csv_cols; c++) {
            int i = m->csv_col_of[c];
            fputc(',', m->csv);
            if (m->set[i] && isfinite(m->values[i]))
                fprintf(m->csv, "%.9g", m->values[i]);
        }
        fprintf(m->csv, "\n");
    }
    memset(m->set, 0, sizeof m->set);
    if (fflush(m->jsonl) || fflush(m->csv))
        return cnas_error_set(err, CNAS_ERR_IO, "metrics: write failed: %s", strerror(errno));
    return CNAS_OK;
}
