#!/usr/bin/env bash
# Scaling study of `ebm train` (docs/scaling.md): the same training at each
# rank count, an MPI_Allreduce benchmark with an alpha-beta fit, a projection
# to 8..1024 nodes, CSV tables and gnuplot figures.
#
#   scripts/scaling.sh [--ranks 1,2,4] [--mode strong|weak|strong,weak] [--epochs N]
#                      [--out DIR] [--bench-ranks P] CONFIG [-- EBM TRAIN ARGS...]
#
#   strong  fixed GLOBAL batch = CONFIG's batch_size x the first rank count;
#           per-rank batch = global / P (and, with PCD, per-rank chains likewise)
#   weak    fixed per-rank batch = CONFIG's batch_size
#
# Writes into DIR (default runs/scaling-DATE): MODE-pP/ (one run each, with
# train.log), scaling.csv, allreduce.csv, alpha_beta.txt, projection.csv,
# summary.txt, scaling.png, projection.png.
#
# Environment:
#   EBM, EBM_BENCH      the binaries (default build/ebm, build/bench/bench_allreduce)
#   EBM_LAUNCHER        launcher prefix that takes the rank count as its next
#                       argument, e.g. "srun --mpi=pmix -n"; default: that under
#                       SLURM (SLURM_JOB_ID set), else "mpirun --oversubscribe -np"
#   EBM_CORES           cores per node available to the ranks (default: nproc);
#                       more ranks than that are marked oversubscribed
#   EBM_RANKS_PER_NODE  ranks per node in the projection (default EBM_CORES)
#   EBM_BENCH_SECONDS   seconds per message size in bench_allreduce (default 0.25)
set -euo pipefail

usage() {
    sed -n '6,7p' "$0" | sed 's/^#/usage:/; 2s/^usage:/      /' >&2
    echo "see the header of $0 and docs/scaling.md" >&2
    exit 2
}
die() { echo "scaling.sh: $*" >&2; exit 2; }

ranks_list=1,2,4 modes=strong epochs='' out='' bench_ranks='' config=''
extra=()
while [ $# -gt 0 ]; do
    case $1 in
    --ranks) ranks_list=${2:?}; shift 2 ;;
    --mode) modes=${2:?}; shift 2 ;;
    --epochs) epochs=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --bench-ranks) bench_ranks=${2:?}; shift 2 ;;
    -h | --help) usage ;;
    --) shift; extra=("$@"); break ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$config" ] || die "one CONFIG only"; config=$1; shift ;;
    esac
done
[ -n "$config" ] || usage
[ -r "$config" ] || die "cannot read $config"

root=$(cd "$(dirname "$0")/.." && pwd)
EBM=${EBM:-$root/build/ebm}
EBM_BENCH=${EBM_BENCH:-$root/build/bench/bench_allreduce}
[ -x "$EBM" ] || die "no ebm binary at $EBM (make)"
[ -x "$EBM_BENCH" ] || die "no benchmark at $EBM_BENCH (make build/bench/bench_allreduce)"
# shellcheck source=scripts/blas-env.sh disable=SC1091
. "$root/scripts/blas-env.sh"
export OMPI_MCA_mpi_yield_when_idle=1

IFS=, read -ra ranks <<<"$ranks_list"
IFS=, read -ra mode_list <<<"$modes"
[ ${#ranks[@]} -ge 1 ] || die "--ranks: empty list"
pmax=0
for p in "${ranks[@]}"; do
    [[ $p =~ ^[1-9][0-9]*$ ]] || die "--ranks: '$p' is not a positive integer"
    [ "$p" -gt "$pmax" ] && pmax=$p
done
for m in "${mode_list[@]}"; do
    case $m in strong | weak) ;; *) die "--mode: '$m' is not strong or weak" ;; esac
done
[ -z "$epochs" ] || [[ $epochs =~ ^[1-9][0-9]*$ ]] || die "--epochs: '$epochs' is not a positive integer"
bench_ranks=${bench_ranks:-$pmax}
[[ $bench_ranks =~ ^[1-9][0-9]*$ ]] || die "--bench-ranks: '$bench_ranks' is not a positive integer"

# ini_get KEY SECTION DEFAULT: a value of CONFIG (the keys ebm reads; `;`/`#`
# comments, `key = v` or `key: v`); the default when absent.
ini_get() {
    awk -v sec="$2" -v key="$1" -v def="$3" '
        { sub(/\r$/, "") }
        /^[ \t]*[;#]/ { next }
        /^[ \t]*\[/ { s = $0; gsub(/[][ \t]/, "", s); next }
        s == sec {
            line = $0; sub(/[ \t][;#].*$/, "", line)
            i = match(line, /[=:]/); if (!i) next
            k = substr(line, 1, i - 1); v = substr(line, i + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", k); gsub(/^[ \t]+|[ \t]+$/, "", v)
            if (k == key) val = v
        }
        END { print (val == "" ? def : val) }' "$config"
}
batch0=$(ini_get batch_size train 100)
chains0=$(ini_get chains train 100)
hidden=$(ini_get hidden model 500)
persistent=$(ini_get persistent train true)
case ${persistent,,} in true | yes | on | 1) persistent=1 ;; *) persistent=0 ;; esac
p0=${ranks[0]}
global=$((batch0 * p0))

# Every run's per-rank batch (and chains) must be whole: check before any work.
for m in "${mode_list[@]}"; do
    [ "$m" = strong ] || continue
    for p in "${ranks[@]}"; do
        [ $((global % p)) -eq 0 ] ||
            die "strong: global batch $global (batch_size $batch0 x $p0 ranks) is not divisible by $p ranks"
        [ "$persistent" = 0 ] || [ $((chains0 * p0 % p)) -eq 0 ] ||
            die "strong: $((chains0 * p0)) PCD chains (chains $chains0 x $p0) are not divisible by $p ranks"
    done
done

# The launcher: "PREFIX P PROGRAM ARGS...".
if [ -n "${EBM_LAUNCHER:-}" ]; then
    read -ra launch <<<"$EBM_LAUNCHER"
elif [ -n "${SLURM_JOB_ID:-}" ]; then
    launch=(srun --mpi=pmix -n)
else
    launch=(mpirun --oversubscribe)
    [ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
    launch+=(-np)
fi
cores=${EBM_CORES:-$(nproc)}
nodes_here=${SLURM_JOB_NUM_NODES:-1}
rpn=${EBM_RANKS_PER_NODE:-$cores}

out=${out:-runs/scaling-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
for m in "${mode_list[@]}"; do
    for p in "${ranks[@]}"; do
        [ ! -e "$out/$m-p$p" ] || die "$out/$m-p$p exists: choose another --out"
    done
done
when=$(date '+%F %T %Z')
load0=$(cut -d" " -f1-3 /proc/loadavg 2>/dev/null || echo "?")
echo "scaling: $config, modes ${modes}, ranks ${ranks_list}, $cores cores x $nodes_here node(s), launcher '${launch[*]} P', out $out"

# ---- the training runs ---------------------------------------------------------

csv=$out/scaling.csv
echo "mode,ranks,batch_per_rank,samples_per_s,speedup,efficiency,compute_s,allreduce_s,io_s,checkpoint_s,idle_s,global_batch,steps_per_epoch,compute_ms_per_step,allreduce_ms_per_step,oversubscribed" >"$csv"

# epoch_stats METRICS: the epochs after the first (all, when there is one):
# samples/s = samples / training seconds over them, the timings their mean per
# epoch, and the steps per epoch; one line "sps compute allreduce io ckpt
# compute_slowest steps".
epoch_stats() {
    awk '
        function num(s, key,   i, r) {
            i = index(s, "\"" key "\":"); if (!i) return 0
            r = substr(s, i + length(key) + 3); match(r, /^[-+0-9.eE]+/)
            return substr(r, 1, RLENGTH) + 0
        }
        function obj(s, key,   i, r) {
            i = index(s, "\"" key "\":{"); if (!i) return ""
            r = substr(s, i + length(key) + 4); return substr(r, 1, index(r, "}"))
        }
        { line[NR] = $0 }
        END {
            if (NR == 0) exit 1
            first = NR > 1 ? 2 : 1; prev_step = 0
            for (e = 1; e <= NR; e++) {
                s = line[e]; step = num(s, "step")
                if (e >= first) {
                    n++; steps += step - prev_step
                    samples += num(s, "samples_per_s") * num(s, "epoch_seconds"); secs += num(s, "epoch_seconds")
                    m = obj(s, "seconds"); x = obj(s, "seconds_slowest_rank")
                    c += num(m, "compute"); a += num(m, "allreduce"); io += num(m, "io")
                    ck += num(m, "checkpoint"); cmax += num(x, "compute")
                }
                prev_step = step
            }
            printf "%.6g %.6g %.6g %.6g %.6g %.6g %.6g\n", samples / secs, c / n, a / n, io / n, ck / n, cmax / n, steps / n
        }' "$1"
}

for m in "${mode_list[@]}"; do
    s0=
    for p in "${ranks[@]}"; do
        dir=$out/$m-p$p
        mkdir -p "$dir"
        if [ "$m" = strong ]; then b=$((global / p)); c=$((chains0 * p0 / p)); else b=$batch0; c=$chains0; fi
        sets=(--set train.batch_size="$b" --set output.dir="$dir")
        [ "$persistent" = 1 ] && sets+=(--set train.chains="$c")
        [ -n "$epochs" ] && sets+=(--set train.epochs="$epochs")
        over=0
        [ "$p" -gt $((cores * nodes_here)) ] && over=1
        printf '  %-6s %3d ranks x batch %-6d %s' "$m" "$p" "$b" "$([ $over = 1 ] && echo "(oversubscribed: $p ranks on $((cores * nodes_here)) cores) ")"
        t0=$SECONDS
        if ! "${launch[@]}" "$p" "$EBM" train "$config" "${extra[@]}" "${sets[@]}" >"$dir/train.log" 2>&1; then
            echo
            tail -n 20 "$dir/train.log" >&2
            die "training failed ($m, $p ranks); log: $dir/train.log"
        fi
        read -r sps comp ar io ck cmax steps < <(epoch_stats "$dir/metrics.jsonl") ||
            die "no epochs in $dir/metrics.jsonl"
        [ -n "$s0" ] || s0=$sps
        awk -v m="$m" -v p="$p" -v b="$b" -v sps="$sps" -v s0="$s0" -v p0="$p0" -v c="$comp" \
            -v a="$ar" -v io="$io" -v ck="$ck" -v cmax="$cmax" -v st="$steps" -v over="$over" 'BEGIN {
            sp = sps / s0 * p0
            printf "%s,%d,%d,%.1f,%.3f,%.3f,%.4f,%.4f,%.4f,%.4f,%.4f,%d,%d,%.4f,%.4f,%d\n",
                m, p, b, sps, sp, sp / p, c, a, io, ck, cmax - c, b * p, st, 1e3 * c / st, 1e3 * a / st, over
        }' >>"$csv"
        printf "%8.0f samples/s  (%d s)\n" "$sps" $((SECONDS - t0))
    done
done

# ---- the allreduce benchmark and the alpha-beta fit ----------------------------------

V=784
ckpt=$(ls "$out/${mode_list[0]}-p${ranks[0]}"/ckpt-e*.h5 2>/dev/null | tail -n 1 || true)
if [ -n "$ckpt" ]; then
    shape=$("$EBM" info "$ckpt" 2>/dev/null | awk '$1 == "model" { print $3, $5; exit }')
    if [ -n "$shape" ]; then read -r V hidden <<<"$shape"; fi
fi
nfloats=$((V * hidden + V + 2 * hidden + 1))
nbytes=$((4 * nfloats))

bench_raw=$out/allreduce.txt
echo "  MPI_Allreduce benchmark at $bench_ranks ranks ..."
"${launch[@]}" "$bench_ranks" "$EBM_BENCH" 16777216 "${EBM_BENCH_SECONDS:-0.25}" >"$bench_raw" 2>&1 ||
    { tail -n 20 "$bench_raw" >&2; die "bench_allreduce failed; log: $bench_raw"; }
{ echo "bytes,seconds,reps"; awk '/^[0-9]/ { print $1 "," $2 "," $3 }' "$bench_raw"; } >"$out/allreduce.csv"

# Least squares t = a + b n over n >= 64 KiB, on RELATIVE residuals (weights
# 1/t^2): the sizes span a factor 256, and plain least squares would fit only
# the largest two (it is printed too, ols_*). Then the ring parameters that
# reproduce the fit at P ranks: a = 2 (P-1) alpha, b = 2 (P-1)/P beta.
awk -F, -v P="$bench_ranks" -v nb="$nbytes" -v nf="$nfloats" -v V="$V" -v H="$hidden" -v when="$when" '
    NR > 1 && $1 < 4096 { small = small == "" || $2 < small ? $2 : small }
    NR > 1 && $1 >= 65536 {
        n++; X[n] = $1; Y[n] = $2
        x += $1; y += $2; xx += $1 * $1; xy += $1 * $2
        w = 1 / ($2 * $2); S += w; wx += w * $1; wy += w * $2; wxx += w * $1 * $1; wxy += w * $1 * $2
    }
    NR > 1 { if ($1 <= nb) { lo_n = $1; lo_t = $2 } else if (hi_n == "") { hi_n = $1; hi_t = $2 } }
    END {
        if (n < 2) { print "fewer than 2 sizes >= 64 KiB" > "/dev/stderr"; exit 1 }
        b = (S * wxy - wx * wy) / (S * wxx - wx * wx); a = (wy - b * wx) / S
        ob = (n * xy - x * y) / (n * xx - x * x); oa = (y - ob * x) / n
        for (i = 1; i <= n; i++) { r = (Y[i] - a - b * X[i]) / Y[i]; if (r < 0) r = -r; if (r > worst) worst = r }
        printf "# alpha-beta fit of MPI_Allreduce (float, SUM, in place) at %d ranks, %s\n", P, when
        printf "# t(n) = a + b n, least squares on relative residuals over %d sizes from 64 KiB to 16 MiB (medians)\n", n
        printf "fit_ranks %d\nfit_a_s %.6e\nfit_b_s_per_byte %.6e\nfit_bandwidth_GB_s %.3f\nfit_max_rel_residual %.3f\n", P, a, b, 1e-9 / b, worst
        printf "# plain least squares, for reference (dominated by the largest sizes)\nols_a_s %.6e\nols_b_s_per_byte %.6e\n", oa, ob
        printf "small_message_latency_s %.6e\n", small
        alpha_src = "fit"
        if (P < 2) { alpha = a; beta = b; alpha_src = "fit (1 rank: no ring; a, b used as they are)" }
        else {
            alpha = a / (2 * (P - 1)); beta = b * P / (2 * (P - 1))
            if (a <= 0) { alpha = small / (2 * (P - 1)); alpha_src = "small-message latency (the fit gave a <= 0)" }
        }
        printf "# ring allreduce of n bytes on p ranks: 2 (p-1)/p n beta + 2 (p-1) alpha; alpha, beta from the fit at P ranks\n"
        printf "ring_alpha_s %.6e\nring_beta_s_per_byte %.6e\nring_alpha_from %s\n", alpha, beta, alpha_src
        printf "# assumed typical interconnect (NOT measured): alpha 2e-6 s, beta 1/(10 GB/s)\n"
        printf "net_alpha_s 2.0e-06\nnet_beta_s_per_byte 1.0e-10\n"
        printf "# the gradient allreduce: V*H + V + 2H + 1 floats, V %d, H %d\ngrad_floats %d\ngrad_bytes %d\n", V, H, nf, nb
        printf "fit_t_grad_s %.6e\n", a + b * nb
        if (lo_n != "" && hi_n != "")
            printf "# the medians of the two sizes around it, interpolated linearly\nmeasured_t_grad_s %.6e\n", lo_t + (hi_t - lo_t) * (nb - lo_n) / (hi_n - lo_n)
        printf "ring_t_grad_s %.6e\n", 2 * (P - 1) / P * nb * beta + 2 * (P - 1) * alpha
    }' "$out/allreduce.csv" >"$out/alpha_beta.txt" || die "alpha-beta fit failed"
abget() { awk -v k="$1" '$1 == k { print $2 }' "$out/alpha_beta.txt"; }
alpha=$(abget ring_alpha_s) beta=$(abget ring_beta_s_per_byte)

# ---- projection ------------------------------------------------------------------------

# Compute seconds per sample on one rank: the 1-rank run (strong first), else
# the smallest rank count's, per rank.
ref=$(awk -F, 'NR > 1 { k = ($1 == "strong" ? 0 : 1); if (best == "" || $2 < bp || ($2 == bp && k < bk)) { best = $0; bp = $2; bk = k } }
               END { print best }' "$csv")
IFS=, read -r ref_mode ref_p ref_b _ _ _ ref_comp _ _ _ _ _ ref_steps _ <<<"$ref"
csample=$(awk -v c="$ref_comp" -v st="$ref_steps" -v b="$ref_b" 'BEGIN { printf "%.6e", c / (st * b) }')

proj=$out/projection.csv
echo "mode,nodes,ranks,batch_per_rank,global_batch,feasible,compute_ms_per_step,allreduce_ms_measured,samples_per_s_measured,efficiency_measured,allreduce_ms_assumed_net,samples_per_s_assumed_net,efficiency_assumed_net,batch_at_compute_eq_allreduce_measured,batch_at_compute_eq_allreduce_assumed_net" >"$proj"
for m in "${mode_list[@]}"; do
    awk -v m="$m" -v rpn="$rpn" -v cs="$csample" -v al="$alpha" -v be="$beta" -v n="$nbytes" \
        -v G="$global" -v b0="$batch0" 'BEGIN {
        for (nodes = 8; nodes <= 1024; nodes *= 2) {
            p = nodes * rpn; b = (m == "strong") ? G / p : b0
            ta = 2 * (p - 1) / p * n * be + 2 * (p - 1) * al
            tn = 2 * (p - 1) / p * n * 1e-10 + 2 * (p - 1) * 2e-6
            tc = cs * b
            printf "%s,%d,%d,%.4g,%.6g,%d,%.4f,%.4f,%.1f,%.4f,%.4f,%.1f,%.4f,%.1f,%.1f\n", m, nodes, p, b, b * p, (b >= 1),
                1e3 * tc, 1e3 * ta, p * b / (tc + ta), tc / (tc + ta), 1e3 * tn, p * b / (tc + tn), tc / (tc + tn), ta / cs, tn / cs
        }
    }' >>"$proj"
done

# ---- summary ---------------------------------------------------------------------------

# table CSV: aligned columns when `column` is there (bsdextrautils), else the CSV.
table() { if command -v column >/dev/null; then column -s, -t "$1"; else cat "$1"; fi; }

{
    echo "ebm scaling study, $when, $(hostname), $cores cores x $nodes_here node(s)"
    echo "command: $0 --ranks $ranks_list --mode $modes${epochs:+ --epochs $epochs} --out $out $config${extra[*]:+ -- ${extra[*]}}"
    echo "launcher: ${launch[*]} P; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
    echo "load average (1, 5, 15 min) at the start: $load0, at the end: $(cut -d" " -f1-3 /proc/loadavg 2>/dev/null || echo "?")"
    echo "model: $V x $hidden; gradient allreduce $nfloats floats = $nbytes bytes per step"
    echo "strong: global batch $global (batch_size $batch0 x $p0 ranks), per-rank = global / P; weak: per-rank batch $batch0"
    echo
    echo "Measured (scaling.csv): the epochs after the first; samples/s = samples / training seconds;"
    echo "the *_s columns are seconds per epoch (a pass over the data), mean over ranks; speedup ="
    echo "samples/s relative to the first rank count x that count; efficiency = speedup / ranks;"
    echo "idle_s = slowest rank's compute - mean compute, an estimate of load imbalance (the wait"
    echo "for the slowest rank is counted inside allreduce_s)."
    if awk -F, 'NR > 1 && $16 == 1 { f = 1 } END { exit !f }' "$csv"; then
        echo "Rows with oversubscribed=1 ran more ranks than cores: ranks time-share cores, so their"
        echo "speedup and efficiency are worse BY CONSTRUCTION and say nothing about the code."
    fi
    table "$csv"
    echo
    echo "MPI_Allreduce at $bench_ranks ranks (alpha_beta.txt, allreduce.csv):"
    grep -v '^#' "$out/alpha_beta.txt" | sed 's/^/  /'
    [ "$bench_ranks" -gt $((cores * nodes_here)) ] &&
        echo "  (measured oversubscribed: $bench_ranks ranks on $((cores * nodes_here)) cores)"
    echo
    echo "Projection (projection.csv), assumptions:"
    echo "  - compute per sample $csample s, from the $ref_mode run at $ref_p rank(s), batch $ref_b"
    echo "    (a step = compute per sample x per-rank batch; fixed per-step costs are ignored);"
    echo "  - $rpn ranks per node (this machine's cores), one BLAS thread each;"
    echo "  - the gradient allreduce ($nbytes bytes) as a ring: 2 (p-1)/p n beta + 2 (p-1) alpha,"
    echo "    *_measured with the alpha, beta fitted HERE, on one node through shared memory: no"
    echo "    wire, no switch hops, no contention between nodes, so they understate a real network"
    echo "    (and when the benchmark ran oversubscribed they measure time-sharing as much as"
    echo "    communication); *_assumed_net with an ASSUMED (not measured) interconnect, alpha 2e-6 s,"
    echo "    beta 1/(10 GB/s). Here: $(awk -v a="$alpha" -v b="$beta" 'BEGIN {
        printf "alpha %.2g s (%s than assumed), beta %.2g s/B = %.2f GB/s (%s than assumed)",
            a, a < 2e-6 ? "smaller" : "larger", b, 1e-9 / b, b < 1e-10 ? "faster" : "slower" }')."
    echo "    No overlap of communication with compute;"
    echo "  - efficiency = compute / (compute + allreduce) per step, against linear scaling of 1 rank;"
    echo "  - strong: global batch $global fixed, per-rank = $global / ranks (feasible=0 when < 1 row);"
    echo "    weak: per-rank batch $batch0 fixed;"
    echo "  - batch_at_compute_eq_allreduce_*: the per-rank batch at which compute = allreduce (50 %)."
    table "$proj"
} >"$out/summary.txt"

# ---- figures ------------------------------------------------------------------------

if command -v gnuplot >/dev/null; then
    if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then
        term="pngcairo size 1200,560 font 'sans,11'"
    else
        term="png size 1200,560"
    fi
    over_note=""
    awk -F, 'NR > 1 && $16 == 1 { f = 1 } END { exit !f }' "$csv" &&
        over_note="ranks > $((cores * nodes_here)) oversubscribed: worse by construction"
    (cd "$out" && gnuplot 2>gnuplot.log <<EOF
set terminal $term
set datafile separator ","
set output "scaling.png"
set multiplot layout 1,2 title "ebm scaling on $(hostname) ($cores cores), $(date +%F)  $over_note"
set grid
set key top left
set xlabel "ranks"
set xtics (${ranks_list})
set xrange [0:$((pmax + 1))]
set ylabel "speedup (samples/s vs first rank count)"
set yrange [0:$((pmax + 1))]
plot x with lines dt 2 lc rgb "gray40" title "ideal", \
     "scaling.csv" skip 1 using 2:(strcol(1) eq "strong" ? \$5 : 1/0) with linespoints lw 2 pt 7 title "strong (global batch $global)", \
     "scaling.csv" skip 1 using 2:(strcol(1) eq "weak" ? \$5 : 1/0) with linespoints lw 2 pt 5 title "weak (batch $batch0 per rank)"
set ylabel "parallel efficiency"
set yrange [0:1.2]
set key bottom left
plot 1 with lines dt 2 lc rgb "gray40" title "ideal", \
     "scaling.csv" skip 1 using 2:(strcol(1) eq "strong" ? \$6 : 1/0) with linespoints lw 2 pt 7 title "strong", \
     "scaling.csv" skip 1 using 2:(strcol(1) eq "weak" ? \$6 : 1/0) with linespoints lw 2 pt 5 title "weak"
unset multiplot

set output "projection.png"
set multiplot layout 1,2 title "projection, $rpn ranks/node, ring allreduce of $nbytes B/step (model, not measured)"
set logscale x 2
set xrange [6:1400]
set xlabel "nodes"
set xtics (8,16,32,64,128,256,512,1024)
set ylabel "parallel efficiency"
set yrange [0:1.05]
set key below maxrows 2
plot "projection.csv" skip 1 using 2:(strcol(1) eq "weak" ? \$10 : 1/0) with linespoints lw 2 pt 5 lc 1 title "weak, alpha/beta measured here", \
     "projection.csv" skip 1 using 2:(strcol(1) eq "weak" ? \$13 : 1/0) with linespoints lw 2 pt 5 dt 2 lc 1 title "weak, assumed net (2 us, 10 GB/s)", \
     "projection.csv" skip 1 using 2:(strcol(1) eq "strong" && \$6 == 1 ? \$10 : 1/0) with linespoints lw 2 pt 7 lc 2 title "strong, measured alpha/beta", \
     "projection.csv" skip 1 using 2:(strcol(1) eq "strong" && \$6 == 1 ? \$13 : 1/0) with linespoints lw 2 pt 7 dt 2 lc 2 title "strong, assumed net"
set logscale y 10
set yrange [*:*]
set format y "10^{%L}"
set ylabel "samples/s"
set key below maxrows 3
plot "projection.csv" skip 1 using 2:(strcol(1) eq "weak" ? \$9 : 1/0) with linespoints lw 2 pt 5 lc 1 title "weak, measured alpha/beta", \
     "projection.csv" skip 1 using 2:(strcol(1) eq "weak" ? \$12 : 1/0) with linespoints lw 2 pt 5 dt 2 lc 1 title "weak, assumed net", \
     "projection.csv" skip 1 using 2:(strcol(1) eq "strong" && \$6 == 1 ? \$9 : 1/0) with linespoints lw 2 pt 7 lc 2 title "strong, measured alpha/beta", \
     "projection.csv" skip 1 using 2:(strcol(1) eq "strong" && \$6 == 1 ? \$12 : 1/0) with linespoints lw 2 pt 7 dt 2 lc 2 title "strong, assumed net", \
     "projection.csv" skip 1 using 2:(strcol(1) eq "weak" ? \$3 / $csample : 1/0) with lines dt 3 lc rgb "gray40" title "ideal (ranks / compute per sample)"
unset multiplot
EOF
    ) || echo "scaling.sh: gnuplot failed (log: $out/gnuplot.log); the CSVs are complete" >&2
else
    echo "scaling.sh: no gnuplot (apt-get install gnuplot-nox): no figures" >&2
fi

echo "done: $out"
echo "  measured    $out/scaling.csv  (summary.txt explains the columns)"
echo "  allreduce   $out/allreduce.csv, fit in $out/alpha_beta.txt"
echo "  projection  $out/projection.csv"
[ -s "$out/scaling.png" ] && echo "  figures     $out/scaling.png, $out/projection.png"
awk -F, 'NR > 1 && $16 == 1 { f = 1 } END { exit !f }' "$csv" &&
    echo "  note: runs with more ranks than the $((cores * nodes_here)) cores are oversubscribed; their efficiency is worse by construction"
exit 0
