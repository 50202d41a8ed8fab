#!/bin/sh
# One very large transaction under replication, on the backend
# WS_REPLICA picks (tests/lib.sh).  The application commits a single
# transaction of wsload's (one 3000-byte pseudo-random blob a page, so
# incompressible; its digest proves every row) between two runs of
# ordinary commits: 64 MiB of WAL in the pr tier,
# more than 1 GiB (1100 MiB) with WS_TIER=nightly.  SQLite spills the
# transaction's pages to the -wal long before its commit frame, so for a
# long time the -wal holds frames that belong to no commit: walship must
# ship none of them until the commit, then the whole transaction, and
# must not hold it in memory (its peak RSS is printed, and in the
# nightly tier must stay under a quarter of the transaction).
# Exactness afterwards as in the shape tests: wscheck against the
# writer's log at its last commit, `.sha3sum` and page size equal to
# the source's, and once walship has stopped and the source is
# checkpointed, the restored file byte for byte the source file.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-shape.sh"
need_replica
command -v sqlite3 >/dev/null || fail "sqlite3 CLI missing (make deps)"

mib=64
[ "${WS_TIER:-}" != nightly ] || mib=1100
rows=$((mib * 256)) # one row a 4096-byte page
db=$T/db
csv=$T/tx.csv
url=$(replica_url replica)

"$TOOLS/wsload" "$db" -rate 0 -count 50 -log "$csv" 2>>"$T/writer.log" ||
	fail "wsload failed"
start_ws ws1

t0=$(date +%s)
"$TOOLS/wsload" "$db" -rate 0 -count 1 -rows "$rows" -size 3000 -log "$csv" \
	2>>"$T/writer.log" || fail "the big transaction failed"
wal=$(stat -c %s "$db-wal")
[ "$wal" -ge $((mib * 1048576)) ] ||
	fail "setup: the -wal is $wal bytes, not $mib MiB or more"
echo "one transaction of $rows rows: $((wal / 1048576)) MiB of WAL in $(($(date +%s) - t0)) s"
# The application goes on at once: walship's checkpoint of the large
# index must not hold its write lock past the application's busy
# timeout (5 s), as its locked window once did while it backfilled and
# fsynced the whole transaction.
"$TOOLS/wsload" "$db" -rate 0 -count 20 -log "$csv" 2>>"$T/writer.log" ||
	fail "the application failed after the big transaction: $(tail -n 1 "$T/writer.log")"
echo "the application's longest transaction after it: $(tail -n 20 "$csv" |
	awk -F, '{ d = ($3 - $2) / 1e6; if (d > m) m = d } END { printf "%.0f ms", m }')"

# The replica holds it all (a probe restores the whole database).
wait_restores "$url" "$(csv_last_seq "$csv")" "$csv" $((60 + mib / 4))
echo "replicated in $(($(date +%s) - t0)) s from the start of the transaction"
hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$(bg_pid ws1)/status")
echo "walship's peak RSS: $((hwm / 1024)) MiB"
[ "${WS_TIER:-}" != nightly ] || [ "$hwm" -lt $((mib * 1024 / 4)) ] ||
	fail "walship's peak RSS is $((hwm / 1024)) MiB for a $mib MiB transaction"
settle_check ws1 r1
echo "restored exactly, byte for byte"
