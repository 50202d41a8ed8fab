#!/bin/sh
# walship as PID 1 (a container's init): in a new PID namespace (unshare),
# walship -exec runs an application that leaves three orphans behind.
# The kernel gives them to PID 1, walship; when they exit, walship reaps
# them: no <defunct> process remains under it.  SIGTERM from outside
# reaches the application through walship, which then exits 0 after its
# final sync, with the application's last write in the replica.  Without
# -exec, walship as PID 1 reaps too: three orphans left by a process
# that entered its namespace (nsenter, as `docker exec` does) are reaped.
# Skipped where PID namespaces cannot be made (unshare refused).
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"

ns=""
for try in "unshare --pid --fork --mount-proc" \
	"unshare -r --pid --fork --mount-proc"; do
	# shellcheck disable=SC2086 # the command's words
	if [ "$($try sh -c 'echo $$' 2>/dev/null)" = 1 ]; then
		ns=$try
		break
	fi
done
[ -n "$ns" ] || skip_test "cannot make a PID namespace here (unshare refused)"
need_replica
db=$T/db
url=$(replica_url replica)
"$TOOLS/wsload" "$db" -count 10 -rate 0 -log "$T/tx.csv" 2>/dev/null

APP_T=$T APP_DB=$db APP_TOOLS=$TOOLS
export APP_T APP_DB APP_TOOLS
cat >"$T/app.sh" <<'EOF'
#!/bin/sh
trap '"$APP_TOOLS/wsload" "$APP_DB" -count 5 -rate 0 -log "$APP_T/tx.csv" \
	2>/dev/null; exit 0' TERM
for i in 1 2 3; do
	(sleep 3 &) # the subshell exits at once: its sleep is orphaned
done
echo ready >"$APP_T/app.state"
while :; do sleep 0.1; done
EOF
chmod +x "$T/app.sh"

# walship_pid NAME: walship's pid (outside), under the unshare NAME;
# walship must be PID 1 in its namespace.
walship_pid() {
	wait_for '[ -n "$(ps -o pid= --ppid "$(bg_pid '"$1"')")" ]' 10
	wpid=$(ps -o pid= --ppid "$(bg_pid "$1")" | tr -d ' ')
	[ "$(awk '/^NSpid:/ { print $NF }' "/proc/$wpid/status")" = 1 ] ||
		fail "walship is not PID 1 in its namespace: $(grep NSpid "/proc/$wpid/status")"
}

# reaped: the three orphans (sleep) are walship's children while they
# live, and once they exit nothing of them is left.
reaped() {
	n=$(pgrep -c -P "$wpid" -x sleep || true)
	[ "$n" -eq 3 ] ||
		fail "$n orphans under walship, want 3: $(ps -o pid=,stat=,comm= --ppid "$wpid" | tr '\n' ';')"
	wait_for '! pgrep -P "$wpid" -x sleep >/dev/null' 15
	zombies=$(ps -o stat=,pid=,comm= --ppid "$wpid" | awk '$1 ~ /^Z/')
	[ -z "$zombies" ] || fail "defunct processes under walship: $zombies"
}

# shellcheck disable=SC2086 # the command's words
start_bg ns $ns "$WALSHIP" replicate -exec "$T/app.sh" "$db" "$url"
wait_for '[ "$(cat "$T/app.state" 2>/dev/null)" = ready ]' 30
walship_pid ns
reaped
echo "three orphans came to walship (PID 1) and were reaped"

kill -TERM "$wpid"
st=0
wait_bg ns 60 || st=$?
[ "$st" -eq 0 ] || fail "walship exited $st after the application exited 0"
log_has ns "signal forwarded to the application signal=15" ||
	fail "no line about forwarding SIGTERM"
wait_restores "$url" 15 "$T/tx.csv"
echo "SIGTERM forwarded; exit 0; replica at 15"

# Without -exec too: orphans that a process entering walship's namespace
# (as `docker exec` does) leaves behind come to walship, PID 1, and are
# reaped.
command -v nsenter >/dev/null ||
	skip_test "no nsenter here: cannot enter walship's namespace"
# shellcheck disable=SC2086 # the command's words
start_bg ns2 $ns "$WALSHIP" replicate "$db" "$url"
walship_pid ns2
wait_for 'log_has ns2 "replica position|snapshot written"' 20
nsenter -t "$wpid" -p -- sh -c 'for i in 1 2 3; do (sleep 3 &); done' ||
	fail "nsenter into walship's namespace failed"
reaped
kill -TERM "$wpid"
st=0
wait_bg ns2 60 || st=$?
[ "$st" -eq 0 ] || fail "walship exited $st on SIGTERM"
echo "without -exec: three orphans left in walship's namespace were reaped"
