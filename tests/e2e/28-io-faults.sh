#!/bin/sh
# I/O errors injected into `walship replicate` (tests/lib-fault.sh:
# libfiu's POSIX preload, switched on and off in the running process,
# and strace for the renames libfiu cannot reach) while an application
# writes: EIO and ENOSPC from pwrite, short writes, EIO from fsync and
# fdatasync, EIO and short reads from pread, EIO from renameat,
# renameat2 and linkat.  For each, walship (and SQLite inside it) runs
# under the fault, at a 20% rate a call (the renames: five of the first
# nine), for 3 s of writes for a short read or write, and for an error
# until walship has said it in an ERROR line naming the file (40 s at
# most).  It must not die by a signal; once the fault is off it must
# say that each stall ended and catch up in the same process (an exact
# restore); after a restart and 20 more commits, the replica restores
# exactly the last commit, and every generation in it (one a fault may
# have ended) a committed prefix: no corrupt segment was shipped.  The
# application never fails.  Directory replicas: the local I/O is the
# same for S3, whose uploads read the shadow through the same calls (92
# covers S3's own faults).  KINDS picks some (tests/lib-fault.sh).
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
	case $k in
	*-short)
		# walship's loops finish a short write or read: nothing to say.
		start_writer "w$k" "$db" "$T/$k.csv" -count 150 -rate 50
		wait_bg "w$k" 30 || fail "$k: the application exited $?"
		;;
	*)
		# Writes until the fault has hit a call of walship's (the
		# calls come with the writes: a sync, a segment) and it said
		# so, naming the file.
		start_writer "w$k" "$db" "$T/$k.csv" -rate 50
		wait_for "log_has $k 'ERROR .*/[^ ]*.*($(fault_errors "$k"))'" 40
		sleep 2 # more writes under the fault, its retries among them
		stop_bg "w$k" || fail "$k: the application exited $?"
		;;
	esac
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
	echo "$k: $(grep -c ' ERROR ' "$T/$k.log" || true) ERROR lines, e.g. $(grep -m 1 ' ERROR ' "$T/$k.log" | cut -c 1-240)"
	# The fault is over: walship catches up, in the same process.
	restored_at "$k" "$url" "$T/$k.csv"
	# Each state (the database's syncs, the replica's requests, whose
	# cause may change while it lasts) last said it ended.
	for st in ' sync error db=' ' replica=file '; do
		last=$(grep -e 'stalled' "$T/$k.log" | grep -e "$st" | tail -n 1)
		case $last in
		'' | *' no longer stalled after '*) ;;
		*) fail "$k: a stall was never said to end: $last" ;;
		esac
	done
	# Every error walship said names a file (a path).
	unnamed=$(grep -E ' ERROR .*($(fault_errors "$k"))' "$T/$k.log" |
		grep -v -E 'error="[^"]*/[^"]*: ' || true)
	[ -z "$unnamed" ] || fail "$k: an error that names no file: $unnamed"
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
