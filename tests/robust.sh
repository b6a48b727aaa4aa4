#!/usr/bin/env bash
# Checkpoint robustness through the cnas binary: a corrupt or truncated checkpoint is
# refused before anything in the run directory changes, a failed checkpoint write keeps
# the previous checkpoint and fails the run, and a run directory in use is refused.
# Usage: robust.sh CNAS_BINARY EXAMPLES_DIR
set -u
cnas=$1
examples=$2
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT

# Every file's name, size and contents: equal before and after means nothing was touched.
dir_hash() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum); }

cp "$examples/darts-synthetic.ini" s.ini

# ---- a search in progress holds its run directory ------------------------------------
"$cnas" -q search s.ini --set run.out_dir=runs --set run.name=s --set checkpoint.every_steps=1 \
    >s.out 2>&1 &
pid=$!
for _ in $(seq 1 3000); do [ -f runs/s/checkpoint.ckpt ] && break; sleep 0.02; done
[ -f runs/s/checkpoint.ckpt ] && kill -0 $pid 2>/dev/null
check "the search wrote a checkpoint and still runs" 0 $?
out=$("$cnas" resume runs/s 2>&1)
check "resume of a run directory in use is refused" 2 $? \
    "cnas resume: run directory runs/s is in use by another cnas process \(it holds runs/s/cnas.lock\)" "$out"
kill -0 $pid 2>/dev/null
check "the search in progress is undisturbed" 0 $?
# kill -9 leaves the lock file but no lock: the runs below take it again.
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
pid=
[ ! -f runs/s/arch.txt ]
check "the search was killed before its end" 0 $?
rm -f runs/s/checkpoint.ckpt.tmp

# ---- a corrupt or truncated checkpoint is refused, the run directory untouched ---------
corrupt_case() { # label expected_pattern command-on-checkpoint...
    local label=$1 pattern=$2
    shift 2
    rm -rf "runs/c"
    cp -a runs/s runs/c
    "$@" runs/c/checkpoint.ckpt
    local before after
    before=$(dir_hash runs/c)
    out=$("$cnas" resume runs/c 2>&1)
    check "resume refuses a checkpoint that is $label" 2 $? "$pattern" "$out"
    after=$(dir_hash runs/c)
    [ "$before" = "$after" ]
    check "the run directory is untouched ($label)" 0 $?
}
size=$(stat -c %s runs/s/checkpoint.ckpt)
half() { truncate -s $((size / 2)) "$1"; }
short4() { truncate -s $((size - 4)) "$1"; }
flip() { printf '\x55' | dd of="$1" bs=1 seek=$((size / 3)) conv=notrunc status=none; }
badmagic() { printf 'XXXX' | dd of="$1" bs=1 seek=0 conv=notrunc status=none; }
tiny() { head -c 20 "$1" >"$1.x" && mv "$1.x" "$1"; }
badlen() { printf '\xff\xff\xff\x7f' | dd of="$1" bs=1 seek=28 conv=notrunc status=none; }
corrupt_case "cut in half" \
    "^cnas resume: checkpoint runs/c/checkpoint.ckpt: record [0-9]+ of [0-9]+ .* at byte offset [0-9]+: .*past the end" half
corrupt_case "missing its last 4 bytes" \
    "^cnas resume: checkpoint runs/c/checkpoint.ckpt: (record [0-9]+ of|[0-9]+ trailing bytes|checksum).*byte offset" short4
corrupt_case "flipped in the middle" \
    "^cnas resume: checkpoint runs/c/checkpoint.ckpt: .*byte offset [0-9]+" flip
corrupt_case "not a checkpoint" "checkpoint runs/c/checkpoint.ckpt: not a cnas checkpoint \(bad magic at byte offset 0\)" badmagic
corrupt_case "20 bytes long" "checkpoint runs/c/checkpoint.ckpt: truncated \(20 bytes" tiny
corrupt_case "with a broken record header" \
    "checkpoint runs/c/checkpoint.ckpt: record 1 of [0-9]+ at byte offset 24: bad name length" badlen

# ---- a failed checkpoint write keeps the previous checkpoint and fails the run ----------
rm -rf runs/w
cp -a runs/s runs/w
ck_before=$(sha256sum <runs/w/checkpoint.ckpt)
# Smaller than the checkpoint, larger than every other file the run writes (KiB).
limit=$(( (size / 1024) / 2 ))
out=$( (ulimit -f $limit; "$cnas" -q resume runs/w) 2>&1)
code=$?
[ $code -ne 0 ]
check "a checkpoint that cannot be written fails the run" 0 $? "" ""
grep -qE "checkpoint runs/w/checkpoint.ckpt.tmp: write failed: File too large \(runs/w/checkpoint.ckpt is left as it was\)" <<<"$out"
check "the failure names the checkpoint" 0 $? "" ""
[ $code -ne 0 ] || echo "$out" | head -5
[ "$(sha256sum <runs/w/checkpoint.ckpt)" = "$ck_before" ] && [ ! -e runs/w/checkpoint.ckpt.tmp ]
check "the previous checkpoint is intact and no temporary is left" 0 $?
"$cnas" -q resume runs/w >/dev/null 2>&1 </dev/null &
rpid=$!
for _ in $(seq 1 3000); do
    [ "$(sha256sum <runs/w/checkpoint.ckpt)" != "$ck_before" ] && break
    kill -0 $rpid 2>/dev/null || break
    sleep 0.05
done
[ "$(sha256sum <runs/w/checkpoint.ckpt)" != "$ck_before" ]
check "without the limit the run resumes from it and checkpoints again" 0 $?
kill -INT $rpid 2>/dev/null
wait $rpid 2>/dev/null

summary
