#!/usr/bin/env bash
# GOLD-NAS end to end through the cnas binary (docs/gold_nas.md): a search on the open
# space gold_cell that prunes, records snapshots and writes the front (pareto.csv / .json /
# .svg, snapshot_<i>.txt, ranking.tsv); FLOPs never rise; warmup_epochs defers pruning and
# lambda; a snapshot retrains with `cnas train --arch`; a run killed with kill -9 mid-epoch
# and resumed writes the same files byte for byte as one never interrupted.
# Usage: gold_nas.sh CNAS_BINARY PLUGIN_DIR
# With CNAS_TEST_QUICK set (the sanitizer build) the searches are shorter.
set -u
cnas=$1
plugins=$2
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

epochs=12
n_train=512
if [ -n "${CNAS_TEST_QUICK:-}" ]; then epochs=6; n_train=256; fi
cat >gold.ini <<INI
[run]
name = gold
seed = 2
threads = 2

[dataset]
use = synthetic
classes = 4
n_train = $n_train
n_test = 64
size = 16

[data]
train_portion = 0.75
; epochs are windows of the shuffled passes (they straddle passes): resume must hold
epoch_samples = $((n_train * 9 / 16))

[space]
use = gold_cell
init_channels = 4
layers = 3

[strategy]
use = gold_nas
lambda0 = 0.01
stable_rounds = 1

[train]
epochs = $epochs
batch_size = 32
lr = 0.01
lr_schedule = constant

[checkpoint]
every_steps = 1

[retrain]
epochs = 1
INI

search() { # run_name [--set key=value ...]
    local name=$1
    shift
    "$cnas" -q search gold.ini --set run.out_dir=runs --set run.name="$name" "$@"
}

out=$("$cnas" describe gold_nas 2>&1)
check "describe gold_nas shows its keys" 0 $? "xi_max" "$out"

out=$(search g1 2>&1)
check "a GOLD-NAS search runs to the end" 0 $? "" "$out"
r=runs/g1
for f in pareto.csv pareto.json pareto.svg pruned.csv snapshot_0.txt arch.txt ranking.tsv; do
    [ -s "$r/$f" ]
    check "it writes $f" 0 $?
done
rows=$(($(wc -l <"$r/pareto.csv") - 1))
[ "$rows" -ge 1 ] && [ -f "$r/snapshot_$((rows - 1)).txt" ] && [ ! -f "$r/snapshot_$rows.txt" ]
check "one snapshot file per row of pareto.csv ($rows)" 0 $?
awk -F, 'NR > 1 && $10 == 1 { n++ } END { exit !(n >= 1) }' "$r/pareto.csv"
check "pareto.csv marks the non-dominated snapshots" 0 $?
python3 -c "import json,sys; d=json.load(open('$r/pareto.json')); assert len(d['snapshots']) == $rows" 2>/dev/null ||
    grep -q '"front": \[' "$r/pareto.json"
check "pareto.json holds every snapshot and the front" 0 $?
grep -q '</svg>' "$r/pareto.svg"
check "pareto.svg is a complete drawing" 0 $?
# The FLOPs of the search's architecture never rise (epochs.csv's mflops column).
col=$(head -1 "$r/epochs.csv" | tr ',' '\n' | grep -nx mflops | cut -d: -f1)
[ -n "$col" ] && awk -F, -v c="$col" 'NR > 1 { if (NR > 2 && $c > prev + 1e-9) bad = 1; prev = $c } END { exit bad }' "$r/epochs.csv"
check "FLOPs never increase over the epochs" 0 $?
[ "$(awk -F, 'NR > 1' "$r/pruned.csv" | wc -l)" -ge 1 ]
check "operators were pruned (pruned.csv)" 0 $?

# warmup_epochs defers the schedule: with a warm-up one epoch past the first pruning of the
# search above, nothing is pruned before the warm-up ends and lambda stays 0 through it.
first0=$(awk -F, 'NR > 1 { print $1; exit }' "$r/pruned.csv")
warm=$((${first0:-0} + 1))
out=$(search gw --set strategy.warmup_epochs=$warm --set strategy.prune_lr=0.002 2>&1)
check "a search with warmup_epochs = $warm runs to the end" 0 $? "" "$out"
first=$(awk -F, 'NR > 1 { print $1; exit }' runs/gw/pruned.csv)
[ -n "$first0" ] && awk -F, -v w="$warm" 'NR > 1 && $1 < w { bad = 1 } END { exit bad }' \
    runs/gw/pruned.csv
check "warm-up: first pruning at epoch ${first:-none}, without warm-up at ${first0:-none}" 0 $?
col=$(head -1 runs/gw/epochs.csv | tr ',' '\n' | grep -nx lambda | cut -d: -f1)
[ -n "$col" ] && awk -F, -v c="$col" -v w="$warm" 'NR > 1 && $1 <= w && $c != 0 { bad = 1 }
    END { exit bad }' runs/gw/epochs.csv
check "warm-up: lambda is 0 through epoch $warm" 0 $?
# prune_lr: the weights learn at [train]'s 0.01 through the warm-up, at 0.002 after it.
col=$(head -1 runs/gw/steps.csv | tr ',' '\n' | grep -nx lr | cut -d: -f1)
[ -n "$col" ] && awk -F, -v c="$col" -v w="$warm" 'NR > 1 { want = $1 < w ? 0.01 : 0.002
    if ($c < want * 0.999 || $c > want * 1.001) bad = 1; n[$1 < w]++ }
    END { exit bad || !n[0] || !n[1] }' runs/gw/steps.csv
check "prune_lr: lr 0.01 before epoch $warm, 0.002 from it on (steps.csv)" 0 $?

# A snapshot retrains stand-alone.
out=$("$cnas" -q train gold.ini --set run.out_dir=runs --set run.name=t0 --arch "$r/snapshot_0.txt" 2>&1)
check "cnas train --arch snapshot_0.txt trains the snapshot" 0 $? "" "$out"

# kill -9 mid-epoch, then resume: the same files as the uninterrupted run.
"$cnas" -q search gold.ini --set run.out_dir=runs --set run.name=gk >gk.out 2>&1 &
pid=$!
target=$((epochs / 2 + 1))
for _ in $(seq 1 3000); do
    [ -f runs/gk/checkpoint.ckpt ] && [ -f runs/gk/epochs.csv ] &&
        [ "$(wc -l <runs/gk/epochs.csv)" -ge "$target" ] && break
    sleep 0.02
done
sleep 0.3
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
[ -f runs/gk/checkpoint.ckpt ] && [ ! -f runs/gk/arch.txt ]
check "kill -9 landed after a checkpoint and before the end" 0 $?
"$cnas" -q resume runs/gk >/dev/null 2>&1
check "resume after kill -9 finishes" 0 $?
grep -oE "gold_nas: resuming at [^,]*" runs/gk/log.txt | head -1 | sed 's/^/     (/; s/$/)/'
for f in arch.txt ranking.tsv steps.csv epochs.csv pareto.csv pareto.json pareto.svg pruned.csv \
         $(cd runs/g1 && ls snapshot_*.txt); do
    cmp -s "runs/g1/$f" "runs/gk/$f"
    code=$?
    check "resumed: $f equals the uninterrupted run's" 0 $code
    [ $code -eq 0 ] || diff "runs/g1/$f" "runs/gk/$f" | head -4 | cut -c1-160
done

summary
