#!/bin/sh
# tests/s3/start.sh [-server] DIR: start the S3 test servers.
#
# Starts s3rver 3.7.1 (data in DIR/data, bucket walship-test, 127.0.0.1,
# log DIR/s3rver.log) and tests/s3/proxy.js in front of it (log
# DIR/proxy.log, one JSON line per request in DIR/requests.jsonl), each on
# a free port, waits until both answer, writes DIR/env and returns.
# DIR/env (mode 600, sh syntax) holds
#   S3_ENDPOINT S3_BUCKET S3_PROXY_ADMIN AWS_ACCESS_KEY_ID
#   AWS_SECRET_ACCESS_KEY AWS_REGION   (what a client needs)
#   S3_UPSTREAM (s3rver itself, unverified) S3_DATA_DIR
#   S3RVER_PORT PROXY_PORT S3RVER_PID PROXY_PID
# The key pair is WS_S3_ACCESS_KEY / WS_S3_SECRET_KEY if set, else random;
# WS_S3_SESSION_TOKEN, if set, becomes a required session token.
#
# Once DIR/env exists, a later start reuses its ports, keys and data (so
# stop.sh + start.sh is a restart).  With -server, only s3rver is
# (re)started, on its old port and data, for outage tests.  Installs the
# pinned npm packages into tests/s3/node_modules first if they are
# missing.  Stop with tests/s3/stop.sh [-server] DIR.
set -eu
S3=$(cd "$(dirname "$0")" && pwd)
BUCKET=walship-test
server_only=
if [ "${1:-}" = -server ]; then
	server_only=1
	shift
fi
if [ $# -ne 1 ]; then
	echo "usage: tests/s3/start.sh [-server] DIR" >&2
	exit 2
fi

die() {
	echo "s3 start: $*" >&2
	exit 1
}

mkdir -p "$1" || die "cannot create $1"
DIR=$(cd "$1" && pwd)

command -v node >/dev/null 2>&1 || die "node is not installed (apt-get install nodejs npm)"
node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' ||
	die "node $(node --version) is too old: need 18 or later"

# The pinned packages are installed iff each has the version package.json
# names.
deps_ok() {
	node -e '
		const d = process.argv[1], p = require(d + "/package.json");
		for (const [n, v] of Object.entries(p.dependencies)) {
			let got;
			try { got = require(d + "/node_modules/" + n + "/package.json").version; } catch (e) {}
			if (got !== v) process.exit(1);
		}' "$S3"
}

install_deps() {
	deps_ok && return 0
	command -v npm >/dev/null 2>&1 || die "npm is not installed (apt-get install npm)"
	echo "s3 start: installing the pinned npm packages into $S3/node_modules"
	if ! npm ci --prefix "$S3" --no-audit --no-fund >"$DIR/npm.log" 2>&1; then
		echo "s3 start: npm ci failed, trying npm install (see $DIR/npm.log)"
		npm install --prefix "$S3" --no-audit --no-fund >>"$DIR/npm.log" 2>&1 ||
			die "npm install failed: $(tail -n 1 "$DIR/npm.log")"
	fi
	deps_ok || die "npm finished but the pinned versions are not installed (see $DIR/npm.log)"
}

if ! deps_ok; then
	if command -v flock >/dev/null 2>&1; then
		# One install at a time, even with tests started in parallel.
		lock=${TMPDIR:-/tmp}/walship-s3-npm.lock
		exec 9>"$lock"
		flock -w 600 9 || die "could not lock $lock within 600 s"
		install_deps
		exec 9>&-
	else
		install_deps
	fi
fi

# now_ms / poll COND SECS WHAT: poll COND every 0.1 s, die after SECS.
now_ms() {
	date +%s%3N
}
poll() {
	_p_end=$(($(now_ms) + $2 * 1000))
	until eval "$1"; do
		[ "$(now_ms)" -lt "$_p_end" ] || die "timed out after $2 s waiting for $3"
		sleep 0.1
	done
}

. "$(dirname "$0")/common.sh"

# quote VALUE: VALUE as a single-quoted sh word.
quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

S3RVER_PORT='' PROXY_PORT='' S3RVER_PID='' PROXY_PID=''
AWS_ACCESS_KEY_ID='' AWS_SECRET_ACCESS_KEY=''
if [ -f "$DIR/env" ]; then
	. "$DIR/env"
elif [ -n "$server_only" ]; then
	die "$DIR/env does not exist: start both servers first (start.sh $DIR)"
fi

write_env() {
	(
		umask 077
		{
			echo "# written by tests/s3/start.sh; source with: set -a; . $(quote "$DIR/env"); set +a"
			echo "S3_ENDPOINT=http://127.0.0.1:$PROXY_PORT"
			echo "S3_BUCKET=$BUCKET"
			echo "S3_PROXY_ADMIN=http://127.0.0.1:$PROXY_PORT/__admin"
			echo "S3_UPSTREAM=http://127.0.0.1:$S3RVER_PORT"
			echo "S3_DATA_DIR=$(quote "$DIR/data")"
			echo "AWS_ACCESS_KEY_ID=$(quote "$AWS_ACCESS_KEY_ID")"
			echo "AWS_SECRET_ACCESS_KEY=$(quote "$AWS_SECRET_ACCESS_KEY")"
			echo "AWS_REGION=us-east-1"
			echo "S3RVER_PORT=$S3RVER_PORT"
			echo "PROXY_PORT=$PROXY_PORT"
			echo "S3RVER_PID=$S3RVER_PID"
			echo "PROXY_PID=$PROXY_PID"
		} >"$DIR/env.tmp"
	)
	mv -f "$DIR/env.tmp" "$DIR/env"
}

start_s3rver() {
	if alive "$S3RVER_PID" s3rver; then
		echo "s3 start: s3rver is already running (pid $S3RVER_PID, port $S3RVER_PORT)"
		return 0
	fi
	mkdir -p "$DIR/data"
	touch "$DIR/s3rver.log"
	_ss_from=$(($(wc -l <"$DIR/s3rver.log") + 1))
	# --openssl-legacy-provider: s3rver's continuation tokens use DES, which
	# Node 17+ refuses without it (ERR_OSSL_EVP_UNSUPPORTED).  (Only direct
	# listings need it: the proxy makes its own.)
	_ss_opts=${NODE_OPTIONS:-}
	if NODE_OPTIONS=--openssl-legacy-provider node -e 0 2>/dev/null; then
		_ss_opts="--openssl-legacy-provider${_ss_opts:+ $_ss_opts}"
	fi
	s3rver_port=''
	NODE_OPTIONS=$_ss_opts \
		node "$S3/node_modules/s3rver/bin/s3rver.js" -d "$DIR/data" \
		-a 127.0.0.1 -p "${S3RVER_PORT:-0}" --silent --no-vhost-buckets \
		--configure-bucket "$BUCKET" >>"$DIR/s3rver.log" 2>&1 </dev/null &
	S3RVER_PID=$!
	# It prints "S3rver listening on 127.0.0.1:PORT" once it listens.
	poll 's3rver_port=$(tail -n +$_ss_from "$DIR/s3rver.log" |
		sed -n "s/^S3rver listening on 127\.0\.0\.1:\([0-9][0-9]*\)\$/\1/p" | head -n 1)
		[ -n "$s3rver_port" ] || { running "$S3RVER_PID" ||
		die "s3rver exited: $(tail -n 1 "$DIR/s3rver.log")"; false; }' 30 "s3rver to listen"
	S3RVER_PORT=$s3rver_port
	poll 'node "$S3/admin.js" probe "http://127.0.0.1:$S3RVER_PORT/" 2>/dev/null' 30 \
		"s3rver to answer on 127.0.0.1:$S3RVER_PORT"
	[ -d "$DIR/data/$BUCKET" ] || die "s3rver did not create the bucket $BUCKET"
}

start_proxy() {
	if alive "$PROXY_PID" proxy.js; then
		echo "s3 start: the proxy is already running (pid $PROXY_PID, port $PROXY_PORT)"
		return 0
	fi
	rm -f "$DIR/proxy.port"
	WS_S3_UPSTREAM_PORT=$S3RVER_PORT WS_S3_PROXY_PORT=${PROXY_PORT:-0} \
		WS_S3_PORT_FILE=$DIR/proxy.port WS_S3_DATA_DIR=$DIR/data \
		WS_S3_REQLOG=$DIR/requests.jsonl \
		WS_S3_ACCESS_KEY=$AWS_ACCESS_KEY_ID WS_S3_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
		node "$S3/proxy.js" >>"$DIR/proxy.log" 2>&1 </dev/null &
	PROXY_PID=$!
	poll '[ -s "$DIR/proxy.port" ] || { running "$PROXY_PID" ||
		die "the proxy exited: $(tail -n 1 "$DIR/proxy.log")"; false; }' 30 "the proxy to listen"
	PROXY_PORT=$(cat "$DIR/proxy.port")
	poll 'node "$S3/admin.js" "http://127.0.0.1:$PROXY_PORT/__admin" get health >/dev/null 2>&1' 30 \
		"the proxy to answer on 127.0.0.1:$PROXY_PORT"
}

if [ -z "$AWS_ACCESS_KEY_ID" ]; then
	AWS_ACCESS_KEY_ID=${WS_S3_ACCESS_KEY:-AKIAWSTEST$(node -e 'process.stdout.write(require("crypto").randomBytes(5).toString("hex").toUpperCase())')}
	AWS_SECRET_ACCESS_KEY=${WS_S3_SECRET_KEY:-$(node -e 'process.stdout.write(require("crypto").randomBytes(30).toString("base64"))')}
fi

start_s3rver
if [ -z "$server_only" ]; then
	start_proxy
fi
write_env
if [ -n "$server_only" ]; then
	echo "s3 start: s3rver pid $S3RVER_PID on 127.0.0.1:$S3RVER_PORT"
else
	echo "s3 start: endpoint http://127.0.0.1:$PROXY_PORT bucket $BUCKET" \
		"(proxy pid $PROXY_PID; s3rver pid $S3RVER_PID on 127.0.0.1:$S3RVER_PORT)"
fi
