#!/usr/bin/env bash
# Runs every test and prints one closing line: "tests: N passed, N failed".
#   run-tests.sh SERIAL_TEST... -- MPI_TEST...
# Serial cmocka binaries run once; MPI cmocka binaries run at 1, 2 and 4
# ranks (oversubscribed); tests/cli/*.sh print "ok - ..." / "not ok - ...".
set -uo pipefail
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One BLAS thread per rank: the tests oversubscribe the cores already.
export OPENBLAS_NUM_THREADS=1
passed=0 failed=0 failures=()
log=$(mktemp)

count_cmocka() { # $1 = label, output in $log, $2 = exit code
    local p f
    p=$(sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    f=$(sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    p=${p:-0} f=${f:-0}
    if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi # crashed or aborted
    passed=$((passed + p)) failed=$((failed + f))
    if [ "$f" -ne 0 ]; then failures+=("$1"); cat "$log"; fi
    printf '%-44s %3d passed %3d failed\n' "$1" "$p" "$f"
}

serial=() mpi=() seen_sep=0
for t in "$@"; do
    if [ "$t" = "--" ]; then seen_sep=1; elif [ $seen_sep = 0 ]; then serial+=("$t"); else mpi+=("$t"); fi
done

for t in "${serial[@]}"; do
    timeout 600 "$t" >"$log" 2>&1; count_cmocka "$(basename "$t")" $?
done
for t in "${mpi[@]}"; do
    for np in 1 2 4; do
        timeout 600 mpirun -np "$np" "$t" >"$log" 2>&1; count_cmocka "$(basename "$t") (${np} ranks)" $?
    done
done
for t in tests/cli/*.sh; do
    [ -e "$t" ] || continue
    EBM="${BUILD:-build}/ebm" timeout 900 bash "$t" >"$log" 2>&1; rc=$?
    p=$(grep -c '^ok - ' "$log"); f=$(grep -c '^not ok - ' "$log")
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)) failed=$((failed + f))
    if [ "$f" -ne 0 ]; then failures+=("$t"); grep -v '^ok - ' "$log"; fi
    printf '%-44s %3d passed %3d failed\n' "$(basename "$t")" "$p" "$f"
done
rm -f "$log"
[ ${#failures[@]} -eq 0 ] || printf 'failing: %s\n' "${failures[*]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
