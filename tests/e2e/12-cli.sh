#!/bin/sh
# The command line and the config file do what the README says, or refuse
# in one line: with the real binary,
#   - logs: text lines start with UTC RFC 3339 to the millisecond;
#     `logging.type: json` gives one JSON object a line (checked with
#     python3's json module, on a database path with a space and a quote
#     and an error message that quotes it), with the pairs as fields;
#     `logging.stderr: false` sends them to stdout and nothing to stderr;
#   - a plain replica directory works for restore, restore -list,
#     generations, snapshots and wal, as its file:// URL does, with or
#     without a config file; a directory that is no replica is refused;
#     a missing replica directory or file:// URL is refused by every read
#     command in one line saying it does not exist (an existing empty one
#     is a replica without backups);
#   - -index takes 1 to 8 hex digits only (0x2 is refused); -index past
#     the newest index restores the newest data and says so, as
#     -timestamp does; bad -timestamp, -generation, boolean values and
#     flags -list ignores are refused; a -timestamp before any backup
#     (0001-01-01) is named in the error;
#   - -config naming a FIFO, a directory or a device is refused in one
#     line naming it (never a start blocked on a FIFO);
#   - a second replicate on a database prints its error once (exit 4);
#   - exit statuses by kind: 3 for a config file that cannot be read,
#     4 for a path that is no database nor replica, 5 for a missing or
#     broken replica, 1 for a replica without backups or a -timestamp
#     before them;
#   - configurations that can never work exit 3 at start, in one line
#     naming the key and its line (no dbs, a database without replicas,
#     an unset variable, an exec that needs a shell, a bare-number
#     duration, an s3 key on a file replica, a shared meta-path, a
#     min-checkpoint-page-count of 0, a size with a space, a path from an
#     empty variable, file URLs with a host, a query or no "//" -- these
#     also on the command line, leaving no directory behind -- and a
#     directory replica others can write to);
#   - an unknown command is `walship: unknown command "..."`, exit 2;
#   - a quoted log value keeps a '"' of its own (a database path): one
#     JSON field, escaped in text;
#   - a database found in rollback mode is switched back to WAL, said.
set -eu
. "$(dirname "$0")/../lib.sh"
need_walship
need_tools
command -v python3 >/dev/null || fail "python3 is needed to check JSON"
# No config file at the default place, whatever this machine has.
WALSHIP_CONFIG=$T/absent.yml
export WALSHIP_CONFIG

ts_re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (DEBUG|INFO|WARN|ERROR) '

# check_json FILE DB: every line of FILE is a JSON object with time
# (within this test's run), level and msg; the snapshot line has the
# database path and its size as a number.
check_json() {
	python3 - "$1" "$2" "$t0" <<'PY' || fail "bad JSON log lines in $1"
import datetime, json, sys
path, db, t0 = sys.argv[1], sys.argv[2], float(sys.argv[3])
lines = open(path, encoding="utf-8").read().splitlines()
assert lines, "no log lines"
snap = 0
for line in lines:
    o = json.loads(line)
    assert isinstance(o, dict), line
    t = datetime.datetime.strptime(o["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
    assert len(o["time"]) == 24 and t0 - 1 <= t, line
    assert o["level"] in ("DEBUG", "INFO", "WARN", "ERROR"), line
    assert isinstance(o["msg"], str), line
    if o["msg"] == "snapshot written":
        assert o["db"] == db and isinstance(o["sz"], int), line
        snap += 1
assert snap >= 1, "no snapshot line"
PY
}

t0=$(date +%s)
mkdir "$T/sp ace"
db="$T/sp ace/my \"app\".db"
"$TOOLS/wsload" "$db" -rate 0 -count 50 -log "$T/tx.csv" >"$T/wsload.log" 2>&1 ||
	fail "wsload failed: $(cat "$T/wsload.log")"

# -- JSON logs on stdout, through a second replica that cannot work. ----
echo "not a directory" >"$T/plain file"
cat >"$T/json.yml" <<YML
logging:
  type: json
  stderr: false
dbs:
  - path: '$db'
    replicas:
      - path: $T/rep
      - name: 'b"ad'
        path: '$T/plain file/x'
YML
start_bg js sh -c 'exec "$0" replicate -config "$1" 2>"$2"' "$WALSHIP" \
	"$T/json.yml" "$T/js.err"
wait_for "log_has js '\"msg\": \"snapshot written\"'" 15
wait_for "log_has js '\"level\": \"ERROR\"'" 15
st=0
stop_bg js || st=$?
[ "$st" -eq 5 ] || fail "replicate with a broken replica exited $st, want 5"
check_json "$T/js.log" "$db"
# The broken replica's error, with its quoted name and the path with a
# space, as fields.
python3 - "$T/js.log" "$T/plain file" <<'PY' || fail "no such ERROR line"
import json, sys
want = sys.argv[2]
for line in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(line)
    if (o["level"] == "ERROR" and o.get("replica") == 'b"ad' and
            want in o.get("error", "") and "not a directory" in o["error"].lower()):
        sys.exit(0)
sys.exit(1)
PY
# stderr has the command's exit reason only: no log line.
[ "$(grep -c . "$T/js.err")" -eq 1 ] &&
	grep -q '^walship: shut down with unshipped changes' "$T/js.err" ||
	fail "stderr is not one exit line: $(cat "$T/js.err")"

# -- Text logs on stderr (the default), UTC with milliseconds. -----------
cat >"$T/text.yml" <<YML
dbs:
  - path: '$db'
    replicas:
      - path: $T/rep
YML
before=$(date -u +%Y-%m-%dT%H:%M:%S)
start_bg tx sh -c 'exec "$0" replicate -config "$1" 2>"$2"' "$WALSHIP" \
	"$T/text.yml" "$T/tx.err"
"$TOOLS/wsload" "$db" -rate 0 -count 50 -log "$T/tx.csv" >"$T/wsload.log" 2>&1 ||
	fail "wsload failed: $(cat "$T/wsload.log")"
n=$(csv_last_seq "$T/tx.csv")
[ "$n" -eq 100 ] || fail "wsload committed $n, want 100"
wait_for '[ "$(probe_seq "$WALSHIP" "file://$T/rep")" -eq 100 ]' 15

# A second replicate on the same database: one error line, exit 4.
st=0
"$WALSHIP" replicate -config "$T/text.yml" 2>"$T/second.err" || st=$?
[ "$st" -eq 4 ] || fail "second replicate exited $st, want 4"
[ "$(grep -c 'another walship is replicating' "$T/second.err")" -eq 1 ] ||
	fail "the error is not printed exactly once: $(cat "$T/second.err")"
grep -q '^walship: .*another walship is replicating' "$T/second.err" ||
	fail "no exit line: $(cat "$T/second.err")"

stop_bg tx || fail "replicate exited $?"
after=$(date -u +%Y-%m-%dT%H:%M:%S)
[ ! -s "$T/tx.log" ] || fail "text logs went to stdout: $(cat "$T/tx.log")"
grep -c . "$T/tx.err" >/dev/null || fail "no log lines on stderr"
bad=$(grep -Ev "$ts_re" "$T/tx.err" || true)
[ -z "$bad" ] || fail "log lines without the UTC RFC 3339 prefix: $bad"
first=$(head -c 19 "$T/tx.err")
last=$(tail -n 1 "$T/tx.err" | head -c 19)
# Same format, so the strings sort as times do.
[ "$(printf '%s\n' "$before" "$first" "$last" "$after" | sort | tr '\n' ' ')" = \
	"$before $first $last $after " ] ||
	fail "log times $first..$last are not in UTC $before..$after"

# -- A plain replica directory, for each command. ------------------------
url=file://$T/rep
for cmd in snapshots wal generations; do
	"$WALSHIP" $cmd "$url" >"$T/$cmd.url" 2>&1 || fail "$cmd $url failed"
	"$WALSHIP" $cmd "$T/rep" >"$T/$cmd.dir" 2>&1 ||
		fail "$cmd $T/rep failed: $(cat "$T/$cmd.dir")"
	# With a config file that does not list it: still the replica.
	"$WALSHIP" $cmd -config "$T/text.yml" "$T/rep" >"$T/$cmd.cfg" 2>&1 ||
		fail "$cmd -config ... $T/rep failed: $(cat "$T/$cmd.cfg")"
	[ "$(grep -c . "$T/$cmd.dir")" -ge 2 ] || fail "$cmd lists nothing"
done
for f in snapshots wal; do
	cmp -s "$T/$f.url" "$T/$f.dir" && cmp -s "$T/$f.url" "$T/$f.cfg" ||
		fail "$f differs between the URL and the directory"
done
# generations: the lag column moves with the clock; the rest may not.
cols() { awk '{ print $1, $2, $4, $5 }' "$1"; }
[ "$(cols "$T/generations.url")" = "$(cols "$T/generations.dir")" ] ||
	fail "generations differs between the URL and the directory"
"$WALSHIP" restore -list "$T/rep" >"$T/list.dir" 2>&1 ||
	fail "restore -list $T/rep failed: $(cat "$T/list.dir")"
"$WALSHIP" restore -list "$url" >"$T/list.url" 2>&1
cmp -s "$T/list.url" "$T/list.dir" || fail "restore -list differs"
"$WALSHIP" restore -o "$T/fromdir.db" "$T/rep" 2>"$T/fromdir.log" ||
	fail "restore from $T/rep failed: $(cat "$T/fromdir.log")"
assert_restored "$T/fromdir.db" 100 "$T/tx.csv"
st=0
"$WALSHIP" restore "$T/rep" 2>"$T/noout.log" || st=$?
[ "$st" -eq 2 ] && grep -q 'output path required' "$T/noout.log" ||
	fail "restore of a directory without -o: $st $(cat "$T/noout.log")"
# A blank argument is a mistake, not a file named " " here: refused as
# usage (2), by name, for each command that takes a database or replica.
for cmd in generations snapshots wal "restore -o $T/x.db"; do
	st=0
	# shellcheck disable=SC2086 # $cmd is the command and its flags
	"$WALSHIP" $cmd " " >"$T/blank.out" 2>"$T/blank.err" || st=$?
	[ "$st" -eq 2 ] && [ ! -s "$T/blank.out" ] && [ ! -e "$T/x.db" ] &&
		grep -qF 'the database or replica " " is blank' "$T/blank.err" ||
		fail "$cmd ' ': $st $(cat "$T/blank.err")"
done
# ...and a blank database path or output, empty or not (an empty
# database path of replicate crashed it: no path, a NULL).
for args in 'replicate|' 'replicate| ' 'replicate -once|' \
	'replicate -exec true|' 'sync|' 'sync| ' 'restore -o| ' 'restore -o|'; do
	cmd=${args%|*}
	arg=${args#*|}
	st=0
	# shellcheck disable=SC2086 # $cmd is the command and its flags
	(cd "$T" && "$WALSHIP" $cmd "$arg" "$T/rep") >"$T/blank.out" 2>"$T/blank.err" ||
		st=$?
	[ "$st" -eq 2 ] && [ "$(grep -c . "$T/blank.err")" -eq 1 ] &&
		grep -Eq 'is (blank|empty)' "$T/blank.err" && [ ! -e "$T/ " ] ||
		fail "$cmd '$arg': $st $(cat "$T/blank.err")"
done
st=0
"$WALSHIP" replicate -once "$T/blank.db" " " >"$T/blank.out" 2>"$T/blank.err" || st=$?
[ "$st" -eq 3 ] && grep -qF 'replica path " " is blank' "$T/blank.err" &&
	[ ! -e "$T/blank.db" ] && [ ! -e "$T/ " ] ||
	fail "replicate -once DB ' ': $st $(cat "$T/blank.err")"
# A directory that holds no replica, and a missing one, are refused by
# name, saying what was tried (a missing one: that it does not exist).
for p in "$T/sp ace" "$T/nowhere"; do
	want="$p: not a replica directory (no generations/ in it), and no config file"
	[ "$p" != "$T/nowhere" ] ||
		want="$p does not exist (no replica directory there, and no config file"
	for cmd in generations "restore -o $T/x.db"; do
		st=0
		# shellcheck disable=SC2086 # $cmd is the command and its flags
		"$WALSHIP" $cmd "$p" >"$T/notrep.out" 2>"$T/notrep.err" || st=$?
		[ "$st" -eq 4 ] && [ ! -s "$T/notrep.out" ] &&
			[ "$(grep -c . "$T/notrep.err")" -eq 1 ] &&
			grep -qF "$want" "$T/notrep.err" ||
			fail "$cmd $p: $st $(cat "$T/notrep.err")"
	done
done
# A replica URL whose directory does not exist is no empty replica: every
# read command fails in one line saying so (with -if-replica-exists there
# is nothing to restore); an empty directory is a replica without backups.
for cmd in generations snapshots wal "restore -list" "restore -list -json" \
	"restore -o $T/x.db"; do
	st=0
	# shellcheck disable=SC2086 # $cmd is the command and its flags
	"$WALSHIP" $cmd "file://$T/nowhere" >"$T/nope.out" 2>"$T/nope.err" ||
		st=$?
	[ "$st" -eq 5 ] && [ ! -s "$T/nope.out" ] &&
		[ "$(grep -c . "$T/nope.err")" -eq 1 ] &&
		grep -qxF "walship: replica file://$T/nowhere: $T/nowhere does not exist" "$T/nope.err" ||
		fail "$cmd file://$T/nowhere: exit $st, stdout '$(cat "$T/nope.out")', stderr: $(cat "$T/nope.err")"
done
[ ! -e "$T/x.db" ] || fail "restore from a missing replica left $T/x.db"
"$WALSHIP" restore -if-replica-exists -o "$T/x.db" "file://$T/nowhere" \
	2>"$T/nope.err" || fail "restore -if-replica-exists of a missing replica: $(cat "$T/nope.err")"
grep -q "no matching backups found" "$T/nope.err" ||
	fail "restore -if-replica-exists: $(cat "$T/nope.err")"
mkdir "$T/empty"
"$WALSHIP" generations "file://$T/empty" >"$T/empty.out" 2>"$T/empty.err" ||
	fail "generations of an empty replica: $(cat "$T/empty.err")"
[ "$(grep -c . "$T/empty.out")" -eq 1 ] && [ ! -s "$T/empty.err" ] ||
	fail "generations of an empty replica: $(cat "$T/empty.out" "$T/empty.err")"
st=0
"$WALSHIP" restore -o "$T/x.db" "file://$T/empty" 2>"$T/empty.err" || st=$?
[ "$st" -eq 1 ] && grep -q "no matching backups found" "$T/empty.err" ||
	fail "restore of an empty replica: $st $(cat "$T/empty.err")"
st=0
"$WALSHIP" wal -config "$T/text.yml" "$T/sp ace" 2>"$T/notrep.err" || st=$?
[ "$st" -eq 4 ] && grep -qF "database not found in config: $T/sp ace (and it is not a replica directory" "$T/notrep.err" ||
	fail "wal -config with a non-replica: $st $(cat "$T/notrep.err")"

# -- -index, -timestamp and the other flags. ----------------------------
expect_usage() { # expect_usage WANT ARGS...: exit 2, one line holding WANT
	_want=$1
	shift
	st=0
	"$WALSHIP" "$@" >"$T/usage.out" 2>"$T/usage.err" || st=$?
	[ "$st" -eq 2 ] && [ "$(grep -c . "$T/usage.err")" -eq 1 ] &&
		grep -qF -- "$_want" "$T/usage.err" ||
		fail "$*: exit $st, $(cat "$T/usage.err"), want \"$_want\""
	[ ! -e "$T/x.db" ] || fail "$*: left $T/x.db"
}
expect_usage 'invalid value "0x2" for flag -index: want 1 to 8 hexadecimal digits without 0x' \
	restore -index 0x2 -o "$T/x.db" "$T/rep"
expect_usage 'invalid value "123456789" for flag -index' \
	restore -index 123456789 -o "$T/x.db" "$T/rep"
expect_usage 'invalid value " 2" for flag -index' \
	restore -index " 2" -o "$T/x.db" "$T/rep"
expect_usage 'invalid value "2021-01-01" for flag -timestamp: want an RFC 3339 time, e.g. 2026-11-21T09:15:00Z' \
	restore -timestamp 2021-01-01 -o "$T/x.db" "$T/rep"
expect_usage 'invalid value "XYZ" for flag -generation' \
	restore -generation XYZ -o "$T/x.db" "$T/rep"
expect_usage 'invalid value "XYZ" for flag -generation' wal -generation XYZ "$T/rep"
expect_usage 'invalid boolean value "yes" for -list' restore -list=yes "$T/rep"
expect_usage '-list cannot be combined with -o' restore -list -o "$T/x.db" "$T/rep"
expect_usage '-list cannot be combined with -index' restore -list -index 1 "$T/rep"
expect_usage '-no-expand-env applies to a config file' generations -no-expand-env "$url"
expect_usage 'invalid value for flag -exec: unquoted '"'|'"' at character 5' \
	replicate -exec "app | logger" -config "$T/text.yml"
expect_usage 'invalid value "30" for flag -shutdown-sync-timeout' \
	replicate -shutdown-sync-timeout 30 -config "$T/text.yml"
expect_usage '-no-expand-env applies to a config file' replicate -no-expand-env "$T/one.db" "$url"
expect_usage "the database path comes first, then its replicas: $url is a URL" \
	replicate "$url" "$T/one.db"

# -index past the newest index: the newest data, said in one line.
"$WALSHIP" restore -index 7fffffff -o "$T/past.db" "$T/rep" 2>"$T/past.log" ||
	fail "restore -index past the newest failed: $(cat "$T/past.log")"
assert_restored "$T/past.db" 100 "$T/tx.csv"
grep -Eq "$ts_re"'the -index 7fffffff is after the newest index of generation [0-9a-f]{16} \([0-9a-f]{8}\): restoring the newest data' "$T/past.log" ||
	fail "no line saying so: $(cat "$T/past.log")"
# -index of the newest index itself: no such line.
newest=$(awk 'NR > 1 { print $3 }' "$T/wal.dir" | sort -n | tail -n 1)
"$WALSHIP" restore -index "$(printf %x "$newest")" -o "$T/at.db" "$T/rep" 2>"$T/at.log" ||
	fail "restore -index $newest failed: $(cat "$T/at.log")"
assert_restored "$T/at.db" 100 "$T/tx.csv"
grep -q 'is after the newest index' "$T/at.log" && fail "-index $newest is the newest"

# -timestamp before any backup, even before 1970: the error names the
# time asked for, not "-".
st=0
"$WALSHIP" restore -timestamp 0001-01-01T00:00:00Z -o "$T/x.db" "$T/rep" \
	2>"$T/early.err" || st=$?
[ "$st" -eq 1 ] && [ "$(grep -c . "$T/early.err")" -eq 1 ] &&
	grep -qF 'no backup at or before 0001-01-01T00:00:00.000000Z: the oldest restorable time is 20' \
		"$T/early.err" ||
	fail "restore -timestamp 0001-01-01T00:00:00Z: exit $st, $(cat "$T/early.err")"
[ ! -e "$T/x.db" ] || fail "restore -timestamp 0001-...: left $T/x.db"

# -config naming a FIFO, a directory or a device: refused at once in one
# line naming it (a FIFO blocked the start for ever).
mkfifo "$T/fifo.yml"
for c in "$T/fifo.yml:a FIFO" "$T:a directory" "/dev/zero:a device"; do
	st=0
	timeout 20 "$WALSHIP" replicate -config "${c%%:*}" >"$T/cfg.out" \
		2>"$T/cfg.err" || st=$?
	[ "$st" -eq 3 ] && [ "$(cat "$T/cfg.out" "$T/cfg.err" | grep -c .)" -eq 1 ] &&
		grep -qF "walship: config file ${c%%:*}: ${c#*:}" "$T/cfg.err" ||
		fail "-config ${c%%:*}: exit $st (124: it blocked), $(cat "$T/cfg.err")"
done

# -- Configurations that can never work: exit 3 at start, one line. -------
# bad_config NAME WANT: `replicate -config NAME.yml` (written before) exits
# 3 at once with one line holding WANT, and starts nothing.
bad_config() {
	st=0
	timeout 20 "$WALSHIP" replicate -config "$T/$1.yml" >"$T/$1.out" 2>"$T/$1.err" ||
		st=$?
	[ "$st" -eq 3 ] || fail "$1: replicate exited $st, want 3: $(cat "$T/$1.err")"
	[ "$(cat "$T/$1.out" "$T/$1.err" | grep -c .)" -eq 1 ] ||
		fail "$1: not one line: $(cat "$T/$1.out" "$T/$1.err")"
	grep -qF -- "walship: $T/$1.yml:$2" "$T/$1.err" ||
		fail "$1: $(cat "$T/$1.err"), want \"$T/$1.yml:$2\""
}
printf 'dbs: []\n' >"$T/empty.yml"
bad_config empty '1: "dbs" is empty'
printf 'logging:\n  level: info\n' >"$T/nodbs.yml"
sed -i "s|^|# |" "$T/nodbs.yml"
bad_config nodbs ' no "dbs"'
printf 'dbs:\n  - path: %s/one.db\n' "$T" >"$T/norep.yml"
bad_config norep "2: database $T/one.db has no replicas"
unset WALSHIP_TEST_NOPE || true
printf 'dbs:\n  - path: ${WALSHIP_TEST_NOPE}/one.db\n    replicas: [{path: %s/r}]\n' "$T" >"$T/unset.yml"
bad_config unset '2: "path": environment variable WALSHIP_TEST_NOPE is not set'
one="dbs:
  - path: $T/one.db
    replicas:
      - path: $T/r"
printf '%s\naddr: "9090"\n' "$one" >"$T/addr.yml"
bad_config addr '5: invalid addr "9090": want HOST:PORT, :PORT or [IPV6]:PORT'
printf '%s\nheartbeat-interval: 30s\n' "$one" >"$T/hb.yml"
bad_config hb '5: "heartbeat-interval" must be at least 1m0s, not 30s'
printf 'exec: "./app > log"\n%s\n' "$one" >"$T/exec.yml"
bad_config exec '1: invalid "exec": unquoted '"'>'"' at character 7'
printf '%s\n        sync-interval: 1000\n' "$one" >"$T/bare.yml"
bad_config bare '5: invalid duration for "sync-interval": "1000": a duration needs a unit'
printf '%s\n        bucket: b\n' "$one" >"$T/s3key.yml"
bad_config s3key '4: "bucket" (line 5) applies to s3 replicas only'
printf '%s\n    meta-path: %s/m\n  - path: %s/two.db\n    meta-path: %s/m\n    replicas: [{path: %s/r2}]\n' \
	"$one" "$T" "$T" "$T" "$T" >"$T/meta.yml"
bad_config meta "6: meta-path $T/m is also the one of database $T/one.db"
printf 'dbs:\n  - path: %s/one.db\n    min-checkpoint-page-count: 0\n    replicas: [{path: %s/r}]\n' \
	"$T" "$T" >"$T/minpc.yml"
bad_config minpc '3: "min-checkpoint-page-count" must be at least 1, not 0'
printf 'dbs:\n  - path: %s/one.db\n    max-spool-size: 10 MB\n    replicas: [{path: %s/r}]\n' \
	"$T" "$T" >"$T/spool.yml"
bad_config spool '3: invalid size for "max-spool-size": "10 MB": write a whole number of bytes, with no space before an optional unit B, KB, MB, GB, KiB, MiB or GiB (e.g. 512MiB)'
WALSHIP_TEST_EMPTYV=
export WALSHIP_TEST_EMPTYV
printf 'dbs:\n  - path: ${WALSHIP_TEST_EMPTYV}\n    replicas: [{path: %s/r}]\n' "$T" >"$T/emptyv.yml"
bad_config emptyv '2: "path" is empty: environment variable WALSHIP_TEST_EMPTYV is set to ""'
# File URLs that would put the replica where the user did not mean: a
# directory "file:" in the working directory, one named "rep?x=1", /a/rep.
printf '%s\n' "dbs:
  - path: $T/one.db
    replicas:
      - url: file://a/rep" >"$T/urlhost.yml"
bad_config urlhost '4: replica url file://a/rep has host a; write file:///a/rep'
printf '%s\n' "dbs:
  - path: $T/one.db
    replicas:
      - url: file://$T/a/rep?x=1" >"$T/urlq.yml"
bad_config urlq "4: replica url \"file://$T/a/rep?x=1\" has a query or fragment (\"?x=1\")"
mkdir "$T/cwd"
for u in "file:$T/a/rep" "file://$T/a/rep?x=1" "file://a/rep"; do
	st=0
	(cd "$T/cwd" && timeout 20 "$WALSHIP" replicate "$T/one.db" "$u") \
		>"$T/url.out" 2>"$T/url.err" || st=$?
	[ "$st" -eq 3 ] && [ "$(cat "$T/url.out" "$T/url.err" | grep -c .)" -eq 1 ] &&
		grep -q "^walship: replica url \"*$u" "$T/url.err" ||
		fail "replicate $T/one.db $u: exit $st, $(cat "$T/url.out" "$T/url.err")"
	[ -z "$(ls -A "$T/cwd")" ] && [ ! -e "$T/a" ] && [ ! -e /a/rep ] ||
		fail "replicate ... $u made $(ls -A "$T/cwd") $(ls -d "$T/a" /a/rep 2>/dev/null)"
done
# A directory replica that others can write to can never work: exit 3 at
# once, before anything is synced (it was refused after four uploads).
mkdir -m 777 "$T/r777"
chmod 777 "$T/r777"
st=0
timeout 20 "$WALSHIP" replicate "$db" "$T/r777" >"$T/r777.out" 2>"$T/r777.err" || st=$?
[ "$st" -eq 3 ] && grep -qx "walship: refusing directory $T/r777: group or other writable (mode 777)" "$T/r777.err" ||
	fail "a 777 replica directory: exit $st, $(cat "$T/r777.err")"
! grep -q 'sync\|snapshot' "$T/r777.err" || fail "synced before refusing: $(cat "$T/r777.err")"
[ -z "$(ls -A "$T/r777")" ] || fail "wrote in $T/r777: $(ls -A "$T/r777")"
# An unknown command: the README's "walship: ..." form, exit 2.
st=0
"$WALSHIP" bogus >"$T/bogus.out" 2>"$T/bogus.err" || st=$?
[ "$st" -eq 2 ] && [ ! -s "$T/bogus.out" ] && [ "$(grep -c . "$T/bogus.err")" -eq 1 ] &&
	grep -q '^walship: unknown command "bogus"' "$T/bogus.err" ||
	fail "walship bogus: exit $st, $(cat "$T/bogus.err")"
# The restore and inspection commands read the same file the same way.
st=0
"$WALSHIP" generations -config "$T/unset.yml" "$T/one.db" 2>"$T/gen.err" || st=$?
[ "$st" -eq 3 ] && grep -q 'WALSHIP_TEST_NOPE is not set' "$T/gen.err" ||
	fail "generations with an unset variable: $st $(cat "$T/gen.err")"
# With -no-expand-env the text stays as it is: a path with "${...}" in it.
"$WALSHIP" databases -no-expand-env -config "$T/unset.yml" >"$T/dbs.out" ||
	fail "databases -no-expand-env failed"
grep -qF '${WALSHIP_TEST_NOPE}/one.db' "$T/dbs.out" ||
	fail "databases -no-expand-env: $(cat "$T/dbs.out")"
# -- Quoted values keep their quotes: a database path with '"' in it is
# one value in the stall's reason, in JSON (it was cut at the quote).
jdb="$T/j/missing \"q\".db"
cat >"$T/jq.yml" <<YML
logging:
  type: json
dbs:
  - path: '$jdb'
    replicas:
      - path: $T/jqrep
YML
start_bg jq "$WALSHIP" replicate -config "$T/jq.yml"
wait_for "log_has jq 'waiting for the database'" 15
stop_bg jq || fail "replicate waiting for a database exited $?"
python3 - "$T/jq.log" "$jdb" "$T/j" <<'PY' || fail "the reason is not one field: $(cat "$T/jq.log")"
import json, sys
want = "database %s does not exist, nor its directory %s" % (sys.argv[2], sys.argv[3])
for line in open(sys.argv[1], encoding="utf-8"):
    if not line.startswith("{"):
        continue  # the command's own exit line
    o = json.loads(line)
    if "waiting for the database" in o["msg"]:
        assert o.get("db") == sys.argv[2], line
        assert o.get("reason") == want, line
        sys.exit(0)
sys.exit(1)
PY
# ...and in text, escaped: one value a reader can split.
start_bg jt "$WALSHIP" replicate "$jdb" "$T/jqrep"
wait_for "log_has jt 'waiting for the database'" 15
stop_bg jt || fail "replicate waiting for a database exited $?"
grep -qF "reason=\"database $T/j/missing \\\"q\\\".db does not exist" "$T/jt.log" ||
	fail "the text reason is not escaped: $(grep waiting "$T/jt.log")"

# -- A database switched out of WAL mode while walship was down: switched
# back, and said.
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); print(c.execute("pragma journal_mode=delete").fetchone()[0])' \
	"$db" >"$T/jm.out" 2>&1 && [ "$(cat "$T/jm.out")" = delete ] ||
	fail "could not switch $db to rollback mode: $(cat "$T/jm.out")"
start_bg jm "$WALSHIP" replicate -config "$T/text.yml"
wait_for "log_has jm 'switched the database back to WAL mode'" 15
stop_bg jm || fail "replicate exited $?"
grep -qF "INFO switched the database back to WAL mode db=$db journal_mode=delete" "$T/jm.log" ||
	fail "no line naming the mode found: $(cat "$T/jm.log")"
echo "cli: all cases passed"
