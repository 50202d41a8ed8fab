# tests/s3/lib.sh: S3 helpers for end-to-end tests.  POSIX sh (dash).
# Source it after tests/lib.sh:
#
#   . "$(dirname "$0")/../lib.sh"
#   . "$ROOT/tests/s3/lib.sh"
#   s3_start
#
# s3_start runs tests/s3/start.sh in $T/s3 (s3rver behind the verifying,
# fault-injecting proxy; see tests/s3/README.md), exports what DIR/env holds
# (S3_ENDPOINT S3_BUCKET S3_PROXY_ADMIN AWS_ACCESS_KEY_ID
# AWS_SECRET_ACCESS_KEY AWS_REGION, ...) and registers both servers as
# background processes s3rver and s3proxy, so tests/lib.sh's exit trap stops
# them.  Their logs show up as $T/s3rver.log and $T/s3proxy.log.  (They are
# not children of the test shell: stop them with the helpers below, not
# stop_bg.)
#
# Helpers:
#   s3_start                    start both servers (fails the test if not)
#   s3_stats                    print the proxy's stats JSON
#   s3_stat PATH                print one stats field, PATH dotted:
#                               s3_stat faults.500, s3_stat ops.PutObject
#                               (0 when absent); in $(...), so
#                               n=$(s3_stat ops.GetObject) || fail ...
#   s3_faults JSON              POST /__admin/faults: {"next":"500","n":2},
#                               {"rate":0.1,"kinds":["500","reset"],"seed":1},
#                               {"clear":true}
#   s3_config JSON              POST /__admin/config: {"clock_offset_s":1200}
#   s3_reset [all]              zero the stats (all: also faults and config)
#   s3_stop_server              stop s3rver (the proxy stays; requests to it
#                               get a connection reset meanwhile)
#   s3_start_server             start s3rver again, same port, same data
#   s3_restart_server           both
#   s3_url KEY                  print $S3_ENDPOINT/$S3_BUCKET/KEY

S3_HOME=$T/s3

_s3_admin() {
	node "$ROOT/tests/s3/admin.js" "$S3_PROXY_ADMIN" "$@"
}

_s3_load() {
	[ -f "$S3_HOME/env" ] || fail "s3: $S3_HOME/env is missing"
	set -a
	. "$S3_HOME/env"
	set +a
	echo "$S3RVER_PID" >"$T/.bg/s3rver"
	echo "$PROXY_PID" >"$T/.bg/s3proxy"
}

s3_start() {
	"$ROOT/tests/s3/start.sh" "$S3_HOME" >>"$T/s3-start.log" 2>&1 ||
		fail "s3: $(tail -n 1 "$T/s3-start.log")"
	_s3_load
	ln -sf s3/s3rver.log "$T/s3rver.log"
	ln -sf s3/proxy.log "$T/s3proxy.log"
}

s3_stats() {
	_s3_admin get stats
}

s3_stat() {
	_s3_admin field stats "$1"
}

s3_faults() {
	_s3_admin post faults "$1" >/dev/null 2>"$T/.s3-admin.err" ||
		fail "s3_faults $1: $(cat "$T/.s3-admin.err")"
}

s3_config() {
	_s3_admin post config "$1" >/dev/null 2>"$T/.s3-admin.err" ||
		fail "s3_config $1: $(cat "$T/.s3-admin.err")"
}

s3_reset() {
	_s3_r=reset
	[ "${1:-}" != all ] || _s3_r='reset?all=1'
	_s3_admin post "$_s3_r" >/dev/null 2>"$T/.s3-admin.err" ||
		fail "s3_reset: $(cat "$T/.s3-admin.err")"
}

s3_stop_server() {
	"$ROOT/tests/s3/stop.sh" -server "$S3_HOME" >>"$T/s3-start.log" 2>&1 ||
		fail "s3: $(tail -n 1 "$T/s3-start.log")"
	rm -f "$T/.bg/s3rver"
}

s3_start_server() {
	"$ROOT/tests/s3/start.sh" -server "$S3_HOME" >>"$T/s3-start.log" 2>&1 ||
		fail "s3: $(tail -n 1 "$T/s3-start.log")"
	_s3_load
}

s3_restart_server() {
	s3_stop_server
	s3_start_server
}

s3_url() {
	echo "$S3_ENDPOINT/$S3_BUCKET/$1"
}
