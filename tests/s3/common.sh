# tests/s3/common.sh: shell functions shared by start.sh and stop.sh.

# running PID: PID is a process that has not exited (a zombie has).  For
# a child just started with &: until it has exec'd, its command line is
# still the shell's, which alive would not recognise.
running() {
	[ -n "$1" ] || return 1
	_r_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	case $_r_st in Z* | X* | "") return 1 ;; esac
}

# alive PID WORD: PID is a live process whose command line has WORD.
alive() {
	running "$1" || return 1
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -e "$2"
}
