#!/bin/sh
# Crash points in restore (tests/lib-crash.sh, crashpt.h), on the backend
# WS_REPLICA picks: a replica of a snapshot and several WAL indexes
# written while wsload writes; the crash build of `walship restore` dies
# after the second object downloaded, and again with the database built
# and checked but not yet published; each time the output path does not
# exist and nothing of the restore is left in its directory, and a rerun
# of the release build restores the writer's last commit exactly.
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-crash.sh"
need_replica
need_crash

restore_case restore-download "2 1 4"
restore_case restore-before-publish 1
crash_summary
