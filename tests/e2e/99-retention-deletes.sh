#!/bin/sh
# Retention deletes (issue 5).  A check deletes exact keys in batches: on
# S3 DeleteObjects of up to 1000 keys (3 here, a test hook) and no
# listing per key; a directory replica unlinks the files and removes the
# directories this empties.  Each key the store refuses is logged at
# ERROR with its reason, at every check, until it goes: on S3 every
# DeleteObjects answer names every key as refused (an injected fault)
# until two checks in a row have had keys refused; on a directory, a
# file that cannot be unlinked (chattr +i; without the capability that
# check is skipped, and counted as skipped) is refused at two checks.
# Then every refused key goes.
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url ret)
export WALSHIP_TEST_S3_DELETE_BATCH=3
db_config "$T/walship.yml" "$db" ret min-checkpoint-page-count=40 \
	checkpoint-interval=1s -- sync-interval=100ms snapshot-interval=2s \
	retention=4s retention-check-interval=1s
start_writer writer "$db" "$T/tx.csv" -rate 20 -duration 14 -rows 2 -size 3000
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
wait_for 'log_has walship "snapshot written"' 20

# Keys the store refuses for a while.
pinned=""
if [ "$WS_REPLICA" = s3 ]; then
	wait_for 'log_has walship "retention: db=.* wal=[1-9]"' 20
	f0=$(grep -c 'retention: db=.* failed=[1-9]' "$T/walship.log" || :)
	s3_faults '{"rate":1,"kinds":["delete-errors"],"ops":["DeleteObjects"]}'
	# Two checks in a row with refused keys: each planned again what the
	# one before could not delete.
	wait_for '[ "$(grep -c "retention: db=.* failed=[1-9]" "$T/walship.log")" -ge $((f0 + 2)) ]' 30
	s3_faults '{"clear":true}'
	pinned=$(sed -n 's/.*retention: delete failed .* key=\([^ ]*\) .*AccessDenied.*/\1/p' \
		"$T/walship.log" | sort -u)
	[ -n "$pinned" ] || fail "no refused key logged with AccessDenied"
	twice=$(sed -n 's/.*retention: delete failed .* key=\([^ ]*\) .*/\1/p' \
		"$T/walship.log" | sort | uniq -d | grep -c . || :)
	[ "$twice" -ge 1 ] || fail "no key was refused at two checks"
	echo "$(echo "$pinned" | grep -c .) keys refused, $twice of them at two checks or more," \
		"$(s3_stat faults.delete-errors) DeleteObjects refused"
	[ "$(s3_stat faults.delete-errors)" -ge 2 ] ||
		fail "only $(s3_stat faults.delete-errors) DeleteObjects refused: not several batches"
else
	gen=$(replica_gens "$url")
	key=generations/$gen/wal/00000000_00000000.wal.lz4
	if chattr +i "$T/ret/$key" 2>"$T/chattr.err"; then
		# Refused at every check while it stays pinned, then deleted.
		pinned=$key
		wait_for '[ "$(grep -c "delete failed .* key=$pinned error=.*Operation not permitted" "$T/walship.log")" -ge 2 ]' 20
		chattr -i "$T/ret/$pinned"
	else
		skip "chattr +i failed ($(cat "$T/chattr.err")): no refused delete on the directory replica"
	fi
fi

# A refused key is planned again at a later check, and goes.
deleted_after_refusal() {
	awk '/retention: delete failed/ { f = 1; ok = 0 }
		/retention: db=.* failed=0/ { ok = f } END { exit !ok }' "$T/walship.log"
}
[ -z "$pinned" ] || wait_for deleted_after_refusal 20
wait_bg writer 40 || fail "writer exited $?"
n=$(csv_last_seq "$T/tx.csv")
stop_bg walship || fail "walship exited $?"
[ "$WS_REPLICA" != s3 ] || stats=$(s3_stats)

# What each check planned: keys deleted (whole generations are prefixes,
# none expected here), and how many it could not delete.
lines=$(grep 'retention: db=' "$T/walship.log")
counts() {
	echo "$lines" | sed 's/.* snapshots=\([0-9]*\) wal=\([0-9]*\) times=\([0-9]*\) records=\([0-9]*\) .*/\1 \2 \3 \4/'
}
keys=$(counts | awk '{ s += $1 + $2 + $3 + $4 } END { print s + 0 }')
batches=$(counts | awk '{ s += int(($1 + $2 + $3 + $4 + 2) / 3) } END { print s + 0 }')
recs=$(counts | awk '{ s += $4 } END { print s + 0 }')
failed=$(echo "$lines" | sed 's/.* failed=\([0-9]*\).*/\1/' | awk '{ s += $1 } END { print s + 0 }')
echo "$(echo "$lines" | grep -c .) checks deleted $keys keys ($recs index and digest records); $failed refused"
[ "$recs" -ge 1 ] || fail "no index or digest record was deleted: $lines"
echo "$lines" | grep -q 'generations=0 ' || fail "a generation was deleted: $lines"
[ "$keys" -ge 20 ] || fail "only $keys keys deleted: too few to tell"

# One ERROR line per refused key, each naming it and why.
[ "$(grep -c 'ERROR retention: delete failed db=.* key=generations/.* error="' "$T/walship.log")" -eq "$failed" ] ||
	fail "$failed keys refused, but: $(grep 'delete failed' "$T/walship.log")"
if [ -n "$pinned" ]; then
	[ "$failed" -ge 2 ] || fail "$failed refused keys"
	replica_ls "$url" >"$T/final" || fail "cannot list the replica"
	for k in $pinned; do
		grep -q "^$k " "$T/final" && fail "$k was refused, and never deleted"
	done
fi

if [ "$WS_REPLICA" = s3 ]; then
	# Exact keys in batches of 3, no listing per key, no single deletes.
	op() {
		echo "$stats" | tr -d ' \n' | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
	}
	[ "$(op DeleteObjects)" -eq "$batches" ] ||
		fail "$keys keys in batches of 3 want $batches DeleteObjects: $stats"
	[ -z "$(op DeleteObject)" ] || [ "$(op DeleteObject)" -eq 0 ] ||
		fail "single-key deletes: $stats"
	[ $(($(op ListObjectsV2) * 2)) -lt "$keys" ] ||
		fail "$(op ListObjectsV2) listings for $keys keys: $stats"
else
	# No directory emptied by retention is left behind.
	empty=$(find "$T/ret/generations" -mindepth 2 -type d -empty)
	[ -z "$empty" ] || fail "empty directories left: $empty"
fi

# The current generation still restores to the end.
"$WALSHIP" restore -o "$T/latest.db" "$url" 2>"$T/latest.log" ||
	fail "latest restore: $(cat "$T/latest.log")"
assert_restored "$T/latest.db" "$n" "$T/tx.csv"
