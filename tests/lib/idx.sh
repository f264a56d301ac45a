# Sourced by the shell tests: tiny IDX files written with printf, for
# `ebm convert idx` (no Python needed).

# be32 N: N as four big-endian bytes.
be32() { printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"; }

# idx FILE DIMS... < bytes as printf escapes on stdin: an unsigned-byte IDX file.
idx() {
    local file=$1 d
    shift
    { printf '\000\000\010'; printf "\\$(printf %03o $#)"
      for d in "$@"; do be32 "$d"; done
      printf "$(cat)"; } >"$file"
}

# pixels N D: N rows of D bytes, a fixed pattern of 0 and 255.
pixels() {
    local r c s=''
    for ((r = 0; r < $1; r++)); do
        for ((c = 0; c < $2; c++)); do
            if (((r * 7 + c * 5) % 3 == 0)); then s+='\377'; else s+='\000'; fi
        done
    done
    printf '%s' "$s"
}

# labels N: N labels 0, 1, ..., 9, 0, ...
labels() { local r s=''; for ((r = 0; r < $1; r++)); do s+="\\$(printf %03o $((r % 10)))"; done; printf '%s' "$s"; }

# classed N: N 4x4 images of class r % 3 (image row r % 3 on), one pixel in
# eleven flipped.
classed() {
    local r c s='' on
    for ((r = 0; r < $1; r++)); do
        for ((c = 0; c < 16; c++)); do
            on=$((c / 4 == r % 3))
            if (((r * 7 + c * 3) % 11 == 0)); then on=$((1 - on)); fi
            if ((on)); then s+='\377'; else s+='\000'; fi
        done
    done
    printf '%s' "$s"
}
# classes N: N labels 0, 1, 2, 0, ... (the classes of `classed`).
classes() { local r s=''; for ((r = 0; r < $1; r++)); do s+="\\$(printf %03o $((r % 3)))"; done; printf '%s' "$s"; }
