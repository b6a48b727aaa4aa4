#!/usr/bin/python3
"""Side-by-side CPU benchmark driver: cnas vs. the PyTorch reference.

Usage:
  /usr/bin/python3 bench/driver.py [--cnas build/bench/cnas-bench]
      [--python /usr/bin/python3] [--threads 2] [--rounds 3] [--repeats 10]
      [--warmup 3] [--rows a,b,c] [--markdown FILE] [--json FILE]

For every round and every row, the cnas program and bench/reference.py are
run as separate subprocesses (one row per process, so each process's peak
RSS belongs to its row); which one goes first alternates from round to
round so slow drift of the machine hits both sides equally.  Only rows
listed (--list) by both programs are run.  Children inherit the
environment unchanged, plus OMP_NUM_THREADS=<threads>.

Aggregation across rounds:
  time   : median of the per-round medians, minimum of the per-round minimums
  memory : maximum of the per-round peak RSS values (a peak is a peak)
Derived columns:
  speed-up       = PyTorch median / cnas median
  memory ratio   = PyTorch MiB / cnas MiB  (> 1 means cnas uses less)
  cnas GFLOP/s   = gflop (as reported by cnas; PyTorch's count if cnas
                   reports none, marked with *) / cnas min time
  % sgemm peak   = cnas GFLOP/s / the "gflops" of the cnas-side sgemm row
Targets (final column):
  darts_*_weight : speed-up >= 3 and cnas MiB <= PyTorch MiB / 3
  darts_*_arch   : speed-up >= 4
  resnet20_train : speed-up >= 1
  op_*           : speed-up >= 1
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, 'reference.py')
IMPLS = ('pytorch', 'cnas')


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description='cnas vs PyTorch CPU benchmark driver')
    ap.add_argument('--cnas', default='build/bench/cnas-bench',
                    help='cnas benchmark program (default: %(default)s)')
    ap.add_argument('--python', default='/usr/bin/python3',
                    help='interpreter with torch (default: %(default)s)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--repeats', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--rows', default=None,
                    help='comma-separated subset of rows (default: all common)')
    ap.add_argument('--markdown', default=None, metavar='FILE')
    ap.add_argument('--json', default=None, metavar='FILE')
    ap.add_argument('--timeout', type=float, default=3600.0,
                    help='per-child timeout in seconds (default: %(default)s)')
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.repeats < 1 or args.warmup < 0 \
            or args.threads < 1:
        ap.error('need --rounds >= 1, --repeats >= 1, --warmup >= 0, '
                 '--threads >= 1')
    return args


def child_env(threads):
    env = dict(os.environ)
    env['OMP_NUM_THREADS'] = str(threads)
    return env


def tail(text, n=15):
    lines = (text or '').rstrip().splitlines()
    return '\n'.join(lines[-n:])


def base_cmd(impl, args):
    if impl == 'pytorch':
        return [args.python, REFERENCE]
    return [args.cnas]


def list_rows(impl, args, env):
    cmd = base_cmd(impl, args) + ['--list']
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, '%s: %s' % (shlex.join(cmd), e)
    if p.returncode != 0:
        return None, '%s: exit %d\n%s' % (shlex.join(cmd), p.returncode,
                                          tail(p.stderr))
    rows = [l.strip() for l in p.stdout.splitlines() if l.strip()]
    return rows, None


def last_json(stdout):
    for line in reversed((stdout or '').splitlines()):
        line = line.strip()
        if line.startswith('{'):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj
    return None


def run_child(impl, row, args, env):
    cmd = base_cmd(impl, args) + ['--row', row, '--threads', str(args.threads),
                                  '--warmup', str(args.warmup),
                                  '--repeats', str(args.repeats)]
    rec = {'impl': impl, 'row': row, 'cmd': shlex.join(cmd)}
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           timeout=args.timeout)
    except subprocess.TimeoutExpired as e:
        rec.update(ok=False, error='timeout after %gs' % args.timeout,
                   stderr_tail=tail(e.stderr.decode(errors='replace')
                                    if isinstance(e.stderr, bytes)
                                    else e.stderr))
        return rec
    except OSError as e:
        rec.update(ok=False, error=str(e), stderr_tail='')
        return rec
    rec['wall_s'] = time.monotonic() - t0
    rec['returncode'] = p.returncode
    obj = last_json(p.stdout)
    if p.returncode != 0 or obj is None or 'median_ms' not in obj:
        why = []
        if p.returncode != 0:
            why.append('exit %d' % p.returncode)
        if obj is None:
            why.append('no JSON on stdout')
        elif 'median_ms' not in obj:
            why.append('JSON lacks median_ms')
        rec.update(ok=False, error=', '.join(why),
                   stderr_tail=tail(p.stderr) or tail(p.stdout))
        if obj is not None:
            rec['result'] = obj
        return rec
    rec.update(ok=True, result=obj)
    return rec


def num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) \
        else None


def aggregate(records):
    """records: list of successful child records of one (row, impl)."""
    res = [r['result'] for r in records if r.get('ok')]
    if not res:
        return None
    meds = [num(r.get('median_ms')) for r in res]
    mins = [num(r.get('min_ms')) for r in res]
    rss = [num(r.get('peak_rss_mib')) for r in res]
    meds = [m for m in meds if m is not None]
    mins = [m for m in mins if m is not None]
    rss = [m for m in rss if m is not None]
    agg = {
        'rounds_ok': len(res),
        'median_ms': statistics.median(meds) if meds else None,
        'min_ms': min(mins) if mins else None,
        'peak_rss_mib': max(rss) if rss else None,
        'gflop': num(res[-1].get('gflop')),
    }
    gfs = [num(r.get('gflops')) for r in res]
    gfs = [g for g in gfs if g is not None]
    if gfs:
        agg['gflops'] = max(gfs)   # best round (= min time) for a peak figure
    return agg


def target_for(row):
    if row.startswith('darts_') and row.endswith('_weight'):
        return 'speed-up >= 3, mem <= 1/3'
    if row.startswith('darts_') and row.endswith('_arch'):
        return 'speed-up >= 4'
    if row == 'resnet20_train' or row.startswith('op_'):
        return 'speed-up >= 1'
    return None


def judge(row, speedup, mem_ratio):
    t = target_for(row)
    if t is None:
        return '-'
    if speedup is None:
        return 'failed'
    if row.startswith('darts_') and row.endswith('_weight'):
        if mem_ratio is None:
            return 'n/a (no memory figure)'
        ok = speedup >= 3 and mem_ratio >= 3
    elif row.startswith('darts_') and row.endswith('_arch'):
        ok = speedup >= 4
    else:
        ok = speedup >= 1
    return 'met' if ok else 'missed'


def compute_table(rows, agg, failures):
    sgemm_peak = None
    c_sg = agg.get(('sgemm', 'cnas'))
    if c_sg:
        sgemm_peak = c_sg.get('gflops')
        if sgemm_peak is None and c_sg.get('gflop') and c_sg.get('min_ms'):
            sgemm_peak = c_sg['gflop'] / (c_sg['min_ms'] / 1e3)
    table = []
    for row in rows:
        p = agg.get((row, 'pytorch'))
        c = agg.get((row, 'cnas'))
        e = {'row': row, 'pytorch': p, 'cnas': c,
             'failures': failures.get(row, [])}
        speedup = mem_ratio = gfs = pct = None
        gflop_src = None
        if p and c and p['median_ms'] and c['median_ms']:
            speedup = p['median_ms'] / c['median_ms']
        if p and c and p['peak_rss_mib'] and c['peak_rss_mib']:
            mem_ratio = p['peak_rss_mib'] / c['peak_rss_mib']
        if c and c.get('min_ms'):
            gflop = c.get('gflop')
            gflop_src = 'cnas'
            if gflop is None and p and p.get('gflop') is not None:
                gflop = p['gflop']
                gflop_src = 'pytorch'
            if gflop is not None:
                gfs = gflop / (c['min_ms'] / 1e3)
                if sgemm_peak:
                    pct = 100.0 * gfs / sgemm_peak
        if gfs is None and c and c.get('gflops') is not None:
            # the program reported a rate directly (e.g. sgemm without times)
            gfs = c['gflops']
            gflop_src = 'cnas'
            if sgemm_peak:
                pct = 100.0 * gfs / sgemm_peak
        e.update(speedup=speedup, mem_ratio=mem_ratio, cnas_gflops=gfs,
                 gflop_source=gflop_src if gfs is not None else None,
                 pct_sgemm=pct, target=target_for(row),
                 verdict=judge(row, speedup, mem_ratio))
        table.append(e)
    return table, sgemm_peak


def fmt(x, spec):
    return '-' if x is None else format(x, spec)


def fmt_pair(a):
    if not a:
        return 'failed'
    return '%s / %s' % (fmt(a['median_ms'], '.2f'), fmt(a['min_ms'], '.2f'))


COLUMNS = ['row', 'PyTorch ms (median/min)', 'cnas ms (median/min)',
           'speed-up', 'PyTorch MiB', 'cnas MiB', 'memory ratio (PyTorch/cnas)',
           'cnas GFLOP/s', '% of sgemm peak', 'target']


def table_cells(e):
    p, c = e['pytorch'], e['cnas']
    gfs = fmt(e['cnas_gflops'], '.2f')
    if e['gflop_source'] == 'pytorch':
        gfs += '*'
    verdict = e['verdict']
    if e['target']:
        verdict = '%s (%s)' % (verdict, e['target'])
    return [e['row'], fmt_pair(p), fmt_pair(c), fmt(e['speedup'], '.2f'),
            fmt(p and p['peak_rss_mib'], '.1f'),
            fmt(c and c['peak_rss_mib'], '.1f'),
            fmt(e['mem_ratio'], '.2f'), gfs, fmt(e['pct_sgemm'], '.1f'),
            verdict]


def header_items(hdr):
    return [
        ('date', hdr['date']),
        ('machine (uname -m)', hdr['machine']),
        ('CPU', hdr['cpu']),
        ('nproc', hdr['nproc']),
        ('threads', hdr['threads']),
        ('torch', '%s (mkldnn: %s)' % (hdr['torch'], hdr['mkldnn'])),
        ('cnas blas_core', hdr['blas_core']),
        ('cnas openblas_config', hdr['openblas_config']),
        ('OPENBLAS_CORETYPE', hdr['openblas_coretype']),
        ('rounds / repeats / warmup', '%s / %s / %s' % (
            hdr['rounds'], hdr['repeats'], hdr['warmup'])),
        ('command', hdr['command']),
    ]


NOTES = [
    'times: median of per-round medians / minimum of per-round minimums; '
    'MiB: max of per-round peak RSS (each row in its own process)',
    'speed-up = PyTorch median / cnas median; memory ratio = PyTorch MiB / '
    'cnas MiB',
    'cnas GFLOP/s = gflop of one repeat / cnas min time (* = gflop counted '
    'by the PyTorch side); % of sgemm peak is relative to the cnas sgemm row',
]


def render_text(hdr, table):
    out = ['cnas vs PyTorch CPU benchmark']
    for k, v in header_items(hdr):
        out.append('  %-26s %s' % (k + ':', v))
    out.append('')
    rows = [COLUMNS] + [table_cells(e) for e in table]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(COLUMNS))]
    for n, r in enumerate(rows):
        out.append(' | '.join(str(v).ljust(w) for v, w in zip(r, widths))
                   .rstrip())
        if n == 0:
            out.append('-+-'.join('-' * w for w in widths))
    out.append('')
    out.extend('note: ' + n for n in NOTES)
    fails = [(e['row'], f) for e in table for f in e['failures']]
    if fails:
        out.append('')
        out.append('failures:')
        for row, f in fails:
            out.append('  %s [%s, round %d]: %s' % (row, f['impl'],
                                                     f['round'], f['error']))
            for line in (f.get('stderr_tail') or '').splitlines():
                out.append('    | ' + line)
    return '\n'.join(out)


def md_escape(s):
    return str(s).replace('|', '\\|')


def render_markdown(hdr, table):
    out = []
    for k, v in header_items(hdr):
        if k == 'command':
            out.append('- %s: `%s`' % (k, v))
        else:
            out.append('- %s: %s' % (k, v))
    out.append('')
    out.append('| ' + ' | '.join(COLUMNS) + ' |')
    out.append('|' + '|'.join(['---'] + ['---:'] * (len(COLUMNS) - 2)
                              + ['---']) + '|')
    for e in table:
        out.append('| ' + ' | '.join(md_escape(c) for c in table_cells(e))
                   + ' |')
    out.append('')
    out.extend('- ' + n for n in NOTES)
    fails = [(e['row'], f) for e in table for f in e['failures']]
    if fails:
        out.append('')
        out.append('Failures:')
        out.append('')
        for row, f in fails:
            out.append('- %s [%s, round %d]: %s' % (row, f['impl'], f['round'],
                                                    f['error']))
            t = (f.get('stderr_tail') or '').strip()
            if t:
                out.append('')
                out.append('  ```')
                out.extend('  ' + l for l in t.splitlines())
                out.append('  ```')
    return '\n'.join(out) + '\n'


def cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.lower().startswith(('model name', 'cpu model',
                                            'processor\t: ')) and ':' in line:
                    v = line.split(':', 1)[1].strip()
                    if v and not v.isdigit():
                        return v
    except OSError:
        pass
    return platform.processor() or 'unknown'


def main(argv=None):
    args = parse_args(argv)
    env = child_env(args.threads)
    command = shlex.join([sys.executable] + sys.argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    lists, list_err = {}, {}
    for impl in IMPLS:
        lists[impl], list_err[impl] = list_rows(impl, args, env)
        if lists[impl] is None:
            log('error: cannot list %s rows: %s' % (impl, list_err[impl]))
    if any(lists[i] is None for i in IMPLS):
        return 2

    common = [r for r in lists['pytorch'] if r in set(lists['cnas'])]
    only = {i: [r for r in lists[i] if r not in common] for i in IMPLS}
    for impl in IMPLS:
        if only[impl]:
            log('note: rows only in %s (skipped): %s' % (
                impl, ', '.join(only[impl])))
    if args.rows:
        wanted = [r.strip() for r in args.rows.split(',') if r.strip()]
        missing = [r for r in wanted if r not in common]
        if missing:
            log('note: requested rows not listed by both programs (skipped): '
                + ', '.join(missing))
        rows = [r for r in wanted if r in common]
    else:
        rows = common
    if not rows:
        log('error: no rows to run')
        return 2

    runs = []                       # every child record, in order
    per = {}                        # (row, impl) -> [records]
    failures = {}                   # row -> [failure records]
    for rnd in range(args.rounds):
        order = IMPLS if rnd % 2 == 0 else IMPLS[::-1]
        for row in rows:
            for impl in order:
                log('[round %d/%d] %-18s %-7s ...' % (rnd + 1, args.rounds,
                                                      row, impl))
                rec = run_child(impl, row, args, env)
                rec['round'] = rnd
                runs.append(rec)
                per.setdefault((row, impl), []).append(rec)
                if rec['ok']:
                    r = rec['result']
                    msg = '    median %s ms, min %s ms, peak %s MiB' % (
                        fmt(num(r.get('median_ms')), '.2f'),
                        fmt(num(r.get('min_ms')), '.2f'),
                        fmt(num(r.get('peak_rss_mib')), '.1f'))
                    if num(r.get('gflops')) is not None:
                        msg += ', %.2f GFLOP/s' % r['gflops']
                    log(msg)
                else:
                    failures.setdefault(row, []).append(rec)
                    log('    FAILED: %s' % rec['error'])

    agg = {k: aggregate(v) for k, v in per.items()}
    table, sgemm_peak = compute_table(rows, agg, failures)

    def first_result(impl, key):
        for rec in runs:
            if rec['impl'] == impl and rec.get('ok') and \
                    rec['result'].get(key) is not None:
                return rec['result'][key]
        return None

    hdr = {
        'date': datetime.datetime.now().astimezone().isoformat(
            timespec='seconds'),
        'machine': platform.machine(),
        'cpu': cpu_model(),
        'nproc': os.cpu_count(),
        'threads': args.threads,
        'torch': first_result('pytorch', 'torch'),
        'mkldnn': first_result('pytorch', 'mkldnn'),
        'pytorch_threads': first_result('pytorch', 'threads'),
        'cnas_threads': first_result('cnas', 'threads'),
        'blas_core': first_result('cnas', 'blas_core'),
        'openblas_config': first_result('cnas', 'openblas_config'),
        'openblas_coretype': os.environ.get('OPENBLAS_CORETYPE', '(unset)'),
        'omp_num_threads': env['OMP_NUM_THREADS'],
        'rounds': args.rounds,
        'repeats': args.repeats,
        'warmup': args.warmup,
        'command': command,
        'cnas_program': args.cnas,
        'python': args.python,
        'sgemm_peak_gflops_cnas': sgemm_peak,
    }

    print(render_text(hdr, table), flush=True)

    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write(render_markdown(hdr, table))
        log('wrote %s' % args.markdown)
    if args.json:
        doc = {
            'header': hdr,
            'rows': rows,
            'rows_only_in': only,
            'table': table,
            'runs': runs,
        }
        with open(args.json, 'w') as f:
            json.dump(doc, f, indent=1)
            f.write('\n')
        log('wrote %s' % args.json)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
