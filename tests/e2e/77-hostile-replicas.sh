#!/bin/sh
# Hostile and damaged replicas, by the hundred: every restore of a damaged
# replica is exact or fails loudly, within bounds.
#
# Two real replicas are made and kept as they are ("pristine"): A, by
# walship replicating a wsload-written database (one generation, one
# snapshot, several WAL indexes of several segments each, commit-time
# objects), and L, by Litestream v0.3.13 replicating another one.  Donor
# objects come from a second generation of A's database (A2, walship with
# a fresh meta directory), from a third database (B), and from A's
# database file as it was before walship started (an older, valid
# snapshot).  One pass of tests/tools/wsdamage then makes every damaged
# object, and the cases run back to back: each puts its damage into the
# replica (through tests/tools/wsobj on S3; on a directory replica by
# copying files, keeping their times), runs `walship restore -o` and
# puts the pristine objects back.
#
# The damage, by class (per object of A and L where it applies):
# truncations (to 0 bytes, inside the first LZ4 block, anywhere, inside a
# WAL frame, inside a transaction, at an earlier commit); 1, 8 and 64
# flipped bits; valid LZ4 frames of the wrong content (one bit, one bit
# in every page of a snapshot, text), without a content checksum (content
# intact, or bits flipped), with a content size too large (2^40) or too
# small; a frame's page number set far beyond the database (2^26,
# 2^31 - 1) and a commit's database size set to 2^30 pages, with the WAL
# checksums made valid again; two segments swapped, one duplicated over
# the next, a missing segment (the first, a middle one, the last of an
# index, the tail), a missing snapshot, a segment of another generation
# or of another database in its place, an older or a newer valid
# snapshot, or another database's, substituted; walship's commit-time
# objects truncated, flipped, re-encoded, deleted, replaced by other
# valid records, and bogus ones added (a huge count, a snapshot record
# far ahead); walship's records that bind the objects (index records,
# snapshot digests) deleted (the restore is then unchecked there, and must
# still restore) or forged (one field off for a real index, or a real
# snapshot's digest in its place: the restore must refuse; a forged
# digest beside the real one: it must restore); a whole WAL index, each in turn, replaced by
# another database's or generation's; objects with names that are almost
# right, and a bogus newer
# generation; on a directory replica also symbolic links planted in place
# of objects and directories (to a copy, by a "../" path, /dev/null, /dev/zero), a FIFO,
# and objects whose listed size is 1 TiB (a sparse file).
#
# Each restore must either
#   - succeed (exit 0) with a database that wscheck proves to be a
#     committed prefix of the writer's log (a restore that succeeds with
#     any other state is WRONG): the whole replica ("exact"), or
#     ("other"), only where the damage leaves a replica that looks like
#     an older, intact one (its tail segment cut at a commit or hidden
#     behind a link or a FIFO, or missing from L; a newer, bogus
#     generation), an older
#     prefix, and where a segment of A2 replaced one of A, a later prefix
#     (A2's WAL may continue A's: the same database, further on);
#   - or fail with exit status 1, 5 or 6 (err.h; 4 when the output has
#     no room for what is listed) and exactly one "walship: " line, the
#     last on stderr, naming an object (its key, or its generation) or,
#     when nothing is left to name, the replica (where a forged record
#     contradicts the objects, failing is the only good outcome);
# and in both cases leave no file but the database (and its carried
# position, .db-walship/) in the output directory and nothing in
# TMPDIR, peak at under 256 MiB of RSS (/usr/bin/time; 768 MiB for a
# walship built with AddressSanitizer, which restores every third case
# only), write no file
# larger than 64 MiB (ulimit -f: disk stays bounded; a write past it
# kills the restore, which counts as bad) and end within 60 s.  Damage
# that a latest-state restore has no reason to read (commit-time objects
# other than the newest's records, names that are not objects) must not
# make it fail ("refused"); a bogus snapshot record may (it could be
# true, after a crash).  Where A's commit-time records prove commits that
# no segment holds (the last segment missing; a commit-time object named
# past the last index), the restore must fail naming that record ("gap").
#
# Not cases, because no restore could tell: a Litestream snapshot whose
# content was changed and re-compressed with a valid checksum, and the
# last segment of a Litestream index that another index follows, missing
# or cut at a commit (Litestream records neither what a snapshot holds nor
# where an index ended; walship's digest and index records do, so for A
# these are cases).
# Not possible here: on S3 a listed size that differs from the object's
# (s3rver lists the real size) and keys with "../" (s3rver stores them
# normalised; the fuzz targets feed such listings to the parsers), and
# planted links and FIFOs (directory replicas only).
#
# Prints one row per class: tried, exact, other, failed (cleanly), wrong,
# bad (a crash, a signal, a timeout, a message naming nothing, files left
# behind, over a bound, or refused), then why the bad and wrong ones
# were, and the first few with their stderr.  Passes only with no wrong
# and no bad case.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
# shellcheck disable=SC2012 # object names are plain: ls is fine
# shellcheck source-path=SCRIPTDIR
set -eu
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
need_replica
need_litestream
command -v lz4 >/dev/null || fail "the lz4 CLI is needed (apt-get install lz4)"
[ -x /usr/bin/time ] || fail "/usr/bin/time is needed (apt-get install time)"
[ -x "$TOOLS/wsdamage" ] || fail "$TOOLS/wsdamage is not built (make all)"

RSS_MAX_KB=262144       # 256 MiB
# Under AddressSanitizer (make check) freed memory waits in a quarantine
# of up to 256 MiB and every byte has a shadow: allow for that.  And
# restore runs every third case only (each of them under ASan; make test
# runs them all with the plain build): the whole set would take 3 min.
EVERY=1
if ldd "$WALSHIP" 2>/dev/null | grep -q libasan; then
	RSS_MAX_KB=786432
	EVERY=3
fi
FSIZE_BLOCKS=131072     # ulimit -f, 512-byte blocks: 64 MiB
CASE_SECS=60
MIN_CASES=500

# ---- the source replicas --------------------------------------------------

db=$T/db
csv=$T/log.csv
aurl=$(replica_url a)
"$TOOLS/wsload" "$db" -rate 0 -count 200 -log "$csv" 2>"$T/wsload0.log" ||
	fail "wsload failed"
cp "$db" "$T/db-old" # closed cleanly: the whole database, before walship
db_config "$T/a.yml" "$db" a min-checkpoint-page-count=200 -- \
	sync-interval=250ms
start_writer wsload "$db" "$csv" -rate 60
start_bg walship "$WALSHIP" replicate -config "$T/a.yml"
# Four WAL indexes and at least 14 segments, whatever the backend's pace.
wait_for '_f=$(replica_files "$aurl" generations/ 2>/dev/null) &&
	[ -n "$(echo "$_f" | grep "^[^/]*/wal/00000003_")" ] &&
	[ "$(echo "$_f" | grep -c "/wal/")" -ge 14 ]' 90
stop_bg wsload || fail "wsload exited $? on SIGTERM"
last=$(csv_last_seq "$csv")
stop_bg walship || fail "walship exited $? on SIGTERM"

# A2: the same database, a new generation (a fresh meta directory), and
# B: another database; both directory replicas, donors only.
cat >"$T/a2.yml" <<EOF
dbs:
  - path: $db
    meta-path: $T/meta-a2
    replicas:
      - path: $T/a2
        sync-interval: 250ms
EOF
start_writer wsload2 "$db" "$T/log2.csv" -rate 60
start_bg walship2 "$WALSHIP" replicate -config "$T/a2.yml"
wait_for '[ "$(find "$T/a2" -name "*.wal.lz4" 2>/dev/null | wc -l)" -ge 3 ]' 30
stop_bg wsload2 || fail "wsload2 exited $? on SIGTERM"
stop_bg walship2 || fail "walship2 exited $? on SIGTERM"
# The whole history of A's database (wsload went on numbering).
cat "$csv" "$T/log2.csv" >"$T/logall.csv"
start_writer wsloadb "$T/dbb" "$T/logb.csv" -rate 60 -seed 7
start_bg walshipb "$WALSHIP" replicate "$T/dbb" "file://$T/b"
wait_for '[ "$(find "$T/b" -name "*.wal.lz4" 2>/dev/null | wc -l)" -ge 3 ]' 30
stop_bg wsloadb || fail "wsloadb exited $? on SIGTERM"
stop_bg walshipb || fail "walshipb exited $? on SIGTERM"

# L: Litestream's replica of a third database, made in a directory and
# copied to the backend.
ldb=$T/ldb
lcsv=$T/logl.csv
start_writer wsloadl "$ldb" "$lcsv" -rate 100 -seed 3
start_bg litestream "$LITESTREAM" replicate "$ldb" "file://$T/lsrc"
wait_for '[ "$(find "$T/lsrc" -name "*.wal.lz4" 2>/dev/null | wc -l)" -ge 3 ]' 30
stop_bg wsloadl || fail "wsloadl exited $? on SIGTERM"
llast=$(csv_last_seq "$lcsv")
wait_for '[ "$(probe_seq "$LITESTREAM" "file://$T/lsrc")" -ge "$llast" ]' 30
stop_bg litestream || log_has litestream 'release read lock: context canceled' ||
	fail "litestream exited with an error"
lurl=$(replica_url l)
if [ "$WS_REPLICA" = file ]; then
	cp -a "$T/lsrc" "$T/l"
else
	replica_push "$T/lsrc" "$lurl" || fail "cannot copy L to S3"
fi

# The pristine objects of A and L, as files.
if [ "$WS_REPLICA" = file ]; then
	cp -a "$T/a" "$T/pa"
else
	replica_pull "$aurl" "$T/pa" || fail "cannot read A back from S3"
fi
pl=$T/lsrc
replica_ls "$aurl" >"$T/a.ls" || fail "cannot list A"
replica_ls "$lurl" >"$T/l.ls" || fail "cannot list L"

# Both restore exactly as they are.
for x in "a $aurl $csv $last" "l $lurl $lcsv $llast"; do
	# shellcheck disable=SC2086 # four words
	set -- $x
	"$WALSHIP" restore -o "$T/clean-$1.db" "$2" 2>"$T/clean-$1.log" ||
		fail "restore of the pristine replica $1 failed: $(tail -n 1 "$T/clean-$1.log")"
	assert_restored "$T/clean-$1.db" "$4" "$3"
done

gen=$(replica_gens "$aurl")
[ "$(echo "$gen" | wc -l)" -eq 1 ] || fail "A has more than one generation: $gen"
lgen=$(replica_gens "$lurl")
G=generations/$gen
LG=generations/$lgen
snap=$(cd "$T/pa" && ls "$G/snapshots/")
segs=$(cd "$T/pa" && ls "$G/wal/" | sort)
times=$(cd "$T/pa" && find "$G/walship" -type f ! -name '*.index.lz4' \
	! -name '*.digest.lz4' | sort)
irecs=$(cd "$T/pa" && find "$G/walship" -type f -name '*.index.lz4' | sort)
drecs=$(cd "$T/pa" && find "$G/walship" -type f -name '*.digest.lz4' | sort)
lsnap=$(cd "$pl" && ls "$LG/snapshots/")
lsegs=$(cd "$pl" && ls "$LG/wal/" | sort)
gen2=$(ls "$T/a2/generations/")
genb=$(ls "$T/b/generations/")
[ -n "$times" ] || fail "A has no commit-time objects"
nidx=$(echo "$segs" | cut -c1-8 | sort -u | wc -l)
[ "$(echo "$irecs" | grep -c .)" -eq $((nidx - 1)) ] ||
	fail "A has $nidx WAL indexes but these index records: $irecs"
[ "$(echo "$drecs" | grep -c .)" -eq 1 ] ||
	fail "A's snapshot has these digest records: $drecs"
echo "A: generation $gen, seq $last, snapshot $snap, $(echo "$segs" | wc -l)" \
	"segments in $nidx indexes," \
	"$(echo "$times" | wc -l) commit-time objects, $((nidx - 1)) index records"
echo "L (Litestream): generation $lgen, seq $llast, $(echo "$lsegs" | wc -l) segments"

# ---- the damage, in one pass ----------------------------------------------

D=$T/dmg
mkdir "$D"
n=0
: >"$T/cases"

# add_case CLASS EXPECT REPLICA OP:KEY[:FILE]...: one line of $T/cases.
# EXPECT: strict (exact or a clean failure), short (an older prefix is
# fine too), restore (must restore exactly), refuse (must fail cleanly),
# gap (must fail cleanly, naming the commit-time record that proves the
# missing commits).  OPs: put (KEY's content
# becomes FILE), del, add (a new KEY, removed after), link (KEY becomes a
# symbolic link to FILE; directory replicas only).
add_case() {
	echo "$*" >>"$T/cases"
}

# dmg NAME CMD...: run a wsdamage command that writes $D/NAME; prints
# the file, or nothing (and no case) when the object is too small for it.
dmg() {
	_dn=$1
	_dc=$2
	shift 2
	if "$TOOLS/wsdamage" "$_dc" "$D/$_dn" "$@" 2>>"$T/wsdamage.log"; then
		echo "$D/$_dn"
	fi
}

# lz4_classes TAG REPLICA KEY FILE EXPECT: the classes of any LZ4 object.
lz4_classes() {
	_t=$1 _r=$2 _k=$3 _f=$4 _e=$5
	: >"$D/$_t.empty"
	add_case trunc-0 "$_e" "$_r" "put:$_k:$D/$_t.empty"
	for _sd in 2 3 4 5; do
		c=trunc-block
		[ $((_sd % 2)) -eq 0 ] || c=trunc-any
		o=$(dmg "$_t.cut$_sd" cut "$_sd" "$_f")
		[ -z "$o" ] || add_case "$c" "$_e" "$_r" "put:$_k:$o"
	done
	for nb in 1:11 1:12 1:15 8:13 8:16 64:14; do
		o=$(dmg "$_t.flip${nb%:*}-${nb#*:}" flip "${nb%:*}" "${nb#*:}" "$_f")
		[ -z "$o" ] || add_case "flip-${nb%:*}" "$_e" "$_r" "put:$_k:$o"
	done
	_more=""
	case $_k in */snapshots/*.snapshot.lz4)
		# The bytes of a snapshot have no checksum but the frame's: a
		# few more places, and one bit in every page.
		_more="content-flip1 content-flip6 content-flip0 nocksum-flip0" ;;
	esac
	for m in nocksum nocksum-flip csize-huge csize-short content-flip text $_more; do
		case $_r:$_k:$m in
		"l:$LG/snapshots/$lsnap:content-flip"*) continue ;; # see "Not cases"
		esac
		o=$(dmg "$_t.$m" lz4 "$m" "$_f")
		[ -z "$o" ] || add_case "lz4-$(echo "$m" | tr -d 0-9)" "$_e" "$_r" "put:$_k:$o"
	done
}

# wal_classes TAG REPLICA KEY DIR SEGS LASTSEG: the WAL-level classes of
# segment KEY, given the segments of its index up to it (DIR/SEGS...).
wal_classes() {
	_t=$1 _r=$2 _k=$3 _dir=$4 _list=$5 _tail=$6
	_files=""
	for _x in $_list; do _files="$_files $_dir/$_x"; done
	for _sd in 1 2; do
		# shellcheck disable=SC2086 # one file a word
		o=$(dmg "$_t.cutframe$_sd" wal cut-frame "$_sd" $_files)
		[ -z "$o" ] || add_case wal-cut-frame strict "$_r" "put:$_k:$o"
	done
	# shellcheck disable=SC2086 # one file a word
	o=$(dmg "$_t.cuttxn" wal cut-txn - $_files)
	[ -z "$o" ] || add_case wal-cut-txn strict "$_r" "put:$_k:$o"
	[ "$_tail" = skip ] && return
	# shellcheck disable=SC2086
	o=$(dmg "$_t.cutcommit" wal cut-commit - $_files)
	[ -z "$o" ] || add_case wal-cut-commit "$_tail" "$_r" "put:$_k:$o"
}

# claim_classes TAG REPLICA KEY DIR SEGS: page number and database size
# claims, in the last segment of an index (so no later segment of the
# index breaks first).
claim_classes() {
	_t=$1 _r=$2 _k=$3 _dir=$4 _list=$5
	_files=""
	for _x in $_list; do _files="$_files $_dir/$_x"; done
	for v in pgno:67108864 pgno:2147483647 commit:1073741824; do
		# shellcheck disable=SC2086 # one file a word
		o=$(dmg "$_t.${v%:*}-${v#*:}" wal "${v%:*}" "${v#*:}" $_files)
		[ -z "$o" ] || add_case "wal-${v%:*}-huge" strict "$_r" "put:$_k:$o"
	done
}

# tail_of SEG ALL RECORDS: what a restore may give when segment SEG (of
# the list ALL) is missing or cut at a commit.  "short" for the very
# last segment: the replica then looks like an older one, intact.
# "skip" (no case) for the last segment of an index that another index
# follows, in a replica without walship's records (RECORDS 0): nothing
# in Litestream's format says where an index ended, so no restore can
# tell, and the result may be any mix.  "strict" otherwise: walship's
# commit-time records say where commits end.
tail_of() {
	if [ "$1" = "$(echo "$2" | tail -n 1)" ]; then
		echo short
	elif [ "$3" = 0 ] &&
		[ "$1" = "$(echo "$2" | grep "^${1%%_*}_" | tail -n 1)" ]; then
		echo skip
	else
		echo strict
	fi
}

# segment_cases TAG REPLICA GEN PRISTINE ALL DAMAGED RECORDS: every class
# of each segment in DAMAGED (of ALL) of generation directory GEN.
segment_cases() {
	_i=0
	for _s in $6; do
		_i=$((_i + 1))
		lz4_classes "$1-seg$_i" "$2" "$3/wal/$_s" "$4/$3/wal/$_s" strict
		_idx=${_s%%_*}
		_upto=$(echo "$5" | grep "^${_idx}_" |
			awk -v s="$_s" '{ print } $0 == s { exit }')
		_tl=$(tail_of "$_s" "$5" "$7")
		wal_classes "$1-seg$_i" "$2" "$3/wal/$_s" "$4/$3/wal" "$_upto" "$_tl"
		[ "$_s" != "$(echo "$5" | grep "^${_idx}_" | tail -n 1)" ] ||
			claim_classes "$1-seg$_i" "$2" "$3/wal/$_s" "$4/$3/wal" "$_upto"
		# With walship's records, the newest commit-time object names
		# commits in the last segment: its loss is a gap, not a replica
		# that looks older.
		[ "$_tl" != short ] || [ "$7" = 0 ] || _tl=gap
		[ "$_tl" = skip ] || add_case missing-segment "$_tl" "$2" "del:$3/wal/$_s"
	done
}

# Every object of A and L.  The segments of A that get damaged are the
# first 11 and the last (the backend's pace decides how many there are;
# this keeps the count and the run time steady).
lastseg=$(echo "$segs" | tail -n 1)
dsegs=$( (echo "$segs" | head -n 11; echo "$lastseg") | sort -u)
lz4_classes a-snap a "$G/snapshots/$snap" "$T/pa/$G/snapshots/$snap" strict
segment_cases a a "$G" "$T/pa" "$segs" "$dsegs" 1
i=0
for k in $times; do
	i=$((i + 1))
	lz4_classes "a-times$i" a "$k" "$T/pa/$k" restore
done
lz4_classes l-snap l "$LG/snapshots/$lsnap" "$pl/$LG/snapshots/$lsnap" strict
segment_cases l l "$LG" "$pl" "$lsegs" "$lsegs" 0

# Segments swapped, duplicated, or from elsewhere.
prev=""
for s in $dsegs; do
	if [ -n "$prev" ] && [ "${prev%%_*}" = "${s%%_*}" ]; then
		add_case swap strict a "put:$G/wal/$prev:$T/pa/$G/wal/$s" \
			"put:$G/wal/$s:$T/pa/$G/wal/$prev"
		add_case duplicate strict a "put:$G/wal/$s:$T/pa/$G/wal/$prev"
	fi
	prev=$s
	o=$(ls "$T/a2/generations/$gen2/wal/$s" 2>/dev/null ||
		find "$T/a2/generations/$gen2/wal" -type f | sort | head -n 1)
	add_case other-generation strict a "put:$G/wal/$s:$o"
	o=$(ls "$T/b/generations/$genb/wal/$s" 2>/dev/null ||
		find "$T/b/generations/$genb/wal" -type f | sort | head -n 1)
	add_case other-database strict a "put:$G/wal/$s:$o"
done
# Each WAL index of A, in turn, replaced whole by the first segment of
# another generation's or database's index (a WAL header and whole
# transactions: valid on its own).
lastidx=${lastseg%%_*}
for idx in $(echo "$segs" | cut -c1-8 | sort -u); do
	rest=""
	for s in $(echo "$segs" | grep "^${idx}_" | grep -v "^${idx}_00000000"); do
		rest="$rest del:$G/wal/$s"
	done
	for d in "a2/generations/$gen2" "b/generations/$genb"; do
		c=other-generation
		[ "${d%%/*}" = a2 ] || c=other-database
		o=$(find "$T/$d/wal" -name '*_00000000.wal.lz4' | sort | head -n 1)
		add_case "$c" strict a "put:$G/wal/${idx}_00000000.wal.lz4:$o$rest"
	done
done
add_case missing-snapshot strict a "del:$G/snapshots/$snap"
add_case missing-snapshot strict l "del:$LG/snapshots/$lsnap"
lz4 -q -c "$T/db-old" >"$D/old.snapshot"
add_case older-snapshot strict a "put:$G/snapshots/$snap:$D/old.snapshot"
add_case newer-snapshot strict a \
	"put:$G/snapshots/$snap:$(find "$T/a2/generations/$gen2/snapshots" -type f | head -n 1)"
add_case other-db-snapshot strict a \
	"put:$G/snapshots/$snap:$(find "$T/b/generations/$genb/snapshots" -type f | head -n 1)"

# Walship's commit-time objects: gone, swapped for other valid records,
# and bogus ones added (a huge count, a snapshot record far ahead).
tfirst=$(echo "$times" | head -n 1)
for k in $times; do
	add_case times-missing restore a "del:$k"
	[ "$k" = "$tfirst" ] || add_case times-substituted restore a "put:$k:$T/pa/$tfirst"
done
printf 'WSTIMES1' >"$D/t-empty"
lz4 -q -c "$D/t-empty" >"$D/t-empty.lz4"
# (A commit-time object's name claims commits: in index 7fffffff here,
# which no segment reaches, so a restore must refuse, naming it.)
add_case times-bogus gap a \
	"add:$G/walship/times/00000000_00000fff_0000000000000001-7fffffff_ffffffff.times.lz4:$D/t-empty.lz4"
# (A snapshot record saying the snapshot holds changes up to an offset
# the WAL never reaches may be true, after a crash: refusing is fine.)
add_case times-bogus strict a \
	"add:$G/walship/snapshots/00000000_ffffffff_7fffffffffffffff.times.lz4:$T/pa/$tfirst"
add_case times-bogus gap a \
	"add:$G/walship/times/7fffffff_00000020_7fffffffffffffff-7fffffff_00000001.times.lz4:$T/pa/$tfirst"

# walship's records that bind the objects: each deleted (that boundary
# or snapshot is then not checked: the replica must still restore), and
# forged beside the real one with one field off (the size, the checksum
# or the salts of an index record), a digest's last hex digit changed
# (in its place: refused; beside it: restored).
for k in $irecs $drecs; do
	add_case record-missing restore a "del:$k"
done
# forge KEY N [EXPECT [OP]]: a record named as KEY with the last hex
# digit of the Nth "_" field of its name changed (0 to 1, else to 0),
# its body KEY's, added (with OP too).
forge() {
	_fk=$(echo "$1" | awk -F/ -v OFS=/ -v n="$2" '{
		k = split($NF, f, "_"); x = f[n]
		i = n == k ? index(x, ".") - 1 : length(x)
		c = substr(x, i, 1)
		f[n] = substr(x, 1, i - 1) (c == "0" ? "1" : "0") substr(x, i + 1)
		b = f[1]; for (j = 2; j <= k; j++) b = b "_" f[j]
		$NF = b; print }')
	[ "$_fk" != "$1" ] || fail "forge $1 $2: the same name"
	add_case record-forged "${3:-refuse}" a "add:$_fk:$T/pa/$1" ${4:-}
}
for k in $irecs; do
	forge "$k" 2 # the size of the index before
	forge "$k" 3 # its checksum
	forge "$k" 4 # this index's salts
done
# The snapshot's SHA-256: in place of the real digest, or beside it
# (a snapshot that matches one of its digests is the one written).
forge "$drecs" 3 refuse "del:$drecs"
forge "$drecs" 3 restore

# Names that are almost those of objects: ignored.
for k in "$G/wal/${lastseg}.bak" "$G/wal/$(echo "$lastseg" | tr '[:lower:]' '[:upper:]')" \
	"$G/wal/x/$lastseg" "$G/snapshots/${snap%.lz4}" "$G/snapshots/1$snap" \
	"generations/$(echo "$gen" | tr '[:lower:]' '[:upper:]')/snapshots/$snap" \
	"$G/wal/$(echo "$lastseg" | sed 's/_/-/')" "$G/walship/times/x.times.lz4"; do
	add_case odd-name restore a "add:$k:$T/pa/$G/wal/$lastseg"
done
# A newer generation that holds nothing valid.
add_case bogus-generation short a \
	"add:generations/ffffffffffffffff/snapshots/00000000.snapshot.lz4:$D/a-snap.text"
add_case bogus-generation short a \
	"add:generations/0000000000000000/wal/00000000_00000000.wal.lz4:$T/pa/$G/wal/$lastseg"

if [ "$WS_REPLICA" = file ]; then
	# Symbolic links where objects and directories were, a FIFO, and a
	# listed size of 1 TiB (a sparse file: the bytes past the frame are
	# zeros).
	mkfifo "$D/fifo"
	add_case link-segment strict a "link:$G/wal/$(echo "$segs" | sed -n 2p):$T/pa/$G/wal/$(echo "$segs" | sed -n 2p)"
	add_case link-segment short a "link:$G/wal/$lastseg:$T/pa/$G/wal/$lastseg"
	# A relative link out of the replica ("../").
	add_case link-segment strict a \
		"link:$G/wal/$(echo "$segs" | sed -n 3p):../../../../pa/$G/wal/$(echo "$segs" | sed -n 3p)"
	add_case link-snapshot strict a "link:$G/snapshots/$snap:$T/pa/$G/snapshots/$snap"
	add_case link-dir short a "link:$G/wal:$T/pa/$G/wal"
	add_case link-dir strict a "link:$G:$T/pa/$G"
	add_case link-dir restore a "link:$G/walship:$T/pa/$G/walship"
	add_case link-dir short a "link:$G/wal:/dev/null"
	add_case link-device short a "link:$G/wal/$lastseg:/dev/zero"
	add_case fifo short a "link:$G/wal/$lastseg:$D/fifo"
	for k in "$G/snapshots/$snap" "$G/wal/$(echo "$segs" | sed -n 2p)" "$G/wal/$lastseg"; do
		cp "$T/pa/$k" "$D/sparse-$n"
		truncate -s 1T "$D/sparse-$n"
		add_case listed-size-huge strict a "put:$k:$D/sparse-$n"
		n=$((n + 1))
	done
fi
total=$(wc -l <"$T/cases")
echo "damage: $total cases ($(du -sh "$D" | cut -f1) of damaged objects)"
[ "$total" -ge "$MIN_CASES" ] || fail "only $total cases, want at least $MIN_CASES"

# ---- the restores ---------------------------------------------------------

# url_of REPLICA / pristine_of REPLICA / csv_of / last_of
url_of() { if [ "$1" = a ]; then echo "$aurl"; else echo "$lurl"; fi; }
dir_of() { if [ "$1" = a ]; then echo "$T/a"; else echo "$T/l"; fi; }
pristine_of() { if [ "$1" = a ]; then echo "$T/pa"; else echo "$pl"; fi; }

# apply REPLICA OP KEY FILE / revert REPLICA OP KEY: one op, and undoing it.
apply() {
	if [ "$WS_REPLICA" = s3 ]; then
		case $2 in
		put | add) replica_put "$(url_of "$1")" "$3" "$4" ;;
		del) replica_del "$(url_of "$1")" "$3" ;;
		esac
		return
	fi
	_p=$(dir_of "$1")/$3
	case $2 in
	put | add)
		mkdir -p "$(dirname "$_p")"
		rm -f "$_p"
		cp -p --sparse=always "$4" "$_p"
		;;
	del) rm -f "$_p" ;;
	link) rm -rf "$_p" && ln -s "$4" "$_p" ;;
	esac
}

revert() {
	_pr=$(pristine_of "$1")/$3
	if [ "$WS_REPLICA" = s3 ]; then
		case $2 in
		put | del) replica_put "$(url_of "$1")" "$3" "$_pr" ;;
		add)
			# wsobj deletes a prefix: put back what else it took.
			replica_del "$(url_of "$1")" "$3" || return 1
			for _o in $(cd "$(pristine_of "$1")" && find generations -type f |
				awk -v k="$3" 'index($0, k) == 1'); do
				replica_put "$(url_of "$1")" "$_o" "$(pristine_of "$1")/$_o" ||
					return 1
			done
			;;
		esac
		return
	fi
	_p=$(dir_of "$1")/$3
	rm -rf "$_p"
	case $2 in
	add)
		# Remove directories the case created (never the replica's own).
		_d=$(dirname "$_p")
		while [ "$_d" != "$(dir_of "$1")" ] && [ ! -e "$(pristine_of "$1")/${_d#"$(dir_of "$1")"/}" ]; do
			rmdir "$_d" 2>/dev/null || break
			_d=$(dirname "$_d")
		done
		;;
	*) cp -pR "$_pr" "$_p" ;;
	esac
}

# One line per case in $T/results: CLASS OUTCOME WHY, OUTCOME one of
# exact other failed wrong bad.
: >"$T/results"
bad_shown=0

# note CLASS OUTCOME [WHY]: one result line; bad and wrong ones shown.
note() {
	echo "$1 $2 $3" >>"$T/results"
	case $2 in
	wrong | bad)
		if [ "$bad_shown" -lt 12 ]; then
			bad_shown=$((bad_shown + 1))
			echo "$2: case $case_no ($1, replica $repl: $ops): $3"
			tail -n 3 "$T/case.err" | sed 's/^/    stderr: /'
		fi
		echo "case $case_no $1 $2 ($ops): $3" >>"$T/bad.txt"
		;;
	esac
}

# What the last cases changed and nobody has put back yet, "REPL OP KEY"
# a line: each is undone before the next case, unless that case writes the
# same object again anyway (the cases of one object come together, so
# most objects are put back once, not once per case).
dirty=""

# undo_dirty OPS: put back every dirty object that OPS do not overwrite.
undo_dirty() {
	_keep=""
	printf '%s\n' "$dirty" >"$T/dirty"
	while read -r _r _o _k; do
		[ -n "$_k" ] || continue
		_same=""
		for _op in $1; do
			case $_op in "put:$_k:"* | "del:$_k")
				[ "$_o" = add ] || [ "$_o" = link ] || [ "$_r" != "$repl" ] || _same=1 ;;
			esac
		done
		if [ -n "$_same" ]; then
			_keep="$_keep$_r $_o $_k
"
		else
			revert "$_r" "$_o" "$_k" || fail "case $case_no: cannot undo $_o $_k"
		fi
	done <"$T/dirty"
	dirty=$_keep
}

case_no=0
t0=$(date +%s)
while read -r class expect repl ops; do
	case_no=$((case_no + 1))
	[ $((case_no % EVERY)) -eq 0 ] || continue
	url=$(url_of "$repl")
	if [ "$repl" = a ]; then want=$last wcsv=$T/logall.csv; else want=$llast wcsv=$lcsv; fi
	undo_dirty "$ops"
	for op in $ops; do
		IFS=: read -r o k f <<EOF
$op
EOF
		apply "$repl" "$o" "$k" "$f" || fail "case $case_no: cannot apply $op"
		case $dirty in *" $k
"*) ;; *) dirty="$dirty$repl $o $k
" ;; esac
	done
	rm -rf "$T/out" "$T/tmp"
	mkdir "$T/out" "$T/tmp"
	st=0
	(
		ulimit -f "$FSIZE_BLOCKS"
		TMPDIR=$T/tmp exec /usr/bin/time -f %M -o "$T/rss" \
			timeout -k 5 "$CASE_SECS" "$WALSHIP" restore -o "$T/out/db" "$url"
	) >"$T/case.out" 2>"$T/case.err" </dev/null || st=$?
	rss=$(tail -n 1 "$T/rss" 2>/dev/null)
	# shellcheck disable=SC2010 # names walship chose, or none
	left=$(cd "$T/out" && ls -A | grep -v -x -e db -e .db-walship | tr '\n' ' ')
	# What went wrong besides the outcome, if anything.
	why=""
	[ -z "$(ls -A "$T/tmp")" ] || why="$why; left $(ls -A "$T/tmp" | tr '\n' ' ')in TMPDIR"
	[ -z "$left" ] || why="$why; left ${left}beside the target"
	if [ -n "$rss" ] && [ "$rss" -gt "$RSS_MAX_KB" ] 2>/dev/null; then
		why="$why; peak RSS ${rss} KiB"
	fi
	if [ "$st" -eq 0 ]; then
		if [ ! -f "$T/out/db" ]; then
			out=wrong why="exit 0 without a database$why"
		elif ! chk=$("$TOOLS/wscheck" -csv "$wcsv" "$T/out/db" 2>&1); then
			out=wrong why="restored a state that is no committed prefix: $chk$why"
		else
			seq=${chk#ok seq=}
			seq=${seq%% *}
			if [ "$expect" = refuse ] || [ "$expect" = gap ]; then
				out=bad why="restored seq $seq, though a record contradicts the objects$why"
			elif [ "$seq" = "$want" ]; then
				out=exact
			elif [ "$expect" = short ] && [ "$seq" -lt "$want" ]; then
				out=other
			elif [ "$class" = other-generation ] && [ "$seq" -gt "$want" ]; then
				out=other # the same database, later: A2's WAL went on
			else
				out=wrong why="restored seq $seq of $want without an error$why"
			fi
		fi
	elif [ "$st" -eq 1 ] || [ "$st" -eq 5 ] || [ "$st" -eq 6 ] ||
		{ [ "$st" -eq 4 ] && [ "$class" = listed-size-huge ]; }; then
		# The statuses of a replica's failures: none, refused, corrupt;
		# and 4 for no room at the output for what the replica lists.
		out=failed
		line=$(tail -n 1 "$T/case.err")
		[ ! -e "$T/out/db" ] && [ ! -e "$T/out/.db-walship" ] ||
			why="$why; failed but left $(ls -A "$T/out" | tr '\n' ' ')"
		if [ "$(grep -c '^walship: ' "$T/case.err")" -ne 1 ]; then
			why="$why; not exactly one 'walship: ' line on stderr"
		elif ! echo "$line" | grep -q '^walship: '; then
			why="$why; the last stderr line is not the error"
		elif ! echo "$line" | grep -Eq "[0-9a-f]{16}|\.lz4|generations/|$(dir_of "$repl")|/[al][/?]"; then
			why="$why; the error names no object nor the replica"
		fi
		[ "$expect" != restore ] ||
			why="$why; refused, though the damage does not touch the data"
		[ "$expect" != gap ] ||
			echo "$line" | grep -q 'walship/times/.* records a commit .*restore -timestamp' ||
			why="$why; the error does not name the record of the missing commits"
	elif [ "$st" -eq 124 ] || [ "$st" -eq 137 ]; then
		out=bad why="no result within ${CASE_SECS}s$why"
	elif [ "$st" -eq 153 ]; then
		out=bad why="killed by SIGXFSZ: wrote a file past 64 MiB$why"
	elif [ "$st" -gt 128 ]; then
		out=bad why="killed by signal $((st - 128))$why"
	else
		out=bad why="exit status $st$why"
	fi
	[ "$out" = wrong ] || [ -z "$why" ] || out=bad
	note "$class" "$out" "${why#; }"
done <"$T/cases"
ncases=$((case_no / EVERY))
echo "restores: $ncases of $case_no cases (every ${EVERY}) in $(($(date +%s) - t0)) s"
case_no=end
undo_dirty ""

# The replicas are as they were: the same objects, and exact restores.
replica_ls "$aurl" | cmp -s - "$T/a.ls" || fail "replica A was not restored to its pristine objects"
replica_ls "$lurl" | cmp -s - "$T/l.ls" || fail "replica L was not restored to its pristine objects"
"$WALSHIP" restore -o "$T/final.db" "$aurl" 2>"$T/final.log" ||
	fail "A no longer restores after the cases: $(tail -n 1 "$T/final.log")"
assert_restored "$T/final.db" "$last" "$csv"

# The table.
awk '
{ c[$1]++; o[$1 " " $2]++; t[$2]++; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
END {
	printf "%-22s %6s %6s %6s %6s %6s %6s\n", "class", "tried", "exact", "other", "failed", "wrong", "bad"
	for (i = 0; i < n; i++) {
		k = order[i]
		printf "%-22s %6d %6d %6d %6d %6d %6d\n", k, c[k], o[k " exact"], o[k " other"], o[k " failed"], o[k " wrong"], o[k " bad"]
	}
	printf "%-22s %6d %6d %6d %6d %6d %6d\n", "total", NR, t["exact"], t["other"], t["failed"], t["wrong"], t["bad"]
}' "$T/results"
# Why cases were wrong or bad, numbers and names folded.
awk '$2 == "wrong" || $2 == "bad" { $1 = ""; print }' "$T/results" |
	sed -E 's/[0-9]+/N/g; s/\.tmp-[A-Za-z0-9]+/.tmp-X/g' | sort | uniq -c |
	sort -rn | sed 's/^/  /'
nwrong=$(awk '$2 == "wrong"' "$T/results" | wc -l)
nbad=$(awk '$2 == "bad"' "$T/results" | wc -l)
# Damaged replicas restored: refused loudly, exact or another exact prefix
# (the damage did not matter), or wrong and bad (missed).
rel_count corrupt_tried "$(grep -c . "$T/results")"
rel_count corrupt_refused "$(awk '$2 == "failed"' "$T/results" | wc -l)"
rel_count corrupt_missed "$((nwrong + nbad))"
if [ "$nwrong" -ne 0 ] || [ "$nbad" -ne 0 ]; then
	# The gist, where tests/run shows it (the last lines).
	fail "$nwrong wrong and $nbad bad of $ncases restores (the table above; all in bad.txt)
wrong by class: $(awk '$2 == "wrong" { print $1 }' "$T/results" | sort | uniq -c |
		awk '{ printf "%s %s, ", $2, $1 }')
bad by class: $(awk '$2 == "bad" { print $1 }' "$T/results" | sort | uniq -c |
		sort -rn | awk '{ printf "%s %s, ", $2, $1 }')
bad, why: $(awk '$2 == "bad" { $1 = $2 = ""; print }' "$T/results" |
		sed -E 's/^ +//; s/[0-9]+/N/g; s/\.tmp-[A-Za-z0-9]+/.tmp-X/g' |
		sort | uniq -c | sort -rn | awk '{ n = $1; $1 = ""; printf "%s x%s;", $0, n }')"
fi
