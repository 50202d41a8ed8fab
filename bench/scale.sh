#!/bin/sh
# bench/scale.sh TOOL BACKEND N SECS: many idle databases in one process.
# N small databases (10 transactions each) in one config (a dbs: list, one
# replica each); once every one has its first snapshot in the replica and
# 3 s have passed, TOOL is left alone for SECS seconds: its CPU (ticks and
# ns-precise), the requests it makes (per minute), its RSS (VmRSS at the
# end, VmHWM), the start-up time (start to the last first snapshot) and
# how it exits on SIGTERM.
set -eu
. "$(dirname "$0")/lib.sh"
n=$3 secs=$4
need_tools
bench_backend
cfg=$T/cfg.yml
dbs=""
i=0
while [ $i -lt "$n" ]; do
	"$TOOLS/wsload" "$T/db$i" -count 10 -rate 0 >/dev/null 2>&1
	dbs="$dbs $T/db$i"
	i=$((i + 1))
done
# shellcheck disable=SC2086 # the paths have no blanks
write_config "$cfg" $dbs
nsnap() {
	if [ "$BACKEND" = s3 ]; then
		grep -F "\"path\":\"/$S3_BUCKET/$RUN_ID/" "$S3_HOME/requests.jsonl" |
			grep -F '"status":"200"' | grep -c '/snapshots/[^/"]*\.snapshot\.lz4' || true
	else
		find "$T" -path '*/snapshots/*.snapshot.lz4' | wc -l
	fi
}
t0=$(now_ns)
start_tool tool "$cfg"
pid=$(bg_pid tool)
wait_for "[ \"\$(nsnap)\" -ge $n ]" 300
t1=$(now_ns)
sleep 3 # start-up uploads settle (a measurement gap, not a sync)
[ "$BACKEND" = s3 ] && s3_reset
c0=$(proc_cpu_ticks "$pid") m0=$(proc_cpu_ms "$pid") f0=$(find "$T" -name '*.lz4' | wc -l)
sleep "$secs"
c1=$(proc_cpu_ticks "$pid") m1=$(proc_cpu_ms "$pid") f1=$(find "$T" -name '*.lz4' | wc -l)
bg_running tool || fail "$TOOL_NAME exited"
if [ "$BACKEND" = s3 ]; then
	ops=$(s3_ops)
	req=$(s3_stat requests)
else
	ops="files=$((f1 - f0))"
	req=0
fi
rss=$(proc_kib "$pid" VmRSS)
hwm=$(proc_kib "$pid" VmHWM)
term_wait tool 60
result "measure=scale dbs=$n secs=$secs startup_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')" \
	"cpu_ticks=$((c1 - c0)) cpu_clock=process cpu_ms=$(awk -v a="$m0" -v b="$m1" 'BEGIN { printf "%.3f", b - a }')" \
	"req_per_min=$(awk -v r="$req" -v s="$secs" 'BEGIN { printf "%.1f", r * 60 / s }') $ops" \
	"rss_kib=$rss hwm_kib=$hwm exit=$TERM_ST shutdown_ms=$TERM_MS"
s3_cleanup
