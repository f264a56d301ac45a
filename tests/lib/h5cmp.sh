# Sourced by the shell tests: byte-for-byte comparison of checkpoint tensors.

# tensor_diffs A B TENSOR...: one line per tensor that cannot be dumped from
# A or B, or whose bytes differ; nothing when all are identical. Uses $T as
# scratch. /model/W must be 16 x 8 float32 (the shell tests' model).
tensor_diffs() {
    local a=$1 b=$2 t
    shift 2
    for t in "$@"; do
        rm -f "$T/ta.bin" "$T/tb.bin"
        if ! h5dump -d "$t" -b LE -o "$T/ta.bin" "$a" >/dev/null 2>&1 || [ ! -s "$T/ta.bin" ]; then
            echo "h5dump of $t in $a failed"
        elif ! h5dump -d "$t" -b LE -o "$T/tb.bin" "$b" >/dev/null 2>&1 || [ ! -s "$T/tb.bin" ]; then
            echo "h5dump of $t in $b failed"
        elif ! cmp -s "$T/ta.bin" "$T/tb.bin"; then
            echo "$t differs"
        elif [ "$t" = /model/W ] && [ "$(stat -c %s "$T/ta.bin")" -ne $((16 * 8 * 4)) ]; then
            echo "/model/W dump is not 16 x 8 float32"
        fi
    done
}
