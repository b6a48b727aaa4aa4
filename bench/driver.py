#!/usr/bin/python3
"""Side-by-side CPU benchmark driver: cnas vs. the PyTorch reference.

Usage:
  /usr/bin/python3 bench/driver.py [--cnas build/bench/cnas-bench]
      [--python /usr/bin/python3] [--threads 2] [--rounds 3] [--repeats 10]
      [--warmup 3] [--rows a,b,c] [--ref-configs installed,best]
      [--markdown FILE] [--json FILE]

For every round and every row, the cnas program and bench/reference.py in
each PyTorch configuration (--ref-configs) are run as separate subprocesses
(one row per process, so each process's peak RSS belongs to its row); the
order of the sides reverses from round to round so slow drift of the
machine hits all of them alike.  Only rows listed (--list) by both programs
are run.  cnas inherits the environment plus OMP_NUM_THREADS=<threads>;
each PyTorch configuration gets the environment of REF_CONFIGS below
(reference.py checks that it took effect and records it).

PyTorch configurations (--ref-configs, comma-separated):
  installed            as Debian installs it: BLAS thread variables unset,
                       so its pthread OpenBLAS starts its own workers
  best                 OPENBLAS_NUM_THREADS=GOTO_NUM_THREADS=1 (BLAS single-
                       threaded inside PyTorch's OpenMP), oneDNN on
  best_channels_last   best + NHWC memory format
  best_bind            best + OMP_PROC_BIND=close OMP_PLACES=cores
  best_no_mkldnn       best with oneDNN off (to see what oneDNN brings)
The "PyTorch best" column takes, per row, the fastest (median) of all the
configurations that ran, "installed" included, and names it.  --rerender
RUN.json [--markdown FILE] rebuilds the table of a finished run.

Aggregation across rounds:
  time   : median of the per-round medians, minimum of the per-round minimums
  memory : maximum of the per-round peak RSS values (a peak is a peak)
Derived columns:
  speed-up       = PyTorch median / cnas median (against installed and best)
  memory ratio   = PyTorch best MiB / cnas MiB  (> 1 means cnas uses less)
  cnas GFLOP/s   = gflop (as reported by cnas; PyTorch's count if cnas
                   reports none, marked with *) / cnas min time
  % sgemm peak   = cnas GFLOP/s / the "gflops" of the cnas-side sgemm row
  cnas GB/s      = gbyte (the least tensor traffic of a step, reported by cnas
                   for the memory-bound rows: depthwise convolution, pooling,
                   batch norm) / cnas min time
  % copy         = cnas GB/s / the cnas-side copy row's GB/s (its gbyte = bytes
                   read + written by memcpy): their physical limit
Targets (final column), always against PyTorch best:
  darts_*_weight : speed-up >= 3 and cnas MiB <= PyTorch MiB / 4
  darts_*_arch   : speed-up >= 4
  resnet20_train : speed-up >= 1.2
  darts_net_fashion, darts_v2_c36 : speed-up >= 1.5 and cnas MiB <= PyTorch MiB
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

# name -> (reference.py --config, extra reference.py flags, extra environment)
REF_CONFIGS = {
    'installed': ('installed', [], {}),
    'best': ('best', [], {}),
    'best_channels_last': ('best', ['--channels-last'], {}),
    'best_bind': ('best', [], {'OMP_PROC_BIND': 'close', 'OMP_PLACES': 'cores'}),
    'best_no_mkldnn': ('best', ['--no-mkldnn'], {}),
}
# the variables reference.py sets per --config (it re-executes itself when
# they differ; setting them here saves that)
BLAS_THREAD_VARS = ('OPENBLAS_NUM_THREADS', 'GOTO_NUM_THREADS')
NETWORK_ROWS = ('resnet20_train', 'darts_net_fashion', 'darts_v2_c36')


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
    ap.add_argument('--ref-configs', default='installed,best',
                    help='comma-separated PyTorch configurations, of: %s '
                    '(default: %%(default)s)' % ', '.join(REF_CONFIGS))
    ap.add_argument('--markdown', default=None, metavar='FILE')
    ap.add_argument('--json', default=None, metavar='FILE')
    ap.add_argument('--timeout', type=float, default=3600.0,
                    help='per-child timeout in seconds (default: %(default)s)')
    ap.add_argument('--rerender', default=None, metavar='RUN.json',
                    help='run nothing: rebuild the table of a finished run '
                    '(to --markdown FILE, or stdout)')
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.repeats < 1 or args.warmup < 0 \
            or args.threads < 1:
        ap.error('need --rounds >= 1, --repeats >= 1, --warmup >= 0, '
                 '--threads >= 1')
    args.ref_configs = [c.strip() for c in args.ref_configs.split(',')
                        if c.strip()]
    bad = [c for c in args.ref_configs if c not in REF_CONFIGS]
    if bad or not args.ref_configs or \
            len(set(args.ref_configs)) != len(args.ref_configs):
        ap.error('--ref-configs: unknown or repeated %s; choose from %s'
                 % (', '.join(bad) or 'entry', ', '.join(REF_CONFIGS)))
    return args


def child_env(threads):
    """cnas's environment: inherited, plus OMP_NUM_THREADS."""
    env = dict(os.environ)
    env['OMP_NUM_THREADS'] = str(threads)
    return env


def ref_env(name, threads):
    """The environment of PyTorch configuration `name`."""
    config, _, extra = REF_CONFIGS[name]
    env = child_env(threads)
    for v in BLAS_THREAD_VARS:
        if config == 'best':
            env[v] = '1'
        else:
            env.pop(v, None)
    env.update(extra)
    return env


def side_env(side, args):
    if side == 'cnas':
        return child_env(args.threads)
    return ref_env(side.split(':', 1)[1], args.threads)


def env_diff(env):
    """What an environment sets or removes relative to ours (for the header)."""
    d = {k: v for k, v in env.items() if os.environ.get(k) != v}
    d.update({k: None for k in os.environ if k not in env})
    return d


def tail(text, n=15):
    lines = (text or '').rstrip().splitlines()
    return '\n'.join(lines[-n:])


def base_cmd(side, args):
    """side: 'cnas' or 'pytorch:<configuration>'."""
    if side.startswith('pytorch'):
        cmd = [args.python, REFERENCE]
        if ':' in side:
            config, flags, _ = REF_CONFIGS[side.split(':', 1)[1]]
            cmd += ['--config', config] + flags
        return cmd
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
    rec = {'impl': impl, 'row': row, 'cmd': shlex.join(cmd),
           'env': env_diff(env)}
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
        'gbyte': num(res[-1].get('gbyte')),
        'params': num(res[-1].get('params')),
        'params_no_aux': num(res[-1].get('params_no_aux')),
    }
    gfs = [num(r.get('gflops')) for r in res]
    gfs = [g for g in gfs if g is not None]
    if gfs:
        agg['gflops'] = max(gfs)   # best round (= min time) for a peak figure
    return agg


# The targets against PyTorch best: (minimum speed-up, maximum cnas memory as a
# fraction of PyTorch's, or None when memory is not part of the target).
def target_rule(row):
    if row.startswith('darts_') and row.endswith('_weight'):
        return 3.0, 0.25
    if row.startswith('darts_') and row.endswith('_arch'):
        return 4.0, None
    if row == 'resnet20_train':
        return 1.2, None
    if row in NETWORK_ROWS:
        return 1.5, 1.0
    if row.startswith('op_'):
        return 1.0, None
    return None


def target_for(row):
    rule = target_rule(row)
    if rule is None:
        return None
    speed, mem = rule
    text = 'speed-up >= %g' % speed
    if mem is not None:
        text += ', mem <= %s' % ('PyTorch' if mem == 1.0 else '1/%g' % (1 / mem))
    return text


def judge(row, speedup, mem_ratio, have_best):
    """The verdict against PyTorch best (mem_ratio = PyTorch MiB / cnas MiB)."""
    rule = target_rule(row)
    if rule is None:
        return '-'
    if not have_best:
        return 'n/a (no best configuration run)'
    if speedup is None:
        return 'failed'
    speed, mem = rule
    ok = speedup >= speed
    if mem is not None:
        if mem_ratio is None:
            return 'n/a (no memory figure)'
        ok = ok and mem_ratio >= 1 / mem
    return 'met' if ok else 'missed'


def pick_best(row, agg, configs):
    """(configuration, aggregate) of the fastest configuration run, "installed"
    included: on some rows PyTorch as installed beats every tuned setting, and the
    reference is whatever is fastest on this machine."""
    cands = [(c, agg.get((row, 'pytorch:' + c))) for c in configs]
    cands = [(c, a) for c, a in cands if a and a['median_ms'] is not None]
    if not cands:
        return None, None
    return min(cands, key=lambda ca: ca[1]['median_ms'])


def ratio(a, b, key):
    if a and b and a.get(key) and b.get(key):
        return a[key] / b[key]
    return None


def compute_table(rows, agg, failures, configs):
    sgemm_peak = None
    c_sg = agg.get(('sgemm', 'cnas'))
    if c_sg:
        sgemm_peak = c_sg.get('gflops')
        if sgemm_peak is None and c_sg.get('gflop') and c_sg.get('min_ms'):
            sgemm_peak = c_sg['gflop'] / (c_sg['min_ms'] / 1e3)
    c_copy = agg.get(('copy', 'cnas'))
    copy_bw = None
    if c_copy and c_copy.get('gbyte') and c_copy.get('min_ms'):
        copy_bw = c_copy['gbyte'] / (c_copy['min_ms'] / 1e3)
    ran_best = any(c != 'installed' for c in configs)
    table = []
    for row in rows:
        inst = agg.get((row, 'pytorch:installed')) \
            if 'installed' in configs else None
        best_cfg, best = pick_best(row, agg, configs)
        c = agg.get((row, 'cnas'))
        e = {'row': row, 'pytorch_installed': inst, 'pytorch_best': best,
             'best_config': best_cfg, 'cnas': c,
             'pytorch_configs': {k: agg.get((row, 'pytorch:' + k))
                                 for k in configs},
             'failures': failures.get(row, [])}
        speedup_inst = ratio(inst, c, 'median_ms')
        speedup = ratio(best, c, 'median_ms')
        mem_ratio = ratio(best, c, 'peak_rss_mib')
        gfs = pct = None
        gflop_src = None
        ref = best or inst
        if c and c.get('min_ms'):
            gflop = c.get('gflop')
            gflop_src = 'cnas'
            if gflop is None and ref and ref.get('gflop') is not None:
                gflop = ref['gflop']
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
        gbs = pct_copy = None
        if c and c.get('min_ms') and c.get('gbyte'):
            gbs = c['gbyte'] / (c['min_ms'] / 1e3)
        if gbs is not None and copy_bw:
            pct_copy = 100.0 * gbs / copy_bw
        # parameter counts of the two sides (they must agree)
        pp = [a.get('params') for a in (best, inst) if a and
              a.get('params') is not None]
        e.update(speedup_installed=speedup_inst, speedup=speedup,
                 mem_ratio=mem_ratio, cnas_gflops=gfs,
                 gflop_source=gflop_src if gfs is not None else None,
                 pct_sgemm=pct, cnas_gbps=gbs, pct_copy=pct_copy,
                 target=target_for(row),
                 params_pytorch=pp[0] if pp else None,
                 params_cnas=c.get('params') if c else None,
                 verdict=judge(row, speedup, mem_ratio, ran_best))
        table.append(e)
    return table, sgemm_peak, copy_bw


def fmt(x, spec):
    return '-' if x is None else format(x, spec)


def fmt_pair(a, ran=True):
    if not ran:
        return '-'
    if not a:
        return 'failed'
    return '%s / %s' % (fmt(a['median_ms'], '.2f'), fmt(a['min_ms'], '.2f'))


COLUMNS = ['row', 'params (PyTorch/cnas)',
           'PyTorch installed ms (median/min)', 'PyTorch best ms (median/min)',
           'cnas ms (median/min)', 'speed-up vs installed',
           'speed-up vs best', 'PyTorch installed MiB', 'PyTorch best MiB',
           'cnas MiB', 'memory ratio (best/cnas)', 'cnas GFLOP/s',
           '% of sgemm peak', 'cnas GB/s', '% of copy', 'target (vs best)']


def fmt_params(e):
    p, c = e['params_pytorch'], e['params_cnas']
    if not p and not c:
        return '-'
    if p == c:
        return '{:,}'.format(p)
    return '%s / %s' % (fmt(p, ','), fmt(c, ','))


def table_cells(e, configs):
    inst, best, c = e['pytorch_installed'], e['pytorch_best'], e['cnas']
    ran_inst = 'installed' in configs
    ran_best = any(k != 'installed' for k in configs)
    gfs = fmt(e['cnas_gflops'], '.2f')
    if e['gflop_source'] == 'pytorch':
        gfs += '*'
    best_ms = fmt_pair(best, ran_best)
    if best and sum(k != 'installed' for k in configs) > 1:
        best_ms += ' [%s]' % e['best_config']
    verdict = e['verdict']
    if e['target']:
        verdict = '%s (%s)' % (verdict, e['target'])
    return [e['row'], fmt_params(e), fmt_pair(inst, ran_inst), best_ms,
            fmt_pair(c), fmt(e['speedup_installed'], '.2f'),
            fmt(e['speedup'], '.2f'),
            fmt(inst and inst['peak_rss_mib'], '.1f'),
            fmt(best and best['peak_rss_mib'], '.1f'),
            fmt(c and c['peak_rss_mib'], '.1f'),
            fmt(e['mem_ratio'], '.2f'), gfs, fmt(e['pct_sgemm'], '.1f'),
            fmt(e.get('cnas_gbps'), '.2f'), fmt(e.get('pct_copy'), '.1f'),
            verdict]


def fmt_env(d):
    if not d:
        return '(inherited)'
    return ' '.join('%s=%s' % (k, v) if v is not None else 'unset %s' % k
                    for k, v in sorted(d.items()))


def header_items(hdr):
    items = [
        ('date', hdr['date']),
        ('machine (uname -m)', hdr['machine']),
        ('CPU', hdr['cpu']),
        ('nproc', hdr['nproc']),
        ('load average at start', hdr['loadavg']),
        ('threads', hdr['threads']),
        ('torch', '%s (mkldnn available: %s)' % (hdr['torch'],
                                                 hdr['mkldnn'])),
        ('cnas blas_core', hdr['blas_core']),
        ('cnas openblas_config', hdr['openblas_config']),
        ('OPENBLAS_CORETYPE', hdr['openblas_coretype']),
        ('cnas env', fmt_env(hdr['cnas_env'])),
    ]
    for name, cfg in hdr['pytorch_configs'].items():
        blas = cfg.get('openblas') or {}
        items.append(('PyTorch %s' % name, '%s; reference.py %s; OpenBLAS %s '
                      'threads, core %s (%s)' % (
                          fmt_env(cfg['env']), ' '.join(cfg['args']),
                          blas.get('num_threads', '?'),
                          blas.get('corename', '?'), blas.get('config', '?'))))
    items += [
        ('rounds / repeats / warmup', '%s / %s / %s' % (
            hdr['rounds'], hdr['repeats'], hdr['warmup'])),
        ('command', hdr['command']),
    ]
    return items


NOTES = [
    'times: median of per-round medians / minimum of per-round minimums; '
    'MiB: max of per-round peak RSS (each row in its own process)',
    'speed-up = PyTorch median / cnas median; memory ratio = PyTorch best '
    'MiB / cnas MiB; targets are judged against PyTorch best (the fastest '
    'configuration of the row, installed included)',
    'cnas GFLOP/s = gflop of one repeat / cnas min time (* = gflop counted '
    'by the PyTorch side); % of sgemm peak is relative to the cnas sgemm row',
    'params: trainable parameters, auxiliary head included',
    'cnas GB/s = the least tensor traffic of one step of a memory-bound row '
    '(13 passes over the activation, 12 for average pooling: bench/cnas_bench.c) '
    '/ cnas min time; % of copy is relative to the cnas copy row (memcpy, bytes '
    'read + written)',
]


def failure_lines(table):
    return [(e['row'], f) for e in table for f in e['failures']]


def render_text(hdr, table, configs):
    out = ['cnas vs PyTorch CPU benchmark']
    for k, v in header_items(hdr):
        out.append('  %-26s %s' % (k + ':', v))
    out.append('')
    rows = [COLUMNS] + [table_cells(e, configs) for e in table]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(COLUMNS))]
    for n, r in enumerate(rows):
        out.append(' | '.join(str(v).ljust(w) for v, w in zip(r, widths))
                   .rstrip())
        if n == 0:
            out.append('-+-'.join('-' * w for w in widths))
    out.append('')
    out.extend('note: ' + n for n in NOTES)
    mism = [e for e in table if e['params_pytorch'] and e['params_cnas']
            and e['params_pytorch'] != e['params_cnas']]
    for e in mism:
        out.append('note: %s: parameter counts differ (PyTorch %d, cnas %d)'
                   % (e['row'], e['params_pytorch'], e['params_cnas']))
    fails = failure_lines(table)
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


def render_markdown(hdr, table, configs):
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
        out.append('| ' + ' | '.join(md_escape(c)
                                     for c in table_cells(e, configs)) + ' |')
    out.append('')
    out.extend('- ' + n for n in NOTES)
    fails = failure_lines(table)
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


def loadavg():
    try:
        with open('/proc/loadavg') as f:
            return ' '.join(f.read().split()[:3])
    except OSError:
        return 'unknown'


def rerender(path, markdown):
    """Rebuild the table of a finished run from its JSON (every child record is
    kept there), e.g. after a change to how rows are judged."""
    with open(path) as f:
        doc = json.load(f)
    hdr, rows = doc['header'], doc['rows']
    configs = list(hdr['pytorch_configs'])
    per, failures = {}, {}
    for rec in doc['runs']:
        per.setdefault((rec['row'], rec['impl']), []).append(rec)
        if not rec['ok']:
            failures.setdefault(rec['row'], []).append(rec)
    agg = {k: aggregate(v) for k, v in per.items()}
    table, _, _ = compute_table(rows, agg, failures, configs)
    text = render_markdown(hdr, table, configs)
    if markdown:
        with open(markdown, 'w') as f:
            f.write(text)
    else:
        print(text)
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.rerender:
        return rerender(args.rerender, args.markdown)
    command = shlex.join([sys.executable] + sys.argv)
    sides = ['cnas'] + ['pytorch:' + c for c in args.ref_configs]
    load_at_start = loadavg()

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    lists = {}
    for impl in ('cnas', 'pytorch'):
        env = child_env(args.threads)
        lists[impl], why = list_rows(impl, args, env)
        if lists[impl] is None:
            log('error: cannot list %s rows: %s' % (impl, why))
            return 2

    common = [r for r in lists['pytorch'] if r in set(lists['cnas'])]
    only = {i: [r for r in lists[i] if r not in common] for i in lists}
    for impl in lists:
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
    per = {}                        # (row, side) -> [records]
    failures = {}                   # row -> [failure records]
    for rnd in range(args.rounds):
        order = sides if rnd % 2 == 0 else sides[::-1]
        for row in rows:
            for side in order:
                log('[round %d/%d] %-18s %-28s ...' % (rnd + 1, args.rounds,
                                                       row, side))
                rec = run_child(side, row, args, side_env(side, args))
                rec['round'] = rnd
                runs.append(rec)
                per.setdefault((row, side), []).append(rec)
                if rec['ok']:
                    r = rec['result']
                    msg = '    median %s ms, min %s ms, peak %s MiB' % (
                        fmt(num(r.get('median_ms')), '.2f'),
                        fmt(num(r.get('min_ms')), '.2f'),
                        fmt(num(r.get('peak_rss_mib')), '.1f'))
                    if num(r.get('gflops')) is not None:
                        msg += ', %.2f GFLOP/s' % r['gflops']
                    if num(r.get('params')) is not None:
                        msg += ', %d params' % r['params']
                    log(msg)
                else:
                    failures.setdefault(row, []).append(rec)
                    log('    FAILED: %s' % rec['error'])

    agg = {k: aggregate(v) for k, v in per.items()}
    table, sgemm_peak, copy_bw = compute_table(rows, agg, failures, args.ref_configs)

    def first_result(side, key):
        for rec in runs:
            if rec['impl'].startswith(side) and rec.get('ok') and \
                    rec['result'].get(key) is not None:
                return rec['result'][key]
        return None

    ref_hdr = {}
    for name in args.ref_configs:
        config, flags, _ = REF_CONFIGS[name]
        side = 'pytorch:' + name
        ref_hdr[name] = {
            'args': ['--config', config] + flags,
            'env': env_diff(ref_env(name, args.threads)),
            'env_seen': first_result(side, 'env'),
            'openblas': first_result(side, 'openblas'),
            'threads': first_result(side, 'threads'),
            'mkldnn_enabled': first_result(side, 'mkldnn_enabled'),
        }
    hdr = {
        'date': datetime.datetime.now().astimezone().isoformat(
            timespec='seconds'),
        'machine': platform.machine(),
        'cpu': cpu_model(),
        'nproc': os.cpu_count(),
        'loadavg': load_at_start,
        'threads': args.threads,
        'torch': first_result('pytorch', 'torch'),
        'mkldnn': first_result('pytorch', 'mkldnn'),
        'cnas_threads': first_result('cnas', 'threads'),
        'blas_core': first_result('cnas', 'blas_core'),
        'openblas_config': first_result('cnas', 'openblas_config'),
        'openblas_coretype': os.environ.get('OPENBLAS_CORETYPE', '(unset)'),
        'cnas_env': env_diff(child_env(args.threads)),
        'pytorch_configs': ref_hdr,
        'rounds': args.rounds,
        'repeats': args.repeats,
        'warmup': args.warmup,
        'command': command,
        'cnas_program': args.cnas,
        'python': args.python,
        'sgemm_peak_gflops_cnas': sgemm_peak,
        'copy_gbps_cnas': copy_bw,
    }

    print(render_text(hdr, table, args.ref_configs), flush=True)

    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write(render_markdown(hdr, table, args.ref_configs))
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
