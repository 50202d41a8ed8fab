#!/bin/sh
# A hostile or broken S3 server (the fault proxy, tests/s3/README.md):
# every command that reads a replica either works exactly or fails with
# one line, leaves nothing at the target, and stays within a memory and
# disk bound.
#
#   - a ListObjectsV2 page over 16 MiB: restore, restore -list and
#     generations fail naming the bound (ccaa6ca: use-after-free, 139);
#   - empty truncated pages with a new continuation token each time, and
#     tokens that cycle A, B, A: the listing ends with an error
#     (ccaa6ca: up to a million pages);
#   - a snapshot or a segment whose body never ends (an LZ4 frame that
#     goes on in blocks of zeros, under a 100 MB file size limit): refused
#     at the listed size (ccaa6ca filled the disk);
#   - a body with a Content-Length past the listed size: refused;
#   - a transfer cut short, then a server that ignores Range (200, the
#     whole object) or answers 206 for the wrong range: the first is
#     resumed by skipping what was had, the second restarts the object;
#     both restore exactly (ccaa6ca: "corrupt");
#   - a 500 whose error document never ends, on a GET and on a listing:
#     cut at 16 KiB and retried (ccaa6ca read it forever);
#   - a snapshot that trickles (a byte every 0.5 s after half of it):
#     given up after 60 s below 1 KiB/s, resumed with Range, restored
#     exactly (cd65d38 waited on it for ever, 1 byte/s being enough);
#   - answers made up whole for the snapshot: a redirect, a 204, a
#     Content-Length that lies, a body that lacks its start, 206s nobody
#     asked for (right and wrong), Content-Range twice, a 500 in HTML, a
#     403 whose message holds escape sequences and a line break, a 404;
#   - a server that stops answering a segment's GET, or the listing
#     (held 20 s, then reset): a WARN line after 10 s naming the request,
#     an INFO line when it is answered, an exact restore (ccaa6ca said
#     nothing);
#   - objects named almost like walship's (upper-case hex, a 9-digit
#     offset, .tmp, an upper-case generation): ignored.
#
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
# shellcheck source-path=SCRIPTDIR
set -eu
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
need_s3

url=$(replica_url good)

good_replica "$url" 3000
echo "good replica: seq $last, generation $gen," \
	"$(replica_files "$url" "generations/$gen/wal/" | wc -l) segments"

n=0
bad=0

# run_case DESC FAULT... -- CMD...: clear the faults, queue each FAULT
# (JSON), run CMD (120 s at most, 100 MB of file at most, peak RSS
# measured) with stdout and stderr in $T/case.out, $T/case.err; an
# argument OUT is the case's target, $T/out-$n.db.  $st is its status,
# $rss its peak in KiB.
run_case() {
	n=$((n + 1))
	desc=$1
	shift
	s3_faults '{"clear":true}' >/dev/null
	while [ "$1" != -- ]; do
		s3_faults "$1" >/dev/null
		shift
	done
	shift
	for _a; do
		shift
		[ "$_a" != OUT ] || _a=$T/out-$n.db
		set -- "$@" "$_a"
	done
	st=0
	rm -f "$T/out-$n.db"*
	sh -c 'ulimit -f 200000 && exec "$@"' limit \
		/usr/bin/time -f %M -o "$T/case.rss" timeout 120 "$@" \
		>"$T/case.out" 2>"$T/case.err" || st=$?
	rss=$(tail -n 1 "$T/case.rss" 2>/dev/null) || rss=""
	case $rss in
	'' | *[!0-9]*) bad_case "$desc" "no peak RSS measured" ;;
	*) [ "$rss" -lt 131072 ] || bad_case "$desc" "peak RSS $rss KiB" ;;
	esac
	for _f in "$T/out-$n.db"*; do
		[ ! -e "$_f" ] || [ "$_f" = "$T/out-$n.db" ] ||
			bad_case "$desc" "left $_f behind"
	done
}

# broken WORDS...: a status of the replica's failures (5 refused or
# unreachable, 6 failing verification, 1 an object that is not there) and one "walship: " line, the last, with
# every one of WORDS; no database at the target.
broken() {
	_line=$(tail -n 1 "$T/case.err")
	_miss=""
	for _w; do
		case $_line in *"$_w"*) ;; *) _miss="$_miss \"$_w\"" ;; esac
	done
	if [ "$st" -ne 1 ] && [ "$st" -ne 5 ] && [ "$st" -ne 6 ]; then
		bad_case "$desc" "exited $st, want 1, 5 or 6"
	elif [ "$(grep -c '^walship: ' "$T/case.err")" -ne 1 ]; then
		bad_case "$desc" "want exactly one 'walship: ' line on stderr"
	elif [ -n "$_miss" ]; then
		bad_case "$desc" "the message lacks$_miss"
	elif [ -e "$T/out-$n.db" ]; then
		bad_case "$desc" "left out-$n.db"
	else
		echo "ok case $n: $desc: $_line (peak RSS $rss KiB)"
	fi
}

# exact: restored, equal to the clean restore.
exact() {
	if [ "$st" -ne 0 ]; then
		bad_case "$desc" "exited $st, want 0"
	elif ! "$TOOLS/wscheck" -eq "$T/clean.db" "$T/out-$n.db" \
		>"$T/case.eq" 2>&1; then
		bad_case "$desc" "not the clean restore: $(cat "$T/case.eq")"
	else
		echo "ok case $n: $desc: restored exactly (peak RSS $rss KiB)"
	fi
}

snap=generations/$gen/snapshots/00000000.snapshot.lz4
seg=generations/$gen/wal/00000001_00000000.wal.lz4
huge='{"next":"list-huge","ops":["ListObjectsV2"]}'

run_case "a 17 MiB listing: restore" "$huge" -- \
	"$WALSHIP" restore -o OUT "$url"
broken "replica s3" "body larger than 16777216 bytes"
run_case "a 17 MiB listing: restore -list" "$huge" -- \
	"$WALSHIP" restore -list "$url"
broken "replica s3" "body larger than 16777216 bytes"
run_case "a 17 MiB listing: generations" "$huge" -- \
	"$WALSHIP" generations "$url"
broken "replica s3" "body larger than 16777216 bytes"

run_case "endless distinct continuation tokens" \
	'{"rate":1,"kinds":["list-endless"],"ops":["ListObjectsV2"]}' -- \
	"$WALSHIP" restore -o OUT "$url"
broken "replica s3" "more than 1000 pages without a key"
run_case "continuation tokens in a cycle" \
	'{"rate":1,"kinds":["list-cycle"],"ops":["ListObjectsV2"]}' -- \
	"$WALSHIP" restore -o OUT "$url"
broken "replica s3" 'continuation token "cycle-a" twice'

for key in "$snap" "$seg"; do
	run_case "a body without end: ${key##*/}" \
		"{\"next\":\"endless-body\",\"match\":\"$key\"}" -- \
		"$WALSHIP" restore -o OUT "$url"
	broken "$key" "longer than its listed size"
	run_case "a Content-Length past the listed size: ${key##*/}" \
		"{\"next\":\"longer-body\",\"match\":\"$key\"}" -- \
		"$WALSHIP" restore -o OUT "$url"
	broken "$key" "Content-Length"
	run_case "cut short, then Range ignored: ${key##*/}" \
		"{\"next\":\"truncate\",\"match\":\"$key\"}" \
		"{\"next\":\"ignore-range\",\"match\":\"$key\"}" -- \
		"$WALSHIP" restore -o OUT "$url"
	exact
	run_case "cut short, then a 206 for the wrong range: ${key##*/}" \
		"{\"next\":\"truncate\",\"match\":\"$key\"}" \
		"{\"next\":\"bad-range\",\"match\":\"$key\"}" -- \
		"$WALSHIP" restore -o OUT "$url"
	exact
	grep -q "retrying db=$T/out-$n.db replica=s3 key=$key.*Content-Range" "$T/case.err" ||
		bad_case "$desc" "no retry line naming the Content-Range"
	run_case "a 500 without end: ${key##*/}" \
		"{\"next\":\"endless-error\",\"match\":\"$key\"}" -- \
		"$WALSHIP" restore -o OUT "$url"
	exact
done
run_case "a 500 without end: the listing" \
	'{"next":"endless-error","ops":["ListObjectsV2"]}' -- \
	"$WALSHIP" restore -o OUT "$url"
exact

# A server that trickles (half the snapshot at once, then a byte every
# 0.5 s, never quite silent): the GET is given up (the proxy sees the
# client leave) once it moves less than 1 KiB/s for 60 s, and retried
# from where it stopped.
run_case "a body that trickles: ${snap##*/}" \
	"{\"next\":\"trickle\",\"match\":\"$snap\",\"trickle_ms\":500}" -- \
	"$WALSHIP" restore -o OUT "$url"
exact
grep '"status":"aborted","fault":"trickle"' "$T/s3/requests.jsonl" |
	grep -q "$snap" ||
	bad_case "$desc" "the trickling GET was not given up by the client"

# Answers made up whole (the proxy's respond fault) for the snapshot's
# GET: resp DESC STATUS HEADERS BODY, BODY a JSON string or
# {"upstream":true[,"from":N]}.
resp() {
	run_case "$1" "{\"next\":\"respond\",\"match\":\"$snap\",
		\"response\":{\"status\":$2,\"headers\":$3,\"body\":$4}}" -- \
		"$WALSHIP" restore -o OUT "$url"
}
size=$(replica_ls "$url" "$snap" | cut -d" " -f2)
resp "a redirect" 301 '{"location":"http://127.0.0.1:9/x"}' '""'
broken "$snap" "301"
resp "204 No Content" 204 '{}' '""'
broken "$snap" "0 bytes, listed as $size"
resp "a Content-Length shorter than the object" 200 \
	'{"content-length":"100"}' '{"upstream":true}'
broken "$snap" "Content-Length 100, listed as $size"
resp "the object less its first 100 bytes" 200 \
	"{\"content-length\":\"$((size - 100))\"}" '{"upstream":true,"from":100}'
broken "$snap" "Content-Length $((size - 100)), listed as $size"
resp "the object less its first 100 bytes, chunked" 200 '{}' \
	'{"upstream":true,"from":100}'
broken "$snap"
resp "a 206 for the whole object, unasked" 206 \
	"{\"content-range\":\"bytes 0-$((size - 1))/$size\"}" '{"upstream":true}'
exact
resp "a 206 of another size, unasked" 206 \
	'{"content-range":"bytes 0-9/10"}' '"0123456789"'
exact
grep -q "retrying db=$T/out-$n.db replica=s3 key=$snap.*Content-Range" "$T/case.err" ||
	bad_case "$desc" "no retry line naming the Content-Range"
resp "Content-Range twice" 206 \
	"{\"content-range\":[\"bytes 0-$((size - 1))/$size\",\"bytes 0-$((size - 1))/$size\"]}" \
	'{"upstream":true}'
exact
grep -q "retrying db=$T/out-$n.db replica=s3 key=$snap.*repeats Content-Range" "$T/case.err" ||
	bad_case "$desc" "no retry line about the repeated header"
resp "a 500 in HTML" 500 '{"content-type":"text/html"}' \
	'"<html><body>oops</body></html>"'
exact
resp "a 403 whose message holds a CSI and a line break" 403 '{}' \
	'"<Error><Code>AccessDenied</Code><Message>no&#x9b;31m way&#13;&#10;INFO forged</Message></Error>"'
broken "$snap" "AccessDenied" "no??31m way  INFO forged"
resp "a 404" 404 '{}' '""'
broken "$snap" "does not exist"

# A server that stops answering (held 20 s, then reset): the restore says
# so after 10 s in a WARN line naming the request, then that it was
# answered, and restores exactly after the backend's retry (ccaa6ca said
# nothing for as long as it waited).  A GET of a segment, then the
# listing.
for what in "GET $seg" "LIST generations/"; do
	case $what in
	GET*) f="{\"next\":\"hang\",\"hang_s\":20,\"match\":\"$seg\"}" ;;
	*) f='{"next":"hang","hang_s":20,"ops":["ListObjectsV2"]}' ;;
	esac
	run_case "a server that stops answering: $what" "$f" -- \
		"$WALSHIP" restore -o OUT "$url"
	exact
	grep -qF "WARN restore: replica not answering db=$T/out-$n.db replica=s3 request=\"$what\" waiting=" "$T/case.err" ||
		bad_case "$desc" "no WARN line after 10 s naming the database and the request"
	grep -qF "INFO restore: replica answered db=$T/out-$n.db replica=s3 request=\"$what\" after=" "$T/case.err" ||
		bad_case "$desc" "no INFO line saying it was answered"
done

# Keys that are not walship's: ignored, whatever they hold.
for k in "generations/$gen/wal/0000000A_00000000.wal.lz4" \
	"generations/$gen/wal/00000001_000000000.wal.lz4" \
	"generations/$gen/snapshots/00000000.snapshot.lz4.tmp" \
	"generations/ABCDEF0123456789/snapshots/00000000.snapshot.lz4"; do
	printf 'junk' >"$T/junk"
	replica_put "$url" "$k" "$T/junk" || fail "cannot put $k"
done
run_case "four objects named almost like walship's" -- \
	"$WALSHIP" restore -o OUT "$url"
exact

s3_faults '{"clear":true}' >/dev/null
echo "hostile S3 cases: $n, problems: $bad"
[ "$bad" -eq 0 ] ||
	fail "$bad problems in $n hostile S3 cases:
$(cat "$T/bad.txt")"
