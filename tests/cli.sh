#!/usr/bin/env bash
# The cnas command line end to end: exit codes, messages, a real search on generated
# data, retraining its result, and exact resume after kill -9.
# Usage: cli.sh CNAS_BINARY BROKEN_PLUGIN_DIR EXAMPLES_DIR
# ABI10_PLUGIN_DIR: the directory of the op plugin built against the frozen ABI 1.0 headers.
set -u
cnas=$1
broken=$2
examples=$3
abi10=${ABI10_PLUGIN_DIR:-$broken/../abi10}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out=$("$cnas" 2>&1); check "no command is a usage error" 2 $? "usage: cnas" "$out"
out=$("$cnas" frobnicate 2>&1); check "an unknown command is a usage error" 2 $? "unknown command 'frobnicate'" "$out"
out=$("$cnas" --bogus plugins 2>&1); check "an unknown option is a usage error" 2 $? "unknown option '--bogus'" "$out"
out=$("$cnas" search 2>&1); check "a missing argument is a usage error" 2 $? "expected 1 argument" "$out"
out=$("$cnas" --version 2>&1); check "--version" 0 $? "^cnas [0-9]+\.[0-9]+\.[0-9]+ \(plugin ABI 1\.3\)" "$out"
out=$("$cnas" --help 2>&1); check "--help" 0 $? "resume RUN_DIR" "$out"
out=$("$cnas" plugins 2>&1); check "plugins lists the built-in plugins" 0 $? "strategy: darts" "$out"
grep -q "dataset: idx" <<<"$out" && grep -q "space: darts_cell" <<<"$out" && grep -q "op: none, max_pool_3x3" <<<"$out"
check "plugins lists every kind" 0 $? "" ""
out=$("$cnas" describe darts 2>&1); check "describe shows keys, defaults and help" 0 $? "arch_learning_rate +float +default 3e-4" "$out"
out=$("$cnas" describe nothing_like_it 2>&1); check "describe of an unknown name" 2 $? "no component named 'nothing_like_it'" "$out"
out=$("$cnas" --plugin-path "$broken/broken_abi_major.so" plugins 2>&1); check "a broken plugin on the path is exit 2" 2 $? "broken_abi_major.so.*majors must match" "$out"

for f in "$examples"/*.ini; do
    out=$("$cnas" check "$f" 2>&1); check "example $(basename "$f") is a valid configuration" 0 $? "configuration OK" "$out"
done
# The example at 8 x 8 images instead of 16 x 16: the same code paths at a quarter of the
# work (this suite runs a dozen searches, under AddressSanitizer too).
sed 's/^size = 16$/size = 8/' "$examples/darts-synthetic.ini" > good.ini
grep -q "^size = 8$" good.ini; check "the test configuration has 8 x 8 images" 0 $? "" ""
out=$("$cnas" check good.ini 2>&1); check "check accepts a good configuration" 0 $? "configuration OK" "$out"
out=$("$cnas" --plugin-path "$broken" plugins 2>/dev/null); check "plugins still lists the good plugins of a directory with broken ones" 2 $? "broken_good 1\.0\.0" "$out"
out=$("$cnas" --plugin-path "$broken" plugins 2>&1 >/dev/null); check "plugins names each broken file on its own line" 2 $? "^cnas plugins: plugin .*broken_init_fails\.so: initialisation failed" "$out"
out=$(CNAS_PLUGIN_PATH="$broken/broken_good.so:$broken/broken_good_twin.so" "$cnas" describe broken_data 2>&1); check "describe of an ambiguous short name" 2 $? "ambiguous: broken_good/broken_data, broken_good_twin/broken_data" "$out"
out=$(CNAS_PLUGIN_PATH="$broken/broken_good.so" "$cnas" describe broken_good/broken_data 2>&1); check "CNAS_PLUGIN_PATH adds plugins" 0 $? "broken_good/broken_data \(dataset\)" "$out"
out=$("$cnas" describe train 2>&1); check "describe shows a core section" 0 $? "epochs +int +default 50, range \[1, 100000\]" "$out"
printf '[run]\nsed = 1\nthreads = many\n[plugins]\nload = %s/broken_good.so\n[dataset]\nuse = broken_data\n[trian]\nepochs = 1\n' "$broken" > many.ini
out=$("$cnas" check many.ini 2>&1); check "every error of a file is reported" 2 $? "" "$out"
grep -q "many.ini: unknown section \[trian\]; did you mean \[train\]?" <<<"$out" &&
    grep -q "many.ini \[run\] key 'sed': unknown key; did you mean 'seed'?" <<<"$out" &&
    grep -q "many.ini \[run\] key 'threads' = 'many': expected an integer between 0 and 1024" <<<"$out"
check "each error on its own line, naming file, section, key and value" 0 $? "" ""
sed -i '/^sed\|^threads\|^\[trian\]\|^epochs/d' many.ini
out=$("$cnas" -v check many.ini 2>&1); check "[plugins] load in the configuration adds plugins" 0 $? "dataset broken_good/broken_data" "$out"
grep -q "^seed = 2  ; default" <<<"$out"; check "check -v prints the resolved configuration with its defaults" 0 $? "" ""
out=$("$cnas" search good.ini --set strategy.use=nope 2>&1); check "search with a missing strategy is exit 2" 2 $? "\[strategy\] use = nope: no strategy component named 'nope' \(loaded: .*darts" "$out"
out=$("$cnas" train good.ini 2>&1); check "train without --arch is exit 2" 2 $? "needs --arch" "$out"
printf '[run]\nseed = 1\n[dataset]\nuse = synthetic\n[space]\nuse = darts_cell\nlayres = 3\n[strategy]\nuse = darts\n' > typo.ini
out=$("$cnas" check typo.ini 2>&1); check "an unknown key is exit 2 with a suggestion" 2 $? "typo.ini \[space\] key 'layres': unknown key; did you mean 'layers'\?" "$out"
out=$("$cnas" check good.ini --set train.epochs=ten 2>&1); check "a wrong type from --set is exit 2" 2 $? "key 'epochs' = 'ten': expected an integer" "$out"
out=$("$cnas" check good.ini --set strategy.use=nope 2>&1); check "an unknown component is exit 2" 2 $? "no strategy component named 'nope'" "$out"
out=$("$cnas" check missing.ini 2>&1); check "a missing configuration file is exit 2" 2 $? "missing.ini: cannot read" "$out"
out=$("$cnas" data good.ini --grid grid.png 2>&1); check "data summarises the dataset" 0 $? "per-class counts" "$out"
head -c 8 grid.png | od -c | grep -q "P   N   G"; check "data writes a PNG grid" 0 $? "" ""
printf '[dataset]\nuse = idx\npath = %s/nowhere\n' "$work" > baddata.ini
out=$("$cnas" data baddata.ini 2>&1); check "a missing dataset file is exit 2 naming it" 2 $? "nowhere/train-images-idx3-ubyte" "$out"

# A real search, then retraining its answer.
out=$("$cnas" -q search good.ini --set run.out_dir=runs 2>&1); check "search runs to the end" 0 $? "architecture: Genotype\(normal=" "$out"
for f in arch.txt arch.json normal.dot reduce.dot config.ini manifest.json steps.csv epochs.csv alpha.jsonl log.txt checkpoint.ckpt; do
    [ -s "runs/darts-synthetic/$f" ] || { echo "FAIL run directory lacks $f"; fail=$((fail + 1)); }
done
grep -q '"blas_core"' runs/darts-synthetic/manifest.json; check "the manifest records the BLAS core" 0 $? "" ""
out=$("$cnas" -q search good.ini --set run.out_dir=runs --set run.name=second --set strategy.order=2 --set train.epochs=1 2>&1)
check "a second-order search runs through the plugin" 0 $? "architecture: Genotype" "$out"
out=$("$cnas" -q train good.ini --set run.out_dir=runs --set train.epochs=1 --arch runs/darts-synthetic/arch.txt 2>&1)
check "train retrains the found architecture" 0 $? "test accuracy: 0\.[0-9]+" "$out"
# test_per_class.csv: a row per class whose counts add up to the reported test accuracy.
acc=$(grep -oE "test accuracy: 0\.[0-9]+" <<<"$out" | grep -oE "0\.[0-9]+")
pc=$(awk -F, -v a="$acc" 'NR > 1 { n += $3; c += $4; r++ } END { d = c / n - a; print r, (d < 1e-4 && d > -1e-4) }' runs/darts-synthetic-train/test_per_class.csv)
check "test_per_class.csv: one row per class adding up to the test accuracy" 0 $? "^4 1$" "$pc"
printf "Genotype(normal=[('sep_conv_9x9', 0)])\n" > bad_arch.txt
out=$("$cnas" -q train good.ini --set run.out_dir=runs --arch bad_arch.txt 2>&1); check "a bad architecture is exit 2" 2 $? "sep_conv_9x9" "$out"
out=$("$cnas" resume "$work/nowhere" 2>&1); check "resume of a non-run is exit 2" 2 $? "not a run directory" "$out"

# Exact resume: kill -9 after the first checkpoint, resume, compare with an uninterrupted run.
"$cnas" -q search good.ini --set run.out_dir=runs --set run.name=full --set train.epochs=3 >/dev/null 2>&1
"$cnas" -q search good.ini --set run.out_dir=runs --set run.name=killed --set train.epochs=3 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f runs/killed/checkpoint.ckpt ] && break; sleep 0.05; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
"$cnas" -q resume runs/killed >/dev/null 2>&1; check "resume after kill -9 finishes" 0 $? "" ""
for f in arch.txt alpha.jsonl steps.csv epochs.csv; do
    cmp -s runs/full/$f runs/killed/$f; check "resumed $f equals the uninterrupted run's" 0 $? "" ""
done
# Ctrl-C: the run stops after its step with a checkpoint, says how to resume, and the
# resumed run ends where the uninterrupted one did.
"$cnas" -q search good.ini --set run.out_dir=runs --set run.name=sigint --set train.epochs=3 >sigint.out 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -s runs/sigint/steps.csv ] && break; sleep 0.05; done
kill -INT $pid 2>/dev/null; wait $pid; code=$?
check "Ctrl-C stops a search with exit 1" 1 $code "continue with: cnas resume runs/sigint" "$(cat sigint.out)"
[ -f runs/sigint/checkpoint.ckpt ]; check "Ctrl-C leaves a checkpoint" 0 $? "" ""
"$cnas" -q resume runs/sigint >/dev/null 2>&1; check "a search stopped by Ctrl-C resumes" 0 $? "" ""
for f in arch.txt alpha.jsonl steps.csv epochs.csv; do
    cmp -s runs/full/$f runs/sigint/$f; check "after Ctrl-C and resume, $f equals the uninterrupted run's" 0 $? "" ""
done
# The same for retraining: kill -9 after a checkpoint, resume, compare.
"$cnas" -q train good.ini --set run.out_dir=runs --set run.name=tfull --set train.epochs=3 --arch runs/darts-synthetic/arch.txt >/dev/null 2>&1
"$cnas" -q train good.ini --set run.out_dir=runs --set run.name=tkilled --set train.epochs=3 --arch runs/darts-synthetic/arch.txt >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f runs/tkilled-train/checkpoint.ckpt ] && break; sleep 0.05; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
"$cnas" -q resume runs/tkilled-train >/dev/null 2>&1; check "a retraining resumes after kill -9" 0 $? "" ""
for f in steps.csv epochs.csv test_per_class.csv; do
    cmp -s runs/tfull-train/$f runs/tkilled-train/$f; check "resumed retraining $f equals the uninterrupted run's" 0 $? "" ""
done
sed -i 's/^seed = 2$/seed = 3/' runs/killed/config.ini
out=$("$cnas" resume runs/killed 2>&1); check "resume refuses a changed configuration" 2 $? "another configuration.*seed" "$out"

# Ranking quality: a mixture search, every architecture trained stand-alone, their correlation.
cat > pool.ini <<'INI'
[run]
name = pool
out_dir = runs
threads = 2
[dataset]
use = synthetic
classes = 4
n_train = 192
n_test = 64
size = 8
[data]
augment_val = false
[space]
use = resnet20_pool
channels = 2,2,4,4
pools = 1
[strategy]
use = balanced_mixture
supernets = 2
[train]
epochs = 2
batch_size = 32
lr = 0.1
weight_decay = 0
grad_clip = 0
INI
out=$("$cnas" -q search pool.ini 2>&1); check "a balanced-mixture search writes its ranking" 0 $? "architecture: \[" "$out"
for f in ranking.csv ranking.json pma.svg; do
    [ -s "runs/pool/$f" ] || { echo "FAIL mixture run directory lacks $f"; fail=$((fail + 1)); }
done
out=$("$cnas" -q standalone pool.ini 2>&1); check "standalone trains every architecture" 0 $? "\[3/3\] \[3,1\] +test accuracy 0\.[0-9]+" "$out"
[ "$(wc -l < runs/pool-standalone/standalone.csv)" = 4 ] && grep -q '^1,"\[2,2\]",0\.[0-9]*,' runs/pool-standalone/standalone.csv
check "standalone.csv holds one row per architecture" 0 $? "" ""
cp runs/pool-standalone/standalone.csv full.csv
rm runs/pool-standalone/001/result.txt
out=$("$cnas" -q resume runs/pool-standalone 2>&1); check "resume of a standalone run trains only what is missing" 0 $? "\[2/3\] \[2,2\]" "$out"
! grep -q "\[1/3\]" <<<"$out"; check "resume skips finished architectures" 0 $? "" ""
cut -d, -f1-3 full.csv > a.txt; cut -d, -f1-3 runs/pool-standalone/standalone.csv > b.txt
cmp -s a.txt b.txt; check "the resumed architecture keeps its accuracy" 0 $? "" ""
out=$("$cnas" -q standalone pool.ini --only 0,2 2>&1); check "standalone --only trains a subset" 0 $? "training 2 architectures" "$out"
out=$("$cnas" -q standalone pool.ini --only 7 2>&1); check "standalone --only out of range is exit 2" 2 $? "index 7 is outside 0\.\.2" "$out"
out=$("$cnas" correlate runs/pool/ranking.csv runs/pool-standalone/standalone.csv 2>&1)
check "correlate reports Kendall tau and Spearman rho" 0 $? "Kendall tau: -?[01]\.[0-9]{4}" "$out"
grep -q "matched: 3 architectures by 'arch'" <<<"$out" && grep -q "Spearman rho: " <<<"$out"
check "correlate matches rows by architecture" 0 $? "" ""
printf 'arch,score\nx,1\ny,2\nz,3\n' > s1.csv; printf 'name,arch,acc\nq,z,0.1\nr,y,0.2\ns,x,0.3\n' > s2.csv
out=$("$cnas" correlate s1.csv s2.csv 2>&1); check "reversed rankings correlate at -1" 0 $? "Kendall tau: -1\.0000" "$out"
out=$("$cnas" correlate s1.csv s2.csv:name 2>&1); check "a non-numeric column is exit 2 naming line and value" 2 $? "s2.csv line 2 column 'name': 'q' is not a number" "$out"
out=$("$cnas" correlate s1.csv s2.csv --key id 2>&1); check "a missing key column is exit 2" 2 $? "s1.csv: no column 'id'" "$out"

# Plugin ABI 1.1: a plugin built against the frozen 1.0 headers loads and runs; a vtable
# without a required member is refused naming the file, the component and the member.
out=$("$cnas" --plugin-path "$abi10" plugins 2>&1); check "a plugin built for ABI 1.0 loads" 0 $? "^abi10 1\.0\.0 \(ABI 1\.0," "$out"
out=$("$cnas" -q --plugin-path "$abi10" search "$examples/darts-synthetic.ini" --set run.out_dir=runs --set run.name=abi10 \
      --set train.epochs=1 --set space.candidates=none,skip_connect,abi10_relu,sep_conv_3x3 2>&1)
check "a DARTS search uses the ABI 1.0 op as a candidate" 0 $? "architecture: Genotype" "$out"
out=$("$cnas" --plugin-path "$broken/broken_space_no_forward.so" plugins 2>&1)
check "a space without forward is refused" 2 $? "broken_space_no_forward\.so: space 'broken_space' has no 'forward' \(required\)" "$out"
out=$("$cnas" --plugin-path "$broken/broken_strategy_short.so" plugins 2>&1)
check "a strategy vtable too small for load is refused" 2 $? "broken_strategy_short\.so: strategy 'broken_strategy' has a vtable of [0-9]+ bytes, too small to hold 'load'" "$out"

# Resume reuses the plugin search path of the original run: a search with an extra plugin
# directory (given relative to the working directory) killed with kill -9, resumed from
# elsewhere without --plugin-path.
ln -s "$abi10" extra
"$cnas" -q --plugin-path extra --plugin-path nowhere search good.ini --set run.out_dir=runs --set run.name=pathkill \
    --set train.epochs=4 --set space.candidates=none,skip_connect,abi10_relu,sep_conv_3x3 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f runs/pathkill/checkpoint.ckpt ] && break; sleep 0.05; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
[ ! -f runs/pathkill/arch.txt ]; check "the search with an extra plugin directory was killed mid-run" 0 $? "" ""
grep -qx "$(cd "$abi10" && pwd -P)" runs/pathkill/plugin_path.txt; check "the run records its plugin path, absolute" 0 $? "" ""
grep -q '"plugin_path": \[".*abi10"\]' runs/pathkill/manifest.json; check "the manifest lists the plugin path" 0 $? "" ""
! grep -q nowhere runs/pathkill/plugin_path.txt; check "a plugin directory that does not exist is not recorded" 0 $? "" ""
cp -r runs/pathkill runs/pathlost
rm runs/pathlost/plugin_path.txt
out=$(cd / && "$cnas" -q resume "$work/runs/pathlost" 2>&1); check "without the recorded path the op is missing" 2 $? "no op component named 'abi10_relu'" "$out"
out=$(cd / && "$cnas" resume "$work/runs/pathkill" 2>&1); check "resume without --plugin-path finds the run's plugins" 0 $? "architecture: Genotype" "$out"
! grep -q nowhere <<<"$out"; check "the resume does not repeat the warning about the missing directory" 0 $? "" "$out"
grep -q "plugins are searched first in $(cd "$abi10" && pwd -P), recorded by the run" <<<"$out"
check "resume says which recorded plugin directory comes first" 0 $? "" "$out"

# cnas info: an architecture's parameters, multiply-adds, per-cell costs, training memory and
# drawings; --input/--classes stand in for a dataset that is not on the machine (CIFAR-10).
cat > darts_v2.txt <<'ARCH'
Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])
ARCH
out=$("$cnas" info "$examples/darts-cifar10.ini" --arch darts_v2.txt --input 3,32,32 --classes 10 --out drawings 2>&1)
check "info counts DARTS_V2 at C = 36, 20 cells as the reference does" 0 $? "^parameters: 3,349,342 \(3\.35 M\)" "$out"
grep -q "^per cell" <<<"$out" && grep -qE "^ +19 +14 +8 " <<<"$out" && grep -q "^training memory: about" <<<"$out"
check "info lists the cost of each cell's chosen operations and the training memory" 0 $? "" ""
[ -s drawings/normal.dot ] && [ -s drawings/reduce.dot ]; check "info --out writes the drawings" 0 $? "" ""
out=$("$cnas" info good.ini --arch darts_v2.txt --json --set space.init_channels=36 --set space.layers=20 \
      --set space.auxiliary=true --set dataset.size=32 --set dataset.channels=3 --set dataset.classes=10 2>&1)
check "info --json (input shape from the dataset)" 0 $? "" "$out"
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["params"] == 3349342 and d["params_all"] > d["params"] and len(d["cells"]) == 20 and d["input"]["from"] == "dataset", d' <<<"$out"
check "info --json is one JSON object with the same count" 0 $? "" "$out"
printf '[dataset]\nuse = synthetic\nclasses = 10\nsize = 16\n[space]\nuse = nb201_cell\ninit_channels = 8\ncells_per_stage = 2\n' > nb201.ini
out=$(echo '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|' |
      "$cnas" info nb201.ini --arch - 2>&1)
check "info reads an nb201_cell architecture from stdin" 0 $? "^parameters: [0-9,]+ " "$out"
out=$("$cnas" info "$examples/darts-cifar10.ini" --arch bad_arch.txt --input 3,32,32 --classes 10 2>&1)
check "info of a bad architecture is exit 2 naming the file" 2 $? "^cnas info: bad_arch\.txt: .*sep_conv_9x9" "$out"
out=$("$cnas" info "$examples/darts-cifar10.ini" --arch darts_v2.txt 2>&1)
check "info without the dataset's files says how to do without them" 2 $? "--input C,H,W --classes K" "$out"

# A search whose supernet cannot fit in memory is refused before anything is built, with
# the estimate (769 GiB; machines with that much memory skip the check of the refusal).
if [ "$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)" -lt 700000000 ]; then
    out=$("$cnas" search good.ini --set run.out_dir=runs --set run.name=huge --set space.init_channels=1024 \
          --set space.layers=100 2>&1)
    check "a supernet that cannot fit in memory is refused" 2 $? "this search needs an estimated [0-9.]+ [GTP]iB of memory .*parameters of the supernet" "$out"
    [ ! -e runs/huge ]; check "the refused search leaves no run directory" 0 $? "" ""
    # The estimate follows the strategy's memory model (ABI 1.3): DARTS runs the mixture of one
    # supernet, K-shot single paths of k supernets; a large batch makes the activations count.
    big="--set run.out_dir=runs --set space.init_channels=64 --set train.batch_size=100000"
    out_d=$("$cnas" search good.ini $big --set run.name=huge_d 2>&1)
    check "a DARTS search is estimated on the mixture" 2 $? "step of 100000 images and an evaluation pass of 256, every candidate mixed" "$out_d"
    out_k=$("$cnas" search good.ini $big --set run.name=huge_k --set strategy.use=kshot --set strategy.k=4 2>&1)
    check "a K-shot search is estimated on one path of 4 supernets" 2 $? "momentum, 4 supernets and 3 weight copies\) and .*, one sampled path\)" "$out_k"
    python3 - "$out_d" "$out_k" <<'PY'
import re, sys
unit = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
def part(text, what):
    m = re.search(r"([0-9.]+) ([KMGT]iB) " + what, text)
    return float(m.group(1)) * unit[m.group(2)]
acts = [part(t, "of activations") for t in sys.argv[1:]]
weights = [part(t, "for weights") for t in sys.argv[1:]]
# One path holds far less than every candidate at once; four supernets and three copies are
# 4 + 3/3 = 5 times one supernet's 12 bytes a parameter.
assert acts[1] < 0.7 * acts[0], acts
assert abs(weights[1] / weights[0] - 5.0) < 0.1, weights
PY
    check "K-shot's estimate has fewer activations and five times the weights of DARTS's" 0 $? "" ""
fi

# cnas info without --arch describes the search: the supernet and the memory, with the
# strategy's memory model (the same estimate `cnas search` checks).
out=$("$cnas" info good.ini 2>&1)
check "info without --arch describes the search" 0 $? "^search memory: about .*every candidate mixed" "$out"
grep -q "^search: strategy darts over space darts_cell; input 1 x 8 x 8, 4 classes" <<<"$out"
check "info names the strategy, the space and the input" 0 $? "" "$out"
d=$("$cnas" info good.ini --json 2>&1) && k=$("$cnas" info good.ini --json --set strategy.use=kshot --set strategy.k=4 2>&1)
check "info --json of two searches" 0 $? "" "$d$k"
python3 - "$d" "$k" <<'PY'
import json, sys
d, k = (json.loads(a) for a in sys.argv[1:])
assert d["supernet_params"] == k["supernet_params"] > 0, (d, k)
assert not d["memory"]["single_path"] and k["memory"]["single_path"], (d, k)
assert k["memory"]["supernets"] == 4 and k["memory"]["weight_copies"] == 3, k
assert k["memory"]["activation_bytes"] < d["memory"]["activation_bytes"], (d, k)
assert k["memory"]["param_bytes"] > 4 * d["memory"]["param_bytes"], (d, k)
PY
check "info --json: K-shot's search has the supernet of DARTS's, fewer activations, 4 supernets" 0 $? "" ""
printf '[dataset]\nuse = synthetic\n[space]\nuse = darts_cell\n' > nostrategy.ini
out=$("$cnas" info nostrategy.ini 2>&1)
check "info without --arch or a strategy is exit 2 saying what to give" 2 $? "no \[strategy\] section: describe an architecture with --arch FILE" "$out"

# A strategy's memory model outside its ranges is a plugin error naming it, before anything runs.
out=$("$cnas" --plugin-path "$broken/broken_strategy_memory.so" search good.ini --set run.out_dir=runs \
      --set run.name=badmem --set strategy.use=broken_memory 2>&1)
check "a strategy describing its memory as no supernet is refused" 2 $? "strategy 'broken_memory' \(plugin broken_strategy_memory\) describes its memory as 0 supernets" "$out"
[ ! -e runs/badmem ]; check "the refused search leaves no run directory" 0 $? "" ""

# Damaged plugin files (a copy cut short, a forged segment size) are rejected before dlopen
# maps them, each named, and the host does not crash.
real_so=$(dirname "$cnas")/../plugins/ops/darts_ops/darts_ops.so
mkdir damaged
head -c 1000 "$real_so" > damaged/cut1000.so
head -c 20000 "$real_so" > damaged/cut20000.so
cp "$real_so" damaged/forged.so
printf '\377' | dd of=damaged/forged.so bs=1 seek=101 conv=notrunc 2>/dev/null # first segment's p_filesz
out=$("$cnas" --plugin-path damaged plugins 2>&1); check "plugins with damaged files on the path is exit 2" 2 $? "" "$out"
for f in cut1000 cut20000 forged; do
    grep -q "^cnas plugins: plugin .*damaged/$f\.so: truncated or corrupt ELF file (" <<<"$out"
    check "the damaged $f.so is named as truncated or corrupt" 0 $? "" "$out"
done
grep -q "space: darts_cell" <<<"$out"; check "the good plugins still load next to damaged ones" 0 $? "" "$out"

summary
