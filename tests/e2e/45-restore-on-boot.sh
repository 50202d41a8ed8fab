#!/bin/sh
# Restore on boot (replicate -restore-if-db-not-exists, or the
# restore-if-db-not-exists key), on the backend WS_REPLICA picks:
#   1. an empty volume (no database, no meta dir) is restored from the
#      replica before replication starts, exactly; replication then
#      goes on, and a later restore holds the later writes;
#   2. a database that exists is left alone, even when the replica holds
#      something else;
#   3. with nothing in the replica, walship starts without the database,
#      says so, and replicates it once the application creates it;
#   4. a restore that fails (every snapshot corrupt; on S3 also the
#      server down) stops walship with a non-zero exit before it
#      replicates anything, and creates no database.
#   2b. SIGTERM while a restore on boot publishes: it completes, then a
#      clean shutdown;
#   5. anything at the path that is not a regular file (a dangling
#      symbolic link, a link to a database, a FIFO) is refused with one
#      line naming what it is, exit 4, nothing written through or over
#      it; without the flag, replication waits for a FIFO saying what it
#      is, not that the database "is empty".
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url replica)
cfg=$T/walship.yml
# The top-level key; the database's own setting would win over it.
db_config "$T/dbs.yml" "$db" replica
{
	echo "restore-if-db-not-exists: true"
	cat "$T/dbs.yml"
} >"$cfg"

# ---- 1. an empty volume ----
"$TOOLS/wsload" "$db" -rate 0 -count 300 -log "$T/tx.csv" \
	2>"$T/wsload0.log" || fail "wsload failed"
start_writer w1 "$db" "$T/tx.csv" -rate 100 -autocheckpoint 0
start_bg ws1 "$WALSHIP" replicate -config "$cfg"
wait_for "log_has ws1 'restore on boot: database exists, leaving it alone'" 10
wait_for '[ "$(csv_last_seq "$T/tx.csv")" -ge 500 ]' 20
stop_bg w1 || fail "writer exited $?"
n1=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$n1" "$T/tx.csv" 20
stop_bg ws1 || fail "walship exited $? on SIGTERM"
gen1=$(replica_gens "$url")

# The volume is lost: database, -wal, -shm and walship's meta directory.
rm -rf "$db" "$db-wal" "$db-shm" "$T/.db-walship"
start_bg ws2 "$WALSHIP" replicate -config "$cfg"
wait_for "log_has ws2 'restore on boot: restored db=$db'" 30
# The restore's own lines name the database too.
log_has ws2 "restoring from replica=$WS_REPLICA generation=$gen1 db=$db " ||
	fail "the restore on boot's plan line does not name db=$db: $(grep -m 1 'restoring from' "$T/ws2.log")"
log_has ws2 "restored in [0-9]+ms db=$db replica=$WS_REPLICA generation=$gen1 position=[0-9a-f]{8}:[0-9]+$" ||
	fail "the restore on boot's last line does not name db=$db: $(grep -m 1 'restored in' "$T/ws2.log")"
log_has ws2 'initialized db' || fail "replication did not start after the restore"
# Restored before replication started: the database holds exactly n1.
assert_restored "$db" "$n1" "$T/tx.csv"
# Replication goes on from there, with the application writing again.
start_writer w2 "$db" "$T/tx.csv" -rate 100 -autocheckpoint 0
wait_for '[ "$(csv_last_seq "$T/tx.csv")" -ge $((n1 + 200)) ]' 20
stop_bg w2 || fail "writer exited $?"
n2=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$n2" "$T/tx.csv" 20
stop_bg ws2 || fail "walship exited $? on SIGTERM"
if log_has ws2 'new generation'; then
	echo "after the restore: a new generation ($(replica_gens "$url" | tr '\n' ' '))"
else
	log_has ws2 "continuing the restored position|replica position .*position=$gen1/" ||
		fail "neither a new generation nor generation $gen1 continued"
	echo "after the restore: generation $gen1 continued"
fi

# ---- 2. a database that exists is left alone ----
# Another database (another seed: other rows) at the path, while the
# replica holds the first one.
rm -f "$db" "$db-wal" "$db-shm"
"$TOOLS/wsload" "$db" -rate 0 -count 50 -seed 7 -log "$T/other.csv" \
	2>"$T/wsload1.log" || fail "wsload failed"
cp "$db" "$T/before.db"
start_bg ws3 "$WALSHIP" replicate -restore-if-db-not-exists "$db" "$url"
wait_for "log_has ws3 'restore on boot: database exists, leaving it alone db=$db'" 10
wait_for "log_has ws3 'snapshot written'" 20
stop_bg ws3 || fail "walship exited $? on SIGTERM"
log_has ws3 'restore on boot: restored' && fail "an existing database was restored over"
assert_restored "$db" 50 "$T/other.csv"
assert_equal "$db" "$T/before.db"

# An empty file at the path is left alone too (as Litestream), with a
# WARN saying what that costs.
db2e=$T/db2e
: >"$db2e"
start_bg ws3e "$WALSHIP" replicate -restore-if-db-not-exists "$db2e" "$url"
wait_for "log_has ws3e 'WARN restore on boot: database exists but is empty, leaving it alone db=$db2e'" 10
stop_bg ws3e || fail "walship exited $? on SIGTERM"
[ ! -s "$db2e" ] || fail "an empty database file was restored over"

# ---- 2b. SIGTERM while the restore on boot publishes the database ----
# strace holds the linkat that publishes it; SIGTERM comes then.  Every
# thread holds the signal, so no pool thread can take it and lose it
# (walship replicated on, deaf to it, before): the restore completes,
# then replicate shuts down cleanly, exit 0, without a second signal.
db2b=$T/b2/db
mkdir "$T/b2"
if held_signal TERM 60 2b "$WALSHIP" replicate -restore-if-db-not-exists "$db2b" "$url"; then
	log_has traced "restore on boot: restored db=$db2b" ||
		fail "2b: the restore did not complete: $(tail -n 3 "$T/traced.log")"
	log_has traced 'signal received, walship shutting down signal=15' ||
		fail "2b: the SIGTERM was not taken: $(tail -n 3 "$T/traced.log")"
	echo "2b: SIGTERM while publishing the restore on boot: restored, then a clean shutdown"
fi

# ---- 3. nothing in the replica: an empty start, said ----
empty=$(replica_url empty)
db3=$T/db3
start_bg ws4 "$WALSHIP" replicate -restore-if-db-not-exists \
	-restore-if-replica-exists "$db3" "$empty"
wait_for "log_has ws4 'WARN restore on boot: starting without the database db=$db3'" 10
wait_for "log_has ws4 'waiting for the database db=$db3'" 10
[ ! -e "$db3" ] || fail "walship created $db3"
bg_running ws4 || fail "walship exited after an empty start"
# The application creates it: replicated as usual.
"$TOOLS/wsload" "$db3" -rate 0 -count 40 -log "$T/tx3.csv" \
	2>"$T/wsload3.log" || fail "wsload failed"
wait_restores "$empty" 40 "$T/tx3.csv" 20
stop_bg ws4 || fail "walship exited $? on SIGTERM"

# ---- 4. a restore that fails stops walship ----
# Every snapshot of the replica is garbage: no generation restores.
head -c 4096 /dev/urandom >"$T/junk"
for k in $(replica_ls "$url" | cut -d" " -f1 | grep '/snapshots/[0-9a-f]*\.snapshot\.lz4$'); do
	replica_put "$url" "$k" "$T/junk" || fail "cannot overwrite $k"
done
rm -rf "$db" "$db-wal" "$db-shm" "$T/.db-walship"
st=0
"$WALSHIP" replicate -restore-if-db-not-exists "$db" "$url" \
	>"$T/bad.log" 2>&1 || st=$?
[ "$st" -eq 6 ] || fail "walship exited $st on a corrupt replica, want 6 (verification failed)"
grep -q "walship: restore on boot of $db failed, not replicating" "$T/bad.log" ||
	fail "unexpected error: $(tail -3 "$T/bad.log")"
grep -q 'initialized db' "$T/bad.log" && fail "replication started after a failed restore"
[ ! -e "$db" ] || fail "a failed restore left $db"
echo "corrupt replica: exit $st: $(tail -1 "$T/bad.log")"

if [ "$WS_REPLICA" = s3 ]; then
	# The server down: the listing fails; nothing starts, nothing made.
	s3_stop_server
	st=0
	"$WALSHIP" replicate -restore-if-db-not-exists "$db" "$url" \
		>"$T/down.log" 2>&1 || st=$?
	s3_start_server
	[ "$st" -eq 5 ] || fail "walship exited $st while S3 was down, want 5 (replica unreachable)"
	grep -q "walship: restore on boot of $db failed, not replicating" "$T/down.log" ||
		fail "unexpected error: $(tail -3 "$T/down.log")"
	grep -q 'initialized db' "$T/down.log" && fail "replication started after a failed restore"
	[ ! -e "$db" ] || fail "a failed restore left $db"
	echo "S3 down: exit $st: $(tail -1 "$T/down.log")"
fi

# ---- 5. not a regular file at the path ----
db5=$T/db5
ln -s "$T/victim" "$db5"
ln -s "$T/before.db" "$T/db6"
cp "$T/before.db" "$T/before.copy"
mkfifo "$T/db7"
for p in "$db5" "$T/db6" "$T/db7"; do
	case $p in
	*db7) what="a FIFO, not a regular file" ;;
	*) what="a symbolic link, not the database file" ;;
	esac
	# (timeout: a walship that went on would replicate for ever)
	st=0
	timeout 60 "$WALSHIP" replicate -restore-if-db-not-exists "$p" "$url" \
		>"$T/odd.log" 2>&1 || st=$?
	[ "$st" -eq 4 ] || fail "restore on boot over $p exited $st, want 4"
	last=$(tail -n 1 "$T/odd.log")
	case $last in
	"walship: restore on boot of $p refused, not replicating (nothing was written at that path): it is $what"*) ;;
	*) fail "restore on boot over $p: exit line \"$last\"" ;;
	esac
	grep -q 'leaving it alone\|initialized db' "$T/odd.log" &&
		fail "restore on boot over $p went on: $(cat "$T/odd.log")"
	echo "5: $p: exit $st: $last"
done
[ ! -e "$T/victim" ] || fail "a restore wrote through the dangling link"
[ -L "$db5" ] && [ -L "$T/db6" ] && [ -p "$T/db7" ] || fail "a link or the FIFO was replaced"
assert_equal "$T/before.db" "$T/before.copy"
start_bg ws7 "$WALSHIP" replicate "$T/db7" "$url"
wait_for "log_has ws7 'waiting for the database db=$T/db7 reason=\"database $T/db7 is a FIFO, not a regular file\"'" 10
stop_bg ws7 || fail "walship exited $? on SIGTERM"
log_has ws7 'is empty' && fail "a FIFO was said to be an empty database"
[ -p "$T/db7" ] || fail "the FIFO was replaced"
