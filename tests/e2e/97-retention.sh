#!/bin/sh
# Retention with a short window (issue 4): objects older than the window
# are deleted, every moment of the window stays restorable to the
# transaction, the current generation stays restorable, and nothing is
# deleted while a restore on this machine holds the replica's lock.
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url ret)
db_config "$T/walship.yml" "$db" ret min-checkpoint-page-count=40 \
	checkpoint-interval=1s -- sync-interval=1s snapshot-interval=2s \
	retention=12s retention-check-interval=2s
start_writer writer "$db" "$T/tx.csv" -rate 10 -duration 24 -rows 2 -size 3000
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
wait_for 'log_has walship "retention: db=.* snapshots=[1-9]"' 20

# While a restore holds the lock, retention deletes nothing.
if [ "$WS_REPLICA" = file ]; then
	lock="$XDG_RUNTIME_DIR/walship/$(printf %s "$T/ret" | sha256sum | cut -c1-64).lock"
	[ -f "$lock" ] || fail "no lock file at $lock"
	before=$(grep -c 'retention: db=' "$T/walship.log")
	flock -s "$lock" sleep 5 &
	held=$!
	wait_for 'log_has walship "a restore is reading"' 10
	wait "$held"
	wait_for '[ "$(grep -c "retention: db=" "$T/walship.log")" -gt '"$before"' ]' 10
fi

wait_bg writer 40 || fail "writer exited $?"
n=$(csv_last_seq "$T/tx.csv")
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -eq '"$n"' ]' 15
# One more check after the writer stopped.
c=$(grep -c 'retention: db=' "$T/walship.log")
wait_for '[ "$(grep -c "retention: db=" "$T/walship.log")" -gt '"$c"' ]' 10
now=$(date +%s%N)
stop_bg walship || fail "walship exited $?"

# Old objects are gone: the oldest snapshot left is the newest one at or
# before the cutoff (or later), and no segment is older than it.
gen=$(replica_gens "$url")
[ "$(echo "$gen" | grep -c .)" -eq 1 ] || fail "generations: $gen"
snaps=$(replica_files "$url" "generations/$gen/snapshots/" | cut -c1-8)
first=$(echo "$snaps" | head -1)
[ "$first" != 00000000 ] || fail "the first snapshot was never deleted: $snaps"
low=$(replica_files "$url" "generations/$gen/wal/" | cut -c1-8 | sort | head -1)
[ "$low" = "$first" ] || fail "WAL index $low below the oldest snapshot $first"
low=$(replica_files "$url" "generations/$gen/walship/times/" | sed 's/.*-//' |
	cut -c1-8 | sort | head -1)
[ -z "$low" ] || [ "$low" \> "$first" ] || [ "$low" = "$first" ] ||
	fail "times object ending at $low kept below $first"

# Every moment of the window is restorable, to the transaction: every
# commit that ended at least 1 s inside the window.
from=$((now - 11000000000))
ok=0
for i in $(awk -F, -v f="$from" '$3 >= f { print $1 }' "$T/tx.csv"); do
	if pitr_expect "$url" "$T/tx.csv" "$i"; then
		ok=$((ok + 1))
	fi
done
[ "$ok" -ge 10 ] || fail "only $ok commits checked inside the window"
# The start of the window itself restores too.
s=$(pitr_seq "$url" "$T/tx.csv" "$from")
[ "$s" -ge 1 ] || fail "the window start did not restore"
# The current generation restores to the end.
"$WALSHIP" restore -o "$T/latest.db" "$url" 2>"$T/latest.log" ||
	fail "latest restore: $(cat "$T/latest.log")"
assert_restored "$T/latest.db" "$n" "$T/tx.csv"
