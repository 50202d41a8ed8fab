#!/bin/sh
# Install what walship needs to build and test, from Debian's archive.
# Idempotent: when everything is present it does nothing and needs no
# network.  Tools already on PATH (a newer node/npm, say) are left alone.
# `deps.sh fuzz` (make fuzz) also installs clang 14 and its libFuzzer and
# sanitizer runtimes, which nothing else needs; `deps.sh bench` (bench/run)
# also installs awscli, the S3 reference of the benchmarks.
set -eu
pkgs="pkg-config libuv1-dev liblz4-dev libyaml-dev libcurl4-openssl-dev
      libssl-dev libexpat1-dev lz4 sqlite3 strace python3 procps
      util-linux groff-base man-db shellcheck systemd fiu-utils"
[ "${1:-}" != fuzz ] || pkgs="$pkgs clang-14 libclang-rt-14-dev"
[ "${1:-}" != bench ] || pkgs="$pkgs awscli"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
command -v gcc >/dev/null || missing="$missing gcc libc6-dev"
command -v make >/dev/null || missing="$missing make"
command -v curl >/dev/null || missing="$missing curl"
command -v node >/dev/null || missing="$missing nodejs"
command -v npm >/dev/null || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
