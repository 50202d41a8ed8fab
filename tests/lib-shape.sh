# tests/lib-shape.sh: sourced after tests/lib.sh by the tests of the
# database changing shape under replication (21, 22).  POSIX sh.
#
# They work on $db (the database), $csv (its writer's log) and $url (its
# replica), which the test sets.
#
#   app SQL...          the application's sqlite3 on $db, with a busy
#                       timeout, as any application has
#   start_ws NAME       walship replicate -v $db $url as NAME, returning
#                       once it runs
#   restore_check NAME  restore the latest state to $T/NAME.db; it must
#                       be the writer's last commit (wscheck against
#                       $csv), hold the rows of $db (wscheck -eq), with
#                       the same `.sha3sum` and page size
#   byte_exact NAME     walship stopped: checkpoint $db whole (TRUNCATE,
#                       which must complete), then $T/NAME.db must be
#                       $db byte for byte (SHA-256); on a difference the
#                       first differing bytes are printed
#   settle_check WS NAME  the replica at the writer's last commit, walship
#                       WS stopped cleanly, then restore_check and
#                       byte_exact as NAME
# shellcheck shell=sh disable=SC2154 # db, csv, url: the test's

app() {
	sqlite3 -cmd '.timeout 10000' "$db" "$@"
}

start_ws() {
	start_bg "$1" "$WALSHIP" replicate -v "$db" "$url"
	wait_for "log_has $1 'control endpoint'" 30
}

restore_check() {
	"$WALSHIP" restore -o "$T/$1.db" "$url" >"$T/$1.rlog" 2>&1 ||
		fail "$1: restore failed: $(tail -2 "$T/$1.rlog")"
	assert_restored "$T/$1.db" "$(csv_last_seq "$csv")" "$csv"
	assert_equal "$db" "$T/$1.db"
	[ "$(sqlite3 "$db" .sha3sum)" = "$(sqlite3 "$T/$1.db" .sha3sum)" ] ||
		fail "$1: .sha3sum of the restore differs from the source's"
	_rc_a=$(sqlite3 "$db" 'PRAGMA page_size')
	_rc_b=$(sqlite3 "$T/$1.db" 'PRAGMA page_size')
	[ "$_rc_a" = "$_rc_b" ] ||
		fail "$1: page size $_rc_b, the source's $_rc_a"
}

# settle_check WS NAME: once the replica holds the writer's last commit,
# stop walship WS cleanly, then restore_check and byte_exact as NAME.
settle_check() {
	wait_restores "$url" "$(csv_last_seq "$csv")" "$csv" 30
	stop_bg "$1" || fail "walship exited $? on SIGTERM"
	restore_check "$2"
	byte_exact "$2"
}

byte_exact() {
	app 'PRAGMA wal_checkpoint(TRUNCATE)' >"$T/ckpt.out" 2>&1
	[ "$(cat "$T/ckpt.out")" = "0|0|0" ] ||
		fail "$1: the source's TRUNCATE did not complete: $(cat "$T/ckpt.out")"
	[ "$(sha256sum <"$db")" = "$(sha256sum <"$T/$1.db")" ] || {
		cmp -l "$db" "$T/$1.db" | head -5 >&2 || :
		fail "$1: the restored file differs from the checkpointed source (sizes $(stat -c %s "$db") and $(stat -c %s "$T/$1.db"))"
	}
}
