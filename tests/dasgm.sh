#!/usr/bin/env bash
# DASGM end to end through the cnas binary on the tiny synthetic DARTS search:
#  - with generator = replay_val (the synthetic batch is the real validation batch) it
#    reproduces DARTS bit for bit, first and second order;
#  - the generator modes run (frozen with the Gaussian and the GAN, gan, hyper) and save
#    their generator; a bad combination is a configuration error;
#  - kill -9 mid-run and cnas resume give the uninterrupted run's files byte for byte
#    (hyper with the Gaussian; gan with the GAN);
#  - cnas data draws the generator's grid; the `generated` dataset serves the saved file.
# Usage: dasgm.sh CNAS_BINARY EXAMPLES_DIR. With CNAS_TEST_QUICK set (sanitizer builds)
# only the first-order reduction, one mode run and one kill -9 run.
set -u
cnas=$1
examples=$2
quick=${CNAS_TEST_QUICK:-}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ini=$examples/darts-synthetic.ini
# One epoch of four steps of 16 images, a checkpoint after every step.
small=(--set train.epochs=1 --set checkpoint.every_steps=1 --set dataset.n_train=128
       --set dataset.n_test=64 --set train.batch_size=16)
search() { # run_name [--set ...]
    local name=$1
    shift
    "$cnas" -q search "$ini" --set run.out_dir=runs --set run.name="$name" "${small[@]}" "$@" \
        >"$name.out" 2>&1
}

# ---- DASGM with real validation batches is DARTS -------------------------------------------
orders="1 2"
[ -n "$quick" ] && orders=1
for order in $orders; do
    search darts$order --set strategy.order=$order
    check "darts order $order runs" 0 $?
    search replay$order --set strategy.use=dasgm --set strategy.generator=replay_val \
        --set strategy.order=$order
    check "dasgm replay_val order $order runs" 0 $?
    same_files "replay_val reproduces darts (order $order)" darts$order replay$order arch.txt \
        alpha.jsonl steps.csv epochs.csv
done

# ---- generator modes ------------------------------------------------------------------------
modes="gaussian_gen:hyper gaussian_gen:frozen gaussian_gen:gan cgan:frozen"
[ -n "$quick" ] && modes="gaussian_gen:hyper"
for m in $modes; do
    gen=${m%%:*} mode=${m##*:}
    opts=temperature=2
    [ "$gen" = cgan ] && opts="fit_epochs=1,channels=8,d_channels=8"
    search "$gen-$mode" --set strategy.use=dasgm --set strategy.generator=$gen \
        --set strategy.generator_update=$mode --set strategy.generator_options="$opts"
    check "dasgm $gen $mode runs" 0 $?
    [ -s "runs/$gen-$mode/generator.ckpt" ] && [ -s "runs/$gen-$mode/arch.txt" ]
    check "dasgm $gen $mode: arch.txt and generator.ckpt" 0 $?
done
"$cnas" -q search "$ini" --set run.out_dir=runs --set run.name=bad --set strategy.use=dasgm \
    --set strategy.generator=replay_val --set strategy.generator_update=hyper >bad.out 2>&1
check "replay_val with hyper is refused" 2 $?
grep -q "generator_update must be frozen" bad.out
check "the refusal names the key" 0 $?
"$cnas" -q search "$ini" --set run.out_dir=runs --set run.name=bad2 --set strategy.use=dasgm \
    --set strategy.generator_options=temprature=2 >bad2.out 2>&1
check "a misspelt generator key is refused before the search" 2 $?
grep -q "did you mean 'temperature'" bad2.out
check "the refusal suggests the key" 0 $?

# ---- kill -9 and resume ---------------------------------------------------------------------
kill_resume() { # label run_name reference_run [--set ...]
    local label=$1 name=$2 ref=$3
    shift 3
    interrupt_resume "$label" "$name" 9 "[ -f runs/$name/checkpoint.ckpt ] && grep -q '^0,2,' runs/$name/steps.csv 2>/dev/null" \
        "$ini" "${small[@]}" "$@"
    same_files "$label: resumed" "$ref" "$name" arch.txt alpha.jsonl steps.csv epochs.csv
    cmp -s "runs/$ref/generator.ckpt" "runs/$name/generator.ckpt"
    check "$label: resumed generator.ckpt identical" 0 $?
}
kill_resume "hyper" hyper-kill gaussian_gen-hyper --set strategy.use=dasgm \
    --set strategy.generator=gaussian_gen --set strategy.generator_update=hyper \
    --set strategy.generator_options=temperature=2
if [ -z "$quick" ]; then
    search cgan-gan --set strategy.use=dasgm --set strategy.generator=cgan \
        --set strategy.generator_update=gan \
        --set strategy.generator_options="fit_epochs=1,channels=8,d_channels=8"
    check "dasgm cgan gan runs" 0 $?
    kill_resume "gan" gan-kill cgan-gan --set strategy.use=dasgm --set strategy.generator=cgan \
        --set strategy.generator_update=gan \
        --set strategy.generator_options="fit_epochs=1,channels=8,d_channels=8"
fi

# ---- cnas data and the generated dataset ----------------------------------------------------
"$cnas" data "$ini" --set strategy.use=dasgm --grid grid.png >data.out 2>&1
check "cnas data with a dasgm configuration" 0 $?
[ -s grid-generated.png ] && [ -s grid-generator.ckpt ]
check "cnas data writes grid-generated.png and grid-generator.ckpt" 0 $?
cat >generated.ini <<EOF
[run]
name = generated
[dataset]
use = generated
file = $work/grid-generator.ckpt
n_train = 64
n_test = 32
[space]
use = darts_cell
[strategy]
use = darts
EOF
"$cnas" data generated.ini >gen.out 2>&1
check "the generated dataset opens the saved generator" 0 $?
grep -q "generated" gen.out
check "cnas data names the generated dataset" 0 $?

summary
