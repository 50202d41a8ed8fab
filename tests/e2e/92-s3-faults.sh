#!/bin/sh
# walship against S3 under faults, outages and idleness: the S3
# milestone's requirements that 91-s3-replicate.sh does not cover.
#
#  1. Five databases in one walship process (sync-interval 100ms), each
#     with its own writer at 40 tx/s, under random injected faults of
#     every kind (500, 503 SlowDown, reset, 3 s hang, truncate, bitflip)
#     until at least 100 have been injected, with a restart halfway whose
#     start-up GETs (the last segment of each replica) are truncated or
#     bit-flipped: nothing is lost, no generation is forked, and retries
#     or back-off are logged.
#  2. s3rver stopped for 30 s under writes: walship stays up, the writers
#     see no error, back-off is logged, and walship catches up.
#  3. Idle for 60 s once everything is shipped: not one request.
#  4. After SIGTERM (exit 0), every restore equals its source; a restore
#     with ListObjectsV2 pages of 2 keys (WALSHIP_TEST_S3_MAX_KEYS) is
#     exact too.
#  5. Restores under bit-flipped GET bodies: either exact, or one error
#     line naming the object and a checksum/LZ4 failure, and no output.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
# shellcheck source-path=SCRIPTDIR
set -eu
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
need_s3

NDB=5
t_start=$(date +%s)
dbs=$(seq 1 $NDB)

# phase NAME: print how long the test has run so far.
phase() {
	echo "[$(($(date +%s) - t_start))s] $*"
}

url_of() {
	echo "s3://$S3_BUCKET/f/db$1?endpoint=$S3_ENDPOINT&force-path-style=true"
}

{
	echo "dbs:"
	for i in $dbs; do
		cat <<EOF
  - path: $T/db$i
    replicas:
      - type: s3
        bucket: $S3_BUCKET
        path: f/db$i
        endpoint: $S3_ENDPOINT
        force-path-style: true
        sync-interval: 100ms
EOF
	done
} >"$T/walship.yml"

# start_writers ARGS...: one wsload per database, appending to txN.csv.
start_writers() {
	for i in $dbs; do
		start_writer "w$i" "$T/db$i" "$T/tx$i.csv" -seed "$i" \
			-autocheckpoint 0 "$@"
	done
}

# wait_shipped SECS: every replica restores its writer's last seq, all
# within SECS seconds.
wait_shipped() {
	_ws_end=$(($(date +%s) + $1))
	for i in $dbs; do
		_n=$(csv_last_seq "$T/tx$i.csv")
		[ "$_n" -gt 0 ] || fail "writer $i committed nothing"
		_left=$((_ws_end - $(date +%s)))
		[ "$_left" -gt 0 ] || _left=1
		wait_restores "$(url_of "$i")" "$_n" "$T/tx$i.csv" "$_left"
	done
}

# 1. Random faults of every kind while five databases are written.
start_writers -rate 40
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
for i in $dbs; do
	wait_for "log_has walship 'wal segment written db=$T/db$i '" 20
done
phase "replicating $NDB databases; faults on"
s3_faults '{"rate":0.3,"kinds":["500","503","reset","hang","truncate","bitflip"],"seed":92,"hang_s":3,"retry_after":1}'
wait_for '[ "$(s3_stat faults_total)" -ge 50 ]' 60
# A restart under faults.  At start-up walship lists each replica and
# downloads its last segment (the only GETs it makes), so the first five
# GETs are cut short or bit-flipped.
stop_bg walship || fail "walship exited $? on SIGTERM under faults"
phase "walship stopped under faults; restarting with GET faults queued"
s3_faults '{"next":"truncate","n":2}'
s3_faults '{"next":"bitflip","n":3}'
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
wait_for '[ "$(s3_stat faults.truncate)" -ge 2 ] && [ "$(s3_stat faults.bitflip)" -ge 3 ]' 30
wait_for '[ "$(s3_stat faults_total)" -ge 100 ]' 60
s3_faults '{"clear":true}'
for i in $dbs; do
	stop_bg "w$i" || fail "writer $i exited $?"
done
bg_running walship || fail "walship died under faults"
echo "faults: $(s3_stat faults_total) total: 500=$(s3_stat faults.500)" \
	"503=$(s3_stat faults.503) reset=$(s3_stat faults.reset)" \
	"hang=$(s3_stat faults.hang) truncate=$(s3_stat faults.truncate)" \
	"bitflip=$(s3_stat faults.bitflip); requests $(s3_stat requests)"
echo "stats: $(s3_stats | tr -d ' \n')"
phase "faults off; waiting for the replicas"
wait_shipped 60
log_has walship 'retries=[0-9]|backing off' || fail "no retry or back-off logged"
echo "logged: $(grep -c 'retries=[0-9]' "$T/walship.log") segments with" \
	"retries, $(grep -c 'backing off' "$T/walship.log") back-offs," \
	"$(grep -c ' error db=' "$T/walship.log") errors"

# 2. s3rver down for 30 s under writes.
phase "caught up; outage under writes"
nbo=$(grep -c 'backing off' "$T/walship.log" || true)
start_writers -rate 40 -duration 33
s3_stop_server
t_down=$(date +%s)
wait_for '[ "$(grep -c "backing off" "$T/walship.log")" -gt '"$nbo"' ]' 25
while [ $(($(date +%s) - t_down)) -lt 30 ]; do
	bg_running walship || fail "walship died during the outage"
	sleep 1 # the outage's length, not synchronisation
done
bg_running walship || fail "walship died during the outage"
s3_start_server
phase "s3rver back after $(($(date +%s) - t_down))s"
for i in $dbs; do
	wait_bg "w$i" 30 || fail "writer $i exited $? during the outage"
done
wait_shipped 90
phase "caught up after the outage"

# 3. Idle: once writes pause for 2 s each database ships its last
# commit times (one PUT at most), then not one request in 60 s.
# shellcheck disable=SC2119 # no argument: the stats only
s3_reset
sleep 4 # a measurement window, not synchronisation
[ "$(s3_stat requests)" -le $NDB ] ||
	fail "after the writes: $(s3_stat requests) requests: $(s3_stats)"
s3_reset
sleep 60 # a measurement window, not synchronisation
bg_running walship || fail "walship died while idle"
[ "$(s3_stat requests)" -eq 0 ] ||
	fail "idle walship made $(s3_stat requests) requests: $(s3_stats)"
phase "idle for 60 s: no requests"

# 4. SIGTERM, then every restore equals its source.
stop_bg walship || fail "walship exited $? on SIGTERM"
[ "$(grep -c 'new generation' "$T/walship.log")" -eq $NDB ] ||
	fail "faults, the restart or the outage forked a generation:" \
		"$(grep 'new generation' "$T/walship.log")"
for i in $dbs; do
	n=$(csv_last_seq "$T/tx$i.csv")
	"$WALSHIP" restore -o "$T/r$i.db" "$(url_of "$i")" 2>"$T/restore$i.log" ||
		fail "restore of db$i failed: $(cat "$T/restore$i.log")"
	assert_restored "$T/r$i.db" "$n" "$T/tx$i.csv"
	assert_equal "$T/db$i" "$T/r$i.db"
	echo "db$i: seq $n restored, $(grep -c "wal segment written db=$T/db$i " \
		"$T/walship.log") segments"
done
phase "all $NDB restores exact"

# Pagination: ListObjectsV2 pages of 2 keys.
nseg=$(grep -c "wal segment written db=$T/db1 " "$T/walship.log" || true)
[ "$nseg" -gt 20 ] || fail "db1's replica has only $nseg segments"
l0=$(s3_stat ops.ListObjectsV2)
WALSHIP_TEST_S3_MAX_KEYS=2 "$WALSHIP" restore -o "$T/pages.db" "$(url_of 1)" \
	2>"$T/pages.log" || fail "paged restore failed: $(cat "$T/pages.log")"
l1=$(s3_stat ops.ListObjectsV2)
[ $((l1 - l0)) -gt 10 ] ||
	fail "a restore of $nseg segments in pages of 2 made $((l1 - l0)) listings"
assert_restored "$T/pages.db" "$(csv_last_seq "$T/tx1.csv")" "$T/tx1.csv"
assert_equal "$T/db1" "$T/pages.db"
phase "paged restore exact: $((l1 - l0)) ListObjectsV2 pages for $nseg segments"

# 5. Bit-flipped GET bodies.
b0=$(s3_stat faults.bitflip)
nok=0
nfail=0
for k in 1 2 3 4 5 6 7 8 9 10; do
	case $k in
	[1-6]) rate=0.5 cnt="" ;;
	*) rate=0.05 cnt=',"count":1' ;;
	esac
	s3_faults '{"clear":true}'
	s3_faults '{"rate":'"$rate"',"kinds":["bitflip"],"ops":["GetObject"],"seed":'"$k$cnt"'}'
	out=$T/bf$k.db
	f0=$(s3_stat faults.bitflip)
	st=0
	"$WALSHIP" restore -o "$out" "$(url_of 2)" >"$T/bf$k.out" 2>"$T/bf$k.err" ||
		st=$?
	if [ "$st" -eq 0 ]; then
		assert_restored "$out" "$(csv_last_seq "$T/tx2.csv")" "$T/tx2.csv"
		assert_equal "$T/db2" "$out"
		nok=$((nok + 1))
		echo "bitflip restore $k: exact ($(($(s3_stat faults.bitflip) - f0)) flips)"
	else
		nfail=$((nfail + 1))
		line=$(tail -n 1 "$T/bf$k.err")
		case $st.$(grep -c '^walship: ' "$T/bf$k.err").$line in
		"6.1.walship: "*) ;;
		*) fail "bitflip restore $k: exit $st, want 6 and one 'walship: '" \
			"line, the last: $(cat "$T/bf$k.err")" ;;
		esac
		echo "$line" | grep -Eq 'generations/[0-9a-f]+/((wal|snapshots)/[0-9a-f_]+\.(wal|snapshot)|walship/(times|snapshots)/[0-9a-f_-]+\.times)\.lz4' ||
			fail "bitflip restore $k: exit $st, no object named: $line"
		echo "$line" | grep -Eiq 'checksum|lz4' ||
			fail "bitflip restore $k: exit $st, not a checksum/LZ4 failure: $line"
		for f in "$out" "$out"*; do
			[ ! -e "$f" ] || fail "bitflip restore $k failed but left $f"
		done
		echo "bitflip restore $k ($(($(s3_stat faults.bitflip) - f0)) flips): exit $st: $line"
	fi
done
s3_faults '{"clear":true}'
b1=$(s3_stat faults.bitflip)
[ $((b1 - b0)) -ge 6 ] || fail "only $((b1 - b0)) bit flips injected"
phase "bitflip restores: $nok exact, $nfail refused, $((b1 - b0)) flips"
