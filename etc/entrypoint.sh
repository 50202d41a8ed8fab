#!/bin/sh
# entrypoint.sh: walship as the entry point of an application's container.
#
#   ENTRYPOINT ["/usr/local/share/walship/entrypoint.sh"]
#   CMD ["myapp", "--listen", ":8080"]
#
# On start, every database of the config file that is missing is restored
# from its replicas (the newest data across them; with no replica yet the
# application starts on an empty database); then walship replicates, runs
# the application once replication is ready, forwards SIGINT, SIGTERM and
# SIGHUP to it, and when it exits ships what is left and exits with its
# status (walship(1): replicate -restore-if-db-not-exists, -exec).
# walship is PID 1 of the container and reaps its zombies.  Without a
# command, walship replicates alone (a sidecar container).
#
# Environment: WALSHIP_CONFIG, the config file (default /etc/walship.yml);
# WALSHIP, the walship binary (default: walship on PATH); AWS_* for S3.
set -eu

# quote WORD: WORD in single quotes, for -exec's splitting (the command
# runs without a shell: each argument stays one word, whatever it holds).
quote() {
	_q_r="" _q_s=$1
	while :; do
		case $_q_s in
		*\'*)
			_q_r="$_q_r${_q_s%%\'*}'\\''"
			_q_s=${_q_s#*\'}
			;;
		*) break ;;
		esac
	done
	printf "'%s%s'" "$_q_r" "$_q_s"
}

if [ "$#" -eq 0 ]; then
	exec "${WALSHIP:-walship}" replicate -restore-if-db-not-exists
fi
cmd=""
for arg in "$@"; do
	cmd="$cmd${cmd:+ }$(quote "$arg")"
done
exec "${WALSHIP:-walship}" replicate -restore-if-db-not-exists -exec "$cmd"
