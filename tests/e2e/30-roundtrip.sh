#!/bin/sh
# Round trip under concurrent writes: a separate writer process commits
# while walship replicates; restores taken mid-stream are exact committed
# prefixes, and after a clean stop the restore equals the source.  Then
# the same with two databases replicated by one process from a config
# file, one of them with periodic snapshots.  On the replica backend
# WS_REPLICA picks (tests/lib.sh).
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url replica)
start_writer writer "$db" "$T/tx.csv" -rate 200 -rows 2
start_bg walship "$WALSHIP" replicate "$db" "$url"

# A restore taken while the writer runs is an exact committed prefix,
# never torn.  (The writer runs until stopped, however slow a loaded
# machine makes it: no count depends on the load.)
wait_for '[ "$(probe_seq "$WALSHIP" "$url")" -ge 300 ]' 60
bg_running writer || fail "the writer stopped before the mid-stream restore"
assert_restored "$T/.probe/db" ">=300" "$T/tx.csv"
mid=$AR_SEQ
wait_for '[ "$(csv_last_seq "$T/tx.csv")" -ge $((mid + 300)) ]' 60
stop_bg writer || fail "writer exited $?"
n=$(csv_last_seq "$T/tx.csv")
# Everything committed reaches the replica while walship keeps running.
wait_restores "$url" "$n" "$T/tx.csv" 10
stop_bg walship || fail "walship exited $?"

"$WALSHIP" restore -o "$T/restored.db" "$url" 2>"$T/restore.log" ||
	fail "restore failed: $(cat "$T/restore.log")"
# No temporary file is left behind: beside the target only its meta
# directory (restore carried its position over).
left=$(ls -a "$T" | grep -F restored.db |
	grep -vx -e restored.db -e .restored.db-walship || :)
[ -z "$left" ] || fail "restore left $left beside the target"
assert_restored "$T/restored.db" "$n" "$T/tx.csv"
assert_equal "$db" "$T/restored.db"
log_has walship 'sync: new generation .*reason="no generation exists"' ||
	fail "no new-generation line with its reason"
gens=$(replica_gens "$url")
[ "$(echo "$gens" | grep -c .)" -eq 1 ] || fail "expected one generation: $gens"
log_has restore "restoring from replica=$WS_REPLICA generation=$gens " ||
	fail "restore did not log the generation it chose"
# Every line of a restore names the database: from a replica URL, the
# output path.
unnamed=$(grep -vE " db=$T/restored.db( |\$)" "$T/restore.log" || :)
[ -z "$unnamed" ] || fail "restore lines without db=$T/restored.db: $unnamed"
log_has restore "restored in [0-9]+ms db=$T/restored.db replica=$WS_REPLICA generation=$gens position=[0-9a-f]{8}:[0-9]+$" ||
	fail "the last restore line does not name the replica, generation and position: $(cat "$T/restore.log")"
# The restored file is private.
[ "$(stat -c %a "$T/restored.db")" = 600 ] || fail "restored mode"

# Two databases, one process, from a config file.
mkdir "$T/multi"
ra=$(replica_url multi/ra)
rb=$(replica_url multi/rb)
rb_yaml=$(replica_yaml multi/rb 8)
cat >"$T/multi/walship.yml" <<YML
dbs:
  - path: $T/multi/a.db
    replicas:
      - url: $ra
  - path: \${MULTI_DIR}/b.db
    min-checkpoint-page-count: 200
    replicas:
      - name: dir
$rb_yaml
        sync-interval: 500ms
        snapshot-interval: 1s
YML
MULTI_DIR=$T/multi
export MULTI_DIR
start_writer wa "$T/multi/a.db" "$T/a.csv" -rate 100 -duration 4
start_writer wb "$T/multi/b.db" "$T/b.csv" -rate 150 -duration 120 -seed 7
start_bg multi "$WALSHIP" replicate -config "$T/multi/walship.yml"
wait_bg wa 30 || fail "writer a exited $?"
# b takes a snapshot every second besides the first one, each in a WAL
# index of its own: b writes until three are written (how many WAL
# indexes 4 s of writes make depends on the CPU walship gets).
wait_for '[ "$(grep -c "snapshot written db=[^ ]*/b.db" "$T/multi.log")" -ge 3 ]' 100
stop_bg wb || fail "writer b exited $?"
stop_bg multi || fail "walship (config mode) exited $?"
db_config "$T/multi/restore.yml" "$T/multi/b.db" multi/rb -- name=dir
"$WALSHIP" restore -o "$T/ra.db" "$ra"
"$WALSHIP" restore -config "$T/multi/restore.yml" -replica dir \
	-o "$T/rb.db" "$T/multi/b.db" 2>"$T/rb.log" ||
	fail "restore of b.db failed: $(cat "$T/rb.log")"
# Restoring by the database's path to another output: db= is the
# database, path= the output.
unnamed=$(grep -vE " db=$T/multi/b.db( |\$)" "$T/rb.log" || :)
[ -z "$unnamed" ] || fail "restore lines without db=$T/multi/b.db: $unnamed"
log_has rb.log "restored database db=$T/multi/b.db path=$T/rb.db$" ||
	fail "no 'restored database' line naming both: $(cat "$T/rb.log")"
assert_restored "$T/ra.db" "$(csv_last_seq "$T/a.csv")" "$T/a.csv"
assert_restored "$T/rb.db" "$(csv_last_seq "$T/b.csv")" "$T/b.csv"
assert_equal "$T/multi/a.db" "$T/ra.db"
assert_equal "$T/multi/b.db" "$T/rb.db"
log_has multi "replicating to name=dir type=$WS_REPLICA sync-interval=500ms" ||
	fail "config settings not applied"
# b's low checkpoint threshold rolls its WAL over to new indexes.
replica_files "$rb" generations/ | grep -q '^[^/]*/wal/00000001_' ||
	fail "b never checkpointed to index 1"
"$WALSHIP" restore -config "$T/multi/restore.yml" -replica nope \
	-o "$T/x.db" "$T/multi/b.db" 2>"$T/err.log" && fail "unknown replica accepted"
grep -q 'replica "nope" not found' "$T/err.log" || fail "$(cat "$T/err.log")"
