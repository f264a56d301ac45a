#!/usr/bin/env bash
# `make run`: a 2-rank training job on MNIST in a fresh run directory.
#   run-mnist.sh EBM CONFIG
set -euo pipefail
ebm=$1 config=$2
name=$(basename "$config" .ini)
dir=runs/$name-$(date +%Y%m%d-%H%M%S)
export OMPI_MCA_mpi_yield_when_idle=1
. "$(dirname "$0")/blas-env.sh"
extra=()
[ "$(id -u)" -eq 0 ] && extra+=(--allow-run-as-root)
# More ranks than cores is fine for this demo job.
mpirun "${extra[@]}" --oversubscribe -np 2 "$ebm" train "$config" --set output.dir="$dir"
echo "inspect the checkpoint with: $ebm info $dir/$(ls "$dir" | grep '^ckpt-' | tail -1)"
