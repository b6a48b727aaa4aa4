#!/usr/bin/env bash
# cnas report end to end: tiny DARTS, balanced-mixture, SETN and GOLD-NAS searches on generated data,
# and a retraining of the DARTS cell (test accuracy per class): their HTML reports rendered by headless Chromium (the DOM checked for the expected
# sections, charts and architecture; no console message; screenshots written next to the
# binary's build directory as report-*.png), a run still in progress, a directory with only
# a checkpoint, the stand-alone correlation, a Pareto front, escaping, and usage errors.
# Usage: report.sh CNAS_BINARY EXAMPLES_DIR
set -u
cnas=$1
examples=$2
build=$(cd "$(dirname "$cnas")/.." && pwd)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! command -v chromium >/dev/null 2>&1; then
    echo "FAIL chromium is not installed: this suite renders the reports in a real browser" \
         "(apt-get install chromium)"
    exit 1
fi

# render HTML PNG: the DOM to HTML.dom, the browser's log to HTML.log, a screenshot
render() {
    local profile
    profile=$(mktemp -d "$work/profile.XXXXXX")
    timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --enable-logging=stderr --v=0 --virtual-time-budget=2000 \
        --hide-scrollbars --window-size=1280,2400 --screenshot="$2" \
        --dump-dom "file://$1" >"$1.dom" 2>"$1.log"
}
# has_ids FILE ID...: every id present
has_ids() {
    local f=$1 id missing=0
    shift
    for id in "$@"; do
        grep -q "id=\"$id\"" "$f" || { echo "     missing id=\"$id\""; missing=1; }
    done
    return $missing
}
# count PATTERN FILE: occurrences of a fixed string
count() { grep -oF -- "$1" "$2" | wc -l; }
# the number of metric columns of a metrics CSV (all but epoch and step)
metric_columns() { head -1 "$1" | awk -F, '{print NF - 2}'; }
# no console message and no uncaught exception while rendering
console_clean() { ! grep -E "CONSOLE|Uncaught" "$1.log"; }
# self-contained: nothing fetched from anywhere
no_external() {
    ! grep -Eio '<script[^>]*src|src="https?:|href="https?:|<link[^>]*rel="?stylesheet|url\(["'"'"']?https?:|@import' "$1"
}

# The console check catches a page whose script fails.
echo '<!DOCTYPE html><html><body><p>x</p><script>undefinedFunction();</script></body></html>' >bad.html
render "$work/bad.html" "$work/bad.png"
grep -q "Uncaught" bad.html.log; ok "the console check sees an uncaught exception"

# ---- DARTS ---------------------------------------------------------------------------------
out=$("$cnas" -q search "$examples/darts-synthetic.ini" --set run.out_dir=runs --set run.name=darts \
      --set dataset.size=8 --set dataset.n_train=64 --set space.init_channels=2 --set space.layers=3 \
      --set train.batch_size=16 2>&1)
check "a tiny DARTS search" 0 $? "architecture: Genotype" "$out"
out=$("$cnas" report runs/darts 2>&1); check "report writes RUN_DIR/report.html" 0 $? "report: runs/darts/report.html" "$out"
d=$work/runs/darts/report.html
no_external "$d"; ok "the DARTS report references no external resource"
render "$d" "$build/report-darts.png"; check "Chromium renders the DARTS report" 0 $? "" ""
[ -s "$build/report-darts.png" ]; ok "a screenshot of the DARTS report: $build/report-darts.png"
console_clean "$d"; ok "no console message rendering the DARTS report"
has_ids "$d.dom" overview architecture drawings curves curves-epochs curves-steps alpha alpha-normal \
          alpha-reduce ranking ranking-tsv config manifest plugins log
ok "the DARTS report has every section"
want=$(( $(metric_columns runs/darts/epochs.csv) + $(metric_columns runs/darts/steps.csv) ))
[ "$(count 'class="plot line"' "$d.dom")" -eq "$want" ]; ok "one line chart per metric column ($want)"
[ "$(count '<figure class="drawing">' "$d.dom")" -eq "$(ls runs/darts/*.svg | wc -l)" ] &&
    [ "$(count 'class="plot heat"' "$d.dom")" -eq 2 ] && [ "$(count 'class="plot strip"' "$d.dom")" -eq 2 ]
ok "every cell drawing inlined, a heatmap and a strip per weight group"
grep -q 'id="arch-text">Genotype(normal=' "$d.dom" && grep -qF "normal_concat=[2, 3, 4, 5]" "$d.dom" &&
    grep -q "sep_conv_3x3" "$d.dom" && grep -q 'id="status">finished' "$d.dom"
ok "the DARTS report shows the architecture, the candidates' names and the status"
! grep -qiE '<\?xml|<!DOCTYPE svg' "$d"; ok "the drawings' XML prolog and DOCTYPE are left out"

# A retraining of the found cell: its report has the test accuracy per class.
out=$("$cnas" -q train "$examples/darts-synthetic.ini" --arch runs/darts/arch.txt --set run.out_dir=runs \
      --set run.name=darts --set dataset.size=8 --set dataset.n_train=64 --set network.init_channels=2 \
      --set network.layers=3 --set train.batch_size=16 --set retrain.epochs=1 2>&1)
check "a tiny retraining" 0 $? "test accuracy" "$out"
"$cnas" report runs/darts-train >/dev/null 2>&1 && render "$work/runs/darts-train/report.html" "$build/report-train.png"
ok "Chromium renders the retraining's report"
has_ids "$work/runs/darts-train/report.html.dom" per-class per-class-csv &&
    [ "$(awk '/id="per-class-csv"/,/<\/table>/' "$work/runs/darts-train/report.html.dom" | grep -c '<tr>')" -eq 5 ]
ok "the retraining's report has a row per class of test_per_class.csv"

# ---- balanced mixture ------------------------------------------------------------------------
cat > pool.ini <<'INI'
[run]
name = pool
out_dir = runs
threads = 2
[dataset]
use = synthetic
classes = 4
n_train = 192
n_test = 64
size = 8
[data]
augment_val = false
[space]
use = resnet20_pool
channels = 2,2,4,4
pools = 1
[strategy]
use = balanced_mixture
supernets = 2
[train]
epochs = 2
batch_size = 32
lr = 0.1
weight_decay = 0
grad_clip = 0
INI
out=$("$cnas" -q search pool.ini 2>&1); check "a tiny balanced-mixture search" 0 $? "architecture: \[" "$out"
m=$work/mixture.html
out=$("$cnas" report runs/pool -o "$m" 2>&1); check "report -o FILE" 0 $? "report: $m" "$out"
[ ! -e runs/pool/report.html ]; ok "-o writes only FILE"
no_external "$m"; ok "the mixture report references no external resource"
render "$m" "$build/report-mixture.png"; check "Chromium renders the mixture report" 0 $? "" ""
console_clean "$m"; ok "no console message rendering the mixture report"
has_ids "$m.dom" mixture pma pma-train pma-svg ranking-csv ranking-tsv drawings curves-steps
ok "the mixture report has p(m|a), both rankings and the drawing"
grep -qF "id=\"arch-text\">$(cat runs/pool/arch.txt)<" "$m.dom"; ok "the mixture report shows the architecture"
# the final p(m|a): one row per configuration of ranking.csv
rows=$(( $(wc -l < runs/pool/ranking.csv) - 1 ))
[ "$(awk '/id="pma"/,/<\/svg>/' "$m.dom" | grep -c 'class="best"')" -eq $((rows + 1)) ]
ok "the final p(m|a) has a row per configuration ($rows)"

# the stand-alone correlation: Kendall tau as cnas correlate computes it
awk -F, 'NR == 1 {print "index,arch,test_acc"; next}
         {a = $0; sub(/^[^"]*"/, "", a); sub(/".*/, "", a); printf "%d,\"%s\",%.4f\n", NR - 2, a, (NR * 37 % 11) / 11}' \
    runs/pool/ranking.csv > standalone.csv
out=$("$cnas" report runs/pool -o sa.html --standalone standalone.csv 2>&1); check "report --standalone" 0 $? "" "$out"
tau=$(grep -o 'class="tau">[^<]*' sa.html | sed 's/.*>//')
ref=$("$cnas" correlate runs/pool/ranking.csv standalone.csv | sed -n 's/^Kendall tau: //p')
awk -v a="$tau" -v b="$ref" 'BEGIN { exit !(a != "" && (a - b) < 1e-4 && (b - a) < 1e-4) }'
ok "the report's Kendall tau ($tau) is cnas correlate's ($ref)"
out=$("$cnas" report runs/pool -o x.html --standalone missing.csv 2>&1)
check "an unreadable --standalone file is exit 2 naming it" 2 $? "missing.csv" "$out"

# ---- GOLD-NAS: the Pareto front of one search ---------------------------------------------------
cat > gold.ini <<'INI'
[run]
name = gold
out_dir = runs
seed = 2
threads = 2
[dataset]
use = synthetic
classes = 4
n_train = 256
n_test = 64
size = 16
[data]
train_portion = 0.75
[space]
use = gold_cell
init_channels = 4
layers = 3
[strategy]
use = gold_nas
lambda0 = 0.01
stable_rounds = 1
[train]
epochs = 6
batch_size = 32
lr = 0.01
lr_schedule = constant
INI
out=$("$cnas" -q search gold.ini 2>&1); check "a tiny GOLD-NAS search" 0 $? "" "$out"
out=$("$cnas" report runs/gold 2>&1); check "report of a GOLD-NAS run" 0 $? "" "$out"
g=$work/runs/gold/report.html
no_external "$g"; ok "the GOLD-NAS report references no external resource"
render "$g" "$build/report-gold.png"; check "Chromium renders the GOLD-NAS report" 0 $? "" ""
console_clean "$g"; ok "no console message rendering the GOLD-NAS report"
has_ids "$g.dom" pareto pareto-csv ranking-tsv; ok "the GOLD-NAS report has the Pareto front and the ranking"
rows=$(awk -F, 'NR > 1' runs/gold/pareto.csv | wc -l)
[ "$(awk '/id="pareto-csv"/,/<\/table>/' "$g.dom" | grep -c '<tr>')" -eq $((rows + 1)) ]
ok "the Pareto table has a row per snapshot ($rows)"

# ---- SETN --------------------------------------------------------------------------------------
cat > nb.ini <<'INI'
[run]
name = nb
out_dir = runs
threads = 2
[dataset]
use = synthetic
classes = 4
n_train = 128
n_test = 64
size = 8
[space]
use = nb201_cell
init_channels = 2
cells_per_stage = 1
[strategy]
use = setn
candidates = 8
eval_batches = 2
[train]
epochs = 2
batch_size = 32
nesterov = true
weight_decay = 5e-4
grad_clip = 0
INI
out=$("$cnas" -q search nb.ini 2>&1); check "a tiny SETN search" 0 $? "architecture: \|" "$out"
# a Pareto front: accuracy and FLOPs of the candidates
awk -F, 'NR == 1 {print "arch,accuracy,flops"; next} {print $2 "," $3 "," $6}' runs/nb/candidates.csv > runs/nb/pareto.csv
printf '"big",0.99,900000000\n"tiny",0.01,10\n' >> runs/nb/pareto.csv
front=$(awk -F, 'NR > 1 {n++; a[n] = $2; f[n] = $3}
    END {for (i = 1; i <= n; i++) {d = 0; for (j = 1; j <= n; j++)
         if (j != i && f[j] <= f[i] && a[j] >= a[i] && (f[j] < f[i] || a[j] > a[i])) d = 1; k += !d}; print k}' runs/nb/pareto.csv)
out=$("$cnas" report runs/nb 2>&1); check "report of a SETN run" 0 $? "" "$out"
s=$work/runs/nb/report.html
no_external "$s"; ok "the SETN report references no external resource"
render "$s" "$build/report-setn.png"; check "Chromium renders the SETN report" 0 $? "" ""
console_clean "$s"; ok "no console message rendering the SETN report"
has_ids "$s.dom" alpha alpha-cell candidates-csv ranking-tsv pareto pareto-csv drawings
ok "the SETN report has the weights, the candidates and the Pareto front"
grep -qF "id=\"arch-text\">$(cat runs/nb/arch.txt)<" "$s.dom" && grep -q "nor_conv_3x3" "$s.dom"
ok "the SETN report shows the architecture and the candidates' names"
[ "$(awk '/id="candidates-csv"/,/<\/table>/' "$s.dom" | grep -c '<tr>')" -eq 9 ]
ok "the candidates table has a row per candidate"
[ "$(count 'class="pt marked"' "$s.dom")" -eq "$front" ]; ok "the Pareto front marks the $front non-dominated candidates"

# ---- a run in progress --------------------------------------------------------------------------
cp -r runs/darts progress
rm -f progress/arch.txt progress/report.html
n=$(wc -l < progress/steps.csv)
head -n $(( (n + 1) / 2 )) runs/darts/steps.csv > progress/steps.csv
printf '1,3,0.4' >> progress/steps.csv                 # a line still being written
head -c 200 runs/darts/alpha.jsonl >> progress/alpha.jsonl
head -c 300 runs/darts/normal.svg > progress/normal.svg
p=$work/progress/report.html
out=$("$cnas" report progress 2>&1); check "report of a run in progress" 0 $? "" "$out"
render "$p" "$build/report-progress.png"; check "Chromium renders the report of a run in progress" 0 $? "" ""
console_clean "$p"; ok "no console message rendering the report of a run in progress"
grep -q 'id="in-progress"' "$p.dom" && ! grep -q 'id="arch-text"' "$p.dom" && grep -q 'id="status">in progress' "$p.dom" &&
    grep -q "Last epoch reached: 1" "$p.dom"
ok "a run without arch.txt is in progress, with its last epoch"
want=$(( $(metric_columns runs/darts/epochs.csv) + $(metric_columns runs/darts/steps.csv) ))
[ "$(count 'class="plot line"' "$p.dom")" -eq "$want" ] && [ "$(count '<figure class="drawing">' "$p.dom")" -eq 1 ] &&
    [ "$(count 'class="plot heat"' "$p.dom")" -eq 2 ]
ok "partly written files: the cut lines and the unfinished drawing are left out"
mkdir only-checkpoint && cp runs/darts/checkpoint.ckpt only-checkpoint/
out=$("$cnas" report only-checkpoint 2>&1); check "report of a directory with only a checkpoint" 0 $? "" "$out"
grep -q 'id="in-progress"' only-checkpoint/report.html && grep -q "The checkpoint is at epoch" only-checkpoint/report.html &&
    grep -q 'id="config"' only-checkpoint/report.html
ok "a checkpoint alone gives the progress and the configuration it records"

# ---- escaping and usage --------------------------------------------------------------------------
cp -r runs/pool esc
printf '<b>&"x'"'"'</b>\n' > esc/arch.txt
sed -i 's/^name = pool/name = <script>alert(1)<\/script>/' esc/config.ini
printf '<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(2)"><script>alert(3)</script><rect width="5" height="5"/></svg>\n' > esc/evil.svg
out=$("$cnas" report esc 2>&1); check "report of a run with markup in its files" 0 $? "" "$out"
grep -qF '&lt;b&gt;&amp;&quot;x&#39;&lt;/b&gt;' esc/report.html && ! grep -qF '<b>&' esc/report.html &&
    ! grep -qF '<script>alert' esc/report.html && ! grep -qiE '[[:space:]]onload=' esc/report.html && ! grep -q '<script' esc/report.html
ok "text is escaped, scripts and event handlers of a drawing are removed"
mkdir empty && touch empty/notes.txt
out=$("$cnas" report empty 2>&1); check "a directory that is not a run directory is exit 2" 2 $? "empty is not a run directory" "$out"
out=$("$cnas" report nowhere 2>&1); check "a missing directory is exit 2" 2 $? "nowhere: No such file" "$out"
out=$("$cnas" report 2>&1); check "report without RUN_DIR is a usage error" 2 $? "expected 1 argument" "$out"

summary
