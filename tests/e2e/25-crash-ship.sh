#!/bin/sh
# Crash points in shipping, snapshots and retention (tests/lib-crash.sh,
# crashpt.h), on the backend WS_REPLICA picks, each case as in test 24:
# the crash build dies at the point while wsload writes; the replica
# then restores an exact committed prefix; the restarted release build
# says why it began a new generation or continues the crashed one; the
# last commit restores exactly once the writer stops.
# Points: a directory replica's object written and not renamed (the
# first WAL segment after the generation's snapshot), and
# retention between two of its key deletes; an S3 multipart upload
# between parts (a 1 MiB part size, a database of about 12 MB); a WAL
# segment acknowledged before the position moves; between a snapshot's
# record and the snapshot; inside a snapshot; retention between two
# delete requests.  Each at one crossing; WS_TIER=nightly at several.
# shellcheck disable=SC2016,SC2086 # conditions evaluated later; $ck, $ret: word lists
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-crash.sh"
need_replica
need_crash

w="-rate 40 -rows 2 -size 2000"
ret="snapshot-interval=1s retention=2s retention-check-interval=1s"
if [ "$WS_REPLICA" = file ]; then
	# Crossing 4 is the first WAL segment (after the snapshot's record,
	# the snapshot and its digest): the replica holds a snapshot and no
	# WAL, and the restart must still say where the generation goes on.
	crash_case file-put-before-rename "4 1 2 3 10 30" "$w" -- sync-interval=100ms
	crash_case file-between-deletes "2 1 5" "$w" -- sync-interval=100ms $ret
else
	# A database of about 12 MB first, so that its snapshot has parts.
	CASE_SETUP='"$TOOLS/wsload" "$_cdb" -count 750 -rows 4 -size 4000 \
		-rate 0 -log "$_ccsv" 2>/dev/null'
	WALSHIP_TEST_S3_PART_SIZE=1048576
	export WALSHIP_TEST_S3_PART_SIZE
	crash_case s3-between-parts "3 1 8" "$w" -- sync-interval=100ms
	unset WALSHIP_TEST_S3_PART_SIZE
	CASE_SETUP=
fi
crash_case segment-before-position "5 1 10 30" "$w" -- sync-interval=100ms
crash_case snapshot-after-record "2 1 3" "$w" -- sync-interval=100ms \
	snapshot-interval=1s
CASE_SETUP='"$TOOLS/wsload" "$_cdb" -count 100 -rows 4 -size 4000 \
	-rate 0 -log "$_ccsv" 2>/dev/null'
crash_case snapshot-mid "2 1 4" "$w" -- sync-interval=100ms
CASE_SETUP=
crash_case retention-between-deletes "2 1 3" "$w" -- sync-interval=100ms $ret
crash_summary
