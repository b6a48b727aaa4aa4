#!/usr/bin/env bash
# Λ-DARTS (the lambda_darts strategy of the darts plugin) end to end through the cnas binary:
#  - with lambda = 0 it is DARTS: the same seed gives byte-identical alpha.jsonl (softmax(α)
#    per epoch, validation loss and accuracy) and arch.txt, first and second order;
#  - with lambda > 0 the architecture history differs from DARTS's, and is the same on 1
#    and 3 threads;
#  - the alignment effect: with α held uniform, the mean pairwise cosine of the cells'
#    gradients (train_corr, val_corr) ends clearly higher with the regulariser than without;
#  - exact resume after kill -9 mid-epoch (corr and signcorr, first and second order), also
#    on another thread count; a resume that changes the training is refused;
#  - configuration errors: a share key selecting fewer than two cells.
# Usage: lambda_darts.sh CNAS_BINARY EXAMPLES_DIR
# With CNAS_TEST_QUICK set (the sanitizer build) the second-order and signcorr runs and the
# alignment runs are skipped.
set -u
cnas=$1
examples=$2
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

search() { # run_name config [--set ...]: a quiet search into runs/RUN_NAME
    local name=$1 ini=$2
    shift 2
    "$cnas" -q search "$ini" --set run.out_dir=runs --set run.name="$name" "$@"
}

# A column of an epochs.csv row, by header name.
column() { # file column_name epoch
    awk -F, -v c="$2" -v e="$3" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next }
                                 $1 == e { print $k }' "$1"
}

out=$("$cnas" describe lambda_darts 2>&1)
check "describe lambda_darts shows the DARTS keys and its own" 0 $? \
    "regularizer +choice +default corr, one of corr\|signcorr" "$out"

# ---- lambda = 0 is DARTS, bit for bit -------------------------------------------------------
# The 5-cell supernet has 3 normal cells (0, 2, 4), the cells Λ-DARTS compares.
# 8x8 images, one thread: small enough for the sanitizer build.
sed -e 's/^size = .*/size = 8/' -e 's/^threads = .*/threads = 1/' "$examples/darts-synthetic.ini" >syn.ini
Z=(--set space.layers=5 --set train.epochs=2)
orders="1 2"
[ -n "${CNAS_TEST_QUICK:-}" ] && orders=1
for o in $orders; do
    search d$o syn.ini "${Z[@]}" --set strategy.order=$o >/dev/null 2>&1
    check "darts, order $o: a search finishes" 0 $?
    out=$(search z$o syn.ini "${Z[@]}" --set strategy.order=$o --set strategy.use=lambda_darts \
        --set strategy.lambda=0 2>&1)
    check "lambda_darts, order $o, lambda 0: a search finishes" 0 $? "architecture: Genotype\(normal=" "$out"
    for f in alpha.jsonl arch.txt; do
        cmp -s runs/d$o/$f runs/z$o/$f
        check "lambda 0, order $o: $f equals DARTS's" 0 $?
    done
    head -1 runs/z$o/epochs.csv | grep -q "train_corr" && head -1 runs/z$o/epochs.csv | grep -q "val_corr" &&
        [ -n "$(column runs/z$o/epochs.csv val_corr 1)" ] && grep -q "epoch 1 lambda 0 train_corr" runs/z$o/log.txt
    check "lambda 0, order $o: train_corr and val_corr logged per epoch" 0 $?
done
search r1 syn.ini "${Z[@]}" --set strategy.use=lambda_darts --set strategy.lambda=0.25 >/dev/null 2>&1
check "lambda_darts, lambda 0.25: a search finishes" 0 $?
! cmp -s runs/d1/alpha.jsonl runs/r1/alpha.jsonl
check "lambda 0.25: the architecture history differs from DARTS's" 0 $?
# reg_ratio = ‖λ_t ∇_w R‖ / ‖∇_w L‖ per step: 0 without the regulariser (λ = 0, or λ_t = 0 in
# the ramp's first epoch), positive with it.
ratios() { # steps.csv epoch: that epoch's reg_ratio column, one value per line
    awk -F, -v e="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "reg_ratio") k = i; next }
                       k && $1 == e { print $k }' "$1"
}
z=$(ratios runs/z1/steps.csv 1) r0=$(ratios runs/r1/steps.csv 0) r1=$(ratios runs/r1/steps.csv 1)
[ -n "$z" ] && [ -n "$r0" ] && [ -n "$r1" ] && ! printf '%s\n%s\n' "$z" "$r0" | grep -qv '^0$' &&
    awk '!($1 > 0) { bad = 1 } END { exit bad }' <<<"$r1"
check "reg_ratio: 0 with lambda 0 and in the ramp's first epoch, positive once the regulariser acts" 0 $? "" "$z / $r0 / $r1"
e0=$(column runs/r1/epochs.csv reg_ratio 0) e1=$(column runs/r1/epochs.csv reg_ratio 1)
awk -v e0="$e0" -v e1="$e1" '{ s += $1; n++ } END { m = s / n; d = e1 - m; if (d < 0) d = -d
                                                  exit !(e0 == 0 && n > 0 && d <= 1e-6 * m) }' <<<"$r1"
check "reg_ratio in epochs.csv: the mean of the epoch's steps" 0 $? "" "$e0 / $e1"

# Thread count is not part of a run's identity: every kernel splits its reductions at bounds
# that depend on the sizes only (the mixed edges' weight gradients included).
search r3 syn.ini "${Z[@]}" --set strategy.use=lambda_darts --set strategy.lambda=0.25 \
    --set run.threads=3 >/dev/null 2>&1
check "lambda_darts on 3 threads: a search finishes" 0 $?
same_files "lambda_darts: 3 threads against 1" r1 r3 alpha.jsonl arch.txt steps.csv epochs.csv

# ---- the alignment effect ---------------------------------------------------------------------
# NAS-Bench-201's 3 search cells (all compared), α fixed at uniform, lambda from the start.
cat > nb.ini <<'INI'
[run]
seed = 1
threads = 1
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
use = lambda_darts
arch_learning_rate = 0
init_scale = 0
lambda_schedule = constant
eval_every = 0
[train]
epochs = 6
batch_size = 32
INI
last=5
# (The sanitizer builds leave the alignment runs to the release build: the suite's budget.)
if [ -z "${CNAS_TEST_QUICK:-}" ]; then
search a0 nb.ini --set strategy.lambda=0 >/dev/null 2>&1
check "alignment: the unregularised run finishes" 0 $?
search a1 nb.ini --set strategy.lambda=0.25 >/dev/null 2>&1
check "alignment: the regularised run finishes" 0 $?
for m in train_corr val_corr; do
    c0=$(column runs/a0/epochs.csv $m $last)
    c1=$(column runs/a1/epochs.csv $m $last)
    awk -v a="$c0" -v b="$c1" 'BEGIN { exit !(b - a > 0.2) }'
    check "alignment: $m after $((last + 1)) epochs, $c1 with the regulariser vs $c0 without (> +0.2)" 0 $?
done
fi

# ---- exact resume after kill -9 ---------------------------------------------------------------
OUTPUTS="arch.txt ranking.tsv steps.csv epochs.csv alpha.jsonl"
resume_check() { # label config [--set ...]: reference run, killed run, resume, compare
    local label=$1 ini=$2 name
    shift 2
    name=k$((pass + fail))
    last_run=$name
    search "${name}r" "$ini" "$@" >/dev/null 2>&1
    check "$label: the reference run finishes" 0 $?
    "$cnas" -q search "$ini" --set run.out_dir=runs --set run.name="$name" "$@" >/dev/null 2>&1 &
    local pid=$!
    # Mid-way through the second epoch (lambda > 0 from there on): the kill lands with the
    # regulariser on, away from the epoch's end.
    for _ in $(seq 1 6000); do
        grep -q "^1,$kill_step," "runs/$name/steps.csv" 2>/dev/null && break
        sleep 0.02
    done
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    local at
    at=$(tail -1 "runs/$name/steps.csv" | cut -d, -f1,2)
    [ -f "runs/$name/checkpoint.ckpt" ] && [ ! -f "runs/$name/arch.txt" ]
    check "$label: kill -9 landed after a checkpoint and before the end (epoch,step $at)" 0 $?
    "$cnas" -q resume "runs/$name" ${resume_set[@]+"${resume_set[@]}"} >/dev/null 2>&1
    check "$label: resume finishes" 0 $?
    for f in $OUTPUTS; do
        cmp -s "runs/${name}r/$f" "runs/$name/$f"
        check "$label: $f equals the uninterrupted run's" 0 $?
    done
}
K=(--set space.layers=5 --set train.epochs=3 --set dataset.n_train=512 --set checkpoint.every_steps=1
   --set strategy.use=lambda_darts)
kill_step=2
if [ -n "${CNAS_TEST_QUICK:-}" ]; then    # 4 steps per epoch, 2 epochs
    K=(--set space.layers=5 --set train.epochs=2 --set checkpoint.every_steps=1 --set strategy.use=lambda_darts)
    kill_step=1
fi
# Resumed on 3 threads where it ran on 1: the thread count is not part of the run's identity.
resume_set=(--set run.threads=3)
resume_check "corr, order 1, resumed on 3 threads" syn.ini "${K[@]}"
resume_set=()
out=$("$cnas" -q resume "runs/$last_run" --set train.lr=0.5 2>&1)
check "a resume that changes the training is refused, naming the key" 2 $? "another configuration.*lr = 0.5" "$out"
if [ -z "${CNAS_TEST_QUICK:-}" ]; then
    resume_check "signcorr, order 2" syn.ini "${K[@]}" --set strategy.regularizer=signcorr \
        --set strategy.order=2 --set train.epochs=2
fi

# ---- configuration ------------------------------------------------------------------------------
out=$(search e1 syn.ini --set strategy.use=lambda_darts 2>&1)
check "a 3-cell supernet (one normal cell) is refused" 2 $? \
    "reg_cells = auto selects 1 cell of the space \(normal\).*at least 2" "$out"
out=$(search e2 syn.ini "${Z[@]}" --set strategy.use=lambda_darts --set strategy.reg_cells=nope 2>&1)
check "a share key the space lacks is refused" 2 $? "reg_cells = nope selects 0 cells" "$out"
out=$(search e3 syn.ini "${Z[@]}" --set strategy.use=lambda_darts --set strategy.reg_cells=all \
    --set train.epochs=1 2>&1)
check "reg_cells = all on the DARTS cell (normal and reduction cells differ only in α) runs" 0 $? \
    "architecture: Genotype" "$out"

summary
