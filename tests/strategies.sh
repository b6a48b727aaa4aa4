#!/usr/bin/env bash
# Search strategies end to end through the cnas binary: random search with weight sharing
# (examples/plugins/random_search, built in as random_search) on the DARTS cell and on the
# ResNet20 pooling space, and SETN on the DARTS cell and the NAS-Bench-201 cell: outputs,
# deterministic runs, and exact resume after kill -9 mid-epoch in the supernet training and
# during the evaluation of the candidates, and after Ctrl-C during the evaluation.
# Usage: strategies.sh CNAS_BINARY PLUGIN_DIR EXAMPLES_DIR
# With CNAS_TEST_QUICK set (the sanitizer build), the repeated determinism runs and the
# second interruption of each space are skipped: every strategy still gets a kill -9.
set -u
cnas=$1
plugins=$2
examples=$3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The files a resumed run must reproduce byte for byte.
OUTPUTS="arch.txt ranking.tsv steps.csv epochs.csv"
search() { # run_name config [--set ...]: a quiet search into runs/RUN_NAME
    local name=$1 ini=$2
    shift 2
    "$cnas" -q search "$ini" --set run.out_dir=runs --set run.name="$name" "$@"
}

# ranking.tsv: a header and one row per candidate, ranks 0.. in order, accuracy not
# increasing, and arch.txt is the rank-0 architecture.
ranking_ok() { # run candidates
    local r=runs/$1
    [ "$(wc -l <"$r/ranking.tsv")" -eq $(($2 + 1)) ] &&
        head -1 "$r/ranking.tsv" | grep -q "^rank	score	accuracy	flops	params	arch$" &&
        awk -F'\t' 'NR > 1 { if ($1 != NR - 2 || (NR > 2 && $3 > prev) || $2 != $3) bad = 1; prev = $3 }
                    END { exit bad }' "$r/ranking.tsv" &&
        [ "$(cat "$r/arch.txt")" = "$(awk -F'\t' 'NR == 2 { print $6 }' "$r/ranking.tsv")" ]
}

# Interrupt a search once `ready` holds (polled), then resume it; the resumed run logs
# where it went on. kill -9 leaves the last periodic checkpoint; Ctrl-C (INT) makes the run
# write one where it stops and exit 1.
out=$("$cnas" plugins 2>&1)
check "plugins lists the built-in random_search" 0 $? "strategy: random$" "$out"
grep -qF "$plugins/strategies/random/random_search.so" <<<"$out"
check "random_search is loaded from the build's plugin directory" 0 $?
out=$("$cnas" describe random 2>&1)
check "describe random shows its keys" 0 $? "eval_bn +choice +default batch, one of running\|batch\|recalibrate" "$out"

# ---- the DARTS cell: 8 steps per epoch, 2 epochs, 16 candidates on the validation split ----
cp "$examples/darts-synthetic.ini" darts.ini
D=(--set strategy.use=random --set strategy.candidates=16 --set train.epochs=2
   --set dataset.n_train=512 --set checkpoint.every_steps=1)
out=$(search d1 darts.ini "${D[@]}" 2>&1)
check "darts_cell: a random search runs to the end" 0 $? "architecture: Genotype\(normal=" "$out"
ranking_ok d1 16
check "darts_cell: arch.txt and ranking.tsv with one row per candidate, best first" 0 $?
if [ -z "${CNAS_TEST_QUICK:-}" ]; then
search d2 darts.ini "${D[@]}" >/dev/null 2>&1
check "darts_cell: a second run finishes" 0 $?
same_files "darts_cell: deterministic" d1 d2 $OUTPUTS
fi
# Killed mid-epoch in the supernet training: every step samples another path, so the step
# the kill lands in leaves out ops that earlier steps trained; their momentum and gradient
# buffers come back from the checkpoint (cnas_optim_save records which weights have one).
interrupt_resume "darts_cell, training" dk 9 '[ -f runs/dk/checkpoint.ckpt ]' darts.ini "${D[@]}"
[[ $resumed =~ ^random:\ resuming\ at\ epoch\ [01]\ step\ [1-7], ]]
check "darts_cell: the kill landed mid-epoch" 0 $?
same_files "darts_cell, killed in training" d1 dk $OUTPUTS
# Killed while the candidates are evaluated: the resumed run goes on with the next one.
interrupt_resume "darts_cell, evaluation" de 9 'grep -q "random: candidate 3/" runs/de/log.txt 2>/dev/null' \
    darts.ini "${D[@]}"
[[ $resumed =~ ^random:\ resuming\ at\ epoch\ 2\ step\ 0,\ ([1-9]|1[0-5])\ of\ 16 ]]
check "darts_cell: the kill landed during the evaluation" 0 $?
same_files "darts_cell, killed in evaluation" d1 de $OUTPUTS
# ---- the ResNet20 pooling space: 32 steps per epoch; candidates on validation batches
# with recalibrated batch norm (the cycling streams' positions matter on resume) ----------
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
use = random
candidates = 40
eval_bn = recalibrate
recalibrate_batches = 4
eval_batches = 3
[train]
epochs = 2
batch_size = 16
lr = 0.1
weight_decay = 0
grad_clip = 0
[checkpoint]
every_steps = 1
INI
out=$(search p1 pool.ini 2>&1)
check "resnet20_pool: a random search runs to the end" 0 $? "architecture: \[[0-9],[0-9],[0-9]\]" "$out"
ranking_ok p1 40
check "resnet20_pool: arch.txt and ranking.tsv with one row per candidate, best first" 0 $?
if [ -z "${CNAS_TEST_QUICK:-}" ]; then
search p2 pool.ini >/dev/null 2>&1
check "resnet20_pool: a second run finishes" 0 $?
same_files "resnet20_pool: deterministic" p1 p2 $OUTPUTS
fi
interrupt_resume "resnet20_pool, training" pk 9 '[ -f runs/pk/checkpoint.ckpt ]' pool.ini
[[ $resumed =~ ^random:\ resuming\ at\ epoch\ [01]\ step\ ([1-9]|[12][0-9]|3[01]), ]]
check "resnet20_pool: the kill landed mid-epoch" 0 $?
same_files "resnet20_pool, killed in training" p1 pk $OUTPUTS
if [ -z "${CNAS_TEST_QUICK:-}" ]; then
interrupt_resume "resnet20_pool, evaluation" pe 9 'grep -q "random: candidate 3/" runs/pe/log.txt 2>/dev/null' \
    pool.ini
[[ $resumed =~ ^random:\ resuming\ at\ epoch\ 2\ step\ 0,\ ([1-9]|[1-3][0-9])\ of\ 40 ]]
check "resnet20_pool: the kill landed during the evaluation" 0 $?
same_files "resnet20_pool, killed in evaluation" p1 pe $OUTPUTS
interrupt_resume "resnet20_pool, Ctrl-C" pc INT 'grep -q "random: candidate 3/" runs/pc/log.txt 2>/dev/null' \
    pool.ini
[[ $resumed =~ ^random:\ resuming\ at\ epoch\ 2\ step\ 0,\ ([1-9]|[1-3][0-9])\ of\ 40 ]]
check "resnet20_pool: Ctrl-C stopped the evaluation after a candidate" 0 $?
same_files "resnet20_pool, Ctrl-C in evaluation" p1 pc $OUTPUTS
fi

# ---- the balanced mixture (single path, M supernets) killed mid-epoch ---------------------
OUTPUTS="arch.txt ranking.tsv steps.csv epochs.csv ranking.csv mixture.jsonl"
sed -e 's/^use = random$/use = balanced_mixture\nsupernets = 2/' \
    -e '/^candidates\|^eval_bn\|^recalibrate_batches\|^eval_batches/d' pool.ini >bm.ini
out=$(search b1 bm.ini 2>&1)
check "balanced_mixture: a search runs to the end" 0 $? "architecture: \[[0-9],[0-9],[0-9]\]" "$out"
interrupt_resume "balanced_mixture, training" bk 9 '[ -f runs/bk/checkpoint.ckpt ]' bm.ini
grep -q "resum" runs/bk/log.txt; [ -f runs/bk/arch.txt ]
check "balanced_mixture: the killed run was resumed to the end" 0 $?
same_files "balanced_mixture, killed in training" b1 bk $OUTPUTS
# ---- SETN: the DARTS cell (candidates drawn from the evaluator) and the NAS-Bench-201
# cell (the most likely of its 15,625 cells); the candidates file too -------------------
OUTPUTS="arch.txt ranking.tsv steps.csv epochs.csv candidates.csv alpha.jsonl"
S=(--set strategy.use=setn --set strategy.candidates=12 --set strategy.eval_batches=2
   --set train.epochs=2 --set dataset.n_train=512 --set checkpoint.every_steps=1)
out=$(search s1 darts.ini "${S[@]}" 2>&1)
check "setn, darts_cell: a search runs to the end" 0 $? "architecture: Genotype\(normal=" "$out"
ranking_ok s1 12
check "setn, darts_cell: ranking.tsv with one row per candidate, best first" 0 $?
[ "$(wc -l <runs/s1/candidates.csv)" -eq 13 ] && ! grep -q "'none'" runs/s1/candidates.csv
check "setn, darts_cell: candidates.csv holds 12 distinct candidates, none with a none op" 0 $?
grep -q '"chosen": "Genotype(normal=' runs/s1/alpha.jsonl
check "setn, darts_cell: every epoch logs its chosen architecture" 0 $?
if [ -z "${CNAS_TEST_QUICK:-}" ]; then
search s2 darts.ini "${S[@]}" >/dev/null 2>&1
same_files "setn, darts_cell: deterministic" s1 s2 $OUTPUTS
fi
interrupt_resume "setn, darts_cell, training" sk 9 '[ -f runs/sk/checkpoint.ckpt ]' darts.ini "${S[@]}"
[[ $resumed =~ ^setn:\ resuming\ at\ epoch\ [01]\ step\ [1-7], ]]
check "setn, darts_cell: the kill landed mid-epoch" 0 $?
same_files "setn, darts_cell, killed in training" s1 sk $OUTPUTS
if [ -z "${CNAS_TEST_QUICK:-}" ]; then
interrupt_resume "setn, darts_cell, evaluation" se 9 \
    'grep -q "setn: candidate 3/" runs/se/log.txt 2>/dev/null' darts.ini "${S[@]}"
[[ $resumed =~ ^setn:\ resuming\ at\ epoch\ 2\ step\ 0,\ ([1-9]|1[01])\ of\ 12 ]]
check "setn, darts_cell: the kill landed during the final evaluation" 0 $?
same_files "setn, darts_cell, killed in evaluation" s1 se $OUTPUTS
fi

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
use = setn
candidates = 40
eval_batches = 2
[train]
epochs = 2
batch_size = 32
nesterov = true
weight_decay = 5e-4
grad_clip = 0
[checkpoint]
every_steps = 1
INI
out=$(search n1 nb.ini 2>&1)
check "setn, nb201_cell: a search runs to the end" 0 $? "architecture: \|[a-z_0-9]+~0\|\+" "$out"
ranking_ok n1 40
check "setn, nb201_cell: ranking.tsv with one row per candidate, best first" 0 $?
[ "$(wc -l <runs/n1/candidates.csv)" -eq 41 ] && head -1 runs/n1/candidates.csv | grep -q "^rank,arch,val_acc,val_loss,log_p,flops,params$"
check "setn, nb201_cell: candidates.csv lists the 40 candidates with their log p" 0 $?
interrupt_resume "setn, nb201_cell, evaluation" ne 9 \
    'grep -q "setn: candidate 2/" runs/ne/log.txt 2>/dev/null' nb.ini
[[ $resumed =~ ^setn:\ resuming\ at\ epoch\ 2\ step\ 0,\ ([1-9]|[1-3][0-9])\ of\ 40 ]]
check "setn, nb201_cell: the kill landed during the final evaluation" 0 $?
same_files "setn, nb201_cell, killed in evaluation" n1 ne $OUTPUTS
if [ -z "${CNAS_TEST_QUICK:-}" ]; then
interrupt_resume "setn, nb201_cell, Ctrl-C" nc INT 'grep -q "setn: candidate 2/" runs/nc/log.txt 2>/dev/null' \
    nb.ini
same_files "setn, nb201_cell, Ctrl-C in evaluation" n1 nc $OUTPUTS
fi

summary
