#!/bin/sh
# I/O errors injected into `walship restore` (tests/lib-fault.sh): EIO
# and ENOSPC from pwrite, short writes, EIO from fsync and fdatasync, EIO
# and short reads from pread (the replica's objects and the output's own
# files alike), each at a 3% rate a call (fsync: 30%) over TRIES (6)
# restores, and EIO from the linkat (or renameat2) that publishes the
# output.  Each restore either succeeds, exactly (the full oracle at the
# replica's last commit, and nothing beside the output but its meta
# directory), or fails loudly: a non-zero status that is not a signal,
# nothing left in the output's directory (no partial database, no
# temporary file), and one error line naming a file (the output's; for a
# read, the output's or an object's).  For each error kind at least one
# restore (of up to 40) must have failed: the fault was injected.  A
# directory replica: a restore's local writes are the same for every
# backend.  KINDS picks some (tests/lib-fault.sh).
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-stall.sh"
. "$ROOT/tests/lib-fault.sh"
need_fiu

# The replica: 160 commits in a few WAL segments.
db=$T/src.db
url=file://$T/replica
"$TOOLS/wsload" "$db" -count 10 -rate 0 -log "$T/src.csv" 2>>"$T/w.log"
start_bg ws "$WALSHIP" replicate "$db" "$url"
wait_for 'log_has ws "snapshot written"' 10
"$TOOLS/wsload" "$db" -count 150 -rate 100 -log "$T/src.csv" 2>>"$T/w.log"
restored_at ws "$url" "$T/src.csv"
last=$(csv_last_seq "$T/src.csv")

# try KIND P: one restore under the fault into $T/out; prints ok or failed.
try() {
	rm -rf "$T/out"
	mkdir "$T/out"
	st=0
	(faulty "$1" "$2" "$WALSHIP" restore -o "$T/out/x.db" "$url") \
		>"$T/try.log" 2>&1 || st=$?
	rel_count io_fault_cases
	rel_count "io_fault_$1"
	n=$(injected)
	[ "$n" -eq 0 ] || rel_count io_faults_injected "$n"
	[ "$st" -lt 128 ] || fail "$1: restore exited $st (a signal): $(tail -n 3 "$T/try.log")"
	if [ "$st" -eq 0 ]; then
		assert_restored "$T/out/x.db" "$last" "$T/src.csv"
		left=$(ls -A "$T/out" | grep -v -x -e x.db -e .x.db-walship -e x.db-wal -e x.db-shm || true)
		[ -z "$left" ] || fail "$1: a restore that succeeded left: $left"
		echo ok
		return 0
	fi
	left=$(ls -A "$T/out")
	[ -z "$left" ] || fail "$1: a failed restore left: $left"
	err=$(grep -v '^[0-9-]*T[0-9:.]*Z [A-Z]* ' "$T/try.log" |
		grep -v -e '^[0-9]* *\(renameat\|linkat\)' -e '^+++ exited' || true)
	[ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ] ||
		fail "$1: a failed restore: want one error line, got: $(cat "$T/try.log")"
	# A write, fsync or link failed on the output's side: its path; a
	# read may be of an object of the replica: its key will do.
	case $1 in
	pread-*) named="($T/out/x\\.db|generations/[0-9a-f]+/)" ;;
	*) named="$T/out/x\\.db" ;;
	esac
	printf '%s\n' "$err" | grep -q -E -e "$named.*($(fault_errors "$1"))" ||
		fail "$1: the error names no file or not the fault: $err"
	echo "failed: $err" >>"$T/failures"
	echo failed
}

for k in ${KINDS:-$FAULT_KINDS}; do
	ok=0 failed=0
	i=0
	p=0.03 # of each call: a restore makes hundreds of pwrites and preads
	[ "$k" != fsync-eio ] || p=0.3 # and a few fsyncs
	# TRIES restores, and more (40 at most) until one has failed.
	while [ "$i" -lt "${TRIES:-6}" ] ||
		{ [ "$failed" -eq 0 ] && [ "$i" -lt 40 ] &&
			case $k in *-short) false ;; esac; }; do
		i=$((i + 1))
		r=$(try "$k" "$p")
		_ws_failed
		case $r in ok) ok=$((ok + 1)) ;; *) failed=$((failed + 1)) ;; esac
		[ "$k" != rename-eio ] || break # the same every time
	done
	echo "$k: $ok restored exactly, $failed failed loudly"
	[ ! -s "$T/failures" ] || sed "s|$T|\$T|g; s/[0-9a-f]\{16\}/GEN/g" "$T/failures" |
		sort -u | cut -c 1-200 | sed 's/^/  /'
	rm -f "$T/failures"
	case $k in
	*-short) ;;
	*) [ "$failed" -gt 0 ] || fail "$k: no restore failed: was the fault injected?" ;;
	esac
done
