#!/bin/sh
# No file is written through a link, and no directory of another user is
# written in.  Symbolic links are planted at the names walship writes --
# replicate's meta dir (generation, its temporary name, lock, the next
# shadow WAL files), the directory replica's `<key>.tmp`, restore's meta
# dir beside the output (lock, restored and generation temporary names,
# generations/), the restore lock -- each pointing at a file of root's
# ($T/target, whose content and mtime must not change) or at a missing
# file in $T/outside (which must stay empty).  walship either works
# around each (a new file renamed over the name) or refuses it with one
# line naming the path.  A meta dir owned by another user (nobody), one
# others can write to, or one that is a link is refused with one line
# naming it and the reason, before anything is written (replicate) or
# requested (restore, into a sticky shared directory); so is a meta-path
# whose parent is another user's link in a shared directory.  A directory
# replica's read of an object that is a link or a FIFO fails at once
# (not the link's target, not a hang).  Finally the
# class: under strace, every file replicate and restore create is opened
# with O_EXCL, or is a lock file opened with O_NOFOLLOW, or is SQLite's
# own file of the source database.
# Runs as root (CI does), on the replica backend WS_REPLICA picks.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica
[ "$(id -u)" -eq 0 ] || fail "runs as root (it uses nobody and chown)"
command -v strace >/dev/null || fail "strace is needed (make deps)"

url=$(replica_url replica)
db=$T/a.db
csv=$T/tx.csv
meta=$T/.a.db-walship
mkdir "$T/outside" "$T/elsewhere"
printf 'precious\n' >"$T/target"
touch -d '2020-01-02 03:04:05' "$T/target"
tstamp=$(stat -c %Y "$T/target")

# intact WHAT: the link targets are untouched and nothing appeared where
# the dangling links point.
intact() {
	[ "$(cat "$T/target")" = precious ] ||
		fail "$1: $T/target was written through a link"
	[ "$(stat -c %Y "$T/target")" = "$tstamp" ] ||
		fail "$1: $T/target was modified (mtime)"
	[ -z "$(ls -A "$T/outside")" ] ||
		fail "$1: files appeared outside: $(ls -A "$T/outside")"
	[ -z "$(ls -A "$T/elsewhere")" ] ||
		fail "$1: files appeared in $T/elsewhere: $(ls -A "$T/elsewhere")"
}
tree() { # a listing with sizes and times, to compare before and after
	find "$1" -printf '%p %y %s %T@ %u\n' | sort
}

db_config "$T/w.yml" "$db" replica min-checkpoint-page-count=64 \
	checkpoint-interval=1s
"$TOOLS/wsload" "$db" -count 20 -log "$csv" 2>/dev/null || fail "wsload failed"
start_bg w1 "$WALSHIP" replicate -config "$T/w.yml"
wait_for "log_has w1 'snapshot written'" 30
stop_bg w1 || fail "walship exited $? on SIGTERM"
gen=$(cat "$meta/generation")

# 1. replicate: generation and its temporary name are links.  walship
# refuses to read the link (naming it in the new generation's reason)
# and replaces both names with new files.
rm "$meta/generation"
ln -s "$T/target" "$meta/generation"
ln -s "$T/target" "$meta/generation.tmp"
start_bg w2 "$WALSHIP" replicate -config "$T/w.yml"
wait_for "log_has w2 'new generation'" 30
log_has w2 "new generation .*reason=\"refusing $meta/generation: a symbolic link\"" ||
	fail "the new generation does not name the link: $(grep generation "$T/w2.log")"
intact "generation link"
[ ! -L "$meta/generation" ] && [ -f "$meta/generation" ] ||
	fail "$meta/generation is not a new regular file"
gen=$(cat "$meta/generation")

# 2. While it runs: the next shadow WAL files and, on a directory
# replica, the next segments' `<key>.tmp` are links.
wal=$meta/generations/$gen/wal
top() { # the highest shadow index that is a regular file
	for _f in "$wal"/*.wal; do
		[ -f "$_f" ] && [ ! -L "$_f" ] && basename "$_f" .wal
	done | sort | awk 'END { print $0 == "" ? "00000000" : $0 }'
}
start_writer wl "$db" "$csv" -rate 40 -size 16384
wait_for '[ -n "$(top)" ]' 20
now=$((0x$(top)))
i=$((now + 1))
[ "$WS_REPLICA" = s3 ] || mkdir -p -m 700 "$T/replica/generations/$gen/wal"
while [ $i -le $((now + 4)) ]; do
	ln -s "$T/target" "$wal/$(printf %08x $i).wal"
	[ "$WS_REPLICA" = s3 ] ||
		ln -s "$T/target" "$T/replica/generations/$gen/wal/$(printf %08x $i)_00000000.wal.lz4.tmp"
	i=$((i + 1))
done
wait_for '[ $((0x$(top))) -ge '$((now + 3))' ]' 60
next=$(printf %08x $((now + 1)))
[ ! -L "$wal/$next.wal" ] || fail "shadow $next.wal is still the planted link"
if [ "$WS_REPLICA" = file ]; then
	obj=$T/replica/generations/$gen/wal/${next}_00000000.wal.lz4
	wait_for "[ -e '$obj' ]" 20
	[ -f "$obj" ] && [ ! -L "$obj" ] || fail "$obj is not a regular file"
	[ -L "$obj.tmp" ] || fail "the planted $obj.tmp was touched"
fi
stop_bg wl || fail "wsload exited $?"
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -eq "$(csv_last_seq "$csv")" ]' 30
stop_bg w2 || fail "walship exited $? on SIGTERM"
assert_restored "$T/.probe/db" "$(csv_last_seq "$csv")" "$csv"
intact "shadow and replica links"

# A directory replica never reads through a link or blocks on a FIFO put
# at an object's name (walship's own client, as a restore reads).
if [ "$WS_REPLICA" = file ]; then
	ln -s "$T/target" "$T/replica/generations/$gen/wal/link.wal.lz4"
	mkfifo "$T/replica/generations/$gen/wal/fifo.wal.lz4"
	for o in link fifo; do
		st=0
		timeout 20 "$TOOLS/wsobj" "$url" get "generations/$gen/wal/$o.wal.lz4" \
			>"$T/get.out" 2>"$T/get.err" || st=$?
		[ "$st" -eq 1 ] || fail "GET of a $o: exit $st, want 1 (124: it blocked)"
		[ ! -s "$T/get.out" ] || fail "GET of a $o returned: $(head -c 64 "$T/get.out")"
	done
	rm "$T/replica/generations/$gen/wal/link.wal.lz4" \
		"$T/replica/generations/$gen/wal/fifo.wal.lz4"
fi

# A name in the replica carries control characters (CR, ESC, BEL): the
# restore's warning about the FIFO it passed over quotes the name with
# each replaced ('?'), so the replica cannot forge a line or retitle a
# terminal.
if [ "$WS_REPLICA" = file ]; then
	bad=$(printf 'g\r\033]0;title\007')
	mkfifo "$T/replica/generations/$bad"
	timeout 60 "$WALSHIP" restore -o "$T/ctl.db" "$url" 2>"$T/ctl.err" ||
		fail "restore beside a FIFO with a hostile name failed: $(cat "$T/ctl.err")"
	grep -q 'passed over [0-9]* entr.*: generations/g ?\]0;title? (a FIFO)' \
		"$T/ctl.err" || fail "no warning naming the FIFO: $(cat -v "$T/ctl.err")"
	! LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" "$T/ctl.err" ||
		fail "control characters reached the log: $(cat -v "$T/ctl.err")"
	[ "$(wc -l <"$T/ctl.err")" -eq "$(grep -c '^[0-9-]*T[0-9:.]*Z ' "$T/ctl.err")" ] ||
		fail "a line of the log is not a log line: $(cat -v "$T/ctl.err")"
	rm -f "$T/replica/generations/$bad" "$T/ctl.db"
fi

# A directory replica whose generations/ is a link to another replica's:
# no read goes through it (restore, generations, a GET), each refused in
# one line naming the link, as replicate refuses it.
if [ "$WS_REPLICA" = file ]; then
	mkdir "$T/linked"
	ln -s "$T/replica/generations" "$T/linked/generations"
	lurl=file://$T/linked
	for c in restore generations get; do
		st=0
		case $c in
		restore) set -- "$WALSHIP" restore -o "$T/lk.db" "$lurl" ;;
		generations) set -- "$WALSHIP" generations "$lurl" ;;
		get) set -- "$TOOLS/wsobj" "$lurl" get \
			"generations/$gen/snapshots/00000000.snapshot.lz4" ;;
		esac
		timeout 60 "$@" >"$T/lk.out" 2>"$T/lk.err" || st=$?
		# walship: 5, a replica refused; the test tool: 1.
		want=5
		[ "$c" != get ] || want=1
		[ "$st" -eq "$want" ] ||
			fail "$c through a linked generations/: exit $st, want $want: $(cat "$T/lk.err")"
		grep -q "refusing $T/linked/generations: a symbolic link" "$T/lk.err" ||
			fail "$c through a linked generations/: $(cat "$T/lk.err")"
		[ ! -s "$T/lk.out" ] && [ ! -e "$T/lk.db" ] ||
			fail "$c through a linked generations/ gave output"
	done
	rm -r "$T/linked"
fi

# 3. The meta dir's lock is a (dangling) link: refused, one line naming it.
rm "$meta/lock"
ln -s "$T/outside/lock" "$meta/lock"
start_bg w3 "$WALSHIP" replicate -config "$T/w.yml"
wait_for "log_has w3 'refusing $meta/lock: a symbolic link'" 30
if bg_running w3; then stop_bg w3 || true; else wait_bg w3 || true; fi
intact "lock link"
rm "$meta/lock"

# 4. A meta dir of another user's, one others can write to, and one that
# is a link: refused before anything is written in it.
refuse_meta() { # DESC ERE DIR: DIR (the meta dir's contents) unchanged
	tree "$3" >"$T/meta.before"
	: >"$T/w4.log"
	start_bg w4 "$WALSHIP" replicate -config "$T/w.yml"
	wait_for "log_has w4 '$2'" 30
	if bg_running w4; then stop_bg w4 || true; else wait_bg w4 || true; fi
	tree "$3" >"$T/meta.after"
	cmp -s "$T/meta.before" "$T/meta.after" ||
		fail "$1: the meta dir changed: $(diff "$T/meta.before" "$T/meta.after")"
}
chown -R nobody:nogroup "$meta"
refuse_meta "another user's meta dir" \
	"refusing directory $meta: owned by uid $(id -u nobody), not by uid 0 or root" \
	"$meta"
chown -R root:root "$meta"
chmod 777 "$meta"
refuse_meta "a world-writable meta dir" \
	"refusing directory $meta: group or other writable \\(mode 777\\)" "$meta"
chmod 700 "$meta"
mv "$meta" "$T/realmeta"
ln -s "$T/realmeta" "$meta"
refuse_meta "a meta dir that is a link" "refusing $meta: a symbolic link" \
	"$T/realmeta"
rm "$meta"
mv "$T/realmeta" "$meta"
intact "meta dir refusals"

# 4b. A meta-path whose parent, in a shared sticky directory, is a link
# another user planted (mp/shared -> mptarget): refused naming the link,
# nothing made behind it.  Root's own link there is followed.
mkdir -m 1777 "$T/mp"
mkdir -m 700 "$T/mptarget"
ln -s "$T/mptarget" "$T/mp/shared"
chown -h nobody:nogroup "$T/mp/shared"
db_config "$T/mp.yml" "$db" mprep "meta-path=$T/mp/shared/sub/meta"
: >"$T/mp1.log"
start_bg mp1 "$WALSHIP" replicate -config "$T/mp.yml"
wait_for "log_has mp1 'refusing $T/mp/shared: a symbolic link owned by uid $(id -u nobody), not by uid 0 or root'" 30
if bg_running mp1; then stop_bg mp1 || true; else wait_bg mp1 || true; fi
[ -z "$(ls -A "$T/mptarget")" ] ||
	fail "walship made $(ls -A "$T/mptarget") through nobody's link"
chown -h root:root "$T/mp/shared"
start_bg mp2 "$WALSHIP" replicate -config "$T/mp.yml"
wait_for "log_has mp2 'snapshot written'" 30
stop_bg mp2 || fail "walship exited $? through root's link"
[ -f "$T/mptarget/sub/meta/generation" ] ||
	fail "no meta dir behind root's link: $(find "$T/mptarget")"
intact "meta-path parent links"

# 5. Restore as root into a shared sticky directory where another user
# planted the meta dir, with links named like walship's files: refused
# before any request, nothing written.
chmod o+x "$T"
mkdir -m 1777 "$T/shared"
sm=$T/shared/.app.db-walship
plant_meta() {
	rm -rf "$sm"
	mkdir -m 700 "$sm"
	ln -s "$T/target" "$sm/restored.tmp"
	ln -s "$T/target" "$sm/generation.tmp"
	ln -s "$T/outside/lock" "$sm/lock"
	ln -s "$T/elsewhere" "$sm/generations"
}
restore_refused() { # DESC ERE
	if [ "$WS_REPLICA" = s3 ]; then r0=$(s3_stat requests); fi
	tree "$T/shared" >"$T/shared.before"
	"$WALSHIP" restore -o "$T/shared/app.db" "$url" 2>"$T/r.err" &&
		fail "$1: restore succeeded"
	[ "$(grep -c '^walship: ' "$T/r.err")" -eq 1 ] ||
		fail "$1: want one 'walship: ' line: $(cat "$T/r.err")"
	grep -q -E "^walship: .*$2" "$T/r.err" ||
		fail "$1: want '$2': $(cat "$T/r.err")"
	grep -q 'restoring from' "$T/r.err" && fail "$1: restore planned a download"
	if [ "$WS_REPLICA" = s3 ]; then
		[ "$(s3_stat requests)" -eq "$r0" ] || fail "$1: requests were made"
	fi
	tree "$T/shared" >"$T/shared.after"
	cmp -s "$T/shared.before" "$T/shared.after" ||
		fail "$1: $T/shared changed: $(diff "$T/shared.before" "$T/shared.after")"
	intact "$1"
}
plant_meta
chown -hR nobody:nogroup "$sm"
restore_refused "meta dir of nobody's" \
	"refusing directory $sm: owned by uid $(id -u nobody), not by uid 0 or root"
plant_meta
chmod 777 "$sm"
restore_refused "world-writable meta dir" \
	"refusing directory $sm: group or other writable \\(mode 777\\)"
rm -rf "$sm"
ln -s "$T/elsewhere" "$sm"
restore_refused "meta dir that is a link" "refusing $sm: a symbolic link"
rm "$sm"

# 6. A meta dir of root's with the same planted links: the restore works,
# writes through none of them, and says why it did not carry the
# position over (the lock).  The restore lock is a dangling link too.
plant_meta
if [ "$WS_REPLICA" = s3 ]; then
	id="s3:$S3_ENDPOINT/$S3_BUCKET/replica"
else
	id="$T/replica"
fi
rl=$XDG_RUNTIME_DIR/walship/$(printf %s "$id" | sha256sum | cut -c1-64).lock
mkdir -p -m 700 "$XDG_RUNTIME_DIR/walship"
rm -f "$rl"
ln -s "$T/outside/rlock" "$rl"
"$WALSHIP" restore -o "$T/shared/app.db" "$url" 2>"$T/r6.err" ||
	fail "restore beside planted links failed: $(cat "$T/r6.err")"
assert_restored "$T/shared/app.db" "$(csv_last_seq "$csv")" "$csv"
grep -q "position not carried over.*refusing $sm/lock: a symbolic link" "$T/r6.err" ||
	fail "no line naming the lock link: $(cat "$T/r6.err")"
grep -q "no local lock .*refusing .*$(basename "$rl"): a symbolic link" "$T/r6.err" ||
	fail "no line naming the restore lock link: $(cat "$T/r6.err")"
intact "restore beside planted links"
rm -rf "$sm" "$T/shared/app.db" "$T/shared/app.db-wal" "$T/shared/app.db-shm" "$rl"

# 7. The class, under strace: replicate (a new generation, a snapshot,
# segments, new shadow indexes) and a restore that carries its position
# over.  Every O_CREAT has O_EXCL, or is a lock (O_NOFOLLOW), or is
# SQLite's file of the source database.
rm -rf "$meta"
start_writer wl "$db" "$csv" -rate 40 -size 16384
# (LeakSanitizer cannot run under ptrace: off for make check)
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
start_bg w5 strace -f -qq -e trace=open,openat,creat -o "$T/rep.trace" \
	"$WALSHIP" replicate -config "$T/w.yml"
wait_for "log_has w5 'snapshot written'" 60
wait_for '[ "$(ls "$meta/generations/"*/wal | grep -c .)" -ge 3 ]' 60
stop_bg wl || fail "wsload exited $?"
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -eq "$(csv_last_seq "$csv")" ]' 30
# (SIGTERM to walship itself, not to strace)
kill -TERM "$(ps -o pid= --ppid "$(bg_pid w5)")"
wait_bg w5 30 || fail "walship exited $? on SIGTERM"
strace -f -qq -e trace=open,openat,creat -o "$T/res.trace" \
	"$WALSHIP" restore -o "$T/shared/app.db" "$url" 2>"$T/r7.err" ||
	fail "restore failed: $(cat "$T/r7.err")"
grep -q 'position carried over' "$T/r7.err" ||
	fail "the traced restore did not carry its position over: $(cat "$T/r7.err")"
assert_restored "$T/shared/app.db" "$(csv_last_seq "$csv")" "$csv"
for tr in rep res; do
	grep -E 'O_CREAT|creat\(' "$T/$tr.trace" >"$T/$tr.creat" || true
	[ -s "$T/$tr.creat" ] || fail "$tr: strace saw no file created"
	grep -v -E 'O_EXCL' "$T/$tr.creat" |
		grep -v -E '"[^"]*lock", [^)]*O_NOFOLLOW' |
		grep -v -F "\"$db" >"$T/$tr.bad" || true
	[ ! -s "$T/$tr.bad" ] ||
		fail "$tr: created without O_EXCL: $(head -n 5 "$T/$tr.bad")"
done
intact "strace runs"
echo "ok: planted links worked around or refused, foreign meta dirs refused, every creation exclusive"
