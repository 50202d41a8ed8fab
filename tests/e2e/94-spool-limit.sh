#!/bin/sh
# The local spool limit: with the store down, walship's unshipped shadow
# WAL may grow only to max-spool-size; past it walship says so and leaves
# new frames in the application's -wal (its read lock keeps them there),
# the application keeps writing without errors, and once the store is
# back everything is shipped: nothing is dropped.
set -eu
. "$(dirname "$0")/../lib.sh"
need_s3

db=$T/db
url=$(replica_url spool)
"$TOOLS/wsload" "$db" -count 10 -log "$T/tx.csv" 2>/dev/null
db_config "$T/walship.yml" "$db" spool max-spool-size=300KB
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
wait_for "log_has walship 'snapshot written'" 10

s3_stop_server
start_writer app "$db" "$T/tx.csv" -rate 200 -duration 4 -autocheckpoint 0
wait_for "log_has walship 'spool limit reached'" 15
wait_bg app 30 || fail "the application saw errors while walship held frames"
# The shadow stayed near the limit: what did not fit is still in the -wal.
spool=$(du -sb "$T/.db-walship/generations" | cut -f1)
[ "$spool" -lt 3000000 ] || fail "spool grew to $spool bytes"
[ "$(stat -c %s "$db-wal")" -gt "$spool" ] ||
	fail "the -wal does not hold the frames the spool could not"

s3_start_server
n=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$n" "$T/tx.csv" 60
stop_bg walship || fail "walship exited $?"
"$WALSHIP" restore -o "$T/restored.db" "$url"
assert_restored "$T/restored.db" "$n" "$T/tx.csv"
assert_equal "$db" "$T/restored.db"
# One generation, the first: holding frames forked nothing.
gens=$(grep 'sync: new generation' "$T/walship.log")
[ "$(echo "$gens" | grep -c .)" -eq 1 ] ||
	fail "holding frames forked the generation: $gens"
echo "$gens" | grep -q 'reason="no generation exists"$' ||
	fail "the one generation was not the first: $gens"
[ "$(replica_gens "$url" | grep -c .)" -eq 1 ] ||
	fail "replica generations: $(replica_gens "$url")"
echo "spool held at $spool bytes; $n transactions restored"
