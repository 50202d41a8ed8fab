#!/bin/sh
# Interop: walship replicates a live database to a file replica;
# Litestream v0.3.13 restores it.  The workload makes the WAL cross
# walship's 1000-page checkpoint threshold several times, so the replica
# spans several WAL indexes.  Both Litestream's and walship's restores
# must pass O2 at the writer's last seq and be logically equal to the
# source and to each other (O3), and Litestream's `generations` and `wal`
# must list walship's generation.  Run twice: a plain writer, then one
# that also runs TRUNCATE checkpoints of its own every 0.7 s (they return
# busy while walship holds its read lock; the replica must not care).
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
# shellcheck source-path=SCRIPTDIR
set -eu
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
need_tools
need_walship
need_litestream

# run_part NAME WSLOAD_FLAGS...: one writer + walship run into $T/NAME.
run_part() {
	p=$1
	shift
	db=$T/$p.db
	csv=$T/$p.csv
	dir=$T/$p-replica
	replica=file://$dir

	# ~150 tx/s of 2 rows of 3000 bytes: ~1000 WAL pages every 1-2 s.
	start_writer "$p-wsload" "$db" "$csv" -rate 150 -rows 2 -size 3000 "$@"
	wait_for '[ "$(csv_last_seq "$csv")" -ge 1 ]'
	start_bg "$p-walship" "$WALSHIP" replicate "$db" "$replica"
	wait_for '[ -n "$(find "$dir" -name "*.wal.lz4" 2>/dev/null)" ]' 15

	# About 8 s of writes after the first segment.
	target=$(($(csv_last_seq "$csv") + 1200))
	wait_for "[ \$(csv_last_seq \"\$csv\") -ge $target ]" 30
	stop_bg "$p-wsload" || fail "$p: wsload exited with status $? on SIGTERM"
	last=$(csv_last_seq "$csv")
	assert_restored "$db" "$last" "$csv"
	# SIGTERM: walship ships everything committed, then exits 0.
	stop_bg "$p-walship" || fail "$p: walship exited with status $? on SIGTERM"

	gens=$(ls "$dir/generations")
	[ "$(echo "$gens" | wc -l)" -eq 1 ] ||
		fail "$p: expected one generation: $(echo "$gens" | tr "\n" " ")"
	gen=$gens
	n_idx=$(find "$dir" -name "*.wal.lz4" |
		sed 's/.*wal\/\([0-9a-f]*\)_.*/\1/' | sort -u | wc -l)
	[ -n "$(find "$dir" -name "00000001_*.wal.lz4")" ] ||
		fail "$p: the replica has no WAL index 1 ($n_idx indexes)"
	echo "$p: source at seq $last; generation $gen has $n_idx WAL indexes"

	# Litestream's view of the replica.
	"$LITESTREAM" generations "$replica" >"$T/$p-generations.log" 2>&1 ||
		fail "$p: litestream generations failed: $(cat "$T/$p-generations.log")"
	grep -q "$gen" "$T/$p-generations.log" ||
		fail "$p: litestream generations does not list $gen"
	"$LITESTREAM" wal "$replica" >"$T/$p-wal.log" 2>&1 ||
		fail "$p: litestream wal failed: $(tail -n 3 "$T/$p-wal.log")"
	grep -q "$gen" "$T/$p-wal.log" || fail "$p: litestream wal does not list $gen"

	# Litestream restores walship's replica...
	"$LITESTREAM" restore -o "$T/$p-ls.db" "$replica" >"$T/$p-ls-restore.log" 2>&1 ||
		fail "$p: litestream restore failed"
	assert_restored "$T/$p-ls.db" "$last" "$csv"
	assert_equal "$db" "$T/$p-ls.db"

	# ...and so does walship, to the same state.
	"$WALSHIP" restore -o "$T/$p-ws.db" "$replica" >"$T/$p-ws-restore.log" 2>&1 ||
		fail "$p: walship restore failed with status $?"
	assert_restored "$T/$p-ws.db" "$last" "$csv"
	assert_equal "$db" "$T/$p-ws.db"
	assert_equal "$T/$p-ls.db" "$T/$p-ws.db"
	echo "$p: interop ok: seq $last"
}

run_part plain
run_part truncate -checkpoint truncate -checkpoint-every 700 \
	-checkpoint-busy-timeout 100
log_has truncate-wsload '^wsload: committed [0-9]+ \(last seq [0-9]+\) busy [1-9]' ||
	fail "the writer's TRUNCATE checkpoints never reported busy"
