# What the shell suites share; source it once the arguments are read:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# It makes a scratch directory (removed at exit; a suite needing more cleanup sets its own
# trap and removes "$work" itself), moves into it and starts the counters. A suite calls
# `check` / `ok` per assertion and ends with `summary`, whose status is the suite's.
# Functions that run searches need $cnas (the binary) set by the suite.
set -u
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
pass=0
fail=0
t0=$SECONDS

# check NAME EXPECTED_CODE ACTUAL_CODE [OUTPUT_PATTERN] [OUTPUT]: the code must match and,
# when a pattern is given, the output must match it (extended regex). On failure the
# output's first and last lines are shown.
check() {
    local name=$1 want=$2 got=$3 pattern=${4:-} out=${5:-}
    if [ "$got" != "$want" ]; then
        echo "FAIL $name: exit $got, expected $want"; show_output "$out"; fail=$((fail + 1)); return
    fi
    if [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; then
        echo "FAIL $name: output lacks /$pattern/"; show_output "$out"; fail=$((fail + 1)); return
    fi
    echo "ok   $name"; pass=$((pass + 1))
}

show_output() {
    awk '{ l[NR] = $0 } END { for (i = 1; i <= NR; i++) if (i <= 5 || i > NR - 5) print "     " l[i]; else if (i == 6) print "     ..." }' <<<"$1"
}

# ok NAME: the status of the previous command must be 0.
ok() {
    local s=$?
    check "$1" 0 "$s" "" ""
}

# same_files LABEL RUN_A RUN_B FILE...: each file byte-identical in runs/RUN_A and runs/RUN_B
# (the first differing lines shown when not).
same_files() {
    local label=$1 a=$2 b=$3 code
    shift 3
    for f in "$@"; do
        cmp -s "runs/$a/$f" "runs/$b/$f"
        code=$?
        check "$label: $f identical" 0 $code
        [ $code -eq 0 ] || diff "runs/$a/$f" "runs/$b/$f" | head -4 | cut -c1-160
    done
}

# interrupt_resume LABEL RUN_NAME SIGNAL READY_TEST CONFIG [--set ...]: a search into
# runs/RUN_NAME stopped by SIGNAL (KILL or INT) once READY_TEST (evaluated) holds, checked to
# have stopped between a checkpoint and the end, then `cnas resume`d to the end. The caller
# compares the files with an uninterrupted run; $resumed holds the log's resume line.
interrupt_resume() {
    local label=$1 name=$2 sig=$3 ready=$4 ini=$5
    shift 5
    # $! must be cnas itself, not a subshell running it.
    "$cnas" -q search "$ini" --set run.out_dir=runs --set run.name="$name" "$@" >"$name.out" 2>&1 &
    local pid=$!
    for _ in $(seq 1 3000); do eval "$ready" && break; sleep 0.02; done
    kill "-$sig" $pid 2>/dev/null
    wait $pid 2>/dev/null
    local code=$? what="kill -9"
    if [ "$sig" = INT ]; then
        what=Ctrl-C
        check "$label: Ctrl-C stops the search with exit 1" 1 $code "continue with: cnas resume runs/$name" \
            "$(cat "$name.out")"
    fi
    [ -f "runs/$name/checkpoint.ckpt" ] && [ ! -f "runs/$name/arch.txt" ]
    check "$label: $what landed after a checkpoint and before the end" 0 $?
    "$cnas" -q resume "runs/$name" >/dev/null 2>&1
    check "$label: resume after $what finishes" 0 $?
    # (global: callers may check where it resumed)
    resumed=$(grep -oE "[a-z_0-9]+: resuming at .*" "runs/$name/log.txt" | head -1)
    echo "     ($resumed)"
}

# past FILE ROWS: true once FILE has at least ROWS lines (a READY_TEST for interrupt_resume).
past() {
    [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]
}

summary() {
    echo "$pass passed, $fail failed ($((SECONDS - t0)) s)"
    [ "$fail" -eq 0 ]
}
