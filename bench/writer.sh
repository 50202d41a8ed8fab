#!/bin/sh
# bench/writer.sh TOOL|none BACKEND SECS: writer overhead and WAL growth.
# benchw commits 1000 rows of 1 KB random blobs per transaction as fast as
# it can for SECS seconds on a fresh database, with TOOL replicating it
# (its first snapshot done first) or with no replicator ("none").  Reports
# rows/s, the application's SQLITE_BUSY count (statements that failed
# with SQLITE_BUSY after the 5 s busy timeout), the peak size of DB-wal
# (sampled every 10 ms) and TOOL's CPU over the run.  TOOL is then
# SIGKILLed: what it had left to ship is not part of this measurement.
set -eu
. "$(dirname "$0")/lib.sh"
secs=$3
bench_backend

db=$T/db
cfg=$T/cfg.yml
write_config "$cfg" "$db"
"$BENCHW" "$db" -count 1 >/dev/null
cpu=0
if [ "$TOOL_NAME" != none ]; then
	start_tool tool "$cfg"
	wait_snapshot r0 60
	sleep 1 # start-up uploads settle (a measurement gap, not a sync)
	pid=$(bg_pid tool)
	c0=$(proc_cpu_ticks "$pid")
fi
out=$("$BENCHW" "$db" -rows 1000 -size 1024 -duration "$secs" -wal-sample 10)
if [ "$TOOL_NAME" != none ]; then
	bg_running tool || fail "$TOOL_NAME exited during the run"
	cpu=$(($(proc_cpu_ticks "$pid") - c0))
	hwm=$(proc_kib "$pid" VmHWM)
	kill -s KILL "$pid"
	_ws_reap tool || true
else
	hwm=0
fi
# benchw tx=N rows=N secs=S rows_per_s=R busy=N wal_peak=BYTES
result "measure=writer ${out#benchw } cpu_ticks=$cpu hwm_kib=$hwm"
s3_cleanup
