#!/bin/sh
# Multipart snapshots on S3 (issue 5), in 1 MiB parts (test hook): the
# parts go up side by side; a part that fails is retried on its own and
# the upload completes; a part that keeps failing aborts the upload
# (AbortMultipartUpload), one clear error line names the part and the
# object, and the snapshot is taken again.  A part or a single PUT whose
# answer does not prove it stored (an ETag that is not the MD5 of the
# bytes sent, or none) is sent again; a segment left cut short by an
# upload that then failed for good is shipped again.  Every snapshot restores
# exactly, with walship and with Litestream v0.3.13.
set -eu
. "$(dirname "$0")/../lib.sh"
need_s3
need_litestream

# "START_MS END_MS" of each request OP made to replica NAME's snapshot.
snap_reqs() {
	[ -f "$S3_HOME/requests.jsonl" ] || fail "no request log"
	grep -F "\"path\":\"/$S3_BUCKET/$1/generations/" "$S3_HOME/requests.jsonl" |
		grep -F '.snapshot.lz4' | grep -F "\"op\":\"$2\"" |
		sed -E 's/^\{"t":([0-9]+),"ms":([0-9]+),.*/\1 \2/' |
		awk '{ printf "%.0f %.0f\n", $1, $1 + $2 }'
}

# The most of OP's requests to NAME's snapshot that were under way at once.
snap_overlap() {
	snap_reqs "$1" "$2" |
		awk '{ print $1, 1; print $2, -1 }' | sort -n -k1,1 -k2,2 |
		awk '{ c += $2; if (c > m) m = c } END { print m + 0 }'
}

snap_count() {
	snap_reqs "$1" "$2" | grep -c . || true
}

# A database of incompressible rows, about 12 MB: a snapshot of a dozen
# 1 MiB parts.
"$TOOLS/wsload" "$T/big" -count 750 -rows 4 -size 4000 -rate 0 \
	-log "$T/big.csv" 2>/dev/null
n=$(csv_last_seq "$T/big.csv")
export WALSHIP_TEST_S3_PART_SIZE=1048576

# One failed try of one part: that part alone is sent again.
s3_reset all
s3_faults '{"next":"500","n":1,"ops":["UploadPart"]}'
start_bg mp1 "$WALSHIP" replicate "$T/big" "$(replica_url mp1)"
wait_for "log_has mp1 'snapshot written'" 60
stop_bg mp1 || fail "walship exited $?"
sz=$(sed -n 's/.*snapshot written.* sz=\([0-9]*\).*/\1/p' "$T/mp1.log" | head -n 1)
parts=$(((sz + 1048575) / 1048576))
[ "$parts" -ge 8 ] || fail "a snapshot of $sz bytes is too small for this test"
[ "$(snap_count mp1 UploadPart)" -eq $((parts + 1)) ] ||
	fail "$parts parts and one retry, but $(snap_count mp1 UploadPart) UploadPart: $(s3_stats)"
[ "$(snap_count mp1 AbortMultipartUpload)" -eq 0 ] ||
	fail "an upload with a retried part was aborted: $(s3_stats)"
[ "$(snap_count mp1 CompleteMultipartUpload)" -eq 1 ] ||
	fail "no multipart upload completed: $(s3_stats)"
log_has mp1 'snapshot error' && fail "a retried part failed the snapshot"
o=$(snap_overlap mp1 UploadPart)
[ "$o" -ge 2 ] || fail "the parts went up one at a time (at most $o at once)"
echo "mp1: $sz bytes in $parts parts, up to $o at once"

# A part the store kept only half of (its body cut short on the way:
# s3rver does not check Content-MD5 and answers 200 with the MD5 of the
# half as ETag) proves nothing, nor does a 200 without an ETag: each
# part is sent again, and the snapshot restores exactly (below).
s3_reset all
s3_faults '{"next":"truncate-request","n":1,"ops":["UploadPart"]}'
s3_faults '{"next":"respond","n":1,"ops":["UploadPart"],"response":{"status":200,"headers":{},"body":""}}'
start_bg mp3 "$WALSHIP" replicate "$T/big" "$(replica_url mp3)"
wait_for "log_has mp3 'snapshot written'" 60
stop_bg mp3 || fail "walship exited $?"
[ "$(s3_stat faults.truncate-request)" -eq 1 ] && [ "$(s3_stat faults.respond)" -eq 1 ] ||
	fail "the faults were not injected: $(s3_stats)"
[ "$(snap_count mp3 UploadPart)" -eq $((parts + 2)) ] ||
	fail "$parts parts and two retries, but $(snap_count mp3 UploadPart) UploadPart: $(s3_stats)"

# segments NAME FAULT FAULT: database NAME written at 20 tx/s (60
# commits) while walship replicates it to replica NAME, with the two
# one-shot FAULTs (proxy JSON) queued for its WAL segments' PUTs; every
# commit restores.
segments() {
	s3_reset all
	s3_faults "$2"
	s3_faults "$3"
	start_writer "w-$1" "$T/$1" "$T/$1.csv" -rate 20 -count 60
	start_bg "$1" "$WALSHIP" replicate "$T/$1" "$(replica_url "$1")"
	wait_bg "w-$1" 30 || fail "writer exited $?"
	wait_restores "$(replica_url "$1")" "$(csv_last_seq "$T/$1.csv")" "$T/$1.csv" 60
	stop_bg "$1" || fail "walship exited $?"
}

# The same for single PUTs (WAL segments): two cut short, one answered
# without an ETag.
segments sp '{"next":"truncate-request","n":2,"ops":["PutObject"],"match":"/wal/"}' \
	'{"next":"respond","n":1,"ops":["PutObject"],"match":"/wal/","response":{"status":200,"headers":{},"body":""}}'
[ "$(s3_stat faults.truncate-request)" -eq 2 ] && [ "$(s3_stat faults.respond)" -eq 1 ] ||
	fail "the faults were not injected: $(s3_stats)"
log_has sp 'wal segment written .* position=[0-9a-f]{16}/00000000:0 .* retries=3' ||
	fail "the first segment was not sent again 3 times: $(grep 'wal segment' "$T/sp.log")"

# A segment whose first try the store kept half of and whose other four
# tries fail (500): the upload fails for good with the half stored under
# its name.  Walship lists the replica again, finds that last segment
# cut short (a prefix of its own WAL), says so, and ships it again.
segments cut '{"next":"truncate-request","n":1,"ops":["PutObject"],"match":"/wal/"}' \
	'{"next":"500","n":4,"ops":["PutObject"],"match":"/wal/"}'
log_has cut "WARN replica's last segment is cut short, shipping it again db=$T/cut replica=s3 key=generations/[0-9a-f]{16}/wal/00000000_00000000.wal.lz4" ||
	fail "no warning about the cut-short segment: $(grep -E 'WARN|ERROR' "$T/cut.log")"

# Every try of a part fails (25 faults: with at most 5 parts under way,
# one of them runs out of its 5 tries first): the upload is aborted, the
# snapshot fails with one line naming the part and the object, and the
# next attempt (the few faults left only retry parts) completes.
s3_reset all
s3_faults '{"next":"500","n":25,"ops":["UploadPart"]}'
start_bg mp2 "$WALSHIP" replicate "$T/big" "$(replica_url mp2)"
wait_for "log_has mp2 'snapshot written'" 90
stop_bg mp2 || fail "walship exited $?"
[ "$(snap_count mp2 AbortMultipartUpload)" -eq 1 ] ||
	fail "want one aborted upload: $(s3_stats)"
[ "$(snap_count mp2 CompleteMultipartUpload)" -eq 1 ] ||
	fail "no multipart upload completed: $(s3_stats)"
[ "$(grep -c 'ERROR .*snapshot error' "$T/mp2.log")" -eq 1 ] ||
	fail "want one snapshot error line: $(grep 'snapshot error' "$T/mp2.log")"
log_has mp2 'snapshot error .*error="part [0-9]+: s3 PUT generations/[0-9a-f]{16}/snapshots/00000000\.snapshot\.lz4: 500 InternalError' ||
	fail "unclear error: $(grep 'snapshot error' "$T/mp2.log")"

# Both snapshots restore exactly, with walship and with Litestream.
for r in mp1 mp2 mp3; do
	"$WALSHIP" restore -o "$T/$r.db" "$(replica_url $r)"
	assert_restored "$T/$r.db" "$n" "$T/big.csv"
	assert_equal "$T/big" "$T/$r.db"
done
"$LITESTREAM" restore -o "$T/ls.db" \
	"s3://$S3_BUCKET.localhost:$PROXY_PORT/mp2" >"$T/ls.log" 2>&1 ||
	fail "litestream could not restore a multipart snapshot: $(cat "$T/ls.log")"
assert_restored "$T/ls.db" "$n" "$T/big.csv"
assert_equal "$T/big" "$T/ls.db"
