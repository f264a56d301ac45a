#!/usr/bin/env bash
# Command-line tests of `ebm denoise` (docs/denoise.md): a tiny RBM trained
# on a 4x4 dataset; the output's datasets, shapes and attributes; the PNG;
# observed pixels of a mask kept as they are; the same bytes at 1, 2 and 3
# ranks; and the error contract.
#   EBM=build/ebm bash tests/cli/test_denoise_cli.sh      (from the repository root)
# Prints "ok - NAME" / "not ok - NAME" per check; exits non-zero on a failure.
set -u

# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=tests/lib/idx.sh
. "$(dirname "$0")/../lib/idx.sh"
# shellcheck source=tests/lib/h5cmp.sh
. "$(dirname "$0")/../lib/h5cmp.sh"

# ebmn N ARGS: N ranks under mpirun.
ebmn() {
    local n=$1
    shift
    timeout 60 mpirun --allow-run-as-root --oversubscribe -np "$n" "$EBM" "$@" >"$T/out" 2>"$T/err"
    rc=$?
}
# values FILE DATASET TYPE: one number per line (od TYPE: u1, f4, f8 or d4).
values() {
    rm -f "$T/v.bin"
    h5dump -d "$2" -b LE -o "$T/v.bin" "$1" >/dev/null 2>&1 && od -A n -v -t "$3" "$T/v.bin" |
        tr -s ' ' '\n' | grep -v '^$'
}
# attr FILE NAME: the value of a root attribute as h5dump prints it.
attr() { h5dump -m %.17g -a "/$2" "$1" 2>/dev/null | sed -n 's/^ *(0): *//p'; }
# shape FILE DATASET: h5dump's dataspace, e.g. "( 96, 16 )".
shape() { h5dump -H -d "$2" "$1" 2>/dev/null | sed -n 's/.*DATASPACE  SIMPLE { \(( [0-9, ]* )\).*/\1/p'; }
dtype() { h5dump -H -d "$2" "$1" 2>/dev/null | sed -n 's/.*DATATYPE  *\(H5T_[A-Z0-9_]*\).*/\1/p'; }

pixels 96 16 | idx "$T/img.idx" 96 4 4
labels 96 | idx "$T/lab.idx" 96
ebm convert idx --images "$T/img.idx" --labels "$T/lab.idx" --split train --out "$T/d.h5"
ebm convert idx --images "$T/img.idx" --labels "$T/lab.idx" --split test --out "$T/d.h5"
pixels 8 9 | idx "$T/img9.idx" 8 3 3
ebm convert idx --images "$T/img9.idx" --split test --out "$T/d9.h5"
report "convert: the 4x4 dataset and a 3x3 one" "$([ "$rc" -eq 0 ] || echo "rc $rc")"

cat >"$T/rbm.ini" <<EOF2
[data]
path = $T/d.h5
valid_split =
[model]
hidden = 6
[train]
epochs = 3
batch_size = 8
chains = 4
monitor = 8
[output]
dir = $T/r
EOF2
ebm train "$T/rbm.ini"
CK=$T/r/ckpt-e000003.h5
report "train: a tiny RBM" "$([ "$rc" -eq 0 ] || echo "rc $rc"; [ -f "$CK" ] || echo "no $CK")"

# ---- one run, its output --------------------------------------------------------

ebm denoise --help
report "ebm denoise --help" "$([ "$rc" -eq 0 ] || echo "rc $rc"
       grep -q '^usage: ebm denoise CKPT' "$T/out" || echo "no usage line")"

ebm denoise "$CK" --data "$T/d.h5" --corrupt saltpepper:0.2 --method gibbs --steps 20 \
    --out "$T/sp1.h5" --png "$T/sp1.png"
report "salt and pepper, Gibbs: the summary lines" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       grep -q '^data .* 96 rows of 16 pixels, binarized threshold, 1 rank$' "$T/out" || echo "no data line"
       grep -q '^corrupt      saltpepper:0.2 (seed 1): [0-9]* pixels hit' "$T/out" || echo "no corrupt line"
       grep -q '^method       gibbs, 20 sweeps, the last 15 averaged (burn-in 5)' "$T/out" || echo "no method line"
       for w in before after; do
         grep -q "^$w  *mse [0-9.]*  wrong [0-9.]*%  psnr [0-9.]* dB" "$T/out" || echo "no $w line"; done
       grep -q "^wrote .*$T/sp1.h5" "$T/out" || echo "no output path"
       grep -q "^wrote .*$T/sp1.png" "$T/out" || echo "no PNG path")"
report "the file: uint8 original, corrupted, mask and float32 restored [96, 16]" \
    "$(for d in original corrupted mask; do
         [ "$(dtype "$T/sp1.h5" /$d)" = H5T_STD_U8LE ] || echo "/$d is $(dtype "$T/sp1.h5" /$d)"
         [ "$(shape "$T/sp1.h5" /$d)" = "( 96, 16 )" ] || echo "/$d is $(shape "$T/sp1.h5" /$d)"; done
       [ "$(dtype "$T/sp1.h5" /restored)" = H5T_IEEE_F32LE ] || echo "/restored is not float32"
       [ "$(shape "$T/sp1.h5" /restored)" = "( 96, 16 )" ] || echo "/restored is not [96, 16]"
       for d in mse_before mse_after wrong_before wrong_after; do
         [ "$(shape "$T/sp1.h5" /$d)" = "( 96 )" ] || echo "/$d is not [96]"; done
       [ "$(dtype "$T/sp1.h5" /labels)" = H5T_STD_I32LE ] || echo "/labels is not int32"
       values "$T/sp1.h5" /restored f4 | awk '$1 < 0 || $1 > 1 { bad = 1 } END { if (NR != 1536 || bad) print "restored not 1536 values in [0, 1]" }'
       values "$T/sp1.h5" /corrupted u1 | awk '$1 > 1 { bad = 1 } END { if (bad) print "corrupted not 0/1" }'
       ls -A "$T" | grep -q '\.tmp$' && echo "a temporary file is left")"
report "the file records the command line and the summary" \
    "$([ "$(attr "$T/sp1.h5" checkpoint)" = "\"$CK\"" ] || echo "checkpoint: $(attr "$T/sp1.h5" checkpoint)"
       [ "$(attr "$T/sp1.h5" corrupt)" = '"saltpepper:0.2"' ] || echo "corrupt: $(attr "$T/sp1.h5" corrupt)"
       [ "$(attr "$T/sp1.h5" method)" = '"gibbs"' ] || echo "method: $(attr "$T/sp1.h5" method)"
       [ "$(attr "$T/sp1.h5" split)" = '"test"' ] || echo "split: $(attr "$T/sp1.h5" split)"
       [ "$(attr "$T/sp1.h5" steps)" = 20 ] || echo "steps: $(attr "$T/sp1.h5" steps)"
       [ "$(attr "$T/sp1.h5" burn_in)" = 5 ] || echo "burn_in: $(attr "$T/sp1.h5" burn_in)"
       [ "$(attr "$T/sp1.h5" seed)" = 1 ] || echo "seed: $(attr "$T/sp1.h5" seed)"
       [ "$(attr "$T/sp1.h5" image_h)" = 4 ] || echo "image_h: $(attr "$T/sp1.h5" image_h)"
       for a in mse_before mse_after psnr_before psnr_after wrong_before wrong_after; do
         [ -n "$(attr "$T/sp1.h5" $a)" ] || echo "no attribute $a"; done
       m=$(values "$T/sp1.h5" /mse_after f8 | awk '{ s += $1 } END { printf "%.6f", s / NR }')
       grep '^after' "$T/out" | grep -qF "mse $m" || echo "the printed mse after is not the rows' mean $m")"
report "the PNG: 3 rows of 10 4x4 tiles" \
    "$([ "$(head -c 8 "$T/sp1.png" | od -A n -t x1 | tr -d ' ')" = 89504e470d0a1a0a ] || echo "not a PNG"
       # width 10 * (4 + 1) + 1 = 51, height 3 * (4 + 1) + 1 = 16, big-endian at bytes 16..23
       [ "$(od -A n -t u1 -j 16 -N 8 "$T/sp1.png" | tr -s ' ' | sed 's/^ //')" = "0 0 0 51 0 0 0 16" ] || echo "not 51 x 16")"

ebm denoise "$CK" --data "$T/d.h5" --corrupt mask:random:0.5 --method meanfield --steps 10 \
    --out "$T/mr.h5" --seed 4
report "mask: observed pixels are restored as they are, missing ones are inferred" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       values "$T/mr.h5" /mask u1 >"$T/mk" && values "$T/mr.h5" /original u1 >"$T/og" &&
         values "$T/mr.h5" /restored f4 >"$T/rs" && values "$T/mr.h5" /corrupted u1 >"$T/cr" || echo "cannot dump"
       paste "$T/mk" "$T/og" "$T/rs" "$T/cr" | awk '
         $1 == 0 && ($3 != $2 || $4 != $2) { kept = 1 }
         $1 == 1 { n++; if ($4 != 0) zero = 1; if ($3 != 0 && $3 != 1) inferred++ }
         END { if (kept) print "an observed pixel changed"; if (zero) print "a missing pixel is not 0 in /corrupted"
               if (n < 600 || n > 940) print n " of 1536 pixels missing, expected about 768"
               if (inferred != n) print "only " inferred " of " n " missing pixels inferred" }')"

for spec in "saltpepper:0.3 gibbs" "mask:random:0.4 gibbs" "mask:bottom-half meanfield"; do
    set -- $spec
    ebm denoise "$CK" --data "$T/d.h5" --corrupt "$1" --method "$2" --steps 12 --n 77 \
        --seed 3 --out "$T/n1.h5"
    r1=$rc
    for np in 2 3; do
        ebmn $np denoise "$CK" --data "$T/d.h5" --corrupt "$1" --method "$2" --steps 12 \
            --n 77 --seed 3 --out "$T/n$np.h5"
        report "$1 $2 on $np ranks: the same bytes as on 1" \
            "$([ "$r1" -eq 0 ] && [ "$rc" -eq 0 ] || echo "rc $r1 and $rc"
               grep -q "77 rows of 16 pixels, binarized threshold, $np ranks" "$T/out" || echo "no $np-rank data line"
               tensor_diffs "$T/n1.h5" "$T/n$np.h5" /original /corrupted /mask /restored \
                   /mse_after /wrong_after /labels)"
    done
done

# ---- errors ------------------------------------------------------------------

GUARD=$T/r GUARD_SNAP=$(snap "$T/r")
ok=(--corrupt saltpepper:0.1 --method gibbs --steps 5)
ebm denoise "$CK" "${ok[@]}" --out "$T/e.h5"
expect_error "missing --data" "missing --data"
ebm denoise "$CK" --data "$T/d.h5" --method gibbs --steps 5 --out "$T/e.h5"
expect_error "missing --corrupt" "missing --corrupt"
ebm denoise "$CK" --data "$T/d.h5" --corrupt mask:bottom-half --steps 5 --out "$T/e.h5"
expect_error "missing --method" "missing --method"
ebm denoise "$CK" --data "$T/d.h5" --corrupt mask:bottom-half --method gibbs --out "$T/e.h5"
expect_error "missing --steps" "missing --steps"
ebm denoise "$CK" --data "$T/d.h5" "${ok[@]}"
expect_error "missing --out" "missing --out"
ebm denoise "$CK" --data "$T/d.h5" --corrupt blur:2 --method gibbs --steps 5 --out "$T/e.h5"
expect_error "an unknown corruption" "--corrupt 'blur:2'"
ebm denoise "$CK" --data "$T/d.h5" --corrupt saltpepper:1.5 --method gibbs --steps 5 --out "$T/e.h5"
expect_error "a rate above 1" "--corrupt 'saltpepper:1.5'" "[0, 1]"
ebm denoise "$CK" --data "$T/d.h5" --corrupt mask:random:x --method gibbs --steps 5 --out "$T/e.h5"
expect_error "a rate that is no number" "--corrupt 'mask:random:x'"
ebm denoise "$CK" --data "$T/d.h5" --corrupt saltpepper:0.1 --method icm --steps 5 --out "$T/e.h5"
expect_error "an unknown method" "--method 'icm'"
ebm denoise "$CK" --data "$T/d.h5" --corrupt saltpepper:0.1 --method gibbs --steps 0 --out "$T/e.h5"
expect_error "--steps 0" "--steps '0'"
ebm denoise "$CK" --data "$T/d.h5" "${ok[@]}" --out "$T/e.h5" --n 2x
expect_error "a malformed --n" "--n '2x'"
ebm denoise "$CK" --data "$T/d.h5" "${ok[@]}" --out "$T/e.h5" --seed -1
expect_error "a negative --seed" "--seed '-1'"
ebm denoise "$CK" --data "$T/d.h5" "${ok[@]}" --out "$T/e.h5" --binarize none
expect_error "--binarize none" "--binarize none"
ebm denoise "$CK" --data "$T/d.h5" "${ok[@]}" --out "$T/e.h5" --binarize sometimes
expect_error "a bad --binarize" "--binarize 'sometimes'"
ebm denoise "$CK" --data "$T/d.h5" "${ok[@]}" --out "$T/e.h5" --blur
expect_error "an unknown flag" "unknown flag '--blur'"
ebm denoise "$CK" --data "$T/d.h5" "${ok[@]}" --out "$T/e.h5" --steps
expect_error "a flag without its value" "--steps needs a value"
ebm denoise "$CK" --data "$T/d.h5" "${ok[@]}" --out "$T/d.h5"
expect_error "--out equal to the data is refused" "--out $T/d.h5 is an input"
ebm denoise "$CK" --data "$T/d.h5" "${ok[@]}" --out "$T/e.h5" --png "$T/e.h5"
expect_error "--png equal to --out is refused" "--png $T/e.h5"
ebm denoise "$CK" --data "$T/d9.h5" "${ok[@]}" --out "$T/e.h5"
expect_error "data of another width" "d9.h5" "9 columns" "16 visible units"
ebm denoise "$CK" --data "$T/d.h5" --split nosuch "${ok[@]}" --out "$T/e.h5"
expect_error "a missing split" "d.h5" "nosuch"
ebm denoise "$T/d.h5" --data "$T/d.h5" "${ok[@]}" --out "$T/e.h5"
expect_error "a file that is not a checkpoint" "d.h5" "not an ebm checkpoint"
ebmn 2 denoise "$CK" --data "$T/d.h5" --corrupt saltpepper:2 --method gibbs --steps 5 --out "$T/e.h5"
expect_error2 "a bad rate on 2 ranks: one line" "--corrupt 'saltpepper:2'"

cat >"$T/dbn.ini" <<EOF2
[data]
path = $T/d.h5
valid_split =
[model]
type = dbn
layers = 16,8,4
[train]
epochs = 1
batch_size = 4
chains = 4
monitor = 0
[pipeline]
mode = greedy
[output]
dir = $T/dbn
EOF2
ebmn 2 train "$T/dbn.ini"
DBN=$(ls "$T"/dbn/ckpt-e*.h5 2>/dev/null | tail -1)
ebm denoise "${DBN:-$T/dbn/none.h5}" --data "$T/d.h5" "${ok[@]}" --out "$T/e.h5"
expect_error "a DBN checkpoint: denoise works on RBMs for now" \
    "${DBN:-no DBN checkpoint was trained}" "RBM checkpoints for now"
report "no output and no temporary after the errors" \
    "$([ -e "$T/e.h5" ] && echo "$T/e.h5 exists"; ls -A "$T" | grep '\.tmp$')"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
