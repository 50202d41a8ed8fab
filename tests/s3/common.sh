# tests/s3/common.sh: shell functions shared by start.sh and stop.sh.

# alive PID WORD: PID is a live process whose command line has WORD.
alive() {
	[ -n "$1" ] || return 1
	_a_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	case $_a_st in Z* | X* | "") return 1 ;; esac
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -e "$2"
}
