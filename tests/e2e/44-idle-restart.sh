#!/bin/sh
# Restarts on an idle database continue its generation, on the backend
# WS_REPLICA picks.  The -wal is empty when walship starts (the writer
# closed the database), or holds only frames walship shipped, so the WAL
# header cannot always prove continuity: the database file as the last
# stop left it does (meta.h).
#   1. -once three times, then replicate stopped by SIGTERM twice, with
#      nothing written: one generation, one snapshot; a start removes the
#      temporary files a killed walship left in its meta directory.
#   2. writes while walship runs, stops and -once runs around them: still
#      one generation, one snapshot, and a restore is exact.
#   3. a write while walship is stopped, which the application
#      checkpoints away (TRUNCATE) from a connection that stays open, so
#      the -wal is empty again: a new generation, with its reason, and a
#      restore is exact.
#   5. the same on a database whose generation began on an empty -wal,
#      where only the hash the stop left can tell: a new generation,
#      reason "database changed while walship was stopped".
#   4. the same through the -wal's new header (no checkpoint): the
#      generation continues, proven, and a restore is exact.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
csv=$T/tx.csv
url=$(replica_url replica)

count_snaps() {
	replica_ls "$url" | cut -d" " -f1 |
		grep -c '/snapshots/[0-9a-f]*\.snapshot\.lz4$' || true
}

once() {
	_o_log=$1
	timeout 120 "$WALSHIP" replicate -once "$db" "$url" >"$T/$_o_log.log" 2>&1 ||
		fail "-once ($_o_log) exited $?: $(tail -3 "$T/$_o_log.log")"
}

# A replicate run until it has started, then SIGTERM.
run() {
	start_bg "$1" "$WALSHIP" replicate -v "$db" "$url"
	wait_for "log_has $1 'control endpoint'" 20
	stop_bg "$1" || fail "walship ($1) exited $? on SIGTERM"
}

# The replica restores to exactly the writer's last commit, the database.
restore_exact() {
	"$WALSHIP" restore -o "$T/$1.db" "$url" >"$T/$1.log" 2>&1 ||
		fail "restore: $(tail -2 "$T/$1.log")"
	assert_restored "$T/$1.db" "$(csv_last_seq "$csv")" "$csv"
	assert_equal "$db" "$T/$1.db"
}

no_new_gen() {
	for _n; do
		! log_has "$_n" 'new generation' ||
			fail "$_n started a new generation: $(grep 'new generation' "$T/$_n.log")"
	done
}

# ---- 1. idle ----
"$TOOLS/wsload" "$db" -count 5 -log "$csv" 2>>"$T/writer.log"
[ ! -s "$db-wal" ] || fail "setup: the -wal is not empty"
once o1
log_has o1 'new generation.*reason="no generation exists"' ||
	fail "the first run started no generation"
gen=$(replica_gens "$url")
once o2
once o3
run d1
run d2
# What a walship killed while writing a marker or a shadow file left
# (a second signal exits at once) goes at the next start, and proves
# nothing either way.
tmp1=$T/.db-walship/stopped.tmp-Zq9x1A
tmp2=$T/.db-walship/generations/$gen/wal/00000000.wal.tmp-Zq9x1A
[ -d "${tmp2%/*}" ] || fail "setup: no shadow directory ${tmp2%/*}"
echo junk >"$tmp1"
echo junk >"$tmp2"
once o4
[ ! -e "$tmp1" ] && [ ! -e "$tmp2" ] ||
	fail "a start left the temporary files of a killed walship: $(ls "$tmp1" "$tmp2" 2>&1)"
no_new_gen o2 o3 d1 d2 o4
# ...and each start says so.
for _n in o2 o3 d1 d2 o4; do
	log_has "$_n" "sync: continuing the generation db=$db generation=$gen " ||
		fail "$_n did not say it continued generation $gen"
done
[ "$(replica_gens "$url")" = "$gen" ] ||
	fail "idle restarts started generations: $(replica_gens "$url" | tr '\n' ' ')"
[ "$(count_snaps)" -eq 1 ] ||
	fail "idle restarts took $(count_snaps) snapshots, want 1"

# ---- 2. writes while walship runs ----
start_bg d3 "$WALSHIP" replicate -v "$db" "$url"
wait_for "log_has d3 'control endpoint'" 20
"$TOOLS/wsload" "$db" -count 40 -log "$csv" 2>>"$T/writer.log"
wait_restores "$url" "$(csv_last_seq "$csv")" "$csv"
stop_bg d3 || fail "walship exited $? on SIGTERM"
run d4
once o5
no_new_gen d3 d4 o5
[ "$(replica_gens "$url")" = "$gen" ] ||
	fail "restarts after writes started generations: $(replica_gens "$url" | tr '\n' ' ')"
[ "$(count_snaps)" -eq 1 ] ||
	fail "restarts after writes took $(count_snaps) snapshots, want 1"
restore_exact r2

# ---- 3. writes while stopped, left in the -wal ----
# A connection of the application's stays open from here on.
start_holder holder "$db"
"$TOOLS/wsload" "$db" -count 7 -autocheckpoint 0 -log "$csv" 2>>"$T/writer.log"
[ -s "$db-wal" ] || fail "setup: the writes left the -wal empty"
once o6
no_new_gen o6
[ "$(replica_gens "$url")" = "$gen" ] ||
	fail "writes left in the -wal started a generation: $(grep 'new generation' "$T/o6.log")"
restore_exact r3

# ---- 4. a write while stopped, checkpointed away ----
"$TOOLS/wsload" "$db" -count 2 -autocheckpoint 0 -log "$csv" 2>>"$T/writer.log"
sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE)' >"$T/ckpt.out"
[ "$(cat "$T/ckpt.out")" = "0|0|0" ] ||
	fail "setup: the application's TRUNCATE did not complete: $(cat "$T/ckpt.out")"
[ ! -s "$db-wal" ] || fail "setup: the -wal is not empty after TRUNCATE"
run d6
log_has d6 'new generation.*reason="(database changed while walship was stopped|wal truncated by another process)"' ||
	fail "a change made while walship was stopped went unnoticed: $(grep -E 'generation|position' "$T/d6.log" | head -3)"
[ "$(replica_gens "$url" | grep -c .)" -eq 2 ] ||
	fail "want 2 generations: $(replica_gens "$url" | tr '\n' ' ')"
stop_bg holder || true
restore_exact r4

# ---- 5. the same where only the stop's hash can tell ----
# A database whose generation began on an empty -wal: the stop hashed the
# file; a write and the writer's closing checkpoint leave no -wal.
db=$T/db5
csv=$T/tx5.csv
url=$(replica_url replica5)
"$TOOLS/wsload" "$db" -count 3 -log "$csv" 2>>"$T/writer.log"
once o7
once o8
no_new_gen o8
"$TOOLS/wsload" "$db" -count 2 -log "$csv" 2>>"$T/writer.log"
[ ! -s "$db-wal" ] || fail "setup: the -wal is not empty"
once o9
log_has o9 'new generation.*reason="database changed while walship was stopped"' ||
	fail "a change made while walship was stopped went unnoticed: $(grep -E 'generation' "$T/o9.log" | head -3)"
[ "$(replica_gens "$url" | grep -c .)" -eq 2 ] ||
	fail "want 2 generations: $(replica_gens "$url" | tr '\n' ' ')"
restore_exact r5
