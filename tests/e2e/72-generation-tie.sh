#!/bin/sh
# Two generations whose newest objects have the same time: restore must
# pick the live one, not the one whose name sorts last.  S3 gives object
# times in whole seconds, so a generation that ends in the second the
# next one starts (walship restarted on a database changed while it was
# down, or on a restored copy that moved on) ties with it, and the older
# generation then came back about once in ten runs of tests/e2e/98.
# Here the replica is a directory, whose times the test can set: every
# object of both generations gets the same second, and the older
# generation gets the name that sorts last.
set -eu
. "$(dirname "$0")/../lib.sh"

db=$T/db
csv=$T/tx.csv
url=file://$T/replica
"$TOOLS/wsload" "$db" -count 50 -log "$csv" 2>/dev/null
start_bg a "$WALSHIP" replicate "$db" "$url"
"$TOOLS/wsload" "$db" -count 100 -rate 200 -log "$csv" 2>/dev/null
n=$(csv_last_seq "$csv")
wait_restores "$url" "$n" "$csv"
stop_bg a || fail "walship exited $?"
old=$(replica_gens "$url")

# Down: the last connection checkpoints and deletes the WAL, so the next
# replicate cannot prove continuity and starts a new generation.
"$TOOLS/wsload" "$db" -count 100 -rate 300 -log "$csv" 2>/dev/null
start_bg b "$WALSHIP" replicate "$db" "$url"
wait_for "log_has b 'sync: new generation'" 10
"$TOOLS/wsload" "$db" -count 50 -rate 200 -log "$csv" 2>/dev/null
n=$(csv_last_seq "$csv")
wait_restores "$url" "$n" "$csv"
stop_bg b || fail "walship exited $?"
new=$(replica_gens "$url" | grep -v "^$old\$")
[ "$(echo "$new" | grep -c .)" -eq 1 ] || fail "expected one new generation: $new"

g=$T/replica/generations
mv "$g/$old" "$g/ffffffffffffffff"
mv "$g/$new" "$g/0000000000000000"
find "$T/replica" -type f -exec touch -d @1800000000 {} +

"$WALSHIP" restore -o "$T/r.db" "$url" 2>"$T/r.log" ||
	fail "restore: $(cat "$T/r.log")"
grep -q 'generation=0000000000000000' "$T/r.log" ||
	fail "restored the older generation: $(head -n 1 "$T/r.log")"
assert_restored "$T/r.db" "$n" "$csv"
assert_equal "$db" "$T/r.db"

# The generations listing shows both, with the same end time.
"$WALSHIP" generations "$url" >"$T/gens.txt" ||
	fail "generations: $(cat "$T/gens.txt")"
[ "$(grep -c 'ffffffffffffffff\|0000000000000000' "$T/gens.txt")" -eq 2 ] ||
	fail "generations: $(cat "$T/gens.txt")"
