#!/bin/sh
# replicate -once, as from cron, on the backend WS_REPLICA picks:
#   1. runs with writes in between, under an application that never
#      stops writing: each exits 0, and a restore right after holds at
#      least everything committed before that run started (the full
#      oracle: an exact committed prefix); sync-interval and
#      snapshot-interval of an hour do not hold a run up (each run is
#      under a time limit far below that);
#   2. a run after the writer stopped restores exactly its last commit;
#   3. -force-snapshot adds a snapshot, which a plain run does not;
#   4. -enforce-retention deletes the generations retention says, and
#      a run without it deletes nothing;
#   5. a missing database is an error (nothing to sync), and so is a
#      replica that cannot be written (on S3: the server down), with a
#      message that names the database and the replica; a file that is
#      not a database exits 4 with SQLite's reason (no SQL in it) and
#      leaves no meta directory behind; a config with an exec key is
#      refused with -once (exit 3, naming both), not silently ignored.
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url replica)
cfg=$T/walship.yml
db_config "$cfg" "$db" replica -- sync-interval=1h snapshot-interval=1h

# A run under a limit: a hang or a wait for a timer fails it.
once() {
	_o_log=$1
	shift
	timeout 120 "$WALSHIP" replicate -once "$@" >"$T/$_o_log.log" 2>&1
}

count_snaps() {
	replica_ls "$url" | cut -d" " -f1 |
		grep -c '/snapshots/[0-9a-f]*\.snapshot\.lz4$' || true
}

# ---- 1. runs under a writer that never stops ----
start_writer w "$db" "$T/tx.csv" -rate 100 -autocheckpoint 0
# (A database file with no transaction yet is "nothing to sync" too.)
wait_for '[ "$(csv_last_seq "$T/tx.csv")" -ge 10 ]' 10
for run in 1 2 3; do
	before=$(csv_last_seq "$T/tx.csv")
	once run$run -config "$cfg" || fail "run $run exited $?: $(tail -3 "$T/run$run.log")"
	log_has run$run 'once: done: everything committed before the start is in every replica' ||
		fail "run $run did not say it was done"
	"$WALSHIP" restore -o "$T/r$run.db" "$url" 2>"$T/r$run.log" ||
		fail "restore after run $run failed: $(tail -3 "$T/r$run.log")"
	assert_restored "$T/r$run.db" ">=$before" "$T/tx.csv"
	[ "$run" -ne 1 ] || gen_first=$(replica_gens "$url")
	echo "run $run: committed $before before the start, restored $AR_SEQ"
	# Writes in between (not a real minute: the point is the writes).
	wait_for '[ "$(csv_last_seq "$T/tx.csv")" -ge $((before + 150)) ]' 20
done

# ---- 3. -force-snapshot (the writer still running: one generation) ----
n0=$(count_snaps)
once plain -config "$cfg" || fail "-once exited $?: $(tail -3 "$T/plain.log")"
[ "$(count_snaps)" -eq "$n0" ] ||
	fail "a plain -once took a snapshot ($n0 -> $(count_snaps))"
before=$(csv_last_seq "$T/tx.csv")
once force -force-snapshot -config "$cfg" ||
	fail "-once -force-snapshot exited $?: $(tail -3 "$T/force.log")"
[ "$(count_snaps)" -gt "$n0" ] ||
	fail "-force-snapshot took no snapshot ($n0 snapshots before and after)"
log_has force 'snapshot written' || fail "-force-snapshot logged no snapshot"
"$WALSHIP" restore -o "$T/rf.db" "$url" 2>"$T/rf.log" ||
	fail "restore after -force-snapshot failed: $(tail -3 "$T/rf.log")"
assert_restored "$T/rf.db" ">=$before" "$T/tx.csv"

# ---- 2. the writer stops: the next run restores exactly ----
stop_bg w || fail "writer exited $?"
n=$(csv_last_seq "$T/tx.csv")
once last -config "$cfg" || fail "-once exited $?: $(tail -3 "$T/last.log")"
"$WALSHIP" restore -o "$T/rl.db" "$url" 2>"$T/rl.log" ||
	fail "restore failed: $(tail -3 "$T/rl.log")"
assert_restored "$T/rl.db" "$n" "$T/tx.csv"

# ---- 4. -enforce-retention ----
ngens=$(replica_gens "$url" | grep -c .)
[ "$ngens" -ge 2 ] || fail "want several generations before retention, have $ngens"
db_config "$T/ret.yml" "$db" replica -- retention=1s
sleep 1.5 # every generation but the current one is older than 1 s
replica_gens "$url" >"$T/gens.before"
once noret -config "$T/ret.yml" || fail "-once exited $?: $(tail -3 "$T/noret.log")"
# (A run on a database no one has open starts a new generation.)
replica_gens "$url" >"$T/gens.after"
[ -z "$(comm -23 "$T/gens.before" "$T/gens.after")" ] ||
	fail "-once without -enforce-retention deleted generations"
ngens=$(grep -c . "$T/gens.after")
once ret -enforce-retention -config "$T/ret.yml" ||
	fail "-once -enforce-retention exited $?: $(tail -3 "$T/ret.log")"
log_has ret 'retention: db=' || fail "-enforce-retention ran no retention"
# The first run's generation is long out of the window: it must go.
[ "$(echo "$gen_first" | grep -c .)" -eq 1 ] || fail "the first run left generations: $gen_first"
replica_gens "$url" | grep -qx "$gen_first" &&
	fail "-enforce-retention left generation $gen_first (retention 1s)"
left=$(replica_gens "$url" | grep -c .)
echo "retention: $ngens generations before, $left after (one made by the run)"
"$WALSHIP" restore -o "$T/rr.db" "$url" 2>"$T/rr.log" ||
	fail "restore after retention failed: $(tail -3 "$T/rr.log")"
assert_restored "$T/rr.db" "$n" "$T/tx.csv"

# ---- 5. failures ----
st=0
once missing "$T/nodb" "$url" || st=$?
[ "$st" -eq 4 ] || fail "-once on a missing database exited $st, want 4 (database)"
log_has missing "walship: -once: nothing to sync db=$T/nodb" ||
	fail "unexpected error: $(tail -1 "$T/missing.log")"

echo hello >"$T/notdb"
st=0
once notdb "$T/notdb" "$url" || st=$?
[ "$st" -eq 4 ] || fail "-once on a file that is not a database exited $st, want 4"
[ "$(tail -1 "$T/notdb.log")" = "walship: -once: sync failed db=$T/notdb: $T/notdb: open: file is not a database" ] ||
	fail "unexpected error: $(tail -1 "$T/notdb.log")"
[ ! -e "$T/.notdb-walship" ] ||
	fail "-once on a file that is not a database left $(find "$T/.notdb-walship")"
echo "not a database: exit $st, no meta directory: $(tail -1 "$T/notdb.log")"

cp "$cfg" "$T/exec.yml"
printf 'exec: sleep 100\n' >>"$T/exec.yml"
st=0
once exec -config "$T/exec.yml" || st=$?
[ "$st" -eq 3 ] || fail "-once with an exec key exited $st, want 3 (configuration)"
[ "$(tail -1 "$T/exec.log")" = "walship: cannot specify -once flag with the exec key ($T/exec.yml): -once does not run the application; use a config without exec" ] ||
	fail "unexpected error: $(tail -1 "$T/exec.log")"
echo "exec key: exit $st: $(tail -1 "$T/exec.log")"

"$TOOLS/wsload" "$db" -rate 0 -count 20 -log "$T/tx.csv" 2>"$T/wsload1.log" ||
	fail "wsload failed"
if [ "$WS_REPLICA" = s3 ]; then
	s3_stop_server
	st=0
	once down -config "$cfg" || st=$?
	s3_start_server
	want="walship: -once: replica s3 of $db does not hold everything"
else
	# A replica directory that cannot be made: a file is in the way.
	: >"$T/blocked"
	st=0
	once down "$db" "file://$T/blocked/replica" || st=$?
	want="walship: -once: replica file of $db does not hold everything"
fi
[ "$st" -eq 5 ] || fail "-once exited $st with the replica unwritable, want 5 (replica)"
log_has down "$want" || fail "unexpected error: $(tail -1 "$T/down.log")"
echo "replica down: exit $st: $(tail -1 "$T/down.log")"
