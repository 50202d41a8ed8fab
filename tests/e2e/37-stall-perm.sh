#!/bin/sh
# Replication that cannot make progress for want of permissions, with
# walship running as another user (nobody; mode bits do not stop root):
# a database directory walship cannot write (mode 555: no meta directory
# there; the message says to set meta-path; with meta-path elsewhere, the
# -wal or -shm it cannot create there is named), a database it cannot read
# (mode 000), a database it can read but not write (root's, 644), and a
# replica directory made read-only (directory replicas
# only: S3 has no directories, and its refusals are 91's and 92's).
# Each is said when it begins, naming the thing, costs no CPU while it
# lasts and does not flood the log (tests/lib-stall.sh); once the mode
# is fixed walship carries on by itself, says so, and what was written
# meanwhile restores exactly.
# On the replica backend WS_REPLICA picks (tests/lib.sh); CASES picks
# some of the cases (default: all, "dir metaelse unreadable readonly
# replica").
# shellcheck disable=SC2086 # $NOBODY is a command's words (lib-stall.sh)
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-stall.sh"
need_replica
need_nobody

# Everything as nobody, in a directory of nobody's: the writer too, so
# that the -wal and -shm it creates are nobody's.
mkdir -m 700 "$T/own" "$T/own/run"
chown -R nobody "$T/own"
export XDG_RUNTIME_DIR="$T/own/run"

# setup NAME ROWS: database $T/own/NAME/app.db (nobody's) with ROWS rows
# from a writer that has exited; a config replicating it to NAME (a
# directory of nobody's).
setup() {
	mkdir -m 755 "$T/own/$1"
	chown nobody "$T/own/$1"
	if [ "$WS_REPLICA" = file ]; then
		mkdir -m 700 "$T/$1"
		chown nobody "$T/$1"
	fi
	$NOBODY "$TOOLS/wsload" "$T/own/$1/app.db" -count "$2" -rate 0 \
		-log "$T/own/$1.csv" 2>/dev/null
	db_config "$T/$1.yml" "$T/own/$1/app.db" "$1" -- sync-interval=200ms
	chmod 644 "$T/$1.yml"
}

# write NAME ROWS: ROWS more commits, as nobody.
write() {
	$NOBODY "$TOOLS/wsload" "$T/own/$1/app.db" -count "$2" -rate 50 \
		-log "$T/own/$1.csv" 2>/dev/null
}

# restored NAME: stop walship NAME once the replica holds the last
# commit, then restore it: exactly that commit.
restored() {
	_r_n=$(csv_last_seq "$T/own/$1.csv")
	_r_u=$(replica_url "$1")
	wait_for '[ "$(probe_seq "$WALSHIP" "'"$_r_u"'")" -eq '"$_r_n"' ]' 60
	stop_bg "$1" || fail "$1: walship exited $? on SIGTERM"
	"$WALSHIP" restore -o "$T/$1.restored" "$_r_u" >"$T/$1.restore.log" 2>&1 ||
		fail "$1: restore failed: $(tail -n 2 "$T/$1.restore.log")"
	assert_restored "$T/$1.restored" "$_r_n" "$T/own/$1.csv"
}

# A database directory walship cannot write to: its meta directory
# cannot be made there.
case_dir() {
	setup dir 20
	chmod 555 "$T/own/dir"
	start_bg dir $NOBODY "$WALSHIP" replicate -config "$T/dir.yml"
	meta=$T/own/dir/.app.db-walship
	stall_begins dir "sync error db=$T/own/dir/app.db error=\"cannot use the meta directory $meta: mkdir $meta: Permission denied \\(set meta-path to a directory walship can write\\)\""
	stall_quiet dir 4 1
	chmod 755 "$T/own/dir"
	stall_ends dir "sync error db=$T/own/dir/app.db "
	write dir 30
	restored dir
}

# The same with meta-path elsewhere: the meta directory is made, but
# SQLite cannot create the -wal beside the database.  The error names the
# file and the directory with the reason, not SQLite's bare "unable to
# open database file" after a list of pragmas.
case_metaelse() {
	setup metaelse 20
	mkdir -m 700 "$T/own/metaelse-state"
	chown nobody "$T/own/metaelse-state"
	db_config "$T/metaelse.yml" "$T/own/metaelse/app.db" metaelse \
		"meta-path=$T/own/metaelse-state/meta" -- sync-interval=200ms
	chmod 644 "$T/metaelse.yml"
	chmod 555 "$T/own/metaelse"
	start_bg metaelse $NOBODY "$WALSHIP" replicate -config "$T/metaelse.yml"
	stall_begins metaelse "sync error db=$T/own/metaelse/app.db error=\"cannot create $T/own/metaelse/app.db-(wal|shm): Permission denied \\(walship needs write access to the database.s directory $T/own/metaelse\\)\""
	stall_quiet metaelse 4 1
	chmod 755 "$T/own/metaelse"
	stall_ends metaelse "sync error db=$T/own/metaelse/app.db "
	write metaelse 30
	restored metaelse
}

# A database walship cannot read.
case_unreadable() {
	setup unreadable 20
	chmod 000 "$T/own/unreadable/app.db"
	start_bg unreadable $NOBODY "$WALSHIP" replicate \
		-config "$T/unreadable.yml"
	stall_begins unreadable "sync error db=$T/own/unreadable/app.db error=\".*Permission denied"
	stall_quiet unreadable 4 1
	chmod 644 "$T/own/unreadable/app.db"
	stall_ends unreadable "sync error db=$T/own/unreadable/app.db "
	write unreadable 30
	restored unreadable
}

# A database walship can read but not write (root's, mode 644, in a
# directory of nobody's): SQLite opened it read-only without a word, and
# walship copied until its first checkpoint failed, then stopped shipping
# for good, even once the owner was fixed.  Said at the start now, and
# tried again on new connections: a chown ends it.
case_readonly() {
	setup readonly 20
	chown root "$T/own/readonly/app.db"
	chmod 644 "$T/own/readonly/app.db"
	start_bg readonly $NOBODY "$WALSHIP" replicate -config "$T/readonly.yml"
	stall_begins readonly "sync error db=$T/own/readonly/app.db error=\"[^\"]*can open it only read-only"
	stall_quiet readonly 4 1
	chown nobody "$T/own/readonly/app.db"
	stall_ends readonly "sync error db=$T/own/readonly/app.db "
	write readonly 30
	restored readonly
}

# The replica directory made read-only while replicating.
case_replica() {
	[ "$WS_REPLICA" = file ] || return 0
	setup replica 20
	start_bg replica $NOBODY "$WALSHIP" replicate -config "$T/replica.yml"
	wait_for 'log_has replica "snapshot written"' 10
	find "$T/replica" -type d -exec chmod 555 {} +
	write replica 20
	stall_begins replica "error db=$T/own/replica/app.db replica=file error=\"[^\"]*Permission denied\" backing off"
	stall_quiet replica 4 1
	find "$T/replica" -type d -exec chmod 700 {} +
	stall_ends replica "error db=$T/own/replica/app.db replica=file "
	write replica 10
	restored replica
}

for c in ${CASES:-dir metaelse unreadable readonly replica}; do
	echo "case $c"
	"case_$c"
done
