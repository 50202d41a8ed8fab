#!/bin/sh
# Secrets never leak.  Canary credentials (an access key ID, a secret key
# and a session token, each with a distinctive string; the proxy of
# tests/s3 requires the token, signed, on every request) are given to
# walship through the environment (AWS_*, LITESTREAM_*) and through the
# config file (per replica, at the top level, expanded from ${VAR}), and
# walship runs at its most verbose (-v, logging.level debug, text and
# JSON), through:
#
# 1. replicate -exec with /metrics and /healthz, while the store answers
#    500s, refuses the signature (the proxy's secret rotated: 403
#    SignatureDoesNotMatch, whose document names the access key ID as
#    AWS's does), refuses the key (403 InvalidAccessKeyId), says the
#    token expired (400 ExpiredToken), and echoes all three canaries in
#    an error's Message (a chatty server): each is said, /healthz and the
#    metrics are read while it lasts, and replication recovers;
#    the application walship runs is dumpable (the flag is reset by
#    execve), walship's and its command lines are read;
# 2. restore, generations, snapshots, wal, verify, databases, sync and
#    replicate -once from config files with the credentials in them (and
#    from LITESTREAM_* variables);
# 3. config errors about the credentials: each exits 3 naming the key
#    (a list, a mapping, a duplicate, a typo, on a file replica, an unset
#    variable, a secret too long, an access key ID with a space, a token
#    with a control character);
# 4. a crash (SIGSEGV, SIGABRT) with `ulimit -c unlimited` and the
#    kernel's core_pattern writing to the working directory: no core file
#    (walship is non-dumpable), while a dumpable process there leaves one
#    (the control);
# 5. walship as user nobody: another process of nobody's can neither read
#    its /proc/PID/environ nor attach to it with gdb (it can a sleep of
#    nobody's: the control).
#
# Then every canary, raw, base64- and URL-encoded, and the word "canary"
# in any case (a cut or escaped piece of one), is searched for in all
# walship printed (stdout, stderr, of every command), the metrics and
# /healthz answers, the command lines, the database and its meta
# directory, the restored databases, the bucket (s3rver's data
# directory: objects and their metadata) and the crash directories:
# none may be found.  S3 only.
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-metrics.sh"

AK=AKIACANARYAKQ7Z3X9W2
SK='CanarySK+wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ9'
TOK='FwoGZXIvYXdzEJr//////////CanaryTOK+Aa1bB2cC3/dD4eE5fF6Gg7Hh8Ii9=='
WS_S3_ACCESS_KEY=$AK WS_S3_SECRET_KEY=$SK WS_S3_SESSION_TOKEN=$TOK
export WS_S3_ACCESS_KEY WS_S3_SECRET_KEY WS_S3_SESSION_TOKEN
need_s3
unset WS_S3_ACCESS_KEY WS_S3_SECRET_KEY WS_S3_SESSION_TOKEN
[ "$AWS_ACCESS_KEY_ID" = "$AK" ] && [ "$AWS_SECRET_ACCESS_KEY" = "$SK" ] ||
	fail "the S3 harness did not take the canary keys"
AWS_SESSION_TOKEN=$TOK
export AWS_SESSION_TOKEN

# The forms searched for, one a line (grep -F -i -f): each canary, its
# base64 and URL encodings, every piece of 6 characters of it (so that a
# cut or a partly escaped one is found too) but those that could be hex
# (a digest, a generation) or have fewer than 4 letters and digits, and
# the word "canary".
python3 - "$AK" "$SK" "$TOK" >"$T/canaries" <<'EOF'
import base64, re, sys, urllib.parse
out = {"canary"}
for c in sys.argv[1:]:
    out |= {c, base64.b64encode(c.encode()).decode(), urllib.parse.quote(c, safe="")}
    for i in range(len(c) - 5):
        w = c[i:i + 6]
        if not re.fullmatch(r"[0-9a-fA-F]+", w) and len(re.findall(r"[0-9A-Za-z]", w)) >= 4:
            out.add(w)
print("\n".join(sorted(out)))
EOF

# leaks WHAT PATH...: fail if any canary form is in any file under PATH.
leaks() {
	_lk_what=$1
	shift
	_lk=$(grep -a -r -D skip -i -F -l -f "$T/canaries" "$@" 2>/dev/null) || true
	[ -z "$_lk" ] ||
		fail "$_lk_what: a canary in $(echo "$_lk" | tr '\n' ' '): $(grep -a -r -D skip -i -F -o -f "$T/canaries" "$@" | head -n 3 | tr '\n' ' ')"
}

mkdir "$T/out" "$T/app"
db=$T/app/db
url=$(replica_url app)
"$TOOLS/wsload" "$db" -count 100 -rate 0 -log "$T/tx.csv" 2>/dev/null

# ---- 1. replicate -exec, metrics, health, faults; environment form
cat >"$T/app.sh" <<'EOF'
#!/bin/sh
python3 -c 'import ctypes; print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))' \
	>"$T/out/child-dumpable.tmp" && mv "$T/out/child-dumpable.tmp" "$T/out/child-dumpable"
echo $$ >"$T/out/child.pid"
exec sleep 600
EOF
chmod 755 "$T/app.sh"
port=$(free_port)
start_bg ws-rep "$WALSHIP" replicate -v -addr "127.0.0.1:$port" \
	-exec "$T/app.sh --token-is-not-here" "$db" "$url"
wait_for '[ -s "$T/out/child-dumpable" ] && [ -s "$T/out/child.pid" ]' 30
[ "$(cat "$T/out/child-dumpable")" = 1 ] ||
	fail "the -exec application is not dumpable (PR_GET_DUMPABLE: $(cat "$T/out/child-dumpable"))"
tr '\0' ' ' <"/proc/$(bg_pid ws-rep)/cmdline" >"$T/out/cmdline-replicate"
tr '\0' ' ' <"/proc/$(cat "$T/out/child.pid")/cmdline" >"$T/out/cmdline-child"
wait_restores "$url" 100 "$T/tx.csv" 30

# phase NAME: write 20 commits, wait for the fault to have been answered
# (COND, eval'd), read /healthz and /metrics while it lasts, clear it
# (CLEAR, eval'd), and wait until the replica restores every commit.
phase() {
	"$TOOLS/wsload" "$db" -count 20 -rate 50 -log "$T/tx.csv" 2>/dev/null
	wait_for "$2" 30
	scrape "$port" /healthz "$T/out/healthz-$1" >/dev/null
	scrape "$port" /metrics "$T/out/metrics-$1" >/dev/null
	eval "$3"
	wait_restores "$url" "$(csv_last_seq "$T/tx.csv")" "$T/tx.csv" 90
	echo "1: $1 said and recovered"
}
stat0() {
	s3_stat "$1" 2>/dev/null || echo 0
}

s3_faults '{"next":"500","n":4,"ops":["put"]}'
phase 500 '[ "$(stat0 faults.500)" -ge 4 ]' :
s3_config '{"secret_key":"Wr0ngSecretWr0ngSecretWr0ngSecretWr0ng00"}'
phase signature '[ "$(stat0 errors.SignatureDoesNotMatch)" -ge 1 ] &&
	log_has ws-rep SignatureDoesNotMatch' \
	"s3_config '{\"secret_key\":\"$SK\"}'"
grep -q SignatureDoesNotMatch "$T/out/healthz-signature" ||
	fail "/healthz did not say the refused signature: $(cat "$T/out/healthz-signature")"
s3_config '{"access_key":"AKIAOTHEROTHEROTHER1"}'
phase access-key '[ "$(stat0 errors.InvalidAccessKeyId)" -ge 1 ] &&
	log_has ws-rep InvalidAccessKeyId' \
	"s3_config '{\"access_key\":\"$AK\"}'"
s3_config "{\"expired_tokens\":[\"$TOK\"]}"
phase token '[ "$(stat0 errors.ExpiredToken)" -ge 1 ] &&
	log_has ws-rep ExpiredToken' \
	"s3_config '{\"expired_tokens\":[]}'"
echo="<Error><Code>AccessDenied</Code><Message>denied: key $AK secret $SK token $TOK</Message><AWSAccessKeyId>$AK</AWSAccessKeyId></Error>"
s3_faults "{\"next\":\"respond\",\"n\":3,\"ops\":[\"put\"],\"response\":{\"status\":403,\"headers\":{\"content-type\":\"application/xml\"},\"body\":\"$echo\"}}"
phase echo '[ "$(stat0 faults.respond)" -ge 3 ] &&
	log_has ws-rep "denied: key \[redacted\] secret \[redacted\] token \[redacted\]"' :
wait_for '[ "$(scrape "$port" /healthz "$T/out/healthz-end" | cut -d" " -f1)" = 200 ]' 30
scrape "$port" /metrics "$T/out/metrics-end" >/dev/null
st=0
stop_bg ws-rep || st=$?
[ "$st" -eq 143 ] || fail "walship -exec exited $st on SIGTERM (the application's 143 expected)"

# ---- 2. every command, credentials in config files and variables
# s3_head: the config file's lines down to the replica's own keys.
s3_head() {
	printf 'dbs:\n  - path: %s\n    replicas:\n      - type: s3\n' "$db"
	printf '        bucket: %s\n        path: app\n        endpoint: %s\n' \
		"$S3_BUCKET" "$S3_ENDPOINT"
	printf '        force-path-style: true\n'
}
{
	printf 'logging:\n  level: debug\n  type: json\n'
	s3_head
	printf '        access-key-id: %s\n        secret-access-key: "%s"\n' "$AK" "$SK"
} >"$T/lit.yml"
{
	printf 'logging:\n  level: debug\n'
	printf 'access-key-id: ${WSX_AK}\nsecret-access-key: ${WSX_SK}\n'
	s3_head
} >"$T/top.yml"
# cmd NAME CONFIG ARGS...: walship ARGS -config CONFIG (no AWS_ACCESS_KEY_ID
# or AWS_SECRET_ACCESS_KEY in its environment), output in ws-NAME.log.
cmd() {
	_c_n=$1 _c_cfg=$2
	shift 2
	_c_v=$1
	shift
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY WSX_AK="$AK" \
		WSX_SK="$SK" "$WALSHIP" "$_c_v" -config "$_c_cfg" "$@" \
		>"$T/ws-$_c_n.log" 2>&1 ||
		fail "walship $_c_v -config $(basename "$_c_cfg") $*: exit $?: $(tail -n 3 "$T/ws-$_c_n.log")"
}
"$TOOLS/wsload" "$db" -count 30 -rate 0 -log "$T/tx.csv" 2>/dev/null
n=$(csv_last_seq "$T/tx.csv")
cmd once "$T/lit.yml" replicate -once
for cfg in lit top; do
	cmd "restore-$cfg" "$T/$cfg.yml" restore -v -o "$T/out/r-$cfg.db" "$db"
	assert_restored "$T/out/r-$cfg.db" "$n" "$T/tx.csv"
	cmd "generations-$cfg" "$T/$cfg.yml" generations "$db"
	cmd "snapshots-$cfg" "$T/$cfg.yml" snapshots -json "$db"
	cmd "wal-$cfg" "$T/$cfg.yml" wal "$db"
	cmd "verify-$cfg" "$T/$cfg.yml" verify -v "$db"
	cmd "databases-$cfg" "$T/$cfg.yml" databases
	cmd "list-$cfg" "$T/$cfg.yml" restore -list -json "$db"
done
grep -q "$(replica_gens "$url" | tail -n 1)" "$T/ws-generations-top.log" ||
	fail "generations did not list the replica's generation"
# sync, against a replicate reading the top-level keys.
start_bg ws-rep2 env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
	WSX_AK="$AK" WSX_SK="$SK" "$WALSHIP" replicate -config "$T/top.yml"
wait_for 'log_has ws-rep2 "control endpoint"' 30
"$TOOLS/wsload" "$db" -count 10 -rate 0 -log "$T/tx.csv" 2>/dev/null
cmd sync "$T/top.yml" sync -timeout 60s "$db"
tr '\0' ' ' <"/proc/$(bg_pid ws-rep2)/cmdline" >"$T/out/cmdline-replicate2"
stop_bg ws-rep2 || fail "walship replicate -config exited $? on SIGTERM"
# Litestream's variables, and a URL.
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY LITESTREAM_ACCESS_KEY_ID="$AK" \
	LITESTREAM_SECRET_ACCESS_KEY="$SK" "$WALSHIP" restore -v \
	-o "$T/out/r-ls.db" "$url" >"$T/ws-restore-ls.log" 2>&1 ||
	fail "restore with LITESTREAM_* variables: $(tail -n 3 "$T/ws-restore-ls.log")"
assert_restored "$T/out/r-ls.db" "$(csv_last_seq "$T/tx.csv")" "$T/tx.csv"
# Without the token the proxy refuses (it checks the token is sent).
env -u AWS_SESSION_TOKEN "$WALSHIP" generations "$url" >"$T/ws-notoken.log" 2>&1 &&
	fail "generations without the session token succeeded"
grep -q 'session token is required' "$T/ws-notoken.log" ||
	fail "without the token: $(cat "$T/ws-notoken.log")"
echo "2: every command ran with the credentials from config files and variables"

# ---- 3. config errors about the credentials
# bad NAME KEY: a config (stdin) that walship must refuse with exit 3,
# naming KEY (a fixed string) in its one line.
bad() {
	cat >"$T/bad-$1.yml"
	_b_st=0
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$WALSHIP" generations \
		-config "$T/bad-$1.yml" "$db" >"$T/ws-bad-$1.log" 2>&1 || _b_st=$?
	[ "$_b_st" -eq 3 ] || fail "config error $1: exit $_b_st, want 3: $(cat "$T/ws-bad-$1.log")"
	[ "$(grep -c . "$T/ws-bad-$1.log")" -eq 1 ] && grep -q -F -e "$2" "$T/ws-bad-$1.log" ||
		fail "config error $1: want one line naming $2: $(cat "$T/ws-bad-$1.log")"
}
{ s3_head; printf '        access-key-id: %s\n        secret-access-key: ["%s"]\n' "$AK" "$SK"; } |
	bad list '"secret-access-key" must be a scalar'
{ s3_head; printf '        access-key-id: %s\n        secret-access-key: {a: "%s"}\n' "$AK" "$SK"; } |
	bad map '"secret-access-key" must be a scalar'
{ s3_head; printf '        access-key-id: %s\n        secret-access-key: "%s"\n        secret-access-key: "%s"\n' "$AK" "$SK" "$SK"; } |
	bad duplicate 'duplicate key "secret-access-key"'
{ s3_head; printf '        access-key-id: %s\n        secret-acces-key: "%s"\n' "$AK" "$SK"; } |
	bad typo 'unknown key "secret-acces-key"'
printf 'dbs:\n  - path: %s\n    replicas:\n      - path: %s\n        access-key-id: %s\n        secret-access-key: "%s"\n' \
	"$db" "$T/frep" "$AK" "$SK" | bad file '"access-key-id" (line 5) applies to s3 replicas only'
{ s3_head; printf '        access-key-id: %s\n        secret-access-key: ${NOT_SET_SK}\n' "$AK"; } |
	bad unset '"secret-access-key": environment variable NOT_SET_SK is not set'
{ s3_head; printf '        access-key-id: %s\n        secret-access-key: "%s%0150d"\n' "$AK" "$SK" 0; } |
	bad long 'secret-access-key is empty or longer than 128 bytes'
{ s3_head; printf '        access-key-id: "%s X"\n        secret-access-key: "%s"\n' "$AK" "$SK"; } |
	bad space 'access-key-id is not an access key ID'
st=0
AWS_SESSION_TOKEN="$(printf '%s\001' "$TOK")" "$WALSHIP" generations "$url" \
	>"$T/ws-bad-token.log" 2>&1 || st=$?
[ "$st" -eq 3 ] && grep -q 'AWS_SESSION_TOKEN holds a control character' "$T/ws-bad-token.log" ||
	fail "a token with a control character: exit $st: $(cat "$T/ws-bad-token.log")"
echo "3: config errors name the key, exit 3"

# ---- 4. a crash leaves no core file
pattern=$(cat /proc/sys/kernel/core_pattern)
mkdir "$T/crash-control"
# shellcheck disable=SC3045 # dash's ulimit has -c and -H
(cd "$T/crash-control" && ulimit -c unlimited && sh -c 'kill -SEGV $$') 2>/dev/null || true
if [ "${pattern#|}" != "$pattern" ] || [ "${pattern#/}" != "$pattern" ]; then
	skip "core_pattern is \"$pattern\" (not a file in the working directory): the crash's core file is not checked"
elif [ -z "$(ls "$T/crash-control")" ]; then
	# shellcheck disable=SC3045
	skip "a dumpable process that crashed left no core file here (core_pattern \"$pattern\", ulimit -c $(ulimit -Hc)): the crash's core file is not checked"
else
	for sig in SEGV ABRT; do
		mkdir "$T/crash-$sig"
		# shellcheck disable=SC3045
		(cd "$T/crash-$sig" && ulimit -c unlimited &&
			exec "$WALSHIP" replicate -v "$db" "$url") >"$T/ws-crash-$sig.log" 2>&1 &
		echo $! >"$T/.bg/crash"
		wait_for 'log_has ws-crash-$sig.log "control endpoint"' 30
		stop_bg crash "$sig" && st=0 || st=$?
		[ "$st" -gt 128 ] || fail "walship exited $st on SIG$sig"
		[ -z "$(ls "$T/crash-$sig")" ] ||
			fail "a crash of walship (SIG$sig) left $(ls "$T/crash-$sig")"
	done
	echo "4: SIGSEGV and SIGABRT: no core file (a dumpable process's crash left $(ls "$T/crash-control"))"
fi
rm -rf "$T/crash-control"

# ---- 5. walship as nobody: its environment and memory are closed
if [ "$(id -u)" -ne 0 ] || ! id nobody >/dev/null 2>&1 || ! command -v setpriv >/dev/null; then
	skip "needs root, a user nobody and setpriv to check /proc/PID/environ and ptrace"
else
	chmod 711 "$T"
	mkdir -m 700 "$T/own" "$T/own/run"
	cp "$db" "$T/own/db"
	chown -R nobody "$T/own"
	NOBODY="setpriv --reuid=nobody --regid=$(id -g nobody) --clear-groups"
	# shellcheck disable=SC2086 # $NOBODY is a command's words
	start_bg ws-nobody env XDG_RUNTIME_DIR="$T/own/run" $NOBODY "$WALSHIP" \
		replicate -v "$T/own/db" "$(replica_url own)"
	wait_for 'log_has ws-nobody "control endpoint"' 30
	# shellcheck disable=SC2086
	start_bg sleeper $NOBODY sleep 600
	wait_for '[ "$(stat -c %U /proc/$(bg_pid sleeper))" = nobody ]' 10
	# shellcheck disable=SC2086
	$NOBODY cat "/proc/$(bg_pid sleeper)/environ" >/dev/null 2>&1 ||
		fail "control: nobody cannot read the environ of its own sleep"
	# shellcheck disable=SC2086
	$NOBODY cat "/proc/$(bg_pid ws-nobody)/environ" >"$T/out/environ" 2>/dev/null &&
		fail "nobody read the environment of walship running as nobody ($(wc -c <"$T/out/environ") bytes)"
	rm -f "$T/out/environ"
	if command -v gdb >/dev/null; then
		# shellcheck disable=SC2086
		$NOBODY gdb -nx -batch -p "$(bg_pid sleeper)" -ex 'info inferiors' \
			>"$T/gdb-control.txt" 2>&1 </dev/null
		grep -q 'process' "$T/gdb-control.txt" && ! grep -q 'ptrace: Operation not permitted' "$T/gdb-control.txt" ||
			fail "control: nobody's gdb cannot attach to its own sleep: $(tail -n 3 "$T/gdb-control.txt")"
		# shellcheck disable=SC2086
		$NOBODY gdb -nx -batch -p "$(bg_pid ws-nobody)" -ex 'info inferiors' \
			>"$T/gdb-walship.txt" 2>&1 </dev/null || true
		grep -q 'ptrace: Operation not permitted' "$T/gdb-walship.txt" ||
			fail "nobody's gdb attached to walship running as nobody: $(tail -n 3 "$T/gdb-walship.txt")"
	else
		skip "no gdb: ptrace by walship's own user is not checked"
	fi
	stop_bg sleeper || true
	stop_bg ws-nobody || fail "walship as nobody exited $? on SIGTERM"
	echo "5: walship's environment and memory are closed to its own user"
fi

# ---- the search
leaks "walship's output" "$T"/ws-*.log
leaks "metrics, /healthz, command lines, restored databases" "$T/out"
leaks "the database and its meta directory" "$T/app"
leaks "the bucket" "$S3_DATA_DIR"
for d in "$T"/crash-* "$T/own"; do
	[ ! -d "$d" ] || leaks "$(basename "$d")" "$d"
done
# The search finds the canaries where they are.
grep -a -i -F -q -f "$T/canaries" "$T/lit.yml" ||
	fail "the search does not find the canaries in the config file that holds them"
echo "no canary in $(find "$T"/ws-*.log "$T/out" "$T/app" "$S3_DATA_DIR" -type f | wc -l) files"
