# tests/lib.sh: sourced by every end-to-end test.  POSIX sh (dash).
#
#   #!/bin/sh
#   set -eu
#   . "$(dirname "$0")/../lib.sh"
#
# Sets ROOT (the source tree), WALSHIP (the binary), TOOLS (the directory of
# wsload and wscheck) and T (a fresh directory for this test, removed on
# exit), and exports XDG_RUNTIME_DIR=$T/run (mode 700), so that the lock
# files of walship and restore (rlock.h) stay with the test.  On exit, for
# any reason, every process started with start_bg is stopped (TERM, then
# KILL after 5 s); when the test failed, the tail of every $T/*.log is
# printed, then the reason.  KEEP=1 keeps $T.
#
# Helpers:
#   fail MSG...                 fail the test.  Inside $(...) or another
#                               subshell it ends only that subshell, but
#                               the failure is kept ($T/.failed): the next
#                               wait_for, or the test's exit, fails with
#                               that message.
#   skip MSG...                 a check this test cannot make here (a
#                               missing capability, say): say so, and
#                               tests/run counts it as skipped, never as
#                               passed; the test goes on (the caller
#                               leaves out that check).  With WS_NO_SKIP=1
#                               (CI) a skip is a failure.
#   skip_test MSG...            skip, then end the test (exit 77): the
#                               rest of it cannot run here
#   wait_for 'COND' [SECS]      poll COND (eval'd) every 0.1 s until true;
#                               fail after SECS (default 10) times
#                               WS_WAIT_SCALE (default 1; make tsan sets
#                               it: everything runs slower there).  Never
#                               synchronise with a bare sleep.
#   start_bg NAME CMD...        run CMD in the background, output appended
#                               to $T/NAME.log, pid in $T/.bg/NAME
#   bg_pid NAME / bg_running NAME
#   stop_bg NAME [SIGNAL]       send SIGNAL (TERM), wait (30 s, then KILL
#                               and fail), return the exit status:
#                               `stop_bg x || fail "x exited $?"`
#   wait_bg NAME [SECS]         wait for a natural exit, return its status
#   flip_byte FILE OFFSET       invert every bit of that byte of FILE
#   rel_count KEY [N]           add N (1) to this run's reliability counter
#                               KEY (tests/reliability/run reports them):
#                               assert_restored, assert_equal and
#                               pitr_seq count the checks they pass,
#                               stop_bg NAME KILL counts a kill, and the
#                               exit counts the S3 proxy's injected faults
#   start_writer NAME DB CSV [ARGS...]
#                               start_bg NAME "$TOOLS/wsload" DB ARGS...
#                               -log CSV, then wait_for DB to exist
#   log_has NAME ERE            grep -E the output of NAME (or file $T/NAME)
#   csv_last_seq CSV            the last seq wsload logged (0 if none)
#   assert_restored DB SEQ CSV  the full oracle: wscheck -csv CSV DB is ok
#                               (integrity, wsload's schema, every txlog
#                               row as CSV logged it, the digest of every
#                               row of t) at exactly seq SEQ, or, with
#                               SEQ ">=N", at some seq of at least N (a
#                               restore taken while the writer runs).
#                               Sets AR_SEQ to the seq found.
#   assert_equal A B            wscheck -eq A B says equal
#   probe_seq BIN URL           `BIN restore -o $T/.probe/db URL` and
#                               print the seq it restores (0 if the
#                               restore fails): wait_for '[ "$(probe_seq
#                               ...)" -ge $n ]'.  A restore that succeeds
#                               but fails wscheck (without a CSV) fails
#                               the test.
#   wait_restores URL N CSV [SECS]  wait until walship restores URL to seq
#                               N (probe_seq; SECS default 15), then check
#                               that restore with the full oracle
#   pitr_seq URL CSV T_NS       restore at a time; print the seq (checked
#                               with the full oracle against CSV)
#   pitr_expect URL CSV I       60 ms after commit I the restore gives I
#   records_of URL              walship's commit records in URL (every
#                               generation's walship/times/ objects),
#                               one time (us) a line, sorted, into the
#                               file $RECS: a restore at time T must
#                               include every commit recorded by T
#   good_replica URL ROWS       a replica to damage: database $T/db
#                               filled with ROWS rows, then written at
#                               60 tx/s (CSV $T/log.csv) while walship
#                               replicates to URL, until a second WAL
#                               index has begun; restored to $T/clean.db
#                               and checked; sets last (its seq) and gen
#   bad_case DESC WHY           for tests that run many cases: count a
#                               problem of case $n in $bad, print it with
#                               the stderr the case left in $T/case.err,
#                               and keep it in $T/bad.txt for the summary
#   need_walship / need_tools   fail unless the binaries are built
#   need_litestream             install Litestream v0.3.13 from npm once
#                               (build/npm) and set LITESTREAM
#
# Replicas on either backend.  WS_REPLICA picks it: "file" (the default,
# directories under $T) or "s3" (s3rver behind the verifying proxy of
# tests/s3, one per test).  NAME is a relative path ("replica",
# "multi/ra"): the directory $T/NAME, or the key prefix NAME in the bucket.
# KEYs are relative to the replica's root ("generations/<gen>/wal/...").
#   need_replica                need_walship and need_tools, then start
#                               the backend (s3: s3_start); call it at the
#                               top level, before the others
#   need_s3                     need_replica on S3 alone, for a test that
#                               runs only there (tests/run runs it once)
#   replica_url NAME            the replica's URL: file://$T/NAME, or
#                               s3://BUCKET/NAME?endpoint=...
#   replica_yaml NAME INDENT    the config-file lines of that replica
#                               (path:, or type:/bucket:/path:/endpoint:/
#                               force-path-style:), each line indented by
#                               INDENT spaces, for a "- name: ..." item
#   db_config CFG DB NAME [KEY=VALUE...] [-- KEY=VALUE...]
#                               write the config file CFG: database DB,
#                               with the KEYs before "--", replicated to
#                               replica NAME (replica_yaml) with the KEYs
#                               after it, as "KEY: VALUE" lines; the
#                               replica is named $WS_REPLICA (as from a
#                               url:) unless a name=... says otherwise
#   replica_ls URL [PREFIX]     "KEY SIZE" lines of the objects under
#                               PREFIX (default generations/, all there
#                               is), sorted (wsobj list).  PREFIX ends in
#                               '/': S3 lists of "" or "x" give keys
#                               "/..." or "x//..." (replica_s3.c)
#   replica_times URL [PREFIX]  "KEY SIZE MTIME_MS" lines, as replica_ls,
#                               with the object times the backend lists
#   replica_gens URL            its generations, one a line, sorted
#   replica_files URL PREFIX    the keys under PREFIX with PREFIX removed
#   replica_get URL KEY FILE / replica_put URL KEY FILE / replica_del URL KEY
#   replica_pull URL DIR        copy every object (under generations/) to
#                               DIR/KEY (nothing to do when URL is
#                               file://DIR)
#   replica_push DIR URL        every file under DIR to the object of that
#                               relative name (nothing when URL is file://DIR)
#
# Lines that must fail are written `cmd && fail "why"`; under set -e that
# line is then never the last of the script.

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WALSHIP=${WALSHIP:-$ROOT/build/walship}
TOOLS=${TOOLS:-$ROOT/build/tools}
case $WALSHIP in /*) ;; *) WALSHIP=$(pwd)/$WALSHIP ;; esac
case $TOOLS in /*) ;; *) TOOLS=$(pwd)/$TOOLS ;; esac
WS_REPLICA=${WS_REPLICA:-file}
case $WS_REPLICA in
file | s3) ;;
*)
	echo "tests/lib.sh: WS_REPLICA is \"$WS_REPLICA\", want file or s3" >&2
	exit 2
	;;
esac
export WS_REPLICA

WS_TEST=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/walship-$WS_TEST.XXXXXX")
mkdir "$T/.bg"
mkdir -m 700 "$T/run"
XDG_RUNTIME_DIR=$T/run
WS_FAILMSG=""
WS_SKIPPED=""
export WALSHIP TOOLS T XDG_RUNTIME_DIR

fail() {
	WS_FAILMSG="$*"
	[ -s "$T/.failed" ] || printf '%s\n' "$*" >"$T/.failed"
	exit 1
}

# A failure recorded by fail in a subshell: fail here too.
_ws_failed() {
	[ -s "$T/.failed" ] || return 0
	WS_FAILMSG=$(cat "$T/.failed")
	exit 1
}

skip() {
	[ -z "${WS_NO_SKIP:-}" ] || fail "skipped, and WS_NO_SKIP forbids it: $*"
	echo "skip $WS_TEST: $*"
	[ -z "${WS_SKIP_LOG:-}" ] || printf '%s\n' "$*" >>"$WS_SKIP_LOG"
}

skip_test() {
	skip "$@"
	WS_SKIPPED=1
	exit 77
}

_ws_now_ms() {
	date +%s%3N
}

wait_for() {
	_wf_cond=$1
	_wf_secs=$(awk "BEGIN { print ${2:-10} * ${WS_WAIT_SCALE:-1} }")
	_wf_end=$(($(_ws_now_ms) + $(awk "BEGIN { print int($_wf_secs * 1000) }")))
	until eval "$_wf_cond"; do
		_ws_failed
		[ "$(_ws_now_ms)" -lt "$_wf_end" ] ||
			fail "timed out after ${_wf_secs}s waiting for: $_wf_cond"
		sleep 0.1
	done
	_ws_failed
}

bg_pid() {
	cat "$T/.bg/$1" 2>/dev/null
}

# True while NAME's process exists and is not a zombie.
bg_running() {
	_br_pid=$(bg_pid "$1") || return 1
	_br_st=$(sed 's/.*) //' "/proc/$_br_pid/stat" 2>/dev/null) || return 1
	case $_br_st in Z* | X* | "") return 1 ;; esac
	return 0
}

start_bg() {
	_sb_name=$1
	shift
	! bg_running "$_sb_name" || fail "start_bg: $_sb_name is already running"
	: >>"$T/$_sb_name.log"
	"$@" >>"$T/$_sb_name.log" 2>&1 &
	echo $! >"$T/.bg/$_sb_name"
}

# The usual writer: wsload on DB, logging every commit to CSV, with ARGS
# as its other flags.  Returns once DB exists (wsload has created it).
start_writer() {
	_sw_name=$1
	_sw_db=$2
	_sw_csv=$3
	shift 3
	start_bg "$_sw_name" "$TOOLS/wsload" "$_sw_db" "$@" -log "$_sw_csv"
	wait_for "[ -f '$_sw_db' ]"
}

# An application's connection to DB (wsload's schema) that stays open as
# background process NAME, so that the -wal is neither checkpointed nor
# removed when each writer closes.  Returns once it is open.
start_holder() {
	start_bg "$1" python3 -c '
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1])
c.execute("SELECT count(*) FROM txlog").fetchall()
print("open", flush=True)
time.sleep(3600)
' "$2"
	wait_for "log_has $1 '^open'" 10
}

# Reap NAME once it has exited; return its status.
_ws_reap() {
	_wr_pid=$(bg_pid "$1") || fail "no background process $1"
	_wr_st=0
	wait "$_wr_pid" || _wr_st=$?
	rm -f "$T/.bg/$1"
	return $_wr_st
}

stop_bg() {
	_sp_pid=$(bg_pid "$1") || fail "stop_bg: no background process $1"
	kill -s "${2:-TERM}" "$_sp_pid" 2>/dev/null || true
	case ${2:-TERM} in KILL | 9) rel_count kills ;; esac
	_sp_end=$(($(_ws_now_ms) + 30000))
	while bg_running "$1"; do
		if [ "$(_ws_now_ms)" -ge "$_sp_end" ]; then
			kill -s KILL "$_sp_pid" 2>/dev/null || true
			_ws_reap "$1" || true
			fail "$1 (pid $_sp_pid) did not exit within 30 s of SIG${2:-TERM}"
		fi
		sleep 0.1
	done
	_ws_reap "$1"
}

wait_bg() {
	bg_pid "$1" >/dev/null || fail "wait_bg: no background process $1"
	wait_for "! bg_running $1" "${2:-60}"
	_ws_reap "$1"
}

log_has() {
	_lh_f=$T/$1.log
	[ -f "$_lh_f" ] || _lh_f=$T/$1
	grep -q -s -E -e "$2" "$_lh_f"
}

csv_last_seq() {
	_cl=$(tail -n 1 "$1" 2>/dev/null | cut -d, -f1)
	echo "${_cl:-0}"
}

# flip_byte FILE OFFSET: change the byte at OFFSET of FILE (every bit
# inverted, so it always differs: writing a fixed value changes nothing
# where the byte already has it).
flip_byte() {
	_fb=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	[ -n "$_fb" ] || fail "flip_byte $1 $2: no byte there"
	# shellcheck disable=SC2059 # the format is the byte, in octal
	printf "\\$(printf %03o $((_fb ^ 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

rel_count() {
	[ -z "${WS_REL_LOG:-}" ] || echo "$1 ${2:-1}" >>"$WS_REL_LOG"
}

assert_restored() {
	[ $# -eq 3 ] && [ -n "$2" ] && [ -f "$3" ] ||
		fail "assert_restored $*: want DB SEQ CSV (an existing CSV)"
	case $2 in
	">="*) _ar_want="-min ${2#>=}" ;;
	*) _ar_want="-want $2" ;;
	esac
	# shellcheck disable=SC2086 # "-want N" or "-min N"
	_ar_out=$("$TOOLS/wscheck" -csv "$3" $_ar_want "$1" 2>&1) ||
		fail "oracle: $_ar_out"
	case $_ar_out in
	"ok seq="*) ;;
	*) fail "$1: unexpected wscheck output: $_ar_out" ;;
	esac
	AR_SEQ=${_ar_out#ok seq=}
	AR_SEQ=${AR_SEQ%% *}
	rel_count restores_verified
}

assert_equal() {
	_ae_out=$("$TOOLS/wscheck" -eq "$1" "$2" 2>&1) ||
		fail "O3 failed: $1 and $2: $_ae_out"
	rel_count equal_checks
}

probe_seq() {
	rm -rf "$T/.probe"
	mkdir "$T/.probe"
	if "$1" restore -o "$T/.probe/db" "$2" >"$T/.probe/log" 2>&1; then
		_pq=$("$TOOLS/wscheck" -allow-empty "$T/.probe/db" 2>&1) ||
			fail "$1 restore $2 succeeded with a database that is not a committed prefix: $_pq"
		_pq=${_pq#ok seq=}
		echo "${_pq%% *}"
	else
		echo 0
	fi
}

wait_restores() {
	wait_for '[ "$(probe_seq "$WALSHIP" "'"$1"'")" -eq '"$2"' ]' "${4:-15}"
	assert_restored "$T/.probe/db" "$2" "$3"
}

# pitr_seq URL CSV T_NS: restore URL at time T_NS (ns since the epoch,
# turned into RFC 3339), check that the result is a committed prefix of
# CSV, print its seq.  The restore's output is left in $T/.pitr.log.
pitr_seq() {
	_ps_t=$(date -u -d "@$(($3 / 1000000000))" +%Y-%m-%dT%H:%M:%S).$(printf %09d $(($3 % 1000000000)))Z
	rm -rf "$T/.pitr"
	mkdir "$T/.pitr"
	"$WALSHIP" restore -timestamp "$_ps_t" -o "$T/.pitr/db" "$1" \
		>"$T/.pitr.log" 2>&1 ||
		fail "restore at $_ps_t failed: $(tail -3 "$T/.pitr.log")"
	_ps_o=$("$TOOLS/wscheck" -csv "$2" -allow-empty "$T/.pitr/db" 2>&1) ||
		fail "restore at $_ps_t is not a committed prefix: $_ps_o"
	rel_count pitr_restores_verified
	_ps_o=${_ps_o#ok seq=}
	echo "${_ps_o%% *}"
}

records_of() {
	RECS=$T/recs-$(echo "$1" | cksum | cut -d' ' -f1)
	for _ro_k in $(replica_files "$1" generations/ | grep '/walship/times/'); do
		replica_get "$1" "generations/$_ro_k" "$T/.rec.lz4" ||
			fail "cannot get $_ro_k"
		lz4 -q -dc "$T/.rec.lz4" | python3 -c '
import struct, sys
b = sys.stdin.buffer.read()
assert b[:8] == b"WSTIMES1", "bad magic"
for i in range(8, len(b), 24):
    print(struct.unpack(">IIQq", b[i:i + 24])[3])'
	done | sort -n >"$RECS"
	[ -s "$RECS" ] || fail "no commit records in $1"
}

# pitr_expect URL CSV I: a restore 60 ms after commit I ended must give
# exactly I.  Returns 1 (checking nothing) when commit I+1 began within
# those 60 ms: no clean point.
pitr_expect() {
	_pe_e=$(awk -F, -v i="$3" '$1 == i { print $3 }' "$2")
	_pe_b=$(awk -F, -v i="$3" '$1 == i + 1 { print $2 }' "$2")
	[ -n "$_pe_e" ] || fail "no commit $3 in $2"
	# The last millisecond before the next commit begins: walship
	# records a commit when it sees it (never before), which takes
	# longer on a loaded machine, so the writer's pause (wsload -gap)
	# is the margin, not a fixed delay.
	_pe_t=$((_pe_e + 60000000))
	[ -z "$_pe_b" ] || _pe_t=$((_pe_b - 1000000))
	if [ "$_pe_t" -lt $((_pe_e + 60000000)) ]; then
		return 1
	fi
	_pe_got=$(pitr_seq "$1" "$2" "$_pe_t")
	[ "$_pe_got" = "$3" ] || fail "$(((_pe_t - _pe_e) / 1000000)) ms after commit $3 (1 ms before the next began): restored seq $_pe_got"
}

# held_in_linkat CMD...: run CMD under strace with every linkat(2)
# held 3 s before it runs (walship publishes a restored database with
# linkat), in the background as "traced"; held_pid then waits until a
# thread of the traced process is held there and prints its PID.  x86_64
# only (the syscall number): held_signal skips elsewhere.  LeakSanitizer
# cannot run under ptrace.
held_in_linkat() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		start_bg traced strace -f -qq -o /dev/null -e trace=linkat \
		-e inject=linkat:delay_enter=3000000 "$@"
}
held_pid() {
	_hp_end=$(($(_ws_now_ms) + 60000))
	_hp_s=$(bg_pid traced)
	while :; do
		for _hp_p in $(pgrep -P "$_hp_s"); do
			if cat /proc/"$_hp_p"/task/*/syscall 2>/dev/null | grep -q '^265 '; then
				echo "$_hp_p"
				return 0
			fi
		done
		bg_running traced || fail "the traced command ended before its linkat"
		[ "$(_ws_now_ms)" -lt "$_hp_end" ] || fail "no linkat within 60 s"
		sleep 0.01
	done
}

# held_signal SIG SECS WHAT CMD...: CMD runs as "traced" (held_in_linkat;
# its output in $T/traced.log) and gets SIG (TERM, INT...) while one of
# its threads is held in the linkat that publishes a restored database;
# it must then exit 0 within SECS, or the test fails naming WHAT.  Where
# linkat cannot be held (not x86_64) it skips, naming WHAT, and returns
# 1: the caller checks the rest only when it returns 0.
held_signal() {
	_hs_sig=$1 _hs_secs=$2 _hs_what=$3
	shift 3
	if [ "$(uname -m)" != x86_64 ]; then
		skip "$_hs_what needs x86_64 (linkat's number)"
		return 1
	fi
	held_in_linkat "$@"
	_hs_pid=$(held_pid) || _ws_failed
	kill -s "$_hs_sig" "$_hs_pid" || fail "$_hs_what: kill -s $_hs_sig $_hs_pid failed"
	_hs_st=0
	wait_bg traced "$_hs_secs" || _hs_st=$?
	[ "$_hs_st" -eq 0 ] ||
		fail "$_hs_what: SIG$_hs_sig while publishing: exit $_hs_st: $(tail -n 3 "$T/traced.log")"
}

good_replica() {
	"$TOOLS/wsload" "$T/db" -rate 0 -count "$2" -log "$T/log.csv" \
		2>"$T/wsload0.log" || fail "wsload failed"
	start_writer wsload "$T/db" "$T/log.csv" -rate 60
	start_bg walship "$WALSHIP" replicate "$T/db" "$1"
	wait_for "[ -n \"\$(replica_files '$1' generations/ 2>/dev/null |
		grep '^[^/]*/wal/00000001_')\" ]" 60
	stop_bg wsload || fail "wsload exited $? on SIGTERM"
	last=$(csv_last_seq "$T/log.csv")
	stop_bg walship || fail "walship exited $? on SIGTERM"
	"$WALSHIP" restore -o "$T/clean.db" "$1" 2>"$T/clean.log" ||
		fail "restore of the good replica failed: $(cat "$T/clean.log")"
	assert_restored "$T/clean.db" "$last" "$T/log.csv"
	gen=$(replica_gens "$1")
}

bad_case() {
	bad=$((bad + 1))
	{
		echo "case $n ($1): $2"
		sed 's/^/    stderr: /' "$T/case.err"
	} | tee -a "$T/bad.txt"
}

need_tools() {
	for _nt in wsload wscheck; do
		[ -x "$TOOLS/$_nt" ] || fail "$TOOLS/$_nt is not built (make all)"
	done
}

need_walship() {
	[ -x "$WALSHIP" ] || fail "$WALSHIP is not built (make all)"
}

need_litestream() {
	_nl_dir=$ROOT/build/npm
	_nl_pkg=@flydotio/litestream-linux-x64@1.0.1
	LITESTREAM=$_nl_dir/node_modules/@flydotio/litestream-linux-x64/litestream
	if [ ! -x "$LITESTREAM" ]; then
		mkdir -p "$_nl_dir"
		echo "installing Litestream v0.3.13 (npm $_nl_pkg) into $_nl_dir"
		npm install --no-save --no-audit --no-fund --prefix "$_nl_dir" \
			"$_nl_pkg" >"$T/npm.log" 2>&1 ||
			fail "npm install $_nl_pkg failed (see npm.log above)"
		[ -x "$LITESTREAM" ] || fail "npm installed $_nl_pkg but $LITESTREAM is missing"
	fi
	_nl_v=$("$LITESTREAM" version 2>&1) || fail "$LITESTREAM version failed: $_nl_v"
	[ "$_nl_v" = v0.3.13 ] || fail "$LITESTREAM version is \"$_nl_v\", want v0.3.13"
	export LITESTREAM
}

need_replica() {
	need_walship
	need_tools
	[ -x "$TOOLS/wsobj" ] || fail "$TOOLS/wsobj is not built (make all)"
	[ "$WS_REPLICA" = s3 ] || return 0
	[ ! -f "$T/s3/env" ] || return 0
	# shellcheck source-path=SCRIPTDIR source=s3/lib.sh
	. "$ROOT/tests/s3/lib.sh"
	s3_start
}

need_s3() {
	WS_REPLICA=s3
	need_replica
}

# Fails (status 1, a message on stderr) rather than calling fail, so
# that `url=$(replica_url x)` stops the test under set -e.
_ws_replica_ready() {
	[ "$WS_REPLICA" = file ] || [ -f "$T/s3/env" ] && return 0
	echo "tests/lib.sh: call need_replica first (WS_REPLICA=s3)" >&2
	return 1
}

replica_url() {
	_ws_replica_ready || return 1
	if [ "$WS_REPLICA" = s3 ]; then
		echo "s3://$S3_BUCKET/$1?endpoint=$S3_ENDPOINT&force-path-style=true"
	else
		echo "file://$T/$1"
	fi
}

replica_yaml() {
	_ws_replica_ready || return 1
	_ry_pad=$(printf "%${2}s" "")
	if [ "$WS_REPLICA" = s3 ]; then
		printf '%stype: s3\n' "$_ry_pad"
		printf '%sbucket: %s\n' "$_ry_pad" "$S3_BUCKET"
		printf '%spath: %s\n' "$_ry_pad" "$1"
		printf '%sendpoint: %s\n' "$_ry_pad" "$S3_ENDPOINT"
		printf '%sforce-path-style: true\n' "$_ry_pad"
	else
		printf '%spath: %s\n' "$_ry_pad" "$T/$1"
	fi
}

db_config() {
	_dc_cfg=$1
	_dc_db=$2
	_dc_yaml=$(replica_yaml "$3" 8) || return 1
	shift 3
	{
		echo "dbs:"
		echo "  - path: $_dc_db"
		while [ $# -gt 0 ] && [ "$1" != -- ]; do
			echo "    ${1%%=*}: ${1#*=}"
			shift
		done
		[ $# -eq 0 ] || shift
		echo "    replicas:"
		_dc_name=$WS_REPLICA
		for _dc_kv; do
			case $_dc_kv in name=*) _dc_name=${_dc_kv#name=} ;; esac
		done
		echo "      - name: $_dc_name"
		echo "$_dc_yaml"
		for _dc_kv; do
			case $_dc_kv in
			name=*) ;;
			*) echo "        ${_dc_kv%%=*}: ${_dc_kv#*=}" ;;
			esac
		done
	} >"$_dc_cfg"
}

replica_ls() {
	"$TOOLS/wsobj" "$1" list "${2:-generations/}"
}

replica_times() {
	"$TOOLS/wsobj" "$1" times "${2:-generations/}"
}

# (wsobj's status is kept: a failed listing is not an empty one.)
replica_gens() {
	_rg=$(replica_ls "$1" generations/) || return 1
	[ -z "$_rg" ] || echo "$_rg" | cut -d/ -f2 | sort -u
}

replica_files() {
	_rf=$(replica_ls "$1" "$2") || return 1
	[ -z "$_rf" ] || echo "$_rf" | cut -d" " -f1 | cut -c$((${#2} + 1))-
}

replica_get() {
	"$TOOLS/wsobj" "$1" get "$2" >"$3"
}

replica_put() {
	"$TOOLS/wsobj" "$1" put "$2" <"$3"
}

replica_del() {
	"$TOOLS/wsobj" "$1" del "$2"
}

replica_pull() {
	[ "$1" != "file://$2" ] || return 0
	_rl=$(replica_ls "$1") || return 1
	for _rl_k in $(echo "$_rl" | cut -d" " -f1); do
		mkdir -p "$2/$(dirname "$_rl_k")" &&
			replica_get "$1" "$_rl_k" "$2/$_rl_k" || return 1
	done
}

# Eight PUTs at a time; waits for its own processes only (a bare `wait`
# would wait for start_bg's too).
replica_push() {
	[ "$2" != "file://$1" ] || return 0
	_rp_keys=$(cd "$1" && find . -type f | sed 's|^\./||' | sort) || return 1
	_rp_st=0
	_rp_n=0
	_rp_pids=""
	for _rp_k in $_rp_keys ""; do
		if [ -n "$_rp_k" ]; then
			replica_put "$2" "$_rp_k" "$1/$_rp_k" &
			_rp_pids="$_rp_pids $!"
			_rp_n=$((_rp_n + 1))
		fi
		if [ -z "$_rp_k" ] || [ $((_rp_n % 8)) -eq 0 ]; then
			for _rp_p in $_rp_pids; do
				wait "$_rp_p" || _rp_st=1
			done
			_rp_pids=""
		fi
	done
	return $_rp_st
}

# Stop whatever is still running, show the logs of a failed test, and
# remove $T.  Runs on every exit; INT, TERM and HUP are turned into exits.
_ws_cleanup() {
	_wc_st=$?
	set +e
	if [ -s "$T/.failed" ]; then
		# A failure inside a subshell that the test went on past.
		[ "$_wc_st" -ne 0 ] || _wc_st=1
		[ -n "$WS_FAILMSG" ] || WS_FAILMSG=$(cat "$T/.failed")
	fi
	trap - EXIT INT TERM HUP
	# The S3 proxy logs each fault it injected ("fault KIND on ...").
	[ ! -f "$T/s3/proxy.log" ] || [ -z "${WS_REL_LOG:-}" ] ||
		sed -n 's/.*fault \([^ ]*\) on .*/faults_\1 1/p' "$T/s3/proxy.log" \
			>>"$WS_REL_LOG"
	for _wc_f in "$T"/.bg/*; do
		[ -f "$_wc_f" ] && kill -s TERM "$(cat "$_wc_f")" 2>/dev/null
	done
	for _wc_f in "$T"/.bg/*; do
		[ -f "$_wc_f" ] || continue
		_wc_n=$(basename "$_wc_f")
		_wc_i=0
		while bg_running "$_wc_n" && [ $_wc_i -lt 50 ]; do
			sleep 0.1
			_wc_i=$((_wc_i + 1))
		done
		bg_running "$_wc_n" && kill -s KILL "$(cat "$_wc_f")" 2>/dev/null
		wait "$(cat "$_wc_f")" 2>/dev/null
	done
	if [ "$_wc_st" -eq 77 ] && [ -n "$WS_SKIPPED" ]; then
		: # skipped (skip_test): not a failure
	elif [ "$_wc_st" -ne 0 ]; then
		for _wc_f in "$T"/*.log; do
			[ -f "$_wc_f" ] || continue
			echo "--- $(basename "$_wc_f") (last 10 lines)"
			tail -n 10 "$_wc_f"
		done
		# A sanitizer's report (an abort at exit, status 134) is what
		# explains the failure: its first lines, last, where tests/run's
		# tail of the output keeps them.
		for _wc_f in "$T"/*.log; do
			grep -q -E '^==[0-9]+==ERROR|^SUMMARY: |runtime error:' "$_wc_f" 2>/dev/null ||
				continue
			echo "--- $(basename "$_wc_f"): a sanitizer's report"
			grep -E -A 12 '^==[0-9]+==ERROR|runtime error:' "$_wc_f" | head -n 14
		done
		if [ -n "$WS_FAILMSG" ]; then
			echo "FAIL: $WS_FAILMSG"
			[ ! -s "$T/.failed" ] || [ "$(cat "$T/.failed")" = "$WS_FAILMSG" ] ||
				echo "  (first failure, in a subshell: $(cat "$T/.failed"))"
		elif [ "$_wc_st" -gt 128 ]; then
			echo "FAIL: stopped by a signal (exit status $_wc_st)"
		else
			echo "FAIL: exit status $_wc_st (a command failed under set -e)"
		fi
	fi
	if [ -n "${KEEP:-}" ]; then
		echo "kept $T"
	else
		rm -rf "$T"
	fi
	exit "$_wc_st"
}
trap _ws_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
