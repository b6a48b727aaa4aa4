#!/usr/bin/env bash
# Data parallelism and parallel stand-alone training under mpirun (docs/distributed.md):
# a DARTS search on 2 ranks is deterministic; 2 ranks and 1 rank give the same
# architecture and losses within a tolerance; one rank killed stops the job and
# `cnas resume` under mpirun continues it; a checkpoint of 2 ranks resumes on 1; a
# balanced-mixture search (a strategy that decides from validation batches) runs on 2
# ranks; stand-alone training on 2 ranks, interrupted and resumed on 3; a DASGM search
# (a strategy that makes batches of its own) on 2 ranks equals 1 rank, with a Gaussian
# generator and with a GAN trained beside the search.
# Usage: mpi.sh CNAS_BINARY TEST_DIST_BINARY CKPT_DIFF_BINARY  (registered only when cnas was
# built with MPI)
set -u
cnas=$1
test_dist=$2
ckpt_diff=$3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# Waiting ranks yield the processor instead of polling: CI machines run other work too.
export OMPI_MCA_mpi_yield_when_idle=1
# Loopback and shared memory only, whatever the machine's network.
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OPENBLAS_NUM_THREADS=1 TMPDIR=$work
mpi() { # N command...: cnas on N ranks, one thread each
    local n=$1
    shift
    mpirun -np "$n" --bind-to none "$cnas" "$@"
}
# Wait until no process of a job's run directory is left (a killed rank releases its
# lock on the run directory when it has exited, which may be after mpirun returns).
gone() { # run_name
    for _ in $(seq 1 200); do pgrep -f "run.name=$1( |\$)" >/dev/null || return 0; sleep 0.05; done
}
quick=${CNAS_TEST_QUICK:-}
# A DARTS search whose architecture parameters move enough in 12 steps that the
# derived cells do not hang on float noise (arch_learning_rate 0.03). 96 training
# samples in batches of 25: 25, 25, 25, 21, split 13 / 12 and 11 / 10 on 2 ranks.
cat > darts.ini <<'INI'
[run]
seed = 3
out_dir = runs
threads = 1
[dataset]
use = synthetic
classes = 4
n_train = 192
n_test = 64
size = 8
[data]
train_portion = 0.5
[space]
use = darts_cell
init_channels = 4
layers = 3
[strategy]
use = darts
arch_learning_rate = 0.03
[train]
epochs = 3
batch_size = 25
[checkpoint]
every_steps = 2
INI
OUTPUTS="arch.txt steps.csv epochs.csv alpha.jsonl ranking.tsv"
# 0. The pieces against one process on the whole batch (test_dist.c), 2 and 3 ranks.
for n in 2 3; do
    out=$(mpirun -np $n --bind-to none "$test_dist" 2>&1)
    check "$n ranks: synchronised batch norm and weighted reduction equal the whole batch's" 0 $? "" "$out"
done

# 1. Two ranks, twice: the same files (the reductions' order is fixed for a fixed N).
out=$(mpi 2 -q search darts.ini --set run.name=a 2>&1); check "2 ranks: a DARTS search finishes" 0 $? "" "$out"
if [ -z "$quick" ]; then # under the sanitizers, the resumed run of 3. compares with a
    out=$(mpi 2 -q search darts.ini --set run.name=b 2>&1); check "2 ranks: a second run finishes" 0 $? "" "$out"
    same_files "2 ranks twice give the same" a b $OUTPUTS
fi
grep -q '"mpi_ranks": 2' runs/a/manifest.json; check "the manifest records 2 ranks" 0 $?
ls "$work" | grep -q '^cnas-rank'; check "no scratch directory of rank 1 is left" 1 $?

# 2. One rank against two: the same architecture, losses within 1e-2 relative (sums are
# added in another order, so the bits differ; docs/distributed.md).
out=$("$cnas" -q search darts.ini --set run.name=one 2>&1); check "1 rank: the same search" 0 $? "" "$out"
cmp -s runs/one/arch.txt runs/a/arch.txt; check "1 and 2 ranks derive the same architecture" 0 $?
awk -F, 'NR == FNR { if (FNR > 1) l[FNR] = $5; next }
         FNR > 1 { d = $5 - l[FNR]; if (d < 0) d = -d; if (d > 1e-2 * l[FNR]) bad = 1; n++ }
         END { exit bad || n != 12 }' runs/one/steps.csv runs/a/steps.csv
check "1 and 2 ranks: every step's train_loss within 1e-2 relative" 0 $?

# 3. kill -9 one rank: mpirun stops the job with a message naming it; resume on 2 ranks
# continues from the last checkpoint and writes the uninterrupted run's files.
mpi 2 -q search darts.ini --set run.name=k >k.out 2>&1 &
mpid=$!
for _ in $(seq 1 1500); do
    [ -f runs/k/checkpoint.ckpt ] && [ "$(wc -l 2>/dev/null <runs/k/steps.csv || echo 0)" -ge 4 ] && break
    sleep 0.02
done
victim=$(pgrep -P "$mpid" -f "$cnas" | tail -1)
[ -n "$victim" ] && kill -9 "$victim"
wait $mpid
code=$?
gone k
[ "$code" != 0 ] && grep -qiE "signal 9|killed" k.out
check "kill -9 of one rank stops the job with a message" 0 $? "" "$(cat k.out)"
[ ! -f runs/k/arch.txt ]; check "the killed job did not finish" 0 $?
out=$(mpi 2 -q resume runs/k 2>&1); check "cnas resume on 2 ranks finishes it" 0 $? "" "$out"
same_files "resumed on 2 ranks equals the uninterrupted run:" a k $OUTPUTS
# 4. A checkpoint written by 2 ranks resumes on 1: the state holds nothing per rank.
# (Under the sanitizers 3. is the interruption test.)
if [ -z "$quick" ]; then
    mpi 2 -q search darts.ini --set run.name=c2 --set checkpoint.every_steps=1 >/dev/null 2>&1 &
    mpid=$!
    for _ in $(seq 1 1500); do
        [ "$(wc -l 2>/dev/null <runs/c2/steps.csv || echo 0)" -ge 5 ] && break
        sleep 0.02
    done
    kill -9 $(pgrep -P "$mpid" -f "$cnas") 2>/dev/null
    wait $mpid 2>/dev/null
    gone c2
    [ ! -f runs/c2/arch.txt ]; check "the 2-rank job was killed before its end" 0 $?
    out=$("$cnas" resume runs/c2 2>&1)
    check "a checkpoint of 2 ranks resumes on 1 rank" 0 $? "written by 2 ranks, this run has 1" "$out"
    cmp -s runs/one/arch.txt runs/c2/arch.txt; check "2 ranks then 1: the same architecture" 0 $?
    awk -F, 'NR == FNR { if (FNR > 1) l[FNR] = $5; next }
             FNR > 1 { d = $5 - l[FNR]; if (d < 0) d = -d; if (d > 1e-2 * l[FNR]) bad = 1; n++ }
             END { exit bad || n != 12 }' runs/a/steps.csv runs/c2/steps.csv
    check "2 ranks then 1: losses within 1e-2 of 2 ranks throughout" 0 $?
fi

# 5. A strategy that decides from validation batches it draws itself (balanced mixture):
# every rank gets them whole, takes the same decisions, and the supernets stay equal.
cat > pool.ini <<'INI'
[run]
out_dir = runs
threads = 1
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
[checkpoint]
every_steps = 1
INI
out=$(mpi 2 -q search pool.ini --set run.name=pool 2>&1)
check "2 ranks: a balanced-mixture search finishes (supernets equal at every checkpoint)" 0 $? "" "$out"
if [ -z "$quick" ]; then
    out=$("$cnas" -q search pool.ini --set run.name=pool1 2>&1); check "1 rank: the same search" 0 $? "" "$out"
    cut -f1,6 runs/pool/ranking.tsv | cmp -s - <(cut -f1,6 runs/pool1/ranking.tsv)
    check "balanced mixture: 1 and 2 ranks rank the architectures alike" 0 $?
fi

# 6. Stand-alone training on 2 ranks; interrupted (two results removed) and resumed on 3.
out=$(mpi 2 -q standalone pool.ini --set run.name=sa 2>&1)
check "2 ranks: standalone trains every architecture" 0 $? "\[3/3\]" "$out"
[ "$(wc -l <runs/sa-standalone/standalone.csv)" = 4 ]; check "standalone.csv has a row per architecture" 0 $?
cut -d, -f1-3 runs/sa-standalone/standalone.csv >a.csv
if [ -z "$quick" ]; then
    "$cnas" -q standalone pool.ini --set run.name=sa1 >/dev/null 2>&1
    cut -d, -f1-3 runs/sa1-standalone/standalone.csv >b.csv
    cmp -s a.csv b.csv; check "standalone on 2 ranks gives the accuracies of 1 rank" 0 $?
fi
rm runs/sa-standalone/001/result.txt runs/sa-standalone/002/result.txt
out=$(mpi 3 -q resume runs/sa-standalone 2>&1)
check "resume on 3 ranks trains only what is missing" 0 $? "training 2 architectures .* on 3 ranks \(1 done before\)" "$out"
cut -d, -f1-3 runs/sa-standalone/standalone.csv >c.csv
cmp -s a.csv c.csv; check "the resumed table equals the first" 0 $?

# 7. DASGM (hyper, Gaussian generator): the synthetic batch is drawn whole on every rank at
# the global batch size, v is the global validation batch's, so 2 ranks search as 1 does:
# the same architecture and synthetic accuracy, losses within 1e-2 relative.
dasgm=(--set strategy.use=dasgm --set strategy.generator=gaussian_gen --set strategy.generator_update=hyper)
out=$(mpi 2 -q search darts.ini --set run.name=dg2 "${dasgm[@]}" 2>&1); check "2 ranks: a DASGM search finishes" 0 $? "" "$out"
if [ -z "$quick" ]; then
    out=$(mpi 2 -q search darts.ini --set run.name=dg2b "${dasgm[@]}" 2>&1); check "2 ranks: a second DASGM run finishes" 0 $? "" "$out"
    same_files "DASGM: 2 ranks twice give the same" dg2 dg2b $OUTPUTS generator.ckpt
fi
out=$("$cnas" -q search darts.ini --set run.name=dg1 "${dasgm[@]}" 2>&1); check "1 rank: the same DASGM search" 0 $? "" "$out"
cmp -s runs/dg1/arch.txt runs/dg2/arch.txt; check "DASGM: 1 and 2 ranks derive the same architecture" 0 $?
# columns: epoch,step,arch_loss,syn_acc,hyper_val_loss,hyper_grad_norm,gen_loss,lr,train_loss,train_acc
awk -F, 'NR == FNR { if (FNR > 1) { a[FNR] = $3; s[FNR] = $4; v[FNR] = $5; t[FNR] = $9 }; next }
         function far(x, y) { d = x - y; if (d < 0) d = -d; return d > 1e-2 * y }
         FNR > 1 { if (far($3, a[FNR]) || $4 != s[FNR] || far($5, v[FNR]) || far($9, t[FNR])) bad = 1; n++ }
         END { exit bad || n != 12 }' runs/dg1/steps.csv runs/dg2/steps.csv
check "DASGM: 1 and 2 ranks: every step's losses within 1e-2 relative, the same synthetic accuracy" 0 $?

# 8. DASGM with the GAN trained beside the search (gan, cgan): fitted before the first step
# on batches every rank holds whole (their gradients count once), its fakes whole at the
# global batch size, its batch norm unsynchronised; 2 ranks follow 1 to float rounding.
gan=(--set strategy.use=dasgm --set strategy.generator=cgan --set strategy.generator_update=gan
     --set strategy.generator_options=fit_epochs=1)
out=$(mpi 2 -q search darts.ini --set run.name=gan2 "${gan[@]}" 2>&1); check "2 ranks: a DASGM search with a GAN finishes" 0 $? "" "$out"
out=$("$cnas" -q search darts.ini --set run.name=gan1 "${gan[@]}" 2>&1); check "1 rank: the same DASGM search with a GAN" 0 $? "" "$out"
cmp -s runs/gan1/arch.txt runs/gan2/arch.txt; check "DASGM with a GAN: 1 and 2 ranks derive the same architecture" 0 $?
# columns: epoch,step,arch_loss,syn_acc,gen_loss,disc_loss,lr,train_loss,train_acc
awk -F, 'NR == FNR { if (FNR > 1) for (i = 3; i <= 9; i++) v[FNR, i] = $i; next }
         function far(x, y) { d = x - y; if (d < 0) d = -d; return d > 1e-4 * (y < 0 ? -y : y) + 1e-7 }
         FNR > 1 { for (i = 3; i <= 9; i++) if (far($i, v[FNR, i])) bad = 1; n++ }
         END { exit bad || n != 12 }' runs/gan1/steps.csv runs/gan2/steps.csv
check "DASGM with a GAN: 1 and 2 ranks: every step's generator, discriminator and search losses within 1e-4 relative" 0 $?
# The supernet's batch norm over the synthetic batch (whole on every rank) is not
# synchronised, so the running variances match too (6e-3 apart when it was: the unbiased
# correction counted 2 copies of the batch).
out=$("$ckpt_diff" runs/gan1/checkpoint.ckpt runs/gan2/checkpoint.ckpt running_var 1e-5 2>&1)
check "DASGM with a GAN: 1 and 2 ranks: the supernet's running variances within 1e-5" 0 $? "" "$out"

summary
