#!/usr/bin/env bash
# Command-line tests of `ebm`: help texts, config and input errors, training
# at 1 and 2 ranks, resume, and bit-exact resume through the CLI.
#   EBM=build/ebm bash tests/cli/test_cli.sh      (from the repository root)
# Prints one line per check, "ok - NAME" or "not ok - NAME" (diagnostics start
# with "# "), and exits non-zero when any check failed.
#
# Needs only bash, coreutils, mpirun and hdf5-tools (h5import, h5dump).
# Datasets are made on the fly: IDX files written with printf and converted
# with `ebm convert`, and a float32 file with a NaN written with h5import.
#
# Error contract checked for every bad input: exit status 2, exactly one line
# on stderr, starting with "ebm: error:" and naming the file/line/key/flag,
# and every checkpoint already in the run directory stays byte-identical.
set -u

# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"

# run_ok NAME DIR EPOCH RANKS: a finished training run: status 0, DIR holds
# ckpt-e<EPOCH>.h5, config.ini and metrics.jsonl with EPOCH lines that each
# have recon_error; `ebm info` shows the shape, epoch and rank count.
run_ok() {
    local name=$1 dir=$2 epoch=$3 ranks=$4 why="" ck
    ck=$dir/$(printf 'ckpt-e%06d.h5' "$epoch")
    [ "$rc" -eq 0 ] || why+="exit status $rc, expected 0"$'\n'
    # Only notes (e.g. the OpenBLAS kernel hint) may reach stderr.
    if [ "$ranks" -eq 1 ] && grep -qv '^ebm: note: ' "$T/err"; then
        why+="stderr has more than notes"$'\n'
    fi
    [ -f "$ck" ] || why+="no $ck"$'\n'
    [ -s "$dir/config.ini" ] || why+="no $dir/config.ini"$'\n'
    local n r
    n=$(grep -c '' "$dir/metrics.jsonl" 2>/dev/null) || true
    r=$(grep -c '"recon_error":' "$dir/metrics.jsonl" 2>/dev/null) || true
    [ "${n:-0}" -eq "$epoch" ] || why+="metrics.jsonl has ${n:-0} lines, expected $epoch"$'\n'
    [ "${r:-0}" -eq "$epoch" ] || why+="metrics.jsonl has ${r:-0} lines with recon_error, expected $epoch"$'\n'
    report "$name" "${why%$'\n'}"

    why=""
    ebm info "$ck"
    [ "$rc" -eq 0 ] || why+="ebm info: exit status $rc"$'\n'
    grep -q 'rbm 16 x 8 ' "$T/out" || why+="ebm info does not show the model 'rbm 16 x 8'"$'\n'
    grep -q "epoch $epoch, " "$T/out" || why+="ebm info does not show 'epoch $epoch'"$'\n'
    grep -q ", $ranks ranks," "$T/out" || why+="ebm info does not show '$ranks ranks'"$'\n'
    grep -q '/model/W  *\[16, 8\]' "$T/out" || why+="ebm info does not list /model/W [16, 8]"$'\n'
    report "$name: ebm info shows shape, epoch and ranks" "${why%$'\n'}"
}

# ---- data ----------------------------------------------------------------

# shellcheck source=tests/lib/idx.sh
. "$(dirname "$0")/../lib/idx.sh"
# shellcheck source=tests/lib/h5cmp.sh
. "$(dirname "$0")/../lib/h5cmp.sh"

pixels 64 16 | idx "$T/img16.idx" 64 4 4
pixels 64 25 | idx "$T/img25.idx" 64 5 5
labels 64 | idx "$T/lab.idx" 64
# Flat [N, D] files (no image_shape): a train split 16 wide, a test split 9 wide.
pixels 64 16 | idx "$T/flat16.idx" 64 16
pixels 64 9 | idx "$T/flat9.idx" 64 9

ebm convert idx --images "$T/img16.idx" --labels "$T/lab.idx" --split train --out "$T/d16.h5"
why=""
[ "$rc" -eq 0 ] || why="exit status $rc"
grep -q 'wrote /train: 64 x 16 (4x4), labels yes' "$T/out" || why+=$'\n'"unexpected output"
ebm convert idx --images "$T/img16.idx" --labels "$T/lab.idx" --split test --out "$T/d16.h5"
[ "$rc" -eq 0 ] || why+=$'\n'"--split test: exit status $rc"
ebm convert idx --images "$T/img25.idx" --split train --out "$T/d25.h5"
[ "$rc" -eq 0 ] || why+=$'\n'"25-pixel data: exit status $rc"
ebm convert idx --images "$T/flat16.idx" --split train --out "$T/mixed.h5"
[ "$rc" -eq 0 ] || why+=$'\n'"mixed.h5 /train: exit status $rc"
ebm convert idx --images "$T/flat9.idx" --split test --out "$T/mixed.h5"
[ "$rc" -eq 0 ] || why+=$'\n'"mixed.h5 /test: exit status $rc"
report "convert: IDX files to HDF5 (4x4, 5x5 and flat datasets)" "${why#$'\n'}"

# 64 x 16 float32 with a NaN at row 37, column 5 (rank 1's shard at 2 ranks).
{
    s=''
    for ((r = 0; r < 64; r++)); do
        for ((c = 0; c < 16; c++)); do
            if ((r == 37 && c == 5)); then s+='\000\000\300\177'   # NaN
            elif (((r + c) % 3 == 0)); then s+='\000\000\200\077'  # 1.0f
            else s+='\000\000\000\000'; fi
        done
    done
    printf "$s"
} >"$T/nan.bin"
cat >"$T/nan.cfg" <<'EOF'
PATH train/x
INPUT-CLASS FP
INPUT-SIZE 32
INPUT-BYTE-ORDER LE
RANK 2
DIMENSION-SIZES 64 16
OUTPUT-CLASS FP
OUTPUT-SIZE 32
OUTPUT-ARCHITECTURE IEEE
OUTPUT-BYTE-ORDER LE
EOF
rc=0
h5import "$T/nan.bin" -c "$T/nan.cfg" -o "$T/nan.h5" >"$T/out" 2>"$T/err" || rc=$?
: >"$T/err"
report "h5import: float32 dataset with a NaN" "$([ "$rc" -eq 0 ] && [ -s "$T/nan.h5" ] || echo "h5import failed")"

# The base config: 64 rows of 4x4, tiny model. Runs go to $T/r1 unless --set
# output.dir says otherwise, so every failing run below also proves that the
# checkpoints in r1 survive it.
cat >"$T/base.ini" <<EOF
; tiny run for the CLI tests
[data]
path = $T/d16.h5
split = train
valid_split = test

[model]
hidden = 8

[train]
epochs = 2
batch_size = 8
chains = 8
centering = true
monitor = 16
seed = 7

[output]
dir = $T/r1
EOF
BASE=$T/base.ini

# ---- 1. help and dispatch ---------------------------------------------------

for cmd in "" train info convert; do
    ebm $cmd --help
    why=""
    [ "$rc" -eq 0 ] || why+="exit status $rc, expected 0"$'\n'
    grep -q "^usage: ebm ${cmd:+$cmd }" "$T/out" || why+="stdout has no 'usage: ebm ${cmd:+$cmd }'"$'\n'
    report "ebm ${cmd:+$cmd }--help" "${why%$'\n'}"
done

ebm
why=""
[ "$rc" -eq 2 ] || why+="exit status $rc, expected 2"$'\n'
grep -q '^usage: ebm' "$T/err" || why+="no usage on stderr"$'\n'
[ ! -s "$T/out" ] || why+="stdout is not empty"$'\n'
report "ebm without a command exits 2 with usage on stderr" "${why%$'\n'}"

# NOTE: main.c prints "ebm: unknown command '...'" rather than the
# "ebm: error: ..." of every other failure; this check accepts any one line
# starting with "ebm:" (see the report that came with this test).
ebm bogus
why=""
[ "$rc" -eq 2 ] || why+="exit status $rc, expected 2"$'\n'
[ "$(grep -c '' "$T/err")" -eq 1 ] || why+="stderr is not exactly one line"$'\n'
grep -q "^ebm:.*'bogus'" "$T/err" || why+="stderr does not name 'bogus'"$'\n'
report "ebm bogus exits 2 naming the command" "${why%$'\n'}"

# ---- 3. good runs -------------------------------------------------------------

ebm train "$BASE"
run_ok "1-rank training run" "$T/r1" 2 1
GUARD=$T/r1 GUARD_SNAP=$(snap "$T/r1")
[ -n "$GUARD_SNAP" ] || echo "# warning: no checkpoints in $T/r1; the 'unchanged' checks below are weak"

ebm2 train "$BASE" --set output.dir="$T/r2"
run_ok "2-rank training run" "$T/r2" 2 2

# ---- 2. config and flag errors -------------------------------------------------

# bad_config FILE SECTION LINE: base.ini with LINE added right after the
# [SECTION] header, written to FILE; prints the line number of LINE.
bad_config() {
    awk -v sec="[$2]" -v add="$3" '{ print } $0 == sec { print add }' "$BASE" >"$1"
    grep -nxF -- "$3" "$1" | cut -d: -f1
}

n=$(bad_config "$T/unknown-key.ini" train "frobnicate = 3")
ebm train "$T/unknown-key.ini"
expect_error "config: unknown key names FILE:LINE and the key" "$T/unknown-key.ini:$n:" "frobnicate"

n=$(awk '/^\[model\]/ { print NR }' "$BASE")
sed 's/^\[model\]$/[modle]/' "$BASE" >"$T/unknown-section.ini"
ebm train "$T/unknown-section.ini"
expect_error "config: unknown section names FILE:LINE and the section" \
    "$T/unknown-section.ini:$n:" "[modle]"

sed '/^\[train\]$/a lr = 0.x' "$BASE" >"$T/bad-number.ini"
n=$(grep -nx 'lr = 0.x' "$T/bad-number.ini" | cut -d: -f1)
ebm train "$T/bad-number.ini"
expect_error "config: malformed number names FILE:LINE, key and value" \
    "$T/bad-number.ini:$n:" "lr" "0.x"

sed 's/^epochs = 2$/epochs = 0/' "$BASE" >"$T/out-of-range.ini"
n=$(grep -nx 'epochs = 0' "$T/out-of-range.ini" | cut -d: -f1)
ebm train "$T/out-of-range.ini"
expect_error "config: out-of-range value names FILE:LINE and the key" \
    "$T/out-of-range.ini:$n:" "epochs" "out of range"

ebm train "$BASE" --set train.lr=abc
expect_error "--set train.lr=abc names the override" "train.lr=abc" "'abc' is not a number"

ebm train "$BASE" --set nodot
expect_error "--set without section.key names the override" "nodot" "section.key=value"

ebm train "$BASE" --set train.frobnicate=1
expect_error "--set of an unknown key names it" "frobnicate"

ebm train "$BASE" --set train.batch_size=0
expect_error "--set of an out-of-range value names the key" "batch_size" "out of range"

ebm train "$BASE" --bogus
expect_error "train: unknown flag names it" "--bogus"

ebm train "$BASE" --set
expect_error "train: --set without a value" "--set"

ebm train
expect_error "train: missing CONFIG" "CONFIG"

ebm train "$BASE" "$BASE"
expect_error "train: a second CONFIG is refused" "unexpected argument"

ebm train "$T/no-such.ini"
expect_error "train: missing config file names it" "$T/no-such.ini"

# ---- 4. existing checkpoints, --resume auto ---------------------------------------

cp -r "$T/r1" "$T/r4"
before=$(snap "$T/r4")
ebm train "$BASE" --set output.dir="$T/r4"
expect_error "fresh run into a dir with checkpoints is refused" "$T/r4" "--resume auto"
report "... and leaves those checkpoints untouched" \
    "$([ "$(snap "$T/r4")" = "$before" ] || echo "checkpoints in $T/r4 changed")"

ebm train "$BASE" --set output.dir="$T/r4" --resume auto --set train.epochs=3
run_ok "--resume auto continues to epoch 3" "$T/r4" 3 1
why=""
for f in ckpt-e000001.h5 ckpt-e000002.h5; do
    grep -q " $f\$" <<<"$before" || continue
    [ "$(grep " $f\$" <<<"$before")" = "$(cd "$T/r4" && md5sum "$f" 2>/dev/null)" ] ||
        why+="$f changed"$'\n'
done
report "--resume auto keeps the older checkpoints byte-identical" "${why%$'\n'}"

ebm train "$BASE" --set output.dir="$T/r-auto-fresh" --resume auto
run_ok "--resume auto in a new dir starts fresh" "$T/r-auto-fresh" 2 1

# ---- 5. --resume of a missing file --------------------------------------------

ebm train "$BASE" --resume /no/such.h5
expect_error "--resume /no/such.h5 names the path" "/no/such.h5"

# ---- 6. missing data file -------------------------------------------------------

ebm train "$BASE" --resume auto --set data.path=/no/such.h5
expect_error "missing data file names the path" "/no/such.h5"

ebm train "$BASE" --resume auto --set data.split=nosplit
expect_error "missing split names the file and the split" "$T/d16.h5" "nosplit"

# ---- 7. NaN in the data ---------------------------------------------------------

ebm train "$BASE" --set data.path="$T/nan.h5" --set output.dir="$T/r7"
expect_error "NaN in the data names the file and the row" "$T/nan.h5" "row 37" "NaN"

# data.include_labels: 64 rows labelled r % 10, so labels 1 and 2 select 14.
ebm train "$BASE" --set output.dir="$T/il" --set data.include_labels=1,2 --set train.epochs=1
report "data.include_labels trains on the selected rows only" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; grep -q '(14 rows)' "$T/out" || echo "header does not say 14 rows")"
ebm train "$BASE" --set output.dir="$T/il2" --set data.path="$T/mixed.h5" --set data.valid_split= \
    --set data.include_labels=1
expect_error "data.include_labels on a split without labels names the file" "$T/mixed.h5" "no labels"
ebm train "$BASE" --set output.dir="$T/il3" --set data.include_labels=1,x
expect_error "data.include_labels: a malformed list names the key" "data.include_labels" "1,x"
ebm train "$BASE" --set output.dir="$T/il4" --set data.include_labels=77
expect_error "data.include_labels selecting no row says so" "no row of /train"
report "... and writes no checkpoint" \
    "$([ -z "$(snap "$T/r7")" ] || echo "checkpoints appeared in $T/r7")"

# At 2 ranks row 37 is in rank 1's shard; rank 0 must still print the cause.
ebm2 train "$BASE" --set data.path="$T/nan.h5" --set output.dir="$T/r7"
expect_error2 "NaN on rank 1 at 2 ranks: one line naming file, row and rank" \
    "$T/nan.h5" "row 37" "NaN" "rank 1"

# ---- 8. data or model that does not match the checkpoint ----------------------------

ebm train "$BASE" --resume auto --set data.path="$T/d25.h5"
expect_error "resume with 25-pixel data names n_visible" "n_visible" "$T/r1/ckpt-e000002.h5"

ebm train "$BASE" --resume "$T/r1/ckpt-e000002.h5" --set model.hidden=9
expect_error "resume with another hidden size names n_hidden" "n_hidden"

ebm2 train "$BASE" --resume "$T/r1/ckpt-e000002.h5" --set output.dir="$T/r-elastic" \
    --set train.epochs=3
report "a 1-rank checkpoint resumes on 2 ranks (elastic), saying so" \
    "$([ "$rc" -eq 0 ] || echo "exit status $rc"; grep -q 'elastic resume' "$T/err" || echo "no elastic note"
       [ -f "$T/r-elastic/ckpt-e000003.h5" ] || echo "no ckpt-e000003.h5")"

# Regression check for a bug found while writing this test (now checked in
# src/learn/trainer.c, init_local): the held-out split
# (data.valid_split) was read without checking that its width matches the
# training split. With /train/x 64 x 16 and /test/x 64 x 9 (flat data, so no
# image_shape catches it) the run "succeeded" (exit 0) while monitor_sums read
# the 9-wide rows with stride 16, past the end of the valid shard's buffer
# (valgrind: invalid read in monitor_sums), logging garbage fe_gap values.
ebm train "$BASE" --set data.path="$T/mixed.h5" --set output.dir="$T/r-mixed"
expect_error "valid split narrower than the training split is refused" "$T/mixed.h5" "test"

# ---- 9. ebm info on things that are not checkpoints ------------------------------------

ebm info "$BASE"
expect_error "info on a non-HDF5 file names it" "$BASE" "HDF5"

ebm info "$T/d16.h5"
expect_error "info on an HDF5 file that is no checkpoint names it" "$T/d16.h5" "not an ebm checkpoint"

ebm info "$T/no-such.h5"
expect_error "info on a missing file names it" "$T/no-such.h5"

ebm info
expect_error "info without CKPT" "CKPT"

# ---- 11. batch size larger than the shard -------------------------------------------

ebm train "$BASE" --resume auto --set train.batch_size=65
expect_error "batch_size above the 64 rows names batch_size" "batch_size"

# 40 rows fit at 1 rank but not in the 32-row shards of 2 ranks.
ebm2 train "$BASE" --resume auto --set train.batch_size=40
expect_error2 "batch_size above a 2-rank shard names batch_size" "batch_size"

# ---- 10. bit-exact resume through the CLI -----------------------------------------------

# same_tensors NAME A B: the tensors of two checkpoints are identical, byte for
# byte: each is dumped raw with h5dump (-b LE) and compared with cmp, so a
# different shape fails too. (h5diff is not used: it exits 0 on objects it
# finds "not comparable", e.g. of different shapes.) /model/W must be 16 x 8.
same_tensors() {
    local name=$1 a=$2 b=$3 why
    why=$(tensor_diffs "$a" "$b" /model/W /model/vbias /model/hbias /optim/velocity/W \
          /optim/visible_offset /optim/hidden_offset /train/chains /train/rng)
    rc=0
    : >"$T/err"
    : >"$T/out"
    report "$name" "${why%$'\n'}"
}

# recon DIR EPOCH: the recon_error logged for EPOCH.
recon() { grep "^{\"epoch\":$2," "$1/metrics.jsonl" | grep -o '"recon_error":[^,]*'; }

ebm train "$BASE" --set output.dir="$T/a1" --set train.epochs=4
run_ok "1 rank: 4 epochs in one go" "$T/a1" 4 1
ebm train "$BASE" --set output.dir="$T/b1"
ebm train "$BASE" --set output.dir="$T/b1" --resume auto --set train.epochs=4
run_ok "1 rank: 2 epochs, then --resume auto to 4" "$T/b1" 4 1
same_tensors "1 rank: resumed run is bit-identical (W, biases, velocity, offsets, chains, rng)" \
    "$T/a1/ckpt-e000004.h5" "$T/b1/ckpt-e000004.h5"
report "1 rank: resumed run logs the same recon_error in epochs 3 and 4" \
    "$([ -n "$(recon "$T/a1" 4)" ] && [ "$(recon "$T/a1" 3)$(recon "$T/a1" 4)" = "$(recon "$T/b1" 3)$(recon "$T/b1" 4)" ] ||
       echo "one go: $(recon "$T/a1" 3) $(recon "$T/a1" 4); resumed: $(recon "$T/b1" 3) $(recon "$T/b1" 4)")"

ebm2 train "$BASE" --set output.dir="$T/a2" --set train.epochs=4
run_ok "2 ranks: 4 epochs in one go" "$T/a2" 4 2
ebm2 train "$BASE" --set output.dir="$T/b2"
ebm2 train "$BASE" --set output.dir="$T/b2" --resume auto --set train.epochs=4
run_ok "2 ranks: 2 epochs, then --resume auto to 4" "$T/b2" 4 2
same_tensors "2 ranks: resumed run is bit-identical (W, biases, velocity, offsets, chains, rng)" \
    "$T/a2/ckpt-e000004.h5" "$T/b2/ckpt-e000004.h5"
report "2 ranks: resumed run logs the same recon_error in epochs 3 and 4" \
    "$([ -n "$(recon "$T/a2" 4)" ] && [ "$(recon "$T/a2" 3)$(recon "$T/a2" 4)" = "$(recon "$T/b2" 3)$(recon "$T/b2" 4)" ] ||
       echo "one go: $(recon "$T/a2" 3) $(recon "$T/a2" 4); resumed: $(recon "$T/b2" 3) $(recon "$T/b2" 4)")"

# Resuming an older checkpoint into a directory that holds newer ones would
# fork the run (and a later --resume auto would jump back): refused.
GUARD=$T/a1 GUARD_SNAP=$(snap "$T/a1")
ebm train "$BASE" --set output.dir="$T/a1" --set train.epochs=4 --resume "$T/a1/ckpt-e000003.h5"
expect_error "resume of an older checkpoint into a dir with newer ones is refused" \
    "ckpt-e000004.h5" "newer"
GUARD=$T/r1 GUARD_SNAP=$(snap "$T/r1")

# A crash between checkpoints: epochs redone after a resume are logged once.
ebm train "$BASE" --set output.dir="$T/m1" --set train.epochs=3 --set train.checkpoint_every=2
rm -f "$T/m1/ckpt-e000003.h5" # as if killed during epoch 3's checkpoint
ebm train "$BASE" --set output.dir="$T/m1" --set train.epochs=3 --resume auto
report "resume after a lost checkpoint logs each epoch once" \
    "$([ "$(grep -o '^{"epoch":[0-9]*' "$T/m1/metrics.jsonl" | tr -d '{":a-z' | tr '\n' ' ')" = "1 2 3 " ] ||
       echo "metrics.jsonl epochs: $(grep -o '^{"epoch":[0-9]*' "$T/m1/metrics.jsonl" | tr '\n' ' ')")"

# Resuming onto other data, or data seen differently, is another experiment.
ebm train "$BASE" --set output.dir="$T/r1" --set train.epochs=3 --resume auto \
    --set data.max_examples=40
expect_error "resume with fewer data rows is refused" "data rows" "40"
ebm train "$BASE" --set output.dir="$T/r1" --set train.epochs=3 --resume auto \
    --set data.binarize=threshold
expect_error "resume with another binarization is refused" "binarize" "threshold"

# A run that died before its first checkpoint left metrics: a requeued fresh
# start logs each epoch once.
mkdir -p "$T/m2" && echo '{"epoch":1,"stale":true}' >"$T/m2/metrics.jsonl"
ebm train "$BASE" --set output.dir="$T/m2" --resume auto
report "a fresh start drops metrics of a run that left no checkpoint" \
    "$([ "$(grep -c '' "$T/m2/metrics.jsonl")" = 2 ] && ! grep -q stale "$T/m2/metrics.jsonl" ||
       echo "metrics.jsonl: $(tr '\n' ' ' <"$T/m2/metrics.jsonl")")"

# ---- ebm sample (begin; self-contained) ---------------------------------------
# Block Gibbs samples from r1's checkpoint (16 visible, 4x4 images), at 1 and
# 2 ranks. Uses only what is built above: $T/r1/ckpt-e000002.h5, $T/d16.h5
# (/train and /test, 64 x 16), $T/d25.h5 (/train, 64 x 25) and $T/mixed.h5
# (flat /train 64 x 16, so a model trained on it has no image shape).
S_CK=$T/r1/ckpt-e000002.h5

# s_samples FILE: the /samples values as h5dump prints them (6 significant
# digits), without the first line, which names the file.
s_samples() { h5dump -d /samples "$1" 2>/dev/null | tail -n +2; }

ebm sample --help
why=""
[ "$rc" -eq 0 ] || why+="exit status $rc, expected 0"$'\n'
grep -q '^usage: ebm sample ' "$T/out" || why+="stdout has no 'usage: ebm sample '"$'\n'
report "ebm sample --help" "${why%$'\n'}"

ebm sample "$S_CK" --n 20 --steps 50 --out "$T/s.png"
why=""
[ "$rc" -eq 0 ] || why+="exit status $rc, expected 0"$'\n'
grep -qF "wrote 20 samples (50 Gibbs steps, init random) -> $T/s.png" "$T/out" ||
    why+="stdout lacks the 'wrote 20 samples ...' line"$'\n'
[ "$(head -c 8 "$T/s.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
    why+="$T/s.png does not start with the PNG signature"$'\n'
report "sample: --out .png writes a PNG" "${why%$'\n'}"

ebm sample "$S_CK" --n 20 --steps 50 --out "$T/s1.h5"
why=""
[ "$rc" -eq 0 ] || why+="exit status $rc, expected 0"$'\n'
h5dump -H -d /samples "$T/s1.h5" 2>/dev/null | grep -qF 'SIMPLE { ( 20, 16 ) / ( 20, 16 ) }' ||
    why+="/samples is not [20, 16]"$'\n'
h5dump -H -d /samples "$T/s1.h5" 2>/dev/null | grep -q 'H5T_IEEE_F32LE' ||
    why+="/samples is not float32"$'\n'
h5dump -a /image_shape "$T/s1.h5" 2>/dev/null | grep -qF '(0): 4, 4' ||
    why+="no image_shape 4, 4 on /"$'\n'
report "sample: --out .h5 writes /samples [20, 16] float32 and image_shape" "${why%$'\n'}"

ebm2 sample "$S_CK" --n 20 --steps 50 --out "$T/s2.h5"
why=""
[ "$rc" -eq 0 ] || why+="exit status $rc, expected 0"$'\n'
[ -n "$(s_samples "$T/s1.h5")" ] && [ "$(s_samples "$T/s1.h5")" = "$(s_samples "$T/s2.h5")" ] ||
    why+="/samples differ between 1 and 2 ranks"$'\n'
report "sample: 1 and 2 ranks give the same samples (h5dump precision)" "${why%$'\n'}"

ebm sample "$S_CK" --n 20 --steps 50 --out "$T/s3.h5" --seed 2
report "sample: another --seed gives other samples" \
    "$([ "$rc" -eq 0 ] && [ "$(s_samples "$T/s1.h5")" != "$(s_samples "$T/s3.h5")" ] ||
       echo "exit status $rc, or the samples equal those of seed 1")"

ebm sample "$S_CK" --n 30 --steps 20 --init data --data "$T/d16.h5" --out "$T/sd1.h5"
why=""
[ "$rc" -eq 0 ] || why+="exit status $rc, expected 0"$'\n'
grep -qF "init data $T/d16.h5 /test" "$T/out" || why+="stdout does not name the data"$'\n'
h5dump -H -d /samples "$T/sd1.h5" 2>/dev/null | grep -qF 'SIMPLE { ( 30, 16 ) / ( 30, 16 ) }' ||
    why+="/samples is not [30, 16]"$'\n'
report "sample: --init data starts from /test rows" "${why%$'\n'}"
ebm2 sample "$S_CK" --n 30 --steps 20 --init data --data "$T/d16.h5" --out "$T/sd2.h5"
report "sample: --init data gives the same samples at 1 and 2 ranks" \
    "$([ "$rc" -eq 0 ] && [ -n "$(s_samples "$T/sd1.h5")" ] &&
       [ "$(s_samples "$T/sd1.h5")" = "$(s_samples "$T/sd2.h5")" ] ||
       echo "exit status $rc, or /samples differ between 1 and 2 ranks")"

ebm sample --n 5 --steps 2 --out "$T/x.h5"
expect_error "sample: missing CKPT" "CKPT"
ebm sample "$T/no-such.h5" --n 5 --steps 2 --out "$T/x.h5"
expect_error "sample: missing checkpoint names it" "$T/no-such.h5"
ebm sample "$T/d16.h5" --n 5 --steps 2 --out "$T/x.h5"
expect_error "sample: a dataset is not a checkpoint" "$T/d16.h5" "not an ebm checkpoint"
for bad in 0 -3 abc 12x 99999999999; do
    ebm sample "$S_CK" --n "$bad" --steps 2 --out "$T/x.h5"
    expect_error "sample: --n $bad is refused" "--n" "'$bad'" "positive integer"
done
ebm sample "$S_CK" --n 5 --steps 2.5 --out "$T/x.h5"
expect_error "sample: --steps 2.5 is refused" "--steps" "'2.5'" "positive integer"
ebm sample "$S_CK" --n 5 --out "$T/x.h5"
expect_error "sample: missing --steps" "--steps"
ebm sample "$S_CK" --n 5 --steps 2
expect_error "sample: missing --out" "--out"
ebm sample "$S_CK" --n 5 --steps 2 --out "$T/x.jpg"
expect_error "sample: unknown --out extension names it" "$T/x.jpg" ".png" ".h5"
ebm sample "$S_CK" --n 5 --steps 2 --out "$T/x.h5" --init data
expect_error "sample: --init data without --data" "--init data" "--data"
# Metropolis-Hastings and the diagnostics: the same chains at 1 and 2
# ranks, an acceptance rate, and ESS / split-R-hat of the traces.
ebm sample "$S_CK" --n 12 --steps 40 --sampler mh --diagnostics --out "$T/m1.h5"
m1_out=$(cat "$T/out")
ebm2 sample "$S_CK" --n 12 --steps 40 --sampler mh --diagnostics --out "$T/m2.h5"
report "sample --sampler mh --diagnostics: same samples and diagnostics at 1 and 2 ranks" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"
       printf '%s\n' "$m1_out" | grep -q 'Metropolis-Hastings steps, acceptance 0\.[0-9]' || echo "no acceptance rate"
       printf '%s\n' "$m1_out" | grep -q '^diagnostics: free-energy traces of 12 chains x 40 steps: ESS [0-9.]* (per chain: min [0-9.]*, mean [0-9.]*), split-R-hat [0-9.]*' || echo "no diagnostics line"
       [ "$(printf '%s\n' "$m1_out" | grep '^diagnostics')" = "$(grep '^diagnostics' "$T/out")" ] || echo "diagnostics differ between 1 and 2 ranks"
       [ -n "$(s_samples "$T/m1.h5")" ] && [ "$(s_samples "$T/m1.h5")" = "$(s_samples "$T/m2.h5")" ] || echo "samples differ")"
ebm sample "$S_CK" --n 12 --steps 40 --diagnostics --out "$T/g1.h5"
report "sample --diagnostics with Gibbs chains" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; grep -q '^diagnostics: free-energy traces of 12 chains x 40 steps' "$T/out" || echo "no diagnostics line")"
ebm sample "$S_CK" --n 5 --steps 10 --sampler mala --step 0.1 --out "$T/x.h5"
expect_error "sample: mala on binary visible units is refused" "mala" "bernoulli ones"
ebm sample "$S_CK" --n 5 --steps 10 --sampler hmc --out "$T/x.h5"
expect_error "sample: unknown --sampler names the choices" "hmc" "gibbs, mh, langevin, mala"
ebm sample "$S_CK" --n 5 --steps 10 --sampler mh --step 0.5 --out "$T/x.h5"
expect_error "sample: --step with mh on binary units is refused" "--step" "single-unit flips"
ebm sample "$S_CK" --n 5 --steps 4 --diagnostics --out "$T/x.h5"
expect_error "sample: --diagnostics needs at least 8 steps" "--steps must be at least 8"
ebm sample "$S_CK" --n 5 --steps 2 --out "$T/x.h5" --init noise
expect_error "sample: unknown --init names it" "noise"
ebm sample "$S_CK" --n 5 --steps 2 --out "$T/x.h5" --frobnicate
expect_error "sample: unknown flag names it" "--frobnicate"
ebm sample "$S_CK" --n 5 --steps 2 --out "$T/x.h5" --init data --data "$T/d25.h5" --split train
expect_error "sample: data width mismatch names both widths" "$T/d25.h5" "25" "16"
ebm2 sample "$S_CK" --n 5 --steps 2 --out "$T/x.h5" --init data --data "$T/d25.h5" --split train
expect_error2 "sample: data width mismatch at 2 ranks, one line" "$T/d25.h5" "25" "16"
ebm sample "$S_CK" --n 65 --steps 2 --out "$T/x.h5" --init data --data "$T/d16.h5"
expect_error "sample: more chains than data rows names both" "64 rows" "--n 65"
ebm sample "$S_CK" --n 5 --steps 2 --out "$T/no-dir/x.h5"
expect_error "sample: --out in a missing directory is refused before sampling" "$T/no-dir"
report "sample: no output file after the failures above" \
    "$([ ! -e "$T/x.h5" ] && [ ! -e "$T/x.jpg" ] || echo "$T/x.h5 or $T/x.jpg exists")"

# A model trained on flat data has no image shape: .png is refused, .h5 works.
ebm train "$BASE" --set data.path="$T/mixed.h5" --set data.valid_split= \
    --set train.epochs=1 --set output.dir="$T/s-flat"
report "sample: a model trained on flat data" \
    "$([ "$rc" -eq 0 ] && [ -f "$T/s-flat/ckpt-e000001.h5" ] || echo "training failed")"
ebm sample "$T/s-flat/ckpt-e000001.h5" --n 5 --steps 2 --out "$T/flat.png"
expect_error "sample: .png without an image shape suggests .h5" "image shape" ".h5"
ebm sample "$T/s-flat/ckpt-e000001.h5" --n 5 --steps 2 --out "$T/flat.h5"
report "sample: .h5 without an image shape has no image_shape" \
    "$([ "$rc" -eq 0 ] && h5dump -H "$T/flat.h5" 2>/dev/null | grep -q '"samples"' &&
       ! h5dump -H "$T/flat.h5" 2>/dev/null | grep -q image_shape || echo "exit status $rc, or wrong file")"
# ---- ebm sample (end) -----------------------------------------------------------

# ---- ebm eval ----------------------------------------------------------------
CK=$T/r1/ckpt-e000002.h5
ebm eval --help
report "eval --help prints usage" "$([ "$rc" -eq 0 ] && grep -q 'usage: ebm eval' "$T/out" || echo "rc $rc")"
ebm eval "$CK" --data "$T/d16.h5" --exact --json
report "eval --exact --json: one JSON object with the documented keys" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; for k in avg_log_prob avg_log_prob_lo avg_log_prob_hi log_z log_z_lo \
        log_z_hi method n_examples seconds; do grep -q "\"$k\":" "$T/out" || echo "no $k"; done
       grep -q '"method":"exact"' "$T/out" || echo "method is not exact"
       grep -q '"n_examples":64' "$T/out" || echo "n_examples is not 64")"
cp "$T/out" "$T/eval-exact.json"
ebm2 eval "$CK" --data "$T/d16.h5" --exact --json
report "eval --exact: same log Z on 2 ranks" \
    "$(a=$(grep -o '"log_z":[^,]*' "$T/eval-exact.json"); b=$(grep -o '"log_z":[^,]*' "$T/out")
       [ -n "$a" ] && [ "$a" = "$b" ] || echo "1 rank $a, 2 ranks $b")"
ebm eval "$CK" --data "$T/d16.h5" --ais-runs 50 --ais-betas 600 --json
report "eval with AIS: interval around the exact log Z" \
    "$(z=$(grep -o '"log_z":[^,]*' "$T/eval-exact.json" | cut -d: -f2)
       lo=$(grep -o '"log_z_lo":[^,]*' "$T/out" | cut -d: -f2); hi=$(grep -o '"log_z_hi":[^,]*' "$T/out" | cut -d: -f2)
       grep -q '"method":"ais"' "$T/out" || echo "method is not ais"
       grep -q '"reverse_log_z":' "$T/out" || echo "no reverse AIS"
       awk -v z="$z" -v lo="$lo" -v hi="$hi" 'BEGIN { if (lo == "null") lo = -1e300; if (!(lo <= z && z <= hi)) print "exact " z " outside [" lo ", " hi "]" }')"
ebm eval "$CK" --data "$T/d16.h5"  --ais-runs 10 --ais-betas 150
report "eval text output names method, log Z and pseudo-LL" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; for p in 'method        AIS' 'log Z reverse' 'avg log p(v)' 'pseudo-LL' 'recon error'; do
        grep -qF "$p" "$T/out" || echo "no '$p'"; done)"
ebm eval "$CK" --data "$T/d25.h5" --split train
expect_error "eval on data of another width names both widths" "$T/d25.h5" "25 columns" "16 visible"
ebm eval "$T/d16.h5" --data "$T/d16.h5"
expect_error "eval of a file that is no checkpoint" "$T/d16.h5" "not an ebm checkpoint"
ebm eval "$CK"
expect_error "eval without --data" "--data"
ebm eval "$CK" --data "$T/d16.h5" --ais-runs x
expect_error "eval with a bad --ais-runs" "--ais-runs" "'x'"
ebm eval "$CK" --data "$T/d16.h5" --binarize maybe
expect_error "eval with a bad --binarize" "--binarize" "maybe"
ebm eval "$CK" --data "$T/d16.h5" --ais-keep odd
expect_error "eval --ais-keep is the DBM's" "--ais-keep and --ais-base apply to DBM" "an rbm"
ebm train "$BASE" --set output.dir="$T/ev" --set train.eval_every=1 --set train.eval_ais_runs=8 \
    --set train.eval_ais_betas=100
report "train.eval_every logs an AIS estimate each epoch" \
    "$([ "$rc" -eq 0 ] || echo "rc $rc"; n=$(grep -c '"avg_log_prob_valid":' "$T/ev/metrics.jsonl" 2>/dev/null)
       [ "${n:-0}" = 2 ] || echo "${n:-0} metrics lines with avg_log_prob_valid, expected 2")"
ebm train "$BASE" --set output.dir="$T/ev2" --set train.eval_every=1 --set data.valid_split=
expect_error "train.eval_every without held-out data is refused" "eval_every" "valid_split"
# ---- ebm eval (end) ------------------------------------------------------------

# ---- stops and crashes ---------------------------------------------------------
# A real SIGUSR1 to one rank of a 2-rank run: every rank stops after the same
# step with a checkpoint and status 3; --resume auto then finishes the run
# bit-identically to one that was never stopped.
LONG=(--set train.epochs=3000 --set train.checkpoint_every=3000 --set train.monitor=0)
ebm2 train "$BASE" --set output.dir="$T/s-straight" "${LONG[@]}"
OMPI_MCA_mpi_yield_when_idle=1 timeout 60 mpirun --allow-run-as-root --oversubscribe -np 2 \
    "$EBM" train "$BASE" --set output.dir="$T/s-stop" "${LONG[@]}" >"$T/out" 2>"$T/err" &
launcher=$!
ranks=""
# Signal once the ranks are a few epochs in.
for _ in $(seq 400); do [ "$(cat "$T/s-stop/metrics.jsonl" 2>/dev/null | wc -l)" -ge 5 ] && break; sleep 0.05; done
ranks=$(pgrep -P "$launcher")
one=$(echo "$ranks" | head -1)
[ -n "$one" ] && kill -USR1 "$one"
wait "$launcher"; rc=$?
report "SIGUSR1 to one rank: all stop with status 3 and a mid-run checkpoint" \
    "$([ "$rc" -eq 3 ] || echo "exit status $rc"; grep -q '^ebm: stopped: stopped on request' "$T/err" || echo "no stop line"
       ls "$T/s-stop"/ckpt-e*.h5 >/dev/null 2>&1 || echo "no checkpoint")"
ebm2 train "$BASE" --set output.dir="$T/s-stop" "${LONG[@]}" --resume auto
same_tensors "stopped then resumed run is bit-identical to an uninterrupted one" \
    "$T/s-straight/ckpt-e003000.h5" "$T/s-stop/ckpt-e003000.h5"

# Elastic restart from a stop: a 2-rank run stopped by SIGUSR1 continues on 1 rank.
OMPI_MCA_mpi_yield_when_idle=1 timeout 60 mpirun --allow-run-as-root --oversubscribe -np 2 \
    "$EBM" train "$BASE" --set output.dir="$T/s-el" "${LONG[@]}" >"$T/out" 2>"$T/err" &
launcher=$!
for _ in $(seq 400); do [ "$(cat "$T/s-el/metrics.jsonl" 2>/dev/null | wc -l)" -ge 5 ] && break; sleep 0.05; done
one=$(pgrep -P "$launcher" | head -1)
[ -n "$one" ] && kill -USR1 "$one"
wait "$launcher"; stop_rc=$?
ebm train "$BASE" --set output.dir="$T/s-el" --set train.epochs=3000 --set train.monitor=0 --resume auto
report "a run stopped on 2 ranks resumes on 1 (elastic) and finishes" \
    "$([ "$stop_rc" -eq 3 ] || echo "stop: exit status $stop_rc"; [ "$rc" -eq 0 ] || echo "resume: exit status $rc"
       grep -q 'elastic resume' "$T/err" || echo "no elastic note"; [ -f "$T/s-el/ckpt-e003000.h5" ] || echo "no final checkpoint")"

# kill -9 while a checkpoint is half written: the previous one stays intact.
ebm train "$BASE" --set output.dir="$T/k"
before=$(snap "$T/k")
EBM_FAULT_CHECKPOINT_DELAY=30 timeout 60 "$EBM" train "$BASE" --set output.dir="$T/k" \
    --set train.epochs=3 --resume auto >"$T/out" 2>"$T/err" &
victim=$!
for _ in $(seq 200); do ls "$T/k"/.ckpt-*.tmp >/dev/null 2>&1 && break; sleep 0.05; done
kill -9 "$victim"; wait "$victim" 2>/dev/null
report "kill -9 during a checkpoint write leaves the previous checkpoints intact" \
    "$([ "$(snap "$T/k")" = "$before" ] || echo "checkpoints changed"
       [ ! -e "$T/k/ckpt-e000003.h5" ] || echo "a half-written checkpoint got its final name")"
ebm info "$T/k/ckpt-e000002.h5"
report "the previous checkpoint still loads" "$([ "$rc" -eq 0 ] || echo "ebm info: rc $rc")"
ebm train "$BASE" --set output.dir="$T/k" --set train.epochs=3 --resume auto
report "after the crash, --resume auto finishes the run" \
    "$([ "$rc" -eq 0 ] && [ -f "$T/k/ckpt-e000003.h5" ] || echo "rc $rc")"
# ---- stops and crashes (end) ----------------------------------------------------

# ---- memory per rank ([parallel] max_rank_memory) ----------------------------
ebm train "$BASE" --set output.dir="$T/mem"
report "train: prints this rank's memory by purpose" \
    "$(grep -q 'memory per rank: .* = parameters .*, gradients .*, optimizer .*, chains .*, batch .*, data ' \
        "$T/out" || echo 'no memory line')"
ebm train "$BASE" --set output.dir="$T/mem2" --set parallel.max_rank_memory=4K
expect_error "a layout over parallel.max_rank_memory is refused" "max_rank_memory = 4K" \
    "per rank" "no process grid of 1 ranks fits"
# 16 x 20000 weights outweigh the 64 rows: two ranks as one 1x2 grid fit
# (tests/cli/test_grid_cli.sh runs it).
ebm2 train "$BASE" --set output.dir="$T/mem3" --set model.hidden=20000 \
    --set parallel.max_rank_memory=3M
expect_error2 "over the cap, a process grid that fits is named" "max_rank_memory = 3M" \
    "[parallel] grid = 1x2 needs" "--set parallel.grid=1x2"
ebm train "$BASE" --set output.dir="$T/mem4" --set parallel.max_rank_memory=2GB
expect_error "a malformed size is refused" "parallel.max_rank_memory = '2GB'"

# The guard once more, after everything that pointed at r1.
report "checkpoints of the first run are byte-identical at the end" \
    "$([ "$(snap "$T/r1")" = "$GUARD_SNAP" ] || echo "checkpoints in $T/r1 changed")"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
