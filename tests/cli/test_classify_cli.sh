#!/usr/bin/env bash
# Command-line tests of `ebm classify` (docs/classify.md): a softmax
# classifier trained at 1 and 2 ranks on a tiny labelled 4x4 dataset, the
# model file's layout, eval's error line and confusion matrix (entries sum
# to N), --json, and the error contract.
#   EBM=build/ebm bash tests/cli/test_classify_cli.sh      (from the repository root)
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
# attr FILE OBJECT NAME: an attribute's value as h5dump prints it.
attr() { h5dump -a "$2/$3" "$1" 2>/dev/null | sed -n 's/^ *(0): *//p'; }
# confusion_sum: the sum of the confusion matrix rows ("  t: c c c") in $T/out.
confusion_sum() { awk '/^ *[0-9]+:/ { for (i = 2; i <= NF; i++) s += $i } END { print s + 0 }' "$T/out"; }

# 96 rows whose pixels repeat with period 3 (pixels), labelled r % 3: three
# distinct rows, so a linear classifier can reach zero error.
pixels 96 16 | idx "$T/img.idx" 96 4 4
for ((r = 0; r < 96; r++)); do printf '\\%03o' $((r % 3)); done | idx "$T/lab.idx" 96
for ((r = 0; r < 96; r++)); do printf '\\%03o' $((r % 5)); done | idx "$T/lab5.idx" 96
pixels 96 8 | idx "$T/narrow.idx" 96 2 4
ok=0
for s in train test; do
    ebm convert idx --images "$T/img.idx" --labels "$T/lab.idx" --split $s --out "$T/d.h5"; ok=$((ok + rc))
done
ebm convert idx --images "$T/img.idx" --labels "$T/lab5.idx" --split test --out "$T/five.h5"; ok=$((ok + rc))
ebm convert idx --images "$T/narrow.idx" --labels "$T/lab.idx" --split test --out "$T/narrow.h5"; ok=$((ok + rc))
ebm convert idx --images "$T/img.idx" --split test --out "$T/nolab.h5"; ok=$((ok + rc))
report "convert: labelled 4x4 data, five labels, 2x4 data, no labels" "$([ "$ok" -eq 0 ] || echo "a convert failed")"

# ---- train ----------------------------------------------------------------------

ebm classify train --data "$T/d.h5" --epochs 20 --batch-size 8 --lr 0.5 --out "$T/m1.h5"
report "train on 1 rank: a line per epoch, then the model" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       [ "$(grep -c '^epoch [0-9]*/20  loss [0-9.]*  train error [0-9.]*%' "$T/out")" -eq 20 ] || echo "not 20 epoch lines"
       grep -q '96 rows x 16 features, 3 classes, 1 rank; mini-batch 8 per rank, 12 steps/epoch' "$T/out" || echo "no set-up line"
       grep -q "^wrote $T/m1.h5 (16 features, 3 classes)" "$T/out" || echo "no wrote line"
       [ -f "$T/m1.h5" ] || echo "no $T/m1.h5"
       ls -A "$T" | grep -q '\.tmp$' && echo "a temporary file is left")"
report "training error falls to 0" \
    "$(grep '^epoch 20/20' "$T/out" | grep -q 'train error 0.0000%' || grep '^epoch 20/20' "$T/out")"
report "the model file: W float32 [16, 3], b [3], type logreg, classes, dims, epochs, l2, data" \
    "$(h5dump -H -d /model/W "$T/m1.h5" | grep -q '( 16, 3 )' || echo "/model/W is not [16, 3]"
       h5dump -H -d /model/W "$T/m1.h5" | grep -q 'H5T_IEEE_F32LE' || echo "/model/W is not float32"
       h5dump -H -d /model/b "$T/m1.h5" | grep -q '( 3 )' || echo "/model/b is not [3]"
       [ "$(attr "$T/m1.h5" /model type)" = '"logreg"' ] || echo "type: $(attr "$T/m1.h5" /model type)"
       [ "$(attr "$T/m1.h5" /model classes)" = 3 ] || echo "classes: $(attr "$T/m1.h5" /model classes)"
       [ "$(attr "$T/m1.h5" /model dims)" = 16 ] || echo "dims: $(attr "$T/m1.h5" /model dims)"
       [ "$(attr "$T/m1.h5" /train epochs)" = 20 ] || echo "epochs: $(attr "$T/m1.h5" /train epochs)"
       [ "$(attr "$T/m1.h5" /train l2)" = '"9.99999975e-05"' ] || echo "l2: $(attr "$T/m1.h5" /train l2)"
       [ "$(attr "$T/m1.h5" /data path)" = "\"$T/d.h5\"" ] || echo "data: $(attr "$T/m1.h5" /data path)")"

ebm info "$T/m1.h5"
report "ebm info describes the classifier" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       grep -q '^model       logreg 16 features -> 3 classes (51 parameters)' "$T/out" || echo "no model line"
       grep -q '^trained     20 epochs' "$T/out" || echo "no trained line"
       grep -q '/model/b  *\[3\]' "$T/out" || echo "no /model/b [3]")"

ebmn 2 classify train --data "$T/d.h5" --epochs 20 --batch-size 0 --lr 2 --classes 4 --out "$T/m2.h5"
report "train on 2 ranks, full batch, --classes 4" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       grep -q '96 rows x 16 features, 4 classes, 2 ranks; full batch' "$T/out" || echo "no set-up line"
       [ "$(grep -c '^epoch ' "$T/out")" -eq 20 ] || echo "not 20 epoch lines"
       [ "$(attr "$T/m2.h5" /model classes)" = 4 ] || echo "classes: $(attr "$T/m2.h5" /model classes)"
       [ "$(attr "$T/m2.h5" /train ranks)" = 2 ] || echo "ranks: $(attr "$T/m2.h5" /train ranks)")"

# ---- eval -----------------------------------------------------------------------

ebm classify eval "$T/m1.h5" --data "$T/d.h5"
report "eval on 1 rank: the test error and a 3 x 3 confusion matrix summing to 96" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       grep -q "^test error [0-9.]*% ([0-9]* of 96 rows of $T/d.h5 /test), 3 classes" "$T/out" || echo "no error line"
       grep -q '^confusion (rows: true class, columns: predicted class)' "$T/out" || echo "no confusion header"
       [ "$(grep -c '^ *[0-9]*:' "$T/out")" -eq 3 ] || echo "not 3 matrix rows"
       [ "$(confusion_sum)" -eq 96 ] || echo "entries sum to $(confusion_sum)")"
report "the separable data are classified without error" \
    "$(grep -q '^test error 0.0000% (0 of 96' "$T/out" || head -1 "$T/out")"
cp "$T/out" "$T/eval1"
ebmn 2 classify eval "$T/m1.h5" --data "$T/d.h5"
report "eval on 2 ranks prints the same" "$([ "$rc" -eq 0 ] || echo "rc $rc"; cmp -s "$T/out" "$T/eval1" || diff "$T/eval1" "$T/out")"
ebmn 2 classify eval "$T/m2.h5" --data "$T/d.h5" --json
report "--json: one line with the rows, the error and a 4 x 4 confusion matrix" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       [ "$(grep -c '' "$T/out")" -eq 1 ] || echo "not one line"
       grep -q '^{.*"rows":96,"errors":[0-9]*,"error_percent":[0-9.]*,"classes":4,"confusion":\[\[[0-9,]*\],\[[0-9,]*\],\[[0-9,]*\],\[[0-9,]*\]\]}$' "$T/out" || echo "not the expected JSON: $(cat "$T/out")"
       s=$(grep -o '"confusion":.*' "$T/out" | tr -c '0-9' ' ' | awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s + 0 }')
       [ "$s" -eq 96 ] || echo "entries sum to $s")"

# ---- errors ------------------------------------------------------------------

cat >"$T/rbm.ini" <<EOF2
[data]
path = $T/d.h5
valid_split =
[model]
hidden = 4
[train]
epochs = 1
batch_size = 8
chains = 4
monitor = 0
[output]
dir = $T/r
EOF2
ebm train "$T/rbm.ini"
RBM=$(ls "$T"/r/ckpt-e*.h5 2>/dev/null | tail -1)
GUARD=$T/r GUARD_SNAP=$(snap "$T/r")
ebm classify eval "$T/d.h5" --data "$T/d.h5"
expect_error "a dataset as the model: not a checkpoint" "d.h5" "not an ebm checkpoint"
ebm classify eval "${RBM:-$T/r/none.h5}" --data "$T/d.h5"
expect_error "an RBM checkpoint without label units as the model" "${RBM:-no RBM was trained}" \
    "without label units"
ebm classify eval "$T/m1.h5" --data "$T/five.h5"
expect_error "labels >= the model's classes" "five.h5" "label 3" "3 classes"
ebmn 2 classify eval "$T/m1.h5" --data "$T/five.h5"
expect_error2 "labels >= the model's classes (2 ranks)" "five.h5" "label 3" "3 classes"
ebm classify eval "$T/m1.h5" --data "$T/narrow.h5"
expect_error "a feature width mismatch" "narrow.h5" "8 columns" "16 features"
ebm classify eval "$T/m1.h5" --data "$T/nolab.h5"
expect_error "a split without labels" "nolab.h5" "no labels"
ebm classify eval "$T/m1.h5"
expect_error "eval without --data" "missing --data"
ebm classify train --out "$T/e.h5"
expect_error "train without --data" "missing --data"
ebm classify train --data "$T/d.h5"
expect_error "train without --out" "missing --out"
ebm classify train --data "$T/d.h5" --split test --classes 2 --out "$T/e.h5"
expect_error "train: labels >= --classes" "label 2" "--classes is 2"
ebm classify train --data "$T/d.h5" --batch-size 97 --out "$T/e.h5"
expect_error "train: a batch larger than the data" "--batch-size 97"
ebm classify train --data "$T/d.h5" --lr -1 --out "$T/e.h5"
expect_error "train: a bad --lr" "--lr '-1'"
ebm classify train --data "$T/d.h5" --out "$T/d.h5"
expect_error "train: --out equal to the data is refused" "is the training data"
ebm classify fit --data "$T/d.h5"
expect_error "an unknown subcommand" "expected train, eval or finetune"
report "no output and no temporary after the errors" \
    "$([ -e "$T/e.h5" ] && echo "$T/e.h5 exists"; ls -A "$T" | grep '\.tmp$')"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
