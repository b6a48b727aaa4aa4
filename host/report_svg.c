/* cnas report: charts as inline SVG markup — line charts with axes, scatter plots,
 * heatmaps and per-epoch strips. Text and colours come from the page's stylesheet
 * (classes on the elements), so the charts need no fonts or scripts of their own. */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const PALETTE[] = {"#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1",
                                      "#edc948", "#76b7b2", "#ff9da7", "#9c755f", "#8c8c8c"};

const char *rp_color(int i)
{
    return PALETTE[(i < 0 ? 0 : i) % (int)(sizeof PALETTE / sizeof *PALETTE)];
}

/* ---- axes -------------------------------------------------------------------------------- */

typedef struct frame {
    double x0, x1, y0, y1;   /* data range */
    double xs, ys;           /* tick steps */
    double left, top, w, h;  /* plot area in pixels */
} frame;

static double nice_step(double range, int target, bool integer)
{
    if (!(range > 0))
        return 1;
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    double s = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
    return integer && s < 1 ? 1 : s;
}

static void fit(double *lo, double *hi, double *step, int target, bool integer, bool pad_equal)
{
    if (*lo == *hi && pad_equal) {
        double d = fabs(*lo) * 0.1;
        if (!(d > 0))
            d = 1;
        if (integer)
            d = d < 1 ? 1 : ceil(d);
        *lo -= d;
        *hi += d;
    }
    *step = nice_step(*hi - *lo, target, integer);
    double a = floor(*lo / *step) * *step, b = ceil(*hi / *step) * *step;
    *lo = a;
    *hi = b > a ? b : a + *step;
}

static double px(const frame *fr, double x) { return fr->left + (x - fr->x0) / (fr->x1 - fr->x0) * fr->w; }
static double py(const frame *fr, double y) { return fr->top + fr->h - (y - fr->y0) / (fr->y1 - fr->y0) * fr->h; }

/* A tick label: k / M / G for large numbers, otherwise as many decimals as the step needs. */
static void tick_text(char *buf, size_t n, double v, double step)
{
    double a = fabs(v);
    if (fabs(v) < step * 1e-9)
        v = 0;
    if (a >= 1e4) {
        const char *unit = a >= 1e9 ? "G" : a >= 1e6 ? "M" : "k";
        double d = a >= 1e9 ? 1e9 : a >= 1e6 ? 1e6 : 1e3;
        int dec = step / d >= 1 ? 0 : (int)ceil(-log10(step / d) - 1e-9);
        snprintf(buf, n, "%.*f%s", dec > 3 ? 3 : dec, v / d, unit);
        return;
    }
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(buf, n, "%.*f", dec > 8 ? 8 : dec, v);
}

static void open_svg(FILE *f, const char *cls, int w, int h, const char *label)
{
    fprintf(f, "<svg class=\"plot %s\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
            "aria-label=\"", cls, w, h, w, h);
    rp_esc(f, label ? label : "", -1);
    fputs("\">\n", f);
}

static void axes(FILE *f, const frame *fr, const rp_chart *c)
{
    char t[64];
    fprintf(f, "<rect class=\"area\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
            fr->left, fr->top, fr->w, fr->h);
    for (int i = 0; i < c->n_vlines; i++) {
        double x = c->vlines[i];
        if (x > fr->x0 && x < fr->x1)
            fprintf(f, "<line class=\"vline\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
                    px(fr, x), px(fr, x), fr->top, fr->top + fr->h);
    }
    for (double y = fr->y0; y <= fr->y1 + fr->ys * 1e-6; y += fr->ys) {
        double yy = py(fr, y);
        tick_text(t, sizeof t, y, fr->ys);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                fr->left, fr->left + fr->w, yy, yy, fr->left - 5, yy + 3.5, t);
    }
    for (double x = ceil(fr->x0 / fr->xs - 1e-9) * fr->xs; x <= fr->x1 + fr->xs * 1e-6; x += fr->xs) {
        double xx = px(fr, x);
        tick_text(t, sizeof t, x, fr->xs);
        fprintf(f, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                xx, xx, fr->top + fr->h, fr->top + fr->h + 4, xx, fr->top + fr->h + 15, t);
    }
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n", fr->left,
            fr->left + fr->w, fr->top + fr->h, fr->top + fr->h);
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n", fr->left,
            fr->left, fr->top, fr->top + fr->h);
    if (c->title) {
        fprintf(f, "<text class=\"ctitle\" x=\"%.1f\" y=\"15\">", fr->left);
        rp_esc(f, c->title, -1);
        fputs("</text>\n", f);
    }
    if (c->xlabel) {
        fprintf(f, "<text class=\"alabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                fr->left + fr->w / 2, fr->top + fr->h + 29);
        rp_esc(f, c->xlabel, -1);
        fputs("</text>\n", f);
    }
    if (c->ylabel) {
        fprintf(f, "<text class=\"alabel\" transform=\"translate(11 %.1f) rotate(-90)\" "
                "text-anchor=\"middle\">", fr->top + fr->h / 2);
        rp_esc(f, c->ylabel, -1);
        fputs("</text>\n", f);
    }
}

/* Data ranges of the finite points; false when there are none. */
static bool ranges(const rp_series *s, int ns, double *x0, double *x1, double *y0, double *y1)
{
    bool any = false;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y))
                continue;
            if (!any) {
                *x0 = *x1 = x;
                *y0 = *y1 = y;
                any = true;
            }
            *x0 = fmin(*x0, x);
            *x1 = fmax(*x1, x);
            *y0 = fmin(*y0, y);
            *y1 = fmax(*y1, y);
        }
    return any;
}

static void make_frame(frame *fr, const rp_chart *c, double x0, double x1, double y0, double y1,
                       bool legend_row)
{
    fr->x0 = x0;
    fr->x1 = x1;
    fr->y0 = y0;
    fr->y1 = y1;
    /* x: the data's own range (widened to the hint), ticks inside it; y: nice round ends */
    if (isfinite(c->x_from) && c->x_from < fr->x0)
        fr->x0 = c->x_from;
    if (isfinite(c->x_to) && c->x_to > fr->x1)
        fr->x1 = c->x_to;
    if (fr->x0 == fr->x1) {
        fr->x0 -= c->integer_x ? 0.5 : fabs(fr->x0) * 0.1 + (fr->x0 == 0);
        fr->x1 += c->integer_x ? 0.5 : fabs(fr->x1) * 0.1 + (fr->x1 == 0);
    }
    fr->xs = nice_step(fr->x1 - fr->x0, 5, c->integer_x);
    fit(&fr->y0, &fr->y1, &fr->ys, 4, false, true);
    fr->left = c->ylabel ? 58 : 48;
    fr->top = legend_row ? 36 : 24;
    fr->w = c->width - fr->left - 12;
    fr->h = c->height - fr->top - (c->xlabel ? 36 : 22);
}

enum { MAX_POINTS = 600, MARKERS_UP_TO = 60 };

bool rp_line_chart(FILE *f, const rp_chart *c, const rp_series *s, int ns)
{
    double x0 = 0, x1 = 0, y0 = 0, y1 = 0;
    if (!ranges(s, ns, &x0, &x1, &y0, &y1))
        return false;
    frame fr;
    make_frame(&fr, c, x0, x1, y0, y1, ns > 1);
    open_svg(f, "line", c->width, c->height, c->title);
    axes(f, &fr, c);
    for (int k = 0; k < ns; k++) {
        const rp_series *se = &s[k];
        int step = (se->n + MAX_POINTS - 1) / MAX_POINTS;
        if (step < 1)
            step = 1;
        int finite = 0;
        for (int i = 0; i < se->n; i++)
            finite += isfinite(se->x[i]) && isfinite(se->y[i]);
        bool open = false;
        /* buckets of `step` points, averaged: long per-step histories stay light */
        for (int i = 0; i < se->n; i += step) {
            double sx = 0, sy = 0;
            int m = 0;
            for (int j = i; j < i + step && j < se->n; j++)
                if (isfinite(se->x[j]) && isfinite(se->y[j])) {
                    sx += se->x[j];
                    sy += se->y[j];
                    m++;
                }
            if (m == 0) {
                if (open)
                    fputs("\"/>\n", f);
                open = false;
                continue;
            }
            if (!open)
                fprintf(f, "<polyline class=\"series\" stroke=\"%s\" points=\"", rp_color(k));
            fprintf(f, "%s%.1f,%.1f", open ? " " : "", px(&fr, sx / m), py(&fr, sy / m));
            open = true;
        }
        if (open)
            fputs("\"/>\n", f);
        if (finite <= MARKERS_UP_TO)
            for (int i = 0; i < se->n; i++) {
                if (!isfinite(se->x[i]) || !isfinite(se->y[i]))
                    continue;
                fprintf(f, "<circle class=\"dot\" fill=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.6\"><title>",
                        rp_color(k), px(&fr, se->x[i]), py(&fr, se->y[i]));
                rp_esc(f, se->name, -1);
                fputs(" at ", f);
                rp_num(f, se->x[i], 6);
                fputs(": ", f);
                rp_num(f, se->y[i], 6);
                fputs("</title></circle>\n", f);
            }
        if (step > 1 && k == 0)
            fprintf(f, "<text class=\"note\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">mean of %d "
                    "points per vertex</text>\n", fr.left + fr.w - 4, fr.top + 11, step);
    }
    if (ns > 1) {
        double x = fr.left;
        for (int k = 0; k < ns; k++) {
            fprintf(f, "<line stroke=\"%s\" stroke-width=\"2.5\" x1=\"%.1f\" x2=\"%.1f\" y1=\"26\" "
                    "y2=\"26\"/><text class=\"legend\" x=\"%.1f\" y=\"29.5\">", rp_color(k), x,
                    x + 14, x + 18);
            rp_esc(f, s[k].name, -1);
            fputs("</text>\n", f);
            x += 28 + 6.8 * (double)strlen(s[k].name ? s[k].name : "");
        }
    }
    fputs("</svg>\n", f);
    return true;
}

bool rp_scatter(FILE *f, const rp_chart *c, const double *x, const double *y, const bool *mark,
                const char *const *labels, int n, const char *mark_name)
{
    rp_series all = {"", x, y, n};
    double x0 = 0, x1 = 0, y0 = 0, y1 = 0;
    if (!ranges(&all, 1, &x0, &x1, &y0, &y1))
        return false;
    double pad = (x1 - x0) * 0.04; /* no point on the y axis */
    frame fr;
    make_frame(&fr, c, x0 - pad, x1 + pad, y0, y1, mark_name != NULL);
    open_svg(f, "scatter", c->width, c->height, c->title);
    axes(f, &fr, c);
    /* the marked points joined in x order */
    int *order = malloc((size_t)(n + 1) * sizeof *order), m = 0;
    for (int i = 0; order && mark && i < n; i++)
        if (mark[i] && isfinite(x[i]) && isfinite(y[i]))
            order[m++] = i;
    for (int i = 1; i < m; i++)
        for (int j = i; j > 0 && x[order[j]] < x[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    if (m > 1) {
        fputs("<polyline class=\"front\" points=\"", f);
        for (int i = 0; i < m; i++) {
            if (i)
                fprintf(f, " %.1f,%.1f", px(&fr, x[order[i]]), py(&fr, y[order[i - 1]]));
            fprintf(f, " %.1f,%.1f", px(&fr, x[order[i]]), py(&fr, y[order[i]]));
        }
        fputs("\"/>\n", f);
    }
    free(order);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            bool mk = mark && mark[i];
            if (mk != (pass == 1) || !isfinite(x[i]) || !isfinite(y[i]))
                continue;
            fprintf(f, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%s\"><title>",
                    mk ? "pt marked" : "pt", px(&fr, x[i]), py(&fr, y[i]), mk ? "4.2" : "3.2");
            if (labels && labels[i]) {
                rp_esc(f, labels[i], -1);
                fputs("\n", f);
            }
            rp_esc(f, c->xlabel ? c->xlabel : "x", -1);
            fputs(" ", f);
            rp_num(f, x[i], 6);
            fputs(", ", f);
            rp_esc(f, c->ylabel ? c->ylabel : "y", -1);
            fputs(" ", f);
            rp_num(f, y[i], 6);
            fputs("</title></circle>\n", f);
        }
    if (mark_name) {
        fprintf(f, "<circle class=\"pt marked key\" cx=\"%.1f\" cy=\"26\" r=\"4.2\"/><text class=\"legend\" "
                "x=\"%.1f\" y=\"29.5\">", fr.left + 5, fr.left + 14);
        rp_esc(f, mark_name, -1);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    return true;
}

/* ---- heatmaps ------------------------------------------------------------------------------ */

static size_t label_len(const char *const *labels, int n, int fallback_digits)
{
    size_t m = (size_t)fallback_digits;
    for (int i = 0; labels && i < n; i++)
        if (labels[i] && strlen(labels[i]) > m)
            m = strlen(labels[i]);
    return m;
}

static void label(FILE *f, const char *const *labels, int i)
{
    if (labels && labels[i])
        rp_esc(f, labels[i], -1);
    else
        fprintf(f, "%d", i);
}

/* White to a deep blue. */
static void blue(double t, char *out, size_t n)
{
    if (!(t >= 0))
        t = 0;
    if (t > 1)
        t = 1;
    static const double a[3] = {247, 251, 255}, b[3] = {8, 69, 148};
    snprintf(out, n, "rgb(%d,%d,%d)", (int)(a[0] + (b[0] - a[0]) * t), (int)(a[1] + (b[1] - a[1]) * t),
             (int)(a[2] + (b[2] - a[2]) * t));
}

void rp_heatmap(FILE *f, const char *title, const double *v, int rows, int cols,
                const char *const *row_labels, const char *const *col_labels, bool mark_row_max)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < rows * cols; i++)
        if (isfinite(v[i])) {
            lo = fmin(lo, v[i]);
            hi = fmax(hi, v[i]);
        }
    int cw = cols <= 12 ? 54 : cols <= 40 ? 560 / cols : 14;
    if (cw < 14)
        cw = 14;
    int ch = rows <= 40 ? 18 : 10;
    bool values = cw >= 36 && ch >= 16;
    double rl = 6.6 * (double)label_len(row_labels, rows, 3) + 12;
    bool slanted = 6.0 * (double)label_len(col_labels, cols, 2) > cw - 4;
    double cl = slanted ? 5.2 * (double)label_len(col_labels, cols, 2) + 14 : 14;
    double left = rl, top = 24 + (slanted ? cl * 0.72 : cl);
    int w = (int)(left + cw * cols + (slanted ? cl * 0.72 : 0) + 12), h = (int)(top + ch * rows + (mark_row_max ? 50 : 34));
    if (w < 260)
        w = 260;
    open_svg(f, "heat", w, h, title);
    if (title) {
        fputs("<text class=\"ctitle\" x=\"4\" y=\"15\">", f);
        rp_esc(f, title, -1);
        fputs("</text>\n", f);
    }
    for (int c = 0; c < cols; c++) {
        double x = left + cw * (c + 0.5), y = top - 6;
        if (slanted)
            fprintf(f, "<text class=\"tick\" transform=\"translate(%.1f %.1f) rotate(-45)\">", x, y);
        else
            fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, y);
        label(f, col_labels, c);
        fputs("</text>\n", f);
    }
    int digits = hi - lo < 0.01 && hi <= 1 && lo >= 0 ? 4 : 3;
    for (int r = 0; r < rows; r++) {
        double y = top + ch * r;
        fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", left - 6,
                y + ch / 2.0 + 3.5);
        label(f, row_labels, r);
        fputs("</text>\n", f);
        int best = -1;
        for (int c = 0; c < cols; c++) {
            double x = v[r * cols + c];
            if (isfinite(x) && (best < 0 || x > v[r * cols + best]))
                best = c;
        }
        for (int c = 0; c < cols; c++) {
            double x = v[r * cols + c];
            double t = hi > lo ? (x - lo) / (hi - lo) : 0.5;
            char col[32];
            if (isfinite(x))
                blue(t, col, sizeof col);
            else
                snprintf(col, sizeof col, "#eeeeee");
            fprintf(f, "<rect class=\"cell\" x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"%s\">"
                    "<title>", left + cw * c, y, cw, ch, col);
            label(f, row_labels, r);
            fputs(" / ", f);
            label(f, col_labels, c);
            fputs(": ", f);
            rp_num(f, x, 6);
            fputs("</title></rect>\n", f);
            if (values && isfinite(x)) {
                fprintf(f, "<text class=\"val%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*f</text>\n",
                        t > 0.55 ? " inv" : "", left + cw * (c + 0.5), y + ch / 2.0 + 3.5,
                        fabs(x) < 10 ? digits : 1, x);
            }
        }
        if (mark_row_max && best >= 0)
            fprintf(f, "<rect class=\"best\" x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\"/>\n",
                    left + cw * best + 1, y + 1, cw - 2, ch - 2);
    }
    /* the colour scale: lowest value, ten steps, highest value; the outline below */
    char lo_t[32], hi_t[32];
    snprintf(lo_t, sizeof lo_t, "%.4g", isfinite(lo) ? lo : 0.0);
    snprintf(hi_t, sizeof hi_t, "%.4g", isfinite(hi) ? hi : 0.0);
    double ly = top + ch * rows + 12, lx = 4 + 6.0 * (double)strlen(lo_t) + 6;
    fprintf(f, "<text class=\"tick\" x=\"4\" y=\"%.1f\">%s</text>\n", ly + 9, lo_t);
    for (int i = 0; i < 10; i++) {
        char col[32];
        blue(i / 9.0, col, sizeof col);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"10\" fill=\"%s\"/>\n", lx + 12 * i,
                ly, col);
    }
    fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\">%s</text>\n", lx + 126, ly + 9, hi_t);
    if (mark_row_max)
        fprintf(f, "<rect class=\"best\" x=\"5\" y=\"%.1f\" width=\"12\" height=\"10\"/>"
                "<text class=\"tick\" x=\"22\" y=\"%.1f\">largest of its row</text>\n", ly + 17,
                ly + 26);
    fputs("</svg>\n", f);
}

void rp_argmax_strip(FILE *f, const char *title, const double *w, const double *epochs,
                     int n_epochs, int rows, int cols, const char *const *row_labels,
                     const char *const *col_labels)
{
    size_t per = (size_t)rows * (size_t)cols;
    /* certainty of a row: how far its largest weight is above uniform, relative to the
     * most certain row of the whole history */
    double top_conf = 0;
    for (int e = 0; e < n_epochs; e++)
        for (int r = 0; r < rows; r++) {
            const double *row = w + per * (size_t)e + (size_t)r * (size_t)cols;
            double m = -INFINITY;
            for (int c = 0; c < cols; c++)
                m = fmax(m, row[c]);
            if (isfinite(m))
                top_conf = fmax(top_conf, m - 1.0 / cols);
        }
    int cw = n_epochs <= 20 ? 28 : 560 / n_epochs;
    if (cw < 4)
        cw = 4;
    int ch = rows <= 40 ? 16 : 8;
    double left = 7.0 * (double)label_len(row_labels, rows, 3) + 12, top = 40;
    int legend_rows = 1;
    double lx = 0;
    for (int c = 0; c < cols; c++) {
        double wdt = 28 + 6.8 * (double)(col_labels && col_labels[c] ? strlen(col_labels[c]) : 2);
        if (lx + wdt > 600) {
            legend_rows++;
            lx = 0;
        }
        lx += wdt;
    }
    int width = (int)(left + cw * n_epochs + 20);
    if (width < 620)
        width = 620;
    int height = (int)(top + ch * rows + 16 + 18 * legend_rows + 8);
    open_svg(f, "strip", width, height, title);
    if (title) {
        fputs("<text class=\"ctitle\" x=\"4\" y=\"15\">", f);
        rp_esc(f, title, -1);
        fputs("</text>\n", f);
    }
    int every = n_epochs <= 20 ? 1 : (n_epochs + 9) / 10;
    for (int e = 0; e < n_epochs; e += every) {
        fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", left + cw * (e + 0.5),
                top - 6);
        rp_num(f, epochs[e], 6);
        fputs("</text>\n", f);
    }
    fprintf(f, "<text class=\"alabel\" x=\"%.1f\" y=\"%.1f\">epoch</text>\n", left - 40, top - 6);
    for (int r = 0; r < rows; r++) {
        double y = top + ch * r;
        fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", left - 6,
                y + ch / 2.0 + 3.5);
        label(f, row_labels, r);
        fputs("</text>\n", f);
        for (int e = 0; e < n_epochs; e++) {
            const double *row = w + per * (size_t)e + (size_t)r * (size_t)cols;
            int best = -1;
            for (int c = 0; c < cols; c++)
                if (isfinite(row[c]) && (best < 0 || row[c] > row[best]))
                    best = c;
            if (best < 0)
                continue;
            double conf = top_conf > 0 ? (row[best] - 1.0 / cols) / top_conf : 0;
            double op = 0.3 + 0.7 * sqrt(conf < 0 ? 0 : conf > 1 ? 1 : conf);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                    "fill-opacity=\"%.2f\"><title>epoch ", left + cw * e, y + 1, cw - (cw > 6),
                    ch - 2, rp_color(best), op);
            rp_num(f, epochs[e], 6);
            fputs(", ", f);
            label(f, row_labels, r);
            fputs(": ", f);
            label(f, col_labels, best);
            fputs(" ", f);
            rp_num(f, row[best], 4);
            fputs("</title></rect>\n", f);
        }
    }
    double ly = top + ch * rows + 16;
    lx = left;
    for (int c = 0; c < cols; c++) {
        double wdt = 28 + 6.8 * (double)(col_labels && col_labels[c] ? strlen(col_labels[c]) : 2);
        if (lx + wdt > left + 600) {
            ly += 18;
            lx = left;
        }
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\">", lx, ly - 2, rp_color(c), lx + 16, ly + 8);
        label(f, col_labels, c);
        fputs("</text>\n", f);
        lx += wdt;
    }
    fputs("</svg>\n", f);
}
