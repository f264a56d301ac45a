#!/usr/bin/env bash
# `make bench`: runs the RBM throughput benchmark on 2 ranks (rank 0 first
# measures SGEMM and the 1-rank rates alone). Needs data/mnist.h5.
set -euo pipefail
export OMPI_MCA_mpi_yield_when_idle=1
. "$(dirname "$0")/blas-env.sh"
extra=()
[ "$(id -u)" -eq 0 ] && extra+=(--allow-run-as-root)
mpirun "${extra[@]}" --oversubscribe -np 2 "$1"
