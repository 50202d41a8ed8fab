#!/bin/sh
# Interop: Litestream v0.3.13 replicates a live database to a file
# replica; walship restores it.  The restore must pass O2 at the writer's
# last seq and be logically equal to the source (O3).  Litestream's own
# restore of the same replica is checked first, so a failure here can be
# pinned on walship rather than on the test.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
# shellcheck source-path=SCRIPTDIR
set -eu
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
need_tools
need_litestream

db=$T/db
csv=$T/log.csv
replica=file://$T/replica

# The application: 100 tx/s, a few rows each, so that Litestream's
# 1000-page PASSIVE checkpoint fires and the replica spans several WAL
# indexes.
start_writer wsload "$db" "$csv" -rate 100 -rows 3 -size 1000
wait_for '[ "$(csv_last_seq "$csv")" -ge 1 ]' 10

start_bg litestream "$LITESTREAM" replicate "$db" "$replica"
wait_for 'log_has litestream "replicating to"' 15
wait_for '[ -n "$(find "$T/replica" -name "*.wal.lz4" 2>/dev/null)" ]' 15

# About 3 s of writes after the first segment.
target=$(($(csv_last_seq "$csv") + 300))
wait_for "[ \$(csv_last_seq \"\$csv\") -ge $target ]" 30
stop_bg wsload TERM || fail "wsload exited with status $? on SIGTERM"
last=$(csv_last_seq "$csv")
assert_restored "$db" "$last" "$csv"

# Let Litestream ship everything, then stop it.  Waiting first means its
# shutdown sync has nothing left to checkpoint: v0.3.13 cancels a
# checkpoint that its final sync starts, logs "error closing db ...
# release read lock: context canceled" and exits 1 (seen with this
# workload); that case is tolerated, the restores below are the test.
wait_for '[ "$(probe_seq "$LITESTREAM" "$replica")" -ge "$last" ]' 30
st=0
stop_bg litestream TERM || st=$?
if [ "$st" -ne 0 ]; then
	log_has litestream 'error closing db.*release read lock: context canceled' ||
		fail "litestream exited with status $st on SIGTERM"
	echo "note: litestream's shutdown checkpoint was cancelled (v0.3.13 quirk)"
fi
log_has litestream "litestream shut down" || fail "litestream did not shut down"
n_idx=$(find "$T/replica" -name "*.wal.lz4" | sed 's/.*wal\/\([0-9a-f]*\)_.*/\1/' |
	sort -u | wc -l)
echo "source at seq $last; replica has $n_idx WAL indexes"

# Litestream's own restore of its replica: the harness is sound.
"$LITESTREAM" restore -o "$T/ls-restored.db" "$replica" >"$T/ls-restore.log" 2>&1 ||
	fail "litestream restore failed"
assert_restored "$T/ls-restored.db" "$last" "$csv"
assert_equal "$db" "$T/ls-restored.db"

# walship's restore of Litestream's replica.
need_walship
"$WALSHIP" restore -o "$T/restored.db" "$replica" >"$T/restore.log" 2>&1 ||
	fail "walship restore failed with status $?"
assert_restored "$T/restored.db" "$last" "$csv"
assert_equal "$db" "$T/restored.db"
# walship must not touch the replica when restoring.
"$LITESTREAM" restore -o "$T/ls-restored2.db" "$replica" >>"$T/ls-restore.log" 2>&1 ||
	fail "litestream restore after walship's restore failed"
assert_equal "$T/ls-restored.db" "$T/ls-restored2.db"
echo "interop ok: seq $last"
