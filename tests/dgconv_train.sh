#!/bin/bash
# DGConv through `cnas train` (docs/dgconv.md): a NAS-Bench-201 network whose cells use the
# dgconv ops, on synthetic data. The group report (log lines, dgconv_groups.tsv), the
# regulariser through [train] dgconv_penalty (a weight that dwarfs the data term leaves
# every layer depthwise), and exact resume after kill -9 mid-epoch.
# Usage: dgconv_train.sh CNAS_BINARY
set -u
cnas=$1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cat >tiny.ini <<'EOF'
[run]
seed = 3
out_dir = runs
threads = 1

[dataset]
use = synthetic
classes = 4
n_train = 256
n_test = 128
size = 16

[space]
use = nb201_cell
init_channels = 4
cells_per_stage = 1
candidates = none,skip_connect,nor_conv_3x3,dgconv_3x3,dg_resblock

[train]
epochs = 3
batch_size = 32
dgconv_penalty = 1e-3

[checkpoint]
every_steps = 2
EOF
# 6 DGConv layers per cell (four dgconv_3x3, a dg_resblock with two), 3 cells: 18 layers.
echo '|dgconv_3x3~0|+|dgconv_3x3~0|dgconv_3x3~1|+|skip_connect~0|dg_resblock~1|dgconv_3x3~2|' >arch.txt

train() { # name [--set ...]
    local name=$1
    shift
    "$cnas" -q train tiny.ini --arch arch.txt --set run.name="$name" "$@"
}

out=$(train full 2>&1); check "train a network of DGConv ops" 0 $? "" "$out"
r=runs/full-train
[ "$(wc -l <$r/dgconv_groups.tsv)" -eq $((1 + 3 * 18)) ] &&
    head -1 $r/dgconv_groups.tsv | grep -q "^epoch	layer	channels	gates	groups	nnz$" &&
    awk -F'\t' 'NR > 1 { if ($5 * $6 != $3 * $3 || length($4) != log($3) / log(2)) bad = 1 }
                END { exit bad }' $r/dgconv_groups.tsv
check "dgconv_groups.tsv: a header and 18 layers per epoch, groups x nnz = C^2" 0 $?
awk -F'\t' '$1 == 2 && $5 < $3 { some = 1 } END { exit !some }' $r/dgconv_groups.tsv
check "dgconv_penalty = 1e-3 keeps some layer grouped (G < C) after training" 0 $?
out=$(grep -c "info  dgconv cells\..*\.dg_gate: C = [0-9]*, gates [01]*, [0-9]* groups\? (" $r/log.txt)
check "the log names every layer's learned groups after training" 0 0 "^18$" "$out"

# A regulariser far above the data term turns every gate off: depthwise everywhere.
out=$(train strong --set train.dgconv_penalty=1 2>&1); check "train with a strong regulariser" 0 $? "" "$out"
awk -F'\t' '$1 == 2 && $5 != $3 { bad = 1 } END { exit bad }' runs/strong-train/dgconv_groups.tsv
check "dgconv_penalty = 1 learns G = C (depthwise) in every layer" 0 $?

# kill -9 in the middle of epoch 1, then resume: the same files byte for byte.
"$cnas" -q train tiny.ini --arch arch.txt --set run.name=killed >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
    [ "$(cat runs/killed-train/steps.csv 2>/dev/null | wc -l)" -ge 13 ] && break
    sleep 0.02
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
[ -f runs/killed-train/checkpoint.ckpt ]
check "kill -9 landed after a checkpoint" 0 $?
"$cnas" -q resume runs/killed-train >/dev/null 2>&1
check "resume after kill -9 finishes" 0 $?
for f in dgconv_groups.tsv steps.csv epochs.csv; do
    cmp -s $r/$f runs/killed-train/$f
    check "resumed: $f equals the uninterrupted run's" 0 $?
done

summary
