#!/usr/bin/python3
"""PyTorch reference side of the cnas CPU benchmark.

Usage:
  /usr/bin/python3 bench/reference.py --row NAME [--config installed|best]
        [--threads 2] [--warmup 3] [--repeats 10] [--channels-last]
        [--no-mkldnn] [--list]

Exactly one row is run per process, so the peak RSS reported belongs to
that row alone.  One JSON line is printed on stdout:

  {"impl": "pytorch", "row": ..., "median_ms": ..., "min_ms": ...,
   "peak_rss_mib": ..., "threads": ..., "torch": ..., "mkldnn": ...,
   "config": ..., "env": {...}, "openblas": {...}, "knobs": {...},
   "repeats": ..., "warmup": ..., "gflop": ..., "params": ...}

(the sgemm row also reports "gflops").

Configurations (--config), see bench/README.md:
  installed  PyTorch as Debian installs it: the BLAS thread variables
             (OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS) removed from the
             environment, OMP_NUM_THREADS = --threads, so the pthread
             OpenBLAS that PyTorch links starts its own --threads workers
             next to PyTorch's OpenMP team.
  best       OPENBLAS_NUM_THREADS = GOTO_NUM_THREADS = 1 and OMP_NUM_THREADS =
             --threads: BLAS runs single-threaded inside PyTorch's own OpenMP
             parallelism (no oversubscription, no spinning BLAS workers),
             torch.set_num_threads(--threads), oneDNN (mkldnn) enabled.
OpenBLAS reads its variables when the library loads, i.e. at `import torch`,
so when the environment does not match the configuration this script
re-executes itself with the right one before importing torch, and it checks
afterwards (openblas_get_num_threads() of the loaded library) that the
setting took effect; the JSON records the variables and what OpenBLAS
reports.  Optional knobs, off by default: --channels-last (NHWC memory
format for the models and conv inputs), --no-mkldnn (oneDNN off).

All rows are float32 on the CPU, in training mode.  The models are written
here from their published descriptions (DARTS search supernet as in
quark0/darts cnn/model_search.py + operations.py; the stand-alone DARTS
network as in cnn/model.py (NetworkCIFAR, AuxiliaryHeadCIFAR, drop-path);
ResNet20 with max-pool downsampling as in the pooling-placement paper); see
the row table below.

How "gflop" is counted (the floating point work of ONE timed repeat):
  * conv / linear layers only: a forward hook records, for every nn.Conv2d,
    MACs = out.numel() * (in_channels / groups) * kh * kw, and for every
    nn.Linear, MACs = batch * in_features * out_features.  Forward FLOP =
    2 * MACs.  Forward + backward is counted as 3x forward (forward, input
    gradient, weight gradient each cost one forward's worth of MACs).
  * Everything else (BN, ReLU, pooling, the MixedOp weighted sums, softmax,
    loss, optimizer) is NOT counted.  So for the models the number is a
    slight under-count of total work in these elementwise parts and a slight
    over-count for the very first conv (its input needs no gradient, so its
    backward only computes the weight gradient, yet it is still counted 3x).
  * Rows whose work is not conv/linear (op_max_pool_3x3, op_avg_pool_3x3,
    op_batch_norm) report "gflop": null.
  * sgemm: exactly 2 * 2048^3 / 1e9 per repeat ("gflops" = that / min time).
  * copy: 128 MiB copied, "gbyte" = bytes read + written (cnas-bench's copy
    row moves the same, 64 MiB per thread).
"""

import argparse
import ctypes
import json
import os
import resource
import statistics
import sys
import time

# ---- the configuration's environment, before torch (and OpenBLAS) load ----

CONFIGS = ('installed', 'best')
BLAS_THREAD_VARS = ('OPENBLAS_NUM_THREADS', 'GOTO_NUM_THREADS')
# what the JSON records of the environment
ENV_RECORDED = BLAS_THREAD_VARS + ('OMP_NUM_THREADS', 'MKL_NUM_THREADS',
                                   'OPENBLAS_CORETYPE', 'OMP_PROC_BIND',
                                   'OMP_PLACES', 'OMP_WAIT_POLICY',
                                   'GOMP_SPINCOUNT', 'LD_PRELOAD')
REEXEC_MARK = 'CNAS_REFERENCE_REEXEC'


def _argv_value(argv, name, default):
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + '='):
            return a.split('=', 1)[1]
    return default


def config_env(config, threads, environ):
    """The environment the configuration runs in (a new dict)."""
    env = dict(environ)
    env['OMP_NUM_THREADS'] = str(threads)
    for v in BLAS_THREAD_VARS:
        if config == 'best':
            env[v] = '1'
        else:
            env.pop(v, None)
    return env


def ensure_config_env(argv):
    """Re-execute this script when the environment does not match --config."""
    if '--list' in argv or '-h' in argv or '--help' in argv:
        return
    config = _argv_value(argv, '--config', 'best')
    threads = _argv_value(argv, '--threads', '2')
    if config not in CONFIGS or not threads.isdigit():
        return                       # argparse reports it
    want = config_env(config, threads, os.environ)
    if want == dict(os.environ):
        return
    if os.environ.get(REEXEC_MARK):
        sys.exit('reference.py: the environment did not take after re-exec')
    want[REEXEC_MARK] = '1'
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)]
              + argv, want)


if __name__ == '__main__':
    ensure_config_env(sys.argv[1:])

import torch  # noqa: E402  (after the environment is settled)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def openblas_report():
    """What the OpenBLAS that torch loaded says about itself (or None)."""
    paths = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and ('blas' in parts[5] or 'lapack' in
                                        parts[5] or 'dnnl' in parts[5]
                                        or 'gomp' in parts[5]):
                    paths.add(parts[5])
    except OSError:
        pass
    rep = {'libraries': sorted(paths)}
    lib = None
    for name in ('libopenblas.so.0', 'libblas.so.3'):
        try:
            cand = ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
            cand.openblas_get_num_threads
            lib = cand
            rep['queried'] = name
            break
        except (OSError, AttributeError):
            continue
    if lib is None:
        return rep
    lib.openblas_get_num_threads.restype = ctypes.c_int
    rep['num_threads'] = lib.openblas_get_num_threads()
    for fn in ('openblas_get_corename', 'openblas_get_config'):
        try:
            f = getattr(lib, fn)
            f.restype = ctypes.c_char_p
            rep[fn[len('openblas_get_'):]] = f().decode(errors='replace').strip()
        except AttributeError:
            pass
    try:
        lib.openblas_get_parallel.restype = ctypes.c_int
        rep['parallel'] = {0: 'sequential', 1: 'pthreads',
                           2: 'openmp'}.get(lib.openblas_get_parallel())
    except AttributeError:
        pass
    return rep


# --------------------------------------------------------------------------
# DARTS operations (cnn/operations.py semantics), affine flag as given.
# --------------------------------------------------------------------------

class ReLUConvBN(nn.Module):
    def __init__(self, c_in, c_out, k, stride, pad, affine):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    """ReLU -> depthwise kxk (dilated) -> pointwise 1x1 -> BN."""

    def __init__(self, c_in, c_out, k, stride, pad, dilation, affine):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, k, stride=stride, padding=pad,
                      dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x):
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked (ReLU, depthwise kxk, pointwise 1x1, BN) stages; only the
    first depthwise conv carries the stride."""

    def __init__(self, c_in, c_out, k, stride, pad, affine):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, k, stride=stride, padding=pad,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, k, stride=1, padding=pad,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x):
        return self.op(x)


class Identity(nn.Module):
    def forward(self, x):
        return x


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        if self.stride == 1:
            return x.mul(0.)
        return x[:, :, ::self.stride, ::self.stride].mul(0.)


class FactorizedReduce(nn.Module):
    """ReLU, then two 1x1 stride-2 convs (second on the input shifted by one
    pixel), concatenated along channels, then BN."""

    def __init__(self, c_in, c_out, affine):
        super().__init__()
        assert c_out % 2 == 0
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0,
                                bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0,
                                bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x):
        x = self.relu(x)
        out = torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1)
        return self.bn(out)


PRIMITIVES = [
    'none',
    'max_pool_3x3',
    'avg_pool_3x3',
    'skip_connect',
    'sep_conv_3x3',
    'sep_conv_5x5',
    'dil_conv_3x3',
    'dil_conv_5x5',
]


def make_op(name, c, stride, affine):
    if name == 'none':
        return Zero(stride)
    if name == 'avg_pool_3x3':
        return nn.AvgPool2d(3, stride=stride, padding=1,
                            count_include_pad=False)
    if name == 'max_pool_3x3':
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == 'skip_connect':
        return Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    if name == 'sep_conv_3x3':
        return SepConv(c, c, 3, stride, 1, affine)
    if name == 'sep_conv_5x5':
        return SepConv(c, c, 5, stride, 2, affine)
    if name == 'dil_conv_3x3':
        return DilConv(c, c, 3, stride, 2, 2, affine)
    if name == 'dil_conv_5x5':
        return DilConv(c, c, 5, stride, 4, 2, affine)
    raise ValueError(name)


# --------------------------------------------------------------------------
# DARTS search supernet (cnn/model_search.py semantics).
# --------------------------------------------------------------------------

class MixedOp(nn.Module):
    def __init__(self, c, stride):
        super().__init__()
        self.ops = nn.ModuleList()
        for prim in PRIMITIVES:
            op = make_op(prim, c, stride, affine=False)
            if 'pool' in prim:
                op = nn.Sequential(op, nn.BatchNorm2d(c, affine=False))
            self.ops.append(op)

    def forward(self, x, weights):
        # Python sum() starts from int 0, as the reference does.
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class SearchCell(nn.Module):
    def __init__(self, steps, multiplier, c_pp, c_p, c, reduction,
                 reduction_prev):
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_pp, c, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(c_pp, c, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0, affine=False)
        self.steps = steps
        self.multiplier = multiplier
        self.edges = nn.ModuleList()
        for i in range(steps):
            for j in range(2 + i):
                stride = 2 if reduction and j < 2 else 1
                self.edges.append(MixedOp(c, stride))

    def forward(self, s0, s1, weights):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self.steps):
            s = sum(self.edges[offset + j](h, weights[offset + j])
                    for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self.multiplier:], dim=1)


class DartsSearchNetwork(nn.Module):
    def __init__(self, c, num_classes, layers, in_channels=3, steps=4,
                 multiplier=4, stem_multiplier=3):
        super().__init__()
        self.steps = steps
        c_curr = stem_multiplier * c
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_curr),
        )
        c_pp, c_p, c_curr = c_curr, c_curr, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            if i in (layers // 3, 2 * layers // 3):
                c_curr *= 2
                reduction = True
            else:
                reduction = False
            self.cells.append(SearchCell(steps, multiplier, c_pp, c_p, c_curr,
                                         reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, multiplier * c_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

        # Architecture parameters: plain leaf tensors (not nn.Parameter), so
        # model.parameters() yields only the weights, as in the reference.
        k = sum(2 + i for i in range(steps))
        self.alphas_normal = (1e-3 * torch.randn(k, len(PRIMITIVES))
                              ).requires_grad_(True)
        self.alphas_reduce = (1e-3 * torch.randn(k, len(PRIMITIVES))
                              ).requires_grad_(True)

    def arch_parameters(self):
        return [self.alphas_normal, self.alphas_reduce]

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            alphas = self.alphas_reduce if cell.reduction else self.alphas_normal
            weights = F.softmax(alphas, dim=-1)
            s0, s1 = s1, cell(s0, s1, weights)
        out = self.global_pooling(s1)
        return self.classifier(out.view(out.size(0), -1))


# --------------------------------------------------------------------------
# ResNet20 with max-pool downsampling (pooling-placement paper, [4,3,3]).
# --------------------------------------------------------------------------

class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        if c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, bias=False),
                nn.BatchNorm2d(c_out),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20Pool(nn.Module):
    # channels of layers 1..9; max-pool 2x2/2 before layers 4 and 7
    CHANNELS = [16, 16, 16, 32, 32, 32, 64, 64, 64]
    POOL_BEFORE = (4, 7)

    def __init__(self, num_classes=10):
        super().__init__()
        layers = [nn.Conv2d(3, 16, 3, padding=1, bias=False),
                  nn.BatchNorm2d(16), nn.ReLU()]
        c = 16
        for idx, c_out in enumerate(self.CHANNELS, start=1):
            if idx in self.POOL_BEFORE:
                layers.append(nn.MaxPool2d(2, stride=2))
            layers.append(BasicBlock(c, c_out))
            c = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.fc(torch.flatten(x, 1))


# --------------------------------------------------------------------------
# Stand-alone DARTS network (cnn/model.py semantics): genotype cells, affine
# BNs, auxiliary head after cell 2*layers/3, drop-path in training.
# --------------------------------------------------------------------------

# DARTS_V2 of the paper (genotypes.py of the reference code), written out.
DARTS_V2 = {
    'normal': [('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0),
               ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0),
               ('skip_connect', 0), ('dil_conv_3x3', 2)],
    'normal_concat': [2, 3, 4, 5],
    'reduce': [('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2),
               ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2),
               ('skip_connect', 2), ('max_pool_3x3', 1)],
    'reduce_concat': [2, 3, 4, 5],
}


def drop_path(x, drop_prob):
    """Zero whole samples with probability drop_prob, scale the rest by
    1/(1-drop_prob) (the reference's utils.drop_path, out of place)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class GenotypeCell(nn.Module):
    def __init__(self, genotype, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_pp, c, affine=True)
        else:
            self.preprocess0 = ReLUConvBN(c_pp, c, 1, 1, 0, affine=True)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0, affine=True)
        key = 'reduce' if reduction else 'normal'
        names, self.indices = zip(*genotype[key])
        self.concat = genotype[key + '_concat']
        self.multiplier = len(self.concat)
        self.steps = len(names) // 2
        self.ops = nn.ModuleList(
            make_op(n, c, 2 if reduction and i < 2 else 1, affine=True)
            for n, i in zip(names, self.indices))

    def forward(self, s0, s1, drop_prob):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(self.steps):
            hs = []
            for k in (2 * i, 2 * i + 1):
                h = self.ops[k](states[self.indices[k]])
                if self.training and drop_prob > 0 and \
                        not isinstance(self.ops[k], Identity):
                    h = drop_path(h, drop_prob)
                hs.append(h)
            states.append(hs[0] + hs[1])
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHeadCIFAR(nn.Module):
    """For 8x8 features: ReLU, 5x5 average pool stride 3 (no padding), 1x1
    conv to 128, BN, ReLU, 2x2 conv to 768, BN, ReLU, linear.  (The
    reference's first ReLU is in place on the cell output; every consumer of
    that output starts with a ReLU, so out of place computes the same.)"""

    def __init__(self, c, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.reshape(x.size(0), -1))


class DartsNetwork(nn.Module):
    """NetworkCIFAR with the stem's input channels as a parameter."""

    def __init__(self, c, num_classes, layers, auxiliary, genotype,
                 in_channels=3, stem_multiplier=3):
        super().__init__()
        self.layers = layers
        self.auxiliary = auxiliary
        self.drop_path_prob = 0.0
        c_curr = stem_multiplier * c
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_curr),
        )
        c_pp, c_p, c_curr = c_curr, c_curr, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        c_aux = None
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell = GenotypeCell(genotype, c_pp, c_p, c_curr, reduction,
                                reduction_prev)
            reduction_prev = reduction
            self.cells.append(cell)
            c_pp, c_p = c_p, cell.multiplier * c_curr
            if i == 2 * layers // 3:
                c_aux = c_p
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadCIFAR(c_aux, num_classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x):
        logits_aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == 2 * self.layers // 3 and self.auxiliary and self.training:
                logits_aux = self.auxiliary_head(s1)
        out = self.global_pooling(s1)
        return self.classifier(out.reshape(out.size(0), -1)), logits_aux


# --------------------------------------------------------------------------
# FLOP counting (see module docstring for the rule).
# --------------------------------------------------------------------------

def forward_macs(module, *inputs):
    """Conv2d/Linear MACs of one forward of `module` on `inputs`."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            total[0] += out.numel() * (m.in_channels // m.groups) * kh * kw
        elif isinstance(m, nn.Linear):
            total[0] += (out.numel() // m.out_features) * m.in_features \
                * m.out_features

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total[0]


def train_gflop(module, *inputs, training=False):
    """forward + backward GFLOP = 3 * 2 * MACs / 1e9, or None if no MACs.
    training=True counts the training forward (an auxiliary head runs only
    there); the state (BN running statistics) is restored afterwards."""
    was_training = module.training
    if training:
        saved = {k: v.clone() for k, v in module.state_dict().items()}
        module.train()
        macs = forward_macs(module, *inputs)
        module.load_state_dict(saved)
    else:
        # counting forward in eval mode keeps BN running stats untouched
        module.eval()
        macs = forward_macs(module, *inputs)
    module.train(was_training)
    return 3 * 2 * macs / 1e9 if macs else None


def count_params(params):
    return sum(p.numel() for p in params)


# --------------------------------------------------------------------------
# Rows.  Each builder returns (step_fn, info_dict).
# --------------------------------------------------------------------------

BATCH_DARTS = 64
BATCH_RESNET = 128
BATCH_OP = 64
NUM_CLASSES = 10

# --channels-last: NHWC memory format for models and their image inputs
CHANNELS_LAST = False


def to_format(t):
    """A model or a 4-d tensor in the chosen memory format."""
    return t.to(memory_format=torch.channels_last) if CHANNELS_LAST else t


def build_darts(c, layers, in_ch, hw, kind):
    model = to_format(DartsSearchNetwork(c, NUM_CLASSES, layers,
                                         in_channels=in_ch))
    model.train()
    weights = list(model.parameters())          # alphas are not included
    alphas = model.arch_parameters()
    criterion = nn.CrossEntropyLoss()

    x = to_format(torch.randn(BATCH_DARTS, in_ch, hw, hw))
    y = torch.randint(0, NUM_CLASSES, (BATCH_DARTS,))

    info = {"params": count_params(weights),
            "arch_params": count_params(alphas),
            "gflop": train_gflop(model, x)}

    if kind == 'weight':
        optimizer = torch.optim.SGD(weights, lr=0.025, momentum=0.9,
                                    weight_decay=3e-4)

        def step():
            optimizer.zero_grad()
            logits = model(x)
            loss = criterion(logits, y)
            loss.backward()
            nn.utils.clip_grad_norm_(weights, 5.0)
            optimizer.step()
    elif kind == 'arch':
        # first-order DARTS (unrolled=False): validation batch, Adam on alphas.
        # backward also fills the weight gradients, exactly as the reference.
        x_val = to_format(torch.randn(BATCH_DARTS, in_ch, hw, hw))
        y_val = torch.randint(0, NUM_CLASSES, (BATCH_DARTS,))
        arch_optimizer = torch.optim.Adam(alphas, lr=3e-4, betas=(0.5, 0.999),
                                          weight_decay=1e-3)

        def step():
            arch_optimizer.zero_grad()
            loss = criterion(model(x_val), y_val)
            loss.backward()
            arch_optimizer.step()
    else:
        raise ValueError(kind)
    return step, info


def build_resnet20():
    model = to_format(ResNet20Pool(NUM_CLASSES))
    model.train()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                                weight_decay=0)
    x = to_format(torch.randn(BATCH_RESNET, 3, 32, 32))
    y = torch.randint(0, NUM_CLASSES, (BATCH_RESNET,))
    info = {"params": count_params(model.parameters()),
            "gflop": train_gflop(model, x)}

    def step():
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    return step, info


def build_op(name):
    c, hw = 16, 32
    if name == 'conv_3x3':
        op = nn.Conv2d(c, c, 3, padding=1, bias=False)
    elif name in ('sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3',
                  'dil_conv_5x5'):
        op = make_op(name, c, 1, affine=False)
    elif name == 'dw_conv_3x3':
        op = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
    elif name == 'max_pool_3x3':
        op = nn.MaxPool2d(3, stride=1, padding=1)
    elif name == 'avg_pool_3x3':
        op = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    elif name == 'batch_norm':
        op = nn.BatchNorm2d(c)
    else:
        raise ValueError(name)
    op = to_format(op)
    op.train()
    params = list(op.parameters())
    x = to_format(torch.randn(BATCH_OP, c, hw, hw)).requires_grad_(True)
    with torch.no_grad():
        out_shape = op(x).shape
    g = to_format(torch.randn(out_shape))
    info = {"params": count_params(params), "gflop": train_gflop(op, x)}

    def step():
        # fresh gradients every repeat (no accumulation, no optimizer)
        x.grad = None
        for p in params:
            p.grad = None
        loss = (op(x) * g).sum()
        loss.backward()
    return step, info


# The DARTS_V2 training-step rows; bench/cnas_bench.c has the same table
# (NET_ROWS).  SGD momentum 0.9, weight decay 3e-4, gradient clip 5 on both.
NET_ROWS = {
    # the retraining network of examples/darts-fashion.ini
    'darts_net_fashion': dict(c=8, layers=5, in_ch=1, hw=28, batch=64,
                              drop_path=0.0, aux_weight=0.0, lr=0.05),
    # the paper's CIFAR-10 evaluation network
    'darts_v2_c36': dict(c=36, layers=20, in_ch=3, hw=32, batch=96,
                         drop_path=0.2, aux_weight=0.4, lr=0.025),
}


def build_darts_net(name):
    r = NET_ROWS[name]
    aux = r['aux_weight'] > 0
    model = to_format(DartsNetwork(r['c'], NUM_CLASSES, r['layers'], aux,
                                   DARTS_V2, in_channels=r['in_ch']))
    model.train()
    model.drop_path_prob = r['drop_path']
    weights = list(model.parameters())
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(weights, lr=r['lr'], momentum=0.9,
                                weight_decay=3e-4)
    x = to_format(torch.randn(r['batch'], r['in_ch'], r['hw'], r['hw']))
    y = torch.randint(0, NUM_CLASSES, (r['batch'],))
    info = {"params": count_params(weights),
            # as the reference's train.py prints it: without the aux head
            "params_no_aux": sum(p.numel() for n, p in model.named_parameters()
                                 if 'auxiliary' not in n),
            "gflop": train_gflop(model, x, training=True),
            "batch": r['batch'], "init_channels": r['c'],
            "layers": r['layers'], "drop_path": r['drop_path'],
            "aux_weight": r['aux_weight']}

    def step():
        optimizer.zero_grad()
        logits, logits_aux = model(x)
        loss = criterion(logits, y)
        if logits_aux is not None:
            loss = loss + r['aux_weight'] * criterion(logits_aux, y)
        loss.backward()
        nn.utils.clip_grad_norm_(weights, 5.0)
        optimizer.step()
    return step, info


SGEMM_N = 2048


def build_sgemm():
    a = torch.randn(SGEMM_N, SGEMM_N)
    b = torch.randn(SGEMM_N, SGEMM_N)
    c = torch.empty(SGEMM_N, SGEMM_N)

    def step():
        torch.mm(a, b, out=c)
    return step, {"params": 0, "gflop": 2 * SGEMM_N ** 3 / 1e9}


COPY_BYTES = 128 << 20


def build_copy():
    # 128 MiB copied with PyTorch's threads, as cnas copies 64 MiB per thread at 2
    src = torch.ones(COPY_BYTES // 4)
    dst = torch.zeros(COPY_BYTES // 4)

    def step():
        dst.copy_(src)
    return step, {"params": 0, "gbyte": 2 * COPY_BYTES / 1e9}


ROWS = {
    'darts_c16_weight': lambda: build_darts(16, 8, 3, 32, 'weight'),
    'darts_c16_arch': lambda: build_darts(16, 8, 3, 32, 'arch'),
    'darts_c8_weight': lambda: build_darts(8, 5, 1, 28, 'weight'),
    'darts_c8_arch': lambda: build_darts(8, 5, 1, 28, 'arch'),
    'resnet20_train': build_resnet20,
    'darts_net_fashion': lambda: build_darts_net('darts_net_fashion'),
    'darts_v2_c36': lambda: build_darts_net('darts_v2_c36'),
    'op_conv_3x3': lambda: build_op('conv_3x3'),
    'op_dw_conv_3x3': lambda: build_op('dw_conv_3x3'),
    'op_sep_conv_3x3': lambda: build_op('sep_conv_3x3'),
    'op_sep_conv_5x5': lambda: build_op('sep_conv_5x5'),
    'op_dil_conv_3x3': lambda: build_op('dil_conv_3x3'),
    'op_dil_conv_5x5': lambda: build_op('dil_conv_5x5'),
    'op_max_pool_3x3': lambda: build_op('max_pool_3x3'),
    'op_avg_pool_3x3': lambda: build_op('avg_pool_3x3'),
    'op_batch_norm': lambda: build_op('batch_norm'),
    'sgemm': build_sgemm,
    'copy': build_copy,
}


def check_config(config, threads, blas):
    """Problems with the configuration as it took effect (empty: fine)."""
    problems = []
    if torch.get_num_threads() != threads:
        problems.append('torch.get_num_threads() = %d, expected %d'
                        % (torch.get_num_threads(), threads))
    if config == 'best':
        for v in BLAS_THREAD_VARS:
            if os.environ.get(v) != '1':
                problems.append('%s = %r, expected 1' % (v, os.environ.get(v)))
        if blas.get('num_threads') not in (None, 1):
            problems.append('OpenBLAS runs %s threads, expected 1'
                            % blas['num_threads'])
        if 'num_threads' not in blas:
            problems.append('cannot query the loaded OpenBLAS')
        if not torch.backends.mkldnn.is_available():
            problems.append('oneDNN (mkldnn) is not available')
    return problems


def main(argv=None):
    global CHANNELS_LAST
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--row')
    ap.add_argument('--config', choices=CONFIGS, default='best',
                    help='installed or best (default: %(default)s)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--repeats', type=int, default=10)
    ap.add_argument('--channels-last', action='store_true',
                    help='NHWC memory format for models and image inputs')
    ap.add_argument('--no-mkldnn', action='store_true',
                    help='turn oneDNN off (torch.backends.mkldnn.enabled)')
    ap.add_argument('--list', action='store_true')
    args = ap.parse_args(argv)

    if args.list:
        for name in ROWS:
            print(name)
        return 0
    if args.row not in ROWS:
        ap.error('unknown or missing --row %r (use --list)' % (args.row,))
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        ap.error('need --repeats >= 1, --warmup >= 0, --threads >= 1')

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.backends.mkldnn.enabled = not args.no_mkldnn
    CHANNELS_LAST = args.channels_last
    torch.manual_seed(0)

    blas = openblas_report()
    problems = check_config(args.config, args.threads, blas)
    if problems:
        print('reference.py: configuration %s did not take effect: %s'
              % (args.config, '; '.join(problems)), file=sys.stderr)
        return 3

    step, info = ROWS[args.row]()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)

    med = statistics.median(times)
    mn = min(times)
    result = {
        "impl": "pytorch",
        "row": args.row,
        "config": args.config,
        "median_ms": med * 1e3,
        "min_ms": mn * 1e3,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        / 1024.0,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "knobs": {"channels_last": args.channels_last,
                  "no_mkldnn": args.no_mkldnn},
        "env": {v: os.environ.get(v) for v in ENV_RECORDED},
        "openblas": blas,
        "repeats": args.repeats,
        "warmup": args.warmup,
    }
    result.update(info)
    if args.row == 'sgemm':
        result["gflops"] = info["gflop"] / mn
    print(json.dumps(result), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
