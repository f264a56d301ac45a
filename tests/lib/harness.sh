# Sourced by the shell tests: the binary, a scratch directory $T, and the
# check helpers (pass, fail, report, expect_error, expect_error2, snap).
# Output of the last `ebm`/`ebm2` run is in $T/out and $T/err, its status in $rc.
EBM=${EBM:-build/ebm}
case $EBM in /*) ;; *) EBM=$PWD/$EBM ;; esac
export OMPI_MCA_mpi_yield_when_idle=1 OPENBLAS_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

T=$(mktemp -d "${TMPDIR:-/tmp}/ebm-cli.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
failed=0 passed=0

pass() { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "not ok - $1"; failed=$((failed + 1)); }
# report NAME WHY: ok when WHY is empty; else not ok with WHY and the output.
report() {
    if [ -z "$2" ]; then pass "$1"; return; fi
    fail "$1"
    printf '%s\n' "$2" | sed 's/^/# /'
    echo "# exit status: $rc"
    sed 's/^/#   stderr: /' "$T/err" | head -20
    tail -5 "$T/out" | sed 's/^/#   stdout: /'
}

if [ ! -x "$EBM" ]; then
    echo "not ok - ebm binary at $EBM (build it with make)"
    exit 1
fi
for tool in mpirun h5import h5dump; do
    command -v $tool >/dev/null || { echo "not ok - $tool is installed"; exit 1; }
done

# ebm ARGS: one rank, without mpirun. ebm2 ARGS: two ranks under mpirun.
# Output in $T/out and $T/err, exit status in $rc.
ebm() { timeout 30 "$EBM" "$@" >"$T/out" 2>"$T/err"; rc=$?; }
ebm2() {
    timeout 40 mpirun --allow-run-as-root --oversubscribe -np 2 "$EBM" "$@" >"$T/out" 2>"$T/err"
    rc=$?
}

# Checksums of the checkpoints in a directory (names included, so a new or
# removed checkpoint shows up too).
snap() { (cd "$1" 2>/dev/null && md5sum ckpt-*.h5 2>/dev/null); }

# expect_error NAME PATTERN...: the last run failed by the error contract, its
# one stderr line holds every PATTERN (fixed strings), and the guarded run
# directory ($GUARD, snapshot $GUARD_SNAP) is unchanged.
expect_error() {
    local name=$1 why="" p lines
    shift
    [ "$rc" -eq 2 ] || why+="exit status $rc, expected 2"$'\n'
    lines=$(grep -c '' "$T/err")
    [ "$lines" -eq 1 ] || why+="stderr has $lines lines, expected exactly 1"$'\n'
    grep -q '^ebm: error: ' "$T/err" || why+="stderr has no line starting with 'ebm: error: '"$'\n'
    for p in "$@"; do
        grep -qF -- "$p" "$T/err" || why+="stderr does not name '$p'"$'\n'
    done
    [ "$(snap "$GUARD")" = "$GUARD_SNAP" ] || why+="checkpoints in $GUARD changed"$'\n'
    report "$name" "${why%$'\n'}"
}

# expect_error2 NAME PATTERN...: the same for a 2-rank run; mpirun adds its own
# lines to stderr, so exactly one line from ebm ("ebm:") is required.
expect_error2() {
    local name=$1 why="" p lines
    shift
    [ "$rc" -eq 2 ] || why+="exit status $rc, expected 2"$'\n'
    lines=$(grep -c '^ebm' "$T/err")
    [ "$lines" -eq 1 ] || why+="stderr has $lines lines from ebm, expected exactly 1"$'\n'
    grep -q '^ebm: error: ' "$T/err" || why+="stderr has no line starting with 'ebm: error: '"$'\n'
    for p in "$@"; do
        grep '^ebm' "$T/err" | grep -qF -- "$p" || why+="ebm's stderr line does not name '$p'"$'\n'
    done
    [ "$(snap "$GUARD")" = "$GUARD_SNAP" ] || why+="checkpoints in $GUARD changed"$'\n'
    report "$name" "${why%$'\n'}"
}
