#!/bin/sh
# Crash points in the replication engine (tests/lib-crash.sh, crashpt.h),
# on the backend WS_REPLICA picks: the crash build of walship dies at the
# N-th crossing of each point while wsload writes (its own
# autocheckpoint on), then:
#   - what the replica holds restores to an exact committed prefix;
#   - the release build, restarted, says why it began a new generation
#     or continues the generation the crash left, and overwrites no
#     object the crash left with other content;
#   - once the writer stops, the replica restores the last commit
#     exactly (wscheck: integrity, every txlog row, the digest of every
#     row), equal to the database.
# Points: between the shadow write and its fsync; a new WAL index; a
# generation switch; a meta file written and not renamed; between the
# shadow fsync and the checkpoint; after the checkpoint, before the
# counts that decide the seal; after walship's TRUNCATE; and the stop
# marker's write (the crash build stopped by SIGTERM on an idle database).
# Each at one crossing; WS_TIER=nightly at several (tests/lib-crash.sh).
# Also: every WS_CRASHPOINT in src/ is crossed by test 24, 25 or 26, and
# README.md lists it.
# shellcheck disable=SC2016,SC2086 # conditions evaluated later; $ck, $ret: word lists
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-crash.sh"
need_replica
need_crash

# Every point in the source has a case here or in 25-26, and a line in
# the README.
for p in $(crash_points_src); do
	grep -q -E "^[[:space:]]*(crash_case|restore_case) $p " "$ROOT"/tests/e2e/2[456]-crash-*.sh ||
		fail "crash point $p has no case in tests 24 to 26"
	grep -q -e "^| \`$p\`" "$ROOT/README.md" ||
		fail "crash point $p is not in README.md's list"
done
[ "$(crash_points_src | grep -c .)" -ge 15 ] || fail "fewer than 15 crash points"

w="-rate 40 -rows 2 -size 2000"
ck="min-checkpoint-page-count=40 checkpoint-interval=1s"
crash_case shadow-before-fsync "3 1 7 20" "$w" $ck -- sync-interval=100ms
crash_case shadow-new-index "2 1 4 8" "$w" $ck -- sync-interval=100ms
crash_case generation-switch 1 "$w" -- sync-interval=100ms
crash_case meta-before-rename "3 1 2 4 6" "$w" $ck -- sync-interval=100ms
crash_case ckpt-before-checkpoint "2 1 4 8" "$w" $ck -- sync-interval=100ms
crash_case ckpt-after-checkpoint "2 1 4 8" "$w" $ck -- sync-interval=100ms
# Transactions of about 12 pages, 500 ms apart: the -wal outgrows 30
# pages between seals, and a sealed, oversized -wal is truncated.
crash_case ckpt-after-truncate "1 2 3" "-rate 40 -rows 10 -size 4000 -gap 500" \
	min-checkpoint-page-count=20 max-checkpoint-page-count=30 \
	checkpoint-interval=1s -- sync-interval=100ms
CASE_STOP=1
crash_case stop-marker 1 "$w -count 60" $ck -- sync-interval=100ms
CASE_STOP=
crash_summary
