#!/usr/bin/env bash
# DARTS with selection = perturbation (docs/selection.md) through the cnas binary on a tiny
# supernet: every edge of both cells decided, then the inputs of nodes 3-5, logged in
# projection.csv; the answer keeps two inputs per node; a kill -9 in the middle of the
# selection and `cnas resume` give the same files as an uninterrupted run. Λ-DARTS and
# DASGM offer the same selection: both decide every edge and input, and DASGM (whose
# fine-tuning steps draw synthetic batches from its generator) resumes exactly too.
# Usage: selection.sh CNAS_BINARY EXAMPLES_DIR
set -u
# Sanitizer builds skip the suite (exit 77): one selection is ~270 supernet passes, minutes
# under ASan; the projection code itself runs under the sanitizers in test_projection.
if [ -n "${CNAS_TEST_QUICK:-}" ]; then echo "skipped in sanitizer builds"; exit 77; fi
cnas=$(realpath "$1")
examples=$(realpath "$2")
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
S=(--set run.out_dir=runs --set dataset.n_train=64 --set dataset.n_test=32 --set train.epochs=1
   --set train.batch_size=16 --set strategy.selection=perturbation --set strategy.proj_interval=1
   --set checkpoint.every_steps=1 --set run.threads=1 --set strategy.proj_criterion=loss)
# (loss, not accuracy: on 32 validation images most removals tie in accuracy, and a tie
# keeps the first candidate, none, as the reference does)
"$cnas" -q search "$examples/darts-synthetic.ini" "${S[@]}" --set run.name=ref >ref.out 2>&1
check "a perturbation search runs to the end" 0 $?
r=runs/ref
check "28 operation decisions (14 edges, 2 cells)" 28 "$(grep -c ',op,.*keeps' $r/projection.csv)"
check "6 input decisions (nodes 3-5, 2 cells)" 6 "$(grep -c ',input,.*keeps edges' $r/projection.csv)"
check "8 evaluations per operation decision" 224 "$(grep -cE '^[0-9]+,[0-9]+,op,[a-z]+,-1,[0-9]+,[a-z_0-9]+,' $r/projection.csv)"
# the fine-tuning epochs follow the search's: 1 + 5·(14 + 3 − 1) + 1 ... with interval 1: 17
check "17 fine-tuning epochs after the search's one" 18 "$(($(wc -l <$r/epochs.csv) - 1))"
ops=$(grep -oE "\('[a-z_0-9]+', [0-9]\)" $r/arch.txt | wc -l)
check "the answer has 2 inputs per node in both cells" 16 "$ops"
# Every operation of the answer is the one projection.csv decided for its edge.
ok=$(python3 - "$r" <<'PY'
import re, sys, csv
r = sys.argv[1]
keep = {}
for row in csv.DictReader(open(f"{r}/projection.csv")):
    m = re.match(r"edge (\d+) keeps (\S+)", row["decision"] or "")
    if m:
        keep[(row["group"], int(m.group(1)))] = m.group(2)
g = open(f"{r}/arch.txt").read()
ok = True
for cell in ("normal", "reduce"):
    part = re.search(cell + r"=\[(.*?)\]", g).group(1)
    pairs = re.findall(r"\('([a-z_0-9]+)', (\d+)\)", part)
    start, n = 0, 2
    for node in range(4):
        for op, src in pairs[2 * node:2 * node + 2]:
            kept = keep[(cell, start + int(src))]
            if kept != "none" and kept != op:  # the rule never picks none
                ok = False
        start += n
        n += 1
print(1 if ok else 0)
PY
)
check "every kept operation is the edge's decision" 1 "$ok"

# The selection leaves the search untouched: a magnitude run of the same configuration has
# the same search epoch (alpha.jsonl's first line), and its answer is the genotype the
# perturbation run logged at the end of that epoch (how docs/selection.md compares the two).
"$cnas" -q search "$examples/darts-synthetic.ini" "${S[@]}" --set strategy.selection=magnitude \
    --set run.name=mag >mag.out 2>&1
check "a magnitude run of the same configuration runs" 0 $?
[ "$(head -1 runs/mag/alpha.jsonl)" = "$(head -1 $r/alpha.jsonl)" ]
check "the search epoch is the same with either selection" 0 $?
[ "$(grep -a 'epoch 0 genotype = ' $r/log.txt | sed 's/.*genotype = //')" = "$(cat runs/mag/arch.txt)" ]
check "the magnitude answer is the perturbation run's genotype after the search" 0 $?

# kill -9 in the middle of the selection (after 60 evaluations), then resume.
SEL_FILES="arch.txt projection.csv steps.csv epochs.csv alpha.jsonl ranking.tsv"
interrupt_resume "darts" k 9 'past runs/k/projection.csv 60' "$examples/darts-synthetic.ini" "${S[@]:2}"
same_files "darts, killed in the selection" ref k $SEL_FILES


# Λ-DARTS and DASGM (frozen class-conditional Gaussian) with the same selection.
L=("$examples/darts-synthetic.ini" "${S[@]}" --set strategy.use=lambda_darts
   --set strategy.reg_cells=all)  # (this supernet has one normal cell)
D=("$examples/darts-synthetic.ini" "${S[@]}" --set strategy.use=dasgm
   --set strategy.generator=gaussian_gen)
"$cnas" -q search "${L[@]}" --set run.name=lam >lam.out 2>&1
check "lambda_darts: a perturbation search runs to the end" 0 $?
"$cnas" -q search "${D[@]}" --set run.name=dasgm >dasgm.out 2>&1
check "dasgm: a perturbation search runs to the end" 0 $?
for r in lam dasgm; do
    check "$r: 28 operation decisions" 28 "$(grep -c ',op,.*keeps' runs/$r/projection.csv)"
    check "$r: 6 input decisions" 6 "$(grep -c ',input,.*keeps edges' runs/$r/projection.csv)"
    check "$r: 2 inputs per node in both cells" 16 "$(grep -oE "\('[a-z_0-9]+', [0-9]\)" runs/$r/arch.txt | wc -l)"
done
interrupt_resume "dasgm" dasgm_k 9 'past runs/dasgm_k/projection.csv 120' "${D[@]::1}" "${D[@]:3}"
same_files "dasgm, killed in the selection" dasgm dasgm_k $SEL_FILES

summary
