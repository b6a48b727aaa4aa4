#!/usr/bin/env python3
"""Per-epoch collapse metrics of DARTS-cell and NAS-Bench-201 searches, as a CSV and an SVG plot.

usage: lambda_darts_collapse.py [--ops=OP,OP,...] OUT.csv OUT.svg ARM=RUN_DIR [ARM=RUN_DIR ...]

For every run directory of a `darts` or `lambda_darts` search on `darts_cell` or
`nb201_cell`: the derived genotype of each epoch (log.txt, `epoch E genotype = ...`) gives
the share of parameter-free operations (skip_connect, max_pool_3x3, avg_pool_3x3) among the
normal cell's and the reduction cell's 8 operations (NAS-Bench-201: among the cell's 6, in
the "normal" columns, and the share of none, which its genotype shows, in none_share);
alpha.jsonl gives their mean softmax weight (and that of none) over the normal cell's edges;
epochs.csv gives train_corr, val_corr and val_acc (empty where a run does not log them).
--ops names the space's candidates in weight-column order when they are not the default of
the runs' space ([space] candidates). Standard library only; docs/lambda_darts.md.

    python3 examples/lambda_darts_collapse.py out.csv out.svg DARTS=runs/a LAMBDA=runs/b
"""
import csv
import json
import re
import sys

PARAM_FREE = {"skip_connect", "max_pool_3x3", "avg_pool_3x3"}
GENO = re.compile(r"epoch (\d+) genotype = Genotype\((.*)\)\s*$")
CELL = re.compile(r"(normal|reduce)=\[(.*?)\]")
OP = re.compile(r"\('([a-z0-9_]+)', (\d+)\)")
NB201 = re.compile(r"epoch (\d+) genotype = (\|\S+\|)\s*$")
NB201_OP = re.compile(r"([a-z0-9_]+)~(\d+)")
# The spaces' default candidate orders (alpha.jsonl lists the weights in them).
DEFAULT_OPS = {
    "normal": ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
               "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"],
    "cell": ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"],
}
OPS = None  # --ops
COLOURS = {0: "#d62728", 1: "#1f77b4", 2: "#2ca02c", 3: "#9467bd"}


def genotypes(run):
    out = {}
    with open(f"{run}/log.txt") as f:
        for line in f:
            m = GENO.search(line)
            if m:
                cells = {k: OP.findall(v) for k, v in CELL.findall(m.group(2))}
            else:
                m = NB201.search(line)
                if not m:
                    continue
                cells = {"normal": NB201_OP.findall(m.group(2))}
            out[int(m.group(1))] = cells  # a resumed run may log an epoch again: keep the last
    return out


def share(ops):
    return f"{sum(op in PARAM_FREE for op, _ in ops) / len(ops):.3f}" if ops else ""


def weights(run):
    """epoch -> mean over the normal cell's edges of the softmax weight of the
    parameter-free operations and of none (uniform: 3/8 and 1/8)."""
    out = {}
    with open(f"{run}/alpha.jsonl") as f:
        for line in f:
            d = json.loads(line)
            key = "normal" if "normal" in d else "cell"
            edges, ops = d[key], OPS or DEFAULT_OPS[key]
            pf = sum(w for e in edges for op, w in zip(ops, e) if op in PARAM_FREE)
            none = sum(e[ops.index("none")] for e in edges) if "none" in ops else float("nan")
            out[int(d["epoch"])] = (pf / len(edges), none / len(edges))
    return out


def rows_of(arm, run):
    with open(f"{run}/epochs.csv") as f:
        epochs = {int(r["epoch"]): r for r in csv.DictReader(f)}
    w = weights(run)
    rows = []
    for e, cells in sorted(genotypes(run).items()):
        r = epochs.get(e, {})
        row = {
            "epoch": e, "arm": arm,
            "param_free_share_normal": share(cells["normal"]),
            "param_free_share_reduce": share(cells.get("reduce")),
            "param_free_weight_normal": f"{w[e][0]:.4f}" if e in w else "",
            "none_weight_normal": f"{w[e][1]:.4f}" if e in w and w[e][1] == w[e][1] else "",
            "normal_ops": " ".join(op for op, _ in cells["normal"]),
            "train_corr": r.get("train_corr", ""), "val_corr": r.get("val_corr", ""),
            "lambda": r.get("lambda", ""), "val_acc": r.get("val_acc", ""),
        }
        if "reduce" not in cells:  # NAS-Bench-201: its genotype shows none too
            ops = [op for op, _ in cells["normal"]]
            row["none_share"] = f"{ops.count('none') / len(ops):.3f}"
        rows.append(row)
    return rows


def polyline(pts, colour, dash=""):
    d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<polyline points="{d}" fill="none" stroke="{colour}" '
            f'stroke-width="1.6"{extra}/>')


def panel(top, title, series, ymin, ymax, emax, yticks):
    """series: [(label, colour, dash, [(epoch, value)])]. Returns SVG lines."""
    left, width, height = 60, 560, 190
    def sx(e): return left + width * e / max(emax, 1)
    def sy(v): return top + height * (ymax - v) / (ymax - ymin)
    out = [f'<text x="{left}" y="{top - 10}" font-size="13" font-weight="bold">{title}</text>',
           f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" '
           f'stroke="#888"/>']
    for v in yticks:
        y = sy(v)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" '
                   f'text-anchor="end">{v:g}</text>')
    step = 5 if emax <= 60 else 10
    for e in range(0, emax + 1, step):
        out.append(f'<text x="{sx(e):.1f}" y="{top + height + 15}" font-size="11" '
                   f'text-anchor="middle">{e}</text>')
    for i, (label, colour, dash, pts) in enumerate(series):
        out.append(polyline([(sx(e), sy(v)) for e, v in pts], colour, dash))
        ly = top + 14 + 15 * i
        out.append(f'<line x1="{left + width + 12}" y1="{ly - 4}" x2="{left + width + 36}" '
                   f'y2="{ly - 4}" stroke="{colour}" stroke-width="1.6"'
                   + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        out.append(f'<text x="{left + width + 42}" y="{ly}" font-size="11">{label}</text>')
    return out


def svg(rows, arms):
    emax = max(r["epoch"] for r in rows)
    def pts(arm, key):
        return [(r["epoch"], float(r[key])) for r in rows
                if r["arm"] == arm and r.get(key, "") != ""]
    share_series, corr_series = [], []
    for i, arm in enumerate(arms):
        c = COLOURS[i % len(COLOURS)]
        nb201_arm = any(r["arm"] == arm and "none_share" in r for r in rows)
        share_series.append((f"{arm} " + ("skip+pool" if nb201_arm else "normal"), c, "",
                             pts(arm, "param_free_share_normal")))
        if nb201_arm:
            # NAS-Bench-201: none is in the derived cell; its weight is the one to watch
            share_series.append((f"{arm} none", c, "4,3", pts(arm, "none_share")))
            share_series.append((f"{arm} none weight", c, "1,3", pts(arm, "none_weight_normal")))
        else:
            share_series.append((f"{arm} reduce", c, "4,3", pts(arm, "param_free_share_reduce")))
            share_series.append((f"{arm} normal weight", c, "1,3",
                                 pts(arm, "param_free_weight_normal")))
        corr_series.append((f"{arm} train_corr", c, "", pts(arm, "train_corr")))
        corr_series.append((f"{arm} val_corr", c, "4,3", pts(arm, "val_corr")))
    vals = [v for s in corr_series for _, v in s[3]] or [0.0]
    lo = min(-0.1, min(vals)); hi = max(0.1, max(vals))
    lo = -0.1 * int(-lo * 10 + 0.999); hi = 0.1 * int(hi * 10 + 0.999)
    n = round((hi - lo) / 0.1)
    stride = max(1, n // 6)
    ticks = [round(lo + 0.1 * k, 1) for k in range(0, n + 1, stride)]
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="920" height="520" '
           'font-family="sans-serif">', '<rect width="920" height="520" fill="white"/>']
    nb201 = any("none_share" in r for r in rows)
    title = ("Skip + pooling share and none share of the derived cell; none's mean weight" if nb201
             else "Parameter-free share of the derived cells; their softmax weight in the normal cell")
    out += panel(30, title,
                 share_series, 0, 1, emax, [0, 0.25, 0.5, 0.75, 1])
    out += panel(290, "Mean pairwise cosine of the " + ("cells'" if nb201 else "normal cells'")
                 + " gradients (corr)",
                 corr_series, lo, hi, emax, ticks)
    out.append(f'<text x="340" y="510" font-size="12" text-anchor="middle">epoch</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    global OPS
    if len(argv) > 1 and argv[1].startswith("--ops="):
        OPS = argv[1][6:].split(",")
        argv = argv[:1] + argv[2:]
    if len(argv) < 4:
        sys.exit(__doc__)
    arms, rows = [], []
    for spec in argv[3:]:
        arm, run = spec.rsplit("=", 1)
        arms.append(arm)
        rows += rows_of(arm, run)
    rows.sort(key=lambda r: (r["epoch"], arms.index(r["arm"])))
    with open(argv[1], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(argv[2], "w") as f:
        f.write(svg(rows, arms))


if __name__ == "__main__":
    main(sys.argv)
