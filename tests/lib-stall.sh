# tests/lib-stall.sh: sourced after tests/lib.sh by the tests of the
# states in which walship cannot make progress (36, 37, 38).  POSIX sh.
#
# Each such state must be said when it begins ("stalled: ..." naming the
# thing), cost no CPU while it lasts (walship waits on a timer or an
# event), not flood the log, and be said when it ends ("no longer stalled
# after ...").
#
#   cpu_ticks NAME              utime + stime of NAME's process (start_bg),
#                               in clock ticks
#   log_lines NAME              lines in NAME's log so far
#   stall_begins NAME ERE [SECS]
#                               a line "stalled: " matching ERE appears in
#                               NAME's log within SECS (5)
#   stall_ends NAME ERE [SECS]  a line "no longer stalled after " matching
#                               ERE appears within SECS (60: the back-off
#                               is up to 30 s)
#   stall_quiet NAME SECS MAX   over the next SECS seconds NAME uses under
#                               5 % of a core and logs at most MAX lines
#                               (a spinning loop used 45 to 100 %)
#   need_nobody                 skip the test (skip_test, tests/lib.sh)
#   $NOBODY CMD...              unless it runs as root with a user nobody
#                               and setpriv; then $NOBODY (unquoted) runs
#                               CMD as nobody: setpriv execs CMD, so
#                               start_bg NAME $NOBODY CMD records CMD's
#                               own pid
#   restored_at NAME URL CSV    stop walship NAME (start_bg) once URL
#                               restores the last commit of CSV, then
#                               restore URL to $T/NAME.restored: exactly
#                               that commit (assert_restored)
#   mount_small_meta DIR [SIZE] mount a tmpfs of SIZE (1m) on DIR (created,
#                               mode 755), for a disk that fills up,
#                               unmounted at exit (each one mounted); 1
#                               when that cannot be done (not root, or
#                               mount refused), and the caller skips

# The exit trap once a tmpfs is mounted: unmount each (newest first),
# then tests/lib.sh's trap.  (No name holds a newline: all are under $T.)
_msm_dirs=""
_unmount_meta() {
	_um_st=$?
	set +e
	printf '%s' "$_msm_dirs" | while IFS= read -r _um_d; do
		umount -l "$_um_d"
	done
	(exit "$_um_st")
	_ws_cleanup
}

mount_small_meta() {
	mkdir -p "$1"
	[ "$(id -u)" -eq 0 ] || return 1
	mount -t tmpfs -o "size=${2:-1m},mode=755" tmpfs "$1" 2>/dev/null ||
		return 1
	_msm_dirs="$1
$_msm_dirs"
	# Unmounted before tests/lib.sh's own exit trap removes $T.
	trap _unmount_meta EXIT
}

restored_at() {
	_ra_n=$(csv_last_seq "$3")
	wait_for '[ "$(probe_seq "$WALSHIP" "'"$2"'")" -eq '"$_ra_n"' ]' 30
	stop_bg "$1" || fail "$1: walship exited $? on SIGTERM"
	rm -f "$T/$1.restored"
	"$WALSHIP" restore -o "$T/$1.restored" "$2" >"$T/$1.restore.log" 2>&1 ||
		fail "$1: restore failed: $(tail -n 2 "$T/$1.restore.log")"
	assert_restored "$T/$1.restored" "$_ra_n" "$3"
}

cpu_ticks() {
	_ct_pid=$(bg_pid "$1") || fail "cpu_ticks: no process $1"
	sed 's/.*) //' "/proc/$_ct_pid/stat" | awk '{ print $12 + $13 }'
}

log_lines() {
	grep -c '' "$T/$1.log" || true
}

stall_begins() {
	wait_for "log_has $1 'stalled: .*$2'" "${3:-5}"
}

stall_ends() {
	wait_for "log_has $1 'no longer stalled after [^ ]*: .*$2'" "${3:-60}"
}

stall_quiet() {
	_sq_hz=$(getconf CLK_TCK)
	_sq_t0=$(cpu_ticks "$1")
	_sq_l0=$(log_lines "$1")
	sleep "$2" # a measurement window, not synchronisation
	bg_running "$1" || fail "$1 exited while stalled"
	_sq_used=$(($(cpu_ticks "$1") - _sq_t0))
	_sq_lines=$(($(log_lines "$1") - _sq_l0))
	echo "$1: ${_sq_used} ticks of CPU (at $_sq_hz a second) and" \
		"$_sq_lines log lines in ${2}s while stalled"
	[ "$_sq_used" -lt $(($2 * _sq_hz / 20)) ] ||
		fail "$1 used $_sq_used ticks of CPU in ${2}s while stalled (a spin?)"
	[ "$_sq_lines" -le "$3" ] ||
		fail "$1 logged $_sq_lines lines in ${2}s while stalled: $(tail -n 3 "$T/$1.log")"
}

need_nobody() {
	[ "$(id -u)" -eq 0 ] || skip_test "needs root to run walship as another user"
	id nobody >/dev/null 2>&1 || skip_test "no user nobody"
	command -v setpriv >/dev/null || skip_test "no setpriv (util-linux)"
	# nobody must reach the test directory (mktemp made it 700).
	chmod 711 "$T"
	# shellcheck disable=SC2034 # used by the tests that source this
	NOBODY="setpriv --reuid=nobody --regid=$(id -g nobody) --clear-groups"
}
