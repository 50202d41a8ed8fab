#!/bin/sh
# A restore refuses a bad output before it asks the replica anything, and
# leaves nothing behind when it fails or is stopped:
#   1. `-o ""`, an output directory that does not exist, one walship
#      cannot write to (run as nobody), and an output that exists (as a
#      dangling symbolic link too) are each refused with one line and
#      exit status 4 (2 for the empty path), before any request to the
#      replica (S3: the
#      proxy's request count; directory: no open under the replica, by
#      strace), and create nothing.  Another user's group-writable
#      directory (the application's) is accepted.
#   2. A restore that fails (a damaged last WAL segment) leaves the output
#      directory as it was: no output, no temporary file, no meta dir.
#   3. SIGTERM and SIGINT in the middle of the restore of a database of
#      tens of MiB: exit status 1, one "interrupted" line (naming the
#      removed temporary file where the filesystem has no unnamed files),
#      and nothing left.  A signal caught past the point of no return
#      (the database being published) lets the restore complete, which
#      says so; the test then tries again.
#   4. SIGKILL leaves nothing where the filesystem makes unnamed files
#      (O_TMPFILE), and only ".<name>.tmp-XXXXXX" where it does not (one
#      is made by hand in the first case, as such a filesystem would
#      leave it); the next restore to the same output works and, once
#      that file is a minute old, removes it and says so.
#   5. Into a directory that anyone can write in (mode 0777, not sticky),
#      while a planter replaces every ".<name>.tmp-*" name that appears
#      there with its own valid SQLite database (round 1) or a symbolic
#      link to one (round 2): the restore either fails naming the
#      directory, or succeeds with exactly the replica's data (the
#      wscheck oracle) and the output is a regular file, never the
#      planter's.  Where the filesystem makes unnamed files (O_TMPFILE:
#      ext4, tmpfs, xfs, btrfs), no temporary name appears beside the
#      output at all while the restore runs.
# Runs as root (CI does), on the replica backend WS_REPLICA picks.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica
[ "$(id -u)" -eq 0 ] || fail "runs as root (it uses nobody and chown)"
command -v strace >/dev/null || fail "strace is needed (make deps)"
command -v setpriv >/dev/null || fail "setpriv is needed (util-linux)"

url=$(replica_url replica)
db=$T/a.db
csv=$T/tx.csv

# A database of about 40 MiB: a snapshot and WAL segments after it.
"$TOOLS/wsload" "$db" -rate 0 -count 160 -rows 4 -size 65536 -log "$csv" \
	2>"$T/wsload0.log" || fail "wsload failed"
start_bg walship "$WALSHIP" replicate "$db" "$url"
wait_for "log_has walship 'snapshot written'" 60
"$TOOLS/wsload" "$db" -rate 50 -count 20 -rows 2 -size 65536 -log "$csv" \
	2>"$T/wsload1.log" || fail "wsload failed"
n=$(csv_last_seq "$csv")
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -eq '"$n"' ]' 60
stop_bg walship || fail "walship exited $? on SIGTERM"
rm -rf "$T/.probe"

# requests CMD...: run CMD (status in $st, stderr in $T/cmd.err) and set
# $req to the number of requests it made to the replica: S3 requests the
# proxy saw, or opens of anything under the directory replica.
requests() {
	st=0
	if [ "$WS_REPLICA" = s3 ]; then
		_r0=$(s3_stat requests) || fail "s3_stat"
		"$@" >"$T/cmd.out" 2>"$T/cmd.err" || st=$?
		_r1=$(s3_stat requests) || fail "s3_stat"
		req=$((_r1 - _r0))
	else
		# (LeakSanitizer cannot run under ptrace: off for make check)
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
			strace -f -qq -e trace=open,openat -o "$T/cmd.trace" \
			"$@" >"$T/cmd.out" 2>"$T/cmd.err" || st=$?
		req=$(grep -c "\"$T/replica" "$T/cmd.trace" || true)
	fi
}

# refused WANT_ST ERE DESC CMD...: CMD must exit WANT_ST before any
# request, with one "walship: " line matching ERE.
refused() {
	_want=$1 _ere=$2 _desc=$3
	shift 3
	requests "$@"
	[ "$st" -eq "$_want" ] || fail "$_desc: exit $st, want $_want: $(cat "$T/cmd.err")"
	[ "$req" -eq 0 ] || fail "$_desc: $req requests to the replica before refusing"
	[ "$(grep -c '^walship: ' "$T/cmd.err")" -eq 1 ] ||
		fail "$_desc: want one 'walship: ' line: $(cat "$T/cmd.err")"
	grep -q -E "^walship: .*$_ere" "$T/cmd.err" ||
		fail "$_desc: message does not match '$_ere': $(cat "$T/cmd.err")"
}

# A sanity check of the counting itself: a restore does make requests.
mkdir "$T/out"
requests "$WALSHIP" restore -o "$T/out/count.db" "$url"
[ "$st" -eq 0 ] || fail "restore failed: $(cat "$T/cmd.err")"
[ "$req" -gt 0 ] || fail "a restore made no request that this test counts"
assert_restored "$T/out/count.db" "$n" "$csv"
rm -rf "$T/out"
mkdir "$T/out"

# 1. Refused before any request, nothing created.
refused 2 'output path is empty' '-o ""' "$WALSHIP" restore -o "" "$url"
refused 4 "directory $T/nodir does not exist" 'missing directory' \
	"$WALSHIP" restore -o "$T/nodir/a.db" "$url"
[ ! -e "$T/nodir" ] || fail "restore created the missing output directory"
# The application's own directory (another user's, group-writable, not
# sticky) is a normal output directory: restore creates only an
# unguessable name there and never replaces a file, so it is accepted,
# and leaves only the output and its meta dir.
mkdir -m 2775 "$T/open"
chown nobody "$T/open"
"$WALSHIP" restore -o "$T/open/a.db" "$url" 2>"$T/open.err" ||
	fail "restore into another user's group-writable directory: $(cat "$T/open.err")"
[ "$(ls -A "$T/open" | grep -v -x -e a.db -e .a.db-walship)" = "" ] ||
	fail "restore left in $T/open: $(ls -A "$T/open")"
assert_restored "$T/open/a.db" "$n" "$csv"
touch "$T/out/exists.db"
refused 4 'already exists' 'existing output' \
	"$WALSHIP" restore -o "$T/out/exists.db" "$url"
ln -s "$T/nowhere" "$T/out/link.db"
refused 4 'already exists' 'dangling link as output' \
	"$WALSHIP" restore -o "$T/out/link.db" "$url"
[ ! -e "$T/nowhere" ] || fail "restore wrote through a link at the output"
rm -f "$T/out/exists.db" "$T/out/link.db"

# A directory walship cannot write to: as nobody (root can write anywhere),
# with what it needs readable.
chmod o+x "$T"
[ "$WS_REPLICA" = s3 ] || chmod -R o+rX "$T/replica"
mkdir -m 555 "$T/ro"
chown nobody:nogroup "$T/ro"
mkdir -m 700 "$T/nrun"
chown nobody:nogroup "$T/nrun"
refused 4 "create (an unnamed file in $T/ro|$T/ro/\.a\.db\.tmp-[A-Za-z0-9]{6}): Permission denied" \
	'unwritable directory' setpriv --reuid nobody --regid nogroup \
	--clear-groups env XDG_RUNTIME_DIR="$T/nrun" \
	"$WALSHIP" restore -o "$T/ro/a.db" "$url"
[ -z "$(ls -A "$T/ro")" ] || fail "restore wrote in $T/ro"

# 2. A failed restore leaves nothing: damage the last WAL segment.
gen=$(replica_gens "$url")
last=$(replica_files "$url" "generations/$gen/wal/" | tail -n 1)
[ -n "$last" ] || fail "no WAL segment in generation $gen"
key=generations/$gen/wal/$last
replica_get "$url" "$key" "$T/seg.orig" || fail "cannot read $key"
size=$(stat -c %s "$T/seg.orig")
cp "$T/seg.orig" "$T/seg.bad"
flip_byte "$T/seg.bad" $((size / 2))
replica_put "$url" "$key" "$T/seg.bad" || fail "cannot write $key"
"$WALSHIP" restore -o "$T/out/bad.db" "$url" 2>"$T/bad.err" &&
	fail "restore of a damaged replica succeeded"
grep -q "^walship: .*$last" "$T/bad.err" ||
	fail "the error does not name $last: $(tail -n 1 "$T/bad.err")"
[ -z "$(ls -A "$T/out")" ] ||
	fail "a failed restore left: $(ls -A "$T/out")"
replica_put "$url" "$key" "$T/seg.orig" || fail "cannot write $key"

# 3. A signal in the middle of a restore.  The restore is caught with its
# temporary file present and stopped (SIGSTOP) before the signal is sent,
# so that it cannot finish first; the file must still be there then.
tmp_in() {
	ls -A "$1" 2>/dev/null | grep -E '^\.?[a-z]+\.db\.tmp-' || true
}
# building PID: PID holds a file in $T/out open (named or not): it is
# building the database.
building() {
	[ -n "$(tmp_in "$T/out")" ] ||
		ls -l "/proc/$1/fd" 2>/dev/null | grep -q -F -e "-> $T/out/"
}
interrupt() {
	_sig=$1 _o=$T/out/sig.db _tries=0
	while :; do
		_tries=$((_tries + 1))
		[ "$_tries" -le 5 ] || fail "could not catch a restore before its end in 5 tries"
		# What a try that ended before it was caught left.
		rm -rf "$_o" "$T/out/.sig.db-walship"
		"$WALSHIP" restore -parallelism 1 -o "$_o" "$url" 2>"$T/sig.err" &
		_pid=$!
		while ! building "$_pid" && kill -0 "$_pid" 2>/dev/null; do
			:
		done
		kill -STOP "$_pid" 2>/dev/null || true
		if building "$_pid" && [ ! -e "$_o" ]; then
			break
		fi
		kill -CONT "$_pid" 2>/dev/null || true
		wait "$_pid" || true
	done
	caught=$(tmp_in "$T/out")
	kill -s "$_sig" "$_pid"
	kill -CONT "$_pid"
	_st=0
	wait "$_pid" || _st=$?
	# Caught past the point of no return (the database being published):
	# the restore completes and says the signal came too late.
	if [ "$_st" -eq 0 ]; then
		grep -q "SIG$_sig came as the restore completed: $_o is complete" "$T/sig.err" ||
			fail "restore stopped by SIG$_sig exited 0 without saying the signal came late: $(tail -n 3 "$T/sig.err")"
		echo "SIG$_sig came as the restore completed (try $_tries): said so, exit 0; again"
		late=$((late + 1))
		[ "$late" -le 3 ] || fail "every signal came as the restore completed"
		interrupt "$_sig"
		return
	fi
	[ "$_st" -eq 1 ] || fail "restore stopped by SIG$_sig exited $_st, want 1: $(tail -n 3 "$T/sig.err")"
	[ "$(grep -c "interrupted by SIG$_sig" "$T/sig.err")" -eq 1 ] ||
		fail "want one 'interrupted by SIG$_sig' line: $(cat "$T/sig.err")"
	if [ -n "$caught" ]; then
		grep -q "interrupted by SIG$_sig: removed $T/out/$caught" "$T/sig.err" ||
			fail "the line does not name $caught: $(grep interrupted "$T/sig.err")"
	else
		grep -q "interrupted by SIG$_sig: nothing restored to $_o" "$T/sig.err" ||
			fail "the line does not name $_o: $(grep interrupted "$T/sig.err")"
	fi
	[ -z "$(ls -A "$T/out")" ] ||
		fail "SIG$_sig left: $(ls -A "$T/out")"
}
late=0
interrupt TERM
late=0
interrupt INT

# 3b. A signal past the point of no return, made certain: strace holds
# the linkat that publishes the database, and SIGTERM comes then.  Every
# thread holds the signal, so no pool thread can take it and lose it:
# the restore completes, says the signal came late, and exits 0.
if held_signal TERM 30 3b "$WALSHIP" restore -o "$T/out/late.db" "$url"; then
	log_has traced "SIGTERM came as the restore completed: $T/out/late.db is complete" ||
		fail "a SIGTERM at publishing was not said: $(tail -n 3 "$T/traced.log")"
	"$TOOLS/wscheck" -eq "$T/out/late.db" "$db" >/dev/null ||
		fail "the restore that got a late SIGTERM differs from the database"
	rm -rf "$T/out/late.db" "$T/out/late.db-wal" "$T/out/late.db-shm" "$T/out/.late.db-walship"
	echo "3b: SIGTERM while publishing: the restore completed, said so, exit 0"
fi

# 4. SIGKILL leaves nothing, or the temporary file where the filesystem
# has no unnamed files; the next restore is not disturbed by one, and
# removes it once it is a minute old.
"$WALSHIP" restore -o "$T/out/k.db" "$url" 2>/dev/null &
pid=$!
while ! building "$pid" && kill -0 "$pid" 2>/dev/null; do
	:
done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" || true
stale=$(tmp_in "$T/out")
if [ -z "$stale" ] && [ ! -e "$T/out/k.db" ]; then
	[ -z "$(ls -A "$T/out")" ] || fail "SIGKILL left: $(ls -A "$T/out")"
	# What a filesystem without unnamed files leaves.
	stale=.k.db.tmp-Ab12Cd
	cp "$db" "$T/out/$stale"
fi
if [ -n "$stale" ]; then
	case $stale in
	.k.db.tmp-??????) ;;
	*) fail "SIGKILL left an unexpected name: $stale" ;;
	esac
	[ ! -e "$T/out/k.db" ] || fail "SIGKILL left both the output and $stale"
	"$WALSHIP" restore -o "$T/out/k2.db" "$url" 2>"$T/k2.err" ||
		fail "restore beside a stale temporary file: $(cat "$T/k2.err")"
	[ -e "$T/out/$stale" ] || fail "a fresh stale file (another restore's?) was removed"
	touch -d '2 minutes ago' "$T/out/$stale"
	rm -f "$T/out/k.db"
	"$WALSHIP" restore -o "$T/out/k.db" "$url" 2>"$T/k3.err" ||
		fail "restore beside a stale temporary file: $(cat "$T/k3.err")"
	grep -q "removed $T/out/$stale, left by an interrupted restore" "$T/k3.err" ||
		fail "no line about the stale file: $(cat "$T/k3.err")"
	assert_restored "$T/out/k.db" "$n" "$csv"
	[ -z "$(tmp_in "$T/out")" ] || fail "left: $(tmp_in "$T/out")"
else
	# (it finished first: nothing to clean, and nothing may be left)
	[ -e "$T/out/k.db" ] || fail "SIGKILL left neither the output nor a temporary file"
fi
# The planter's database: valid, and not the replica's.
"$TOOLS/wsload" "$T/evil.db" -rate 0 -count 3 -rows 1 -size 100 \
	-log "$T/evil.csv" 2>"$T/evil.log" || fail "wsload failed"
rm -f "$T/evil.db-wal" "$T/evil.db-shm"

# 5. A shared output directory.
fstype=$(stat -f -c %T "$T")
mkdir -m 0777 "$T/shared"
chmod 0777 "$T/shared"
for how in file link; do
	out=$T/shared/v.db
	rm -rf "$out" "$out-wal" "$out-shm" "$T/shared/.v.db-walship" \
		"$T/planted" "$T/seen"
	mkdir "$T/planted"
	: >"$T/seen"
	"$WALSHIP" restore -parallelism 1 -o "$out" "$url" 2>"$T/r-$how.err" &
	pid=$!
	# The planter: every temporary name it sees is moved away and its own
	# database (or a link to it) put in its place.
	while kill -0 "$pid" 2>/dev/null; do
		for f in "$T"/shared/.v.db.tmp-*; do
			[ -e "$f" ] || [ -L "$f" ] || continue
			b=${f##*/}
			grep -q -x -F "$b" "$T/seen" || echo "$b" >>"$T/seen"
			[ ! -e "$T/planted/$b" ] || continue
			mv "$f" "$T/planted/$b" 2>/dev/null || continue
			if [ "$how" = file ]; then
				cp "$T/evil.db" "$f"
			else
				ln -s "$T/evil.db" "$f"
			fi
		done
	done
	st=0
	wait "$pid" || st=$?
	if [ "$st" -eq 0 ]; then
		[ -f "$out" ] && [ ! -L "$out" ] ||
			fail "round $how: restore exited 0 and $out is not a regular file: $(ls -l "$out")"
		cmp -s "$out" "$T/evil.db" &&
			fail "round $how: restore exited 0 and published the planter's database"
		assert_restored "$out" "$n" "$csv"
	else
		[ "$st" -eq 4 ] || fail "round $how: restore exited $st, want 4 (the output's directory): $(tail -n 3 "$T/r-$how.err")"
		grep -q "^walship: .*someone else can write in $T/shared" "$T/r-$how.err" ||
			fail "round $how: the failure does not name the directory: $(tail -n 1 "$T/r-$how.err")"
		[ ! -e "$out" ] && [ ! -L "$out" ] ||
			fail "round $how: a failed restore left $out: $(ls -l "$out")"
	fi
	case $fstype in
	ext2/ext3 | tmpfs | xfs | btrfs)
		[ ! -s "$T/seen" ] ||
			fail "round $how: on $fstype, names appeared beside the output during the restore: $(tr '\n' ' ' <"$T/seen")"
		;;
	*)
		skip "round $how: $T is on $fstype, which may lack O_TMPFILE: not checking that no name appears"
		;;
	esac
done
echo "ok: refusals before any request, nothing left after failure, signals and SIGKILL,
	only its own file published in a shared directory"
