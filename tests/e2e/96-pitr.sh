#!/bin/sh
# Point-in-time restore oracle (issue 4, and the snapshots of issue 14).
# A writer logs (seq, begin and end of each commit, running digest)
# while walship replicates; restores at chosen times must give exactly
# the committed prefix for that time: wscheck proves the prefix (digest
# of every row against the writer's log) and its seq must be the last
# transaction that committed before T.
#
#  A-C: WAL restarts, periodic snapshots, a walship restart and a
#       generation change (a TRUNCATE checkpoint while walship is down):
#       24 random commits, the last commit of each WAL index and the
#       first of the next, the two gaps, the newest commit and 1 us
#       before it, after the newest data, before the oldest.
#  D:   periodic snapshots every 5 s with the default checkpoint
#       settings, so the WAL index moves only when walship asks: 5
#       rows, replicate, a row every 100 ms for 12 s.  Each snapshot in
#       an index of its own, one record each, and 24 random commits.
#  E:   retention's snapshot ("newest snapshot is older than the
#       window") with no snapshot-interval: 24 random commits, each
#       exact, or refused only when retention may have deleted it.
#  F:   D's replica as an earlier walship left it: one snapshot object
#       rewritten to a later state of its index, two raw records.
#       Moments between the records must not take the later state.
#  G:   a newer generation that cannot be restored (a snapshot whose
#       record needs WAL the replica lacks): the latest state and -list
#       come from the older generation, with a warning naming it; a
#       time after it began cannot be built and is refused, naming it,
#       and -generation of the older one restores that one's newest.
#  H:   a damaged commit-time object (the newest): the latest state
#       reads it only to check that its segments reach its last commit,
#       and restores exactly, saying once that it cannot read it; a time
#       restore uses object times for that generation, says so once, and
#       includes nothing committed after the time.
#
# T is placed 1 ms before the next commit began, at least 20 ms after
# the commit ended (5 tx/s leave ~200 ms between commits, D's 10 tx/s
# ~100 ms): walship records the moment it observed each commit, normally
# within a few ms of it, later on a loaded machine.  A commit with no
# such clean point is replaced by another draw; all 24 are checked.
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url pitr)
db_config "$T/walship.yml" "$db" pitr min-checkpoint-page-count=40 \
	checkpoint-interval=2s -- sync-interval=1s snapshot-interval=5s
run_walship() {
	start_bg "walship$1" "$WALSHIP" replicate -config "$T/walship.yml"
	wait_for 'log_has walship'"$1"' "snapshot written|replica position"' 20
}
write() {
	"$TOOLS/wsload" "$db" -rate 5 -duration "$1" -rows 2 -size 3000 \
		-log "$T/tx.csv" 2>>"$T/writer.log" || fail "writer failed"
}
now_ns() { date +%s%N; }
seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
echo "seed=$seed" >"$T/seed.log"

# pitr_exact URL CSV I: a restore at the last moment before commit I+1
# began (1 ms before; 1 s after I without one) is the committed prefix
# up to I, by the writer's log and digest: 0.  1, checking nothing, when
# that moment is not 20 ms after I ended.  2 when it stops short of I
# because walship observed I only after that moment (a loaded machine):
# no commit record of $RECS lies between the moment restored to and T.
# A restore past I, or short of I with such a record, fails the test.
pitr_exact() {
	_px_e=$(awk -F, -v i="$3" '$1 == i { print $3 }' "$2")
	_px_b=$(awk -F, -v i="$3" '$1 == i + 1 { print $2 }' "$2")
	[ -n "$_px_e" ] || fail "no commit $3 in $2"
	if [ -n "$_px_b" ]; then
		_px_t=$((_px_b - 1000000))
	else
		_px_t=$((_px_e + 1000000000))
	fi
	[ "$_px_t" -ge $((_px_e + 20000000)) ] || return 1
	_px_got=$(pitr_seq "$1" "$2" "$_px_t")
	[ "$_px_got" != "$3" ] || return 0
	_px_ms=$(((_px_t - _px_e) / 1000000))
	[ "$_px_got" -lt "$3" ] ||
		fail "$_px_ms ms after commit $3 ended, before $(($3 + 1)) began: restored seq $_px_got"
	_px_at=$(sed -n 's/.*restoring from .* time=\([^ ]*\) (.*/\1/p' "$T/.pitr.log")
	_px_at=$(date -u -d "$_px_at" +%s%6N)
	if awk -v a="$_px_at" -v t="$((_px_t / 1000))" '$1 > a && $1 <= t { f = 1 } END { exit !f }' "$RECS"; then
		fail "$_px_ms ms after commit $3 ended: restored seq $_px_got, but walship recorded a commit between its time and then"
	fi
	echo "commit $3 of $2: walship observed it more than $_px_ms ms late" >>"$T/late.log"
	return 2
}

# random_exact URL CSV N: 24 commits out of 2..N (seeded draws), each
# restored by pitr_exact; fails unless all 24 had a clean point within
# 200 draws.
random_exact() {
	_re_ok=0
	for _re_i in $(awk -v n="$3" -v s="$seed" 'BEGIN { srand(s); for (j = 0; j < 200; j++) print 2 + int(rand() * (n - 2)) }'); do
		[ "$_re_ok" -lt 24 ] || break
		_re_rc=0
		pitr_exact "$1" "$2" "$_re_i" || _re_rc=$?
		[ "$_re_rc" -eq 1 ] || _re_ok=$((_re_ok + 1))
	done
	[ "$_re_ok" -eq 24 ] || fail "$1: only $_re_ok of 24 random commits had a clean point"
	checked=$((checked + 24))
}

# The WAL position a restore's plan line names ("00000003:41232").
plan_target() {
	sed -n 's/.*restoring from replica=.* target=\([0-9a-f]*:[0-9a-z]*\) .*/\1/p' "$1"
}

# A: replicate while writing; WAL restarts and snapshots happen.
"$TOOLS/wsload" "$db" -count 1 -log "$T/tx.csv" 2>>"$T/writer.log"
run_walship 1
write 10
stop_bg walship1 || fail "walship exited $?"
gap1=$(now_ns)
# B: walship restarts in the same generation.
run_walship 2
write 8
stop_bg walship2 || fail "walship exited $?"
# C: the application writes and checkpoints while walship is down: a new
# generation.  (A checkpoint alone may change nothing in the file: when
# the stop found the index sealed, the stop's proof still holds, and the
# generation rightly goes on.)
# (The gap's moment is taken before that write, which walship, down,
# could not record: a restore there gives the commit before it.)
gap2=$(now_ns)
"$TOOLS/wsload" "$db" -count 1 -log "$T/tx.csv" 2>>"$T/writer.log"
wait_for '[ "$(sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE);")" = "0|0|0" ]' 10
[ ! -s "$db-wal" ] || fail "setup: the -wal is not empty after TRUNCATE"
run_walship 3
write 8
n=$(csv_last_seq "$T/tx.csv")
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -eq '"$n"' ]' 20
stop_bg walship3 || fail "walship exited $?"
log_has walship3 'new generation' || fail "no new generation after TRUNCATE"
[ "$(replica_gens "$url" | grep -c .)" -eq 2 ] || fail "expected 2 generations"

restore_at() { pitr_seq "$url" "$T/tx.csv" "$1"; }
checked=0

records_of "$url"
random_exact "$url" "$T/tx.csv" "$n"

# Inside a WAL restart: the last commit of each index (restore -index
# gives it, checked against the writer's log) and the first of the next.
# A boundary counts when a clean point after its last commit restores
# that commit, in that index, and one after the next commit restores the
# next, in the next index.
g1=$(replica_gens "$url" | head -1)
restarts=0
for gen in $(replica_gens "$url"); do
	idx=$(replica_files "$url" "generations/$gen/wal/" | cut -c1-8 | sort -u)
	[ "$(echo "$idx" | grep -c .)" -ge 2 ] || continue
	for x in $(echo "$idx" | sed '$d'); do
		"$WALSHIP" restore -generation "$gen" -index "$x" -o "$T/i.db" \
			"$url" >"$T/i.log" 2>&1 || fail "restore -index $x: $(tail -2 "$T/i.log")"
		s=$("$TOOLS/wscheck" -csv "$T/tx.csv" "$T/i.db") ||
			fail "restore -index $x is not a committed prefix: $s"
		s=${s#ok seq=}
		s=${s%% *}
		rm -f "$T/i.db"*
		case $(plan_target "$T/i.log") in
		"$x:end") ;;
		*) fail "restore -index $x: plan $(plan_target "$T/i.log")" ;;
		esac
		pitr_exact "$url" "$T/tx.csv" "$s" || continue
		case $(plan_target "$T/.pitr.log") in
		"$x:"*) ;;
		*) fail "the last commit $s of index $x restored from $(plan_target "$T/.pitr.log")" ;;
		esac
		pitr_exact "$url" "$T/tx.csv" $((s + 1)) || continue
		# When that commit is the last of its generation and the next
		# began within the moment chosen, the state is (exactly) the next
		# generation's first: no boundary of this one to count.
		! grep -q "restoring from .* generation=$gen " "$T/.pitr.log" && continue
		case $(plan_target "$T/.pitr.log") in
		"$(printf %08x $((0x$x + 1))):"*) ;;
		*) fail "the first commit $((s + 1)) after index $x restored from $(plan_target "$T/.pitr.log")" ;;
		esac
		restarts=$((restarts + 1))
		checked=$((checked + 2))
	done
done
[ "$restarts" -ge 2 ] || fail "expected 2 WAL restarts checked, saw $restarts"

# In the gaps (walship restart, generation change): the last commit
# before the gap.
for g in $gap1 $gap2; do
	want=$(awk -F, -v g="$g" '$3 < g { s = $1 } END { print s }' "$T/tx.csv")
	got=$(restore_at "$g")
	[ "$got" = "$want" ] || fail "in a gap: restored seq $got, want $want"
done

# Exactly at the newest recorded commit, and one microsecond before it.
newest=$("$WALSHIP" restore -list -json "$url" | python3 -c '
import json, sys
w = max(json.load(sys.stdin), key=lambda r: r["newest_us"])
assert w["newest_precise"], w
print(w["newest_us"])')
[ "$(restore_at "${newest}000")" = "$n" ] || fail "at the newest commit"
[ "$(restore_at "$((newest - 1))000")" = $((n - 1)) ] ||
	fail "1 us before the newest commit"

# After the newest data: the newest data, and it says so.
[ "$(restore_at "$(($(now_ns) + 3600000000000))")" = "$n" ] ||
	fail "after the newest data"
grep -q 'after the newest data' "$T/.pitr.log" ||
	fail "no 'after the newest' note"

# Before the oldest: an error naming the oldest restorable time.
oldest=$("$WALSHIP" restore -list -json "$url" | python3 -c '
import json, sys
print(min(r["oldest_us"] for r in json.load(sys.stdin)))')
t=$(date -u -d "@$((oldest / 1000000 - 2))" +%Y-%m-%dT%H:%M:%SZ)
if "$WALSHIP" restore -timestamp "$t" -o "$T/early.db" "$url" 2>"$T/early.log"; then
	fail "a restore before the oldest data succeeded"
fi
grep -q 'the oldest restorable time is' "$T/early.log" || fail "$(cat "$T/early.log")"
[ ! -e "$T/early.db" ] || fail "a failed restore left a file"
# ...and exactly at it, a restore (-list shows moments it can restore).
restore_at "${oldest}000" >/dev/null

# The plan is printed before the restore starts.
grep -q 'restoring from replica=.* snapshot=.* segments=.* fetch_bytes=.* time=' \
	"$T/.pitr.log" || fail "no plan line"
echo "A-C: checked $checked points, $restarts WAL restarts, generations $g1.."

# D and E run side by side: two databases, two walships.
# D: periodic snapshots every 5 s, default checkpoint settings.
dbd=$T/d.db
urld=$(replica_url pitr-d)
db_config "$T/d.yml" "$dbd" pitr-d -- sync-interval=1s snapshot-interval=5s
# E: retention's snapshot, no snapshot-interval.
dbe=$T/e.db
urle=$(replica_url pitr-e)
db_config "$T/e.yml" "$dbe" pitr-e -- sync-interval=1s retention=8s \
	retention-check-interval=2s
rate=10
for p in d e; do
	"$TOOLS/wsload" "$T/$p.db" -count 5 -rows 1 -size 3000 \
		-log "$T/$p.csv" 2>>"$T/writer.log" || fail "writer failed"
	start_bg "walship-$p" "$WALSHIP" replicate -config "$T/$p.yml"
	wait_for 'log_has walship-'"$p"' "snapshot written"' 20
	start_bg "writer-$p" "$TOOLS/wsload" "$T/$p.db" -rate "$rate" \
		-duration 12 -rows 1 -size 3000 -log "$T/$p.csv"
	rate=5
done
for p in d e; do
	wait_bg "writer-$p" 40 || fail "writer-$p exited $?"
	np=$(csv_last_seq "$T/$p.csv")
	u=$(replica_url "pitr-$p")
	wait_for '[ "$(probe_seq "$WALSHIP" "'"$u"'")" -eq '"$np"' ]' 20
	stop_bg "walship-$p" || fail "walship-$p exited $?"
done
nd=$(csv_last_seq "$T/d.csv")

# D: the issue's moment (row 35), then 24 random commits.
records_of "$urld"
rc=0
pitr_exact "$urld" "$T/d.csv" 35 || rc=$?
[ "$rc" -ne 1 ] || fail "D: no clean point after row 35"
random_exact "$urld" "$T/d.csv" "$nd"

for p in d e; do
	# Every snapshot in an index of its own, with one record each.
	u=$(replica_url "pitr-$p")
	gp=$(replica_gens "$u")
	[ "$(echo "$gp" | grep -c .)" -eq 1 ] || fail "$p: generations: $gp"
	snaps=$(replica_files "$u" "generations/$gp/snapshots/")
	[ "$(echo "$snaps" | grep -c .)" -ge 2 ] ||
		fail "$p: expected a second snapshot, have: $snaps"
	all=$(replica_files "$u" "generations/$gp/walship/snapshots/")
	recs=$(echo "$all" | grep '\.image\.lz4$')
	[ "$(echo "$recs" | grep -c .)" -eq "$(echo "$snaps" | grep -c .)" ] ||
		fail "$p: snapshots $(echo $snaps) but records $(echo $all)"
	[ -z "$(echo "$recs" | cut -c1-8 | uniq -d)" ] ||
		fail "$p: two records for one index: $(echo $recs)"
	# ...and one digest record each, of its image record.
	[ "$(echo "$all" | grep '\.digest\.lz4$' | cut -c1-34)" = "$(echo "$recs" | cut -c1-34)" ] ||
		fail "$p: image records $(echo $recs) but digest records $(echo "$all" | grep digest)"
	log_has "walship-$p" "snapshot deferred" ||
		fail "$p: no snapshot waited for the next WAL index"
done
log_has walship-e 'newest snapshot is older than the window, a new one is due' ||
	fail "E: retention never asked for a snapshot"

# E: each commit exact, or (only before the window, which retention may
# have pruned since walship stopped) refused without a file.
ne=$(csv_last_seq "$T/e.csv")
records_of "$urle"
window=$(($(now_ns) - 8000000000))
ok=0
for i in $(awk -v n="$ne" -v s="$seed" 'BEGIN { srand(s + 1); for (j = 0; j < 200; j++) print 2 + int(rand() * (n - 2)) }'); do
	[ "$ok" -lt 24 ] || break
	e=$(awk -F, -v i="$i" '$1 == i { print $3 }' "$T/e.csv")
	if [ "$e" -lt "$window" ]; then
		t=$(date -u -d "@$(((e + 20000000) / 1000000000))" +%Y-%m-%dT%H:%M:%S).$(printf %09d $(((e + 20000000) % 1000000000)))Z
		rm -rf "$T/e-early.db"
		if ! "$WALSHIP" restore -timestamp "$t" -o "$T/e-early.db" "$urle" \
			>"$T/e-early.log" 2>&1; then
			[ ! -e "$T/e-early.db" ] || fail "E: a refused restore left a file"
			ok=$((ok + 1))
			continue
		fi
	fi
	rc=0
	pitr_exact "$urle" "$T/e.csv" "$i" || rc=$?
	[ "$rc" -eq 1 ] || ok=$((ok + 1))
done
[ "$ok" -eq 24 ] || fail "E: only $ok of 24 random commits had a clean point"
checked=$((checked + ok + 1))
echo "D, E: each snapshot in its own index; 49 points"

# F: D's replica as an earlier walship left it.  Its second snapshot's
# object is rewritten to the state 2 s later in the same index, and both
# records are of the raw kind: the object holds nothing past the later
# one, so a moment between the two must come from the older snapshot.
# (Earlier walships wrote no digest records: its digest goes.)
gd=$(replica_gens "$urld")
r1=$(replica_files "$urld" "generations/$gd/walship/snapshots/" |
	grep '\.image\.lz4$' | sed -n 2p)
I=$(echo "$r1" | cut -c1-8)
x1=$(echo "$r1" | cut -c10-17)
t1=$((0x$(echo "$r1" | cut -c19-34)))
c=$(awk -F, -v t="$(((t1 + 2000000) * 1000))" '$3 >= t { print $1; exit }' "$T/d.csv")
b=$(awk -F, -v i="$c" '$1 == i + 1 { print $2 }' "$T/d.csv")
[ -n "$b" ] || fail "F: no commit 2 s after the snapshot record $r1"
records_of "$urld"
t2=$(((b - 1000000) / 1000))
c2=$(pitr_seq "$urld" "$T/d.csv" $((t2 * 1000)))
at=$(plan_target "$T/.pitr.log")
case $at in "$I:"*) ;; *) fail "F: commit $c2 is at $at, not in index $I" ;; esac
x2=${at#*:}
lz4 -q -c "$T/.pitr/db" >"$T/rewritten.lz4"
replica_put "$urld" "generations/$gd/snapshots/$I.snapshot.lz4" "$T/rewritten.lz4"
raw_record() { # INDEX OFFSET TIME_US: a raw snapshot record object on stdout
	python3 -c 'import struct, sys
sys.stdout.buffer.write(b"WSTIMES1" + struct.pack(">IIQq", int(sys.argv[1], 16), 2, int(sys.argv[2]), int(sys.argv[3])))' "$@" |
		lz4 -q -c
}
raw_record "$I" "$((0x$x1))" "$t1" >"$T/r1.lz4"
raw_record "$I" "$x2" "$t2" >"$T/r2.lz4"
replica_del "$urld" "generations/$gd/walship/snapshots/$r1"
for k in $(replica_files "$urld" "generations/$gd/walship/snapshots/" |
	grep "^${I}_.*\.digest\.lz4\$"); do
	replica_del "$urld" "generations/$gd/walship/snapshots/$k"
done
replica_put "$urld" "generations/$gd/walship/snapshots/${I}_${x1}_$(printf %016x "$t1").times.lz4" "$T/r1.lz4"
replica_put "$urld" "generations/$gd/walship/snapshots/${I}_$(printf %08x "$x2")_$(printf %016x "$t2").times.lz4" "$T/r2.lz4"
ok=0
for i in $(awk -F, -v a="$((t1 * 1000))" -v b="$((t2 * 1000 - 100000000))" '$3 > a && $3 < b { print $1 }' "$T/d.csv"); do
	rc=0
	pitr_exact "$urld" "$T/d.csv" "$i" || rc=$?
	[ "$rc" -eq 1 ] || ok=$((ok + 1))
done
[ "$ok" -ge 10 ] || fail "F: only $ok clean points between the two records"
[ "$(pitr_seq "$urld" "$T/d.csv" $((t2 * 1000)))" = "$c2" ] ||
	fail "F: at the later record"
checked=$((checked + ok + 1))
echo "F: $ok moments between two records of one rewritten snapshot"

# G: a newer generation whose only snapshot needs WAL the replica lacks.
g2=fedcba9876543210
s0=$(replica_files "$urld" "generations/$gd/snapshots/" | head -1)
replica_get "$urld" "generations/$gd/snapshots/$s0" "$T/s0.lz4"
replica_put "$urld" "generations/$g2/snapshots/00000000.snapshot.lz4" "$T/s0.lz4"
tg=$(($(now_ns) / 1000))
raw_record 0 1048576 "$tg" >"$T/rg.lz4"
replica_put "$urld" "generations/$g2/walship/snapshots/00000000_00100000_$(printf %016x "$tg").times.lz4" "$T/rg.lz4"
rm -rf "$T/g.db"
"$WALSHIP" restore -o "$T/g.db" "$urld" >"$T/g.log" 2>&1 ||
	fail "G: the latest-state restore failed: $(tail -2 "$T/g.log")"
assert_restored "$T/g.db" "$nd" "$T/d.csv"
grep -q "WARN restore: skipping generation $g2 db=$T/g.db replica=[^ ]*: .*holds changes up to offset 1048576" "$T/g.log" ||
	fail "G: no warning about $g2: $(cat "$T/g.log")"
"$WALSHIP" restore -list -json "$urld" >"$T/g-list.json" 2>"$T/g-list.log" ||
	fail "G: restore -list failed: $(cat "$T/g-list.log")"
! grep -q "$g2" "$T/g-list.json" || fail "G: -list shows $g2: $(cat "$T/g-list.json")"
grep -q "$g2 .*cannot be restored" "$T/g-list.log" ||
	fail "G: -list does not say why $g2 is left out: $(cat "$T/g-list.log")"
tl=$(date -u -d "@$(($(now_ns) / 1000000000 + 3600))" +%Y-%m-%dT%H:%M:%SZ)
! "$WALSHIP" restore -timestamp "$tl" -o "$T/g-at.db" "$urld" >"$T/g-at.log" 2>&1 ||
	fail "G: a time after $g2 began restored: $(tail -2 "$T/g-at.log")"
[ ! -e "$T/g-at.db" ] || fail "G: a refused restore left $T/g-at.db"
grep -q "^walship: no backup of the state at .*generation $g2 .*had begun by then" "$T/g-at.log" ||
	fail "G: the refusal does not name $g2: $(cat "$T/g-at.log")"
"$WALSHIP" restore -generation "$gd" -timestamp "$tl" -o "$T/g-gen.db" "$urld" \
	>"$T/g-gen.log" 2>&1 || fail "G: -generation $gd: $(tail -2 "$T/g-gen.log")"
assert_restored "$T/g-gen.db" "$nd" "$T/d.csv"
checked=$((checked + 4))

# H: a damaged commit-time object.  The newest state reads the newest
# one only to check its segments, and restores exactly without it; a
# time restore falls back to object times (and the snapshot records'
# times) for that generation, says so once, and still includes nothing
# committed after the time.
tk=$(replica_files "$urld" "generations/$gd/walship/times/" | tail -n 1)
seq 1 100 | lz4 -q -c >"$T/bad-times.lz4"
replica_put "$urld" "generations/$gd/walship/times/$tk" "$T/bad-times.lz4"
rm -rf "$T/h.db"
"$WALSHIP" restore -o "$T/h.db" "$urld" >"$T/h.log" 2>&1 ||
	fail "H: the latest-state restore failed: $(tail -n 2 "$T/h.log")"
assert_restored "$T/h.db" "$nd" "$T/d.csv"
[ "$(grep -c "WARN restore: commit times of generation $gd cannot be read" "$T/h.log")" -eq 1 ] ||
	fail "H: the latest-state restore does not say once that it cannot read the commit times: $(cat "$T/h.log")"
i=$((nd - 3))
b=$(awk -F, -v i="$i" '$1 == i + 1 { print $2 }' "$T/d.csv")
got=$(pitr_seq "$urld" "$T/d.csv" $((b - 1000000)))
[ "$got" -le "$i" ] || fail "H: restored seq $got past commit $i"
[ "$(grep -c "WARN restore: commit times of generation $gd cannot be read, using object times" "$T/.pitr.log")" -eq 1 ] ||
	fail "H: no single warning: $(cat "$T/.pitr.log")"
checked=$((checked + 2))
echo "checked $checked points in all; $(cat "$T/late.log" 2>/dev/null | grep -c .) observed late (load)"
