#!/bin/sh
# A restore falls back on another replica when the one it picked fails
# its checks.  Two replicas of one database: `a`, a directory, and `b`,
# on the backend WS_REPLICA picks (two directories, or a directory and
# S3).  Each damaged object is the replica's newest (its time is
# rewritten), so the damaged copy is the one a restore picks first, and
# each case checks that it did:
#   1. a flipped byte in a's newest WAL segment: `restore -config` of the
#      database restores exactly from b (the same file as
#      `restore -replica b`), with a WARN naming a and the segment and a
#      WARN naming b; nothing else is left beside the output;
#   1b. a's first WAL index removed (a hole in its WAL: its plan fails):
#      restored exactly from b, with a WARN naming a;
#   2. a flipped byte in b's snapshot: restored exactly from a, at the
#      newest state and at a -timestamp (the same file as
#      `restore -replica a -timestamp`);
#   3. both damaged (b's snapshot still, a's segment again): exit 6, one
#      line naming both replicas, nothing left;
#   4. `-replica b` with b damaged and a intact: exit 6, no fallback;
#   5. restore on boot (`replicate -restore-if-db-not-exists`) with a's
#      segment damaged: restored exactly from b, then replication starts;
#   6. a holds more than b (replicated alone later) and a's newest
#      segment is damaged: b's older state is restored, with a WARN
#      giving both positions.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
# shellcheck source-path=SCRIPTDIR
set -eu
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
csv=$T/tx.csv
ua=file://$T/ra
ub=$(replica_url rb)
cfg=$T/two.yml
{
	echo "dbs:"
	echo "  - path: $db"
	echo "    replicas:"
	echo "      - name: a"
	echo "        path: $T/ra"
	echo "        sync-interval: 200ms"
	echo "      - name: b"
	replica_yaml rb 8
	echo "        sync-interval: 200ms"
} >"$cfg"

# flip URL KEY: invert the byte in the middle of object KEY; rewritten,
# the object is the newest of its replica.
flip() {
	replica_get "$1" "$2" "$T/obj" || fail "cannot read $2"
	_f_off=$(($(stat -c %s "$T/obj") / 2))
	_f_b=$(od -An -tu1 -j "$_f_off" -N1 "$T/obj" | tr -d ' ')
	# shellcheck disable=SC2059 # the format is the byte
	printf "\\$(printf %03o $((255 - _f_b)))" |
		dd of="$T/obj" bs=1 seek="$_f_off" count=1 conv=notrunc 2>/dev/null
	replica_put "$1" "$2" "$T/obj" || fail "cannot write $2"
}

# newest URL KIND: the key of the newest object of KIND (wal, snapshot).
newest() {
	replica_times "$1" | grep -E "^generations/[0-9a-f]+/${2}s?/[0-9a-f_]+\.$2\.lz4 " |
		sort -k3,3n | tail -n 1 | cut -d" " -f1
}

# save URL KEY NAME / put_back URL KEY NAME: keep an object, put it back.
save() {
	replica_get "$1" "$2" "$T/saved-$3" || fail "cannot read $2"
}
put_back() {
	sleep 1.1 # S3 dates objects to the second: keep the next damage newer
	replica_put "$1" "$2" "$T/saved-$3" || fail "cannot write $2"
	sleep 1.1
}

# restore_cfg NAME ARGS...: walship restore -config ARGS..., output and
# status kept as $T/NAME.log and $st.
restore_cfg() {
	_r_n=$1
	shift
	st=0
	"$WALSHIP" restore -config "$cfg" "$@" >"$T/$_r_n.log" 2>&1 || st=$?
}

# tried_first LOG REPLICA: the first plan was REPLICA's (the damaged
# copy), else the case proves nothing.
tried_first() {
	_t=$(grep -m1 -o 'restoring from replica=[^ ]*' "$1") || true
	[ "$_t" = "restoring from replica=$2" ] ||
		fail "$(basename "$1"): the damaged replica $2 was not tried first ($_t): the case proves nothing"
}

# only_output DIR NAME: DIR holds NAME and nothing else.
only_output() {
	_o=$(ls -A "$1")
	[ "$_o" = "$2" ] || fail "$1 holds \"$_o\", want only \"$2\""
}

# ---- replicate to both -----------------------------------------------------
"$TOOLS/wsload" "$db" -rate 0 -count 200 -log "$csv" 2>"$T/wsload0.log" ||
	fail "wsload failed"
start_writer w1 "$db" "$csv" -rate 100
start_bg ws1 "$WALSHIP" replicate -config "$cfg"
wait_for '[ "$(csv_last_seq "$csv")" -ge 500 ]' 30
stop_bg w1 || fail "writer exited $?"
n1=$(csv_last_seq "$csv")
wait_restores "$ua" "$n1" "$csv" 30
wait_restores "$ub" "$n1" "$csv" 30
stop_bg ws1 || fail "walship exited $? on SIGTERM"
"$WALSHIP" restore -config "$cfg" -replica a -o "$T/good-a.db" "$db" \
	>"$T/good-a.log" 2>&1 || fail "restore of a failed: $(tail -2 "$T/good-a.log")"
"$WALSHIP" restore -config "$cfg" -replica b -o "$T/good-b.db" "$db" \
	>"$T/good-b.log" 2>&1 || fail "restore of b failed: $(tail -2 "$T/good-b.log")"
assert_restored "$T/good-a.db" "$n1" "$csv"
assert_equal "$T/good-a.db" "$T/good-b.db"
sleep 1.1

# fallback_case N URL KEY BAD GOOD GOOD_DB: object KEY of replica BAD
# damaged (and so its newest), `restore -config` restores exactly
# GOOD_DB from replica GOOD, says both, and leaves nothing else beside
# the output ($T/oN/db; its log $T/rN.log).
fallback_case() {
	flip "$2" "$3"
	mkdir "$T/o$1"
	restore_cfg "r$1" -o "$T/o$1/db" "$db"
	[ "$st" -eq 0 ] || fail "restore with $3 of $4 damaged exited $st: $(tail -3 "$T/r$1.log")"
	tried_first "$T/r$1.log" "$4"
	said_fallback "$1" "$4" "$5" "failed its restore, trying the other replicas db=[^ ]*: .*$(basename "$3")"
	only_output "$T/o$1" db
	assert_restored "$T/o$1/db" "$n1" "$csv"
	assert_equal "$T/o$1/db" "$6"
}

# said_fallback N BAD GOOD TEXT: $T/rN.log says that replica BAD
# failed (TEXT), and the fallback to GOOD, and not that GOOD holds less.
said_fallback() {
	grep -q "WARN restore: replica $2 $4" "$T/r$1.log" ||
		fail "no WARN naming replica $2 ($4): $(grep WARN "$T/r$1.log" | head -3)"
	grep -q "WARN restore: falling back to replica $3 db=[^ ]*: generation\|INFO restoring from replica=$3 " "$T/r$1.log" ||
		fail "no fallback to replica $3: $(grep WARN "$T/r$1.log" | head -3)"
	! grep -q "holds less" "$T/r$1.log" ||
		fail "$3 said to hold less: $(grep WARN "$T/r$1.log" | tail -1)"
}

# ---- 1. a's newest segment damaged: restored from b --------------------------
sega=$(newest "$ua" wal)
[ -n "$sega" ] || fail "no WAL segment in replica a"
save "$ua" "$sega" sega
fallback_case 1 "$ua" "$sega" a b "$T/good-b.db"
echo "1: a's segment $(basename "$sega") flipped: restored from b, $n1 rows"
put_back "$ua" "$sega" sega

# ---- 1b. a's first WAL index removed (a hole: a's plan fails) ------------------
# a is still the newest, by the segment just put back; the WAL of the
# snapshot's index is gone while the next index is there: damage, not
# a crash, and a's generation cannot be planned.  b's is restored.
segs=$(replica_ls "$ua" | cut -d" " -f1 | grep -E '/wal/[0-9a-f_]+\.wal\.lz4$')
hole=$(echo "$segs" | grep '/wal/00000000_') || true
if [ -z "$hole" ] || ! echo "$segs" | grep -q '/wal/00000001_'; then
	fail "want WAL segments in indexes 0 and 1: $segs"
fi
k=0
for key in $hole; do
	k=$((k + 1))
	save "$ua" "$key" "hole$k"
	replica_del "$ua" "$key" || fail "cannot delete $key"
done
mkdir "$T/o1b"
restore_cfg r1b -o "$T/o1b/db" "$db"
[ "$st" -eq 0 ] || fail "restore with a's index 0 missing exited $st: $(tail -3 "$T/r1b.log")"
said_fallback 1b a b "cannot be restored, trying the other replicas db=[^ ]*: "
grep -q "INFO restoring from replica=b " "$T/r1b.log" ||
	fail "not restored from b: $(grep restoring "$T/r1b.log")"
only_output "$T/o1b" db
assert_restored "$T/o1b/db" "$n1" "$csv"
assert_equal "$T/o1b/db" "$T/good-b.db"
echo "1b: a's index 0 removed: restored from b: $(grep -o 'replica a cannot be restored.*' "$T/r1b.log" | head -c 300)"
k=0
for key in $hole; do
	k=$((k + 1))
	replica_put "$ua" "$key" "$T/saved-hole$k" || fail "cannot write $key"
done
sleep 1.1

# ---- 2. b's snapshot damaged: restored from a --------------------------------
snapb=$(newest "$ub" snapshot)
[ -n "$snapb" ] || fail "no snapshot in replica b"
save "$ub" "$snapb" snapb
fallback_case 2 "$ub" "$snapb" b a "$T/good-a.db"
# A -timestamp in the middle: the same state as a's own at that time.
mid=$(awk -F, -v i=$((n1 - 150)) '$1 == i { print $3 }' "$csv")
[ -z "$mid" ] || mid=$((mid + 60000000)) # the commit time recorded is a little after it ended
[ -n "$mid" ] || fail "no commit $((n1 - 150)) in $csv"
ts=$(date -u -d "@$((mid / 1000000000))" +%Y-%m-%dT%H:%M:%S).$(printf %09d $((mid % 1000000000)))Z
"$WALSHIP" restore -config "$cfg" -replica a -timestamp "$ts" \
	-o "$T/mid-a.db" "$db" >"$T/mid-a.log" 2>&1 ||
	fail "restore -replica a -timestamp $ts failed: $(tail -2 "$T/mid-a.log")"
restore_cfg r2t -timestamp "$ts" -o "$T/o2/mid.db" "$db"
[ "$st" -eq 0 ] || fail "restore -timestamp with b's snapshot damaged exited $st: $(tail -3 "$T/r2t.log")"
tried_first "$T/r2t.log" b
grep -q "WARN restore: falling back to replica a" "$T/r2t.log" ||
	fail "-timestamp: no fallback said: $(grep WARN "$T/r2t.log" | head -3)"
assert_equal "$T/o2/mid.db" "$T/mid-a.db"
assert_restored "$T/o2/mid.db" ">=$((n1 - 150))" "$csv"
echo "2: b's snapshot flipped: restored from a, newest and at $ts (seq $AR_SEQ)"

# ---- 3. both damaged: exit 6 naming both -------------------------------------
flip "$ua" "$sega"
mkdir "$T/o3"
restore_cfg r3 -o "$T/o3/db" "$db"
[ "$st" -eq 6 ] || fail "restore with both damaged exited $st, want 6: $(tail -3 "$T/r3.log")"
tail -n 1 "$T/r3.log" | grep -q "restore failed from every replica: replica a: .*$(basename "$sega").*; replica b: .*$(basename "$snapb")" ||
	fail "the error does not name both replicas: $(tail -1 "$T/r3.log")"
only_output "$T/o3" ""
echo "3: both damaged: exit 6: $(tail -c 200 "$T/r3.log")"
put_back "$ua" "$sega" sega

# ---- 4. -replica: no fallback ------------------------------------------------
mkdir "$T/o4"
restore_cfg r4 -replica b -o "$T/o4/db" "$db"
[ "$st" -eq 6 ] || fail "restore -replica b (damaged) exited $st, want 6: $(tail -3 "$T/r4.log")"
grep -q "falling back\|trying the other" "$T/r4.log" &&
	fail "-replica b fell back: $(grep WARN "$T/r4.log" | head -3)"
tail -n 1 "$T/r4.log" | grep -q "$(basename "$snapb")" ||
	fail "the error does not name $snapb: $(tail -1 "$T/r4.log")"
only_output "$T/o4" ""
echo "4: -replica b: exit 6, no fallback"
put_back "$ub" "$snapb" snapb

# ---- 5. restore on boot falls back -------------------------------------------
flip "$ua" "$sega"
cp "$db" "$T/db.before"
rm -rf "$db" "$db-wal" "$db-shm" "$T/.db-walship"
start_bg boot "$WALSHIP" replicate -restore-if-db-not-exists -config "$cfg"
wait_for "log_has boot 'restore on boot: restored db=$db' || ! bg_running boot" 60
bg_running boot || fail "replicate exited: $(tail -3 "$T/boot.log")"
tried_first "$T/boot.log" a
log_has boot "WARN restore: replica a failed its restore, trying the other replicas db=[^ ]*: .*$(basename "$sega")" ||
	fail "on boot: no WARN naming replica a: $(grep WARN "$T/boot.log" | head -3)"
log_has boot "WARN restore: falling back to replica b" ||
	fail "on boot: no WARN naming replica b"
wait_for "log_has boot 'initialized db'" 30
stop_bg boot || fail "walship exited $? on SIGTERM"
assert_restored "$db" "$n1" "$csv"
echo "5: on boot: restored from b, $n1 rows"

# ---- 6. the other replica holds less: said, with both positions ---------------
sed -n '/^      - name: b/q; p' "$cfg" >"$T/one.yml"
if ! grep -q "name: a" "$T/one.yml" || grep -q "rb" "$T/one.yml"; then
	fail "one.yml: $(cat "$T/one.yml")"
fi
start_writer w2 "$db" "$csv" -rate 100
start_bg ws2 "$WALSHIP" replicate -config "$T/one.yml"
wait_for '[ "$(csv_last_seq "$csv")" -ge $((n1 + 200)) ]' 30
stop_bg w2 || fail "writer exited $?"
n2=$(csv_last_seq "$csv")
wait_restores "$ua" "$n2" "$csv" 30
stop_bg ws2 || fail "walship exited $? on SIGTERM"
sleep 1.1
seg2=$(newest "$ua" wal)
flip "$ua" "$seg2"
mkdir "$T/o6"
restore_cfg r6 -o "$T/o6/db" "$db"
[ "$st" -eq 0 ] || fail "restore with a ahead and damaged exited $st: $(tail -3 "$T/r6.log")"
tried_first "$T/r6.log" a
grep -q "WARN restore: replica b holds less than replica a did db=[^ ]*: restoring generation [0-9a-f]* position [0-9a-f]*:[0-9]* (.*), an older state than generation [0-9a-f]* position [a-z ]*[0-9a-f]*:[0-9]* (.*) that replica a listed" "$T/r6.log" ||
	fail "no WARN with both positions: $(grep WARN "$T/r6.log" | head -4)"
only_output "$T/o6" db
assert_restored "$T/o6/db" "$n1" "$csv"
echo "6: a ahead ($n2) and damaged: b's $n1 restored, said: $(grep -o 'replica b holds less.*' "$T/r6.log" | head -c 400)"
