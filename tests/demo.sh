#!/bin/sh
# tests/demo.sh BUILD: `make demo`.  A writer process commits to a sample
# WAL database while `walship replicate` ships it to a local directory
# replica; both stop; `walship restore` rebuilds the database from the
# replica alone and wscheck proves it has exactly the source's rows and
# every committed transaction.  Works in build/demo (wiped first).
set -eu
if [ $# -ne 1 ]; then
	echo "usage: tests/demo.sh BUILD" >&2
	exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" && pwd)
DIR=$ROOT/build/demo
URL=file://$DIR/replica
pids=""

say() { echo "demo: $*"; }
die() {
	echo "demo: FAILED: $*" >&2
	exit 1
}
# True while process $1 exists and is not a zombie.
running() {
	_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	case $_st in Z* | X* | "") return 1 ;; esac
}
cleanup() {
	_rc=$?
	trap - EXIT INT TERM HUP
	for _p in $pids; do
		kill "$_p" 2>/dev/null || true
		wait "$_p" 2>/dev/null || true
	done
	[ "$_rc" -eq 0 ] || echo "demo: logs and files are in $DIR" >&2
	exit "$_rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

for b in walship tools/wsload tools/wscheck; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b is not built (run make all)"
done
rm -rf "$DIR"
mkdir -p "$DIR"
cd "$DIR"

say "writer: wsload demo.db, 100 tx/s for 6 s, 1 KiB rows (a separate process)"
"$BUILD/tools/wsload" demo.db -rate 100 -duration 6 -size 1024 -log tx.csv \
	2>wsload.log &
load=$!
pids=$load
i=0
until [ -f demo.db ]; do
	i=$((i + 1))
	[ $i -le 100 ] || die "the writer did not create demo.db: $(cat wsload.log)"
	sleep 0.1
done
say "replicator: walship replicate demo.db $URL (log: walship.log)"
"$BUILD/walship" replicate demo.db "$URL" 2>walship.log &
ship=$!
pids="$load $ship"

wait "$load" || die "the writer failed: $(tail -n 3 wsload.log)"
pids=$ship
committed=$(tail -n 1 tx.csv | cut -d, -f1)
say "writer done: $committed transactions committed"

say "stopping walship with SIGTERM (it ships everything committed, then exits)"
kill -TERM "$ship"
i=0
while running "$ship"; do
	i=$((i + 1))
	[ $i -le 300 ] || die "walship did not exit within 30 s of SIGTERM"
	sleep 0.1
done
st=0
wait "$ship" || st=$?
pids=""
[ "$st" -eq 0 ] || die "walship exited with status $st: $(tail -n 3 walship.log)"
say "walship exited 0; the replica:"
(cd replica && find . -type f | sort | sed 's|^\./|    |')

say "walship restore -o restored.db $URL"
"$BUILD/walship" restore -o restored.db "$URL" 2>restore.log ||
	die "restore failed: $(tail -n 1 restore.log)"
restored=$("$BUILD/tools/wscheck" -seq restored.db) ||
	die "cannot read restored.db"
say "transactions committed: $committed, restored: $restored"
[ "$restored" = "$committed" ] ||
	die "restored.db has $restored transactions, the source has $committed"
eq=$("$BUILD/tools/wscheck" -eq demo.db restored.db 2>&1) ||
	die "restored.db differs from demo.db: $eq"
say "wscheck -eq demo.db restored.db: $eq"
ok=$("$BUILD/tools/wscheck" -csv tx.csv -want "$committed" restored.db 2>&1) ||
	die "restored.db fails the oracle: $ok"
say "wscheck -csv tx.csv restored.db: $ok"
say "OK: restored copy matches the source ($committed transactions, integrity_check ok)"
