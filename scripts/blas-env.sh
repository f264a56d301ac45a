# Sourced by the job scripts. OpenBLAS 0.3.21 does not know recent Intel
# CPUs and falls back to SSE3 kernels; pick the vector kernels the CPU has,
# unless the user already chose.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
    if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell
    fi
fi
