#!/bin/sh
# The shadow WAL is written late (db.h): while walship's read pins the
# current index in the -wal, copies leave the frames there and shippers
# read them from it; frames every replica already holds are never
# written to the shadow, which keeps, of a closed index, only what a
# replica may still need.  On the backend WS_REPLICA picks, with uploads
# only when `walship sync` asks (sync-interval 1h) and seals only at
# min-checkpoint-page-count (checkpoint-interval 0), so that where the
# replica stands at each seal is known:
#   1. frames shipped (walship sync) before their index is sealed are not
#      written to its shadow file: fewer blocks than half its size (the
#      seal waits for the replica, and a shipped segment brings it on at
#      once); a restore is exact;
#   2. the same again, the index left sealed, then stopped by SIGTERM
#      and the -wal checkpointed away by the application (TRUNCATE): the
#      restart continues the generation (the stop's proof, and a current
#      shadow file with a hole), and a restore is exact;
#   3. a frame of the -wal that walship copied but has not shipped is
#      damaged while walship runs (another process writing the -wal):
#      the shipper refuses it, naming it ("neither in the -wal nor in
#      the shadow"), `walship sync` fails, and the replica restores to
#      an exact committed prefix holding everything before the damage.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
csv=$T/tx.csv
cfg=$T/cfg.yml
url=$(replica_url lazy)
db_config "$cfg" "$db" lazy checkpoint-interval=0 \
	min-checkpoint-page-count=1000 -- sync-interval=1h

# Frames in the current WAL index (SQLite's count; a PASSIVE checkpoint
# from outside backfills no further than walship's read allows).
wal_frames() {
	python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
print(c.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
' "$db"
}

# Commit 10 transactions at a time until the index holds N frames.
fill_to() {
	while [ "$(wal_frames)" -lt "$1" ]; do
		"$TOOLS/wsload" "$db" -count 10 -rate 0 -log "$csv" 2>>"$T/writer.log"
	done
}

sync_now() {
	timeout 60 "$WALSHIP" sync -config "$cfg" -timeout 30s "$db" >"$T/$1.log" 2>&1 ||
		fail "walship sync ($1): $(cat "$T/$1.log")"
}

restore_exact() {
	"$WALSHIP" restore -o "$T/$1.db" "$url" >"$T/$1.log" 2>&1 ||
		fail "restore: $(tail -2 "$T/$1.log")"
	assert_restored "$T/$1.db" "$(csv_last_seq "$csv")" "$csv"
}

# Shadow files (all, or those named) whose allocated blocks are fewer
# than half their size (a hole), of more than 1 MB.
sparse_count() {
	_n=0
	[ $# -gt 0 ] || set -- "$T"/.db-walship/generations/*/wal/*.wal
	for _f; do
		[ -f "$_f" ] || continue
		_sz=$(stat -c %s "$_f")
		_al=$(($(stat -c %b "$_f") * $(stat -c %B "$_f")))
		[ "$_sz" -gt 1000000 ] && [ $((_al * 2)) -lt "$_sz" ] && _n=$((_n + 1))
	done
	echo "$_n"
}

# One index: 600 frames shipped, then past 1000, which is sealed once
# the replica holds it (walship sync: the seal waits for the replicas,
# up to 2000), then, unless SEALED, one commit starts the next index.
sparse_index() {
	fill_to 600
	sync_now "$1a"
	_log=$T/$2.log
	_c=$(grep -c 'DEBUG checkpoint db=' "$_log" || true)
	fill_to 1100
	sync_now "$1b"
	wait_for '[ "$(grep -c "DEBUG checkpoint db=" "$_log")" -gt "$_c" ]' 30
	[ "${3:-}" = sealed ] ||
		"$TOOLS/wsload" "$db" -count 1 -log "$csv" 2>>"$T/writer.log"
	sync_now "$1c"
}

# ---- 1. shipped frames are not written to the shadow ----
"$TOOLS/wsload" "$db" -count 5 -log "$csv" 2>>"$T/writer.log"
start_bg ws1 "$WALSHIP" replicate -v -config "$cfg"
wait_for "log_has ws1 'snapshot written'" 30
"$TOOLS/wsload" "$db" -count 1 -log "$csv" 2>>"$T/writer.log"
sync_now s0
sparse_index s1 ws1
[ "$(sparse_count)" -ge 1 ] ||
	fail "no closed shadow index has a hole: $(ls -ls "$T"/.db-walship/generations/*/wal/)"
restore_exact r1

# ---- 2. stop, the -wal checkpointed away, restart: it goes on ----
# The current index sealed, its shadow with a hole: the stop leaves its
# proof, and the restart opens that shadow.
sparse_index s2 ws1 sealed
newest=$(ls "$T"/.db-walship/generations/*/wal/*.wal | tail -1)
[ "$(sparse_count "$newest")" -eq 1 ] ||
	fail "the current shadow index has no hole: $(ls -ls "$T"/.db-walship/generations/*/wal/)"
stop_bg ws1 || fail "walship exited $? on SIGTERM"
log_has ws1 'stop: database state recorded' ||
	fail "the stop left no proof: $(tail -3 "$T/ws1.log")"
gen=$(replica_gens "$url")
sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
[ ! -s "$db-wal" ] || fail "setup: the -wal is not empty"
start_bg ws2 "$WALSHIP" replicate -v -config "$cfg"
wait_for "log_has ws2 'replica position'" 30
"$TOOLS/wsload" "$db" -count 20 -log "$csv" 2>>"$T/writer.log"
sync_now s3
! log_has ws2 'new generation' ||
	fail "the restart began a new generation: $(grep 'new generation' "$T/ws2.log")"
[ "$(replica_gens "$url")" = "$gen" ] || fail "generations: $(replica_gens "$url")"
restore_exact r2

# ---- 3. a copied, unshipped frame damaged in the -wal ----
stop_bg ws2 || fail "walship exited $? on SIGTERM"
start_bg ws3 "$WALSHIP" replicate -v -config "$cfg"
wait_for "log_has ws3 'replica position'" 30
"$TOOLS/wsload" "$db" -count 1 -log "$csv" 2>>"$T/writer.log"
sync_now s4
shipped=$(csv_last_seq "$csv")
"$TOOLS/wsload" "$db" -count 30 -rate 0 -log "$csv" 2>>"$T/writer.log"
sleep 2 # copied (a copy runs within 250 ms of a change)
wal=$(stat -c %s "$db-wal")
# Byte 200 of the last frame's page: its chain no longer holds.
flip_byte "$db-wal" $((wal - 4096 + 200))
timeout 30 "$WALSHIP" sync -config "$cfg" -timeout 5s "$db" >"$T/s5.log" 2>&1 &&
	fail "sync succeeded with a damaged frame to ship: $(cat "$T/s5.log")"
wait_for "log_has ws3 'neither in the -wal nor in the shadow'" 30 ||
	fail "no error names the damaged frame: $(tail -5 "$T/ws3.log")"
stop_bg ws3 || true
# Nothing damaged reached the replica: it restores to an exact committed
# prefix, at least everything before the damaged burst.
"$WALSHIP" restore -o "$T/r3.db" "$url" >"$T/r3.log" 2>&1 ||
	fail "restore: $(tail -2 "$T/r3.log")"
assert_restored "$T/r3.db" ">=$shipped" "$csv"
