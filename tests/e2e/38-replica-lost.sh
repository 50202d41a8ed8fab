#!/bin/sh
# A replica that loses its history while walship writes to it (its
# directory deleted, or every object under its prefix): segments written
# after that would have no snapshot under them, and the replica could not
# be restored (before, walship recreated the directory, wrote segments
# and logged success).  walship must notice before the next segment on a
# directory replica, and at its next listing on S3 (retention's, every
# retention-check-interval, here 2 s); say so once ("replica lost its
# history"); start a new generation with that reason; and the replica
# must then restore exactly, and again after a restart.  This is a
# repair, not a wait: there is no stalled state to measure.
# On the replica backend WS_REPLICA picks (tests/lib.sh).
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/app.db
url=$(replica_url lost)
db_config "$T/walship.yml" "$db" lost -- sync-interval=200ms \
	retention=1h retention-check-interval=2s
"$TOOLS/wsload" "$db" -count 20 -rate 0 -log "$T/tx.csv" 2>/dev/null
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
wait_for 'log_has walship "snapshot written"' 10
start_writer app "$db" "$T/tx.csv" -rate 20 -duration 12
wait_for '[ "$(probe_seq "$WALSHIP" "'"$url"'")" -ge 40 ]' 20
gen=$(replica_gens "$url")
[ "$(echo "$gen" | wc -l)" -eq 1 ] || fail "want one generation: $gen"

# Lose it all while the application writes.
if [ "$WS_REPLICA" = file ]; then
	# walship may add a segment while rm walks the tree ("Directory not
	# empty"): try again.
	i=0
	until rm -rf "$T/lost" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 20 ] || fail "cannot remove $T/lost"
	done
else
	replica_del "$url" generations/
fi
[ -z "$(replica_files "$url" "generations/$gen/snapshots/")" ] ||
	fail "the snapshot of $gen is still there"
wait_for "log_has walship 'replica lost its history db=$db replica=$WS_REPLICA generation=$gen '" 10
wait_for "log_has walship 'new generation db=$db generation=[0-9a-f]+ reason=\"replica $WS_REPLICA lost its history\"'" 5
wait_bg app 30 || fail "writer exited $?"

# Caught up: the new generation restores exactly, and has its snapshot.
n=$(csv_last_seq "$T/tx.csv")
wait_for '[ "$(probe_seq "$WALSHIP" "'"$url"'")" -eq '"$n"' ]' 30
"$WALSHIP" restore -o "$T/r1.db" "$url"
assert_restored "$T/r1.db" "$n" "$T/tx.csv"
[ "$(grep -c 'replica lost its history' "$T/walship.log")" -eq 1 ] ||
	fail "said more than once: $(grep 'lost its history' "$T/walship.log")"
new=$(replica_gens "$url" | grep -v "^$gen\$")
[ "$(echo "$new" | wc -l)" -eq 1 ] || fail "want one new generation: $new"
replica_files "$url" "generations/$new/snapshots/" | grep -q . ||
	fail "generation $new has no snapshot"

# A restart continues the new generation, and the replica still restores.
stop_bg walship || fail "walship exited $?"
start_bg walship2 "$WALSHIP" replicate -config "$T/walship.yml"
wait_for "log_has walship2 'replica position .*position=$new/'" 10
"$TOOLS/wsload" "$db" -count 20 -rate 50 -log "$T/tx.csv" 2>/dev/null
n=$(csv_last_seq "$T/tx.csv")
wait_for '[ "$(probe_seq "$WALSHIP" "'"$url"'")" -eq '"$n"' ]' 30
stop_bg walship2 || fail "walship exited $?"
log_has walship2 'new generation' && fail "the restart forked the generation"
"$WALSHIP" restore -o "$T/r2.db" "$url"
assert_restored "$T/r2.db" "$n" "$T/tx.csv"
assert_equal "$db" "$T/r2.db"
