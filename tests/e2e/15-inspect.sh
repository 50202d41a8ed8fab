#!/bin/sh
# The inspection commands (databases, generations, snapshots, wal), text
# and -json, on a replica whose objects the test writes itself: two
# generations of snapshots and WAL segments plus keys that are not data
# objects (ignored), and a second, directory replica with fixed object
# times.  Every output is compared with what inspect-expect.py computes
# from the replicas' own listings, made without walship's code (a
# directory is listed with find; S3 from s3rver's files on disk, times in
# whole seconds as S3's LastModified), and some rows literally.  Then the
# lag in its three Go-duration forms, -replica and -generation, a replica
# that cannot be listed, and the error cases.  On the replica backend
# WS_REPLICA picks (tests/lib.sh).
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

EXPECT=$ROOT/tests/e2e/inspect-expect.py
g1=0123456789abcdef
g2=fedcba9876543210
g3=00000000000000ff # holds no data object: never shown
g4=aaaaaaaaaaaaaaaa # replica "two"
url=$(replica_url one)
db=$T/db

# put KEY SIZE: SIZE random bytes to KEY on replica one.
put() {
	head -c "$2" /dev/urandom >"$T/obj"
	replica_put "$url" "$1" "$T/obj"
}
# g2 first, so that g1 holds replica one's newest data object.
put generations/$g2/snapshots/00000000.snapshot.lz4 4096
put generations/$g2/wal/00000000_00000000.wal.lz4 8272
put generations/$g1/snapshots/00000000.snapshot.lz4 100
put generations/$g1/snapshots/00000010.snapshot.lz4 2000
put generations/$g1/wal/00000000_00000000.wal.lz4 123
put generations/$g1/wal/00000000_00004080.wal.lz4 55
put generations/$g1/wal/00000001_00000000.wal.lz4 77
put generations/$g1/wal/0000000a_00000000.wal.lz4 99
put generations/$g1/wal/00000010_00001038.wal.lz4 1
# Not data objects.
put generations/$g1/walship/state 11
put generations/$g1/wal/00000002_00000000.wal.lz4.tmp 12
put generations/$g1/wal/0000000A_00000000.wal.lz4 13
put generations/$g1/snapshots/00000001.snapshot 14
put generations/$g3/walship/state 15
put generations/0123456789ABCDEF/snapshots/00000000.snapshot.lz4 16

# Replica two: a directory with fixed times.
d4=$T/two/generations/$g4
mkdir -p "$d4/snapshots" "$d4/wal" "$d4/walship"
head -c 300 /dev/zero >"$d4/snapshots/00000000.snapshot.lz4"
head -c 40 /dev/zero >"$d4/wal/00000000_00000000.wal.lz4"
head -c 9 /dev/zero >"$d4/walship/state"
touch -d '2001-02-03 04:05:06.789 UTC' "$d4/snapshots/00000000.snapshot.lz4"
touch -d '2001-02-03 04:06:07.5 UTC' "$d4/wal/00000000_00000000.wal.lz4"

# find_listing DIR [SUFFIX SECS]: "KEY SIZE MTIME_MS" of every file under
# DIR/generations whose name ends in SUFFIX (removed from the key), found
# with find, not through walship.  SECS=1 truncates the time to whole
# seconds, as S3's LastModified.
find_listing() {
	(cd "$1" && find generations -type f -name "*${2:-}" -printf '%p %s %T@\n') |
		awk -v sfx="${2:-}" -v secs="${3:-0}" '{
			k = $1
			if (sfx != "") k = substr(k, 1, length(k) - length(sfx))
			split($3, t, ".")
			print k, $2, secs ? t[1] "000" : t[1] substr(t[2] "000", 1, 3) }'
}
if [ "$WS_REPLICA" = file ]; then
	find_listing "$T/one" >"$T/l_one"
else
	# s3rver keeps object KEY of the bucket as the file
	# $S3_DATA_DIR/BUCKET/KEY._S3rver_object; S3 lists its mtime in
	# whole seconds.  (Not walship's S3 client, nor the proxy.)
	find_listing "$S3_DATA_DIR/$S3_BUCKET/one" ._S3rver_object 1 |
		sort >"$T/l_one"
fi
find_listing "$T/two" >"$T/l_two"
[ "$(grep -c . "$T/l_one")" -eq 15 ] || fail "replica one: $(cat "$T/l_one")"

cat >"$T/walship.yml" <<YML
dbs:
  - path: $db
    replicas:
      - name: one
$(replica_yaml one 8)
      - name: two
        path: $T/two
  - path: $T/other.db
    replicas:
      - path: $T/elsewhere
YML
cfg=$T/walship.yml

# check CMD 'EXPECT ARGS' ARGS...: `walship CMD ARGS` prints, with nothing
# on stderr, what `inspect-expect.py CMD EXPECT-ARGS` computes, and so
# does `walship CMD -json ARGS` (parsed and compared as JSON).
check() {
	_ck_cmd=$1
	_ck_exp=$2
	shift 2
	"$WALSHIP" "$_ck_cmd" "$@" >"$T/got.txt" 2>"$T/err.txt" ||
		fail "walship $_ck_cmd $*: $(cat "$T/err.txt")"
	[ ! -s "$T/err.txt" ] || fail "walship $_ck_cmd $*: stderr: $(cat "$T/err.txt")"
	# shellcheck disable=SC2086 # EXPECT ARGS are words
	python3 "$EXPECT" "$_ck_cmd" $_ck_exp >"$T/want.txt"
	diff -u "$T/want.txt" "$T/got.txt" >"$T/diff.txt" ||
		fail "walship $_ck_cmd $*: $(cat "$T/diff.txt")"
	"$WALSHIP" "$_ck_cmd" -json "$@" >"$T/got.json" 2>"$T/err.txt" ||
		fail "walship $_ck_cmd -json $*: $(cat "$T/err.txt")"
	python3 "$EXPECT" norm <"$T/got.json" >"$T/got.norm" ||
		fail "walship $_ck_cmd -json $*: not JSON: $(cat "$T/got.json")"
	# shellcheck disable=SC2086
	python3 "$EXPECT" "$_ck_cmd" -json $_ck_exp >"$T/want.norm"
	diff -u "$T/want.norm" "$T/got.norm" >"$T/diff.txt" ||
		fail "walship $_ck_cmd -json $*: $(cat "$T/diff.txt")"
}

# row CMD ARGS... -- FIELDS: the text output has exactly one row whose
# leading whitespace-separated fields are FIELDS.
row() {
	_rw_args=""
	while [ "$1" != -- ]; do
		_rw_args="$_rw_args $1"
		shift
	done
	shift
	# shellcheck disable=SC2086
	"$WALSHIP" $_rw_args >"$T/row.txt"
	_rw_n=$(awk -v want="$*" 'BEGIN { n = split(want, w, " ") }
		{ ok = 1; for (i = 1; i <= n; i++) if ($i != w[i]) ok = 0; c += ok }
		END { print c + 0 }' "$T/row.txt")
	[ "$_rw_n" -eq 1 ] || fail "walship$_rw_args: want one row \"$*\": $(cat "$T/row.txt")"
}

# --- databases
other=$T/other.db
w=$((${#other} + 2))
printf "%-${w}s%s\n" path replicas "$db" one,two "$other" file >"$T/want.txt"
"$WALSHIP" databases -config "$cfg" >"$T/got.txt"
diff -u "$T/want.txt" "$T/got.txt" || fail "databases"
"$WALSHIP" databases -json -config "$cfg" | python3 "$EXPECT" norm >"$T/got.norm"
printf '%s\n' "[{\"path\": \"$db\", \"replicas\": [\"one\", \"two\"]}, {\"path\": \"$other\", \"replicas\": [\"file\"]}]" >"$T/want.norm"
diff -u "$T/want.norm" "$T/got.norm" || fail "databases -json"

# --- config mode, the database does not exist yet: no lag.
check generations "-db $db one=$T/l_one two=$T/l_two" -config "$cfg" "$db"
[ "$(awk 'NR > 1 && $3 == "-"' "$T/got.txt" | grep -c .)" -eq 3 ] ||
	fail "lag without a database: $(cat "$T/got.txt")"
grep -q "$g3" "$T/got.txt" && fail "a generation without data objects is shown"
grep -q '"lag": null, "lag_ms": null' "$T/got.norm" || fail "lag not null: $(cat "$T/got.norm")"
check snapshots "one=$T/l_one two=$T/l_two" -config "$cfg" "$db"
[ "$(grep -c . "$T/got.txt")" -eq 5 ] || fail "snapshots: $(cat "$T/got.txt")"
check wal "one=$T/l_one two=$T/l_two" -config "$cfg" "$db"
[ "$(grep -c . "$T/got.txt")" -eq 8 ] || fail "wal: $(cat "$T/got.txt")"
# Index and offset are decimal.
row wal -config "$cfg" "$db" -- one $g1 0 16512 55
row wal -config "$cfg" "$db" -- one $g1 10 0 99
row wal -config "$cfg" "$db" -- one $g1 16 4152 1
row snapshots -config "$cfg" "$db" -- one $g1 16 2000

# --- the lag: the later of the database's and its -wal's mtimes minus
# the generation's last object time, truncated, in Go's duration form.
upd=$(grep -E "^generations/$g1/(snapshots/[0-9a-f]{8}\.snapshot\.lz4|wal/[0-9a-f]{8}_[0-9a-f]{8}\.wal\.lz4) " \
	"$T/l_one" | awk '$3 > m { m = $3 } END { print m }')
# set_mtime FILE NS: FILE's mtime is NS after the epoch.
set_mtime() {
	touch -d "@$(($2 / 1000000000)).$(printf %09d $(($2 % 1000000000)))" "$1"
}
: >"$db"
set_mtime "$db" $((upd * 1000000 + 8850000000))
check generations "-db $db one=$T/l_one two=$T/l_two" -config "$cfg" "$db"
row generations -config "$cfg" "$db" -- one $g1 8.8s
: >"$db-wal"
set_mtime "$db-wal" $((upd * 1000000 + 62500000000))
check generations "-db $db one=$T/l_one two=$T/l_two" -config "$cfg" "$db"
row generations -config "$cfg" "$db" -- one $g1 1m2s
grep -q "\"generation\": \"$g1\", \"lag\": \"1m2s\", \"lag_ms\": 62500," "$T/got.norm" ||
	fail "lag_ms: $(cat "$T/got.norm")"
set_mtime "$db" $((upd * 1000000 - 40000000))
set_mtime "$db-wal" $((upd * 1000000 - 36500000))
check generations "-db $db one=$T/l_one two=$T/l_two" -config "$cfg" "$db"
row generations -config "$cfg" "$db" -- one $g1 -36ms

# --- -replica and -generation
cat >"$T/want.txt" <<EOF
replica  generation        index  size  created
two      $g4  0      300   2001-02-03T04:05:06Z
EOF
"$WALSHIP" snapshots -config "$cfg" -replica two "$db" >"$T/got.txt"
diff -u "$T/want.txt" "$T/got.txt" || fail "snapshots -replica two"
"$WALSHIP" wal -json -config "$cfg" -replica two "$db" >"$T/got.json"
python3 "$EXPECT" norm <"$T/got.json" >"$T/got.norm"
echo "[{\"created\": \"2001-02-03T04:06:07.500Z\", \"generation\": \"$g4\", \"index\": 0, \"offset\": 0, \"replica\": \"two\", \"size\": 40}]" >"$T/want.norm"
diff -u "$T/want.norm" "$T/got.norm" || fail "wal -json -replica two"
check generations "-db $db two=$T/l_two" -config "$cfg" -replica two "$db"
row generations -config "$cfg" -replica two "$db" -- two $g4
check snapshots "one=$T/l_one" -config "$cfg" -replica one "$db"
check wal "-gen $g1 one=$T/l_one two=$T/l_two" -config "$cfg" -generation $g1 "$db"
[ "$(grep -c . "$T/got.txt")" -eq 6 ] || fail "wal -generation: $(cat "$T/got.txt")"
check wal "-gen $g2 one=$T/l_one" -replica one -config "$cfg" -generation=$g2 "$db"
[ "$(grep -c . "$T/got.txt")" -eq 2 ] || fail "wal -generation=: $(cat "$T/got.txt")"
check wal "-gen 1111111111111111 one=$T/l_one" --config "$cfg" -generation 1111111111111111 "$db"
[ "$(cat "$T/got.txt")" = "replica  generation  index  offset  size  created" ] ||
	fail "wal of a missing generation: $(cat "$T/got.txt")"

# --- URL mode: the replica is named after its type; lag is now - end.
check snapshots "$WS_REPLICA=$T/l_one" "$url"
check wal "$WS_REPLICA=$T/l_one" "$url"
check wal "-gen $g2 $WS_REPLICA=$T/l_one" -generation $g2 "$url"
t0=$(date +%s%N)
"$WALSHIP" generations "$url" >"$T/gens.txt"
"$WALSHIP" generations -json "$url" >"$T/gens.json"
t1=$(date +%s%N)
python3 "$EXPECT" urlcheck "$t0" "$t1" "$T/gens.txt" "$T/gens.json" \
	"$WS_REPLICA=$T/l_one" 2>"$T/err.txt" || fail "generations URL: $(cat "$T/err.txt")"

# --- a replica that cannot be listed is logged and skipped; when every
# replica fails, the command fails.
mkdir "$T/bad"
ln -s generations "$T/bad/generations" # a link (to itself)
cat >"$T/bad.yml" <<YML
dbs:
  - path: $db
    replicas:
      - name: bad
        path: $T/bad
      - name: two
        path: $T/two
YML
for cmd in generations snapshots wal; do
	"$WALSHIP" $cmd -config "$T/bad.yml" "$db" >"$T/got.txt" 2>"$T/err.txt" ||
		fail "$cmd with one bad replica: $(cat "$T/err.txt")"
	python3 "$EXPECT" $cmd -db "$db" "two=$T/l_two" >"$T/want.txt"
	diff -u "$T/want.txt" "$T/got.txt" || fail "$cmd with one bad replica"
	grep -qF "ERROR listing failed, skipping the replica db=$db replica=bad error=\"replica bad: refusing $T/bad/generations: a symbolic link" "$T/err.txt" ||
		fail "$cmd: bad replica not logged: $(cat "$T/err.txt")"
	st=0
	"$WALSHIP" $cmd -config "$T/bad.yml" -replica bad "$db" >"$T/got.txt" 2>"$T/err.txt" || st=$?
	[ $st -eq 5 ] || fail "$cmd, every replica failing: exit $st, want 5"
	[ ! -s "$T/got.txt" ] || fail "$cmd printed a table on failure: $(cat "$T/got.txt")"
	[ "$(cat "$T/err.txt")" = "walship: replica bad: refusing $T/bad/generations: a symbolic link" ] ||
		fail "$cmd, every replica failing: $(cat "$T/err.txt")"
done

# --- errors: one line, and the exit status of its kind: 2 usage, 3
# configuration, 4 database.
# fails STATUS MESSAGE ARGS...: walship ARGS exits STATUS printing only
# "walship: MESSAGE" on stderr and nothing on stdout.
fails() {
	_fl_st=$1
	_fl_msg=$2
	shift 2
	_fl_got=0
	"$WALSHIP" "$@" >"$T/got.txt" 2>"$T/err.txt" || _fl_got=$?
	[ "$_fl_got" -eq "$_fl_st" ] || fail "walship $*: exit $_fl_got, want $_fl_st"
	[ "$(cat "$T/err.txt")" = "walship: $_fl_msg" ] ||
		fail "walship $*: stderr \"$(cat "$T/err.txt")\", want \"walship: $_fl_msg\""
	[ ! -s "$T/got.txt" ] || fail "walship $*: stdout: $(cat "$T/got.txt")"
}
for cmd in generations snapshots wal; do
	fails 3 "replica \"nope\" not found for database \"$db\"" \
		$cmd -config "$cfg" -replica nope "$db"
	fails 2 "database path or replica URL required" $cmd -config "$cfg"
	fails 2 "cannot specify a replica URL and the -config flag" \
		$cmd -config "$cfg" "$url"
	fails 4 "database not found in config: $T/nope.db (nor is it a replica directory: it does not exist)" \
		$cmd -config "$cfg" "$T/nope.db"
	fails 4 "database not found in config: $T (and it is not a replica directory: no generations/ in it)" \
		$cmd -config "$cfg" "$T"
	fails 2 "too many arguments" $cmd -config "$cfg" "$db" "$db"
	fails 3 "config file not found: $T/nope.yml" $cmd -config "$T/nope.yml" "$db"
	"$WALSHIP" $cmd -h >"$T/got.txt"
	grep -q "^	walship $cmd \[arguments\] REPLICA_URL$" "$T/got.txt" || fail "$cmd -h: $(cat "$T/got.txt")"
	grep -q '^	-json$' "$T/got.txt" || fail "$cmd -h does not list -json"
done
fails 2 "too many arguments" databases -config "$cfg" "$db"
fails 2 "flag provided but not defined: -generation" snapshots -generation $g1 "$url"
fails 2 "flag provided but not defined: -replica" databases -replica one
"$WALSHIP" databases -h | grep -q '^	walship databases \[arguments\]$' || fail "databases -h"
"$WALSHIP" -h >"$T/got.txt"
for cmd in databases generations snapshots wal; do
	grep -q "^	$cmd  *[a-z]" "$T/got.txt" || fail "main usage does not list $cmd"
done
