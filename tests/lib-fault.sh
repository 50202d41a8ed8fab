# tests/lib-fault.sh: sourced after tests/lib.sh by the tests that inject
# I/O errors into walship's system calls (28, 29).  POSIX sh.
#
# Two injectors, each on the real binary, nothing compiled into it:
# libfiu's POSIX preload (Debian's fiu-utils: `fiu-run -x`), which
# replaces libc's wrappers of pwrite, pread, fsync and the others it
# knows, and strace's syscall fault injection for the calls libfiu has
# no wrapper for: walship renames and links with renameat, renameat2
# and linkat, and libfiu wraps only rename (and unlink, not unlinkat).
# libfiu's preload covers SQLite inside walship too: an error in
# SQLite's own I/O is one walship must report.
#
# A fault is KIND:
#   pwrite-eio  pwrite-enospc   every pwrite fails, EIO or ENOSPC, with
#                               probability P
#   pwrite-short                pwrite writes a random part of what it
#                               was given (libfiu's posix/io/rw/pwrite/
#                               reduce), with probability P
#   fsync-eio                   fsync (walship's) and fdatasync
#                               (SQLite's) fail with EIO
#   pread-eio  pread-short      as pwrite, for pread
#   rename-eio                  renameat, renameat2 and linkat fail with
#                               EIO at the 1st, 3rd ... 9th call (strace
#                               -e inject=...:when=1..9+2): five faults
# (Not `write`: libfiu's posix/io/rw/write hits libuv's own pipes and
# eventfds, whose write libuv treats as fatal (it aborts), and no file
# of walship's is written with write(2); its log lines are, and a
# failed log line is dropped.)
#
#   need_fiu                    need_walship and need_tools; skip the
#                               test (skip_test) without fiu-run or strace
#   faulty KIND P CMD...        exec CMD under that fault (fiu-run execs
#                               CMD; strace runs it as its child and exits
#                               with its status), strace's record of its
#                               injections in $T/strace.log (rename-eio)
#   faulty_later KIND CMD...    exec CMD, for the fault to come: under
#                               fiu-run with no fault enabled, or alone
#                               (rename-eio)
#   fault_on KIND P PID         turn the fault on in the process PID that
#                               faulty_later started (fiu-ctrl, through
#                               FIFOs $T/fiu-PID.*; for rename-eio, strace
#                               attaches to it as background process
#                               "strace", and the five faults come)
#   fault_off KIND PID          turn it off (strace detaches: the process
#                               goes on)
#   injected                    the count of injections strace logged in
#                               $T/strace.log, which it then removes (0
#                               for libfiu, which counts none)
#   fault_errors KIND           the ERE of the errors KIND causes

_FY_RENAME="-f -qq -e trace=renameat,renameat2,linkat -e inject=renameat,renameat2,linkat:error=EIO:when=1..9+2 -o"
_FY_RENAME="$_FY_RENAME $T/strace.log"

FAULT_KINDS="pwrite-eio pwrite-enospc pwrite-short fsync-eio pread-eio pread-short rename-eio"

need_fiu() {
	need_walship
	need_tools
	command -v fiu-run >/dev/null ||
		skip_test "libfiu's fiu-run is not installed (Debian: fiu-utils; make deps)"
	command -v strace >/dev/null || skip_test "strace is not installed"
}

# The enable command of libfiu for a KIND and probability.
_fiu_cmd() {
	case $1 in
	pwrite-eio) echo "enable_random name=posix/io/rw/pwrite,probability=$2,failinfo=5" ;;
	pwrite-enospc) echo "enable_random name=posix/io/rw/pwrite,probability=$2,failinfo=28" ;;
	pwrite-short) echo "enable_random name=posix/io/rw/pwrite/reduce,probability=$2" ;;
	fsync-eio) echo "enable_random name=posix/io/sync/*,probability=$2,failinfo=5" ;;
	pread-eio) echo "enable_random name=posix/io/rw/pread,probability=$2,failinfo=5" ;;
	pread-short) echo "enable_random name=posix/io/rw/pread/reduce,probability=$2" ;;
	*) return 1 ;;
	esac
}

faulty() {
	_fy_kind=$1 _fy_p=$2
	shift 2
	if [ "$_fy_kind" = rename-eio ]; then
		# LeakSanitizer cannot run under ptrace.
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
			exec strace $_FY_RENAME "$@"
	fi
	_fy_cmd=$(_fiu_cmd "$_fy_kind" "$_fy_p") ||
		fail "faulty: unknown fault kind $_fy_kind"
	# -f "": no control FIFOs in /tmp.
	_fiu_exec "" "$_fy_cmd" "$@"
}

# _fiu_exec FIFO ENABLE CMD...: fiu-run -x -f FIFO -c ENABLE CMD...  For
# a build with ASan (make check's), whose runtime must come first among
# the preloaded libraries (libfiu's malloc, first, crashes it), and
# fiu-run sets LD_PRELOAD itself: what fiu-run -x does, by hand.
_fiu_exec() {
	_fe_fifo=$1 _fe_enable=$2
	shift 2
	_fe_asan=$(ldd "$1" 2>/dev/null |
		sed -n 's|.*=> \(/[^ ]*/libasan\.so[^ ]*\) .*|\1|p')
	if [ -z "$_fe_asan" ]; then
		exec fiu-run -x -f "$_fe_fifo" ${_fe_enable:+-c "$_fe_enable"} "$@"
	fi
	_fe_lib=$(sed -n 's/^PLIBPATH="\(.*\)"$/\1/p' "$(command -v fiu-run)")
	# LeakSanitizer: libfiu's own (it keeps FIU_ENABLE), not walship's.
	printf 'leak:fiu_run_preload.so\nleak:fiu_posix_preload.so\nleak:libfiu.so\n' \
		>"$T/fiu-lsan.supp"
	LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$T/fiu-lsan.supp:print_suppressions=0" \
		FIU_ENABLE=$_fe_enable FIU_CTRL_FIFO=$_fe_fifo \
		LD_PRELOAD="$_fe_asan ${_fe_lib:-/usr/lib/fiu}/fiu_run_preload.so ${_fe_lib:-/usr/lib/fiu}/fiu_posix_preload.so" \
		exec "$@"
}

faulty_later() {
	_fl=$1
	shift
	[ "$_fl" != rename-eio ] || exec "$@"
	_fiu_exec "$T/fiu" "" "$@"
}

fault_on() {
	if [ "$1" = rename-eio ]; then
		# shellcheck disable=SC2086 # the options, split
		start_bg strace strace $_FY_RENAME -p "$3"
		wait_for "grep -q '^TracerPid:[[:space:]]*[1-9]' /proc/$3/status"
		return 0
	fi
	_fo=$(_fiu_cmd "$1" "$2") || fail "fault_on: unknown fault kind $1"
	fiu-ctrl -f "$T/fiu" -c "$_fo" "$3" || fail "fiu-ctrl $3: $_fo failed"
}

fault_off() {
	if [ "$1" = rename-eio ]; then
		_fo=0
		stop_bg strace || _fo=$?
		# It detaches, then dies of the signal.
		[ "$_fo" -eq 0 ] || [ "$_fo" -eq 143 ] ||
			fail "strace exited $_fo on SIGTERM"
		return 0
	fi
	_fo=$(_fiu_cmd "$1" 1) || fail "fault_off: unknown fault kind $1"
	_fo=${_fo#enable_random name=}
	fiu-ctrl -f "$T/fiu" -c "disable name=${_fo%%,*}" "$2" ||
		fail "fiu-ctrl $2: disable ${_fo%%,*} failed"
}

injected() {
	if [ -f "$T/strace.log" ]; then
		grep -c 'INJECTED' "$T/strace.log" || true
		rm -f "$T/strace.log"
	else
		echo 0
	fi
}

fault_errors() {
	case $1 in
	pwrite-enospc) echo 'No space left on device|database or disk is full' ;;
	pwrite-short | pread-short) echo 'short|disk I/O error|Input/output error' ;;
	*) echo 'Input/output error|disk I/O error' ;;
	esac
}
