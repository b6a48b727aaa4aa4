/* cnas report RUN_DIR [-o FILE] [--standalone FILE]: one self-contained HTML page that
 * shows a run at a glance — configuration and manifest, metric curves per step and per
 * epoch, the architecture-weight history, the balanced mixture's p(m|a), the ranking,
 * a Pareto front, the correlation with stand-alone training, the cell drawings and the
 * answer. No scripts, no external resources: charts are inline SVG. A run still in
 * progress (files partly written, no arch.txt yet, only a checkpoint) gives a report of
 * what exists; a missing or unreadable file just leaves its section out. */
#include "host.h"
#include "report.h"

#include <cnas/checkpoint.h>
#include <cnas/rankcorr.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

typedef struct report {
    const char *dir;
    FILE *f;                  /* the body, gathered before the navigation is known */
    char nav_id[24][24], nav_title[24][48];
    int n_nav;
    char *config;             /* config.ini, or the configuration a checkpoint records */
    bool config_from_ckpt;
    rj *manifest;
    char *command;
    char *arch;
    rp_table *steps, *epochs, *ranking;
    bool have_ckpt;
    int64_t ck_epoch, ck_step, ck_steps_done;
} report;

static void path_of(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static bool exists(const char *dir, const char *name)
{
    char p[4200];
    struct stat st;
    path_of(p, sizeof p, dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- the configuration ------------------------------------------------------------------- */

/* [section] key of INI text, without an inline comment; false when absent. */
static bool ini_get(const char *text, const char *section, const char *key, char *out, size_t n)
{
    bool in = false;
    size_t klen = strlen(key);
    for (const char *p = text; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        if (len && *p == '[') {
            const char *close = memchr(p, ']', len);
            in = close && (size_t)(close - p - 1) == strlen(section) &&
                 strncmp(p + 1, section, strlen(section)) == 0;
        } else if (in && len > klen && strncmp(p, key, klen) == 0 &&
                   (p[klen] == ' ' || p[klen] == '=' || p[klen] == '\t')) {
            const char *v = p + klen;
            while (*v == ' ' || *v == '\t')
                v++;
            if (*v == '=') {
                v++;
                while (*v == ' ' || *v == '\t')
                    v++;
                size_t m = len - (size_t)(v - p);
                for (size_t i = 0; i < m; i++)
                    if ((v[i] == ';' || v[i] == '#') && (i == 0 || v[i - 1] == ' ' || v[i - 1] == '\t')) {
                        m = i;
                        break;
                    }
                while (m && (v[m - 1] == ' ' || v[m - 1] == '\t' || v[m - 1] == '\r'))
                    m--;
                snprintf(out, n, "%.*s", (int)m, v);
                return true;
            }
        }
        p = e ? e + 1 : NULL;
    }
    return false;
}

static const char *cfg(const report *r, const char *section, const char *key, char *buf, size_t n)
{
    if (r->config && ini_get(r->config, section, key, buf, n) && *buf)
        return buf;
    return NULL;
}

/* ---- page structure ----------------------------------------------------------------------- */

static void section_open(report *r, const char *id, const char *title)
{
    if (r->n_nav < 24) {
        snprintf(r->nav_id[r->n_nav], sizeof r->nav_id[0], "%s", id);
        snprintf(r->nav_title[r->n_nav], sizeof r->nav_title[0], "%s", title);
        r->n_nav++;
    }
    fprintf(r->f, "<section id=\"%s\">\n<h2>", id);
    rp_esc(r->f, title, -1);
    fputs("</h2>\n", r->f);
}

static void section_close(report *r) { fputs("</section>\n", r->f); }

static void source_note(FILE *f, const char *files)
{
    fputs("<p class=\"src\">from ", f);
    rp_esc(f, files, -1);
    fputs("</p>\n", f);
}

static void kv_row(FILE *f, const char *k, const char *v)
{
    if (!v || !*v)
        return;
    fputs("<tr><th>", f);
    rp_esc(f, k, -1);
    fputs("</th><td>", f);
    rp_esc(f, v, -1);
    fputs("</td></tr>\n", f);
}

/* A table file as an HTML table (at most max_rows rows); numbers right-aligned, the
 * architecture column allowed to wrap. */
static void html_table(FILE *f, const rp_table *t, const char *id, int max_rows)
{
    bool *num = calloc((size_t)t->ncol + 1, sizeof *num);
    for (int c = 0; num && c < t->ncol; c++)
        num[c] = rp_table_numeric(t, c);
    fprintf(f, "<div class=\"tablewrap\"><table class=\"data\" id=\"%s\">\n<thead><tr>", id);
    for (int c = 0; c < t->ncol; c++) {
        fputs(num && num[c] ? "<th class=\"n\">" : "<th>", f);
        rp_esc(f, t->head[c], -1);
        fputs("</th>", f);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
    for (int i = 0; i < t->nrow && i < max_rows; i++) {
        fputs("<tr>", f);
        for (int c = 0; c < t->ncol; c++) {
            bool arch = strcmp(t->head[c], "arch") == 0;
            fputs(num && num[c] ? "<td class=\"n\">" : arch ? "<td class=\"arch\">" : "<td>", f);
            rp_esc(f, t->cell[i][c], -1);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table></div>\n", f);
    if (t->nrow > max_rows)
        fprintf(f, "<p class=\"src\">%d more rows in the file</p>\n", t->nrow - max_rows);
    free(num);
}

/* ---- overview and answer ------------------------------------------------------------------ */

static double last_epoch_seen(const report *r)
{
    double e = NAN;
    const rp_table *ts[2] = {r->steps, r->epochs};
    for (int k = 0; k < 2; k++) {
        if (!ts[k])
            continue;
        int c = rp_table_col(ts[k], "epoch");
        for (int i = 0; c >= 0 && i < ts[k]->nrow; i++) {
            double v;
            if (rp_parse_num(ts[k]->cell[i][c], &v) && !(v <= e))
                e = v;
        }
    }
    return e;
}

static void progress_text(const report *r, FILE *f)
{
    char buf[64];
    const char *epochs = cfg(r, "train", "epochs", buf, sizeof buf);
    double e = last_epoch_seen(r);
    bool training = r->command && strncmp(r->command, "train", 5) == 0;
    fprintf(f, "<p class=\"progress\" id=\"in-progress\"><strong>%s in progress</strong> (or stopped: "
            "<code>cnas resume</code> continues it); no arch.txt yet. ",
            training ? "Training" : "Search");
    if (isfinite(e)) {
        fputs("Last epoch reached: ", f);
        rp_num(f, e, 10);
        fputs(" (counting from 0", f);
        if (epochs) {
            fputs(", of ", f);
            rp_esc(f, epochs, -1);
            fputs(" epochs", f);
        }
        fputs(").", f);
    }
    if (r->have_ckpt)
        fprintf(f, " The checkpoint is at epoch %lld, step %lld (%lld steps done).",
                (long long)r->ck_epoch, (long long)r->ck_step, (long long)r->ck_steps_done);
    if (!isfinite(e) && !r->have_ckpt)
        fputs("No epoch has been recorded yet.", f);
    fputs("</p>\n", f);
}

static void overview(report *r)
{
    FILE *f = r->f;
    char a[512], b[512];
    section_open(r, "overview", "Overview");
    fputs("<table class=\"kv\">\n", f);
    kv_row(f, "run directory", r->dir);
    kv_row(f, "status", r->arch ? "finished (arch.txt written)" : "in progress");
    char cmd[1200] = "";
    if (r->command)
        snprintf(cmd, sizeof cmd, "cnas %s", r->command);
    const char *config_path = rj_str(rj_get(r->manifest, "config"));
    if (*cmd && config_path)
        snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " %s", config_path);
    kv_row(f, "command", cmd);
    const char *keys[][3] = {{"strategy", "strategy", "use"}, {"space", "space", "use"},
                             {"dataset", "dataset", "use"}, {"epochs", "train", "epochs"},
                             {"batch size", "train", "batch_size"}};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        kv_row(f, keys[i][0], cfg(r, keys[i][1], keys[i][2], a, sizeof a));
    if (r->manifest) {
        double seed = rj_num(rj_get(r->manifest, "seed")), th = rj_num(rj_get(r->manifest, "threads"));
        if (isfinite(seed)) {
            snprintf(a, sizeof a, "%.0f", seed);
            kv_row(f, "seed", a);
        }
        if (isfinite(th)) {
            snprintf(a, sizeof a, "%.0f", th);
            kv_row(f, "threads", a);
        }
        kv_row(f, "BLAS core", rj_str(rj_get(r->manifest, "blas_core")));
        const char *v = rj_str(rj_get(r->manifest, "cnas"));
        const char *abi = rj_str(rj_get(r->manifest, "plugin_abi"));
        if (v) {
            snprintf(a, sizeof a, "%s%s%s%s", v, abi ? " (plugin ABI " : "", abi ? abi : "", abi ? ")" : "");
            kv_row(f, "cnas", a);
        }
        kv_row(f, "started", rj_str(rj_get(r->manifest, "started")));
        kv_row(f, "host", rj_str(rj_get(r->manifest, "hostname")));
    } else {
        kv_row(f, "seed", cfg(r, "run", "seed", a, sizeof a));
        kv_row(f, "threads", cfg(r, "run", "threads", a, sizeof a));
    }
    if (r->ranking && r->ranking->nrow > 0) {
        const char *names[] = {"score", "accuracy", "flops", "params"};
        size_t o = 0;
        b[0] = '\0';
        for (int k = 0; k < 4; k++) {
            int c = rp_table_col(r->ranking, names[k]);
            double v;
            if (c >= 0 && rp_parse_num(r->ranking->cell[0][c], &v) && !(v < 0 && k >= 2) && o < sizeof b)
                o += (size_t)snprintf(b + o, sizeof b - o, "%s%s %.6g", o ? ", " : "", names[k], v);
        }
        kv_row(f, "best", b);
    }
    fputs("</table>\n", f);
    section_close(r);
}

static void answer(report *r)
{
    FILE *f = r->f;
    section_open(r, "architecture", r->arch ? "Final architecture" : "Architecture");
    if (r->arch) {
        fputs("<pre class=\"archtext\" id=\"arch-text\">", f);
        rp_esc(f, r->arch, -1);
        fputs("</pre>\n", f);
        source_note(f, "arch.txt");
    } else {
        progress_text(r, f);
    }
    section_close(r);
}

/* ---- drawings ---------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An SVG file's text and its <svg>...</svg> span; NULL when the file holds no complete
 * drawing (yet). */
static char *read_svg(const char *path, char **start, char **end)
{
    char *text = rp_slurp(path, NULL, false);
    *start = text ? strstr(text, "<svg") : NULL;
    *end = NULL;
    for (char *p = *start; p && (p = strstr(p, "</svg>")); p += 6)
        *end = p + 6;
    if (!*start || !*end) {
        free(text);
        return NULL;
    }
    return text;
}

/* The drawing inlined: what precedes <svg (XML prolog, DOCTYPE, comments) is left out,
 * <script> elements and processing instructions removed, event handler attributes
 * disarmed and ids prefixed so that several drawings do not collide. */
static void emit_svg(FILE *f, const char *start, const char *end, int serial)
{
    for (const char *p = start; p < end;) {
        if (strncasecmp(p, "<script", 7) == 0) {
            const char *close = strstr(p, "</script>");
            p = close && close < end ? close + 9 : end;
            continue;
        }
        if (strncasecmp(p, "<!DOCTYPE", 9) == 0 || strncmp(p, "<?", 2) == 0) {
            const char *close = strchr(p, '>');
            p = close && close < end ? close + 1 : end;
            continue;
        }
        if (strncmp(p, " id=\"", 5) == 0) {
            fprintf(f, " id=\"d%d-", serial);
            p += 5;
            continue;
        }
        if (strncasecmp(p, " on", 3) == 0 && p[3] >= 'a' && p[3] <= 'z') {
            fputs(" data-", f); /* an event handler attribute, kept as inert data */
            p += 1;
            continue;
        }
        fputc(*p++, f);
    }
    fputc('\n', f);
}

/* A figure of the drawing in file `name`; false when it is not complete. */
static bool figure(FILE *f, const char *dir, const char *name, const char *id, int serial)
{
    char p[4200], *start, *end;
    path_of(p, sizeof p, dir, name);
    char *text = read_svg(p, &start, &end);
    if (!text)
        return false;
    fputs("<figure class=\"drawing\"", f);
    if (id)
        fprintf(f, " id=\"%s\"", id);
    fputs(">\n", f);
    emit_svg(f, start, end, serial);
    fputs("<figcaption>", f);
    rp_esc(f, name, -1);
    fputs("</figcaption></figure>\n", f);
    free(text);
    return true;
}

static void drawings(report *r)
{
    DIR *d = opendir(r->dir);
    if (!d)
        return;
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 4 && e->d_name[0] != '.' && strcasecmp(e->d_name + len - 4, ".svg") == 0 &&
            strcmp(e->d_name, "pma.svg") != 0 && exists(r->dir, e->d_name))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (names[i])
            names[kept++] = names[i];
    n = kept;
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    if (n > 0) {
        section_open(r, "drawings", "Drawings");
        fputs("<div class=\"figs\">\n", r->f);
        int shown = 0;
        for (int i = 0; i < n; i++)
            shown += figure(r->f, r->dir, names[i], NULL, i);
        fputs("</div>\n", r->f);
        if (!shown)
            fputs("<p>No drawing is complete yet.</p>\n", r->f);
        section_close(r);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
}

/* ---- curves ------------------------------------------------------------------------------ */

static const char *const PREFERRED[] = {"train_loss", "val_loss", "arch_loss", "train_acc",
                                        "val_acc", "arch_acc", "val_batch_acc", "chosen_val_acc",
                                        "lr"};

/* Columns to plot: numeric, not the x axes, the well-known ones first. */
static int plot_columns(const rp_table *t, int *cols)
{
    int n = 0;
    bool *used = calloc((size_t)t->ncol + 1, sizeof *used);
    if (!used)
        return 0;
    for (size_t k = 0; k < sizeof PREFERRED / sizeof *PREFERRED; k++) {
        int c = rp_table_col(t, PREFERRED[k]);
        if (c >= 0 && !used[c] && rp_table_numeric(t, c)) {
            cols[n++] = c;
            used[c] = true;
        }
    }
    for (int c = 0; c < t->ncol; c++)
        if (!used[c] && strcmp(t->head[c], "epoch") != 0 && strcmp(t->head[c], "step") != 0 &&
            rp_table_numeric(t, c))
            cols[n++] = c;
    free(used);
    return n;
}

/* The last epoch the configuration plans (counting from 0); NaN when unknown. */
static double planned_last_epoch(const report *r)
{
    char buf[64];
    double e;
    const char *v = cfg(r, "train", "epochs", buf, sizeof buf);
    return v && rp_parse_num(v, &e) && e >= 1 && e < 1e6 ? e - 1 : NAN;
}

static int curves_of(report *r, const rp_table *t, bool per_step, const char *id)
{
    FILE *f = r->f;
    int *cols = malloc((size_t)(t->ncol + 1) * sizeof *cols);
    double *x = malloc((size_t)(t->nrow + 1) * sizeof *x);
    double *vl = malloc((size_t)(t->nrow + 1) * sizeof *vl);
    int drawn = 0;
    if (!cols || !x || !vl)
        goto out;
    int n = plot_columns(t, cols), nv = 0;
    double *ep = rp_table_nums(t, rp_table_col(t, "epoch"));
    for (int i = 0; i < t->nrow; i++) {
        if (per_step) {
            x[i] = i + 1;
            if (ep && i > 0 && isfinite(ep[i]) && isfinite(ep[i - 1]) && ep[i] != ep[i - 1])
                vl[nv++] = i + 0.5;
        } else {
            x[i] = ep && isfinite(ep[i]) ? ep[i] : i;
        }
    }
    free(ep);
    fprintf(f, "<div class=\"charts\" id=\"%s\">\n", id);
    for (int k = 0; k < n; k++) {
        double *y = rp_table_nums(t, cols[k]);
        if (!y)
            continue;
        rp_series s = {t->head[cols[k]], x, y, t->nrow};
        rp_chart c = {t->head[cols[k]], per_step ? "step (all epochs; lines: epoch ends)" : "epoch",
                      NULL, 340, 210, per_step ? vl : NULL, per_step ? nv : 0, true,
                      per_step ? NAN : 0, per_step ? NAN : planned_last_epoch(r)};
        drawn += rp_line_chart(f, &c, &s, 1);
        free(y);
    }
    fputs("</div>\n", f);
out:
    free(cols);
    free(x);
    free(vl);
    return drawn;
}

static void curves(report *r)
{
    bool e = r->epochs && r->epochs->nrow > 0, s = r->steps && r->steps->nrow > 0;
    if (!e && !s && !r->epochs && !r->steps)
        return;
    section_open(r, "curves", "Training curves");
    if (e) {
        fputs("<h3>Per epoch</h3>\n", r->f);
        curves_of(r, r->epochs, false, "curves-epochs");
        source_note(r->f, "epochs.csv");
    }
    if (s) {
        fprintf(r->f, "<h3>Per step</h3>\n");
        curves_of(r, r->steps, true, "curves-steps");
        source_note(r->f, "steps.csv");
    }
    if (!e && !s)
        fputs("<p>No metrics recorded yet.</p>\n", r->f);
    section_close(r);
}

/* ---- architecture weights ------------------------------------------------------------------ */

/* Candidate names from the configuration ([space] candidates), when their number fits. */
static char **candidate_names(const report *r, int cols)
{
    char buf[4096];
    if (!cfg(r, "space", "candidates", buf, sizeof buf))
        return NULL;
    char **names = calloc((size_t)cols, sizeof *names);
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); names && t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t len = strlen(t);
        while (len && t[len - 1] == ' ')
            t[--len] = '\0';
        if (n < cols)
            names[n] = strdup(t);
        n++;
    }
    if (names && n != cols) {
        for (int i = 0; i < cols && i < n; i++)
            free(names[i]);
        free(names);
        names = NULL;
    }
    return names;
}

/* Row labels: the cell spaces number their edges node by node (darts_cell from node 2,
 * its inputs being 0 and 1; nb201_cell from node 1); other spaces get row numbers. */
static char **row_names(const report *r, int rows)
{
    char buf[128];
    const char *space = cfg(r, "space", "use", buf, sizeof buf);
    int first = !space ? 0 : strcmp(space, "darts_cell") == 0 ? 2 : strcmp(space, "nb201_cell") == 0 ? 1 : 0;
    char **names = calloc((size_t)rows, sizeof *names);
    for (int i = 0, to = first, from = 0; names && i < rows; i++) {
        char t[64];
        if (first) {
            snprintf(t, sizeof t, "%d\xe2\x86\x92%d", from, to); /* from→to */
            if (++from == to) {
                from = 0;
                to++;
            }
        } else {
            snprintf(t, sizeof t, "row %d", i);
        }
        names[i] = strdup(t);
    }
    return names;
}

static void free_names(char **names, int n)
{
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

static void safe_id(char *out, size_t n, const char *prefix, const char *key)
{
    size_t o = (size_t)snprintf(out, n, "%s", prefix);
    for (const char *p = key; *p && o + 1 < n; p++) {
        char c = *p;
        out[o++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : c >= 'A' && c <= 'Z' ? c + 32 : '-';
    }
    out[o < n ? o : n - 1] = '\0';
}

static void alpha_history(report *r)
{
    char p[4200];
    path_of(p, sizeof p, r->dir, "alpha.jsonl");
    rj_lines *l = rj_lines_read(p);
    if (!l)
        return;
    FILE *f = r->f;
    const rj *last = l->line[l->n - 1];
    section_open(r, "alpha", "Architecture weights");
    double ep = rj_num(rj_get(last, "epoch"));
    fputs("<p>Softmax of the architecture weights per choice point group: the last epoch's matrix "
          "(rows: edges, columns: candidates; the largest of every row outlined) and, per epoch, "
          "the leading candidate of every row (fainter: less certain).</p>\n", f);
    int groups = 0;
    for (int g = 0; last->type == RJ_OBJ && g < last->n; g++) {
        int rows, cols;
        double *m = rj_matrix(last->items[g], &rows, &cols);
        if (!m)
            continue;
        groups++;
        const char *key = last->keys[g];
        char **cn = candidate_names(r, cols), **rn = row_names(r, rows);
        char id[80], title[200];
        safe_id(id, sizeof id, "alpha-", key);
        fprintf(f, "<div class=\"group\" id=\"%s\">\n<h3>", id);
        rp_esc(f, key, -1);
        fputs("</h3>\n<div class=\"figs\">\n", f);
        snprintf(title, sizeof title, "%s, epoch %.0f", key, isfinite(ep) ? ep : (double)(l->n - 1));
        rp_heatmap(f, title, m, rows, cols, (const char *const *)rn, (const char *const *)cn, true);
        /* the history: every line whose matrix of this group has the same shape */
        size_t per = (size_t)rows * (size_t)cols;
        double *hist = malloc(per * (size_t)l->n * sizeof *hist);
        double *eps = malloc((size_t)l->n * sizeof *eps);
        int ne = 0;
        for (int i = 0; hist && eps && i < l->n; i++) {
            int rr, cc;
            double *mi = rj_matrix(rj_get(l->line[i], key), &rr, &cc);
            if (mi && rr == rows && cc == cols) {
                memcpy(hist + per * (size_t)ne, mi, per * sizeof *mi);
                double e = rj_num(rj_get(l->line[i], "epoch"));
                eps[ne++] = isfinite(e) ? e : i;
            }
            free(mi);
        }
        if (ne > 0) {
            snprintf(title, sizeof title, "%s: leading candidate per epoch", key);
            rp_argmax_strip(f, title, hist, eps, ne, rows, cols, (const char *const *)rn,
                            (const char *const *)cn);
        }
        fputs("</div>\n</div>\n", f);
        free(hist);
        free(eps);
        free_names(cn, cols);
        free_names(rn, rows);
        free(m);
    }
    if (!groups)
        fputs("<p>No weight matrices in the history yet.</p>\n", f);
    fprintf(f, "<p class=\"src\">from alpha.jsonl (%d epoch%s)</p>\n", l->n, l->n == 1 ? "" : "s");
    section_close(r);
    rj_lines_free(l);
}

/* ---- balanced mixture ---------------------------------------------------------------------- */

static void mixture(report *r)
{
    char p[4200];
    path_of(p, sizeof p, r->dir, "mixture.jsonl");
    rj_lines *l = rj_lines_read(p);
    bool pma = exists(r->dir, "pma.svg");
    path_of(p, sizeof p, r->dir, "ranking.csv");
    rp_table *rk = rp_table_read(p, ',');
    int M = 0; /* supernets: ranking.csv's columns p_m0, p_m1, ... */
    for (char name[32]; rk; M++) {
        snprintf(name, sizeof name, "p_m%d", M);
        if (rp_table_col(rk, name) < 0)
            break;
    }
    if (!l && !pma && !(M > 0 && rk->nrow > 0)) {
        rp_table_free(rk);
        return;
    }
    FILE *f = r->f;
    section_open(r, "mixture", "Supernet assignment p(m|a)");
    fputs("<div class=\"figs\">\n", f);
    char **cn = calloc(64, sizeof *cn);
    for (int c = 0; cn && c < 64; c++) {
        char t[32];
        snprintf(t, sizeof t, "m%d", c);
        cn[c] = strdup(t);
    }
    bool final = false;
    int ca = rp_table_col(rk, "arch"), cr = rp_table_col(rk, "rank"), ci = rp_table_col(rk, "index");
    if (M > 0 && M <= 64 && rk->nrow > 0) {
        /* the final selection, best first, as ranking.csv holds it */
        double *m = malloc((size_t)rk->nrow * (size_t)M * sizeof *m);
        char **rn = calloc((size_t)rk->nrow, sizeof *rn);
        for (int i = 0; m && rn && i < rk->nrow; i++) {
            for (int k = 0; k < M; k++) {
                char name[32];
                snprintf(name, sizeof name, "p_m%d", k);
                if (!rp_parse_num(rk->cell[i][rp_table_col(rk, name)], &m[(size_t)i * (size_t)M + (size_t)k]))
                    m[(size_t)i * (size_t)M + (size_t)k] = NAN;
            }
            double rank;
            char t[600];
            snprintf(t, sizeof t, "%s  #%.0f", ca >= 0 ? rk->cell[i][ca] : "?",
                     cr >= 0 && rp_parse_num(rk->cell[i][cr], &rank) ? rank + 1 : i + 1.0);
            rn[i] = strdup(t);
        }
        if (m && rn) {
            fputs("<div id=\"pma\">\n", f);
            rp_heatmap(f, "p(m|a) of the final selection", m, rk->nrow, M, (const char *const *)rn,
                       (const char *const *)cn, true);
            fputs("</div>\n", f);
            final = true;
        }
        free_names(rn, rk->nrow);
        free(m);
    }
    if (l) {
        /* the assignment of the last epoch of training */
        const rj *last = l->line[l->n - 1];
        int rows, cols;
        double *m = rj_matrix(rj_get(last, "p_m_given_a"), &rows, &cols);
        if (m && cols <= 64) {
            char **rn = calloc((size_t)rows, sizeof *rn);
            for (int i = 0; rk && rn && ci >= 0 && ca >= 0 && i < rk->nrow; i++) {
                double v;
                if (rp_parse_num(rk->cell[i][ci], &v) && v >= 0 && v < rows && !rn[(int)v])
                    rn[(int)v] = strdup(rk->cell[i][ca]);
            }
            char title[128];
            double T = rj_num(rj_get(last, "temperature"));
            snprintf(title, sizeof title, "p(m|a) in training, epoch %.0f", rj_num(rj_get(last, "epoch")));
            if (isfinite(T))
                snprintf(title + strlen(title), sizeof title - strlen(title), ", T = %g", T);
            fprintf(f, "<div id=\"pma-train\">\n");
            rp_heatmap(f, title, m, rows, cols, (const char *const *)rn, (const char *const *)cn, true);
            fputs("</div>\n", f);
            free_names(rn, rows);
        }
        free(m);
    }
    free_names(cn, 64);
    if (l) {
        /* the marginal p(m) per epoch */
        int k = 0;
        for (int i = 0; i < l->n; i++) {
            const rj *mg = rj_get(l->line[i], "marginal");
            if (mg && mg->type == RJ_ARR && mg->n > k)
                k = mg->n;
        }
        if (k > 0 && k <= 64) {
            double *x = malloc((size_t)l->n * sizeof *x), *y = malloc((size_t)l->n * (size_t)k * sizeof *y);
            rp_series s[64];
            char names[64][16];
            for (int i = 0; x && y && i < l->n; i++) {
                double e = rj_num(rj_get(l->line[i], "epoch"));
                x[i] = isfinite(e) ? e : i;
                const rj *mg = rj_get(l->line[i], "marginal");
                for (int m = 0; m < k; m++)
                    y[(size_t)m * (size_t)l->n + (size_t)i] =
                        mg && mg->type == RJ_ARR && m < mg->n ? rj_num(mg->items[m]) : NAN;
            }
            for (int m = 0; x && y && m < k; m++) {
                snprintf(names[m], sizeof names[m], "m%d", m);
                s[m] = (rp_series){names[m], x, y + (size_t)m * (size_t)l->n, l->n};
            }
            rp_chart c = {"marginal p(m) per epoch", "epoch", NULL, 340, 210, NULL, 0, true, 0,
                          planned_last_epoch(r)};
            if (x && y)
                rp_line_chart(f, &c, s, k);
            free(x);
            free(y);
        }
    }
    if (pma && !final)
        figure(f, r->dir, "pma.svg", "pma-svg", 900);
    fputs("</div>\n", f);
    if (pma && final) {
        fputs("<details><summary>pma.svg, the strategy's own drawing of the final selection</summary>\n"
              "<div class=\"figs\">\n", f);
        figure(f, r->dir, "pma.svg", "pma-svg", 900);
        fputs("</div></details>\n", f);
    }
    fputs("<p class=\"src\">rows: configurations (#rank), columns: supernets; from ", f);
    rp_esc(f, final && l ? "ranking.csv, mixture.jsonl" : final ? "ranking.csv" : l ? "mixture.jsonl" : "pma.svg", -1);
    fputs("</p>\n", f);
    section_close(r);
    rj_lines_free(l);
    rp_table_free(rk);
}

/* ---- rankings, Pareto front, stand-alone correlation ---------------------------------------- */

static void rankings(report *r)
{
    static const struct {
        const char *file, *id, *what;
        char sep;
    } files[] = {
        {"ranking.tsv", "ranking-tsv", "the ranking every strategy reports", '\t'},
        {"candidates.csv", "candidates-csv", "SETN's candidates with their log p", ','},
        {"ranking.csv", "ranking-csv", "the balanced mixture's ranking of every configuration", ','},
        {"standalone.csv", "standalone-csv", "stand-alone training", ','},
    };
    bool open = false;
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        char p[4200];
        path_of(p, sizeof p, r->dir, files[k].file);
        rp_table *t = k == 0 ? r->ranking : rp_table_read(p, files[k].sep);
        if (!t)
            continue;
        if (!open)
            section_open(r, "ranking", "Ranking");
        open = true;
        fputs("<h3>", r->f);
        rp_esc(r->f, files[k].file, -1);
        fputs(" <span class=\"what\">", r->f);
        rp_esc(r->f, files[k].what, -1);
        fputs("</span></h3>\n", r->f);
        html_table(r->f, t, files[k].id, k == 0 ? 100 : 50);
        if (k != 0)
            rp_table_free(t);
    }
    if (open)
        section_close(r);
}

static int first_col(const rp_table *t, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        int c = rp_table_col(t, names[i]);
        if (c >= 0)
            return c;
    }
    return -1;
}

static void pareto(report *r)
{
    char p[4200];
    path_of(p, sizeof p, r->dir, "pareto.csv");
    rp_table *t = rp_table_read(p, ',');
    if (!t)
        return;
    FILE *f = r->f;
    section_open(r, "pareto", "Pareto front");
    static const char *const acc_names[] = {"accuracy", "val_acc", "test_acc", "acc", "score"};
    int cf = rp_table_col(t, "flops"), ca = first_col(t, acc_names, 5), cn = rp_table_col(t, "arch");
    if (cf >= 0 && ca >= 0 && t->nrow > 0) {
        double *x = rp_table_nums(t, cf), *y = rp_table_nums(t, ca);
        bool *mark = calloc((size_t)t->nrow + 1, sizeof *mark);
        const char **labels = calloc((size_t)t->nrow + 1, sizeof *labels);
        int front = 0;
        for (int i = 0; x && y && mark && i < t->nrow; i++) {
            if (!isfinite(x[i]) || !isfinite(y[i]))
                continue;
            bool dominated = false;
            for (int j = 0; j < t->nrow && !dominated; j++)
                dominated = j != i && isfinite(x[j]) && isfinite(y[j]) && x[j] <= x[i] &&
                            y[j] >= y[i] && (x[j] < x[i] || y[j] > y[i]);
            mark[i] = !dominated;
            front += mark[i];
        }
        for (int i = 0; labels && cn >= 0 && i < t->nrow; i++)
            labels[i] = t->cell[i][cn];
        char ylabel[64];
        snprintf(ylabel, sizeof ylabel, "%s", t->head[ca]);
        rp_chart c = {"accuracy against FLOPs", "FLOPs", ylabel, 560, 340, NULL, 0, false, NAN, NAN};
        fputs("<div class=\"figs\">\n", f);
        if (x && y && mark && rp_scatter(f, &c, x, y, mark, labels, t->nrow, "not dominated"))
            fprintf(f, "<p class=\"src\">%d of %d architectures are not dominated (no other has "
                    "fewer or as many FLOPs and a higher or equal %s)</p>\n", front, t->nrow,
                    t->head[ca]);
        fputs("</div>\n", f);
        free(x);
        free(y);
        free(mark);
        free(labels);
    } else {
        fputs("<p>pareto.csv has no flops and accuracy columns (or no rows yet).</p>\n", f);
    }
    html_table(f, t, "pareto-csv", 50);
    source_note(f, "pareto.csv");
    section_close(r);
    rp_table_free(t);
}

/* test_per_class.csv (a retraining's test split, per class): where the errors are. */
static void per_class(report *r)
{
    char p[4200];
    path_of(p, sizeof p, r->dir, "test_per_class.csv");
    rp_table *t = rp_table_read(p, ',');
    if (!t)
        return;
    section_open(r, "per-class", "Test accuracy per class");
    int ca = rp_table_col(t, "accuracy"), cn = rp_table_col(t, "name");
    double *a = ca >= 0 ? rp_table_nums(t, ca) : NULL;
    int worst = -1;
    for (int i = 0; a && i < t->nrow; i++)
        if (isfinite(a[i]) && (worst < 0 || a[i] < a[worst]))
            worst = i;
    if (worst >= 0) {
        fputs("<p>Hardest class: ", r->f);
        rp_esc(r->f, cn >= 0 && *t->cell[worst][cn] ? t->cell[worst][cn] : t->cell[worst][0], -1);
        fputs(" (", r->f);
        rp_num(r->f, a[worst], 4);
        fputs(")</p>\n", r->f);
    }
    free(a);
    html_table(r->f, t, "per-class-csv", 1000);
    source_note(r->f, "test_per_class.csv");
    section_close(r);
    rp_table_free(t);
}

/* The supernet's estimate of an architecture: ranking.tsv's score, else the strategy's
 * own table. */
static rp_table *estimates(report *r, int *key, int *val, char *name, size_t n)
{
    static const char *const vals[] = {"score", "val_acc", "accuracy"};
    static const struct {
        const char *file;
        char sep;
    } files[] = {{"ranking.tsv", '\t'}, {"ranking.csv", ','}, {"candidates.csv", ','}};
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        char p[4200];
        path_of(p, sizeof p, r->dir, files[k].file);
        rp_table *t = rp_table_read(p, files[k].sep);
        *key = rp_table_col(t, "arch");
        *val = t ? first_col(t, vals, 3) : -1;
        if (t && *key >= 0 && *val >= 0 && t->nrow > 0) {
            snprintf(name, n, "%s:%s", files[k].file, t->head[*val]);
            return t;
        }
        rp_table_free(t);
    }
    return NULL;
}

static int standalone(report *r, const char *file)
{
    static const char *const vals[] = {"test_acc", "val_acc", "accuracy", "acc", "score"};
    rp_table *b = rp_table_read(file, ',');
    int bk = rp_table_col(b, "arch"), bv = b ? first_col(b, vals, 5) : -1;
    if (!b || bk < 0 || bv < 0) {
        fprintf(stderr, "cnas report: %s: %s\n", file,
                !b ? "cannot read it (or it has no header line)" :
                bk < 0 ? "no column 'arch' in the header line" :
                         "no column test_acc, val_acc, accuracy, acc or score in the header line");
        rp_table_free(b);
        return EXIT_USAGE;
    }
    FILE *f = r->f;
    section_open(r, "standalone", "Stand-alone correlation");
    int ak, av;
    char aname[96];
    rp_table *a = estimates(r, &ak, &av, aname, sizeof aname);
    int n = 0;
    double *x = NULL, *y = NULL;
    const char **labels = NULL;
    if (a) {
        x = malloc((size_t)(a->nrow + 1) * sizeof *x);
        y = malloc((size_t)(a->nrow + 1) * sizeof *y);
        labels = malloc((size_t)(a->nrow + 1) * sizeof *labels);
        for (int i = 0; x && y && labels && i < a->nrow; i++) {
            double u, v;
            if (!rp_parse_num(a->cell[i][av], &u))
                continue;
            for (int j = 0; j < b->nrow; j++)
                if (strcmp(a->cell[i][ak], b->cell[j][bk]) == 0) {
                    if (rp_parse_num(b->cell[j][bv], &v)) {
                        x[n] = u;
                        y[n] = v;
                        labels[n++] = a->cell[i][ak];
                    }
                    break;
                }
        }
    }
    fputs("<p>", f);
    rp_esc(f, aname[0] && a ? aname : "the run's ranking", -1);
    fputs(" against ", f);
    rp_esc(f, file, -1);
    fprintf(f, ":%s, rows matched by architecture.</p>\n", b->head[bv]);
    if (n >= 2) {
        double tau = cnas_kendall_tau(x, y, n), rho = cnas_spearman_rho(x, y, n);
        fputs("<table class=\"kv\" id=\"correlation\">\n", f);
        fprintf(f, "<tr><th>matched</th><td>%d architectures</td></tr>\n", n);
        fputs("<tr><th>Kendall tau</th><td class=\"tau\">", f);
        rp_num(f, tau, 4);
        fputs("</td></tr>\n<tr><th>Spearman rho</th><td>", f);
        rp_num(f, rho, 4);
        fputs("</td></tr>\n</table>\n", f);
        rp_chart c = {"stand-alone accuracy against the supernet's estimate", aname, b->head[bv], 560,
                      340, NULL, 0, false, NAN, NAN};
        fputs("<div class=\"figs\">\n", f);
        rp_scatter(f, &c, x, y, NULL, labels, n, NULL);
        fputs("</div>\n", f);
    } else {
        fprintf(f, "<p>Only %d architecture%s in both: no correlation.</p>\n", n, n == 1 ? " is" : "s are");
    }
    free(x);
    free(y);
    free(labels);
    rp_table_free(a);
    rp_table_free(b);
    section_close(r);
    return EXIT_OK;
}

/* ---- configuration, manifest, log ----------------------------------------------------------- */

static void configuration(report *r)
{
    if (!r->config)
        return;
    FILE *f = r->f;
    section_open(r, "config", "Configuration");
    fputs("<pre class=\"ini\">", f);
    for (const char *p = r->config; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *q = p;
        while (q < p + len && (*q == ' ' || *q == '\t'))
            q++;
        if (q < p + len && *q == '[') {
            fputs("<span class=\"sec\">", f);
            rp_esc(f, p, (long)len);
            fputs("</span>", f);
        } else if (q < p + len && (*q == ';' || *q == '#')) {
            fputs("<span class=\"cmt\">", f);
            rp_esc(f, p, (long)len);
            fputs("</span>", f);
        } else {
            size_t cut = len;
            for (size_t i = 1; i < len; i++)
                if ((p[i] == ';' || p[i] == '#') && (p[i - 1] == ' ' || p[i - 1] == '\t')) {
                    cut = i;
                    break;
                }
            const char *eq = memchr(p, '=', cut);
            if (eq) {
                fputs("<span class=\"key\">", f);
                rp_esc(f, p, (long)(eq - p));
                fputs("</span>", f);
                rp_esc(f, eq, (long)(cut - (size_t)(eq - p)));
            } else {
                rp_esc(f, p, (long)cut);
            }
            if (cut < len) {
                fputs("<span class=\"cmt\">", f);
                rp_esc(f, p + cut, (long)(len - cut));
                fputs("</span>", f);
            }
        }
        fputc('\n', f);
        p = e ? e + 1 : p + len;
    }
    fputs("</pre>\n", f);
    source_note(f, r->config_from_ckpt ? "checkpoint.ckpt (the configuration it records; no "
                                         "config.ini)" : "config.ini (\"; default\": not set by the "
                                         "configuration)");
    section_close(r);
}

static void manifest(report *r)
{
    if (!r->manifest || r->manifest->type != RJ_OBJ)
        return;
    FILE *f = r->f;
    section_open(r, "manifest", "Manifest");
    fputs("<table class=\"kv\">\n", f);
    const rj *plugins = NULL;
    for (int i = 0; i < r->manifest->n; i++) {
        const rj *v = r->manifest->items[i];
        const char *k = r->manifest->keys[i];
        char buf[64];
        if (strcmp(k, "plugins") == 0 && v->type == RJ_ARR) {
            plugins = v;
            continue;
        }
        fputs("<tr><th>", f);
        rp_esc(f, k, -1);
        fputs("</th><td>", f);
        if (v->type == RJ_STR) {
            rp_esc(f, v->str, -1);
        } else if (v->type == RJ_NUM) {
            snprintf(buf, sizeof buf, "%.15g", v->num);
            fputs(buf, f);
        } else if (v->type == RJ_BOOL) {
            fputs(v->num ? "true" : "false", f);
        } else if (v->type == RJ_NULL) {
            fputs("<span class=\"dim\">none</span>", f);
        } else if (v->type == RJ_ARR) {
            for (int j = 0; j < v->n; j++) {
                if (j)
                    fputs("<br>", f);
                if (v->items[j]->type == RJ_STR)
                    rp_esc(f, v->items[j]->str, -1);
            }
            if (v->n == 0)
                fputs("<span class=\"dim\">none</span>", f);
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    if (plugins && plugins->n > 0) {
        fputs("<h3>Plugins</h3>\n<div class=\"tablewrap\"><table class=\"data\" id=\"plugins\">\n"
              "<thead><tr><th>name</th><th>version</th><th>ABI</th><th>path</th></tr></thead>\n<tbody>\n", f);
        for (int i = 0; i < plugins->n; i++) {
            const rj *pl = plugins->items[i];
            const char *cols[] = {"name", "version", "abi", "path"};
            fputs("<tr>", f);
            for (int c = 0; c < 4; c++) {
                fputs(c == 3 ? "<td class=\"path\">" : "<td>", f);
                rp_esc(f, rj_str(rj_get(pl, cols[c])), -1);
                fputs("</td>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("</tbody></table></div>\n", f);
    }
    source_note(f, "manifest.json");
    section_close(r);
}

static void log_tail(report *r)
{
    char p[4200];
    path_of(p, sizeof p, r->dir, "log.txt");
    size_t len;
    char *text = rp_slurp(p, &len, false);
    if (!text)
        return;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    const char *start = text + len;
    int lines = 0;
    while (start > text && lines < 40)
        if (*--start == '\n')
            lines++;
    if (*start == '\n')
        start++;
    FILE *f = r->f;
    section_open(r, "log", "Log");
    fputs("<details><summary>the last lines of log.txt</summary>\n<pre class=\"log\">", f);
    rp_esc(f, start, -1);
    fputs("</pre></details>\n", f);
    section_close(r);
    free(text);
}

/* ---- the page ------------------------------------------------------------------------------ */

static const char STYLE[] =
    ":root{--fg:#1d2733;--dim:#5d6b7a;--line:#d8dee6;--bg:#f3f5f8;--card:#fff;--accent:#2f6fb1}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"
    "'Segoe UI',Roboto,'DejaVu Sans',sans-serif}\n"
    "header{background:#1f2d3d;color:#fff;padding:18px 28px 14px}\n"
    "header h1{margin:0 0 4px;font-size:22px;font-weight:600}\n"
    "header .sub{color:#c9d4e0;margin:0}\n"
    ".badge{display:inline-block;margin-left:10px;padding:1px 9px;border-radius:10px;font-size:12px;"
    "font-weight:600;vertical-align:middle}\n"
    ".badge.done{background:#3d8b4f;color:#fff}.badge.running{background:#e0a030;color:#1d2733}\n"
    "nav{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid var(--line);"
    "padding:7px 28px;font-size:13px}\n"
    "nav a{color:var(--accent);text-decoration:none;margin-right:16px;white-space:nowrap}\n"
    "nav a:hover{text-decoration:underline}\n"
    "main{max-width:1240px;margin:0 auto;padding:16px 20px 40px}\n"
    "section{scroll-margin-top:44px;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 18px;"
    "margin:14px 0}\n"
    "h2{font-size:17px;margin:0 0 10px;font-weight:600}\n"
    "h3{font-size:14px;margin:14px 0 6px;font-weight:600}\n"
    "h3 .what{font-weight:400;color:var(--dim)}\n"
    ".src{color:var(--dim);font-size:12px;margin:6px 0 0}\n"
    ".dim{color:var(--dim)}\n"
    "table.kv{border-collapse:collapse}\n"
    "table.kv th{text-align:left;font-weight:500;color:var(--dim);padding:2px 18px 2px 0;"
    "vertical-align:top;white-space:nowrap}\n"
    "table.kv td{padding:2px 0;word-break:break-word}\n"
    ".tablewrap{overflow-x:auto;max-height:520px;overflow-y:auto;border:1px solid var(--line);"
    "border-radius:6px}\n"
    "table.data{border-collapse:collapse;font-size:12.5px;width:100%}\n"
    "table.data th{position:sticky;top:0;background:#eef2f7;text-align:left;padding:4px 8px;"
    "border-bottom:1px solid var(--line);font-weight:600}\n"
    "table.data td{padding:3px 8px;border-bottom:1px solid #edf0f4;vertical-align:top}\n"
    "table.data tr:nth-child(even) td{background:#fafbfd}\n"
    "table.data .n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "table.data td.arch{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:11.5px;"
    "word-break:break-all;min-width:240px}\n"
    "table.data td.path{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:11.5px;"
    "word-break:break-all}\n"
    "pre{margin:0;font:12px/1.45 ui-monospace,'DejaVu Sans Mono',monospace}\n"
    "pre.archtext{white-space:pre-wrap;word-break:break-word;background:#f6f8fb;border:1px solid "
    "var(--line);border-radius:6px;padding:10px 12px;font-size:13px}\n"
    "pre.ini,pre.log{max-height:440px;overflow:auto;background:#f6f8fb;border:1px solid var(--line);"
    "border-radius:6px;padding:8px 12px}\n"
    "pre.log{white-space:pre-wrap}\n"
    ".ini .sec{color:#8a3ffc;font-weight:600}.ini .key{color:#1d4f91}.ini .cmt{color:#8b96a3}\n"
    ".progress{background:#fff6e0;border:1px solid #f0d48a;border-radius:6px;padding:10px 12px;"
    "margin:0}\n"
    ".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:10px}\n"
    ".figs{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}\n"
    "figure.drawing{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px;"
    "background:#fff;max-width:100%;overflow:auto}\n"
    "figure.drawing svg{display:block;max-width:100%;max-height:560px;width:auto;height:auto}\n"
    "figure#pma-svg,figure#pma-svg svg{overflow:visible;border:0;max-height:none}\n"
    "figcaption{color:var(--dim);font-size:12px;text-align:center;margin-top:4px}\n"
    "svg.plot{max-width:100%;height:auto;background:#fff}\n"
    ".plot text{font:10.5px system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "fill:#44505c}\n"
    ".plot .ctitle{font-size:12.5px;font-weight:600;fill:#1d2733}\n"
    ".plot .alabel{font-size:11px;fill:#5d6b7a}\n"
    ".plot .note{font-size:10px;fill:#8b96a3}\n"
    ".plot .legend{font-size:11px;fill:#1d2733}\n"
    ".plot .area{fill:#fcfdfe;stroke:none}\n"
    ".plot .grid{stroke:#e6eaef;stroke-width:1}\n"
    ".plot .axis{stroke:#9aa5b1;stroke-width:1}\n"
    ".plot .vline{stroke:#c5cdd6;stroke-width:1;stroke-dasharray:3 3}\n"
    ".plot .series{fill:none;stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}\n"
    ".plot .dot{stroke:#fff;stroke-width:.8}\n"
    ".plot .cell{stroke:#fff;stroke-width:1}\n"
    ".plot .best{fill:none;stroke:#d9480f;stroke-width:2}\n"
    ".plot .val{font-size:10px;fill:#1d2733}.plot .val.inv{fill:#fff}\n"
    ".plot .pt{fill:#7b8da3;fill-opacity:.75;stroke:#fff;stroke-width:.6}\n"
    ".plot .pt.marked{fill:#d9480f;fill-opacity:1}\n"
    ".plot .front{fill:none;stroke:#d9480f;stroke-width:1.4;stroke-dasharray:4 2}\n"
    ".group{margin-bottom:8px}\n"
    "details summary{cursor:pointer;color:var(--accent)}\n"
    "footer{color:var(--dim);font-size:12px;text-align:center;padding:0 0 24px}\n"
    "code{font:12px ui-monospace,'DejaVu Sans Mono',monospace;background:#f0f2f5;padding:0 3px;"
    "border-radius:3px}\n";

static void write_page(FILE *out, report *r, const char *body, size_t body_len)
{
    char name[256], strategy[128], space[128], dataset[128];
    const char *nm = cfg(r, "run", "name", name, sizeof name);
    if (!nm) { /* the directory's own name */
        char *full = realpath(r->dir, NULL);
        const char *b = full ? strrchr(full, '/') : NULL;
        snprintf(name, sizeof name, "%s", b && b[1] ? b + 1 : full ? full : r->dir);
        free(full);
        nm = name;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", out);
    rp_esc(out, nm, -1);
    fputs(" \xe2\x80\x94 cnas report</title>\n<style>\n", out);
    fputs(STYLE, out);
    fputs("</style>\n</head>\n<body>\n<header>\n<h1>", out);
    rp_esc(out, nm, -1);
    fprintf(out, "<span class=\"badge %s\" id=\"status\">%s</span></h1>\n<p class=\"sub\">",
            r->arch ? "done" : "running", r->arch ? "finished" : "in progress");
    const char *st = cfg(r, "strategy", "use", strategy, sizeof strategy);
    const char *sp = cfg(r, "space", "use", space, sizeof space);
    const char *ds = cfg(r, "dataset", "use", dataset, sizeof dataset);
    if (st || sp || ds) {
        rp_esc(out, st ? st : "?", -1);
        fputs(" on ", out);
        rp_esc(out, sp ? sp : "?", -1);
        fputs(", dataset ", out);
        rp_esc(out, ds ? ds : "?", -1);
        fputs(" \xc2\xb7 ", out);
    }
    rp_esc(out, r->dir, -1);
    fputs("</p>\n</header>\n<nav>", out);
    for (int i = 0; i < r->n_nav; i++) {
        fprintf(out, "<a href=\"#%s\">", r->nav_id[i]);
        rp_esc(out, r->nav_title[i], -1);
        fputs("</a>", out);
    }
    fputs("</nav>\n<main>\n", out);
    fwrite(body, 1, body_len, out);
    char when[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    fprintf(out, "</main>\n<footer>cnas %s report, written %s</footer>\n</body>\n</html>\n",
            cnas_version(), when);
}

/* ---- the command --------------------------------------------------------------------------- */

static const char *const RUN_FILES[] = {"config.ini", "manifest.json", "checkpoint.ckpt", "command",
                                        "steps.csv", "epochs.csv", "log.txt", "arch.txt",
                                        "ranking.tsv"};

static void load(report *r)
{
    char p[4200];
    path_of(p, sizeof p, r->dir, "config.ini");
    r->config = rp_slurp(p, NULL, false);
    path_of(p, sizeof p, r->dir, "manifest.json");
    char *m = rp_slurp(p, NULL, false);
    r->manifest = rj_parse(m);
    free(m);
    path_of(p, sizeof p, r->dir, "command");
    if ((r->command = rp_slurp(p, NULL, false)))
        r->command[strcspn(r->command, "\r\n")] = '\0';
    path_of(p, sizeof p, r->dir, "arch.txt");
    if ((r->arch = rp_slurp(p, NULL, false))) {
        size_t n = strlen(r->arch);
        while (n && (r->arch[n - 1] == '\n' || r->arch[n - 1] == '\r' || r->arch[n - 1] == ' '))
            r->arch[--n] = '\0';
        if (n == 0) { /* created, not yet written */
            free(r->arch);
            r->arch = NULL;
        }
    }
    path_of(p, sizeof p, r->dir, "steps.csv");
    r->steps = rp_table_read(p, ',');
    path_of(p, sizeof p, r->dir, "epochs.csv");
    r->epochs = rp_table_read(p, ',');
    path_of(p, sizeof p, r->dir, "ranking.tsv");
    r->ranking = rp_table_read(p, '\t');
    /* the checkpoint: progress of an unfinished run, the configuration when config.ini is gone */
    if ((!r->arch || !r->config) && exists(r->dir, "checkpoint.ckpt")) {
        cnas_error err = {0};
        path_of(p, sizeof p, r->dir, "checkpoint.ckpt");
        cnas_ckpt *ck = cnas_ckpt_load(p, &err);
        if (ck) {
            r->have_ckpt = cnas_ckpt_get_i64(ck, "run.epoch", &r->ck_epoch, &err) == CNAS_OK &&
                           cnas_ckpt_get_i64(ck, "run.step", &r->ck_step, &err) == CNAS_OK;
            if (cnas_ckpt_get_i64(ck, "run.steps_done", &r->ck_steps_done, &err) != CNAS_OK)
                r->ck_steps_done = 0;
            const char *c = cnas_ckpt_has(ck, "run.config") ? cnas_ckpt_get_str(ck, "run.config", &err)
                                                             : NULL;
            if (!r->config && c && *c) {
                r->config = strdup(c);
                r->config_from_ckpt = r->config != NULL;
            }
            cnas_ckpt_free(ck);
        }
    }
}

static void unload(report *r)
{
    free(r->config);
    rj_free(r->manifest);
    free(r->command);
    free(r->arch);
    rp_table_free(r->steps);
    rp_table_free(r->epochs);
    rp_table_free(r->ranking);
}

int cmd_report(const host_options *o)
{
    const char *dir = o->args[0];
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "cnas report: %s: %s\n", dir,
                stat(dir, &st) != 0 ? strerror(errno) : "not a directory (expected a run directory)");
        return EXIT_USAGE;
    }
    bool run = false;
    for (size_t i = 0; i < sizeof RUN_FILES / sizeof *RUN_FILES && !run; i++)
        run = exists(dir, RUN_FILES[i]);
    if (!run) {
        fprintf(stderr, "cnas report: %s is not a run directory (it holds none of config.ini, "
                "manifest.json, checkpoint.ckpt, steps.csv, epochs.csv, log.txt, arch.txt)\n", dir);
        return EXIT_USAGE;
    }
    char out_path[4200];
    if (o->output)
        snprintf(out_path, sizeof out_path, "%s", o->output);
    else
        path_of(out_path, sizeof out_path, dir, "report.html");

    report r;
    memset(&r, 0, sizeof r);
    r.dir = dir;
    char *body = NULL;
    size_t body_len = 0;
    if (!(r.f = open_memstream(&body, &body_len))) {
        fprintf(stderr, "cnas report: out of memory\n");
        return EXIT_RUN_FAILED;
    }
    load(&r);
    overview(&r);
    answer(&r);
    drawings(&r);
    curves(&r);
    alpha_history(&r);
    mixture(&r);
    rankings(&r);
    pareto(&r);
    per_class(&r);
    int code = EXIT_OK;
    if (o->standalone)
        code = standalone(&r, o->standalone);
    configuration(&r);
    manifest(&r);
    log_tail(&r);
    if (fclose(r.f) != 0 && code == EXIT_OK) {
        fprintf(stderr, "cnas report: out of memory\n");
        code = EXIT_RUN_FAILED;
    }
    if (code == EXIT_OK) {
        char tmp[4300];
        snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
        FILE *out = fopen(tmp, "w");
        if (out)
            write_page(out, &r, body ? body : "", body_len);
        if (!out || ferror(out) | (fclose(out) != 0) || rename(tmp, out_path) != 0) {
            fprintf(stderr, "cnas report: cannot write %s: %s\n", out_path, strerror(errno));
            remove(tmp);
            code = EXIT_RUN_FAILED;
        } else {
            printf("report: %s\n", out_path);
        }
    }
    free(body);
    unload(&r);
    return code;
}
