#!/bin/sh
# SIGTERM while a sync is in flight that started before the last commit:
# that sync is not the last one.  A widened checkpoint window
# (WALSHIP_TEST_WINDOW_MS=400: walship sleeps at each step, holding
# SQLite's write lock for the first three) makes the sync of commit A
# take 1.6 s; commit B waits for the write lock, commits in the last
# step, and the signal comes as soon as B has returned, while that sync
# is still running.  B must be in the replica when walship exits 0.  On
# the replica backend WS_REPLICA picks (tests/lib.sh).
#
# That the race was hit is proven, not assumed: B's commit (its logged
# begin and end, wsload -log) waited at least one window for the write
# lock, which only walship's checkpoint holds, so that sync began before
# B committed; B ended before the signal was sent; and the first
# checkpoint walship logged after its snapshot (at the end of its sync)
# comes after "signal received", so that sync was still in flight.  An
# attempt that misses the race (a loaded machine) is tried again, up to
# five times; every attempt must restore B.
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

win=400
hit=0
a=0
while [ $hit -eq 0 ]; do
	a=$((a + 1))
	[ $a -le 5 ] || fail "5 attempts never had SIGTERM land in a sync that began before the last commit"
	d=$T/a$a
	mkdir "$d"
	db=$d/db
	url=$(replica_url "a$a")
	"$TOOLS/wsload" "$db" -count 5 -log "$d/tx.csv" 2>/dev/null
	db_config "$d/walship.yml" "$db" "a$a" min-checkpoint-page-count=1 \
		checkpoint-interval=100ms -- sync-interval=100ms
	WALSHIP_TEST_WINDOW_MS=$win start_bg "w$a" "$WALSHIP" replicate -v \
		-config "$d/walship.yml"
	wait_for "log_has w$a 'snapshot written'" 20
	# A: its copy starts a checkpoint (one page is over the threshold).
	"$TOOLS/wsload" "$db" -count 1 -log "$d/tx.csv" 2>/dev/null
	# Placement only (the proof is below): B is meant to start inside
	# the locked steps of A's sync.
	sleep 0.3
	# B: blocks on the write lock, commits once walship releases it.
	"$TOOLS/wsload" "$db" -count 1 -busy-timeout 10000 -log "$d/tx.csv" \
		2>/dev/null
	t_sig=$(date +%s%N)
	stop_bg "w$a" || fail "attempt $a: walship exited $? after SIGTERM"
	n=$(csv_last_seq "$d/tx.csv")
	"$WALSHIP" restore -o "$d/restored.db" "$url" 2>"$d/restore.log" ||
		fail "attempt $a: restore failed: $(cat "$d/restore.log")"
	assert_restored "$d/restored.db" "$n" "$d/tx.csv"

	# Was the race hit?
	b=$(tail -n 1 "$d/tx.csv")
	b_begin=$(echo "$b" | cut -d, -f2)
	b_end=$(echo "$b" | cut -d, -f3)
	waited=$(((b_end - b_begin) / 1000000))
	order=$(sed -n '/snapshot written/,$p' "$T/w$a.log" |
		grep -o 'signal received\|checkpoint db=' | head -n 1)
	if [ "$b_end" -ge "$t_sig" ]; then
		echo "attempt $a: missed: B's logged end is not before the signal"
	elif [ $waited -lt $((win * 3 / 4)) ]; then
		echo "attempt $a: missed: B waited only ${waited} ms for the write lock"
	elif [ "$order" != "signal received" ]; then
		echo "attempt $a: missed: the sync B waited for ended before the signal"
	else
		hit=1
		echo "attempt $a: B waited ${waited} ms for the write lock, ended" \
			"$(((t_sig - b_end) / 1000000)) ms before the signal, and the" \
			"sync was still in flight: seq $n restored"
	fi
done
