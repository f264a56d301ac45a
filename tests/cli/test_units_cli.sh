#!/usr/bin/env bash
# Command-line tests of unit types (docs/units.md): a Gaussian-Bernoulli RBM
# on standardised real values and a spin RBM, each trained, resumed
# bit-exactly, evaluated (exact log Z and AIS), sampled (Gibbs, MH,
# Langevin, MALA) at 1 and 2 ranks, described by `ebm info`; and the config
# errors that keep unit types and binary-only keys apart.
#   EBM=build/ebm bash tests/cli/test_units_cli.sh      (from the repository root)
# Prints "ok - NAME" / "not ok - NAME" per check; exits non-zero on a failure.
set -u

# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=tests/lib/idx.sh
. "$(dirname "$0")/../lib/idx.sh"
# shellcheck source=tests/lib/h5cmp.sh
. "$(dirname "$0")/../lib/h5cmp.sh"

# graded N D: N rows of D bytes spread over 0..255 (real-valued pixels).
graded() {
    local r c s=''
    for ((r = 0; r < $1; r++)); do
        for ((c = 0; c < $2; c++)); do s+="\\$(printf %03o $(((r * 37 + c * 11 + r * c) % 256)))"; done
    done
    printf '%s' "$s"
}
# values FILE DATASET: one float per line.
values() {
    local f
    f=$(mktemp "$T/v.XXXXXX") # two may run at once, in <(...) pairs
    h5dump -d "$2" -b LE -o "$f" "$1" >/dev/null 2>&1 && od -A n -v -t f4 "$f" |
        tr -s ' ' '\n' | grep -v '^$'
    rm -f "$f"
}
# in_range LO HI: every value on stdin is finite and within [LO, HI].
in_range() { awk -v lo="$1" -v hi="$2" '!($1 >= lo && $1 <= hi) { bad = 1 } END { exit bad }'; }

graded 96 16 | idx "$T/img.idx" 96 4 4
ebm convert idx --images "$T/img.idx" --split train --out "$T/d.h5"
ebm convert idx --images "$T/img.idx" --split test --out "$T/d.h5"
report "convert: a 4x4 dataset of graded pixels" "$([ "$rc" -eq 0 ] || echo "rc $rc")"

cat >"$T/g.ini" <<EOF2
[data]
path = $T/d.h5
binarize = none
standardize = true
[model]
hidden = 8
visible = gaussian
[train]
epochs = 2
batch_size = 8
chains = 4
lr = 0.01
monitor = 16
[output]
dir = $T/g
EOF2

# ---- Gaussian-Bernoulli: train, checkpoint, resume -------------------------------

ebm train "$T/g.ini"
CK=$T/g/ckpt-e000002.h5
report "train: a Gaussian-Bernoulli RBM on standardised data" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; [ -f "$CK" ] || echo "no $CK")"
why=""
for t in /model/log_sigma /model/input_mean /model/input_std /optim/velocity/log_sigma; do
    [ "$(values "$CK" $t | wc -l)" -eq 16 ] || why+="$t is not 16 floats"$'\n'
done
h5dump -a /model/visible_units "$CK" 2>/dev/null | grep -q '"gaussian"' || why+="no visible_units = gaussian"$'\n'
values "$CK" /model/log_sigma | in_range -2.3026 5 || why+="a log sigma below log 0.1"$'\n'
report "checkpoint: log sigma, the standardisation and the unit types" "${why%$'\n'}"

ebm train "$T/g.ini" --set output.dir="$T/g1" --set train.epochs=1
ebm train "$T/g.ini" --set output.dir="$T/g1" --resume auto
why=$(tensor_diffs "$CK" "$T/g1/ckpt-e000002.h5" /model/W /model/vbias /model/hbias \
    /model/log_sigma /optim/velocity/log_sigma /train/chains)
report "resume: 1 + 1 epochs equal 2, bit for bit (log sigma and its momentum too)" "$why"

ebm info "$CK"
report "info: names the unit types and the sigma tensors" \
    "$(grep -q 'gaussian visible and bernoulli hidden units' "$T/out" || echo 'no unit types'
       grep -q '/model/log_sigma' "$T/out" || echo 'no /model/log_sigma')"

# ---- Gaussian-Bernoulli: eval --------------------------------------------------

ebm eval "$CK" --data "$T/d.h5" --exact --json
exact=$(sed -n 's/.*"log_z":\([-0-9.e]*\).*/\1/p' "$T/out")
report "eval --exact: log Z by enumerating the hidden layer; log p(x) of the raw rows" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; [ -n "$exact" ] || echo 'no log_z'
       grep -q '"avg_log_prob_unstandardised"' "$T/out" || echo 'no unstandardised log p')"
ebm2 eval "$CK" --data "$T/d.h5" --ais-runs 64 --ais-betas 2000 --json
lo=$(sed -n 's/.*"log_z_lo":\([-0-9.e]*\).*/\1/p' "$T/out")
hi=$(sed -n 's/.*"log_z_hi":\([-0-9.e]*\).*/\1/p' "$T/out")
report "eval (AIS, 2 ranks): the interval holds the exact log Z $exact" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       awk -v e="$exact" -v l="$lo" -v h="$hi" 'BEGIN { exit !(l <= e && e <= h) }' ||
           echo "[$lo, $hi] misses $exact")"

# ---- Gaussian-Bernoulli: samplers ------------------------------------------------

for s in gibbs "mala --step 0.05" "langevin --step 0.05" "mh --step 0.3"; do
    name=${s%% *}
    ebm sample "$CK" --n 6 --steps 20 --sampler $s --out "$T/s-$name.h5"
    why=$([ "$rc" -eq 0 ] || echo "1 rank: rc $rc")
    ebm2 sample "$CK" --n 6 --steps 20 --sampler $s --out "$T/s2-$name.h5"
    [ "$rc" -eq 0 ] || why+=$'\n'"2 ranks: rc $rc"
    [ "$(values "$T/s-$name.h5" /samples | wc -l)" -eq 96 ] || why+=$'\n'"not 6 x 16 values"
    values "$T/s-$name.h5" /samples | in_range -20 20 || why+=$'\n'"values not finite"
    # 1 and 2 ranks run GEMMs of 6 and 3 rows, whose sums may round apart
    # (a few 2^-24 relative a step); another chain's random numbers would
    # move values by tenths.
    paste <(values "$T/s-$name.h5" /samples) <(values "$T/s2-$name.h5" /samples) |
        awk '{ d = $1 - $2; if (d < 0) d = -d; m = $1 < 0 ? -$1 : $1; if (d > 1e-5 * (m > 1 ? m : 1)) bad = 1 }
             END { exit bad }' || why+=$'\n'"1 and 2 ranks differ"
    report "sample --sampler $name: finite data-space values, the same at 1 and 2 ranks (to float rounding)" "$why"
done
ebm sample "$CK" --n 6 --steps 20 --sampler mh --out "$T/x.h5"
GUARD=$T/g GUARD_SNAP=$(snap "$T/g")
expect_error "sample --sampler mh on gaussian units needs --step" "mh" "--step"
ebm sample "$CK" --n 6 --steps 20 --sampler mala --step 0.05 --out "$T/s.png"
report "sample --sampler mala reports the step size and the acceptance rate; draws a PNG" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; grep -q 'step size 0.05, acceptance [01]\.[0-9]' "$T/out" || echo 'no report'
       [ -s "$T/s.png" ] || echo 'no PNG')"

# ---- spins -----------------------------------------------------------------------

cat >"$T/s.ini" <<EOF2
[data]
path = $T/d.h5
binarize = threshold
[model]
hidden = 5
visible = spin
hidden_type = spin
[train]
epochs = 2
batch_size = 8
chains = 4
monitor = 16
[output]
dir = $T/s
EOF2
ebm train "$T/s.ini"
SK=$T/s/ckpt-e000002.h5
report "train: a spin-spin RBM" "$([ "$rc" -eq 0 ] || echo "rc $rc"; [ -f "$SK" ] || echo "no $SK")"
ebm eval "$SK" --data "$T/d.h5" --exact --binarize threshold
report "eval --exact of the spin RBM says so" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; grep -q 'binarized threshold to spins' "$T/out" || echo 'no spins')"
ebm sample "$SK" --n 4 --steps 10 --sampler mh --out "$T/spin.h5"
report "sample --sampler mh on spins: states written as intensities 0 and 1" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       [ "$(values "$T/spin.h5" /samples | wc -l)" -eq 64 ] || echo 'not 4 x 16 values'
       values "$T/spin.h5" /samples | awk '$1 != 0 && $1 != 1 { bad = 1 } END { exit bad }' ||
           echo 'values other than 0 and 1')"
ebm sample "$SK" --n 4 --steps 10 --sampler langevin --step 0.1 --out "$T/x.h5"
GUARD=$T/s GUARD_SNAP=$(snap "$T/s")
expect_error "sample --sampler langevin on spins is refused" "langevin" "gaussian" "spin"

# ---- errors ----------------------------------------------------------------------

ebm train "$T/g.ini" --set data.binarize=stochastic --set output.dir="$T/e1"
expect_error "gaussian visible units with binarize = stochastic" "model.visible = gaussian" \
    "data.binarize = none"
ebm train "$T/s.ini" --set data.standardize=true --set output.dir="$T/e2"
expect_error "standardize without gaussian units" "data.standardize"
ebm train "$T/s.ini" --set model.hidden=spin --set output.dir="$T/e3"
expect_error "model.hidden = spin points to model.hidden_type" "model.hidden_type"
ebm train "$T/s.ini" --set train.centering=true --set output.dir="$T/e4"
expect_error "centering with spin units" "train.centering"
ebm train "$T/s.ini" --set model.visible=softmax --set output.dir="$T/e5"
expect_error "softmax is no visible type of model.visible" "model.visible" "bernoulli, spin, gaussian"
ebm train "$T/g.ini" --set output.dir="$T/g" --resume "$CK" --set model.visible=bernoulli \
    --set data.standardize=false
GUARD=$T/g GUARD_SNAP=$(snap "$T/g")
expect_error "resume with other unit types names both" "gaussian visible" "model.visible = bernoulli"

GUARD=$T/g GUARD_SNAP=$(snap "$T/g")
ebm score "$CK" --data "$T/d.h5" --out "$T/x.h5"
expect_error "score refuses a Gaussian RBM" "gaussian visible" "bernoulli RBMs"
ebm denoise "$SK" --data "$T/d.h5" --corrupt mask:random:0.5 --method gibbs --steps 2 --out "$T/x.h5"
expect_error "denoise refuses a spin RBM" "spin visible" "bernoulli RBMs"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
