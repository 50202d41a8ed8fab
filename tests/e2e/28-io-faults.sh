#!/bin/sh
# I/O errors injected into `walship replicate` (tests/lib-fault.sh: libfiu's
# POSIX preload, and strace for the renames libfiu cannot reach) while an
# application writes: EIO and ENOSPC from pwrite, short writes, EIO from
# fsync and fdatasync, EIO and short reads from pread, EIO from renameat,
# renameat2 and linkat.  For each, walship (and SQLite inside it) runs
# about 3 s under the fault at a 20% rate (the renames: the 1st and every
# 3rd): it must not die by a signal; for an error kind, say the error
# naming the file (a path) in an ERROR line; and once restarted without
# the fault it must catch up: the replica restores exactly the last
# commit, and every generation in it (one a fault may have ended)
# restores a committed prefix: no corrupt segment was shipped.  The
# application never fails.  Directory replicas: the local I/O is the
# same for S3, whose uploads read the shadow through the same calls
# (92 covers S3's own faults).  KINDS picks some (tests/lib-fault.sh).
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-stall.sh"
. "$ROOT/tests/lib-fault.sh"
need_fiu

run_kind() {
	k=$1
	db=$T/$k.db
	url=file://$T/$k-replica
	"$TOOLS/wsload" "$db" -count 10 -rate 0 -log "$T/$k.csv" 2>>"$T/w$k.log"
	start_bg "$k" faulty_later "$k" "$WALSHIP" replicate "$db" "$url"
	wait_for "log_has $k 'snapshot written'" 10
	pid=$(bg_pid "$k")
	fault_on "$k" 0.2 "$pid"
	start_writer "w$k" "$db" "$T/$k.csv" -count 150 -rate 50
	wait_bg "w$k" 30 || fail "$k: the application exited $?"
	fault_off "$k" "$pid"
	rel_count io_fault_cases
	rel_count "io_fault_$k"
	n=$(injected)
	[ "$k" != rename-eio ] || [ "$n" -gt 0 ] || fail "$k: strace injected no fault"
	[ "$n" -eq 0 ] || rel_count io_faults_injected "$n"
	bg_running "$k" || {
		st=0
		wait_bg "$k" 1 || st=$?
		fail "$k: walship exited $st under the fault: $(tail -n 3 "$T/$k.log")"
	}
	case $k in
	*-short) ;; # walship's loops finish a short write or read
	*)
		log_has "$k" "ERROR .*/[^ ]*.*($(fault_errors "$k"))" ||
			fail "$k: no ERROR line naming a file and the injected error: $(grep -c . "$T/$k.log") lines"
		;;
	esac
	echo "$k: $(grep -c ' ERROR ' "$T/$k.log" || true) ERROR lines, e.g. $(grep -m 1 ' ERROR ' "$T/$k.log" | cut -c 1-240)"
	# The fault is over: walship catches up, in the same process.
	restored_at "$k" "$url" "$T/$k.csv"
	b=$(grep -c ' stalled: ' "$T/$k.log" || true)
	e=$(grep -c ' no longer stalled after ' "$T/$k.log" || true)
	[ "$b" -eq "$e" ] ||
		fail "$k: $b stalls began, $e were said to end: $(grep 'stalled' "$T/$k.log" | cut -c 1-200)"
	# A restart on what the fault left continues, exactly.
	start_bg "$k-again" "$WALSHIP" replicate "$db" "$url"
	"$TOOLS/wsload" "$db" -count 20 -rate 0 -log "$T/$k.csv" 2>>"$T/w$k.log"
	restored_at "$k-again" "$url" "$T/$k.csv"
	for g in $(replica_gens "$url"); do
		rm -rf "$T/gen"
		mkdir "$T/gen"
		"$WALSHIP" restore -generation "$g" -o "$T/gen/db" "$url" \
			>"$T/gen.log" 2>&1 ||
			fail "$k: generation $g does not restore: $(tail -n 2 "$T/gen.log")"
		o=$("$TOOLS/wscheck" -csv "$T/$k.csv" -allow-empty "$T/gen/db" 2>&1) ||
			fail "$k: generation $g restores no committed prefix: $o"
		rel_count restores_verified
	done
}

for k in ${KINDS:-$FAULT_KINDS}; do
	echo "kind $k"
	run_kind "$k"
done
