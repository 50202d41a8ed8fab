#!/bin/sh
# walship against S3: s3rver behind the SigV4-verifying proxy (every
# request's signature and payload hash checked as AWS would).  A round
# trip under writes, a restart that continues the generation, no requests
# at all while idle, Litestream v0.3.13 in both directions, injected
# faults, a server outage under writes, and a wrong secret.  Multipart
# snapshots: 95-s3-multipart.sh.
set -eu
. "$(dirname "$0")/../lib.sh"
need_s3
need_litestream

db=$T/db
url=$(replica_url app)
lsurl="s3://$S3_BUCKET.localhost:$PROXY_PORT/app"

# Round trip under writes.
start_writer writer "$db" "$T/tx.csv" -rate 150 -duration 5 -autocheckpoint 0
start_bg w1 "$WALSHIP" replicate "$db" "$url"
wait_bg writer 30 || fail "writer exited $?"
n=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$n" "$T/tx.csv"
stop_bg w1 || fail "walship exited $?"
"$WALSHIP" restore -o "$T/r1.db" "$url"
assert_restored "$T/r1.db" "$n" "$T/tx.csv"
assert_equal "$db" "$T/r1.db"
[ "$(s3_stat status.403)" -eq 0 ] || fail "the proxy rejected signatures"

# Restart: same generation, and no requests while idle.
gen=$(grep -o 'generation=[0-9a-f]*' "$T/w1.log" | head -1 | cut -d= -f2)
start_bg w2 "$WALSHIP" replicate "$db" "$url"
wait_for "log_has w2 'replica position .*$gen'" 10
s3_reset
sleep 5 # a measurement window, not synchronisation
[ "$(s3_stat requests)" -eq 0 ] ||
	fail "idle walship made $(s3_stat requests) requests: $(s3_stats)"

# Faults while writing: retried with backoff, nothing lost.
s3_faults '{"rate":0.3,"kinds":["500","503","reset"],"seed":7}'
start_writer w-faults "$db" "$T/tx.csv" -rate 150 -autocheckpoint 0
wait_for '[ "$(s3_stat faults_total)" -ge 5 ]' 30
stop_bg w-faults || fail "writer exited $?"
s3_faults '{"clear":true}'
n=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$n" "$T/tx.csv" 60
log_has w2 'retries=[0-9]|backing off' || fail "no retry or back-off logged"

# An outage under writes: walship keeps its shadow WAL and catches up.
s3_stop_server
"$TOOLS/wsload" "$db" -count 300 -rate 150 -autocheckpoint 0 \
	-log "$T/tx.csv" 2>/dev/null
wait_for "log_has w2 'backing off'" 10
s3_start_server
n=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$n" "$T/tx.csv" 60
stop_bg w2 || fail "walship exited $?"
log_has w2 'new generation' && fail "a restart or an outage forked the generation"

# Litestream restores what walship wrote...
"$LITESTREAM" restore -o "$T/ls.db" "$lsurl" >"$T/ls-restore.log" 2>&1 ||
	fail "litestream restore failed"
assert_restored "$T/ls.db" "$n" "$T/tx.csv"
assert_equal "$db" "$T/ls.db"

# ... and walship restores what Litestream wrote.
start_writer lsw "$T/lsdb" "$T/ls.csv" -rate 100 -duration 3
start_bg ls "$LITESTREAM" replicate "$T/lsdb" "s3://$S3_BUCKET.localhost:$PROXY_PORT/lsdb"
wait_bg lsw 20 || fail "writer exited $?"
m=$(csv_last_seq "$T/ls.csv")
wait_restores "$lsurl/../lsdb" "$m" "$T/ls.csv" 20
st=0
stop_bg ls || st=$?
# v0.3.13 may exit 1 when its shutdown cancels its own checkpoint (see
# 20-interop-litestream-to-walship.sh); nothing else is tolerated.
[ "$st" -eq 0 ] || log_has ls 'error closing db.*release read lock: context canceled' ||
	fail "litestream exited $st on SIGTERM"
"$WALSHIP" restore -o "$T/fromls.db" "s3://$S3_BUCKET.localhost:$PROXY_PORT/lsdb"
assert_restored "$T/fromls.db" "$m" "$T/ls.csv"
assert_equal "$T/lsdb" "$T/fromls.db"

# A wrong secret: one clear line with S3's code, non-zero exit.
st=0
AWS_SECRET_ACCESS_KEY=wrong "$WALSHIP" restore -o "$T/x.db" "$url" \
	2>"$T/bad.log" || st=$?
[ "$st" -eq 5 ] || fail "restore with a wrong secret: exit $st, want 5"
grep -q 'SignatureDoesNotMatch' "$T/bad.log" || fail "$(cat "$T/bad.log")"
[ "$(grep -c . "$T/bad.log")" -eq 1 ] || fail "more than one line: $(cat "$T/bad.log")"
grep -q wrong "$T/bad.log" && fail "the secret leaked into the error"
[ -e "$T/x.db" ] && fail "a failed restore left a file"
# replicate with a wrong secret: a loud error with S3's code, then exit 5
# rather than retrying forever while nothing is replicated.
AWS_SECRET_ACCESS_KEY=wrong start_bg badrep "$WALSHIP" replicate "$db" \
	"s3://$S3_BUCKET/bad?endpoint=$S3_ENDPOINT&force-path-style=true"
st=0
wait_bg badrep 90 || st=$?
[ "$st" -eq 5 ] || fail "replicate with a wrong secret exited $st, want 5"
log_has badrep '^walship: .*SignatureDoesNotMatch' ||
	fail "no final SignatureDoesNotMatch line"

# The real secret never appears in any log or error (canary, X1).
for f in "$T"/*.log; do
	grep -qF "$AWS_SECRET_ACCESS_KEY" "$f" &&
		fail "the secret appears in $(basename "$f")"
done
echo "s3: $(s3_stat requests) requests since the last reset, faults $(s3_stat faults_total)"
