# bench/lib.sh: sourced by every bench/*.sh measurement.  POSIX sh (dash).
#
# Reuses tests/lib.sh (T, start_bg/stop_bg, wait_for, need_litestream, the
# exit trap that stops everything) and tests/s3 (s3rver behind the
# SigV4-verifying, request-counting proxy).  Sets on top of it:
#
#   BENCHW              the benchmark writer (build/bench/benchw)
#   TOOL / TOOL_NAME    the replicator under test ($1 of the script) and
#                       "walship" or "litestream" (from `TOOL version`)
#   BACKEND             file or s3 ($2)
#
# Helpers:
#   bench_backend           make the backend ready: s3 uses the S3 server of
#                           the driver ($BENCH_S3, started once per run) or
#                           starts one of its own
#   replica_block NAME IND  the YAML of one replica of BACKEND named NAME
#                           (directory $T/NAME or key prefix <run>/NAME),
#                           sync-interval $SYNC_INTERVAL (1s)
#   write_config CFG DB...  a config replicating each DB to replica "r<i>"
#                           (one replica each, the same YAML for both tools)
#   replica_root NAME       the directory (file) or the s3rver data
#                           directory (s3) that holds replica NAME's objects
#   replica_objects NAME    "KEY" lines of the complete objects of NAME
#   start_tool NAME CFG     TOOL replicate -config CFG, as background NAME
#   wait_snapshot NAME [S]  wait until replica NAME holds a snapshot
#   term_wait NAME [SECS]   SIGTERM NAME, poll every 10 ms until it exits
#                           (SECS, 30; then SIGKILL): sets TERM_ST (its exit
#                           status, or "timeout") and TERM_MS
#   proc_cpu_ticks PID      utime+stime of PID in clock ticks
#   proc_cpu_ms PID         the CPU time of PID in ms, to the ns (benchw
#                           -cpu: the process's CPU-time clock, every thread
#                           it ever had, the exited ones too): for idle
#                           windows, where ticks are too coarse
#   proc_kib PID FIELD      a /proc/PID/status field (VmHWM, VmRSS) in KiB
#   s3_ops                  "op=count ..." of the proxy's stats
#   need_awscli             AWSCLI: Debian's awscli (/usr/bin/aws, else the
#                           first aws on PATH), set up for the S3 server:
#                           path-style, signed payloads, no checksum
#                           headers the proxy cannot verify (its config in
#                           $T/aws.cfg, the key from the server's env)
#   aws_s3 ARGS...          AWSCLI s3 ARGS against the S3 server, quiet
#   now_ns                  CLOCK_REALTIME in ns
#   result KEY=VALUE...     print one result line "R measure=... tool=..."
#
# Every script prints its results as lines starting with "R " on stdout;
# everything else goes to stderr.
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
_bench_root=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BUILD:-$_bench_root/build}
case $BUILD in /*) ;; *) BUILD=$_bench_root/$BUILD ;; esac
WALSHIP=${WALSHIP:-$BUILD/walship}
TOOLS=${TOOLS:-$BUILD/tools}
BENCHW=${BENCHW:-$BUILD/bench/benchw}
TMPDIR=${BENCH_TMP:-$BUILD/bench/tmp}
mkdir -p "$TMPDIR"
export TMPDIR WALSHIP TOOLS BENCHW
WS_REPLICA=${BENCH_BACKEND:-${2:-file}}
[ "$WS_REPLICA" = s3 ] || WS_REPLICA=file
# shellcheck source=../tests/lib.sh
. "$_bench_root/tests/lib.sh"
ROOT=$_bench_root
SYNC_INTERVAL=${SYNC_INTERVAL:-1s}
CLK_TCK=$(getconf CLK_TCK)
RUN_ID=$(basename "$T")

TOOL=${1:-}
BACKEND=$WS_REPLICA
TOOL_NAME=none
if [ -n "$TOOL" ] && [ "$TOOL" != none ]; then
	case $TOOL in /*) ;; *) TOOL=$(pwd)/$TOOL ;; esac
	[ -x "$TOOL" ] || fail "$TOOL is not executable"
	case $("$TOOL" version 2>&1) in
	walship*) TOOL_NAME=walship ;;
	v0.3.*) TOOL_NAME=litestream ;;
	*) fail "$TOOL: neither walship nor Litestream v0.3 ($("$TOOL" version 2>&1))" ;;
	esac
fi

need_awscli() {
	if [ -z "${AWSCLI:-}" ]; then
		if [ -x /usr/bin/aws ]; then
			AWSCLI=/usr/bin/aws
		else
			AWSCLI=$(command -v aws) ||
				fail "aws is not installed (Debian package awscli: sh scripts/deps.sh bench)"
		fi
	fi
	# awscli 2.9 (Debian 12) signs the payload over http and sends
	# Content-MD5; later versions would add CRC32 checksums by default,
	# which the proxy refuses ("cannot verify"): only when required.
	printf '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n  payload_signing_enabled = true\n' >"$T/aws.cfg"
	AWS_CONFIG_FILE=$T/aws.cfg AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=
	AWS_EC2_METADATA_DISABLED=true AWS_REQUEST_CHECKSUM_CALCULATION=when_required
	AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
	export AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_PAGER AWS_EC2_METADATA_DISABLED \
		AWS_REQUEST_CHECKSUM_CALCULATION AWS_RESPONSE_CHECKSUM_VALIDATION
}

aws_s3() {
	"$AWSCLI" --endpoint-url "$S3_ENDPOINT" s3 "$@" --only-show-errors
}

now_ns() {
	date +%s%N
}

result() {
	echo "R tool=$TOOL_NAME backend=$BACKEND $*"
}

bench_backend() {
	[ "$BACKEND" = s3 ] || return 0
	if [ -n "${BENCH_S3:-}" ] && [ -f "$BENCH_S3/env" ]; then
		# The driver's server: not ours to stop (a symlink, so the exit
		# trap's rm -rf "$T" leaves it alone).
		ln -s "$BENCH_S3" "$T/s3"
		set -a
		# shellcheck disable=SC1091
		. "$T/s3/env"
		set +a
		# shellcheck source=../tests/s3/lib.sh
		. "$ROOT/tests/s3/lib.sh"
	else
		need_replica
	fi
}

replica_block() {
	_rb_pad=$(printf "%${2}s" "")
	echo "$_rb_pad- name: $1"
	if [ "$BACKEND" = s3 ]; then
		echo "$_rb_pad  type: s3"
		echo "$_rb_pad  bucket: $S3_BUCKET"
		echo "$_rb_pad  path: $RUN_ID/$1"
		echo "$_rb_pad  endpoint: $S3_ENDPOINT"
		echo "$_rb_pad  region: us-east-1"
		echo "$_rb_pad  force-path-style: true"
	else
		echo "$_rb_pad  type: file"
		echo "$_rb_pad  path: $T/$1"
	fi
	echo "$_rb_pad  sync-interval: $SYNC_INTERVAL"
}

write_config() {
	_wc_cfg=$1
	shift
	_wc_i=0
	{
		echo "dbs:"
		for _wc_db in "$@"; do
			echo "  - path: $_wc_db"
			echo "    replicas:"
			replica_block "r$_wc_i" 6
			_wc_i=$((_wc_i + 1))
		done
	} >"$_wc_cfg"
}

replica_root() {
	if [ "$BACKEND" = s3 ]; then
		echo "$S3_DATA_DIR/$S3_BUCKET/$RUN_ID/$1"
	else
		echo "$T/$1"
	fi
}

# "END_MS KEY" of every upload to replica NAME that completed (PutObject
# or CompleteMultipartUpload answered 200), from the proxy's request log;
# END_MS is when the proxy sent the answer (ms since the epoch).
s3_puts() {
	grep -F "\"path\":\"/$S3_BUCKET/$RUN_ID/$1/" "$S3_HOME/requests.jsonl" 2>/dev/null |
		grep -E '"op":"(PutObject|CompleteMultipartUpload)"' |
		grep -F '"status":"200"' |
		sed -E 's|^\{"t":([0-9]+),"ms":([0-9]+),.*"path":"/[^/]*/[^/]*/[^/]*/([^"?]*).*|\1 \2 \3|' |
		awk '{ printf "%.0f %s\n", $1 + $2, $3 }'
}

# The complete objects of replica NAME (keys under it).  Directory
# replicas write NAME.tmp and rename it.
replica_objects() {
	if [ "$BACKEND" = file ]; then
		_ro=$(replica_root "$1")
		[ -d "$_ro" ] || return 0
	fi
	if [ "$BACKEND" = s3 ]; then
		s3_puts "$1" | cut -d" " -f2
	else
		(cd "$_ro" && find . -type f ! -name '*.tmp' | sed 's|^\./||')
	fi
}

start_tool() {
	start_bg "$1" "$TOOL" replicate -config "$2"
}

has_snapshot() {
	replica_objects "$1" | grep -q '/snapshots/.*\.snapshot\.lz4$'
}

wait_snapshot() {
	wait_for "has_snapshot $1" "${2:-60}"
}

proc_cpu_ticks() {
	# Fields 14 and 15 (utime, stime) after the ")" of the command name.
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

proc_cpu_ms() {
	_pc=$("$BENCHW" -cpu "$1") || fail "benchw -cpu $1 failed"
	awk -v n="$_pc" 'BEGIN { printf "%.3f\n", n / 1e6 }'
}

proc_kib() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# The proxy's stats as "op=count" words, plus requests=N.
s3_ops() {
	s3_stats | node -e '
		let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
			const j = JSON.parse(s), o = j.ops || {};
			const w = ["requests=" + (j.requests || 0)];
			for (const k of Object.keys(o).sort()) w.push(k + "=" + o[k]);
			console.log(w.join(" "));
		});'
}

# Remove this run's objects from the shared S3 server's data (s3rver lists
# from its directory, so this is the same as deleting them).  A tool that
# was SIGKILLed may leave a PUT that s3rver is still writing, and rm -rf
# then meets a directory that gains a file: try again for up to 5 s, and
# only warn, since what is left over is scratch, not a result.
s3_cleanup() {
	[ "$BACKEND" = s3 ] || return 0
	_sc_n=0
	until rm -rf "${S3_DATA_DIR:?}/$S3_BUCKET/$RUN_ID" 2>/dev/null; do
		_sc_n=$((_sc_n + 1))
		if [ "$_sc_n" -ge 25 ]; then
			echo "warning: could not remove $S3_DATA_DIR/$S3_BUCKET/$RUN_ID" >&2
			return 0
		fi
		sleep 0.2
	done
}

# Run TOOL restore from replica NAME of CFG (the DB at DB) into OUT.
tool_restore() {
	"$TOOL" restore -config "$1" -replica "$2" -o "$4" "$3"
}

term_wait() {
	_tw_pid=$(bg_pid "$1") || fail "term_wait: no background process $1"
	_tw_t0=$(now_ns)
	_tw_end=$((_tw_t0 + ${2:-30} * 1000000000))
	kill -s TERM "$_tw_pid" 2>/dev/null || true
	TERM_ST=""
	while bg_running "$1"; do
		if [ "$(now_ns)" -ge "$_tw_end" ]; then
			kill -s KILL "$_tw_pid" 2>/dev/null || true
			TERM_ST=timeout
			break
		fi
		sleep 0.01
	done
	TERM_MS=$((($(now_ns) - _tw_t0) / 1000000))
	_tw_st=0
	_ws_reap "$1" || _tw_st=$?
	[ -n "$TERM_ST" ] || TERM_ST=$_tw_st
}
