/* cnas correlate A.csv[:COLUMN] B.csv[:COLUMN]: how well two rankings of the same
 * architectures agree (Kendall tau-b, Spearman rho), e.g. a search's supernet
 * estimates (ranking.csv) against stand-alone training (standalone.csv). Rows are
 * matched by the architecture column (--key, default "arch"); the value column
 * defaults to the first of test_acc, val_acc, accuracy, acc, score. */
#include "host.h"
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const DEFAULT_VALUES[] = {"test_acc", "val_acc", "accuracy", "acc", "score"};

typedef struct table {
    char path[4096], column[128];
    int64_t n;
    char **keys;
    double *values;
} table;

static void table_free(table *t)
{
    for (int64_t i = 0; i < t->n; i++)
        free(t->keys[i]);
    free(t->keys);
    free(t->values);
}

static cnas_status load_table(const char *spec, const char *key, table *t, cnas_error *err)
{
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", spec);
    char *colon = strrchr(t->path, ':');
    if (colon && !strchr(colon, '/')) {
        *colon = '\0';
        snprintf(t->column, sizeof t->column, "%s", colon + 1);
    }
    FILE *f = fopen(t->path, "r");
    if (!f)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot read %s: %s", t->path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    enum { MAXF = 256 };
    char *field[MAXF];
    int key_col = -1, val_col = -1;
    int64_t cap_rows = 0, lineno = 0;
    cnas_status st = CNAS_OK;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        int nf = rp_split(line, ',', field, MAXF);
        if (lineno == 1) {
            for (int i = 0; i < nf; i++)
                if (strcmp(field[i], key) == 0)
                    key_col = i;
            for (size_t d = 0; !*t->column && d < sizeof DEFAULT_VALUES / sizeof *DEFAULT_VALUES; d++)
                for (int i = 0; i < nf; i++)
                    if (strcmp(field[i], DEFAULT_VALUES[d]) == 0) {
                        snprintf(t->column, sizeof t->column, "%s", field[i]);
                        break;
                    }
            for (int i = 0; i < nf; i++)
                if (strcmp(field[i], t->column) == 0)
                    val_col = i;
            if (key_col < 0) {
                st = cnas_error_set(err, CNAS_ERR_INVALID, "%s: no column '%s' in the header line "
                                    "(use --key COLUMN)", t->path, key);
                break;
            }
            if (val_col < 0) {
                st = cnas_error_set(err, CNAS_ERR_INVALID, "%s: no column '%s' in the header line "
                                    "(name one: %s:COLUMN)", t->path,
                                    *t->column ? t->column : "test_acc / val_acc / accuracy / "
                                                             "acc / score", t->path);
                break;
            }
            continue;
        }
        if (nf <= key_col || nf <= val_col) {
            st = cnas_error_set(err, CNAS_ERR_INVALID, "%s line %lld: %d fields, expected at least "
                                "%d", t->path, (long long)lineno, nf,
                                (key_col > val_col ? key_col : val_col) + 1);
            break;
        }
        char *end;
        double v = strtod(field[val_col], &end);
        if (end == field[val_col] || *end || !isfinite(v)) {
            st = cnas_error_set(err, CNAS_ERR_INVALID, "%s line %lld column '%s': '%s' is not a "
                                "number", t->path, (long long)lineno, t->column, field[val_col]);
            break;
        }
        for (int64_t i = 0; i < t->n; i++)
            if (strcmp(t->keys[i], field[key_col]) == 0) {
                st = cnas_error_set(err, CNAS_ERR_INVALID, "%s line %lld: architecture '%s' appears "
                                    "twice", t->path, (long long)lineno, field[key_col]);
                break;
            }
        if (st)
            break;
        if (t->n == cap_rows) {
            cap_rows = cap_rows ? 2 * cap_rows : 64;
            char **k = realloc(t->keys, (size_t)cap_rows * sizeof *k);
            double *vv = k ? realloc(t->values, (size_t)cap_rows * sizeof *vv) : NULL;
            if (k)
                t->keys = k;
            if (vv)
                t->values = vv;
            if (!k || !vv) {
                st = cnas_error_set(err, CNAS_ERR_NOMEM, "out of memory");
                break;
            }
        }
        if (!(t->keys[t->n] = strdup(field[key_col]))) {
            st = cnas_error_set(err, CNAS_ERR_NOMEM, "out of memory");
            break;
        }
        t->values[t->n++] = v;
    }
    free(line);
    fclose(f);
    if (!st && key_col < 0)
        st = cnas_error_set(err, CNAS_ERR_INVALID, "%s: empty (expected a CSV header line)", t->path);
    if (st)
        table_free(t);
    return st;
}

static int64_t argmax(const double *v, int64_t n)
{
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

int cmd_correlate(const host_options *o)
{
    cnas_error err = {0};
    const char *key = o->key ? o->key : "arch";
    table a, b;
    cnas_status st = load_table(o->args[0], key, &a, &err);
    if (!st && (st = load_table(o->args[1], key, &b, &err)))
        table_free(&a);
    if (st) {
        host_print_error("correlate", &err);
        return EXIT_USAGE;
    }
    double *x = malloc((size_t)(a.n + 1) * sizeof *x), *y = malloc((size_t)(a.n + 1) * sizeof *y);
    int64_t m = 0;
    for (int64_t i = 0; x && y && i < a.n; i++)
        for (int64_t j = 0; j < b.n; j++)
            if (strcmp(a.keys[i], b.keys[j]) == 0) {
                x[m] = a.values[i];
                y[m++] = b.values[j];
                break;
            }
    int code = EXIT_OK;
    if (!x || !y) {
        fprintf(stderr, "cnas correlate: out of memory\n");
        code = EXIT_RUN_FAILED;
    } else if (m < 2) {
        fprintf(stderr, "cnas correlate: %s and %s share %lld architectures by column '%s'; at least "
                "2 are needed\n", a.path, b.path, (long long)m, key);
        code = EXIT_USAGE;
    } else {
        printf("A: %s, column %s (%lld rows)\n", a.path, a.column, (long long)a.n);
        printf("B: %s, column %s (%lld rows)\n", b.path, b.column, (long long)b.n);
        printf("matched: %lld architectures by '%s'\n", (long long)m, key);
        printf("Kendall tau: %.4f\n", cnas_kendall_tau(x, y, m));
        printf("Spearman rho: %.4f\n", cnas_spearman_rho(x, y, m));
        /* where A's best lands in B's order (1 = B's best too) */
        int64_t top = argmax(x, m), rank = 1;
        for (int64_t i = 0; i < m; i++)
            rank += y[i] > y[top];
        printf("A's best is B's number %lld of %lld (B value %.4f; B's best %.4f)\n", (long long)rank,
               (long long)m, y[top], y[argmax(y, m)]);
    }
    free(x);
    free(y);
    table_free(&a);
    table_free(&b);
    return code;
}
