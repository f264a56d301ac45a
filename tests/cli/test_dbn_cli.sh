#!/usr/bin/env bash
# Command-line tests of DBN training (docs/dbn.md): a 16-8-6-4 stack on 3
# ranks, in both pipeline modes; the checkpoint schema; resume from a
# checkpoint and from a real SIGUSR1 stop, bit for bit; layout errors; and
# the commands that use a trained DBN (info, transform, sample, eval).
#   EBM=build/ebm bash tests/cli/test_dbn_cli.sh      (from the repository root)
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

pixels 96 16 | idx "$T/img.idx" 96 4 4
labels 96 | idx "$T/lab.idx" 96
ebm convert idx --images "$T/img.idx" --labels "$T/lab.idx" --split train --out "$T/d.h5"
ebm convert idx --images "$T/img.idx" --labels "$T/lab.idx" --split test --out "$T/d.h5"
report "convert: the 4x4 dataset" "$([ "$rc" -eq 0 ] || echo "rc $rc")"

cat >"$T/dbn.ini" <<EOF
[data]
path = $T/d.h5
valid_split =
[model]
type = dbn
layers = 16,8,6,4
[train]
epochs = 3
batch_size = 4
chains = 4
monitor = 16
seed = 3
keep_checkpoints = 20
[pipeline]
mode = overlapped
warmup_epochs = 1
finish_epochs = 1
[output]
dir = $T/o1
EOF
CFG=$T/dbn.ini
LAYERS=(/model/layers/0/W /model/layers/0/vbias /model/layers/0/hbias /model/layers/1/W
        /model/layers/2/W /model/layers/2/hbias /stages/0/velocity/W /stages/1/chains
        /stages/2/chains /stages/0/rng /stages/2/rng)
# same_dbn NAME A B: the stack and the stages' state are byte-identical.
same_dbn() {
    local why
    why=$(tensor_diffs "$2" "$3" "${LAYERS[@]}")
    rc=0
    : >"$T/err"
    : >"$T/out"
    report "$1" "${why%$'\n'}"
}

# ---- training runs ------------------------------------------------------------

# Overlapped, 3 epochs per stage, warmup 1, finish 1: stages start on pipeline
# epochs 1, 2 and 3, and the run takes 5 pipeline epochs.
ebmn 3 train "$CFG"
report "overlapped 3-stage run on 3 ranks finishes" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; [ -f "$T/o1/ckpt-e000005.h5" ] || echo "no ckpt-e000005.h5"
       grep -q 'stage 2: rbm 6x4 on ranks 2-2' "$T/out" || echo "no stage 2 line in the header"
       grep -q 'stage 0  busy' "$T/out" || echo "no per-stage seconds in the summary")"
report "metrics.jsonl: one line per stage and pipeline epoch, tagged with the stage" \
    "$(n=$(grep -c '"stage":' "$T/o1/metrics.jsonl"); [ "$n" -eq 15 ] || echo "$n lines, expected 15"
       n=$(grep -c '"stage":2,"mode":"train"' "$T/o1/metrics.jsonl"); [ "$n" -eq 3 ] || echo "stage 2 trained on $n ticks, expected 3"
       grep -q '"waiting_for_input":' "$T/o1/metrics.jsonl" || echo "no waiting_for_input seconds"
       grep -q '"blocked_on_output":' "$T/o1/metrics.jsonl" || echo "no blocked_on_output seconds")"

CK=$T/o1/ckpt-e000005.h5
h5dump -A -g /model "$CK" >"$T/attrs" 2>&1
report "checkpoint: /model is a dbn with its layer sizes" \
    "$(grep -q '"dbn"' "$T/attrs" || echo "no type dbn"; grep -q '"16,8,6,4"' "$T/attrs" || echo "no layers attribute")"
report "checkpoint: /model/layers/<k>/W has each layer's shape" \
    "$(for s in '0 16 8' '1 8 6' '2 6 4'; do set -- $s
         h5dump -H -d /model/layers/$1/W "$CK" | grep -q "( $2, $3 )" || echo "layer $1 is not $2 x $3"; done)"

ebmn 3 train "$CFG" --set output.dir="$T/o2"
same_dbn "the same config and seed give the same stack, bit for bit" "$CK" "$T/o2/ckpt-e000005.h5"

mkdir -p "$T/o3"
cp "$T/o1/ckpt-e000003.h5" "$T/o3/"
ebmn 3 train "$CFG" --set output.dir="$T/o3" --resume auto
report "resume from pipeline epoch 3 of 5" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; grep -q 'resuming from .*ckpt-e000003.h5 at pipeline epoch 3' "$T/out" || echo "no resume line")"
same_dbn "overlapped: resumed run is bit-identical to the uninterrupted one" "$CK" "$T/o3/ckpt-e000005.h5"

ebmn 4 train "$CFG" --set output.dir="$T/g1" --set pipeline.mode=greedy --set pipeline.groups=2,1,1
report "greedy run on 4 ranks (groups 2,1,1) takes 3 x 3 pipeline epochs" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; [ -f "$T/g1/ckpt-e000009.h5" ] || echo "no ckpt-e000009.h5"
       grep -q 'stage 0: rbm 16x8 on ranks 0-1' "$T/out" || echo "stage 0 is not on ranks 0-1")"
mkdir -p "$T/g2"
cp "$T/g1/ckpt-e000004.h5" "$T/g2/"
ebmn 4 train "$CFG" --set output.dir="$T/g2" --set pipeline.mode=greedy --set pipeline.groups=2,1,1 \
    --resume auto
same_dbn "greedy: resumed run is bit-identical to the uninterrupted one" \
    "$T/g1/ckpt-e000009.h5" "$T/g2/ckpt-e000009.h5"

# A real SIGUSR1 to mpirun, which passes it to every rank: all stop at the
# end of the pipeline epoch with a checkpoint and status 3; --resume auto
# finishes bit-identically. The signal lands while the first checkpoint is
# held open (EBM_FAULT_CHECKPOINT_DELAY), so the run cannot end before it.
LONG=(--set train.epochs=40 --set train.monitor=0)
ebmn 3 train "$CFG" --set output.dir="$T/s1" "${LONG[@]}" --set train.checkpoint_every=1000
straight_rc=$rc
EBM_FAULT_CHECKPOINT_DELAY=1 timeout 60 mpirun --allow-run-as-root --oversubscribe -np 3 \
    "$EBM" train "$CFG" --set output.dir="$T/s2" "${LONG[@]}" --set train.checkpoint_every=1 \
    >"$T/out" 2>"$T/err" &
launcher=$!
for _ in $(seq 400); do
    ls "$T/s2"/.ckpt-*.tmp >/dev/null 2>&1 && break
    sleep 0.05
done
one=$(pgrep -P "$launcher" | tail -1)
[ -n "$one" ] && kill -USR1 "$one"
wait "$launcher"; rc=$?
report "SIGUSR1 to the job: all ranks stop at the end of a pipeline epoch with a checkpoint" \
    "$([ "$straight_rc" -eq 0 ] || echo "uninterrupted run: rc $straight_rc"; [ "$rc" -eq 3 ] || echo "exit status $rc"
       grep -q '^ebm: stopped: stopped on request at the end of pipeline epoch' "$T/err" || echo "no stop line"
       ls "$T/s2"/ckpt-e*.h5 >/dev/null 2>&1 || echo "no checkpoint")"
ebmn 3 train "$CFG" --set output.dir="$T/s2" "${LONG[@]}" --set train.checkpoint_every=1000 \
    --resume auto
last=$(printf 'ckpt-e%06d.h5' 42)
same_dbn "stopped then resumed DBN run is bit-identical to an uninterrupted one" "$T/s1/$last" "$T/s2/$last"

# ---- using the trained stack --------------------------------------------------------

ebm info "$CK"
report "info describes the DBN and its layers" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; grep -q 'dbn' "$T/out" || echo "no 'dbn'"
       grep -q '/model/layers/2/W' "$T/out" || echo "no /model/layers/2/W")"
ebm transform "$CK" --data "$T/d.h5" --layer 3 --out "$T/f.h5"
report "transform writes the top layer's features" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; h5dump -H -d /train/x "$T/f.h5" 2>/dev/null | grep -q '( 96, 4 )' || echo "/train/x is not 96 x 4")"
cat >"$T/top.ini" <<EOF
[data]
path = $T/f.h5
valid_split =
[model]
hidden = 3
[train]
epochs = 1
batch_size = 8
chains = 4
monitor = 8
[output]
dir = $T/top
EOF
ebm train "$T/top.ini"
report "ebm train reads the features as a dataset" "$([ "$rc" -eq 0 ] || echo "rc $rc")"
ebmn 2 sample "$CK" --n 6 --steps 20 --out "$T/dbn.png"
report "sample: Gibbs in the top RBM and a top-down pass, to a PNG" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; [ -s "$T/dbn.png" ] || echo "no PNG")"
ebmn 2 eval "$CK" --data "$T/d.h5" --split train --exact --json
report "eval --exact: the variational lower bound on 2 ranks" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; grep -q '"model":"dbn"' "$T/out" || echo "no model dbn in the JSON"
       grep -q '"avg_log_prob":-' "$T/out" || echo "no negative avg_log_prob")"
ebm eval "$T/g1/ckpt-e000001.h5" --data "$T/d.h5" --split train --exact
GUARD=$T/o1 GUARD_SNAP=$(snap "$T/o1")
expect_error "eval refuses a DBN whose upper layers have not trained yet" "ckpt-e000001.h5" "layer 1"

# ---- errors ----------------------------------------------------------------------

GUARD=$T/o1 GUARD_SNAP=$(snap "$T/o1")
ebmn 2 train "$CFG" --set output.dir="$T/e1"
expect_error2 "too few ranks for the stack is refused" "needs at least 3 ranks" "2"
ebmn 3 train "$CFG" --set output.dir="$T/e2" --set model.layers=25,8,6,4
expect_error2 "first layer size must match the data" "layers starts with 25" "16 columns"
ebmn 3 train "$CFG" --set output.dir="$T/e3" --set pipeline.groups=1,1
expect_error2 "groups must name every stage" "pipeline.groups = '1,1' has 2 entries" "3 RBMs"
ebmn 3 train "$CFG" --set output.dir="$T/o1" --set pipeline.finish_epochs=2 --resume "$T/o1/ckpt-e000003.h5"
expect_error2 "resume under another pipeline plan is refused, naming both" "the pipeline plan" \
    "finish 1" "finish 2"
ebmn 3 train "$CFG" --set output.dir="$T/e4" --set train.eval_every=1
expect_error2 "train.eval_every is refused for a dbn" "eval_every"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
