#!/bin/sh
# Restore drills: `walship verify` and validation-interval.
#
#  A. No false alarm under writes: a writer commits continuously (40
#     tx/s) while replicate runs a drill every 500 ms: each restores the
#     replica to the exact position it read the database at and compares
#     every page.  At least 50 drills, every one "validation ok", none
#     failed, at many different positions (the writes went on).
#  B. `walship verify` on the replica URL while replicate runs: exit 0,
#     one "verified" line with generation, position, time, size, pages
#     and SHA-256, and the live comparison said not to be made (a URL
#     names no database); on the database of the config it asks the
#     running replicate (its control socket) for a drill and prints its
#     result, "replica=NAME ok"; with -replica it restores on its own
#     and says why the live comparison was not made.  Nothing is left
#     in $TMPDIR or beside the database.
#  C. A divergence the chain cannot see: the writer stops, the replica
#     catches up, and the generation's snapshot is replaced by a valid
#     LZ4 image with one content bit changed (its checksum recomputed)
#     while its digest record is deleted (what a snapshot of Litestream's,
#     or one whose digest upload a crash lost, looks like).  Of the bit
#     positions tried, one is taken whose flip the WAL does not cover:
#     the restore then succeeds, passes integrity_check, and gives rows
#     different from the database (wscheck -eq).  `walship verify` passes
#     it (exit 0): the chain and integrity_check cannot see it.  The
#     running replicate's next drill fails: an error naming the database,
#     replica, generation and position; both copies kept in a failed-*
#     directory of <meta>/validation, named in the log, where the live
#     copy is byte for byte the database restored from the good snapshot
#     and the restored copy is the bad one; /healthz answers 503 saying
#     so, and /metrics counts the failed drill (walship_validation_failing
#     1), and `walship verify` of the database exits 6 with the running
#     replicate's failed drill.  (After A, /metrics counted at least 50
#     ok drills, none failed.)
#  D. Damage the chain does see (one bit of a WAL segment): `walship
#     verify` exits 6 with a line naming the replica as FAILED.
#  E. Bad input: no argument, a bad -timestamp, an unknown -replica.
#  F. The database changed behind SQLite's back while replicate was
#     stopped (16 bytes written into a page of the file that no frame of
#     the -wal holds, as a tool or a disk might): the restarted replicate
#     continues the generation (its -wal is the shadow's: nothing in the
#     chain can tell), and its first drill fails naming that page as the
#     first and only page that differs.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
# shellcheck source-path=SCRIPTDIR
set -eu
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-metrics.sh"
need_replica

db=$T/db
csv=$T/tx.csv
url=$(replica_url drill)
meta=$T/.db-walship
name=$WS_REPLICA

# A database file with real data in it, and an empty WAL, so that the
# generation's snapshot holds pages the WAL does not rewrite.
"$TOOLS/wsload" "$db" -rate 0 -count 1500 -rows 2 -size 1500 -log "$csv" \
	2>"$T/wsload0.log" || fail "wsload failed"
port=$(free_port)
db_config "$T/w.yml" "$db" drill -- sync-interval=200ms \
	validation-interval=500ms
printf 'addr: "127.0.0.1:%s"\n' "$port" >>"$T/w.yml"

# ---- A: drills under continuous writes ------------------------------------
start_writer writer "$db" "$csv" -rate 40 -rows 1 -size 1500
seq0=$(csv_last_seq "$csv")
start_bg walship "$WALSHIP" replicate -config "$T/w.yml"
wait_for '[ "$(grep -c "validation ok" "$T/walship.log")" -ge 50 ] ||
	! bg_running walship' 240
bg_running walship || fail "replicate exited: $(tail -n 1 "$T/walship.log")"
seq1=$(csv_last_seq "$csv")
oks=$(grep -c "validation ok db=$db replica=$name " "$T/walship.log")
[ "$oks" -ge 50 ] || fail "$oks drills name db=$db replica=$name"
# The drills' restore lines name the live database (and the replica,
# the generation and the position restored to), not the drill's copy.
log_has walship "restored in [0-9]+ms db=$db replica=$name generation=[0-9a-f]{16} position=[0-9a-f]{8}:[0-9]+$" ||
	fail "no drill's restore line names db=$db: $(grep -m 1 'restored in' "$T/walship.log")"
unnamed=$(grep -E ' (INFO|WARN|ERROR) (restor|the -)' "$T/walship.log" |
	grep -vF " db=$db " | grep -vE " db=$db\$" || :)
[ -z "$unnamed" ] ||
	fail "restore lines of the drills that do not name db=$db: $(echo "$unnamed" | head -n 3)"
! log_has walship "validation FAILED|validation not completed" ||
	fail "a drill under writes did not pass: $(grep -E 'validation (FAILED|not)' "$T/walship.log" | head -3)"
positions=$(grep -o "validation ok .* position=[0-9a-f]*:[0-9]*" "$T/walship.log" |
	sed 's/.*position=//' | sort -u | wc -l)
[ "$positions" -ge 25 ] ||
	fail "the drills saw only $positions positions: the writes did not go on"
[ "$seq1" -gt $((seq0 + 200)) ] ||
	fail "the writer committed only $((seq1 - seq0)) transactions meanwhile"
[ "$(scrape "$port" /metrics "$T/m1")" = "200 text/plain; version=0.0.4; charset=utf-8" ] ||
	fail "no /metrics"
check_exposition "$T/m1"
[ "$(metric "$T/m1" walship_validations_total 'result="ok"')" -ge 50 ] &&
	[ "$(metric "$T/m1" walship_validations_total 'result="failed"')" -eq 0 ] &&
	[ "$(metric "$T/m1" walship_validation_failing)" -eq 0 ] ||
	fail "metrics after the drills: $(grep walship_validation "$T/m1")"
echo "A: $oks drills ok at $positions positions while the writer committed $((seq1 - seq0)) transactions"

# ---- B: verify while replicate runs ---------------------------------------
mkdir "$T/tmp"
TMPDIR=$T/tmp "$WALSHIP" verify "$url" >"$T/v1.out" 2>"$T/v1.err" ||
	fail "verify $url exited $?: $(cat "$T/v1.err")"
grep -Eq "^replica=$name verified: generation=[0-9a-f]{16} position=[0-9a-f]{8}:[0-9]+ time=[^ ]+ \((commit|object) time\) size=[1-9][0-9]* pages=[1-9][0-9]* page_size=4096 sha256=[0-9a-f]{64} chain=ok integrity_check=ok$" "$T/v1.out" ||
	fail "verify printed: $(cat "$T/v1.out")"
grep -q "^live comparison: not made: a replica URL names no database$" "$T/v1.out" ||
	fail "verify did not say the live comparison was not made: $(cat "$T/v1.out")"
TMPDIR=$T/tmp "$WALSHIP" verify -config "$T/w.yml" "$db" >"$T/v2.out" \
	2>"$T/v2.err" || fail "verify $db exited $?: $(cat "$T/v2.err")"
grep -qx "live comparison: made by the running replicate of $db: replica=$name ok" "$T/v2.out" ||
	fail "verify of the live database printed: $(cat "$T/v2.out")"
TMPDIR=$T/tmp "$WALSHIP" verify -replica "$name" -config "$T/w.yml" "$db" \
	>"$T/v2b.out" 2>"$T/v2b.err" || fail "verify -replica exited $?: $(cat "$T/v2b.err")"
grep -q "^replica=$name verified: " "$T/v2b.out" ||
	fail "verify -replica printed: $(cat "$T/v2b.out")"
grep -q "^live comparison: not made: with -replica, " "$T/v2b.out" ||
	fail "verify -replica did not say the live comparison was not made: $(cat "$T/v2b.out")"
[ -z "$(ls -A "$T/tmp")" ] || fail "verify left $(ls -A "$T/tmp") in TMPDIR"
[ "$(find "$T" -maxdepth 1 -name 'db*' | sort | tr '\n' ' ')" = "$T/db $T/db-shm $T/db-wal " ] ||
	fail "verify wrote beside the database: $(find "$T" -maxdepth 1 -name 'db*')"

# ---- C: a divergence only the comparison sees -----------------------------
stop_bg writer || fail "writer exited $?"
last=$(csv_last_seq "$csv")
wait_restores "$url" "$last" "$csv" 30
cp "$T/.probe/db" "$T/clean.db"
gen=$(replica_gens "$url" | tail -n 1)
snap=generations/$gen/snapshots/00000000.snapshot.lz4
dig=$(replica_ls "$url" "generations/$gen/walship/snapshots/" |
	cut -d" " -f1 | grep '^generations/.*/00000000_.*\.digest\.lz4$') ||
	fail "no digest record of snapshot 00000000 in $gen"
replica_get "$url" "$snap" "$T/snap.lz4" || fail "cannot get $snap"
[ "$(replica_ls "$url" "generations/$gen/snapshots/" | wc -l)" -eq 1 ] ||
	fail "generation $gen has more than one snapshot"
# The bit to flip, chosen on a copy of the replica: the running
# replicate's drills see only the one planted.
if [ "$WS_REPLICA" = file ]; then
	cp -R "$T/drill" "$T/copy"
else
	replica_pull "$url" "$T/copy" || fail "cannot copy the replica"
fi
rm "$T/copy/$dig"
planted=
for k in 4 3 5 2 6 1 7; do
	"$TOOLS/wsdamage" lz4 "$T/bad.lz4" "content-flip$k" "$T/snap.lz4" ||
		fail "wsdamage failed"
	cp "$T/bad.lz4" "$T/copy/$snap"
	# wscheck may leave a -wal beside a database it found damaged, and
	# restore refuses to write beside a stale one.
	rm -f "$T/bad.db" "$T/bad.db-wal" "$T/bad.db-shm"
	if "$WALSHIP" restore -o "$T/bad.db" "file://$T/copy" >"$T/bad.log" 2>&1 &&
		! "$TOOLS/wscheck" -eq "$T/bad.db" "$T/clean.db" >/dev/null 2>&1; then
		planted=$k
		break
	fi
done
[ -n "$planted" ] || fail "no bit flip of the snapshot both restored and differed"
replica_del "$url" "$dig" || fail "cannot delete $dig"
replica_put "$url" "$snap" "$T/bad.lz4" || fail "cannot put $snap"
echo "C: snapshot $snap flipped at $planted/8 of its content, digest record deleted: restore succeeds with different rows"
"$WALSHIP" verify "$url" >"$T/v3.out" 2>"$T/v3.err" ||
	fail "verify caught the planted snapshot (exit $?), so this case does not show what the chain cannot see: $(cat "$T/v3.out")"
grep -q "^replica=$name verified: generation=$gen " "$T/v3.out" ||
	fail "verify printed: $(cat "$T/v3.out")"
wait_for 'log_has walship "validation FAILED db=$db replica=$name generation=$gen position=[0-9a-f]{8}:[0-9]+: the restored database differs from the database at that transaction"' 60
wait_for 'log_has walship "validation: both copies kept for diagnosis db=$db dir=$meta/validation/failed-"' 30
# The kept directory of that drill: the live copy is the database as the
# good snapshot restores it, the restored copy what the planted one does.
found=
for kept in $(grep -o "both copies kept for diagnosis db=$db dir=[^ ]*" "$T/walship.log" |
	sed 's/.*dir=//'); do
	[ -f "$kept/live.db" ] ||
		fail "the kept directory $kept holds: $(ls -A "$kept" 2>&1)"
	# (A drill that read the snapshot while it was replaced failed
	# without a restored copy.)
	[ -f "$kept/restored-0.db" ] || continue
	cmp -s "$kept/live.db" "$kept/restored-0.db" &&
		fail "the kept copies in $kept are equal"
	cmp -s "$kept/live.db" "$T/clean.db" &&
		cmp -s "$kept/restored-0.db" "$T/bad.db" && found=$kept
done
[ -n "$found" ] || fail "no kept directory holds the database and the planted restore"
echo "C: replicate's drill failed, copies kept in $found; verify passed the replica"
[ "$(scrape "$port" /healthz "$T/h2")" = "200 text/plain; charset=utf-8" ] &&
	fail "/healthz answers 200 after a failed drill: $(cat "$T/h2")"
grep -q "validation failed db=$db: replica=$name FAILED: " "$T/h2" ||
	fail "/healthz does not say the drill failed: $(cat "$T/h2")"
scrape "$port" /metrics "$T/m2" >/dev/null
[ "$(metric "$T/m2" walship_validations_total 'result="failed"')" -ge 1 ] &&
	[ "$(metric "$T/m2" walship_validation_failing)" -eq 1 ] ||
	fail "metrics after the failed drill: $(grep walship_validation "$T/m2")"
[ "$(find "$meta/validation" -maxdepth 1 -name 'failed-*' | wc -l)" -le 5 ] ||
	fail "more than 5 failed drills' directories kept: $(ls "$meta/validation")"
# walship verify of the live database asks the running replicate, whose
# drill fails: exit 6.
st=0
"$WALSHIP" verify -config "$T/w.yml" "$db" >"$T/v5.out" 2>"$T/v5.err" || st=$?
[ "$st" -eq 6 ] || fail "verify of the live database after the plant exited $st, want 6: $(cat "$T/v5.out" "$T/v5.err")"
grep -q "^live comparison: FAILED: .*replica=$name FAILED: " "$T/v5.out" ||
	fail "verify of the live database printed: $(cat "$T/v5.out")"
stop_bg walship || fail "walship exited $?"

# ---- D: damage the chain sees ---------------------------------------------
replica_put "$url" "$snap" "$T/snap.lz4" || fail "cannot put $snap back"
seg=$(replica_ls "$url" "generations/$gen/wal/" | cut -d" " -f1 | sed -n 2p)
replica_get "$url" "$seg" "$T/seg.lz4" || fail "cannot get $seg"
"$TOOLS/wsdamage" lz4 "$T/seg-bad.lz4" content-flip4 "$T/seg.lz4" ||
	fail "wsdamage failed"
replica_put "$url" "$seg" "$T/seg-bad.lz4" || fail "cannot put $seg"
st=0
"$WALSHIP" verify "$url" >"$T/v4.out" 2>"$T/v4.err" || st=$?
[ "$st" -eq 6 ] || fail "verify of a damaged segment exited $st, want 6: $(cat "$T/v4.err")"
grep -q "^replica=$name FAILED: " "$T/v4.out" ||
	fail "verify printed: $(cat "$T/v4.out")"
tail -n 1 "$T/v4.err" | grep -q "^walship: verify replica=$name: " ||
	fail "verify's last line: $(tail -n 1 "$T/v4.err")"

# ---- E: bad input ---------------------------------------------------------
st=0
"$WALSHIP" verify >/dev/null 2>"$T/e1.err" || st=$?
[ "$st" -eq 2 ] && grep -q "^walship: database path or replica URL required$" "$T/e1.err" ||
	fail "verify without an argument: exit $st, $(cat "$T/e1.err")"
st=0
"$WALSHIP" verify -timestamp yesterday "$url" >/dev/null 2>"$T/e2.err" || st=$?
[ "$st" -eq 2 ] && grep -q 'invalid value "yesterday" for flag -timestamp' "$T/e2.err" ||
	fail "verify -timestamp yesterday: exit $st, $(cat "$T/e2.err")"
st=0
"$WALSHIP" verify -replica nope -config "$T/w.yml" "$db" >/dev/null 2>"$T/e3.err" || st=$?
[ "$st" -ne 0 ] && grep -q "replica \"nope\" not found for database \"$db\"" "$T/e3.err" ||
	fail "verify -replica nope: exit $st, $(cat "$T/e3.err")"

# ---- F: the database changed behind SQLite's back --------------------------
db2=$T/two.db
url2=$(replica_url two)
"$TOOLS/wsload" "$db2" -rate 0 -count 300 -rows 2 -size 1500 \
	-log "$T/two.csv" 2>"$T/wsload2.log" || fail "wsload failed"
db_config "$T/two.yml" "$db2" two -- sync-interval=200ms \
	validation-interval=1s
start_bg two "$WALSHIP" replicate -config "$T/two.yml"
wait_for 'log_has two "snapshot written db=$db2 "' 30
# A -wal for the restart to continue from.
"$TOOLS/wsload" "$db2" -rate 50 -count 20 -log "$T/two.csv" \
	2>>"$T/wsload2.log" || fail "wsload failed"
wait_for 'log_has two "validation ok db=$db2 .* position=[0-9a-f]{8}:[1-9]"' 60
stop_bg two || fail "walship exited $?"
gen2=$(replica_gens "$url2" | tail -n 1)
pg=$(python3 -c "
import os, struct, sys
db, wal = sys.argv[1], sys.argv[1] + '-wal'
size = os.path.getsize(wal)
inwal = set()
with open(wal, 'rb') as f:
    off = 32
    while off + 24 <= size:
        f.seek(off)
        inwal.add(struct.unpack('>I', f.read(4))[0])
        off += 24 + 4096
pages = os.path.getsize(db) // 4096
pg = next(p for p in range(pages // 3, pages) if p not in inwal)
with open(db, 'r+b') as f:
    f.seek((pg - 1) * 4096 + 3000)
    f.write(b'X' * 16)
print(pg)
" "$db2") || fail "cannot write into $db2"
[ -n "$pg" ] || fail "no page of $db2 outside its -wal"
start_bg two2 "$WALSHIP" replicate -config "$T/two.yml"
wait_for 'log_has two2 "validation (ok|FAILED) db=$db2 "' 60
log_has two2 "new generation" &&
	fail "the restarted replicate started a new generation: this case needs the old one"
log_has two2 "validation FAILED db=$db2 replica=$name generation=$gen2 position=[0-9a-f]{8}:[0-9]+: the restored database differs from the database at that transaction \(read at [^)]*\): 1 pages differ, the first page $pg " ||
	fail "the drill after the raw write: $(grep 'validation' "$T/two2.log" | tail -n 2)"
stop_bg two2 || fail "walship exited $?"
echo "ok"
