#!/usr/bin/env bash
# Command-line tests of `ebm score` (docs/anomaly.md): a tiny RBM trained on
# a 4x4 dataset, scored at 1 and 2 ranks (the same scores), the output's
# layout and attributes, percentiles against a reference split, the AUROC
# against an independent O(n^2) count, and the error contract.
#   EBM=build/ebm bash tests/cli/test_score_cli.sh      (from the repository root)
# Prints "ok - NAME" / "not ok - NAME" per check; exits non-zero on a failure.
set -u

# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=tests/lib/idx.sh
. "$(dirname "$0")/../lib/idx.sh"

# ebmn N ARGS: N ranks under mpirun.
ebmn() {
    local n=$1
    shift
    timeout 60 mpirun --allow-run-as-root --oversubscribe -np "$n" "$EBM" "$@" >"$T/out" 2>"$T/err"
    rc=$?
}
# values FILE DATASET TYPE: one number per line (od TYPE: f8 or d4).
values() {
    rm -f "$T/v.bin"
    h5dump -d "$2" -b LE -o "$T/v.bin" "$1" >/dev/null 2>&1 && od -A n -v -t "$3" "$T/v.bin" |
        tr -s ' ' '\n' | grep -v '^$'
}
# attr FILE NAME: the value of a root attribute as h5dump prints it.
attr() { h5dump -m %.17g -a "/$2" "$1" 2>/dev/null | sed -n 's/^ *(0): *//p'; }

pixels 96 16 | idx "$T/img.idx" 96 4 4
# Rows repeat with period 3 (pixels); the labels follow the row's pattern
# (r % 3), except label 9 on every fourth row, so that labels 2 as the
# anomalies give an AUROC other than 0, 1/2 or 1.
for ((r = 0; r < 96; r++)); do printf '\\%03o' $((r % 4 ? r % 3 : 9)); done | idx "$T/lab.idx" 96
ebm convert idx --images "$T/img.idx" --labels "$T/lab.idx" --split train --out "$T/d.h5"
ebm convert idx --images "$T/img.idx" --labels "$T/lab.idx" --split test --out "$T/d.h5"
ebm convert idx --images "$T/img.idx" --split test --out "$T/nolab.h5"
report "convert: the 4x4 dataset, with and without labels" "$([ "$rc" -eq 0 ] || echo "rc $rc")"

cat >"$T/rbm.ini" <<EOF2
[data]
path = $T/d.h5
valid_split =
[model]
hidden = 6
[train]
epochs = 2
batch_size = 8
chains = 4
monitor = 8
[output]
dir = $T/r
EOF2
ebm train "$T/rbm.ini"
CK=$T/r/ckpt-e000002.h5
report "train: a tiny RBM" "$([ "$rc" -eq 0 ] || echo "rc $rc"; [ -f "$CK" ] || echo "no $CK")"

# ---- scores ---------------------------------------------------------------------

ebm score "$CK" --data "$T/d.h5" --out "$T/s1.h5"
report "score on 1 rank: a summary line per score and the output path" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       grep -q '^free_energy  count 96  mean ' "$T/out" || echo "no free_energy line"
       grep -q '^recon_error  count 96  mean ' "$T/out" || echo "no recon_error line"
       grep -q "^wrote .*$T/s1.h5" "$T/out" || echo "no output path"
       grep -q 'AUROC' "$T/out" && echo "an AUROC without --anomaly-labels")"
report "the file: free_energy, recon_error float64 [96], labels int32 [96], no percentile" \
    "$(for d in free_energy recon_error; do
         h5dump -H -d /$d "$T/s1.h5" | grep -q 'H5T_IEEE_F64LE' || echo "/$d is not float64"
         h5dump -H -d /$d "$T/s1.h5" | grep -q '( 96 )' || echo "/$d is not [96]"; done
       h5dump -H -d /labels "$T/s1.h5" | grep -q 'H5T_STD_I32LE' || echo "/labels is not int32"
       [ "$(values "$T/s1.h5" /labels d4 | sed -n 14,15p | tr '\n' ' ')" = "1 2 " ] || echo "/labels[13..14] are not 1 2"
       h5dump -H -d /percentile "$T/s1.h5" >/dev/null 2>&1 && echo "a /percentile without --reference"
       ls -A "$T" | grep -q '\.tmp$' && echo "a temporary file is left")"
report "the file records checkpoint, data, split, binarize and seed" \
    "$([ "$(attr "$T/s1.h5" checkpoint)" = "\"$CK\"" ] || echo "checkpoint: $(attr "$T/s1.h5" checkpoint)"
       [ "$(attr "$T/s1.h5" data)" = "\"$T/d.h5\"" ] || echo "data: $(attr "$T/s1.h5" data)"
       [ "$(attr "$T/s1.h5" split)" = '"test"' ] || echo "split: $(attr "$T/s1.h5" split)"
       [ "$(attr "$T/s1.h5" binarize)" = '"stochastic"' ] || echo "binarize: $(attr "$T/s1.h5" binarize)"
       [ "$(attr "$T/s1.h5" seed)" = 1 ] || echo "seed: $(attr "$T/s1.h5" seed)")"

ebmn 2 score "$CK" --data "$T/d.h5" --out "$T/s2.h5"
report "score on 2 ranks: the same free energies and reconstruction errors, bit for bit" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       for d in free_energy recon_error labels; do
         values "$T/s1.h5" /$d f8 >"$T/a" && values "$T/s2.h5" /$d f8 >"$T/b" || echo "cannot dump /$d"
         [ -s "$T/a" ] && cmp -s "$T/a" "$T/b" || echo "/$d differs"; done)"
mean_line=$(grep '^free_energy' "$T/out")
report "the 2-rank mean matches the file's values" \
    "$(m=$(values "$T/s2.h5" /free_energy f8 | awk '{ s += $1 } END { printf "%.6f", s / NR }')
       echo "$mean_line" | grep -qF -- "mean $m" || echo "mean $m is not in '$mean_line'")"

ebmn 2 score "$CK" --data "$T/d.h5" --split train --max-examples 40 --binarize threshold \
    --seed 9 --out "$T/s3.h5" --reference "$T/d.h5:test"
report "--reference FILE:SPLIT: /percentile [N] in [0, 100]" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       h5dump -H -d /percentile "$T/s3.h5" 2>/dev/null | grep -q '( 40 )' || echo "/percentile is not [40]"
       values "$T/s3.h5" /percentile f8 | awk '$1 < 0 || $1 > 100 { bad = 1 } END { if (NR != 40 || bad) print "values outside [0, 100] or not 40 of them" }'
       [ "$(attr "$T/s3.h5" reference)" = "\"$T/d.h5:test\"" ] || echo "reference: $(attr "$T/s3.h5" reference)"
       [ "$(attr "$T/s3.h5" binarize)" = '"threshold"' ] || echo "binarize: $(attr "$T/s3.h5" binarize)"
       grep -q '^percentile .* 96 rows of' "$T/out" || echo "no percentile line")"
# Independently: the percentage of the 96 reference free energies strictly below each row's.
values "$T/s3.h5" /free_energy f8 >"$T/fe3"
ebm score "$CK" --data "$T/d.h5" --split test --binarize threshold --seed 9 --out "$T/s4.h5"
values "$T/s4.h5" /free_energy f8 >"$T/ref4"
values "$T/s3.h5" /percentile f8 >"$T/p3"
report "the percentile is the share of reference free energies strictly below" \
    "$(awk 'FNR == NR { r[NR] = $1; n = NR; next } FILENAME ~ /fe3$/ { below = 0
              for (k = 1; k <= n; k++) if (r[k] + 0 < $1 + 0) below++
              p[FNR] = 100 * below / n; next }
            { if ((p[FNR] - $1) ^ 2 > 1e-18) print "row " FNR ": " $1 " vs " p[FNR] }' \
         "$T/ref4" "$T/fe3" "$T/p3" | head -3)"

ebmn 2 score "$CK" --data "$T/d.h5" --out "$T/s5.h5" --anomaly-labels 2,7
report "--anomaly-labels: the AUROC of each score, printed and stored" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       [ "$(grep -c 'AUROC .* (anomalies: labels 2,7, 24 rows)' "$T/out")" -eq 2 ] || echo "not two AUROC lines with 24 anomalies"
       [ "$(attr "$T/s5.h5" anomaly_labels)" = '"2,7"' ] || echo "anomaly_labels: $(attr "$T/s5.h5" anomaly_labels)"
       for a in auroc_free_energy auroc_recon_error; do
         v=$(attr "$T/s5.h5" $a); [ -n "$v" ] || echo "no attribute $a"
         awk -v v="$v" 'BEGIN { exit !(v >= 0 && v <= 1) }' || echo "$a = $v"; done)"
# The AUROC by its definition over all (anomaly, normal) pairs, ties 1/2.
auroc_by_pairs() {
    values "$1" /$2 f8 >"$T/pair_s"
    values "$1" /labels d4 >"$T/pair_y"
    paste "$T/pair_s" "$T/pair_y" |
        awk '{ s[NR] = $1; pos[NR] = ($2 == 2 || $2 == 7) }
             END { for (i = 1; i <= NR; i++) if (pos[i]) for (j = 1; j <= NR; j++) if (!pos[j]) {
                       n++; w += (s[i] > s[j]) + 0.5 * (s[i] == s[j]) }
                   printf "%.12f", w / n }'
}
report "the stored AUROCs equal the pairwise count" \
    "$(for d in free_energy recon_error; do
         want=$(auroc_by_pairs "$T/s5.h5" $d); got=$(attr "$T/s5.h5" auroc_$d)
         awk -v a="$want" -v b="$got" 'BEGIN { exit !((a - b) ^ 2 < 1e-20) }' || echo "auroc_$d $got, pairs give $want"
         awk -v a="$want" 'BEGIN { exit !(a > 0 && a < 1 && a != 0.5) }' || echo "auroc_$d = $want tells nothing"; done)"

# ---- errors ------------------------------------------------------------------

GUARD=$T/r GUARD_SNAP=$(snap "$T/r")
ebm score "$CK" --out "$T/e.h5"
expect_error "missing --data" "missing --data"
ebm score "$CK" --data "$T/d.h5"
expect_error "missing --out" "missing --out"
ebm score "$CK" --data "$T/d.h5" --out "$T/e.h5" --binarize sometimes
expect_error "a bad --binarize names the value" "--binarize 'sometimes'"
ebm score "$CK" --data "$T/d.h5" --out "$T/e.h5" --anomaly-labels 3,x
expect_error "a bad --anomaly-labels list" "--anomaly-labels '3,x'"
ebm score "$CK" --data "$T/nolab.h5" --out "$T/e.h5" --anomaly-labels 3
expect_error "--anomaly-labels on a split without labels" "--anomaly-labels" "nolab.h5" "no /test/y"
ebmn 2 score "$CK" --data "$T/d.h5" --out "$T/e.h5" --anomaly-labels 42
expect_error2 "--anomaly-labels naming no present label (2 ranks)" "--anomaly-labels 42" "AUROC is undefined"
ebm score "$CK" --data "$T/d.h5" --out "$T/e.h5" --anomaly-labels 0,1,2,9
expect_error "every row an anomaly" "all 96 rows" "AUROC is undefined"
ebm score "$T/d.h5" --data "$T/d.h5" --out "$T/e.h5"
expect_error "a file that is not a checkpoint" "d.h5" "not an ebm checkpoint"
ebm score "$CK" --data "$T/d.h5" --out "$CK"
expect_error "--out equal to the checkpoint is refused" "--out $CK is an input"
ebm score "$CK" --data "$T/d.h5" --out "$T/d.h5" --reference "$T/nolab.h5:test"
expect_error "--out equal to the data is refused" "is an input"
ebm score "$CK" --data "$T/d.h5" --out "$T/e.h5" --reference "$T/d.h5:nosuch"
expect_error "--reference to a missing split" "d.h5" "nosuch"
report "no output and no temporary after the errors" \
    "$([ -e "$T/e.h5" ] && echo "$T/e.h5 exists"; ls -A "$T" | grep '\.tmp$')"

ebm score "$CK" --data "$T/d.h5" --out "$T/p.h5" --png "$T/hist.png"
report "--png: free-energy histograms, one panel per label" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       [ "$(head -c 4 "$T/hist.png" 2>/dev/null | od -A n -t x1 | tr -d ' ')" = 89504e47 ] ||
           echo 'no PNG written'
       grep -q 'hist.png (free-energy histograms' "$T/out" || echo 'not reported')"
ebm score "$CK" --data "$T/d.h5" --out "$T/e.png" --png "$T/e.png"
expect_error "--png equal to --out is refused" "--png" "--out"
ebm score "$CK" --data "$T/d.h5" --out "$T/e.h5" --png "$T/e.gif"
expect_error "--png needs a .png name" "--png" ".png"

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
ebm score "${DBN:-$T/dbn/none.h5}" --data "$T/d.h5" --out "$T/e.h5"
expect_error "a DBN checkpoint: score works on RBMs for now" "${DBN:-no DBN checkpoint was trained}" \
    "RBM checkpoints for now"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
