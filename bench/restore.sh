#!/bin/sh
# bench/restore.sh TOOL|lz4 BACKEND FIXTURE [pitr]: restore speed.
# TOOL restores replica BACKEND ("file" or "s3") of the replica that
# bench/fixture.sh built in FIXTURE (a snapshot and about 2000 WAL
# segments): the wall time of `TOOL restore -config FIXTURE/cfg.yml
# -replica BACKEND -o OUT DB`, then (untimed) wscheck: integrity_check
# and an exact committed prefix at the fixture's last seq.
#   lz4: the physical reference, on the same objects (the directory
#        replica's): the snapshot and every WAL segment, in order, through
#        `lz4 -d` into one file, then sync (fsync) of that file.
#   aws: the S3 reference, on the same objects (the S3 replica's, the
#        same bytes as the directory's): `aws s3 cp --recursive` of the
#        snapshot and every WAL segment from the S3 server into a
#        directory, then the same `lz4 -d` + sync; timed as one.
# (The full wscheck runs on the first restore of each tool, replica and
# mode; later ones run quick_check and compare the seq.)
#   pitr: `TOOL restore -timestamp FIXTURE/mid_time` instead; reports
#        "available=0" when TOOL rejects the flag, else the seq restored
#        (expected: FIXTURE/mid_seq, give or take the second).
set -eu
TOOL_ARG=$1
case $1 in lz4 | aws) set -- none "$2" "$3" "${4:-}" ;; esac
. "$(dirname "$0")/lib.sh"
fx=$3 mode=${4:-latest}
need_tools
bench_backend
out=$T/out.db
nseg=$(cat "$fx/nseg")
# The references: OBJS is the directory holding the objects (the
# directory replica's; for aws, where aws s3 cp puts the S3 replica's),
# replayed as they are: the newest snapshot and every WAL segment, in
# order, through lz4 -d into one file, then sync.
case $TOOL_ARG in lz4 | aws)
	TOOL_NAME=$TOOL_ARG objs=$fx/file extra=""
	if [ "$TOOL_NAME" = aws ]; then
		[ "$BACKEND" = s3 ] || fail "restore.sh aws: the reference is for the S3 replica"
		need_awscli
		objs=$T/dl
		# The fixture's generation (walship gives both replicas the same one).
		gen=$(ls "$fx/file/generations")
		case $gen in *[!0-9a-f]* | "") fail "$fx/file: not one generation: $gen" ;; esac
		gdir=fixture-$(basename "$fx")/generations/$gen
		extra="awscli=\"$("$AWSCLI" --version 2>&1 | cut -d' ' -f1)\""
	else
		# (read once untimed, as before: the files are hot for lz4)
		find "$objs" \( -name '*.snapshot.lz4' -o -name '*.wal.lz4' \) -exec cat {} + >/dev/null
	fi
	t0=$(now_ns)
	if [ "$TOOL_NAME" = aws ]; then
		aws_s3 cp --recursive "s3://$S3_BUCKET/$gdir/" "$objs" \
			--exclude '*' --include '*.snapshot.lz4' --include '*.wal.lz4' >"$T/aws.log" 2>&1 ||
			fail "aws s3 cp (download) failed: $(tail -n 3 "$T/aws.log")"
	fi
	snap=$(find "$objs" -name '*.snapshot.lz4' | sort | tail -n 1)
	segs=$(find "$objs" -name '*.wal.lz4' | sort)
	# shellcheck disable=SC2086 # the names have no blanks
	cat "$snap" $segs | lz4 -dc >"$out"
	sync "$out"
	t1=$(now_ns)
	n=$(echo "$segs" | grep -c .)
	if [ "$TOOL_NAME" = aws ]; then
		# The S3 replica's own count (a loaded machine may coalesce
		# commits differently on the two replicas).
		want=$(find "$S3_DATA_DIR/$S3_BUCKET/$gdir" -name '*.wal.lz4._S3rver_object' | wc -l)
		[ "$n" = "$want" ] || fail "aws s3 cp fetched $n WAL segments, the S3 replica has $want"
	fi
	# shellcheck disable=SC2086 # the names have no blanks
	bytes_in=$(cat "$snap" $segs | wc -c)
	result "measure=restore mode=$mode nseg=$n in_bytes=$bytes_in out_bytes=$(stat -c %s "$out")" \
		"secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')${extra:+ $extra}"
	exit 0
	;;
esac
set -- -config "$fx/cfg.yml" -replica "$BACKEND" -o "$out"
[ "$mode" = pitr ] && set -- "$@" -timestamp "$(cat "$fx/mid_time")"
t0=$(now_ns)
st=0
"$TOOL" restore "$@" "$fx/db" >"$T/restore.log" 2>&1 || st=$?
t1=$(now_ns)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
if [ "$st" -ne 0 ]; then
	if [ "$mode" = pitr ] && grep -qi 'timestamp' "$T/restore.log"; then
		result "measure=restore mode=pitr available=0 note=\"$(head -n 1 "$T/restore.log" | tr -d '"' | cut -c1-120)\""
		exit 0
	fi
	fail "$TOOL_NAME restore failed ($st): $(tail -n 3 "$T/restore.log")"
fi
# The full check (a hash over every row) once per tool, replica and mode;
# later rounds check integrity and the seq only.
mark=$fx/checked-$TOOL_NAME-$BACKEND-$mode
if [ -f "$mark" ]; then
	seq=$("$TOOLS/wscheck" -seq "$out") || fail "restored database: wscheck -seq failed"
	ic=$(sqlite3 "file:$out?mode=ro" 'PRAGMA quick_check' 2>&1)
	[ "$ic" = ok ] || fail "restored database: quick_check: $ic"
else
	chk=$("$TOOLS/wscheck" -csv "$fx/tx.csv" "$out" 2>&1) || fail "restored database: $chk"
	seq=${chk#ok seq=}
	seq=${seq%% *}
	: >"$mark"
fi
want=$(cat "$fx/seq")
[ "$mode" = pitr ] && want=$(cat "$fx/mid_seq")
[ "$mode" = pitr ] || [ "$seq" = "$want" ] || fail "restored seq $seq, want $want"
result "measure=restore mode=$mode available=1 nseg=$nseg out_bytes=$(stat -c %s "$out") secs=$secs" \
	"seq=$seq want_seq=$want check=ok"
