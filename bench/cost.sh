#!/bin/sh
# bench/cost.sh TOOL BACKEND IDLE_S LOAD_S RATE: cost while idle, then
# under a steady load.  TOOL replicates a small database (100
# transactions); once its first snapshot is in the replica it is left
# alone for IDLE_S seconds, then wsload commits 1-row transactions (1 KB
# random blob) at RATE tx/s for LOAD_S seconds.  For each phase: TOOL's
# CPU (utime+stime ticks, and the ns-precise CPU-time clock of the
# process, threads that have exited included), the requests by S3 operation (the proxy's counters; on a
# directory replica the files written), then TOOL's peak RSS (VmHWM), the
# bytes stored, and how it exits on SIGTERM.
set -eu
. "$(dirname "$0")/lib.sh"
need_tools
idle=$3 load=$4 rate=$5
bench_backend

db=$T/db
cfg=$T/cfg.yml
write_config "$cfg" "$db"
"$TOOLS/wsload" "$db" -count 100 -rate 0 >/dev/null 2>&1
start_tool tool "$cfg"
wait_snapshot r0 60
sleep 2 # start-up uploads settle (a measurement gap, not a sync)
pid=$(bg_pid tool)

# phase NAME SECS CMD...: measure TOOL over CMD (or a sleep of SECS).
phase() {
	_p=$1 _s=$2
	shift 2
	[ "$BACKEND" = s3 ] && s3_reset
	_f0=$(replica_objects r0 | wc -l)
	_c0=$(proc_cpu_ticks "$pid") _m0=$(proc_cpu_ms "$pid") _t0=$(now_ns)
	if [ $# -gt 0 ]; then
		"$@" >/dev/null 2>"$T/$_p.err" || fail "$_p: $* failed: $(cat "$T/$_p.err")"
	else
		sleep "$_s"
	fi
	_c1=$(proc_cpu_ticks "$pid") _m1=$(proc_cpu_ms "$pid") _t1=$(now_ns)
	bg_running tool || fail "$TOOL_NAME exited during the $_p phase"
	_f1=$(replica_objects r0 | wc -l)
	if [ "$BACKEND" = s3 ]; then
		_ops=$(s3_ops)
	else
		_ops="requests=0 files=$((_f1 - _f0))"
	fi
	result "measure=cost phase=$_p" \
		"secs=$(awk -v a="$_t0" -v b="$_t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" \
		"cpu_ticks=$((_c1 - _c0)) cpu_clock=process cpu_ms=$(awk -v a="$_m0" -v b="$_m1" 'BEGIN { printf "%.3f", b - a }')" \
		"objects=$((_f1 - _f0)) $_ops"
}

phase idle "$idle"
phase load "$load" "$TOOLS/wsload" "$db" -rate "$rate" -duration "$load" -rows 1 -size 1024
hwm=$(proc_kib "$pid" VmHWM)
rss=$(proc_kib "$pid" VmRSS)
term_wait tool
if [ "$BACKEND" = s3 ]; then
	bytes=$(find "$(replica_root r0)" -name '*._S3rver_object' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
else
	bytes=$(find "$(replica_root r0)" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
fi
result "measure=cost_mem hwm_kib=$hwm rss_kib=$rss bytes_stored=$bytes" \
	"db_bytes=$(stat -c %s "$db") exit=$TERM_ST shutdown_ms=$TERM_MS"
s3_cleanup
