/* GOLD-NAS outputs: the snapshots of one search, their non-dominated front (fewer
 * FLOPs, higher accuracy), pareto.csv / pareto.json, a plot (pareto.svg, and
 * pareto_plot.dot that the host renders to PNG and SVG when Graphviz is installed),
 * snapshot_<i>.txt for `cnas train --arch`, and every snapshot reported as a result. */
#include "gold_nas.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The accuracy a snapshot is judged by: held-out validation, else the supernet's
 * training accuracy. */
static double snap_acc(const gold_snap *s)
{
    return isnan(s->val_acc) ? s->train_acc : s->val_acc;
}

static void mark_front(gold *m)
{
    for (int i = 0; i < m->n_snaps; i++) {
        gold_snap *a = &m->snaps[i];
        a->front = 1;
        for (int j = 0; j < m->n_snaps && a->front; j++) {
            const gold_snap *b = &m->snaps[j];
            double fa = snap_acc(a), fb = snap_acc(b);
            if (j != i && b->flops <= a->flops && fb >= fa && (b->flops < a->flops || fb > fa))
                a->front = 0;
        }
    }
}

/* Front first, each part by accuracy (ties: fewer FLOPs, then the earlier snapshot). */
static const gold *sort_ctx;
static int by_rank(const void *x, const void *y)
{
    const gold_snap *a = &sort_ctx->snaps[*(const int *)x], *b = &sort_ctx->snaps[*(const int *)y];
    if (a->front != b->front)
        return b->front - a->front;
    double fa = snap_acc(a), fb = snap_acc(b);
    if (fa != fb)
        return fa > fb ? -1 : 1;
    if (a->flops != b->flops)
        return a->flops < b->flops ? -1 : 1;
    return *(const int *)x - *(const int *)y;
}

static void num(cnas_text *t, double v, const char *fmt)
{
    if (isnan(v))
        cnas_text_put(t, "nan");
    else
        cnas_text_put(t, fmt, v);
}

static double nice(double range)
{
    double raw = range / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

/* Accuracy (%) against MFLOPs, every snapshot a dot, the front joined by a line. */
static void plot_svg(const gold *m, const int *by_flops, cnas_text *t)
{
    const double W = 640, H = 430, L = 70, R = 30, T = 40, B = 50;
    double x1 = 0, y0 = 100, y1 = 0;
    for (int i = 0; i < m->n_snaps; i++) {
        x1 = fmax(x1, m->snaps[i].flops / 1e6);
        y0 = fmin(y0, 100 * snap_acc(&m->snaps[i]));
        y1 = fmax(y1, 100 * snap_acc(&m->snaps[i]));
    }
    if (!(y1 > y0)) {
        y0 -= 1;
        y1 += 1;
    }
    double xs = nice(x1 > 0 ? x1 : 1), ys = nice(y1 - y0);
    x1 = ceil((x1 > 0 ? x1 : 1) / xs) * xs;
    y0 = floor(y0 / ys) * ys;
    y1 = ceil(y1 / ys) * ys;
#define PX(v) (L + (v) / x1 * (W - L - R))
#define PY(v) (H - B - ((v) - y0) / (y1 - y0) * (H - T - B))
    cnas_text_put(t, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                  "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
                  W, H, W, H);
    cnas_text_put(t, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    cnas_text_put(t, "<text x=\"%.0f\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">GOLD-NAS "
                  "snapshots: accuracy against FLOPs (front in red)</text>\n", W / 2);
    for (double v = 0; v <= x1 + 1e-9; v += xs)
        cnas_text_put(t, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", PX(v),
                      (double)T, PX(v), H - B, PX(v), H - B + 16, v);
    for (double v = y0; v <= y1 + 1e-9; v += ys)
        cnas_text_put(t, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L, PY(v),
                      W - R, PY(v), L - 6, PY(v) + 4, v);
    cnas_text_put(t, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
                  "stroke=\"black\"/>\n", L, T, W - L - R, H - T - B);
    cnas_text_put(t, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">MFLOPs (multiply-adds "
                  "per image)</text>\n", (L + W - R) / 2, H - 12);
    cnas_text_put(t, "<text x=\"16\" y=\"%.0f\" text-anchor=\"middle\" transform=\"rotate(-90 16 "
                  "%.0f)\">%s accuracy (%%)</text>\n", (T + H - B) / 2, (T + H - B) / 2,
                  m->n_snaps && isnan(m->snaps[0].val_acc) ? "supernet training" : "validation");
    cnas_text_put(t, "<polyline fill=\"none\" stroke=\"#e15759\" stroke-width=\"2\" points=\"");
    for (int q = 0; q < m->n_snaps; q++) {
        const gold_snap *s = &m->snaps[by_flops[q]];
        if (s->front)
            cnas_text_put(t, "%.1f,%.1f ", PX(s->flops / 1e6), PY(100 * snap_acc(s)));
    }
    cnas_text_put(t, "\"/>\n");
    for (int i = 0; i < m->n_snaps; i++) {
        const gold_snap *s = &m->snaps[i];
        double x = PX(s->flops / 1e6), y = PY(100 * snap_acc(s));
        cnas_text_put(t, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/><text x=\"%.1f\" "
                      "y=\"%.1f\">#%d</text>\n", x, y, s->front ? "#e15759" : "#4e79a7", x + 7,
                      y - 7, i);
    }
    cnas_text_put(t, "</svg>\n");
#undef PX
#undef PY
}

/* The same plot for Graphviz (neato, pinned positions), so the host renders a PNG. */
static cnas_status plot_dot(const gold *m, const int *by_flops, cnas_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/pareto_plot.dot", m->env->run_dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return cnas_error_set(err, CNAS_ERR_IO, "gold_nas: cannot write %s: %s", path,
                              strerror(errno));
    double x1 = 0, y0 = 1, y1 = 0;
    for (int i = 0; i < m->n_snaps; i++) {
        x1 = fmax(x1, (double)m->snaps[i].flops);
        y0 = fmin(y0, snap_acc(&m->snaps[i]));
        y1 = fmax(y1, snap_acc(&m->snaps[i]));
    }
    double yr = y1 > y0 ? y1 - y0 : 0.01;
    fprintf(f, "graph pareto {\n  layout=neato;\n  label=\"accuracy (up, %.2f%% .. %.2f%%) "
               "against MFLOPs (right, 0 .. %.2f); the front in red\";\n"
               "  node [shape=circle, width=0.15, fixedsize=true, style=filled, label=\"\", "
               "fontsize=10];\n  edge [color=\"#e15759\", penwidth=2];\n",
            100 * y0, 100 * y1, x1 / 1e6);
    fprintf(f, "  o [pos=\"0,0!\", shape=point, width=0.01]; xa [pos=\"8,0!\", shape=point, "
               "width=0.01]; ya [pos=\"0,5!\", shape=point, width=0.01];\n  o -- xa [color=black, penwidth=1]; "
               "o -- ya [color=black, penwidth=1];\n");
    for (int i = 0; i < m->n_snaps; i++) {
        const gold_snap *s = &m->snaps[i];
        fprintf(f, "  s%d [pos=\"%.3f,%.3f!\", fillcolor=\"%s\", xlabel=\"#%d %.1fM %.2f%%\"];\n",
                i, 8.0 * (double)s->flops / (x1 > 0 ? x1 : 1), 0.5 + 4.5 * (snap_acc(s) - y0) / yr,
                s->front ? "#e15759" : "#4e79a7", i, s->flops / 1e6, 100 * snap_acc(s));
    }
    int prev = -1;
    for (int q = 0; q < m->n_snaps; q++)
        if (m->snaps[by_flops[q]].front) {
            if (prev >= 0)
                fprintf(f, "  s%d -- s%d;\n", prev, by_flops[q]);
            prev = by_flops[q];
        }
    fprintf(f, "}\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return cnas_error_set(err, CNAS_ERR_IO, "gold_nas: writing %s failed", path);
    return CNAS_OK;
}

static cnas_status write_snapshot_file(const gold *m, int i, const char *text, cnas_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/snapshot_%d.txt", m->env->run_dir, i);
    FILE *f = fopen(path, "w");
    if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0)
        return cnas_error_set(err, CNAS_ERR_IO, "gold_nas: cannot write %s: %s", path,
                              strerror(errno));
    return CNAS_OK;
}

static int by_flops_cmp(const void *x, const void *y)
{
    const gold_snap *a = &sort_ctx->snaps[*(const int *)x], *b = &sort_ctx->snaps[*(const int *)y];
    if (a->flops != b->flops)
        return a->flops < b->flops ? -1 : 1;
    return *(const int *)x - *(const int *)y;
}

cnas_status gold_write_outputs(gold *m, cnas_error *err)
{
    cnas_search_env *env = m->env;
    const cnas_space_vtable *vt = env->space_vt;
    int n = m->n_snaps;
    mark_front(m);
    size_t cap = 1 << 16;
    char *text = malloc(cap);
    int *rank = malloc(sizeof(int) * (size_t)(n ? n : 1));
    int *by_flops = malloc(sizeof(int) * (size_t)(n ? n : 1));
    cnas_arch *a = cnas_arch_new(m->lay.n_points, err);
    cnas_text csv = {0}, json = {0}, svg = {0};
    cnas_status st = CNAS_OK;
    if (!text || !rank || !by_flops || !a) {
        st = a ? cnas_error_set(err, CNAS_ERR_NOMEM, "gold_nas: out of memory") : err->code;
        goto done;
    }
    for (int i = 0; i < n; i++)
        rank[i] = by_flops[i] = i;
    sort_ctx = m;
    qsort(rank, (size_t)n, sizeof *rank, by_rank);
    qsort(by_flops, (size_t)n, sizeof *by_flops, by_flops_cmp);
    cnas_text_put(&csv, "snapshot,epoch,mflops,flops,params,ops,supernet_acc,val_acc,val_loss,"
                  "front,final,arch_file,arch\n");
    cnas_text_put(&json, "{\"strategy\": \"gold_nas\", \"accuracy\": \"%s\", \"snapshots\": [",
                  n && isnan(m->snaps[0].val_acc) ? "supernet_acc" : "val_acc");
    for (int i = 0; i < n && !st; i++) {
        const gold_snap *s = &m->snaps[i];
        memcpy(a->mask, m->snap_masks + (size_t)i * m->lay.n_points,
               sizeof(uint64_t) * m->lay.n_points);
        if ((st = vt->format(env->space, a, text, cap, err)) ||
            (st = write_snapshot_file(m, i, text, err)))
            break;
        cnas_text_put(&csv, "%d,%lld,%.4f,%lld,%lld,%lld,", i, (long long)s->epoch, s->flops / 1e6,
                      (long long)s->flops, (long long)s->params, (long long)s->n_ops);
        num(&csv, s->train_acc, "%.6f");
        cnas_text_put(&csv, ",");
        num(&csv, s->val_acc, "%.6f");
        cnas_text_put(&csv, ",");
        num(&csv, s->val_loss, "%.6f");
        cnas_text_put(&csv, ",%d,%d,snapshot_%d.txt,\"", s->front, s->final, i);
        for (const char *c = text; *c; c++)
            cnas_text_put(&csv, "%c", *c == '\n' ? ' ' : *c);
        cnas_text_put(&csv, "\"\n");
        cnas_text_put(&json, "%s\n  {\"snapshot\": %d, \"epoch\": %lld, \"flops\": %lld, "
                      "\"params\": %lld, \"ops\": %lld, \"supernet_acc\": ", i ? "," : "", i,
                      (long long)s->epoch, (long long)s->flops, (long long)s->params,
                      (long long)s->n_ops);
        cnas_text_json_num(&json, s->train_acc);
        cnas_text_put(&json, ", \"val_acc\": ");
        cnas_text_json_num(&json, s->val_acc);
        cnas_text_put(&json, ", \"val_loss\": ");
        cnas_text_json_num(&json, s->val_loss);
        cnas_text_put(&json, ", \"front\": %s, \"final\": %s, \"arch_file\": \"snapshot_%d.txt\", "
                      "\"arch\": ", s->front ? "true" : "false", s->final ? "true" : "false", i);
        cnas_text_json_string(&json, text);
        cnas_text_put(&json, "}");
    }
    if (st)
        goto done;
    cnas_text_put(&json, "],\n \"front\": [");
    for (int q = 0, k = 0; q < n; q++)
        if (m->snaps[by_flops[q]].front)
            cnas_text_put(&json, "%s%d", k++ ? ", " : "", by_flops[q]);
    cnas_text_put(&json, "]}\n");
    plot_svg(m, by_flops, &svg);
    if (csv.oom || json.oom || svg.oom) {
        st = cnas_error_set(err, CNAS_ERR_NOMEM, "gold_nas: out of memory");
        goto done;
    }
    if ((st = env->append(env, "pareto.csv", csv.s, err)) ||
        (st = env->append(env, "pareto.json", json.s, err)) ||
        (st = env->append(env, "pareto.svg", svg.s, err)) || (st = plot_dot(m, by_flops, err)))
        goto done;
    for (int q = 0; q < n && !st; q++) {
        const gold_snap *s = &m->snaps[rank[q]];
        memcpy(a->mask, m->snap_masks + (size_t)rank[q] * m->lay.n_points,
               sizeof(uint64_t) * m->lay.n_points);
        cnas_result r = {sizeof r, q, a, snap_acc(s), s->val_acc, s->flops, s->params};
        st = env->report_result(env, &r, err);
    }
    int n_front = 0;
    for (int i = 0; i < n; i++)
        n_front += m->snaps[i].front;
    if (!st && n)
        env->log(env, CNAS_LOG_INFO, "gold_nas: %d snapshots, a front of %d (pareto.csv); "
                 "rank 0 = snapshot %d (snapshot_%d.txt)", n, n_front, rank[0], rank[0]);
done:
    free(text);
    free(rank);
    free(by_flops);
    cnas_arch_free(a);
    cnas_text_free(&csv);
    cnas_text_free(&json);
    cnas_text_free(&svg);
    return st;
}
