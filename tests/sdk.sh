#!/usr/bin/env bash
# The SDK as a third party sees it: install cnas into a scratch root, build the example
# op plugin and the example generator with nothing but cc and pkg-config, load them through
# the host, search with the op.
# Usage: sdk.sh BUILD_DIR SOURCE_DIR CNAS_BINARY
set -u
build=$1
src=$2
cnas=$3
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
pass=0
fail=0
step() { # name status
    if [ "$2" -eq 0 ]; then echo "ok   $1"; pass=$((pass + 1)); else echo "FAIL $1"; fail=$((fail + 1)); fi
}

meson install -C "$build" --destdir "$root" --no-rebuild --quiet >"$root/install.log" 2>&1
step "meson install puts the SDK in place" $?
pc=$(dirname "$(find "$root" -name cnas.pc | head -1)")
[ -f "$pc/cnas.pc" ]; step "cnas.pc is installed" $?
export PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR=$root
[ -f "$(pkg-config --variable=includedir cnas)/cnas/cnas.h" ]; step "pkg-config finds the headers" $?
ls "$(pkg-config --variable=plugindir cnas)"/*.so >/dev/null 2>&1; step "the built-in plugins are installed in plugindir" $?
# The installed cnas, moved under a scratch root, still finds the library and the plugins
# installed with it: no LD_LIBRARY_PATH, a RUNPATH relative to the executable.
icnas=$(find "$root" -path '*/bin/cnas' -type f | head -1)
readelf -d "$icnas" | grep -F '(RUNPATH)' | grep -qF '$ORIGIN/'
step "the installed cnas has a RUNPATH relative to \$ORIGIN" $?
env -u LD_LIBRARY_PATH ldd "$icnas" | grep -q "libcnas\.so\.[0-9]* => $root/"
step "the installed cnas loads the libcnas installed with it" $?
out=$(env -u LD_LIBRARY_PATH "$icnas" plugins 2>&1)
grep -q "^  $(pkg-config --variable=plugindir cnas)/" <<<"$out"
step "the installed cnas lists the plugins installed next to it" $?

mkdir "$root/plugin"
cp "$src/examples/plugins/scaled_relu/scaled_relu.c" "$root/plugin/"
(cd "$root/plugin" && cc -shared -fPIC -Wall -Wextra -Werror -o scaled_relu.so scaled_relu.c \
    $(pkg-config --cflags --libs cnas)) 2>"$root/cc.log"
step "the example builds with cc and pkg-config alone" $?
[ $fail -eq 0 ] || cat "$root/install.log" "$root/cc.log"

out=$("$cnas" --plugin-path "$root/plugin" plugins 2>&1)
grep -q "scaled_relu 1.0.0" <<<"$out"; step "the host lists the out-of-tree plugin" $?
out=$("$cnas" --plugin-path "$root/plugin" describe scaled_relu 2>&1)
grep -qE "scale +float +default 1.0" <<<"$out"; step "describe shows its key" $?
cd "$root" || exit 1
out=$("$cnas" -q --plugin-path "$root/plugin" search "$src/examples/darts-synthetic.ini" \
      --set run.out_dir="$root/runs" --set train.epochs=1 \
      --set space.candidates=none,skip_connect,scaled_relu,sep_conv_3x3 2>&1)
status=$?
grep -q "architecture: Genotype" <<<"$out" && [ $status -eq 0 ]
step "a search uses the plugin's op as a candidate" $?
[ $status -eq 0 ] || echo "$out" | tail -5

# The out-of-tree generator (ABI 1.2): built the same way, listed and described.
mkdir "$root/gen"
cp "$src/examples/plugins/mean_gen/mean_gen.c" "$root/gen/"
(cd "$root/gen" && cc -shared -fPIC -Wall -Wextra -Werror -o mean_gen.so mean_gen.c \
    $(pkg-config --cflags --libs cnas)) 2>"$root/gen.log"
step "the example generator builds with cc and pkg-config alone" $?
[ -f "$root/gen/mean_gen.so" ] || cat "$root/gen.log"
out=$("$cnas" --plugin-path "$root/gen" describe mean_gen 2>&1)
grep -q "generator" <<<"$out" && grep -q "noise" <<<"$out"
step "the host describes the out-of-tree generator and its key" $?
[ $? -eq 0 ] || echo "$out" | tail -5

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
