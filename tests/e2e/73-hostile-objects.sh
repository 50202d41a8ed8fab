#!/bin/sh
# Replica objects that pass every checksum and still lie, and a restore
# that runs out of room: each case must restore exactly or fail with one
# line naming the object (or, for a local write, the file), leaving
# nothing at the target.
#
#   - a WAL frame (checksums recomputed, tests/tools/wswal) that writes
#     page 2^26 of a database of a few hundred pages: refused as past the
#     database, where ccaa6ca sized its page map by it (1 GiB);
#   - the same frame made a commit of 2^26 pages: refused as pages that
#     nothing wrote, where ccaa6ca wrote a 256 GiB sparse file that
#     passed integrity_check (we give it 120 s);
#   - a snapshot, then a segment, re-compressed without the LZ4 content
#     checksum: refused (nothing else proves a snapshot's bytes);
#   - a snapshot followed by 160 MB of zeros (a 600 KB object, without
#     a digest record), restored
#     under a 40 MB file size limit: bytes past the size the database
#     header gives are checked, never written, so it restores exactly;
#     ccaa6ca wrote them all;
#   - the disk full (EFBIG under a 16 KB file size limit, SIGXFSZ
#     ignored): the restore fails at once naming its temporary file, with
#     no retry; ccaa6ca retried the download three times;
#   - a WAL segment replaced by a 2 GiB sparse file (a valid LZ4 frame
#     header, then 4 MiB raw blocks of holes): refused naming it once its
#     first bytes decode, the restore's files never over 64 MiB on disk
#     (ccaa6ca spooled it all); a segment listed at 1 TiB: more than the
#     output's directory has free, refused before any snapshot or
#     segment is read (on S3 the proxy's request log shows no GET of
#     one) naming the replica and both sizes;
#   - the snapshot deleted: restore -list, text and -json, warns that
#     the generation cannot be restored, as restore does (ccaa6ca left
#     it out without a word);
#   - objects named almost like walship's (upper-case hex, a 9-digit
#     offset, .tmp, an upper-case generation, a directory at a key):
#     ignored;
#   - directory replicas only: a symbolic link at the snapshot's key and
#     a FIFO at a segment's are never opened (the restore fails naming
#     what is missing, and does not block); a segment listed at 2 TiB (a
#     sparse file) is refused before any download; an object time in 2381
#     gives a negative lag, not a wrapped one (ccaa6ca overflowed).
#
# On the replica backend WS_REPLICA picks (tests/lib.sh); the damaged
# objects are pushed to a fresh prefix per case.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
# shellcheck source-path=SCRIPTDIR
set -eu
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
command -v lz4 >/dev/null || fail "the lz4 CLI is needed (apt-get install lz4)"
command -v python3 >/dev/null || fail "python3 is needed (apt-get install python3)"
need_replica
[ -x "$TOOLS/wswal" ] || fail "$TOOLS/wswal is not built (make all)"

good=$T/good
url=$(replica_url good)

good_replica "$url" 200
replica_pull "$url" "$good"
W=generations/$gen/wal
snap=generations/$gen/snapshots/00000000.snapshot.lz4
[ -f "$good/$snap" ] || fail "no snapshot 00000000 in $good"
last_idx=$(replica_files "$url" "$W/" | cut -c1-8 | sort -u | tail -n 1)
segs=$(replica_files "$url" "$W/" | grep "^${last_idx}_" | sort)
last_seg=$W/$(echo "$segs" | tail -n 1)
echo "good replica: seq $last, generation $gen, last index $last_idx:" \
	"$(echo "$segs" | wc -l) segments"

n=0
bad=0

new_case() {
	n=$((n + 1))
	R=$T/case-$n
	RURL=$(replica_url "case-$n")
	cp -a "$good" "$R"
}

# restore_case [PREFIX...]: push $R and restore it to $T/out-$n.db with
# PREFIX (env, ulimit...) before the command, within 120 s and 200 MB of
# file (so that a restore that ignores what it is told cannot fill the
# disk: ccaa6ca spools 2 TiB of zeros for the sparse case); $st is its
# status.
restore_case() {
	replica_push "$R" "$RURL" || fail "case $n: cannot write the replica"
	st=0
	sh -c 'ulimit -f 400000 && exec "$@"' limit \
		"$@" timeout 120 "$WALSHIP" restore -o "$T/out-$n.db" "$RURL" \
		>"$T/case.out" 2>"$T/case.err" || st=$?
}

# left DESC: whatever a failed restore left at the target is a bad case.
left() {
	for _f in "$T/out-$n.db"*; do
		[ ! -e "$_f" ] || bad_case "$1" "left $_f behind"
	done
}

done_case() {
	[ "$RURL" = "file://$R" ] || replica_del "$RURL" generations/ ||
		fail "case $n: cannot delete the replica"
	rm -rf "$R" "$T/out-$n.db"*
}

# expect_broken DESC WORDS...: status $want_st (6: verification failed;
# 4 for the cases about the output's side), one "walship: " line (the last),
# containing every one of WORDS, nothing left at the target.
want_st=6
expect_broken() {
	_d=$1
	shift
	_line=$(tail -n 1 "$T/case.err")
	if [ "$st" -ne "$want_st" ]; then
		bad_case "$_d" "restore exited $st, want $want_st"
	elif [ "$(grep -c '^walship: ' "$T/case.err")" -ne 1 ]; then
		bad_case "$_d" "want exactly one 'walship: ' line on stderr"
	else
		_miss=""
		for _w; do
			case $_line in *"$_w"*) ;; *) _miss="$_miss \"$_w\"" ;; esac
		done
		if [ -n "$_miss" ]; then
			bad_case "$_d" "the message lacks$_miss"
		else
			echo "ok case $n: $_d: $_line"
		fi
	fi
	left "$_d"
	done_case
}

# expect_exact DESC: restored, and equal to the clean restore.
expect_exact() {
	if [ "$st" -ne 0 ]; then
		bad_case "$1" "restore exited $st, want 0"
	elif ! "$TOOLS/wscheck" -eq "$T/clean.db" "$T/out-$n.db" \
		>"$T/case.eq" 2>&1; then
		bad_case "$1" "not the clean restore: $(cat "$T/case.eq")"
	else
		echo "ok case $n: $1: restored exactly"
	fi
	done_case
}

# forge_last ARGS...: the last index's WAL, decompressed and joined, with
# wswal ARGS applied (checksums recomputed); only its last frame may
# change, so only the last segment is written back.
forge_last() {
	: >"$T/idx.bin"
	for _s in $segs; do
		lz4 -dc "$R/$W/$_s" >>"$T/idx.bin"
	done
	_keep=$(($(stat -c %s "$T/idx.bin") - $(lz4 -dc "$R/$last_seg" | wc -c)))
	"$TOOLS/wswal" "$T/idx.bin" "$@" || fail "wswal failed"
	tail -c +$((_keep + 1)) "$T/idx.bin" | lz4 -q -c >"$R/$last_seg"
}

# A page number of 2^26 in the last frame, its commit size unchanged.
new_case
forge_last set -1 pgno 67108864
restore_case
expect_broken "last frame writes page 2^26" "$last_seg" "page 67108864" \
	"past the database"

# The same frame as a commit of 2^26 pages.
new_case
forge_last set -1 pgno 67108864 set -1 commit 67108864
restore_case
expect_broken "last commit claims 2^26 pages" "$last_seg" \
	"makes the database 67108864 pages" "in neither the snapshot"

# No content checksum: the snapshot, then a segment.
new_case
lz4 -dc "$good/$snap" | lz4 -q --no-frame-crc -c >"$R/$snap"
restore_case
expect_broken "snapshot without a content checksum" "$snap" \
	"no content checksum"
new_case
lz4 -dc "$good/$last_seg" | lz4 -q --no-frame-crc -c >"$R/$last_seg"
restore_case
expect_broken "segment without a content checksum" "$last_seg" \
	"no content checksum"

# A snapshot that decodes to 160 MB more than its database, under a 40 MB
# file size limit (dash counts 512-byte blocks).  Without its digest
# record, as Litestream or an earlier walship would leave it (with it,
# the changed snapshot is refused before anything is restored: 77).
new_case
find "$R" -name '*.digest.lz4' -delete
{
	lz4 -dc "$good/$snap"
	head -c 160000000 /dev/zero
} | lz4 -q -c >"$R/$snap"
echo "case $n: snapshot with 160 MB of zeros: $(stat -c %s "$R/$snap") bytes"
restore_case sh -c 'ulimit -f 80000 && exec "$@"' limit
expect_exact "snapshot with 160 MB of zeros past its header's size"

# The disk full: writes fail with EFBIG past 16 KB.
new_case
restore_case sh -c 'trap "" XFSZ && ulimit -f 32 && exec "$@"' limit
# (whichever write fails first names the output: the file being built,
# "out-N.db (not yet linked)" or, on a filesystem without unnamed files,
# ".out-N.db.tmp-XXXXXX", or "the spool file for .../out-N.db")
want_st=4
expect_broken "local writes fail (EFBIG)" "out-$n.db" "File too large"
want_st=6
! grep -q 'retrying' "$T/case.err" ||
	bad_case "local writes fail (EFBIG)" "the download was retried"

# Objects named almost like walship's: ignored, whatever they hold.
new_case
for k in "generations/$gen/wal/0000000A_00000000.wal.lz4" \
	"generations/$gen/wal/00000001_000000000.wal.lz4" \
	"generations/$gen/snapshots/00000000.snapshot.lz4.tmp" \
	"generations/ABCDEF0123456789/snapshots/00000000.snapshot.lz4" \
	"generations/$gen/wal/00000009_00000000.wal.lz4/x"; do
	mkdir -p "$(dirname "$R/$k")"
	printf 'junk' >"$R/$k"
done
restore_case
expect_exact "five objects named almost like walship's"

# big_object KEY SIZE|-sparse: after restore_case's push, the object KEY
# of $R, on either backend, becomes a sparse file listed at that size
# (truncate -s), or (-sparse) the 2 GiB one sparse.py makes: an LZ4 frame
# header with the content checksum flag, then 512 raw blocks of 4 MiB
# whose data are holes (on S3, s3rver's stored file of the object).
big_object() {
	_bo=$R/$1
	[ "$WS_REPLICA" = file ] ||
		_bo=$S3_DATA_DIR/$S3_BUCKET/case-$n/$1._S3rver_object
	[ -f "$_bo" ] || fail "case $n: no file $_bo"
	if [ "$2" = -sparse ]; then
		python3 - "$_bo" <<'PY' || fail "case $n: cannot make the sparse object"
import struct, sys
def xxh32(data, seed=0):  # enough for the 2-byte frame descriptor
    P1, P2, P3, P4, P5, M = 2654435761, 2246822519, 3266489917, 668265263, 374761393, 0xffffffff
    rotl = lambda x, r: ((x << r) | (x >> (32 - r))) & M
    h = (seed + P5 + len(data)) & M
    for b in data:
        h = (rotl((h + b * P5) & M, 11) * P1) & M
    h ^= h >> 15; h = (h * P2) & M; h ^= h >> 13; h = (h * P3) & M
    return h ^ (h >> 16)
desc = bytes([0x64, 0x70])  # content checksum, 4 MiB blocks
with open(sys.argv[1], "wb") as f:
    f.write(b"\x04\x22\x4d\x18" + desc + bytes([(xxh32(desc) >> 8) & 0xff]))
    for _ in range(512):
        f.write(struct.pack("<I", 0x80000000 | 4 << 20))
        f.seek(4 << 20, 1)
    f.write(bytes(8))
PY
	else
		truncate -s "$2" "$_bo"
	fi
}

# restore_watched: restore $RURL as restore_case does, in the background,
# and set $peak to the most disk its open files (the spool, the file
# being built) ever held together, sampled from /proc/PID/fd.
restore_watched() {
	st=0
	peak=0
	sh -c 'ulimit -f 400000 && exec "$0" "$@"' "$WALSHIP" restore \
		-o "$T/out-$n.db" "$RURL" >"$T/case.out" 2>"$T/case.err" &
	_rw=$!
	_rw_end=$(($(date +%s) + 120))
	while [ -d "/proc/$_rw/fd" ] && [ "$(date +%s)" -lt "$_rw_end" ]; do
		_rw_b=$(find -L "/proc/$_rw/fd" -maxdepth 1 -type f \
			-printf '%b\n' 2>/dev/null |
			awk '{ s += $1 } END { print s * 512 }')
		[ "${_rw_b:-0}" -le "$peak" ] || peak=$_rw_b
		sleep 0.05
	done
	kill -9 "$_rw" 2>/dev/null || true
	wait "$_rw" || st=$?
}

# A WAL segment replaced by 2 GiB of zeros behind a valid frame header
# (2 MB on disk): refused naming it as soon as its first bytes decode,
# with at most a few blocks spooled.  ccaa6ca spooled it all (1.7 GB in
# 3 s) before failing: here the 200 MB file size limit stops it first.
new_case
replica_push "$R" "$RURL" || fail "case $n: cannot write the replica"
big_object "$last_seg" -sparse
restore_watched
echo "case $n: a 2 GiB sparse segment: at most $peak bytes on disk"
[ "$peak" -le $((64 << 20)) ] ||
	bad_case "a 2 GiB sparse segment" "the restore's files held $peak bytes (> 64 MiB)"
expect_broken "a 2 GiB sparse segment" "$last_seg" "not a WAL segment"

# A segment listed at 1 TiB (a sparse file, as big as an object may be):
# the plan cannot fit in the output's directory, so it is refused before
# any download, naming the replica, what it needs and what is free (on
# S3: no GET of a snapshot or segment).  ccaa6ca downloaded it.
new_case
replica_push "$R" "$RURL" || fail "case $n: cannot write the replica"
big_object "$last_seg" 1T
# (as walship counts it as root: free blocks, reserved ones included)
free=$(stat -f -c '%f %S' "$T" | awk '{ printf "%d", $1 * $2 / 1024 }')
if [ "$free" -ge $((1 << 30)) ]; then
	skip "a segment listed at 1 TiB: $T has over 1 TiB free"
	done_case
else
	reqs=0
	[ "$WS_REPLICA" = file ] || reqs=$(grep -c . "$T/s3/requests.jsonl")
	restore_watched
	# (planning reads the newest commit-time object, walship's record
	# of commit times: no snapshot or segment may be read)
	if [ "$WS_REPLICA" = s3 ] && tail -n +$((reqs + 1)) "$T/s3/requests.jsonl" |
		grep '"op":"GetObject"' | grep -qE '/(snapshots|wal)/'; then
		bad_case "a plan over the free space" "a snapshot or a segment was downloaded"
	fi
	want_st=4
	expect_broken "a plan over the free space" \
		"cannot restore from replica $RURL: the plan needs at least" \
		"and it has" "free; the largest object is $last_seg (1099511627776 bytes)"
	want_st=6
fi

# The generation's snapshot deleted: restore -list (text and JSON) says
# in a WARN line that it cannot be restored, as restore does, instead of
# leaving it out without a word (ccaa6ca: a header or [], stderr empty).
new_case
rm "$R/$snap"
replica_push "$R" "$RURL" || fail "case $n: cannot write the replica"
for fmt in "" -json; do
	st=0
	# shellcheck disable=SC2086 # $fmt is empty or one flag
	"$WALSHIP" restore -list $fmt "$RURL" >"$T/case.out" 2>"$T/case.err" ||
		st=$?
	if [ "$st" -ne 0 ] || [ "$(grep -c . "$T/case.err")" -ne 1 ] ||
		! grep -qF "WARN restore -list: generation $gen of replica $WS_REPLICA cannot be restored db=$RURL: it has WAL segments but no snapshot" "$T/case.err"; then
		bad_case "restore -list${fmt:+ $fmt} without the snapshot" "exit $st, want 0 and one WARN line naming $gen"
	else
		echo "ok case $n: restore -list${fmt:+ $fmt} without the snapshot: $(cat "$T/case.err")"
	fi
done
restore_case
grep -qF "WARN restore: skipping generation $gen db=$T/out-$n.db replica=$WS_REPLICA: it has WAL segments but no snapshot" "$T/case.err" ||
	bad_case "restore without the snapshot" "no WARN line naming $gen"
expect_broken "restore without the snapshot" "generation $gen has WAL segments but no snapshot"

if [ "$WS_REPLICA" = file ]; then
	# A symbolic link at the snapshot's key, to a good copy: not an
	# object (never listed, never opened).
	new_case
	mv "$R/$snap" "$T/snap-elsewhere"
	ln -s "$T/snap-elsewhere" "$R/$snap"
	restore_case
	expect_broken "a symbolic link at the snapshot" "$gen" "no snapshot"
	# A FIFO at the first segment's key: not listed, never opened (it
	# would block the restore for good).
	new_case
	rm "$R/$W/00000000_00000000.wal.lz4"
	mkfifo "$R/$W/00000000_00000000.wal.lz4"
	restore_case
	expect_broken "a FIFO at a segment" "$gen" "index=00000000"
	# A segment listed at 2 TiB (a sparse file): refused before any
	# download.
	new_case
	truncate -s 2T "$R/$last_seg"
	restore_case
	expect_broken "a segment listed at 2 TiB" "$last_seg" \
		"listed as 2199023255552 bytes"
	# An object time past what a signed ns count holds (year 2381): the
	# lag is negative, not wrapped; restores are unchanged.
	new_case
	touch -d @13000000000 "$R/$snap"
	st=0
	"$WALSHIP" generations -json "$RURL" >"$T/case.out" 2>"$T/case.err" ||
		st=$?
	lag=$(sed -n 's/.*"lag_ms": \(-*[0-9]*\).*/\1/p' "$T/case.out")
	case $st:$lag in
	0:-*) echo "ok case $n: an object time in 2381: lag_ms $lag" ;;
	*) bad_case "an object time in 2381" "exit $st, lag_ms '$lag'" ;;
	esac
	restore_case
	expect_exact "an object time in 2381"
fi

echo "hostile object cases: $n, problems: $bad"
rel_count hostile_tried "$n"
rel_count hostile_missed "$bad"
[ "$bad" -eq 0 ] ||
	fail "$bad problems in $n hostile object cases:
$(cat "$T/bad.txt")"
