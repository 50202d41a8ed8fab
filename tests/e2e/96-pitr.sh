#!/bin/sh
# Point-in-time restore oracle (issue 4).  A writer logs (seq, begin and
# end of each commit, running digest) while walship replicates through
# WAL restarts, periodic snapshots, a walship restart and a generation
# change (a TRUNCATE checkpoint while walship is down).  Then restores at
# chosen times must give exactly the committed prefix for that time:
# wscheck proves the prefix (digest of every row) and its seq must be the
# last transaction that committed before T.
#
# T is placed 60 ms after a commit ended and before the next one began
# (10 tx/s leave ~100 ms between commits): walship records the moment it
# observed each commit, normally within a few ms of it.
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
	"$TOOLS/wsload" "$db" -rate 10 -duration "$1" -rows 2 -size 3000 \
		-log "$T/tx.csv" 2>>"$T/writer.log" || fail "writer failed"
}
now_ns() { date +%s%N; }

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
# C: the application checkpoints while walship is down: a new generation.
sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
gap2=$(now_ns)
run_walship 3
write 8
n=$(csv_last_seq "$T/tx.csv")
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -eq '"$n"' ]' 20
stop_bg walship3 || fail "walship exited $?"
log_has walship3 'new generation' || fail "no new generation after TRUNCATE"
[ "$(replica_gens "$url" | grep -c .)" -eq 2 ] || fail "expected 2 generations"

restore_at() { pitr_seq "$url" "$T/tx.csv" "$1"; }
checked=0
expect_after() {
	if pitr_expect "$url" "$T/tx.csv" "$1"; then
		checked=$((checked + 1))
	fi
}

# 24 random commits (seeded; the seed is printed on failure).
seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
echo "seed=$seed" >"$T/seed.log"
for i in $(awk -v n="$n" -v s="$seed" 'BEGIN { srand(s); for (j = 0; j < 24; j++) print 2 + int(rand() * (n - 2)) }'); do
	expect_after "$i"
done
[ "$checked" -ge 20 ] || fail "only $checked clean random points"

# Inside a WAL restart: the last commit of each index and the first of
# the next (restore -index gives the last seq of an index).
g1=$(replica_gens "$url" | head -1)
for gen in $(replica_gens "$url"); do
	idx=$(replica_files "$url" "generations/$gen/wal/" | cut -c1-8 | sort -u)
	[ "$(echo "$idx" | grep -c .)" -ge 2 ] || continue
	for x in $(echo "$idx" | sed '$d'); do
		"$WALSHIP" restore -generation "$gen" -index "$x" -o "$T/i.db" \
			"$url" >"$T/i.log" 2>&1 || fail "restore -index $x: $(tail -2 "$T/i.log")"
		s=$("$TOOLS/wscheck" -seq "$T/i.db")
		rm -f "$T/i.db"*
		restarts=$((${restarts:-0} + 1))
		expect_after "$s"
		expect_after $((s + 1))
	done
done
[ "${restarts:-0}" -ge 2 ] || fail "expected WAL restarts, saw ${restarts:-0}"

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

# The plan is printed before the restore starts.
grep -q 'restoring from replica=.* snapshot=.* segments=.* fetch_bytes=.* time=' \
	"$T/.pitr.log" || fail "no plan line"
echo "checked $checked points, $restarts WAL restarts, generations $g1.."
