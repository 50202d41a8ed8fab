#!/bin/sh
# walship sync, the durability barrier, and the control endpoint it talks
# to (a Unix socket in the meta directory, served by replicate):
# - with no running replicate, sync fails at once with a clear line; a
#   -timeout past the maximum is refused at the flag;
# - sync returns once the writer's last commit before the call is in the
#   replica (checked by restoring while replicate keeps running), under
#   writes and after them, with sync-interval 1m: sync makes the upload
#   happen now (a -timeout of 30 s could not be met otherwise);
# - several databases in one call, one with a meta path longer than a
#   Unix socket's 108-byte sun_path;
# - (S3) with uploads refused, sync -timeout 3s fails, naming the replica
#   and where it stands; once S3 is back, sync succeeds;
# - hostile clients (a stuck connection, garbage, a 100 KB line, a flood
#   past the connection bound) get an error or are closed, and a
#   concurrent sync still works;
# - a second replicate on the same meta directory does not take the
#   socket; a stale socket (kill -9) is replaced; a symbolic link or a
#   regular file planted at the socket's name is neither followed nor
#   removed, and said; SIGTERM removes the socket.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica
command -v python3 >/dev/null || fail "python3 is needed for the hostile clients"

db=$T/app.db
db2=$T/two.db
long=$T/$(printf 'm%.0s' $(seq 1 60))/$(printf 'n%.0s' $(seq 1 60))
url=$(replica_url sync)
url2=$(replica_url sync2)
sock=$T/.app.db-walship/control.sock
{
	echo "dbs:"
	echo "  - path: $db"
	echo "    min-checkpoint-page-count: 40"
	echo "    replicas:"
	echo "      - name: $WS_REPLICA"
	replica_yaml sync 8
	echo "        sync-interval: 1m"
	echo "  - path: $db2"
	echo "    meta-path: $long"
	echo "    replicas:"
	echo "      - name: $WS_REPLICA"
	replica_yaml sync2 8
	echo "        sync-interval: 1m"
} >"$T/walship.yml"
"$TOOLS/wsload" "$db" -count 20 -rate 0 -log "$T/tx.csv" 2>/dev/null
"$TOOLS/wsload" "$db2" -count 10 -rate 0 -log "$T/tx2.csv" 2>/dev/null

# 1. No running replicate: one clear line, non-zero, at once.
st=0
"$WALSHIP" sync -config "$T/walship.yml" "$db" >"$T/no.out" 2>"$T/no.err" || st=$?
[ "$st" -eq 1 ] || fail "sync without replicate exited $st, want 1"
grep -q "walship: $db: no running walship replicate serves it" "$T/no.err" ||
	fail "sync without replicate said: $(cat "$T/no.err")"
st=0
"$WALSHIP" sync -config "$T/walship.yml" "$T/other.db" 2>"$T/other.err" || st=$?
[ "$st" -eq 4 ] || fail "sync of a database not in the config exited $st, want 4"
grep -q "walship: database not found in config $T/walship.yml: $T/other.db" "$T/other.err" ||
	fail "sync of a database not in the config said: $(cat "$T/other.err")"
st=0
"$WALSHIP" sync -timeout 1x "$db" 2>"$T/usage.err" || st=$?
[ "$st" -eq 2 ] || fail "sync -timeout 1x exited $st, want 2"
grep -q 'invalid value "1x" for flag -timeout' "$T/usage.err" ||
	fail "sync -timeout 1x said: $(cat "$T/usage.err")"
# Past the server's maximum: refused at the flag, not by the server's
# own usage line.
st=0
"$WALSHIP" sync -timeout 1000000h "$db" 2>"$T/max.err" || st=$?
[ "$st" -eq 2 ] || fail "sync -timeout 1000000h exited $st, want 2"
grep -q 'invalid value "1000000h" for flag -timeout: at most 999999999999ms' "$T/max.err" ||
	fail "sync -timeout 1000000h said: $(cat "$T/max.err")"

start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
wait_for '[ -S "$sock" ] && [ -S "$long/control.sock" ]' 20
[ "$(stat -c %a "$sock")" = 600 ] || fail "socket mode $(stat -c %a "$sock"), want 600"
# The first segments go at once (none was shipped yet); the next ones
# would wait for the 1m sync-interval.
"$TOOLS/wsload" "$db" -count 1 -rate 0 -log "$T/tx.csv" 2>/dev/null
"$TOOLS/wsload" "$db2" -count 1 -rate 0 -log "$T/tx2.csv" 2>/dev/null
wait_for 'log_has walship "wal segment written db=$db "' 20
wait_for 'log_has walship "wal segment written db=$db2 "' 20

# 2. Under writes: the last commit before the call is in the restore.
# walship's checkpoints (min-checkpoint-page-count: 40) restart the WAL
# every second or so: the barrier crosses WAL indexes.
start_writer wsload "$db" "$T/tx.csv" -rate 50
wait_for '[ "$(csv_last_seq "$T/tx.csv")" -ge 40 ]' 20
last=0
for round in 1 2 3 4 5; do
	# 30 more commits: a later WAL index.
	wait_for '[ "$(csv_last_seq "$T/tx.csv")" -ge $((last + 30)) ]' 20
	last=$(csv_last_seq "$T/tx.csv")
	"$WALSHIP" sync -config "$T/walship.yml" -timeout 30s "$db" \
		>"$T/sync$round.out" 2>"$T/sync$round.err" ||
		fail "sync round $round: $(cat "$T/sync$round.err")"
	grep -q "^synced db=$db position=[0-9a-f]*/[0-9a-f]*:[0-9]* replicas=$WS_REPLICA" \
		"$T/sync$round.out" || fail "sync printed: $(cat "$T/sync$round.out")"
	rm -f "$T/r$round.db"
	"$WALSHIP" restore -o "$T/r$round.db" "$url" >"$T/restore$round.log" 2>&1 ||
		fail "restore round $round: $(tail -n 2 "$T/restore$round.log")"
	assert_restored "$T/r$round.db" ">=$last" "$T/tx.csv"
	echo "round $round: last commit before sync $last, restored $AR_SEQ"
done
stop_bg wsload || fail "wsload exited $?"
idx=$(sed -n 's|^synced db=[^ ]* position=[0-9a-f]*/\([0-9a-f]*\):.*|\1|p' \
	"$T/sync1.out" "$T/sync5.out" | sort -u | wc -l)
[ "$idx" -eq 2 ] || fail "the syncs did not cross a WAL index: $(cat "$T/sync1.out" "$T/sync5.out")"

# 3. After the writes, and two databases in one call: exactly the end.
last=$(csv_last_seq "$T/tx.csv")
"$TOOLS/wsload" "$db2" -count 7 -rate 0 -log "$T/tx2.csv" 2>/dev/null
"$WALSHIP" sync -config "$T/walship.yml" -timeout 30s "$db" "$db2" \
	>"$T/both.out" 2>"$T/both.err" || fail "sync of both: $(cat "$T/both.err")"
[ "$(grep -c '^synced ' "$T/both.out")" -eq 2 ] || fail "sync of both printed: $(cat "$T/both.out")"
"$WALSHIP" restore -o "$T/end.db" "$url" >"$T/restore-end.log" 2>&1 ||
	fail "restore: $(tail -n 2 "$T/restore-end.log")"
assert_restored "$T/end.db" "$last" "$T/tx.csv"
"$WALSHIP" restore -o "$T/end2.db" "$url2" >"$T/restore-end2.log" 2>&1 ||
	fail "restore: $(tail -n 2 "$T/restore-end2.log")"
assert_restored "$T/end2.db" 18 "$T/tx2.csv"

# 4. S3 refuses uploads: sync -timeout 3s fails and says where the
# replica stands; once it is back, sync succeeds and the rows are there.
if [ "$WS_REPLICA" = s3 ]; then
	s3_faults '{"rate":1,"kinds":["503"],"ops":["PutObject"]}'
	"$TOOLS/wsload" "$db" -count 5 -rate 0 -log "$T/tx.csv" 2>/dev/null
	last=$(csv_last_seq "$T/tx.csv")
	st=0
	"$WALSHIP" sync -config "$T/walship.yml" -timeout 3s "$db" \
		>"$T/down.out" 2>"$T/down.err" || st=$?
	[ "$st" -eq 5 ] || fail "sync with S3 down exited $st, want 5"
	grep -q "walship: $db: not in every replica after [0-9.]*s; replica s3 holds [0-9a-f]*/[0-9a-f]*:[0-9]*, not [0-9a-f]*/[0-9a-f]*:[0-9]*" \
		"$T/down.err" || fail "sync with S3 down said: $(cat "$T/down.err")"
	s3_faults '{"clear":true}'
	"$WALSHIP" sync -config "$T/walship.yml" -timeout 60s "$db" \
		>"$T/up.out" 2>"$T/up.err" || fail "sync after S3 is back: $(cat "$T/up.err")"
	"$WALSHIP" restore -o "$T/up.db" "$url" >"$T/restore-up.log" 2>&1 ||
		fail "restore: $(tail -n 2 "$T/restore-up.log")"
	assert_restored "$T/up.db" "$last" "$T/tx.csv"

	# A new generation while a sync waits (the replica lost its
	# history): its snapshot holds every earlier commit, and the
	# barrier follows it there.
	gen=$(sed -n 's|^synced db=[^ ]* position=\([0-9a-f]*\)/.*|\1|p' "$T/up.out")
	[ -n "$gen" ] || fail "no generation in: $(cat "$T/up.out")"
	s3_faults '{"rate":1,"kinds":["503"],"ops":["PutObject"]}'
	"$TOOLS/wsload" "$db" -count 4 -rate 0 -log "$T/tx.csv" 2>/dev/null
	last=$(csv_last_seq "$T/tx.csv")
	start_bg waiting "$WALSHIP" sync -config "$T/walship.yml" -timeout 150s "$db"
	for k in $(replica_files "$url" "generations/$gen/snapshots/"); do
		replica_del "$url" "generations/$gen/snapshots/$k"
	done
	wait_for 'log_has walship "replica lost its history db=$db replica=s3 generation=$gen"' 90
	s3_faults '{"clear":true}'
	wait_bg waiting 150 || fail "sync across a new generation exited $?"
	log_has waiting "^synced db=$db position=[0-9a-f]{16}/" ||
		fail "sync across a new generation printed: $(cat "$T/waiting.log")"
	log_has waiting "^synced db=$db position=$gen/" &&
		fail "the barrier stayed in the old generation: $(cat "$T/waiting.log")"
	"$WALSHIP" restore -o "$T/gen.db" "$url" >"$T/restore-gen.log" 2>&1 ||
		fail "restore: $(tail -n 2 "$T/restore-gen.log")"
	assert_restored "$T/gen.db" "$last" "$T/tx.csv"
fi

# Another user (nobody) cannot ask: the meta directory is walship's.
if command -v setpriv >/dev/null; then
	chmod o+x "$T"
	st=0
	WALSHIP_CONFIG=$T/none.yml setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$WALSHIP" sync "$db" >/dev/null 2>"$T/nobody.err" || st=$?
	chmod o-x "$T"
	[ "$st" -ne 0 ] || fail "sync as nobody succeeded"
	grep -q "walship: $db: .*$T/.app.db-walship.*: Permission denied (only the user walship replicate runs as, or root, may ask it)" \
		"$T/nobody.err" || fail "sync as nobody said: $(cat "$T/nobody.err")"
else
	skip "setpriv is missing: sync as another user not tried"
fi

# 5. Hostile clients beside a sync that must work.
cat >"$T/hostile.py" <<'PY'
import socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s
def answer(s):
    s.settimeout(20)
    b = b""
    while not b.endswith(b"\n"):
        x = s.recv(4096)
        if not x:
            break
        b += x
    return b.decode("ascii", "replace").strip()
if mode == "stuck":          # connects, sends half a line, never more
    s = conn(); s.send(b"sy"); s.settimeout(60); print(answer(s))
if mode == "garbage":
    s = conn(); s.send(b"\x00\xff\x1b[2J\r\n"); print(answer(s))
if mode == "unknown":
    s = conn(); s.send(b"rm -rf /\n"); print(answer(s))
if mode == "huge":
    s = conn()
    try:
        s.sendall(b"x" * 100000)
    except OSError:
        pass
    print(answer(s))
if mode == "noread":         # asks, never reads, stays
    s = conn(); s.send(b"sync 0\n"); time.sleep(float(sys.argv[3])); sys.exit(0)
if mode == "flood":
    socks, replies = [], []
    for i in range(int(sys.argv[3])):
        socks.append(conn())
    time.sleep(1)
    for s in socks:
        s.setblocking(False)
        try:
            replies.append(s.recv(4096).decode().strip())
        except BlockingIOError:
            replies.append("")
    print(sum(1 for r in replies if r.startswith("error EBUSY too many connections")))
PY
for k in 1 2 3; do
	start_bg stuck$k python3 "$T/hostile.py" "$sock" stuck
done
start_bg noread python3 "$T/hostile.py" "$sock" noread 30
out=$(python3 "$T/hostile.py" "$sock" garbage)
case $out in "error EUSAGE bad request: a byte is not printable ASCII") ;;
*) fail "garbage got: $out" ;; esac
out=$(python3 "$T/hostile.py" "$sock" unknown)
case $out in 'error EUSAGE unknown command "rm" (commands: sync'*) ;;
*) fail "an unknown command got: $out" ;; esac
out=$(python3 "$T/hostile.py" "$sock" huge)
case $out in "error EUSAGE bad request: longer than 511 bytes") ;;
*) fail "a 100 KB line got: $out" ;; esac
"$TOOLS/wsload" "$db" -count 3 -rate 0 -log "$T/tx.csv" 2>/dev/null
last=$(csv_last_seq "$T/tx.csv")
"$WALSHIP" sync -config "$T/walship.yml" -timeout 30s "$db" >"$T/h.out" 2>"$T/h.err" ||
	fail "sync beside hostile clients: $(cat "$T/h.err")"
"$WALSHIP" restore -o "$T/h.db" "$url" >"$T/restore-h.log" 2>&1 ||
	fail "restore: $(tail -n 2 "$T/restore-h.log")"
assert_restored "$T/h.db" "$last" "$T/tx.csv"
bg_running walship || fail "walship stopped"
# The stuck clients are answered and closed by walship after 10 s.
for k in 1 2 3; do
	wait_bg stuck$k 40 || fail "stuck client $k exited $?"
	log_has stuck$k "^error EUSAGE no complete request within 10 s$" ||
		fail "stuck client $k got: $(cat "$T/stuck$k.log")"
done
stop_bg noread || true
# A flood past the bound: the extra connections are told and closed.
n=$(python3 "$T/hostile.py" "$sock" flood 80)
[ "$n" -ge 16 ] || fail "80 connections at once: $n told 'too many connections', want at least 16"
"$WALSHIP" sync -config "$T/walship.yml" -timeout 30s "$db" >/dev/null 2>"$T/f.err" ||
	fail "sync after the flood: $(cat "$T/f.err")"

# 6. A second replicate on the same meta directory leaves the socket be.
st=0
"$WALSHIP" replicate -config "$T/walship.yml" >"$T/second.log" 2>&1 || st=$?
[ "$st" -ne 0 ] || fail "a second replicate exited 0"
grep -q "another walship is replicating this database" "$T/second.log" ||
	fail "the second replicate said: $(tail -n 3 "$T/second.log")"
"$WALSHIP" sync -config "$T/walship.yml" -timeout 30s "$db" >/dev/null 2>"$T/s.err" ||
	fail "sync after a second replicate: $(cat "$T/s.err")"

# The meta directory removed (a new generation): the socket is bound
# again in the new one.
rm -rf "$T/.app.db-walship"
"$TOOLS/wsload" "$db" -count 1 -rate 0 -log "$T/tx.csv" 2>/dev/null
wait_for 'log_has walship "control endpoint gone db=$db"' 30
wait_for '[ -S "$sock" ]' 20
"$WALSHIP" sync -config "$T/walship.yml" -timeout 30s "$db" >/dev/null 2>"$T/re.err" ||
	fail "sync after the meta directory was removed: $(cat "$T/re.err")"
"$WALSHIP" restore -o "$T/re.db" "$url" >"$T/restore-re.log" 2>&1 ||
	fail "restore: $(tail -n 2 "$T/restore-re.log")"
assert_restored "$T/re.db" "$(csv_last_seq "$T/tx.csv")" "$T/tx.csv"

# 7. SIGTERM removes the socket; kill -9 leaves it, and the next start
# replaces it.
stop_bg walship || fail "walship exited $?"
[ ! -e "$sock" ] || fail "the socket is left after SIGTERM"
[ ! -e "$long/control.sock" ] || fail "the long path's socket is left after SIGTERM"
start_bg walship2 "$WALSHIP" replicate -config "$T/walship.yml"
wait_for '[ -S "$sock" ]' 20
stop_bg walship2 KILL || true
[ -S "$sock" ] || fail "no stale socket after kill -9"
"$WALSHIP" sync -config "$T/walship.yml" "$db" 2>"$T/stale.err" && fail "sync on a stale socket succeeded"
grep -q "no running walship replicate serves it (.*control.sock is left by one that stopped)" "$T/stale.err" ||
	fail "sync on a stale socket said: $(cat "$T/stale.err")"
start_bg walship3 "$WALSHIP" replicate -config "$T/walship.yml"
wait_for '"$WALSHIP" sync -config "$T/walship.yml" -timeout 30s "$db" >/dev/null 2>&1' 30
log_has walship3 "control endpoint not served" && fail "the stale socket was not replaced"
stop_bg walship3 || fail "walship exited $?"

# 8. Another process listening at the socket's name: not taken over.
cat >"$T/listen.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1); print("listening", flush=True)
time.sleep(120)
PY
start_bg listener python3 "$T/listen.py" "$sock"
wait_for 'log_has listener listening'
ino=$(stat -c %i "$sock")
start_bg walship6 "$WALSHIP" replicate -config "$T/walship.yml"
wait_for 'log_has walship6 "control endpoint not served db=$db error=\".*control.sock: another process listens on it"' 20
stop_bg walship6 || fail "walship exited $?"
[ -S "$sock" ] && [ "$(stat -c %i "$sock")" = "$ino" ] ||
	fail "the listener's socket was replaced or removed"
stop_bg listener || true
rm "$sock"

# A symbolic link, then a regular file, at the socket's name: not
# followed, not removed; replicate says so and replicates on.
echo keep >"$T/target"
ln -s "$T/target" "$sock"
start_bg walship4 "$WALSHIP" replicate -config "$T/walship.yml"
wait_for 'log_has walship4 "control endpoint not served db=$db error=\".*control.sock is a symbolic link, not a socket: not removed"' 20
[ -L "$sock" ] && [ "$(cat "$T/target")" = keep ] || fail "the planted link or its target changed"
"$WALSHIP" sync -config "$T/walship.yml" -timeout 5s "$db" 2>"$T/link.err" && fail "sync through a planted link succeeded"
grep -q "control.sock is a symbolic link, not walship's socket" "$T/link.err" ||
	fail "sync through a planted link said: $(cat "$T/link.err")"
stop_bg walship4 || fail "walship exited $?"
[ -L "$sock" ] || fail "the planted link was removed at exit"
rm "$sock"
echo data >"$sock"
"$TOOLS/wsload" "$db" -count 2 -rate 0 -log "$T/tx.csv" 2>/dev/null
start_bg walship5 "$WALSHIP" replicate -config "$T/walship.yml"
wait_for 'log_has walship5 "control endpoint not served db=$db error=\".*control.sock is a regular file, not a socket"' 20
wait_restores "$url" "$(csv_last_seq "$T/tx.csv")" "$T/tx.csv" 90
stop_bg walship5 || fail "walship exited $?"
[ "$(cat "$sock")" = data ] || fail "the planted file changed"

# 9. replicate DB_PATH REPLICA_URL, and sync DB_PATH with no config file:
# the default meta directory beside the database.
"$TOOLS/wsload" "$T/plain.db" -count 5 -rate 0 -log "$T/txp.csv" 2>/dev/null
urlp=$(replica_url plain)
start_bg plain "$WALSHIP" replicate "$T/plain.db" "$urlp"
wait_for '[ -S "$T/.plain.db-walship/control.sock" ]' 20
"$TOOLS/wsload" "$T/plain.db" -count 3 -rate 0 -log "$T/txp.csv" 2>/dev/null
(cd "$T" && WALSHIP_CONFIG=$T/none.yml "$WALSHIP" sync -timeout 30s plain.db) \
	>"$T/plain.out" 2>"$T/plain.err" || fail "sync of plain.db: $(cat "$T/plain.err")"
grep -q "^synced db=$T/plain.db " "$T/plain.out" || fail "sync of plain.db printed: $(cat "$T/plain.out")"
"$WALSHIP" restore -o "$T/plain-r.db" "$urlp" >"$T/restore-plain.log" 2>&1 ||
	fail "restore: $(tail -n 2 "$T/restore-plain.log")"
assert_restored "$T/plain-r.db" 8 "$T/txp.csv"
stop_bg plain || fail "walship exited $?"
