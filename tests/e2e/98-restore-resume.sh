#!/bin/sh
# A restore of the newest state carries its position over (Litestream
# #393): `replicate` on the restored database continues the generation
# without a new snapshot, and the replica then restores to everything
# written to the restored database.  A restored database changed before
# replicate starts, or a replica that moved on since the restore, get a
# new generation instead.  An older state (-index, -timestamp) carries
# nothing, nor does a generation with no WAL segment after its snapshot,
# and restore says so.  Every restore is checked with the full oracle at
# the seq it must have; -index's seq is the one Litestream v0.3.13
# restores from the same replica at the same index.  On the replica
# backend WS_REPLICA picks (tests/lib.sh).
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica
need_litestream

url=$(replica_url replica)
# nsnaps GEN: how many snapshots GEN has; a failed listing fails the test.
nsnaps() {
	_ns=$(replica_files "$url" "generations/$1/snapshots/") ||
		fail "cannot list the snapshots of $1"
	echo "$_ns" | grep -c . || :
}

# A stream with a few WAL indexes.  Each 16 KiB row is about 5 pages,
# so 300 rows are some 1500 frames; walship seals an index at 200 (at
# most 400 while its replica lags), so even a slow walship (under
# ThreadSanitizer) cuts several indexes before the writer's last commit.
db_config "$T/a.yml" "$T/a.db" replica min-checkpoint-page-count=200
start_writer writer "$T/a.db" "$T/tx.csv" -rate 150 -count 300 -size 16384
start_bg w1 "$WALSHIP" replicate -config "$T/a.yml"
wait_bg writer 30 || fail "writer exited $?"
n=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$n" "$T/tx.csv"
stop_bg w1 || fail "walship exited $? on SIGTERM"
gen=$(replica_gens "$url")
[ "$(echo "$gen" | grep -c .)" -eq 1 ] || fail "expected one generation: $gen"
snaps=$(nsnaps "$gen")
[ "$snaps" -ge 1 ] || fail "generation $gen has no snapshot"

# 1. The newest state: the meta dir comes with it.
"$WALSHIP" restore -o "$T/b.db" "$url" 2>"$T/r1.log" ||
	fail "restore: $(cat "$T/r1.log")"
grep -q 'position carried over' "$T/r1.log" ||
	fail "no position carried over: $(cat "$T/r1.log")"
[ "$(cat "$T/.b.db-walship/generation")" = "$gen" ] ||
	fail "meta dir generation: $(cat "$T/.b.db-walship/generation")"
[ -f "$T/.b.db-walship/restored" ] || fail "no restore marker"
assert_restored "$T/b.db" "$n" "$T/tx.csv"

# The application is already writing when walship starts (its WAL holds
# every frame: a clean close would have checkpointed them into the file,
# and then the file is no longer the one restored).
cp "$T/tx.csv" "$T/b.csv"
start_writer wb "$T/b.db" "$T/b.csv" -rate 100 -count 250 -size 16384 \
	-autocheckpoint 0
wait_for '[ "$(csv_last_seq "$T/b.csv")" -ge $((n + 30)) ]' 10
start_bg w2 "$WALSHIP" replicate "$T/b.db" "$url"
wait_for "log_has w2 'replica position'" 15
log_has w2 'continuing the restored position' ||
	fail "w2 did not continue: $(grep -E 'generation|position' "$T/w2.log")"
wait_bg wb 30 || fail "writer exited $?"
n2=$(csv_last_seq "$T/b.csv")
wait_restores "$url" "$n2" "$T/b.csv"
stop_bg w2 || fail "walship exited $? on SIGTERM"
log_has w2 'new generation' && fail "w2 started a new generation"
[ -e "$T/.b.db-walship/restored" ] && fail "the marker was not used up"
[ "$(replica_gens "$url")" = "$gen" ] ||
	fail "more than one generation: $(replica_gens "$url")"
[ "$(nsnaps "$gen")" -eq "$snaps" ] ||
	fail "replicate took a new snapshot ($(nsnaps "$gen") != $snaps)"
"$WALSHIP" restore -o "$T/b2.db" "$url" 2>"$T/rb2.log" ||
	fail "restore: $(cat "$T/rb2.log")"
assert_restored "$T/b2.db" "$n2" "$T/b.csv"
assert_equal "$T/b.db" "$T/b2.db"

# 2. A restored file changed before replicate: a new generation, which
# then holds the changed database.
"$WALSHIP" restore -o "$T/c.db" "$url" 2>"$T/r2.log" ||
	fail "restore: $(cat "$T/r2.log")"
assert_restored "$T/c.db" "$n2" "$T/b.csv"
cp "$T/b.csv" "$T/c.csv"
start_writer wc "$T/c.db" "$T/c.csv" -count 20
wait_bg wc 20 || fail "writer exited $?"
# (closing the last connection checkpointed its WAL into the file)
start_bg w3 "$WALSHIP" replicate "$T/c.db" "$url"
wait_for "log_has w3 'new generation'" 15
log_has w3 'reason="database changed after it was restored"' ||
	fail "w3: $(grep 'generation' "$T/w3.log")"
n3=$(csv_last_seq "$T/c.csv")
wait_restores "$url" "$n3" "$T/c.csv"

# 3. The replica moves on after a restore: the restored copy must not
# continue it.
start_writer wc "$T/c.db" "$T/c.csv" -count 30
wait_bg wc 20 || fail "writer exited $?"
n4=$(csv_last_seq "$T/c.csv")
wait_restores "$url" "$n4" "$T/c.csv"
"$WALSHIP" restore -o "$T/d.db" "$url" 2>"$T/r3.log" ||
	fail "restore: $(cat "$T/r3.log")"
grep -q 'position carried over' "$T/r3.log" ||
	fail "no position carried over: $(cat "$T/r3.log")"
assert_restored "$T/d.db" "$n4" "$T/c.csv"
cp "$T/c.csv" "$T/d.csv"
start_writer wc "$T/c.db" "$T/c.csv" -count 30
wait_bg wc 20 || fail "writer exited $?"
n5=$(csv_last_seq "$T/c.csv")
wait_restores "$url" "$n5" "$T/c.csv"
stop_bg w3 || fail "walship exited $? on SIGTERM"
start_bg w4 "$WALSHIP" replicate "$T/d.db" "$url"
wait_for "log_has w4 'new generation'" 15
log_has w4 'ahead of or different' ||
	fail "w4: $(grep -E 'generation|position' "$T/w4.log")"
start_writer wd "$T/d.db" "$T/d.csv" -count 10
wait_bg wd 20 || fail "writer exited $?"
wait_restores "$url" "$(csv_last_seq "$T/d.csv")" "$T/d.csv"
stop_bg w4 || fail "walship exited $? on SIGTERM"
"$WALSHIP" restore -o "$T/d2.db" "$url" 2>"$T/rd2.log" ||
	fail "restore: $(cat "$T/rd2.log")"
assert_restored "$T/d2.db" "$(csv_last_seq "$T/d.csv")" "$T/d.csv"
assert_equal "$T/d.db" "$T/d2.db"

# 4. Older states carry nothing.  The first generation up to the end of
# its WAL index 0 is what Litestream restores with the same -index.
ls_url=$url
[ "$WS_REPLICA" != s3 ] || ls_url="s3://$S3_BUCKET.localhost:$PROXY_PORT/replica"
"$LITESTREAM" restore -generation "$gen" -index 0 -o "$T/e-ls.db" "$ls_url" \
	>"$T/r4-ls.log" 2>&1 || fail "litestream restore -index 0: $(tail -3 "$T/r4-ls.log")"
e_seq=$("$TOOLS/wscheck" -seq "$T/e-ls.db")
[ "$e_seq" -ge 1 ] && [ "$e_seq" -lt "$n" ] ||
	fail "index 0 of $gen ends at seq $e_seq: nothing older to restore"
"$WALSHIP" restore -generation "$gen" -index 0 -o "$T/e.db" "$url" 2>"$T/r4.log" ||
	fail "restore -index: $(cat "$T/r4.log")"
assert_restored "$T/e.db" "$e_seq" "$T/tx.csv"
assert_equal "$T/e-ls.db" "$T/e.db"
[ -e "$T/.e.db-walship" ] && fail "restore -index left a meta dir"
grep -q 'position carried over' "$T/r4.log" && fail "-index carried over"

# 5. The newest state of a generation that is only a snapshot (an idle
# database's) carries nothing: the shadow would need a WAL header the
# replica does not have.  Restore says so, and the next replicate starts
# a new generation.
idle=$(replica_url idle)
"$TOOLS/wsload" "$T/f.db" -count 5 -rate 0 -log "$T/f.csv" 2>/dev/null
start_bg w5 "$WALSHIP" replicate "$T/f.db" "$idle"
wait_for "log_has w5 'snapshot written'" 15
stop_bg w5 || fail "walship exited $? on SIGTERM"
gen5=$(replica_gens "$idle")
[ "$(echo "$gen5" | grep -c .)" -eq 1 ] || fail "expected one generation: $gen5"
[ -z "$(replica_files "$idle" "generations/$gen5/wal/")" ] ||
	fail "the idle database shipped a WAL segment: nothing to test"
"$WALSHIP" restore -o "$T/f2.db" "$idle" 2>"$T/r5.log" ||
	fail "restore: $(cat "$T/r5.log")"
why="restore: position not carried over: generation $gen5 has no WAL"
why="$why segment after its snapshot; the next replicate starts a new"
grep -qF "$why generation" "$T/r5.log" ||
	fail "snapshot-only restore did not say why: $(cat "$T/r5.log")"
grep -q 'position carried over in' "$T/r5.log" && fail "snapshot-only carried over"
[ -e "$T/.f2.db-walship" ] && fail "a snapshot-only restore left a meta dir"
assert_restored "$T/f2.db" "$(csv_last_seq "$T/f.csv")" "$T/f.csv"
start_bg w6 "$WALSHIP" replicate "$T/f2.db" "$idle"
wait_for "log_has w6 'snapshot written'" 15
stop_bg w6 || fail "walship exited $? on SIGTERM"
log_has w6 'continuing the restored position' &&
	fail "w6 continued a snapshot-only position"
"$WALSHIP" generations "$idle" >"$T/gens5.txt"
[ "$(sed 1d "$T/gens5.txt" | grep -c .)" -eq 2 ] ||
	fail "expected two generations: $(cat "$T/gens5.txt")"
grep -q " $gen5 " "$T/gens5.txt" || fail "$gen5 is gone: $(cat "$T/gens5.txt")"
gen6=$(awk -v g="$gen5" 'NR > 1 && $2 != g { print $2 }' "$T/gens5.txt")
log_has w6 "sync: new generation .*generation=$gen6 " ||
	fail "w6 did not start generation $gen6: $(grep generation "$T/w6.log")"
