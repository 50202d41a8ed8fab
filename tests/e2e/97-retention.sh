#!/bin/sh
# Retention with a short window (issue 4): objects older than the window
# are deleted, every moment of the window stays restorable to the
# transaction, the current generation stays restorable, and nothing is
# deleted while a restore on this machine holds the replica's lock.
#
# The writer pauses at least 400 ms after each commit (wsload -gap), and
# each commit is restored to the point just before the next one begins
# (pitr_expect): every commit inside the window is checked, none is
# passed over, and a loaded machine has 400 ms to record each commit.
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url ret)
db_config "$T/walship.yml" "$db" ret min-checkpoint-page-count=40 \
	checkpoint-interval=1s -- sync-interval=1s snapshot-interval=2s \
	retention=12s retention-check-interval=2s
start_writer writer "$db" "$T/tx.csv" -rate 10 -gap 400 -duration 26 -rows 2 \
	-size 3000
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
wait_for 'log_has walship "retention: db=.* snapshots=[1-9]"' 20

# While a restore holds the lock, retention deletes nothing: the listing
# taken once the lock is held is still whole when it is let go, although
# checks ran meanwhile (snapshots every 2 s keep making older objects
# deletable), and the first check after it deletes some of those objects.
# The lock is the one file walship's retention and restores use for this
# replica under $XDG_RUNTIME_DIR/walship/ (the test's own).
lock=$(ls "$XDG_RUNTIME_DIR"/walship/*.lock)
[ "$(echo "$lock" | grep -c .)" -eq 1 ] || fail "lock files: $lock"
flock -s "$lock" sh -c ': >"$1"; while [ ! -e "$2" ]; do sleep 0.1; done' \
	sh "$T/held" "$T/release" &
held=$!
wait_for '[ -e "$T/held" ]' 10
# (A check logs its summary before it lets the lock go: every check that
# ended before the lock was taken is in the log by now.)
c0=$(grep -c 'retention: db=' "$T/walship.log" || :)
replica_ls "$url" >"$T/before" || fail "listing while the lock is held"
r0=$(grep -c 'a restore is reading' "$T/walship.log" || :)
wait_for '[ "$(grep -c "a restore is reading" "$T/walship.log")" -ge $((r0 + 2)) ]' 15
replica_ls "$url" >"$T/during" || fail "listing while the lock is held"
: >"$T/release"
wait "$held"
cut -d' ' -f1 "$T/during" >"$T/during.keys"
missing=$(cut -d' ' -f1 "$T/before" | grep -vxF -f "$T/during.keys" || :)
[ -z "$missing" ] || fail "deleted while a restore held the lock: $missing"
c1=$(grep -c 'retention: db=' "$T/walship.log" || :)
[ "$c1" -eq "$c0" ] || fail "a check deleted while the lock was held"
wait_for '[ "$(grep -c "retention: db=" "$T/walship.log")" -gt '"$c1"' ]' 10
replica_ls "$url" >"$T/after" || fail "listing after the lock"
cut -d' ' -f1 "$T/after" >"$T/after.keys"
gone=$(cut -d' ' -f1 "$T/during" | grep -cvxF -f "$T/after.keys" || :)
[ "$gone" -ge 1 ] ||
	fail "the first check after the lock deleted nothing that was due while it was held"
echo "lock held over $(($(grep -c 'a restore is reading' "$T/walship.log") - r0)) checks: nothing deleted; $gone objects deleted right after"

wait_bg writer 40 || fail "writer exited $?"
n=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$n" "$T/tx.csv"
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
[ -n "$first" ] || fail "no snapshot left"
[ "$first" != 00000000 ] || fail "the first snapshot was never deleted: $snaps"
segs=$(replica_files "$url" "generations/$gen/wal/") || fail "listing wal/"
low=$(echo "$segs" | cut -c1-8 | sort | head -1)
[ "$low" = "$first" ] || fail "WAL index $low below the oldest snapshot $first"
times=$(replica_files "$url" "generations/$gen/walship/times/") ||
	fail "listing walship/times/"
low=$(echo "$times" | sed 's/.*-//' | cut -c1-8 | sort | head -1)
[ -z "$low" ] || [ "$low" \> "$first" ] || [ "$low" = "$first" ] ||
	fail "times object ending at $low kept below $first"
# walship's records went with what they describe, and never before: each
# WAL index left has its index record and there is none below them; each
# snapshot left has its digest record, and no other snapshot has one.
irecs=$(replica_files "$url" "generations/$gen/walship/index/" | cut -c1-8 | sort)
missing=$(echo "$segs" | cut -c1-8 | sort -u | grep -vxF -e "$irecs" || :)
[ -z "$missing" ] || fail "WAL indexes without their index record: $missing"
low=$(echo "$irecs" | head -1)
[ "$low" = "$first" ] || fail "index records from $low, the oldest WAL index $first"
drecs=$(replica_files "$url" "generations/$gen/walship/snapshots/" |
	grep '\.digest\.lz4$' | cut -c1-8 | sort)
[ "$(echo $drecs)" = "$(echo $snaps)" ] ||
	fail "snapshots $(echo $snaps), digest records of $(echo $drecs)"

# Every moment of the window is restorable, to the transaction: every
# commit that ended at least 1 s inside the window, each at the point
# just before the next one began.
from=$((now - 11000000000))
want=0
for i in $(awk -F, -v f="$from" '$3 >= f { print $1 }' "$T/tx.csv"); do
	want=$((want + 1))
	pitr_expect "$url" "$T/tx.csv" "$i" ||
		fail "commit $i has no clean point although the writer paused"
done
[ "$want" -ge 10 ] || fail "only $want commits inside the window"
# The start of the window itself: every commit that ended 350 ms before
# it (the writer's pause, less a margin), and none that began after it.
s=$(pitr_seq "$url" "$T/tx.csv" "$from")
lo=$(awk -F, -v f="$from" '$3 + 350000000 <= f { s = $1 } END { print s + 0 }' "$T/tx.csv")
hi=$(awk -F, -v f="$from" '$2 <= f { s = $1 } END { print s + 0 }' "$T/tx.csv")
[ "$s" -ge "$lo" ] && [ "$s" -le "$hi" ] ||
	fail "at the window's start: seq $s, want $lo..$hi"
# The current generation restores to the end.
"$WALSHIP" restore -o "$T/latest.db" "$url" 2>"$T/latest.log" ||
	fail "latest restore: $(cat "$T/latest.log")"
assert_restored "$T/latest.db" "$n" "$T/tx.csv"
echo "$want commits of the window each restored exactly; window start: seq $s"
