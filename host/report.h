/* cnas report: the pieces of the HTML run report (cmd_report.c) — tolerant readers of
 * the run directory's tables and JSON lines, HTML escaping, and SVG charts drawn as
 * inline markup. Every reader accepts partly written files: a truncated last line is
 * dropped, a missing cell or a non-number is NaN. */
#ifndef CNAS_HOST_REPORT_H
#define CNAS_HOST_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* ---- text and HTML (report_html.c) ----------------------------------------------------- */

/* The whole file, NUL-terminated (*len without it); NULL when unreadable. A last line
 * without its newline (a file still being written) is cut when drop_partial. */
char *rp_slurp(const char *path, size_t *len, bool drop_partial);
/* HTML text: & < > " ' escaped, control characters other than tab and newline dropped,
 * invalid UTF-8 bytes replaced. n < 0: up to the NUL. */
void rp_esc(FILE *f, const char *s, long n);
/* A number as the report shows it: %g with `digits` significant digits, "–" for NaN. */
void rp_num(FILE *f, double v, int digits);
/* Parses the whole of s as a finite number; false for anything else. */
bool rp_parse_num(const char *s, double *v);

/* ---- tables: CSV (quotes understood) or TSV (report_table.c) ------------------------------- */

typedef struct rp_table {
    int ncol, nrow;
    char **head;   /* ncol names */
    char ***cell;  /* nrow rows of ncol fields ("" where a row was short) */
} rp_table;

/* NULL when the file is missing, unreadable or has no header line. */
/* Splits one line in place at sep; for ',' quoted fields and doubled quotes are
 * understood. Returns the field count (at most max). Also cnas correlate's reader. */
int rp_split(char *line, char sep, char **field, int max);
rp_table *rp_table_read(const char *path, char sep);
void rp_table_free(rp_table *t);
int rp_table_col(const rp_table *t, const char *name);
/* The column as numbers (NaN where not one); caller frees. */
double *rp_table_nums(const rp_table *t, int col);
/* Whether at least one cell of the column is a number and none is text other than
 * "", nan, null. */
bool rp_table_numeric(const rp_table *t, int col);

/* ---- JSON (report_json.c): a small DOM for the run directory's JSON and JSON lines ----------- */

typedef enum { RJ_NULL, RJ_BOOL, RJ_NUM, RJ_STR, RJ_ARR, RJ_OBJ } rj_type;

typedef struct rj {
    rj_type type;
    double num;         /* RJ_NUM, RJ_BOOL (0/1) */
    char *str;          /* RJ_STR */
    int n;              /* RJ_ARR, RJ_OBJ: members */
    struct rj **items;  /* values */
    char **keys;        /* RJ_OBJ: names */
} rj;

/* NULL on a syntax error (e.g. a line cut short). */
rj *rj_parse(const char *text);
void rj_free(rj *v);
const rj *rj_get(const rj *obj, const char *key);
double rj_num(const rj *v);                 /* NaN unless a number */
const char *rj_str(const rj *v);            /* NULL unless a string */
/* A matrix of numbers (array of equally long arrays of numbers or nulls): rows x cols
 * into a new array (caller frees), or NULL. */
double *rj_matrix(const rj *v, int *rows, int *cols);
/* Each well-formed line of a JSON-lines file; NULL when none. */
typedef struct rj_lines {
    int n;
    rj **line;
} rj_lines;
rj_lines *rj_lines_read(const char *path);
void rj_lines_free(rj_lines *l);

/* ---- SVG charts (report_svg.c) --------------------------------------------------------- */

typedef struct rp_series {
    const char *name;
    const double *x, *y;
    int n;
} rp_series;

typedef struct rp_chart {
    const char *title, *xlabel, *ylabel;
    int width, height;
    const double *vlines; /* faint vertical lines (e.g. epoch boundaries) */
    int n_vlines;
    bool integer_x;       /* ticks on whole numbers only */
    double x_from, x_to;  /* the x axis spans at least this (NaN: the data's range) */
} rp_chart;

/* A line chart; returns false (and writes nothing) when no series has a finite point. */
bool rp_line_chart(FILE *f, const rp_chart *c, const rp_series *s, int ns);
/* A scatter plot of (x, y); mark[i] highlights point i (drawn on top, joined by a
 * step line in x order: a Pareto front). labels[i] (may be NULL) are tooltips. */
bool rp_scatter(FILE *f, const rp_chart *c, const double *x, const double *y, const bool *mark,
                const char *const *labels, int n, const char *mark_name);
/* A heatmap of rows x cols values with labels (NULL: indices); the largest value of
 * every row is outlined when mark_row_max. */
void rp_heatmap(FILE *f, const char *title, const double *v, int rows, int cols,
                const char *const *row_labels, const char *const *col_labels, bool mark_row_max);
/* Per row and epoch the candidate of largest weight, coloured by candidate, fainter
 * the less certain. w holds n_epochs matrices of rows x cols. */
void rp_argmax_strip(FILE *f, const char *title, const double *w, const double *epochs,
                     int n_epochs, int rows, int cols, const char *const *row_labels,
                     const char *const *col_labels);
/* The colour of series / candidate i. */
const char *rp_color(int i);

#endif
