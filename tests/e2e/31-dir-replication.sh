#!/bin/sh
# Directory replication (a `dbs:` entry with dir, pattern and recursive
# instead of path), on the backend WS_REPLICA picks (tests/lib.sh).
# Under $T/t: four databases at the top (a.db to d.db), two in a
# subdirectory (eu/e.db, eu/f.db), and what must be left alone: a file
# named like a database that is not one, a symbolic link to a database
# outside, a database in a dot-directory, one whose name the pattern does
# not match.  Three wsload processes write while walship runs.
#   1. `walship databases` lists exactly the six; replicate finds six and
#      says so; each replica is at the entry's path plus the database's
#      relative path; nothing is written through the link or for the
#      others.
#   2. walship is killed (SIGKILL) mid-writes and started again: every
#      database restores exactly its writer's last commit.
#   3. A database deleted on the machine is restored by its path through
#      the config, which did not list it (restore finds it through the
#      directory entry), exactly, and again with its subdirectory gone
#      (made again); -if-db-not-exists leaves an existing one alone; a
#      path through a link planted below dir is refused, nothing written.
#   4. Litestream v0.3.13 restores a database's replica (eu/e.db) exactly.
#   5. A database file walship cannot read (as nobody) and a dir that
#      does not exist are refused in one line naming them, with a non-zero
#      exit.
#   6. watch: true on an empty directory: walship starts with no
#      database, and two created while it runs (one in a new
#      subdirectory two levels down) are found, replicated and restore
#      exactly; a file that is not a database is not taken.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica
need_litestream

mkdir -p "$T/t/eu" "$T/t/.hidden" "$T/outside"
for n in a b c d eu/e eu/f; do
	"$TOOLS/wsload" "$T/t/$n.db" -rate 0 -count 5 -log "$T/$(echo "$n" | tr / _).csv" \
		2>>"$T/writer.log" || fail "wsload $n failed"
done
"$TOOLS/wsload" "$T/t/.hidden/h.db" -rate 0 -count 1 2>>"$T/writer.log"
"$TOOLS/wsload" "$T/t/x.sqlite" -rate 0 -count 1 2>>"$T/writer.log"
"$TOOLS/wsload" "$T/outside/o.db" -rate 0 -count 1 2>>"$T/writer.log"
ln -s "$T/outside/o.db" "$T/t/link.db"
echo "not a database" >"$T/t/junk.db"
o_sum=$(sha256sum <"$T/outside/o.db")

cfg=$T/walship.yml
{
	echo "dbs:"
	echo "  - dir: $T/t"
	echo "    recursive: true"
	echo "    replicas:"
	echo "      - name: $WS_REPLICA"
	replica_yaml rep 8
} >"$cfg"

# ---- 1. what is found ----
"$WALSHIP" databases -config "$cfg" >"$T/databases.out" 2>&1 ||
	fail "walship databases failed: $(cat "$T/databases.out")"
got=$(awk 'NR > 1 { print $1 }' "$T/databases.out" | sed "s|^$T/t/||" | tr '\n' ' ')
[ "$got" = "a.db b.db c.db d.db eu/e.db eu/f.db " ] ||
	fail "walship databases lists: $got"

start_bg ws1 "$WALSHIP" replicate -config "$cfg"
wait_for "log_has ws1 'databases found dir=$T/t pattern=\"\\*.db\" recursive=true count=6'" 15
for n in a c eu_e; do
	db=$T/t/$(echo "$n" | tr _ /).db
	start_writer "w$n" "$db" "$T/$n.csv" -rate 40
done
wait_for '[ "$(csv_last_seq "$T/eu_e.csv")" -ge 60 ]' 30
u=$(replica_url rep/eu/e.db)
wait_for '[ "$(probe_seq "$WALSHIP" "$u")" -ge 40 ]' 30

# ---- 2. SIGKILL mid-writes, and a restart ----
stop_bg ws1 KILL || :
wait_for '[ "$(csv_last_seq "$T/a.csv")" -ge 120 ]' 30
start_bg ws2 "$WALSHIP" replicate -config "$cfg"
sleep 2
for n in a c eu_e; do
	stop_bg "w$n" || fail "wsload $n exited $?"
done
for n in a b c d eu_e eu_f; do
	wait_restores "$(replica_url "rep/$(echo "$n" | tr _ /).db")" \
		"$(csv_last_seq "$T/$n.csv")" "$T/$n.csv" 30
	echo "$n: restored exactly at seq $(csv_last_seq "$T/$n.csv")"
done
stop_bg ws2 || fail "walship exited $? on SIGTERM"
[ "$(sha256sum <"$T/outside/o.db")" = "$o_sum" ] ||
	fail "the database behind the link was changed"
for x in .hidden/h.db x.sqlite link.db junk.db; do
	[ -z "$(replica_files "$(replica_url rep)" "$x/" 2>/dev/null || :)" ] ||
		fail "$x was replicated"
	[ ! -e "$T/t/$(dirname "$x")/.$(basename "$x")-walship" ] ||
		fail "walship made a meta directory for $x"
done

# ---- 3. a database gone from the machine, restored by its path ----
rm -f "$T/t/eu/f.db" "$T/t/eu/f.db-wal" "$T/t/eu/f.db-shm"
rm -rf "$T/t/eu/.f.db-walship"
"$WALSHIP" restore -config "$cfg" "$T/t/eu/f.db" >"$T/r3.log" 2>&1 ||
	fail "restore of eu/f.db by its path failed: $(tail -n 2 "$T/r3.log")"
assert_restored "$T/t/eu/f.db" "$(csv_last_seq "$T/eu_f.csv")" "$T/eu_f.csv"
"$WALSHIP" restore -config "$cfg" -if-db-not-exists "$T/t/b.db" >"$T/r3b.log" 2>&1 ||
	fail "restore -if-db-not-exists of b.db failed: $(tail -n 2 "$T/r3b.log")"
grep -q 'already exists, skipping' "$T/r3b.log" ||
	fail "-if-db-not-exists did not skip b.db: $(cat "$T/r3b.log")"
# The whole subdirectory gone (a new machine): made again by the restore.
mv "$T/t/eu" "$T/eu.gone"
"$WALSHIP" restore -config "$cfg" "$T/t/eu/f.db" >"$T/r3d.log" 2>&1 ||
	fail "restore of eu/f.db without eu/ failed: $(tail -n 2 "$T/r3d.log")"
assert_restored "$T/t/eu/f.db" "$(csv_last_seq "$T/eu_f.csv")" "$T/eu_f.csv"
# ...but a planted link below dir is not followed.
ln -s "$T/outside" "$T/t/lnk"
st=0
"$WALSHIP" restore -config "$cfg" "$T/t/lnk/a.db" >"$T/r3e.log" 2>&1 || st=$?
[ "$st" -ne 0 ] && [ ! -e "$T/outside/a.db" ] ||
	fail "a restore through a link below dir: exit $st, $(cat "$T/r3e.log")"
grep -q "refusing $T/t/lnk/a.db: $T/t/lnk is a symbolic link" "$T/r3e.log" ||
	fail "link below dir: $(cat "$T/r3e.log")"
rm "$T/t/lnk"
"$WALSHIP" restore -config "$cfg" "$T/t/eu/zz.txt" >"$T/r3c.log" 2>&1 &&
	fail "a path the pattern does not match was restored"
grep -q 'database not found in config' "$T/r3c.log" ||
	fail "eu/zz.txt: $(cat "$T/r3c.log")"

# ---- 4. Litestream reads a database's replica ----
ls_url=$(replica_url rep/eu/e.db)
[ "$WS_REPLICA" != s3 ] || ls_url="s3://$S3_BUCKET.localhost:$PROXY_PORT/rep/eu/e.db"
"$LITESTREAM" restore -o "$T/e-ls.db" "$ls_url" >"$T/ls.log" 2>&1 ||
	fail "litestream restore of eu/e.db failed: $(tail -n 3 "$T/ls.log")"
assert_restored "$T/e-ls.db" "$(csv_last_seq "$T/eu_e.csv")" "$T/eu_e.csv"

# ---- 5. mistakes ----
# A database walship cannot read is not left out without a word (as a
# user without the permission: root reads everything).
chmod 711 "$T"
mkdir -m 755 "$T/np"
"$TOOLS/wsload" "$T/np/a.db" -rate 0 -count 1 2>>"$T/writer.log"
"$TOOLS/wsload" "$T/np/b.db" -rate 0 -count 1 2>>"$T/writer.log"
chmod 644 "$T/np/a.db"
chmod 600 "$T/np/b.db"
sed "s|dir: $T/t|dir: $T/np|" "$cfg" >"$T/np.yml"
chmod 644 "$T/np.yml"
st=0
setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$WALSHIP" databases -config "$T/np.yml" >"$T/np.log" 2>&1 || st=$?
[ "$st" -ne 0 ] || fail "databases with an unreadable database exited 0: $(cat "$T/np.log")"
grep -q "cannot look for databases in $T/np/b.db: Permission denied" "$T/np.log" ||
	fail "unreadable database: $(cat "$T/np.log")"
sed "s|dir: $T/t|dir: $T/nope|" "$cfg" >"$T/bad1.yml"
st=0
"$WALSHIP" replicate -config "$T/bad1.yml" >"$T/bad1.log" 2>&1 || st=$?
[ "$st" -ne 0 ] || fail "replicate with a missing dir exited 0"
[ "$(tail -n 1 "$T/bad1.log")" = "walship: $T/bad1.yml:2: cannot look for databases in $T/nope: No such file or directory" ] ||
	fail "missing dir: $(cat "$T/bad1.log")"

# ---- 6. watch: true, from an empty directory ----
mkdir "$T/w"
{
	echo "dbs:"
	echo "  - dir: $T/w"
	echo "    recursive: true"
	echo "    watch: true"
	echo "    replicas:"
	echo "      - name: $WS_REPLICA"
	replica_yaml wrep 8
} >"$T/watch.yml"
start_bg ws3 "$WALSHIP" replicate -config "$T/watch.yml"
wait_for "log_has ws3 'databases found dir=$T/w .*count=0 .watch: '" 15
start_writer wn1 "$T/w/n1.db" "$T/n1.csv" -rate 40 -count 80
mkdir -p "$T/w/us/deep"
start_writer wn2 "$T/w/us/deep/n2.db" "$T/n2.csv" -rate 40 -count 80
echo "not a database" >"$T/w/us/junk.db"
wait_bg wn1 30 || fail "wsload n1 exited $?"
wait_bg wn2 30 || fail "wsload n2 exited $?"
wait_restores "$(replica_url wrep/n1.db)" "$(csv_last_seq "$T/n1.csv")" "$T/n1.csv" 30
wait_restores "$(replica_url wrep/us/deep/n2.db)" "$(csv_last_seq "$T/n2.csv")" "$T/n2.csv" 30
log_has ws3 "database found while running db=$T/w/n1.db" ||
	fail "n1.db was not said to be found: $(grep found "$T/ws3.log")"
log_has ws3 "junk" && fail "junk.db was taken: $(grep junk "$T/ws3.log")"
stop_bg ws3 || fail "walship exited $? on SIGTERM"
echo "watch: two databases created while running replicated exactly"
echo "six databases found, replicated, restored exactly; the rest left alone"
