#!/bin/sh
# A -timestamp inside a newer generation whose history at that time is
# gone (issue 17's soak: the new generation's first snapshot was written
# only after its replica came back, later than its first commits, which
# its commit records still show) must fail, naming that generation, and
# never restore the older generation's last state as if it were T's.
#
# Generation 1: a few commits, walship stops; its local record of the
# generation is removed while it is down, so it starts generation 2 on
# restart, which snapshots
# every 2 s while its WAL index moves every second.  Then generation 2's
# objects below its newest snapshot are deleted (its snapshots, WAL
# segments, index and snapshot records), keeping its commit records, as
# the soak's replica held it.  Checked: a moment in generation 2 before
# its oldest snapshot is refused in one line naming generation 2; a
# moment of generation 1, one in the gap while walship was down (no
# commit there: generation 1's last state is that moment's) and the
# newest state still restore exactly; -generation pins generation 1 and
# restores its last state at that moment.
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url gens)
db_config "$T/walship.yml" "$db" gens min-checkpoint-page-count=40 \
	checkpoint-interval=1s -- sync-interval=200ms snapshot-interval=2s
write() {
	"$TOOLS/wsload" "$db" -rate 5 -duration "$1" -rows 2 -size 3000 \
		-log "$T/tx.csv" 2>>"$T/writer.log" || fail "writer failed"
}
run_walship() {
	start_bg "walship$1" "$WALSHIP" replicate -config "$T/walship.yml"
	wait_for 'log_has walship'"$1"' "snapshot written|replica position"' 20
}

"$TOOLS/wsload" "$db" -count 1 -log "$T/tx.csv" 2>>"$T/writer.log"
run_walship 1
write 2
n1=$(csv_last_seq "$T/tx.csv")
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -eq '"$n1"' ]' 20
stop_bg walship1 || fail "walship exited $?"
# walship's record of its generation goes while it is down: it starts
# a new one ("no generation exists").
rm "$T/.db-walship/generation"
gap=$(date +%s%N)
sleep 0.3
run_walship 2
write 6
n=$(csv_last_seq "$T/tx.csv")
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -eq '"$n"' ]' 20
stop_bg walship2 || fail "walship exited $?"
g2=$(sed -n 's/.*new generation .* generation=\([0-9a-f]*\) .*/\1/p' "$T/walship2.log")
[ -n "$g2" ] || fail "no new generation after its record went"
g1=$(replica_gens "$url" | grep -vx "$g2")
[ "$(echo "$g1" | grep -c .)" -eq 1 ] || fail "generations: $(replica_gens "$url")"

# Before anything is deleted, the first commit of generation 2 restores
# exactly (a check of the set-up: a clean point, 1 ms before the next).
c=$((n1 + 1))
pitr_expect "$url" "$T/tx.csv" "$c" ||
	fail "commit $c has no clean point (the writer makes 5 a second)"
e=$(awk -F, -v i="$c" '$1 == i + 1 { print $2 }' "$T/tx.csv")
t=$((e - 1000000))

# Generation 2 as the soak's replica held it: nothing below its newest
# snapshot but its commit records.
k=$(replica_files "$url" "generations/$g2/snapshots/" | cut -c1-8 | sort | tail -1)
[ -n "$k" ] && [ "$k" != 00000000 ] ||
	fail "generation 2's newest snapshot is at index ${k:-none}, want one past 0"
dels=0
for d in snapshots wal walship/index walship/snapshots; do
	for f in $(replica_files "$url" "generations/$g2/$d/"); do
		[ "$(echo "$f" | cut -c1-8)" \< "$k" ] || continue
		replica_del "$url" "generations/$g2/$d/$f" || fail "cannot delete $d/$f"
		dels=$((dels + 1))
	done
done
replica_files "$url" "generations/$g2/walship/times/" | grep -q '^00000000_' ||
	fail "generation 2 has no commit records from its start"

# The moment of commit c: refused, in one line naming generation 2.
ts=$(date -u -d "@$((t / 1000000000))" +%Y-%m-%dT%H:%M:%S).$(printf %09d $((t % 1000000000)))Z
rc=0
"$WALSHIP" restore -timestamp "$ts" -o "$T/at.db" "$url" >"$T/at.log" 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
	got=$("$TOOLS/wscheck" -csv "$T/tx.csv" -allow-empty "$T/at.db" 2>&1)
	fail "restore at $ts (commit $c, generation 2, whose history there is gone) succeeded: $got, not $c"
fi
[ ! -e "$T/at.db" ] || fail "a refused restore left $T/at.db"
err=$(grep -E '^(walship: |.* ERROR )' "$T/at.log" || :)
[ "$(echo "$err" | grep -c .)" -eq 1 ] || fail "want one error line: $(cat "$T/at.log")"
echo "$err" | grep -q "no backup of the state at .*generation $g2 .*had begun by then" ||
	fail "the error does not name generation 2 and that it had begun: $err"

# What is there still restores exactly: a moment of generation 1, the
# gap while walship was down, the newest state; -generation pins
# generation 1 and gives its last state.
pitr_expect "$url" "$T/tx.csv" $((n1 - 1)) ||
	fail "commit $((n1 - 1)) has no clean point"
s=$(pitr_seq "$url" "$T/tx.csv" "$gap")
[ "$s" -eq "$n1" ] || fail "in the gap: seq $s, want $n1"
"$WALSHIP" restore -o "$T/latest.db" "$url" 2>"$T/latest.log" ||
	fail "latest restore: $(cat "$T/latest.log")"
assert_restored "$T/latest.db" "$n" "$T/tx.csv"
"$WALSHIP" restore -generation "$g1" -timestamp "$ts" -o "$T/g1.db" "$url" \
	>"$T/g1.log" 2>&1 || fail "-generation $g1 at $ts: $(tail -2 "$T/g1.log")"
assert_restored "$T/g1.db" "$n1" "$T/tx.csv"
echo "generation 2 without its first $dels objects: $ts refused ($err); gap, newest and -generation exact"
