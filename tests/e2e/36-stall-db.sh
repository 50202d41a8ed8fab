#!/bin/sh
# The database side of replication that cannot make progress: a database
# whose directory does not exist (a typo), an empty database file, a
# database the application deletes and creates again, a full disk
# under the meta directory, and a FIFO or a link where the -wal goes.  Each is said when it begins, naming the
# database ("stalled: ..."), costs no CPU while it lasts and does not
# flood the log (tests/lib-stall.sh), and is said when it ends; what was
# written meanwhile reaches the replica and restores exactly.  A replaced
# database starts a new generation (reason "database replaced"), and the
# replica then restores the new database, not the old one; so does a
# meta directory an operator removed ("local state removed").
# On the replica backend WS_REPLICA picks (tests/lib.sh); CASES picks
# some of the cases (default: all, "missing empty replaced
# replaced_poll local full walfifo").
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-stall.sh"
need_replica

# config NAME DB [DB-KEY=VALUE...]: replicate DB to replica NAME.
config() {
	_c_name=$1
	_c_db=$2
	shift 2
	db_config "$T/$_c_name.yml" "$_c_db" "$_c_name" "$@" -- \
		sync-interval=200ms
}


# restored NAME CSV: stop walship NAME once its replica holds the last
# commit of CSV, then restore the replica: exactly that commit.
restored() {
	_r_u=$(replica_url "$1")
	restored_at "$1" "$_r_u" "$2"
}

# A database whose directory does not exist yet: a typo, or a directory
# the application creates later.
case_missing() {
	db=$T/later/app.db
	config missing "$db"
	start_bg missing "$WALSHIP" replicate -config "$T/missing.yml"
	stall_begins missing "waiting for the database db=$db reason=\"database $db does not exist, nor its directory $T/later\""
	stall_quiet missing 3 1
	mkdir "$T/later"
	start_writer wmissing "$db" "$T/missing.csv" -count 30 -rate 30
	stall_ends missing "waiting for the database db=$db " 10
	wait_bg wmissing 30 || fail "writer exited $?"
	restored missing "$T/missing.csv"
}

# An empty file: a database its application is still creating.
case_empty() {
	db=$T/empty.db
	: >"$db"
	config empty "$db"
	start_bg empty "$WALSHIP" replicate -config "$T/empty.yml"
	stall_begins empty "waiting for the database db=$db reason=\"database $db is empty"
	stall_quiet empty 3 1
	start_writer wempty "$db" "$T/empty.csv" -count 30 -rate 30
	stall_ends empty "waiting for the database db=$db " 10
	wait_bg wempty 30 || fail "writer exited $?"
	restored empty "$T/empty.csv"
}

# The application deletes its database and creates a new one (another
# seed: other rows, other digests).  walship follows the new file in a
# new generation, and the replica restores the new database.  NAME is
# the case; with file events (at once) or, as replaced_poll, without
# (the poll, every monitor-interval).
replaced() {
	db=$T/$1.db
	"$TOOLS/wsload" "$db" -count 40 -rate 0 -log "$T/$1.old.csv" 2>/dev/null
	config "$1" "$db"
	if [ "$1" = replaced_poll ]; then
		WALSHIP_TEST_NO_EVENTS=1 start_bg "$1" "$WALSHIP" replicate \
			-config "$T/$1.yml"
	else
		start_bg "$1" "$WALSHIP" replicate -config "$T/$1.yml"
	fi
	url=$(replica_url "$1")
	wait_for '[ "$(probe_seq "$WALSHIP" "'"$url"'")" -eq 40 ]' 20
	gen_old=$(replica_gens "$url")
	rm -f "$db" "$db-wal" "$db-shm"
	wait_for "log_has $1 'database replaced db=$db: '" 5
	stall_begins "$1" "waiting for the database db=$db reason=\"database $db does not exist\""
	stall_quiet "$1" 3 1
	start_writer "w$1" "$db" "$T/$1.csv" -count 25 -rate 30 -seed 2
	stall_ends "$1" "waiting for the database db=$db " 10
	wait_for "log_has $1 'new generation db=$db generation=[0-9a-f]+ reason=\"database replaced\"'" 10
	wait_bg "w$1" 30 || fail "writer exited $?"
	restored "$1" "$T/$1.csv"
	[ "$(replica_gens "$url" | grep -cv "^$gen_old\$")" -eq 1 ] ||
		fail "want one new generation beside $gen_old: $(replica_gens "$url")"
}

case_replaced() {
	replaced replaced
}

case_replaced_poll() {
	replaced replaced_poll
}

# An operator removes walship's meta directory while it replicates: the
# local shadow is gone and with it every proof of continuity.  walship
# must start a new generation (reason "local state removed"), taking its
# lock again, rather than fail every sync from then on.
case_local() {
	db=$T/local.db
	"$TOOLS/wsload" "$db" -count 20 -rate 0 -log "$T/local.csv" 2>/dev/null
	config local "$db"
	start_bg local "$WALSHIP" replicate -config "$T/local.yml"
	wait_for 'log_has local "snapshot written"' 10
	rm -rf "$T/.local.db-walship"
	start_writer wlocal "$db" "$T/local.csv" -count 30 -rate 30
	wait_for "log_has local 'new generation db=$db generation=[0-9a-f]+ reason=\"local state removed \\($T/.local.db-walship\\)\"'" 10
	[ -f "$T/.local.db-walship/lock" ] || fail "no lock file in the new meta directory"
	wait_bg wlocal 30 || fail "writer exited $?"
	restored local "$T/local.csv"
	log_has local 'stalled' && fail "a removed meta directory stalled walship"
	true
}

# The disk of the meta directory fills up (a small tmpfs; needs root).
case_full() {
	if ! mount_small_meta "$T/meta"; then
		skip "the full disk: needs root to mount a small tmpfs"
		return
	fi
	db=$T/full.db
	"$TOOLS/wsload" "$db" -count 10 -rate 0 -log "$T/full.csv" 2>/dev/null
	config full "$db" meta-path="$T/meta/m"
	start_bg full "$WALSHIP" replicate -config "$T/full.yml"
	wait_for 'log_has full "snapshot written"' 10
	dd if=/dev/zero of="$T/meta/filler" bs=64k 2>/dev/null || true
	start_writer wfull "$db" "$T/full.csv" -count 40 -rate 40
	stall_begins full "sync error db=$db error=\"$T/meta/m/[^\"]*: No space left on device\""
	wait_bg wfull 30 || fail "writer exited $? while the meta disk was full"
	stall_quiet full 3 1
	rm "$T/meta/filler"
	stall_ends full "sync error db=$db "
	restored full "$T/full.csv"
}

# A FIFO where SQLite keeps the -wal: named (as a link or another
# non-file there, or at the -shm), not SQLite's "disk I/O error".
case_walfifo() {
	db=$T/walfifo.db
	"$TOOLS/wsload" "$db" -count 5 -log "$T/walfifo.csv" 2>>"$T/wwalfifo.log"
	[ ! -e "$db-wal" ] || fail "setup: the -wal stayed"
	mkfifo "$db-wal"
	config walfifo "$db"
	start_bg walfifo "$WALSHIP" replicate -config "$T/walfifo.yml"
	stall_begins walfifo "sync error db=$db error=\"$db-wal is a FIFO, not a regular file; SQLite keeps the database.s WAL there"
	stall_quiet walfifo 3 1
	rm "$db-wal"
	stall_ends walfifo "sync error db=$db " 40
	start_writer wwalfifo "$db" "$T/walfifo.csv" -count 30 -rate 30
	wait_bg wwalfifo 30 || fail "writer exited $?"
	restored walfifo "$T/walfifo.csv"
}

for c in ${CASES:-missing empty replaced replaced_poll local full walfifo}; do
	echo "case $c"
	"case_$c"
done
