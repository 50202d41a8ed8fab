#!/bin/sh
# tests/s3/stop.sh [-server] DIR: stop what tests/s3/start.sh DIR started
# (with -server, only s3rver).  TERM, then KILL after 10 s.  Only the PIDs
# recorded in DIR/env are signalled, and only while their command line is
# still s3rver's or the proxy's.  DIR/env and DIR/data are kept, so
# start.sh DIR brings the servers back on the same ports with the same data.
set -eu
server_only=
if [ "${1:-}" = -server ]; then
	server_only=1
	shift
fi
if [ $# -ne 1 ]; then
	echo "usage: tests/s3/stop.sh [-server] DIR" >&2
	exit 2
fi
[ -f "$1/env" ] || {
	echo "s3 stop: $1/env does not exist: nothing was started there" >&2
	exit 1
}
S3RVER_PID='' PROXY_PID=''
. "$1/env"

. "$(dirname "$0")/common.sh"

# stop NAME PID WORD
stop() {
	alive "$2" "$3" || return 0
	kill -s TERM "$2" 2>/dev/null || true
	_s_i=0
	while alive "$2" "$3"; do
		if [ $_s_i -ge 100 ]; then
			echo "s3 stop: $1 (pid $2) ignored SIGTERM for 10 s; killing it" >&2
			kill -s KILL "$2" 2>/dev/null || true
			break
		fi
		sleep 0.1
		_s_i=$((_s_i + 1))
	done
	# After KILL, wait (bounded) for it to be gone, so the port is free.
	_s_i=0
	while alive "$2" "$3" && [ $_s_i -lt 50 ]; do
		sleep 0.1
		_s_i=$((_s_i + 1))
	done
	! alive "$2" "$3" || {
		echo "s3 stop: $1 (pid $2) is still running" >&2
		exit 1
	}
}

[ -n "$server_only" ] || stop proxy "$PROXY_PID" proxy.js
stop s3rver "$S3RVER_PID" s3rver
