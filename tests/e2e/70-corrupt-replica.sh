#!/bin/sh
# D1 (a PR-sized subset): a damaged replica object makes restore fail
# loudly and leaves the target untouched.  A known-good replica is built
# once (several WAL indexes, several segments per index); each case
# damages a fresh copy of it and requires exit status 6 (verification failed), exactly one
# "walship: " line on stderr (the last line), naming the damaged object
# (or, for a missing one, its generation and index), and no file at all
# at out-N.db, -wal, -shm, nor a temporary .out-N.db.tmp-* or meta dir
# .out-N.db-walship.  Then restore onto an existing target
# or beside a stale -wal/-shm must refuse and change nothing.
#
# On the replica backend WS_REPLICA picks (tests/lib.sh).  The damage is
# done to files in a local copy (the case's directory replica itself, or
# for S3 a copy of the objects, pushed to a fresh prefix once damaged: a
# deleted object is one not pushed).
#
# Not a case: a missing *tail* segment (the last one of the last index).
# The replica then looks exactly like an older, shorter one, so it cannot
# be detected from the replica alone.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
# shellcheck source-path=SCRIPTDIR
set -eu
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
command -v lz4 >/dev/null || fail "the lz4 CLI is needed (apt-get install lz4)"
need_replica

db=$T/db
csv=$T/log.csv
good=$T/good # the good replica's objects as files (file: the replica itself)
url=$(replica_url good)

# The good replica.  A first run fills the database file, so that the
# snapshot holds real data; then one writer runs at ~250 pages/s while
# walship replicates, until walship's own checkpoints (at 1000 WAL pages)
# have started index 2: about 4 syncs, so 4 segments, per index.  One
# writer process does every WAL restart (see the note at the end).
"$TOOLS/wsload" "$db" -rate 0 -count 200 -log "$csv" 2>"$T/wsload0.log" ||
	fail "wsload failed"
start_writer wsload "$db" "$csv" -rate 60
wait_for '[ "$(csv_last_seq "$csv")" -gt 200 ]'
start_bg walship "$WALSHIP" replicate "$db" "$url"
wait_for '[ -n "$(replica_files "$url" generations/ 2>/dev/null |
	grep "^[^/]*/wal/00000002_")" ]' 60
stop_bg wsload || fail "wsload exited $? on SIGTERM"
last=$(csv_last_seq "$csv")
stop_bg walship || fail "walship exited $? on SIGTERM"
assert_restored "$db" "$last" "$csv"

# A clean restore of the good replica works.
"$WALSHIP" restore -o "$T/clean.db" "$url" 2>"$T/clean.log" ||
	fail "restore of the good replica failed: $(cat "$T/clean.log")"
assert_restored "$T/clean.db" "$last" "$csv"
assert_equal "$db" "$T/clean.db"

# Its shape: one generation, one snapshot, at least 3 indexes, and an
# index before the last with at least 3 segments (a, b, c).
gen=$(replica_gens "$url")
[ "$(echo "$gen" | wc -l)" -eq 1 ] || fail "expected one generation: $gen"
snap=$(replica_files "$url" "generations/$gen/snapshots/")
[ "$snap" = 00000000.snapshot.lz4 ] || fail "unexpected snapshots: $snap"
segs=$(replica_files "$url" "generations/$gen/wal/" | sort)
replica_pull "$url" "$good"
indexes=$(echo "$segs" | cut -c1-8 | sort -u)
last_idx=$(echo "$indexes" | tail -n 1)
mid_idx=$(echo "$indexes" | sed -n 2p)
last_seg=$(echo "$segs" | tail -n 1)
big=""
for x in $indexes; do
	[ "$x" != "$last_idx" ] || break
	if [ "$(echo "$segs" | grep -c "^${x}_")" -ge 3 ]; then
		big=$x
		break
	fi
done
if [ "$(echo "$indexes" | wc -l)" -lt 3 ] || [ -z "$big" ]; then
	fail "replica too small for the cases: $(echo "$segs" | tr "\n" " ")"
fi
seg_a=$(echo "$segs" | grep "^${big}_" | sed -n 1p)
seg_b=$(echo "$segs" | grep "^${big}_" | sed -n 2p)
seg_c=$(echo "$segs" | grep "^${big}_" | sed -n 3p)
echo "good replica: seq $last, generation $gen," \
	"$(echo "$indexes" | wc -l) indexes, $(echo "$segs" | wc -l) segments"

# Decoded contents of the objects the flips hit (see flip below).
lz4 -dc "$good/generations/$gen/wal/$seg_b" >"$T/seg_b.bin"
lz4 -dc "$good/generations/$gen/wal/$last_seg" >"$T/last_seg.bin"
lz4 -dc "$good/generations/$gen/snapshots/$snap" >"$T/snap.bin"

n=0
bad=0

# new_case: a fresh copy of the good replica at $R (files; the replica
# is $RURL once expect_broken has pushed them); $W and $S are its WAL and
# snapshot directories.
new_case() {
	n=$((n + 1))
	R=$T/case-$n
	RURL=$(replica_url "case-$n")
	cp -a "$good" "$R"
	W=$R/generations/$gen/wal
	S=$R/generations/$gen/snapshots
}

# expect_broken DESC NAME...: restore from $R must fail (exit 6, the
# replica fails verification) with one
# "walship: " line, the last on stderr, that matches one of NAMEs (shell
# patterns; object names have no special characters), and leave nothing
# at $T/out-$n.db* or $T/.out-$n.db*.
expect_broken() {
	_d=$1
	shift
	_out=$T/out-$n.db
	_st=0
	replica_push "$R" "$RURL" || fail "case $n: cannot write the damaged replica"
	"$WALSHIP" restore -o "$_out" "$RURL" >"$T/case.out" 2>"$T/case.err" ||
		_st=$?
	_line=$(tail -n 1 "$T/case.err")
	_named=""
	for _w; do
		# shellcheck disable=SC2254 # NAME may be a pattern: "$gen*$idx"
		case $_line in *$_w*) _named=1 ;; esac
	done
	if [ "$_st" -ne 6 ]; then
		bad_case "$_d" "restore exited $_st, want 6"
	elif [ "$(grep -c '^walship: ' "$T/case.err")" -ne 1 ]; then
		bad_case "$_d" "want exactly one 'walship: ' line on stderr"
	else
		case $_line in
		"walship: "*)
			if [ -n "$_named" ]; then
				echo "ok case $n: $_d: $_line"
			else
				bad_case "$_d" "the message names none of: $*"
			fi
			;;
		*) bad_case "$_d" "the last stderr line is not the error" ;;
		esac
	fi
	for _f in "$_out" "$_out"* "$T/.out-$n.db"*; do
		[ ! -e "$_f" ] || bad_case "$_d" "left $_f behind"
	done
	[ "$RURL" = "file://$R" ] || replica_del "$RURL" generations/ ||
		fail "case $n: cannot delete the damaged replica"
	rm -rf "$R" "$_out"*
}

# flip FILE OFFSET ORIG: invert the byte at OFFSET, or at the first offset
# after it whose inversion changes what FILE decodes to (ORIG: the
# decoded original).  An inverted byte inside an LZ4 match can be harmless
# when the match then copies equal bytes; that is not corruption.
flip() {
	_o=$2
	while :; do
		_b=$(od -An -tu1 -j "$_o" -N1 "$1" | tr -d ' ')
		[ -n "$_b" ] || fail "flip: offset $_o is past the end of $1"
		# shellcheck disable=SC2059 # the format is the byte
		printf "$(printf '\\%03o' $((_b ^ 255)))" |
			dd of="$1" bs=1 seek="$_o" count=1 conv=notrunc 2>/dev/null
		lz4 -dc "$1" >"$T/flip.bin" 2>/dev/null &&
			cmp -s "$T/flip.bin" "$3" || return 0
		# shellcheck disable=SC2059
		printf "$(printf '\\%03o' "$_b")" |
			dd of="$1" bs=1 seek="$_o" count=1 conv=notrunc 2>/dev/null
		_o=$((_o + 1))
	done
}

# One byte inverted: the magic, the frame descriptor, the first block's
# size, the middle, the end mark and the content checksum.
for obj in "wal/$seg_b seg_b" "wal/$last_seg last_seg" "snapshots/$snap snap"; do
	key=${obj% *}
	orig=$T/${obj#* }.bin
	name=${key#*/}
	sz=$(stat -c %s "$good/generations/$gen/$key")
	for off in 0 5 8 $((sz / 2)) $((sz - 6)) $((sz - 3)); do
		new_case
		flip "$R/generations/$gen/$key" "$off" "$orig"
		expect_broken "byte $off of $sz inverted in $name" "$name"
	done
	# Truncated to 0 bytes, to half and by one byte.
	for cut in 0 $((sz / 2)) $((sz - 1)); do
		new_case
		truncate -s "$cut" "$R/generations/$gen/$key"
		expect_broken "$name truncated to $cut of $sz bytes" "$name"
	done
	# Garbage after the LZ4 frame.
	new_case
	printf 'garbage\n' >>"$R/generations/$gen/$key"
	expect_broken "garbage appended to $name" "$name"
done

# Missing objects: the message names the generation and the index (or
# the missing key itself).
new_case
rm "$W/$seg_b"
expect_broken "middle segment $seg_b deleted" "$seg_b" "$gen*$big"
new_case
rm "$W/$seg_a"
expect_broken "first segment $seg_a deleted" "$seg_a" "$gen*$big"
first_mid=$(echo "$segs" | grep "^${mid_idx}_" | head -n 1)
new_case
rm "$W/$first_mid"
expect_broken "first segment $first_mid of a middle index deleted" \
	"$first_mid" "$gen*$mid_idx"
new_case
rm "$W/${mid_idx}_"*
expect_broken "every segment of middle index $mid_idx deleted" \
	"$gen*$mid_idx"
new_case
rm "$S/$snap"
expect_broken "snapshot $snap deleted" "$gen"

# Two segments of one index with their contents swapped (names kept).
new_case
mv "$W/$seg_b" "$T/swap"
mv "$W/$seg_c" "$W/$seg_b"
mv "$T/swap" "$W/$seg_c"
expect_broken "contents of $seg_b and $seg_c swapped" "$seg_b" "$seg_c"

# A duplicate: the segment before it copied over a segment.
new_case
cp "$W/$seg_a" "$W/$seg_b"
expect_broken "$seg_b replaced by a copy of $seg_a" "$seg_b"

# Valid LZ4 frames of the wrong content: text; the right frames with one
# page byte changed (the WAL checksum chain breaks); the right frames less
# the last one (the segment no longer meets the next one, so naming the
# next segment is acceptable too).
new_case
seq 1 20000 | lz4 -q -B7 -c >"$W/$seg_b"
expect_broken "$seg_b replaced by LZ4 of other bytes" "$seg_b"
new_case
cp "$T/seg_b.bin" "$T/wrong.bin"
b=$(od -An -tu1 -j 100 -N1 "$T/wrong.bin" | tr -d ' ')
# shellcheck disable=SC2059 # the format is the byte
printf "$(printf '\\%03o' $((b ^ 1)))" |
	dd of="$T/wrong.bin" bs=1 seek=100 count=1 conv=notrunc 2>/dev/null
lz4 -q -B7 -c "$T/wrong.bin" >"$W/$seg_b"
expect_broken "$seg_b re-compressed with one page byte changed" "$seg_b"
new_case
pgsz=$(lz4 -dc "$W/$seg_a" | od -An -tu1 -j 8 -N 4 |
	awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
fsz=$(stat -c %s "$T/seg_b.bin")
head -c $((fsz - pgsz - 24)) "$T/seg_b.bin" | lz4 -q -B7 -c >"$W/$seg_b"
expect_broken "$seg_b re-compressed without its last frame" "$seg_b" "$seg_c"

# Restore onto an existing target refuses and leaves it as it was.
n=$((n + 1))
cp "$T/clean.db" "$T/existing.db"
sum=$(sha256sum <"$T/existing.db")
"$WALSHIP" restore -o "$T/existing.db" "$url" 2>"$T/case.err" &&
	fail "restore over an existing target succeeded"
grep -q '^walship: .*already exists' "$T/case.err" ||
	fail "restore over an existing target: $(cat "$T/case.err")"
[ "$(sha256sum <"$T/existing.db")" = "$sum" ] ||
	fail "restore over an existing target changed it"
for f in "$T"/existing.db?*; do
	[ ! -e "$f" ] || fail "restore left $f beside existing.db"
done
echo "ok case $n: existing target refused: $(tail -n 1 "$T/case.err")"

# ...and beside a stale -wal or -shm.
for sfx in -wal -shm; do
	n=$((n + 1))
	printf 'stale\n' >"$T/out-$n.db$sfx"
	"$WALSHIP" restore -o "$T/out-$n.db" "$url" 2>"$T/case.err" &&
		fail "restore beside a stale out-$n.db$sfx succeeded"
	[ "$(grep -c '^walship: ' "$T/case.err")" -eq 1 ] ||
		fail "restore beside a stale $sfx: $(cat "$T/case.err")"
	[ ! -e "$T/out-$n.db" ] || fail "restore beside a stale $sfx created out-$n.db"
	[ "$(cat "$T/out-$n.db$sfx")" = stale ] || fail "restore changed the stale $sfx"
	echo "ok case $n: stale $sfx refused: $(tail -n 1 "$T/case.err")"
done

# Note: the writer is a single process because walship (at the time of
# writing) takes a WAL restart done by a second connection for a double
# restart (the header's checkpoint sequence is per connection in SQLite)
# and starts a new generation; this test needs one generation.
echo "corrupt cases: $n"
rel_count corrupt_tried "$n"
rel_count corrupt_refused "$((n - bad))"
rel_count corrupt_missed "$bad"
[ "$bad" -eq 0 ] ||
	fail "$bad of $n corrupt cases were not handled right:
$(cat "$T/bad.txt")"
