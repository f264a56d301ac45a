#!/usr/bin/env bash
# Command-line tests of `ebm classify finetune` (docs/classify.md): a small
# DBN (and an RBM) trained on a 4x4 dataset whose class shows in its pixels
# is unrolled into a classifier, fine-tuned at 1 and 2 ranks, evaluated by
# `ebm classify eval`, and the errors of the command.
#   EBM=build/ebm bash tests/cli/test_finetune_cli.sh      (from the repository root)
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
ebm convert idx --images "$T/img25.idx" --labels "$T/lab25.idx" --split train --out "$T/d25.h5"
report "convert: the datasets" "$([ "$rc" -eq 0 ] || echo "rc $rc")"

cat >"$T/dbn.ini" <<EOF2
[data]
path = $T/d.h5
valid_split =
binarize = threshold
[model]
type = dbn
layers = 16,8,6
[train]
epochs = 6
batch_size = 8
chains = 4
monitor = 0
[pipeline]
mode = greedy
[output]
dir = $T/dbn
EOF2
ebm2 train "$T/dbn.ini"
DBN=$(ls "$T"/dbn/ckpt-e*.h5 2>/dev/null | tail -1)
report "train: a 16-8-6 DBN" "$([ -n "$DBN" ] || echo 'no checkpoint')"
DBN=${DBN:-$T/dbn/none.h5}

ebm classify finetune "$DBN" --data "$T/d.h5" --epochs 40 --batch-size 8 --lr 0.3 --out "$T/m1.h5"
report "finetune: the DBN unrolled, 1 rank" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; grep -q 'unrolled (16-8-6-3' "$T/out" || echo 'no sizes line'
       grep -q '^epoch 40/40' "$T/out" || echo 'no epoch lines')"
ebm classify eval "$T/m1.h5" --data "$T/d.h5" --json
e1=$(json error_percent)
report "eval of the fine-tuned model: the classes are learned" \
    "$([ -n "$e1" ] || echo 'no error_percent'
       awk -v e="$e1" 'BEGIN { exit !(e < 10) }' || echo "error $e1 %")"
ebm2 classify finetune "$DBN" --data "$T/d.h5" --epochs 40 --batch-size 4 --lr 0.3 --out "$T/m2.h5"
ebm2 classify eval "$T/m2.h5" --data "$T/d.h5" --json
e2=$(json error_percent)
report "finetune on 2 ranks (the same global batch of 8)" \
    "$([ -n "$e2" ] || echo 'no error_percent'
       awk -v e="$e2" 'BEGIN { exit !(e < 10) }' || echo "error $e2 %")"
ebm info "$T/m1.h5"
report "info: a fine-tuned model file" "$(grep -q 'checkpoint' "$T/out" || echo 'no info')"

cat >"$T/rbm.ini" <<EOF2
[data]
path = $T/d.h5
valid_split =
binarize = threshold
[model]
hidden = 8
[train]
epochs = 4
batch_size = 8
chains = 4
monitor = 0
[output]
dir = $T/rbm
EOF2
ebm train "$T/rbm.ini"
ebm classify finetune "$T/rbm/ckpt-e000004.h5" --data "$T/d.h5" --epochs 5 --batch-size 8 --out "$T/m3.h5"
report "finetune from an RBM: one sigmoid layer" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; grep -q 'unrolled (16-8-3' "$T/out" || echo 'no sizes line')"

GUARD=$T/dbn GUARD_SNAP=$(snap "$T/dbn")
ebm classify finetune "$DBN" --data "$T/nolab.h5" --out "$T/x.h5"
expect_error "finetune on data without labels" "no labels"
ebm classify finetune "$DBN" --data "$T/d25.h5" --out "$T/x.h5"
expect_error "finetune on data of another width" "25 columns" "takes 16"
ebm classify finetune "$DBN" --data "$T/d.h5" --classes 2 --out "$T/x.h5"
expect_error "a label beyond --classes" "label 2" "--classes is 2"
ebm classify finetune "$DBN" --data "$T/d.h5" --momentum 1.5 --out "$T/x.h5"
expect_error "--momentum out of range" "--momentum" "1.5"
ebm classify finetune "$DBN" --data "$T/d.h5" --batch-size 500 --out "$T/x.h5"
expect_error "a batch larger than the shard" "--batch-size 500"
ebm classify finetune "$DBN" --data "$T/d.h5" --out "$DBN"
expect_error "--out equal to the checkpoint is refused" "is an input"
ebm classify finetune "$DBN" --data "$T/d.h5" --frobnicate 1 --out "$T/x.h5"
expect_error "an unknown flag" "--frobnicate"
ebm classify finetune "$T/d.h5" --data "$T/d.h5" --out "$T/x.h5"
expect_error "a dataset as the checkpoint" "d.h5"
ebm classify eval "$T/m1.h5" --data "$T/d25.h5" --split train
expect_error "eval of the fine-tuned model on another width" "25 columns" "16 inputs"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
