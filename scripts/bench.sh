#!/usr/bin/env bash
# `make bench`: runs the RBM throughput benchmark on 2 ranks (rank 0 first
# measures SGEMM and the 1-rank rates alone; needs data/mnist.h5), then
# training a 4096 x 4096 RBM in data mode and on a 2x1 process grid
# (docs/model-parallel.md). Arguments: the two benchmark binaries.
set -euo pipefail
export OMPI_MCA_mpi_yield_when_idle=1
. "$(dirname "$0")/blas-env.sh"
extra=()
[ "$(id -u)" -eq 0 ] && extra+=(--allow-run-as-root)
mpirun "${extra[@]}" --oversubscribe -np 2 "$1"
echo
# writes its synthetic dataset in the working directory, and removes it
grid_bench=$(realpath "$2")
(cd "${TMPDIR:-/tmp}" && mpirun "${extra[@]}" --oversubscribe -np 2 "$grid_bench" 2x1 4096 4096 256 15)
