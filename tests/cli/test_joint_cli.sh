#!/usr/bin/env bash
# Command-line tests of the joint RBM (model.labels = K, docs/classify.md):
# trained on a 4x4 dataset whose class shows in its pixels, it classifies
# by the exact p(y | x) through `ebm classify eval`, the same at 1 and 2
# ranks; and the errors: data without labels, labels outside 0..K-1, an
# RBM without label units, other data widths, and the commands that do not
# take a joint RBM.
#   EBM=build/ebm bash tests/cli/test_joint_cli.sh      (from the repository root)
# Prints "ok - NAME" / "not ok - NAME" per check; exits non-zero on a failure.
set -u

# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=tests/lib/idx.sh
. "$(dirname "$0")/../lib/idx.sh"

json() { sed -n "s/.*\"$1\":\([-0-9.e]*\).*/\1/p" "$T/out"; }

classed 120 | idx "$T/img.idx" 120 4 4
classes 120 | idx "$T/lab.idx" 120
ebm convert idx --images "$T/img.idx" --labels "$T/lab.idx" --split train --out "$T/d.h5"
ebm convert idx --images "$T/img.idx" --labels "$T/lab.idx" --split test --out "$T/d.h5"
ebm convert idx --images "$T/img.idx" --split train --out "$T/nolab.h5"
pixels 20 25 | idx "$T/img25.idx" 20 5 5
labels 20 | idx "$T/lab25.idx" 20
ebm convert idx --images "$T/img25.idx" --labels "$T/lab25.idx" --split test --out "$T/d25.h5"
report "convert: a labelled 4x4 dataset, one without labels, a 5x5 one" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc")"

cat >"$T/j.ini" <<EOF2
[data]
path = $T/d.h5
binarize = threshold
valid_split =
[model]
hidden = 8
labels = 3
[train]
epochs = 30
batch_size = 8
chains = 6
lr = 0.1
monitor = 16
[output]
dir = $T/j
EOF2
ebm train "$T/j.ini"
CK=$T/j/ckpt-e000030.h5
report "train: a joint RBM of 16 pixels and 3 labels" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; [ -f "$CK" ] || echo "no $CK")"
ebm info "$CK"
report "info: names the label group" \
    "$(grep -q 'rbm 19 x 8 .*the last 3 visible units one softmax label group' "$T/out" || echo 'no label line')"

ebm classify eval "$CK" --data "$T/d.h5" --json
e1=$(json error_percent)
ebm2 classify eval "$CK" --data "$T/d.h5" --json
e2=$(json error_percent)
report "classify eval: the joint RBM's p(y | x) separates the classes, alike at 1 and 2 ranks" \
    "$([ -n "$e1" ] || echo 'no error_percent'
       awk -v e="$e1" 'BEGIN { exit !(e < 10) }' || echo "error $e1 % (the pixels show the class)"
       [ "$e1" = "$e2" ] || echo "1 rank $e1, 2 ranks $e2")"

ebm2 classify eval "$CK" --data "$T/d.h5" --png "$T/confusion.png"
report "classify eval --png: the confusion matrix as a PNG" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       [ "$(head -c 4 "$T/confusion.png" 2>/dev/null | od -A n -t x1 | tr -d ' ')" = 89504e47 ] ||
           echo 'no PNG written')"

GUARD=$T/j GUARD_SNAP=$(snap "$T/j")
ebm classify eval "$CK" --data "$T/d.h5" --png "$T/confusion.jpg"
expect_error "classify eval --png needs a .png name" "--png" ".png"
ebm classify eval "$CK" --data "$T/d.h5" --png "$T/d.h5"
expect_error "classify eval --png never replaces an input" "d.h5"
ebm train "$T/j.ini" --set output.dir="$T/e1" --set data.path="$T/nolab.h5"
expect_error "training labels on data without labels" "labels = 3" "/train/y"
ebm train "$T/j.ini" --set output.dir="$T/e2" --set model.labels=2
expect_error "a label outside 0..K-1 names its row" "the label 2" "outside 0..1"
ebm train "$T/j.ini" --set output.dir="$T/e3" --set model.labels=1
expect_error "model.labels = 1" "at least 2 classes"
ebm train "$T/j.ini" --set output.dir="$T/e4" --set model.visible=spin
expect_error "labels with spin units" "model.labels = 3" "bernoulli"
ebm train "$T/j.ini" --set output.dir="$T/e5" --resume "$CK" --set model.labels=0
expect_error "resume without the labels names both" "3 label units" "model.labels = 0"
ebm classify eval "$CK" --data "$T/d25.h5"
expect_error "classify eval on data of another width" "25 columns" "16 data columns"
ebm eval "$CK" --data "$T/d.h5"
expect_error "eval refuses a joint RBM, pointing to classify" "label units" "classify eval"
ebm transform "$CK" --data "$T/d.h5" --layer 1 --out "$T/f.h5"
expect_error "transform refuses a joint RBM" "label units"
ebm train "$T/j.ini" --set output.dir="$T/plain" --set model.labels=0
ebm classify eval "$T/plain/ckpt-e000030.h5" --data "$T/d.h5"
expect_error "classify eval of an RBM without labels" "without label units" "labels = K"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
