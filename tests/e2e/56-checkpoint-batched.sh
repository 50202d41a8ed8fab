#!/bin/sh
# Issue 5: a batched writer (1000 rows of 1 KB per transaction) at the
# default checkpoint thresholds.  walship backfills without the write
# lock and seals the WAL in short locked windows, so it must keep
# restarting the WAL while the writer runs (several shadow indexes), keep
# the -wal bounded, never start a second generation, and restore an
# exact committed prefix.  Twice: flat out with SQLite's autocheckpoint
# (the application also backfills up to walship's read mark, and leaves
# the write lock free while it does), then without it at 20 transactions
# a second (walship alone backfills).
#
# The bound on the sampled -wal is generous, 128 MiB: the target is 32
# MiB, but how often walship can seal depends on the CPU it gets, and on
# 2 cores shared with other test runs single peaks reached 112 MiB (the
# build before issue 5 reached 260-409 MiB in 20 s of bench/writer.sh).
# Under the sanitizers (make check sets ASAN_OPTIONS) walship's copy runs
# several times slower while the writer does not (SQLite is not
# instrumented; one run peaked at 194 MiB), so there the bound only
# catches a WAL that grows without limit: 512 MiB.  No timing
# assertions: speed figures are in bench/notes.md.  Directory replica
# only: the replica backend plays no part here.
set -eu
. "$(dirname "$0")/../lib.sh"
need_walship
need_tools

db=$T/db
url=file://$T/replica
bound=$((128 * 1024 * 1024))
[ -z "${ASAN_OPTIONS:-}" ] || bound=$((512 * 1024 * 1024))
csv=$T/tx.csv
"$TOOLS/wsload" "$db" -count 1 -log "$csv" 2>/dev/null
cat >"$T/walship.yml" <<YML
dbs:
  - path: $db
    replicas:
      - url: $url
YML
start_bg walship "$WALSHIP" replicate -v -config "$T/walship.yml"
wait_for "log_has walship 'snapshot written'" 10

# wal_peak FILE: sample the size of the -wal every 50 ms while the writer
# runs; write the largest to FILE.
wal_peak() {
	_wp=0
	while bg_running batch; do
		_sz=$(stat -c %s "$db-wal" 2>/dev/null || echo 0)
		[ "$_sz" -le "$_wp" ] || _wp=$_sz
		sleep 0.05
	done
	echo "$_wp" >"$1"
}

for ac in default 0; do
	args="-rate 0"
	[ "$ac" = default ] || args="-rate 20 -autocheckpoint $ac"
	# shellcheck disable=SC2086
	start_writer batch "$db" "$csv" -duration 6 -rows 1000 -size 1024 $args
	wal_peak "$T/peak.$ac"
	wait_bg batch 30 || fail "writer (autocheckpoint $ac) exited $?"
	peak=$(cat "$T/peak.$ac")
	[ "$peak" -lt "$bound" ] ||
		fail "autocheckpoint $ac: the -wal reached $peak bytes"
	echo "autocheckpoint=$ac wal_peak=$peak seq=$(csv_last_seq "$csv")"
done
n=$(csv_last_seq "$csv")
[ "$n" -ge 20 ] || fail "only $n transactions"
# SIGTERM ships everything committed.
stop_bg walship || fail "walship exited $?"

log_has walship 'continuity lost' && fail "continuity lost during the run"
[ "$(grep -c 'sync: new generation' "$T/walship.log")" -eq 1 ] ||
	fail "more than one generation"
[ "$(replica_gens "$url" | wc -l)" -eq 1 ] ||
	fail "replica generations: $(replica_gens "$url")"
idx=$("$WALSHIP" wal -json "$url" | python3 -c '
import json, sys
print(len({s["index"] for s in json.load(sys.stdin)}))')
[ "$idx" -ge 4 ] || fail "only $idx WAL indexes: the WAL did not restart"
"$WALSHIP" restore -o "$T/restored.db" "$url"
assert_restored "$T/restored.db" "$n" "$csv"
assert_equal "$db" "$T/restored.db"
echo "indexes=$idx transactions=$n"
