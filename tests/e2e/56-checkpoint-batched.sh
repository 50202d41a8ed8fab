#!/bin/sh
# Issue 5: a batched writer (1000 rows of 1 KB per transaction) at the
# default checkpoint thresholds.  walship backfills without the write
# lock and seals the WAL in short locked windows, so it must restart the
# WAL (each restart a new WAL index in the replica), never start a second
# generation, never fail the writer, and restore an exact committed
# prefix.  Twice: flat out with SQLite's autocheckpoint (the
# application also backfills up to walship's read mark, and leaves the
# write lock free while it does), then without it at 20 transactions a
# second (walship alone backfills).
#
# The -wal does not grow without bound: once each writer stops, walship
# catches up and brings it down to max-checkpoint-page-count pages (a
# TRUNCATE, which it may run once nothing is left to copy), and it stays
# there.  How large it grows and how often it restarts while the writer
# runs depend on the CPU walship gets (on 2 shared cores beside a build,
# peaks of 159 MB to 840 MB were seen, against the 32 MiB target), so
# those figures are measured by bench/writer.sh and only printed here.
# Directory replica only: the replica backend plays no part here.
set -eu
. "$(dirname "$0")/../lib.sh"
need_walship
need_tools

db=$T/db
url=file://$T/replica
csv=$T/tx.csv
# max-checkpoint-page-count (10000, the default) frames of a 4096-byte
# page, and the WAL header.
bound=$((32 + 10000 * (24 + 4096)))
"$TOOLS/wsload" "$db" -count 1 -log "$csv" 2>/dev/null
cat >"$T/walship.yml" <<YML
dbs:
  - path: $db
    replicas:
      - url: $url
YML
start_bg walship "$WALSHIP" replicate -v -config "$T/walship.yml"
wait_for "log_has walship 'snapshot written'" 10

# wal_watch NAME: while the writer runs, sample the -wal every 50 ms:
# its size (the largest goes to $T/peak.NAME) and its header's checkpoint
# sequence and salts, which change at every WAL restart (the number of
# changes seen goes to $T/restarts.NAME; a restart between two samples
# may be missed, none is invented).  Both only printed: how large the
# -wal grows and how often it restarts while the writer runs depend on
# the CPU walship gets.
wal_watch() {
	_wp=0
	_wr=0
	_wh=$(od -An -tx1 -j12 -N12 "$db-wal" 2>/dev/null | tr -d ' \n')
	while bg_running batch; do
		_sz=$(stat -c %s "$db-wal" 2>/dev/null || echo 0)
		[ "$_sz" -le "$_wp" ] || _wp=$_sz
		_h=$(od -An -tx1 -j12 -N12 "$db-wal" 2>/dev/null | tr -d ' \n')
		# (An empty or missing -wal has no header yet: not a restart.)
		if [ -n "$_h" ]; then
			[ -z "$_wh" ] || [ "$_h" = "$_wh" ] || _wr=$((_wr + 1))
			_wh=$_h
		fi
		sleep 0.05
	done
	echo "$_wp" >"$T/peak.$1"
	echo "$_wr" >"$T/restarts.$1"
}

for ac in default 0; do
	args="-rate 0"
	[ "$ac" = default ] || args="-rate 20 -autocheckpoint $ac"
	# shellcheck disable=SC2086
	start_writer batch "$db" "$csv" -duration 6 -rows 1000 -size 1024 $args
	wal_watch "$ac"
	wait_bg batch 30 || fail "writer (autocheckpoint $ac) exited $?"
	# However far behind the writer left walship (on a loaded machine,
	# hundreds of MB), it catches up and brings the -wal down.
	wait_for '[ "$(stat -c %s "$db-wal")" -le '"$bound"' ]' 120
	echo "autocheckpoint=$ac seq=$(csv_last_seq "$csv")" \
		"wal_after=$(stat -c %s "$db-wal") (not asserted:" \
		"wal_peak=$(cat "$T/peak.$ac") restarts_seen=$(cat "$T/restarts.$ac"))"
done
# ...and stays down while nothing is written.
sleep 2 # an observation window, not synchronisation
[ "$(stat -c %s "$db-wal")" -le "$bound" ] ||
	fail "the -wal grew to $(stat -c %s "$db-wal") bytes with no writer"
n=$(csv_last_seq "$csv")
[ "$n" -ge 20 ] || fail "only $n transactions"
# SIGTERM ships everything committed.
stop_bg walship || fail "walship exited $?"

log_has walship 'continuity lost' && fail "continuity lost during the run"
[ "$(grep -c 'sync: new generation' "$T/walship.log")" -eq 1 ] ||
	fail "more than one generation"
[ "$(replica_gens "$url" | wc -l)" -eq 1 ] ||
	fail "replica generations: $(replica_gens "$url")"
# The WAL restarted (the first phase alone wrote far past the bound), and
# every restart seen reached the replica as a new WAL index.
idx=$("$WALSHIP" wal -json "$url" | python3 -c '
import json, sys
print(len({s["index"] for s in json.load(sys.stdin)}))')
restarts=$(($(cat "$T/restarts.default") + $(cat "$T/restarts.0")))
[ "$idx" -ge 2 ] || fail "one WAL index: the WAL never restarted"
[ "$idx" -gt "$restarts" ] ||
	fail "$restarts WAL restarts seen, but only $idx WAL indexes in the replica"
"$WALSHIP" restore -o "$T/restored.db" "$url"
assert_restored "$T/restored.db" "$n" "$csv"
assert_equal "$db" "$T/restored.db"
echo "indexes=$idx transactions=$n"
