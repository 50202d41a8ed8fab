#!/bin/sh
# Provide a SQLite free of the WAL-reset bug (3.7.0 .. 3.51.2; fixed in
# 3.51.3, backported to 3.44.6 and 3.50.7).
#
#   scripts/sqlite.sh DIR
#
# If the system libsqlite3 is new enough, writes DIR/mode = "system".
# Otherwise fetches the amalgamation that the npm package better-sqlite3
# 12.11.1 ships (SQLite 3.53.2), checks the tarball and the two source
# files against pinned SHA-256 sums, and unpacks sqlite3.c and sqlite3.h
# into DIR (mode = "amalgamation").  The sources are never committed.
set -eu
dir=$1
pkg=better-sqlite3@12.11.1
tgz_sum=ebf0ed75a7a59dbcb3b24bbd014ef49d9f15bc328e4adcbf516f2a8fadfa2835
c_sum=60d2f39a3726cd6b9021da6f4e868608d66fbb6528a9f513dc8ffcc640493422
h_sum=9e69a1353a4288450b0d5239ede11fc7f1f4c8e5eb07491fc8317eacb5b7de7e
mkdir -p "$dir"

fixed() { # fixed VERSION_NUMBER -> exit 0 when the WAL-reset fix is in
	v=$1
	[ "$v" -ge 3051003 ] && return 0
	[ "$v" -ge 3050007 ] && [ "$v" -lt 3051000 ] && return 0
	[ "$v" -ge 3044006 ] && [ "$v" -lt 3045000 ] && return 0
	return 1
}

if [ "${WALSHIP_SQLITE:-auto}" != amalgamation ] &&
	sv=$(pkg-config --modversion sqlite3 2>/dev/null); then
	n=$(echo "$sv" | awk -F. '{ printf "%d%03d%03d", $1, $2, $3 }')
	if fixed "$n"; then
		echo system >"$dir/mode"
		exit 0
	fi
fi

if [ -f "$dir/sqlite3.c" ] && [ -f "$dir/sqlite3.h" ] &&
	echo "$c_sum  $dir/sqlite3.c" | sha256sum -c --status &&
	echo "$h_sum  $dir/sqlite3.h" | sha256sum -c --status; then
	echo amalgamation >"$dir/mode"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "sqlite: fetching the SQLite 3.53.2 amalgamation from npm $pkg"
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>&1) || {
	echo "sqlite: npm pack $pkg failed" >&2
	exit 1
}
tgz=$(ls "$tmp"/*.tgz)
echo "$tgz_sum  $tgz" | sha256sum -c --status || {
	echo "sqlite: $pkg tarball sha256 mismatch" >&2
	exit 1
}
tar -xzf "$tgz" -C "$tmp" package/deps/sqlite3/sqlite3.c \
	package/deps/sqlite3/sqlite3.h
for f in c h; do
	eval sum=\$${f}_sum
	echo "$sum  $tmp/package/deps/sqlite3/sqlite3.$f" | sha256sum -c --status || {
		echo "sqlite: sqlite3.$f sha256 mismatch" >&2
		exit 1
	}
	mv "$tmp/package/deps/sqlite3/sqlite3.$f" "$dir/sqlite3.$f"
done
echo amalgamation >"$dir/mode"
