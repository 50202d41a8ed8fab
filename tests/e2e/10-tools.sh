#!/bin/sh
# The test tools themselves (no walship): wsload writes a self-certifying
# workload, wscheck accepts exactly what it should and rejects a database
# that lost a row, a txlog entry or one value.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
# shellcheck source-path=SCRIPTDIR
set -eu
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
need_tools

db=$T/db
csv=$T/log.csv

# 2 s at 100 tx/s: about 200 commits, each logged, all checkable.
"$TOOLS/wsload" "$db" -rate 100 -duration 2 -log "$csv" 2>"$T/load1.log" ||
	fail "wsload failed"
last=$(csv_last_seq "$csv")
if [ "$last" -lt 150 ] || [ "$last" -gt 201 ]; then
	fail "2 s at 100 tx/s committed $last transactions"
fi
[ "$(wc -l <"$csv")" -eq "$last" ] || fail "CSV has not one line per commit"
log_has load1 "^wsload: committed $last \(last seq $last\) busy 0$" ||
	fail "wsload's exit line is wrong"
assert_restored "$db" "$last" "$csv"
[ "$("$TOOLS/wscheck" -seq "$db")" = "$last" ] || fail "wscheck -seq"

# A VACUUM INTO copy is logically equal, and itself passes O2.
sqlite3 "$db" "VACUUM INTO '$T/copy.db'"
assert_equal "$db" "$T/copy.db"
assert_restored "$T/copy.db" "$last" "$csv"
[ "$("$TOOLS/wscheck" "$db")" = "$("$TOOLS/wscheck" "$T/copy.db")" ] ||
	fail "the copy's digest differs"

# One row deleted behind wsload's back: both checks must fail.
cp "$T/copy.db" "$T/lost-row.db"
sqlite3 "$T/lost-row.db" "DELETE FROM t WHERE id = (SELECT min(id) FROM t)"
out=$("$TOOLS/wscheck" "$T/lost-row.db" 2>&1) &&
	fail "wscheck accepted a database with a row deleted"
case $out in *"digest mismatch at seq $last"*) ;; *) fail "wscheck: $out" ;; esac
out=$("$TOOLS/wscheck" -eq "$db" "$T/lost-row.db" 2>&1) &&
	fail "wscheck -eq missed a deleted row"
case $out in "wscheck: table t differs"*) ;; *) fail "wscheck -eq: $out" ;; esac

# A hole in txlog.
cp "$T/copy.db" "$T/gap.db"
sqlite3 "$T/gap.db" "DELETE FROM txlog WHERE seq = 100"
out=$("$TOOLS/wscheck" "$T/gap.db" 2>&1) && fail "wscheck accepted a txlog gap"
case $out in *"expected seq 100, found 101"*) ;; *) fail "wscheck: $out" ;; esac

# One value changed in a column the digest does not cover.
cp "$T/copy.db" "$T/changed.db"
sqlite3 "$T/changed.db" "UPDATE txlog SET t_ns = t_ns + 1 WHERE seq = 7"
"$TOOLS/wscheck" "$T/changed.db" >/dev/null || fail "t_ns is not in the digest"
out=$("$TOOLS/wscheck" -eq "$db" "$T/changed.db" 2>&1) &&
	fail "wscheck -eq missed a changed value"
case $out in *"table txlog differs: row 7"*) ;; *) fail "wscheck -eq: $out" ;; esac

# A schema difference.
cp "$T/copy.db" "$T/schema.db"
sqlite3 "$T/schema.db" "CREATE INDEX extra ON txlog(t_ns)"
out=$("$TOOLS/wscheck" -eq "$T/schema.db" "$db" 2>&1) &&
	fail "wscheck -eq missed an extra index"
case $out in *"index extra only in"*) ;; *) fail "wscheck -eq: $out" ;; esac

# The CSV oracle: a digest that disagrees with the log is caught.
sed '$ s/,[0-9a-f]*$/,00000000000000000000000000000000/' "$csv" >"$T/bad.csv"
out=$("$TOOLS/wscheck" -csv "$T/bad.csv" "$db" 2>&1) &&
	fail "wscheck -csv missed a wrong digest"
case $out in *"digest of seq $last is 00000000"*) ;; *) fail "wscheck -csv: $out" ;; esac

# Transaction i depends only on (seed, i): 100 in one run, or 60 then 40
# with different checkpointing, give the same database content.
"$TOOLS/wsload" "$T/a.db" -rate 0 -count 100 -seed 7 -rows 3 -size 300 \
	2>/dev/null || fail "wsload a.db"
"$TOOLS/wsload" "$T/b.db" -rate 0 -count 60 -seed 7 -rows 3 -size 300 \
	-checkpoint truncate -checkpoint-every 1 2>/dev/null || fail "wsload b.db"
"$TOOLS/wsload" "$T/b.db" -rate 0 -count 40 -seed 7 -rows 3 -size 300 \
	-autocheckpoint 0 2>/dev/null || fail "wsload b.db (resumed)"
"$TOOLS/wsload" "$T/c.db" -rate 0 -count 100 -seed 8 -rows 3 -size 300 \
	2>/dev/null || fail "wsload c.db"
a=$("$TOOLS/wscheck" "$T/a.db" 2>&1) || fail "a.db: $a"
b=$("$TOOLS/wscheck" "$T/b.db" 2>&1) || fail "b.db: $b"
c=$("$TOOLS/wscheck" "$T/c.db" 2>&1) || fail "c.db: $c"
[ "$a" = "$b" ] || fail "not deterministic: $a vs $b"
[ "$a" != "$c" ] || fail "the seed does not matter: $a vs $c"
case $a in "ok seq=100 "*) ;; *) fail "a.db: $a" ;; esac

# SIGTERM finishes the current transaction, logs it and exits 0; the
# periodic checkpoints run (busy results are counted, never fatal).
start_writer load2 "$T/s.db" "$T/s.csv" -rate 0 -checkpoint restart \
	-checkpoint-every 20
wait_for '[ "$(csv_last_seq "$T/s.csv")" -ge 200 ]' 30
stop_bg load2 TERM || fail "wsload exited with status $? on SIGTERM"
last=$(csv_last_seq "$T/s.csv")
log_has load2 "^wsload: committed $last \(last seq $last\) busy [0-9]+$" ||
	fail "wsload's exit line is wrong after SIGTERM"
assert_restored "$T/s.db" "$last" "$T/s.csv"

# Usage errors are loud.
"$TOOLS/wsload" "$T/x.db" -rate -1 2>/dev/null && fail "wsload took -rate -1"
"$TOOLS/wsload" "$T/x.db" -checkpoint bogus 2>/dev/null &&
	fail "wsload took -checkpoint bogus"
"$TOOLS/wscheck" "$T/missing.db" 2>/dev/null && fail "wscheck took a missing db"
echo "tools ok"
