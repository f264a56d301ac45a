#!/usr/bin/env bash
# The job scripts against a real single-node SLURM on loopback: a training
# job (jobs/train.sbatch) is stopped with SIGUSR1 at the batch shell, must
# checkpoint, requeue itself, resume and finish with the same /model/W, byte
# for byte, as the same training run without interruption.
#   EBM=build/ebm bash tests/slurm/test_slurm.sh      (from the repository root; make test-slurm)
# Prints "ok - NAME" / "not ok - NAME" per check (diagnostics start with "# ")
# and a closing "# N passed, N failed" line; exits non-zero when a check failed.
#
# Needs root: it installs slurm-wlm and munge when missing (apt-get) and
# starts munged (default paths, as the munge user), slurmctld and slurmd
# with a slurm.conf in a per-run directory. Without root, or when the
# packages or daemons cannot be had, it prints "skipped - REASON" and
# "# 0 passed, 0 failed, 1 skipped" and exits 0. The daemons it started are
# stopped at exit by the PIDs in their pid files; an already running munged
# is used and left alone. Set EBM_SLURM_KEEP=1 to keep the run directory.
# Takes 30 to 60 s on 2 cores (2-rank training runs of a few seconds each
# plus the requeue delay of AuthInfo=cred_expire=5).
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
EBM=${EBM:-build/ebm}
case $EBM in /*) ;; *) EBM=$ROOT/$EBM ;; esac
# The reference run below must not think it is inside a job.
for v in $(compgen -e SLURM_); do unset "$v"; done
export OMPI_MCA_mpi_yield_when_idle=1 OPENBLAS_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

failed=0 passed=0
pass() { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "not ok - $1"; failed=$((failed + 1)); }
# report NAME WHY: ok when WHY is empty, else not ok with WHY as diagnostics.
report() {
    if [ -z "$2" ]; then pass "$1"; return; fi
    fail "$1"
    printf '%s\n' "$2" | sed 's/^/# /'
}
skip() {
    echo "skipped - $1"
    echo "# 0 passed, 0 failed, 1 skipped"
    exit 0
}
# diag FILE [N]: the last N lines of FILE as diagnostics.
diag() { echo "# --- $1 (last ${2:-15} lines)"; tail -n "${2:-15}" "$1" 2>/dev/null | sed 's/^/#   /'; }

if [ ! -x "$EBM" ]; then
    echo "not ok - ebm binary at $EBM (build it with make)"
    echo "# 0 passed, 1 failed"
    exit 1
fi
for tool in mpirun h5dump cmp; do
    if ! command -v $tool >/dev/null; then
        echo "not ok - $tool is installed (make deps)"
        echo "# 0 passed, 1 failed"
        exit 1
    fi
done

# ---- packages -----------------------------------------------------------------

have_slurm() {
    local p
    for p in slurmctld slurmd sbatch scontrol scancel sinfo munged munge unmunge; do
        PATH=$PATH:/usr/sbin:/sbin command -v $p >/dev/null || return 1
    done
}
export PATH=$PATH:/usr/sbin:/sbin
if ! have_slurm; then
    [ "$(id -u)" -eq 0 ] ||
        skip "slurm-wlm and munge are not installed and installing them needs root (sudo apt-get install -y --no-install-recommends slurm-wlm munge)"
    echo "# installing slurm-wlm munge"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
           DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge; } \
           >/tmp/ebm-slurm-apt.log 2>&1; then
        diag /tmp/ebm-slurm-apt.log 5
        skip "apt-get install slurm-wlm munge failed (log /tmp/ebm-slurm-apt.log)"
    fi
    have_slurm || skip "slurm-wlm and munge installed, but their programs are missing"
fi
[ "$(id -u)" -eq 0 ] || skip "starting munged, slurmctld and slurmd needs root"

# ---- the cluster ----------------------------------------------------------------

T=$(mktemp -d "${TMPDIR:-/tmp}/ebm-slurm.XXXXXX") || exit 1
chmod 755 "$T"
export SLURM_CONF=$T/slurm.conf
munged_pid="" jobs_submitted=()

# stop_pid PID: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
    local i
    kill "$1" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null
}
cleanup() {
    local i j f
    # Jobs first: slurmstepd and the ranks outlive a killed slurmd.
    if [ ${#jobs_submitted[@]} -gt 0 ] && [ -s "$T/slurmctld.pid" ]; then
        for j in "${jobs_submitted[@]}"; do scancel "$j" 2>/dev/null; done
        for ((i = 0; i < 100; i++)); do
            [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
    for f in slurmd slurmctld; do
        [ -s "$T/$f.pid" ] && stop_pid "$(cat "$T/$f.pid")"
    done
    [ -n "$munged_pid" ] && stop_pid "$munged_pid"
    if [ "$failed" -eq 0 ] && [ "${EBM_SLURM_KEEP:-0}" != 1 ]; then
        rm -rf "$T"
    else
        echo "# run directory kept: $T"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# munge: use a working munged, else start one as the munge user with its
# default paths (it refuses a socket or key under a private directory).
munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
    [ -s /etc/munge/munge.key ] || skip "no /etc/munge/munge.key (reinstall the munge package)"
    mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
    if ! runuser -u munge -- munged >"$T/munged.out" 2>&1; then
        diag "$T/munged.out" 5
        skip "munged does not start"
    fi
    munged_pid=$(cat /run/munge/munged.pid 2>/dev/null)
    for ((i = 0; i < 50; i++)); do munge_ok && break; sleep 0.1; done
    munge_ok || skip "munged started but munge/unmunge fail"
fi

# Two free TCP ports for slurmctld and slurmd, so another cluster on this
# machine (or a second run of this test) does not collide.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for ((i = 0; i < 50; i++)); do
    port=$((20000 + RANDOM % 20000))
    port_free $port && port_free $((port + 1)) && break
done

hw=$(slurmd -C 2>/dev/null | head -1 | sed 's/^NodeName=[^ ]* //')
case $hw in *CPUs=*) ;; *) skip "slurmd -C does not print this machine's hardware" ;; esac
mkdir -p "$T/state" "$T/spool"
cat >"$SLURM_CONF" <<EOF
# single-node test cluster on loopback (tests/slurm/test_slurm.sh)
ClusterName=ebmtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job is held for the credential lifetime (default 120 s).
AuthInfo=cred_expire=5
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# srun with pmi2 or none fails in MPI_Init with Debian's Open MPI.
MpiDefault=pmix
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0,sched_interval=2,sched_min_interval=0,bf_interval=1
JobRequeue=1
ReturnToService=2
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -c -f "$SLURM_CONF" >"$T/slurmctld.out" 2>&1 || {
    diag "$T/slurmctld.out" 5; diag "$T/slurmctld.log" 10
    skip "slurmctld does not start"
}
slurmd -f "$SLURM_CONF" -N localhost >"$T/slurmd.out" 2>&1 || {
    diag "$T/slurmd.out" 5; diag "$T/slurmd.log" 10
    skip "slurmd does not start"
}
state=""
for ((i = 0; i < 150; i++)); do
    state=$(sinfo -h -o %t 2>/dev/null)
    [ "$state" = idle ] && break
    sleep 0.2
done
if [ "$state" != idle ]; then
    diag "$T/slurmctld.log" 10; diag "$T/slurmd.log" 10
    skip "the node did not come up idle within 30 s (sinfo says '${state:-nothing}')"
fi
echo "# cluster up on 127.0.0.1:$port ($hw), SLURM_CONF=$SLURM_CONF"

# ---- data and config ---------------------------------------------------------------

# An IDX file written with printf, converted by ebm.
# shellcheck source=tests/lib/idx.sh
. "$ROOT/tests/lib/idx.sh"
# shellcheck source=tests/lib/h5cmp.sh
. "$ROOT/tests/lib/h5cmp.sh"
pixels 512 16 | idx "$T/img.idx" 512 4 4
"$EBM" convert idx --images "$T/img.idx" --split train --out "$T/d.h5" >"$T/convert.out" 2>&1 &&
    "$EBM" convert idx --images "$T/img.idx" --split test --out "$T/d.h5" >>"$T/convert.out" 2>&1
report "convert: 512 x 16 dataset" "$([ -s "$T/d.h5" ] || { echo "ebm convert failed:"; cat "$T/convert.out"; })"

# 512 rows, 2 ranks x batch 8: 32 steps per epoch; EPOCHS make a run of
# several seconds, so the stop request lands mid-run.
EPOCHS=600
cat >"$T/train.ini" <<EOF
; tiny run for the SLURM test
[data]
path = $T/d.h5
split = train
valid_split = test

[model]
hidden = 8

[train]
epochs = $EPOCHS
batch_size = 8
chains = 8
monitor = 16
seed = 11

[output]
dir = $T/unused
EOF
FINAL=$(printf 'ckpt-e%06d.h5' "$EPOCHS")

# ---- reference: the same script without SLURM (mpirun, 2 ranks) ------------------------

start=$(date +%s.%N)
EBM_RUN_DIR=$T/A EBM_NP=2 EBM=$EBM timeout 120 bash jobs/train.sbatch "$T/train.ini" >"$T/A.out" 2>&1
rc=$?
ref_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
why=""
[ "$rc" -eq 0 ] || why+="exit status $rc"$'\n'
[ -f "$T/A/$FINAL" ] || why+="no $T/A/$FINAL"$'\n'
grep -q '^train.sbatch: .* start: no SLURM, mpirun -np 2' "$T/A.out" || why+="no 'start: no SLURM' line"$'\n'
report "reference: jobs/train.sbatch without SLURM trains $EPOCHS epochs on 2 ranks (${ref_s} s)" "${why%$'\n'}"
[ -z "$why" ] || diag "$T/A.out"

# ---- the job: stopped with SIGUSR1, requeued, resumed ------------------------------------

# job_field ID FIELD: one field of `scontrol show job`.
job_field() { scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"; }

jobid=$(sbatch --parsable -J ebm-slurm-test -n 2 --overcommit --time=10 \
        -o "$T/job-%j.out" --export="ALL,EBM_RUN_DIR=$T/B,EBM=$EBM" \
        jobs/train.sbatch "$T/train.ini" 2>"$T/sbatch.err")
jobid=${jobid%%;*}
if [ -z "$jobid" ]; then
    fail "sbatch jobs/train.sbatch -n 2 --overcommit"
    diag "$T/sbatch.err" 5
else
    jobs_submitted+=("$jobid")
    pass "sbatch jobs/train.sbatch -n 2 --overcommit (job $jobid)"
fi
JOB_OUT=$T/job-$jobid.out

# Wait until the job runs and has written a checkpoint, then stop it.
signalled=0 why=""
for ((i = 0; i < 600 && ${#jobid} > 0; i++)); do
    st=$(job_field "$jobid" JobState)
    if [ "$st" = RUNNING ] && compgen -G "$T/B/ckpt-e*.h5" >/dev/null; then
        scancel --signal=USR1 --batch "$jobid" 2>"$T/scancel.err" && signalled=1
        break
    fi
    case $st in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL)
        why="job ended ($st) before it could be stopped: raise EPOCHS in this test"; break ;;
    esac
    sleep 0.1
done
[ "$signalled" = 1 ] || [ -n "$why" ] || why="job not RUNNING with a checkpoint within 60 s (state ${st:-unknown})"
[ -z "$why" ] || [ ! -s "$T/scancel.err" ] || why+=$'\n'"scancel: $(cat "$T/scancel.err")"
stopped_at=$(cd "$T/B" 2>/dev/null && ls ckpt-e*.h5 2>/dev/null | tail -1)
report "scancel --signal=USR1 --batch once the job runs and has a checkpoint (${stopped_at:-none})" "$why"

# Wait for the end: the requeued run must finish (about cred_expire plus the
# rest of the training).
st=""
for ((i = 0; i < 1200 && signalled == 1; i++)); do
    st=$(job_field "$jobid" JobState)
    case $st in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL) break ;; esac
    sleep 0.1
done
restarts=$(job_field "$jobid" Restarts)
exitcode=$(job_field "$jobid" ExitCode)

why=""
grep -q 'got SIGUSR1' "$JOB_OUT" 2>/dev/null || why+="the batch shell did not log 'got SIGUSR1'"$'\n'
grep -q 'stopped on request with a checkpoint; requeueing job' "$JOB_OUT" 2>/dev/null ||
    why+="no 'stopped on request ... requeueing' line (ebm did not exit 3?)"$'\n'
report "the batch shell forwarded SIGUSR1 and ebm stopped with status 3" "${why%$'\n'}"

why=""
[ "${restarts:-0}" = 1 ] || why+="scontrol show job: Restarts=${restarts:-?}, expected 1"$'\n'
n=$(grep -c 'start: job '"$jobid"' ' "$JOB_OUT" 2>/dev/null)
[ "${n:-0}" = 2 ] || why+="the output file shows ${n:-0} starts, expected 2"$'\n'
grep -q "start: job $jobid (restart 1)" "$JOB_OUT" 2>/dev/null || why+="no start with SLURM_RESTART_COUNT=1"$'\n'
report "the job requeued itself and ran again (Restarts=${restarts:-?})" "${why%$'\n'}"

why=""
grep -q '^resuming from ' "$JOB_OUT" 2>/dev/null || why+="no 'resuming from' in the output"$'\n'
report "the rerun resumed from the stop checkpoint: $(grep -m1 '^resuming from ' "$JOB_OUT" 2>/dev/null | sed "s|$T/||")" "${why%$'\n'}"

why=""
[ "$st" = COMPLETED ] || why+="JobState=${st:-unknown}, expected COMPLETED"$'\n'
[ "$exitcode" = 0:0 ] || why+="ExitCode=${exitcode:-?}, expected 0:0"$'\n'
[ -f "$T/B/$FINAL" ] || why+="no $FINAL in the run directory"$'\n'
grep -q 'train.sbatch: .* finished' "$JOB_OUT" 2>/dev/null || why+="no 'finished' line"$'\n'
report "the requeued job completed all $EPOCHS epochs" "${why%$'\n'}"

why=$(tensor_diffs "$T/A/$FINAL" "$T/B/$FINAL" /model/W /model/vbias /model/hbias)
report "interrupted + requeued job ends bit-identical to the uninterrupted run (/model/W, vbias, hbias)" "${why%$'\n'}"

why=""
got=$(grep -o '^{"epoch":[0-9]*' "$T/B/metrics.jsonl" 2>/dev/null | tr -dc '0-9\n' | tr '\n' ' ')
[ "$got" = "$(seq -s ' ' 1 "$EPOCHS") " ] || why="metrics.jsonl epochs are not 1..$EPOCHS once each (got $(wc -w <<<"$got") lines)"
report "metrics.jsonl of the requeued job logs each epoch once" "$why"

[ "$failed" -eq 0 ] || { diag "$JOB_OUT" 30; diag "$T/slurmctld.log" 10; diag "$T/slurmd.log" 10; }

# ---- a plain scancel (SIGTERM) checkpoints but must not requeue ----------------------------
# SLURM accepts `scontrol requeue` even for a job being cancelled, so a script
# that requeued on every exit 3 would turn each scancel into a requeue.

cid=$(sbatch --parsable -J ebm-slurm-cancel -n 2 --overcommit --time=10 \
      -o "$T/cancel-%j.out" --export="ALL,EBM_RUN_DIR=$T/C,EBM=$EBM" \
      jobs/train.sbatch "$T/train.ini" 2>"$T/sbatch.err")
cid=${cid%%;*}
[ -n "$cid" ] && jobs_submitted+=("$cid")
CANCEL_OUT=$T/cancel-$cid.out
why="" cancelled=0
for ((i = 0; i < 600 && ${#cid} > 0; i++)); do
    st=$(job_field "$cid" JobState)
    if [ "$st" = RUNNING ] && compgen -G "$T/C/ckpt-e*.h5" >/dev/null; then
        scancel "$cid" && cancelled=1
        break
    fi
    sleep 0.1
done
[ "$cancelled" = 1 ] || why+="could not scancel a running job with a checkpoint (state ${st:-unknown})"$'\n'
# The batch shell gets KillWait (30 s) to finish; it logs its decision.
for ((i = 0; i < 300 && cancelled == 1; i++)); do
    grep -q 'not requeueing\|requeueing job\|failed with status\|finished' "$CANCEL_OUT" 2>/dev/null && break
    sleep 0.1
done
sleep 0.5
# That line is logged only when ebm exited 3, i.e. after a checkpoint.
grep -q 'stopped with a checkpoint after SIGTERM.*not requeueing' "$CANCEL_OUT" 2>/dev/null ||
    why+="no 'stopped with a checkpoint after SIGTERM ... not requeueing' line"$'\n'
grep -q 'requeueing job' "$CANCEL_OUT" 2>/dev/null && why+="the batch shell requeued the cancelled job"$'\n'
st=$(job_field "$cid" JobState) r=$(job_field "$cid" Restarts)
[ "$st" = CANCELLED ] || why+="JobState=${st:-unknown}, expected CANCELLED"$'\n'
[ "${r:-x}" = 0 ] || why+="Restarts=${r:-?}, expected 0"$'\n'
report "plain scancel: the ranks checkpoint and the job is not requeued" "${why%$'\n'}"
[ -z "$why" ] || diag "$CANCEL_OUT" 15

# ---- eval.sbatch and dbn-pipeline.sbatch ---------------------------------------------

CK=$T/B/$FINAL
[ -f "$CK" ] || CK=$T/A/$FINAL
rc=0
sbatch --wait -J ebm-slurm-eval -n 2 --overcommit --time=5 -o "$T/eval-%j.out" \
    --export="ALL,EBM=$EBM" jobs/eval.sbatch "$CK" --data "$T/d.h5" --exact --json \
    >"$T/eval.sbatch.out" 2>&1 || rc=$?
eval_out=$(ls "$T"/eval-*.out 2>/dev/null | head -1)
why=""
[ "$rc" -eq 0 ] || why+="sbatch --wait: exit status $rc"$'\n'
grep -q '"method":"exact"' "$eval_out" 2>/dev/null || why+="no exact log-likelihood JSON in the job output"$'\n'
report "eval.sbatch under SLURM: ebm eval --exact on 2 ranks" "${why%$'\n'}"
[ -z "$why" ] || { diag "$T/eval.sbatch.out" 5; diag "${eval_out:-/dev/null}" 10; }

# A 3-stage DBN pipeline job on 3 tasks: every stage trains, the run ends
# with a DBN checkpoint, and the log has the per-stage summary.
cat >"$T/dbn.ini" <<EOF
[data]
path = $T/d.h5
[model]
type = dbn
layers = 16,8,6,4
[train]
epochs = 3
batch_size = 8
chains = 8
monitor = 32
[pipeline]
warmup_epochs = 1
finish_epochs = 1
EOF
rc=0
sbatch --wait -J ebm-slurm-dbn -n 3 --overcommit --time=5 -o "$T/dbn-%j.out" \
    --export="ALL,EBM_RUN_DIR=$T/D,EBM=$EBM" jobs/dbn-pipeline.sbatch "$T/dbn.ini" \
    >"$T/dbn.sbatch.out" 2>&1 || rc=$?
dbn_out=$(ls "$T"/dbn-*.out 2>/dev/null | head -1)
why=""
[ "$rc" -eq 0 ] || why+="sbatch --wait: exit status $rc"$'\n'
[ -f "$T/D/ckpt-e000005.h5" ] || why+="no $T/D/ckpt-e000005.h5"$'\n'
grep -q 'stage 2  busy' "$dbn_out" 2>/dev/null || why+="no per-stage summary in the job output"$'\n'
n=$(grep -c '"stage":2,"mode":"train"' "$T/D/metrics.jsonl" 2>/dev/null)
[ "${n:-0}" -eq 3 ] || why+="stage 2 trained on ${n:-0} pipeline epochs, expected 3"$'\n'
report "dbn-pipeline.sbatch under SLURM: a 3-stage DBN on 3 tasks" "${why%$'\n'}"
[ -z "$why" ] || { diag "$T/dbn.sbatch.out" 5; diag "${dbn_out:-/dev/null}" 15; }

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
