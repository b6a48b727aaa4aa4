#!/usr/bin/env bash
# libFuzzer harnesses (tests/fuzz/): build each with clang, ASan and UBSan against the
# sources it fuzzes (the rest from the built libcnas), run it for a bounded time from its
# seed corpus (tests/fuzz/corpus/<name>/), and print its executions. Any crash fails.
# Usage: fuzz.sh BUILD_DIR SOURCE_DIR [SECONDS_PER_HARNESS]
set -u
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
secs=${3:-${FUZZ_SECONDS:-15}}
if ! command -v clang >/dev/null; then
    echo "FAIL: clang is not installed (apt-get install clang): the fuzz harnesses need libFuzzer"
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work" /tmp/cnas-fuzz-*' EXIT
cflags=(-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer-no-link,address,undefined
        -fno-sanitize-recover=undefined -I"$src/core/include" -I"$src/core/src" -Wno-unused-parameter
        $(pkg-config --cflags iniparser 2>/dev/null || echo -I/usr/include/iniparser))
link=(-L"$build/core" -lcnas -Wl,-rpath,"$build/core" -liniparser -lz -lm -ldl)
pass=0
fail=0
harness() { # name sources... -- extra flags
    local name=$1
    shift
    clang "${cflags[@]}" -fsanitize=fuzzer "$@" "${link[@]}" -o "$work/$name" 2>"$work/$name.cc"
}
run() { # name [env...]
    local name=$1
    shift
    mkdir -p "$work/corpus-$name"
    env "$@" ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        OMP_NUM_THREADS=1 "$work/$name" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$work/$name-" "$work/corpus-$name" \
        "$src/tests/fuzz/corpus/$name" >"$work/$name.log" 2>&1
    local code=$? execs
    execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$work/$name.log" | grep -oE "[0-9]+$")
    if [ $code -ne 0 ]; then
        echo "FAIL $name: exit $code after ${execs:-?} executions"
        grep -E "ERROR|runtime error|SUMMARY|#[0-9]+ 0x" "$work/$name.log" | head -15
        for a in "$work/$name-"*; do [ -f "$a" ] && echo "  input: $(xxd -p "$a" | head -c 400)"; done
        fail=$((fail + 1))
    else
        echo "ok   $name: ${execs:-?} executions in ${secs}s"
        pass=$((pass + 1))
    fi
}
built() { # name
    if [ -x "$work/$1" ]; then return 0; fi
    echo "FAIL $1: does not build"; head -20 "$work/$1.cc"; fail=$((fail + 1)); return 1
}

harness fuzz_config "$src/tests/fuzz/fuzz_config.c" "$src/core/src/config.c"
built fuzz_config && run fuzz_config
harness fuzz_ckpt "$src/tests/fuzz/fuzz_ckpt.c" "$src/core/src/checkpoint.c"
built fuzz_ckpt && run fuzz_ckpt
harness fuzz_idx -DFUZZ_IDX "$src/tests/fuzz/fuzz_dataset.c" "$src/plugins/datasets/idx/idx.c"
built fuzz_idx && run fuzz_idx
harness fuzz_cifar -DFUZZ_CIFAR "$src/tests/fuzz/fuzz_dataset.c" "$src/plugins/datasets/cifar/cifar.c"
built fuzz_cifar && run fuzz_cifar
# The spaces: the space plugin built instrumented, its op plugins from the build.
harness fuzz_space "$src/tests/fuzz/fuzz_space.c" -rdynamic
ops="$build/plugins/ops/darts_ops/darts_ops.so:$build/plugins/ops/nb201_ops/nb201_ops.so:$build/plugins/ops/resnet_ops/resnet_ops.so"
for sp in darts_cell nb201_cell resnet20_pool gold_cell; do
    extra=() # gold_cell builds on darts_cell's supernet.c
    [ "$sp" = gold_cell ] && extra=("$src/plugins/spaces/darts_cell/supernet.c" -I"$src/plugins/spaces/darts_cell")
    clang "${cflags[@]}" -fPIC -shared "$src/plugins/spaces/$sp/"*.c "${extra[@]}" "${link[@]}" \
        -o "$work/$sp.so" 2>"$work/$sp.cc" || { echo "FAIL $sp: does not build"; head "$work/$sp.cc"; fail=$((fail + 1)); continue; }
    built fuzz_space || break
    cp "$work/fuzz_space" "$work/fuzz_$sp"
    run "fuzz_$sp" FUZZ_OPS_SO="$ops" FUZZ_SPACE_SO="$work/$sp.so" FUZZ_SPACE="$sp"
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
