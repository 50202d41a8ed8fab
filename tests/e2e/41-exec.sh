#!/bin/sh
# replicate -exec: walship runs the application (a shell script here,
# writing with wsload) and supervises it.
# 1. The application starts only once replication is ready: at its start
#    it restores the replica, which already holds every row written
#    before walship started.  It inherits walship's environment and
#    stdio, and no other descriptor of walship's.  It
#    writes and exits 7: walship does a final sync (the restore has its
#    last write) and exits 7.
# 2. SIGHUP and SIGINT sent to walship reach the application and do not
#    stop walship; SIGTERM reaches it, it writes and exits 3, and walship
#    exits 3 with that write shipped.
# 3. An application killed by signal 9: walship exits 128 + 9.
# 4. Zombies are reaped: an orphaned grandchild comes to walship (a
#    child subreaper) and, once it exits, no <defunct> process remains.
# 5. A command that cannot be started (missing, not executable): one
#    clear error line, a non-zero exit, after a final sync that ships
#    what was written before.
# 6. A final sync that fails (the replica broken, or S3 down, after the
#    application's last write): a non-zero exit whose message names the
#    database and the replica; a later walship ships it all.
# 7. A database that does not exist yet does not hold the application
#    back: it starts while walship waits for the database, creates it
#    and exits 0; walship exits 0 with all of it in the replica.
# 8. Arguments are never shown: a canary secret passed in the command
#    (expanded from the environment in `exec:`, by the shell in -exec)
#    is in no line walship writes, whether the application starts, cannot
#    be started, or the command cannot be split; the lines name the
#    program and how many arguments it has.
# On the replica backend WS_REPLICA picks (tests/lib.sh).
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url replica)
"$TOOLS/wsload" "$db" -count 20 -rate 0 -log "$T/tx.csv" 2>/dev/null

# The application.  Its environment comes from walship's: APP_* and the
# binaries' paths are exported here, nowhere else.
APP_T=$T APP_URL=$url APP_DB=$db APP_TOOLS=$TOOLS APP_WALSHIP=$WALSHIP
# A secret the commands pass to the application (case 8).
APP_PASS=canary-hunter2-41
export APP_T APP_URL APP_DB APP_TOOLS APP_WALSHIP APP_PASS
cat >"$T/app.sh" <<'EOF'
#!/bin/sh
# app.sh MODE: write, then end as MODE says.  Leaves $APP_T/app.state.
set -u
write() {
	"$APP_TOOLS/wsload" "$APP_DB" -count "$1" -rate 0 \
		-log "${APP_CSV:-$APP_T/tx.csv}" 2>>"$APP_T/app.err"
}
case $1 in
first)
	ls -l /proc/self/fd >"$APP_T/fds.txt"
	rm -f "$APP_T/start.db"
	if "$APP_WALSHIP" restore -o "$APP_T/start.db" "$APP_URL" \
		>"$APP_T/start.log" 2>&1; then
		echo restored >"$APP_T/app.state"
	else
		echo "restore failed" >"$APP_T/app.state"
	fi
	write 10
	exit 7
	;;
signals)
	trap 'echo HUP >>"$APP_T/signals.txt"' HUP
	trap 'echo INT >>"$APP_T/signals.txt"' INT
	trap 'write 5; echo TERM >>"$APP_T/signals.txt"; exit 3' TERM
	echo ready >"$APP_T/app.state"
	while :; do sleep 0.1; done
	;;
kill)
	write 1
	kill -s KILL $$
	;;
orphan)
	trap 'exit 0' TERM
	# The subshell exits at once: its sleep is orphaned.
	(sleep 2 & echo $! >"$APP_T/orphan.pid")
	echo ready >"$APP_T/app.state"
	while :; do sleep 0.1; done
	;;
create)
	write 7
	exit 0
	;;
wait-go)
	echo ready >"$APP_T/app.state"
	while [ ! -f "$APP_T/go" ]; do sleep 0.1; done
	write 5
	exit 0
	;;
esac
exit 99
EOF
chmod +x "$T/app.sh"

# run NAME MODE [ARGS...]: walship -exec "app.sh MODE" in the background.
run() {
	_r_name=$1
	_r_mode=$2
	shift 2
	rm -f "$T/app.state"
	start_bg "$_r_name" "$WALSHIP" replicate \
		-exec "$T/app.sh $_r_mode --password $APP_PASS" "$@" "$db" "$url"
}

# replica_at CASE SEQ: the replica restores to exactly SEQ.
replica_at() {
	rm -f "$T/r$1.db"
	"$WALSHIP" restore -o "$T/r$1.db" "$url" 2>"$T/restore$1.log" ||
		fail "restore: $(cat "$T/restore$1.log")"
	assert_restored "$T/r$1.db" "$2" "$T/tx.csv"
}

# 1. Ready first; exit 7 after a final sync.
run first first
st=0
wait_bg first 60 || st=$?
[ "$st" -eq 7 ] || fail "walship -exec exited $st when the application exited 7"
[ "$(cat "$T/app.state")" = restored ] ||
	fail "the application could not restore the replica at its start: $(cat "$T/start.log")"
assert_restored "$T/start.db" 20 "$T/tx.csv"
# walship's files stay walship's: no descriptor of the database, its
# -wal, the meta directory (lock, shadow WAL) or the replica leaks into
# the application.
leaked=$(grep -E -e "-> $T/(db|\.db-walship|replica)" "$T/fds.txt" || true)
[ -z "$leaked" ] || fail "walship's descriptors leaked into the application: $leaked"
log_has first "application started pid=[0-9]+ exec=$T/app.sh args=3\$" ||
	fail "the start line does not name the program and its arguments' count"
log_has first 'application exited pid=[0-9]+ status=7' ||
	fail "no line about the application's exit"
replica_at 1 30
echo "1: the application restored seq 20 at its start; exit 7; replica at 30"

# 2. Signals.
run sig signals
wait_for '[ "$(cat "$T/app.state" 2>/dev/null)" = ready ]' 20
pid=$(bg_pid sig)
kill -HUP "$pid"
wait_for 'grep -qsx HUP "$T/signals.txt"' 10
bg_running sig || fail "walship stopped on SIGHUP"
kill -INT "$pid"
wait_for 'grep -qsx INT "$T/signals.txt"' 10
bg_running sig || fail "walship stopped on SIGINT"
kill -TERM "$pid"
st=0
wait_bg sig 60 || st=$?
[ "$st" -eq 3 ] || fail "walship exited $st after the application exited 3"
[ "$(tr '\n' ' ' <"$T/signals.txt")" = "HUP INT TERM " ] ||
	fail "the application saw signals: $(tr '\n' ' ' <"$T/signals.txt")"
for s in 1 2 15; do
	log_has sig "signal forwarded to the application signal=$s pid=" ||
		fail "no line about forwarding signal $s"
done
replica_at 2 35
echo "2: HUP, INT, TERM forwarded; exit 3; replica at 35"

# 3. Killed by a signal.
run kill kill
st=0
wait_bg kill 60 || st=$?
[ "$st" -eq 137 ] || fail "walship exited $st after the application was killed by signal 9, want 137"
log_has kill 'application exited pid=[0-9]+ signal=9 status=137' ||
	fail "no line about the application's signal"
echo "3: killed by signal 9: exit 137"

# 4. Orphans are reaped.
run orphan orphan
wait_for '[ "$(cat "$T/app.state" 2>/dev/null)" = ready ] && [ -s "$T/orphan.pid" ]' 20
pid=$(bg_pid orphan)
opid=$(cat "$T/orphan.pid")
# While it lives, the orphan is walship's child: what it leaves when it
# exits is walship's to reap.
pp=$(ps -o ppid= -p "$opid" | tr -d ' ') ||
	fail "the orphan (pid $opid) exited before it could be checked"
[ "$pp" = "$pid" ] ||
	fail "the orphan's parent is $pp, not walship ($pid): walship is not a subreaper"
wait_for '[ -z "$(ps -o stat= -p "$opid")" ]' 15
zombies=$(ps -o stat=,pid=,comm= --ppid "$pid" | awk '$1 ~ /^Z/')
[ -z "$zombies" ] || fail "defunct processes under walship: $zombies"
st=0
stop_bg orphan || st=$?
[ "$st" -eq 0 ] || fail "walship exited $st after the application exited 0"
echo "4: the orphan came to walship and was reaped"

# 5. A command that cannot be started.
"$TOOLS/wsload" "$db" -count 3 -rate 0 -log "$T/tx.csv" 2>/dev/null
n=$(csv_last_seq "$T/tx.csv")
for cmd in "$T/nosuch -x $APP_PASS" "$T/tx.csv"; do
	st=0
	"$WALSHIP" replicate -exec "$cmd" "$db" "$url" >"$T/nostart.log" 2>&1 ||
		st=$?
	[ "$st" -ne 0 ] || fail "walship -exec \"$cmd\" exited 0"
	last=$(tail -n 1 "$T/nostart.log")
	case $cmd in
	*nosuch*) want="walship: cannot start the application $T/nosuch: no such file or directory (-exec, 2 arguments not shown)" ;;
	*) want="walship: cannot start the application $T/tx.csv: permission denied (-exec, 0 arguments not shown)" ;;
	esac
	case $last in
	"$want"*) ;;
	*) fail "-exec \"$cmd\": exit line \"$last\", want \"$want ...\"" ;;
	esac
done
replica_at 5 "$n"
echo "5: missing and non-executable commands: exit $st, \"$last\"; replica at $n"

# 6. The final sync fails.
run fail wait-go -shutdown-sync-timeout 10s
wait_for '[ "$(cat "$T/app.state" 2>/dev/null)" = ready ]' 20
if [ "$WS_REPLICA" = s3 ]; then
	s3_stop_server
else
	mv "$T/replica" "$T/replica.saved"
	echo "not a directory" >"$T/replica"
fi
touch "$T/go"
st=0
wait_bg fail 60 || st=$?
if [ "$st" -eq 0 ] || [ "$st" -eq 7 ]; then
	fail "walship exited $st after a final sync that could not reach the replica"
fi
last=$(tail -n 1 "$T/fail.log")
case $last in
"walship: shut down with unshipped changes: db=$db replica=$WS_REPLICA"*) ;;
*) fail "the exit line does not name the database and replica: $last" ;;
esac
echo "6: final sync failed: exit $st, \"$last\""
if [ "$WS_REPLICA" = s3 ]; then
	s3_start_server
else
	rm "$T/replica"
	mv "$T/replica.saved" "$T/replica"
fi
n=$(csv_last_seq "$T/tx.csv")
start_bg again "$WALSHIP" replicate "$db" "$url"
wait_restores "$url" "$n" "$T/tx.csv" 60
stop_bg again || fail "walship exited $?"
echo "6: shipped by the next start: replica at $n"

# 7. The database does not exist yet.
url7=$(replica_url replica7)
start_bg new env APP_DB="$T/new.db" APP_CSV="$T/new.csv" \
	"$WALSHIP" replicate -exec "$T/app.sh create" "$T/new.db" "$url7"
st=0
wait_bg new 60 || st=$?
[ "$st" -eq 0 ] || fail "walship exited $st after the application exited 0"
grep -n -E "waiting for the database|application started" "$T/new.log" |
	head -n 1 | grep -q "waiting for the database db=$T/new.db" ||
	fail "the application did not start while the database was awaited"
wait_restores "$url7" 7 "$T/new.csv"
echo "7: started while the database was awaited; exit 0; replica at 7"

# 8. No argument in any line: the config's `exec:` expands ${APP_PASS}
# (a start that fails), a command that cannot be split, and every log
# of the cases above.
db_config "$T/dbs8.yml" "$db" replica
{
	echo "exec: \"$T/nosuch --password \${APP_PASS}\""
	cat "$T/dbs8.yml"
} >"$T/exec8.yml"
st=0
"$WALSHIP" replicate -config "$T/exec8.yml" >"$T/exec8.log" 2>&1 || st=$?
[ "$st" -ne 0 ] || fail "walship with exec: $T/nosuch exited 0"
last=$(tail -n 1 "$T/exec8.log")
[ "$last" = "walship: cannot start the application $T/nosuch: no such file or directory (-exec, 2 arguments not shown)" ] ||
	fail "exec: with a missing program: exit line \"$last\""
st=0
"$WALSHIP" replicate -exec "$T/app.sh --password $APP_PASS 'x" "$db" "$url" \
	>"$T/split8.log" 2>&1 || st=$?
[ "$st" -eq 2 ] || fail "an unterminated quote in -exec exited $st, want 2"
last=$(tail -n 1 "$T/split8.log")
[ "$last" = "walship: invalid value for flag -exec: unterminated ' at character $((${#T} + 38))" ] ||
	fail "an unterminated quote in -exec: exit line \"$last\""
leaks=$(grep -l "$APP_PASS" "$T"/*.log || true)
[ -z "$leaks" ] || fail "the secret argument is in: $leaks: $(grep -h "$APP_PASS" $leaks | head -n 3)"
n=$(grep -c "$T/app.sh args=3" "$T"/*.log | awk -F: '{ s += $2 } END { print s }')
[ "$n" -ge 4 ] || fail "only $n lines name the application and its arguments' count"
echo "8: no argument in any line ($(ls "$T"/*.log | wc -l) logs); \"$last\""
