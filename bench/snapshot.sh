#!/bin/sh
# bench/snapshot.sh TOOL BACKEND BASE_DB: snapshot speed.  A copy of
# BASE_DB (checkpointed, no -wal; synced to disk and in the page cache, so
# both tools read it hot) is replicated by TOOL from scratch: the time from
# starting TOOL until its first snapshot is complete in the replica (a
# directory replica: the ctime of the snapshot file, set by its final
# rename; S3: the proxy's answer to the PutObject or
# CompleteMultipartUpload), and the speed in MB/s (10^6 bytes of the
# database file per second).
#   aws: the S3 reference (BACKEND s3): the database compressed by `lz4 -1`
#        (untimed; an LZ4 frame like both tools' snapshot objects, within
#        0.2 % of their size), then `aws s3 cp` of that file to the same S3
#        server, timed from the start of aws to its exit; MB/s is again
#        database bytes per second, so the three compare as times.
set -eu
TOOL_ARG=$1
[ "$1" = aws ] && set -- none "$2" "$3"
. "$(dirname "$0")/lib.sh"
base=$3
bench_backend
if [ "$TOOL_ARG" = aws ]; then
	TOOL_NAME=aws
	[ "$BACKEND" = s3 ] || fail "snapshot.sh aws: the reference is for an S3 replica"
	need_awscli
	obj=$T/db.lz4
	lz4 -1 -q -c "$base" >"$obj"
	sync "$obj"
	size=$(stat -c %s "$base")
	osize=$(stat -c %s "$obj")
	e0=$(($(proc_cpu_ticks "$S3RVER_PID") + $(proc_cpu_ticks "$PROXY_PID")))
	t0=$(now_ns)
	aws_s3 cp "$obj" "s3://$S3_BUCKET/$RUN_ID/r0/db.lz4" >"$T/aws.log" 2>&1 ||
		fail "aws s3 cp (upload) failed: $(tail -n 3 "$T/aws.log")"
	t1=$(now_ns)
	e1=$(($(proc_cpu_ticks "$S3RVER_PID") + $(proc_cpu_ticks "$PROXY_PID")))
	[ "$(stat -c %s "$(replica_root r0)/db.lz4._S3rver_object")" = "$osize" ] ||
		fail "aws s3 cp: the object in the S3 server is not $osize bytes"
	result "measure=snapshot db_bytes=$size object_bytes=$osize" \
		"secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" \
		"mb_per_s=$(awk -v a="$t0" -v b="$t1" -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 / ((b - a) / 1e9) }')" \
		"s3_cpu_ticks=$((e1 - e0)) awscli=\"$("$AWSCLI" --version 2>&1 | cut -d' ' -f1)\""
	s3_cleanup
	exit 0
fi

db=$T/db
cfg=$T/cfg.yml
cp "$base" "$db"
sync "$db"
size=$(stat -c %s "$db")
write_config "$cfg" "$db"
# The S3 emulator's CPU (s3rver and the proxy, both Node), to tell when it
# is the bottleneck.
s3cpu() {
	[ "$BACKEND" = s3 ] || { echo 0; return; }
	echo $(($(proc_cpu_ticks "$S3RVER_PID") + $(proc_cpu_ticks "$PROXY_PID")))
}
e0=$(s3cpu)
t0=$(now_ns)
start_tool tool "$cfg"
pid=$(bg_pid tool)
while ! has_snapshot r0; do
	bg_running tool || fail "$TOOL_NAME exited before its first snapshot"
	[ $(($(now_ns) - t0)) -lt 600000000000 ] || fail "no snapshot after 600 s"
	sleep 0.02
done
if [ "$BACKEND" = s3 ]; then
	t1=$(s3_puts r0 | grep '/snapshots/[^/]*\.snapshot\.lz4$' | head -n 1 | awk '{ printf "%.0f", $1 * 1000000 }')
else
	t1=$(find "$(replica_root r0)" -name '*.snapshot.lz4' -printf '%C@\n' | head -n 1 |
		awk '{ printf "%.0f", $1 * 1e9 }')
fi
cpu=$(proc_cpu_ticks "$pid")
e1=$(s3cpu)
hwm=$(proc_kib "$pid" VmHWM)
term_wait tool
obj=$(replica_objects r0 | grep '/snapshots/[^/]*\.snapshot\.lz4$' | head -n 1)
[ "$BACKEND" = s3 ] && osize=$(stat -c %s "$(replica_root r0)/$obj._S3rver_object") ||
	osize=$(stat -c %s "$(replica_root r0)/$obj")
result "measure=snapshot db_bytes=$size object_bytes=$osize" \
	"secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" \
	"mb_per_s=$(awk -v a="$t0" -v b="$t1" -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 / ((b - a) / 1e9) }')" \
	"cpu_ticks=$cpu s3_cpu_ticks=$((e1 - e0)) hwm_kib=$hwm exit=$TERM_ST shutdown_ms=$TERM_MS"
s3_cleanup
