#!/usr/bin/env bash
# K-shot NAS end to end through the cnas binary: on the ResNet20 pooling space (every
# placement), the DARTS cell (single paths) and the NAS-Bench-201 cell (sampled
# candidates): outputs (ranking.tsv, candidates.csv with the codes, codes.jsonl),
# deterministic runs, K = 1, configuration errors, and exact resume after kill -9 mid-epoch
# after the warm-up (simplex-net steps under way) and during the evaluation of the
# candidates.
# Usage: kshot.sh CNAS_BINARY
# With CNAS_TEST_QUICK set (the sanitizer build), the repeated determinism run, K = 1, the
# FLOPs bound and the interruptions on darts_cell and nb201_cell are skipped: resnet20_pool
# keeps both kills.
set -u
cnas=$1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUTPUTS="arch.txt ranking.tsv steps.csv epochs.csv candidates.csv codes.jsonl"
search() { # run_name config [--set ...]
    local name=$1 ini=$2
    shift 2
    "$cnas" -q search "$ini" --set run.out_dir=runs --set run.name="$name" "$@"
}

# ranking.tsv: a header and one row per candidate, ranks 0.. in order, accuracy not
# increasing; arch.txt is rank 0; candidates.csv has the same order and K codes summing to 1.
ranking_ok() { # run candidates K
    local r=runs/$1
    [ "$(wc -l <"$r/ranking.tsv")" -eq $(($2 + 1)) ] &&
        awk -F'\t' 'NR > 1 { if ($1 != NR - 2 || (NR > 2 && $3 > prev) || $2 != $3) bad = 1; prev = $3 }
                    END { exit bad }' "$r/ranking.tsv" &&
        [ "$(cat "$r/arch.txt")" = "$(awk -F'\t' 'NR == 2 { print $6 }' "$r/ranking.tsv")" ] &&
        [ "$(wc -l <"$r/candidates.csv")" -eq $(($2 + 1)) ] &&
        head -1 "$r/candidates.csv" | grep -q ",flops,params,lambda0" &&
        awk -F, -v K="$3" 'NR > 1 { s = 0; for (k = NF - K + 1; k <= NF; k++) s += $k
                                     if (s < 0.999 || s > 1.001) bad = 1 } END { exit bad }' "$r/candidates.csv"
}

out=$("$cnas" describe kshot 2>&1)
check "describe kshot shows its keys" 0 $? "warmup_codes +choice +default dirichlet" "$out"

# ---- resnet20_pool: 10 placements, 32 steps per epoch, 1 warm-up epoch of 3 ------------
cat > pool.ini <<'INI'
[run]
name = pool
out_dir = runs
threads = 2
[dataset]
use = synthetic
classes = 4
n_train = 1024
n_test = 64
size = 16
[data]
augment_val = false
[space]
use = resnet20_pool
channels = 4,4,4,8,8,8
pools = 2
[strategy]
use = kshot
k = 3
warmup_epochs = 1
simplex_paths = 4
recalibrate_batches = 16
eval_batches = 0
[train]
epochs = 3
batch_size = 16
lr = 0.1
weight_decay = 0
grad_clip = 0
[checkpoint]
every_steps = 1
INI
out=$(search p1 pool.ini 2>&1)
check "resnet20_pool: a K-shot search runs to the end" 0 $? "architecture: \[[0-9],[0-9],[0-9]\]" "$out"
ranking_ok p1 10 3
check "resnet20_pool: every placement ranked, with its FLOPs, parameters and code" 0 $?
[ "$(wc -l <runs/p1/codes.jsonl)" -eq 3 ] && grep -q '"warmup": true' runs/p1/codes.jsonl &&
    head -1 runs/p1/epochs.csv | grep -q "code_entropy" && head -1 runs/p1/steps.csv | grep -q "simplex_loss"
check "resnet20_pool: codes.jsonl per epoch, simplex-net metrics per step" 0 $?
if [ -z "${CNAS_TEST_QUICK:-}" ]; then
search p2 pool.ini >/dev/null 2>&1
check "resnet20_pool: a second run finishes" 0 $?
same_files "resnet20_pool: deterministic" p1 p2 $OUTPUTS
fi
# After the warm-up (a few steps into epoch 1: steps.csv holds a header and a row per
# step): the simplex-net's weights, its Adam state and the dictionaries' momentum come back
# from the checkpoint.
interrupt_resume "resnet20_pool, training" pk 9 'past runs/pk/steps.csv 36' pool.ini
[[ $resumed =~ ^kshot:\ resuming\ at\ epoch\ [12]\ step\ ([1-9]|[12][0-9]|3[01]), ]]
check "resnet20_pool: the kill landed mid-epoch after the warm-up" 0 $?
same_files "resnet20_pool, killed in training" p1 pk $OUTPUTS
# (The log line of a candidate precedes its checkpoint: a kill between them resumes before it.)
interrupt_resume "resnet20_pool, evaluation" pe 9 'grep -q "kshot: candidate 2/" runs/pe/log.txt 2>/dev/null' pool.ini
[[ $resumed =~ ^kshot:\ resuming\ at\ epoch\ 3\ step\ 0,\ [0-9]\ of\ 10 ]]
check "resnet20_pool: the kill landed during the evaluation" 0 $?
same_files "resnet20_pool, killed in evaluation" p1 pe $OUTPUTS
if [ -z "${CNAS_TEST_QUICK:-}" ]; then
# K = 1: plain single-path weight sharing, every code 1, no simplex-net.
out=$(search p3 pool.ini --set strategy.k=1 2>&1)
check "resnet20_pool: K = 1 runs to the end" 0 $? "architecture: " "$out"
ranking_ok p3 10 1 && [ ! -s runs/p3/codes.jsonl ] && ! head -1 runs/p3/steps.csv | grep -q simplex
check "resnet20_pool: K = 1 ranks every placement with code 1 and trains no simplex-net" 0 $?
fi

# Configuration errors name the key and what was expected.
out=$(search e1 pool.ini --set strategy.simplex_paths=17 2>&1)
check "simplex_paths above the batch size is refused" 2 $? "simplex_paths = 17, but a batch holds 16" "$out"
out=$(search e2 pool.ini --set strategy.max_flops=1 2>&1)
check "a FLOPs bound no candidate meets is refused" 2 $? "no candidate within max_flops = 1" "$out"
out=$(search e3 pool.ini --set strategy.k=17 2>&1)
check "K above 16 is refused" 2 $? "k" "$out"

# ---- darts_cell: single paths, 6 candidates drawn uniformly, 8 steps per epoch ---------------------------
cat > darts.ini <<'INI'
[run]
name = darts
out_dir = runs
threads = 2
[dataset]
use = synthetic
classes = 4
n_train = 512
n_test = 64
size = 16
[space]
use = darts_cell
init_channels = 4
layers = 3
[strategy]
use = kshot
k = 2
warmup_epochs = 1
simplex_paths = 4
candidates = 6
recalibrate_batches = 2
eval_batches = 2
[train]
epochs = 2
batch_size = 32
[checkpoint]
every_steps = 1
INI
out=$(search d1 darts.ini 2>&1)
check "darts_cell: a K-shot search runs to the end" 0 $? "architecture: Genotype\(normal=" "$out"
ranking_ok d1 6 2
check "darts_cell: 6 candidates ranked with their codes" 0 $?
if [ -z "${CNAS_TEST_QUICK:-}" ]; then
interrupt_resume "darts_cell, training" dk 9 'past runs/dk/steps.csv 11' darts.ini
[[ $resumed =~ ^kshot:\ resuming\ at\ epoch\ 1\ step\ [1-7], ]]
check "darts_cell: the kill landed mid-epoch after the warm-up" 0 $?
same_files "darts_cell, killed in training" d1 dk $OUTPUTS
fi

# ---- nb201_cell: 15,625 cells, 12 drawn; a FLOPs bound ------------------------------------
cat > nb.ini <<'INI'
[run]
name = nb
out_dir = runs
threads = 2
[dataset]
use = synthetic
classes = 4
n_train = 512
n_test = 64
size = 8
[space]
use = nb201_cell
init_channels = 4
cells_per_stage = 1
[strategy]
use = kshot
k = 2
warmup_epochs = 1
simplex_paths = 4
candidates = 12
recalibrate_batches = 8
eval_batches = 0
[train]
epochs = 2
batch_size = 32
[checkpoint]
every_steps = 1
INI
out=$(search n1 nb.ini 2>&1)
check "nb201_cell: a K-shot search runs to the end" 0 $? "architecture: \|[a-z_0-9]+~0\|\+" "$out"
ranking_ok n1 12 2
check "nb201_cell: 12 candidates ranked with their codes" 0 $?
if [ -z "${CNAS_TEST_QUICK:-}" ]; then
bound=$(awk -F'\t' 'NR > 1 { print $4 }' runs/n1/ranking.tsv | sort -n | sed -n 6p)
out=$(search n2 nb.ini --set strategy.max_flops="$bound" 2>&1)
check "nb201_cell: a search under a FLOPs bound runs" 0 $? "architecture: " "$out"
awk -F'\t' -v b="$bound" 'NR > 1 && $4 > b { bad = 1 } END { exit bad || NR < 2 }' runs/n2/ranking.tsv
check "nb201_cell: every candidate is within max_flops" 0 $?
interrupt_resume "nb201_cell, evaluation" ne 9 'grep -q "kshot: candidate 1/" runs/ne/log.txt 2>/dev/null' nb.ini
[[ $resumed =~ ^kshot:\ resuming\ at\ epoch\ 2\ step\ 0,\ ([0-9]|1[01])\ of\ 12 ]]
check "nb201_cell: the kill landed during the evaluation" 0 $?
same_files "nb201_cell, killed in evaluation" n1 ne $OUTPUTS
fi

summary
