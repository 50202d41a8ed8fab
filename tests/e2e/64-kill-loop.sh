#!/bin/sh
# Kill loop (issue 14): `walship replicate` is killed with SIGKILL at
# least 25 times while a separate writer commits.  The database is about
# 24 MiB and snapshot-interval 2 s, so kills land inside snapshot
# uploads and between a snapshot and its first WAL segment.  The writer
# runs its own TRUNCATE checkpoint every 3 s, which succeeds only while
# walship is down: the next start is then a new generation, whose first
# snapshot is such a kill's target.  Kill moments: right after a
# snapshot upload starts, right after one ends, or at random.
#
# After each kill, with walship stopped: walship restores an exact
# committed prefix (wscheck against the writer's log) that is never older
# than the previous restore, and Litestream v0.3.13 restores an exact
# committed prefix that passes integrity_check.  At the end walship runs
# to a clean stop and restores the writer's last commit.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica
need_litestream

db=$T/db
url=$(replica_url kill)
if [ "$WS_REPLICA" = s3 ]; then
	lsurl="s3://$S3_BUCKET.localhost:$PROXY_PORT/kill"
else
	lsurl=$url
fi
db_config "$T/walship.yml" "$db" kill -- sync-interval=200ms \
	snapshot-interval=2s

# About 24 MiB of incompressible rows, then a steady writer.
"$TOOLS/wsload" "$db" -count 96 -rate 0 -rows 1 -size 262144 \
	-log "$T/tx.csv" 2>>"$T/bulk.log" || fail "bulk load failed"
start_writer writer "$db" "$T/tx.csv" -rate 20 -rows 1 -size 2000 \
	-checkpoint truncate -checkpoint-every 3000 -checkpoint-busy-timeout 100

# lines NAME ERE: how many lines of NAME's log match.
lines() {
	_ln=$(grep -c -E -e "$2" "$T/$1.log" 2>/dev/null) || true
	echo "${_ln:-0}"
}

# Wait (polling every 10 ms, up to 10 s) until walship's log has more
# than $1 lines matching $2.
wait_lines() {
	_wl_i=0
	while [ "$(lines walship "$2")" -le "$1" ] && [ $_wl_i -lt 1000 ]; do
		sleep 0.01
		_wl_i=$((_wl_i + 1))
	done
}

seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
echo "seed=$seed" >"$T/seed.log"
rand() { # rand N: a number in [0, N), from the seeded sequence
	_r_k=$((${_r_k:-0} + 1))
	awk -v s="$seed" -v k="$_r_k" -v n="$1" \
		'BEGIN { srand(s * 1000 + k); print int(rand() * n) }'
}

kills=0 in_snap=0 after_snap=0 ws_ok=0 ls_ok=0 prev=0
t_end=$(($(date +%s) + 150))
while [ "$kills" -lt 25 ] || { [ "$in_snap" -lt 3 ] && [ "$(date +%s)" -lt "$t_end" ]; }; do
	w0=$(lines walship 'write snapshot')
	d0=$(lines walship 'snapshot written')
	start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
	case $((kills % 4)) in
	0) # inside a snapshot upload
		wait_lines "$w0" 'write snapshot'
		sleep "0.0$(rand 5)"
		;;
	1) # between a snapshot and what follows it
		wait_lines "$d0" 'snapshot written'
		;;
	*) sleep "$((1 + $(rand 2))).$(rand 10)" ;;
	esac
	stop_bg walship KILL || true
	kills=$((kills + 1))
	w1=$(lines walship 'write snapshot')
	d1=$(lines walship 'snapshot written')
	if [ $((w1 - w0)) -gt $((d1 - d0)) ]; then
		in_snap=$((in_snap + 1))
	elif [ "$d1" -gt "$d0" ] &&
		tail -n 1 "$T/walship.log" | grep -q 'snapshot written'; then
		after_snap=$((after_snap + 1))
	fi
	# Walship restores what the replica holds now...
	rm -f "$T/ws.db"* "$T/ls.db"*
	if "$WALSHIP" restore -o "$T/ws.db" "$url" >"$T/ws-restore.log" 2>&1; then
		out=$("$TOOLS/wscheck" -csv "$T/tx.csv" "$T/ws.db" 2>&1) ||
			fail "kill $kills: walship restored no committed prefix: $out"
		s=${out#ok seq=}
		s=${s%% *}
		[ "$s" -ge "$prev" ] ||
			fail "kill $kills: walship restored seq $s, older than $prev before"
		prev=$s
		ws_ok=$((ws_ok + 1))
	else
		[ "$ws_ok" -eq 0 ] && grep -q 'no matching backups found' \
			"$T/ws-restore.log" ||
			fail "kill $kills: walship restore failed: $(tail -n 3 "$T/ws-restore.log")"
	fi
	# ...and so does Litestream.
	if "$LITESTREAM" restore -o "$T/ls.db" "$lsurl" >"$T/ls-restore.log" 2>&1; then
		out=$("$TOOLS/wscheck" -csv "$T/tx.csv" "$T/ls.db" 2>&1) ||
			fail "kill $kills: Litestream restored no committed prefix: $out"
		ls_ok=$((ls_ok + 1))
	else
		[ "$ws_ok" -eq 0 ] ||
			fail "kill $kills: Litestream restore failed: $(tail -n 3 "$T/ls-restore.log")"
	fi
done
[ "$in_snap" -ge 3 ] || fail "only $in_snap kills landed inside a snapshot upload"
[ "$ws_ok" -ge $((kills - 2)) ] || fail "walship restored after only $ws_ok of $kills kills"

# At the end, a clean stop: everything the writer committed.
stop_bg writer || fail "writer exited $?"
n=$(csv_last_seq "$T/tx.csv")
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -eq '"$n"' ]' 60
stop_bg walship || fail "walship exited $? on SIGTERM"
rm -f "$T/ws.db"*
"$WALSHIP" restore -o "$T/ws.db" "$url" >"$T/ws-restore.log" 2>&1 ||
	fail "final restore: $(tail -n 3 "$T/ws-restore.log")"
assert_restored "$T/ws.db" "$n" "$T/tx.csv"
gens=$(replica_gens "$url" | grep -c .)
echo "kills=$kills in_snapshot=$in_snap after_snapshot=$after_snap" \
	"generations=$gens restores: walship=$ws_ok litestream=$ls_ok" \
	"(seed $seed)"
