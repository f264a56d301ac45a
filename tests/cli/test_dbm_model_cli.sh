#!/usr/bin/env bash
# Command-line tests of the Deep Boltzmann Machine (model.type = dbm,
# docs/dbm.md): training with mean field and persistent chains, a bit-exact
# resume, greedy pre-training (and a resume after it), `ebm info`, the
# variational bound of `ebm eval` with exact log Z inside AIS's interval,
# sampling equal at 1 and 2 ranks, and the config errors. (test_dbn_cli.sh is the DBN's.)
#   EBM=build/ebm bash tests/cli/test_dbm_model_cli.sh      (from the repository root)
# Prints "ok - NAME" / "not ok - NAME" per check; exits non-zero on a failure.
set -u

# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=tests/lib/idx.sh
. "$(dirname "$0")/../lib/idx.sh"

json() { sed -n "s/.*\"$1\":\([-0-9.e]*\).*/\1/p" "$T/out"; }

classed 96 | idx "$T/img.idx" 96 4 4
ebm convert idx --images "$T/img.idx" --split train --out "$T/d.h5"
ebm convert idx --images "$T/img.idx" --split test --out "$T/d.h5"
report "convert: a 4x4 dataset" "$([ "$rc" -eq 0 ] || echo "rc $rc")"

cat >"$T/dbm.ini" <<EOF2
[data]
path = $T/d.h5
binarize = threshold
[model]
type = dbm
layers = 16,8,6
[train]
epochs = 3
batch_size = 8
chains = 6
lr = 0.05
monitor = 16
[output]
dir = $T/m
EOF2
ebm train "$T/dbm.ini"
CK=$T/m/ckpt-e000003.h5
report "train: a 16-8-6 dbm, reporting its mean-field sweeps" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; [ -f "$CK" ] || echo "no $CK"
       grep -q 'ebm train: dbm 16,8,6' "$T/out" || echo 'no dbm header'
       grep -q 'mean-field [0-9.]* sweeps' "$T/out" || echo 'no mean-field count')"
ebm train "$T/dbm.ini" --set output.dir="$T/m1" --set train.epochs=1
ebm train "$T/dbm.ini" --set output.dir="$T/m1" --resume auto
why=""
for t in /model/layers/0/W /model/layers/1/W /model/biases/0 /model/biases/2 \
         /train/dbm_chains/1 /train/dbm_chains/2 /train/chains; do
    h5dump -d "$t" -b LE -o "$T/a.bin" "$CK" >/dev/null 2>&1
    h5dump -d "$t" -b LE -o "$T/b.bin" "$T/m1/ckpt-e000003.h5" >/dev/null 2>&1
    cmp -s "$T/a.bin" "$T/b.bin" || why+="$t differs"$'\n'
done
report "resume: 1 + 2 epochs equal 3, bit for bit (every layer's chains)" "${why%$'\n'}"
ebm train "$T/dbm.ini" --set output.dir="$T/p" --set train.epochs=2 --set train.pretrain_epochs=3
report "pretrain: two modified RBMs, then a checkpoint at epoch 0" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       grep -q 'pre-training layer pair 0: rbm 16x8, input x2 up, x1 down, 3 epochs' "$T/out" ||
           echo 'no bottom pair'
       grep -q 'pre-training layer pair 1: rbm 8x6, input x1 up, x2 down, 3 epochs' "$T/out" ||
           echo 'no top pair'
       [ "$(grep -c '  pair [01] epoch' "$T/out")" -eq 6 ] || echo 'not 3 epochs a pair'
       [ -f "$T/p/ckpt-e000000.h5" ] || echo 'no ckpt-e000000.h5')"
mkdir -p "$T/p2" && cp "$T/p/ckpt-e000000.h5" "$T/p2/"
ebm train "$T/dbm.ini" --set output.dir="$T/p2" --set train.epochs=2 --set train.pretrain_epochs=3 \
    --resume auto
why=""
[ "$rc" -eq 0 ] || why+="resume rc $rc"$'\n'
for t in /model/layers/0/W /model/layers/1/W /model/biases/1 /train/dbm_chains/2; do
    rm -f "$T/a.bin" "$T/b.bin"
    h5dump -d "$t" -b LE -o "$T/a.bin" "$T/p/ckpt-e000002.h5" >/dev/null 2>&1
    h5dump -d "$t" -b LE -o "$T/b.bin" "$T/p2/ckpt-e000002.h5" >/dev/null 2>&1
    cmp -s "$T/a.bin" "$T/b.bin" || why+="$t differs"$'\n'
done
grep -q 'pre-training layer' "$T/out" && why+="the resume pre-trained again"
report "pretrain: resuming from the epoch-0 checkpoint skips it and equals the whole run" "${why%$'\n'}"
ebm2 train "$T/dbm.ini" --set output.dir="$T/p3" --set train.epochs=1 --set train.pretrain_epochs=1
rc2=$rc
why=""
for t in /model/layers/0/W /model/layers/1/W; do # 1 epoch a pair against 3: the pairs reach the DBM
    rm -f "$T/a.bin" "$T/b.bin"
    h5dump -d "$t" -b LE -o "$T/a.bin" "$T/p/ckpt-e000000.h5" >/dev/null 2>&1
    h5dump -d "$t" -b LE -o "$T/b.bin" "$T/p3/ckpt-e000000.h5" >/dev/null 2>&1
    [ -s "$T/a.bin" ] && [ -s "$T/b.bin" ] || why+="$t missing"$'\n'
    cmp -s "$T/a.bin" "$T/b.bin" && why+="$t the same after 1 and 3 pre-training epochs"$'\n'
done
report "pretrain: on 2 ranks, and the pre-trained pairs are the DBM's weights" \
    "$([ "$rc2" -eq 0 ] || echo "rc $rc2"; [ -f "$T/p3/ckpt-e000001.h5" ] || echo 'no checkpoint'
       printf '%s' "${why%$'\n'}")"

# The sparsity pull: with a low target the hidden biases end lower than
# without it (the same seed and data otherwise).
ebm train "$T/dbm.ini" --set output.dir="$T/sp" --set train.sparsity_cost=2 \
    --set train.sparsity_target=0.02
mean_of() { # mean of a float dataset of a checkpoint
    h5dump -d "$2" -b LE -o "$T/mean.bin" "$1" >/dev/null 2>&1 &&
        od -An -v -f "$T/mean.bin" | awk '{ for (i = 1; i <= NF; i++) { s += $i; n++ } }
                                          END { if (n) printf "%.6f", s / n }'
}
why=""
for k in 1 2; do
    a=$(mean_of "$CK" /model/biases/$k) b=$(mean_of "$T/sp/ckpt-e000003.h5" /model/biases/$k)
    awk -v a="$a" -v b="$b" 'BEGIN { exit !(a != "" && b != "" && b < a - 0.01) }' ||
        why+="biases/$k: mean $b with the pull, $a without; "
done
report "train.sparsity_cost pulls the hidden biases down toward a low target" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; printf '%s' "$why")"

ebm info "$CK"
report "info: a dbm with its tensors" \
    "$(grep -q 'model       dbm 16,8,6' "$T/out" || echo 'no model line'
       grep -q '/model/biases/2' "$T/out" || echo 'no biases')"

ebm eval "$CK" --data "$T/d.h5" --binarize threshold --exact --json
exact=$(json log_z)
b1=$(json bound)
ebm2 eval "$CK" --data "$T/d.h5" --binarize threshold --ais-runs 64 --ais-betas 2000 --json
lo=$(json log_z_lo)
hi=$(json log_z_hi)
report "eval: the bound, with exact log Z inside AIS's interval (2 ranks)" \
    "$([ -n "$b1" ] || echo 'no bound'
       awk -v e="$exact" -v l="$lo" -v h="$hi" 'BEGIN { exit !(l <= e && e <= h) }' ||
           echo "[$lo, $hi] misses $exact")"

floor=$(json log_z_floor)
rlo=$(json reverse_log_z_lo)
rhi=$(json reverse_log_z_hi)
report "eval: reverse AIS's interval holds exact log Z, which is above the floor" \
    "$(awk -v e="$exact" -v l="$rlo" -v h="$rhi" 'BEGIN { exit !(l <= e && e <= h) }' ||
           echo "reverse [$rlo, $rhi] misses $exact"
       awk -v e="$exact" -v f="$floor" 'BEGIN { exit !(f != "" && f <= e) }' ||
           echo "floor $floor above $exact")"
ebm2 eval "$CK" --data "$T/d.h5" --binarize threshold --ais-runs 64 --ais-betas 2000 \
    --ais-keep odd --ais-base uniform --json
lo=$(json log_z_lo)
hi=$(json log_z_hi)
rlo=$(json reverse_log_z_lo)
rhi=$(json reverse_log_z_hi)
report "eval --ais-keep odd --ais-base uniform: both intervals hold exact log Z (2 ranks)" \
    "$(awk -v e="$exact" -v l="$lo" -v h="$hi" 'BEGIN { exit !(l <= e && e <= h) }' ||
           echo "[$lo, $hi] misses $exact"
       awk -v e="$exact" -v l="$rlo" -v h="$rhi" 'BEGIN { exit !(l <= e && e <= h) }' ||
           echo "reverse [$rlo, $rhi] misses $exact")"

ebm sample "$CK" --n 5 --steps 20 --out "$T/s1.h5"
ebm2 sample "$CK" --n 5 --steps 20 --out "$T/s2.h5"
h5dump -d /samples -b LE -o "$T/a.bin" "$T/s1.h5" >/dev/null 2>&1
h5dump -d /samples -b LE -o "$T/b.bin" "$T/s2.h5" >/dev/null 2>&1
report "sample: the same samples at 1 and 2 ranks" \
    "$([ -s "$T/a.bin" ] || echo 'no samples'; cmp -s "$T/a.bin" "$T/b.bin" || echo 'differ')"

GUARD=$T/m GUARD_SNAP=$(snap "$T/m")
ebm train "$T/dbm.ini" --set output.dir="$T/e1" --set model.layers=16,8
expect_error "one hidden layer is refused" "2 or 3 hidden layers"
ebm train "$T/dbm.ini" --set output.dir="$T/e2" --set train.persistent=false
expect_error "CD is refused" "persistent"
ebm train "$T/dbm.ini" --set output.dir="$T/e3" --set model.layers=25,8,6
expect_error "layers that do not fit the data" "25 units" "16 columns"
ebm train "$T/dbm.ini" --set output.dir="$T/m" --resume "$CK" --set model.layers=16,8,5
expect_error "resume with other layers names both" "16,8,6" "16,8,5"
ebm sample "$CK" --n 2 --steps 2 --sampler mh --out "$T/x.h5"
expect_error "sample --sampler on a dbm is refused" "--sampler"
ebm eval "$CK" --data "$T/d.h5" --bound-samples 3
expect_error "eval --bound-samples is the DBN's" "--bound-samples"
ebm eval "$CK" --data "$T/d.h5" --ais-keep middle
expect_error "eval --ais-keep takes even or odd" "--ais-keep 'middle'" "even or odd"
ebm eval "$CK" --data "$T/d.h5" --ais-keep odd --exact
expect_error "eval --ais-keep with --exact is refused" "--ais-keep" "--exact"
ebm eval "$CK" --data "$T/d.h5" --ais-base data
expect_error "eval --ais-base takes uniform or rates" "--ais-base 'data'" "uniform or rates"
ebm train "$T/dbm.ini" --set output.dir="$T/e5" --set model.type=rbm --set model.layers= \
    --set model.hidden=4 --set train.sparsity_cost=1
expect_error "sparsity_cost on an rbm is refused" "train.sparsity_cost = 1" "model.type = dbm"
ebm train "$T/dbm.ini" --set output.dir="$T/e6" --set train.sparsity_target=1
expect_error "a sparsity target of 1 is refused" "train.sparsity_target"
ebm train "$T/dbm.ini" --set output.dir="$T/e4" --set model.type=rbm --set model.layers= \
    --set model.hidden=4 --set train.pretrain_epochs=2
expect_error "pretrain_epochs on an rbm is refused" "train.pretrain_epochs = 2" "model.type = dbm"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
