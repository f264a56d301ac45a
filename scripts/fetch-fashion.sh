#!/usr/bin/env bash
# Converts Fashion-MNIST from Debian's dataset-fashion-mnist package to
# DATA_DIR/fashion.h5 (splits /train and /test, 28x28 uint8, labels 0-9;
# layout in docs/data.md).
#   usage: EBM=build/ebm scripts/fetch-fashion.sh DATA_DIR
# The package installs gzipped IDX files under /usr/share/datasets/fashion-mnist;
# `ebm convert idx` reads them as they are. As root the package is installed
# when missing; otherwise the script prints the apt-get line. The HDF5 file
# is written as fashion.h5.tmp and renamed once both splits are in.
set -euo pipefail

die() { echo "fetch-fashion: error: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: EBM=path/to/ebm $0 DATA_DIR" >&2; exit 2; }
data_dir=$1
out="$data_dir/fashion.h5"
src=/usr/share/datasets/fashion-mnist

if [[ -f $out ]]; then
    echo "$out is up to date"
    exit 0
fi
[[ -n ${EBM:-} ]] || die "set EBM to the ebm binary, e.g. EBM=build/ebm $0 $data_dir"
[[ -x $EBM ]] || die "EBM=$EBM is not an executable file (build it with 'make')"

if [[ ! -f $src/train-images-idx3-ubyte.gz ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        die "Fashion-MNIST is not installed; run: sudo apt-get install dataset-fashion-mnist"
    fi
    echo "installing dataset-fashion-mnist"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >/dev/null ||
        die "apt-get install dataset-fashion-mnist failed"
fi

mkdir -p "$data_dir"
tmp="$out.tmp"
rm -f "$tmp"
trap 'rm -f "$tmp"' EXIT
"$EBM" convert idx --images "$src/train-images-idx3-ubyte.gz" \
    --labels "$src/train-labels-idx1-ubyte.gz" --split train --out "$tmp"
"$EBM" convert idx --images "$src/t10k-images-idx3-ubyte.gz" \
    --labels "$src/t10k-labels-idx1-ubyte.gz" --split test --out "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
echo "Fashion-MNIST ready: $out"
