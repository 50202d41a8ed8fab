# tests/lib-crash.sh: the crash point cases of tests 24 to 26, sourced
# after lib.sh (and need_replica).  POSIX sh.
#
# The crash build is $WALSHIP_CRASH (default build-crash/walship, `make
# crash`): walship compiled with -DWS_CRASHPOINTS, where
# WALSHIP_CRASHPOINT=NAME:N ends the process with status 137 at the N-th
# crossing of crash point NAME (include/ws/crashpt.h), after the line
# "crash point NAME reached".  need_crash skips the test when it is not
# built (tests/run counts the skip; WS_NO_SKIP=1 makes it a failure).
#
#   crash_case NAME NS WRITER_ARGS [KEY=VALUE... [-- KEY=VALUE...]]
#       NS: crossings, a list; the PR tier runs a case at the first,
#       WS_TIER=nightly (tests/reliability/run) one at each.  A case of
#       its own in $T/NAME-N (database, writer log, replica "c-NAME-N"
#       on the test's backend, config with db_config's KEYs):
#       wsload writes with WRITER_ARGS (one word list) while the crash
#       build replicates with NAME:N armed, until it dies; it must die
#       with status 137 after "crash point NAME reached", within 90 s.
#       Then, the writer still running: what the replica holds restores
#       to an exact committed prefix (or, when the crashed run wrote no
#       snapshot, there is nothing to restore); the release build
#       restarts (unarmed) and its log says why it started a new
#       generation (a reason="..." or error="...") or shows it
#       continued the generation the crashed run left (its "replica
#       position" is in that generation); the writer stops; walship
#       syncs its last commit and stops cleanly on SIGTERM; no object
#       the crash left was overwritten with other content since; the
#       restore is the writer's last commit exactly, equal to the
#       database.
#       CASE_SETUP, when set, is run (eval) after the config is written
#       and before the writer starts; with CASE_STOP=1 the writer (whose
#       WRITER_ARGS must end it) runs to its end before the crash build
#       starts, and the crash build gets SIGTERM once the replica
#       restores the writer's last commit (for the points crossed on the
#       way out).
#
#   restore_case NAME NS
#       For each crossing N (as above): a replica written while wsload
#       writes, both stopped; then the crash build restores it with
#       NAME:N armed and must die as above;
#       the output path is not there and no file of the restore is left
#       in its directory; the release build's restore then succeeds and
#       gives the writer's last commit exactly.
#
# Every case adds NAME to $T/points, one line to the summary that
# crash_summary prints, and one to the reliability counter crashpoints
# (lib.sh's rel_count).
# shellcheck shell=sh
# shellcheck disable=SC2016 # wait_for conditions are evaluated later

WALSHIP_CRASH=${WALSHIP_CRASH:-$ROOT/build-crash/walship}
case $WALSHIP_CRASH in /*) ;; *) WALSHIP_CRASH=$(pwd)/$WALSHIP_CRASH ;; esac
CASE_SETUP=
CASE_STOP=

need_crash() {
	[ -x "$WALSHIP_CRASH" ] ||
		skip_test "$WALSHIP_CRASH is not built (make crash)"
	_nc=$(WALSHIP_CRASHPOINT=stop-marker:1 "$WALSHIP_CRASH" version 2>&1) ||
		fail "$WALSHIP_CRASH version: $_nc"
	case $_nc in
	*"crash point stop-marker armed"*) ;;
	*) fail "$WALSHIP_CRASH is not a crash build (no \"armed\" line): $_nc" ;;
	esac
}

# The names of the crash points in the source, one a line, sorted.
crash_points_src() {
	grep -ho 'WS_CRASHPOINT("[a-z0-9-]*")' "$ROOT"/src/*.c |
		sed 's/.*("\(.*\)")/\1/' | sort -u
}

# _crash_died NAME LOGNAME N: the crash build (background LOGNAME) ended
# at point NAME.
_crash_died() {
	wait_for "! bg_running $2" 90
	_cd_st=0
	_ws_reap "$2" || _cd_st=$?
	[ "$_cd_st" -eq 137 ] ||
		fail "$1:$3: the crash build exited $_cd_st, not 137 at the point: $(tail -n 3 "$T/$2.log")"
	log_has "$2" "crash point $1 reached \\(crossing $3\\)" ||
		fail "$1:$3: exit 137 without the crash point's line: $(tail -n 3 "$T/$2.log")"
	rel_count crashpoints
}

# _crash_same_objects NAME URL DIR: every object in DIR (copied from URL
# after the crash) that URL still holds has the same bytes: none was
# overwritten with other content (one deleted since, by retention or as
# a record left by a stopped upload, is fine).
_crash_same_objects() {
	_cs_now=$(replica_ls "$2" | cut -d" " -f1) ||
		fail "$1: could not list the replica"
	for _cs_k in $(cd "$3" && find . -type f | sed 's|^\./||' | sort); do
		echo "$_cs_now" | grep -q -x -F -e "$_cs_k" || continue
		# A failed GET is tried twice more; the failure names wsobj's
		# last message.
		replica_get "$2" "$_cs_k" "$3.now" 2>"$3.err" ||
			replica_get "$2" "$_cs_k" "$3.now" 2>"$3.err" ||
			replica_get "$2" "$_cs_k" "$3.now" 2>"$3.err" ||
			fail "$1: could not read $_cs_k: $(cat "$3.err")"
		cmp -s "$3/$_cs_k" "$3.now" ||
			fail "$1: object $_cs_k was overwritten with other content after the crash"
	done
}

_crash_case_one() {
	_cc=$1
	_cn=$2
	_cw=$3
	shift 3
	_ct=$_cc-$_cn
	_cdir=$T/$_ct
	mkdir "$_cdir"
	_cdb=$_cdir/db
	_ccsv=$_cdir/tx.csv
	_curl=$(replica_url "c-$_ct")
	db_config "$_cdir/walship.yml" "$_cdb" "c-$_ct" "$@"
	_ct0=$(date +%s)
	[ -z "$CASE_SETUP" ] || eval "$CASE_SETUP"
	# shellcheck disable=SC2086 # WRITER_ARGS is a word list
	start_writer "w-$_ct" "$_cdb" "$_ccsv" $_cw
	if [ -n "$CASE_STOP" ]; then
		# The writer ends first; its last close checkpoints and removes
		# the -wal, so the generation begins on an empty -wal, whose
		# stop always leaves the marker (meta.h).
		wait_bg "w-$_ct" 120 || fail "$_ct: wsload exited $?"
		[ ! -s "$_cdb-wal" ] || fail "$_ct: wsload left a -wal"
	fi
	WALSHIP_CRASHPOINT=$_cc:$_cn start_bg "crash-$_ct" "$WALSHIP_CRASH" \
		replicate -v -config "$_cdir/walship.yml"
	if [ -n "$CASE_STOP" ]; then
		_cl=$(csv_last_seq "$_ccsv")
		wait_for '[ "$(probe_seq "$WALSHIP" "$_curl")" -eq '"$_cl"' ]' 60
		kill -s TERM "$(bg_pid "crash-$_ct")"
	fi
	_crash_died "$_cc" "crash-$_ct" "$_cn"
	# What the crash left: an exact committed prefix, or nothing yet.
	_cr=$_cdir/after-crash.db
	if "$WALSHIP" restore -o "$_cr" "$_curl" >"$_cdir/after-crash.log" 2>&1; then
		assert_restored "$_cr" ">=0" "$_ccsv"
		_cseq=$AR_SEQ
	elif ! log_has "crash-$_ct" 'snapshot written'; then
		_cseq=none
	else
		fail "$_ct: no restore after the crash: $(tail -n 2 "$_cdir/after-crash.log")"
	fi
	_cgen=$(cat "$_cdir/.db-walship/generation" 2>/dev/null) || _cgen=
	mkdir "$_cdir/objs"
	replica_pull "$_curl" "$_cdir/objs" ||
		fail "$_ct: could not copy the replica's objects after the crash"
	# The restart, unarmed, while the writer (if still running) writes.
	start_bg "re-$_ct" "$WALSHIP" replicate -config "$_cdir/walship.yml"
	wait_for "log_has re-$_ct 'replica position|new generation|write snapshot'" 60
	if bg_running "w-$_ct"; then
		_cl=$(($(csv_last_seq "$_ccsv") + 10))
		wait_for '[ "$(csv_last_seq "$_ccsv")" -ge '"$_cl"' ]' 30
		stop_bg "w-$_ct" || fail "$_ct: wsload exited $?"
	fi
	_cl=$(csv_last_seq "$_ccsv")
	wait_for '[ "$(probe_seq "$WALSHIP" "$_curl")" -eq '"$_cl"' ]' 60
	stop_bg "re-$_ct" || fail "$_ct: the restarted walship exited $? on SIGTERM"
	if log_has "re-$_ct" 'new generation'; then
		_cwhy=$(grep -E 'new generation' "$T/re-$_ct.log" |
			grep -E -o '(reason|error)="[^"]+"' | head -n 1)
		[ -n "$_cwhy" ] ||
			fail "$_ct: the restart began a new generation without a reason: $(grep 'new generation' "$T/re-$_ct.log")"
		_cwhat="new generation, $_cwhy"
	else
		# Its position in the replica, or (no snapshot there yet) the
		# generation's first snapshot.
		if [ -z "$_cgen" ] ||
			! log_has "re-$_ct" "(replica position|write snapshot) .*position=$_cgen/"; then
			fail "$_ct: the restart neither began a new generation nor continued generation \"$_cgen\": $(grep -E 'replica position|write snapshot' "$T/re-$_ct.log")"
		fi
		_cwhat="continued $_cgen"
	fi
	_crash_same_objects "$_ct" "$_curl" "$_cdir/objs"
	_cf=$_cdir/final.db
	"$WALSHIP" restore -o "$_cf" "$_curl" >"$_cdir/final.log" 2>&1 ||
		fail "$_ct: final restore: $(tail -n 2 "$_cdir/final.log")"
	assert_restored "$_cf" "$_cl" "$_ccsv"
	assert_equal "$_cdb" "$_cf"
	echo "$_cc" >>"$T/points"
	echo "$_cc:$_cn crashed; restore after it: seq $_cseq; restart: $_cwhat; final seq $_cl exact ($(($(date +%s) - _ct0))s)" |
		tee -a "$T/summary"
}

_restore_case_one() {
	_rc=$1
	_rn=$2
	_rt=$_rc-$_rn
	_rdir=$T/$_rt
	mkdir "$_rdir" "$_rdir/out"
	_rdb=$_rdir/db
	_rcsv=$_rdir/tx.csv
	_rurl=$(replica_url "c-$_rt")
	_rt0=$(date +%s)
	# Several indexes and segments: a snapshot and the WAL after it.
	db_config "$_rdir/walship.yml" "$_rdb" "c-$_rt" \
		min-checkpoint-page-count=40 -- sync-interval=100ms
	start_writer "w-$_rt" "$_rdb" "$_rcsv" -rate 40 -rows 2 -size 2000
	start_bg "ws-$_rt" "$WALSHIP" replicate -config "$_rdir/walship.yml"
	wait_for "[ \$(grep -c 'wal segment written' '$T/ws-$_rt.log') -ge 5 ]" 60
	stop_bg "w-$_rt" || fail "$_rt: wsload exited $?"
	_rl=$(csv_last_seq "$_rcsv")
	wait_for '[ "$(probe_seq "$WALSHIP" "$_rurl")" -eq '"$_rl"' ]' 60
	stop_bg "ws-$_rt" || fail "$_rt: walship exited $? on SIGTERM"
	WALSHIP_CRASHPOINT=$_rc:$_rn start_bg "crash-$_rt" "$WALSHIP_CRASH" \
		restore -o "$_rdir/out/db" "$_rurl"
	_crash_died "$_rc" "crash-$_rt" "$_rn"
	_rleft=$(ls -A "$_rdir/out")
	[ -z "$_rleft" ] ||
		fail "$_rt: the crashed restore left files in the output directory: $_rleft"
	"$WALSHIP" restore -o "$_rdir/out/db" "$_rurl" >"$_rdir/rerun.log" 2>&1 ||
		fail "$_rt: the rerun failed: $(tail -n 2 "$_rdir/rerun.log")"
	assert_restored "$_rdir/out/db" "$_rl" "$_rcsv"
	echo "$_rc" >>"$T/points"
	echo "$_rc:$_rn crashed; nothing left in the output directory; rerun restores seq $_rl exact ($(($(date +%s) - _rt0))s)" |
		tee -a "$T/summary"
}

# crash_case NAME NS ... / restore_case NAME NS: NS is a list of
# crossings; the PR tier runs the first, WS_TIER=nightly each of them.
_crash_ns() {
	if [ "${WS_TIER:-}" = nightly ]; then
		echo "$1"
	else
		echo "${1%% *}"
	fi
}

crash_case() {
	_cx=$1
	_cxs=$(_crash_ns "$2")
	shift 2
	for _cxn in $_cxs; do
		_crash_case_one "$_cx" "$_cxn" "$@"
	done
}

restore_case() {
	for _rxn in $(_crash_ns "$2"); do
		_restore_case_one "$1" "$_rxn"
	done
}

crash_summary() {
	echo "crash points crossed: $(grep -c . "$T/points") on $WS_REPLICA"
}
