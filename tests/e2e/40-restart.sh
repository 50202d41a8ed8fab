#!/bin/sh
# A walship restarted in the middle of a stream continues the same
# generation: after a clean stop (SIGTERM) and after a crash (SIGKILL),
# while the writer keeps committing.  The writer does not checkpoint
# (autocheckpoint off), so the WAL proves that nothing was missed and no
# new snapshot is needed.  On the replica backend WS_REPLICA picks
# (tests/lib.sh).
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url replica)
start_writer writer "$db" "$T/tx.csv" -rate 150 -duration 14 -autocheckpoint 0
start_bg w1 "$WALSHIP" replicate "$db" "$url"
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -ge 150 ]' 15
stop_bg w1 || fail "walship exited $? on SIGTERM"
gen=$(replica_gens "$url")
[ "$(echo "$gen" | grep -c .)" -eq 1 ] || fail "expected one generation: $gen"

# Down for a while: the writer keeps going.
n0=$(csv_last_seq "$T/tx.csv")
wait_for '[ "$(csv_last_seq "$T/tx.csv")" -ge $((n0 + 150)) ]' 10
start_bg w2 "$WALSHIP" replicate "$db" "$url"
wait_for "log_has w2 'replica position'" 10
n1=$(csv_last_seq "$T/tx.csv")
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -ge '"$n1"' ]' 15

# A crash: no final sync at all.
st=0
stop_bg w2 KILL || st=$?
[ "$st" -eq 137 ] || fail "walship exited $st on SIGKILL, want 137"
n2=$(csv_last_seq "$T/tx.csv")
wait_for '[ "$(csv_last_seq "$T/tx.csv")" -ge $((n2 + 150)) ]' 10
start_bg w3 "$WALSHIP" replicate "$db" "$url"
wait_bg writer 40 || fail "writer exited $?"
n=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$n" "$T/tx.csv"
stop_bg w3 || fail "walship exited $? on SIGTERM"

for w in w2 w3; do
	log_has $w 'new generation' && fail "$w started a new generation"
	log_has $w "replica position .*position=$gen/" ||
		fail "$w did not resume generation $gen"
done
[ "$(replica_gens "$url")" = "$gen" ] ||
	fail "more than one generation: $(replica_gens "$url")"
[ "$(replica_files "$url" "generations/$gen/snapshots/" | grep -c .)" -eq 1 ] ||
	fail "a restart took another snapshot"

"$WALSHIP" restore -o "$T/restored.db" "$url"
assert_restored "$T/restored.db" "$n" "$T/tx.csv"
assert_equal "$db" "$T/restored.db"

# A second replicator on the same database refuses to run.
start_bg w4 "$WALSHIP" replicate "$db" "$url"
wait_for "log_has w4 'replica position'" 10
other=$(replica_url other)
"$WALSHIP" replicate "$db" "$other" 2>"$T/second.log" &&
	fail "a second walship ran on the same database"
grep -q 'another walship is replicating' "$T/second.log" ||
	fail "unexpected error: $(cat "$T/second.log")"
stop_bg w4 || fail "walship exited $?"
