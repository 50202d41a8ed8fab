#!/bin/sh
# When periodic snapshots are taken (issue 14).  With snapshot-interval
# 1s: an idle database uploads nothing at all, interval after interval
# (Litestream v0.3 and earlier walships rewrote the same snapshot each
# time); a change in the WAL index that already has a snapshot defers
# the next one, which lands in the next index, with its own record, once
# the application writes again; the replica then restores exactly.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url sched)
db_config "$T/walship.yml" "$db" sched -- sync-interval=100ms \
	snapshot-interval=1s
"$TOOLS/wsload" "$db" -count 5 -log "$T/tx.csv" 2>>"$T/writer.log"
start_bg walship "$WALSHIP" replicate -v -config "$T/walship.yml"
wait_for 'log_has walship "snapshot written"' 20
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -eq 5 ]' 20

# Idle: nothing is uploaded, though snapshots fall due every second.
replica_times "$url" >"$T/before"
sleep 4
replica_times "$url" >"$T/after"
diff "$T/before" "$T/after" >"$T/idle.diff" ||
	fail "an idle database uploaded: $(cat "$T/idle.diff")"
log_has walship 'snapshot skipped .*nothing changed' ||
	fail "no 'snapshot skipped' decision in the log"
gen=$(replica_gens "$url")
[ "$(replica_files "$url" "generations/$gen/snapshots/")" = 00000000.snapshot.lz4 ] ||
	fail "snapshots: $(replica_files "$url" "generations/$gen/snapshots/")"

# One write changes index 0, which has its snapshot: the next one waits
# for index 1, which the next write starts.
"$TOOLS/wsload" "$db" -count 1 -log "$T/tx.csv" 2>>"$T/writer.log"
wait_for 'log_has walship "snapshot deferred .*index 00000000 already has a snapshot"' 10
wait_for 'log_has walship "checkpoint db=.* mode="' 10
"$TOOLS/wsload" "$db" -count 1 -log "$T/tx.csv" 2>>"$T/writer.log"
wait_for 'replica_files "$url" "generations/$gen/snapshots/" | grep -q "^00000001"' 10
# One image record each, and one digest record each.
all=$(replica_files "$url" "generations/$gen/walship/snapshots/")
[ "$(echo $(echo "$all" | grep '\.image\.lz4$' | cut -c1-8))" = "00000000 00000001" ] ||
	fail "snapshot records: $all"
wait_for '[ "$(replica_files "$url" "generations/$gen/walship/snapshots/" |
	grep -c "\.digest\.lz4$")" -eq 2 ]' 10
all=$(replica_files "$url" "generations/$gen/walship/snapshots/")
[ "$(echo "$all" | grep '\.digest\.lz4$' | cut -c1-34)" = "$(echo "$all" | grep '\.image\.lz4$' | cut -c1-34)" ] ||
	fail "digest records: $all"
[ "$(grep -c 'snapshot deferred' "$T/walship.log")" -eq 1 ] ||
	fail "the deferral was logged more than once at info"
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -eq 7 ]' 20
# The commit time of seq 7 (index 1) goes once writes have paused (2 s).
wait_for 'replica_files "$url" "generations/$gen/walship/times/" | grep -q -- "-00000001_"' 10

# Idle again: nothing more.
replica_times "$url" >"$T/before"
sleep 3
replica_times "$url" >"$T/after"
diff "$T/before" "$T/after" >"$T/idle.diff" ||
	fail "an idle database uploaded: $(cat "$T/idle.diff")"
stop_bg walship || fail "walship exited $?"
rm -rf "$T/r.db"
"$WALSHIP" restore -o "$T/r.db" "$url" >"$T/restore.log" 2>&1 ||
	fail "restore: $(tail -n 2 "$T/restore.log")"
assert_restored "$T/r.db" 7 "$T/tx.csv"
