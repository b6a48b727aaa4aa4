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
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
pass=0
fail=0
check() { # name expected actual
    if [ "$2" = "$3" ]; then echo "ok   $1"; pass=$((pass + 1)); else echo "FAIL $1: got $3, expected $2"; fail=$((fail + 1)); fi
}
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

# kill -9 in the middle of the selection (after 60 evaluations), then resume.
"$cnas" -q search "$examples/darts-synthetic.ini" "${S[@]}" --set run.name=k >k.out 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
    [ -f runs/k/projection.csv ] && [ "$(wc -l <runs/k/projection.csv)" -ge 60 ] && break
    sleep 0.02
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
[ -f runs/k/checkpoint.ckpt ] && [ ! -f runs/k/arch.txt ]
check "kill -9 landed inside the selection" 0 $?
"$cnas" -q resume runs/k >/dev/null 2>&1
check "resume after kill -9 finishes" 0 $?
for f in arch.txt projection.csv steps.csv epochs.csv alpha.jsonl ranking.tsv; do
    cmp -s "$r/$f" "runs/k/$f"
    check "$f equals the uninterrupted run's" 0 $?
done

# kill -9 once the selection has logged `at` rows, resume, compare with run $1.
kill_resume() { # reference-name name at search-args...
    local ref=runs/$1 name=$2 at=$3
    shift 3
    "$cnas" -q search "$@" --set run.name="$name" >"$name.out" 2>&1 &
    local pid=$!
    for _ in $(seq 1 3000); do
        [ -f "runs/$name/projection.csv" ] && [ "$(wc -l <"runs/$name/projection.csv")" -ge "$at" ] && break
        sleep 0.02
    done
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    [ -f "runs/$name/checkpoint.ckpt" ] && [ ! -f "runs/$name/arch.txt" ]
    check "$name: kill -9 landed inside the selection" 0 $?
    "$cnas" -q resume "runs/$name" >/dev/null 2>&1
    check "$name: resume after kill -9 finishes" 0 $?
    for f in arch.txt projection.csv steps.csv epochs.csv alpha.jsonl ranking.tsv; do
        cmp -s "$ref/$f" "runs/$name/$f"
        check "$name: $f equals the uninterrupted run's" 0 $?
    done
}

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
kill_resume dasgm dasgm_k 120 "${D[@]}"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
