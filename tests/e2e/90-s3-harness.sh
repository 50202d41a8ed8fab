#!/bin/sh
# The S3 test harness itself (tests/s3): s3rver behind our SigV4-verifying,
# fault-injecting proxy, driven by curl's own SigV4 signer.  Round trip;
# wrong secret, key, payload hash, MD5 and clock are refused as S3 refuses
# them; ListObjectsV2 pages with max-keys=1 and lists nested CommonPrefixes;
# injected 500, 503, reset, hang, truncated and bit-flipped answers reach
# the client and are counted; s3rver stops and comes back with its data.
# Needs node (npm the first time) and curl, not walship.
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/s3/lib.sh"
command -v curl >/dev/null 2>&1 || fail "curl is not installed"
s3_start

EMPTY=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
# The key pair goes to curl in a config file, not on its command line.
(
	umask 077
	printf 'user = "%s:%s"\naws-sigv4 = "aws:amz:us-east-1:s3"\n' \
		"$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$T/curlrc"
)

# s3curl HASH CURL-ARGS...: a request signed by curl with
# x-amz-content-sha256: HASH (curl 7.88 signs that header's value as the
# payload hash; it does not hash the body itself).
s3curl() {
	_sc_h=$1
	shift
	curl -sS --max-time 10 -K "$T/curlrc" -H "x-amz-content-sha256: $_sc_h" "$@"
}
sha256() {
	sha256sum "$1" | cut -d' ' -f1
}
md5b64() {
	node -e 'process.stdout.write(require("crypto").createHash("md5")
		.update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$1"
}
# urlenc S: S percent-encoded as SigV4 wants it (curl 7.88 signs the query
# as written).
urlenc() {
	node -e 'process.stdout.write(encodeURIComponent(process.argv[1])
		.replace(/[!'\''()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase()))' "$1"
}
# put FILE KEY [CURL-ARGS...]: PUT FILE, print the HTTP status.
put() {
	_p_f=$1
	_p_k=$2
	shift 2
	s3curl "$(sha256 "$_p_f")" -T "$_p_f" -o "$T/put.out" -w '%{http_code}' "$@" "$(s3_url "$_p_k")"
}
# get KEY OUT [CURL-ARGS...]: GET KEY into OUT, print the HTTP status.
get() {
	_g_k=$1
	_g_o=$2
	shift 2
	s3curl "$EMPTY" -o "$_g_o" -w '%{http_code}' "$@" "$(s3_url "$_g_k")"
}
xml_one() {
	sed -n "s/.*<$1>\([^<]*\)<\/$1>.*/\1/p" "$2"
}
xml_all() {
	grep -o "<$1>[^<]*</$1>" "$2" | sed "s/<[^>]*>//g" | tr '\n' ' '
}
expect_code() { # expect_code WHAT WANT-STATUS WANT-CODE STATUS BODYFILE
	[ "$4" = "$2" ] && grep -q "<Code>$3</Code>" "$5" ||
		fail "$1: want $2 $3, got $4: $(head -c 300 "$5")"
}

# Round trip, byte-identical.
head -c 100000 /dev/urandom >"$T/obj1"
c=$(put "$T/obj1" hello/obj1)
[ "$c" = 200 ] || fail "PUT: HTTP $c: $(cat "$T/put.out")"
c=$(get hello/obj1 "$T/obj1.back")
[ "$c" = 200 ] || fail "GET: HTTP $c: $(head -c 300 "$T/obj1.back")"
cmp -s "$T/obj1" "$T/obj1.back" || fail "GET returned other bytes than were PUT"

# Authentication and integrity failures, each with S3's code.
c=$(curl -sS --max-time 10 --aws-sigv4 aws:amz:us-east-1:s3 \
	--user "$AWS_ACCESS_KEY_ID:not-the-secret" -H "x-amz-content-sha256: $EMPTY" \
	-o "$T/e.out" -w '%{http_code}' "$(s3_url hello/obj1)")
expect_code "wrong secret" 403 SignatureDoesNotMatch "$c" "$T/e.out"
c=$(curl -sS --max-time 10 --aws-sigv4 aws:amz:us-east-1:s3 \
	--user "AKIANOSUCHKEY0000000:$AWS_SECRET_ACCESS_KEY" -H "x-amz-content-sha256: $EMPTY" \
	-o "$T/e.out" -w '%{http_code}' "$(s3_url hello/obj1)")
expect_code "wrong access key" 403 InvalidAccessKeyId "$c" "$T/e.out"
c=$(curl -sS --max-time 10 -o "$T/e.out" -w '%{http_code}' "$(s3_url hello/obj1)")
expect_code "unsigned request" 403 AccessDenied "$c" "$T/e.out"
printf 'some other body' >"$T/other"
c=$(s3curl "$EMPTY" -T "$T/other" -o "$T/e.out" -w '%{http_code}' "$(s3_url bad/sha)")
expect_code "wrong x-amz-content-sha256" 400 XAmzContentSHA256Mismatch "$c" "$T/e.out"
c=$(put "$T/other" bad/md5 -H "Content-MD5: $(md5b64 "$T/obj1")")
expect_code "wrong Content-MD5" 400 BadDigest "$c" "$T/put.out"
c=$(s3curl "$EMPTY" -I -o /dev/null -w '%{http_code}' "$(s3_url bad/sha)")
[ "$c" = 404 ] || fail "a refused PUT stored something: HEAD bad/sha gave $c"
c=$(put "$T/other" good/md5 -H "Content-MD5: $(md5b64 "$T/other")")
[ "$c" = 200 ] || fail "PUT with a right Content-MD5: HTTP $c: $(cat "$T/put.out")"
c=$(put "$T/other" good/md5 -H "If-None-Match: *")
expect_code "If-None-Match: * on an existing key" 412 PreconditionFailed "$c" "$T/put.out"
s3_config '{"clock_offset_s":1200}'
c=$(get hello/obj1 "$T/e.out")
expect_code "20 minutes of clock skew" 403 RequestTimeTooSkewed "$c" "$T/e.out"
s3_config '{"clock_offset_s":0}'
[ "$(s3_stat errors.SignatureDoesNotMatch)" = 1 ] || fail "stats: $(s3_stats)"

# ListObjectsV2, max-keys=1: three pages, continuation tokens (which always
# need percent-encoding), keys in order.  Query names sorted: curl 7.88
# signs the query as written.
for k in pg-a pg-b pg-c; do
	printf '%s' "$k" >"$T/$k"
	c=$(put "$T/$k" "$k")
	[ "$c" = 200 ] || fail "PUT $k: HTTP $c"
done
tok=
keys=
pages=0
while :; do
	pages=$((pages + 1))
	[ $pages -le 10 ] || fail "the listing did not end within 10 pages"
	q="list-type=2&max-keys=1&prefix=pg-"
	[ -z "$tok" ] || q="continuation-token=$(urlenc "$tok")&$q"
	c=$(s3curl "$EMPTY" -o "$T/list.xml" -w '%{http_code}' "$S3_ENDPOINT/$S3_BUCKET?$q")
	[ "$c" = 200 ] || fail "list page $pages: HTTP $c: $(head -c 300 "$T/list.xml")"
	keys="$keys$(xml_all Key "$T/list.xml")"
	next=$(xml_one NextContinuationToken "$T/list.xml")
	case $(xml_one IsTruncated "$T/list.xml") in
	false)
		[ -z "$next" ] || fail "last page has a NextContinuationToken"
		break
		;;
	true) ;;
	*) fail "no IsTruncated in $(cat "$T/list.xml")" ;;
	esac
	[ -n "$next" ] && [ "$next" != "$tok" ] || fail "page $pages: truncated without a new token"
	tok=$next
done
[ "$keys" = "pg-a pg-b pg-c " ] || fail "listed \"$keys\", want pg-a pg-b pg-c"
[ $pages -eq 3 ] || fail "$pages pages, want 3"

# A delimiter listing keeps CommonPrefixes whose keys are nested deeper
# (s3rver alone drops nest/a/).
printf x >"$T/x"
for k in nest/a/b/c nest/x; do
	c=$(put "$T/x" "$k")
	[ "$c" = 200 ] || fail "PUT $k: HTTP $c"
done
c=$(s3curl "$EMPTY" -o "$T/list.xml" -w '%{http_code}' \
	"$S3_ENDPOINT/$S3_BUCKET?delimiter=%2F&list-type=2&prefix=nest%2F")
[ "$c" = 200 ] || fail "delimiter listing: HTTP $c: $(head -c 300 "$T/list.xml")"
[ "$(xml_all Key "$T/list.xml")" = "nest/x " ] &&
	[ "$(xml_all Prefix "$T/list.xml")" = "nest/ nest/a/ " ] ||
	fail "delimiter listing: $(cat "$T/list.xml")"

# DeleteObjects without Content-MD5 is refused, as by S3.
printf '<Delete><Object><Key>pg-a</Key></Object></Delete>' >"$T/del.xml"
c=$(s3curl "$(sha256 "$T/del.xml")" -X POST --data-binary @"$T/del.xml" \
	-o "$T/e.out" -w '%{http_code}' "$S3_ENDPOINT/$S3_BUCKET?delete=")
expect_code "DeleteObjects without Content-MD5" 400 InvalidRequest "$c" "$T/e.out"

# Injected faults reach the client and are counted.
s3_reset
s3_faults '{"next":"500"}'
c=$(get hello/obj1 "$T/e.out")
expect_code "injected 500" 500 InternalError "$c" "$T/e.out"
s3_faults '{"next":"503","retry_after":2}'
c=$(get hello/obj1 "$T/e.out" -D "$T/e.hdr")
expect_code "injected 503" 503 SlowDown "$c" "$T/e.out"
grep -qi '^Retry-After: 2' "$T/e.hdr" || fail "503 without Retry-After: $(cat "$T/e.hdr")"
s3_faults '{"next":"reset"}'
st=0
get hello/obj1 "$T/e.out" 2>"$T/curl.err" >/dev/null || st=$?
case $st in
52 | 56) ;; # empty reply / connection reset
*) fail "reset: curl exit status $st, want 52 or 56: $(cat "$T/curl.err")" ;;
esac
s3_faults '{"next":"reset","ops":["PutObject"]}'
st=0
put "$T/obj1" reset/put 2>"$T/curl.err" >/dev/null || st=$?
[ $st -ne 0 ] || fail "reset mid-PUT: curl succeeded"
c=$(s3curl "$EMPTY" -I -o /dev/null -w '%{http_code}' "$(s3_url reset/put)")
[ "$c" = 404 ] || fail "a PUT reset mid-request was stored: HEAD gave $c"
s3_faults '{"next":"bitflip"}'
c=$(get hello/obj1 "$T/flip")
[ "$c" = 200 ] || fail "bitflip: HTTP $c"
n=$(cmp -l "$T/obj1" "$T/flip" | wc -l)
[ "$n" -eq 1 ] && [ "$(wc -c <"$T/flip")" -eq 100000 ] ||
	fail "bitflip: $n bytes differ, size $(wc -c <"$T/flip"); want 1 and 100000"
s3_faults '{"next":"truncate"}'
st=0
get hello/obj1 "$T/e.out" 2>"$T/curl.err" >/dev/null || st=$?
[ $st -eq 18 ] || fail "truncate: curl exit status $st, want 18: $(cat "$T/curl.err")"
s3_faults '{"next":"hang"}'
st=0
get hello/obj1 "$T/e.out" --max-time 1 2>"$T/curl.err" >/dev/null || st=$?
[ $st -eq 28 ] || fail "hang: curl exit status $st, want 28 (timeout): $(cat "$T/curl.err")"
# Random faults: rate 1, at most 2, then clean.
s3_faults '{"rate":1,"kinds":["500"],"count":2,"seed":7}'
codes=
for _ in 1 2 3; do
	codes="$codes$(get hello/obj1 "$T/e.out") "
done
[ "$codes" = "500 500 200 " ] || fail "random faults (count 2): $codes"
cmp -s "$T/obj1" "$T/e.out" || fail "GET after the faults returned other bytes"
for kv in 500:3 503:1 reset:2 bitflip:1 truncate:1 hang:1; do
	n=$(s3_stat "faults.${kv%%:*}") || fail "s3_stat failed"
	[ "$n" = "${kv#*:}" ] || fail "stats: faults.${kv%%:*} is $n, want ${kv#*:}: $(s3_stats)"
done
[ "$(s3_stat ops.GetObject)" -eq 9 ] && [ "$(s3_stat ops.PutObject)" -eq 1 ] ||
	fail "stats: $(s3_stats)"

# Outage: s3rver stops (the proxy resets connections), comes back on the
# same port with the same data.
port=$S3RVER_PORT
s3_stop_server
st=0
get hello/obj1 "$T/e.out" 2>"$T/curl.err" >/dev/null || st=$?
[ $st -ne 0 ] || fail "GET succeeded while s3rver was down"
[ "$(s3_stat upstream_errors)" -ge 1 ] || fail "stats: $(s3_stats)"
s3_start_server
[ "$S3RVER_PORT" = "$port" ] || fail "s3rver came back on port $S3RVER_PORT, not $port"
c=$(get hello/obj1 "$T/e.out")
[ "$c" = 200 ] && cmp -s "$T/obj1" "$T/e.out" || fail "GET after the restart: HTTP $c"

# The proxy's own checks: odd keys, Range, token rotation, multipart,
# listings against a model, the remaining fault kinds.
node "$ROOT/tests/s3/selftest.js" >"$T/selftest.log" 2>&1 ||
	fail "tests/s3/selftest.js: $(grep -v '^ok ' "$T/selftest.log" | head -n 5)"
