#!/bin/sh
# The exit status says what kind of failure it was (README "Exit status",
# walship(1), include/ws/err.h), each produced here by a real failure of
# the real binary, with its one "walship: " line naming the thing at fault:
#   0  a restore that works (the control);
#   2  usage: an unknown flag, no command, a bad -timestamp;
#   3  configuration: a YAML syntax error, an unknown key, a missing
#      config file, an unset variable;
#   4  database: restore/inspect of a path that is no database nor replica,
#      an output directory that does not exist or an output that exists,
#      a second replicate on a database (its lock), and replicate of a
#      file that is not a database (stalled, then SIGTERM: the changes it
#      could not ship are the database's fault);
#   5  replica: connection refused, a DNS failure, a secret key the store
#      refuses (403 SignatureDoesNotMatch, through the SigV4-verifying
#      proxy), an unknown access key (403 InvalidAccessKeyId), a missing
#      bucket, a missing replica directory; and replicate against a store
#      that keeps refusing its key (it gives up);
#   6  verification failed: restore of a replica whose segment is damaged
#      (a flipped byte), whose segment is missing (a broken chain), and
#      of an S3 replica whose snapshot has a flipped byte;
#   1  anything else: restore of an empty replica (no backups).
# At 836eb2f every failure but usage exited 1.
#
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
# shellcheck disable=SC2030,SC2031 # credentials changed in a subshell, on purpose
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../lib.sh
set -eu
. "$(dirname "$0")/../lib.sh"
need_s3
WALSHIP_CONFIG=$T/absent.yml
export WALSHIP_CONFIG

# expect STATUS ERE ARGS...: walship ARGS exits STATUS, and the last line
# of stderr is "walship: ..." matching ERE (grep -E).
expect() {
	_ex_want=$1 _ex_ere=$2
	shift 2
	_ex_st=0
	"$WALSHIP" "$@" >"$T/ex.out" 2>"$T/ex.err" || _ex_st=$?
	_ex_line=$(tail -n 1 "$T/ex.err")
	[ "$_ex_st" -eq "$_ex_want" ] ||
		fail "walship $*: exit $_ex_st, want $_ex_want: $(cat "$T/ex.err")"
	[ "$_ex_want" -eq 0 ] && return 0
	printf '%s\n' "$_ex_line" | grep -Eq "^walship: .*$_ex_ere" ||
		fail "walship $*: the last line \"$_ex_line\" does not match \"walship: .*$_ex_ere\""
	[ "$(grep -c '^walship: ' "$T/ex.err")" -eq 1 ] ||
		fail "walship $*: not one 'walship: ' line: $(cat "$T/ex.err")"
}

# A database replicated to a directory and to S3, then stopped: written
# in two rounds, so that its WAL is in two segments or more.
db=$T/app.db
s3url=$(replica_url app)
"$TOOLS/wsload" "$db" -rate 0 -count 100 -log "$T/tx.csv" >"$T/wsload.log" 2>&1 ||
	fail "wsload: $(cat "$T/wsload.log")"
start_bg ws "$WALSHIP" replicate "$db" "file://$T/rep" "$s3url"
wait_restores "file://$T/rep" 100 "$T/tx.csv" 30
# More rounds until the directory replica's WAL is in two segments or
# more (one round may land in one segment, when a snapshot or checkpoint
# comes between).
n=100
while :; do
	"$TOOLS/wsload" "$db" -rate 0 -count 100 -log "$T/tx.csv" >>"$T/wsload.log" 2>&1 ||
		fail "wsload: $(cat "$T/wsload.log")"
	n=$((n + 100))
	wait_restores "file://$T/rep" "$n" "$T/tx.csv" 30
	[ "$(find "$T/rep/generations" -name '*.wal.lz4' | wc -l)" -ge 2 ] && break
	[ "$n" -lt 1000 ] || fail "no second segment after $n rows"
done
wait_restores "$s3url" "$n" "$T/tx.csv" 30
stop_bg ws || fail "replicate exited $?"

# -- 0 -------------------------------------------------------------------
expect 0 "" restore -o "$T/ok.db" "$s3url"
assert_restored "$T/ok.db" "$n" "$T/tx.csv"

# -- 2: usage -------------------------------------------------------------
expect 2 "flag provided but not defined: -bogus" restore -bogus "$s3url"
expect 2 'invalid value "noon" for flag -timestamp' \
	restore -timestamp noon -o "$T/x.db" "$s3url"
st=0
"$WALSHIP" >/dev/null 2>&1 || st=$?
[ "$st" -eq 2 ] || fail "walship without a command: exit $st, want 2"

# -- 3: configuration ------------------------------------------------------
printf 'dbs: [\n' >"$T/syntax.yml"
expect 3 "$T/syntax.yml:2: " replicate -config "$T/syntax.yml"
printf 'dbs:\n  - path: %s\n    replicas:\n      - path: %s\n    bogus: 1\n' \
	"$db" "$T/rep" >"$T/key.yml"
expect 3 "$T/key.yml:5: unknown key \"bogus\"" replicate -config "$T/key.yml"
expect 3 "config file not found: $T/nope.yml" \
	generations -config "$T/nope.yml" "$db"
# shellcheck disable=SC2016 # the config file's own ${...}
printf 'dbs:\n  - path: ${WALSHIP_TEST_UNSET}/a.db\n    replicas:\n      - path: %s\n' \
	"$T/rep" >"$T/unset.yml"
expect 3 "WALSHIP_TEST_UNSET is not set" restore -config "$T/unset.yml" -o "$T/x.db" "$db"

# -- 4: database ------------------------------------------------------------
expect 4 "$T/missing.db does not exist" generations "$T/missing.db"
expect 4 "$T/missing.db does not exist" restore -o "$T/x.db" "$T/missing.db"
expect 4 "directory $T/nodir does not exist" \
	restore -o "$T/nodir/x.db" "file://$T/rep"
expect 4 "output path already exists: $T/ok.db" restore -o "$T/ok.db" "$s3url"
# A second replicate on a database: its lock is held.
start_bg ws1 "$WALSHIP" replicate "$db" "file://$T/rep"
wait_for 'log_has ws1 "snapshot written|wal segment written|replica position"' 20
expect 4 "another walship is replicating" replicate "$db" "file://$T/rep2"
stop_bg ws1 || fail "replicate exited $?"
# Not a database: replicate stalls on it (loud), and on SIGTERM exits with
# the database's status, having shipped nothing.
head -c 8192 /dev/urandom >"$T/junk.db"
start_bg junk "$WALSHIP" replicate "$T/junk.db" "file://$T/junkrep"
wait_for 'log_has junk "stalled: sync error db=$T/junk.db .*not a database"' 20
st=0
stop_bg junk || st=$?
[ "$st" -eq 4 ] || fail "replicate of a file that is not a database: exit $st, want 4"
log_has junk "^walship: shut down with unshipped changes" ||
	fail "no exit line: $(tail -n 3 "$T/junk.log")"

# -- 5: replica unreachable or refusing ------------------------------------
expect 5 "Couldn't connect to server|Connection refused" \
	restore -o "$T/x.db" "s3://$S3_BUCKET/app?endpoint=http://127.0.0.1:1"
expect 5 "Could not resolve host: walship-test-nohost.invalid" \
	restore -o "$T/x.db" "s3://$S3_BUCKET/app?endpoint=http://walship-test-nohost.invalid:9000"
(
	AWS_SECRET_ACCESS_KEY=wrong-$AWS_SECRET_ACCESS_KEY
	export AWS_SECRET_ACCESS_KEY
	expect 5 "403 SignatureDoesNotMatch" restore -o "$T/x.db" "$s3url"
)
(
	AWS_ACCESS_KEY_ID=AKIAWALSHIPNOSUCHKEY
	export AWS_ACCESS_KEY_ID
	expect 5 "403 InvalidAccessKeyId" generations "$s3url"
)
_ws_failed
nobucket=$(printf '%s' "$s3url" | sed "s|s3://$S3_BUCKET/|s3://walship-no-such-bucket/|")
expect 5 "NoSuchBucket" restore -o "$T/x.db" "$nobucket"
expect 5 "$T/nowhere does not exist" restore -o "$T/x.db" "file://$T/nowhere"
[ ! -e "$T/x.db" ] || fail "a failed restore left $T/x.db"
# replicate against a store that keeps refusing its key: it gives up.
st=0
AWS_SECRET_ACCESS_KEY=wrong-$AWS_SECRET_ACCESS_KEY timeout 120 \
	"$WALSHIP" replicate "$db" "$(replica_url refused)" >"$T/refused.out" \
	2>"$T/refused.err" || st=$?
[ "$st" -eq 5 ] || fail "replicate refused by S3: exit $st, want 5: $(tail -n 3 "$T/refused.err")"
tail -n 1 "$T/refused.err" | grep -q '^walship: .*403 SignatureDoesNotMatch' ||
	fail "replicate refused by S3: $(tail -n 3 "$T/refused.err")"

# -- 6: verification failed ---------------------------------------------------
gen=$(ls "$T/rep/generations")
cp -a "$T/rep" "$T/flip"
seg=$(find "$T/flip/generations/$gen/wal" -name '*.wal.lz4' | sort | tail -n 1)
size=$(wc -c <"$seg")
flip_byte "$seg" $((size / 2))
expect 6 "$(basename "$seg")" restore -o "$T/x.db" "file://$T/flip"
cp -a "$T/rep" "$T/gap"
nseg=$(find "$T/gap/generations/$gen/wal" -name '*.wal.lz4' | wc -l)
[ "$nseg" -ge 2 ] || fail "want 2 segments or more to break the chain, have $nseg"
rm "$(find "$T/gap/generations/$gen/wal" -name '*.wal.lz4' | sort | head -n 1)"
expect 6 "$gen" restore -o "$T/x.db" "file://$T/gap"
# S3: a byte of the snapshot flipped.
snap=$(replica_files "$s3url" "generations/$gen/snapshots/" | head -n 1)
[ -n "$snap" ] || fail "no snapshot in $s3url"
replica_get "$s3url" "generations/$gen/snapshots/$snap" "$T/snap.lz4" ||
	fail "cannot get the snapshot"
size=$(wc -c <"$T/snap.lz4")
flip_byte "$T/snap.lz4" $((size / 2))
replica_put "$s3url" "generations/$gen/snapshots/$snap" "$T/snap.lz4" ||
	fail "cannot replace the snapshot"
expect 6 "$snap" restore -o "$T/x.db" "$s3url"
[ ! -e "$T/x.db" ] || fail "a failed restore left $T/x.db"

# -- 1: anything else ---------------------------------------------------------
mkdir "$T/empty"
expect 1 "no matching backups found" restore -o "$T/x.db" "file://$T/empty"
echo "exit statuses: all cases passed"
