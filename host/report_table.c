/* cnas report: CSV and TSV tables read whole and tolerantly (a file still being
 * written may end in a cut line, which is dropped; short rows are padded). */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int rp_split(char *line, char sep, char **field, int max)
{
    int n = 0;
    char *r = line, *w = line;
    while (n < max) {
        field[n++] = w;
        if (sep == ',' && *r == '"') {
            r++;
            while (*r && !(*r == '"' && r[1] != '"')) {
                if (*r == '"')
                    r++;
                *w++ = *r++;
            }
            if (*r == '"')
                r++;
        }
        while (*r && *r != sep)
            *w++ = *r++;
        bool more = *r == sep;
        *w++ = '\0';
        if (!more)
            break;
        r++;
    }
    return n;
}

void rp_table_free(rp_table *t)
{
    if (!t)
        return;
    for (int c = 0; t->head && c < t->ncol; c++)
        free(t->head[c]);
    free(t->head);
    for (int r = 0; t->cell && r < t->nrow; r++) {
        for (int c = 0; c < t->ncol; c++)
            free(t->cell[r][c]);
        free(t->cell[r]);
    }
    free(t->cell);
    free(t);
}

enum { MAX_FIELDS = 512 };

rp_table *rp_table_read(const char *path, char sep)
{
    char *text = rp_slurp(path, NULL, true);
    if (!text)
        return NULL;
    rp_table *t = calloc(1, sizeof *t);
    char **field = malloc(MAX_FIELDS * sizeof *field);
    int cap = 0;
    bool ok = t && field;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); ok && line; line = strtok_r(NULL, "\n", &save)) {
        size_t len = strlen(line);
        while (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len == 0)
            continue;
        int nf = rp_split(line, sep, field, MAX_FIELDS);
        if (!t->head) {
            t->ncol = nf;
            if (!(t->head = calloc((size_t)nf, sizeof *t->head))) {
                ok = false;
                break;
            }
            for (int c = 0; c < nf; c++)
                ok = ok && (t->head[c] = strdup(field[c]));
            continue;
        }
        if (t->nrow == cap) {
            cap = cap ? 2 * cap : 64;
            char ***rows = realloc(t->cell, (size_t)cap * sizeof *rows);
            if (!rows) {
                ok = false;
                break;
            }
            t->cell = rows;
        }
        char **row = calloc((size_t)t->ncol, sizeof *row);
        if (!row) {
            ok = false;
            break;
        }
        t->cell[t->nrow++] = row;
        for (int c = 0; c < t->ncol; c++)
            ok = ok && (row[c] = strdup(c < nf ? field[c] : ""));
    }
    free(field);
    free(text);
    if (!ok || !t->head) {
        rp_table_free(t);
        return NULL;
    }
    return t;
}

int rp_table_col(const rp_table *t, const char *name)
{
    for (int c = 0; t && c < t->ncol; c++)
        if (strcmp(t->head[c], name) == 0)
            return c;
    return -1;
}

double *rp_table_nums(const rp_table *t, int col)
{
    double *v = malloc((size_t)(t->nrow + 1) * sizeof *v);
    for (int r = 0; v && r < t->nrow; r++)
        if (col < 0 || col >= t->ncol || !rp_parse_num(t->cell[r][col], &v[r]))
            v[r] = NAN;
    return v;
}

bool rp_table_numeric(const rp_table *t, int col)
{
    bool any = false;
    for (int r = 0; r < t->nrow; r++) {
        const char *s = t->cell[r][col];
        double v;
        if (rp_parse_num(s, &v))
            any = true;
        else if (*s && strcasecmp(s, "nan") != 0 && strcasecmp(s, "null") != 0 &&
                 strcasecmp(s, "inf") != 0 && strcasecmp(s, "-inf") != 0)
            return false;
    }
    return any;
}
