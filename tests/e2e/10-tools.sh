#!/bin/sh
# The test tools themselves (no walship): wsload writes a self-certifying
# workload, and wscheck accepts exactly what it should.  It rejects, each
# planted here: a page corrupted in the middle of the file that
# integrity_check does not see (one byte of a row's blob in a leaf page),
# a database one transaction short of the CSV's last seq, a row deleted,
# a row changed, a txlog row changed or missing, an empty database unless
# asked, a table wsload does not write; and -eq tells apart two databases
# that differ in one row or one index.
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

# rejects WHAT EXPECT ARGS...: wscheck ARGS exits 1 with EXPECT (a shell
# pattern) in its one-line message.
rejects() {
	_rj_what=$1
	_rj_want=$2
	shift 2
	_rj_st=0
	_rj_out=$("$TOOLS/wscheck" "$@" 2>&1) || _rj_st=$?
	[ "$_rj_st" -eq 1 ] || fail "wscheck $*: exit $_rj_st on $_rj_what: $_rj_out"
	# shellcheck disable=SC2254 # EXPECT is a pattern
	case $_rj_out in
	"wscheck: "$_rj_want) echo "caught: $_rj_what: $_rj_out" ;;
	*) fail "wscheck $* on $_rj_what: $_rj_out" ;;
	esac
}

# (a) A page corrupted in the middle of the file under a valid b-tree:
# one byte of a row's blob changed in its leaf page of t, nothing else.
# integrity_check still says ok; the digest of t does not.
cp "$T/copy.db" "$T/page.db"
mid=$(sqlite3 "$T/page.db" "SELECT id FROM t WHERE id >= (SELECT (min(id) + max(id)) / 2 FROM t) ORDER BY id LIMIT 1")
sqlite3 "$T/page.db" "SELECT hex(substr(v, 1, 64)) FROM t WHERE id = $mid" >"$T/blob.hex"
off=$(python3 - "$T/page.db" "$T/blob.hex" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
blob = bytes.fromhex(open(sys.argv[2]).read().strip())
at = data.find(blob)
assert at > 0 and data.find(blob, at + 1) < 0, "blob not found exactly once"
psz = int.from_bytes(data[16:18], "big")
npages = len(data) // psz
page = at // psz
assert 0 < page < npages - 1, "blob on the first or last page"
print(at + 20)
PY
) || fail "cannot find row $mid's blob in page.db"
b=$(od -An -tu1 -j "$off" -N1 "$T/page.db" | tr -d ' ')
# shellcheck disable=SC2059 # the format is the byte
printf "$(printf '\\%03o' $((b ^ 0x5a)))" |
	dd of="$T/page.db" bs=1 seek="$off" count=1 conv=notrunc 2>/dev/null
[ "$(sqlite3 "$T/page.db" 'PRAGMA integrity_check')" = ok ] ||
	fail "the planted page corruption is not the kind integrity_check misses"
rejects "a corrupted leaf page (byte $off)" "*digest mismatch at seq $last:*" \
	-csv "$csv" -want "$last" "$T/page.db"
rejects "a corrupted leaf page, -eq" "table t differs: row * column v" \
	-eq "$db" "$T/page.db"

# (b) One transaction short: a copy taken at seq 30, against a CSV that
# goes on to seq 31.  It is a committed prefix (so -min passes), but not
# the one asked for.
"$TOOLS/wsload" "$T/short.db" -rate 0 -count 30 -log "$T/short.csv" 2>/dev/null ||
	fail "wsload short.db"
cp "$T/short.db" "$T/short-30.db"
"$TOOLS/wsload" "$T/short.db" -rate 0 -count 1 -log "$T/short.csv" 2>/dev/null ||
	fail "wsload short.db (31)"
[ "$(csv_last_seq "$T/short.csv")" -eq 31 ] || fail "short.csv"
"$TOOLS/wscheck" -csv "$T/short.csv" -min 30 "$T/short-30.db" >/dev/null ||
	fail "a committed prefix at seq 30 rejected"
rejects "one transaction short" "*seq 30, want 31 (transactions missing)" \
	-csv "$T/short.csv" -want 31 "$T/short-30.db"
rejects "a prefix below -min" "*seq 30, want at least 31" \
	-csv "$T/short.csv" -min 31 "$T/short-30.db"
assert_restored "$T/short.db" 31 "$T/short.csv"

# (c) One row deleted behind wsload's back.
cp "$T/copy.db" "$T/lost-row.db"
sqlite3 "$T/lost-row.db" "DELETE FROM t WHERE id = (SELECT min(id) FROM t)"
rejects "a row deleted" "*digest mismatch at seq $last:*" "$T/lost-row.db"
rejects "a row deleted, -eq" "table t differs*" -eq "$db" "$T/lost-row.db"

# (d) One row changed: its k, then its blob.
cp "$T/copy.db" "$T/changed-k.db"
sqlite3 "$T/changed-k.db" "UPDATE t SET k = k + 1 WHERE id = $mid"
rejects "a row's k changed" "*digest mismatch at seq $last:*" \
	-csv "$csv" "$T/changed-k.db"
cp "$T/copy.db" "$T/changed-v.db"
sqlite3 "$T/changed-v.db" "UPDATE t SET v = randomblob(length(v)) WHERE id = $mid"
rejects "a row's blob changed" "*digest mismatch at seq $last:*" "$T/changed-v.db"

# A hole in txlog.
cp "$T/copy.db" "$T/gap.db"
sqlite3 "$T/gap.db" "DELETE FROM txlog WHERE seq = 100"
rejects "a txlog gap" "*expected seq 100, found 101" "$T/gap.db"

# txlog rows the digest does not cover: their begin time and the digest
# of an earlier seq.  Only the CSV can tell, and with it wscheck does.
cp "$T/copy.db" "$T/changed.db"
sqlite3 "$T/changed.db" "UPDATE txlog SET t_ns = t_ns + 1 WHERE seq = 7"
"$TOOLS/wscheck" "$T/changed.db" >/dev/null ||
	fail "without a CSV, t_ns is not checked"
rejects "a txlog time changed" "$csv: t_ns of seq 7 is *" -csv "$csv" "$T/changed.db"
cp "$T/copy.db" "$T/changed-d.db"
sqlite3 "$T/changed-d.db" "UPDATE txlog SET digest = '00000000000000000000000000000000' WHERE seq = 8"
rejects "an earlier txlog digest changed" "$csv: digest of seq 8 is *" \
	-csv "$csv" "$T/changed-d.db"

# (e) -eq: two databases that differ in one value of one row.
rejects "-eq, a txlog value" "*table txlog differs: row 7*" -eq "$db" "$T/changed.db"
rejects "-eq, one row's k" "table t differs: row * column k" -eq "$db" "$T/changed-k.db"

# An empty wsload database (tables, no transaction) is no restore of
# anything: refused unless asked for.
sqlite3 "$T/empty.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v BLOB);
CREATE INDEX t_k ON t(k);
CREATE TABLE txlog(seq INTEGER PRIMARY KEY, t_ns INTEGER, digest TEXT);"
rejects "an empty database" "*seq 0, want at least 1 (an empty txlog passes only with -allow-empty)" \
	"$T/empty.db"
[ "$("$TOOLS/wscheck" -allow-empty "$T/empty.db")" = "ok seq=0 digest=00000000000000000000000000000000" ] ||
	fail "-allow-empty"
"$TOOLS/wscheck" -min 0 -csv "$csv" "$T/empty.db" >/dev/null || fail "-min 0"

# A table wsload does not write is not a wsload database.
cp "$T/copy.db" "$T/extra.db"
sqlite3 "$T/extra.db" "CREATE TABLE more(x)"
rejects "an extra table" "*unexpected table more*" "$T/extra.db"

# A schema difference.
cp "$T/copy.db" "$T/schema.db"
sqlite3 "$T/schema.db" "CREATE INDEX extra ON txlog(t_ns)"
out=$("$TOOLS/wscheck" -eq "$T/schema.db" "$db" 2>&1) &&
	fail "wscheck -eq missed an extra index"
case $out in *"index extra only in"*) ;; *) fail "wscheck -eq: $out" ;; esac

# The CSV oracle: a digest that disagrees with the log is caught, and so
# is a CSV that is not one writer's log.
sed '$ s/,[0-9a-f]*$/,00000000000000000000000000000000/' "$csv" >"$T/bad.csv"
rejects "a CSV with another digest" "*digest of seq $last is 00000000*" \
	-csv "$T/bad.csv" "$db"
sed 5d "$csv" >"$T/hole.csv"
rejects "a CSV with a hole" "*seq 6 follows seq 4 (one writer, one CSV)" \
	-csv "$T/hole.csv" "$db"

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
st=0
"$TOOLS/wscheck" -want 3 -min 2 "$db" 2>/dev/null || st=$?
[ "$st" -eq 2 ] || fail "wscheck -want with -min: exit $st, want 2"
# -gap: at least that pause from one commit's end to the next one's begin.
"$TOOLS/wsload" "$T/gap2.db" -rate 0 -count 10 -gap 50 -log "$T/gap2.csv" \
	2>/dev/null || fail "wsload -gap"
awk -F, 'NR > 1 && $2 - e < 50000000 { print "seq " $1 " began " ($2 - e) " ns after seq " ($1 - 1) " ended"; bad = 1 }
	{ e = $3 } END { exit bad }' "$T/gap2.csv" || fail "wsload -gap 50 did not pause"
echo "tools ok"
