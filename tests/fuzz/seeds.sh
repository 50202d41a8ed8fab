#!/bin/sh
# tests/fuzz/seeds.sh [BUILD]: regenerate the committed seed inputs in
# tests/fuzz/corpus/<target>/ from real objects (BUILD defaults to build;
# run `make all` first).  Not run by make: the seeds are committed, so that
# `make fuzz` and the unit test that replays them (tests/unit/
# test_fuzz.c) need no servers.  Run it again when an object format
# changes, and commit the result.
#
# What it makes, and from what:
#   - a small database (512-byte pages, so objects stay a few KB) written
#     by wsload, replicated by the real walship to a directory replica
#     (several WAL indexes, segments, a snapshot, commit-time objects),
#     and by Litestream v0.3.13 (npm, as the tests install it) to another;
#   - wal:    decompressed segments (and a 4096-byte-page one made by
#             SQLite itself), as they are and with the fuzzer's fix-up
#             bits set;
#   - lz4:    the stored objects of both replicas, as snapshot, segment and
#             commit-time objects; the decompressed segments as content
#             for liblz4 to compress;
#   - times:  decompressed commit-time objects;
#   - names:  both replicas' listings ("KEY SIZE MTIME_MS", wsobj times);
#   - s3xml:  bodies s3rver 3.7.1 (tests/s3) sent for a listing of those
#             objects (a truncated page and the last one), an empty
#             listing, NoSuchKey, the proxy's AccessDenied, a multipart
#             upload's initiation and completion, and a DeleteObjects
#             result;
#   - config: etc/walship.yml, the config file the tests write, and URLs;
#   - clock:  a time, a duration, a size and an S3 time.
# Each file starts with the target's control bytes (see its fuzz_*.c).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
OUT=$ROOT/tests/fuzz/corpus
LS=$ROOT/build/npm/node_modules/@flydotio/litestream-linux-x64/litestream
for x in "$BUILD/walship" "$BUILD/tools/wsload" "$BUILD/tools/wsobj"; do
	[ -x "$x" ] || { echo "seeds.sh: $x is not built (make all)" >&2; exit 1; }
done
for c in lz4 sqlite3 curl node openssl; do
	command -v "$c" >/dev/null || { echo "seeds.sh: $c is needed" >&2; exit 1; }
done
if [ ! -x "$LS" ]; then
	npm install --no-save --no-audit --no-fund --prefix "$ROOT/build/npm" \
		@flydotio/litestream-linux-x64@1.0.1 >/dev/null
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/walship-seeds.XXXXXX")
S3=""
cleanup() {
	[ -z "$S3" ] || sh "$ROOT/tests/s3/stop.sh" "$S3" >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT
XDG_RUNTIME_DIR=$T/run
export XDG_RUNTIME_DIR
mkdir -m 700 "$T/run"
for t in wal lz4 times names s3xml config clock; do
	rm -rf "${OUT:?}/$t"
	mkdir -p "$OUT/$t"
done

# seed TARGET NAME CONTROL_BYTES_OCTAL [FILE]: control bytes, then FILE
# (or stdin).
seed() {
	{
		# shellcheck disable=SC2059 # the format is the control bytes
		printf "$3"
		cat "${4:--}"
	} >"$OUT/$1/$2"
}

# walship's replica: 40 transactions before, 80 while it replicates,
# with walship's checkpoints every 30 pages starting new WAL indexes.
db=$T/db
sqlite3 "$db" 'PRAGMA page_size=512; PRAGMA journal_mode=wal;' >/dev/null
"$BUILD/tools/wsload" "$db" -rate 0 -count 40 -size 200
cat >"$T/walship.yml" <<EOF
dbs:
  - path: $db
    min-checkpoint-page-count: 30
    replicas:
      - path: $T/replica
        sync-interval: 200ms
EOF
"$BUILD/walship" replicate -config "$T/walship.yml" 2>"$T/walship.log" &
wpid=$!
"$BUILD/tools/wsload" "$db" -rate 20 -count 80 -size 100
sleep 2
kill -TERM $wpid
wait $wpid
url=file://$T/replica

# Litestream's replica of a copy of the same kind of database.
ldb=$T/ldb
sqlite3 "$ldb" 'PRAGMA page_size=512; PRAGMA journal_mode=wal;' >/dev/null
"$BUILD/tools/wsload" "$ldb" -rate 0 -count 10 -size 100
"$LS" replicate "$ldb" "file://$T/lreplica" >"$T/litestream.log" 2>&1 &
lpid=$!
"$BUILD/tools/wsload" "$ldb" -rate 20 -count 30 -size 100
sleep 3
kill -TERM $lpid
wait $lpid || true

# The objects, by kind: those of the first four WAL indexes.
i=0
for f in $(cd "$T" && find replica lreplica -type f -name '*.lz4' |
	grep -v '/0000000[4-9a-f][^/]*$' | sort); do
	i=$((i + 1))
	tag=$(echo "$f" | sed 's|^\([a-z]*\)/.*/\([^/]*\)\.lz4$|\1-\2|')
	case $f in
	*/walship/*)
		seed lz4 "$tag" '\002\000\003' "$T/$f"
		lz4 -dc "$T/$f" >"$OUT/times/$tag"
		;;
	*/snapshots/*) seed lz4 "$tag" '\000\000\000' "$T/$f" ;;
	*/wal/*)
		# Every third segment in pieces; the first of each index of walship's
		# replica fixed up, and as content for liblz4.
		# (and with 64 KiB blocks declared, which the fuzzer runs faster).
		if [ $((i % 3)) -eq 0 ]; then
			seed lz4 "$tag" '\001\027\003' "$T/$f"
		else
			seed lz4 "$tag" '\001\000\000' "$T/$f"
		fi
		lz4 -dc "$T/$f" >"$T/seg"
		seed wal "$tag" '\000\000\377' "$T/seg"
		case $f in replica/*_00000000.wal.lz4)
			seed wal "$tag-fixed" '\003\045\377' "$T/seg"
			seed lz4 "$tag-content" '\063\000\000' "$T/seg" ;;
		esac
		;;
	esac
done

# A WAL of 4096-byte pages, as SQLite writes it (the -wal of a live
# database, copied while a connection holds it open).
sqlite3 "$T/big" 'PRAGMA journal_mode=wal; PRAGMA wal_autocheckpoint=0;
	CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(3000));
	INSERT INTO t VALUES (zeroblob(100));' ".shell cp $T/big-wal $T/big.wal" \
	>/dev/null
seed wal sqlite-4096 '\000\000\377' "$T/big.wal"
seed wal sqlite-4096-fixed '\033\017\377' "$T/big.wal"

# Listings.
{ printf '\000'; "$BUILD/tools/wsobj" "$url" times generations/; } >"$OUT/names/walship"
{ printf '\001'; "$BUILD/tools/wsobj" "file://$T/lreplica" times generations/; } \
	>"$OUT/names/litestream"

# S3 bodies, from s3rver itself and from the proxy (tests/s3).
S3=$T/s3
sh "$ROOT/tests/s3/start.sh" "$S3" >"$T/s3.log" 2>&1
set -a
# shellcheck source=/dev/null # written by tests/s3/start.sh
. "$S3/env"
set +a
s3url="s3://$S3_BUCKET/r?endpoint=$S3_ENDPOINT&force-path-style=true"
for k in $("$BUILD/tools/wsobj" "$url" list generations/ | cut -d' ' -f1); do
	"$BUILD/tools/wsobj" "$url" get "$k" | "$BUILD/tools/wsobj" "$s3url" put "$k"
done
up=$S3_UPSTREAM/$S3_BUCKET
curl -sf "$up?list-type=2&prefix=r/&max-keys=5" >"$T/page1"
seed s3xml list-page1-r '\010\003' "$T/page1"
tok=$(sed -n 's/.*<NextContinuationToken>\([^<]*\)<.*/\1/p' "$T/page1")
tok=$(node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$tok")
curl -sf "$up?list-type=2&prefix=r/&continuation-token=$tok" >"$T/page2"
seed s3xml list-page2 '\000\000' "$T/page2"
curl -sf "$up?list-type=2&prefix=r/generations/" >"$T/gens"
seed s3xml list-generations '\000\021' "$T/gens"
curl -sf "$up?list-type=2&prefix=none/" >"$T/empty"
seed s3xml list-empty '\000\000' "$T/empty"
curl -s "$up/r/missing" >"$T/nosuchkey"
seed s3xml error-nosuchkey '\001\000' "$T/nosuchkey"
seed s3xml error-in-list '\000\005' "$T/nosuchkey"
curl -s "$S3_ENDPOINT/$S3_BUCKET/r/missing" >"$T/denied"
seed s3xml error-denied '\001\007' "$T/denied"
curl -sf -X POST "$up/r/big?uploads" >"$T/initiate"
seed s3xml initiate '\002\000' "$T/initiate"
uid=$(sed -n 's/.*<UploadId>\([^<]*\)<.*/\1/p' "$T/initiate")
etag=$(head -c 5000 /dev/urandom | curl -sf -X PUT --data-binary @- -D - -o /dev/null \
	"$up/r/big?partNumber=1&uploadId=$uid" | sed -n 's/^[Ee][Tt]ag: *\([^[:space:]]*\).*/\1/p')
curl -sf -X POST --data-binary \
	"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>$etag</ETag></Part></CompleteMultipartUpload>" \
	"$up/r/big?uploadId=$uid" >"$T/complete"
seed s3xml complete '\003\000' "$T/complete"
del='<Delete><Quiet>false</Quiet><Object><Key>r/big</Key></Object><Object><Key>r/x</Key></Object></Delete>'
md5=$(printf %s "$del" | openssl md5 -binary | base64)
curl -sf -X POST -H "Content-MD5: $md5" --data-binary "$del" "$up?delete" >"$T/delete"
seed s3xml delete '\004\000' "$T/delete"

# Configs, URLs, times.
seed config etc-walship-yml '\001' "$ROOT/etc/walship.yml"
# shellcheck disable=SC2016 # expanded by walship, not here
printf 'dbs:\n  - path: ${WSF_DIR}/app.db\n    max-spool-size: 64MiB\n    replicas:\n      - url: ${WSF_URL}\n        retention: 1h30m\n      - name: local\n        path: /backup/../backup/app\n        snapshot-interval: 250ms\nlogging:\n  level: debug\n  type: json\n' |
	seed config expanded '\001'
printf 's3://bucket.localhost:9000/app?region=eu-west-1&force-path-style=true' |
	seed config url-s3 '\002'
printf 'file:///backup//app/./x/..' | seed config url-file '\002'
printf '2026-11-21T09:15:00.123456789+01:00' | seed clock rfc3339 '\000'
printf '1h30m0.5s' | seed clock duration '\001'
printf '64MiB' | seed clock size '\002'
printf '2026-11-21T16:24:06.000Z' | seed clock s3time '\003'
echo "seeds: $(find "$OUT" -type f | wc -l) files, $(du -sk "$OUT" | cut -f1) KiB in $OUT"
