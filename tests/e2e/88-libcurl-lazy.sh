#!/bin/sh
# libcurl is loaded only for S3 (include/ws/curl_dl.h).  While walship
# replicates to a directory under a separate writer, libcurl is not in
# its /proc/PID/maps, and its peak RSS (VmHWM, printed) is at most 8 MiB
# (not checked under the sanitizers).  With an S3 replica (s3rver behind
# the SigV4-verifying proxy) libcurl is mapped and the round trip works.
# A libcurl.so.4 that cannot be loaded (a file that is no library, a
# library without curl's functions, first on LD_LIBRARY_PATH) fails an
# S3 replica with one line naming it and exit 3, and leaves a directory
# replica alone.
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/s3/lib.sh"
need_walship
need_tools
s3_start

db=$T/db
dir=file://$T/dir
url="s3://$S3_BUCKET/app?endpoint=$S3_ENDPOINT&force-path-style=true"

# has_curl NAME: NAME's process has libcurl mapped (a file named
# libcurl*.so*; $T's own name has "libcurl" in it).  A process that is
# gone fails the test: its maps would say nothing.
has_curl() {
	_hc=$(cat "/proc/$(bg_pid "$1")/maps") || fail "$1 is not running"
	echo "$_hc" | grep -Eq '/libcurl[^/]*\.so[^/]*$'
}

# hwm_kib NAME: NAME's peak RSS in KiB.
hwm_kib() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$(bg_pid "$1")/status"
}

# A directory replica under 200 tx/s: no libcurl, at any point.
start_writer writer "$db" "$T/tx.csv" -rate 200 -duration 6 -rows 1 \
	-size 1024 -autocheckpoint 0
start_bg wd "$WALSHIP" replicate "$db" "$dir"
wait_for "log_has wd 'snapshot written'" 10
while bg_running writer; do
	! has_curl wd || fail "libcurl is mapped with only a directory replica"
	sleep 0.5 # sampling interval, not synchronisation
done
wait_bg writer 10 || fail "writer exited $?"
n=$(csv_last_seq "$T/tx.csv")
n_dir=$n
wait_restores "$dir" "$n" "$T/tx.csv"
! has_curl wd || fail "libcurl is mapped with only a directory replica"
hwm=$(hwm_kib wd)
echo "directory replica, 200 tx/s: VmHWM ${hwm} kB, libcurl not mapped"
if ! grep -Eq '/lib[at]san[^/]*\.so[^/]*$' "/proc/$(bg_pid wd)/maps"; then
	[ "$hwm" -le 8192 ] || fail "directory replica: VmHWM ${hwm} kB > 8 MiB"
fi
stop_bg wd || fail "walship (directory) exited $?"

# An S3 replica: libcurl is loaded, and the writes reach the replica.
start_writer writer "$db" "$T/tx.csv" -rate 200 -duration 4 -rows 1 \
	-size 1024 -autocheckpoint 0
start_bg ws "$WALSHIP" replicate "$db" "$url"
wait_for "log_has ws 'snapshot written'" 15
has_curl ws || fail "libcurl is not mapped with an S3 replica"
wait_bg writer 10 || fail "writer exited $?"
n=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$n" "$T/tx.csv"
echo "S3 replica, 200 tx/s: VmHWM $(hwm_kib ws) kB, libcurl mapped"
stop_bg ws || fail "walship (S3) exited $?"
"$WALSHIP" restore -o "$T/r.db" "$url"
assert_restored "$T/r.db" "$n" "$T/tx.csv"
[ "$(s3_stat status.403)" -eq 0 ] || fail "the proxy rejected signatures"

# A libcurl.so.4 that is no library, then one without curl's functions
# (liblz4, which walship links anyway): one line, exit 3, for S3 only.
mkdir "$T/nolib" "$T/nosym"
echo 'not a library' >"$T/nolib/libcurl.so.4"
lz4=$(ldd "$WALSHIP" | awk '$1 ~ /^liblz4/ { print $3 }')
[ -f "$lz4" ] || fail "no liblz4 in ldd $WALSHIP"
cp "$lz4" "$T/nosym/libcurl.so.4"
for bad in nolib nosym; do
	LD_LIBRARY_PATH=$T/$bad "$WALSHIP" replicate "$db" "$url" \
		2>"$T/$bad.log" && fail "$bad: replicate to S3 succeeded"
	tail -n 1 "$T/$bad.log" |
		grep -q '^walship: s3 replica s3: cannot load libcurl.so.4: ' ||
		fail "$bad: $(cat "$T/$bad.log")"
	LD_LIBRARY_PATH=$T/$bad "$WALSHIP" restore -o "$T/$bad.db" "$url" \
		2>"$T/$bad-restore.log" && fail "$bad: restore from S3 succeeded"
	[ "$(grep -c . "$T/$bad-restore.log")" -eq 1 ] ||
		fail "$bad: not one line: $(cat "$T/$bad-restore.log")"
	grep -q 'cannot load libcurl.so.4' "$T/$bad-restore.log" ||
		fail "$bad: $(cat "$T/$bad-restore.log")"
	LD_LIBRARY_PATH=$T/$bad "$WALSHIP" restore -o "$T/$bad-dir.db" "$dir" \
		2>"$T/$bad-dir.log" ||
		fail "$bad: restore from a directory failed: $(cat "$T/$bad-dir.log")"
	assert_restored "$T/$bad-dir.db" "$n_dir" "$T/tx.csv"
done
grep -h 'cannot load' "$T/nolib.log" "$T/nosym.log"
