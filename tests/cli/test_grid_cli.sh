#!/usr/bin/env bash
# Command-line tests of grid mode ([parallel] grid, docs/model-parallel.md):
# training on 1x2, 2x1 and 2x2 grids, a grid checkpoint resumed in data mode
# and the other way round, evaluation of a grid checkpoint, stop requests,
# the memory cap and the config errors.
#   EBM=build/ebm bash tests/cli/test_grid_cli.sh      (from the repository root)
# Prints one line per check, "ok - NAME" or "not ok - NAME".
set -u

# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=tests/lib/idx.sh
. "$(dirname "$0")/../lib/idx.sh"

# ebm4 ARGS: four ranks under mpirun (two a core here).
ebm4() {
    timeout 60 mpirun --allow-run-as-root --oversubscribe -np 4 "$EBM" "$@" >"$T/out" 2>"$T/err"
    rc=$?
}

# floats FILE TENSOR: the tensor's values, one per line (a dump file of its
# own: two run at once under paste).
floats() {
    local bin=$T/dump.$BASHPID.bin
    rm -f "$bin"
    h5dump -d "$2" -b LE -o "$bin" "$1" >/dev/null 2>&1 && od -An -v -f "$bin" |
        tr -s ' ' '\n' | grep -v '^$'
}

# max_diff A B TENSOR: the largest difference of a tensor in two checkpoints.
max_diff() {
    paste <(floats "$1" "$3") <(floats "$2" "$3") |
        awk 'BEGIN { m = 0; n = 0 } { d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d; n++ }
             END { if (n == 0) print "none"; else printf "%.3g\n", m }'
}

# close NAME A B: W, the biases and the velocity agree to float summation order.
close() {
    local name=$1 why="" t d
    for t in /model/W /model/vbias /model/hbias /optim/velocity/W; do
        d=$(max_diff "$2" "$3" "$t")
        awk -v d="$d" 'BEGIN { exit !(d != "none" && d < 1e-5) }' || why+="$t differs by $d"$'\n'
    done
    rc=0
    report "$name" "${why%$'\n'}"
}

pixels 64 16 | idx "$T/img16.idx" 64 4 4
ebm convert idx --images "$T/img16.idx" --split train --out "$T/d16.h5"
report "convert: a 4x4 dataset" "$([ "$rc" -eq 0 ] || echo "exit status $rc")"

cat >"$T/base.ini" <<EOF
[data]
path = $T/d16.h5
valid_split =
binarize = stochastic

[model]
hidden = 8

[train]
epochs = 2
batch_size = 8
chains = 8
monitor = 16
seed = 7

[parallel]
block = 3

[output]
dir = $T/r1
EOF
BASE=$T/base.ini
GUARD=$T/none GUARD_SNAP=""

# ---- training on grids ------------------------------------------------------
ebm train "$BASE" --set output.dir="$T/d1" --set train.epochs=4
report "data mode, 1 rank: 4 epochs" "$([ "$rc" -eq 0 ] || echo "exit status $rc")"
ebm2 train "$BASE" --set output.dir="$T/g12" --set parallel.grid=1x2
report "grid 1x2 on 2 ranks: trains and checkpoints" \
    "$([ "$rc" -eq 0 ] || echo "exit status $rc"
       [ -f "$T/g12/ckpt-e000002.h5" ] || echo "no checkpoint"
       grep -q '2 ranks as 1 replica(s) of a 1x2 grid (blocks of 3) x batch 8 = 8 per step' "$T/out" ||
           echo "no layout in the header"
       grep -q 'memory per rank: ' "$T/out" || echo "no memory line"
       [ "$(grep -c '"recon_error":' "$T/g12/metrics.jsonl")" -eq 2 ] || echo "not 2 metrics lines")"
h5dump -a /train/grid "$T/g12/ckpt-e000002.h5" >"$T/out" 2>&1
report "the checkpoint records the grid" "$(grep -q '"1x2"' "$T/out" || echo "no /train grid = 1x2")"

# A grid checkpoint resumed in data mode continues as the data-mode run.
ebm train "$BASE" --set output.dir="$T/g12" --set train.epochs=4 --resume auto
report "data mode resumes a 1x2 grid checkpoint" "$([ "$rc" -eq 0 ] || echo "exit status $rc"
    [ -f "$T/g12/ckpt-e000004.h5" ] || echo "no final checkpoint")"
close "grid 1x2 then data mode equals data mode throughout" "$T/d1/ckpt-e000004.h5" \
    "$T/g12/ckpt-e000004.h5"

# A data-mode checkpoint resumed on a 2x1 grid, and a whole 2x2 run.
mkdir -p "$T/g21" && cp "$T/d1/ckpt-e000004.h5" "$T/g21/ckpt-e000002.h5"
ebm train "$BASE" --set output.dir="$T/d1" --set train.epochs=6 --resume auto
ebm2 train "$BASE" --set output.dir="$T/g21" --set parallel.grid=2x1 --set train.epochs=6 \
    --resume "$T/g21/ckpt-e000002.h5"
report "a 2x1 grid resumes a data-mode checkpoint" "$([ "$rc" -eq 0 ] || echo "exit status $rc")"
ebm2 train "$BASE" --set output.dir="$T/g21b" --set parallel.grid=2x1 --set train.epochs=6 \
    --resume "$T/d1/ckpt-e000004.h5"
ebm4 train "$BASE" --set output.dir="$T/g22" --set parallel.grid=2x2 --set train.epochs=6
report "grid 2x2 on 4 ranks trains" "$([ "$rc" -eq 0 ] || echo "exit status $rc")"
close "grid 2x2 equals data mode after 6 epochs" "$T/d1/ckpt-e000006.h5" "$T/g22/ckpt-e000006.h5"
close "data mode then grid 2x1 equals data mode throughout" "$T/d1/ckpt-e000006.h5" \
    "$T/g21b/ckpt-e000006.h5"

# Two replicas of 1x2 on 4 ranks follow two data-parallel ranks (PCD).
ebm2 train "$BASE" --set output.dir="$T/d2" --set train.epochs=3
ebm4 train "$BASE" --set output.dir="$T/g12x2" --set parallel.grid=1x2 --set train.epochs=3
report "two 1x2 replicas on 4 ranks train" "$([ "$rc" -eq 0 ] || echo "exit status $rc"
    grep -q '4 ranks as 2 replica(s) of a 1x2 grid' "$T/out" || echo "no layout in the header")"
close "two 1x2 replicas equal two data-parallel ranks" "$T/d2/ckpt-e000003.h5" \
    "$T/g12x2/ckpt-e000003.h5"

# The same model, whichever layout wrote it: ebm eval reads it as any rbm.
ebm eval "$T/g22/ckpt-e000006.h5" --data "$T/d16.h5" --split train --exact
report "ebm eval: a grid checkpoint evaluates (exact log Z)" \
    "$([ "$rc" -eq 0 ] || echo "exit status $rc"; grep -qi 'log' "$T/out" || echo "no figures")"

# The same model evaluated on a grid: no rank holds W, AIS draws what the
# data-parallel AIS draws, so the figures agree to float rounding.
json_num() { grep -o "\"$2\":[^,}]*" "$1" | cut -d: -f2; }
ebm eval "$T/g22/ckpt-e000006.h5" --data "$T/d16.h5" --split train --ais-runs 16 \
    --ais-betas 500 --json
cp "$T/out" "$T/eval-data.json"
ebm4 eval "$T/g22/ckpt-e000006.h5" --data "$T/d16.h5" --split train --ais-runs 16 \
    --ais-betas 500 --json --grid 2x2 --block 3
cp "$T/out" "$T/eval-grid.json"
why=""
[ "$rc" -eq 0 ] || why+="exit status $rc"$'\n'
for k in log_z reverse_log_z mean_free_energy recon_error avg_log_prob; do
    a=$(json_num "$T/eval-data.json" $k) b=$(json_num "$T/eval-grid.json" $k)
    awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d < 1e-4) }' ||
        why+="$k: data mode $a, grid $b"$'\n'
done
grep -q '"pseudo_ll_per_unit":null' "$T/eval-grid.json" || why+="a pseudo-likelihood on the grid"$'\n'
report "ebm eval --grid 2x2 gives the data-parallel figures" "${why%$'\n'}"
ebm2 eval "$T/g22/ckpt-e000006.h5" --data "$T/d16.h5" --grid 3x1
expect_error2 "eval: a grid that does not divide the ranks is refused" "--grid 3x1" \
    "do not divide the 2 ranks"
ebm eval "$T/g22/ckpt-e000006.h5" --data "$T/d16.h5" --grid 1x1 --exact
expect_error "eval: --grid refuses --exact" "leave out --grid"
ebm eval "$T/g22/ckpt-e000006.h5" --data "$T/d16.h5" --block 8
expect_error "eval: --block needs --grid" "--block" "--grid"
ebm eval "$T/g22/ckpt-e000006.h5" --data "$T/d16.h5" --grid 2-2
expect_error "eval: a malformed --grid is refused" "--grid '2-2'" "PrxPc"

# A stop request on one rank: every rank stops after the same step.
OMPI_MCA_mpi_yield_when_idle=1 timeout 60 mpirun --allow-run-as-root --oversubscribe -np 2 \
    "$EBM" train "$BASE" --set output.dir="$T/stop" --set parallel.grid=1x2 \
    --set train.epochs=100000 --set train.monitor=0 >"$T/out" 2>"$T/err" &
launcher=$!
for _ in $(seq 400); do [ "$(cat "$T/stop/metrics.jsonl" 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.05; done
one=$(pgrep -P "$launcher" | tail -1)
[ -n "$one" ] && kill -USR1 "$one"
wait "$launcher"; stop_rc=$?
report "grid: SIGUSR1 to one rank stops all with status 3 and a checkpoint" \
    "$([ "$stop_rc" -eq 3 ] || echo "exit status $stop_rc"
       ls "$T/stop"/ckpt-e*.h5 >/dev/null 2>&1 || echo "no checkpoint")"
ebm train "$BASE" --set output.dir="$T/stop" --set train.epochs=100000 --set train.monitor=0 \
    --set train.epochs="$(($(grep -c '' "$T/stop/metrics.jsonl") + 1))" --resume auto
report "the stopped grid run resumes in data mode and finishes" "$([ "$rc" -eq 0 ] || echo "exit status $rc")"

# ---- memory cap ----------------------------------------------------------------
ebm2 train "$BASE" --set output.dir="$T/mem" --set model.hidden=20000 \
    --set parallel.max_rank_memory=3M --set parallel.block=64
expect_error2 "over the cap in data mode, the grid that fits is named" "max_rank_memory = 3M" \
    "[parallel] grid = 1x2 needs" "--set parallel.grid=1x2"
ebm2 train "$BASE" --set output.dir="$T/mem" --set model.hidden=20000 --set train.epochs=1 \
    --set parallel.max_rank_memory=3M --set parallel.block=64 --set parallel.grid=1x2
report "the named grid runs under the cap" "$([ "$rc" -eq 0 ] || echo "exit status $rc")"
ebm2 train "$BASE" --set output.dir="$T/mem2" --set model.hidden=20000 \
    --set parallel.max_rank_memory=1M --set parallel.grid=1x2
expect_error2 "a grid over the cap is refused too" "max_rank_memory = 1M" "on this grid" \
    "no process grid of 2 ranks fits"

# ---- errors ----------------------------------------------------------------------
ebm2 train "$BASE" --set output.dir="$T/e1" --set parallel.grid=3x1
expect_error2 "a grid that does not divide the ranks is refused" "[parallel] grid = 3x1" \
    "do not divide the 2 ranks"
ebm train "$BASE" --set output.dir="$T/e2" --set parallel.grid=2by2
expect_error "a malformed grid is refused" "parallel.grid = '2by2'" "PrxPc"
ebm train "$BASE" --set output.dir="$T/e3" --set parallel.grid=1x2 --set model.type=bm
expect_error "grid mode refuses a bm" "parallel.grid = 1x2" "model.type is not rbm"
ebm train "$BASE" --set output.dir="$T/e4" --set parallel.grid=1x2 --set train.centering=true
expect_error "grid mode refuses centering" "parallel.grid = 1x2" "train.centering"
ebm train "$BASE" --set output.dir="$T/e5" --set parallel.grid=1x2 --set parallel.block=0
expect_error "a block of 0 is refused" "parallel.block"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
