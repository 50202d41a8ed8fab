#!/bin/sh
# bench/fixture.sh WALSHIP BASE_DB DIR NTX RATE: build the restore
# benchmark's replica, once per run, into DIR (kept; the driver removes
# it).  A copy of BASE_DB is replicated by WALSHIP to a directory replica
# ("file": DIR/file) and to S3 ("s3": prefix fixture-<DIR name>) at once,
# with sync-interval 10ms, while wsload commits NTX 1-row transactions at
# RATE tx/s: one snapshot plus about NTX WAL segments (across several WAL
# indexes) on each, topped up to at least NSEG_MIN (2000) segments.  Writes DIR/cfg.yml (both replicas; the same file
# drives every tool's restore), DIR/seq (the last seq), DIR/mid_seq and
# DIR/mid_time (RFC 3339, UTC, whole seconds: a point about half-way
# through the segments, for point-in-time restore), DIR/nseg, DIR/tx.csv
# (BASE_DB.csv, the wsload log that built BASE_DB, continued: the commit
# log of every seq, which restore.sh's full check reads).
set -eu
BENCH_BACKEND=s3
. "$(dirname "$0")/lib.sh"
base=$2 dir=$3 ntx=$4 rate=$5
need_tools
bench_backend
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
prefix=fixture-$(basename "$dir")
[ -f "$base.csv" ] || fail "$base.csv is missing (wsload -log of $base)"
cp "$base" "$dir/db"
cp "$base.csv" "$dir/tx.csv"
cat >"$dir/cfg.yml" <<YAML
dbs:
  - path: $dir/db
    replicas:
      - name: file
        type: file
        path: $dir/file
        sync-interval: 10ms
      - name: s3
        type: s3
        bucket: $S3_BUCKET
        path: $prefix
        endpoint: $S3_ENDPOINT
        region: us-east-1
        force-path-style: true
        sync-interval: 10ms
YAML
start_tool fx "$dir/cfg.yml"
wait_for "[ -n \"\$(find '$dir/file' -name '*.snapshot.lz4' 2>/dev/null)\" ]" 120
s3_snap() {
	grep -F "\"path\":\"/$S3_BUCKET/$prefix/generations/" "$S3_HOME/requests.jsonl" |
		grep -E '"op":"(PutObject|CompleteMultipartUpload)"' |
		grep -F '"status":"200"' | grep -q /snapshots/
}
wait_for s3_snap 300
sleep 1.2 # the next second: segments are newer than the snapshot (1 s LastModified)
half=$((ntx / 2))
"$TOOLS/wsload" "$dir/db" -rate "$rate" -count "$half" -log "$dir/tx.csv" 2>/dev/null
sleep 1.2
csv_last_seq "$dir/tx.csv" >"$dir/mid_seq"
date -u +%Y-%m-%dT%H:%M:%SZ >"$dir/mid_time"
sleep 1.2
"$TOOLS/wsload" "$dir/db" -rate "$rate" -count "$((ntx - half))" -log "$dir/tx.csv" 2>/dev/null
# At least NSEG_MIN segments (default 2000): a loaded machine coalesces
# some commits into one segment, so top up.
nseg() { find "$dir/file" -name '*.wal.lz4' | wc -l; }
k=0
while [ "$(nseg)" -lt "${NSEG_MIN:-2000}" ] && [ $k -lt 20 ]; do
	"$TOOLS/wsload" "$dir/db" -rate "$rate" -count 100 -log "$dir/tx.csv" 2>/dev/null
	k=$((k + 1))
done
sleep 0.5
csv_last_seq "$dir/tx.csv" >"$dir/seq"
term_wait fx 600
[ "$TERM_ST" = 0 ] || fail "walship exited $TERM_ST on SIGTERM"
find "$dir/file" -name '*.wal.lz4' | wc -l >"$dir/nseg"
echo "fixture: $(cat "$dir/nseg") WAL segments, seq $(cat "$dir/seq"), mid $(cat "$dir/mid_seq") at $(cat "$dir/mid_time")" >&2
