# tests/lib-metrics.sh: sourced after tests/lib.sh by the tests of the
# metrics server, /healthz and the heartbeat (51-54).  POSIX sh.
#
#   free_port                   print a TCP port free on 127.0.0.1 now
#   scrape PORT PATH FILE       GET http://127.0.0.1:PORT/PATH into FILE
#                               (curl, 10 s at most); print "STATUS TYPE"
#   metric FILE NAME [LABELS]   the value of the sample NAME{...} in FILE
#                               whose labels contain LABELS (a fixed
#                               string, e.g. 'mode="PASSIVE"'); fails
#                               unless exactly one sample matches
#   check_exposition FILE       every sample in FILE belongs to a family
#                               announced by "# HELP" and "# TYPE" lines
#                               before it, and its value is a number
#   now_s                       wall-clock seconds, with fractions
#   csv_time SEQ CSV            the end time (s, fractional) of commit SEQ
#                               as wsload logged it
#   csv_begin SEQ CSV           ...its begin time

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

scrape() {
	curl -s -m 10 -o "$3" -w '%{http_code} %{content_type}' \
		"http://127.0.0.1:$1$2" 2>/dev/null || true
}

metric() {
	_mt_n=$(grep -c -F -e "$2{" "$1" | head -n 1)
	_mt_v=$(grep -F -e "$2{" "$1" | grep -F -e "${3:-}" |
		awk '{ print $NF }')
	[ "$(printf '%s\n' "$_mt_v" | grep -c .)" -eq 1 ] ||
		fail "metric $2 {${3:-}}: want one sample in $1, found: $_mt_v (of $_mt_n)"
	echo "$_mt_v"
}

check_exposition() {
	awk '
	/^# HELP / { help[$3] = 1; next }
	/^# TYPE / { if (!help[$3]) { print "TYPE before HELP: " $3; bad = 1 }
		     type[$3] = $4; next }
	/^#/ { next }
	/^$/ { print "empty line"; bad = 1; next }
	{
		name = $1; sub(/\{.*/, "", name)
		fam = name
		if (!(fam in type)) { sub(/_(sum|count|bucket)$/, "", fam) }
		if (!(fam in type)) { print "no TYPE for " name; bad = 1 }
		if ($NF !~ /^-?[0-9.eE+-]+$/) { print "not a number: " $0; bad = 1 }
		if (name !~ /^walship_[a-z_]+$/) { print "bad name: " name; bad = 1 }
	}
	END { exit bad }' "$1" || fail "$1 is not in the text exposition format (above)"
}

now_s() {
	date +%s.%N
}

csv_time() {
	awk -F, -v s="$1" '$1 == s { printf "%.6f\n", $3 / 1e9; found = 1 }
		END { exit !found }' "$2" || fail "commit $1 is not in $2"
}

csv_begin() {
	awk -F, -v s="$1" '$1 == s { printf "%.6f\n", $2 / 1e9; found = 1 }
		END { exit !found }' "$2" || fail "commit $1 is not in $2"
}

# fcmp A OP B: awk's comparison of two numbers.
fcmp() {
	awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"
}
