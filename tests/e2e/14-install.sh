#!/bin/sh
# Packaging (README "Production"):
#   - `make install PREFIX=/usr DESTDIR=...` installs the binary, the man
#     page, the example config, the systemd unit and the container entry
#     point, and the installed binary works: a database replicated and
#     restored by it passes the full oracle;
#   - the man page: groff -man -ww finds nothing to warn about, man finds
#     it under the installed MANPATH, and every command of `walship help`
#     and every flag of every `walship COMMAND -h` is described in it (the
#     two cannot drift);
#   - the systemd unit: its ExecStart is the installed binary,
#     `systemd-analyze verify` accepts it, `systemd-analyze security`
#     rates its exposure 2.0 or below, and every system call walship makes
#     while replicating to a directory and S3 and restoring (strace -f) is
#     one its SystemCallFilter allows (a blocked one would fail with EPERM
#     under systemd);
#   - the entry point: sh -n and shellcheck; once replicate has -exec and
#     -restore-if-db-not-exists, a run on an empty volume restores the
#     database, runs the application on it, and exits with its status;
#   - `make uninstall` removes every file it installed.
# At 836eb2f there was no install target, man page, unit or entry point.
#
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../lib.sh
set -eu
. "$(dirname "$0")/../lib.sh"
need_s3
WALSHIP_CONFIG=$T/absent.yml
LC_ALL=C # sort and comm agree
export WALSHIP_CONFIG LC_ALL
BUILD=$(dirname "$WALSHIP")

# -- make install -------------------------------------------------------------
# -o: install the binary under test as it is, never rebuild it.
make -s -C "$ROOT" -o "$BUILD/walship" BUILD="$BUILD" PREFIX=/usr \
	DESTDIR="$T/dest" install >"$T/install.log" 2>&1 ||
	fail "make install: $(tail -n 5 "$T/install.log")"
P=$T/dest/usr
for f in bin/walship share/man/man1/walship.1 share/doc/walship/walship.yml \
	share/doc/walship/README.md share/walship/walship.service \
	share/walship/entrypoint.sh; do
	[ -f "$P/$f" ] || fail "make install did not install $f: $(find "$T/dest" -type f)"
done
[ -x "$P/bin/walship" ] && [ -x "$P/share/walship/entrypoint.sh" ] ||
	fail "installed programs are not executable: $(ls -l "$P/bin" "$P/share/walship")"
cmp -s "$P/bin/walship" "$WALSHIP" || fail "the installed binary is not $WALSHIP"
W=$P/bin/walship
[ "$("$W" version)" = "$("$WALSHIP" version)" ] ||
	fail "installed walship version: $("$W" version)"

# The installed binary replicates and restores.
db=$T/app.db
"$TOOLS/wsload" "$db" -rate 0 -count 100 -log "$T/tx.csv" >"$T/wsload.log" 2>&1 ||
	fail "wsload: $(cat "$T/wsload.log")"
s3url=$(replica_url app)

# -- the man page ---------------------------------------------------------------
MAN=$P/share/man/man1/walship.1
groff -man -ww -z "$MAN" >"$T/groff.out" 2>&1 || fail "groff failed: $(cat "$T/groff.out")"
[ ! -s "$T/groff.out" ] || fail "groff -man -ww warns: $(cat "$T/groff.out")"
if command -v man >/dev/null; then
	[ "$(MANPATH=$P/share/man man -w walship)" = "$MAN" ] ||
		fail "man -w walship with MANPATH=$P/share/man: $(MANPATH=$P/share/man man -w walship 2>&1)"
	MANWIDTH=80 man --warnings -l "$MAN" >"$T/man.txt" 2>"$T/man.err" ||
		fail "man -l: $(cat "$T/man.err")"
	[ ! -s "$T/man.err" ] || fail "man --warnings: $(cat "$T/man.err")"
	grep -q "EXIT STATUS" "$T/man.txt" || fail "man page has no EXIT STATUS"
else
	skip "man is not installed: only groff checked the man page"
fi
# Every command and flag of the help texts, in the man page: a command as
# ".SS name", a flag as "\-name" (roff's minus) not followed by more name.
"$W" help >"$T/help.txt"
cmds=$(sed -n 's/^	\([a-z][a-z]*\)  .*/\1/p' "$T/help.txt")
[ "$(echo "$cmds" | grep -c .)" -ge 7 ] || fail "cannot read the commands of walship help: $(cat "$T/help.txt")"
missing=""
for c in $cmds help; do
	grep -qx "\.SS $c" "$MAN" || missing="$missing command:$c"
	[ "$c" != help ] || continue
	"$W" "$c" -h >"$T/h.txt" 2>&1 || fail "walship $c -h: $(cat "$T/h.txt")"
	for f in $(sed -n 's/^	-\([a-z][a-z-]*\).*/\1/p' "$T/h.txt"); do
		rf=$(printf '%s' "$f" | sed 's/-/\\\\-/g')
		grep -Eq "\\\\-$rf([^a-z\\\\]|\\\\[^-]|$)" "$MAN" || missing="$missing $c:-$f"
	done
done
[ -z "$missing" ] || fail "the man page lacks what the help texts list:$missing"
# The exit statuses of the man page are err.h's.
for s in 0 1 2 3 4 5 6; do
	sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$MAN" | grep -qx "\.B $s" ||
		fail "the man page's EXIT STATUS lacks $s"
done

# -- the systemd unit ---------------------------------------------------------------
UNIT=$P/share/walship/walship.service
grep -qx "ExecStart=/usr/bin/walship replicate -config /etc/walship.yml" "$UNIT" ||
	fail "installed unit: $(grep ExecStart "$UNIT")"
if command -v systemd-analyze >/dev/null; then
	# verify wants ExecStart's binary to exist: the installed one.
	sed "s|^ExecStart=/usr/bin/walship|ExecStart=$W|" "$UNIT" >"$T/walship.service"
	MANPATH=$P/share/man systemd-analyze verify "$T/walship.service" \
		>"$T/verify.out" 2>&1 || fail "systemd-analyze verify: $(cat "$T/verify.out")"
	[ ! -s "$T/verify.out" ] || fail "systemd-analyze verify warns: $(cat "$T/verify.out")"
	systemd-analyze security --offline=yes --threshold=20 "$T/walship.service" \
		>"$T/security.out" 2>&1 ||
		fail "systemd-analyze security: exposure over 2.0: $(tail -n 3 "$T/security.out")"
else
	skip "systemd-analyze is not installed: the unit was not verified"
fi

# What the unit's SystemCallFilter allows: @system-service without
# @privileged and @resources, groups expanded (systemd-analyze's lists).
expand_group() {
	systemd-analyze syscall-filter "$1" | sed -n 's/^    \([@a-z0-9_-]*\)$/\1/p' |
		while read -r _eg; do
			case $_eg in
			@*) expand_group "$_eg" ;;
			*) echo "$_eg" ;;
			esac
		done
}
if command -v strace >/dev/null && command -v systemd-analyze >/dev/null; then
	filters=$(sed -n 's/^SystemCallFilter=//p' "$UNIT")
	[ "$filters" = "@system-service
~@privileged @resources" ] || fail "the unit's SystemCallFilter changed: update this test: $filters"
	expand_group @system-service | sort -u >"$T/allow"
	{ expand_group @privileged; expand_group @resources; } | sort -u >"$T/deny"
	comm -23 "$T/allow" "$T/deny" >"$T/allowed"
	[ "$(grep -c . "$T/allowed")" -gt 100 ] || fail "cannot read the syscall filter: $(head "$T/allowed")"
	# As the unit runs it: as a user, not root (SQLite gives a -wal and
	# -shm it creates the database's owner with fchown as root only).
	U=$T/u
	mkdir -m 755 "$U" "$U/run"
	cp "$db" "$U/app.db"
	as=""
	if [ "$(id -u)" -eq 0 ]; then
		chmod o+x "$T"
		chmod 700 "$U/run"
		chown -R nobody:nogroup "$U"
		as="setpriv --reuid nobody --regid nogroup --clear-groups"
	fi
	# LeakSanitizer cannot run under ptrace (make check's build): the
	# traced runs leave leak detection to the other tests.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	export ASAN_OPTIONS
	# shellcheck disable=SC2086 # $as is a command and its arguments
	start_bg traced $as env XDG_RUNTIME_DIR="$U/run" strace -f -qq \
		-o "$U/strace.out" "$W" replicate "$U/app.db" "file://$U/rep" "$s3url"
	wait_restores "file://$U/rep" 100 "$T/tx.csv" 30
	wait_restores "$s3url" 100 "$T/tx.csv" 30
	# SIGTERM to walship itself (strace would detach and leave it).
	wpid=$(pgrep -P "$(bg_pid traced)" -x walship) ||
		fail "no walship under strace (pid $(bg_pid traced))"
	kill -TERM "$wpid"
	wait_bg traced 60 || fail "replicate under strace exited $?"
	# shellcheck disable=SC2086 # $as is a command and its arguments
	$as env XDG_RUNTIME_DIR="$U/run" strace -f -qq -o "$U/strace2.out" \
		"$W" restore -o "$U/traced.db" "$s3url" 2>"$T/traced.err" ||
		fail "restore under strace: $(cat "$T/traced.err")"
	assert_restored "$U/traced.db" 100 "$T/tx.csv"
	cat "$U/strace.out" "$U/strace2.out" |
		sed -n 's/^[0-9]* *\([a-z_0-9]*\)(.*/\1/p' | sort -u >"$T/used"
	[ "$(grep -c . "$T/used")" -gt 20 ] || fail "strace saw few calls: $(cat "$T/used")"
	bad=$(comm -23 "$T/used" "$T/allowed" | tr '\n' ' ')
	[ -z "$bad" ] || fail "walship makes system calls the unit's filter blocks: $bad"
else
	skip "strace or systemd-analyze missing: the unit's syscall filter was not checked against walship's calls"
	start_bg plain "$W" replicate "$db" "file://$T/rep"
	wait_restores "file://$T/rep" 100 "$T/tx.csv" 30
	stop_bg plain || fail "installed replicate exited $?"
fi

# -- the container entry point ------------------------------------------------------
EP=$P/share/walship/entrypoint.sh
sh -n "$EP" || fail "sh -n $EP"
if command -v shellcheck >/dev/null; then
	shellcheck "$EP" >"$T/sc.out" 2>&1 || fail "shellcheck: $(cat "$T/sc.out")"
else
	skip "shellcheck is not installed"
fi
"$W" replicate -h >"$T/rh.txt"
if grep -q '^	-exec' "$T/rh.txt" && grep -q '^	-restore-if-db-not-exists' "$T/rh.txt"; then
	# An empty volume: the database is restored before the application
	# runs on it; the application's status is the container's.
	# (the S3 replica the database went to above)
	mkdir "$T/vol"
	db_config "$T/ep.yml" "$T/vol/app.db" app
	st=0
	WALSHIP=$W WALSHIP_CONFIG=$T/ep.yml timeout 120 "$EP" sh -c \
		'test -s "$1" && echo "ran on $1" >"$2"; exit 7' app "$T/vol/app.db" \
		"$T/app's out" >"$T/ep.log" 2>&1 || st=$?
	[ "$st" -eq 7 ] || fail "entrypoint: exit $st, want the application's 7: $(tail -n 5 "$T/ep.log")"
	grep -qx "ran on $T/vol/app.db" "$T/app's out" ||
		fail "the application did not run on the restored database: $(tail -n 5 "$T/ep.log")"
	assert_restored "$T/vol/app.db" 100 "$T/tx.csv"
else
	skip "replicate has no -exec and -restore-if-db-not-exists yet: entrypoint.sh only checked by sh -n and shellcheck"
fi

# -- make uninstall -------------------------------------------------------------
make -s -C "$ROOT" -o "$BUILD/walship" BUILD="$BUILD" PREFIX=/usr \
	DESTDIR="$T/dest" uninstall >"$T/uninstall.log" 2>&1 ||
	fail "make uninstall: $(tail -n 5 "$T/uninstall.log")"
left=$(find "$T/dest" -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install: all checks passed"
