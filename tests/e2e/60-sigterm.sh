#!/bin/sh
# SIGTERM during load loses nothing: every transaction whose COMMIT had
# returned before the signal is in the replica when walship exits, and
# walship exits 0.  Five cycles against one continuous writer, at random
# moments.  The writer does not checkpoint itself, so every restart can
# continue the generation.  How long each shutdown took is printed; only
# a hang (30 s, stop_bg) fails the test, as its speed depends on the
# machine's load.  The last cycle sends SIGHUP instead (a closed
# terminal), which without -exec is a SIGTERM: said in the log, the same
# final sync, exit 0.  On the replica backend WS_REPLICA picks
# (tests/lib.sh).  Then five SIGTERMs as walship starts, each a clean
# shutdown too.
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url replica)
start_writer writer "$db" "$T/tx.csv" -rate 300 -rows 2 -autocheckpoint 0
i=1
while [ $i -le 5 ]; do
	start_bg "w$i" "$WALSHIP" replicate "$db" "$url"
	wait_for "log_has w$i 'snapshot written|replica position'" 10
	sleep "$(awk "BEGIN { srand($$ + $i); printf \"%.2f\", 0.3 + rand() * 2 }")"
	sig=TERM
	[ $i -lt 5 ] || sig=HUP
	n0=$(csv_last_seq "$T/tx.csv")
	t0=$(date +%s%3N)
	stop_bg "w$i" $sig || fail "cycle $i: walship exited $? after SIG$sig"
	ms=$(($(date +%s%3N) - t0))
	rm -f "$T/r$i.db"
	"$WALSHIP" restore -o "$T/r$i.db" "$url" 2>"$T/restore$i.log" ||
		fail "cycle $i: restore failed: $(cat "$T/restore$i.log")"
	# Everything committed before the signal, and nothing that is not.
	assert_restored "$T/r$i.db" ">=$n0" "$T/tx.csv"
	got=$AR_SEQ
	[ $sig = TERM ] || log_has "w$i" "signal received, walship shutting down signal=1 " ||
		fail "cycle $i: no line saying SIGHUP was received"
	echo "cycle $i: committed >= $n0 before SIG$sig, replica has $got, shutdown ${ms} ms"
	i=$((i + 1))
done
# A signal while walship starts (its first line is out, its loop not yet
# taking signals) waits for the loop: the same clean shutdown, exit 0.
# It killed walship with status 143 before.  No sleep between the line
# and the signal: the window is a few milliseconds.
i=1
while [ $i -le 5 ]; do
	start_bg "s$i" "$WALSHIP" replicate "$db" "$url"
	end=$(($(_ws_now_ms) + 10000))
	until log_has "s$i" 'walship version='; do
		[ "$(_ws_now_ms)" -lt "$end" ] || fail "start $i: no first line"
	done
	stop_bg "s$i" || fail "start $i: walship exited $? on a SIGTERM as it started"
	log_has "s$i" 'walship shut down' || fail "start $i: no line saying it shut down"
	i=$((i + 1))
done
stop_bg writer || fail "writer exited $?"
[ "$(replica_gens "$url" | grep -c .)" -eq 1 ] ||
	fail "restarts started new generations: $(replica_gens "$url" | tr '\n' ' ')"
