"""Sum the Check results of meson test logs into one line: 'N passed, M failed'.

A suite that crashed or timed out before Check printed its totals counts as one
failure, so a broken executable can never look green. A suite that skipped itself by
design (exit 77, e.g. test_selection under the sanitizers) is neither: it is reported
on stderr."""
import json
import re
import sys

CHECKS = re.compile(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)")
PLAIN = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)
passed = failed = 0
skipped = []
for path in sys.argv[1:]:
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        print(f"summary: no test log at {path}", file=sys.stderr)
        failed += 1
        continue
    for line in lines:
        rec = json.loads(line)
        if rec.get("result") == "SKIP":
            skipped.append(rec.get("name", "?"))
            continue
        out = rec.get("stdout", "") or ""
        m = CHECKS.search(out)
        p = PLAIN.search(out)
        if p and not m:
            n, f = map(int, p.groups())
            passed += n
            failed += f
            if rec.get("result") != "OK" and f == 0:
                failed += 1
        elif m:
            n, f, e = map(int, m.groups())
            passed += n - f - e
            failed += f + e
            if rec.get("result") != "OK" and f + e == 0:
                failed += 1
        elif rec.get("result") == "OK":
            passed += 1
        else:
            failed += 1
if skipped:
    print(f"summary: skipped by design: {', '.join(skipped)}", file=sys.stderr)
print(f"{passed} passed, {failed} failed")
