#!/bin/sh
# bench/rpo.sh TOOL BACKEND MODE [ARGS]: the data-loss window.
#
#   crash MIN_S MAX_S RATE   wsload commits 1-row transactions (1 KB random
#                            blob) at RATE tx/s; after a random MIN_S..MAX_S
#                            seconds the writer and TOOL are SIGKILLed
#                            together.  TOOL restores its replica; the
#                            restore must pass wscheck (integrity_check, an
#                            exact committed prefix).  lost = last committed
#                            seq (read from the killed database) - restored
#                            seq.  Also the uploads made per second, and
#                            the mean exposure over the run
#                            (bench/exposure.js: writer's commit log,
#                            replica's segments and their durable times).
#   term MIN_S MAX_S RATE    the same, but the writer is stopped (SIGTERM)
#                            and TOOL then gets SIGTERM: its exit status,
#                            its shutdown time, and lost (must be 0).
#   sparse COUNT MIN_MS MAX_MS
#                            benchw commits COUNT 1-row transactions, one
#                            every MIN_MS..MAX_MS (random); the lag of each
#                            to durable in the replica (leading edge): from
#                            the commit's end to the first WAL segment
#                            completed after it (directory: benchw polls
#                            the replica every 0.2 ms for a new segment,
#                            renamed into place once written and synced;
#                            S3: the proxy's answer to its PUT).
set -eu
. "$(dirname "$0")/lib.sh"
need_tools
MODE=$3
shift 3
bench_backend

db=$T/db
cfg=$T/cfg.yml
write_config "$cfg" "$db"

if [ "$MODE" = sparse ]; then
	count=$1 gmin=$2 gmax=$3
	"$BENCHW" "$db" -count 1 >/dev/null
	start_tool tool "$cfg"
	wait_snapshot r0 60
	sleep 1.5 # let start-up uploads settle (a measurement gap, not a sync)
	if [ "$BACKEND" = s3 ]; then
		"$BENCHW" "$db" -count "$count" -gap "$gmin:$gmax" -log "$T/commits.csv" >"$T/benchw.out"
		sleep 3 # the last transaction's lag is bounded by sync-interval + poll
		s3_puts r0 | grep '/wal/' | awk '{ printf "%.3f\n", $1 / 1000 }' >"$T/durable"
		sort -n "$T/durable" -o "$T/durable"
		# For each commit: the first segment PUT answered after it.
		awk -F, -v durable="$T/durable" '
			BEGIN { n = 0; while ((getline x < durable) > 0) d[n++] = x + 0 }
			{
				tc = $2 / 1e9; lag = -1
				for (i = 0; i < n; i++) if (d[i] >= tc) { lag = d[i] - tc; break }
				if (lag < 0) print "missing"; else printf "%.1f\n", lag * 1000
			}' "$T/commits.csv" >"$T/lags"
	else
		mkdir -p "$(replica_root r0)"
		"$BENCHW" "$db" -count "$count" -gap "$gmin:$gmax" -log "$T/commits.csv" \
			-watch "$(replica_root r0)" >"$T/benchw.out"
		awk -F, '{ if ($3 < 0) print "missing"; else printf "%.1f\n", $3 / 1e6 }' \
			"$T/commits.csv" >"$T/lags"
	fi
	stop_bg tool || true
	grep -q missing "$T/lags" && fail "a transaction never reached the replica"
	i=0
	while read -r lag; do
		i=$((i + 1))
		result "measure=sparse tx=$i lag_ms=$lag"
	done <"$T/lags"
	s3_cleanup
	exit 0
fi

tmin=$1 tmax=$2 rate=$3
"$TOOLS/wsload" "$db" -count 1 >/dev/null 2>&1
start_tool tool "$cfg"
wait_snapshot r0 60
[ "$BACKEND" = s3 ] && puts0=$(s3_puts r0 | wc -l) || puts0=$(replica_objects r0 | wc -l)
t_start=$(now_ns)
start_bg writer "$TOOLS/wsload" "$db" -rate "$rate" -size 1024 -rows 1 -log "$T/commits.csv"
# A random time in [tmin, tmax] seconds, in ms.
ms=$(awk -v a="$tmin" -v b="$tmax" -v s="$(now_ns)" \
	'BEGIN { srand(s % 1000000007); printf "%d", (a + rand() * (b - a)) * 1000 }')
sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
wpid=$(bg_pid writer)
tpid=$(bg_pid tool)
cpu=$(proc_cpu_ticks "$tpid")
if [ "$MODE" = crash ]; then
	kill -s KILL "$wpid" "$tpid"
	t_end=$(now_ns)
	_ws_reap writer || true
	_ws_reap tool || true
	exit_st=killed shut_ms=0
else
	stop_bg writer || fail "the writer exited $?"
	t_end=$(now_ns)
	term_wait tool
	exit_st=$TERM_ST shut_ms=$TERM_MS
fi
committed=$("$TOOLS/wscheck" -seq "$db")
if [ "$BACKEND" = s3 ]; then
	puts=$(($(s3_puts r0 | wc -l) - puts0))
else
	puts=$(($(replica_objects r0 | wc -l) - puts0))
fi
secs=$(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
# The mean exposure from the writer's commit log and the replica's WAL
# segments with the time each became durable (bench/exposure.js).
if [ "$BACKEND" = s3 ]; then
	s3_puts r0 | awk -v r="$(replica_root r0)" \
		'$2 ~ /\/wal\/[^\/]*\.wal\.lz4$/ { print $1, r "/" $2 "._S3rver_object" }'
else
	find "$(replica_root r0)" -name '*.wal.lz4' -printf '%C@ %p\n' |
		awk '{ printf "%.3f %s\n", $1 * 1000, $2 }'
fi >"$T/segments"
expo=$(node "$BENCH_DIR/exposure.js" "$T/commits.csv" "$db" "$t_start" "$t_end" <"$T/segments") ||
	fail "bench/exposure.js failed"
tool_restore "$cfg" r0 "$db" "$T/restored.db" >"$T/restore.log" 2>&1 ||
	fail "$TOOL_NAME restore failed: $(tail -n 3 "$T/restore.log")"
out=$("$TOOLS/wscheck" "$T/restored.db" 2>&1) ||
	fail "the restore is not an exact committed prefix: $out"
restored=${out#ok seq=}
restored=${restored%% *}
lost=$((committed - restored))
[ "$lost" -ge 0 ] || fail "restored $restored > committed $committed"
result "measure=$MODE secs=$secs committed=$committed restored=$restored" \
	"lost_rows=$lost lost_s=$(awk -v l="$lost" -v r="$rate" 'BEGIN { printf "%.3f", l / r }')" \
	"puts=$puts puts_per_s=$(awk -v p="$puts" -v s="$secs" 'BEGIN { printf "%.2f", p / s }')" \
	"exit=$exit_st shutdown_ms=$shut_ms cpu_ticks=$cpu check=ok $expo"
s3_cleanup
