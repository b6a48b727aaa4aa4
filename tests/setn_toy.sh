#!/usr/bin/env bash
# SETN's sanity test (docs/setn.md): a 27-architecture NAS-Bench-201 cell (3 nodes, 3
# edges, {none, skip_connect, nor_conv_3x3}) on generated 8x8 images of 8 classes. The
# ground truth is every architecture trained stand-alone; SETN then searches with seeds
# 1 and 2 and evaluates all 27 candidates with the shared weights. Checks: the evaluator
# learns that cells whose output is cut off (node 2 fed by `none` alone: chance accuracy
# stand-alone) are unlikely; the one-shot accuracies rank the architectures like the
# ground truth; the pick is never a cut-off cell and lies in the stand-alone top half.
# (The connected cells lie within a few hundredths of each other stand-alone, about the
# size of retraining noise, so a top-20% pick is luck at this scale: with batch statistics
# both seeds pick rank 12 of 27, with running statistics ranks 1 and 4.)
# About 3 minutes in a release build; the suite is not run under the sanitizers.
# Usage: setn_toy.sh CNAS_BINARY
set -u
cnas=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
pass=0
fail=0
check() { # name condition_status [detail]
    if [ "$2" -eq 0 ]; then echo "ok   $1"; pass=$((pass + 1)); else echo "FAIL $1 ${3:-}"; fail=$((fail + 1)); fi
}

cat > toy.ini <<'INI'
[run]
name = toy
out_dir = runs
threads = 2
[dataset]
use = synthetic
classes = 8
n_train = 2048
n_test = 512
size = 8
noise = 0.3
[data]
train_portion = 0.5
[space]
use = nb201_cell
nodes = 3
candidates = none,skip_connect,nor_conv_3x3
init_channels = 8
cells_per_stage = 1
[strategy]
use = setn
candidates = 27
eval_batches = 0
eval_bn = batch
[train]
epochs = 30
batch_size = 64
lr = 0.025
lr_min = 0.001
nesterov = true
weight_decay = 5e-4
grad_clip = 0
[retrain]
epochs = 10
batch_size = 64
lr = 0.05
lr_min = 0
INI

"$cnas" -q standalone toy.ini >standalone.out 2>&1
check "all 27 architectures trained stand-alone" $? "$(tail -3 standalone.out)"
truth=runs/toy-standalone/standalone.csv
# arch -> stand-alone accuracy; rank = 1 + how many are strictly better.
awk -F'"' 'NR > 1 { split($3, f, ","); print $2 "\t" f[2] }' "$truth" >truth.tsv
[ "$(wc -l <truth.tsv)" -eq 27 ]; check "the ground truth has 27 rows" $?

for seed in 1 2; do
    run=runs/setn-$seed
    "$cnas" -q search toy.ini --set run.seed=$seed --set run.name=setn-$seed >/dev/null 2>&1
    check "seed $seed: SETN searches the 27-architecture cell" $?
    awk -F'"' 'NR > 1 { split($3, f, ","); print $2 "\t" f[2] "\t" f[4] }' "$run/candidates.csv" >cand.tsv
    [ "$(wc -l <cand.tsv)" -eq 27 ]; check "seed $seed: every architecture is a candidate" $?
    # The cut-off cells (stand-alone at chance) sit at the bottom of log p: their mean
    # rank by likelihood is past 18 of 27 (uniform: 14).
    awk -F'\t' 'FNR == NR { t[$1] = $2; next } { print $3 "\t" t[$1] }' truth.tsv cand.tsv |
        sort -g -r -k1,1 | awk -F'\t' '$2 < 0.25 { s += NR; n++ } END { printf "%d %.1f\n", n, s / n }' >cut.txt
    read -r n_cut mean_rank <cut.txt
    [ "${n_cut:-0}" -eq 5 ] && awk -v r="$mean_rank" 'BEGIN { exit !(r + 0 > 18) }'
    check "seed $seed: the evaluator ranks the 5 cut-off cells last (mean log-p rank $mean_rank of 27)" $?
    tau=$("$cnas" correlate "$run/candidates.csv:val_acc" "$truth:test_acc" --key arch 2>&1 |
          awk '/Kendall tau/ { print $3 }')
    [ -n "$tau" ] && awk -v t="$tau" 'BEGIN { exit !(t + 0 > 0.2) }'
    check "seed $seed: one-shot accuracies rank like the ground truth (Kendall tau $tau > 0.2)" $?
    pick=$(cat "$run/arch.txt")
    acc=$(awk -F'\t' -v a="$pick" '$1 == a { print $2 }' truth.tsv)
    rank=$(awk -F'\t' -v v="$acc" '$2 > v { n++ } END { print n + 1 }' truth.tsv)
    [ -n "$acc" ] && awk -v v="$acc" 'BEGIN { exit !(v + 0 > 0.25) }'
    check "seed $seed: the pick $pick is not a cut-off cell (stand-alone $acc)" $?
    [ -n "$acc" ] && [ "$rank" -le 13 ]
    check "seed $seed: the pick is in the stand-alone top half (rank $rank of 27)" $?
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
