#!/usr/bin/env bash
# Command-line tests of the fully visible Boltzmann machine (model.type = bm,
# docs/bm.md): PCD and exact-gradient training, a bit-exact resume, the
# exact log-likelihood from `ebm eval`, sequential-Gibbs and MH sampling at
# 1 and 2 ranks, `ebm info`, and the config errors that keep bm keys apart.
#   EBM=build/ebm bash tests/cli/test_bm_cli.sh      (from the repository root)
# Prints "ok - NAME" / "not ok - NAME" per check; exits non-zero on a failure.
set -u

# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=tests/lib/idx.sh
. "$(dirname "$0")/../lib/idx.sh"

# values FILE DATASET: one float per line.
values() {
    local f
    f=$(mktemp "$T/v.XXXXXX")
    h5dump -d "$2" -b LE -o "$f" "$1" >/dev/null 2>&1 && od -A n -v -t f4 "$f" |
        tr -s ' ' '\n' | grep -v '^$'
    rm -f "$f"
}
json() { sed -n "s/.*\"$1\":\([-0-9.e]*\).*/\1/p" "$T/out"; }

pixels 96 16 | idx "$T/img.idx" 96 4 4
ebm convert idx --images "$T/img.idx" --split train --out "$T/d.h5"
ebm convert idx --images "$T/img.idx" --split test --out "$T/d.h5"
pixels 40 25 | idx "$T/img25.idx" 40 5 5
ebm convert idx --images "$T/img25.idx" --split train --out "$T/d25.h5"
report "convert: 4x4 and 5x5 binary datasets" "$([ "$rc" -eq 0 ] || echo "rc $rc")"

cat >"$T/bm.ini" <<EOF2
[data]
path = $T/d.h5
binarize = threshold
[model]
type = bm
[train]
epochs = 3
batch_size = 8
chains = 6
k = 2
lr = 0.05
monitor = 16
[output]
dir = $T/b
EOF2

ebm train "$T/bm.ini"
CK=$T/b/ckpt-e000003.h5
report "train: a 16-unit bm by PCD with sequential Gibbs" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; [ -f "$CK" ] || echo "no $CK"
       grep -q 'ebm train: bm 16 binary units' "$T/out" || echo 'no bm header')"
why=""
h5dump -a /model/type "$CK" 2>/dev/null | grep -q '"bm"' || why+="no /model type = bm"$'\n'
[ "$(values "$CK" /model/W | wc -l)" -eq 256 ] || why+="/model/W is not 16 x 16"$'\n'
[ "$(values "$CK" /model/bias | wc -l)" -eq 16 ] || why+="/model/bias is not 16"$'\n'
report "checkpoint: /model type bm with W [16, 16] and bias [16]" "${why%$'\n'}"

ebm train "$T/bm.ini" --set output.dir="$T/b1" --set train.epochs=1
ebm train "$T/bm.ini" --set output.dir="$T/b1" --resume auto
why=""
for t in /model/W /model/bias /optim/velocity/W /train/chains; do
    cmp -s <(values "$CK" $t) <(values "$T/b1/ckpt-e000003.h5" $t) || why+="$t differs"$'\n'
done
report "resume: 1 + 2 epochs equal 3, bit for bit" "${why%$'\n'}"

ebm2 train "$T/bm.ini" --set output.dir="$T/bx" --set train.negative=exact
report "train: exact-gradient bm on 2 ranks" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; grep -q 'exact-2' "$T/out" || echo 'no exact method in the header')"

ebm info "$CK"
report "info: a bm of 16 binary units" \
    "$(grep -q 'bm, 16 binary units (136 parameters' "$T/out" || echo 'no bm line')"

ebm eval "$CK" --data "$T/d.h5" --binarize threshold --json
ll1=$(json avg_log_prob)
ebm2 eval "$CK" --data "$T/d.h5" --binarize threshold --json
ll2=$(json avg_log_prob)
report "eval: exact log-likelihood, the same at 1 and 2 ranks" \
    "$([ -n "$ll1" ] || echo 'no avg_log_prob'
       awk -v a="$ll1" -v b="$ll2" 'BEGIN { d = a - b; exit !(d < 1e-9 && d > -1e-9) }' ||
           echo "$ll1 vs $ll2")"

for s in gibbs mh; do
    ebm sample "$CK" --n 7 --steps 12 --sampler $s --out "$T/s1-$s.h5"
    why=$([ "$rc" -eq 0 ] || echo "1 rank: rc $rc")
    ebm2 sample "$CK" --n 7 --steps 12 --sampler $s --out "$T/s2-$s.h5"
    [ "$rc" -eq 0 ] || why+=$'\n'"2 ranks: rc $rc"
    [ "$(values "$T/s1-$s.h5" /samples | wc -l)" -eq 112 ] || why+=$'\n'"not 7 x 16 values"
    values "$T/s1-$s.h5" /samples | awk '$1 != 0 && $1 != 1 { bad = 1 } END { exit bad }' ||
        why+=$'\n'"values other than 0 and 1"
    cmp -s <(values "$T/s1-$s.h5" /samples) <(values "$T/s2-$s.h5" /samples) ||
        why+=$'\n'"1 and 2 ranks differ"
    report "sample --sampler $s: binary states, the same at 1 and 2 ranks" "$why"
done
ebm sample "$CK" --n 7 --steps 12 --out "$T/s.png" --diagnostics
report "sample: a PNG and energy-trace diagnostics" \
    "$([ -s "$T/s.png" ] || echo 'no PNG'; grep -q '^diagnostics: energy traces of 7 chains' "$T/out" || echo 'no diagnostics')"

GUARD=$T/b GUARD_SNAP=$(snap "$T/b")
ebm sample "$CK" --n 4 --steps 5 --sampler langevin --step 0.1 --out "$T/x.h5"
expect_error "sample --sampler langevin on a bm is refused" "langevin" "bernoulli units"
ebm sample "$CK" --n 4 --steps 5 --sampler mh --step 0.1 --out "$T/x.h5"
expect_error "sample --sampler mh --step on a bm is refused" "--step" "single-unit flips"
ebm train "$T/bm.ini" --set output.dir="$T/e1" --set model.visible=gaussian \
    --set data.binarize=none
expect_error "bm with gaussian units" "model.type = bm" "bernoulli or spin"
ebm train "$T/bm.ini" --set output.dir="$T/e2" --set train.centering=true
expect_error "bm with centering" "train.centering"
ebm train "$T/bm.ini" --set output.dir="$T/e3" --set train.negative=exact --set data.path="$T/d25.h5"
expect_error "exact negative on 25 units" "at most 20 units" "25 columns"
ebm train "$T/bm.ini" --set output.dir="$T/e4" --set model.type=rbm --set train.negative=exact
expect_error "exact negative for an rbm" "train.negative = exact"
ebm train "$T/bm.ini" --set output.dir="$T/e5" --resume "$CK" --set model.visible=spin
expect_error "resume as a spin bm" "spin" "model.visible"
ebm train "$T/bm.ini" --set output.dir="$T/e6" --resume "$CK" --set model.type=rbm
expect_error "resume a bm checkpoint as an rbm" "'bm' model, expected rbm"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
